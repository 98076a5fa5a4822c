//! G: get

use super::*;

#[test]
fn g01_get_returns_published_bytes() {
    let s = Server::start();
    let content = "server.port=8080\nspring.application.name=g01\n";
    publish_ok(s.addr, "g01.properties", DG, "", content);
    assert_content(s.addr, "g01.properties", DG, None, content);
}

#[test]
fn g02_content_md5_is_lowercase_hex_md5() {
    let s = Server::start();
    for (id, content, md5) in [
        ("g02-a", "hello", "5d41402abc4b2a76b9719d911017c592"),
        ("g02-b", "contentTest", "9f67e6977b100e00cab385a75597db58"),
        ("g02-c", "k=v\n", "a2b61a3fe44d6941c7e5dfecd2cb191c"),
        ("g02-d", "名字=值", "3fb67cafab5d1c9b352dea20b799274e"),
    ] {
        publish_ok(s.addr, id, DG, "", content);
        let r = request(s.addr, &get_req(id, DG, None));
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header_exact("Content-MD5"),
            Some(md5),
            "Content-MD5 of {content:?}"
        );
    }
}

#[test]
fn g03_config_type_header() {
    let s = Server::start();
    publish_ok(s.addr, "g03-default", DG, "", "x");
    let r = request(s.addr, &get_req("g03-default", DG, None));
    assert_eq!(r.header_exact("Config-Type"), Some("text"), "default type");
    for ty in ["properties", "xml", "json", "text", "html", "yaml", "unset"] {
        let id = format!("g03-{ty}");
        let r = publish_with(
            s.addr,
            &[
                ("dataId", &id),
                ("group", DG),
                ("content", "x"),
                ("type", ty),
            ],
        );
        assert_true(&r, "publish with type");
        let r = request(s.addr, &get_req(&id, DG, None));
        assert_eq!(r.header_exact("Config-Type"), Some(ty), "stored type {ty}");
    }
}

#[test]
fn g04_content_type_follows_config_type() {
    let s = Server::start();
    for (ty, ct) in [
        ("json", "application/json;charset=UTF-8"),
        ("xml", "application/xml;charset=UTF-8"),
        ("html", "text/html;charset=UTF-8"),
        ("text", "text/plain;charset=UTF-8"),
        ("yaml", "text/plain;charset=UTF-8"),
        ("properties", "text/plain;charset=UTF-8"),
        ("unset", "text/plain;charset=UTF-8"),
    ] {
        let id = format!("g04-{ty}");
        let r = publish_with(
            s.addr,
            &[
                ("dataId", &id),
                ("group", DG),
                ("content", "x"),
                ("type", ty),
            ],
        );
        assert_true(&r, "publish with type");
        let r = request(s.addr, &get_req(&id, DG, None));
        assert_eq!(
            r.header_exact("Content-Type"),
            Some(ct),
            "Content-Type for type {ty}"
        );
    }
    publish_ok(s.addr, "g04-none", DG, "", "x");
    let r = request(s.addr, &get_req("g04-none", DG, None));
    assert_eq!(
        r.header_exact("Content-Type"),
        Some("text/plain;charset=UTF-8"),
        "no type"
    );
}

#[test]
fn g05_cache_headers() {
    let s = Server::start();
    publish_ok(s.addr, "g05", DG, "", "x");
    let r = request(s.addr, &get_req("g05", DG, None));
    assert_eq!(r.status, 200);
    assert_eq!(r.header_exact("Pragma"), Some("no-cache"));
    assert_eq!(r.header_exact("Expires"), Some(EXPIRES));
    assert_eq!(r.header_exact("Cache-Control"), Some("no-cache,no-store"));
    let lm = r.header_exact("Last-Modified").expect("Last-Modified");
    let t = httpdate::parse_http_date(lm).unwrap_or_else(|e| panic!("Last-Modified {lm:?}: {e}"));
    let skew = match t.duration_since(SystemTime::now()) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    assert!(
        skew < Duration::from_secs(3600),
        "Last-Modified {lm:?} is not about now"
    );
}

#[test]
fn g06_absent_config_is_404_with_exact_body() {
    let s = Server::start();
    let r = request(s.addr, &get_req("g06-missing", DG, None));
    assert_status_body(&r, 404, "config data not exist\n", "absent config");
    if let Some(cl) = r.header_exact("Content-Length") {
        assert_eq!(cl, "22", "Content-Length of the 404 body");
    }
    let r = request(s.addr, &get_req("g06-missing", DG, Some("dev")));
    assert_status_body(
        &r,
        404,
        "config data not exist\n",
        "absent config in a tenant",
    );
}

#[test]
fn g07_public_and_null_tenants_read_the_public_namespace() {
    let s = Server::start();
    publish_ok(s.addr, "g07", DG, "", "public content");
    for t in [
        None,
        Some(""),
        Some("public"),
        Some("null"),
        Some("PUBLIC"),
        Some("Null"),
    ] {
        assert_content(s.addr, "g07", DG, t, "public content");
    }
    assert_absent(s.addr, "g07", DG, Some("dev"));
}

#[test]
fn g07_public_alias_on_publish_lands_in_the_public_namespace() {
    let s = Server::start();
    publish_ok(s.addr, "g07-alias", DG, "public", "via alias");
    assert_content(s.addr, "g07-alias", DG, None, "via alias");
    publish_ok(s.addr, "g07-alias", DG, "", "via blank");
    assert_content(s.addr, "g07-alias", DG, Some("public"), "via blank");
    publish_ok(s.addr, "g07-alias", DG, "NULL", "via null");
    assert_content(s.addr, "g07-alias", DG, None, "via null");
    let r = common::delete_config(s.addr, "g07-alias", DG, "Public");
    assert_true(&r, "delete through the alias");
    assert_absent(s.addr, "g07-alias", DG, None);
}

#[test]
fn g08_missing_group_is_400_or_default_group() {
    let s = Server::start();
    publish_ok(s.addr, "g08", DG, "", "g08 content");
    let r = get_with(s.addr, &[("dataId", "g08")]);
    assert!(
        r.status == 400 || (r.status == 200 && r.body == b"g08 content"),
        "GET without group: expected 400 (Nacos) or the DEFAULT_GROUP content, got {} {:?}",
        r.status,
        lossy(&r.body)
    );
}

#[test]
fn g11_cjk_data_id_round_trips() {
    let s = Server::start();
    publish_ok(s.addr, "配置.yaml", "组", "", "名字: 值\n");
    assert_content(s.addr, "配置.yaml", "组", None, "名字: 值\n");
    let r = request(s.addr, &get_req("配置.yaml", "组", None));
    assert_eq!(
        r.header_exact("Content-MD5"),
        Some(md5_hex("名字: 值\n").as_str())
    );
}

#[test]
fn g12_content_bytes_are_exact() {
    let s = Server::start();
    let content = "\u{feff}# BOM first\r\nkey=名字\r\nemoji=😀\r\ntab=\t|\n\n";
    publish_ok(s.addr, "g12.properties", DG, "", content);
    let r = request(s.addr, &get_req("g12.properties", DG, None));
    assert_eq!(r.status, 200);
    assert!(
        r.body == content.as_bytes(),
        "byte-exact: {:?}",
        lossy(&r.body)
    );
    let md5 = md5_hex(content);
    assert_eq!(r.header_exact("Content-MD5"), Some(md5.as_str()));
    // The listener compares against the same md5 over the UTF-8 bytes.
    let r = no_hangup(s.addr, &record("g12.properties", DG, &md5, None), "poll");
    assert_ok_empty(&r, "poll with the client-computed md5");
}
