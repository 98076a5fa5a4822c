//! An import or a clone as one write: every item under the caller's one
//! savepoint (SQLite) or transaction (PostgreSQL), so what the result
//! reports as imported commits together or not at all (a `kill -9`
//! mid-import leaves all of it or none of it).
//!
//! Each key that really changed yields exactly one change, so its listeners
//! wake once; an item whose content and metadata are already stored is
//! counted as imported but written nowhere, and wakes nobody.
//!
//! The rules live here once, over the store's [`Rows`] (its namespace
//! check, the stored row an item is compared with, a clone's source row,
//! and the formal publish).

use super::rules::{publish_formal, Known, Rows};
use crate::auth::{self, Access};
use crate::msg::{CloneOp, Key, PublishOp, Written};
use crate::protocol::{normalize_type, Md5Hex, Metadata};
use crate::transfer::{envelope, Batch, Code, Item, Policy, Tally};
use std::collections::{HashMap, HashSet};

/// What a key holds now, as far as an import compares it.
pub(crate) struct Stored {
    pub(crate) md5: String,
    pub(crate) config_type: Option<String>,
    pub(crate) app_name: Option<String>,
    pub(crate) desc: Option<String>,
}

/// A clone source row.
pub(crate) struct Source {
    pub(crate) data_id: String,
    pub(crate) group: String,
    pub(crate) tenant: String,
    pub(crate) content: String,
    pub(crate) config_type: Option<String>,
    pub(crate) desc: Option<String>,
    pub(crate) app_name: Option<String>,
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

/// The answer and the keys changed, each once.
pub(super) type Applied = (Written, Vec<(Key, Known)>);

fn failed(code: Code) -> Applied {
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
fn apply_items<R: Rows>(t: &mut R, batch: &Batch, now: i64) -> Result<Applied, R::Error> {
    let mut tally = Tally::default();
    // The last change per key, in first-write order: a key named twice in
    // one archive still wakes its listeners once.
    let mut changes: Vec<(Key, Known)> = Vec::new();
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
        let formal = publish_formal(t, &op, now)?;
        let gk = op.key.group_key();
        let change = (op.key, Some(Some(formal)));
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
pub(super) fn import<R: Rows>(t: &mut R, batch: &Batch, now: i64) -> Result<Applied, R::Error> {
    if !t.namespace_exists(&batch.tenant)? {
        return Ok(failed(Code::NamespaceNotExist));
    }
    apply_items(t, batch, now)
}

/// A clone: the sources are read here, in the same transaction.
pub(super) fn clone<R: Rows>(t: &mut R, op: &CloneOp, now: i64) -> Result<Applied, R::Error> {
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
    apply_items(t, &batch, now)
}
