//! Bad input on a TLS port: plain HTTP, garbage, a handshake that trickles
//! (the request timeout applies), clients that abandon the handshake. Each
//! is closed cleanly, counted, holds nothing afterwards, and a parked poll
//! and a keep-alive connection beside them never notice.

use super::client::{TlsClient, Trust};
use super::common::{get_raw, listener_raw, md5_hex, record};
use super::pki::Ca;
use super::{https, metrics, pki, publish, start, wait_metric};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Sends `bytes` on a raw socket and reads until the server closes (10 s
/// at most): what it sent back, and how long until EOF.
fn raw(addr: SocketAddr, bytes: &[u8]) -> (Vec<u8>, Duration) {
    let t = Instant::now();
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(bytes).expect("write");
    let mut got = Vec::new();
    match s.read_to_end(&mut got) {
        Ok(_) => {}
        // A reset after the alert is a close too.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("not closed within 10 s ({e}); got {got:?}"),
    }
    (got, t.elapsed())
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .expect("VmRSS")
}

#[test]
fn bad_input_is_refused_cleanly_and_disturbs_no_one() {
    let p = pki();
    // The bystander poll is held two minutes: 1,200 handshakes on a busy
    // machine may take longer than the usual 29.5 s, and it must still be
    // parked at the end.
    let s = start(
        &p,
        &[],
        &[
            "--request-timeout-ms",
            "500",
            "--threads",
            "1",
            "--max-hold-ms",
            "120000",
        ],
    );
    let ca = &p.ca.cert;
    publish(s.addr, ca, "k", "v1");
    let mut poll = https(s.addr, ca);
    let records = record("k", "G", &md5_hex("v1"), None);
    poll.send(&listener_raw(&records, Some("120000"), &[]))
        .expect("parking");
    let mut keep = https(s.addr, ca);
    let health = get_raw("/nacos/v1/cs/health");
    assert_eq!(keep.roundtrip(&health).expect("health").0, 200);
    wait_metric(s.addr, ca, "vigil_parked_polls", |n| n == 1);
    let rejected = "vigil_rejected_total{reason=\"tls\"}";
    let before = metrics(s.addr, ca);

    // Plain HTTP: a TLS alert (content type 21), then close.
    let (got, _) = raw(s.addr, &health);
    assert_eq!(got.first(), Some(&0x15), "an alert: {got:?}");
    // Garbage before any handshake.
    let (got, _) = raw(s.addr, &[0xab; 600]);
    assert!(got.is_empty() || got[0] == 0x15, "{got:?}");
    // A handshake record header, then nothing: closed at the request
    // timeout (500 ms), not before and not never.
    let (got, took) = raw(s.addr, &[0x16, 0x03, 0x01]);
    assert!(got.is_empty(), "{got:?}");
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(5),
        "{took:?}"
    );
    let after = metrics(s.addr, ca);
    assert!(after[rejected] >= before[rejected] + 3, "{after:?}");

    // Many handshakes a client abandons (it does not trust the server):
    // once closed they hold no memory.
    let stranger = Ca::new(p.dir.path(), "stranger");
    let connections = metrics(s.addr, ca)["vigil_connections"];
    let abandon = |n| {
        for _ in 0..n {
            assert!(TlsClient::connect(s.addr, &Trust::ca(&stranger.cert)).is_err());
        }
    };
    abandon(200);
    wait_metric(s.addr, ca, "vigil_connections", |n| n == connections);
    let rss = rss_kb(s.pid());
    abandon(1000);
    wait_metric(s.addr, ca, "vigil_connections", |n| n == connections);
    let grown = rss_kb(s.pid()).saturating_sub(rss);
    assert!(
        grown < 1024,
        "RSS grew {grown} kB over 1000 failed handshakes"
    );

    // The bystanders: the keep-alive connection answers, the poll is still
    // parked and gets its change.
    assert_eq!(keep.roundtrip(&health).expect("health again").0, 200);
    assert_eq!(metrics(s.addr, ca)["vigil_parked_polls"], 1);
    publish(s.addr, ca, "k", "v2");
    let (status, body) = poll.read_response().expect("poll answer");
    assert_eq!((status, &body[..]), (200, &b"k%02G%01\n"[..]));
}
