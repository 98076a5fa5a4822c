//! The Nacos 2.x open API and the 3.x client and admin API
//! (docs/http-v2-v3.md): every endpoint and every error row of that
//! contract, against the real binary over real sockets. Each row of the
//! document names the test here that proves it. `v2.rs` the 2.x routes,
//! `v3.rs` the 3.x routes, `auth.rs` the same permissions as their 1.x twins
//! and the 3.x login as the Java 3.x client calls it.

#[path = "../common/mod.rs"]
mod common;
#[path = "../transfer/helpers.rs"]
mod helpers;
#[path = "../cluster/pg.rs"]
mod pg;

mod auth;
mod on_pg;
mod tool;
mod v2;
mod v3;

use common::{lossy, raw, request, Response};
use serde_json::Value;
use std::net::SocketAddr;

/// Request parameters as (name, value) pairs.
pub type Pairs = &'static [(&'static str, &'static str)];
/// A case of a table: parameters, the status and body they get.
pub type Row = (Pairs, u16, Value);
/// A case on a path of its own.
pub type PathRow = (&'static str, Pairs, u16, Value);

pub const FORM_CT: &str = "application/x-www-form-urlencoded;charset=UTF-8";

/// A request: `query` pairs in the target, `body` pairs as a form (POST,
/// PUT), `headers` added.
pub fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    body: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Response {
    let mut target = format!("/nacos{path}");
    if !query.is_empty() {
        target.push('?');
        target.push_str(&common::form(query));
    }
    let mut h = headers.to_vec();
    let form = common::form(body);
    let body = if matches!(method, "POST" | "PUT") {
        h.push(("Content-Type", FORM_CT));
        Some(form.as_bytes())
    } else {
        None
    };
    request(addr, &raw(method, &target, &h, body))
}

/// The JSON body of a response.
pub fn json_of(r: &Response) -> Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {} {:?}", r.status, lossy(&r.body)))
}

/// A GET and its (status, JSON).
pub fn get(addr: SocketAddr, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
    let r = call(addr, "GET", path, query, &[], &[]);
    (r.status, json_of(&r))
}

/// A form POST and its (status, JSON).
pub fn post(addr: SocketAddr, path: &str, body: &[(&str, &str)]) -> (u16, Value) {
    let r = call(addr, "POST", path, &[], body, &[]);
    (r.status, json_of(&r))
}

/// A DELETE and its (status, JSON).
pub fn delete(addr: SocketAddr, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
    let r = call(addr, "DELETE", path, query, &[], &[]);
    (r.status, json_of(&r))
}

/// Nacos's success envelope around `data`.
pub fn ok(data: Value) -> Value {
    serde_json::json!({"code": 0, "message": "success", "data": data})
}

/// Nacos's failure envelope.
pub fn fail(code: u16, message: &str, data: Value) -> Value {
    serde_json::json!({"code": code, "message": message, "data": data})
}

/// The 2.x/3.x answer for a missing parameter.
pub fn missing(name: &str, ty: &str) -> Value {
    fail(
        10000,
        "parameter missing",
        format!("Required parameter '{name}' type {ty} is not present").into(),
    )
}

/// The 2.x/3.x answer for an invalid parameter.
pub fn invalid(detail: &str) -> Value {
    fail(20002, "parameter validate error", detail.into())
}

/// Publishes through 1.x (the action both versions share) and checks it.
pub fn publish_v1(addr: SocketAddr, data_id: &str, group: &str, tenant: &str, content: &str) {
    common::publish_ok(addr, data_id, group, tenant, content);
}

/// The body of a 1.x GET of a key.
pub fn v1_content(addr: SocketAddr, data_id: &str, group: &str, tenant: &str) -> Option<String> {
    let r = common::get_config(addr, data_id, group, tenant);
    (r.status == 200).then(|| r.text())
}
