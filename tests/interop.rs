//! Interop tests: real Nacos client SDKs, installed from their registries at pinned
//! versions, drive the real `vigil` binary over loopback.
//!
//! - Python `nacos-sdk-python` [`PY_V2`] (the newest 2.0.x, which still ships the v1
//!   `nacos.NacosClient`) and [`PY_V1`] (1.0.0, which sends every publish parameter,
//!   content included, in the URL query string). Installed with
//!   `python3 -m pip install --no-deps --target <target>/interop/py-<version>`: the v1
//!   client needs only the standard library, while 2.0.x declares the dependencies of its
//!   separate gRPC `v2` package, which these tests never import.
//! - Node.js `nacos-config` [`NODE_NACOS_CONFIG`], installed with `npm ci` from the
//!   lockfile in `tests/interop/node/` (every transitive package pinned) into
//!   `<target>/interop/node-nacos-config-<version>`.
//!
//! The scenarios themselves live in `tests/interop/py_client.py` and
//! `tests/interop/node_client.js`; each run gets a fresh server, a scratch working
//! directory (also its `HOME`), a time limit, and its own process group, which is killed
//! afterwards so no SDK helper process (Python's multiprocessing manager) outlives it.
//!
//! Under nextest, a setup script (`.config/nextest.toml`) runs [`install_pinned_sdks`]
//! before any scenario; otherwise installs happen on first use. Either way through
//! `common::sdk` (idempotent, locked installs into the target directory). A missing
//! `python3`, pip, `node` or `npm`, or a failed install, fails the test: nothing here
//! is skipped.

mod common;
#[path = "cluster/pg.rs"]
mod pg;

use common::sdk::{
    ensure_installed, md5_hex, no_failures, pip_install, require_tool, run_client, run_logged,
    run_scenario, scripts_dir, AUTH_ON, AUTH_PASSWORD, AUTH_USER, INSTALL_TIMEOUT,
};
use std::fs;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// Newest 2.0.x of `nacos-sdk-python` on PyPI; still ships `nacos.NacosClient` (v1 HTTP).
const PY_V2: &str = "2.0.11";
/// The 1.0.0 release: publishes with every parameter in the URL query string.
const PY_V1: &str = "1.0.0";
/// `nacos-config` version; must match `tests/interop/node/package.json`.
const NODE_NACOS_CONFIG: &str = "2.6.3";

/// The hold of an idle SDK poll (30 s requested) on a server run with
/// `--max-hold-ms 12000`: `min(30 s, 12 s) - 500 ms`.
const HOLD_MS: u64 = 11_500;

/// Installs `nacos-sdk-python==version` (once per test binary) and returns the
/// directory to put on `PYTHONPATH`.
fn python_sdk(version: &'static str) -> PathBuf {
    static V2: OnceLock<PathBuf> = OnceLock::new();
    static V1: OnceLock<PathBuf> = OnceLock::new();
    let cell = match version {
        PY_V2 => &V2,
        PY_V1 => &V1,
        other => panic!("no install slot for nacos-sdk-python {other}"),
    };
    cell.get_or_init(|| {
        require_tool("python3", &["--version"], "runs the Python SDK scenarios");
        require_tool(
            "python3",
            &["-m", "pip", "--version"],
            "installs nacos-sdk-python from PyPI",
        );
        let fingerprint = format!("nacos-sdk-python=={version} --no-deps\n");
        ensure_installed(&format!("py-{version}"), &fingerprint, |dir| {
            let spec = format!("nacos-sdk-python=={version}");
            pip_install(dir, &[spec.as_ref()]);
            assert!(
                dir.join("nacos").join("client.py").is_file(),
                "nacos-sdk-python {version} installed, but has no nacos/client.py (the v1 NacosClient)"
            );
        })
    })
    .clone()
}

/// Installs the pinned Node SDK (once per test binary) and returns the directory to
/// put on `NODE_PATH`.
fn node_sdk() -> PathBuf {
    static NODE: OnceLock<PathBuf> = OnceLock::new();
    NODE.get_or_init(|| {
        require_tool("node", &["--version"], "runs the Node.js SDK scenarios");
        require_tool(
            "npm",
            &["--version"],
            "installs nacos-config from the npm registry",
        );
        let src = scripts_dir().join("node");
        let manifest =
            fs::read(src.join("package.json")).expect("reading tests/interop/node/package.json");
        let lockfile = fs::read(src.join("package-lock.json"))
            .expect("reading tests/interop/node/package-lock.json");
        assert!(
            String::from_utf8_lossy(&manifest)
                .contains(&format!("\"nacos-config\": \"{NODE_NACOS_CONFIG}\"")),
            "tests/interop/node/package.json must pin nacos-config {NODE_NACOS_CONFIG}"
        );
        let fingerprint = format!(
            "nacos-config@{NODE_NACOS_CONFIG} package.json md5 {} package-lock.json md5 {}\n",
            md5_hex(&manifest),
            md5_hex(&lockfile)
        );
        let dir = ensure_installed(
            &format!("node-nacos-config-{NODE_NACOS_CONFIG}"),
            &fingerprint,
            |dir| {
                fs::write(dir.join("package.json"), &manifest).expect("copying package.json");
                fs::write(dir.join("package-lock.json"), &lockfile)
                    .expect("copying package-lock.json");
                let mut cmd = Command::new("npm");
                cmd.args([
                    "ci",
                    "--no-audit",
                    "--no-fund",
                    "--ignore-scripts",
                    "--loglevel=error",
                ])
                .current_dir(dir);
                let log = dir.with_extension("install.log");
                let (status, text) = run_logged(cmd, &log, INSTALL_TIMEOUT, "npm ci");
                assert!(
                    status.is_some_and(|s| s.success()),
                    "`npm ci` of nacos-config {NODE_NACOS_CONFIG} failed ({status:?}):\n{text}"
                );
                assert!(
                    dir.join("node_modules/nacos-config/package.json").is_file(),
                    "npm ci finished but node_modules/nacos-config is missing:\n{text}"
                );
            },
        );
        dir.join("node_modules")
    })
    .clone()
}

fn python(version: &'static str, scenario: &str) {
    python_on(version, scenario, &[], no_failures(PY_LABEL, scenario));
}

const PY_LABEL: &str = "nacos-sdk-python";
const NODE_LABEL: &str = "nacos-config (node)";

/// Like [`python`], against a server started with `server_args`, with `check`
/// run on the server afterwards.
fn python_on(
    version: &'static str,
    scenario: &str,
    server_args: &[&str],
    check: impl FnOnce(SocketAddr),
) {
    run_scenario(
        &format!("{PY_LABEL} {version}"),
        python_command(version),
        scenario,
        server_args,
        check,
    );
}

/// The scenario runner of `nacos-sdk-python` `version` (installed on first use).
fn python_command(version: &'static str) -> Command {
    let sdk = python_sdk(version);
    let mut cmd = Command::new("python3");
    cmd.arg(scripts_dir().join("py_client.py"))
        .env("PYTHONPATH", &sdk)
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONNOUSERSITE", "1")
        .env("INTEROP_SDK_VERSION", version)
        .env("INTEROP_AUTH_USER", AUTH_USER)
        .env("INTEROP_AUTH_PASSWORD", AUTH_PASSWORD)
        .env("INTEROP_HOLD_MS", HOLD_MS.to_string());
    cmd
}

fn node(scenario: &str) {
    node_on(scenario, &[], no_failures(NODE_LABEL, scenario));
}

/// Like [`node`], against a server started with `server_args`, with `check`
/// run on the server afterwards.
fn node_on(scenario: &str, server_args: &[&str], check: impl FnOnce(SocketAddr)) {
    let modules = node_sdk();
    let mut cmd = Command::new("node");
    cmd.arg(scripts_dir().join("node_client.js"))
        .env("NODE_PATH", &modules)
        .env("INTEROP_SDK_VERSION", NODE_NACOS_CONFIG)
        .env("INTEROP_AUTH_USER", AUTH_USER)
        .env("INTEROP_AUTH_PASSWORD", AUTH_PASSWORD)
        .env("INTEROP_HOLD_MS", HOLD_MS.to_string());
    run_scenario(
        &format!("nacos-config {NODE_NACOS_CONFIG} (node)"),
        cmd,
        scenario,
        server_args,
        check,
    );
}

// ------------------------------------------------ long-poll hold expiry

/// Installs every pinned SDK. The nextest setup script of `.config/nextest.toml`
/// runs this alone before the other interop tests, so no scenario's time limit
/// includes an install; under plain `cargo test` the first scenario installs.
#[test]
fn install_pinned_sdks() {
    for version in [PY_V2, PY_V1] {
        let dir = python_sdk(version);
        println!("nacos-sdk-python {version} at {}", dir.display());
    }
    println!(
        "nacos-config {NODE_NACOS_CONFIG} at {}",
        node_sdk().display()
    );
}

/// One idle long poll runs its full hold and ends with an empty answer,
/// without SDK errors; a change afterwards is still delivered. The servers run
/// with `--max-hold-ms 12000` (a hold of [`HOLD_MS`] for the SDKs' 30 s
/// request), which keeps this test short and tests that flag; the 29.5 s hold
/// of the default is checked on the wire by L05. The server must count an
/// expired poll: the Node SDK cannot tell a hold that expired from one that a
/// later publish ended. Python 2.0.x, 1.0.0 and Node run at the same time, each
/// with its own server.
#[test]
fn hold_expiry_python_2_0_python_1_0_and_node() {
    const ARGS: &[&str] = &["--max-hold-ms", "12000"];
    let expired = |label: &'static str| {
        move |addr: SocketAddr| {
            let m = common::metrics(addr);
            let n = common::metric(&m, "vigil_poll_timeouts_total");
            assert!(
                n >= 1,
                "{label}: the server expired no poll during the idle hold"
            );
            common::assert_failures(addr, &[], label);
        }
    };
    let runs: Vec<(&str, std::thread::JoinHandle<()>)> = vec![
        (
            "python 2.0",
            std::thread::spawn(move || python_on(PY_V2, "hold", ARGS, expired("python 2.0"))),
        ),
        (
            "python 1.0",
            std::thread::spawn(move || python_on(PY_V1, "hold", ARGS, expired("python 1.0"))),
        ),
        (
            "node",
            std::thread::spawn(move || node_on("hold", ARGS, expired("node"))),
        ),
    ];
    let failures: Vec<String> = runs
        .into_iter()
        .filter_map(|(which, handle)| {
            handle.join().err().map(|panic| {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "(non-string panic)".to_string());
                format!("{which}: {msg}")
            })
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ------------------------------------------------ nacos-sdk-python 2.0.x (v1 NacosClient)

/// publish -> True, exact get, watcher on change / identical re-publish / delete / re-create;
/// a blank publish is refused with 400 (the one request the server refuses).
#[test]
fn python_2_0_basic() {
    python_basic(PY_V2);
}

fn python_basic(version: &'static str) {
    let what = format!("{PY_LABEL} {version} `basic`");
    python_on(version, "basic", &[], move |addr| {
        common::assert_failures(
            addr,
            &[("vigil_rejected_total{reason=\"bad_request\"}", 1)],
            &what,
        )
    });
}

/// Non-default group, namespace `dev`, isolation of values and of notifications.
#[test]
fn python_2_0_group_tenant() {
    python(PY_V2, "group_tenant");
}

/// CJK, `%`, `+`, `&`, `=`, CRLF content and a non-ASCII dataId round-trip and notify;
/// 3 MB content round-trips.
#[test]
fn python_2_0_content() {
    python(PY_V2, "content");
}

/// 50 keys watched by one client: changing all of them yields all 50 callbacks.
#[test]
fn python_2_0_many_keys() {
    python(PY_V2, "many");
}

/// A client created with username/password works while server auth is off.
#[test]
fn python_2_0_credentials_with_auth_off() {
    python(PY_V2, "auth");
}

/// Server auth on: anonymous calls and a wrong password are refused (403); a client
/// that logs in works (token in the query of every request, listener included).
#[test]
fn python_2_0_auth_on() {
    python_on(PY_V2, "auth_on", AUTH_ON, no_failures(PY_LABEL, "auth_on"));
}

// ------------------------------------------------ nacos-sdk-python 1.0.0 (query-string publish)

#[test]
fn python_1_0_basic() {
    python_basic(PY_V1);
}

#[test]
fn python_1_0_group_tenant() {
    python(PY_V1, "group_tenant");
}

#[test]
fn python_1_0_content() {
    python(PY_V1, "content");
}

#[test]
fn python_1_0_many_keys() {
    python(PY_V1, "many");
}

#[test]
fn python_1_0_credentials_with_auth_off() {
    python(PY_V1, "auth");
}

#[test]
fn python_1_0_auth_on() {
    python_on(PY_V1, "auth_on", AUTH_ON, no_failures(PY_LABEL, "auth_on"));
}

// ------------------------------------------------ Node.js nacos-config

/// publishSingle/getConfig/remove and subscribe: initial emit, change, identical
/// re-publish, delete (emits null), re-create.
#[test]
fn node_basic() {
    node("basic");
}

/// Namespace `dev` with a non-default group; the public namespace is driven over plain HTTP.
#[test]
fn node_group_tenant() {
    node("group_tenant");
}

/// Special characters round-trip and notify; 3 MB content round-trips.
#[test]
fn node_content() {
    node("content");
}

/// 50 subscriptions on one client: changing all of them yields all 50 callbacks.
#[test]
fn node_many_keys() {
    node("many");
}

/// username/password options (sent as parameters on every request) with auth off.
#[test]
fn node_credentials_with_auth_off() {
    node("auth");
}

/// Server auth on: username/password parameters on every request (namespace `dev`).
#[test]
fn node_auth_on() {
    node_on("auth_on", AUTH_ON, no_failures(NODE_LABEL, "auth_on"));
}

// ------------------------------------------------ cluster mode

/// nacos-sdk-python 2.0 with three cluster nodes in its server list: the
/// first node is killed (`kill -9`) after 4 s and the second after 8 s while
/// it publishes every 300 ms; publishes, reads and its watcher go on
/// through the third.
#[test]
fn python_2_0_survives_losing_two_of_three_cluster_nodes() {
    let pg = pg::Postgres::start();
    let url = pg.database("vigil");
    let mut nodes: Vec<common::Server> = (0..3)
        .map(|_| common::Server::start_args(&["--store", &url, "--threads", "2"]))
        .collect();
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr.to_string()).collect();
    let survivor = nodes.pop().expect("three nodes");
    let cmd = python_command(PY_V2);
    let killer = std::thread::spawn(move || {
        for mut node in nodes {
            std::thread::sleep(Duration::from_secs(4));
            node.kill9();
        }
    });
    run_client(
        "nacos-sdk-python 2.0 on a three-node cluster",
        cmd,
        "cluster_failover",
        &addrs.join(","),
    );
    killer.join().expect("killer thread");
    drop(survivor);
}
