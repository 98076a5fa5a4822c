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
//! what they waited for. The heavy loads (10,000 and 2,000 parked listeners,
//! the clients that never read) are driven by the bundled load tester's code
//! (`vigil_loadtest`), which checks every reply its clients read. Numbers worth knowing (shed counts, CPU, RSS) are
//! printed; run with `--no-capture` to see them.

#[path = "../common/mod.rs"]
mod common;

use clap::Parser;
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
use vigil_loadtest::cli::Cli;
use vigil_loadtest::listeners::{Listeners, Options, Wake};
use vigil_loadtest::proto::{self, KeyId, KeyKind, KeySpace};

const CFG: &str = "/nacos/v1/cs/configs";
const LISTENER: &str = "/nacos/v1/cs/configs/listener";
const DG: &str = "DEFAULT_GROUP";

// ---------------------------------------------------------------------------
// /proc helpers
// ---------------------------------------------------------------------------

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
    // Timed from before the connect: the server's clock for this request
    // cannot start earlier, so `acted` never undercounts its timeout.
    let t = Instant::now();
    let mut c = Conn::open(s.addr);
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
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let s = Server::start();
    let addr = s.addr;
    // The scenario's 100 KB config, as the load tester names and fills it.
    let space = KeySpace::new(NOREAD_RUN);
    let big_key = KeyId::new(KeyKind::Get, 0);
    let big = proto::versioned_content(&space, big_key, 1, 100 * 1024);
    let big_get = get_raw(&format!(
        "{CFG}?dataId={}&group={}",
        space.data_id(big_key),
        proto::GROUP
    ));

    // Meanwhile a client of our own GETs the big config and the health check
    // every 200 ms, and checks what it reads, on a fresh connection each time.
    let stop = Arc::new(AtomicBool::new(false));
    let checker = {
        let stop = stop.clone();
        let (big, big_get) = (big.clone(), big_get.clone());
        std::thread::spawn(move || {
            let mut rounds = 0;
            while !stop.load(Ordering::SeqCst) {
                let mut c = Conn::open(addr);
                c.set_read_timeout(Duration::from_secs(10));
                let r = c.roundtrip(&big_get);
                // 404 before the scenario publishes it and after it deletes it.
                if r.status != 404 {
                    assert_eq!(r.status, 200, "GET of the big config while hogged");
                    assert!(r.body == big.as_bytes(), "big config content while hogged");
                    rounds += 1;
                }
                let r = c.roundtrip(&get_raw("/nacos/v1/cs/health"));
                assert_eq!(r.status, 200, "health while hogged");
                std::thread::sleep(Duration::from_millis(200));
            }
            rounds
        })
    };
    // 50 connections each pipelining 2,000 GETs of it, never reading.
    let cli = Cli::try_parse_from([
        "loadtest",
        "--server",
        &addr.to_string(),
        "--server-pid",
        &s.pid().to_string(),
        "--run-id",
        NOREAD_RUN,
        "noread",
        "-n",
        "50",
    ])
    .unwrap();
    let rep = vigil_loadtest::run_in_process(cli).expect("the noread scenario ran");
    stop.store(true, Ordering::SeqCst);
    let rounds = checker.join().expect("checker");
    println!("noread: {}", serde_json::to_string(&rep["table"]).unwrap());
    assert_eq!(rep["ok"], true, "noread checks: {}", rep["failures"]);
    assert!(
        rounds >= 10,
        "only {rounds} GETs of the big config while hogged"
    );
    let growth = rep["rss_growth_peak_mib"]
        .as_f64()
        .expect("RSS growth measured");
    let good = &rep["good_get"];
    println!(
        "50 non-reading clients: server RSS growth peak {growth} MiB; well-behaved GETs: {} \
         answered, max {} ms, p99 {} ms; {rounds} checked GETs of the big config",
        good["count"], good["max_ms"], good["p99_ms"]
    );
    assert!(
        growth <= 64.0,
        "server RSS grew by {growth} MiB with 50 non-reading clients"
    );
    assert_eq!(rep["good_errors"], 0, "well-behaved GETs failed");
    assert!(
        good["count"].as_u64().unwrap_or(0) > 0,
        "no well-behaved GET answered"
    );
    assert!(
        rep["gets_sent"].as_u64().unwrap_or(0) > 0,
        "the non-readers sent nothing"
    );
    wait_metrics(addr, "the non-readers to be closed", GAUGE_WAIT, |m| {
        metric(m, "vigil_connections") <= 1
    });
}

/// Key namespace of the noread test (ASCII alphanumeric).
const NOREAD_RUN: &str = "noread";

#[test]
fn two_thousand_parked_clients_vanishing_leave_nothing_behind() {
    let s = Server::start();
    let addr = s.addr;
    // Each listener holds two of 300 keys that do not exist, and the hot key,
    // which does (published here, before they park).
    let opts = Options {
        conns: 2000,
        own_keys: 2,
        key_pool: 300,
        hot: true,
        poll_timeout_ms: 60_000,
        ..Options::default()
    };
    let real = KeySpace::new(&opts.run).data_id(KeyId::new(KeyKind::Hot, 0));
    publish_ok(addr, &real, proto::GROUP, "", "r");
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
    let l = Listeners::park(&[addr], &opts, Duration::from_secs(60)).expect("2,000 parked");
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
    assert_eq!(metric(&m, "vigil_index_waiters"), 6000);
    assert!(metric(&m, "vigil_indexed_keys") > base_keys);
    let t = Instant::now();
    // Every socket closes at once.
    let counters = l.stop().expect("listeners stopped");
    assert_eq!(
        (counters.errors(), counters.stale_reads),
        (0, 0),
        "listener errors: {counters:?}"
    );
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
    let r = get_config(addr, &real, proto::GROUP, "");
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

const STORM_KEYS: u32 = 50;
const STORM_LISTENERS: u32 = 10_000;

/// Publishes each (data id, content) in order on one connection.
fn publish_in_order(addr: SocketAddr, batch: &[(String, String)]) {
    let mut c = Conn::open(addr);
    for (id, content) in batch {
        let body = form(&[
            ("dataId", id),
            ("group", proto::GROUP),
            ("content", content),
        ]);
        let r = c.roundtrip(&post_raw(CFG, &[], body.as_bytes()));
        assert_eq!(
            (r.status, lossy(&r.body).as_str()),
            (200, "true"),
            "publish {id}"
        );
    }
}

/// Wake-ups of one wave against what it published: each listener of a
/// changed key woken for it between 1 and `max` times, no other wake-up.
fn wrong_wake_counts(l: &Listeners, wakes: &[Wake], changed: &[KeyId], max: u32) -> Vec<String> {
    let mut count: HashMap<(u32, KeyId), u32> = HashMap::new();
    for w in wakes {
        *count.entry((w.listener, w.key)).or_default() += 1;
    }
    let mut wrong = Vec::new();
    for &key in changed {
        for listener in l.listeners_of(key) {
            let n = count.remove(&(listener, key)).unwrap_or(0);
            if !(1..=max).contains(&n) {
                wrong.push(format!(
                    "listener {listener} woken {n} times for {key:?} (expected 1..={max})"
                ));
            }
        }
    }
    for ((listener, key), n) in count {
        wrong.push(format!(
            "listener {listener} woken {n} times for unchanged {key:?}"
        ));
    }
    wrong
}

#[test]
fn publish_storm_wakes_each_of_10000_parked_listeners_for_every_change_of_its_keys() {
    let s = Server::start();
    let addr = s.addr;
    let t_all = Instant::now();
    // Listeners behave as real clients: on a wake-up they GET the key (the
    // load tester checks it reads the announced version or a newer one, and
    // that Content-MD5 is the body's md5) and poll again with its new md5.
    let opts = Options {
        conns: STORM_LISTENERS,
        own_keys: 2,
        key_pool: STORM_KEYS,
        threads: 2,
        poll_timeout_ms: 60_000,
        ..Options::default()
    };
    let mut l = Listeners::park(&[addr], &opts, Duration::from_secs(60)).expect("10,000 parked");
    let m = wait_metrics(addr, "10,000 parked listeners", GAUGE_WAIT, |m| {
        metric(m, "vigil_parked_polls") == u64::from(STORM_LISTENERS)
    });
    println!(
        "10,000 listeners parked after {:?}: {} waiters, {} connections",
        t_all.elapsed(),
        metric(&m, "vigil_index_waiters"),
        metric(&m, "vigil_connections")
    );

    // Waves: all 50 keys created, 5 x 10 keys, then all 50, then all 50
    // twice in a burst; the storms proper from 10 connections at once.
    let key = |k: u32| KeyId::new(KeyKind::Own, k);
    let mut waves: Vec<(Vec<KeyId>, u32, bool)> =
        vec![((0..STORM_KEYS).map(key).collect(), 1, false)];
    waves.extend((0..5).map(|w| ((w * 10..w * 10 + 10).map(key).collect(), 1, false)));
    waves.push(((0..STORM_KEYS).map(key).collect(), 1, true));
    waves.push(((0..STORM_KEYS).map(key).collect(), 2, true));
    for (n, (keys, times, storm)) in waves.iter().enumerate() {
        let t = Instant::now();
        if *storm {
            // Every version of the burst is announced before any is sent:
            // a wake-up demands the first, a GET may show any of them.
            let mut parts: Vec<Vec<(String, String)>> = vec![Vec::new(); 10];
            for pass in 0..*times {
                let versions = if pass == 0 {
                    l.announce(keys)
                } else {
                    l.announce_ahead(keys)
                }
                .expect("announce");
                for (k, v) in keys.iter().zip(versions) {
                    parts[k.idx as usize % 10].push((l.key_name(*k).0, l.content(*k, v)));
                }
            }
            let publishers: Vec<_> = parts
                .into_iter()
                .map(|batch| std::thread::spawn(move || publish_in_order(addr, &batch)))
                .collect();
            for p in publishers {
                p.join().expect("storm publisher");
            }
        } else {
            l.publish(keys).expect("publish");
        }
        let expected: usize = keys.iter().map(|k| l.listeners_of(*k).len()).sum();
        let got = l
            .wait_wakes(expected, Duration::from_secs(30))
            .expect("wake-ups");
        assert!(
            got >= expected,
            "wave {}: {got} of {expected} wake-ups within 30 s",
            n + 1
        );
        assert!(
            l.wait_parked(Duration::from_secs(30)).expect("census"),
            "wave {}: listeners not all parked again within 30 s",
            n + 1
        );
        // Late duplicates and spurious wake-ups show up here.
        let wakes = l.take_wakes(Duration::from_millis(500)).expect("wake-ups");
        let wrong = wrong_wake_counts(&l, &wakes, keys, *times);
        assert!(
            wrong.is_empty(),
            "wave {}: {} wrong wake counts; first: {:?}",
            n + 1,
            wrong.len(),
            &wrong[..wrong.len().min(5)]
        );
        assert!(
            l.error_samples().is_empty(),
            "wave {}: listener errors: {:?}",
            n + 1,
            l.error_samples()
        );
        wait_metrics(addr, "every listener to park again", GAUGE_WAIT, |m| {
            metric(m, "vigil_parked_polls") == u64::from(STORM_LISTENERS)
        });
        println!(
            "wave {}: {} keys x{times} published; all listeners woken ({} wake-ups) and re-parked \
             in {:?}",
            n + 1,
            keys.len(),
            wakes.len(),
            t.elapsed()
        );
    }
    // Held on the latest md5s: nothing more arrives.
    let late = l.take_wakes(Duration::from_millis(500)).expect("wake-ups");
    assert!(
        late.is_empty(),
        "wake-ups after the storm: {:?}",
        &late[..late.len().min(5)]
    );
    assert_eq!(parked_polls(addr), u64::from(STORM_LISTENERS));
    let c = l.stop().expect("listeners stopped");
    println!(
        "storm done in {:?}: {} polls, {} wake-ups, {} GETs after a wake-up, {} hold expiries",
        t_all.elapsed(),
        c.polls,
        c.wakes,
        c.gets_after_wake,
        c.hold_expiries
    );
    assert_eq!(
        (c.errors(), c.stale_reads),
        (0, 0),
        "listener counters: {c:?}"
    );
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
