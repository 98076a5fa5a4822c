//! HTTP/2 conformance of the gRPC port: h2spec (github.com/summerwind/h2spec,
//! pinned by `tests/h2spec/go.mod` and `go.sum`) against a real vigil, every
//! case passing but exactly those `docs/h2spec.md` judges inapplicable, each
//! listed there with its reason.
//!
//! h2spec is built once into the target directory ([`install_h2spec`], run by
//! the nextest setup script of `.config/nextest.toml` before the run, so no
//! test's time limit includes the build); under plain `cargo test` the first
//! test builds it. A missing `go` fails the test; nothing here is skipped.

mod common;

use common::sdk::{
    ensure_installed, go_build, md5_hex, read_text, require_tool, run_logged, workspace_dir,
};
use common::Server;
use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// The h2spec release; must match `tests/h2spec/go.mod`.
const H2SPEC: &str = "v2.2.1+incompatible";
/// What `go build` reads from `tests/h2spec/`.
const SOURCES: &[&str] = &["go.mod", "go.sum"];
/// Cases in a `--strict` run of this release.
const CASES: usize = 146;
/// Seconds h2spec waits for each expected frame (`-o`); generous, so a
/// loaded machine does not turn a slow answer into a failure.
const CASE_TIMEOUT_SECS: &str = "5";
/// Upper bound for the whole run (it takes about a second).
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// Builds h2spec (once per test binary, and only when the pinned modules or
/// the Go toolchain changed) and returns its path.
fn h2spec() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let go_version = require_tool("go", &["version"], "builds h2spec");
        let src = workspace_dir().join("tests").join("h2spec");
        let mut fingerprint = format!("h2spec {H2SPEC}, {go_version}\n");
        for name in SOURCES {
            let bytes = fs::read(src.join(name))
                .unwrap_or_else(|e| panic!("reading tests/h2spec/{name}: {e}"));
            if *name == "go.mod" {
                assert!(
                    String::from_utf8_lossy(&bytes)
                        .contains(&format!("github.com/summerwind/h2spec {H2SPEC}")),
                    "tests/h2spec/go.mod must pin h2spec {H2SPEC}"
                );
            }
            fingerprint.push_str(&format!("{name} md5 {}\n", md5_hex(&bytes)));
        }
        let dir = ensure_installed("h2spec", &fingerprint, |dir| {
            go_build(
                &src,
                "github.com/summerwind/h2spec/cmd/h2spec",
                &dir.join("h2spec"),
                &format!("h2spec {H2SPEC}"),
            );
        });
        dir.join("h2spec")
    })
    .clone()
}

/// Builds h2spec. The nextest setup script of `.config/nextest.toml` runs
/// this alone first, so the conformance run's time limit excludes the build.
#[test]
fn install_h2spec() {
    println!("h2spec {H2SPEC} at {}", h2spec().display());
}

/// One case of the JUnit report: `<package>/<n>` (h2spec's own numbering,
/// as in `h2spec generic/5/14`) and whether it passed.
#[derive(Debug)]
struct Case {
    id: String,
    name: String,
    passed: bool,
    detail: String,
}

/// The value of attribute `name` in an element's opening tag text.
fn attr(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let len = tag[start..].find('"')?;
    Some(tag[start..start + len].to_string())
}

/// The cases of h2spec's JUnit report, in order. h2spec writes a failed
/// case as an `<error>` (or `<failure>`) element inside its `<testcase>`,
/// a skipped one as `<skipped>`; a passed one is empty.
fn parse_junit(xml: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    for suite in xml.split("<testsuite ").skip(1) {
        let head = &suite[..suite.find('>').unwrap_or(suite.len())];
        let package = attr(&format!(" {head}"), "package")
            .unwrap_or_else(|| panic!("a testsuite without package: {head}"));
        for (n, case) in suite.split("<testcase ").skip(1).enumerate() {
            let end = case.find("</testcase>").unwrap_or_else(|| {
                panic!("an unterminated testcase in {package}: {case}");
            });
            let whole = &case[..end];
            let open_end = whole.find('>').unwrap_or(whole.len());
            let name = attr(&format!(" {}", &whole[..open_end]), "classname").unwrap_or_default();
            let body = whole.get(open_end + 1..).unwrap_or("").trim();
            cases.push(Case {
                id: format!("{package}/{}", n + 1),
                name,
                passed: body.is_empty(),
                detail: body.to_string(),
            });
        }
    }
    cases
}

/// The ids `docs/h2spec.md` lists under "Cases judged inapplicable", each
/// a list item "- `<id>` ...: <reason>"; fails unless each has a reason.
fn judged_inapplicable() -> BTreeSet<String> {
    let doc = read_text(&workspace_dir().join("docs").join("h2spec.md"));
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with("Cases judged inapplicable"))
        .expect("docs/h2spec.md has a section \"Cases judged inapplicable\"");
    let mut ids = BTreeSet::new();
    for item in section.split("\n- ").skip(1) {
        let Some(rest) = item.strip_prefix('`') else {
            continue;
        };
        let (id, reason) = rest
            .split_once('`')
            .unwrap_or_else(|| panic!("docs/h2spec.md: unterminated case id in {item:?}"));
        let reason = reason.split("\n\n").next().unwrap_or("");
        assert!(
            reason.split_whitespace().count() >= 8,
            "docs/h2spec.md lists {id} without a reason: {item:?}"
        );
        ids.insert(id.to_string());
    }
    assert!(!ids.is_empty(), "no case ids in docs/h2spec.md's list");
    ids
}

/// Every h2spec case (`--strict`) passes against the real gRPC port but
/// exactly the ones docs/h2spec.md judges inapplicable; the server stays
/// up, and the connections h2spec's error cases leave (each closed by a
/// lingering close) are all gone shortly after.
#[test]
fn h2spec_conformance() {
    let bin = h2spec();
    let expected = judged_inapplicable();
    let s = Server::start();
    let grpc = s.grpc.expect("the gRPC door is on by default");
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let junit = scratch.path().join("h2spec.xml");
    let mut cmd = Command::new(&bin);
    cmd.args(["-h", "127.0.0.1", "-p", &grpc.port().to_string()])
        .args(["-o", CASE_TIMEOUT_SECS, "--strict", "-j"])
        .arg(&junit);
    let log = scratch.path().join("h2spec.log");
    let (status, output) = run_logged(cmd, &log, RUN_TIMEOUT, "h2spec");
    assert!(
        status.is_some(),
        "h2spec did not finish in {RUN_TIMEOUT:?}:\n{output}"
    );
    let cases = parse_junit(&read_text(&junit));
    assert_eq!(
        cases.len(),
        CASES,
        "h2spec {H2SPEC} --strict runs {CASES} cases; the report has {}:\n{output}",
        cases.len()
    );
    let failed: BTreeSet<String> = cases
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.id.clone())
        .collect();
    let report: Vec<String> = cases
        .iter()
        .filter(|c| !c.passed)
        .map(|c| format!("{} {}: {}", c.id, c.name, c.detail))
        .collect();
    assert_eq!(
        failed,
        expected,
        "h2spec failures (left) must be exactly the cases docs/h2spec.md judges \
         inapplicable (right):\n{}\n---- h2spec output ----\n{output}",
        report.join("\n")
    );
    println!(
        "h2spec: {} of {CASES} pass; inapplicable as documented: {expected:?}",
        CASES - failed.len()
    );
    // Only the metrics connection is left once the lingering closes end
    // (at the client's EOF, or after a second).
    common::wait_metrics(
        s.addr,
        "h2spec's connections closed",
        Duration::from_secs(5),
        |m| common::metric(m, "vigil_connections") == 1,
    );
}
