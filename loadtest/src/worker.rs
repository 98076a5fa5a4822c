//! A worker process: one mio event loop driving thousands of client connections.
//!
//! The loop is closed: poll (timeout from the nearest timer, at most one
//! status interval), handle socket events by token, handle coordinator
//! commands (read by a helper thread from stdin and handed over through a
//! channel and a `mio::Waker`), fire due timers, open more connections while
//! under the connect concurrency, and report status. Time is read once per
//! iteration and passed down.
//!
//! Token plan: `Token(i)` is connection `i` (listeners, then getters, then
//! publishers); [`WAKER`] is the command channel.
//!
//! Timers are a binary heap of `(deadline, connection, seq, kind)`; an entry
//! whose `seq` no longer matches the connection's is stale and skipped, so
//! nothing is ever cancelled eagerly.
//!
//! Invariant: stdout carries only `msg::Event` lines; the worker exits when the
//! coordinator says `stop`, when stdin closes, or at the plan's deadline.

use crate::clock::mono_ns;
use crate::conn::{start_connect, Conn, Phase, Role};
use crate::hist::Hist;
use crate::http::{parse_response, Parsed, Response};
use crate::msg::{Command, Counters, Event, Plan, Status, WorkerReport};
use crate::proto::{self, KeyId, KeyKind, KeySpace, Md5Digest};
use anyhow::{Context, Result};
use mio::{Events, Interest, Poll, Token, Waker};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{BufRead, Write};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::Arc;

/// Token of the command channel.
const WAKER: Token = Token(usize::MAX);
/// How often the census is sent, ns.
const STATUS_INTERVAL_NS: u64 = 100_000_000;
/// Delay before reconnecting a failed connection, ns.
const RECONNECT_DELAY_NS: u64 = 250_000_000;
/// Delay before re-polling after an error reply, so a broken server is not hammered, ns.
const ERROR_BACKOFF_NS: u64 = 1_000_000_000;
/// Error samples sent to the coordinator per worker.
const MAX_ERROR_SAMPLES: u32 = 10;
/// Bytes read per `read` call.
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Socket events handled per poll.
const EVENTS_CAPACITY: usize = 4096;

/// Why a timer was armed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    /// The outstanding request or connect takes too long.
    Timeout,
    /// Reconnect a `Down` connection.
    Reconnect,
    /// Issue the next request of an `Idle` connection (pacing, back-off).
    Next,
}

type TimerEntry = Reverse<(u64, u32, u32, TimerKind)>;

/// Runs a worker until told to stop.
pub fn run(plan: Plan) -> Result<()> {
    let mut poll = Poll::new().context("creating the poller")?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER).context("creating the waker")?);
    let commands = spawn_stdin_reader(waker);
    let mut w = Worker::new(plan);
    let mut events = Events::with_capacity(EVENTS_CAPACITY);
    let mut scratch = vec![0u8; READ_CHUNK_BYTES];
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    loop {
        let now = mono_ns();
        let timeout_ns = w.next_timer_ns().map_or(STATUS_INTERVAL_NS, |t| {
            t.saturating_sub(now).min(STATUS_INTERVAL_NS)
        });
        if let Err(e) = poll.poll(
            &mut events,
            Some(std::time::Duration::from_nanos(timeout_ns)),
        ) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e).context("polling");
            }
        }
        let now = mono_ns();
        for ev in events.iter() {
            if ev.token() == WAKER {
                continue;
            }
            let i = ev.token().0;
            if ev.is_writable() || ev.is_error() {
                w.on_writable(&poll, i, now);
            }
            if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                // A fresh clock read per reply: wake-ups handled late in a
                // large batch are timed when this process actually sees them.
                w.on_readable(&poll, i, mono_ns(), &mut scratch);
            }
        }
        loop {
            match commands.try_recv() {
                Ok(cmd) => w.on_command(&poll, cmd, now),
                Err(TryRecvError::Empty) => break,
                // The coordinator is gone: stop.
                Err(TryRecvError::Disconnected) => {
                    w.stopping = true;
                    break;
                }
            }
        }
        w.fire_timers(&poll, now);
        w.open_more(&poll, now);
        if now >= w.deadline_ns {
            w.stopping = true;
        }
        for ev in w.pending.drain(..) {
            writeln!(stdout, "{}", ev.encode()).context("writing to the coordinator")?;
        }
        w.maybe_status(now, &mut stdout)?;
        if w.stopping {
            writeln!(stdout, "{}", Event::Report(Box::new(w.report())).encode())?;
            stdout.flush()?;
            return Ok(());
        }
        stdout.flush().context("flushing to the coordinator")?;
    }
}

/// Reads command lines from stdin on a helper thread; the channel closes at EOF.
fn spawn_stdin_reader(waker: Arc<Waker>) -> Receiver<Command> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            if let Some(cmd) = Command::parse(&line) {
                if tx.send(cmd).is_err() {
                    break;
                }
                let _ = waker.wake();
            }
        }
        drop(tx);
        let _ = waker.wake();
    });
    rx
}

struct Worker {
    plan: Plan,
    space: KeySpace,
    conns: Vec<Conn>,
    timers: BinaryHeap<TimerEntry>,
    counters: Counters,
    get_hist: Hist,
    publish_hist: Hist,
    wake_hist: Hist,
    /// Versions the coordinator announced for keys it publishes.
    versions: HashMap<KeyId, u64>,
    /// Getters and publishers are running.
    running: bool,
    stopping: bool,
    deadline_ns: u64,
    /// Next connection never opened yet.
    next_to_open: usize,
    /// Connects in flight.
    connecting: u32,
    rng: u64,
    publish_seq: u64,
    /// Mixed: md5 of the last acknowledged publish per listener (local index).
    last_acked: HashMap<u32, Md5Digest>,
    /// Next publish slot per publisher when pacing, ns.
    pace_next_ns: Vec<u64>,
    pending: Vec<Event>,
    error_samples: u32,
    last_status: Option<Status>,
    last_status_ns: u64,
    last_census_ns: u64,
    /// Connection index of the first getter (publishers follow the getters).
    first_getter: usize,
}

impl Worker {
    fn new(plan: Plan) -> Worker {
        let keys = plan.own_keys as usize + usize::from(plan.hot);
        let mut conns =
            Vec::with_capacity((plan.listeners + plan.getters + plan.publishers) as usize);
        for local in 0..plan.listeners {
            conns.push(Conn::new(Role::Listener { local }, keys));
        }
        for _ in 0..plan.getters {
            conns.push(Conn::new(Role::Getter, 0));
        }
        for local in 0..plan.publishers {
            conns.push(Conn::new(Role::Publisher { local }, 0));
        }
        let first_getter = plan.listeners as usize;
        let now = mono_ns();
        Worker {
            space: KeySpace::new(&plan.run),
            conns,
            timers: BinaryHeap::new(),
            counters: Counters::default(),
            get_hist: Hist::new(),
            publish_hist: Hist::new(),
            wake_hist: Hist::new(),
            versions: HashMap::new(),
            running: false,
            stopping: false,
            deadline_ns: now + plan.deadline_ms * 1_000_000,
            next_to_open: 0,
            connecting: 0,
            rng: 0x9E37_79B9_7F4A_7C15
                ^ (u64::from(plan.worker) + 1).wrapping_mul(0xD1B5_4A32_D192_ED03),
            publish_seq: 0,
            last_acked: HashMap::new(),
            pace_next_ns: vec![0; plan.publishers as usize],
            pending: Vec::new(),
            error_samples: 0,
            last_status: None,
            last_status_ns: 0,
            last_census_ns: 0,
            first_getter,
            plan,
        }
    }

    fn next_timer_ns(&self) -> Option<u64> {
        self.timers.peek().map(|Reverse((at, ..))| *at)
    }

    fn arm(&mut self, at_ns: u64, i: usize, kind: TimerKind) {
        let seq = self.conns[i].seq;
        self.timers.push(Reverse((at_ns, i as u32, seq, kind)));
    }

    fn sample_error(&mut self, text: String) {
        if self.error_samples < MAX_ERROR_SAMPLES {
            self.error_samples += 1;
            self.pending
                .push(Event::Error(format!("worker {}: {text}", self.plan.worker)));
        }
    }

    fn random(&mut self) -> u64 {
        // xorshift64*: plenty for picking keys.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    // ----- connections -----

    fn open_more(&mut self, poll: &Poll, now: u64) {
        while self.next_to_open < self.conns.len()
            && self.connecting < self.plan.connect_concurrency
            && !self.stopping
        {
            let i = self.next_to_open;
            self.next_to_open += 1;
            self.connect(poll, i, now);
        }
    }

    fn source_for(&self, i: usize) -> std::net::Ipv4Addr {
        let global = match self.conns[i].role {
            Role::Listener { local } => (self.plan.listener_first + local) as usize,
            _ => i + self.plan.worker as usize * 7919,
        };
        self.plan.sources[global % self.plan.sources.len()]
    }

    fn connect(&mut self, poll: &Poll, i: usize, now: u64) {
        let source = self.source_for(i);
        let conn = &mut self.conns[i];
        conn.seq = conn.seq.wrapping_add(1);
        match start_connect(source, self.plan.server) {
            Ok(mut stream) => {
                if let Err(e) = poll.registry().register(
                    &mut stream,
                    Token(i),
                    Interest::READABLE | Interest::WRITABLE,
                ) {
                    self.counters.connect_errors += 1;
                    self.sample_error(format!("register: {e}"));
                    self.arm(now + RECONNECT_DELAY_NS, i, TimerKind::Reconnect);
                    return;
                }
                conn.stream = Some(stream);
                conn.phase = Phase::Connecting;
                conn.sent_ns = now;
                self.connecting += 1;
                self.arm(
                    now + self.plan.request_timeout_ms * 1_000_000,
                    i,
                    TimerKind::Timeout,
                );
            }
            Err(e) => {
                self.counters.connect_errors += 1;
                self.sample_error(format!("connect from {source}: {e}"));
                self.arm(now + RECONNECT_DELAY_NS, i, TimerKind::Reconnect);
            }
        }
    }

    /// Closes connection `i` and schedules a reconnect.
    fn close(&mut self, poll: &Poll, i: usize, now: u64, delay_ns: u64) {
        let conn = &mut self.conns[i];
        if conn.phase == Phase::Connecting {
            self.connecting -= 1;
        }
        if let Some(mut s) = conn.stream.take() {
            let _ = poll.registry().deregister(&mut s);
        }
        conn.phase = Phase::Down;
        conn.seq = conn.seq.wrapping_add(1);
        conn.out = Vec::new();
        conn.out_pos = 0;
        conn.inbuf = Vec::new();
        if !self.stopping {
            self.arm(now + delay_ns, i, TimerKind::Reconnect);
        }
    }

    fn fail(&mut self, poll: &Poll, i: usize, now: u64, what: String) {
        if self.conns[i].phase == Phase::Connecting {
            self.counters.connect_errors += 1;
        } else {
            self.counters.disconnects += 1;
        }
        self.sample_error(what);
        self.close(poll, i, now, RECONNECT_DELAY_NS);
    }

    fn on_writable(&mut self, poll: &Poll, i: usize, now: u64) {
        let Some(conn) = self.conns.get_mut(i) else {
            return;
        };
        if conn.phase == Phase::Connecting {
            match conn.check_connected() {
                Ok(false) => return,
                Ok(true) => {
                    self.connecting -= 1;
                    self.counters.connects += 1;
                    conn.phase = Phase::Idle;
                    conn.seq = conn.seq.wrapping_add(1);
                    self.next_request(poll, i, now);
                }
                Err(e) => {
                    let what = format!("connect: {e}");
                    self.fail(poll, i, now, what);
                }
            }
            return;
        }
        if let Err(e) = conn.flush() {
            let what = format!("write: {e}");
            self.fail(poll, i, now, what);
        }
    }

    fn on_readable(&mut self, poll: &Poll, i: usize, now: u64, scratch: &mut [u8]) {
        let Some(conn) = self.conns.get_mut(i) else {
            return;
        };
        if matches!(conn.phase, Phase::Down | Phase::Connecting) {
            return;
        }
        let closed = match conn.fill(scratch) {
            Ok(closed) => closed,
            Err(e) => {
                self.fail(poll, i, now, format!("read: {e}"));
                return;
            }
        };
        while !self.conns[i].inbuf.is_empty() {
            match parse_response(&self.conns[i].inbuf) {
                Ok(Parsed::Partial) => break,
                Ok(Parsed::Done(resp, used)) => {
                    self.conns[i].inbuf.drain(..used);
                    if !self.on_response(poll, i, now, resp) {
                        return;
                    }
                }
                Err(e) => {
                    self.counters.protocol_errors += 1;
                    self.fail(poll, i, now, format!("bad HTTP response: {e}"));
                    return;
                }
            }
        }
        let conn = &mut self.conns[i];
        if conn.inbuf.is_empty() {
            conn.inbuf = Vec::new();
        }
        if closed {
            if conn.phase == Phase::Idle && conn.inbuf.is_empty() {
                // An idle keep-alive connection closed by the server: not an error.
                self.counters.server_closes += 1;
                self.close(poll, i, now, 0);
            } else {
                let what = format!(
                    "server closed the connection with {:?} outstanding",
                    conn.phase
                );
                self.fail(poll, i, now, what);
            }
        }
    }

    // ----- requests -----

    /// Starts writing `conn.out` as the request of `phase`.
    fn send(&mut self, poll: &Poll, i: usize, phase: Phase, now: u64) {
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
    fn next_request(&mut self, poll: &Poll, i: usize, now: u64) {
        if self.stopping || self.conns[i].stream.is_none() {
            return;
        }
        match self.conns[i].role {
            Role::Listener { local } => {
                if let Some((key, _)) = self.conns[i].fetch_queue.first().copied() {
                    self.counters.gets_after_wake += 1;
                    proto::get_request(&self.plan.host, &self.space, key, &mut self.conns[i].out);
                    self.send(poll, i, Phase::Fetch(key), now);
                } else {
                    let keys: Vec<(KeyId, Option<Md5Digest>)> = self
                        .listener_keys(local)
                        .into_iter()
                        .zip(self.conns[i].md5s.iter().copied())
                        .collect();
                    self.counters.polls += 1;
                    proto::listen_request(
                        &self.plan.host,
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
                    proto::get_request(&self.plan.host, &self.space, key, &mut self.conns[i].out);
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
                (self.plan.listener_first + listener) * self.plan.own_keys,
            )
        } else {
            KeyId::new(KeyKind::Pub, self.plan.publisher_first + local)
        };
        self.publish_seq += 1;
        let content = proto::timestamped_content(self.publish_seq, now, self.plan.content_bytes);
        let md5 = proto::md5_of(content.as_bytes());
        proto::publish_request(
            &self.plan.host,
            &self.space,
            key,
            &content,
            &mut self.conns[i].out,
        );
        self.send(poll, i, Phase::Publish(key, md5), now);
    }

    /// Keys of listener `local`, in the order of its `md5s`.
    fn listener_keys(&self, local: u32) -> Vec<KeyId> {
        let global = self.plan.listener_first + local;
        let mut keys: Vec<KeyId> = (0..self.plan.own_keys)
            .map(|j| KeyId::new(KeyKind::Own, global * self.plan.own_keys + j))
            .collect();
        if self.plan.hot {
            keys.push(KeyId::new(KeyKind::Hot, 0));
        }
        keys
    }

    /// Slot of `key` in listener `local`'s `md5s`, if it listens to it.
    fn slot_of(&self, local: u32, key: KeyId) -> Option<usize> {
        let global = self.plan.listener_first + local;
        match key.kind {
            KeyKind::Own if self.plan.own_keys > 0 && key.idx / self.plan.own_keys == global => {
                Some((key.idx % self.plan.own_keys) as usize)
            }
            KeyKind::Hot if self.plan.hot && key.idx == 0 => Some(self.plan.own_keys as usize),
            _ => None,
        }
    }

    /// Handles one response; `false` if the connection was closed meanwhile.
    fn on_response(&mut self, poll: &Poll, i: usize, now: u64, resp: Response) -> bool {
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
                    if self.plan.publish_to_listeners && self.plan.own_keys > 0 {
                        let local = key.idx / self.plan.own_keys - self.plan.listener_first;
                        self.last_acked.insert(local, md5);
                    }
                } else {
                    self.counters.publish_errors += 1;
                    let body = String::from_utf8_lossy(&resp.body)
                        .chars()
                        .take(120)
                        .collect::<String>();
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
            let body = String::from_utf8_lossy(&resp.body)
                .chars()
                .take(120)
                .collect::<String>();
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
                    let floor = self.versions.get(&key).copied().unwrap_or(0);
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
    fn on_fetch_reply(
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

    // ----- timers, commands, reports -----

    fn fire_timers(&mut self, poll: &Poll, now: u64) {
        while let Some(Reverse((at, i, seq, kind))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let i = i as usize;
            if self.conns[i].seq != seq || self.stopping {
                continue;
            }
            match (kind, self.conns[i].phase) {
                (TimerKind::Reconnect, Phase::Down) => self.connect(poll, i, now),
                (TimerKind::Next, Phase::Idle) => self.next_request(poll, i, now),
                (TimerKind::Timeout, Phase::Connecting) => {
                    self.fail(poll, i, now, "connect timed out".into());
                }
                (
                    TimerKind::Timeout,
                    Phase::Listen | Phase::Fetch(_) | Phase::Get | Phase::Publish(..),
                ) => {
                    self.counters.client_timeouts += 1;
                    let what = format!(
                        "{:?} unanswered after {} ms",
                        self.conns[i].phase,
                        (now - self.conns[i].sent_ns) / 1_000_000
                    );
                    self.sample_error(what);
                    self.close(poll, i, now, RECONNECT_DELAY_NS);
                }
                _ => {}
            }
        }
    }

    fn on_command(&mut self, poll: &Poll, cmd: Command, now: u64) {
        match cmd {
            Command::Start => {
                self.running = true;
                for i in self.first_getter..self.conns.len() {
                    if self.conns[i].phase == Phase::Idle {
                        self.next_request(poll, i, now);
                    }
                }
            }
            Command::Quiesce => self.running = false,
            Command::Version(key, v) => {
                self.versions.insert(key, v);
            }
            Command::Census(n) => {
                let s = self.status();
                self.pending.push(Event::Census(n, s));
            }
            Command::Stop => self.stopping = true,
        }
    }

    fn status(&self) -> Status {
        let mut s = Status::default();
        for c in &self.conns {
            if !matches!(c.phase, Phase::Down | Phase::Connecting) {
                s.open += 1;
            }
            if c.is_parked() {
                s.parked += 1;
            }
        }
        s.wakes = self.counters.wakes;
        s.errors = self.counters.errors();
        s.requests = self.counters.get_ok + self.counters.get_not_found + self.counters.publish_ok;
        s
    }

    fn maybe_status(&mut self, now: u64, out: &mut impl Write) -> Result<()> {
        if now < self.last_census_ns + STATUS_INTERVAL_NS {
            return Ok(());
        }
        self.last_census_ns = now;
        let s = self.status();
        // Repeat an unchanged census once a second so the coordinator sees we live.
        if self.last_status != Some(s) || now >= self.last_status_ns + 10 * STATUS_INTERVAL_NS {
            writeln!(out, "{}", Event::Status(s).encode()).context("writing status")?;
            self.last_status = Some(s);
            self.last_status_ns = now;
        }
        Ok(())
    }

    fn report(&self) -> WorkerReport {
        let mut stale = 0;
        for (local, md5) in &self.last_acked {
            if self.conns[*local as usize].md5s.first().copied().flatten() != Some(*md5) {
                stale += 1;
            }
        }
        WorkerReport {
            counters: self.counters.clone(),
            get: self.get_hist.to_pairs(),
            publish: self.publish_hist.to_pairs(),
            wake: self.wake_hist.to_pairs(),
            stale_at_end: stale,
            keys_checked: self.last_acked.len() as u64,
        }
    }
}
