//! The request-loop scenarios: `get`, `publish`, and `mixed`.
//!
//! All three open their connections first, then tell the workers to start,
//! measure for `--duration`, tell them to quiesce, and collect latency
//! histograms and counters from the workers' final reports. `mixed` adds
//! parked listeners whose keys the publishers change, and checks afterwards
//! that every listener caught up with the last acknowledged publish of its key.

use crate::cli::{LoopArgs, MixedArgs};
use crate::ctx::{merge_reports, report_rss_per_conn, report_server, Ctx, Shape};
use crate::fleet::Fleet;
use crate::msg::{Command, Event};
use crate::report::Report;
use anyhow::Result;
use std::time::{Duration, Instant};

/// Which request loop.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Get,
    Publish,
}

pub fn run_loop(ctx: &mut Ctx, a: &LoopArgs, kind: Kind) -> Result<Report> {
    let name = if kind == Kind::Get { "get" } else { "publish" };
    let shape = match kind {
        Kind::Get => Shape {
            getters: a.conns,
            get_keys: a.keys.max(1),
            ..Shape::default()
        },
        Kind::Publish => Shape {
            publishers: a.conns,
            ..Shape::default()
        },
    };
    if kind == Kind::Get {
        ctx.progress(format!("publishing {} keys to read", a.keys.max(1)));
        ctx.seed_get_keys(a.keys.max(1))?;
    }
    let plans = ctx.plans(&shape);
    let open: Vec<u32> = plans.iter().map(|p| p.getters + p.publishers).collect();
    let mut fleet = ctx.fleet(&plans)?;
    let ramped = fleet.wait_parked(
        ctx.deadline.within(ctx.common.ramp_timeout),
        &open,
        &mut |_, _| {},
    )?;
    let (elapsed, before, after) = if ramped {
        measure(ctx, &mut fleet, a.duration, name)?
    } else {
        (0.0, None, None)
    };
    let reports = fleet.stop()?;
    let (counters, get, publish, ..) = merge_reports(ctx, &reports);

    let mut rep = Report::new(name);
    ctx.report_common(&mut rep);
    rep.count("conns", "connections", u64::from(a.conns));
    rep.num(
        "duration_s",
        "measured s",
        (elapsed * 1000.0).round() / 1000.0,
    );
    let secs = elapsed.max(1e-9);
    match kind {
        Kind::Get => {
            rep.count("keys", "keys read", u64::from(a.keys.max(1)));
            rep.count("ok", "GET 200", counters.get_ok);
            rep.count("not_found", "GET 404", counters.get_not_found);
            rep.num(
                "rate_per_s",
                "GET rate /s",
                (counters.get_ok as f64 / secs).round(),
            );
            rep.latency("latency", "GET latency", &get.summary());
            rep.hist("latency", "GET latency", &get);
            rep.check(
                counters.get_not_found == 0,
                format!(
                    "{} GETs of seeded keys answered 404",
                    counters.get_not_found
                ),
            );
        }
        Kind::Publish => {
            rep.count("ok", "publish 200 true", counters.publish_ok);
            rep.num(
                "rate_per_s",
                "publish rate /s",
                (counters.publish_ok as f64 / secs).round(),
            );
            rep.latency("latency", "publish latency", &publish.summary());
            rep.hist("latency", "publish latency", &publish);
        }
    }
    ctx.report_counters(&mut rep, &counters);
    report_server(&mut rep, before, after);
    rep.num(
        "elapsed_s",
        "elapsed s",
        (ctx.elapsed_s() * 10.0).round() / 10.0,
    );
    rep.check(ramped, "not all connections opened within the ramp timeout");
    Ok(rep)
}

pub fn run_mixed(ctx: &mut Ctx, a: &MixedArgs) -> Result<Report> {
    let publishers = a.publishers.max(ctx.common.procs);
    let shape = Shape {
        listeners: a.listeners,
        own_keys: 1,
        get_after_wake: true,
        getters: a.getters,
        get_keys: a.get_keys.max(1),
        publishers,
        publish_rate: a.publish_rate,
        publish_to_listeners: true,
        ..Shape::default()
    };
    ctx.progress(format!("publishing {} keys to read", a.get_keys.max(1)));
    ctx.seed_get_keys(a.get_keys.max(1))?;
    let plans = ctx.plans(&shape);
    let open: Vec<u32> = plans
        .iter()
        .map(|p| p.listeners + p.getters + p.publishers)
        .collect();
    let rss_before = ctx.sample_server()?;
    let mut fleet = ctx.fleet(&plans)?;
    let ramped = fleet.wait_parked(
        ctx.deadline.within(ctx.common.ramp_timeout),
        &open,
        &mut |_, _| {},
    )?;
    let (elapsed, before, after) = if ramped {
        measure(ctx, &mut fleet, a.duration, "mixed")?
    } else {
        (0.0, None, None)
    };
    // Let the last publishes' wake-ups and GETs finish before judging.
    let grace_until = ctx.deadline.within(a.grace);
    while fleet.recv(grace_until)?.is_some() {}
    let settled = fleet.wait_parked(
        ctx.deadline.within(Duration::from_secs(10)),
        &open,
        &mut |_, _| {},
    )?;
    let reports = fleet.stop()?;
    let (counters, get, publish, wake, stale, checked) = merge_reports(ctx, &reports);

    let mut rep = Report::new("mixed");
    ctx.report_common(&mut rep);
    rep.count("listeners", "parked listeners", u64::from(a.listeners));
    rep.count("getters", "GET connections", u64::from(a.getters));
    rep.count("publishers", "publish connections", u64::from(publishers));
    rep.num(
        "duration_s",
        "measured s",
        (elapsed * 1000.0).round() / 1000.0,
    );
    let secs = elapsed.max(1e-9);
    rep.num(
        "get_rate_per_s",
        "GET rate /s",
        (counters.get_ok as f64 / secs).round(),
    );
    rep.latency("get", "GET latency", &get.summary());
    rep.hist("get", "GET latency", &get);
    rep.num(
        "publish_rate_per_s",
        "publish rate /s",
        (counters.publish_ok as f64 / secs).round(),
    );
    rep.latency("publish", "publish latency", &publish.summary());
    rep.hist("publish", "publish latency", &publish);
    rep.count("wakes", "wake-ups", counters.wakes);
    rep.latency("wake", "publish-to-wake latency", &wake.summary());
    rep.hist("wake", "publish-to-wake latency", &wake);
    rep.count("keys_checked", "listener keys checked at end", checked);
    rep.count("lost_wakeups", "listeners behind at end (lost)", stale);
    rep.text(
        "all_parked_at_end",
        "all parked at end",
        if settled { "yes" } else { "no" },
    );
    ctx.report_counters(&mut rep, &counters);
    report_server(&mut rep, before, after);
    report_rss_per_conn(
        &mut rep,
        "server RSS bytes per listener",
        rss_before,
        after,
        u64::from(a.listeners),
    );
    rep.num(
        "elapsed_s",
        "elapsed s",
        (ctx.elapsed_s() * 10.0).round() / 10.0,
    );
    rep.check(ramped, "not all connections opened within the ramp timeout");
    rep.check(
        stale == 0,
        format!("{stale} listeners missed their last change"),
    );
    rep.check(settled, "not all listeners parked at the end");
    Ok(rep)
}

/// The progress line of a request loop: only what this scenario does.
fn progress_line(name: &str, t: &crate::msg::Status, rate: f64, left_s: u64) -> String {
    let what = match name {
        "get" => "GETs",
        "publish" => "publishes",
        _ => "GETs + publishes",
    };
    let listeners = if name == "mixed" {
        format!(" parked {} wakes {}", t.parked, t.wakes)
    } else {
        String::new()
    };
    format!(
        "{name}: {} {what} ({rate:.0}/s) on {} connections{listeners} errors {} ({left_s}s left)",
        t.requests, t.open, t.errors
    )
}

/// Start, run for `duration` with progress, quiesce. Returns the measured
/// seconds and server samples taken at start and end.
fn measure(
    ctx: &mut Ctx,
    fleet: &mut Fleet,
    duration: Duration,
    name: &str,
) -> Result<(
    f64,
    Option<crate::procstat::ProcSample>,
    Option<crate::procstat::ProcSample>,
)> {
    let before = ctx.sample_server()?;
    fleet.broadcast(&Command::Start)?;
    let start = Instant::now();
    let end = ctx.deadline.0.min(start + duration);
    let mut last = (Instant::now(), 0u64);
    while Instant::now() < end {
        let until = end.min(Instant::now() + Duration::from_millis(500));
        while let Some((_, ev)) = fleet.recv(until)? {
            // Request loops report no wake-ups; nothing else reaches here.
            let _: Event = ev;
        }
        let t = fleet.totals();
        let dt = last.0.elapsed().as_secs_f64().max(1e-3);
        let rate = (t.requests.saturating_sub(last.1)) as f64 / dt;
        last = (Instant::now(), t.requests);
        let left = end.saturating_duration_since(Instant::now()).as_secs();
        ctx.progress(progress_line(name, &t, rate, left));
    }
    fleet.broadcast(&Command::Quiesce)?;
    let elapsed = start.elapsed().as_secs_f64();
    let after = ctx.sample_server()?;
    Ok((elapsed, before, after))
}
