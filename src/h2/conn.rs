//! [`Conn`]: one HTTP/2 server connection's state, driven by
//! [`Conn::receive`] and the `send_*` calls. Frame rules follow RFC 9113 §5
//! and §6; the stream table is a `Vec` ordered by stream id (a gRPC client
//! holds one or two streams).
//!
//! Stream life: a stream enters the table when its request HEADERS are
//! decoded and leaves when both sides are done. Our side is done once the
//! trailers (or the END_STREAM of a non-gRPC answer) are written; if the
//! client is still sending then, a gRPC stream is reset with NO_ERROR (as
//! RFC 9113 §8.1 allows and grpc-go does), while a non-gRPC answer waits for
//! the client's END_STREAM, so its DATA is still checked and discarded.

use super::flow::{RecvWindow, SendWindow};
use super::frame::{self, Head};
use super::hpack::{self, Decoder};
use super::{ConnError, ErrorCode, Event, Limits};

/// What ends our side once the queued DATA has left.
#[derive(Debug, PartialEq, Eq)]
enum Fin {
    /// Nothing yet.
    No,
    /// END_STREAM on the last DATA frame (non-gRPC answers).
    Data,
    /// This trailer block (without the table-size prefix).
    Trailers(Vec<u8>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Local {
    /// No response HEADERS written yet.
    Idle,
    /// Response HEADERS written.
    Open,
    /// END_STREAM written.
    Done,
}

struct Stream {
    id: u32,
    /// The client may still send (no END_STREAM yet).
    remote_open: bool,
    local: Local,
    /// The application saw `Open` (a gRPC stream); else we answered it.
    visible: bool,
    fin: Fin,
    send: SendWindow,
    recv: RecvWindow,
    /// Bytes of an incomplete gRPC message, prefix included.
    inbound: Vec<u8>,
    /// DATA payload waiting for the peer's window; `out_sent` bytes of it
    /// have left.
    outbound: Vec<u8>,
    out_sent: usize,
    content_length: Option<u64>,
    data_len: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the client preface.
    Preface,
    /// The preface arrived; the next frame must be the client's SETTINGS.
    FirstSettings,
    Running,
    Failed(ConnError),
}

/// One connection's HTTP/2 state.
pub struct Conn {
    limits: Limits,
    phase: Phase,
    decoder: Decoder,
    streams: Vec<Stream>,
    /// Highest stream id the client has used.
    max_stream: u32,
    /// A header block waiting for CONTINUATION frames (`block_stream` 0:
    /// none), and the flags of the HEADERS frame that opened it.
    block: Vec<u8>,
    block_stream: u32,
    block_flags: u8,
    /// The connection windows: ours, and the peer's for our DATA.
    recv: RecvWindow,
    send: SendWindow,
    peer_initial_window: u32,
    peer_max_frame: u32,
    settings_acked: bool,
    /// Our first header block opened with a table size update to 0.
    table_zeroed: bool,
    goaway_sent: bool,
}

/// A flag bit of `block_flags` meaning "the HEADERS depended on itself".
const SELF_DEPENDENT: u8 = frame::FLAG_PRIORITY;

/// The body of our answer to a request that is not gRPC.
const NOT_GRPC: &[u8] = b"This port serves gRPC: POST with content-type application/grpc.\n";

impl Conn {
    pub fn new(limits: &Limits) -> Conn {
        let mut limits = *limits;
        limits.max_frame_size = limits
            .max_frame_size
            .clamp(frame::DEFAULT_MAX_FRAME_SIZE, frame::MAX_MAX_FRAME_SIZE);
        limits.initial_window = limits.initial_window.min(frame::MAX_WINDOW as u32);
        Conn {
            limits,
            phase: Phase::Preface,
            decoder: Decoder::new(),
            streams: Vec::new(),
            max_stream: 0,
            block: Vec::new(),
            block_stream: 0,
            block_flags: 0,
            recv: RecvWindow::new(frame::DEFAULT_WINDOW),
            send: SendWindow::new(frame::DEFAULT_WINDOW),
            peer_initial_window: frame::DEFAULT_WINDOW,
            peer_max_frame: frame::DEFAULT_MAX_FRAME_SIZE,
            settings_acked: false,
            table_zeroed: false,
            goaway_sent: false,
        }
    }

    /// Consumes as many whole frames of `input` as it can (the client
    /// preface first) and returns how many bytes that was. Events go to
    /// `events`, protocol output to `out`. On a connection error GOAWAY is
    /// in `out` and the error is returned (now and on every later call).
    pub fn receive(
        &mut self,
        input: &[u8],
        events: &mut Vec<Event>,
        out: &mut Vec<u8>,
    ) -> Result<usize, ConnError> {
        if let Phase::Failed(e) = self.phase {
            return Err(e);
        }
        let mut pos = 0;
        if self.phase == Phase::Preface {
            let n = input.len().min(frame::PREFACE.len());
            if input[..n] != frame::PREFACE[..n] {
                return Err(self.fail(
                    ConnError::new(ErrorCode::Protocol, "bad connection preface"),
                    out,
                ));
            }
            if n < frame::PREFACE.len() {
                return Ok(0);
            }
            self.write_preface(out);
            self.phase = Phase::FirstSettings;
            pos = n;
        }
        while let Some(head) = Head::parse(&input[pos..]) {
            if head.len > self.limits.max_frame_size {
                return Err(self.fail(
                    ConnError::new(
                        ErrorCode::FrameSize,
                        "frame larger than SETTINGS_MAX_FRAME_SIZE",
                    ),
                    out,
                ));
            }
            let end = pos + frame::HEAD_LEN + head.len as usize;
            if input.len() < end {
                break;
            }
            let payload = &input[pos + frame::HEAD_LEN..end];
            pos = end;
            if let Err(e) = self.frame(head, payload, events, out) {
                return Err(self.fail(e, out));
            }
        }
        Ok(pos)
    }

    /// Response headers (`:status 200`, `content-type: application/grpc`).
    pub fn send_headers(&mut self, stream: u32, out: &mut Vec<u8>) {
        if let Some(i) = self.find(stream) {
            if self.streams[i].visible && self.streams[i].local == Local::Idle {
                let mut block = Vec::new();
                hpack::write_response_head(&mut block, 200, b"application/grpc");
                self.write_block(stream, 0, &block, out);
                self.streams[i].local = Local::Open;
            }
        }
    }

    /// One gRPC message as DATA frames within the peer's windows (response
    /// headers first if not yet sent); the rest waits in the stream. False
    /// if the stream is not open for sending.
    pub fn send_message(&mut self, stream: u32, msg: &[u8], out: &mut Vec<u8>) -> bool {
        let Some(i) = self.find(stream) else {
            return false;
        };
        let Ok(len) = u32::try_from(msg.len()) else {
            return false;
        };
        let s = &self.streams[i];
        if !s.visible || s.local == Local::Done || s.fin != Fin::No {
            return false;
        }
        if s.local == Local::Idle {
            self.send_headers(stream, out);
        }
        let mut prefix = [0u8; 5];
        prefix[1..].copy_from_slice(&len.to_be_bytes());
        let total = prefix.len() + msg.len();
        let max_frame = self.peer_max_frame as usize;
        let s = &mut self.streams[i];
        let mut sent = 0;
        if s.outbound.is_empty() {
            while sent < total {
                let n = (total - sent)
                    .min(self.send.available())
                    .min(s.send.available())
                    .min(max_frame);
                if n == 0 {
                    break;
                }
                frame::write_head(out, n, frame::DATA, 0, stream);
                copy_range(out, &prefix, msg, sent, sent + n);
                self.send.spend(n);
                s.send.spend(n);
                sent += n;
            }
        }
        if sent < total {
            s.outbound.reserve_exact(total - sent);
            copy_range(&mut s.outbound, &prefix, msg, sent, total);
        }
        true
    }

    /// Trailers (grpc-status, grpc-message) with END_STREAM, after any
    /// queued DATA; a trailers-only response if no headers were sent.
    pub fn send_trailers(&mut self, stream: u32, status: u32, message: &str, out: &mut Vec<u8>) {
        let Some(i) = self.find(stream) else { return };
        let s = &self.streams[i];
        if !s.visible || s.local == Local::Done || s.fin != Fin::No {
            return;
        }
        let mut block = Vec::new();
        if s.local == Local::Idle {
            hpack::write_response_head(&mut block, 200, b"application/grpc");
        }
        hpack::write_grpc_status(&mut block, status, message);
        self.streams[i].fin = Fin::Trailers(block);
        self.flush(i, out);
    }

    /// A trailers-only response (HEADERS with :status 200 and grpc-status,
    /// END_STREAM), for a refused method or an error before any message;
    /// the same as [`Conn::send_trailers`] once headers were sent.
    pub fn send_trailers_only(
        &mut self,
        stream: u32,
        status: u32,
        message: &str,
        out: &mut Vec<u8>,
    ) {
        self.send_trailers(stream, status, message, out);
    }

    /// RST_STREAM with `code`; the stream is forgotten (no event).
    pub fn reset(&mut self, stream: u32, code: ErrorCode, out: &mut Vec<u8>) {
        if let Some(i) = self.find(stream) {
            frame::write_rst_stream(out, stream, code);
            self.remove(i);
        }
    }

    /// GOAWAY naming the last stream we processed; streams the client opens
    /// afterwards are refused.
    pub fn go_away(&mut self, code: ErrorCode, out: &mut Vec<u8>) {
        if !matches!(self.phase, Phase::Failed(_)) {
            frame::write_goaway(out, self.max_stream, code);
            self.goaway_sent = true;
        }
    }

    /// Bytes queued waiting for the peer's window.
    pub fn queued_bytes(&self) -> usize {
        self.streams
            .iter()
            .map(|s| {
                let trailers = match &s.fin {
                    Fin::Trailers(b) => b.len(),
                    Fin::No | Fin::Data => 0,
                };
                s.outbound.len() - s.out_sent + trailers
            })
            .sum()
    }

    /// True if no stream is open.
    pub fn is_idle(&self) -> bool {
        self.streams.is_empty()
    }

    /// Heap bytes this connection holds (Vec capacities; the HPACK table is
    /// empty once the peer acknowledged our SETTINGS): for memory tests.
    pub fn heap_bytes(&self) -> usize {
        let streams = self.streams.capacity() * std::mem::size_of::<Stream>();
        let buffers: usize = self
            .streams
            .iter()
            .map(|s| {
                let fin = match &s.fin {
                    Fin::Trailers(b) => b.capacity(),
                    Fin::No | Fin::Data => 0,
                };
                s.inbound.capacity() + s.outbound.capacity() + fin
            })
            .sum();
        streams + buffers + self.block.capacity()
    }

    fn fail(&mut self, e: ConnError, out: &mut Vec<u8>) -> ConnError {
        if self.phase == Phase::Preface {
            self.write_preface(out);
        }
        frame::write_goaway(out, self.max_stream, e.code);
        self.phase = Phase::Failed(e);
        e
    }

    /// Our SETTINGS, and the connection window raised to `initial_window`.
    fn write_preface(&mut self, out: &mut Vec<u8>) {
        let l = &self.limits;
        frame::write_settings(
            out,
            &[
                (frame::SETTINGS_HEADER_TABLE_SIZE, l.header_table_size),
                (frame::SETTINGS_ENABLE_PUSH, 0),
                (
                    frame::SETTINGS_MAX_CONCURRENT_STREAMS,
                    l.max_concurrent_streams,
                ),
                (frame::SETTINGS_INITIAL_WINDOW_SIZE, l.initial_window),
                (frame::SETTINGS_MAX_FRAME_SIZE, l.max_frame_size),
                (frame::SETTINGS_MAX_HEADER_LIST_SIZE, l.max_header_list),
            ],
        );
        if let Some(inc) = self.recv.grow_to(self.conn_window()) {
            frame::write_window_update(out, 0, inc);
        }
    }

    /// Our connection window (never below the protocol's 65,535).
    fn conn_window(&self) -> u32 {
        self.limits.initial_window.max(frame::DEFAULT_WINDOW)
    }

    /// A new stream's receive window: what we advertise, but at least
    /// 65,535, which the peer may use until it has our SETTINGS.
    fn stream_window(&self) -> u32 {
        self.limits.initial_window.max(frame::DEFAULT_WINDOW)
    }

    fn find(&self, id: u32) -> Option<usize> {
        self.streams.binary_search_by_key(&id, |s| s.id).ok()
    }

    fn remove(&mut self, i: usize) {
        self.streams.remove(i);
        // A connection keeps one long stream and short unary ones: an idle
        // one holds exactly its streams (a unary call costs one realloc).
        if self.streams.capacity() > self.streams.len() {
            self.streams.shrink_to_fit();
        }
    }

    fn frame(
        &mut self,
        head: Head,
        payload: &[u8],
        events: &mut Vec<Event>,
        out: &mut Vec<u8>,
    ) -> Result<(), ConnError> {
        use ErrorCode::{FrameSize, Protocol};
        if self.phase == Phase::FirstSettings {
            if head.kind != frame::SETTINGS || head.has(frame::FLAG_ACK) {
                return Err(ConnError::new(
                    Protocol,
                    "the client preface must end with SETTINGS",
                ));
            }
            self.phase = Phase::Running;
        }
        if self.block_stream != 0 && head.kind != frame::CONTINUATION {
            return Err(ConnError::new(Protocol, "frame inside a header block"));
        }
        match head.kind {
            frame::DATA => self.on_data(head, payload, events, out),
            frame::HEADERS => self.on_headers(head, payload, events, out),
            frame::CONTINUATION => self.on_continuation(head, payload, events, out),
            frame::PRIORITY => {
                if head.stream == 0 {
                    return Err(ConnError::new(Protocol, "PRIORITY on stream 0"));
                }
                if payload.len() != 5 {
                    return Err(ConnError::new(FrameSize, "PRIORITY of other than 5 bytes"));
                }
                if frame::u31_at(payload, 0) == head.stream {
                    self.stream_error(head.stream, Protocol, events, out);
                }
                Ok(())
            }
            frame::RST_STREAM => {
                if head.stream == 0 {
                    return Err(ConnError::new(Protocol, "RST_STREAM on stream 0"));
                }
                if payload.len() != 4 {
                    return Err(ConnError::new(
                        FrameSize,
                        "RST_STREAM of other than 4 bytes",
                    ));
                }
                if head.stream > self.max_stream {
                    return Err(ConnError::new(Protocol, "RST_STREAM on an idle stream"));
                }
                if let Some(i) = self.find(head.stream) {
                    if self.streams[i].visible {
                        events.push(Event::Reset {
                            stream: head.stream,
                        });
                    }
                    self.remove(i);
                }
                Ok(())
            }
            frame::SETTINGS => self.on_settings(head, payload, out),
            frame::PUSH_PROMISE => Err(ConnError::new(Protocol, "PUSH_PROMISE from a client")),
            frame::PING => {
                if head.stream != 0 {
                    return Err(ConnError::new(Protocol, "PING on a stream"));
                }
                if payload.len() != 8 {
                    return Err(ConnError::new(FrameSize, "PING of other than 8 bytes"));
                }
                if !head.has(frame::FLAG_ACK) {
                    frame::write_ping_ack(out, payload);
                }
                Ok(())
            }
            frame::GOAWAY => {
                if head.stream != 0 {
                    return Err(ConnError::new(Protocol, "GOAWAY on a stream"));
                }
                if payload.len() < 8 {
                    return Err(ConnError::new(FrameSize, "GOAWAY shorter than 8 bytes"));
                }
                events.push(Event::GoAway);
                Ok(())
            }
            frame::WINDOW_UPDATE => self.on_window_update(head, payload, events, out),
            // RFC 9113 §4.1: frames of unknown type are ignored.
            _ => Ok(()),
        }
    }

    fn on_settings(
        &mut self,
        head: Head,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), ConnError> {
        use ErrorCode::{FlowControl, FrameSize, Protocol};
        if head.stream != 0 {
            return Err(ConnError::new(Protocol, "SETTINGS on a stream"));
        }
        if head.has(frame::FLAG_ACK) {
            if !payload.is_empty() {
                return Err(ConnError::new(FrameSize, "SETTINGS ACK with a payload"));
            }
            if !self.settings_acked {
                self.settings_acked = true;
                self.decoder
                    .peer_acked_table_size(self.limits.header_table_size);
            }
            return Ok(());
        }
        if !payload.len().is_multiple_of(6) {
            return Err(ConnError::new(
                FrameSize,
                "SETTINGS not a multiple of 6 bytes",
            ));
        }
        for setting in payload.chunks_exact(6) {
            let id = u16::from_be_bytes([setting[0], setting[1]]);
            let value = frame::u32_at(setting, 2);
            match id {
                frame::SETTINGS_ENABLE_PUSH if value > 1 => {
                    return Err(ConnError::new(Protocol, "SETTINGS_ENABLE_PUSH not 0 or 1"));
                }
                frame::SETTINGS_INITIAL_WINDOW_SIZE => {
                    if i64::from(value) > frame::MAX_WINDOW {
                        return Err(ConnError::new(
                            FlowControl,
                            "SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1",
                        ));
                    }
                    let delta = i64::from(value) - i64::from(self.peer_initial_window);
                    for s in &mut self.streams {
                        s.send.adjust(delta).map_err(|_| {
                            ConnError::new(FlowControl, "a stream window over 2^31-1")
                        })?;
                    }
                    self.peer_initial_window = value;
                }
                frame::SETTINGS_MAX_FRAME_SIZE => {
                    if !(frame::DEFAULT_MAX_FRAME_SIZE..=frame::MAX_MAX_FRAME_SIZE).contains(&value)
                    {
                        return Err(ConnError::new(
                            Protocol,
                            "SETTINGS_MAX_FRAME_SIZE out of range",
                        ));
                    }
                    self.peer_max_frame = value;
                }
                // Our encoder never indexes (and zeroes its table in its
                // first block); we never push; our header blocks are a few
                // dozen bytes; unknown settings are ignored (§6.5.2).
                _ => {}
            }
        }
        frame::write_settings_ack(out);
        self.flush_all(out);
        Ok(())
    }

    fn on_window_update(
        &mut self,
        head: Head,
        payload: &[u8],
        events: &mut Vec<Event>,
        out: &mut Vec<u8>,
    ) -> Result<(), ConnError> {
        use ErrorCode::{FlowControl, FrameSize, Protocol};
        if payload.len() != 4 {
            return Err(ConnError::new(
                FrameSize,
                "WINDOW_UPDATE of other than 4 bytes",
            ));
        }
        let inc = frame::u31_at(payload, 0);
        if head.stream == 0 {
            if inc == 0 {
                return Err(ConnError::new(Protocol, "WINDOW_UPDATE of 0"));
            }
            self.send
                .adjust(i64::from(inc))
                .map_err(|_| ConnError::new(FlowControl, "connection window over 2^31-1"))?;
            self.flush_all(out);
            return Ok(());
        }
        if head.stream > self.max_stream {
            return Err(ConnError::new(Protocol, "WINDOW_UPDATE on an idle stream"));
        }
        if inc == 0 {
            self.stream_error(head.stream, Protocol, events, out);
            return Ok(());
        }
        // A closed stream's update may cross our END_STREAM: ignored.
        let Some(i) = self.find(head.stream) else {
            return Ok(());
        };
        if self.streams[i].send.adjust(i64::from(inc)).is_err() {
            self.stream_error(head.stream, FlowControl, events, out);
            return Ok(());
        }
        self.flush(i, out);
        Ok(())
    }
}

/// Appends bytes `from..to` of `a` followed by `b`.
fn copy_range(out: &mut Vec<u8>, a: &[u8], b: &[u8], from: usize, to: usize) {
    if from < a.len() {
        out.extend_from_slice(&a[from..to.min(a.len())]);
    }
    if to > a.len() {
        out.extend_from_slice(&b[from.max(a.len()) - a.len()..to - a.len()]);
    }
}

mod streams;
