//! Writes the seed inputs of every fuzz target to `seeds/<target>/<name>` (run from `fuzz/`:
//! `cargo run --example gen_seeds`).

use std::fs;
use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let seeds = weir_fuzz::seeds::all();
    for seed in &seeds {
        let dir = root.join(seed.target);
        fs::create_dir_all(&dir)?;
        fs::write(dir.join(&seed.name), &seed.bytes)?;
    }
    println!("wrote {} seeds", seeds.len());
    Ok(())
}
