//! nacos-client 2.x and 3.x (their gRPC config protocol) against vigil:
//! reads, typed publishes and removes; listeners on several keys, pushed a
//! publish made over HTTP and one made by the client; namespaces; a login;
//! a server restart on the same ports and data. The same driver source
//! (`tests/java/driver`) is built against each client line (`driver2/`,
//! `driver3/`); each scenario is one function run once per line, as the
//! tests `grpc::v2::*` and `grpc::v3::*`.
//!
//! The client is given only the HTTP address `P`; it speaks gRPC to `P +
//! 1000`, its default offset, where `common::grpc::start_grpc` has vigil
//! serve it.

use crate::common::grpc::start_grpc;
use crate::common::{self, Server};
use crate::driver::{Change, Driver, GET_TIMEOUT_MS};
use crate::stop_cleanly;
use std::time::{Duration, Instant};

const G: &str = "DEFAULT_GROUP";
/// Upper bound from a publish to the listener's callback (a push is
/// immediate; the bound is generous and the measured time is printed).
pub const PUSH_LIMIT: Duration = Duration::from_secs(10);
/// Upper bound for a change to arrive across a reconnection (the client
/// notices the lost connection, reconnects with its back-off, registers its
/// listeners again and compares every md5).
pub const RECONNECT_LIMIT: Duration = Duration::from_secs(30);

/// A client line under test.
#[derive(Debug, Clone, Copy)]
pub enum Line {
    Two,
    Three,
}

impl Line {
    pub fn version(self) -> &'static str {
        match self {
            Line::Two => crate::NACOS_CLIENT_2,
            Line::Three => crate::NACOS_CLIENT_3,
        }
    }

    /// A driver JVM on this line's client.
    pub fn driver(self, what: &str) -> Driver {
        let built = crate::java_programs();
        let classpath = match self {
            Line::Two => &built.driver2,
            Line::Three => &built.driver3,
        };
        Driver::start_with(
            &format!("nacos-client {} {what}", self.version()),
            classpath,
        )
    }
}

pub fn change(client: &str, data_id: &str, group: &str, content: Option<&str>) -> Change {
    Change {
        client: client.to_string(),
        data_id: data_id.to_string(),
        group: group.to_string(),
        content: content.map(str::to_string),
    }
}

/// A gRPC-serving vigil on a fresh temporary data directory.
fn grpc_server(extra: &[&str]) -> Server {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut server = start_grpc(&tmp.path().join("data"), extra);
    server.keep_tmp(tmp);
    server
}

/// Waits for `want` as the next callback and prints how long it took.
pub fn pushed(d: &mut Driver, want: &Change, since: Instant, limit: Duration, how: &str) {
    let took = d.expect_change(want, since, limit);
    println!(
        "{how}: {}/{} {:?} reached the listener after {took:?}",
        want.group, want.data_id, want.content
    );
}

/// getConfig of a missing key is null; publishConfig with a type stores the
/// content and type (HTTP answers `Config-Type` with it); a publish without
/// a type is text; special characters and CJK round-trip; removeConfig
/// deletes, and removing again still answers true.
fn get_publish_remove(line: Line) {
    let server = grpc_server(&[]);
    let addr = server.addr;
    let mut d = line.driver("basic");
    d.client("c", addr, &[]);
    let cases: &[(&str, &str, &str, Option<&str>, &str)] = &[
        // (dataId, group, content, type given, type the server reports)
        (
            "grpc.yaml",
            G,
            "server:\n  port: 8080\nname: 中文\n",
            Some("yaml"),
            "yaml",
        ),
        (
            "grpc.props",
            "GRPC_GROUP",
            "a=1\nb=x&y=%z+ü\r\n",
            Some("properties"),
            "properties",
        ),
        ("grpc.json", G, "{\"k\": [1, 2]}", Some("json"), "json"),
        ("grpc.plain", G, "just text", None, "text"),
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
    // A publish over HTTP is what the client reads next.
    common::publish_ok(addr, "grpc.plain", G, "", "changed over HTTP");
    assert_eq!(
        d.get("c", "grpc.plain", G).as_deref(),
        Some("changed over HTTP")
    );
    for &(data_id, group, ..) in cases {
        assert!(d.remove("c", data_id, group), "remove {data_id}");
        assert_eq!(d.get("c", data_id, group), None, "{data_id} after remove");
        assert_eq!(common::get_config(addr, data_id, group, "").status, 404);
        assert!(d.remove("c", data_id, group), "removing {data_id} again");
    }
    d.quit();
    stop_cleanly(server, "gRPC basic");
}

/// Listeners on four keys in two groups: a publish over HTTP and one by the
/// client itself each reach that key's listener and no other; a delete calls
/// it with null.
fn listeners_on_several_keys(line: Line) {
    let server = grpc_server(&[]);
    let addr = server.addr;
    let mut d = line.driver("listeners");
    d.client("c", addr, &[]);
    let keys: Vec<(String, &str)> = (0..4)
        .map(|i| (format!("grpc.listen.{i}"), if i < 2 { G } else { "OTHER" }))
        .collect();
    for (data_id, group) in &keys {
        d.listen("c", data_id, group);
    }
    for round in 0..2 {
        for (i, (data_id, group)) in keys.iter().enumerate() {
            let content = format!("round {round} key {i}");
            let at = Instant::now();
            let how = if round == 0 {
                common::publish_ok(addr, data_id, group, "", &content);
                "published over HTTP"
            } else {
                assert!(d.publish("c", data_id, group, &content, None));
                "published by the client"
            };
            let want = change("c", data_id, group, Some(&content));
            pushed(&mut d, &want, at, PUSH_LIMIT, how);
        }
    }
    let (k0, g0) = (&keys[0].0, keys[0].1);
    let at = Instant::now();
    assert_eq!(common::delete_config(addr, k0, g0, "").status, 200);
    pushed(
        &mut d,
        &change("c", k0, g0, None),
        at,
        PUSH_LIMIT,
        "deleted",
    );
    d.expect_no_change(Duration::from_millis(500), "after the last change");
    d.quit();
    stop_cleanly(server, "gRPC listeners");
}

/// Clients in the public namespace and in two others, with the same dataId
/// and group: each reads and publishes its own value, and a change in one
/// namespace reaches only that namespace's listener.
fn namespaces_apart(line: Line) {
    let server = grpc_server(&[]);
    let addr = server.addr;
    let mut d = line.driver("namespaces");
    let spaces = [("pub", ""), ("dev", "dev"), ("test", "test-ns")];
    for (name, ns) in spaces {
        let props: &[(&str, &str)] = if ns.is_empty() {
            &[]
        } else {
            &[("namespace", ns)]
        };
        d.client(name, addr, props);
    }
    let key = "grpc.ns";
    for (name, ns) in spaces {
        assert!(d.publish(name, key, G, &format!("in {name}"), Some("text")));
        let over_http = common::get_config(addr, key, G, ns);
        assert_eq!(over_http.text(), format!("in {name}"), "tenant {ns:?}");
    }
    for (name, _) in spaces {
        assert_eq!(d.get(name, key, G), Some(format!("in {name}")));
        d.listen(name, key, G);
    }
    for (name, ns) in spaces.iter().rev() {
        let content = format!("{name} changed");
        let at = Instant::now();
        common::publish_ok(addr, key, G, ns, &content);
        let want = change(name, key, G, Some(&content));
        pushed(&mut d, &want, at, PUSH_LIMIT, "published over HTTP");
        d.expect_no_change(Duration::from_millis(500), "in the other namespaces");
    }
    for (name, _) in spaces {
        assert_eq!(d.get(name, key, G), Some(format!("{name} changed")));
    }
    d.quit();
    stop_cleanly(server, "gRPC namespaces");
}

/// Server auth on. Clients with username and password (public namespace and
/// `dev`) read, publish and listen, and a publish by one reaches the other's
/// listener; a client with a wrong password, and one with none, get 403
/// from getConfig.
fn username_and_password(line: Line) {
    const USER: &str = "nacos";
    const PASSWORD: &str = "grpc-Secret_1";
    let server = grpc_server(&[
        "--auth",
        "--auth-admin-user",
        USER,
        "--auth-admin-password",
        PASSWORD,
    ]);
    let addr = server.addr;
    let mut d = line.driver("auth");
    for (name, ns) in [("c", None), ("dev", Some("dev")), ("writer", None)] {
        let mut props = vec![("username", USER), ("password", PASSWORD)];
        props.extend(ns.map(|ns| ("namespace", ns)));
        d.client(name, addr, &props);
    }
    for name in ["c", "dev"] {
        assert_eq!(d.get(name, "grpc.auth", G), None);
        assert!(d.publish(name, "grpc.auth", G, &format!("secret {name}"), None));
        assert_eq!(d.get(name, "grpc.auth", G), Some(format!("secret {name}")));
        d.listen(name, "grpc.auth", G);
    }
    for name in ["dev", "c"] {
        let content = format!("changed by {name}");
        let at = Instant::now();
        assert!(d.publish(name, "grpc.auth", G, &content, None));
        let want = change(name, "grpc.auth", G, Some(&content));
        pushed(&mut d, &want, at, PUSH_LIMIT, "published by the client");
    }
    let at = Instant::now();
    assert!(d.publish("writer", "grpc.auth", G, "by another client", None));
    let want = change("c", "grpc.auth", G, Some("by another client"));
    pushed(&mut d, &want, at, PUSH_LIMIT, "published by another client");
    d.quit();

    let mut refused = line.driver("refused");
    refused.client("anonymous", addr, &[]);
    refused.client("wrong", addr, &[("username", USER), ("password", "not-it")]);
    for name in ["anonymous", "wrong"] {
        let err = refused
            .try_get(name, "grpc.auth", G, GET_TIMEOUT_MS)
            .expect_err("getConfig without a valid login must throw");
        assert_eq!(
            (err[0].as_str(), err[1].as_str()),
            ("NacosException", "403"),
            "{name}: {err:?}"
        );
    }
    refused.quit();
    stop_cleanly(server, "gRPC auth");
}

/// The server stops (SIGTERM) and starts again on the same ports and data:
/// the client reconnects by itself, and a publish over HTTP and one by the
/// client still reach its listener.
fn server_restart(line: Line) {
    let mut first = grpc_server(&[]);
    let addr = first.addr;
    let data_dir = first.data_dir.clone();
    // The data directory outlives the first server: the second reuses it.
    let _data = first.take_tmp();
    let mut d = line.driver("restart");
    d.client("c", addr, &[]);
    let key = "grpc.restart";
    d.listen("c", key, G);
    let at = Instant::now();
    common::publish_ok(addr, key, G, "", "before");
    let want = change("c", key, G, Some("before"));
    pushed(&mut d, &want, at, PUSH_LIMIT, "before the restart");

    stop_cleanly(first, "the first server");
    let back = Server::start_on(addr.port(), &data_dir, &[]);
    let at = Instant::now();
    common::publish_ok(addr, key, G, "", "after the restart");
    let want = change("c", key, G, Some("after the restart"));
    pushed(&mut d, &want, at, RECONNECT_LIMIT, "across the restart");
    let at = Instant::now();
    assert!(d.publish("c", key, G, "by the client after", None));
    let want = change("c", key, G, Some("by the client after"));
    pushed(&mut d, &want, at, PUSH_LIMIT, "published by the client");
    assert_eq!(d.get("c", key, G).as_deref(), Some("by the client after"));
    d.quit();
    stop_cleanly(back, "the server after the restart");
}

/// Each scenario as a test per client line: `grpc::v2::NAME`, `grpc::v3::NAME`.
macro_rules! per_line {
    ($($scenario:ident),* $(,)?) => {
        mod v2 {
            $(#[test] fn $scenario() { super::$scenario(super::Line::Two) })*
        }
        mod v3 {
            $(#[test] fn $scenario() { super::$scenario(super::Line::Three) })*
        }
    };
}

per_line!(
    get_publish_remove,
    listeners_on_several_keys,
    namespaces_apart,
    username_and_password,
    server_restart,
);
