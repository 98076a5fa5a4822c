//! Rows T1–T9 and P6: ports, methods, bad input on the gRPC port.

use super::common::probe::Probe;
use super::common::{self, Server};
use super::{expect, grpc, registered};
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[test]
fn port_defaults_and_off() {
    // --port 0: any free gRPC port, printed.
    let s = Server::start();
    assert!(grpc(&s).port() != 0 && grpc(&s).port() != s.addr.port());
    // --grpc-port 0: off.
    let off = Server::start_args(&["--grpc-port", "0"]);
    assert!(off.grpc.is_none());
    // A fixed HTTP port: gRPC on it + 1000, as the clients assume.
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = free.local_addr().expect("addr").port();
    drop(free);
    if port <= 64_535 {
        let tmp = tempfile::tempdir().expect("tmp");
        let fixed = Server::start_on(port, &tmp.path().join("d"), &[]);
        assert_eq!(grpc(&fixed).port(), port + 1000);
    }
}

#[test]
fn unknown_method_is_unimplemented() {
    let (_s, mut p) = registered(&[]);
    let r = p.method("/nacos.Other/call");
    assert_eq!(r["status"], 12, "{r}");
    // The connection lives on.
    expect(
        &p.unary("HealthCheckRequest", json!({})),
        "HealthCheckResponse",
        200,
        0,
    );
}

#[test]
fn garbage_message_is_internal() {
    let (_s, mut p) = registered(&[]);
    let r = p.raw(&[0xff, 0xff, 0xff, 0x01]);
    assert_eq!(r["status"], 13, "{r}");
    expect(
        &p.unary("HealthCheckRequest", json!({})),
        "HealthCheckResponse",
        200,
        0,
    );
}

#[test]
fn oversized_message_is_refused() {
    let (_s, mut p) = registered(&[]);
    let big = "x".repeat(11 * 1024 * 1024);
    let r = p.unary(
        "ConfigPublishRequest",
        json!({"dataId": "big", "group": "G", "content": big}),
    );
    assert_eq!(
        r["status"],
        8,
        "{}",
        &r.to_string()[..r.to_string().len().min(300)]
    );
    expect(
        &p.unary("HealthCheckRequest", json!({})),
        "HealthCheckResponse",
        200,
        0,
    );
}

#[test]
fn http1_on_the_grpc_port_is_refused() {
    let s = Server::start();
    let (_s2, mut p) = (0, Probe::connect(grpc(&s)));
    p.open(None);
    for junk in [
        &b"GET /nacos/v1/cs/configs?dataId=a&group=G HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &[0u8; 64][..],
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04\x09\x00\x00\x00\x00\x00garbage!",
    ] {
        let mut c = TcpStream::connect(grpc(&s)).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        c.write_all(junk).expect("write");
        let mut got = Vec::new();
        let _ = c.read_to_end(&mut got);
        // Closed, after a GOAWAY frame (type 7) when the preface passed.
        if junk.starts_with(b"PRI") {
            assert!(got.windows(4).any(|w| w[3] == 7), "no GOAWAY in {got:?}");
        }
    }
    // The server and the other connection are untouched.
    expect(
        &p.unary("HealthCheckRequest", json!({})),
        "HealthCheckResponse",
        200,
        0,
    );
    assert_eq!(common::get_config(s.addr, "a", "G", "").status, 404);
}

#[test]
fn client_that_never_reads_is_closed() {
    // A raw client whose windows stay shut (SETTINGS_INITIAL_WINDOW_SIZE 0)
    // asks for a 100 KB config again and again: its answers wait in the
    // server until they pass the bound, then it is closed.
    let (s, mut p) = registered(&[]);
    common::publish_ok(s.addr, "fat", "G", "", &"z".repeat(100 * 1024));
    let mut c = TcpStream::connect(grpc(&s)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    c.write_all(&super::life::raw_setup_and_listen("fat"))
        .expect("write");
    let mut sent = 0;
    for i in 0..100u32 {
        let query = super::raw::unary(
            5 + 2 * i,
            "ConfigQueryRequest",
            r#"{"dataId":"fat","group":"G"}"#,
        );
        if c.write_all(&query).is_err() {
            break;
        }
        sent += 1;
    }
    // Closed: the read ends (EOF or reset), it does not time out.
    let mut got = Vec::new();
    let end = c.read_to_end(&mut got);
    assert!(
        !matches!(&end, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut),
        "never closed after {sent} unread answers: {end:?}"
    );
    assert!(
        got.len() < 2 * 1024 * 1024,
        "{} bytes reached a closed window",
        got.len()
    );
    // Everyone else is served.
    expect(
        &p.unary("HealthCheckRequest", json!({})),
        "HealthCheckResponse",
        200,
        0,
    );
}

/// T9: a connection error closes lingering. A client still sending when it
/// breaks the protocol reads the GOAWAY and then a clean EOF, never a
/// reset (closing with its input unread would make the kernel send an RST
/// in place of the FIN); and one that never hangs up is let go of after
/// the linger time.
#[test]
fn connection_error_closes_lingering() {
    let s = Server::start();
    let mut c = TcpStream::connect(grpc(&s)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut bytes = super::raw::PREFACE.to_vec();
    bytes.extend(super::raw::settings(65_535));
    // CONTINUATION with no HEADERS before it: PROTOCOL_ERROR.
    bytes.extend(b"\x00\x00\x04\x09\x00\x00\x00\x00\x01junk");
    // ... and more than the server reads at once right behind it.
    bytes.extend(vec![0u8; 4 * 1024 * 1024]);
    let written = c.write_all(&bytes);
    let mut got = Vec::new();
    let end = c.read_to_end(&mut got);
    assert!(
        written.is_ok() && end.is_ok(),
        "reset instead of a lingering close: write {written:?}, read {end:?} after {got:?}"
    );
    // The frames read: the server's SETTINGS (and ack), then GOAWAY with
    // PROTOCOL_ERROR (1), last.
    let mut frames = Vec::new();
    let mut at = 0;
    while at + 9 <= got.len() {
        let len = u32::from_be_bytes([0, got[at], got[at + 1], got[at + 2]]) as usize;
        frames.push((
            got[at + 3],
            got[at + 9..(at + 9 + len).min(got.len())].to_vec(),
        ));
        at += 9 + len;
    }
    assert_eq!(at, got.len(), "whole frames only: {got:?}");
    let (kind, payload) = frames.last().expect("frames before EOF");
    assert_eq!(*kind, 7, "GOAWAY last: {frames:?}");
    assert_eq!(payload.get(4..8), Some(&[0u8, 0, 0, 1][..]), "{frames:?}");
    // The client keeps its socket open: the server closes within the
    // linger time (only the metrics connection is left).
    common::wait_metrics(
        s.addr,
        "the lingering connection closed",
        Duration::from_secs(5),
        |m| common::metric(m, "vigil_connections") == 1,
    );
    drop(c);
}

/// T8: incomplete messages share one cap per connection (20 MiB, two
/// largest messages): with two 8 MiB halves waiting, a third stream past
/// the cap is refused (grpc-status 8), and the others still complete.
#[test]
fn incomplete_messages_are_capped_per_connection() {
    let s = Server::start();
    let mut json = b"{}".to_vec();
    json.resize(9 * 1024 * 1024, b' ');
    let check = super::raw::grpc_message("ServerCheckRequest", &json);
    let half = 8 * 1024 * 1024;
    let mut c = super::raw::Flow::connect(grpc(&s));
    c.send(1, &check[..half], false);
    c.send(3, &check[..half], false);
    // 16 MiB held; stream 5 passes 20 MiB within its 5th MiB.
    let mut big = check[..5].to_vec();
    big.extend(vec![0u8; 5 * 1024 * 1024]);
    c.send(5, &big, false);
    let (_, flags, _, block) = c.until(|f| f.0 == 1 && f.2 == 5);
    assert_eq!(flags & 1, 1, "trailers-only on stream 5");
    assert_eq!(super::raw::grpc_status(&block), Some(8), "{block:?}");
    // Stream 1's message completes and is answered.
    c.send(1, &check[half..], true);
    let (_, _, _, block) = c.until(|f| f.0 == 1 && f.2 == 1 && f.1 & 1 == 1);
    assert_eq!(super::raw::grpc_status(&block), Some(0), "{block:?}");
    let answered = c
        .frames
        .iter()
        .filter(|f| f.0 == 0 && f.2 == 1)
        .flat_map(|f| f.3.clone())
        .collect::<Vec<u8>>();
    assert!(
        common::lossy(&answered).contains("ServerCheckResponse"),
        "{}",
        common::lossy(&answered)
    );
}
