//! Config endpoints: get (and its `search`, `show=all`, `beta`, `tag`
//! variants), publish, delete, catalog and history. The `export`, `import`
//! and `clone` variants are answered by `transfer`.
//!
//! Invariant: a GET hit is served from the in-memory index without a copy
//! of the content ([`Action::Config`]); everything else that needs the
//! database is a [`Query`] for the reader or a [`WriteOp`] for the writer.

use super::params::{
    int_param, is_true, key_params, optional, paging, parse_ids, required, required_owned,
};
use super::render::respond;
use super::{query, Action, ApiError, Ctx, JSON, NOT_FOUND_BODY};
use crate::form::Params;
use crate::http::Request;
use crate::msg::{
    Key, PublishOp, Query, SearchMode, WriteOp, MAX_HISTORY_PAGE_SIZE, MAX_PAGE_SIZE,
};
use crate::protocol::{self, canonical_tenant, is_blank, Metadata};

pub(super) fn get(req: &Request, params: &mut Params, ctx: &Ctx) -> Result<Action, ApiError> {
    if let Some(export) = super::transfer::export_of(params) {
        return export;
    }
    if let Some(mode) = params.get("search") {
        let mode = mode.to_owned();
        return search_of(&mode, params, None);
    }
    if params.get("show") == Some("all") {
        return detail(req, params, ctx);
    }
    if is_true(params, "beta") {
        return beta(req, params, ctx);
    }
    let key = key_params(params, true)?;
    crate::fatal::tripwire(crate::fatal::PanicSite::Reactor, &key.data_id);
    let not_found = || respond(404, JSON, NOT_FOUND_BODY);
    let Some(entry) = ctx.index.entry_of(&key.group_key()) else {
        return Ok(not_found());
    };
    let requester = ctx.requester(req);
    if let Some(beta) = entry.beta.as_ref().filter(|b| b.serves(&requester)) {
        return Ok(Action::Config(
            beta.config.clone(),
            Some("isBeta: true\r\n".into()),
        ));
    }
    let tag = params.get_or_empty("tag");
    if is_blank(tag) {
        let vip = req.header_str("Vipserver-Tag").filter(|t| !is_blank(t));
        if let Some((name, config)) = vip.and_then(|t| entry.tag(t).map(|c| (t, c))) {
            let echoed: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
            return Ok(Action::Config(
                config.clone(),
                Some(format!("Vipserver-Tag: {echoed}\r\n")),
            ));
        }
        return Ok(entry
            .formal
            .as_ref()
            .map_or_else(not_found, |c| Action::Config(c.clone(), None)));
    }
    Ok(entry
        .tag(tag)
        .map_or_else(not_found, |c| Action::Config(c.clone(), None)))
}

/// `GET ?search=accurate|blur`: a page of matching configs. With a
/// `default_size`, `dataId`, `group` and the page may be absent (3.x).
fn search_of(mode: &str, params: &Params, default_size: Option<i64>) -> Result<Action, ApiError> {
    let mode = match mode {
        "accurate" => SearchMode::Accurate,
        "blur" => SearchMode::Blur,
        other => {
            return Err(ApiError::caused(
                400,
                format!("invalid search mode : {other}"),
            ))
        }
    };
    let (data_id, group) = match default_size {
        None => (
            required_owned(params, "dataId")?,
            required_owned(params, "group")?,
        ),
        Some(_) => (
            params.get_or_empty("dataId").to_owned(),
            params.get_or_empty("group").to_owned(),
        ),
    };
    let (page_no, page_size) = paging(params, default_size, MAX_PAGE_SIZE)?;
    let tenant = params.get_or_empty("tenant");
    let config_tags = params
        .get("config_tags")
        .map(|t| {
            t.split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(query(Query::Search {
        mode,
        data_id,
        group,
        tenant: canonical_tenant(tenant).to_owned(),
        app_name: optional(params, "appName"),
        config_tags,
        content: optional(params, "config_detail"),
        page_no,
        page_size,
    }))
}

pub(super) fn publish(req: &Request, params: &mut Params, ctx: &Ctx) -> Result<Action, ApiError> {
    if let Some(upload) = super::transfer::upload_of(req, params, ctx) {
        return upload;
    }
    let config_type = protocol::normalize_type(params.get("type"));
    let tenant = params.get_or_empty("tenant").to_owned();
    protocol::check_tenant(&tenant)?;
    for name in ["dataId", "group", "content"] {
        required(params, name)?;
    }
    let data_id = params.get_or_empty("dataId").to_owned();
    let group = params.get_or_empty("group").to_owned();
    let tag = params.get_or_empty("tag").to_owned();
    protocol::check_data_id(&data_id)
        .and_then(|_| protocol::check_group(&group))
        .and_then(|_| {
            protocol::check_content(
                params.get_or_empty("content"),
                ctx.settings.max_content_chars,
            )
        })
        .and_then(|_| protocol::check_tag(&tag))?;
    let meta = Metadata {
        config_tags: optional(params, "config_tags"),
        desc: optional(params, "desc"),
        use_: optional(params, "use"),
        effect: optional(params, "effect"),
        schema: optional(params, "schema"),
    };
    protocol::check_metadata(&meta)?;
    let op = PublishOp {
        key: Key {
            data_id,
            group,
            tenant: canonical_tenant(&tenant).to_owned(),
        },
        content: params.take("content").unwrap_or_default(),
        config_type,
        app_name: optional(params, "appName"),
        src_ip: ctx.requester(req),
        src_user: None,
        meta,
        cas_md5: req
            .header_str("casMd5")
            .or(params.get("casMd5"))
            .filter(|m| !is_blank(m))
            .map(str::to_owned),
    };
    let beta_ips = req.header_str("betaIps").filter(|v| !is_blank(v));
    let write = match beta_ips {
        Some(ips) => WriteOp::PublishBeta(op, ips.to_owned()),
        None if !is_blank(&tag) => WriteOp::PublishTag(op, tag),
        None => WriteOp::Publish(op),
    };
    Ok(super::write(write))
}

pub(super) fn delete(req: &Request, params: &mut Params, ctx: &Ctx) -> Result<Action, ApiError> {
    if params.get("delType") == Some("ids") {
        return delete_ids(req, params, ctx);
    }
    if is_true(params, "beta") {
        let key = key_params(params, false)?;
        return Ok(super::write(WriteOp::StopBeta { key }));
    }
    let key = key_params(params, true)?;
    let tag = params.get_or_empty("tag");
    let op = if is_blank(tag) {
        WriteOp::Delete {
            key,
            src_ip: ctx.requester(req),
            src_user: None,
        }
    } else {
        WriteOp::DeleteTag {
            key,
            tag: tag.to_owned(),
        }
    };
    Ok(super::write(op))
}

/// Deletes formal configs by id (1.x `delType=ids`, 3.x `config/batch`).
pub(super) fn delete_ids(
    req: &Request,
    params: &mut Params,
    ctx: &Ctx,
) -> Result<Action, ApiError> {
    let ids = parse_ids(required(params, "ids")?)?;
    Ok(super::write(WriteOp::DeleteIds {
        ids,
        src_ip: ctx.requester(req),
        src_user: None,
    }))
}

pub(super) fn catalog(_: &Request, params: &mut Params, _: &Ctx) -> Result<Action, ApiError> {
    key_params(params, false).map(|k| query(Query::Catalog(k)))
}

/// `?search=accurate`: a page of one key's history; otherwise one entry by
/// `nid`.
pub(super) fn history(req: &Request, params: &mut Params, ctx: &Ctx) -> Result<Action, ApiError> {
    if params.get("search") == Some("accurate") {
        return history_list(req, params, ctx);
    }
    int_param(params, "nid", None).map(|nid| query(Query::HistoryDetail(nid, None)))
}

/// A page of one key's history (2.x `/history/list`, 1.x `search=accurate`).
pub(super) fn history_list(_: &Request, params: &mut Params, _: &Ctx) -> Result<Action, ApiError> {
    let data_id = required(params, "dataId")?;
    let group = required(params, "group")?;
    let (page_no, page_size) = paging(params, Some(100), MAX_HISTORY_PAGE_SIZE)?;
    let key = Key {
        data_id: data_id.to_owned(),
        group: group.to_owned(),
        tenant: canonical_tenant(params.get_or_empty("tenant")).to_owned(),
    };
    Ok(query(Query::HistoryList {
        key,
        page_no,
        page_size,
    }))
}

/// The history entry before the one with this `id`.
pub(super) fn previous(_: &Request, params: &mut Params, _: &Ctx) -> Result<Action, ApiError> {
    int_param(params, "id", None).map(|id| query(Query::HistoryPrevious(id, None)))
}

/// One history entry of the named key (2.x, 3.x): an entry of another key
/// is absent, so a permission on one key reads no other key's history.
pub(super) fn history_of_key(
    _: &Request,
    params: &mut Params,
    _: &Ctx,
) -> Result<Action, ApiError> {
    let key = key_params(params, false)?;
    int_param(params, "nid", None).map(|nid| query(Query::HistoryDetail(nid, Some(key))))
}

/// [`previous`] of the named key (2.x, 3.x).
pub(super) fn previous_of_key(
    _: &Request,
    params: &mut Params,
    _: &Ctx,
) -> Result<Action, ApiError> {
    let key = key_params(params, false)?;
    int_param(params, "id", None).map(|id| query(Query::HistoryPrevious(id, Some(key))))
}

/// Every config of a namespace (2.x, 3.x `/history/configs`): an accurate
/// search matching all, its items as the list.
pub(super) fn configs_of_namespace(
    _: &Request,
    params: &mut Params,
    _: &Ctx,
) -> Result<Action, ApiError> {
    let tenant = required(params, "tenant")?;
    protocol::check_tenant(tenant)?;
    let q = Query::Search {
        mode: SearchMode::Accurate,
        data_id: String::new(),
        group: String::new(),
        tenant: canonical_tenant(tenant).to_owned(),
        app_name: None,
        config_tags: Vec::new(),
        content: None,
        page_no: 1,
        page_size: MAX_PAGE_SIZE,
    };
    super::dialect::asking(super::Data::Items, Ok(query(q)))
}

/// A config's detail (1.x `show=all`, 3.x admin `GET config`).
pub(super) fn detail(_: &Request, params: &mut Params, _: &Ctx) -> Result<Action, ApiError> {
    key_params(params, false).map(|k| query(Query::Detail(k)))
}

/// 3.x admin `GET config`: the detail, which must exist.
pub(super) fn detail_found(
    req: &Request,
    params: &mut Params,
    ctx: &Ctx,
) -> Result<Action, ApiError> {
    super::dialect::asking(super::Data::Config, detail(req, params, ctx))
}

/// 3.x admin `GET config/beta`: the beta release, which must exist.
pub(super) fn beta_found(
    req: &Request,
    params: &mut Params,
    ctx: &Ctx,
) -> Result<Action, ApiError> {
    super::dialect::asking(super::Data::Beta, beta(req, params, ctx))
}

/// A config's beta release (1.x `beta=true`).
pub(super) fn beta(_: &Request, params: &mut Params, _: &Ctx) -> Result<Action, ApiError> {
    key_params(params, false).map(|k| query(Query::Beta(k)))
}

/// Stops a config's beta release (1.x `DELETE beta=true`).
pub(super) fn stop_beta(_: &Request, params: &mut Params, _: &Ctx) -> Result<Action, ApiError> {
    key_params(params, false).map(|key| super::write(WriteOp::StopBeta { key }))
}

/// A page of configs (3.x admin `config/list`): the 1.x search, with
/// `search` (blur when absent), `dataId`, `group` and the page optional.
pub(super) fn list(_: &Request, params: &mut Params, _: &Ctx) -> Result<Action, ApiError> {
    let mode = params.get("search").unwrap_or("blur").to_owned();
    search_of(&mode, params, Some(100))
}

/// 2.x `searchDetail`: the 1.x search by content (`config_detail`
/// required, `search` blur when absent); answered as a bare page, as Nacos.
pub(super) fn search_detail(_: &Request, params: &mut Params, _: &Ctx) -> Result<Action, ApiError> {
    required(params, "config_detail")?;
    let mode = params.get("search").unwrap_or("blur").to_owned();
    search_of(&mode, params, None)
}
