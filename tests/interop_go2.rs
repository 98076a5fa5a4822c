//! Interop tests over gRPC: the real Go SDK v2, `github.com/nacos-group/nacos-sdk-go/v2`
//! [`GO_SDK`] (Nacos 2.x gRPC), drives the real `vigil` binary over loopback through
//! the scenarios of `interop_grpc/scenarios.rs`.
//!
//! The module in `tests/interop/go2/` (its `go.mod` and `go.sum` pin the SDK and every
//! module it needs) is the driver. It is built once per test run with `go build` into
//! `<target>/interop/go2-nacos-sdk-go-<version>/`, with the module download and build
//! caches shared with the v1 driver in `<target>/interop/go-cache/`, `-mod=readonly`
//! (go.sum is the whole truth) and the machine's own Go toolchain. Under nextest a
//! setup script (`.config/nextest.toml`) runs [`build_go2_sdk_driver`] before any
//! scenario; under plain `cargo test` the first scenario builds. A missing `go` fails
//! the test; nothing here is skipped.

mod common;
#[path = "cluster/pg.rs"]
mod pg;
#[macro_use]
#[path = "interop_grpc/scenarios.rs"]
mod scenarios;

use common::sdk::{
    ensure_installed, go_build, md5_hex, require_tool, scripts_dir, AUTH_PASSWORD, AUTH_USER,
};
use scenarios::Client;
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The newest v2 release of nacos-sdk-go; must match `tests/interop/go2/go.mod`.
const GO_SDK: &str = "v2.3.2";
/// The driver's sources: everything `go build` reads from `tests/interop/go2/`.
const SOURCES: &[&str] = &["go.mod", "go.sum", "main.go"];

/// Builds the driver (once per test binary, and only when its sources or the Go
/// toolchain changed) and returns its path.
fn go2_driver() -> PathBuf {
    static DRIVER: OnceLock<PathBuf> = OnceLock::new();
    DRIVER
        .get_or_init(|| {
            let go_version = require_tool("go", &["version"], "builds the nacos-sdk-go/v2 driver");
            let src = scripts_dir().join("go2");
            let mut fingerprint = format!("nacos-sdk-go/v2 {GO_SDK}, {go_version}\n");
            for name in SOURCES {
                let bytes = fs::read(src.join(name))
                    .unwrap_or_else(|e| panic!("reading tests/interop/go2/{name}: {e}"));
                if *name == "go.mod" {
                    assert!(
                        String::from_utf8_lossy(&bytes).contains(&format!(
                            "github.com/nacos-group/nacos-sdk-go/v2 {GO_SDK}\n"
                        )),
                        "tests/interop/go2/go.mod must pin nacos-sdk-go/v2 {GO_SDK}"
                    );
                }
                fingerprint.push_str(&format!("{name} md5 {}\n", md5_hex(&bytes)));
            }
            let name = format!("go2-nacos-sdk-go-{GO_SDK}");
            let dir = ensure_installed(&name, &fingerprint, |dir| {
                go_build(
                    &src,
                    ".",
                    &dir.join("go2-interop"),
                    &format!("the nacos-sdk-go/v2 {GO_SDK} driver"),
                );
            });
            dir.join("go2-interop")
        })
        .clone()
}

fn go2_command() -> Command {
    let mut cmd = Command::new(go2_driver());
    cmd.env("INTEROP_SDK_VERSION", GO_SDK)
        .env("INTEROP_AUTH_USER", AUTH_USER)
        .env("INTEROP_AUTH_PASSWORD", AUTH_PASSWORD);
    cmd
}

const GO2: Client = Client {
    label: "nacos-sdk-go/v2",
    command: go2_command,
};

/// Builds the driver. The nextest setup script of `.config/nextest.toml` runs this
/// alone before the scenarios, so no scenario's time limit includes a download.
#[test]
fn build_go2_sdk_driver() {
    println!(
        "nacos-sdk-go/v2 {GO_SDK} driver at {}",
        go2_driver().display()
    );
}

grpc_scenarios!(GO2,
    go2_basic => basic,
    go2_listen => listen,
    go2_namespace => namespace,
    go2_auth_on => auth_on,
    go2_restart => restart,
    go2_failover => failover,
);
