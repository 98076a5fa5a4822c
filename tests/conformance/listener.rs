//! L: listener

use super::*;

#[test]
fn l01_three_field_record_md5_differs() {
    let s = Server::start();
    publish_ok(s.addr, "l01.properties", DG, "", "new");
    let r = immediate(
        s.addr,
        &listen(&record("l01.properties", DG, &md5_hex("old"), None), &[]),
        "poll",
    );
    assert_reply(
        &r,
        &reply1("l01.properties", DG, None),
        "3-field stale record",
    );
    let r = immediate(
        s.addr,
        &listen(&record("l01.properties", DG, "", None), &[]),
        "poll",
    );
    assert_reply(&r, &reply1("l01.properties", DG, None), "3-field empty md5");
}

#[test]
fn l02_four_field_record_with_tenant() {
    let s = Server::start();
    publish_ok(s.addr, "l02", DG, "dev", "v");
    let r = immediate(
        s.addr,
        &listen(&record("l02", DG, STALE, Some("dev")), &[]),
        "poll",
    );
    assert_reply(
        &r,
        "l02%02DEFAULT_GROUP%02dev%01\n",
        "4-field record in tenant dev",
    );
}

#[test]
fn l03_four_field_record_with_empty_tenant_is_public() {
    let s = Server::start();
    publish_ok(s.addr, "l03", DG, "", "v1");
    let r = immediate(
        s.addr,
        &listen(&record("l03", DG, STALE, Some("")), &[]),
        "poll",
    );
    assert_reply(
        &r,
        "l03%02DEFAULT_GROUP%01\n",
        "stale 4-field record, empty tenant",
    );
    let r = no_hangup(s.addr, &record("l03", DG, &md5_hex("v1"), Some("")), "poll");
    assert_ok_empty(&r, "current 4-field record, empty tenant");
    let mut c = park(s.addr, &record("l03", DG, &md5_hex("v1"), Some("")));
    settle(s.addr, &mut c, 1, "parked Python-style poll");
    publish_ok(s.addr, "l03", DG, "", "v2");
    let r = answer_within(&mut c, PROMPT, "wake-up");
    assert_reply(&r, "l03%02DEFAULT_GROUP%01\n", "wake-up without tenant");
}

#[test]
fn l04_equal_md5_is_held_then_empty() {
    let s = Server::start();
    publish_ok(s.addr, "l04", DG, "", "v");
    let t = Instant::now();
    let mut c = common::start_poll(s.addr, &record("l04", DG, &md5_hex("v"), None), "10000");
    expect_silent(s.addr, &mut c, 1, "held poll");
    let r = c.read_response();
    let el = t.elapsed();
    assert_ok_empty(&r, "expired poll");
    assert_eq!(
        r.header_exact("Content-Length"),
        Some("0"),
        "expired poll framing"
    );
    // 10 000 - 500 is under the floor: held 10 s, not 9.5 s.
    assert_held(el, 10_000, "Long-Pulling-Timeout: 10000");
}

#[test]
fn l05_hold_for_30000_is_about_29_5_s() {
    let s = Server::start();
    publish_ok(s.addr, "l05", DG, "", "v");
    let t = Instant::now();
    let mut c = park(s.addr, &record("l05", DG, &md5_hex("v"), None));
    let r = c.read_response();
    let el = t.elapsed();
    assert_ok_empty(&r, "expired poll");
    assert_eq!(r.header_exact("Content-Length"), Some("0"));
    assert_held(el, 29_500, "Long-Pulling-Timeout: 30000");
}

#[test]
fn l06_hold_for_5000_is_the_10_s_floor() {
    let s = Server::start();
    let t = Instant::now();
    let mut c = common::start_poll(s.addr, &record("l06-absent", DG, "", None), "5000");
    let r = c.read_response();
    let el = t.elapsed();
    assert_ok_empty(&r, "expired poll");
    assert_held(el, 10_000, "Long-Pulling-Timeout: 5000");
}

#[test]
fn l07_no_hangup_answers_at_once() {
    let s = Server::start();
    publish_ok(s.addr, "l07", DG, "", "v");
    let r = no_hangup(
        s.addr,
        &record("l07", DG, &md5_hex("v"), None),
        "no-hang-up",
    );
    assert_ok_empty(&r, "no-hang-up with nothing changed");
    assert_eq!(r.header_exact("Content-Length"), Some("0"));
    let r = immediate(
        s.addr,
        &listen(
            &record("l07-absent", DG, "", None),
            &[("Long-Pulling-Timeout-No-Hangup", "TRUE")],
        ),
        "no-hang-up TRUE",
    );
    assert_ok_empty(&r, "no-hang-up value is case-insensitive");
    let r = no_hangup(
        s.addr,
        &record("l07", DG, STALE, None),
        "no-hang-up with a change",
    );
    assert_reply(&r, &reply1("l07", DG, None), "no-hang-up with a change");
    let mut c = Conn::open(s.addr);
    c.send(&listen(
        &record("l07", DG, &md5_hex("v"), None),
        &[("Long-Pulling-Timeout-No-Hangup", "false")],
    ));
    expect_silent(s.addr, &mut c, 1, "No-Hangup: false is held");
}

#[test]
fn l08_publish_wakes_parked_poll() {
    let s = Server::start();
    publish_ok(s.addr, "l08.yaml", DG, "", "a: 1\n");
    let mut c = park(s.addr, &record("l08.yaml", DG, &md5_hex("a: 1\n"), None));
    settle(s.addr, &mut c, 1, "parked poll");
    publish_ok(s.addr, "l08.yaml", DG, "", "a: 2\n");
    let r = answer_within(&mut c, PROMPT, "wake-up");
    assert_reply(&r, &reply1("l08.yaml", DG, None), "wake-up body");
    // The invariant of §6.1: the woken client reads the new content.
    assert_content(s.addr, "l08.yaml", DG, None, "a: 2\n");
}

#[test]
fn l09_other_key_or_tenant_does_not_wake() {
    // One reactor, so the fence poll orders the "not woken" checks.
    let s = Server::start_args(&["--threads", "1"]);
    publish_ok(s.addr, "l09", DG, "", "v");
    publish_ok(s.addr, "l09", DG, "dev", "v");
    let mut public = park(s.addr, &record("l09", DG, &md5_hex("v"), None));
    let mut dev = park(s.addr, &record("l09", DG, &md5_hex("v"), Some("dev")));
    let mut fence = common::park_fence(s.addr);
    wait_parked(s.addr, 3, "public, dev and fence polls");
    check_silent(&mut public, "public poll");
    check_silent(&mut dev, "dev poll");
    publish_ok(s.addr, "l09-other", DG, "", "x");
    publish_ok(s.addr, "l09", "OTHER_GROUP", "", "x");
    // Tenants and groups are case-sensitive (only the public aliases are not).
    publish_ok(s.addr, "l09", DG, "DEV", "x");
    publish_ok(s.addr, "l09", "default_group", "", "x");
    publish_ok(s.addr, "L09", DG, "", "x");
    publish_ok(s.addr, "l09", DG, "other-tenant", "x");
    common::pass_fence(s.addr, &mut fence, "after changes elsewhere");
    check_silent(&mut public, "public poll after changes elsewhere");
    check_silent(&mut dev, "dev poll after changes elsewhere");
    assert_eq!(
        common::parked_polls(s.addr),
        2,
        "public and dev still parked"
    );
    publish_ok(s.addr, "l09", DG, "dev", "changed in dev");
    let r = answer_within(&mut dev, PROMPT, "dev poll");
    assert_reply(&r, "l09%02DEFAULT_GROUP%02dev%01\n", "dev poll wake-up");
    settle(s.addr, &mut public, 1, "public poll after the dev change");
    publish_ok(s.addr, "l09", DG, "", "changed in public");
    let r = answer_within(&mut public, PROMPT, "public poll");
    assert_reply(&r, &reply1("l09", DG, None), "public poll wake-up");
}

#[test]
fn l10_identical_republish_does_not_wake() {
    // One reactor, so the fence poll orders the "not woken" check.
    let s = Server::start_args(&["--threads", "1"]);
    publish_ok(s.addr, "l10", DG, "", "same");
    let mut c = park(s.addr, &record("l10", DG, &md5_hex("same"), None));
    let mut fence = common::park_fence(s.addr);
    settle(s.addr, &mut c, 2, "parked poll and fence");
    publish_ok(s.addr, "l10", DG, "", "same");
    publish_ok(s.addr, "l10", DG, "", "same");
    // Metadata-only changes leave the md5 alone (§6.6).
    let r = publish_with(
        s.addr,
        &[
            ("dataId", "l10"),
            ("group", DG),
            ("content", "same"),
            ("type", "yaml"),
            ("desc", "new description"),
            ("appName", "l10-app"),
        ],
    );
    assert_true(&r, "metadata-only re-publish");
    common::pass_fence(s.addr, &mut fence, "after identical re-publishes");
    check_silent(&mut c, "after identical re-publishes");
    assert_eq!(common::parked_polls(s.addr), 1, "the poll still parked");
    publish_ok(s.addr, "l10", DG, "", "different");
    let r = answer_within(&mut c, PROMPT, "real change");
    assert_reply(&r, &reply1("l10", DG, None), "real change wakes");
}

#[test]
fn l11_delete_wakes_parked_poll() {
    let s = Server::start();
    publish_ok(s.addr, "l11", DG, "dev", "v");
    let mut c = park(s.addr, &record("l11", DG, &md5_hex("v"), Some("dev")));
    settle(s.addr, &mut c, 1, "parked poll");
    let r = common::delete_config(s.addr, "l11", DG, "dev");
    assert_true(&r, "delete");
    let r = answer_within(&mut c, PROMPT, "wake-up on delete");
    assert_reply(&r, "l11%02DEFAULT_GROUP%02dev%01\n", "wake-up on delete");
    assert_absent(s.addr, "l11", DG, Some("dev"));
    // Listening again with the empty md5 is now up to date.
    let r = no_hangup(
        s.addr,
        &record("l11", DG, "", Some("dev")),
        "poll after delete",
    );
    assert_ok_empty(&r, "empty md5 after delete");
}

#[test]
fn l12_absent_key_with_empty_md5_is_held() {
    let s = Server::start();
    let mut c = park(s.addr, &record("l12.yaml", DG, "", None));
    settle(s.addr, &mut c, 1, "poll on an absent key");
    let r = common::delete_config(s.addr, "l12.yaml", DG, "");
    assert_true(&r, "delete of the absent key");
    expect_silent(s.addr, &mut c, 1, "poll on an absent key after deleting it");
    publish_ok(s.addr, "l12.yaml", DG, "", "first");
    let r = answer_within(&mut c, PROMPT, "first publish");
    assert_reply(&r, &reply1("l12.yaml", DG, None), "first publish wakes");
}

#[test]
fn l13_absent_key_with_stale_md5_is_immediate() {
    let s = Server::start();
    let r = immediate(
        s.addr,
        &listen(&record("l13", DG, STALE, None), &[]),
        "poll",
    );
    assert_reply(&r, &reply1("l13", DG, None), "never-published key");
    publish_ok(s.addr, "l13-deleted", DG, "dev", "v");
    assert_true(
        &common::delete_config(s.addr, "l13-deleted", DG, "dev"),
        "delete",
    );
    let r = immediate(
        s.addr,
        &listen(&record("l13-deleted", DG, &md5_hex("v"), Some("dev")), &[]),
        "poll",
    );
    assert_reply(&r, "l13-deleted%02DEFAULT_GROUP%02dev%01\n", "deleted key");
}

#[test]
fn l14_only_the_changed_key_is_returned() {
    let s = Server::start();
    publish_ok(s.addr, "l14-a", DG, "", "a");
    publish_ok(s.addr, "l14-b", DG, "", "b");
    let recs = record("l14-a", DG, &md5_hex("a"), None) + &record("l14-b", DG, &md5_hex("b"), None);
    let mut c = park(s.addr, &recs);
    settle(s.addr, &mut c, 1, "two keys parked");
    publish_ok(s.addr, "l14-b", DG, "", "b2");
    let r = answer_within(&mut c, PROMPT, "wake-up");
    assert_reply(&r, &reply1("l14-b", DG, None), "exactly the changed key");
}

#[test]
fn l15_all_parked_clients_are_woken() {
    let s = Server::start();
    publish_ok(s.addr, "l15", DG, "", "v");
    let rec = record("l15", DG, &md5_hex("v"), None);
    let mut polls: Vec<Conn> = (0..64).map(|_| park(s.addr, &rec)).collect();
    wait_parked(s.addr, 64, "64 polls on one key");
    for (i, c) in polls.iter_mut().enumerate() {
        check_silent(c, &format!("poll {i}"));
    }
    let t = Instant::now();
    publish_ok(s.addr, "l15", DG, "", "v2");
    for (i, c) in polls.iter_mut().enumerate() {
        let r = answer_within(c, PROMPT, &format!("poll {i}"));
        assert_reply(&r, &reply1("l15", DG, None), &format!("poll {i}"));
    }
    assert!(
        t.elapsed() <= PROMPT,
        "all woken within {PROMPT:?} (safety net; took {:?})",
        t.elapsed()
    );
}

#[test]
fn l16_reply_encoding() {
    let s = Server::start();
    publish_ok(s.addr, "配置:app-1_x.yaml", "G:1", "ns:1", "v");
    let r = immediate(
        s.addr,
        &listen(
            &record("配置:app-1_x.yaml", "G:1", STALE, Some("ns:1")),
            &[],
        ),
        "poll",
    );
    assert_reply(
        &r,
        "%E9%85%8D%E7%BD%AE%3Aapp-1_x.yaml%02G%3A1%02ns%3A1%01\n",
        "URLEncoder encoding with uppercase hex",
    );
    // `*` is kept by Java's URLEncoder (listened keys are not validated).
    let r = immediate(
        s.addr,
        &listen(&record("l16*star", DG, STALE, None), &[]),
        "poll",
    );
    assert_reply(&r, "l16*star%02DEFAULT_GROUP%01\n", "`*` kept verbatim");
}

#[test]
fn l17_tenant_public_is_echoed() {
    let s = Server::start();
    publish_ok(s.addr, "l17", DG, "", "v1");
    let r = immediate(
        s.addr,
        &listen(&record("l17", DG, STALE, Some("public")), &[]),
        "poll",
    );
    assert_reply(
        &r,
        "l17%02DEFAULT_GROUP%02public%01\n",
        "tenant `public` echoed",
    );
    let r = immediate(
        s.addr,
        &listen(&record("l17", DG, STALE, Some("null")), &[]),
        "poll",
    );
    assert_reply(
        &r,
        "l17%02DEFAULT_GROUP%02null%01\n",
        "tenant `null` echoed",
    );
    // Canonicalised for comparison: the public content's md5 is current.
    let r = no_hangup(
        s.addr,
        &record("l17", DG, &md5_hex("v1"), Some("public")),
        "poll",
    );
    assert_ok_empty(&r, "tenant `public` compares against the public namespace");
    let mut c = park(s.addr, &record("l17", DG, &md5_hex("v1"), Some("Public")));
    settle(s.addr, &mut c, 1, "parked `Public` poll");
    publish_ok(s.addr, "l17", DG, "", "v2");
    let r = answer_within(&mut c, PROMPT, "wake-up");
    assert_reply(
        &r,
        "l17%02DEFAULT_GROUP%02Public%01\n",
        "echoed exactly as sent",
    );
    // And a publish through an alias wakes a 3-field (public) poll.
    let mut c = park(s.addr, &record("l17", DG, &md5_hex("v2"), None));
    settle(s.addr, &mut c, 1, "parked 3-field poll");
    publish_ok(s.addr, "l17", DG, "NULL", "v3");
    let r = answer_within(&mut c, PROMPT, "wake-up through alias");
    assert_reply(
        &r,
        &reply1("l17", DG, None),
        "3-field wake-up has no tenant",
    );
}

#[test]
fn l20_more_than_10000_keys_is_400() {
    let s = Server::start();
    let recs = |n: usize| {
        (0..n)
            .map(|i| record(&format!("l20-{i:05}"), DG, "", None))
            .collect::<String>()
    };
    let r = immediate(s.addr, &listen(&recs(10_001), &[]), "10 001 keys");
    assert_status_body(
        &r,
        400,
        "caused: invalid probeModify;",
        "10 001 distinct keys",
    );
    let r = no_hangup(s.addr, &recs(10_000), "10 000 keys");
    assert_ok_empty(&r, "10 000 distinct keys are accepted");
}

#[test]
fn l22_no_timeout_header_is_answered_at_once() {
    let s = Server::start();
    publish_ok(s.addr, "l22", DG, "", "v");
    let req = common::listener_raw(&record("l22", DG, &md5_hex("v"), None), None, &[]);
    let r = immediate(s.addr, &req, "short poll, nothing changed");
    assert_ok_empty(&r, "short poll, nothing changed");
    let req = common::listener_raw(&record("l22", DG, STALE, None), None, &[]);
    let r = immediate(s.addr, &req, "short poll, changed");
    assert_reply(&r, &reply1("l22", DG, None), "short poll, changed");
}

#[test]
fn l23_listening_configs_in_query_string() {
    let s = Server::start();
    publish_ok(s.addr, "l23", DG, "", "v");
    let target = |md5: &str| {
        format!(
            "{LISTENER}?{}",
            form(&[("Listening-Configs", &record("l23", DG, md5, None))])
        )
    };
    let hdrs = [("Content-Type", FORM_CT), ("Long-Pulling-Timeout", "30000")];
    let r = immediate(
        s.addr,
        &raw("POST", &target(STALE), &hdrs, Some(b"".as_slice())),
        "query poll",
    );
    assert_reply(
        &r,
        &reply1("l23", DG, None),
        "Listening-Configs in the query",
    );
    let mut c = Conn::open(s.addr);
    c.send(&raw(
        "POST",
        &target(&md5_hex("v")),
        &hdrs,
        Some(b"".as_slice()),
    ));
    expect_silent(s.addr, &mut c, 1, "query poll with the current md5 is held");
}

#[test]
fn l24_duplicate_records_last_md5_wins() {
    let s = Server::start();
    publish_ok(s.addr, "l24", DG, "", "v");
    let cur = md5_hex("v");
    let recs = record("l24", DG, STALE, None) + &record("l24", DG, &cur, None);
    let r = no_hangup(s.addr, &recs, "stale then current");
    assert_ok_empty(&r, "last (current) md5 wins");
    let recs = record("l24", DG, &cur, None) + &record("l24", DG, STALE, None);
    let r = no_hangup(s.addr, &recs, "current then stale");
    assert_reply(&r, &reply1("l24", DG, None), "last (stale) md5 wins");
    // A 3-field and an empty-tenant 4-field record are the same key.
    let recs = record("l24", DG, STALE, None) + &record("l24", DG, &cur, Some(""));
    let r = no_hangup(s.addr, &recs, "3-field then 4-field empty tenant");
    assert_ok_empty(&r, "same key in both forms, last md5 wins");
}

#[test]
fn l25_bytes_after_the_final_ls_are_ignored() {
    let s = Server::start();
    publish_ok(s.addr, "l25", DG, "", "v");
    let recs = record("l25", DG, &md5_hex("v"), None) + "garbage-without-separators";
    let r = no_hangup(s.addr, &recs, "trailing garbage");
    assert_ok_empty(&r, "trailing garbage ignored");
    let recs = record("l25", DG, STALE, None) + "l25-unterminated\u{2}" + DG + "\u{2}" + STALE;
    let r = no_hangup(s.addr, &recs, "unterminated final record");
    assert_reply(
        &r,
        &reply1("l25", DG, None),
        "unterminated final record dropped",
    );
}

#[test]
fn l27_closed_parked_connection_is_released() {
    let s = Server::start();
    publish_ok(s.addr, "l27", DG, "", "v1");
    let rec = record("l27", DG, &md5_hex("v1"), None);
    // Twenty parked polls whose clients go away completely.
    let gone: Vec<Conn> = (0..20).map(|_| park(s.addr, &rec)).collect();
    // One whose client half-closes: the server sees EOF but we can still read.
    let mut half = park(s.addr, &rec);
    settle(s.addr, &mut half, 21, "half-closing poll before EOF");
    drop(gone);
    half.stream().shutdown(Shutdown::Write).expect("shutdown");
    // Every poll whose client went away or half-closed is released.
    wait_parked(s.addr, 0, "closed and half-closed polls released");
    // Whatever the server did on EOF happened before the change...
    half.set_read_timeout(Duration::from_millis(50));
    if let Ok(b) = half.reader.fill_buf() {
        let n = b.len();
        half.reader.consume(n);
    }
    publish_ok(s.addr, "l27", DG, "", "v2");
    // ...and the change writes nothing to the released connection.
    half.set_read_timeout(SILENT);
    match half.reader.fill_buf() {
        Ok([]) => {}
        Ok(b) => panic!("a change was written to a released poll: {:?}", lossy(b)),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("read error {e}"),
    }
    // The server is still fine.
    let mut fresh = park(s.addr, &record("l27", DG, &md5_hex("v2"), None));
    settle(s.addr, &mut fresh, 1, "a new poll");
    publish_ok(s.addr, "l27", DG, "", "v3");
    let r = answer_within(&mut fresh, PROMPT, "new poll wake-up");
    assert_reply(&r, &reply1("l27", DG, None), "new poll wake-up");
}

#[test]
fn l28_three_thousand_records_are_accepted() {
    let s = Server::start();
    let id = |i: usize| {
        format!("l28.application-service-configuration-with-a-rather-long-data-id-number-{i:05}.properties")
    };
    let group = "L28_SERVICE_CONFIGURATION_GROUP";
    publish_ok(s.addr, &id(7), group, "", "seven");
    let md5_7 = md5_hex("seven");
    let recs = |stale: Option<usize>| {
        (0..3000)
            .map(|i| {
                let md5 = match (i, stale) {
                    (_, Some(j)) if i == j => STALE,
                    (7, _) => md5_7.as_str(),
                    _ => "",
                };
                record(&id(i), group, md5, None)
            })
            .collect::<String>()
    };
    let all = recs(None);
    assert!(all.len() > 290_000, "about 300 KB: {}", all.len());
    let r = no_hangup(s.addr, &all, "3000 current records");
    assert_ok_empty(&r, "3000 current records");
    let r = no_hangup(s.addr, &recs(Some(1234)), "3000 records, one stale");
    assert_reply(
        &r,
        &reply1(&id(1234), group, None),
        "3000 records, one stale",
    );
    let all_stale: String = (0..3000)
        .map(|i| record(&id(i), group, STALE, None))
        .collect();
    let r = immediate(s.addr, &listen(&all_stale, &[]), "3000 stale records");
    assert_eq!(r.status, 200);
    let expected: BTreeSet<String> = (0..3000).map(|i| wire_key(&id(i), group, None)).collect();
    assert_eq!(reply_keys(&r.body), expected, "every stale key listed once");
}

#[test]
fn l30_listening_configs_is_decoded_twice() {
    let s = Server::start();
    publish_ok(s.addr, "l30Ax", DG, "", "v");
    // The decoded value holds `%41`; the second decode makes it `A`.
    let r = no_hangup(s.addr, &record("l30%41x", DG, &md5_hex("v"), None), "poll");
    assert_ok_empty(&r, "`%41` decoded to `A` before comparing");
    let r = no_hangup(s.addr, &record("l30%41x", DG, STALE, None), "poll");
    assert_reply(
        &r,
        &reply1("l30Ax", DG, None),
        "reply carries the twice-decoded key",
    );
    // A literal `+` becomes a space in the second decode; URLEncoder writes it back as `+`.
    let r = no_hangup(s.addr, &record("l30+y", DG, STALE, None), "poll");
    assert_reply(
        &r,
        "l30+y%02DEFAULT_GROUP%01\n",
        "`+` decoded to space, encoded as `+`",
    );
}

#[test]
fn l31_mixed_three_and_four_field_records() {
    let s = Server::start();
    publish_ok(s.addr, "l31-a", DG, "", "a");
    publish_ok(s.addr, "l31-b", DG, "dev", "b");
    publish_ok(s.addr, "l31-c", DG, "", "c");
    let recs = record("l31-a", DG, STALE, None)
        + &record("l31-b", DG, STALE, Some("dev"))
        + &record("l31-c", DG, &md5_hex("c"), Some(""))
        + &record("l31-d", DG, "", None);
    let r = immediate(s.addr, &listen(&recs, &[]), "mixed records");
    assert_eq!(r.status, 200);
    let expected: BTreeSet<String> = [
        wire_key("l31-a", DG, None),
        wire_key("l31-b", DG, Some("dev")),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        reply_keys(&r.body),
        expected,
        "each record parsed per its form"
    );
}

#[test]
fn l32_no_cache_headers_on_a_reply_with_changes() {
    let s = Server::start();
    publish_ok(s.addr, "l32", DG, "", "v");
    let r = immediate(
        s.addr,
        &listen(&record("l32", DG, STALE, None), &[]),
        "poll",
    );
    assert_reply(&r, &reply1("l32", DG, None), "poll");
    assert_eq!(r.header_exact("Pragma"), Some("no-cache"));
    assert_eq!(r.header_exact("Expires"), Some(EXPIRES));
    assert_eq!(r.header_exact("Cache-Control"), Some("no-cache,no-store"));
}
