//! The server's Prometheus exposition as numbers: reading it, waiting for a
//! gauge, the growth of counters, and the refusal counters in one check.

use super::{get_raw, lossy, Conn, GAUGE_WAIT};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The Prometheus exposition as `name{labels}` -> value.
pub fn metrics(addr: SocketAddr) -> HashMap<String, u64> {
    metrics_on(&mut Conn::open(addr))
}

/// [`metrics`] read over an open connection `c`.
pub fn metrics_on(c: &mut Conn) -> HashMap<String, u64> {
    let r = c.roundtrip(&get_raw("/nacos/actuator/prometheus"));
    assert_eq!(r.status, 200, "metrics endpoint");
    lossy(&r.body)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse::<f64>().ok()? as u64))
        })
        .collect()
}

pub fn metric(m: &HashMap<String, u64>, name: &str) -> u64 {
    *m.get(name)
        .unwrap_or_else(|| panic!("metric {name} missing"))
}

/// Polls the metrics until `ok` holds; panics with the last values after
/// `limit`.
pub fn wait_metrics(
    addr: SocketAddr,
    what: &str,
    limit: Duration,
    ok: impl Fn(&HashMap<String, u64>) -> bool,
) -> HashMap<String, u64> {
    let t = Instant::now();
    loop {
        let m = metrics(addr);
        if ok(&m) {
            return m;
        }
        if t.elapsed() > limit {
            let mut shown: Vec<_> = m.iter().filter(|(k, _)| !k.contains("_bucket")).collect();
            shown.sort();
            panic!("waited {limit:?} for {what}; metrics now: {shown:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How much each of the counters `names` grew from `before` to `after`, as
/// `(name, growth)` pairs to compare with the expected table.
pub fn grew<'a>(
    before: &HashMap<String, u64>,
    after: &HashMap<String, u64>,
    names: &[&'a str],
) -> Vec<(&'a str, u64)> {
    names
        .iter()
        .map(|&n| (n, metric(after, n) - metric(before, n)))
        .collect()
}

pub fn parked_polls(addr: SocketAddr) -> u64 {
    metric(&metrics(addr), "vigil_parked_polls")
}

/// Waits (up to [`GAUGE_WAIT`]) until exactly `n` polls are parked.
pub fn wait_parked(addr: SocketAddr, n: u64, what: &str) {
    wait_metrics(
        addr,
        &format!("{n} parked polls ({what})"),
        GAUGE_WAIT,
        |m| metric(m, "vigil_parked_polls") == n,
    );
}

/// Asserts the server's refusal and write-failure counters (every
/// `vigil_rejected_total{..}` and `vigil_write_failures_total`) are zero,
/// except those named in `expected`, which must have exactly that value.
/// Clients that retry failures silently (the SDKs) cannot hide one then.
pub fn assert_failures(addr: SocketAddr, expected: &[(&str, u64)], what: &str) {
    let m = metrics(addr);
    let mut wrong: Vec<_> = m
        .iter()
        .filter(|(k, _)| {
            k.starts_with("vigil_rejected_total") || *k == "vigil_write_failures_total"
        })
        .filter_map(|(k, v)| {
            let want = expected
                .iter()
                .find(|(name, _)| name == k)
                .map_or(0, |(_, n)| *n);
            (*v != want).then(|| format!("{k} = {v}, expected {want}"))
        })
        .collect();
    wrong.sort();
    assert!(
        wrong.is_empty(),
        "{what}: the server counted unexpected refusals or failed writes: {wrong:?}"
    );
}
