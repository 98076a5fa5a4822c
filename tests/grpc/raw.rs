//! Hand-built HTTP/2 frames for the tests that need a client no library
//! would be (one that never reads, one that sends garbage): literal HPACK
//! fields only, gRPC messages framed by hand.

use vigil::grpc::Payload;

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// SETTINGS with our initial stream window.
pub fn settings(initial_window: u32) -> Vec<u8> {
    let mut p = vec![0, 4];
    p.extend_from_slice(&initial_window.to_be_bytes());
    frame(4, 0, 0, &p)
}

/// A request HEADERS frame for a gRPC method (literal fields, no index).
pub fn headers(stream: u32, path: &str) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", path),
        (":authority", "localhost"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ] {
        block.push(0);
        block.push(name.len() as u8);
        block.extend_from_slice(name.as_bytes());
        block.push(value.len() as u8);
        block.extend_from_slice(value.as_bytes());
    }
    frame(1, 0x4, stream, &block)
}

/// One gRPC message carrying a Nacos payload, as DATA.
pub fn message(stream: u32, class: &str, json: &str, end: bool) -> Vec<u8> {
    let body = Payload::new(class, json.as_bytes().to_vec()).encode();
    let mut m = vec![0];
    m.extend_from_slice(&(body.len() as u32).to_be_bytes());
    m.extend_from_slice(&body);
    frame(0, if end { 0x1 } else { 0 }, stream, &m)
}

/// A unary call on `stream`.
pub fn unary(stream: u32, class: &str, json: &str) -> Vec<u8> {
    let mut b = headers(stream, "/Request/request");
    b.extend(message(stream, class, json, true));
    b
}
