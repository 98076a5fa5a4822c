//! A panic on a server thread is fatal, and the harness sees it
//!
//! `--inject-panic <thread>` (hidden, for tests) makes that thread panic on
//! a request for the config `vigil.injected.panic`. The server must log the
//! panic with the thread's name, never answer ready again, drain, and exit
//! non-zero by itself (the server that only logged a panic and went on
//! fails here); acknowledged writes survive; and the harness's teardown
//! check (which every test's server goes through when dropped) must report
//! it, so the test that caused a panic fails.

use super::*;

const TRIPWIRE: &str = "vigil.injected.panic";
/// How long the drain after a panic may take (the reactors' drain deadline
/// is 10 s, held up by requests the dead thread will never answer).
const EXIT_WITHIN: Duration = Duration::from_secs(40);

const READINESS: &str = "/nacos/v1/console/health/readiness";

/// Probes readiness over and over from the moment a panic was logged until
/// the process is gone: no probe may be answered OK. Each gets Nacos's 500
/// (the panic hook marks the process not ready before anything else), or no
/// answer once the drain has stopped accepting. Returns how many 500s came
/// (the drain starts within microseconds of the panic, so often none: the
/// 500 itself is checked exactly by the API's unit tests).
fn probe_readiness_until_gone(s: &Server) -> usize {
    let deadline = Instant::now() + EXIT_WITHIN;
    let mut not_ready = 0;
    while !s.stderr().wait_end(Duration::from_millis(5)) {
        assert!(
            Instant::now() < deadline,
            "the server did not exit after a panic"
        );
        let Ok(stream) = TcpStream::connect(s.addr) else {
            continue;
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut c = Conn {
            reader: std::io::BufReader::new(stream),
        };
        if c.stream().write_all(&get_raw(READINESS)).is_err() {
            continue;
        }
        if let Ok(r) = c.try_read_response() {
            assert_eq!(
                (r.status, r.text().as_str()),
                (500, "Config is not in readiness"),
                "readiness after a panic"
            );
            not_ready += 1;
        }
    }
    not_ready
}

/// The panic log line's start for `thread`.
fn panic_line(thread: &str) -> String {
    format!("thread '{thread}' panicked at ")
}

/// Waits for the panic to be logged and the process to exit by itself, then
/// checks the teardown check's report names the thread and the non-zero exit.
fn expect_fatal(s: &mut Server, thread: &str) {
    assert!(
        s.stderr().wait_for(&panic_line(thread), EXIT_WITHIN),
        "no panic logged for {thread}; stderr:\n{}",
        s.stderr().text()
    );
    assert!(
        s.stderr().wait_end(EXIT_WITHIN),
        "the server did not exit within {EXIT_WITHIN:?} of a panic on {thread}"
    );
    let report = s
        .teardown()
        .expect_err("the teardown check passed after a panic");
    for needle in [
        "exited during the test (exit status: 1)",
        &panic_line(thread),
        "panic injected on purpose",
    ] {
        assert!(
            report.contains(needle),
            "report lacks {needle:?}:\n{report}"
        );
    }
}

#[test]
fn a_writer_panic_is_never_ready_again_exits_non_zero_and_keeps_acknowledged_writes() {
    let mut s = Server::start_args(&["--inject-panic", "writer", "--threads", "2"]);
    let tmp = s.take_tmp().expect("temp dir");
    let dir = s.data_dir.clone();
    let addr = s.addr;
    publish_ok(addr, "acknowledged", DG, "", "v1");
    let before = request(addr, &get_raw(READINESS));
    assert_eq!((before.status, before.text().as_str()), (200, "OK"));

    // The writer panics inside the transaction: this publish is never
    // answered, and never committed.
    let mut tripped = Conn::open(addr);
    let body = form(&[("dataId", TRIPWIRE), ("group", DG), ("content", "x")]);
    tripped.send(&post_raw(CFG, &[], body.as_bytes()));
    assert!(
        s.stderr()
            .wait_for(&panic_line("vigil-writer"), EXIT_WITHIN),
        "no writer panic logged; stderr:\n{}",
        s.stderr().text()
    );
    let not_ready = probe_readiness_until_gone(&s);
    println!("readiness answered 500 {not_ready} times between the panic and the drain");
    expect_fatal(&mut s, "vigil-writer");
    drop(s);

    // A restart (what the supervisor does) has every acknowledged write, and
    // not the one the panic interrupted.
    let s = Server::start_in(&dir, &[]);
    assert_eq!(get_config(s.addr, "acknowledged", DG, "").text(), "v1");
    assert_eq!(get_config(s.addr, TRIPWIRE, DG, "").status, 404);
    drop(s);
    drop(tmp);
}

#[test]
fn a_reactor_panic_exits_non_zero_and_dropping_its_server_fails_the_test() {
    let s = Server::start_args(&["--inject-panic", "reactor", "--threads", "1"]);
    publish_ok(s.addr, "acknowledged", DG, "", "v1");
    // The one reactor dies with this connection: no answer, only its end.
    let mut c = Conn::open(s.addr);
    c.send(&common::get_req(TRIPWIRE, DG, None));
    assert!(
        c.try_read_response().is_err(),
        "a request that panics its reactor was answered"
    );
    assert!(
        s.stderr()
            .wait_for(&panic_line("vigil-reactor-0"), EXIT_WITHIN),
        "no reactor panic logged; stderr:\n{}",
        s.stderr().text()
    );
    assert!(s.stderr().wait_end(EXIT_WITHIN), "the server did not exit");
    // A test that does nothing special fails: dropping the server panics
    // with the teardown check's report.
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(s)));
    let payload = dropped.expect_err("dropping a server that panicked passed");
    let report = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    for needle in [
        "exited during the test (exit status: 1)",
        &panic_line("vigil-reactor-0"),
    ] {
        assert!(
            report.contains(needle),
            "report lacks {needle:?}:\n{report}"
        );
    }
}

#[test]
fn without_the_switch_the_tripwire_config_is_an_ordinary_one() {
    let s = Server::start();
    publish_ok(s.addr, TRIPWIRE, DG, "", "v1");
    assert_eq!(get_config(s.addr, TRIPWIRE, DG, "").text(), "v1");
    s.stop();
}
