//! Rows L1–L8 and T7: set-up, refusals, the end of a connection.

use super::common::probe::Probe;
use super::common::Server;
use super::{expect, grpc, raw, registered};
use serde_json::json;

/// The bytes of a raw client that sets up and listens to `data_id` (group
/// G) and, with a receive window of 0, can never be sent anything.
pub fn raw_setup_and_listen(data_id: &str) -> Vec<u8> {
    let mut b = raw::PREFACE.to_vec();
    b.extend(raw::settings(0));
    b.extend(raw::headers(1, "/BiRequestStream/requestBiStream"));
    b.extend(raw::message(
        1,
        "ConnectionSetupRequest",
        r#"{"clientVersion":"raw"}"#,
        false,
    ));
    let listen = format!(
        r#"{{"listen":true,"configListenContexts":[{{"dataId":"{data_id}","group":"G","md5":""}}]}}"#
    );
    b.extend(raw::unary(3, "ConfigBatchListenRequest", &listen));
    b
}

#[test]
fn server_check_names_the_connection() {
    let s = Server::start();
    let mut p = Probe::connect(grpc(&s));
    let b = expect(
        &p.unary(
            "ServerCheckRequest",
            json!({"headers": {}, "module": "internal"}),
        ),
        "ServerCheckResponse",
        200,
        0,
    );
    assert_eq!(b["supportAbilityNegotiation"], false);
    let id = b["connectionId"].as_str().expect("connectionId").to_owned();
    let parts: Vec<&str> = id.split('_').collect();
    assert_eq!(parts.len(), 3, "{id}");
    assert!(
        parts[0].parse::<u64>().is_ok() && parts[1] == "127.0.0.1",
        "{id}"
    );
    // The same connection answers the same id.
    let again = p.unary("ServerCheckRequest", json!({}));
    assert_eq!(again["body"]["connectionId"], id.as_str());
}

#[test]
fn unregistered_until_set_up() {
    let s = Server::start();
    let mut p = Probe::connect(grpc(&s));
    for class in [
        "HealthCheckRequest",
        "ConfigQueryRequest",
        "ConfigBatchListenRequest",
    ] {
        let b = expect(
            &p.unary(class, json!({"dataId": "a", "group": "G"})),
            "ErrorResponse",
            500,
            301,
        );
        assert_eq!(b["message"], "Connection is unregistered.");
    }
    p.open(None);
    expect(
        &p.unary("HealthCheckRequest", json!({})),
        "HealthCheckResponse",
        200,
        0,
    );
}

#[test]
fn refusals() {
    let (_s, mut p) = registered(&[]);
    let b = expect(
        &p.unary("InstanceRequest", json!({})),
        "ErrorResponse",
        500,
        302,
    );
    assert_eq!(b["message"], "RequestHandler Not Found");
    let r = p.raw(&vigil::grpc::Payload::new("ConfigQueryRequest", b"{oops".to_vec()).encode());
    expect(&r, "ErrorResponse", 500, 502);
    // Set-ups and acknowledgements belong on the bi-stream.
    expect(
        &p.unary("ConnectionSetupRequest", json!({})),
        "ErrorResponse",
        500,
        502,
    );
}

#[test]
fn bi_stream_end_unregisters() {
    let (s, mut p) = registered(&[]);
    p.listen(&[("end", "G", "", "")]);
    let listeners = || super::listeners_of(s.addr, "end");
    assert_eq!(listeners(), 1);
    p.close_bi();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while listeners() != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "listener still linked"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn sigterm_sends_connect_reset() {
    let (mut s, mut p) = registered(&[]);
    let id = p.unary("ServerCheckRequest", json!({}))["body"]["connectionId"].clone();
    let pid = s.pid();
    let stopper = std::thread::spawn(move || {
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill")
    });
    let m = p.recv(10.0);
    assert_eq!(m["type"], "ConnectResetRequest", "{m}");
    assert_eq!(m["body"]["connectionId"], id);
    assert_eq!(m["body"]["module"], "internal");
    p.send(
        "ConnectResetResponse",
        json!({"requestId": m["body"]["requestId"], "resultCode": 200}),
    );
    drop(p);
    assert!(stopper.join().expect("join").success());
    let exited = s.wait_exit(std::time::Duration::from_secs(30));
    assert!(exited.status.success(), "{exited:?}");
}

#[test]
fn silent_clients_are_asked_then_closed() {
    // Two registered connections that send nothing: after 20 s each is
    // asked whether it is there; the one that answers stays, the other is
    // closed 5 s later (its bi-stream ends) and its listener is unlinked.
    let (s, mut answers) = registered(&[]);
    let mut silent = Probe::connect(grpc(&s));
    silent.open(None);
    silent.listen(&[("quiet", "G", "", "")]);
    for (p, answer) in [(&mut answers, true), (&mut silent, false)] {
        let m = p.recv(40.0);
        assert_eq!(m["type"], "ClientDetectionRequest", "{m}");
        assert_eq!(m["body"]["module"], "internal");
        if answer {
            let id = m["body"]["requestId"].clone();
            p.send(
                "ClientDetectionResponse",
                json!({"requestId": id, "resultCode": 200}),
            );
        }
    }
    let end = silent.recv(20.0);
    assert!(
        end.get("ended").is_some(),
        "the silent client was not closed: {end}"
    );
    assert_eq!(super::listeners_of(s.addr, "quiet"), 0);
    expect(
        &answers.unary("HealthCheckRequest", json!({})),
        "HealthCheckResponse",
        200,
        0,
    );
}
