//! Nacos's gRPC envelope and the config messages the load tester sends and
//! reads, sans I/O.
//!
//! Every message is a `Payload` protobuf (nacos_grpc_service.proto):
//! `Payload { Metadata metadata = 2; Any body = 3; }`,
//! `Metadata { string type = 3; map<string,string> headers = 7; string clientIp = 8; }`,
//! `Any { string type_url = 1; bytes value = 2; }`, the value being the
//! message's JSON and `type` its Java class name. The protobuf is encoded and
//! walked by hand (three small messages; no code generation). The JSON
//! follows the Java client: `headers` always present, `module` named, every
//! field of an answer optional.

use crate::proto::GROUP;
use serde_json::{json, Value};
use std::fmt;

/// A decoded envelope: the message type and its JSON.
#[derive(Debug, PartialEq, Eq)]
pub struct Payload {
    pub kind: String,
    pub json: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct PbError(&'static str);

impl fmt::Display for PbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad Payload protobuf: {}", self.0)
    }
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field.
fn field(out: &mut Vec<u8>, number: u32, bytes: &[u8]) {
    varint(out, u64::from(number << 3 | 2));
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// The `Payload` carrying `json` as a `kind` message from `client_ip`.
pub fn encode(kind: &str, client_ip: &str, json: &[u8]) -> Vec<u8> {
    let mut meta = Vec::with_capacity(kind.len() + client_ip.len() + 4);
    field(&mut meta, 3, kind.as_bytes());
    field(&mut meta, 8, client_ip.as_bytes());
    let mut any = Vec::with_capacity(json.len() + 4);
    field(&mut any, 2, json);
    let mut out = Vec::with_capacity(meta.len() + any.len() + 8);
    field(&mut out, 2, &meta);
    field(&mut out, 3, &any);
    out
}

fn read_varint(b: &[u8], pos: &mut usize) -> Result<u64, PbError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos).ok_or(PbError("truncated varint"))?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(PbError("varint too long"))
}

/// The fields of one message: (number, length-delimited bytes); fields of
/// other wire types are skipped.
fn fields(b: &[u8]) -> Result<Vec<(u32, &[u8])>, PbError> {
    let mut pos = 0;
    let mut v = Vec::new();
    while pos < b.len() {
        let key = read_varint(b, &mut pos)?;
        let number = (key >> 3) as u32;
        match key & 7 {
            0 => {
                read_varint(b, &mut pos)?;
            }
            1 => pos += 8,
            2 => {
                let len = read_varint(b, &mut pos)? as usize;
                let end = pos.checked_add(len).filter(|e| *e <= b.len());
                let end = end.ok_or(PbError("field runs past the message"))?;
                v.push((number, &b[pos..end]));
                pos = end;
            }
            5 => pos += 4,
            _ => return Err(PbError("unknown wire type")),
        }
    }
    if pos > b.len() {
        return Err(PbError("truncated fixed-size field"));
    }
    Ok(v)
}

pub fn decode(b: &[u8]) -> Result<Payload, PbError> {
    let mut kind = String::new();
    let mut json = Vec::new();
    for (n, bytes) in fields(b)? {
        match n {
            2 => {
                for (m, v) in fields(bytes)? {
                    if m == 3 {
                        kind =
                            String::from_utf8(v.to_vec()).map_err(|_| PbError("type not UTF-8"))?;
                    }
                }
            }
            3 => {
                for (m, v) in fields(bytes)? {
                    if m == 2 {
                        json = v.to_vec();
                    }
                }
            }
            _ => {}
        }
    }
    if kind.is_empty() {
        return Err(PbError("no metadata.type"));
    }
    Ok(Payload { kind, json })
}

/// What the load tester asks, as (type, JSON).
pub struct Msg {
    pub kind: &'static str,
    pub json: Value,
}

pub fn server_check(request_id: u64) -> Msg {
    Msg {
        kind: "ServerCheckRequest",
        json: json!({"headers": {}, "module": "internal", "requestId": request_id.to_string()}),
    }
}

pub fn connection_setup() -> Msg {
    Msg {
        kind: "ConnectionSetupRequest",
        json: json!({
            "headers": {},
            "module": "internal",
            "clientVersion": concat!("vigil-loadtest:v", env!("CARGO_PKG_VERSION")),
            "tenant": "",
            "labels": {"source": "sdk", "module": "config", "taskId": "0"},
            "abilityTable": {},
        }),
    }
}

pub fn health_check(request_id: u64) -> Msg {
    Msg {
        kind: "HealthCheckRequest",
        json: json!({"headers": {}, "module": "internal", "requestId": request_id.to_string()}),
    }
}

/// A listen on `keys` as (dataId, md5 held, empty for none), all in [`GROUP`].
pub fn batch_listen(request_id: u64, keys: &[(String, String)]) -> Msg {
    let contexts: Vec<Value> = keys
        .iter()
        .map(|(data_id, md5)| json!({"dataId": data_id, "group": GROUP, "tenant": "", "md5": md5}))
        .collect();
    Msg {
        kind: "ConfigBatchListenRequest",
        json: json!({
            "headers": {},
            "module": "config",
            "requestId": request_id.to_string(),
            "listen": true,
            "configListenContexts": contexts,
        }),
    }
}

pub fn config_query(request_id: u64, data_id: &str) -> Msg {
    Msg {
        kind: "ConfigQueryRequest",
        json: json!({
            "headers": {},
            "module": "config",
            "requestId": request_id.to_string(),
            "dataId": data_id,
            "group": GROUP,
            "tenant": "",
        }),
    }
}

/// The client's answer to a server push: `kind` with the push's requestId.
pub fn push_ack(kind: &'static str, request_id: &str) -> Msg {
    Msg {
        kind,
        json: json!({"resultCode": 200, "errorCode": 0, "requestId": request_id, "success": true}),
    }
}

impl Msg {
    pub fn encode(&self, client_ip: &str) -> Vec<u8> {
        encode(self.kind, client_ip, self.json.to_string().as_bytes())
    }
}

/// A field of a JSON object as text (a number is given as its digits).
pub fn text(v: &Value, name: &str) -> Option<String> {
    match v.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_) => None,
    }
}

/// What an answer says: `resultCode` 200 (absent counts as 200) or the error.
pub fn outcome(v: &Value) -> Result<(), String> {
    let code = v.get("resultCode").and_then(Value::as_i64).unwrap_or(200);
    if code == 200 {
        return Ok(());
    }
    let error = v.get("errorCode").and_then(Value::as_i64).unwrap_or(0);
    let message = text(v, "message").unwrap_or_default();
    Err(format!("resultCode {code} errorCode {error} {message:?}"))
}

/// `errorCode` of an answer (0 when absent).
pub fn error_code(v: &Value) -> i64 {
    v.get("errorCode").and_then(Value::as_i64).unwrap_or(0)
}

/// The (dataId, group, tenant) of each entry of `changedConfigs`.
pub fn changed_configs(v: &Value) -> Vec<(String, String, String)> {
    let Some(list) = v.get("changedConfigs").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .map(|c| {
            (
                text(c, "dataId").unwrap_or_default(),
                text(c, "group").unwrap_or_default(),
                text(c, "tenant").unwrap_or_default(),
            )
        })
        .collect()
}

/// The requests a server pushes down the bi-stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Push {
    ConfigChangeNotify,
    ClientDetection,
    ConnectReset,
    SetupAck,
    ClientConfigMetric,
    /// Anything else: a server push the load tester does not know.
    Unknown,
}

impl Push {
    pub fn of(kind: &str) -> Push {
        match kind {
            "ConfigChangeNotifyRequest" => Push::ConfigChangeNotify,
            "ClientDetectionRequest" => Push::ClientDetection,
            "ConnectResetRequest" => Push::ConnectReset,
            "SetupAckRequest" => Push::SetupAck,
            "ClientConfigMetricRequest" => Push::ClientConfigMetric,
            _ => Push::Unknown,
        }
    }

    /// The answer's type, for the pushes a client answers.
    pub fn ack_kind(&self) -> Option<&'static str> {
        match self {
            Push::ConfigChangeNotify => Some("ConfigChangeNotifyResponse"),
            Push::ClientDetection => Some("ClientDetectionResponse"),
            Push::ConnectReset => Some("ConnectResetResponse"),
            Push::ClientConfigMetric => Some("ClientConfigMetricResponse"),
            Push::SetupAck | Push::Unknown => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trip_and_layout() {
        let m = batch_listen(7, &[("lt.x.k1".into(), String::new())]);
        let bytes = m.encode("127.0.0.2");
        // Payload.metadata (field 2), whose first field is type (3).
        assert_eq!(bytes[0], 0x12);
        assert_eq!(bytes[2], 0x1a);
        let p = decode(&bytes).unwrap();
        assert_eq!(p.kind, "ConfigBatchListenRequest");
        let v: Value = serde_json::from_slice(&p.json).unwrap();
        assert_eq!(v["configListenContexts"][0]["group"], GROUP);
        assert_eq!(v["listen"], true);
        assert_eq!(v["requestId"], "7");
    }

    #[test]
    fn decode_skips_unknown_fields_and_rejects_garbage() {
        // A server may send headers (7), a type_url (1) and other wire types.
        let mut meta = Vec::new();
        field(&mut meta, 7, b"\x0a\x01k\x12\x01v");
        field(&mut meta, 3, b"ConfigChangeNotifyRequest");
        meta.extend_from_slice(&[0x48, 0x96, 0x01]); // field 9, varint 150
        let mut any = Vec::new();
        field(&mut any, 1, b"type.googleapis.com/x");
        field(&mut any, 2, br#"{"dataId":"d","group":"g","requestId":5}"#);
        let mut p = Vec::new();
        field(&mut p, 2, &meta);
        field(&mut p, 3, &any);
        let got = decode(&p).unwrap();
        assert_eq!(got.kind, "ConfigChangeNotifyRequest");
        let v: Value = serde_json::from_slice(&got.json).unwrap();
        assert_eq!(text(&v, "requestId").as_deref(), Some("5"));
        assert_eq!(Push::of(&got.kind), Push::ConfigChangeNotify);
        assert!(decode(&p[..p.len() - 3]).is_err());
        assert!(decode(&[0x12, 0x80]).is_err());
        assert_eq!(decode(&[]), Err(PbError("no metadata.type")));
    }

    #[test]
    fn answers_read_as_nacos_sends_them() {
        let ok: Value = serde_json::from_str(
            r#"{"resultCode":200,"errorCode":0,"changedConfigs":[{"dataId":"a","group":"G","tenant":""}],"success":true}"#,
        )
        .unwrap();
        assert_eq!(outcome(&ok), Ok(()));
        assert_eq!(
            changed_configs(&ok),
            vec![("a".into(), "G".into(), String::new())]
        );
        let unregistered: Value = serde_json::from_str(
            r#"{"resultCode":500,"errorCode":301,"message":"Connection is unregistered."}"#,
        )
        .unwrap();
        assert_eq!(error_code(&unregistered), 301);
        assert!(outcome(&unregistered).unwrap_err().contains("301"));
        assert!(changed_configs(&unregistered).is_empty());
        assert_eq!(Push::of("NewPush"), Push::Unknown);
        assert_eq!(Push::SetupAck.ack_kind(), None);
        let ack: Value = serde_json::from_slice(
            &decode(&push_ack("ConfigChangeNotifyResponse", "9").encode(""))
                .unwrap()
                .json,
        )
        .unwrap();
        assert_eq!(ack["requestId"], "9");
        assert_eq!(ack["resultCode"], 200);
    }
}
