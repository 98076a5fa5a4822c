//! Interop tests: the real Go SDK, `github.com/nacos-group/nacos-sdk-go` [`GO_SDK`]
//! (the newest v1 release: HTTP long polling), drives the real `vigil` binary over
//! loopback.
//!
//! The module in `tests/interop/go/` (its `go.mod` and `go.sum` pin the SDK and every
//! module it needs) is a small driver program whose scenarios call `GetConfig`,
//! `PublishConfig`, `DeleteConfig` and `ListenConfig` and print one line per check.
//! It is built once per test run with `go build` into
//! `<target>/interop/go-nacos-sdk-go-<version>/`, with the module download and build
//! caches in `<target>/interop/go-cache/` (so a second run, or a driver edit, downloads
//! nothing), `-mod=readonly` (go.sum is the whole truth) and the machine's own Go
//! toolchain. Under nextest a setup script (`.config/nextest.toml`) runs
//! [`build_go_sdk_driver`] before any scenario; under plain `cargo test` the first
//! scenario builds. A missing `go` fails the test; nothing here is skipped.

mod common;

use common::sdk::{
    ensure_installed, go_build, md5_hex, no_failures, require_tool, run_scenario, scripts_dir,
    AUTH_ON, AUTH_PASSWORD, AUTH_USER,
};
use std::fs;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The newest v1 (HTTP) release of nacos-sdk-go; must match `tests/interop/go/go.mod`.
const GO_SDK: &str = "v1.1.6";
const LABEL: &str = "nacos-sdk-go";
/// The driver's sources: everything `go build` reads from `tests/interop/go/`.
const SOURCES: &[&str] = &["go.mod", "go.sum", "main.go", "scenarios.go"];
/// Token lifetime of the auth-on server: short, so the scenario outlives a token
/// (the SDK logs in again at nine tenths of it).
const TOKEN_TTL_SECS: &str = "12";

/// Builds the driver (once per test binary, and only when its sources or the Go
/// toolchain changed) and returns its path.
fn go_driver() -> PathBuf {
    static DRIVER: OnceLock<PathBuf> = OnceLock::new();
    DRIVER
        .get_or_init(|| {
            let go_version = require_tool("go", &["version"], "builds the nacos-sdk-go driver");
            let src = scripts_dir().join("go");
            let mut fingerprint = format!("nacos-sdk-go {GO_SDK}, {go_version}\n");
            for name in SOURCES {
                let bytes = fs::read(src.join(name))
                    .unwrap_or_else(|e| panic!("reading tests/interop/go/{name}: {e}"));
                if *name == "go.mod" {
                    assert!(
                        String::from_utf8_lossy(&bytes)
                            .contains(&format!("github.com/nacos-group/nacos-sdk-go {GO_SDK}\n")),
                        "tests/interop/go/go.mod must pin nacos-sdk-go {GO_SDK}"
                    );
                }
                fingerprint.push_str(&format!("{name} md5 {}\n", md5_hex(&bytes)));
            }
            let dir = ensure_installed(&format!("go-nacos-sdk-go-{GO_SDK}"), &fingerprint, |dir| {
                go_build(
                    &src,
                    ".",
                    &dir.join("go-interop"),
                    &format!("the nacos-sdk-go {GO_SDK} driver"),
                );
            });
            dir.join("go-interop")
        })
        .clone()
}

/// Runs `scenario` of the driver against a fresh server started with `server_args`,
/// then `check` on the server.
fn go_on(
    scenario: &str,
    server_args: &[&str],
    env: &[(&str, &str)],
    check: impl FnOnce(SocketAddr),
) {
    let mut cmd = Command::new(go_driver());
    cmd.env("INTEROP_SDK_VERSION", GO_SDK)
        .env("INTEROP_AUTH_USER", AUTH_USER)
        .env("INTEROP_AUTH_PASSWORD", AUTH_PASSWORD)
        .envs(env.iter().copied());
    run_scenario(LABEL, cmd, scenario, server_args, check);
}

fn go(scenario: &str) {
    go_on(scenario, &[], &[], no_failures(LABEL, scenario));
}

/// Builds the driver. The nextest setup script of `.config/nextest.toml` runs this
/// alone before the scenarios, so no scenario's time limit includes a download.
#[test]
fn build_go_sdk_driver() {
    println!("nacos-sdk-go {GO_SDK} driver at {}", go_driver().display());
}

/// PublishConfig -> true, exact GetConfig, a listener on change (within a second),
/// identical re-publish (silent, no poll woken), delete ("") and re-create; a blank
/// publish is refused with 400, which the SDK sends three times (it retries every
/// failed call against a single server).
#[test]
fn go_basic() {
    go_on("basic", &[], &[], |addr| {
        common::assert_failures(
            addr,
            &[("vigil_rejected_total{reason=\"bad_request\"}", 3)],
            "nacos-sdk-go `basic`",
        )
    });
}

/// A non-default group, namespace `dev` beside the public one (values and
/// notifications isolated), and namespace `public` as another name of the public one.
#[test]
fn go_group_tenant() {
    go("group_tenant");
}

/// Special characters and a non-ASCII group round-trip and notify; 3 MB content
/// round-trips and notifies.
#[test]
fn go_content() {
    go("content");
}

/// 50 keys on one client: each listener first gets its key's content, then exactly
/// its own key's change.
#[test]
fn go_many_keys() {
    go("many");
}

/// A client with username and password against a server whose auth is off.
#[test]
fn go_credentials_with_auth_off() {
    go("auth");
}

/// Server auth on: a client that logs in works in the public namespace and in `dev`,
/// listener included, and goes on working after its first token expired; anonymous
/// calls and a wrong password are refused.
#[test]
fn go_auth_on() {
    let mut args = AUTH_ON.to_vec();
    args.extend(["--auth-token-ttl-secs", TOKEN_TTL_SECS]);
    go_on(
        "auth_on",
        &args,
        &[("INTEROP_TOKEN_TTL_SECS", TOKEN_TTL_SECS)],
        no_failures(LABEL, "auth_on"),
    );
}

/// One idle long poll runs the default 29.5 s hold (the SDK asks for 30 s and reads
/// for 33 s) and comes back empty with nothing logged as an error; the server counts
/// it as expired; a change afterwards arrives within a second.
#[test]
fn go_hold() {
    go_on("hold", &[], &[], |addr| {
        let m = common::metrics(addr);
        assert!(
            common::metric(&m, "vigil_poll_timeouts_total") >= 1,
            "nacos-sdk-go `hold`: the server expired no poll during the idle hold"
        );
        common::assert_failures(addr, &[], "nacos-sdk-go `hold`");
    });
}
