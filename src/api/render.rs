//! The bodies Nacos answers with: plain responses, framework errors, the
//! `{"code","message","data"}` envelope, committed writes, long-poll
//! replies and the reactor's own refusals.
//!
//! Invariant: JSON around user input is built with serde_json, never with
//! `format!`, so a `"` in a name cannot break it.

use super::{Action, JSON};
use crate::msg::{AccountChange, Reply, Written};
use std::borrow::Cow;

pub(super) fn respond(status: u16, head: &'static [u8], body: impl Into<Vec<u8>>) -> Action {
    Action::Respond {
        status,
        head: Cow::Borrowed(head),
        body: body.into(),
    }
}

/// A framework-style error (missing parameter, unknown path, bad method).
pub(super) fn framework(status: u16, message: &str, path: &[u8]) -> Action {
    let body = serde_json::json!({
        "status": status,
        "error": crate::http::reason(status),
        "message": message,
        "path": String::from_utf8_lossy(path),
    });
    respond(status, JSON, body.to_string())
}

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

/// Nacos's words for a compare-and-set publish refused.
pub(super) const CAS_MISMATCH: &str = "Cas publish fail, server md5 may have changed.";

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
        Written::CasMismatch => Reply::caused(500, CAS_MISMATCH),
        Written::Transferred(body) => Reply::ok(body.as_str()),
        Written::UserExists(user) => Reply::new(
            400,
            envelope(400, Some(&format!("user '{user}' already exist!")), ()),
        ),
    }
}

/// The reactor's own refusals, in the words Nacos clients log.
pub mod refusal {
    use crate::http::HttpError;
    use crate::msg::Reply;

    /// A queue to another thread is full.
    pub fn overloaded(what: &str) -> Reply {
        Reply::caused(
            503,
            format!("server is overloaded with {what}, retry later"),
        )
    }

    /// The process-wide request buffer budget is spent.
    pub fn out_of_buffer_space() -> Reply {
        Reply::caused(503, "server is out of request buffer space, retry later")
    }

    /// The write could not be committed.
    pub fn storage_failed(msg: &str) -> Reply {
        Reply::caused(500, msg)
    }

    /// The request could not be framed.
    pub fn bad_request(e: &HttpError) -> Reply {
        Reply::new(e.status(), format!("{}\n", e.message()))
    }

    /// A started request did not complete in time.
    pub fn request_timeout() -> Reply {
        Reply::new(408, "request timeout\n")
    }
}

/// An empty 200 long-poll answer (timeout, no-hangup, nothing changed).
pub fn empty_poll_reply() -> (u16, &'static [u8], &'static [u8]) {
    (200, JSON, b"")
}

/// Header lines of a listener reply that names changed keys.
pub fn changed_keys_head() -> &'static [u8] {
    b"Content-Type: application/json;charset=UTF-8\r\nPragma: no-cache\r\nExpires: Thu, 01 Jan 1970 00:00:00 GMT\r\nCache-Control: no-cache,no-store\r\n"
}

/// The JSON answer of the listener-status endpoints (sic `lisenters`).
pub fn listener_status_body(parts: &std::collections::BTreeMap<String, String>) -> Vec<u8> {
    serde_json::json!({"collectStatus": 200, "lisentersGroupkeyStatus": parts})
        .to_string()
        .into_bytes()
}
