//! The client side of HTTP/2 (RFC 9113) as gRPC needs it, sans I/O: the
//! connection preface, HEADERS (+ CONTINUATION) decoded with HPACK, DATA
//! carrying length-prefixed gRPC messages, SETTINGS and PING answered,
//! WINDOW_UPDATE sent as received data is consumed and honoured for what we
//! send, RST_STREAM and GOAWAY reported. Bytes in, events and bytes out;
//! nothing here touches a socket.
//!
//! Requests are HPACK-encoded as literals that never touch the dynamic table
//! (so the encoder is stateless); the server's headers are decoded with
//! `loona-hpack`, which keeps the dynamic table and undoes Huffman coding.
//!
//! Invariant: per connection, at most a handful of streams are open (the
//! bi-stream and one unary call), so streams live in a small `Vec`.

use std::fmt;

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Our receive window per stream and for the connection: server pushes never
/// wait for a WINDOW_UPDATE round trip.
pub const RECV_WINDOW: u32 = 1 << 20;
/// The largest frame we accept (we never raise SETTINGS_MAX_FRAME_SIZE).
const MAX_FRAME: usize = 16_384;
/// The largest gRPC message accepted from the server.
pub const MAX_MESSAGE: usize = 4 << 20;
/// Decoded header bytes accepted per header block.
const MAX_HEADER_BLOCK: usize = 64 * 1024;
/// The window both sides start with (RFC 9113 §6.9.2).
const DEFAULT_WINDOW: i64 = 65_535;

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const PRIORITY: u8 = 0x2;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PUSH_PROMISE: u8 = 0x5;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;

const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY_FLAG: u8 = 0x20;

const SETTINGS_ENABLE_PUSH: u16 = 0x2;
const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
const SETTINGS_MAX_FRAME_SIZE: u16 = 0x5;

/// What the server said, for the gRPC layer.
#[derive(Debug, PartialEq, Eq)]
pub enum H2Event {
    /// A header block (response headers or trailers) on `stream`.
    Headers {
        stream: u32,
        end_stream: bool,
        status: Option<u16>,
        grpc_status: Option<u32>,
        grpc_message: Option<String>,
    },
    /// One whole gRPC message (without its 5-byte prefix).
    Message { stream: u32, bytes: Vec<u8> },
    /// The server ended `stream` with a DATA frame's END_STREAM.
    StreamEnd { stream: u32 },
    /// RST_STREAM from the server.
    Reset { stream: u32, code: u32 },
    /// GOAWAY from the server.
    GoAway { last_stream: u32, code: u32 },
}

/// A connection error: the connection must be closed.
#[derive(Debug, PartialEq, Eq)]
pub enum H2Error {
    FrameTooLarge(usize),
    Protocol(&'static str),
    FlowControl,
    Hpack(String),
    MessageTooLarge(usize),
    Compressed,
}

impl fmt::Display for H2Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            H2Error::FrameTooLarge(n) => write!(f, "HTTP/2 frame of {n} bytes"),
            H2Error::Protocol(what) => write!(f, "HTTP/2 protocol error: {what}"),
            H2Error::FlowControl => f.write_str("the server overran our flow-control window"),
            H2Error::Hpack(e) => write!(f, "HPACK: {e}"),
            H2Error::MessageTooLarge(n) => write!(f, "gRPC message of {n} bytes"),
            H2Error::Compressed => f.write_str("compressed gRPC message (we accept none)"),
        }
    }
}

struct Stream {
    id: u32,
    /// What we may still send on it.
    send_window: i64,
    /// Received gRPC bytes not yet a whole message.
    recv: Vec<u8>,
    /// Bytes received since our last WINDOW_UPDATE for it.
    consumed: u32,
    local_closed: bool,
    remote_closed: bool,
}

/// DATA not yet sent for want of window.
struct Blocked {
    stream: u32,
    bytes: Vec<u8>,
    end_stream: bool,
}

/// One client connection's HTTP/2 state.
pub struct H2Client {
    decoder: loona_hpack::Decoder<'static>,
    streams: Vec<Stream>,
    next_stream: u32,
    send_window: i64,
    peer_initial_window: i64,
    peer_max_frame: usize,
    /// Bytes received since our last connection WINDOW_UPDATE.
    consumed: u32,
    /// A header block awaiting CONTINUATION: (stream, end_stream, fragment).
    partial: Option<(u32, bool, Vec<u8>)>,
    blocked: Vec<Blocked>,
}

impl Default for H2Client {
    fn default() -> Self {
        H2Client::new()
    }
}

impl H2Client {
    pub fn new() -> H2Client {
        H2Client {
            decoder: loona_hpack::Decoder::new(),
            streams: Vec::new(),
            next_stream: 1,
            send_window: DEFAULT_WINDOW,
            peer_initial_window: DEFAULT_WINDOW,
            peer_max_frame: MAX_FRAME,
            consumed: 0,
            partial: None,
            blocked: Vec::new(),
        }
    }

    /// The connection preface, our SETTINGS (no push, a large initial
    /// window) and the connection window raised to match.
    pub fn preface(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(PREFACE);
        let mut settings = Vec::with_capacity(12);
        for (id, value) in [
            (SETTINGS_ENABLE_PUSH, 0u32),
            (SETTINGS_INITIAL_WINDOW_SIZE, RECV_WINDOW),
        ] {
            settings.extend_from_slice(&id.to_be_bytes());
            settings.extend_from_slice(&value.to_be_bytes());
        }
        frame(out, SETTINGS, 0, 0, &settings);
        window_update(out, 0, RECV_WINDOW - DEFAULT_WINDOW as u32);
    }

    /// Opens a stream for a POST to `path` (gRPC request headers); returns its id.
    pub fn open_stream(&mut self, path: &str, authority: &str, out: &mut Vec<u8>) -> u32 {
        let id = self.next_stream;
        self.next_stream += 2;
        let block = request_headers(path, authority);
        frame(out, HEADERS, END_HEADERS, id, &block);
        self.streams.push(Stream {
            id,
            send_window: self.peer_initial_window,
            recv: Vec::new(),
            consumed: 0,
            local_closed: false,
            remote_closed: false,
        });
        id
    }

    /// Sends `msg` as one gRPC message on `stream` (the 5-byte prefix added),
    /// within the flow-control windows; the rest waits for WINDOW_UPDATEs.
    pub fn send_message(&mut self, stream: u32, msg: &[u8], end_stream: bool, out: &mut Vec<u8>) {
        let mut bytes = Vec::with_capacity(5 + msg.len());
        bytes.push(0);
        bytes.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        bytes.extend_from_slice(msg);
        if let Some(s) = self.stream_mut(stream) {
            s.local_closed |= end_stream;
        }
        self.blocked.push(Blocked {
            stream,
            bytes,
            end_stream,
        });
        self.flush_blocked(out);
    }

    /// Open streams (for tests and accounting).
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// Bytes of DATA waiting for window.
    pub fn blocked_bytes(&self) -> usize {
        self.blocked.iter().map(|b| b.bytes.len()).sum()
    }

    /// Forgets `stream` (after we reset it or gave up on it).
    pub fn forget(&mut self, stream: u32) {
        self.streams.retain(|s| s.id != stream);
        self.blocked.retain(|b| b.stream != stream);
    }

    /// Consumes the whole frames at the start of `input`; returns the bytes
    /// used (the caller keeps the rest for the next call).
    pub fn receive(
        &mut self,
        input: &[u8],
        events: &mut Vec<H2Event>,
        out: &mut Vec<u8>,
    ) -> Result<usize, H2Error> {
        let mut pos = 0;
        while input.len() - pos >= 9 {
            let h = &input[pos..pos + 9];
            let len = (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
            if len > MAX_FRAME {
                return Err(H2Error::FrameTooLarge(len));
            }
            if input.len() - pos < 9 + len {
                break;
            }
            let (kind, flags) = (h[3], h[4]);
            let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
            let payload = &input[pos + 9..pos + 9 + len];
            pos += 9 + len;
            if self.partial.is_some() && kind != CONTINUATION {
                return Err(H2Error::Protocol("header block interrupted"));
            }
            match kind {
                DATA => self.on_data(stream, flags, payload, events, out)?,
                HEADERS => {
                    if stream == 0 {
                        return Err(H2Error::Protocol("HEADERS on stream 0"));
                    }
                    let mut body = unpad(flags, payload)?;
                    if flags & PRIORITY_FLAG != 0 {
                        body = body.get(5..).ok_or(H2Error::Protocol("short HEADERS"))?;
                    }
                    let end = flags & END_STREAM != 0;
                    if flags & END_HEADERS != 0 {
                        self.on_header_block(stream, end, body, events)?;
                    } else {
                        self.partial = Some((stream, end, body.to_vec()));
                    }
                }
                CONTINUATION => {
                    let Some((s, end, mut block)) = self.partial.take() else {
                        return Err(H2Error::Protocol("CONTINUATION without HEADERS"));
                    };
                    if s != stream {
                        return Err(H2Error::Protocol("CONTINUATION on another stream"));
                    }
                    block.extend_from_slice(payload);
                    if block.len() > MAX_HEADER_BLOCK {
                        return Err(H2Error::Protocol("header block too large"));
                    }
                    if flags & END_HEADERS != 0 {
                        self.on_header_block(stream, end, &block, events)?;
                    } else {
                        self.partial = Some((s, end, block));
                    }
                }
                PRIORITY => {}
                RST_STREAM => {
                    let code = u32_at(payload).ok_or(H2Error::Protocol("short RST_STREAM"))?;
                    self.forget(stream);
                    events.push(H2Event::Reset { stream, code });
                }
                SETTINGS => self.on_settings(flags, payload, out)?,
                PUSH_PROMISE => return Err(H2Error::Protocol("PUSH_PROMISE (push is off)")),
                PING => {
                    if payload.len() != 8 {
                        return Err(H2Error::Protocol("PING not 8 bytes"));
                    }
                    if flags & ACK == 0 {
                        frame(out, PING, ACK, 0, payload);
                    }
                }
                GOAWAY => {
                    let last = u32_at(payload).ok_or(H2Error::Protocol("short GOAWAY"))?;
                    let code = u32_at(payload.get(4..).unwrap_or(&[]))
                        .ok_or(H2Error::Protocol("short GOAWAY"))?;
                    events.push(H2Event::GoAway {
                        last_stream: last & 0x7fff_ffff,
                        code,
                    });
                }
                WINDOW_UPDATE => {
                    let inc = u32_at(payload).ok_or(H2Error::Protocol("short WINDOW_UPDATE"))?
                        & 0x7fff_ffff;
                    if stream == 0 {
                        self.send_window += i64::from(inc);
                    } else if let Some(s) = self.stream_mut(stream) {
                        s.send_window += i64::from(inc);
                    }
                    self.flush_blocked(out);
                }
                // Unknown frame types are ignored (RFC 9113 §4.1).
                _ => {}
            }
        }
        Ok(pos)
    }

    fn stream_mut(&mut self, id: u32) -> Option<&mut Stream> {
        self.streams.iter_mut().find(|s| s.id == id)
    }

    fn on_data(
        &mut self,
        stream: u32,
        flags: u8,
        payload: &[u8],
        events: &mut Vec<H2Event>,
        out: &mut Vec<u8>,
    ) -> Result<(), H2Error> {
        if stream == 0 {
            return Err(H2Error::Protocol("DATA on stream 0"));
        }
        let len = payload.len() as u32;
        self.consumed += len;
        if self.consumed > RECV_WINDOW {
            return Err(H2Error::FlowControl);
        }
        if self.consumed >= RECV_WINDOW / 2 {
            window_update(out, 0, self.consumed);
            self.consumed = 0;
        }
        let data = unpad(flags, payload)?;
        let end = flags & END_STREAM != 0;
        let Some(s) = self.stream_mut(stream) else {
            // A stream we forgot: its bytes count for the connection only.
            return Ok(());
        };
        s.consumed += len;
        if s.consumed > RECV_WINDOW {
            return Err(H2Error::FlowControl);
        }
        if !end && s.consumed >= RECV_WINDOW / 2 {
            window_update(out, stream, s.consumed);
            s.consumed = 0;
        }
        s.recv.extend_from_slice(data);
        while s.recv.len() >= 5 {
            if s.recv[0] != 0 {
                return Err(H2Error::Compressed);
            }
            let n = u32::from_be_bytes([s.recv[1], s.recv[2], s.recv[3], s.recv[4]]) as usize;
            if n > MAX_MESSAGE {
                return Err(H2Error::MessageTooLarge(n));
            }
            if s.recv.len() < 5 + n {
                break;
            }
            let bytes = s.recv[5..5 + n].to_vec();
            s.recv.drain(..5 + n);
            events.push(H2Event::Message { stream, bytes });
        }
        if s.recv.is_empty() {
            s.recv = Vec::new();
        }
        if end {
            s.remote_closed = true;
            events.push(H2Event::StreamEnd { stream });
            self.reap(stream);
        }
        Ok(())
    }

    fn on_header_block(
        &mut self,
        stream: u32,
        end_stream: bool,
        block: &[u8],
        events: &mut Vec<H2Event>,
    ) -> Result<(), H2Error> {
        let (mut status, mut grpc_status, mut grpc_message) = (None, None, None);
        let mut size = 0usize;
        self.decoder
            .decode_with_cb(block, |name, value| {
                size += name.len() + value.len() + 32;
                match &*name {
                    b":status" => {
                        status = std::str::from_utf8(&value)
                            .ok()
                            .and_then(|v| v.parse().ok())
                    }
                    b"grpc-status" => {
                        grpc_status = std::str::from_utf8(&value)
                            .ok()
                            .and_then(|v| v.parse().ok())
                    }
                    b"grpc-message" => {
                        grpc_message = Some(String::from_utf8_lossy(&value).into_owned())
                    }
                    _ => {}
                }
            })
            .map_err(|e| H2Error::Hpack(e.to_string()))?;
        if size > MAX_HEADER_BLOCK {
            return Err(H2Error::Protocol("header list too large"));
        }
        events.push(H2Event::Headers {
            stream,
            end_stream,
            status,
            grpc_status,
            grpc_message,
        });
        if end_stream {
            if let Some(s) = self.stream_mut(stream) {
                s.remote_closed = true;
            }
            self.reap(stream);
        }
        Ok(())
    }

    fn on_settings(&mut self, flags: u8, payload: &[u8], out: &mut Vec<u8>) -> Result<(), H2Error> {
        if flags & ACK != 0 {
            return Ok(());
        }
        if !payload.len().is_multiple_of(6) {
            return Err(H2Error::Protocol("SETTINGS length not a multiple of 6"));
        }
        for entry in payload.chunks_exact(6) {
            let id = u16::from_be_bytes([entry[0], entry[1]]);
            let value = u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]);
            match id {
                SETTINGS_INITIAL_WINDOW_SIZE => {
                    if value > 0x7fff_ffff {
                        return Err(H2Error::FlowControl);
                    }
                    let delta = i64::from(value) - self.peer_initial_window;
                    self.peer_initial_window = i64::from(value);
                    for s in &mut self.streams {
                        s.send_window += delta;
                    }
                }
                SETTINGS_MAX_FRAME_SIZE => {
                    self.peer_max_frame = (value as usize).clamp(MAX_FRAME, 1 << 24);
                }
                // Header table size: our encoder never indexes. Others do not bind a client.
                _ => {}
            }
        }
        frame(out, SETTINGS, ACK, 0, &[]);
        self.flush_blocked(out);
        Ok(())
    }

    /// Drops `stream` once both sides have ended it.
    fn reap(&mut self, stream: u32) {
        let done = self
            .streams
            .iter()
            .any(|s| s.id == stream && s.local_closed && s.remote_closed);
        if done {
            self.forget(stream);
        }
    }

    /// Writes as much queued DATA as the windows allow, in order.
    fn flush_blocked(&mut self, out: &mut Vec<u8>) {
        let mut i = 0;
        while i < self.blocked.len() {
            let id = self.blocked[i].stream;
            let Some(stream_window) = self
                .streams
                .iter()
                .find(|s| s.id == id)
                .map(|s| s.send_window)
            else {
                // The stream is gone (reset): its data goes nowhere.
                self.blocked.remove(i);
                continue;
            };
            let room = self.send_window.min(stream_window).max(0) as usize;
            let b = &mut self.blocked[i];
            let n = room.min(b.bytes.len());
            if n == 0 && !b.bytes.is_empty() {
                // This stream is stuck; later streams may still have room.
                i += 1;
                continue;
            }
            let mut sent = 0;
            while sent < n {
                let chunk = (n - sent).min(self.peer_max_frame);
                let last = sent + chunk == b.bytes.len();
                let flags = if last && b.end_stream { END_STREAM } else { 0 };
                frame(out, DATA, flags, id, &b.bytes[sent..sent + chunk]);
                sent += chunk;
            }
            b.bytes.drain(..n);
            self.send_window -= n as i64;
            if let Some(s) = self.stream_mut(id) {
                s.send_window -= n as i64;
            }
            if self.blocked[i].bytes.is_empty() {
                self.blocked.remove(i);
                self.reap(id);
            } else {
                i += 1;
            }
        }
    }
}

/// Removes padding from a DATA or HEADERS payload.
fn unpad(flags: u8, payload: &[u8]) -> Result<&[u8], H2Error> {
    if flags & PADDED == 0 {
        return Ok(payload);
    }
    let (&pad, rest) = payload
        .split_first()
        .ok_or(H2Error::Protocol("padded frame without pad length"))?;
    rest.len()
        .checked_sub(usize::from(pad))
        .map(|n| &rest[..n])
        .ok_or(H2Error::Protocol("padding longer than the frame"))
}

fn u32_at(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?))
}

/// Appends one frame.
pub fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = payload.len() as u32;
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
}

fn window_update(out: &mut Vec<u8>, stream: u32, increment: u32) {
    frame(out, WINDOW_UPDATE, 0, stream, &increment.to_be_bytes());
}

/// An HPACK integer with an `n`-bit prefix whose high bits are `first`.
fn hpack_int(out: &mut Vec<u8>, first: u8, n: u32, mut value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}

fn hpack_str(out: &mut Vec<u8>, s: &[u8]) {
    hpack_int(out, 0, 7, s.len());
    out.extend_from_slice(s);
}

/// Literal without indexing, name from static-table entry `index`.
fn literal_indexed_name(out: &mut Vec<u8>, index: usize, value: &[u8]) {
    hpack_int(out, 0x00, 4, index);
    hpack_str(out, value);
}

/// The header block of a gRPC request: static-table entries and literals
/// that are never indexed, so no encoder state is kept.
pub fn request_headers(path: &str, authority: &str) -> Vec<u8> {
    let mut b = Vec::with_capacity(96 + path.len() + authority.len());
    b.push(0x83); // :method POST (static 3)
    b.push(0x86); // :scheme http (static 6)
    literal_indexed_name(&mut b, 4, path.as_bytes()); // :path
    literal_indexed_name(&mut b, 1, authority.as_bytes()); // :authority
    literal_indexed_name(&mut b, 31, b"application/grpc"); // content-type
    b.push(0x00); // te: trailers (new name)
    hpack_str(&mut b, b"te");
    hpack_str(&mut b, b"trailers");
    literal_indexed_name(&mut b, 58, b"vigil-loadtest"); // user-agent
    b
}

#[cfg(test)]
#[path = "h2_tests.rs"]
mod tests;
