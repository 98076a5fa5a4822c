//! Accepting connections, and shedding the ones past the connection cap or
//! the open-file limit (a quick close beats a hang).

use super::conn::{Conn, State};
use super::tls::Transport;
use super::{Reactor, GRPC_LISTENER};
use crate::metrics::{Metrics, Rejection};
use mio::net::TcpStream;
use mio::{Interest, Token};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

/// How long accepting pauses after the process ran out of file descriptors.
const ACCEPT_PAUSE_MS: u64 = 100;
/// Descriptors kept free below the learnt open-file cap (reserves,
/// SQLite's temporary files).
const FD_CAP_MARGIN: u64 = 8;

/// Creates a listening socket with a large backlog and `SO_REUSEPORT`, so
/// every reactor can bind the same address.
pub fn bind_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(65_535)?;
    Ok(socket.into())
}

impl Reactor {
    /// Accepts what waits on the HTTP port, or on the gRPC port (`grpc`).
    pub(super) fn accept(&mut self, grpc: bool) {
        if self.accept_paused_until.is_some() {
            return;
        }
        if self.reserve_fd.is_none() {
            self.reserve_fd = std::fs::File::open("/dev/null").ok();
        }
        loop {
            let listener = if grpc {
                self.grpc_listener.as_ref()
            } else {
                self.listener.as_ref()
            };
            let Some(listener) = listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => {
                    // The cap is global: SO_REUSEPORT spreads connections
                    // unevenly, so no reactor gets a fixed share.
                    let cap =
                        (self.max_conns as u64).min(self.metrics.fd_cap.load(Ordering::Relaxed));
                    if self.metrics.open_connections.load(Ordering::Relaxed) >= cap {
                        self.metrics.reject(Rejection::ConnectionShed);
                        log::debug!("shedding {peer}: {} connections open", self.max_conns);
                        drop(stream);
                        continue;
                    }
                    self.add_conn(stream, peer, grpc);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if is_fd_exhaustion(&e) => {
                    // The open-file limit is the real cap: remember it, a few
                    // descriptors short, so that from now on connections past
                    // it are accepted and shed at once instead of keeping the
                    // descriptors shedding needs.
                    let open = self.metrics.open_connections.load(Ordering::Relaxed);
                    self.metrics
                        .fd_cap
                        .fetch_min(open.saturating_sub(FD_CAP_MARGIN), Ordering::Relaxed);
                    // Out of descriptors: free the reserve to accept and drop
                    // a waiting connection (a quick refusal beats a hang),
                    // take the reserve back, and go on until the backlog is
                    // empty. If another thread took the freed descriptor,
                    // pause briefly instead of spinning.
                    if self.reserve_fd.take().is_some() {
                        let shed = listener.accept();
                        self.reserve_fd = std::fs::File::open("/dev/null").ok();
                        match shed {
                            Ok((stream, peer)) => {
                                self.metrics.reject(Rejection::ConnectionShed);
                                log::debug!("out of file descriptors: shedding {peer}");
                                drop(stream);
                                continue;
                            }
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                            Err(_) => {}
                        }
                    }
                    log::warn!("out of file descriptors ({e}); pausing accept");
                    self.accept_paused_until = Some(self.now_tick + self.ticks(ACCEPT_PAUSE_MS));
                    return;
                }
                Err(e) => {
                    // Per-connection failures (e.g. aborted before accept).
                    log::debug!("accept: {e}");
                }
            }
        }
    }

    fn add_conn(&mut self, mut stream: TcpStream, peer: SocketAddr, grpc: bool) {
        let _ = stream.set_nodelay(true);
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        if key >= GRPC_LISTENER.0 {
            return;
        }
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            log::warn!("cannot register {peer}: {e}");
            return;
        }
        let transport = match &self.tls {
            None => Transport::plain(stream),
            Some(slot) => match Transport::tls(stream, slot.config(grpc)) {
                Ok(t) => t,
                Err(e) => {
                    log::warn!("no TLS session for {peer}: {e}");
                    return;
                }
            },
        };
        let handshaking = transport.handshaking();
        self.next_generation = self.next_generation.wrapping_add(1);
        let mut conn = Conn::new(transport, peer, self.next_generation);
        if grpc {
            let g = super::grpc::GrpcConn::new(&self.h2_limits);
            conn.state = State::Grpc(Box::new(g));
        }
        entry.insert(conn);
        self.metrics
            .open_connections
            .fetch_add(1, Ordering::Relaxed);
        Metrics::inc(&self.metrics.accepted);
        // A TLS handshake must finish within the request timeout.
        let ms = if handshaking {
            self.settings.request_timeout_ms
        } else {
            self.settings.idle_timeout_ms
        };
        let deadline = self.now_tick + self.ticks(ms);
        self.set_deadline(key, deadline);
        // Data may already be waiting; edge-triggered epoll reports it anyway,
        // but reading now saves a loop iteration.
        self.on_readable(key, true);
    }
}

/// Out of descriptors (the process's or the system's); ENOBUFS and ENOMEM
/// likewise mean "no resources for another socket right now".
fn is_fd_exhaustion(e: &io::Error) -> bool {
    use rustix::io::Errno;
    matches!(
        Errno::from_io_error(e),
        Some(Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM)
    )
}

#[cfg(test)]
mod tests {
    use super::is_fd_exhaustion;
    use rustix::io::Errno;

    #[test]
    fn out_of_descriptors_or_buffers_is_exhaustion_and_nothing_else_is() {
        for (errno, exhausted) in [
            (Errno::MFILE, true),
            (Errno::NFILE, true),
            (Errno::NOBUFS, true),
            (Errno::NOMEM, true),
            (Errno::CONNABORTED, false),
            (Errno::PERM, false),
            (Errno::AGAIN, false),
        ] {
            let e = std::io::Error::from(errno);
            assert_eq!(is_fd_exhaustion(&e), exhausted, "{errno:?}");
        }
    }
}
