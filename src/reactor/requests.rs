//! HTTP/1 requests on a connection: parse what is buffered (pipelined
//! requests at an advancing offset), carry out each request's [`Action`],
//! and settle the connection afterwards. The gRPC door has its own room
//! (`grpc`).

use super::conn::{State, Wait};
use super::Reactor;
use crate::api::{self, refusal, Action, Ctx, Rendering};
use crate::http::{self, Parse};
use crate::metrics::{Metrics, Rejection};
use crate::msg::{QueryRequest, ReplyTo, ToReactor, WriteRequest};
use crate::settings::OUT_HIGH_WATER_BYTES;
use std::collections::BTreeMap;
use std::sync::Arc;

impl Reactor {
    /// Parses and answers buffered requests while the connection may.
    /// Pipelined requests are parsed at an advancing offset and the buffer
    /// is compacted once at the end, so a deep pipeline costs linear time.
    pub(super) fn process(&mut self, key: usize) {
        // Whatever was committed before these bytes arrived must be visible
        // to them, even if another reactor already woke their sender.
        self.drain_inbox();
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        if let State::Grpc(_) = c.state {
            self.process_grpc(key);
            return;
        }
        let inbuf = std::mem::take(&mut c.inbuf);
        let mut pos = 0;
        let mut want = None;
        // Stopped with requests left because the output is above the mark.
        let mut held_back = false;
        loop {
            let Some(c) = self.conns.get_mut(key) else {
                return;
            };
            let State::Reading { partial } = c.state else {
                break;
            };
            held_back = c.out.pending() > OUT_HIGH_WATER_BYTES;
            if c.closing || held_back || pos == inbuf.len() {
                break;
            }
            match http::parse(&inbuf[pos..], &self.limits) {
                Ok(Parse::Incomplete { want: w }) => {
                    if c.read_closed {
                        // The peer will never finish this request.
                        self.close(key);
                        return;
                    }
                    want = w;
                    if !partial {
                        c.state = State::Reading { partial: true };
                        let deadline = self.now_tick + self.ticks(self.settings.request_timeout_ms);
                        self.set_deadline(key, deadline);
                    }
                    break;
                }
                Ok(Parse::Complete(req, consumed)) => {
                    c.state = State::Reading { partial: false };
                    if !self.handle(key, &req) {
                        // Handled again later (after a password check).
                        break;
                    }
                    pos += consumed;
                }
                Err(e) => {
                    // The framing is lost: answer and close, and parse
                    // nothing that followed on this connection.
                    c.state = State::Reading { partial: false };
                    log::debug!("bad request from {}: {}", c.peer, e.message());
                    if let Some(r) = Rejection::for_status(e.status()) {
                        self.metrics.reject(r);
                    }
                    c.reply(&refusal::bad_request(&e), true);
                    pos = inbuf.len();
                }
            }
        }
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        c.inbuf = inbuf;
        if c.closing && c.state.is_reading() {
            // Nothing more is read from a closing connection.
            c.inbuf = Vec::new();
        } else {
            c.inbuf.drain(..pos);
        }
        if c.inbuf.is_empty() {
            c.inbuf = Vec::new();
        } else if let Some(want) = want {
            c.inbuf.reserve(want.saturating_sub(c.inbuf.len()));
        }
        self.account(key);
        self.after_progress(key);
        // Requests held back behind a large answer that the socket then
        // took whole: no writable event will come (nothing is left to
        // write), so they are served from the posted list. Each round
        // consumes requests, so this ends.
        if held_back
            && self.conns.get(key).is_some_and(|c| {
                c.state.is_reading()
                    && !c.inbuf.is_empty()
                    && c.out.pending() <= OUT_HIGH_WATER_BYTES
            })
        {
            self.post(key);
        }
    }

    /// Flushes output and settles the connection's deadline.
    pub(super) fn after_progress(&mut self, key: usize) {
        self.flush(key);
        let Some(c) = self.conns.get(key) else { return };
        if let State::Reading { partial: false } = c.state {
            if c.read_closed && c.out.is_empty() {
                self.close(key);
                return;
            }
            let idle = self.now_tick + self.ticks(self.settings.idle_timeout_ms);
            self.set_deadline(key, idle);
        }
    }

    /// Carries out what the api decided for one request; returns false when
    /// the request must stay buffered to be handled again (after a password
    /// check).
    fn handle(&mut self, key: usize, req: &http::Request) -> bool {
        let c = &self.conns[key];
        let close = !req.keep_alive || self.drain_deadline.is_some();
        Metrics::inc(&self.metrics.requests);
        let auth = self.auth_keys.as_deref().map(|keys| api::AuthCtx {
            keys,
            state: &self.auth_state,
            credentials: &self.credentials,
            now_secs: crate::msg::now_ms() as u64 / 1000,
        });
        let ctx = Ctx {
            index: &self.index,
            settings: &self.settings,
            metrics: &self.metrics,
            peer: c.peer.ip(),
            auth,
        };
        match api::handle(req, &ctx) {
            Action::Verify {
                username,
                password,
                key: credential,
            } => {
                let query = crate::msg::Query::Verify {
                    username,
                    password,
                    key: credential,
                };
                let reply = self.reply_to(key);
                let queued = self.reader.try_send(QueryRequest { query, reply }).is_ok();
                let plain = Rendering::Plain;
                if self.await_answer(key, close, queued, "password checks", plain) {
                    // Keep the request buffered: it is handled again once
                    // the verdict is in.
                    return false;
                }
            }
            Action::Respond { status, head, body } => {
                let c = &mut self.conns[key];
                if let Some(r) = Rejection::for_status(status) {
                    let reason = String::from_utf8_lossy(&body[..body.len().min(200)]);
                    log::debug!(
                        "rejected request from {}: {status} {}",
                        c.peer,
                        reason.trim_end()
                    );
                    self.metrics.reject(r);
                }
                c.respond(status, &head, &body, close);
            }
            Action::Config(config, extra) => {
                let c = &mut self.conns[key];
                match extra {
                    None => c.respond_config(&config.get_head, &config, close),
                    Some(extra) => {
                        let head = [&config.get_head[..], extra.as_bytes()].concat();
                        c.respond_config(&head, &config, close)
                    }
                }
            }
            Action::Query(query, rendering) => {
                let reply = self.reply_to(key);
                let queued = self
                    .reader
                    .try_send(QueryRequest {
                        query: *query,
                        reply,
                    })
                    .is_ok();
                self.await_answer(key, close, queued, "queries", rendering);
            }
            Action::Write(op, rendering) => {
                let reply = self.reply_to(key);
                let queued = self
                    .writer
                    .try_send(WriteRequest { op: *op, reply })
                    .is_ok();
                self.await_answer(key, close, queued, "writes", rendering);
            }
            Action::Later {
                delay_ms,
                status,
                body,
            } => {
                self.conns[key].state = State::Awaiting {
                    close,
                    wait: Wait::Later(crate::msg::Reply::new(status, body)),
                };
                let deadline = self.now_tick + self.ticks(delay_ms);
                self.set_deadline(key, deadline);
            }
            Action::CollectListeners(filter, rendering) => {
                let reply = self.reply_to(key);
                self.conns[key].state = State::Awaiting {
                    close,
                    wait: Wait::Listeners {
                        pending: self.peers.len(),
                        found: BTreeMap::new(),
                        rendering,
                    },
                };
                let filter = Arc::new(filter);
                for link in &self.peers {
                    link.send(ToReactor::CollectListeners {
                        filter: filter.clone(),
                        reply,
                    });
                }
            }
            Action::Park {
                records,
                hold_ms,
                requester,
                vip_tag,
            } => self.park(key, records, hold_ms, requester, vip_tag, close),
            Action::Watch(w) => self.open_stream(key, *w),
        }
        true
    }

    /// Where another thread sends its answer for connection `key`.
    fn reply_to(&self, key: usize) -> ReplyTo {
        ReplyTo {
            reactor: self.id,
            conn: key as u32,
            generation: self.conns[key].generation,
            tag: 0,
        }
    }

    /// After handing a request to another thread: wait for its answer (to
    /// render it so), or, when that thread's queue was full, answer 503
    /// now. Returns `queued`.
    fn await_answer(
        &mut self,
        key: usize,
        close: bool,
        queued: bool,
        what: &str,
        rendering: Rendering,
    ) -> bool {
        let c = &mut self.conns[key];
        if queued {
            c.state = State::Awaiting {
                close,
                wait: Wait::Thread(rendering),
            };
            return true;
        }
        log::warn!("queue for {what} full: answering 503 to {}", c.peer);
        self.metrics.reject(Rejection::Overloaded);
        c.reply(
            &api::render_answer(rendering, Ok(refusal::overloaded(what))),
            close,
        );
        false
    }
}
