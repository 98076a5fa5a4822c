//! A connection's transport: the socket, and on a TLS port the rustls
//! session between it and the parsers. Reads give plaintext and writes take
//! plaintext either way, so the rest of the reactor does not know which it
//! has; a plain connection holds nothing more than its socket (the session
//! slot is an empty pointer).
//!
//! The session is sans-I/O: it reads and writes through the same
//! non-blocking socket, and the handshake advances inside `read` (records
//! in, replies out). It holds at most one record of ciphertext to send
//! ([`MAX_PLAINTEXT_PER_WRITE`] per write), and when idle its read buffer
//! (4 KB) and its keys.

use mio::event::Source;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::ServerConnection;
use std::io::{self, IoSlice, Read, Write};
use std::sync::Arc;

/// Plaintext encrypted per write: one full TLS record. The next write waits
/// until the socket took the previous record's ciphertext.
const MAX_PLAINTEXT_PER_WRITE: usize = 16 * 1024;

pub(super) struct Transport {
    sock: TcpStream,
    tls: Option<Box<ServerConnection>>,
    /// TLS: the last socket read was shorter than the room offered, so the
    /// socket was empty then (new bytes raise a new readiness edge).
    drained: bool,
}

/// The socket as the session reads it, noting a short read.
struct Noting<'a> {
    sock: &'a mut TcpStream,
    short: &'a mut bool,
}

impl Read for Noting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.sock.read(buf)?;
        *self.short = n < buf.len();
        Ok(n)
    }
}

impl Transport {
    pub(super) fn plain(sock: TcpStream) -> Transport {
        Transport {
            sock,
            tls: None,
            drained: false,
        }
    }

    pub(super) fn tls(sock: TcpStream, config: Arc<rustls::ServerConfig>) -> io::Result<Transport> {
        let session = ServerConnection::new(config).map_err(io::Error::other)?;
        Ok(Transport {
            sock,
            tls: Some(Box::new(session)),
            drained: false,
        })
    }

    /// Whether a read that returned less than the buffer's room proves the
    /// socket drained (saving the read that would block). Plain: always.
    /// TLS: when the session's last socket read was short too (the session
    /// gives all its plaintext to a read with room for it).
    pub(super) fn short_read_drains(&self) -> bool {
        self.tls.is_none() || self.drained
    }

    /// The TLS handshake is not finished.
    pub(super) fn handshaking(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.is_handshaking())
    }

    /// Ciphertext is waiting for the socket to take it.
    pub(super) fn wants_write(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.wants_write())
    }

    /// Sends what the session has for the socket, until done or the socket
    /// would block.
    pub(super) fn push(&mut self) -> io::Result<()> {
        let Some(tls) = self.tls.as_mut() else {
            return Ok(());
        };
        while tls.wants_write() {
            match tls.write_tls(&mut self.sock) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Ends the write side: over TLS a `close_notify` first (sent if the
    /// socket takes it now).
    pub(super) fn shutdown(&mut self, how: std::net::Shutdown) -> io::Result<()> {
        if let Some(tls) = self.tls.as_mut() {
            tls.send_close_notify();
            self.push()?;
        }
        self.sock.shutdown(how)
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(tls) = self.tls.as_mut() else {
            return self.sock.read(buf);
        };
        loop {
            match tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The peer closed without close_notify: an EOF all the same.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            let mut sock = Noting {
                sock: &mut self.sock,
                short: &mut self.drained,
            };
            if tls.read_tls(&mut sock)? == 0 {
                return Ok(0);
            }
            if let Err(e) = tls.process_new_packets() {
                // The session queued an alert saying why: send it if the
                // socket takes it, then the caller closes.
                let _ = tls.write_tls(&mut self.sock);
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            // Handshake replies (and TLS 1.3 tickets) go out at once.
            while tls.wants_write() {
                match tls.write_tls(&mut self.sock) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.tls.is_none() {
            return self.sock.write(buf);
        }
        self.push()?;
        let Some(tls) = self.tls.as_mut() else {
            return Ok(0);
        };
        if tls.wants_write() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = tls
            .writer()
            .write(&buf[..buf.len().min(MAX_PLAINTEXT_PER_WRITE)])?;
        self.push()?;
        if n == 0 && !buf.is_empty() {
            // The session's buffer is full (mid-handshake): wait.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if self.tls.is_none() {
            return self.sock.write_vectored(bufs);
        }
        match bufs.iter().find(|b| !b.is_empty()) {
            Some(b) => self.write(b),
            None => Ok(0),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.push()
    }
}

impl Source for Transport {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        self.sock.register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        self.sock.reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.sock.deregister(registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_transport_is_a_socket_and_an_empty_pointer() {
        // The socket, the session pointer (null when plain) and a flag: no
        // allocation, and at most 16 bytes more than the socket (in a
        // release build, where mio's socket is its 4-byte descriptor, 16
        // bytes in all).
        let socket = std::mem::size_of::<TcpStream>();
        assert!(std::mem::size_of::<Transport>() <= socket + 16);
        assert_eq!(std::mem::size_of::<Option<Box<ServerConnection>>>(), 8);
        // What the box holds over TLS, besides its buffers and keys.
        println!(
            "ServerConnection: {} bytes",
            std::mem::size_of::<ServerConnection>()
        );
    }
}
