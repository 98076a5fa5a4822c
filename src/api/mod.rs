//! The Nacos endpoints: routing and request handling as a pure function of
//! (request, cache, settings) to an [`Action`] the reactor carries out.
//!
//! One table, [`ROUTES`], names every endpoint as (method, path,
//! permission, handler); it alone decides 404 (no route has the path), 405
//! (a route has the path, none the method) and what a caller must be
//! allowed to do. Handlers return [`ApiError`]s, which
//! [`ApiError::into_action`] turns into responses in one place.
//!
//! Rooms: `configs` (get, publish, delete, search, detail, catalog,
//! history), `listen` (the long poll and listener status), `console`
//! (namespaces, users, roles, permissions, login, health, metrics), `watch`
//! (watch streams), `transfer` (export, import, clone), `authz`
//! (who asks, may they), `params` (parameter parsing shared by handlers),
//! `render` (the bodies Nacos answers with, also for the reactor) and
//! `dialect` (the 2.x and 3.x APIs as renderings of the same handlers).
//!
//! Invariants: nothing here does I/O or blocks. Writes are not performed
//! here but returned as [`Action::Write`] for the writer thread; long polls
//! whose keys are all up to date come back as [`Action::Park`] and the
//! reactor parks them in the same step, so no change can slip in between
//! the md5 comparison and the parking (spec §5.8).

mod authz;
mod configs;
mod console;
mod dialect;
mod listen;
mod params;
mod render;
#[cfg(test)]
mod tests;
mod transfer;
mod watch;

pub use authz::{token_may, Perm};
pub use dialect::{render_answer, Data, Dialect, Rendering};
pub use render::{
    changed_keys_head, empty_poll_reply, listener_status_body, refusal, render_written,
};
pub use watch::Watch;
use Perm::{Admin, Listen, Open, Read, User, Write};

use crate::auth::{AuthError, AuthKeys, AuthState};
use crate::form::Params;
use crate::http::Request;
use crate::index::{Index, ListenerFilter};
use crate::metrics::Metrics;
use crate::model::Config;
use crate::msg::{Query, WriteOp};
use crate::protocol::{ListenRecord, ProtocolError};
use crate::settings::Settings;
use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// The context path every endpoint lives under.
pub const CONTEXT_PATH: &[u8] = b"/nacos";

/// `Content-Type` Nacos pre-sets on every `/v1/cs` response.
pub const JSON: &[u8] = b"Content-Type: application/json;charset=UTF-8\r\n";
/// How long a refused long poll waits for its answer.
pub const REFUSED_POLL_DELAY_MS: u64 = 1_000;
/// Body of a GET for an absent config.
pub const NOT_FOUND_BODY: &[u8] = b"config data not exist\n";

const CONFIGS: &str = "/v1/cs/configs";
/// The long-poll path: its refusals are answered late (see [`handle`]).
const LISTENER: &str = "/v1/cs/configs/listener";
const NAMESPACES: &str = "/v1/console/namespaces";
const USERS: &str = "/v1/auth/users";
const ROLES: &str = "/v1/auth/roles";
const PERMISSIONS: &str = "/v1/auth/permissions";

const V2_CONFIG: &str = "/v2/cs/config";
const V2_NAMESPACE: &str = "/v2/console/namespace";
const V3_CONFIG: &str = "/v3/admin/cs/config";
const V3_BETA: &str = "/v3/admin/cs/config/beta";

/// A handler: the request, its decoded parameters (mutable so large values
/// can be moved out), and what it may read.
pub type Handler = fn(&Request, &mut Params, &Ctx) -> Result<Action, ApiError>;

/// One endpoint: a method on a path (under [`CONTEXT_PATH`], without a
/// trailing slash), what its caller needs, who answers it, and the API
/// (parameter names, envelope) it speaks.
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub perm: Perm,
    pub handler: Handler,
    pub dialect: Dialect,
}

const fn route(method: &'static str, path: &'static str, perm: Perm, handler: Handler) -> Route {
    Route {
        method,
        path,
        perm,
        handler,
        dialect: Dialect::V1,
    }
}

/// A route of the Nacos 2.x open API.
const fn v2(method: &'static str, path: &'static str, perm: Perm, handler: Handler) -> Route {
    Route {
        dialect: Dialect::V2,
        ..route(method, path, perm, handler)
    }
}

/// A route of the Nacos 3.x admin API.
const fn v3(method: &'static str, path: &'static str, perm: Perm, handler: Handler) -> Route {
    Route {
        dialect: Dialect::V3Admin,
        ..route(method, path, perm, handler)
    }
}

/// Every endpoint, hottest first (the table is scanned in order).
/// Query-parameter variants of one path (`search`, `show=all`, `beta`,
/// `tag`, `delType=ids`, ...) are told apart inside the handler. The 2.x and
/// 3.x routes are the 1.x handlers in another [`Dialect`] (docs/http-v2-v3.md).
#[rustfmt::skip]
pub static ROUTES: &[Route] = &[
    route("GET",    CONFIGS,                        Read,   configs::get),
    route("POST",   LISTENER,                       Listen, listen::poll),
    route("POST",   CONFIGS,                        Write,  configs::publish),
    route("DELETE", CONFIGS,                        Write,  configs::delete),
    route("GET",    LISTENER,                       Read,   listen::listeners_of_key),
    // Listed keys are checked one by one, group and namespace streams
    // filtered event by event (watch.rs).
    route("GET",    "/v1/cs/configs/watch",         User,   watch::watch),
    route("GET",    "/v1/cs/listener",              Read,   listen::listeners_of_ip),
    route("GET",    "/v1/cs/configs/catalog",       Read,   configs::catalog),
    route("GET",    "/v1/cs/history",               Read,   configs::history),
    route("GET",    "/v1/cs/history/previous",      Read,   configs::previous),
    route("GET",    NAMESPACES,                     User,   console::namespaces),
    route("POST",   NAMESPACES,                     Admin,  console::namespace_create),
    route("PUT",    NAMESPACES,                     Admin,  console::namespace_update),
    route("DELETE", NAMESPACES,                     Admin,  console::namespace_delete),
    route("POST",   "/v1/auth/login",               Open,   console::login),
    route("POST",   "/v1/auth/users/login",         Open,   console::login),
    route("POST",   USERS,                          Admin,  console::user_create),
    route("PUT",    USERS,                          Admin,  console::user_update),
    route("DELETE", USERS,                          Admin,  console::user_delete),
    route("POST",   ROLES,                          Admin,  console::role_add),
    route("DELETE", ROLES,                          Admin,  console::role_delete),
    route("POST",   PERMISSIONS,                    Admin,  console::permission_add),
    route("DELETE", PERMISSIONS,                    Admin,  console::permission_delete),
    route("GET",    "/v1/console/health/liveness",  Open,   console::ok),
    route("GET",    "/v1/console/health/readiness", Open,   console::readiness),
    route("GET",    "/v1/console/server/state",     Open,   console::state),
    route("GET",    "/v1/cs/health",                Open,   console::cs_health),
    route("GET",    "/actuator/prometheus",         Open,   console::prometheus),
    // Nacos 2.x open API.
    v2("GET",    V2_CONFIG,                        Read,   configs::get),
    v2("POST",   V2_CONFIG,                        Write,  configs::publish),
    v2("DELETE", V2_CONFIG,                        Write,  configs::delete),
    // A bare page, as Nacos answers it (and `tenant`, not `namespaceId`).
    route("GET", "/v2/cs/config/searchDetail",     Read,   configs::search_detail),
    v2("GET",    "/v2/cs/history/list",            Read,   configs::history_list),
    v2("GET",    "/v2/cs/history",                 Read,   configs::history_of_key),
    v2("GET",    "/v2/cs/history/previous",        Read,   configs::previous_of_key),
    v2("GET",    "/v2/cs/history/configs",         Read,   configs::configs_of_namespace),
    v2("GET",    "/v2/console/namespace/list",     User,   console::namespaces),
    v2("GET",    V2_NAMESPACE,                     User,   console::namespace_v2),
    v2("POST",   V2_NAMESPACE,                     Admin,  console::namespace_v2_create),
    v2("PUT",    V2_NAMESPACE,                     Admin,  console::namespace_v2_update),
    v2("DELETE", V2_NAMESPACE,                     Admin,  console::namespace_v2_delete),
    v2("GET",    "/v2/console/health/liveness",    Open,   console::ok),
    v2("GET",    "/v2/console/health/readiness",   Open,   console::readiness),
    // Nacos 3.x: the client API, the admin API, the login.
    Route { dialect: Dialect::V3Client, ..route("GET", "/v3/client/cs/config", Read, configs::get) },
    v3("GET",    V3_CONFIG,                        Read,   configs::detail_found),
    v3("POST",   V3_CONFIG,                        Write,  configs::publish),
    v3("DELETE", V3_CONFIG,                        Write,  configs::delete),
    v3("DELETE", "/v3/admin/cs/config/batch",      Write,  configs::delete_ids),
    v3("GET",    "/v3/admin/cs/config/list",       Read,   configs::list),
    v3("GET",    V3_BETA,                          Read,   configs::beta_found),
    v3("DELETE", V3_BETA,                          Write,  configs::stop_beta),
    v3("GET",    "/v3/admin/cs/config/listener",   Read,   listen::listeners_of_key_v3),
    v3("GET",    "/v3/admin/cs/listener",          Read,   listen::listeners_of_ip_v3),
    v3("GET",    "/v3/admin/cs/config/export",     Read,   transfer::export_v2),
    v3("POST",   "/v3/admin/cs/config/import",     Write,  transfer::import_to_tenant),
    v3("POST",   "/v3/admin/cs/config/clone",      Write,  transfer::clone_to_tenant),
    v3("GET",    "/v3/admin/cs/history/list",      Read,   configs::history_list),
    v3("GET",    "/v3/admin/cs/history",           Read,   configs::history_of_key),
    v3("GET",    "/v3/admin/cs/history/previous",  Read,   configs::previous_of_key),
    v3("GET",    "/v3/admin/cs/history/configs",   Read,   configs::configs_of_namespace),
    route("POST", "/v3/auth/user/login",           Open,   console::login),
];

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
    /// Hand this write to the writer; answer with its reply once committed,
    /// rendered so.
    Write(Box<WriteOp>, Rendering),
    /// Hand this read to the reader thread; its answer is rendered so.
    Query(Box<Query>, Rendering),
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
    CollectListeners(ListenerFilter, Rendering),
    /// Open a watch stream (Server-Sent Events) and keep it open.
    Watch(Box<Watch>),
    /// Every listened key is up to date: park the poll for `hold_ms`.
    Park {
        records: Vec<ListenRecord>,
        hold_ms: u64,
        requester: String,
        vip_tag: Option<String>,
    },
}

/// Why a request is not carried out; [`ApiError::into_action`] is the one
/// place these become statuses and bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// A Nacos validation failure: `caused: <message>;` with this status.
    Caused(u16, String),
    /// A Spring framework error (unknown path, bad method): its JSON,
    /// naming the request path.
    Framework(u16, String),
    /// A required parameter is absent (named as the handlers read it; each
    /// dialect words it).
    Missing { name: String, ty: &'static str },
    /// Authentication or authorisation refused: 403 with Nacos's message.
    Forbidden(AuthError),
    /// The caller's (user, password) pair is not checked yet: check it off
    /// the reactor, then handle the request again.
    Unverified {
        username: String,
        password: String,
        key: [u8; 32],
    },
}

impl ApiError {
    /// A Nacos validation failure.
    pub fn caused(status: u16, msg: impl std::fmt::Display) -> ApiError {
        ApiError::Caused(status, msg.to_string())
    }

    /// The response to this error for a request on `path` (the full path
    /// as sent, context path included).
    pub fn into_action(self, path: &[u8]) -> Action {
        match self {
            ApiError::Caused(status, msg) => {
                render::respond(status, JSON, crate::msg::Reply::caused(status, msg).body)
            }
            ApiError::Framework(status, msg) => render::framework(status, &msg, path),
            ApiError::Missing { name, ty } => {
                let msg = format!("Required {ty} parameter '{name}' is not present");
                render::framework(400, &msg, path)
            }
            ApiError::Forbidden(e) => render::respond(403, JSON, e.to_string()),
            ApiError::Unverified {
                username,
                password,
                key,
            } => Action::Verify {
                username,
                password,
                key,
            },
        }
    }
}

/// A failed Nacos validation is a 400 `caused:` with its message.
impl From<ProtocolError> for ApiError {
    fn from(e: ProtocolError) -> ApiError {
        ApiError::caused(400, e)
    }
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
    pub state: &'a Arc<AuthState>,
    /// Verdicts on (user, password) pairs already checked, by credential key.
    pub credentials: &'a HashMap<[u8; 32], bool>,
    pub now_secs: u64,
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

/// Routes and handles one request: 404 when no route has the path, 405
/// when none has the method, then parameters, authorisation, the handler.
pub fn handle(req: &Request, ctx: &Ctx) -> Action {
    let not_found = || ApiError::Framework(404, "Not Found".into()).into_action(req.path);
    let Some(path) = req.path.strip_prefix(CONTEXT_PATH) else {
        return not_found();
    };
    // The web console's page and assets (src/console), before `/nacos` and
    // `/nacos/` are told apart by the normalisation below.
    if let Some(page) = crate::console::serve(req, path) {
        return page;
    }
    let path = match path {
        [] => b"/".as_slice(),
        p => p.strip_suffix(b"/").filter(|p| !p.is_empty()).unwrap_or(p),
    };
    let mut on_path = ROUTES
        .iter()
        .filter(|r| r.path.as_bytes() == path)
        .peekable();
    if on_path.peek().is_none() {
        return not_found();
    }
    let method = req.method;
    let Some(route) = on_path.find(|r| r.method == method) else {
        let msg = format!("Request method '{method}' not supported");
        return ApiError::Framework(405, msg).into_action(req.path);
    };
    // Bodies are form-decoded only for POST and PUT (spec §1.2); the
    // declared charset is ignored, the bytes are UTF-8.
    let body = (matches!(method, "POST" | "PUT") && is_form(req)).then_some(&*req.body);
    let dialect = route.dialect;
    let mut params = match Params::parse(req.query, body) {
        Ok(p) => p,
        Err(e) => return dialect.error(ApiError::caused(400, e), req.path),
    };
    dialect.rename(&mut params);
    if let Some(auth) = &ctx.auth {
        if let Err(refusal) = authz::authorize(req, route.perm, &params, auth) {
            return match refusal.into_action(req.path) {
                Action::Respond { status, body, .. } if route.path == LISTENER => Action::Later {
                    delay_ms: REFUSED_POLL_DELAY_MS,
                    status,
                    body,
                },
                other => other,
            };
        }
    }
    match (route.handler)(req, &mut params, ctx) {
        Ok(action) => dialect.render(action),
        Err(e) => dialect.error(e, req.path),
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

/// A read for the reader thread (the route's dialect renders its answer).
fn query(q: Query) -> Action {
    Action::Query(Box::new(q), Rendering::Plain)
}

/// A write for the writer thread (the route's dialect renders its answer).
fn write(op: WriteOp) -> Action {
    Action::Write(Box::new(op), Rendering::Plain)
}
