//! A worker's watch streams (`--sse`): each listener holds one
//! `GET /nacos/v1/cs/configs/watch` response open and reads its events
//! instead of long-polling. A `change` or `delete` event of one of its keys
//! is a wake-up (the same `Wake` event a poll reply gives, so every scenario
//! judges both alike); its md5 must be that of an announced version. A
//! stream that ends is reopened after a pause with `Last-Event-ID`, so the
//! server can replay what was missed.

use super::{Worker, ERROR_BACKOFF_NS};
use crate::conn::{Phase, Watch};
use crate::http::parse_head;
use crate::msg::Event;
use crate::proto::{self, GROUP};
use crate::sse::{Change, SseEvent, WatchScope};
use mio::Poll;

impl Worker {
    /// Sends the watch request of listener connection `i`.
    pub(super) fn open_stream(&mut self, poll: &Poll, i: usize, now: u64) {
        let global = self.global_index(i) as u32;
        let (group, data_ids): (Option<&str>, Vec<String>) = match self.plan.watch {
            WatchScope::Keys => (
                Some(GROUP),
                self.plan
                    .keys
                    .keys_of(global)
                    .into_iter()
                    .map(|k| self.space.data_id(k))
                    .collect(),
            ),
            WatchScope::Group => (Some(GROUP), Vec::new()),
            WatchScope::Namespace => (None, Vec::new()),
        };
        let host = self.hosts[self.server_of(i)].clone();
        let conn = &mut self.conns[i];
        let watch = conn.watch.get_or_insert_with(Box::default);
        // A fresh stream, resuming after the last event of the previous one.
        let last = watch.parser.last_id().map(str::to_string);
        **watch = Watch::default();
        if let Some(id) = &last {
            watch
                .parser
                .feed(format!("id: {id}\n").as_bytes(), &mut Vec::new())
                .ok();
        }
        crate::sse::watch_request(&host, group, &data_ids, last.as_deref(), &mut conn.out);
        self.send(poll, i, Phase::Stream, now);
    }

    /// Bytes arrived on a stream (or it ended, `closed`).
    pub(super) fn on_stream_bytes(&mut self, poll: &Poll, i: usize, now: u64, closed: bool) {
        let conn = &mut self.conns[i];
        let Some(watch) = conn.watch.as_mut() else {
            return;
        };
        if !watch.open {
            match parse_head(&conn.inbuf) {
                Ok(None) if !closed => return,
                Ok(None) => {
                    self.fail(poll, i, now, "stream closed before its head".into());
                    return;
                }
                Ok(Some(head)) if head.status != 200 => {
                    self.counters.http_errors += 1;
                    let what = format!("watch answered {}", head.status);
                    self.sample_error(what);
                    self.close(poll, i, now, ERROR_BACKOFF_NS);
                    return;
                }
                Ok(Some(head)) => {
                    watch.open = true;
                    watch.chunked = head.chunked;
                    conn.inbuf.drain(..head.len);
                    // The stream stays open: its request timeout no longer applies.
                    conn.seq = conn.seq.wrapping_add(1);
                    self.counters.streams_opened += 1;
                }
                Err(e) => {
                    self.counters.protocol_errors += 1;
                    self.fail(poll, i, now, format!("bad watch response: {e}"));
                    return;
                }
            }
        }
        let conn = &mut self.conns[i];
        let Some(watch) = conn.watch.as_mut() else {
            return;
        };
        let raw = std::mem::take(&mut conn.inbuf);
        let mut body = Vec::new();
        let decoded = if watch.chunked {
            watch.dechunk.feed(&raw, &mut body)
        } else {
            body = raw;
            Ok(())
        };
        let mut events = Vec::new();
        let parsed = decoded.and_then(|()| watch.parser.feed(&body, &mut events));
        let ended = closed || watch.dechunk.finished();
        for ev in events {
            self.on_stream_event(i, now, ev);
        }
        if let Err(e) = parsed {
            self.counters.protocol_errors += 1;
            self.fail(poll, i, now, format!("watch stream: {e}"));
        } else if ended {
            self.fail(poll, i, now, "the server ended a watch stream".into());
        }
    }

    fn on_stream_event(&mut self, i: usize, now: u64, ev: SseEvent) {
        match ev.event.as_str() {
            "change" | "delete" => {}
            "reset" => {
                self.counters.stream_resets += 1;
                return;
            }
            _ => return,
        }
        let global = self.global_index(i) as u32;
        let change = Change::parse(&ev.data);
        let key = change
            .as_ref()
            .and_then(|c| self.space.key_of(&c.data_id, &c.group).map(|k| (k, c)));
        let wide = self.plan.watch != WatchScope::Keys;
        let Some((key, change)) = key else {
            if wide && change.is_some() {
                // Another config of the group or namespace: not ours to judge.
                self.counters.other_events += 1;
                return;
            }
            self.counters.bad_events += 1;
            self.sample_error(format!("watch event of no key of this run: {:?}", ev.data));
            return;
        };
        let slot = self.plan.keys.slot_of(global, key);
        if wide && slot.is_none() {
            self.counters.other_events += 1;
            return;
        }
        if slot.is_none() || !change.tenant.is_empty() {
            self.counters.foreign_keys += 1;
            self.sample_error(format!(
                "watcher {global} told of a key it does not watch: {change:?}"
            ));
            return;
        }
        self.counters.wakes += 1;
        self.pending.push(Event::Wake {
            conn: global,
            key,
            t_ns: now,
        });
        if let Some(v) = self.versions.get(&key).copied() {
            let size = self.plan.content_bytes;
            let known = (1..=v).any(|n| {
                let c = proto::versioned_content(&self.space, key, n, size);
                proto::md5_hex(&proto::md5_of(c.as_bytes())) == change.md5
            });
            if ev.event == "change" && !known {
                self.counters.stale_reads += 1;
                self.sample_error(format!(
                    "watch event of {} with an unknown md5 {}",
                    key.to_token(),
                    change.md5
                ));
            }
        }
    }
}
