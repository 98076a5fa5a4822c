//! The README's table of flags against the real binary: every row names an
//! option `vigil --help` lists with that `VIGIL_*` variable (and `--help`
//! lists nothing the table leaves out), and every variable is exercised: a
//! server started with only that variable set (no flag) shows its effect
//! over the wire or in its log. Where the effect needs a heavy setup, a bad
//! value is refused at start naming the flag (the variable reaches that
//! flag's parser; the flag's effect has its own test). `VIGIL_STORE` and
//! `VIGIL_ADVERTISE` are exercised in `tests/cluster.rs`, which has a
//! PostgreSQL server.

use super::common::{self, *};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `(flag, variable)` of each row of the README's table.
fn readme_rows() -> BTreeSet<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let text = std::fs::read_to_string(&path).expect("README.md");
    let rows: BTreeSet<(String, String)> = text
        .lines()
        .skip_while(|l| !l.starts_with("| flag | environment |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            // `\|` is a `|` inside a cell (`--sync full\|normal`).
            let l = l.replace("\\|", "/");
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let flag = cells[1].trim_matches('`').split([' ', '`']).next();
            let var = cells[2].trim_matches('`');
            (flag.unwrap_or("").to_owned(), var.to_owned())
        })
        .collect();
    assert!(rows.len() > 20, "README.md: the flag table was not found");
    rows
}

/// `(flag, variable)` of each option `vigil --help` lists (the variable
/// empty when it has none).
fn help_options() -> BTreeSet<(String, String)> {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("--help")
        .output()
        .expect("vigil --help");
    assert!(out.status.success());
    let help = lossy(&out.stdout);
    let mut options = BTreeSet::new();
    let mut current: Option<(String, String)> = None;
    for line in help.lines() {
        let t = line.trim_start();
        if t.starts_with('-') {
            options.extend(current.take());
            let long = t.split_whitespace().find(|w| w.starts_with("--"));
            let flag = long.map(|w| w.trim_end_matches(',').to_owned());
            current = flag.map(|f| (f, String::new()));
        }
        if let (Some(c), Some((_, rest))) = (current.as_mut(), t.split_once("[env: ")) {
            c.1 = rest.split(['=', ']']).next().unwrap_or("").to_owned();
        }
    }
    options.extend(current);
    options
}

#[test]
fn the_readme_table_lists_exactly_the_options_of_vigil_help() {
    let help: BTreeSet<_> = help_options()
        .into_iter()
        .filter(|(f, _)| f != "--help" && f != "--version")
        .collect();
    let readme = readme_rows();
    let only_help: Vec<_> = help.difference(&readme).collect();
    let only_readme: Vec<_> = readme.difference(&help).collect();
    assert!(
        only_help.is_empty() && only_readme.is_empty(),
        "README table and `vigil --help` differ: only in --help {only_help:?}; only in the \
         README {only_readme:?}"
    );
}

/// How a variable's effect shows.
enum Effect {
    /// Over the wire, on the server started with it.
    Wire(fn(&Server)),
    /// In the server's log (stderr) up to its SIGTERM stop: the text is
    /// there (`true`) or not.
    Log(&'static str, bool),
    /// A bad value: the server refuses to start, naming this.
    Refused(&'static str),
}

/// The variables and their effects; `VIGIL_BIND`, `VIGIL_PORT` and
/// `VIGIL_DATA_DIR` have their own test below.
fn effects() -> Vec<(&'static [(&'static str, &'static str)], Effect)> {
    use Effect::*;
    vec![
        (&[("VIGIL_THREADS", "3")], Log("3 reactors", true)),
        (&[("VIGIL_GRPC_PORT", "0")], Log("gRPC door off", true)),
        (
            &[("VIGIL_LOG_LEVEL", "warn")],
            Log(" reactors, up to ", false),
        ),
        (
            &[("VIGIL_MAX_HEADER_BYTES", "1024")],
            Wire(|s| {
                let r = get_h(
                    s.addr,
                    "/nacos/v1/cs/health",
                    &[],
                    &[("X-Pad", &"p".repeat(2000))],
                );
                assert_eq!(r.status, 431);
            }),
        ),
        (
            &[("VIGIL_MAX_REQUEST_LINE_BYTES", "1024")],
            Wire(|s| {
                let r = get(s.addr, "/nacos/v1/cs/health", &[("pad", &"p".repeat(2000))]);
                assert_eq!(r.status, 414);
            }),
        ),
        (
            &[("VIGIL_MAX_BODY_BYTES", "1024")],
            Wire(|s| assert_eq!(publish(s.addr, "k", "G", "", &"c".repeat(2000)).status, 413)),
        ),
        (
            &[("VIGIL_MAX_BUFFERED_BYTES", "lots")],
            Refused("--max-buffered-bytes"),
        ),
        (
            &[("VIGIL_MAX_CONTENT_CHARS", "5")],
            Wire(|s| {
                assert_eq!(publish(s.addr, "k", "G", "", "12345").status, 200);
                assert_eq!(publish(s.addr, "k", "G", "", "123456").status, 400);
            }),
        ),
        (
            &[("VIGIL_MAX_IMPORT_ENTRIES", "lots")],
            Refused("--max-import-entries"),
        ),
        (
            &[("VIGIL_MAX_IMPORT_BYTES", "lots")],
            Refused("--max-import-bytes"),
        ),
        (
            &[("VIGIL_MAX_KEYS_PER_LISTENER", "1")],
            Wire(|s| {
                let two = format!(
                    "{}{}",
                    record("a", "G", "", None),
                    record("b", "G", "", None)
                );
                let r = request(
                    s.addr,
                    &listener_raw(
                        &two,
                        Some("30000"),
                        &[("Long-Pulling-Timeout-No-Hangup", "true")],
                    ),
                );
                assert_eq!(
                    r.status,
                    400,
                    "two keys past a limit of one: {}",
                    lossy(&r.body)
                );
            }),
        ),
        (
            &[("VIGIL_MAX_CONNECTIONS", "1")],
            Wire(|s| {
                let mut first = Conn::open(s.addr);
                let r = first.roundtrip(&get_raw("/nacos/v1/cs/health"));
                assert_eq!(r.status, 200);
                assert!(
                    Conn::open(s.addr).is_closed(Duration::from_secs(10)),
                    "a second connection"
                );
            }),
        ),
        (
            &[("VIGIL_IDLE_TIMEOUT_MS", "200")],
            Wire(|s| {
                let mut c = Conn::open(s.addr);
                assert_eq!(c.roundtrip(&get_raw("/nacos/v1/cs/health")).status, 200);
                assert!(c.is_closed(Duration::from_secs(10)), "an idle connection");
            }),
        ),
        (
            &[("VIGIL_REQUEST_TIMEOUT_MS", "200")],
            Wire(|s| {
                let mut c = Conn::open(s.addr);
                c.send(b"GET /nacos/v1/cs/health HTTP/1.1\r\n");
                c.set_read_timeout(Duration::from_secs(10));
                assert_eq!(c.read_response().status, 408, "an unfinished request");
            }),
        ),
        (
            &[("VIGIL_MAX_HOLD_MS", "10000")],
            Wire(|s| {
                publish_ok(s.addr, "k", "G", "", "v");
                let t = Instant::now();
                let mut c = park(s.addr, &record("k", "G", &md5_hex("v"), None));
                let r = c.read_response();
                assert_eq!((r.status, r.body.len()), (200, 0));
                // 30 s asked, 10 s cap: min(30, 10) - 0.5 s is under the floor.
                assert_held(t.elapsed(), 10_000, "VIGIL_MAX_HOLD_MS=10000");
            }),
        ),
        (&[("VIGIL_WRITE_QUEUE", "lots")], Refused("--write-queue")),
        // TLS for real (a CA made at test time, clients over TLS) is
        // tests/tls, whose servers start with these variables; here each
        // reaches its flag: missing files are refused naming the flag, and
        // a key or CA without a certificate is refused naming it too.
        (
            &[
                ("VIGIL_TLS_CERT", "/nonexistent/cert.pem"),
                ("VIGIL_TLS_KEY", "/nonexistent/key.pem"),
            ],
            Refused("--tls-cert /nonexistent/cert.pem"),
        ),
        (
            &[("VIGIL_TLS_KEY", "k.pem")],
            Refused("--tls-key <TLS_KEY>"),
        ),
        (
            &[("VIGIL_TLS_CLIENT_CA", "ca.pem")],
            Refused("--tls-client-ca <TLS_CLIENT_CA>"),
        ),
        (&[("VIGIL_SYNC", "sometimes")], Refused("sometimes")),
        (
            &[("VIGIL_TRUST_PROXY_HEADERS", "true")],
            Wire(|s| {
                let body = form(&[("dataId", "k"), ("group", "G"), ("content", "beta")]);
                let r = request(
                    s.addr,
                    &post_raw(
                        "/nacos/v1/cs/configs",
                        &[("betaIps", "10.1.2.3")],
                        body.as_bytes(),
                    ),
                );
                assert_eq!(r.text(), "true");
                let q = [("dataId", "k"), ("group", "G")];
                let via = |ip| {
                    get_h(
                        s.addr,
                        "/nacos/v1/cs/configs",
                        &q,
                        &[("X-Forwarded-For", ip)],
                    )
                };
                assert_eq!(
                    via("10.1.2.3").text(),
                    "beta",
                    "the beta address, by X-Forwarded-For"
                );
            }),
        ),
        (&[("VIGIL_WATCH_LOG_ENTRIES", "1")], Wire(resume_is_reset)),
        (&[("VIGIL_WATCH_LOG_BYTES", "1")], Wire(resume_is_reset)),
        (
            &[("VIGIL_WATCH_MAX_UNSENT_BYTES", "lots")],
            Refused("--watch-max-unsent-bytes"),
        ),
        (
            &[("VIGIL_WATCH_HEARTBEAT_MS", "200")],
            Wire(|s| {
                let mut c = Conn::open(s.addr);
                c.send(&get_raw("/nacos/v1/cs/configs/watch?group=G"));
                c.set_read_timeout(Duration::from_secs(10));
                let mut line = String::new();
                while line != ":\n" {
                    line.clear();
                    let n =
                        std::io::BufRead::read_line(&mut c.reader, &mut line).expect("a heartbeat");
                    assert!(n > 0, "the stream ended");
                }
            }),
        ),
        (
            &[("VIGIL_HISTORY_RETENTION_DAYS", "lots")],
            Refused("--history-retention-days"),
        ),
        (
            &[
                ("VIGIL_AUTH", "true"),
                ("VIGIL_AUTH_ADMIN_USER", "boss"),
                ("VIGIL_AUTH_ADMIN_PASSWORD", "pw"),
                ("VIGIL_AUTH_TOKEN_TTL_SECS", "77"),
            ],
            Wire(|s| {
                assert_eq!(
                    get_config(s.addr, "k", "G", "").status,
                    403,
                    "anonymous read"
                );
                let body = form(&[("username", "boss"), ("password", "pw")]);
                let r = request(
                    s.addr,
                    &post_raw("/nacos/v1/auth/login", &[], body.as_bytes()),
                );
                assert_eq!(r.status, 200, "login as boss: {}", lossy(&r.body));
                let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
                assert_eq!(v["tokenTtl"], 77);
            }),
        ),
    ]
}

/// A watch stream resumed from before two changes gets a reset: the log
/// kept less than what it missed.
fn resume_is_reset(s: &Server) {
    use common::sse::Stream;
    publish_ok(s.addr, "k", "G", "", "v0");
    let mut w = Stream::open(s.addr, "group=G&dataId=k", &[]);
    w.snapshot();
    let last = w.last_id.clone().expect("an id");
    drop(w);
    publish_ok(s.addr, "k", "G", "", "v1");
    publish_ok(s.addr, "k", "G", "", "v2");
    let mut w = Stream::open(s.addr, "group=G&dataId=k", &[("Last-Event-ID", &last)]);
    let ev = w.next_within(Duration::from_secs(10)).expect("an event");
    assert_eq!(ev.kind, "reset");
}

/// Starts the server with `vars` and no flag but the test's address and data
/// directory (which the variables under test do not name), its log in `log`
/// when spawned by hand (the harness pipes the stderr of a server it runs).
fn start_with(vars: &[(&str, &str)], dir: &Path, log: &Path) -> Command {
    let mut cmd = common::vigil_command(dir, &[]);
    cmd.envs(vars.iter().copied())
        .stderr(std::fs::File::create(log).expect("log file"));
    cmd
}

#[test]
fn every_variable_of_the_readme_table_has_its_effect() {
    let table = effects();
    let mut named: BTreeSet<&str> = table
        .iter()
        .flat_map(|(v, _)| v.iter().map(|p| p.0))
        .collect();
    named.extend([
        "VIGIL_BIND",
        "VIGIL_PORT",
        "VIGIL_DATA_DIR",
        "VIGIL_STORE",
        "VIGIL_ADVERTISE",
    ]);
    let readme: BTreeSet<String> = readme_rows().into_iter().map(|r| r.1).collect();
    let untested: Vec<_> = readme
        .iter()
        .filter(|v| !named.contains(v.as_str()))
        .collect();
    assert!(
        untested.is_empty(),
        "README variables no test exercises: {untested:?}"
    );
    for (vars, effect) in table {
        println!("with {vars:?}"); // names the row a failed check belongs to
        let tmp = tempfile::tempdir().expect("temp dir");
        let (dir, log) = (tmp.path().join("data"), tmp.path().join("stderr.log"));
        let cmd = start_with(vars, &dir, &log);
        match effect {
            Effect::Wire(check) => check(&Server::spawn(cmd, &dir)),
            Effect::Log(text, present) => {
                let mut s = Server::spawn(cmd, &dir);
                assert_eq!(s.sigterm().code(), Some(0), "{vars:?}");
                // The harness pipes a served server's stderr and keeps its
                // lines (a start-up's few lines are all there).
                let logged = s.stderr().text();
                assert_eq!(
                    logged.contains(text),
                    present,
                    "{vars:?}: {text:?} in the log:\n{logged}"
                );
            }
            Effect::Refused(name) => {
                let mut cmd = cmd;
                let mut child = cmd.stdout(Stdio::null()).spawn().expect("spawn vigil");
                let t = Instant::now();
                let st = loop {
                    if let Some(st) = child.try_wait().expect("wait") {
                        break st;
                    }
                    if t.elapsed() > GAUGE_WAIT {
                        let _ = child.kill();
                        panic!("{vars:?}: the server started with a bad value");
                    }
                    std::thread::sleep(Duration::from_millis(20));
                };
                let logged = std::fs::read_to_string(&log).expect("log");
                assert!(
                    !st.success() && logged.contains(name),
                    "{vars:?}: {st}, {logged}"
                );
            }
        }
    }
}

#[test]
fn the_address_port_and_data_dir_come_from_the_environment() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("from-env");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigil"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("VIGIL_")) {
        cmd.env_remove(k);
    }
    cmd.envs([
        ("VIGIL_BIND", "127.0.0.1"),
        ("VIGIL_PORT", "0"),
        ("VIGIL_DATA_DIR", dir.to_str().expect("utf-8 path")),
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped());
    let s = Server::spawn(cmd, &dir);
    assert_eq!(s.addr.ip().to_string(), "127.0.0.1");
    assert_ne!(s.addr.port(), 0);
    publish_ok(s.addr, "k", "G", "", "v");
    assert!(
        dir.join("vigil.db").is_file(),
        "no database in VIGIL_DATA_DIR"
    );
}
