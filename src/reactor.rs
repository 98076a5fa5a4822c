//! The event loop: one per thread, each with its own `SO_REUSEPORT` listener,
//! connections, cache copy, inverted index and timer wheel.
//!
//! One iteration: poll (timeout = one wheel tick while timers are armed);
//! read the clock once; drain the writer's inbox (committed changes wake
//! parked polls, acknowledgements answer publishers) *before* touching any
//! socket, so a request that arrives after some client heard `true` always
//! sees that change; handle socket events; expire timers.
//!
//! mio is edge-triggered: every read and write loops until `WouldBlock`, and
//! spurious events are harmless. Connections are registered once for both
//! readable and writable; output is written as soon as it is produced and
//! only a short write leaves bytes for the next writable event.
//!
//! Invariants: only this module names `mio`; the reactor never touches the
//! disk (writes go to the writer thread); a parked connection holds no
//! buffers; every deferred reference to a connection (writer
//! acknowledgement) carries its generation and stale ones are dropped; the
//! wheel holds at most one timer per connection.

use crate::api::{self, Action, Ctx};
use crate::auth::{AuthKeys, AuthState};
use crate::http::{self, Parse};
use crate::index::{Index, ParkId};
use crate::metrics::{Metrics, Rejection};
use crate::model::{Change, Entry};
use crate::msg::{Published, ReactorLink, Reply, ReplyTo, ToReactor, WriteRequest};
use crate::protocol::{self, canonical_tenant, ListenRecord};
use crate::query::QueryRequest;
use crate::settings::{Settings, OUT_HIGH_WATER_BYTES};
use crate::wheel::{TimerId, Wheel};
use crossbeam_channel::{Receiver, Sender};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Milliseconds per wheel tick.
pub const TICK_MS: u64 = 10;
const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);
/// Bytes read from a socket per `read` call.
const READ_CHUNK: usize = 64 * 1024;
/// How long accepting pauses after the process ran out of file descriptors.
const ACCEPT_PAUSE_MS: u64 = 100;
/// A connection may always buffer this much, whatever the global budget.
const SMALL_REQUEST_BYTES: usize = 64 * 1024;
/// Most remembered (user, password) verdicts per reactor.
const MAX_CACHED_CREDENTIALS: usize = 10_000;
/// Descriptors kept free below the learnt open-file cap (reserves,
/// SQLite's temporary files).
const FD_CAP_MARGIN: u64 = 8;
/// How long a graceful stop waits for in-flight work.
const DRAIN_MS: u64 = 10_000;

/// What a connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading (and answering) requests.
    Reading,
    /// A write, query or collection is with another thread; later requests
    /// wait behind it.
    Awaiting { close: bool },
    /// A long poll is parked in the index.
    Parked { park: ParkId, close: bool },
}

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    generation: u32,
    state: State,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    timer: Option<TimerId>,
    /// Tick the armed timer fires at.
    timer_tick: u64,
    /// Tick at which the current state times out.
    deadline_tick: u64,
    /// Close once the output is flushed.
    closing: bool,
    /// The peer sent EOF.
    read_closed: bool,
    /// A partial request is buffered (its deadline is already set).
    partial: bool,
    /// How much of `inbuf` is counted in the process-wide buffered total.
    buffered: usize,
}

/// A listener-status query gathering parts from every reactor.
struct Collecting {
    generation: u32,
    pending: usize,
    found: BTreeMap<String, String>,
}

/// One event loop.
pub struct Reactor {
    id: usize,
    poll: Poll,
    listener: Option<TcpListener>,
    conns: Slab<Conn>,
    index: Index,
    wheel: Wheel,
    inbox: Receiver<ToReactor>,
    writer: Sender<WriteRequest>,
    reader: Sender<QueryRequest>,
    /// The last change queued in every reactor's inbox.
    published: Arc<Published>,
    /// Inside `drain_inbox` (it must not re-enter).
    in_drain: bool,
    /// Token keys when auth is on.
    auth_keys: Option<Arc<AuthKeys>>,
    auth_state: Arc<AuthState>,
    /// Verdicts on (user, password) pairs, keyed by an HMAC of the pair.
    credentials: HashMap<[u8; 32], bool>,
    /// Every reactor's inbox (this one's included), for listener queries.
    peers: Vec<ReactorLink>,
    /// Answers held back on purpose (refused long polls), by connection.
    later: HashMap<usize, (u32, u16, Vec<u8>)>,
    /// Listener queries waiting for other reactors' parts, by connection.
    collecting: HashMap<usize, Collecting>,
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
}

/// Creates a listening socket with a large backlog and `SO_REUSEPORT`, so
/// every reactor can bind the same address.
pub fn bind_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(65_535)?;
    Ok(socket.into())
}

impl Reactor {
    /// Builds a reactor around a bound listener and its cache copy; returns
    /// it with the waker the writer uses to rouse it.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: usize,
        listener: std::net::TcpListener,
        entries: &[(String, Arc<Entry>)],
        inbox: Receiver<ToReactor>,
        writer: Sender<WriteRequest>,
        reader: Sender<QueryRequest>,
        settings: Arc<Settings>,
        max_conns: usize,
        metrics: Arc<Metrics>,
    ) -> io::Result<(Reactor, Arc<Waker>)> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let mut listener = TcpListener::from_std(listener);
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
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
                conns: Slab::new(),
                index,
                wheel: Wheel::new(0),
                inbox,
                writer,
                reader,
                peers: Vec::new(),
                published: Arc::new(Published::default()),
                in_drain: false,
                auth_keys: None,
                auth_state: Arc::new(AuthState::default()),
                credentials: HashMap::new(),
                collecting: HashMap::new(),
                later: HashMap::new(),
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
            },
            waker,
        ))
    }

    /// Gives the reactor every reactor's inbox (its own included), for
    /// listener-status queries; call before `run`.
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

    fn ticks(&self, ms: u64) -> u64 {
        ms.div_ceil(TICK_MS)
    }

    /// Runs until a graceful stop has drained every connection.
    pub fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        let mut expired = Vec::new();
        loop {
            let timeout = if self.wheel.is_empty()
                && self.accept_paused_until.is_none()
                && self.drain_deadline.is_none()
            {
                None
            } else {
                Some(Duration::from_millis(TICK_MS))
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    log::error!("reactor {}: poll failed: {e}", self.id);
                    std::thread::sleep(Duration::from_millis(TICK_MS));
                }
                continue;
            }
            self.now_tick = self.start.elapsed().as_millis() as u64 / TICK_MS;
            self.drain_inbox();
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
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
            expired.clear();
            self.wheel.expire(self.now_tick, &mut expired);
            for &key in &expired {
                self.on_timer(key as usize);
            }
            self.publish_gauges();
            if self.accept_paused_until.is_some_and(|t| t <= self.now_tick) {
                self.accept_paused_until = None;
                self.accept();
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
    }

    /// Handles everything the storage threads and other reactors sent.
    /// Changes are applied at once (so any later request sees them) but
    /// wake-ups come last, after acknowledgements: a publisher hears `true`
    /// before thousands of listeners are answered. Not re-entrant: requests
    /// served while waking do not drain again.
    fn drain_inbox(&mut self) {
        if self.in_drain {
            return;
        }
        self.in_drain = true;
        let mut changed: Vec<Arc<Change>> = Vec::new();
        while let Ok(msg) = self.inbox.try_recv() {
            match msg {
                ToReactor::Change(change) => {
                    self.wait_published(change.seq);
                    if self.index.apply(&change).is_some() {
                        changed.push(change);
                    }
                }
                ToReactor::Done {
                    conn,
                    generation,
                    result,
                } => self.on_write_done(conn as usize, generation, result),
                ToReactor::Written {
                    conn,
                    generation,
                    result,
                } => self.on_write_done(
                    conn as usize,
                    generation,
                    result.map(|w| api::render_written(&w)),
                ),
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
                    if let Some(c) = self
                        .conns
                        .get_mut(conn)
                        .filter(|c| c.generation == generation)
                    {
                        if let State::Awaiting { .. } = c.state {
                            // The request is still buffered: handle it again.
                            c.state = State::Reading;
                            self.process(conn);
                        }
                    }
                }
                ToReactor::Shutdown => self.start_drain(),
            }
        }
        for change in changed {
            // Looked up again: waking serves pipelined requests, which may
            // have parked, unparked or recycled key slots meanwhile.
            let Some(key) = self.index.lookup(&change.group_key) else {
                continue;
            };
            let entry = self.index.entry(key).cloned();
            for park in self.index.waiters_of(key) {
                if self.sees_change(park, key, entry.as_deref()) {
                    self.wake(park, Some(key));
                }
            }
        }
        self.in_drain = false;
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

    fn start_drain(&mut self) {
        if self.drain_deadline.is_some() {
            return;
        }
        log::info!("reactor {}: draining", self.id);
        self.drain_deadline = Some(self.now_tick + self.ticks(DRAIN_MS));
        if let Some(mut l) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            let c = &mut self.conns[key];
            c.closing = true;
            match c.state {
                State::Parked { park, .. } => self.wake(park, None),
                State::Reading if c.inbuf.is_empty() && c.out_pos >= c.out.len() => self.close(key),
                _ => {}
            }
        }
    }

    fn accept(&mut self) {
        if self.accept_paused_until.is_some() {
            return;
        }
        if self.reserve_fd.is_none() {
            self.reserve_fd = std::fs::File::open("/dev/null").ok();
        }
        loop {
            let Some(listener) = self.listener.as_ref() else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => {
                    // The cap is global: SO_REUSEPORT spreads connections
                    // unevenly, so no reactor gets a fixed share.
                    let cap =
                        (self.max_conns as u64).min(self.metrics.fd_cap.load(Ordering::Relaxed));
                    if self.metrics.open_connections.load(Ordering::Relaxed) >= cap {
                        self.metrics.reject(Rejection::ConnectionShed);
                        log::debug!("shedding {peer}: {} connections open", self.max_conns);
                        drop(stream);
                        continue;
                    }
                    self.add_conn(stream, peer);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if is_fd_exhaustion(&e) => {
                    // The open-file limit is the real cap: remember it, a few
                    // descriptors short, so that from now on connections past
                    // it are accepted and shed at once instead of keeping the
                    // descriptors shedding needs.
                    let open = self.metrics.open_connections.load(Ordering::Relaxed);
                    self.metrics
                        .fd_cap
                        .fetch_min(open.saturating_sub(FD_CAP_MARGIN), Ordering::Relaxed);
                    // Out of descriptors: free the reserve to accept and drop
                    // a waiting connection (a quick refusal beats a hang),
                    // take the reserve back, and go on until the backlog is
                    // empty. If another thread took the freed descriptor,
                    // pause briefly instead of spinning.
                    if self.reserve_fd.take().is_some() {
                        let shed = listener.accept();
                        self.reserve_fd = std::fs::File::open("/dev/null").ok();
                        match shed {
                            Ok((stream, peer)) => {
                                self.metrics.reject(Rejection::ConnectionShed);
                                log::debug!("out of file descriptors: shedding {peer}");
                                drop(stream);
                                continue;
                            }
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                            Err(_) => {}
                        }
                    }
                    log::warn!("out of file descriptors ({e}); pausing accept");
                    self.accept_paused_until = Some(self.now_tick + self.ticks(ACCEPT_PAUSE_MS));
                    return;
                }
                Err(e) => {
                    // Per-connection failures (e.g. aborted before accept).
                    log::debug!("accept: {e}");
                }
            }
        }
    }

    fn add_conn(&mut self, mut stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        if key >= LISTENER.0 - 1 {
            return;
        }
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            log::warn!("cannot register {peer}: {e}");
            return;
        }
        self.next_generation = self.next_generation.wrapping_add(1);
        entry.insert(Conn {
            stream,
            peer,
            generation: self.next_generation,
            state: State::Reading,
            inbuf: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            timer: None,
            timer_tick: 0,
            deadline_tick: 0,
            closing: false,
            read_closed: false,
            partial: false,
            buffered: 0,
        });
        self.metrics
            .open_connections
            .fetch_add(1, Ordering::Relaxed);
        Metrics::inc(&self.metrics.accepted);
        let idle = self.now_tick + self.ticks(self.settings.idle_timeout_ms);
        self.set_deadline(key, idle);
        // Data may already be waiting; edge-triggered epoll reports it anyway,
        // but reading now saves a loop iteration.
        self.on_readable(key, true);
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
        self.collecting.remove(&key);
        self.later.remove(&key);
        self.metrics
            .buffered_bytes
            .fetch_sub(self.conns[key].buffered as u64, Ordering::Relaxed);
        let mut c = self.conns.remove(key);
        if let State::Parked { park, .. } = c.state {
            self.index.unpark(park);
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

    /// Reads what the socket has. Edge-triggered readiness needs reading
    /// until `WouldBlock`, except that a short read already proves the
    /// buffer empty (new data raises a new edge), which saves a syscall per
    /// request; `to_eof` forces the full drain when the peer may have
    /// hung up, whose EOF raises no further edge.
    fn on_readable(&mut self, key: usize, to_eof: bool) {
        let max_buffer = self.limits.max_request_line_bytes
            + self.limits.max_header_bytes
            + self.limits.max_body_bytes
            + 4;
        loop {
            let Some(c) = self.conns.get_mut(key) else {
                return;
            };
            if c.read_closed {
                break;
            }
            // Backpressure: a client that does not read its responses does
            // not get more requests served (and buffered) meanwhile.
            if c.out.len() - c.out_pos > OUT_HIGH_WATER_BYTES || c.inbuf.len() > max_buffer {
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
                        http::write_response(
                            &mut c.out,
                            503,
                            api::JSON,
                            b"caused: server is out of request buffer space, retry later;",
                            true,
                        );
                        c.closing = true;
                        c.inbuf = Vec::new();
                        self.account(key);
                        self.flush(key);
                        return;
                    }
                    c.inbuf.extend_from_slice(&self.scratch[..n]);
                    if n < self.scratch.len() && !to_eof {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::debug!("read from {}: {e}", c.peer);
                    self.close(key);
                    return;
                }
            }
        }
        self.account(key);
        let Some(c) = self.conns.get(key) else { return };
        if c.read_closed {
            match c.state {
                // A client that hangs up while parked is unlinked at once.
                State::Parked { .. } => {
                    log::debug!("{} closed a parked poll", c.peer);
                    self.close(key);
                    return;
                }
                State::Reading if c.inbuf.is_empty() && c.out_pos >= c.out.len() => {
                    self.close(key);
                    return;
                }
                _ => {}
            }
        }
        self.process(key);
    }

    fn on_writable(&mut self, key: usize) {
        let Some(c) = self.conns.get(key) else { return };
        if c.out_pos < c.out.len() {
            let was_blocked = c.out.len() - c.out_pos > OUT_HIGH_WATER_BYTES;
            self.flush(key);
            // Reading paused for backpressure resumes once output drains.
            if was_blocked
                && self
                    .conns
                    .get(key)
                    .is_some_and(|c| c.out.len() - c.out_pos <= OUT_HIGH_WATER_BYTES)
            {
                self.on_readable(key, true);
            }
        }
    }

    /// Parses and answers buffered requests while the connection may.
    /// Pipelined requests are parsed at an advancing offset and the buffer
    /// is compacted once at the end, so a deep pipeline costs linear time.
    fn process(&mut self, key: usize) {
        // Whatever was committed before these bytes arrived must be visible
        // to them, even if another reactor already woke their sender.
        self.drain_inbox();
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        let inbuf = std::mem::take(&mut c.inbuf);
        let mut pos = 0;
        let mut want = None;
        loop {
            let Some(c) = self.conns.get_mut(key) else {
                return;
            };
            if c.state != State::Reading
                || c.closing
                || c.out.len() - c.out_pos > OUT_HIGH_WATER_BYTES
                || pos == inbuf.len()
            {
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
                    if !c.partial {
                        c.partial = true;
                        let deadline = self.now_tick + self.ticks(self.settings.request_timeout_ms);
                        self.set_deadline(key, deadline);
                    }
                    break;
                }
                Ok(Parse::Complete(req, consumed)) => {
                    c.partial = false;
                    if !self.handle(key, &req) {
                        // Handled again later (after a password check).
                        break;
                    }
                    pos += consumed;
                }
                Err(e) => {
                    c.partial = false;
                    log::debug!("bad request from {}: {}", c.peer, e.message());
                    if let Some(r) = Rejection::for_status(e.status()) {
                        self.metrics.reject(r);
                    }
                    let body = format!("{}\n", e.message());
                    http::write_response(&mut c.out, e.status(), api::JSON, body.as_bytes(), true);
                    c.closing = true;
                    pos = inbuf.len();
                }
            }
        }
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        c.inbuf = inbuf;
        c.inbuf.drain(..pos);
        if c.inbuf.is_empty() {
            c.inbuf = Vec::new();
        } else if let Some(want) = want {
            c.inbuf.reserve(want.saturating_sub(c.inbuf.len()));
        }
        self.account(key);
        self.after_progress(key);
    }

    /// Flushes output and settles the connection's deadline.
    fn after_progress(&mut self, key: usize) {
        self.flush(key);
        let Some(c) = self.conns.get(key) else { return };
        if c.state == State::Reading && !c.partial {
            if c.read_closed && c.out_pos >= c.out.len() {
                self.close(key);
                return;
            }
            let idle = self.now_tick + self.ticks(self.settings.idle_timeout_ms);
            self.set_deadline(key, idle);
        }
    }

    /// Handles one request; returns false when the request must stay
    /// buffered to be handled again (after a password check).
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
        let action = api::handle(req, &ctx);
        match action {
            Action::Verify {
                username,
                password,
                key: credential,
            } => {
                let query = crate::query::Query::Verify {
                    username,
                    password,
                    key: credential,
                };
                let reply = self.reply_to(key);
                let queued = self.reader.try_send(QueryRequest { query, reply }).is_ok();
                if self.await_answer(key, close, queued, "password checks") {
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
                http::write_response(&mut c.out, status, &head, &body, close);
                c.closing |= close;
            }
            Action::Config(config, extra) => {
                let c = &mut self.conns[key];
                let head: Cow<[u8]> = match extra {
                    None => Cow::Borrowed(&config.get_head),
                    Some(extra) => Cow::Owned([&config.get_head[..], extra.as_bytes()].concat()),
                };
                http::write_response(&mut c.out, 200, &head, config.content.as_bytes(), close);
                c.closing |= close;
            }
            Action::Query(query) => {
                let reply = self.reply_to(key);
                let queued = self
                    .reader
                    .try_send(QueryRequest {
                        query: *query,
                        reply,
                    })
                    .is_ok();
                self.await_answer(key, close, queued, "queries");
            }
            Action::Write(op) => {
                let reply = self.reply_to(key);
                let queued = self
                    .writer
                    .try_send(WriteRequest { op: *op, reply })
                    .is_ok();
                self.await_answer(key, close, queued, "writes");
            }
            Action::Later {
                delay_ms,
                status,
                body,
            } => {
                let c = &mut self.conns[key];
                c.state = State::Awaiting { close };
                self.later.insert(key, (c.generation, status, body));
                let deadline = self.now_tick + self.ticks(delay_ms);
                self.set_deadline(key, deadline);
            }
            Action::CollectListeners(filter) => {
                let reply = self.reply_to(key);
                self.conns[key].state = State::Awaiting { close };
                self.collecting.insert(
                    key,
                    Collecting {
                        generation: reply.generation,
                        pending: self.peers.len(),
                        found: BTreeMap::new(),
                    },
                );
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
        }
        true
    }

    /// Brings the process-wide total of buffered request bytes up to date
    /// with this connection's input buffer.
    fn account(&mut self, key: usize) {
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

    /// Where another thread sends its answer for connection `key`.
    fn reply_to(&self, key: usize) -> ReplyTo {
        ReplyTo {
            reactor: self.id,
            conn: key as u32,
            generation: self.conns[key].generation,
        }
    }

    /// After handing a request to another thread: wait for its answer, or,
    /// when that thread's queue was full, answer 503 now. Returns `queued`.
    fn await_answer(&mut self, key: usize, close: bool, queued: bool, what: &str) -> bool {
        let c = &mut self.conns[key];
        if queued {
            c.state = State::Awaiting { close };
            return true;
        }
        log::warn!("queue for {what} full: answering 503 to {}", c.peer);
        self.metrics.reject(Rejection::Overloaded);
        let body = format!("caused: server is overloaded with {what}, retry later;");
        http::write_response(&mut c.out, 503, api::JSON, body.as_bytes(), close);
        c.closing |= close;
        false
    }

    fn park(
        &mut self,
        key: usize,
        records: Vec<ListenRecord>,
        hold_ms: u64,
        requester: String,
        vip_tag: Option<String>,
        close: bool,
    ) {
        let keys = records
            .into_iter()
            .map(|r| {
                let id = self.index.intern(r.group_key());
                let canonical = canonical_tenant(&r.tenant);
                let echo = (canonical != r.tenant && !r.tenant.is_empty())
                    .then(|| r.tenant.into_boxed_str());
                (id, r.md5, echo)
            })
            .collect();
        let park = self
            .index
            .park(key as u32, requester.into(), vip_tag.map(Into::into), keys);
        let c = &mut self.conns[key];
        c.state = State::Parked { park, close };
        if c.out_pos >= c.out.len() {
            c.out = Vec::new();
            c.out_pos = 0;
        }
        let deadline = self.now_tick + self.ticks(hold_ms);
        self.set_deadline(key, deadline);
    }

    /// Answers a parked poll: with `key` when it changed, or empty (timeout,
    /// shutdown); then serves any pipelined requests.
    fn wake(&mut self, park: ParkId, key: Option<u32>) {
        let conn = self.index.parked(park).conn as usize;
        let mut body = Vec::new();
        if let Some(key) = key {
            let parked = self.index.parked(park);
            let echo = parked
                .keys
                .iter()
                .find(|k| k.key == key)
                .and_then(|k| k.echo_tenant.as_deref());
            if let Some((data_id, group, tenant)) =
                protocol::parse_group_key(self.index.key_name(key))
            {
                protocol::encode_changed_key(&mut body, &data_id, &group, echo.unwrap_or(&tenant));
                body.push(b'\n');
            }
        }
        self.index.unpark(park);
        Metrics::inc(if body.is_empty() {
            &self.metrics.poll_timeouts
        } else {
            &self.metrics.wakeups
        });
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        let close = match c.state {
            State::Parked { close, .. } => close || self.drain_deadline.is_some(),
            _ => true,
        };
        c.state = State::Reading;
        if body.is_empty() {
            let (status, head, b) = api::empty_poll_reply();
            http::write_response(&mut c.out, status, head, b, close);
        } else {
            http::write_response(&mut c.out, 200, api::changed_keys_head(), &body, close);
        }
        c.closing |= close;
        self.process(conn);
    }

    /// Whether a change to `key` alters what a parked poll would read: its
    /// client md5 no longer matches the variant it sees (so an identical
    /// re-publish, or a beta for other addresses, wakes nobody).
    fn sees_change(&self, park: ParkId, key: u32, entry: Option<&Entry>) -> bool {
        let parked = self.index.parked(park);
        let Some(rec) = parked.keys.iter().find(|k| k.key == key) else {
            return false;
        };
        let now = entry
            .and_then(|e| e.effective(&parked.requester, parked.vip_tag.as_deref()))
            .map(|v| &v.config().md5);
        !rec.md5.matches(now)
    }

    fn on_listener_part(&mut self, key: usize, generation: u32, part: Vec<(String, String)>) {
        let Some(col) = self.collecting.get_mut(&key) else {
            return;
        };
        if col.generation != generation {
            return;
        }
        col.found.extend(part);
        col.pending = col.pending.saturating_sub(1);
        if col.pending > 0 {
            return;
        }
        let Some(col) = self.collecting.remove(&key) else {
            return;
        };
        let body = api::listener_status_body(&col.found);
        self.on_write_done(key, generation, Ok(Reply::ok(body)));
    }

    fn on_write_done(&mut self, key: usize, generation: u32, result: Result<Reply, String>) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        let State::Awaiting { close } = c.state else {
            return;
        };
        if c.generation != generation {
            return;
        }
        let close = close || self.drain_deadline.is_some();
        match result {
            Ok(reply) => {
                let head: Cow<[u8]> = if reply.extra_head.is_empty() {
                    Cow::Borrowed(api::JSON)
                } else {
                    Cow::Owned([api::JSON, reply.extra_head.as_bytes()].concat())
                };
                http::write_response(&mut c.out, reply.status, &head, &reply.body, close)
            }
            Err(msg) => http::write_response(
                &mut c.out,
                500,
                api::JSON,
                format!("caused: {msg};").as_bytes(),
                close,
            ),
        }
        c.closing |= close;
        c.state = State::Reading;
        self.process(key);
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
        match c.state {
            State::Parked { park, .. } => self.wake(park, None),
            State::Awaiting { .. } if self.later.contains_key(&key) => {
                if let Some((generation, status, body)) = self.later.remove(&key) {
                    let reply = Reply::new(status, body);
                    self.on_write_done(key, generation, Ok(reply));
                }
            }
            State::Awaiting { .. } => {
                // The writer always answers; keep waiting.
                let idle = self.now_tick + self.ticks(self.settings.idle_timeout_ms);
                self.set_deadline(key, idle);
            }
            State::Reading => {
                if c.partial {
                    log::debug!("request timeout: {}", c.peer);
                    self.metrics.reject(Rejection::RequestTimeout);
                    http::write_response(&mut c.out, 408, api::JSON, b"request timeout\n", true);
                    c.closing = true;
                    c.inbuf = Vec::new();
                    c.partial = false;
                    self.account(key);
                    self.flush(key);
                    if self.conns.contains(key) {
                        // A client that also does not read gets no more time.
                        let t = self.now_tick + self.ticks(1000);
                        self.set_deadline(key, t);
                    }
                } else {
                    // Idle, or a client that has stopped reading its output.
                    log::debug!("idle timeout: {}", c.peer);
                    self.close(key);
                }
            }
        }
    }

    /// Writes pending output until done or `WouldBlock`.
    fn flush(&mut self, key: usize) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        let mut progressed = false;
        while c.out_pos < c.out.len() {
            match c.stream.write(&c.out[c.out_pos..]) {
                Ok(0) => break,
                Ok(n) => {
                    c.out_pos += n;
                    progressed = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::debug!("write to {}: {e}", c.peer);
                    self.close(key);
                    return;
                }
            }
        }
        if c.out_pos >= c.out.len() {
            c.out = Vec::new();
            c.out_pos = 0;
            if c.closing && !matches!(c.state, State::Awaiting { .. }) {
                self.close(key);
            }
        } else if progressed && c.state == State::Reading {
            // A slow reader that makes progress keeps its connection.
            let idle = self.now_tick + self.ticks(self.settings.idle_timeout_ms);
            self.set_deadline(key, idle);
        }
    }
}

fn is_fd_exhaustion(e: &io::Error) -> bool {
    // EMFILE (24) and ENFILE (23) on Linux; ENOBUFS/ENOMEM likewise mean
    // "no resources for another socket right now".
    matches!(e.raw_os_error(), Some(23) | Some(24) | Some(105) | Some(12))
}
