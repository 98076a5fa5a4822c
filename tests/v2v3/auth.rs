//! With auth on, every 2.x/3.x route asks what its 1.x twin asks, and
//! refuses in the same words (Nacos's auth filter is the same for every
//! version); the 3.x login is the one the Java 3.x client calls.

use crate::common::{Response, Server};
use crate::{call, json_of, ok};
use serde_json::json;
use std::net::SocketAddr;

const ADMIN: &str = "nacos";
const ADMIN_PW: &str = "Adm1n-pw";
const READER: &str = "reader";
const READER_PW: &str = "Read3r-pw";

fn auth_server() -> Server {
    Server::start_args(&["--auth", "--auth-admin-password", ADMIN_PW])
}

/// The Java 3.x client's login (client-basic HttpLoginProcessor): the
/// user name in the query, the password in a form body.
fn login_v3(addr: SocketAddr, user: &str, pw: &str) -> Response {
    call(
        addr,
        "POST",
        "/v3/auth/user/login",
        &[("username", user)],
        &[("password", pw)],
        &[],
    )
}

fn token(addr: SocketAddr, user: &str, pw: &str) -> String {
    let r = login_v3(addr, user, pw);
    assert_eq!(r.status, 200, "login {user}: {}", r.text());
    let j = json_of(&r);
    j["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{j}"))
        .to_owned()
}

/// An administrator's form POST to a 1.x account endpoint.
fn admin_post(addr: SocketAddr, admin: &str, path: &str, form: &[(&str, &str)]) {
    let r = call(addr, "POST", path, &[("accessToken", admin)], form, &[]);
    assert_eq!(r.status, 200, "{path} {form:?}: {}", r.text());
}

/// A user who may read every config and write none.
fn add_reader(addr: SocketAddr, admin: &str) {
    admin_post(
        addr,
        admin,
        "/v1/auth/users",
        &[("username", READER), ("password", READER_PW)],
    );
    admin_post(
        addr,
        admin,
        "/v1/auth/roles",
        &[("role", "readers"), ("username", READER)],
    );
    admin_post(
        addr,
        admin,
        "/v1/auth/permissions",
        &[("role", "readers"), ("resource", "*:*:*"), ("action", "r")],
    );
}

#[test]
fn v3_login_answers_the_token_shape_the_java_3_client_reads() {
    let s = auth_server();
    let r = login_v3(s.addr, ADMIN, ADMIN_PW);
    assert_eq!(r.status, 200, "{}", r.text());
    let j = json_of(&r);
    assert!(
        j["accessToken"].as_str().is_some_and(|t| !t.is_empty()),
        "{j}"
    );
    assert_eq!(
        (&j["tokenTtl"], &j["globalAdmin"]),
        (&json!(18000), &json!(true)),
        "{j}"
    );
    // A wrong password is refused as the 1.x login refuses it.
    let v3 = login_v3(s.addr, ADMIN, "wrong");
    let v1 = call(
        s.addr,
        "POST",
        "/v1/auth/users/login",
        &[("username", ADMIN)],
        &[("password", "wrong")],
        &[],
    );
    assert_eq!((v3.status, v3.body), (403, v1.body));
}

/// A 2.x/3.x route with the parameters of one key: (method, path, query).
type Case = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);
const READS: &[Case] = &[
    ("GET", "/v2/cs/config", &[("dataId", "k"), ("group", "G")]),
    (
        "GET",
        "/v2/cs/history/list",
        &[("dataId", "k"), ("group", "G")],
    ),
    (
        "GET",
        "/v2/cs/history",
        &[("dataId", "k"), ("group", "G"), ("nid", "1")],
    ),
    (
        "GET",
        "/v2/cs/history/previous",
        &[("dataId", "k"), ("group", "G"), ("id", "1")],
    ),
    (
        "GET",
        "/v2/cs/history/configs",
        &[("namespaceId", "public")],
    ),
    (
        "GET",
        "/v3/client/cs/config",
        &[("dataId", "k"), ("groupName", "G")],
    ),
    (
        "GET",
        "/v3/admin/cs/config",
        &[("dataId", "k"), ("groupName", "G")],
    ),
    ("GET", "/v3/admin/cs/config/list", &[]),
    (
        "GET",
        "/v3/admin/cs/config/beta",
        &[("dataId", "k"), ("groupName", "G")],
    ),
    ("GET", "/v3/admin/cs/config/export", &[]),
    (
        "GET",
        "/v3/admin/cs/history/list",
        &[("dataId", "k"), ("groupName", "G")],
    ),
    (
        "GET",
        "/v3/admin/cs/history",
        &[("dataId", "k"), ("groupName", "G"), ("nid", "1")],
    ),
    (
        "GET",
        "/v3/admin/cs/history/previous",
        &[("dataId", "k"), ("groupName", "G"), ("id", "1")],
    ),
    (
        "GET",
        "/v3/admin/cs/history/configs",
        &[("namespaceId", "public")],
    ),
];
const WRITES: &[Case] = &[
    (
        "POST",
        "/v2/cs/config",
        &[("dataId", "k"), ("group", "G"), ("content", "w")],
    ),
    (
        "DELETE",
        "/v2/cs/config",
        &[("dataId", "k"), ("group", "G")],
    ),
    (
        "POST",
        "/v3/admin/cs/config",
        &[("dataId", "k"), ("groupName", "G"), ("content", "w")],
    ),
    (
        "DELETE",
        "/v3/admin/cs/config",
        &[("dataId", "k"), ("groupName", "G")],
    ),
    (
        "DELETE",
        "/v3/admin/cs/config/beta",
        &[("dataId", "k"), ("groupName", "G")],
    ),
    (
        "POST",
        "/v3/admin/cs/config/import",
        &[("namespaceId", "public")],
    ),
    (
        "POST",
        "/v3/admin/cs/config/clone",
        &[("namespaceId", "public")],
    ),
];

fn send(addr: SocketAddr, (method, path, q): &Case, token: Option<&str>) -> Response {
    let mut q = q.to_vec();
    if let Some(t) = token {
        q.push(("accessToken", t));
    }
    call(addr, method, path, &q, &[], &[])
}

#[test]
fn every_v2_v3_route_refuses_as_its_v1_twin_without_a_token() {
    let s = auth_server();
    let v1 = call(
        s.addr,
        "GET",
        "/v1/cs/configs",
        &[("dataId", "k"), ("group", "G")],
        &[],
        &[],
    );
    assert_eq!(v1.status, 403);
    for case in READS.iter().chain(WRITES) {
        let r = send(s.addr, case, None);
        assert_eq!((r.status, &r.body), (403, &v1.body), "{case:?}");
    }
    for open in [
        "/v2/console/health/liveness",
        "/v2/console/health/readiness",
    ] {
        assert_eq!(
            call(s.addr, "GET", open, &[], &[], &[]).status,
            200,
            "{open}"
        );
    }
    assert_eq!(
        call(s.addr, "GET", "/v2/console/namespace/list", &[], &[], &[]).status,
        403
    );
}

#[test]
fn a_reader_reads_through_every_version_and_writes_through_none() {
    let s = auth_server();
    let admin = token(s.addr, ADMIN, ADMIN_PW);
    add_reader(s.addr, &admin);
    let reader = token(s.addr, READER, READER_PW);
    let forbidden = send(s.addr, &WRITES[0], Some(&reader));
    assert_eq!(forbidden.status, 403);
    let v1 = call(
        s.addr,
        "POST",
        "/v1/cs/configs",
        &[("accessToken", &reader)],
        &[("dataId", "k"), ("group", "G"), ("content", "w")],
        &[],
    );
    assert_eq!((v1.status, &v1.body), (403, &forbidden.body));
    for case in WRITES {
        let r = send(s.addr, case, Some(&reader));
        assert_eq!((r.status, &r.body), (403, &forbidden.body), "{case:?}");
    }
    for case in READS {
        let r = send(s.addr, case, Some(&reader));
        assert_ne!(r.status, 403, "{case:?}: {}", r.text());
    }
    // The administrator writes; the reader reads it through 2.x and 3.x.
    let r = send(s.addr, &WRITES[0], Some(&admin));
    assert_eq!(json_of(&r), ok(true.into()));
    let r = send(s.addr, &READS[0], Some(&reader));
    assert_eq!((r.status, json_of(&r)), (200, ok("w".into())));
    let r = send(s.addr, &READS[5], Some(&reader));
    assert_eq!(json_of(&r)["data"]["content"], "w");
    let r = call(
        s.addr,
        "GET",
        "/v2/console/namespace/list",
        &[("accessToken", &reader)],
        &[],
        &[],
    );
    assert_eq!(r.status, 200);
}

#[test]
fn a_namespace_permission_reaches_only_that_namespace_in_v2_and_v3() {
    let s = auth_server();
    let admin = token(s.addr, ADMIN, ADMIN_PW);
    admin_post(
        s.addr,
        &admin,
        "/v1/auth/users",
        &[("username", "dev"), ("password", "Dev-pw-1")],
    );
    admin_post(
        s.addr,
        &admin,
        "/v1/auth/roles",
        &[("role", "devs"), ("username", "dev")],
    );
    admin_post(
        s.addr,
        &admin,
        "/v1/auth/permissions",
        &[("role", "devs"), ("resource", "dev:*:*"), ("action", "rw")],
    );
    let dev = token(s.addr, "dev", "Dev-pw-1");
    for (namespace, status) in [("dev", 200), ("public", 403), ("", 403)] {
        let q = [
            ("dataId", "k"),
            ("groupName", "G"),
            ("namespaceId", namespace),
            ("content", "c"),
            ("accessToken", &dev),
        ];
        let r = call(s.addr, "POST", "/v3/admin/cs/config", &q, &[], &[]);
        assert_eq!(r.status, status, "{namespace:?}: {}", r.text());
        let q = [
            ("dataId", "k"),
            ("group", "G"),
            ("namespaceId", namespace),
            ("accessToken", &dev),
        ];
        let r = call(s.addr, "GET", "/v2/cs/config", &q, &[], &[]);
        assert_eq!(
            r.status,
            if status == 200 { 200 } else { 403 },
            "{namespace:?}: {}",
            r.text()
        );
    }
}
