//! The messages between threads: what a reactor asks of the storage threads
//! (writes, and who to answer), and what those threads send back (committed
//! changes in commit order, typed outcomes, auth snapshots, shutdown).
//!
//! This module is plain data: `api` builds these messages (writes and
//! console queries) without knowing which store keeps them, and `store`
//! answers them without knowing HTTP.

use crate::auth::AuthState;
use crate::index::ListenerFilter;
use crate::model::Change;
use crate::protocol::{group_key, Metadata};
use crossbeam_channel::Sender;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

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
    /// Compare-and-set: apply only if the stored variant's md5 is this.
    pub cas_md5: Option<String>,
}

/// A console clone (spec §3): copy configs, by id from any namespace, into
/// `batch.tenant`; `batch.items` is filled by the writer from the sources.
#[derive(Debug)]
pub struct CloneOp {
    pub batch: crate::transfer::Batch,
    /// `(cfgId, new dataId, new group)`, blanks already `None`.
    pub sources: Vec<(i64, Option<String>, Option<String>)>,
    /// With auth on, the requester and the permissions in force: a source
    /// the requester may not read counts as absent (Nacos copies it).
    pub reader: Option<(Arc<AuthState>, String)>,
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
    /// A whole import, validated; applied under one savepoint.
    Import(Box<crate::transfer::Batch>),
    /// A whole clone; applied under one savepoint.
    Clone(Box<CloneOp>),
}

/// What a committed write did, as data; `api::render_written` turns it into
/// the response Nacos gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// A publish or delete (also of nothing): `true`.
    Done,
    /// A beta release was stopped.
    BetaStopped,
    /// Configs deleted by id.
    IdsDeleted,
    /// A namespace create: `false` when the id was taken.
    NamespaceCreated(bool),
    /// A change to users, roles or permissions.
    Account(AccountChange),
    /// A user create refused: the name is taken.
    UserExists(String),
    /// A compare-and-set publish refused: the stored md5 differs.
    CasMismatch,
    /// An import or clone: its whole result envelope (JSON, HTTP 200).
    Transferred(String),
}

/// Which account change committed (each has its own Nacos message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountChange {
    UserCreated,
    UserUpdated,
    UserDeleted,
    RoleAdded,
    RoleDeleted,
    PermissionAdded,
    PermissionDeleted,
}

/// Who to tell when a write or query is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyTo {
    pub reactor: usize,
    pub conn: u32,
    pub generation: u32,
    /// Which of the connection's requests (a gRPC stream; 0 on HTTP/1,
    /// which has one request in flight at a time).
    pub tag: u32,
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
    /// A download: `extra_head` carries its own `Content-Type`, so the JSON
    /// one is left out.
    pub download: bool,
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
            download: false,
        }
    }

    /// A refusal in Nacos's words: `caused: <message>;`.
    pub fn caused(status: u16, msg: impl std::fmt::Display) -> Reply {
        Reply::new(status, format!("caused: {msg};"))
    }
}

/// Most rows one page may ask for.
pub const MAX_PAGE_SIZE: i64 = 10_000;
/// Most rows one history page may ask for (Nacos caps at 500).
pub const MAX_HISTORY_PAGE_SIZE: i64 = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchMode {
    Accurate,
    Blur,
}

/// A read the console asks for.
#[derive(Debug, Clone)]
pub enum Query {
    Search {
        mode: SearchMode,
        data_id: String,
        group: String,
        tenant: String,
        app_name: Option<String>,
        config_tags: Vec<String>,
        /// A content pattern (`config_detail`), matched as `data_id` is.
        content: Option<String>,
        page_no: i64,
        page_size: i64,
    },
    Detail(Key),
    Catalog(Key),
    Beta(Key),
    HistoryList {
        key: Key,
        page_no: i64,
        page_size: i64,
    },
    /// One history entry by `nid`; with a key (v2/v3), an entry of another
    /// key is refused (403, as Nacos).
    HistoryDetail(i64, Option<Key>),
    /// The entry before config `id`'s latest; with a key, as above.
    HistoryPrevious(i64, Option<Key>),
    Namespaces,
    NamespaceDetail(String),
    NamespaceExists(String),
    /// Check a password and issue a token (auth on).
    Login {
        username: String,
        password: String,
    },
    /// Build an export zip.
    Export(crate::transfer::Selection),
    /// Unpack and check an import, then hand it to the writer as one write.
    Import(Box<crate::transfer::upload::ImportRequest>),
    /// Check a password for a reactor's credential cache (answered with
    /// [`ToReactor::Verified`]).
    Verify {
        username: String,
        password: String,
        key: [u8; 32],
    },
}

#[derive(Debug)]
pub struct QueryRequest {
    pub query: Query,
    pub reply: ReplyTo,
}

/// What the storage threads send a reactor.
#[derive(Debug)]
pub enum ToReactor {
    /// A committed change (every reactor gets every change, in commit order).
    Change(Arc<Change>),
    /// The answer to one of this reactor's queries; `Err` holds the storage
    /// failure (answered 500).
    Done {
        conn: u32,
        generation: u32,
        tag: u32,
        result: Result<Reply, String>,
    },
    /// The outcome of one of this reactor's writes, committed (or `Err`:
    /// the storage failure, answered 500); `api` renders it.
    Written {
        conn: u32,
        generation: u32,
        tag: u32,
        result: Result<Written, String>,
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

    pub(crate) fn set(&self, seq: u64) {
        self.0.store(seq, std::sync::atomic::Ordering::Release);
    }
}

/// Milliseconds since the epoch, the unit of every stored time.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
