//! Durable storage: one boundary, two stores.
//!
//! A node keeps its configs either in one embedded SQLite file (`sqlite`,
//! the default) or in a PostgreSQL database shared by a cluster of nodes
//! (`pg`), chosen at start-up by `--store` ([`Backend`]). What a write
//! does is decided once, here: `rules` holds the rule of every write over
//! the statements each store supplies (its `Rows`), and `transfer` the
//! rules of an import or a clone. Each store owns its connection, its
//! transaction protocol and its change feed; both send reactors the same
//! messages in the same order (changes in commit order, then answers, then
//! `Published`).
//!
//! Invariants: only `store::sqlite` names `rusqlite`, only `store::pg`
//! names `postgres`; the writer never touches a socket (it notifies
//! reactors through the callback in [`crate::msg::ReactorLink`]). Table
//! and column names follow Nacos's schema (`config_info`,
//! `his_config_info`, `config_info_beta`, `config_info_tag`,
//! `config_tags_relation`, `tenant_info`); times are epoch milliseconds.

mod backend;
pub mod pg;
mod rules;
mod sqlite;
mod transfer;
mod writer;

pub use backend::{Backend, ReaderBackend};
pub use sqlite::{Store, Sync, DB_FILE};

/// Most commands committed in one transaction.
pub const MAX_BATCH: usize = 1024;

/// A storage failure, with the file it concerns.
#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

/// A state the store cannot go on from: the writer stops and the process
/// exits non-zero with this message (a supervisor restarts it, and a
/// restart loads everything afresh).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fatal {
    /// Another node's change this node had not applied was purged from the
    /// shared change log: it fell further behind than the log keeps.
    LogPurged { change: u64, store: String },
}

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fatal::LogPurged { change, store } => write!(
                f,
                "change {change} is no longer in the change log of {store} (purged): this node fell too far behind; restart it to reload"
            ),
        }
    }
}

impl std::error::Error for Fatal {}
