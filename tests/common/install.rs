//! Third-party clients installed at test time: real Nacos SDKs fetched from
//! their registries at pinned versions (PyPI, npm, Maven Central) into the
//! cargo target directory, once per test run and idempotently, plus running
//! the tools that install and drive them in their own process groups.
//!
//! An install goes to `<root>/<name>.partial`, gets a marker file recording
//! what was installed (its fingerprint), and is renamed into place; an
//! exclusive file lock serialises installers across threads and across test
//! processes (nextest runs each test in its own process). A missing tool fails
//! the test with a message saying what it is for: nothing is skipped.

use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Name of the marker file written into a finished install directory.
const MARKER: &str = ".vigil-interop-installed";

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

/// Waits for `child` up to `limit`; on timeout kills its whole process group. Either
/// way the group is killed afterwards, so helpers the child left behind die with it.
/// Returns `None` on timeout.
pub fn wait_group(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
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
    use std::os::unix::process::CommandExt;
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

/// The whole of a text file the test or its client wrote.
pub fn read_text(path: &Path) -> String {
    let mut text = String::new();
    File::open(path)
        .and_then(|mut f| f.read_to_string(&mut text).map(|_| ()))
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text
}

/// Fails with a clear message unless `program args` runs and exits 0; returns its
/// trimmed stdout.
pub fn require_tool(program: &str, args: &[&str], purpose: &str) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("these tests need `{program}` ({purpose}), but it cannot be run: {e}")
        });
    assert!(
        output.status.success(),
        "these tests need `{program} {}` ({purpose}) to work; it exited with {}:\n{}{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Makes sure `<root>/<name>` holds a finished install whose marker reads
/// `fingerprint`, running `install(partial_dir)` under the install lock if not.
pub fn ensure_installed(
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

/// Lowercase hex md5 of raw bytes (install fingerprints of manifests and sources).
pub fn md5_bytes(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
