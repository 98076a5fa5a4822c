//! The load tester against the real vigil binary: the rough edges a new
//! user hit (each test fails on the old behaviour), several servers at once,
//! the `noread` scenario, and the library API other tests drive load with.

mod common;

use common::{loadtest, Vigil};
use std::collections::HashMap;
use std::time::Duration;
use vigil_loadtest::listeners::{Listeners, Options};
use vigil_loadtest::proto::{KeyId, KeyKind};

/// Generous: a small run takes a few seconds; the machine may be busy.
const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn a_closed_port_fails_at_once_with_the_connect_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let server = format!("127.0.0.1:{port}");
    let run = loadtest(&["--server", &server, "fanout", "-n", "10"], LIMIT);
    assert_eq!(run.code, Some(1), "stderr: {}", run.stderr);
    assert!(
        run.stderr.contains(&format!("cannot connect to {server}"))
            && run.stderr.to_lowercase().contains("refused"),
        "{}",
        run.stderr
    );
    // The ramp timeout is 60 s; failing must not wait for it.
    assert!(run.took < Duration::from_secs(20), "took {:?}", run.took);
}

#[test]
fn fanout_counts_the_publishes_it_made() {
    let v = Vigil::start();
    let addr = v.addr.to_string();
    let run = loadtest(&["--server", &addr, "fanout", "-n", "20", "-r", "3"], LIMIT);
    let j = run.passed();
    assert_eq!(j["counters"]["publish_ok"], 3, "{}", run.stdout);
    assert_eq!(j["counters"]["publish_errors"], 0);
}

#[test]
fn rss_per_connection_is_measured_from_the_runs_own_baseline_or_declined() {
    let v = Vigil::start();
    let (addr, pid) = (v.addr.to_string(), v.pid().to_string());
    let common = ["--server", &addr, "--server-pid", &pid];
    let park = loadtest(
        &[&common[..], &["park", "-n", "500", "--duration", "2s"]].concat(),
        LIMIT,
    );
    park.passed();
    // The same connections again: the server reuses what the park run left.
    let fanout = loadtest(
        &[&common[..], &["fanout", "-n", "500", "-r", "1"]].concat(),
        LIMIT,
    );
    let j = fanout.passed();
    match j["bytes_per_parked"].as_f64() {
        Some(per) => assert!(per > 0.0, "{}", fanout.stdout),
        None => {
            let note = j["bytes_per_parked_note"].as_str().unwrap_or_default();
            assert!(note.starts_with("not measurable: "), "{}", fanout.stdout);
            assert!(fanout.stdout.contains(note));
        }
    }
    assert!(
        !fanout
            .stdout
            .contains("server RSS bytes per parked conn   0\n"),
        "{}",
        fanout.stdout
    );
}

#[test]
fn the_get_progress_line_shows_gets_not_listeners() {
    let v = Vigil::start();
    let addr = v.addr.to_string();
    let run = loadtest(
        &[
            "--server",
            &addr,
            "--progress-every",
            "200ms",
            "get",
            "-c",
            "2",
            "--keys",
            "3",
            "--duration",
            "2s",
        ],
        LIMIT,
    );
    run.passed();
    let progress: Vec<&str> = run.stderr.lines().filter(|l| l.contains("get: ")).collect();
    assert!(!progress.is_empty(), "no progress line: {}", run.stderr);
    for line in progress {
        assert!(
            line.contains("GETs") && line.contains("connections"),
            "{line}"
        );
        assert!(
            !line.contains("parked") && !line.contains("wakes"),
            "{line}"
        );
    }
}

#[test]
fn keys_are_deleted_at_the_end_unless_kept() {
    let v = Vigil::start();
    let addr = v.addr.to_string();
    let get = |run: &str, key: &str| {
        v.get(&format!(
            "/nacos/v1/cs/configs?dataId=lt.{run}.{key}&group=LOADTEST"
        ))
        .0
    };
    for (run_id, keep, status) in [("gone", false, 404), ("kept", true, 200)] {
        let mut args = vec!["--server", &addr, "--run-id", run_id];
        if keep {
            args.push("--keep");
        }
        args.extend(["get", "-c", "1", "--keys", "3", "--duration", "500ms"]);
        let j = loadtest(&args, LIMIT).passed();
        let (said, n) = if keep {
            ("keys_kept", 3)
        } else {
            ("keys_deleted", 3)
        };
        assert_eq!(j[said], n, "{j}");
        for k in ["g0", "g1", "g2"] {
            assert_eq!(get(run_id, k), status, "{run_id} {k}");
        }
    }
    // Keys written by the workers (publish loops) are deleted too.
    let j = loadtest(
        &[
            "--server",
            &addr,
            "--run-id",
            "pubs",
            "publish",
            "-c",
            "2",
            "--duration",
            "500ms",
        ],
        LIMIT,
    )
    .passed();
    assert_eq!(j["keys_deleted"], 2, "{j}");
    assert_eq!(get("pubs", "p0"), 404);
    assert_eq!(get("pubs", "p1"), 404);
}

#[test]
fn readme_commands_run_from_the_repository_root_and_parse() {
    use clap::Parser;
    let readme = include_str!("../README.md");
    let mut in_code = false;
    let mut checked = 0;
    for line in readme.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if !in_code {
            continue;
        }
        assert!(!line.starts_with("loadtest "), "bare loadtest: {line}");
        let Some(rest) = line.strip_prefix("target/release/loadtest") else {
            continue;
        };
        let cmd = rest.split(['|', '#', '>']).next().unwrap_or("");
        let args: Vec<String> = std::iter::once("loadtest".to_string())
            .chain(cmd.split_whitespace().map(|w| {
                w.replace("$SERVER", "127.0.0.1:18848")
                    .replace("$PID", "1")
                    .replace("$OTHER", "127.0.0.1:18849")
            }))
            .collect();
        if let Err(e) = vigil_loadtest::cli::Cli::try_parse_from(&args) {
            assert_eq!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp,
                "README line {line:?} does not parse: {e}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} README commands found");
}

#[test]
fn two_servers_split_the_listeners_and_are_reported_apart() {
    let (a, b) = (Vigil::start(), Vigil::start());
    let servers = format!("{},{}", a.addr, b.addr);
    let j = loadtest(
        &["--server", &servers, "park", "-n", "40", "--duration", "2s"],
        LIMIT,
    )
    .passed();
    assert_eq!(j["parked_by_server"], "20 / 20", "{j}");
    // Two independent servers (no cluster): a publish through the first
    // wakes exactly the listeners on the first, and the report says so.
    let run = loadtest(
        &[
            "--server",
            &servers,
            "--publish-to",
            &a.addr.to_string(),
            "fanout",
            "-n",
            "20",
            "-r",
            "1",
            "--round-timeout",
            "1s",
        ],
        LIMIT,
    );
    let j = run.json();
    assert_eq!(run.code, Some(2), "{}", run.stdout);
    assert_eq!(j["lost_wakeups"], 10, "{}", run.stdout);
    assert_eq!(j["wake_server0"]["count"], 10, "{}", run.stdout);
    assert_eq!(j["wake_server1"]["count"], 0, "{}", run.stdout);
    assert!(j["hists"]["wake_server0"].is_object());
}

#[test]
fn noread_reports_server_growth_and_the_well_behaved_latency() {
    let v = Vigil::start();
    let (addr, pid) = (v.addr.to_string(), v.pid().to_string());
    let run = loadtest(
        &[
            "--server",
            &addr,
            "--server-pid",
            &pid,
            "noread",
            "-n",
            "4",
            "-m",
            "200",
            "--size",
            "20000",
            "--duration",
            "2s",
        ],
        LIMIT,
    );
    let j = run.passed();
    assert!(j["good_get"]["count"].as_u64() > Some(0), "{}", run.stdout);
    assert!(j["rss_growth_peak_mib"].is_number(), "{}", run.stdout);
    assert!(j["gets_sent"].as_u64() > Some(0), "{}", run.stdout);
    assert_eq!(j["keys_deleted"], 2);
}

#[test]
fn the_library_parks_listeners_on_shared_keys_and_sees_each_wake_once() {
    let v = Vigil::start();
    let opts = Options {
        conns: 60,
        own_keys: 2,
        key_pool: 10,
        threads: 2,
        ..Options::default()
    };
    let mut l = Listeners::park(&[v.addr], &opts, Duration::from_secs(30)).unwrap();
    assert_eq!(l.parked(Duration::from_secs(10)).unwrap(), 60);
    assert_eq!(v.metric("vigil_parked_polls"), 60);
    let changed = [KeyId::new(KeyKind::Own, 3), KeyId::new(KeyKind::Own, 4)];
    let expected: usize = changed.iter().map(|k| l.listeners_of(*k).len()).sum();
    assert_eq!(expected, 24, "each pool key has 60*2/10 listeners");
    l.publish(&changed).unwrap();
    assert_eq!(
        l.wait_wakes(expected, Duration::from_secs(30)).unwrap(),
        expected
    );
    assert!(l.wait_parked(Duration::from_secs(30)).unwrap());
    let wakes = l.take_wakes(Duration::from_millis(300)).unwrap();
    let mut per: HashMap<(u32, KeyId), u32> = HashMap::new();
    for w in &wakes {
        *per.entry((w.listener, w.key)).or_default() += 1;
    }
    for key in changed {
        for g in l.listeners_of(key) {
            assert_eq!(per.remove(&(g, key)), Some(1), "listener {g} of {key:?}");
        }
    }
    assert!(per.is_empty(), "spurious wake-ups: {per:?}");
    let (data_id, _) = l.key_name(changed[0]);
    let c = l.stop().unwrap();
    assert_eq!((c.errors(), c.stale_reads), (0, 0), "{c:?}");
    assert_eq!(c.gets_after_wake, expected as u64);
    let (status, _) = v.get(&format!(
        "/nacos/v1/cs/configs?dataId={data_id}&group=LOADTEST"
    ));
    assert_eq!(status, 404, "published keys are deleted at stop");
}

#[test]
fn watch_streams_deliver_every_change_once_for_keys_groups_and_namespaces() {
    let v = Vigil::start();
    let addr = v.addr.to_string();
    for args in [
        &[
            "fanout",
            "--sse",
            "-n",
            "40",
            "-r",
            "3",
            "--extra-keys",
            "2",
        ][..],
        &["fanout", "--sse", "--watch", "group", "-n", "20", "-r", "2"][..],
        &[
            "fanout",
            "--sse",
            "--watch",
            "namespace",
            "-n",
            "20",
            "-r",
            "2",
        ][..],
        &["targeted", "--sse", "-n", "50", "-r", "20"][..],
    ] {
        let run = loadtest(&[&["--server", &addr][..], args].concat(), LIMIT);
        let j = run.passed();
        let n = args[args.iter().position(|a| *a == "-n").unwrap() + 1];
        assert_eq!(
            j["streams_opened"].to_string(),
            n,
            "{args:?}: {}",
            run.stdout
        );
        for k in ["lost_wakeups", "duplicate_wakeups", "spurious_wakeups"] {
            assert_eq!(j[k], 0, "{args:?} {k}");
        }
        assert_eq!(j["counters"]["polls"], 0, "{args:?}: streams, not polls");
    }
}

#[test]
fn sse_against_a_server_without_watch_streams_fails_at_once() {
    // A plain HTTP server that answers 404 to everything.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut buf = [0u8; 4096];
                let mut seen = Vec::new();
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    while let Some(i) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        seen.drain(..i + 4);
                        let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                    }
                }
            });
        }
    });
    let run = loadtest(
        &["--server", &addr, "fanout", "--sse", "-n", "5", "-r", "1"],
        LIMIT,
    );
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("does not serve watch streams"),
        "{}",
        run.stderr
    );
    assert!(run.took < Duration::from_secs(20), "took {:?}", run.took);
}

#[test]
fn a_scenario_runs_in_process_with_worker_threads() {
    use clap::Parser;
    let v = Vigil::start();
    let addr = v.addr.to_string();
    let cli = vigil_loadtest::cli::Cli::try_parse_from([
        "loadtest", "--server", &addr, "--procs", "2", "fanout", "-n", "30", "-r", "2",
    ])
    .unwrap();
    let j = vigil_loadtest::run_in_process(cli).unwrap();
    assert_eq!(j["ok"], true, "{j}");
    assert_eq!(j["wake"]["count"], 60, "{j}");
    assert_eq!(j["keys_deleted"], 1, "{j}");
}
