//! The end of a run: a plain two-column table for people and one line of
//! JSON for scripts, both on stdout, the JSON last.
//!
//! A report also carries the run's checks; a failed check makes the process
//! exit with status 2 and is listed in both outputs. The JSON holds what the
//! HTML report plots (latency histograms as `hists`, per-round wake-up
//! histograms, server samples), the table's rows (`table`) and the command
//! line, so a saved JSON line is enough to redraw or compare a run.

use crate::hist::{Hist, Summary};
use serde_json::{json, Map, Value};
use std::fmt::Write as _;

pub struct Report {
    rows: Vec<(String, String)>,
    json: Map<String, Value>,
    failures: Vec<String>,
}

impl Report {
    pub fn new(scenario: &str) -> Report {
        let mut r = Report {
            rows: Vec::new(),
            json: Map::new(),
            failures: Vec::new(),
        };
        r.text("scenario", "scenario", scenario);
        r
    }

    /// A number (integers print without decimals).
    pub fn num(&mut self, key: &str, label: &str, v: f64) {
        let shown = if v.fract() == 0.0 && v.abs() < 1e15 {
            format!("{}", v as i64)
        } else {
            let text = format!("{v:.3}");
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        };
        self.rows.push((label.into(), shown));
        self.json.insert(key.into(), json!(v));
    }

    pub fn count(&mut self, key: &str, label: &str, v: u64) {
        self.rows.push((label.into(), v.to_string()));
        self.json.insert(key.into(), json!(v));
    }

    pub fn text(&mut self, key: &str, label: &str, v: &str) {
        self.rows.push((label.into(), v.into()));
        self.json.insert(key.into(), json!(v));
    }

    pub fn latency(&mut self, key: &str, label: &str, s: &Summary) {
        let shown = format!(
            "n={} p50={:.3} p90={:.3} p99={:.3} p99.9={:.3} max={:.3} ms",
            s.count, s.p50_ms, s.p90_ms, s.p99_ms, s.p999_ms, s.max_ms
        );
        self.rows.push((label.into(), shown));
        self.json.insert(key.into(), json!(s));
    }

    /// A latency histogram to plot (JSON only, under `hists`).
    pub fn hist(&mut self, key: &str, title: &str, h: &Hist) {
        let hists = self
            .json
            .entry("hists")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = hists {
            m.insert(key.into(), json!({ "title": title, "hist": h.to_pairs() }));
        }
    }

    /// A value in the JSON only (e.g. per-round details), with an optional row.
    pub fn json_only(&mut self, key: &str, v: Value) {
        self.json.insert(key.into(), v);
    }

    pub fn row(&mut self, label: &str, shown: String) {
        self.rows.push((label.into(), shown));
    }

    /// Records a check; a failing one makes the run fail.
    pub fn check(&mut self, passed: bool, what: impl Into<String>) {
        if !passed {
            self.failures.push(what.into());
        }
    }

    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }

    /// The whole JSON object, verdict and table rows included.
    pub fn json(&self) -> Value {
        let mut j = self.json.clone();
        j.insert("ok".into(), json!(self.ok()));
        j.insert("failures".into(), json!(self.failures));
        j.insert("table".into(), json!(self.rows));
        Value::Object(j)
    }

    /// The table, then the JSON line.
    pub fn render(&mut self) -> String {
        let ok = self.ok();
        let width = self.rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        let mut out = String::new();
        let rule = "-".repeat(width + 40);
        let _ = writeln!(out, "{rule}");
        for (label, value) in &self.rows {
            let _ = writeln!(out, "{label:<width$}  {value}");
        }
        let verdict = if ok {
            "PASS".to_string()
        } else {
            format!("FAIL: {}", self.failures.join("; "))
        };
        let _ = writeln!(out, "{:<width$}  {verdict}", "result");
        let _ = writeln!(out, "{rule}");
        let _ = writeln!(out, "{}", self.json());
        out
    }
}

/// The last line of `text` that is a JSON object: a run's report whether
/// `text` is that line alone or the run's whole stdout.
pub fn last_json_line(text: &str) -> Option<Value> {
    text.lines()
        .rev()
        .filter(|l| l.trim_start().starts_with('{'))
        .find_map(|l| {
            serde_json::from_str::<Value>(l)
                .ok()
                .filter(Value::is_object)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_then_json_line() {
        let mut r = Report::new("fanout");
        r.count("lost", "lost wake-ups", 0);
        r.num("rate", "rate /s", 12.5);
        r.check(false, "dup wake-ups: 2");
        let text = r.render();
        let last = text.lines().last().unwrap();
        let v: Value = serde_json::from_str(last).unwrap();
        assert_eq!(v["scenario"], "fanout");
        assert_eq!(v["lost"], 0);
        assert_eq!(v["ok"], false);
        assert!(text.contains("lost wake-ups  0\n"), "{text}");
        assert!(text.contains("rate /s        12.5\n"), "{text}");
        assert!(text.contains("FAIL: dup wake-ups: 2"), "{text}");
        assert_eq!(last_json_line(&text), Some(v));
        assert_eq!(last_json_line("no json\n{broken\n"), None);
    }
}
