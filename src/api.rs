//! The Nacos endpoints: routing and request handling as a pure function of
//! (request, cache, settings) to an [`Action`] the reactor carries out.
//!
//! Invariants: nothing here does I/O or blocks. Writes are not performed
//! here but returned as [`Action::Write`] for the writer thread; long polls
//! whose keys are all up to date come back as [`Action::Park`] and the
//! reactor parks them in the same step, so no change can slip in between
//! the md5 comparison and the parking (spec §5.8).

use crate::auth::{self, Access, AuthError, AuthKeys, AuthState};
use crate::form::Params;
use crate::http::Request;
use crate::index::{Index, ListenerFilter};
use crate::metrics::Metrics;
use crate::model::Config;
use crate::msg::{AccountChange, Key, PublishOp, Reply, WriteOp, Written};
use crate::protocol::{self, canonical_tenant, is_blank, ListenRecord, Metadata};
use crate::query::{Query, SearchMode, MAX_HISTORY_PAGE_SIZE, MAX_PAGE_SIZE};
use crate::settings::Settings;
use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// The context path every endpoint lives under.
pub const CONTEXT_PATH: &[u8] = b"/nacos";

/// `Content-Type` Nacos pre-sets on every `/v1/cs` response.
pub const JSON: &[u8] = b"Content-Type: application/json;charset=UTF-8\r\n";
const TEXT: &[u8] = b"Content-Type: text/plain;charset=UTF-8\r\n";
const PROMETHEUS: &[u8] = b"Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n";
/// How long a refused long poll waits for its answer.
pub const REFUSED_POLL_DELAY_MS: u64 = 1_000;
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
    /// Send a config (GET hit): its pre-rendered head, any extra header
    /// lines (`isBeta`, `Vipserver-Tag`), and its content.
    Config(Arc<Config>, Option<String>),
    /// Hand this write to the writer; answer with its reply once committed.
    Write(Box<WriteOp>),
    /// Hand this read to the reader thread.
    Query(Box<Query>),
    /// Check a (user, password) pair off the reactor, then handle this same
    /// request again (it stays buffered until then).
    Verify {
        username: String,
        password: String,
        key: [u8; 32],
    },
    /// Send this response after `delay_ms`: a refused long poll answered
    /// at once would make Java and Node clients re-poll in a tight loop.
    Later {
        delay_ms: u64,
        status: u16,
        body: Vec<u8>,
    },
    /// Gather the parked polls matching a filter from every reactor.
    CollectListeners(ListenerFilter),
    /// Every listened key is up to date: park the poll for `hold_ms`.
    Park {
        records: Vec<ListenRecord>,
        hold_ms: u64,
        requester: String,
        vip_tag: Option<String>,
    },
}

/// Everything a handler may read.
pub struct Ctx<'a> {
    pub index: &'a Index,
    pub settings: &'a Settings,
    pub metrics: &'a Metrics,
    pub peer: IpAddr,
    /// Present when auth is on.
    pub auth: Option<AuthCtx<'a>>,
}

/// What authentication needs on a reactor.
pub struct AuthCtx<'a> {
    pub keys: &'a AuthKeys,
    pub state: &'a AuthState,
    /// Verdicts on (user, password) pairs already checked, by credential key.
    pub credentials: &'a HashMap<[u8; 32], bool>,
    pub now_secs: u64,
}

/// What a request needs to be allowed.
enum Need {
    /// Nothing: login, health, metrics.
    Nothing,
    /// Any authenticated user.
    User,
    /// A global administrator.
    Admin,
    /// Read or write access to a config resource.
    Config(auth::Resource, Access),
    /// Read access to every key a long poll lists.
    Listen,
}

/// Which permission an endpoint needs (spec §8.4).
fn need(method: &str, path: &[u8], params: &Params) -> Need {
    let tenant = canonical_tenant(params.get_or_empty("tenant"));
    let config = |access| {
        Need::Config(
            auth::config_resource(tenant, params.get("group"), params.get("dataId")),
            access,
        )
    };
    match (method, path) {
        ("POST", b"/v1/cs/configs/listener") => Need::Listen,
        ("GET", b"/v1/cs/configs")
        | (_, b"/v1/cs/configs/listener")
        | (_, b"/v1/cs/listener")
        | (_, b"/v1/cs/configs/catalog")
        | (_, b"/v1/cs/history")
        | (_, b"/v1/cs/history/previous") => config(Access::Read),
        (_, b"/v1/cs/configs") => config(Access::Write),
        ("GET", b"/v1/console/namespaces") => Need::User,
        (_, b"/v1/console/namespaces")
        | (_, b"/v1/auth/users")
        | (_, b"/v1/auth/roles")
        | (_, b"/v1/auth/permissions") => Need::Admin,
        _ => Need::Nothing,
    }
}

fn forbidden(e: AuthError) -> Action {
    respond(403, JSON, e.to_string())
}

/// Who is asking (spec §8.3): a bearer token, an `accessToken` parameter,
/// or `username` + `password` parameters (checked off the reactor once,
/// then remembered).
fn authenticate(req: &Request, params: &Params, auth: &AuthCtx) -> Result<String, Action> {
    let bearer = req
        .header_str("Authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if let Some(token) = bearer.or_else(|| params.get("accessToken").filter(|t| !t.is_empty())) {
        let user = auth.keys.verify(token, auth.now_secs).map_err(forbidden)?;
        return if auth.state.exists(&user) {
            Ok(user)
        } else {
            Err(forbidden(AuthError::UserNotFound))
        };
    }
    let (Some(user), Some(password)) = (params.get("username"), params.get("password")) else {
        return Err(forbidden(AuthError::UnknownUser));
    };
    let key = auth.keys.credential_key(user, password);
    match auth.credentials.get(&key) {
        Some(true) => Ok(user.to_owned()),
        Some(false) => Err(forbidden(AuthError::UnknownUser)),
        None => Err(Action::Verify {
            username: user.to_owned(),
            password: password.to_owned(),
            key,
        }),
    }
}

/// Refuses the request unless its caller may do it.
fn authorize(req: &Request, path: &[u8], params: &Params, auth: &AuthCtx) -> Result<(), Action> {
    let need = need(req.method, path, params);
    if matches!(need, Need::Nothing) {
        return Ok(());
    }
    let user = authenticate(req, params, auth)?;
    let allowed = match need {
        Need::Nothing | Need::User => true,
        Need::Admin => auth.state.is_admin(&user),
        Need::Config(resource, access) => auth.state.allows(&user, &resource, access),
        // The records name the keys (and tenants) watched, whatever the
        // `tenant` parameter says. Malformed ones are the handler's 400.
        Need::Listen => {
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
        Err(forbidden(AuthError::Forbidden))
    }
}

impl Ctx<'_> {
    /// The requester address Nacos uses for beta lists and `src_ip` (§3.3);
    /// proxy headers count only when the operator trusts them.
    fn requester(&self, req: &Request) -> String {
        if self.settings.trust_proxy_headers {
            if let Some(xff) = req.header_str("X-Forwarded-For").filter(|v| !v.is_empty()) {
                return xff.split(',').next().unwrap_or("").trim().to_owned();
            }
            if let Some(real) = req.header_str("X-Real-IP").filter(|v| !v.is_empty()) {
                return real.to_owned();
            }
        }
        self.peer.to_string()
    }
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
/// Nacos's `{"code","message","data"}` envelope, fields in its order.
#[derive(serde::Serialize)]
struct Envelope<'a, T: serde::Serialize> {
    code: u16,
    message: Option<&'a str>,
    data: T,
}

fn envelope<T: serde::Serialize>(code: u16, message: Option<&str>, data: T) -> String {
    serde_json::to_string(&Envelope {
        code,
        message,
        data,
    })
    .unwrap_or_default()
}

/// The response Nacos gives for a committed write.
pub fn render_written(w: &Written) -> Reply {
    match w {
        Written::Done => Reply::ok("true"),
        Written::NamespaceCreated(created) => Reply::ok(if *created { "true" } else { "false" }),
        Written::BetaStopped => Reply::ok(envelope(200, Some("stop beta ok"), true)),
        Written::IdsDeleted => Reply::ok(envelope(200, None, true)),
        Written::Account(change) => {
            let message = match change {
                AccountChange::UserCreated => "create user ok!",
                AccountChange::UserUpdated => "update user ok!",
                AccountChange::UserDeleted => "delete user ok!",
                AccountChange::RoleAdded => "add role ok!",
                AccountChange::RoleDeleted => "delete role of user ok!",
                AccountChange::PermissionAdded => "add permission ok!",
                AccountChange::PermissionDeleted => "delete permission ok!",
            };
            Reply::ok(envelope(200, Some(message), ()))
        }
        Written::UserExists(user) => Reply::new(
            400,
            envelope(400, Some(&format!("user '{user}' already exist!")), ()),
        ),
    }
}

pub fn empty_poll_reply() -> (u16, &'static [u8], &'static [u8]) {
    (200, JSON, b"")
}

/// Header lines of a listener reply that names changed keys.
pub fn changed_keys_head() -> &'static [u8] {
    b"Content-Type: application/json;charset=UTF-8\r\nPragma: no-cache\r\nExpires: Thu, 01 Jan 1970 00:00:00 GMT\r\nCache-Control: no-cache,no-store\r\n"
}

/// Routes and handles one request.
pub fn handle(req: &Request, ctx: &Ctx) -> Action {
    let Some(path) = req.path.strip_prefix(CONTEXT_PATH) else {
        return framework(404, "Not Found", req.path);
    };
    let path = match path {
        [] => b"/".as_slice(),
        p => p.strip_suffix(b"/").filter(|p| !p.is_empty()).unwrap_or(p),
    };
    let method = req.method;
    let allowed: &[&str] = match path {
        b"/v1/cs/configs" => &["GET", "POST", "DELETE"],
        b"/v1/cs/configs/listener" => &["GET", "POST"],
        b"/v1/console/namespaces" => &["GET", "POST", "PUT", "DELETE"],
        b"/v1/auth/login" | b"/v1/auth/users/login" => &["POST"],
        b"/v1/auth/users" | b"/v1/auth/roles" | b"/v1/auth/permissions" => {
            &["POST", "PUT", "DELETE"]
        }
        b"/v1/cs/configs/catalog"
        | b"/v1/cs/history"
        | b"/v1/cs/listener"
        | b"/v1/cs/history/previous"
        | b"/v1/console/health/liveness"
        | b"/v1/console/health/readiness"
        | b"/v1/console/server/state"
        | b"/v1/cs/health"
        | b"/actuator/prometheus" => &["GET"],
        _ => return framework(404, "Not Found", req.path),
    };
    if !allowed.contains(&method) {
        return framework(
            405,
            &format!("Request method '{method}' not supported"),
            req.path,
        );
    }
    // Bodies are form-decoded only for POST and PUT (spec §1.2); the
    // declared charset is ignored, the bytes are UTF-8.
    let body = (matches!(method, "POST" | "PUT") && is_form(req)).then_some(&*req.body);
    let mut params = match Params::parse(req.query, body) {
        Ok(p) => p,
        Err(e) => return caused(400, e),
    };
    if let Some(auth) = &ctx.auth {
        if let Err(refusal) = authorize(req, path, &params, auth) {
            return match refusal {
                Action::Respond { status, body, .. } if path == b"/v1/cs/configs/listener" => {
                    Action::Later {
                        delay_ms: REFUSED_POLL_DELAY_MS,
                        status,
                        body,
                    }
                }
                other => other,
            };
        }
    }
    let r = match (method, path) {
        ("GET", b"/v1/cs/configs") => get_config(req, &params, ctx),
        ("POST", b"/v1/cs/configs") => publish(req, &mut params, ctx),
        ("DELETE", b"/v1/cs/configs") => delete(req, &params, ctx),
        ("POST", b"/v1/cs/configs/listener") => Ok(listen(req, &params, ctx)),
        ("GET", b"/v1/cs/configs/listener") => listeners_of_key(req, &params),
        ("GET", b"/v1/cs/listener") => {
            let tenant = params
                .get("tenant")
                .filter(|t| !is_blank(t))
                .map(str::to_owned);
            required(&params, "ip", req).map(|ip| {
                collect_listeners(
                    req,
                    ListenerFilter::Ip {
                        ip: ip.to_owned(),
                        all: is_true(&params, "all"),
                        tenant,
                    },
                )
            })
        }
        ("GET", b"/v1/cs/configs/catalog") => {
            key_params(&params, req, false).map(|k| query(Query::Catalog(k)))
        }
        ("GET", b"/v1/cs/history") => history(req, &params),
        ("GET", b"/v1/cs/history/previous") => {
            int_param(&params, "id", None, req).map(|id| query(Query::HistoryPrevious(id)))
        }
        (_, b"/v1/console/namespaces") => namespaces(req, &params),
        (_, b"/v1/auth/users" | b"/v1/auth/roles" | b"/v1/auth/permissions") => {
            users(req, path, &params)
        }
        ("POST", _) => login(req, &params, ctx),
        (_, b"/actuator/prometheus") => Ok(respond(200, PROMETHEUS, ctx.metrics.render())),
        (_, b"/v1/console/server/state") => Ok(respond(
            200,
            JSON,
            r#"{"version":"1.4.1","standalone_mode":"standalone","function_mode":null}"#,
        )),
        (_, b"/v1/cs/health") => Ok(respond(200, JSON, "UP")),
        _ => Ok(respond(200, TEXT, "OK")),
    };
    r.unwrap_or_else(|a| a)
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

fn query(q: Query) -> Action {
    Action::Query(Box::new(q))
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

/// An integer parameter; `default` when absent (or required when `None`).
fn int_param(
    params: &Params,
    name: &str,
    default: Option<i64>,
    req: &Request,
) -> Result<i64, Action> {
    match (params.get(name), default) {
        (None, Some(d)) => Ok(d),
        (None, None) => Err(framework(
            400,
            &format!("Required long parameter '{name}' is not present"),
            req.path,
        )),
        (Some(v), _) => v
            .trim()
            .parse()
            .map_err(|_| caused(400, format!("invalid {name} : {v}"))),
    }
}

/// Paging parameters: both positive.
fn paging(
    params: &Params,
    req: &Request,
    default_size: Option<i64>,
    max_size: i64,
) -> Result<(i64, i64), Action> {
    let page_no = int_param(params, "pageNo", default_size.map(|_| 1), req)?;
    let page_size = int_param(params, "pageSize", default_size, req)?;
    if page_no <= 0 || page_size <= 0 {
        return Err(caused(400, "pageNo and pageSize must be positive"));
    }
    Ok((page_no, page_size.min(max_size)))
}

/// The discriminators that select endpoints not served here.
fn unsupported(params: &Params, names: &[&str]) -> Result<(), Action> {
    match names
        .iter()
        .find(|n| params.get(n).is_some_and(|v| !v.is_empty()))
    {
        Some(n) => Err(caused(
            501,
            format!("parameter {n} is not supported by this server"),
        )),
        None => Ok(()),
    }
}

fn is_true(params: &Params, name: &str) -> bool {
    params
        .get(name)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Validated (dataId, group, canonical tenant) of a read or delete; with
/// `check_tag` the optional `tag` is validated too.
fn key_params(params: &Params, req: &Request, check_tag: bool) -> Result<Key, Action> {
    let tenant = params.get_or_empty("tenant");
    protocol::check_tenant(tenant).map_err(|e| caused(400, e))?;
    let data_id = required(params, "dataId", req)?;
    let group = required(params, "group", req)?;
    protocol::check_data_id(data_id).map_err(|e| caused(400, e))?;
    protocol::check_group(group).map_err(|e| caused(400, e))?;
    if check_tag {
        protocol::check_tag(params.get_or_empty("tag")).map_err(|e| caused(400, e))?;
    }
    Ok(Key {
        data_id: data_id.to_owned(),
        group: group.to_owned(),
        tenant: canonical_tenant(tenant).to_owned(),
    })
}

fn get_config(req: &Request, params: &Params, ctx: &Ctx) -> Result<Action, Action> {
    unsupported(params, &["export", "exportV2"])?;
    if let Some(mode) = params.get("search") {
        let mode = match mode {
            "accurate" => SearchMode::Accurate,
            "blur" => SearchMode::Blur,
            other => return Err(caused(400, format!("invalid search mode : {other}"))),
        };
        let data_id = required(params, "dataId", req)?.to_owned();
        let group = required(params, "group", req)?.to_owned();
        let (page_no, page_size) = paging(params, req, None, MAX_PAGE_SIZE)?;
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
        return Ok(query(Query::Search {
            mode,
            data_id,
            group,
            tenant: canonical_tenant(tenant).to_owned(),
            app_name: params.get("appName").map(str::to_owned),
            config_tags,
            page_no,
            page_size,
        }));
    }
    if params.get("show") == Some("all") {
        return key_params(params, req, false).map(|k| query(Query::Detail(k)));
    }
    if is_true(params, "beta") {
        return key_params(params, req, false).map(|k| query(Query::Beta(k)));
    }
    let key = key_params(params, req, true)?;
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

fn publish(req: &Request, params: &mut Params, ctx: &Ctx) -> Result<Action, Action> {
    unsupported(params, &["import", "clone"])?;
    let config_type = protocol::normalize_type(params.get("type"));
    let tenant = params.get_or_empty("tenant").to_owned();
    protocol::check_tenant(&tenant).map_err(|e| caused(400, e))?;
    for name in ["dataId", "group", "content"] {
        required(params, name, req)?;
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
        .and_then(|_| protocol::check_tag(&tag))
        .map_err(|e| caused(400, e))?;
    let meta = Metadata {
        config_tags: params.get("config_tags").map(str::to_owned),
        desc: params.get("desc").map(str::to_owned),
        use_: params.get("use").map(str::to_owned),
        effect: params.get("effect").map(str::to_owned),
        schema: params.get("schema").map(str::to_owned),
    };
    protocol::check_metadata(&meta).map_err(|e| caused(400, e))?;
    let op = PublishOp {
        key: Key {
            data_id,
            group,
            tenant: canonical_tenant(&tenant).to_owned(),
        },
        content: params.take("content").unwrap_or_default(),
        config_type,
        app_name: params.get("appName").map(str::to_owned),
        src_ip: ctx.requester(req),
        src_user: None,
        meta,
    };
    let beta_ips = req.header_str("betaIps").filter(|v| !is_blank(v));
    let write = match beta_ips {
        Some(ips) => WriteOp::PublishBeta(op, ips.to_owned()),
        None if !is_blank(&tag) => WriteOp::PublishTag(op, tag),
        None => WriteOp::Publish(op),
    };
    Ok(Action::Write(Box::new(write)))
}

fn delete(req: &Request, params: &Params, ctx: &Ctx) -> Result<Action, Action> {
    if params.get("delType") == Some("ids") {
        let ids = required(params, "ids", req)?;
        let ids = ids
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().parse::<i64>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| caused(400, format!("invalid ids : {ids}")))?;
        return Ok(Action::Write(Box::new(WriteOp::DeleteIds {
            ids,
            src_ip: ctx.requester(req),
            src_user: None,
        })));
    }
    if is_true(params, "beta") {
        let key = key_params(params, req, false)?;
        return Ok(Action::Write(Box::new(WriteOp::StopBeta { key })));
    }
    let key = key_params(params, req, true)?;
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
    Ok(Action::Write(Box::new(op)))
}

/// Who listens to one config (a blank group is `DEFAULT_GROUP` here).
fn listeners_of_key(req: &Request, params: &Params) -> Result<Action, Action> {
    let data_id = required(params, "dataId", req)?;
    let group = params
        .get("group")
        .filter(|g| !is_blank(g))
        .unwrap_or("DEFAULT_GROUP");
    let tenant = params.get_or_empty("tenant");
    protocol::check_tenant(tenant).map_err(|e| caused(400, e))?;
    let key = protocol::group_key(data_id, group, canonical_tenant(tenant));
    Ok(collect_listeners(req, ListenerFilter::Key(key)))
}

/// Gathers matching polls: on every node of a cluster, or on this node
/// only when another member asks (header `Vigil-Scope: node`).
fn collect_listeners(req: &Request, filter: ListenerFilter) -> Action {
    if req.header_str(crate::store::pg::NODE_SCOPE_HEADER) == Some("node") {
        return Action::CollectListeners(ListenerFilter::Local(Box::new(filter)));
    }
    Action::CollectListeners(filter)
}

/// The JSON answer of the listener-status endpoints (sic `lisenters`).
pub fn listener_status_body(parts: &std::collections::BTreeMap<String, String>) -> Vec<u8> {
    serde_json::json!({"collectStatus": 200, "lisentersGroupkeyStatus": parts})
        .to_string()
        .into_bytes()
}

fn history(req: &Request, params: &Params) -> Result<Action, Action> {
    if params.get("search") == Some("accurate") {
        let data_id = required(params, "dataId", req)?;
        let group = required(params, "group", req)?;
        let (page_no, page_size) = paging(params, req, Some(100), MAX_HISTORY_PAGE_SIZE)?;
        let key = Key {
            data_id: data_id.to_owned(),
            group: group.to_owned(),
            tenant: canonical_tenant(params.get_or_empty("tenant")).to_owned(),
        };
        return Ok(query(Query::HistoryList {
            key,
            page_no,
            page_size,
        }));
    }
    int_param(params, "nid", None, req).map(|nid| query(Query::HistoryDetail(nid)))
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

fn namespaces(req: &Request, params: &Params) -> Result<Action, Action> {
    match req.method {
        "GET" if params.get("show") == Some("all") => Ok(query(Query::NamespaceDetail(
            canonical_tenant(params.get_or_empty("namespaceId")).to_owned(),
        ))),
        "GET" if is_true(params, "checkNamespaceIdExist") => Ok(query(Query::NamespaceExists(
            required(params, "customNamespaceId", req)?.to_owned(),
        ))),
        "GET" => Ok(query(Query::Namespaces)),
        "POST" => {
            let name = required(params, "namespaceName", req)?.to_owned();
            let id = params.get_or_empty("customNamespaceId").trim().to_owned();
            let id = if id.is_empty() { random_uuid() } else { id };
            let valid = id.len() <= 128
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !valid || canonical_tenant(&id).is_empty() {
                return Ok(respond(200, JSON, "false"));
            }
            Ok(Action::Write(Box::new(WriteOp::NamespaceCreate {
                id,
                name,
                desc: params.get("namespaceDesc").map(str::to_owned),
            })))
        }
        "PUT" => Ok(Action::Write(Box::new(WriteOp::NamespaceUpdate {
            id: required(params, "namespace", req)?.to_owned(),
            name: required(params, "namespaceShowName", req)?.to_owned(),
            desc: params.get("namespaceDesc").map(str::to_owned),
        }))),
        _ => Ok(Action::Write(Box::new(WriteOp::NamespaceDelete {
            id: required(params, "namespaceId", req)?.to_owned(),
        }))),
    }
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
            requester,
            vip_tag: vip_tag.map(str::to_owned),
        },
        _ => {
            let (status, head, body) = empty_poll_reply();
            respond(status, head, body)
        }
    }
}

/// With auth on, the reader checks the password and signs a token. With
/// auth off any credentials get a well-formed token (spec §8.1), so clients
/// configured with a user name start.
fn login(req: &Request, params: &Params, ctx: &Ctx) -> Result<Action, Action> {
    if ctx.auth.is_some() {
        let username = required(params, "username", req)?.to_owned();
        let password = required(params, "password", req)?.to_owned();
        return Ok(query(Query::Login { username, password }));
    }
    Ok(Action::Respond {
        status: 200,
        head: Cow::Borrowed(b"Content-Type: application/json;charset=UTF-8\r\nAuthorization: Bearer AUTH_DISABLED\r\n"),
        body: br#"{"accessToken":"AUTH_DISABLED","tokenTtl":18000,"globalAdmin":true}"#.to_vec(),
    })
}

/// User, role and permission management (administrators only).
fn users(req: &Request, path: &[u8], params: &Params) -> Result<Action, Action> {
    let p = |name| required(params, name, req).map(str::to_owned);
    let op = match (req.method, path) {
        ("POST", b"/v1/auth/users") => WriteOp::UserCreate {
            username: p("username")?,
            password: p("password")?,
        },
        ("PUT", b"/v1/auth/users") => WriteOp::UserUpdate {
            username: p("username")?,
            password: p("newPassword")?,
        },
        ("DELETE", b"/v1/auth/users") => WriteOp::UserDelete {
            username: p("username")?,
        },
        ("POST", b"/v1/auth/roles") => WriteOp::RoleAdd {
            role: p("role")?,
            username: p("username")?,
        },
        ("DELETE", b"/v1/auth/roles") => WriteOp::RoleDelete {
            role: p("role")?,
            username: params
                .get("username")
                .filter(|u| !u.is_empty())
                .map(str::to_owned),
        },
        ("POST", b"/v1/auth/permissions") => WriteOp::PermissionAdd {
            role: p("role")?,
            resource: p("resource")?,
            action: p("action")?,
        },
        ("DELETE", b"/v1/auth/permissions") => WriteOp::PermissionDelete {
            role: p("role")?,
            resource: p("resource")?,
            action: p("action")?,
        },
        _ => {
            return Err(framework(
                405,
                &format!("Request method '{}' not supported", req.method),
                req.path,
            ))
        }
    };
    if let WriteOp::UserCreate { username, .. } | WriteOp::RoleAdd { username, .. } = &op {
        if is_blank(username) {
            return Err(caused(400, "username is blank"));
        }
    }
    Ok(Action::Write(Box::new(op)))
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
