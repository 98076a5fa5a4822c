//! N: namespaces

use super::*;

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
