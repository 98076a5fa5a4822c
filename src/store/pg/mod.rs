//! Cluster mode: any number of vigil nodes sharing one PostgreSQL database.
//!
//! Each node keeps the SQLite store's shape: one writer thread owns a
//! connection and commits everything pending in one transaction; a reader
//! thread answers console queries on a connection of its own; a listener
//! thread holds a third connection that `LISTEN`s for change numbers.
//!
//! What differs is where the reactors' changes come from. Every committed
//! write appends rows to `vigil_change_log`, numbered by a counter row that
//! orders numbers as commits are ordered (the proof is in `feed`). The
//! writer is the only thread that broadcasts changes: it applies the log
//! strictly by number, its own commits and other nodes' alike, through the
//! same inbox messages (`ToReactor::Change`, then `Published`) the SQLite
//! writer sends. So the reactors, the wake path and the published-sequence
//! invariant do not know which store is underneath.
//!
//! Rooms: `schema` (tables), `configs` and `accounts` (rows and the
//! statements of the shared rules, as in the SQLite store), `feed` (the
//! writer loop, the change log, heartbeat and purge), `listener` (the
//! LISTEN thread), `roster` (the live members, for `crate::cluster`),
//! `query` (the reader thread).
//!
//! Invariant: only `store::pg` names `postgres`, as only `store::sqlite`
//! names `rusqlite`.

mod accounts;
mod configs;
mod db;
mod feed;
mod listener;
mod query;
mod roster;
mod schema;

pub use query::PgReader;
pub use roster::Roster;

use crate::auth::{AuthKeys, AuthState};
use crate::model::Entry;
use crate::store::rules::HashFailed;
use crate::store::StoreError;
use crossbeam_channel::Receiver;
use db::{Db, Statements};
use postgres::{Client, Config, IsolationLevel, NoTls};
use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest a connection attempt may take before PostgreSQL counts as down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The shared database, as the writer thread will own it.
pub struct PgStore {
    config: Config,
    /// `host:port/dbname` for messages (never the password).
    target: String,
    client: Client,
    /// The writer connection's prepared statements.
    stmts: Statements,
    /// GroupKeys that may have beta or tag variants (a superset; see
    /// `feed::commit`).
    variants: HashSet<String>,
    /// The change number the start-up load is current to (the writer's
    /// feed counts from there).
    loaded_seq: u64,
    /// Hints from the listener thread that the log may have grown.
    pokes: Receiver<u64>,
    /// This node's id in `vigil_nodes`, and the address peers reach it at.
    node_id: String,
    advertise: Option<String>,
    /// No reconnect is tried before this (see `feed::RECONNECT_EVERY`).
    retry_at: Instant,
    /// When the heartbeat and the purge are next due.
    next_beat: Instant,
    next_purge: Instant,
}

/// Why one write failed.
#[derive(Debug)]
pub(crate) enum OpError {
    Db(postgres::Error),
    Other(String),
}

impl From<postgres::Error> for OpError {
    fn from(e: postgres::Error) -> OpError {
        OpError::Db(e)
    }
}

impl From<HashFailed> for OpError {
    fn from(e: HashFailed) -> OpError {
        OpError::Other(e.to_string())
    }
}

impl std::fmt::Display for OpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpError::Db(e) => f.write_str(&explain(e)),
            OpError::Other(s) => f.write_str(s),
        }
    }
}

/// An error with the server's own message (the client's `Display` says
/// only "db error" for those).
pub(super) fn explain(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// Parses a `postgres://` URL (or key=value string) with our timeouts.
fn parse_config(url: &str) -> Result<Config, StoreError> {
    let mut config = Config::from_str(url)
        .map_err(|e| StoreError(format!("cannot parse the PostgreSQL address: {e}")))?;
    config
        .connect_timeout(CONNECT_TIMEOUT)
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(10))
        .application_name("vigil");
    Ok(config)
}

fn describe(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}:{port}/{}",
        hosts.join(","),
        config.get_dbname().unwrap_or("")
    )
}

impl PgStore {
    /// Connects, creates the schema if needed (one node at a time, under
    /// an advisory lock), and starts the listener thread: it `LISTEN`s
    /// before this returns, so before the caller loads anything.
    pub fn open(url: &str) -> Result<PgStore, StoreError> {
        let config = parse_config(url)?;
        let target = describe(&config);
        let fail = |what: &str, e: postgres::Error| StoreError(format!("{what} {target}: {e}"));
        let mut client = config
            .connect(NoTls)
            .map_err(|e| fail("cannot connect to", e))?;
        let mut tx = client.transaction().map_err(|e| fail("cannot use", e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&schema::LOCK_SCHEMA])
            .map_err(|e| fail("cannot lock the schema of", e))?;
        tx.batch_execute(schema::SCHEMA)
            .map_err(|e| fail("cannot create the schema in", e))?;
        tx.commit()
            .map_err(|e| fail("cannot create the schema in", e))?;
        let pokes = listener::start(&config, &target)?;
        let mut id = [0u8; 8];
        getrandom::getrandom(&mut id).map_err(|e| StoreError(format!("no randomness: {e}")))?;
        Ok(PgStore {
            config,
            target,
            client,
            stmts: Statements::new(),
            variants: HashSet::new(),
            loaded_seq: 0,
            pokes,
            node_id: id.iter().map(|b| format!("{b:02x}")).collect(),
            advertise: None,
            retry_at: Instant::now(),
            next_beat: Instant::now(),
            next_purge: Instant::now(),
        })
    }

    pub fn target(&self) -> &str {
        &self.target
    }

    /// The address other nodes reach this one at (for cluster-wide
    /// listener queries); set before the writer starts.
    pub fn set_advertise(&mut self, addr: String) {
        self.advertise = Some(addr);
    }

    /// The last change number the loaded entries include.
    pub fn loaded_seq(&self) -> u64 {
        self.loaded_seq
    }

    /// Every stored entry and the change number they are current to, read
    /// in one snapshot: replaying the log after that number brings the
    /// cache up to date, and nothing before it is needed.
    pub fn load_all(&mut self) -> Result<Vec<(String, Arc<Entry>)>, StoreError> {
        let fail = |e: postgres::Error| {
            StoreError(format!("cannot read configs from {}: {e}", self.target))
        };
        let mut tx = self
            .client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(fail)?;
        let seq: i64 = tx
            .query_one("SELECT seq FROM vigil_change_seq WHERE id = 1", &[])
            .and_then(|r| r.try_get(0))
            .map_err(fail)?;
        let entries = configs::load_all(&mut Db::new(&mut tx, &mut self.stmts)).map_err(fail)?;
        tx.commit().map_err(fail)?;
        self.loaded_seq = u64::try_from(seq).unwrap_or(0);
        self.variants = entries
            .iter()
            .filter(|(_, e)| e.beta.is_some() || !e.tags.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        Ok(entries)
    }

    pub fn auth_keys(&mut self, ttl_secs: u64) -> Result<AuthKeys, StoreError> {
        accounts::auth_keys(&mut Db::new(&mut self.client, &mut self.stmts), ttl_secs)
    }

    pub fn ensure_admin(&mut self, user: &str, password: Option<&str>) -> Result<(), StoreError> {
        accounts::ensure_admin(
            &mut Db::new(&mut self.client, &mut self.stmts),
            user,
            password,
        )
    }

    pub fn auth_state(&mut self) -> Result<AuthState, StoreError> {
        accounts::load_auth_state(&mut Db::new(&mut self.client, &mut self.stmts))
            .map_err(|e| StoreError(format!("cannot read users from {}: {e}", self.target)))
    }

    /// The other members of the cluster, on a connection of its own.
    pub fn roster(&self) -> Roster {
        Roster::new(self.config.clone(), self.node_id.clone())
    }

    /// A reader on a connection of its own.
    pub fn reader(&self, keys: Option<AuthKeys>) -> Result<PgReader, StoreError> {
        PgReader::open(self.config.clone(), self.target.clone(), keys)
    }
}
