//! Process-wide counters and gauges, shared by the reactors and the writer
//! as relaxed atomics, and rendered in the Prometheus text format at
//! `GET /nacos/actuator/prometheus`.
//!
//! Gauges that live inside one reactor (parked polls, indexed keys, armed
//! timers) are published by each reactor into its own slot once per loop
//! iteration, so reading them never touches another thread's data.

use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Upper bounds (ms) of the commit-latency histogram buckets.
pub const COMMIT_MS_BUCKETS: [u64; 10] = [1, 2, 5, 10, 20, 50, 100, 250, 1000, 5000];

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    BadRequest,
    RequestTimeout,
    BodyTooLarge,
    UriTooLong,
    HeadersTooLarge,
    NotImplemented,
    Overloaded,
    ConnectionShed,
    /// A TLS handshake refused or not finished in time, or a broken record.
    Tls,
}

impl Rejection {
    const ALL: [Rejection; 9] = [
        Rejection::BadRequest,
        Rejection::RequestTimeout,
        Rejection::BodyTooLarge,
        Rejection::UriTooLong,
        Rejection::HeadersTooLarge,
        Rejection::NotImplemented,
        Rejection::Overloaded,
        Rejection::ConnectionShed,
        Rejection::Tls,
    ];

    fn label(self) -> &'static str {
        match self {
            Rejection::BadRequest => "bad_request",
            Rejection::RequestTimeout => "request_timeout",
            Rejection::BodyTooLarge => "body_too_large",
            Rejection::UriTooLong => "uri_too_long",
            Rejection::HeadersTooLarge => "headers_too_large",
            Rejection::NotImplemented => "not_implemented",
            Rejection::Overloaded => "overloaded",
            Rejection::ConnectionShed => "connection_shed",
            Rejection::Tls => "tls",
        }
    }

    /// The rejection a 4xx/5xx status stands for.
    pub fn for_status(status: u16) -> Option<Rejection> {
        Some(match status {
            400 => Rejection::BadRequest,
            408 => Rejection::RequestTimeout,
            413 => Rejection::BodyTooLarge,
            414 => Rejection::UriTooLong,
            431 => Rejection::HeadersTooLarge,
            501 => Rejection::NotImplemented,
            503 => Rejection::Overloaded,
            _ => return None,
        })
    }
}

/// Per-reactor gauges.
#[derive(Default, Debug)]
pub struct ReactorGauges {
    pub connections: AtomicU64,
    pub parked: AtomicU64,
    pub keys: AtomicU64,
    pub waiters: AtomicU64,
    pub timers: AtomicU64,
    pub configs: AtomicU64,
    pub streams: AtomicU64,
    /// gRPC connections' listeners, and the keys they listen to.
    pub grpc_listeners: AtomicU64,
    pub grpc_keys: AtomicU64,
}

/// All metrics of the process.
#[derive(Debug)]
pub struct Metrics {
    pub reactors: Vec<ReactorGauges>,
    /// Serving normally: false from a panic on any thread (see `fatal`) or
    /// the start of a drain until the process exits.
    ready: AtomicBool,
    /// Exact count of open connections (the global connection cap).
    pub open_connections: AtomicU64,
    /// Bytes of requests buffered over all connections (the memory budget).
    pub buffered_bytes: AtomicU64,
    /// A connection cap learnt from running out of file descriptors (below
    /// the configured one when the open-file limit is the tighter bound).
    pub fd_cap: AtomicU64,
    pub accepted: AtomicU64,
    pub requests: AtomicU64,
    pub wakeups: AtomicU64,
    pub poll_timeouts: AtomicU64,
    pub streams_opened: AtomicU64,
    pub stream_events: AtomicU64,
    pub streams_lagging: AtomicU64,
    pub publishes: AtomicU64,
    pub deletes: AtomicU64,
    pub write_failures: AtomicU64,
    pub commits: AtomicU64,
    pub committed_writes: AtomicU64,
    pub commit_ms_buckets: [AtomicU64; COMMIT_MS_BUCKETS.len()],
    pub commit_us_sum: AtomicU64,
    rejected: [AtomicU64; Rejection::ALL.len()],
}

impl Metrics {
    pub fn new(reactors: usize) -> Metrics {
        Metrics {
            reactors: (0..reactors).map(|_| ReactorGauges::default()).collect(),
            ready: AtomicBool::new(true),
            open_connections: AtomicU64::new(0),
            fd_cap: AtomicU64::new(u64::MAX),
            buffered_bytes: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            wakeups: AtomicU64::new(0),
            poll_timeouts: AtomicU64::new(0),
            streams_opened: AtomicU64::new(0),
            stream_events: AtomicU64::new(0),
            streams_lagging: AtomicU64::new(0),
            publishes: AtomicU64::new(0),
            deletes: AtomicU64::new(0),
            write_failures: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            committed_writes: AtomicU64::new(0),
            commit_ms_buckets: Default::default(),
            commit_us_sum: AtomicU64::new(0),
            rejected: Default::default(),
        }
    }

    /// Whether the readiness probe answers OK.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn reject(&self, why: Rejection) {
        let i = Rejection::ALL.iter().position(|r| *r == why).unwrap_or(0);
        Metrics::inc(&self.rejected[i]);
    }

    /// Records one committed transaction of `writes` writes.
    pub fn commit(&self, writes: usize, elapsed: std::time::Duration) {
        Metrics::inc(&self.commits);
        self.committed_writes
            .fetch_add(writes as u64, Ordering::Relaxed);
        self.commit_us_sum
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        let ms = elapsed.as_millis() as u64;
        if let Some(i) = COMMIT_MS_BUCKETS.iter().position(|&b| ms < b) {
            Metrics::inc(&self.commit_ms_buckets[i]);
        }
    }

    fn sum(&self, f: impl Fn(&ReactorGauges) -> &AtomicU64) -> u64 {
        self.reactors
            .iter()
            .map(|r| f(r).load(Ordering::Relaxed))
            .sum()
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            );
        };
        metric(
            "vigil_ready",
            "gauge",
            "1 while serving normally; 0 after a thread panicked or once a drain began.",
            u64::from(self.is_ready()),
        );
        metric(
            "vigil_connections",
            "gauge",
            "Open client connections.",
            load(&self.open_connections),
        );
        metric(
            "vigil_parked_polls",
            "gauge",
            "Long polls parked now.",
            self.sum(|r| &r.parked),
        );
        metric(
            "vigil_buffered_request_bytes",
            "gauge",
            "Bytes of requests buffered over all connections.",
            load(&self.buffered_bytes),
        );
        metric(
            "vigil_indexed_keys",
            "gauge",
            "Live interned keys over all reactors.",
            self.sum(|r| &r.keys),
        );
        metric(
            "vigil_index_waiters",
            "gauge",
            "Waiter entries in the inverted index.",
            self.sum(|r| &r.waiters),
        );
        metric(
            "vigil_armed_timers",
            "gauge",
            "Timers armed in the wheels.",
            self.sum(|r| &r.timers),
        );
        metric(
            "vigil_configs",
            "gauge",
            "Configs in the cache (of the first reactor).",
            self.reactors.first().map_or(0, |r| load(&r.configs)),
        );
        metric(
            "vigil_accepted_total",
            "counter",
            "Connections accepted.",
            load(&self.accepted),
        );
        metric(
            "vigil_requests_total",
            "counter",
            "Requests parsed.",
            load(&self.requests),
        );
        metric(
            "vigil_wakeups_total",
            "counter",
            "Parked polls answered because a key changed.",
            load(&self.wakeups),
        );
        metric(
            "vigil_poll_timeouts_total",
            "counter",
            "Parked polls answered empty at their deadline.",
            load(&self.poll_timeouts),
        );
        metric(
            "vigil_grpc_listeners",
            "gauge",
            "gRPC connections listening to keys now.",
            self.sum(|r| &r.grpc_listeners),
        );
        metric(
            "vigil_grpc_listened_keys",
            "gauge",
            "Keys listened to by gRPC connections now (one per connection and key).",
            self.sum(|r| &r.grpc_keys),
        );
        metric(
            "vigil_watch_streams",
            "gauge",
            "Watch streams open now.",
            self.sum(|r| &r.streams),
        );
        metric(
            "vigil_watch_streams_opened_total",
            "counter",
            "Watch streams opened.",
            load(&self.streams_opened),
        );
        metric(
            "vigil_watch_events_total",
            "counter",
            "Change events queued on watch streams.",
            load(&self.stream_events),
        );
        metric(
            "vigil_watch_streams_lagging_total",
            "counter",
            "Watch streams closed for falling too far behind.",
            load(&self.streams_lagging),
        );
        metric(
            "vigil_publishes_total",
            "counter",
            "Publishes committed.",
            load(&self.publishes),
        );
        metric(
            "vigil_deletes_total",
            "counter",
            "Deletes committed.",
            load(&self.deletes),
        );
        metric(
            "vigil_write_failures_total",
            "counter",
            "Writes that failed in storage.",
            load(&self.write_failures),
        );
        metric(
            "vigil_commits_total",
            "counter",
            "Transactions committed by the writer.",
            load(&self.commits),
        );
        metric(
            "vigil_committed_writes_total",
            "counter",
            "Writes committed (sum of batch sizes).",
            load(&self.committed_writes),
        );
        let _ = write!(
            out,
            "# HELP vigil_commit_seconds Latency of one group commit.\n# TYPE vigil_commit_seconds histogram\n"
        );
        let mut cumulative = 0;
        for (i, bound) in COMMIT_MS_BUCKETS.iter().enumerate() {
            cumulative += load(&self.commit_ms_buckets[i]);
            let _ = writeln!(
                out,
                "vigil_commit_seconds_bucket{{le=\"{}\"}} {cumulative}",
                *bound as f64 / 1000.0
            );
        }
        let commits = load(&self.commits);
        let _ = writeln!(out, "vigil_commit_seconds_bucket{{le=\"+Inf\"}} {commits}");
        let _ = writeln!(
            out,
            "vigil_commit_seconds_sum {}",
            load(&self.commit_us_sum) as f64 / 1e6
        );
        let _ = writeln!(out, "vigil_commit_seconds_count {commits}");
        let _ = write!(
            out,
            "# HELP vigil_rejected_total Requests or connections refused, by reason.\n# TYPE vigil_rejected_total counter\n"
        );
        for (i, r) in Rejection::ALL.iter().enumerate() {
            let _ = writeln!(
                out,
                "vigil_rejected_total{{reason=\"{}\"}} {}",
                r.label(),
                load(&self.rejected[i])
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::new(2);
        m.reactors[0].parked.store(3, Ordering::Relaxed);
        m.reactors[1].parked.store(4, Ordering::Relaxed);
        m.commit(5, std::time::Duration::from_millis(3));
        m.reject(Rejection::HeadersTooLarge);
        let text = m.render();
        assert!(text.contains("\nvigil_parked_polls 7\n"), "{text}");
        assert!(
            text.contains("vigil_commit_seconds_bucket{le=\"0.005\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("vigil_commit_seconds_bucket{le=\"0.002\"} 0\n"),
            "{text}"
        );
        assert!(text.contains("vigil_committed_writes_total 5\n"), "{text}");
        assert!(
            text.contains("vigil_rejected_total{reason=\"headers_too_large\"} 1\n"),
            "{text}"
        );
    }
}
