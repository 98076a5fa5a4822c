//! The end of a run: a plain two-column table for people and one line of
//! JSON for scripts, both on stdout, the JSON last.
//!
//! A report also carries the run's checks; a failed check makes the process
//! exit with status 2 and is listed in both outputs.

use crate::hist::Summary;
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
            format!("{v:.3}")
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

    /// The table, then the JSON line.
    pub fn render(&mut self) -> String {
        let ok = self.ok();
        self.json.insert("ok".into(), json!(ok));
        self.json.insert("failures".into(), json!(self.failures));
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
        let _ = writeln!(out, "{}", Value::Object(self.json.clone()));
        out
    }
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
        assert!(text.contains("FAIL: dup wake-ups: 2"), "{text}");
    }
}
