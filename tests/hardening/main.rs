//! Hardening of `vigil` against hostile or broken surroundings: the disk
//! (unusable data directory or database file at start; the database locked
//! by another process while running), malformed HTTP (every framing and
//! parameter error gets its own 4xx while a parked poll elsewhere stays
//! parked and stored configs stay unchanged, and the outcome does not
//! depend on how the bytes are split across reads), slow and vanishing clients
//! (slowloris, a client that pipelines requests and never reads, 2,000
//! parked clients hanging up at once), overload (more connections than file
//! descriptors, with and without the connection cap), a publish storm
//! through 10,000 parked listeners, and a graceful stop in the middle of
//! traffic.
//!
//! Every test starts its own server on 127.0.0.1; waits are bounded and say
//! what they waited for. The heavy loads (10,000 and 2,000 parked listeners,
//! the clients that never read) are driven by the bundled load tester's code
//! (`vigil_loadtest`), which checks every reply its clients read. Numbers worth knowing (shed counts, CPU, RSS) are
//! printed; run with `--no-capture` to see them.

#[path = "../common/mod.rs"]
mod common;

use clap::Parser;
use common::{
    enc, form, get_config, get_raw, listener_raw, md5_hex, post_raw, publish, publish_ok, record,
    request, start_poll, Conn, Response, Server,
};
use common::{lossy, metric, metrics, parked_polls, wait_metrics, GAUGE_WAIT};
use std::collections::HashMap;
use std::io::{BufRead, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use vigil_loadtest::cli::Cli;
use vigil_loadtest::listeners::{Listeners, Options, Wake};
use vigil_loadtest::proto::{self, KeyId, KeyKind, KeySpace};

const CFG: &str = "/nacos/v1/cs/configs";
const LISTENER: &str = "/nacos/v1/cs/configs/listener";
const DG: &str = "DEFAULT_GROUP";

// ---------------------------------------------------------------------------
// /proc helpers
// ---------------------------------------------------------------------------

/// CPU time (user + system) of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after = &s[s.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat; `after` starts at field 3.
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    ticks as f64 / clock_ticks()
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// True when nothing arrives on `c` within `wait` and it is still open.
fn still_waiting(c: &mut Conn, wait: Duration) -> bool {
    c.set_read_timeout(wait);
    let r = matches!(
        c.reader.fill_buf(),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
    );
    c.set_read_timeout(Duration::from_secs(60));
    r
}

mod disk;
mod http;
mod overload;
mod panic;
mod slow;
mod stop;
mod storm;
