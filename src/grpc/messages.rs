//! The JSON inside Nacos gRPC payloads, as the Java classes render them
//! through Jackson: camelCase names, every field optional (NON_NULL: a
//! client may omit any of them), unknown fields ignored.
//!
//! Requests are decoded into [`Incoming`] by the class name in the
//! payload's metadata; responses and server pushes are rendered here, each
//! with the fields every Nacos `Response` carries (`resultCode`,
//! `errorCode`, `message`, `requestId`, `success`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Nacos's `NacosException` codes used on the wire.
pub mod code {
    /// `INVALID_SERVER_STATUS`, also a config query's "not found".
    pub const NOT_FOUND: i64 = 300;
    pub const UN_REGISTER: i64 = 301;
    pub const NO_HANDLER: i64 = 302;
    pub const INVALID_PARAM: i64 = 400;
    pub const NO_RIGHT: i64 = 403;
    pub const SERVER_ERROR: i64 = 500;
    pub const BAD_GATEWAY: i64 = 502;
    pub const OVER_THRESHOLD: i64 = 503;
}

/// `ResponseCode.SUCCESS` / `FAIL`.
const SUCCESS: i64 = 200;
const FAIL: i64 = 500;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Common {
    pub request_id: Option<String>,
    pub headers: HashMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConfigKey {
    pub data_id: Option<String>,
    pub group: Option<String>,
    pub tenant: Option<String>,
    pub tag: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Publish {
    pub data_id: Option<String>,
    pub group: Option<String>,
    pub tenant: Option<String>,
    pub content: Option<String>,
    pub cas_md5: Option<String>,
    pub addition_map: HashMap<String, Option<String>>,
}

impl Publish {
    /// An `additionMap` entry, `None` when absent or null.
    pub fn addition(&self, name: &str) -> Option<&str> {
        self.addition_map.get(name).and_then(|v| v.as_deref())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListenContext {
    pub data_id: Option<String>,
    pub group: Option<String>,
    pub tenant: Option<String>,
    pub md5: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BatchListen {
    pub listen: bool,
    pub config_listen_contexts: Vec<ListenContext>,
}

impl Default for BatchListen {
    fn default() -> Self {
        // `listen` defaults to true in the Java class.
        BatchListen {
            listen: true,
            config_listen_contexts: Vec::new(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Setup {
    pub client_version: Option<String>,
    pub tenant: Option<String>,
    pub labels: HashMap<String, Option<String>>,
}

/// The answer a client sends on the bi-stream to one of our pushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOf {
    ConfigChangeNotify,
    ClientDetection,
    ConnectReset,
    /// A client's `ErrorResponse` (its handler failed).
    Error,
}

/// A decoded request (or, on the bi-stream, a client's answer).
#[derive(Debug)]
pub enum Incoming {
    ServerCheck,
    HealthCheck,
    ConnectionSetup(Setup),
    ConfigQuery(ConfigKey),
    ConfigPublish(Box<Publish>),
    ConfigRemove(ConfigKey),
    ConfigBatchListen(BatchListen),
    Ack(AckOf),
    /// A class this server has no handler for (answered `NO_HANDLER`).
    Unknown,
}

/// Why a payload could not be decoded (answered `BAD_GATEWAY`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undecodable(pub String);

fn parse<'a, T: Deserialize<'a> + Default>(json: &'a [u8]) -> Result<T, Undecodable> {
    if json.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_slice(json).map_err(|e| Undecodable(e.to_string()))
}

impl Incoming {
    /// Decodes the body of a payload of class `type_name`, with the fields
    /// every request carries.
    pub fn decode(type_name: &str, json: &[u8]) -> Result<(Incoming, Common), Undecodable> {
        let common: Common = parse(json)?;
        let incoming = match type_name {
            "ServerCheckRequest" => Incoming::ServerCheck,
            "HealthCheckRequest" => Incoming::HealthCheck,
            "ConnectionSetupRequest" => Incoming::ConnectionSetup(parse(json)?),
            "ConfigQueryRequest" => Incoming::ConfigQuery(parse(json)?),
            "ConfigPublishRequest" => Incoming::ConfigPublish(Box::new(parse(json)?)),
            "ConfigRemoveRequest" => Incoming::ConfigRemove(parse(json)?),
            "ConfigBatchListenRequest" => Incoming::ConfigBatchListen(parse(json)?),
            "ConfigChangeNotifyResponse" | "NotifySubscriberResponse" => {
                Incoming::Ack(AckOf::ConfigChangeNotify)
            }
            "ClientDetectionResponse" => Incoming::Ack(AckOf::ClientDetection),
            "ConnectResetResponse" => Incoming::Ack(AckOf::ConnectReset),
            "ErrorResponse" => Incoming::Ack(AckOf::Error),
            _ => Incoming::Unknown,
        };
        Ok((incoming, common))
    }
}

/// A response under construction: the common fields, then its own.
pub struct Response {
    type_name: &'static str,
    fields: Map<String, Value>,
}

impl Response {
    /// A successful response of class `type_name` answering `request_id`.
    pub fn ok(type_name: &'static str, request_id: Option<&str>) -> Response {
        Response::with(type_name, request_id, SUCCESS, 0, None)
    }

    /// A failed response: `resultCode` 500 with Nacos's error code.
    pub fn fail(
        type_name: &'static str,
        request_id: Option<&str>,
        error_code: i64,
        message: &str,
    ) -> Response {
        Response::with(type_name, request_id, FAIL, error_code, Some(message))
    }

    /// An `ErrorResponse` (unknown class, unregistered connection, ...).
    pub fn error(error_code: i64, message: &str) -> Response {
        Response::fail("ErrorResponse", None, error_code, message)
    }

    fn with(
        type_name: &'static str,
        request_id: Option<&str>,
        result_code: i64,
        error_code: i64,
        message: Option<&str>,
    ) -> Response {
        let mut fields = Map::new();
        fields.insert("resultCode".into(), result_code.into());
        fields.insert("errorCode".into(), error_code.into());
        if let Some(m) = message {
            fields.insert("message".into(), m.into());
        }
        if let Some(id) = request_id {
            fields.insert("requestId".into(), id.into());
        }
        fields.insert("success".into(), (result_code == SUCCESS).into());
        // Java primitives and initialised lists are always rendered, even
        // in a failure; clients that deserialise strictly (the Rust SDK)
        // require them.
        for (name, value) in always_present(type_name) {
            fields.insert((*name).into(), value());
        }
        Response { type_name, fields }
    }

    /// Adds a field of the response's own.
    pub fn field(mut self, name: &str, value: impl Into<Value>) -> Response {
        self.fields.insert(name.into(), value.into());
        self
    }

    /// The class name and the JSON.
    pub fn render(self) -> (&'static str, Vec<u8>) {
        let json = serde_json::to_vec(&Value::Object(self.fields)).unwrap_or_default();
        (self.type_name, json)
    }
}

/// The fields a response class always carries, with their Java defaults.
#[allow(clippy::type_complexity)]
fn always_present(type_name: &str) -> &'static [(&'static str, fn() -> Value)] {
    match type_name {
        "ConfigQueryResponse" => &[("lastModified", || 0.into()), ("beta", || false.into())],
        "ConfigChangeBatchListenResponse" => &[("changedConfigs", || Value::Array(Vec::new()))],
        "ServerCheckResponse" => &[("supportAbilityNegotiation", || false.into())],
        _ => &[],
    }
}

/// A push to a client (a server request): its class and JSON; the client
/// answers with the same `requestId`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Push<'a, T: Serialize> {
    headers: Map<String, Value>,
    request_id: &'a str,
    module: &'static str,
    #[serde(flatten)]
    body: T,
}

/// Renders a push of class `type_name`.
pub fn push<T: Serialize>(module: &'static str, request_id: &str, body: T) -> Vec<u8> {
    let p = Push {
        headers: Map::new(),
        request_id,
        module,
        body,
    };
    serde_json::to_vec(&p).unwrap_or_default()
}

/// The body of a `ConfigChangeNotifyRequest`: the tenant is left out when
/// the client listened with a blank one.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeNotify<'a> {
    pub data_id: &'a str,
    pub group: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<&'a str>,
}

/// The body of a `ConnectResetRequest`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectReset<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_ip: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_port: Option<&'a str>,
    pub connection_id: &'a str,
}

/// The empty body of a `ClientDetectionRequest`.
#[derive(Serialize)]
pub struct Empty {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_fields_are_none_and_unknown_ones_ignored() {
        let (i, c) = Incoming::decode("ConfigQueryRequest", br#"{"dataId":"d","extra":1}"#)
            .expect("decodes");
        assert!(c.request_id.is_none());
        match i {
            Incoming::ConfigQuery(k) => {
                assert_eq!(k.data_id.as_deref(), Some("d"));
                assert!(k.group.is_none() && k.tenant.is_none() && k.tag.is_none());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn batch_listen_defaults_to_listen() {
        let (i, _) = Incoming::decode(
            "ConfigBatchListenRequest",
            br#"{"configListenContexts":[{"dataId":"a","group":"g"}]}"#,
        )
        .expect("decodes");
        let Incoming::ConfigBatchListen(b) = i else {
            panic!("{i:?}")
        };
        assert!(b.listen);
        assert_eq!(b.config_listen_contexts.len(), 1);
        assert!(b.config_listen_contexts[0].md5.is_none());
    }

    #[test]
    fn table_of_classes() {
        let cases: &[(&str, &str)] = &[
            ("ServerCheckRequest", "ServerCheck"),
            ("HealthCheckRequest", "HealthCheck"),
            ("ConnectionSetupRequest", "ConnectionSetup"),
            ("ConfigRemoveRequest", "ConfigRemove"),
            ("ConfigPublishRequest", "ConfigPublish"),
            ("ConfigChangeNotifyResponse", "Ack(ConfigChangeNotify)"),
            ("ClientDetectionResponse", "Ack(ClientDetection)"),
            ("ConnectResetResponse", "Ack(ConnectReset)"),
            ("InstanceRequest", "Unknown"),
        ];
        for (class, want) in cases {
            let (i, _) = Incoming::decode(class, b"{}").expect("decodes");
            assert!(format!("{i:?}").starts_with(want), "{class}: {i:?}");
        }
    }

    #[test]
    fn bad_json_and_wrong_types_are_undecodable() {
        let cases: &[(&str, &[u8])] = &[
            ("ConfigBatchListenRequest", b"{"),
            ("ConfigBatchListenRequest", br#"{"listen":"yes"}"#),
            ("ConfigBatchListenRequest", b"[1]"),
            ("ConfigQueryRequest", br#"{"dataId":5}"#),
            ("ConfigPublishRequest", br#"{"additionMap":[]}"#),
        ];
        for (class, body) in cases {
            assert!(Incoming::decode(class, body).is_err(), "{class} {body:?}");
        }
    }

    #[test]
    fn responses_carry_the_common_fields() {
        let (t, json) = Response::fail(
            "ConfigQueryResponse",
            Some("7"),
            300,
            "config data not exist",
        )
        .render();
        assert_eq!(t, "ConfigQueryResponse");
        let v: Value = serde_json::from_slice(&json).expect("json");
        assert_eq!(v["resultCode"], 500);
        assert_eq!(v["errorCode"], 300);
        assert_eq!(v["message"], "config data not exist");
        assert_eq!(v["requestId"], "7");
        assert_eq!(v["success"], false);
        let (_, json) = Response::ok("HealthCheckResponse", None).render();
        let v: Value = serde_json::from_slice(&json).expect("json");
        assert_eq!(
            (
                v["resultCode"].clone(),
                v["errorCode"].clone(),
                v["success"].clone()
            ),
            (200.into(), 0.into(), true.into())
        );
    }

    #[test]
    fn failures_carry_the_fields_java_always_renders() {
        let (_, json) =
            Response::fail("ConfigQueryResponse", None, 300, "config data not exist").render();
        let v: Value = serde_json::from_slice(&json).expect("json");
        assert_eq!(
            (v["lastModified"].clone(), v["beta"].clone()),
            (0.into(), false.into())
        );
        let (_, json) = Response::fail("ConfigChangeBatchListenResponse", None, 403, "x").render();
        let v: Value = serde_json::from_slice(&json).expect("json");
        assert_eq!(v["changedConfigs"], serde_json::json!([]));
    }

    #[test]
    fn a_push_names_its_module_and_id() {
        let json = push(
            "config",
            "12",
            ChangeNotify {
                data_id: "d",
                group: "g",
                tenant: None,
            },
        );
        let v: Value = serde_json::from_slice(&json).expect("json");
        assert_eq!(
            v,
            serde_json::json!({"headers":{},"requestId":"12","module":"config","dataId":"d","group":"g"})
        );
    }
}
