//! Connections released during a drain of the reactor's inbox (a woken
//! poll, an answered publish) are posted and served after it: what they
//! pipelined behind is answered, in order, and sees the change that
//! released them.

mod common;

use common::*;

const G: &str = "POSTED";

#[test]
fn a_woken_poll_then_serves_what_it_pipelined_and_that_sees_the_change() {
    let s = Server::start();
    publish_ok(s.addr, "woken", G, "", "v1");
    let mut c = Conn::open(s.addr);
    let mut pipeline = listener_raw(
        &record("woken", G, &md5_hex("v1"), None),
        Some("30000"),
        &[],
    );
    pipeline.extend_from_slice(&get_req("woken", G, None));
    c.send(&pipeline);
    settle(s.addr, &mut c, 1, "the poll with a GET behind it");
    publish_ok(s.addr, "woken", G, "", "v2");
    let woke = answer_within(&mut c, PROMPT, "the woken poll");
    assert_eq!(woke.status, 200, "{}", woke.status_line);
    assert_eq!(
        woke.text(),
        reply1("woken", G, None),
        "the poll names the key"
    );
    let got = answer_within(&mut c, PROMPT, "the GET pipelined behind the poll");
    assert_eq!((got.status, got.text()), (200, "v2".to_owned()));
    assert_eq!(parked_polls(s.addr), 0);
}

#[test]
fn an_answered_publish_then_serves_what_it_pipelined_and_that_sees_the_change() {
    let s = Server::start();
    let mut c = Conn::open(s.addr);
    let body = form(&[("dataId", "answered"), ("group", G), ("content", "v1")]);
    let mut pipeline = post_raw("/nacos/v1/cs/configs", &[], body.as_bytes());
    pipeline.extend_from_slice(&get_req("answered", G, None));
    c.send(&pipeline);
    let published = answer_within(&mut c, PROMPT, "the publish");
    assert_eq!(
        (published.status, published.text()),
        (200, "true".to_owned())
    );
    let got = answer_within(&mut c, PROMPT, "the GET pipelined behind the publish");
    assert_eq!((got.status, got.text()), (200, "v1".to_owned()));
}
