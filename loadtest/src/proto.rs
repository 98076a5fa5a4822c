//! The Nacos 1.x configuration wire protocol as the load tester speaks it.
//!
//! Pure functions only: request bytes for get / publish / listen, the md5
//! every client computes, the naming scheme of load-test keys, and the parser
//! of listener replies (URL-decoded body, records separated by `%01`, fields
//! by `%02`). Nothing here touches a socket, so it is all unit-tested.
//!
//! Invariant: every key this tool creates lives in group [`GROUP`] and has a
//! data id `lt.<run>.<kind><index>`, made of characters that Java's
//! `URLEncoder` leaves alone, so request bodies need no escaping of keys and a
//! reply can be mapped back to a key without a lookup table.

use md5::{Digest, Md5};
use std::fmt::Write as _;

/// The group of every load-test key.
pub const GROUP: &str = "LOADTEST";
/// Word separator inside a listener record.
const WS: u8 = 0x02;
/// Line separator between listener records.
const LS: u8 = 0x01;

/// What a key is used for; the letter is part of its data id.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum KeyKind {
    /// The hot key shared by every listener (`h`).
    Hot,
    /// A listener's own key (`k`).
    Own,
    /// A key read by the `get` scenario (`g`).
    Get,
    /// A key written by the `publish` scenario (`p`).
    Pub,
}

impl KeyKind {
    fn letter(self) -> char {
        match self {
            KeyKind::Hot => 'h',
            KeyKind::Own => 'k',
            KeyKind::Get => 'g',
            KeyKind::Pub => 'p',
        }
    }

    fn from_letter(c: u8) -> Option<KeyKind> {
        match c {
            b'h' => Some(KeyKind::Hot),
            b'k' => Some(KeyKind::Own),
            b'g' => Some(KeyKind::Get),
            b'p' => Some(KeyKind::Pub),
            _ => None,
        }
    }
}

/// One load-test key: its kind and index within the run.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct KeyId {
    pub kind: KeyKind,
    pub idx: u32,
}

impl KeyId {
    pub fn new(kind: KeyKind, idx: u32) -> KeyId {
        KeyId { kind, idx }
    }

    /// Compact text form used on the coordinator pipe, e.g. `k17`.
    pub fn to_token(self) -> String {
        format!("{}{}", self.kind.letter(), self.idx)
    }

    /// Inverse of [`KeyId::to_token`].
    pub fn from_token(s: &str) -> Option<KeyId> {
        let b = s.as_bytes();
        let kind = KeyKind::from_letter(*b.first()?)?;
        let idx = s.get(1..)?.parse().ok()?;
        Some(KeyId { kind, idx })
    }
}

/// The naming scheme of one run: `lt.<run>.<kind><index>` in group [`GROUP`].
#[derive(Clone, Debug)]
pub struct KeySpace {
    prefix: String,
}

impl KeySpace {
    /// `run` must be ASCII alphanumeric so data ids need no escaping.
    pub fn new(run: &str) -> KeySpace {
        debug_assert!(run.bytes().all(|b| b.is_ascii_alphanumeric()), "{run}");
        KeySpace {
            prefix: format!("lt.{run}."),
        }
    }

    pub fn data_id(&self, key: KeyId) -> String {
        format!("{}{}", self.prefix, key.to_token())
    }

    /// Maps a data id and group from a reply back to a key of this run.
    pub fn key_of(&self, data_id: &str, group: &str) -> Option<KeyId> {
        if group != GROUP {
            return None;
        }
        KeyId::from_token(data_id.strip_prefix(&self.prefix)?)
    }
}

/// Which keys each listener listens to, in the order of its records.
///
/// Listener `g` (a global index) has `own_keys` keys of kind `Own`: its own
/// `k(g*own_keys + j)` when `pool` is 0, or else `k((g*own_keys + j) mod pool)`
/// out of a pool of `pool` keys that many listeners share. With `hot`, the
/// shared hot key `h0` comes last.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyPlan {
    pub own_keys: u32,
    pub pool: u32,
    pub hot: bool,
}

impl KeyPlan {
    /// Number of keys per listener.
    pub fn len(&self) -> usize {
        self.own_keys as usize + usize::from(self.hot)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys of listener `g`.
    pub fn keys_of(&self, g: u32) -> Vec<KeyId> {
        let base = u64::from(g) * u64::from(self.own_keys);
        let mut keys: Vec<KeyId> = (0..u64::from(self.own_keys))
            .map(|j| {
                let n = base + j;
                let idx = if self.pool > 0 {
                    n % u64::from(self.pool)
                } else {
                    n
                };
                KeyId::new(KeyKind::Own, idx as u32)
            })
            .collect();
        if self.hot {
            keys.push(KeyId::new(KeyKind::Hot, 0));
        }
        keys
    }

    /// Position of `key` among the keys of listener `g`, if it listens to it.
    pub fn slot_of(&self, g: u32, key: KeyId) -> Option<usize> {
        match key.kind {
            KeyKind::Hot if self.hot && key.idx == 0 => Some(self.own_keys as usize),
            KeyKind::Own if self.own_keys > 0 => {
                let base = u64::from(g) * u64::from(self.own_keys);
                let j = if self.pool > 0 {
                    let pool = u64::from(self.pool);
                    if key.idx >= self.pool {
                        return None;
                    }
                    (u64::from(key.idx) + pool - base % pool) % pool
                } else {
                    u64::from(key.idx).checked_sub(base)?
                };
                (j < u64::from(self.own_keys)).then_some(j as usize)
            }
            _ => None,
        }
    }
}

/// A 16-byte md5 digest.
pub type Md5Digest = [u8; 16];

/// md5 of content bytes, as the server computes it.
pub fn md5_of(content: &[u8]) -> Md5Digest {
    Md5::digest(content).into()
}

/// 32 lowercase hex characters, the Nacos md5 text form.
pub fn md5_hex(d: &Md5Digest) -> String {
    let mut s = String::with_capacity(32);
    for b in d {
        // Writing into a String cannot fail.
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Content of a key at a version published by the coordinator. Deterministic,
/// so a worker can know the md5 a listener should end up with.
pub fn versioned_content(space: &KeySpace, key: KeyId, version: u64, size: usize) -> String {
    let mut s = format!("{} v={version}\n", space.data_id(key));
    pad(&mut s, size);
    s
}

/// Content carrying the monotonic send time, so whoever reads it can compute
/// publish-to-wake latency without talking to the publisher.
pub fn timestamped_content(seq: u64, sent_ns: u64, size: usize) -> String {
    let mut s = format!("lt seq={seq} t={sent_ns}\n");
    pad(&mut s, size);
    s
}

/// Reads back the `t=` field of [`timestamped_content`].
pub fn content_timestamp(content: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(content.get(..content.len().min(64))?).ok()?;
    let line = text.lines().next()?;
    let t = line.split(' ').find_map(|w| w.strip_prefix("t="))?;
    t.parse().ok()
}

fn pad(s: &mut String, size: usize) {
    while s.len() < size {
        s.push('x');
    }
}

/// Appends `s` encoded as Java's `URLEncoder` would (the form encoding every
/// Nacos client uses).
pub fn form_encode(s: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => out.push(b),
            b' ' => out.push(b'+'),
            _ => out.extend_from_slice(&[b'%', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]),
        }
    }
}

/// A `GET /nacos/v1/cs/configs` request.
pub fn get_request(host: &str, space: &KeySpace, key: KeyId, out: &mut Vec<u8>) {
    key_request("GET", host, space, key, out);
}

/// A `DELETE /nacos/v1/cs/configs` request (parameters in the query, as every client sends them).
pub fn delete_request(host: &str, space: &KeySpace, key: KeyId, out: &mut Vec<u8>) {
    key_request("DELETE", host, space, key, out);
}

/// `METHOD /nacos/v1/cs/configs?dataId=..&group=..` without a body.
fn key_request(method: &str, host: &str, space: &KeySpace, key: KeyId, out: &mut Vec<u8>) {
    out.extend_from_slice(method.as_bytes());
    out.extend_from_slice(b" /nacos/v1/cs/configs?dataId=");
    out.extend_from_slice(space.data_id(key).as_bytes());
    out.extend_from_slice(b"&group=");
    out.extend_from_slice(GROUP.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
}

/// A form-encoded publish (`POST /nacos/v1/cs/configs`).
pub fn publish_request(host: &str, space: &KeySpace, key: KeyId, content: &str, out: &mut Vec<u8>) {
    let mut body = Vec::with_capacity(content.len() + 64);
    body.extend_from_slice(b"dataId=");
    body.extend_from_slice(space.data_id(key).as_bytes());
    body.extend_from_slice(b"&group=");
    body.extend_from_slice(GROUP.as_bytes());
    body.extend_from_slice(b"&content=");
    form_encode(content.as_bytes(), &mut body);
    post(host, "/nacos/v1/cs/configs", None, &body, out);
}

/// A long-polling listener request for `keys`, each with the md5 the client
/// holds (`None`: no content, sent as the empty md5).
pub fn listen_request(
    host: &str,
    space: &KeySpace,
    keys: &[(KeyId, Option<Md5Digest>)],
    timeout_ms: u64,
    out: &mut Vec<u8>,
) {
    let mut body = Vec::with_capacity(20 + keys.len() * 64);
    body.extend_from_slice(b"Listening-Configs=");
    for (key, md5) in keys {
        body.extend_from_slice(space.data_id(*key).as_bytes());
        body.extend_from_slice(b"%02");
        body.extend_from_slice(GROUP.as_bytes());
        body.extend_from_slice(b"%02");
        if let Some(d) = md5 {
            body.extend_from_slice(md5_hex(d).as_bytes());
        }
        body.extend_from_slice(b"%01");
    }
    let header = format!("Long-Pulling-Timeout: {timeout_ms}\r\n");
    post(
        host,
        "/nacos/v1/cs/configs/listener",
        Some(&header),
        &body,
        out,
    );
}

fn post(host: &str, path: &str, extra_headers: Option<&str>, body: &[u8], out: &mut Vec<u8>) {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\n\
         Content-Type: application/x-www-form-urlencoded;charset=UTF-8\r\n\
         {}Content-Length: {}\r\n\r\n",
        extra_headers.unwrap_or(""),
        body.len()
    );
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body);
}

/// One key named in a listener reply, as the server wrote it.
#[derive(Debug, PartialEq, Eq)]
pub struct Changed {
    pub data_id: String,
    pub group: String,
    pub tenant: Option<String>,
}

/// Why a listener reply body could not be understood.
#[derive(Debug, PartialEq, Eq)]
pub enum ReplyError {
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// The decoded bytes are not UTF-8.
    NotUtf8,
    /// A record with other than 2 or 3 fields.
    BadRecord(String),
}

impl std::fmt::Display for ReplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplyError::BadEscape => write!(f, "malformed percent escape"),
            ReplyError::NotUtf8 => write!(f, "reply is not UTF-8"),
            ReplyError::BadRecord(r) => write!(f, "bad record {r:?}"),
        }
    }
}

/// Parses a listener reply body: URL-decode, split on LS, skip blank pieces
/// (the trailing newline), split each on WS into 2 or 3 fields. An empty body
/// (hold expired) yields no keys.
pub fn parse_listener_reply(body: &[u8]) -> Result<Vec<Changed>, ReplyError> {
    let decoded = url_decode(body)?;
    let text = String::from_utf8(decoded).map_err(|_| ReplyError::NotUtf8)?;
    let mut out = Vec::new();
    for record in text.split(LS as char) {
        if record.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = record.split(WS as char).collect();
        let (data_id, group, tenant) = match fields.as_slice() {
            [d, g] => (d, g, None),
            [d, g, t] => (d, g, Some(t.to_string())),
            _ => return Err(ReplyError::BadRecord(record.to_string())),
        };
        out.push(Changed {
            data_id: data_id.to_string(),
            group: group.to_string(),
            tenant,
        });
    }
    Ok(out)
}

/// `+` is a space, `%HH` a byte (Java `URLDecoder`).
fn url_decode(s: &[u8]) -> Result<Vec<u8>, ReplyError> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3).ok_or(ReplyError::BadEscape)?;
                let hex = std::str::from_utf8(hex).map_err(|_| ReplyError::BadEscape)?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| ReplyError::BadEscape)?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed(d: &str, g: &str, t: Option<&str>) -> Changed {
        Changed {
            data_id: d.into(),
            group: g.into(),
            tenant: t.map(Into::into),
        }
    }

    #[test]
    fn md5_vectors_from_the_spec() {
        assert_eq!(
            md5_hex(&md5_of(b"hello")),
            "5d41402abc4b2a76b9719d911017c592"
        );
        assert_eq!(
            md5_hex(&md5_of(b"contentTest")),
            "9f67e6977b100e00cab385a75597db58"
        );
        assert_eq!(
            md5_hex(&md5_of("名字=值".as_bytes())),
            "3fb67cafab5d1c9b352dea20b799274e"
        );
    }

    #[test]
    fn reply_parsing() {
        let check = |body: &str, expected: Vec<Changed>| {
            assert_eq!(
                parse_listener_reply(body.as_bytes()).unwrap(),
                expected,
                "{body:?}"
            );
        };
        check("", vec![]);
        check("\n", vec![]);
        check(
            "app.properties%02DEFAULT_GROUP%02dev%01\n",
            vec![changed("app.properties", "DEFAULT_GROUP", Some("dev"))],
        );
        check(
            "app.properties%02DEFAULT_GROUP%01new.yaml%02DEFAULT_GROUP%01\n",
            vec![
                changed("app.properties", "DEFAULT_GROUP", None),
                changed("new.yaml", "DEFAULT_GROUP", None),
            ],
        );
        check("a%3Ab+c%02G%01", vec![changed("a:b c", "G", None)]);
        check(
            "%E9%85%8D%E7%BD%AE.yaml%02G%01",
            vec![changed("配置.yaml", "G", None)],
        );
        // Raw separators are understood too, as by every real client.
        check("x\u{2}G\u{1}\n", vec![changed("x", "G", None)]);
    }

    #[test]
    fn reply_errors() {
        assert_eq!(parse_listener_reply(b"a%0"), Err(ReplyError::BadEscape));
        assert_eq!(parse_listener_reply(b"a%zz%01"), Err(ReplyError::BadEscape));
        assert_eq!(parse_listener_reply(b"%FF%01"), Err(ReplyError::NotUtf8));
        assert!(matches!(
            parse_listener_reply(b"lonely%01"),
            Err(ReplyError::BadRecord(_))
        ));
        assert!(matches!(
            parse_listener_reply(b"a%02b%02c%02d%01"),
            Err(ReplyError::BadRecord(_))
        ));
    }

    #[test]
    fn key_names_round_trip() {
        let space = KeySpace::new("r42");
        for key in [
            KeyId::new(KeyKind::Hot, 0),
            KeyId::new(KeyKind::Own, 18_999),
            KeyId::new(KeyKind::Get, 7),
            KeyId::new(KeyKind::Pub, 3),
        ] {
            let id = space.data_id(key);
            assert_eq!(space.key_of(&id, GROUP), Some(key), "{id}");
            assert_eq!(KeyId::from_token(&key.to_token()), Some(key));
        }
        assert_eq!(space.data_id(KeyId::new(KeyKind::Own, 5)), "lt.r42.k5");
        assert_eq!(space.key_of("lt.r42.k5", "OTHER"), None);
        assert_eq!(space.key_of("lt.r43.k5", GROUP), None);
        assert_eq!(space.key_of("lt.r42.z5", GROUP), None);
        assert_eq!(space.key_of("lt.r42.k", GROUP), None);
    }

    #[test]
    fn key_plans_name_each_listener_key_once() {
        for plan in [
            KeyPlan {
                own_keys: 3,
                pool: 0,
                hot: true,
            },
            KeyPlan {
                own_keys: 2,
                pool: 50,
                hot: false,
            },
            KeyPlan {
                own_keys: 0,
                pool: 0,
                hot: true,
            },
            KeyPlan {
                own_keys: 5,
                pool: 7,
                hot: true,
            },
        ] {
            for g in [0, 1, 24, 25, 999] {
                let keys = plan.keys_of(g);
                assert_eq!(keys.len(), plan.len());
                for (slot, key) in keys.iter().enumerate() {
                    assert_eq!(plan.slot_of(g, *key), Some(slot), "{plan:?} g={g}");
                }
                for idx in 0..60 {
                    let key = KeyId::new(KeyKind::Own, idx);
                    assert_eq!(plan.slot_of(g, key).is_some(), keys.contains(&key));
                }
            }
        }
        let p = KeyPlan {
            own_keys: 2,
            pool: 50,
            hot: false,
        };
        assert_eq!(
            p.keys_of(26),
            vec![KeyId::new(KeyKind::Own, 2), KeyId::new(KeyKind::Own, 3)]
        );
    }

    #[test]
    fn listen_request_bytes() {
        let space = KeySpace::new("r1");
        let mut out = Vec::new();
        let d = md5_of(b"hello");
        listen_request(
            "h:1",
            &space,
            &[
                (KeyId::new(KeyKind::Own, 1), None),
                (KeyId::new(KeyKind::Hot, 0), Some(d)),
            ],
            30000,
            &mut out,
        );
        let body = "Listening-Configs=lt.r1.k1%02LOADTEST%02%01\
                    lt.r1.h0%02LOADTEST%025d41402abc4b2a76b9719d911017c592%01";
        let expected = format!(
            "POST /nacos/v1/cs/configs/listener HTTP/1.1\r\nHost: h:1\r\n\
             Content-Type: application/x-www-form-urlencoded;charset=UTF-8\r\n\
             Long-Pulling-Timeout: 30000\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn publish_and_get_bytes() {
        let space = KeySpace::new("r1");
        let key = KeyId::new(KeyKind::Pub, 2);
        let mut out = Vec::new();
        publish_request("h", &space, key, "a=b c\n", &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.ends_with("\r\n\r\ndataId=lt.r1.p2&group=LOADTEST&content=a%3Db+c%0A"),
            "{text}"
        );
        assert!(text.contains("Content-Length: 49\r\n"), "{text}");
        let mut out = Vec::new();
        get_request("h", &space, key, &mut out);
        assert_eq!(
            out,
            b"GET /nacos/v1/cs/configs?dataId=lt.r1.p2&group=LOADTEST HTTP/1.1\r\nHost: h\r\n\r\n"
        );
        let mut out = Vec::new();
        delete_request("h", &space, key, &mut out);
        assert!(out.starts_with(b"DELETE /nacos/v1/cs/configs?dataId=lt.r1.p2&group=LOADTEST "));
    }

    #[test]
    fn contents() {
        let space = KeySpace::new("r1");
        let c = versioned_content(&space, KeyId::new(KeyKind::Hot, 0), 3, 40);
        assert_eq!(c.len(), 40);
        assert!(c.starts_with("lt.r1.h0 v=3\n"));
        let c = timestamped_content(9, 123_456_789, 100);
        assert_eq!(c.len(), 100);
        assert_eq!(content_timestamp(c.as_bytes()), Some(123_456_789));
        assert_eq!(content_timestamp(b"nothing here"), None);
    }
}
