//! A01, A02: auth off

use super::*;

#[test]
fn a01_auth_off_serves_requests_without_or_with_bogus_credentials() {
    let s = Server::start();
    let r = post(s.addr, CFG, &[], &publish_body("a01", "", "v1"), &[]);
    assert_body(&r, 200, "true", "publish without credentials");
    assert_body(
        &get(s.addr, CFG, &key("a01", "")),
        200,
        "v1",
        "GET without credentials",
    );
    // Credentials that would be invalid are ignored.
    assert_body(
        &get(s.addr, CFG, &with_token(&key("a01", ""), "garbage")),
        200,
        "v1",
        "GET with a bogus accessToken",
    );
    assert_body(
        &get_h(
            s.addr,
            CFG,
            &key("a01", ""),
            &[("Authorization", "Bearer garbage")],
        ),
        200,
        "v1",
        "GET with a bogus Bearer token",
    );
    let mut p = key("a01", "");
    p.extend([("username", "nobody"), ("password", "wrong")]);
    assert_body(
        &get(s.addr, CFG, &p),
        200,
        "v1",
        "GET with bogus username/password",
    );
    let mut body = publish_body("a01", "", "v2");
    body.push(("accessToken", "garbage"));
    assert_body(
        &post(s.addr, CFG, &[], &body, &[]),
        200,
        "true",
        "publish with a bogus token",
    );
    // Console endpoints too.
    for (path, q) in [
        (
            CFG,
            vec![
                ("search", "accurate"),
                ("dataId", ""),
                ("group", ""),
                ("pageNo", "1"),
                ("pageSize", "10"),
            ],
        ),
        (
            "/nacos/v1/cs/history",
            vec![("search", "accurate"), ("dataId", "a01"), ("group", DG)],
        ),
        ("/nacos/v1/console/namespaces", vec![]),
        (
            "/nacos/v1/cs/configs/listener",
            vec![("dataId", "a01"), ("group", DG)],
        ),
    ] {
        assert_status(
            &get(s.addr, path, &q),
            200,
            &format!("GET {path} without credentials"),
        );
    }
    let r = delete(s.addr, CFG, &key("a01", ""));
    assert_body(&r, 200, "true", "delete without credentials");
}

#[test]
fn a02_auth_off_login_accepts_any_credentials() {
    let s = Server::start();
    for (what, r) in [
        ("python style", login_python(s.addr, "someone", "anything")),
        ("java style", login_java(s.addr, "nacos", "wrong")),
        ("go style", login_go(s.addr, "x", "y")),
        ("no credentials at all", post(s.addr, LOGIN, &[], &[], &[])),
    ] {
        let v = json_of(&r, what);
        assert_status(&r, 200, what);
        assert!(v["accessToken"].is_string(), "{what}: {v}");
        assert!(v["tokenTtl"].is_number(), "{what}: {v}");
        assert!(v["globalAdmin"].is_boolean(), "{what}: {v}");
        check_login(&r, 18000, true, what);
    }
}
