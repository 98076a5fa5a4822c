//! The reader's side of moving configs in and out: building an export zip
//! from a selection, and checking an import before it is handed to the
//! writer as one write. The checks and the zip reply are shared with the
//! PostgreSQL reader (`store/pg/query.rs`); the SQLite rows are here.

use super::{export_row, glob_of, Reader};
use crate::msg::{Reply, ReplyTo, WriteOp, WriteRequest};
use crate::transfer::upload::{self, ImportRequest};
use crate::transfer::zip_out::{self, ExportRow};
use crate::transfer::{export_file_name, Code, Selection};
use crossbeam_channel::Sender;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection};
use std::time::Duration;

/// How long the reader waits for room in the writer's queue for an import.
const IMPORT_QUEUE_WAIT: Duration = Duration::from_secs(5);

fn namespace_known(c: &Connection, id: &str) -> rusqlite::Result<bool> {
    let n: i64 = c.query_row(
        "SELECT count(*) FROM tenant_info WHERE kp = '1' AND tenant_id = ?1",
        params![id],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

/// Checks an import on the reader thread (the upload, the namespace, the
/// archive) and hands the batch to the writer, which answers it; or the
/// refusal to answer here.
pub(crate) fn hand_over_import<E>(
    req: &ImportRequest,
    reply: ReplyTo,
    writer: Option<&Sender<WriteRequest>>,
    namespace_known: impl FnOnce(&str) -> Result<bool, E>,
) -> Result<Option<Reply>, E> {
    let upload = match upload::find_upload(req) {
        Ok(u) => u,
        Err(refusal) => return Ok(Some(refusal)),
    };
    if !req.tenant.is_empty() && !namespace_known(&req.tenant)? {
        return Ok(Some(Reply::ok(Code::NamespaceNotExist.failure())));
    }
    let batch = match upload::plan(req, &upload) {
        Ok(b) => b,
        Err(refusal) => return Ok(Some(refusal)),
    };
    let op = WriteOp::Import(Box::new(batch));
    let sent = writer.is_some_and(|w| {
        w.send_timeout(WriteRequest { op, reply }, IMPORT_QUEUE_WAIT)
            .is_ok()
    });
    Ok((!sent).then(|| Reply::caused(503, "too many pending writes")))
}

/// The export zip of `rows` as a download.
pub(crate) fn export_reply(
    rows: &[ExportRow],
    version: zip_out::Version,
) -> zip::result::ZipResult<Reply> {
    let mut reply = Reply::ok(zip_out::build(rows, version)?);
    reply.download = true;
    reply.extra_head = format!(
        "Content-Type: application/zip\r\nContent-Disposition: attachment;filename={}\r\n",
        export_file_name(crate::msg::now_ms())
    );
    Ok(reply)
}

impl Reader {
    /// Checks an import here and hands it to the writer, or answers it.
    pub(super) fn check_import(
        &self,
        req: &ImportRequest,
        reply: ReplyTo,
    ) -> rusqlite::Result<Option<Reply>> {
        hand_over_import(req, reply, self.writer.as_ref(), |t| {
            namespace_known(&self.conn, t)
        })
    }

    /// The export zip of a selection, as a download.
    pub(super) fn export(&self, sel: &Selection) -> rusqlite::Result<Reply> {
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
