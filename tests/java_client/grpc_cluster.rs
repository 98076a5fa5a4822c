//! nacos-client 2.x and 3.x against a two-node vigil cluster (one throwaway
//! PostgreSQL, `tests/cluster/pg.rs`): a client given both nodes' addresses
//! connects to the one that is up; the second node starts; the first stops
//! (SIGTERM, which resets its clients' connections) and the client moves to
//! the second node, which still pushes it every change.

use crate::common::grpc::{free_port_pair, start_grpc};
use crate::common::{self, Server};
use crate::grpc::{change, pushed, Line, PUSH_LIMIT, RECONNECT_LIMIT};
use crate::pg::Postgres;
use crate::stop_cleanly;
use std::time::Instant;

const G: &str = "DEFAULT_GROUP";

/// A cluster node's flags: the shared store, two reactor threads.
fn node_flags(url: &str) -> [&str; 4] {
    ["--store", url, "--threads", "2"]
}

fn node_moves(line: Line) {
    let pg = Postgres::start();
    let url = pg.database("vigil");
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut a = start_grpc(&tmp.path().join("a"), &node_flags(&url));
    // Node B's ports are chosen now and served later: while B is down, the
    // client can only connect to A, so A is the node it must leave.
    let b_port = free_port_pair();
    let servers = format!("{},127.0.0.1:{b_port}", a.addr);

    let mut d = line.driver("cluster");
    d.client_of("c", &servers, &[]);
    let key = "grpc.cluster";
    d.listen("c", key, G);
    let at = Instant::now();
    common::publish_ok(a.addr, key, G, "", "on A");
    pushed(
        &mut d,
        &change("c", key, G, Some("on A")),
        at,
        PUSH_LIMIT,
        "A up",
    );

    let b = Server::start_on(b_port, &tmp.path().join("b"), &node_flags(&url));
    let at = Instant::now();
    common::publish_ok(b.addr, key, G, "", "on B, client on A");
    let want = change("c", key, G, Some("on B, client on A"));
    pushed(&mut d, &want, at, PUSH_LIMIT, "published on the other node");

    let status = a.sigterm();
    assert!(status.success(), "node A exited with {status} on SIGTERM");
    let at = Instant::now();
    common::publish_ok(b.addr, key, G, "", "on B, A stopped");
    let want = change("c", key, G, Some("on B, A stopped"));
    pushed(&mut d, &want, at, RECONNECT_LIMIT, "after A stopped");
    let at = Instant::now();
    assert!(d.publish("c", key, G, "by the client on B", None));
    let want = change("c", key, G, Some("by the client on B"));
    pushed(&mut d, &want, at, PUSH_LIMIT, "published by the client");
    assert_eq!(
        common::get_config(b.addr, key, G, "").text(),
        "by the client on B"
    );
    d.quit();
    stop_cleanly(b, "node B");
}

#[test]
fn v2_moves_to_the_other_node_on_sigterm() {
    node_moves(Line::Two);
}

#[test]
fn v3_moves_to_the_other_node_on_sigterm() {
    node_moves(Line::Three);
}
