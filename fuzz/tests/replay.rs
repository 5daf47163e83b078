//! Replays the committed seeds, and any saved crash artifacts, through the harnesses on the
//! stable toolchain (`cargo test` from `fuzz/`), and checks the seeds reach deep code.

use std::fs;
use std::path::Path;

use weir_fuzz::{batch, recovery, request, sasl, seeds};

/// Every file in `dir`, if it exists.
fn inputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<u8>)> = entries
        .filter_map(|e| {
            let path = e.ok()?.path();
            Some((path.display().to_string(), fs::read(&path).ok()?))
        })
        .collect();
    out.sort();
    out
}

fn replay(target: &str, run: impl Fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in [
        root.join("seeds").join(target),
        root.join("regressions").join(target),
    ] {
        for (name, bytes) in inputs(&dir) {
            eprintln!("replaying {name}");
            run(&bytes);
        }
    }
}

#[test]
fn generated_seeds_are_committed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    for seed in seeds::all() {
        let path = root.join(seed.target).join(&seed.name);
        let on_disk = fs::read(&path).unwrap_or_default();
        assert_eq!(
            on_disk,
            seed.bytes,
            "{} is stale: run gen_seeds",
            path.display()
        );
    }
}

#[test]
fn request_seeds_decode() {
    for seed in seeds::all().iter().filter(|s| s.target == "decode_request") {
        assert!(
            request::check_request(&seed.bytes).is_some(),
            "seed {} does not decode",
            seed.name
        );
    }
    replay("decode_request", |b| {
        request::check_request(b);
    });
}

#[test]
fn batch_seeds_hold_valid_batches() {
    for seed in seeds::all().iter().filter(|s| s.target == "decode_batch") {
        assert!(batch::check_batches(&seed.bytes) > 0, "seed {}", seed.name);
    }
    replay("decode_batch", |b| {
        batch::check_batches(b);
    });
}

#[test]
fn recovery_seeds_pass() {
    replay("segment_recovery", |b| {
        if let Some(plan) = recovery::Plan::parse(b) {
            recovery::check_recovery(&plan);
        }
    });
}

#[test]
fn recovery_keeps_a_valid_appended_batch() {
    let seed = seeds::all()
        .into_iter()
        .find(|s| s.name == "append-valid-batch")
        .unwrap_or_else(|| panic!("seed missing"));
    let plan = recovery::Plan::parse(&seed.bytes).unwrap_or_else(|| panic!("seed too short"));
    // check_recovery asserts the log end equals the model's; here the model must grow.
    let original: usize = (0..plan.batches)
        .map(|i| recovery::original_batch(i, plan.compression).len())
        .sum();
    let mut segment = Vec::new();
    let mut next = 0i64;
    for i in 0..plan.batches {
        let mut b = recovery::original_batch(i, plan.compression);
        b[..8].copy_from_slice(&next.to_be_bytes());
        next += (i % 3) as i64 + 1;
        segment.extend(b);
    }
    assert_eq!(segment.len(), original);
    segment.extend_from_slice(&plan.bytes);
    let (len, end) = recovery::model_valid_prefix(&segment, 0, 1 << 20);
    assert_eq!((len, end), (segment.len(), next + 1));
    recovery::check_recovery(&plan);
}

#[test]
fn sasl_seeds_complete_their_exchanges() {
    for seed in seeds::all().iter().filter(|s| s.target == "sasl") {
        let done = sasl::check_sasl(&seed.bytes);
        assert_eq!(done, seed.name.ends_with("-ok"), "seed {}", seed.name);
    }
    replay("sasl", |b| {
        sasl::check_sasl(b);
    });
}
