//! The Nacos 2.x gRPC config protocol as pure functions: a decoded payload
//! and what the server knows (cache, settings, auth, this connection's
//! standing) in, an [`Outcome`] for the reactor out. The HTTP/2 framing is
//! `h2`; the reactor (`reactor/grpc.rs`) moves the bytes, links listeners
//! in the one index and hands writes to the writer.
//!
//! The rules are the HTTP API's: the same identifier checks, the same
//! `WriteOp`s, the same variant choice (`index::view`), the same
//! permissions (`api::token_may`). Only the rendering differs.
//!
//! Rooms: `wire` (the protobuf envelope), `messages` (the JSON inside it),
//! `config` (queries, publishes, removes, listens).
//!
//! Contract: `docs/grpc.md`, a test per row in `tests/grpc/`.

mod config;
pub mod messages;
pub mod wire;

use crate::api::AuthCtx;
use crate::index::Index;
use crate::msg::WriteOp;
use crate::protocol::ClientMd5;
use crate::settings::Settings;
use messages::{code, AckOf, Incoming, Response};
pub use wire::Payload;

/// The unary service's path.
pub const UNARY_PATH: &str = "/Request/request";
/// The bidirectional stream's path.
pub const BI_STREAM_PATH: &str = "/BiRequestStream/requestBiStream";

/// Everything a request may read.
pub struct Ctx<'a> {
    pub index: &'a Index,
    pub settings: &'a Settings,
    /// Present when auth is on.
    pub auth: Option<&'a AuthCtx<'a>>,
    /// The address beta lists are matched against and writes record: the
    /// client's own as it reported it at set-up (as Nacos does), else the
    /// socket's.
    pub client_ip: &'a str,
    pub connection_id: &'a str,
    /// The bi-stream's `ConnectionSetupRequest` has arrived.
    pub registered: bool,
}

/// What the reactor must do for one payload.
#[derive(Debug)]
pub enum Outcome {
    /// Answer with this payload (protobuf bytes).
    Reply(Vec<u8>),
    /// Hand this write to the writer, then answer with
    /// [`Pending::render`] of its outcome.
    Write { op: Box<WriteOp>, pending: Pending },
    /// The connection is set up (bi-stream): register it.
    Setup(Registration),
    /// Link (or unlink) these keys to the connection's listener, then
    /// answer with `reply`; decided in the same step as the md5
    /// comparison, so no change slips in between.
    Listen {
        listen: bool,
        keys: Vec<Listened>,
        reply: Vec<u8>,
    },
    /// The client answered one of our pushes.
    Acked(AckOf),
    /// Nothing to do (a payload the bi-stream ignores, as Nacos does).
    Ignore,
}

/// A key a listener adds or drops.
#[derive(Debug)]
pub struct Listened {
    /// Canonical groupKey.
    pub group_key: String,
    pub md5: ClientMd5,
    /// The tenant as the client spelt it, when that differs from the
    /// canonical one (echoed in pushes).
    pub echo_tenant: Option<Box<str>>,
}

/// What a connection said about itself at set-up.
#[derive(Debug, Default)]
pub struct Registration {
    pub client_version: Option<String>,
    pub app_name: Option<String>,
    /// The client's own address as it reports it.
    pub client_ip: Option<String>,
}

/// Which write a unary call waits for, and how to answer it.
#[derive(Debug, Clone)]
pub struct Pending {
    kind: WriteKind,
    request_id: Option<Box<str>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteKind {
    Publish,
    Remove,
}

/// Encodes a response as a payload.
fn reply(r: Response) -> Vec<u8> {
    let (type_name, json) = r.render();
    Payload::new(type_name, json).encode()
}

/// Handles one payload; `bi` tells the bi-stream from a unary call.
pub fn handle(payload: &Payload, bi: bool, ctx: &Ctx) -> Outcome {
    let decoded = Incoming::decode(payload.type_name(), payload.json());
    if bi {
        // The bi-stream carries only the set-up and the answers to our
        // pushes; anything else is ignored, undecodable ones too.
        return match decoded {
            Ok((Incoming::ConnectionSetup(setup), _)) => {
                let reported = payload.client_ip();
                Outcome::Setup(Registration {
                    client_version: setup.client_version,
                    app_name: setup.labels.get("AppName").cloned().flatten(),
                    client_ip: (!reported.is_empty()).then(|| reported.to_owned()),
                })
            }
            Ok((Incoming::Ack(ack), _)) => Outcome::Acked(ack),
            Ok((
                Incoming::ServerCheck
                | Incoming::HealthCheck
                | Incoming::ConfigQuery(_)
                | Incoming::ConfigPublish(_)
                | Incoming::ConfigRemove(_)
                | Incoming::ConfigBatchListen(_)
                | Incoming::Unknown,
                _,
            ))
            | Err(_) => Outcome::Ignore,
        };
    }
    let (incoming, common) = match decoded {
        Ok(d) => d,
        Err(e) => return Outcome::Reply(reply(Response::error(code::BAD_GATEWAY, &e.0))),
    };
    let id = common.request_id.as_deref();
    let token = payload.header("accessToken");
    match incoming {
        Incoming::ServerCheck => Outcome::Reply(reply(
            Response::ok("ServerCheckResponse", id)
                .field("connectionId", ctx.connection_id)
                // Answering true makes Java 2.3+ clients wait for a
                // SetupAckRequest and drop the connection without it.
                .field("supportAbilityNegotiation", false),
        )),
        Incoming::Unknown => Outcome::Reply(reply(Response::error(
            code::NO_HANDLER,
            "RequestHandler Not Found",
        ))),
        _ if !ctx.registered => Outcome::Reply(reply(Response::error(
            code::UN_REGISTER,
            "Connection is unregistered.",
        ))),
        Incoming::HealthCheck => Outcome::Reply(reply(Response::ok("HealthCheckResponse", id))),
        Incoming::ConfigQuery(key) => {
            let vip_tag = payload.header("Vipserver-Tag");
            Outcome::Reply(config::query(&key, vip_tag, token, id, ctx))
        }
        Incoming::ConfigPublish(p) => config::publish(*p, token, id, ctx),
        Incoming::ConfigRemove(key) => config::remove(&key, token, id, ctx),
        Incoming::ConfigBatchListen(b) => {
            let vip_tag = payload.header("Vipserver-Tag");
            config::listen(b, vip_tag, token, id, ctx)
        }
        // Answers to pushes and set-ups belong on the bi-stream.
        Incoming::ConnectionSetup(_) | Incoming::Ack(_) => {
            Outcome::Reply(reply(Response::error(code::BAD_GATEWAY, "Invalid request")))
        }
    }
}

/// The `ConfigChangeNotifyRequest` push for a key (its canonical
/// groupKey), with the tenant as the listener spelt it.
pub fn change_notify(request_id: &str, group_key: &str, echo_tenant: Option<&str>) -> Vec<u8> {
    let (data_id, group, tenant) = crate::protocol::parse_group_key(group_key).unwrap_or_default();
    let tenant = echo_tenant.or((!tenant.is_empty()).then_some(tenant.as_str()));
    let json = messages::push(
        "config",
        request_id,
        messages::ChangeNotify {
            data_id: &data_id,
            group: &group,
            tenant,
        },
    );
    Payload::new("ConfigChangeNotifyRequest", json).encode()
}

/// The `ClientDetectionRequest` push (is this idle client still there?).
pub fn client_detection(request_id: &str) -> Vec<u8> {
    let json = messages::push("internal", request_id, messages::Empty {});
    Payload::new("ClientDetectionRequest", json).encode()
}

/// The `ConnectResetRequest` push: go elsewhere (this server is stopping).
pub fn connect_reset(request_id: &str, connection_id: &str) -> Vec<u8> {
    let json = messages::push(
        "internal",
        request_id,
        messages::ConnectReset {
            server_ip: None,
            server_port: None,
            connection_id,
        },
    );
    Payload::new("ConnectResetRequest", json).encode()
}

/// The payload answering a unary call that failed for a reason of the
/// server's own (its queue full, storage down).
pub fn server_error(message: &str) -> Vec<u8> {
    reply(Response::error(code::SERVER_ERROR, message))
}

#[cfg(test)]
mod tests;
