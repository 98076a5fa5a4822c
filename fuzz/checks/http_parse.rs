//! Fuzzes `vigil::http::parse`, the request framer.
//!
//! Besides "never panics", it checks the property the reactor relies on:
//! parsing is a pure function of the buffered bytes, so any split of the
//! input across reads gives the same outcome:
//! - a prefix of a buffer that parses (Complete or Incomplete) is never an
//!   error, and a prefix shorter than a complete request is Incomplete;
//! - a complete request parses the same when the bytes after it are cut off;
//! - `consumed` is within the buffer and the body is within the limit.
//!
//! The first three input bytes pick small limits so every limit is reachable.
//!
//! Shared by the fuzz target and by `tests/fuzz_regressions.rs`, which
//! replays `fuzz/regressions/http_parse/` under `cargo test`.

use vigil::http::{parse, Limits, Parse};

fn outcome(buf: &[u8], limits: &Limits) -> String {
    match parse(buf, limits) {
        Ok(Parse::Complete(req, n)) => format!("complete {n} {req:?}"),
        Ok(Parse::Incomplete { .. }) => "incomplete".to_string(),
        Err(e) => format!("error {} {}", e.status(), e.message()),
    }
}

/// Runs the checks on one input; panics on a finding.
pub fn check(data: &[u8]) {
    if data.len() < 3 {
        return;
    }
    let limits = Limits {
        max_request_line_bytes: 16 + data[0] as usize * 4,
        max_header_bytes: 16 + data[1] as usize * 4,
        max_body_bytes: data[2] as usize * 4,
    };
    let buf = &data[3..];
    let full = parse(buf, &limits);
    let complete_at = match &full {
        Ok(Parse::Complete(req, n)) => {
            assert!(*n > 0 && *n <= buf.len(), "consumed {n} of {}", buf.len());
            assert!(
                req.body.len() <= limits.max_body_bytes,
                "body over the limit"
            );
            // The bytes after the request do not change it.
            let alone = outcome(&buf[..*n], &limits);
            assert_eq!(
                alone,
                outcome(buf, &limits),
                "trailing bytes changed the request"
            );
            Some(*n)
        }
        Ok(Parse::Incomplete { want }) => {
            if let Some(w) = want {
                assert!(*w > buf.len(), "Incomplete wants {w} but has {}", buf.len());
            }
            None
        }
        Err(_) => return,
    };
    // The full buffer is not an error: no prefix may be one, and a prefix
    // shorter than the complete request is still incomplete.
    let step = (buf.len() / 64).max(1);
    let mut k = 0;
    while k < buf.len() {
        let p = parse(&buf[..k], &limits);
        match (&p, complete_at) {
            (Err(e), _) => panic!(
                "prefix of {k} bytes is an error ({} {}) but the whole {} bytes are not: {}",
                e.status(),
                e.message(),
                buf.len(),
                outcome(buf, &limits)
            ),
            (Ok(Parse::Complete(_, n)), Some(full_n)) if k < full_n => {
                panic!("prefix of {k} bytes is complete ({n}) before the request ends at {full_n}")
            }
            _ => {}
        }
        k += step;
    }
}
