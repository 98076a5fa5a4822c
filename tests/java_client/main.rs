//! The Java clients the product was designed around, against the real
//! `vigil` binary over loopback: `nacos-client` [`NACOS_CLIENT`] (the last
//! release of the 1.x line, HTTP long polling) through a small driver program,
//! and a Spring Boot application on Spring Cloud Alibaba [`SPRING_CLOUD_ALIBABA`]
//! (the last line on the 1.x client); over gRPC, the same driver on
//! `nacos-client` [`NACOS_CLIENT_2`] and [`NACOS_CLIENT_3`] (`grpc.rs`,
//! `grpc_cluster.rs`), and the same application on Spring Boot 3 and Spring
//! Cloud Alibaba [`SPRING_CLOUD_ALIBABA_3`] (`spring3.rs`).
//!
//! Both programs live in `tests/java/` (one Maven project, every version
//! pinned in its `pom.xml` files). [`java_programs`] builds them once per test
//! run with Maven into `<target>/java/build`, its local repository in
//! `<target>/java/m2`, so a second run neither downloads nor compiles again: a
//! marker records a fingerprint of `tests/java/`, through
//! `common::sdk`. Under nextest a setup script runs [`build_java_programs`]
//! before any scenario, so no scenario's time includes the build. A missing
//! `java` or `mvn`, or a failed build, fails the test: nothing is skipped.
//!
//! Each scenario starts its own server and its own JVM, which it drives over
//! stdin/stdout (`jvm.rs`); the scenarios are in `client.rs` (nacos-client),
//! `failover.rs` (snapshot and failover file) and `spring.rs`.

#[path = "../common/mod.rs"]
mod common;

#[path = "../cluster/pg.rs"]
mod pg;

mod client;
mod driver;
mod failover;
mod grpc;
mod grpc_cluster;
mod jvm;
mod spring;
mod spring3;

use common::sdk::{
    ensure_installed_in, md5_hex, require_tool, run_logged, target_dir, workspace_dir,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// The `nacos-client` the driver uses; must match `tests/java/driver/pom.xml`.
const NACOS_CLIENT: &str = "1.4.8";
/// Spring Cloud Alibaba of the application; must match `tests/java/spring-app/pom.xml`.
const SPRING_CLOUD_ALIBABA: &str = "2.2.6.RELEASE";
/// The 2.x `nacos-client` (gRPC); must match `tests/java/driver2/pom.xml`.
pub const NACOS_CLIENT_2: &str = "2.5.1";
/// The 3.x `nacos-client` (gRPC); must match `tests/java/driver3/pom.xml`.
pub const NACOS_CLIENT_3: &str = "3.1.1";
/// Spring Cloud Alibaba of the Spring Boot 3 application; must match
/// `tests/java/spring-app3/pom.xml`.
pub const SPRING_CLOUD_ALIBABA_3: &str = "2025.0.0.0";
/// Upper bound for one Maven build, downloads included.
const BUILD_TIMEOUT: Duration = Duration::from_secs(900);

/// The built programs: each module's classpath.
pub struct JavaPrograms {
    pub driver: String,
    pub spring_app: String,
    /// The same driver built against [`NACOS_CLIENT_2`].
    pub driver2: String,
    /// The same driver built against [`NACOS_CLIENT_3`].
    pub driver3: String,
    /// The application on [`SPRING_CLOUD_ALIBABA_3`] (Spring Boot 3).
    pub spring_app3: String,
}

fn sources_dir() -> PathBuf {
    workspace_dir().join("tests").join("java")
}

/// Builds `tests/java` (once per test binary, and once per change of its
/// files across runs) and returns the programs' classpaths.
pub fn java_programs() -> &'static JavaPrograms {
    static BUILT: OnceLock<JavaPrograms> = OnceLock::new();
    BUILT.get_or_init(|| {
        require_tool("java", &["-version"], "runs the Java clients");
        let maven = require_tool(
            "mvn",
            &["-B", "-v"],
            "builds the Java clients from Maven Central",
        );
        let sources = sources_dir();
        for (pom, pin) in [
            (
                "driver/pom.xml",
                format!("<version>{NACOS_CLIENT}</version>"),
            ),
            (
                "spring-app/pom.xml",
                format!("<version>{SPRING_CLOUD_ALIBABA}</version>"),
            ),
            (
                "driver2/pom.xml",
                format!("<version>{NACOS_CLIENT_2}</version>"),
            ),
            (
                "driver3/pom.xml",
                format!("<version>{NACOS_CLIENT_3}</version>"),
            ),
            (
                "spring-app3/pom.xml",
                format!("<version>{SPRING_CLOUD_ALIBABA_3}</version>"),
            ),
        ] {
            let text = common::sdk::read_text(&sources.join(pom));
            assert!(
                text.contains(&pin),
                "tests/java/{pom} must pin {pin} (the versions this test names)"
            );
        }
        let fingerprint = format!(
            "tests/java md5 {}\n{}\n",
            tree_md5(&sources),
            maven.lines().next().unwrap_or("")
        );
        let root = target_dir().join("java");
        let repo = root.join("m2");
        let dir = ensure_installed_in(&root, "build", &fingerprint, |out| {
            let mut cmd = Command::new("mvn");
            cmd.arg("-B")
                .arg("--no-transfer-progress")
                .arg("-f")
                .arg(sources.join("pom.xml"))
                .arg(format!("-Dmaven.repo.local={}", repo.display()))
                .arg(format!("-Dvigil.java.out={}", out.display()))
                .args(["compile", "dependency:copy-dependencies"]);
            for var in ["MAVEN_OPTS", "MAVEN_ARGS", "JAVA_TOOL_OPTIONS"] {
                cmd.env_remove(var);
            }
            let log = out.with_file_name("maven.log");
            let (status, text) = run_logged(cmd, &log, BUILD_TIMEOUT, "mvn");
            assert!(
                status.is_some_and(|s| s.success()),
                "building tests/java with Maven failed ({status:?}):\n{text}"
            );
        });
        let classpath = |module: &str| {
            let m = dir.join(module);
            assert!(
                m.join("classes").is_dir() && m.join("dependency").is_dir(),
                "the Maven build left no {module}/classes and {module}/dependency in {}",
                dir.display()
            );
            format!(
                "{}:{}",
                m.join("classes").display(),
                m.join("dependency").join("*").display()
            )
        };
        JavaPrograms {
            driver: classpath("driver"),
            spring_app: classpath("spring-app"),
            driver2: classpath("driver2"),
            driver3: classpath("driver3"),
            spring_app3: classpath("spring-app3"),
        }
    })
}

/// md5 over every file under `dir` (relative path and content, in path
/// order): what the build marker records, so an edit rebuilds.
fn tree_md5(dir: &Path) -> String {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        let entries =
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                // A build someone ran by hand without -Dvigil.java.out.
                if path.file_name().is_some_and(|n| n == "target") {
                    continue;
                }
                walk(base, &path, out);
            } else {
                let rel = path
                    .strip_prefix(base)
                    .expect("under the base")
                    .display()
                    .to_string();
                let bytes = std::fs::read(&path)
                    .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
                out.push((rel, bytes));
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    files.sort();
    let mut all = Vec::new();
    for (rel, bytes) in files {
        all.extend_from_slice(rel.as_bytes());
        all.push(0);
        all.extend_from_slice(&md5_hex(&bytes).into_bytes());
        all.push(b'\n');
    }
    md5_hex(&all)
}

/// Builds the Java programs. The nextest setup script of `.config/nextest.toml`
/// runs this alone before the scenarios, so no scenario's time limit includes
/// the build; under plain `cargo test` the first scenario builds.
#[test]
fn build_java_programs() {
    let built = java_programs();
    println!("nacos-client {NACOS_CLIENT} driver: {}", built.driver);
    println!(
        "Spring Cloud Alibaba {SPRING_CLOUD_ALIBABA} application: {}",
        built.spring_app
    );
    println!("nacos-client {NACOS_CLIENT_2} driver: {}", built.driver2);
    println!("nacos-client {NACOS_CLIENT_3} driver: {}", built.driver3);
    println!(
        "Spring Cloud Alibaba {SPRING_CLOUD_ALIBABA_3} application: {}",
        built.spring_app3
    );
}

/// Stops a server a scenario started: it must still be running and exit 0 on
/// SIGTERM.
pub fn stop_cleanly(mut server: common::Server, what: &str) {
    let status = server.sigterm();
    assert!(
        status.success(),
        "{what}: the server exited with {status} on SIGTERM"
    );
}
