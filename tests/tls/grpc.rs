//! gRPC over TLS with grpcio (ALPN h2, the server checked against the
//! test CA): unary calls, the bi-stream and its pushes.

use super::common::probe::Probe;
use super::common::sdk::md5_hex;
use super::{pki, publish, start};
use serde_json::json;

#[test]
fn grpcio_over_tls_publishes_queries_and_gets_pushes() {
    let p = pki();
    let s = start(&p, &[], &[]);
    let grpc = s.grpc.expect("the gRPC door");
    let mut probe = Probe::connect_tls(grpc, &p.ca.cert, None);
    probe.open(None);
    let r = probe.unary(
        "ConfigPublishRequest",
        json!({"dataId": "k", "group": "G", "content": "v1"}),
    );
    assert_eq!(r["body"]["resultCode"], 200, "{r}");
    let r = probe.unary("ConfigQueryRequest", json!({"dataId": "k", "group": "G"}));
    assert_eq!(r["body"]["content"], "v1", "{r}");
    let r = probe.listen(&[("k", "G", "", &md5_hex(b"v1"))]);
    assert_eq!(r["body"]["resultCode"], 200, "{r}");
    // A publish over HTTPS reaches the gRPC listener as a push.
    publish(s.addr, &p.ca.cert, "k", "v2");
    let n = probe.next_notify(10.0);
    assert_eq!(
        (n["dataId"].as_str(), n["group"].as_str()),
        (Some("k"), Some("G"))
    );

    // A plaintext gRPC client gets no service from the TLS port, and a
    // client trusting another CA refuses the server.
    let mut plain = Probe::connect(grpc);
    let r = plain.unary("HealthCheckRequest", json!({}));
    assert_eq!(r["status"], 14, "UNAVAILABLE: {r}");
    let other = super::pki::Ca::new(p.dir.path(), "other");
    let mut wrong = Probe::connect_tls(grpc, &other.cert, None);
    let r = wrong.unary("HealthCheckRequest", json!({}));
    assert_eq!(r["status"], 14, "UNAVAILABLE: {r}");
    // The first connection is untouched.
    let r = probe.unary("ConfigQueryRequest", json!({"dataId": "k", "group": "G"}));
    assert_eq!(r["body"]["content"], "v2", "{r}");
}
