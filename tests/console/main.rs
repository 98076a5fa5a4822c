//! Console and ops endpoints against the spec (`spec/nacos-v1-config.md` in the project's shared folder)
//! §4.4-§4.10, §6.4, §6.5 and the §13 rows S01-S04, H01-H03, N01-N03,
//! X03, G13, G14, P12, P13, D04 and L29: search, detail, catalog,
//! history and rollback, namespaces, listener status, beta (gray) and tag
//! variants, health and server state. Each test starts its own `vigil`
//! process and speaks raw HTTP/1.1, asserting exact statuses, bodies and JSON
//! fields. Where Nacos answers 500 (non-positive paging, unknown history nid)
//! this server deliberately answers 400 / 404, and the tests follow that.
//! Other client addresses are simulated with `X-Forwarded-For` on a server
//! started with `--trust-proxy-headers`.

#[path = "../common/mod.rs"]
mod common;

use common::{answer_within, check_silent, expect_silent, park_with, reply1, settle, PROMPT};
use common::{delete, get, get_h, lossy, raw};
use common::{form, md5_hex, publish_ok, record, request, Conn, Response, Server};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const CFG: &str = "/nacos/v1/cs/configs";
const HISTORY: &str = "/nacos/v1/cs/history";
const NS: &str = "/nacos/v1/console/namespaces";
const DG: &str = "DEFAULT_GROUP";
const FORM_CT: &str = "application/x-www-form-urlencoded;charset=UTF-8";
const NOT_EXIST: &str = "config data not exist\n";

// ---------------------------------------------------------------------------
// Request builders
// ---------------------------------------------------------------------------

/// A form-body request (POST or PUT) with extra headers.
fn send_form(
    addr: SocketAddr,
    method: &str,
    path: &str,
    pairs: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Response {
    let mut h = vec![("Content-Type", FORM_CT)];
    h.extend_from_slice(headers);
    request(addr, &raw(method, path, &h, Some(form(pairs).as_bytes())))
}

/// Publishes with these form parameters (and headers) and asserts `true`.
fn publish_with(addr: SocketAddr, pairs: &[(&str, &str)], headers: &[(&str, &str)]) {
    let r = send_form(addr, "POST", CFG, pairs, headers);
    assert_body(&r, 200, "true", &format!("publish {pairs:?} {headers:?}"));
}

fn assert_body(r: &Response, status: u16, body: &str, what: &str) {
    assert_eq!(
        (r.status, lossy(&r.body).as_str()),
        (status, body),
        "{what}: status and exact body"
    );
}

/// A 200 answer whose body is JSON.
fn json_ok(r: &Response, what: &str) -> Value {
    assert_eq!(r.status, 200, "{what}: status; body {:?}", lossy(&r.body));
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{what}: body is not JSON ({e}): {:?}", lossy(&r.body)))
}

/// GET of a config from this requester (headers), asserting 200 and the body.
fn assert_get(
    addr: SocketAddr,
    pairs: &[(&str, &str)],
    headers: &[(&str, &str)],
    content: &str,
) -> Response {
    let r = get_h(addr, CFG, pairs, headers);
    assert_body(&r, 200, content, &format!("GET {pairs:?} with {headers:?}"));
    assert_eq!(
        r.header_exact("Content-MD5"),
        Some(md5_hex(content).as_str()),
        "GET {pairs:?} with {headers:?}: Content-MD5 of the variant served"
    );
    r
}

fn assert_get_absent(addr: SocketAddr, pairs: &[(&str, &str)], headers: &[(&str, &str)]) {
    let r = get_h(addr, CFG, pairs, headers);
    assert_body(
        &r,
        404,
        NOT_EXIST,
        &format!("GET {pairs:?} with {headers:?}"),
    );
}

fn search(addr: SocketAddr, pairs: &[(&str, &str)]) -> Value {
    let r = get(addr, CFG, pairs);
    json_ok(&r, &format!("search {pairs:?}"))
}

/// A search item without its `id`, after checking the id is a numeric string.
fn strip_id(item: &Value) -> Value {
    let mut item = item.clone();
    let id = item
        .as_object_mut()
        .expect("item is an object")
        .remove("id")
        .expect("item has an id");
    let id = id
        .as_str()
        .unwrap_or_else(|| panic!("id must be a JSON string: {id}"));
    assert!(
        id.parse::<u64>().is_ok_and(|n| n > 0),
        "id must be a positive integer rendered as a string: {id:?}"
    );
    item
}

fn items(page: &Value) -> Vec<Value> {
    page["pageItems"]
        .as_array()
        .unwrap_or_else(|| panic!("pageItems must be an array: {page}"))
        .clone()
}

fn data_ids(page: &Value) -> BTreeSet<String> {
    items(page)
        .iter()
        .map(|i| i["dataId"].as_str().expect("dataId").to_string())
        .collect()
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Jackson's ISO-8601 rendering on Nacos 1.4: `2026-01-02T03:04:05.678+0000`.
fn assert_iso_time(v: &Value, what: &str) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{what}: must be a string: {v}"));
    let b = s.as_bytes();
    let shape_ok = b.len() == 28
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'+',
            _ => c.is_ascii_digit(),
        })
        && s.ends_with("+0000");
    assert!(
        shape_ok,
        "{what}: {s:?} is not yyyy-MM-ddTHH:mm:ss.SSS+0000"
    );
    let year: i32 = s[..4].parse().unwrap();
    assert!(year >= 2024, "{what}: {s:?} is not a current time");
}

// ---------------------------------------------------------------------------
// Long-poll helpers
// ---------------------------------------------------------------------------

fn assert_woken(c: &mut Conn, expected: &str, what: &str) {
    let r = answer_within(c, PROMPT, what);
    assert_body(&r, 200, expected, what);
}

/// Polls an endpoint until its JSON equals `expected` (parked polls become
/// visible as soon as the server has read them), then asserts equality.
fn eventually_json(addr: SocketAddr, path: &str, pairs: &[(&str, &str)], expected: &Value) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let got = json_ok(&get(addr, path, pairs), &format!("GET {path} {pairs:?}"));
        if &got == expected || Instant::now() > deadline {
            assert_eq!(&got, expected, "GET {path} {pairs:?}");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn status_json(addr: SocketAddr, path: &str, pairs: &[(&str, &str)]) -> Value {
    json_ok(&get(addr, path, pairs), &format!("GET {path} {pairs:?}"))
}

// ---------------------------------------------------------------------------
// Helpers more than one area uses
// ---------------------------------------------------------------------------

const XFF: &str = "X-Forwarded-For";

fn key(data_id: &str) -> [(&str, &str); 2] {
    [("dataId", data_id), ("group", DG)]
}

fn status_of(map: Value) -> Value {
    json!({"collectStatus": 200, "lisentersGroupkeyStatus": map})
}

const KEY_STATUS: &str = "/nacos/v1/cs/configs/listener";

fn history_list(addr: SocketAddr, data_id: &str, tenant: &str, extra: &[(&str, &str)]) -> Value {
    let mut p = vec![
        ("search", "accurate"),
        ("dataId", data_id),
        ("group", DG),
        ("tenant", tenant),
    ];
    p.extend_from_slice(extra);
    json_ok(&get(addr, HISTORY, &p), &format!("history of {data_id}"))
}

fn history_detail(addr: SocketAddr, nid: &str) -> Value {
    json_ok(
        &get(addr, HISTORY, &[("nid", nid)]),
        &format!("history nid {nid}"),
    )
}

fn nids(page: &Value) -> Vec<i64> {
    items(page)
        .iter()
        .map(|i| {
            i["id"]
                .as_str()
                .unwrap_or_else(|| panic!("history id must be a string: {i}"))
                .parse()
                .expect("numeric nid")
        })
        .collect()
}

fn ns_create(addr: SocketAddr, id: &str, name: &str, desc: &str) -> Response {
    send_form(
        addr,
        "POST",
        NS,
        &[
            ("customNamespaceId", id),
            ("namespaceName", name),
            ("namespaceDesc", desc),
        ],
        &[],
    )
}

fn ns_exists(addr: SocketAddr, id: &str) -> String {
    let r = get(
        addr,
        NS,
        &[("checkNamespaceIdExist", "true"), ("customNamespaceId", id)],
    );
    assert_eq!(r.status, 200, "exists {id}");
    lossy(&r.body)
}

fn ns_list(addr: SocketAddr) -> Value {
    json_ok(&get(addr, NS, &[]), "namespace list")
}

mod beta;
mod health;
mod history;
mod namespaces;
mod search;
mod tags;
