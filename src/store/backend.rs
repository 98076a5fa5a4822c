//! The storage boundary: one embedded SQLite file (the default: one node,
//! nothing to set up) or a PostgreSQL database shared by a cluster of
//! nodes, chosen at start-up by `--store`. Both take the same write
//! requests, send reactors the same messages in the same order (changes in
//! commit order, then answers, then `Published`), and answer the same
//! console queries; nothing above this file knows which one runs.

use super::pg::PgStore;
use super::sqlite::Reader;
use super::{writer, Fatal, Store, StoreError, Sync};
use crate::auth::{AuthKeys, AuthState};
use crate::metrics::Metrics;
use crate::model::Entry;
use crate::msg::{Published, QueryRequest, ReactorLink, WriteRequest};
use crate::query::serve;
use crossbeam_channel::Receiver;
use std::path::Path;
use std::sync::Arc;

/// The store a node runs on.
pub enum Backend {
    Sqlite(Box<Store>),
    Postgres(Box<PgStore>),
}

/// The reader thread's store.
pub enum ReaderBackend {
    Sqlite(Reader),
    Postgres(Box<super::pg::PgReader>),
}

impl Backend {
    /// Opens PostgreSQL when `store` is given (a `postgres://` URL), else
    /// the SQLite database in `data_dir`.
    pub fn open(store: Option<&str>, data_dir: &Path, sync: Sync) -> Result<Backend, StoreError> {
        match store {
            Some(url) => Ok(Backend::Postgres(Box::new(PgStore::open(url)?))),
            None => Ok(Backend::Sqlite(Box::new(Store::open(data_dir, sync)?))),
        }
    }

    /// Where the data lives, for log lines (never a password).
    pub fn describe(&self) -> String {
        match self {
            Backend::Sqlite(s) => s.path().display().to_string(),
            Backend::Postgres(p) => p.target().to_owned(),
        }
    }

    /// Every stored entry, by groupKey.
    pub fn load_all(&mut self) -> Result<Vec<(String, Arc<Entry>)>, StoreError> {
        match self {
            Backend::Sqlite(s) => s.load_all(),
            Backend::Postgres(p) => p.load_all(),
        }
    }

    /// The change number the loaded entries are current to (the start of
    /// `Published`).
    pub fn loaded_seq(&self) -> u64 {
        match self {
            // Alone, numbers start from the clock, in microseconds, so ids
            // from before a restart are always older than any after it: a
            // watch stream resuming across a restart gets a reset and a
            // fresh snapshot, never a silently skipped change.
            Backend::Sqlite(_) => u64::try_from(crate::msg::now_ms()).unwrap_or(0) * 1000,
            Backend::Postgres(p) => p.loaded_seq(),
        }
    }

    /// The address other nodes reach this one at (cluster mode only).
    pub fn set_advertise(&mut self, addr: String) {
        if let Backend::Postgres(p) = self {
            p.set_advertise(addr);
        }
    }

    pub fn ensure_admin(&mut self, user: &str, password: Option<&str>) -> Result<(), StoreError> {
        match self {
            Backend::Sqlite(s) => s.ensure_admin(user, password),
            Backend::Postgres(p) => p.ensure_admin(user, password),
        }
    }

    pub fn auth_keys(&mut self, ttl_secs: u64) -> Result<AuthKeys, StoreError> {
        match self {
            Backend::Sqlite(s) => s.auth_keys(ttl_secs),
            Backend::Postgres(p) => p.auth_keys(ttl_secs),
        }
    }

    pub fn auth_state(&mut self) -> Result<AuthState, StoreError> {
        match self {
            Backend::Sqlite(s) => s.auth_state(),
            Backend::Postgres(p) => p.auth_state(),
        }
    }

    /// Cluster mode: the other members, whom `crate::cluster` asks for
    /// their listeners; none on SQLite.
    pub fn roster(&self) -> Option<super::pg::Roster> {
        match self {
            Backend::Sqlite(_) => None,
            Backend::Postgres(p) => Some(p.roster()),
        }
    }

    /// The reader thread's store, on a connection of its own.
    pub fn reader(&self, keys: Option<AuthKeys>) -> Result<ReaderBackend, StoreError> {
        match self {
            Backend::Sqlite(s) => Ok(ReaderBackend::Sqlite(Reader::open(s.path(), keys)?)),
            Backend::Postgres(p) => Ok(ReaderBackend::Postgres(Box::new(p.reader(keys)?))),
        }
    }

    /// Runs the writer loop until every sender is gone, or the store
    /// reaches a state it cannot go on from.
    pub fn run_writer(
        self,
        rx: Receiver<WriteRequest>,
        reactors: Vec<ReactorLink>,
        metrics: Arc<Metrics>,
        published: Arc<Published>,
        retention_days: u64,
    ) -> Result<(), Fatal> {
        match self {
            Backend::Sqlite(mut s) => {
                writer::run(&mut *s, rx, reactors, metrics, published, retention_days)
            }
            Backend::Postgres(mut p) => {
                writer::run(&mut *p, rx, reactors, metrics, published, retention_days)
            }
        }
    }
}

impl ReaderBackend {
    /// Where checked imports go (the reader hands them to the writer).
    pub fn with_writer(self, tx: crossbeam_channel::Sender<crate::msg::WriteRequest>) -> Self {
        match self {
            ReaderBackend::Sqlite(r) => ReaderBackend::Sqlite(r.with_writer(tx)),
            ReaderBackend::Postgres(r) => ReaderBackend::Postgres(Box::new(r.with_writer(tx))),
        }
    }

    /// Serves queries until every sender is gone.
    pub fn run(self, rx: Receiver<QueryRequest>, reactors: Vec<ReactorLink>) {
        match self {
            ReaderBackend::Sqlite(r) => serve(r, rx, reactors),
            ReaderBackend::Postgres(r) => serve(*r, rx, reactors),
        }
    }
}
