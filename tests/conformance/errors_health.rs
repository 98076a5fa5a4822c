//! E: errors (E02); X: health and server state (X01, X02)

use super::*;

#[test]
fn e02_well_formed_polls_are_never_answered_with_a_fast_4xx() {
    let s = Server::start();
    publish_ok(s.addr, "e02.properties", DG, "dev", "k=v\n");
    publish_ok(s.addr, "e02.yaml", DG, "", "a: 1\n");
    let dev_md5 = md5_hex("k=v\n");
    let pub_md5 = md5_hex("a: 1\n");
    let java_body = format!(
        "Listening-Configs={}&tenant=dev&accessToken=junk&",
        enc(&record("e02.properties", DG, &dev_md5, Some("dev")))
    );
    let java = raw(
        "POST",
        LISTENER,
        &[
            ("Content-Type", FORM_CT),
            ("Long-Pulling-Timeout", "30000"),
            ("Client-AppName", "unknown"),
            ("Client-Version", "1.4.1"),
            ("Client-RequestTS", "1610697600000"),
            ("Client-RequestToken", "0b5e4c0b5e4c0b5e4c0b5e4c0b5e4c0b"),
            ("exConfigInfo", "true"),
            ("RequestId", "6a3c2f0e-1d7a-4b8e-9c51-0c0f3f8a9e21"),
            ("Accept-Charset", "UTF-8"),
            ("Accept-Encoding", "gzip"),
            ("User-Agent", "Java/1.8.0_282"),
        ],
        Some(java_body.as_bytes()),
    );
    let py_body = form(&[(
        "Listening-Configs",
        &record("e02.yaml", DG, &pub_md5, Some("")),
    )]);
    let python = raw(
        "POST",
        LISTENER,
        &[
            ("Accept-Encoding", "identity"),
            ("Content-type", "application/x-www-form-urlencoded"),
            ("Long-pulling-timeout", "30000"),
            ("User-agent", "Nacos-Python-Client:v0.1.16"),
            ("Connection", "close"),
        ],
        Some(py_body.as_bytes()),
    );
    let node_body = form(&[
        ("Listening-Configs", &record("e02.yaml", DG, &pub_md5, None)),
        ("tenant", ""),
        ("username", "nacos"),
        ("password", "nacos"),
    ]);
    let node = raw(
        "POST",
        LISTENER,
        &[
            (
                "Content-Type",
                "application/x-www-form-urlencoded; charset=GBK",
            ),
            ("Long-Pulling-Timeout", "30000"),
            ("Client-Version", "nodejs-diamond-client/2.6.0"),
            ("Spas-AccessKey", ""),
            ("exConfigInfo", "true"),
        ],
        Some(node_body.as_bytes()),
    );
    let go_body = form(&[(
        "Listening-Configs",
        &record("e02.properties", DG, &dev_md5, Some("dev")),
    )]);
    let go = raw(
        "POST",
        LISTENER,
        &[
            (
                "Content-Type",
                "application/x-www-form-urlencoded;charset=utf-8",
            ),
            ("Long-Pulling-Timeout", "30000"),
            ("Request-Module", "Naming"),
            ("Client-Version", "1.1.6"),
        ],
        Some(go_body.as_bytes()),
    );
    // Keys that could never be published may still be listened to.
    let odd = listen(
        &(record("a/b", DG, "", None)
            + &record("my$id", "G G", "", Some("x y"))
            + &record("ok", DG, "", Some("dev"))),
        &[],
    );
    let mut conns: Vec<(&str, Conn)> = [
        ("java", java),
        ("python", python),
        ("node", node),
        ("go", go),
        ("odd", odd),
    ]
    .into_iter()
    .map(|(name, req)| {
        let mut c = Conn::open(s.addr);
        c.send(&req);
        (name, c)
    })
    .collect();
    wait_parked(s.addr, 5, "five well-formed polls");
    std::thread::sleep(SILENT);
    for (name, c) in conns.iter_mut() {
        check_silent(c, &format!("well-formed {name} poll"));
    }
    publish_ok(s.addr, "e02.yaml", DG, "", "a: 2\n");
    publish_ok(s.addr, "e02.properties", DG, "dev", "k=v2\n");
    let dev_key = reply1("e02.properties", DG, Some("dev"));
    let pub_key = reply1("e02.yaml", DG, None);
    for (name, c) in conns.iter_mut().filter(|(n, _)| *n != "odd") {
        let r = answer_within(c, PROMPT, name);
        let expected = match *name {
            "java" | "go" => &dev_key,
            _ => &pub_key,
        };
        assert_reply(&r, expected, &format!("{name} poll woken"));
    }
    // The odd keys changed nothing: that poll stays parked.
    let (_, odd) = conns.last_mut().expect("the odd poll");
    check_silent(odd, "odd-keys poll after other changes");
}

#[test]
fn x01_liveness_readiness_and_config_health() {
    let s = Server::start();
    for (path, body) in [
        ("/nacos/v1/console/health/liveness", "OK"),
        ("/nacos/v1/console/health/readiness", "OK"),
        ("/nacos/v1/cs/health", "UP"),
    ] {
        let r = request(s.addr, &raw("GET", path, &[], None));
        assert_status_body(&r, 200, body, path);
    }
}

#[test]
fn x02_server_state() {
    let s = Server::start();
    let r = request(
        s.addr,
        &raw("GET", "/nacos/v1/console/server/state", &[], None),
    );
    assert_eq!(r.status, 200, "{:?}", lossy(&r.body));
    let v = json(&r, "server state");
    let obj = v.as_object().expect("a JSON object");
    assert!(
        obj.get("version").is_some_and(|x| x.is_string()),
        "version must be a string: {v}"
    );
    assert_eq!(
        obj.get("standalone_mode"),
        Some(&serde_json::json!("standalone")),
        "{v}"
    );
    assert!(
        obj.get("version")
            .and_then(|x| x.as_str())
            .is_some_and(|x| !x.is_empty()),
        "version must not be empty: {v}"
    );
    assert!(obj.contains_key("function_mode"), "function_mode key: {v}");
    assert_eq!(obj["function_mode"], serde_json::Value::Null, "{v}");
}
