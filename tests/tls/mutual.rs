//! Mutual TLS (`VIGIL_TLS_CLIENT_CA`): a client certificate from the CA is
//! served on both ports; none, or one from another CA, is refused, and the
//! refusals disturb no one.

use super::client::{TlsClient, Trust};
use super::common::get_raw;
use super::common::probe::Probe;
use super::pki::Ca;
use super::{pki, start};
use serde_json::json;
use std::time::Duration;

#[test]
fn client_certificates_from_the_ca_are_served_and_others_refused() {
    let p = pki();
    let clients = Ca::new(p.dir.path(), "clients");
    let stranger = Ca::new(p.dir.path(), "stranger");
    let (good_cert, good_key) = clients.issue("alice", &["alice.example"]);
    let (bad_cert, bad_key) = stranger.issue("mallory", &["mallory.example"]);
    let s = start(&p, &[("VIGIL_TLS_CLIENT_CA", &clients.cert)], &[]);
    let grpc = s.grpc.expect("the gRPC door");
    let health = get_raw("/nacos/v1/cs/health");
    let with = |mine| Trust {
        ca: &p.ca.cert,
        mine,
        alpn: &[b"http/1.1"],
    };

    let mut alice =
        TlsClient::connect(s.addr, &with(Some((&good_cert, &good_key)))).expect("alice");
    assert_eq!(alice.roundtrip(&health).expect("alice's GET").0, 200);

    // Under TLS 1.3 the client finishes its side before the server checks
    // the certificate: the refusal shows as an alert on the first read.
    for (who, mine) in [
        ("no certificate", None),
        (
            "another CA's",
            Some((bad_cert.as_path(), bad_key.as_path())),
        ),
    ] {
        let refused =
            TlsClient::connect(s.addr, &with(mine)).and_then(|mut c| c.roundtrip(&health));
        assert!(refused.is_err(), "{who}: served {refused:?}");
    }
    // Alice's keep-alive connection goes on.
    assert_eq!(alice.roundtrip(&health).expect("alice again").0, 200);

    // The same on the gRPC port.
    let mut ok = Probe::connect_tls(grpc, &p.ca.cert, Some((&good_cert, &good_key)));
    ok.open(None);
    for mine in [None, Some((bad_cert.as_path(), bad_key.as_path()))] {
        let mut no = Probe::connect_tls(grpc, &p.ca.cert, mine);
        let r = no.unary("HealthCheckRequest", json!({}));
        assert_eq!(r["status"], 14, "UNAVAILABLE: {r}");
    }
    let r = ok.unary("HealthCheckRequest", json!({}));
    assert_eq!(r["type"], "HealthCheckResponse", "{r}");
    assert!(!alice.is_closed(Duration::from_millis(100)));
}
