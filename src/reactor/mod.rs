//! The event loop: one per thread, each with its own `SO_REUSEPORT` listener,
//! connections, cache copy, inverted index and timer wheel.
//!
//! One iteration: poll (sleeping until the nearest timer, or for good when
//! none is armed); read the clock once; drain the inbox (committed changes
//! wake subscribers, acknowledgements answer publishers) *before* touching
//! any socket, so a request that arrives after some client heard `true`
//! always sees that change; handle socket events; expire timers. After the
//! drain, after the events and after the timers, the connections posted
//! meanwhile (answered, woken) are served.
//!
//! mio is edge-triggered: every read and write loops until `WouldBlock`, and
//! spurious events are harmless. Connections are registered once for both
//! readable and writable; output is written as soon as it is produced and
//! only a short write leaves bytes for the next writable event.
//!
//! Rooms: `conn` (a connection's state and output queue), `accept`
//! (accepting and shedding), `io` (reads, writes, memory bounds), `inbox`
//! (changes, answers and wake-ups), `requests` (HTTP/1 parsing and the
//! dispatch of each request's [`crate::api::Action`]), `stream` (watch
//! streams), `grpc` (the gRPC door), `tls` (the TLS session between the
//! socket and the parsers). This file is the loop, timers and the drain.
//!
//! Invariants: only this module names `mio`; the reactor never touches the
//! disk (writes go to the writer thread); a parked connection holds no
//! buffers; every deferred reference to a connection (writer
//! acknowledgement) carries its generation and stale ones are dropped; the
//! wheel holds at most one timer per connection.

mod accept;
mod conn;
mod grpc;
mod inbox;
mod io;
mod requests;
mod stream;
mod tls;

pub use accept::bind_listener;

use crate::api::{refusal, Rendering};
use crate::auth::{AuthKeys, AuthState};
use crate::http;
use crate::index::{ChangeLog, FanOut, Index};
use crate::metrics::{Metrics, Rejection};
use crate::model::Entry;
use crate::msg::QueryRequest;
use crate::msg::{Published, ReactorLink, ToReactor, WriteRequest};
use crate::settings::Settings;
use crate::wheel::Wheel;
use conn::{Conn, State, Wait};
use crossbeam_channel::{Receiver, Sender};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Milliseconds per wheel tick.
pub const TICK_MS: u64 = 10;
const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);
const GRPC_LISTENER: Token = Token(usize::MAX - 3);
/// Bytes read from a socket per `read` call.
const READ_CHUNK: usize = 64 * 1024;
/// A connection may always buffer this much, whatever the global budget.
const SMALL_REQUEST_BYTES: usize = 64 * 1024;
/// How long a graceful stop waits for in-flight work.
const DRAIN_MS: u64 = 10_000;

/// One event loop.
pub struct Reactor {
    id: usize,
    poll: Poll,
    listener: Option<TcpListener>,
    /// The gRPC port's listener (`None`: the gRPC door is off).
    grpc_listener: Option<TcpListener>,
    h2_limits: crate::h2::Limits,
    conns: Slab<Conn>,
    index: Index,
    wheel: Wheel,
    inbox: Receiver<ToReactor>,
    writer: Sender<WriteRequest>,
    reader: Sender<QueryRequest>,
    /// The last change queued in every reactor's inbox.
    published: Arc<Published>,
    /// The last change this reactor applied.
    applied_seq: u64,
    /// Recent changes, for resuming watch streams.
    log: ChangeLog,
    /// Connections to serve after the current drain or event (with their
    /// generation: a slot may be reused meanwhile).
    posted: Vec<(usize, u32)>,
    /// Scratch for one change's fan-out.
    fan_out: FanOut,
    /// Token keys when auth is on.
    auth_keys: Option<Arc<AuthKeys>>,
    auth_state: Arc<AuthState>,
    /// Verdicts on (user, password) pairs, keyed by an HMAC of the pair.
    credentials: HashMap<[u8; 32], bool>,
    /// Every reactor's inbox (this one's included), for listener queries.
    peers: Vec<ReactorLink>,
    settings: Arc<Settings>,
    limits: http::Limits,
    max_conns: usize,
    metrics: Arc<Metrics>,
    start: Instant,
    now_tick: u64,
    next_generation: u32,
    /// Held open so that, out of descriptors, one can be freed to accept
    /// and shed a connection instead of leaving it hanging.
    reserve_fd: Option<std::fs::File>,
    accept_paused_until: Option<u64>,
    drain_deadline: Option<u64>,
    scratch: Vec<u8>,
    /// TLS configurations for new connections (`None`: plain).
    tls: Option<Arc<crate::tls::TlsSlot>>,
}

impl Reactor {
    /// Builds a reactor around a bound listener and its cache copy; returns
    /// it with the waker the writer uses to rouse it.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: usize,
        listener: std::net::TcpListener,
        grpc_listener: Option<std::net::TcpListener>,
        entries: &[(String, Arc<Entry>)],
        inbox: Receiver<ToReactor>,
        writer: Sender<WriteRequest>,
        reader: Sender<QueryRequest>,
        settings: Arc<Settings>,
        max_conns: usize,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<(Reactor, Arc<Waker>)> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let mut listener = TcpListener::from_std(listener);
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let grpc_listener = match grpc_listener {
            Some(l) => {
                let mut l = TcpListener::from_std(l);
                poll.registry()
                    .register(&mut l, GRPC_LISTENER, Interest::READABLE)?;
                Some(l)
            }
            None => None,
        };
        let mut index = Index::new();
        for (group_key, entry) in entries {
            index.load(group_key, entry.clone());
        }
        let limits = settings.http_limits();
        Ok((
            Reactor {
                id,
                poll,
                listener: Some(listener),
                grpc_listener,
                h2_limits: crate::h2::Limits::default(),
                conns: Slab::new(),
                index,
                wheel: Wheel::new(0),
                inbox,
                writer,
                reader,
                peers: Vec::new(),
                published: Arc::new(Published::default()),
                applied_seq: 0,
                log: ChangeLog::new(0, 0, 0),
                posted: Vec::new(),
                fan_out: FanOut::default(),
                auth_keys: None,
                auth_state: Arc::new(AuthState::default()),
                credentials: HashMap::new(),
                settings,
                limits,
                max_conns,
                metrics,
                start: Instant::now(),
                now_tick: 0,
                next_generation: 0,
                reserve_fd: std::fs::File::open("/dev/null").ok(),
                accept_paused_until: None,
                drain_deadline: None,
                scratch: vec![0; READ_CHUNK],
                tls: None,
            },
            waker,
        ))
    }

    /// Gives the reactor every reactor's inbox (its own included), for
    /// listener-status queries; call before `run`.
    /// Serves TLS on both ports with the slot's configurations; call before `run`.
    pub fn set_tls(&mut self, tls: Arc<crate::tls::TlsSlot>) {
        self.tls = Some(tls);
    }

    pub fn set_peers(&mut self, peers: Vec<ReactorLink>) {
        self.peers = peers;
    }

    /// Shares the writer's published-change mark; call before `run`.
    pub fn set_published(&mut self, published: Arc<Published>) {
        self.published = published;
    }

    /// Turns authentication on; call before `run`.
    pub fn set_auth(&mut self, keys: Arc<AuthKeys>, state: Arc<AuthState>) {
        self.auth_keys = Some(keys);
        self.auth_state = state;
    }

    /// Ticks from `now_tick` to a deadline at least `ms` away. `now_tick`
    /// is the clock rounded down (it can lag by up to one tick), and the
    /// loop wakes right at a tick's start, so one tick more guarantees no
    /// timeout ever fires early (an idle close before `--idle-timeout-ms`).
    fn ticks(&self, ms: u64) -> u64 {
        ms.div_ceil(TICK_MS) + 1
    }

    /// Runs until a graceful stop has drained every connection.
    pub fn run(mut self) {
        self.applied_seq = self.published.get();
        self.log = ChangeLog::new(
            self.applied_seq,
            self.settings.watch_log_entries,
            self.settings.watch_log_bytes,
        );
        let mut events = Events::with_capacity(1024);
        let mut expired = Vec::new();
        loop {
            if let Err(e) = self.poll.poll(&mut events, self.poll_timeout()) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    log::error!("reactor {}: poll failed: {e}", self.id);
                    std::thread::sleep(Duration::from_millis(TICK_MS));
                }
                continue;
            }
            self.now_tick = self.start.elapsed().as_millis() as u64 / TICK_MS;
            self.drain_inbox();
            self.serve_posted();
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(false),
                    GRPC_LISTENER => self.accept(true),
                    WAKER => {}
                    Token(key) => {
                        if event.is_read_closed() || event.is_error() {
                            self.on_readable(key, true);
                        } else if event.is_readable() {
                            self.on_readable(key, false);
                        }
                        if event.is_writable() {
                            self.on_writable(key);
                        }
                    }
                }
            }
            // Changes committed while we were busy are applied now rather
            // than after another poll.
            self.drain_inbox();
            self.serve_posted();
            expired.clear();
            self.wheel.expire(self.now_tick, &mut expired);
            for &key in &expired {
                self.on_timer(key as usize);
            }
            self.serve_posted();
            self.publish_gauges();
            if self.accept_paused_until.is_some_and(|t| t <= self.now_tick) {
                self.accept_paused_until = None;
                self.accept(false);
                self.accept(true);
            }
            if let Some(deadline) = self.drain_deadline {
                if self.conns.is_empty() || self.now_tick >= deadline {
                    break;
                }
            }
        }
        let left = self.conns.len();
        if left > 0 {
            log::warn!(
                "reactor {}: stopping with {left} connections still open",
                self.id
            );
        }
        for key in self.conns.iter().map(|(k, _)| k).collect::<Vec<_>>() {
            self.close(key);
        }
    }

    /// How long the next poll may sleep: until the wheel's nearest timer
    /// (the loop costs nothing between timers, however many polls are
    /// parked), one tick while accepting is paused or a drain is under way,
    /// and for good when nothing is timed.
    fn poll_timeout(&self) -> Option<Duration> {
        if self.accept_paused_until.is_some() || self.drain_deadline.is_some() {
            return Some(Duration::from_millis(TICK_MS));
        }
        let due_ms = self.wheel.next_due()? * TICK_MS;
        let now_ms = self.start.elapsed().as_millis() as u64;
        // +1: wake just after the tick starts, not just before it.
        Some(Duration::from_millis(due_ms.saturating_sub(now_ms) + 1))
    }

    /// Publishes this reactor's gauges for the metrics endpoint.
    fn publish_gauges(&self) {
        let g = &self.metrics.reactors[self.id];
        g.connections
            .store(self.conns.len() as u64, Ordering::Relaxed);
        g.parked
            .store(self.index.parked_count() as u64, Ordering::Relaxed);
        g.keys
            .store(self.index.key_count() as u64, Ordering::Relaxed);
        g.waiters
            .store(self.index.waiter_count() as u64, Ordering::Relaxed);
        g.timers.store(self.wheel.len() as u64, Ordering::Relaxed);
        g.configs
            .store(self.index.config_count() as u64, Ordering::Relaxed);
        g.streams
            .store(self.index.stream_count() as u64, Ordering::Relaxed);
        let (listeners, keys) = self.index.grpc_counts();
        g.grpc_listeners.store(listeners as u64, Ordering::Relaxed);
        g.grpc_keys.store(keys as u64, Ordering::Relaxed);
    }

    fn start_drain(&mut self) {
        if self.drain_deadline.is_some() {
            return;
        }
        log::info!("reactor {}: draining", self.id);
        self.drain_deadline = Some(self.now_tick + self.ticks(DRAIN_MS));
        if let Some(mut l) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        if let Some(mut l) = self.grpc_listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            let c = &mut self.conns[key];
            c.closing = true;
            match c.state {
                State::Parked { park, .. } => self.wake(park, None),
                State::Grpc(_) => {
                    // Not closing: the client closes once it has the
                    // reset, or the drain deadline closes it.
                    c.closing = false;
                    self.grpc_stop(key);
                }
                State::Reading { .. } | State::Streaming(_)
                    if c.inbuf.is_empty() && c.out.is_empty() =>
                {
                    self.close(key)
                }
                _ => {}
            }
        }
    }

    /// Sets when a connection's current state times out, re-arming the
    /// wheel only when the new deadline is earlier than the armed timer.
    fn set_deadline(&mut self, key: usize, tick: u64) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        c.deadline_tick = tick;
        if c.timer.is_some() && c.timer_tick <= tick {
            return;
        }
        if let Some(t) = c.timer.take() {
            self.wheel.cancel(t);
        }
        c.timer = Some(self.wheel.arm(tick, key as u32));
        c.timer_tick = tick.max(self.now_tick + 1);
    }

    fn close(&mut self, key: usize) {
        if !self.conns.contains(key) {
            return;
        }
        self.metrics
            .buffered_bytes
            .fetch_sub(self.conns[key].buffered as u64, Ordering::Relaxed);
        let mut c = self.conns.remove(key);
        match c.state {
            State::Parked { park, .. } => {
                self.index.unsubscribe(park);
            }
            State::Streaming(s) => {
                self.index.unsubscribe(s.stream);
            }
            State::Grpc(g) => {
                if let Some(sub) = g.listener() {
                    self.index.unsubscribe(sub);
                }
            }
            State::Reading { .. } | State::Awaiting { .. } => {}
        }
        if let Some(t) = c.timer.take() {
            self.wheel.cancel(t);
        }
        let _ = self.poll.registry().deregister(&mut c.stream);
        self.metrics
            .open_connections
            .fetch_sub(1, Ordering::Relaxed);
        log::trace!("closed {}", c.peer);
    }

    fn on_timer(&mut self, key: usize) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        c.timer = None;
        if c.deadline_tick > self.now_tick {
            let tick = c.deadline_tick;
            self.set_deadline(key, tick);
            return;
        }
        if c.stream.handshaking() {
            log::debug!("TLS handshake timeout: {}", c.peer);
            self.metrics.reject(Rejection::Tls);
            self.close(key);
            return;
        }
        match &mut c.state {
            State::Parked { park, .. } => {
                let park = *park;
                self.wake(park, None)
            }
            State::Awaiting {
                wait: wait @ Wait::Later(_),
                ..
            } => {
                let Wait::Later(reply) = std::mem::replace(wait, Wait::Thread(Rendering::Plain))
                else {
                    return;
                };
                let generation = c.generation;
                self.answer(key, generation, Ok(reply));
            }
            State::Awaiting { .. } => {
                // The writer always answers; keep waiting.
                let idle = self.now_tick + self.ticks(self.settings.idle_timeout_ms);
                self.set_deadline(key, idle);
            }
            State::Reading { partial: true } => {
                log::debug!("request timeout: {}", c.peer);
                self.metrics.reject(Rejection::RequestTimeout);
                c.reply(&refusal::request_timeout(), true);
                c.inbuf = Vec::new();
                c.state = State::Reading { partial: false };
                self.account(key);
                self.flush(key);
                if self.conns.contains(key) {
                    // A client that also does not read gets no more time.
                    let t = self.now_tick + self.ticks(1000);
                    self.set_deadline(key, t);
                }
            }
            State::Streaming(_) => self.heartbeat(key),
            State::Grpc(_) => self.grpc_timer(key),
            State::Reading { partial: false } => {
                // Idle, or a client that has stopped reading its output.
                log::debug!("idle timeout: {}", c.peer);
                self.close(key);
            }
        }
    }
}
