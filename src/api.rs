//! The Nacos endpoints: routing and request handling as a pure function of
//! (request, cache, settings) to an [`Action`] the reactor carries out.
//!
//! Invariants: nothing here does I/O or blocks. Writes are not performed
//! here but returned as [`Action::Write`] for the writer thread; long polls
//! whose keys are all up to date come back as [`Action::Park`] and the
//! reactor parks them in the same step, so no change can slip in between
//! the md5 comparison and the parking (spec §5.8).

use crate::form::Params;
use crate::http::Request;
use crate::index::Index;
use crate::metrics::Metrics;
use crate::model::Config;
use crate::protocol::{self, canonical_tenant, is_blank, ListenRecord, Metadata};
use crate::settings::Settings;
use crate::store::{PublishOp, WriteOp};
use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

/// The context path every endpoint lives under.
pub const CONTEXT_PATH: &[u8] = b"/nacos";

/// `Content-Type` Nacos pre-sets on every `/v1/cs` response.
pub const JSON: &[u8] = b"Content-Type: application/json;charset=UTF-8\r\n";
const TEXT: &[u8] = b"Content-Type: text/plain;charset=UTF-8\r\n";
const PROMETHEUS: &[u8] = b"Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n";
/// Body of a GET for an absent config.
pub const NOT_FOUND_BODY: &[u8] = b"config data not exist\n";

/// What the reactor must do with a request.
#[derive(Debug)]
pub enum Action {
    /// Send this response.
    Respond {
        status: u16,
        head: Cow<'static, [u8]>,
        body: Vec<u8>,
    },
    /// Send a config (GET hit): its pre-rendered head and content.
    Config(Arc<Config>),
    /// Hand this write to the writer; answer `true` once committed.
    Write(Box<WriteOp>),
    /// Every listened key is up to date: park the poll for `hold_ms`.
    Park {
        records: Vec<ListenRecord>,
        hold_ms: u64,
    },
}

/// Everything a handler may read.
pub struct Ctx<'a> {
    pub index: &'a Index,
    pub settings: &'a Settings,
    pub metrics: &'a Metrics,
    pub peer: IpAddr,
}

fn respond(status: u16, head: &'static [u8], body: impl Into<Vec<u8>>) -> Action {
    Action::Respond {
        status,
        head: Cow::Borrowed(head),
        body: body.into(),
    }
}

/// A Nacos validation failure: `caused: <message>;`.
fn caused(status: u16, msg: impl std::fmt::Display) -> Action {
    respond(status, JSON, format!("caused: {msg};"))
}

/// A framework-style error (missing parameter, unknown path, bad method).
fn framework(status: u16, message: &str, path: &[u8]) -> Action {
    let body = serde_json::json!({
        "status": status,
        "error": crate::http::reason(status),
        "message": message,
        "path": String::from_utf8_lossy(path),
    });
    respond(status, JSON, body.to_string())
}

/// An empty 200 long-poll answer (timeout, no-hangup, nothing changed).
pub fn empty_poll_reply() -> (u16, &'static [u8], &'static [u8]) {
    (200, JSON, b"")
}

/// Header lines of a listener reply that names changed keys.
pub fn changed_keys_head() -> &'static [u8] {
    b"Content-Type: application/json;charset=UTF-8\r\nPragma: no-cache\r\nExpires: Thu, 01 Jan 1970 00:00:00 GMT\r\nCache-Control: no-cache,no-store\r\n"
}

/// The requester address Nacos uses for beta lists and `src_ip` (§3.3).
pub fn requester_ip(req: &Request, peer: IpAddr) -> String {
    if let Some(xff) = req.header_str("X-Forwarded-For").filter(|v| !v.is_empty()) {
        return xff.split(',').next().unwrap_or("").trim().to_owned();
    }
    if let Some(real) = req.header_str("X-Real-IP").filter(|v| !v.is_empty()) {
        return real.to_owned();
    }
    peer.to_string()
}

/// Routes and handles one request.
pub fn handle(req: &Request, ctx: &Ctx) -> Action {
    let Some(path) = req.path.strip_prefix(CONTEXT_PATH) else {
        return framework(404, "Not Found", req.path);
    };
    if path == b"/actuator/prometheus" && req.method == "GET" {
        return respond(200, PROMETHEUS, ctx.metrics.render());
    }
    let path = match path {
        [] => b"/".as_slice(),
        p => p.strip_suffix(b"/").filter(|p| !p.is_empty()).unwrap_or(p),
    };
    let method = req.method;
    let allowed: &[&str] = match path {
        b"/v1/cs/configs" => &["GET", "POST", "DELETE"],
        b"/v1/cs/configs/listener" => &["POST"],
        b"/v1/auth/login" | b"/v1/auth/users/login" => &["POST"],
        b"/v1/console/health/liveness"
        | b"/v1/console/health/readiness"
        | b"/v1/console/server/state"
        | b"/v1/cs/health" => &["GET"],
        _ => return framework(404, "Not Found", req.path),
    };
    if !allowed.contains(&method) {
        return framework(
            405,
            &format!("Request method '{method}' not supported"),
            req.path,
        );
    }
    // Bodies are form-decoded only for POST (spec §1.2); the declared
    // charset is ignored, the bytes are UTF-8.
    let body = (method == "POST" && is_form(req)).then_some(&*req.body);
    let mut params = match Params::parse(req.query, body) {
        Ok(p) => p,
        Err(e) => return caused(400, e),
    };
    match (method, path) {
        ("GET", b"/v1/cs/configs") => get_config(req, &params, ctx),
        ("POST", b"/v1/cs/configs") => publish(req, &mut params, ctx),
        ("DELETE", b"/v1/cs/configs") => delete(req, &params, ctx),
        ("POST", b"/v1/cs/configs/listener") => listen(req, &params, ctx),
        ("POST", _) => login(),
        (_, b"/v1/console/server/state") => respond(
            200,
            JSON,
            r#"{"version":"1.4.1","standalone_mode":"standalone","function_mode":null}"#,
        ),
        (_, b"/v1/cs/health") => respond(200, JSON, "UP"),
        _ => respond(200, TEXT, "OK"),
    }
}

/// A POST body is form-encoded unless it says it is something else.
fn is_form(req: &Request) -> bool {
    match req.header_str("Content-Type") {
        None => true,
        Some(ct) => ct
            .get(..33)
            .is_some_and(|p| p.eq_ignore_ascii_case("application/x-www-form-urlencoded")),
    }
}

/// A required parameter, or the framework's 400.
fn required<'p>(params: &'p Params, name: &str, req: &Request) -> Result<&'p str, Action> {
    params.get(name).ok_or_else(|| {
        framework(
            400,
            &format!("Required String parameter '{name}' is not present"),
            req.path,
        )
    })
}

/// The discriminators that select console endpoints not served here.
fn unsupported(params: &Params, names: &[&str]) -> Option<Action> {
    names
        .iter()
        .find(|n| params.get(n).is_some_and(|v| !v.is_empty()))
        .map(|n| {
            caused(
                501,
                format!("parameter {n} is not supported by this server"),
            )
        })
}

/// Validated (dataId, group, canonical tenant) of a get or delete.
fn key_params<'p>(
    params: &'p Params,
    req: &Request,
) -> Result<(&'p str, &'p str, &'p str), Action> {
    let tenant = params.get_or_empty("tenant");
    protocol::check_tenant(tenant).map_err(|e| caused(400, e))?;
    let data_id = required(params, "dataId", req)?;
    let group = required(params, "group", req)?;
    protocol::check_data_id(data_id).map_err(|e| caused(400, e))?;
    protocol::check_group(group).map_err(|e| caused(400, e))?;
    protocol::check_tag(params.get_or_empty("tag")).map_err(|e| caused(400, e))?;
    Ok((data_id, group, canonical_tenant(tenant)))
}

fn get_config(req: &Request, params: &Params, ctx: &Ctx) -> Action {
    if let Some(a) = unsupported(params, &["search", "show", "beta", "export", "exportV2"]) {
        return a;
    }
    let (data_id, group, tenant) = match key_params(params, req) {
        Ok(k) => k,
        Err(a) => return a,
    };
    // Tag variants are not stored by this server, so a tag read finds nothing.
    if !is_blank(params.get_or_empty("tag")) {
        return respond(404, JSON, NOT_FOUND_BODY);
    }
    match ctx
        .index
        .config_of(&protocol::group_key(data_id, group, tenant))
    {
        Some(c) => Action::Config(c.clone()),
        None => respond(404, JSON, NOT_FOUND_BODY),
    }
}

fn publish(req: &Request, params: &mut Params, ctx: &Ctx) -> Action {
    if let Some(a) = unsupported(params, &["import", "clone"]) {
        return a;
    }
    let config_type = protocol::normalize_type(params.get("type"));
    let tenant = params.get_or_empty("tenant").to_owned();
    if let Err(e) = protocol::check_tenant(&tenant) {
        return caused(400, e);
    }
    for name in ["dataId", "group", "content"] {
        if let Err(a) = required(params, name, req) {
            return a;
        }
    }
    let data_id = params.get_or_empty("dataId").to_owned();
    let group = params.get_or_empty("group").to_owned();
    let checks = protocol::check_data_id(&data_id)
        .and_then(|_| protocol::check_group(&group))
        .and_then(|_| {
            protocol::check_content(
                params.get_or_empty("content"),
                ctx.settings.max_content_chars,
            )
        })
        .and_then(|_| protocol::check_tag(params.get_or_empty("tag")));
    if let Err(e) = checks {
        return caused(400, e);
    }
    let meta = Metadata {
        config_tags: params.get("config_tags").map(str::to_owned),
        desc: params.get("desc").map(str::to_owned),
        use_: params.get("use").map(str::to_owned),
        effect: params.get("effect").map(str::to_owned),
        schema: params.get("schema").map(str::to_owned),
    };
    if let Err(e) = protocol::check_metadata(&meta) {
        return caused(400, e);
    }
    if req.header_str("betaIps").is_some_and(|v| !v.is_empty())
        || !is_blank(params.get_or_empty("tag"))
    {
        return caused(
            501,
            "beta and tag releases are not supported by this server",
        );
    }
    Action::Write(Box::new(WriteOp::Publish(PublishOp {
        data_id,
        group,
        tenant: canonical_tenant(&tenant).to_owned(),
        content: params.take("content").unwrap_or_default(),
        config_type,
        app_name: params.get("appName").map(str::to_owned),
        src_ip: requester_ip(req, ctx.peer),
        src_user: None,
        meta,
    })))
}

fn delete(req: &Request, params: &Params, ctx: &Ctx) -> Action {
    if let Some(a) = unsupported(params, &["delType", "beta"]) {
        return a;
    }
    let (data_id, group, tenant) = match key_params(params, req) {
        Ok(k) => k,
        Err(a) => return a,
    };
    // No tag variant is ever stored, so deleting one deletes nothing.
    if !is_blank(params.get_or_empty("tag")) {
        return respond(200, JSON, "true");
    }
    Action::Write(Box::new(WriteOp::Delete {
        data_id: data_id.to_owned(),
        group: group.to_owned(),
        tenant: tenant.to_owned(),
        src_ip: requester_ip(req, ctx.peer),
        src_user: None,
    }))
}

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

fn listen(req: &Request, params: &Params, ctx: &Ctx) -> Action {
    let probe = params.get_or_empty("Listening-Configs");
    // Nacos parses the timeout before it compares (§5.4), so garbage fails
    // even when keys have changed.
    let timeout = match req.header("Long-Pulling-Timeout") {
        None => None,
        Some(raw) => match parse_java_long(raw) {
            Some(ms) => Some(ms),
            None => {
                return caused(
                    400,
                    format!("For input string: \"{}\"", String::from_utf8_lossy(raw)),
                )
            }
        },
    };
    let records = match protocol::parse_listening_configs(probe, ctx.settings.max_keys_per_listener)
    {
        Ok(r) => r,
        Err(e) => return caused(400, e),
    };
    let mut body = Vec::new();
    for r in &records {
        let server = ctx.index.config_of(&r.group_key()).map(|c| &c.md5);
        if !r.md5.matches(server) {
            protocol::encode_changed_key(&mut body, &r.data_id, &r.group, &r.tenant);
        }
    }
    if !body.is_empty() {
        body.push(b'\n');
        return Action::Respond {
            status: 200,
            head: Cow::Borrowed(changed_keys_head()),
            body,
        };
    }
    let no_hangup = req
        .header_str("Long-Pulling-Timeout-No-Hangup")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    match timeout {
        Some(ms) if !no_hangup => Action::Park {
            records,
            hold_ms: ctx.settings.hold_ms(ms),
        },
        _ => {
            let (status, head, body) = empty_poll_reply();
            respond(status, head, body)
        }
    }
}

/// Auth is off: any credentials get a well-formed token (spec §8.1), so
/// clients configured with a user name start.
fn login() -> Action {
    Action::Respond {
        status: 200,
        head: Cow::Borrowed(b"Content-Type: application/json;charset=UTF-8\r\nAuthorization: Bearer AUTH_DISABLED\r\n"),
        body: br#"{"accessToken":"AUTH_DISABLED","tokenTtl":18000,"globalAdmin":true}"#.to_vec(),
    }
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
