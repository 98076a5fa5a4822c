//! The gRPC door's contract (`docs/grpc.md`), row by row, over real sockets
//! with the real gRPC stack (`common::probe`: grpcio, pinned, from PyPI).

#[path = "../common/mod.rs"]
mod common;

mod auth;
mod configs;
mod life;
mod push;
mod raw;
mod transport;

use common::probe::Probe;
use common::Server;
use serde_json::{json, Value};

/// A server and a registered gRPC connection to it.
fn registered(extra: &[&str]) -> (Server, Probe) {
    let s = Server::start_args(extra);
    let mut p = Probe::connect(grpc(&s));
    p.open(None);
    (s, p)
}

/// The server's gRPC address.
fn grpc(s: &Server) -> std::net::SocketAddr {
    s.grpc.expect("the gRPC door is on")
}

/// Asserts a response's class and codes; returns its body.
fn expect(r: &Value, class: &str, result_code: i64, error_code: i64) -> Value {
    assert_eq!(r["type"], class, "{r}");
    let b = &r["body"];
    assert_eq!(
        (b["resultCode"].as_i64(), b["errorCode"].as_i64()),
        (Some(result_code), Some(error_code)),
        "{r}"
    );
    assert_eq!(b["success"], result_code == 200, "{r}");
    b.clone()
}

fn query(p: &mut Probe, data_id: &str, group: &str, tenant: &str) -> Value {
    p.unary(
        "ConfigQueryRequest",
        json!({"dataId": data_id, "group": group, "tenant": tenant}),
    )
}

fn publish(p: &mut Probe, data_id: &str, group: &str, content: &str, addition: Value) -> Value {
    p.unary(
        "ConfigPublishRequest",
        json!({"dataId": data_id, "group": group, "tenant": "", "content": content,
               "additionMap": addition}),
    )
}

/// How many addresses listen to `data_id` (group G, public namespace),
/// by the listener query.
fn listeners_of(addr: std::net::SocketAddr, data_id: &str) -> usize {
    let r = common::get(
        addr,
        "/nacos/v1/cs/configs/listener",
        &[("dataId", data_id), ("group", "G")],
    );
    assert_eq!(r.status, 200, "{}", common::lossy(&r.body));
    let v: Value = serde_json::from_slice(&r.body).expect("listener JSON");
    v["lisentersGroupkeyStatus"]
        .as_object()
        .map_or(0, |m| m.len())
}
