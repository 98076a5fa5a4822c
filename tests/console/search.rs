//! S: search and detail

use super::*;

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
