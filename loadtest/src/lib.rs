//! `loadtest`: a load tester for Nacos 1.x compatible configuration servers,
//! as a library (the `loadtest` binary is a thin `main` over [`run`]).
//!
//! The binary has two lives. Run by a person it is the coordinator: it parses
//! the scenario, starts `--procs` copies of itself as workers, drives them
//! over pipes, does the timed publishes itself, and prints the report. Run as
//! `loadtest worker --plan <json>` it is a worker: a mio event loop holding
//! its share of client sockets (see `worker`). Only the HTTP wire protocol of
//! Nacos 1.x is used (and with `--grpc`, the Nacos 2.x gRPC config
//! protocol), so any compatible server can be measured. Other
//! programs (the server's own tests) drive load through [`listeners`], which
//! runs the same workers on threads.
//!
//! Module map: `proto`, `http`, `sse` and `grpc` are the pure wire layer; `conn` and `worker`
//! the socket side; `msg` the coordinator<->worker lines; `fleet`, `client`,
//! `ctx` the coordinator's plumbing; `park`, `fanout`, `targeted`, `loops`,
//! `noread` the scenarios; `hist`, `procstat`, `report` the measurements and
//! their output, `html` the pictures of a run.

#![forbid(unsafe_code)]

pub mod cli;
pub mod client;
pub mod clock;
mod conn;
mod ctx;
mod fanout;
pub mod fleet;
pub mod grpc;
pub mod hist;
mod html;
pub mod http;
pub mod listeners;
mod loops;
pub mod msg;
mod noread;
mod park;
pub mod procstat;
pub mod proto;
pub mod report;
pub mod sse;
mod targeted;
mod worker;

use anyhow::{bail, Context, Result};
use cli::{Cli, Scenario};
use std::time::Duration;

/// Runs what the command line asks for; `Ok(false)` when a check failed.
pub fn run(cli: Cli) -> Result<bool> {
    if let Some(files) = &cli.compare {
        if cli.scenario.is_some() {
            bail!("--compare draws saved runs; it does not run a scenario too");
        }
        return compare(
            files,
            cli.common.report.as_deref(),
            cli.common.svg_dir.as_deref(),
        );
    }
    let Some(scenario) = &cli.scenario else {
        bail!("name a scenario (park, fanout, targeted, get, publish, mixed, noread) or --compare A B; see --help");
    };
    if let Scenario::Worker(w) = scenario {
        let plan = serde_json::from_str(&w.plan).context("parsing the worker plan")?;
        worker::run(plan)?;
        return Ok(true);
    }
    let report_path = cli.common.report.clone();
    let svg_dir = cli.common.svg_dir.clone();
    let mut report = run_scenario(cli.common, scenario, false)?;
    print!("{}", report.render());
    if let Some(path) = report_path {
        let page = html::page(&[("run", report.json())]);
        std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("report written to {}", path.display());
    }
    if let Some(dir) = svg_dir {
        let json = report.json();
        let scenario = json["scenario"].as_str().unwrap_or("run").to_string();
        write_svgs(&dir, &scenario, &[("run", json)])?;
    }
    Ok(report.ok())
}

/// Runs one scenario inside the calling process (its workers on threads)
/// and returns its report as JSON (what the binary prints as its last line;
/// `ok` and `failures` say whether every check passed). For programs that
/// drive load through this crate, e.g. the server's tests:
/// `run_in_process(Cli::try_parse_from(["loadtest", "--server", ADDR, "noread"])?)`.
pub fn run_in_process(cli: Cli) -> Result<serde_json::Value> {
    let Some(scenario) = &cli.scenario else {
        bail!("name a scenario");
    };
    if matches!(scenario, Scenario::Worker(_)) {
        bail!("a worker runs only as a process");
    }
    Ok(run_scenario(cli.common, scenario, true)?.json())
}

/// Runs `scenario`, cleans up, and returns its report.
fn run_scenario(
    common: cli::Common,
    scenario: &Scenario,
    in_process: bool,
) -> Result<report::Report> {
    let expected = expected_duration(scenario);
    let mut ctx = ctx::Ctx::new(common, expected)?;
    ctx.in_process = in_process;
    let result = match scenario {
        Scenario::Park(a) => park::run(&mut ctx, a),
        Scenario::Fanout(a) => fanout::run(&mut ctx, a),
        Scenario::Targeted(a) => targeted::run(&mut ctx, a),
        Scenario::Get(a) => loops::run_loop(&mut ctx, a, loops::Kind::Get),
        Scenario::Publish(a) => loops::run_loop(&mut ctx, a, loops::Kind::Publish),
        Scenario::Mixed(a) => loops::run_mixed(&mut ctx, a),
        Scenario::Noread(a) => noread::run(&mut ctx, a),
        Scenario::Worker(_) => unreachable!("handled above"),
    };
    let mut report = match result {
        Ok(r) => r,
        Err(e) => {
            // Still remove what the run wrote before it failed.
            let mut scratch = report::Report::new("cleanup");
            ctx.cleanup(&mut scratch);
            ctx.progress.finish_and_clear();
            return Err(e);
        }
    };
    ctx.cleanup(&mut report);
    report.json_only(
        "server_samples",
        serde_json::to_value(ctx.server_series()).unwrap_or_default(),
    );
    report.json_only("command", serde_json::Value::String(command_line()));
    ctx.progress.finish_and_clear();
    Ok(report)
}

/// `--compare A B`: the runs on the same axes, in the --report file and as
/// SVG files in --svg-dir.
fn compare(
    files: &[std::path::PathBuf],
    out: Option<&std::path::Path>,
    svg_dir: Option<&std::path::Path>,
) -> Result<bool> {
    if out.is_none() && svg_dir.is_none() {
        bail!("--compare needs --report FILE.html (or --svg-dir DIR) to write the drawing to");
    }
    let mut runs = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        let json = report::last_json_line(&text)
            .with_context(|| format!("{}: no JSON line of a loadtest run in it", f.display()))?;
        let label = f
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| f.display().to_string());
        runs.push((label, json));
    }
    let named: Vec<(&str, serde_json::Value)> =
        runs.iter().map(|(l, j)| (l.as_str(), j.clone())).collect();
    if let Some(out) = out {
        std::fs::write(out, html::page(&named))
            .with_context(|| format!("writing {}", out.display()))?;
        eprintln!("comparison written to {}", out.display());
    }
    if let Some(dir) = svg_dir {
        let prefix = match named.as_slice() {
            [(label, _)] => label,
            _ => "compare",
        };
        write_svgs(dir, prefix, &named)?;
    }
    Ok(true)
}

/// Each chart of `runs` as `<dir>/<prefix>-<chart>.svg`.
fn write_svgs(
    dir: &std::path::Path,
    prefix: &str,
    runs: &[(&str, serde_json::Value)],
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, svg) in html::chart_files(runs) {
        let path = dir.join(format!("{prefix}-{name}.svg"));
        std::fs::write(&path, svg).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("chart written to {}", path.display());
    }
    Ok(())
}

/// This process's command line, shell-quoted where needed, for the report.
fn command_line() -> String {
    std::env::args()
        .map(|a| {
            if !a.is_empty()
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,@%+".contains(&b))
            {
                a
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
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
        Scenario::Noread(a) => a.duration + Duration::from_secs(30),
        Scenario::Worker(_) => Duration::ZERO,
    }
}
