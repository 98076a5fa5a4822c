//! The load tester's gRPC clients (`--grpc`): what holds whatever the server.

mod common;

use common::{free_port, loadtest, Vigil};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn grpc_against_a_server_without_a_grpc_port_fails_at_once() {
    let v = Vigil::start();
    let addr = v.addr.to_string();
    let grpc = format!("127.0.0.1:{}", free_port());
    let run = loadtest(
        &[
            "--server",
            &addr,
            "--grpc-server",
            &grpc,
            "fanout",
            "--grpc",
            "-n",
            "5",
            "-r",
            "1",
        ],
        LIMIT,
    );
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains(&format!("cannot connect to the gRPC port {grpc}")),
        "{}",
        run.stderr
    );
    // The ramp timeout is 60 s; failing must not wait for it.
    assert!(run.took < Duration::from_secs(20), "took {:?}", run.took);
    // One --grpc-server per --server.
    let run = loadtest(
        &[
            "--server",
            &addr,
            "--server",
            &addr,
            "--grpc-server",
            &grpc,
            "park",
            "--grpc",
        ],
        LIMIT,
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("one --grpc-server per --server"),
        "{}",
        run.stderr
    );
}
