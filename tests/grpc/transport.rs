//! Rows T1–T7 and P6: ports, methods, bad input on the gRPC port.

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
