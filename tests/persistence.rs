//! Durability tests for `vigil`: configs survive a graceful restart (SIGTERM,
//! exit status 0, same data directory) byte for byte with the right md5 and
//! type; every publish acknowledged with `true` survives `kill -9` even while
//! several connections publish concurrently; SIGTERM and SIGINT answer a
//! parked long poll with 200 before exiting 0; and a missing nested data directory is
//! created on start-up. Each test owns its server and data directory.

mod common;

use common::lossy;
use common::{form, md5_hex, no_hangup, publish_ok, record, request, Conn, Response, Server};
use std::io::{BufRead, ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CFG: &str = "/nacos/v1/cs/configs";
const DG: &str = "DEFAULT_GROUP";

/// A publish request with every parameter in the form body.
fn publish_req(pairs: &[(&str, &str)]) -> Vec<u8> {
    let body = form(pairs);
    let mut r = format!(
        "POST {CFG} HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded;charset=UTF-8\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body.as_bytes());
    r
}

fn get_req(data_id: &str, group: &str, tenant: &str) -> Vec<u8> {
    common::get_req(data_id, group, Some(tenant))
}

/// One config the restart test publishes and later expects back.
struct Cfg {
    data_id: String,
    group: String,
    tenant: String,
    content: String,
    ty: &'static str,
}

impl Cfg {
    fn new(data_id: &str, group: &str, tenant: &str, content: String, ty: &'static str) -> Cfg {
        Cfg {
            data_id: data_id.to_string(),
            group: group.to_string(),
            tenant: tenant.to_string(),
            content,
            ty,
        }
    }

    fn publish(&self, c: &mut Conn) {
        let mut pairs = vec![
            ("dataId", self.data_id.as_str()),
            ("group", self.group.as_str()),
            ("tenant", self.tenant.as_str()),
            ("content", self.content.as_str()),
        ];
        if self.ty != "text" {
            pairs.push(("type", self.ty));
        }
        let r = c.roundtrip(&publish_req(&pairs));
        assert_eq!(
            (r.status, lossy(&r.body).as_str()),
            (200, "true"),
            "publish {}",
            self.data_id
        );
    }

    /// GET on `c` returns exactly this config.
    fn verify(&self, c: &mut Conn, when: &str) {
        let r = c.roundtrip(&get_req(&self.data_id, &self.group, &self.tenant));
        let what = format!("{when}: {}/{}/{:?}", self.data_id, self.group, self.tenant);
        assert_eq!(r.status, 200, "{what}: body {:?}", lossy(&r.body));
        assert_eq!(r.body.len(), self.content.len(), "{what}: length");
        assert!(r.body == self.content.as_bytes(), "{what}: bytes differ");
        let md5 = md5_hex(&self.content);
        assert_eq!(
            r.header_exact("Content-MD5"),
            Some(md5.as_str()),
            "{what}: md5"
        );
        assert_eq!(r.header_exact("Config-Type"), Some(self.ty), "{what}: type");
    }

    fn record(&self, md5: &str) -> String {
        let tenant = (!self.tenant.is_empty()).then_some(self.tenant.as_str());
        record(&self.data_id, &self.group, md5, tenant)
    }
}

fn assert_exit_0(s: &mut Server) {
    let st = s.sigterm();
    assert_eq!(st.code(), Some(0), "exit status after SIGTERM: {st}");
}

#[test]
fn restart_after_sigterm_keeps_configs_byte_exact() {
    let mut s = Server::start();
    let tmp = s.take_tmp().expect("temp dir");
    let dir = s.data_dir.clone();

    let mut large = String::new();
    let mut i = 0;
    while large.len() < 1_500_000 {
        large.push_str(&format!("line {i:06}: 配置内容 value=\"{i}\" & more\r\n"));
        i += 1;
    }
    let mut cfgs = vec![
        Cfg::new(
            "plain.properties",
            DG,
            "",
            "a=1\nb=2\n".into(),
            "properties",
        ),
        Cfg::new("tenant.yaml", "APP_GROUP", "dev", "k: v\n".into(), "yaml"),
        Cfg::new("配置.yaml", "组", "", "名字: 值\r\n".into(), "yaml"),
        Cfg::new(
            "cjk-tenant.json",
            DG,
            "命名空间",
            "{\"名\":\"值\"}".into(),
            "json",
        ),
        Cfg::new("bom.txt", DG, "", "\u{feff}x\r\n\n😀".into(), "text"),
        Cfg::new("large.txt", DG, "prod", large, "text"),
    ];
    for i in 0..100 {
        cfgs.push(Cfg::new(
            &format!("small-{i:03}.properties"),
            &format!("GROUP_{}", i % 7),
            if i % 3 == 0 { "dev" } else { "" },
            format!("index={i}\n"),
            "properties",
        ));
    }
    let mut c = Conn::open(s.addr);
    for cfg in &cfgs {
        cfg.publish(&mut c);
    }
    // An update keeps only the last content; a delete stays deleted.
    let mut updated = Cfg::new("updated.properties", DG, "", "v=1\n".into(), "properties");
    updated.publish(&mut c);
    updated.content = "v=2\n".into();
    updated.publish(&mut c);
    cfgs.push(updated);
    publish_ok(s.addr, "deleted.properties", DG, "", "gone");
    let r = common::delete_config(s.addr, "deleted.properties", DG, "");
    assert_eq!(lossy(&r.body), "true");
    for cfg in &cfgs {
        cfg.verify(&mut c, "before restart");
    }
    drop(c);
    assert_exit_0(&mut s);

    let s = Server::start_in(&dir, &[]);
    let mut c = Conn::open(s.addr);
    for cfg in &cfgs {
        cfg.verify(&mut c, "after restart");
    }
    let r = c.roundtrip(&get_req("deleted.properties", DG, ""));
    assert_eq!(
        (r.status, lossy(&r.body).as_str()),
        (404, "config data not exist\n"),
        "deleted config after restart"
    );
    // The listener's md5 state was reloaded too.
    let current: String = cfgs
        .iter()
        .map(|c| c.record(&md5_hex(&c.content)))
        .collect();
    let r = no_hangup(s.addr, &current, "current md5s after restart");
    assert_eq!(
        (r.status, lossy(&r.body).as_str()),
        (200, ""),
        "every md5 current after restart"
    );
    let stale = cfgs[1].record(&md5_hex("k: old\n"));
    let r = no_hangup(s.addr, &stale, "a stale md5 after restart");
    assert_eq!(
        lossy(&r.body),
        "tenant.yaml%02APP_GROUP%02dev%01\n",
        "stale md5 after restart"
    );
    drop(s);
    drop(tmp);
}

/// Shared record of what the publishing workers saw.
#[derive(Default)]
struct Ledger {
    /// (dataId, tenant, content) of every publish answered `true`.
    acked: Vec<(String, String, String)>,
    /// Per worker: last acknowledged and in-flight content of its update key.
    latest: Vec<(Option<String>, Option<String>)>,
    /// Replies other than `200 true` before the kill.
    rejected: Vec<String>,
}

/// One request on `c`; `Err` once the server is gone.
fn call(c: &mut Conn, req: &[u8]) -> std::io::Result<Response> {
    c.stream().write_all(req)?;
    c.try_read_response()
}

#[test]
fn kill9_keeps_every_acknowledged_publish() {
    let mut s = Server::start();
    let tmp = s.take_tmp().expect("temp dir");
    let dir = s.data_dir.clone();
    let addr = s.addr;
    const WORKERS: usize = 8;
    let ledger = Arc::new(Mutex::new(Ledger {
        latest: vec![(None, None); WORKERS],
        ..Ledger::default()
    }));
    let killed = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let ledger = Arc::clone(&ledger);
            let killed = Arc::clone(&killed);
            std::thread::spawn(move || {
                let mut c = Conn::open(addr);
                c.set_read_timeout(Duration::from_secs(10));
                let tenant = if w % 2 == 0 { "" } else { "dev" };
                let update_id = format!("k9-latest-w{w}");
                for seq in 0.. {
                    let id = format!("k9-w{w}-{seq:05}");
                    let content = format!("worker {w} seq {seq} 内容\n{}", "x".repeat(seq % 300));
                    let req = publish_req(&[
                        ("dataId", &id),
                        ("group", DG),
                        ("tenant", tenant),
                        ("content", &content),
                    ]);
                    match call(&mut c, &req) {
                        Ok(r) if r.status == 200 && r.body == b"true" => {
                            ledger
                                .lock()
                                .unwrap()
                                .acked
                                .push((id, tenant.to_string(), content));
                        }
                        Ok(r) => {
                            if !killed.load(Ordering::SeqCst) {
                                ledger.lock().unwrap().rejected.push(format!(
                                    "{id}: {} {:?}",
                                    r.status,
                                    lossy(&r.body)
                                ));
                            }
                            return;
                        }
                        Err(_) => return,
                    }
                    let v = format!("w{w} version {seq}");
                    ledger.lock().unwrap().latest[w].1 = Some(v.clone());
                    let req =
                        publish_req(&[("dataId", &update_id), ("group", DG), ("content", &v)]);
                    match call(&mut c, &req) {
                        Ok(r) if r.status == 200 && r.body == b"true" => {
                            ledger.lock().unwrap().latest[w] = (Some(v), None);
                        }
                        Ok(r) => {
                            if !killed.load(Ordering::SeqCst) {
                                ledger.lock().unwrap().rejected.push(format!(
                                    "{update_id}: {} {:?}",
                                    r.status,
                                    lossy(&r.body)
                                ));
                            }
                            return;
                        }
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();

    // Kill in the middle of the stream of publishes, at a point that varies
    // from run to run (set `KILL_AFTER` to replay one).
    let kill_after = std::env::var("KILL_AFTER")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            50 + std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos() as usize
                % 250
        });
    println!(
        "kill -9 after {kill_after} acknowledged publishes (replay with KILL_AFTER={kill_after})"
    );
    let t = Instant::now();
    while ledger.lock().unwrap().acked.len() < kill_after && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(10));
    }
    killed.store(true, Ordering::SeqCst);
    s.kill9();
    for w in workers {
        w.join().expect("worker thread");
    }
    let ledger = Arc::try_unwrap(ledger).ok().unwrap().into_inner().unwrap();
    assert!(
        ledger.rejected.is_empty(),
        "publishes rejected: {:?}",
        ledger.rejected
    );
    assert!(
        ledger.acked.len() >= 20,
        "too few publishes before the kill: {}",
        ledger.acked.len()
    );

    let s = Server::start_in(&dir, &[]);
    let mut c = Conn::open(s.addr);
    for (id, tenant, content) in &ledger.acked {
        let r = c.roundtrip(&get_req(id, DG, tenant));
        assert_eq!(
            r.status, 200,
            "acknowledged publish {id} lost after kill -9"
        );
        assert!(
            r.body == content.as_bytes(),
            "{id}: content {:?}, expected {content:?}",
            lossy(&r.body)
        );
        assert_eq!(
            r.header_exact("Content-MD5"),
            Some(md5_hex(content).as_str())
        );
    }
    for (w, (acked, in_flight)) in ledger.latest.iter().enumerate() {
        let r = c.roundtrip(&get_req(&format!("k9-latest-w{w}"), DG, ""));
        let got = (r.status == 200).then(|| lossy(&r.body));
        assert!(
            (in_flight.is_some() && got == *in_flight) || got == *acked,
            "worker {w}: update key holds {got:?}; last acknowledged {acked:?}, in flight {in_flight:?}"
        );
    }
    // The recovered store takes writes again.
    publish_ok(s.addr, "after-recovery", DG, "", "written");
    let r = c.roundtrip(&get_req("after-recovery", DG, ""));
    assert_eq!((r.status, lossy(&r.body).as_str()), (200, "written"));
    drop(s);
    drop(tmp);
}

#[test]
fn sigterm_and_sigint_answer_parked_polls_commit_and_exit_0() {
    // SIGINT (Ctrl-C) is a graceful stop exactly like SIGTERM.
    for signal in ["TERM", "INT"] {
        let mut s = Server::start();
        let tmp = s.take_tmp().expect("temp dir");
        let dir = s.data_dir.clone();
        publish_ok(s.addr, "parked.properties", DG, "", signal);
        // An idle keep-alive client must not keep the server alive.
        let mut idle = Conn::open(s.addr);
        let r = idle.roundtrip(&get_req("parked.properties", DG, ""));
        assert_eq!(r.status, 200);
        // A hold of 59.5 s: longer than the 30 s `signal` waits for the exit.
        let rec = record("parked.properties", DG, &md5_hex(signal), None);
        let mut c = common::start_poll(s.addr, &rec, "60000");
        common::wait_parked(s.addr, 1, "the poll before the signal");
        c.set_read_timeout(Duration::from_millis(50));
        match c.reader.fill_buf() {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            other => panic!("SIG{signal}: poll not parked before the signal: {other:?}"),
        }
        c.set_read_timeout(Duration::from_secs(10));
        let st = s.signal(signal);
        assert_eq!(st.code(), Some(0), "exit status after SIG{signal}: {st}");
        let r = c.try_read_response().unwrap_or_else(|e| {
            panic!("SIG{signal}: the parked poll got no answer before exit: {e}")
        });
        assert_eq!(r.status, 200, "parked poll answer: {:?}", lossy(&r.body));
        let body = lossy(&r.body);
        assert!(
            body.is_empty() || body == "parked.properties%02DEFAULT_GROUP%01\n",
            "SIG{signal}: parked poll answer body {body:?}"
        );
        let s = Server::start_in(&dir, &[]);
        let r = request(s.addr, &get_req("parked.properties", DG, ""));
        assert_eq!(
            (r.status, lossy(&r.body)),
            (200, signal.to_owned()),
            "after SIG{signal}"
        );
        drop(s);
        drop(tmp);
    }
}

#[test]
fn missing_nested_data_dir_is_created() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("a").join("b").join("c").join("data");
    assert!(!dir.exists());
    let mut s = Server::start_in(&dir, &[]);
    assert!(dir.is_dir(), "data dir created");
    publish_ok(s.addr, "nested", DG, "", "deep");
    assert_exit_0(&mut s);
    let s = Server::start_in(&dir, &[]);
    let r = request(s.addr, &get_req("nested", DG, ""));
    assert_eq!((r.status, lossy(&r.body).as_str()), (200, "deep"));
}
