//! Watch streams on a connection: open (snapshot or resume), queue the
//! events the index built, heartbeat, and close a stream that cannot keep
//! up. What a stream sees, and the bytes of its events, are decided in
//! `index` (`view`, `framing`); this room only moves them.

use super::conn::{State, Streaming};
use super::Reactor;
use crate::api::Watch;
use crate::index::framing;
use crate::index::{SubId, Viewer};
use crate::metrics::Metrics;
use crate::model::Change;
use std::sync::Arc;

/// The reconnect delay suggested to clients.
const RETRY_MS: u64 = 3_000;
/// Snapshot events are added while the unsent output is below this.
const SNAPSHOT_REFILL_BYTES: usize = 64 * 1024;

impl Reactor {
    /// Turns connection `key` into a stream: the response head, a `retry:`
    /// hint, then the missed changes (resume) or a snapshot.
    pub(super) fn open_stream(&mut self, key: usize, w: Watch) {
        let applied = self.applied_seq;
        let viewer = Viewer {
            requester: w.requester.into(),
            vip_tag: w.vip_tag.map(Into::into),
            user: w.user.map(Into::into),
        };
        let scope = w.scope.clone();
        let id = self
            .index
            .open_stream(key as u32, viewer, w.content, w.scope);
        let c = &mut self.conns[key];
        c.out.push(framing::STREAM_HEAD);
        c.out.push(&framing::retry(RETRY_MS));
        // Resume: exactly the changes after the client's id, when the log
        // still holds all of them; else a reset and a fresh snapshot.
        let replay: Option<Vec<Arc<Change>>> = w
            .last_id
            .and_then(|last| self.log.since(last, applied))
            .map(|it| it.cloned().collect());
        let mut state = Streaming {
            stream: id,
            last_id: w.last_id.unwrap_or(0),
            snapshot: None,
        };
        match replay {
            Some(changes) => {
                let now_ms = crate::msg::now_ms();
                for change in &changes {
                    let event = self
                        .index
                        .replay_event(id, change, &self.auth_state, now_ms);
                    if let Some(bytes) = event {
                        self.conns[key].out.push(&bytes);
                        state.last_id = change.seq;
                    }
                }
                if state.last_id < applied {
                    // Nothing of ours changed since: the id moves on anyway.
                    self.conns[key].out.push(&framing::id_only(applied));
                    state.last_id = applied;
                }
            }
            None => {
                if w.last_id.is_some() {
                    self.conns[key].out.push(framing::RESET);
                }
                state.snapshot = Some(self.index.keys_in(&scope));
                state.last_id = applied;
            }
        }
        self.conns[key].state = State::Streaming(Box::new(state));
        Metrics::inc(&self.metrics.streams_opened);
        let t = self.now_tick + self.ticks(self.settings.watch_heartbeat_ms);
        self.set_deadline(key, t);
        self.flush(key);
        self.pump_snapshot(key);
    }

    /// Adds snapshot events while the output is short; the last one is
    /// followed by the `id:` the stream resumes from.
    pub(super) fn refill_snapshot(&mut self, key: usize) {
        loop {
            let Some(c) = self.conns.get_mut(key) else {
                return;
            };
            let State::Streaming(s) = &mut c.state else {
                return;
            };
            if c.out.pending() >= SNAPSHOT_REFILL_BYTES {
                return;
            }
            let Some(keys) = &mut s.snapshot else {
                return;
            };
            let Some(gk) = keys.pop() else {
                s.snapshot = None;
                c.out.push(&framing::id_only(s.last_id));
                return;
            };
            if let Some(bytes) = self.index.snapshot_event(s.stream, &gk, &self.auth_state) {
                c.out.push(&bytes);
            }
        }
    }

    /// Queues one event on a stream's connection; a stream whose unsent
    /// bytes pass the bound is closed (its client resumes from its last id).
    pub(super) fn send_event(&mut self, stream: SubId, key: usize, bytes: &Arc<[u8]>, seq: u64) {
        let max = self.settings.watch_max_unsent_bytes;
        let heartbeat = self.ticks(self.settings.watch_heartbeat_ms);
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        let State::Streaming(s) = &mut c.state else {
            return;
        };
        debug_assert_eq!(s.stream, stream, "connection {key} streams {}", s.stream);
        s.last_id = seq;
        c.out.push_bytes(bytes);
        // An event is as good as a heartbeat: the next one is due a full
        // interval later (the armed timer fires, sees this, and re-arms).
        c.deadline_tick = self.now_tick + heartbeat;
        Metrics::inc(&self.metrics.stream_events);
        if c.out.pending() > max {
            log::debug!("{}: watch stream too far behind, closing", c.peer);
            Metrics::inc(&self.metrics.streams_lagging);
            self.close(key);
            return;
        }
        self.flush(key);
    }

    /// A comment line keeps an idle stream open through proxies.
    pub(super) fn heartbeat(&mut self, key: usize) {
        if let Some(c) = self.conns.get_mut(key) {
            c.out.push(framing::HEARTBEAT);
        }
        let t = self.now_tick + self.ticks(self.settings.watch_heartbeat_ms);
        self.set_deadline(key, t);
        self.flush(key);
    }
}
