//! Fuzz target: a request frame body decoded with the type its API key names, then
//! round-tripped (see `weir_fuzz::request`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    weir_fuzz::request::check_request(data);
});
