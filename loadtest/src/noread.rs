//! The `noread` scenario: clients that send but never read.
//!
//! N connections each pipeline M GETs of one S-byte config and never read a
//! byte of the answers, so every answer the server produces for them can only
//! pile up in the server (or in kernel socket buffers). Meanwhile one
//! well-behaved client GETs a small config in a loop and records each
//! latency. The figures: the server's RSS growth over its own baseline (peak
//! and at the end, with `--server-pid`) and the well-behaved client's latency.
//!
//! The scenario measures and does not judge: its only checks are that the
//! setup worked (the configs were published, the connections opened).

use crate::cli::NoreadArgs;
use crate::client::Client;
use crate::clock::mono_ns;
use crate::ctx::{report_server, Ctx};
use crate::hist::Hist;
use crate::proto::{self, KeyId, KeyKind};
use crate::report::Report;
use anyhow::{Context, Result};
use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Pause when no connection could take another byte.
const IDLE_PAUSE: Duration = Duration::from_millis(5);
/// How often the server's RSS is sampled for its peak.
const RSS_EVERY: Duration = Duration::from_millis(200);

/// One non-reading connection and how much of its requests it has sent.
struct Pipe {
    stream: Option<TcpStream>,
    sent: usize,
}

pub fn run(ctx: &mut Ctx, a: &NoreadArgs) -> Result<Report> {
    let big = KeyId::new(KeyKind::Get, 0);
    let small = KeyId::new(KeyKind::Get, 1);
    ctx.progress(format!("publishing a {} byte config", a.size));
    ctx.publish(big, &proto::versioned_content(&ctx.space, big, 1, a.size))?;
    ctx.publish(
        small,
        &proto::versioned_content(&ctx.space, small, 1, ctx.common.content_bytes),
    )?;
    let servers = ctx.common.servers.clone();
    let mut requests = Vec::new();
    for s in &servers {
        let mut one = Vec::new();
        proto::get_request(&s.to_string(), &ctx.space, big, &mut one);
        requests.push(one.repeat(a.gets as usize));
    }
    let baseline = ctx.sample_server()?;
    let timeout = Duration::from_millis(ctx.common.request_timeout_ms);
    let mut pipes = Vec::new();
    for i in 0..a.conns as usize {
        let server = servers[i % servers.len()];
        let s = TcpStream::connect_timeout(&server, timeout)
            .with_context(|| format!("opening non-reading connection {i} to {server}"))?;
        s.set_nonblocking(true)?;
        pipes.push(Pipe {
            stream: Some(s),
            sent: 0,
        });
    }

    // The well-behaved client, on a thread of its own so it is never held up by the pipes.
    let stop = Arc::new(AtomicBool::new(false));
    let good = {
        let stop = stop.clone();
        let (space, server) = (ctx.space.clone(), ctx.publish_to);
        std::thread::spawn(move || {
            let mut client = Client::new(server, &server.to_string(), timeout);
            let (mut hist, mut errors, mut sample) = (Hist::new(), 0u64, None);
            while !stop.load(Ordering::Relaxed) {
                let t0 = mono_ns();
                match client.get(&space, small) {
                    Ok(r) if r.status == 200 => hist.record_between_ns(t0, mono_ns()),
                    Ok(r) => {
                        errors += 1;
                        sample.get_or_insert(format!("GET answered {}", r.status));
                    }
                    Err(e) => {
                        errors += 1;
                        sample.get_or_insert(format!("{e:#}"));
                    }
                }
            }
            (hist, errors, sample)
        })
    };

    let start = Instant::now();
    let end = ctx.deadline.0.min(start + a.duration);
    let (mut peak, mut last_rss) = (baseline, Instant::now());
    let mut write_errors = 0u64;
    while Instant::now() < end {
        let mut progressed = false;
        for (i, p) in pipes.iter_mut().enumerate() {
            let req = &requests[i % servers.len()];
            let Some(s) = p.stream.as_mut() else { continue };
            while p.sent < req.len() {
                match s.write(&req[p.sent..]) {
                    Ok(0) => break,
                    Ok(n) => {
                        p.sent += n;
                        progressed = true;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => {
                        // The server closed it: that is one way of bounding it.
                        write_errors += 1;
                        p.stream = None;
                        break;
                    }
                }
            }
        }
        if last_rss.elapsed() >= RSS_EVERY {
            last_rss = Instant::now();
            if let (Some(now), Some(max)) = (ctx.sample_server()?, peak.as_mut()) {
                if now.rss_bytes > max.rss_bytes {
                    *max = now;
                }
            }
            let sent: usize = pipes.iter().map(|p| p.sent).sum();
            let total: usize = requests[0].len() * pipes.len();
            let rss = peak.map_or(String::new(), |p| {
                format!(" peak RSS {:.0} MiB", p.rss_bytes as f64 / 1048576.0)
            });
            ctx.progress(format!(
                "noread: {:.1}/{:.1} MiB of requests sent by {} non-readers{rss} ({}s left)",
                sent as f64 / 1048576.0,
                total as f64 / 1048576.0,
                pipes.len(),
                end.saturating_duration_since(Instant::now()).as_secs()
            ));
        }
        if !progressed {
            std::thread::sleep(IDLE_PAUSE);
        }
    }
    let at_end = ctx.sample_server()?;
    stop.store(true, Ordering::Relaxed);
    let (hist, good_errors, good_sample) = good
        .join()
        .map_err(|_| anyhow::anyhow!("the well-behaved client panicked"))?;
    let request_len = requests[0].len() / a.gets.max(1) as usize;
    let gets_sent: u64 = pipes
        .iter()
        .map(|p| (p.sent / request_len.max(1)) as u64)
        .sum();
    let still_open = pipes.iter().filter(|p| p.stream.is_some()).count() as u64;
    drop(pipes);

    let mut rep = Report::new("noread");
    ctx.report_common(&mut rep);
    rep.count("conns", "non-reading connections", u64::from(a.conns));
    rep.count(
        "gets_per_conn",
        "GETs pipelined per connection",
        u64::from(a.gets),
    );
    rep.count("config_bytes", "config size, bytes", a.size as u64);
    rep.count("gets_sent", "GETs fully sent (all connections)", gets_sent);
    rep.count(
        "closed_by_server",
        "non-readers closed by the server",
        u64::from(a.conns) - still_open,
    );
    rep.count("write_errors", "write errors on non-readers", write_errors);
    rep.latency("good_get", "well-behaved GET latency", &hist.summary());
    rep.hist("good_get", "well-behaved GET latency", &hist);
    rep.count("good_errors", "well-behaved GET errors", good_errors);
    if let Some(e) = good_sample {
        rep.row("  first error", e);
    }
    report_server(&mut rep, baseline, at_end);
    if let (Some(b), Some(p), Some(e)) = (baseline, peak, at_end) {
        let mib = |x: u64, y: u64| (x as f64 - y as f64) / 1048576.0;
        rep.num(
            "rss_growth_peak_mib",
            "server RSS growth over baseline, peak, MiB",
            (mib(p.rss_bytes.max(e.rss_bytes), b.rss_bytes) * 10.0).round() / 10.0,
        );
        rep.num(
            "rss_growth_end_mib",
            "server RSS growth over baseline, at end, MiB",
            (mib(e.rss_bytes, b.rss_bytes) * 10.0).round() / 10.0,
        );
        rep.num(
            "rss_growth_per_conn_mib",
            "  per non-reading connection, MiB",
            (mib(p.rss_bytes.max(e.rss_bytes), b.rss_bytes) / f64::from(a.conns.max(1)) * 100.0)
                .round()
                / 100.0,
        );
    } else {
        rep.row(
            "server RSS growth",
            "not measured: give --server-pid".into(),
        );
        rep.json_only("rss_growth_peak_mib", serde_json::Value::Null);
    }
    rep.num(
        "elapsed_s",
        "elapsed s",
        (ctx.elapsed_s() * 10.0).round() / 10.0,
    );
    Ok(rep)
}
