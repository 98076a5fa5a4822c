//! Bad HTTP: each malformed request gets its 4xx and harms nobody else

use super::*;

const STORED: &str = "stored content\nkey=value\n";

/// A server with one stored config and one parked poll on another key.
struct Scene {
    s: Server,
    parked: Conn,
}

impl Scene {
    fn new() -> Scene {
        let s = Server::start_args(&[
            "--max-request-line-bytes",
            "4096",
            "--max-header-bytes",
            "4096",
            "--max-body-bytes",
            "1048576",
            "--request-timeout-ms",
            "1000",
        ]);
        publish_ok(s.addr, "stored.properties", DG, "", STORED);
        publish_ok(s.addr, "watched.properties", DG, "", "w1");
        let rec = record("watched.properties", DG, &md5_hex("w1"), None);
        let parked = start_poll(s.addr, &rec, "30000");
        wait_metrics(s.addr, "the poll to park", GAUGE_WAIT, |m| {
            metric(m, "vigil_parked_polls") == 1
        });
        Scene { s, parked }
    }

    /// Sends raw bytes on a fresh connection and reads the answer.
    fn send(&self, raw: &[u8]) -> Response {
        let mut c = Conn::open(self.s.addr);
        c.set_read_timeout(Duration::from_secs(10));
        c.send(raw);
        c.try_read_response()
            .unwrap_or_else(|e| panic!("no response to a bad request: {e}"))
    }

    /// The rejection had the expected status, and harmed nothing else: the
    /// parked poll is still parked, the stored config is unchanged, and the
    /// parked poll is still woken by a real change.
    fn assert_rejected(mut self, r: &Response, status: u16, what: &str) {
        assert!((400..500).contains(&r.status), "{what}: not a 4xx: {r:?}");
        assert_eq!(
            r.status,
            status,
            "{what}: status (body {:?})",
            lossy(&r.body)
        );
        assert!(
            still_waiting(&mut self.parked, Duration::from_millis(100)),
            "{what}: the parked poll on another connection was answered"
        );
        assert_eq!(parked_polls(self.s.addr), 1, "{what}: parked polls");
        let g = get_config(self.s.addr, "stored.properties", DG, "");
        assert_eq!(
            (g.status, lossy(&g.body).as_str()),
            (200, STORED),
            "{what}: stored config changed"
        );
        assert_eq!(
            g.header_exact("Content-MD5"),
            Some(md5_hex(STORED).as_str())
        );
        publish_ok(self.s.addr, "watched.properties", DG, "", "w2");
        self.parked.set_read_timeout(Duration::from_secs(5));
        let w = self
            .parked
            .try_read_response()
            .unwrap_or_else(|e| panic!("{what}: the parked poll was not woken by a change: {e}"));
        assert_eq!(
            (w.status, lossy(&w.body).as_str()),
            (200, "watched.properties%02DEFAULT_GROUP%01\n"),
            "{what}: wake-up of the parked poll"
        );
    }
}

fn form_post(path_and_query: &str, body: &[u8]) -> Vec<u8> {
    post_raw(path_and_query, &[], body)
}

/// Large requests share one memory budget (`--max-buffered-bytes`): a
/// connection that would take the total past it is refused with 503 and
/// closed, while the request already in progress completes, small requests
/// are served, and the buffered total returns to zero.
#[test]
fn large_requests_past_the_global_buffer_budget_get_503() {
    let s = Server::start_args(&[
        "--max-buffered-bytes",
        "1000000",
        "--request-timeout-ms",
        "20000",
    ]);
    publish_ok(s.addr, "kept", "budget", "", "v1");
    let content = "a".repeat(700_000);
    let body = form(&[
        ("dataId", "big"),
        ("group", "budget"),
        ("content", &content),
    ]);
    let head = |len: usize| {
        format!(
            "POST /nacos/v1/cs/configs HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {len}\r\n\r\n"
        )
    };
    let (first, rest) = body.as_bytes().split_at(600_000);
    let mut a = Conn::open(s.addr);
    a.send(head(body.len()).as_bytes());
    a.send(first);
    wait_metrics(
        s.addr,
        "the first large request buffered",
        GAUGE_WAIT,
        |m| metric(m, "vigil_buffered_request_bytes") >= 500_000,
    );
    let mut b = Conn::open(s.addr);
    b.send(head(body.len()).as_bytes());
    // The server may close while this is still being sent.
    let _ = b.stream().write_all(first);
    let refused = b.read_response();
    assert_eq!(refused.status, 503, "{}", lossy(&refused.body));
    // Closed: EOF, or a reset because its unread bytes were discarded.
    b.set_read_timeout(Duration::from_secs(5));
    let mut byte = [0u8; 1];
    match b.reader.read(&mut byte) {
        Ok(0) => {}
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
            ) => {}
        other => panic!("refused connection still open: {other:?}"),
    }
    let r = get_config(s.addr, "kept", "budget", "");
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"v1"[..]),
        "small requests still served"
    );
    a.send(rest);
    let done = a.read_response();
    assert_eq!((done.status, done.body.as_slice()), (200, &b"true"[..]));
    assert_eq!(
        get_config(s.addr, "big", "budget", "").body.len(),
        content.len()
    );
    wait_metrics(
        s.addr,
        "buffered bytes back to (next to) zero",
        GAUGE_WAIT,
        // The metrics request itself is buffered while it is answered.
        |m| metric(m, "vigil_buffered_request_bytes") < 1024,
    );
}

#[test]
fn garbage_bytes_get_400() {
    let sc = Scene::new();
    let r = sc.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x9a\xff garbage \x00\r\n\r\n");
    sc.assert_rejected(&r, 400, "garbage");
}

#[test]
fn request_line_over_the_limit_gets_414() {
    let sc = Scene::new();
    let raw = get_raw(&format!(
        "{CFG}?dataId=stored.properties&group={DG}&pad={}",
        "a".repeat(5000)
    ));
    let r = sc.send(&raw);
    sc.assert_rejected(&r, 414, "long request line");
}

#[test]
fn request_line_over_the_limit_without_its_end_gets_414() {
    let sc = Scene::new();
    // No CRLF yet, but already beyond the limit: no need to wait for more.
    let raw = format!("GET {CFG}?dataId={}", "a".repeat(6000));
    let r = sc.send(raw.as_bytes());
    sc.assert_rejected(&r, 414, "unterminated long request line");
}

#[test]
fn header_fields_over_the_limit_get_431() {
    let sc = Scene::new();
    let raw = format!(
        "GET /nacos/v1/cs/health HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "b".repeat(5000)
    );
    let r = sc.send(raw.as_bytes());
    sc.assert_rejected(&r, 431, "large header");
}

#[test]
fn too_many_header_fields_get_431() {
    let sc = Scene::new();
    let mut raw = String::from("GET /nacos/v1/cs/health HTTP/1.1\r\nHost: t\r\n");
    for i in 0..200 {
        raw.push_str(&format!("X-{i}: y\r\n"));
    }
    raw.push_str("\r\n");
    let r = sc.send(raw.as_bytes());
    sc.assert_rejected(&r, 431, "many headers");
}

#[test]
fn body_over_the_limit_gets_413_before_it_is_sent() {
    let sc = Scene::new();
    // Only the head: the server must answer from Content-Length alone.
    let raw = format!(
        "POST {CFG} HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 2000000\r\n\r\n"
    );
    let r = sc.send(raw.as_bytes());
    sc.assert_rejected(&r, 413, "large body");
}

#[test]
fn chunked_body_over_the_limit_gets_413() {
    let sc = Scene::new();
    let raw = format!(
        "POST {CFG} HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        2_000_000
    );
    let r = sc.send(raw.as_bytes());
    sc.assert_rejected(&r, 413, "large chunk");
}

#[test]
fn body_shorter_than_its_content_length_gets_408_after_the_request_timeout() {
    let sc = Scene::new();
    let raw = format!(
        "POST {CFG} HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ndataId=sto"
    );
    let t = Instant::now();
    let r = sc.send(raw.as_bytes());
    let took = t.elapsed();
    println!("short body answered after {took:?}");
    assert!(
        took >= Duration::from_millis(500),
        "answered {took:?} after the request: before the 1000 ms request timeout"
    );
    sc.assert_rejected(&r, 408, "short body");
}

#[test]
fn malformed_chunked_body_gets_400() {
    let sc = Scene::new();
    let raw = format!(
        "POST {CFG} HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\ndataId=stored.properties\r\n0\r\n\r\n"
    );
    let r = sc.send(raw.as_bytes());
    sc.assert_rejected(&r, 400, "bad chunk size");
}

#[test]
fn chunk_without_its_crlf_gets_400() {
    let sc = Scene::new();
    let raw = format!(
        "POST {CFG} HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcdeXY0\r\n\r\n"
    );
    let r = sc.send(raw.as_bytes());
    sc.assert_rejected(&r, 400, "chunk data overrun");
}

/// Sends `first`, waits so the server reads it alone, then `rest`; returns
/// the status (0 when the connection closed without an answer).
fn status_when_split(addr: SocketAddr, first: &[u8], rest: &[u8]) -> u16 {
    let mut c = Conn::open(addr);
    c.set_read_timeout(Duration::from_secs(15));
    c.send(first);
    std::thread::sleep(Duration::from_millis(300));
    let _ = c.stream().write_all(rest);
    c.try_read_response().map_or(0, |r| r.status)
}

#[test]
fn chunk_size_line_outcome_does_not_depend_on_how_it_is_split() {
    // A chunk extension longer than 1 KiB: accepting or refusing it are both
    // defensible, but the answer must not depend on where a read ends.
    let s = Server::start();
    let body = "dataId=ext.properties&group=DEFAULT_GROUP&content=x";
    let raw = format!(
        "POST {CFG} HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n{:x};ext={}\r\n{body}\r\n0\r\n\r\n",
        body.len(),
        "e".repeat(1100)
    );
    let raw = raw.as_bytes();
    let whole = status_when_split(s.addr, raw, b"");
    assert_ne!(whole, 0, "no answer to the request sent in one read");
    // Cut 10 bytes before the end of the size line: over 1 KiB of it unterminated.
    let line_end = raw.len() - body.len() - "\r\n\r\n0\r\n\r\n".len();
    let cut = line_end - 10;
    let split = status_when_split(s.addr, &raw[..cut], &raw[cut..]);
    println!("long chunk extension: {whole} in one read, {split} split inside the size line");
    assert_eq!(
        split, whole,
        "the same request got {whole} in one read but {split} when a read ended inside its chunk-size line"
    );
}

#[test]
fn invalid_utf8_in_parameters_gets_400() {
    let sc = Scene::new();
    // A publish to the stored key whose content is not UTF-8.
    let body = format!("dataId=stored.properties&group={DG}&content=ok%FF%FEbad");
    let r = sc.send(&form_post(CFG, body.as_bytes()));
    assert!(
        lossy(&r.body).contains("UTF-8"),
        "body does not say why: {:?}",
        lossy(&r.body)
    );
    sc.assert_rejected(&r, 400, "invalid UTF-8 in a form body");
}

#[test]
fn invalid_utf8_in_the_query_gets_400() {
    let sc = Scene::new();
    let r = sc.send(&get_raw(&format!("{CFG}?dataId=%C3%28&group={DG}")));
    sc.assert_rejected(&r, 400, "invalid UTF-8 in a query");
}

#[test]
fn bad_percent_escapes_get_400() {
    let sc = Scene::new();
    for (i, bad) in ["abc%zz", "abc%", "abc%4", "%G1"].iter().enumerate() {
        let body = format!("dataId=stored.properties&group={DG}&content={bad}");
        let r = sc.send(&form_post(CFG, body.as_bytes()));
        assert_eq!(r.status, 400, "escape {i} {bad:?}: {:?}", lossy(&r.body));
    }
    let r = sc.send(&get_raw(&format!(
        "{CFG}?dataId=stored%2.properties&group={DG}"
    )));
    sc.assert_rejected(&r, 400, "bad percent escapes");
}

#[test]
fn malformed_listening_configs_get_400() {
    let sc = Scene::new();
    for (i, records) in [
        "watched.properties\u{1}",
        "a\u{2}b\u{2}c\u{2}d\u{2}e\u{1}",
        "   ",
    ]
    .iter()
    .enumerate()
    {
        let r = sc.send(&listener_raw(records, Some("30000"), &[]));
        assert_eq!(
            (r.status, lossy(&r.body).as_str()),
            (400, "caused: invalid probeModify;"),
            "records {i} {records:?}"
        );
    }
    // A malformed second decode (literal `%zz` after the form decode).
    let body = format!("Listening-Configs={}", enc("a\u{2}b\u{2}%zz\u{1}"));
    let r = sc.send(&post_raw(
        LISTENER,
        &[("Long-Pulling-Timeout", "30000")],
        body.as_bytes(),
    ));
    sc.assert_rejected(&r, 400, "malformed Listening-Configs");
}

#[test]
fn non_numeric_long_pulling_timeout_gets_400() {
    let sc = Scene::new();
    let rec = record("watched.properties", DG, &md5_hex("w1"), None);
    let r = sc.send(&listener_raw(&rec, Some("abc"), &[]));
    assert_eq!(lossy(&r.body), "caused: For input string: \"abc\";");
    sc.assert_rejected(&r, 400, "Long-Pulling-Timeout abc");
}

#[test]
fn listening_to_10001_keys_gets_400() {
    let sc = Scene::new();
    let records: String = (0..10_001)
        .map(|i| record(&format!("k{i:05}"), DG, "", None))
        .collect();
    let r = sc.send(&listener_raw(&records, Some("30000"), &[]));
    assert_eq!(lossy(&r.body), "caused: invalid probeModify;");
    // 10,000 keys are fine (answered at once with No-Hangup).
    let ok: String = (0..10_000)
        .map(|i| record(&format!("k{i:05}"), DG, "", None))
        .collect();
    let r2 = sc.send(&listener_raw(
        &ok,
        Some("30000"),
        &[("Long-Pulling-Timeout-No-Hangup", "true")],
    ));
    assert_eq!((r2.status, r2.body.len()), (200, 0), "10,000 keys");
    sc.assert_rejected(&r, 400, "10,001 keys");
}
