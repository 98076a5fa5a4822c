//! TLS on the HTTP and gRPC ports (issue 21), over real sockets with real
//! clients: curl, grpcio (`common::probe`), and a rustls client
//! (`client`); the CAs are made at test time (`pki`). Every server here
//! starts with `VIGIL_TLS_CERT` / `VIGIL_TLS_KEY` (and
//! `VIGIL_TLS_CLIENT_CA`), the variables the README's table lists.

#[path = "../common/mod.rs"]
mod common;

mod bad_input;
mod client;
mod console;
mod grpc;
mod https;
mod mutual;
mod pki;
mod python;
mod rotation;
#[path = "../console_e2e/webdriver.rs"]
#[allow(dead_code)]
mod webdriver;

use client::{TlsClient, Trust};
use common::{vigil_command, Server};
use pki::Ca;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A CA, a server pair it signed, and the directory holding them.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca: Ca,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn pki() -> Pki {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new(dir.path(), "one");
    let (cert, key) = ca.server("server");
    Pki { dir, ca, cert, key }
}

/// A server with TLS from `p`'s pair, `env` more variables and `args`.
pub fn start(p: &Pki, env: &[(&str, &Path)], args: &[&str]) -> Server {
    start_pair(&p.cert, &p.key, env, args)
}

/// A server with TLS from the pair `cert`, `key`.
pub fn start_pair(cert: &Path, key: &Path, env: &[(&str, &Path)], args: &[&str]) -> Server {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    let mut cmd = vigil_command(&data, args);
    cmd.env("VIGIL_TLS_CERT", cert).env("VIGIL_TLS_KEY", key);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut s = Server::spawn(cmd, &data);
    s.keep_tmp(tmp);
    s
}

/// An HTTPS connection trusting `ca`.
pub fn https(addr: SocketAddr, ca: &Path) -> TlsClient {
    TlsClient::connect(addr, &Trust::ca(ca)).expect("TLS connection")
}

/// The server's metrics, read over HTTPS.
pub fn metrics(addr: SocketAddr, ca: &Path) -> HashMap<String, u64> {
    let (status, text) = https(addr, ca)
        .roundtrip(&common::get_raw("/nacos/actuator/prometheus"))
        .expect("metrics over TLS");
    assert_eq!(status, 200);
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_owned(), v.parse::<f64>().ok()? as u64))
        })
        .collect()
}

/// Waits (10 s at most) until `name` satisfies `ok`; its value then.
pub fn wait_metric(addr: SocketAddr, ca: &Path, name: &str, ok: impl Fn(u64) -> bool) -> u64 {
    let t = Instant::now();
    loop {
        let v = metrics(addr, ca).get(name).copied().unwrap_or(0);
        if ok(v) {
            return v;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "{name} stays at {v}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends SIGHUP (the server goes on running).
pub fn hup(s: &Server) {
    let st = Command::new("kill")
        .args(["-HUP", &s.pid().to_string()])
        .status()
        .expect("kill");
    assert!(st.success());
}

/// A publish over HTTPS.
pub fn publish(addr: SocketAddr, ca: &Path, data_id: &str, content: &str) {
    let body = common::form(&[("dataId", data_id), ("group", "G"), ("content", content)]);
    let raw = common::post_raw("/nacos/v1/cs/configs", &[], body.as_bytes());
    let r = https(addr, ca).roundtrip(&raw).expect("publish over TLS");
    assert_eq!(r, (200, "true".to_owned()));
}
