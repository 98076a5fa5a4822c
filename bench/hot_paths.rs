//! Criterion micro-benchmarks of the hot paths, at sizes that show how cost
//! grows: request parsing, `Listening-Configs` decoding (1 to 10,000 keys),
//! md5 comparison, listener-reply encoding, index park / wake / unlink (1 to
//! 100,000 parked), a change's fan-out to polls and streams (1 to 19,000),
//! wheel arm / cancel / expire, and `api::handle` (routing
//! through the route table to an answer).
//!
//! Run: `cargo bench --bench hot_paths` (add `-- park` to filter).

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::sync::Arc;
use vigil::form::Params;
use vigil::http::{self, Limits, Parse};
use vigil::index::{FanOut, Index, Scope, Viewer};
use vigil::model::{Change, Config, Entry};
use vigil::protocol::{self, ClientMd5, Md5Hex};
use vigil::wheel::Wheel;

const LIMITS: Limits = Limits {
    max_request_line_bytes: 32 << 20,
    max_header_bytes: 64 << 10,
    max_body_bytes: 32 << 20,
};

/// A Java 1.4.1-style poll body listening to `n` keys.
fn poll_body(n: usize) -> String {
    let md5 = Md5Hex::of(b"k=v\n");
    let records: String = (0..n)
        .map(|i| {
            format!(
                "app-{i}.properties\u{2}DEFAULT_GROUP\u{2}{}\u{2}dev\u{1}",
                md5.as_str()
            )
        })
        .collect();
    form_urlencoded::Serializer::new(String::new())
        .append_pair("Listening-Configs", &records)
        .finish()
}

fn poll_request(n: usize) -> Vec<u8> {
    let body = poll_body(n);
    let mut r = format!(
        "POST /nacos/v1/cs/configs/listener HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded;charset=UTF-8\r\nLong-Pulling-Timeout: 30000\r\nClient-AppName: unknown\r\nClient-Version: 1.4.1\r\nexConfigInfo: true\r\nAccept-Charset: UTF-8\r\nUser-Agent: Java/1.8.0_282\r\nHost: 127.0.0.1:8848\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body.as_bytes());
    r
}

fn bench_parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("http_parse");
    let get = b"GET /nacos/v1/cs/configs?dataId=app.properties&group=DEFAULT_GROUP&tenant=dev HTTP/1.1\r\nContent-Type: application/json;charset=UTF-8\r\nAccept-Charset: UTF-8\r\nAccept-Encoding: gzip\r\nClient-AppName: unknown\r\nClient-Version: 1.4.1\r\nexConfigInfo: true\r\nUser-Agent: Java/1.8.0_282\r\nHost: 10.0.0.5:8848\r\nConnection: keep-alive\r\n\r\n".to_vec();
    g.throughput(Throughput::Bytes(get.len() as u64));
    g.bench_function("get_config_request", |b| {
        b.iter(|| match http::parse(black_box(&get), &LIMITS) {
            Ok(Parse::Complete(req, _)) => {
                Params::parse(req.query, None).map(|p| p.get("dataId").map(str::len))
            }
            _ => unreachable!(),
        })
    });
    for n in [1usize, 100, 10_000] {
        let raw = poll_request(n);
        g.throughput(Throughput::Bytes(raw.len() as u64));
        g.bench_with_input(BenchmarkId::new("poll_request_keys", n), &raw, |b, raw| {
            b.iter(|| match http::parse(black_box(raw), &LIMITS) {
                Ok(Parse::Complete(req, _)) => req.body.len(),
                _ => unreachable!(),
            })
        });
    }
    g.finish();
}

fn bench_decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("listening_configs_decode");
    for n in [1usize, 10, 100, 1_000, 10_000] {
        let body = poll_body(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &body, |b, body| {
            b.iter(|| {
                let params = Params::parse(b"", Some(black_box(body.as_bytes()))).expect("form");
                protocol::parse_listening_configs(params.get_or_empty("Listening-Configs"), 10_000)
                    .expect("records")
                    .len()
            })
        });
    }
    g.finish();
}

fn config(i: usize, tenant: &str) -> Arc<Config> {
    Arc::new(Config::new(
        i as i64,
        format!("app-{i}.properties"),
        "DEFAULT_GROUP".into(),
        tenant.into(),
        "k=v\n".into(),
        "properties",
        None,
        0,
    ))
}

/// An entry holding just a formal config, and its groupKey.
fn entry(i: usize, tenant: &str) -> (String, Arc<Entry>) {
    let c = config(i, tenant);
    let gk = c.group_key();
    (
        gk,
        Arc::new(Entry {
            formal: Some(c),
            ..Entry::default()
        }),
    )
}

fn bench_compare(c: &mut Criterion) {
    let mut g = c.benchmark_group("md5_compare");
    for n in [1usize, 100, 10_000] {
        let mut index = Index::new();
        for i in 0..n {
            let (gk, e) = entry(i, "dev");
            index.load(&gk, e);
        }
        let body = poll_body(n);
        let params = Params::parse(b"", Some(body.as_bytes())).expect("form");
        let records =
            protocol::parse_listening_configs(params.get_or_empty("Listening-Configs"), 10_000)
                .expect("records");
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &records, |b, records| {
            b.iter(|| {
                records
                    .iter()
                    .filter(|r| {
                        !r.md5
                            .matches(index.config_of(r.group_key()).map(|c| &c.md5))
                    })
                    .count()
            })
        });
    }
    g.bench_function("md5_of_100_bytes", |b| {
        let content = [b'x'; 100];
        b.iter(|| Md5Hex::of(black_box(&content)))
    });
    g.finish();
}

fn bench_encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("reply_encode");
    g.bench_function("one_key_with_tenant", |b| {
        let mut out = Vec::with_capacity(128);
        b.iter(|| {
            out.clear();
            protocol::encode_changed_key(
                &mut out,
                black_box("app.properties"),
                "DEFAULT_GROUP",
                "dev",
            );
            http::write_response(&mut out, 200, vigil::api::changed_keys_head(), b"", false);
            out.len()
        })
    });
    g.finish();
}

fn bench_index(c: &mut Criterion) {
    let mut g = c.benchmark_group("index");
    for parked in [1usize, 1_000, 100_000] {
        // Each poll listens to 3 keys: its own, one of 100 shared, one hot.
        let mut index = Index::new();
        let (gk, e) = entry(0, "");
        index.load(&gk, e);
        let hot = index.intern(&config(0, "").group_key());
        let mut polls = Vec::with_capacity(parked);
        for p in 0..parked {
            let own = index.intern(&format!("own-{p}+G"));
            let shared = index.intern(&format!("shared-{}+G", p % 100));
            polls.push(index.park(
                p as u32,
                "127.0.0.1".into(),
                None,
                vec![
                    (own, ClientMd5::Empty, None),
                    (shared, ClientMd5::Empty, None),
                    (hot, ClientMd5::Empty, None),
                ],
            ));
        }
        // Per-operation benches count one element, so the throughput of
        // the previous size's wake-all does not carry over.
        g.throughput(Throughput::Elements(1));
        g.bench_with_input(
            BenchmarkId::new("park_unpark_3_keys", parked),
            &parked,
            |b, _| {
                b.iter(|| {
                    let own = index.intern("bench-own+G");
                    let shared = index.intern("shared-7+G");
                    let p = index.park(
                        u32::MAX,
                        "127.0.0.1".into(),
                        None,
                        vec![
                            (own, ClientMd5::Empty, None),
                            (shared, ClientMd5::Empty, None),
                            (hot, ClientMd5::Empty, None),
                        ],
                    );
                    index.unsubscribe(p)
                })
            },
        );
        let change = Change {
            seq: 0,
            group_key: "own-0+G".into(),
            entry: None,
        };
        g.bench_with_input(BenchmarkId::new("wake_one_of", parked), &parked, |b, _| {
            // Wake the poll parked on a distinct key and park it again, as
            // its client's immediate re-poll does.
            b.iter(|| {
                let key = index.lookup(&change.group_key).expect("key");
                for p in index.subs_of(key) {
                    let names: Vec<String> = index
                        .sub(p)
                        .expect("parked")
                        .links
                        .iter()
                        .map(|l| index.key_name(l.topic).to_owned())
                        .collect();
                    let conn = index.unsubscribe(p).expect("parked").conn;
                    let keys = names
                        .iter()
                        .map(|n| (index.intern(n), ClientMd5::Empty, None))
                        .collect();
                    index.park(conn, "127.0.0.1".into(), None, keys);
                }
            })
        });
        g.throughput(Throughput::Elements(parked as u64));
        g.bench_with_input(
            BenchmarkId::new("wake_all_on_hot_key", parked),
            &parked,
            |b, _| {
                b.iter_batched_ref(
                    || {
                        let mut ix = Index::new();
                        let (gk, e) = entry(0, "");
                        ix.load(&gk, e);
                        let hot = ix.intern(&config(0, "").group_key());
                        for p in 0..parked {
                            let own = ix.intern(&format!("own-{p}+G"));
                            ix.park(
                                p as u32,
                                "127.0.0.1".into(),
                                None,
                                vec![(own, ClientMd5::Empty, None), (hot, ClientMd5::Empty, None)],
                            );
                        }
                        ix
                    },
                    |ix| {
                        let change = Change {
                            seq: 0,
                            group_key: config(0, "").group_key().into(),
                            entry: Some(entry(0, "").1),
                        };
                        ix.apply(&change).expect("waiters");
                        let key = ix.lookup(&change.group_key).expect("key");
                        for p in ix.subs_of(key) {
                            black_box(ix.unsubscribe(p));
                        }
                    },
                    criterion::BatchSize::LargeInput,
                )
            },
        );
        black_box(polls);
    }
    g.finish();
}

/// `Index::fan_out`: what one change gives its audience, decided and
/// framed but not sent: `n` polls on the changed key (each woken), and `n`
/// streams on its namespace (one event built, shared by all).
fn bench_fan_out(c: &mut Criterion) {
    let mut g = c.benchmark_group("fan_out");
    let auth = vigil::auth::AuthState::default();
    let (gk, old) = entry(0, "");
    let new = Arc::new(Config::new(
        0,
        "app-0.properties".into(),
        "DEFAULT_GROUP".into(),
        "".into(),
        "k=changed\n".into(),
        "properties",
        None,
        1,
    ));
    let change = Change {
        seq: 1,
        group_key: gk.clone().into(),
        entry: Some(Arc::new(Entry {
            formal: Some(new),
            ..Entry::default()
        })),
    };
    let viewer = || Viewer {
        requester: "127.0.0.1".into(),
        vip_tag: None,
        user: None,
    };
    for n in [1usize, 1_000, 19_000] {
        g.throughput(Throughput::Elements(n as u64));
        let mut polls = Index::new();
        polls.load(&gk, old.clone());
        let hot = polls.intern(&gk);
        let held = ClientMd5::Hex(old.formal.as_ref().expect("formal").md5);
        for p in 0..n {
            polls.park(p as u32, "127.0.0.1".into(), None, vec![(hot, held, None)]);
        }
        let before = polls.apply(&change).expect("listened");
        let mut out = FanOut::default();
        g.bench_with_input(BenchmarkId::new("polls_on_the_key", n), &n, |b, _| {
            b.iter(|| {
                polls.fan_out(&change, before.as_deref(), &auth, 0, &mut out);
                out.wakes.len()
            })
        });
        let mut streams = Index::new();
        streams.load(&gk, old.clone());
        for s in 0..n {
            let scope = Scope::Namespace { tenant: "".into() };
            streams.open_stream(s as u32, viewer(), false, scope);
        }
        let before = streams.apply(&change).expect("listened");
        g.bench_with_input(BenchmarkId::new("namespace_streams", n), &n, |b, _| {
            b.iter(|| {
                streams.fan_out(&change, before.as_deref(), &auth, 0, &mut out);
                out.events.len()
            })
        });
    }
    g.finish();
}

fn bench_wheel(c: &mut Criterion) {
    let mut g = c.benchmark_group("wheel");
    for armed in [1usize, 1_000, 100_000] {
        let mut wheel = Wheel::new(0);
        for i in 0..armed {
            wheel.arm(2950 + (i % 100) as u64, i as u32);
        }
        g.throughput(Throughput::Elements(1));
        g.bench_with_input(BenchmarkId::new("arm_cancel", armed), &armed, |b, _| {
            b.iter(|| {
                let t = wheel.arm(black_box(2950), 7);
                wheel.cancel(t)
            })
        });
        g.throughput(Throughput::Elements(armed as u64));
        g.bench_with_input(
            BenchmarkId::new("expire_all", armed),
            &armed,
            |b, &armed| {
                b.iter_batched_ref(
                    || {
                        let mut w = Wheel::new(0);
                        for i in 0..armed {
                            w.arm(2950 + (i % 100) as u64, i as u32);
                        }
                        (w, Vec::with_capacity(armed))
                    },
                    |(w, out)| {
                        for tick in 2950..3050 {
                            w.expire(tick, out);
                        }
                        out.len()
                    },
                    criterion::BatchSize::LargeInput,
                )
            },
        );
    }
    g.finish();
}

/// `api::handle` from a parsed request to its `Action`: a GET hit (the
/// table's first route), an up-to-date one-key poll (parks), a probe near
/// the table's end and an unknown path (the whole table scanned, then 404).
fn bench_api(c: &mut Criterion) {
    use clap::Parser;
    let mut index = Index::new();
    let (gk, e) = entry(0, "dev");
    index.load(&gk, e);
    let settings = vigil::settings::Settings::parse_from(["vigil"]);
    let metrics = vigil::metrics::Metrics::new(1);
    let ctx = vigil::api::Ctx {
        index: &index,
        settings: &settings,
        metrics: &metrics,
        peer: std::net::IpAddr::from([127, 0, 0, 1]),
        auth: None,
    };
    let get = |path: &str| format!("GET /nacos{path} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes();
    let requests = [
        (
            "get_config_hit",
            get("/v1/cs/configs?dataId=app-0.properties&group=DEFAULT_GROUP&tenant=dev"),
        ),
        ("poll_one_key_parks", poll_request(1)),
        ("cs_health", get("/v1/cs/health")),
        ("unknown_path_404", get("/v1/cs/nothing")),
    ];
    let mut g = c.benchmark_group("api_handle");
    for (name, raw) in &requests {
        let Ok(Parse::Complete(req, _)) = http::parse(raw, &LIMITS) else {
            unreachable!("{name} parses")
        };
        g.bench_function(*name, |b| {
            b.iter(|| std::mem::discriminant(&vigil::api::handle(black_box(&req), &ctx)))
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    bench_parse,
    bench_decode,
    bench_compare,
    bench_encode,
    bench_index,
    bench_fan_out,
    bench_wheel,
    bench_api
);
criterion_main!(benches);
