//! Every write's rule, written once for both stores.
//!
//! A store supplies its statements by implementing [`Rows`] (config rows,
//! import and clone reads) and [`AccountRows`] (namespaces, users, roles,
//! permissions) over its open transaction: SQLite in `sqlite::configs` and
//! `sqlite::accounts`, PostgreSQL in `pg::configs` and `pg::accounts`.
//! [`apply`] decides, for every [`WriteOp`], which statements run, what
//! the writer answers and which keys changed. Its match names every
//! variant: a new write does not compile until it has a rule here and a
//! statement in each store.
//!
//! What a write changed is reported as keys, each with the formal config
//! when the write knows it ([`Known`]); each store's writer turns those
//! into the changes it broadcasts (SQLite inside the savepoint, PostgreSQL
//! after the whole batch, with the change log).

use super::transfer::{self, Source, Stored};
use crate::model::Config;
use crate::msg::{AccountChange, Key, PublishOp, WriteOp, Written};
use std::sync::Arc;

/// bcrypt work factor: Nacos's own, so its password hashes carry over.
const BCRYPT_COST: u32 = 10;

/// What a write knows of a key's formal config after it: `Some(Some(c))`
/// it stored `c`, `Some(None)` it deleted it, `None` it did not touch it
/// (the entry must be read).
pub(crate) type Known = Option<Option<Arc<Config>>>;

/// What one applied write produced: its answer and the keys it changed.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) written: Written,
    pub(crate) keys: Vec<(Key, Known)>,
    /// Users, roles or permissions changed.
    pub(crate) auth_changed: bool,
}

impl Outcome {
    pub(crate) fn new(written: Written, keys: Vec<(Key, Known)>) -> Outcome {
        Outcome {
            written,
            keys,
            auth_changed: false,
        }
    }

    fn auth(written: Written) -> Outcome {
        Outcome {
            written,
            keys: Vec::new(),
            auth_changed: true,
        }
    }
}

/// A password that could not be hashed (a write of a user fails with it).
#[derive(Debug)]
pub(crate) struct HashFailed(bcrypt::BcryptError);

impl std::fmt::Display for HashFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot hash a password: {}", self.0)
    }
}

impl std::error::Error for HashFailed {}

/// A password as stored (salted bcrypt).
pub(crate) fn hash_password(password: &str) -> Result<String, HashFailed> {
    bcrypt::hash(password, BCRYPT_COST).map_err(HashFailed)
}

/// Which variant of a key a publish writes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Variant<'a> {
    Formal,
    Beta,
    Tag(&'a str),
}

/// A store's config statements, inside its open transaction.
pub(crate) trait Rows {
    type Error: From<HashFailed>;
    /// The stored md5 of a variant: `None` absent, `Some(None)` a row
    /// without one. Where the store locks rows, it is locked until commit,
    /// so two writers cannot both pass a compare-and-set on one version.
    fn md5_of(
        &mut self,
        key: &Key,
        variant: Variant<'_>,
    ) -> Result<Option<Option<String>>, Self::Error>;
    /// Writes a formal publish and its history row (its tags are
    /// [`publish_formal`]'s); returns the row's id and app name as now
    /// stored.
    fn write_formal(
        &mut self,
        p: &PublishOp,
        now: i64,
    ) -> Result<(i64, Option<String>), Self::Error>;
    /// Drops a config's tags.
    fn clear_tags(&mut self, id: i64) -> Result<(), Self::Error>;
    /// Tags a config (a tag it has already is kept once).
    fn add_tag(&mut self, id: i64, key: &Key, tag: &str) -> Result<(), Self::Error>;
    fn publish_beta(&mut self, p: &PublishOp, ips: &str, now: i64) -> Result<(), Self::Error>;
    fn publish_tag(&mut self, p: &PublishOp, tag: &str, now: i64) -> Result<(), Self::Error>;
    /// Deletes a formal config, its tags, and records it in history;
    /// whether there was one.
    fn delete_formal(
        &mut self,
        key: &Key,
        now: i64,
        src_ip: &str,
        src_user: Option<&str>,
    ) -> Result<bool, Self::Error>;
    fn delete_tag(&mut self, key: &Key, tag: &str) -> Result<bool, Self::Error>;
    fn delete_beta(&mut self, key: &Key) -> Result<bool, Self::Error>;
    /// The key of a formal config by its id.
    fn key_of(&mut self, id: i64) -> Result<Option<Key>, Self::Error>;
    /// Whether the namespace exists (the public one always does).
    fn namespace_exists(&mut self, tenant: &str) -> Result<bool, Self::Error>;
    /// What a key holds now, as far as an import compares it.
    fn stored(&mut self, key: &Key) -> Result<Option<Stored>, Self::Error>;
    /// A clone source by config id.
    fn source(&mut self, id: i64) -> Result<Option<Source>, Self::Error>;
}

/// A store's namespace and account statements, inside its open transaction.
pub(crate) trait AccountRows: Rows {
    /// Whether it was created (`false`: the id is taken).
    fn namespace_create(
        &mut self,
        id: &str,
        name: &str,
        desc: Option<&str>,
        now: i64,
    ) -> Result<bool, Self::Error>;
    fn namespace_update(
        &mut self,
        id: &str,
        name: &str,
        desc: Option<&str>,
        now: i64,
    ) -> Result<(), Self::Error>;
    fn namespace_delete(&mut self, id: &str) -> Result<(), Self::Error>;
    /// Whether it was created (`false`: the name is taken).
    fn user_create(&mut self, username: &str, hash: &str) -> Result<bool, Self::Error>;
    fn user_update(&mut self, username: &str, hash: &str) -> Result<(), Self::Error>;
    /// Deletes the user and their roles.
    fn user_delete(&mut self, username: &str) -> Result<(), Self::Error>;
    fn role_add(&mut self, role: &str, username: &str) -> Result<(), Self::Error>;
    /// Deletes the role from `username`, or from everyone.
    fn role_delete(&mut self, role: &str, username: Option<&str>) -> Result<(), Self::Error>;
    fn permission_add(
        &mut self,
        role: &str,
        resource: &str,
        action: &str,
    ) -> Result<(), Self::Error>;
    fn permission_delete(
        &mut self,
        role: &str,
        resource: &str,
        action: &str,
    ) -> Result<(), Self::Error>;
}

/// Whether a compare-and-set publish may apply: it is none, the variant it
/// writes is absent, or that variant's stored md5 is the one given (spec §4).
fn cas_holds<R: Rows>(r: &mut R, p: &PublishOp, variant: Variant<'_>) -> Result<bool, R::Error> {
    let Some(cas) = &p.cas_md5 else {
        return Ok(true);
    };
    let stored = r.md5_of(&p.key, variant)?;
    Ok(stored.is_none_or(|md5| md5.as_deref() == Some(cas.as_str())))
}

/// Writes a formal publish, and replaces the config's tags when it names
/// them; returns the config as now stored.
pub(crate) fn publish_formal<R: Rows>(
    r: &mut R,
    p: &PublishOp,
    now: i64,
) -> Result<Arc<Config>, R::Error> {
    let (id, app_name) = r.write_formal(p, now)?;
    if let Some(tags) = &p.meta.config_tags {
        r.clear_tags(id)?;
        for tag in tags.split(',').filter(|t| !t.is_empty()) {
            r.add_tag(id, &p.key, tag)?;
        }
    }
    let key = &p.key;
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

/// The key, when a write changed something under it.
fn changed(key: &Key, done: bool) -> Vec<(Key, Known)> {
    if done {
        vec![(key.clone(), None)]
    } else {
        Vec::new()
    }
}

/// Applies one write inside the store's open transaction.
pub(crate) fn apply<R: AccountRows>(
    r: &mut R,
    op: &WriteOp,
    now: i64,
) -> Result<Outcome, R::Error> {
    let account = |change| Ok(Outcome::auth(Written::Account(change)));
    let refused = || Ok(Outcome::new(Written::CasMismatch, Vec::new()));
    if let WriteOp::Publish(p) = op {
        crate::fatal::tripwire(crate::fatal::PanicSite::Writer, &p.key.data_id);
    }
    match op {
        WriteOp::Publish(p) => {
            if !cas_holds(r, p, Variant::Formal)? {
                return refused();
            }
            let formal = publish_formal(r, p, now)?;
            let keys = vec![(p.key.clone(), Some(Some(formal)))];
            Ok(Outcome::new(Written::Done, keys))
        }
        WriteOp::PublishBeta(p, ips) => {
            if !cas_holds(r, p, Variant::Beta)? {
                return refused();
            }
            r.publish_beta(p, ips, now)?;
            Ok(Outcome::new(Written::Done, changed(&p.key, true)))
        }
        WriteOp::PublishTag(p, tag) => {
            if !cas_holds(r, p, Variant::Tag(tag))? {
                return refused();
            }
            r.publish_tag(p, tag, now)?;
            Ok(Outcome::new(Written::Done, changed(&p.key, true)))
        }
        WriteOp::Delete {
            key,
            src_ip,
            src_user,
        } => {
            let keys = if r.delete_formal(key, now, src_ip, src_user.as_deref())? {
                vec![(key.clone(), Some(None))]
            } else {
                Vec::new()
            };
            Ok(Outcome::new(Written::Done, keys))
        }
        WriteOp::DeleteTag { key, tag } => {
            let done = r.delete_tag(key, tag)?;
            Ok(Outcome::new(Written::Done, changed(key, done)))
        }
        WriteOp::StopBeta { key } => {
            let done = r.delete_beta(key)?;
            Ok(Outcome::new(Written::BetaStopped, changed(key, done)))
        }
        WriteOp::DeleteIds {
            ids,
            src_ip,
            src_user,
        } => {
            let mut keys = Vec::new();
            for id in ids {
                if let Some(key) = r.key_of(*id)? {
                    if r.delete_formal(&key, now, src_ip, src_user.as_deref())? {
                        keys.push((key, Some(None)));
                    }
                }
            }
            Ok(Outcome::new(Written::IdsDeleted, keys))
        }
        WriteOp::Import(batch) => {
            let (written, keys) = transfer::import(r, batch, now)?;
            Ok(Outcome::new(written, keys))
        }
        WriteOp::Clone(c) => {
            let (written, keys) = transfer::clone(r, c, now)?;
            Ok(Outcome::new(written, keys))
        }
        WriteOp::NamespaceCreate { id, name, desc } => {
            let created = r.namespace_create(id, name, desc.as_deref(), now)?;
            Ok(Outcome::new(Written::NamespaceCreated(created), Vec::new()))
        }
        WriteOp::NamespaceUpdate { id, name, desc } => {
            r.namespace_update(id, name, desc.as_deref(), now)?;
            Ok(Outcome::new(Written::Done, Vec::new()))
        }
        WriteOp::NamespaceDelete { id } => {
            r.namespace_delete(id)?;
            Ok(Outcome::new(Written::Done, Vec::new()))
        }
        WriteOp::UserCreate { username, password } => {
            if !r.user_create(username, &hash_password(password)?)? {
                return Ok(Outcome::auth(Written::UserExists(username.clone())));
            }
            account(AccountChange::UserCreated)
        }
        WriteOp::UserUpdate { username, password } => {
            r.user_update(username, &hash_password(password)?)?;
            account(AccountChange::UserUpdated)
        }
        WriteOp::UserDelete { username } => {
            r.user_delete(username)?;
            account(AccountChange::UserDeleted)
        }
        WriteOp::RoleAdd { role, username } => {
            r.role_add(role, username)?;
            account(AccountChange::RoleAdded)
        }
        WriteOp::RoleDelete { role, username } => {
            r.role_delete(role, username.as_deref())?;
            account(AccountChange::RoleDeleted)
        }
        WriteOp::PermissionAdd {
            role,
            resource,
            action,
        } => {
            r.permission_add(role, resource, action)?;
            account(AccountChange::PermissionAdded)
        }
        WriteOp::PermissionDelete {
            role,
            resource,
            action,
        } => {
            r.permission_delete(role, resource, action)?;
            account(AccountChange::PermissionDeleted)
        }
    }
}
