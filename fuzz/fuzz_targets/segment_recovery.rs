//! Fuzz target: a log's last segment damaged, then reopened; recovery must keep exactly
//! the valid prefix and accept appends (see `weir_fuzz::recovery`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(plan) = weir_fuzz::recovery::Plan::parse(data) {
        weir_fuzz::recovery::check_recovery(&plan);
    }
});
