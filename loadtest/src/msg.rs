//! What the coordinator and its worker processes say to each other.
//!
//! A worker is this same binary started as `loadtest worker --plan <json>`.
//! The coordinator writes [`Command`] lines to the worker's stdin; the worker
//! writes [`Event`] lines to its stdout (and nothing else: stdout is the
//! pipe). Frequent events (status, wake-ups) are a few space-separated numbers;
//! the one final report is JSON. Everything here is plain data with
//! encode/parse functions, tested without processes.

use crate::hist::HistPairs;
use crate::proto::{KeyId, KeyPlan};
use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, SocketAddr};

/// Everything a worker needs to know, fixed for its lifetime.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    /// This worker's number, 0-based.
    pub worker: u32,
    /// The servers; connection `c` (a global index per role) talks to `servers[c % len]`.
    pub servers: Vec<SocketAddr>,
    /// Loopback source addresses to bind client sockets to, round-robin.
    pub sources: Vec<Ipv4Addr>,
    /// Key namespace of this run (see `proto::KeySpace`).
    pub run: String,
    /// Global index of this worker's first listener connection.
    pub listener_first: u32,
    /// Number of listener connections in this worker.
    pub listeners: u32,
    /// The keys of each listener.
    pub keys: KeyPlan,
    /// `Long-Pulling-Timeout` header, ms.
    pub poll_timeout_ms: u64,
    /// After a wake-up, GET the changed keys before re-polling, as real clients do.
    pub get_after_wake: bool,
    /// Listeners watch their keys on one event stream each (`/configs/watch`)
    /// instead of long-polling.
    #[serde(default)]
    pub sse: bool,
    /// What each stream watches (with `sse`).
    #[serde(default)]
    pub watch: crate::sse::WatchScope,
    /// Listeners are Nacos 2.x gRPC clients (one connection, one bi-stream,
    /// a batch listen) talking to `grpc_servers` instead of long-polling.
    #[serde(default)]
    pub grpc: bool,
    /// The gRPC address of each of `servers`, in the same order.
    #[serde(default)]
    pub grpc_servers: Vec<SocketAddr>,
    /// A gRPC client with no call for this long checks health, ms; 0: never.
    #[serde(default = "default_health_idle_ms")]
    pub grpc_health_idle_ms: u64,
    /// Send a `W` event per woken key.
    pub report_wakes: bool,
    /// Connections looping GET over keys `g0..g(get_keys)`.
    pub getters: u32,
    /// Global index of this worker's first getter.
    pub getter_first: u32,
    pub get_keys: u32,
    /// Connections looping publishes.
    pub publishers: u32,
    /// Global index of this worker's first publisher (names its `p` key).
    pub publisher_first: u32,
    /// Publishes per second for this whole worker; 0 means as fast as possible.
    pub publish_rate: f64,
    /// Publishers change this worker's listener keys (mixed) instead of their own `p` key.
    pub publish_to_listeners: bool,
    /// Size of published content, bytes.
    pub content_bytes: usize,
    /// Connects in flight at once, per worker.
    pub connect_concurrency: u32,
    /// Timeout for connects and for GET / publish replies, ms.
    pub request_timeout_ms: u64,
    /// The worker stops on its own this long after starting, ms.
    pub deadline_ms: u64,
}

fn default_health_idle_ms() -> u64 {
    crate::grpc::HEALTH_IDLE_NS / 1_000_000
}

/// Coordinator to worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Getters and publishers begin.
    Start,
    /// Getters and publishers issue no new requests.
    Quiesce,
    /// The coordinator published `key` at `version` (see `proto::versioned_content`).
    Version(KeyId, u64),
    /// The coordinator will also publish `key` at this later `version` (a
    /// burst): a read may show it, but a wake-up still only demands the
    /// version last given by `Version`.
    Ahead(KeyId, u64),
    /// Answer at once with a census tagged with this number (a barrier: every
    /// command sent before it has been applied when the answer comes).
    Census(u64),
    /// Send the final report and exit.
    Stop,
}

impl Command {
    pub fn encode(&self) -> String {
        match self {
            Command::Start => "start".into(),
            Command::Quiesce => "quiesce".into(),
            Command::Version(k, v) => format!("ver {} {v}", k.to_token()),
            Command::Ahead(k, v) => format!("ahead {} {v}", k.to_token()),
            Command::Census(n) => format!("census {n}"),
            Command::Stop => "stop".into(),
        }
    }

    pub fn parse(line: &str) -> Option<Command> {
        let mut w = line.split_ascii_whitespace();
        let cmd = match w.next()? {
            "start" => Command::Start,
            "quiesce" => Command::Quiesce,
            "stop" => Command::Stop,
            "ver" => Command::Version(KeyId::from_token(w.next()?)?, w.next()?.parse().ok()?),
            "ahead" => Command::Ahead(KeyId::from_token(w.next()?)?, w.next()?.parse().ok()?),
            "census" => Command::Census(w.next()?.parse().ok()?),
            _ => return None,
        };
        w.next().is_none().then_some(cmd)
    }
}

/// A worker's connection census, sent a few times a second.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// Connections established.
    pub open: u64,
    /// Listeners whose poll is fully sent and unanswered.
    pub parked: u64,
    /// Keys named in listener replies so far.
    pub wakes: u64,
    /// Errors of every kind so far.
    pub errors: u64,
    /// Successful GETs and publishes so far.
    pub requests: u64,
    /// Parked listeners per server (in --server order).
    pub parked_by_server: Vec<u64>,
}

/// Counters a worker keeps; all monotonic.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counters {
    pub connects: u64,
    pub connect_errors: u64,
    /// Connections lost to I/O errors or an unexpected close by the server.
    pub disconnects: u64,
    /// Replies with `Connection: close` (the client reconnects).
    pub server_closes: u64,
    /// Replies with an unexpected status.
    pub http_errors: u64,
    /// Replies that could not be parsed.
    pub protocol_errors: u64,
    /// Requests unanswered within their timeout.
    pub client_timeouts: u64,
    /// Listener polls sent.
    pub polls: u64,
    /// Listener replies with an empty body (hold time expired).
    pub hold_expiries: u64,
    /// Keys named in listener replies.
    pub wakes: u64,
    /// Keys named in a reply that the connection does not listen to.
    pub foreign_keys: u64,
    /// GETs issued after a wake-up.
    pub gets_after_wake: u64,
    /// A GET after a wake-up returned other content than the announced version.
    pub stale_reads: u64,
    pub get_ok: u64,
    pub get_not_found: u64,
    pub publish_ok: u64,
    /// Publishes answered with anything but 200 `true`.
    pub publish_errors: u64,
    /// Watch streams opened (answered 200).
    pub streams_opened: u64,
    /// `reset` events: a resume point older than the server's log.
    pub stream_resets: u64,
    /// Events whose data could not be read.
    pub bad_events: u64,
    /// Group or namespace watches: events of keys the listener does not hold.
    pub other_events: u64,
    /// gRPC: unary calls answered with a `resultCode` other than 200.
    #[serde(default)]
    pub grpc_errors: u64,
    /// gRPC: `HealthCheckRequest`s answered.
    #[serde(default)]
    pub health_checks: u64,
    /// gRPC: requests the server pushed down a bi-stream (all kinds).
    #[serde(default)]
    pub pushes: u64,
    /// gRPC: calls refused as "unregistered" (301) before the bi-stream was
    /// registered, and retried.
    #[serde(default)]
    pub unregistered_retries: u64,
    /// gRPC: `ConnectResetRequest`s obeyed (reconnects asked by the server).
    #[serde(default)]
    pub connect_resets: u64,
}

impl Counters {
    pub fn errors(&self) -> u64 {
        self.connect_errors
            + self.disconnects
            + self.http_errors
            + self.protocol_errors
            + self.client_timeouts
            + self.foreign_keys
            + self.stale_reads
            + self.publish_errors
            + self.bad_events
            + self.grpc_errors
    }

    pub fn add(&mut self, o: &Counters) {
        self.connects += o.connects;
        self.connect_errors += o.connect_errors;
        self.disconnects += o.disconnects;
        self.server_closes += o.server_closes;
        self.http_errors += o.http_errors;
        self.protocol_errors += o.protocol_errors;
        self.client_timeouts += o.client_timeouts;
        self.polls += o.polls;
        self.hold_expiries += o.hold_expiries;
        self.wakes += o.wakes;
        self.foreign_keys += o.foreign_keys;
        self.gets_after_wake += o.gets_after_wake;
        self.stale_reads += o.stale_reads;
        self.get_ok += o.get_ok;
        self.get_not_found += o.get_not_found;
        self.publish_ok += o.publish_ok;
        self.publish_errors += o.publish_errors;
        self.streams_opened += o.streams_opened;
        self.stream_resets += o.stream_resets;
        self.bad_events += o.bad_events;
        self.other_events += o.other_events;
        self.grpc_errors += o.grpc_errors;
        self.health_checks += o.health_checks;
        self.pushes += o.pushes;
        self.unregistered_retries += o.unregistered_retries;
        self.connect_resets += o.connect_resets;
    }
}

/// A worker's last word.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WorkerReport {
    pub counters: Counters,
    /// GET latency of getter connections.
    pub get: HistPairs,
    /// Publish latency of publisher connections.
    pub publish: HistPairs,
    /// Publish-to-wake latency read from timestamped content (mixed).
    pub wake: HistPairs,
    /// Listeners whose content, after the quiet period, differs from the
    /// last content acknowledged to this worker's publishers (mixed): lost wake-ups.
    pub stale_at_end: u64,
    /// Listener keys that were published to at least once (mixed).
    pub keys_checked: u64,
    /// Every key this worker's publishers wrote, so the run can delete them.
    pub published: Vec<KeyId>,
}

/// Worker to coordinator.
#[derive(Debug)]
pub enum Event {
    Status(Status),
    /// The answer to `Command::Census`.
    Census(u64, Status),
    /// Listener `conn` (global index) was told `key` changed, at `t_ns` (monotonic).
    Wake {
        conn: u32,
        key: KeyId,
        t_ns: u64,
    },
    /// A human-readable error sample.
    Error(String),
    Report(Box<WorkerReport>),
}

impl Event {
    pub fn encode(&self) -> String {
        match self {
            Event::Status(s) => format!("S {}", encode_status(s)),
            Event::Census(n, s) => format!("C {n} {}", encode_status(s)),
            Event::Wake { conn, key, t_ns } => format!("W {conn} {} {t_ns}", key.to_token()),
            Event::Error(e) => format!("E {}", e.replace('\n', " ")),
            Event::Report(r) => format!("R {}", serde_json::to_string(r).unwrap_or_default()),
        }
    }

    pub fn parse(line: &str) -> Option<Event> {
        let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
        match tag {
            "S" => Some(Event::Status(parse_status(rest)?)),
            "C" => {
                let (n, rest) = rest.split_once(' ')?;
                Some(Event::Census(n.parse().ok()?, parse_status(rest)?))
            }
            "W" => {
                let mut w = rest.split(' ');
                let conn = w.next()?.parse().ok()?;
                let key = KeyId::from_token(w.next()?)?;
                let t_ns = w.next()?.parse().ok()?;
                Some(Event::Wake { conn, key, t_ns })
            }
            "E" => Some(Event::Error(rest.to_string())),
            "R" => serde_json::from_str(rest)
                .ok()
                .map(|r| Event::Report(Box::new(r))),
            _ => None,
        }
    }
}

fn encode_status(s: &Status) -> String {
    let mut line = format!(
        "{} {} {} {} {}",
        s.open, s.parked, s.wakes, s.errors, s.requests
    );
    for p in &s.parked_by_server {
        line.push_str(&format!(" {p}"));
    }
    line
}

fn parse_status(text: &str) -> Option<Status> {
    let n: Vec<u64> = text
        .split(' ')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let [open, parked, wakes, errors, requests, per_server @ ..] = n.as_slice() else {
        return None;
    };
    Some(Status {
        open: *open,
        parked: *parked,
        wakes: *wakes,
        errors: *errors,
        requests: *requests,
        parked_by_server: per_server.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::KeyKind;

    #[test]
    fn commands_round_trip() {
        for c in [
            Command::Start,
            Command::Quiesce,
            Command::Stop,
            Command::Version(KeyId::new(KeyKind::Hot, 0), 12),
            Command::Ahead(KeyId::new(KeyKind::Own, 7), 13),
            Command::Census(3),
        ] {
            assert_eq!(Command::parse(&c.encode()), Some(c));
        }
        assert_eq!(Command::parse("ver h0"), None);
        assert_eq!(Command::parse("start now"), None);
        assert_eq!(Command::parse("bogus"), None);
    }

    #[test]
    fn events_round_trip() {
        let s = Status {
            open: 1,
            parked: 2,
            wakes: 3,
            errors: 4,
            requests: 5,
            parked_by_server: vec![1, 1],
        };
        assert!(
            matches!(Event::parse(&Event::Status(s.clone()).encode()), Some(Event::Status(x)) if x == s)
        );
        assert!(
            matches!(Event::parse(&Event::Census(9, s.clone()).encode()), Some(Event::Census(9, x)) if x == s)
        );
        let w = Event::Wake {
            conn: 7,
            key: KeyId::new(KeyKind::Own, 9),
            t_ns: 123,
        };
        match Event::parse(&w.encode()) {
            Some(Event::Wake {
                conn: 7,
                key,
                t_ns: 123,
            }) => assert_eq!(key, KeyId::new(KeyKind::Own, 9)),
            other => panic!("{other:?}"),
        }
        let mut r = WorkerReport::default();
        r.counters.wakes = 5;
        r.get.pairs.push((10, 2));
        match Event::parse(&Event::Report(Box::new(r)).encode()) {
            Some(Event::Report(r)) => {
                assert_eq!(r.counters.wakes, 5);
                assert_eq!(r.get.pairs, vec![(10, 2)]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(Event::parse("E boom"), Some(Event::Error(e)) if e == "boom"));
        assert!(Event::parse("S 1 2").is_none());
        assert!(Event::parse("Q").is_none());
    }
}
