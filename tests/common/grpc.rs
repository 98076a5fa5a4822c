//! What the tests of real gRPC (Nacos 2.x) clients share: a server whose HTTP port
//! P has P + 1000 free too (the clients' fixed offset to the gRPC port), and one
//! driver run with its half-way pauses.
//!
//! A driver (tests/interop/go2, py2_client.py, tests/interop/rust) is run as
//! `DRIVER ADDRS SCENARIO` from a scratch directory. Scenarios that need the test to
//! act half-way (restart a server, stop a cluster node) print `AWAIT <what>` and read
//! one line from stdin: the HTTP address of a live server. [`run_driver`] answers
//! with what its `on_await` returns. The driver prints `PASS <scenario>` last and
//! exits 0 when every check passed.

use super::sdk::{kill_group, without_proxies, SCRIPT_TIMEOUT};
use super::Server;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What the clients add to the HTTP port to find the gRPC one.
pub const GRPC_OFFSET: u16 = 1000;

/// A free port P (on 127.0.0.1) with P + 1000 free too.
fn free_port_pair() -> u16 {
    for _ in 0..200 {
        let Ok(http) = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)) else {
            continue;
        };
        let Ok(addr) = http.local_addr() else {
            continue;
        };
        let port = addr.port();
        let Some(grpc) = port.checked_add(GRPC_OFFSET) else {
            continue;
        };
        if TcpListener::bind((Ipv4Addr::LOCALHOST, grpc)).is_ok() {
            return port;
        }
    }
    panic!("found no free port P with P + {GRPC_OFFSET} free in 200 tries");
}

/// A vigil on `data_dir` whose HTTP port P has P + 1000 (its default gRPC port)
/// free when it starts.
pub fn start_grpc(data_dir: &Path, extra: &[&str]) -> Server {
    Server::start_on(free_port_pair(), data_dir, extra)
}

/// The gRPC port of `s`: HTTP port + 1000 (vigil's default, the clients' offset).
pub fn grpc_port(s: &Server) -> u16 {
    s.addr.port() + GRPC_OFFSET
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
