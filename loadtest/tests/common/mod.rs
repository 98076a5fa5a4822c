//! Test support for the load tester's own tests: start the real `vigil`
//! binary on `127.0.0.1:0` with a fresh data directory, run the real
//! `loadtest` binary against it, and read its report (the last JSON line).
//!
//! The `vigil` binary is the one built beside `loadtest` in the same target
//! directory and profile (`cargo nextest run --workspace` builds both); when
//! it is missing (only this package was built), it is built with cargo first.

#![allow(dead_code)]

/// The server's own harness for server processes (one copy, shared).
#[path = "../../../tests/common/process.rs"]
mod process;

use process::Process;

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Path of the `vigil` binary beside `loadtest`, built if absent.
pub fn vigil_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let loadtest = PathBuf::from(env!("CARGO_BIN_EXE_loadtest"));
        let dir = loadtest.parent().expect("binary directory");
        let vigil = dir.join("vigil");
        if !vigil.exists() {
            let release = dir.file_name().is_some_and(|n| n == "release");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut cmd = Command::new(cargo);
            cmd.args(["build", "-p", "vigil", "--bin", "vigil"])
                .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
            if release {
                cmd.arg("--release");
            }
            let st = cmd.status().expect("running cargo build -p vigil");
            assert!(st.success(), "cargo build -p vigil failed");
        }
        assert!(vigil.exists(), "no vigil binary at {}", vigil.display());
        vigil
    })
    .clone()
}

/// A running vigil with a fresh data directory. Dropping it is the teardown
/// check of the server's own test harness (`process`): it must still be
/// running, and SIGTERM must make it exit 0.
pub struct Vigil {
    proc: Process,
    pub addr: SocketAddr,
    /// Dropped after the process (fields drop in order).
    _tmp: tempfile::TempDir,
}

impl Vigil {
    pub fn start() -> Vigil {
        Vigil::start_with(&[])
    }

    /// A vigil started with `extra` arguments too.
    pub fn start_with(extra: &[&str]) -> Vigil {
        let tmp = tempfile::tempdir().expect("temp dir");
        let mut cmd = Command::new(vigil_bin());
        cmd.args(["--bind", "127.0.0.1", "--port", "0", "--data-dir"])
            .arg(tmp.path().join("data"))
            .args(extra);
        for (k, _) in std::env::vars() {
            if k.starts_with("VIGIL_") {
                cmd.env_remove(k);
            }
        }
        let proc =
            Process::launch(cmd).unwrap_or_else(|e| panic!("vigil exited before listening: {e:?}"));
        Vigil {
            addr: proc.addr,
            proc,
            _tmp: tmp,
        }
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Status and body of `GET path` on a fresh connection.
    pub fn get(&self, path: &str) -> (u16, String) {
        let mut s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).expect("read response");
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("bad response {text:?}"));
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        (status, body.to_string())
    }

    /// One Prometheus metric of the server.
    pub fn metric(&self, name: &str) -> u64 {
        let (_, body) = self.get("/nacos/actuator/prometheus");
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("metric {name} missing")) as u64
    }
}

/// A loopback port nothing listens on (bound once by the kernel's choice,
/// then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local address").port()
}

/// What a loadtest run left behind.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl Run {
    /// The report: the last JSON line of stdout.
    pub fn json(&self) -> Value {
        vigil_loadtest::report::last_json_line(&self.stdout).unwrap_or_else(|| {
            panic!(
                "no JSON line (exit {:?}); stdout:\n{}\nstderr:\n{}",
                self.code, self.stdout, self.stderr
            )
        })
    }

    /// Asserts the run passed every check.
    pub fn passed(&self) -> Value {
        let j = self.json();
        assert_eq!(
            (self.code, &j["ok"]),
            (Some(0), &Value::Bool(true)),
            "failures {}; stderr:\n{}",
            j["failures"],
            self.stderr
        );
        j
    }
}

/// Runs `loadtest` with `args`; gives up (and fails) after `limit`.
pub fn loadtest(args: &[&str], limit: Duration) -> Run {
    let t0 = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn loadtest");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let code = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st.code();
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("loadtest {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code,
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
        took: t0.elapsed(),
    }
}
