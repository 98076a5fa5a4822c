//! The holes an attacker or a careless user finds from outside, over real
//! sockets against the real binary: request smuggling, conflicting lengths,
//! clients that send but never read, and a second server on one port or one
//! data directory.

mod common;

use common::*;
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

const Q: &str = "dataId=smuggled&group=G";

/// A publish with a chunked body, its own `Content-Length` (or not), and a
/// DELETE of the same config pipelined right after the last chunk.
fn chunked_publish_then_delete(with_content_length: bool) -> Vec<u8> {
    let body = "dataId=smuggled&group=G&content=v2";
    let mut r = String::from("POST /nacos/v1/cs/configs HTTP/1.1\r\nHost: t\r\n");
    r.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    r.push_str("Transfer-Encoding: chunked\r\n");
    if with_content_length {
        r.push_str("Content-Length: 4\r\n");
    }
    r.push_str(&format!("\r\n{:x}\r\n{body}\r\n0\r\n\r\n", body.len()));
    r.push_str(&format!(
        "DELETE /nacos/v1/cs/configs?{Q} HTTP/1.1\r\nHost: t\r\n\r\n"
    ));
    r.into_bytes()
}

#[test]
fn a_body_framed_twice_is_refused_and_nothing_after_it_runs() {
    let s = Server::start();
    publish_ok(s.addr, "smuggled", "G", "", "v1");

    let mut c = Conn::open(s.addr);
    let r = c.roundtrip(&chunked_publish_then_delete(true));
    assert_eq!(r.status, 400, "{}", lossy(&r.body));
    assert!(
        lossy(&r.body).contains("Transfer-Encoding and Content-Length"),
        "{}",
        lossy(&r.body)
    );
    assert!(c.is_closed(Duration::from_secs(10)), "closed after the 400");
    let got = get_config(s.addr, "smuggled", "G", "");
    assert_eq!(
        (got.status, got.text()),
        (200, "v1".into()),
        "neither the publish nor the smuggled DELETE ran"
    );

    // Control: the same bytes framed once are two requests, both served.
    let mut c = Conn::open(s.addr);
    c.send(&chunked_publish_then_delete(false));
    assert_eq!(c.read_response().text(), "true", "chunked publish");
    assert_eq!(c.read_response().text(), "true", "pipelined delete");
    assert_eq!(get_config(s.addr, "smuggled", "G", "").status, 404);
}

#[test]
fn conflicting_content_lengths_are_refused_and_closed() {
    let s = Server::start();
    let cases: &[(&str, &str)] = &[
        ("two fields", "Content-Length: 5\r\nContent-Length: 6\r\n"),
        ("a list", "Content-Length: 5, 6\r\n"),
        (
            "a list and a field",
            "Content-Length: 6, 6\r\nContent-Length: 5\r\n",
        ),
    ];
    for (what, lengths) in cases {
        let mut c = Conn::open(s.addr);
        c.send(
            format!("POST /nacos/v1/cs/configs HTTP/1.1\r\nHost: t\r\n{lengths}\r\nabcdefGET / HTTP/1.1\r\n\r\n")
                .as_bytes(),
        );
        let r = c.read_response();
        assert_eq!(r.status, 400, "{what}: {}", lossy(&r.body));
        assert!(
            lossy(&r.body).contains("conflicting Content-Length"),
            "{what}"
        );
        assert!(c.is_closed(Duration::from_secs(10)), "{what}: closed");
    }
    // Equal values are one length (RFC 9112 §6.3).
    let mut c = Conn::open(s.addr);
    let body = format!("{Q}&content=x");
    let r = c.roundtrip(
        format!(
            "POST /nacos/v1/cs/configs HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {0}, {0}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    assert_eq!((r.status, r.text()), (200, "true".into()));
}

/// 50 connections each pipeline 2,000 GETs of a 100 KB config and never
/// read. The server stops reading a connection while its unsent output is
/// above a small bound, and queues config bodies shared, not copied: its
/// memory stays flat while a well-behaved client is served meanwhile.
#[test]
fn clients_that_never_read_do_not_grow_the_server() {
    const CONNS: usize = 50;
    const GETS: usize = 2_000;
    let s = Server::start();
    let big = "x".repeat(100 * 1024);
    publish_ok(s.addr, "big", "G", "", &big);
    publish_ok(s.addr, "small", "G", "", "s");
    // Warm up the allocator and the paths once before the baseline.
    assert_eq!(get_config(s.addr, "big", "G", "").body.len(), big.len());
    let before = proc_sample(s.pid()).rss_bytes;

    let pipeline: Vec<u8> = get_raw("/nacos/v1/cs/configs?dataId=big&group=G").repeat(GETS);
    let mut writers = Vec::new();
    let mut socks = Vec::new();
    for _ in 0..CONNS {
        let sock = TcpStream::connect(s.addr).unwrap();
        sock.set_write_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut w = sock.try_clone().unwrap();
        let p = pipeline.clone();
        // Writes block once the server stops reading; the timeout ends them.
        writers.push(std::thread::spawn(move || {
            let _ = w.write_all(&p);
        }));
        socks.push(sock);
    }

    // Meanwhile, a client that reads gets its answers.
    let mut c = Conn::open(s.addr);
    let mut worst = Duration::ZERO;
    let mut lat = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        let t = Instant::now();
        let r = c.roundtrip(&get_raw("/nacos/v1/cs/configs?dataId=small&group=G"));
        assert_eq!(r.text(), "s");
        let d = t.elapsed();
        worst = worst.max(d);
        lat.push(d);
        std::thread::sleep(Duration::from_millis(20));
    }
    let after = proc_sample(s.pid()).rss_bytes;
    lat.sort();
    let growth = after.saturating_sub(before);
    println!(
        "non-reading clients: {CONNS} x {GETS} GETs of 100 KB; server RSS {} -> {} MB (growth {:.1} MB); \
         well-behaved GETs: {} answered, p50 {:?}, max {:?}",
        before >> 20,
        after >> 20,
        growth as f64 / (1 << 20) as f64,
        lat.len(),
        lat[lat.len() / 2],
        worst
    );
    assert!(
        growth <= 64 << 20,
        "server grew by {} MB for {CONNS} non-reading clients",
        growth >> 20
    );
    drop(socks);
    for w in writers {
        w.join().unwrap();
    }
    // Still serving once they are gone.
    assert_eq!(get_config(s.addr, "small", "G", "").text(), "s");
}

/// Runs a second vigil with `args` (besides `--bind 127.0.0.1`); returns its
/// exit success and what it printed on stderr.
fn second_vigil(args: &[&str]) -> (bool, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"));
    cmd.args(["--bind", "127.0.0.1"]).args(args);
    let e = common::refused(cmd, "a second server");
    (e.status.success(), e.stderr)
}

#[test]
fn a_second_server_on_the_same_port_exits_and_names_the_holder() {
    let s = Server::start();
    let port = s.addr.port().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let other_dir = tmp.path().join("other");
    let (ok, err) = second_vigil(&["--port", &port, "--data-dir", other_dir.to_str().unwrap()]);
    assert!(!ok, "a second server started on port {port}: {err}");
    assert!(err.contains(&format!("port {port}")), "{err}");
    assert!(
        err.contains(&format!("pid {}", s.pid())),
        "names the holder: {err}"
    );
    assert!(!other_dir.exists(), "a refused start creates no files");
    // The first one still serves, alone.
    publish_ok(s.addr, "k", "G", "", "v");
}

#[test]
fn a_second_server_on_the_same_data_directory_exits_and_names_the_holder() {
    let s = Server::start();
    let dir = s.data_dir.to_str().unwrap().to_owned();
    let (ok, err) = second_vigil(&["--port", "0", "--data-dir", &dir]);
    assert!(!ok, "a second server started on {dir}: {err}");
    assert!(err.contains(&dir), "{err}");
    assert!(
        err.contains(&format!("pid {}", s.pid())),
        "names the holder: {err}"
    );
    publish_ok(s.addr, "k", "G", "", "v");
    assert_eq!(get_config(s.addr, "k", "G", "").text(), "v");
}
