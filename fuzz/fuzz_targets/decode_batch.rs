//! Fuzz target: record batches walked and their records decoded two ways, which must agree
//! (see `weir_fuzz::batch`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    weir_fuzz::batch::check_batches(data);
});
