//! A gRPC probe: the real gRPC stack (Python's grpcio, pinned, installed
//! from PyPI at test time) speaking Nacos payloads to a server's gRPC port,
//! driven line by line (`tests/grpc/probe.py` documents the commands).
//! One probe is one channel, so one TCP connection: one Nacos connection.

use super::sdk::{ensure_installed, pip_install, require_tool, workspace_dir};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The grpcio release the probe runs on.
pub const GRPCIO: &str = "1.68.1";

/// Installs the pinned grpcio (once per test binary); the directory to put
/// on `PYTHONPATH`.
pub fn grpcio() -> std::path::PathBuf {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        require_tool("python3", &["--version"], "runs the gRPC probe");
        require_tool(
            "python3",
            &["-m", "pip", "--version"],
            "installs grpcio from PyPI",
        );
        let fingerprint = format!("grpcio=={GRPCIO} --no-deps\n");
        ensure_installed(&format!("grpcio-{GRPCIO}"), &fingerprint, |dir| {
            let spec = format!("grpcio=={GRPCIO}");
            pip_install(dir, &[spec.as_ref()]);
        })
    })
    .clone()
}

/// One gRPC connection to a server.
pub struct Probe {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Probe {
    /// Connects to a gRPC address.
    pub fn connect(addr: SocketAddr) -> Probe {
        Probe::connect_with(addr, &[])
    }

    /// Connects over TLS, checking the server's certificate against the
    /// CA in `ca` (PEM); `mine`: a client certificate and key (PEM files)
    /// to present.
    pub fn connect_tls(
        addr: SocketAddr,
        ca: &std::path::Path,
        mine: Option<(&std::path::Path, &std::path::Path)>,
    ) -> Probe {
        let mut files = vec![ca];
        if let Some((cert, key)) = mine {
            files.extend([cert, key]);
        }
        Probe::connect_with(addr, &files)
    }

    fn connect_with(addr: SocketAddr, files: &[&std::path::Path]) -> Probe {
        let script = workspace_dir().join("tests/grpc/probe.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script)
            .arg(addr.to_string())
            .args(files)
            .env("PYTHONPATH", grpcio())
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        super::sdk::without_proxies(&mut cmd);
        let mut child = cmd.spawn().expect("starting the gRPC probe");
        let stdin = child.stdin.take().expect("probe stdin");
        let stdout = BufReader::new(child.stdout.take().expect("probe stdout"));
        Probe {
            child,
            stdin,
            stdout,
        }
    }

    fn ask(&mut self, cmd: Value) -> Value {
        let line = format!("{cmd}\n");
        self.stdin
            .write_all(line.as_bytes())
            .expect("writing to the probe");
        let mut answer = String::new();
        self.stdout
            .read_line(&mut answer)
            .expect("reading from the probe");
        assert!(!answer.is_empty(), "the probe exited on {cmd}");
        serde_json::from_str(&answer).unwrap_or_else(|e| panic!("probe said {answer:?}: {e}"))
    }

    /// A unary call: `{"type", "body"}`, or `{"status", "details"}` for a
    /// gRPC error.
    pub fn unary(&mut self, class: &str, body: Value) -> Value {
        self.ask(json!({"op": "unary", "type": class, "body": body}))
    }

    /// A unary call with metadata headers (e.g. `accessToken`).
    pub fn unary_with(&mut self, class: &str, body: Value, headers: Value) -> Value {
        self.ask(json!({"op": "unary", "type": class, "body": body, "headers": headers}))
    }

    /// A unary call with an arbitrary message.
    pub fn raw(&mut self, bytes: &[u8]) -> Value {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        self.ask(json!({"op": "raw", "bytes_hex": hex}))
    }

    /// A call to another method path.
    pub fn method(&mut self, path: &str) -> Value {
        self.ask(json!({"op": "method", "path": path}))
    }

    /// Opens the bi-stream with a `ConnectionSetupRequest` (reporting
    /// `client_ip` as the client's own address, if given), then waits until
    /// the server has registered the connection.
    pub fn open(&mut self, client_ip: Option<&str>) {
        let setup = json!({"clientVersion": "vigil-probe", "tenant": "",
            "labels": {"source": "sdk", "module": "config"}, "abilityTable": {}});
        self.ask(json!({"op": "open", "body": setup, "client_ip": client_ip}));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = self.unary("HealthCheckRequest", json!({}));
            if r["type"] == "HealthCheckResponse" {
                return;
            }
            assert!(Instant::now() < deadline, "never registered: {r}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a payload on the bi-stream.
    pub fn send(&mut self, class: &str, body: Value) {
        self.ask(json!({"op": "send", "type": class, "body": body}));
    }

    /// The next payload the server sent on the bi-stream, `{"timeout":
    /// true}` if none within `secs`, or `{"ended", "details"}`.
    pub fn recv(&mut self, secs: f64) -> Value {
        self.ask(json!({"op": "recv", "timeout": secs}))
    }

    /// Ends the client's half of the bi-stream.
    pub fn close_bi(&mut self) {
        self.ask(json!({"op": "end"}));
    }

    /// Listens to keys: `(dataId, group, tenant, md5)` each; the answer.
    pub fn listen(&mut self, keys: &[(&str, &str, &str, &str)]) -> Value {
        let contexts: Vec<Value> = keys
            .iter()
            .map(|(d, g, t, m)| json!({"dataId": d, "group": g, "tenant": t, "md5": m}))
            .collect();
        self.unary(
            "ConfigBatchListenRequest",
            json!({"listen": true, "configListenContexts": contexts}),
        )
    }

    /// The next push, answered as the clients answer it; panics unless it
    /// is a change notify within `secs`.
    pub fn next_notify(&mut self, secs: f64) -> Value {
        let m = self.recv(secs);
        assert_eq!(
            m["type"], "ConfigChangeNotifyRequest",
            "expected a notify: {m}"
        );
        let id = m["body"]["requestId"].clone();
        self.send(
            "ConfigChangeNotifyResponse",
            json!({"requestId": id, "resultCode": 200}),
        );
        m["body"].clone()
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
