//! nacos-client 1.x scenarios: reads, typed publishes and removes; listeners
//! on several keys; namespaces; credentials; a full idle hold; thousands of
//! keys over several long-polling tasks. Each starts a server and a driver
//! JVM of its own, and ends with the server's counters clean (nothing refused,
//! no write failed), the client's log clean where nothing should go wrong, and
//! the server exiting 0 on SIGTERM.

use crate::common::{self, Server};
use crate::driver::{Change, Driver, GET_TIMEOUT_MS};
use crate::stop_cleanly;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const G: &str = "DEFAULT_GROUP";
/// A change must reach its listener within this (the bound; the
/// long poll answers at once and the client fetches the new content).
const PROMPT: Duration = Duration::from_secs(1);
/// Upper bound for anything the client does on its own schedule.
const PATIENCE: Duration = Duration::from_secs(30);

fn change(client: &str, data_id: &str, group: &str, content: Option<&str>) -> Change {
    Change {
        client: client.to_string(),
        data_id: data_id.to_string(),
        group: group.to_string(),
        content: content.map(str::to_string),
    }
}

/// Ends a scenario where nothing should have gone wrong: the client quits
/// having logged no error, warning or timeout, the server counted no
/// refusal and no failed write, and it exits 0 on SIGTERM.
fn finish(d: Driver, server: Server, what: &str) {
    d.quit_quietly();
    common::assert_failures(server.addr, &[], what);
    stop_cleanly(server, what);
}

/// The server holds `n` parked polls (the client's long-polling tasks).
fn parked(addr: SocketAddr, n: u64, what: &str) {
    common::wait_parked(addr, n, what);
}

/// getConfig of a missing key is null; publishConfig with a type stores
/// content and type (the server answers `Config-Type` with it); a publish
/// without a type is text; special characters and CJK round-trip;
/// removeConfig deletes, and removing again still answers true.
#[test]
fn get_publish_with_type_and_remove() {
    let server = Server::start();
    let addr = server.addr;
    let mut d = Driver::on("nacos-client basic", addr);
    let cases: &[(&str, &str, &str, Option<&str>, &str)] = &[
        // (dataId, group, content, type given, type the server reports)
        (
            "java.yaml",
            G,
            "server:\n  port: 8080\nname: 中文\n",
            Some("yaml"),
            "yaml",
        ),
        (
            "java.props",
            "JAVA_GROUP",
            "a=1\nb=x&y=%z+ü\r\n",
            Some("properties"),
            "properties",
        ),
        ("java.json", G, "{\"k\": [1, 2]}", Some("json"), "json"),
        ("java.plain", G, "just text", None, "text"),
    ];
    for &(data_id, group, content, given, reported) in cases {
        assert_eq!(d.get("c", data_id, group), None, "{data_id} before publish");
        assert!(
            d.publish("c", data_id, group, content, given),
            "publish {data_id}"
        );
        assert_eq!(
            d.get("c", data_id, group).as_deref(),
            Some(content),
            "{data_id}"
        );
        let on_wire = common::get_config(addr, data_id, group, "");
        assert_eq!(on_wire.status, 200, "GET {data_id} over HTTP");
        assert_eq!(on_wire.body, content.as_bytes(), "{data_id} over HTTP");
        assert_eq!(
            on_wire.header("Config-Type"),
            Some(reported),
            "{data_id}: the type the client published"
        );
    }
    for &(data_id, group, ..) in cases {
        assert!(d.remove("c", data_id, group), "remove {data_id}");
        assert_eq!(d.get("c", data_id, group), None, "{data_id} after remove");
        assert_eq!(common::get_config(addr, data_id, group, "").status, 404);
        assert!(d.remove("c", data_id, group), "removing {data_id} again");
    }
    finish(d, server, "nacos-client basic");
}

/// Listeners on five keys (two groups): each change, published over HTTP or
/// by the client itself, reaches that key's listener and no other within a
/// second; an identical re-publish calls no listener; a delete calls it with
/// null; a re-create calls it again.
#[test]
fn listeners_get_their_own_changes_within_a_second() {
    let server = Server::start();
    let addr = server.addr;
    let mut d = Driver::on("nacos-client listeners", addr);
    let keys: Vec<(String, &str)> = (0..5)
        .map(|i| (format!("java.listen.{i}"), if i < 3 { G } else { "OTHER" }))
        .collect();
    for (data_id, group) in &keys {
        d.listen("c", data_id, group);
    }
    parked(addr, 1, "the client's long poll over five keys");
    let mut slowest = Duration::ZERO;
    let mut expect = |d: &mut Driver, data_id: &str, group: &str, content: Option<&str>, at| {
        let took = d.expect_change(&change("c", data_id, group, content), at, PROMPT);
        assert!(
            took <= PROMPT,
            "{data_id}: the change took {took:?} to reach its listener"
        );
        slowest = slowest.max(took);
    };
    for round in 0..2 {
        for (i, (data_id, group)) in keys.iter().enumerate() {
            let content = format!("round {round} key {i}");
            let at = Instant::now();
            if round == 0 {
                common::publish_ok(addr, data_id, group, "", &content);
            } else {
                assert!(d.publish("c", data_id, group, &content, None));
            }
            expect(&mut d, data_id, group, Some(&content), at);
        }
    }
    // The same content again changes no md5: no callback. The next real
    // change (another key) must be the next callback.
    let (k0, g0) = (&keys[0].0, keys[0].1);
    common::publish_ok(addr, k0, g0, "", "round 1 key 0");
    let at = Instant::now();
    common::publish_ok(addr, &keys[1].0, keys[1].1, "", "after the identical one");
    expect(
        &mut d,
        &keys[1].0,
        keys[1].1,
        Some("after the identical one"),
        at,
    );
    let at = Instant::now();
    assert!(d.remove("c", k0, g0));
    expect(&mut d, k0, g0, None, at);
    let at = Instant::now();
    common::publish_ok(addr, k0, g0, "", "back");
    expect(&mut d, k0, g0, Some("back"), at);
    d.expect_no_change(Duration::from_millis(500), "after the last change");
    println!("slowest change to reach its listener: {slowest:?}");
    finish(d, server, "nacos-client listeners");
}

/// Clients in the public namespace and in two others, with the same dataId
/// and group: each reads and publishes its own value, and a change in one
/// namespace reaches only that namespace's listener.
#[test]
fn namespaces_keep_values_and_listeners_apart() {
    let server = Server::start();
    let addr = server.addr;
    let mut d = Driver::start("nacos-client namespaces");
    let spaces = [("pub", ""), ("dev", "dev"), ("test", "test-ns")];
    for (name, ns) in spaces {
        let props: &[(&str, &str)] = if ns.is_empty() {
            &[]
        } else {
            &[("namespace", ns)]
        };
        d.client(name, addr, props);
    }
    let key = "java.ns";
    for (name, ns) in spaces {
        assert!(d.publish(name, key, G, &format!("in {name}"), Some("text")));
        let over_http = common::get_config(addr, key, G, ns);
        assert_eq!(over_http.text(), format!("in {name}"), "tenant {ns:?}");
    }
    for (name, _) in spaces {
        assert_eq!(d.get(name, key, G), Some(format!("in {name}")));
        d.listen(name, key, G);
    }
    parked(addr, 3, "one long poll per client");
    for (name, ns) in spaces.iter().rev() {
        let content = format!("{name} changed");
        let at = Instant::now();
        common::publish_ok(addr, key, G, ns, &content);
        d.expect_change(&change(name, key, G, Some(&content)), at, PROMPT);
        d.expect_no_change(Duration::from_millis(300), "in the other namespaces");
    }
    for (name, _) in spaces {
        assert_eq!(d.get(name, key, G), Some(format!("{name} changed")));
    }
    finish(d, server, "nacos-client namespaces");
}

/// Server auth on. A client with username and password logs in and reads,
/// publishes and listens (in namespace `dev` too) with nothing refused; one
/// without credentials and one with a wrong password get 403 from getConfig
/// (the one error the client does not answer from its snapshot).
#[test]
fn username_and_password() {
    const USER: &str = "nacos";
    const PASSWORD: &str = "java-Secret_1";
    let server = Server::start_args(&[
        "--auth",
        "--auth-admin-user",
        USER,
        "--auth-admin-password",
        PASSWORD,
    ]);
    let addr = server.addr;
    let mut d = Driver::start("nacos-client auth");
    for (name, ns) in [("c", None), ("dev", Some("dev"))] {
        let mut props = vec![("username", USER), ("password", PASSWORD)];
        props.extend(ns.map(|ns| ("namespace", ns)));
        d.client(name, addr, &props);
        assert_eq!(d.get(name, "java.auth", G), None);
        assert!(d.publish(name, "java.auth", G, &format!("secret {name}"), None));
        assert_eq!(d.get(name, "java.auth", G), Some(format!("secret {name}")));
        d.listen(name, "java.auth", G);
    }
    parked(addr, 2, "the logged-in clients' polls");
    for name in ["dev", "c"] {
        let content = format!("changed by {name}");
        let at = Instant::now();
        assert!(d.publish(name, "java.auth", G, &content, None));
        d.expect_change(&change(name, "java.auth", G, Some(&content)), at, PROMPT);
    }
    d.quit_quietly();
    common::assert_failures(addr, &[], "nacos-client with credentials");

    let mut refused = Driver::start("nacos-client refused");
    refused.client("anonymous", addr, &[]);
    refused.client("wrong", addr, &[("username", USER), ("password", "not-it")]);
    for name in ["anonymous", "wrong"] {
        let err = refused
            .try_get(name, "java.auth", G, GET_TIMEOUT_MS)
            .expect_err("getConfig without a valid login must throw");
        assert_eq!(
            (err[0].as_str(), err[1].as_str()),
            ("NacosException", "403"),
            "{name}: {err:?}"
        );
    }
    refused.quit();
    stop_cleanly(server, "nacos-client auth");
}

/// One listener, idle through the default 29.5 s hold: the poll ends empty
/// at the server's deadline and the client simply polls again, with no
/// timeout or error in its log; a change afterwards arrives at once.
#[test]
fn idle_through_a_full_hold() {
    let server = Server::start();
    let addr = server.addr;
    let mut d = Driver::on("nacos-client hold", addr);
    common::publish_ok(addr, "java.hold", G, "", "before");
    assert_eq!(d.get("c", "java.hold", G).as_deref(), Some("before"));
    d.listen("c", "java.hold", G);
    parked(addr, 1, "the idle poll");
    common::wait_metrics(
        addr,
        "one poll expired and the next one parked",
        Duration::from_secs(45),
        |m| {
            common::metric(m, "vigil_poll_timeouts_total") >= 1
                && common::metric(m, "vigil_parked_polls") == 1
        },
    );
    d.expect_no_change(Duration::ZERO, "during the idle hold");
    let at = Instant::now();
    common::publish_ok(addr, "java.hold", G, "", "after");
    d.expect_change(&change("c", "java.hold", G, Some("after")), at, PROMPT);
    finish(d, server, "nacos-client hold");
}

/// 3,500 listened keys: the client splits them over two long-polling tasks
/// (3,000 keys each at most), the server holds two polls over all 3,500
/// keys, and a change to every key reaches that key's listener.
#[test]
fn thirty_five_hundred_keys_over_two_polling_tasks() {
    const KEYS: usize = 3_500;
    let server = Server::start();
    let addr = server.addr;
    let mut d = Driver::on("nacos-client 3,500 keys", addr);
    d.listen_range("c", "java.many.", 0..KEYS, G);
    common::wait_metrics(addr, "two polls over 3,500 keys", PATIENCE, |m| {
        common::metric(m, "vigil_parked_polls") == 2
            && common::metric(m, "vigil_index_waiters") == KEYS as u64
    });
    let started = Instant::now();
    let publishers: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                for i in (t..KEYS).step_by(4) {
                    let key = format!("java.many.{i}");
                    common::publish_ok(addr, &key, G, "", &format!("value {i}"));
                }
            })
        })
        .collect();
    for p in publishers {
        p.join().expect("publisher thread");
    }
    let mut seen = vec![false; KEYS];
    let mut left = KEYS;
    let deadline = started + Duration::from_secs(120);
    while left > 0 {
        let limit = deadline.saturating_duration_since(Instant::now());
        let Some((got, _)) = d.next_change(limit) else {
            let missing: Vec<usize> = (0..KEYS).filter(|&i| !seen[i]).take(20).collect();
            panic!("{left} of {KEYS} keys got no callback; the first missing: {missing:?}");
        };
        let i: usize = got
            .data_id
            .strip_prefix("java.many.")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a callback for an unknown key: {got:?}"));
        assert_eq!(
            got,
            change("c", &got.data_id, G, Some(&format!("value {i}")))
        );
        assert!(!seen[i], "a second callback for {}", got.data_id);
        seen[i] = true;
        left -= 1;
    }
    println!("{KEYS} publishes and callbacks in {:?}", started.elapsed());
    d.expect_no_change(Duration::from_millis(500), "after every key changed once");
    parked(addr, 2, "both tasks polling again");
    finish(d, server, "nacos-client 3,500 keys");
}
