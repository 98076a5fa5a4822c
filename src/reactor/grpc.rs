//! The gRPC door: connections accepted on the gRPC port speak HTTP/2
//! (`h2`) carrying Nacos payloads (`grpc`). This room moves their bytes,
//! turns each payload's [`Outcome`] into index links, writer requests and
//! answers, pushes change notifies to the connections whose listener a
//! change reached, checks idle clients are still there, and tells every
//! client to move elsewhere when the server stops.
//!
//! Invariants: one TCP connection is one Nacos connection (its id names
//! its address; unary calls and the bi-stream share it); an idle
//! connection holds no buffers (`h2` keeps none, and the listener is a
//! subscriber in the one index, not a copy of its keys); a connection whose
//! output the client does not read is closed, not buffered without bound.

use super::conn::State;
use super::Reactor;
use crate::grpc::{self, messages::AckOf, Outcome, Payload, Pending};
use crate::h2;
use crate::index::{Held, SubId, Viewer};
use crate::metrics::Metrics;
use crate::msg::{ReplyTo, WriteRequest, Written};
use crate::settings::OUT_HIGH_WATER_BYTES;
use std::net::SocketAddr;

/// A connection with no traffic this long is asked whether it is still
/// there (`ClientDetectionRequest`, as Nacos does after 20 s).
const DETECT_AFTER_MS: u64 = 20_000;
/// ... and closed when it has not answered (or sent anything) this long
/// after.
const DETECT_GRACE_MS: u64 = 5_000;
/// Output (queued in the socket's stead plus waiting for the peer's
/// flow-control window) past which a client that does not read is closed.
const MAX_UNREAD_BYTES: usize = 4 * OUT_HIGH_WATER_BYTES;
/// gRPC status for a method this server does not have.
const UNIMPLEMENTED: u32 = 12;
/// gRPC status for a message that is not a `Payload`.
const INTERNAL: u32 = 13;
/// Request ids of our own pushes other than change notifies (which use
/// the change's sequence number) start here, so the two never meet.
const OWN_REQUEST_IDS: u64 = 1 << 53;
/// How long a closing connection keeps reading (and discarding) after its
/// last output, unless the client hangs up first (see [`Linger`]).
const LINGER_MS: u64 = 1_000;

/// Where a connection is in its lingering close. Closing a socket with
/// unread input makes the kernel answer with a TCP RST, which can destroy
/// the GOAWAY (or the last answers) before the client reads them; so a
/// closing connection first sends what it has, then shuts down its write
/// side, then reads and drops input until the client's EOF or
/// [`LINGER_MS`], and only then closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Linger {
    /// Serving.
    No,
    /// Closing: output still goes out (the GOAWAY, answers to what the
    /// client asked before it left); input is dropped.
    Flushing,
    /// The write side is shut down; input is dropped until EOF.
    Shut,
}

/// A gRPC connection's state.
pub(super) struct GrpcConn {
    pub h2: h2::Conn,
    /// When it was accepted (ms since the epoch): part of its id.
    opened_ms: u64,
    /// The bi-stream, once the client opened it.
    bi: Option<u32>,
    /// The bi-stream's `ConnectionSetupRequest` arrived.
    registered: bool,
    /// The client's own address, as it reported it at set-up.
    client_ip: Option<Box<str>>,
    /// Its listener in the index, from its first batch listen on.
    listener: Option<SubId>,
    /// Unary calls waiting for the writer: stream and how to answer.
    pending: Vec<(u32, Pending)>,
    /// A `ClientDetectionRequest` is unanswered.
    detecting: bool,
    /// The lingering close, once under way.
    linger: Linger,
}

impl GrpcConn {
    /// Not in a lingering close: pushes and probes still go out.
    fn serving(&self) -> bool {
        match self.linger {
            Linger::No => true,
            Linger::Flushing | Linger::Shut => false,
        }
    }

    pub(super) fn new(limits: &h2::Limits) -> GrpcConn {
        GrpcConn {
            h2: h2::Conn::new(limits),
            opened_ms: crate::msg::now_ms() as u64,
            bi: None,
            registered: false,
            client_ip: None,
            listener: None,
            pending: Vec::new(),
            detecting: false,
            linger: Linger::No,
        }
    }

    /// The listener to unlink when the connection goes.
    pub(super) fn listener(&self) -> Option<SubId> {
        self.listener
    }
}

/// Nacos's connection id: `<ms>_<ip>_<port>`.
fn connection_id(g: &GrpcConn, peer: SocketAddr) -> String {
    format!("{}_{}_{}", g.opened_ms, peer.ip(), peer.port())
}

/// The address beta lists are matched against and writes record.
fn client_ip(g: &GrpcConn, peer: SocketAddr) -> String {
    match &g.client_ip {
        Some(ip) => ip.to_string(),
        None => peer.ip().to_string(),
    }
}

impl Reactor {
    /// Feeds buffered bytes to the connection's HTTP/2 layer and carries
    /// out every payload that completes.
    pub(super) fn process_grpc(&mut self, key: usize) {
        let detect = self.now_tick + self.ticks(DETECT_AFTER_MS);
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        let State::Grpc(g) = &mut c.state else {
            return;
        };
        let mut inbuf = std::mem::take(&mut c.inbuf);
        match g.linger {
            Linger::No => {}
            Linger::Flushing | Linger::Shut => {
                // A closing connection reads only to see the client's EOF.
                self.account(key);
                return;
            }
        }
        let mut events = Vec::new();
        let mut out = Vec::new();
        let result = g.h2.receive(&inbuf, &mut events, &mut out);
        c.out.push(&out);
        let mut leaving = match result {
            Ok(consumed) => {
                inbuf.drain(..consumed);
                c.inbuf = if inbuf.is_empty() { Vec::new() } else { inbuf };
                false
            }
            Err(e) => {
                // The GOAWAY is out of `receive`; nothing more is answered.
                log::debug!("gRPC connection error from {}: {}", c.peer, e.reason);
                g.pending.clear();
                true
            }
        };
        // The client said GOAWAY: what it asked is still answered, then the
        // connection closes.
        leaving |= events.iter().any(|e| matches!(e, h2::Event::GoAway));
        if !events.is_empty() {
            g.detecting = false;
            // Re-arms the wheel only when this is earlier than the armed
            // timer (the accept's idle timeout is later); otherwise it just
            // moves the deadline the timer checks when it fires.
            self.set_deadline(key, detect);
        }
        for event in events {
            self.grpc_event(key, event);
            if self.unread_past_bound(key) {
                return;
            }
        }
        if leaving {
            self.linger(key);
        }
        self.account(key);
        self.flush(key);
    }

    /// Starts the lingering close (see [`Linger`]): what is queued still
    /// goes out, input is dropped from now on, and the connection is
    /// closed at the client's EOF or after [`LINGER_MS`].
    fn linger(&mut self, key: usize) {
        let deadline = self.now_tick + self.ticks(LINGER_MS);
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        let State::Grpc(g) = &mut c.state else {
            return;
        };
        match g.linger {
            Linger::No => {}
            Linger::Flushing | Linger::Shut => return,
        }
        g.linger = Linger::Flushing;
        g.detecting = false;
        c.inbuf = Vec::new();
        self.account(key);
        self.set_deadline(key, deadline);
        self.grpc_flushed(key);
    }

    /// Called whenever a gRPC connection's output is empty (from `flush`):
    /// a lingering connection with nothing left to send or to wait for
    /// shuts down its write side, so the client reads everything and then
    /// EOF; its own EOF (or the linger deadline) then closes the socket.
    pub(super) fn grpc_flushed(&mut self, key: usize) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        let State::Grpc(g) = &mut c.state else {
            return;
        };
        match g.linger {
            Linger::No | Linger::Shut => return,
            Linger::Flushing => {}
        }
        if !c.out.is_empty() || !g.pending.is_empty() {
            return;
        }
        g.linger = Linger::Shut;
        if let Err(e) = c.stream.shutdown(std::net::Shutdown::Write) {
            log::debug!("shutdown of {}: {e}", c.peer);
            self.close(key);
        }
    }

    /// Closes a connection whose client does not read what it asked for
    /// (output queued in the socket's stead, or waiting for a window the
    /// client never opens) once it passes [`MAX_UNREAD_BYTES`]; true then.
    fn unread_past_bound(&mut self, key: usize) -> bool {
        let Some(c) = self.conns.get(key) else {
            return true;
        };
        let State::Grpc(g) = &c.state else {
            return false;
        };
        if c.out.pending() + g.h2.queued_bytes() <= MAX_UNREAD_BYTES {
            return false;
        }
        log::warn!("gRPC {} does not read its answers: closing it", c.peer);
        self.close(key);
        true
    }

    fn grpc_event(&mut self, key: usize, event: h2::Event) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        let State::Grpc(g) = &mut c.state else {
            return;
        };
        let mut out = Vec::new();
        match event {
            h2::Event::Open { stream, path } => match path {
                h2::Path::BiStream => {
                    g.bi = Some(stream);
                    g.h2.send_headers(stream, &mut out);
                }
                h2::Path::Unary => {}
                h2::Path::Other(p) => {
                    log::debug!("gRPC {}: no method {p}", c.peer);
                    let msg = format!("Method not found: {p}");
                    g.h2.send_trailers_only(stream, UNIMPLEMENTED, &msg, &mut out);
                }
            },
            h2::Event::Message { stream, bytes } => {
                c.out.push(&out);
                self.grpc_message(key, stream, &bytes);
                return;
            }
            h2::Event::End { stream } => {
                if g.bi == Some(stream) {
                    // The client ended its half of the bi-stream: the
                    // connection is unregistered, as in Nacos.
                    g.h2.send_trailers(stream, 0, "", &mut out);
                    self.end_registration(key);
                    if let Some(c) = self.conns.get_mut(key) {
                        c.out.push(&out);
                    }
                    return;
                }
            }
            h2::Event::Reset { stream } => {
                g.pending.retain(|(s, _)| *s != stream);
                if g.bi == Some(stream) {
                    self.end_registration(key);
                    return;
                }
            }
            h2::Event::GoAway => {
                // The client is leaving: `process_grpc` starts the
                // lingering close once the batch is answered.
            }
        }
        c.out.push(&out);
    }

    /// The bi-stream is gone: the connection is no longer registered and
    /// its listener no longer listens.
    fn end_registration(&mut self, key: usize) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        let State::Grpc(g) = &mut c.state else {
            return;
        };
        g.bi = None;
        g.registered = false;
        if let Some(sub) = g.listener.take() {
            self.index.unsubscribe(sub);
        }
    }

    fn grpc_message(&mut self, key: usize, stream: u32, bytes: &[u8]) {
        Metrics::inc(&self.metrics.requests);
        let auth = self.auth_keys.as_deref().map(|keys| crate::api::AuthCtx {
            keys,
            state: &self.auth_state,
            credentials: &self.credentials,
            now_secs: crate::msg::now_ms() as u64 / 1000,
        });
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        let State::Grpc(g) = &mut c.state else {
            return;
        };
        let bi = g.bi == Some(stream);
        let mut out = Vec::new();
        let Some(payload) = Payload::decode(bytes) else {
            if !bi {
                g.h2.send_trailers_only(stream, INTERNAL, "not a Payload", &mut out);
            }
            c.out.push(&out);
            return;
        };
        let conn_id = connection_id(g, c.peer);
        let ip = client_ip(g, c.peer);
        let ctx = grpc::Ctx {
            index: &self.index,
            settings: &self.settings,
            auth: auth.as_ref(),
            client_ip: &ip,
            connection_id: &conn_id,
            registered: g.registered,
        };
        let outcome = grpc::handle(&payload, bi, &ctx);
        match outcome {
            Outcome::Reply(answer) => {
                if bi {
                    g.h2.send_message(stream, &answer, &mut out);
                } else {
                    unary_answer(&mut g.h2, stream, &answer, &mut out);
                }
            }
            Outcome::Write { op, pending } => {
                let reply = ReplyTo {
                    reactor: self.id,
                    conn: key as u32,
                    generation: c.generation,
                    tag: stream,
                };
                if self
                    .writer
                    .try_send(WriteRequest { op: *op, reply })
                    .is_ok()
                {
                    g.pending.push((stream, pending));
                } else {
                    log::warn!(
                        "queue for writes full: refusing a gRPC write from {}",
                        c.peer
                    );
                    let answer = grpc::server_error("server is overloaded, try later");
                    unary_answer(&mut g.h2, stream, &answer, &mut out);
                }
            }
            Outcome::Setup(reg) => {
                log::debug!(
                    "gRPC {} set up: {} {}",
                    c.peer,
                    reg.client_version.as_deref().unwrap_or("-"),
                    reg.app_name.as_deref().unwrap_or("-")
                );
                g.registered = true;
                g.client_ip = reg.client_ip.map(Into::into);
            }
            Outcome::Listen {
                listen,
                keys,
                reply,
            } => {
                let sub = match g.listener {
                    Some(sub) => sub,
                    None => {
                        let viewer = Viewer {
                            requester: ip.as_str().into(),
                            vip_tag: None,
                            user: None,
                        };
                        let sub = self.index.open_listener(key as u32, viewer);
                        g.listener = Some(sub);
                        sub
                    }
                };
                for k in keys {
                    if listen {
                        let held = Held {
                            md5: k.md5,
                            echo_tenant: k.echo_tenant,
                        };
                        self.index.listen(sub, &k.group_key, held);
                    } else {
                        self.index.unlisten(sub, &k.group_key);
                    }
                }
                unary_answer(&mut g.h2, stream, &reply, &mut out);
            }
            Outcome::Acked(ack) => match ack {
                AckOf::ConfigChangeNotify | AckOf::ClientDetection | AckOf::ConnectReset => {}
                AckOf::Error => log::debug!("gRPC {}: a push failed in the client", c.peer),
            },
            Outcome::Ignore => {}
        }
        c.out.push(&out);
    }

    /// The writer's answer to a gRPC connection's publish or remove.
    pub(super) fn grpc_written(
        &mut self,
        key: usize,
        generation: u32,
        stream: u32,
        result: Result<Written, String>,
    ) {
        let Some(c) = self
            .conns
            .get_mut(key)
            .filter(|c| c.generation == generation)
        else {
            return;
        };
        let State::Grpc(g) = &mut c.state else {
            return;
        };
        let Some(at) = g.pending.iter().position(|(s, _)| *s == stream) else {
            return;
        };
        let (_, pending) = g.pending.swap_remove(at);
        let answer = pending.render(result);
        let mut out = Vec::new();
        unary_answer(&mut g.h2, stream, &answer, &mut out);
        c.out.push(&out);
        self.flush(key);
    }

    /// Pushes a change notify to a gRPC connection's bi-stream; `bytes`
    /// is the payload, built once per change and tenant spelling.
    pub(super) fn push_notify(&mut self, key: usize, bytes: &[u8]) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        let State::Grpc(g) = &mut c.state else {
            return;
        };
        let (Some(bi), true) = (g.bi, g.serving()) else {
            return;
        };
        let mut out = Vec::new();
        g.h2.send_message(bi, bytes, &mut out);
        c.out.push(&out);
        Metrics::inc(&self.metrics.wakeups);
        if !self.unread_past_bound(key) {
            self.flush(key);
        }
    }

    /// A gRPC connection's timer: ask an idle client whether it is still
    /// there, and close it when it did not answer in time.
    pub(super) fn grpc_timer(&mut self, key: usize) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        let State::Grpc(g) = &mut c.state else {
            return;
        };
        if !g.serving() {
            log::debug!("gRPC {}: lingering close over", c.peer);
            self.close(key);
            return;
        }
        if g.detecting || g.bi.is_none() {
            log::debug!("gRPC {} gone quiet: closing it", c.peer);
            self.close(key);
            return;
        }
        g.detecting = true;
        let id = (OWN_REQUEST_IDS + self.now_tick).to_string();
        let mut out = Vec::new();
        if let Some(bi) = g.bi {
            g.h2.send_message(bi, &grpc::client_detection(&id), &mut out);
        }
        c.out.push(&out);
        let deadline = self.now_tick + self.ticks(DETECT_GRACE_MS);
        self.set_deadline(key, deadline);
        self.flush(key);
    }

    /// On a graceful stop: tell the client to move to another server
    /// (`ConnectResetRequest`), then GOAWAY; the client closes, or the
    /// drain deadline does.
    pub(super) fn grpc_stop(&mut self, key: usize) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        let State::Grpc(g) = &mut c.state else {
            return;
        };
        if !g.serving() {
            // Already closing; its own deadline ends it.
            return;
        }
        let mut out = Vec::new();
        if let (Some(bi), true) = (g.bi, g.registered) {
            let id = (OWN_REQUEST_IDS + self.now_tick + 1).to_string();
            let reset = grpc::connect_reset(&id, &connection_id(g, c.peer));
            g.h2.send_message(bi, &reset, &mut out);
        }
        g.h2.go_away(h2::ErrorCode::NoError, &mut out);
        c.out.push(&out);
        if g.bi.is_none() && g.pending.is_empty() {
            self.linger(key);
        }
        self.flush(key);
    }
}

/// A unary call's whole answer: headers, the one message, trailers.
fn unary_answer(h2: &mut h2::Conn, stream: u32, answer: &[u8], out: &mut Vec<u8>) {
    h2.send_headers(stream, out);
    h2.send_message(stream, answer, out);
    h2.send_trailers(stream, 0, "", out);
}
