//! Watch streams (Server-Sent Events) over real sockets against the real
//! binary: snapshot then changes in commit order, group and namespace
//! scopes, deletes, resume with `Last-Event-ID`, reset past the log, audience
//! (beta, tag), auth, slow and vanished readers.

mod common;

use common::sse::{Event, Stream};
use common::*;
use std::net::SocketAddr;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);
/// A key every "nothing else arrives" check publishes last: the stream's
/// next event must be it (see `Stream::expect_fence`).
const FENCE: &str = "fence";

/// Publishes the fence in `group` and `tenant` with fresh content (an
/// identical re-publish would change nothing anyone sees).
fn publish_fence(addr: SocketAddr, group: &str, tenant: &str) {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    publish_ok(addr, FENCE, group, tenant, &format!("fence {n}"));
}

/// Waits until a gauge reaches `want` (the server's own count, so "quiet"
/// checks start only once the stream is really open).
fn wait_metric(addr: SocketAddr, name: &str, want: u64) {
    wait_metrics(addr, &format!("{name} = {want}"), WAIT, |m| {
        metric(m, name) == want
    });
}

fn change(ev: &Event) -> (String, String, String) {
    (ev.kind.clone(), ev.field("dataId"), ev.field("content"))
}

#[test]
fn snapshot_then_every_change_in_commit_order_with_ids() {
    let s = Server::start();
    publish_ok(s.addr, "a", "G", "", "a1");
    publish_ok(s.addr, "b", "G", "", "b1");
    let mut w = Stream::open(
        s.addr,
        "group=G&dataId=a&dataId=b&dataId=c&dataId=fence&content=true",
        &[],
    );
    assert_eq!(w.status, 200);
    assert!(w
        .header("Content-Type")
        .is_some_and(|v| v.starts_with("text/event-stream")));
    assert!(w.header("Content-Length").is_none());
    let mut snap: Vec<_> = w.snapshot().iter().map(change).collect();
    snap.sort();
    assert_eq!(
        snap,
        vec![
            ("change".into(), "a".into(), "a1".into()),
            ("change".into(), "b".into(), "b1".into())
        ]
    );
    let snap_id: u64 = w.last_id.clone().unwrap().parse().unwrap();

    publish_ok(s.addr, "c", "G", "", "c1");
    publish_ok(s.addr, "a", "G", "", "a2");
    publish_ok(s.addr, "other", "G", "", "x");
    assert_eq!(delete_config(s.addr, "b", "G", "").text(), "true");
    let mut ids = vec![snap_id];
    let mut got = Vec::new();
    for _ in 0..3 {
        let ev = w.next_event(WAIT).expect("event");
        ids.push(ev.id.as_deref().unwrap().parse().unwrap());
        let md5 = ev.field("md5");
        got.push((ev.kind.clone(), ev.field("dataId"), md5));
    }
    assert_eq!(
        got,
        vec![
            ("change".into(), "c".into(), md5_hex("c1")),
            ("change".into(), "a".into(), md5_hex("a2")),
            ("delete".into(), "b".into(), "".into()),
        ]
    );
    assert!(
        ids.windows(2).all(|p| p[0] < p[1]),
        "ids grow in commit order: {ids:?}"
    );
    // An identical re-publish changes nothing anyone sees.
    publish_ok(s.addr, "a", "G", "", "a2");
    publish_fence(s.addr, "G", "");
    w.expect_fence(FENCE, "identical re-publish");
}

#[test]
fn group_and_namespace_streams_see_configs_created_later_and_nothing_else() {
    let s = Server::start();
    let mut group = Stream::open(s.addr, "group=G", &[]);
    let mut ns = Stream::open(s.addr, "tenant=dev", &[]);
    let mut public = Stream::open(s.addr, "tenant=public", &[]);
    assert!(group.snapshot().is_empty());
    assert!(ns.snapshot().is_empty());
    assert!(public.snapshot().is_empty());
    publish_ok(s.addr, "new", "G", "", "1");
    publish_ok(s.addr, "elsewhere", "H", "", "1");
    publish_ok(s.addr, "in-dev", "G", "dev", "1");
    let seen = |st: &mut Stream, n: usize| -> Vec<String> {
        (0..n)
            .map(|_| {
                let e = st.next_event(WAIT).expect("event");
                format!(
                    "{}:{}:{}",
                    e.field("tenant"),
                    e.field("group"),
                    e.field("dataId")
                )
            })
            .collect()
    };
    assert_eq!(seen(&mut group, 1), vec![":G:new"]);
    assert_eq!(seen(&mut ns, 1), vec!["dev:G:in-dev"]);
    assert_eq!(seen(&mut public, 2), vec![":G:new", ":H:elsewhere"]);
    publish_fence(s.addr, "G", "");
    publish_fence(s.addr, "G", "dev");
    group.expect_fence(FENCE, "group G after H and dev publishes");
    ns.expect_fence(FENCE, "dev after public publishes");
}

#[test]
fn resume_gets_exactly_the_missed_changes_and_a_reset_past_the_log() {
    let s = Server::start_args(&["--watch-log-entries", "4"]);
    publish_ok(s.addr, "k", "G", "", "v0");
    let mut w = Stream::open(s.addr, "group=G&dataId=k&content=true", &[]);
    w.snapshot();
    publish_ok(s.addr, "k", "G", "", "v1");
    w.next_event(WAIT).unwrap();
    let last = w.last_id.clone().unwrap();
    drop(w);
    // Missed while away: two changes of ours, one of another key.
    publish_ok(s.addr, "k", "G", "", "v2");
    publish_ok(s.addr, "other", "G", "", "o");
    publish_ok(s.addr, "k", "G", "", "v3");
    let mut resumed = Vec::new();
    for via in ["header", "query"] {
        let mut w = match via {
            "header" => Stream::open(
                s.addr,
                "group=G&dataId=k&dataId=fence&content=true",
                &[("Last-Event-ID", &last)],
            ),
            _ => Stream::open(
                s.addr,
                &format!("group=G&dataId=k&dataId=fence&content=true&lastEventId={last}"),
                &[],
            ),
        };
        let got: Vec<_> = (0..2)
            .map(|_| w.next_event(WAIT).unwrap().field("content"))
            .collect();
        assert_eq!(got, vec!["v2", "v3"], "resume by {via}");
        resumed.push((via, w));
    }
    publish_fence(s.addr, "G", "");
    for (via, mut w) in resumed {
        w.expect_fence(FENCE, &format!("resume by {via}: nothing repeated"));
    }
    // Past the log (4 changes): reset, then a fresh snapshot.
    for i in 0..6 {
        publish_ok(s.addr, "other", "G", "", &format!("o{i}"));
    }
    let mut w = Stream::open(
        s.addr,
        "group=G&dataId=k&content=true",
        &[("Last-Event-ID", &last)],
    );
    assert_eq!(w.next_within(WAIT).unwrap().kind, "reset");
    let snap = w.snapshot();
    assert_eq!(
        snap.iter().map(|e| e.field("content")).collect::<Vec<_>>(),
        vec!["v3"]
    );
}

#[test]
fn reconnecting_under_publish_load_receives_every_change_exactly_once() {
    let s = Server::start();
    publish_ok(s.addr, "hot", "G", "", "0");
    const N: usize = 300;
    let addr = s.addr;
    let publisher = std::thread::spawn(move || {
        for i in 1..=N {
            publish_ok(addr, "hot", "G", "", &i.to_string());
            if i % 50 == 0 {
                std::thread::sleep(Duration::from_millis(30));
            }
        }
    });
    let mut seen: Vec<usize> = Vec::new();
    let mut last: Option<String> = None;
    let mut rng = 0x9e3779b97f4a7c15u64;
    let mut cycles = 0;
    while seen.last() != Some(&N) {
        let headers: Vec<(&str, &str)> =
            last.iter().map(|l| ("Last-Event-ID", l.as_str())).collect();
        let mut w = Stream::open(addr, "group=G&dataId=hot&content=true", &headers);
        if last.is_none() {
            let snap = w.snapshot();
            seen.push(snap[0].field("content").parse().unwrap());
        }
        // Read a random number of events, then vanish (10 cycles), or to the end.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let take = if cycles < 10 {
            1 + (rng % 40) as usize
        } else {
            usize::MAX
        };
        for _ in 0..take {
            let Some(ev) = w.next_event(WAIT) else { break };
            seen.push(ev.field("content").parse().unwrap());
            if seen.last() == Some(&N) {
                break;
            }
        }
        last = w.last_id.clone();
        cycles += 1;
        assert!(cycles < 100, "no progress: {seen:?}");
    }
    publisher.join().unwrap();
    let start = seen[0];
    let want: Vec<usize> = (start..=N).collect();
    assert_eq!(
        seen, want,
        "every change once, in order, across {cycles} connections"
    );
}

#[test]
fn beta_and_tag_audiences_see_their_variant_only() {
    let s = Server::start();
    publish_ok(s.addr, "k", "G", "", "formal");
    let mut plain = Stream::open(s.addr, "group=G&dataId=k&dataId=fence&content=true", &[]);
    let mut tagged = Stream::open(
        s.addr,
        "group=G&dataId=k&dataId=fence&content=true",
        &[("Vipserver-Tag", "blue")],
    );
    plain.snapshot();
    tagged.snapshot();
    // A beta for another address: what these streams see is unchanged.
    let beta = |ips: &str, content: &str| {
        let body = form(&[("dataId", "k"), ("group", "G"), ("content", content)]);
        let r = request(
            s.addr,
            &post_raw("/nacos/v1/cs/configs", &[("betaIps", ips)], body.as_bytes()),
        );
        assert_eq!(r.text(), "true");
    };
    beta("10.9.9.9", "beta-elsewhere");
    publish_fence(s.addr, "G", "");
    plain.expect_fence(FENCE, "beta for another address, untagged stream");
    tagged.expect_fence(FENCE, "beta for another address, tagged stream");
    // A tag publish: only the tagged stream sees it.
    let body = form(&[
        ("dataId", "k"),
        ("group", "G"),
        ("content", "blue-v"),
        ("tag", "blue"),
    ]);
    assert_eq!(
        request(
            s.addr,
            &post_raw("/nacos/v1/cs/configs", &[], body.as_bytes())
        )
        .text(),
        "true"
    );
    assert_eq!(tagged.next_event(WAIT).unwrap().field("content"), "blue-v");
    publish_fence(s.addr, "G", "");
    plain.expect_fence(FENCE, "tag publish, untagged stream");
    tagged.expect_fence(FENCE, "tag publish, tagged stream: one event");
    // A beta for this address: both see it (beta wins over tag).
    beta("127.0.0.1", "beta-here");
    assert_eq!(
        plain.next_event(WAIT).unwrap().field("content"),
        "beta-here"
    );
    assert_eq!(
        tagged.next_event(WAIT).unwrap().field("content"),
        "beta-here"
    );
}

#[test]
fn with_auth_a_denied_key_is_refused_and_a_namespace_stream_is_filtered() {
    let s = Server::start_args(&["--auth", "--auth-admin-password", "pw"]);
    let login = |u: &str, p: &str| -> String {
        let r = request(
            s.addr,
            &post_raw(
                "/nacos/v1/auth/login",
                &[],
                form(&[("username", u), ("password", p)]).as_bytes(),
            ),
        );
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        v["accessToken"].as_str().unwrap().to_string()
    };
    let admin = login("nacos", "pw");
    let admin_q = format!("accessToken={}", enc(&admin));
    for (path, body) in [
        (
            "/nacos/v1/auth/users",
            form(&[("username", "reader"), ("password", "rpw")]),
        ),
        (
            "/nacos/v1/auth/roles",
            form(&[("role", "r"), ("username", "reader")]),
        ),
        (
            "/nacos/v1/auth/permissions",
            form(&[("role", "r"), ("resource", ":A:*"), ("action", "r")]),
        ),
    ] {
        let r = request(
            s.addr,
            &post_raw(&format!("{path}?{admin_q}"), &[], body.as_bytes()),
        );
        assert_eq!(r.status, 200, "{path}: {}", lossy(&r.body));
    }
    let reader = format!("accessToken={}", enc(&login("reader", "rpw")));
    assert_eq!(
        Stream::open(s.addr, "group=A&dataId=k", &[]).status,
        403,
        "anonymous"
    );
    assert_eq!(
        Stream::open(s.addr, &format!("group=B&dataId=k&{reader}"), &[]).status,
        403,
        "no permission on B"
    );
    let mut ns = Stream::open(s.addr, &reader, &[]);
    assert_eq!(ns.status, 200);
    ns.snapshot();
    let admin_publish = |data_id: &str, group: &str| {
        let body = form(&[("dataId", data_id), ("group", group), ("content", group)]);
        let r = request(
            s.addr,
            &post_raw(
                &format!("/nacos/v1/cs/configs?{admin_q}"),
                &[],
                body.as_bytes(),
            ),
        );
        assert_eq!(r.text(), "true");
    };
    admin_publish("k", "B");
    admin_publish("k", "A");
    let ev = ns.next_event(WAIT).unwrap();
    assert_eq!(ev.field("group"), "A", "B is filtered out");
    admin_publish("k2", "B");
    admin_publish(FENCE, "A");
    ns.expect_fence(FENCE, "nothing of B");
}

#[test]
fn a_stalled_reader_is_closed_and_a_vanished_one_unlinked() {
    let s = Server::start_args(&["--watch-max-unsent-bytes", "262144"]);
    publish_ok(s.addr, "big", "G", "", "0");
    // Vanished: closing the socket unlinks the stream at once.
    let mut gone = Stream::open(s.addr, "group=G", &[]);
    gone.snapshot();
    wait_metric(s.addr, "vigil_watch_streams", 1);
    drop(gone);
    wait_metric(s.addr, "vigil_watch_streams", 0);

    // Stalled: never reads while 100 KB configs change.
    let mut stalled = Stream::open(s.addr, "group=G&content=true", &[]);
    wait_metric(s.addr, "vigil_watch_streams", 1);
    let before = proc_sample(s.pid()).rss_bytes;
    let big = "x".repeat(100 * 1024);
    for i in 0..60 {
        publish_ok(s.addr, "big", "G", "", &format!("{i}{big}"));
    }
    wait_metric(s.addr, "vigil_watch_streams", 0);
    assert_eq!(
        metric(&metrics(s.addr), "vigil_watch_streams_lagging_total"),
        1
    );
    let growth = proc_sample(s.pid()).rss_bytes.saturating_sub(before);
    println!("stalled stream: server RSS growth {} KB", growth >> 10);
    assert!(
        growth < 32 << 20,
        "server grew {} MB for one stalled stream",
        growth >> 20
    );
    assert!(stalled.closed_within(WAIT), "the stalled stream ends");
}

#[test]
fn sigterm_ends_streams_cleanly() {
    let mut s = Server::start();
    let mut w = Stream::open(s.addr, "group=G", &[]);
    w.snapshot();
    assert!(s.sigterm().success());
    assert!(w.closed_within(WAIT));
}

#[test]
fn bad_watch_requests_get_a_clear_400() {
    let s = Server::start();
    for (query, want) in [
        ("dataId=k", "group is required with dataId"),
        ("group=G&dataId=bad%20id", "dataId"),
        ("group=G&lastEventId=abc", "invalid Last-Event-ID"),
        ("tenant=bad%2Ftenant", "tenant"),
    ] {
        let w = Stream::open(s.addr, query, &[("Connection", "close")]);
        assert_eq!(w.status, 400, "{query}");
        let body = w.body();
        assert!(body.contains(want), "{query}: {body}");
    }
}

#[test]
fn a_silent_stream_gets_heartbeats() {
    use std::io::BufRead;
    let s = Server::start_args(&["--watch-heartbeat-ms", "300"]);
    let mut c = Conn::open(s.addr);
    c.send(&get_raw("/nacos/v1/cs/configs/watch?group=G"));
    c.set_read_timeout(WAIT);
    let r = &mut c.reader;
    // Comment lines (":") arrive while nothing changes.
    let mut comments = 0;
    let mut line = String::new();
    while comments < 2 {
        line.clear();
        assert!(r.read_line(&mut line).unwrap() > 0, "stream ended");
        if line == ":\n" {
            comments += 1;
        }
    }
    // And events still arrive between them.
    publish_ok(s.addr, "k", "G", "", "v");
    loop {
        line.clear();
        assert!(r.read_line(&mut line).unwrap() > 0, "stream ended");
        if line.starts_with("event: change") {
            break;
        }
    }
}

#[test]
fn resume_after_a_restart_gets_the_missed_changes_or_a_reset_never_a_gap() {
    let mut s = Server::start();
    let tmp = s.take_tmp().expect("temp dir");
    let dir = s.data_dir.clone();
    let query = "group=G&dataId=k&dataId=fence&content=true";
    publish_ok(s.addr, "k", "G", "", "v0");
    let mut w = Stream::open(s.addr, query, &[]);
    w.snapshot();
    publish_ok(s.addr, "k", "G", "", "v1");
    assert_eq!(w.next_event(WAIT).expect("v1").field("content"), "v1");
    let last = w.last_id.clone().expect("an id");
    // Missed: one change before the restart, two after it (a fresh
    // process numbers its changes again from what it finds on disk).
    drop(w);
    publish_ok(s.addr, "k", "G", "", "v2");
    assert_eq!(s.sigterm().code(), Some(0));
    let s = Server::start_in(&dir, &[]);
    publish_ok(s.addr, "k", "G", "", "v3");
    publish_ok(s.addr, "k", "G", "", "v4");
    let mut w = Stream::open(s.addr, query, &[("Last-Event-ID", &last)]);
    assert_eq!(w.status, 200);
    let reset = w.expect_missed_or_reset("k", 3, "v4", "resume after a restart");
    println!(
        "resume after a restart: {}",
        if reset { "reset" } else { "replayed" }
    );
    publish_fence(s.addr, "G", "");
    w.expect_fence(FENCE, "resume after a restart: nothing more");
    drop(s);
    drop(tmp);
}
