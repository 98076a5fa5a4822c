//! What every scenario shares: validated options, the key namespace, the
//! global deadline, the progress line, the coordinator's own HTTP client,
//! worker plans, and the parts of the report common to all scenarios.
//!
//! Invariant: only loopback addresses are contacted; [`Ctx::new`] refuses
//! anything else before a single socket is opened.

use crate::cli::Common;
use crate::client::Client;
use crate::clock::mono_ns;
use crate::fleet::Deadline;
use crate::hist::Hist;
use crate::msg::{Counters, Plan, WorkerReport};
use crate::procstat::{self, ProcSample};
use crate::proto::{self, KeyId, KeyKind, KeySpace};
use crate::report::Report;
use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// How the connections of a run are made up (totals over all workers).
#[derive(Clone, Debug, Default)]
pub struct Shape {
    pub listeners: u32,
    pub own_keys: u32,
    pub hot: bool,
    pub get_after_wake: bool,
    pub report_wakes: bool,
    pub getters: u32,
    pub get_keys: u32,
    pub publishers: u32,
    pub publish_rate: f64,
    pub publish_to_listeners: bool,
}

pub struct Ctx {
    pub common: Common,
    pub run: String,
    pub space: KeySpace,
    pub host: String,
    pub deadline: Deadline,
    pub progress: ProgressBar,
    pub client: Client,
    pub started: Instant,
    /// Emit plain progress lines (stderr is not a terminal).
    plain_progress: bool,
    last_plain_progress: Instant,
}

impl Ctx {
    /// `expected` is how long the scenario should take; the global deadline
    /// is that plus the ramp timeout and slack, unless `--max-run` says otherwise.
    pub fn new(common: Common, expected: Duration) -> Result<Ctx> {
        if !common.server.ip().is_loopback() {
            bail!(
                "refusing to load {}: only loopback servers may be targeted",
                common.server
            );
        }
        if common.procs == 0 {
            bail!("--procs must be at least 1");
        }
        let run = match &common.run_id {
            Some(r)
                if !r.is_empty()
                    && r.bytes().all(|b| b.is_ascii_alphanumeric())
                    && r.len() <= 32 =>
            {
                r.clone()
            }
            Some(r) => bail!("--run-id {r:?}: use 1 to 32 ASCII letters and digits"),
            None => format!(
                "{:x}",
                (mono_ns() ^ u64::from(std::process::id()) << 20) & 0xff_ffff_ffff
            ),
        };
        let max_run = common
            .max_run
            .unwrap_or(expected + common.ramp_timeout + Duration::from_secs(60));
        let started = Instant::now();
        let progress = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
        progress.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        progress.enable_steady_tick(Duration::from_millis(250));
        let host = common.server.to_string();
        let client = Client::new(
            common.server,
            &host,
            Duration::from_millis(common.request_timeout_ms),
        );
        Ok(Ctx {
            space: KeySpace::new(&run),
            run,
            host,
            deadline: Deadline(started + max_run),
            progress,
            client,
            started,
            plain_progress: !std::io::stderr().is_terminal(),
            last_plain_progress: started,
            common,
        })
    }

    /// Shows `msg` on the progress line (or every few seconds as a plain line).
    pub fn progress(&mut self, msg: String) {
        if self.plain_progress && self.last_plain_progress.elapsed() >= Duration::from_secs(5) {
            self.last_plain_progress = Instant::now();
            eprintln!("[{:>6.1}s] {msg}", self.started.elapsed().as_secs_f64());
        }
        self.progress.set_message(msg);
    }

    pub fn sources(&self) -> Vec<Ipv4Addr> {
        (0..self.common.sources)
            .map(|i| Ipv4Addr::new(127, 0, 0, (2 + i) as u8))
            .collect()
    }

    /// Splits `shape` over `--procs` workers.
    pub fn plans(&self, shape: &Shape) -> Vec<Plan> {
        let procs = self.common.procs;
        let deadline_ms = self
            .deadline
            .0
            .saturating_duration_since(Instant::now())
            .as_millis() as u64
            + 30_000;
        (0..procs)
            .map(|w| {
                let (listener_first, listeners) = split(shape.listeners, procs, w);
                let (publisher_first, publishers) = split(shape.publishers, procs, w);
                let share = if shape.publishers == 0 {
                    0.0
                } else {
                    f64::from(publishers) / f64::from(shape.publishers)
                };
                Plan {
                    worker: w,
                    server: self.common.server,
                    host: self.host.clone(),
                    sources: self.sources(),
                    run: self.run.clone(),
                    listener_first,
                    listeners,
                    own_keys: shape.own_keys,
                    hot: shape.hot,
                    poll_timeout_ms: self.common.poll_timeout_ms,
                    get_after_wake: shape.get_after_wake,
                    report_wakes: shape.report_wakes,
                    getters: split(shape.getters, procs, w).1,
                    get_keys: shape.get_keys,
                    publishers,
                    publisher_first,
                    publish_rate: shape.publish_rate * share,
                    publish_to_listeners: shape.publish_to_listeners,
                    content_bytes: self.common.content_bytes,
                    connect_concurrency: self.common.connect_concurrency.max(1),
                    request_timeout_ms: self.common.request_timeout_ms,
                    deadline_ms,
                }
            })
            .collect()
    }

    /// Publishes keys `g0..g(n)` so GETs find content.
    pub fn seed_get_keys(&mut self, n: u32) -> Result<()> {
        for i in 0..n {
            let key = KeyId::new(KeyKind::Get, i);
            let content = proto::versioned_content(&self.space, key, 1, self.common.content_bytes);
            self.client.publish(&self.space, key, &content)?;
        }
        Ok(())
    }

    pub fn sample_server(&self) -> Result<Option<ProcSample>> {
        self.common.server_pid.map(procstat::sample).transpose()
    }

    /// Report rows every scenario has.
    pub fn report_common(&self, rep: &mut Report) {
        rep.text("server", "server", &self.host);
        rep.text("run_id", "run id (keys lt.<run>.*)", &self.run);
        rep.count("procs", "worker processes", u64::from(self.common.procs));
        rep.count(
            "sources",
            "source addresses",
            u64::from(self.common.sources),
        );
        rep.count(
            "poll_timeout_ms",
            "Long-Pulling-Timeout ms",
            self.common.poll_timeout_ms,
        );
    }

    /// Report rows from the workers' counters.
    pub fn report_counters(&self, rep: &mut Report, c: &Counters) {
        rep.count("connects", "connects", c.connects);
        rep.count("errors", "errors (all kinds)", c.errors());
        rep.row(
            "  of which",
            format!(
                "connect {} disconnect {} http {} protocol {} timeout {} foreign-key {} stale-read {} publish {}",
                c.connect_errors,
                c.disconnects,
                c.http_errors,
                c.protocol_errors,
                c.client_timeouts,
                c.foreign_keys,
                c.stale_reads,
                c.publish_errors
            ),
        );
        rep.json_only("counters", serde_json::to_value(c).unwrap_or_default());
        rep.check(c.errors() == 0, format!("{} errors", c.errors()));
    }

    pub fn elapsed_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

/// Adds server figures: RSS and CPU before/after and the deltas.
pub fn report_server(rep: &mut Report, before: Option<ProcSample>, after: Option<ProcSample>) {
    if let (Some(b), Some(a)) = (before, after) {
        rep.row(
            "server RSS MiB",
            format!(
                "{:.1} -> {:.1}",
                b.rss_bytes as f64 / 1048576.0,
                a.rss_bytes as f64 / 1048576.0
            ),
        );
        rep.json_only("server_before", serde_json::to_value(b).unwrap_or_default());
        rep.json_only("server_after", serde_json::to_value(a).unwrap_or_default());
        rep.num(
            "server_cpu_ms",
            "server CPU ms",
            a.cpu_us.saturating_sub(b.cpu_us) as f64 / 1000.0,
        );
    }
}

/// Sums the workers' counters and merges their histograms.
pub fn merge_reports(reports: &[WorkerReport]) -> (Counters, Hist, Hist, Hist, u64, u64) {
    let mut c = Counters::default();
    let (mut get, mut publish, mut wake) = (Hist::new(), Hist::new(), Hist::new());
    let (mut stale, mut checked) = (0, 0);
    for r in reports {
        c.add(&r.counters);
        get.merge(&Hist::from_pairs(&r.get));
        publish.merge(&Hist::from_pairs(&r.publish));
        wake.merge(&Hist::from_pairs(&r.wake));
        stale += r.stale_at_end;
        checked += r.keys_checked;
    }
    (c, get, publish, wake, stale, checked)
}

/// Part `w` of `total` split into `parts` near-equal ranges: (first, count).
pub fn split(total: u32, parts: u32, w: u32) -> (u32, u32) {
    let base = total / parts;
    let extra = total % parts;
    let first = w * base + w.min(extra);
    (first, base + u32::from(w < extra))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_covers_everything_once() {
        for (total, parts) in [(10, 3), (19_000, 2), (1, 4), (0, 2), (7, 7)] {
            let mut next = 0;
            for w in 0..parts {
                let (first, n) = split(total, parts, w);
                assert_eq!(first, next, "{total}/{parts}");
                next += n;
            }
            assert_eq!(next, total);
        }
    }
}
