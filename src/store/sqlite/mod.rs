//! The SQLite store: one file (WAL) owned by a single writer thread.
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
//! Rooms: `schema` (tables, pragmas), `configs` (config rows, the start-up
//! load and the change each write broadcasts), `accounts` (users, roles,
//! permissions, namespaces, the token secret), `query` (the reader
//! thread's console queries). This file is the SQLite
//! half of the writer (`store::writer` is the loop): the transaction, its
//! savepoints, and the history purge. What each write does is
//! `store::rules`.

mod accounts;
mod configs;
mod query;
mod schema;
#[cfg(test)]
mod tests;

use accounts::load_auth_state;
pub use query::Reader;
pub(crate) use schema::open_connection;
pub use schema::Sync;

use super::rules::{self, Outcome};
use super::writer::{Answer, Applied, Engine, Feed};
use super::{Fatal, StoreError, MAX_BATCH};
use crate::model::Change;
use crate::msg::{now_ms, WriteOp, WriteRequest};
use crossbeam_channel::Receiver;
use rusqlite::{params, Connection};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The database file inside the data directory.
pub const DB_FILE: &str = "vigil.db";
/// How often expired history rows are purged.
const PURGE_EVERY: Duration = Duration::from_secs(600);
/// Most history rows deleted per purge transaction.
const PURGE_CHUNK: i64 = 10_000;

/// The open database, owned by the writer.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// GroupKeys that may have beta or tag variants (a superset): for any
    /// other key a change needs no variant look-up.
    variants: HashSet<String>,
    /// One result per request of the batch being written (kept to reuse
    /// its allocation).
    outcomes: Vec<Result<(Outcome, Vec<Change>), String>>,
    /// When expired history is next purged.
    next_purge: Instant,
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
            outcomes: Vec::with_capacity(MAX_BATCH),
            next_purge: Instant::now(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
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
        outcomes: &mut Vec<Result<(Outcome, Vec<Change>), String>>,
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

impl Engine for Store {
    fn write(&mut self, batch: &[WriteRequest], feed: &mut Feed) -> Result<Applied, Fatal> {
        let mut outcomes = std::mem::take(&mut self.outcomes);
        let committed = self.commit_batch(batch, &mut outcomes);
        if outcomes.iter().flatten().any(|(o, _)| o.auth_changed) {
            match load_auth_state(&self.conn) {
                Ok(state) => feed.auth(state),
                Err(e) => log::error!("cannot reload users from {}: {e}", self.path.display()),
            }
        }
        for (_, changes) in outcomes.iter_mut().flatten() {
            for change in changes.drain(..) {
                feed.next(change);
            }
        }
        let answers = outcomes
            .drain(..)
            .map(|o| match o {
                Ok((o, _)) => Answer::Written(o.written),
                Err(e) => Answer::Failed(e),
            })
            .collect();
        self.outcomes = outcomes;
        Ok(Applied { answers, committed })
    }

    /// Alone, nobody else commits.
    fn hints(&self) -> Receiver<u64> {
        crossbeam_channel::never()
    }

    fn catch_up(&mut self, _hints: &[u64], _feed: &mut Feed) -> Result<(), Fatal> {
        Ok(())
    }

    fn housekeep(&mut self, retention_days: u64) -> Instant {
        let now = Instant::now();
        if retention_days == 0 {
            return now + PURGE_EVERY;
        }
        if now >= self.next_purge {
            self.purge_history(retention_days);
            self.next_purge = now + PURGE_EVERY;
        }
        self.next_purge
    }

    fn close(&mut self) {
        log::debug!("writer: all reactors gone, closing {}", self.path.display());
    }
}

/// Applies one write inside the open savepoint; returns its outcome and
/// the changes it broadcasts.
fn apply(
    conn: &Connection,
    op: &WriteOp,
    now: i64,
    variants: &mut HashSet<String>,
) -> rusqlite::Result<(Outcome, Vec<Change>)> {
    let mut outcome = rules::apply(&mut configs::Sql(conn), op, now)?;
    let mut changes = Vec::with_capacity(outcome.keys.len());
    for (key, known) in outcome.keys.drain(..) {
        if known.is_none() {
            variants.insert(key.group_key());
        }
        changes.push(configs::change_of(conn, &key, known, variants)?);
    }
    Ok((outcome, changes))
}
