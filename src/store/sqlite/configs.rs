//! Config rows: formal, beta and tag variants, their history, the start-up
//! load, the change each write broadcasts, and the config statements of
//! the rules ([`Rows`]).

use super::Store;
use crate::model::{Beta, Change, Config, Entry};
use crate::msg::{Key, PublishOp};
use crate::protocol::{normalize_type, Md5Hex};
use crate::store::rules::{Rows, Variant};
use crate::store::transfer::{source_row, Source, Stored};
use crate::store::StoreError;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

impl Store {
    /// Every stored entry (formal configs and their variants), by groupKey.
    pub fn load_all(&mut self) -> Result<Vec<(String, Arc<Entry>)>, StoreError> {
        let fail = |e: rusqlite::Error| {
            StoreError(format!(
                "cannot read configs from {}: {e}",
                self.path.display()
            ))
        };
        let mut entries: HashMap<String, Entry> = HashMap::new();
        let mut types: HashMap<String, &'static str> = HashMap::new();
        let mut stmt = self
            .conn
            .prepare("SELECT id, data_id, group_id, tenant_id, content, type, app_name, gmt_modified FROM config_info")
            .map_err(fail)?;
        let rows = stmt.query_map([], |r| {
            let config_type: Option<String> = r.get(5)?;
            Ok(Config::new(
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                normalize_type(config_type.as_deref()),
                r.get(6)?,
                r.get(7)?,
            ))
        });
        for c in rows.map_err(fail)? {
            let c = c.map_err(fail)?;
            let gk = c.group_key();
            types.insert(gk.clone(), c.config_type);
            entries.entry(gk).or_default().formal = Some(Arc::new(c));
        }
        // Beta and tag rows share a shape: the sixth column is the IP list
        // or the tag name.
        let variant_rows =
            |sql: &str| -> Result<Vec<(String, Option<String>, Config)>, StoreError> {
                let mut stmt = self.conn.prepare(sql).map_err(fail)?;
                let rows = stmt
                    .query_map([], |r| {
                        let key = Key {
                            data_id: r.get(1)?,
                            group: r.get(2)?,
                            tenant: r.get(3)?,
                        };
                        let gk = key.group_key();
                        let t = types.get(&gk).copied().unwrap_or("text");
                        let c = Config::new(
                            r.get(0)?,
                            key.data_id,
                            key.group,
                            key.tenant,
                            r.get(4)?,
                            t,
                            r.get(6)?,
                            r.get(7)?,
                        );
                        Ok((gk, r.get::<_, Option<String>>(5)?, c))
                    })
                    .map_err(fail)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(fail)
            };
        for (gk, ips, c) in variant_rows(
            "SELECT id, data_id, group_id, tenant_id, content, beta_ips, app_name, gmt_modified FROM config_info_beta",
        )? {
            entries.entry(gk).or_default().beta = Some(Arc::new(Beta::new(c, ips.unwrap_or_default())));
        }
        for (gk, tag, c) in variant_rows(
            "SELECT id, data_id, group_id, tenant_id, content, tag_id, app_name, gmt_modified FROM config_info_tag",
        )? {
            entries.entry(gk).or_default().tags.push((tag.unwrap_or_default(), Arc::new(c)));
        }
        self.variants = entries
            .iter()
            .filter(|(_, e)| e.beta.is_some() || !e.tags.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        Ok(entries.into_iter().map(|(k, e)| (k, Arc::new(e))).collect())
    }
}

struct Current {
    id: i64,
    content: String,
    md5: Option<String>,
    app_name: Option<String>,
}

fn current(conn: &Connection, key: &Key) -> rusqlite::Result<Option<Current>> {
    conn.prepare_cached(
        "SELECT id, content, md5, app_name FROM config_info WHERE data_id = ?1 AND group_id = ?2 AND tenant_id = ?3",
    )?
    .query_row(params![key.data_id, key.group, key.tenant], |r| {
        Ok(Current {
            id: r.get(0)?,
            content: r.get(1)?,
            md5: r.get(2)?,
            app_name: r.get(3)?,
        })
    })
    .optional()
}

/// Everything stored under a key, as the change to broadcast. `known` is
/// the formal config when the caller just wrote it (`Some(None)`: deleted);
/// variants are read only for keys that may have them.
pub(super) fn change_of(
    conn: &Connection,
    key: &Key,
    known: Option<Option<Arc<Config>>>,
    variants: &HashSet<String>,
) -> rusqlite::Result<Change> {
    let group_key = key.group_key();
    if let Some(formal) = known.clone().filter(|_| !variants.contains(&group_key)) {
        return Ok(Change {
            seq: 0,
            group_key: group_key.into(),
            entry: formal.map(|f| {
                Arc::new(Entry {
                    formal: Some(f),
                    ..Entry::default()
                })
            }),
        });
    }
    let formal = conn
        .prepare_cached(
            "SELECT id, content, type, app_name, gmt_modified FROM config_info WHERE data_id = ?1 AND group_id = ?2 AND tenant_id = ?3",
        )?
        .query_row(params![key.data_id, key.group, key.tenant], |r| {
            let t: Option<String> = r.get(2)?;
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, normalize_type(t.as_deref()), r.get(3)?, r.get::<_, i64>(4)?))
        })
        .optional()?;
    let config_type = formal.as_ref().map_or("text", |f| f.2);
    let config = |id, content, app, modified| {
        Config::new(
            id,
            key.data_id.clone(),
            key.group.clone(),
            key.tenant.clone(),
            content,
            config_type,
            app,
            modified,
        )
    };
    let mut entry = Entry {
        formal: formal
            .map(|(id, content, _, app, modified)| Arc::new(config(id, content, app, modified))),
        ..Entry::default()
    };
    entry.beta = conn
        .prepare_cached(
            "SELECT id, content, beta_ips, app_name, gmt_modified FROM config_info_beta WHERE data_id = ?1 AND group_id = ?2 AND tenant_id = ?3",
        )?
        .query_row(params![key.data_id, key.group, key.tenant], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?, r.get(3)?, r.get::<_, i64>(4)?))
        })
        .optional()?
        .map(|(id, content, ips, app, modified)| Arc::new(Beta::new(config(id, content, app, modified), ips.unwrap_or_default())));
    let mut stmt = conn.prepare_cached(
        "SELECT id, tag_id, content, app_name, gmt_modified FROM config_info_tag WHERE data_id = ?1 AND group_id = ?2 AND tenant_id = ?3 ORDER BY tag_id",
    )?;
    let rows = stmt.query_map(params![key.data_id, key.group, key.tenant], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    for row in rows {
        let (id, tag, content, app, modified) = row?;
        entry
            .tags
            .push((tag, Arc::new(config(id, content, app, modified))));
    }
    Ok(Change {
        seq: 0,
        group_key: key.group_key().into(),
        entry: (!entry.is_empty()).then(|| Arc::new(entry)),
    })
}

#[allow(clippy::too_many_arguments)]
fn history(
    conn: &Connection,
    id: i64,
    key: &Key,
    app_name: Option<&str>,
    content: &str,
    md5: &str,
    now: i64,
    src_user: Option<&str>,
    src_ip: &str,
    op: &str,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO his_config_info (id, data_id, group_id, tenant_id, app_name, content, md5, gmt_create, gmt_modified, src_user, src_ip, op_type)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![id, key.data_id, key.group, key.tenant, app_name, content, md5, now, src_user, src_ip, op])?;
    Ok(())
}

fn stored_md5(c: &Current) -> String {
    c.md5
        .clone()
        .unwrap_or_else(|| Md5Hex::of(c.content.as_bytes()).as_str().to_owned())
}

/// Writes a formal publish and its history row; returns the row's id and
/// app name as now stored.
fn write_formal(
    conn: &Connection,
    p: &PublishOp,
    now: i64,
) -> rusqlite::Result<(i64, Option<String>)> {
    let md5 = Md5Hex::of(p.content.as_bytes());
    let key = &p.key;
    let (id, app_name) = match current(conn, key)? {
        None => {
            conn.prepare_cached(
                "INSERT INTO config_info (data_id, group_id, tenant_id, content, md5, gmt_create, gmt_modified, src_user, src_ip, app_name, c_desc, c_use, effect, type, c_schema)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?
            .execute(params![
                key.data_id, key.group, key.tenant, p.content, md5.as_str(), now, p.src_user, p.src_ip,
                p.app_name, p.meta.desc, p.meta.use_, p.meta.effect, p.config_type, p.meta.schema
            ])?;
            let id = conn.last_insert_rowid();
            history(
                conn,
                id,
                key,
                p.app_name.as_deref(),
                &p.content,
                md5.as_str(),
                now,
                p.src_user.as_deref(),
                &p.src_ip,
                "I",
            )?;
            (id, p.app_name.clone())
        }
        Some(old) => {
            history(
                conn,
                old.id,
                key,
                old.app_name.as_deref(),
                &old.content,
                &stored_md5(&old),
                now,
                p.src_user.as_deref(),
                &p.src_ip,
                "U",
            )?;
            let app_name = p.app_name.clone().or(old.app_name);
            conn.prepare_cached(
                "UPDATE config_info SET content = ?2, md5 = ?3, gmt_modified = ?4, src_user = ?5, src_ip = ?6, app_name = ?7,
                 c_desc = COALESCE(?8, c_desc), c_use = COALESCE(?9, c_use), effect = COALESCE(?10, effect), type = ?11, c_schema = COALESCE(?12, c_schema)
                 WHERE id = ?1",
            )?
            .execute(params![
                old.id, p.content, md5.as_str(), now, p.src_user, p.src_ip, app_name,
                p.meta.desc, p.meta.use_, p.meta.effect, p.config_type, p.meta.schema
            ])?;
            (old.id, app_name)
        }
    };
    Ok((id, app_name))
}

fn delete_formal(
    conn: &Connection,
    key: &Key,
    now: i64,
    src_ip: &str,
    src_user: Option<&str>,
) -> rusqlite::Result<bool> {
    let Some(old) = current(conn, key)? else {
        return Ok(false);
    };
    history(
        conn,
        old.id,
        key,
        old.app_name.as_deref(),
        &old.content,
        &stored_md5(&old),
        now,
        src_user,
        src_ip,
        "D",
    )?;
    conn.prepare_cached("DELETE FROM config_info WHERE id = ?1")?
        .execute(params![old.id])?;
    conn.prepare_cached("DELETE FROM config_tags_relation WHERE id = ?1")?
        .execute(params![old.id])?;
    Ok(true)
}

/// The writer's connection inside its savepoint, as the rules see it.
pub(super) struct Sql<'a>(pub(super) &'a Connection);

impl Rows for Sql<'_> {
    type Error = rusqlite::Error;

    fn md5_of(
        &mut self,
        key: &Key,
        variant: Variant<'_>,
    ) -> rusqlite::Result<Option<Option<String>>> {
        let conn = self.0;
        let k = params![key.data_id, key.group, key.tenant];
        match variant {
            Variant::Beta => conn
                .prepare_cached("SELECT md5 FROM config_info_beta WHERE data_id = ?1 AND group_id = ?2 AND tenant_id = ?3")?
                .query_row(k, |r| r.get(0))
                .optional(),
            Variant::Tag(tag) => conn
                .prepare_cached("SELECT md5 FROM config_info_tag WHERE data_id = ?1 AND group_id = ?2 AND tenant_id = ?3 AND tag_id = ?4")?
                .query_row(params![key.data_id, key.group, key.tenant, tag], |r| r.get(0))
                .optional(),
            Variant::Formal => Ok(current(conn, key)?.map(|c| Some(stored_md5(&c)))),
        }
    }

    fn write_formal(&mut self, p: &PublishOp, now: i64) -> rusqlite::Result<(i64, Option<String>)> {
        write_formal(self.0, p, now)
    }

    fn clear_tags(&mut self, id: i64) -> rusqlite::Result<()> {
        self.0
            .prepare_cached("DELETE FROM config_tags_relation WHERE id = ?1")?
            .execute(params![id])?;
        Ok(())
    }

    fn add_tag(&mut self, id: i64, key: &Key, tag: &str) -> rusqlite::Result<()> {
        self.0
            .prepare_cached(
                "INSERT OR IGNORE INTO config_tags_relation (id, tag_name, tag_type, data_id, group_id, tenant_id) VALUES (?1, ?2, '', ?3, ?4, ?5)",
            )?
            .execute(params![id, tag, key.data_id, key.group, key.tenant])?;
        Ok(())
    }

    fn publish_beta(&mut self, p: &PublishOp, ips: &str, now: i64) -> rusqlite::Result<()> {
        let key = &p.key;
        let md5 = Md5Hex::of(p.content.as_bytes());
        self.0.prepare_cached(
            "INSERT INTO config_info_beta (data_id, group_id, tenant_id, app_name, content, beta_ips, md5, gmt_create, gmt_modified, src_user, src_ip)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10)
             ON CONFLICT (data_id, group_id, tenant_id) DO UPDATE SET
               app_name = COALESCE(excluded.app_name, app_name), content = excluded.content, beta_ips = excluded.beta_ips,
               md5 = excluded.md5, gmt_modified = excluded.gmt_modified, src_user = excluded.src_user, src_ip = excluded.src_ip",
        )?
        .execute(params![key.data_id, key.group, key.tenant, p.app_name, p.content, ips, md5.as_str(), now, p.src_user, p.src_ip])?;
        Ok(())
    }

    fn publish_tag(&mut self, p: &PublishOp, tag: &str, now: i64) -> rusqlite::Result<()> {
        let key = &p.key;
        let md5 = Md5Hex::of(p.content.as_bytes());
        self.0.prepare_cached(
            "INSERT INTO config_info_tag (data_id, group_id, tenant_id, tag_id, app_name, content, md5, gmt_create, gmt_modified, src_user, src_ip)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10)
             ON CONFLICT (data_id, group_id, tenant_id, tag_id) DO UPDATE SET
               app_name = COALESCE(excluded.app_name, app_name), content = excluded.content,
               md5 = excluded.md5, gmt_modified = excluded.gmt_modified, src_user = excluded.src_user, src_ip = excluded.src_ip",
        )?
        .execute(params![key.data_id, key.group, key.tenant, tag, p.app_name, p.content, md5.as_str(), now, p.src_user, p.src_ip])?;
        Ok(())
    }

    fn delete_formal(
        &mut self,
        key: &Key,
        now: i64,
        src_ip: &str,
        src_user: Option<&str>,
    ) -> rusqlite::Result<bool> {
        delete_formal(self.0, key, now, src_ip, src_user)
    }

    fn delete_tag(&mut self, key: &Key, tag: &str) -> rusqlite::Result<bool> {
        let n = self.0
            .prepare_cached("DELETE FROM config_info_tag WHERE data_id = ?1 AND group_id = ?2 AND tenant_id = ?3 AND tag_id = ?4")?
            .execute(params![key.data_id, key.group, key.tenant, tag])?;
        Ok(n > 0)
    }

    fn delete_beta(&mut self, key: &Key) -> rusqlite::Result<bool> {
        let n = self.0
            .prepare_cached("DELETE FROM config_info_beta WHERE data_id = ?1 AND group_id = ?2 AND tenant_id = ?3")?
            .execute(params![key.data_id, key.group, key.tenant])?;
        Ok(n > 0)
    }

    fn key_of(&mut self, id: i64) -> rusqlite::Result<Option<Key>> {
        self.0
            .prepare_cached("SELECT data_id, group_id, tenant_id FROM config_info WHERE id = ?1")?
            .query_row(params![id], |r| {
                Ok(Key {
                    data_id: r.get(0)?,
                    group: r.get(1)?,
                    tenant: r.get(2)?,
                })
            })
            .optional()
    }

    fn namespace_exists(&mut self, tenant: &str) -> rusqlite::Result<bool> {
        if tenant.is_empty() {
            return Ok(true);
        }
        let n: i64 = self
            .0
            .prepare_cached("SELECT count(*) FROM tenant_info WHERE kp = '1' AND tenant_id = ?1")?
            .query_row(params![tenant], |r| r.get(0))?;
        Ok(n > 0)
    }

    fn stored(&mut self, key: &Key) -> rusqlite::Result<Option<Stored>> {
        let Some(cur) = current(self.0, key)? else {
            return Ok(None);
        };
        let (config_type, desc): (Option<String>, Option<String>) = self
            .0
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

    fn source(&mut self, id: i64) -> rusqlite::Result<Option<Source>> {
        self.0
            .prepare_cached(
                "SELECT data_id, group_id, content, type, c_desc, app_name, tenant_id FROM config_info WHERE id = ?1",
            )?
            .query_row(params![id], |r| Ok(source_row!(r, get)))
            .optional()
    }
}
