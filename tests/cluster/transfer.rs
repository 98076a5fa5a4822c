//! Export, import and clone on PostgreSQL nodes, a watch stream across
//! nodes, and `vigil migrate` between an SQLite node and a PostgreSQL one.

use super::{await_content, cluster, node, G};
use crate::common::sse::Stream;
use crate::common::*;
use crate::helpers::*;
use crate::pg::Postgres;
use serde_json::json;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// Every config of these namespaces as the console shows it: the export's
/// entries by name, each with its type, description and app name.
fn snapshot(addr: SocketAddr, tenants: &[&str]) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for t in tenants {
        let zip = get_configs(addr, &format!("export=true&tenant={t}&ids=")).body;
        for (name, content) in unzip(&zip) {
            let Some((group, data_id)) = name.split_once('/') else {
                continue; // the metadata entry
            };
            let d = detail(addr, data_id, group, t);
            out.push(json!({
                "key": format!("{t}:{name}"), "content": lossy(&content),
                "type": d["type"], "desc": d["desc"], "appName": d["appName"],
            }));
        }
    }
    out.sort_by_key(|v| v["key"].as_str().unwrap_or("").to_owned());
    out
}

#[test]
fn export_import_and_clone_on_postgres_wake_other_nodes_once() {
    let pg = Postgres::start();
    let (url, nodes) = cluster(&pg, 1);
    // B has one reactor: once the fence reaches its stream, every change
    // before it has been applied to every poll and stream there, so its
    // counters are final.
    let node_b = Server::start_args(&["--store", &url, "--threads", "1"]);
    let (a, b) = (nodes[0].addr, node_b.addr);
    publish_with(
        a,
        &[
            ("dataId", "app.yaml"),
            ("group", G),
            ("content", "a: 1"),
            ("type", "yaml"),
            ("desc", "d"),
            ("appName", "svc"),
        ],
    );
    publish_ok(a, "b", G, "", "b0");
    publish_ok(a, "same", G, "", "s0");

    // Node B exports what node A wrote, by pattern and in full.
    let names = |zip: &[u8]| -> Vec<String> { unzip(zip).into_iter().map(|e| e.0).collect() };
    let some = get_configs(b, "export=true&tenant=&dataId=app*&ids=").body;
    assert_eq!(names(&some), vec!["DEFAULT_GROUP/app.yaml", ".meta.yml"]);
    let all = get_configs(b, "exportV2=true&tenant=&ids=").body;
    assert_eq!(
        names(&all),
        vec![
            "DEFAULT_GROUP/app.yaml",
            "DEFAULT_GROUP/b",
            "DEFAULT_GROUP/same",
            ".metadata.yml"
        ]
    );

    // An import on A wakes a poll on B once for the changed key, never for
    // the unchanged one (B's cache first follows A's publishes).
    await_content(b, "b", Some("b0"), WAIT);
    await_content(b, "same", Some("s0"), WAIT);
    let mut changed = start_poll(b, &record("b", G, &md5_hex("b0"), None), "30000");
    let mut same = start_poll(b, &record("same", G, &md5_hex("s0"), None), "30000");
    let mut w = Stream::open(
        b,
        &format!("group={G}&dataId=b&dataId=same&dataId=new&dataId=fence"),
        &[],
    );
    w.snapshot();
    settle(b, &mut same, 2, "both parked on B before the import");
    let before = metrics(b);
    let z = zip_of(&[
        ("DEFAULT_GROUP/b", b"b1"),
        ("DEFAULT_GROUP/same", b"s0"),
        ("DEFAULT_GROUP/new", b"n1"),
    ]);
    assert_envelope(
        &import(a, "", Some("OVERWRITE"), Some(&z)),
        200,
        json!({"succCount": 3, "skipCount": 0}),
    );
    changed.set_read_timeout(Duration::from_secs(10));
    assert_eq!(changed.read_response().text(), "b%02DEFAULT_GROUP%01\n");
    let mut got: Vec<String> = (0..2)
        .map(|_| w.next_event(WAIT).expect("an import event").field("dataId"))
        .collect();
    got.sort();
    assert_eq!(got, ["b", "new"], "B's stream sees the changed keys");
    publish_ok(a, "fence", G, "", "f");
    w.expect_fence("fence", "one event per changed key on B");
    // B's own counts: one poll woken, three events (two keys and the
    // fence); a duplicate delivery or a wake of `same` shows here.
    assert_eq!(
        grew(
            &before,
            &metrics(b),
            &["vigil_wakeups_total", "vigil_watch_events_total"]
        ),
        [("vigil_wakeups_total", 1), ("vigil_watch_events_total", 3)],
        "wake-ups and watch events of the import on B"
    );
    settle(b, &mut same, 1, "an unchanged key wakes nobody");
    await_content(b, "new", Some("n1"), WAIT);

    // The full export imports back into a namespace, metadata and all; a
    // missing namespace is refused.
    create_namespace(a, "ns");
    assert_envelope(
        &import(b, "ns", None, Some(&all)),
        200,
        json!({"succCount": 3, "skipCount": 0}),
    );
    let d = detail(a, "app.yaml", G, "ns");
    assert_eq!(
        (&d["content"], &d["type"], &d["desc"], &d["appName"]),
        (&json!("a: 1"), &json!("yaml"), &json!("d"), &json!("svc"))
    );
    assert_envelope(
        &import(b, "nope", None, Some(&all)),
        100_001,
        json!({"succCount": 0}),
    );

    // A clone on B wakes a poll on A for the new key.
    let mut copy = start_poll(a, &record("b-copy", G, "", Some("ns")), "30000");
    check_silent(&mut copy, "no copy yet");
    let id = id_of(a, "b", G, "");
    let body = format!(r#"[{{"cfgId":{id},"dataId":"b-copy","group":"{G}"}}]"#);
    assert_envelope(
        &clone(b, "ns", "ABORT", &body),
        200,
        json!({"succCount": 1, "skipCount": 0}),
    );
    copy.set_read_timeout(Duration::from_secs(10));
    assert_eq!(
        copy.read_response().text(),
        "b-copy%02DEFAULT_GROUP%02ns%01\n"
    );
    assert_eq!(get_config(a, "b-copy", G, "ns").text(), "b1");
    assert_envelope(
        &clone(b, "nope", "ABORT", &body),
        100_001,
        json!({"succCount": 0}),
    );
}

#[test]
fn a_watch_stream_on_one_node_sees_a_publish_on_another() {
    let pg = Postgres::start();
    let (_, nodes) = cluster(&pg, 2);
    let (a, b) = (nodes[0].addr, nodes[1].addr);
    let mut w = Stream::open(
        b,
        &format!("group={G}&dataId=k&dataId=fence&content=true"),
        &[],
    );
    assert_eq!(w.status, 200);
    assert!(w.snapshot().is_empty(), "nothing stored yet");
    publish_ok(a, "k", G, "", "v1");
    let ev = w
        .next_event(Duration::from_secs(10))
        .expect("the publish on A reaches B's stream");
    assert_eq!(
        (ev.kind.as_str(), ev.field("dataId"), ev.field("content")),
        ("change", "k".to_owned(), "v1".to_owned())
    );
    publish_ok(a, "fence", G, "", "f");
    w.expect_fence("fence", "one publish, one event");
}

fn migrate(from: SocketAddr, to: SocketAddr) {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["migrate", "--from", &format!("http://{from}")])
        .args(["--to", &format!("http://{to}")])
        .stdin(Stdio::null())
        .output()
        .expect("run vigil migrate");
    assert!(
        out.status.success(),
        "{}{}",
        lossy(&out.stdout),
        lossy(&out.stderr)
    );
}

#[test]
fn migrate_moves_an_sqlite_node_into_postgres_and_back() {
    let pg = Postgres::start();
    let sqlite = Server::start();
    let s = sqlite.addr;
    create_namespace(s, "prod");
    publish_with(
        s,
        &[
            ("dataId", "db.json"),
            ("group", "DB"),
            ("tenant", "prod"),
            ("content", "{}"),
            ("type", "json"),
            ("desc", "the db"),
            ("appName", "svc"),
        ],
    );
    publish_ok(s, "plain", G, "", "p");
    publish_ok(s, "x", "G2", "", "x\ny");
    let tenants = ["", "prod"];
    let before = snapshot(s, &tenants);
    assert_eq!(before.len(), 3);

    let on_pg = node(&pg.database("vigil"));
    migrate(s, on_pg.addr);
    assert_eq!(
        snapshot(on_pg.addr, &tenants),
        before,
        "SQLite to PostgreSQL"
    );

    let back = Server::start();
    migrate(on_pg.addr, back.addr);
    assert_eq!(
        snapshot(back.addr, &tenants),
        before,
        "PostgreSQL to SQLite"
    );
}

#[test]
fn a_watch_stream_resumed_on_another_node_gets_the_missed_changes_or_a_reset() {
    let pg = Postgres::start();
    let (_, nodes) = cluster(&pg, 2);
    let (a, b) = (nodes[0].addr, nodes[1].addr);
    let query = format!("group={G}&dataId=k&dataId=fence&content=true");
    publish_ok(a, "k", G, "", "v0");
    let mut w = Stream::open(a, &query, &[]);
    w.snapshot();
    publish_ok(a, "k", G, "", "v1");
    assert_eq!(w.next_event(WAIT).expect("v1").field("content"), "v1");
    let last = w.last_id.clone().expect("an id");
    drop(w);
    // Missed while away, written on both nodes; B has applied them all.
    publish_ok(a, "k", G, "", "v2");
    publish_ok(b, "k", G, "", "v3");
    await_content(b, "k", Some("v3"), WAIT);
    let mut w = Stream::open(b, &query, &[("Last-Event-ID", &last)]);
    assert_eq!(w.status, 200);
    let reset = w.expect_missed_or_reset("k", 2, "v3", "resume on another node");
    println!(
        "resume on another node: {}",
        if reset { "reset" } else { "replayed" }
    );
    publish_ok(a, "fence", G, "", "f");
    w.expect_fence("fence", "resume on another node: nothing more");
}
