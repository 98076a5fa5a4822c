//! What every test of a real Nacos client SDK shares: installs into the target
//! directory (idempotent, locked, marked when finished), child processes run in
//! their own process group with a time limit, and one scenario run against a
//! fresh server, judged by the client's `PASS <scenario>` line and by the
//! server's own counters.
//!
//! Installs go to `<target>/interop/<name>`: a marker file inside records what was
//! installed, an install goes to a `.partial` directory that is renamed into place,
//! and an exclusive file lock serialises installers across threads and across test
//! processes (cargo nextest runs each test in its own process). A missing tool or a
//! failed install fails the test: nothing is skipped.

use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Upper bound for one install (`pip install`, `npm ci`, a `go build` that downloads).
pub const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);
/// Upper bound for one scenario script; the scripts stop themselves after 110 s.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(150);
/// Administrator of the servers started with auth on (`--auth`).
pub const AUTH_USER: &str = "nacos";
pub const AUTH_PASSWORD: &str = "interop-Secret_1";
/// Server flags for the auth-on scenarios.
pub const AUTH_ON: &[&str] = &[
    "--auth",
    "--auth-admin-user",
    AUTH_USER,
    "--auth-admin-password",
    AUTH_PASSWORD,
];
/// Name of the marker file written into a finished install directory.
pub const MARKER: &str = ".vigil-interop-installed";

pub fn workspace_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The cargo target directory: `CARGO_TARGET_DIR` when set (relative to the workspace
/// when relative), else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_dir().join(dir)
            }
        }
        _ => workspace_dir().join("target"),
    }
}

/// Keeps `cmd` (a client under test) off any proxy the environment names:
/// its servers are on loopback.
pub fn without_proxies(cmd: &mut Command) -> &mut Command {
    for var in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_PROXY", "*").env("no_proxy", "*")
}

/// The whole of a text file the test or its client wrote.
pub fn read_text(path: &Path) -> String {
    let mut text = String::new();
    File::open(path)
        .and_then(|mut f| f.read_to_string(&mut text).map(|_| ()))
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text
}

pub fn interop_dir() -> PathBuf {
    target_dir().join("interop")
}

pub fn scripts_dir() -> PathBuf {
    workspace_dir().join("tests").join("interop")
}

/// Waits for `child` up to `limit`; on timeout kills its whole process group. Either
/// way the group is killed afterwards, so helpers the child left behind die with it.
/// Returns `None` on timeout.
pub fn wait_group(child: &mut std::process::Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                kill_group(child.id());
                let _ = child.wait();
                break None;
            }
            Err(e) => panic!("waiting for child process {}: {e}", child.id()),
        }
    };
    kill_group(child.id());
    status
}

/// SIGKILL to the process group led by `pid` (a child spawned with `process_group(0)`).
pub fn kill_group(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Runs `cmd` in its own process group with stdout and stderr both going to `log`;
/// returns the exit status (`None` on timeout) and everything it printed.
pub fn run_logged(
    mut cmd: Command,
    log: &Path,
    limit: Duration,
    what: &str,
) -> (Option<ExitStatus>, String) {
    let out = File::create(log).unwrap_or_else(|e| panic!("creating {}: {e}", log.display()));
    let err = out.try_clone().expect("duplicating the log file handle");
    cmd.stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start {cmd:?}: {e}"));
    let status = wait_group(&mut child, limit);
    (status, read_text(log))
}

/// Fails with a clear message unless `program args` runs and exits 0.
pub fn require_tool(program: &str, args: &[&str], purpose: &str) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("interop tests need `{program}` ({purpose}), but it cannot be run: {e}")
        });
    assert!(
        output.status.success(),
        "interop tests need `{program} {}` ({purpose}) to work; it exited with {}:\n{}{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// `python3 -m pip install --no-deps --target dir ARGS` (nothing resolved:
/// the arguments name every package, pinned), logged next to `dir`;
/// fails the test unless pip succeeds. For [`ensure_installed`]'s closure.
pub fn pip_install(dir: &Path, args: &[&std::ffi::OsStr]) {
    let mut cmd = Command::new("python3");
    cmd.args([
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--no-input",
        "--disable-pip-version-check",
        "--no-warn-script-location",
        "--target",
    ])
    .arg(dir)
    .args(args);
    let log = dir.with_extension("install.log");
    let (status, text) = run_logged(cmd, &log, INSTALL_TIMEOUT, "pip install");
    assert!(
        status.is_some_and(|s| s.success()),
        "`pip install {args:?}` failed ({status:?}):\n{text}"
    );
}

/// `go build -trimpath -o out package` in `src` (a module pinned by its
/// go.sum), with the module and build caches under the target directory
/// (shared by every Go build of the suite) and the machine's own Go; fails
/// the test unless it builds. For [`ensure_installed`]'s closure.
pub fn go_build(src: &Path, package: &str, out: &Path, what: &str) {
    let caches = interop_dir().join("go-cache");
    let mut cmd = Command::new("go");
    cmd.args(["build", "-trimpath", "-o"])
        .arg(out)
        .arg(package)
        .current_dir(src)
        .env("GOPATH", caches.join("path"))
        .env("GOMODCACHE", caches.join("mod"))
        .env("GOCACHE", caches.join("build"))
        // go.sum decides every module; module files stay writable so that
        // `cargo clean` can remove them; no git stamping of the build.
        .env("GOFLAGS", "-mod=readonly -modcacherw -buildvcs=false")
        // The machine's Go, never one named by go.mod and fetched.
        .env("GOTOOLCHAIN", "local")
        .env("GOWORK", "off")
        .env("CGO_ENABLED", "0");
    let log = out.with_extension("build.log");
    let (status, text) = run_logged(cmd, &log, INSTALL_TIMEOUT, "go build");
    assert!(
        status.is_some_and(|s| s.success()),
        "`go build` of {what} failed ({status:?}):\n{text}"
    );
}

/// Makes sure `<target>/interop/<name>` holds a finished install whose marker reads
/// `fingerprint`, running `install(partial_dir)` under the install lock if not.
pub fn ensure_installed(name: &str, fingerprint: &str, install: impl FnOnce(&Path)) -> PathBuf {
    ensure_installed_in(&interop_dir(), name, fingerprint, install)
}

/// [`ensure_installed`] under another `root` (a build of the test's own
/// programs, say, rather than an SDK).
pub fn ensure_installed_in(
    root: &Path,
    name: &str,
    fingerprint: &str,
    install: impl FnOnce(&Path),
) -> PathBuf {
    let dir = root.join(name);
    let marker = dir.join(MARKER);
    let is_current = || fs::read_to_string(&marker).is_ok_and(|m| m == fingerprint);
    if is_current() {
        return dir;
    }
    fs::create_dir_all(root).unwrap_or_else(|e| panic!("creating {}: {e}", root.display()));
    let lock_path = root.join(".install.lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap_or_else(|e| panic!("opening {}: {e}", lock_path.display()));
    // Exclusive across processes and across threads (flock works per open file).
    lock.lock()
        .unwrap_or_else(|e| panic!("locking {}: {e}", lock_path.display()));
    if is_current() {
        return dir;
    }
    let partial = root.join(format!("{name}.partial"));
    for stale in [&dir, &partial] {
        if stale.exists() {
            fs::remove_dir_all(stale)
                .unwrap_or_else(|e| panic!("removing {}: {e}", stale.display()));
        }
    }
    fs::create_dir_all(&partial).unwrap_or_else(|e| panic!("creating {}: {e}", partial.display()));
    install(&partial);
    fs::write(partial.join(MARKER), fingerprint).expect("writing the install marker");
    fs::rename(&partial, &dir)
        .unwrap_or_else(|e| panic!("renaming {} to {}: {e}", partial.display(), dir.display()));
    dir
    // `lock` is released when dropped here.
}

pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Runs one scenario script against a fresh server and fails the test, showing the
/// script's output, unless it exits 0 after printing `PASS <scenario>`. Then
/// `check` looks at the server's own counters: an SDK that retries failures
/// silently cannot hide one from them.
pub fn run_scenario(
    label: &str,
    cmd: Command,
    scenario: &str,
    server_args: &[&str],
    check: impl FnOnce(SocketAddr),
) {
    let server = super::Server::start_args(server_args);
    run_client(label, cmd, scenario, &server.addr.to_string());
    check(server.addr);
}

/// The server refused nothing and failed no write during the scenario.
pub fn no_failures(label: &str, scenario: &str) -> impl FnOnce(SocketAddr) {
    let what = format!("{label} `{scenario}`");
    move |addr| super::assert_failures(addr, &[], &what)
}

/// Runs one scenario script against the server at `addr` (see [`run_scenario`]).
pub fn run_client(label: &str, mut cmd: Command, scenario: &str, addr: &str) {
    let scratch = tempfile::tempdir().expect("creating a scratch directory for the client");
    cmd.arg(addr)
        .arg(scenario)
        .current_dir(scratch.path())
        .env("HOME", scratch.path());
    without_proxies(&mut cmd);
    for var in ["NODE_OPTIONS", "PYTHONHOME", "PYTHONSTARTUP"] {
        cmd.env_remove(var);
    }
    let started = Instant::now();
    let log = scratch.path().join("client-output.log");
    let (status, output) = run_logged(cmd, &log, SCRIPT_TIMEOUT, label);
    let elapsed = started.elapsed();
    let passed = status.is_some_and(|s| s.success())
        && output
            .lines()
            .any(|l| l.starts_with(&format!("PASS {scenario}")));
    if !passed {
        let how = match status {
            None => format!("was killed after {SCRIPT_TIMEOUT:?}"),
            Some(s) => format!("exited with {s}"),
        };
        panic!(
            "{label} scenario `{scenario}` against vigil at {addr} {how} after {elapsed:.1?}.\n\
             ---- client output ----\n{output}---- end of client output ----"
        );
    }
    println!("{label} `{scenario}` passed in {elapsed:.1?}:\n{output}");
}
