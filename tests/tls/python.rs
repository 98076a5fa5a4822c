//! The Python SDK's v1 `NacosClient` (nacos-sdk-python, pinned, from PyPI)
//! over `https://`: the interop suite's `basic` scenario (publish, get,
//! a watcher woken by changes and deletes, long polls in between) against
//! a TLS server. That client does not check the server's certificate (it
//! uses a bare `ssl.SSLContext()`); what this proves is that its TLS stack
//! and vigil's agree, keep-alive and long polls included.

use super::common::sdk::{
    ensure_installed, require_tool, run_client, run_logged, workspace_dir, INSTALL_TIMEOUT,
};
use super::{pki, start};
use std::process::Command;

/// The release tests/interop.rs pins (the newest 2.0.x, with the v1 client);
/// the same install slot, so one install serves both.
const PY_V2: &str = "2.0.11";

fn sdk() -> std::path::PathBuf {
    require_tool("python3", &["--version"], "runs the Python SDK");
    let fingerprint = format!("nacos-sdk-python=={PY_V2} --no-deps\n");
    ensure_installed(&format!("py-{PY_V2}"), &fingerprint, |dir| {
        let mut cmd = Command::new("python3");
        cmd.args([
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-input",
            "--disable-pip-version-check",
            "--no-warn-script-location",
            "--target",
        ])
        .arg(dir)
        .arg(format!("nacos-sdk-python=={PY_V2}"));
        let log = dir.with_extension("install.log");
        let (status, text) = run_logged(cmd, &log, INSTALL_TIMEOUT, "pip install");
        assert!(
            status.is_some_and(|s| s.success()),
            "`pip install nacos-sdk-python=={PY_V2}` failed ({status:?}):\n{text}"
        );
    })
}

#[test]
fn the_python_sdk_v1_client_works_over_https() {
    let p = pki();
    let s = start(&p, &[], &[]);
    let mut cmd = Command::new("python3");
    cmd.arg(workspace_dir().join("tests/interop/py_client.py"))
        .env("PYTHONPATH", sdk())
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONNOUSERSITE", "1")
        .env("INTEROP_SDK_VERSION", PY_V2);
    let addr = format!("https://127.0.0.1:{}", s.addr.port());
    run_client("nacos-sdk-python over https", cmd, "basic", &addr);
    // No handshake of the client's failed along the way.
    let m = super::metrics(s.addr, &p.ca.cert);
    assert_eq!(m["vigil_rejected_total{reason=\"tls\"}"], 0, "{m:?}");
}
