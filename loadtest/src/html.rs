//! The HTML report: one self-contained page (inline SVG, no script, nothing
//! fetched) drawn from the JSON of one run, or of several runs on the same
//! axes (`--compare`).
//!
//! Everything comes from the report JSON (see `report`), so a saved JSON line
//! redraws exactly: the latency distributions (`hists`) as CDFs on a log
//! axis, the wake-ups of each fan-out round over time (`per_round[].wake_hist`),
//! the servers' CPU and RSS over the run (`server_samples`), the table rows and
//! the command line. The charts are drawn by `plotters`; this module only
//! chooses series, ranges and layout.

use crate::hist::HistPairs;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use serde_json::Value;
use std::fmt::Write as _;

/// Chart size in pixels.
const CHART_W: u32 = 760;
const CHART_H: u32 = 380;
/// Points drawn per line at most: enough for a smooth curve at this width,
/// few enough to keep a picture small.
const MAX_POINTS: usize = 400;
/// Fan-out rounds drawn one line each before only a few telling ones are.
const MAX_ROUND_LINES: usize = 8;
/// Server CPU is averaged over this many sample intervals (1 s at 250 ms).
const CPU_WINDOW_SAMPLES: usize = 4;
/// Series colours, in order (colour-blind-friendly "Tableau 10").
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// One line of a chart.
struct Series {
    label: String,
    points: Vec<(f64, f64)>,
    /// Which run it belongs to (in a comparison, a run has one colour).
    run: usize,
}

/// The page for `runs` (label, report JSON); one run is a plain report.
pub fn page(runs: &[(&str, Value)]) -> String {
    let labels: Vec<&str> = runs.iter().map(|(l, _)| *l).collect();
    let title = match runs {
        [(_, r)] => format!("loadtest {}", text_of(&r["scenario"])),
        _ => format!("loadtest: {}", labels.join(" vs ")),
    };
    let mut body = String::new();
    let _ = writeln!(body, "<h1>{}</h1>", esc(&title));
    for (label, run) in runs {
        let verdict = if run["ok"].as_bool() == Some(true) {
            "<span class=pass>PASS</span>".to_string()
        } else {
            let failures: Vec<String> = run["failures"]
                .as_array()
                .map(|a| a.iter().map(text_of).collect())
                .unwrap_or_default();
            format!(
                "<span class=fail>FAIL: {}</span>",
                esc(&failures.join("; "))
            )
        };
        let _ = writeln!(
            body,
            "<p><b>{}</b> ({}): {verdict}<br><code>{}</code></p>",
            esc(label),
            esc(&text_of(&run["scenario"])),
            esc(&text_of(&run["command"]))
        );
    }
    for (heading, svg) in charts(runs) {
        let _ = writeln!(
            body,
            "<h2>{}</h2>\n<div class=chart>{svg}</div>",
            esc(&heading)
        );
    }
    body.push_str(&table(runs));
    format!(
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>\
         <title>{}</title><style>{STYLE}</style></head>\n<body>\n{body}</body></html>\n",
        esc(&title)
    )
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:64em;color:#222}\
    table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}\
    code{font-size:90%;word-break:break-all}.pass{color:#2a2}.fail{color:#c22}\
    .chart svg{max-width:100%;height:auto}";

/// Every chart of `runs` as (file-name slug, SVG document), for `--svg-dir`.
pub fn chart_files(runs: &[(&str, Value)]) -> Vec<(String, String)> {
    charts(runs)
        .into_iter()
        .map(|(heading, svg)| {
            let words: Vec<String> = heading
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| !w.is_empty())
                .take(3)
                .map(str::to_ascii_lowercase)
                .collect();
            (words.join("-"), svg)
        })
        .collect()
}

/// Every chart the runs have data for: (heading, inline SVG).
fn charts(runs: &[(&str, Value)]) -> Vec<(String, String)> {
    let many = runs.len() > 1;
    let name = |run: &str, series: &str| {
        if many {
            format!("{run}: {series}")
        } else {
            series.to_string()
        }
    };
    let mut latency = Vec::new();
    let mut rounds = Vec::new();
    let mut cpu = Vec::new();
    let mut rss = Vec::new();
    for (ri, (label, run)) in runs.iter().enumerate() {
        if let Some(hists) = run["hists"].as_object() {
            for h in hists.values() {
                if let Some(points) = cdf(&h["hist"]) {
                    latency.push(Series {
                        label: name(label, &text_of(&h["title"])),
                        points,
                        run: ri,
                    });
                }
            }
        }
        let all_rounds = run["per_round"].as_array().cloned().unwrap_or_default();
        for r in shown_rounds(&all_rounds) {
            if let Some(points) = woken_over_time(&r["wake_hist"]) {
                rounds.push(Series {
                    label: name(label, &format!("round {}", r["round"])),
                    points,
                    run: ri,
                });
            }
        }
        let servers: Vec<String> = text_of(&run["server"])
            .split(',')
            .map(str::to_string)
            .collect();
        let (c, m) = server_series(&run["server_samples"], &servers);
        cpu.extend(c.into_iter().map(|mut s| {
            s.label = name(label, &s.label);
            s.run = ri;
            s
        }));
        rss.extend(m.into_iter().map(|mut s| {
            s.label = name(label, &s.label);
            s.run = ri;
            s
        }));
    }
    let mut out = Vec::new();
    if !latency.is_empty() {
        let (lo, hi) = x_range(&latency);
        let (lo, hi) = (lo.max(0.001) * 0.9, hi * 1.1);
        let x = (lo..hi).log_scale().with_key_points(key_points_125(lo, hi));
        let svg = draw(
            &latency,
            x,
            0.0..1.0,
            "latency, ms (log)",
            "fraction of requests ≤ x",
        );
        out.push(("Latency distribution (CDF)".into(), svg));
    }
    if !rounds.is_empty() {
        let (_, hi) = x_range(&rounds);
        let svg = draw(
            &rounds,
            0.0..hi * 1.05,
            0.0..100.0,
            "ms since the publish was sent",
            "% of listeners woken",
        );
        out.push((
            "Wake-ups over time in each fan-out round (how the last listener trails the first)"
                .into(),
            svg,
        ));
    }
    for (what, series, unit) in [
        ("Server CPU", cpu, "% of one core (1 s average)"),
        ("Server RSS", rss, "MiB"),
    ] {
        if series.is_empty() {
            continue;
        }
        let (_, x_hi) = x_range(&series);
        let y_hi = series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold(0.0, f64::max);
        let svg = draw(
            &series,
            0.0..x_hi.max(1.0),
            0.0..(y_hi * 1.1).max(1.0),
            "s into the run",
            unit,
        );
        out.push((format!("{what} over the run"), svg));
    }
    out
}

/// Rounds worth a line: all of a few; of many, the first, the slowest
/// (latest last wake-up), the fastest and the last.
fn shown_rounds(rounds: &[Value]) -> Vec<&Value> {
    if rounds.len() <= MAX_ROUND_LINES {
        return rounds.iter().collect();
    }
    let last_wake = |r: &&Value| r["max_ms"].as_f64().unwrap_or(0.0);
    let mut picked: Vec<&Value> = vec![&rounds[0]];
    picked.extend(
        rounds
            .iter()
            .max_by(|a, b| last_wake(a).total_cmp(&last_wake(b))),
    );
    picked.extend(
        rounds
            .iter()
            .min_by(|a, b| last_wake(a).total_cmp(&last_wake(b))),
    );
    picked.extend(rounds.last());
    let mut seen = Vec::new();
    picked.retain(|r| {
        let n = r["round"].as_u64();
        let new = !seen.contains(&n);
        seen.push(n);
        new
    });
    picked.sort_by_key(|r| r["round"].as_u64());
    picked
}

/// Draws `series` on one chart and returns the SVG text.
fn draw<X>(series: &[Series], x: X, y: std::ops::Range<f64>, x_desc: &str, y_desc: &str) -> String
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
{
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (CHART_W, CHART_H)).into_drawing_area();
        // Drawing into a String cannot fail for I/O reasons; a failed chart
        // leaves an empty picture rather than no report.
        let _ = root.fill(&WHITE);
        let chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(x, y);
        if let Ok(mut chart) = chart {
            let _ = chart
                .configure_mesh()
                .x_desc(x_desc)
                .y_desc(y_desc)
                .x_label_formatter(&|v| short(*v))
                .y_label_formatter(&|v| short(*v))
                .light_line_style(RGBColor(235, 235, 235))
                .draw();
            let compared = series.iter().any(|s| s.run > 0);
            for (i, s) in series.iter().enumerate() {
                let style = if compared {
                    // One colour per run, fading over its series.
                    let nth = series[..i].iter().filter(|o| o.run == s.run).count();
                    let alpha = (1.0 - 0.15 * nth as f64).max(0.35);
                    PALETTE[s.run % PALETTE.len()].mix(alpha).stroke_width(2)
                } else {
                    PALETTE[i % PALETTE.len()].stroke_width(2)
                };
                if let Ok(a) = chart.draw_series(LineSeries::new(s.points.clone(), style)) {
                    a.label(s.label.clone())
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
                }
            }
            let _ = chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(200, 200, 200))
                .draw();
        }
        let _ = root.present();
    }
    svg
}

/// A tick label: no trailing zeros, at most 3 significant decimals.
fn short(v: f64) -> String {
    let text = if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    };
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// 1-2-5 steps from `lo` to `hi` (the labels of a log axis).
fn key_points_125(lo: f64, hi: f64) -> Vec<f64> {
    let mut points = Vec::new();
    let mut decade = 10f64.powf(lo.log10().floor());
    while decade <= hi {
        for m in [1.0, 2.0, 5.0] {
            let v = decade * m;
            if v >= lo && v <= hi {
                points.push(v);
            }
        }
        decade *= 10.0;
    }
    points
}

/// Smallest and largest x over all series.
fn x_range(series: &[Series]) -> (f64, f64) {
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let lo = xs.clone().fold(f64::INFINITY, f64::min);
    let hi = xs.fold(0.0, f64::max);
    (if lo.is_finite() { lo } else { 0.0 }, hi.max(0.001))
}

/// A histogram as (latency ms, fraction ≤ latency) steps.
fn cdf(hist: &Value) -> Option<Vec<(f64, f64)>> {
    let h: HistPairs = serde_json::from_value(hist.clone()).ok()?;
    let total: u64 = h.pairs.iter().map(|p| p.1).sum();
    if total == 0 {
        return None;
    }
    let mut seen = 0;
    let mut points = Vec::with_capacity(h.pairs.len() + 1);
    for (us, n) in &h.pairs {
        let ms = (*us).min(h.max_us.max(1)) as f64 / 1000.0;
        points.push((ms, seen as f64 / total as f64));
        seen += n;
        points.push((ms, seen as f64 / total as f64));
    }
    Some(thin(points, MAX_POINTS))
}

/// Every k-th point (first and last kept) so that at most about `max` remain.
fn thin(points: Vec<(f64, f64)>, max: usize) -> Vec<(f64, f64)> {
    let step = points.len().div_ceil(max.max(1)).max(1);
    if step == 1 {
        return points;
    }
    let last = points.last().copied();
    let mut out: Vec<(f64, f64)> = points.into_iter().step_by(step).collect();
    if out.last().copied() != last {
        out.extend(last);
    }
    out
}

/// A round's wake-up histogram as (ms since publish, % woken).
fn woken_over_time(hist: &Value) -> Option<Vec<(f64, f64)>> {
    let mut points = cdf(hist)?;
    for p in &mut points {
        p.1 *= 100.0;
    }
    points.insert(0, (0.0, 0.0));
    Some(points)
}

/// Per server: CPU (% of one core, between consecutive samples) and RSS (MiB).
fn server_series(samples: &Value, servers: &[String]) -> (Vec<Series>, Vec<Series>) {
    let points: Vec<crate::procstat::Point> =
        serde_json::from_value(samples.clone()).unwrap_or_default();
    let count = points.iter().map(|p| p.server + 1).max().unwrap_or(0);
    let (mut cpu, mut rss) = (Vec::new(), Vec::new());
    for server in 0..count {
        let mine: Vec<_> = points.iter().filter(|p| p.server == server).collect();
        let name = servers
            .get(server)
            .cloned()
            .unwrap_or_else(|| format!("server {server}"));
        // CPU time comes in clock ticks (10 ms): average over about a second
        // of samples so one tick more or less does not draw a spike.
        let span = CPU_WINDOW_SAMPLES.min(mine.len().saturating_sub(1)).max(1);
        let c = mine
            .windows(span + 1)
            .filter(|w| w[span].t_s > w[0].t_s)
            .map(|w| {
                let busy = w[span].cpu_us.saturating_sub(w[0].cpu_us) as f64 / 1e6;
                (w[span].t_s, busy / (w[span].t_s - w[0].t_s) * 100.0)
            })
            .collect();
        let m = mine
            .iter()
            .map(|p| (p.t_s, p.rss_bytes as f64 / 1048576.0))
            .collect();
        cpu.push(Series {
            label: name.clone(),
            points: c,
            run: 0,
        });
        rss.push(Series {
            label: name,
            points: m,
            run: 0,
        });
    }
    (cpu, rss)
}

/// The runs' table rows side by side (one column per run).
fn table(runs: &[(&str, Value)]) -> String {
    let mut labels: Vec<String> = Vec::new();
    let mut cells: Vec<std::collections::HashMap<String, String>> = Vec::new();
    for (_, run) in runs {
        let mut mine = std::collections::HashMap::new();
        for row in run["table"].as_array().into_iter().flatten() {
            let (l, v) = (text_of(&row[0]), text_of(&row[1]));
            if !labels.contains(&l) {
                labels.push(l.clone());
            }
            mine.insert(l, v);
        }
        cells.push(mine);
    }
    let mut out = String::from("<h2>Figures</h2>\n<table>\n<tr><th></th>");
    for (label, _) in runs {
        let _ = write!(out, "<th>{}</th>", esc(label));
    }
    out.push_str("</tr>\n");
    for l in &labels {
        let _ = write!(out, "<tr><td>{}</td>", esc(l));
        for c in &cells {
            let _ = write!(out, "<td>{}</td>", esc(c.get(l).map_or("", String::as_str)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    out
}

/// A JSON value as plain text (strings without quotes).
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hist::Hist;
    use serde_json::json;

    fn run_json(scale: u64) -> Value {
        let mut h = Hist::new();
        for us in 1..=1000 {
            h.record_us(us * scale);
        }
        json!({
            "scenario": "fanout", "ok": true, "failures": [], "server": "127.0.0.1:1",
            "command": "loadtest <fanout>",
            "hists": { "wake": { "title": "publish-to-wake latency", "hist": h.to_pairs() } },
            "per_round": [ { "round": 1, "wake_hist": h.to_pairs() } ],
            "server_samples": [
                { "server": 0, "t_s": 0.0, "rss_bytes": 10_485_760, "cpu_us": 0 },
                { "server": 0, "t_s": 1.0, "rss_bytes": 20_971_520, "cpu_us": 500_000 }
            ],
            "table": [ ["scenario", "fanout"], ["lost wake-ups", "0"] ],
        })
    }

    #[test]
    fn one_run_has_every_chart_and_the_table() {
        let page = page(&[("run", run_json(1))]);
        assert_eq!(page.matches("<svg").count(), 4, "{page}");
        assert!(page.contains("Wake-ups over time"));
        assert!(
            page.contains("loadtest &lt;fanout&gt;"),
            "the command is escaped"
        );
        assert!(page.contains("<td>lost wake-ups</td><td>0</td>"));
        assert!(!page.contains("<script"), "no script");
        assert!(!page.contains("src=\"http"), "nothing fetched");
        let files: Vec<String> = chart_files(&[("run", run_json(1))])
            .into_iter()
            .map(|(name, svg)| {
                assert!(svg.starts_with("<svg"), "{name}");
                name
            })
            .collect();
        assert_eq!(
            files,
            [
                "latency-distribution-cdf",
                "wake-ups-over",
                "server-cpu-over",
                "server-rss-over"
            ]
        );
    }

    #[test]
    fn a_comparison_puts_both_runs_on_the_same_axes() {
        let page = page(&[("vigil", run_json(1)), ("other", run_json(3))]);
        assert_eq!(page.matches("<svg").count(), 4);
        assert!(page.contains("vigil: publish-to-wake latency"));
        assert!(page.contains("other: publish-to-wake latency"));
        assert!(page.contains("<th>vigil</th><th>other</th>"));
    }

    #[test]
    fn long_series_are_thinned_keeping_both_ends() {
        let points: Vec<(f64, f64)> = (0..1001).map(|i| (i as f64, i as f64)).collect();
        let thinned = thin(points, 100);
        assert!(thinned.len() <= 102, "{}", thinned.len());
        assert_eq!(thinned.first(), Some(&(0.0, 0.0)));
        assert_eq!(thinned.last(), Some(&(1000.0, 1000.0)));
        assert_eq!(thin(vec![(1.0, 1.0)], 100), vec![(1.0, 1.0)]);
    }

    #[test]
    fn of_many_rounds_the_first_slowest_fastest_and_last_are_drawn() {
        let rounds: Vec<Value> = (1..=20)
            .map(|r| json!({ "round": r, "max_ms": if r == 7 { 900.0 } else if r == 3 { 1.0 } else { 50.0 } }))
            .collect();
        let shown: Vec<u64> = shown_rounds(&rounds)
            .iter()
            .map(|r| r["round"].as_u64().unwrap())
            .collect();
        assert_eq!(shown, vec![1, 3, 7, 20]);
        assert_eq!(shown_rounds(&rounds[..5]).len(), 5);
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(short(0.020000000000000004), "0.02");
        assert_eq!(short(10.0), "10");
        assert_eq!(short(1234.5), "1234");
        assert_eq!(short(0.5), "0.5");
    }

    #[test]
    fn log_axis_labels_step_1_2_5() {
        assert_eq!(
            key_points_125(0.3, 25.0),
            vec![0.5, 1.0, 2.0, 5.0, 10.0, 20.0]
        );
        assert_eq!(key_points_125(3.0, 4.0), Vec::<f64>::new());
    }

    #[test]
    fn cpu_is_a_share_of_one_core() {
        let (cpu, rss) = server_series(&run_json(1)["server_samples"], &["a".into()]);
        assert_eq!(cpu[0].points, vec![(1.0, 50.0)]);
        assert_eq!(rss[0].points, vec![(0.0, 10.0), (1.0, 20.0)]);
        // Ticks of 10 ms arrive unevenly: a second's average smooths them.
        let samples: Vec<Value> = [0, 10_000, 10_000, 10_000, 40_000, 40_000]
            .iter()
            .enumerate()
            .map(|(i, cpu)| json!({ "server": 0, "t_s": i as f64 * 0.25, "rss_bytes": 0, "cpu_us": cpu }))
            .collect();
        let (cpu, _) = server_series(&json!(samples), &["a".into()]);
        assert_eq!(cpu[0].points, vec![(1.0, 4.0), (1.25, 3.0)]);
    }
}
