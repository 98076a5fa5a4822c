//! P: publish

use super::*;

#[test]
fn p01_publish_answers_exactly_true() {
    let s = Server::start();
    let r = publish_with(
        s.addr,
        &[("dataId", "p01"), ("group", DG), ("content", "v")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"true".to_vec(), "exactly 4 bytes, no newline");
    let r = publish_with(
        s.addr,
        &[("dataId", "p01"), ("group", DG), ("content", "v2")],
    );
    assert_eq!(r.body, b"true".to_vec(), "update also answers `true`");
}

#[test]
fn p02_get_right_after_true_sees_new_content() {
    let s = Server::start_args(&["--threads", "2"]);
    let mut a = Conn::open(s.addr);
    let mut b = Conn::open(s.addr);
    for i in 0..40 {
        let content = format!("version={i}\n");
        let body = form(&[
            ("dataId", "p02.properties"),
            ("group", DG),
            ("content", &content),
        ]);
        let r = a.roundtrip(&form_post(CFG, &body));
        assert_true(&r, "publish");
        let r = a.roundtrip(&get_req("p02.properties", DG, None));
        assert_eq!(
            lossy(&r.body),
            content,
            "GET on the publishing connection, round {i}"
        );
        let r = b.roundtrip(&get_req("p02.properties", DG, None));
        assert_eq!(
            lossy(&r.body),
            content,
            "GET on another open connection, round {i}"
        );
        let r = request(s.addr, &get_req("p02.properties", DG, None));
        assert_eq!(
            lossy(&r.body),
            content,
            "GET on a new connection, round {i}"
        );
    }
}

#[test]
fn p03_blank_content_is_400() {
    let s = Server::start();
    let r = publish_with(s.addr, &[("dataId", "p03"), ("group", DG), ("content", "")]);
    assert_status_body(&r, 400, "caused: content is blank : ;", "empty content");
    let r = publish_with(
        s.addr,
        &[("dataId", "p03"), ("group", DG), ("content", "   ")],
    );
    assert_status_body(
        &r,
        400,
        "caused: content is blank :    ;",
        "spaces-only content",
    );
    let r = publish_with(
        s.addr,
        &[("dataId", "p03"), ("group", DG), ("content", " \t\r\n ")],
    );
    assert_eq!(
        r.status,
        400,
        "whitespace-only content: {:?}",
        lossy(&r.body)
    );
    let body = lossy(&r.body);
    assert!(
        body.starts_with("caused: content is blank : ") && body.ends_with(';'),
        "whitespace-only content body {body:?}"
    );
    assert_absent(s.addr, "p03", DG, None);
    publish_ok(s.addr, "p03", DG, "", "real");
    let r = publish_with(
        s.addr,
        &[("dataId", "p03"), ("group", DG), ("content", " ")],
    );
    assert_eq!(r.status, 400);
    assert_content(s.addr, "p03", DG, None, "real");
}

#[test]
fn p05_unknown_type_is_stored_as_text() {
    let s = Server::start();
    let r = publish_with(
        s.addr,
        &[
            ("dataId", "p05"),
            ("group", DG),
            ("content", "{}"),
            ("type", "foo"),
        ],
    );
    assert_true(&r, "publish type=foo");
    let r = request(s.addr, &get_req("p05", DG, None));
    assert_eq!(r.header_exact("Config-Type"), Some("text"));
    assert_eq!(
        r.header_exact("Content-Type"),
        Some("text/plain;charset=UTF-8")
    );
}

#[test]
fn p06_content_over_the_limit_is_400() {
    let s = Server::start();
    let limit = 10_485_760;
    let over = "a".repeat(limit + 1);
    let r = publish_with(
        s.addr,
        &[("dataId", "p06-over"), ("group", DG), ("content", &over)],
    );
    assert_status_body(
        &r,
        400,
        "caused: invalid content, over 10485760;",
        "content of limit+1",
    );
    assert_absent(s.addr, "p06-over", DG, None);
    let max = &over[..limit];
    let r = publish_with(
        s.addr,
        &[("dataId", "p06-max"), ("group", DG), ("content", max)],
    );
    assert_true(&r, "content of exactly the limit");
    let r = request(s.addr, &get_req("p06-max", DG, None));
    assert_eq!(r.body.len(), limit);
}

#[test]
fn p08_publish_into_unknown_tenant() {
    let s = Server::start();
    publish_ok(s.addr, "p08", DG, "p08-never-created", "in tenant");
    assert_content(s.addr, "p08", DG, Some("p08-never-created"), "in tenant");
    assert_absent(s.addr, "p08", DG, None);
}

#[test]
fn p09_identical_republish_is_true_and_wakes_nobody() {
    let s = Server::start();
    publish_ok(s.addr, "p09", DG, "dev", "same");
    let mut c = park(s.addr, &record("p09", DG, &md5_hex("same"), Some("dev")));
    settle(s.addr, &mut c, 1, "poll before re-publish");
    let r = publish(s.addr, "p09", "dev", "same");
    assert_true(&r, "identical re-publish");
    expect_silent(s.addr, &mut c, 1, "poll after identical re-publish");
    assert_content(s.addr, "p09", DG, Some("dev"), "same");
}

fn publish(addr: SocketAddr, data_id: &str, tenant: &str, content: &str) -> Response {
    common::publish(addr, data_id, DG, tenant, content)
}

/// The stored `appName` of a public `DEFAULT_GROUP` config. This server does
/// not implement the `show=all` detail endpoint (it answers 501), so the row is
/// read from its SQLite file, whose `config_info` table follows §9.2.
fn stored_app_name(s: &Server, data_id: &str) -> Option<String> {
    let db = rusqlite::Connection::open_with_flags(
        s.data_dir.join("vigil.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the data file read-only");
    db.query_row(
        "SELECT app_name FROM config_info WHERE data_id = ?1 AND group_id = ?2 AND tenant_id = ''",
        [data_id, DG],
        |r| r.get(0),
    )
    .expect("config_info row")
}

#[test]
fn p10_update_without_app_name_keeps_it() {
    let s = Server::start();
    let r = publish_with(
        s.addr,
        &[
            ("dataId", "p10"),
            ("group", DG),
            ("content", "1"),
            ("appName", "p10-app"),
        ],
    );
    assert_true(&r, "publish with appName");
    assert_eq!(stored_app_name(&s, "p10").as_deref(), Some("p10-app"));
    publish_ok(s.addr, "p10", DG, "", "2");
    assert_eq!(
        stored_app_name(&s, "p10").as_deref(),
        Some("p10-app"),
        "appName kept after an update without it"
    );
    assert_content(s.addr, "p10", DG, None, "2");
    let r = publish_with(
        s.addr,
        &[
            ("dataId", "p10"),
            ("group", DG),
            ("content", "3"),
            ("appName", ""),
        ],
    );
    assert_true(&r, "publish with empty appName");
    let app = stored_app_name(&s, "p10");
    assert!(
        app.as_deref().is_none_or(str::is_empty),
        "an empty appName clears it, got {app:?}"
    );
}
