//! Crash safety of `vigil` under `kill -9` at random moments.
//!
//! Several rounds on one data directory: start the server, let worker
//! threads publish (keys each worker owns, some published over and over,
//! some once) while listener threads long-poll the repeated keys like real
//! clients, then `kill -9` at a random moment. After each kill:
//! - a copy of the database files passes `PRAGMA integrity_check`;
//! - the restarted server holds, for every key, exactly the last value
//!   acknowledged with `true`, or a later one that was in flight (sent, not
//!   answered) when the server died, and nothing else; its `Content-MD5` is
//!   the md5 of the content served;
//! - every listener reconnects with the md5s it last knew and converges: a
//!   poll with an old md5 (the one held when the round started, or the last
//!   one seen) is answered at once with exactly the changed keys, one with
//!   current md5s is held.
//!
//! At the end a SIGTERM stop exits 0 and the real database file passes the
//! integrity check with one row per stored key. The kill moments come from a
//! PRNG seeded from the clock (set `CRASH_SEED` to replay a run); the seed
//! and per-round numbers are printed.

mod common;

use common::{enc, form, md5_hex, record, Server};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CFG: &str = "/nacos/v1/cs/configs";
const DG: &str = "DEFAULT_GROUP";
const ROUNDS: usize = 4;
const WORKERS: usize = 4;
/// Keys each worker publishes over and over.
const HOT_KEYS: usize = 4;
const TENANT: &str = "crash-ns";

/// xorshift64*: small, deterministic, good enough to pick moments and sizes.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A config key: (tenant, dataId); the group is always `DEFAULT_GROUP`.
type Key = (String, String);

/// What the clients know about one key.
#[derive(Clone, Debug, Default)]
struct KeyState {
    /// The last value acknowledged with `true` (or found after a restart).
    acked: Option<String>,
    /// A later value sent but not answered when the server died.
    in_flight: Option<String>,
}

type Model = BTreeMap<Key, KeyState>;

/// One HTTP response, read without trusting the peer to finish it.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn broken(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// A keep-alive client whose every failure is an `Err`, never a panic: a
/// response cut short by the kill must not look like a test bug.
struct Client {
    r: BufReader<TcpStream>,
}

impl Client {
    fn open(addr: SocketAddr, timeout: Duration) -> io::Result<Client> {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(Duration::from_secs(10)))?;
        s.set_nodelay(true)?;
        Ok(Client {
            r: BufReader::new(s),
        })
    }

    fn send(&mut self, req: &[u8]) -> io::Result<()> {
        self.r.get_mut().write_all(req)
    }

    fn read(&mut self) -> io::Result<Reply> {
        let mut line = String::new();
        if self.r.read_line(&mut line)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
        }
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| broken("bad status line"))?;
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if self.r.read_line(&mut h)? == 0 {
                return Err(broken("eof in head"));
            }
            let h = h.trim_end_matches(['\r', '\n']);
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').ok_or_else(|| broken("bad header"))?;
            headers.push((k.to_string(), v.trim().to_string()));
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("Content-Length"))
            .and_then(|(_, v)| v.parse().ok())
            .ok_or_else(|| broken("no Content-Length"))?;
        let mut body = vec![0; len];
        self.r.read_exact(&mut body)?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    fn call(&mut self, req: &[u8]) -> io::Result<Reply> {
        self.send(req)?;
        self.read()
    }
}

fn publish_req(key: &Key, content: &str) -> Vec<u8> {
    let body = form(&[
        ("dataId", &key.1),
        ("group", DG),
        ("tenant", &key.0),
        ("content", content),
    ]);
    let mut r = format!(
        "POST {CFG} HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded;charset=UTF-8\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body.as_bytes());
    r
}

fn get_req(key: &Key) -> Vec<u8> {
    let q = form(&[("dataId", &key.1), ("group", DG), ("tenant", &key.0)]);
    format!("GET {CFG}?{q} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes()
}

fn poll_req(keys: &[(Key, String)], timeout_ms: &str, no_hangup: bool) -> Vec<u8> {
    let records: String = keys
        .iter()
        .map(|((tenant, id), md5)| {
            record(id, DG, md5, (!tenant.is_empty()).then_some(tenant.as_str()))
        })
        .collect();
    let body = format!("Listening-Configs={}", enc(&records));
    let hangup = if no_hangup {
        "Long-Pulling-Timeout-No-Hangup: true\r\n"
    } else {
        ""
    };
    format!(
        "POST {CFG}/listener HTTP/1.1\r\nHost: t\r\nLong-Pulling-Timeout: {timeout_ms}\r\n{hangup}Content-Type: application/x-www-form-urlencoded;charset=UTF-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The keys a listener reply names, as (tenant, dataId).
fn changed_keys(body: &[u8]) -> BTreeSet<Key> {
    common::reply_records(body)
        .into_iter()
        .map(|[data_id, _, tenant]| (tenant, data_id))
        .collect()
}

/// The md5 a client derives from a GET: of the body on 200, `""` on 404.
fn md5_of_get(key: &Key, r: &Reply) -> String {
    match r.status {
        200 => {
            let body = String::from_utf8(r.body.clone()).expect("utf-8 content");
            let md5 = md5_hex(&body);
            assert_eq!(
                r.header("Content-MD5"),
                Some(md5.as_str()),
                "{key:?}: Content-MD5 is not the md5 of the content served"
            );
            md5
        }
        404 => String::new(),
        s => panic!("{key:?}: GET answered {s}"),
    }
}

fn hot_key(w: usize, i: usize) -> Key {
    let tenant = if w.is_multiple_of(2) { "" } else { TENANT };
    (tenant.to_string(), format!("hot-w{w}-{i}"))
}

/// What a worker reports: its keys' states and its counts.
struct WorkerOutcome {
    keys: Model,
    acked: usize,
    in_flight: usize,
    rejected: Vec<String>,
}

/// Publishes until the server dies. Each key it touches is its own, so the
/// last acknowledged value per key is well defined.
fn worker(addr: SocketAddr, round: usize, w: usize, seed: u64, mut keys: Model) -> WorkerOutcome {
    let mut rng = Rng::new(seed);
    let mut out = WorkerOutcome {
        keys: Model::new(),
        acked: 0,
        in_flight: 0,
        rejected: Vec::new(),
    };
    let Ok(mut c) = Client::open(addr, Duration::from_secs(10)) else {
        out.keys = keys;
        return out;
    };
    for seq in 0u64.. {
        let key = if rng.below(2) == 0 {
            hot_key(w, rng.below(HOT_KEYS as u64) as usize)
        } else {
            let tenant = if seq.is_multiple_of(3) { TENANT } else { "" };
            (tenant.to_string(), format!("once-r{round}-w{w}-{seq:05}"))
        };
        let pad = "ab\u{e9}\u{914d}\n".repeat(rng.below(600) as usize);
        let content = format!("round {round} worker {w} seq {seq} {} {pad}", key.1);
        let state = keys.entry(key.clone()).or_default();
        state.in_flight = Some(content.clone());
        match c.call(&publish_req(&key, &content)) {
            Ok(r) if r.status == 200 && r.body == b"true" => {
                state.acked = Some(content);
                state.in_flight = None;
                out.acked += 1;
            }
            Ok(r) => {
                // An error answer: the write was not committed.
                state.in_flight = None;
                out.rejected.push(format!(
                    "{key:?}: {} {:?}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                ));
                break;
            }
            Err(_) => {
                out.in_flight += 1;
                break;
            }
        }
    }
    out.keys = keys;
    out
}

/// A long-polling client of two keys: poll, and on a wake GET the named keys
/// and poll again with their new md5s. Returns the md5s it last knew and how
/// often it was woken, once the server is gone; also counts its wake-ups in
/// `woken`, shared with the test.
fn listener(
    addr: SocketAddr,
    mut keys: Vec<(Key, String)>,
    woken: Arc<AtomicUsize>,
) -> (Vec<(Key, String)>, usize) {
    let mut wakes = 0;
    let Ok(mut c) = Client::open(addr, Duration::from_secs(40)) else {
        return (keys, wakes);
    };
    loop {
        let Ok(r) = c.call(&poll_req(&keys, "30000", false)) else {
            return (keys, wakes);
        };
        assert_eq!(r.status, 200, "listener poll answered {}", r.status);
        let changed = changed_keys(&r.body);
        if !changed.is_empty() {
            wakes += 1;
            woken.fetch_add(1, Ordering::SeqCst);
        }
        for k in changed {
            let Some(slot) = keys.iter_mut().find(|(key, _)| *key == k) else {
                panic!("woken for {k:?}, which it does not listen to");
            };
            let Ok(g) = c.call(&get_req(&k)) else {
                return (keys, wakes);
            };
            slot.1 = md5_of_get(&k, &g);
        }
    }
}

/// Copies the database files (so the server's own recovery is left to the
/// server) and runs `PRAGMA integrity_check` on the copy. Returns the rows
/// of `config_info`.
fn integrity_of_copy(data_dir: &Path) -> i64 {
    let scratch = tempfile::tempdir().expect("scratch dir");
    for name in ["vigil.db", "vigil.db-wal"] {
        let from = data_dir.join(name);
        if from.exists() {
            std::fs::copy(&from, scratch.path().join(name)).expect("copy db file");
        }
    }
    integrity(&scratch.path().join("vigil.db"))
}

fn integrity(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("open database");
    let check: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(check, ["ok"], "integrity_check of {}", db.display());
    conn.query_row("SELECT COUNT(*) FROM config_info", [], |r| r.get(0))
        .unwrap()
}

/// Checks every key after a restart and folds what was found into the
/// model. Returns (keys holding the acknowledged value, keys where the
/// in-flight value landed).
fn verify(addr: SocketAddr, model: &mut Model, when: &str) -> (usize, usize) {
    let mut c = Client::open(addr, Duration::from_secs(10)).expect("connect for verification");
    let (mut found_acked, mut landed) = (0, 0);
    for (key, st) in model.iter_mut() {
        let r = c.call(&get_req(key)).expect("GET after restart");
        let md5 = md5_of_get(key, &r);
        let got = (r.status == 200).then(|| String::from_utf8(r.body.clone()).unwrap());
        let short = |v: &Option<String>| v.as_ref().map(|s| s.chars().take(60).collect::<String>());
        if got.is_some() && got == st.in_flight {
            landed += 1;
        } else if got == st.acked {
            if st.acked.is_some() {
                found_acked += 1;
            }
        } else {
            panic!(
                "{when}: {key:?} holds {:?} (md5 {md5}); last acknowledged {:?}, in flight {:?}",
                short(&got),
                short(&st.acked),
                short(&st.in_flight)
            );
        }
        st.acked = got;
        st.in_flight = None;
    }
    (found_acked, landed)
}

/// Listeners reconnect with the md5s they knew when the server died: a poll
/// with any outdated md5 is answered at once with exactly those keys; after
/// re-reading them, a poll with current md5s is not answered.
fn listeners_converge(addr: SocketAddr, old: &[Vec<(Key, String)>], model: &Model) -> usize {
    let current = |k: &Key| {
        model
            .get(k)
            .and_then(|s| s.acked.as_deref())
            .map(md5_hex)
            .unwrap_or_default()
    };
    let mut answered_at_once = 0;
    for keys in old {
        let stale: BTreeSet<Key> = keys
            .iter()
            .filter(|(k, md5)| current(k) != *md5)
            .map(|(k, _)| k.clone())
            .collect();
        let mut c = Client::open(addr, Duration::from_secs(5)).expect("listener reconnect");
        let t = Instant::now();
        if stale.is_empty() {
            c.send(&poll_req(keys, "30000", false)).unwrap();
            c.r.get_mut()
                .set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            let mut b = [0u8; 1];
            match c.r.read(&mut b) {
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                other => panic!("up-to-date poll {keys:?} was not held: {other:?}"),
            }
            continue;
        }
        let r = c
            .call(&poll_req(keys, "30000", false))
            .expect("poll with old md5s");
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "a poll with an old md5 was held {:?}",
            t.elapsed()
        );
        assert_eq!(r.status, 200);
        assert_eq!(changed_keys(&r.body), stale, "keys named for old md5s");
        answered_at_once += 1;
        let mut fresh = keys.to_vec();
        for (k, md5) in fresh.iter_mut() {
            let g = c.call(&get_req(k)).expect("GET changed key");
            *md5 = md5_of_get(k, &g);
            assert_eq!(*md5, current(k), "{k:?}: GET after wake");
        }
        let r = c
            .call(&poll_req(&fresh, "30000", true))
            .expect("poll with fresh md5s");
        assert_eq!(
            (r.status, r.body.len()),
            (200, 0),
            "fresh md5s still reported changed: {:?}",
            String::from_utf8_lossy(&r.body)
        );
    }
    answered_at_once
}

#[test]
fn acknowledged_publishes_survive_kill9_at_random_moments() {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("crash test seed {seed} (replay with CRASH_SEED={seed})");
    let mut rng = Rng::new(seed);
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("data");
    let mut model = Model::new();
    let mut old_listeners: Vec<Vec<(Key, String)>> = Vec::new();

    for round in 0..=ROUNDS {
        let mut s = Server::start_in(&dir, &[]);
        if round > 0 {
            let in_flight = model.values().filter(|s| s.in_flight.is_some()).count();
            let (found, landed) = verify(s.addr, &mut model, &format!("after kill {round}"));
            let at_once = listeners_converge(s.addr, &old_listeners, &model);
            println!(
                "round {round} restart: {} keys checked, {found} hold their acknowledged value, \
                 {landed} of {in_flight} in-flight publishes landed; {at_once} of {} listeners \
                 answered at once with their changed keys",
                model.len(),
                old_listeners.len()
            );
        }
        if round == ROUNDS {
            let st = s.sigterm();
            assert_eq!(st.code(), Some(0), "exit status after SIGTERM: {st}");
            let rows = integrity(&dir.join("vigil.db"));
            let stored = model.values().filter(|s| s.acked.is_some()).count() as i64;
            assert_eq!(rows, stored, "config_info rows after the last stop");
            println!("final: integrity ok, {rows} configs stored");
            break;
        }

        let addr = s.addr;
        let mut start_md5s = Vec::new();
        let woken = Arc::new(AtomicUsize::new(0));
        let listeners: Vec<_> = (0..WORKERS)
            .map(|w| {
                let keys: Vec<(Key, String)> = (0..2)
                    .map(|i| {
                        let k = hot_key(w, i);
                        let md5 = model
                            .get(&k)
                            .and_then(|s| s.acked.as_deref())
                            .map(md5_hex)
                            .unwrap_or_default();
                        (k, md5)
                    })
                    .collect();
                start_md5s.push(keys.clone());
                let woken = woken.clone();
                std::thread::spawn(move || listener(addr, keys, woken))
            })
            .collect();
        // Every listener holds current md5s, so each parks; a poll answered
        // after this is a wake-up by a publish, not an immediate answer.
        common::wait_parked(addr, WORKERS as u64, "every listener parked");
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                let mine: Model = model
                    .iter()
                    .filter(|(k, _)| k.1.starts_with(&format!("hot-w{w}-")))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let wseed = rng.next();
                std::thread::spawn(move || worker(addr, round, w, wseed, mine))
            })
            .collect();
        let delay = 300 + rng.below(1200);
        std::thread::sleep(Duration::from_millis(delay));
        // The parked listeners must be woken by the publishes of their keys:
        // wait (bounded) for the first wake-up if none came yet. The bound
        // stays below the 29.5 s hold, after which a re-poll with an old md5
        // would be answered at once without any wake-up.
        let t = Instant::now();
        while woken.load(Ordering::SeqCst) == 0 {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "round {}: no parked listener woken within {delay} ms + 20 s of publishing",
                round + 1
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        s.kill9();

        let (mut acked, mut in_flight) = (0, 0);
        for h in workers {
            let o = h.join().expect("worker thread");
            assert!(
                o.rejected.is_empty(),
                "publishes rejected: {:?}",
                o.rejected
            );
            acked += o.acked;
            in_flight += o.in_flight;
            model.extend(o.keys);
        }
        let mut wakes = 0;
        // After the restart, clients come back both with the md5s they held
        // when the round started and with the ones they last knew.
        old_listeners = start_md5s;
        for h in listeners {
            let (keys, n) = h.join().expect("listener thread");
            wakes += n;
            old_listeners.push(keys);
        }
        assert!(wakes > 0, "round {}: no listener wake-up", round + 1);
        let rows = integrity_of_copy(&dir);
        println!(
            "round {}: killed after {delay} ms; {acked} publishes acknowledged, {in_flight} in \
             flight; {wakes} listener wake-ups; copy of the database: integrity ok, {rows} rows",
            round + 1
        );
        assert!(acked > 0, "round {}: no publish acknowledged", round + 1);
    }
    drop(tmp);
}
