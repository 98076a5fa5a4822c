//! A: auth off

use super::*;

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
