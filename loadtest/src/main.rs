//! `loadtest`: a load tester for Nacos 1.x compatible configuration servers.
//!
//! The binary has two lives. Run by a person it is the coordinator: it parses
//! the scenario, starts `--procs` copies of itself as workers, drives them
//! over pipes, does the timed publishes itself, and prints the report. Run as
//! `loadtest worker --plan <json>` it is a worker: a mio event loop holding
//! its share of client sockets (see `worker`). Only the HTTP wire protocol of
//! Nacos 1.x is used, so any compatible server can be measured.
//!
//! Module map: `proto` and `http` are the pure wire layer; `conn` and `worker`
//! the socket side; `msg` the coordinator<->worker lines; `fleet`, `client`,
//! `ctx` the coordinator's plumbing; `park`, `fanout`, `targeted`, `loops` the
//! scenarios; `hist`, `procstat`, `report` the measurements and their output.

#![forbid(unsafe_code)]

mod cli;
mod client;
mod clock;
mod conn;
mod ctx;
mod fanout;
mod fleet;
mod hist;
mod http;
mod loops;
mod msg;
mod park;
mod procstat;
mod proto;
mod report;
mod targeted;
mod worker;

use anyhow::{Context, Result};
use clap::Parser;
use cli::{Cli, Scenario};
use std::time::Duration;

fn main() {
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(true) => 0,
        Ok(false) => 2,
        Err(e) => {
            eprintln!("loadtest: {e:#}");
            1
        }
    };
    std::process::exit(code);
}

/// Runs the chosen scenario; `Ok(false)` when a check failed.
fn run(cli: Cli) -> Result<bool> {
    if let Scenario::Worker(w) = &cli.scenario {
        let plan = serde_json::from_str(&w.plan).context("parsing the worker plan")?;
        worker::run(plan)?;
        return Ok(true);
    }
    let expected = expected_duration(&cli.scenario);
    let mut ctx = ctx::Ctx::new(cli.common, expected)?;
    let result = match &cli.scenario {
        Scenario::Park(a) => park::run(&mut ctx, a),
        Scenario::Fanout(a) => fanout::run(&mut ctx, a),
        Scenario::Targeted(a) => targeted::run(&mut ctx, a),
        Scenario::Get(a) => loops::run_loop(&mut ctx, a, loops::Kind::Get),
        Scenario::Publish(a) => loops::run_loop(&mut ctx, a, loops::Kind::Publish),
        Scenario::Mixed(a) => loops::run_mixed(&mut ctx, a),
        Scenario::Worker(_) => unreachable!("handled above"),
    };
    ctx.progress.finish_and_clear();
    let mut report = result?;
    print!("{}", report.render());
    Ok(report.ok())
}

/// A generous estimate of how long a scenario takes, for the global deadline.
fn expected_duration(s: &Scenario) -> Duration {
    match s {
        Scenario::Park(a) => a.duration,
        Scenario::Fanout(a) => (a.round_timeout * 2 + a.gap) * a.rounds,
        Scenario::Targeted(a) => {
            a.round_timeout * 2 * a.rounds.min(100) + a.gap + Duration::from_millis(50) * a.rounds
        }
        Scenario::Get(a) | Scenario::Publish(a) => a.duration,
        Scenario::Mixed(a) => a.duration + a.grace + Duration::from_secs(10),
        Scenario::Worker(_) => Duration::ZERO,
    }
}
