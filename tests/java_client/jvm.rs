//! One Java program under test as a process the test talks to in lines: a
//! command goes to its stdin, its reply and its events come back on stdout
//! (the protocol of `tests/java/*/src/main/java`: tab-separated fields, each
//! percent-encoded, a value written `=`text or `null`). The program runs in a
//! scratch directory that is also its home (snapshots, failover files and the
//! client's own log live there), in its own process group, with stderr kept
//! in a file that every failure message shows.

use crate::common::sdk::{kill_group, read_text, wait_group, without_proxies};
use crate::common::{enc, lossy};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Longest wait for the reply to one command (a get against a stopped server
/// retries for its whole timeout; a JVM on a busy machine is slow to warm up).
const REPLY_LIMIT: Duration = Duration::from_secs(60);
/// How much of the client's log a failure shows.
const CLIENT_LOG_LINES: usize = 80;
/// Longest wait for the program to exit after `quit`.
const EXIT_LIMIT: Duration = Duration::from_secs(30);

/// An event line from the program, stamped with when the test read it.
#[derive(Debug, Clone)]
pub struct Event {
    pub fields: Vec<String>,
    pub at: Instant,
}

pub struct Jvm {
    label: String,
    child: Child,
    stdin: ChildStdin,
    replies: Receiver<Vec<String>>,
    events: Receiver<Event>,
    scratch: tempfile::TempDir,
}

impl Jvm {
    /// Starts `java -cp classpath main args` in a fresh scratch
    /// home. `event_tags` are the first fields of the lines that are events
    /// rather than replies.
    pub fn start(
        label: &str,
        classpath: &str,
        main: &str,
        args: &[String],
        event_tags: &'static [&'static str],
    ) -> Jvm {
        let scratch = tempfile::tempdir().expect("scratch directory for a Java program");
        let home = scratch.path();
        let stderr = std::fs::File::create(home.join("stderr.log")).expect("stderr log");
        let mut cmd = Command::new("java");
        cmd.args([
            // A short-lived test program: a quick JIT and a small collector
            // leave the machine's two cores to the server and the other tests.
            "-XX:TieredStopAtLevel=1",
            "-XX:+UseSerialGC",
            "-Xmx512m",
            "-Dfile.encoding=UTF-8",
        ])
        // Java takes its home from the password database, not $HOME.
        .arg(format!("-Duser.home={}", home.display()))
        .arg("-cp")
        .arg(classpath)
        .arg(main)
        .args(args)
        .current_dir(home)
        .env("HOME", home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .process_group(0);
        without_proxies(&mut cmd);
        for var in ["JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS"] {
            cmd.env_remove(var);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{label}: cannot start `java` (a JDK is required): {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (reply_tx, replies) = mpsc::channel();
        let (event_tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let fields: Vec<String> = line.split('\t').map(dec).collect();
                let sent = if event_tags.contains(&fields[0].as_str()) {
                    event_tx
                        .send(Event {
                            fields,
                            at: Instant::now(),
                        })
                        .is_ok()
                } else {
                    reply_tx.send(fields).is_ok()
                };
                if !sent {
                    break;
                }
            }
        });
        Jvm {
            label: label.to_string(),
            child,
            stdin,
            replies,
            events,
            scratch,
        }
    }

    /// The program's home (and working directory).
    pub fn home(&self) -> &Path {
        self.scratch.path()
    }

    /// Sends one command; returns the reply's fields after `ok`, or the
    /// `err` line's fields (exception class, error code, message).
    pub fn try_command(&mut self, fields: &[&str]) -> Result<Vec<String>, Vec<String>> {
        let line: Vec<String> = fields.iter().map(|f| enc(f)).collect();
        writeln!(self.stdin, "{}", line.join("\t"))
            .and_then(|()| self.stdin.flush())
            .unwrap_or_else(|e| self.fail(&format!("sending {fields:?}: {e}")));
        let mut reply = self.reply(REPLY_LIMIT, &format!("the reply to {fields:?}"));
        match reply.first().map(String::as_str) {
            Some("ok") => Ok(reply.split_off(1)),
            Some("err") => Err(reply.split_off(1)),
            _ => self.fail(&format!("unexpected reply to {fields:?}: {reply:?}")),
        }
    }

    /// [`Jvm::try_command`] that must succeed.
    pub fn command(&mut self, fields: &[&str]) -> Vec<String> {
        match self.try_command(fields) {
            Ok(reply) => reply,
            Err(err) => self.fail(&format!("{fields:?} failed: {err:?}")),
        }
    }

    /// The next reply-or-status line (not an event), within `limit`.
    pub fn reply(&mut self, limit: Duration, what: &str) -> Vec<String> {
        match self.replies.recv_timeout(limit) {
            Ok(reply) => reply,
            Err(RecvTimeoutError::Timeout) => self.fail(&format!("no {what} within {limit:?}")),
            Err(RecvTimeoutError::Disconnected) => self.fail(&format!(
                "the program's stdout closed while waiting for {what}"
            )),
        }
    }

    /// The next event within `limit`, if any.
    pub fn next_event(&mut self, limit: Duration) -> Option<Event> {
        self.events.recv_timeout(limit).ok()
    }

    /// What the program wrote to stderr so far.
    pub fn stderr(&self) -> String {
        read_text(&self.home().join("stderr.log"))
    }

    /// A text file under the program's home, or "" when there is none.
    pub fn home_file(&self, relative: &str) -> String {
        let path: PathBuf = self.home().join(relative);
        if path.exists() {
            read_text(&path)
        } else {
            String::new()
        }
    }

    /// Asserts that the client's own log (`~/logs/nacos/config.log`, which
    /// must exist) holds no line [`is_trouble`] picks out, and stderr no line
    /// `stderr_trouble` picks out.
    pub fn assert_quiet(&self, stderr_trouble: impl Fn(&str) -> bool) {
        let config_log = self.home_file("logs/nacos/config.log");
        let stderr = self.stderr();
        assert!(
            !config_log.is_empty(),
            "{}: the client wrote no config.log",
            self.label
        );
        let bad: Vec<&str> = (config_log.lines().filter(|l| is_trouble(l)))
            .chain(stderr.lines().filter(|l| stderr_trouble(l)))
            .collect();
        assert!(
            bad.is_empty(),
            "{}: the client logged errors, warnings or timeouts:\n{}\n\
             ---- config.log ----\n{config_log}---- stderr ----\n{stderr}",
            self.label,
            bad.join("\n")
        );
    }

    /// Panics with `what`, the program's stderr and the end of the client's
    /// own log (`~/logs/nacos/config.log`).
    pub fn fail(&self, what: &str) -> ! {
        let log = self.home_file("logs/nacos/config.log");
        let tail: Vec<&str> = log.lines().rev().take(CLIENT_LOG_LINES).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!(
            "{}: {what}\n---- stderr ----\n{}---- the last {CLIENT_LOG_LINES} lines of config.log ----\n{}\n---- end ----",
            self.label,
            self.stderr(),
            tail.join("\n")
        )
    }

    /// Sends `quit`, expects `bye` and exit status 0. The scratch home stays
    /// until the value is dropped.
    pub fn quit(&mut self) {
        writeln!(self.stdin, "quit")
            .and_then(|()| self.stdin.flush())
            .unwrap_or_else(|e| self.fail(&format!("sending quit: {e}")));
        let bye = self.reply(EXIT_LIMIT, "`bye` after quit");
        if bye != ["bye"] {
            self.fail(&format!("expected `bye` after quit, got {bye:?}"));
        }
        let status = wait_group(&mut self.child, EXIT_LIMIT);
        if !status.is_some_and(|s| s.success()) {
            self.fail(&format!("exited with {status:?} after quit"));
        }
    }
}

impl Drop for Jvm {
    fn drop(&mut self) {
        kill_group(self.child.id());
        let _ = self.child.wait();
    }
}

/// A field as the Java side encodes it (`URLEncoder`: `+` for a space).
fn dec(field: &str) -> String {
    let spaced = field.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .unwrap_or_else(|_| lossy(field.as_bytes()))
}

/// A config value field: `=text` or `null`.
pub fn value(field: &str) -> Option<String> {
    match field.strip_prefix('=') {
        Some(text) => Some(text.to_string()),
        None => {
            assert_eq!(field, "null", "a value field is `=text` or `null`");
            None
        }
    }
}

/// A log line that reports a problem: level ERROR or WARN (Logback's `%p`
/// between the time and the thread), an exception, or a timeout (Java's
/// socket timeouts say "timed out").
pub fn is_trouble(line: &str) -> bool {
    line.contains(" ERROR ")
        || line.contains(" WARN ")
        || line.contains("Exception")
        || line.contains("timed out")
}
