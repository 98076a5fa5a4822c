//! Cluster mode: real vigil nodes sharing one real, throwaway PostgreSQL
//! (`cluster/pg.rs`), spoken to over real loopback sockets. Each test has
//! its own PostgreSQL server, so tests run in parallel.

mod common;
#[path = "transfer/helpers.rs"]
mod helpers;
#[path = "cluster/outage.rs"]
mod outage;
#[path = "cluster/pg.rs"]
mod pg;
#[path = "cluster/transfer.rs"]
mod transfer;

use common::{check_silent, get_config, md5_hex, publish, publish_ok, record, start_poll, Server};
use pg::Postgres;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const G: &str = "DEFAULT_GROUP";

/// A node of the cluster on `url` with its own (unused) data directory.
fn node(url: &str) -> Server {
    Server::start_args(&["--store", url, "--threads", "2"])
}

fn cluster(pg: &Postgres, n: usize) -> (String, Vec<Server>) {
    let url = pg.database("vigil");
    let nodes = (0..n).map(|_| node(&url)).collect();
    (url, nodes)
}

/// Polls `GET` on `addr` until it returns `want` (or 404 when `None`).
fn await_content(addr: SocketAddr, data_id: &str, want: Option<&str>, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let r = get_config(addr, data_id, G, "");
        let got = (r.status == 200).then(|| r.text());
        if got.as_deref() == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{addr}: {data_id} is {got:?} (status {}), expected {want:?}",
            r.status
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_publish_on_one_node_wakes_a_poll_on_another() {
    let pg = Postgres::start();
    let (url, nodes) = cluster(&pg, 2);
    // C has one reactor: a poll woken there has seen every change before
    // the one that woke it, so a fence poll orders what C saw.
    let node_c = Server::start_args(&["--store", &url, "--threads", "1"]);
    let (a, b, c) = (nodes[0].addr, nodes[1].addr, node_c.addr);
    let mut poll = start_poll(c, &record("k", G, "", None), "30000");
    check_silent(&mut poll, "poll on C before any publish");
    publish_ok(a, "k", G, "", "v1");
    poll.set_read_timeout(Duration::from_secs(10));
    let r = poll.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "k%02DEFAULT_GROUP%01\n");
    // The woken client reads the new content on the node it polls, and
    // every other node serves it too.
    assert_eq!(get_config(c, "k", G, "").text(), "v1");
    await_content(b, "k", Some("v1"), Duration::from_secs(10));
    let again = start_poll(c, &record("k", G, &md5_hex("v1"), None), "30000");
    let mut again = again;
    check_silent(&mut again, "up-to-date poll on C");
    let mut fence = start_poll(c, &record("fence", G, "", None), "30000");
    common::settle(c, &mut fence, 2, "the fence poll on C");
    let before = common::metrics(c);
    assert_eq!(publish(b, "k", G, "", "v1").text(), "true");
    publish_ok(b, "fence", G, "", "f");
    fence.set_read_timeout(Duration::from_secs(10));
    assert_eq!(fence.read_response().text(), "fence%02DEFAULT_GROUP%01\n");
    // Only the fence woke anyone: the identical re-publish did not.
    check_silent(&mut again, "identical re-publish on B");
    assert_eq!(
        common::grew(&before, &common::metrics(c), &["vigil_wakeups_total"]),
        [("vigil_wakeups_total", 1)],
        "wake-ups on C"
    );
}

/// Publishes `prefix-0`, `prefix-1`, ... on `addr` with content `v{i}` until
/// `stop` is set or the node stops answering. Returns the acknowledged
/// keys, how many were refused with 503, and whether the node went away.
fn publish_until(
    addr: SocketAddr,
    prefix: String,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(Vec<String>, usize, bool)> {
    publish_counting(addr, prefix, stop, Arc::default())
}

/// [`publish_until`], counting acknowledgements in `count` as they come.
fn publish_counting(
    addr: SocketAddr,
    prefix: String,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<(Vec<String>, usize, bool)> {
    std::thread::spawn(move || {
        let mut acked = Vec::new();
        let mut refused = 0;
        let mut i = 0;
        while !stop.load(Ordering::Relaxed) {
            let data_id = format!("{prefix}-{i}");
            let answered = std::panic::catch_unwind(|| publish(addr, &data_id, G, "", "v"));
            match answered {
                Ok(r) if r.status == 200 && r.body == b"true" => {
                    acked.push(data_id);
                    count.fetch_add(1, Ordering::Relaxed);
                }
                Ok(r) => {
                    assert_eq!(r.status, 503, "{data_id}: {}", r.text());
                    refused += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                // The node is gone (killed): connect or read failed.
                Err(_) => return (acked, refused, true),
            }
            i += 1;
        }
        (acked, refused, false)
    })
}

/// Every acknowledged key reads `v` on every node.
fn assert_all_present(nodes: &[SocketAddr], keys: &[String]) {
    for &addr in nodes {
        for k in keys {
            await_content(addr, k, Some("v"), Duration::from_secs(20));
        }
    }
}

#[test]
fn kill_9_of_a_node_under_publish_load_loses_no_acknowledged_publish() {
    let pg = Postgres::start();
    let (url, mut nodes) = cluster(&pg, 3);
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.addr).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let count_a = Arc::new(AtomicUsize::new(0));
    let on_a = publish_counting(addrs[0], "a".into(), stop.clone(), count_a.clone());
    let on_b = publish_until(addrs[1], "b".into(), stop.clone());
    // Kill A in the middle of its load: after a fair number of publishes.
    let deadline = Instant::now() + Duration::from_secs(30);
    while count_a.load(Ordering::Relaxed) < 50 {
        assert!(
            Instant::now() < deadline,
            "A acknowledged too few publishes"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    nodes[0].kill9();
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let (acked_a, _, _) = on_a.join().expect("publisher on A");
    let (acked_b, _, b_died) = on_b.join().expect("publisher on B");
    assert!(!b_died, "B stopped answering");
    let all: Vec<String> = acked_a.iter().chain(&acked_b).cloned().collect();
    assert_all_present(&addrs[1..], &all);
    // A comes back on the same database and serves everything before it
    // opens its port.
    let a = node(&url);
    for k in &all {
        assert_eq!(
            get_config(a.addr, k, G, "").text(),
            "v",
            "{k} on the restarted node"
        );
    }
}

#[test]
fn a_postgres_outage_under_load_misses_no_change_on_any_node() {
    let pg = Postgres::start();
    let (_, nodes) = cluster(&pg, 3);
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.addr).collect();
    publish_ok(addrs[0], "before", G, "", "old");
    for &addr in &addrs {
        await_content(addr, "before", Some("old"), Duration::from_secs(10));
    }
    // A poll on every node for a key that changes only after the outage.
    let mut polls: Vec<_> = addrs
        .iter()
        .map(|&a| start_poll(a, &record("after", G, "", None), "60000"))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let publishers: Vec<_> = addrs
        .iter()
        .enumerate()
        .map(|(i, &a)| publish_until(a, format!("n{i}"), stop.clone()))
        .collect();
    std::thread::sleep(Duration::from_millis(1000));
    pg.stop_server();
    let down = Instant::now();
    // Publishes fail fast; reads go on from each node's cache.
    for &addr in &addrs {
        let started = Instant::now();
        let r = publish(addr, "during", G, "", "x");
        assert_eq!(
            r.status,
            503,
            "publish while PostgreSQL is down: {}",
            r.text()
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "503 took {:?}",
            started.elapsed()
        );
        assert_eq!(get_config(addr, "before", G, "").text(), "old");
        let search = "/nacos/v1/cs/configs?search=accurate&dataId=&group=&pageNo=1&pageSize=10";
        let r = common::request(addr, &common::get_raw(search));
        assert_eq!(
            r.status,
            503,
            "search while PostgreSQL is down: {}",
            r.text()
        );
    }
    std::thread::sleep(Duration::from_secs(5).saturating_sub(down.elapsed()));
    pg.start_server();
    // Publishes succeed again without any manual step.
    let deadline = Instant::now() + Duration::from_secs(20);
    while publish(addrs[1], "after", G, "", "new").status != 200 {
        assert!(Instant::now() < deadline, "publishes did not recover");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1000));
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut refused = 0;
    for p in publishers {
        let (acked, r, died) = p.join().expect("publisher");
        assert!(!died, "a node stopped answering during the outage");
        all.extend(acked);
        refused += r;
    }
    assert!(refused > 0, "no publish was refused during the outage");
    assert_all_present(&addrs, &all);
    for (addr, poll) in addrs.iter().zip(polls.iter_mut()) {
        poll.set_read_timeout(Duration::from_secs(20));
        let r = poll.read_response();
        assert_eq!(r.text(), "after%02DEFAULT_GROUP%01\n", "poll on {addr}");
        assert_eq!(get_config(*addr, "after", G, "").text(), "new");
    }
}

#[test]
fn concurrent_publishes_on_every_node_converge() {
    let pg = Postgres::start();
    let (_, nodes) = cluster(&pg, 3);
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.addr).collect();
    let keys = ["c0", "c1", "c2", "c3"];
    let writers: Vec<_> = addrs
        .iter()
        .enumerate()
        .map(|(n, &addr)| {
            std::thread::spawn(move || {
                for i in 0..40 {
                    for k in keys {
                        publish_ok(addr, k, G, "", &format!("node{n}-{i}"));
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    for k in keys {
        let stored = pg.sql(
            "vigil",
            &format!("SELECT content FROM config_info WHERE data_id = '{k}'"),
        );
        assert!(stored.ends_with("-39"), "{k}: the last write was {stored}");
        for &addr in &addrs {
            await_content(addr, k, Some(&stored), Duration::from_secs(10));
        }
    }
    // Every change is in the log once, numbered without gaps.
    let log = pg.sql(
        "vigil",
        "SELECT count(*), min(seq), max(seq) FROM vigil_change_log",
    );
    assert_eq!(log, "480|1|480");
}

#[test]
fn a_node_started_later_catches_up_and_follows() {
    let pg = Postgres::start();
    let (url, nodes) = cluster(&pg, 2);
    let a = nodes[0].addr;
    for i in 0..30 {
        publish_ok(a, &format!("late-{i}"), G, "", "v");
    }
    common::delete_config(a, "late-0", G, "");
    let c = node(&url);
    assert_eq!(get_config(c.addr, "late-0", G, "").status, 404);
    for i in 1..30 {
        assert_eq!(get_config(c.addr, &format!("late-{i}"), G, "").text(), "v");
    }
    let mut poll = start_poll(c.addr, &record("late-1", G, &md5_hex("v"), None), "30000");
    publish_ok(nodes[1].addr, "late-1", G, "", "w");
    poll.set_read_timeout(Duration::from_secs(10));
    assert_eq!(poll.read_response().text(), "late-1%02DEFAULT_GROUP%01\n");
    assert_eq!(get_config(c.addr, "late-1", G, "").text(), "w");
    // Three members; one that stops cleanly leaves the list at once.
    assert_eq!(pg.sql("vigil", "SELECT count(*) FROM vigil_nodes"), "3");
    let mut c = c;
    assert!(c.sigterm().success(), "a cluster node exits 0 on SIGTERM");
    assert_eq!(pg.sql("vigil", "SELECT count(*) FROM vigil_nodes"), "2");
}

/// The `lisentersGroupkeyStatus` map of a listener-status answer.
fn listener_status(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> serde_json::Value {
    let r = common::request(addr, &common::raw("GET", target, headers, None));
    assert_eq!(r.status, 200, "{target}: {}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    v["lisentersGroupkeyStatus"].clone()
}

#[test]
fn listener_queries_see_clients_on_every_node() {
    let pg = Postgres::start();
    let url = pg.database("vigil");
    let nodes: Vec<Server> = (0..3)
        .map(|_| Server::start_args(&["--store", &url, "--threads", "2", "--trust-proxy-headers"]))
        .collect();
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.addr).collect();
    publish_ok(addrs[0], "watched", G, "", "v");
    let md5 = md5_hex("v");
    // The other nodes learn of the publish a few milliseconds later: park
    // only once each serves it, or the poll would be answered at once.
    for &addr in &addrs {
        await_content(addr, "watched", Some("v"), Duration::from_secs(30));
    }
    let mut polls = Vec::new();
    for (i, ip) in [(0, "10.0.0.1"), (2, "10.0.0.3")] {
        let mut c = common::Conn::open(addrs[i]);
        let rec = record("watched", G, &md5, None);
        c.send(&common::listener_raw(
            &rec,
            Some("30000"),
            &[("X-Forwarded-For", ip)],
        ));
        check_silent(&mut c, "poll");
        polls.push(c);
    }
    let by_key = "/nacos/v1/cs/configs/listener?dataId=watched&group=DEFAULT_GROUP";
    let expected = serde_json::json!({"10.0.0.1": md5, "10.0.0.3": md5});
    for &addr in &addrs {
        assert_eq!(listener_status(addr, by_key, &[]), expected, "asked {addr}");
    }
    let by_ip = listener_status(addrs[1], "/nacos/v1/cs/listener?ip=10.0.0.3", &[]);
    assert_eq!(by_ip, serde_json::json!({"watched+DEFAULT_GROUP": md5}));
    // A member asking for one node's own listeners gets only those.
    let own = listener_status(addrs[1], by_key, &[("Vigil-Scope", "node")]);
    assert_eq!(own, serde_json::json!({}));
    let own = listener_status(addrs[2], by_key, &[("Vigil-Scope", "node")]);
    assert_eq!(own, serde_json::json!({"10.0.0.3": md5}));
}

/// Replaces what legitimately differs between two fresh servers (epoch
/// milliseconds, ISO times) with placeholders.
fn normalized(body: &str) -> String {
    let b = body.as_bytes();
    let mut out = String::with_capacity(body.len());
    let mut i = 0;
    while i < b.len() {
        let iso = b.len() >= i + 28
            && b[i..i + 4].iter().all(u8::is_ascii_digit)
            && b[i + 4] == b'-'
            && b[i + 10] == b'T'
            && &b[i + 23..i + 28] == b"+0000";
        let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if iso {
            out.push_str("<iso>");
            i += 28;
        } else if digits == 13 && (i == 0 || !b[i - 1].is_ascii_digit()) {
            out.push_str("<ms>");
            i += 13;
        } else {
            let ch = body[i..].chars().next().expect("char");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// One request of the conformance script, as a raw request.
fn step(method: &str, target: &str, headers: &[(&str, &str)], form: &[(&str, &str)]) -> Vec<u8> {
    let mut h = headers.to_vec();
    if method == "GET" || method == "DELETE" {
        return common::raw(method, target, &h, None);
    }
    h.push(("Content-Type", "application/x-www-form-urlencoded"));
    common::raw(method, target, &h, Some(common::form(form).as_bytes()))
}

#[test]
fn conformance_script_answers_alike_on_sqlite_and_postgres() {
    let pg = Postgres::start();
    let url = pg.database("vigil");
    let on_pg = node(&url);
    let on_sqlite = Server::start_args(&["--threads", "2"]);
    let cfg = "/nacos/v1/cs/configs";
    let ns = "/nacos/v1/console/namespaces";
    let a = [("dataId", "conf-a"), ("group", G)];
    #[rustfmt::skip]
    let script: Vec<Vec<u8>> = vec![
        step("POST", cfg, &[], &[a[0], a[1], ("content", "x: 1"), ("type", "yaml"), ("appName", "app"), ("desc", "d"), ("config_tags", "t1,t2")]),
        step("POST", cfg, &[], &[a[0], a[1], ("content", "x: 2")]),
        step("POST", cfg, &[], &[("dataId", "x_y"), ("group", G), ("content", "u")]),
        step("POST", cfg, &[], &[("dataId", "xay"), ("group", G), ("content", "p")]),
        step("POST", cfg, &[], &[("dataId", "conf-b"), ("group", "G2"), ("tenant", "ns1"), ("content", "b")]),
        step("GET", &format!("{cfg}?dataId=conf-a&group={G}"), &[], &[]),
        step("GET", &format!("{cfg}?show=all&dataId=conf-a&group={G}"), &[], &[]),
        step("GET", &format!("{cfg}/catalog?dataId=conf-a&group={G}"), &[], &[]),
        step("GET", &format!("{cfg}?search=accurate&dataId=&group={G}&pageNo=1&pageSize=10"), &[], &[]),
        step("GET", &format!("{cfg}?search=blur&dataId=conf-*&group=&pageNo=1&pageSize=10"), &[], &[]),
        step("GET", &format!("{cfg}?search=blur&dataId=x%25y&group=&pageNo=1&pageSize=10"), &[], &[]),
        step("GET", &format!("{cfg}?search=blur&dataId=x_y&group=&pageNo=1&pageSize=10"), &[], &[]),
        step("GET", &format!("{cfg}?search=accurate&dataId=&group=&config_tags=t1&pageNo=1&pageSize=10"), &[], &[]),
        step("GET", &format!("{cfg}?search=accurate&dataId=&group=&tenant=ns1&pageNo=2&pageSize=1"), &[], &[]),
        step("GET", &format!("/nacos/v1/cs/history?search=accurate&dataId=conf-a&group={G}&pageNo=1&pageSize=10"), &[], &[]),
        step("GET", "/nacos/v1/cs/history?nid=1", &[], &[]),
        step("GET", "/nacos/v1/cs/history?nid=999", &[], &[]),
        step("GET", "/nacos/v1/cs/history/previous?id=1", &[], &[]),
        step("POST", cfg, &[("betaIps", "10.0.0.9")], &[a[0], a[1], ("content", "beta")]),
        step("GET", &format!("{cfg}?beta=true&dataId=conf-a&group={G}"), &[], &[]),
        step("POST", cfg, &[], &[a[0], a[1], ("tag", "blue"), ("content", "tagged")]),
        step("GET", &format!("{cfg}?dataId=conf-a&group={G}&tag=blue"), &[], &[]),
        step("DELETE", &format!("{cfg}?dataId=conf-a&group={G}&tag=blue"), &[], &[]),
        step("GET", &format!("{cfg}?dataId=conf-a&group={G}&tag=blue"), &[], &[]),
        step("DELETE", &format!("{cfg}?beta=true&dataId=conf-a&group={G}"), &[], &[]),
        step("POST", ns, &[], &[("customNamespaceId", "ns1"), ("namespaceName", "one"), ("namespaceDesc", "first")]),
        step("POST", ns, &[], &[("customNamespaceId", "ns1"), ("namespaceName", "again")]),
        step("PUT", ns, &[], &[("namespace", "ns1"), ("namespaceShowName", "uno"), ("namespaceDesc", "renamed")]),
        step("GET", ns, &[], &[]),
        step("GET", &format!("{ns}?show=all&namespaceId=ns1"), &[], &[]),
        step("GET", &format!("{ns}?checkNamespaceIdExist=true&customNamespaceId=ns1"), &[], &[]),
        step("DELETE", &format!("{cfg}?dataId=conf-b&group=G2&tenant=ns1"), &[], &[]),
        step("GET", &format!("{cfg}?dataId=conf-b&group=G2&tenant=ns1"), &[], &[]),
        step("DELETE", &format!("{cfg}?delType=ids&ids=1,3"), &[], &[]),
        step("GET", &format!("{cfg}?search=accurate&dataId=&group=&pageNo=1&pageSize=10"), &[], &[]),
        step("DELETE", &format!("{ns}?namespaceId=ns1"), &[], &[]),
        step("GET", ns, &[], &[]),
    ];
    for (i, raw) in script.iter().enumerate() {
        let what =
            String::from_utf8_lossy(&raw[..raw.iter().position(|&b| b == b'\r').unwrap_or(0)]);
        let s = common::request(on_sqlite.addr, raw);
        let p = common::request(on_pg.addr, raw);
        assert_eq!(
            (p.status, normalized(&p.text())),
            (s.status, normalized(&s.text())),
            "step {i}: {what}: PostgreSQL (left) and SQLite (right) differ"
        );
    }
}

/// A form POST on `addr` with the query `query`; returns status and body.
fn post_form(addr: SocketAddr, target: &str, form: &[(&str, &str)]) -> (u16, String) {
    let r = common::request(addr, &step("POST", target, &[], form));
    (r.status, r.text())
}

fn token_of(addr: SocketAddr, user: &str, password: &str) -> String {
    let (status, body) = post_form(
        addr,
        "/nacos/v1/auth/users/login",
        &[("username", user), ("password", password)],
    );
    assert_eq!(status, 200, "login {user} on {addr}: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    v["accessToken"].as_str().expect("token").to_owned()
}

#[test]
fn users_permissions_and_tokens_are_shared_by_every_node() {
    let pg = Postgres::start();
    let url = pg.database("vigil");
    let args = [
        "--store",
        &url,
        "--threads",
        "2",
        "--auth",
        "--auth-admin-password",
        "s3cret",
    ];
    let nodes: Vec<Server> = (0..3).map(|_| Server::start_args(&args)).collect();
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.addr).collect();
    let admin = token_of(addrs[0], "nacos", "s3cret");
    let with = |t: &str, path: &str| format!("{path}?accessToken={t}");
    for (path, form) in [
        (
            "/nacos/v1/auth/users",
            vec![("username", "ann"), ("password", "pw")],
        ),
        (
            "/nacos/v1/auth/roles",
            vec![("role", "writers"), ("username", "ann")],
        ),
        (
            "/nacos/v1/auth/permissions",
            vec![("role", "writers"), ("resource", ":*:*"), ("action", "rw")],
        ),
    ] {
        let (status, body) = post_form(addrs[0], &with(&admin, path), &form);
        assert_eq!(status, 200, "{path}: {body}");
    }
    // A user created on A logs in on B; the admin token from A works on C;
    // the permission granted on A reaches C's snapshot.
    let ann = token_of(addrs[1], "ann", "pw");
    let cfg = "/nacos/v1/cs/configs";
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let form = [("dataId", "shared"), ("group", G), ("content", "by ann")];
        match post_form(addrs[2], &with(&ann, cfg), &form) {
            (200, body) => {
                assert_eq!(body, "true");
                break;
            }
            (status, body) => {
                assert_eq!(status, 403, "{body}");
                assert!(
                    Instant::now() < deadline,
                    "ann's permission never reached C"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    let r = common::request(
        addrs[2],
        &common::get_raw(&format!(
            "{cfg}?dataId=shared&group={G}&accessToken={admin}"
        )),
    );
    assert_eq!((r.status, r.text().as_str()), (200, "by ann"));
    let r = common::request(
        addrs[1],
        &common::get_raw(&format!("{cfg}?dataId=shared&group={G}")),
    );
    assert_eq!(r.status, 403, "no token: {}", r.text());
    // Listener queries reach the other members with a token of their own.
    let rec = record("shared", G, &md5_hex("by ann"), None);
    let listen = format!("/nacos/v1/cs/configs/listener?accessToken={admin}");
    let body = common::form(&[("Listening-Configs", &rec)]);
    let mut poll = common::Conn::open(addrs[2]);
    poll.send(&common::post_raw(
        &listen,
        &[("Long-Pulling-Timeout", "30000")],
        body.as_bytes(),
    ));
    check_silent(&mut poll, "admin's poll on C");
    let status = listener_status(addrs[1], &format!("{listen}&dataId=shared&group={G}"), &[]);
    assert_eq!(status, serde_json::json!({"127.0.0.1": md5_hex("by ann")}));
}

#[test]
fn a_write_postgres_refuses_fails_alone() {
    let pg = Postgres::start();
    let (_, nodes) = cluster(&pg, 1);
    let addr = nodes[0].addr;
    // PostgreSQL text cannot hold NUL: that publish fails, and the writes
    // committed in the same batch around it do not.
    let writers: Vec<_> = (0..16)
        .map(|i| {
            std::thread::spawn(move || {
                let content = if i == 7 {
                    "bad\0".to_owned()
                } else {
                    format!("v{i}")
                };
                (i, publish(addr, &format!("batch-{i}"), G, "", &content))
            })
        })
        .collect();
    for w in writers {
        let (i, r) = w.join().expect("writer");
        if i == 7 {
            assert_eq!(r.status, 500, "{}", r.text());
            assert!(
                r.text().contains("22021"),
                "names the encoding error: {}",
                r.text()
            );
        } else {
            assert_eq!((r.status, r.text().as_str()), (200, "true"), "batch-{i}");
            assert_eq!(
                get_config(addr, &format!("batch-{i}"), G, "").text(),
                format!("v{i}")
            );
        }
    }
    assert_eq!(get_config(addr, "batch-7", G, "").status, 404);
}

#[test]
fn expired_history_is_purged_on_postgres() {
    let pg = Postgres::start();
    let (url, nodes) = cluster(&pg, 1);
    publish_ok(nodes[0].addr, "old", G, "", "v1");
    publish_ok(nodes[0].addr, "old", G, "", "v2");
    let count = || pg.sql("vigil", "SELECT count(*) FROM his_config_info");
    assert_eq!(count(), "2");
    // Age the first row past a one-day retention; a node that starts purges
    // (under the purge lock), the young row stays.
    pg.sql(
        "vigil",
        "UPDATE his_config_info SET gmt_modified = 0 WHERE op_type = 'I'",
    );
    let _purger = Server::start_args(&["--store", &url, "--history-retention-days", "1"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while count() != "1" {
        assert!(
            Instant::now() < deadline,
            "expired history was not purged: {}",
            count()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(pg.sql("vigil", "SELECT op_type FROM his_config_info"), "U");
}

#[test]
fn a_node_behind_the_purged_log_exits_non_zero_saying_to_restart() {
    let pg = Postgres::start();
    let url = pg.database("vigil");
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("data");
    let mut node = Server::spawn(common::vigil_command(&dir, &["--store", &url]), &dir);
    // Another node's changes 1..=5 whose first four the purge removed: this
    // node, at change 0, can no longer catch up from the log. The listener's
    // backstop (or this notification) makes it replay.
    pg.sql(
        "vigil",
        "WITH s AS (UPDATE vigil_change_seq SET seq = seq + 5 WHERE id = 1 RETURNING seq)
         INSERT INTO vigil_change_log (seq, kind, data_id, group_id) SELECT seq, 'c', 'gone', 'DEFAULT_GROUP' FROM s",
    );
    pg.sql("vigil", "NOTIFY vigil_changes, '5'");
    // A node meant to exit on its own: the harness waits for it (and fails
    // the test if it goes on).
    let exited = node.wait_exit(Duration::from_secs(30));
    let (status, stderr) = (exited.status, exited.stderr);
    assert_eq!(status.code(), Some(1), "exit status; stderr:\n{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("vigil: change 1 is no longer in the change log of postgres://")
            && last.ends_with("restart it to reload"),
        "the last line says why and what to do: {last:?}"
    );
}
