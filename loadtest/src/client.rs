//! A blocking keep-alive HTTP client for the coordinator's own requests
//! (seeding keys, and the publishes whose wake-ups are timed).
//!
//! One connection, reopened when the server closes it. Every read and write
//! has a timeout, so a stuck server cannot stall the run.

use crate::http::{parse_response, Parsed, Response};
use crate::proto::{self, KeyId, KeySpace};
use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

pub struct Client {
    server: SocketAddr,
    host: String,
    timeout: Duration,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

impl Client {
    pub fn new(server: SocketAddr, host: &str, timeout: Duration) -> Client {
        Client {
            server,
            host: host.to_string(),
            timeout,
            stream: None,
            buf: Vec::new(),
        }
    }

    /// Publishes `content` to `key`; only a 200 with body `true` is success.
    pub fn publish(&mut self, space: &KeySpace, key: KeyId, content: &str) -> Result<()> {
        let mut req = Vec::new();
        proto::publish_request(&self.host, space, key, content, &mut req);
        let resp = self.request(&req)?;
        expect_true(&resp, "publish", &space.data_id(key))
    }

    /// Deletes `key`; only a 200 with body `true` is success.
    pub fn delete(&mut self, space: &KeySpace, key: KeyId) -> Result<()> {
        let mut req = Vec::new();
        proto::delete_request(&self.host, space, key, &mut req);
        let resp = self.request(&req)?;
        expect_true(&resp, "delete", &space.data_id(key))
    }

    /// GETs `key`: the status and the body.
    pub fn get(&mut self, space: &KeySpace, key: KeyId) -> Result<Response> {
        let mut req = Vec::new();
        proto::get_request(&self.host, space, key, &mut req);
        self.request(&req)
    }

    /// Sends one request; a reused connection that fails is retried once on a fresh one.
    pub fn request(&mut self, req: &[u8]) -> Result<Response> {
        let reused = self.stream.is_some();
        match self.try_request(req) {
            Ok(r) => Ok(r),
            Err(_) if reused => {
                self.stream = None;
                self.try_request(req)
            }
            Err(e) => Err(e),
        }
    }

    fn try_request(&mut self, req: &[u8]) -> Result<Response> {
        if self.stream.is_none() {
            let s = TcpStream::connect_timeout(&self.server, self.timeout)
                .with_context(|| format!("connecting to {}", self.server))?;
            s.set_read_timeout(Some(self.timeout))?;
            s.set_write_timeout(Some(self.timeout))?;
            s.set_nodelay(true)?;
            self.stream = Some(s);
            self.buf.clear();
        }
        let Some(stream) = self.stream.as_mut() else {
            bail!("no connection")
        };
        stream.write_all(req).context("sending a request")?;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Parsed::Done(resp, used) = parse_response(&self.buf)? {
                self.buf.drain(..used);
                if resp.close {
                    self.stream = None;
                }
                return Ok(resp);
            }
            let n = stream.read(&mut chunk).context("reading a response")?;
            if n == 0 {
                self.stream = None;
                bail!("server closed the connection before answering");
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// A write succeeded only if answered 200 with the body `true`.
fn expect_true(resp: &Response, what: &str, data_id: &str) -> Result<()> {
    if resp.status != 200 || resp.body != b"true" {
        bail!(
            "{what} of {data_id} answered {} {:?}",
            resp.status,
            String::from_utf8_lossy(&resp.body)
        );
    }
    Ok(())
}
