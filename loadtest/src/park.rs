//! The `park` scenario: open N long-polling connections and hold them.
//!
//! Measures how many stay parked over the run, how fast they were all parked,
//! and with `--server-pid` what each parked connection costs the server in
//! RSS. Nothing is published, so every wake-up is spurious.

use crate::cli::ParkArgs;
use crate::ctx::{merge_reports, report_rss_per_conn, report_server, Ctx, Shape};
use crate::msg::Event;
use crate::report::Report;
use anyhow::Result;
use std::time::{Duration, Instant};

pub fn run(ctx: &mut Ctx, a: &ParkArgs) -> Result<Report> {
    let shape = Shape {
        listeners: a.conns,
        own_keys: a.keys,
        hot: a.shared,
        get_after_wake: !a.sse,
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
    let before = ctx.sample_server()?;
    let mut fleet = ctx.fleet(&plans)?;
    let start = Instant::now();
    let end = ctx.deadline.0.min(start + a.duration);
    let spurious = std::cell::Cell::new(0u64);
    let on_event = |_: usize, ev: Event| {
        if let Event::Wake { .. } = ev {
            spurious.set(spurious.get() + 1);
        }
    };
    let mut on_event = on_event;
    let ramped = fleet.wait_parked(
        end.min(ctx.deadline.within(ctx.common.ramp_timeout)),
        &open,
        &mut on_event,
    )?;
    let ramp_s = start.elapsed().as_secs_f64();
    let (held_sample, held_from) = (ctx.sample_server()?, Instant::now());
    let parked_after_ramp = fleet.totals().parked;
    let mut min_parked = parked_after_ramp;
    let mut tick = Instant::now();
    while Instant::now() < end {
        let until = end.min(Instant::now() + Duration::from_millis(200));
        while let Some((w, ev)) = fleet.recv(until)? {
            on_event(w, ev);
        }
        let t = fleet.totals();
        if ramped {
            min_parked = min_parked.min(t.parked);
        }
        if tick.elapsed() >= Duration::from_millis(200) {
            tick = Instant::now();
            let left = end.saturating_duration_since(Instant::now()).as_secs();
            ctx.progress(format!(
                "park: open {} parked {}/{} errors {} spurious {} ({left}s left)",
                t.open,
                t.parked,
                a.conns,
                t.errors,
                spurious.get()
            ));
        }
    }
    let census = fleet.census(ctx.deadline.within(Duration::from_secs(10)), &mut on_event)?;
    let parked_end: u64 = census
        .as_ref()
        .map(|c| c.iter().map(|s| s.parked).sum())
        .unwrap_or(0);
    let after = ctx.sample_server()?;
    let held_s = held_from.elapsed().as_secs_f64();
    let by_server = census.map(|_| fleet.totals().parked_by_server);
    let reports = fleet.stop()?;
    let spurious = spurious.get();
    let (counters, ..) = merge_reports(ctx, &reports);

    let mut rep = Report::new("park");
    ctx.report_common(&mut rep);
    ctx.report_listening(&mut rep, a.sse, a.grpc, a.watch);
    rep.count("conns", "listener connections", u64::from(a.conns));
    rep.count(
        "keys_per_conn",
        "keys per connection",
        u64::from(a.keys + u32::from(a.shared)),
    );
    rep.text(
        "all_parked",
        "all parked within ramp timeout",
        if ramped { "yes" } else { "no" },
    );
    rep.num(
        "ramp_s",
        "time to park all, s",
        (ramp_s * 1000.0).round() / 1000.0,
    );
    rep.count("parked", "parked at end", parked_end);
    if ctx.common.servers.len() > 1 {
        if let Some(by) = &by_server {
            let shown: Vec<String> = by.iter().map(u64::to_string).collect();
            rep.text(
                "parked_by_server",
                "parked at end per server",
                &shown.join(" / "),
            );
        }
    }
    rep.count("min_parked", "parked, lowest after ramp", min_parked);
    rep.count("polls", "polls sent (gRPC: batch listens)", counters.polls);
    rep.count(
        "hold_expiries",
        "hold expiries (empty replies)",
        counters.hold_expiries,
    );
    rep.count("spurious_wakeups", "spurious wake-ups", spurious);
    ctx.report_counters(&mut rep, &counters);
    report_server(&mut rep, before, after);
    report_rss_per_conn(
        &mut rep,
        "server RSS bytes per parked conn",
        before,
        after,
        parked_end,
    );
    if let (Some(b), Some(af)) = (before, after) {
        let hold_s = end
            .saturating_duration_since(start)
            .as_secs_f64()
            .max(0.001);
        rep.num(
            "server_cpu_ms_per_s",
            "server CPU ms per second",
            (af.cpu_us - b.cpu_us) as f64 / 1000.0 / hold_s,
        );
    }
    if let (Some(h), Some(af), true) = (held_sample, after, ramped && held_s >= 1.0) {
        rep.num(
            "server_idle_cpu_ms_per_s",
            "server CPU ms per second while all held (after the ramp)",
            ((af.cpu_us - h.cpu_us) as f64 / 1000.0 / held_s * 10.0).round() / 10.0,
        );
    }
    rep.num(
        "elapsed_s",
        "elapsed s",
        (ctx.elapsed_s() * 10.0).round() / 10.0,
    );
    rep.check(ramped, "not all connections parked within the ramp timeout");
    rep.check(
        parked_end == u64::from(a.conns),
        format!("{parked_end} of {} parked at end", a.conns),
    );
    rep.check(spurious == 0, format!("{spurious} spurious wake-ups"));
    Ok(rep)
}
