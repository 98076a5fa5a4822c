//! One node cut off from PostgreSQL while the others go on committing: a
//! TCP proxy between that node and PostgreSQL (the only route it has) is
//! severed and restored; the node catches up in commit order. And the
//! store and advertised address taken from `VIGIL_STORE` and
//! `VIGIL_ADVERTISE`.

use super::{await_content, cluster, G};
use crate::common::sse::Stream;
use crate::common::*;
use crate::pg::Postgres;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A loopback TCP proxy to `127.0.0.1:upstream` that the test can sever
/// (every connection through it shut down, new ones closed at once) and
/// restore.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy listener");
        let port = listener.local_addr().expect("proxy address").port();
        let up = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (up2, conns2) = (up.clone(), conns.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let ends = [&client, &server].map(|s| s.try_clone().expect("clone"));
                conns2.lock().expect("proxy lock").extend(ends);
                let (c2, s2) = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                std::thread::spawn(move || pipe(client, server));
                std::thread::spawn(move || pipe(s2, c2));
            }
        });
        Proxy { port, up, conns }
    }

    fn sever(&self) {
        self.up.store(false, Ordering::SeqCst);
        for c in self.conns.lock().expect("proxy lock").drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// Copies one direction until either side ends, then ends both.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

#[test]
fn a_node_cut_off_from_postgres_catches_up_in_commit_order() {
    let pg = Postgres::start();
    let (url, nodes) = cluster(&pg, 2);
    let (a, b) = (nodes[0].addr, nodes[1].addr);
    let proxy = Proxy::start(pg.port);
    let via_proxy = url.replace(&format!(":{}/", pg.port), &format!(":{}/", proxy.port));
    let c = Server::start_args(&["--store", &via_proxy, "--threads", "1"]);
    let c = c.addr;
    publish_ok(a, "gone", G, "", "g0");
    publish_ok(a, "k0", G, "", "v0");
    await_content(c, "k0", Some("v0"), Duration::from_secs(10));
    await_content(c, "gone", Some("g0"), Duration::from_secs(10));
    let mut w = Stream::open(c, &format!("group={G}&content=true"), &[]);
    w.snapshot();
    let mut poll = start_poll(c, &record("k0", G, &md5_hex("v0"), None), "60000");
    wait_parked(c, 1, "a poll on C before the outage");

    proxy.sever();
    // C cannot write, so its writes are refused; A and B go on committing.
    assert_eq!(
        publish(c, "during", G, "", "x").status,
        503,
        "a write on C, cut off"
    );
    let from = pg.sql(
        "vigil",
        "SELECT coalesce(max(seq), 0) FROM vigil_change_log",
    );
    let mut published = Vec::new();
    // Keys changed several times (k0..k6) and once (once-N), on A and B.
    for i in 0..24 {
        let key = match i % 4 {
            3 => format!("once-{i}"),
            _ => format!("k{}", i % 7),
        };
        let node = if i % 2 == 0 { a } else { b };
        publish_ok(node, &key, G, "", &format!("v{}", i + 1));
        published.push(key);
    }
    assert_eq!(delete_config(b, "gone", G, "").text(), "true");
    assert_eq!(
        get_config(c, "k0", G, "").text(),
        "v0",
        "C serves its cache meanwhile"
    );

    proxy.restore();
    // C serves the last values, and its parked poll was woken for its key.
    let mut last = std::collections::BTreeMap::new();
    for (i, key) in published.iter().enumerate() {
        last.insert(key.clone(), format!("v{}", i + 1));
    }
    for (key, value) in &last {
        await_content(c, key, Some(value), Duration::from_secs(30));
    }
    let t = Instant::now();
    while get_config(c, "gone", G, "").status != 404 {
        assert!(
            t.elapsed() < GAUGE_WAIT,
            "C still serves a key deleted meanwhile"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    poll.set_read_timeout(Duration::from_secs(30));
    assert_eq!(poll.read_response().text(), "k0%02DEFAULT_GROUP%01\n");
    // C's stream, up to a fence: events in commit order (each at a change
    // of its key as PostgreSQL numbered it, ids growing), every key changed
    // meanwhile present, and its last event carrying its last value. A
    // node catching up reads what a key holds now, so one event stands for
    // all the changes of its key it missed.
    publish_ok(a, "fence", G, "", "f");
    let log: std::collections::BTreeMap<u64, String> = pg
        .sql(
            "vigil",
            &format!("SELECT seq, data_id FROM vigil_change_log WHERE seq > {from} AND kind = 'c' AND data_id <> 'fence'"),
        )
        .lines()
        .map(|l| {
            let (seq, key) = l.split_once('|').expect("seq|data_id");
            (seq.parse().expect("seq"), key.to_owned())
        })
        .collect();
    let mut seen: Vec<(u64, String, String, String)> = Vec::new();
    loop {
        let ev = w
            .next_event(Duration::from_secs(30))
            .unwrap_or_else(|| panic!("C's stream after {seen:?}: no fence"));
        let id: u64 = ev
            .id
            .as_deref()
            .and_then(|i| i.parse().ok())
            .expect("an id");
        let (key, content) = (ev.field("dataId"), ev.field("content"));
        if key == "fence" {
            break;
        }
        seen.push((id, ev.kind.clone(), key, content));
    }
    assert!(
        seen.windows(2).all(|p| p[0].0 < p[1].0),
        "C's stream: ids out of commit order: {seen:?}"
    );
    // Nothing else commits while C catches up, so each key's first change
    // in the log is where C tells of it (what it reads then is the last
    // value; later changes of the key bring nothing new).
    let mut first_changes: Vec<(u64, String)> = Vec::new();
    for (seq, key) in &log {
        if !first_changes.iter().any(|(_, k)| k == key) {
            first_changes.push((*seq, key.clone()));
        }
    }
    let events: Vec<(u64, String)> = seen.iter().map(|e| (e.0, e.2.clone())).collect();
    assert_eq!(events, first_changes, "C's stream against the log {log:?}");
    let mut final_events = std::collections::BTreeMap::new();
    for (_, kind, key, content) in &seen {
        final_events.insert(key.clone(), (kind.clone(), content.clone()));
    }
    let mut want: std::collections::BTreeMap<String, (String, String)> = last
        .iter()
        .map(|(k, v)| (k.clone(), ("change".to_owned(), v.clone())))
        .collect();
    // A delete carries no content (`null` as a field).
    want.insert("gone".to_owned(), ("delete".to_owned(), "null".to_owned()));
    assert_eq!(
        final_events, want,
        "C's stream: the last event of each key ({seen:?})"
    );
    // And C writes again.
    let t = Instant::now();
    while publish(c, "during", G, "", "x").status != 200 {
        assert!(t.elapsed() < GAUGE_WAIT, "C does not write again");
        std::thread::sleep(Duration::from_millis(100));
    }
    await_content(a, "during", Some("x"), Duration::from_secs(10));
}

#[test]
fn the_store_and_advertised_address_come_from_the_environment() {
    let pg = Postgres::start();
    let url = pg.database("vigil");
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("data");
    let mut cmd = vigil_command(&dir, &["--threads", "1"]);
    cmd.envs([
        ("VIGIL_STORE", url.as_str()),
        ("VIGIL_ADVERTISE", "127.0.0.1:1"),
    ]);
    let s = Server::spawn(cmd, &dir);
    publish_ok(s.addr, "k", G, "", "in postgres");
    let stored = pg.sql(
        "vigil",
        "SELECT content FROM config_info WHERE data_id = 'k'",
    );
    assert_eq!(stored, "in postgres");
    assert!(
        !dir.join("vigil.db").exists(),
        "an SQLite database beside VIGIL_STORE"
    );
    let t = Instant::now();
    while pg.sql("vigil", "SELECT addr FROM vigil_nodes") != "127.0.0.1:1" {
        assert!(
            t.elapsed() < GAUGE_WAIT,
            "the node never listed itself at VIGIL_ADVERTISE"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
