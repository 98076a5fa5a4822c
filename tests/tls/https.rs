//! HTTPS on the HTTP port: curl (GET, publish, a long poll) and the ALPN
//! protocol each port offers.

use super::client::{TlsClient, Trust};
use super::common::sdk::require_tool;
use super::common::{form, md5_hex, record};
use super::{metrics, pki, publish, start, wait_metric};
use std::process::Command;

fn curl(ca: &std::path::Path, args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "60", "--cacert"])
        .arg(ca)
        .args(args)
        .output()
        .expect("curl");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn curl_gets_publishes_and_long_polls_over_https() {
    require_tool("curl", &["--version"], "the HTTPS client");
    let p = pki();
    let s = start(&p, &[], &[]);
    let base = format!("https://127.0.0.1:{}/nacos/v1/cs/configs", s.addr.port());
    let get = format!("{base}?dataId=k&group=G");
    let (out, err) = curl(&p.ca.cert, &["-w", " %{http_code} %{http_version}", &get]);
    assert_eq!(out, "config data not exist\n 404 1.1", "{err}");
    let (out, err) = curl(&p.ca.cert, &["-d", "dataId=k&group=G&content=v1", &base]);
    assert_eq!(out, "true", "{err}");
    let (out, err) = curl(&p.ca.cert, &[&get]);
    assert_eq!(out, "v1", "{err}");

    // A long poll over HTTPS parks, and a publish answers it.
    let listen = form(&[("Listening-Configs", &record("k", "G", &md5_hex("v1"), None))]);
    let ca = p.ca.cert.clone();
    let url = format!("{base}/listener");
    let poll = std::thread::spawn(move || {
        curl(
            &ca,
            &["-H", "Long-Pulling-Timeout: 30000", "-d", &listen, &url],
        )
    });
    wait_metric(s.addr, &p.ca.cert, "vigil_parked_polls", |n| n == 1);
    publish(s.addr, &p.ca.cert, "k", "v2");
    let (out, err) = poll.join().expect("poll thread");
    assert_eq!(out, "k%02G%01\n", "{err}");
    // Plain HTTP is not served on the TLS port: curl sees no HTTP answer.
    let plain = format!(
        "http://127.0.0.1:{}/nacos/v1/cs/configs?dataId=k&group=G",
        s.addr.port()
    );
    let (out, _) = curl(&p.ca.cert, &["-w", "%{http_code}", &plain]);
    assert_eq!(out, "000");
    // ... and a client that does not trust the CA refuses the server.
    let out = Command::new("curl")
        .args(["-sS", "-w", "%{http_code}", &get])
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "000");
}

#[test]
fn each_port_offers_its_alpn_protocol_over_tls_1_2_and_1_3() {
    let p = pki();
    let s = start(&p, &[], &[]);
    let grpc = s.grpc.expect("the gRPC door");
    let both: &[&[u8]] = &[b"h2", b"http/1.1"];
    let t = Trust {
        ca: &p.ca.cert,
        mine: None,
        alpn: both,
    };
    let c = TlsClient::connect(s.addr, &t).expect("HTTP port");
    assert_eq!(c.alpn().as_deref(), Some(&b"http/1.1"[..]));
    let c = TlsClient::connect(grpc, &t).expect("gRPC port");
    assert_eq!(c.alpn().as_deref(), Some(&b"h2"[..]));
    // A client offering only h2 to the HTTP port is refused.
    let only_h2 = Trust {
        alpn: &[b"h2"],
        ..t
    };
    assert!(TlsClient::connect(s.addr, &only_h2).is_err());
    // No ALPN at all is served (HTTP/1.1).
    let none = Trust {
        alpn: &[],
        ..only_h2
    };
    let mut c = TlsClient::connect(s.addr, &none).expect("no ALPN");
    let (status, _) = c
        .roundtrip(&super::common::get_raw("/nacos/v1/cs/health"))
        .expect("health");
    assert_eq!(status, 200);
    // TLS 1.2 and 1.3 both work (openssl picks the version).
    require_tool("openssl", &["version"], "forces TLS versions");
    // The old versions need openssl's security level 0 to be offered at all.
    for (flag, ok) in [
        ("-tls1_2", true),
        ("-tls1_3", true),
        ("-tls1_1", false),
        ("-tls1", false),
    ] {
        let level = if ok { "DEFAULT" } else { "DEFAULT@SECLEVEL=0" };
        let out = Command::new("openssl")
            .args(["s_client", "-connect", &s.addr.to_string(), flag])
            .args(["-cipher", level, "-CAfile"])
            .arg(&p.ca.cert)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("openssl");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            text.contains("BEGIN CERTIFICATE") && text.contains("Verify return code: 0 (ok)"),
            ok,
            "{flag}: {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let m = metrics(s.addr, &p.ca.cert);
    assert!(m["vigil_rejected_total{reason=\"tls\"}"] >= 3, "{m:?}");
}

#[test]
fn large_requests_and_answers_cross_many_records_on_one_connection() {
    use super::common::{get_raw, post_raw};
    let p = pki();
    let s = start(&p, &[], &[]);
    let mut c = super::https(s.addr, &p.ca.cert);
    // 300 KB of content: a request of many records in, an answer of many
    // records out (more than one write of the session's each way).
    let content: String = (0..300_000)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    let body = form(&[("dataId", "big"), ("group", "G"), ("content", &content)]);
    let r = c
        .roundtrip(&post_raw("/nacos/v1/cs/configs", &[], body.as_bytes()))
        .expect("publish");
    assert_eq!(r, (200, "true".to_owned()));
    // Three GETs on the same connection, one after the other.
    let get = get_raw("/nacos/v1/cs/configs?dataId=big&group=G");
    for _ in 0..3 {
        c.send(&get).expect("GET");
        let (status, got) = c.read_response().expect("answer");
        assert_eq!(status, 200);
        assert!(got == content.as_bytes(), "{} bytes back", got.len());
    }
}

#[test]
fn a_client_that_reads_slowly_gets_every_byte_of_a_large_answer() {
    use super::client::{TlsClient, Trust};
    use super::common::{get_raw, post_raw};
    let p = pki();
    let s = start(&p, &[], &[]);
    // 8 MB: more than the socket buffers hold, so the server's writes
    // block with ciphertext waiting in the session.
    let content: String = (0..8_000_000)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    let body = form(&[("dataId", "huge"), ("group", "G"), ("content", &content)]);
    let mut c = super::https(s.addr, &p.ca.cert);
    let r = c
        .roundtrip(&post_raw("/nacos/v1/cs/configs", &[], body.as_bytes()))
        .expect("publish");
    assert_eq!(r, (200, "true".to_owned()));
    let mut slow =
        TlsClient::connect_small_window(s.addr, &Trust::ca(&p.ca.cert), 16 * 1024).expect("slow");
    for round in 0..2 {
        slow.send(&get_raw("/nacos/v1/cs/configs?dataId=huge&group=G"))
            .expect("GET");
        // Not reading for a while: the server stops at the full window.
        std::thread::sleep(std::time::Duration::from_millis(500));
        let (status, got) = slow.read_response().expect("answer");
        assert_eq!(status, 200);
        assert!(
            got == content.as_bytes(),
            "round {round}: {} bytes",
            got.len()
        );
    }
}
