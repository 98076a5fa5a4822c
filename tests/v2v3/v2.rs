//! The Nacos 2.x open API: `/v2/cs/config`, `/v2/cs/history...`,
//! `/v2/console/namespace/list`, `/v2/console/health/...`.

use crate::common::Server;
use crate::{
    call, delete, fail, get, invalid, json_of, missing, ok, post, publish_v1, v1_content, Pairs,
    PathRow, Row,
};
use serde_json::{json, Value};

const CONFIG: &str = "/v2/cs/config";
const NOT_FOUND: (u16, u16) = (404, 20004);

/// HistoryService.checkHistoryInfoPermission's refusal.
fn other_key() -> Value {
    fail(
        10001,
        "access denied",
        "Please check dataId, group or namespaceId.".into(),
    )
}

fn not_found(detail: &str) -> Value {
    fail(NOT_FOUND.1, "resource not found", detail.into())
}

#[test]
fn v2_config_get_answers_the_content_in_the_result_envelope() {
    let s = Server::start();
    publish_v1(s.addr, "app.yaml", "G", "", "a: 1");
    publish_v1(s.addr, "app.yaml", "G", "ns-1", "a: ns");
    for (namespace, want) in [("", "a: 1"), ("public", "a: 1"), ("ns-1", "a: ns")] {
        let q = [
            ("dataId", "app.yaml"),
            ("group", "G"),
            ("namespaceId", namespace),
        ];
        assert_eq!(
            get(s.addr, CONFIG, &q),
            (200, ok(want.into())),
            "{namespace:?}"
        );
    }
    // `tenant` is not a 2.x parameter: it names nothing.
    let q = [("dataId", "app.yaml"), ("group", "G"), ("tenant", "ns-1")];
    assert_eq!(get(s.addr, CONFIG, &q), (200, ok("a: 1".into())));
}

#[test]
fn v2_config_get_refusals() {
    let s = Server::start();
    let cases: &[Row] = &[
        (
            &[("dataId", "none"), ("group", "G")],
            404,
            not_found("config data not exist"),
        ),
        (&[("group", "G")], 400, missing("dataId", "String")),
        (&[("dataId", "d")], 400, missing("group", "String")),
        (
            &[("dataId", "a b"), ("group", "G")],
            400,
            invalid("invalid dataId : a b"),
        ),
        (
            &[("dataId", "d"), ("group", "G?")],
            400,
            invalid("invalid group : G?"),
        ),
        (
            &[("dataId", "d"), ("group", "G"), ("namespaceId", "n s")],
            400,
            invalid("invalid tenant"),
        ),
        (
            &[("dataId", "d"), ("group", "G"), ("tag", "t t")],
            400,
            invalid("invalid tag : t t"),
        ),
    ];
    for (q, status, body) in cases {
        assert_eq!(get(s.addr, CONFIG, q), (*status, body.clone()), "{q:?}");
    }
}

#[test]
fn v2_config_publish_and_delete_are_the_v1_writes() {
    let s = Server::start();
    let form = [
        ("dataId", "svc.properties"),
        ("group", "G"),
        ("namespaceId", "public"),
        ("content", "k=v"),
        ("type", "properties"),
        ("appName", "svc"),
        ("configTags", "t1,t2"),
        ("desc", "the service"),
    ];
    assert_eq!(post(s.addr, CONFIG, &form), (200, ok(true.into())));
    // The same config through 1.x, in the public namespace ("" there).
    assert_eq!(
        v1_content(s.addr, "svc.properties", "G", "").as_deref(),
        Some("k=v")
    );
    let detail = get(
        s.addr,
        "/v3/admin/cs/config",
        &[("dataId", "svc.properties"), ("groupName", "G")],
    );
    assert_eq!(detail.0, 200);
    let d = &detail.1["data"];
    assert_eq!(
        (&d["type"], &d["appName"], &d["configTags"], &d["desc"]),
        (
            &json!("properties"),
            &json!("svc"),
            &json!("t1,t2"),
            &json!("the service")
        )
    );
    // A compare-and-set publish against another md5 is a conflict.
    let r = call(
        s.addr,
        "POST",
        CONFIG,
        &[],
        &form,
        &[("casMd5", "0123456789abcdef0123456789abcdef")],
    );
    let cas = "Cas publish fail, server md5 may have changed.";
    assert_eq!(
        (r.status, json_of(&r)),
        (500, fail(20005, "resource conflict", cas.into()))
    );
    // A tag release is read with its tag only.
    let tagged = [
        ("dataId", "svc.properties"),
        ("group", "G"),
        ("content", "k=tag"),
        ("tag", "canary"),
    ];
    assert_eq!(post(s.addr, CONFIG, &tagged), (200, ok(true.into())));
    let q = [
        ("dataId", "svc.properties"),
        ("group", "G"),
        ("tag", "canary"),
    ];
    assert_eq!(get(s.addr, CONFIG, &q), (200, ok("k=tag".into())));
    assert_eq!(delete(s.addr, CONFIG, &q), (200, ok(true.into())));
    assert_eq!(get(s.addr, CONFIG, &q).0, NOT_FOUND.0);
    let q = [
        ("dataId", "svc.properties"),
        ("group", "G"),
        ("namespaceId", "public"),
    ];
    assert_eq!(delete(s.addr, CONFIG, &q), (200, ok(true.into())));
    assert_eq!(
        get(s.addr, CONFIG, &q),
        (404, not_found("config data not exist"))
    );
    assert_eq!(v1_content(s.addr, "svc.properties", "G", ""), None);
}

#[test]
fn v2_config_publish_and_delete_refusals() {
    let s = Server::start();
    let cases: &[Row] = &[
        (
            &[("group", "G"), ("content", "c")],
            400,
            missing("dataId", "String"),
        ),
        (
            &[("dataId", "d"), ("content", "c")],
            400,
            missing("group", "String"),
        ),
        (
            &[("dataId", "d"), ("group", "G")],
            400,
            missing("content", "String"),
        ),
        (
            &[("dataId", "d"), ("group", "G"), ("content", " ")],
            400,
            invalid("content is blank :  "),
        ),
        (
            &[("dataId", "d/x"), ("group", "G"), ("content", "c")],
            400,
            invalid("invalid dataId : d/x"),
        ),
    ];
    for (form, status, body) in cases {
        assert_eq!(
            post(s.addr, CONFIG, form),
            (*status, body.clone()),
            "{form:?}"
        );
    }
    assert_eq!(
        delete(s.addr, CONFIG, &[("dataId", "d")]),
        (400, missing("group", "String"))
    );
    // Nothing was written.
    assert_eq!(
        get(s.addr, "/v2/cs/history/configs", &[("namespaceId", "")]),
        (200, ok(json!([])))
    );
}

#[test]
fn v2_history_list_one_entry_and_previous() {
    let s = Server::start();
    publish_v1(s.addr, "h", "G", "", "one");
    publish_v1(s.addr, "h", "G", "", "two");
    publish_v1(s.addr, "other", "G", "", "x");
    let key = [("dataId", "h"), ("group", "G"), ("namespaceId", "public")];
    let (status, list) = get(s.addr, "/v2/cs/history/list", &key);
    assert_eq!((status, list["code"].as_i64()), (200, Some(0)), "{list}");
    let page = &list["data"];
    assert_eq!(page["totalCount"], 2);
    let items = page["pageItems"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|i| i["dataId"] == "h"), "{page}");
    let newest = items[0]["id"].as_str().expect("nid").to_owned();
    // One entry, by nid, of the key named.
    let mut q = key.to_vec();
    q.push(("nid", &newest));
    // History keeps what an update replaced (as 1.x): the newest entry is
    // the update that replaced "one".
    let (status, entry) = get(s.addr, "/v2/cs/history", &q);
    let e = &entry["data"];
    assert_eq!(
        (status, &e["id"], &e["opType"], &e["content"]),
        (200, &json!(newest), &json!("U"), &json!("one")),
        "{entry}"
    );
    // The same nid under another key is refused, as Nacos refuses it.
    let q = [
        ("dataId", "other"),
        ("group", "G"),
        ("nid", newest.as_str()),
    ];
    assert_eq!(get(s.addr, "/v2/cs/history", &q), (403, other_key()));
    // Previous: the config's latest history entry.
    let detail = get(
        s.addr,
        "/v3/admin/cs/config",
        &[("dataId", "h"), ("groupName", "G")],
    )
    .1;
    let id = detail["data"]["id"]
        .as_i64()
        .expect("config id")
        .to_string();
    let q = [("dataId", "h"), ("group", "G"), ("id", id.as_str())];
    let (status, prev) = get(s.addr, "/v2/cs/history/previous", &q);
    assert_eq!(
        (status, &prev["data"]["id"]),
        (200, &json!(newest)),
        "{prev}"
    );
    let q = [("dataId", "other"), ("group", "G"), ("id", id.as_str())];
    assert_eq!(
        get(s.addr, "/v2/cs/history/previous", &q),
        (403, other_key())
    );
}

#[test]
fn v2_history_refusals() {
    let s = Server::start();
    let cases: &[PathRow] = &[
        (
            "/v2/cs/history/list",
            &[("group", "G")],
            400,
            missing("dataId", "String"),
        ),
        (
            "/v2/cs/history/list",
            &[("dataId", "d"), ("group", "G"), ("pageNo", "0")],
            400,
            invalid("pageNo and pageSize must be positive"),
        ),
        (
            "/v2/cs/history/list",
            &[("dataId", "d"), ("group", "G"), ("pageSize", "x")],
            400,
            invalid("invalid pageSize : x"),
        ),
        (
            "/v2/cs/history",
            &[("dataId", "d"), ("group", "G")],
            400,
            missing("nid", "long"),
        ),
        (
            "/v2/cs/history",
            &[("dataId", "d"), ("nid", "1")],
            400,
            missing("group", "String"),
        ),
        (
            "/v2/cs/history",
            &[("dataId", "d"), ("group", "G"), ("nid", "x")],
            400,
            invalid("invalid nid : x"),
        ),
        (
            "/v2/cs/history",
            &[("dataId", "d"), ("group", "G"), ("nid", "7")],
            404,
            not_found("history 7 not found"),
        ),
        (
            "/v2/cs/history/previous",
            &[("dataId", "d"), ("group", "G")],
            400,
            missing("id", "long"),
        ),
        (
            "/v2/cs/history/configs",
            &[],
            400,
            missing("namespaceId", "String"),
        ),
        (
            "/v2/cs/history/configs",
            &[("namespaceId", "a b")],
            400,
            invalid("invalid tenant"),
        ),
    ];
    for (path, q, status, body) in cases {
        assert_eq!(
            get(s.addr, path, q),
            (*status, body.clone()),
            "{path} {q:?}"
        );
    }
}

#[test]
fn v2_history_configs_lists_a_namespace() {
    let s = Server::start();
    publish_v1(s.addr, "a", "G", "", "1");
    publish_v1(s.addr, "b", "G", "ns-1", "2");
    for (namespace, want) in [("public", "a"), ("", "a"), ("ns-1", "b")] {
        let (status, list) = get(
            s.addr,
            "/v2/cs/history/configs",
            &[("namespaceId", namespace)],
        );
        assert_eq!(status, 200);
        let ids: Vec<&Value> = list["data"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|c| &c["dataId"])
            .collect();
        assert_eq!(ids, vec![&json!(want)], "{namespace:?}: {list}");
    }
}

#[test]
fn v2_search_detail_searches_content_and_answers_a_bare_page() {
    let s = Server::start();
    publish_v1(s.addr, "a", "G", "", "hello world");
    publish_v1(s.addr, "b", "G", "", "bye");
    publish_v1(s.addr, "c", "G", "ns-1", "hello ns");
    let path = "/v2/cs/config/searchDetail";
    let page = [
        ("dataId", ""),
        ("group", ""),
        ("pageNo", "1"),
        ("pageSize", "10"),
    ];
    let cases: &[(Pairs, &[&str])] = &[
        (&[("config_detail", "*hello*")], &["a"]),
        (&[("config_detail", "*hello*"), ("tenant", "ns-1")], &["c"]),
        (&[("config_detail", "bye"), ("search", "accurate")], &["b"]),
        (&[("config_detail", "bye*"), ("search", "accurate")], &[]),
        (&[("config_detail", "*e*")], &["a", "b"]),
    ];
    for (q, want) in cases {
        let mut query = page.to_vec();
        query.extend_from_slice(q);
        let (status, body) = get(s.addr, path, &query);
        assert_eq!(status, 200, "{q:?}: {body}");
        assert_eq!(body["totalCount"], want.len(), "{q:?}: {body}");
        let got: Vec<&str> = body["pageItems"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|c| c["dataId"].as_str())
            .collect();
        assert_eq!(got, *want, "{q:?}");
    }
    // Its parameters are required as Nacos's @RequestParam are (1.x words).
    let (status, body) = get(s.addr, path, &page);
    assert_eq!(
        (status, &body["message"]),
        (
            400,
            &json!("Required String parameter 'config_detail' is not present")
        )
    );
    let (status, body) = get(
        s.addr,
        path,
        &[("dataId", ""), ("group", ""), ("config_detail", "x")],
    );
    assert_eq!(
        (status, &body["message"]),
        (
            400,
            &json!("Required long parameter 'pageNo' is not present")
        )
    );
}

#[test]
fn v2_namespaces_and_health() {
    let s = Server::start();
    let r = call(
        s.addr,
        "POST",
        "/v1/console/namespaces",
        &[],
        &[("customNamespaceId", "dev"), ("namespaceName", "Dev")],
        &[],
    );
    assert_eq!(r.text(), "true");
    let (status, list) = get(s.addr, "/v2/console/namespace/list", &[]);
    assert_eq!((status, &list["code"]), (200, &json!(0)), "{list}");
    let ids: Vec<&Value> = list["data"]
        .as_array()
        .expect("list")
        .iter()
        .map(|n| &n["namespace"])
        .collect();
    assert_eq!(ids, vec![&json!(""), &json!("dev")]);
    assert_eq!(
        get(s.addr, "/v2/console/health/liveness", &[]),
        (200, ok("ok".into()))
    );
    assert_eq!(
        get(s.addr, "/v2/console/health/readiness", &[]),
        (200, ok("ok".into()))
    );
}

#[test]
fn v2_namespace_create_read_update_delete() {
    let s = Server::start();
    let path = "/v2/console/namespace";
    let form = [
        ("namespaceId", "dev"),
        ("namespaceName", "Dev"),
        ("namespaceDesc", "d"),
    ];
    assert_eq!(post(s.addr, path, &form), (200, ok(true.into())));
    let (status, body) = get(s.addr, path, &[("namespaceId", "dev")]);
    let d = &body["data"];
    assert_eq!(
        (
            status,
            &d["namespace"],
            &d["namespaceShowName"],
            &d["namespaceDesc"]
        ),
        (200, &json!("dev"), &json!("Dev"), &json!("d")),
        "{body}"
    );
    let (status, body) = get(s.addr, path, &[("namespaceId", "public")]);
    assert_eq!(
        (status, &body["data"]["namespace"]),
        (200, &json!("")),
        "{body}"
    );
    let r = call(
        s.addr,
        "PUT",
        path,
        &[],
        &[("namespaceId", "dev"), ("namespaceName", "Dev2")],
        &[],
    );
    assert_eq!((r.status, json_of(&r)), (200, ok(true.into())));
    assert_eq!(
        get(s.addr, path, &[("namespaceId", "dev")]).1["data"]["namespaceShowName"],
        "Dev2"
    );
    assert_eq!(
        delete(s.addr, path, &[("namespaceId", "dev")]),
        (200, ok(true.into()))
    );
    assert_eq!(
        get(s.addr, path, &[("namespaceId", "dev")]),
        (404, not_found("namespace dev not found"))
    );
    // Refusals: a missing id or name; a malformed id is 1.x's plain `false`.
    assert_eq!(
        get(s.addr, path, &[]),
        (400, missing("namespaceId", "String"))
    );
    assert_eq!(
        post(s.addr, path, &[("namespaceId", "x")]),
        (400, missing("namespaceName", "String"))
    );
    assert_eq!(
        post(
            s.addr,
            path,
            &[("namespaceId", "a b"), ("namespaceName", "A")]
        ),
        (200, ok(false.into()))
    );
    assert_eq!(
        delete(s.addr, path, &[]),
        (400, missing("namespaceId", "String"))
    );
}

#[test]
fn v2_unknown_path_and_method_are_springs_404_and_405() {
    let s = Server::start();
    let r = call(s.addr, "GET", "/v2/cs/nothing", &[], &[], &[]);
    assert_eq!((r.status, &json_of(&r)["status"]), (404, &json!(404)));
    let r = call(s.addr, "PUT", CONFIG, &[], &[], &[]);
    let j = json_of(&r);
    assert_eq!(
        (r.status, &j["message"]),
        (405, &json!("Request method 'PUT' not supported"))
    );
}

/// Every 2.x/3.x route, with every kind of bad input: never a 500, and
/// always the `Result` envelope with a 1xxxx/2xxxx code (or the bare
/// 1.x answers of searchDetail and the login).
#[test]
fn no_bad_input_on_any_route_is_a_500() {
    let s = Server::start();
    publish_v1(s.addr, "d", "G", "", "c");
    let routes: &[(&str, &str)] = &[
        ("GET", "/v2/cs/config"),
        ("POST", "/v2/cs/config"),
        ("DELETE", "/v2/cs/config"),
        ("GET", "/v2/cs/history/list"),
        ("GET", "/v2/cs/history"),
        ("GET", "/v2/cs/history/previous"),
        ("GET", "/v2/cs/history/configs"),
        ("GET", "/v2/console/namespace"),
        ("POST", "/v2/console/namespace"),
        ("PUT", "/v2/console/namespace"),
        ("DELETE", "/v2/console/namespace"),
        ("GET", "/v3/client/cs/config"),
        ("GET", "/v3/admin/cs/config"),
        ("POST", "/v3/admin/cs/config"),
        ("DELETE", "/v3/admin/cs/config"),
        ("DELETE", "/v3/admin/cs/config/batch"),
        ("GET", "/v3/admin/cs/config/list"),
        ("GET", "/v3/admin/cs/config/beta"),
        ("DELETE", "/v3/admin/cs/config/beta"),
        ("GET", "/v3/admin/cs/config/listener"),
        ("GET", "/v3/admin/cs/listener"),
        ("GET", "/v3/admin/cs/config/export"),
        ("POST", "/v3/admin/cs/config/import"),
        ("POST", "/v3/admin/cs/config/clone"),
        ("GET", "/v3/admin/cs/history/list"),
        ("GET", "/v3/admin/cs/history"),
        ("GET", "/v3/admin/cs/history/previous"),
        ("GET", "/v3/admin/cs/history/configs"),
    ];
    let bad_inputs: &[&str] = &[
        "",
        "dataId=d",
        "dataId=d&group=G&groupName=G&nid=abc&id=x&pageNo=abc&pageSize=-1&ids=1,x",
        "dataId=d&group=G&groupName=G&namespaceId=a%2Fb&tag=t%20t&content=&search=nope",
        "dataId=%zz&group=G",
        "dataId=d&group=G&groupName=G&nid=99999999999999999999&pageNo=0",
        "dataId=%F0%28%8C%28&groupName=G&ip=",
    ];
    for (method, path) in routes {
        for query in bad_inputs {
            let target = format!("/nacos{path}?{query}");
            let r = crate::request(s.addr, &crate::raw(method, &target, &[], None));
            assert!(
                r.status < 500,
                "{method} {target}: {} {}",
                r.status,
                r.text()
            );
            if r.status != 200 {
                let j = json_of(&r);
                let code = j["code"].as_i64().unwrap_or(0);
                assert!(
                    (10000..30000).contains(&code) || code >= 100_000,
                    "{method} {target}: {j}"
                );
            }
        }
    }
}
