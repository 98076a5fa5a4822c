//! The 2.x/3.x reads the stores answer differently (a content search, a
//! history entry checked against its key) on the PostgreSQL store too: one
//! node in cluster mode on a throwaway PostgreSQL (`tests/cluster/pg.rs`).

use crate::common::Server;
use crate::pg::Postgres;
use crate::{get, missing, publish_v1};
use serde_json::{json, Value};

fn ids(items: &Value) -> Vec<&str> {
    items
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|c| c["dataId"].as_str())
        .collect()
}

#[test]
fn content_search_and_keyed_history_on_postgres() {
    let pg = Postgres::start();
    let s = Server::start_args(&["--store", &pg.database("vigil")]);
    publish_v1(s.addr, "a", "G", "", "hello world");
    publish_v1(s.addr, "b", "G", "", "bye");
    // 2.x searchDetail, blur and accurate.
    let page = [
        ("dataId", ""),
        ("group", ""),
        ("pageNo", "1"),
        ("pageSize", "10"),
    ];
    for (detail, mode, want) in [
        ("*hello*", "blur", vec!["a"]),
        ("*e*", "blur", vec!["a", "b"]),
        ("bye", "accurate", vec!["b"]),
    ] {
        let mut q = page.to_vec();
        q.extend([("config_detail", detail), ("search", mode)]);
        let (status, body) = get(s.addr, "/v2/cs/config/searchDetail", &q);
        assert_eq!(
            (status, ids(&body["pageItems"])),
            (200, want),
            "{detail} {mode}: {body}"
        );
    }
    // 3.x list by content, in 3.x names.
    let (status, body) = get(
        s.addr,
        "/v3/admin/cs/config/list",
        &[("configDetail", "*bye*")],
    );
    assert_eq!(
        (status, ids(&body["data"]["pageItems"])),
        (200, vec!["b"]),
        "{body}"
    );
    assert_eq!(body["data"]["pageItems"][0]["namespaceId"], "public");
    // A history entry read under its key, and not under another.
    publish_v1(s.addr, "a", "G", "", "hello again");
    let key = [("dataId", "a"), ("group", "G")];
    let (status, list) = get(s.addr, "/v2/cs/history/list", &key);
    assert_eq!(
        (status, &list["data"]["totalCount"]),
        (200, &json!(2)),
        "{list}"
    );
    let nid = list["data"]["pageItems"][0]["id"]
        .as_str()
        .expect("nid")
        .to_owned();
    let (status, entry) = get(
        s.addr,
        "/v2/cs/history",
        &[("dataId", "a"), ("group", "G"), ("nid", &nid)],
    );
    assert_eq!(
        (status, &entry["data"]["content"]),
        (200, &json!("hello world")),
        "{entry}"
    );
    let (status, other) = get(
        s.addr,
        "/v2/cs/history",
        &[("dataId", "b"), ("group", "G"), ("nid", &nid)],
    );
    assert_eq!((status, &other["code"]), (403, &json!(10001)), "{other}");
    let (status, configs) = get(
        s.addr,
        "/v2/cs/history/configs",
        &[("namespaceId", "public")],
    );
    assert_eq!(
        (status, ids(&configs["data"])),
        (200, vec!["a", "b"]),
        "{configs}"
    );
    assert_eq!(
        get(s.addr, "/v2/cs/history/configs", &[]),
        (400, missing("namespaceId", "String"))
    );
}
