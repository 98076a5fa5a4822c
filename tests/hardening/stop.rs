//! Graceful stop in the middle of traffic

use super::*;

#[test]
fn sigterm_mid_traffic_commits_acknowledged_publishes_answers_parked_polls_and_exits_0() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    let mut s = Server::start();
    let tmp = s.take_tmp().unwrap();
    let dir = s.data_dir.clone();
    let addr = s.addr;
    for k in 0..20 {
        publish_ok(addr, &format!("still-{k}"), DG, "", "v");
    }
    let parked: Vec<Conn> = (0..40)
        .map(|i| {
            let rec = record(&format!("still-{}", i % 20), DG, &md5_hex("v"), None);
            start_poll(addr, &rec, "60000")
        })
        .collect();
    wait_metrics(addr, "40 parked polls", GAUGE_WAIT, |m| {
        metric(m, "vigil_parked_polls") == 40
    });

    // Publishers: (key -> (last acknowledged, in flight)).
    type Ledger = HashMap<String, (Option<String>, Option<String>)>;
    let stop = Arc::new(AtomicBool::new(false));
    let publishers: Vec<_> = (0..4)
        .map(|w| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut ledger = Ledger::new();
                let mut acked = 0;
                let Ok(s) = TcpStream::connect(addr) else {
                    return (ledger, acked);
                };
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let mut c = Conn {
                    reader: std::io::BufReader::new(s),
                };
                for seq in 0u64.. {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let key = if seq.is_multiple_of(2) {
                        format!("hot-{w}")
                    } else {
                        format!("once-{w}-{seq}")
                    };
                    let content = format!("worker {w} seq {seq}");
                    let e = ledger.entry(key.clone()).or_default();
                    e.1 = Some(content.clone());
                    let body = form(&[("dataId", &key), ("group", DG), ("content", &content)]);
                    if c.stream()
                        .write_all(&post_raw(CFG, &[], body.as_bytes()))
                        .is_err()
                    {
                        break;
                    }
                    match c.try_read_response() {
                        Ok(r) if r.status == 200 && r.body == b"true" => {
                            *e = (Some(content), None);
                            acked += 1;
                        }
                        Ok(r) => panic!("publish answered {} {:?}", r.status, lossy(&r.body)),
                        Err(_) => break,
                    }
                }
                (ledger, acked)
            })
        })
        .collect();
    // Listeners that follow the hot keys like real clients; each counts the
    // polls answered with its key.
    let woken: Arc<[AtomicUsize; 4]> = Arc::new(Default::default());
    let followers: Vec<_> = (0..4)
        .map(|w| {
            let woken = woken.clone();
            std::thread::spawn(move || {
                let mut c = Conn::open(addr);
                c.set_read_timeout(Duration::from_secs(20));
                let mut md5 = String::new();
                let mut answered = 0;
                loop {
                    let rec = record(&format!("hot-{w}"), DG, &md5, None);
                    if c.stream()
                        .write_all(&listener_raw(&rec, Some("60000"), &[]))
                        .is_err()
                    {
                        return answered;
                    }
                    let Ok(r) = c.try_read_response() else {
                        return answered;
                    };
                    assert_eq!(r.status, 200, "follower poll: {:?}", lossy(&r.body));
                    answered += 1;
                    if r.body.is_empty() {
                        continue;
                    }
                    woken[w].fetch_add(1, Ordering::SeqCst);
                    let g = get_raw(&format!("{CFG}?dataId=hot-{w}&group={DG}"));
                    if c.stream().write_all(&g).is_err() {
                        return answered;
                    }
                    let Ok(r) = c.try_read_response() else {
                        return answered;
                    };
                    md5 = md5_hex(&lossy(&r.body));
                }
            })
        })
        .collect();

    // Stop mid-traffic, once every follower has been woken at least once.
    std::thread::sleep(Duration::from_millis(700));
    let t = Instant::now();
    while woken.iter().any(|n| n.load(Ordering::SeqCst) == 0) {
        assert!(
            t.elapsed() < GAUGE_WAIT,
            "followers not all woken by the publishes of their keys: {woken:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let st = s.sigterm();
    stop.store(true, Ordering::SeqCst);
    assert_eq!(st.code(), Some(0), "exit status after SIGTERM: {st}");

    for (i, mut c) in parked.into_iter().enumerate() {
        c.set_read_timeout(Duration::from_secs(15));
        let r = c
            .try_read_response()
            .unwrap_or_else(|e| panic!("parked poll {i} got no answer before the exit: {e}"));
        assert_eq!(
            (r.status, r.body.len()),
            (200, 0),
            "parked poll {i}: {:?}",
            lossy(&r.body)
        );
    }
    let mut ledger = Ledger::new();
    let mut acked = 0;
    for p in publishers {
        let (l, n) = p.join().expect("publisher");
        ledger.extend(l);
        acked += n;
    }
    let answered: usize = followers
        .into_iter()
        .map(|f| f.join().expect("follower"))
        .sum();
    assert!(acked > 0, "no publish was acknowledged before SIGTERM");

    let s2 = Server::start_in(&dir, &[]);
    let mut c = Conn::open(s2.addr);
    let (mut found, mut landed) = (0, 0);
    for (key, (ack, in_flight)) in &ledger {
        let r = c.roundtrip(&get_raw(&format!("{CFG}?dataId={key}&group={DG}")));
        let got = (r.status == 200).then(|| lossy(&r.body));
        if got.is_some() && got == *in_flight {
            landed += 1;
        } else if got == *ack {
            found += usize::from(ack.is_some());
        } else {
            panic!("{key}: holds {got:?}; acknowledged {ack:?}, in flight {in_flight:?}");
        }
    }
    println!(
        "SIGTERM mid-traffic: {acked} publishes acknowledged, {} keys checked after restart: \
         {found} at their acknowledged value, {landed} in-flight landed; 40 parked polls answered \
         200; followers got {answered} poll answers, {:?} of them naming their key",
        ledger.len(),
        woken
    );
    drop(s2);
    drop(tmp);
}
