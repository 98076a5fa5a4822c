//! Hardening of `vigil` against hostile or broken surroundings: the disk
//! (unusable data directory or database file at start; the database locked
//! by another process while running), malformed HTTP (every framing and
//! parameter error gets its own 4xx while a parked poll elsewhere stays
//! parked and stored configs stay unchanged, and the outcome does not
//! depend on how the bytes are split across reads), slow and vanishing clients
//! (slowloris, a client that pipelines requests and never reads, 2,000
//! parked clients hanging up at once), overload (more connections than file
//! descriptors, with and without the connection cap), a publish storm
//! through 10,000 parked listeners, and a graceful stop in the middle of
//! traffic.
//!
//! Every test starts its own server on 127.0.0.1; waits are bounded and say
//! what they waited for. Numbers worth knowing (shed counts, CPU, RSS) are
//! printed; run with `--no-capture` to see them.

mod common;

use common::{
    enc, form, get_config, get_raw, listener_raw, md5_hex, post_raw, publish, publish_ok, record,
    request, start_poll, Conn, Response, Server,
};
use common::{lossy, metric, metrics, parked_polls, wait_metrics, GAUGE_WAIT};
use std::collections::HashMap;
use std::io::{BufRead, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CFG: &str = "/nacos/v1/cs/configs";
const LISTENER: &str = "/nacos/v1/cs/configs/listener";
const DG: &str = "DEFAULT_GROUP";

// ---------------------------------------------------------------------------
// /proc helpers
// ---------------------------------------------------------------------------

/// Resident set size of a process, in kB.
fn rss_kb(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

/// CPU time (user + system) of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after = &s[s.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat; `after` starts at field 3.
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    ticks as f64 / clock_ticks()
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// True when nothing arrives on `c` within `wait` and it is still open.
fn still_waiting(c: &mut Conn, wait: Duration) -> bool {
    c.set_read_timeout(wait);
    let r = matches!(
        c.reader.fill_buf(),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
    );
    c.set_read_timeout(Duration::from_secs(60));
    r
}

// ---------------------------------------------------------------------------
// Disk trouble
// ---------------------------------------------------------------------------

/// Runs the binary to completion (bounded), returning (exit code, stderr).
/// Panics if it is still running after 15 s: it started despite the fault.
fn run_expecting_exit(mut cmd: Command, what: &str) -> (Option<i32>, String) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars() {
        if k.starts_with("VIGIL_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd.spawn().expect("spawn vigil");
    let t = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if t.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "{what}: vigil still running after 15 s; stdout {:?} stderr {:?}",
                lossy(&out.stdout),
                lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(
        !out.contains("vigil listening on"),
        "{what}: vigil announced it was listening: {out:?}"
    );
    (status.code(), err)
}

fn vigil_cmd(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigil"));
    cmd.args(["--bind", "127.0.0.1", "--port", "0", "--data-dir"])
        .arg(data_dir);
    cmd
}

fn assert_refused(code: Option<i32>, err: &str, names: &Path, what: &str) {
    assert!(
        code.is_some_and(|c| c != 0),
        "{what}: exit status {code:?} (stderr {err:?})"
    );
    let name = names.display().to_string();
    assert!(
        err.contains(&name),
        "{what}: stderr does not name {name}: {err:?}"
    );
}

#[test]
fn refuses_to_start_when_the_database_path_is_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    std::fs::create_dir_all(dir.join("vigil.db")).unwrap();
    let (code, err) = run_expecting_exit(vigil_cmd(&dir), "vigil.db is a directory");
    assert_refused(code, &err, &dir.join("vigil.db"), "vigil.db is a directory");
    println!("stderr: {}", err.trim());
}

#[test]
fn refuses_to_start_when_the_database_file_is_garbage() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    std::fs::create_dir_all(&dir).unwrap();
    let garbage: Vec<u8> = (0..16_384u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(dir.join("vigil.db"), &garbage).unwrap();
    let (code, err) = run_expecting_exit(vigil_cmd(&dir), "garbage vigil.db");
    assert_refused(code, &err, &dir.join("vigil.db"), "garbage vigil.db");
    // The corrupt file is left alone for an operator to inspect.
    assert_eq!(std::fs::read(dir.join("vigil.db")).unwrap(), garbage);
    println!("stderr: {}", err.trim());
}

#[test]
fn refuses_to_start_when_the_data_dir_path_is_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let (code, err) = run_expecting_exit(vigil_cmd(&file), "data dir is a file");
    assert_refused(code, &err, &file, "data dir is a file");
    println!("stderr: {}", err.trim());
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|v| v.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn refuses_to_start_on_a_read_only_data_dir() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = tmp.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    // Root ignores permission bits, so run the server as `nobody` then.
    let cmd = if running_as_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            env!("CARGO_BIN_EXE_vigil"),
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--data-dir",
        ])
        .arg(&dir);
        c
    } else {
        vigil_cmd(&dir)
    };
    let (code, err) = run_expecting_exit(cmd, "read-only data dir");
    assert_refused(code, &err, &dir, "read-only data dir");
    assert!(
        !dir.join("vigil.db").exists(),
        "a database file appeared in the read-only directory"
    );
    println!("stderr: {}", err.trim());
}

#[test]
fn database_locked_by_another_process_fails_publishes_with_5xx_then_recovers() {
    let s = Server::start();
    let addr = s.addr;
    publish_ok(addr, "locked.properties", DG, "", "v1");
    let rec = record("locked.properties", DG, &md5_hex("v1"), None);
    let mut parked = start_poll(addr, &rec, "30000");
    wait_metrics(addr, "the poll to park", GAUGE_WAIT, |m| {
        metric(m, "vigil_parked_polls") == 1
    });

    let db = rusqlite::Connection::open(s.data_dir.join("vigil.db")).expect("open db");
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    db.execute_batch("BEGIN EXCLUSIVE")
        .expect("take the write lock");

    // The publish waits for the lock in the writer thread, then fails.
    let publisher = std::thread::spawn(move || {
        let t = Instant::now();
        let r = publish(addr, "locked.properties", DG, "", "v2");
        (r, t.elapsed())
    });
    // Meanwhile reads and polls are served from memory.
    for _ in 0..3 {
        let r = get_config(addr, "locked.properties", DG, "");
        assert_eq!(
            (r.status, lossy(&r.body).as_str()),
            (200, "v1"),
            "GET while locked"
        );
        let r = request(
            addr,
            &listener_raw(
                &record("locked.properties", DG, "", None),
                Some("30000"),
                &[],
            ),
        );
        assert_eq!(
            (r.status, lossy(&r.body).as_str()),
            (200, "locked.properties%02DEFAULT_GROUP%01\n"),
            "stale poll while locked"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (r, took) = publisher.join().unwrap();
    let body = lossy(&r.body);
    println!("publish while locked: {} {body:?} after {took:?}", r.status);
    assert!(
        (500..600).contains(&r.status),
        "publish while the database is locked: {} {body:?}",
        r.status
    );
    assert!(
        body.contains("locked") || body.contains("busy"),
        "the 5xx body does not say why: {body:?}"
    );
    // The failed write changed nothing and woke nobody.
    let r = get_config(addr, "locked.properties", DG, "");
    assert_eq!(lossy(&r.body), "v1", "content after the failed publish");
    assert!(
        still_waiting(&mut parked, Duration::from_millis(200)),
        "the parked poll was answered by a failed publish"
    );

    db.execute_batch("ROLLBACK").unwrap();
    drop(db);
    publish_ok(addr, "locked.properties", DG, "", "v2");
    parked.set_read_timeout(Duration::from_secs(5));
    let r = parked.read_response();
    assert_eq!(
        (r.status, lossy(&r.body).as_str()),
        (200, "locked.properties%02DEFAULT_GROUP%01\n"),
        "the parked poll after the lock was released"
    );
    let r = get_config(addr, "locked.properties", DG, "");
    assert_eq!(lossy(&r.body), "v2");
}

// ---------------------------------------------------------------------------
// Bad HTTP: each malformed request gets its 4xx and harms nobody else
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Slow and vanishing clients
// ---------------------------------------------------------------------------

#[test]
fn slowloris_headers_get_408_and_close() {
    let s = Server::start_args(&["--request-timeout-ms", "1000"]);
    let req = b"GET /nacos/v1/cs/health HTTP/1.1\r\nHost: t\r\nUser-Agent: one-byte-at-a-time\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut c = Conn::open(s.addr);
    let t = Instant::now();
    let mut sent = 0;
    for &b in req.iter() {
        if c.stream().write_all(&[b]).is_err() {
            break;
        }
        sent += 1;
        c.set_read_timeout(Duration::from_millis(150));
        let mut peek = [0u8; 1];
        match c.stream().peek(&mut peek) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            _ => break, // data, EOF or reset: the server acted
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "the server still waits for a request started {:?} ago",
            t.elapsed()
        );
    }
    let acted = t.elapsed();
    assert!(sent < req.len(), "the whole slow request was accepted");
    c.set_read_timeout(Duration::from_secs(10));
    let r = c
        .try_read_response()
        .unwrap_or_else(|e| panic!("slowloris connection closed without a 408: {e}"));
    assert_eq!(r.status, 408, "slowloris answer {r:?}");
    assert!(c.is_closed(Duration::from_secs(10)), "not closed after 408");
    assert!(
        acted >= Duration::from_millis(1000),
        "the server acted after {acted:?}, before the 1 s request timeout"
    );
    println!(
        "slowloris: server acted after {acted:?}, {sent} of {} bytes sent",
        req.len()
    );
    // Everyone else is served meanwhile and afterwards.
    let r = request(s.addr, &get_raw("/nacos/v1/cs/health"));
    assert_eq!(r.status, 200);
    let m = metrics(s.addr);
    assert!(metric(&m, "vigil_rejected_total{reason=\"request_timeout\"}") >= 1);
}

#[test]
fn many_slowloris_connections_do_not_starve_others() {
    let s = Server::start_args(&["--request-timeout-ms", "1000"]);
    let addr = s.addr;
    let mut slow: Vec<TcpStream> = (0..200)
        .map(|_| {
            let c = TcpStream::connect(addr).unwrap();
            c.set_nodelay(true).unwrap();
            c
        })
        .collect();
    let t = Instant::now();
    let mut closed = 0;
    let req = b"GET /nacos/v1/cs/health HTTP/1.1\r\nHost: t\r\nX-Pad: aaaaaaaaaaaaaaaaaa\r\n\r\n";
    'bytes: for &b in req.iter() {
        for c in slow.iter_mut() {
            let _ = c.write_all(&[b]);
        }
        // A normal client is served while 200 connections dribble.
        let r = request(addr, &get_raw("/nacos/v1/cs/health"));
        assert_eq!(r.status, 200, "normal client during slowloris");
        std::thread::sleep(Duration::from_millis(100));
        if t.elapsed() > Duration::from_secs(3) {
            break 'bytes;
        }
    }
    for c in slow.iter_mut() {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = Vec::new();
        match c.read_to_end(&mut buf) {
            Ok(_) => {
                let text = lossy(&buf);
                assert!(
                    text.starts_with("HTTP/1.1 408"),
                    "slow connection got {text:?}, expected a 408 and a close"
                );
                closed += 1;
            }
            // It kept sending after the 408 and the close: the kernel may
            // drop the unread 408 on the reset that answers those bytes.
            Err(e) if e.kind() == ErrorKind::ConnectionReset => closed += 1,
            Err(e) => panic!("slow connection not answered 408 and closed: {e}"),
        }
    }
    println!("{closed} of 200 slowloris connections answered 408 and closed by the server");
}

#[test]
fn pipelined_gets_never_read_leave_the_server_responsive_with_bounded_memory() {
    let s = Server::start();
    let addr = s.addr;
    let big: String = (0..16_384)
        .map(|i| format!("line {i:05} {}\n", "x".repeat(50)))
        .collect();
    assert!(big.len() > 900_000);
    publish_ok(addr, "big.txt", DG, "", &big);
    let rss_before = rss_kb(s.pid());

    const HOGS: usize = 8;
    const PIPELINED: usize = 20_000;
    let one = get_raw(&format!("{CFG}?dataId=big.txt&group={DG}"));
    let burst: Vec<u8> = one.repeat(PIPELINED);
    let mut hogs = Vec::new();
    let mut written_total = 0;
    for _ in 0..HOGS {
        let mut h = TcpStream::connect(addr).unwrap();
        h.set_nonblocking(true).unwrap();
        let mut off = 0;
        let t = Instant::now();
        // Write until the server stops reading (the socket buffers fill).
        while off < burst.len() && t.elapsed() < Duration::from_millis(500) {
            match h.write(&burst[off..]) {
                Ok(n) => off += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => panic!("hog write failed: {e}"),
            }
        }
        written_total += off;
        hogs.push(h);
    }
    let mut max_rss = 0;
    for round in 0..10 {
        let t = Instant::now();
        let mut c = Conn::open(addr);
        c.set_read_timeout(Duration::from_secs(10));
        let r = c.roundtrip(&one);
        assert_eq!(
            r.status, 200,
            "GET of the big config while hogged (round {round})"
        );
        assert!(r.body == big.as_bytes(), "big config content while hogged");
        let r = c.roundtrip(&get_raw("/nacos/v1/cs/health"));
        assert_eq!(r.status, 200);
        max_rss = max_rss.max(rss_kb(s.pid()));
        if round == 9 {
            println!(
                "responsive: GET of {} bytes in {:?}",
                big.len(),
                t.elapsed()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    println!(
        "{HOGS} non-reading clients sent {written_total} request bytes (of {}); RSS {} MB before, max {} MB during",
        HOGS * burst.len(),
        rss_before / 1024,
        max_rss / 1024
    );
    assert!(
        max_rss < 500 * 1024,
        "server RSS reached {} MB with non-reading clients",
        max_rss / 1024
    );
    drop(hogs);
    wait_metrics(addr, "the hogs to be closed", GAUGE_WAIT, |m| {
        metric(m, "vigil_connections") <= 1
    });
}

#[test]
fn two_thousand_parked_clients_vanishing_leave_nothing_behind() {
    let s = Server::start();
    let addr = s.addr;
    publish_ok(addr, "real.properties", DG, "", "r");
    wait_metrics(addr, "a quiet server", GAUGE_WAIT, |m| {
        metric(m, "vigil_connections") == 1 && metric(m, "vigil_parked_polls") == 0
    });
    // Per-reactor gauges settle asynchronously after the publish: read the
    // baseline again once they have had time to.
    std::thread::sleep(Duration::from_millis(300));
    let base = wait_metrics(addr, "a quiet server", GAUGE_WAIT, |m| {
        metric(m, "vigil_connections") == 1 && metric(m, "vigil_parked_polls") == 0
    });
    let base_keys = metric(&base, "vigil_indexed_keys");
    let real = record("real.properties", DG, &md5_hex("r"), None);
    let polls: Vec<Conn> = (0..2000)
        .map(|i| {
            let ghost = record(&format!("ghost-{:03}", i % 300), DG, "", None);
            start_poll(addr, &format!("{ghost}{real}"), "60000")
        })
        .collect();
    let m = wait_metrics(addr, "2,000 parked polls", Duration::from_secs(15), |m| {
        metric(m, "vigil_parked_polls") == 2000
    });
    println!(
        "parked: connections {}, polls {}, waiters {}, keys {} (base {base_keys}), timers {}",
        metric(&m, "vigil_connections"),
        metric(&m, "vigil_parked_polls"),
        metric(&m, "vigil_index_waiters"),
        metric(&m, "vigil_indexed_keys"),
        metric(&m, "vigil_armed_timers")
    );
    assert_eq!(metric(&m, "vigil_index_waiters"), 4000);
    assert!(metric(&m, "vigil_indexed_keys") > base_keys);
    let t = Instant::now();
    drop(polls);
    // `vigil_connections` counts the connection asking for the metrics, so
    // "no connections left" reads 1.
    let m = wait_metrics(
        addr,
        "every trace of the vanished clients to go",
        GAUGE_WAIT,
        |m| {
            metric(m, "vigil_parked_polls") == 0
                && metric(m, "vigil_index_waiters") == 0
                && metric(m, "vigil_indexed_keys") == base_keys
                && metric(m, "vigil_connections") == 1
        },
    );
    println!(
        "cleaned up in {:?}: timers {} (base {}), keys {}",
        t.elapsed(),
        metric(&m, "vigil_armed_timers"),
        metric(&base, "vigil_armed_timers"),
        metric(&m, "vigil_indexed_keys")
    );
    // The real key still works.
    let r = get_config(addr, "real.properties", DG, "");
    assert_eq!(lossy(&r.body), "r");
}

// ---------------------------------------------------------------------------
// Overload: more connections than file descriptors
// ---------------------------------------------------------------------------

/// A server started under a low open-file limit (its own spawn: the common
/// helper runs the binary directly).
struct Limited {
    child: Child,
    addr: SocketAddr,
    _tmp: tempfile::TempDir,
}

impl Drop for Limited {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(tool))
            .find(|f| f.is_file())
    })
}

fn start_with_fd_limit(nofile: u32, extra: &[&str]) -> Limited {
    let tmp = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_vigil");
    let mut cmd = if which("prlimit").is_some() {
        let mut c = Command::new("prlimit");
        c.arg(format!("--nofile={nofile}:{nofile}"))
            .arg("--")
            .arg(bin);
        c
    } else {
        let mut c = Command::new("sh");
        c.args([
            "-c",
            &format!("ulimit -n {nofile} && exec \"$0\" \"$@\""),
            bin,
        ]);
        c
    };
    common::vigil_args(&mut cmd, &tmp.path().join("data"), extra);
    let mut child = cmd.spawn().expect("spawn limited vigil");
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        match lines.next() {
            Some(Ok(l)) => {
                if let Some(a) = l.strip_prefix("vigil listening on ") {
                    break a.trim().parse().expect("address");
                }
            }
            _ => panic!("limited vigil exited before listening: {:?}", child.wait()),
        }
    };
    std::thread::spawn(move || for _ in lines.by_ref() {});
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .to_string();
    assert!(
        line.split_whitespace().nth(3) == Some(&nofile.to_string()),
        "the server's fd limit: {line}"
    );
    Limited {
        child,
        addr,
        _tmp: tmp,
    }
}

/// What became of one flood connection.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fate {
    Pending,
    Served(Duration),
    Shed(Duration),
}

fn health_ok(c: &mut Conn) -> bool {
    c.set_read_timeout(Duration::from_secs(5));
    if c.stream()
        .write_all(&get_raw("/nacos/v1/cs/health"))
        .is_err()
    {
        return false;
    }
    matches!(c.try_read_response(), Ok(r) if r.status == 200)
}

/// Opens `existing` served connections, then a flood of `flood` more on a
/// server limited to 256 descriptors, and checks the server sheds the
/// excess quickly, keeps serving the existing ones, idles while saturated
/// and serves new connections once the flood is gone.
fn flood_a_limited_server(extra: &[&str], label: &str) {
    const EXISTING: usize = 50;
    const FLOOD: usize = 400;
    const SHED_WITHIN: Duration = Duration::from_secs(10);
    let srv = start_with_fd_limit(256, extra);
    let addr = srv.addr;
    let pid = srv.child.id();
    let mut existing: Vec<Conn> = (0..EXISTING).map(|_| Conn::open(addr)).collect();
    for (i, c) in existing.iter_mut().enumerate() {
        assert!(health_ok(c), "{label}: existing connection {i} not served");
    }

    let t0 = Instant::now();
    let mut flood: Vec<Option<TcpStream>> = Vec::with_capacity(FLOOD);
    let mut fates = vec![Fate::Pending; FLOOD];
    let mut bufs = vec![Vec::new(); FLOOD];
    let req = get_raw("/nacos/v1/cs/health");
    for fate in fates.iter_mut() {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(mut c) => {
                if c.write_all(&req).is_err() {
                    *fate = Fate::Shed(t0.elapsed());
                }
                c.set_nonblocking(true).unwrap();
                flood.push(Some(c));
            }
            Err(_) => {
                *fate = Fate::Shed(t0.elapsed());
                flood.push(None);
            }
        }
    }
    let opened = t0.elapsed();
    // Classify every flood connection: answered, or closed/reset by the server.
    while fates.contains(&Fate::Pending)
        && t0.elapsed() < opened + SHED_WITHIN + Duration::from_secs(10)
    {
        for i in 0..FLOOD {
            if fates[i] != Fate::Pending {
                continue;
            }
            let Some(c) = flood[i].as_mut() else { continue };
            let mut b = [0u8; 4096];
            match c.read(&mut b) {
                Ok(0) => fates[i] = Fate::Shed(t0.elapsed()),
                Ok(n) => {
                    bufs[i].extend_from_slice(&b[..n]);
                    let text = lossy(&bufs[i]);
                    if text.contains("\r\n\r\n") && text.ends_with("UP") {
                        assert!(
                            text.starts_with("HTTP/1.1 200"),
                            "{label}: flood reply {text:?}"
                        );
                        fates[i] = Fate::Served(t0.elapsed());
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => fates[i] = Fate::Shed(t0.elapsed()),
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let served = fates
        .iter()
        .filter(|f| matches!(f, Fate::Served(_)))
        .count();
    let shed: Vec<Duration> = fates
        .iter()
        .filter_map(|f| match f {
            Fate::Shed(d) => Some(*d),
            _ => None,
        })
        .collect();
    let pending = fates.iter().filter(|f| **f == Fate::Pending).count();
    let slowest_shed = shed.iter().max().copied().unwrap_or_default();
    let late = shed.iter().filter(|d| **d > opened + SHED_WITHIN).count();

    // Saturated: the served flood connections are still open. CPU use?
    let cpu0 = cpu_seconds(pid);
    std::thread::sleep(Duration::from_secs(2));
    let cpu = cpu_seconds(pid) - cpu0;
    // Existing connections are still served.
    let existing_ok = existing.iter_mut().map(health_ok).filter(|ok| *ok).count();
    println!(
        "{label}: flood of {FLOOD} opened in {opened:?}: {served} served, {} shed (slowest after \
         {slowest_shed:?}, {late} later than {SHED_WITHIN:?} after the flood), {pending} pending; \
         {existing_ok}/{EXISTING} existing served; CPU {cpu:.2} s over 2 s while saturated",
        shed.len()
    );
    let mut failures = Vec::new();
    if shed.is_empty() {
        failures.push("nothing was shed".to_string());
    }
    if existing_ok != EXISTING {
        failures.push(format!(
            "only {existing_ok} of {EXISTING} existing connections served"
        ));
    }
    if cpu >= 1.0 {
        failures.push(format!("{cpu:.2} CPU seconds in 2 s while saturated"));
    }
    if pending > 0 {
        failures.push(format!(
            "{pending} flood connections neither served nor closed {:?} after the flood",
            t0.elapsed()
        ));
    }
    if late > 0 {
        failures.push(format!(
            "{late} flood connections shed more than {SHED_WITHIN:?} after the flood (slowest \
             {slowest_shed:?})"
        ));
    }

    // The flood goes away; new connections are served again.
    drop(flood);
    let t = Instant::now();
    let recovered = loop {
        let mut c = Conn::open(addr);
        if health_ok(&mut c) {
            break true;
        }
        if t.elapsed() > Duration::from_secs(10) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if recovered {
        let m = metrics(addr);
        println!(
            "{label}: new connections served again after {:?}; \
             vigil_rejected_total{{reason=\"connection_shed\"}} {}",
            t.elapsed(),
            metric(&m, "vigil_rejected_total{reason=\"connection_shed\"}")
        );
    } else {
        failures.push("new connections not served 10 s after the flood closed".to_string());
    }
    assert!(failures.is_empty(), "{label}: {}", failures.join("; "));
}

#[test]
fn fd_limit_with_default_connection_cap_sheds_excess_and_recovers() {
    flood_a_limited_server(&[], "default cap (256 - 64)");
}

#[test]
fn fd_exhaustion_without_a_cap_sheds_excess_and_recovers() {
    flood_a_limited_server(&["--max-connections", "100000"], "EMFILE (cap 100000)");
}

// ---------------------------------------------------------------------------
// A publish storm through 10,000 parked listeners
// ---------------------------------------------------------------------------

mod storm {
    use super::*;
    use mio::net::TcpStream as MioStream;
    use mio::{Events, Interest, Poll, Token};
    use std::sync::mpsc;

    pub const KEYS: usize = 50;
    pub const LISTENERS: usize = 10_000;

    pub fn key_name(k: usize) -> String {
        format!("storm-{k:02}.properties")
    }

    /// The two keys of listener `i`: distinct, spread over all keys.
    pub fn keys_of(i: usize) -> [usize; 2] {
        let a = i % KEYS;
        let b = (a + 1 + (i / KEYS) % (KEYS - 1)) % KEYS;
        [a, b]
    }

    pub fn poll_request(keys: [usize; 2], md5: &[String; 2]) -> Vec<u8> {
        let records: String = (0..2)
            .map(|j| record(&key_name(keys[j]), DG, &md5[j], None))
            .collect();
        listener_raw(&records, Some("60000"), &[])
    }

    enum Waiting {
        Poll,
        Get(usize),
    }

    struct Client {
        stream: MioStream,
        keys: [usize; 2],
        md5: [String; 2],
        inbuf: Vec<u8>,
        out: Vec<u8>,
        waiting: Waiting,
        to_get: Vec<usize>,
        /// Wake-ups naming each of its keys since the wave began.
        wakes: [u32; 2],
        empty_replies: u32,
    }

    /// A wave: the md5 every key must end on, and which keys changed (and
    /// so must wake each of their listeners between `min` and `max` times).
    pub struct Wave {
        pub latest: Vec<String>,
        pub changed: Vec<bool>,
        pub min: u32,
        pub max: u32,
    }

    pub enum Cmd {
        Wave(Wave),
        /// Report any reply that arrived since the last wave ended.
        Quiet,
        Stop,
    }

    pub struct Report {
        pub ok: bool,
        pub problems: Vec<String>,
        pub wakes: u64,
        pub gets: u64,
    }

    /// Splits one HTTP response off the front of `buf`: (status, md5 header, body).
    fn take_response(buf: &mut Vec<u8>) -> Option<(u16, Option<String>, Vec<u8>)> {
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let mut len = 0;
        let mut md5 = None;
        for l in head.lines().skip(1) {
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("Content-Length") {
                    len = v.trim().parse().unwrap();
                } else if k.eq_ignore_ascii_case("Content-MD5") {
                    md5 = Some(v.trim().to_string());
                }
            }
        }
        if buf.len() < end + 4 + len {
            return None;
        }
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let body = buf[end + 4..end + 4 + len].to_vec();
        buf.drain(..end + 4 + len);
        Some((status, md5, body))
    }

    /// Drives every listener like a real client: on a wake, GET the named
    /// keys and poll again with their new md5s.
    pub fn run(
        streams: Vec<(usize, std::net::TcpStream)>,
        initial_md5: Vec<String>,
        cmds: mpsc::Receiver<Cmd>,
        reports: mpsc::Sender<Report>,
    ) {
        let mut poll = Poll::new().unwrap();
        let mut clients: Vec<Client> = Vec::with_capacity(streams.len());
        let mut slot_of = vec![0usize; LISTENERS];
        for (i, s) in streams {
            s.set_nonblocking(true).unwrap();
            let mut stream = MioStream::from_std(s);
            poll.registry()
                .register(
                    &mut stream,
                    Token(clients.len()),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .unwrap();
            slot_of[i] = clients.len();
            let keys = keys_of(i);
            clients.push(Client {
                stream,
                keys,
                md5: [initial_md5[keys[0]].clone(), initial_md5[keys[1]].clone()],
                inbuf: Vec::new(),
                out: Vec::new(),
                waiting: Waiting::Poll,
                to_get: Vec::new(),
                wakes: [0, 0],
                empty_replies: 0,
            });
        }
        let mut events = Events::with_capacity(4096);
        let mut wave: Option<Wave> = None;
        let mut problems: Vec<String> = Vec::new();
        let (mut wakes, mut gets) = (0u64, 0u64);
        let mut scratch = vec![0u8; 65536];
        loop {
            if wave.is_none() {
                match cmds.try_recv() {
                    Ok(Cmd::Wave(w)) => wave = Some(w),
                    Ok(Cmd::Quiet) => {
                        let stray: usize = clients
                            .iter()
                            .filter(|c| c.wakes != [0, 0] || !c.inbuf.is_empty())
                            .count();
                        let mut p = std::mem::take(&mut problems);
                        if stray > 0 {
                            p.push(format!("{stray} listeners got replies after the last wave"));
                        }
                        let _ = reports.send(Report {
                            ok: p.is_empty(),
                            problems: p,
                            wakes,
                            gets,
                        });
                    }
                    Ok(Cmd::Stop) | Err(mpsc::TryRecvError::Disconnected) => return,
                    Err(mpsc::TryRecvError::Empty) => {}
                }
            }
            poll.poll(&mut events, Some(Duration::from_millis(10)))
                .unwrap();
            for ev in events.iter() {
                let c = &mut clients[ev.token().0];
                if ev.is_readable() || ev.is_read_closed() {
                    loop {
                        match c.stream.read(&mut scratch) {
                            Ok(0) => {
                                problems
                                    .push(format!("listener {:?} closed by the server", c.keys));
                                break;
                            }
                            Ok(n) => c.inbuf.extend_from_slice(&scratch[..n]),
                            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                            Err(e) => {
                                problems.push(format!("listener read: {e}"));
                                break;
                            }
                        }
                    }
                    while let Some((status, md5, body)) = take_response(&mut c.inbuf) {
                        if status != 200 {
                            problems.push(format!("status {status}: {}", lossy(&body)));
                            continue;
                        }
                        match c.waiting {
                            Waiting::Poll => {
                                if body.is_empty() {
                                    c.empty_replies += 1;
                                }
                                for [id, _, _] in common::reply_records(&body) {
                                    let Some(j) = (0..2).find(|&j| key_name(c.keys[j]) == id)
                                    else {
                                        problems.push(format!("woken for a foreign key {id}"));
                                        continue;
                                    };
                                    c.wakes[j] += 1;
                                    wakes += 1;
                                    c.to_get.push(j);
                                }
                            }
                            Waiting::Get(j) => {
                                let want = md5_hex(&String::from_utf8(body).unwrap());
                                if md5.as_deref() != Some(want.as_str()) {
                                    problems.push(format!("Content-MD5 {md5:?} != {want}"));
                                }
                                c.md5[j] = want;
                                gets += 1;
                            }
                        }
                        // Next step of the client: a GET, or the poll again.
                        if let Some(j) = c.to_get.pop() {
                            c.waiting = Waiting::Get(j);
                            c.out.extend_from_slice(&get_raw(&format!(
                                "{CFG}?dataId={}&group={DG}",
                                key_name(c.keys[j])
                            )));
                        } else {
                            c.waiting = Waiting::Poll;
                            c.out.extend_from_slice(&poll_request(c.keys, &c.md5));
                        }
                    }
                }
                while !c.out.is_empty() {
                    match c.stream.write(&c.out) {
                        Ok(n) => {
                            c.out.drain(..n);
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => {
                            problems.push(format!("listener write: {e}"));
                            c.out.clear();
                        }
                    }
                }
            }
            // Is the wave complete: every client polling with the latest md5s?
            if let Some(w) = &wave {
                let done = clients.iter().all(|c| {
                    matches!(c.waiting, Waiting::Poll)
                        && c.out.is_empty()
                        && c.inbuf.is_empty()
                        && c.md5[0] == w.latest[c.keys[0]]
                        && c.md5[1] == w.latest[c.keys[1]]
                });
                if done {
                    let mut p = std::mem::take(&mut problems);
                    let mut bad = 0;
                    for c in clients.iter_mut() {
                        for j in 0..2 {
                            let (lo, hi) = if w.changed[c.keys[j]] {
                                (w.min, w.max)
                            } else {
                                (0, 0)
                            };
                            if c.wakes[j] < lo || c.wakes[j] > hi {
                                bad += 1;
                                if bad <= 5 {
                                    p.push(format!(
                                        "listener of {:?} woken {} times for {} (expected {lo}..={hi})",
                                        c.keys,
                                        c.wakes[j],
                                        key_name(c.keys[j])
                                    ));
                                }
                            }
                        }
                        c.wakes = [0, 0];
                    }
                    if bad > 5 {
                        p.push(format!("... {bad} wrong wake counts in all"));
                    }
                    let _ = reports.send(Report {
                        ok: p.is_empty(),
                        problems: p,
                        wakes,
                        gets,
                    });
                    wave = None;
                }
            }
        }
    }
}

fn publish_on(c: &mut Conn, k: usize, content: &str) {
    let body = form(&[
        ("dataId", &storm::key_name(k)),
        ("group", DG),
        ("content", content),
    ]);
    let r = c.roundtrip(&post_raw(CFG, &[], body.as_bytes()));
    assert_eq!(
        (r.status, lossy(&r.body).as_str()),
        (200, "true"),
        "publish {k}"
    );
}

#[test]
fn publish_storm_wakes_each_of_10000_parked_listeners_for_every_change_of_its_keys() {
    use std::sync::mpsc;
    use storm::{Cmd, Wave, KEYS, LISTENERS};
    let s = Server::start();
    let addr = s.addr;
    let t_all = Instant::now();
    let mut latest: Vec<String> = Vec::new();
    let mut pubc = Conn::open(addr);
    for k in 0..KEYS {
        let v = format!("v0 of key {k}");
        publish_on(&mut pubc, k, &v);
        latest.push(md5_hex(&v));
    }

    // Open 10,000 parked polls from 4 threads.
    let opener = |part: usize| {
        let latest = latest.clone();
        std::thread::spawn(move || {
            (0..LISTENERS)
                .filter(|i| i % 4 == part)
                .map(|i| {
                    let mut c = TcpStream::connect(addr).expect("connect listener");
                    let keys = storm::keys_of(i);
                    let md5 = [latest[keys[0]].clone(), latest[keys[1]].clone()];
                    c.write_all(&storm::poll_request(keys, &md5)).unwrap();
                    (i, c)
                })
                .collect::<Vec<_>>()
        })
    };
    let streams: Vec<(usize, TcpStream)> = (0..4)
        .map(opener)
        .collect::<Vec<_>>()
        .into_iter()
        .flat_map(|h| h.join().expect("opener"))
        .collect();
    let (cmd_tx, cmd_rx) = mpsc::channel();
    let (rep_tx, rep_rx) = mpsc::channel();
    let initial = latest.clone();
    let driver = std::thread::spawn(move || storm::run(streams, initial, cmd_rx, rep_tx));
    let m = wait_metrics(addr, "10,000 parked listeners", GAUGE_WAIT, |m| {
        metric(m, "vigil_parked_polls") == LISTENERS as u64
    });
    println!(
        "10,000 listeners parked after {:?}: {} waiters, {} connections",
        t_all.elapsed(),
        metric(&m, "vigil_index_waiters"),
        metric(&m, "vigil_connections")
    );

    // Waves: 5 x 10 keys, then all 50, then all 50 twice in a burst.
    let mut waves: Vec<(Vec<usize>, usize)> = (0..5)
        .map(|w| ((w * 10..w * 10 + 10).collect(), 1))
        .collect();
    waves.push(((0..KEYS).collect(), 1));
    waves.push(((0..KEYS).collect(), 2));
    for (n, (keys, times)) in waves.iter().enumerate() {
        let t = Instant::now();
        let mut changed = vec![false; KEYS];
        if keys.len() == KEYS {
            // The storm proper: every key at once from 10 connections.
            let handles: Vec<_> = (0..10)
                .map(|part| {
                    let mine: Vec<usize> =
                        keys.iter().copied().filter(|k| k % 10 == part).collect();
                    let (times, wave) = (*times, n + 1);
                    std::thread::spawn(move || {
                        let mut c = Conn::open(addr);
                        let mut md5s = Vec::new();
                        for rep in 0..times {
                            for &k in &mine {
                                let v = format!("wave {wave} pass {rep} of key {k}");
                                publish_on(&mut c, k, &v);
                                md5s.push((k, md5_hex(&v)));
                            }
                        }
                        md5s
                    })
                })
                .collect();
            for h in handles {
                for (k, md5) in h.join().expect("storm publisher") {
                    latest[k] = md5;
                    changed[k] = true;
                }
            }
        } else {
            for &k in keys {
                let v = format!("wave {} of key {k}", n + 1);
                publish_on(&mut pubc, k, &v);
                latest[k] = md5_hex(&v);
                changed[k] = true;
            }
        }
        cmd_tx
            .send(Cmd::Wave(Wave {
                latest: latest.clone(),
                changed,
                min: 1,
                max: *times as u32,
            }))
            .unwrap();
        let rep = rep_rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                panic!(
                    "wave {}: listeners did not all converge on the latest md5s within 30 s",
                    n + 1
                )
            });
        assert!(rep.ok, "wave {}: {:?}", n + 1, rep.problems);
        wait_metrics(addr, "every listener to park again", GAUGE_WAIT, |m| {
            metric(m, "vigil_parked_polls") == LISTENERS as u64
        });
        println!(
            "wave {}: {} keys x{times} published; all listeners woken and re-parked on the latest \
             md5s in {:?} (wake-ups so far {}, GETs {})",
            n + 1,
            keys.len(),
            t.elapsed(),
            rep.wakes,
            rep.gets
        );
    }
    // Held on the latest md5s: nothing more arrives.
    std::thread::sleep(Duration::from_millis(500));
    cmd_tx.send(Cmd::Quiet).unwrap();
    let rep = rep_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("quiet report");
    assert!(rep.ok, "after the storm: {:?}", rep.problems);
    assert_eq!(parked_polls(addr), LISTENERS as u64);
    cmd_tx.send(Cmd::Stop).unwrap();
    driver.join().expect("driver");
    println!("storm done in {:?}", t_all.elapsed());
}

// ---------------------------------------------------------------------------
// Graceful stop in the middle of traffic
// ---------------------------------------------------------------------------

#[test]
fn sigterm_mid_traffic_commits_acknowledged_publishes_answers_parked_polls_and_exits_0() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    let mut s = Server::start();
    let tmp = s.take_tmp().unwrap();
    let dir = s.data_dir.clone();
    let addr = s.addr;
    for k in 0..20 {
        publish_ok(addr, &format!("still-{k}"), DG, "", "v");
    }
    let parked: Vec<Conn> = (0..40)
        .map(|i| {
            let rec = record(&format!("still-{}", i % 20), DG, &md5_hex("v"), None);
            start_poll(addr, &rec, "60000")
        })
        .collect();
    wait_metrics(addr, "40 parked polls", GAUGE_WAIT, |m| {
        metric(m, "vigil_parked_polls") == 40
    });

    // Publishers: (key -> (last acknowledged, in flight)).
    type Ledger = HashMap<String, (Option<String>, Option<String>)>;
    let stop = Arc::new(AtomicBool::new(false));
    let publishers: Vec<_> = (0..4)
        .map(|w| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut ledger = Ledger::new();
                let mut acked = 0;
                let Ok(s) = TcpStream::connect(addr) else {
                    return (ledger, acked);
                };
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let mut c = Conn {
                    reader: std::io::BufReader::new(s),
                };
                for seq in 0u64.. {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let key = if seq.is_multiple_of(2) {
                        format!("hot-{w}")
                    } else {
                        format!("once-{w}-{seq}")
                    };
                    let content = format!("worker {w} seq {seq}");
                    let e = ledger.entry(key.clone()).or_default();
                    e.1 = Some(content.clone());
                    let body = form(&[("dataId", &key), ("group", DG), ("content", &content)]);
                    if c.stream()
                        .write_all(&post_raw(CFG, &[], body.as_bytes()))
                        .is_err()
                    {
                        break;
                    }
                    match c.try_read_response() {
                        Ok(r) if r.status == 200 && r.body == b"true" => {
                            *e = (Some(content), None);
                            acked += 1;
                        }
                        Ok(r) => panic!("publish answered {} {:?}", r.status, lossy(&r.body)),
                        Err(_) => break,
                    }
                }
                (ledger, acked)
            })
        })
        .collect();
    // Listeners that follow the hot keys like real clients; each counts the
    // polls answered with its key.
    let woken: Arc<[AtomicUsize; 4]> = Arc::new(Default::default());
    let followers: Vec<_> = (0..4)
        .map(|w| {
            let woken = woken.clone();
            std::thread::spawn(move || {
                let mut c = Conn::open(addr);
                c.set_read_timeout(Duration::from_secs(20));
                let mut md5 = String::new();
                let mut answered = 0;
                loop {
                    let rec = record(&format!("hot-{w}"), DG, &md5, None);
                    if c.stream()
                        .write_all(&listener_raw(&rec, Some("60000"), &[]))
                        .is_err()
                    {
                        return answered;
                    }
                    let Ok(r) = c.try_read_response() else {
                        return answered;
                    };
                    assert_eq!(r.status, 200, "follower poll: {:?}", lossy(&r.body));
                    answered += 1;
                    if r.body.is_empty() {
                        continue;
                    }
                    woken[w].fetch_add(1, Ordering::SeqCst);
                    let g = get_raw(&format!("{CFG}?dataId=hot-{w}&group={DG}"));
                    if c.stream().write_all(&g).is_err() {
                        return answered;
                    }
                    let Ok(r) = c.try_read_response() else {
                        return answered;
                    };
                    md5 = md5_hex(&lossy(&r.body));
                }
            })
        })
        .collect();

    // Stop mid-traffic, once every follower has been woken at least once.
    std::thread::sleep(Duration::from_millis(700));
    let t = Instant::now();
    while woken.iter().any(|n| n.load(Ordering::SeqCst) == 0) {
        assert!(
            t.elapsed() < GAUGE_WAIT,
            "followers not all woken by the publishes of their keys: {woken:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let st = s.sigterm();
    stop.store(true, Ordering::SeqCst);
    assert_eq!(st.code(), Some(0), "exit status after SIGTERM: {st}");

    for (i, mut c) in parked.into_iter().enumerate() {
        c.set_read_timeout(Duration::from_secs(15));
        let r = c
            .try_read_response()
            .unwrap_or_else(|e| panic!("parked poll {i} got no answer before the exit: {e}"));
        assert_eq!(
            (r.status, r.body.len()),
            (200, 0),
            "parked poll {i}: {:?}",
            lossy(&r.body)
        );
    }
    let mut ledger = Ledger::new();
    let mut acked = 0;
    for p in publishers {
        let (l, n) = p.join().expect("publisher");
        ledger.extend(l);
        acked += n;
    }
    let answered: usize = followers
        .into_iter()
        .map(|f| f.join().expect("follower"))
        .sum();
    assert!(acked > 0, "no publish was acknowledged before SIGTERM");

    let s2 = Server::start_in(&dir, &[]);
    let mut c = Conn::open(s2.addr);
    let (mut found, mut landed) = (0, 0);
    for (key, (ack, in_flight)) in &ledger {
        let r = c.roundtrip(&get_raw(&format!("{CFG}?dataId={key}&group={DG}")));
        let got = (r.status == 200).then(|| lossy(&r.body));
        if got.is_some() && got == *in_flight {
            landed += 1;
        } else if got == *ack {
            found += usize::from(ack.is_some());
        } else {
            panic!("{key}: holds {got:?}; acknowledged {ack:?}, in flight {in_flight:?}");
        }
    }
    println!(
        "SIGTERM mid-traffic: {acked} publishes acknowledged, {} keys checked after restart: \
         {found} at their acknowledged value, {landed} in-flight landed; 40 parked polls answered \
         200; followers got {answered} poll answers, {:?} of them naming their key",
        ledger.len(),
        woken
    );
    drop(s2);
    drop(tmp);
}
