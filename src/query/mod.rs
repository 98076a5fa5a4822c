//! The reader thread: console queries (search, detail, history,
//! namespaces, export, import checks, logins) answered off the reactors,
//! so nothing slow ever runs on one. Each store answers them on a
//! connection of its own ([`Answer`]: `store::sqlite::Reader`,
//! `store::pg::PgReader`); this module is the loop that serves them and
//! the JSON both render.
//!
//! Each query becomes a finished JSON [`Reply`] sent back to the asking
//! reactor as a [`ToReactor::Done`]. The JSON shapes are Nacos's (spec §4.4,
//! §4.5, §4.6, §4.8, §4.9).

use crate::auth::AuthKeys;
use crate::msg::{Query, QueryRequest, ReactorLink, Reply, ReplyTo, ToReactor};
use crate::transfer::upload::ImportRequest;
use crossbeam_channel::Receiver;
use serde_json::{json, Value as Json};
use std::time::{Duration, UNIX_EPOCH};

mod transfer;

pub(crate) use transfer::{export_reply, hand_over_import};

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

/// Whether a history row is of `key` (no key: any row is).
fn of_key(row: &Json, key: Option<&crate::msg::Key>) -> bool {
    key.is_none_or(|k| {
        row["dataId"] == k.data_id.as_str()
            && row["group"] == k.group.as_str()
            && row["tenant"] == k.tenant.as_str()
    })
}

/// Nacos's refusal of a history entry read under another key
/// (HistoryService.checkHistoryInfoPermission).
fn other_key() -> Reply {
    Reply::caused(403, "Please check dataId, group or namespaceId.")
}

/// The answer to `Query::HistoryDetail`: the row a store found, or
/// Nacos's 404 (both stores answer with these words).
pub(crate) fn history_detail_reply(
    nid: i64,
    key: Option<&crate::msg::Key>,
    row: Option<Json>,
) -> Reply {
    match row {
        None => not_found(&format!("history {nid} not found")),
        Some(r) if of_key(&r, key) => json_reply(r),
        Some(_) => other_key(),
    }
}

/// The answer to `Query::HistoryPrevious`: the config's latest history
/// row, or Nacos's 404.
pub(crate) fn history_previous_reply(
    id: i64,
    key: Option<&crate::msg::Key>,
    row: Option<Json>,
) -> Reply {
    match row {
        None => not_found(&format!("no history for config {id}")),
        Some(r) if of_key(&r, key) => json_reply(r),
        Some(_) => other_key(),
    }
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
            | Query::HistoryDetail(..)
            | Query::HistoryPrevious(..)
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
                tag: req.reply.tag,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_render_as_jackson_does() {
        assert_eq!(iso_time(1_607_132_883_380), "2020-12-05T01:48:03.380+0000");
    }
}
