//! libFuzzer entry point of `checks/form_params.rs`, where the checks and
//! their description live.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks/form_params.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check(data));
