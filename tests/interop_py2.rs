//! Interop tests over gRPC: the real Python SDK `nacos-sdk-python` [`PY_SDK`], its v2
//! package (`v2.nacos.NacosConfigService`: asyncio and grpcio, Nacos 2.x gRPC), drives
//! the real `vigil` binary over loopback through the scenarios of
//! `interop_grpc/scenarios.rs`.
//!
//! The SDK and everything it pulls in are pinned, one `name==version` a line, in
//! `tests/interop/py2/requirements.txt` and installed with
//! `python3 -m pip install --no-deps -r ... --target <target>/interop/py2-grpc-<version>`
//! (no resolution: the list is the whole install). The driver is
//! `tests/interop/py2_client.py`. Under nextest a setup script (`.config/nextest.toml`)
//! runs [`install_py2_grpc_sdk`] before any scenario; under plain `cargo test` the
//! first scenario installs. A missing `python3` or pip fails the test; nothing here
//! is skipped.

mod common;
#[path = "cluster/pg.rs"]
mod pg;
#[macro_use]
#[path = "interop_grpc/scenarios.rs"]
mod scenarios;

use common::sdk::{
    ensure_installed, md5_hex, pip_install, require_tool, scripts_dir, AUTH_PASSWORD, AUTH_USER,
};
use scenarios::Client;
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The nacos-sdk-python release whose v2 package is tested; must be pinned in
/// `tests/interop/py2/requirements.txt`.
const PY_SDK: &str = "2.0.11";

/// Installs the pinned requirements (once per test binary, and only when the list or
/// the Python changed) and returns the directory to put on `PYTHONPATH`.
fn py2_sdk() -> PathBuf {
    static SDK: OnceLock<PathBuf> = OnceLock::new();
    SDK.get_or_init(|| {
        let python = require_tool(
            "python3",
            &["--version"],
            "runs the Python v2 SDK scenarios",
        );
        require_tool(
            "python3",
            &["-m", "pip", "--version"],
            "installs nacos-sdk-python and grpcio from PyPI",
        );
        let requirements = scripts_dir().join("py2").join("requirements.txt");
        let list = fs::read(&requirements)
            .unwrap_or_else(|e| panic!("reading tests/interop/py2/requirements.txt: {e}"));
        assert!(
            String::from_utf8_lossy(&list)
                .lines()
                .any(|l| l == format!("nacos_sdk_python=={PY_SDK}")),
            "tests/interop/py2/requirements.txt must pin nacos_sdk_python=={PY_SDK}"
        );
        let fingerprint = format!(
            "nacos-sdk-python {PY_SDK} v2, {python}, requirements.txt md5 {}\n",
            md5_hex(&list)
        );
        ensure_installed(&format!("py2-grpc-{PY_SDK}"), &fingerprint, |dir| {
            pip_install(dir, &["-r".as_ref(), requirements.as_os_str()]);
            assert!(
                dir.join("v2").join("nacos").join("config").is_dir(),
                "nacos-sdk-python {PY_SDK} installed, but has no v2/nacos/config"
            );
        })
    })
    .clone()
}

fn py2_command() -> Command {
    let mut cmd = Command::new("python3");
    cmd.arg(scripts_dir().join("py2_client.py"))
        .env("PYTHONPATH", py2_sdk())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .env("INTEROP_SDK_VERSION", PY_SDK)
        .env("INTEROP_AUTH_USER", AUTH_USER)
        .env("INTEROP_AUTH_PASSWORD", AUTH_PASSWORD);
    cmd
}

const PY2: Client = Client {
    label: "nacos-sdk-python v2",
    command: py2_command,
};

/// Installs the SDK. The nextest setup script of `.config/nextest.toml` runs this
/// alone before the scenarios, so no scenario's time limit includes an install.
#[test]
fn install_py2_grpc_sdk() {
    println!(
        "nacos-sdk-python {PY_SDK} (v2, gRPC) at {}",
        py2_sdk().display()
    );
}

// `py2_restart`: against rnacos 0.8.8 (run by hand) this SDK did not recover from a
// server restart: grpcio reconnects the channel underneath it, the server answers its
// health checks on the new, never set-up connection with 301 "Connection is
// unregistered", which 2.0.11 counts as healthy (any 3xx), so it never sets the
// connection up again nor re-registers its listeners. Its ConnectResetRequest handler
// holds an asyncio.Lock with a plain `with` (a TypeError), so a server's reset request
// cannot move it either. `py2_failover` passed against an rnacos cluster: the stopped
// node stays down, the health check fails and the SDK switches servers.
grpc_scenarios!(PY2,
    py2_basic => basic,
    py2_listen => listen,
    py2_namespace => namespace,
    py2_auth_on => auth_on,
    py2_restart => restart,
    py2_failover => failover,
);
