//! Durable storage: one SQLite file (WAL) owned by a single writer thread.
//!
//! Reactors send [`WriteRequest`]s over a bounded crossbeam channel. The
//! writer takes everything pending (up to [`MAX_BATCH`]) and applies it in one
//! transaction, each command under its own savepoint so one bad command does
//! not fail its neighbours (group commit: one fsync for the whole batch).
//! Only after `COMMIT` returns does it broadcast each change, in commit order,
//! to every reactor, then tell each requester its result; so an acknowledged
//! write has been committed, and every reactor has the change queued before
//! any client can hear `true`.
//!
//! Invariants: only this module and `query` name `rusqlite`; the writer never
//! touches a socket (it notifies reactors through the callback in
//! [`ReactorLink`]). Table and column names follow Nacos's schema
//! (`config_info`, `his_config_info`, `config_info_beta`, `config_info_tag`,
//! `config_tags_relation`, `tenant_info`); times are epoch milliseconds.

use crate::auth::{AuthKeys, AuthState, Permission, ADMIN_ROLE};
use crate::index::ListenerFilter;
use crate::metrics::Metrics;
use crate::model::{Beta, Change, Config, Entry};
use crate::protocol::{group_key, normalize_type, Md5Hex, Metadata};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Most commands committed in one transaction.
pub const MAX_BATCH: usize = 1024;
/// The database file inside the data directory.
pub const DB_FILE: &str = "vigil.db";
/// bcrypt work factor: Nacos's own, so its password hashes carry over.
const BCRYPT_COST: u32 = 10;
/// How often expired history rows are purged.
const PURGE_EVERY: Duration = Duration::from_secs(600);
/// Most history rows deleted per purge transaction.
const PURGE_CHUNK: i64 = 10_000;

/// A config's identity, tenant canonical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub data_id: String,
    pub group: String,
    pub tenant: String,
}

impl Key {
    pub fn group_key(&self) -> String {
        group_key(&self.data_id, &self.group, &self.tenant)
    }
}

/// A publish of any variant.
#[derive(Debug)]
pub struct PublishOp {
    pub key: Key,
    pub content: String,
    pub config_type: &'static str,
    /// `None` keeps the stored app name on update.
    pub app_name: Option<String>,
    pub src_ip: String,
    pub src_user: Option<String>,
    pub meta: Metadata,
}

/// A write a reactor asks for.
#[derive(Debug)]
pub enum WriteOp {
    /// Formal publish; answers `true`.
    Publish(PublishOp),
    /// Beta publish for the listed addresses (`betaIps` header).
    PublishBeta(PublishOp, String),
    /// Tag publish.
    PublishTag(PublishOp, String),
    /// Formal delete; answers `true`.
    Delete {
        key: Key,
        src_ip: String,
        src_user: Option<String>,
    },
    DeleteTag {
        key: Key,
        tag: String,
    },
    StopBeta {
        key: Key,
    },
    /// Console delete of formal configs by id.
    DeleteIds {
        ids: Vec<i64>,
        src_ip: String,
        src_user: Option<String>,
    },
    NamespaceCreate {
        id: String,
        name: String,
        desc: Option<String>,
    },
    NamespaceUpdate {
        id: String,
        name: String,
        desc: Option<String>,
    },
    NamespaceDelete {
        id: String,
    },
    /// Create a user; the password is hashed (bcrypt) here, off the reactors.
    UserCreate {
        username: String,
        password: String,
    },
    UserUpdate {
        username: String,
        password: String,
    },
    UserDelete {
        username: String,
    },
    RoleAdd {
        role: String,
        username: String,
    },
    RoleDelete {
        role: String,
        username: Option<String>,
    },
    PermissionAdd {
        role: String,
        resource: String,
        action: String,
    },
    PermissionDelete {
        role: String,
        resource: String,
        action: String,
    },
}

/// Who to tell when a write or query is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyTo {
    pub reactor: usize,
    pub conn: u32,
    pub generation: u32,
}

#[derive(Debug)]
pub struct WriteRequest {
    pub op: WriteOp,
    pub reply: ReplyTo,
}

/// A finished response body for a deferred request (JSON unless it says so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    /// Header lines added to the JSON content type, each ending in CRLF.
    pub extra_head: String,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn ok(body: impl Into<Vec<u8>>) -> Reply {
        Reply::new(200, body)
    }

    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            extra_head: String::new(),
            body: body.into(),
        }
    }
}

/// What the storage threads send a reactor.
#[derive(Debug)]
pub enum ToReactor {
    /// A committed change (every reactor gets every change, in commit order).
    Change(Arc<Change>),
    /// The outcome of one of this reactor's writes or queries; `Err` holds
    /// the storage failure (answered 500).
    Done {
        conn: u32,
        generation: u32,
        result: Result<Reply, String>,
    },
    /// The users, roles and permissions changed: the new snapshot.
    Auth(Arc<AuthState>),
    /// The verdict on a (user, password) pair the reactor asked about.
    Verified {
        conn: u32,
        generation: u32,
        key: [u8; 32],
        ok: bool,
    },
    /// Gather this reactor's parked polls matching a filter and send them,
    /// as a [`ToReactor::ListenerPart`], to the asking reactor.
    CollectListeners {
        filter: Arc<ListenerFilter>,
        reply: ReplyTo,
    },
    /// One reactor's answer to a `CollectListeners`.
    ListenerPart {
        conn: u32,
        generation: u32,
        part: Vec<(String, String)>,
    },
    /// Stop accepting, answer parked polls, finish in-flight work, exit.
    Shutdown,
}

/// A reactor's inbox and the callback that wakes its event loop.
#[derive(Clone)]
pub struct ReactorLink {
    pub tx: Sender<ToReactor>,
    pub notify: Arc<dyn Fn() + Send + std::marker::Sync>,
}

impl ReactorLink {
    /// Queues a message and wakes the reactor. A reactor that has exited no
    /// longer cares, so a closed inbox is ignored.
    pub fn send(&self, msg: ToReactor) {
        if self.tx.send(msg).is_ok() {
            (self.notify)();
        }
    }

    /// Queues a message without waking the reactor (see [`Published`]).
    pub fn push(&self, msg: ToReactor) {
        let _ = self.tx.send(msg);
    }
}

/// The highest change `seq` that is queued in *every* reactor's inbox.
///
/// A reactor wakes listeners for change `n` only once `n` is published, so
/// by then every other reactor has `n` queued, and it drains its inbox
/// before serving any request: a client woken by one reactor that reads
/// through another always gets the new content.
#[derive(Debug, Default)]
pub struct Published(std::sync::atomic::AtomicU64);

impl Published {
    pub fn get(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }

    fn set(&self, seq: u64) {
        self.0.store(seq, std::sync::atomic::Ordering::Release);
    }
}

/// A storage failure, with the file it concerns.
#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS config_info (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    data_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL DEFAULT '',
    content TEXT NOT NULL,
    md5 TEXT,
    gmt_create INTEGER NOT NULL,
    gmt_modified INTEGER NOT NULL,
    src_user TEXT,
    src_ip TEXT,
    app_name TEXT,
    c_desc TEXT,
    c_use TEXT,
    effect TEXT,
    type TEXT,
    c_schema TEXT,
    UNIQUE (data_id, group_id, tenant_id)
);
CREATE TABLE IF NOT EXISTS his_config_info (
    id INTEGER NOT NULL,
    nid INTEGER PRIMARY KEY AUTOINCREMENT,
    data_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    app_name TEXT,
    content TEXT NOT NULL,
    md5 TEXT,
    gmt_create INTEGER NOT NULL,
    gmt_modified INTEGER NOT NULL,
    src_user TEXT,
    src_ip TEXT,
    op_type TEXT,
    tenant_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS idx_his_key ON his_config_info (data_id, group_id, tenant_id);
CREATE INDEX IF NOT EXISTS idx_his_gmt_modified ON his_config_info (gmt_modified);
CREATE TABLE IF NOT EXISTS config_info_beta (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    data_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL DEFAULT '',
    app_name TEXT,
    content TEXT NOT NULL,
    beta_ips TEXT,
    md5 TEXT,
    gmt_create INTEGER NOT NULL,
    gmt_modified INTEGER NOT NULL,
    src_user TEXT,
    src_ip TEXT,
    UNIQUE (data_id, group_id, tenant_id)
);
CREATE TABLE IF NOT EXISTS config_info_tag (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    data_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL DEFAULT '',
    tag_id TEXT NOT NULL,
    app_name TEXT,
    content TEXT NOT NULL,
    md5 TEXT,
    gmt_create INTEGER NOT NULL,
    gmt_modified INTEGER NOT NULL,
    src_user TEXT,
    src_ip TEXT,
    UNIQUE (data_id, group_id, tenant_id, tag_id)
);
CREATE TABLE IF NOT EXISTS config_tags_relation (
    id INTEGER NOT NULL,
    tag_name TEXT NOT NULL,
    tag_type TEXT,
    data_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL DEFAULT '',
    nid INTEGER PRIMARY KEY AUTOINCREMENT,
    UNIQUE (id, tag_name, tag_type)
);
CREATE INDEX IF NOT EXISTS idx_tags_tenant ON config_tags_relation (tenant_id);
CREATE INDEX IF NOT EXISTS idx_config_tenant_data ON config_info (tenant_id, data_id);
CREATE INDEX IF NOT EXISTS idx_config_tenant_group ON config_info (tenant_id, group_id);
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    password TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS roles (
    username TEXT NOT NULL,
    role TEXT NOT NULL,
    UNIQUE (username, role)
);
CREATE TABLE IF NOT EXISTS permissions (
    role TEXT NOT NULL,
    resource TEXT NOT NULL,
    action TEXT NOT NULL,
    UNIQUE (role, resource, action)
);
CREATE TABLE IF NOT EXISTS vigil_auth_key (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    secret BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS tenant_info (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kp TEXT NOT NULL,
    tenant_id TEXT NOT NULL DEFAULT '',
    tenant_name TEXT DEFAULT '',
    tenant_desc TEXT,
    create_source TEXT,
    gmt_create INTEGER NOT NULL,
    gmt_modified INTEGER NOT NULL,
    UNIQUE (kp, tenant_id)
);
";

/// When a commit counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Sync {
    /// The WAL is fsync'd before a publish is acknowledged: an acknowledged
    /// publish survives a crash of the process and of the machine.
    Full,
    /// The WAL is written (not fsync'd) before acknowledging: survives a
    /// crash of the process (`kill -9`), not a power loss; much lower
    /// publish latency on disks with slow fsync.
    Normal,
}

impl Sync {
    fn pragma(self) -> &'static str {
        match self {
            Sync::Full => "PRAGMA synchronous=FULL;",
            Sync::Normal => "PRAGMA synchronous=NORMAL;",
        }
    }
}

/// Opens the database file with the pragmas every connection needs.
pub(crate) fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let fail =
        |what: &str, e: rusqlite::Error| StoreError(format!("{what} {}: {e}", path.display()));
    let conn = Connection::open(path).map_err(|e| fail("cannot open database", e))?;
    conn.busy_timeout(Duration::from_secs(2))
        .map_err(|e| fail("cannot configure database", e))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(|e| fail("cannot use database", e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError(format!(
            "cannot switch database {} to WAL mode (got {mode})",
            path.display()
        )));
    }
    Ok(conn)
}

/// The open database, owned by the writer.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// GroupKeys that may have beta or tag variants (a superset): for any
    /// other key a change needs no variant look-up.
    variants: HashSet<String>,
}

impl Store {
    /// Creates the data directory if needed and opens (or creates) the
    /// database in it. Errors name the file and the cause.
    pub fn open(data_dir: &Path, sync: Sync) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError(format!(
                "cannot create data directory {}: {e}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join(DB_FILE);
        let conn = open_connection(&path)?;
        conn.execute_batch(sync.pragma()).map_err(|e| {
            StoreError(format!("cannot configure database {}: {e}", path.display()))
        })?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| StoreError(format!("cannot create schema in {}: {e}", path.display())))?;
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(|e| StoreError(format!("cannot check database {}: {e}", path.display())))?;
        if check != "ok" {
            return Err(StoreError(format!(
                "database {} is corrupt: {check}",
                path.display()
            )));
        }
        Ok(Store {
            conn,
            path,
            variants: HashSet::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The token-signing secret, created on first use and kept in the
    /// database so tokens outlive a restart.
    pub fn auth_keys(&self, ttl_secs: u64) -> Result<AuthKeys, StoreError> {
        let fail = |e: rusqlite::Error| {
            StoreError(format!(
                "cannot read the auth key from {}: {e}",
                self.path.display()
            ))
        };
        let stored: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT secret FROM vigil_auth_key WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(fail)?;
        if let Some(secret) = stored.and_then(|s| <[u8; 32]>::try_from(s.as_slice()).ok()) {
            return Ok(AuthKeys::new(secret, ttl_secs));
        }
        let mut secret = [0u8; 32];
        getrandom::getrandom(&mut secret)
            .map_err(|e| StoreError(format!("no randomness for the auth key: {e}")))?;
        self.conn
            .execute(
                "INSERT OR REPLACE INTO vigil_auth_key (id, secret) VALUES (1, ?1)",
                params![secret.to_vec()],
            )
            .map_err(fail)?;
        Ok(AuthKeys::new(secret, ttl_secs))
    }

    /// With auth on, makes sure an administrator exists: creates `user` with
    /// `password` when that user does not exist yet. With no users at all
    /// and no password given, refuses: there is no built-in default.
    pub fn ensure_admin(&self, user: &str, password: Option<&str>) -> Result<(), StoreError> {
        let fail = |e: rusqlite::Error| {
            StoreError(format!(
                "cannot set up users in {}: {e}",
                self.path.display()
            ))
        };
        let users: i64 = self
            .conn
            .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
            .map_err(fail)?;
        let exists: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM users WHERE username = ?1",
                params![user],
                |r| r.get(0),
            )
            .map_err(fail)?;
        match password {
            Some(p) if exists == 0 => {
                if p.is_empty() {
                    return Err(StoreError("the admin password must not be empty".into()));
                }
                self.conn
                    .execute("INSERT INTO users (username, password, enabled) VALUES (?1, ?2, 1)", params![user, hash_password(p).map_err(fail)?])
                    .map_err(fail)?;
                self.conn
                    .execute("INSERT OR IGNORE INTO roles (username, role) VALUES (?1, ?2)", params![user, ADMIN_ROLE])
                    .map_err(fail)?;
                log::info!("created admin user {user}");
                Ok(())
            }
            None if users == 0 => Err(StoreError(format!(
                "auth is on but {} has no users: give the first admin's password with --auth-admin-password or VIGIL_AUTH_ADMIN_PASSWORD",
                self.path.display()
            ))),
            _ => Ok(()),
        }
    }

    pub fn auth_state(&self) -> Result<AuthState, StoreError> {
        load_auth_state(&self.conn).map_err(|e| {
            StoreError(format!(
                "cannot read users from {}: {e}",
                self.path.display()
            ))
        })
    }

    /// Every stored entry (formal configs and their variants), by groupKey.
    pub fn load_all(&mut self) -> Result<Vec<(String, Arc<Entry>)>, StoreError> {
        let fail = |e: rusqlite::Error| {
            StoreError(format!(
                "cannot read configs from {}: {e}",
                self.path.display()
            ))
        };
        let mut entries: HashMap<String, Entry> = HashMap::new();
        let mut types: HashMap<String, &'static str> = HashMap::new();
        let mut stmt = self
            .conn
            .prepare("SELECT id, data_id, group_id, tenant_id, content, type, app_name, gmt_modified FROM config_info")
            .map_err(fail)?;
        let rows = stmt.query_map([], |r| {
            let config_type: Option<String> = r.get(5)?;
            Ok(Config::new(
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                normalize_type(config_type.as_deref()),
                r.get(6)?,
                r.get(7)?,
            ))
        });
        for c in rows.map_err(fail)? {
            let c = c.map_err(fail)?;
            let gk = c.group_key();
            types.insert(gk.clone(), c.config_type);
            entries.entry(gk).or_default().formal = Some(Arc::new(c));
        }
        // Beta and tag rows share a shape: the sixth column is the IP list
        // or the tag name.
        let variant_rows =
            |sql: &str| -> Result<Vec<(String, Option<String>, Config)>, StoreError> {
                let mut stmt = self.conn.prepare(sql).map_err(fail)?;
                let rows = stmt
                    .query_map([], |r| {
                        let key = Key {
                            data_id: r.get(1)?,
                            group: r.get(2)?,
                            tenant: r.get(3)?,
                        };
                        let gk = key.group_key();
                        let t = types.get(&gk).copied().unwrap_or("text");
                        let c = Config::new(
                            r.get(0)?,
                            key.data_id,
                            key.group,
                            key.tenant,
                            r.get(4)?,
                            t,
                            r.get(6)?,
                            r.get(7)?,
                        );
                        Ok((gk, r.get::<_, Option<String>>(5)?, c))
                    })
                    .map_err(fail)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(fail)
            };
        for (gk, ips, c) in variant_rows(
            "SELECT id, data_id, group_id, tenant_id, content, beta_ips, app_name, gmt_modified FROM config_info_beta",
        )? {
            entries.entry(gk).or_default().beta = Some(Arc::new(Beta::new(c, ips.unwrap_or_default())));
        }
        for (gk, tag, c) in variant_rows(
            "SELECT id, data_id, group_id, tenant_id, content, tag_id, app_name, gmt_modified FROM config_info_tag",
        )? {
            entries.entry(gk).or_default().tags.push((tag.unwrap_or_default(), Arc::new(c)));
        }
        self.variants = entries
            .iter()
            .filter(|(_, e)| e.beta.is_some() || !e.tags.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        Ok(entries.into_iter().map(|(k, e)| (k, Arc::new(e))).collect())
    }

    /// Runs the writer loop until every sender is gone, then returns.
    pub fn run_writer(
        mut self,
        rx: Receiver<WriteRequest>,
        reactors: Vec<ReactorLink>,
        metrics: Arc<Metrics>,
        published: Arc<Published>,
        retention_days: u64,
    ) {
        let mut seq = published.get();
        let mut batch: Vec<WriteRequest> = Vec::with_capacity(MAX_BATCH);
        let mut outcomes: Vec<Result<Outcome, String>> = Vec::with_capacity(MAX_BATCH);
        let mut next_purge = Instant::now();
        loop {
            if retention_days > 0 && Instant::now() >= next_purge {
                self.purge_history(retention_days);
                next_purge = Instant::now() + PURGE_EVERY;
            }
            match rx.recv_timeout(PURGE_EVERY) {
                Ok(first) => batch.push(first),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            }
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(req) => batch.push(req),
                    Err(_) => break,
                }
            }
            let started = Instant::now();
            if self.commit_batch(&batch, &mut outcomes) {
                metrics.commit(batch.len(), started.elapsed());
            }
            if outcomes.iter().flatten().any(|o| o.auth_changed) {
                match load_auth_state(&self.conn) {
                    Ok(state) => {
                        let state = Arc::new(state);
                        for link in &reactors {
                            link.push(ToReactor::Auth(state.clone()));
                        }
                    }
                    Err(e) => log::error!("cannot reload users from {}: {e}", self.path.display()),
                }
            }
            // Changes first, to every reactor, in commit order...
            for outcome in outcomes.iter_mut().flatten() {
                for mut change in outcome.changes.drain(..) {
                    seq += 1;
                    change.seq = seq;
                    let change = Arc::new(change);
                    for link in &reactors {
                        link.push(ToReactor::Change(change.clone()));
                    }
                }
            }
            // ...then the answers...
            for (req, outcome) in batch.drain(..).zip(outcomes.drain(..)) {
                match (&outcome, &req.op) {
                    (Err(_), _) => Metrics::inc(&metrics.write_failures),
                    (
                        Ok(_),
                        WriteOp::Publish(_) | WriteOp::PublishBeta(..) | WriteOp::PublishTag(..),
                    ) => Metrics::inc(&metrics.publishes),
                    (
                        Ok(_),
                        WriteOp::Delete { .. }
                        | WriteOp::DeleteTag { .. }
                        | WriteOp::DeleteIds { .. },
                    ) => Metrics::inc(&metrics.deletes),
                    _ => {}
                }
                if let Some(link) = reactors.get(req.reply.reactor) {
                    link.push(ToReactor::Done {
                        conn: req.reply.conn,
                        generation: req.reply.generation,
                        result: outcome.map(|o| o.reply),
                    });
                }
            }
            // ...then, with everything queued everywhere, let reactors act.
            published.set(seq);
            for link in &reactors {
                (link.notify)();
            }
        }
        log::debug!("writer: all reactors gone, closing {}", self.path.display());
    }

    /// Deletes history rows older than the retention, in bounded chunks.
    fn purge_history(&mut self, retention_days: u64) {
        let cutoff = now_ms() - (retention_days as i64).saturating_mul(86_400_000);
        loop {
            let r = self.conn.execute(
                "DELETE FROM his_config_info WHERE nid IN (SELECT nid FROM his_config_info WHERE gmt_modified < ?1 LIMIT ?2)",
                params![cutoff, PURGE_CHUNK],
            );
            match r {
                Ok(n) if n as i64 == PURGE_CHUNK => continue,
                Ok(n) => {
                    if n > 0 {
                        log::info!("purged expired history rows from {}", self.path.display());
                    }
                    return;
                }
                Err(e) => {
                    log::error!("cannot purge history in {}: {e}", self.path.display());
                    return;
                }
            }
        }
    }

    /// Applies a batch in one transaction; fills `outcomes` one per request.
    /// Returns whether the transaction committed.
    fn commit_batch(
        &mut self,
        batch: &[WriteRequest],
        outcomes: &mut Vec<Result<Outcome, String>>,
    ) -> bool {
        outcomes.clear();
        if let Err(e) = self.conn.execute_batch("BEGIN IMMEDIATE") {
            let msg = format!(
                "storage error: cannot begin transaction on {}: {e}",
                self.path.display()
            );
            log::error!("{msg}");
            outcomes.extend(batch.iter().map(|_| Err(msg.clone())));
            return false;
        }
        let now = now_ms();
        for req in batch {
            let r = self
                .conn
                .execute_batch("SAVEPOINT op")
                .and_then(|_| apply(&self.conn, &req.op, now, &mut self.variants))
                .and_then(|outcome| self.conn.execute_batch("RELEASE op").map(|_| outcome));
            match r {
                Ok(outcome) => outcomes.push(Ok(outcome)),
                Err(e) => {
                    let msg = format!("storage error: {e}");
                    log::error!("{msg} (database {})", self.path.display());
                    let _ = self.conn.execute_batch("ROLLBACK TO op; RELEASE op");
                    outcomes.push(Err(msg));
                }
            }
        }
        if let Err(e) = self.conn.execute_batch("COMMIT") {
            let msg = format!(
                "storage error: commit failed on {}: {e}",
                self.path.display()
            );
            log::error!("{msg}");
            let _ = self.conn.execute_batch("ROLLBACK");
            for r in outcomes.iter_mut() {
                *r = Err(msg.clone());
            }
            return false;
        }
        true
    }
}

/// What one applied write produced.
struct Outcome {
    reply: Reply,
    changes: Vec<Change>,
    /// Users, roles or permissions changed.
    auth_changed: bool,
}

impl Outcome {
    fn new(body: &str, changes: Vec<Change>) -> Outcome {
        Outcome {
            reply: Reply::ok(body),
            changes,
            auth_changed: false,
        }
    }

    fn auth(body: &str) -> Outcome {
        Outcome {
            reply: Reply::ok(body),
            changes: Vec::new(),
            auth_changed: true,
        }
    }
}

/// The users, roles and permissions tables as a snapshot.
pub(crate) fn load_auth_state(conn: &Connection) -> rusqlite::Result<AuthState> {
    let mut state = AuthState::default();
    let mut stmt = conn.prepare_cached("SELECT username FROM users WHERE enabled = 1")?;
    for user in stmt.query_map([], |r| r.get::<_, String>(0))? {
        state.users.insert(user?, Vec::new());
    }
    let mut stmt = conn.prepare_cached("SELECT username, role FROM roles")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
        let (user, role) = row?;
        if let Some(roles) = state.users.get_mut(&user) {
            roles.push(role);
        }
    }
    let mut stmt = conn.prepare_cached("SELECT role, resource, action FROM permissions")?;
    for row in stmt.query_map([], |r| {
        Ok(Permission {
            role: r.get(0)?,
            resource: r.get(1)?,
            action: r.get(2)?,
        })
    })? {
        state.permissions.push(row?);
    }
    Ok(state)
}

fn hash_password(password: &str) -> rusqlite::Result<String> {
    bcrypt::hash(password, BCRYPT_COST)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

struct Current {
    id: i64,
    content: String,
    md5: Option<String>,
    app_name: Option<String>,
}

fn current(conn: &Connection, key: &Key) -> rusqlite::Result<Option<Current>> {
    conn.prepare_cached(
        "SELECT id, content, md5, app_name FROM config_info WHERE data_id = ?1 AND group_id = ?2 AND tenant_id = ?3",
    )?
    .query_row(params![key.data_id, key.group, key.tenant], |r| {
        Ok(Current {
            id: r.get(0)?,
            content: r.get(1)?,
            md5: r.get(2)?,
            app_name: r.get(3)?,
        })
    })
    .optional()
}

/// Everything stored under a key, as the change to broadcast. `known` is
/// the formal config when the caller just wrote it (`Some(None)`: deleted);
/// variants are read only for keys that may have them.
fn change_of(
    conn: &Connection,
    key: &Key,
    known: Option<Option<Arc<Config>>>,
    variants: &HashSet<String>,
) -> rusqlite::Result<Change> {
    let group_key = key.group_key();
    if let Some(formal) = known.clone().filter(|_| !variants.contains(&group_key)) {
        return Ok(Change {
            seq: 0,
            group_key: group_key.into(),
            entry: formal.map(|f| {
                Arc::new(Entry {
                    formal: Some(f),
                    ..Entry::default()
                })
            }),
        });
    }
    let formal = conn
        .prepare_cached(
            "SELECT id, content, type, app_name, gmt_modified FROM config_info WHERE data_id = ?1 AND group_id = ?2 AND tenant_id = ?3",
        )?
        .query_row(params![key.data_id, key.group, key.tenant], |r| {
            let t: Option<String> = r.get(2)?;
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, normalize_type(t.as_deref()), r.get(3)?, r.get::<_, i64>(4)?))
        })
        .optional()?;
    let config_type = formal.as_ref().map_or("text", |f| f.2);
    let config = |id, content, app, modified| {
        Config::new(
            id,
            key.data_id.clone(),
            key.group.clone(),
            key.tenant.clone(),
            content,
            config_type,
            app,
            modified,
        )
    };
    let mut entry = Entry {
        formal: formal
            .map(|(id, content, _, app, modified)| Arc::new(config(id, content, app, modified))),
        ..Entry::default()
    };
    entry.beta = conn
        .prepare_cached(
            "SELECT id, content, beta_ips, app_name, gmt_modified FROM config_info_beta WHERE data_id = ?1 AND group_id = ?2 AND tenant_id = ?3",
        )?
        .query_row(params![key.data_id, key.group, key.tenant], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?, r.get(3)?, r.get::<_, i64>(4)?))
        })
        .optional()?
        .map(|(id, content, ips, app, modified)| Arc::new(Beta::new(config(id, content, app, modified), ips.unwrap_or_default())));
    let mut stmt = conn.prepare_cached(
        "SELECT id, tag_id, content, app_name, gmt_modified FROM config_info_tag WHERE data_id = ?1 AND group_id = ?2 AND tenant_id = ?3 ORDER BY tag_id",
    )?;
    let rows = stmt.query_map(params![key.data_id, key.group, key.tenant], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    for row in rows {
        let (id, tag, content, app, modified) = row?;
        entry
            .tags
            .push((tag, Arc::new(config(id, content, app, modified))));
    }
    Ok(Change {
        seq: 0,
        group_key: key.group_key().into(),
        entry: (!entry.is_empty()).then(|| Arc::new(entry)),
    })
}

#[allow(clippy::too_many_arguments)]
fn history(
    conn: &Connection,
    id: i64,
    key: &Key,
    app_name: Option<&str>,
    content: &str,
    md5: &str,
    now: i64,
    src_user: Option<&str>,
    src_ip: &str,
    op: &str,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO his_config_info (id, data_id, group_id, tenant_id, app_name, content, md5, gmt_create, gmt_modified, src_user, src_ip, op_type)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![id, key.data_id, key.group, key.tenant, app_name, content, md5, now, src_user, src_ip, op])?;
    Ok(())
}

fn stored_md5(c: &Current) -> String {
    c.md5
        .clone()
        .unwrap_or_else(|| Md5Hex::of(c.content.as_bytes()).as_str().to_owned())
}

fn replace_tags(conn: &Connection, id: i64, key: &Key, tags: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM config_tags_relation WHERE id = ?1")?
        .execute(params![id])?;
    for tag in tags.split(',').filter(|t| !t.is_empty()) {
        conn.prepare_cached(
            "INSERT OR IGNORE INTO config_tags_relation (id, tag_name, tag_type, data_id, group_id, tenant_id) VALUES (?1, ?2, '', ?3, ?4, ?5)",
        )?
        .execute(params![id, tag, key.data_id, key.group, key.tenant])?;
    }
    Ok(())
}

/// Writes a formal publish; returns the config as now stored.
fn publish_formal(conn: &Connection, p: &PublishOp, now: i64) -> rusqlite::Result<Arc<Config>> {
    let md5 = Md5Hex::of(p.content.as_bytes());
    let key = &p.key;
    let (id, app_name) = match current(conn, key)? {
        None => {
            conn.prepare_cached(
                "INSERT INTO config_info (data_id, group_id, tenant_id, content, md5, gmt_create, gmt_modified, src_user, src_ip, app_name, c_desc, c_use, effect, type, c_schema)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?
            .execute(params![
                key.data_id, key.group, key.tenant, p.content, md5.as_str(), now, p.src_user, p.src_ip,
                p.app_name, p.meta.desc, p.meta.use_, p.meta.effect, p.config_type, p.meta.schema
            ])?;
            let id = conn.last_insert_rowid();
            history(
                conn,
                id,
                key,
                p.app_name.as_deref(),
                &p.content,
                md5.as_str(),
                now,
                p.src_user.as_deref(),
                &p.src_ip,
                "I",
            )?;
            (id, p.app_name.clone())
        }
        Some(old) => {
            history(
                conn,
                old.id,
                key,
                old.app_name.as_deref(),
                &old.content,
                &stored_md5(&old),
                now,
                p.src_user.as_deref(),
                &p.src_ip,
                "U",
            )?;
            let app_name = p.app_name.clone().or(old.app_name);
            conn.prepare_cached(
                "UPDATE config_info SET content = ?2, md5 = ?3, gmt_modified = ?4, src_user = ?5, src_ip = ?6, app_name = ?7,
                 c_desc = COALESCE(?8, c_desc), c_use = COALESCE(?9, c_use), effect = COALESCE(?10, effect), type = ?11, c_schema = COALESCE(?12, c_schema)
                 WHERE id = ?1",
            )?
            .execute(params![
                old.id, p.content, md5.as_str(), now, p.src_user, p.src_ip, app_name,
                p.meta.desc, p.meta.use_, p.meta.effect, p.config_type, p.meta.schema
            ])?;
            (old.id, app_name)
        }
    };
    if let Some(tags) = &p.meta.config_tags {
        replace_tags(conn, id, key, tags)?;
    }
    Ok(Arc::new(Config::new(
        id,
        key.data_id.clone(),
        key.group.clone(),
        key.tenant.clone(),
        p.content.clone(),
        p.config_type,
        app_name,
        now,
    )))
}

fn delete_formal(
    conn: &Connection,
    key: &Key,
    now: i64,
    src_ip: &str,
    src_user: Option<&str>,
) -> rusqlite::Result<bool> {
    let Some(old) = current(conn, key)? else {
        return Ok(false);
    };
    history(
        conn,
        old.id,
        key,
        old.app_name.as_deref(),
        &old.content,
        &stored_md5(&old),
        now,
        src_user,
        src_ip,
        "D",
    )?;
    conn.prepare_cached("DELETE FROM config_info WHERE id = ?1")?
        .execute(params![old.id])?;
    conn.prepare_cached("DELETE FROM config_tags_relation WHERE id = ?1")?
        .execute(params![old.id])?;
    Ok(true)
}

/// Applies one write inside the open transaction.
fn apply(
    conn: &Connection,
    op: &WriteOp,
    now: i64,
    variants: &mut HashSet<String>,
) -> rusqlite::Result<Outcome> {
    match op {
        WriteOp::Publish(p) => {
            let formal = publish_formal(conn, p, now)?;
            Ok(Outcome::new(
                "true",
                vec![change_of(conn, &p.key, Some(Some(formal)), variants)?],
            ))
        }
        WriteOp::PublishBeta(p, ips) => {
            let key = &p.key;
            let md5 = Md5Hex::of(p.content.as_bytes());
            conn.prepare_cached(
                "INSERT INTO config_info_beta (data_id, group_id, tenant_id, app_name, content, beta_ips, md5, gmt_create, gmt_modified, src_user, src_ip)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10)
                 ON CONFLICT (data_id, group_id, tenant_id) DO UPDATE SET
                   app_name = COALESCE(excluded.app_name, app_name), content = excluded.content, beta_ips = excluded.beta_ips,
                   md5 = excluded.md5, gmt_modified = excluded.gmt_modified, src_user = excluded.src_user, src_ip = excluded.src_ip",
            )?
            .execute(params![key.data_id, key.group, key.tenant, p.app_name, p.content, ips, md5.as_str(), now, p.src_user, p.src_ip])?;
            variants.insert(key.group_key());
            Ok(Outcome::new(
                "true",
                vec![change_of(conn, key, None, variants)?],
            ))
        }
        WriteOp::PublishTag(p, tag) => {
            let key = &p.key;
            let md5 = Md5Hex::of(p.content.as_bytes());
            conn.prepare_cached(
                "INSERT INTO config_info_tag (data_id, group_id, tenant_id, tag_id, app_name, content, md5, gmt_create, gmt_modified, src_user, src_ip)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10)
                 ON CONFLICT (data_id, group_id, tenant_id, tag_id) DO UPDATE SET
                   app_name = COALESCE(excluded.app_name, app_name), content = excluded.content,
                   md5 = excluded.md5, gmt_modified = excluded.gmt_modified, src_user = excluded.src_user, src_ip = excluded.src_ip",
            )?
            .execute(params![key.data_id, key.group, key.tenant, tag, p.app_name, p.content, md5.as_str(), now, p.src_user, p.src_ip])?;
            variants.insert(key.group_key());
            Ok(Outcome::new(
                "true",
                vec![change_of(conn, key, None, variants)?],
            ))
        }
        WriteOp::Delete {
            key,
            src_ip,
            src_user,
        } => {
            let changes = if delete_formal(conn, key, now, src_ip, src_user.as_deref())? {
                vec![change_of(conn, key, Some(None), variants)?]
            } else {
                Vec::new()
            };
            Ok(Outcome::new("true", changes))
        }
        WriteOp::DeleteTag { key, tag } => {
            let n = conn
                .prepare_cached("DELETE FROM config_info_tag WHERE data_id = ?1 AND group_id = ?2 AND tenant_id = ?3 AND tag_id = ?4")?
                .execute(params![key.data_id, key.group, key.tenant, tag])?;
            let changes = if n > 0 {
                vec![change_of(conn, key, None, variants)?]
            } else {
                Vec::new()
            };
            Ok(Outcome::new("true", changes))
        }
        WriteOp::StopBeta { key } => {
            let n = conn
                .prepare_cached("DELETE FROM config_info_beta WHERE data_id = ?1 AND group_id = ?2 AND tenant_id = ?3")?
                .execute(params![key.data_id, key.group, key.tenant])?;
            let changes = if n > 0 {
                vec![change_of(conn, key, None, variants)?]
            } else {
                Vec::new()
            };
            Ok(Outcome::new(
                r#"{"code":200,"message":"stop beta ok","data":true}"#,
                changes,
            ))
        }
        WriteOp::DeleteIds {
            ids,
            src_ip,
            src_user,
        } => {
            let mut changes = Vec::new();
            for id in ids {
                let key = conn
                    .prepare_cached(
                        "SELECT data_id, group_id, tenant_id FROM config_info WHERE id = ?1",
                    )?
                    .query_row(params![id], |r| {
                        Ok(Key {
                            data_id: r.get(0)?,
                            group: r.get(1)?,
                            tenant: r.get(2)?,
                        })
                    })
                    .optional()?;
                if let Some(key) = key {
                    if delete_formal(conn, &key, now, src_ip, src_user.as_deref())? {
                        changes.push(change_of(conn, &key, Some(None), variants)?);
                    }
                }
            }
            Ok(Outcome::new(
                r#"{"code":200,"message":null,"data":true}"#,
                changes,
            ))
        }
        WriteOp::NamespaceCreate { id, name, desc } => {
            let n = conn
                .prepare_cached(
                    "INSERT OR IGNORE INTO tenant_info (kp, tenant_id, tenant_name, tenant_desc, create_source, gmt_create, gmt_modified)
                     VALUES ('1', ?1, ?2, ?3, 'nacos', ?4, ?4)",
                )?
                .execute(params![id, name, desc, now])?;
            Ok(Outcome::new(
                if n > 0 { "true" } else { "false" },
                Vec::new(),
            ))
        }
        WriteOp::NamespaceUpdate { id, name, desc } => {
            conn.prepare_cached(
                "UPDATE tenant_info SET tenant_name = ?2, tenant_desc = ?3, gmt_modified = ?4 WHERE kp = '1' AND tenant_id = ?1",
            )?
            .execute(params![id, name, desc, now])?;
            Ok(Outcome::new("true", Vec::new()))
        }
        WriteOp::NamespaceDelete { id } => {
            conn.prepare_cached("DELETE FROM tenant_info WHERE kp = '1' AND tenant_id = ?1")?
                .execute(params![id])?;
            Ok(Outcome::new("true", Vec::new()))
        }
        WriteOp::UserCreate { username, password } => {
            let n = conn
                .prepare_cached(
                    "INSERT OR IGNORE INTO users (username, password, enabled) VALUES (?1, ?2, 1)",
                )?
                .execute(params![username, hash_password(password)?])?;
            if n == 0 {
                let mut outcome = Outcome::auth(&format!(
                    r#"{{"code":400,"message":"user '{username}' already exist!","data":null}}"#
                ));
                outcome.reply.status = 400;
                return Ok(outcome);
            }
            Ok(Outcome::auth(
                r#"{"code":200,"message":"create user ok!","data":null}"#,
            ))
        }
        WriteOp::UserUpdate { username, password } => {
            conn.prepare_cached("UPDATE users SET password = ?2 WHERE username = ?1")?
                .execute(params![username, hash_password(password)?])?;
            Ok(Outcome::auth(
                r#"{"code":200,"message":"update user ok!","data":null}"#,
            ))
        }
        WriteOp::UserDelete { username } => {
            conn.prepare_cached("DELETE FROM users WHERE username = ?1")?
                .execute(params![username])?;
            conn.prepare_cached("DELETE FROM roles WHERE username = ?1")?
                .execute(params![username])?;
            Ok(Outcome::auth(
                r#"{"code":200,"message":"delete user ok!","data":null}"#,
            ))
        }
        WriteOp::RoleAdd { role, username } => {
            conn.prepare_cached("INSERT OR IGNORE INTO roles (username, role) VALUES (?1, ?2)")?
                .execute(params![username, role])?;
            Ok(Outcome::auth(
                r#"{"code":200,"message":"add role ok!","data":null}"#,
            ))
        }
        WriteOp::RoleDelete { role, username } => {
            match username {
                Some(u) => conn
                    .prepare_cached("DELETE FROM roles WHERE role = ?1 AND username = ?2")?
                    .execute(params![role, u])?,
                None => conn
                    .prepare_cached("DELETE FROM roles WHERE role = ?1")?
                    .execute(params![role])?,
            };
            Ok(Outcome::auth(
                r#"{"code":200,"message":"delete role of user ok!","data":null}"#,
            ))
        }
        WriteOp::PermissionAdd {
            role,
            resource,
            action,
        } => {
            conn.prepare_cached(
                "INSERT OR IGNORE INTO permissions (role, resource, action) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![role, resource, action])?;
            Ok(Outcome::auth(
                r#"{"code":200,"message":"add permission ok!","data":null}"#,
            ))
        }
        WriteOp::PermissionDelete {
            role,
            resource,
            action,
        } => {
            conn.prepare_cached(
                "DELETE FROM permissions WHERE role = ?1 AND resource = ?2 AND action = ?3",
            )?
            .execute(params![role, resource, action])?;
            Ok(Outcome::auth(
                r#"{"code":200,"message":"delete permission ok!","data":null}"#,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::unbounded;

    fn key() -> Key {
        Key {
            data_id: "d".into(),
            group: "G".into(),
            tenant: "".into(),
        }
    }

    fn op(content: &str, app: Option<&str>) -> PublishOp {
        PublishOp {
            key: key(),
            content: content.into(),
            config_type: "text",
            app_name: app.map(Into::into),
            src_ip: "127.0.0.1".into(),
            src_user: None,
            meta: Metadata::default(),
        }
    }

    /// Runs ops through a real writer on a real file; returns what reactor 0 saw.
    fn run(dir: &Path, ops: Vec<WriteOp>) -> Vec<ToReactor> {
        let store = Store::open(dir, Sync::Full).unwrap();
        let (tx, rx) = crossbeam_channel::bounded(16);
        let (rtx, rrx) = unbounded();
        let link = ReactorLink {
            tx: rtx,
            notify: Arc::new(|| {}),
        };
        let writer = std::thread::spawn(move || {
            store.run_writer(
                rx,
                vec![link],
                Arc::new(Metrics::new(1)),
                Arc::new(Published::default()),
                30,
            )
        });
        for (i, op) in ops.into_iter().enumerate() {
            let reply = ReplyTo {
                reactor: 0,
                conn: i as u32,
                generation: 0,
            };
            tx.send(WriteRequest { op, reply }).unwrap();
        }
        drop(tx);
        writer.join().unwrap();
        rrx.try_iter().collect()
    }

    fn formal_contents(msgs: &[ToReactor]) -> Vec<Option<String>> {
        msgs.iter()
            .filter_map(|m| match m {
                ToReactor::Change(c) => Some(
                    c.entry
                        .as_ref()
                        .and_then(|e| e.formal.as_ref())
                        .map(|f| f.content.clone()),
                ),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn publish_update_delete_with_history_and_reload() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nested/data");
        let msgs = run(
            &dir,
            vec![
                WriteOp::Publish(op("v1", Some("app"))),
                WriteOp::Publish(op("v1", None)),
                WriteOp::Publish(op("v2", None)),
                WriteOp::Delete {
                    key: key(),
                    src_ip: "127.0.0.1".into(),
                    src_user: None,
                },
                WriteOp::Delete {
                    key: key(),
                    src_ip: "127.0.0.1".into(),
                    src_user: None,
                },
                WriteOp::Publish(op("v3", None)),
            ],
        );
        // A delete of nothing broadcasts nothing.
        assert_eq!(
            formal_contents(&msgs),
            vec![
                Some("v1".into()),
                Some("v1".into()),
                Some("v2".into()),
                None,
                Some("v3".into())
            ]
        );
        let trues = msgs
            .iter()
            .filter(|m| matches!(m, ToReactor::Done { result: Ok(r), .. } if r.body == b"true"))
            .count();
        assert_eq!(trues, 6);

        let mut store = Store::open(&dir, Sync::Full).unwrap();
        let all = store.load_all().unwrap();
        assert_eq!(all.len(), 1);
        let formal = all[0].1.formal.as_ref().unwrap();
        assert_eq!(formal.content, "v3");
        assert_eq!(formal.app_name, None, "a delete forgets the app name");
        let ops: Vec<String> = store
            .conn
            .prepare("SELECT op_type FROM his_config_info ORDER BY nid")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(ops, vec!["I", "U", "U", "D", "I"]);
    }

    #[test]
    fn beta_and_tag_variants_live_beside_the_formal_config() {
        let tmp = tempfile::tempdir().unwrap();
        let msgs = run(
            tmp.path(),
            vec![
                WriteOp::Publish(op("formal", None)),
                WriteOp::PublishBeta(op("beta", None), "10.0.0.7,10.0.0.8".into()),
                WriteOp::PublishTag(op("tagged", None), "gray1".into()),
                WriteOp::Delete {
                    key: key(),
                    src_ip: "x".into(),
                    src_user: None,
                },
            ],
        );
        let last = msgs
            .iter()
            .rev()
            .find_map(|m| match m {
                ToReactor::Change(c) => c.entry.clone(),
                _ => None,
            })
            .unwrap();
        assert!(last.formal.is_none());
        assert_eq!(last.beta.as_ref().unwrap().config.content, "beta");
        assert!(last.beta.as_ref().unwrap().serves("10.0.0.8"));
        assert_eq!(last.tag("gray1").unwrap().content, "tagged");
        let mut store = Store::open(tmp.path(), Sync::Full).unwrap();
        let all = store.load_all().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(
            all[0]
                .1
                .effective("10.0.0.7", None)
                .unwrap()
                .config()
                .content,
            "beta"
        );
        assert_eq!(
            all[0]
                .1
                .effective("1.2.3.4", Some("gray1"))
                .unwrap()
                .config()
                .content,
            "tagged"
        );
        assert!(all[0].1.effective("1.2.3.4", None).is_none());
    }
}
