//! H: history

use super::*;

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
