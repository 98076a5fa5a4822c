//! A publish storm through 10,000 parked listeners

use super::*;

const STORM_KEYS: u32 = 50;
const STORM_LISTENERS: u32 = 10_000;

/// Publishes each (data id, content) in order on one connection.
fn publish_in_order(addr: SocketAddr, batch: &[(String, String)]) {
    let mut c = Conn::open(addr);
    for (id, content) in batch {
        let body = form(&[
            ("dataId", id),
            ("group", proto::GROUP),
            ("content", content),
        ]);
        let r = c.roundtrip(&post_raw(CFG, &[], body.as_bytes()));
        assert_eq!(
            (r.status, lossy(&r.body).as_str()),
            (200, "true"),
            "publish {id}"
        );
    }
}

/// Wake-ups of one wave against what it published: each listener of a
/// changed key woken for it between 1 and `max` times, no other wake-up.
fn wrong_wake_counts(l: &Listeners, wakes: &[Wake], changed: &[KeyId], max: u32) -> Vec<String> {
    let mut count: HashMap<(u32, KeyId), u32> = HashMap::new();
    for w in wakes {
        *count.entry((w.listener, w.key)).or_default() += 1;
    }
    let mut wrong = Vec::new();
    for &key in changed {
        for listener in l.listeners_of(key) {
            let n = count.remove(&(listener, key)).unwrap_or(0);
            if !(1..=max).contains(&n) {
                wrong.push(format!(
                    "listener {listener} woken {n} times for {key:?} (expected 1..={max})"
                ));
            }
        }
    }
    for ((listener, key), n) in count {
        wrong.push(format!(
            "listener {listener} woken {n} times for unchanged {key:?}"
        ));
    }
    wrong
}

#[test]
fn publish_storm_wakes_each_of_10000_parked_listeners_for_every_change_of_its_keys() {
    let s = Server::start();
    let addr = s.addr;
    let t_all = Instant::now();
    // Listeners behave as real clients: on a wake-up they GET the key (the
    // load tester checks it reads the announced version or a newer one, and
    // that Content-MD5 is the body's md5) and poll again with its new md5.
    let opts = Options {
        conns: STORM_LISTENERS,
        own_keys: 2,
        key_pool: STORM_KEYS,
        threads: 2,
        poll_timeout_ms: 60_000,
        ..Options::default()
    };
    let mut l = Listeners::park(&[addr], &opts, Duration::from_secs(60)).expect("10,000 parked");
    let m = wait_metrics(addr, "10,000 parked listeners", GAUGE_WAIT, |m| {
        metric(m, "vigil_parked_polls") == u64::from(STORM_LISTENERS)
    });
    println!(
        "10,000 listeners parked after {:?}: {} waiters, {} connections",
        t_all.elapsed(),
        metric(&m, "vigil_index_waiters"),
        metric(&m, "vigil_connections")
    );

    // Waves: all 50 keys created, 5 x 10 keys, then all 50, then all 50
    // twice in a burst; the storms proper from 10 connections at once.
    let key = |k: u32| KeyId::new(KeyKind::Own, k);
    let mut waves: Vec<(Vec<KeyId>, u32, bool)> =
        vec![((0..STORM_KEYS).map(key).collect(), 1, false)];
    waves.extend((0..5).map(|w| ((w * 10..w * 10 + 10).map(key).collect(), 1, false)));
    waves.push(((0..STORM_KEYS).map(key).collect(), 1, true));
    waves.push(((0..STORM_KEYS).map(key).collect(), 2, true));
    for (n, (keys, times, storm)) in waves.iter().enumerate() {
        let t = Instant::now();
        if *storm {
            // Every version of the burst is announced before any is sent:
            // a wake-up demands the first, a GET may show any of them.
            let mut parts: Vec<Vec<(String, String)>> = vec![Vec::new(); 10];
            for pass in 0..*times {
                let versions = if pass == 0 {
                    l.announce(keys)
                } else {
                    l.announce_ahead(keys)
                }
                .expect("announce");
                for (k, v) in keys.iter().zip(versions) {
                    parts[k.idx as usize % 10].push((l.key_name(*k).0, l.content(*k, v)));
                }
            }
            let publishers: Vec<_> = parts
                .into_iter()
                .map(|batch| std::thread::spawn(move || publish_in_order(addr, &batch)))
                .collect();
            for p in publishers {
                p.join().expect("storm publisher");
            }
        } else {
            l.publish(keys).expect("publish");
        }
        let expected: usize = keys.iter().map(|k| l.listeners_of(*k).len()).sum();
        let got = l
            .wait_wakes(expected, Duration::from_secs(30))
            .expect("wake-ups");
        assert!(
            got >= expected,
            "wave {}: {got} of {expected} wake-ups within 30 s",
            n + 1
        );
        assert!(
            l.wait_parked(Duration::from_secs(30)).expect("census"),
            "wave {}: listeners not all parked again within 30 s",
            n + 1
        );
        // Late duplicates and spurious wake-ups show up here.
        let wakes = l.take_wakes(Duration::from_millis(500)).expect("wake-ups");
        let wrong = wrong_wake_counts(&l, &wakes, keys, *times);
        assert!(
            wrong.is_empty(),
            "wave {}: {} wrong wake counts; first: {:?}",
            n + 1,
            wrong.len(),
            &wrong[..wrong.len().min(5)]
        );
        assert!(
            l.error_samples().is_empty(),
            "wave {}: listener errors: {:?}",
            n + 1,
            l.error_samples()
        );
        wait_metrics(addr, "every listener to park again", GAUGE_WAIT, |m| {
            metric(m, "vigil_parked_polls") == u64::from(STORM_LISTENERS)
        });
        println!(
            "wave {}: {} keys x{times} published; all listeners woken ({} wake-ups) and re-parked \
             in {:?}",
            n + 1,
            keys.len(),
            wakes.len(),
            t.elapsed()
        );
    }
    // Held on the latest md5s: nothing more arrives.
    let late = l.take_wakes(Duration::from_millis(500)).expect("wake-ups");
    assert!(
        late.is_empty(),
        "wake-ups after the storm: {:?}",
        &late[..late.len().min(5)]
    );
    assert_eq!(parked_polls(addr), u64::from(STORM_LISTENERS));
    let c = l.stop().expect("listeners stopped");
    println!(
        "storm done in {:?}: {} polls, {} wake-ups, {} GETs after a wake-up, {} hold expiries",
        t_all.elapsed(),
        c.polls,
        c.wakes,
        c.gets_after_wake,
        c.hold_expiries
    );
    assert_eq!(
        (c.errors(), c.stale_reads),
        (0, 0),
        "listener counters: {c:?}"
    );
}
