//! Durable storage: one SQLite file (WAL) owned by a single writer thread.
//!
//! Reactors send [`WriteRequest`]s over a bounded crossbeam channel. The
//! writer takes everything pending (up to [`MAX_BATCH`]) and applies it in one
//! transaction, each command under its own savepoint so one bad command does
//! not fail its neighbours (group commit: one fsync for the whole batch).
//! Only after `COMMIT` returns does it broadcast each change, in commit order,
//! to every reactor, then tell each publisher its result; so an acknowledged
//! write has been committed, and every reactor has the change queued before
//! any client can hear `true`.
//!
//! Invariants: only this module names `rusqlite`; the writer never touches a
//! socket (it notifies reactors through the callback in [`ReactorLink`]).
//! Table and column names follow Nacos's schema (`config_info`,
//! `his_config_info`, ...); times are epoch milliseconds.

use crate::metrics::Metrics;
use crate::model::{Change, Config};
use crate::protocol::{group_key, normalize_type, Md5Hex, Metadata};
use crossbeam_channel::{Receiver, Sender};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Most commands committed in one transaction.
pub const MAX_BATCH: usize = 1024;
/// The database file inside the data directory.
pub const DB_FILE: &str = "vigil.db";

/// A formal publish.
#[derive(Debug)]
pub struct PublishOp {
    pub data_id: String,
    pub group: String,
    /// Canonical tenant.
    pub tenant: String,
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
    Publish(PublishOp),
    Delete {
        data_id: String,
        group: String,
        tenant: String,
        src_ip: String,
        src_user: Option<String>,
    },
}

/// Who to tell when a write is committed (or failed).
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

/// What the writer sends a reactor.
#[derive(Debug)]
pub enum ToReactor {
    /// A committed change (every reactor gets every change, in commit order).
    Change(Arc<Change>),
    /// The outcome of one of this reactor's writes; `Err` holds the reason.
    Done {
        conn: u32,
        generation: u32,
        result: Result<(), String>,
    },
    /// Stop accepting, answer parked polls, finish in-flight work, exit.
    Shutdown,
}

/// A reactor's inbox and the callback that wakes its event loop.
#[derive(Clone)]
pub struct ReactorLink {
    pub tx: Sender<ToReactor>,
    pub notify: Arc<dyn Fn() + Send + Sync>,
}

impl ReactorLink {
    /// Queues a message and wakes the reactor. A reactor that has exited no
    /// longer cares, so a closed inbox is ignored.
    pub fn send(&self, msg: ToReactor) {
        if self.tx.send(msg).is_ok() {
            (self.notify)();
        }
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

fn now_ms() -> i64 {
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

/// The open database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Creates the data directory if needed and opens (or creates) the
    /// database in it. Errors name the file and the cause.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError(format!(
                "cannot create data directory {}: {e}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join(DB_FILE);
        let fail =
            |what: &str, e: rusqlite::Error| StoreError(format!("{what} {}: {e}", path.display()));
        let conn = Connection::open(&path).map_err(|e| fail("cannot open database", e))?;
        conn.busy_timeout(std::time::Duration::from_secs(2))
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
        // FULL: a commit is on disk (fsync) before it is acknowledged.
        conn.execute_batch("PRAGMA synchronous=FULL;")
            .map_err(|e| fail("cannot configure database", e))?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| fail("cannot create schema in", e))?;
        Ok(Store { conn, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every formal config, for the start-up cache.
    pub fn load_all(&self) -> Result<Vec<Arc<Config>>, StoreError> {
        let fail = |e: rusqlite::Error| {
            StoreError(format!(
                "cannot read configs from {}: {e}",
                self.path.display()
            ))
        };
        let mut stmt = self
            .conn
            .prepare("SELECT id, data_id, group_id, tenant_id, content, type, app_name, gmt_modified FROM config_info")
            .map_err(fail)?;
        let rows = stmt
            .query_map([], |r| {
                let config_type: Option<String> = r.get(5)?;
                Ok(Arc::new(Config::new(
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    normalize_type(config_type.as_deref()),
                    r.get(6)?,
                    r.get(7)?,
                )))
            })
            .map_err(fail)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(fail)
    }

    /// Runs the writer loop until every sender is gone, then returns.
    pub fn run_writer(
        mut self,
        rx: Receiver<WriteRequest>,
        reactors: Vec<ReactorLink>,
        metrics: Arc<Metrics>,
    ) {
        let mut batch: Vec<WriteRequest> = Vec::with_capacity(MAX_BATCH);
        let mut results: Vec<Result<Option<Arc<Change>>, String>> = Vec::with_capacity(MAX_BATCH);
        while let Ok(first) = rx.recv() {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(req) => batch.push(req),
                    Err(_) => break,
                }
            }
            let started = std::time::Instant::now();
            if self.commit_batch(&batch, &mut results) {
                metrics.commit(batch.len(), started.elapsed());
            }
            for (req, r) in batch.iter().zip(&results) {
                match (r, &req.op) {
                    (Err(_), _) => Metrics::inc(&metrics.write_failures),
                    (Ok(_), WriteOp::Publish(_)) => Metrics::inc(&metrics.publishes),
                    (Ok(_), WriteOp::Delete { .. }) => Metrics::inc(&metrics.deletes),
                }
            }
            // Changes first, to every reactor, in commit order...
            for change in results.iter().filter_map(|r| r.as_ref().ok()).flatten() {
                for link in &reactors {
                    link.send(ToReactor::Change(change.clone()));
                }
            }
            // ...then the acknowledgements.
            for (req, result) in batch.drain(..).zip(results.drain(..)) {
                if let Some(link) = reactors.get(req.reply.reactor) {
                    link.send(ToReactor::Done {
                        conn: req.reply.conn,
                        generation: req.reply.generation,
                        result: result.map(|_| ()),
                    });
                }
            }
        }
        log::debug!("writer: all reactors gone, closing {}", self.path.display());
    }

    /// Applies a batch in one transaction; fills `results` one per request.
    /// Returns whether the transaction committed.
    fn commit_batch(
        &mut self,
        batch: &[WriteRequest],
        results: &mut Vec<Result<Option<Arc<Change>>, String>>,
    ) -> bool {
        results.clear();
        let started = std::time::Instant::now();
        if let Err(e) = self.conn.execute_batch("BEGIN IMMEDIATE") {
            let msg = format!(
                "storage error: cannot begin transaction on {}: {e}",
                self.path.display()
            );
            log::error!("{msg}");
            results.extend(batch.iter().map(|_| Err(msg.clone())));
            return false;
        }
        let now = now_ms();
        for req in batch {
            let r = self
                .conn
                .execute_batch("SAVEPOINT op")
                .and_then(|_| apply(&self.conn, &req.op, now))
                .and_then(|change| self.conn.execute_batch("RELEASE op").map(|_| change));
            match r {
                Ok(change) => results.push(Ok(change.map(Arc::new))),
                Err(e) => {
                    let msg = format!("storage error: {e}");
                    log::error!("{msg} (database {})", self.path.display());
                    let _ = self.conn.execute_batch("ROLLBACK TO op; RELEASE op");
                    results.push(Err(msg));
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
            for r in results.iter_mut() {
                *r = Err(msg.clone());
            }
            return false;
        }
        log::trace!(
            "committed {} writes in {:?}",
            batch.len(),
            started.elapsed()
        );
        true
    }
}

struct Current {
    id: i64,
    content: String,
    md5: Option<String>,
    app_name: Option<String>,
}

fn current(
    conn: &Connection,
    data_id: &str,
    group: &str,
    tenant: &str,
) -> rusqlite::Result<Option<Current>> {
    conn.prepare_cached(
        "SELECT id, content, md5, app_name FROM config_info WHERE data_id = ?1 AND group_id = ?2 AND tenant_id = ?3",
    )?
    .query_row(params![data_id, group, tenant], |r| {
        Ok(Current {
            id: r.get(0)?,
            content: r.get(1)?,
            md5: r.get(2)?,
            app_name: r.get(3)?,
        })
    })
    .optional()
}

#[allow(clippy::too_many_arguments)]
fn history(
    conn: &Connection,
    id: i64,
    data_id: &str,
    group: &str,
    tenant: &str,
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
    .execute(params![id, data_id, group, tenant, app_name, content, md5, now, src_user, src_ip, op])?;
    Ok(())
}

/// Applies one write inside the open transaction.
fn apply(conn: &Connection, op: &WriteOp, now: i64) -> rusqlite::Result<Option<Change>> {
    match op {
        WriteOp::Publish(p) => {
            let md5 = Md5Hex::of(p.content.as_bytes());
            let old = current(conn, &p.data_id, &p.group, &p.tenant)?;
            let (id, app_name, changed) = match old {
                None => {
                    conn.prepare_cached(
                        "INSERT INTO config_info (data_id, group_id, tenant_id, content, md5, gmt_create, gmt_modified, src_user, src_ip, app_name, c_desc, c_use, effect, type, c_schema)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                    )?
                    .execute(params![
                        p.data_id, p.group, p.tenant, p.content, md5.as_str(), now, p.src_user, p.src_ip,
                        p.app_name, p.meta.desc, p.meta.use_, p.meta.effect, p.config_type, p.meta.schema
                    ])?;
                    let id = conn.last_insert_rowid();
                    history(
                        conn,
                        id,
                        &p.data_id,
                        &p.group,
                        &p.tenant,
                        p.app_name.as_deref(),
                        &p.content,
                        md5.as_str(),
                        now,
                        p.src_user.as_deref(),
                        &p.src_ip,
                        "I",
                    )?;
                    (id, p.app_name.clone(), true)
                }
                Some(old) => {
                    let old_md5 = old
                        .md5
                        .clone()
                        .unwrap_or_else(|| Md5Hex::of(old.content.as_bytes()).as_str().to_owned());
                    history(
                        conn,
                        old.id,
                        &p.data_id,
                        &p.group,
                        &p.tenant,
                        old.app_name.as_deref(),
                        &old.content,
                        &old_md5,
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
                    (old.id, app_name, old_md5 != md5.as_str())
                }
            };
            let config = Config::new(
                id,
                p.data_id.clone(),
                p.group.clone(),
                p.tenant.clone(),
                p.content.clone(),
                p.config_type,
                app_name,
                now,
            );
            Ok(Some(Change {
                group_key: group_key(&p.data_id, &p.group, &p.tenant).into(),
                config: Some(Arc::new(config)),
                content_changed: changed,
            }))
        }
        WriteOp::Delete {
            data_id,
            group,
            tenant,
            src_ip,
            src_user,
        } => {
            let Some(old) = current(conn, data_id, group, tenant)? else {
                return Ok(None);
            };
            let old_md5 = old
                .md5
                .clone()
                .unwrap_or_else(|| Md5Hex::of(old.content.as_bytes()).as_str().to_owned());
            history(
                conn,
                old.id,
                data_id,
                group,
                tenant,
                old.app_name.as_deref(),
                &old.content,
                &old_md5,
                now,
                src_user.as_deref(),
                src_ip,
                "D",
            )?;
            conn.prepare_cached("DELETE FROM config_info WHERE id = ?1")?
                .execute(params![old.id])?;
            Ok(Some(Change {
                group_key: group_key(data_id, group, tenant).into(),
                config: None,
                content_changed: true,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::unbounded;

    fn publish(content: &str, app: Option<&str>) -> WriteOp {
        WriteOp::Publish(PublishOp {
            data_id: "d".into(),
            group: "G".into(),
            tenant: "".into(),
            content: content.into(),
            config_type: "text",
            app_name: app.map(Into::into),
            src_ip: "127.0.0.1".into(),
            src_user: None,
            meta: Metadata::default(),
        })
    }

    /// Runs ops through a real writer on a real file; returns what reactor 0 saw.
    fn run(dir: &Path, ops: Vec<WriteOp>) -> Vec<ToReactor> {
        let store = Store::open(dir).unwrap();
        let (tx, rx) = crossbeam_channel::bounded(16);
        let (rtx, rrx) = unbounded();
        let link = ReactorLink {
            tx: rtx,
            notify: Arc::new(|| {}),
        };
        let writer =
            std::thread::spawn(move || store.run_writer(rx, vec![link], Arc::new(Metrics::new(1))));
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

    #[test]
    fn publish_update_delete_with_history_and_reload() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nested/data");
        let msgs = run(
            &dir,
            vec![
                publish("v1", Some("app")),
                publish("v1", None),
                publish("v2", None),
                WriteOp::Delete {
                    data_id: "d".into(),
                    group: "G".into(),
                    tenant: "".into(),
                    src_ip: "127.0.0.1".into(),
                    src_user: None,
                },
                publish("v3", None),
            ],
        );
        let changed: Vec<bool> = msgs
            .iter()
            .filter_map(|m| match m {
                ToReactor::Change(c) => Some(c.content_changed),
                _ => None,
            })
            .collect();
        // Identical re-publish is committed but changes nothing.
        assert_eq!(changed, vec![true, false, true, true, true]);
        let dones = msgs
            .iter()
            .filter(|m| matches!(m, ToReactor::Done { result: Ok(()), .. }))
            .count();
        assert_eq!(dones, 5);

        let store = Store::open(&dir).unwrap();
        let all = store.load_all().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].content, "v3");
        assert_eq!(all[0].app_name, None, "a delete forgets the app name");
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
}
