//! A vigil that serves the Nacos 2.x gRPC protocol beside HTTP, for the real
//! gRPC clients: HTTP on a port `P` and gRPC on `P + 1000`, the offset every
//! Nacos client assumes by default, so a client is given only `P`; and one
//! driver run with its half-way pauses.
//!
//! A driver (tests/interop/go2, py2_client.py, tests/interop/rust) is run as
//! `DRIVER ADDRS SCENARIO` from a scratch directory. Scenarios that need the test to
//! act half-way (restart a server, stop a cluster node) print `AWAIT <what>` and read
//! one line from stdin: the HTTP address of a live server. [`run_driver`] answers
//! with what its `on_await` returns. The driver prints `PASS <scenario>` last and
//! exits 0 when every check passed.

use super::sdk::{kill_group, without_proxies, SCRIPT_TIMEOUT};
use super::server::{vigil_command_on, Server};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The clients' default distance from the HTTP port to the gRPC port.
pub const GRPC_OFFSET: u16 = 1000;
/// Attempts at a free pair of ports before giving up (another process may
/// take a port between the probe and the server's bind).
const ATTEMPTS: usize = 10;

/// A port `P` on loopback with `P + 1000` free too (both bound, then
/// released).
pub fn free_port_pair() -> u16 {
    for _ in 0..ATTEMPTS * 10 {
        let Ok(http) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(addr) = http.local_addr() else {
            continue;
        };
        let Some(grpc) = addr.port().checked_add(GRPC_OFFSET) else {
            continue;
        };
        if TcpListener::bind(("127.0.0.1", grpc)).is_ok() {
            return addr.port();
        }
    }
    panic!("no free loopback port P with P + {GRPC_OFFSET} free as well");
}

/// Starts vigil on `data_dir` with `extra` flags on a free port `P` whose
/// `P + 1000` is free too; it serves gRPC there by default. A start that
/// fails (a port taken between the probe and the bind) is retried on
/// another pair.
pub fn start_grpc(data_dir: &Path, extra: &[&str]) -> Server {
    let mut failures = Vec::new();
    for _ in 0..ATTEMPTS {
        let port = free_port_pair();
        match Server::launch(vigil_command_on(port, data_dir, extra), data_dir) {
            Ok(server) => return server,
            Err(exited) => failures.push(format!("port {port}: {exited:?}")),
        }
    }
    panic!(
        "vigil did not start with gRPC in {ATTEMPTS} attempts:\n{}",
        failures.join("\n")
    );
}

/// The gRPC port of a server started by [`start_grpc`] (or on a port chosen
/// by [`free_port_pair`]).
pub fn grpc_port(s: &Server) -> u16 {
    grpc_addr(s.addr).port()
}

/// The gRPC address of `http` (its port + 1000).
pub fn grpc_addr(http: SocketAddr) -> SocketAddr {
    let port = http
        .port()
        .checked_add(GRPC_OFFSET)
        .unwrap_or_else(|| panic!("{http}: no gRPC port {GRPC_OFFSET} above it (use start_grpc)"));
    SocketAddr::new(http.ip(), port)
}

/// How many established TCP connections in this network namespace go to `port` on
/// the client side (remote port `port`): a client's connections to a server.
pub fn clients_connected_to(port: u16) -> usize {
    let mut n = 0;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(remote), Some(state)) = (fields.get(2), fields.get(3)) else {
                continue;
            };
            let remote_port = remote
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            // State 01 is ESTABLISHED.
            if *state == "01" && remote_port == Some(port) {
                n += 1;
            }
        }
    }
    n
}

/// Index of the node among `nodes` a client holds a gRPC connection to, waiting up
/// to `limit` for one; panics if none does.
pub fn connected_node(nodes: &[&Server], limit: Duration) -> usize {
    let deadline = Instant::now() + limit;
    loop {
        let counts: Vec<usize> = nodes
            .iter()
            .map(|s| clients_connected_to(grpc_port(s)))
            .collect();
        if let Some(i) = counts.iter().position(|&c| c > 0) {
            println!("gRPC connections per node: {counts:?}");
            return i;
        }
        assert!(
            Instant::now() < deadline,
            "no node's gRPC port has a client connection after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One line of the driver's output, or its end.
enum Out {
    Line(String),
    End,
}

/// Runs `cmd` (a driver) with `ADDRS SCENARIO` in a scratch directory, answering
/// each `AWAIT <what>` with `on_await(what)`; fails the test, showing everything the
/// driver printed, unless it exits 0 after printing `PASS <scenario>`.
pub fn run_driver(
    label: &str,
    mut cmd: Command,
    scenario: &str,
    addrs: &str,
    mut on_await: impl FnMut(&str) -> String,
) {
    let scratch = tempfile::tempdir().expect("creating a scratch directory for the client");
    let err_log = scratch.path().join("client-stderr.log");
    let err_file = File::create(&err_log).expect("creating the client's stderr log");
    cmd.arg(addrs)
        .arg(scenario)
        .current_dir(scratch.path())
        .env("HOME", scratch.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(err_file)
        .process_group(0);
    without_proxies(&mut cmd);
    for var in ["PYTHONHOME", "PYTHONSTARTUP"] {
        cmd.env_remove(var);
    }
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{label}: cannot start {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().expect("the driver's stdin");
    let stdout = child.stdout.take().expect("the driver's stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            match line {
                Ok(l) => {
                    if tx.send(Out::Line(l)).is_err() {
                        return;
                    }
                }
                Err(_) => break,
            }
        }
        let _ = tx.send(Out::End);
    });
    let deadline = started + SCRIPT_TIMEOUT;
    let mut output = String::new();
    let mut timed_out = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Out::Line(line)) => {
                output.push_str(&line);
                output.push('\n');
                if let Some(what) = line.strip_prefix("AWAIT ") {
                    let answer = on_await(what.trim());
                    output.push_str(&format!("(test: {what} done, answered {answer})\n"));
                    // A driver that already gave up shows that in its output.
                    let _ = writeln!(stdin, "{answer}").and_then(|()| stdin.flush());
                }
            }
            Ok(Out::End) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                break;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = if timed_out {
        kill_group(child.id());
        let _ = child.wait();
        None
    } else {
        super::sdk::wait_group(&mut child, Duration::from_secs(10))
    };
    kill_group(child.id());
    let elapsed = started.elapsed();
    let stderr = std::fs::read_to_string(&err_log).unwrap_or_default();
    let passed = status.is_some_and(|s| s.success())
        && output
            .lines()
            .any(|l| l.starts_with(&format!("PASS {scenario}")));
    if !passed {
        let how = match status {
            None => format!("was killed after {SCRIPT_TIMEOUT:?}"),
            Some(s) => format!("exited with {s}"),
        };
        panic!(
            "{label} scenario `{scenario}` against {addrs} {how} after {elapsed:.1?}.\n\
             ---- client output ----\n{output}---- client stderr ----\n{stderr}---- end ----"
        );
    }
    println!("{label} `{scenario}` passed in {elapsed:.1?}:\n{output}");
}
