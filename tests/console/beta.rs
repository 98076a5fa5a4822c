//! Beta (gray) releases: G14, P12, L29

use super::*;

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
