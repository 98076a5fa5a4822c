//! From an import request (multipart body) to a [`Batch`] or the finished
//! refusal, in the order Nacos checks (spec §2.1). Runs on the reader
//! thread: unpacking is bounded but not free, and never on a reactor.

use super::multipart;
use super::plan::{plan_import, Batch, PlanError, Policy};
use super::zip_in::{read_entries, Limits, ZipError};
use super::{meta, Code};
use crate::msg::Reply;

/// An import as the reactor hands it over.
#[derive(Clone)]
pub struct ImportRequest {
    /// Canonical target namespace.
    pub tenant: String,
    /// `policy` from the query string, if any (a multipart field wins).
    pub policy: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    pub src_ip: String,
    pub src_user: Option<String>,
    pub limits: Limits,
    pub max_content_chars: usize,
}

impl std::fmt::Debug for ImportRequest {
    // The body can be megabytes of zip: never log it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportRequest")
            .field("tenant", &self.tenant)
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// The uploaded file and the policy, found in the body.
pub struct Upload<'a> {
    pub file: &'a [u8],
    pub policy: Policy,
}

fn code(c: Code) -> Reply {
    Reply::ok(c.failure())
}

/// Finds the `file` part (absent: `DATA_EMPTY` with `data:{}`) and the policy.
pub fn find_upload(req: &ImportRequest) -> Result<Upload<'_>, Reply> {
    let no_file = || {
        Reply::ok(super::envelope(
            Code::DataEmpty,
            Code::DataEmpty.message(),
            serde_json::json!({}),
        ))
    };
    let boundary = req
        .content_type
        .as_deref()
        .and_then(multipart::boundary)
        .ok_or_else(no_file)?;
    let parts = multipart::parse(&req.body, &boundary)
        .map_err(|e| Reply::caused(400, format!("malformed multipart body: {}", e.0)))?;
    let file = parts
        .iter()
        .find(|p| p.name == "file")
        .map(|p| p.data)
        .ok_or_else(no_file)?;
    let field = parts
        .iter()
        .find(|p| p.name == "policy")
        .map(|p| String::from_utf8_lossy(p.data).into_owned());
    let policy = Policy::parse(field.as_deref().or(req.policy.as_deref()))
        .map_err(|e| Reply::caused(400, e))?;
    Ok(Upload { file, policy })
}

/// Unpacks and validates the upload into a batch for the writer.
pub fn plan(req: &ImportRequest, upload: &Upload) -> Result<Batch, Reply> {
    let (entries, metadata) = read_entries(
        upload.file,
        &req.limits,
        &[meta::V1_NAME, meta::V2_NAME],
    )
    .map_err(|e| match e {
        ZipError::NotZip => code(Code::DataEmpty),
        ZipError::Corrupt(_) => code(Code::ParsingDataFailed),
        ZipError::TooManyEntries { .. } | ZipError::TooLarge { .. } => Reply::caused(413, e),
        ZipError::EntryTooLarge { .. } => Reply::caused(
            400,
            format!("invalid content, over {}", req.max_content_chars),
        ),
        ZipError::UnsafeName(_) => Reply::caused(400, e),
    })?;
    let (items, unrecognized) =
        plan_import(entries, metadata, req.max_content_chars).map_err(|e| match e {
            PlanError::Code(c) => code(c),
            PlanError::Invalid(e) => Reply::caused(400, e),
        })?;
    Ok(Batch {
        tenant: req.tenant.clone(),
        policy: upload.policy,
        items,
        unrecognized,
        src_ip: req.src_ip.clone(),
        src_user: req.src_user.clone(),
        message: Code::Success.message(),
    })
}
