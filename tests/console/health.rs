//! X: health, state, listener status

use super::*;

const IP_STATUS: &str = "/nacos/v1/cs/listener";

#[test]
fn x03_listener_status_by_key() {
    let s = Server::start();
    publish_ok(s.addr, "ls.yaml", DG, "", "v1");
    let md5 = md5_hex("v1");
    let _poll = park_with(s.addr, &record("ls.yaml", DG, &md5, None), &[]);
    eventually_json(
        s.addr,
        KEY_STATUS,
        &[("dataId", "ls.yaml"), ("group", DG)],
        &status_of(json!({"127.0.0.1": md5})),
    );
    // A blank group means DEFAULT_GROUP.
    assert_eq!(
        status_json(s.addr, KEY_STATUS, &[("dataId", "ls.yaml"), ("group", "")]),
        status_of(json!({"127.0.0.1": md5}))
    );
    // Other keys, groups, tenants: nobody listens.
    for q in [
        vec![("dataId", "other"), ("group", DG)],
        vec![("dataId", "ls.yaml"), ("group", "G2")],
        vec![("dataId", "ls.yaml"), ("group", DG), ("tenant", "dev")],
    ] {
        assert_eq!(
            status_json(s.addr, KEY_STATUS, &q),
            status_of(json!({})),
            "{q:?}"
        );
    }
}

#[test]
fn x03_listener_status_reports_the_md5_the_client_sent_and_forgets_answered_polls() {
    let s = Server::start();
    // The client claims an md5 of nothing: absent key, md5 "".
    let _absent = park_with(s.addr, &record("nothing", DG, "", Some("dev")), &[]);
    eventually_json(
        s.addr,
        KEY_STATUS,
        &[("dataId", "nothing"), ("group", DG), ("tenant", "dev")],
        &status_of(json!({"127.0.0.1": ""})),
    );
    publish_ok(s.addr, "w", DG, "", "a");
    let mut poll = park_with(s.addr, &record("w", DG, &md5_hex("a"), None), &[]);
    eventually_json(
        s.addr,
        KEY_STATUS,
        &[("dataId", "w"), ("group", DG)],
        &status_of(json!({"127.0.0.1": md5_hex("a")})),
    );
    publish_ok(s.addr, "w", DG, "", "b");
    assert_woken(&mut poll, &reply1("w", DG, None), "publish wakes");
    // An answered poll is no longer listed.
    assert_eq!(
        status_json(s.addr, KEY_STATUS, &[("dataId", "w"), ("group", DG)]),
        status_of(json!({}))
    );
}

#[test]
fn x03_listener_status_by_ip() {
    let s = Server::start();
    publish_ok(s.addr, "k1", DG, "", "one");
    publish_ok(s.addr, "k2", DG, "dev", "two");
    let m1 = md5_hex("one");
    let m2 = md5_hex("two");
    let records = format!(
        "{}{}",
        record("k1", DG, &m1, None),
        record("k2", DG, &m2, Some("dev"))
    );
    let _poll = park_with(s.addr, &records, &[]);
    // all=true: every key.
    eventually_json(
        s.addr,
        IP_STATUS,
        &[("ip", "127.0.0.1"), ("all", "true")],
        &status_of(json!({"k1+DEFAULT_GROUP": m1, "k2+DEFAULT_GROUP+dev": m2})),
    );
    // Default: only keys without a tenant.
    assert_eq!(
        status_json(s.addr, IP_STATUS, &[("ip", "127.0.0.1")]),
        status_of(json!({"k1+DEFAULT_GROUP": m1}))
    );
    assert_eq!(
        status_json(s.addr, IP_STATUS, &[("ip", "127.0.0.1"), ("all", "false")]),
        status_of(json!({"k1+DEFAULT_GROUP": m1}))
    );
    // tenant=dev: keys of that tenant.
    assert_eq!(
        status_json(s.addr, IP_STATUS, &[("ip", "127.0.0.1"), ("tenant", "dev")]),
        status_of(json!({"k2+DEFAULT_GROUP+dev": m2}))
    );
    // Another address listens to nothing.
    assert_eq!(
        status_json(s.addr, IP_STATUS, &[("ip", "10.9.9.9"), ("all", "true")]),
        status_of(json!({}))
    );
}

#[test]
fn x03_listener_status_names_proxied_requesters() {
    let s = Server::start_args(&["--trust-proxy-headers"]);
    publish_ok(s.addr, "px", DG, "", "v");
    let m = md5_hex("v");
    let _a = park_with(
        s.addr,
        &record("px", DG, &m, None),
        &[("X-Forwarded-For", "10.0.0.7")],
    );
    let _b = park_with(
        s.addr,
        &record("px", DG, &m, None),
        &[("X-Forwarded-For", "10.0.0.8, 192.168.0.1")],
    );
    eventually_json(
        s.addr,
        KEY_STATUS,
        &[("dataId", "px"), ("group", DG)],
        &status_of(json!({"10.0.0.7": m, "10.0.0.8": m})),
    );
    assert_eq!(
        status_json(s.addr, IP_STATUS, &[("ip", "10.0.0.7")]),
        status_of(json!({"px+DEFAULT_GROUP": m}))
    );
}
