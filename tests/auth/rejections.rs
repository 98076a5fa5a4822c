//! A06, A08: rejections

use super::*;

/// README: "a long poll refused by auth is answered after 1 s so clients do
/// not spin". The refusal is the same 403 a GET gets, only later.
#[test]
fn a06_refused_long_poll_is_answered_after_1_s() {
    let s = auth_server(&[]);
    let refused_get = get(s.addr, CFG, &key("poll", ""));
    assert_status(&refused_get, 403, "anonymous GET");
    let rec = record("poll", DG, "", None);
    for (what, token) in [
        ("anonymous poll", None),
        ("poll with a bogus token", Some("x.y.z")),
    ] {
        let mut c = Conn::open(s.addr);
        let mut body = form(&[("Listening-Configs", rec.as_str())]);
        if let Some(t) = token {
            body.push_str(&format!("&accessToken={t}"));
        }
        let t = Instant::now();
        let r = c.roundtrip(&raw(
            "POST",
            "/nacos/v1/cs/configs/listener",
            &[("Content-Type", FORM_CT), ("Long-Pulling-Timeout", "30000")],
            Some(body.as_bytes()),
        ));
        let el = t.elapsed();
        assert_status(&r, 403, what);
        if token.is_none() {
            assert_eq!(lossy(&r.body), lossy(&refused_get.body), "{what}: body");
        }
        // One 10 ms wheel tick of rounding below 1 s; the upper bound is a
        // safety net for a busy machine.
        assert!(
            el >= Duration::from_millis(990) && el < Duration::from_secs(10),
            "{what}: answered after {el:?}, expected 1 s"
        );
    }
}

#[test]
fn a06_requests_without_credentials_are_403() {
    let s = auth_server(&[]);
    let t = admin_token(s.addr);
    publish_as(s.addr, &t, "a06", "", "v1");
    let none: &[(&str, &str)] = &[];
    // Config endpoints.
    assert_status(&get(s.addr, CFG, &key("a06", "")), 403, "GET config");
    assert_status(
        &get(s.addr, CFG, &key("absent", "")),
        403,
        "GET of an absent config",
    );
    assert_status(
        &post(s.addr, CFG, none, &publish_body("a06", "", "evil"), &[]),
        403,
        "publish",
    );
    assert_status(
        &post(s.addr, CFG, none, &publish_body("new", "", "evil"), &[]),
        403,
        "publish new",
    );
    assert_status(&delete(s.addr, CFG, &key("a06", "")), 403, "delete");
    let r = request(
        s.addr,
        &common::listener_raw(&record("a06", DG, "", None), Some("30000"), &[]),
    );
    assert_status(&r, 403, "long poll");
    // Nothing changed.
    assert_content_as(s.addr, &t, "a06", "", "v1");
    assert_body(
        &get_as(s.addr, &t, "new", ""),
        404,
        "config data not exist\n",
        "no new config",
    );
    // Console endpoints.
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
            vec![
                ("search", "blur"),
                ("dataId", "*"),
                ("group", ""),
                ("pageNo", "1"),
                ("pageSize", "10"),
            ],
        ),
        (CFG, vec![("show", "all"), ("dataId", "a06"), ("group", DG)]),
        (
            CFG,
            vec![("beta", "true"), ("dataId", "a06"), ("group", DG)],
        ),
        (
            "/nacos/v1/cs/configs/catalog",
            vec![("dataId", "a06"), ("group", DG)],
        ),
        (
            "/nacos/v1/cs/configs/listener",
            vec![("dataId", "a06"), ("group", DG)],
        ),
        ("/nacos/v1/cs/listener", vec![("ip", "127.0.0.1")]),
    ] {
        assert_status(&get(s.addr, path, &q), 403, &format!("GET {path} {q:?}"));
    }
    // Namespace writes.
    let r = post(
        s.addr,
        "/nacos/v1/console/namespaces",
        none,
        &[("customNamespaceId", "evil"), ("namespaceName", "Evil")],
        &[],
    );
    assert_status(&r, 403, "namespace create");
    assert_status(
        &delete(
            s.addr,
            "/nacos/v1/console/namespaces",
            &[("namespaceId", "x")],
        ),
        403,
        "namespace delete",
    );
    // User management.
    let r = post(
        s.addr,
        USERS,
        none,
        &[("username", "eve"), ("password", "pw")],
        &[],
    );
    assert_status(&r, 403, "create user");
    assert_body(
        &login_go(s.addr, "eve", "pw"),
        403,
        "unknown user!",
        "eve was not created",
    );
}

#[test]
fn a06_history_is_not_readable_without_credentials() {
    // History rows hold config contents: reading them needs a token like
    // reading the config itself (Nacos marks them from 2.0.3).
    let s = auth_server(&[]);
    let t = admin_token(s.addr);
    publish_as(s.addr, &t, "hist", "", "secret=1");
    let list = json_of(
        &get(
            s.addr,
            "/nacos/v1/cs/history",
            &with_token(
                &[("search", "accurate"), ("dataId", "hist"), ("group", DG)],
                &t,
            ),
        ),
        "history with a token",
    );
    let nid = list["pageItems"][0]["id"]
        .as_str()
        .expect("nid")
        .to_string();
    assert_status(
        &get(
            s.addr,
            "/nacos/v1/cs/history",
            &[("search", "accurate"), ("dataId", "hist"), ("group", DG)],
        ),
        403,
        "history list",
    );
    assert_status(
        &get(s.addr, "/nacos/v1/cs/history", &[("nid", &nid)]),
        403,
        "history detail",
    );
    let id = json_of(
        &get(
            s.addr,
            CFG,
            &with_token(&[("show", "all"), ("dataId", "hist"), ("group", DG)], &t),
        ),
        "detail",
    )["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_status(
        &get(s.addr, "/nacos/v1/cs/history/previous", &[("id", &id)]),
        403,
        "history previous",
    );
    assert_status(
        &get(s.addr, "/nacos/v1/console/namespaces", &[]),
        403,
        "namespace list",
    );
}

#[test]
fn a06_invalid_tokens_are_403() {
    let s = auth_server(&[]);
    let t = admin_token(s.addr);
    publish_as(s.addr, &t, "inv", "", "v");
    for bad in ["garbage", "AUTH_DISABLED", "", "Bearer"] {
        assert_status(
            &get_as(s.addr, bad, "inv", ""),
            403,
            &format!("accessToken={bad:?}"),
        );
        let h = format!("Bearer {bad}");
        assert_status(
            &get_h(s.addr, CFG, &key("inv", ""), &[("Authorization", &h)]),
            403,
            &format!("Authorization: Bearer {bad:?}"),
        );
    }
    // The token without the `Bearer ` scheme, and a Basic header, are not credentials.
    assert_status(
        &get_h(s.addr, CFG, &key("inv", ""), &[("Authorization", &t)]),
        403,
        "no scheme",
    );
    assert_status(
        &get_h(
            s.addr,
            CFG,
            &key("inv", ""),
            &[("Authorization", "Basic bmFjb3M6QWRtMW4tcHc=")],
        ),
        403,
        "Basic",
    );
    // An invalid token is not rescued by sending it twice or by a username alone.
    let mut q = key("inv", "");
    q.push(("username", ADMIN));
    assert_status(&get(s.addr, CFG, &q), 403, "username without password");
}

#[test]
fn a06_tampered_tokens_are_403() {
    let s = auth_server(&[]);
    let t = admin_token(s.addr);
    publish_as(s.addr, &t, "tamper", "", "v");
    let flip = |i: usize| {
        let mut b = t.clone().into_bytes();
        b[i] = match b[i] {
            b'A' => b'B',
            b'.' => return None,
            _ => b'A',
        };
        Some(String::from_utf8(b).unwrap())
    };
    let mut variants: Vec<String> = (0..t.len()).step_by(3).filter_map(flip).collect();
    variants.push(format!("{t}A"));
    variants.push(t[..t.len() - 1].to_string());
    variants.push(t[..t.len() / 2].to_string());
    variants.push(t.to_uppercase());
    variants.retain(|v| v != &t);
    for v in &variants {
        assert_status(
            &get_as(s.addr, v, "tamper", ""),
            403,
            &format!("tampered token {v:?}"),
        );
        let r = post(
            s.addr,
            CFG,
            &[("accessToken", v)],
            &publish_body("tamper", "", "evil"),
            &[],
        );
        assert_status(&r, 403, &format!("publish with tampered token {v:?}"));
    }
    assert_content_as(s.addr, &t, "tamper", "", "v");
}

#[test]
fn a06_token_of_another_server_is_403() {
    let a = auth_server(&[]);
    let b = auth_server(&[]);
    let ta = admin_token(a.addr);
    let tb = admin_token(b.addr);
    publish_as(b.addr, &tb, "foreign", "", "v");
    assert_status(
        &get_as(b.addr, &ta, "foreign", ""),
        403,
        "token minted by another server",
    );
}

#[test]
fn a06_expired_token_is_403() {
    // A token expires at the start of a whole second: with a TTL of 3 s it is
    // valid for at least 2 s after the login, and expired 4.1 s after it.
    let s = auth_server(&["--auth-token-ttl-secs", "3"]);
    let t = check_login(
        &login_go(s.addr, ADMIN, ADMIN_PW),
        3,
        true,
        "login with a 3 s TTL",
    );
    let issued = Instant::now();
    publish_as(s.addr, &t, "exp", "", "v");
    assert!(
        issued.elapsed() < Duration::from_secs(2),
        "the publish took {:?}; the token may have expired before it",
        issued.elapsed()
    );
    std::thread::sleep(Duration::from_millis(4100).saturating_sub(issued.elapsed()));
    assert_status(&get_as(s.addr, &t, "exp", ""), 403, "expired token, query");
    let bearer = format!("Bearer {t}");
    assert_status(
        &get_h(s.addr, CFG, &key("exp", ""), &[("Authorization", &bearer)]),
        403,
        "expired token, Bearer",
    );
    // A fresh login works again.
    let t2 = check_login(&login_go(s.addr, ADMIN, ADMIN_PW), 3, true, "login again");
    assert_content_as(s.addr, &t2, "exp", "", "v");
}

#[test]
fn a08_user_agent_nacos_server_gives_no_bypass() {
    let s = auth_server(&[]);
    let t = admin_token(s.addr);
    publish_as(s.addr, &t, "a08", "", "v");
    for ua in ["Nacos-Server", "Nacos-Server:v1.4.1", "Nacos-Server 2.0"] {
        let h = [("User-Agent", ua)];
        assert_status(
            &get_h(s.addr, CFG, &key("a08", ""), &h),
            403,
            &format!("GET as {ua}"),
        );
        let r = post(s.addr, CFG, &[], &publish_body("a08", "", "evil"), &h);
        assert_status(&r, 403, &format!("publish as {ua}"));
        let r = post(
            s.addr,
            USERS,
            &[],
            &[("username", "eve"), ("password", "pw")],
            &h,
        );
        assert_status(&r, 403, &format!("create user as {ua}"));
    }
    // Nacos 2.x's server identity header is no bypass either.
    let h = [("serverIdentity", "security")];
    assert_status(
        &get_h(s.addr, CFG, &key("a08", ""), &h),
        403,
        "serverIdentity header",
    );
    assert_content_as(s.addr, &t, "a08", "", "v");
}

#[test]
fn open_endpoints_need_no_credentials_with_auth_on() {
    let s = auth_server(&[]);
    for p in [
        "/nacos/v1/console/health/liveness",
        "/nacos/v1/console/health/readiness",
    ] {
        assert_body(&get(s.addr, p, &[]), 200, "OK", p);
    }
    let r = get(s.addr, "/nacos/v1/console/server/state", &[]);
    assert_status(&r, 200, "server state");
    assert_eq!(json_of(&r, "state")["standalone_mode"], json!("standalone"));
    assert_status(
        &get(s.addr, "/nacos/actuator/prometheus", &[]),
        200,
        "prometheus",
    );
    // Login itself needs no token (checked in a03); a bogus token on it is harmless.
    let r = post(
        s.addr,
        USERS_LOGIN,
        &[("accessToken", "garbage")],
        &[("username", ADMIN), ("password", ADMIN_PW)],
        &[],
    );
    check_login(&r, 18000, true, "login with a bogus token attached");
}
