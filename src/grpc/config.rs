//! Config requests over gRPC: query, publish, remove, batch listen. Each
//! validates with the HTTP API's checks, reads through `index::view`, and
//! writes with the same `WriteOp`s; only the answers are gRPC's.

use super::messages::{code, BatchListen, ConfigKey, Publish, Response};
use super::{reply, Ctx, Listened, Outcome, Pending, WriteKind};
use crate::api::token_may;
use crate::auth::Access;
use crate::index::Viewer;
use crate::model::Variant;
use crate::msg::{Key, PublishOp, WriteOp, Written};
use crate::protocol::{self, canonical_tenant, group_key, is_blank, ClientMd5, Metadata};

const QUERY: &str = "ConfigQueryResponse";
const PUBLISH: &str = "ConfigPublishResponse";
const REMOVE: &str = "ConfigRemoveResponse";
const LISTEN: &str = "ConfigChangeBatchListenResponse";

/// A refusal for a bad parameter or a missing permission, in the
/// response class of the request.
fn refuse(class: &'static str, id: Option<&str>, error_code: i64, msg: &str) -> Vec<u8> {
    reply(Response::fail(class, id, error_code, msg))
}

/// Checks the caller may `access` the keys, when auth is on.
fn permitted(
    ctx: &Ctx,
    token: Option<&str>,
    access: Access,
    keys: &[(&str, &str, &str)],
) -> Result<(), String> {
    match ctx.auth {
        None => Ok(()),
        Some(auth) => token_may(token, auth, access, keys).map_err(|e| e.to_string()),
    }
}

/// (dataId, group, canonical tenant) validated as the HTTP API does.
fn key_of(k: &ConfigKey) -> Result<Key, protocol::ProtocolError> {
    let tenant = k.tenant.as_deref().unwrap_or("");
    protocol::check_tenant(tenant)?;
    let data_id = k.data_id.as_deref().unwrap_or("");
    let group = k.group.as_deref().unwrap_or("");
    protocol::check_data_id(data_id)?;
    protocol::check_group(group)?;
    protocol::check_tag(k.tag.as_deref().unwrap_or(""))?;
    Ok(Key {
        data_id: data_id.to_owned(),
        group: group.to_owned(),
        tenant: canonical_tenant(tenant).to_owned(),
    })
}

pub(super) fn query(
    k: &ConfigKey,
    vip_tag: Option<&str>,
    token: Option<&str>,
    id: Option<&str>,
    ctx: &Ctx,
) -> Vec<u8> {
    let key = match key_of(k) {
        Ok(key) => key,
        Err(e) => return refuse(QUERY, id, code::INVALID_PARAM, &e.to_string()),
    };
    let names = [(
        key.tenant.as_str(),
        key.group.as_str(),
        key.data_id.as_str(),
    )];
    if let Err(e) = permitted(ctx, token, Access::Read, &names) {
        return refuse(QUERY, id, code::NO_RIGHT, &e);
    }
    let entry = ctx.index.entry_of(&key.group_key());
    let tag = k.tag.as_deref().filter(|t| !is_blank(t));
    let not_found = |tag: Option<&str>| {
        let mut r = Response::fail(QUERY, id, code::NOT_FOUND, "config data not exist");
        if let Some(t) = tag {
            r = r.field("tag", t);
        }
        reply(r)
    };
    let Some(entry) = entry else {
        return not_found(tag);
    };
    // A beta for this client first, then the tag asked for (an explicit
    // one, else the connection's `Vipserver-Tag`), then the formal config,
    // as over HTTP; an explicit tag that has no variant is not found.
    let wanted = tag.or(vip_tag.filter(|t| !is_blank(t)));
    let (config, beta, tag_echo) = match (entry.effective(ctx.client_ip, wanted), tag) {
        (Some(Variant::Beta(c)), _) => (c, true, None),
        (Some(Variant::Tag(t, c)), _) => (c, false, Some(t)),
        (Some(Variant::Formal(_)) | None, Some(t)) => return not_found(Some(t)),
        (Some(Variant::Formal(c)), None) => (c, false, None),
        (None, None) => return not_found(None),
    };
    let mut r = Response::ok(QUERY, id)
        .field("content", config.content.as_str())
        .field("contentType", config.config_type)
        .field("md5", config.md5.as_str())
        .field("lastModified", config.modified_ms)
        .field("beta", beta);
    if let Some(t) = tag_echo {
        let encoded: String = form_urlencoded::byte_serialize(t.as_bytes()).collect();
        r = r.field("tag", encoded);
    }
    reply(r)
}

pub(super) fn publish(p: Publish, token: Option<&str>, id: Option<&str>, ctx: &Ctx) -> Outcome {
    let fail = |error_code: i64, msg: &str| Outcome::Reply(refuse(PUBLISH, id, error_code, msg));
    let tenant = p.tenant.as_deref().unwrap_or("");
    let data_id = p.data_id.as_deref().unwrap_or("");
    let group = p.group.as_deref().unwrap_or("");
    let tag = p.addition("tag").unwrap_or("");
    let content = p.content.as_deref().unwrap_or("");
    let checked = protocol::check_tenant(tenant)
        .and_then(|_| protocol::check_data_id(data_id))
        .and_then(|_| protocol::check_group(group))
        .and_then(|_| {
            if p.content.as_deref().is_none_or(is_blank) {
                Err(protocol::ProtocolError("content is blank".into()))
            } else {
                protocol::check_content(content, ctx.settings.max_content_chars)
            }
        })
        .and_then(|_| protocol::check_tag(tag));
    if let Err(e) = checked {
        return fail(code::INVALID_PARAM, &e.to_string());
    }
    let meta = Metadata {
        config_tags: p.addition("config_tags").map(str::to_owned),
        desc: p.addition("desc").map(str::to_owned),
        use_: p.addition("use").map(str::to_owned),
        effect: p.addition("effect").map(str::to_owned),
        schema: p.addition("schema").map(str::to_owned),
    };
    if let Err(e) = protocol::check_metadata(&meta) {
        return fail(code::INVALID_PARAM, &e.to_string());
    }
    let canonical = canonical_tenant(tenant);
    if let Err(e) = permitted(ctx, token, Access::Write, &[(canonical, group, data_id)]) {
        return fail(code::NO_RIGHT, &e);
    }
    let op = PublishOp {
        key: Key {
            data_id: data_id.to_owned(),
            group: group.to_owned(),
            tenant: canonical.to_owned(),
        },
        content: content.to_owned(),
        config_type: protocol::normalize_type(p.addition("type")),
        app_name: p.addition("appName").map(str::to_owned),
        src_ip: ctx.client_ip.to_owned(),
        src_user: p.addition("src_user").map(str::to_owned),
        meta,
        cas_md5: p
            .cas_md5
            .as_deref()
            .filter(|m| !is_blank(m))
            .map(str::to_owned),
    };
    let beta_ips = p.addition("betaIps").filter(|v| !is_blank(v));
    let op = match beta_ips {
        Some(ips) => WriteOp::PublishBeta(op, ips.to_owned()),
        None if !is_blank(tag) => WriteOp::PublishTag(op, tag.to_owned()),
        None => WriteOp::Publish(op),
    };
    Outcome::Write {
        op: Box::new(op),
        pending: Pending {
            kind: WriteKind::Publish,
            request_id: id.map(Into::into),
        },
    }
}

pub(super) fn remove(k: &ConfigKey, token: Option<&str>, id: Option<&str>, ctx: &Ctx) -> Outcome {
    let key = match key_of(k) {
        Ok(key) => key,
        Err(e) => return Outcome::Reply(refuse(REMOVE, id, code::INVALID_PARAM, &e.to_string())),
    };
    let names = [(
        key.tenant.as_str(),
        key.group.as_str(),
        key.data_id.as_str(),
    )];
    if let Err(e) = permitted(ctx, token, Access::Write, &names) {
        return Outcome::Reply(refuse(REMOVE, id, code::NO_RIGHT, &e));
    }
    let op = match k.tag.as_deref().filter(|t| !is_blank(t)) {
        Some(tag) => WriteOp::DeleteTag {
            key,
            tag: tag.to_owned(),
        },
        None => WriteOp::Delete {
            key,
            src_ip: ctx.client_ip.to_owned(),
            src_user: None,
        },
    };
    Outcome::Write {
        op: Box::new(op),
        pending: Pending {
            kind: WriteKind::Remove,
            request_id: id.map(Into::into),
        },
    }
}

pub(super) fn listen(
    b: BatchListen,
    vip_tag: Option<&str>,
    token: Option<&str>,
    id: Option<&str>,
    ctx: &Ctx,
) -> Outcome {
    let fail = |error_code: i64, msg: &str| Outcome::Reply(refuse(LISTEN, id, error_code, msg));
    if vip_tag.is_some_and(|t| protocol::check_tag(t).is_err()) {
        return fail(code::INVALID_PARAM, "invalid Vipserver-Tag");
    }
    if b.config_listen_contexts.len() > protocol::MAX_KEYS_PER_LISTENER {
        return fail(code::INVALID_PARAM, "too many keys in one listen");
    }
    let names: Vec<(&str, &str, &str)> = b
        .config_listen_contexts
        .iter()
        .map(|c| {
            (
                canonical_tenant(c.tenant.as_deref().unwrap_or("")),
                c.group.as_deref().unwrap_or(""),
                c.data_id.as_deref().unwrap_or(""),
            )
        })
        .collect();
    if b.listen {
        if let Err(e) = permitted(ctx, token, Access::Read, &names) {
            return fail(code::NO_RIGHT, &e);
        }
    }
    let viewer = Viewer {
        requester: ctx.client_ip.into(),
        vip_tag: vip_tag.filter(|t| !is_blank(t)).map(Into::into),
        user: None,
    };
    let mut keys = Vec::with_capacity(b.config_listen_contexts.len());
    let mut changed = Vec::new();
    for c in &b.config_listen_contexts {
        let spelt = c.tenant.as_deref().unwrap_or("");
        let canonical = canonical_tenant(spelt);
        let (data_id, group) = (
            c.data_id.as_deref().unwrap_or(""),
            c.group.as_deref().unwrap_or(""),
        );
        let gk = group_key(data_id, group, canonical);
        let md5 = ClientMd5::parse(c.md5.as_deref().unwrap_or(""));
        if b.listen {
            let now = viewer.sees(ctx.index.entry_of(&gk).map(|e| &**e));
            if !md5.matches(now.map(|c| &c.md5)) {
                let mut ctx_json = serde_json::Map::new();
                ctx_json.insert("group".into(), group.into());
                ctx_json.insert("dataId".into(), data_id.into());
                if let Some(t) = &c.tenant {
                    ctx_json.insert("tenant".into(), t.as_str().into());
                }
                changed.push(serde_json::Value::Object(ctx_json));
            }
        }
        keys.push(Listened {
            group_key: gk,
            md5,
            echo_tenant: (canonical != spelt && !spelt.is_empty()).then(|| spelt.into()),
        });
    }
    Outcome::Listen {
        listen: b.listen,
        keys,
        reply: reply(Response::ok(LISTEN, id).field("changedConfigs", changed)),
    }
}

impl Pending {
    /// The answer to the unary call once its write has committed (or
    /// failed: `Err` holds the storage failure).
    pub fn render(&self, result: Result<Written, String>) -> Vec<u8> {
        let class = match self.kind {
            WriteKind::Publish => PUBLISH,
            WriteKind::Remove => REMOVE,
        };
        let id = self.request_id.as_deref();
        let r = match result {
            Ok(Written::Done) => Response::ok(class, id),
            Ok(Written::CasMismatch) => Response::fail(
                class,
                id,
                code::SERVER_ERROR,
                "Cas publish fail, server md5 may have changed.",
            ),
            Ok(
                other @ (Written::BetaStopped
                | Written::IdsDeleted
                | Written::NamespaceCreated(_)
                | Written::Account(_)
                | Written::UserExists(_)
                | Written::Transferred(_)),
            ) => {
                log::error!("gRPC {class}: unexpected write outcome {other:?}");
                Response::fail(class, id, code::SERVER_ERROR, "unexpected write outcome")
            }
            Err(e) => Response::fail(class, id, code::SERVER_ERROR, &e),
        };
        reply(r)
    }
}
