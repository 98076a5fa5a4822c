//! The reader's side of moving configs in and out: building an export zip
//! from a selection, and checking an import before it is handed to the
//! writer as one write. The checks and the zip reply are shared by both
//! readers (`store/sqlite/query.rs`, `store/pg/query.rs`).

use crate::msg::{Reply, ReplyTo, WriteOp, WriteRequest};
use crate::transfer::upload::{self, ImportRequest};
use crate::transfer::zip_out::{self, ExportRow};
use crate::transfer::{export_file_name, Code};
use crossbeam_channel::Sender;
use std::time::Duration;

/// How long the reader waits for room in the writer's queue for an import.
const IMPORT_QUEUE_WAIT: Duration = Duration::from_secs(5);

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
