//! Tags: G13, P13, D04

use super::*;

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
