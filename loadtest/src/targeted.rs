//! The `targeted` scenario: N listeners on distinct keys; each round changes
//! one listener's key and times that listener's wake-up, while every other
//! listener must stay parked.
//!
//! Targets are spread over all listeners (and so over all workers) by a
//! stride coprime with most N. A wake-up of anyone but the current target is
//! spurious, unless it repeats an earlier target's key (a duplicate).

use crate::cli::TargetedArgs;
use crate::clock::mono_ns;
use crate::ctx::{merge_reports, report_server, Ctx, Shape};
use crate::hist::Hist;
use crate::msg::{Command, Event};
use crate::proto::{self, KeyId, KeyKind};
use crate::report::Report;
use anyhow::Result;
use std::collections::HashMap;
use std::time::Instant;

/// Step between consecutive targets (a prime).
const TARGET_STRIDE: u64 = 7919;

struct Rounds {
    /// Current target listener and key, once a round has started.
    target: Option<(u32, KeyId)>,
    t0_ns: u64,
    target_woken: bool,
    /// Versions published per key so far.
    versions: HashMap<KeyId, u64>,
    duplicates: u64,
    spurious: u64,
    hist: Hist,
    /// Target wake-ups per server (listener `c` is on server `c mod S`).
    by_server: Vec<Hist>,
}

impl Rounds {
    fn on_event(&mut self, ev: Event) {
        let Event::Wake { conn, key, t_ns } = ev else {
            return;
        };
        if self.target == Some((conn, key)) {
            if self.target_woken {
                self.duplicates += 1;
            } else {
                self.target_woken = true;
                self.hist.record_between_ns(self.t0_ns, t_ns);
                let servers = self.by_server.len();
                self.by_server[conn as usize % servers].record_between_ns(self.t0_ns, t_ns);
            }
        } else if self.versions.contains_key(&key) && key.idx == conn {
            self.duplicates += 1;
        } else {
            self.spurious += 1;
        }
    }
}

pub fn run(ctx: &mut Ctx, a: &TargetedArgs) -> Result<Report> {
    let n = a.conns.max(1);
    let shape = Shape {
        listeners: n,
        own_keys: 1,
        get_after_wake: !a.no_get && !a.sse,
        sse: a.sse,
        grpc: a.grpc,
        report_wakes: true,
        ..Shape::default()
    };
    if a.sse {
        crate::ctx::require_watch(ctx)?;
    }
    if a.grpc {
        crate::ctx::require_grpc(ctx)?;
    }
    let plans = ctx.plans(&shape);
    let open: Vec<u32> = plans.iter().map(|p| p.listeners).collect();
    let rss_before = ctx.sample_server()?;
    let mut fleet = ctx.fleet(&plans)?;
    let mut st = Rounds {
        target: None,
        t0_ns: 0,
        target_woken: false,
        versions: HashMap::new(),
        duplicates: 0,
        spurious: 0,
        hist: Hist::new(),
        by_server: vec![Hist::new(); ctx.common.servers.len()],
    };
    let start = Instant::now();
    let ramped = fleet.wait_parked(
        ctx.deadline.within(ctx.common.ramp_timeout),
        &open,
        &mut |_, ev| st.on_event(ev),
    )?;
    let ramp_s = start.elapsed().as_secs_f64();
    let cpu_parked = ctx.sample_server()?;
    let mut publish_hist = Hist::new();
    let (mut lost, mut rounds_done) = (0u64, 0u32);
    let mut failure = None;
    let rounds = if ramped { a.rounds } else { 0 };
    for r in 0..rounds {
        let conn = ((u64::from(r) * TARGET_STRIDE + 17) % u64::from(n)) as u32;
        let key = KeyId::new(KeyKind::Own, conn);
        let version = st.versions.get(&key).copied().unwrap_or(0) + 1;
        fleet.broadcast(&Command::Version(key, version))?;
        if !fleet.wait_parked(ctx.deadline.within(a.round_timeout), &open, &mut |_, ev| {
            st.on_event(ev)
        })? {
            failure = Some(format!("listeners not all parked before round {}", r + 1));
            break;
        }
        st.versions.insert(key, version);
        st.target = Some((conn, key));
        st.target_woken = false;
        let content = proto::versioned_content(&ctx.space, key, version, ctx.common.content_bytes);
        st.t0_ns = mono_ns();
        ctx.publish(key, &content)?;
        publish_hist.record_between_ns(st.t0_ns, mono_ns());
        let until = ctx.deadline.within(a.round_timeout);
        while !st.target_woken {
            match fleet.recv(until)? {
                Some((_, ev)) => st.on_event(ev),
                None => break,
            }
        }
        if !st.target_woken {
            lost += 1;
        }
        rounds_done += 1;
        if rounds_done % 10 == 0 || rounds_done == rounds {
            let s = st.hist.summary();
            ctx.progress(format!(
                "targeted round {rounds_done}/{rounds}: p50 {:.2} ms p99 {:.2} ms lost {lost} spurious {} dup {}",
                s.p50_ms, s.p99_ms, st.spurious, st.duplicates
            ));
        }
        if ctx.deadline.expired() {
            failure = Some("global deadline reached".into());
            break;
        }
    }
    // Late wake-ups of anyone show up in this quiet time.
    let gap_until = ctx.deadline.within(a.gap);
    while let Some((_, ev)) = fleet.recv(gap_until)? {
        st.on_event(ev);
    }
    let still_parked =
        fleet.wait_parked(ctx.deadline.within(a.round_timeout), &open, &mut |_, ev| {
            st.on_event(ev)
        })?;
    let cpu_after = ctx.sample_server()?;
    let reports = fleet.stop()?;
    let (counters, ..) = merge_reports(ctx, &reports);

    let mut rep = Report::new("targeted");
    ctx.report_common(&mut rep);
    ctx.report_listening(&mut rep, a.sse, a.grpc, crate::sse::WatchScope::Keys);
    rep.count("conns", "listeners (distinct keys)", u64::from(n));
    rep.text(
        "get_after_wake",
        if a.grpc {
            "query and listen again after wake-up"
        } else {
            "GET after wake-up"
        },
        if a.no_get || a.sse { "no" } else { "yes" },
    );
    rep.num(
        "ramp_s",
        "time to park all, s",
        (ramp_s * 1000.0).round() / 1000.0,
    );
    rep.count("rounds", "rounds completed", u64::from(rounds_done));
    rep.latency("wake", "publish-to-wake latency", &st.hist.summary());
    rep.hist("wake", "publish-to-wake latency", &st.hist);
    if st.by_server.len() > 1 {
        for (i, h) in st.by_server.iter().enumerate() {
            let server = ctx.common.servers[i];
            let key = format!("wake_server{i}");
            rep.latency(&key, &format!("  targets on {server}"), &h.summary());
            rep.hist(&key, &format!("wake-up, targets on {server}"), h);
        }
    }
    rep.latency("publish", "publish latency", &publish_hist.summary());
    rep.hist("publish", "publish latency", &publish_hist);
    rep.count("lost_wakeups", "lost wake-ups", lost);
    rep.count("duplicate_wakeups", "duplicate wake-ups", st.duplicates);
    rep.count(
        "spurious_wakeups",
        "spurious wake-ups (non-targets)",
        st.spurious,
    );
    rep.text(
        "all_parked_at_end",
        "all parked at end",
        if still_parked { "yes" } else { "no" },
    );
    ctx.report_counters(&mut rep, &counters);
    report_server(&mut rep, rss_before, cpu_after);
    if let (Some(p), Some(af)) = (cpu_parked, cpu_after) {
        let wakes = st.hist.count().max(1);
        rep.num(
            "server_cpu_us_per_wake",
            "server CPU µs per wake-up",
            ((af.cpu_us - p.cpu_us) as f64 / wakes as f64).round(),
        );
    }
    rep.num(
        "elapsed_s",
        "elapsed s",
        (ctx.elapsed_s() * 10.0).round() / 10.0,
    );
    rep.check(ramped, "not all listeners parked within the ramp timeout");
    rep.check(
        rounds_done == a.rounds,
        format!("{rounds_done} of {} rounds completed", a.rounds),
    );
    if let Some(f) = failure {
        rep.check(false, f);
    }
    rep.check(lost == 0, format!("{lost} lost wake-ups"));
    rep.check(
        st.duplicates == 0,
        format!("{} duplicate wake-ups", st.duplicates),
    );
    rep.check(
        st.spurious == 0,
        format!("{} spurious wake-ups", st.spurious),
    );
    rep.check(still_parked, "not all listeners parked at the end");
    Ok(rep)
}
