//! Console endpoints: namespaces, users, roles and permissions, login, and
//! the health, state and metrics probes.
//!
//! Invariant: account changes are [`WriteOp`]s; login with auth on is a
//! [`Query`] because the password hash is checked off the reactor.

use super::params::{is_true, optional, required, required_owned};
use super::render::respond;
use super::{query, Action, ApiError, Ctx, JSON};
use crate::form::Params;
use crate::http::Request;
use crate::msg::{Query, WriteOp};
use crate::protocol::{canonical_tenant, is_blank};
use std::borrow::Cow;

const TEXT: &[u8] = b"Content-Type: text/plain;charset=UTF-8\r\n";
const PROMETHEUS: &[u8] = b"Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n";

type Answer = Result<Action, ApiError>;

fn write(op: WriteOp) -> Answer {
    Ok(super::write(op))
}

/// One namespace (`show=all`), whether an id is taken, or all of them.
pub(super) fn namespaces(_: &Request, params: &mut Params, _: &Ctx) -> Answer {
    if params.get("show") == Some("all") {
        let id = canonical_tenant(params.get_or_empty("namespaceId"));
        return Ok(query(Query::NamespaceDetail(id.to_owned())));
    }
    if is_true(params, "checkNamespaceIdExist") {
        let id = required_owned(params, "customNamespaceId")?;
        return Ok(query(Query::NamespaceExists(id)));
    }
    Ok(query(Query::Namespaces))
}

/// A random namespace id shaped like a UUID (v4).
fn random_uuid() -> String {
    let mut b = [0u8; 16];
    if getrandom::getrandom(&mut b).is_err() {
        // The OS always has entropy on the platforms we run on; this only
        // keeps the id unique if it ever does not.
        let t = crate::msg::now_ms();
        b[..8].copy_from_slice(&t.to_le_bytes());
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Nacos answers a bad custom id with a plain `false`, not an error.
pub(super) fn namespace_create(_: &Request, params: &mut Params, _: &Ctx) -> Answer {
    let name = required_owned(params, "namespaceName")?;
    let id = params.get_or_empty("customNamespaceId").trim().to_owned();
    let id = if id.is_empty() { random_uuid() } else { id };
    let valid = id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid || canonical_tenant(&id).is_empty() {
        return Ok(respond(200, JSON, "false"));
    }
    write(WriteOp::NamespaceCreate {
        id,
        name,
        desc: optional(params, "namespaceDesc"),
    })
}

pub(super) fn namespace_update(_: &Request, params: &mut Params, _: &Ctx) -> Answer {
    write(WriteOp::NamespaceUpdate {
        id: required_owned(params, "namespace")?,
        name: required_owned(params, "namespaceShowName")?,
        desc: optional(params, "namespaceDesc"),
    })
}

pub(super) fn namespace_delete(_: &Request, params: &mut Params, _: &Ctx) -> Answer {
    write(WriteOp::NamespaceDelete {
        id: required_owned(params, "namespaceId")?,
    })
}

/// 2.x `GET /v2/console/namespace`: one namespace (`namespaceId`, read as
/// `tenant`).
pub(super) fn namespace_v2(_: &Request, params: &mut Params, _: &Ctx) -> Answer {
    let id = required(params, "tenant")?;
    Ok(query(Query::NamespaceDetail(
        canonical_tenant(id).to_owned(),
    )))
}

/// 2.x `POST`: the 1.x create, `namespaceId` its custom id.
pub(super) fn namespace_v2_create(req: &Request, params: &mut Params, ctx: &Ctx) -> Answer {
    params.rename("tenant", "customNamespaceId");
    namespace_create(req, params, ctx)
}

/// 2.x `PUT`: the 1.x update, `namespaceName` its new name.
pub(super) fn namespace_v2_update(req: &Request, params: &mut Params, ctx: &Ctx) -> Answer {
    params.rename("tenant", "namespace");
    params.rename("namespaceName", "namespaceShowName");
    namespace_update(req, params, ctx)
}

/// 2.x `DELETE`: the 1.x delete.
pub(super) fn namespace_v2_delete(req: &Request, params: &mut Params, ctx: &Ctx) -> Answer {
    params.rename("tenant", "namespaceId");
    namespace_delete(req, params, ctx)
}

/// With auth on, the reader checks the password and signs a token. With
/// auth off any credentials get a well-formed token (spec §8.1), so clients
/// configured with a user name start.
pub(super) fn login(_: &Request, params: &mut Params, ctx: &Ctx) -> Answer {
    if ctx.auth.is_some() {
        let username = required_owned(params, "username")?;
        let password = required_owned(params, "password")?;
        return Ok(query(Query::Login { username, password }));
    }
    Ok(Action::Respond {
        status: 200,
        head: Cow::Borrowed(b"Content-Type: application/json;charset=UTF-8\r\nAuthorization: Bearer AUTH_DISABLED\r\n"),
        body: br#"{"accessToken":"AUTH_DISABLED","tokenTtl":18000,"globalAdmin":true}"#.to_vec(),
    })
}

/// The user a new account or role is for may not be blank.
fn not_blank(username: String) -> Result<String, ApiError> {
    if is_blank(&username) {
        return Err(ApiError::caused(400, "username is blank"));
    }
    Ok(username)
}

pub(super) fn user_create(_: &Request, params: &mut Params, _: &Ctx) -> Answer {
    let username = required_owned(params, "username")?;
    let password = required_owned(params, "password")?;
    let username = not_blank(username)?;
    write(WriteOp::UserCreate { username, password })
}

pub(super) fn user_update(_: &Request, params: &mut Params, _: &Ctx) -> Answer {
    write(WriteOp::UserUpdate {
        username: required_owned(params, "username")?,
        password: required_owned(params, "newPassword")?,
    })
}

pub(super) fn user_delete(_: &Request, params: &mut Params, _: &Ctx) -> Answer {
    write(WriteOp::UserDelete {
        username: required_owned(params, "username")?,
    })
}

pub(super) fn role_add(_: &Request, params: &mut Params, _: &Ctx) -> Answer {
    let role = required_owned(params, "role")?;
    let username = not_blank(required_owned(params, "username")?)?;
    write(WriteOp::RoleAdd { role, username })
}

/// Without a user name, the role is removed from everyone.
pub(super) fn role_delete(_: &Request, params: &mut Params, _: &Ctx) -> Answer {
    write(WriteOp::RoleDelete {
        role: required_owned(params, "role")?,
        username: params
            .get("username")
            .filter(|u| !u.is_empty())
            .map(str::to_owned),
    })
}

pub(super) fn permission_add(_: &Request, params: &mut Params, _: &Ctx) -> Answer {
    let (role, resource, action) = permission(params)?;
    write(WriteOp::PermissionAdd {
        role,
        resource,
        action,
    })
}

pub(super) fn permission_delete(_: &Request, params: &mut Params, _: &Ctx) -> Answer {
    let (role, resource, action) = permission(params)?;
    write(WriteOp::PermissionDelete {
        role,
        resource,
        action,
    })
}

/// The (role, resource, action) a permission change names.
fn permission(params: &Params) -> Result<(String, String, String), ApiError> {
    Ok((
        required_owned(params, "role")?,
        required_owned(params, "resource")?,
        required_owned(params, "action")?,
    ))
}

/// Liveness: the process answers.
pub(super) fn ok(_: &Request, _: &mut Params, _: &Ctx) -> Answer {
    Ok(respond(200, TEXT, "OK"))
}

/// Readiness: OK while serving normally; after a panic on any thread, or
/// once a drain began, Nacos's answer for a config module that is not ready.
pub(super) fn readiness(_: &Request, _: &mut Params, ctx: &Ctx) -> Answer {
    if ctx.metrics.is_ready() {
        Ok(respond(200, TEXT, "OK"))
    } else {
        Ok(respond(500, TEXT, "Config is not in readiness"))
    }
}

pub(super) fn state(_: &Request, _: &mut Params, _: &Ctx) -> Answer {
    Ok(respond(
        200,
        JSON,
        r#"{"version":"1.4.1","standalone_mode":"standalone","function_mode":null}"#,
    ))
}

/// The config module's health, as text in a JSON-typed answer (as Nacos).
pub(super) fn cs_health(_: &Request, _: &mut Params, ctx: &Ctx) -> Answer {
    let health = if ctx.metrics.is_ready() {
        "UP"
    } else {
        "DOWN:not ready"
    };
    Ok(respond(200, JSON, health))
}

pub(super) fn prometheus(_: &Request, _: &mut Params, ctx: &Ctx) -> Answer {
    Ok(respond(200, PROMETHEUS, ctx.metrics.render()))
}
