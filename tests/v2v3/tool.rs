//! A real tool on these APIs: jewei-mcp-nacos from PyPI (pinned), whose
//! 2.x client reads and writes configs through `/nacos/v2/cs/config` and
//! whose 3.x client logs in at `/nacos/v3/auth/user/login`, driven by
//! `jewei_client.py` with auth off and on. A missing `python3` or pip, or a
//! failed install, fails the test.

use crate::common::sdk::{
    ensure_installed, no_failures, pip_install, require_tool, run_scenario, workspace_dir, AUTH_ON,
    AUTH_PASSWORD, AUTH_USER,
};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The tool and its one dependency's closure, pinned, installed without
/// resolution so the test never drifts.
const PACKAGES: &[&str] = &[
    "jewei-mcp-nacos==0.1.8",
    "httpx==0.28.1",
    "httpcore==1.0.9",
    "h11==0.16.0",
    "anyio==4.16.0",
    "idna==3.21",
    "certifi==2026.10.19.post1",
    "typing_extensions==4.16.0",
];

fn installed() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        require_tool("python3", &["--version"], "runs jewei-mcp-nacos");
        require_tool(
            "python3",
            &["-m", "pip", "--version"],
            "installs jewei-mcp-nacos from PyPI",
        );
        let fingerprint = format!("{}\n", PACKAGES.join(" "));
        ensure_installed("jewei-mcp-nacos-0.1.8", &fingerprint, |dir| {
            let args: Vec<&std::ffi::OsStr> = PACKAGES.iter().map(|p| p.as_ref()).collect();
            pip_install(dir, &args);
            assert!(
                dir.join("jewei_mcp_nacos")
                    .join("clients")
                    .join("v2.py")
                    .is_file(),
                "jewei-mcp-nacos installed without its 2.x client"
            );
        })
    })
    .clone()
}

fn client(auth: bool) -> Command {
    let mut cmd = Command::new("python3");
    cmd.arg(workspace_dir().join("tests/v2v3/jewei_client.py"))
        .env("PYTHONPATH", installed())
        .env("PYTHONDONTWRITEBYTECODE", "1");
    for var in [
        "NACOS_USERNAME",
        "NACOS_PASSWORD",
        "NACOS_NAMESPACE",
        "NACOS_VERSION",
    ] {
        cmd.env_remove(var);
    }
    if auth {
        cmd.env("NACOS_USERNAME", AUTH_USER)
            .env("NACOS_PASSWORD", AUTH_PASSWORD);
    }
    cmd
}

#[test]
fn jewei_mcp_nacos_reads_and_writes_through_the_v2_open_api() {
    let what = "jewei-mcp-nacos 0.1.8";
    run_scenario(
        what,
        client(false),
        "v2-config",
        &[],
        no_failures(what, "v2-config"),
    );
}

#[test]
fn jewei_mcp_nacos_logs_in_at_v1_and_v3_and_writes_with_auth_on() {
    let what = "jewei-mcp-nacos 0.1.8, auth on";
    run_scenario(
        what,
        client(true),
        "v2-config",
        AUTH_ON,
        no_failures(what, "v2-config"),
    );
}
