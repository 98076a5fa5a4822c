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
// S: search and detail
// ---------------------------------------------------------------------------

#[test]
fn s01_accurate_search_page_shape_and_filters() {
    let s = Server::start();
    publish_with(
        s.addr,
        &[
            ("dataId", "s01-a.yaml"),
            ("group", DG),
            ("content", "a: 1\n"),
            ("type", "yaml"),
            ("appName", "shop"),
        ],
        &[],
    );
    publish_ok(s.addr, "s01-b.properties", DG, "", "b=2\n");
    publish_ok(s.addr, "s01-c.properties", "OTHER_GROUP", "", "c=3\n");
    publish_ok(s.addr, "s01-d.properties", DG, "dev", "d=4\n");

    // All of DEFAULT_GROUP in the public namespace.
    let page = search(
        s.addr,
        &[
            ("search", "accurate"),
            ("dataId", ""),
            ("group", DG),
            ("pageNo", "1"),
            ("pageSize", "10"),
        ],
    );
    let obj = page.as_object().expect("Page object");
    assert_eq!(
        obj.keys().cloned().collect::<BTreeSet<_>>(),
        set(&["totalCount", "pageNumber", "pagesAvailable", "pageItems"]),
        "Page fields: {page}"
    );
    assert_eq!(page["totalCount"], json!(2), "{page}");
    assert_eq!(page["pageNumber"], json!(1), "{page}");
    assert_eq!(page["pagesAvailable"], json!(1), "{page}");
    let mut got: Vec<Value> = items(&page).iter().map(strip_id).collect();
    got.sort_by_key(|v| v["dataId"].as_str().unwrap().to_string());
    assert_eq!(
        got,
        vec![
            json!({"dataId":"s01-a.yaml","group":DG,"content":"a: 1\n","md5":null,"tenant":"","appName":"shop","type":"yaml"}),
            json!({"dataId":"s01-b.properties","group":DG,"content":"b=2\n","md5":null,"tenant":"","appName":"","type":"text"}),
        ],
        "accurate items"
    );

    // Empty filters: every config of the public namespace, whatever the group.
    let page = search(
        s.addr,
        &[
            ("search", "accurate"),
            ("dataId", ""),
            ("group", ""),
            ("pageNo", "1"),
            ("pageSize", "10"),
        ],
    );
    assert_eq!(page["totalCount"], json!(3), "{page}");
    assert_eq!(
        data_ids(&page),
        set(&["s01-a.yaml", "s01-b.properties", "s01-c.properties"])
    );

    // dataId equality (no prefix matching in accurate mode).
    let page = search(
        s.addr,
        &[
            ("search", "accurate"),
            ("dataId", "s01-b"),
            ("group", ""),
            ("pageNo", "1"),
            ("pageSize", "10"),
        ],
    );
    assert_eq!(page["totalCount"], json!(0), "accurate is equality: {page}");
    assert_eq!(items(&page), Vec::<Value>::new());
    let page = search(
        s.addr,
        &[
            ("search", "accurate"),
            ("dataId", "s01-b.properties"),
            ("group", ""),
            ("pageNo", "1"),
            ("pageSize", "10"),
        ],
    );
    assert_eq!(data_ids(&page), set(&["s01-b.properties"]));

    // Tenant filter.
    let page = search(
        s.addr,
        &[
            ("search", "accurate"),
            ("dataId", ""),
            ("group", ""),
            ("tenant", "dev"),
            ("pageNo", "1"),
            ("pageSize", "10"),
        ],
    );
    assert_eq!(page["totalCount"], json!(1), "{page}");
    assert_eq!(
        strip_id(&items(&page)[0]),
        json!({"dataId":"s01-d.properties","group":DG,"content":"d=4\n","md5":null,"tenant":"dev","appName":"","type":"text"})
    );

    // appName filter.
    let page = search(
        s.addr,
        &[
            ("search", "accurate"),
            ("dataId", ""),
            ("group", ""),
            ("appName", "shop"),
            ("pageNo", "1"),
            ("pageSize", "10"),
        ],
    );
    assert_eq!(
        data_ids(&page),
        set(&["s01-a.yaml"]),
        "appName filter: {page}"
    );
}

#[test]
fn s01_search_by_config_tags() {
    let s = Server::start();
    publish_with(
        s.addr,
        &[
            ("dataId", "tagged-1"),
            ("group", DG),
            ("content", "1"),
            ("config_tags", "red,blue"),
        ],
        &[],
    );
    publish_with(
        s.addr,
        &[
            ("dataId", "tagged-2"),
            ("group", DG),
            ("content", "2"),
            ("config_tags", "green"),
        ],
        &[],
    );
    publish_ok(s.addr, "untagged", DG, "", "3");
    let q = |tags: &str| {
        search(
            s.addr,
            &[
                ("search", "accurate"),
                ("dataId", ""),
                ("group", ""),
                ("config_tags", tags),
                ("pageNo", "1"),
                ("pageSize", "10"),
            ],
        )
    };
    assert_eq!(data_ids(&q("blue")), set(&["tagged-1"]));
    assert_eq!(data_ids(&q("green")), set(&["tagged-2"]));
    assert_eq!(data_ids(&q("red,green")), set(&["tagged-1", "tagged-2"]));
    let page = q("nope");
    assert_eq!(
        (page["totalCount"].clone(), items(&page)),
        (json!(0), vec![])
    );
    // type is null in tag-filtered mode (spec §4.5).
    assert_eq!(items(&q("blue"))[0]["type"], Value::Null);
}

#[test]
fn s02_blur_search_wildcards() {
    let s = Server::start();
    for id in [
        "app-1.yaml",
        "app-2.yaml",
        "apx.yaml",
        "myapp.yaml",
        "a_c",
        "abc",
        "abbc",
    ] {
        publish_ok(s.addr, id, DG, "", &format!("content of {id}"));
    }
    publish_ok(s.addr, "app-3.yaml", "GROUP_B", "", "b");
    publish_ok(s.addr, "app-4.yaml", DG, "dev", "dev");
    let blur = |data_id: &str, group: &str, tenant: &str| {
        search(
            s.addr,
            &[
                ("search", "blur"),
                ("dataId", data_id),
                ("group", group),
                ("tenant", tenant),
                ("pageNo", "1"),
                ("pageSize", "50"),
            ],
        )
    };
    let page = blur("app*", "", "");
    assert_eq!(
        data_ids(&page),
        set(&["app-1.yaml", "app-2.yaml", "app-3.yaml"]),
        "app*: {page}"
    );
    assert_eq!(page["totalCount"], json!(3));
    // type is null in blur mode, md5 always null.
    for item in items(&page) {
        assert_eq!(item["type"], Value::Null, "blur item type: {item}");
        assert_eq!(item["md5"], Value::Null, "blur item md5: {item}");
    }
    let item = items(&blur("app-1.yaml", "", ""))[0].clone();
    assert_eq!(
        strip_id(&item),
        json!({"dataId":"app-1.yaml","group":DG,"content":"content of app-1.yaml","md5":null,"tenant":"","appName":"","type":null})
    );
    assert_eq!(
        data_ids(&blur("*app*", "", "")),
        set(&["app-1.yaml", "app-2.yaml", "app-3.yaml", "myapp.yaml"])
    );
    // Without `*` the match is exact (no prefix matching) ...
    assert_eq!(data_ids(&blur("app", "", "")), set(&[]));
    // ... except that `_` matches exactly one character.
    assert_eq!(data_ids(&blur("a_c", "", "")), set(&["a_c", "abc"]));
    // Group and tenant filters.
    assert_eq!(data_ids(&blur("app*", "GROUP*", "")), set(&["app-3.yaml"]));
    assert_eq!(
        data_ids(&blur("app*", DG, "")),
        set(&["app-1.yaml", "app-2.yaml"])
    );
    assert_eq!(data_ids(&blur("app*", "", "dev")), set(&["app-4.yaml"]));
    // Matching is case-sensitive.
    assert_eq!(data_ids(&blur("APP*", "", "")), set(&[]));
}

#[test]
fn s03_page_past_the_end() {
    let s = Server::start();
    for i in 1..=5 {
        publish_ok(s.addr, &format!("p{i}"), DG, "", &format!("v{i}"));
    }
    let page = |no: &str| {
        search(
            s.addr,
            &[
                ("search", "accurate"),
                ("dataId", ""),
                ("group", DG),
                ("pageNo", no),
                ("pageSize", "2"),
            ],
        )
    };
    let mut seen = BTreeSet::new();
    for (no, n) in [("1", 2), ("2", 2), ("3", 1)] {
        let p = page(no);
        assert_eq!(p["totalCount"], json!(5), "page {no}: {p}");
        assert_eq!(
            p["pageNumber"],
            json!(no.parse::<i64>().unwrap()),
            "page {no}: {p}"
        );
        assert_eq!(p["pagesAvailable"], json!(3), "page {no}: {p}");
        assert_eq!(items(&p).len(), n, "page {no}: {p}");
        seen.extend(data_ids(&p));
    }
    assert_eq!(
        seen,
        set(&["p1", "p2", "p3", "p4", "p5"]),
        "pages are disjoint and complete"
    );
    let p = page("4");
    assert_eq!(
        p,
        json!({"totalCount":5,"pageNumber":4,"pagesAvailable":3,"pageItems":[]}),
        "page past the end"
    );
}

#[test]
fn s04_detail_show_all() {
    let s = Server::start();
    let before = now_ms();
    publish_with(
        s.addr,
        &[
            ("dataId", "detail.yaml"),
            ("group", DG),
            ("tenant", "dev"),
            ("content", "k: v\n"),
            ("type", "yaml"),
            ("appName", "shop"),
            ("desc", "a description"),
            ("use", "testing"),
            ("effect", "none"),
            ("schema", "s1"),
            ("config_tags", "red,blue"),
            ("src_user", "mallory"),
        ],
        &[],
    );
    let after = now_ms();
    let q = [
        ("show", "all"),
        ("dataId", "detail.yaml"),
        ("group", DG),
        ("tenant", "dev"),
    ];
    let d = json_ok(&get(s.addr, CFG, &q), "detail");
    let obj = d.as_object().expect("detail object");
    assert_eq!(
        obj.keys().cloned().collect::<BTreeSet<_>>(),
        set(&[
            "id",
            "dataId",
            "group",
            "content",
            "md5",
            "tenant",
            "appName",
            "type",
            "createTime",
            "modifyTime",
            "createUser",
            "createIp",
            "desc",
            "use",
            "effect",
            "schema",
            "configTags"
        ]),
        "detail fields: {d}"
    );
    let id = d["id"]
        .as_str()
        .unwrap_or_else(|| panic!("id must be a string: {d}"));
    assert!(id.parse::<u64>().is_ok(), "id {id:?}");
    let expected = json!({
        "dataId": "detail.yaml", "group": DG, "content": "k: v\n", "md5": md5_hex("k: v\n"),
        "tenant": "dev", "appName": "shop", "type": "yaml",
        // src_user is ignored: the server records the authenticated user (none).
        "createUser": null, "createIp": "127.0.0.1",
        "desc": "a description", "use": "testing", "effect": "none", "schema": "s1",
    });
    for (k, v) in expected.as_object().unwrap() {
        assert_eq!(&d[k], v, "detail field {k}: {d}");
    }
    let tags: BTreeSet<String> = d["configTags"]
        .as_str()
        .unwrap_or_else(|| panic!("configTags comma-joined: {d}"))
        .split(',')
        .map(str::to_string)
        .collect();
    assert_eq!(tags, set(&["red", "blue"]));
    let created = d["createTime"]
        .as_i64()
        .unwrap_or_else(|| panic!("createTime epoch ms: {d}"));
    let modified = d["modifyTime"]
        .as_i64()
        .unwrap_or_else(|| panic!("modifyTime epoch ms: {d}"));
    assert!(
        (before - 1000..=after + 1000).contains(&created),
        "createTime {created} not within [{before}, {after}]"
    );
    assert!(created <= modified, "{d}");

    // An update keeps the id and createTime, changes content, md5, modifyTime.
    std::thread::sleep(Duration::from_millis(20));
    publish_ok(s.addr, "detail.yaml", DG, "dev", "k: w\n");
    let d2 = json_ok(&get(s.addr, CFG, &q), "detail after update");
    assert_eq!(d2["id"], d["id"]);
    assert_eq!(d2["createTime"], d["createTime"]);
    assert_eq!(d2["content"], json!("k: w\n"));
    assert_eq!(d2["md5"], json!(md5_hex("k: w\n")));
    assert!(
        d2["modifyTime"].as_i64().unwrap() > modified,
        "modifyTime moves: {d2}"
    );
    // appName absent on update: kept.
    assert_eq!(d2["appName"], json!("shop"));

    // A config without metadata: nulls, and configTags null.
    publish_ok(s.addr, "plain", DG, "", "p");
    let d3 = json_ok(
        &get(
            s.addr,
            CFG,
            &[("show", "all"), ("dataId", "plain"), ("group", DG)],
        ),
        "plain detail",
    );
    for k in [
        "desc",
        "use",
        "effect",
        "schema",
        "configTags",
        "createUser",
    ] {
        assert_eq!(d3[k], Value::Null, "{k} of a config without metadata: {d3}");
    }
    assert_eq!(d3["tenant"], json!(""));
    assert_eq!(d3["type"], json!("text"));
}

#[test]
fn s04_detail_of_absent_config_is_empty_200() {
    let s = Server::start();
    publish_ok(s.addr, "there", DG, "", "x");
    for q in [
        [
            ("show", "all"),
            ("dataId", "missing"),
            ("group", DG),
            ("tenant", ""),
        ],
        [
            ("show", "all"),
            ("dataId", "there"),
            ("group", DG),
            ("tenant", "dev"),
        ],
    ] {
        let r = get(s.addr, CFG, &q);
        assert_body(&r, 200, "", &format!("detail of absent {q:?}"));
    }
}

#[test]
fn catalog_returns_advance_info() {
    let s = Server::start();
    publish_with(
        s.addr,
        &[
            ("dataId", "cat.json"),
            ("group", DG),
            ("content", "{}"),
            ("type", "json"),
            ("desc", "d"),
            ("use", "u"),
            ("effect", "e"),
            ("schema", "sc"),
            ("config_tags", "t1"),
        ],
        &[],
    );
    let r = get(
        s.addr,
        &format!("{CFG}/catalog"),
        &[("dataId", "cat.json"), ("group", DG)],
    );
    let v = json_ok(&r, "catalog");
    assert_eq!(v["code"], json!(200), "{v}");
    assert_eq!(v["message"], Value::Null, "{v}");
    assert!(
        v.as_object().unwrap().contains_key("message"),
        "message must be serialised: {v}"
    );
    let data = v["data"]
        .as_object()
        .unwrap_or_else(|| panic!("data object: {v}"));
    assert_eq!(
        data.keys().cloned().collect::<BTreeSet<_>>(),
        set(&[
            "createTime",
            "modifyTime",
            "createUser",
            "createIp",
            "desc",
            "use",
            "effect",
            "type",
            "schema",
            "configTags"
        ]),
        "catalog data fields: {v}"
    );
    assert_eq!(v["data"]["desc"], json!("d"));
    assert_eq!(v["data"]["use"], json!("u"));
    assert_eq!(v["data"]["effect"], json!("e"));
    assert_eq!(v["data"]["schema"], json!("sc"));
    assert_eq!(v["data"]["type"], json!("json"));
    assert_eq!(v["data"]["configTags"], json!("t1"));
    assert_eq!(v["data"]["createIp"], json!("127.0.0.1"));
    assert!(
        v["data"]["createTime"]
            .as_i64()
            .is_some_and(|t| t > 1_600_000_000_000),
        "{v}"
    );
    assert!(
        v["data"]["modifyTime"]
            .as_i64()
            .is_some_and(|t| t > 1_600_000_000_000),
        "{v}"
    );
    let absent = json_ok(
        &get(
            s.addr,
            &format!("{CFG}/catalog"),
            &[("dataId", "nope"), ("group", DG)],
        ),
        "catalog of absent",
    );
    assert_eq!(absent, json!({"code":200,"message":null,"data":null}));
}

// ---------------------------------------------------------------------------
// H: history
// ---------------------------------------------------------------------------

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

#[test]
fn h01_history_list_newest_first_without_content() {
    let s = Server::start();
    publish_with(
        s.addr,
        &[
            ("dataId", "h01"),
            ("group", DG),
            ("content", "v1"),
            ("appName", "app"),
        ],
        &[],
    );
    publish_ok(s.addr, "h01", DG, "", "v2");
    publish_ok(s.addr, "h01", DG, "", "v3");
    let r = delete(s.addr, CFG, &[("dataId", "h01"), ("group", DG)]);
    assert_body(&r, 200, "true", "delete");
    // Another key and another tenant do not appear.
    publish_ok(s.addr, "h01-other", DG, "", "o");
    publish_ok(s.addr, "h01", DG, "dev", "dev1");

    let page = history_list(s.addr, "h01", "", &[]);
    assert_eq!(page["totalCount"], json!(4), "{page}");
    assert_eq!(page["pageNumber"], json!(1), "default pageNo: {page}");
    assert_eq!(
        page["pagesAvailable"],
        json!(1),
        "default pageSize 100: {page}"
    );
    let list = items(&page);
    let ops: Vec<&str> = list
        .iter()
        .map(|i| i["opType"].as_str().expect("opType"))
        .collect();
    assert_eq!(ops, vec!["D", "U", "U", "I"], "newest first: {page}");
    let ids = nids(&page);
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "nids descending: {ids:?}"
    );
    for item in &list {
        let obj = item.as_object().unwrap();
        assert_eq!(
            obj.keys().cloned().collect::<BTreeSet<_>>(),
            set(&[
                "id",
                "lastId",
                "dataId",
                "group",
                "tenant",
                "appName",
                "md5",
                "content",
                "srcIp",
                "srcUser",
                "opType",
                "createdTime",
                "lastModifiedTime"
            ]),
            "history row fields: {item}"
        );
        assert_eq!(
            item["content"],
            Value::Null,
            "list rows omit content: {item}"
        );
        assert_eq!(item["md5"], Value::Null, "list rows omit md5: {item}");
        assert_eq!(item["dataId"], json!("h01"));
        assert_eq!(item["group"], json!(DG));
        assert_eq!(item["tenant"], json!(""));
        assert_eq!(item["lastId"], json!(-1));
        assert_eq!(item["srcIp"], json!("127.0.0.1"));
        assert_eq!(item["srcUser"], Value::Null);
        assert_eq!(
            item["appName"],
            json!("app"),
            "appName kept across updates: {item}"
        );
        assert_iso_time(&item["createdTime"], "createdTime");
        assert_iso_time(&item["lastModifiedTime"], "lastModifiedTime");
    }

    // Paging.
    let p2 = history_list(s.addr, "h01", "", &[("pageNo", "2"), ("pageSize", "3")]);
    assert_eq!(p2["totalCount"], json!(4), "{p2}");
    assert_eq!(p2["pageNumber"], json!(2), "{p2}");
    assert_eq!(p2["pagesAvailable"], json!(2), "{p2}");
    assert_eq!(nids(&p2), vec![ids[3]], "second page holds the oldest row");

    // The tenant is part of the key.
    let dev = history_list(s.addr, "h01", "dev", &[]);
    assert_eq!(dev["totalCount"], json!(1), "{dev}");
    assert_eq!(items(&dev)[0]["tenant"], json!("dev"));
    assert_eq!(items(&dev)[0]["opType"], json!("I"));

    // An unknown key has an empty history.
    let none = history_list(s.addr, "never", "", &[]);
    assert_eq!(
        none,
        json!({"totalCount":0,"pageNumber":1,"pagesAvailable":0,"pageItems":[]})
    );
}

#[test]
fn h01_history_page_size_is_capped_at_500() {
    let s = Server::start();
    // 502 publishes of one key: 1 `I` row and 501 `U` rows. Several
    // connections in parallel to keep it quick.
    let addr = s.addr;
    let handles: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = Conn::open(addr);
                for i in 0..126 {
                    let body = form(&[
                        ("dataId", "cap"),
                        ("group", DG),
                        ("content", &format!("v{t}-{i}")),
                    ]);
                    let r = c.roundtrip(&raw(
                        "POST",
                        CFG,
                        &[("Content-Type", FORM_CT)],
                        Some(body.as_bytes()),
                    ));
                    assert_body(&r, 200, "true", "publish");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let page = history_list(s.addr, "cap", "", &[("pageNo", "1"), ("pageSize", "1000")]);
    assert_eq!(page["totalCount"], json!(504), "{}", page["totalCount"]);
    assert_eq!(items(&page).len(), 500, "pageSize capped at 500");
    let page = history_list(s.addr, "cap", "", &[("pageNo", "2"), ("pageSize", "1000")]);
    assert_eq!(
        items(&page).len(),
        4,
        "the second page of 500 holds the rest"
    );
    let page = history_list(s.addr, "cap", "", &[]);
    assert_eq!(items(&page).len(), 100, "default pageSize is 100");
    assert_eq!(page["pagesAvailable"], json!(6));
}

#[test]
fn h02_history_detail_by_nid() {
    let s = Server::start();
    publish_ok(s.addr, "h02", DG, "", "v1");
    publish_ok(s.addr, "h02", DG, "", "v2");
    let r = delete(s.addr, CFG, &[("dataId", "h02"), ("group", DG)]);
    assert_body(&r, 200, "true", "delete");
    let page = history_list(s.addr, "h02", "", &[]);
    let ids = nids(&page);
    assert_eq!(ids.len(), 3, "{page}");
    // Newest first: D (deleted content v2), U (previous content v1), I (new content v1).
    let expect = [("D", "v2"), ("U", "v1"), ("I", "v1")];
    for (nid, (op, content)) in ids.iter().zip(expect) {
        let d = history_detail(s.addr, &nid.to_string());
        assert_eq!(d["id"], json!(nid.to_string()), "{d}");
        assert_eq!(d["opType"], json!(op), "{d}");
        assert_eq!(d["content"], json!(content), "nid {nid} ({op}): {d}");
        assert_eq!(d["md5"], json!(md5_hex(content)), "nid {nid} ({op}): {d}");
        assert_eq!(d["dataId"], json!("h02"));
        assert_eq!(d["group"], json!(DG));
        assert_eq!(d["tenant"], json!(""));
        assert_eq!(d["lastId"], json!(-1));
        assert_eq!(d["srcIp"], json!("127.0.0.1"));
        assert_iso_time(&d["createdTime"], "createdTime");
        assert_iso_time(&d["lastModifiedTime"], "lastModifiedTime");
    }
}

#[test]
fn h02_unknown_nid_is_404() {
    let s = Server::start();
    publish_ok(s.addr, "h", DG, "", "v");
    let r = get(s.addr, HISTORY, &[("nid", "987654")]);
    assert_eq!(r.status, 404, "unknown nid: {:?}", lossy(&r.body));
    let r = get(s.addr, HISTORY, &[("nid", "abc")]);
    assert_eq!(r.status, 400, "non-numeric nid: {:?}", lossy(&r.body));
}

fn config_id(addr: SocketAddr, data_id: &str) -> String {
    let d = json_ok(
        &get(
            addr,
            CFG,
            &[("show", "all"), ("dataId", data_id), ("group", DG)],
        ),
        "detail",
    );
    d["id"].as_str().expect("config id string").to_string()
}

#[test]
fn h03_previous_returns_content_before_the_update() {
    let s = Server::start();
    publish_ok(s.addr, "h03", DG, "", "first");
    publish_ok(s.addr, "h03-other", DG, "", "other");
    publish_ok(s.addr, "h03", DG, "", "second");
    let id = config_id(s.addr, "h03");
    let prev = |id: &str| {
        json_ok(
            &get(s.addr, &format!("{HISTORY}/previous"), &[("id", id)]),
            "previous",
        )
    };
    let p = prev(&id);
    assert_eq!(p["dataId"], json!("h03"), "{p}");
    assert_eq!(p["content"], json!("first"), "{p}");
    assert_eq!(p["md5"], json!(md5_hex("first")), "{p}");
    assert_eq!(p["opType"], json!("U"), "{p}");
    publish_ok(s.addr, "h03", DG, "", "third");
    let p = prev(&id);
    assert_eq!(p["content"], json!("second"), "{p}");
    // `previous` of the other config is its own history.
    let other = config_id(s.addr, "h03-other");
    assert_ne!(other, id);
    let p = prev(&other);
    assert_eq!(
        (p["dataId"].clone(), p["content"].clone()),
        (json!("h03-other"), json!("other")),
        "{p}"
    );
}

#[test]
fn h_rollback_publishes_old_content_and_wakes_listeners() {
    let s = Server::start();
    publish_ok(s.addr, "rb", DG, "", "good=1\n");
    publish_ok(s.addr, "rb", DG, "", "bad=1\n");
    // The console's rollback: read the U row (previous content), publish it.
    let page = history_list(s.addr, "rb", "", &[]);
    let nid = nids(&page)[0];
    let old = history_detail(s.addr, &nid.to_string());
    let old_content = old["content"].as_str().expect("content").to_string();
    assert_eq!(old_content, "good=1\n");

    let mut poll = park_with(s.addr, &record("rb", DG, &md5_hex("bad=1\n"), None), &[]);
    expect_silent(s.addr, &mut poll, 1, "poll before rollback");
    publish_ok(s.addr, "rb", DG, "", &old_content);
    assert_woken(
        &mut poll,
        &reply1("rb", DG, None),
        "rollback wakes the listener",
    );
    assert_get(s.addr, &[("dataId", "rb"), ("group", DG)], &[], "good=1\n");
    let page = history_list(s.addr, "rb", "", &[]);
    assert_eq!(page["totalCount"], json!(3), "{page}");
    let newest = history_detail(s.addr, &nids(&page)[0].to_string());
    assert_eq!(
        (newest["opType"].clone(), newest["content"].clone()),
        (json!("U"), json!("bad=1\n"))
    );
}

// ---------------------------------------------------------------------------
// N: namespaces
// ---------------------------------------------------------------------------

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

#[test]
fn n01_namespace_list_public_first_then_custom() {
    let s = Server::start();
    assert_eq!(
        ns_list(s.addr),
        json!({"code":200,"message":null,"data":[
            {"namespace":"","namespaceShowName":"public","quota":200,"configCount":0,"type":0}
        ]}),
        "fresh server"
    );
    assert_body(
        &ns_create(s.addr, "dev", "Development", "dev env"),
        200,
        "true",
        "create dev",
    );
    assert_body(
        &ns_create(s.addr, "test", "Testing", ""),
        200,
        "true",
        "create test",
    );
    publish_ok(s.addr, "a", DG, "", "1");
    publish_ok(s.addr, "b", "G2", "", "2");
    publish_ok(s.addr, "c", DG, "dev", "3");
    // Beta and tag variants are not formal configs and are not counted.
    publish_with(
        s.addr,
        &[
            ("dataId", "c"),
            ("group", DG),
            ("tenant", "dev"),
            ("content", "tagged"),
            ("tag", "t1"),
        ],
        &[],
    );
    assert_eq!(
        ns_list(s.addr),
        json!({"code":200,"message":null,"data":[
            {"namespace":"","namespaceShowName":"public","quota":200,"configCount":2,"type":0},
            {"namespace":"dev","namespaceShowName":"Development","quota":200,"configCount":1,"type":2},
            {"namespace":"test","namespaceShowName":"Testing","quota":200,"configCount":0,"type":2}
        ]})
    );
}

#[test]
fn n01_namespace_detail() {
    let s = Server::start();
    assert_body(
        &ns_create(s.addr, "dev", "Development", "dev env"),
        200,
        "true",
        "create",
    );
    publish_ok(s.addr, "a", DG, "dev", "1");
    let d = json_ok(
        &get(s.addr, NS, &[("show", "all"), ("namespaceId", "dev")]),
        "detail",
    );
    assert_eq!(
        d,
        json!({"namespace":"dev","namespaceShowName":"Development","quota":200,"configCount":1,"type":2,"namespaceDesc":"dev env"})
    );
    publish_ok(s.addr, "p", DG, "", "1");
    let d = json_ok(
        &get(s.addr, NS, &[("show", "all"), ("namespaceId", "")]),
        "public detail",
    );
    assert_eq!(
        d,
        json!({"namespace":"","namespaceShowName":"Public","quota":200,"configCount":1,"type":0,"namespaceDesc":"Public Namespace"})
    );
}

#[test]
fn n02_create_duplicate_and_bad_ids() {
    let s = Server::start();
    assert_eq!(ns_exists(s.addr, "dev"), "false");
    assert_body(
        &ns_create(s.addr, "dev", "Development", ""),
        200,
        "true",
        "create dev",
    );
    assert_eq!(ns_exists(s.addr, "dev"), "true");
    assert_body(
        &ns_create(s.addr, "dev", "Again", ""),
        200,
        "false",
        "duplicate id",
    );
    for bad in ["a b", "a/b", "a.b", "dev:1", "名字", &"x".repeat(129)] {
        assert_body(
            &ns_create(s.addr, bad, "Bad", ""),
            200,
            "false",
            &format!("bad id {bad:?}"),
        );
        assert_eq!(ns_exists(s.addr, bad), "false", "{bad:?} not created");
    }
    assert_body(
        &ns_create(s.addr, &"y".repeat(128), "Long", ""),
        200,
        "true",
        "128-char id",
    );
    assert_body(
        &ns_create(s.addr, "Ok_id-2", "Fine", ""),
        200,
        "true",
        "letters, digits, _ and -",
    );
    // The duplicate did not rename the first one.
    let list = ns_list(s.addr);
    let dev = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["namespace"] == json!("dev"))
        .cloned()
        .expect("dev listed");
    assert_eq!(dev["namespaceShowName"], json!("Development"));
    assert_eq!(list["data"].as_array().unwrap().len(), 4, "{list}");
}

#[test]
fn n02_blank_id_creates_a_random_uuid() {
    let s = Server::start();
    assert_body(
        &ns_create(s.addr, "", "Generated", ""),
        200,
        "true",
        "blank id",
    );
    let list = ns_list(s.addr);
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{list}");
    let id = data[1]["namespace"].as_str().unwrap();
    assert_eq!(id.len(), 36, "uuid-shaped id: {id:?}");
    assert!(
        id.chars()
            .enumerate()
            .all(|(i, c)| if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }),
        "uuid-shaped id: {id:?}"
    );
    assert_eq!(data[1]["namespaceShowName"], json!("Generated"));
    assert_eq!(ns_exists(s.addr, id), "true");
}

#[test]
fn n_update_namespace_with_put() {
    let s = Server::start();
    assert_body(
        &ns_create(s.addr, "dev", "Development", "old"),
        200,
        "true",
        "create",
    );
    let r = send_form(
        s.addr,
        "PUT",
        NS,
        &[
            ("namespace", "dev"),
            ("namespaceShowName", "Dev 2"),
            ("namespaceDesc", "new desc"),
        ],
        &[],
    );
    assert_body(&r, 200, "true", "PUT");
    let d = json_ok(
        &get(s.addr, NS, &[("show", "all"), ("namespaceId", "dev")]),
        "detail",
    );
    assert_eq!(d["namespaceShowName"], json!("Dev 2"), "{d}");
    assert_eq!(d["namespaceDesc"], json!("new desc"), "{d}");
    assert_eq!(
        ns_list(s.addr)["data"][1]["namespaceShowName"],
        json!("Dev 2")
    );
}

#[test]
fn n03_delete_keeps_configs_readable() {
    let s = Server::start();
    assert_body(
        &ns_create(s.addr, "dev", "Development", ""),
        200,
        "true",
        "create",
    );
    publish_ok(s.addr, "kept.properties", DG, "dev", "k=1\n");
    let r = delete(s.addr, NS, &[("namespaceId", "dev")]);
    assert_body(&r, 200, "true", "DELETE namespace");
    assert_eq!(ns_exists(s.addr, "dev"), "false");
    let list = ns_list(s.addr);
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "only public left: {list}"
    );
    assert_get(
        s.addr,
        &[
            ("dataId", "kept.properties"),
            ("group", DG),
            ("tenant", "dev"),
        ],
        &[],
        "k=1\n",
    );
    // The id can be created again.
    assert_body(
        &ns_create(s.addr, "dev", "Again", ""),
        200,
        "true",
        "re-create",
    );
}

// ---------------------------------------------------------------------------
// X: health, state, listener status
// ---------------------------------------------------------------------------

const KEY_STATUS: &str = "/nacos/v1/cs/configs/listener";
const IP_STATUS: &str = "/nacos/v1/cs/listener";

fn status_of(map: Value) -> Value {
    json!({"collectStatus": 200, "lisentersGroupkeyStatus": map})
}

#[test]
fn x03_listener_status_by_key() {
    let s = Server::start();
    publish_ok(s.addr, "ls.yaml", DG, "", "v1");
    let md5 = md5_hex("v1");
    let _poll = park_with(s.addr, &record("ls.yaml", DG, &md5, None), &[]);
    eventually_json(
        s.addr,
        KEY_STATUS,
        &[("dataId", "ls.yaml"), ("group", DG)],
        &status_of(json!({"127.0.0.1": md5})),
    );
    // A blank group means DEFAULT_GROUP.
    assert_eq!(
        status_json(s.addr, KEY_STATUS, &[("dataId", "ls.yaml"), ("group", "")]),
        status_of(json!({"127.0.0.1": md5}))
    );
    // Other keys, groups, tenants: nobody listens.
    for q in [
        vec![("dataId", "other"), ("group", DG)],
        vec![("dataId", "ls.yaml"), ("group", "G2")],
        vec![("dataId", "ls.yaml"), ("group", DG), ("tenant", "dev")],
    ] {
        assert_eq!(
            status_json(s.addr, KEY_STATUS, &q),
            status_of(json!({})),
            "{q:?}"
        );
    }
}

#[test]
fn x03_listener_status_reports_the_md5_the_client_sent_and_forgets_answered_polls() {
    let s = Server::start();
    // The client claims an md5 of nothing: absent key, md5 "".
    let _absent = park_with(s.addr, &record("nothing", DG, "", Some("dev")), &[]);
    eventually_json(
        s.addr,
        KEY_STATUS,
        &[("dataId", "nothing"), ("group", DG), ("tenant", "dev")],
        &status_of(json!({"127.0.0.1": ""})),
    );
    publish_ok(s.addr, "w", DG, "", "a");
    let mut poll = park_with(s.addr, &record("w", DG, &md5_hex("a"), None), &[]);
    eventually_json(
        s.addr,
        KEY_STATUS,
        &[("dataId", "w"), ("group", DG)],
        &status_of(json!({"127.0.0.1": md5_hex("a")})),
    );
    publish_ok(s.addr, "w", DG, "", "b");
    assert_woken(&mut poll, &reply1("w", DG, None), "publish wakes");
    // An answered poll is no longer listed.
    assert_eq!(
        status_json(s.addr, KEY_STATUS, &[("dataId", "w"), ("group", DG)]),
        status_of(json!({}))
    );
}

#[test]
fn x03_listener_status_by_ip() {
    let s = Server::start();
    publish_ok(s.addr, "k1", DG, "", "one");
    publish_ok(s.addr, "k2", DG, "dev", "two");
    let m1 = md5_hex("one");
    let m2 = md5_hex("two");
    let records = format!(
        "{}{}",
        record("k1", DG, &m1, None),
        record("k2", DG, &m2, Some("dev"))
    );
    let _poll = park_with(s.addr, &records, &[]);
    // all=true: every key.
    eventually_json(
        s.addr,
        IP_STATUS,
        &[("ip", "127.0.0.1"), ("all", "true")],
        &status_of(json!({"k1+DEFAULT_GROUP": m1, "k2+DEFAULT_GROUP+dev": m2})),
    );
    // Default: only keys without a tenant.
    assert_eq!(
        status_json(s.addr, IP_STATUS, &[("ip", "127.0.0.1")]),
        status_of(json!({"k1+DEFAULT_GROUP": m1}))
    );
    assert_eq!(
        status_json(s.addr, IP_STATUS, &[("ip", "127.0.0.1"), ("all", "false")]),
        status_of(json!({"k1+DEFAULT_GROUP": m1}))
    );
    // tenant=dev: keys of that tenant.
    assert_eq!(
        status_json(s.addr, IP_STATUS, &[("ip", "127.0.0.1"), ("tenant", "dev")]),
        status_of(json!({"k2+DEFAULT_GROUP+dev": m2}))
    );
    // Another address listens to nothing.
    assert_eq!(
        status_json(s.addr, IP_STATUS, &[("ip", "10.9.9.9"), ("all", "true")]),
        status_of(json!({}))
    );
}

#[test]
fn x03_listener_status_names_proxied_requesters() {
    let s = Server::start_args(&["--trust-proxy-headers"]);
    publish_ok(s.addr, "px", DG, "", "v");
    let m = md5_hex("v");
    let _a = park_with(
        s.addr,
        &record("px", DG, &m, None),
        &[("X-Forwarded-For", "10.0.0.7")],
    );
    let _b = park_with(
        s.addr,
        &record("px", DG, &m, None),
        &[("X-Forwarded-For", "10.0.0.8, 192.168.0.1")],
    );
    eventually_json(
        s.addr,
        KEY_STATUS,
        &[("dataId", "px"), ("group", DG)],
        &status_of(json!({"10.0.0.7": m, "10.0.0.8": m})),
    );
    assert_eq!(
        status_json(s.addr, IP_STATUS, &[("ip", "10.0.0.7")]),
        status_of(json!({"px+DEFAULT_GROUP": m}))
    );
}

// ---------------------------------------------------------------------------
// Beta (gray) releases: G14, P12, L29
// ---------------------------------------------------------------------------

const XFF: &str = "X-Forwarded-For";

fn key(data_id: &str) -> [(&str, &str); 2] {
    [("dataId", data_id), ("group", DG)]
}

#[test]
fn g14_beta_content_served_to_listed_requesters_only() {
    let s = Server::start_args(&["--trust-proxy-headers"]);
    publish_ok(s.addr, "beta.properties", DG, "", "formal=1\n");
    publish_with(
        s.addr,
        &[
            ("dataId", "beta.properties"),
            ("group", DG),
            ("content", "beta=1\n"),
        ],
        &[("betaIps", "127.0.0.1")],
    );
    // The socket peer 127.0.0.1 is in the list.
    let r = assert_get(s.addr, &key("beta.properties"), &[], "beta=1\n");
    assert_eq!(
        r.header_exact("isBeta"),
        Some("true"),
        "isBeta header, exact case: {:?}",
        r.headers
    );
    // Another requester (via the trusted proxy header) sees the formal content.
    let r = assert_get(
        s.addr,
        &key("beta.properties"),
        &[(XFF, "10.0.0.9")],
        "formal=1\n",
    );
    assert_eq!(r.header("isBeta"), None, "no isBeta for formal content");

    // A list of several addresses; the first X-Forwarded-For entry counts.
    publish_ok(s.addr, "beta2", DG, "", "f");
    publish_with(
        s.addr,
        &[("dataId", "beta2"), ("group", DG), ("content", "b")],
        &[("betaIps", "10.0.0.7,10.0.0.8")],
    );
    for xff in ["10.0.0.7", "10.0.0.8", "10.0.0.8, 192.168.1.1"] {
        let r = assert_get(s.addr, &key("beta2"), &[(XFF, xff)], "b");
        assert_eq!(r.header_exact("isBeta"), Some("true"), "XFF {xff}");
    }
    for xff in ["10.0.0.9", "192.168.1.1, 10.0.0.7", "10.0.0.70"] {
        let r = assert_get(s.addr, &key("beta2"), &[(XFF, xff)], "f");
        assert_eq!(r.header("isBeta"), None, "XFF {xff}");
    }
    assert_get(s.addr, &key("beta2"), &[], "f");
    // X-Real-IP when there is no X-Forwarded-For.
    assert_get(s.addr, &key("beta2"), &[("X-Real-IP", "10.0.0.8")], "b");
}

#[test]
fn g14_proxy_headers_are_ignored_unless_trusted() {
    let s = Server::start();
    publish_ok(s.addr, "bt", DG, "", "formal");
    publish_with(
        s.addr,
        &[("dataId", "bt"), ("group", DG), ("content", "beta")],
        &[("betaIps", "10.0.0.7")],
    );
    let r = assert_get(s.addr, &key("bt"), &[(XFF, "10.0.0.7")], "formal");
    assert_eq!(r.header("isBeta"), None);
    publish_with(
        s.addr,
        &[("dataId", "bt2"), ("group", DG), ("content", "beta")],
        &[("betaIps", "127.0.0.1")],
    );
    publish_ok(s.addr, "bt2", DG, "", "formal");
    // The socket peer is 127.0.0.1 whatever the header claims.
    assert_get(s.addr, &key("bt2"), &[(XFF, "10.0.0.9")], "beta");
}

#[test]
fn p12_beta_publish_leaves_formal_unchanged() {
    let s = Server::start_args(&["--trust-proxy-headers"]);
    publish_ok(s.addr, "p12", DG, "", "formal");
    publish_with(
        s.addr,
        &[("dataId", "p12"), ("group", DG), ("content", "beta")],
        &[("betaIps", "10.0.0.7,10.0.0.8")],
    );
    assert_get(s.addr, &key("p12"), &[], "formal");
    let d = json_ok(
        &get(
            s.addr,
            CFG,
            &[("show", "all"), ("dataId", "p12"), ("group", DG)],
        ),
        "detail",
    );
    assert_eq!(
        (d["content"].clone(), d["md5"].clone()),
        (json!("formal"), json!(md5_hex("formal")))
    );
    let h = history_list(s.addr, "p12", "", &[]);
    assert_eq!(
        h["totalCount"],
        json!(1),
        "a beta publish writes no history row: {h}"
    );
    // The beta query shows the variant and its list.
    let b = json_ok(
        &get(
            s.addr,
            CFG,
            &[("beta", "true"), ("dataId", "p12"), ("group", DG)],
        ),
        "beta query",
    );
    assert_eq!(b["code"], json!(200), "{b}");
    assert_eq!(b["message"], json!("stop beta ok"), "{b}");
    assert_eq!(b["data"]["dataId"], json!("p12"), "{b}");
    assert_eq!(b["data"]["group"], json!(DG), "{b}");
    assert_eq!(b["data"]["tenant"], json!(""), "{b}");
    assert_eq!(b["data"]["content"], json!("beta"), "{b}");
    assert_eq!(b["data"]["betaIps"], json!("10.0.0.7,10.0.0.8"), "{b}");
    // A formal publish does not end the beta.
    publish_ok(s.addr, "p12", DG, "", "formal2");
    assert_get(s.addr, &key("p12"), &[(XFF, "10.0.0.8")], "beta");
    assert_get(s.addr, &key("p12"), &[(XFF, "10.0.0.9")], "formal2");
    // A key with no beta: data null.
    let none = json_ok(
        &get(
            s.addr,
            CFG,
            &[("beta", "true"), ("dataId", "nobeta"), ("group", DG)],
        ),
        "no beta",
    );
    assert_eq!(
        none,
        json!({"code":200,"message":"stop beta ok","data":null})
    );
}

#[test]
fn p12_beta_without_formal_config() {
    let s = Server::start_args(&["--trust-proxy-headers"]);
    publish_with(
        s.addr,
        &[("dataId", "only-beta"), ("group", DG), ("content", "b")],
        &[("betaIps", "10.0.0.7")],
    );
    assert_get(s.addr, &key("only-beta"), &[(XFF, "10.0.0.7")], "b");
    assert_get_absent(s.addr, &key("only-beta"), &[(XFF, "10.0.0.9")]);
    assert_get_absent(s.addr, &key("only-beta"), &[]);
}

#[test]
fn l29_beta_publish_wakes_only_listed_requesters() {
    let s = Server::start_args(&["--trust-proxy-headers"]);
    publish_ok(s.addr, "l29", DG, "", "formal");
    let formal = md5_hex("formal");
    let rec = record("l29", DG, &formal, None);
    let mut listed = park_with(s.addr, &rec, &[(XFF, "10.0.0.7")]);
    let mut other = park_with(s.addr, &rec, &[(XFF, "10.0.0.9")]);
    let mut local = park_with(s.addr, &rec, &[]);
    eventually_json(
        s.addr,
        KEY_STATUS,
        &[("dataId", "l29"), ("group", DG)],
        &status_of(json!({"10.0.0.7": formal, "10.0.0.9": formal, "127.0.0.1": formal})),
    );
    publish_with(
        s.addr,
        &[("dataId", "l29"), ("group", DG), ("content", "beta")],
        &[("betaIps", "10.0.0.7")],
    );
    assert_woken(
        &mut listed,
        &reply1("l29", DG, None),
        "listed requester woken by the beta publish",
    );
    expect_silent(s.addr, &mut other, 2, "unlisted requester not woken");
    check_silent(&mut local, "unlisted local requester not woken");
    // The woken client reads the beta content and listens with its md5: held.
    assert_get(s.addr, &key("l29"), &[(XFF, "10.0.0.7")], "beta");
    let mut again = park_with(
        s.addr,
        &record("l29", DG, &md5_hex("beta"), None),
        &[(XFF, "10.0.0.7")],
    );
    expect_silent(s.addr, &mut again, 3, "beta client up to date");
    // A listed client that still has the formal md5 is answered at once.
    let mut stale = park_with(s.addr, &rec, &[(XFF, "10.0.0.7")]);
    assert_woken(
        &mut stale,
        &reply1("l29", DG, None),
        "beta md5 differs from the formal md5 it sent",
    );
    // An unlisted client with the formal md5 is held.
    let mut fresh = park_with(s.addr, &rec, &[(XFF, "10.0.0.10")]);
    expect_silent(s.addr, &mut fresh, 4, "unlisted client up to date");
    // A second beta publish wakes the listed client again, nobody else.
    publish_with(
        s.addr,
        &[("dataId", "l29"), ("group", DG), ("content", "beta2")],
        &[("betaIps", "10.0.0.7")],
    );
    assert_woken(&mut again, &reply1("l29", DG, None), "second beta publish");
    check_silent(&mut other, "unlisted requester still not woken");
    check_silent(&mut fresh, "unlisted requester still not woken");
}

#[test]
fn beta_stop_wakes_beta_requesters_who_then_read_formal() {
    let s = Server::start_args(&["--trust-proxy-headers"]);
    publish_ok(s.addr, "stop", DG, "", "formal");
    publish_with(
        s.addr,
        &[("dataId", "stop"), ("group", DG), ("content", "beta")],
        &[("betaIps", "10.0.0.7")],
    );
    let mut beta_poll = park_with(
        s.addr,
        &record("stop", DG, &md5_hex("beta"), None),
        &[(XFF, "10.0.0.7")],
    );
    let mut formal_poll = park_with(
        s.addr,
        &record("stop", DG, &md5_hex("formal"), None),
        &[(XFF, "10.0.0.9")],
    );
    expect_silent(s.addr, &mut beta_poll, 2, "beta poll up to date");
    check_silent(&mut formal_poll, "formal poll up to date");

    let r = delete(
        s.addr,
        CFG,
        &[("beta", "true"), ("dataId", "stop"), ("group", DG)],
    );
    let v = json_ok(&r, "stop beta");
    assert_eq!(v, json!({"code":200,"message":"stop beta ok","data":true}));
    assert_woken(
        &mut beta_poll,
        &reply1("stop", DG, None),
        "stop beta wakes the beta address",
    );
    expect_silent(
        s.addr,
        &mut formal_poll,
        1,
        "formal reader not woken by stop beta",
    );
    let r = assert_get(s.addr, &key("stop"), &[(XFF, "10.0.0.7")], "formal");
    assert_eq!(r.header("isBeta"), None, "no isBeta after stop");
    let none = json_ok(
        &get(
            s.addr,
            CFG,
            &[("beta", "true"), ("dataId", "stop"), ("group", DG)],
        ),
        "beta query",
    );
    assert_eq!(
        none,
        json!({"code":200,"message":"stop beta ok","data":null})
    );
    // The formal config and its history are untouched.
    assert_eq!(
        history_list(s.addr, "stop", "", &[])["totalCount"],
        json!(1)
    );
}

// ---------------------------------------------------------------------------
// Tags: G13, P13, D04
// ---------------------------------------------------------------------------

fn tag_publish(addr: SocketAddr, data_id: &str, tag: &str, content: &str) {
    publish_with(
        addr,
        &[
            ("dataId", data_id),
            ("group", DG),
            ("content", content),
            ("tag", tag),
        ],
        &[],
    );
}

#[test]
fn g13_tag_variant_by_parameter_and_vipserver_tag_header() {
    let s = Server::start();
    publish_ok(s.addr, "g13", DG, "", "formal");
    tag_publish(s.addr, "g13", "gray", "tagged");
    assert_get(s.addr, &key("g13"), &[], "formal");
    assert_get(
        s.addr,
        &[("dataId", "g13"), ("group", DG), ("tag", "gray")],
        &[],
        "tagged",
    );
    assert_get_absent(
        s.addr,
        &[("dataId", "g13"), ("group", DG), ("tag", "other")],
        &[],
    );
    let r = assert_get(s.addr, &key("g13"), &[("Vipserver-Tag", "gray")], "tagged");
    assert_eq!(
        r.header_exact("Vipserver-Tag"),
        Some("gray"),
        "echoed tag, exact case: {:?}",
        r.headers
    );
    // An unknown header tag falls back to the formal config, no echo.
    let r = assert_get(s.addr, &key("g13"), &[("Vipserver-Tag", "nope")], "formal");
    assert_eq!(r.header("Vipserver-Tag"), None);
    // A plain GET does not echo a tag.
    let r = assert_get(s.addr, &key("g13"), &[], "formal");
    assert_eq!(r.header("Vipserver-Tag"), None);
}

#[test]
fn g13_tag_variant_without_formal_config() {
    let s = Server::start();
    tag_publish(s.addr, "tagonly", "t1", "t");
    assert_get_absent(s.addr, &key("tagonly"), &[]);
    assert_get(
        s.addr,
        &[("dataId", "tagonly"), ("group", DG), ("tag", "t1")],
        &[],
        "t",
    );
    assert_get(s.addr, &key("tagonly"), &[("Vipserver-Tag", "t1")], "t");
}

#[test]
fn p13_tag_publish_leaves_formal_unchanged() {
    let s = Server::start();
    publish_ok(s.addr, "p13", DG, "", "formal");
    tag_publish(s.addr, "p13", "gray", "tagged");
    tag_publish(s.addr, "p13", "blue", "blue content");
    assert_get(s.addr, &key("p13"), &[], "formal");
    let d = json_ok(
        &get(
            s.addr,
            CFG,
            &[("show", "all"), ("dataId", "p13"), ("group", DG)],
        ),
        "detail",
    );
    assert_eq!(d["content"], json!("formal"), "{d}");
    assert_eq!(
        history_list(s.addr, "p13", "", &[])["totalCount"],
        json!(1),
        "no history for tag publishes"
    );
    let page = search(
        s.addr,
        &[
            ("search", "accurate"),
            ("dataId", "p13"),
            ("group", DG),
            ("pageNo", "1"),
            ("pageSize", "10"),
        ],
    );
    assert_eq!(page["totalCount"], json!(1), "{page}");
    assert_eq!(items(&page)[0]["content"], json!("formal"));
    assert_get(
        s.addr,
        &[("dataId", "p13"), ("group", DG), ("tag", "gray")],
        &[],
        "tagged",
    );
    assert_get(
        s.addr,
        &[("dataId", "p13"), ("group", DG), ("tag", "blue")],
        &[],
        "blue content",
    );
    // Updating the tag variant.
    tag_publish(s.addr, "p13", "gray", "tagged v2");
    assert_get(
        s.addr,
        &[("dataId", "p13"), ("group", DG), ("tag", "gray")],
        &[],
        "tagged v2",
    );
    assert_get(s.addr, &key("p13"), &[], "formal");
}

#[test]
fn d04_delete_with_tag_removes_only_that_variant() {
    let s = Server::start();
    publish_ok(s.addr, "d04", DG, "", "formal");
    tag_publish(s.addr, "d04", "gray", "tagged");
    tag_publish(s.addr, "d04", "blue", "blue");
    let r = delete(
        s.addr,
        CFG,
        &[("dataId", "d04"), ("group", DG), ("tag", "gray")],
    );
    assert_body(&r, 200, "true", "tag delete");
    assert_get_absent(
        s.addr,
        &[("dataId", "d04"), ("group", DG), ("tag", "gray")],
        &[],
    );
    assert_get(s.addr, &key("d04"), &[], "formal");
    assert_get(s.addr, &key("d04"), &[("Vipserver-Tag", "gray")], "formal");
    assert_get(
        s.addr,
        &[("dataId", "d04"), ("group", DG), ("tag", "blue")],
        &[],
        "blue",
    );
    let h = history_list(s.addr, "d04", "", &[]);
    assert_eq!(
        h["totalCount"],
        json!(1),
        "a tag delete writes no history row: {h}"
    );
    // Deleting an absent tag variant is still `true`.
    let r = delete(
        s.addr,
        CFG,
        &[("dataId", "d04"), ("group", DG), ("tag", "never")],
    );
    assert_body(&r, 200, "true", "absent tag delete");
}

#[test]
fn tag_listeners_compare_against_the_tag_variant() {
    let s = Server::start();
    publish_ok(s.addr, "tl", DG, "", "formal");
    tag_publish(s.addr, "tl", "gray", "t1");
    let vip = [("Vipserver-Tag", "gray")];
    // A tagged poll with the formal md5 is answered at once.
    let mut c = park_with(s.addr, &record("tl", DG, &md5_hex("formal"), None), &vip);
    assert_woken(
        &mut c,
        &reply1("tl", DG, None),
        "tagged poll with the formal md5",
    );
    // Up-to-date polls of both kinds park.
    let mut tagged = park_with(s.addr, &record("tl", DG, &md5_hex("t1"), None), &vip);
    let mut plain = park_with(s.addr, &record("tl", DG, &md5_hex("formal"), None), &[]);
    expect_silent(s.addr, &mut tagged, 2, "tagged poll up to date");
    check_silent(&mut plain, "plain poll up to date");
    // A tag publish wakes the tagged poll only.
    tag_publish(s.addr, "tl", "gray", "t2");
    assert_woken(
        &mut tagged,
        &reply1("tl", DG, None),
        "tag publish wakes the tagged poll",
    );
    expect_silent(
        s.addr,
        &mut plain,
        1,
        "tag publish does not wake untagged polls",
    );
    // Another tag's publish does not wake a gray poll.
    let mut tagged = park_with(s.addr, &record("tl", DG, &md5_hex("t2"), None), &vip);
    settle(s.addr, &mut tagged, 2, "gray poll parked");
    tag_publish(s.addr, "tl", "blue", "b");
    expect_silent(s.addr, &mut tagged, 2, "another tag's publish");
    // A formal publish wakes the plain poll, not the tagged one.
    publish_ok(s.addr, "tl", DG, "", "formal2");
    assert_woken(
        &mut plain,
        &reply1("tl", DG, None),
        "formal publish wakes the plain poll",
    );
    expect_silent(
        s.addr,
        &mut tagged,
        1,
        "formal publish does not change the tag variant",
    );
    // Deleting the tag variant wakes the tagged poll (it now reads formal).
    let r = delete(
        s.addr,
        CFG,
        &[("dataId", "tl"), ("group", DG), ("tag", "gray")],
    );
    assert_body(&r, 200, "true", "tag delete");
    assert_woken(
        &mut tagged,
        &reply1("tl", DG, None),
        "tag delete wakes the tagged poll",
    );
    assert_get(s.addr, &key("tl"), &vip, "formal2");
    let mut settled = park_with(s.addr, &record("tl", DG, &md5_hex("formal2"), None), &vip);
    expect_silent(
        s.addr,
        &mut settled,
        1,
        "tagged poll with the formal md5 after the tag is gone",
    );
}

#[test]
fn beta_ip_list_change_wakes_requesters_whose_variant_changed() {
    let s = Server::start_args(&["--trust-proxy-headers"]);
    publish_ok(s.addr, "bl", DG, "", "formal");
    publish_with(
        s.addr,
        &[("dataId", "bl"), ("group", DG), ("content", "beta")],
        &[("betaIps", "10.0.0.7")],
    );
    // 10.0.0.7 reads beta, 10.0.0.9 reads formal; both up to date.
    let mut was_beta = park_with(
        s.addr,
        &record("bl", DG, &md5_hex("beta"), None),
        &[(XFF, "10.0.0.7")],
    );
    let mut now_beta = park_with(
        s.addr,
        &record("bl", DG, &md5_hex("formal"), None),
        &[(XFF, "10.0.0.9")],
    );
    let mut untouched = park_with(
        s.addr,
        &record("bl", DG, &md5_hex("formal"), None),
        &[(XFF, "10.0.0.10")],
    );
    expect_silent(s.addr, &mut was_beta, 3, "beta reader up to date");
    check_silent(&mut now_beta, "formal reader up to date");
    // The same beta content, now for 10.0.0.9 only.
    publish_with(
        s.addr,
        &[("dataId", "bl"), ("group", DG), ("content", "beta")],
        &[("betaIps", "10.0.0.9")],
    );
    assert_get(s.addr, &key("bl"), &[(XFF, "10.0.0.9")], "beta");
    assert_get(s.addr, &key("bl"), &[(XFF, "10.0.0.7")], "formal");
    assert_woken(
        &mut now_beta,
        &reply1("bl", DG, None),
        "newly listed requester must learn of the beta content",
    );
    assert_woken(
        &mut was_beta,
        &reply1("bl", DG, None),
        "requester dropped from the list must learn it reads formal again",
    );
    expect_silent(s.addr, &mut untouched, 1, "requester in neither list");
}

#[test]
fn formal_publish_during_a_beta_wakes_only_formal_readers() {
    let s = Server::start_args(&["--trust-proxy-headers"]);
    publish_ok(s.addr, "fb", DG, "", "formal1");
    publish_with(
        s.addr,
        &[("dataId", "fb"), ("group", DG), ("content", "beta")],
        &[("betaIps", "10.0.0.7")],
    );
    let mut beta = park_with(
        s.addr,
        &record("fb", DG, &md5_hex("beta"), None),
        &[(XFF, "10.0.0.7")],
    );
    let mut formal = park_with(
        s.addr,
        &record("fb", DG, &md5_hex("formal1"), None),
        &[(XFF, "10.0.0.9")],
    );
    expect_silent(s.addr, &mut beta, 2, "beta reader up to date");
    publish_ok(s.addr, "fb", DG, "", "formal2");
    assert_woken(&mut formal, &reply1("fb", DG, None), "formal reader woken");
    expect_silent(
        s.addr,
        &mut beta,
        1,
        "beta reader still reads the same beta content",
    );
    assert_get(s.addr, &key("fb"), &[(XFF, "10.0.0.7")], "beta");
    assert_get(s.addr, &key("fb"), &[(XFF, "10.0.0.9")], "formal2");
    // Beta wins over a Vipserver-Tag for a listed requester (spec §3.3).
    publish_with(
        s.addr,
        &[
            ("dataId", "fb"),
            ("group", DG),
            ("content", "tagged"),
            ("tag", "t1"),
        ],
        &[],
    );
    let r = assert_get(
        s.addr,
        &key("fb"),
        &[(XFF, "10.0.0.7"), ("Vipserver-Tag", "t1")],
        "beta",
    );
    assert_eq!(r.header_exact("isBeta"), Some("true"));
    assert_get(
        s.addr,
        &key("fb"),
        &[(XFF, "10.0.0.9"), ("Vipserver-Tag", "t1")],
        "tagged",
    );
}

#[test]
fn beta_and_tag_variants_in_a_tenant() {
    let s = Server::start();
    publish_ok(s.addr, "bt.yaml", DG, "dev", "formal");
    publish_with(
        s.addr,
        &[
            ("dataId", "bt.yaml"),
            ("group", DG),
            ("tenant", "dev"),
            ("content", "beta"),
        ],
        &[("betaIps", "127.0.0.1")],
    );
    publish_with(
        s.addr,
        &[
            ("dataId", "bt.yaml"),
            ("group", DG),
            ("tenant", "dev"),
            ("content", "tagged"),
            ("tag", "t1"),
        ],
        &[],
    );
    let dev = [("dataId", "bt.yaml"), ("group", DG), ("tenant", "dev")];
    let r = assert_get(s.addr, &dev, &[], "beta");
    assert_eq!(r.header_exact("isBeta"), Some("true"));
    assert_get_absent(s.addr, &key("bt.yaml"), &[]);
    let b = json_ok(
        &get(
            s.addr,
            CFG,
            &[
                ("beta", "true"),
                ("dataId", "bt.yaml"),
                ("group", DG),
                ("tenant", "dev"),
            ],
        ),
        "beta query in dev",
    );
    assert_eq!(b["data"]["tenant"], json!("dev"), "{b}");
    assert_eq!(b["data"]["betaIps"], json!("127.0.0.1"), "{b}");
    // Stop the beta: this requester now reads formal.
    let r = delete(
        s.addr,
        CFG,
        &[
            ("beta", "true"),
            ("dataId", "bt.yaml"),
            ("group", DG),
            ("tenant", "dev"),
        ],
    );
    assert_eq!(
        json_ok(&r, "stop beta"),
        json!({"code":200,"message":"stop beta ok","data":true})
    );
    assert_get(s.addr, &dev, &[], "formal");
    assert_get(
        s.addr,
        &[
            ("dataId", "bt.yaml"),
            ("group", DG),
            ("tenant", "dev"),
            ("tag", "t1"),
        ],
        &[],
        "tagged",
    );
    assert_get_absent(
        s.addr,
        &[("dataId", "bt.yaml"), ("group", DG), ("tag", "t1")],
        &[],
    );
}

#[test]
fn g13_vipserver_tag_echo_is_url_encoded_and_tags_are_validated() {
    let s = Server::start();
    publish_ok(s.addr, "enc", DG, "", "formal");
    publish_with(
        s.addr,
        &[
            ("dataId", "enc"),
            ("group", DG),
            ("content", "colon"),
            ("tag", "v1:gray"),
        ],
        &[],
    );
    let r = assert_get(
        s.addr,
        &key("enc"),
        &[("Vipserver-Tag", "v1:gray")],
        "colon",
    );
    assert_eq!(
        r.header_exact("Vipserver-Tag"),
        Some("v1%3Agray"),
        "{:?}",
        r.headers
    );
    // Tag rules (spec §2.2): valid identifier, at most 16 characters.
    let bad = |tag: &str| {
        send_form(
            s.addr,
            "POST",
            CFG,
            &[
                ("dataId", "enc"),
                ("group", DG),
                ("content", "x"),
                ("tag", tag),
            ],
            &[],
        )
    };
    assert_body(
        &bad("a b"),
        400,
        "caused: invalid tag : a b;",
        "tag with a space",
    );
    assert_body(
        &bad(&"t".repeat(17)),
        400,
        "caused: too long tag, over 16;",
        "17-character tag",
    );
    publish_with(
        s.addr,
        &[
            ("dataId", "enc"),
            ("group", DG),
            ("content", "sixteen"),
            ("tag", &"t".repeat(16)),
        ],
        &[],
    );
    let r = get(
        s.addr,
        CFG,
        &[("dataId", "enc"), ("group", DG), ("tag", "a/b")],
    );
    assert_body(
        &r,
        400,
        "caused: invalid tag : a/b;",
        "GET with an invalid tag",
    );
    assert_get(s.addr, &key("enc"), &[], "formal");
}

#[test]
fn p11_identical_republish_appends_a_history_row() {
    let s = Server::start();
    publish_ok(s.addr, "same", DG, "", "x");
    publish_ok(s.addr, "same", DG, "", "x");
    let page = history_list(s.addr, "same", "", &[]);
    assert_eq!(page["totalCount"], json!(2), "{page}");
    let newest = history_detail(s.addr, &nids(&page)[0].to_string());
    assert_eq!(
        (newest["opType"].clone(), newest["content"].clone()),
        (json!("U"), json!("x"))
    );
    // Deleting an absent key writes nothing.
    let r = delete(s.addr, CFG, &[("dataId", "never"), ("group", DG)]);
    assert_body(&r, 200, "true", "delete absent");
    assert_eq!(
        history_list(s.addr, "never", "", &[])["totalCount"],
        json!(0)
    );
}

#[test]
fn public_alias_in_console_endpoints() {
    // Documented improvement: `public` and `null` mean the public namespace
    // everywhere (README), also in search, detail and history.
    let s = Server::start();
    publish_ok(s.addr, "pa", DG, "", "v1");
    publish_ok(s.addr, "pa", DG, "public", "v2");
    for alias in ["public", "PUBLIC", "null"] {
        let page = search(
            s.addr,
            &[
                ("search", "accurate"),
                ("dataId", "pa"),
                ("group", DG),
                ("tenant", alias),
                ("pageNo", "1"),
                ("pageSize", "10"),
            ],
        );
        assert_eq!(page["totalCount"], json!(1), "{alias}: {page}");
        assert_eq!(items(&page)[0]["tenant"], json!(""), "{alias}: {page}");
        assert_eq!(items(&page)[0]["content"], json!("v2"), "{alias}: {page}");
        let d = json_ok(
            &get(
                s.addr,
                CFG,
                &[
                    ("show", "all"),
                    ("dataId", "pa"),
                    ("group", DG),
                    ("tenant", alias),
                ],
            ),
            "detail",
        );
        assert_eq!(
            (d["tenant"].clone(), d["content"].clone()),
            (json!(""), json!("v2")),
            "{alias}"
        );
        assert_eq!(
            history_list(s.addr, "pa", alias, &[])["totalCount"],
            json!(2),
            "{alias}"
        );
    }
    // A namespace cannot be created under the public alias.
    assert_body(
        &ns_create(s.addr, "public", "P", ""),
        200,
        "false",
        "public as an id",
    );
    assert_eq!(ns_list(s.addr)["data"].as_array().unwrap().len(), 1);
}

#[test]
fn beta_tag_and_namespaces_survive_a_restart() {
    let mut s = Server::start_args(&["--trust-proxy-headers"]);
    publish_ok(s.addr, "rs", DG, "", "formal");
    publish_with(
        s.addr,
        &[("dataId", "rs"), ("group", DG), ("content", "beta")],
        &[("betaIps", "10.0.0.7")],
    );
    publish_with(
        s.addr,
        &[
            ("dataId", "rs"),
            ("group", DG),
            ("content", "tagged"),
            ("tag", "t1"),
        ],
        &[],
    );
    publish_with(
        s.addr,
        &[("dataId", "stopped"), ("group", DG), ("content", "beta")],
        &[("betaIps", "10.0.0.7")],
    );
    publish_ok(s.addr, "stopped", DG, "", "formal");
    let r = delete(
        s.addr,
        CFG,
        &[("beta", "true"), ("dataId", "stopped"), ("group", DG)],
    );
    assert_eq!(json_ok(&r, "stop beta")["data"], json!(true));
    publish_with(
        s.addr,
        &[
            ("dataId", "rs"),
            ("group", DG),
            ("content", "gone"),
            ("tag", "t2"),
        ],
        &[],
    );
    let r = delete(
        s.addr,
        CFG,
        &[("dataId", "rs"), ("group", DG), ("tag", "t2")],
    );
    assert_body(&r, 200, "true", "tag delete");
    assert_body(
        &ns_create(s.addr, "dev", "Development", "d"),
        200,
        "true",
        "ns",
    );

    let tmp = s.take_tmp();
    let dir = s.data_dir.clone();
    assert!(s.sigterm().success(), "graceful stop");
    drop(s);
    let s = Server::start_in(&dir, &["--trust-proxy-headers"]);
    let r = assert_get(s.addr, &key("rs"), &[(XFF, "10.0.0.7")], "beta");
    assert_eq!(r.header_exact("isBeta"), Some("true"));
    assert_get(s.addr, &key("rs"), &[(XFF, "10.0.0.9")], "formal");
    assert_get(
        s.addr,
        &key("rs"),
        &[(XFF, "10.0.0.9"), ("Vipserver-Tag", "t1")],
        "tagged",
    );
    assert_get_absent(
        s.addr,
        &[("dataId", "rs"), ("group", DG), ("tag", "t2")],
        &[],
    );
    assert_get(s.addr, &key("stopped"), &[(XFF, "10.0.0.7")], "formal");
    // Polls compare against the reloaded variants.
    let mut beta = park_with(
        s.addr,
        &record("rs", DG, &md5_hex("beta"), None),
        &[(XFF, "10.0.0.7")],
    );
    let mut tagged = park_with(
        s.addr,
        &record("rs", DG, &md5_hex("tagged"), None),
        &[(XFF, "10.0.0.9"), ("Vipserver-Tag", "t1")],
    );
    expect_silent(s.addr, &mut beta, 2, "beta reader after restart");
    check_silent(&mut tagged, "tag reader after restart");
    assert_eq!(ns_exists(s.addr, "dev"), "true");
    drop(s);
    drop(tmp);
}
