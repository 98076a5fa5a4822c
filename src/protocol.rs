//! The Nacos config protocol as pure functions: identifier validation, tenant
//! canonicalisation, groupKeys, md5, the `Listening-Configs` decoder and the
//! listener reply encoder (spec §2, §3, §5).
//!
//! Nothing here knows about sockets, threads or storage. Errors are
//! [`ProtocolError`] values whose text is the Nacos message, rendered by the
//! API layer as `caused: <message>;` with status 400.

use crate::form::url_decode;
use md5::{Digest, Md5};
use std::fmt;
use std::hash::BuildHasher;
use unicode_general_category::{get_general_category, GeneralCategory as Gc};

/// Most distinct keys one long poll may list (Nacos's cap).
pub const MAX_KEYS_PER_LISTENER: usize = 10_000;
/// Longest tenant accepted, in UTF-16 code units as Nacos counts.
pub const TENANT_MAX_LEN: usize = 128;
/// Longest tag.
pub const TAG_MAX_LEN: usize = 16;
/// Default content limit in UTF-16 code units (Nacos `maxContent`).
pub const DEFAULT_MAX_CONTENT: usize = 10 * 1024 * 1024;

/// A validation failure; `Display` gives the Nacos message text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, ProtocolError> {
    Err(ProtocolError(msg.into()))
}

/// Java's `Character.isWhitespace`, which `StringUtils.isBlank` uses.
fn is_java_whitespace(c: char) -> bool {
    match c {
        '\t'..='\r' | '\u{1c}'..='\u{1f}' => true,
        '\u{a0}' | '\u{2007}' | '\u{202f}' => false,
        _ => matches!(
            get_general_category(c),
            Gc::SpaceSeparator | Gc::LineSeparator | Gc::ParagraphSeparator
        ),
    }
}

/// Java `StringUtils.isBlank`: empty or whitespace only.
pub fn is_blank(s: &str) -> bool {
    s.chars().all(is_java_whitespace)
}

/// Java `String.trim`: strips chars <= U+0020 at both ends.
pub fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

/// Length in UTF-16 code units, as Java's `String.length`.
pub fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// Nacos's identifier class (§2.1): BMP letters and digits (Lu Ll Lt Lm Lo
/// Nd) and `_ - . :`.
pub fn is_valid_ident(s: &str) -> bool {
    s.chars().all(|c| {
        matches!(c, '_' | '-' | '.' | ':')
            || ((c as u32) <= 0xFFFF
                && matches!(
                    get_general_category(c),
                    Gc::UppercaseLetter
                        | Gc::LowercaseLetter
                        | Gc::TitlecaseLetter
                        | Gc::ModifierLetter
                        | Gc::OtherLetter
                        | Gc::DecimalNumber
                ))
    })
}

/// Checks a tenant as Nacos does (blank is fine: the public namespace).
pub fn check_tenant(tenant: &str) -> Result<(), ProtocolError> {
    if is_blank(tenant) {
        return Ok(());
    }
    if !is_valid_ident(java_trim(tenant)) {
        return err("invalid tenant");
    }
    if utf16_len(tenant) > TENANT_MAX_LEN {
        return err("too long tag, over 128");
    }
    Ok(())
}

/// Checks a dataId: not blank, trimmed value valid.
pub fn check_data_id(data_id: &str) -> Result<(), ProtocolError> {
    if is_blank(data_id) || !is_valid_ident(java_trim(data_id)) {
        return err(format!("invalid dataId : {data_id}"));
    }
    Ok(())
}

/// Checks a group: not blank, valid as is.
pub fn check_group(group: &str) -> Result<(), ProtocolError> {
    if is_blank(group) || !is_valid_ident(group) {
        return err(format!("invalid group : {group}"));
    }
    Ok(())
}

/// Checks an optional tag.
pub fn check_tag(tag: &str) -> Result<(), ProtocolError> {
    if is_blank(tag) {
        return Ok(());
    }
    if !is_valid_ident(java_trim(tag)) {
        return err(format!("invalid tag : {tag}"));
    }
    if utf16_len(tag) > TAG_MAX_LEN {
        return err("too long tag, over 16");
    }
    Ok(())
}

/// Checks publish content against blankness and the size limit.
pub fn check_content(content: &str, max_content: usize) -> Result<(), ProtocolError> {
    if is_blank(content) {
        return err(format!("content is blank : {content}"));
    }
    // Cheap bound first: UTF-16 units never exceed UTF-8 bytes.
    if content.len() > max_content && utf16_len(content) > max_content {
        return err(format!("invalid content, over {max_content}"));
    }
    Ok(())
}

/// Optional publish metadata, checked as Nacos's `checkParam(Map)`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub config_tags: Option<String>,
    pub desc: Option<String>,
    pub use_: Option<String>,
    pub effect: Option<String>,
    pub schema: Option<String>,
}

pub fn check_metadata(m: &Metadata) -> Result<(), ProtocolError> {
    if let Some(tags) = &m.config_tags {
        let items: Vec<&str> = tags.split(',').collect();
        if items.len() > 5 {
            return err("too much config_tags, over 5");
        }
        if items.iter().any(|t| utf16_len(t) > 64) {
            return err("too long tag, over 64");
        }
    }
    let limits: [(&Option<String>, &str, usize); 4] = [
        (&m.desc, "desc", 128),
        (&m.use_, "use", 32),
        (&m.effect, "effect", 32),
        (&m.schema, "schema", 32768),
    ];
    for (value, name, max) in limits {
        if value.as_deref().is_some_and(|v| utf16_len(v) > max) {
            return err(format!("too long {name}, over {max}"));
        }
    }
    Ok(())
}

/// The config types Nacos keeps; anything else is stored as `text`.
pub fn normalize_type(t: Option<&str>) -> &'static str {
    match t {
        Some("properties") => "properties",
        Some("xml") => "xml",
        Some("json") => "json",
        Some("html") => "html",
        Some("yaml") => "yaml",
        Some("unset") => "unset",
        _ => "text",
    }
}

/// The `Content-Type` a GET reply carries for a config type.
pub fn content_type_for(config_type: &str) -> &'static str {
    match config_type {
        "json" => "application/json;charset=UTF-8",
        "xml" => "application/xml;charset=UTF-8",
        "html" => "text/html;charset=UTF-8",
        _ => "text/plain;charset=UTF-8",
    }
}

/// Canonical tenant: blank, `public` and `null` (any case) are the public
/// namespace `""` (spec §7: canonicalise everywhere, echo on the wire).
pub fn canonical_tenant(tenant: &str) -> &str {
    if is_blank(tenant)
        || tenant.eq_ignore_ascii_case("public")
        || tenant.eq_ignore_ascii_case("null")
    {
        ""
    } else {
        tenant
    }
}

fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '+' => out.push_str("%2B"),
            _ => out.push(c),
        }
    }
}

/// The Nacos groupKey (§3.2) of an already canonical tenant.
pub fn group_key(data_id: &str, group: &str, tenant: &str) -> String {
    let mut k = String::with_capacity(data_id.len() + group.len() + tenant.len() + 2);
    push_escaped(&mut k, data_id);
    k.push('+');
    push_escaped(&mut k, group);
    if !tenant.is_empty() {
        k.push('+');
        push_escaped(&mut k, tenant);
    }
    k
}

fn unescape_component(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("%25") => out.push('%'),
            Some("%2B") => out.push('+'),
            _ => return None,
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// Splits a groupKey back into (dataId, group, tenant); `None` if malformed.
pub fn parse_group_key(key: &str) -> Option<(String, String, String)> {
    let mut parts = key.splitn(3, '+');
    let data_id = unescape_component(parts.next()?)?;
    let group = unescape_component(parts.next()?)?;
    let tenant = match parts.next() {
        Some(t) => unescape_component(t)?,
        None => String::new(),
    };
    if group.is_empty() {
        return None;
    }
    Some((data_id, group, tenant))
}

/// An md5 as 32 lowercase hex ASCII bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Md5Hex(pub [u8; 32]);

impl Md5Hex {
    pub fn of(content: &[u8]) -> Md5Hex {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let digest = Md5::digest(content);
        let mut out = [0u8; 32];
        for (i, b) in digest.iter().enumerate() {
            out[2 * i] = HEX[(b >> 4) as usize];
            out[2 * i + 1] = HEX[(b & 15) as usize];
        }
        Md5Hex(out)
    }

    pub fn as_str(&self) -> &str {
        // Always ASCII hex by construction.
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// Parses a client-sent md5; only the canonical lowercase form can ever
    /// equal a server md5, so anything else is `None`.
    pub fn parse(s: &str) -> Option<Md5Hex> {
        let b = s.as_bytes();
        if b.len() != 32 || !b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(b);
        Some(Md5Hex(out))
    }
}

impl fmt::Debug for Md5Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a listening client says it holds for a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientMd5 {
    /// Empty md5: the client has no content.
    Empty,
    Hex(Md5Hex),
    /// Anything else; never equal to a server md5.
    Other,
}

impl ClientMd5 {
    pub fn parse(s: &str) -> ClientMd5 {
        if s.is_empty() {
            ClientMd5::Empty
        } else {
            Md5Hex::parse(s).map_or(ClientMd5::Other, ClientMd5::Hex)
        }
    }

    /// True when the client is up to date with a server md5 (`None`: absent).
    pub fn matches(&self, server: Option<&Md5Hex>) -> bool {
        match (self, server) {
            (ClientMd5::Empty, None) => true,
            (ClientMd5::Hex(c), Some(s)) => c == s,
            _ => false,
        }
    }
}

/// One record of `Listening-Configs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenRecord {
    pub data_id: String,
    pub group: String,
    /// The tenant exactly as the client wrote it (echoed in replies).
    pub tenant: String,
    pub md5: ClientMd5,
    /// The canonical groupKey, computed once.
    key: String,
}

impl ListenRecord {
    pub fn new(data_id: &str, group: &str, tenant: &str, md5: ClientMd5) -> ListenRecord {
        ListenRecord {
            data_id: data_id.to_owned(),
            group: group.to_owned(),
            tenant: tenant.to_owned(),
            md5,
            key: group_key(data_id, group, canonical_tenant(tenant)),
        }
    }

    /// The canonical groupKey the record listens to.
    pub fn group_key(&self) -> &str {
        &self.key
    }
}

const WS: char = '\u{2}';
const LS: char = '\u{1}';

/// Decodes a `Listening-Configs` value that has already been form-decoded
/// once: Nacos decodes it a second time, then splits records (§5.2).
/// Duplicate keys keep the last record. At most `max_keys` distinct keys.
pub fn parse_listening_configs(
    value: &str,
    max_keys: usize,
) -> Result<Vec<ListenRecord>, ProtocolError> {
    if is_blank(value) {
        return err("invalid probeModify");
    }
    let decoded = url_decode(value.as_bytes()).map_err(|e| ProtocolError(e.to_string()))?;
    let mut records: Vec<ListenRecord> = Vec::new();
    // Indexes into `records`, hashed by their key (no second copy of it).
    let hasher = hashbrown::DefaultHashBuilder::default();
    let mut seen: hashbrown::HashTable<usize> = hashbrown::HashTable::new();
    let mut fields: [&str; 3] = [""; 3];
    let mut n = 0;
    let mut start = 0;
    // WS and LS are ASCII, never part of a multi-byte UTF-8 sequence, so
    // splitting the bytes keeps every piece valid UTF-8.
    for (i, &b) in decoded.as_bytes().iter().enumerate() {
        if b == WS as u8 {
            if n == 3 {
                return err("invalid probeModify");
            }
            fields[n] = &decoded[start..i];
            n += 1;
            start = i + 1;
        } else if b == LS as u8 {
            let last = &decoded[start..i];
            start = i + 1;
            let rec = match n {
                2 => ListenRecord::new(fields[0], fields[1], "", ClientMd5::parse(last)),
                3 => ListenRecord::new(fields[0], fields[1], last, ClientMd5::parse(fields[2])),
                _ => return err("invalid probeModify"),
            };
            n = 0;
            let hash = hasher.hash_one(rec.group_key());
            match seen.find(hash, |&at| records[at].group_key() == rec.group_key()) {
                Some(&at) => records[at] = rec,
                None => {
                    if records.len() >= max_keys {
                        return err("invalid probeModify");
                    }
                    seen.insert_unique(hash, records.len(), |&at| {
                        hasher.hash_one(records[at].group_key())
                    });
                    records.push(rec);
                }
            }
        }
    }
    Ok(records)
}

/// Appends one changed key to a listener reply in Java `URLEncoder` form:
/// `dataId%02group[%02tenant]%01` (tenant only when non-blank).
pub fn encode_changed_key(out: &mut Vec<u8>, data_id: &str, group: &str, tenant: &str) {
    let mut push =
        |s: &str| out.extend(form_urlencoded::byte_serialize(s.as_bytes()).flat_map(str::bytes));
    push(data_id);
    push("\u{2}");
    push(group);
    if !is_blank(tenant) {
        push("\u{2}");
        push(tenant);
    }
    push("\u{1}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_vectors() {
        let check =
            |s: &str, hex: &str| assert_eq!(Md5Hex::of(s.as_bytes()).as_str(), hex, "{s:?}");
        check("hello", "5d41402abc4b2a76b9719d911017c592");
        check("contentTest", "9f67e6977b100e00cab385a75597db58");
        check("k=v\n", "a2b61a3fe44d6941c7e5dfecd2cb191c");
        check("名字=值", "3fb67cafab5d1c9b352dea20b799274e");
    }

    #[test]
    fn identifiers() {
        for ok in ["app.yaml", "配置.yaml", "a_b-c:d", "Ünïcödé", "x1"] {
            assert!(is_valid_ident(ok), "{ok}");
        }
        for bad in [
            "a b", "a/b", "a+b", "a%b", "a@b", "a#", "a=b", "a&b", "*", "?", "Ⅻ", "²", "😀",
        ] {
            assert!(!is_valid_ident(bad), "{bad}");
        }
        assert_eq!(check_data_id("a/b"), err("invalid dataId : a/b"));
        assert_eq!(check_data_id(" a "), Ok(()));
        assert_eq!(check_group(""), err("invalid group : "));
        assert_eq!(check_tenant("a b"), err("invalid tenant"));
        assert_eq!(
            check_tenant(&"t".repeat(129)),
            err("too long tag, over 128")
        );
        assert_eq!(check_content("  \n", 10), err("content is blank :   \n"));
        assert_eq!(
            check_content("abcdefghijk", 10),
            err("invalid content, over 10")
        );
        assert_eq!(check_content("配置配置", 4), Ok(()));
    }

    #[test]
    fn tenants_canonicalise() {
        for public in ["", " ", "public", "PUBLIC", "null", "Null"] {
            assert_eq!(canonical_tenant(public), "", "{public:?}");
        }
        assert_eq!(canonical_tenant("dev"), "dev");
    }

    #[test]
    fn group_keys_round_trip() {
        let check = |d: &str, g: &str, t: &str, key: &str| {
            assert_eq!(group_key(d, g, t), key);
            assert_eq!(parse_group_key(key), Some((d.into(), g.into(), t.into())));
        };
        check("app.yaml", "DEFAULT_GROUP", "", "app.yaml+DEFAULT_GROUP");
        check(
            "app.yaml",
            "DEFAULT_GROUP",
            "dev",
            "app.yaml+DEFAULT_GROUP+dev",
        );
        check("a+b", "G%1", "", "a%2Bb+G%251");
        assert_eq!(parse_group_key("a+"), None);
        assert_eq!(parse_group_key("a%41+b"), None);
    }

    fn rec(d: &str, g: &str, m: &str, t: &str) -> ListenRecord {
        ListenRecord::new(d, g, t, ClientMd5::parse(m))
    }

    #[test]
    fn listening_configs() {
        let md5 = "a2b61a3fe44d6941c7e5dfecd2cb191c";
        let v = format!(
            "a\u{2}G\u{2}{md5}\u{1}b\u{2}G\u{2}\u{2}dev\u{1}c\u{2}G\u{2}\u{2}\u{1}trailing"
        );
        assert_eq!(
            parse_listening_configs(&v, 10).unwrap(),
            vec![
                rec("a", "G", md5, ""),
                rec("b", "G", "", "dev"),
                rec("c", "G", "", "")
            ]
        );
        // Later duplicates win; `public` and empty are one key.
        let v = "a\u{2}G\u{2}x\u{2}public\u{1}a\u{2}G\u{2}\u{1}";
        assert_eq!(
            parse_listening_configs(v, 10).unwrap(),
            vec![rec("a", "G", "", "")]
        );
        for bad in [
            "",
            "  ",
            "a\u{1}",
            "a\u{2}\u{1}x",
            "a\u{2}b\u{2}c\u{2}d\u{2}e\u{1}",
            "%zz",
        ] {
            assert!(parse_listening_configs(bad, 10).is_err(), "{bad:?}");
        }
        let many: String = (0..11).map(|i| format!("k{i}\u{2}G\u{2}\u{1}")).collect();
        assert!(parse_listening_configs(&many, 10).is_err());
        assert_eq!(parse_listening_configs(&many, 11).unwrap().len(), 11);
        // The second decode turns `+` into a space, as Nacos does.
        assert_eq!(
            parse_listening_configs("a+b\u{2}G\u{2}\u{1}", 1).unwrap()[0].data_id,
            "a b"
        );
    }

    #[test]
    fn reply_encoding() {
        let mut out = Vec::new();
        encode_changed_key(&mut out, "app.properties", "DEFAULT_GROUP", "dev");
        encode_changed_key(&mut out, "配置:x y", "G", "");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "app.properties%02DEFAULT_GROUP%02dev%01%E9%85%8D%E7%BD%AE%3Ax+y%02G%01"
        );
    }

    #[test]
    fn client_md5() {
        let h = Md5Hex::of(b"hello");
        assert!(ClientMd5::parse("").matches(None));
        assert!(!ClientMd5::parse("").matches(Some(&h)));
        assert!(ClientMd5::parse(h.as_str()).matches(Some(&h)));
        assert!(!ClientMd5::parse(&h.as_str().to_uppercase()).matches(Some(&h)));
        assert!(!ClientMd5::parse("zzz").matches(None));
    }

    #[test]
    fn metadata_limits() {
        let m = Metadata {
            config_tags: Some("a,b,c,d,e,f".into()),
            ..Default::default()
        };
        assert_eq!(check_metadata(&m), err("too much config_tags, over 5"));
        let m = Metadata {
            desc: Some("d".repeat(129)),
            ..Default::default()
        };
        assert_eq!(check_metadata(&m), err("too long desc, over 128"));
        assert_eq!(normalize_type(Some("foo")), "text");
        assert_eq!(normalize_type(Some("yaml")), "yaml");
    }

    /// What a client puts on the wire: records joined, then form-encoded
    /// (the value of `Listening-Configs`, as `url_decode` will see it).
    fn client_encode(records: &[(String, String, String, Option<String>)]) -> String {
        let raw: String = records
            .iter()
            .map(|(d, g, m, t)| match t {
                None => format!("{d}\u{2}{g}\u{2}{m}\u{1}"),
                Some(t) => format!("{d}\u{2}{g}\u{2}{m}\u{2}{t}\u{1}"),
            })
            .collect();
        form_urlencoded::byte_serialize(raw.as_bytes()).collect()
    }

    proptest::proptest! {
        /// Records a client encodes decode back to the same records: any
        /// identifiers (letters, digits, `_-.:` and CJK), any md5 (empty,
        /// hex or junk), 3- and 4-field forms mixed.
        #[test]
        fn listening_configs_round_trip(
            records in proptest::collection::vec(
                (
                    "[a-zA-Z0-9_.:配置-]{1,12}",
                    "[A-Z_]{1,8}",
                    proptest::prop_oneof![
                        proptest::strategy::Just(String::new()),
                        "[0-9a-f]{32}",
                        "[A-Z0-9]{1,5}",
                    ],
                    proptest::option::of("[a-z0-9-]{0,6}"),
                ),
                1..20,
            )
        ) {
            // Later duplicates win, so keep only the last of each key.
            let mut expect: Vec<ListenRecord> = Vec::new();
            for (d, g, m, t) in &records {
                let rec = ListenRecord::new(d, g, t.as_deref().unwrap_or(""), ClientMd5::parse(m));
                match expect.iter().position(|e| e.group_key() == rec.group_key()) {
                    Some(i) => expect[i] = rec,
                    None => expect.push(rec),
                }
            }
            let value = client_encode(&records);
            let got = parse_listening_configs(&value, MAX_KEYS_PER_LISTENER).expect("decodes");
            proptest::prop_assert_eq!(got, expect);
        }
    }
}
