//! The Nacos 3.x client API (`/v3/client/cs/config`) and admin API
//! (`/v3/admin/cs/...`).

use crate::common::{md5_hex, park, record, request, wait_parked, Server};
use crate::helpers::{multipart, unzip, zip_of, BOUNDARY};
use crate::{
    call, delete, fail, get, invalid, json_of, missing, ok, post, publish_v1, v1_content, Pairs,
    Row,
};
use serde_json::{json, Value};

const CLIENT: &str = "/v3/client/cs/config";
const ADMIN: &str = "/v3/admin/cs/config";

#[test]
fn v3_client_config_is_the_grpc_query_response() {
    let s = Server::start();
    let form = [
        ("dataId", "c.yaml"),
        ("group", "G"),
        ("content", "a: 1"),
        ("type", "yaml"),
    ];
    assert_eq!(post(s.addr, "/v2/cs/config", &form), (200, ok(true.into())));
    for namespace in ["", "public"] {
        let q = [
            ("dataId", "c.yaml"),
            ("groupName", "G"),
            ("namespaceId", namespace),
        ];
        let (status, body) = get(s.addr, CLIENT, &q);
        assert_eq!(
            (status, &body["code"], &body["message"]),
            (200, &json!(0), &json!("success"))
        );
        let d = &body["data"];
        assert_eq!(d["content"], "a: 1");
        assert_eq!(d["md5"], md5_hex("a: 1"));
        assert_eq!(d["contentType"], "yaml");
        assert!(d["lastModified"].as_i64().is_some_and(|t| t > 0), "{d}");
        assert_eq!(
            (&d["beta"], &d["tag"], &d["resultCode"], &d["success"]),
            (&json!(false), &Value::Null, &json!(200), &json!(true))
        );
    }
}

#[test]
fn v3_client_config_refusals() {
    let s = Server::start();
    let cases: &[Row] = &[
        // ConfigOpenApiController answers a missing config in a 200.
        (
            &[("dataId", "none"), ("groupName", "G")],
            200,
            fail(20004, "resource not found", Value::Null),
        ),
        (&[("dataId", "d")], 400, missing("groupName", "String")),
        // `group` is not a 3.x parameter.
        (
            &[("dataId", "d"), ("group", "G")],
            400,
            missing("groupName", "String"),
        ),
        (&[("groupName", "G")], 400, missing("dataId", "String")),
        (
            &[("dataId", "d d"), ("groupName", "G")],
            400,
            invalid("invalid dataId : d d"),
        ),
    ];
    for (q, status, body) in cases {
        assert_eq!(get(s.addr, CLIENT, q), (*status, body.clone()), "{q:?}");
    }
}

#[test]
fn v3_admin_config_get_publish_delete() {
    let s = Server::start();
    let form = [
        ("dataId", "a.json"),
        ("groupName", "G"),
        ("namespaceId", "public"),
        ("content", "{}"),
        ("type", "json"),
        ("desc", "d"),
    ];
    assert_eq!(post(s.addr, ADMIN, &form), (200, ok(true.into())));
    assert_eq!(v1_content(s.addr, "a.json", "G", "").as_deref(), Some("{}"));
    let (status, body) = get(s.addr, ADMIN, &[("dataId", "a.json"), ("groupName", "G")]);
    assert_eq!((status, &body["code"]), (200, &json!(0)));
    let d = &body["data"];
    assert_eq!(
        (
            &d["dataId"],
            &d["groupName"],
            &d["namespaceId"],
            &d["content"],
            &d["type"],
            &d["desc"],
            &d["md5"]
        ),
        (
            &json!("a.json"),
            &json!("G"),
            &json!("public"),
            &json!("{}"),
            &json!("json"),
            &json!("d"),
            &json!(md5_hex("{}"))
        )
    );
    let q = [
        ("dataId", "a.json"),
        ("groupName", "G"),
        ("namespaceId", "public"),
    ];
    assert_eq!(delete(s.addr, ADMIN, &q), (200, ok(true.into())));
    assert_eq!(
        get(s.addr, ADMIN, &q),
        (
            404,
            fail(
                20004,
                "resource not found",
                "Config not exist, please publish Config first.".into()
            )
        )
    );
}

#[test]
fn v3_admin_config_batch_delete_by_ids() {
    let s = Server::start();
    publish_v1(s.addr, "x1", "G", "", "1");
    publish_v1(s.addr, "x2", "G", "", "2");
    publish_v1(s.addr, "x3", "G", "", "3");
    let id = |d: &str| {
        get(s.addr, ADMIN, &[("dataId", d), ("groupName", "G")]).1["data"]["id"]
            .as_i64()
            .expect("id")
    };
    let ids = format!("{},{}", id("x1"), id("x2"));
    let batch = "/v3/admin/cs/config/batch";
    assert_eq!(
        delete(s.addr, batch, &[("ids", &ids)]),
        (200, ok(true.into()))
    );
    let left: Vec<Option<String>> = ["x1", "x2", "x3"]
        .iter()
        .map(|d| v1_content(s.addr, d, "G", ""))
        .collect();
    assert_eq!(left, vec![None, None, Some("3".to_owned())]);
    assert_eq!(delete(s.addr, batch, &[]), (400, missing("ids", "String")));
    assert_eq!(
        delete(s.addr, batch, &[("ids", "1,x")]),
        (400, invalid("invalid ids : 1,x"))
    );
}

#[test]
fn v3_admin_config_refusals() {
    let s = Server::start();
    let gets: &[Row] = &[
        (&[("dataId", "d")], 400, missing("groupName", "String")),
        (&[("groupName", "G")], 400, missing("dataId", "String")),
        (
            &[("dataId", "d"), ("groupName", "G"), ("namespaceId", "x/y")],
            400,
            invalid("invalid tenant"),
        ),
    ];
    for (q, status, body) in gets {
        assert_eq!(get(s.addr, ADMIN, q), (*status, body.clone()), "GET {q:?}");
        assert_eq!(
            delete(s.addr, ADMIN, q),
            (*status, body.clone()),
            "DELETE {q:?}"
        );
    }
    let posts: &[Row] = &[
        (
            &[("dataId", "d"), ("content", "c")],
            400,
            missing("groupName", "String"),
        ),
        (
            &[("dataId", "d"), ("groupName", "G")],
            400,
            missing("content", "String"),
        ),
        (
            &[("dataId", "d"), ("groupName", "G"), ("content", "")],
            400,
            invalid("content is blank : "),
        ),
    ];
    for (form, status, body) in posts {
        assert_eq!(
            post(s.addr, ADMIN, form),
            (*status, body.clone()),
            "POST {form:?}"
        );
    }
}

#[test]
fn v3_admin_config_list_pages_and_filters() {
    let s = Server::start();
    for i in 0..3 {
        publish_v1(s.addr, &format!("svc-{i}"), "G", "", "x");
    }
    publish_v1(s.addr, "other", "H", "", "x");
    publish_v1(s.addr, "svc-ns", "G", "ns-1", "x");
    let cases: &[(Pairs, i64, &[&str])] = &[
        (&[], 4, &["svc-0", "svc-1", "svc-2", "other"]),
        (
            &[("namespaceId", "public")],
            4,
            &["svc-0", "svc-1", "svc-2", "other"],
        ),
        (&[("dataId", "svc-*")], 3, &["svc-0", "svc-1", "svc-2"]),
        (&[("groupName", "H")], 1, &["other"]),
        (
            &[("dataId", "svc-1"), ("search", "accurate")],
            1,
            &["svc-1"],
        ),
        (&[("pageNo", "2"), ("pageSize", "3")], 4, &["other"]),
        (&[("namespaceId", "ns-1")], 1, &["svc-ns"]),
        (
            &[("configDetail", "*x*"), ("groupName", "H")],
            1,
            &["other"],
        ),
        (&[("configDetail", "nothing*")], 0, &[]),
    ];
    for (q, total, ids) in cases {
        let (status, body) = get(s.addr, "/v3/admin/cs/config/list", q);
        assert_eq!((status, &body["code"]), (200, &json!(0)), "{q:?}: {body}");
        assert_eq!(body["data"]["totalCount"], *total, "{q:?}");
        let got: Vec<&str> = body["data"]["pageItems"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|c| c["dataId"].as_str())
            .collect();
        assert_eq!(got, *ids, "{q:?}");
    }
    let refusals: &[(Pairs, Value)] = &[
        (
            &[("pageNo", "0")],
            invalid("pageNo and pageSize must be positive"),
        ),
        (&[("pageSize", "ten")], invalid("invalid pageSize : ten")),
        (
            &[("search", "fuzzy")],
            invalid("invalid search mode : fuzzy"),
        ),
    ];
    for (q, body) in refusals {
        assert_eq!(
            get(s.addr, "/v3/admin/cs/config/list", q),
            (400, body.clone()),
            "{q:?}"
        );
    }
}

#[test]
fn v3_admin_beta_read_and_stop() {
    let s = Server::start();
    let r = call(
        s.addr,
        "POST",
        ADMIN,
        &[],
        &[("dataId", "b"), ("groupName", "G"), ("content", "beta")],
        &[("betaIps", "10.0.0.9")],
    );
    assert_eq!(json_of(&r), ok(true.into()));
    let key = [("dataId", "b"), ("groupName", "G")];
    let (status, body) = get(s.addr, "/v3/admin/cs/config/beta", &key);
    assert_eq!(
        (status, &body["data"]["content"], &body["data"]["betaIps"]),
        (200, &json!("beta"), &json!("10.0.0.9")),
        "{body}"
    );
    assert_eq!(
        delete(s.addr, "/v3/admin/cs/config/beta", &key),
        (200, ok(true.into()))
    );
    assert_eq!(
        get(s.addr, "/v3/admin/cs/config/beta", &key),
        (
            404,
            fail(20004, "resource not found", "Config is not in beta.".into())
        )
    );
    assert_eq!(
        get(s.addr, "/v3/admin/cs/config/beta", &[("dataId", "b")]),
        (400, missing("groupName", "String"))
    );
}

#[test]
fn v3_admin_export_import_clone() {
    let s = Server::start();
    publish_v1(s.addr, "e1", "G", "", "one");
    // Export: the 2.x zip, a download (no envelope).
    let r = call(
        s.addr,
        "GET",
        "/v3/admin/cs/config/export",
        &[("namespaceId", "public")],
        &[],
        &[],
    );
    assert_eq!(
        (r.status, r.header("Content-Type")),
        (200, Some("application/zip"))
    );
    let names: Vec<String> = unzip(&r.body).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, vec!["G/e1".to_owned(), ".metadata.yml".to_owned()]);
    // Import into a namespace named by `namespaceId`.
    let zip = zip_of(&[
        ("G/i1", b"imported"),
        (
            ".metadata.yml",
            b"metadata:\n- dataId: i1\n  group: G\n  type: text\n",
        ),
    ]);
    let body = multipart(Some("OVERWRITE"), Some(&zip));
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    let r = request(
        s.addr,
        &crate::raw(
            "POST",
            "/nacos/v3/admin/cs/config/import?namespaceId=public",
            &[("Content-Type", &ct)],
            Some(&body),
        ),
    );
    let j = json_of(&r);
    assert_eq!(
        (r.status, &j["code"], &j["data"]["succCount"]),
        (200, &json!(0), &json!(1)),
        "{j}"
    );
    assert_eq!(
        v1_content(s.addr, "i1", "G", "").as_deref(),
        Some("imported")
    );
    // Clone config e1 into namespace `dev`.
    call(
        s.addr,
        "POST",
        "/v1/console/namespaces",
        &[],
        &[("customNamespaceId", "dev"), ("namespaceName", "Dev")],
        &[],
    );
    let id = get(s.addr, ADMIN, &[("dataId", "e1"), ("groupName", "G")]).1["data"]["id"]
        .as_i64()
        .expect("id")
        .to_string();
    let clone_body = json!([{"cfgId": id, "dataId": "e1", "group": "G"}]).to_string();
    let r = request(
        s.addr,
        &crate::raw(
            "POST",
            "/nacos/v3/admin/cs/config/clone?namespaceId=dev&policy=ABORT",
            &[("Content-Type", "application/json")],
            Some(clone_body.as_bytes()),
        ),
    );
    let j = json_of(&r);
    assert_eq!(
        (r.status, &j["code"], &j["data"]["succCount"]),
        (200, &json!(0), &json!(1)),
        "{j}"
    );
    assert_eq!(v1_content(s.addr, "e1", "G", "dev").as_deref(), Some("one"));
    // Refused transfers in 3.x codes and words (HTTP 200, as Nacos).
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    let import_to = |target: &str, file: Option<&[u8]>| {
        let body = multipart(None, file);
        let r = request(
            s.addr,
            &crate::raw("POST", target, &[("Content-Type", &ct)], Some(&body)),
        );
        (r.status, json_of(&r))
    };
    let (status, j) = import_to(
        "/nacos/v3/admin/cs/config/import?namespaceId=nowhere",
        Some(&zip),
    );
    assert_eq!(
        (status, &j["code"], &j["message"]),
        (200, &json!(22001), &json!("namespace not exist")),
        "{j}"
    );
    let (status, j) = import_to("/nacos/v3/admin/cs/config/import?namespaceId=dev", None);
    assert_eq!(
        (status, &j["code"], &j["message"]),
        (200, &json!(100_005), &json!("Imported file data is empty")),
        "{j}"
    );
    let r = request(
        s.addr,
        &crate::raw(
            "POST",
            "/nacos/v3/admin/cs/config/clone?namespaceId=dev",
            &[("Content-Type", "application/json")],
            Some(b"[]"),
        ),
    );
    let j = json_of(&r);
    assert_eq!(
        (r.status, &j["code"], &j["message"]),
        (200, &json!(100_006), &json!("No configuration selected")),
        "{j}"
    );
    // A clone without a target namespace.
    let r = request(
        s.addr,
        &crate::raw(
            "POST",
            "/nacos/v3/admin/cs/config/clone",
            &[("Content-Type", "application/json")],
            Some(b"[]"),
        ),
    );
    assert_eq!(
        (r.status, json_of(&r)),
        (400, missing("namespaceId", "String"))
    );
}

#[test]
fn v3_admin_config_listener_names_who_listens() {
    let s = Server::start();
    publish_v1(s.addr, "l", "G", "", "v");
    let md5 = md5_hex("v");
    let _poll = park(s.addr, &record("l", "G", &md5, None));
    wait_parked(s.addr, 1, "the poll is parked");
    let q = [
        ("dataId", "l"),
        ("groupName", "G"),
        ("namespaceId", "public"),
    ];
    let (status, body) = get(s.addr, "/v3/admin/cs/config/listener", &q);
    let want = json!({"queryType": "config", "listenersStatus": {"127.0.0.1": md5}});
    assert_eq!((status, body), (200, ok(want)));
    let q = [("dataId", "nobody"), ("groupName", "G")];
    let want = json!({"queryType": "config", "listenersStatus": {}});
    assert_eq!(
        get(s.addr, "/v3/admin/cs/config/listener", &q),
        (200, ok(want))
    );
    // What an address listens to (ListenerControllerV3).
    let q = [("ip", "127.0.0.1")];
    let want = json!({"queryType": "ip", "listenersStatus": {"l+G": md5_hex("v")}});
    assert_eq!(get(s.addr, "/v3/admin/cs/listener", &q), (200, ok(want)));
    let q = [("ip", "10.9.9.9")];
    let want = json!({"queryType": "ip", "listenersStatus": {}});
    assert_eq!(get(s.addr, "/v3/admin/cs/listener", &q), (200, ok(want)));
    assert_eq!(
        get(s.addr, "/v3/admin/cs/listener", &[]),
        (400, missing("ip", "String"))
    );
    let q = [("groupName", "G")];
    assert_eq!(
        get(s.addr, "/v3/admin/cs/config/listener", &q),
        (400, missing("dataId", "String"))
    );
}

#[test]
fn v3_admin_history() {
    let s = Server::start();
    publish_v1(s.addr, "h", "G", "", "one");
    publish_v1(s.addr, "h", "G", "", "two");
    let key = [
        ("dataId", "h"),
        ("groupName", "G"),
        ("namespaceId", "public"),
    ];
    let (status, list) = get(s.addr, "/v3/admin/cs/history/list", &key);
    assert_eq!(
        (status, &list["data"]["totalCount"]),
        (200, &json!(2)),
        "{list}"
    );
    let newest = list["data"]["pageItems"][0]["id"]
        .as_i64()
        .expect("nid")
        .to_string();
    let oldest = list["data"]["pageItems"][1]["id"]
        .as_i64()
        .expect("nid")
        .to_string();
    // 3.x names and types (ConfigHistoryBasicInfo).
    let item = &list["data"]["pageItems"][1];
    assert_eq!(
        (&item["groupName"], &item["namespaceId"], &item["group"]),
        (&json!("G"), &json!("public"), &Value::Null),
        "{item}"
    );
    assert!(
        item["createTime"]
            .as_i64()
            .is_some_and(|t| t > 1_700_000_000_000),
        "{item}"
    );
    assert!(item["modifyTime"].as_i64().is_some(), "{item}");
    let mut q = key.to_vec();
    q.push(("nid", &oldest));
    let (status, entry) = get(s.addr, "/v3/admin/cs/history", &q);
    let e = &entry["data"];
    assert_eq!(
        (status, &e["opType"], &e["content"]),
        (200, &json!("I"), &json!("one")),
        "{entry}"
    );
    let id = get(s.addr, ADMIN, &[("dataId", "h"), ("groupName", "G")]).1["data"]["id"]
        .as_i64()
        .expect("id")
        .to_string();
    let mut q = key.to_vec();
    q.push(("id", &id));
    let (status, prev) = get(s.addr, "/v3/admin/cs/history/previous", &q);
    assert_eq!(
        (status, prev["data"]["id"].to_string()),
        (200, newest.clone()),
        "{prev}"
    );
    let (status, configs) = get(
        s.addr,
        "/v3/admin/cs/history/configs",
        &[("namespaceId", "public")],
    );
    assert_eq!(
        (status, &configs["data"][0]["dataId"]),
        (200, &json!("h")),
        "{configs}"
    );
    assert_eq!(
        get(s.addr, "/v3/admin/cs/history/list", &[("dataId", "h")]),
        (400, missing("groupName", "String"))
    );
    let q = [("dataId", "h"), ("groupName", "G"), ("nid", "99")];
    assert_eq!(
        get(s.addr, "/v3/admin/cs/history", &q),
        (
            404,
            fail(20004, "resource not found", "history 99 not found".into())
        )
    );
}

#[test]
fn v3_login_with_auth_off_answers_a_token_as_v1() {
    let s = Server::start();
    let r = call(
        s.addr,
        "POST",
        "/v3/auth/user/login",
        &[("username", "nacos")],
        &[("password", "x")],
        &[],
    );
    assert_eq!(r.status, 200);
    let j = json_of(&r);
    assert_eq!(
        (&j["accessToken"], &j["tokenTtl"]),
        (&json!("AUTH_DISABLED"), &json!(18000))
    );
}
