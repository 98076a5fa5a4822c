//! What every scenario shares: validated options, the key namespace, the
//! global deadline, the progress line, the coordinator's own HTTP client and
//! the keys it created (deleted at the end unless `--keep`), the sampler of
//! the servers' CPU and RSS, worker plans, and the parts of the report common
//! to all scenarios.
//!
//! Invariant: only loopback addresses are contacted; [`Ctx::new`] refuses
//! anything else before a single socket is opened, and fails at once, with
//! the connect error, when a server does not accept connections.

use crate::cli::Common;
use crate::client::Client;
use crate::clock::mono_ns;
use crate::fleet::{Deadline, Fleet};
use crate::hist::Hist;
use crate::msg::{Counters, Plan, WorkerReport};
use crate::procstat::{self, ProcSample, Sampler};
use crate::proto::{self, KeyId, KeyKind, KeyPlan, KeySpace};
use crate::report::Report;
use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How the connections of a run are made up (totals over all workers).
#[derive(Clone, Debug, Default)]
pub struct Shape {
    pub listeners: u32,
    pub own_keys: u32,
    pub key_pool: u32,
    pub hot: bool,
    pub get_after_wake: bool,
    /// Listeners watch one event stream each instead of long-polling.
    pub sse: bool,
    pub watch: crate::sse::WatchScope,
    /// Listeners are Nacos 2.x gRPC clients.
    pub grpc: bool,
    pub report_wakes: bool,
    pub getters: u32,
    pub get_keys: u32,
    pub publishers: u32,
    pub publish_rate: f64,
    pub publish_to_listeners: bool,
}

/// How long the first connection to each server may take before the run
/// fails: a closed port fails at once, a stuck listener within this time.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Keys deleted at the end over this many connections at once.
const CLEANUP_CONNS: usize = 8;

pub struct Ctx {
    pub common: Common,
    pub run: String,
    pub space: KeySpace,
    /// The server the coordinator publishes through.
    pub publish_to: SocketAddr,
    pub deadline: Deadline,
    pub progress: ProgressBar,
    /// The coordinator's own connection, to `publish_to`.
    pub client: Client,
    pub started: Instant,
    /// Publishes the coordinator made, and those that failed.
    pub publish_ok: u64,
    pub publish_errors: u64,
    /// Keys this run wrote (the coordinator's and the workers'), to delete at the end.
    pub created: BTreeSet<KeyId>,
    /// Samples the servers' CPU and RSS over the run (with --server-pid).
    sampler: Option<Sampler>,
    /// Run workers as threads of this process instead of child processes.
    pub in_process: bool,
    /// Emit plain progress lines (stderr is not a terminal).
    plain_progress: bool,
    last_plain_progress: Instant,
}

impl Ctx {
    /// `expected` is how long the scenario should take; the global deadline
    /// is that plus the ramp timeout and slack, unless `--max-run` says otherwise.
    pub fn new(common: Common, expected: Duration) -> Result<Ctx> {
        if common.servers.is_empty() {
            bail!("give at least one --server");
        }
        let publish_to = common.publish_to.unwrap_or(common.servers[0]);
        if !common.grpc_servers.is_empty() && common.grpc_servers.len() != common.servers.len() {
            bail!("give one --grpc-server per --server, in the same order");
        }
        for server in common
            .servers
            .iter()
            .chain([&publish_to])
            .chain(&common.grpc_servers)
        {
            if !server.ip().is_loopback() {
                bail!("refusing to load {server}: only loopback servers may be targeted");
            }
        }
        if common.procs == 0 {
            bail!("--procs must be at least 1");
        }
        if common.server_pids.len() > common.servers.len() {
            bail!("more --server-pid than --server");
        }
        for server in &common.servers {
            probe(*server)?;
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
        let client = Client::new(
            publish_to,
            &publish_to.to_string(),
            Duration::from_millis(common.request_timeout_ms),
        );
        let sampler = if common.server_pids.is_empty() {
            None
        } else {
            Some(Sampler::start(common.server_pids.clone())?)
        };
        Ok(Ctx {
            space: KeySpace::new(&run),
            run,
            publish_to,
            deadline: Deadline(started + max_run),
            progress,
            client,
            started,
            publish_ok: 0,
            publish_errors: 0,
            created: BTreeSet::new(),
            sampler,
            in_process: false,
            plain_progress: !std::io::stderr().is_terminal(),
            last_plain_progress: started,
            common,
        })
    }

    /// Publishes `content` to `key` through `--publish-to`, counting it.
    pub fn publish(&mut self, key: KeyId, content: &str) -> Result<()> {
        self.created.insert(key);
        match self.client.publish(&self.space, key, content) {
            Ok(()) => {
                self.publish_ok += 1;
                Ok(())
            }
            Err(e) => {
                self.publish_errors += 1;
                Err(e)
            }
        }
    }

    /// Deletes every key the run created, unless `--keep`; says so in the report.
    pub fn cleanup(&mut self, rep: &mut Report) {
        let keys: Vec<KeyId> = std::mem::take(&mut self.created).into_iter().collect();
        if self.common.keep {
            rep.count("keys_kept", "keys kept (--keep)", keys.len() as u64);
            return;
        }
        self.progress(format!("deleting the {} keys this run created", keys.len()));
        let failed = delete_keys(self, &keys);
        rep.count(
            "keys_deleted",
            "keys deleted at the end (--keep keeps them)",
            (keys.len() - failed.len()) as u64,
        );
        if let Some(e) = failed.first() {
            rep.row("  not deleted", format!("{} ({e})", failed.len()));
            rep.check(
                false,
                format!("{} keys could not be deleted: {e}", failed.len()),
            );
        }
    }

    /// Starts the workers of `plans`: processes, or threads when in-process.
    pub fn fleet(&self, plans: &[Plan]) -> Result<Fleet> {
        if self.in_process {
            Fleet::spawn_threads(plans, self.progress.clone())
        } else {
            Fleet::spawn(plans, self.progress.clone())
        }
    }

    /// Stops the sampler and returns its samples (empty without --server-pid).
    pub fn server_series(&mut self) -> Vec<procstat::Point> {
        self.sampler.take().map(Sampler::finish).unwrap_or_default()
    }

    /// Shows `msg` on the progress line (or every few seconds as a plain line).
    pub fn progress(&mut self, msg: String) {
        if self.plain_progress && self.last_plain_progress.elapsed() >= self.common.progress_every {
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
                let (getter_first, getters) = split(shape.getters, procs, w);
                let share = if shape.publishers == 0 {
                    0.0
                } else {
                    f64::from(publishers) / f64::from(shape.publishers)
                };
                Plan {
                    worker: w,
                    servers: self.common.servers.clone(),
                    sources: self.sources(),
                    run: self.run.clone(),
                    listener_first,
                    listeners,
                    keys: KeyPlan {
                        own_keys: shape.own_keys,
                        pool: shape.key_pool,
                        hot: shape.hot,
                    },
                    poll_timeout_ms: self.common.poll_timeout_ms,
                    get_after_wake: shape.get_after_wake,
                    sse: shape.sse,
                    watch: shape.watch,
                    grpc: shape.grpc,
                    grpc_servers: self.grpc_servers(),
                    grpc_health_idle_ms: self.common.grpc_health_idle.as_millis() as u64,
                    report_wakes: shape.report_wakes,
                    getters,
                    getter_first,
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

    /// The gRPC address of each server: `--grpc-server`, or its port plus
    /// `--grpc-port-offset`.
    pub fn grpc_servers(&self) -> Vec<SocketAddr> {
        if !self.common.grpc_servers.is_empty() {
            return self.common.grpc_servers.clone();
        }
        self.common
            .servers
            .iter()
            .map(|s| {
                let mut g = *s;
                g.set_port(s.port().saturating_add(self.common.grpc_port_offset));
                g
            })
            .collect()
    }

    /// Publishes keys `g0..g(n)` so GETs find content.
    pub fn seed_get_keys(&mut self, n: u32) -> Result<()> {
        for i in 0..n {
            let key = KeyId::new(KeyKind::Get, i);
            let content = proto::versioned_content(&self.space, key, 1, self.common.content_bytes);
            self.publish(key, &content)?;
        }
        Ok(())
    }

    /// CPU and RSS of the servers (summed over several) now, with --server-pid.
    pub fn sample_server(&self) -> Result<Option<ProcSample>> {
        if self.common.server_pids.is_empty() {
            return Ok(None);
        }
        let mut sum = ProcSample::default();
        for pid in &self.common.server_pids {
            let s = procstat::sample(*pid)?;
            sum.rss_bytes += s.rss_bytes;
            sum.hwm_bytes += s.hwm_bytes;
            sum.cpu_us += s.cpu_us;
        }
        Ok(Some(sum))
    }

    /// Report row: how listeners learn of changes.
    pub fn report_listening(
        &self,
        rep: &mut Report,
        sse: bool,
        grpc: bool,
        scope: crate::sse::WatchScope,
    ) {
        use crate::sse::WatchScope;
        let how = match (sse, scope) {
            (false, _) if grpc => {
                "Nacos 2.x gRPC: one connection, one bi-stream, a batch listen each"
            }
            (false, _) => "long polls (/configs/listener)",
            (true, WatchScope::Keys) => "SSE watch streams (/configs/watch) on their own keys",
            (true, WatchScope::Group) => "SSE watch streams (/configs/watch) on the whole group",
            (true, WatchScope::Namespace) => {
                "SSE watch streams (/configs/watch) on the whole namespace"
            }
        };
        rep.text("listening", "listeners use", how);
        if grpc {
            let addrs: Vec<String> = self.grpc_servers().iter().map(|s| s.to_string()).collect();
            rep.text("grpc_server", "gRPC server(s)", &addrs.join(","));
            let every = self.common.grpc_health_idle;
            rep.text(
                "grpc_health_idle",
                "health check after idle",
                &if every.is_zero() {
                    "never (--grpc-health-idle 0)".to_string()
                } else {
                    format!("{every:?}")
                },
            );
        }
    }

    /// Report rows every scenario has.
    pub fn report_common(&self, rep: &mut Report) {
        let servers: Vec<String> = self.common.servers.iter().map(|s| s.to_string()).collect();
        rep.text("server", "server(s)", &servers.join(","));
        if servers.len() > 1 {
            rep.text(
                "publish_to",
                "publishing through",
                &self.publish_to.to_string(),
            );
        }
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

    /// Report rows from the workers' counters plus the coordinator's publishes.
    pub fn report_counters(&self, rep: &mut Report, workers: &Counters) {
        let mut c = workers.clone();
        c.publish_ok += self.publish_ok;
        c.publish_errors += self.publish_errors;
        let c = &c;
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
        if c.streams_opened > 0 {
            rep.count("streams_opened", "watch streams opened", c.streams_opened);
            rep.count("stream_resets", "watch stream resets", c.stream_resets);
            if c.other_events > 0 {
                rep.count(
                    "other_events",
                    "events of other keys (group / namespace watch)",
                    c.other_events,
                );
            }
        }
        if c.pushes > 0 || c.health_checks > 0 || c.grpc_errors > 0 {
            rep.count("pushes", "gRPC pushes received (all kinds)", c.pushes);
            rep.count(
                "health_checks",
                "gRPC health checks answered",
                c.health_checks,
            );
            rep.count(
                "grpc_errors",
                "gRPC calls answered with an error",
                c.grpc_errors,
            );
            rep.count(
                "unregistered_retries",
                "gRPC calls refused before registration (301), retried",
                c.unregistered_retries,
            );
            rep.count(
                "connect_resets",
                "gRPC ConnectResetRequests obeyed",
                c.connect_resets,
            );
        }
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

/// Adds the server's RSS growth per connection, measured from this run's own
/// baseline `before` to `after` with `conns` connections held, or says why it
/// cannot be measured (a server that was bigger before, or whose RSS did not
/// grow, is reusing memory freed by earlier load: restart it for this figure).
pub fn report_rss_per_conn(
    rep: &mut Report,
    label: &str,
    before: Option<ProcSample>,
    after: Option<ProcSample>,
    conns: u64,
) {
    let (Some(b), Some(a)) = (before, after) else {
        return;
    };
    match procstat::growth_per(b, a, conns) {
        Ok(per) => rep.num("bytes_per_parked", label, per.round()),
        Err(why) => {
            rep.text(
                "bytes_per_parked_note",
                label,
                &format!("not measurable: {why}"),
            );
            rep.json_only("bytes_per_parked", serde_json::Value::Null);
        }
    }
}

/// Connects once to `server`, so a wrong address fails the run at once with
/// the connect error instead of after the whole ramp.
fn probe(server: SocketAddr) -> Result<()> {
    match TcpStream::connect_timeout(&server, PROBE_TIMEOUT) {
        Ok(_) => Ok(()),
        Err(e) => bail!("cannot connect to {server}: {e} (is the server running?)"),
    }
}

/// Connects once to each server's gRPC port, so `--grpc` against a server
/// without one fails at once with the connect error.
pub fn require_grpc(ctx: &Ctx) -> Result<()> {
    for server in ctx.grpc_servers() {
        if let Err(e) = TcpStream::connect_timeout(&server, PROBE_TIMEOUT) {
            bail!("cannot connect to the gRPC port {server}: {e} (--grpc; is gRPC served there? see --grpc-port-offset)");
        }
    }
    Ok(())
}

/// Opens one watch stream on each server and reads its head, so `--sse`
/// against a server without `/nacos/v1/cs/configs/watch` fails at once.
pub fn require_watch(ctx: &Ctx) -> Result<()> {
    use std::io::{Read, Write};
    for server in &ctx.common.servers {
        let mut req = Vec::new();
        let probe = vec![ctx.space.data_id(KeyId::new(KeyKind::Hot, 0))];
        crate::sse::watch_request(
            &server.to_string(),
            Some(proto::GROUP),
            &probe,
            None,
            &mut req,
        );
        let mut s = TcpStream::connect_timeout(server, PROBE_TIMEOUT)?;
        s.set_read_timeout(Some(PROBE_TIMEOUT))?;
        s.write_all(&req)?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head = loop {
            if let Some(h) = crate::http::parse_head(&buf)? {
                break h;
            }
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => bail!("{server} did not answer a watch request (--sse)"),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        if head.status != 200 {
            bail!(
                "{server} does not serve watch streams (--sse): GET /nacos/v1/cs/configs/watch answered {}",
                head.status
            );
        }
    }
    Ok(())
}

/// Deletes `keys` through `--publish-to` over a few connections at once;
/// returns the errors of those that failed.
fn delete_keys(ctx: &Ctx, keys: &[KeyId]) -> Vec<String> {
    let chunk = keys.len().div_ceil(CLEANUP_CONNS).max(1);
    let timeout = Duration::from_millis(ctx.common.request_timeout_ms);
    let host = ctx.publish_to.to_string();
    std::thread::scope(|scope| {
        let handles: Vec<_> = keys
            .chunks(chunk)
            .map(|part| {
                let host = host.clone();
                scope.spawn(move || {
                    let mut client = Client::new(ctx.publish_to, &host, timeout);
                    part.iter()
                        .filter_map(|k| client.delete(&ctx.space, *k).err())
                        .map(|e| format!("{e:#}"))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|_| vec!["deleter panicked".into()]))
            .collect()
    })
}

/// Sums the workers' counters and merges their histograms.
pub fn merge_reports(
    ctx: &mut Ctx,
    reports: &[WorkerReport],
) -> (Counters, Hist, Hist, Hist, u64, u64) {
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
        ctx.created.extend(r.published.iter().copied());
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
