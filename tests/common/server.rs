//! The `vigil` server under test: its command line, and [`Server`], a
//! running vigil with its data directory, ended through [`process`]'s
//! checks.

use super::process::{Exited, Process, Stderr};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

/// The `vigil` command on `127.0.0.1:0` with `data_dir` and `extra` flags,
/// and no `VIGIL_*` variable inherited from the environment; start it with
/// [`Server::launch`].
pub fn vigil_command(data_dir: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigil"));
    vigil_args(&mut cmd, data_dir, extra);
    cmd
}

/// Adds to `cmd` (the binary, or a wrapper that execs it) what
/// [`vigil_command`] sets: loopback, port 0, `data_dir`, `extra`, and no
/// inherited `VIGIL_*` variable.
pub fn vigil_args(cmd: &mut Command, data_dir: &Path, extra: &[&str]) {
    vigil_args_on(cmd, 0, data_dir, extra);
}

/// [`vigil_command`] on a chosen `port` (0: any free one).
pub fn vigil_command_on(port: u16, data_dir: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigil"));
    vigil_args_on(&mut cmd, port, data_dir, extra);
    cmd
}

/// [`vigil_args`] with a chosen `port` (0: any free one).
fn vigil_args_on(cmd: &mut Command, port: u16, data_dir: &Path, extra: &[&str]) {
    cmd.args([
        "--bind",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--data-dir",
    ])
    .arg(data_dir)
    .args(extra);
    for (k, _) in std::env::vars() {
        if k.starts_with("VIGIL_") {
            cmd.env_remove(k);
        }
    }
}

/// A running vigil with its data directory. Dropping it is the teardown
/// check (see [`process`]): it must still be running, and SIGTERM must make
/// it exit 0.
pub struct Server {
    proc: Process,
    pub addr: SocketAddr,
    /// The gRPC door's address (`None`: off).
    pub grpc: Option<SocketAddr>,
    pub data_dir: PathBuf,
    /// Keeps the temporary data directory alive as long as the server (and
    /// is dropped after it: fields drop in order).
    _tmp: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts a server with a fresh temporary data directory.
    pub fn start() -> Server {
        Server::start_args(&[])
    }

    /// Starts a server with a fresh temporary data directory and extra flags.
    pub fn start_args(extra: &[&str]) -> Server {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("data");
        let mut s = Server::start_in(&dir, extra);
        s._tmp = Some(tmp);
        s
    }

    /// Starts a server on an existing (or new) data directory; used for restarts.
    pub fn start_in(data_dir: &Path, extra: &[&str]) -> Server {
        Server::start_on(0, data_dir, extra)
    }

    /// Like [`Server::start_in`], on `port` (0: any free one): a restart
    /// where clients that know only the old address must find it again.
    pub fn start_on(port: u16, data_dir: &Path, extra: &[&str]) -> Server {
        Server::spawn(vigil_command_on(port, data_dir, extra), data_dir)
    }

    /// [`Server::launch`] for a server that must start: fails the test with
    /// how it ended if it exits before listening.
    pub fn spawn(cmd: Command, data_dir: &Path) -> Server {
        Server::launch(cmd, data_dir)
            .unwrap_or_else(|e| panic!("vigil exited before listening: {e:?}"))
    }

    /// Runs `cmd` (a [`vigil_command`], or a wrapper set up by
    /// [`vigil_args`]) serving `data_dir`: the server once it listens, or how
    /// it ended if it exits first.
    pub fn launch(cmd: Command, data_dir: &Path) -> Result<Server, Exited> {
        let proc = Process::launch(cmd)?;
        Ok(Server {
            addr: proc.addr,
            grpc: proc.grpc,
            proc,
            data_dir: data_dir.to_path_buf(),
            _tmp: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// What the server wrote on stderr so far.
    pub fn stderr(&self) -> &Stderr {
        self.proc.stderr()
    }

    /// `kill -9` on purpose: no chance to flush anything. The server must
    /// still be running.
    pub fn kill9(&mut self) {
        self.proc.kill9();
    }

    /// Sends SIGTERM and returns the exit status, for the test to judge.
    pub fn sigterm(&mut self) -> ExitStatus {
        self.proc.sigterm()
    }

    /// Sends `SIG<name>` and returns the exit status, for the test to judge.
    pub fn signal(&mut self, name: &str) -> ExitStatus {
        self.proc.signal(name)
    }

    /// The teardown check, without panicking: `Err` with a report unless the
    /// server was still running and SIGTERM made it exit 0.
    pub fn teardown(&mut self) -> Result<(), String> {
        self.proc.teardown()
    }

    /// Stops the server, panicking unless the teardown check passes.
    pub fn stop(self) {
        let Server { proc, _tmp, .. } = self;
        proc.stop();
    }

    /// Waits for a server meant to exit on its own.
    pub fn wait_exit(&mut self, limit: Duration) -> Exited {
        self.proc.wait_exit(limit)
    }

    /// Keeps `tmp` (holding the data directory) until the server is gone.
    pub fn keep_tmp(&mut self, tmp: tempfile::TempDir) {
        self._tmp = Some(tmp);
    }

    /// Takes the temp dir out so a test can restart on the same data.
    pub fn take_tmp(&mut self) -> Option<tempfile::TempDir> {
        self._tmp.take()
    }
}

/// Runs a vigil meant to refuse to start (`cmd` from [`vigil_command`] or
/// [`vigil_args`]): how it ended. Fails the test if it listens instead.
pub fn refused(cmd: Command, what: &str) -> Exited {
    match Process::launch(cmd) {
        Ok(p) => panic!("{what}: vigil started on {} instead of refusing", p.addr),
        Err(e) => e,
    }
}
