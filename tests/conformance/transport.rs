//! T: transport

use super::*;

#[test]
fn t01_get_routes_to_get_config() {
    let s = Server::start();
    assert_absent(s.addr, "t01.properties", DG, None);
    publish_ok(s.addr, "t01.properties", DG, "", "t01=1\n");
    assert_content(s.addr, "t01.properties", DG, None, "t01=1\n");
}

#[test]
fn t02_publish_with_all_params_in_form_body() {
    let s = Server::start();
    let body = form(&[
        ("dataId", "t02.properties"),
        ("group", DG),
        ("content", "k=v\n"),
        ("type", "properties"),
        ("tenant", "dev"),
    ]);
    let r = request(s.addr, &form_post(CFG, &body));
    assert_true(&r, "publish with params in the body");
    assert_content(s.addr, "t02.properties", DG, Some("dev"), "k=v\n");
}

#[test]
fn t03_publish_with_all_params_in_query_only() {
    let s = Server::start();
    // Form content type, empty body.
    let q = form(&[
        ("dataId", "t03-a"),
        ("group", DG),
        ("content", "from=query\n"),
    ]);
    let r = request(
        s.addr,
        &raw(
            "POST",
            &format!("{CFG}?{q}"),
            &[("Content-Type", FORM_CT)],
            Some(b"".as_slice()),
        ),
    );
    assert_true(&r, "POST with params in the query and an empty form body");
    assert_content(s.addr, "t03-a", DG, None, "from=query\n");
    // `curl -X POST 'url?...'`: no Content-Type, no Content-Length.
    let q = form(&[("dataId", "t03-b"), ("group", DG), ("content", "curl")]);
    let r = request(s.addr, &raw("POST", &format!("{CFG}?{q}"), &[], None));
    assert_true(&r, "POST with params in the query and no body at all");
    assert_content(s.addr, "t03-b", DG, None, "curl");
}

#[test]
fn t04_query_value_wins_over_body_value() {
    let s = Server::start();
    let q = form(&[("dataId", "t04-query"), ("content", "from-query")]);
    let body = form(&[
        ("dataId", "t04-body"),
        ("group", DG),
        ("content", "from-body"),
    ]);
    let r = request(s.addr, &form_post(&format!("{CFG}?{q}"), &body));
    assert_true(&r, "publish with duplicated params");
    assert_content(s.addr, "t04-query", DG, None, "from-query");
    assert_absent(s.addr, "t04-body", DG, None);
    // Python v1 splits: tenant in the query, the rest in the body.
    let body = form(&[("dataId", "t04-split"), ("group", DG), ("content", "split")]);
    let r = request(s.addr, &form_post(&format!("{CFG}?tenant=dev"), &body));
    assert_true(&r, "publish with split params");
    assert_content(s.addr, "t04-split", DG, Some("dev"), "split");
}

#[test]
fn t05_body_is_utf8_whatever_the_declared_charset() {
    let s = Server::start();
    let content = "名字=值\n中文内容";
    // The Node SDK: charset=GBK label, UTF-8 bytes, empty tenant/type/appName.
    let body = form(&[
        ("dataId", "t05.properties"),
        ("group", DG),
        ("content", content),
        ("tenant", ""),
        ("type", ""),
        ("appName", ""),
    ]);
    let r = request(
        s.addr,
        &raw(
            "POST",
            CFG,
            &[(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=GBK",
            )],
            Some(body.as_bytes()),
        ),
    );
    assert_true(&r, "publish labelled charset=GBK");
    assert_content(s.addr, "t05.properties", DG, None, content);
    let r = request(s.addr, &get_req("t05.properties", DG, None));
    assert_eq!(
        r.header_exact("Content-MD5"),
        Some(md5_hex(content).as_str())
    );
}

#[test]
fn t06_form_body_with_trailing_ampersand_and_empty_pair() {
    let s = Server::start();
    let body = "dataId=t06.properties&group=DEFAULT_GROUP&&content=v%3D1&";
    let r = request(s.addr, &form_post(CFG, body));
    assert_true(&r, "publish with `&&` and a trailing `&`");
    assert_content(s.addr, "t06.properties", DG, None, "v=1");
    let body = "dataId=t06-b&flag&group=DEFAULT_GROUP&content=b&&";
    let r = request(s.addr, &form_post(CFG, body));
    assert_true(&r, "publish with a key without `=`");
    assert_content(s.addr, "t06-b", DG, None, "b");
}

#[test]
fn t07_empty_tenant_is_the_public_namespace() {
    let s = Server::start();
    let r = publish_with(
        s.addr,
        &[
            ("dataId", "t07"),
            ("group", DG),
            ("tenant", ""),
            ("content", "t07 content"),
        ],
    );
    assert_true(&r, "publish with tenant=");
    assert_content(s.addr, "t07", DG, None, "t07 content");
    assert_content(s.addr, "t07", DG, Some(""), "t07 content");
    let r = no_hangup(
        s.addr,
        &record("t07", DG, &md5_hex("t07 content"), None),
        "poll",
    );
    assert_ok_empty(
        &r,
        "3-field poll with the current md5 of the tenant= publish",
    );
    let r = delete_with_tenant(s.addr, "t07", "");
    assert_true(&r, "delete with tenant=");
    assert_absent(s.addr, "t07", DG, None);
}

fn delete_with_tenant(addr: SocketAddr, data_id: &str, tenant: &str) -> Response {
    common::delete_config(addr, data_id, DG, tenant)
}

#[test]
fn t08_json_content_type_on_bodyless_get_and_delete() {
    let s = Server::start();
    publish_ok(s.addr, "t08.properties", DG, "", "t08=1");
    let java = [
        ("Content-Type", "application/json;charset=UTF-8"),
        ("Accept-Charset", "UTF-8"),
        ("Accept-Encoding", "gzip"),
        ("Client-AppName", "unknown"),
        ("Client-Version", "1.4.1"),
        ("exConfigInfo", "true"),
        ("RequestId", "6a3c2f0e-1d7a-4b8e-9c51-0c0f3f8a9e21"),
        ("User-Agent", "Java/1.8.0_282"),
        (
            "Accept",
            "text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2",
        ),
        ("Connection", "keep-alive"),
    ];
    let q = form(&[("dataId", "t08.properties"), ("group", DG)]);
    let mut c = Conn::open(s.addr);
    let r = c.roundtrip(&raw("GET", &format!("{CFG}?{q}"), &java, None));
    assert_eq!(
        (r.status, lossy(&r.body).as_str()),
        (200, "t08=1"),
        "Java-style GET"
    );
    let r = c.roundtrip(&raw("DELETE", &format!("{CFG}?{q}"), &java, None));
    assert_true(&r, "Java-style DELETE");
    let r = c.roundtrip(&raw("GET", &format!("{CFG}?{q}"), &java, None));
    assert_status_body(&r, 404, "config data not exist\n", "GET after DELETE");
}

#[test]
fn t09_request_header_names_in_odd_case() {
    let s = Server::start();
    // Python urllib capitalisation on a publish.
    let body = form(&[("dataId", "t09"), ("group", DG), ("content", "one")]);
    let r = request(
        s.addr,
        &format!(
            "POST {CFG} HTTP/1.1\r\nHost: t\r\nAccept-Encoding: identity\r\nContent-type: application/x-www-form-urlencoded\r\nUser-agent: Nacos-Python-Client:v0.1.16\r\nContent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    );
    assert_true(&r, "publish with `Content-type` / `Content-length`");
    assert_content(s.addr, "t09", DG, None, "one");

    // A Python-style poll with the current md5 must be held, i.e. the
    // `Long-pulling-timeout` header was recognised.
    let lbody = form(&[(
        "Listening-Configs",
        &record("t09", DG, &md5_hex("one"), Some("")),
    )]);
    let mut c = Conn::open(s.addr);
    c.send(
        format!(
            "POST {LISTENER} HTTP/1.1\r\nHost: t\r\nAccept-Encoding: identity\r\nContent-type: application/x-www-form-urlencoded\r\nLong-pulling-timeout: 30000\r\nUser-agent: Nacos-Python-Client:v0.1.16\r\nConnection: close\r\nContent-length: {}\r\n\r\n{lbody}",
            lbody.len()
        )
        .as_bytes(),
    );
    expect_silent(s.addr, &mut c, 1, "poll with `Long-pulling-timeout`");
    publish_ok(s.addr, "t09", DG, "", "two");
    let r = answer_within(&mut c, PROMPT, "woken Python-style poll");
    assert_reply(&r, &reply1("t09", DG, None), "woken Python-style poll");

    // Lower-case no-hang-up header.
    let r = immediate(
        s.addr,
        &common::listener_raw(
            &record("t09", DG, &md5_hex("two"), None),
            None,
            &[
                ("long-pulling-timeout", "30000"),
                ("long-pulling-timeout-no-hangup", "true"),
            ],
        ),
        "lower-case no-hang-up",
    );
    assert_ok_empty(&r, "lower-case no-hang-up poll");
}

#[test]
fn t10_response_header_names_are_canonical() {
    let s = Server::start();
    let r = publish_with(
        s.addr,
        &[
            ("dataId", "t10.yaml"),
            ("group", DG),
            ("content", "a: 1\n"),
            ("type", "yaml"),
        ],
    );
    assert_true(&r, "publish");
    assert_canonical_names(&r, "publish reply");

    let r = request(s.addr, &get_req("t10.yaml", DG, None));
    assert_eq!(r.status, 200);
    assert_canonical_names(&r, "GET 200");
    for name in [
        "Config-Type",
        "Content-Type",
        "Content-MD5",
        "Last-Modified",
        "Cache-Control",
        "Pragma",
        "Expires",
    ] {
        assert!(
            r.header_exact(name).is_some(),
            "GET 200 lacks a header named exactly {name:?}: {:?}",
            r.headers
        );
    }
    assert!(
        r.header_exact("Content-Length").is_some() || r.header("Transfer-Encoding").is_some(),
        "GET 200 is framed by `Content-Length` (exact case) or chunked: {:?}",
        r.headers
    );

    let r = request(s.addr, &get_req("t10-absent", DG, None));
    assert_eq!(r.status, 404);
    assert_canonical_names(&r, "GET 404");

    let r = immediate(
        s.addr,
        &listen(&record("t10.yaml", DG, "", None), &[]),
        "poll",
    );
    assert_eq!(r.status, 200);
    assert_canonical_names(&r, "listener reply with changes");

    let r = no_hangup(
        s.addr,
        &record("t10.yaml", DG, &md5_hex("a: 1\n"), None),
        "poll",
    );
    assert_ok_empty(&r, "no-hang-up poll");
    assert_canonical_names(&r, "empty listener reply");
    assert_eq!(
        r.header_exact("Content-Length"),
        Some("0"),
        "empty listener reply"
    );

    let r = common::delete_config(s.addr, "t10.yaml", DG, "");
    assert_true(&r, "delete");
    assert_canonical_names(&r, "delete reply");
}

#[test]
fn t11_responses_are_never_compressed() {
    let s = Server::start();
    let content = "compress me ".repeat(500);
    publish_ok(s.addr, "t11.txt", DG, "", &content);
    let q = form(&[("dataId", "t11.txt"), ("group", DG)]);
    let r = request(
        s.addr,
        &raw(
            "GET",
            &format!("{CFG}?{q}"),
            &[("Accept-Encoding", "gzip")],
            None,
        ),
    );
    assert_eq!(r.status, 200);
    assert!(
        r.header("Content-Encoding").is_none(),
        "Content-Encoding sent: {:?}",
        r.headers
    );
    assert!(
        r.body == content.as_bytes(),
        "body must be the plain content"
    );

    let req = common::listener_raw(
        &record("t11.txt", DG, "", None),
        Some("30000"),
        &[("Accept-Encoding", "gzip")],
    );
    let r = immediate(s.addr, &req, "poll with Accept-Encoding: gzip");
    assert!(
        r.header("Content-Encoding").is_none(),
        "Content-Encoding sent: {:?}",
        r.headers
    );
    assert_reply(&r, &reply1("t11.txt", DG, None), "listener reply");
}

#[test]
fn t12_keep_alive_then_connection_close() {
    let s = Server::start();
    let mut c = Conn::open(s.addr);
    let r = c.roundtrip(&get_req("t12", DG, None));
    assert_status_body(&r, 404, "config data not exist\n", "first request");
    let r = c.roundtrip(&form_post(
        CFG,
        &form(&[("dataId", "t12"), ("group", DG), ("content", "kept alive")]),
    ));
    assert_true(&r, "second request on the same connection");
    let r = c.roundtrip(&get_req("t12", DG, None));
    assert_eq!(
        (r.status, lossy(&r.body).as_str()),
        (200, "kept alive"),
        "third request"
    );
    let q = form(&[("dataId", "t12"), ("group", DG)]);
    let r = c.roundtrip(&raw(
        "GET",
        &format!("{CFG}?{q}"),
        &[("Connection", "close")],
        None,
    ));
    assert_eq!(
        (r.status, lossy(&r.body).as_str()),
        (200, "kept alive"),
        "request with Connection: close gets its full reply"
    );
    assert!(
        c.is_closed(PROMPT),
        "server must close after a `Connection: close` request"
    );
}

#[test]
fn t13_unencoded_colon_in_query() {
    let s = Server::start();
    publish_ok(s.addr, "t13:svc.yaml", "G:1", "ns:1", "colon");
    // Go SDK v1: query built by plain concatenation.
    let r = request(
        s.addr,
        &raw(
            "GET",
            &format!("{CFG}?dataId=t13:svc.yaml&group=G:1&tenant=ns:1"),
            &[],
            None,
        ),
    );
    assert_eq!(
        (r.status, lossy(&r.body).as_str()),
        (200, "colon"),
        "raw `:` in the query"
    );
    let r = request(
        s.addr,
        &raw(
            "DELETE",
            &format!("{CFG}?dataId=t13:svc.yaml&group=G:1&tenant=ns:1"),
            &[],
            None,
        ),
    );
    assert_true(&r, "DELETE with raw `:`");
    assert_absent(s.addr, "t13:svc.yaml", "G:1", Some("ns:1"));
}

#[test]
fn t14_publish_of_3_mb_content() {
    let s = Server::start();
    let mut content = String::new();
    let mut i = 0;
    while content.len() < 3 * 1024 * 1024 {
        content.push_str(&format!("key.{i:07}=value {i} 值&x+y%z\r\n"));
        i += 1;
    }
    let r = publish_with(
        s.addr,
        &[("dataId", "t14.big"), ("group", DG), ("content", &content)],
    );
    assert_true(&r, "3 MB publish");
    let r = request(s.addr, &get_req("t14.big", DG, None));
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), content.len(), "no truncation");
    assert!(r.body == content.as_bytes(), "byte-exact");
    assert_eq!(
        r.header_exact("Content-MD5"),
        Some(md5_hex(&content).as_str())
    );
}

#[test]
fn pipelined_gets_behind_a_large_answer_are_all_answered() {
    // Three GETs in one write for a 300 KB config: the first answer passes
    // the output mark; once the socket has taken it whole, the two held
    // back are served too (not left until the idle timeout).
    let s = Server::start();
    let big = "x".repeat(300 * 1024);
    publish_ok(s.addr, "big.txt", DG, "", &big);
    let q = form(&[("dataId", "big.txt"), ("group", DG)]);
    let get = raw("GET", &format!("{CFG}?{q}"), &[], None);
    let mut c = Conn::open(s.addr);
    c.set_read_timeout(PROMPT);
    c.send(&[get.clone(), get.clone(), get].concat());
    for i in 0..3 {
        let r = c.read_response();
        assert_eq!((r.status, r.body.len()), (200, big.len()), "answer {i}");
    }
}
