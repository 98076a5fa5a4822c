//! Console queries on PostgreSQL: the reader thread's connection, the same
//! queries and JSON as the SQLite reader (`crate::query`), in PostgreSQL's
//! dialect. A lost connection is retried on the next query.

use crate::auth::{AuthKeys, ADMIN_ROLE};
use crate::msg::{Query, Reply, ReplyTo, SearchMode, WriteRequest};
use crate::query::{
    catalog_reply, detail_json, export_reply, export_row, hand_over_import, history_detail_reply,
    history_json, history_previous_reply, json_reply, login_reply, not_found, page, search_json,
    Answer,
};
use crate::store::writer::UNAVAILABLE;
use crate::store::StoreError;
use crate::transfer::upload::ImportRequest;
use crate::transfer::Selection;
use crossbeam_channel::Sender;
use postgres::types::ToSql;
use postgres::{Client, Config, Error, NoTls, Row};
use serde_json::{json, Value as Json};

/// The reader's connection (reopened after a failure) and token keys.
pub struct PgReader {
    config: Config,
    target: String,
    client: Option<Client>,
    keys: Option<AuthKeys>,
    /// Where a checked import goes (it is answered from there).
    writer: Option<Sender<WriteRequest>>,
}

/// A Nacos blur pattern as a LIKE pattern: `*` is any run, `_` any one
/// character (as in Nacos, where it reaches SQL unescaped); `%` and `\` are
/// literal. LIKE is case-sensitive, as Nacos's binary collation is.
fn like_of(pattern: &str) -> String {
    let mut l = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        match c {
            '*' => l.push('%'),
            '%' => l.push_str("\\%"),
            '\\' => l.push_str("\\\\"),
            c => l.push(c),
        }
    }
    l
}

const DETAIL_COLUMNS: &str = "id, data_id, group_id, tenant_id, content, md5, app_name, type, gmt_create, gmt_modified, src_user, src_ip, c_desc, c_use, effect, c_schema,
    (SELECT string_agg(tag_name, ',') FROM config_tags_relation t WHERE t.id = config_info.id) AS config_tags";
const KEY_WHERE: &str = "data_id = $1 AND group_id = $2 AND tenant_id = $3";

fn history_row(r: &Row, with_content: bool) -> Result<Json, Error> {
    Ok(history_json!(r, try_get, with_content))
}

fn detail_row(r: &Row) -> Result<Json, Error> {
    Ok(detail_json!(r, try_get))
}

impl PgReader {
    pub(super) fn open(
        config: Config,
        target: String,
        keys: Option<AuthKeys>,
    ) -> Result<PgReader, StoreError> {
        let client = config
            .connect(NoTls)
            .map_err(|e| StoreError(format!("cannot connect to {target}: {e}")))?;
        Ok(PgReader {
            config,
            target,
            client: Some(client),
            keys,
            writer: None,
        })
    }

    /// Imports are forwarded to the writer through `tx`.
    pub fn with_writer(mut self, tx: Sender<WriteRequest>) -> PgReader {
        self.writer = Some(tx);
        self
    }

    /// The connection, reopened if it was lost.
    fn client(&mut self) -> Result<&mut Client, String> {
        match &mut self.client {
            Some(c) if !c.is_closed() => {}
            slot => {
                let c = self
                    .config
                    .connect(NoTls)
                    .map_err(|e| format!("PostgreSQL {} unreachable: {e}", self.target))?;
                *slot = Some(c);
            }
        }
        self.client
            .as_mut()
            .ok_or_else(|| "not connected".to_owned())
    }

    fn answer(c: &mut Client, keys: Option<&AuthKeys>, q: &Query) -> Result<Reply, Error> {
        let count = |rows: Row| -> Result<i64, Error> { rows.try_get(0) };
        match q {
            Query::Export(sel) => export(c, sel),
            Query::Import(_) => Ok(Reply::caused(500, "misrouted query")),
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
                let mut args: Vec<Box<dyn ToSql + Sync>> = Vec::new();
                let blur = *mode == SearchMode::Blur;
                let (op, value): (&str, fn(&str) -> String) = if blur {
                    ("LIKE", like_of)
                } else {
                    ("=", str::to_owned)
                };
                // The namespace is matched exactly, even in blur mode (see
                // the SQLite reader).
                args.push(Box::new(tenant.clone()));
                conds.push("tenant_id = $1".to_owned());
                for (col, v) in [("data_id", data_id), ("group_id", group)] {
                    if !v.trim().is_empty() {
                        args.push(Box::new(value(v)));
                        conds.push(format!("{col} {op} ${}", args.len()));
                    }
                }
                if let Some(app) = app_name.as_deref().filter(|a| !a.trim().is_empty()) {
                    args.push(Box::new(app.to_owned()));
                    conds.push(format!("app_name = ${}", args.len()));
                }
                if let Some(text) = content.as_deref().filter(|t| !t.trim().is_empty()) {
                    args.push(Box::new(value(text)));
                    conds.push(format!("content {op} ${}", args.len()));
                }
                if !config_tags.is_empty() {
                    args.push(Box::new(config_tags.clone()));
                    conds.push(format!(
                        "id IN (SELECT id FROM config_tags_relation WHERE tag_name = ANY(${}))",
                        args.len()
                    ));
                }
                let filter = conds.join(" AND ");
                let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref()).collect();
                let total = count(c.query_one(
                    &format!("SELECT count(*) FROM config_info WHERE {filter}"),
                    &refs,
                )?)?;
                let with_type = *mode == SearchMode::Accurate && config_tags.is_empty();
                let offset = (page_no - 1).saturating_mul(*page_size);
                let n = refs.len();
                let mut refs = refs;
                refs.push(page_size);
                refs.push(&offset);
                let rows = c.query(
                    &format!(
                        "SELECT id, data_id, group_id, tenant_id, app_name, content, type FROM config_info WHERE {filter} ORDER BY id LIMIT ${} OFFSET ${}",
                        n + 1,
                        n + 2
                    ),
                    &refs,
                )?;
                let mut items = Vec::with_capacity(rows.len());
                for r in &rows {
                    items.push(search_json!(r, try_get, with_type));
                }
                Ok(json_reply(page(total, *page_no, *page_size, items)))
            }
            Query::Detail(k) | Query::Catalog(k) => {
                let row = c.query_opt(
                    &format!("SELECT {DETAIL_COLUMNS} FROM config_info WHERE {KEY_WHERE}"),
                    &[&k.data_id, &k.group, &k.tenant],
                )?;
                let detail = row.as_ref().map(detail_row).transpose()?;
                if let Query::Catalog(_) = q {
                    return Ok(catalog_reply(detail));
                }
                // Nacos writes nothing for an absent config: 200, empty body.
                Ok(Reply::ok(detail.map(|j| j.to_string()).unwrap_or_default()))
            }
            Query::Beta(k) => {
                let row = c.query_opt(
                    &format!("SELECT id, data_id, group_id, tenant_id, app_name, content, md5, beta_ips FROM config_info_beta WHERE {KEY_WHERE}"),
                    &[&k.data_id, &k.group, &k.tenant],
                )?;
                let data = match row {
                    Some(r) => Some(json!({
                        "id": r.try_get::<_, i64>(0)?.to_string(),
                        "dataId": r.try_get::<_, String>(1)?,
                        "group": r.try_get::<_, String>(2)?,
                        "tenant": r.try_get::<_, String>(3)?,
                        "appName": r.try_get::<_, Option<String>>(4)?.unwrap_or_default(),
                        "content": r.try_get::<_, String>(5)?,
                        "md5": r.try_get::<_, Option<String>>(6)?,
                        "betaIps": r.try_get::<_, Option<String>>(7)?,
                    })),
                    None => None,
                };
                Ok(json_reply(
                    json!({"code": 200, "message": "stop beta ok", "data": data}),
                ))
            }
            Query::HistoryList {
                key,
                page_no,
                page_size,
            } => {
                let total = count(c.query_one(
                    &format!("SELECT count(*) FROM his_config_info WHERE {KEY_WHERE}"),
                    &[&key.data_id, &key.group, &key.tenant],
                )?)?;
                let offset = (page_no - 1).saturating_mul(*page_size);
                let rows = c.query(
                    &format!("SELECT * FROM his_config_info WHERE {KEY_WHERE} ORDER BY nid DESC LIMIT $4 OFFSET $5"),
                    &[&key.data_id, &key.group, &key.tenant, page_size, &offset],
                )?;
                let items = rows
                    .iter()
                    .map(|r| history_row(r, false))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(json_reply(page(total, *page_no, *page_size, items)))
            }
            Query::HistoryDetail(nid, key) => {
                let row = c.query_opt("SELECT * FROM his_config_info WHERE nid = $1", &[nid])?;
                let row = row.map(|r| history_row(&r, true)).transpose()?;
                Ok(history_detail_reply(*nid, key.as_ref(), row))
            }
            Query::HistoryPrevious(id, key) => {
                let row = c.query_opt(
                    "SELECT * FROM his_config_info WHERE id = $1 ORDER BY nid DESC LIMIT 1",
                    &[id],
                )?;
                let row = row.map(|r| history_row(&r, true)).transpose()?;
                Ok(history_previous_reply(*id, key.as_ref(), row))
            }
            Query::Namespaces => {
                let mut counts = std::collections::HashMap::new();
                for r in c.query(
                    "SELECT tenant_id, count(*) FROM config_info GROUP BY tenant_id",
                    &[],
                )? {
                    counts.insert(r.try_get::<_, String>(0)?, r.try_get::<_, i64>(1)?);
                }
                let count = |t: &str| counts.get(t).copied().unwrap_or(0);
                let mut list = vec![json!({
                    "namespace": "", "namespaceShowName": "public", "quota": 200,
                    "configCount": count(""), "type": 0,
                })];
                for r in c.query(
                    "SELECT tenant_id, tenant_name FROM tenant_info WHERE kp = '1' ORDER BY id",
                    &[],
                )? {
                    let id: String = r.try_get(0)?;
                    let name: Option<String> = r.try_get(1)?;
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
                let n = count(c.query_one(
                    "SELECT count(*) FROM config_info WHERE tenant_id = $1",
                    &[id],
                )?)?;
                if id.is_empty() {
                    return Ok(json_reply(json!({
                        "namespace": "", "namespaceShowName": "Public", "quota": 200,
                        "configCount": n, "type": 0, "namespaceDesc": "Public Namespace",
                    })));
                }
                let row = c.query_opt(
                    "SELECT tenant_name, tenant_desc FROM tenant_info WHERE kp = '1' AND tenant_id = $1",
                    &[id],
                )?;
                Ok(match row {
                    Some(r) => {
                        let name: Option<String> = r.try_get(0)?;
                        let desc: Option<String> = r.try_get(1)?;
                        json_reply(json!({
                            "namespace": id, "namespaceShowName": name.unwrap_or_default(), "quota": 200,
                            "configCount": n, "type": 2, "namespaceDesc": desc,
                        }))
                    }
                    None => not_found(&format!("namespace {id} not found")),
                })
            }
            Query::NamespaceExists(id) => {
                let n = count(c.query_one(
                    "SELECT count(*) FROM tenant_info WHERE kp = '1' AND tenant_id = $1",
                    &[id],
                )?)?;
                Ok(Reply::ok(if n > 0 { "true" } else { "false" }))
            }
            Query::Login { username, password } => {
                let Some(keys) = keys else {
                    return Ok(Reply::caused(500, "auth is off"));
                };
                if !password_ok(c, username, password)? {
                    return Ok(Reply::new(403, "unknown user!"));
                }
                let admin = count(c.query_one(
                    "SELECT count(*) FROM roles WHERE username = $1 AND role = $2",
                    &[username, &ADMIN_ROLE],
                )?)?;
                Ok(login_reply(keys, username, admin > 0))
            }
            Query::Verify { .. } => Ok(Reply::caused(500, "misrouted verification")),
        }
    }
}

/// The export zip of a selection (the SQLite reader's rules: ids within
/// the namespace, else the dataId pattern, group and appName).
fn export(c: &mut Client, sel: &Selection) -> Result<Reply, Error> {
    let mut conds = vec!["tenant_id = $1".to_owned()];
    let mut args: Vec<Box<dyn ToSql + Sync>> = vec![Box::new(sel.tenant.clone())];
    if !sel.ids.is_empty() {
        args.push(Box::new(sel.ids.clone()));
        conds.push("id = ANY($2)".to_owned());
    } else {
        for (col, op, v) in [
            ("data_id", "LIKE", like_of(&sel.data_id)),
            ("group_id", "=", sel.group.clone()),
            ("app_name", "=", sel.app_name.clone()),
        ] {
            if !v.trim().is_empty() {
                args.push(Box::new(v));
                conds.push(format!("{col} {op} ${}", args.len()));
            }
        }
    }
    let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref()).collect();
    let rows = c.query(
        &format!(
            "SELECT data_id, group_id, content, app_name, c_desc, type FROM config_info WHERE {} ORDER BY id",
            conds.join(" AND ")
        ),
        &refs,
    )?;
    let rows = rows
        .iter()
        .map(|r| Ok(export_row!(r, try_get)))
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(export_reply(&rows, sel.version)
        .unwrap_or_else(|e| Reply::caused(500, format!("cannot build the zip: {e}"))))
}

fn password_ok(c: &mut Client, username: &str, password: &str) -> Result<bool, Error> {
    let row = c.query_opt(
        "SELECT password FROM users WHERE username = $1 AND enabled",
        &[&username],
    )?;
    let hash: Option<String> = row.map(|r| r.try_get(0)).transpose()?;
    Ok(hash.is_some_and(|h| bcrypt::verify(password, &h).unwrap_or(false)))
}

impl Answer for PgReader {
    fn answer_query(&mut self, q: &Query) -> Result<Reply, String> {
        let unavailable = |e: &str| {
            log::warn!("console query not answered: {e}");
            Ok(Reply::new(503, UNAVAILABLE))
        };
        if let Err(e) = self.client() {
            return unavailable(&e);
        }
        let Some(c) = self.client.as_mut() else {
            return unavailable("not connected");
        };
        match PgReader::answer(c, self.keys.as_ref(), q) {
            Ok(reply) => Ok(reply),
            // The connection broke during the query: PostgreSQL is away.
            Err(e) if c.is_closed() => unavailable(&e.to_string()),
            Err(e) => Err(super::explain(&e)),
        }
    }

    fn password_ok(&mut self, username: &str, password: &str) -> Result<bool, String> {
        let c = self.client()?;
        password_ok(c, username, password).map_err(|e| e.to_string())
    }

    fn import(&mut self, req: &ImportRequest, reply: ReplyTo) -> Option<Result<Reply, String>> {
        let writer = self.writer.clone();
        let c = match self.client() {
            Ok(c) => c,
            Err(e) => {
                log::warn!("import not checked: {e}");
                return Some(Ok(Reply::new(503, UNAVAILABLE)));
            }
        };
        let known = |t: &str| -> Result<bool, Error> {
            let row = c.query_opt(
                "SELECT 1 FROM tenant_info WHERE kp = '1' AND tenant_id = $1",
                &[&t],
            )?;
            Ok(row.is_some())
        };
        match hand_over_import(req, reply, writer.as_ref(), known) {
            Ok(answer) => answer.map(Ok),
            Err(e) if e.is_closed() => Some(Ok(Reply::new(503, UNAVAILABLE))),
            Err(e) => Some(Err(super::explain(&e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::like_of;

    #[test]
    fn blur_patterns_become_like_patterns() {
        for (blur, like) in [
            ("app*", "app%"),
            ("a_b", "a_b"),
            ("100%", "100\\%"),
            ("back\\slash*", "back\\\\slash%"),
            ("*mid*", "%mid%"),
        ] {
            assert_eq!(like_of(blur), like, "{blur}");
        }
    }
}
