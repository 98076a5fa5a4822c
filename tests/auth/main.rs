//! Authentication and authorisation against the spec
//! (`spec/nacos-v1-config.md` in the project's shared folder) §8 and the §13 rows A01-A09:
//! auth off (any credentials are ignored, login always answers a token),
//! auth on (`--auth`): login in the Python, Java and Go styles, tokens in the
//! query, the form body or an `Authorization: Bearer` header, Node-style
//! `username`/`password` on ordinary requests, 403 for missing, invalid,
//! tampered, foreign and expired credentials, no `User-Agent: Nacos-Server`
//! bypass, the start-up rules for the administrator password, and user, role
//! and permission management with namespace-scoped read/write permissions.
//! Each test starts its own `vigil` process and speaks raw HTTP/1.1.

#[path = "../common/mod.rs"]
mod common;

use common::{delete, get, get_h, lossy, raw, target};
use common::{form, md5_hex, record, request, Conn, Response, Server};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ExitStatus};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const CFG: &str = "/nacos/v1/cs/configs";
const LOGIN: &str = "/nacos/v1/auth/login";
const USERS_LOGIN: &str = "/nacos/v1/auth/users/login";
const USERS: &str = "/nacos/v1/auth/users";
const ROLES: &str = "/nacos/v1/auth/roles";
const PERMISSIONS: &str = "/nacos/v1/auth/permissions";
const DG: &str = "DEFAULT_GROUP";
const FORM_CT: &str = "application/x-www-form-urlencoded;charset=UTF-8";
const ADMIN: &str = "nacos";
const ADMIN_PW: &str = "Adm1n-pw";

// ---------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------

/// A server with auth on and a known administrator password.
fn auth_server(extra: &[&str]) -> Server {
    let mut args = vec!["--auth", "--auth-admin-password", ADMIN_PW];
    args.extend_from_slice(extra);
    Server::start_args(&args)
}

/// A `vigil` process started with an exact environment (the shared helper
/// removes every `VIGIL_*` variable). Killed when dropped.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    fn spawn(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let mut cmd = common::vigil_command(data_dir, args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn vigil");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc { child, lines }
    }

    /// Either the listening address, or the exit status if the process
    /// ended first; panics if neither happens within 30 s.
    fn outcome(&mut self) -> Result<SocketAddr, ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            while let Ok(line) = self.lines.try_recv() {
                if let Some(rest) = line.strip_prefix("vigil listening on ") {
                    return Ok(rest.trim().parse().expect("address"));
                }
            }
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                // Drain what it printed before exiting.
                std::thread::sleep(Duration::from_millis(50));
                while let Ok(line) = self.lines.try_recv() {
                    if let Some(rest) = line.strip_prefix("vigil listening on ") {
                        panic!("vigil listened on {rest} and then exited with {st}");
                    }
                }
                return Err(st);
            }
            assert!(
                Instant::now() < deadline,
                "vigil neither listened nor exited within 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

/// A form POST: `query` pairs in the query string, `body` pairs in the body.
fn post(
    addr: SocketAddr,
    path: &str,
    query: &[(&str, &str)],
    body: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Response {
    let mut h = vec![("Content-Type", FORM_CT)];
    h.extend_from_slice(headers);
    request(
        addr,
        &raw(
            "POST",
            &target(path, query),
            &h,
            Some(form(body).as_bytes()),
        ),
    )
}

fn assert_body(r: &Response, status: u16, body: &str, what: &str) {
    assert_eq!(
        (r.status, lossy(&r.body).as_str()),
        (status, body),
        "{what}: status and exact body"
    );
}

fn assert_status(r: &Response, status: u16, what: &str) {
    assert_eq!(r.status, status, "{what}: body {:?}", lossy(&r.body));
}

fn json_of(r: &Response, what: &str) -> Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{what}: body is not JSON ({e}): {:?}", lossy(&r.body)))
}

/// The three keys of a config.
fn key<'a>(data_id: &'a str, tenant: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("dataId", data_id), ("group", DG), ("tenant", tenant)]
}

/// Key pairs plus an access token.
fn with_token<'a>(pairs: &[(&'a str, &'a str)], token: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut p = pairs.to_vec();
    p.push(("accessToken", token));
    p
}

fn publish_body<'a>(
    data_id: &'a str,
    tenant: &'a str,
    content: &'a str,
) -> Vec<(&'a str, &'a str)> {
    let mut p = key(data_id, tenant);
    p.push(("content", content));
    p
}

/// Publishes with the token in the query string and asserts `true`.
fn publish_as(addr: SocketAddr, token: &str, data_id: &str, tenant: &str, content: &str) {
    let r = post(
        addr,
        CFG,
        &[("accessToken", token)],
        &publish_body(data_id, tenant, content),
        &[],
    );
    assert_body(
        &r,
        200,
        "true",
        &format!("publish {data_id}/{tenant:?} with a token"),
    );
}

/// GETs a config with the token in the query string.
fn get_as(addr: SocketAddr, token: &str, data_id: &str, tenant: &str) -> Response {
    get(addr, CFG, &with_token(&key(data_id, tenant), token))
}

fn assert_content_as(addr: SocketAddr, token: &str, data_id: &str, tenant: &str, content: &str) {
    let r = get_as(addr, token, data_id, tenant);
    assert_body(
        &r,
        200,
        content,
        &format!("GET {data_id}/{tenant:?} with a token"),
    );
}

// ---------------------------------------------------------------------------
// Login
// ---------------------------------------------------------------------------

/// Checks a successful login answer (spec §8.2) and returns the token.
fn check_login(r: &Response, ttl: i64, admin: bool, what: &str) -> String {
    assert_status(r, 200, what);
    let v = json_of(r, what);
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("{what}: JSON object: {v}"));
    let token = obj
        .get("accessToken")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{what}: accessToken must be a string: {v}"))
        .to_string();
    assert!(!token.is_empty(), "{what}: empty accessToken");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')),
        "{what}: token must be URL-safe (A-Z a-z 0-9 - _ .): {token:?}"
    );
    assert!(
        obj.get("tokenTtl")
            .is_some_and(|t| t.is_i64() || t.is_u64()),
        "{what}: tokenTtl must be a JSON integer: {v}"
    );
    assert_eq!(obj["tokenTtl"], json!(ttl), "{what}: tokenTtl");
    assert_eq!(obj["globalAdmin"], json!(admin), "{what}: globalAdmin");
    assert_eq!(
        r.header("Authorization"),
        Some(format!("Bearer {token}").as_str()),
        "{what}: Authorization header"
    );
    token
}

/// Java 1.4 style: `?username=` in the query, `password` in the body.
fn login_java(addr: SocketAddr, user: &str, pw: &str) -> Response {
    post(
        addr,
        USERS_LOGIN,
        &[("username", user)],
        &[("password", pw)],
        &[],
    )
}

/// Python v1 style: both in the query, no body.
fn login_python(addr: SocketAddr, user: &str, pw: &str) -> Response {
    let t = target(LOGIN, &[("username", user), ("password", pw)]);
    request(
        addr,
        &raw(
            "POST",
            &t,
            &[("Content-type", "application/x-www-form-urlencoded")],
            Some(b""),
        ),
    )
}

/// Go v1 style: both in the form body.
fn login_go(addr: SocketAddr, user: &str, pw: &str) -> Response {
    post(
        addr,
        USERS_LOGIN,
        &[],
        &[("username", user), ("password", pw)],
        &[],
    )
}

/// Logs in and returns the token (auth on, default TTL).
fn token(addr: SocketAddr, user: &str, pw: &str, admin: bool) -> String {
    check_login(
        &login_go(addr, user, pw),
        18000,
        admin,
        &format!("login {user}"),
    )
}

fn admin_token(addr: SocketAddr) -> String {
    token(addr, ADMIN, ADMIN_PW, true)
}

// ---------------------------------------------------------------------------
// A01, A02: auth off
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// A03, A07, A09: login with auth on
// ---------------------------------------------------------------------------

#[test]
fn a03_login_in_the_three_client_styles() {
    let s = auth_server(&[]);
    let t1 = check_login(
        &login_python(s.addr, ADMIN, ADMIN_PW),
        18000,
        true,
        "python style on /v1/auth/login",
    );
    let t2 = check_login(
        &login_java(s.addr, ADMIN, ADMIN_PW),
        18000,
        true,
        "java style on /v1/auth/users/login",
    );
    let t3 = check_login(
        &login_go(s.addr, ADMIN, ADMIN_PW),
        18000,
        true,
        "go style on /v1/auth/users/login",
    );
    // Both paths accept every style.
    check_login(
        &post(
            s.addr,
            LOGIN,
            &[],
            &[("username", ADMIN), ("password", ADMIN_PW)],
            &[],
        ),
        18000,
        true,
        "form body on /v1/auth/login",
    );
    check_login(
        &post(
            s.addr,
            USERS_LOGIN,
            &[("username", ADMIN), ("password", ADMIN_PW)],
            &[],
            &[],
        ),
        18000,
        true,
        "query on /v1/auth/users/login",
    );
    // Every token works.
    for t in [&t1, &t2, &t3] {
        let r = get_as(s.addr, t, "absent", "");
        assert_body(&r, 404, "config data not exist\n", "GET with a fresh token");
    }
}

#[test]
fn a07_wrong_password_or_unknown_user_is_403_unknown_user() {
    let s = auth_server(&[]);
    for (what, r) in [
        (
            "wrong password, python",
            login_python(s.addr, ADMIN, "wrong"),
        ),
        ("wrong password, java", login_java(s.addr, ADMIN, "wrong")),
        ("wrong password, go", login_go(s.addr, ADMIN, "wrong")),
        ("unknown user", login_go(s.addr, "ghost", ADMIN_PW)),
        (
            "password of another case",
            login_go(s.addr, ADMIN, &ADMIN_PW.to_uppercase()),
        ),
        ("empty password", login_go(s.addr, ADMIN, "")),
    ] {
        assert_body(&r, 403, "unknown user!", what);
        assert_eq!(r.header("Authorization"), None, "{what}: no token header");
    }
}

#[test]
fn a09_tokens_are_url_safe_and_work_unescaped_in_the_query() {
    let s = auth_server(&[]);
    let admin = admin_token(s.addr);
    publish_as(s.addr, &admin, "a09", "", "v");
    for _ in 0..5 {
        // check_login asserts the character set.
        let t = admin_token(s.addr);
        // Go v1 inserts the token without escaping.
        let q = format!("{CFG}?dataId=a09&group={DG}&accessToken={t}");
        let r = request(s.addr, &raw("GET", &q, &[], None));
        assert_body(&r, 200, "v", "token pasted raw into the query");
    }
}

// ---------------------------------------------------------------------------
// A04, A05: presenting credentials
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// A06, A08: rejections
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Start-up rules for the administrator
// ---------------------------------------------------------------------------

#[test]
fn auth_without_admin_password_refuses_to_start() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut p = Proc::spawn(&tmp.path().join("data"), &["--auth"], &[]);
    match p.outcome() {
        Ok(addr) => panic!("vigil started on {addr} with --auth, no users and no password"),
        Err(st) => assert!(!st.success(), "exit status must be non-zero: {st}"),
    }
    // An empty password is no password.
    let mut p = Proc::spawn(
        &tmp.path().join("data2"),
        &["--auth"],
        &[("VIGIL_AUTH_ADMIN_PASSWORD", "")],
    );
    if let Ok(addr) = p.outcome() {
        // Tolerated only if the empty password cannot be used to log in.
        let r = login_go(addr, ADMIN, "");
        assert_body(
            &r,
            403,
            "unknown user!",
            "empty admin password must not log in",
        );
    }
}

#[test]
fn admin_password_from_the_environment() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut p = Proc::spawn(
        &tmp.path().join("data"),
        &["--auth"],
        &[("VIGIL_AUTH_ADMIN_PASSWORD", "from-env")],
    );
    let addr = p
        .outcome()
        .unwrap_or_else(|st| panic!("vigil exited: {st}"));
    let t = token(addr, ADMIN, "from-env", true);
    publish_as(addr, &t, "env", "", "v");
    assert_body(
        &login_go(addr, ADMIN, ADMIN_PW),
        403,
        "unknown user!",
        "another password",
    );
}

#[test]
fn custom_admin_user_name() {
    let s = Server::start_args(&[
        "--auth",
        "--auth-admin-user",
        "root",
        "--auth-admin-password",
        "rootpw",
    ]);
    let t = token(s.addr, "root", "rootpw", true);
    publish_as(s.addr, &t, "root", "", "v");
    assert_body(
        &login_go(s.addr, "nacos", "rootpw"),
        403,
        "unknown user!",
        "no nacos user",
    );
}

#[test]
fn restart_with_existing_users_needs_no_admin_password() {
    let mut s = auth_server(&[]);
    let t = admin_token(s.addr);
    publish_as(s.addr, &t, "persist", "", "v");
    let r = post(
        s.addr,
        USERS,
        &[("accessToken", &t)],
        &[("username", "alice"), ("password", "alice-pw")],
        &[],
    );
    assert_body(
        &r,
        200,
        r#"{"code":200,"message":"create user ok!","data":null}"#,
        "create alice",
    );
    let tmp = s.take_tmp();
    let dir = s.data_dir.clone();
    let st = s.sigterm();
    assert!(st.success(), "graceful stop: {st}");
    drop(s);
    let s2 = Server::start_in(&dir, &["--auth"]);
    let t2 = admin_token(s2.addr);
    assert_content_as(s2.addr, &t2, "persist", "", "v");
    token(s2.addr, "alice", "alice-pw", false);
    // Still locked.
    assert_status(
        &get(s2.addr, CFG, &key("persist", "")),
        403,
        "no credentials after restart",
    );
    drop(s2);
    drop(tmp);
}

// ---------------------------------------------------------------------------
// Users, roles, permissions
// ---------------------------------------------------------------------------

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
