//! The long poll (`POST /v1/cs/configs/listener`) and the listener-status
//! endpoints.
//!
//! Invariant: [`poll`] compares md5s and, when nothing changed, returns
//! [`Action::Park`] for the reactor to park in the same step (spec §5.8).

use super::params::{is_true, required};
use super::render::{changed_keys_head, empty_poll_reply, respond};
use super::{Action, ApiError, Ctx, Rendering};
use crate::form::Params;
use crate::http::Request;
use crate::index::ListenerFilter;
use crate::protocol::{self, canonical_tenant, is_blank};
use std::borrow::Cow;

/// Java's `Long.parseLong`: optional sign, ASCII digits, no spaces.
fn parse_java_long(s: &[u8]) -> Option<i64> {
    let digits = s
        .strip_prefix(b"-")
        .or_else(|| s.strip_prefix(b"+"))
        .unwrap_or(s);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

pub(super) fn poll(req: &Request, params: &mut Params, ctx: &Ctx) -> Result<Action, ApiError> {
    let probe = params.get_or_empty("Listening-Configs");
    // Nacos parses the timeout before it compares (§5.4), so garbage fails
    // even when keys have changed.
    let timeout = match req.header("Long-Pulling-Timeout") {
        None => None,
        Some(raw) => Some(parse_java_long(raw).ok_or_else(|| {
            let raw = String::from_utf8_lossy(raw);
            ApiError::caused(400, format!("For input string: \"{raw}\""))
        })?),
    };
    let records = protocol::parse_listening_configs(probe, ctx.settings.max_keys_per_listener)?;
    let requester = ctx.requester(req);
    let vip_tag = req.header_str("Vipserver-Tag").filter(|t| !is_blank(t));
    let mut body = Vec::new();
    for r in &records {
        let server = ctx
            .index
            .entry_of(r.group_key())
            .and_then(|e| e.effective(&requester, vip_tag))
            .map(|v| &v.config().md5);
        if !r.md5.matches(server) {
            protocol::encode_changed_key(&mut body, &r.data_id, &r.group, &r.tenant);
        }
    }
    if !body.is_empty() {
        body.push(b'\n');
        return Ok(Action::Respond {
            status: 200,
            head: Cow::Borrowed(changed_keys_head()),
            body,
        });
    }
    let no_hangup = req
        .header_str("Long-Pulling-Timeout-No-Hangup")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    Ok(match timeout {
        Some(ms) if !no_hangup => Action::Park {
            records,
            hold_ms: ctx.settings.hold_ms(ms),
            requester,
            vip_tag: vip_tag.map(str::to_owned),
        },
        _ => {
            let (status, head, body) = empty_poll_reply();
            respond(status, head, body)
        }
    })
}

/// Who listens to one config (a blank group is `DEFAULT_GROUP` here).
pub(super) fn listeners_of_key(
    req: &Request,
    params: &mut Params,
    _: &Ctx,
) -> Result<Action, ApiError> {
    let data_id = required(params, "dataId")?;
    let group = params
        .get("group")
        .filter(|g| !is_blank(g))
        .unwrap_or("DEFAULT_GROUP");
    let tenant = params.get_or_empty("tenant");
    protocol::check_tenant(tenant)?;
    let key = protocol::group_key(data_id, group, canonical_tenant(tenant));
    Ok(collect_listeners(req, ListenerFilter::Key(key)))
}

/// 3.x admin `config/listener`: [`listeners_of_key`] as ConfigListenerInfo.
pub(super) fn listeners_of_key_v3(
    req: &Request,
    params: &mut Params,
    ctx: &Ctx,
) -> Result<Action, ApiError> {
    let info = super::Data::KeyListeners;
    super::dialect::asking(info, listeners_of_key(req, params, ctx))
}

/// 3.x admin `listener`: [`listeners_of_ip`] as ConfigListenerInfo.
pub(super) fn listeners_of_ip_v3(
    req: &Request,
    params: &mut Params,
    ctx: &Ctx,
) -> Result<Action, ApiError> {
    let info = super::Data::IpListeners;
    super::dialect::asking(info, listeners_of_ip(req, params, ctx))
}

/// What one client address listens to.
pub(super) fn listeners_of_ip(
    req: &Request,
    params: &mut Params,
    _: &Ctx,
) -> Result<Action, ApiError> {
    let tenant = params
        .get("tenant")
        .filter(|t| !is_blank(t))
        .map(str::to_owned);
    let ip = required(params, "ip")?.to_owned();
    Ok(collect_listeners(
        req,
        ListenerFilter::Ip {
            ip,
            all: is_true(params, "all"),
            tenant,
        },
    ))
}

/// Gathers matching polls: on every node of a cluster, or on this node
/// only when another member asks (header `Vigil-Scope: node`).
fn collect_listeners(req: &Request, filter: ListenerFilter) -> Action {
    if req.header_str(crate::cluster::NODE_SCOPE_HEADER) == Some("node") {
        let local = ListenerFilter::Local(Box::new(filter));
        return Action::CollectListeners(local, Rendering::Plain);
    }
    Action::CollectListeners(filter, Rendering::Plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_long() {
        assert_eq!(parse_java_long(b"30000"), Some(30000));
        assert_eq!(parse_java_long(b"-5"), Some(-5));
        assert_eq!(parse_java_long(b"+7"), Some(7));
        for bad in [
            &b""[..],
            b"abc",
            b" 1",
            b"1 ",
            b"-",
            b"99999999999999999999",
        ] {
            assert_eq!(parse_java_long(bad), None, "{bad:?}");
        }
    }
}
