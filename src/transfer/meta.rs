//! The two metadata entries of an export zip (spec §1, §2.2, §2.3).
//!
//! v1 `.meta.yml` is not YAML: one `<group>.<dataId, last '.' as '~'>.app=
//! <appName>\r\n` line per config with an app name. v2 `.metadata.yml` is
//! what SnakeYAML's `dumpAsMap` writes for `{metadata: [items]}`: block
//! style, keys in alphabetical order, nulls left out, scalars plain unless
//! they need quotes. It is read back with a real YAML parser, so any YAML
//! that means the same list imports too.

use crate::protocol::is_blank;
use std::collections::HashMap;
use yaml_rust2::{Yaml, YamlLoader};

pub const V1_NAME: &str = ".meta.yml";
pub const V2_NAME: &str = ".metadata.yml";

/// The metadata is not what Nacos accepts (`METADATA_ILLEGAL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaError;

/// One config's v2 metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Item {
    pub app_name: Option<String>,
    pub data_id: String,
    pub desc: Option<String>,
    pub group: String,
    pub config_type: String,
}

/// The v1 key of a config: `<group>.<dataId with its last '.' as '~'>.app`.
pub fn v1_key(group: &str, data_id: &str) -> String {
    let id = match data_id.rsplit_once('.') {
        Some((head, tail)) => format!("{head}~{tail}"),
        None => data_id.to_owned(),
    };
    format!("{group}.{id}.app")
}

/// Renders v1 metadata for `(group, dataId, appName)` rows; `None` when no
/// row has an app name (Nacos then writes no entry).
pub fn render_v1<'a>(
    rows: impl Iterator<Item = (&'a str, &'a str, Option<&'a str>)>,
) -> Option<String> {
    let mut out = String::new();
    for (group, data_id, app) in rows {
        if let Some(app) = app.filter(|a| !is_blank(a)) {
            out.push_str(&v1_key(group, data_id));
            out.push('=');
            out.push_str(app);
            out.push_str("\r\n");
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Java's `String.split(regex)`: trailing empty strings dropped, and no
/// match at all gives the whole input.
fn java_split(s: &str, sep: impl Fn(char) -> bool) -> Vec<&str> {
    let mut parts: Vec<&str> = s.split(sep).collect();
    while parts.len() > 1 && parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    parts
}

/// Parses v1 metadata into key -> appName. Lines split on runs of CR/LF;
/// each must split on `=` into exactly two parts.
pub fn parse_v1(text: &str) -> Result<HashMap<String, String>, MetaError> {
    let mut lines = java_split(text, |c| c == '\r' || c == '\n');
    // `split("[\r\n]+")` treats a run as one separator: drop the empty
    // pieces between consecutive breaks, but keep a leading one, as Java does.
    let first = lines.first().copied();
    lines.retain(|l| !l.is_empty());
    if first == Some("") {
        lines.insert(0, "");
    }
    let mut map = HashMap::new();
    for line in lines {
        match java_split(line, |c| c == '=').as_slice() {
            [k, v] => {
                map.insert((*k).to_owned(), (*v).to_owned());
            }
            _ => return Err(MetaError),
        }
    }
    Ok(map)
}

/// Whether SnakeYAML's resolver would read a plain scalar as something
/// other than a string (so it must be quoted to stay one).
fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: [&str; 23] = [
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "~",
    ];
    if WORDS.contains(&s) || matches!(s, "null" | "Null" | "NULL" | "" | "=" | "<<") {
        return true;
    }
    let lower = s.to_ascii_lowercase();
    if matches!(lower.trim_start_matches(['+', '-']), ".inf" | ".nan") {
        return true;
    }
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let digits =
        |t: &str, ok: fn(char) -> bool| !t.is_empty() && t.chars().all(|c| ok(c) || c == '_');
    let int = body == "0"
        || body
            .strip_prefix("0x")
            .is_some_and(|t| digits(t, |c| c.is_ascii_hexdigit()))
        || body
            .strip_prefix("0b")
            .is_some_and(|t| digits(t, |c| matches!(c, '0' | '1')))
        || body
            .strip_prefix('0')
            .is_some_and(|t| digits(t, |c| matches!(c, '0'..='7')))
        || (body.starts_with(|c: char| matches!(c, '1'..='9'))
            && body
                .chars()
                .all(|c| c.is_ascii_digit() || c == '_' || c == ':'));
    // YAML 1.1 floats: `[0-9_]*` `.` `[0-9.]*` and an optional signed exponent.
    let float = body.split_once('.').is_some_and(|(whole, frac)| {
        let (frac, exp) = match frac.split_once(['e', 'E']) {
            Some((f, e)) => (f, Some(e)),
            None => (frac, None),
        };
        whole.chars().all(|c| c.is_ascii_digit() || c == '_')
            && frac.chars().all(|c| c.is_ascii_digit() || c == '.')
            && exp.is_none_or(|e| {
                e.strip_prefix(['+', '-'])
                    .is_some_and(|d| digits(d, |c| c.is_ascii_digit()))
            })
            && (whole.chars().any(|c| c.is_ascii_digit())
                || frac.chars().any(|c| c.is_ascii_digit()))
    });
    int || float
}

/// SnakeYAML's printable set.
fn printable(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7e}' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

/// One scalar as SnakeYAML's block emitter writes it.
pub fn yaml_scalar(s: &str) -> String {
    let needs_double = s
        .chars()
        .any(|c| !printable(c) || matches!(c, '\n' | '\r' | '\t' | '\u{85}' | '\u{feff}'));
    if needs_double {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\0' => out.push_str("\\0"),
                c if printable(c) && c != '\u{85}' && c != '\u{feff}' => out.push(c),
                c if (c as u32) <= 0xff => out.push_str(&format!("\\x{:02X}", c as u32)),
                c => out.push_str(&format!("\\u{:04X}", c as u32)),
            }
        }
        out.push('"');
        return out;
    }
    let first = s.chars().next();
    let second = s.chars().nth(1);
    let followed_by_space = |i: usize| s[i..].chars().nth(1).is_none_or(|c| c == ' ');
    let bad_start = match first {
        None => true,
        Some('-' | '?' | ':') => second.is_none_or(|c| c == ' '),
        Some(c) => "#,[]{}&*!|>'\"%@`".contains(c) || c == ' ',
    };
    let bad_inside = s
        .char_indices()
        .any(|(i, c)| (c == ':' && followed_by_space(i)) || (c == '#' && s[..i].ends_with(' ')));
    if bad_start || bad_inside || s.ends_with(' ') || resolves_to_non_string(s) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    s.to_owned()
}

/// Renders v2 metadata exactly as Nacos's export does.
pub fn render_v2(items: &[V2Item]) -> String {
    if items.is_empty() {
        return "metadata: []\n".to_owned();
    }
    let mut out = String::from("metadata:\n");
    for it in items {
        let fields = [
            ("appName", it.app_name.as_deref()),
            ("dataId", Some(it.data_id.as_str())),
            ("desc", it.desc.as_deref()),
            ("group", Some(it.group.as_str())),
            ("type", Some(it.config_type.as_str())),
        ];
        let mut lead = "- ";
        for (name, value) in fields {
            if let Some(v) = value {
                out.push_str(lead);
                out.push_str(name);
                out.push_str(": ");
                out.push_str(&yaml_scalar(v));
                out.push('\n');
                lead = "  ";
            }
        }
    }
    out
}

/// A scalar field of a metadata item as a string (numbers and booleans
/// count: SnakeYAML would have quoted them, a hand-written file may not).
fn scalar(item: &Yaml, name: &str) -> Option<String> {
    match &item[name] {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Parses v2 metadata: a non-empty `metadata` list whose every item has a
/// non-blank dataId, group and type.
pub fn parse_v2(text: &str) -> Result<Vec<V2Item>, MetaError> {
    let docs = YamlLoader::load_from_str(text).map_err(|_| MetaError)?;
    let list = docs
        .first()
        .and_then(|d| d["metadata"].as_vec())
        .filter(|l| !l.is_empty())
        .ok_or(MetaError)?;
    list.iter()
        .map(|y| {
            let required = |name| scalar(y, name).filter(|v| !is_blank(v)).ok_or(MetaError);
            Ok(V2Item {
                data_id: required("dataId")?,
                group: required("group")?,
                config_type: required("type")?,
                app_name: scalar(y, "appName"),
                desc: scalar(y, "desc"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(app: Option<&str>, id: &str, desc: Option<&str>, group: &str, t: &str) -> V2Item {
        V2Item {
            app_name: app.map(Into::into),
            data_id: id.into(),
            desc: desc.map(Into::into),
            group: group.into(),
            config_type: t.into(),
        }
    }

    #[test]
    fn v2_renders_as_snakeyaml_and_parses_back() {
        let items = vec![
            item(None, "testData1", None, "testGroup1", "text"),
            item(
                Some("testAppName"),
                "testData2",
                Some("test desc"),
                "testGroup2",
                "yaml",
            ),
        ];
        let text = render_v2(&items);
        assert_eq!(
            text,
            "metadata:\n- dataId: testData1\n  group: testGroup1\n  type: text\n- appName: testAppName\n  dataId: testData2\n  desc: test desc\n  group: testGroup2\n  type: yaml\n"
        );
        assert_eq!(parse_v2(&text).unwrap(), items);
        assert_eq!(render_v2(&[]), "metadata: []\n");
    }

    #[test]
    fn scalars_that_need_quotes() {
        for (raw, want) in [
            ("plain.text-1:x", "plain.text-1:x"),
            ("", "''"),
            ("true", "'true'"),
            ("1.0", "'1.0'"),
            ("123", "'123'"),
            ("null", "'null'"),
            ("a: b", "'a: b'"),
            ("ends:", "'ends:'"),
            ("x #y", "'x #y'"),
            ("#x", "'#x'"),
            ("it's", "it's"),
            ("'q'", "'''q'''"),
            (" lead", "' lead'"),
            ("two\nlines", "\"two\\nlines\""),
            ("中文 描述", "中文 描述"),
            ("-x", "-x"),
            ("- x", "'- x'"),
        ] {
            assert_eq!(yaml_scalar(raw), want, "{raw:?}");
            let back = parse_v2(&render_v2(&[item(None, "d", Some(raw), "g", "text")])).unwrap();
            assert_eq!(back[0].desc.as_deref(), Some(raw), "{raw:?} round trip");
        }
    }

    #[test]
    fn v2_rejections() {
        for bad in [
            "",
            "metadata:\n",
            "metadata: []\n",
            "other: 1\n",
            "metadata:\n- dataId: a\n  group: G\n",
            "metadata:\n- dataId: ' '\n  group: G\n  type: text\n",
            "metadata: [unclosed\n",
        ] {
            assert_eq!(parse_v2(bad), Err(MetaError), "{bad:?}");
        }
    }

    #[test]
    fn v1_render_and_parse() {
        let rows = [
            ("DEFAULT_GROUP", "app.yaml", Some("order-svc")),
            ("G", "noext", Some("a")),
            ("G", "x.y.z", None),
        ];
        let text = render_v1(rows.into_iter()).unwrap();
        assert_eq!(
            text,
            "DEFAULT_GROUP.app~yaml.app=order-svc\r\nG.noext.app=a\r\n"
        );
        let map = parse_v1(&text).unwrap();
        assert_eq!(map[&v1_key("DEFAULT_GROUP", "app.yaml")], "order-svc");
        assert_eq!(v1_key("G", "x.y.z"), "G.x.y~z.app");
        assert!(render_v1([("G", "a", None)].into_iter()).is_none());
        for bad in ["", "a", "a=b=c", "a=", "\r\na=b", "a=b\r\nc"] {
            assert_eq!(parse_v1(bad), Err(MetaError), "{bad:?}");
        }
        assert_eq!(parse_v1("=b\n\na=c\r\n").unwrap().len(), 2);
    }
}
