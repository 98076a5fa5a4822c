//! Command line and environment: every flag has a `VIGIL_*` equivalent, and
//! every limit is a named field with its unit.

use clap::Parser;
use std::net::IpAddr;
use std::path::PathBuf;

/// A Nacos 1.x compatible configuration server built for very many
/// long-polling clients.
#[derive(Parser, Debug, Clone)]
#[command(name = "vigil", version, about, long_about = None)]
pub struct Settings {
    /// A client subcommand; without one, `vigil` runs the server.
    #[command(subcommand)]
    pub command: Option<crate::cli::Command>,

    /// Address to listen on.
    #[arg(long, env = "VIGIL_BIND", default_value = "0.0.0.0")]
    pub bind: IpAddr,

    /// Port to listen on (0 picks a free one; the chosen address is printed).
    #[arg(long, env = "VIGIL_PORT", default_value_t = 8848)]
    pub port: u16,

    /// Port of the Nacos 2.x gRPC door (default: --port + 1000, where the
    /// clients look; with --port 0, any free one; 0 turns it off).
    #[arg(long, env = "VIGIL_GRPC_PORT")]
    pub grpc_port: Option<u16>,

    /// Directory for the SQLite database; created if missing.
    #[arg(long, env = "VIGIL_DATA_DIR", default_value = "vigil-data")]
    pub data_dir: PathBuf,

    /// Keep configs in this PostgreSQL database (`postgres://user:pass@host/db`)
    /// instead of SQLite in --data-dir: any number of nodes may share it.
    #[arg(long, env = "VIGIL_STORE", value_parser = parse_store, hide_env_values = true)]
    pub store: Option<String>,

    /// With --store: the `host:port` other nodes reach this one at, for
    /// cluster-wide listener queries (default: the bound address, loopback
    /// when bound to all addresses).
    #[arg(long, env = "VIGIL_ADVERTISE")]
    pub advertise: Option<String>,

    /// Reactor threads (default: number of cores).
    #[arg(long, env = "VIGIL_THREADS")]
    pub threads: Option<usize>,

    /// Log level: error, warn, info, debug or trace.
    #[arg(long, env = "VIGIL_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Most bytes of request header fields (after the request line).
    #[arg(long, env = "VIGIL_MAX_HEADER_BYTES", default_value_t = 64 * 1024)]
    pub max_header_bytes: usize,

    /// Most bytes of a request line; large because old Python clients send a
    /// publish's content in the query string.
    #[arg(long, env = "VIGIL_MAX_REQUEST_LINE_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub max_request_line_bytes: usize,

    /// Most bytes of a request body.
    #[arg(long, env = "VIGIL_MAX_BODY_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Most bytes of requests buffered over all connections together; past
    /// it, a connection growing a large request gets 503 (small requests
    /// are always served).
    #[arg(long, env = "VIGIL_MAX_BUFFERED_BYTES", default_value_t = 1024 * 1024 * 1024)]
    pub max_buffered_bytes: u64,

    /// Most characters (UTF-16 units, as Nacos counts) of a config's content.
    #[arg(long, env = "VIGIL_MAX_CONTENT_CHARS", default_value_t = crate::protocol::DEFAULT_MAX_CONTENT)]
    pub max_content_chars: usize,

    /// Most distinct keys one long poll may listen to.
    #[arg(long, env = "VIGIL_MAX_KEYS_PER_LISTENER", default_value_t = crate::protocol::MAX_KEYS_PER_LISTENER)]
    pub max_keys_per_listener: usize,

    /// Most open client connections (default: the open-file limit minus a reserve).
    #[arg(long, env = "VIGIL_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// Close a keep-alive connection idle this long, in milliseconds.
    #[arg(long, env = "VIGIL_IDLE_TIMEOUT_MS", default_value_t = 60_000)]
    pub idle_timeout_ms: u64,

    /// Answer 408 and close when a started request is not complete within this, in milliseconds.
    #[arg(long, env = "VIGIL_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    pub request_timeout_ms: u64,

    /// Longest long-poll hold, in milliseconds (the client's timeout is capped to this).
    #[arg(long, env = "VIGIL_MAX_HOLD_MS", default_value_t = 120_000)]
    pub max_hold_ms: u64,

    /// When a publish counts as committed: `full` fsyncs before answering
    /// (survives power loss), `normal` does not (survives `kill -9`).
    #[arg(long, env = "VIGIL_SYNC", default_value = "full", value_parser = parse_sync)]
    pub sync: crate::store::Sync,

    /// Take the requester address from `X-Forwarded-For` / `X-Real-IP`
    /// (for beta lists and `src_ip`); only behind a proxy you trust.
    #[arg(long, env = "VIGIL_TRUST_PROXY_HEADERS")]
    pub trust_proxy_headers: bool,

    /// Recent changes kept per reactor for resuming watch streams
    /// (`Last-Event-ID`); older ids get `event: reset` and a fresh snapshot.
    #[arg(long, env = "VIGIL_WATCH_LOG_ENTRIES", default_value_t = 100_000)]
    pub watch_log_entries: usize,

    /// Bytes of content the watch-stream change log may hold per reactor.
    #[arg(long, env = "VIGIL_WATCH_LOG_BYTES", default_value_t = 64 << 20)]
    pub watch_log_bytes: usize,

    /// Unsent bytes a watch stream may have before it is closed (the client
    /// resumes from its last event id).
    #[arg(long, env = "VIGIL_WATCH_MAX_UNSENT_BYTES", default_value_t = 1 << 20)]
    pub watch_max_unsent_bytes: usize,

    /// How often an idle watch stream gets a comment line, in milliseconds
    /// (proxies close connections that stay silent).
    #[arg(long, env = "VIGIL_WATCH_HEARTBEAT_MS", default_value_t = 15_000)]
    pub watch_heartbeat_ms: u64,

    /// Days history rows are kept (0: forever).
    #[arg(long, env = "VIGIL_HISTORY_RETENTION_DAYS", default_value_t = 30)]
    pub history_retention_days: u64,

    /// Require authentication and enforce permissions.
    #[arg(long, env = "VIGIL_AUTH")]
    pub auth: bool,

    /// The administrator created when auth is on and the user does not exist.
    #[arg(long, env = "VIGIL_AUTH_ADMIN_USER", default_value = "nacos")]
    pub auth_admin_user: String,

    /// Password of that administrator (required the first time auth is on;
    /// there is no built-in default).
    #[arg(long, env = "VIGIL_AUTH_ADMIN_PASSWORD", hide_env_values = true)]
    pub auth_admin_password: Option<String>,

    /// Lifetime of an access token, in seconds.
    #[arg(long, env = "VIGIL_AUTH_TOKEN_TTL_SECS", default_value_t = 18_000)]
    pub auth_token_ttl_secs: u64,

    /// Most entries of an import archive (directories and metadata count).
    #[arg(long, env = "VIGIL_MAX_IMPORT_ENTRIES", default_value_t = 20_000)]
    pub max_import_entries: usize,

    /// Most bytes an import archive may unpack to, all entries together;
    /// also bounds the memory one import holds.
    #[arg(long, env = "VIGIL_MAX_IMPORT_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub max_import_bytes: u64,

    /// Writes that may wait for the writer thread before publishes get 503.
    #[arg(long, env = "VIGIL_WRITE_QUEUE", default_value_t = 65_536)]
    pub write_queue: usize,

    /// Serve HTTPS and gRPC over TLS with this certificate chain (PEM, the
    /// server's certificate first); needs --tls-key. Reloaded on SIGHUP.
    #[arg(long, env = "VIGIL_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,

    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "VIGIL_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,

    /// With --tls-cert: require client certificates signed by these CAs
    /// (PEM), on both ports (mutual TLS).
    #[arg(long, env = "VIGIL_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<std::path::PathBuf>,

    /// For tests only: make this thread panic when it handles the config
    /// `vigil.injected.panic` (see `fatal`). Hidden from `--help`.
    #[arg(long, value_enum, hide = true)]
    pub inject_panic: Option<crate::fatal::PanicSite>,
}

/// Shortest hold, and how much earlier than the client's timeout a poll is
/// answered (Nacos: 10 s floor, 500 ms early).
pub const MIN_HOLD_MS: u64 = 10_000;
pub const HOLD_EARLY_MS: u64 = 500;
/// Open files kept back from the connection budget (database, WAL, epoll,
/// listeners, the EMFILE reserve, logs).
pub const FD_RESERVE: usize = 64;
/// Unsent output bytes (config bodies counted, though shared) a connection
/// may have before its next request waits for the client to read: with
/// shared bodies this bounds a non-reading client's memory to its heads.
pub const OUT_HIGH_WATER_BYTES: usize = 256 * 1024;

/// The gRPC port's distance from the HTTP port, as the Nacos clients
/// assume by default.
pub const GRPC_PORT_OFFSET: u16 = 1000;

impl Settings {
    /// Where the gRPC door listens: `--grpc-port`, else the HTTP port +
    /// 1000 (where Nacos clients look), any free port when the HTTP port
    /// is 0; `None` when turned off (`--grpc-port 0`).
    pub fn grpc_addr(&self) -> anyhow::Result<Option<std::net::SocketAddr>> {
        let port = match (self.grpc_port, self.port) {
            (Some(0), _) => return Ok(None),
            (Some(p), _) => p,
            (None, 0) => 0,
            (None, p) => p.checked_add(GRPC_PORT_OFFSET).ok_or_else(|| {
                anyhow::anyhow!(
                    "--port {p} leaves no gRPC port at +{GRPC_PORT_OFFSET}: set --grpc-port (0 turns gRPC off)"
                )
            })?,
        };
        Ok(Some(std::net::SocketAddr::new(self.bind, port)))
    }

    pub fn threads(&self) -> usize {
        self.threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1)
    }

    pub fn http_limits(&self) -> crate::http::Limits {
        crate::http::Limits {
            max_request_line_bytes: self.max_request_line_bytes,
            max_header_bytes: self.max_header_bytes,
            max_body_bytes: self.max_body_bytes,
        }
    }

    /// The connection cap: the flag, or the open-file limit minus a reserve.
    pub fn max_connections(&self) -> usize {
        self.max_connections
            .unwrap_or_else(|| {
                open_file_limit().map_or(1_000_000, |n| n.saturating_sub(FD_RESERVE))
            })
            .max(1)
    }

    /// The address other nodes reach this one at.
    pub fn advertise(&self, bound: std::net::SocketAddr) -> String {
        if let Some(a) = &self.advertise {
            return a.clone();
        }
        let ip = if bound.ip().is_unspecified() {
            IpAddr::from([127, 0, 0, 1])
        } else {
            bound.ip()
        };
        std::net::SocketAddr::new(ip, bound.port()).to_string()
    }

    /// Hold time for a client timeout `timeout_ms` (see [`hold_ms`]).
    pub fn hold_ms(&self, timeout_ms: i64) -> u64 {
        hold_ms(timeout_ms, self.max_hold_ms)
    }
}

/// Hold time for a client timeout `timeout_ms` under the cap `max_hold_ms`:
/// `max(10 000, min(timeout, cap) - 500)`, Nacos's formula plus a cap. A
/// negative timeout counts as 0; any `u64` cap is valid.
pub fn hold_ms(timeout_ms: i64, max_hold_ms: u64) -> u64 {
    let timeout = u64::try_from(timeout_ms).unwrap_or(0);
    timeout
        .min(max_hold_ms)
        .saturating_sub(HOLD_EARLY_MS)
        .max(MIN_HOLD_MS)
}

/// The soft `RLIMIT_NOFILE`; `None` when unlimited.
fn open_file_limit() -> Option<usize> {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    usize::try_from(limit.current?).ok()
}

/// `--sync full|normal` (the store's own type carries no clap derive).
fn parse_sync(s: &str) -> Result<crate::store::Sync, String> {
    match s {
        "full" => Ok(crate::store::Sync::Full),
        "normal" => Ok(crate::store::Sync::Normal),
        other => Err(format!("`{other}` is not one of: full, normal")),
    }
}

/// `--store`: only PostgreSQL URLs (SQLite is the default, in --data-dir).
fn parse_store(s: &str) -> Result<String, String> {
    if s.starts_with("postgres://") || s.starts_with("postgresql://") {
        Ok(s.to_owned())
    } else {
        Err("expected a postgres:// URL (without --store, SQLite in --data-dir is used)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::hold_ms;

    #[test]
    fn hold_is_the_timeout_less_500_ms_between_the_10_s_floor_and_the_cap() {
        const CAP: u64 = 120_000;
        for (timeout_ms, max_hold_ms, want) in [
            // The usual client timeout: 500 ms early.
            (30_000, CAP, 29_500),
            // The 10 s floor: 10 500 is the last timeout above it.
            (10_501, CAP, 10_001),
            (10_500, CAP, 10_000),
            (10_499, CAP, 10_000),
            (10_000, CAP, 10_000),
            (5_000, CAP, 10_000),
            (500, CAP, 10_000),
            (1, CAP, 10_000),
            (0, CAP, 10_000),
            (-1, CAP, 10_000),
            (i64::MIN, CAP, 10_000),
            // The cap applies before the 500 ms.
            (120_000, CAP, 119_500),
            (120_001, CAP, 119_500),
            (i64::MAX, CAP, 119_500),
            (30_000, 12_000, 11_500),
            // A cap below the floor still holds 10 s.
            (30_000, 5_000, 10_000),
            (30_000, 0, 10_000),
            // Caps beyond i64 (the flag is a u64) take the client's timeout.
            (30_000, u64::MAX, 29_500),
            (i64::MAX, u64::MAX, i64::MAX as u64 - 500),
            (i64::MAX, i64::MAX as u64 + 1, i64::MAX as u64 - 500),
        ] {
            assert_eq!(
                hold_ms(timeout_ms, max_hold_ms),
                want,
                "hold_ms({timeout_ms}, {max_hold_ms})"
            );
        }
    }
}
