//! Who is asking and whether they may (spec §8.3, §8.4): the permission a
//! route declares, checked against a bearer token, an `accessToken`
//! parameter, or `username` + `password` parameters.
//!
//! Invariant: a password is never checked here (bcrypt would stall the
//! reactor); an unchecked pair comes back as [`ApiError::Unverified`] and
//! the verdict, once known, is remembered in [`AuthCtx::credentials`].

use super::{ApiError, AuthCtx};
use crate::auth::{self, Access, AuthError};
use crate::form::Params;
use crate::http::Request;
use crate::protocol::{self, canonical_tenant};

/// What a route's caller needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perm {
    /// Nothing: login, health, metrics.
    Open,
    /// Any authenticated user.
    User,
    /// A global administrator.
    Admin,
    /// Read access to the config the parameters name.
    Read,
    /// Write access to the config the parameters name.
    Write,
    /// Read access to every key a long poll lists.
    Listen,
}

/// Who is asking: checked token, or a (user, password) pair already
/// verified; otherwise the refusal or the check still to do.
pub(super) fn authenticate(
    req: &Request,
    params: &Params,
    auth: &AuthCtx,
) -> Result<String, ApiError> {
    let bearer = req
        .header_str("Authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if let Some(token) = bearer.or_else(|| params.get("accessToken").filter(|t| !t.is_empty())) {
        return token_user(token, auth).map_err(ApiError::Forbidden);
    }
    let (Some(user), Some(password)) = (params.get("username"), params.get("password")) else {
        return Err(ApiError::Forbidden(AuthError::UnknownUser));
    };
    let key = auth.keys.credential_key(user, password);
    match auth.credentials.get(&key) {
        Some(true) => Ok(user.to_owned()),
        Some(false) => Err(ApiError::Forbidden(AuthError::UnknownUser)),
        None => Err(ApiError::Unverified {
            username: user.to_owned(),
            password: password.to_owned(),
            key,
        }),
    }
}

/// The user an access token names, if the token is good and the user
/// still exists (every door that carries tokens checks them here).
pub fn token_user(token: &str, auth: &AuthCtx) -> Result<String, AuthError> {
    let user = auth.keys.verify(token, auth.now_secs)?;
    if auth.state.exists(&user) {
        Ok(user)
    } else {
        Err(AuthError::UserNotFound)
    }
}

/// Whether the holder of `token` may read (or write) the config named by
/// (tenant, group, dataId): the check behind [`Perm::Read`] and
/// [`Perm::Write`], for a door whose requests carry only a token (gRPC).
pub fn token_may(
    token: Option<&str>,
    auth: &AuthCtx,
    access: Access,
    keys: &[(&str, &str, &str)],
) -> Result<(), AuthError> {
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or(AuthError::UnknownUser)?;
    let user = token_user(token, auth)?;
    let allowed = keys.iter().all(|(tenant, group, data_id)| {
        let resource = auth::config_resource(canonical_tenant(tenant), Some(group), Some(data_id));
        auth.state.allows(&user, &resource, access)
    });
    if allowed {
        Ok(())
    } else {
        Err(AuthError::Forbidden)
    }
}

/// Refuses the request unless its caller has `perm`.
pub(super) fn authorize(
    req: &Request,
    perm: Perm,
    params: &Params,
    auth: &AuthCtx,
) -> Result<(), ApiError> {
    if perm == Perm::Open {
        return Ok(());
    }
    let user = authenticate(req, params, auth)?;
    let config = || {
        auth::config_resource(
            canonical_tenant(super::transfer::tenant_param(params)),
            params.get("group"),
            params.get("dataId"),
        )
    };
    let allowed = match perm {
        Perm::Open | Perm::User => true,
        Perm::Admin => auth.state.is_admin(&user),
        Perm::Read => auth.state.allows(&user, &config(), Access::Read),
        Perm::Write => auth.state.allows(&user, &config(), Access::Write),
        // The records name the keys (and tenants) watched, whatever the
        // `tenant` parameter says. Malformed ones are the handler's 400.
        Perm::Listen => {
            match protocol::parse_listening_configs(
                params.get_or_empty("Listening-Configs"),
                usize::MAX,
            ) {
                Ok(records) => records.iter().all(|r| {
                    let resource = auth::config_resource(
                        canonical_tenant(&r.tenant),
                        Some(&r.group),
                        Some(&r.data_id),
                    );
                    auth.state.allows(&user, &resource, Access::Read)
                }),
                Err(_) => true,
            }
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::Forbidden(AuthError::Forbidden))
    }
}
