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
use common::{form, md5_hex, record, request, Conn, Exited, Response, Server};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::Path;
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

/// A `vigil` started with an exact environment (the shared helper removes
/// every `VIGIL_*` variable): the server once it listens, or how it ended.
fn vigil_with_env(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Server, Exited> {
    let mut cmd = common::vigil_command(data_dir, args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Server::launch(cmd, data_dir)
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

mod credentials;
mod login;
mod off;
mod rejections;
mod startup;
mod users;
