//! The writer loop, once for both stores.
//!
//! The loop owns batching (it takes everything pending, up to
//! [`MAX_BATCH`], as one transaction: group commit), the order of what
//! reactors hear (every change of a batch, in commit order, then every
//! answer, then `Published` and a wake-up: so a change is queued in every
//! reactor's inbox before any publisher hears `true`), and the write
//! metrics. A store supplies only its transaction and its housekeeping, as
//! an [`Engine`]: it applies a batch (the rules in `store::rules` over its
//! statements) and queues the batch's changes through the [`Feed`].
//!
//! The PostgreSQL engine also hears hints that other nodes committed; it
//! then replays the shared log through the same feed. A state it cannot go
//! on from ([`Fatal`]) ends the loop and is returned to `main`.

use super::{Fatal, MAX_BATCH};
use crate::auth::AuthState;
use crate::metrics::Metrics;
use crate::model::Change;
use crate::msg::{
    Published, ReactorLink, Reply, ReplyTo, ToReactor, WriteOp, WriteRequest, Written,
};
use crossbeam_channel::Receiver;
use std::sync::Arc;
use std::time::Instant;

/// Body of the 503 a write or console query gets while the store is
/// unreachable.
pub(crate) const UNAVAILABLE: &str = "caused: the configuration store is unreachable, retry later;";

/// What one write request is answered.
#[derive(Debug)]
pub(crate) enum Answer {
    /// Committed, and every reactor has its changes queued.
    Written(Written),
    /// The write failed (answered 500 with the storage error).
    Failed(String),
    /// The store is unreachable, or the write's outcome is not yet in this
    /// node's cache (answered 503: retry).
    Unavailable,
}

/// A batch as the store applied it.
pub(crate) struct Applied {
    /// One answer per request, in order.
    pub(crate) answers: Vec<Answer>,
    /// Whether a transaction committed (the commit metrics count it).
    pub(crate) committed: bool,
}

/// A store's half of the writer.
pub(crate) trait Engine {
    /// Applies `batch` in one transaction; after the commit, queues its
    /// changes (numbered in commit order) and any new auth snapshot
    /// through `feed`.
    fn write(&mut self, batch: &[WriteRequest], feed: &mut Feed) -> Result<Applied, Fatal>;
    /// Hints that other writers may have committed (see `catch_up`); a
    /// store alone has none.
    fn hints(&self) -> Receiver<u64>;
    /// Queues, through `feed`, what others committed since the last change
    /// queued, if the hints ask for it.
    fn catch_up(&mut self, hints: &[u64], feed: &mut Feed) -> Result<(), Fatal>;
    /// Runs periodic work that is due (history purge, heartbeat); returns
    /// when it is next due.
    fn housekeep(&mut self, retention_days: u64) -> Instant;
    /// The writer is stopping: every reactor is gone.
    fn close(&mut self);
}

/// What reactors hear from the writer, in the order the loop keeps.
pub(crate) struct Feed {
    reactors: Vec<ReactorLink>,
    published: Arc<Published>,
    /// The last change number queued in every reactor's inbox.
    last: u64,
}

impl Feed {
    pub(crate) fn new(reactors: Vec<ReactorLink>, published: Arc<Published>) -> Feed {
        let last = published.get();
        Feed {
            reactors,
            published,
            last,
        }
    }

    /// The last change number queued.
    pub(crate) fn last(&self) -> u64 {
        self.last
    }

    /// Queues a committed change (its number set) in every reactor's inbox.
    pub(crate) fn change(&mut self, change: Change) {
        self.last = change.seq;
        let change = Arc::new(change);
        for link in &self.reactors {
            link.push(ToReactor::Change(change.clone()));
        }
    }

    /// Queues the next change, numbered after the last one.
    pub(crate) fn next(&mut self, mut change: Change) {
        change.seq = self.last + 1;
        self.change(change);
    }

    /// Counts changes up to `seq` as queued (numbers with no change to
    /// send, such as an auth change in the shared log).
    pub(crate) fn advance(&mut self, seq: u64) {
        self.last = seq;
    }

    /// Queues a new users, roles and permissions snapshot.
    pub(crate) fn auth(&self, state: AuthState) {
        let state = Arc::new(state);
        for link in &self.reactors {
            link.push(ToReactor::Auth(state.clone()));
        }
    }

    fn answer(&self, reply: ReplyTo, answer: Answer) {
        let Some(link) = self.reactors.get(reply.reactor) else {
            return;
        };
        let (conn, generation, tag) = (reply.conn, reply.generation, reply.tag);
        link.push(match answer {
            Answer::Written(w) => ToReactor::Written {
                conn,
                generation,
                tag,
                result: Ok(w),
            },
            Answer::Failed(e) => ToReactor::Written {
                conn,
                generation,
                tag,
                result: Err(e),
            },
            Answer::Unavailable => ToReactor::Done {
                conn,
                generation,
                tag,
                result: Ok(Reply::new(503, UNAVAILABLE)),
            },
        });
    }

    /// Lets reactors act on everything queued so far.
    fn publish(&self) {
        self.published.set(self.last);
        for link in &self.reactors {
            (link.notify)();
        }
    }
}

/// Which counter a write's success adds to.
fn counter<'m>(metrics: &'m Metrics, op: &WriteOp) -> Option<&'m std::sync::atomic::AtomicU64> {
    match op {
        WriteOp::Publish(_) | WriteOp::PublishBeta(..) | WriteOp::PublishTag(..) => {
            Some(&metrics.publishes)
        }
        WriteOp::Delete { .. } | WriteOp::DeleteTag { .. } | WriteOp::DeleteIds { .. } => {
            Some(&metrics.deletes)
        }
        WriteOp::StopBeta { .. }
        | WriteOp::NamespaceCreate { .. }
        | WriteOp::NamespaceUpdate { .. }
        | WriteOp::NamespaceDelete { .. }
        | WriteOp::UserCreate { .. }
        | WriteOp::UserUpdate { .. }
        | WriteOp::UserDelete { .. }
        | WriteOp::RoleAdd { .. }
        | WriteOp::RoleDelete { .. }
        | WriteOp::PermissionAdd { .. }
        | WriteOp::PermissionDelete { .. }
        | WriteOp::Import(_)
        | WriteOp::Clone(_) => None,
    }
}

/// Runs the writer loop until every sender is gone (`Ok`), or the store
/// reaches a state it cannot go on from.
pub(crate) fn run(
    engine: &mut impl Engine,
    rx: Receiver<WriteRequest>,
    reactors: Vec<ReactorLink>,
    metrics: Arc<Metrics>,
    published: Arc<Published>,
    retention_days: u64,
) -> Result<(), Fatal> {
    let mut feed = Feed::new(reactors, published);
    let mut batch: Vec<WriteRequest> = Vec::with_capacity(MAX_BATCH);
    let mut hints = engine.hints();
    let mut pending: Vec<u64> = Vec::new();
    loop {
        let due = engine.housekeep(retention_days);
        let wait = due.saturating_duration_since(Instant::now());
        crossbeam_channel::select! {
            recv(rx) -> msg => match msg {
                Ok(first) => batch.push(first),
                Err(_) => break,
            },
            recv(hints) -> msg => {
                let Ok(hint) = msg else {
                    log::error!("the change listener stopped; relying on writes");
                    hints = crossbeam_channel::never();
                    continue;
                };
                pending.clear();
                pending.push(hint);
                pending.extend(hints.try_iter());
                let before = feed.last();
                engine.catch_up(&pending, &mut feed)?;
                if feed.last() != before {
                    feed.publish();
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
        let applied = engine.write(&batch, &mut feed)?;
        if applied.committed {
            metrics.commit(batch.len(), started.elapsed());
        }
        for (req, answer) in batch.drain(..).zip(applied.answers) {
            match answer {
                Answer::Written(_) => {
                    if let Some(c) = counter(&metrics, &req.op) {
                        Metrics::inc(c);
                    }
                }
                Answer::Failed(_) | Answer::Unavailable => Metrics::inc(&metrics.write_failures),
            }
            feed.answer(req.reply, answer);
        }
        feed.publish();
    }
    engine.close();
    Ok(())
}
