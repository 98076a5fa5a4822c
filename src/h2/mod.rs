//! A sans-I/O HTTP/2 server connection (RFC 9113) for the subset gRPC uses:
//! bytes in, [`Event`]s and protocol output out, like `http.rs` for HTTP/1.
//! Knows gRPC's framing (the 5-byte message prefix, trailers, grpc-status)
//! but nothing of Nacos.
//!
//! Invariants:
//! - [`Conn::receive`] consumes whole frames only; the caller keeps the rest,
//!   so any split of the input gives the same events and output.
//! - A connection error appends GOAWAY and makes every later `receive`
//!   return the same error; a stream error appends RST_STREAM and forgets
//!   the stream (with [`Event::Reset`] if the application had seen it).
//! - We never send more DATA than the peer's windows allow; what does not
//!   fit waits in its stream and leaves on a later WINDOW_UPDATE or SETTINGS.
//! - An idle connection holds no buffer: empty `Vec`s have no capacity, the
//!   HPACK table is advertised as 0 bytes, and streams sit in a small `Vec`.
//! - Requests that are not gRPC (not POST, not `application/grpc*`) are
//!   answered here (405 / 415 with a short text body) and never reach the
//!   application.
//!
//! Using it (see `examples/h2_echo.rs`): append what the socket gave to the
//! connection's input, call `receive`, drop the consumed prefix, answer the
//! events with the `send_*` calls (appending to the same `out`), write
//! `out`. Events come in batches, so a batch may hold `Message`/`End` for a
//! stream the application ends while answering an earlier event of the same
//! batch: `send_*` on a stream that is gone do nothing (`send_message`
//! returns false). On `Err`, write `out` and close with a lingering close
//! (shut down writing, discard input briefly), or a TCP RST may destroy
//! the GOAWAY. Memory per connection: each open stream buffers at most one
//! incomplete message (`max_message`), and all streams together at most
//! `max_partial_bytes` (else `max_concurrent_streams × max_message`, 1.25
//! GiB by default, would bound what one client can make us hold); queued
//! output is bounded by what the application offers (`queued_bytes`).

mod conn;
pub mod flow;
pub mod frame;
pub mod hpack;
#[cfg(test)]
mod tests;

pub use conn::Conn;

/// Limits of one connection; every size in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame we accept (SETTINGS_MAX_FRAME_SIZE); 16,384 to
    /// 16,777,215.
    pub max_frame_size: u32,
    /// Decoded header bytes of one block (name + value + 32 per field);
    /// also the largest encoded block we buffer across CONTINUATIONs.
    pub max_header_list: u32,
    /// Largest gRPC message (after the 5-byte prefix).
    pub max_message: usize,
    /// Bytes of incomplete messages buffered over all streams of the
    /// connection; the stream whose DATA takes the total past it is ended
    /// with RESOURCE_EXHAUSTED, like an oversized message.
    pub max_partial_bytes: usize,
    /// Streams open at once (SETTINGS_MAX_CONCURRENT_STREAMS).
    pub max_concurrent_streams: u32,
    /// Our receive window, per stream and for the connection.
    pub initial_window: u32,
    /// The HPACK dynamic table we let the client use
    /// (SETTINGS_HEADER_TABLE_SIZE). 0 keeps an idle connection free of
    /// table entries; 4,096 is the protocol default (for h2spec runs,
    /// whose encoder ignores this setting).
    pub header_table_size: u32,
}

impl Default for Limits {
    /// 1 MiB windows: DATA is consumed as soon as it arrives (messages are
    /// bounded by `max_message`, not by the window), so a window costs no
    /// memory; it only sets how far a client may run ahead of our
    /// WINDOW_UPDATEs: a 10 MiB publish takes ~20 round trips, not 320 as
    /// with the default 64 KiB.
    fn default() -> Limits {
        Limits {
            max_frame_size: frame::DEFAULT_MAX_FRAME_SIZE,
            max_header_list: 16 * 1024,
            max_message: 10 * 1024 * 1024,
            // Two largest messages arriving at once (a publish on one
            // stream beside another), never 128 of them.
            max_partial_bytes: 2 * 10 * 1024 * 1024,
            max_concurrent_streams: 128,
            initial_window: 1024 * 1024,
            header_table_size: 0,
        }
    }
}

/// What the application hears from a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A gRPC request stream opened.
    Open { stream: u32, path: Path },
    /// One whole gRPC message, its 5-byte prefix removed.
    Message { stream: u32, bytes: Vec<u8> },
    /// The client half-closed the stream (END_STREAM).
    End { stream: u32 },
    /// The stream is gone (the client reset it, or it was reset for an
    /// error): forget it.
    Reset { stream: u32 },
    /// The client sent GOAWAY.
    GoAway,
}

/// The gRPC method of a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Path {
    /// `/Request/request`: Nacos's unary call.
    Unary,
    /// `/BiRequestStream/requestBiStream`: Nacos's bidirectional stream.
    BiStream,
    /// Any other path (answered grpc-status 12 by the application).
    Other(String),
}

impl Path {
    fn from_bytes(path: &[u8]) -> Path {
        match path {
            b"/Request/request" => Path::Unary,
            b"/BiRequestStream/requestBiStream" => Path::BiStream,
            other => Path::Other(String::from_utf8_lossy(other).into_owned()),
        }
    }
}

/// HTTP/2 error codes (RFC 9113 §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    NoError,
    Protocol,
    Internal,
    FlowControl,
    SettingsTimeout,
    StreamClosed,
    FrameSize,
    RefusedStream,
    Cancel,
    Compression,
    Connect,
    EnhanceYourCalm,
    InadequateSecurity,
    Http11Required,
}

impl From<ErrorCode> for u32 {
    fn from(code: ErrorCode) -> u32 {
        match code {
            ErrorCode::NoError => 0x0,
            ErrorCode::Protocol => 0x1,
            ErrorCode::Internal => 0x2,
            ErrorCode::FlowControl => 0x3,
            ErrorCode::SettingsTimeout => 0x4,
            ErrorCode::StreamClosed => 0x5,
            ErrorCode::FrameSize => 0x6,
            ErrorCode::RefusedStream => 0x7,
            ErrorCode::Cancel => 0x8,
            ErrorCode::Compression => 0x9,
            ErrorCode::Connect => 0xa,
            ErrorCode::EnhanceYourCalm => 0xb,
            ErrorCode::InadequateSecurity => 0xc,
            ErrorCode::Http11Required => 0xd,
        }
    }
}

impl ErrorCode {
    /// The code of a received RST_STREAM or GOAWAY; unknown codes are `None`
    /// (RFC 9113 §7: they must not trigger special behaviour).
    pub fn from_u32(code: u32) -> Option<ErrorCode> {
        Some(match code {
            0x0 => ErrorCode::NoError,
            0x1 => ErrorCode::Protocol,
            0x2 => ErrorCode::Internal,
            0x3 => ErrorCode::FlowControl,
            0x4 => ErrorCode::SettingsTimeout,
            0x5 => ErrorCode::StreamClosed,
            0x6 => ErrorCode::FrameSize,
            0x7 => ErrorCode::RefusedStream,
            0x8 => ErrorCode::Cancel,
            0x9 => ErrorCode::Compression,
            0xa => ErrorCode::Connect,
            0xb => ErrorCode::EnhanceYourCalm,
            0xc => ErrorCode::InadequateSecurity,
            0xd => ErrorCode::Http11Required,
            _ => return None,
        })
    }
}

/// A connection error: GOAWAY with `code` was appended to the output; the
/// caller flushes it and closes the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnError {
    pub code: ErrorCode,
    pub reason: &'static str,
}

impl ConnError {
    fn new(code: ErrorCode, reason: &'static str) -> ConnError {
        ConnError { code, reason }
    }
}

/// gRPC status codes this layer answers by itself.
pub mod status {
    /// The message is larger than `Limits::max_message`, the header list
    /// larger than `Limits::max_header_list`, or the connection's incomplete
    /// messages past `Limits::max_partial_bytes`.
    pub const RESOURCE_EXHAUSTED: u32 = 8;
    /// A compressed message (we advertise no grpc-accept-encoding).
    pub const UNIMPLEMENTED: u32 = 12;
    /// A malformed message prefix, or a stream that ended inside a message.
    pub const INTERNAL: u32 = 13;
}
