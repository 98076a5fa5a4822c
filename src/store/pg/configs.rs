//! Config rows on PostgreSQL: formal, beta and tag variants, their history,
//! the start-up load and what keys hold now (the entries changes carry).
//! The same rows and rules as the SQLite store's `configs`.

use super::db::Db;
use super::OpError;
use crate::model::{Beta, Config, Entry};
use crate::msg::{Key, PublishOp};
use crate::protocol::{normalize_type, Md5Hex};
use crate::store::rules::{Rows, Variant};
use crate::store::transfer::{source_row, Source, Stored};
use postgres::{Error, GenericClient, Row};
use std::collections::HashMap;
use std::sync::Arc;

/// A formal, beta or tag row as read: the key, the sixth column (beta IPs
/// or tag name), and the rest of a [`Config`].
fn config_of(r: &Row, key: &Key, config_type: &'static str) -> Result<Config, Error> {
    Ok(Config::new(
        r.try_get("id")?,
        key.data_id.clone(),
        key.group.clone(),
        key.tenant.clone(),
        r.try_get("content")?,
        config_type,
        r.try_get("app_name")?,
        r.try_get("gmt_modified")?,
    ))
}

fn key_of(r: &Row) -> Result<Key, Error> {
    Ok(Key {
        data_id: r.try_get("data_id")?,
        group: r.try_get("group_id")?,
        tenant: r.try_get("tenant_id")?,
    })
}

fn type_of(r: &Row) -> Result<&'static str, Error> {
    Ok(normalize_type(
        r.try_get::<_, Option<String>>("type")?.as_deref(),
    ))
}

/// Builds entries from formal, beta and tag rows (columns by name).
fn gather(
    formal: Vec<Row>,
    beta: Vec<Row>,
    tags: Vec<Row>,
) -> Result<HashMap<String, Entry>, Error> {
    let mut entries: HashMap<String, Entry> = HashMap::new();
    let mut types: HashMap<String, &'static str> = HashMap::new();
    for r in formal {
        let key = key_of(&r)?;
        let t = type_of(&r)?;
        let gk = key.group_key();
        types.insert(gk.clone(), t);
        entries.entry(gk).or_default().formal = Some(Arc::new(config_of(&r, &key, t)?));
    }
    for r in beta {
        let key = key_of(&r)?;
        let gk = key.group_key();
        let t = types.get(&gk).copied().unwrap_or("text");
        let ips: Option<String> = r.try_get("beta_ips")?;
        let beta = Beta::new(config_of(&r, &key, t)?, ips.unwrap_or_default());
        entries.entry(gk).or_default().beta = Some(Arc::new(beta));
    }
    for r in tags {
        let key = key_of(&r)?;
        let gk = key.group_key();
        let t = types.get(&gk).copied().unwrap_or("text");
        let tag: String = r.try_get("tag_id")?;
        let config = Arc::new(config_of(&r, &key, t)?);
        entries.entry(gk).or_default().tags.push((tag, config));
    }
    Ok(entries)
}

/// Every stored entry, by groupKey (run it inside the snapshot that also
/// reads the change sequence).
pub(super) fn load_all(
    c: &mut Db<'_, impl GenericClient>,
) -> Result<Vec<(String, Arc<Entry>)>, Error> {
    let entries = gather(
        c.query("SELECT id, data_id, group_id, tenant_id, content, type, app_name, gmt_modified FROM config_info", &[])?,
        c.query("SELECT id, data_id, group_id, tenant_id, content, beta_ips, app_name, gmt_modified FROM config_info_beta", &[])?,
        c.query("SELECT id, data_id, group_id, tenant_id, content, tag_id, app_name, gmt_modified FROM config_info_tag ORDER BY tag_id", &[])?,
    )?;
    Ok(entries.into_iter().map(|(k, e)| (k, Arc::new(e))).collect())
}

/// The keys of a batch as three parallel arrays, joined by `UNNEST` (a
/// macro so each query stays one `&'static str`, a prepared statement).
macro_rules! keys_join {
    () => {
        "UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[]) AS k(d, g, t) ON x.data_id = k.d AND x.group_id = k.g AND x.tenant_id = k.t"
    };
}

/// What each of `keys` holds now, by groupKey (absent: nothing); three
/// round trips however many keys.
pub(super) fn entries_of(
    c: &mut Db<'_, impl GenericClient>,
    keys: &[Key],
) -> Result<HashMap<String, Arc<Entry>>, Error> {
    let d: Vec<&str> = keys.iter().map(|k| k.data_id.as_str()).collect();
    let g: Vec<&str> = keys.iter().map(|k| k.group.as_str()).collect();
    let t: Vec<&str> = keys.iter().map(|k| k.tenant.as_str()).collect();
    let args: [&(dyn postgres::types::ToSql + Sync); 3] = [&d, &g, &t];
    let entries = gather(
        c.query(concat!("SELECT x.id, x.data_id, x.group_id, x.tenant_id, x.content, x.type, x.app_name, x.gmt_modified FROM config_info x JOIN ", keys_join!()), &args)?,
        c.query(concat!("SELECT x.id, x.data_id, x.group_id, x.tenant_id, x.content, x.beta_ips, x.app_name, x.gmt_modified FROM config_info_beta x JOIN ", keys_join!()), &args)?,
        c.query(concat!("SELECT x.id, x.data_id, x.group_id, x.tenant_id, x.content, x.tag_id, x.app_name, x.gmt_modified FROM config_info_tag x JOIN ", keys_join!(), " ORDER BY x.tag_id"), &args)?,
    )?;
    Ok(entries.into_iter().map(|(k, e)| (k, Arc::new(e))).collect())
}

/// An update of an existing formal config: the old version goes to
/// history ('U', its md5 computed if it was not stored), the row takes the
/// new one; one statement, one round trip. No row: the key is new.
const UPDATE_FORMAL: &str = "
WITH old AS (
    SELECT id, content, md5, app_name FROM config_info
    WHERE data_id = $1 AND group_id = $2 AND tenant_id = $3 FOR UPDATE
), h AS (
    INSERT INTO his_config_info (id, data_id, group_id, tenant_id, app_name, content, md5, gmt_create, gmt_modified, src_user, src_ip, op_type)
    SELECT id, $1, $2, $3, app_name, content, COALESCE(md5, md5(content)), $6, $6, $7, $8, 'U' FROM old
)
UPDATE config_info c SET content = $4, md5 = $5, gmt_modified = $6, src_user = $7, src_ip = $8,
    app_name = COALESCE($9, old.app_name), c_desc = COALESCE($10, c.c_desc), c_use = COALESCE($11, c.c_use),
    effect = COALESCE($12, c.effect), type = $13, c_schema = COALESCE($14, c.c_schema)
FROM old WHERE c.id = old.id
RETURNING c.id, c.app_name";

/// A new formal config and its 'I' history row. No row: another node
/// created the key meanwhile.
const INSERT_FORMAL: &str = "
WITH ins AS (
    INSERT INTO config_info (data_id, group_id, tenant_id, content, md5, gmt_create, gmt_modified, src_user, src_ip, app_name, c_desc, c_use, effect, type, c_schema)
    VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10, $11, $12, $13, $14)
    ON CONFLICT (data_id, group_id, tenant_id) DO NOTHING RETURNING id, app_name
), h AS (
    INSERT INTO his_config_info (id, data_id, group_id, tenant_id, app_name, content, md5, gmt_create, gmt_modified, src_user, src_ip, op_type)
    SELECT id, $1, $2, $3, app_name, $4, $5, $6, $6, $7, $8, 'I' FROM ins
)
SELECT id, app_name FROM ins";

/// Deletes a formal config, its tags, and records it in history ('D').
const DELETE_FORMAL: &str = "
WITH old AS (
    DELETE FROM config_info WHERE data_id = $1 AND group_id = $2 AND tenant_id = $3
    RETURNING id, content, md5, app_name
), h AS (
    INSERT INTO his_config_info (id, data_id, group_id, tenant_id, app_name, content, md5, gmt_create, gmt_modified, src_user, src_ip, op_type)
    SELECT id, $1, $2, $3, app_name, content, COALESCE(md5, md5(content)), $4, $4, $5, $6, 'D' FROM old
), t AS (
    DELETE FROM config_tags_relation WHERE id IN (SELECT id FROM old)
)
SELECT id FROM old";

/// Writes a formal publish and its history row; returns the row's id and
/// app name as now stored. Two nodes creating the same key at once: the
/// loser's insert does nothing, and it updates the winner's row instead.
fn write_formal(
    c: &mut Db<'_, impl GenericClient>,
    p: &PublishOp,
    now: i64,
) -> Result<(i64, Option<String>), Error> {
    let md5 = Md5Hex::of(p.content.as_bytes());
    let key = &p.key;
    let args: [&(dyn postgres::types::ToSql + Sync); 14] = [
        &key.data_id,
        &key.group,
        &key.tenant,
        &p.content,
        &md5.as_str(),
        &now,
        &p.src_user,
        &p.src_ip,
        &p.app_name,
        &p.meta.desc,
        &p.meta.use_,
        &p.meta.effect,
        &p.config_type,
        &p.meta.schema,
    ];
    let row = loop {
        if let Some(r) = c.query_opt(UPDATE_FORMAL, &args)? {
            break r;
        }
        if let Some(r) = c.query_opt(INSERT_FORMAL, &args)? {
            break r;
        }
    };
    Ok((row.try_get(0)?, row.try_get(1)?))
}

impl<C: GenericClient> Rows for Db<'_, C> {
    type Error = OpError;

    fn md5_of(
        &mut self,
        key: &Key,
        variant: Variant<'_>,
    ) -> Result<Option<Option<String>>, OpError> {
        let row = match variant {
            Variant::Beta => self.query_opt(
                "SELECT md5 FROM config_info_beta WHERE data_id = $1 AND group_id = $2 AND tenant_id = $3 FOR UPDATE",
                &[&key.data_id, &key.group, &key.tenant],
            )?,
            Variant::Tag(tag) => self.query_opt(
                "SELECT md5 FROM config_info_tag WHERE data_id = $1 AND group_id = $2 AND tenant_id = $3 AND tag_id = $4 FOR UPDATE",
                &[&key.data_id, &key.group, &key.tenant, &tag],
            )?,
            Variant::Formal => self.query_opt(
                "SELECT md5 FROM config_info WHERE data_id = $1 AND group_id = $2 AND tenant_id = $3 FOR UPDATE",
                &[&key.data_id, &key.group, &key.tenant],
            )?,
        };
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    fn write_formal(&mut self, p: &PublishOp, now: i64) -> Result<(i64, Option<String>), OpError> {
        Ok(write_formal(self, p, now)?)
    }

    fn clear_tags(&mut self, id: i64) -> Result<(), OpError> {
        self.execute("DELETE FROM config_tags_relation WHERE id = $1", &[&id])?;
        Ok(())
    }

    fn add_tag(&mut self, id: i64, key: &Key, tag: &str) -> Result<(), OpError> {
        self.execute(
            "INSERT INTO config_tags_relation (id, tag_name, tag_type, data_id, group_id, tenant_id) VALUES ($1, $2, '', $3, $4, $5)
             ON CONFLICT DO NOTHING",
            &[&id, &tag, &key.data_id, &key.group, &key.tenant],
        )?;
        Ok(())
    }

    fn publish_beta(&mut self, p: &PublishOp, ips: &str, now: i64) -> Result<(), OpError> {
        let key = &p.key;
        let md5 = Md5Hex::of(p.content.as_bytes());
        self.execute(
            "INSERT INTO config_info_beta AS b (data_id, group_id, tenant_id, app_name, content, beta_ips, md5, gmt_create, gmt_modified, src_user, src_ip)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10)
             ON CONFLICT (data_id, group_id, tenant_id) DO UPDATE SET
               app_name = COALESCE(excluded.app_name, b.app_name), content = excluded.content, beta_ips = excluded.beta_ips,
               md5 = excluded.md5, gmt_modified = excluded.gmt_modified, src_user = excluded.src_user, src_ip = excluded.src_ip",
            &[&key.data_id, &key.group, &key.tenant, &p.app_name, &p.content, &ips, &md5.as_str(), &now, &p.src_user, &p.src_ip],
        )?;
        Ok(())
    }

    fn publish_tag(&mut self, p: &PublishOp, tag: &str, now: i64) -> Result<(), OpError> {
        let key = &p.key;
        let md5 = Md5Hex::of(p.content.as_bytes());
        self.execute(
            "INSERT INTO config_info_tag AS t (data_id, group_id, tenant_id, tag_id, app_name, content, md5, gmt_create, gmt_modified, src_user, src_ip)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10)
             ON CONFLICT (data_id, group_id, tenant_id, tag_id) DO UPDATE SET
               app_name = COALESCE(excluded.app_name, t.app_name), content = excluded.content,
               md5 = excluded.md5, gmt_modified = excluded.gmt_modified, src_user = excluded.src_user, src_ip = excluded.src_ip",
            &[&key.data_id, &key.group, &key.tenant, &tag, &p.app_name, &p.content, &md5.as_str(), &now, &p.src_user, &p.src_ip],
        )?;
        Ok(())
    }

    fn delete_formal(
        &mut self,
        key: &Key,
        now: i64,
        src_ip: &str,
        src_user: Option<&str>,
    ) -> Result<bool, OpError> {
        let gone = self.query_opt(
            DELETE_FORMAL,
            &[
                &key.data_id,
                &key.group,
                &key.tenant,
                &now,
                &src_user,
                &src_ip,
            ],
        )?;
        Ok(gone.is_some())
    }

    fn delete_tag(&mut self, key: &Key, tag: &str) -> Result<bool, OpError> {
        let n = self.execute(
            "DELETE FROM config_info_tag WHERE data_id = $1 AND group_id = $2 AND tenant_id = $3 AND tag_id = $4",
            &[&key.data_id, &key.group, &key.tenant, &tag],
        )?;
        Ok(n > 0)
    }

    fn delete_beta(&mut self, key: &Key) -> Result<bool, OpError> {
        let n = self.execute(
            "DELETE FROM config_info_beta WHERE data_id = $1 AND group_id = $2 AND tenant_id = $3",
            &[&key.data_id, &key.group, &key.tenant],
        )?;
        Ok(n > 0)
    }

    fn key_of(&mut self, id: i64) -> Result<Option<Key>, OpError> {
        let row = self.query_opt(
            "SELECT data_id, group_id, tenant_id FROM config_info WHERE id = $1",
            &[&id],
        )?;
        Ok(row.map(|r| key_of(&r)).transpose()?)
    }

    fn namespace_exists(&mut self, tenant: &str) -> Result<bool, OpError> {
        if tenant.is_empty() {
            return Ok(true);
        }
        let row = self.query_opt(
            "SELECT 1 FROM tenant_info WHERE kp = '1' AND tenant_id = $1",
            &[&tenant],
        )?;
        Ok(row.is_some())
    }

    fn stored(&mut self, key: &Key) -> Result<Option<Stored>, OpError> {
        let row = self.query_opt(
            "SELECT COALESCE(md5, md5(content)), type, app_name, c_desc FROM config_info
             WHERE data_id = $1 AND group_id = $2 AND tenant_id = $3",
            &[&key.data_id, &key.group, &key.tenant],
        )?;
        let stored = row.map(|r| {
            Ok::<_, Error>(Stored {
                md5: r.try_get(0)?,
                config_type: r.try_get(1)?,
                app_name: r.try_get(2)?,
                desc: r.try_get(3)?,
            })
        });
        Ok(stored.transpose()?)
    }

    fn source(&mut self, id: i64) -> Result<Option<Source>, OpError> {
        let row = self.query_opt(
            "SELECT data_id, group_id, content, type, c_desc, app_name, tenant_id FROM config_info WHERE id = $1",
            &[&id],
        )?;
        let source = row.map(|r| Ok::<_, Error>(source_row!(&r, try_get)));
        Ok(source.transpose()?)
    }
}
