//! The bytes subscribers are sent: the long poll's changed-key body and the
//! watch stream's Server-Sent Events (head, `retry:`, events, `id:` lines,
//! reset, heartbeat). Built here, queued as they are by the reactor.

use super::view::{Names, Seen};
use crate::protocol::{self, parse_group_key};
use serde::Serialize;

/// The stream's response head: no length (the body is the stream, ended by
/// closing the connection), no caching or proxy buffering, and readable
/// from pages of any origin (credentials, when auth is on, travel in the
/// `accessToken` parameter, never in cookies).
pub const STREAM_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream;charset=UTF-8\r\nCache-Control: no-cache,no-store\r\nX-Accel-Buffering: no\r\nAccess-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n";

/// Tells a resuming client that its id is too old: a snapshot follows.
pub const RESET: &[u8] = b"event: reset\ndata: {}\n\n";

/// A comment line that keeps an idle stream open through proxies.
pub const HEARTBEAT: &[u8] = b":\n\n";

/// The reconnect delay suggested to clients.
pub fn retry(ms: u64) -> Vec<u8> {
    format!("retry: {ms}\n\n").into_bytes()
}

/// An `id:` alone: the point a stream resumes from when no event of its
/// own carried it.
pub fn id_only(id: u64) -> Vec<u8> {
    format!("id: {id}\n\n").into_bytes()
}

/// The JSON of an event's `data:` line.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventData<'a> {
    data_id: &'a str,
    group: &'a str,
    tenant: &'a str,
    md5: &'a str,
    #[serde(rename = "type")]
    config_type: &'a str,
    last_modified: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
}

/// One event: `id:` (when given), `event: change` or `event: delete`, and
/// one `data:` line. `now_ms` dates a delete (it carries no config time).
pub fn event(
    names: &Names,
    seen: Seen,
    id: Option<u64>,
    with_content: bool,
    now_ms: i64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    if let Some(id) = id {
        out.extend_from_slice(format!("id: {id}\n").as_bytes());
    }
    let (kind, data): (&[u8], EventData) = match seen {
        Seen::Config(c) => (
            b"event: change\ndata: ",
            EventData {
                data_id: &names.data_id,
                group: &names.group,
                tenant: &names.tenant,
                md5: c.md5.as_str(),
                config_type: c.config_type,
                last_modified: c.modified_ms,
                content: with_content.then_some(c.content.as_str()),
            },
        ),
        Seen::Gone => (
            b"event: delete\ndata: ",
            EventData {
                data_id: &names.data_id,
                group: &names.group,
                tenant: &names.tenant,
                md5: "",
                config_type: "",
                last_modified: now_ms,
                content: None,
            },
        ),
    };
    out.extend_from_slice(kind);
    // Serialising plain strings and integers cannot fail; JSON never
    // contains a raw newline, so one data line holds it.
    if let Ok(json) = serde_json::to_vec(&data) {
        out.extend_from_slice(&json);
    }
    out.extend_from_slice(b"\n\n");
    out
}

/// The long-poll body naming one changed key, with the tenant spelled as
/// the poll spelled it (`echo_tenant`) when it did not use the canonical
/// form (spec §5.5).
pub fn poll_changed(group_key: &str, echo_tenant: Option<&str>) -> Vec<u8> {
    let mut body = Vec::new();
    if let Some((data_id, group, tenant)) = parse_group_key(group_key) {
        protocol::encode_changed_key(&mut body, &data_id, &group, echo_tenant.unwrap_or(&tenant));
        body.push(b'\n');
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Config;

    #[test]
    fn events_are_one_data_line_of_json() {
        let c = Config::new(
            1,
            "d".into(),
            "G".into(),
            "".into(),
            "".into(),
            "text",
            None,
            0,
        );
        let names = Names::of("d+G").unwrap();
        let b = String::from_utf8(event(&names, Seen::Config(&c), Some(7), true, 5)).unwrap();
        assert_eq!(
            b,
            "id: 7\nevent: change\ndata: {\"dataId\":\"d\",\"group\":\"G\",\"tenant\":\"\",\"md5\":\"d41d8cd98f00b204e9800998ecf8427e\",\"type\":\"text\",\"lastModified\":0,\"content\":\"\"}\n\n"
        );
        let snap = String::from_utf8(event(&names, Seen::Config(&c), None, false, 5)).unwrap();
        assert!(snap.starts_with("event: change\ndata: {"), "{snap}");
        assert!(!snap.contains("content"), "{snap}");
        let del = String::from_utf8(event(&names, Seen::Gone, Some(8), true, 5)).unwrap();
        assert_eq!(
            del,
            "id: 8\nevent: delete\ndata: {\"dataId\":\"d\",\"group\":\"G\",\"tenant\":\"\",\"md5\":\"\",\"type\":\"\",\"lastModified\":5}\n\n"
        );
    }

    #[test]
    fn poll_bodies_echo_the_tenant_as_the_client_spelt_it() {
        // (groupKey, echo tenant, body)
        let cases = [
            ("a+G", None, "a%02G%01\n"),
            ("a+G", Some("public"), "a%02G%02public%01\n"),
            ("a+G+dev", None, "a%02G%02dev%01\n"),
        ];
        for (gk, echo, want) in cases {
            assert_eq!(
                String::from_utf8(poll_changed(gk, echo)).unwrap(),
                want,
                "{gk}"
            );
        }
    }
}
