//! Interop tests over gRPC: the real Rust client, the `nacos-sdk` crate [`RUST_SDK`]
//! (tonic, Nacos 2.x gRPC), drives the real `vigil` binary over loopback through the
//! scenarios of `interop_grpc/scenarios.rs`.
//!
//! The driver crate `tests/interop/rust/` has its own Cargo.toml and Cargo.lock (every
//! crate pinned) and is its own workspace, excluded from vigil's. It is built once per
//! test run with `cargo build --locked` into `<target>/interop/rust-nacos-sdk-target/`
//! (its own target directory, kept between runs, so a second run compiles nothing).
//! Under nextest a setup script (`.config/nextest.toml`) runs
//! [`build_rust_sdk_driver`] before any scenario; under plain `cargo test` the first
//! scenario builds. Nothing here is skipped.

mod common;
#[path = "cluster/pg.rs"]
mod pg;
#[macro_use]
#[path = "interop_grpc/scenarios.rs"]
mod scenarios;

use common::sdk::{
    interop_dir, require_tool, run_logged, scripts_dir, AUTH_PASSWORD, AUTH_USER, INSTALL_TIMEOUT,
};
use scenarios::Client;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The nacos-sdk crate version; must match `tests/interop/rust/Cargo.toml`.
const RUST_SDK: &str = "0.8.3";

/// Builds the driver (once per test binary; cargo itself decides whether anything
/// changed) and returns its path.
fn rust_driver() -> PathBuf {
    static DRIVER: OnceLock<PathBuf> = OnceLock::new();
    DRIVER
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
            require_tool(&cargo, &["--version"], "builds the nacos-sdk driver");
            let manifest = scripts_dir().join("rust").join("Cargo.toml");
            let text = common::sdk::read_text(&manifest);
            assert!(
                text.contains(&format!("nacos-sdk = {{ version = \"={RUST_SDK}\"")),
                "tests/interop/rust/Cargo.toml must pin nacos-sdk ={RUST_SDK}"
            );
            let target = interop_dir().join("rust-nacos-sdk-target");
            std::fs::create_dir_all(&target)
                .unwrap_or_else(|e| panic!("creating {}: {e}", target.display()));
            let mut cmd = Command::new(&cargo);
            cmd.args(["build", "--locked", "--manifest-path"])
                .arg(&manifest)
                .arg("--target-dir")
                .arg(&target);
            // Nothing of the outer cargo run (its target dir, flags, features)
            // leaks into the driver's build.
            for (k, _) in std::env::vars() {
                let keep = ["CARGO_HOME", "CARGO_NET_", "CARGO_HTTP_", "CARGO_REGISTR"]
                    .iter()
                    .any(|p| k.starts_with(p));
                if (k.starts_with("CARGO_") && !keep) || k == "RUSTFLAGS" || k == "RUSTC_WRAPPER" {
                    cmd.env_remove(k);
                }
            }
            let log = interop_dir().join("rust-nacos-sdk.build.log");
            let (status, out) = run_logged(cmd, &log, INSTALL_TIMEOUT * 3, "cargo build");
            assert!(
                status.is_some_and(|s| s.success()),
                "`cargo build --locked` of the nacos-sdk {RUST_SDK} driver failed ({status:?}):\n{out}"
            );
            target.join("debug").join("vigil-interop-rust")
        })
        .clone()
}

fn rust_command() -> Command {
    let mut cmd = Command::new(rust_driver());
    cmd.env("INTEROP_SDK_VERSION", RUST_SDK)
        .env("INTEROP_AUTH_USER", AUTH_USER)
        .env("INTEROP_AUTH_PASSWORD", AUTH_PASSWORD)
        .env("RUST_BACKTRACE", "1");
    cmd
}

const RUST: Client = Client {
    label: "nacos-sdk (Rust)",
    command: rust_command,
};

/// Builds the driver. The nextest setup script of `.config/nextest.toml` runs this
/// alone before the scenarios, so no scenario's time limit includes a build.
#[test]
fn build_rust_sdk_driver() {
    println!("nacos-sdk {RUST_SDK} driver at {}", rust_driver().display());
}

grpc_scenarios!(RUST,
    rust_basic => basic,
    rust_listen => listen,
    rust_namespace => namespace,
    rust_auth_on => auth_on,
    rust_restart => restart,
    rust_failover => failover,
);
