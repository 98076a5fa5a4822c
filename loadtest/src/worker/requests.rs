//! A worker's requests and what it makes of the replies: which request a
//! connection sends next given its role, and how listener replies, GETs after
//! a wake-up, benchmark GETs and publishes are checked and counted.

use super::{TimerKind, Worker, ERROR_BACKOFF_NS};
use crate::conn::{Phase, Role};
use crate::http::Response;
use crate::msg::Event;
use crate::proto::{self, KeyId, KeyKind, Md5Digest};
use mio::Poll;

impl Worker {
    /// Starts writing `conn.out` as the request of `phase`.
    pub(super) fn send(&mut self, poll: &Poll, i: usize, phase: Phase, now: u64) {
        let conn = &mut self.conns[i];
        conn.phase = phase;
        conn.sent_ns = now;
        conn.seq = conn.seq.wrapping_add(1);
        let timeout_ms = match phase {
            Phase::Listen => self.plan.poll_timeout_ms.max(10_000) * 3 / 2,
            _ => self.plan.request_timeout_ms,
        };
        self.arm(now + timeout_ms * 1_000_000, i, TimerKind::Timeout);
        if let Err(e) = self.conns[i].flush() {
            self.fail(poll, i, now, format!("write: {e}"));
        }
    }

    /// Issues whatever connection `i` should do next, given its role.
    pub(super) fn next_request(&mut self, poll: &Poll, i: usize, now: u64) {
        if self.stopping || self.conns[i].stream.is_none() {
            return;
        }
        match self.conns[i].role {
            Role::Listener { .. } if self.plan.sse => self.open_stream(poll, i, now),
            Role::Listener { .. } if self.plan.grpc => self.open_grpc(poll, i, now),
            Role::Listener { local } => {
                if let Some((key, _)) = self.conns[i].fetch_queue.first().copied() {
                    self.counters.gets_after_wake += 1;
                    let host = &self.hosts[self.server_of(i)];
                    proto::get_request(host, &self.space, key, &mut self.conns[i].out);
                    self.send(poll, i, Phase::Fetch(key), now);
                } else {
                    let keys: Vec<(KeyId, Option<Md5Digest>)> = self
                        .plan
                        .keys
                        .keys_of(self.plan.listener_first + local)
                        .into_iter()
                        .zip(self.conns[i].md5s.iter().copied())
                        .collect();
                    self.counters.polls += 1;
                    proto::listen_request(
                        &self.hosts[self.server_of(i)],
                        &self.space,
                        &keys,
                        self.plan.poll_timeout_ms,
                        &mut self.conns[i].out,
                    );
                    self.send(poll, i, Phase::Listen, now);
                }
            }
            Role::Getter => {
                self.conns[i].phase = Phase::Idle;
                if self.running {
                    let key = KeyId::new(
                        KeyKind::Get,
                        (self.random() % u64::from(self.plan.get_keys.max(1))) as u32,
                    );
                    let host = &self.hosts[self.server_of(i)];
                    proto::get_request(host, &self.space, key, &mut self.conns[i].out);
                    self.send(poll, i, Phase::Get, now);
                }
            }
            Role::Publisher { local } => {
                self.conns[i].phase = Phase::Idle;
                if !self.running {
                    return;
                }
                if self.plan.publish_rate > 0.0 {
                    let interval_ns =
                        (f64::from(self.plan.publishers) / self.plan.publish_rate * 1e9) as u64;
                    let slot = &mut self.pace_next_ns[local as usize];
                    if *slot > now {
                        let at = *slot;
                        self.arm(at, i, TimerKind::Next);
                        return;
                    }
                    // Behind schedule: skip missed slots rather than bursting.
                    *slot = (*slot + interval_ns).max(now);
                }
                self.publish(poll, i, local, now);
            }
        }
    }

    fn publish(&mut self, poll: &Poll, i: usize, local: u32, now: u64) {
        let key = if self.plan.publish_to_listeners {
            // Each listener key has exactly one publisher (listener j belongs to
            // publisher j % publishers), so publishes of one key are ordered.
            let stride = self.plan.publishers.max(1);
            let owned = u64::from(self.plan.listeners.saturating_sub(local).div_ceil(stride));
            if owned == 0 {
                return;
            }
            let listener = local + (self.random() % owned) as u32 * stride;
            KeyId::new(
                KeyKind::Own,
                (self.plan.listener_first + listener) * self.plan.keys.own_keys,
            )
        } else {
            KeyId::new(KeyKind::Pub, self.plan.publisher_first + local)
        };
        self.publish_seq += 1;
        let content = proto::timestamped_content(self.publish_seq, now, self.plan.content_bytes);
        let md5 = proto::md5_of(content.as_bytes());
        self.published.insert(key);
        proto::publish_request(
            &self.hosts[self.server_of(i)],
            &self.space,
            key,
            &content,
            &mut self.conns[i].out,
        );
        self.send(poll, i, Phase::Publish(key, md5), now);
    }

    /// Slot of `key` in listener `local`'s `md5s`, if it listens to it.
    pub(super) fn slot_of(&self, local: u32, key: KeyId) -> Option<usize> {
        self.plan
            .keys
            .slot_of(self.plan.listener_first + local, key)
    }

    /// Handles one response; `false` if the connection was closed meanwhile.
    pub(super) fn on_response(&mut self, poll: &Poll, i: usize, now: u64, resp: Response) -> bool {
        let phase = self.conns[i].phase;
        let started = self.conns[i].sent_ns;
        let mut backoff = false;
        match (phase, self.conns[i].role) {
            (Phase::Listen, Role::Listener { local }) => {
                backoff = !self.on_listen_reply(local, i, now, &resp)
            }
            (Phase::Fetch(key), Role::Listener { local }) => {
                let floor = self.conns[i]
                    .fetch_queue
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map_or(0, |(_, v)| *v);
                self.conns[i].fetch_queue.retain(|(k, _)| *k != key);
                backoff = !self.on_fetch_reply(local, i, key, floor, &resp);
            }
            (Phase::Get, _) => match resp.status {
                200 => {
                    self.counters.get_ok += 1;
                    self.get_hist.record_between_ns(started, now);
                }
                404 => {
                    self.counters.get_not_found += 1;
                    self.get_hist.record_between_ns(started, now);
                }
                s => {
                    self.counters.http_errors += 1;
                    self.sample_error(format!("GET answered {s}"));
                }
            },
            (Phase::Publish(key, md5), Role::Publisher { .. }) => {
                if resp.status == 200 && resp.body == b"true" {
                    self.counters.publish_ok += 1;
                    self.publish_hist.record_between_ns(started, now);
                    if self.plan.publish_to_listeners && self.plan.keys.own_keys > 0 {
                        let local = key.idx / self.plan.keys.own_keys - self.plan.listener_first;
                        self.last_acked.insert(local, md5);
                    }
                } else {
                    self.counters.publish_errors += 1;
                    let body = preview(&resp.body);
                    self.sample_error(format!("publish answered {} {body:?}", resp.status));
                    backoff = true;
                }
            }
            _ => {
                self.counters.protocol_errors += 1;
                self.fail(
                    poll,
                    i,
                    now,
                    format!("unsolicited response {}", resp.status),
                );
                return false;
            }
        }
        self.conns[i].phase = Phase::Idle;
        self.conns[i].seq = self.conns[i].seq.wrapping_add(1);
        if resp.close {
            self.counters.server_closes += 1;
            self.close(poll, i, now, 0);
            return false;
        }
        if backoff {
            self.arm(now + ERROR_BACKOFF_NS, i, TimerKind::Next);
        } else {
            self.next_request(poll, i, now);
        }
        true
    }

    /// A listener reply; `false` asks for a back-off before re-polling.
    fn on_listen_reply(&mut self, local: u32, i: usize, now: u64, resp: &Response) -> bool {
        if resp.status != 200 {
            self.counters.http_errors += 1;
            let body = preview(&resp.body);
            self.sample_error(format!("listener answered {} {body:?}", resp.status));
            return false;
        }
        let changed = match proto::parse_listener_reply(&resp.body) {
            Ok(c) => c,
            Err(e) => {
                self.counters.protocol_errors += 1;
                self.sample_error(format!("listener reply: {e}"));
                return false;
            }
        };
        if changed.is_empty() {
            self.counters.hold_expiries += 1;
            return true;
        }
        self.conns[i].wake_ns = now;
        let global = self.plan.listener_first + local;
        for c in changed {
            let key = self.space.key_of(&c.data_id, &c.group);
            let slot = key.and_then(|k| self.slot_of(local, k));
            let (Some(key), Some(slot), None) = (key, slot, c.tenant.as_ref()) else {
                self.counters.foreign_keys += 1;
                self.sample_error(format!(
                    "listener {global} told of a key it does not listen to: {c:?}"
                ));
                continue;
            };
            self.counters.wakes += 1;
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
                let content =
                    proto::versioned_content(&self.space, key, *v, self.plan.content_bytes);
                self.conns[i].md5s[slot] = Some(proto::md5_of(content.as_bytes()));
            }
        }
        true
    }

    /// A GET after a wake-up; `false` asks for a back-off before re-polling.
    pub(super) fn on_fetch_reply(
        &mut self,
        local: u32,
        i: usize,
        key: KeyId,
        floor: u64,
        resp: &Response,
    ) -> bool {
        let Some(slot) = self.slot_of(local, key) else {
            return true;
        };
        let md5 = match resp.status {
            200 => Some(proto::md5_of(&resp.body)),
            404 => None,
            s => {
                self.counters.http_errors += 1;
                self.sample_error(format!("GET after wake-up answered {s}"));
                return false;
            }
        };
        if let (Some(header), Some(body)) = (&resp.content_md5, md5) {
            if !header.eq_ignore_ascii_case(&proto::md5_hex(&body)) {
                self.counters.protocol_errors += 1;
                self.sample_error(format!(
                    "GET {} after wake-up: Content-MD5 {header} is not the body's md5",
                    key.to_token()
                ));
            }
        }
        if let Some(v) = self.versions.get(&key).copied() {
            // Any version from the one announced at wake-up time to the
            // newest is fresh: a later publish may land before the GET.
            let fresh = (floor.min(v)..=v).any(|n| {
                let c = proto::versioned_content(&self.space, key, n, self.plan.content_bytes);
                md5 == Some(proto::md5_of(c.as_bytes()))
            });
            if !fresh {
                self.counters.stale_reads += 1;
                let got = match resp.status {
                    200 => String::from_utf8_lossy(
                        resp.body.split(|b| *b == b'\n').next().unwrap_or(b""),
                    )
                    .into_owned(),
                    s => format!("status {s}"),
                };
                self.sample_error(format!(
                    "GET {} after wake-up is not version {v}: got {got:?}",
                    key.to_token()
                ));
            }
        }
        if self.plan.publish_to_listeners {
            if let Some(t) = proto::content_timestamp(&resp.body) {
                let wake = self.conns[i].wake_ns;
                // A later publish may already have replaced the content; only
                // a timestamp before the wake-up belongs to it.
                if t <= wake {
                    self.wake_hist.record_between_ns(t, wake);
                }
            }
        }
        self.conns[i].md5s[slot] = md5;
        true
    }
}

/// The start of a body, as text for an error sample.
fn preview(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(120).collect()
}
