//! From unpacked entries to a validated [`Batch`], and the policy tally that
//! becomes the result JSON (spec §2.2-§2.5, §3).
//!
//! Every item is validated before anything is written: one invalid item
//! fails the whole import with Nacos's 400 text, and nothing is stored.

use super::meta::{self, MetaError};
use super::zip_in::Entry;
use super::Code;
use crate::protocol::{self, is_blank, ProtocolError};
use serde_json::{json, Value};
use std::collections::HashMap;

/// What to do when a key already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Abort,
    Skip,
    Overwrite,
}

impl Policy {
    /// `ABORT` (the default when blank), `SKIP` or `OVERWRITE`.
    pub fn parse(s: Option<&str>) -> Result<Policy, ProtocolError> {
        match s.map(str::trim) {
            None | Some("") | Some("ABORT") => Ok(Policy::Abort),
            Some("SKIP") => Ok(Policy::Skip),
            Some("OVERWRITE") => Ok(Policy::Overwrite),
            Some(other) => Err(ProtocolError(format!("invalid policy : {other}"))),
        }
    }
}

/// One config to import or clone, already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub data_id: String,
    pub group: String,
    pub content: String,
    pub config_type: &'static str,
    pub desc: Option<String>,
    pub app_name: Option<String>,
}

/// A whole import or clone, applied by the writer in one savepoint.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Canonical target namespace.
    pub tenant: String,
    pub policy: Policy,
    pub items: Vec<Item>,
    /// Entry names that were not configs (`unrecognizedData`), import only.
    pub unrecognized: Vec<String>,
    pub src_ip: String,
    pub src_user: Option<String>,
    /// The success message (import or clone).
    pub message: &'static str,
}

/// Why an archive cannot become a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// An envelope code (HTTP 200, `{"succCount":0}`).
    Code(Code),
    /// An invalid item: HTTP 400 `caused: <message>;`, nothing stored.
    Invalid(ProtocolError),
}

impl From<MetaError> for PlanError {
    fn from(_: MetaError) -> PlanError {
        PlanError::Code(Code::MetadataIllegal)
    }
}

/// The type Nacos derives from a dataId's extension when none is given.
pub fn type_from_extension(data_id: &str) -> &'static str {
    let ext = data_id.rsplit_once('.').map_or("", |(_, e)| e);
    match ext {
        "yml" | "yaml" => "yaml",
        "txt" | "text" => "text",
        "json" => "json",
        "xml" => "xml",
        "htm" | "html" => "html",
        "properties" => "properties",
        _ => "text",
    }
}

/// Validates an item as a publish would (spec §2.4).
pub fn check_item(item: &Item, max_content_chars: usize) -> Result<(), ProtocolError> {
    protocol::check_data_id(&item.data_id)?;
    protocol::check_group(&item.group)?;
    protocol::check_content(&item.content, max_content_chars)?;
    protocol::check_metadata(&protocol::Metadata {
        desc: item.desc.clone(),
        ..protocol::Metadata::default()
    })
}

/// `<group>/<dataId>`, or `None` for a name that is not exactly that.
fn split_name(name: &str) -> Option<(&str, &str)> {
    let mut parts = name.split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(g), Some(d), None) if !g.is_empty() && !d.is_empty() => Some((g, d)),
        _ => None,
    }
}

/// Turns unpacked entries into items: metadata applied, names checked,
/// every item validated. `metadata` is the first `.meta.yml` or
/// `.metadata.yml` entry, already taken out of `entries`.
pub fn plan_import(
    entries: Vec<Entry>,
    metadata: Option<Entry>,
    max_content_chars: usize,
) -> Result<(Vec<Item>, Vec<String>), PlanError> {
    let mut items = Vec::new();
    let mut unrecognized = Vec::new();
    match metadata {
        Some(m) if m.name == meta::V2_NAME => {
            let mut wanted: HashMap<(String, String), meta::V2Item> = HashMap::new();
            let mut order = Vec::new();
            for it in meta::parse_v2(&m.content)? {
                let key = (it.group.clone(), it.data_id.clone());
                if !wanted.contains_key(&key) {
                    order.push(key.clone());
                }
                wanted.insert(key, it);
            }
            let mut found = std::collections::HashSet::new();
            for e in entries {
                let Some((group, data_id)) = split_name(&e.name) else {
                    unrecognized.push(e.name);
                    continue;
                };
                let key = (group.to_owned(), data_id.to_owned());
                let Some(m) = wanted.get(&key) else {
                    unrecognized.push(format!("未在元数据中找到: {}", e.name));
                    continue;
                };
                found.insert(key);
                items.push(Item {
                    data_id: m.data_id.clone(),
                    group: m.group.clone(),
                    content: e.content,
                    config_type: protocol::normalize_type(Some(&m.config_type)),
                    desc: m.desc.clone(),
                    app_name: m.app_name.clone(),
                });
            }
            for (group, data_id) in order.into_iter().filter(|k| !found.contains(k)) {
                unrecognized.push(format!("未在文件中找到: {group}/{data_id}"));
            }
        }
        other => {
            let apps = match other {
                Some(m) => meta::parse_v1(&m.content)?,
                None => HashMap::new(),
            };
            for e in entries {
                let Some((group, data_id)) = split_name(&e.name) else {
                    unrecognized.push(e.name);
                    continue;
                };
                items.push(Item {
                    data_id: data_id.to_owned(),
                    group: group.to_owned(),
                    app_name: apps.get(&meta::v1_key(group, data_id)).cloned(),
                    config_type: type_from_extension(data_id),
                    desc: None,
                    content: e.content,
                });
            }
        }
    }
    if items.is_empty() {
        return Err(PlanError::Code(Code::DataEmpty));
    }
    for item in &items {
        check_item(item, max_content_chars).map_err(PlanError::Invalid)?;
    }
    Ok((items, unrecognized))
}

/// The counts and lists of a result (spec §2.5), filled as the writer goes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    pub succ: usize,
    pub skip: usize,
    pub fail: Vec<(String, String)>,
    pub skipped: Vec<(String, String)>,
}

fn pair(item: &Item) -> (String, String) {
    (item.data_id.clone(), item.group.clone())
}

impl Tally {
    pub fn imported(&mut self) {
        self.succ += 1;
    }

    /// `SKIP` on an existing key.
    pub fn skipped(&mut self, item: &Item) {
        self.skip += 1;
        self.skipped.push(pair(item));
    }

    /// `ABORT` on an existing key: it fails and every later item is listed
    /// as skipped (without counting, as Nacos does).
    pub fn aborted(&mut self, item: &Item, rest: &[Item]) {
        self.fail.push(pair(item));
        self.skipped.extend(rest.iter().map(pair));
    }

    /// The `data` object of a successful answer.
    pub fn to_json(&self, unrecognized: &[String]) -> Value {
        let list = |v: &[(String, String)]| -> Value {
            v.iter()
                .map(|(d, g)| json!({"dataId": d, "group": g}))
                .collect()
        };
        let mut data = json!({"succCount": self.succ, "skipCount": self.skip});
        if !self.fail.is_empty() {
            data["failData"] = list(&self.fail);
        }
        if !self.skipped.is_empty() {
            data["skipData"] = list(&self.skipped);
        }
        if !unrecognized.is_empty() {
            data["unrecognizedCount"] = json!(unrecognized.len());
            data["unrecognizedData"] = unrecognized
                .iter()
                .map(|n| json!({"itemName": n}))
                .collect();
        }
        data
    }
}

/// Whether a clone body entry names a new dataId or group (blank: keep).
pub fn override_of(s: Option<&str>) -> Option<String> {
    s.filter(|v| !is_blank(v)).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, content: &str) -> Entry {
        Entry {
            name: name.into(),
            content: content.into(),
        }
    }

    #[test]
    fn types_from_extensions() {
        for (id, t) in [
            ("a.yml", "yaml"),
            ("a.yaml", "yaml"),
            ("a.txt", "text"),
            ("a.text", "text"),
            ("a.json", "json"),
            ("a.xml", "xml"),
            ("a.htm", "html"),
            ("a.html", "html"),
            ("a.properties", "properties"),
            ("a.conf", "text"),
            ("noext", "text"),
        ] {
            assert_eq!(type_from_extension(id), t, "{id}");
        }
    }

    #[test]
    fn v1_import_with_apps_and_unrecognized_names() {
        let meta = entry(meta::V1_NAME, "G.app~yaml.app=order\r\n");
        let (items, unrec) = plan_import(
            vec![
                entry("G/app.yaml", "a: 1"),
                entry("toplevel", "x"),
                entry("a/b/c", "x"),
            ],
            Some(meta),
            100,
        )
        .unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].app_name.as_deref(), Some("order"));
        assert_eq!(items[0].config_type, "yaml");
        assert_eq!(unrec, vec!["toplevel", "a/b/c"]);
    }

    #[test]
    fn v2_import_reports_both_kinds_of_mismatch() {
        let meta = entry(
            meta::V2_NAME,
            "metadata:\n- dataId: a\n  group: G\n  type: json\n- dataId: gone\n  group: G\n  type: text\n",
        );
        let (items, unrec) = plan_import(
            vec![entry("G/a", "{}"), entry("G/extra", "x")],
            Some(meta),
            100,
        )
        .unwrap();
        assert_eq!(items[0].config_type, "json");
        assert_eq!(
            unrec,
            vec!["未在元数据中找到: G/extra", "未在文件中找到: G/gone"]
        );
    }

    #[test]
    fn failures() {
        let cases: Vec<(Vec<Entry>, Option<Entry>, PlanError)> = vec![
            (vec![], None, PlanError::Code(Code::DataEmpty)),
            (
                vec![entry("G/a", "x")],
                Some(entry(meta::V1_NAME, "no-equals\r\n")),
                PlanError::Code(Code::MetadataIllegal),
            ),
            (
                vec![entry("G/a", "x")],
                Some(entry(meta::V2_NAME, "metadata: []\n")),
                PlanError::Code(Code::MetadataIllegal),
            ),
            (
                vec![entry("G/bad id", "x")],
                None,
                PlanError::Invalid(ProtocolError("invalid dataId : bad id".into())),
            ),
            (
                vec![entry("G/a", " ")],
                None,
                PlanError::Invalid(ProtocolError("content is blank :  ".into())),
            ),
            (
                vec![entry("G/a", "x".repeat(101).as_str())],
                None,
                PlanError::Invalid(ProtocolError("invalid content, over 100".into())),
            ),
        ];
        for (entries, meta, want) in cases {
            assert_eq!(plan_import(entries, meta, 100).unwrap_err(), want);
        }
    }

    #[test]
    fn tally_json() {
        let it = |d: &str| Item {
            data_id: d.into(),
            group: "G".into(),
            content: "c".into(),
            config_type: "text",
            desc: None,
            app_name: None,
        };
        let mut t = Tally::default();
        t.imported();
        t.aborted(&it("b"), &[it("c")]);
        assert_eq!(
            t.to_json(&["x".into()]).to_string(),
            r#"{"failData":[{"dataId":"b","group":"G"}],"skipCount":0,"skipData":[{"dataId":"c","group":"G"}],"succCount":1,"unrecognizedCount":1,"unrecognizedData":[{"itemName":"x"}]}"#
        );
        assert_eq!(Policy::parse(None).unwrap(), Policy::Abort);
        assert_eq!(Policy::parse(Some("SKIP")).unwrap(), Policy::Skip);
        assert!(Policy::parse(Some("nope")).is_err());
    }
}
