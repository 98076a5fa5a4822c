//! Rows C1–C7: query, publish, remove, CAS, beta, tag, bad parameters.

use super::common::probe::Probe;
use super::common::{self, md5_hex};
use super::{expect, grpc, publish, query, registered};
use serde_json::json;

#[test]
fn query_publish_remove_round_trip() {
    let (s, mut p) = registered(&[]);
    let b = expect(
        &query(&mut p, "rt", "G", ""),
        "ConfigQueryResponse",
        500,
        300,
    );
    assert_eq!(b["message"], "config data not exist");
    let b = expect(
        &publish(
            &mut p,
            "rt",
            "G",
            "k: v",
            json!({"type": "yaml", "appName": "app"}),
        ),
        "ConfigPublishResponse",
        200,
        0,
    );
    assert!(b.get("requestId").is_none() || b["requestId"].is_string());
    let b = expect(&query(&mut p, "rt", "G", ""), "ConfigQueryResponse", 200, 0);
    assert_eq!(b["content"], "k: v");
    assert_eq!(b["md5"], md5_hex("k: v").as_str());
    assert_eq!(b["contentType"], "yaml");
    assert_eq!(b["beta"], false);
    assert!(b["lastModified"]
        .as_i64()
        .is_some_and(|t| t > 1_600_000_000_000));
    // HTTP readers see it.
    let r = common::get_config(s.addr, "rt", "G", "");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"k: v"[..]));
    // An unknown type is stored as text.
    expect(
        &publish(&mut p, "rt", "G", "x", json!({"type": "no-such"})),
        "ConfigPublishResponse",
        200,
        0,
    );
    assert_eq!(
        expect(&query(&mut p, "rt", "G", ""), "ConfigQueryResponse", 200, 0)["contentType"],
        "text"
    );
    // Remove, then a miss; removing again succeeds.
    for _ in 0..2 {
        let r = p.unary(
            "ConfigRemoveRequest",
            json!({"dataId": "rt", "group": "G", "tenant": ""}),
        );
        expect(&r, "ConfigRemoveResponse", 200, 0);
    }
    expect(
        &query(&mut p, "rt", "G", ""),
        "ConfigQueryResponse",
        500,
        300,
    );
    assert_eq!(common::get_config(s.addr, "rt", "G", "").status, 404);
}

#[test]
fn request_id_is_echoed() {
    let (_s, mut p) = registered(&[]);
    let r = p.unary(
        "ConfigQueryRequest",
        json!({"dataId": "a", "group": "G", "requestId": "42"}),
    );
    assert_eq!(r["body"]["requestId"], "42");
}

#[test]
fn bad_parameters_table() {
    let (_s, mut p) = registered(&[]);
    // (class, body, response class)
    let cases = [
        (
            "ConfigQueryRequest",
            json!({"group": "G"}),
            "ConfigQueryResponse",
        ),
        (
            "ConfigQueryRequest",
            json!({"dataId": "a b", "group": "G"}),
            "ConfigQueryResponse",
        ),
        (
            "ConfigQueryRequest",
            json!({"dataId": "a", "group": "G", "tenant": "t/x"}),
            "ConfigQueryResponse",
        ),
        (
            "ConfigPublishRequest",
            json!({"dataId": "a", "group": "G"}),
            "ConfigPublishResponse",
        ),
        (
            "ConfigPublishRequest",
            json!({"dataId": "a", "group": "G", "content": "  "}),
            "ConfigPublishResponse",
        ),
        (
            "ConfigPublishRequest",
            json!({"dataId": "a", "group": "", "content": "c"}),
            "ConfigPublishResponse",
        ),
        (
            "ConfigPublishRequest",
            json!({"dataId": "a", "group": "G", "content": "c", "additionMap": {"tag": "a tag"}}),
            "ConfigPublishResponse",
        ),
        (
            "ConfigRemoveRequest",
            json!({"dataId": "", "group": "G"}),
            "ConfigRemoveResponse",
        ),
    ];
    for (class, body, response) in cases {
        let r = p.unary(class, body.clone());
        let b = expect(&r, response, 500, 400);
        assert!(
            b["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{class} {body}: {r}"
        );
    }
}

#[test]
fn cas_publish() {
    let (s, mut p) = registered(&[]);
    expect(
        &publish(&mut p, "cas", "G", "one", json!({})),
        "ConfigPublishResponse",
        200,
        0,
    );
    let cas = |p: &mut Probe, md5: &str, content: &str| {
        p.unary(
            "ConfigPublishRequest",
            json!({"dataId": "cas", "group": "G", "content": content, "casMd5": md5}),
        )
    };
    expect(
        &cas(&mut p, &md5_hex("stale"), "two"),
        "ConfigPublishResponse",
        500,
        500,
    );
    assert_eq!(common::get_config(s.addr, "cas", "G", "").body, b"one");
    expect(
        &cas(&mut p, &md5_hex("one"), "two"),
        "ConfigPublishResponse",
        200,
        0,
    );
    assert_eq!(common::get_config(s.addr, "cas", "G", "").body, b"two");
}

#[test]
fn beta_follows_the_reported_address() {
    let (s, mut p) = registered(&[]);
    expect(
        &publish(&mut p, "b", "G", "formal", json!({})),
        "ConfigPublishResponse",
        200,
        0,
    );
    expect(
        &publish(&mut p, "b", "G", "beta", json!({"betaIps": "10.9.9.9"})),
        "ConfigPublishResponse",
        200,
        0,
    );
    // This probe reported no address: it is 127.0.0.1, not in the list.
    let b = expect(&query(&mut p, "b", "G", ""), "ConfigQueryResponse", 200, 0);
    assert_eq!(
        (b["content"].as_str(), b["beta"].as_bool()),
        (Some("formal"), Some(false))
    );
    // A client reporting 10.9.9.9 at set-up reads the beta.
    let mut q = Probe::connect(grpc(&s));
    q.open(Some("10.9.9.9"));
    let b = expect(&query(&mut q, "b", "G", ""), "ConfigQueryResponse", 200, 0);
    assert_eq!(
        (b["content"].as_str(), b["beta"].as_bool()),
        (Some("beta"), Some(true))
    );
}

#[test]
fn tag_variant() {
    let (_s, mut p) = registered(&[]);
    expect(
        &publish(&mut p, "t", "G", "formal", json!({})),
        "ConfigPublishResponse",
        200,
        0,
    );
    expect(
        &publish(&mut p, "t", "G", "tagged", json!({"tag": "blue"})),
        "ConfigPublishResponse",
        200,
        0,
    );
    let r = p.unary(
        "ConfigQueryRequest",
        json!({"dataId": "t", "group": "G", "tag": "blue"}),
    );
    let b = expect(&r, "ConfigQueryResponse", 200, 0);
    assert_eq!(
        (b["content"].as_str(), b["tag"].as_str()),
        (Some("tagged"), Some("blue"))
    );
    let r = p.unary(
        "ConfigQueryRequest",
        json!({"dataId": "t", "group": "G", "tag": "green"}),
    );
    let b = expect(&r, "ConfigQueryResponse", 500, 300);
    assert_eq!(b["tag"], "green");
    expect(&query(&mut p, "t", "G", ""), "ConfigQueryResponse", 200, 0);
    let r = p.unary(
        "ConfigRemoveRequest",
        json!({"dataId": "t", "group": "G", "tag": "blue"}),
    );
    expect(&r, "ConfigRemoveResponse", 200, 0);
    let r = p.unary(
        "ConfigQueryRequest",
        json!({"dataId": "t", "group": "G", "tag": "blue"}),
    );
    expect(&r, "ConfigQueryResponse", 500, 300);
    assert_eq!(
        expect(&query(&mut p, "t", "G", ""), "ConfigQueryResponse", 200, 0)["content"],
        "formal"
    );
}
