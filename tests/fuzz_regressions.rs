//! Replays every input saved under `fuzz/regressions/<target>/` through the
//! same checks the fuzz target runs (`fuzz/checks/<target>.rs`), so a finding
//! once fixed stays fixed under `cargo test`, on a stable toolchain, without
//! libFuzzer.

use std::path::{Path, PathBuf};

#[path = "../fuzz/checks/form_params.rs"]
mod form_params;
#[path = "../fuzz/checks/http_parse.rs"]
mod http_parse;
#[path = "../fuzz/checks/listening_configs.rs"]
mod listening_configs;

/// The saved inputs of one target, sorted by name.
fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("regressions")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("reading a regressions directory").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `check` on every saved input of `target`; fails naming each input
/// that panics. Returns how many inputs were replayed.
fn replay(target: &str, check: fn(&[u8])) -> usize {
    let files = inputs(target);
    let failed: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let data = std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            std::panic::catch_unwind(|| check(&data))
                .err()
                .map(|_| f.display().to_string())
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{target}: saved inputs fail their checks again (panics above): {failed:?}"
    );
    files.len()
}

#[test]
fn saved_fuzz_inputs_pass_their_checks() {
    let n = replay("http_parse", http_parse::check)
        + replay("form_params", form_params::check)
        + replay("listening_configs", listening_configs::check);
    // At least the chunk-extension finding is saved; an empty replay would
    // prove nothing.
    assert!(n >= 1, "no saved inputs under fuzz/regressions/");
}
