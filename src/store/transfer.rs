//! An import or a clone as one write: every item under the caller's one
//! savepoint (SQLite) or transaction (PostgreSQL), so what the result
//! reports as imported commits together or not at all (a `kill -9`
//! mid-import leaves all of it or none of it).
//!
//! Each key that really changed yields exactly one change, so its listeners
//! wake once; an item whose content and metadata are already stored is
//! counted as imported but written nowhere, and wakes nobody.
//!
//! The rules live here once, over [`Target`]; each store implements the
//! four row operations (SQLite below, PostgreSQL in `pg::configs`).

use super::configs::{change_of, current, publish_formal, stored_md5};
use crate::auth::{self, Access};
use crate::model::Change;
use crate::msg::{CloneOp, Key, PublishOp, WriteOp, Written};
use crate::protocol::{normalize_type, Md5Hex, Metadata};
use crate::transfer::{envelope, Batch, Code, Item, Policy, Tally};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::{HashMap, HashSet};

/// What a key holds now, as far as an import compares it.
pub(super) struct Stored {
    pub(super) md5: String,
    pub(super) config_type: Option<String>,
    pub(super) app_name: Option<String>,
    pub(super) desc: Option<String>,
}

/// A clone source row.
pub(super) struct Source {
    pub(super) data_id: String,
    pub(super) group: String,
    pub(super) tenant: String,
    pub(super) content: String,
    pub(super) config_type: Option<String>,
    pub(super) desc: Option<String>,
    pub(super) app_name: Option<String>,
}

/// A clone source from a row of `data_id, group_id, content, type, c_desc,
/// app_name, tenant_id`; `$get` names the getter (`get` on rusqlite,
/// `try_get` on postgres), as `query::history_json` does.
macro_rules! source_row {
    ($r:expr, $get:ident) => {{
        let r = $r;
        Source {
            data_id: r.$get(0)?,
            group: r.$get(1)?,
            content: r.$get(2)?,
            config_type: r.$get(3)?,
            desc: r.$get(4)?,
            app_name: r.$get(5)?,
            tenant: r.$get(6)?,
        }
    }};
}
pub(super) use source_row;

/// The rows an import or clone reads and writes, inside the store's open
/// transaction.
pub(super) trait Target {
    type Error;
    /// What a write reports for its key (a change, or a key to announce).
    type Change;
    /// Whether the namespace exists (the public one always does).
    fn namespace_exists(&mut self, tenant: &str) -> Result<bool, Self::Error>;
    fn stored(&mut self, key: &Key) -> Result<Option<Stored>, Self::Error>;
    fn publish(&mut self, op: &PublishOp) -> Result<Self::Change, Self::Error>;
    fn source(&mut self, id: i64) -> Result<Option<Source>, Self::Error>;
}

/// The answer and the changes, one per changed key.
pub(super) type Applied<C> = (Written, Vec<C>);

fn failed<C>(code: Code) -> Applied<C> {
    (Written::Transferred(code.failure()), Vec::new())
}

/// Whether the stored row already holds exactly what `item` would write.
fn unchanged(s: &Stored, item: &Item) -> bool {
    s.md5 == Md5Hex::of(item.content.as_bytes()).as_str()
        && normalize_type(s.config_type.as_deref()) == item.config_type
        && item
            .app_name
            .as_ref()
            .is_none_or(|a| s.app_name.as_ref() == Some(a))
        && item
            .desc
            .as_ref()
            .is_none_or(|d| s.desc.as_ref() == Some(d))
}

/// Applies the items of `batch` under its policy.
fn apply_items<T: Target>(t: &mut T, batch: &Batch) -> Result<Applied<T::Change>, T::Error> {
    let mut tally = Tally::default();
    // The last change per key, in first-write order: a key named twice in
    // one archive still wakes its listeners once.
    let mut changes: Vec<T::Change> = Vec::new();
    let mut slot: HashMap<String, usize> = HashMap::new();
    for (i, item) in batch.items.iter().enumerate() {
        let key = Key {
            data_id: item.data_id.clone(),
            group: item.group.clone(),
            tenant: batch.tenant.clone(),
        };
        if let Some(stored) = t.stored(&key)? {
            match batch.policy {
                Policy::Abort => {
                    tally.aborted(item, &batch.items[i + 1..]);
                    break;
                }
                Policy::Skip => {
                    tally.skipped(item);
                    continue;
                }
                Policy::Overwrite if unchanged(&stored, item) => {
                    tally.imported();
                    continue;
                }
                Policy::Overwrite => {}
            }
        }
        let op = PublishOp {
            key,
            content: item.content.clone(),
            config_type: item.config_type,
            app_name: item.app_name.clone(),
            src_ip: batch.src_ip.clone(),
            src_user: batch.src_user.clone(),
            meta: Metadata {
                desc: item.desc.clone(),
                ..Metadata::default()
            },
            cas_md5: None,
        };
        let change = t.publish(&op)?;
        let gk = op.key.group_key();
        match slot.get(&gk) {
            Some(&at) => changes[at] = change,
            None => {
                slot.insert(gk, changes.len());
                changes.push(change);
            }
        }
        tally.imported();
    }
    let data = tally.to_json(&batch.unrecognized);
    Ok((
        Written::Transferred(envelope(Code::Success, batch.message, data)),
        changes,
    ))
}

/// An import (already unpacked and validated by the reader).
fn import<T: Target>(t: &mut T, batch: &Batch) -> Result<Applied<T::Change>, T::Error> {
    if !t.namespace_exists(&batch.tenant)? {
        return Ok(failed(Code::NamespaceNotExist));
    }
    apply_items(t, batch)
}

/// A clone: the sources are read here, in the same transaction.
fn clone<T: Target>(t: &mut T, op: &CloneOp) -> Result<Applied<T::Change>, T::Error> {
    if !t.namespace_exists(&op.batch.tenant)? {
        return Ok(failed(Code::NamespaceNotExist));
    }
    let mut seen = HashSet::new();
    let mut items = Vec::new();
    for (id, data_id, group) in &op.sources {
        if !seen.insert(*id) {
            continue;
        }
        let Some(src) = t.source(*id)? else { continue };
        if let Some((state, user)) = &op.reader {
            let resource = auth::config_resource(&src.tenant, Some(&src.group), Some(&src.data_id));
            if !state.allows(user, &resource, Access::Read) {
                continue;
            }
        }
        items.push(Item {
            data_id: data_id.clone().unwrap_or(src.data_id),
            group: group.clone().unwrap_or(src.group),
            content: src.content,
            config_type: normalize_type(src.config_type.as_deref()),
            desc: src.desc,
            app_name: src.app_name,
        });
    }
    if items.is_empty() {
        return Ok(failed(Code::DataEmpty));
    }
    let batch = Batch {
        items,
        ..op.batch.clone()
    };
    apply_items(t, &batch)
}

/// The SQLite writer's connection inside its savepoint.
pub(super) struct Sqlite<'a> {
    pub(super) conn: &'a Connection,
    pub(super) now: i64,
    pub(super) variants: &'a HashSet<String>,
}

impl Target for Sqlite<'_> {
    type Error = rusqlite::Error;
    type Change = Change;

    fn namespace_exists(&mut self, tenant: &str) -> rusqlite::Result<bool> {
        if tenant.is_empty() {
            return Ok(true);
        }
        let n: i64 = self
            .conn
            .prepare_cached("SELECT count(*) FROM tenant_info WHERE kp = '1' AND tenant_id = ?1")?
            .query_row(params![tenant], |r| r.get(0))?;
        Ok(n > 0)
    }

    fn stored(&mut self, key: &Key) -> rusqlite::Result<Option<Stored>> {
        let Some(cur) = current(self.conn, key)? else {
            return Ok(None);
        };
        let (config_type, desc): (Option<String>, Option<String>) = self
            .conn
            .prepare_cached("SELECT type, c_desc FROM config_info WHERE id = ?1")?
            .query_row(params![cur.id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .unwrap_or_default();
        Ok(Some(Stored {
            md5: stored_md5(&cur),
            config_type,
            app_name: cur.app_name,
            desc,
        }))
    }

    fn publish(&mut self, op: &PublishOp) -> rusqlite::Result<Change> {
        let formal = publish_formal(self.conn, op, self.now)?;
        change_of(self.conn, &op.key, Some(Some(formal)), self.variants)
    }

    fn source(&mut self, id: i64) -> rusqlite::Result<Option<Source>> {
        self.conn
            .prepare_cached(
                "SELECT data_id, group_id, content, type, c_desc, app_name, tenant_id FROM config_info WHERE id = ?1",
            )?
            .query_row(params![id], |r| Ok(source_row!(r, get)))
            .optional()
    }
}

/// Applies an import or a clone (any other write is none: nothing done).
pub(super) fn apply<T: Target>(t: &mut T, op: &WriteOp) -> Result<Applied<T::Change>, T::Error> {
    match op {
        WriteOp::Import(batch) => import(t, batch),
        WriteOp::Clone(c) => clone(t, c),
        _ => Ok((Written::Done, Vec::new())),
    }
}
