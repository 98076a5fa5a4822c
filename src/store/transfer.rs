//! An import or a clone as one write: every item under the caller's one
//! savepoint, so what the result reports as imported commits together or
//! not at all (a `kill -9` mid-import leaves all of it or none of it).
//!
//! Each key that really changed yields exactly one change, so its listeners
//! wake once; an item whose content and metadata are already stored is
//! counted as imported but written nowhere, and wakes nobody.

use super::configs::{change_of, current, publish_formal, stored_md5};
use super::Outcome;
use crate::auth::{self, Access};
use crate::model::Change;
use crate::msg::{CloneOp, Key, PublishOp, Written};
use crate::protocol::{normalize_type, Md5Hex, Metadata};
use crate::transfer::{envelope, Batch, Code, Item, Policy, Tally};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::{HashMap, HashSet};

/// Whether the target namespace exists (the public one always does).
fn namespace_exists(conn: &Connection, tenant: &str) -> rusqlite::Result<bool> {
    if tenant.is_empty() {
        return Ok(true);
    }
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM tenant_info WHERE kp = '1' AND tenant_id = ?1")?
        .query_row(params![tenant], |r| r.get(0))?;
    Ok(n > 0)
}

fn failed(code: Code) -> Outcome {
    Outcome::new(Written::Transferred(code.failure()), Vec::new())
}

/// Whether the stored row already holds exactly what `item` would write.
fn unchanged(conn: &Connection, key: &Key, item: &Item) -> rusqlite::Result<bool> {
    let Some(cur) = current(conn, key)? else {
        return Ok(false);
    };
    let (config_type, desc): (Option<String>, Option<String>) = conn
        .prepare_cached("SELECT type, c_desc FROM config_info WHERE id = ?1")?
        .query_row(params![cur.id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .unwrap_or_default();
    let md5 = Md5Hex::of(item.content.as_bytes());
    Ok(stored_md5(&cur) == md5.as_str()
        && normalize_type(config_type.as_deref()) == item.config_type
        && item
            .app_name
            .as_ref()
            .is_none_or(|a| cur.app_name.as_ref() == Some(a))
        && item.desc.as_ref().is_none_or(|d| desc.as_ref() == Some(d)))
}

/// Applies the items of `batch` under its policy.
fn apply_items(
    conn: &Connection,
    batch: &Batch,
    now: i64,
    variants: &HashSet<String>,
) -> rusqlite::Result<Outcome> {
    let mut tally = Tally::default();
    // The last change per key, in first-write order: a key named twice in
    // one archive still wakes its listeners once.
    let mut changes: Vec<Change> = Vec::new();
    let mut slot: HashMap<String, usize> = HashMap::new();
    for (i, item) in batch.items.iter().enumerate() {
        let key = Key {
            data_id: item.data_id.clone(),
            group: item.group.clone(),
            tenant: batch.tenant.clone(),
        };
        if current(conn, &key)?.is_some() {
            match batch.policy {
                Policy::Abort => {
                    tally.aborted(item, &batch.items[i + 1..]);
                    break;
                }
                Policy::Skip => {
                    tally.skipped(item);
                    continue;
                }
                Policy::Overwrite if unchanged(conn, &key, item)? => {
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
        let formal = publish_formal(conn, &op, now)?;
        let change = change_of(conn, &op.key, Some(Some(formal)), variants)?;
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
    Ok(Outcome::new(
        Written::Transferred(envelope(Code::Success, batch.message, data)),
        changes,
    ))
}

/// An import (already unpacked and validated by the reader).
pub(super) fn import(
    conn: &Connection,
    batch: &Batch,
    now: i64,
    variants: &HashSet<String>,
) -> rusqlite::Result<Outcome> {
    if !namespace_exists(conn, &batch.tenant)? {
        return Ok(failed(Code::NamespaceNotExist));
    }
    apply_items(conn, batch, now, variants)
}

/// A clone: the sources are read here, in the same transaction.
pub(super) fn clone(
    conn: &Connection,
    op: &CloneOp,
    now: i64,
    variants: &HashSet<String>,
) -> rusqlite::Result<Outcome> {
    if !namespace_exists(conn, &op.batch.tenant)? {
        return Ok(failed(Code::NamespaceNotExist));
    }
    let mut seen = HashSet::new();
    let mut items = Vec::new();
    for (id, data_id, group) in &op.sources {
        if !seen.insert(*id) {
            continue;
        }
        let row = conn
            .prepare_cached(
                "SELECT data_id, group_id, content, type, c_desc, app_name, tenant_id FROM config_info WHERE id = ?1",
            )?
            .query_row(params![id], |r| {
                let t: Option<String> = r.get(3)?;
                let (src_id, src_group, src_tenant): (String, String, String) =
                    (r.get(0)?, r.get(1)?, r.get(6)?);
                if let Some((state, user)) = &op.reader {
                    let resource =
                        auth::config_resource(&src_tenant, Some(&src_group), Some(&src_id));
                    if !state.allows(user, &resource, Access::Read) {
                        return Ok(None);
                    }
                }
                Ok(Some(Item {
                    data_id: data_id.clone().unwrap_or(src_id),
                    group: group.clone().unwrap_or(src_group),
                    content: r.get(2)?,
                    config_type: normalize_type(t.as_deref()),
                    desc: r.get(4)?,
                    app_name: r.get(5)?,
                }))
            })
            .optional()?;
        items.extend(row.flatten());
    }
    if items.is_empty() {
        return Ok(failed(Code::DataEmpty));
    }
    let batch = Batch {
        items,
        ..op.batch.clone()
    };
    apply_items(conn, &batch, now, variants)
}
