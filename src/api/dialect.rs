//! The Nacos HTTP APIs as renderings of one set of actions: the 1.x API
//! (`/v1`), the 2.x open API (`/v2`) and the 3.x client and admin APIs
//! (`/v3`). A route names its [`Dialect`]; the dialect renames the request's
//! parameters to the ones the handlers read (`namespaceId` -> `tenant`,
//! `groupName` -> `group`), and renders what the handler decided (an
//! [`Action`] or an [`ApiError`]) in its envelope. A deferred answer (a write,
//! a query) keeps its [`Rendering`] until the reactor renders it with
//! [`render_answer`].
//!
//! Invariant: no rule lives here. Validation, permissions and the work are
//! the handlers'; this module only spells parameters and shapes answers:
//! `Result {code, message, data}` with Nacos's codes
//! (api/.../model/v2/ErrorCode.java) and HTTP statuses.

use super::render::respond;
use super::{Action, ApiError, JSON};
use crate::form::Params;
use crate::model::Config;
use crate::msg::Reply;
use serde_json::{json, Value as Json};

/// Which API a route belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Nacos 1.x: `tenant`, `group`; bodies as 1.x answers them.
    V1,
    /// Nacos 2.x open API: `namespaceId`, `group`; `Result`-wrapped.
    V2,
    /// Nacos 3.x admin API: `namespaceId`, `groupName`; `Result`-wrapped.
    V3Admin,
    /// Nacos 3.x client API: as the admin API, but a config is the gRPC
    /// query response and a missing one is HTTP 200 with code 20004.
    V3Client,
}

/// How a deferred answer (from the writer or the reader) is rendered; the
/// reactor keeps it while the request waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rendering {
    /// As the storage thread answered (Nacos 1.x bodies).
    Plain,
    /// In the `Result` envelope.
    Result {
        /// What `data` holds.
        data: Data,
        /// The objects in `data` carry 3.x names (`groupName`,
        /// `namespaceId`, numeric `id`, times in ms).
        v3: bool,
    },
}

/// What the `data` of an enveloped answer holds, taken from the 1.x one.
/// Fieldless, so a waiting connection carries a byte or two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Data {
    /// The 1.x answer (a 1.x envelope's own `data`).
    Whole,
    /// The items of the 1.x page (a list).
    Items,
    /// A config's detail, which must be there (3.x ConfigControllerV3).
    Config,
    /// A beta release, which must be there (3.x ConfigControllerV3).
    Beta,
    /// Who listens to a key, as 3.x's ConfigListenerInfo.
    KeyListeners,
    /// What an address listens to, as 3.x's ConfigListenerInfo.
    IpListeners,
}

/// (HTTP status, code, message) of a Nacos 2.x/3.x failure.
const PARAMETER_MISSING: (u16, u32, &str) = (400, 10000, "parameter missing");
const ACCESS_DENIED: u32 = 10001;
const PARAMETER_VALIDATE_ERROR: u32 = 20002;
const RESOURCE_NOT_FOUND: u32 = 20004;
const RESOURCE_CONFLICT: u32 = 20005;
const SERVER_ERROR: u32 = 30000;

/// The code and message Nacos pairs with an HTTP status of a failure.
fn code_of(status: u16) -> (u32, &'static str) {
    match status {
        400 => (PARAMETER_VALIDATE_ERROR, "parameter validate error"),
        403 => (ACCESS_DENIED, "access denied"),
        404 => (RESOURCE_NOT_FOUND, "resource not found"),
        409 => (RESOURCE_CONFLICT, "resource conflict"),
        _ => (SERVER_ERROR, "server error"),
    }
}

/// Nacos's `Result`, fields in its order.
#[derive(serde::Serialize)]
struct Envelope<'a> {
    code: u32,
    message: &'a str,
    data: Json,
}

/// `{"code","message","data"}` in Nacos's field order.
pub(super) fn result_body(code: u32, message: &str, data: Json) -> Vec<u8> {
    serde_json::to_vec(&Envelope {
        code,
        message,
        data,
    })
    .unwrap_or_default()
}

fn success(data: Json) -> Vec<u8> {
    result_body(0, "success", data)
}

impl Dialect {
    /// The names this dialect spells differently: (its name, the handlers').
    fn renames(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Dialect::V1 => &[],
            Dialect::V2 => &[("namespaceId", "tenant"), ("configTags", "config_tags")],
            Dialect::V3Admin | Dialect::V3Client => &[
                ("namespaceId", "tenant"),
                ("groupName", "group"),
                ("configTags", "config_tags"),
                ("configDetail", "config_detail"),
                ("srcUser", "src_user"),
            ],
        }
    }

    /// Renames the request's parameters to the handlers' names.
    pub(super) fn rename(self, params: &mut Params) {
        for (theirs, ours) in self.renames() {
            params.rename(theirs, ours);
        }
    }

    /// A handler's parameter name as this dialect spells it.
    fn spelled(self, ours: &str) -> &str {
        self.renames()
            .iter()
            .find(|(_, o)| *o == ours)
            .map_or(ours, |(theirs, _)| theirs)
    }

    /// What a deferred answer of this dialect is rendered as, `data` what
    /// its handler asked for.
    pub(super) fn rendering(self, data: Data) -> Rendering {
        match self {
            Dialect::V1 => Rendering::Plain,
            Dialect::V2 => Rendering::Result { data, v3: false },
            Dialect::V3Admin | Dialect::V3Client => Rendering::Result { data, v3: true },
        }
    }

    /// The rendering a handler asked for (`Plain`: the whole 1.x answer),
    /// in this dialect.
    fn adopt(self, asked: Rendering) -> Rendering {
        match asked {
            Rendering::Plain => self.rendering(Data::Whole),
            Rendering::Result { data, .. } => self.rendering(data),
        }
    }

    /// A handler's decision in this dialect.
    pub(super) fn render(self, action: Action) -> Action {
        if self == Dialect::V1 {
            return action;
        }
        match action {
            // ConfigOpenApiController answers a missing config in a 200.
            Action::Respond { status: 404, .. } if self == Dialect::V3Client => {
                let (code, message) = code_of(404);
                respond(200, JSON, result_body(code, message, Json::Null))
            }
            Action::Respond { status, head, body } => {
                if head.as_ref() != JSON && status == 200 {
                    // Text answers (health) carry their text as data.
                    let text = String::from_utf8_lossy(&body).to_lowercase();
                    return respond(200, JSON, success(Json::String(text)));
                }
                let reply = wrap(self.rendering(Data::Whole), Reply::new(status, body));
                respond(reply.status, JSON, reply.body)
            }
            Action::Config(config, extra) => self.config(&config, extra.as_deref()),
            Action::Write(op, r) => Action::Write(op, self.adopt(r)),
            Action::Query(q, r) => Action::Query(q, self.adopt(r)),
            Action::CollectListeners(f, r) => Action::CollectListeners(f, self.adopt(r)),
            other @ (Action::Verify { .. }
            | Action::Later { .. }
            | Action::Watch(_)
            | Action::Park { .. }) => other,
        }
    }

    /// A config found: its content as data (2.x, 3.x admin), or the gRPC
    /// query response (3.x client, ConfigOpenApiController).
    fn config(self, config: &Config, extra: Option<&str>) -> Action {
        let data = match self {
            Dialect::V1 | Dialect::V2 | Dialect::V3Admin => Json::String(config.content.clone()),
            Dialect::V3Client => {
                let extra = extra.unwrap_or("");
                let tag = extra
                    .strip_prefix("Vipserver-Tag: ")
                    .map(|t| t.trim_end().to_owned());
                json!({
                    "resultCode": 200,
                    "errorCode": 0,
                    "message": null,
                    "requestId": null,
                    "content": config.content,
                    "encryptedDataKey": null,
                    "contentType": config.config_type,
                    "md5": config.md5.as_str(),
                    "lastModified": config.modified_ms,
                    "beta": extra.starts_with("isBeta"),
                    "tag": tag,
                    "success": true,
                })
            }
        };
        respond(200, JSON, success(data))
    }

    /// A refusal in this dialect.
    pub(super) fn error(self, e: ApiError, path: &[u8]) -> Action {
        match (self, e) {
            (Dialect::V1, e) => e.into_action(path),
            (_, ApiError::Missing { name, ty }) => {
                let (status, code, message) = PARAMETER_MISSING;
                let detail = format!(
                    "Required parameter '{}' type {ty} is not present",
                    self.spelled(&name)
                );
                respond(status, JSON, result_body(code, message, detail.into()))
            }
            (_, ApiError::Caused(status, msg)) => {
                let (code, message) = code_of(status);
                respond(status, JSON, result_body(code, message, msg.into()))
            }
            // Path-level and authentication refusals read alike in every
            // version (Spring's error page, the auth filter's 403).
            (
                _,
                e
                @ (ApiError::Framework(..) | ApiError::Forbidden(_) | ApiError::Unverified { .. }),
            ) => e.into_action(path),
        }
    }
}

/// A handler's deferred answer with `data` asked of its envelope (2.x/3.x
/// routes only: the route's dialect adopts it).
pub(super) fn asking(data: Data, answer: Result<Action, ApiError>) -> Result<Action, ApiError> {
    let r = Rendering::Result { data, v3: false };
    answer.map(|action| match action {
        Action::Query(q, _) => Action::Query(q, r),
        Action::Write(op, _) => Action::Write(op, r),
        Action::CollectListeners(f, _) => Action::CollectListeners(f, r),
        other @ (Action::Respond { .. }
        | Action::Config(..)
        | Action::Verify { .. }
        | Action::Later { .. }
        | Action::Watch(_)
        | Action::Park { .. }) => other,
    })
}

/// Renders a deferred answer: what the reactor sends once the writer or the
/// reader answered (`Err`: the storage failure).
pub fn render_answer(rendering: Rendering, result: Result<Reply, String>) -> Reply {
    let reply = match result {
        Ok(reply) => reply,
        Err(msg) => super::refusal::storage_failed(&msg),
    };
    wrap(rendering, reply)
}

/// A 1.x answer in the `Result` envelope: a 200 JSON body becomes `data`
/// (a 1.x envelope's own `data` when it has one), an empty 200 body (1.x's
/// answer for an absent config's detail) is 404 / 20004, and a failure's
/// `caused: <message>;` (or text) is the data of the code its status has.
fn wrap(rendering: Rendering, reply: Reply) -> Reply {
    let (shape, v3) = match rendering {
        Rendering::Result { data, v3 } if !reply.download => (data, v3),
        Rendering::Plain | Rendering::Result { .. } => return reply,
    };
    let absent = || {
        let words = match shape {
            Data::Config => "Config not exist, please publish Config first.",
            Data::Beta => "Config is not in beta.",
            Data::Whole | Data::Items | Data::KeyListeners | Data::IpListeners => {
                "config data not exist"
            }
        };
        let (code, message) = code_of(404);
        Reply::new(404, result_body(code, message, words.into()))
    };
    let text = String::from_utf8_lossy(&reply.body);
    let text = text.trim_end();
    if reply.status == 200 && text.is_empty() {
        return absent();
    }
    if reply.status != 200 {
        let detail = text
            .strip_prefix("caused: ")
            .and_then(|t| t.strip_suffix(';'))
            .unwrap_or(text);
        // A refused compare-and-set is a conflict, answered 500 as 1.x
        // (ConfigOperationService.publishConfig).
        let (code, message) = if detail == super::render::CAS_MISMATCH {
            code_of(409)
        } else {
            code_of(reply.status)
        };
        return Reply::new(reply.status, result_body(code, message, detail.into()));
    }
    let parsed: Json = serde_json::from_str(text).unwrap_or_else(|_| Json::String(text.into()));
    let data = match parsed {
        Json::Object(mut o) if o.contains_key("code") && o.contains_key("data") => {
            match o.get("code").and_then(Json::as_i64) {
                // A 1.x success envelope: its data.
                Some(200) => o.remove("data").unwrap_or(Json::Null),
                // A 1.x transfer failure keeps its code, message and bytes
                // (2.x has no transfer route); 3.x words it its own way.
                code => match code.and_then(|c| V3_TRANSFER.iter().find(|t| t.0 == c)) {
                    Some(&(_, code, message)) if v3 => {
                        let data = o.remove("data").unwrap_or(Json::Null);
                        return Reply::ok(result_body(code, message, data));
                    }
                    _ => return Reply::ok(text.as_bytes().to_vec()),
                },
            }
        }
        other => other,
    };
    let mut data = match shape {
        Data::Whole => data,
        Data::Items => data.get("pageItems").cloned().unwrap_or(Json::Null),
        Data::Config | Data::Beta if data.is_null() => return absent(),
        Data::Config | Data::Beta => data,
        Data::KeyListeners | Data::IpListeners => json!({
            "queryType": if shape == Data::IpListeners { "ip" } else { "config" },
            "listenersStatus": data.get("lisentersGroupkeyStatus").cloned().unwrap_or(Json::Null),
        }),
    };
    if v3 {
        v3_names(&mut data);
    }
    Reply::ok(success(data))
}

/// 1.x transfer failure codes and 3.x's code and message for them
/// (api/.../model/v2/ErrorCode.java, 3.x).
const V3_TRANSFER: &[(i64, u32, &str)] = &[
    (100_001, 22001, "namespace not exist"),
    (100_002, 100_002, "Imported metadata is invalid"),
    (100_004, 100_004, "Failed to parse data"),
    (100_005, 100_005, "Imported file data is empty"),
    (100_006, 100_006, "No configuration selected"),
];

/// 1.x field names and their 3.x ones (ConfigBasicInfo and its kin).
const V3_NAMES: &[(&str, &str)] = &[("group", "groupName"), ("tenant", "namespaceId")];
/// 1.x history times (ISO text) and their 3.x ones (epoch ms).
const V3_TIMES: &[(&str, &str)] = &[
    ("createdTime", "createTime"),
    ("lastModifiedTime", "modifyTime"),
];

/// Gives the config objects of a 1.x answer (an object, a list of them, a
/// page of them) the 3.x field names and types.
fn v3_names(data: &mut Json) {
    match data {
        Json::Array(list) => list.iter_mut().for_each(v3_names),
        Json::Object(o) => {
            if let Some(items) = o.get_mut("pageItems") {
                return v3_names(items);
            }
            for (old, new) in V3_NAMES {
                if let Some(v) = o.remove(*old) {
                    o.insert((*new).to_owned(), v);
                }
            }
            // 3.x names the default namespace `public` (NamespaceUtil).
            if let Some(ns) = o.get_mut("namespaceId").filter(|n| *n == "") {
                *ns = "public".into();
            }
            for (old, new) in V3_TIMES {
                if let Some(ms) = o
                    .remove(*old)
                    .as_ref()
                    .and_then(Json::as_str)
                    .and_then(epoch_ms)
                {
                    o.insert((*new).to_owned(), ms.into());
                }
            }
            if let Some(id) = o
                .get("id")
                .and_then(Json::as_str)
                .and_then(|i| i.parse::<i64>().ok())
            {
                o.insert("id".to_owned(), id.into());
            }
        }
        Json::Null | Json::Bool(_) | Json::Number(_) | Json::String(_) => {}
    }
}

/// Epoch ms of a time rendered as 1.x renders it (`...T01:48:03.380+0000`).
fn epoch_ms(iso: &str) -> Option<i64> {
    let rfc3339 = format!("{}Z", iso.strip_suffix("+0000")?);
    let t = humantime::parse_rfc3339(&rfc3339).ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(d.as_millis()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(r: &Reply) -> Json {
        serde_json::from_slice(&r.body).unwrap_or(Json::Null)
    }

    #[test]
    fn a_deferred_answer_in_the_envelope() {
        let result = Rendering::Result {
            data: Data::Whole,
            v3: false,
        };
        let cases = [
            (
                Reply::ok("true"),
                200,
                json!({"code": 0, "message": "success", "data": true}),
            ),
            (
                Reply::ok(r#"{"code":200,"message":null,"data":[1]}"#),
                200,
                json!({"code": 0, "message": "success", "data": [1]}),
            ),
            (
                Reply::ok(""),
                404,
                json!({"code": 20004, "message": "resource not found", "data": "config data not exist"}),
            ),
            (
                Reply::caused(404, "history 7 not found"),
                404,
                json!({"code": 20004, "message": "resource not found", "data": "history 7 not found"}),
            ),
            (
                Reply::caused(500, "disk full"),
                500,
                json!({"code": 30000, "message": "server error", "data": "disk full"}),
            ),
            (
                Reply::caused(500, super::super::render::CAS_MISMATCH),
                500,
                json!({"code": 20005, "message": "resource conflict", "data": super::super::render::CAS_MISMATCH}),
            ),
        ];
        for (reply, status, want) in cases {
            let got = wrap(result, reply.clone());
            assert_eq!((got.status, body(&got)), (status, want), "{reply:?}");
            assert_eq!(wrap(Rendering::Plain, reply.clone()), reply);
        }
        // A failed transfer keeps its own code and message.
        let failed = Reply::ok(r#"{"code":100002,"message":"导入的文件数据为空","data":null}"#);
        assert_eq!(wrap(result, failed.clone()), failed);
        assert_eq!(render_answer(result, Err("disk full".into())).status, 500);
    }

    #[test]
    fn v3_names_and_times() {
        let mut page = json!({"totalCount": 1, "pageItems": [{
            "id": "7", "dataId": "d", "group": "G", "tenant": "",
            "createdTime": "2020-12-05T01:48:03.380+0000",
            "lastModifiedTime": "1970-01-01T00:00:00.001+0000",
        }]});
        v3_names(&mut page);
        assert_eq!(
            page["pageItems"][0],
            json!({"id": 7, "dataId": "d", "groupName": "G", "namespaceId": "public",
                   "createTime": 1_607_132_883_380_i64, "modifyTime": 1})
        );
        assert_eq!(epoch_ms("2020-12-05T01:48:03.380Z"), None);
    }

    #[test]
    fn errors_in_the_envelope_name_parameters_as_the_dialect_does() {
        let missing = |d: Dialect| {
            let e = ApiError::Missing {
                name: "group".into(),
                ty: "String",
            };
            match d.error(e, b"/nacos/x") {
                Action::Respond { status, body, .. } => (
                    status,
                    serde_json::from_slice::<Json>(&body).unwrap_or(Json::Null),
                ),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            missing(Dialect::V2).1["data"],
            "Required parameter 'group' type String is not present"
        );
        assert_eq!(
            missing(Dialect::V3Admin).1["data"],
            "Required parameter 'groupName' type String is not present"
        );
        let (status, v1) = missing(Dialect::V1);
        assert_eq!(
            (status, &v1["message"]),
            (
                400,
                &json!("Required String parameter 'group' is not present")
            )
        );
    }
}
