//! SIGHUP rotates the certificate: new handshakes get the new pair while a
//! parked long poll, a watch stream and a gRPC bi-stream opened before keep
//! their sessions (and still get their changes); a bad pair is refused with
//! a log line and the one in use keeps serving.

use super::client::{TlsClient, Trust};
use super::common::probe::Probe;
use super::common::{get_raw, listener_raw, md5_hex, record};
use super::pki::Ca;
use super::{https, hup, pki, publish, start, wait_metric};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use std::path::Path;
use std::time::Duration;

fn leaf(path: &Path) -> Vec<u8> {
    let first = CertificateDer::pem_file_iter(path)
        .expect("cert file")
        .next()
        .expect("a cert")
        .expect("PEM");
    first.to_vec()
}

#[test]
fn sighup_rotates_the_pair_and_established_connections_keep_theirs() {
    let p = pki();
    // The poll is held two minutes so that a slow run (a busy machine)
    // still finds it parked when the change comes.
    let s = start(&p, &[], &["--max-hold-ms", "120000"]);
    let grpc = s.grpc.expect("the gRPC door");
    let old_ca = p.ca.cert.clone();
    publish(s.addr, &old_ca, "k", "v1");

    // Three long-lived connections on the old certificate.
    let mut poll = https(s.addr, &old_ca);
    assert_eq!(poll.server_cert(), leaf(&p.cert));
    let records = record("k", "G", &md5_hex("v1"), None);
    poll.send(&listener_raw(&records, Some("120000"), &[]))
        .expect("parking");
    let mut watch = https(s.addr, &old_ca);
    watch
        .send(&get_raw("/nacos/v1/cs/configs/watch?group=G"))
        .expect("watching");
    assert!(watch
        .read_line()
        .expect("stream head")
        .starts_with("HTTP/1.1 200"));
    let mut probe = Probe::connect_tls(grpc, &old_ca, None);
    probe.open(None);
    probe.listen(&[("k", "G", "", &md5_hex("v1"))]);
    wait_metric(s.addr, &old_ca, "vigil_parked_polls", |n| n == 1);

    // A new pair from another CA, in the same files.
    let two = Ca::new(p.dir.path(), "two");
    let (cert2, key2) = two.server("server2");
    std::fs::copy(&cert2, &p.cert).expect("new cert");
    std::fs::copy(&key2, &p.key).expect("new key");
    hup(&s);
    assert!(
        s.stderr()
            .wait_for("TLS certificate and key reloaded", Duration::from_secs(10)),
        "no reload line"
    );
    // New connections see the new certificate (and the old CA no longer
    // vouches for the server).
    let fresh = https(s.addr, &two.cert);
    assert_eq!(fresh.server_cert(), leaf(&cert2));
    assert!(TlsClient::connect(s.addr, &Trust::ca(&old_ca)).is_err());
    let mut g2 = Probe::connect_tls(grpc, &two.cert, None);
    g2.open(None);

    // The old connections are untouched and get the change.
    publish(s.addr, &two.cert, "k", "v2");
    assert_eq!(
        poll.read_response()
            .map(|(st, b)| (st, String::from_utf8_lossy(&b).into_owned()))
            .expect("poll answer"),
        (200, "k%02G%01\n".to_owned())
    );
    loop {
        let line = watch.read_line().expect("watch stream");
        assert!(!line.is_empty(), "the watch stream ended");
        // The change itself (the snapshot sent v1's md5).
        if line.contains(&md5_hex("v2")) {
            break;
        }
    }
    let n = probe.next_notify(10.0);
    assert_eq!(n["dataId"], "k", "{n}");

    // A bad pair: unreadable certificate, then a key that is not the
    // certificate's. Each is refused, and the current pair keeps serving.
    std::fs::write(&p.cert, "not a certificate").expect("garbage");
    hup(&s);
    assert!(
        s.stderr()
            .wait_for("no PEM certificate in it", Duration::from_secs(10)),
        "no refusal line"
    );
    let (_, other_key) = two.server("server3");
    std::fs::copy(&cert2, &p.cert).expect("cert back");
    std::fs::copy(&other_key, &p.key).expect("wrong key");
    hup(&s);
    assert!(
        s.stderr()
            .wait_for("do not make a pair", Duration::from_secs(10)),
        "no mismatch line"
    );
    assert!(s
        .stderr()
        .text()
        .contains("TLS reload refused, the old pair keeps serving"));
    let after = https(s.addr, &two.cert);
    assert_eq!(after.server_cert(), leaf(&cert2));
}
