//! libFuzzer entry point of `checks/listening_configs.rs`, where the checks and
//! their description live.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks/listening_configs.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check(data));
