//! Rows P1–P5 and C8: batch listens, pushes, both doors, namespaces.

use super::common::probe::Probe;
use super::common::sse::Stream;
use super::common::{self, md5_hex, park, record, PROMPT};
use super::{expect, grpc, listeners_of, registered};
use serde_json::json;
use std::io::BufRead;

#[test]
fn batch_listen_answers_changed_keys() {
    let (s, mut p) = registered(&[]);
    common::publish_ok(s.addr, "up", "G", "", "same");
    common::publish_ok(s.addr, "old", "G", "", "new");
    common::publish_ok(s.addr, "ns", "G", "n1", "x");
    let r = p.listen(&[
        ("up", "G", "", &md5_hex("same")),
        ("old", "G", "", &md5_hex("stale")),
        ("absent", "G", "", ""),
        ("gone", "G", "", &md5_hex("was")),
        ("ns", "G", "n1", ""),
    ]);
    let b = expect(&r, "ConfigChangeBatchListenResponse", 200, 0);
    let mut changed: Vec<String> = b["changedConfigs"]
        .as_array()
        .expect("changedConfigs")
        .iter()
        .map(|c| format!("{}/{}/{}", c["dataId"], c["group"], c["tenant"]))
        .collect();
    changed.sort();
    assert_eq!(
        changed,
        [
            "\"gone\"/\"G\"/\"\"",
            "\"ns\"/\"G\"/\"n1\"",
            "\"old\"/\"G\"/\"\""
        ]
    );
}

#[test]
fn pushed_exactly_to_listeners() {
    let (s, mut a) = registered(&[]);
    let mut b = Probe::connect(grpc(&s));
    b.open(None);
    a.listen(&[("k1", "G", "", ""), ("k2", "G", "", "")]);
    b.listen(&[("k2", "G", "", ""), ("fence", "G", "", "")]);
    // k1 reaches a only; k2 both, once each.
    common::publish_ok(s.addr, "k1", "G", "", "v1");
    common::publish_ok(s.addr, "k2", "G", "", "v2");
    let n = a.next_notify(10.0);
    assert_eq!(
        n,
        json!({"headers": {}, "requestId": n["requestId"], "module": "config", "dataId": "k1", "group": "G"})
    );
    assert_eq!(a.next_notify(10.0)["dataId"], "k2");
    assert_eq!(b.next_notify(10.0)["dataId"], "k2");
    // An identical re-publish alters nothing a listener reads: no push.
    // The fence (a later change b listens to) must be b's next message.
    common::publish_ok(s.addr, "k2", "G", "", "v2");
    common::publish_ok(s.addr, "fence", "G", "", "f");
    assert_eq!(b.next_notify(10.0)["dataId"], "fence");
    // a heard nothing more either.
    assert!(a.recv(0.3)["timeout"] == true);
}

#[test]
fn unlisten_stops_pushes() {
    let (s, mut p) = registered(&[]);
    p.listen(&[("u", "G", "", ""), ("fence", "G", "", "")]);
    let r = p.unary(
        "ConfigBatchListenRequest",
        json!({"listen": false, "configListenContexts": [{"dataId": "u", "group": "G", "tenant": ""}]}),
    );
    expect(&r, "ConfigChangeBatchListenResponse", 200, 0);
    common::publish_ok(s.addr, "u", "G", "", "x");
    common::publish_ok(s.addr, "fence", "G", "", "f");
    assert_eq!(p.next_notify(10.0)["dataId"], "fence");
}

#[test]
fn doors_wake_each_other() {
    let (s, mut p) = registered(&[]);
    // A v1 long poll and a watch stream on the key, then a gRPC publish.
    let mut poll = park(s.addr, &record("door", "G", "", None));
    common::settle(s.addr, &mut poll, 1, "parked before the gRPC publish");
    let mut stream = Stream::open(s.addr, "dataId=door&group=G", &[]);
    assert!(stream.snapshot().is_empty());
    let r = p.unary(
        "ConfigPublishRequest",
        json!({"dataId": "door", "group": "G", "content": "from grpc"}),
    );
    expect(&r, "ConfigPublishResponse", 200, 0);
    poll.set_read_timeout(PROMPT);
    let answer = poll.read_response();
    assert_eq!(answer.status, 200);
    assert_eq!(common::reply_records(&answer.body)[0][0], "door");
    let ev = stream.next_event(PROMPT).expect("a watch event");
    assert_eq!(ev.field("dataId"), "door");
    // And an HTTP publish pushes the gRPC listener.
    p.listen(&[("door", "G", "", &md5_hex("from grpc"))]);
    common::publish_ok(s.addr, "door", "G", "", "from http");
    assert_eq!(p.next_notify(10.0)["dataId"], "door");
    let b = expect(
        &super::query(&mut p, "door", "G", ""),
        "ConfigQueryResponse",
        200,
        0,
    );
    assert_eq!(b["content"], "from http");
    let _ = poll.reader.fill_buf();
}

#[test]
fn listener_queries_show_grpc() {
    let (s, mut p) = registered(&[]);
    assert_eq!(listeners_of(s.addr, "seen"), 0);
    p.listen(&[("seen", "G", "", &md5_hex("m"))]);
    let r = common::get(
        s.addr,
        "/nacos/v1/cs/configs/listener",
        &[("dataId", "seen"), ("group", "G")],
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(
        v["lisentersGroupkeyStatus"]["127.0.0.1"],
        md5_hex("m").as_str(),
        "{v}"
    );
    let r = common::get(s.addr, "/nacos/v1/cs/listener", &[("ip", "127.0.0.1")]);
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(
        v["lisentersGroupkeyStatus"]["seen+G"],
        md5_hex("m").as_str(),
        "{v}"
    );
}

#[test]
fn namespaces_are_separate() {
    let (s, mut p) = registered(&[]);
    p.listen(&[("n", "G", "public", ""), ("n", "G", "ns1", "")]);
    common::publish_ok(s.addr, "n", "G", "ns1", "in ns1");
    let n = p.next_notify(10.0);
    assert_eq!(
        (n["dataId"].as_str(), n["tenant"].as_str()),
        (Some("n"), Some("ns1"))
    );
    common::publish_ok(s.addr, "n", "G", "", "in public");
    // Echoed as the client spelt it.
    assert_eq!(p.next_notify(10.0)["tenant"], "public");
    let b = expect(
        &super::query(&mut p, "n", "G", "ns1"),
        "ConfigQueryResponse",
        200,
        0,
    );
    assert_eq!(b["content"], "in ns1");
    let b = expect(
        &super::query(&mut p, "n", "G", "public"),
        "ConfigQueryResponse",
        200,
        0,
    );
    assert_eq!(b["content"], "in public");
}
