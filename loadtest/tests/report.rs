//! `--report` and `--compare` against the real vigil binary: the HTML is
//! self-contained, holds every plot, and opens in a real headless Chromium
//! (Debian's `chromium`) with every chart drawn and no script error or
//! console message. Fails, never skips, when Chromium is missing.

mod common;

use common::{loadtest, Vigil};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

/// Checks a report page statically: self-contained and holding `charts` plots.
fn check_static(html: &str, charts: usize, must_contain: &[&str]) {
    assert!(
        html.starts_with("<!DOCTYPE html>"),
        "{}",
        &html[..100.min(html.len())]
    );
    assert_eq!(html.matches("<svg").count(), charts, "charts");
    assert!(
        html.matches("<polyline").count() >= charts,
        "every chart has lines"
    );
    for bad in ["<script", "src=", "<link", "@import", "url("] {
        assert!(
            !html.contains(bad),
            "the page fetches or runs something: {bad}"
        );
    }
    for s in must_contain {
        assert!(html.contains(s), "missing {s:?}");
    }
}

fn chromium() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("chromium"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("chromium not found on PATH: install Debian's chromium (apt-get install chromium)")
    })
}

/// Opens `page` in headless Chromium with a probe script added, and returns
/// (SVGs on the page, SVGs drawn with a non-empty box, script errors).
fn open_in_chromium(page: &Path) -> (u32, u32, u32) {
    let dir = page.parent().unwrap();
    let html = std::fs::read_to_string(page).unwrap();
    let catcher = "<head><script>window.__errors=0;\
        window.addEventListener('error',function(){window.__errors++;});</script>";
    let probe = "<script>window.addEventListener('load',function(){\
        var s=document.querySelectorAll('svg'),d=0;\
        for(var i=0;i<s.length;i++){var b=s[i].getBBox();if(b.width>100&&b.height>100)d++;}\
        document.body.setAttribute('data-svgs',s.length);\
        document.body.setAttribute('data-drawn',d);\
        document.body.setAttribute('data-errors',window.__errors);});</script></body>";
    let probed = html
        .replacen("<head>", catcher, 1)
        .replacen("</body>", probe, 1);
    let probed_path = dir.join("probed.html");
    std::fs::write(&probed_path, probed).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", probed_path.display()))
        .output()
        .expect("running chromium");
    let dom = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed: {stderr}");
    let console: Vec<&str> = stderr.lines().filter(|l| l.contains(":CONSOLE(")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    let attr = |name: &str| -> u32 {
        let key = format!("{name}=\"");
        let start = dom
            .find(&key)
            .unwrap_or_else(|| panic!("no {name} in the DOM: {dom}"));
        let rest = &dom[start + key.len()..];
        rest[..rest.find('"').unwrap()].parse().unwrap()
    };
    (attr("data-svgs"), attr("data-drawn"), attr("data-errors"))
}

#[test]
fn a_fanout_report_and_a_comparison_open_in_chromium_with_every_chart_drawn() {
    let v = Vigil::start();
    let tmp = tempfile::tempdir().unwrap();
    let (addr, pid) = (v.addr.to_string(), v.pid().to_string());
    let page = tmp.path().join("run.html");
    let a = loadtest(
        &[
            "--server",
            &addr,
            "--server-pid",
            &pid,
            "--report",
            page.to_str().unwrap(),
            "fanout",
            "-n",
            "50",
            "-r",
            "3",
        ],
        LIMIT,
    );
    a.passed();
    assert!(a.stderr.contains("report written to"), "{}", a.stderr);
    let html = std::fs::read_to_string(&page).unwrap();
    check_static(
        &html,
        4,
        &[
            "Latency distribution",
            "Wake-ups over time in each fan-out round",
            "Server CPU over the run",
            "Server RSS over the run",
            "round 3",
            "fanout -n 50 -r 3",
            "<td>lost wake-ups</td><td>0</td>",
        ],
    );
    assert_eq!(open_in_chromium(&page), (4, 4, 0));

    // A second run (no --server-pid: no server plots of its own), then both compared.
    let b = loadtest(&["--server", &addr, "fanout", "-n", "30", "-r", "2"], LIMIT);
    b.passed();
    let (ja, jb) = (
        tmp.path().join("before.json"),
        tmp.path().join("after.json"),
    );
    // One file holds the whole stdout of its run, the other only the JSON line.
    std::fs::write(&ja, &a.stdout).unwrap();
    std::fs::write(&jb, b.json().to_string() + "\n").unwrap();
    let cmp = tmp.path().join("cmp.html");
    let c = loadtest(
        &[
            "--compare",
            ja.to_str().unwrap(),
            jb.to_str().unwrap(),
            "--report",
            cmp.to_str().unwrap(),
        ],
        LIMIT,
    );
    assert_eq!(c.code, Some(0), "{}", c.stderr);
    let html = std::fs::read_to_string(&cmp).unwrap();
    check_static(
        &html,
        4,
        &[
            "loadtest: before vs after",
            "before: publish-to-wake latency",
            "after: publish-to-wake latency",
            "after: round 2",
            "<th>before</th><th>after</th>",
        ],
    );
    assert_eq!(open_in_chromium(&cmp), (4, 4, 0));
}

#[test]
fn compare_refuses_files_without_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("junk.json");
    std::fs::write(&junk, "not a run\n").unwrap();
    let out = tmp.path().join("cmp.html");
    let c = loadtest(
        &[
            "--compare",
            junk.to_str().unwrap(),
            junk.to_str().unwrap(),
            "--report",
            out.to_str().unwrap(),
        ],
        LIMIT,
    );
    assert_eq!(c.code, Some(1));
    assert!(c.stderr.contains("no JSON line"), "{}", c.stderr);
    assert!(!out.exists());
}
