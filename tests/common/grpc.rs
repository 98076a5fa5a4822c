//! A vigil that serves the Nacos 2.x gRPC protocol beside HTTP, for the real
//! gRPC clients: HTTP on a port `P` and gRPC on `P + 1000`, the offset every
//! Nacos client assumes by default, so a client is given only `P`.

use super::server::{vigil_command_on, Server};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;

/// The clients' default distance from the HTTP port to the gRPC port.
pub const GRPC_OFFSET: u16 = 1000;
/// Attempts at a free pair of ports before giving up (another process may
/// take a port between the probe and the server's bind).
const ATTEMPTS: usize = 10;

/// A port `P` on loopback with `P + 1000` free too (both bound, then
/// released).
pub fn free_port_pair() -> u16 {
    for _ in 0..ATTEMPTS * 10 {
        let Ok(http) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(addr) = http.local_addr() else {
            continue;
        };
        let Some(grpc) = addr.port().checked_add(GRPC_OFFSET) else {
            continue;
        };
        if TcpListener::bind(("127.0.0.1", grpc)).is_ok() {
            return addr.port();
        }
    }
    panic!("no free loopback port P with P + {GRPC_OFFSET} free as well");
}

/// Starts vigil on `data_dir` with `extra` flags on a free port `P` whose
/// `P + 1000` is free too; it serves gRPC there by default. A start that
/// fails (a port taken between the probe and the bind) is retried on
/// another pair.
pub fn start_grpc(data_dir: &Path, extra: &[&str]) -> Server {
    let mut failures = Vec::new();
    for _ in 0..ATTEMPTS {
        let port = free_port_pair();
        match Server::launch(vigil_command_on(port, data_dir, extra), data_dir) {
            Ok(server) => return server,
            Err(exited) => failures.push(format!("port {port}: {exited:?}")),
        }
    }
    panic!(
        "vigil did not start with gRPC in {ATTEMPTS} attempts:\n{}",
        failures.join("\n")
    );
}

/// The gRPC port of a server started by [`start_grpc`] (or on a port chosen
/// by [`free_port_pair`]).
pub fn grpc_port(s: &Server) -> u16 {
    grpc_addr(s.addr).port()
}

/// The gRPC address of `http` (its port + 1000).
pub fn grpc_addr(http: SocketAddr) -> SocketAddr {
    let port = http
        .port()
        .checked_add(GRPC_OFFSET)
        .unwrap_or_else(|| panic!("{http}: no gRPC port {GRPC_OFFSET} above it (use start_grpc)"));
    SocketAddr::new(http.ip(), port)
}
