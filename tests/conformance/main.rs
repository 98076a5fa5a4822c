//! Wire-level conformance tests against the §13 checklist of the wire spec
//! (`spec/nacos-v1-config.md` in the project's shared folder): every MUST row
//! of the transport (T), get (G), publish (P), delete (D) and listener (L)
//! areas, the auth-off rows A01-A03, E02, and the SHOULD rows T04, T13, T14,
//! G04, G05, G08, P03, P05, P06, P10, L06, L20, L22-L25, L27, L28, L30, L32,
//! X01 and X02. The pure validation rows G09, G10, P04, P07, L18, L19 and L21
//! are a table of in-process cases in `validation.rs`. Each test starts its own
//! `vigil` process and talks raw HTTP/1.1 over real sockets, asserting exact
//! status codes, exact body bytes and exact response-header-name case (§1.4).
//! Timing assertions are only the semantic ones the spec demands: an immediate
//! answer or a wake-up arrives (within a 5 s safety net), a poll that must not
//! wake is first seen parked on the server's `vigil_parked_polls` gauge and then
//! stays silent for 1.5 s, and hold times follow `max(10 s, min(L, 120 s) -
//! 500 ms)` (never shorter; up to 3 s longer on a busy machine). P10 (appName
//! kept on update) is not visible over HTTP on this server, which answers 501
//! to `show=all` and search, so that one test reads the §9.2 `config_info` row
//! from the data file.

#[path = "../common/mod.rs"]
mod common;

use common::{answer_within, check_silent, expect_silent, get_req, immediate, no_hangup};
use common::{enc, form, md5_hex, publish_ok, record, request, Conn, Response, Server};
use common::{lossy, raw};
use common::{park, reply1, settle, wait_parked, wire_key, PROMPT, SILENT};
use std::collections::BTreeSet;
use std::io::{BufRead, ErrorKind};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

const CFG: &str = "/nacos/v1/cs/configs";
const LISTENER: &str = "/nacos/v1/cs/configs/listener";
const DG: &str = "DEFAULT_GROUP";
const FORM_CT: &str = "application/x-www-form-urlencoded;charset=UTF-8";
/// A well-formed md5 that matches nothing the tests publish.
const STALE: &str = "0123456789abcdef0123456789abcdef";
const EXPIRES: &str = "Thu, 01 Jan 1970 00:00:00 GMT";

// ---------------------------------------------------------------------------
// Request builders and assertions
// ---------------------------------------------------------------------------

/// A form POST (Java-style content type) to `target` with this body.
fn form_post(target: &str, body: &str) -> Vec<u8> {
    raw(
        "POST",
        target,
        &[("Content-Type", FORM_CT)],
        Some(body.as_bytes()),
    )
}

fn get_with(addr: SocketAddr, pairs: &[(&str, &str)]) -> Response {
    request(
        addr,
        &raw("GET", &format!("{CFG}?{}", form(pairs)), &[], None),
    )
}

fn publish_with(addr: SocketAddr, pairs: &[(&str, &str)]) -> Response {
    request(addr, &form_post(CFG, &form(pairs)))
}

fn assert_true(r: &Response, what: &str) {
    assert_eq!(
        (r.status, lossy(&r.body).as_str()),
        (200, "true"),
        "{what}: expected 200 with the 4-byte body `true`"
    );
}

fn assert_status_body(r: &Response, status: u16, body: &str, what: &str) {
    assert_eq!(
        (r.status, lossy(&r.body).as_str()),
        (status, body),
        "{what}: status and exact body"
    );
}

/// GET returns 200 with exactly these bytes.
fn assert_content(
    addr: SocketAddr,
    data_id: &str,
    group: &str,
    tenant: Option<&str>,
    content: &str,
) {
    let r = request(addr, &get_req(data_id, group, tenant));
    assert_eq!(
        r.status,
        200,
        "GET {data_id}/{group}/{tenant:?}: body {:?}",
        lossy(&r.body)
    );
    assert!(
        r.body == content.as_bytes(),
        "GET {data_id}/{group}/{tenant:?}: body {:?}, expected {:?}",
        lossy(&r.body),
        content
    );
}

/// GET answers 404 `config data not exist\n`.
fn assert_absent(addr: SocketAddr, data_id: &str, group: &str, tenant: Option<&str>) {
    let r = request(addr, &get_req(data_id, group, tenant));
    assert_status_body(
        &r,
        404,
        "config data not exist\n",
        &format!("GET of absent {data_id}/{group}/{tenant:?}"),
    );
}

// ---------------------------------------------------------------------------
// Listener helpers
// ---------------------------------------------------------------------------

/// A listener request with `Long-Pulling-Timeout: 30000` and extra headers.
fn listen(records: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    common::listener_raw(records, Some("30000"), headers)
}

/// The set of encoded keys in a listener reply (each still ending in `%01`).
fn reply_keys(body: &[u8]) -> BTreeSet<String> {
    let s = std::str::from_utf8(body).expect("listener reply is ASCII");
    let s = s
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("listener reply must end in \\n: {s:?}"));
    assert!(
        s.ends_with("%01"),
        "listener reply must end in %01\\n: {s:?}"
    );
    s.split_inclusive("%01").map(str::to_string).collect()
}

fn assert_ok_empty(r: &Response, what: &str) {
    assert_eq!(r.status, 200, "{what}: status, body {:?}", lossy(&r.body));
    assert!(
        r.body.is_empty(),
        "{what}: expected an empty body, got {:?}",
        lossy(&r.body)
    );
}

fn assert_reply(r: &Response, expected: &str, what: &str) {
    assert_status_body(r, 200, expected, what);
}

/// Header names the spec (§1.4) requires in exactly this case.
const CANONICAL: &[&str] = &[
    "Config-Type",
    "Content-Type",
    "Content-MD5",
    "Last-Modified",
    "Cache-Control",
    "Pragma",
    "Expires",
    "Content-Length",
    "Vipserver-Tag",
    "isBeta",
    "Encrypted-Data-Key",
];

fn assert_canonical_names(r: &Response, what: &str) {
    for (name, _) in &r.headers {
        for canon in CANONICAL {
            if name.eq_ignore_ascii_case(canon) {
                assert_eq!(name, canon, "{what}: response header name case");
            }
        }
    }
}

fn json(r: &Response, what: &str) -> serde_json::Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{what}: body is not JSON ({e}): {:?}", lossy(&r.body)))
}

// ---------------------------------------------------------------------------
// T: transport
// ---------------------------------------------------------------------------

#[test]
fn t01_get_routes_to_get_config() {
    let s = Server::start();
    assert_absent(s.addr, "t01.properties", DG, None);
    publish_ok(s.addr, "t01.properties", DG, "", "t01=1\n");
    assert_content(s.addr, "t01.properties", DG, None, "t01=1\n");
}

#[test]
fn t02_publish_with_all_params_in_form_body() {
    let s = Server::start();
    let body = form(&[
        ("dataId", "t02.properties"),
        ("group", DG),
        ("content", "k=v\n"),
        ("type", "properties"),
        ("tenant", "dev"),
    ]);
    let r = request(s.addr, &form_post(CFG, &body));
    assert_true(&r, "publish with params in the body");
    assert_content(s.addr, "t02.properties", DG, Some("dev"), "k=v\n");
}

#[test]
fn t03_publish_with_all_params_in_query_only() {
    let s = Server::start();
    // Form content type, empty body.
    let q = form(&[
        ("dataId", "t03-a"),
        ("group", DG),
        ("content", "from=query\n"),
    ]);
    let r = request(
        s.addr,
        &raw(
            "POST",
            &format!("{CFG}?{q}"),
            &[("Content-Type", FORM_CT)],
            Some(b"".as_slice()),
        ),
    );
    assert_true(&r, "POST with params in the query and an empty form body");
    assert_content(s.addr, "t03-a", DG, None, "from=query\n");
    // `curl -X POST 'url?...'`: no Content-Type, no Content-Length.
    let q = form(&[("dataId", "t03-b"), ("group", DG), ("content", "curl")]);
    let r = request(s.addr, &raw("POST", &format!("{CFG}?{q}"), &[], None));
    assert_true(&r, "POST with params in the query and no body at all");
    assert_content(s.addr, "t03-b", DG, None, "curl");
}

#[test]
fn t04_query_value_wins_over_body_value() {
    let s = Server::start();
    let q = form(&[("dataId", "t04-query"), ("content", "from-query")]);
    let body = form(&[
        ("dataId", "t04-body"),
        ("group", DG),
        ("content", "from-body"),
    ]);
    let r = request(s.addr, &form_post(&format!("{CFG}?{q}"), &body));
    assert_true(&r, "publish with duplicated params");
    assert_content(s.addr, "t04-query", DG, None, "from-query");
    assert_absent(s.addr, "t04-body", DG, None);
    // Python v1 splits: tenant in the query, the rest in the body.
    let body = form(&[("dataId", "t04-split"), ("group", DG), ("content", "split")]);
    let r = request(s.addr, &form_post(&format!("{CFG}?tenant=dev"), &body));
    assert_true(&r, "publish with split params");
    assert_content(s.addr, "t04-split", DG, Some("dev"), "split");
}

#[test]
fn t05_body_is_utf8_whatever_the_declared_charset() {
    let s = Server::start();
    let content = "名字=值\n中文内容";
    // The Node SDK: charset=GBK label, UTF-8 bytes, empty tenant/type/appName.
    let body = form(&[
        ("dataId", "t05.properties"),
        ("group", DG),
        ("content", content),
        ("tenant", ""),
        ("type", ""),
        ("appName", ""),
    ]);
    let r = request(
        s.addr,
        &raw(
            "POST",
            CFG,
            &[(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=GBK",
            )],
            Some(body.as_bytes()),
        ),
    );
    assert_true(&r, "publish labelled charset=GBK");
    assert_content(s.addr, "t05.properties", DG, None, content);
    let r = request(s.addr, &get_req("t05.properties", DG, None));
    assert_eq!(
        r.header_exact("Content-MD5"),
        Some(md5_hex(content).as_str())
    );
}

#[test]
fn t06_form_body_with_trailing_ampersand_and_empty_pair() {
    let s = Server::start();
    let body = "dataId=t06.properties&group=DEFAULT_GROUP&&content=v%3D1&";
    let r = request(s.addr, &form_post(CFG, body));
    assert_true(&r, "publish with `&&` and a trailing `&`");
    assert_content(s.addr, "t06.properties", DG, None, "v=1");
    let body = "dataId=t06-b&flag&group=DEFAULT_GROUP&content=b&&";
    let r = request(s.addr, &form_post(CFG, body));
    assert_true(&r, "publish with a key without `=`");
    assert_content(s.addr, "t06-b", DG, None, "b");
}

#[test]
fn t07_empty_tenant_is_the_public_namespace() {
    let s = Server::start();
    let r = publish_with(
        s.addr,
        &[
            ("dataId", "t07"),
            ("group", DG),
            ("tenant", ""),
            ("content", "t07 content"),
        ],
    );
    assert_true(&r, "publish with tenant=");
    assert_content(s.addr, "t07", DG, None, "t07 content");
    assert_content(s.addr, "t07", DG, Some(""), "t07 content");
    let r = no_hangup(
        s.addr,
        &record("t07", DG, &md5_hex("t07 content"), None),
        "poll",
    );
    assert_ok_empty(
        &r,
        "3-field poll with the current md5 of the tenant= publish",
    );
    let r = delete_with_tenant(s.addr, "t07", "");
    assert_true(&r, "delete with tenant=");
    assert_absent(s.addr, "t07", DG, None);
}

fn delete_with_tenant(addr: SocketAddr, data_id: &str, tenant: &str) -> Response {
    common::delete_config(addr, data_id, DG, tenant)
}

#[test]
fn t08_json_content_type_on_bodyless_get_and_delete() {
    let s = Server::start();
    publish_ok(s.addr, "t08.properties", DG, "", "t08=1");
    let java = [
        ("Content-Type", "application/json;charset=UTF-8"),
        ("Accept-Charset", "UTF-8"),
        ("Accept-Encoding", "gzip"),
        ("Client-AppName", "unknown"),
        ("Client-Version", "1.4.1"),
        ("exConfigInfo", "true"),
        ("RequestId", "6a3c2f0e-1d7a-4b8e-9c51-0c0f3f8a9e21"),
        ("User-Agent", "Java/1.8.0_282"),
        (
            "Accept",
            "text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2",
        ),
        ("Connection", "keep-alive"),
    ];
    let q = form(&[("dataId", "t08.properties"), ("group", DG)]);
    let mut c = Conn::open(s.addr);
    let r = c.roundtrip(&raw("GET", &format!("{CFG}?{q}"), &java, None));
    assert_eq!(
        (r.status, lossy(&r.body).as_str()),
        (200, "t08=1"),
        "Java-style GET"
    );
    let r = c.roundtrip(&raw("DELETE", &format!("{CFG}?{q}"), &java, None));
    assert_true(&r, "Java-style DELETE");
    let r = c.roundtrip(&raw("GET", &format!("{CFG}?{q}"), &java, None));
    assert_status_body(&r, 404, "config data not exist\n", "GET after DELETE");
}

#[test]
fn t09_request_header_names_in_odd_case() {
    let s = Server::start();
    // Python urllib capitalisation on a publish.
    let body = form(&[("dataId", "t09"), ("group", DG), ("content", "one")]);
    let r = request(
        s.addr,
        &format!(
            "POST {CFG} HTTP/1.1\r\nHost: t\r\nAccept-Encoding: identity\r\nContent-type: application/x-www-form-urlencoded\r\nUser-agent: Nacos-Python-Client:v0.1.16\r\nContent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    );
    assert_true(&r, "publish with `Content-type` / `Content-length`");
    assert_content(s.addr, "t09", DG, None, "one");

    // A Python-style poll with the current md5 must be held, i.e. the
    // `Long-pulling-timeout` header was recognised.
    let lbody = form(&[(
        "Listening-Configs",
        &record("t09", DG, &md5_hex("one"), Some("")),
    )]);
    let mut c = Conn::open(s.addr);
    c.send(
        format!(
            "POST {LISTENER} HTTP/1.1\r\nHost: t\r\nAccept-Encoding: identity\r\nContent-type: application/x-www-form-urlencoded\r\nLong-pulling-timeout: 30000\r\nUser-agent: Nacos-Python-Client:v0.1.16\r\nConnection: close\r\nContent-length: {}\r\n\r\n{lbody}",
            lbody.len()
        )
        .as_bytes(),
    );
    expect_silent(s.addr, &mut c, 1, "poll with `Long-pulling-timeout`");
    publish_ok(s.addr, "t09", DG, "", "two");
    let r = answer_within(&mut c, PROMPT, "woken Python-style poll");
    assert_reply(&r, &reply1("t09", DG, None), "woken Python-style poll");

    // Lower-case no-hang-up header.
    let r = immediate(
        s.addr,
        &common::listener_raw(
            &record("t09", DG, &md5_hex("two"), None),
            None,
            &[
                ("long-pulling-timeout", "30000"),
                ("long-pulling-timeout-no-hangup", "true"),
            ],
        ),
        "lower-case no-hang-up",
    );
    assert_ok_empty(&r, "lower-case no-hang-up poll");
}

#[test]
fn t10_response_header_names_are_canonical() {
    let s = Server::start();
    let r = publish_with(
        s.addr,
        &[
            ("dataId", "t10.yaml"),
            ("group", DG),
            ("content", "a: 1\n"),
            ("type", "yaml"),
        ],
    );
    assert_true(&r, "publish");
    assert_canonical_names(&r, "publish reply");

    let r = request(s.addr, &get_req("t10.yaml", DG, None));
    assert_eq!(r.status, 200);
    assert_canonical_names(&r, "GET 200");
    for name in [
        "Config-Type",
        "Content-Type",
        "Content-MD5",
        "Last-Modified",
        "Cache-Control",
        "Pragma",
        "Expires",
    ] {
        assert!(
            r.header_exact(name).is_some(),
            "GET 200 lacks a header named exactly {name:?}: {:?}",
            r.headers
        );
    }
    assert!(
        r.header_exact("Content-Length").is_some() || r.header("Transfer-Encoding").is_some(),
        "GET 200 is framed by `Content-Length` (exact case) or chunked: {:?}",
        r.headers
    );

    let r = request(s.addr, &get_req("t10-absent", DG, None));
    assert_eq!(r.status, 404);
    assert_canonical_names(&r, "GET 404");

    let r = immediate(
        s.addr,
        &listen(&record("t10.yaml", DG, "", None), &[]),
        "poll",
    );
    assert_eq!(r.status, 200);
    assert_canonical_names(&r, "listener reply with changes");

    let r = no_hangup(
        s.addr,
        &record("t10.yaml", DG, &md5_hex("a: 1\n"), None),
        "poll",
    );
    assert_ok_empty(&r, "no-hang-up poll");
    assert_canonical_names(&r, "empty listener reply");
    assert_eq!(
        r.header_exact("Content-Length"),
        Some("0"),
        "empty listener reply"
    );

    let r = common::delete_config(s.addr, "t10.yaml", DG, "");
    assert_true(&r, "delete");
    assert_canonical_names(&r, "delete reply");
}

#[test]
fn t11_responses_are_never_compressed() {
    let s = Server::start();
    let content = "compress me ".repeat(500);
    publish_ok(s.addr, "t11.txt", DG, "", &content);
    let q = form(&[("dataId", "t11.txt"), ("group", DG)]);
    let r = request(
        s.addr,
        &raw(
            "GET",
            &format!("{CFG}?{q}"),
            &[("Accept-Encoding", "gzip")],
            None,
        ),
    );
    assert_eq!(r.status, 200);
    assert!(
        r.header("Content-Encoding").is_none(),
        "Content-Encoding sent: {:?}",
        r.headers
    );
    assert!(
        r.body == content.as_bytes(),
        "body must be the plain content"
    );

    let req = common::listener_raw(
        &record("t11.txt", DG, "", None),
        Some("30000"),
        &[("Accept-Encoding", "gzip")],
    );
    let r = immediate(s.addr, &req, "poll with Accept-Encoding: gzip");
    assert!(
        r.header("Content-Encoding").is_none(),
        "Content-Encoding sent: {:?}",
        r.headers
    );
    assert_reply(&r, &reply1("t11.txt", DG, None), "listener reply");
}

#[test]
fn t12_keep_alive_then_connection_close() {
    let s = Server::start();
    let mut c = Conn::open(s.addr);
    let r = c.roundtrip(&get_req("t12", DG, None));
    assert_status_body(&r, 404, "config data not exist\n", "first request");
    let r = c.roundtrip(&form_post(
        CFG,
        &form(&[("dataId", "t12"), ("group", DG), ("content", "kept alive")]),
    ));
    assert_true(&r, "second request on the same connection");
    let r = c.roundtrip(&get_req("t12", DG, None));
    assert_eq!(
        (r.status, lossy(&r.body).as_str()),
        (200, "kept alive"),
        "third request"
    );
    let q = form(&[("dataId", "t12"), ("group", DG)]);
    let r = c.roundtrip(&raw(
        "GET",
        &format!("{CFG}?{q}"),
        &[("Connection", "close")],
        None,
    ));
    assert_eq!(
        (r.status, lossy(&r.body).as_str()),
        (200, "kept alive"),
        "request with Connection: close gets its full reply"
    );
    assert!(
        c.is_closed(PROMPT),
        "server must close after a `Connection: close` request"
    );
}

#[test]
fn t13_unencoded_colon_in_query() {
    let s = Server::start();
    publish_ok(s.addr, "t13:svc.yaml", "G:1", "ns:1", "colon");
    // Go SDK v1: query built by plain concatenation.
    let r = request(
        s.addr,
        &raw(
            "GET",
            &format!("{CFG}?dataId=t13:svc.yaml&group=G:1&tenant=ns:1"),
            &[],
            None,
        ),
    );
    assert_eq!(
        (r.status, lossy(&r.body).as_str()),
        (200, "colon"),
        "raw `:` in the query"
    );
    let r = request(
        s.addr,
        &raw(
            "DELETE",
            &format!("{CFG}?dataId=t13:svc.yaml&group=G:1&tenant=ns:1"),
            &[],
            None,
        ),
    );
    assert_true(&r, "DELETE with raw `:`");
    assert_absent(s.addr, "t13:svc.yaml", "G:1", Some("ns:1"));
}

#[test]
fn t14_publish_of_3_mb_content() {
    let s = Server::start();
    let mut content = String::new();
    let mut i = 0;
    while content.len() < 3 * 1024 * 1024 {
        content.push_str(&format!("key.{i:07}=value {i} 值&x+y%z\r\n"));
        i += 1;
    }
    let r = publish_with(
        s.addr,
        &[("dataId", "t14.big"), ("group", DG), ("content", &content)],
    );
    assert_true(&r, "3 MB publish");
    let r = request(s.addr, &get_req("t14.big", DG, None));
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), content.len(), "no truncation");
    assert!(r.body == content.as_bytes(), "byte-exact");
    assert_eq!(
        r.header_exact("Content-MD5"),
        Some(md5_hex(&content).as_str())
    );
}

// ---------------------------------------------------------------------------
// G: get
// ---------------------------------------------------------------------------

#[test]
fn g01_get_returns_published_bytes() {
    let s = Server::start();
    let content = "server.port=8080\nspring.application.name=g01\n";
    publish_ok(s.addr, "g01.properties", DG, "", content);
    assert_content(s.addr, "g01.properties", DG, None, content);
}

#[test]
fn g02_content_md5_is_lowercase_hex_md5() {
    let s = Server::start();
    for (id, content, md5) in [
        ("g02-a", "hello", "5d41402abc4b2a76b9719d911017c592"),
        ("g02-b", "contentTest", "9f67e6977b100e00cab385a75597db58"),
        ("g02-c", "k=v\n", "a2b61a3fe44d6941c7e5dfecd2cb191c"),
        ("g02-d", "名字=值", "3fb67cafab5d1c9b352dea20b799274e"),
    ] {
        publish_ok(s.addr, id, DG, "", content);
        let r = request(s.addr, &get_req(id, DG, None));
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header_exact("Content-MD5"),
            Some(md5),
            "Content-MD5 of {content:?}"
        );
    }
}

#[test]
fn g03_config_type_header() {
    let s = Server::start();
    publish_ok(s.addr, "g03-default", DG, "", "x");
    let r = request(s.addr, &get_req("g03-default", DG, None));
    assert_eq!(r.header_exact("Config-Type"), Some("text"), "default type");
    for ty in ["properties", "xml", "json", "text", "html", "yaml", "unset"] {
        let id = format!("g03-{ty}");
        let r = publish_with(
            s.addr,
            &[
                ("dataId", &id),
                ("group", DG),
                ("content", "x"),
                ("type", ty),
            ],
        );
        assert_true(&r, "publish with type");
        let r = request(s.addr, &get_req(&id, DG, None));
        assert_eq!(r.header_exact("Config-Type"), Some(ty), "stored type {ty}");
    }
}

#[test]
fn g04_content_type_follows_config_type() {
    let s = Server::start();
    for (ty, ct) in [
        ("json", "application/json;charset=UTF-8"),
        ("xml", "application/xml;charset=UTF-8"),
        ("html", "text/html;charset=UTF-8"),
        ("text", "text/plain;charset=UTF-8"),
        ("yaml", "text/plain;charset=UTF-8"),
        ("properties", "text/plain;charset=UTF-8"),
        ("unset", "text/plain;charset=UTF-8"),
    ] {
        let id = format!("g04-{ty}");
        let r = publish_with(
            s.addr,
            &[
                ("dataId", &id),
                ("group", DG),
                ("content", "x"),
                ("type", ty),
            ],
        );
        assert_true(&r, "publish with type");
        let r = request(s.addr, &get_req(&id, DG, None));
        assert_eq!(
            r.header_exact("Content-Type"),
            Some(ct),
            "Content-Type for type {ty}"
        );
    }
    publish_ok(s.addr, "g04-none", DG, "", "x");
    let r = request(s.addr, &get_req("g04-none", DG, None));
    assert_eq!(
        r.header_exact("Content-Type"),
        Some("text/plain;charset=UTF-8"),
        "no type"
    );
}

#[test]
fn g05_cache_headers() {
    let s = Server::start();
    publish_ok(s.addr, "g05", DG, "", "x");
    let r = request(s.addr, &get_req("g05", DG, None));
    assert_eq!(r.status, 200);
    assert_eq!(r.header_exact("Pragma"), Some("no-cache"));
    assert_eq!(r.header_exact("Expires"), Some(EXPIRES));
    assert_eq!(r.header_exact("Cache-Control"), Some("no-cache,no-store"));
    let lm = r.header_exact("Last-Modified").expect("Last-Modified");
    let t = httpdate::parse_http_date(lm).unwrap_or_else(|e| panic!("Last-Modified {lm:?}: {e}"));
    let skew = match t.duration_since(SystemTime::now()) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    assert!(
        skew < Duration::from_secs(3600),
        "Last-Modified {lm:?} is not about now"
    );
}

#[test]
fn g06_absent_config_is_404_with_exact_body() {
    let s = Server::start();
    let r = request(s.addr, &get_req("g06-missing", DG, None));
    assert_status_body(&r, 404, "config data not exist\n", "absent config");
    if let Some(cl) = r.header_exact("Content-Length") {
        assert_eq!(cl, "22", "Content-Length of the 404 body");
    }
    let r = request(s.addr, &get_req("g06-missing", DG, Some("dev")));
    assert_status_body(
        &r,
        404,
        "config data not exist\n",
        "absent config in a tenant",
    );
}

#[test]
fn g07_public_and_null_tenants_read_the_public_namespace() {
    let s = Server::start();
    publish_ok(s.addr, "g07", DG, "", "public content");
    for t in [
        None,
        Some(""),
        Some("public"),
        Some("null"),
        Some("PUBLIC"),
        Some("Null"),
    ] {
        assert_content(s.addr, "g07", DG, t, "public content");
    }
    assert_absent(s.addr, "g07", DG, Some("dev"));
}

#[test]
fn g07_public_alias_on_publish_lands_in_the_public_namespace() {
    let s = Server::start();
    publish_ok(s.addr, "g07-alias", DG, "public", "via alias");
    assert_content(s.addr, "g07-alias", DG, None, "via alias");
    publish_ok(s.addr, "g07-alias", DG, "", "via blank");
    assert_content(s.addr, "g07-alias", DG, Some("public"), "via blank");
    publish_ok(s.addr, "g07-alias", DG, "NULL", "via null");
    assert_content(s.addr, "g07-alias", DG, None, "via null");
    let r = common::delete_config(s.addr, "g07-alias", DG, "Public");
    assert_true(&r, "delete through the alias");
    assert_absent(s.addr, "g07-alias", DG, None);
}

#[test]
fn g08_missing_group_is_400_or_default_group() {
    let s = Server::start();
    publish_ok(s.addr, "g08", DG, "", "g08 content");
    let r = get_with(s.addr, &[("dataId", "g08")]);
    assert!(
        r.status == 400 || (r.status == 200 && r.body == b"g08 content"),
        "GET without group: expected 400 (Nacos) or the DEFAULT_GROUP content, got {} {:?}",
        r.status,
        lossy(&r.body)
    );
}

#[test]
fn g11_cjk_data_id_round_trips() {
    let s = Server::start();
    publish_ok(s.addr, "配置.yaml", "组", "", "名字: 值\n");
    assert_content(s.addr, "配置.yaml", "组", None, "名字: 值\n");
    let r = request(s.addr, &get_req("配置.yaml", "组", None));
    assert_eq!(
        r.header_exact("Content-MD5"),
        Some(md5_hex("名字: 值\n").as_str())
    );
}

#[test]
fn g12_content_bytes_are_exact() {
    let s = Server::start();
    let content = "\u{feff}# BOM first\r\nkey=名字\r\nemoji=😀\r\ntab=\t|\n\n";
    publish_ok(s.addr, "g12.properties", DG, "", content);
    let r = request(s.addr, &get_req("g12.properties", DG, None));
    assert_eq!(r.status, 200);
    assert!(
        r.body == content.as_bytes(),
        "byte-exact: {:?}",
        lossy(&r.body)
    );
    let md5 = md5_hex(content);
    assert_eq!(r.header_exact("Content-MD5"), Some(md5.as_str()));
    // The listener compares against the same md5 over the UTF-8 bytes.
    let r = no_hangup(s.addr, &record("g12.properties", DG, &md5, None), "poll");
    assert_ok_empty(&r, "poll with the client-computed md5");
}

// ---------------------------------------------------------------------------
// P: publish
// ---------------------------------------------------------------------------

#[test]
fn p01_publish_answers_exactly_true() {
    let s = Server::start();
    let r = publish_with(
        s.addr,
        &[("dataId", "p01"), ("group", DG), ("content", "v")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"true".to_vec(), "exactly 4 bytes, no newline");
    let r = publish_with(
        s.addr,
        &[("dataId", "p01"), ("group", DG), ("content", "v2")],
    );
    assert_eq!(r.body, b"true".to_vec(), "update also answers `true`");
}

#[test]
fn p02_get_right_after_true_sees_new_content() {
    let s = Server::start_args(&["--threads", "2"]);
    let mut a = Conn::open(s.addr);
    let mut b = Conn::open(s.addr);
    for i in 0..40 {
        let content = format!("version={i}\n");
        let body = form(&[
            ("dataId", "p02.properties"),
            ("group", DG),
            ("content", &content),
        ]);
        let r = a.roundtrip(&form_post(CFG, &body));
        assert_true(&r, "publish");
        let r = a.roundtrip(&get_req("p02.properties", DG, None));
        assert_eq!(
            lossy(&r.body),
            content,
            "GET on the publishing connection, round {i}"
        );
        let r = b.roundtrip(&get_req("p02.properties", DG, None));
        assert_eq!(
            lossy(&r.body),
            content,
            "GET on another open connection, round {i}"
        );
        let r = request(s.addr, &get_req("p02.properties", DG, None));
        assert_eq!(
            lossy(&r.body),
            content,
            "GET on a new connection, round {i}"
        );
    }
}

#[test]
fn p03_blank_content_is_400() {
    let s = Server::start();
    let r = publish_with(s.addr, &[("dataId", "p03"), ("group", DG), ("content", "")]);
    assert_status_body(&r, 400, "caused: content is blank : ;", "empty content");
    let r = publish_with(
        s.addr,
        &[("dataId", "p03"), ("group", DG), ("content", "   ")],
    );
    assert_status_body(
        &r,
        400,
        "caused: content is blank :    ;",
        "spaces-only content",
    );
    let r = publish_with(
        s.addr,
        &[("dataId", "p03"), ("group", DG), ("content", " \t\r\n ")],
    );
    assert_eq!(
        r.status,
        400,
        "whitespace-only content: {:?}",
        lossy(&r.body)
    );
    let body = lossy(&r.body);
    assert!(
        body.starts_with("caused: content is blank : ") && body.ends_with(';'),
        "whitespace-only content body {body:?}"
    );
    assert_absent(s.addr, "p03", DG, None);
    publish_ok(s.addr, "p03", DG, "", "real");
    let r = publish_with(
        s.addr,
        &[("dataId", "p03"), ("group", DG), ("content", " ")],
    );
    assert_eq!(r.status, 400);
    assert_content(s.addr, "p03", DG, None, "real");
}

#[test]
fn p05_unknown_type_is_stored_as_text() {
    let s = Server::start();
    let r = publish_with(
        s.addr,
        &[
            ("dataId", "p05"),
            ("group", DG),
            ("content", "{}"),
            ("type", "foo"),
        ],
    );
    assert_true(&r, "publish type=foo");
    let r = request(s.addr, &get_req("p05", DG, None));
    assert_eq!(r.header_exact("Config-Type"), Some("text"));
    assert_eq!(
        r.header_exact("Content-Type"),
        Some("text/plain;charset=UTF-8")
    );
}

#[test]
fn p06_content_over_the_limit_is_400() {
    let s = Server::start();
    let limit = 10_485_760;
    let over = "a".repeat(limit + 1);
    let r = publish_with(
        s.addr,
        &[("dataId", "p06-over"), ("group", DG), ("content", &over)],
    );
    assert_status_body(
        &r,
        400,
        "caused: invalid content, over 10485760;",
        "content of limit+1",
    );
    assert_absent(s.addr, "p06-over", DG, None);
    let max = &over[..limit];
    let r = publish_with(
        s.addr,
        &[("dataId", "p06-max"), ("group", DG), ("content", max)],
    );
    assert_true(&r, "content of exactly the limit");
    let r = request(s.addr, &get_req("p06-max", DG, None));
    assert_eq!(r.body.len(), limit);
}

#[test]
fn p08_publish_into_unknown_tenant() {
    let s = Server::start();
    publish_ok(s.addr, "p08", DG, "p08-never-created", "in tenant");
    assert_content(s.addr, "p08", DG, Some("p08-never-created"), "in tenant");
    assert_absent(s.addr, "p08", DG, None);
}

#[test]
fn p09_identical_republish_is_true_and_wakes_nobody() {
    let s = Server::start();
    publish_ok(s.addr, "p09", DG, "dev", "same");
    let mut c = park(s.addr, &record("p09", DG, &md5_hex("same"), Some("dev")));
    settle(s.addr, &mut c, 1, "poll before re-publish");
    let r = publish(s.addr, "p09", "dev", "same");
    assert_true(&r, "identical re-publish");
    expect_silent(s.addr, &mut c, 1, "poll after identical re-publish");
    assert_content(s.addr, "p09", DG, Some("dev"), "same");
}

fn publish(addr: SocketAddr, data_id: &str, tenant: &str, content: &str) -> Response {
    common::publish(addr, data_id, DG, tenant, content)
}

/// The stored `appName` of a public `DEFAULT_GROUP` config. This server does
/// not implement the `show=all` detail endpoint (it answers 501), so the row is
/// read from its SQLite file, whose `config_info` table follows §9.2.
fn stored_app_name(s: &Server, data_id: &str) -> Option<String> {
    let db = rusqlite::Connection::open_with_flags(
        s.data_dir.join("vigil.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the data file read-only");
    db.query_row(
        "SELECT app_name FROM config_info WHERE data_id = ?1 AND group_id = ?2 AND tenant_id = ''",
        [data_id, DG],
        |r| r.get(0),
    )
    .expect("config_info row")
}

#[test]
fn p10_update_without_app_name_keeps_it() {
    let s = Server::start();
    let r = publish_with(
        s.addr,
        &[
            ("dataId", "p10"),
            ("group", DG),
            ("content", "1"),
            ("appName", "p10-app"),
        ],
    );
    assert_true(&r, "publish with appName");
    assert_eq!(stored_app_name(&s, "p10").as_deref(), Some("p10-app"));
    publish_ok(s.addr, "p10", DG, "", "2");
    assert_eq!(
        stored_app_name(&s, "p10").as_deref(),
        Some("p10-app"),
        "appName kept after an update without it"
    );
    assert_content(s.addr, "p10", DG, None, "2");
    let r = publish_with(
        s.addr,
        &[
            ("dataId", "p10"),
            ("group", DG),
            ("content", "3"),
            ("appName", ""),
        ],
    );
    assert_true(&r, "publish with empty appName");
    let app = stored_app_name(&s, "p10");
    assert!(
        app.as_deref().is_none_or(str::is_empty),
        "an empty appName clears it, got {app:?}"
    );
}

// ---------------------------------------------------------------------------
// D: delete
// ---------------------------------------------------------------------------

#[test]
fn d01_delete_existing_key() {
    let s = Server::start();
    publish_ok(s.addr, "d01", DG, "", "x");
    let r = common::delete_config(s.addr, "d01", DG, "");
    assert_true(&r, "delete existing");
    assert_absent(s.addr, "d01", DG, None);
}

#[test]
fn d02_delete_absent_key_is_true() {
    let s = Server::start();
    let r = common::delete_config(s.addr, "d02-never", DG, "");
    assert_true(&r, "delete absent");
    let r = common::delete_config(s.addr, "d02-never", DG, "dev");
    assert_true(&r, "delete absent in a tenant");
}

#[test]
fn d03_delete_params_come_from_the_query() {
    let s = Server::start();
    publish_ok(s.addr, "d03", DG, "", "public");
    publish_ok(s.addr, "d03", DG, "dev", "dev");
    let q = form(&[("dataId", "d03"), ("group", DG), ("tenant", "dev")]);
    let r = request(s.addr, &raw("DELETE", &format!("{CFG}?{q}"), &[], None));
    assert_true(&r, "DELETE with query params");
    assert_absent(s.addr, "d03", DG, Some("dev"));
    assert_content(s.addr, "d03", DG, None, "public");
}

#[test]
fn d03_delete_body_is_not_parsed() {
    let s = Server::start();
    publish_ok(s.addr, "d03-body", DG, "", "stays");
    let body = form(&[("dataId", "d03-body"), ("group", DG)]);
    let mut c = Conn::open(s.addr);
    let r = c.roundtrip(&raw(
        "DELETE",
        CFG,
        &[("Content-Type", FORM_CT)],
        Some(body.as_bytes()),
    ));
    assert_ne!(
        r.status, 200,
        "DELETE with params only in the body must not succeed"
    );
    assert!(r.status < 500, "not a server error: {}", r.status);
    assert_content(s.addr, "d03-body", DG, None, "stays");
}

// ---------------------------------------------------------------------------
// L: listener
// ---------------------------------------------------------------------------

#[test]
fn l01_three_field_record_md5_differs() {
    let s = Server::start();
    publish_ok(s.addr, "l01.properties", DG, "", "new");
    let r = immediate(
        s.addr,
        &listen(&record("l01.properties", DG, &md5_hex("old"), None), &[]),
        "poll",
    );
    assert_reply(
        &r,
        &reply1("l01.properties", DG, None),
        "3-field stale record",
    );
    let r = immediate(
        s.addr,
        &listen(&record("l01.properties", DG, "", None), &[]),
        "poll",
    );
    assert_reply(&r, &reply1("l01.properties", DG, None), "3-field empty md5");
}

#[test]
fn l02_four_field_record_with_tenant() {
    let s = Server::start();
    publish_ok(s.addr, "l02", DG, "dev", "v");
    let r = immediate(
        s.addr,
        &listen(&record("l02", DG, STALE, Some("dev")), &[]),
        "poll",
    );
    assert_reply(
        &r,
        "l02%02DEFAULT_GROUP%02dev%01\n",
        "4-field record in tenant dev",
    );
}

#[test]
fn l03_four_field_record_with_empty_tenant_is_public() {
    let s = Server::start();
    publish_ok(s.addr, "l03", DG, "", "v1");
    let r = immediate(
        s.addr,
        &listen(&record("l03", DG, STALE, Some("")), &[]),
        "poll",
    );
    assert_reply(
        &r,
        "l03%02DEFAULT_GROUP%01\n",
        "stale 4-field record, empty tenant",
    );
    let r = no_hangup(s.addr, &record("l03", DG, &md5_hex("v1"), Some("")), "poll");
    assert_ok_empty(&r, "current 4-field record, empty tenant");
    let mut c = park(s.addr, &record("l03", DG, &md5_hex("v1"), Some("")));
    settle(s.addr, &mut c, 1, "parked Python-style poll");
    publish_ok(s.addr, "l03", DG, "", "v2");
    let r = answer_within(&mut c, PROMPT, "wake-up");
    assert_reply(&r, "l03%02DEFAULT_GROUP%01\n", "wake-up without tenant");
}

#[test]
fn l04_equal_md5_is_held_then_empty() {
    let s = Server::start();
    publish_ok(s.addr, "l04", DG, "", "v");
    let t = Instant::now();
    let mut c = common::start_poll(s.addr, &record("l04", DG, &md5_hex("v"), None), "10000");
    expect_silent(s.addr, &mut c, 1, "held poll");
    let r = c.read_response();
    let el = t.elapsed();
    assert_ok_empty(&r, "expired poll");
    assert_eq!(
        r.header_exact("Content-Length"),
        Some("0"),
        "expired poll framing"
    );
    assert!(
        el >= Duration::from_millis(9500) && el <= Duration::from_secs(13),
        "held {el:?}, expected about 10 s (up to 13 s on a busy machine)"
    );
}

#[test]
fn l05_hold_for_30000_is_about_29_5_s() {
    let s = Server::start();
    publish_ok(s.addr, "l05", DG, "", "v");
    let t = Instant::now();
    let mut c = park(s.addr, &record("l05", DG, &md5_hex("v"), None));
    let r = c.read_response();
    let el = t.elapsed();
    assert_ok_empty(&r, "expired poll");
    assert_eq!(r.header_exact("Content-Length"), Some("0"));
    assert!(
        el >= Duration::from_secs(29) && el <= Duration::from_secs(33),
        "held {el:?}, expected 29.5 s (up to 33 s on a busy machine)"
    );
}

#[test]
fn l06_hold_for_5000_is_the_10_s_floor() {
    let s = Server::start();
    let t = Instant::now();
    let mut c = common::start_poll(s.addr, &record("l06-absent", DG, "", None), "5000");
    let r = c.read_response();
    let el = t.elapsed();
    assert_ok_empty(&r, "expired poll");
    assert!(
        el >= Duration::from_millis(9500) && el <= Duration::from_secs(13),
        "held {el:?}, expected about 10 s (up to 13 s on a busy machine)"
    );
}

#[test]
fn l07_no_hangup_answers_at_once() {
    let s = Server::start();
    publish_ok(s.addr, "l07", DG, "", "v");
    let r = no_hangup(
        s.addr,
        &record("l07", DG, &md5_hex("v"), None),
        "no-hang-up",
    );
    assert_ok_empty(&r, "no-hang-up with nothing changed");
    assert_eq!(r.header_exact("Content-Length"), Some("0"));
    let r = immediate(
        s.addr,
        &listen(
            &record("l07-absent", DG, "", None),
            &[("Long-Pulling-Timeout-No-Hangup", "TRUE")],
        ),
        "no-hang-up TRUE",
    );
    assert_ok_empty(&r, "no-hang-up value is case-insensitive");
    let r = no_hangup(
        s.addr,
        &record("l07", DG, STALE, None),
        "no-hang-up with a change",
    );
    assert_reply(&r, &reply1("l07", DG, None), "no-hang-up with a change");
    let mut c = Conn::open(s.addr);
    c.send(&listen(
        &record("l07", DG, &md5_hex("v"), None),
        &[("Long-Pulling-Timeout-No-Hangup", "false")],
    ));
    expect_silent(s.addr, &mut c, 1, "No-Hangup: false is held");
}

#[test]
fn l08_publish_wakes_parked_poll() {
    let s = Server::start();
    publish_ok(s.addr, "l08.yaml", DG, "", "a: 1\n");
    let mut c = park(s.addr, &record("l08.yaml", DG, &md5_hex("a: 1\n"), None));
    settle(s.addr, &mut c, 1, "parked poll");
    publish_ok(s.addr, "l08.yaml", DG, "", "a: 2\n");
    let r = answer_within(&mut c, PROMPT, "wake-up");
    assert_reply(&r, &reply1("l08.yaml", DG, None), "wake-up body");
    // The invariant of §6.1: the woken client reads the new content.
    assert_content(s.addr, "l08.yaml", DG, None, "a: 2\n");
}

#[test]
fn l09_other_key_or_tenant_does_not_wake() {
    let s = Server::start();
    publish_ok(s.addr, "l09", DG, "", "v");
    publish_ok(s.addr, "l09", DG, "dev", "v");
    let mut public = park(s.addr, &record("l09", DG, &md5_hex("v"), None));
    let mut dev = park(s.addr, &record("l09", DG, &md5_hex("v"), Some("dev")));
    wait_parked(s.addr, 2, "public and dev polls");
    check_silent(&mut public, "public poll");
    check_silent(&mut dev, "dev poll");
    publish_ok(s.addr, "l09-other", DG, "", "x");
    publish_ok(s.addr, "l09", "OTHER_GROUP", "", "x");
    // Tenants and groups are case-sensitive (only the public aliases are not).
    publish_ok(s.addr, "l09", DG, "DEV", "x");
    publish_ok(s.addr, "l09", "default_group", "", "x");
    publish_ok(s.addr, "L09", DG, "", "x");
    publish_ok(s.addr, "l09", DG, "other-tenant", "x");
    expect_silent(
        s.addr,
        &mut public,
        2,
        "public poll after changes elsewhere",
    );
    check_silent(&mut dev, "dev poll after changes elsewhere");
    publish_ok(s.addr, "l09", DG, "dev", "changed in dev");
    let r = answer_within(&mut dev, PROMPT, "dev poll");
    assert_reply(&r, "l09%02DEFAULT_GROUP%02dev%01\n", "dev poll wake-up");
    settle(s.addr, &mut public, 1, "public poll after the dev change");
    publish_ok(s.addr, "l09", DG, "", "changed in public");
    let r = answer_within(&mut public, PROMPT, "public poll");
    assert_reply(&r, &reply1("l09", DG, None), "public poll wake-up");
}

#[test]
fn l10_identical_republish_does_not_wake() {
    let s = Server::start();
    publish_ok(s.addr, "l10", DG, "", "same");
    let mut c = park(s.addr, &record("l10", DG, &md5_hex("same"), None));
    settle(s.addr, &mut c, 1, "parked poll");
    publish_ok(s.addr, "l10", DG, "", "same");
    publish_ok(s.addr, "l10", DG, "", "same");
    // Metadata-only changes leave the md5 alone (§6.6).
    let r = publish_with(
        s.addr,
        &[
            ("dataId", "l10"),
            ("group", DG),
            ("content", "same"),
            ("type", "yaml"),
            ("desc", "new description"),
            ("appName", "l10-app"),
        ],
    );
    assert_true(&r, "metadata-only re-publish");
    expect_silent(s.addr, &mut c, 1, "after identical re-publishes");
    publish_ok(s.addr, "l10", DG, "", "different");
    let r = answer_within(&mut c, PROMPT, "real change");
    assert_reply(&r, &reply1("l10", DG, None), "real change wakes");
}

#[test]
fn l11_delete_wakes_parked_poll() {
    let s = Server::start();
    publish_ok(s.addr, "l11", DG, "dev", "v");
    let mut c = park(s.addr, &record("l11", DG, &md5_hex("v"), Some("dev")));
    settle(s.addr, &mut c, 1, "parked poll");
    let r = common::delete_config(s.addr, "l11", DG, "dev");
    assert_true(&r, "delete");
    let r = answer_within(&mut c, PROMPT, "wake-up on delete");
    assert_reply(&r, "l11%02DEFAULT_GROUP%02dev%01\n", "wake-up on delete");
    assert_absent(s.addr, "l11", DG, Some("dev"));
    // Listening again with the empty md5 is now up to date.
    let r = no_hangup(
        s.addr,
        &record("l11", DG, "", Some("dev")),
        "poll after delete",
    );
    assert_ok_empty(&r, "empty md5 after delete");
}

#[test]
fn l12_absent_key_with_empty_md5_is_held() {
    let s = Server::start();
    let mut c = park(s.addr, &record("l12.yaml", DG, "", None));
    settle(s.addr, &mut c, 1, "poll on an absent key");
    let r = common::delete_config(s.addr, "l12.yaml", DG, "");
    assert_true(&r, "delete of the absent key");
    expect_silent(s.addr, &mut c, 1, "poll on an absent key after deleting it");
    publish_ok(s.addr, "l12.yaml", DG, "", "first");
    let r = answer_within(&mut c, PROMPT, "first publish");
    assert_reply(&r, &reply1("l12.yaml", DG, None), "first publish wakes");
}

#[test]
fn l13_absent_key_with_stale_md5_is_immediate() {
    let s = Server::start();
    let r = immediate(
        s.addr,
        &listen(&record("l13", DG, STALE, None), &[]),
        "poll",
    );
    assert_reply(&r, &reply1("l13", DG, None), "never-published key");
    publish_ok(s.addr, "l13-deleted", DG, "dev", "v");
    assert_true(
        &common::delete_config(s.addr, "l13-deleted", DG, "dev"),
        "delete",
    );
    let r = immediate(
        s.addr,
        &listen(&record("l13-deleted", DG, &md5_hex("v"), Some("dev")), &[]),
        "poll",
    );
    assert_reply(&r, "l13-deleted%02DEFAULT_GROUP%02dev%01\n", "deleted key");
}

#[test]
fn l14_only_the_changed_key_is_returned() {
    let s = Server::start();
    publish_ok(s.addr, "l14-a", DG, "", "a");
    publish_ok(s.addr, "l14-b", DG, "", "b");
    let recs = record("l14-a", DG, &md5_hex("a"), None) + &record("l14-b", DG, &md5_hex("b"), None);
    let mut c = park(s.addr, &recs);
    settle(s.addr, &mut c, 1, "two keys parked");
    publish_ok(s.addr, "l14-b", DG, "", "b2");
    let r = answer_within(&mut c, PROMPT, "wake-up");
    assert_reply(&r, &reply1("l14-b", DG, None), "exactly the changed key");
}

#[test]
fn l15_all_parked_clients_are_woken() {
    let s = Server::start();
    publish_ok(s.addr, "l15", DG, "", "v");
    let rec = record("l15", DG, &md5_hex("v"), None);
    let mut polls: Vec<Conn> = (0..64).map(|_| park(s.addr, &rec)).collect();
    wait_parked(s.addr, 64, "64 polls on one key");
    for (i, c) in polls.iter_mut().enumerate() {
        check_silent(c, &format!("poll {i}"));
    }
    let t = Instant::now();
    publish_ok(s.addr, "l15", DG, "", "v2");
    for (i, c) in polls.iter_mut().enumerate() {
        let r = answer_within(c, PROMPT, &format!("poll {i}"));
        assert_reply(&r, &reply1("l15", DG, None), &format!("poll {i}"));
    }
    assert!(
        t.elapsed() <= PROMPT,
        "all woken within {PROMPT:?} (safety net; took {:?})",
        t.elapsed()
    );
}

#[test]
fn l16_reply_encoding() {
    let s = Server::start();
    publish_ok(s.addr, "配置:app-1_x.yaml", "G:1", "ns:1", "v");
    let r = immediate(
        s.addr,
        &listen(
            &record("配置:app-1_x.yaml", "G:1", STALE, Some("ns:1")),
            &[],
        ),
        "poll",
    );
    assert_reply(
        &r,
        "%E9%85%8D%E7%BD%AE%3Aapp-1_x.yaml%02G%3A1%02ns%3A1%01\n",
        "URLEncoder encoding with uppercase hex",
    );
    // `*` is kept by Java's URLEncoder (listened keys are not validated).
    let r = immediate(
        s.addr,
        &listen(&record("l16*star", DG, STALE, None), &[]),
        "poll",
    );
    assert_reply(&r, "l16*star%02DEFAULT_GROUP%01\n", "`*` kept verbatim");
}

#[test]
fn l17_tenant_public_is_echoed() {
    let s = Server::start();
    publish_ok(s.addr, "l17", DG, "", "v1");
    let r = immediate(
        s.addr,
        &listen(&record("l17", DG, STALE, Some("public")), &[]),
        "poll",
    );
    assert_reply(
        &r,
        "l17%02DEFAULT_GROUP%02public%01\n",
        "tenant `public` echoed",
    );
    let r = immediate(
        s.addr,
        &listen(&record("l17", DG, STALE, Some("null")), &[]),
        "poll",
    );
    assert_reply(
        &r,
        "l17%02DEFAULT_GROUP%02null%01\n",
        "tenant `null` echoed",
    );
    // Canonicalised for comparison: the public content's md5 is current.
    let r = no_hangup(
        s.addr,
        &record("l17", DG, &md5_hex("v1"), Some("public")),
        "poll",
    );
    assert_ok_empty(&r, "tenant `public` compares against the public namespace");
    let mut c = park(s.addr, &record("l17", DG, &md5_hex("v1"), Some("Public")));
    settle(s.addr, &mut c, 1, "parked `Public` poll");
    publish_ok(s.addr, "l17", DG, "", "v2");
    let r = answer_within(&mut c, PROMPT, "wake-up");
    assert_reply(
        &r,
        "l17%02DEFAULT_GROUP%02Public%01\n",
        "echoed exactly as sent",
    );
    // And a publish through an alias wakes a 3-field (public) poll.
    let mut c = park(s.addr, &record("l17", DG, &md5_hex("v2"), None));
    settle(s.addr, &mut c, 1, "parked 3-field poll");
    publish_ok(s.addr, "l17", DG, "NULL", "v3");
    let r = answer_within(&mut c, PROMPT, "wake-up through alias");
    assert_reply(
        &r,
        &reply1("l17", DG, None),
        "3-field wake-up has no tenant",
    );
}

#[test]
fn l20_more_than_10000_keys_is_400() {
    let s = Server::start();
    let recs = |n: usize| {
        (0..n)
            .map(|i| record(&format!("l20-{i:05}"), DG, "", None))
            .collect::<String>()
    };
    let r = immediate(s.addr, &listen(&recs(10_001), &[]), "10 001 keys");
    assert_status_body(
        &r,
        400,
        "caused: invalid probeModify;",
        "10 001 distinct keys",
    );
    let r = no_hangup(s.addr, &recs(10_000), "10 000 keys");
    assert_ok_empty(&r, "10 000 distinct keys are accepted");
}

#[test]
fn l22_no_timeout_header_is_answered_at_once() {
    let s = Server::start();
    publish_ok(s.addr, "l22", DG, "", "v");
    let req = common::listener_raw(&record("l22", DG, &md5_hex("v"), None), None, &[]);
    let r = immediate(s.addr, &req, "short poll, nothing changed");
    assert_ok_empty(&r, "short poll, nothing changed");
    let req = common::listener_raw(&record("l22", DG, STALE, None), None, &[]);
    let r = immediate(s.addr, &req, "short poll, changed");
    assert_reply(&r, &reply1("l22", DG, None), "short poll, changed");
}

#[test]
fn l23_listening_configs_in_query_string() {
    let s = Server::start();
    publish_ok(s.addr, "l23", DG, "", "v");
    let target = |md5: &str| {
        format!(
            "{LISTENER}?{}",
            form(&[("Listening-Configs", &record("l23", DG, md5, None))])
        )
    };
    let hdrs = [("Content-Type", FORM_CT), ("Long-Pulling-Timeout", "30000")];
    let r = immediate(
        s.addr,
        &raw("POST", &target(STALE), &hdrs, Some(b"".as_slice())),
        "query poll",
    );
    assert_reply(
        &r,
        &reply1("l23", DG, None),
        "Listening-Configs in the query",
    );
    let mut c = Conn::open(s.addr);
    c.send(&raw(
        "POST",
        &target(&md5_hex("v")),
        &hdrs,
        Some(b"".as_slice()),
    ));
    expect_silent(s.addr, &mut c, 1, "query poll with the current md5 is held");
}

#[test]
fn l24_duplicate_records_last_md5_wins() {
    let s = Server::start();
    publish_ok(s.addr, "l24", DG, "", "v");
    let cur = md5_hex("v");
    let recs = record("l24", DG, STALE, None) + &record("l24", DG, &cur, None);
    let r = no_hangup(s.addr, &recs, "stale then current");
    assert_ok_empty(&r, "last (current) md5 wins");
    let recs = record("l24", DG, &cur, None) + &record("l24", DG, STALE, None);
    let r = no_hangup(s.addr, &recs, "current then stale");
    assert_reply(&r, &reply1("l24", DG, None), "last (stale) md5 wins");
    // A 3-field and an empty-tenant 4-field record are the same key.
    let recs = record("l24", DG, STALE, None) + &record("l24", DG, &cur, Some(""));
    let r = no_hangup(s.addr, &recs, "3-field then 4-field empty tenant");
    assert_ok_empty(&r, "same key in both forms, last md5 wins");
}

#[test]
fn l25_bytes_after_the_final_ls_are_ignored() {
    let s = Server::start();
    publish_ok(s.addr, "l25", DG, "", "v");
    let recs = record("l25", DG, &md5_hex("v"), None) + "garbage-without-separators";
    let r = no_hangup(s.addr, &recs, "trailing garbage");
    assert_ok_empty(&r, "trailing garbage ignored");
    let recs = record("l25", DG, STALE, None) + "l25-unterminated\u{2}" + DG + "\u{2}" + STALE;
    let r = no_hangup(s.addr, &recs, "unterminated final record");
    assert_reply(
        &r,
        &reply1("l25", DG, None),
        "unterminated final record dropped",
    );
}

#[test]
fn l27_closed_parked_connection_is_released() {
    let s = Server::start();
    publish_ok(s.addr, "l27", DG, "", "v1");
    let rec = record("l27", DG, &md5_hex("v1"), None);
    // Twenty parked polls whose clients go away completely.
    let gone: Vec<Conn> = (0..20).map(|_| park(s.addr, &rec)).collect();
    // One whose client half-closes: the server sees EOF but we can still read.
    let mut half = park(s.addr, &rec);
    settle(s.addr, &mut half, 21, "half-closing poll before EOF");
    drop(gone);
    half.stream().shutdown(Shutdown::Write).expect("shutdown");
    // Every poll whose client went away or half-closed is released.
    wait_parked(s.addr, 0, "closed and half-closed polls released");
    // Whatever the server did on EOF happened before the change...
    half.set_read_timeout(Duration::from_millis(50));
    if let Ok(b) = half.reader.fill_buf() {
        let n = b.len();
        half.reader.consume(n);
    }
    publish_ok(s.addr, "l27", DG, "", "v2");
    // ...and the change writes nothing to the released connection.
    half.set_read_timeout(SILENT);
    match half.reader.fill_buf() {
        Ok([]) => {}
        Ok(b) => panic!("a change was written to a released poll: {:?}", lossy(b)),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("read error {e}"),
    }
    // The server is still fine.
    let mut fresh = park(s.addr, &record("l27", DG, &md5_hex("v2"), None));
    settle(s.addr, &mut fresh, 1, "a new poll");
    publish_ok(s.addr, "l27", DG, "", "v3");
    let r = answer_within(&mut fresh, PROMPT, "new poll wake-up");
    assert_reply(&r, &reply1("l27", DG, None), "new poll wake-up");
}

#[test]
fn l28_three_thousand_records_are_accepted() {
    let s = Server::start();
    let id = |i: usize| {
        format!("l28.application-service-configuration-with-a-rather-long-data-id-number-{i:05}.properties")
    };
    let group = "L28_SERVICE_CONFIGURATION_GROUP";
    publish_ok(s.addr, &id(7), group, "", "seven");
    let md5_7 = md5_hex("seven");
    let recs = |stale: Option<usize>| {
        (0..3000)
            .map(|i| {
                let md5 = match (i, stale) {
                    (_, Some(j)) if i == j => STALE,
                    (7, _) => md5_7.as_str(),
                    _ => "",
                };
                record(&id(i), group, md5, None)
            })
            .collect::<String>()
    };
    let all = recs(None);
    assert!(all.len() > 290_000, "about 300 KB: {}", all.len());
    let r = no_hangup(s.addr, &all, "3000 current records");
    assert_ok_empty(&r, "3000 current records");
    let r = no_hangup(s.addr, &recs(Some(1234)), "3000 records, one stale");
    assert_reply(
        &r,
        &reply1(&id(1234), group, None),
        "3000 records, one stale",
    );
    let all_stale: String = (0..3000)
        .map(|i| record(&id(i), group, STALE, None))
        .collect();
    let r = immediate(s.addr, &listen(&all_stale, &[]), "3000 stale records");
    assert_eq!(r.status, 200);
    let expected: BTreeSet<String> = (0..3000).map(|i| wire_key(&id(i), group, None)).collect();
    assert_eq!(reply_keys(&r.body), expected, "every stale key listed once");
}

#[test]
fn l30_listening_configs_is_decoded_twice() {
    let s = Server::start();
    publish_ok(s.addr, "l30Ax", DG, "", "v");
    // The decoded value holds `%41`; the second decode makes it `A`.
    let r = no_hangup(s.addr, &record("l30%41x", DG, &md5_hex("v"), None), "poll");
    assert_ok_empty(&r, "`%41` decoded to `A` before comparing");
    let r = no_hangup(s.addr, &record("l30%41x", DG, STALE, None), "poll");
    assert_reply(
        &r,
        &reply1("l30Ax", DG, None),
        "reply carries the twice-decoded key",
    );
    // A literal `+` becomes a space in the second decode; URLEncoder writes it back as `+`.
    let r = no_hangup(s.addr, &record("l30+y", DG, STALE, None), "poll");
    assert_reply(
        &r,
        "l30+y%02DEFAULT_GROUP%01\n",
        "`+` decoded to space, encoded as `+`",
    );
}

#[test]
fn l31_mixed_three_and_four_field_records() {
    let s = Server::start();
    publish_ok(s.addr, "l31-a", DG, "", "a");
    publish_ok(s.addr, "l31-b", DG, "dev", "b");
    publish_ok(s.addr, "l31-c", DG, "", "c");
    let recs = record("l31-a", DG, STALE, None)
        + &record("l31-b", DG, STALE, Some("dev"))
        + &record("l31-c", DG, &md5_hex("c"), Some(""))
        + &record("l31-d", DG, "", None);
    let r = immediate(s.addr, &listen(&recs, &[]), "mixed records");
    assert_eq!(r.status, 200);
    let expected: BTreeSet<String> = [
        wire_key("l31-a", DG, None),
        wire_key("l31-b", DG, Some("dev")),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        reply_keys(&r.body),
        expected,
        "each record parsed per its form"
    );
}

#[test]
fn l32_no_cache_headers_on_a_reply_with_changes() {
    let s = Server::start();
    publish_ok(s.addr, "l32", DG, "", "v");
    let r = immediate(
        s.addr,
        &listen(&record("l32", DG, STALE, None), &[]),
        "poll",
    );
    assert_reply(&r, &reply1("l32", DG, None), "poll");
    assert_eq!(r.header_exact("Pragma"), Some("no-cache"));
    assert_eq!(r.header_exact("Expires"), Some(EXPIRES));
    assert_eq!(r.header_exact("Cache-Control"), Some("no-cache,no-store"));
}

// ---------------------------------------------------------------------------
// A: auth off
// ---------------------------------------------------------------------------

#[test]
fn a01_auth_off_serves_requests_without_credentials() {
    let s = Server::start();
    publish_ok(s.addr, "a01", DG, "", "open");
    assert_content(s.addr, "a01", DG, None, "open");
    // Stray credentials are ignored, not checked.
    let q = form(&[
        ("dataId", "a01"),
        ("group", DG),
        ("accessToken", "not-a-token"),
    ]);
    let r = request(
        s.addr,
        &raw(
            "GET",
            &format!("{CFG}?{q}"),
            &[("Authorization", "Bearer junk")],
            None,
        ),
    );
    assert_eq!(
        (r.status, lossy(&r.body).as_str()),
        (200, "open"),
        "junk token ignored"
    );
    let r = publish_with(
        s.addr,
        &[
            ("dataId", "a01"),
            ("group", DG),
            ("content", "node"),
            ("username", "nobody"),
            ("password", "wrong"),
        ],
    );
    assert_true(&r, "Node-style username/password ignored");
    let r = no_hangup(s.addr, &record("a01", DG, &md5_hex("node"), None), "poll");
    assert_ok_empty(&r, "poll without credentials");
    assert_true(
        &common::delete_config(s.addr, "a01", DG, ""),
        "delete without credentials",
    );
}

fn assert_login(r: &Response, what: &str) {
    assert_eq!(r.status, 200, "{what}: {:?}", lossy(&r.body));
    let v = json(r, what);
    let token = v["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: accessToken must be a string: {v}"));
    assert!(!token.is_empty(), "{what}: empty accessToken");
    assert!(
        v["tokenTtl"].is_number(),
        "{what}: tokenTtl must be a JSON number: {v}"
    );
    assert!(
        v["globalAdmin"].is_boolean(),
        "{what}: globalAdmin must be a boolean: {v}"
    );
    let bearer = format!("Bearer {token}");
    assert_eq!(
        r.header_exact("Authorization"),
        Some(bearer.as_str()),
        "{what}: Authorization header"
    );
}

#[test]
fn a02_login_with_arbitrary_credentials_when_auth_off() {
    let s = Server::start();
    let r = request(
        s.addr,
        &raw(
            "POST",
            "/nacos/v1/auth/login?username=u&password=p",
            &[],
            Some(b"".as_slice()),
        ),
    );
    assert_login(&r, "login with arbitrary credentials");
}

#[test]
fn a03_login_in_all_three_client_styles() {
    let s = Server::start();
    // Python v1: query only, no body.
    let r = request(
        s.addr,
        &raw(
            "POST",
            "/nacos/v1/auth/login?username=nacos&password=nacos",
            &[("Accept-Encoding", "identity"), ("Connection", "close")],
            None,
        ),
    );
    assert_login(&r, "Python style");
    // Java 1.4.x: username in the query, password in the form body.
    let r = request(
        s.addr,
        &form_post(
            "/nacos/v1/auth/users/login?username=nacos",
            "password=nacos",
        ),
    );
    assert_login(&r, "Java style");
    // Go v1: both in the form body.
    let r = request(
        s.addr,
        &raw(
            "POST",
            "/nacos/v1/auth/users/login",
            &[(
                "Content-Type",
                "application/x-www-form-urlencoded;charset=utf-8",
            )],
            Some(b"username=nacos&password=nacos".as_slice()),
        ),
    );
    assert_login(&r, "Go style");
}

// ---------------------------------------------------------------------------
// E, X
// ---------------------------------------------------------------------------

#[test]
fn e02_well_formed_polls_are_never_answered_with_a_fast_4xx() {
    let s = Server::start();
    publish_ok(s.addr, "e02.properties", DG, "dev", "k=v\n");
    publish_ok(s.addr, "e02.yaml", DG, "", "a: 1\n");
    let dev_md5 = md5_hex("k=v\n");
    let pub_md5 = md5_hex("a: 1\n");
    let java_body = format!(
        "Listening-Configs={}&tenant=dev&accessToken=junk&",
        enc(&record("e02.properties", DG, &dev_md5, Some("dev")))
    );
    let java = raw(
        "POST",
        LISTENER,
        &[
            ("Content-Type", FORM_CT),
            ("Long-Pulling-Timeout", "30000"),
            ("Client-AppName", "unknown"),
            ("Client-Version", "1.4.1"),
            ("Client-RequestTS", "1610697600000"),
            ("Client-RequestToken", "0b5e4c0b5e4c0b5e4c0b5e4c0b5e4c0b"),
            ("exConfigInfo", "true"),
            ("RequestId", "6a3c2f0e-1d7a-4b8e-9c51-0c0f3f8a9e21"),
            ("Accept-Charset", "UTF-8"),
            ("Accept-Encoding", "gzip"),
            ("User-Agent", "Java/1.8.0_282"),
        ],
        Some(java_body.as_bytes()),
    );
    let py_body = form(&[(
        "Listening-Configs",
        &record("e02.yaml", DG, &pub_md5, Some("")),
    )]);
    let python = raw(
        "POST",
        LISTENER,
        &[
            ("Accept-Encoding", "identity"),
            ("Content-type", "application/x-www-form-urlencoded"),
            ("Long-pulling-timeout", "30000"),
            ("User-agent", "Nacos-Python-Client:v0.1.16"),
            ("Connection", "close"),
        ],
        Some(py_body.as_bytes()),
    );
    let node_body = form(&[
        ("Listening-Configs", &record("e02.yaml", DG, &pub_md5, None)),
        ("tenant", ""),
        ("username", "nacos"),
        ("password", "nacos"),
    ]);
    let node = raw(
        "POST",
        LISTENER,
        &[
            (
                "Content-Type",
                "application/x-www-form-urlencoded; charset=GBK",
            ),
            ("Long-Pulling-Timeout", "30000"),
            ("Client-Version", "nodejs-diamond-client/2.6.0"),
            ("Spas-AccessKey", ""),
            ("exConfigInfo", "true"),
        ],
        Some(node_body.as_bytes()),
    );
    let go_body = form(&[(
        "Listening-Configs",
        &record("e02.properties", DG, &dev_md5, Some("dev")),
    )]);
    let go = raw(
        "POST",
        LISTENER,
        &[
            (
                "Content-Type",
                "application/x-www-form-urlencoded;charset=utf-8",
            ),
            ("Long-Pulling-Timeout", "30000"),
            ("Request-Module", "Naming"),
            ("Client-Version", "1.1.6"),
        ],
        Some(go_body.as_bytes()),
    );
    // Keys that could never be published may still be listened to.
    let odd = listen(
        &(record("a/b", DG, "", None)
            + &record("my$id", "G G", "", Some("x y"))
            + &record("ok", DG, "", Some("dev"))),
        &[],
    );
    let mut conns: Vec<(&str, Conn)> = [
        ("java", java),
        ("python", python),
        ("node", node),
        ("go", go),
        ("odd", odd),
    ]
    .into_iter()
    .map(|(name, req)| {
        let mut c = Conn::open(s.addr);
        c.send(&req);
        (name, c)
    })
    .collect();
    wait_parked(s.addr, 5, "five well-formed polls");
    std::thread::sleep(SILENT);
    for (name, c) in conns.iter_mut() {
        check_silent(c, &format!("well-formed {name} poll"));
    }
    publish_ok(s.addr, "e02.yaml", DG, "", "a: 2\n");
    publish_ok(s.addr, "e02.properties", DG, "dev", "k=v2\n");
    let dev_key = reply1("e02.properties", DG, Some("dev"));
    let pub_key = reply1("e02.yaml", DG, None);
    for (name, c) in conns.iter_mut().filter(|(n, _)| *n != "odd") {
        let r = answer_within(c, PROMPT, name);
        let expected = match *name {
            "java" | "go" => &dev_key,
            _ => &pub_key,
        };
        assert_reply(&r, expected, &format!("{name} poll woken"));
    }
    // The odd keys changed nothing: that poll stays parked.
    let (_, odd) = conns.last_mut().expect("the odd poll");
    check_silent(odd, "odd-keys poll after other changes");
}

#[test]
fn x01_liveness_readiness_and_config_health() {
    let s = Server::start();
    for (path, body) in [
        ("/nacos/v1/console/health/liveness", "OK"),
        ("/nacos/v1/console/health/readiness", "OK"),
        ("/nacos/v1/cs/health", "UP"),
    ] {
        let r = request(s.addr, &raw("GET", path, &[], None));
        assert_status_body(&r, 200, body, path);
    }
}

#[test]
fn x02_server_state() {
    let s = Server::start();
    let r = request(
        s.addr,
        &raw("GET", "/nacos/v1/console/server/state", &[], None),
    );
    assert_eq!(r.status, 200, "{:?}", lossy(&r.body));
    let v = json(&r, "server state");
    let obj = v.as_object().expect("a JSON object");
    assert!(
        obj.get("version").is_some_and(|x| x.is_string()),
        "version must be a string: {v}"
    );
    assert_eq!(
        obj.get("standalone_mode"),
        Some(&serde_json::json!("standalone")),
        "{v}"
    );
    assert!(
        obj.get("version")
            .and_then(|x| x.as_str())
            .is_some_and(|x| !x.is_empty()),
        "version must not be empty: {v}"
    );
    assert!(obj.contains_key("function_mode"), "function_mode key: {v}");
    assert_eq!(obj["function_mode"], serde_json::Value::Null, "{v}");
}
