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
use crate::http::{parse_response, Parsed};
use crate::msg::{Command, Counters, Event, Plan, Status, WorkerReport};
use crate::proto::{KeyId, KeySpace, Md5Digest};
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

/// Where a worker's events go: stdout lines (a worker process) or a channel
/// (a worker thread inside the coordinator's process, see `fleet`).
pub trait Sink {
    fn emit(&mut self, ev: Event) -> Result<()>;
    fn flush(&mut self) -> Result<()>;
}

/// Events as lines on stdout, the pipe to the coordinator process.
struct LineSink<W: Write>(W);

impl<W: Write> Sink for LineSink<W> {
    fn emit(&mut self, ev: Event) -> Result<()> {
        writeln!(self.0, "{}", ev.encode()).context("writing to the coordinator")
    }
    fn flush(&mut self) -> Result<()> {
        self.0.flush().context("flushing to the coordinator")
    }
}

/// Events sent straight to the coordinator thread, tagged with the worker number.
pub struct ChannelSink {
    pub worker: usize,
    pub tx: mpsc::Sender<(usize, Option<Event>)>,
}

impl Sink for ChannelSink {
    fn emit(&mut self, ev: Event) -> Result<()> {
        self.tx
            .send((self.worker, Some(ev)))
            .map_err(|_| anyhow::anyhow!("the coordinator is gone"))
    }
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Runs a worker process until told to stop: commands on stdin, events on stdout.
pub fn run(plan: Plan) -> Result<()> {
    let poll = Poll::new().context("creating the poller")?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER).context("creating the waker")?);
    let commands = spawn_stdin_reader(waker);
    let stdout = std::io::BufWriter::new(std::io::stdout().lock());
    run_loop(plan, poll, commands, &mut LineSink(stdout))
}

/// A worker running on a thread of this process: send it commands through
/// `commands` and wake its loop with `waker`; its events arrive on the
/// channel given to [`spawn_thread`], then `(worker, None)` when it ends.
pub struct ThreadWorker {
    pub commands: mpsc::Sender<Command>,
    pub waker: Arc<Waker>,
    pub handle: std::thread::JoinHandle<()>,
}

/// Starts a worker on a thread; errors it meets are sent as an `Error` event.
pub fn spawn_thread(
    plan: Plan,
    worker: usize,
    events: mpsc::Sender<(usize, Option<Event>)>,
) -> Result<ThreadWorker> {
    let poll = Poll::new().context("creating the poller")?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER).context("creating the waker")?);
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name(format!("loadtest-worker-{worker}"))
        .spawn(move || {
            let mut sink = ChannelSink {
                worker,
                tx: events.clone(),
            };
            if let Err(e) = run_loop(plan, poll, rx, &mut sink) {
                let _ = events.send((
                    worker,
                    Some(Event::Error(format!("worker {worker}: {e:#}"))),
                ));
            }
            let _ = events.send((worker, None));
        })
        .context("starting a worker thread")?;
    Ok(ThreadWorker {
        commands: tx,
        waker,
        handle,
    })
}

/// The event loop of one worker, until it is told to stop, its command
/// channel closes, or its deadline passes; the final report is its last event.
fn run_loop(
    plan: Plan,
    mut poll: Poll,
    commands: Receiver<Command>,
    sink: &mut dyn Sink,
) -> Result<()> {
    let mut w = Worker::new(plan);
    let mut events = Events::with_capacity(EVENTS_CAPACITY);
    let mut scratch = vec![0u8; READ_CHUNK_BYTES];
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
            sink.emit(ev)?;
        }
        w.maybe_status(now, sink)?;
        if w.stopping {
            sink.emit(Event::Report(Box::new(w.report())))?;
            return sink.flush();
        }
        sink.flush()?;
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
    /// `Host` header per server.
    hosts: Vec<String>,
    /// Keys this worker's publishers wrote.
    published: std::collections::BTreeSet<KeyId>,
    space: KeySpace,
    conns: Vec<Conn>,
    timers: BinaryHeap<TimerEntry>,
    counters: Counters,
    get_hist: Hist,
    publish_hist: Hist,
    wake_hist: Hist,
    /// Versions the coordinator announced for keys it publishes.
    versions: HashMap<KeyId, u64>,
    /// The version a wake-up demands, where a burst announced later ones ahead.
    floors: HashMap<KeyId, u64>,
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
    /// Last `requestId` of a gRPC call.
    grpc_request_id: u64,
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
        let keys = plan.keys.len();
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
        let hosts = plan.servers.iter().map(|s| s.to_string()).collect();
        Worker {
            space: KeySpace::new(&plan.run),
            hosts,
            published: std::collections::BTreeSet::new(),
            conns,
            timers: BinaryHeap::new(),
            counters: Counters::default(),
            get_hist: Hist::new(),
            publish_hist: Hist::new(),
            wake_hist: Hist::new(),
            versions: HashMap::new(),
            floors: HashMap::new(),
            running: false,
            stopping: false,
            deadline_ns: now + plan.deadline_ms * 1_000_000,
            next_to_open: 0,
            connecting: 0,
            rng: 0x9E37_79B9_7F4A_7C15
                ^ (u64::from(plan.worker) + 1).wrapping_mul(0xD1B5_4A32_D192_ED03),
            publish_seq: 0,
            grpc_request_id: 0,
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

    /// Connection `i`'s index among all connections of its role in the run.
    fn global_index(&self, i: usize) -> usize {
        match self.conns[i].role {
            Role::Listener { local } => (self.plan.listener_first + local) as usize,
            Role::Getter => self.plan.getter_first as usize + (i - self.first_getter),
            Role::Publisher { local } => (self.plan.publisher_first + local) as usize,
        }
    }

    fn source_for(&self, i: usize) -> std::net::Ipv4Addr {
        let spread = match self.conns[i].role {
            Role::Listener { .. } => 0,
            _ => 7919,
        };
        self.plan.sources[(self.global_index(i) + spread) % self.plan.sources.len()]
    }

    /// Which of the plan's servers connection `i` talks to.
    pub(super) fn server_of(&self, i: usize) -> usize {
        self.global_index(i) % self.plan.servers.len().max(1)
    }

    fn connect(&mut self, poll: &Poll, i: usize, now: u64) {
        let source = self.source_for(i);
        let server = match self.conns[i].role {
            Role::Listener { .. } if self.plan.grpc => self.plan.grpc_servers[self.server_of(i)],
            Role::Listener { .. } | Role::Getter | Role::Publisher { .. } => {
                self.plan.servers[self.server_of(i)]
            }
        };
        let conn = &mut self.conns[i];
        conn.seq = conn.seq.wrapping_add(1);
        match start_connect(source, server) {
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
        conn.grpc = None;
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
        if self.conns[i].phase == Phase::Stream {
            self.on_stream_bytes(poll, i, now, closed);
            return;
        }
        if self.conns[i].phase == Phase::Grpc {
            self.on_grpc_bytes(poll, i, now, closed);
            return;
        }
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
                (TimerKind::Next, Phase::Grpc) => self.grpc_next(poll, i, now, true),
                (TimerKind::Timeout, Phase::Connecting) => {
                    self.fail(poll, i, now, "connect timed out".into());
                }
                (
                    TimerKind::Timeout,
                    Phase::Listen
                    | Phase::Fetch(_)
                    | Phase::Get
                    | Phase::Publish(..)
                    | Phase::Stream
                    | Phase::Grpc,
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
                self.floors.insert(key, v);
            }
            Command::Ahead(key, v) => {
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
        let mut s = Status {
            parked_by_server: vec![0; self.plan.servers.len()],
            ..Status::default()
        };
        for (i, c) in self.conns.iter().enumerate() {
            if !matches!(c.phase, Phase::Down | Phase::Connecting) {
                s.open += 1;
            }
            if c.is_parked() {
                s.parked += 1;
                s.parked_by_server[self.server_of(i)] += 1;
            }
        }
        s.wakes = self.counters.wakes;
        s.errors = self.counters.errors();
        s.requests = self.counters.get_ok + self.counters.get_not_found + self.counters.publish_ok;
        s
    }

    fn maybe_status(&mut self, now: u64, out: &mut dyn Sink) -> Result<()> {
        if now < self.last_census_ns + STATUS_INTERVAL_NS {
            return Ok(());
        }
        self.last_census_ns = now;
        let s = self.status();
        // Repeat an unchanged census once a second so the coordinator sees we live.
        if self.last_status.as_ref() != Some(&s)
            || now >= self.last_status_ns + 10 * STATUS_INTERVAL_NS
        {
            self.last_status = Some(s.clone());
            out.emit(Event::Status(s))?;
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
            published: self.published.iter().copied().collect(),
        }
    }
}

mod grpc;
mod requests;
mod watch;
