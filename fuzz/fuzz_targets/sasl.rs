//! Fuzz target: the SASL/PLAIN and SCRAM servers and the SCRAM message parsers on hostile
//! input (see `weir_fuzz::sasl`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    weir_fuzz::sasl::check_sasl(data);
});
