//! Tests of [`Conn`] through bytes only: a test client writes frames, the
//! connection's output is parsed back into frames. `rules.rs` holds the
//! frame and stream rules (tables of cases), `flow.rs` flow control and
//! messages, `real.rs` the byte streams of real gRPC clients and the
//! property tests.

mod flow;
mod real;
mod rules;

use super::frame::{self, Head};
use super::{Conn, ConnError, ErrorCode, Event, Limits};

/// An HPACK block of literal fields without indexing (no Huffman).
pub fn block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.push(0);
        for s in [name.as_bytes(), value.as_bytes()] {
            push_len(&mut out, s.len());
            out.extend_from_slice(s);
        }
    }
    out
}

fn push_len(out: &mut Vec<u8>, n: usize) {
    if n < 127 {
        out.push(n as u8);
        return;
    }
    out.push(127);
    let mut rest = n - 127;
    while rest >= 128 {
        out.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.push(rest as u8);
}

/// The request fields of a gRPC call to `path`.
pub fn grpc_fields(path: &str) -> Vec<(&str, &str)> {
    vec![
        (":method", "POST"),
        (":scheme", "http"),
        (":path", path),
        (":authority", "127.0.0.1"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ]
}

pub fn raw_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    frame::write_head(&mut out, payload.len(), kind, flags, stream);
    out.extend_from_slice(payload);
    out
}

pub fn headers(stream: u32, flags: u8, fields: &[(&str, &str)]) -> Vec<u8> {
    raw_frame(
        frame::HEADERS,
        flags | frame::FLAG_END_HEADERS,
        stream,
        &block(fields),
    )
}

pub fn grpc_open(stream: u32, path: &str) -> Vec<u8> {
    headers(stream, 0, &grpc_fields(path))
}

pub fn data(stream: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(frame::DATA, flags, stream, payload)
}

/// A gRPC message with its 5-byte prefix.
pub fn grpc_msg(msg: &[u8]) -> Vec<u8> {
    let mut out = vec![0];
    out.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    out.extend_from_slice(msg);
    out
}

pub fn settings(values: &[(u16, u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    frame::write_settings(&mut out, values);
    out
}

pub fn window_update(stream: u32, inc: u32) -> Vec<u8> {
    raw_frame(frame::WINDOW_UPDATE, 0, stream, &inc.to_be_bytes())
}

/// The client preface followed by its SETTINGS.
pub fn client_start(values: &[(u16, u32)]) -> Vec<u8> {
    let mut out = frame::PREFACE.to_vec();
    out.extend(settings(values));
    out
}

/// A parsed output frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Out {
    pub head: Head,
    pub payload: Vec<u8>,
}

pub fn parse_frames(mut bytes: &[u8]) -> Vec<Out> {
    let mut frames = Vec::new();
    while let Some(head) = Head::parse(bytes) {
        let end = frame::HEAD_LEN + head.len as usize;
        assert!(bytes.len() >= end, "output ends inside a frame: {head:?}");
        frames.push(Out {
            head,
            payload: bytes[frame::HEAD_LEN..end].to_vec(),
        });
        bytes = &bytes[end..];
    }
    assert!(bytes.is_empty(), "stray output bytes {bytes:?}");
    frames
}

/// A connection past the handshake, and what it said since the last look.
pub struct Peer {
    pub conn: Conn,
    pub events: Vec<Event>,
    pub out: Vec<u8>,
    /// The client's HPACK decoder for our header blocks.
    decoder: loona_hpack::Decoder<'static>,
}

impl Peer {
    /// Preface, SETTINGS (with `values`) and the ack of ours are sent.
    pub fn with(limits: Limits, values: &[(u16, u32)]) -> Peer {
        let mut p = Peer::raw(limits);
        let mut start = client_start(values);
        start.extend(raw_frame(frame::SETTINGS, frame::FLAG_ACK, 0, &[]));
        p.feed(&start).expect("handshake");
        p.take();
        p
    }

    pub fn new() -> Peer {
        Peer::with(Limits::default(), &[])
    }

    /// A connection that has seen nothing.
    pub fn raw(limits: Limits) -> Peer {
        Peer {
            conn: Conn::new(&limits),
            events: Vec::new(),
            out: Vec::new(),
            decoder: loona_hpack::Decoder::new(),
        }
    }

    /// Feeds bytes that must be consumed whole.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), ConnError> {
        let used = self.conn.receive(bytes, &mut self.events, &mut self.out)?;
        assert_eq!(used, bytes.len(), "whole frames are consumed");
        Ok(())
    }

    /// The output frames since the last call.
    pub fn take(&mut self) -> Vec<Out> {
        let frames = parse_frames(&self.out);
        self.out.clear();
        frames
    }

    pub fn events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Decodes one of our header blocks as the client would.
    pub fn fields(&mut self, block: &[u8]) -> Vec<(String, String)> {
        self.decoder
            .decode(block)
            .expect("our header block decodes")
            .into_iter()
            .map(|(n, v)| {
                (
                    String::from_utf8(n).expect("utf-8"),
                    String::from_utf8(v).expect("utf-8"),
                )
            })
            .collect()
    }

    /// Feeds `bytes` expecting a connection error with `code`, and checks
    /// the GOAWAY that ends the output.
    pub fn expect_conn_error(&mut self, bytes: &[u8], code: ErrorCode) {
        let err = self.feed(bytes).expect_err("a connection error");
        assert_eq!(err.code, code, "{err:?}");
        let last = self.take().pop().expect("GOAWAY written");
        assert_eq!(last.head.kind, frame::GOAWAY);
        assert_eq!(frame::u32_at(&last.payload, 4), u32::from(code));
        // Every later call fails the same way, writing nothing.
        assert_eq!(
            self.conn.receive(b"", &mut self.events, &mut self.out),
            Err(err)
        );
        assert!(self.out.is_empty());
    }
}

/// The RST_STREAM codes among `frames`, by stream.
pub fn resets(frames: &[Out]) -> Vec<(u32, u32)> {
    frames
        .iter()
        .filter(|f| f.head.kind == frame::RST_STREAM)
        .map(|f| (f.head.stream, frame::u32_at(&f.payload, 0)))
        .collect()
}

pub fn kinds(frames: &[Out]) -> Vec<u8> {
    frames.iter().map(|f| f.head.kind).collect()
}
