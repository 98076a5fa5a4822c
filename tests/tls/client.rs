//! A small HTTPS client on rustls (the server's own TLS library, on the
//! other side): sends raw HTTP/1.1 requests over TLS and reads answers, and
//! tells which certificate and ALPN protocol the server chose.

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use rustls_pki_types::pem::PemObject;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub struct TlsClient {
    io: BufReader<StreamOwned<ClientConnection, TcpStream>>,
}

/// What a client trusts and presents.
pub struct Trust<'a> {
    pub ca: &'a Path,
    pub mine: Option<(&'a Path, &'a Path)>,
    pub alpn: &'a [&'a [u8]],
}

impl<'a> Trust<'a> {
    pub fn ca(ca: &'a Path) -> Trust<'a> {
        Trust {
            ca,
            mine: None,
            alpn: &[b"http/1.1"],
        }
    }
}

#[allow(deprecated)] // the ring provider, as the server uses
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn config(t: &Trust) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(t.ca).expect("CA file") {
        roots.add(c.expect("CA PEM")).expect("CA cert");
    }
    let b = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let mut c = match t.mine {
        None => b.with_no_client_auth(),
        Some((cert, key)) => {
            let chain: Vec<_> = CertificateDer::pem_file_iter(cert)
                .expect("client cert")
                .map(|c| c.expect("client cert PEM"))
                .collect();
            let key = PrivateKeyDer::from_pem_file(key).expect("client key");
            b.with_client_auth_cert(chain, key).expect("client auth")
        }
    };
    c.alpn_protocols = t.alpn.iter().map(|p| p.to_vec()).collect();
    c
}

impl TlsClient {
    /// Connects and finishes the handshake (as far as the client sees it:
    /// under TLS 1.3 a refused client certificate shows on the first read).
    pub fn connect(addr: SocketAddr, t: &Trust) -> io::Result<TlsClient> {
        TlsClient::over(TcpStream::connect(addr)?, t)
    }

    /// Like [`TlsClient::connect`], with a receive buffer of `bytes` (a
    /// small window: the server's writes block while the client does not
    /// read).
    pub fn connect_small_window(
        addr: SocketAddr,
        t: &Trust,
        bytes: usize,
    ) -> io::Result<TlsClient> {
        use socket2::{Domain, Socket, Type};
        let s = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        s.set_recv_buffer_size(bytes)?;
        s.connect(&addr.into())?;
        TlsClient::over(s.into(), t)
    }

    fn over(sock: TcpStream, t: &Trust) -> io::Result<TlsClient> {
        let addr = sock.peer_addr()?;
        let name = ServerName::IpAddress(addr.ip().into());
        let conn = ClientConnection::new(Arc::new(config(t)), name).map_err(io::Error::other)?;
        sock.set_read_timeout(Some(Duration::from_secs(60)))?;
        let mut s = StreamOwned::new(conn, sock);
        while s.conn.is_handshaking() {
            s.conn.complete_io(&mut s.sock)?;
        }
        Ok(TlsClient {
            io: BufReader::new(s),
        })
    }

    /// The certificate the server presented (DER).
    pub fn server_cert(&self) -> Vec<u8> {
        let certs = self.io.get_ref().conn.peer_certificates();
        certs
            .and_then(|c| c.first())
            .expect("a certificate")
            .to_vec()
    }

    pub fn alpn(&self) -> Option<Vec<u8>> {
        self.io.get_ref().conn.alpn_protocol().map(|p| p.to_vec())
    }

    pub fn set_read_timeout(&mut self, d: Duration) {
        self.io
            .get_ref()
            .sock
            .set_read_timeout(Some(d))
            .expect("timeout");
    }

    pub fn send(&mut self, raw: &[u8]) -> io::Result<()> {
        let s = self.io.get_mut();
        s.write_all(raw)?;
        s.flush()
    }

    /// One response: status and body (framed by Content-Length).
    pub fn read_response(&mut self) -> io::Result<(u16, Vec<u8>)> {
        let mut line = String::new();
        if self.io.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
        let mut len = 0;
        loop {
            let mut h = String::new();
            self.io.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().map_err(io::Error::other)?;
                }
            }
        }
        let mut body = vec![0; len];
        self.io.read_exact(&mut body)?;
        Ok((status, body))
    }

    /// One line (of a watch stream); empty at EOF.
    pub fn read_line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        self.io.read_line(&mut line)?;
        Ok(line)
    }

    /// Sends a request and reads its answer.
    pub fn roundtrip(&mut self, raw: &[u8]) -> io::Result<(u16, String)> {
        self.send(raw)?;
        let (status, body) = self.read_response()?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    /// True once the server closed (EOF or an error) within `d`; false if it
    /// is still open and silent.
    pub fn is_closed(&mut self, d: Duration) -> bool {
        self.set_read_timeout(d);
        let mut b = [0u8; 1];
        match self.io.read(&mut b) {
            Ok(0) => true,
            Ok(_) => panic!("unexpected bytes from the server"),
            Err(e) => !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
        }
    }
}
