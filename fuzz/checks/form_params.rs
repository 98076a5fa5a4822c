//! Fuzzes `vigil::form::Params::parse` (query string + form body).
//!
//! Never panics on any bytes, and round-trips: any UTF-8 value encoded the
//! way Java's `URLEncoder` does is decoded back exactly, as the first value
//! of its name, whatever arbitrary (valid) pairs surround it; a query value
//! wins over a body value of the same name.
//!
//! Shared by the fuzz target and by `tests/fuzz_regressions.rs`, which
//! replays `fuzz/regressions/form_params/` under `cargo test`.

use vigil::form::Params;

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Runs the checks on one input; panics on a finding.
pub fn check(data: &[u8]) {
    // Raw bytes, split anywhere into query and body: must not panic.
    let split = data
        .first()
        .map_or(0, |&b| b as usize % (data.len().max(1)));
    let (query, body) = data.split_at(split);
    let raw = Params::parse(query, Some(body));
    if let Ok(p) = &raw {
        let _ = p.get("dataId");
    }

    // Round trip of a UTF-8 value.
    let text = String::from_utf8_lossy(data);
    let mut mid = text.len() / 2;
    while !text.is_char_boundary(mid) {
        mid -= 1;
    }
    let (value, other) = text.split_at(mid);
    let query = format!("{}=q&&x={}&", enc("k€y"), enc(other));
    let body = format!("k%E2%82%AC=b&v={}&", enc(value));
    let p = Params::parse(query.as_bytes(), Some(body.as_bytes()))
        .unwrap_or_else(|e| panic!("valid encoding rejected: {e}"));
    assert_eq!(p.get("v"), Some(value), "value did not round-trip");
    assert_eq!(p.get("x"), Some(other), "query value did not round-trip");
    assert_eq!(p.get("k€y"), Some("q"), "query must win over body");
}
