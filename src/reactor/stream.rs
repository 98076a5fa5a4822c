//! Watch streams on a connection: open (snapshot or resume), deliver each
//! change's event, heartbeat, and close a stream that cannot keep up.
//!
//! An event for the audience that sees the formal config is built once per
//! change and shared by every stream it goes to; only streams that see a
//! beta or tag variant get bytes of their own.

use super::conn::{State, Streaming};
use super::Reactor;
use crate::api::Watch;
use crate::auth::{self, Access};
use crate::metrics::Metrics;
use crate::model::{Change, Entry};
use crate::protocol::parse_group_key;
use crate::streams::{event_bytes, visible, EventOf, StreamId};
use std::sync::Arc;

/// The reconnect delay suggested to clients.
const RETRY_MS: u64 = 3_000;
/// Snapshot events are added while the unsent output is below this.
const SNAPSHOT_REFILL_BYTES: usize = 64 * 1024;

/// The stream's response head: no length (the body is the stream, ended by
/// closing the connection), no caching or proxy buffering, and readable
/// from pages of any origin (credentials, when auth is on, travel in the
/// `accessToken` parameter, never in cookies).
const STREAM_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream;charset=UTF-8\r\nCache-Control: no-cache,no-store\r\nX-Accel-Buffering: no\r\nAccess-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n";

impl Reactor {
    /// Turns connection `key` into a stream: the response head, a `retry:`
    /// hint, then the missed changes (resume) or a snapshot.
    pub(super) fn open_stream(&mut self, key: usize, w: Watch) {
        let applied = self.applied_seq;
        let id = self.index.streams.open(
            key as u32,
            w.requester.into(),
            w.vip_tag.map(Into::into),
            w.user.map(Into::into),
            w.content,
            w.scope,
        );
        let c = &mut self.conns[key];
        c.out.push(STREAM_HEAD);
        c.out.push(format!("retry: {RETRY_MS}\n\n").as_bytes());
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
                for change in &changes {
                    if let Some(bytes) = self.event_for(id, change, None) {
                        self.conns[key].out.push(&bytes);
                        state.last_id = change.seq;
                    }
                }
                if state.last_id < applied {
                    // Nothing of ours changed since: the id moves on anyway.
                    self.conns[key]
                        .out
                        .push(format!("id: {applied}\n\n").as_bytes());
                    state.last_id = applied;
                }
            }
            None => {
                if w.last_id.is_some() {
                    self.conns[key].out.push(b"event: reset\ndata: {}\n\n");
                }
                state.snapshot = Some(
                    self.index
                        .streams
                        .get(id)
                        .map(|s| self.index.keys_in(&s.scope))
                        .unwrap_or_default(),
                );
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
                let id = s.last_id;
                c.out.push(format!("id: {id}\n\n").as_bytes());
                return;
            };
            let stream = s.stream;
            // The current entry, not the one at connect: a change sent
            // meanwhile must not be followed by older content.
            let entry = self.index.entry_of(&gk).map(Arc::as_ref);
            let bytes = self.snapshot_event(stream, &gk, entry);
            if let (Some(bytes), Some(c)) = (bytes, self.conns.get_mut(key)) {
                c.out.push(&bytes);
            }
        }
    }

    fn snapshot_event(&self, stream: StreamId, gk: &str, entry: Option<&Entry>) -> Option<Vec<u8>> {
        let s = self.index.streams.get(stream)?;
        let (data_id, group, tenant) = parse_group_key(gk)?;
        if !self.may_read(s.user.as_deref(), &data_id, &group, &tenant) {
            return None;
        }
        let config = visible(entry, &s.requester, s.vip_tag.as_deref())?;
        let ev = EventOf {
            data_id: &data_id,
            group: &group,
            tenant: &tenant,
            config: Some(config),
            now_ms: 0,
        };
        Some(event_bytes(ev, None, s.content))
    }

    fn may_read(&self, user: Option<&str>, data_id: &str, group: &str, tenant: &str) -> bool {
        let Some(user) = user else { return true };
        let resource = auth::config_resource(tenant, Some(group), Some(data_id));
        self.auth_state.allows(user, &resource, Access::Read)
    }

    /// The event a stream gets for a change (with its id), or `None` when
    /// what it sees did not change or it may not read the config. `before`
    /// is the entry before the change when known (live delivery); a replay
    /// from the log sends every change in scope.
    fn event_for(
        &self,
        stream: StreamId,
        change: &Change,
        before: Option<Option<&Entry>>,
    ) -> Option<Vec<u8>> {
        let s = self.index.streams.get(stream)?;
        let (data_id, group, tenant) = parse_group_key(&change.group_key)?;
        if !s.scope.contains(&data_id, &group, &tenant)
            || !self.may_read(s.user.as_deref(), &data_id, &group, &tenant)
        {
            return None;
        }
        let now = visible(change.entry.as_deref(), &s.requester, s.vip_tag.as_deref());
        if let Some(before) = before {
            let was = visible(before, &s.requester, s.vip_tag.as_deref());
            if was.map(|c| &c.md5) == now.map(|c| &c.md5) {
                return None;
            }
        }
        let ev = EventOf {
            data_id: &data_id,
            group: &group,
            tenant: &tenant,
            config: now,
            now_ms: crate::msg::now_ms(),
        };
        Some(event_bytes(ev, Some(change.seq), s.content))
    }

    /// Sends each change to the streams watching its key, group or
    /// namespace. `before` is the key's entry before the change.
    pub(super) fn deliver(&mut self, change: &Change, before: Option<&Entry>) {
        let audience = self.index.streams.audience(&change.group_key);
        if audience.is_empty() {
            return;
        }
        let plain = |e: Option<&Entry>| e.is_none_or(|e| e.beta.is_none() && e.tags.is_empty());
        // With no variants before or after, every stream sees the formal
        // config: one event (two with content) for all of them.
        let shared = plain(before) && plain(change.entry.as_deref());
        let mut built: [Option<Option<Arc<[u8]>>>; 2] = [None, None];
        for id in audience {
            let Some(s) = self.index.streams.get(id) else {
                continue;
            };
            let (conn, content) = (s.conn as usize, s.content);
            let bytes = if shared && s.user.is_none() {
                let slot = &mut built[content as usize];
                if slot.is_none() {
                    *slot = Some(self.event_for(id, change, Some(before)).map(Arc::from));
                }
                slot.clone().flatten()
            } else {
                self.event_for(id, change, Some(before)).map(Arc::from)
            };
            let Some(bytes) = bytes else {
                continue;
            };
            self.send_event(conn, &bytes, change.seq);
        }
    }

    /// Queues one event on a stream's connection; a stream whose unsent
    /// bytes pass the bound is closed (its client resumes from its last id).
    fn send_event(&mut self, key: usize, bytes: &Arc<[u8]>, seq: u64) {
        let max = self.settings.watch_max_unsent_bytes;
        let heartbeat = self.ticks(self.settings.watch_heartbeat_ms);
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        let State::Streaming(s) = &mut c.state else {
            return;
        };
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
            c.out.push(b":\n\n");
        }
        let t = self.now_tick + self.ticks(self.settings.watch_heartbeat_ms);
        self.set_deadline(key, t);
        self.flush(key);
    }
}
