//! Console queries on SQLite: the reader thread's own read-only
//! connection, so a slow query (a blur search over 100,000 configs) never
//! stalls a reactor or the writer. WAL lets it read the last committed
//! state while the writer writes. The JSON shapes, shared with the
//! PostgreSQL reader, are `crate::query`'s.

use super::open_connection;
use crate::auth::{AuthKeys, ADMIN_ROLE};
use crate::msg::{Query, Reply, ReplyTo, SearchMode, WriteRequest};
use crate::query::{
    catalog_reply, detail_json, export_reply, export_row, hand_over_import, history_detail_reply,
    history_json, history_previous_reply, json_reply, login_reply, not_found, page, search_json,
    Answer,
};
use crate::store::StoreError;
use crate::transfer::upload::ImportRequest;
use crate::transfer::Selection;
use crossbeam_channel::Sender;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use serde_json::{json, Value as Json};
use std::path::Path;

/// `*` is Nacos's wildcard; `_` is also one in Nacos (an unescaped SQL LIKE
/// character). GLOB keeps matching case-sensitive as Nacos's binary
/// collation does.
fn glob_of(pattern: &str) -> String {
    let mut g = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        match c {
            '*' => g.push('*'),
            '_' => g.push('?'),
            '?' => g.push_str("[?]"),
            '[' => g.push_str("[[]"),
            c => g.push(c),
        }
    }
    g
}

fn history_row(r: &Row, with_content: bool) -> rusqlite::Result<Json> {
    Ok(history_json!(r, get, with_content))
}

const DETAIL_COLUMNS: &str = "id, data_id, group_id, tenant_id, content, md5, app_name, type, gmt_create, gmt_modified, src_user, src_ip, c_desc, c_use, effect, c_schema,
    (SELECT group_concat(tag_name, ',') FROM config_tags_relation t WHERE t.id = config_info.id) AS config_tags";

fn detail_row(r: &Row) -> rusqlite::Result<Json> {
    Ok(detail_json!(r, get))
}

/// The reader: a read-only connection, the token keys, and where checked
/// imports go.
pub struct Reader {
    conn: Connection,
    /// Token keys when auth is on.
    keys: Option<AuthKeys>,
    /// Where a checked import goes (it is answered from there).
    writer: Option<Sender<WriteRequest>>,
}

impl Reader {
    pub fn open(path: &Path, keys: Option<AuthKeys>) -> Result<Reader, StoreError> {
        let conn = open_connection(path)?;
        conn.execute_batch("PRAGMA query_only = ON;")
            .map_err(|e| StoreError(format!("cannot configure {}: {e}", path.display())))?;
        Ok(Reader {
            conn,
            keys,
            writer: None,
        })
    }

    /// Whether `password` is `username`'s (bcrypt, deliberately slow).
    fn password_ok(&self, username: &str, password: &str) -> rusqlite::Result<bool> {
        let hash: Option<String> = self
            .conn
            .query_row(
                "SELECT password FROM users WHERE username = ?1 AND enabled = 1",
                params![username],
                |r| r.get(0),
            )
            .optional()?;
        Ok(hash.is_some_and(|h| bcrypt::verify(password, &h).unwrap_or(false)))
    }

    fn login(&self, username: &str, password: &str) -> rusqlite::Result<Reply> {
        let Some(keys) = &self.keys else {
            return Ok(Reply::caused(500, "auth is off"));
        };
        if !self.password_ok(username, password)? {
            return Ok(Reply::new(403, "unknown user!"));
        }
        let admin: i64 = self.conn.query_row(
            "SELECT count(*) FROM roles WHERE username = ?1 AND role = ?2",
            params![username, ADMIN_ROLE],
            |r| r.get(0),
        )?;
        Ok(login_reply(keys, username, admin > 0))
    }

    /// Imports are forwarded to the writer through `tx`.
    pub fn with_writer(mut self, tx: Sender<WriteRequest>) -> Reader {
        self.writer = Some(tx);
        self
    }

    pub fn answer(&self, q: &Query) -> rusqlite::Result<Reply> {
        let c = &self.conn;
        let key_where = "data_id = ?1 AND group_id = ?2 AND tenant_id = ?3";
        match q {
            Query::Search {
                mode,
                data_id,
                group,
                tenant,
                app_name,
                config_tags,
                content,
                page_no,
                page_size,
            } => {
                let mut conds = Vec::new();
                let mut args: Vec<Value> = Vec::new();
                let op = if *mode == SearchMode::Blur {
                    "GLOB"
                } else {
                    "="
                };
                let value = |s: &str| {
                    if *mode == SearchMode::Blur {
                        glob_of(s)
                    } else {
                        s.to_owned()
                    }
                };
                // The namespace is matched exactly, even in blur mode: a
                // pattern here would reach namespaces a permission check on
                // the literal tenant never saw.
                conds.push("tenant_id = ?".to_owned());
                args.push(Value::Text(tenant.clone()));
                for (col, v) in [("data_id", data_id), ("group_id", group)] {
                    if !v.trim().is_empty() {
                        conds.push(format!("{col} {op} ?"));
                        args.push(Value::Text(value(v)));
                    }
                }
                if let Some(app) = app_name.as_deref().filter(|a| !a.trim().is_empty()) {
                    conds.push("app_name = ?".into());
                    args.push(Value::Text(app.to_owned()));
                }
                let content = content.as_deref().filter(|t| !t.trim().is_empty());
                if let Some(text) = content {
                    conds.push(format!("content {op} ?"));
                    args.push(Value::Text(value(text)));
                }
                if !config_tags.is_empty() {
                    let marks = vec!["?"; config_tags.len()].join(",");
                    conds.push(format!(
                        "id IN (SELECT id FROM config_tags_relation WHERE tag_name IN ({marks}))"
                    ));
                    args.extend(config_tags.iter().map(|t| Value::Text(t.clone())));
                }
                let filter = conds.join(" AND ");
                // Without statistics SQLite takes a (tenant, ...) index even
                // when the whole namespace matches: the page then sorts every
                // match by id (1.2 s deep in 100,000 configs) and a count on
                // appName looks each row up (1 s). Only an exact dataId or
                // group narrows enough for an index; otherwise the page walks
                // the table in id order and stops at the page, and a count on
                // columns no index holds scans once (each at most one scan of
                // the table: tens of ms for 100,000 configs).
                let exact = |v: &str| {
                    !v.trim().is_empty()
                        && (*mode == SearchMode::Accurate || !v.contains(['*', '_']))
                };
                let narrow = exact(data_id) || exact(group);
                let page_hint = if narrow { "" } else { "NOT INDEXED" };
                let unindexed_filter = app_name.as_deref().is_some_and(|a| !a.trim().is_empty())
                    || !config_tags.is_empty()
                    || content.is_some();
                let count_hint = if !narrow && unindexed_filter {
                    "NOT INDEXED"
                } else {
                    ""
                };
                let total: i64 = c.query_row(
                    &format!("SELECT count(*) FROM config_info {count_hint} WHERE {filter}"),
                    params_from_iter(args.iter()),
                    |r| r.get(0),
                )?;
                let with_type = *mode == SearchMode::Accurate && config_tags.is_empty();
                args.push(Value::Integer(*page_size));
                args.push(Value::Integer((page_no - 1).saturating_mul(*page_size)));
                let mut stmt = c.prepare(&format!(
                    "SELECT id, data_id, group_id, tenant_id, app_name, content, type FROM config_info {page_hint} WHERE {filter} ORDER BY id LIMIT ? OFFSET ?"
                ))?;
                let items = stmt
                    .query_map(params_from_iter(args.iter()), |r| {
                        Ok(search_json!(r, get, with_type))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(json_reply(page(total, *page_no, *page_size, items)))
            }
            Query::Detail(k) => {
                let row = c
                    .query_row(
                        &format!("SELECT {DETAIL_COLUMNS} FROM config_info WHERE {key_where}"),
                        params![k.data_id, k.group, k.tenant],
                        detail_row,
                    )
                    .optional()?;
                // Nacos writes nothing for an absent config: 200, empty body.
                Ok(Reply::ok(row.map(|j| j.to_string()).unwrap_or_default()))
            }
            Query::Catalog(k) => {
                let row = c
                    .query_row(
                        &format!("SELECT {DETAIL_COLUMNS} FROM config_info WHERE {key_where}"),
                        params![k.data_id, k.group, k.tenant],
                        detail_row,
                    )
                    .optional()?;
                Ok(catalog_reply(row))
            }
            Query::Beta(k) => {
                let row = c
                    .query_row(
                        &format!("SELECT id, data_id, group_id, tenant_id, app_name, content, md5, beta_ips FROM config_info_beta WHERE {key_where}"),
                        params![k.data_id, k.group, k.tenant],
                        |r| {
                            Ok(json!({
                                "id": r.get::<_, i64>(0)?.to_string(),
                                "dataId": r.get::<_, String>(1)?,
                                "group": r.get::<_, String>(2)?,
                                "tenant": r.get::<_, String>(3)?,
                                "appName": r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                                "content": r.get::<_, String>(5)?,
                                "md5": r.get::<_, Option<String>>(6)?,
                                "betaIps": r.get::<_, Option<String>>(7)?,
                            }))
                        },
                    )
                    .optional()?;
                Ok(json_reply(
                    json!({"code": 200, "message": "stop beta ok", "data": row}),
                ))
            }
            Query::HistoryList {
                key,
                page_no,
                page_size,
            } => {
                let total: i64 = c.query_row(
                    &format!("SELECT count(*) FROM his_config_info WHERE {key_where}"),
                    params![key.data_id, key.group, key.tenant],
                    |r| r.get(0),
                )?;
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT * FROM his_config_info WHERE {key_where} ORDER BY nid DESC LIMIT ?4 OFFSET ?5"
                ))?;
                let items = stmt
                    .query_map(
                        params![
                            key.data_id,
                            key.group,
                            key.tenant,
                            page_size,
                            (page_no - 1).saturating_mul(*page_size)
                        ],
                        |r| history_row(r, false),
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(json_reply(page(total, *page_no, *page_size, items)))
            }
            Query::HistoryDetail(nid, key) => Ok(history_detail_reply(
                *nid,
                key.as_ref(),
                c.query_row(
                    "SELECT * FROM his_config_info WHERE nid = ?1",
                    params![nid],
                    |r| history_row(r, true),
                )
                .optional()?,
            )),
            Query::HistoryPrevious(id, key) => Ok(history_previous_reply(
                *id,
                key.as_ref(),
                c.query_row(
                    "SELECT * FROM his_config_info WHERE id = ?1 ORDER BY nid DESC LIMIT 1",
                    params![id],
                    |r| history_row(r, true),
                )
                .optional()?,
            )),
            Query::Namespaces => {
                let counts = self.config_counts()?;
                let count = |t: &str| counts.iter().find(|(n, _)| n == t).map_or(0, |(_, c)| *c);
                let mut list = vec![json!({
                    "namespace": "", "namespaceShowName": "public", "quota": 200,
                    "configCount": count(""), "type": 0,
                })];
                let mut stmt = c.prepare_cached(
                    "SELECT tenant_id, tenant_name FROM tenant_info WHERE kp = '1' ORDER BY id",
                )?;
                let rows = stmt.query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
                })?;
                for row in rows {
                    let (id, name) = row?;
                    list.push(json!({
                        "namespace": id, "namespaceShowName": name.unwrap_or_default(), "quota": 200,
                        "configCount": count(&id), "type": 2,
                    }));
                }
                Ok(json_reply(
                    json!({"code": 200, "message": null, "data": list}),
                ))
            }
            Query::NamespaceDetail(id) => {
                let count: i64 = c.query_row(
                    "SELECT count(*) FROM config_info WHERE tenant_id = ?1",
                    params![id],
                    |r| r.get(0),
                )?;
                if id.is_empty() {
                    return Ok(json_reply(json!({
                        "namespace": "", "namespaceShowName": "Public", "quota": 200,
                        "configCount": count, "type": 0, "namespaceDesc": "Public Namespace",
                    })));
                }
                Ok(c
                    .query_row(
                        "SELECT tenant_name, tenant_desc FROM tenant_info WHERE kp = '1' AND tenant_id = ?1",
                        params![id],
                        |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, Option<String>>(1)?)),
                    )
                    .optional()?
                    .map_or_else(
                        || not_found(&format!("namespace {id} not found")),
                        |(name, desc)| {
                            json_reply(json!({
                                "namespace": id, "namespaceShowName": name.unwrap_or_default(), "quota": 200,
                                "configCount": count, "type": 2, "namespaceDesc": desc,
                            }))
                        },
                    ))
            }
            Query::Login { username, password } => self.login(username, password),
            Query::Verify { .. } | Query::Import(_) => Ok(Reply::caused(500, "misrouted query")),
            Query::Export(sel) => self.export(sel),
            Query::NamespaceExists(id) => {
                let n: i64 = c.query_row(
                    "SELECT count(*) FROM tenant_info WHERE kp = '1' AND tenant_id = ?1",
                    params![id],
                    |r| r.get(0),
                )?;
                Ok(Reply::ok(if n > 0 { "true" } else { "false" }))
            }
        }
    }

    fn config_counts(&self) -> rusqlite::Result<Vec<(String, i64)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT tenant_id, count(*) FROM config_info GROUP BY tenant_id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect()
    }
}

impl Answer for Reader {
    fn answer_query(&mut self, q: &Query) -> Result<Reply, String> {
        self.answer(q).map_err(|e| e.to_string())
    }

    fn password_ok(&mut self, username: &str, password: &str) -> Result<bool, String> {
        Reader::password_ok(self, username, password).map_err(|e| e.to_string())
    }

    fn import(&mut self, req: &ImportRequest, reply: ReplyTo) -> Option<Result<Reply, String>> {
        self.check_import(req, reply)
            .map_err(|e| e.to_string())
            .transpose()
    }
}

fn namespace_known(c: &Connection, id: &str) -> rusqlite::Result<bool> {
    let n: i64 = c.query_row(
        "SELECT count(*) FROM tenant_info WHERE kp = '1' AND tenant_id = ?1",
        params![id],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

impl Reader {
    /// Checks an import here and hands it to the writer, or answers it.
    fn check_import(&self, req: &ImportRequest, reply: ReplyTo) -> rusqlite::Result<Option<Reply>> {
        hand_over_import(req, reply, self.writer.as_ref(), |t| {
            namespace_known(&self.conn, t)
        })
    }

    /// The export zip of a selection, as a download.
    fn export(&self, sel: &Selection) -> rusqlite::Result<Reply> {
        let mut conds = vec!["tenant_id = ?".to_owned()];
        let mut args = vec![Value::Text(sel.tenant.clone())];
        if !sel.ids.is_empty() {
            conds.push(format!("id IN ({})", vec!["?"; sel.ids.len()].join(",")));
            args.extend(sel.ids.iter().map(|i| Value::Integer(*i)));
        } else {
            for (col, op, v) in [
                ("data_id", "GLOB", glob_of(&sel.data_id)),
                ("group_id", "=", sel.group.clone()),
                ("app_name", "=", sel.app_name.clone()),
            ] {
                if !v.trim().is_empty() {
                    conds.push(format!("{col} {op} ?"));
                    args.push(Value::Text(v));
                }
            }
        }
        let mut stmt = self.conn.prepare(&format!(
            "SELECT data_id, group_id, content, app_name, c_desc, type FROM config_info WHERE {} ORDER BY id",
            conds.join(" AND ")
        ))?;
        let rows = stmt
            .query_map(params_from_iter(args.iter()), |r| Ok(export_row!(r, get)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        export_reply(&rows, sel.version)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_patterns() {
        assert_eq!(glob_of("app*"), "app*");
        assert_eq!(glob_of("a_b"), "a?b");
        assert_eq!(glob_of("x[?"), "x[[][?]");
    }
}
