//! The `fanout` scenario: N listeners on one hot key, R publishes of it.
//!
//! Per round the coordinator announces the new version to the workers (a
//! census barrier makes sure every worker knows it and every listener is
//! parked), reads the clock, publishes, and then times each listener's
//! wake-up against that instant. A listener woken twice in a round is a
//! duplicate; one not woken within the round timeout is lost; a wake-up for
//! another key, or outside any round, is spurious.

use crate::cli::FanoutArgs;
use crate::clock::mono_ns;
use crate::ctx::{merge_reports, report_rss_per_conn, report_server, Ctx, Shape};
use crate::hist::Hist;
use crate::msg::{Command, Event};
use crate::proto::{self, KeyId, KeyKind};
use crate::report::Report;
use anyhow::Result;
use serde_json::json;
use std::time::Instant;

/// Wake-up bookkeeping across rounds.
struct Rounds {
    hot: KeyId,
    /// The round in progress (0: none yet).
    round: u32,
    t0_ns: u64,
    /// The last round in which each listener woke.
    woke_in: Vec<u32>,
    woken: u64,
    duplicates: u64,
    spurious: u64,
    hist: Hist,
    /// This round's wake-ups per server (listener `c` is on server `c mod S`).
    by_server: Vec<Hist>,
}

impl Rounds {
    fn on_event(&mut self, ev: Event) {
        let Event::Wake { conn, key, t_ns } = ev else {
            return;
        };
        let Some(slot) = self.woke_in.get_mut(conn as usize) else {
            self.spurious += 1;
            return;
        };
        if key != self.hot || self.round == 0 {
            self.spurious += 1;
        } else if *slot == self.round {
            self.duplicates += 1;
        } else {
            *slot = self.round;
            self.woken += 1;
            self.hist.record_between_ns(self.t0_ns, t_ns);
            let servers = self.by_server.len();
            self.by_server[conn as usize % servers].record_between_ns(self.t0_ns, t_ns);
        }
    }
}

pub fn run(ctx: &mut Ctx, a: &FanoutArgs) -> Result<Report> {
    let n = a.conns;
    let servers = ctx.common.servers.len();
    let shape = Shape {
        listeners: n,
        own_keys: a.extra_keys,
        hot: true,
        get_after_wake: !a.no_get && !a.sse,
        sse: a.sse,
        grpc: a.grpc,
        watch: a.watch,
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
    let hot = KeyId::new(KeyKind::Hot, 0);
    let mut st = Rounds {
        hot,
        round: 0,
        t0_ns: 0,
        woke_in: vec![0; n as usize],
        woken: 0,
        duplicates: 0,
        spurious: 0,
        hist: Hist::new(),
        by_server: vec![Hist::new(); servers],
    };
    let start = Instant::now();
    let ramped = fleet.wait_parked(
        ctx.deadline.within(ctx.common.ramp_timeout),
        &open,
        &mut |_, ev| st.on_event(ev),
    )?;
    let ramp_s = start.elapsed().as_secs_f64();
    let rss_parked = ctx.sample_server()?;
    let mut all = Hist::new();
    let mut all_by_server = vec![Hist::new(); servers];
    let mut rounds_json = Vec::new();
    let (mut lost_total, mut dup_total) = (0u64, 0u64);
    let mut rounds_done = 0u32;
    let mut publish_hist = Hist::new();
    let mut failure = None;
    for r in 1..=a.rounds.min(if ramped { u32::MAX } else { 0 }) {
        fleet.broadcast(&Command::Version(hot, u64::from(r)))?;
        if !fleet.wait_parked(ctx.deadline.within(a.round_timeout), &open, &mut |_, ev| {
            st.on_event(ev)
        })? {
            failure = Some(format!("listeners not all parked again before round {r}"));
            break;
        }
        let dup_before = st.duplicates;
        st.round = r;
        st.woken = 0;
        st.hist = Hist::new();
        st.by_server = vec![Hist::new(); servers];
        let content =
            proto::versioned_content(&ctx.space, hot, u64::from(r), ctx.common.content_bytes);
        st.t0_ns = mono_ns();
        ctx.publish(hot, &content)?;
        let publish_ns = mono_ns() - st.t0_ns;
        publish_hist.record_us(publish_ns / 1000);
        let until = ctx.deadline.within(a.round_timeout);
        while st.woken < u64::from(n) {
            match fleet.recv(until)? {
                Some((_, ev)) => st.on_event(ev),
                None => break,
            }
        }
        let gap_until = ctx.deadline.within(a.gap);
        while let Some((_, ev)) = fleet.recv(gap_until)? {
            st.on_event(ev);
        }
        let lost = u64::from(n) - st.woken;
        let dups = st.duplicates - dup_before;
        let s = st.hist.summary();
        lost_total += lost;
        dup_total += dups;
        all.merge(&st.hist);
        for (sum, h) in all_by_server.iter_mut().zip(&st.by_server) {
            sum.merge(h);
        }
        rounds_done += 1;
        let all_woken_ms = (lost == 0).then_some(s.max_ms);
        let server_max: Vec<f64> = st.by_server.iter().map(|h| h.summary().max_ms).collect();
        rounds_json.push(json!({
            "round": r, "woken": st.woken, "lost": lost, "duplicates": dups,
            "publish_ms": publish_ns as f64 / 1e6, "p50_ms": s.p50_ms, "p99_ms": s.p99_ms,
            "max_ms": s.max_ms, "all_woken_ms": all_woken_ms,
            "last_wake_ms_by_server": server_max, "wake_hist": st.hist.to_pairs(),
        }));
        ctx.progress(format!(
            "fanout round {r}/{}: woken {}/{n} p50 {:.2} ms p99 {:.2} ms all {} lost {lost} dup {dups}",
            a.rounds,
            st.woken,
            s.p50_ms,
            s.p99_ms,
            all_woken_ms.map_or("-".into(), |m| format!("{m:.1} ms"))
        ));
        ctx.progress.suspend(|| {
            eprintln!(
                "round {r}: woken {}/{n}  p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms  publish {:.3} ms  lost {lost}  dup {dups}",
                st.woken,
                s.p50_ms,
                s.p99_ms,
                s.max_ms,
                publish_ns as f64 / 1e6
            )
        });
        if ctx.deadline.expired() {
            failure = Some("global deadline reached".into());
            break;
        }
    }
    let rss_after = ctx.sample_server()?;
    let reports = fleet.stop()?;
    let (counters, ..) = merge_reports(ctx, &reports);

    let mut rep = Report::new("fanout");
    ctx.report_common(&mut rep);
    ctx.report_listening(&mut rep, a.sse, a.grpc, a.watch);
    rep.count("conns", "listeners on the hot key", u64::from(n));
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
    rep.latency("wake", "publish-to-wake latency", &all.summary());
    rep.hist("wake", "publish-to-wake latency", &all);
    if servers > 1 {
        for (i, h) in all_by_server.iter().enumerate() {
            let server = ctx.common.servers[i];
            rep.latency(
                &format!("wake_server{i}"),
                &format!("  listeners on {server}"),
                &h.summary(),
            );
            rep.hist(
                &format!("wake_server{i}"),
                &format!("wake-up, listeners on {server}"),
                h,
            );
        }
    }
    rep.latency("publish", "publish latency", &publish_hist.summary());
    rep.hist("publish", "publish latency", &publish_hist);
    let worst_all = rounds_json
        .iter()
        .filter_map(|r| r["all_woken_ms"].as_f64())
        .fold(0.0, f64::max);
    rep.num(
        "worst_all_woken_ms",
        if servers > 1 {
            "worst time until all woke on every server, ms"
        } else {
            "worst time until all woke, ms"
        },
        worst_all,
    );
    rep.count("lost_wakeups", "lost wake-ups", lost_total);
    rep.count("duplicate_wakeups", "duplicate wake-ups", dup_total);
    rep.count("spurious_wakeups", "spurious wake-ups", st.spurious);
    rep.json_only("per_round", json!(rounds_json));
    ctx.report_counters(&mut rep, &counters);
    report_server(&mut rep, rss_before, rss_after);
    report_rss_per_conn(
        &mut rep,
        "server RSS bytes per parked conn",
        rss_before,
        rss_parked,
        u64::from(n),
    );
    if let (Some(p), Some(af)) = (rss_parked, rss_after) {
        let wakes = all.count().max(1);
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
    rep.check(lost_total == 0, format!("{lost_total} lost wake-ups"));
    rep.check(dup_total == 0, format!("{dup_total} duplicate wake-ups"));
    rep.check(
        st.spurious == 0,
        format!("{} spurious wake-ups", st.spurious),
    );
    Ok(rep)
}
