//! HTTP/2 frame layout (RFC 9113 §4 and §6): the 9-byte frame header, the
//! frame types and flags this server knows, and writers that append whole
//! frames to an output buffer.
//!
//! Pure functions over byte slices: nothing here keeps state, and nothing
//! here decides what a frame means for a connection (that is `Conn`'s job).

use super::ErrorCode;

/// Bytes of a frame header.
pub const HEAD_LEN: usize = 9;

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The frame size every endpoint must accept, and the least one may advertise.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;

/// The largest frame size SETTINGS_MAX_FRAME_SIZE may announce.
pub const MAX_MAX_FRAME_SIZE: u32 = (1 << 24) - 1;

/// Every flow-control window starts here (RFC 9113 §6.9.2).
pub const DEFAULT_WINDOW: u32 = 65_535;

/// The largest flow-control window (2^31 - 1).
pub const MAX_WINDOW: i64 = (1 << 31) - 1;

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const PRIORITY: u8 = 0x2;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PUSH_PROMISE: u8 = 0x5;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

pub const FLAG_END_STREAM: u8 = 0x1;
/// The ACK flag of SETTINGS and PING (the same bit as END_STREAM).
pub const FLAG_ACK: u8 = 0x1;
pub const FLAG_END_HEADERS: u8 = 0x4;
pub const FLAG_PADDED: u8 = 0x8;
pub const FLAG_PRIORITY: u8 = 0x20;

pub const SETTINGS_HEADER_TABLE_SIZE: u16 = 0x1;
pub const SETTINGS_ENABLE_PUSH: u16 = 0x2;
pub const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
pub const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
pub const SETTINGS_MAX_FRAME_SIZE: u16 = 0x5;
pub const SETTINGS_MAX_HEADER_LIST_SIZE: u16 = 0x6;

/// A parsed frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub len: u32,
    pub kind: u8,
    pub flags: u8,
    /// The stream identifier with the reserved bit cleared.
    pub stream: u32,
}

impl Head {
    /// The header at the start of `buf`, if 9 bytes are there.
    pub fn parse(buf: &[u8]) -> Option<Head> {
        let b: &[u8; HEAD_LEN] = buf.get(..HEAD_LEN)?.try_into().ok()?;
        Some(Head {
            len: u32::from_be_bytes([0, b[0], b[1], b[2]]),
            kind: b[3],
            flags: b[4],
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff,
        })
    }

    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// Why a frame's padding is wrong: always a connection PROTOCOL_ERROR.
#[derive(Debug, PartialEq, Eq)]
pub struct BadPadding;

/// Strips the padding of a DATA or HEADERS payload (the Pad Length octet and
/// the trailing pad). The padding length must be less than what follows it.
pub fn unpad<'a>(head: &Head, payload: &'a [u8]) -> Result<&'a [u8], BadPadding> {
    if !head.has(FLAG_PADDED) {
        return Ok(payload);
    }
    let (&pad, rest) = payload.split_first().ok_or(BadPadding)?;
    let keep = rest.len().checked_sub(pad as usize).ok_or(BadPadding)?;
    Ok(&rest[..keep])
}

/// A u32 in network order at `at`, reserved bit cleared (stream ids, window
/// increments); 0 if the slice is short (callers check lengths first).
pub fn u31_at(buf: &[u8], at: usize) -> u32 {
    u32_at(buf, at) & 0x7fff_ffff
}

/// A u32 in network order at `at`; 0 if the slice is short.
pub fn u32_at(buf: &[u8], at: usize) -> u32 {
    match buf.get(at..at + 4) {
        Some(b) => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        None => 0,
    }
}

/// Appends a frame header.
pub fn write_head(out: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    debug_assert!(len <= MAX_MAX_FRAME_SIZE as usize, "frame of {len} bytes");
    let l = (len as u32).to_be_bytes();
    out.extend_from_slice(&[l[1], l[2], l[3], kind, flags]);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
}

/// Appends a SETTINGS frame carrying `settings`.
pub fn write_settings(out: &mut Vec<u8>, settings: &[(u16, u32)]) {
    write_head(out, settings.len() * 6, SETTINGS, 0, 0);
    for &(id, value) in settings {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&value.to_be_bytes());
    }
}

pub fn write_settings_ack(out: &mut Vec<u8>) {
    write_head(out, 0, SETTINGS, FLAG_ACK, 0);
}

pub fn write_ping_ack(out: &mut Vec<u8>, opaque: &[u8]) {
    write_head(out, opaque.len(), PING, FLAG_ACK, 0);
    out.extend_from_slice(opaque);
}

pub fn write_window_update(out: &mut Vec<u8>, stream: u32, increment: u32) {
    write_head(out, 4, WINDOW_UPDATE, 0, stream);
    out.extend_from_slice(&(increment & 0x7fff_ffff).to_be_bytes());
}

pub fn write_rst_stream(out: &mut Vec<u8>, stream: u32, code: ErrorCode) {
    write_head(out, 4, RST_STREAM, 0, stream);
    out.extend_from_slice(&u32::from(code).to_be_bytes());
}

pub fn write_goaway(out: &mut Vec<u8>, last_stream: u32, code: ErrorCode) {
    write_head(out, 8, GOAWAY, 0, 0);
    out.extend_from_slice(&(last_stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(&u32::from(code).to_be_bytes());
}

/// Appends a header block as one HEADERS frame and as many CONTINUATION
/// frames as `max_frame` requires; `flags` may carry END_STREAM.
pub fn write_header_block(
    out: &mut Vec<u8>,
    stream: u32,
    flags: u8,
    block: &[u8],
    max_frame: usize,
) {
    let mut chunks = block.chunks(max_frame.max(1)).peekable();
    let mut kind = HEADERS;
    let mut first_flags = flags;
    if chunks.peek().is_none() {
        write_head(out, 0, HEADERS, flags | FLAG_END_HEADERS, stream);
        return;
    }
    while let Some(chunk) = chunks.next() {
        let end = if chunks.peek().is_none() {
            FLAG_END_HEADERS
        } else {
            0
        };
        write_head(out, chunk.len(), kind, first_flags | end, stream);
        out.extend_from_slice(chunk);
        kind = CONTINUATION;
        first_flags = 0;
    }
}
