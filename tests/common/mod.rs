//! Test support shared by every integration test: start the real `vigil`
//! binary on `127.0.0.1:0` with a fresh data directory, and talk raw HTTP/1.1
//! to it over real sockets, so tests see the exact bytes a client would.
//!
//! Each test file uses only part of this module.
#![allow(dead_code)]

pub mod grpc;
mod metrics;
pub mod probe;
pub mod process;
pub mod sdk;
pub mod server;
pub mod sse;

// Each test binary uses some of these.
#[allow(unused_imports)]
pub use process::{Exited, Process, Stderr};
#[allow(unused_imports)]
pub use server::{refused, vigil_args, vigil_command, Server};

pub use metrics::*;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Asserts that nothing (not even EOF) has arrived on `c` (read for 50 ms):
/// the poll on it is still parked.
pub fn check_silent(c: &mut Conn, what: &str) {
    c.set_read_timeout(Duration::from_millis(50));
    let res = c.reader.fill_buf().map(|b| b.to_vec());
    c.set_read_timeout(Duration::from_secs(60));
    match res {
        Ok(b) if b.is_empty() => {
            panic!("{what}: connection closed although the poll should be parked")
        }
        Ok(b) => panic!(
            "{what}: answered although it should be parked: {:?}",
            lossy(&b)
        ),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        Err(e) => panic!("{what}: read error {e}"),
    }
}

/// A parsed HTTP response, header names kept exactly as sent.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub status_line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// Value of the first header with this exact (case-sensitive) name.
    pub fn header_exact(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Value of the first header with this name, ignoring case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("utf-8 body")
    }
}

/// One client connection that can send several requests (keep-alive).
pub struct Conn {
    pub reader: BufReader<TcpStream>,
}

impl Conn {
    pub fn open(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s.set_nodelay(true).unwrap();
        Conn {
            reader: BufReader::new(s),
        }
    }

    pub fn stream(&mut self) -> &mut TcpStream {
        self.reader.get_mut()
    }

    pub fn send(&mut self, raw: &[u8]) {
        self.stream().write_all(raw).expect("write");
    }

    pub fn set_read_timeout(&mut self, d: Duration) {
        self.stream().set_read_timeout(Some(d)).unwrap();
    }

    /// Reads one response; the body is framed by Content-Length, chunked
    /// encoding or the end of the stream.
    pub fn read_response(&mut self) -> Response {
        self.try_read_response().expect("read response")
    }

    pub fn try_read_response(&mut self) -> std::io::Result<Response> {
        let mut status_line = String::new();
        if self.reader.read_line(&mut status_line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed before a response",
            ));
        }
        let status_line = status_line.trim_end().to_string();
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line)?;
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                break;
            }
            let (k, v) = line.split_once(':').expect("header line");
            headers.push((k.to_string(), v.trim().to_string()));
        }
        let find = |n: &str| {
            headers
                .iter()
                .find(|(k, _): &&(String, String)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        };
        let mut body = Vec::new();
        if let Some(len) = find("Content-Length") {
            let len: usize = len.parse().expect("content-length");
            body.resize(len, 0);
            self.reader.read_exact(&mut body)?;
        } else if find("Transfer-Encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            loop {
                let mut line = String::new();
                self.reader.read_line(&mut line)?;
                let n = usize::from_str_radix(line.trim(), 16).expect("chunk size");
                let mut chunk = vec![0; n + 2];
                self.reader.read_exact(&mut chunk)?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        } else {
            self.reader.read_to_end(&mut body)?;
        }
        Ok(Response {
            status,
            status_line,
            headers,
            body,
        })
    }

    /// Sends a request and reads its response.
    pub fn roundtrip(&mut self, raw: &[u8]) -> Response {
        self.send(raw);
        self.read_response()
    }

    /// True when the server has closed this connection (reads EOF).
    pub fn is_closed(&mut self, wait: Duration) -> bool {
        self.set_read_timeout(wait);
        let mut b = [0u8; 1];
        matches!(self.reader.read(&mut b), Ok(0))
    }
}

/// Sends one raw request on a new connection and reads the response.
pub fn request(addr: SocketAddr, raw: &[u8]) -> Response {
    Conn::open(addr).roundtrip(raw)
}

/// A raw request with exactly these headers (plus `Host`), and a
/// `Content-Length` when a body is given.
pub fn raw(method: &str, target: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Vec<u8> {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    if let Some(b) = body {
        out.extend_from_slice(b);
    }
    out
}

/// A body as text, invalid UTF-8 shown as U+FFFD.
pub fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `path?k=v&...`, or `path` alone when there are no pairs.
pub fn target(path: &str, pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", form(pairs))
    }
}

/// GET `path?pairs` with extra headers, on a new connection.
pub fn get_h(
    addr: SocketAddr,
    path: &str,
    pairs: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Response {
    request(addr, &raw("GET", &target(path, pairs), headers, None))
}

/// GET `path?pairs` on a new connection.
pub fn get(addr: SocketAddr, path: &str, pairs: &[(&str, &str)]) -> Response {
    get_h(addr, path, pairs, &[])
}

/// DELETE `path?pairs` on a new connection.
pub fn delete(addr: SocketAddr, path: &str, pairs: &[(&str, &str)]) -> Response {
    request(addr, &raw("DELETE", &target(path, pairs), &[], None))
}

/// The keys a listener reply names, each as `[dataId, group, tenant]`
/// (tenant empty for a 3-field key), decoded as a client does.
pub fn reply_records(body: &[u8]) -> Vec<[String; 3]> {
    let text = lossy(body);
    let decoded: String = form_urlencoded::parse(format!("x={}", text.trim_end()).as_bytes())
        .map(|(_, v)| v.into_owned())
        .collect();
    decoded
        .split('\u{1}')
        .filter(|r| !r.is_empty())
        .map(|r| {
            let f: Vec<&str> = r.split('\u{2}').collect();
            assert!(f.len() >= 2, "malformed listener reply {text:?}");
            let field = |i: usize| f.get(i).copied().unwrap_or("").to_string();
            [field(0), field(1), field(2)]
        })
        .collect()
}

/// Percent-encodes a form or query value (Java URLEncoder rules).
pub fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Builds `k=v&...` with every value encoded.
pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub fn get_raw(path_and_query: &str) -> Vec<u8> {
    format!("GET {path_and_query} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes()
}

pub fn post_raw(path_and_query: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut r = format!("POST {path_and_query} HTTP/1.1\r\nHost: t\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str(&format!(
        "Content-Type: application/x-www-form-urlencoded;charset=UTF-8\r\nContent-Length: {}\r\n\r\n",
        body.len()
    ));
    let mut r = r.into_bytes();
    r.extend_from_slice(body);
    r
}

pub fn delete_raw(path_and_query: &str) -> Vec<u8> {
    format!("DELETE {path_and_query} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes()
}

/// GET a config; `tenant` may be empty.
pub fn get_config(addr: SocketAddr, data_id: &str, group: &str, tenant: &str) -> Response {
    let q = form(&[("dataId", data_id), ("group", group), ("tenant", tenant)]);
    request(addr, &get_raw(&format!("/nacos/v1/cs/configs?{q}")))
}

/// Publishes with every parameter in the form body.
pub fn publish(
    addr: SocketAddr,
    data_id: &str,
    group: &str,
    tenant: &str,
    content: &str,
) -> Response {
    let body = form(&[
        ("dataId", data_id),
        ("group", group),
        ("tenant", tenant),
        ("content", content),
    ]);
    request(
        addr,
        &post_raw("/nacos/v1/cs/configs", &[], body.as_bytes()),
    )
}

/// Publishes and asserts the exact `true` acknowledgement.
pub fn publish_ok(addr: SocketAddr, data_id: &str, group: &str, tenant: &str, content: &str) {
    let r = publish(addr, data_id, group, tenant, content);
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"true"[..]),
        "publish {data_id}"
    );
}

pub fn delete_config(addr: SocketAddr, data_id: &str, group: &str, tenant: &str) -> Response {
    let q = form(&[("dataId", data_id), ("group", group), ("tenant", tenant)]);
    request(addr, &delete_raw(&format!("/nacos/v1/cs/configs?{q}")))
}

/// Lowercase hex md5, as Nacos computes it.
pub fn md5_hex(s: &str) -> String {
    use md5::{Digest, Md5};
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A listener request: `records` is the decoded `Listening-Configs` value.
pub fn listener_raw(
    records: &str,
    timeout_ms: Option<&str>,
    extra_headers: &[(&str, &str)],
) -> Vec<u8> {
    let body = form(&[("Listening-Configs", records)]);
    let mut headers: Vec<(&str, &str)> = extra_headers.to_vec();
    if let Some(t) = timeout_ms {
        headers.push(("Long-Pulling-Timeout", t));
    }
    post_raw("/nacos/v1/cs/configs/listener", &headers, body.as_bytes())
}

/// Starts a long poll on a fresh connection and returns it unread.
pub fn start_poll(addr: SocketAddr, records: &str, timeout_ms: &str) -> Conn {
    let mut c = Conn::open(addr);
    c.send(&listener_raw(records, Some(timeout_ms), &[]));
    c
}

/// Builds a 3-field (empty tenant) or 4-field listener record.
pub fn record(data_id: &str, group: &str, md5: &str, tenant: Option<&str>) -> String {
    match tenant {
        None => format!("{data_id}\u{2}{group}\u{2}{md5}\u{1}"),
        Some(t) => format!("{data_id}\u{2}{group}\u{2}{md5}\u{2}{t}\u{1}"),
    }
}

/// Memory and CPU time of process `pid`, read from /proc by the load
/// tester's own reader.
pub fn proc_sample(pid: u32) -> vigil_loadtest::procstat::ProcSample {
    vigil_loadtest::procstat::sample(pid).expect("read /proc")
}

// ---------------------------------------------------------------------------
// Long polls: parking, waiting for an answer, staying silent
// ---------------------------------------------------------------------------

/// An immediate answer or a wake-up must arrive within this bound. It is a
/// safety net for a busy two-core machine, not a latency claim (latency is
/// measured by the benches and the load tester).
pub const PROMPT: Duration = Duration::from_secs(5);
/// A parked poll must still be silent after this long.
pub const SILENT: Duration = Duration::from_millis(1500);
/// How long a test waits for the server's gauges to reach a state.
pub const GAUGE_WAIT: Duration = Duration::from_secs(30);

/// A GET of a config; the tenant parameter is left out when `None`.
pub fn get_req(data_id: &str, group: &str, tenant: Option<&str>) -> Vec<u8> {
    let mut pairs = vec![("dataId", data_id), ("group", group)];
    if let Some(t) = tenant {
        pairs.push(("tenant", t));
    }
    raw(
        "GET",
        &format!("/nacos/v1/cs/configs?{}", form(&pairs)),
        &[],
        None,
    )
}

/// Parks a poll (`Long-Pulling-Timeout: 30000`) on a fresh connection.
pub fn park(addr: SocketAddr, records: &str) -> Conn {
    park_with(addr, records, &[])
}

/// Like [`park`], with extra request headers.
pub fn park_with(addr: SocketAddr, records: &str, headers: &[(&str, &str)]) -> Conn {
    let mut c = Conn::open(addr);
    c.send(&listener_raw(records, Some("30000"), headers));
    c
}

/// Waits until the server holds exactly `parked` parked polls (so a poll
/// just sent is registered in the index), then asserts `c` is silent. Used
/// before the event under test, so a "does not wake" check cannot pass
/// because the poll was not parked yet.
pub fn settle(addr: SocketAddr, c: &mut Conn, parked: u64, what: &str) {
    wait_parked(addr, parked, what);
    check_silent(c, what);
}

/// Waits until `parked` polls are parked, then [`SILENT`] more, and asserts
/// `c` is still silent and the server still counts `parked` parked polls.
pub fn expect_silent(addr: SocketAddr, c: &mut Conn, parked: u64, what: &str) {
    wait_parked(addr, parked, what);
    std::thread::sleep(SILENT);
    check_silent(c, what);
    let now = parked_polls(addr);
    assert_eq!(now, parked, "{what}: parked polls on the server");
}

/// How much later than its hold a held poll may be answered: a safety net
/// for a busy two-core machine, not a latency claim.
pub const HOLD_SLACK: Duration = Duration::from_millis(1500);

/// Asserts that a poll timed from before it was sent (`el`) was held between
/// exactly `hold_ms` and [`HOLD_SLACK`] more. No less: the server arms the
/// deadline from a clock read taken after the request arrived, rounded up to
/// whole wheel ticks, so a hold is never short, and a 9.5 s hold where
/// 10 s is due fails.
pub fn assert_held(el: Duration, hold_ms: u64, what: &str) {
    let hold = Duration::from_millis(hold_ms);
    assert!(
        el >= hold && el <= hold + HOLD_SLACK,
        "{what}: held {el:?}, expected {hold:?} (up to {HOLD_SLACK:?} more on a busy machine)"
    );
}

/// Parks a poll on a fence key of its own (`vigil-fence` in `FENCE_GROUP`,
/// absent): see [`pass_fence`].
pub fn park_fence(addr: SocketAddr) -> Conn {
    park(addr, &record("vigil-fence", "FENCE_GROUP", "", None))
}

/// Publishes the fence key and waits for the fence poll to be answered. On
/// a server with one reactor (`--threads 1`) that reactor has then applied
/// every change published before, and woken whom it would: a "not woken"
/// check after it needs no quiet period.
pub fn pass_fence(addr: SocketAddr, fence: &mut Conn, what: &str) {
    publish_ok(addr, "vigil-fence", "FENCE_GROUP", "", "passed");
    let r = answer_within(fence, PROMPT, what);
    assert_eq!(
        lossy(&r.body),
        "vigil-fence%02FENCE_GROUP%01\n",
        "{what}: the fence poll's answer"
    );
}

/// Reads a response that must be complete within `limit`.
pub fn answer_within(c: &mut Conn, limit: Duration, what: &str) -> Response {
    let t = Instant::now();
    c.set_read_timeout(limit + Duration::from_millis(500));
    let r = c
        .try_read_response()
        .unwrap_or_else(|e| panic!("{what}: no answer within {limit:?}: {e}"));
    let el = t.elapsed();
    c.set_read_timeout(Duration::from_secs(60));
    assert!(
        el <= limit,
        "{what}: answered after {el:?}, expected within {limit:?}"
    );
    r
}

/// Sends a request on a new connection; the answer must come within [`PROMPT`].
pub fn immediate(addr: SocketAddr, req: &[u8], what: &str) -> Response {
    let mut c = Conn::open(addr);
    c.send(req);
    answer_within(&mut c, PROMPT, what)
}

/// A poll with `Long-Pulling-Timeout-No-Hangup: true`: answered at once.
pub fn no_hangup(addr: SocketAddr, records: &str, what: &str) -> Response {
    immediate(
        addr,
        &listener_raw(
            records,
            Some("30000"),
            &[("Long-Pulling-Timeout-No-Hangup", "true")],
        ),
        what,
    )
}

/// One key of a listener reply as it must appear on the wire; only for
/// identifiers made of characters Java's `URLEncoder` keeps.
pub fn wire_key(data_id: &str, group: &str, tenant: Option<&str>) -> String {
    match tenant {
        None => format!("{data_id}%02{group}%01"),
        Some(t) => format!("{data_id}%02{group}%02{t}%01"),
    }
}

/// A complete listener reply body naming one key (see [`wire_key`]).
pub fn reply1(data_id: &str, group: &str, tenant: Option<&str>) -> String {
    format!("{}\n", wire_key(data_id, group, tenant))
}

/// Flags every test-started headless Chromium gets: no sandbox (root in
/// CI), nothing fetched from the network on its own.
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];
