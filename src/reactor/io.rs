//! Socket reads and writes, with the two memory bounds: a connection whose
//! unsent output is above [`OUT_HIGH_WATER_BYTES`] is not read (its next
//! request waits until the client reads), and request bytes buffered over all
//! connections share one budget (`--max-buffered-bytes`).

use super::conn::State;
use super::{Reactor, SMALL_REQUEST_BYTES};
use crate::api::refusal;
use crate::metrics::Rejection;
use crate::settings::OUT_HIGH_WATER_BYTES;
use std::io::{self, Read};
use std::sync::atomic::Ordering;

impl Reactor {
    /// Reads what the socket has. Edge-triggered readiness needs reading
    /// until `WouldBlock`, except that a short read already proves the
    /// buffer empty (new data raises a new edge), which saves a syscall per
    /// request; `to_eof` forces the full drain when the peer may have
    /// hung up, whose EOF raises no further edge.
    pub(super) fn on_readable(&mut self, key: usize, to_eof: bool) {
        let max_buffer = self.limits.max_request_line_bytes
            + self.limits.max_header_bytes
            + self.limits.max_body_bytes
            + 4;
        let was_handshaking = self.conns.get(key).is_some_and(|c| c.stream.handshaking());
        loop {
            let Some(c) = self.conns.get_mut(key) else {
                return;
            };
            if c.read_closed {
                break;
            }
            // Backpressure: a client that does not read its responses does
            // not get more requests served (and buffered) meanwhile.
            if c.out.pending() > OUT_HIGH_WATER_BYTES || c.inbuf.len() > max_buffer {
                break;
            }
            match c.stream.read(&mut self.scratch) {
                Ok(0) => {
                    c.read_closed = true;
                    break;
                }
                Ok(n) => {
                    // Large requests share one memory budget: past it, the
                    // connection growing its buffer is refused, and small
                    // requests are still served.
                    // (This connection's bytes read in this loop are not
                    // counted yet.)
                    let total = self.metrics.buffered_bytes.load(Ordering::Relaxed)
                        - c.buffered as u64
                        + c.inbuf.len() as u64;
                    if c.inbuf.len() + n > SMALL_REQUEST_BYTES
                        && total + n as u64 > self.settings.max_buffered_bytes
                    {
                        log::warn!("request buffers full ({total} bytes): refusing {}", c.peer);
                        self.metrics.reject(Rejection::Overloaded);
                        c.reply(&refusal::out_of_buffer_space(), true);
                        c.inbuf = Vec::new();
                        self.account(key);
                        self.flush(key);
                        return;
                    }
                    if let State::Streaming(_) = c.state {
                        // A stream answers nothing more: what the client
                        // sends is read (to see its EOF) and dropped.
                        continue;
                    }
                    c.inbuf.extend_from_slice(&self.scratch[..n]);
                    if n < self.scratch.len() && !to_eof && c.stream.short_read_drains() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::debug!("read from {}: {e}", c.peer);
                    if e.kind() == io::ErrorKind::InvalidData {
                        // A refused TLS handshake (or a broken record).
                        self.metrics.reject(Rejection::Tls);
                    }
                    self.close(key);
                    return;
                }
            }
        }
        self.account(key);
        let Some(c) = self.conns.get(key) else { return };
        if was_handshaking && !c.stream.handshaking() && c.state.is_reading() {
            // The handshake's deadline (the request timeout) gives way to
            // the idle one.
            let idle = self.now_tick + self.ticks(self.settings.idle_timeout_ms);
            self.set_deadline(key, idle);
        }
        let Some(c) = self.conns.get(key) else { return };
        if c.stream.handshaking() {
            // No plaintext yet: nothing to parse, and the handshake's
            // deadline stands.
            if c.read_closed {
                self.close(key);
            }
            return;
        }
        if c.read_closed {
            match c.state {
                // A client that hangs up while parked or streaming is
                // unlinked at once.
                State::Parked { .. } | State::Streaming(_) | State::Grpc(_) => {
                    log::debug!("{} closed a parked poll", c.peer);
                    self.close(key);
                    return;
                }
                State::Reading { .. } if c.inbuf.is_empty() && c.out.is_empty() => {
                    self.close(key);
                    return;
                }
                _ => {}
            }
        }
        self.process(key);
    }

    pub(super) fn on_writable(&mut self, key: usize) {
        let Some(c) = self.conns.get(key) else { return };
        if c.out.is_empty() && !c.stream.wants_write() {
            return;
        }
        let was_blocked = c.out.pending() > OUT_HIGH_WATER_BYTES;
        self.flush(key);
        self.pump_snapshot(key);
        // Reading paused for backpressure resumes once output drains.
        if was_blocked
            && self
                .conns
                .get(key)
                .is_some_and(|c| c.out.pending() <= OUT_HIGH_WATER_BYTES)
        {
            self.on_readable(key, true);
        }
    }

    /// Sends a stream's snapshot while the socket takes it: refill, write,
    /// until the snapshot is done or the socket is full (then the next
    /// writable event goes on).
    pub(super) fn pump_snapshot(&mut self, key: usize) {
        loop {
            let Some(c) = self.conns.get(key) else { return };
            let State::Streaming(s) = &c.state else {
                return;
            };
            if s.snapshot.is_none() || !c.out.is_empty() {
                return;
            }
            self.refill_snapshot(key);
            self.flush(key);
        }
    }

    /// Writes pending output until done or `WouldBlock`.
    pub(super) fn flush(&mut self, key: usize) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        let written = match c.out.write_to(&mut c.stream).and_then(|n| {
            // Ciphertext the session still holds (TLS) goes too.
            c.stream.push()?;
            Ok(n)
        }) {
            Ok(n) => n,
            Err(e) => {
                log::debug!("write to {}: {e}", c.peer);
                self.close(key);
                return;
            }
        };
        if c.out.is_empty() && !c.stream.wants_write() {
            if c.closing && !matches!(c.state, State::Awaiting { .. }) {
                self.close(key);
            } else if let State::Grpc(_) = c.state {
                // A lingering close's next step (`grpc.rs`).
                self.grpc_flushed(key);
            }
        } else if written > 0 && c.state.is_reading() {
            // A slow reader that makes progress keeps its connection.
            let idle = self.now_tick + self.ticks(self.settings.idle_timeout_ms);
            self.set_deadline(key, idle);
        }
    }

    /// Brings the process-wide total of buffered request bytes up to date
    /// with this connection's input buffer.
    pub(super) fn account(&mut self, key: usize) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        let now = c.inbuf.len();
        if now > c.buffered {
            self.metrics
                .buffered_bytes
                .fetch_add((now - c.buffered) as u64, Ordering::Relaxed);
        } else {
            self.metrics
                .buffered_bytes
                .fetch_sub((c.buffered - now) as u64, Ordering::Relaxed);
        }
        c.buffered = now;
    }
}
