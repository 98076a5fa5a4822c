//! The PostgreSQL writer loop and the change feed.
//!
//! ## Commit-ordered change numbers
//!
//! A writer takes its batch's change numbers with
//! `UPDATE vigil_change_seq SET seq = seq + n WHERE id = 1 RETURNING seq`
//! as the last statement before `COMMIT`. The update holds that row's lock
//! until the transaction ends, and any other writer's update of the row
//! waits for the lock, then (READ COMMITTED) reads the value the first one
//! committed. So if T1 took numbers before T2, T1 had committed before T2
//! got its numbers, hence before T2 committed: numbers are handed out in
//! commit order. A transaction that rolls back releases its numbers
//! unused, and the next writer takes the same ones: the log has no gaps.
//! Hence, in any snapshot, the log is exactly the numbers 1..=s for some s,
//! and a reader that has applied 1..=a and reads `seq > a` in order misses
//! nothing and sees nothing out of order. No clock is involved.
//!
//! ## Applying changes
//!
//! The writer is the only thread that queues changes for the reactors. Its
//! feed (`store::writer::Feed`) keeps `applied`, the last number its
//! reactors have. After its own commit of numbers start..=end it sends its
//! own changes directly only when `applied + 1 == start`; otherwise other
//! nodes committed in between and it replays the log from `applied + 1`
//! (which includes its own). A replay
//! reads the log rows and the current entries of their keys in one
//! REPEATABLE READ snapshot. Either way a change is queued in every
//! reactor's inbox before `Published` covers it and before any publisher
//! hears its answer, exactly as the SQLite writer does.
//!
//! Why the direct path is exact: its entries were read inside its own
//! transaction (READ COMMITTED), after its writes. Any transaction whose
//! effect those reads saw had committed, so it holds a number below
//! `start`, which `applied` covers; any that commits later takes a number
//! above `end`.
//!
//! ## When the log grows
//!
//! The listener thread `LISTEN`s on [`CHANNEL`] (before the start-up load);
//! writers `NOTIFY` their last number inside the transaction, delivered at
//! commit. Each notification, each reconnect and a slow timer poke the
//! writer, which replays. Notifications are only hints: the log is the truth.
//!
//! ## PostgreSQL unreachable
//!
//! Writes are answered 503 at once (a reconnect is tried at most every
//! [`RECONNECT_EVERY`]); the reactors keep serving reads and polls from
//! their caches. A commit whose outcome is unknown (the connection broke
//! during `COMMIT`) is answered 503 too; if it did commit, every node
//! replays it.

use super::db::{Db, Statements};
use super::listener::CHECK;
use super::schema::{CHANNEL, LOCK_PURGE};
use super::{accounts, configs, OpError, PgStore};
use crate::model::{Change, Entry};
use crate::msg::{now_ms, Key, WriteRequest};
use crate::store::rules::{self, Outcome};
use crate::store::writer::{Answer, Applied, Engine, Feed};
use crate::store::Fatal;
use crossbeam_channel::Receiver;
use postgres::error::SqlState;
use postgres::{Client, IsolationLevel, NoTls, Transaction};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Least time between two connection attempts while PostgreSQL is down.
pub(super) const RECONNECT_EVERY: Duration = Duration::from_millis(250);
/// How often a node renews its row in `vigil_nodes`.
pub(super) const HEARTBEAT: Duration = Duration::from_secs(1);
/// How often expired history rows, old log rows and gone nodes are purged.
const PURGE_EVERY: Duration = Duration::from_secs(600);
/// Most history rows deleted per purge statement.
const PURGE_CHUNK: i64 = 10_000;
/// Log rows kept behind the newest: a node disconnected for longer than
/// this many changes must restart (it then loads everything afresh).
const LOG_KEEP: i64 = 1_000_000;
/// Most log rows replayed in one snapshot.
const REPLAY_ROWS: i64 = 10_000;
/// Tries of one write that lost a deadlock or serialization race.
const OP_TRIES: u32 = 3;

/// A committed batch: one result per request, and its change numbers.
struct Committed {
    results: Vec<Result<Outcome, String>>,
    /// The changes of the batch in log order, each numbered by its row's
    /// place in the batch (the log numbers them start..=end), and whether
    /// users, roles or permissions changed.
    changes: Vec<Change>,
    auth: bool,
    end: u64,
    rows: u64,
}

fn retryable(e: &OpError) -> bool {
    matches!(e, OpError::Db(e) if e.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED)
        || e.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE))
}

/// Why a replay stopped.
enum ReplayError {
    /// PostgreSQL failed or is unreachable: the next hint retries.
    Lost(String),
    /// The log no longer holds what this node needs.
    Fatal(Fatal),
}

impl From<postgres::Error> for ReplayError {
    fn from(e: postgres::Error) -> ReplayError {
        ReplayError::Lost(e.to_string())
    }
}

impl PgStore {
    /// The writer's connection, reconnecting (at most every
    /// [`RECONNECT_EVERY`]) when it was lost.
    fn client(&mut self) -> Option<(&mut Client, &mut Statements)> {
        if self.client.is_closed() {
            if Instant::now() < self.retry_at {
                return None;
            }
            self.retry_at = Instant::now() + RECONNECT_EVERY;
            match self.config.connect(NoTls) {
                Ok(c) => {
                    log::info!("reconnected to {}", self.target);
                    self.client = c;
                    self.stmts.clear();
                }
                Err(e) => {
                    log::debug!("cannot reconnect to {}: {e}", self.target);
                    return None;
                }
            }
        }
        Some((&mut self.client, &mut self.stmts))
    }

    fn push_auth(&mut self, feed: &Feed) {
        match accounts::load_auth_state(&mut Db::new(&mut self.client, &mut self.stmts)) {
            Ok(state) => feed.auth(state),
            Err(e) => log::error!("cannot reload users from {}: {e}", self.target),
        }
    }

    /// Replays the log after the last change queued, in order, queueing
    /// every change (without publishing: the loop does). Stops at the
    /// first error.
    fn replay(&mut self, feed: &mut Feed) -> Result<(), ReplayError> {
        loop {
            let applied = feed.last();
            let target = self.target.clone();
            let Some((client, stmts)) = self.client() else {
                return Err(ReplayError::Lost("not connected".into()));
            };
            let mut tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let rows = tx.query(
                "SELECT seq, kind, data_id, group_id, tenant_id FROM vigil_change_log WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&(applied as i64), &REPLAY_ROWS],
            )?;
            let mut log = Vec::with_capacity(rows.len());
            let mut keys = Vec::new();
            let mut auth = None;
            for (i, r) in rows.iter().enumerate() {
                let seq: i64 = r.try_get(0)?;
                let seq = u64::try_from(seq).unwrap_or(0);
                let expected = applied + 1 + i as u64;
                if seq != expected {
                    // Only the purge removes log rows, and only far behind
                    // the newest: this node missed more than it keeps.
                    return Err(ReplayError::Fatal(Fatal::LogPurged {
                        change: expected,
                        store: target,
                    }));
                }
                let kind: String = r.try_get(1)?;
                if kind == "a" {
                    if auth.is_none() {
                        auth = Some(accounts::load_auth_state(&mut Db::new(&mut tx, stmts))?);
                    }
                    log.push((seq, None));
                    continue;
                }
                let key = Key {
                    data_id: r.try_get(2)?,
                    group: r.try_get(3)?,
                    tenant: r.try_get(4)?,
                };
                log.push((seq, Some(key.group_key())));
                keys.push(key);
            }
            let entries = configs::entries_of(&mut Db::new(&mut tx, stmts), &keys)?;
            tx.commit()?;
            for (gk, entry) in &entries {
                if entry.beta.is_some() || !entry.tags.is_empty() {
                    self.variants.insert(gk.clone());
                }
            }
            let Some(&(last, _)) = log.last() else {
                return Ok(());
            };
            for (seq, gk) in log {
                let Some(gk) = gk else { continue };
                let entry = entries.get(&gk).cloned();
                feed.change(Change {
                    seq,
                    group_key: gk.into(),
                    entry,
                });
            }
            if let Some(state) = auth {
                feed.auth(state);
            }
            feed.advance(last);
            if rows.len() < REPLAY_ROWS as usize {
                return Ok(());
            }
        }
    }

    /// Replays the log, logging (not failing on) a lost connection.
    fn catch_up_log(&mut self, feed: &mut Feed) -> Result<(), Fatal> {
        match self.replay(feed) {
            Ok(()) => Ok(()),
            Err(ReplayError::Lost(e)) => {
                log::warn!("cannot read the change log from {}: {e}", self.target);
                Ok(())
            }
            Err(ReplayError::Fatal(f)) => Err(f),
        }
    }
}

impl Engine for PgStore {
    /// Commits a batch and queues its changes: directly when nothing came
    /// between, else by a replay of the log.
    fn write(&mut self, batch: &[WriteRequest], feed: &mut Feed) -> Result<Applied, Fatal> {
        let answered = |answers: Vec<Answer>| {
            // Counted as a commit only when some write was answered `true`.
            let committed = answers.iter().any(|a| matches!(a, Answer::Written(_)));
            Ok(Applied { answers, committed })
        };
        let unavailable = || answered(batch.iter().map(|_| Answer::Unavailable).collect());
        let mut variants = std::mem::take(&mut self.variants);
        let result = self
            .client()
            .map(|(client, stmts)| commit(client, stmts, batch, &mut variants));
        self.variants = variants;
        let Some(result) = result else {
            return unavailable();
        };
        let committed = match result {
            Ok(c) => c,
            Err(e) => {
                if self.client.is_closed() {
                    log::warn!("PostgreSQL {} unreachable: {e}", self.target);
                    return unavailable();
                }
                let msg = format!("storage error: {}", super::explain(&e));
                log::error!("{msg} ({})", self.target);
                return answered(batch.iter().map(|_| Answer::Failed(msg.clone())).collect());
            }
        };
        let mut caught_up = true;
        if committed.rows > 0 {
            let start = committed.end + 1 - committed.rows;
            if feed.last() + 1 == start {
                for mut change in committed.changes {
                    change.seq += start;
                    feed.change(change);
                }
                if committed.auth {
                    self.push_auth(feed);
                }
                feed.advance(committed.end);
            } else {
                // Other nodes committed in between: replay the log, ours included.
                match self.replay(feed) {
                    Ok(()) | Err(ReplayError::Lost(_)) => {}
                    Err(ReplayError::Fatal(f)) => return Err(f),
                }
                caught_up = feed.last() >= committed.end;
            }
        }
        answered(
            committed
                .results
                .into_iter()
                .map(|r| match r {
                    // Committed, but not yet in this node's cache: the publisher
                    // must not hear `true` before every reactor has it.
                    Ok(_) if !caught_up => Answer::Unavailable,
                    Ok(o) => Answer::Written(o.written),
                    Err(e) => Answer::Failed(e),
                })
                .collect(),
        )
    }

    fn hints(&self) -> Receiver<u64> {
        self.pokes.clone()
    }

    /// Most pokes name numbers this node has applied already (its own
    /// commits); any other, or a [`CHECK`], asks for a replay.
    fn catch_up(&mut self, hints: &[u64], feed: &mut Feed) -> Result<(), Fatal> {
        if hints.iter().any(|&h| h == CHECK || h > feed.last()) {
            self.catch_up_log(feed)?;
        }
        Ok(())
    }

    fn housekeep(&mut self, retention_days: u64) -> Instant {
        let now = Instant::now();
        if now >= self.next_beat {
            self.heartbeat();
            self.next_beat = now + HEARTBEAT;
        }
        if now >= self.next_purge {
            self.purge(retention_days);
            self.next_purge = now + PURGE_EVERY;
        }
        self.next_beat
    }

    fn close(&mut self) {
        let node = self.node_id.clone();
        if let Some((c, _)) = self.client() {
            let _ = c.execute("DELETE FROM vigil_nodes WHERE node_id = $1", &[&node]);
        }
        log::debug!("writer: all reactors gone, leaving {}", self.target);
    }
}

impl PgStore {
    /// Renews this node's row in `vigil_nodes` (when it has an address).
    fn heartbeat(&mut self) {
        let Some(addr) = self.advertise.clone() else {
            return;
        };
        let node = self.node_id.clone();
        if let Some((c, _)) = self.client() {
            if let Err(e) = c.execute(
                "INSERT INTO vigil_nodes (node_id, addr, last_seen) VALUES ($1, $2, now())
                 ON CONFLICT (node_id) DO UPDATE SET addr = excluded.addr, last_seen = now()",
                &[&node, &addr],
            ) {
                log::debug!("heartbeat failed: {e}");
            }
        }
    }

    /// Purges expired history, log rows far behind and long-gone nodes, on
    /// one node at a time (a session advisory lock; others skip).
    fn purge(&mut self, retention_days: u64) {
        let target = self.target.clone();
        let Some((c, _)) = self.client() else {
            return;
        };
        let locked = c
            .query_one("SELECT pg_try_advisory_lock($1)", &[&LOCK_PURGE])
            .and_then(|r| r.try_get::<_, bool>(0));
        if !matches!(locked, Ok(true)) {
            return;
        }
        let cutoff = now_ms() - (retention_days as i64).saturating_mul(86_400_000);
        let mut purged = 0;
        let result = (|| -> Result<(), postgres::Error> {
            if retention_days > 0 {
                loop {
                    let n = c.execute(
                        "DELETE FROM his_config_info WHERE nid IN (SELECT nid FROM his_config_info WHERE gmt_modified < $1 LIMIT $2)",
                        &[&cutoff, &PURGE_CHUNK],
                    )?;
                    purged += n;
                    if (n as i64) < PURGE_CHUNK {
                        break;
                    }
                }
            }
            c.execute(
                "DELETE FROM vigil_change_log WHERE seq <= (SELECT seq FROM vigil_change_seq WHERE id = 1) - $1",
                &[&LOG_KEEP],
            )?;
            c.execute(
                "DELETE FROM vigil_nodes WHERE last_seen < now() - interval '1 hour'",
                &[],
            )?;
            Ok(())
        })();
        match result {
            Ok(()) if purged > 0 => {
                log::info!("purged {purged} expired history rows from {target}")
            }
            Ok(()) => {}
            Err(e) => log::error!("cannot purge history in {target}: {e}"),
        }
        let _ = c.execute("SELECT pg_advisory_unlock($1)", &[&LOCK_PURGE]);
    }
}

/// Numbers the batch's log rows, appends them and notifies, in one
/// statement: the last before COMMIT, so the counter row stays locked only
/// while the commit itself runs.
const APPEND_LOG: &str = "
WITH s AS (
    UPDATE vigil_change_seq SET seq = seq + $1 WHERE id = 1 RETURNING seq
), l AS (
    INSERT INTO vigil_change_log (seq, kind, data_id, group_id, tenant_id)
    SELECT s.seq - $1 + t.n, t.kind, t.data_id, t.group_id, t.tenant_id
    FROM s, UNNEST($2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[])
        WITH ORDINALITY AS t(kind, data_id, group_id, tenant_id, n)
), n AS (
    SELECT pg_notify($6, seq::TEXT) FROM s
)
SELECT s.seq FROM s, n";

/// Applies a batch in one transaction, numbers its changes and commits.
///
/// Writes run without savepoints (each would cost two round trips): when
/// one fails, the transaction is rolled back and run again without it (a
/// lost deadlock is retried instead, up to [`OP_TRIES`] runs). So every
/// run either commits, or drops one more write, or counts towards the cap.
///
/// `variants` holds every key that may have beta or tag rows (a superset):
/// for other keys a formal write's change is built from what it wrote. That
/// is exact on the direct path of `write_batch`, where every earlier commit
/// is applied, so every variant row this transaction could see is known;
/// on the replay path every entry is read afresh.
fn commit(
    client: &mut Client,
    stmts: &mut Statements,
    batch: &[WriteRequest],
    variants: &mut HashSet<String>,
) -> Result<Committed, postgres::Error> {
    let now = now_ms();
    let mut failed: Vec<Option<String>> = vec![None; batch.len()];
    let mut runs = 0;
    'run: loop {
        runs += 1;
        let mut tx = client.transaction()?;
        let mut results: Vec<Result<Outcome, String>> = Vec::with_capacity(batch.len());
        for (i, req) in batch.iter().enumerate() {
            if let Some(e) = &failed[i] {
                results.push(Err(e.clone()));
                continue;
            }
            match rules::apply(&mut Db::new(&mut tx, stmts), &req.op, now) {
                Ok(o) => results.push(Ok(o)),
                Err(OpError::Db(e)) if e.is_closed() => return Err(e),
                Err(e) => {
                    tx.rollback()?;
                    if !(retryable(&e) && runs < OP_TRIES) {
                        log::error!("storage error: {e}");
                        failed[i] = Some(format!("storage error: {e}"));
                    }
                    continue 'run;
                }
            }
        }
        return finish(tx, stmts, results, variants);
    }
}

/// Builds the batch's changes, appends its log rows and commits.
fn finish(
    mut tx: Transaction<'_>,
    stmts: &mut Statements,
    results: Vec<Result<Outcome, String>>,
    variants: &mut HashSet<String>,
) -> Result<Committed, postgres::Error> {
    let outcomes = || results.iter().flatten();
    for outcome in outcomes() {
        for (key, known) in &outcome.keys {
            if known.is_none() {
                variants.insert(key.group_key());
            }
        }
    }
    // The entries to read, all at once.
    let unknown: Vec<Key> = outcomes()
        .flat_map(|o| &o.keys)
        .filter(|(key, known)| known.is_none() || variants.contains(&key.group_key()))
        .map(|(key, _)| key.clone())
        .collect();
    let read = if unknown.is_empty() {
        Default::default()
    } else {
        configs::entries_of(&mut Db::new(&mut tx, stmts), &unknown)?
    };
    let mut kinds: Vec<&str> = Vec::new();
    let mut keys: Vec<&Key> = Vec::new();
    let mut changes = Vec::new();
    let mut auth = false;
    for outcome in outcomes() {
        for (key, known) in &outcome.keys {
            let group_key = key.group_key();
            let entry = match known {
                Some(formal) if !variants.contains(&group_key) => formal.clone().map(|f| {
                    Arc::new(Entry {
                        formal: Some(f),
                        ..Entry::default()
                    })
                }),
                _ => read.get(&group_key).cloned(),
            };
            // Its log row's place in the batch (an auth row takes one too);
            // `write` adds the batch's first number.
            changes.push(Change {
                seq: kinds.len() as u64,
                group_key: group_key.into(),
                entry,
            });
            kinds.push("c");
            keys.push(key);
        }
        if outcome.auth_changed {
            auth = true;
            kinds.push("a");
            keys.push(&EMPTY_KEY);
        }
    }
    let rows = kinds.len() as i64;
    let mut end: i64 = 0;
    if rows > 0 {
        let data_ids: Vec<&str> = keys.iter().map(|k| k.data_id.as_str()).collect();
        let groups: Vec<&str> = keys.iter().map(|k| k.group.as_str()).collect();
        let tenants: Vec<&str> = keys.iter().map(|k| k.tenant.as_str()).collect();
        end = Db::new(&mut tx, stmts)
            .query_one(
                APPEND_LOG,
                &[&rows, &kinds, &data_ids, &groups, &tenants, &CHANNEL],
            )?
            .try_get(0)?;
    }
    tx.commit()?;
    Ok(Committed {
        results,
        changes,
        auth,
        end: u64::try_from(end).unwrap_or(0),
        rows: rows as u64,
    })
}

static EMPTY_KEY: Key = Key {
    data_id: String::new(),
    group: String::new(),
    tenant: String::new(),
};
