//! Rows A1–A2: the token in the metadata, the HTTP API's permissions.

use super::common::probe::Probe;
use super::common::sdk::{AUTH_ON, AUTH_PASSWORD, AUTH_USER};
use super::common::{self, Server};
use super::{expect, grpc};
use serde_json::{json, Value};

fn login(s: &Server, user: &str, password: &str) -> String {
    let body = common::form(&[("username", user), ("password", password)]);
    let r = common::request(
        s.addr,
        &common::post_raw("/nacos/v1/auth/users/login", &[], body.as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", common::lossy(&r.body));
    let v: Value = serde_json::from_slice(&r.body).expect("login JSON");
    v["accessToken"].as_str().expect("accessToken").to_owned()
}

#[test]
fn permissions_as_over_http() {
    let s = Server::start_args(AUTH_ON);
    let admin = login(&s, AUTH_USER, AUTH_PASSWORD);
    // A reader of namespace-less group R only.
    let post = |path: &str, pairs: &[(&str, &str)]| {
        let q = common::form(pairs);
        let r = common::request(
            s.addr,
            &common::post_raw(&format!("{path}?accessToken={admin}"), &[], q.as_bytes()),
        );
        assert_eq!(r.status, 200, "{path}: {}", common::lossy(&r.body));
    };
    post(
        "/nacos/v1/auth/users",
        &[("username", "reader"), ("password", "reader-pw")],
    );
    post(
        "/nacos/v1/auth/roles",
        &[("role", "readers"), ("username", "reader")],
    );
    post(
        "/nacos/v1/auth/permissions",
        &[("role", "readers"), ("resource", ":R:*"), ("action", "r")],
    );
    let reader = login(&s, "reader", "reader-pw");

    let mut p = Probe::connect(grpc(&s));
    p.open(None);
    let call = |p: &mut Probe, token: Option<&str>, class: &str, body: Value| {
        let headers = match token {
            Some(t) => json!({"accessToken": t}),
            None => json!({}),
        };
        p.unary_with(class, body, headers)
    };
    let publish = json!({"dataId": "d", "group": "R", "content": "c"});
    let query = json!({"dataId": "d", "group": "R"});
    let listen =
        json!({"listen": true, "configListenContexts": [{"dataId": "d", "group": "R", "md5": ""}]});
    // (token, class, body, response class, errorCode)
    let rows: Vec<(Option<&str>, &str, &Value, &str, i64)> = vec![
        (
            None,
            "ConfigQueryRequest",
            &query,
            "ConfigQueryResponse",
            403,
        ),
        (
            Some("forged"),
            "ConfigQueryRequest",
            &query,
            "ConfigQueryResponse",
            403,
        ),
        (
            None,
            "ConfigBatchListenRequest",
            &listen,
            "ConfigChangeBatchListenResponse",
            403,
        ),
        (
            Some(&reader),
            "ConfigPublishRequest",
            &publish,
            "ConfigPublishResponse",
            403,
        ),
        (
            Some(&admin),
            "ConfigPublishRequest",
            &publish,
            "ConfigPublishResponse",
            0,
        ),
        (
            Some(&reader),
            "ConfigQueryRequest",
            &query,
            "ConfigQueryResponse",
            0,
        ),
        (
            Some(&reader),
            "ConfigBatchListenRequest",
            &listen,
            "ConfigChangeBatchListenResponse",
            0,
        ),
        (
            Some(&reader),
            "ConfigRemoveRequest",
            &query,
            "ConfigRemoveResponse",
            403,
        ),
    ];
    for (token, class, body, response, code) in rows {
        let r = call(&mut p, token, class, body.clone());
        let result = if code == 0 { 200 } else { 500 };
        let b = expect(&r, response, result, code);
        if code == 403 {
            assert!(
                b["message"].as_str().is_some_and(|m| m.ends_with('!')),
                "{r}"
            );
        }
    }
    // A reader may not read another group.
    let other = json!({"dataId": "d", "group": "W"});
    expect(
        &call(&mut p, Some(&reader), "ConfigQueryRequest", other),
        "ConfigQueryResponse",
        500,
        403,
    );
}
