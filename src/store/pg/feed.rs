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
//! The writer is the only thread that queues changes for the reactors. It
//! keeps `applied`, the last number its reactors have. After its own commit
//! of numbers start..=end it sends its own changes directly only when
//! `applied + 1 == start`; otherwise other nodes committed in between and it
//! replays the log from `applied + 1` (which includes its own). A replay
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
use super::{accounts, configs, OpError, Outcome, PgStore, UNAVAILABLE};
use crate::metrics::Metrics;
use crate::model::{Change, Entry};
use crate::msg::{
    now_ms, Key, Published, ReactorLink, Reply, ToReactor, WriteOp, WriteRequest, Written,
};
use crate::store::MAX_BATCH;
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

/// What one write request is answered.
enum Answer {
    Written(Written),
    Failed(String),
    Unavailable,
}

/// A committed batch: one result per request, and its change numbers.
struct Committed {
    results: Vec<Result<Outcome, String>>,
    /// The changes of the batch in log order (numbers start..=end), and
    /// whether users, roles or permissions changed.
    changes: Vec<Change>,
    auth: bool,
    end: u64,
    rows: u64,
}

fn retryable(e: &OpError) -> bool {
    matches!(e, OpError::Db(e) if e.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED)
        || e.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE))
}

impl PgStore {
    /// The writer's connection, reconnecting (at most every
    /// [`RECONNECT_EVERY`]) when it was lost.
    fn client(&mut self, retry_at: &mut Instant) -> Option<(&mut Client, &mut Statements)> {
        if self.client.is_closed() {
            if Instant::now() < *retry_at {
                return None;
            }
            *retry_at = Instant::now() + RECONNECT_EVERY;
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

    /// Runs the writer loop until every sender is gone, then returns.
    pub fn run_writer(
        mut self,
        rx: Receiver<WriteRequest>,
        reactors: Vec<ReactorLink>,
        metrics: Arc<Metrics>,
        published: Arc<Published>,
        retention_days: u64,
    ) {
        let mut retry_at = Instant::now();
        let mut batch: Vec<WriteRequest> = Vec::with_capacity(MAX_BATCH);
        let mut next_beat = Instant::now();
        let mut next_purge = Instant::now();
        let mut pokes = self.pokes.clone();
        loop {
            let now = Instant::now();
            if now >= next_beat {
                self.heartbeat(&mut retry_at);
                next_beat = now + HEARTBEAT;
            }
            if now >= next_purge {
                self.purge(retention_days, &mut retry_at);
                next_purge = now + PURGE_EVERY;
            }
            let wait = next_beat.saturating_duration_since(Instant::now());
            crossbeam_channel::select! {
                recv(rx) -> msg => match msg {
                    Ok(first) => batch.push(first),
                    Err(_) => break,
                },
                recv(pokes) -> msg => {
                    let Ok(hint) = msg else {
                        log::error!("the change listener stopped; relying on writes");
                        pokes = crossbeam_channel::never();
                        continue;
                    };
                    // Take every pending poke; most name numbers this
                    // node has applied already (its own commits).
                    let mut check = hint == CHECK || hint > self.applied;
                    for hint in pokes.try_iter() {
                        check |= hint == CHECK || hint > self.applied;
                    }
                    if check {
                        self.replay_and_publish(&reactors, &published, &mut retry_at);
                    }
                    continue;
                },
                default(wait) => continue,
            }
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(req) => batch.push(req),
                    Err(_) => break,
                }
            }
            let started = Instant::now();
            let answers = self.write_batch(&batch, &reactors, &mut retry_at);
            if answers.iter().any(|a| matches!(a, Answer::Written(_))) {
                metrics.commit(batch.len(), started.elapsed());
            }
            for (req, answer) in batch.drain(..).zip(answers) {
                count(&metrics, &req.op, &answer);
                let Some(link) = reactors.get(req.reply.reactor) else {
                    continue;
                };
                let (conn, generation) = (req.reply.conn, req.reply.generation);
                link.push(match answer {
                    Answer::Written(w) => ToReactor::Written {
                        conn,
                        generation,
                        result: Ok(w),
                    },
                    Answer::Failed(e) => ToReactor::Written {
                        conn,
                        generation,
                        result: Err(e),
                    },
                    Answer::Unavailable => ToReactor::Done {
                        conn,
                        generation,
                        result: Ok(Reply::new(503, UNAVAILABLE)),
                    },
                });
            }
            self.publish(&reactors, &published);
        }
        let node = self.node_id.clone();
        if let Some((c, _)) = self.client(&mut retry_at) {
            let _ = c.execute("DELETE FROM vigil_nodes WHERE node_id = $1", &[&node]);
        }
        log::debug!("writer: all reactors gone, leaving {}", self.target);
    }

    /// Tells the reactors everything queued so far may be acted on.
    fn publish(&self, reactors: &[ReactorLink], published: &Published) {
        published.set(self.applied);
        for link in reactors {
            (link.notify)();
        }
    }

    fn replay_and_publish(
        &mut self,
        reactors: &[ReactorLink],
        published: &Published,
        retry_at: &mut Instant,
    ) {
        let before = self.applied;
        if let Err(e) = self.replay(reactors, retry_at) {
            log::warn!("cannot read the change log from {}: {e}", self.target);
        }
        if self.applied != before {
            self.publish(reactors, published);
        }
    }

    /// Commits a batch and queues its changes; returns one answer per
    /// request. The caller queues the answers, then publishes.
    fn write_batch(
        &mut self,
        batch: &[WriteRequest],
        reactors: &[ReactorLink],
        retry_at: &mut Instant,
    ) -> Vec<Answer> {
        let unavailable = || batch.iter().map(|_| Answer::Unavailable).collect();
        let mut variants = std::mem::take(&mut self.variants);
        let result = self
            .client(retry_at)
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
                return batch.iter().map(|_| Answer::Failed(msg.clone())).collect();
            }
        };
        let mut caught_up = true;
        if committed.rows > 0 {
            let start = committed.end + 1 - committed.rows;
            if self.applied + 1 == start {
                for (i, mut change) in committed.changes.into_iter().enumerate() {
                    change.seq = start + i as u64;
                    let change = Arc::new(change);
                    for link in reactors {
                        link.push(ToReactor::Change(change.clone()));
                    }
                }
                if committed.auth {
                    self.push_auth(reactors);
                }
                self.applied = committed.end;
            } else {
                // Other nodes committed in between: replay the log, ours included.
                let _ = self.replay(reactors, retry_at);
                caught_up = self.applied >= committed.end;
            }
        }
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
            .collect()
    }

    fn push_auth(&mut self, reactors: &[ReactorLink]) {
        match accounts::load_auth_state(&mut Db::new(&mut self.client, &mut self.stmts)) {
            Ok(state) => {
                let state = Arc::new(state);
                for link in reactors {
                    link.push(ToReactor::Auth(state.clone()));
                }
            }
            Err(e) => log::error!("cannot reload users from {}: {e}", self.target),
        }
    }

    /// Replays the log after `applied`, in order, queueing every change
    /// (without publishing: the caller does). Stops at the first error.
    fn replay(&mut self, reactors: &[ReactorLink], retry_at: &mut Instant) -> Result<(), String> {
        loop {
            let applied = self.applied;
            let target = self.target.clone();
            let Some((client, stmts)) = self.client(retry_at) else {
                return Err("not connected".into());
            };
            let mut tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .map_err(|e| e.to_string())?;
            let rows = tx
                .query(
                    "SELECT seq, kind, data_id, group_id, tenant_id FROM vigil_change_log WHERE seq > $1 ORDER BY seq LIMIT $2",
                    &[&(applied as i64), &REPLAY_ROWS],
                )
                .map_err(|e| e.to_string())?;
            let mut log = Vec::with_capacity(rows.len());
            let mut keys = Vec::new();
            let mut auth = None;
            for (i, r) in rows.iter().enumerate() {
                let seq: i64 = r.try_get(0).map_err(|e| e.to_string())?;
                let seq = u64::try_from(seq).unwrap_or(0);
                if seq != applied + 1 + i as u64 {
                    // Only the purge removes log rows, and only far behind
                    // the newest: this node missed more than it keeps.
                    log::error!(
                        "change {} is no longer in the log of {} (purged); restart this node to reload",
                        applied + 1 + i as u64,
                        target
                    );
                    std::process::exit(1);
                }
                let kind: String = r.try_get(1).map_err(|e| e.to_string())?;
                if kind == "a" {
                    if auth.is_none() {
                        auth = Some(
                            accounts::load_auth_state(&mut Db::new(&mut tx, stmts))
                                .map_err(|e| e.to_string())?,
                        );
                    }
                    log.push((seq, None));
                    continue;
                }
                let key = Key {
                    data_id: r.try_get(2).map_err(|e| e.to_string())?,
                    group: r.try_get(3).map_err(|e| e.to_string())?,
                    tenant: r.try_get(4).map_err(|e| e.to_string())?,
                };
                log.push((seq, Some(key.group_key())));
                keys.push(key);
            }
            let entries = configs::entries_of(&mut Db::new(&mut tx, stmts), &keys)
                .map_err(|e| e.to_string())?;
            tx.commit().map_err(|e| e.to_string())?;
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
                let change = Arc::new(Change {
                    seq,
                    group_key: gk.into(),
                    entry,
                });
                for link in reactors {
                    link.push(ToReactor::Change(change.clone()));
                }
            }
            if let Some(state) = auth {
                let state = Arc::new(state);
                for link in reactors {
                    link.push(ToReactor::Auth(state.clone()));
                }
            }
            self.applied = last;
            if rows.len() < REPLAY_ROWS as usize {
                return Ok(());
            }
        }
    }

    /// Renews this node's row in `vigil_nodes` (when it has an address).
    fn heartbeat(&mut self, retry_at: &mut Instant) {
        let Some(addr) = self.advertise.clone() else {
            return;
        };
        let node = self.node_id.clone();
        if let Some((c, _)) = self.client(retry_at) {
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
    fn purge(&mut self, retention_days: u64, retry_at: &mut Instant) {
        let target = self.target.clone();
        let Some((c, _)) = self.client(retry_at) else {
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
            match configs::apply(&mut Db::new(&mut tx, stmts), &req.op, now) {
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
            changes.push(Change {
                seq: 0,
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

fn count(metrics: &Metrics, op: &WriteOp, answer: &Answer) {
    match (answer, op) {
        (Answer::Failed(_) | Answer::Unavailable, _) => Metrics::inc(&metrics.write_failures),
        (_, WriteOp::Publish(_) | WriteOp::PublishBeta(..) | WriteOp::PublishTag(..)) => {
            Metrics::inc(&metrics.publishes)
        }
        (_, WriteOp::Delete { .. } | WriteOp::DeleteTag { .. } | WriteOp::DeleteIds { .. }) => {
            Metrics::inc(&metrics.deletes)
        }
        _ => {}
    }
}
