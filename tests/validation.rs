//! Parameter validation as a table: each row is one request and the answer
//! `vigil::api::handle` gives it, in process, with an empty cache and default
//! settings. These rows need no state and no socket (the framing, the reactor
//! and the store are covered over real sockets elsewhere), so they cost no
//! server process each. Exact bodies are the Nacos messages of the spec
//! (`caused: ...;`), rows that pass validation must be handed on (a write,
//! a query, a parked poll, or a 404 from the empty cache).
//!
//! [`answer`] is the only call into the API, so a change of its entry point
//! changes this file in one place.

mod common;

use clap::Parser;
use common::{form, raw};
use vigil::api::{self, Action, Ctx};
use vigil::http::{self, Parse};
use vigil::index::Index;
use vigil::metrics::Metrics;
use vigil::settings::Settings;

const CFG: &str = "/nacos/v1/cs/configs";
const LISTENER: &str = "/nacos/v1/cs/configs/listener";
const DG: &str = "DEFAULT_GROUP";
const FORM_CT: &str = "application/x-www-form-urlencoded;charset=UTF-8";
const PROBE: &str = "caused: invalid probeModify;";

/// What the API decided for one request.
#[derive(Debug, PartialEq)]
enum Answer {
    /// An immediate response with this status and body.
    Says(u16, String),
    /// Valid: handed to the writer.
    Write,
    /// Valid: handed to the reader thread.
    Query,
    /// Valid: a long poll to park.
    Park,
}

/// Parses `request` and hands it to the API with an empty cache, default
/// settings and auth off.
fn answer(request: &[u8]) -> Answer {
    let settings = Settings::try_parse_from(["vigil"]).expect("default settings");
    let index = Index::new();
    let metrics = Metrics::new(1);
    let ctx = Ctx {
        index: &index,
        settings: &settings,
        metrics: &metrics,
        peer: [127, 0, 0, 1].into(),
        auth: None,
    };
    let Ok(Parse::Complete(req, _)) = http::parse(request, &settings.http_limits()) else {
        panic!("not a complete request: {:?}", common::lossy(request));
    };
    match api::handle(&req, &ctx) {
        Action::Respond { status, body, .. } => Answer::Says(status, common::lossy(&body)),
        Action::Write(..) => Answer::Write,
        Action::Query(..) => Answer::Query,
        Action::Park { .. } => Answer::Park,
        other => panic!("unexpected action {other:?}"),
    }
}

fn get(pairs: &[(&str, &str)]) -> Vec<u8> {
    raw("GET", &format!("{CFG}?{}", form(pairs)), &[], None)
}

fn post(target: &str, pairs: &[(&str, &str)], headers: &[(&str, &str)]) -> Vec<u8> {
    let mut h = vec![("Content-Type", FORM_CT)];
    h.extend_from_slice(headers);
    raw("POST", target, &h, Some(form(pairs).as_bytes()))
}

fn publish(pairs: &[(&str, &str)]) -> Vec<u8> {
    post(CFG, pairs, &[])
}

fn says(status: u16, body: &str) -> Answer {
    Answer::Says(status, body.to_string())
}

/// Runs every row; reports all mismatches at once.
fn check(rows: Vec<(&str, Vec<u8>, Answer)>) {
    let wrong: Vec<String> = rows
        .into_iter()
        .filter_map(|(what, request, expected)| {
            let got = answer(&request);
            (got != expected).then(|| format!("{what}: expected {expected:?}, got {got:?}"))
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// G09, G10 (spec §2.2): identifiers of a GET.
#[test]
fn get_identifiers() {
    let long = "t".repeat(129);
    let max = "t".repeat(128);
    check(vec![
        (
            "GET dataId=a/b",
            get(&[("dataId", "a/b"), ("group", DG)]),
            says(400, "caused: invalid dataId : a/b;"),
        ),
        (
            "GET group=G/1",
            get(&[("dataId", "g09"), ("group", "G/1")]),
            says(400, "caused: invalid group : G/1;"),
        ),
        (
            "tenant with `$`",
            get(&[("dataId", "g10"), ("group", DG), ("tenant", "dev$1")]),
            says(400, "caused: invalid tenant;"),
        ),
        (
            "129-char tenant",
            get(&[("dataId", "g10"), ("group", DG), ("tenant", &long)]),
            says(400, "caused: too long tag, over 128;"),
        ),
        (
            "128-char tenant is valid",
            get(&[("dataId", "g10"), ("group", DG), ("tenant", &max)]),
            says(404, "config data not exist\n"),
        ),
        (
            "GET checks the tenant before dataId and group",
            get(&[("dataId", "a/b"), ("group", DG), ("tenant", "dev$1")]),
            says(400, "caused: invalid tenant;"),
        ),
    ]);
}

/// P04 (spec §2.2): identifiers of a publish, checked before the content.
#[test]
fn publish_identifiers() {
    let mut rows: Vec<(&str, Vec<u8>, Answer)> = ["a b", "a/b", "a+b", "a%b", "a@b"]
        .into_iter()
        .map(|id| {
            (
                "invalid dataId",
                publish(&[("dataId", id), ("group", DG), ("content", "x")]),
                says(400, &format!("caused: invalid dataId : {id};")),
            )
        })
        .collect();
    rows.extend([
        (
            "invalid group",
            publish(&[("dataId", "p04"), ("group", "G 1"), ("content", "x")]),
            says(400, "caused: invalid group : G 1;"),
        ),
        (
            "dataId checked before content",
            publish(&[("dataId", "a/b"), ("group", DG), ("content", " ")]),
            says(400, "caused: invalid dataId : a/b;"),
        ),
        (
            "allowed punctuation",
            publish(&[("dataId", "p04_a-b.c:d"), ("group", DG), ("content", "ok")]),
            Answer::Write,
        ),
        (
            "non-ASCII letters",
            publish(&[
                ("dataId", "Ünïcödé-данные"),
                ("group", DG),
                ("content", "ok"),
            ]),
            Answer::Write,
        ),
    ]);
    check(rows);
}

/// P07: metadata limits of a publish.
#[test]
fn publish_metadata_limits() {
    let with = |k: &'static str, v: &str| {
        publish(&[("dataId", "p07"), ("group", DG), ("content", "x"), (k, v)])
    };
    check(vec![
        (
            "6 config_tags",
            with("config_tags", "t1,t2,t3,t4,t5,t6"),
            says(400, "caused: too much config_tags, over 5;"),
        ),
        (
            "65-char config tag",
            with("config_tags", &format!("ok,{}", "x".repeat(65))),
            says(400, "caused: too long tag, over 64;"),
        ),
        (
            "129-char desc",
            with("desc", &"d".repeat(129)),
            says(400, "caused: too long desc, over 128;"),
        ),
        (
            "5 config_tags",
            with("config_tags", "t1,t2,t3,t4,t5"),
            Answer::Write,
        ),
        (
            "128-char desc",
            with("desc", &"d".repeat(128)),
            Answer::Write,
        ),
    ]);
}

/// L18, L19, L21: malformed long polls.
#[test]
fn listener_requests() {
    let poll = |value: Option<&str>, timeout: &str| {
        let pairs: Vec<(&str, &str)> = match value {
            Some(v) => vec![("Listening-Configs", v)],
            None => vec![("tenant", "dev")],
        };
        post(LISTENER, &pairs, &[("Long-Pulling-Timeout", timeout)])
    };
    let valid = common::record("l21", DG, "", None);
    check(vec![
        (
            "no Listening-Configs",
            poll(None, "30000"),
            says(400, PROBE),
        ),
        (
            "empty Listening-Configs",
            poll(Some(""), "30000"),
            says(400, PROBE),
        ),
        (
            "record without WS",
            poll(Some("l19-no-separator\u{1}"), "30000"),
            says(400, PROBE),
        ),
        (
            "record with one WS",
            poll(Some("l19\u{2}only-group\u{1}"), "30000"),
            says(400, PROBE),
        ),
        (
            "record with four WS",
            poll(Some("a\u{2}b\u{2}c\u{2}d\u{2}e\u{1}"), "30000"),
            says(400, PROBE),
        ),
        (
            "Long-Pulling-Timeout: abc",
            poll(Some(&valid), "abc"),
            says(400, "caused: For input string: \"abc\";"),
        ),
        (
            "a valid poll parks",
            poll(Some(&valid), "30000"),
            Answer::Park,
        ),
    ]);
}

/// Paging of the config search: both parameters required and positive.
#[test]
fn search_paging() {
    let search = |extra: &[(&str, &str)]| {
        let mut p = vec![("search", "accurate"), ("dataId", ""), ("group", "")];
        p.extend_from_slice(extra);
        get(&p)
    };
    let rows = [
        ("pageNo missing", vec![("pageSize", "10")]),
        ("pageSize missing", vec![("pageNo", "1")]),
        ("pageNo 0", vec![("pageNo", "0"), ("pageSize", "10")]),
        ("pageSize 0", vec![("pageNo", "1"), ("pageSize", "0")]),
        ("pageNo -1", vec![("pageNo", "-1"), ("pageSize", "10")]),
        (
            "pageNo not a number",
            vec![("pageNo", "x"), ("pageSize", "10")],
        ),
    ];
    let wrong: Vec<String> = rows
        .iter()
        .filter_map(|(what, extra)| match answer(&search(extra)) {
            Answer::Says(400, _) => None,
            other => Some(format!("{what}: expected 400, got {other:?}")),
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(
        answer(&search(&[("pageNo", "1"), ("pageSize", "10")])),
        Answer::Query,
        "valid paging"
    );
}
