//! Users, roles, permissions

use super::*;

fn assert_rest_ok(r: &Response, what: &str) {
    assert_status(r, 200, what);
    let v = json_of(r, what);
    assert_eq!(v["code"], json!(200), "{what}: {v}");
}

fn create_user(addr: SocketAddr, admin: &str, user: &str, pw: &str) {
    let r = post(
        addr,
        USERS,
        &[("accessToken", admin)],
        &[("username", user), ("password", pw)],
        &[],
    );
    assert_body(
        &r,
        200,
        r#"{"code":200,"message":"create user ok!","data":null}"#,
        &format!("create user {user}"),
    );
}

fn add_role(addr: SocketAddr, admin: &str, role: &str, user: &str) {
    let r = post(
        addr,
        ROLES,
        &[("accessToken", admin)],
        &[("role", role), ("username", user)],
        &[],
    );
    assert_rest_ok(&r, &format!("add role {role} to {user}"));
}

fn add_permission(addr: SocketAddr, admin: &str, role: &str, resource: &str, action: &str) {
    let r = post(
        addr,
        PERMISSIONS,
        &[("accessToken", admin)],
        &[("role", role), ("resource", resource), ("action", action)],
        &[],
    );
    assert_rest_ok(&r, &format!("add permission {role} {resource} {action}"));
}

fn delete_permission(addr: SocketAddr, admin: &str, role: &str, resource: &str, action: &str) {
    let r = delete(
        addr,
        PERMISSIONS,
        &[
            ("role", role),
            ("resource", resource),
            ("action", action),
            ("accessToken", admin),
        ],
    );
    assert_rest_ok(&r, &format!("delete permission {role} {resource} {action}"));
}

/// Publishes as `token` and returns the status.
fn try_publish(addr: SocketAddr, token: &str, data_id: &str, tenant: &str, content: &str) -> u16 {
    post(
        addr,
        CFG,
        &[("accessToken", token)],
        &publish_body(data_id, tenant, content),
        &[],
    )
    .status
}

#[test]
fn read_permission_on_a_namespace() {
    let s = auth_server(&[]);
    let admin = admin_token(s.addr);
    publish_as(s.addr, &admin, "app.yaml", "dev", "dev: 1");
    publish_as(s.addr, &admin, "app.yaml", "", "public: 1");
    publish_as(s.addr, &admin, "app.yaml", "test", "test: 1");
    create_user(s.addr, &admin, "alice", "alice-pw");
    let alice = token(s.addr, "alice", "alice-pw", false);
    // A user without roles can read nothing.
    assert_status(
        &get_as(s.addr, &alice, "app.yaml", "dev"),
        403,
        "alice before any role",
    );

    add_role(s.addr, &admin, "dev-reader", "alice");
    add_permission(s.addr, &admin, "dev-reader", "dev:*:*", "r");
    assert_content_as(s.addr, &alice, "app.yaml", "dev", "dev: 1");
    // Any group and dataId in dev; an absent one is a plain 404.
    assert_body(
        &get_as(s.addr, &alice, "absent", "dev"),
        404,
        "config data not exist\n",
        "absent in dev",
    );
    // Node-style credentials carry the same permissions.
    let mut q = key("app.yaml", "dev");
    q.extend([("username", "alice"), ("password", "alice-pw")]);
    assert_body(
        &get(s.addr, CFG, &q),
        200,
        "dev: 1",
        "alice with username/password",
    );
    // No write permission.
    assert_eq!(
        try_publish(s.addr, &alice, "app.yaml", "dev", "evil"),
        403,
        "alice publishes in dev"
    );
    assert_eq!(
        try_publish(s.addr, &alice, "new.yaml", "dev", "evil"),
        403,
        "alice creates in dev"
    );
    let r = delete(s.addr, CFG, &with_token(&key("app.yaml", "dev"), &alice));
    assert_status(&r, 403, "alice deletes in dev");
    // Other namespaces.
    assert_status(
        &get_as(s.addr, &alice, "app.yaml", ""),
        403,
        "alice reads public",
    );
    assert_status(
        &get_as(s.addr, &alice, "app.yaml", "test"),
        403,
        "alice reads test",
    );
    assert_status(
        &get_as(s.addr, &alice, "app.yaml", "dev2"),
        403,
        "alice reads dev2 (prefix)",
    );
    // Nothing changed; the admin can still do everything.
    assert_content_as(s.addr, &admin, "app.yaml", "dev", "dev: 1");
    publish_as(s.addr, &admin, "app.yaml", "dev", "dev: 2");
    publish_as(s.addr, &admin, "other.yaml", "test", "t");
    assert_content_as(s.addr, &alice, "app.yaml", "dev", "dev: 2");
}

#[test]
fn read_permission_covers_long_polls_in_the_namespace() {
    let s = auth_server(&[]);
    let admin = admin_token(s.addr);
    publish_as(s.addr, &admin, "lp", "dev", "v1");
    publish_as(s.addr, &admin, "lp", "", "v1");
    create_user(s.addr, &admin, "alice", "alice-pw");
    add_role(s.addr, &admin, "dev-reader", "alice");
    add_permission(s.addr, &admin, "dev-reader", "dev:*:*", "r");
    let alice = token(s.addr, "alice", "alice-pw", false);
    // Java style: tenant and accessToken in the body, 4-field record.
    let rec = record("lp", DG, "stale", Some("dev"));
    let body = [
        ("Listening-Configs", rec.as_str()),
        ("tenant", "dev"),
        ("accessToken", &alice),
    ];
    let r = post(
        s.addr,
        "/nacos/v1/cs/configs/listener",
        &[],
        &body,
        &[("Long-Pulling-Timeout", "30000")],
    );
    assert_body(
        &r,
        200,
        "lp%02DEFAULT_GROUP%02dev%01\n",
        "alice polls in dev",
    );
    // A parked poll of alice is woken by the admin's publish.
    let rec = record("lp", DG, &md5_hex("v1"), Some("dev"));
    let mut c = Conn::open(s.addr);
    let body = form(&[
        ("Listening-Configs", rec.as_str()),
        ("tenant", "dev"),
        ("accessToken", &alice),
    ]);
    c.send(&raw(
        "POST",
        "/nacos/v1/cs/configs/listener",
        &[("Content-Type", FORM_CT), ("Long-Pulling-Timeout", "30000")],
        Some(body.as_bytes()),
    ));
    // Parked first, so the answer below is a wake-up, not a stale-md5 reply.
    common::wait_parked(s.addr, 1, "alice's poll");
    publish_as(s.addr, &admin, "lp", "dev", "v2");
    c.set_read_timeout(Duration::from_secs(10));
    let r = c.try_read_response().expect("woken poll");
    assert_body(&r, 200, "lp%02DEFAULT_GROUP%02dev%01\n", "alice woken");
}

#[test]
fn write_permissions() {
    let s = auth_server(&[]);
    let admin = admin_token(s.addr);
    publish_as(s.addr, &admin, "w.yaml", "dev", "v1");
    create_user(s.addr, &admin, "bob", "bob-pw");
    create_user(s.addr, &admin, "carol", "carol-pw");
    add_role(s.addr, &admin, "dev-writer", "bob");
    add_permission(s.addr, &admin, "dev-writer", "dev:*:*", "w");
    add_role(s.addr, &admin, "dev-admin", "carol");
    add_permission(s.addr, &admin, "dev-admin", "dev:*:*", "rw");
    let bob = token(s.addr, "bob", "bob-pw", false);
    let carol = token(s.addr, "carol", "carol-pw", false);
    // `w` allows writing, not reading.
    assert_eq!(
        try_publish(s.addr, &bob, "w.yaml", "dev", "bob"),
        200,
        "bob writes dev"
    );
    assert_status(&get_as(s.addr, &bob, "w.yaml", "dev"), 403, "bob reads dev");
    assert_eq!(
        try_publish(s.addr, &bob, "w.yaml", "", "bob"),
        403,
        "bob writes public"
    );
    // `rw` allows both, in dev only.
    assert_content_as(s.addr, &carol, "w.yaml", "dev", "bob");
    assert_eq!(
        try_publish(s.addr, &carol, "w.yaml", "dev", "carol"),
        200,
        "carol writes dev"
    );
    assert_content_as(s.addr, &carol, "w.yaml", "dev", "carol");
    let r = delete(s.addr, CFG, &with_token(&key("w.yaml", "dev"), &carol));
    assert_body(&r, 200, "true", "carol deletes in dev");
    assert_eq!(
        try_publish(s.addr, &carol, "w.yaml", "test", "carol"),
        403,
        "carol writes test"
    );
    // Neither manages users.
    for (who, t) in [("bob", &bob), ("carol", &carol)] {
        let r = post(
            s.addr,
            USERS,
            &[("accessToken", t)],
            &[("username", "eve"), ("password", "pw")],
            &[],
        );
        assert_status(&r, 403, &format!("{who} creates a user"));
        let r = post(
            s.addr,
            ROLES,
            &[("accessToken", t)],
            &[("role", "ROLE_ADMIN"), ("username", who)],
            &[],
        );
        assert_status(&r, 403, &format!("{who} grants itself ROLE_ADMIN"));
        let r = post(
            s.addr,
            PERMISSIONS,
            &[("accessToken", t)],
            &[
                ("role", "dev-writer"),
                ("resource", "*:*:*"),
                ("action", "rw"),
            ],
            &[],
        );
        assert_status(&r, 403, &format!("{who} widens a permission"));
    }
    assert_body(
        &login_go(s.addr, "eve", "pw"),
        403,
        "unknown user!",
        "eve not created",
    );
    assert_eq!(
        try_publish(s.addr, &bob, "w.yaml", "", "bob"),
        403,
        "bob still cannot write public"
    );
}

#[test]
fn revoking_permissions_roles_and_users() {
    let s = auth_server(&[]);
    let admin = admin_token(s.addr);
    publish_as(s.addr, &admin, "rv", "dev", "v");
    create_user(s.addr, &admin, "dave", "dave-pw");
    add_role(s.addr, &admin, "dev-reader", "dave");
    add_permission(s.addr, &admin, "dev-reader", "dev:*:*", "r");
    let dave = token(s.addr, "dave", "dave-pw", false);
    assert_content_as(s.addr, &dave, "rv", "dev", "v");

    delete_permission(s.addr, &admin, "dev-reader", "dev:*:*", "r");
    assert_status(
        &get_as(s.addr, &dave, "rv", "dev"),
        403,
        "after the permission is deleted",
    );

    add_permission(s.addr, &admin, "dev-reader", "dev:*:*", "r");
    assert_content_as(s.addr, &dave, "rv", "dev", "v");
    let r = delete(
        s.addr,
        ROLES,
        &[
            ("role", "dev-reader"),
            ("username", "dave"),
            ("accessToken", &admin),
        ],
    );
    assert_rest_ok(&r, "delete role");
    assert_status(
        &get_as(s.addr, &dave, "rv", "dev"),
        403,
        "after the role is deleted",
    );

    add_role(s.addr, &admin, "dev-reader", "dave");
    assert_content_as(s.addr, &dave, "rv", "dev", "v");
    let r = delete(
        s.addr,
        USERS,
        &[("username", "dave"), ("accessToken", &admin)],
    );
    assert_rest_ok(&r, "delete user");
    assert_body(
        &login_go(s.addr, "dave", "dave-pw"),
        403,
        "unknown user!",
        "deleted user logs in",
    );
    assert_status(
        &get_as(s.addr, &dave, "rv", "dev"),
        403,
        "token of a deleted user",
    );
}

#[test]
fn user_management_requires_the_admin() {
    let s = auth_server(&[]);
    let admin = admin_token(s.addr);
    create_user(s.addr, &admin, "erin", "erin-pw");
    let erin = token(s.addr, "erin", "erin-pw", false);
    let r = post(
        s.addr,
        USERS,
        &[("accessToken", &erin)],
        &[("username", "x"), ("password", "y")],
        &[],
    );
    assert_status(&r, 403, "non-admin creates a user");
    let r = delete(
        s.addr,
        USERS,
        &[("username", ADMIN), ("accessToken", &erin)],
    );
    assert_status(&r, 403, "non-admin deletes the admin");
    token(s.addr, ADMIN, ADMIN_PW, true);
    // Without any credentials.
    let r = post(
        s.addr,
        ROLES,
        &[],
        &[("role", "r"), ("username", "erin")],
        &[],
    );
    assert_status(&r, 403, "add role without credentials");
    let r = post(
        s.addr,
        PERMISSIONS,
        &[],
        &[("role", "r"), ("resource", "*:*:*"), ("action", "rw")],
        &[],
    );
    assert_status(&r, 403, "add permission without credentials");
    // The admin's token in the form body is enough to manage users.
    let r = post(
        s.addr,
        USERS,
        &[],
        &[
            ("username", "frank"),
            ("password", "frank-pw"),
            ("accessToken", &admin),
        ],
        &[],
    );
    assert_body(
        &r,
        200,
        r#"{"code":200,"message":"create user ok!","data":null}"#,
        "token in body",
    );
    token(s.addr, "frank", "frank-pw", false);
}

#[test]
fn read_permission_scopes_console_reads_and_variant_writes() {
    let s = auth_server(&["--trust-proxy-headers"]);
    let admin = admin_token(s.addr);
    publish_as(s.addr, &admin, "cr", "dev", "v1");
    publish_as(s.addr, &admin, "cr", "", "p1");
    create_user(s.addr, &admin, "alice", "alice-pw");
    add_role(s.addr, &admin, "dev-reader", "alice");
    add_permission(s.addr, &admin, "dev-reader", "dev:*:*", "r");
    let alice = token(s.addr, "alice", "alice-pw", false);
    let search = |tenant: &'static str| {
        vec![
            ("search", "accurate"),
            ("dataId", ""),
            ("group", ""),
            ("tenant", tenant),
            ("pageNo", "1"),
            ("pageSize", "10"),
        ]
    };
    let r = get(s.addr, CFG, &with_token(&search("dev"), &alice));
    assert_status(&r, 200, "alice searches dev");
    assert_eq!(json_of(&r, "search")["totalCount"], json!(1));
    assert_status(
        &get(s.addr, CFG, &with_token(&search(""), &alice)),
        403,
        "alice searches public",
    );
    let detail = |tenant: &'static str| {
        vec![
            ("show", "all"),
            ("dataId", "cr"),
            ("group", DG),
            ("tenant", tenant),
        ]
    };
    assert_status(
        &get(s.addr, CFG, &with_token(&detail("dev"), &alice)),
        200,
        "detail in dev",
    );
    assert_status(
        &get(s.addr, CFG, &with_token(&detail(""), &alice)),
        403,
        "detail in public",
    );
    // Beta and tag publishes and stop-beta are writes.
    let r = post(
        s.addr,
        CFG,
        &[("accessToken", &alice)],
        &publish_body("cr", "dev", "beta"),
        &[("betaIps", "127.0.0.1")],
    );
    assert_status(&r, 403, "alice beta-publishes in dev");
    let mut tag = publish_body("cr", "dev", "tagged");
    tag.push(("tag", "t1"));
    let r = post(s.addr, CFG, &[("accessToken", &alice)], &tag, &[]);
    assert_status(&r, 403, "alice tag-publishes in dev");
    let r = post(
        s.addr,
        CFG,
        &[("accessToken", &admin)],
        &publish_body("cr", "dev", "beta"),
        &[("betaIps", "10.0.0.7")],
    );
    assert_body(&r, 200, "true", "admin beta-publishes");
    let mut stop = key("cr", "dev");
    stop.extend([("beta", "true"), ("accessToken", alice.as_str())]);
    assert_status(&delete(s.addr, CFG, &stop), 403, "alice stops the beta");
    let mut tag_del = key("cr", "dev");
    tag_del.extend([("tag", "t1"), ("accessToken", alice.as_str())]);
    assert_status(
        &delete(s.addr, CFG, &tag_del),
        403,
        "alice deletes a tag variant",
    );
    // The beta is still on.
    let r = get_h(
        s.addr,
        CFG,
        &with_token(&key("cr", "dev"), &admin),
        &[("X-Forwarded-For", "10.0.0.7")],
    );
    assert_body(&r, 200, "beta", "beta still served");
    // Namespace management is for the admin.
    let r = post(
        s.addr,
        "/nacos/v1/console/namespaces",
        &[("accessToken", &alice)],
        &[("customNamespaceId", "evil"), ("namespaceName", "Evil")],
        &[],
    );
    assert_status(&r, 403, "alice creates a namespace");
    let r = post(
        s.addr,
        "/nacos/v1/console/namespaces",
        &[("accessToken", &admin)],
        &[("customNamespaceId", "ok"), ("namespaceName", "Ok")],
        &[],
    );
    assert_body(&r, 200, "true", "admin creates a namespace");
}

#[test]
fn duplicate_user_is_rejected_and_keeps_its_password() {
    let s = auth_server(&[]);
    let admin = admin_token(s.addr);
    create_user(s.addr, &admin, "gina", "first-pw");
    let r = post(
        s.addr,
        USERS,
        &[("accessToken", &admin)],
        &[("username", "gina"), ("password", "second-pw")],
        &[],
    );
    assert_status(&r, 400, "duplicate user");
    token(s.addr, "gina", "first-pw", false);
    assert_body(
        &login_go(s.addr, "gina", "second-pw"),
        403,
        "unknown user!",
        "the duplicate did not change the password",
    );
    // Re-creating the administrator does not reset its password either.
    let r = post(
        s.addr,
        USERS,
        &[("accessToken", &admin)],
        &[("username", ADMIN), ("password", "reset")],
        &[],
    );
    assert_status(&r, 400, "re-create the admin");
    admin_token(s.addr);
}

#[test]
fn bearer_header_takes_precedence_over_a_bogus_query_token() {
    let s = auth_server(&[]);
    let t = admin_token(s.addr);
    publish_as(s.addr, &t, "prec", "", "v");
    let bearer = format!("Bearer {t}");
    let r = get_h(
        s.addr,
        CFG,
        &with_token(&key("prec", ""), "garbage"),
        &[("Authorization", &bearer)],
    );
    assert_body(&r, 200, "v", "valid Bearer header, bogus accessToken");
}

#[test]
fn long_polls_cannot_watch_keys_outside_the_granted_namespace() {
    // The `tenant` parameter of a poll is only a hint; the records name the
    // keys. A reader of `dev` must not learn (by md5 comparison or wake-ups)
    // anything about keys in other namespaces by sending `tenant=dev`.
    let s = auth_server(&[]);
    let admin = admin_token(s.addr);
    publish_as(s.addr, &admin, "secret", "", "public secret");
    publish_as(s.addr, &admin, "secret", "prod", "prod secret");
    publish_as(s.addr, &admin, "mine", "dev", "v");
    create_user(s.addr, &admin, "alice", "alice-pw");
    add_role(s.addr, &admin, "dev-reader", "alice");
    add_permission(s.addr, &admin, "dev-reader", "dev:*:*", "r");
    let alice = token(s.addr, "alice", "alice-pw", false);
    let guess = md5_hex("wrong guess");
    for (what, records) in [
        ("public key", record("secret", DG, &guess, None)),
        ("prod key", record("secret", DG, &guess, Some("prod"))),
        (
            "dev key plus a public key",
            format!(
                "{}{}",
                record("mine", DG, &md5_hex("v"), Some("dev")),
                record("secret", DG, &guess, None)
            ),
        ),
    ] {
        let body = [
            ("Listening-Configs", records.as_str()),
            ("tenant", "dev"),
            ("accessToken", alice.as_str()),
        ];
        let r = post(
            s.addr,
            "/nacos/v1/cs/configs/listener",
            &[],
            &body,
            &[
                ("Long-Pulling-Timeout", "30000"),
                ("Long-Pulling-Timeout-No-Hangup", "true"),
            ],
        );
        assert_status(&r, 403, &format!("alice polls a {what} with tenant=dev"));
    }
}

#[test]
fn namespace_permission_does_not_cover_namespaces_containing_a_colon() {
    // Tenants may contain `:` (spec §2.1), the separator of permission
    // resources: `dev:*:*` must not match tenant `dev:x`.
    let s = auth_server(&[]);
    let admin = admin_token(s.addr);
    publish_as(s.addr, &admin, "s", "dev", "mine");
    publish_as(s.addr, &admin, "s", "dev:x", "other namespace");
    publish_as(s.addr, &admin, "s", "dev:x:y", "third namespace");
    create_user(s.addr, &admin, "alice", "alice-pw");
    add_role(s.addr, &admin, "dev-reader", "alice");
    add_permission(s.addr, &admin, "dev-reader", "dev:*:*", "r");
    let alice = token(s.addr, "alice", "alice-pw", false);
    assert_content_as(s.addr, &alice, "s", "dev", "mine");
    assert_status(
        &get_as(s.addr, &alice, "s", "dev:x"),
        403,
        "alice reads tenant dev:x",
    );
    assert_status(
        &get_as(s.addr, &alice, "s", "dev:x:y"),
        403,
        "alice reads tenant dev:x:y",
    );
    let q = [
        ("search", "accurate"),
        ("dataId", ""),
        ("group", ""),
        ("tenant", "dev:x"),
        ("pageNo", "1"),
        ("pageSize", "10"),
    ];
    assert_status(
        &get(s.addr, CFG, &with_token(&q, &alice)),
        403,
        "alice searches tenant dev:x",
    );
}

#[test]
fn blur_search_returns_nothing_outside_the_granted_namespace() {
    // In blur mode `_` matches any one character, so the tenant filter
    // `dev_a` also selects tenant `dev-a`; a user granted only `dev_a` must
    // not receive configs of `dev-a`.
    let s = auth_server(&[]);
    let admin = admin_token(s.addr);
    publish_as(s.addr, &admin, "x", "dev_a", "mine");
    publish_as(s.addr, &admin, "x", "dev-a", "not mine");
    create_user(s.addr, &admin, "bob", "bob-pw");
    add_role(s.addr, &admin, "r", "bob");
    add_permission(s.addr, &admin, "r", "dev_a:*:*", "r");
    let bob = token(s.addr, "bob", "bob-pw", false);
    assert_content_as(s.addr, &bob, "x", "dev_a", "mine");
    assert_status(&get_as(s.addr, &bob, "x", "dev-a"), 403, "bob reads dev-a");
    let q = [
        ("search", "blur"),
        ("dataId", "*"),
        ("group", ""),
        ("tenant", "dev_a"),
        ("pageNo", "1"),
        ("pageSize", "10"),
    ];
    let r = get(s.addr, CFG, &with_token(&q, &bob));
    if r.status != 403 {
        let v = json_of(&r, "blur search");
        assert_status(&r, 200, "blur search");
        let tenants: Vec<&str> = v["pageItems"]
            .as_array()
            .expect("pageItems")
            .iter()
            .map(|i| i["tenant"].as_str().unwrap_or("?"))
            .collect();
        assert_eq!(
            tenants,
            vec!["dev_a"],
            "blur search leaks other namespaces: {v}"
        );
        assert_eq!(v["totalCount"], json!(1), "{v}");
    }
}
