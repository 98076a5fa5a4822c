//! A gRPC echo server over `vigil::h2` on blocking std sockets, one thread
//! per connection: for checking the frame layer with outside tools (h2spec,
//! a real gRPC client). Not part of the server.
//!
//! `cargo run --example h2_echo -- [ADDR] [RECORD_DIR]` (ADDR defaults to
//! 127.0.0.1:0; the bound address is printed). Every message is echoed on
//! its stream; the client's END_STREAM gets grpc-status 0. With RECORD_DIR,
//! each connection's raw input is written to RECORD_DIR/conn-N.bin (test
//! vectors of real clients). H2_ECHO_TABLE_SIZE sets the HPACK table size
//! we advertise (default 0, as the server).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;

use vigil::h2::{Conn, Event, Limits};

fn serve(mut sock: TcpStream, record: Option<PathBuf>, limits: Limits) -> std::io::Result<()> {
    let mut conn = Conn::new(&limits);
    let mut input = Vec::new();
    let mut recorded = Vec::new();
    let mut events = Vec::new();
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = sock.read(&mut buf)?;
        if n == 0 {
            break;
        }
        input.extend_from_slice(&buf[..n]);
        if record.is_some() {
            recorded.extend_from_slice(&buf[..n]);
        }
        let result = conn.receive(&input, &mut events, &mut out);
        for ev in events.drain(..) {
            match ev {
                Event::Open { stream, .. } => conn.send_headers(stream, &mut out),
                Event::Message { stream, bytes } => {
                    conn.send_message(stream, &bytes, &mut out);
                }
                Event::End { stream } => conn.send_trailers(stream, 0, "", &mut out),
                Event::Reset { .. } | Event::GoAway => {}
            }
        }
        sock.write_all(&out)?;
        out.clear();
        match result {
            Ok(used) => {
                input.drain(..used);
            }
            Err(e) => {
                eprintln!("connection error: {e:?}");
                // A lingering close: closing with unread input would send a
                // TCP RST that can destroy the GOAWAY before it is read.
                sock.shutdown(std::net::Shutdown::Write)?;
                sock.set_read_timeout(Some(std::time::Duration::from_secs(1)))?;
                while matches!(sock.read(&mut buf), Ok(n) if n > 0) {}
                break;
            }
        }
    }
    if let Some(path) = record {
        std::fs::write(path, &recorded)?;
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:0".to_string());
    let record_dir = args.next().filter(|d| !d.is_empty()).map(PathBuf::from);
    // H2_ECHO_TABLE_SIZE: the HPACK table to advertise (default 0).
    let mut limits = Limits::default();
    if let Ok(size) = std::env::var("H2_ECHO_TABLE_SIZE") {
        limits.header_table_size = size.parse().unwrap_or(0);
    }
    let listener = TcpListener::bind(&addr)?;
    println!("listening on {}", listener.local_addr()?);
    for (n, sock) in listener.incoming().enumerate() {
        let sock = sock?;
        let record = record_dir.as_ref().map(|d| d.join(format!("conn-{n}.bin")));
        std::thread::spawn(move || {
            if let Err(e) = serve(sock, record, limits) {
                eprintln!("connection ended: {e}");
            }
        });
    }
    Ok(())
}
