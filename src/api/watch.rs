//! `GET /nacos/v1/cs/configs/watch`: a watch stream request, validated and
//! turned into the scope the reactor opens a stream on.
//!
//! `tenant` blank, `public` or absent is the public namespace; `dataId` may
//! repeat (several configs of one group); without `dataId` the stream watches
//! the whole group, without `group` too the whole namespace. `content=true`
//! puts each config's content in its events. `Last-Event-ID` (or the
//! `lastEventId` parameter, for clients that cannot set headers) resumes.

use super::{authz, Action, ApiError, Ctx};
use crate::auth::{self, Access, AuthError};
use crate::form::Params;
use crate::http::Request;
use crate::index::Scope;
use crate::protocol::{self, canonical_tenant, is_blank};

/// A stream to open.
#[derive(Debug)]
pub struct Watch {
    pub scope: Scope,
    pub content: bool,
    /// Resume after this event id.
    pub last_id: Option<u64>,
    /// The address beta lists are matched against.
    pub requester: String,
    pub vip_tag: Option<String>,
    /// The caller, when auth is on (events are filtered by what it may read).
    pub user: Option<String>,
}

fn bad(msg: impl std::fmt::Display) -> ApiError {
    ApiError::caused(400, msg)
}

/// Validates a watch request. With auth on, the route needs a user, and a
/// stream on listed keys needs read permission on each.
pub(super) fn watch(req: &Request, params: &mut Params, ctx: &Ctx) -> Result<Action, ApiError> {
    let user = match &ctx.auth {
        Some(auth) => Some(authz::authenticate(req, params, auth)?),
        None => None,
    };
    let tenant = params.get_or_empty("tenant");
    protocol::check_tenant(tenant).map_err(bad)?;
    let tenant = canonical_tenant(tenant).to_owned();
    let group = params.get("group").filter(|g| !g.is_empty());
    if let Some(g) = group {
        protocol::check_group(g).map_err(bad)?;
    }
    let data_ids: Vec<String> = params
        .get_all("dataId")
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
        .collect();
    for d in &data_ids {
        protocol::check_data_id(d).map_err(bad)?;
    }
    if data_ids.len() > ctx.settings.max_keys_per_listener {
        return Err(bad(format!(
            "too many dataId, at most {}",
            ctx.settings.max_keys_per_listener
        )));
    }
    let scope = match (group, data_ids.is_empty()) {
        (Some(group), false) => Scope::Keys {
            tenant,
            group: group.to_owned(),
            data_ids,
        },
        (Some(group), true) => Scope::Group {
            tenant,
            group: group.to_owned(),
        },
        (None, true) => Scope::Namespace { tenant },
        (None, false) => return Err(bad("group is required with dataId")),
    };
    let last = req
        .header_str("Last-Event-ID")
        .filter(|v| !v.is_empty())
        .or_else(|| params.get("lastEventId").filter(|v| !v.is_empty()));
    let last_id = match last {
        None => None,
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|_| bad(format!("invalid Last-Event-ID : {v}")))?,
        ),
    };
    if let (
        Some(user),
        Some(auth_ctx),
        Scope::Keys {
            tenant,
            group,
            data_ids,
        },
    ) = (&user, &ctx.auth, &scope)
    {
        for d in data_ids {
            let resource = auth::config_resource(tenant, Some(group), Some(d));
            if !auth_ctx.state.allows(user, &resource, Access::Read) {
                return Err(ApiError::Forbidden(AuthError::Forbidden));
            }
        }
    }
    Ok(Action::Watch(Box::new(Watch {
        scope,
        content: params
            .get("content")
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        last_id,
        requester: ctx.requester(req),
        vip_tag: req
            .header_str("Vipserver-Tag")
            .filter(|t| !is_blank(t))
            .map(str::to_owned),
        user,
    })))
}
