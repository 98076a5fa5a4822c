//! Durable storage: one SQLite file (WAL) owned by a single writer thread.
//!
//! Reactors send [`WriteRequest`]s over a bounded crossbeam channel. The
//! writer takes everything pending (up to [`MAX_BATCH`]) and applies it in one
//! transaction, each command under its own savepoint so one bad command does
//! not fail its neighbours (group commit: one fsync for the whole batch).
//! Only after `COMMIT` returns does it broadcast each change, in commit order,
//! to every reactor, then tell each requester its typed outcome; so an
//! acknowledged write has been committed, and every reactor has the change
//! queued before any client can hear `true`.
//!
//! Rooms: `schema` (tables, pragmas), `configs` (config rows, their history
//! and the change each write broadcasts), `accounts` (users, roles,
//! permissions, namespaces, the token secret), `transfer` (an import or a
//! clone as one write). This file is the writer loop. `backend` is the
//! boundary that chooses between this store and `pg`, the PostgreSQL one
//! (cluster mode).
//!
//! Invariants: only this module and `query` name `rusqlite`; the writer never
//! touches a socket (it notifies reactors through the callback in
//! [`ReactorLink`]). Table and column names follow Nacos's schema
//! (`config_info`, `his_config_info`, `config_info_beta`, `config_info_tag`,
//! `config_tags_relation`, `tenant_info`); times are epoch milliseconds.

mod accounts;
mod backend;
mod configs;
pub mod pg;
mod schema;
#[cfg(test)]
mod tests;
mod transfer;

pub(crate) use accounts::load_auth_state;
pub use backend::{Backend, ReaderBackend};
pub(crate) use schema::open_connection;
pub use schema::Sync;

use crate::metrics::Metrics;
use crate::model::Change;
use crate::msg::{now_ms, Published, ReactorLink, ToReactor, WriteOp, WriteRequest, Written};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use rusqlite::{params, Connection};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most commands committed in one transaction.
pub const MAX_BATCH: usize = 1024;
/// The database file inside the data directory.
pub const DB_FILE: &str = "vigil.db";
/// How often expired history rows are purged.
const PURGE_EVERY: Duration = Duration::from_secs(600);
/// Most history rows deleted per purge transaction.
const PURGE_CHUNK: i64 = 10_000;

/// A storage failure, with the file it concerns.
#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

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
        conn.execute_batch(schema::SCHEMA)
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
                    link.push(ToReactor::Written {
                        conn: req.reply.conn,
                        generation: req.reply.generation,
                        result: outcome.map(|o| o.written),
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
    written: Written,
    changes: Vec<Change>,
    /// Users, roles or permissions changed.
    auth_changed: bool,
}

impl Outcome {
    fn new(written: Written, changes: Vec<Change>) -> Outcome {
        Outcome {
            written,
            changes,
            auth_changed: false,
        }
    }

    fn auth(written: Written) -> Outcome {
        Outcome {
            written,
            changes: Vec::new(),
            auth_changed: true,
        }
    }
}

/// Applies one write inside the open transaction.
fn apply(
    conn: &Connection,
    op: &WriteOp,
    now: i64,
    variants: &mut HashSet<String>,
) -> rusqlite::Result<Outcome> {
    if let WriteOp::Publish(p) = op {
        crate::fatal::tripwire(crate::fatal::PanicSite::Writer, &p.key.data_id);
    }
    match op {
        WriteOp::Publish(_)
        | WriteOp::PublishBeta(..)
        | WriteOp::PublishTag(..)
        | WriteOp::Delete { .. }
        | WriteOp::DeleteTag { .. }
        | WriteOp::StopBeta { .. }
        | WriteOp::DeleteIds { .. }
        | WriteOp::Import(_)
        | WriteOp::Clone(_) => configs::apply(conn, op, now, variants),
        _ => accounts::apply(conn, op, now),
    }
}
