//! D: delete

use super::*;

#[test]
fn d01_delete_existing_key() {
    let s = Server::start();
    publish_ok(s.addr, "d01", DG, "", "x");
    let r = common::delete_config(s.addr, "d01", DG, "");
    assert_true(&r, "delete existing");
    assert_absent(s.addr, "d01", DG, None);
}

#[test]
fn d02_delete_absent_key_is_true() {
    let s = Server::start();
    let r = common::delete_config(s.addr, "d02-never", DG, "");
    assert_true(&r, "delete absent");
    let r = common::delete_config(s.addr, "d02-never", DG, "dev");
    assert_true(&r, "delete absent in a tenant");
}

#[test]
fn d03_delete_params_come_from_the_query() {
    let s = Server::start();
    publish_ok(s.addr, "d03", DG, "", "public");
    publish_ok(s.addr, "d03", DG, "dev", "dev");
    let q = form(&[("dataId", "d03"), ("group", DG), ("tenant", "dev")]);
    let r = request(s.addr, &raw("DELETE", &format!("{CFG}?{q}"), &[], None));
    assert_true(&r, "DELETE with query params");
    assert_absent(s.addr, "d03", DG, Some("dev"));
    assert_content(s.addr, "d03", DG, None, "public");
}

#[test]
fn d03_delete_body_is_not_parsed() {
    let s = Server::start();
    publish_ok(s.addr, "d03-body", DG, "", "stays");
    let body = form(&[("dataId", "d03-body"), ("group", DG)]);
    let mut c = Conn::open(s.addr);
    let r = c.roundtrip(&raw(
        "DELETE",
        CFG,
        &[("Content-Type", FORM_CT)],
        Some(body.as_bytes()),
    ));
    assert_ne!(
        r.status, 200,
        "DELETE with params only in the body must not succeed"
    );
    assert!(r.status < 500, "not a server error: {}", r.status);
    assert_content(s.addr, "d03-body", DG, None, "stays");
}
