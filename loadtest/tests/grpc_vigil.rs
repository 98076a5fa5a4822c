//! The load tester's gRPC clients (`--grpc`) against the real vigil serving
//! the Nacos 2.x gRPC config protocol (issue 18): every scenario passes its
//! own checks (nothing lost, duplicated or spurious), each wake-up is a push
//! the client answered, and idle clients send health checks.

mod common;

use common::{free_port, loadtest, Vigil};
use serde_json::Value;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

fn grpc_vigil() -> (Vigil, [String; 4]) {
    let port = free_port();
    let v = Vigil::start_with(&["--grpc-port", &port.to_string()]);
    let common = [
        "--server".to_string(),
        v.addr.to_string(),
        "--grpc-server".to_string(),
        format!("127.0.0.1:{port}"),
    ];
    (v, common)
}

fn args<'a>(common: &'a [String], rest: &[&'a str]) -> Vec<&'a str> {
    common
        .iter()
        .map(String::as_str)
        .chain(rest.iter().copied())
        .collect()
}

fn count(j: &Value, name: &str) -> u64 {
    j["counters"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no counter {name} in {j}"))
}

#[test]
fn grpc_clients_fan_out_and_are_targeted_exactly_once() {
    let (v, common) = grpc_vigil();
    let run = loadtest(
        &args(
            &common,
            &[
                "fanout",
                "--grpc",
                "-n",
                "50",
                "-r",
                "3",
                "--extra-keys",
                "2",
            ],
        ),
        LIMIT,
    );
    let j = run.passed();
    assert_eq!(j["wake"]["count"], 150, "{}", run.stdout);
    assert_eq!(j["lost_wakeups"], 0);
    assert_eq!(j["duplicate_wakeups"], 0);
    assert!(count(&j, "pushes") >= 150, "{}", run.stdout);
    // Each woken client queried the key (and read the announced version).
    assert_eq!(count(&j, "gets_after_wake"), 150, "{}", run.stdout);
    assert_eq!(count(&j, "stale_reads"), 0);

    let run = loadtest(
        &args(
            &common,
            &["targeted", "--grpc", "-n", "40", "-r", "20", "--no-get"],
        ),
        LIMIT,
    );
    let j = run.passed();
    assert_eq!(j["wake"]["count"], 20, "{}", run.stdout);
    assert_eq!(j["spurious_wakeups"], 0);
    assert_eq!(count(&j, "gets_after_wake"), 0);
    drop(v);
}

#[test]
fn idle_grpc_clients_stay_listening_and_check_health() {
    let (v, common) = grpc_vigil();
    let pid = v.pid().to_string();
    let run = loadtest(
        &args(
            &common,
            &[
                "--server-pid",
                &pid,
                "park",
                "--grpc",
                "-n",
                "60",
                "-k",
                "3",
                "--duration",
                "8s",
            ],
        ),
        LIMIT,
    );
    let j = run.passed();
    assert_eq!(j["parked"], 60, "{}", run.stdout);
    assert_eq!(j["spurious_wakeups"], 0);
    // Nothing is pushed to idle clients but what the server sends on its own.
    // After 5 s without a call, every client checks health at least once.
    assert!(count(&j, "health_checks") >= 60, "{}", run.stdout);
    assert!(j["server_idle_cpu_ms_per_s"].is_number(), "{}", run.stdout);
}

#[test]
fn the_library_holds_grpc_clients_on_shared_keys_and_sees_each_push_once() {
    use std::collections::HashMap;
    use vigil_loadtest::listeners::{Listeners, Options};
    use vigil_loadtest::proto::{KeyId, KeyKind};
    let port = free_port();
    let v = Vigil::start_with(&["--grpc-port", &port.to_string()]);
    let grpc: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let opts = Options {
        conns: 60,
        own_keys: 2,
        key_pool: 10,
        threads: 2,
        grpc_servers: vec![grpc],
        ..Options::default()
    };
    let mut l = Listeners::park(&[v.addr], &opts, Duration::from_secs(30)).unwrap();
    assert_eq!(l.parked(Duration::from_secs(10)).unwrap(), 60);
    let changed = [KeyId::new(KeyKind::Own, 3), KeyId::new(KeyKind::Own, 4)];
    let expected: usize = changed.iter().map(|k| l.listeners_of(*k).len()).sum();
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
    assert!(per.is_empty(), "spurious pushes: {per:?}");
    let c = l.stop().unwrap();
    assert_eq!((c.errors(), c.stale_reads), (0, 0), "{c:?}");
    assert_eq!(c.gets_after_wake, expected as u64);
    assert!(c.pushes >= expected as u64, "{c:?}");
}
