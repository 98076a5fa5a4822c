//! The scenarios every real gRPC client runs (issue 18), shared by the test binaries
//! of the Go v2 (`interop_go2`), Python v2 (`interop_py2`) and Rust (`interop_rust`)
//! drivers: each binary names its driver in a [`Client`] and expands
//! [`grpc_scenarios!`] into one `#[test]` per scenario.
//!
//! Every server here starts through `common::grpc::start_grpc`: HTTP on P, gRPC on
//! P + 1000, the clients' default offset.

use super::common::grpc::{connected_node, run_driver, start_grpc};
use super::common::sdk::AUTH_ON;
use super::common::{assert_failures, Server};
use super::pg::Postgres;
use std::process::Command;
use std::time::Duration;

/// How long the client may take to open its gRPC connection before a failover.
const CONNECT_WAIT: Duration = Duration::from_secs(15);

/// One driver: its label in messages and a fresh command for it (the scenario
/// arguments are appended by `run_driver`).
pub struct Client {
    pub label: &'static str,
    pub command: fn() -> Command,
}

fn never_awaits(what: &str) -> String {
    panic!("the driver awaited `{what}` in a scenario that has no pause")
}

/// Runs `scenario` against one fresh server started with `server_args`, then checks
/// the server refused nothing and failed no write (unless `refusals_expected`).
fn on_one_server(c: &Client, scenario: &str, server_args: &[&str], refusals_expected: bool) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut server = start_grpc(&tmp.path().join("data"), server_args);
    server.keep_tmp(tmp);
    run_driver(
        c.label,
        (c.command)(),
        scenario,
        &server.addr.to_string(),
        never_awaits,
    );
    if !refusals_expected {
        assert_failures(server.addr, &[], &format!("{} `{scenario}`", c.label));
    }
    server.stop();
}

/// 1. Get (miss, hit), publish (content and type round-trip), update, remove.
pub fn basic(c: &Client) {
    on_one_server(c, "basic", &[], false);
}

/// 2. Listeners on three keys; for each, a publish over HTTP and one by the client
///    are pushed with the content (each push within 10 s; latency printed), and no
///    listener hears another key.
pub fn listen(c: &Client) {
    on_one_server(c, "listen", &[], false);
}

/// 3. The same key in the public namespace and in `dev` are two configs: reads,
///    publishes (by the client and over HTTP) and pushes stay in their namespace.
pub fn namespace(c: &Client) {
    on_one_server(c, "namespace", &[], false);
}

/// 4. Auth on: the client with username and password reads, publishes and is pushed
///    to; one with a wrong password is refused (at creation or on each call) and
///    changes nothing.
pub fn auth_on(c: &Client) {
    on_one_server(c, "auth_on", AUTH_ON, true);
}

/// 5. The server stops (SIGTERM, exit 0) and starts again on the same ports and data
///    directory: the client reconnects, is pushed an HTTP publish and its own.
pub fn restart(c: &Client) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    let mut server = Some(start_grpc(&data, &[]));
    let addr = server.as_ref().map(|s| s.addr).expect("the server");
    run_driver(
        c.label,
        (c.command)(),
        "restart",
        &addr.to_string(),
        |what| {
            assert_eq!(what, "restart", "the driver awaited something else");
            let mut old = server.take().expect("one restart only");
            assert_eq!(
                old.sigterm().code(),
                Some(0),
                "the server's exit on SIGTERM"
            );
            drop(old);
            let back = Server::start_on(addr.port(), &data, &[]);
            let answer = back.addr.to_string();
            server = Some(back);
            answer
        },
    );
    if let Some(s) = server {
        s.stop();
    }
    drop(tmp);
}

/// 6. Two nodes of a PostgreSQL-backed cluster, both in the client's server list; the
///    node holding the client's gRPC connection gets SIGTERM (exit 0): the client
///    moves to the other node and is pushed a publish made there.
pub fn failover(c: &Client) {
    let pg = Postgres::start();
    let url = pg.database("vigil");
    let args = ["--store", url.as_str(), "--threads", "2"];
    let mut nodes: Vec<Server> = (0..2)
        .map(|_| {
            let tmp = tempfile::tempdir().expect("temp dir");
            let mut s = start_grpc(&tmp.path().join("data"), &args);
            s.keep_tmp(tmp);
            s
        })
        .collect();
    let addrs: Vec<String> = nodes.iter().map(|s| s.addr.to_string()).collect();
    let mut stopped = None;
    run_driver(
        c.label,
        (c.command)(),
        "failover",
        &addrs.join(","),
        |what| {
            assert_eq!(what, "failover", "the driver awaited something else");
            let refs: Vec<&Server> = nodes.iter().collect();
            let i = connected_node(&refs, CONNECT_WAIT);
            println!(
                "stopping node {i} ({}), which holds the client's connection",
                addrs[i]
            );
            assert_eq!(
                nodes[i].sigterm().code(),
                Some(0),
                "node {i}'s exit on SIGTERM"
            );
            stopped = Some(i);
            addrs[1 - i].clone()
        },
    );
    let i = stopped.expect("the driver never awaited the failover");
    let node = nodes.remove(i);
    drop(node);
    for n in nodes {
        n.stop();
    }
}

/// One `#[test]` per scenario for the driver `$client` (a [`Client`]), named
/// `<prefix>_<scenario>`.
macro_rules! grpc_scenarios {
    ($client:expr, $($name:ident => $scenario:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                scenarios::$scenario(&$client);
            }
        )*
    };
}
