//! libFuzzer entry point of `checks/http_parse.rs`, where the checks and
//! their description live.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks/http_parse.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check(data));
