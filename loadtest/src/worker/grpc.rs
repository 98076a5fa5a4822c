//! A worker's gRPC clients (`--grpc`): each listener is one HTTP/2
//! connection living the Java client's life. A unary `ServerCheckRequest`
//! first; then the bi-stream opened with a `ConnectionSetupRequest`; then a
//! unary `ConfigBatchListenRequest` of its keys with the md5s it holds
//! (retried after 100 ms while the server answers 301, not yet registered).
//! A pushed `ConfigChangeNotifyRequest` of one of its keys is its wake-up
//! (the same `Wake` event a poll reply gives, so every scenario judges all
//! three alike): it is answered on the bi-stream at once, then, unless
//! `--no-get`, the key is queried (`ConfigQueryRequest`, checked as a GET
//! after a wake-up is) and listened to again with its new md5. After 5 s
//! without a call (`--grpc-health-idle`), a `HealthCheckRequest`. One unary
//! call at a time.

use super::{TimerKind, Worker, ERROR_BACKOFF_NS, RECONNECT_DELAY_NS};
use crate::conn::{Call, Grpc, Phase, Role};
use crate::grpc::h2::H2Event;
use crate::grpc::payload::{self, Msg, Payload, Push};
use crate::grpc::{BI_PATH, RETRY_NS, UNARY_PATH, UNREGISTERED};
use crate::http::Response;
use crate::msg::Event;
use crate::proto;
use mio::Poll;
use serde_json::Value;

impl Call {
    /// The answer's type.
    fn answer_kind(self) -> &'static str {
        match self {
            Call::ServerCheck => "ServerCheckResponse",
            Call::Listen => "ConfigChangeBatchListenResponse",
            Call::Health => "HealthCheckResponse",
            Call::Query(_) => "ConfigQueryResponse",
        }
    }
}

/// `errorCode` of a ConfigQueryResponse for a config that does not exist.
const QUERY_NOT_FOUND: i64 = 300;

impl Worker {
    /// A fresh connection: the preface and the server check.
    pub(super) fn open_grpc(&mut self, poll: &Poll, i: usize, now: u64) {
        let conn = &mut self.conns[i];
        let g = Box::<Grpc>::default();
        g.h2.preface(&mut conn.out);
        conn.grpc = Some(g);
        conn.phase = Phase::Grpc;
        self.start_call(poll, i, Call::ServerCheck, now);
    }

    fn local_of(&self, i: usize) -> u32 {
        match self.conns[i].role {
            Role::Listener { local } => local,
            Role::Getter | Role::Publisher { .. } => 0,
        }
    }

    fn message(&mut self, i: usize, call: Call) -> Msg {
        self.grpc_request_id += 1;
        let id = self.grpc_request_id;
        match call {
            Call::ServerCheck => payload::server_check(id),
            Call::Health => payload::health_check(id),
            Call::Query(key) => {
                self.counters.gets_after_wake += 1;
                payload::config_query(id, &self.space.data_id(key))
            }
            Call::Listen => {
                self.counters.polls += 1;
                let global = self.plan.listener_first + self.local_of(i);
                let keys: Vec<(String, String)> = self
                    .plan
                    .keys
                    .keys_of(global)
                    .into_iter()
                    .zip(self.conns[i].md5s.iter())
                    .map(|(k, md5)| {
                        (
                            self.space.data_id(k),
                            md5.as_ref().map(proto::md5_hex).unwrap_or_default(),
                        )
                    })
                    .collect();
                payload::batch_listen(id, &keys)
            }
        }
    }

    /// Starts unary call `call` on a new stream, with its timeout.
    fn start_call(&mut self, poll: &Poll, i: usize, call: Call, now: u64) {
        let bytes = self
            .message(i, call)
            .encode(&self.source_for(i).to_string());
        let authority = self.plan.grpc_servers[self.server_of(i)].to_string();
        let conn = &mut self.conns[i];
        let Some(g) = conn.grpc.as_mut() else {
            return;
        };
        let stream = g.h2.open_stream(UNARY_PATH, &authority, &mut conn.out);
        g.h2.send_message(stream, &bytes, true, &mut conn.out);
        g.call = Some((stream, call));
        conn.sent_ns = now;
        conn.seq = conn.seq.wrapping_add(1);
        self.arm(
            now + self.plan.request_timeout_ms * 1_000_000,
            i,
            TimerKind::Timeout,
        );
        self.flush_grpc(poll, i, now);
    }

    /// Sends `msg` down the bi-stream.
    fn send_on_bi(&mut self, i: usize, msg: Msg) {
        let bytes = msg.encode(&self.source_for(i).to_string());
        let conn = &mut self.conns[i];
        if let Some(g) = conn.grpc.as_mut() {
            let bi = g.bi;
            g.h2.send_message(bi, &bytes, false, &mut conn.out);
        }
    }

    fn flush_grpc(&mut self, poll: &Poll, i: usize, now: u64) {
        if let Err(e) = self.conns[i].flush() {
            self.fail(poll, i, now, format!("write: {e}"));
        }
    }

    /// With no call in flight: check the server (again), listen, query a
    /// woken key, listen again, or (when the idle timer fired, `idle`) check
    /// health; else arm that timer.
    pub(super) fn grpc_next(&mut self, poll: &Poll, i: usize, now: u64, idle: bool) {
        let conn = &self.conns[i];
        let Some(g) = conn.grpc.as_ref() else {
            return;
        };
        if g.call.is_some() || self.stopping {
            return;
        }
        let call = if g.bi == 0 {
            // The server check failed: again, after the back-off.
            Call::ServerCheck
        } else if !g.listening {
            Call::Listen
        } else if let Some((key, _)) = conn.fetch_queue.first() {
            Call::Query(*key)
        } else if g.relisten {
            Call::Listen
        } else if idle {
            Call::Health
        } else {
            if self.plan.grpc_health_idle_ms > 0 {
                let at = now + self.plan.grpc_health_idle_ms * 1_000_000;
                self.arm(at, i, TimerKind::Next);
            }
            return;
        };
        self.start_call(poll, i, call, now);
    }

    /// Bytes arrived on a gRPC connection (or it ended, `closed`).
    pub(super) fn on_grpc_bytes(&mut self, poll: &Poll, i: usize, now: u64, closed: bool) {
        let conn = &mut self.conns[i];
        let Some(g) = conn.grpc.as_mut() else {
            return;
        };
        let mut events = Vec::new();
        match g.h2.receive(&conn.inbuf, &mut events, &mut conn.out) {
            Ok(used) => {
                conn.inbuf.drain(..used);
                if conn.inbuf.is_empty() {
                    conn.inbuf = Vec::new();
                }
            }
            Err(e) => {
                self.counters.protocol_errors += 1;
                self.fail(poll, i, now, format!("gRPC connection: {e}"));
                return;
            }
        }
        for ev in events {
            self.on_h2_event(poll, i, now, ev);
            if self.conns[i].phase != Phase::Grpc {
                return;
            }
        }
        self.flush_grpc(poll, i, now);
        if closed && self.conns[i].phase == Phase::Grpc {
            self.fail(poll, i, now, "the server closed a gRPC connection".into());
        }
    }

    fn streams(&self, i: usize) -> (u32, Option<(u32, Call)>) {
        self.conns[i]
            .grpc
            .as_ref()
            .map_or((0, None), |g| (g.bi, g.call))
    }

    fn on_h2_event(&mut self, poll: &Poll, i: usize, now: u64, ev: H2Event) {
        let (bi, call) = self.streams(i);
        let in_call = |stream: u32| call.filter(|(s, _)| *s == stream).map(|(_, c)| c);
        match ev {
            H2Event::Headers {
                stream,
                end_stream,
                status,
                grpc_status,
                grpc_message,
            } => {
                if let Some(s) = status.filter(|s| *s != 200) {
                    self.counters.http_errors += 1;
                    self.fail(
                        poll,
                        i,
                        now,
                        format!("gRPC stream {stream} answered HTTP {s}"),
                    );
                    return;
                }
                if !end_stream {
                    return;
                }
                let why = format!("grpc-status {grpc_status:?} {grpc_message:?}");
                if stream == bi {
                    self.fail(
                        poll,
                        i,
                        now,
                        format!("the server ended the bi-stream: {why}"),
                    );
                } else if let Some(c) = in_call(stream) {
                    // Trailers with no answer before them.
                    self.counters.grpc_errors += 1;
                    self.sample_error(format!("{c:?} ended without an answer: {why}"));
                    self.end_call(i);
                    self.arm(now + ERROR_BACKOFF_NS, i, TimerKind::Next);
                } else if grpc_status.is_some_and(|s| s != 0) {
                    self.counters.grpc_errors += 1;
                    self.sample_error(format!("a unary call ended with {why}"));
                }
            }
            H2Event::Message { stream, bytes } => {
                let p = match payload::decode(&bytes) {
                    Ok(p) => p,
                    Err(e) => {
                        self.counters.protocol_errors += 1;
                        self.fail(poll, i, now, e.to_string());
                        return;
                    }
                };
                if stream == bi {
                    self.on_push(poll, i, now, p);
                } else if let Some(c) = in_call(stream) {
                    self.on_answer(poll, i, now, c, p);
                } else {
                    self.counters.protocol_errors += 1;
                    self.sample_error(format!("unsolicited {} on stream {stream}", p.kind));
                }
            }
            H2Event::StreamEnd { stream } => {
                if stream == bi {
                    self.fail(poll, i, now, "the server ended the bi-stream".into());
                }
            }
            H2Event::Reset { stream, code } => {
                if stream == bi || in_call(stream).is_some() {
                    self.fail(
                        poll,
                        i,
                        now,
                        format!("RST_STREAM {code} on stream {stream}"),
                    );
                }
            }
            H2Event::GoAway { last_stream, code } => {
                if code == 0 {
                    self.counters.server_closes += 1;
                    self.close(poll, i, now, RECONNECT_DELAY_NS);
                } else {
                    let what = format!("GOAWAY code {code} (last stream {last_stream})");
                    self.fail(poll, i, now, what);
                }
            }
        }
    }

    /// The call in flight is over; its timeout no longer applies.
    fn end_call(&mut self, i: usize) {
        let conn = &mut self.conns[i];
        if let Some(g) = conn.grpc.as_mut() {
            g.call = None;
        }
        conn.seq = conn.seq.wrapping_add(1);
    }

    fn on_answer(&mut self, poll: &Poll, i: usize, now: u64, call: Call, p: Payload) {
        self.end_call(i);
        let v: Value = match serde_json::from_slice(&p.json) {
            Ok(v) => v,
            Err(e) => {
                self.counters.protocol_errors += 1;
                self.fail(poll, i, now, format!("{} JSON: {e}", p.kind));
                return;
            }
        };
        let not_found =
            matches!(call, Call::Query(_)) && payload::error_code(&v) == QUERY_NOT_FOUND;
        if let (Err(why), false) = (payload::outcome(&v), not_found) {
            if payload::error_code(&v) == UNREGISTERED {
                self.counters.unregistered_retries += 1;
                self.arm(now + RETRY_NS, i, TimerKind::Next);
            } else {
                self.counters.grpc_errors += 1;
                self.sample_error(format!("{call:?} answered {} {why}", p.kind));
                self.arm(now + ERROR_BACKOFF_NS, i, TimerKind::Next);
            }
            return;
        }
        if p.kind != call.answer_kind() {
            self.counters.protocol_errors += 1;
            self.sample_error(format!("{call:?} answered with a {}", p.kind));
        }
        match call {
            Call::ServerCheck => {
                let authority = self.plan.grpc_servers[self.server_of(i)].to_string();
                let conn = &mut self.conns[i];
                if let Some(g) = conn.grpc.as_mut() {
                    g.bi = g.h2.open_stream(BI_PATH, &authority, &mut conn.out);
                }
                self.send_on_bi(i, payload::connection_setup());
            }
            Call::Listen => {
                if let Some(g) = self.conns[i].grpc.as_mut() {
                    g.listening = true;
                    g.relisten = false;
                }
                for (data_id, group, tenant) in payload::changed_configs(&v) {
                    self.on_change(i, now, &data_id, &group, &tenant);
                }
            }
            Call::Health => self.counters.health_checks += 1,
            Call::Query(key) => {
                let floor = self.conns[i]
                    .fetch_queue
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map_or(0, |(_, v)| *v);
                self.conns[i].fetch_queue.retain(|(k, _)| *k != key);
                let resp = Response {
                    status: if not_found { 404 } else { 200 },
                    body: payload::text(&v, "content")
                        .unwrap_or_default()
                        .into_bytes(),
                    close: false,
                    content_md5: payload::text(&v, "md5").filter(|_| !not_found),
                };
                let local = self.local_of(i);
                if !self.on_fetch_reply(local, i, key, floor, &resp) {
                    self.arm(now + ERROR_BACKOFF_NS, i, TimerKind::Next);
                    return;
                }
                if let Some(g) = self.conns[i].grpc.as_mut() {
                    g.relisten = true;
                }
            }
        }
        self.grpc_next(poll, i, now, false);
    }

    fn on_push(&mut self, poll: &Poll, i: usize, now: u64, p: Payload) {
        self.counters.pushes += 1;
        let kind = Push::of(&p.kind);
        let v: Value = serde_json::from_slice(&p.json).unwrap_or(Value::Null);
        let request_id = payload::text(&v, "requestId").unwrap_or_default();
        if let Some(ack) = kind.ack_kind() {
            self.send_on_bi(i, payload::push_ack(ack, &request_id));
        }
        match kind {
            Push::ConfigChangeNotify => {
                let field = |name| payload::text(&v, name).unwrap_or_default();
                self.on_change(i, now, &field("dataId"), &field("group"), &field("tenant"));
                self.grpc_next_if_due(poll, i, now);
            }
            Push::ConnectReset => {
                self.counters.connect_resets += 1;
                self.flush_grpc(poll, i, now);
                self.close(poll, i, now, 0);
            }
            Push::ClientDetection | Push::ClientConfigMetric | Push::SetupAck => {}
            Push::Unknown => {
                self.counters.bad_events += 1;
                self.sample_error(format!("unknown server push {}", p.kind));
            }
        }
    }

    /// Starts a query if a wake-up queued one and no call is in flight.
    fn grpc_next_if_due(&mut self, poll: &Poll, i: usize, now: u64) {
        let idle = self.conns[i]
            .grpc
            .as_ref()
            .is_some_and(|g| g.call.is_none());
        if idle && !self.conns[i].fetch_queue.is_empty() {
            self.grpc_next(poll, i, now, false);
        }
    }

    /// The server says a key changed (a push, or a listen's answer).
    fn on_change(&mut self, i: usize, now: u64, data_id: &str, group: &str, tenant: &str) {
        let local = self.local_of(i);
        let global = self.plan.listener_first + local;
        let key = self.space.key_of(data_id, group);
        let slot = key.and_then(|k| self.slot_of(local, k));
        let (Some(key), Some(slot), true) = (key, slot, tenant.is_empty()) else {
            self.counters.foreign_keys += 1;
            self.sample_error(format!(
                "gRPC client {global} told of a key it does not listen to: {data_id} {group} {tenant:?}"
            ));
            return;
        };
        self.counters.wakes += 1;
        self.conns[i].wake_ns = now;
        if self.plan.report_wakes {
            self.pending.push(Event::Wake {
                conn: global,
                key,
                t_ns: now,
            });
        }
        if self.plan.get_after_wake {
            if !self.conns[i].fetch_queue.iter().any(|(k, _)| *k == key) {
                let floor = self.floors.get(&key).copied().unwrap_or(0);
                self.conns[i].fetch_queue.push((key, floor));
            }
        } else if let Some(v) = self.versions.get(&key) {
            let content = proto::versioned_content(&self.space, key, *v, self.plan.content_bytes);
            self.conns[i].md5s[slot] = Some(proto::md5_of(content.as_bytes()));
        }
    }
}
