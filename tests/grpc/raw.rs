//! Hand-built HTTP/2 frames for the tests that need a client no library
//! would be (one that never reads, one that sends garbage, one that leaves
//! messages half sent): literal HPACK fields only, gRPC messages framed by
//! hand.

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

/// A gRPC message (5-byte prefix and Nacos payload), not yet framed.
pub fn grpc_message(class: &str, json: &[u8]) -> Vec<u8> {
    let body = Payload::new(class, json.to_vec()).encode();
    let mut m = vec![0];
    m.extend_from_slice(&(body.len() as u32).to_be_bytes());
    m.extend_from_slice(&body);
    m
}

/// A client that sends DATA within the server's flow-control windows (it
/// reads the server's SETTINGS and WINDOW_UPDATEs), for the tests that send
/// more than one window, and stops sending on a stream the server ended;
/// everything else it reads is kept as frames.
pub struct Flow {
    pub sock: std::net::TcpStream,
    conn_window: i64,
    initial_window: i64,
    windows: std::collections::HashMap<u32, i64>,
    /// Frames read, other than SETTINGS, PING and WINDOW_UPDATE: (type,
    /// flags, stream, payload).
    pub frames: Vec<(u8, u8, u32, Vec<u8>)>,
    input: Vec<u8>,
}

impl Flow {
    pub fn connect(addr: std::net::SocketAddr) -> Flow {
        use std::io::Write;
        let mut sock = std::net::TcpStream::connect(addr).expect("connect");
        sock.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout");
        let mut hello = PREFACE.to_vec();
        hello.extend(settings(1 << 20));
        sock.write_all(&hello).expect("preface");
        Flow {
            sock,
            conn_window: 65_535,
            initial_window: 65_535,
            windows: Default::default(),
            frames: Vec::new(),
            input: Vec::new(),
        }
    }

    /// Sends `bytes` as DATA on `stream` (opening it with `headers` first
    /// if new), in 16 KiB frames as the windows allow; END_STREAM with the
    /// last if `end`.
    pub fn send(&mut self, stream: u32, bytes: &[u8], end: bool) {
        use std::io::Write;
        if !self.windows.contains_key(&stream) {
            self.windows.insert(stream, self.initial_window);
            self.sock
                .write_all(&headers(stream, "/Request/request"))
                .expect("headers");
        }
        let mut at = 0;
        while at < bytes.len() || (end && at == 0 && bytes.is_empty()) {
            if self.ended(stream) {
                // Refused: the rest is not sent.
                return;
            }
            let room = self.conn_window.min(self.windows[&stream]).min(16_384);
            if room <= 0 {
                self.read_some();
                continue;
            }
            let n = (bytes.len() - at).min(room as usize);
            let last = at + n == bytes.len();
            let flags = if end && last { 0x1 } else { 0 };
            self.sock
                .write_all(&frame(0, flags, stream, &bytes[at..at + n]))
                .expect("DATA");
            self.conn_window -= n as i64;
            *self.windows.get_mut(&stream).expect("known stream") -= n as i64;
            at += n;
            if bytes.is_empty() {
                break;
            }
        }
    }

    /// The server ended or reset `stream`.
    pub fn ended(&self, stream: u32) -> bool {
        self.frames
            .iter()
            .any(|f| f.2 == stream && (f.0 == 3 || (f.0 == 1 && f.1 & 1 == 1)))
    }

    /// Reads until a frame matching `done` has arrived; returns it.
    pub fn until(
        &mut self,
        done: impl Fn(&(u8, u8, u32, Vec<u8>)) -> bool,
    ) -> (u8, u8, u32, Vec<u8>) {
        loop {
            if let Some(f) = self.frames.iter().find(|f| done(f)) {
                return f.clone();
            }
            self.read_some();
        }
    }

    /// One read from the socket; whole frames are handled.
    fn read_some(&mut self) {
        use std::io::{Read, Write};
        let mut buf = [0u8; 65_536];
        let n = self.sock.read(&mut buf).expect("the server answers");
        assert!(
            n > 0,
            "the server closed the connection; frames: {:?}",
            self.frames
        );
        self.input.extend_from_slice(&buf[..n]);
        while self.input.len() >= 9 {
            let len = u32::from_be_bytes([0, self.input[0], self.input[1], self.input[2]]) as usize;
            if self.input.len() < 9 + len {
                break;
            }
            let (kind, flags) = (self.input[3], self.input[4]);
            let stream =
                u32::from_be_bytes([self.input[5], self.input[6], self.input[7], self.input[8]])
                    & 0x7fff_ffff;
            let payload: Vec<u8> = self.input[9..9 + len].to_vec();
            self.input.drain(..9 + len);
            match kind {
                // SETTINGS: ack it; take the initial window.
                4 if flags & 1 == 0 => {
                    for s in payload.chunks_exact(6) {
                        if s[..2] == [0, 4] {
                            let new = i64::from(u32::from_be_bytes([s[2], s[3], s[4], s[5]]));
                            for w in self.windows.values_mut() {
                                *w += new - self.initial_window;
                            }
                            self.initial_window = new;
                        }
                    }
                    self.sock
                        .write_all(&frame(4, 1, 0, &[]))
                        .expect("SETTINGS ack");
                }
                4 | 6 => {}
                8 => {
                    let inc = i64::from(
                        u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]])
                            & 0x7fff_ffff,
                    );
                    if stream == 0 {
                        self.conn_window += inc;
                    } else if let Some(w) = self.windows.get_mut(&stream) {
                        *w += inc;
                    }
                }
                _ => self.frames.push((kind, flags, stream, payload)),
            }
        }
    }
}

/// The grpc-status in a header block of ours (literal fields, no Huffman).
pub fn grpc_status(block: &[u8]) -> Option<u8> {
    let at = block.windows(12).position(|w| w == b"\x0bgrpc-status")?;
    match block.get(at + 12..at + 14)? {
        [1, digit] => Some(digit - b'0'),
        _ => None,
    }
}
