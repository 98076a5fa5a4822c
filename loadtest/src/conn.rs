//! One client connection of a worker: what it is for, what it is waiting for,
//! and the socket plumbing (bind to a loopback source, nonblocking connect,
//! drain-until-`WouldBlock` reads and writes).
//!
//! Per-connection memory is kept small because a worker holds ~10,000 of
//! them: buffers are empty (unallocated) between requests of a listener, and a
//! listener stores one 16-byte md5 per key it listens to.

use crate::proto::{KeyId, Md5Digest};
use mio::net::TcpStream;
use socket2::{Domain, Protocol, Socket, Type};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};

/// What a connection does for the whole run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Long-polls its keys; `local` is its index among the worker's listeners.
    Listener { local: u32 },
    /// Loops GET requests.
    Getter,
    /// Loops publishes; `local` is its index among the worker's publishers.
    Publisher { local: u32 },
}

/// What a connection is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Not connected; a reconnect timer is armed (or the first connect is pending).
    Down,
    /// Nonblocking connect in progress.
    Connecting,
    /// Connected, nothing outstanding.
    Idle,
    /// A listener poll is outstanding.
    Listen,
    /// A GET of a woken key is outstanding.
    Fetch(KeyId),
    /// A benchmark GET is outstanding.
    Get,
    /// A publish is outstanding, with the md5 of the content sent.
    Publish(KeyId, Md5Digest),
    /// A watch stream is requested or open (see `Conn::watch`).
    Stream,
    /// A gRPC client's connection (see `Conn::grpc`): set up, listening, or
    /// in a call.
    Grpc,
}

/// A unary gRPC call in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    ServerCheck,
    Listen,
    Health,
    Query(KeyId),
}

/// A gRPC client's state; a fresh one per TCP connection.
#[derive(Default)]
pub struct Grpc {
    pub h2: crate::grpc::h2::H2Client,
    /// The bi-stream, once opened (0 before).
    pub bi: u32,
    /// The unary call in flight, and its stream.
    pub call: Option<(u32, Call)>,
    /// The server has answered a listen of every key.
    pub listening: bool,
    /// Queried keys changed the md5s held: listen again with them.
    pub relisten: bool,
}

/// A watcher's stream state; kept across reconnects for `Last-Event-ID`.
#[derive(Debug, Default)]
pub struct Watch {
    /// The response head has arrived: events are flowing.
    pub open: bool,
    pub chunked: bool,
    pub dechunk: crate::sse::Dechunker,
    pub parser: crate::sse::SseParser,
}

pub struct Conn {
    pub role: Role,
    pub phase: Phase,
    pub stream: Option<TcpStream>,
    /// Request bytes not yet written, from `out_pos`.
    pub out: Vec<u8>,
    pub out_pos: usize,
    /// Response bytes received and not yet parsed.
    pub inbuf: Vec<u8>,
    /// When the outstanding request (or connect) started.
    pub sent_ns: u64,
    /// Bumped whenever the outstanding request changes; timers carry it.
    pub seq: u32,
    /// Listener only: the md5 held per key (`None`: no content).
    pub md5s: Box<[Option<Md5Digest>]>,
    /// Listener only: woken keys still to GET before re-polling.
    /// Keys to GET after a wake-up, each with the newest version announced
    /// when the wake-up arrived (an older read is stale; a newer one is not).
    pub fetch_queue: Vec<(KeyId, u64)>,
    /// Listener only: when the last wake-up arrived.
    pub wake_ns: u64,
    /// Watcher only (`--sse`): the stream.
    pub watch: Option<Box<Watch>>,
    /// gRPC client only (`--grpc`).
    pub grpc: Option<Box<Grpc>>,
}

impl Conn {
    pub fn new(role: Role, keys: usize) -> Conn {
        Conn {
            role,
            phase: Phase::Down,
            stream: None,
            out: Vec::new(),
            out_pos: 0,
            inbuf: Vec::new(),
            sent_ns: 0,
            seq: 0,
            md5s: vec![None; keys].into_boxed_slice(),
            fetch_queue: Vec::new(),
            wake_ns: 0,
            watch: None,
            grpc: None,
        }
    }

    /// A listener whose poll has been written in full and not yet answered,
    /// a watcher whose stream is open, or a gRPC client whose listen of its
    /// current md5s has been answered and which has nothing left to fetch
    /// (a health check in flight does not count).
    pub fn is_parked(&self) -> bool {
        match self.phase {
            Phase::Listen => self.out_pos >= self.out.len(),
            Phase::Stream => self.watch.as_ref().is_some_and(|w| w.open),
            Phase::Grpc => self.grpc.as_ref().is_some_and(|g| {
                g.listening
                    && !g.relisten
                    && self.fetch_queue.is_empty()
                    && matches!(g.call, None | Some((_, Call::Health)))
            }),
            Phase::Down
            | Phase::Connecting
            | Phase::Idle
            | Phase::Fetch(_)
            | Phase::Get
            | Phase::Publish(..) => false,
        }
    }

    /// Writes pending output until done or `WouldBlock`. `Ok(true)` when all is written.
    pub fn flush(&mut self) -> io::Result<bool> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(false);
        };
        while self.out_pos < self.out.len() {
            match stream.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // Listeners keep nothing between polls; request loops reuse the buffer.
        if matches!(self.role, Role::Listener { .. }) {
            self.out = Vec::new();
        } else {
            self.out.clear();
        }
        self.out_pos = 0;
        Ok(true)
    }

    /// Reads until `WouldBlock` into `inbuf`. `Ok(true)` if the peer closed.
    pub fn fill(&mut self, scratch: &mut [u8]) -> io::Result<bool> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(true);
        };
        loop {
            match stream.read(scratch) {
                Ok(0) => return Ok(true),
                Ok(n) => self.inbuf.extend_from_slice(&scratch[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// After a writable event during `Connecting`: `Ok(true)` once connected,
    /// `Ok(false)` if the event was spurious.
    pub fn check_connected(&mut self) -> io::Result<bool> {
        let Some(stream) = self.stream.as_ref() else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        if let Some(e) = stream.take_error()? {
            return Err(e);
        }
        match stream.peer_addr() {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// A nonblocking socket bound to `source` (port chosen by the kernel) with a
/// connect to `server` under way. Binding spreads ephemeral ports over several
/// loopback addresses, each with its own port range.
pub fn start_connect(source: Ipv4Addr, server: SocketAddr) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_nodelay(true)?;
    socket.bind(&SocketAddr::new(source.into(), 0).into())?;
    match socket.connect(&server.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INPROGRESS.raw_os_error()) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(socket.into()))
}
