//! The inbox and the wake-up path: committed changes, answers from the
//! storage threads and other reactors, and what they do to subscribers and
//! awaiting connections; and the posted list of connections that can go on.
//!
//! Invariant: nothing here serves a request. A connection answered or woken
//! during a drain is posted and served after it (nginx's posted events,
//! redis's ready keys), so a drain never runs inside another.

use super::conn::{State, Wait};
use super::Reactor;
use crate::api;
use crate::index::SubId;
use crate::metrics::Metrics;
use crate::model::{Change, Entry};
use crate::msg::{Reply, ToReactor};
use crate::protocol::ListenRecord;
use std::sync::Arc;

/// Most remembered (user, password) verdicts per reactor.
const MAX_CACHED_CREDENTIALS: usize = 10_000;

impl Reactor {
    /// Handles everything the storage threads and other reactors sent.
    /// Changes are applied at once (so any later request sees them) but
    /// wake-ups come last, after acknowledgements: a publisher hears `true`
    /// before thousands of listeners are answered. Connections that can go
    /// on (answered, woken, verified) are posted, never served from here:
    /// the loop serves them after the drain ([`Reactor::serve_posted`]).
    pub(super) fn drain_inbox(&mut self) {
        // (change, the key's entry before it) for changes someone follows.
        let mut followed: Vec<(Arc<Change>, Option<Arc<Entry>>)> = Vec::new();
        while let Ok(msg) = self.inbox.try_recv() {
            match msg {
                ToReactor::Change(change) => {
                    self.wait_published(change.seq);
                    self.applied_seq = change.seq;
                    self.log.push(change.clone());
                    if let Some(before) = self.index.apply(&change) {
                        followed.push((change, before));
                    }
                }
                ToReactor::Done {
                    conn,
                    generation,
                    tag,
                    result,
                } => {
                    if self.is_grpc(conn as usize) {
                        // Only writes come back to a gRPC connection: this
                        // is the writer refusing one (storage unavailable).
                        let result = match result {
                            Ok(reply) => Err(String::from_utf8_lossy(&reply.body).into_owned()),
                            Err(e) => Err(e),
                        };
                        self.grpc_written(conn as usize, generation, tag, result);
                    } else {
                        self.answer(conn as usize, generation, result)
                    }
                }
                ToReactor::Written {
                    conn,
                    generation,
                    tag,
                    result,
                } => {
                    if self.is_grpc(conn as usize) {
                        self.grpc_written(conn as usize, generation, tag, result);
                    } else {
                        self.answer(
                            conn as usize,
                            generation,
                            result.map(|w| api::render_written(&w)),
                        )
                    }
                }
                ToReactor::CollectListeners { filter, reply } => {
                    let part = self.index.listeners(&filter);
                    if let Some(link) = self.peers.get(reply.reactor) {
                        link.send(ToReactor::ListenerPart {
                            conn: reply.conn,
                            generation: reply.generation,
                            part,
                        });
                    }
                }
                ToReactor::ListenerPart {
                    conn,
                    generation,
                    part,
                } => self.on_listener_part(conn as usize, generation, part),
                ToReactor::Auth(state) => {
                    self.auth_state = state;
                    self.credentials.clear();
                }
                ToReactor::Verified {
                    conn,
                    generation,
                    key,
                    ok,
                } => {
                    if self.credentials.len() >= MAX_CACHED_CREDENTIALS {
                        self.credentials.clear();
                    }
                    self.credentials.insert(key, ok);
                    let conn = conn as usize;
                    if let Some(c) = self.conn_of(conn, generation) {
                        if let State::Awaiting { .. } = c.state {
                            // The request is still buffered: handled again
                            // once served.
                            c.state = State::Reading { partial: false };
                            self.post(conn);
                        }
                    }
                }
                ToReactor::Shutdown => self.start_drain(),
            }
        }
        let mut out = std::mem::take(&mut self.fan_out);
        for (change, before) in followed {
            let now_ms = crate::msg::now_ms();
            self.index.fan_out(
                &change,
                before.as_deref(),
                &self.auth_state,
                now_ms,
                &mut out,
            );
            for (stream, conn, bytes) in &out.events {
                self.send_event(*stream, *conn as usize, bytes, change.seq);
            }
            for &(park, link) in &out.wakes {
                self.wake(park, Some(link));
            }
            // One notify per tenant spelling (almost always one), shared
            // by every gRPC listener of the key.
            let mut built: Vec<(Option<Box<str>>, Vec<u8>)> = Vec::new();
            for &(sub, conn, link) in &out.pushes {
                let Some((group_key, echo)) = self.index.link_key(sub, link) else {
                    continue;
                };
                let at = match built.iter().position(|(e, _)| e.as_deref() == echo) {
                    Some(at) => at,
                    None => {
                        let id = change.seq.to_string();
                        let bytes = crate::grpc::change_notify(&id, group_key, echo);
                        built.push((echo.map(Into::into), bytes));
                        built.len() - 1
                    }
                };
                let bytes = std::mem::take(&mut built[at].1);
                self.push_notify(conn as usize, &bytes);
                built[at].1 = bytes;
            }
        }
        self.fan_out = out;
    }

    /// Whether a connection is on the gRPC port.
    fn is_grpc(&self, key: usize) -> bool {
        self.conns
            .get(key)
            .is_some_and(|c| matches!(c.state, State::Grpc(_)))
    }

    /// Posts a connection to be served after the current drain or event.
    pub(super) fn post(&mut self, key: usize) {
        if let Some(c) = self.conns.get(key) {
            self.posted.push((key, c.generation));
        }
    }

    /// Serves posted connections (their pipelined requests, their idle
    /// deadline), in the order posted. Serving drains the inbox, which may
    /// post more; they are served in the same loop, so nothing recurses.
    pub(super) fn serve_posted(&mut self) {
        let mut next = 0;
        while next < self.posted.len() {
            let (key, generation) = self.posted[next];
            next += 1;
            if self
                .conns
                .get(key)
                .is_some_and(|c| c.generation == generation)
            {
                self.process(key);
            }
        }
        self.posted.clear();
    }

    /// The connection a deferred answer is for, unless it has gone (its
    /// slot may hold a newer connection: the generation tells).
    fn conn_of(&mut self, key: usize, generation: u32) -> Option<&mut super::conn::Conn> {
        self.conns
            .get_mut(key)
            .filter(|c| c.generation == generation)
    }

    /// Waits (briefly: the writer is between two statements) until change
    /// `seq` is queued in every reactor's inbox.
    fn wait_published(&self, seq: u64) {
        let mut spins = 0u32;
        while self.published.get() < seq {
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Parks a long poll whose keys are all up to date, in the same step of
    /// the thread that applies changes, so none can slip in between.
    pub(super) fn park(
        &mut self,
        key: usize,
        records: Vec<ListenRecord>,
        hold_ms: u64,
        requester: String,
        vip_tag: Option<String>,
        close: bool,
    ) {
        let park = self.index.park_records(
            key as u32,
            records,
            requester.into(),
            vip_tag.map(Into::into),
        );
        self.conns[key].state = State::Parked { park, close };
        let deadline = self.now_tick + self.ticks(hold_ms);
        self.set_deadline(key, deadline);
    }

    /// Answers a parked poll: with the key of its `link` when it changed, or
    /// empty (timeout, shutdown); then posts it to serve any pipelined
    /// requests.
    pub(super) fn wake(&mut self, park: SubId, link: Option<u32>) {
        let body = match link {
            Some(link) => self.index.changed_reply(park, link),
            None => Vec::new(),
        };
        let Some(sub) = self.index.unsubscribe(park) else {
            return;
        };
        let conn = sub.conn as usize;
        Metrics::inc(if body.is_empty() {
            &self.metrics.poll_timeouts
        } else {
            &self.metrics.wakeups
        });
        let draining = self.drain_deadline.is_some();
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        let close = match c.state {
            State::Parked { close, .. } => close || draining,
            // A poll subscriber whose connection is not parked cannot
            // happen (unparking unsubscribes); if it did, answering and
            // closing is the one safe end.
            State::Reading { .. }
            | State::Awaiting { .. }
            | State::Streaming(_)
            | State::Grpc(_) => true,
        };
        c.state = State::Reading { partial: false };
        if body.is_empty() {
            let (status, head, b) = api::empty_poll_reply();
            c.respond(status, head, b, close);
        } else {
            c.respond(200, api::changed_keys_head(), &body, close);
        }
        // Written now: a woken client hears at once, not after the rest of
        // the fan-out.
        self.flush(conn);
        self.post(conn);
    }

    fn on_listener_part(&mut self, key: usize, generation: u32, part: Vec<(String, String)>) {
        let Some(c) = self.conn_of(key, generation) else {
            return;
        };
        let State::Awaiting {
            wait: Wait::Listeners { pending, found, .. },
            ..
        } = &mut c.state
        else {
            return;
        };
        found.extend(part);
        *pending = pending.saturating_sub(1);
        if *pending > 0 {
            return;
        }
        let body = api::listener_status_body(found);
        self.answer(key, generation, Ok(Reply::ok(body)));
    }

    /// Sends the answer an awaiting connection waited for, then serves what
    /// it pipelined behind.
    pub(super) fn answer(&mut self, key: usize, generation: u32, result: Result<Reply, String>) {
        let draining = self.drain_deadline.is_some();
        let Some(c) = self.conn_of(key, generation) else {
            return;
        };
        let State::Awaiting { close, ref wait } = c.state else {
            return;
        };
        let rendering = match wait {
            Wait::Thread(rendering) | Wait::Listeners { rendering, .. } => *rendering,
            Wait::Later(_) => api::Rendering::Plain,
        };
        let close = close || draining;
        c.reply(&api::render_answer(rendering, result), close);
        c.state = State::Reading { partial: false };
        self.flush(key);
        self.post(key);
    }
}
