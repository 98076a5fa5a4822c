//! The operator flags whose effect the README promises, each against the real
//! binary: `--max-hold-ms` (a shorter hold), `--idle-timeout-ms` (idle
//! keep-alive connections closed, parked polls kept), `--sync normal` (writes
//! still survive `kill -9`), `--write-queue` (503 past it) and
//! `--history-retention-days` (old history rows purged, none with 0),
//! `--max-connections` (connections past it closed), `--sync full` (fsync
//! before the acknowledgement, traced in `flags/sync_trace.rs`), and every
//! row of the README's table against `vigil --help` and through its
//! `VIGIL_*` variable (`flags/readme.rs`).
//!
//! Time bounds: never shorter than the flag says (less one 10 ms wheel tick);
//! the upper bounds are safety nets for a busy machine.

mod common;
#[path = "flags/readme.rs"]
mod readme;
#[path = "flags/sync_trace.rs"]
mod sync_trace;

use common::{
    check_silent, get_raw, md5_hex, park, publish, publish_ok, record, request, wait_parked, Conn,
    Server, GAUGE_WAIT,
};
use std::path::Path;
use std::time::{Duration, Instant};

const DG: &str = "DEFAULT_GROUP";
/// One reactor wheel tick: a deadline may fire this much before the exact
/// millisecond.
const TICK: Duration = Duration::from_millis(10);

#[test]
fn max_hold_ms_caps_the_hold_of_a_long_poll() {
    let s = Server::start_args(&["--max-hold-ms", "12000"]);
    publish_ok(s.addr, "hold", DG, "", "v");
    let t = Instant::now();
    // The client asks for 30 s: min(30 s, 12 s) - 500 ms = 11.5 s.
    let mut c = park(s.addr, &record("hold", DG, &md5_hex("v"), None));
    let r = c.read_response();
    let el = t.elapsed();
    assert_eq!((r.status, r.body.len()), (200, 0), "expired poll: {r:?}");
    common::assert_held(el, 11_500, "--max-hold-ms 12000");
}

#[test]
fn idle_timeout_ms_closes_idle_connections_but_not_parked_polls() {
    let s = Server::start_args(&["--idle-timeout-ms", "1000"]);
    publish_ok(s.addr, "idle", DG, "", "v");
    let mut parked = park(s.addr, &record("idle", DG, &md5_hex("v"), None));
    wait_parked(s.addr, 1, "a poll parked before the idle wait");
    let mut c = Conn::open(s.addr);
    // Timed from before the request: the server's idle clock starts when it
    // answers, so this can only overstate the idle time, never understate it
    // (a test thread descheduled after reading the answer did, by 14 ms).
    let t = Instant::now();
    let r = c.roundtrip(&get_raw("/nacos/v1/cs/health"));
    assert_eq!(r.status, 200);
    assert!(
        c.is_closed(Duration::from_secs(10)),
        "an idle keep-alive connection was not closed within 10 s"
    );
    let el = t.elapsed();
    assert!(
        el >= Duration::from_millis(1000) - TICK,
        "closed after {el:?} idle, before --idle-timeout-ms 1000"
    );
    // The parked poll outlived the idle timeout and is still parked.
    check_silent(&mut parked, "parked poll past the idle timeout");
    wait_parked(s.addr, 1, "the poll still parked");
    publish_ok(s.addr, "idle", DG, "", "v2");
    let r = common::answer_within(&mut parked, common::PROMPT, "wake-up");
    assert_eq!(common::lossy(&r.body), common::reply1("idle", DG, None));
}

#[test]
fn sync_normal_keeps_acknowledged_publishes_across_kill9() {
    let mut s = Server::start_args(&["--sync", "normal"]);
    let tmp = s.take_tmp().expect("temp dir");
    let dir = s.data_dir.clone();
    for i in 0..50 {
        publish_ok(s.addr, &format!("sync-{i}"), DG, "", &format!("value {i}"));
    }
    s.kill9();
    let s = Server::start_in(&dir, &["--sync", "normal"]);
    for i in 0..50 {
        let r = common::get_config(s.addr, &format!("sync-{i}"), DG, "");
        assert_eq!(
            (r.status, common::lossy(&r.body)),
            (200, format!("value {i}")),
            "sync-{i} after kill -9 with --sync normal"
        );
    }
    drop(s);
    drop(tmp);
}

#[test]
fn sync_with_an_unknown_mode_refuses_to_start() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let cmd = common::vigil_command(&tmp.path().join("data"), &["--sync", "sometimes"]);
    let out = common::refused(cmd, "--sync sometimes");
    let err = out.stderr;
    assert!(!out.status.success(), "started with --sync sometimes");
    assert!(
        err.contains("sometimes"),
        "the error does not name the value: {err}"
    );
}

#[test]
fn write_queue_answers_503_past_its_capacity() {
    let s = Server::start_args(&["--write-queue", "1"]);
    publish_ok(s.addr, "wq", DG, "", "v0");
    // Hold the database's write lock: the writer blocks on the first write
    // (for its 2 s busy timeout), so later ones wait in the queue.
    let db = rusqlite::Connection::open(s.data_dir.join("vigil.db")).expect("open db");
    db.execute_batch("BEGIN EXCLUSIVE")
        .expect("take the write lock");
    let send = |i: usize| {
        let mut c = Conn::open(s.addr);
        c.set_read_timeout(Duration::from_secs(30));
        let body = common::form(&[
            ("dataId", "wq"),
            ("group", DG),
            ("content", &format!("v{i}")),
        ]);
        c.send(&common::post_raw(
            "/nacos/v1/cs/configs",
            &[],
            body.as_bytes(),
        ));
        c
    };
    let mut first = send(1);
    // Give the writer time to take the first write off the queue.
    std::thread::sleep(Duration::from_millis(300));
    let mut later: Vec<Conn> = (2..6).map(send).collect();
    // With one slot, at least one of the four later writes finds it taken
    // while the writer is stuck, and is refused at once.
    let t = Instant::now();
    let answers: Vec<(u16, String)> = later
        .iter_mut()
        .map(|c| {
            let r = c.read_response();
            (r.status, common::lossy(&r.body))
        })
        .collect();
    let overloaded = "caused: server is overloaded with writes, retry later;";
    let refused = answers
        .iter()
        .filter(|(st, body)| *st == 503 && body == overloaded)
        .count();
    println!(
        "later writes while the writer was stuck: {answers:?} in {:?}",
        t.elapsed()
    );
    assert!(
        refused >= 1,
        "no write refused with 503 past a queue of 1: {answers:?}"
    );
    db.execute_batch("ROLLBACK").expect("release the lock");
    drop(db);
    let _ = first.read_response();
    // The server takes writes again.
    publish_ok(s.addr, "wq", DG, "", "after");
    let r = common::get_config(s.addr, "wq", DG, "");
    assert_eq!(common::lossy(&r.body), "after");
}

/// Rows of `his_config_info`, by `nid`, read from the database file.
fn history_nids(data_dir: &Path) -> Vec<i64> {
    let db = rusqlite::Connection::open(data_dir.join("vigil.db")).expect("open db");
    let mut st = db
        .prepare("SELECT nid FROM his_config_info ORDER BY nid")
        .expect("prepare");
    st.query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// Dates history row `nid` back by `days`.
fn age_history_row(data_dir: &Path, nid: i64, days: i64) {
    let db = rusqlite::Connection::open(data_dir.join("vigil.db")).expect("open db");
    let n = db
        .execute(
            "UPDATE his_config_info SET gmt_modified = gmt_modified - ?1 * 86400000 WHERE nid = ?2",
            rusqlite::params![days, nid],
        )
        .expect("update");
    assert_eq!(n, 1, "history row {nid}");
}

fn history_status(s: &Server, nid: i64) -> u16 {
    request(s.addr, &get_raw(&format!("/nacos/v1/cs/history?nid={nid}"))).status
}

#[test]
fn history_retention_days_purges_old_rows_and_0_keeps_them() {
    let mut s = Server::start();
    let tmp = s.take_tmp().expect("temp dir");
    let dir = s.data_dir.clone();
    for v in ["v1", "v2", "v3"] {
        publish_ok(s.addr, "ret", DG, "", v);
    }
    assert_eq!(s.sigterm().code(), Some(0));
    let nids = history_nids(&dir);
    assert_eq!(nids.len(), 3, "one history row per publish: {nids:?}");
    let old = nids[0];
    age_history_row(&dir, old, 40);

    // Retention 0: nothing is purged. A write goes through the writer, which
    // purges (when it does) before it takes its first write.
    let mut s = Server::start_in(&dir, &["--history-retention-days", "0"]);
    publish_ok(s.addr, "other", DG, "", "x");
    assert_eq!(
        history_status(&s, old),
        200,
        "40-day-old row with retention 0"
    );
    assert_eq!(s.sigterm().code(), Some(0));
    assert!(history_nids(&dir).contains(&old), "purged with retention 0");

    // Retention 30 days: the 40-day-old row goes, the others stay.
    let s = Server::start_in(&dir, &["--history-retention-days", "30"]);
    publish_ok(s.addr, "other", DG, "", "y");
    let t = Instant::now();
    while history_status(&s, old) != 404 {
        assert!(
            t.elapsed() < GAUGE_WAIT,
            "the 40-day-old history row {old} is still served with 30 days' retention"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for nid in &nids[1..] {
        assert_eq!(history_status(&s, *nid), 200, "recent history row {nid}");
    }
    let left = history_nids(&dir);
    assert!(!left.contains(&old), "row {old} still stored: {left:?}");
    let r = publish(s.addr, "ret", DG, "", "v4");
    assert_eq!(r.status, 200);
    drop(s);
    drop(tmp);
}

#[test]
fn max_connections_closes_connections_past_the_cap() {
    const CAP: usize = 3;
    let s = Server::start_args(&["--max-connections", &CAP.to_string()]);
    let health = get_raw("/nacos/v1/cs/health");
    let mut held: Vec<Conn> = (0..CAP).map(|_| Conn::open(s.addr)).collect();
    for c in &mut held {
        assert_eq!(
            c.roundtrip(&health).status,
            200,
            "a connection within the cap"
        );
    }
    // One more is accepted and closed at once, unanswered (it sends
    // nothing, so the close is a clean EOF).
    let mut extra = Conn::open(s.addr);
    assert!(
        extra.is_closed(Duration::from_secs(10)),
        "connection {} was not closed with --max-connections {CAP}",
        CAP + 1
    );
    // A slot freed is a slot served; tries before the server has counted
    // the close are shed too, and counted.
    drop(held.pop());
    let t = Instant::now();
    let mut shed = 1;
    let mut c = loop {
        let mut c = Conn::open(s.addr);
        c.send(&health);
        match c.try_read_response() {
            Ok(r) if r.status == 200 => break c,
            Ok(r) => panic!("a freed slot answered {}", r.status),
            Err(_) => shed += 1,
        }
        assert!(t.elapsed() < GAUGE_WAIT, "the freed slot is never served");
        std::thread::sleep(Duration::from_millis(20));
    };
    let m = common::metrics_on(&mut c);
    assert_eq!(
        common::metric(&m, "vigil_rejected_total{reason=\"connection_shed\"}"),
        shed,
        "connections shed"
    );
    assert_eq!(common::metric(&m, "vigil_connections"), CAP as u64);
}
