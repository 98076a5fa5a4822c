//! A04, A05: presenting credentials

use super::*;

#[test]
fn a04_token_in_query_body_or_bearer_header() {
    let s = auth_server(&[]);
    let t = admin_token(s.addr);
    // Query (Python, Go).
    let r = post(
        s.addr,
        CFG,
        &[("accessToken", &t)],
        &publish_body("a04", "", "v1"),
        &[],
    );
    assert_body(&r, 200, "true", "publish, token in the query");
    assert_body(
        &get_as(s.addr, &t, "a04", ""),
        200,
        "v1",
        "GET, token in the query",
    );
    // Form body (Java).
    let mut body = publish_body("a04", "", "v2");
    body.push(("accessToken", &t));
    assert_body(
        &post(s.addr, CFG, &[], &body, &[]),
        200,
        "true",
        "publish, token in the body",
    );
    // Bearer header.
    let bearer = format!("Bearer {t}");
    let auth = [("Authorization", bearer.as_str())];
    assert_body(
        &get_h(s.addr, CFG, &key("a04", ""), &auth),
        200,
        "v2",
        "GET, Bearer header",
    );
    let r = post(s.addr, CFG, &[], &publish_body("a04", "", "v3"), &auth);
    assert_body(&r, 200, "true", "publish, Bearer header");
    // A long poll with the token in the body (Java): answered with the key.
    let rec = record("a04", DG, &md5_hex("old"), None);
    let lpairs = [
        ("Listening-Configs", rec.as_str()),
        ("accessToken", t.as_str()),
    ];
    let r = post(
        s.addr,
        "/nacos/v1/cs/configs/listener",
        &[],
        &lpairs,
        &[("Long-Pulling-Timeout", "30000")],
    );
    assert_body(
        &r,
        200,
        "a04%02DEFAULT_GROUP%01\n",
        "long poll, token in the body",
    );
    // Delete with the token in the query.
    let r = delete(s.addr, CFG, &with_token(&key("a04", ""), &t));
    assert_body(&r, 200, "true", "delete, token in the query");
    assert_body(
        &get_as(s.addr, &t, "a04", ""),
        404,
        "config data not exist\n",
        "deleted",
    );
}

#[test]
fn a04_console_endpoints_accept_a_token() {
    let s = auth_server(&[]);
    let t = admin_token(s.addr);
    publish_as(s.addr, &t, "cons", "", "v");
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
            CFG,
            vec![("show", "all"), ("dataId", "cons"), ("group", DG)],
        ),
        (
            "/nacos/v1/cs/history",
            vec![("search", "accurate"), ("dataId", "cons"), ("group", DG)],
        ),
        ("/nacos/v1/console/namespaces", vec![]),
        (
            "/nacos/v1/cs/configs/listener",
            vec![("dataId", "cons"), ("group", DG)],
        ),
        ("/nacos/v1/cs/listener", vec![("ip", "127.0.0.1")]),
    ] {
        let r = get(s.addr, path, &with_token(&q, &t));
        assert_status(&r, 200, &format!("GET {path} {q:?} with the admin token"));
    }
    let v = json_of(
        &get(
            s.addr,
            CFG,
            &with_token(
                &[
                    ("search", "accurate"),
                    ("dataId", "cons"),
                    ("group", DG),
                    ("pageNo", "1"),
                    ("pageSize", "10"),
                ],
                &t,
            ),
        ),
        "search",
    );
    assert_eq!(v["totalCount"], json!(1), "{v}");
}

#[test]
fn a05_username_and_password_on_ordinary_requests() {
    let s = auth_server(&[]);
    let creds = [("username", ADMIN), ("password", ADMIN_PW)];
    // Node sends them with every request: query for GET/DELETE, body for POST.
    let mut body = publish_body("a05", "", "v1");
    body.extend(creds);
    assert_body(
        &post(s.addr, CFG, &[], &body, &[]),
        200,
        "true",
        "publish, credentials in the body",
    );
    let mut q = key("a05", "");
    q.extend(creds);
    assert_body(
        &get(s.addr, CFG, &q),
        200,
        "v1",
        "GET, credentials in the query",
    );
    // A poll carrying them (body) is served.
    let rec = record("a05", DG, "", None);
    let mut lbody = vec![("Listening-Configs", rec.as_str())];
    lbody.extend(creds);
    let r = post(
        s.addr,
        "/nacos/v1/cs/configs/listener",
        &[],
        &lbody,
        &[("Long-Pulling-Timeout", "30000")],
    );
    assert_body(
        &r,
        200,
        "a05%02DEFAULT_GROUP%01\n",
        "long poll with username/password",
    );
    // A wrong password is no credential.
    let mut bad = key("a05", "");
    bad.extend([("username", ADMIN), ("password", "wrong")]);
    assert_status(&get(s.addr, CFG, &bad), 403, "GET with a wrong password");
    let mut bad_body = publish_body("a05", "", "evil");
    bad_body.extend([("username", ADMIN), ("password", "wrong")]);
    assert_status(
        &post(s.addr, CFG, &[], &bad_body, &[]),
        403,
        "publish with a wrong password",
    );
    let mut del = key("a05", "");
    del.extend(creds);
    assert_body(
        &delete(s.addr, CFG, &del),
        200,
        "true",
        "delete, credentials in the query",
    );
}

#[test]
fn a05_passwords_with_reserved_characters() {
    let pw = "p@ss w0rd&=+%é";
    let s = Server::start_args(&["--auth", "--auth-admin-password", pw]);
    let t = check_login(&login_java(s.addr, ADMIN, pw), 18000, true, "java login");
    check_login(
        &login_python(s.addr, ADMIN, pw),
        18000,
        true,
        "python login",
    );
    publish_as(s.addr, &t, "rsv", "", "v");
    let mut q = key("rsv", "");
    q.extend([("username", ADMIN), ("password", pw)]);
    assert_body(
        &get(s.addr, CFG, &q),
        200,
        "v",
        "GET with an encoded password",
    );
    assert_body(
        &login_go(s.addr, ADMIN, "p@ss w0rd&="),
        403,
        "unknown user!",
        "prefix of the password",
    );
}
