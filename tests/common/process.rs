//! Server processes under test, and how each one ends.
//!
//! [`Process::launch`] starts a command that prints `vigil listening on
//! <addr>` once it serves; its stderr is echoed to the test's own and its
//! last lines are kept for reports. Every way a test ends a server is
//! explicit, and each checks something:
//!
//! - teardown ([`Process::stop`], or dropping the process): the server must
//!   still be running, and SIGTERM must make it exit 0. vigil exits non-zero
//!   after a panic on any of its threads, so a panic anywhere fails the test
//!   that caused it;
//! - [`Process::kill9`], a crash on purpose: the server must still be running
//!   when it is killed;
//! - [`Process::signal`] / [`Process::sigterm`]: the test judges the exit
//!   status itself;
//! - [`Process::wait_exit`]: a server meant to exit on its own;
//! - [`Process::launch`] returns [`Exited`] for a server that ends before it
//!   listens (start-up refusals).
//!
//! Shared with the load tester's tests (`loadtest/tests/common` includes this
//! file), so it uses only std and names no binary.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long a server may take to listen, or to exit before listening.
pub const START_LIMIT: Duration = Duration::from_secs(60);
/// How long a server may take to exit after a signal.
pub const STOP_LIMIT: Duration = Duration::from_secs(30);
/// Lines of stderr kept for reports.
const KEPT_LINES: usize = 300;
/// What vigil's panic hook (and Rust's default one) write for a panic.
const PANIC_MARK: &str = "' panicked at ";

/// A server process that ended: how, and what it wrote on stderr.
#[derive(Debug)]
pub struct Exited {
    pub status: ExitStatus,
    /// The kept stderr lines, the whole of it for a short-lived process.
    pub stderr: String,
}

/// A running server process (see the module documentation for how it ends).
pub struct Process {
    /// `None` once the test ended the process explicitly.
    child: Option<Child>,
    pid: u32,
    pub addr: SocketAddr,
    /// The gRPC door's address, when it is on (printed before `addr`).
    pub grpc: Option<SocketAddr>,
    stderr: Stderr,
}

impl Process {
    /// Runs `cmd` (stdin closed, stdout and stderr piped) until it prints its
    /// listening address: `Ok` then, or how it ended if it exits first.
    /// Panics if it does neither within [`START_LIMIT`], or if it exits just
    /// after listening.
    pub fn launch(mut cmd: Command) -> Result<Process, Exited> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let stderr = Stderr::follow(child.stderr.take().expect("piped stderr"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        // Reads stdout to its end, so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            let mut grpc = None;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("vigil gRPC listening on ") {
                    grpc = addr.trim().parse::<SocketAddr>().ok();
                }
                if let Some(addr) = line.strip_prefix("vigil listening on ") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send((addr.trim().to_owned(), grpc));
                    }
                }
            }
        });
        let deadline = Instant::now() + START_LIMIT;
        loop {
            match rx.recv_timeout(Duration::from_millis(20)) {
                Ok((addr, grpc)) => {
                    return Ok(Process {
                        pid: child.id(),
                        child: Some(child),
                        addr: addr.parse().expect("listening address"),
                        grpc,
                        stderr,
                    })
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
            }
            if let Some(status) = child.try_wait().expect("try_wait") {
                if let Ok((addr, _)) = rx.recv_timeout(Duration::from_secs(1)) {
                    panic!(
                        "{} listened on {addr} and exited at once ({status}); stderr:\n{}",
                        child.id(),
                        stderr.text()
                    );
                }
                stderr.wait_closed();
                return Err(Exited {
                    status,
                    stderr: stderr.text(),
                });
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{cmd:?} neither listened nor exited within {START_LIMIT:?}; stderr:\n{}",
                    stderr.text()
                );
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The server's stderr so far.
    pub fn stderr(&self) -> &Stderr {
        &self.stderr
    }

    /// The teardown check: `Err` with a report unless the server was still
    /// running and SIGTERM made it exit 0 (and it never logged a panic).
    /// Does nothing if the test already ended the process.
    pub fn teardown(&mut self) -> Result<(), String> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if let Some(status) = self.exited(&mut child) {
            return Err(self.report(&format!("exited during the test ({status})")));
        }
        let status = match send_and_wait(&mut child, "TERM") {
            Ok(status) => status,
            Err(e) => return Err(self.report(&e)),
        };
        if status.code() != Some(0) {
            return Err(self.report(&format!("exited with {status} on SIGTERM, not 0")));
        }
        if !self.stderr.panics().is_empty() {
            return Err(self.report("logged a panic, though it exited 0"));
        }
        Ok(())
    }

    /// Stops the server, panicking unless the teardown check passes.
    pub fn stop(mut self) {
        if let Err(report) = self.teardown() {
            panic!("{report}");
        }
    }

    /// `kill -9` on purpose: no chance to flush anything. The server must
    /// still be running.
    pub fn kill9(&mut self) {
        let mut child = self.take_running("kill -9");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Sends `SIG<name>` (e.g. `TERM`, `INT`) to the running server and
    /// returns its exit status, for the test to judge.
    pub fn signal(&mut self, name: &str) -> ExitStatus {
        let mut child = self.take_running(&format!("SIG{name}"));
        send_and_wait(&mut child, name).unwrap_or_else(|e| panic!("{}", self.report(&e)))
    }

    /// SIGTERM; see [`Process::signal`].
    pub fn sigterm(&mut self) -> ExitStatus {
        self.signal("TERM")
    }

    /// Waits for a server that is meant to exit on its own (up to `limit`).
    pub fn wait_exit(&mut self, limit: Duration) -> Exited {
        let mut child = self.child.take().expect("the server was already ended");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.stderr.wait_closed();
                return Exited {
                    status,
                    stderr: self.stderr.text(),
                };
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{}", self.report(&format!("did not exit within {limit:?}")));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The child, checked to be still running, for a test that ends it.
    fn take_running(&mut self, what: &str) -> Child {
        let mut child = self.child.take().expect("the server was already ended");
        if let Some(status) = self.exited(&mut child) {
            panic!(
                "{}",
                self.report(&format!("exited during the test ({status}), before {what}"))
            );
        }
        if !self.stderr.panics().is_empty() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{}", self.report(&format!("logged a panic before {what}")));
        }
        child
    }

    /// The exit status if the process has ended. Its stderr reaches its end
    /// (all its files closed) a moment before it can be reaped: a process
    /// whose stderr ended is waited for briefly.
    fn exited(&self, child: &mut Child) -> Option<ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let status = child.try_wait().expect("try_wait");
            if status.is_some() || !self.stderr.ended() || Instant::now() > deadline {
                return status;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// What went wrong, with the panics and last lines the server logged.
    fn report(&self, what: &str) -> String {
        self.stderr.wait_closed();
        let panics = self.stderr.panics();
        let panics = if panics.is_empty() {
            String::new()
        } else {
            format!("; panics:\n{}", panics.join("\n"))
        };
        format!(
            "server (pid {}, {}) {what}{panics}\nits last stderr lines:\n{}",
            self.pid,
            self.addr,
            self.stderr.text()
        )
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Err(report) = self.teardown() {
            if std::thread::panicking() {
                // The test fails already; a second panic would abort.
                eprintln!("{report}");
            } else {
                panic!("{report}");
            }
        }
    }
}

/// Sends `SIG<name>` with `kill` and waits up to [`STOP_LIMIT`] for the exit.
fn send_and_wait(child: &mut Child, name: &str) -> Result<ExitStatus, String> {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .map_err(|e| format!("cannot run kill: {e}"))?;
    if !sent.success() {
        return Err(format!("kill -{name} failed ({sent})"));
    }
    let deadline = Instant::now() + STOP_LIMIT;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Ok(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("still running {STOP_LIMIT:?} after SIG{name}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A process's stderr as it arrives: echoed to the test's stderr, the last
/// [`KEPT_LINES`] lines and every panic line kept.
#[derive(Clone)]
pub struct Stderr(Arc<(Mutex<Lines>, Condvar)>);

#[derive(Default)]
struct Lines {
    last: VecDeque<String>,
    panics: Vec<String>,
    /// The pipe reached its end (the process exited).
    closed: bool,
}

impl Stderr {
    fn follow(pipe: ChildStderr) -> Stderr {
        let s = Stderr(Arc::new((Mutex::new(Lines::default()), Condvar::new())));
        let shared = s.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                eprintln!("{line}");
                let mut l = shared.lines();
                if line.contains(PANIC_MARK) {
                    l.panics.push(line.clone());
                }
                if l.last.len() == KEPT_LINES {
                    l.last.pop_front();
                }
                l.last.push_back(line);
                drop(l);
                shared.0 .1.notify_all();
            }
            shared.lines().closed = true;
            shared.0 .1.notify_all();
        });
        s
    }

    fn lines(&self) -> std::sync::MutexGuard<'_, Lines> {
        self.0 .0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The kept lines.
    pub fn text(&self) -> String {
        let l = self.lines();
        l.last.iter().map(|s| format!("{s}\n")).collect()
    }

    /// The panic lines logged so far.
    pub fn panics(&self) -> Vec<String> {
        self.lines().panics.clone()
    }

    /// Waits up to `limit` for a line containing `needle`; whether one came.
    pub fn wait_for(&self, needle: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut l = self.lines();
        loop {
            if l.last.iter().any(|s| s.contains(needle)) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || l.closed {
                return false;
            }
            l = self
                .0
                 .1
                .wait_timeout(l, left)
                .map_or_else(|e| e.into_inner().0, |r| r.0);
        }
    }

    /// Whether the pipe is at its end.
    fn ended(&self) -> bool {
        self.lines().closed
    }

    /// Waits (briefly) until the pipe is at its end, so reports on an exited
    /// process hold its last lines.
    fn wait_closed(&self) {
        self.wait_end(Duration::from_secs(5));
    }

    /// Waits up to `limit` for the end of stderr: the process has exited
    /// (unless it handed the pipe to another); whether it came.
    pub fn wait_end(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut l = self.lines();
        while !l.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            l = self
                .0
                 .1
                .wait_timeout(l, left)
                .map_or_else(|e| e.into_inner().0, |r| r.0);
        }
        true
    }
}
