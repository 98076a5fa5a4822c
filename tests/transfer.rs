//! Export, import, clone and compare-and-set publish against the real
//! binary over real HTTP (spec nacos-transfer.md), with zips built in the
//! tests to Nacos's exact bytes, and the console's own calls (section 5).

mod common;
#[path = "transfer/helpers.rs"]
mod helpers;

use common::*;
use helpers::*;
use serde_json::json;
use std::io::Write as _;

const SPEC_V2: &str = "metadata:\n- dataId: testData1\n  group: testGroup1\n  type: text\n- appName: testAppName\n  dataId: testData2\n  desc: test desc\n  group: testGroup2\n  type: yaml\n";

fn seed(addr: std::net::SocketAddr) {
    publish_with(
        addr,
        &[
            ("dataId", "app.yaml"),
            ("group", "DEFAULT_GROUP"),
            ("content", "a: 1"),
            ("type", "yaml"),
            ("appName", "order-svc"),
            ("desc", "test desc"),
        ],
    );
    publish_with(
        addr,
        &[("dataId", "plain"), ("group", "G2"), ("content", "x")],
    );
}

#[test]
fn export_v1_and_v2_as_nacos_lays_them_out_and_they_import_back() {
    let s = Server::start();
    seed(s.addr);
    // The console's call: every filter present, `ids=` empty.
    let r = get_configs(s.addr, "export=true&tenant=&group=&appName=&dataId=&ids=");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/zip"));
    let cd = r
        .header("Content-Disposition")
        .expect("Content-Disposition");
    let stamp = cd
        .strip_prefix("attachment;filename=nacos_config_export_")
        .and_then(|s| s.strip_suffix(".zip"))
        .unwrap_or_else(|| panic!("{cd}"));
    assert!(
        stamp.len() == 14 && stamp.bytes().all(|b| b.is_ascii_digit()),
        "{cd}"
    );
    let v1 = r.body.clone();
    assert_eq!(
        unzip(&v1),
        vec![
            ("DEFAULT_GROUP/app.yaml".to_owned(), b"a: 1".to_vec()),
            ("G2/plain".to_owned(), b"x".to_vec()),
            (
                ".meta.yml".to_owned(),
                b"DEFAULT_GROUP.app~yaml.app=order-svc\r\n".to_vec()
            ),
        ]
    );
    // v2, `ids` missing altogether (Nacos would crash).
    let v2 = get_configs(s.addr, "exportV2=true&tenant=public").body;
    let entries = unzip(&v2);
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[2].0, ".metadata.yml");
    assert_eq!(
        String::from_utf8(entries[2].1.clone()).unwrap(),
        "metadata:\n- appName: order-svc\n  dataId: app.yaml\n  desc: test desc\n  group: DEFAULT_GROUP\n  type: yaml\n- dataId: plain\n  group: G2\n  type: text\n"
    );
    // Selections: by id (the other filters ignored), by pattern, by group.
    let id = id_of(s.addr, "plain", "G2", "");
    for (query, want) in [
        (
            format!("export=true&ids={id}&dataId=app*"),
            vec!["G2/plain"],
        ),
        (
            "export=true&dataId=app*&ids=".to_owned(),
            vec!["DEFAULT_GROUP/app.yaml", ".meta.yml"],
        ),
        ("export=true&group=G2".to_owned(), vec!["G2/plain"]),
        ("export=true&appName=nobody".to_owned(), vec![]),
    ] {
        let names: Vec<String> = unzip(&get_configs(s.addr, &query).body)
            .into_iter()
            .map(|e| e.0)
            .collect();
        assert_eq!(names, want, "{query}");
    }
    // Round trips into other namespaces: v2 keeps type, desc and appName;
    // v1 keeps appName and derives the type from the extension.
    for (ns, zip) in [("copy-v2", &v2), ("copy-v1", &v1)] {
        create_namespace(s.addr, ns);
        assert_envelope(
            &import(s.addr, ns, None, Some(zip)),
            200,
            json!({"succCount": 2, "skipCount": 0}),
        );
        let d = detail(s.addr, "app.yaml", "DEFAULT_GROUP", ns);
        assert_eq!(
            (
                d["content"].as_str(),
                d["type"].as_str(),
                d["appName"].as_str()
            ),
            (Some("a: 1"), Some("yaml"), Some("order-svc")),
            "{ns}"
        );
        assert_eq!(detail(s.addr, "plain", "G2", ns)["type"], "text");
    }
    assert_eq!(
        detail(s.addr, "app.yaml", "DEFAULT_GROUP", "copy-v2")["desc"],
        "test desc"
    );
    let again = get_configs(s.addr, "exportV2=true&tenant=copy-v2").body;
    assert_eq!(
        unzip(&again)[2],
        entries[2],
        "v2 metadata survives a round trip byte for byte"
    );
}

#[test]
fn zips_built_to_the_spec_bytes_import() {
    let s = Server::start();
    let v1 = zip_of(&[
        ("DEFAULT_GROUP/app.yaml", b"a: 1"),
        ("DEFAULT_GROUP/x.properties", b"k=v"),
        ("DEFAULT_GROUP/", b""),
        (
            ".meta.yml",
            b"DEFAULT_GROUP.app~yaml.app=order-svc\r\nDEFAULT_GROUP.x~properties.app=props\r\n",
        ),
    ]);
    assert_envelope(
        &import(s.addr, "", None, Some(&v1)),
        200,
        json!({"succCount": 2, "skipCount": 0}),
    );
    let d = detail(s.addr, "x.properties", "DEFAULT_GROUP", "");
    assert_eq!(
        (d["type"].as_str(), d["appName"].as_str()),
        (Some("properties"), Some("props"))
    );
    assert_eq!(
        detail(s.addr, "app.yaml", "DEFAULT_GROUP", "")["appName"],
        "order-svc"
    );

    let v2 = zip_of(&[
        ("testGroup1/testData1", b"one"),
        ("testGroup2/testData2", b"k: two"),
        (".metadata.yml", SPEC_V2.as_bytes()),
    ]);
    assert_envelope(
        &import(s.addr, "public", Some("ABORT"), Some(&v2)),
        200,
        json!({"succCount": 2, "skipCount": 0}),
    );
    let d = detail(s.addr, "testData2", "testGroup2", "");
    assert_eq!(
        (
            d["type"].as_str(),
            d["desc"].as_str(),
            d["appName"].as_str()
        ),
        (Some("yaml"), Some("test desc"), Some("testAppName"))
    );
    assert_eq!(
        get_config(s.addr, "testData1", "testGroup1", "").text(),
        "one"
    );
    // The import is answered in the console's envelope and message.
    let r = import(s.addr, "", Some("SKIP"), Some(&v2));
    assert_eq!(json(&r)["message"], "导入成功");
}

#[test]
fn every_policy_gives_nacos_shapes_and_stores_what_it_reports() {
    let s = Server::start();
    let z = zip_of(&[("G/a", b"new-a"), ("G/b", b"new-b"), ("G/c", b"new-c")]);
    let cases = [
        (
            "ABORT",
            json!({"succCount": 1, "skipCount": 0, "failData": [{"dataId": "b", "group": "G"}], "skipData": [{"dataId": "c", "group": "G"}]}),
            ["new-a", "old", ""],
        ),
        (
            "SKIP",
            json!({"succCount": 2, "skipCount": 1, "skipData": [{"dataId": "b", "group": "G"}]}),
            ["new-a", "old", "new-c"],
        ),
        (
            "OVERWRITE",
            json!({"succCount": 3, "skipCount": 0}),
            ["new-a", "new-b", "new-c"],
        ),
    ];
    for (policy, data, want) in cases {
        let ns = policy.to_ascii_lowercase();
        create_namespace(s.addr, &ns);
        publish_ok(s.addr, "b", "G", &ns, "old");
        assert_envelope(&import(s.addr, &ns, Some(policy), Some(&z)), 200, data);
        for (id, content) in ["a", "b", "c"].iter().zip(want) {
            let r = get_config(s.addr, id, "G", &ns);
            let got = if r.status == 404 {
                String::new()
            } else {
                r.text()
            };
            assert_eq!(got, content, "{policy} {id}");
        }
    }
    // `policy` in the query string serves too; an unknown one is refused.
    let body = multipart(None, Some(&z));
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    let r = request(
        s.addr,
        &raw(
            "POST",
            "/nacos/v1/cs/configs?import=true&namespace=skip&policy=SKIP",
            &[("Content-Type", &ct)],
            Some(&body),
        ),
    );
    assert_envelope(
        &r,
        200,
        json!({"succCount": 0, "skipCount": 3, "skipData": [{"dataId": "a", "group": "G"}, {"dataId": "b", "group": "G"}, {"dataId": "c", "group": "G"}]}),
    );
    let r = import(s.addr, "skip", Some("MERGE"), Some(&z));
    assert_eq!(
        (r.status, r.text()),
        (400, "caused: invalid policy : MERGE;".to_owned())
    );
}

#[test]
fn every_error_code_and_nothing_stored_on_an_invalid_item() {
    let s = Server::start();
    let ok = zip_of(&[("G/ok", b"y")]);
    let cases: Vec<(&str, Option<Vec<u8>>, u64, serde_json::Value)> = vec![
        ("", None, 100005, json!({})),
        (
            "no-such-ns",
            Some(ok.clone()),
            100001,
            json!({"succCount": 0}),
        ),
        (
            "",
            Some(zip_of(&[
                ("G/a", b"x"),
                (".meta.yml", b"no equals sign\r\n"),
            ])),
            100002,
            json!({"succCount": 0}),
        ),
        (
            "",
            Some(zip_of(&[
                ("G/a", b"x"),
                (".metadata.yml", b"metadata: []\n"),
            ])),
            100002,
            json!({"succCount": 0}),
        ),
        (
            "",
            Some(zip_of(&[
                ("G/a", b"x"),
                (".metadata.yml", b"metadata:\n- dataId: a\n  group: G\n"),
            ])),
            100002,
            json!({"succCount": 0}),
        ),
        (
            "",
            Some(b"this is not a zip".to_vec()),
            100005,
            json!({"succCount": 0}),
        ),
        (
            "",
            Some(zip_of(&[("G/", b"")])),
            100005,
            json!({"succCount": 0}),
        ),
    ];
    for (ns, file, code, data) in cases {
        let r = import(s.addr, ns, None, file.as_deref());
        assert_envelope(&r, code, data);
    }
    assert_eq!(count(s.addr, ""), 0);
    // One invalid item: its 400, and the valid ones before it not stored.
    for (entries, want) in [
        (
            vec![("G/first", &b"y"[..]), ("G/bad id", b"z")],
            "caused: invalid dataId : bad id;",
        ),
        (
            vec![("G/first", &b"y"[..]), ("G/blank", b"  ")],
            "caused: content is blank :   ;",
        ),
        (
            vec![("G/first", &b"y"[..]), ("bad group!/x", b"z")],
            "caused: invalid group : bad group!;",
        ),
    ] {
        let r = import(s.addr, "", None, Some(&zip_of(&entries)));
        assert_eq!((r.status, r.text().as_str()), (400, want));
    }
    assert_eq!(count(s.addr, ""), 0, "nothing stored");
    // Entries that are not `<group>/<dataId>` are listed, the rest imported.
    let z = zip_of(&[("toplevel", b"x"), ("G/ok", b"y"), ("a/b/c", b"z")]);
    assert_envelope(
        &import(s.addr, "", None, Some(&z)),
        200,
        json!({"succCount": 1, "skipCount": 0, "unrecognizedCount": 2, "unrecognizedData": [{"itemName": "toplevel"}, {"itemName": "a/b/c"}]}),
    );
    let v2 = zip_of(&[("G/in", b"1"), ("G/stray", b"2"), (".metadata.yml", b"metadata:\n- dataId: in\n  group: G\n  type: json\n- dataId: lost\n  group: G\n  type: text\n")]);
    assert_envelope(
        &import(s.addr, "", Some("OVERWRITE"), Some(&v2)),
        200,
        json!({"succCount": 1, "skipCount": 0, "unrecognizedCount": 2, "unrecognizedData": [{"itemName": "未在元数据中找到: G/stray"}, {"itemName": "未在文件中找到: G/lost"}]}),
    );
}

#[test]
fn bad_archives_get_clear_answers_store_nothing_and_stay_bounded() {
    let s = Server::start_args(&[
        "--max-import-entries",
        "1000",
        "--max-import-bytes",
        "1048576",
        "--max-content-chars",
        "100000",
    ]);
    let zeros = vec![0u8; 200 * 1024 * 1024];
    let bomb = zip_of(&[("G/bomb", &zeros)]);
    drop(zeros);
    assert!(
        bomb.len() < 1024 * 1024,
        "the bomb is small: {}",
        bomb.len()
    );
    let chunk = vec![b'x'; 90_000];
    let spread: Vec<(String, &[u8])> = (0..20)
        .map(|i| (format!("G/part{i}"), chunk.as_slice()))
        .collect();
    let spread: Vec<(&str, &[u8])> = spread.iter().map(|(n, d)| (n.as_str(), *d)).collect();
    let many: Vec<String> = (0..10_000).map(|i| format!("G/k{i}")).collect();
    let many: Vec<(&str, &[u8])> = many.iter().map(|n| (n.as_str(), &b"v"[..])).collect();
    let over = vec![b'x'; 100_001];
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("bomb", bomb, 400, "caused: invalid content, over 100000;"),
        (
            "entry over the content limit",
            zip_of(&[("G/ok", b"y"), ("G/big", &over)]),
            400,
            "caused: invalid content, over 100000;",
        ),
        (
            "unpacks past the total",
            zip_of(&spread),
            413,
            "caused: the archive unpacks to more than 1048576 bytes;",
        ),
        (
            "dot-dot",
            zip_of(&[("G/ok", b"y"), ("../evil", b"x")]),
            400,
            "caused: unsafe entry name in the archive: ../evil;",
        ),
        (
            "10,000 entries",
            zip_of(&many),
            413,
            "caused: the archive has 10000 entries, more than the 1000 allowed;",
        ),
    ];
    for (what, file, status, body) in cases {
        let r = import(s.addr, "", Some("OVERWRITE"), Some(&file));
        assert_eq!((r.status, r.text().as_str()), (status, body), "{what}");
        assert_eq!(count(s.addr, ""), 0, "{what}: nothing stored");
    }
    // The 200 MB bomb was never inflated whole (a generous safety net).
    let peak_mb = proc_sample(s.pid()).hwm_bytes >> 20;
    assert!(peak_mb < 150, "peak RSS {peak_mb} MB");
    // The server is still fine.
    assert_envelope(
        &import(s.addr, "", None, Some(&zip_of(&[("G/ok", b"y")]))),
        200,
        json!({"succCount": 1, "skipCount": 0}),
    );
}

#[test]
fn clone_copies_by_id_with_policies_and_overrides() {
    let s = Server::start();
    publish_with(
        s.addr,
        &[
            ("dataId", "a"),
            ("group", "G"),
            ("content", "{}"),
            ("type", "json"),
            ("desc", "the a"),
            ("appName", "app-a"),
        ],
    );
    publish_ok(s.addr, "b", "G", "", "b-src");
    create_namespace(s.addr, "dst");
    publish_ok(s.addr, "b", "G", "dst", "b-dst");
    let (a, b) = (id_of(s.addr, "a", "G", ""), id_of(s.addr, "b", "G", ""));
    assert_envelope(
        &clone(s.addr, "dst", "ABORT", "[]"),
        100006,
        json!({"succCount": 0}),
    );
    assert_envelope(
        &clone(s.addr, "nowhere", "ABORT", &format!(r#"[{{"cfgId":{a}}}]"#)),
        100001,
        json!({"succCount": 0}),
    );
    assert_envelope(
        &clone(s.addr, "dst", "ABORT", r#"[{"cfgId":987654}]"#),
        100005,
        json!({"succCount": 0}),
    );
    let body = format!(
        r#"[{{"cfgId":{a},"dataId":"a2","group":""}},{{"cfgId":"{b}","dataId":"b","group":"G"}}]"#
    );
    let r = clone(s.addr, "dst", "SKIP", &body);
    assert_eq!(json(&r)["message"], "Clone Completed Successfully");
    assert_envelope(
        &r,
        200,
        json!({"succCount": 1, "skipCount": 1, "skipData": [{"dataId": "b", "group": "G"}]}),
    );
    let d = detail(s.addr, "a2", "G", "dst");
    assert_eq!(
        (
            d["content"].as_str(),
            d["type"].as_str(),
            d["desc"].as_str(),
            d["appName"].as_str()
        ),
        (Some("{}"), Some("json"), Some("the a"), Some("app-a"))
    );
    assert_eq!(get_config(s.addr, "b", "G", "dst").text(), "b-dst");
    assert_envelope(
        &clone(s.addr, "dst", "OVERWRITE", &body),
        200,
        json!({"succCount": 2, "skipCount": 0}),
    );
    assert_eq!(get_config(s.addr, "b", "G", "dst").text(), "b-src");
    // A cfgId listed twice: the first wins.
    let twice = format!(r#"[{{"cfgId":{a},"dataId":"x1"}},{{"cfgId":{a},"dataId":"x2"}}]"#);
    assert_envelope(
        &clone(s.addr, "dst", "ABORT", &twice),
        200,
        json!({"succCount": 1, "skipCount": 0}),
    );
    assert_eq!(get_config(s.addr, "x2", "G", "dst").status, 404);
    for bad in [
        "not json",
        r#"[{"dataId":"x"}]"#,
        &format!(r#"[{{"cfgId":{a},"dataId":"bad id"}}]"#),
    ] {
        assert_eq!(clone(s.addr, "dst", "ABORT", bad).status, 400, "{bad}");
    }
    let r = request(
        s.addr,
        &raw(
            "POST",
            "/nacos/v1/cs/configs?clone=true&policy=ABORT",
            &[("Content-Type", "application/json")],
            Some(b"[]"),
        ),
    );
    assert_eq!(r.status, 400, "tenant is required");
}

#[test]
fn compare_and_set_publish_both_ways() {
    let s = Server::start();
    publish_ok(s.addr, "k", "G", "", "v1");
    let cas = |content: &str, md5: &str, in_header: bool, extra: &[(&str, &str)]| {
        let mut fields = vec![("dataId", "k"), ("group", "G"), ("content", content)];
        if !in_header {
            fields.push(("casMd5", md5));
        }
        let headers: Vec<(&str, &str)> = if in_header {
            vec![("casMd5", md5)]
        } else {
            vec![]
        };
        let headers: Vec<(&str, &str)> = headers.into_iter().chain(extra.iter().copied()).collect();
        request(
            s.addr,
            &post_raw("/nacos/v1/cs/configs", &headers, form(&fields).as_bytes()),
        )
    };
    let refused = (
        500,
        "caused: Cas publish fail, server md5 may have changed.;".to_owned(),
    );
    for in_header in [true, false] {
        let r = cas("lost", &md5_hex("not what is stored"), in_header, &[]);
        assert_eq!((r.status, r.text()), refused);
    }
    assert_eq!(
        get_config(s.addr, "k", "G", "").text(),
        "v1",
        "a refused CAS changes nothing"
    );
    let r = cas("v2", &md5_hex("v1"), true, &[]);
    assert_eq!(r.text(), "true");
    let r = cas("v3", &md5_hex("v2"), false, &[]);
    assert_eq!(r.text(), "true");
    assert_eq!(get_config(s.addr, "k", "G", "").text(), "v3");
    // A CAS publish of a missing config inserts it.
    publish_with(
        s.addr,
        &[
            ("dataId", "fresh"),
            ("group", "G"),
            ("content", "new"),
            ("casMd5", "0123456789abcdef0123456789abcdef"),
        ],
    );
    // Beta variants follow the same rule, against the beta's md5.
    let beta = [("betaIps", "10.0.0.1")];
    assert_eq!(
        cas("beta1", &md5_hex("anything"), false, &beta).text(),
        "true",
        "no beta yet"
    );
    let r = cas("beta2", &md5_hex("v3"), false, &beta);
    assert_eq!(
        (r.status, r.text()),
        refused,
        "the formal md5 is not the beta's"
    );
    assert_eq!(cas("beta2", &md5_hex("beta1"), false, &beta).text(), "true");
}

#[test]
fn an_import_wakes_each_changed_key_once_and_unchanged_keys_never() {
    // One reactor: once the fence reaches the stream, every change before it
    // has been applied to every poll and stream, so the counters are final.
    let s = Server::start_args(&["--threads", "1"]);
    publish_ok(s.addr, "changes", "G", "", "c0");
    publish_ok(s.addr, "same", "G", "", "s0");
    let mut changed = start_poll(
        s.addr,
        &record("changes", "G", &md5_hex("c0"), None),
        "30000",
    );
    let mut same = start_poll(s.addr, &record("same", "G", &md5_hex("s0"), None), "30000");
    let mut w = sse::Stream::open(
        s.addr,
        "group=G&dataId=changes&dataId=same&dataId=fence",
        &[],
    );
    w.snapshot();
    settle(s.addr, &mut same, 2, "both parked before the import");
    let before = metrics(s.addr);
    let z = zip_of(&[("G/changes", b"c1"), ("G/same", b"s0")]);
    assert_envelope(
        &import(s.addr, "", Some("OVERWRITE"), Some(&z)),
        200,
        json!({"succCount": 2, "skipCount": 0}),
    );
    let r = changed.read_response();
    assert_eq!(r.text(), "changes%02G%01\n", "woken with its key");
    assert_eq!(get_config(s.addr, "changes", "G", "").text(), "c1");
    let ev = w
        .next_event(std::time::Duration::from_secs(10))
        .expect("the import's event");
    assert_eq!(ev.field("dataId"), "changes");
    publish_ok(s.addr, "fence", "G", "", "f");
    w.expect_fence("fence", "one event per changed key");
    // The server's own counts: one poll woken, two events (the changed key
    // and the fence); a duplicate delivery or a wake of `same` shows here.
    assert_eq!(
        grew(
            &before,
            &metrics(s.addr),
            &["vigil_wakeups_total", "vigil_watch_events_total"]
        ),
        [("vigil_wakeups_total", 1), ("vigil_watch_events_total", 2)],
        "wake-ups and watch events of the import"
    );
    settle(s.addr, &mut same, 1, "unchanged content wakes nobody");
    // History: the unchanged key was not written at all.
    let hist = request(
        s.addr,
        &get_raw("/nacos/v1/cs/history?search=accurate&dataId=same&group=G&pageNo=1&pageSize=10"),
    );
    assert_eq!(json(&hist)["totalCount"], 1, "only the original publish");
}

#[test]
fn an_import_killed_mid_way_leaves_all_of_it_or_none() {
    let n = 3_000;
    let names: Vec<(String, String)> = (0..n)
        .map(|i| (format!("G/key-{i}"), format!("content {i}")))
        .collect();
    let entries: Vec<(&str, &[u8])> = names
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_bytes()))
        .collect();
    let body = multipart(Some("OVERWRITE"), Some(&zip_of(&entries)));
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    let req = raw(
        "POST",
        "/nacos/v1/cs/configs?import=true&namespace=",
        &[("Content-Type", &ct)],
        Some(&body),
    );
    // How long a whole import takes here, so the kills land before, during
    // and after its commit.
    let s = Server::start();
    let started = std::time::Instant::now();
    assert_envelope(
        &request(s.addr, &req),
        200,
        json!({"succCount": n, "skipCount": 0}),
    );
    let whole = started.elapsed();
    drop(s);
    let mut seen = std::collections::BTreeMap::new();
    // `None`: killed only once the answer arrived.
    for eighths in [
        Some(1u32),
        Some(2),
        Some(4),
        Some(6),
        Some(7),
        Some(8),
        Some(10),
        None,
    ] {
        let mut s = Server::start();
        let tmp = s.take_tmp();
        let (addr, req) = (s.addr, req.clone());
        let client = std::thread::spawn(move || {
            let mut c = Conn::open(addr);
            let _ = c.stream().write_all(&req);
            c.try_read_response().map(|r| r.status)
        });
        let answered = match eighths {
            Some(k) => {
                std::thread::sleep(whole * k / 8);
                s.kill9();
                client.join().expect("client").ok()
            }
            None => {
                let status = client.join().expect("client").ok();
                s.kill9();
                status
            }
        };
        let s2 = Server::start_in(&s.data_dir, &[]);
        let stored = count(s2.addr, "");
        assert!(
            stored == 0 || stored == n,
            "killed at {eighths:?}/8 of an import: {stored} of {n} configs survived"
        );
        if answered == Some(200) {
            assert_eq!(stored, n, "an answered import is all there after kill -9");
        }
        seen.insert(eighths, stored);
        drop(s2);
        drop(tmp);
    }
    eprintln!("whole import {whole:?}; configs found after kill -9 at k/8 of it: {seen:?}");
    assert_eq!(
        seen[&None], n,
        "killed after the answer: everything is there"
    );
}
