//! Console queries (search, detail, history, namespaces) answered by a
//! reader thread on its own read-only SQLite connection, so a slow query
//! (a blur search over 100,000 configs) never stalls a reactor or the writer.
//! WAL lets it read the last committed state while the writer writes.
//!
//! Each query becomes a finished JSON [`Reply`] sent back to the asking
//! reactor as a [`ToReactor::Done`]. The JSON shapes are Nacos's (spec §4.4,
//! §4.5, §4.6, §4.8, §4.9).

use crate::auth::{AuthKeys, ADMIN_ROLE};
use crate::msg::{ReactorLink, Reply, ReplyTo, ToReactor, WriteRequest};
use crate::store::{open_connection, StoreError};
use crate::transfer::upload::ImportRequest;
use crossbeam_channel::{Receiver, Sender};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use serde_json::{json, Value as Json};
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

mod transfer;

pub(crate) use transfer::{export_reply, hand_over_import};

// The messages the reader answers live beside the other thread messages;
// the reactor still names them through this module.
pub use crate::msg::{Query, QueryRequest, SearchMode};

/// Renders epoch milliseconds as Jackson does on Nacos 1.4
/// (`2020-12-05T01:48:03.380+0000`).
pub fn iso_time(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    let s = humantime::format_rfc3339_millis(t).to_string();
    match s.strip_suffix('Z') {
        Some(base) => format!("{base}+0000"),
        None => s,
    }
}

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

pub(crate) fn page(total: i64, page_no: i64, page_size: i64, items: Vec<Json>) -> Json {
    json!({
        "totalCount": total,
        "pageNumber": page_no,
        "pagesAvailable": (total + page_size - 1) / page_size,
        "pageItems": items,
    })
}

/// A `his_config_info` row as Nacos renders it. `$get` names the row's
/// getter by column name (`get` on rusqlite, `try_get` on postgres: the
/// same shape in two crates), so both stores render rows alike.
macro_rules! history_json {
    ($r:expr, $get:ident, $with_content:expr) => {{
        let r = $r;
        let content: Option<String> = if $with_content {
            r.$get("content")?
        } else {
            None
        };
        let md5: Option<String> = if $with_content { r.$get("md5")? } else { None };
        serde_json::json!({
            "id": r.$get::<_, i64>("nid")?.to_string(),
            "lastId": -1,
            "dataId": r.$get::<_, String>("data_id")?,
            "group": r.$get::<_, String>("group_id")?,
            "tenant": r.$get::<_, String>("tenant_id")?,
            "appName": r.$get::<_, Option<String>>("app_name")?.unwrap_or_default(),
            "md5": md5,
            "content": content,
            "srcIp": r.$get::<_, Option<String>>("src_ip")?,
            "srcUser": r.$get::<_, Option<String>>("src_user")?,
            "opType": r.$get::<_, Option<String>>("op_type")?,
            "createdTime": $crate::query::iso_time(r.$get("gmt_create")?),
            "lastModifiedTime": $crate::query::iso_time(r.$get("gmt_modified")?),
        })
    }};
}
pub(crate) use history_json;

/// A config row (with `config_tags`) as Nacos renders its detail; `$get`
/// as in [`history_json`].
macro_rules! detail_json {
    ($r:expr, $get:ident) => {{
        let r = $r;
        serde_json::json!({
            "id": r.$get::<_, i64>("id")?.to_string(),
            "dataId": r.$get::<_, String>("data_id")?,
            "group": r.$get::<_, String>("group_id")?,
            "content": r.$get::<_, String>("content")?,
            "md5": r.$get::<_, Option<String>>("md5")?,
            "tenant": r.$get::<_, String>("tenant_id")?,
            "appName": r.$get::<_, Option<String>>("app_name")?.unwrap_or_default(),
            "type": r.$get::<_, Option<String>>("type")?,
            "createTime": r.$get::<_, i64>("gmt_create")?,
            "modifyTime": r.$get::<_, i64>("gmt_modified")?,
            "createUser": r.$get::<_, Option<String>>("src_user")?,
            "createIp": r.$get::<_, Option<String>>("src_ip")?,
            "desc": r.$get::<_, Option<String>>("c_desc")?,
            "use": r.$get::<_, Option<String>>("c_use")?,
            "effect": r.$get::<_, Option<String>>("effect")?,
            "schema": r.$get::<_, Option<String>>("c_schema")?,
            "configTags": r.$get::<_, Option<String>>("config_tags")?,
        })
    }};
}
pub(crate) use detail_json;

/// A search hit (columns `id, data_id, group_id, tenant_id, app_name,
/// content, type`); `$get` as in [`history_json`].
macro_rules! search_json {
    ($r:expr, $get:ident, $with_type:expr) => {{
        let r = $r;
        let t: Option<String> = if $with_type { r.$get(6)? } else { None };
        serde_json::json!({
            "id": r.$get::<_, i64>(0)?.to_string(),
            "dataId": r.$get::<_, String>(1)?,
            "group": r.$get::<_, String>(2)?,
            "content": r.$get::<_, String>(5)?,
            "md5": null,
            "tenant": r.$get::<_, String>(3)?,
            "appName": r.$get::<_, Option<String>>(4)?.unwrap_or_default(),
            "type": t,
        })
    }};
}
pub(crate) use search_json;

/// An exported config from a row of `data_id, group_id, content, app_name,
/// c_desc, type`; `$get` as in [`history_json`].
macro_rules! export_row {
    ($r:expr, $get:ident) => {{
        let r = $r;
        $crate::transfer::zip_out::ExportRow {
            data_id: r.$get(0)?,
            group: r.$get(1)?,
            content: r.$get(2)?,
            app_name: r.$get(3)?,
            desc: r.$get(4)?,
            config_type: r.$get(5)?,
        }
    }};
}
pub(crate) use export_row;

fn history_row(r: &Row, with_content: bool) -> rusqlite::Result<Json> {
    Ok(history_json!(r, get, with_content))
}

const DETAIL_COLUMNS: &str = "id, data_id, group_id, tenant_id, content, md5, app_name, type, gmt_create, gmt_modified, src_user, src_ip, c_desc, c_use, effect, c_schema,
    (SELECT group_concat(tag_name, ',') FROM config_tags_relation t WHERE t.id = config_info.id) AS config_tags";

fn detail_row(r: &Row) -> rusqlite::Result<Json> {
    Ok(detail_json!(r, get))
}

/// The catalog of a config: a part of its detail.
pub(crate) fn catalog_reply(detail: Option<Json>) -> Reply {
    let data = detail.map(|d| {
        json!({
            "createTime": d["createTime"], "modifyTime": d["modifyTime"],
            "createUser": d["createUser"], "createIp": d["createIp"],
            "desc": d["desc"], "use": d["use"], "effect": d["effect"],
            "type": d["type"], "schema": d["schema"], "configTags": d["configTags"],
        })
    });
    json_reply(json!({"code": 200, "message": null, "data": data}))
}

pub(crate) fn json_reply(j: Json) -> Reply {
    Reply::ok(j.to_string())
}

pub(crate) fn not_found(what: &str) -> Reply {
    Reply::caused(404, what)
}

/// What a reader thread asks of its store: the SQLite [`Reader`] and the
/// PostgreSQL one answer the same queries with the same JSON.
pub trait Answer {
    /// Answers a console query (`Verify` goes to [`Answer::password_ok`]).
    fn answer_query(&mut self, q: &Query) -> Result<Reply, String>;
    /// Whether `password` is `username`'s (bcrypt, deliberately slow).
    fn password_ok(&mut self, username: &str, password: &str) -> Result<bool, String>;
    /// Checks an import and hands it to the writer, which answers it
    /// (`None`), or answers it here (a refusal).
    fn import(&mut self, req: &ImportRequest, reply: ReplyTo) -> Option<Result<Reply, String>> {
        let _ = (req, reply);
        Some(Ok(Reply::caused(
            501,
            "import is not supported on this store",
        )))
    }
}

/// Serves queries until every sender is gone.
pub fn serve(mut store: impl Answer, rx: Receiver<QueryRequest>, reactors: Vec<ReactorLink>) {
    while let Ok(req) = rx.recv() {
        let result = match &req.query {
            Query::Verify {
                username,
                password,
                key,
            } => {
                let ok = store.password_ok(username, password).unwrap_or_else(|e| {
                    log::error!("cannot check a password: {e}");
                    false
                });
                if let Some(link) = reactors.get(req.reply.reactor) {
                    link.send(ToReactor::Verified {
                        conn: req.reply.conn,
                        generation: req.reply.generation,
                        key: *key,
                        ok,
                    });
                }
                continue;
            }
            Query::Import(import) => match store.import(import, req.reply) {
                Some(r) => r,
                None => continue, // the writer answers
            },
            Query::Search { .. }
            | Query::Detail(_)
            | Query::Catalog(_)
            | Query::Beta(_)
            | Query::HistoryList { .. }
            | Query::HistoryDetail(_)
            | Query::HistoryPrevious(_)
            | Query::Namespaces
            | Query::NamespaceDetail(_)
            | Query::NamespaceExists(_)
            | Query::Login { .. }
            | Query::Export(_) => store.answer_query(&req.query),
        };
        let result = result.map_err(|e| {
            log::error!("query {:?} failed: {e}", req.query);
            format!("storage error: {e}")
        });
        if let Some(link) = reactors.get(req.reply.reactor) {
            link.send(ToReactor::Done {
                conn: req.reply.conn,
                generation: req.reply.generation,
                result,
            });
        }
    }
}

/// The JSON of a login: the token, its lifetime, whether an admin.
pub(crate) fn login_reply(keys: &AuthKeys, username: &str, admin: bool) -> Reply {
    let token = keys.sign(username, crate::msg::now_ms() as u64 / 1000);
    let body = json!({"accessToken": token, "tokenTtl": keys.ttl_secs, "globalAdmin": admin});
    let mut reply = Reply::ok(body.to_string());
    reply.extra_head = format!("Authorization: Bearer {token}\r\n");
    reply
}

/// The reader: a read-only connection and the loop that serves queries.
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

    /// Serves queries until every sender is gone.
    pub fn run(self, rx: Receiver<QueryRequest>, reactors: Vec<ReactorLink>) {
        serve(self, rx, reactors)
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
                    || !config_tags.is_empty();
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
            Query::HistoryDetail(nid) => Ok(c
                .query_row(
                    "SELECT * FROM his_config_info WHERE nid = ?1",
                    params![nid],
                    |r| history_row(r, true),
                )
                .optional()?
                .map_or_else(
                    || not_found(&format!("history {nid} not found")),
                    json_reply,
                )),
            Query::HistoryPrevious(id) => Ok(c
                .query_row(
                    "SELECT * FROM his_config_info WHERE id = ?1 ORDER BY nid DESC LIMIT 1",
                    params![id],
                    |r| history_row(r, true),
                )
                .optional()?
                .map_or_else(
                    || not_found(&format!("no history for config {id}")),
                    json_reply,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_render_as_jackson_does() {
        assert_eq!(iso_time(1_607_132_883_380), "2020-12-05T01:48:03.380+0000");
    }

    #[test]
    fn blur_patterns() {
        assert_eq!(glob_of("app*"), "app*");
        assert_eq!(glob_of("a_b"), "a?b");
        assert_eq!(glob_of("x[?"), "x[[][?]");
    }
}
