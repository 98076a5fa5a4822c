//! The gRPC handlers over a real index (no sockets): the contract rows that
//! need no reactor.

use super::messages::code;
use super::*;
use crate::model::{Config, Entry};
use serde_json::Value;
use std::sync::Arc;

fn settings() -> Settings {
    use clap::Parser;
    Settings::parse_from(["vigil"])
}

fn index_with(data_id: &str, content: &str) -> Index {
    let mut index = Index::new();
    let config = Config::new(
        1,
        data_id.into(),
        "G".into(),
        String::new(),
        content.into(),
        "text",
        None,
        1_700_000_000_000,
    );
    let entry = Entry {
        formal: Some(Arc::new(config)),
        ..Entry::default()
    };
    index.load(
        &crate::protocol::group_key(data_id, "G", ""),
        Arc::new(entry),
    );
    index
}

fn call(index: &Index, registered: bool, class: &str, json: &str) -> Outcome {
    let s = settings();
    let ctx = Ctx {
        index,
        settings: &s,
        auth: None,
        client_ip: "10.0.0.1",
        connection_id: "1_127.0.0.1_5000",
        registered,
    };
    handle(&Payload::new(class, json.as_bytes().to_vec()), false, &ctx)
}

fn answer(o: Outcome) -> (String, Value) {
    let Outcome::Reply(bytes) = o else {
        panic!("not a reply: {o:?}")
    };
    let p = Payload::decode(&bytes).expect("payload");
    let v = serde_json::from_slice(p.json()).expect("json");
    (p.type_name().to_owned(), v)
}

#[test]
fn server_check_before_set_up_names_the_connection() {
    let (t, v) = answer(call(
        &Index::new(),
        false,
        "ServerCheckRequest",
        r#"{"headers":{},"module":"internal"}"#,
    ));
    assert_eq!(t, "ServerCheckResponse");
    assert_eq!(v["connectionId"], "1_127.0.0.1_5000");
    assert_eq!(v["supportAbilityNegotiation"], false);
    assert_eq!(v["resultCode"], 200);
}

#[test]
fn refusals_table() {
    // (registered, class, body, type, errorCode)
    let cases: &[(bool, &str, &str, &str, i64)] = &[
        (
            false,
            "ConfigQueryRequest",
            r#"{"dataId":"a","group":"G"}"#,
            "ErrorResponse",
            code::UN_REGISTER,
        ),
        (
            false,
            "HealthCheckRequest",
            "{}",
            "ErrorResponse",
            code::UN_REGISTER,
        ),
        (
            true,
            "InstanceRequest",
            "{}",
            "ErrorResponse",
            code::NO_HANDLER,
        ),
        (
            false,
            "InstanceRequest",
            "{}",
            "ErrorResponse",
            code::NO_HANDLER,
        ),
        (
            true,
            "ConfigQueryRequest",
            "{not json",
            "ErrorResponse",
            code::BAD_GATEWAY,
        ),
        (
            true,
            "ConfigQueryRequest",
            r#"{"dataId":"a"}"#,
            "ConfigQueryResponse",
            code::INVALID_PARAM,
        ),
        (
            true,
            "ConfigQueryRequest",
            r#"{"dataId":"a b","group":"G"}"#,
            "ConfigQueryResponse",
            code::INVALID_PARAM,
        ),
        (
            true,
            "ConfigQueryRequest",
            r#"{"dataId":"absent","group":"G"}"#,
            "ConfigQueryResponse",
            code::NOT_FOUND,
        ),
        (
            true,
            "ConfigPublishRequest",
            r#"{"dataId":"a","group":"G"}"#,
            "ConfigPublishResponse",
            code::INVALID_PARAM,
        ),
        (
            true,
            "ConfigRemoveRequest",
            r#"{"group":"G"}"#,
            "ConfigRemoveResponse",
            code::INVALID_PARAM,
        ),
        (
            true,
            "ConnectionSetupRequest",
            "{}",
            "ErrorResponse",
            code::BAD_GATEWAY,
        ),
    ];
    let index = index_with("a", "x");
    for &(registered, class, body, want_type, want_code) in cases {
        let (t, v) = answer(call(&index, registered, class, body));
        assert_eq!(
            (t.as_str(), v["errorCode"].as_i64()),
            (want_type, Some(want_code)),
            "{class} {body}: {v}"
        );
        assert_eq!(v["resultCode"], 500, "{class} {body}");
        assert_eq!(v["success"], false);
    }
}

#[test]
fn query_hit_carries_content_md5_type_and_time() {
    let index = index_with("a", "hello");
    let (t, v) = answer(call(
        &index,
        true,
        "ConfigQueryRequest",
        r#"{"dataId":"a","group":"G","requestId":"9"}"#,
    ));
    assert_eq!(t, "ConfigQueryResponse");
    assert_eq!(v["content"], "hello");
    assert_eq!(v["md5"], "5d41402abc4b2a76b9719d911017c592");
    assert_eq!(v["contentType"], "text");
    assert_eq!(v["lastModified"], 1_700_000_000_000i64);
    assert_eq!(v["beta"], false);
    assert_eq!(v["requestId"], "9");
    assert_eq!(v["resultCode"], 200);
}

#[test]
fn batch_listen_answers_exactly_the_changed_keys() {
    let index = index_with("a", "hello");
    let body = r#"{"listen":true,"configListenContexts":[
        {"dataId":"a","group":"G","md5":"5d41402abc4b2a76b9719d911017c592","tenant":""},
        {"dataId":"a","group":"G","md5":"00000000000000000000000000000000","tenant":"public"},
        {"dataId":"b","group":"G","md5":""},
        {"dataId":"c","group":"G"}]}"#;
    let o = call(&index, true, "ConfigBatchListenRequest", body);
    let Outcome::Listen {
        listen,
        keys,
        reply,
    } = o
    else {
        panic!("{o:?}")
    };
    assert!(listen);
    assert_eq!(keys.len(), 4);
    assert_eq!(keys[1].echo_tenant.as_deref(), Some("public"));
    let p = Payload::decode(&reply).expect("payload");
    assert_eq!(p.type_name(), "ConfigChangeBatchListenResponse");
    let v: Value = serde_json::from_slice(p.json()).expect("json");
    assert_eq!(
        v["changedConfigs"],
        serde_json::json!([{"group":"G","dataId":"a","tenant":"public"}])
    );
}

#[test]
fn publish_and_remove_become_the_http_writes() {
    let index = Index::new();
    let o = call(
        &index,
        true,
        "ConfigPublishRequest",
        r#"{"dataId":"a","group":"G","content":"c","casMd5":"","additionMap":{"type":"yaml","tag":null,"appName":"app"}}"#,
    );
    let Outcome::Write { op, pending } = o else {
        panic!("{o:?}")
    };
    let WriteOp::Publish(p) = *op else {
        panic!("{op:?}")
    };
    assert_eq!(
        (p.config_type, p.app_name.as_deref(), p.cas_md5.as_deref()),
        ("yaml", Some("app"), None)
    );
    let (_, v) = answer(Outcome::Reply(
        pending.render(Ok(crate::msg::Written::CasMismatch)),
    ));
    assert_eq!(
        (v["resultCode"].clone(), v["errorCode"].clone()),
        (500.into(), 500.into())
    );
    let o = call(
        &index,
        true,
        "ConfigPublishRequest",
        r#"{"dataId":"a","group":"G","content":"c","additionMap":{"betaIps":"1.1.1.1"}}"#,
    );
    assert!(
        matches!(o, Outcome::Write { ref op, .. } if matches!(**op, WriteOp::PublishBeta(_, _)))
    );
    let o = call(
        &index,
        true,
        "ConfigRemoveRequest",
        r#"{"dataId":"a","group":"G","tag":"t1"}"#,
    );
    assert!(
        matches!(o, Outcome::Write { ref op, .. } if matches!(**op, WriteOp::DeleteTag { .. }))
    );
}

#[test]
fn pushes_render_as_nacos_sends_them() {
    let p = Payload::decode(&change_notify("7", "a+G+ns", None)).expect("payload");
    assert_eq!(p.type_name(), "ConfigChangeNotifyRequest");
    let v: Value = serde_json::from_slice(p.json()).expect("json");
    assert_eq!(
        v,
        serde_json::json!({"headers":{},"requestId":"7","module":"config","dataId":"a","group":"G","tenant":"ns"})
    );
    let p = Payload::decode(&change_notify("8", "a+G", Some("public"))).expect("payload");
    let v: Value = serde_json::from_slice(p.json()).expect("json");
    assert_eq!(v["tenant"], "public");
    let p = Payload::decode(&change_notify("8", "a+G", None)).expect("payload");
    let v: Value = serde_json::from_slice(p.json()).expect("json");
    assert!(v.get("tenant").is_none());
}
