//! Slow and vanishing clients

use super::*;

#[test]
fn slowloris_headers_get_408_and_close() {
    let s = Server::start_args(&["--request-timeout-ms", "1000"]);
    let req = b"GET /nacos/v1/cs/health HTTP/1.1\r\nHost: t\r\nUser-Agent: one-byte-at-a-time\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    // Timed from before the connect: the server's clock for this request
    // cannot start earlier, so `acted` never undercounts its timeout.
    let t = Instant::now();
    let mut c = Conn::open(s.addr);
    let mut sent = 0;
    for &b in req.iter() {
        if c.stream().write_all(&[b]).is_err() {
            break;
        }
        sent += 1;
        c.set_read_timeout(Duration::from_millis(150));
        let mut peek = [0u8; 1];
        match c.stream().peek(&mut peek) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            _ => break, // data, EOF or reset: the server acted
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "the server still waits for a request started {:?} ago",
            t.elapsed()
        );
    }
    let acted = t.elapsed();
    assert!(sent < req.len(), "the whole slow request was accepted");
    c.set_read_timeout(Duration::from_secs(10));
    let r = c
        .try_read_response()
        .unwrap_or_else(|e| panic!("slowloris connection closed without a 408: {e}"));
    assert_eq!(r.status, 408, "slowloris answer {r:?}");
    assert!(c.is_closed(Duration::from_secs(10)), "not closed after 408");
    assert!(
        acted >= Duration::from_millis(1000),
        "the server acted after {acted:?}, before the 1 s request timeout"
    );
    println!(
        "slowloris: server acted after {acted:?}, {sent} of {} bytes sent",
        req.len()
    );
    // Everyone else is served meanwhile and afterwards.
    let r = request(s.addr, &get_raw("/nacos/v1/cs/health"));
    assert_eq!(r.status, 200);
    let m = metrics(s.addr);
    assert!(metric(&m, "vigil_rejected_total{reason=\"request_timeout\"}") >= 1);
}

#[test]
fn many_slowloris_connections_do_not_starve_others() {
    let s = Server::start_args(&["--request-timeout-ms", "1000"]);
    let addr = s.addr;
    let mut slow: Vec<TcpStream> = (0..200)
        .map(|_| {
            let c = TcpStream::connect(addr).unwrap();
            c.set_nodelay(true).unwrap();
            c
        })
        .collect();
    let t = Instant::now();
    let mut closed = 0;
    let req = b"GET /nacos/v1/cs/health HTTP/1.1\r\nHost: t\r\nX-Pad: aaaaaaaaaaaaaaaaaa\r\n\r\n";
    'bytes: for &b in req.iter() {
        for c in slow.iter_mut() {
            let _ = c.write_all(&[b]);
        }
        // A normal client is served while 200 connections dribble.
        let r = request(addr, &get_raw("/nacos/v1/cs/health"));
        assert_eq!(r.status, 200, "normal client during slowloris");
        std::thread::sleep(Duration::from_millis(100));
        if t.elapsed() > Duration::from_secs(3) {
            break 'bytes;
        }
    }
    for c in slow.iter_mut() {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = Vec::new();
        match c.read_to_end(&mut buf) {
            Ok(_) => {
                let text = lossy(&buf);
                assert!(
                    text.starts_with("HTTP/1.1 408"),
                    "slow connection got {text:?}, expected a 408 and a close"
                );
                closed += 1;
            }
            // It kept sending after the 408 and the close: the kernel may
            // drop the unread 408 on the reset that answers those bytes.
            Err(e) if e.kind() == ErrorKind::ConnectionReset => closed += 1,
            Err(e) => panic!("slow connection not answered 408 and closed: {e}"),
        }
    }
    println!("{closed} of 200 slowloris connections answered 408 and closed by the server");
}

#[test]
fn pipelined_gets_never_read_leave_the_server_responsive_with_bounded_memory() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let s = Server::start();
    let addr = s.addr;
    // The scenario's 100 KB config, as the load tester names and fills it.
    let space = KeySpace::new(NOREAD_RUN);
    let big_key = KeyId::new(KeyKind::Get, 0);
    let big = proto::versioned_content(&space, big_key, 1, 100 * 1024);
    let big_get = get_raw(&format!(
        "{CFG}?dataId={}&group={}",
        space.data_id(big_key),
        proto::GROUP
    ));

    // Meanwhile a client of our own GETs the big config and the health check
    // every 200 ms, and checks what it reads, on a fresh connection each time.
    let stop = Arc::new(AtomicBool::new(false));
    let checker = {
        let stop = stop.clone();
        let (big, big_get) = (big.clone(), big_get.clone());
        std::thread::spawn(move || {
            let mut rounds = 0;
            while !stop.load(Ordering::SeqCst) {
                let mut c = Conn::open(addr);
                c.set_read_timeout(Duration::from_secs(10));
                let r = c.roundtrip(&big_get);
                // 404 before the scenario publishes it and after it deletes it.
                if r.status != 404 {
                    assert_eq!(r.status, 200, "GET of the big config while hogged");
                    assert!(r.body == big.as_bytes(), "big config content while hogged");
                    rounds += 1;
                }
                let r = c.roundtrip(&get_raw("/nacos/v1/cs/health"));
                assert_eq!(r.status, 200, "health while hogged");
                std::thread::sleep(Duration::from_millis(200));
            }
            rounds
        })
    };
    // 50 connections each pipelining 2,000 GETs of it, never reading.
    let cli = Cli::try_parse_from([
        "loadtest",
        "--server",
        &addr.to_string(),
        "--server-pid",
        &s.pid().to_string(),
        "--run-id",
        NOREAD_RUN,
        "noread",
        "-n",
        "50",
    ])
    .unwrap();
    let rep = vigil_loadtest::run_in_process(cli).expect("the noread scenario ran");
    stop.store(true, Ordering::SeqCst);
    let rounds = checker.join().expect("checker");
    println!("noread: {}", serde_json::to_string(&rep["table"]).unwrap());
    assert_eq!(rep["ok"], true, "noread checks: {}", rep["failures"]);
    assert!(
        rounds >= 10,
        "only {rounds} GETs of the big config while hogged"
    );
    let growth = rep["rss_growth_peak_mib"]
        .as_f64()
        .expect("RSS growth measured");
    let good = &rep["good_get"];
    println!(
        "50 non-reading clients: server RSS growth peak {growth} MiB; well-behaved GETs: {} \
         answered, max {} ms, p99 {} ms; {rounds} checked GETs of the big config",
        good["count"], good["max_ms"], good["p99_ms"]
    );
    assert!(
        growth <= 64.0,
        "server RSS grew by {growth} MiB with 50 non-reading clients"
    );
    assert_eq!(rep["good_errors"], 0, "well-behaved GETs failed");
    assert!(
        good["count"].as_u64().unwrap_or(0) > 0,
        "no well-behaved GET answered"
    );
    assert!(
        rep["gets_sent"].as_u64().unwrap_or(0) > 0,
        "the non-readers sent nothing"
    );
    wait_metrics(addr, "the non-readers to be closed", GAUGE_WAIT, |m| {
        metric(m, "vigil_connections") <= 1
    });
}

/// Key namespace of the noread test (ASCII alphanumeric).
const NOREAD_RUN: &str = "noread";

#[test]
fn two_thousand_parked_clients_vanishing_leave_nothing_behind() {
    let s = Server::start();
    let addr = s.addr;
    // Each listener holds two of 300 keys that do not exist, and the hot key,
    // which does (published here, before they park).
    let opts = Options {
        conns: 2000,
        own_keys: 2,
        key_pool: 300,
        hot: true,
        poll_timeout_ms: 60_000,
        ..Options::default()
    };
    let real = KeySpace::new(&opts.run).data_id(KeyId::new(KeyKind::Hot, 0));
    publish_ok(addr, &real, proto::GROUP, "", "r");
    wait_metrics(addr, "a quiet server", GAUGE_WAIT, |m| {
        metric(m, "vigil_connections") == 1 && metric(m, "vigil_parked_polls") == 0
    });
    // Per-reactor gauges settle asynchronously after the publish: read the
    // baseline again once they have had time to.
    std::thread::sleep(Duration::from_millis(300));
    let base = wait_metrics(addr, "a quiet server", GAUGE_WAIT, |m| {
        metric(m, "vigil_connections") == 1 && metric(m, "vigil_parked_polls") == 0
    });
    let base_keys = metric(&base, "vigil_indexed_keys");
    let l = Listeners::park(&[addr], &opts, Duration::from_secs(60)).expect("2,000 parked");
    let m = wait_metrics(addr, "2,000 parked polls", Duration::from_secs(15), |m| {
        metric(m, "vigil_parked_polls") == 2000
    });
    println!(
        "parked: connections {}, polls {}, waiters {}, keys {} (base {base_keys}), timers {}",
        metric(&m, "vigil_connections"),
        metric(&m, "vigil_parked_polls"),
        metric(&m, "vigil_index_waiters"),
        metric(&m, "vigil_indexed_keys"),
        metric(&m, "vigil_armed_timers")
    );
    assert_eq!(metric(&m, "vigil_index_waiters"), 6000);
    assert!(metric(&m, "vigil_indexed_keys") > base_keys);
    let t = Instant::now();
    // Every socket closes at once.
    let counters = l.stop().expect("listeners stopped");
    assert_eq!(
        (counters.errors(), counters.stale_reads),
        (0, 0),
        "listener errors: {counters:?}"
    );
    // `vigil_connections` counts the connection asking for the metrics, so
    // "no connections left" reads 1.
    let m = wait_metrics(
        addr,
        "every trace of the vanished clients to go",
        GAUGE_WAIT,
        |m| {
            metric(m, "vigil_parked_polls") == 0
                && metric(m, "vigil_index_waiters") == 0
                && metric(m, "vigil_indexed_keys") == base_keys
                && metric(m, "vigil_connections") == 1
        },
    );
    println!(
        "cleaned up in {:?}: timers {} (base {}), keys {}",
        t.elapsed(),
        metric(&m, "vigil_armed_timers"),
        metric(&base, "vigil_armed_timers"),
        metric(&m, "vigil_indexed_keys")
    );
    // The real key still works.
    let r = get_config(addr, &real, proto::GROUP, "");
    assert_eq!(lossy(&r.body), "r");
}
