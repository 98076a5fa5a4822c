//! The command line: one subcommand per scenario, options shared by all.
//!
//! Every option has a default that finishes in well under a minute at small
//! scale; `--help` on each subcommand explains what it measures.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "loadtest",
    version,
    about = "Load tester for Nacos compatible configuration servers (the 1.x HTTP wire protocol, and the 2.x gRPC one with --grpc)",
    long_about = "Load tester for Nacos 1.x compatible configuration servers.\n\n\
        It speaks only the public HTTP protocol (GET / publish / long-polling listener, and with --sse \
        the watch streams, under /nacos), \
        so it can drive any Nacos-1.x-compatible server. Client sockets are spread over --procs worker \
        processes (this binary re-executed) and over --sources loopback source addresses, so runs can \
        exceed one process's open-file limit and one address's ephemeral ports.\n\n\
        Output: a progress line on a terminal (stderr), a summary table, then one line of JSON on \
        stdout (the last line). Exit status 0 when every check passed, 2 when a check failed \
        (lost / duplicate / spurious wake-ups, errors), 1 on a fatal error. --report FILE.html also \
        draws the run; --compare A.json B.json draws saved runs on the same axes.\n\n\
        Only loopback addresses are ever contacted."
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    /// Draw saved runs (the JSON line of each, or its whole stdout) on the same
    /// axes into the --report file (and --svg-dir); no load is generated. Two
    /// runs compare them; one run redraws it.
    #[arg(long, num_args = 1..=8, value_names = ["A.json", "B.json"])]
    pub compare: Option<Vec<std::path::PathBuf>>,
    #[command(subcommand)]
    pub scenario: Option<Scenario>,
}

/// Options every scenario understands.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Server address (loopback only). Repeat it, or give a comma list, to
    /// spread connections over several servers (a cluster): listener i goes to
    /// server i mod S.
    #[arg(
        long = "server",
        global = true,
        value_delimiter = ',',
        default_value = "127.0.0.1:8848"
    )]
    pub servers: Vec<SocketAddr>,
    /// The server the coordinator publishes (and deletes) through; the first --server by default.
    #[arg(long, global = true)]
    pub publish_to: Option<SocketAddr>,
    /// Worker processes holding the client sockets (each is limited by the open-file limit).
    #[arg(long, global = true, default_value_t = 1)]
    pub procs: u32,
    /// Loopback source addresses to spread client sockets over: 127.0.0.2 .. 127.0.0.(1+N).
    #[arg(long, global = true, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=250))]
    pub sources: u32,
    /// Server process id: sample its RSS and CPU time over the run (Linux /proc).
    /// With several servers, repeat it (or a comma list) in the order of --server.
    #[arg(long = "server-pid", global = true, value_delimiter = ',')]
    pub server_pids: Vec<u32>,
    /// Long-Pulling-Timeout header sent with every poll, ms.
    #[arg(long, global = true, default_value_t = 30_000)]
    pub poll_timeout_ms: u64,
    /// Connects in flight at once, per worker process.
    #[arg(long, global = true, default_value_t = 256)]
    pub connect_concurrency: u32,
    /// Timeout for a connect, a GET or a publish, ms.
    #[arg(long, global = true, default_value_t = 10_000)]
    pub request_timeout_ms: u64,
    /// Size of published content, bytes.
    #[arg(long, global = true, default_value_t = 64)]
    pub content_bytes: usize,
    /// Give up if all connections are not established (and listeners parked) within this time.
    #[arg(long, global = true, default_value = "60s", value_parser = parse_duration)]
    pub ramp_timeout: Duration,
    /// Hard limit on the whole run; by default derived from the scenario's own timings.
    #[arg(long, global = true, value_parser = parse_duration)]
    pub max_run: Option<Duration>,
    /// Key namespace: keys are lt.<run>.<kind><n> in group LOADTEST. Random by default.
    #[arg(long, global = true)]
    pub run_id: Option<String>,
    /// Keep the keys the run created (by default they are deleted at the end).
    #[arg(long, global = true)]
    pub keep: bool,
    /// Also write a self-contained HTML report (plots of latency, wake-ups,
    /// server CPU and RSS) to this file. With --compare: where the comparison goes.
    #[arg(long, global = true, value_name = "FILE.html")]
    pub report: Option<std::path::PathBuf>,
    /// Also write each chart of the report as an SVG file into this directory
    /// (`<scenario>-<chart>.svg`), e.g. for pictures beside a table.
    #[arg(long, global = true, value_name = "DIR")]
    pub svg_dir: Option<std::path::PathBuf>,
    /// With --grpc: each server's gRPC port is its HTTP port plus this (Nacos: 1000).
    #[arg(long, global = true, default_value_t = crate::grpc::PORT_OFFSET)]
    pub grpc_port_offset: u16,
    /// With --grpc: a client with no call for this long sends a
    /// HealthCheckRequest, as the Java client does (5s); 0 sends none (to
    /// measure a server's cost per push alone).
    #[arg(long, global = true, default_value = "5s", value_parser = parse_duration)]
    pub grpc_health_idle: Duration,
    /// With --grpc: the gRPC address of each --server, in the same order
    /// (repeat it or give a comma list), instead of --grpc-port-offset.
    #[arg(long = "grpc-server", global = true, value_delimiter = ',')]
    pub grpc_servers: Vec<SocketAddr>,
    /// How often a plain progress line is printed when stderr is not a terminal.
    #[arg(long, global = true, default_value = "5s", value_parser = parse_duration)]
    pub progress_every: Duration,
}

#[derive(Subcommand, Debug)]
pub enum Scenario {
    /// Open N long-polling connections and hold them: how many stay parked, and
    /// what each costs the server (RSS growth / parked with --server-pid).
    ///
    /// Each connection listens to K keys of its own (absent keys, md5 ""), plus the
    /// shared hot key with --shared, and re-polls at once whenever a poll returns
    /// (hold expiry), as real clients do. Runs for --duration in total, ramp included.
    /// Any wake-up is unexpected (nothing is published) and counted as spurious.
    Park(ParkArgs),
    /// N listeners parked on one hot key; publish it R times. Per round: time from
    /// just before the publish is sent to each listener's wake-up (p50, p99, max),
    /// time until all N woke, lost and duplicate wake-ups (both must be zero).
    ///
    /// After a wake-up each listener GETs the key (checking it reads the new
    /// version) and re-polls with the new md5, as real clients do; the next
    /// round starts when every listener is parked again and --gap has passed
    /// (a duplicate wake-up shows up in that gap). With --server-pid: server
    /// CPU µs per wake-up over the rounds.
    Fanout(FanoutArgs),
    /// N listeners parked on distinct keys; change one listener's key per round.
    /// Wake-up latency percentiles of the targets, and spurious wake-ups of the
    /// other N-1 (must be zero), lost and duplicate wake-ups.
    Targeted(TargetedArgs),
    /// C keep-alive connections each looping GET over --keys published keys for
    /// --duration: request rate and latency percentiles. 200 is a success; 404
    /// is counted apart; anything else is an error.
    Get(LoopArgs),
    /// C keep-alive connections each looping publishes of its own key (new
    /// content every time) for --duration: request rate and latency
    /// percentiles. A 200 with body exactly `true` is a success; anything else an error.
    Publish(LoopArgs),
    /// A steady mix for --duration: N parked listeners on distinct keys, G
    /// getters, U publishers changing listener keys at --publish-rate. Reports
    /// GET and publish rates/latencies, publish-to-wake latency (read from the
    /// timestamp inside the content the woken listener fetches), and lost
    /// wake-ups: listeners that, after a quiet --grace, still hold other content
    /// than the last acknowledged publish of their key.
    Mixed(MixedArgs),
    /// Clients that send but never read: N connections each pipeline M GETs
    /// of one S-byte config (published first) and read nothing back, while
    /// one well-behaved client GETs a small config in a loop. Reports the
    /// server's RSS growth over its own baseline (needs --server-pid) and the
    /// well-behaved client's latency. Measures; it does not judge.
    Noread(NoreadArgs),
    /// Internal: a worker process (started by the coordinator).
    #[command(hide = true)]
    Worker(WorkerArgs),
}

#[derive(Args, Debug)]
pub struct ParkArgs {
    /// Listener connections.
    #[arg(short = 'n', long, default_value_t = 1000)]
    pub conns: u32,
    /// Own keys per listener.
    #[arg(short = 'k', long, default_value_t = 1)]
    pub keys: u32,
    /// Every listener also listens to one shared key.
    #[arg(long)]
    pub shared: bool,
    /// Total run time, ramp included.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Watch with Server-Sent Events instead of long-polling: each listener
    /// holds one `GET /nacos/v1/cs/configs/watch` stream open (resumed with
    /// Last-Event-ID if it ends); a change event of its key is its wake-up.
    #[arg(long)]
    pub sse: bool,
    /// Be Nacos 2.x gRPC clients instead of long-polling: each listener is one
    /// HTTP/2 connection to the gRPC port (--grpc-port-offset) holding one
    /// bi-stream and a batch listen of its keys, as the Java client does; a
    /// pushed ConfigChangeNotifyRequest of its key is its wake-up (answered,
    /// then the key queried and listened to again with its new md5 unless --no-get).
    #[arg(long, conflicts_with = "sse")]
    pub grpc: bool,
    /// With --sse: what each stream watches. `keys`: its own keys (dataId
    /// repeated); `group`: the whole LOADTEST group; `namespace`: the whole
    /// public namespace. Events of keys a listener does not hold are counted
    /// as other events, not as wake-ups.
    #[arg(long, value_enum, default_value = "keys", requires = "sse")]
    pub watch: WatchScope,
}

#[derive(Args, Debug)]
pub struct FanoutArgs {
    /// Listener connections parked on the hot key.
    #[arg(short = 'n', long, default_value_t = 1000)]
    pub conns: u32,
    /// Publishes of the hot key (rounds).
    #[arg(short = 'r', long, default_value_t = 5)]
    pub rounds: u32,
    /// Own keys each listener also listens to (never changed).
    #[arg(long, default_value_t = 0)]
    pub extra_keys: u32,
    /// A round fails (wake-ups lost) if not all listeners woke within this time.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub round_timeout: Duration,
    /// Quiet time after each round, to catch duplicate wake-ups.
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    pub gap: Duration,
    /// Do not GET after a wake-up; re-poll with the md5 of the announced version.
    #[arg(long)]
    pub no_get: bool,
    /// Watch with Server-Sent Events instead of long-polling: each listener
    /// holds one `GET /nacos/v1/cs/configs/watch` stream open (resumed with
    /// Last-Event-ID if it ends); a change event of its key is its wake-up.
    #[arg(long)]
    pub sse: bool,
    /// Be Nacos 2.x gRPC clients instead of long-polling: each listener is one
    /// HTTP/2 connection to the gRPC port (--grpc-port-offset) holding one
    /// bi-stream and a batch listen of its keys, as the Java client does; a
    /// pushed ConfigChangeNotifyRequest of its key is its wake-up (answered,
    /// then the key queried and listened to again with its new md5 unless --no-get).
    #[arg(long, conflicts_with = "sse")]
    pub grpc: bool,
    /// With --sse: what each stream watches. `keys`: its own keys (dataId
    /// repeated); `group`: the whole LOADTEST group; `namespace`: the whole
    /// public namespace. Events of keys a listener does not hold are counted
    /// as other events, not as wake-ups.
    #[arg(long, value_enum, default_value = "keys", requires = "sse")]
    pub watch: WatchScope,
}

#[derive(Args, Debug)]
pub struct TargetedArgs {
    /// Listener connections, each on its own key.
    #[arg(short = 'n', long, default_value_t = 1000)]
    pub conns: u32,
    /// Keys changed, one per round, each waking one listener.
    #[arg(short = 'r', long, default_value_t = 200)]
    pub rounds: u32,
    /// A target not woken within this time is a lost wake-up.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub round_timeout: Duration,
    /// Quiet time after the last round, to catch late spurious or duplicate wake-ups.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub gap: Duration,
    /// Do not GET after a wake-up; re-poll with the md5 of the announced version.
    #[arg(long)]
    pub no_get: bool,
    /// Watch with Server-Sent Events instead of long-polling: each listener
    /// holds one `GET /nacos/v1/cs/configs/watch` stream open (resumed with
    /// Last-Event-ID if it ends); a change event of its key is its wake-up.
    #[arg(long)]
    pub sse: bool,
    /// Be Nacos 2.x gRPC clients instead of long-polling: each listener is one
    /// HTTP/2 connection to the gRPC port (--grpc-port-offset) holding one
    /// bi-stream and a batch listen of its keys, as the Java client does; a
    /// pushed ConfigChangeNotifyRequest of its key is its wake-up (answered,
    /// then the key queried and listened to again with its new md5 unless --no-get).
    #[arg(long, conflicts_with = "sse")]
    pub grpc: bool,
}

#[derive(Args, Debug)]
pub struct LoopArgs {
    /// Concurrent keep-alive connections.
    #[arg(short = 'c', long, default_value_t = 16)]
    pub conns: u32,
    /// Measurement time.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Keys read round-robin at random (get only; published first).
    #[arg(long, default_value_t = 100)]
    pub keys: u32,
}

#[derive(Args, Debug)]
pub struct MixedArgs {
    /// Parked listener connections, each on its own key.
    #[arg(short = 'n', long, default_value_t = 1000)]
    pub listeners: u32,
    /// Connections looping GET.
    #[arg(long, default_value_t = 8)]
    pub getters: u32,
    /// Connections publishing to listener keys.
    #[arg(long, default_value_t = 4)]
    pub publishers: u32,
    /// Publishes per second, all publishers together.
    #[arg(long, default_value_t = 100.0)]
    pub publish_rate: f64,
    /// Keys the getters read (published first).
    #[arg(long, default_value_t = 100)]
    pub get_keys: u32,
    /// Measurement time.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Quiet time after the publishers stop, before checking every listener is up to date.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub grace: Duration,
}

#[derive(Args, Debug)]
pub struct NoreadArgs {
    /// Connections that send and never read.
    #[arg(short = 'n', long, default_value_t = 50)]
    pub conns: u32,
    /// GETs pipelined on each of them.
    #[arg(short = 'm', long, default_value_t = 2000)]
    pub gets: u32,
    /// Size of the config they GET, bytes.
    #[arg(long, default_value_t = 100 * 1024)]
    pub size: usize,
    /// How long the non-readers and the well-behaved client run.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub duration: Duration,
}

pub use crate::sse::WatchScope;

#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// The worker's plan as JSON.
    #[arg(long)]
    pub plan: String,
}

/// `250ms`, `30s`, `2m`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("bad duration unit in {s:?} (use ms, s or m)")),
    };
    if !(0.0..=86_400.0).contains(&secs) {
        return Err(format!("duration out of range: {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("3h").is_err());
        assert!(parse_duration("x").is_err());
    }

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["loadtest", "fanout", "-n", "10", "--procs", "2"]).unwrap();
        assert_eq!(cli.common.procs, 2);
        assert!(matches!(
            cli.scenario,
            Some(Scenario::Fanout(FanoutArgs { conns: 10, .. }))
        ));
        let cli = Cli::try_parse_from([
            "loadtest",
            "--server",
            "127.0.0.1:1,127.0.0.1:2",
            "--server",
            "127.0.0.1:3",
            "--server-pid",
            "7,8",
            "park",
        ])
        .unwrap();
        assert_eq!(cli.common.servers.len(), 3);
        assert_eq!(cli.common.server_pids, vec![7, 8]);
        let cli = Cli::try_parse_from(["loadtest", "targeted", "--grpc", "-n", "3"]).unwrap();
        assert!(matches!(
            cli.scenario,
            Some(Scenario::Targeted(TargetedArgs { grpc: true, .. }))
        ));
        assert_eq!(cli.common.grpc_port_offset, 1000);
        assert!(Cli::try_parse_from(["loadtest", "park", "--grpc", "--sse"]).is_err());
        let cli = Cli::try_parse_from(["loadtest", "--compare", "a.json", "b.json"]).unwrap();
        assert_eq!(cli.compare.map(|c| c.len()), Some(2));
    }
}
