//! One connection: its socket, what it is doing, its input buffer and its
//! output queue.
//!
//! The output queue holds response heads (and small bodies) in owned
//! buffers, and config bodies as shared references to the cached,
//! immutable config: a thousand GETs of a 100 KB config queue a thousand
//! small heads and a thousand pointers, never a thousand copies. They go out
//! with vectored writes.

use crate::api::Rendering;
use crate::http;
use crate::index::SubId;
use crate::model::Config;
use crate::msg::Reply;
use crate::wheel::TimerId;
use std::collections::{BTreeMap, VecDeque};
use std::io::{self, IoSlice, Write};
use std::net::SocketAddr;
use std::sync::Arc;

/// Config bodies up to this size are copied next to their head (one slice,
/// no reference count traffic); larger ones are shared.
const COPY_BODY_BYTES: usize = 1024;
/// Most slices handed to one vectored write.
const MAX_IOVECS: usize = 64;

/// What a connection is doing; each state carries the data only it needs.
pub(super) enum State {
    /// Reading and answering requests. `partial`: a started request is
    /// buffered, and its request deadline is set.
    Reading { partial: bool },
    /// A request is with another thread, or its answer is held back; later
    /// requests wait behind it. `close`: close after that answer.
    Awaiting { close: bool, wait: Wait },
    /// A long poll is parked in the index.
    Parked { park: SubId, close: bool },
    /// A watch stream: linked in the index for good, answering nothing
    /// more on this connection.
    Streaming(Box<Streaming>),
    /// A connection on the gRPC port (HTTP/2), for its whole life.
    Grpc(Box<super::grpc::GrpcConn>),
}

/// A watch stream's connection state.
pub(super) struct Streaming {
    pub stream: SubId,
    /// The last event id sent (or the one the client resumed from).
    pub last_id: u64,
    /// Snapshot keys not sent yet (sent as the output drains, so a large
    /// namespace never sits in memory as events); `None` once the
    /// snapshot's closing `id:` line has gone out (or there was none).
    pub snapshot: Option<Vec<Box<str>>>,
}

/// What an awaiting connection waits for.
pub(super) enum Wait {
    /// The writer, the reader or a password check answers through the
    /// inbox; the answer is rendered so (`api::render_answer`).
    Thread(Rendering),
    /// An answer held back on purpose (a refused long poll) until the
    /// connection's deadline.
    Later(Reply),
    /// A listener-status query gathering every reactor's part, rendered
    /// so once complete.
    Listeners {
        pending: usize,
        found: BTreeMap<String, String>,
        rendering: Rendering,
    },
}

impl State {
    pub(super) fn is_reading(&self) -> bool {
        matches!(self, State::Reading { .. })
    }
}

pub(super) struct Conn {
    pub stream: super::tls::Transport,
    pub peer: SocketAddr,
    /// Tells this connection from a later one in the same slab slot.
    pub generation: u32,
    pub state: State,
    pub inbuf: Vec<u8>,
    pub out: Output,
    pub timer: Option<TimerId>,
    /// Tick the armed timer fires at.
    pub timer_tick: u64,
    /// Tick at which the current state times out.
    pub deadline_tick: u64,
    /// Close once the output is flushed.
    pub closing: bool,
    /// The peer sent EOF.
    pub read_closed: bool,
    /// How much of `inbuf` is counted in the process-wide buffered total.
    pub buffered: usize,
}

impl Conn {
    pub(super) fn new(stream: super::tls::Transport, peer: SocketAddr, generation: u32) -> Conn {
        Conn {
            stream,
            peer,
            generation,
            state: State::Reading { partial: false },
            inbuf: Vec::new(),
            out: Output::default(),
            timer: None,
            timer_tick: 0,
            deadline_tick: 0,
            closing: false,
            read_closed: false,
            buffered: 0,
        }
    }

    /// Queues a response with `head` lines (each ending in CRLF).
    pub(super) fn respond(&mut self, status: u16, head: &[u8], body: &[u8], close: bool) {
        self.out
            .append(|v| http::write_response(v, status, head, body, close));
        self.closing |= close;
    }

    /// Queues a finished reply as JSON (a download carries its own head).
    pub(super) fn reply(&mut self, reply: &Reply, close: bool) {
        if reply.download {
            self.respond(
                reply.status,
                reply.extra_head.as_bytes(),
                &reply.body,
                close,
            );
        } else if reply.extra_head.is_empty() {
            self.respond(reply.status, crate::api::JSON, &reply.body, close);
        } else {
            let head = [crate::api::JSON, reply.extra_head.as_bytes()].concat();
            self.respond(reply.status, &head, &reply.body, close);
        }
    }

    /// Queues a config GET answer: `head` then the config's content, shared.
    pub(super) fn respond_config(&mut self, head: &[u8], config: &Arc<Config>, close: bool) {
        let body = config.content.as_bytes();
        if body.len() <= COPY_BODY_BYTES {
            self.respond(200, head, body, close);
            return;
        }
        self.out
            .append(|v| http::write_head(v, 200, head, body.len(), close));
        self.out.push_shared(config.clone());
        self.closing |= close;
    }
}

/// Bytes queued for the socket.
#[derive(Default)]
pub(super) struct Output {
    chunks: VecDeque<Chunk>,
    /// Bytes of the front chunk already written.
    front_pos: usize,
    /// Unsent bytes over all chunks.
    pending: usize,
}

enum Chunk {
    Owned(Vec<u8>),
    /// Bytes built once and shared by every connection they go to (an
    /// event sent to thousands of streams).
    Bytes(Arc<[u8]>),
    /// A config's content, shared with the cache.
    Shared(Arc<Config>),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Owned(v) => v,
            Chunk::Bytes(b) => b,
            Chunk::Shared(c) => c.content.as_bytes(),
        }
    }
}

impl Output {
    /// Unsent bytes.
    pub(super) fn pending(&self) -> usize {
        self.pending
    }

    pub(super) fn is_empty(&self) -> bool {
        self.pending == 0
    }

    /// Appends bytes written by `f` to the owned buffer at the tail (a new
    /// one when the tail is shared or is the front being written, so a
    /// written prefix is never kept alive by later appends).
    fn append(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        let tail_writable = self.chunks.len() > 1 || self.front_pos == 0;
        match self.chunks.back_mut() {
            Some(Chunk::Owned(v)) if tail_writable => {
                let before = v.len();
                f(v);
                self.pending += v.len() - before;
            }
            _ => {
                let mut v = Vec::new();
                f(&mut v);
                self.pending += v.len();
                self.chunks.push_back(Chunk::Owned(v));
            }
        }
    }

    /// Queues shared bytes (small ones are copied: cheaper than a slice).
    pub(super) fn push_bytes(&mut self, bytes: &Arc<[u8]>) {
        if bytes.len() <= 256 {
            self.append(|v| v.extend_from_slice(bytes));
        } else {
            self.pending += bytes.len();
            self.chunks.push_back(Chunk::Bytes(bytes.clone()));
        }
    }

    /// Queues owned bytes.
    pub(super) fn push(&mut self, bytes: &[u8]) {
        self.append(|v| v.extend_from_slice(bytes));
    }

    fn push_shared(&mut self, config: Arc<Config>) {
        self.pending += config.content.len();
        self.chunks.push_back(Chunk::Shared(config));
    }

    /// Drops everything unsent.
    pub(super) fn clear(&mut self) {
        *self = Output::default();
    }

    /// Writes until everything is sent or the socket would block; returns
    /// the bytes written. Errors other than `WouldBlock` are the caller's.
    pub(super) fn write_to(&mut self, w: &mut impl Write) -> io::Result<usize> {
        let mut total = 0;
        while self.pending > 0 {
            let result = if self.chunks.len() == 1 {
                // The usual case, one response in one buffer: a plain write.
                w.write(&self.chunks[0].bytes()[self.front_pos..])
            } else {
                let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                let mut n = 0;
                for (i, chunk) in self.chunks.iter().take(MAX_IOVECS).enumerate() {
                    let bytes = chunk.bytes();
                    slices[i] = IoSlice::new(if i == 0 {
                        &bytes[self.front_pos..]
                    } else {
                        bytes
                    });
                    n = i + 1;
                }
                w.write_vectored(&slices[..n])
            };
            match result {
                Ok(0) => break,
                Ok(written) => {
                    self.consume(written);
                    total += written;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        if self.pending == 0 {
            // Release the queue's memory: an idle or parked connection
            // holds no buffers.
            self.clear();
        }
        Ok(total)
    }

    fn consume(&mut self, mut n: usize) {
        self.pending -= n;
        while n > 0 {
            let Some(front) = self.chunks.front() else {
                break;
            };
            let left = front.bytes().len() - self.front_pos;
            if n >= left {
                n -= left;
                self.chunks.pop_front();
                self.front_pos = 0;
            } else {
                self.front_pos += n;
                n = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes at most `cap` bytes per call.
    struct Trickle {
        got: Vec<u8>,
        cap: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(self.cap);
            if n == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn config(content: &str) -> Arc<Config> {
        Arc::new(Config::new(
            1,
            "d".into(),
            "g".into(),
            "".into(),
            content.into(),
            "text",
            None,
            0,
        ))
    }

    #[test]
    fn shared_bodies_go_out_in_order_across_short_writes() {
        let big = "x".repeat(5000);
        let c = config(&big);
        for cap in [1, 7, 4096, usize::MAX] {
            let mut out = Output::default();
            let mut expected = Vec::new();
            for i in 0..3 {
                let head = format!("head{i}|");
                out.append(|v| v.extend_from_slice(head.as_bytes()));
                out.push_shared(c.clone());
                expected.extend_from_slice(head.as_bytes());
                expected.extend_from_slice(big.as_bytes());
            }
            // One copy of the content, however many answers are queued.
            assert_eq!(Arc::strong_count(&c), 4);
            assert_eq!(out.pending(), expected.len());
            let mut w = Trickle {
                got: Vec::new(),
                cap,
            };
            assert_eq!(out.write_to(&mut w).unwrap(), expected.len());
            assert_eq!(w.got, expected, "cap {cap}");
            assert!(out.is_empty());
            assert_eq!(Arc::strong_count(&c), 1);
        }
    }

    #[test]
    fn appends_after_a_partial_write_keep_the_order() {
        let mut out = Output::default();
        out.append(|v| v.extend_from_slice(b"abcdef"));
        out.consume(3);
        out.append(|v| v.extend_from_slice(b"ghi"));
        let mut w = Trickle {
            got: Vec::new(),
            cap: 2,
        };
        out.write_to(&mut w).unwrap();
        assert_eq!(w.got, b"defghi");
    }
}
