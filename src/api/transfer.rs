//! The console's export, import and clone calls (spec nacos-transfer.md),
//! query-parameter variants of `GET` and `POST /v1/cs/configs`: parameters
//! checked here, the work done off the reactor (archives on the reader
//! thread, the batch in one writer savepoint).

use super::params::{is_true, optional, parse_ids, required};
use super::render::respond;
use super::{query, Action, ApiError, Ctx, JSON};
use crate::form::Params;
use crate::http::Request;
use crate::msg::{CloneOp, Query, WriteOp};
use crate::protocol::{self, canonical_tenant};
use crate::transfer::plan::override_of;
use crate::transfer::upload::ImportRequest;
use crate::transfer::zip_in::Limits;
use crate::transfer::zip_out::Version;
use crate::transfer::{Batch, Code, Policy, Selection, CLONE_DONE};

/// `GET ?export=true` or `?exportV2=true`, if the request is one.
pub(super) fn export_of(params: &Params) -> Option<Result<Action, ApiError>> {
    if is_true(params, "exportV2") {
        Some(export(params, Version::V2))
    } else if is_true(params, "export") {
        Some(export(params, Version::V1))
    } else {
        None
    }
}

/// `POST ?import=true` or `?clone=true`, if the request is one.
pub(super) fn upload_of(
    req: &Request,
    params: &Params,
    ctx: &Ctx,
) -> Option<Result<Action, ApiError>> {
    if is_true(params, "import") {
        Some(import(req, params, ctx))
    } else if is_true(params, "clone") {
        Some(clone(req, params, ctx))
    } else {
        None
    }
}

/// The namespace a config request touches, for permission checks: an
/// import names it `namespace`, everything else `tenant`.
pub(super) fn tenant_param(params: &Params) -> &str {
    if is_true(params, "import") {
        params.get_or_empty("namespace")
    } else {
        params.get_or_empty("tenant")
    }
}

/// 3.x admin `config/export`: the 2.x zip (with its metadata file).
pub(super) fn export_v2(_: &Request, params: &mut Params, _: &Ctx) -> Result<Action, ApiError> {
    export(params, Version::V2)
}

/// 3.x admin `config/import`: an import into `namespaceId` (read as `tenant`).
pub(super) fn import_to_tenant(
    req: &Request,
    params: &mut Params,
    ctx: &Ctx,
) -> Result<Action, ApiError> {
    params.rename("tenant", "namespace");
    import(req, params, ctx)
}

/// 3.x admin `config/clone`: a clone into `namespaceId` (read as `tenant`).
pub(super) fn clone_to_tenant(
    req: &Request,
    params: &mut Params,
    ctx: &Ctx,
) -> Result<Action, ApiError> {
    clone(req, params, ctx)
}

fn export(params: &Params, version: Version) -> Result<Action, ApiError> {
    let tenant = params.get_or_empty("tenant");
    protocol::check_tenant(tenant)?;
    // Nacos crashes on a missing `ids`; here it is simply empty.
    let ids = parse_ids(params.get_or_empty("ids"))?;
    let text = |name| params.get_or_empty(name).to_owned();
    Ok(query(Query::Export(Selection {
        version,
        tenant: canonical_tenant(tenant).to_owned(),
        ids,
        data_id: text("dataId"),
        group: text("group"),
        app_name: text("appName"),
    })))
}

fn import(req: &Request, params: &Params, ctx: &Ctx) -> Result<Action, ApiError> {
    let namespace = params.get_or_empty("namespace");
    protocol::check_tenant(namespace)?;
    let s = ctx.settings;
    Ok(query(Query::Import(Box::new(ImportRequest {
        tenant: canonical_tenant(namespace).to_owned(),
        policy: optional(params, "policy"),
        content_type: req.header_str("Content-Type").map(str::to_owned),
        body: req.body.to_vec(),
        src_ip: ctx.requester(req),
        src_user: optional(params, "src_user"),
        limits: Limits {
            max_entries: s.max_import_entries,
            max_unpacked_bytes: s.max_import_bytes,
            max_entry_bytes: (s.max_content_chars as u64).saturating_mul(3),
        },
        max_content_chars: s.max_content_chars,
    }))))
}

/// One clone source: `cfgId` may come as a number or a numeric string.
type Source = (i64, Option<String>, Option<String>);

fn source(v: &serde_json::Value) -> Result<Source, ApiError> {
    let bad = || ApiError::caused(400, format!("invalid clone item : {v}"));
    let id = match &v["cfgId"] {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(bad)?;
    let data_id = override_of(v["dataId"].as_str());
    let group = override_of(v["group"].as_str());
    if let Some(d) = &data_id {
        protocol::check_data_id(d)?;
    }
    if let Some(g) = &group {
        protocol::check_group(g)?;
    }
    Ok((id, data_id, group))
}

fn clone(req: &Request, params: &Params, ctx: &Ctx) -> Result<Action, ApiError> {
    let tenant = required(params, "tenant")?;
    protocol::check_tenant(tenant)?;
    let policy = Policy::parse(params.get("policy"))?;
    let list: Vec<serde_json::Value> = serde_json::from_slice(&req.body)
        .map_err(|e| ApiError::caused(400, format!("invalid clone body : {e}")))?;
    if list.is_empty() {
        return Ok(respond(200, JSON, Code::NoSelectedConfig.failure()));
    }
    let sources = list.iter().map(source).collect::<Result<Vec<_>, _>>()?;
    let reader = match &ctx.auth {
        Some(auth) => Some((
            auth.state.clone(),
            super::authz::authenticate(req, params, auth)?,
        )),
        None => None,
    };
    Ok(super::write(WriteOp::Clone(Box::new(CloneOp {
        batch: Batch {
            tenant: canonical_tenant(tenant).to_owned(),
            policy,
            items: Vec::new(),
            unrecognized: Vec::new(),
            src_ip: ctx.requester(req),
            src_user: optional(params, "src_user"),
            message: CLONE_DONE,
        },
        sources,
        reader,
    }))))
}
