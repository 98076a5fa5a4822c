//! Measures what an idle gRPC connection costs `vigil::h2`, allocator
//! included: N connections each replay the real nacos-sdk-go start-up
//! (`tests/h2_vectors/`), their unary calls answered and their bidi stream
//! left open with one message sent back; the growth of the resident set
//! divided by N is printed, next to `size_of::<Conn>()` and the heap the
//! Vec capacities account for.
//!
//! `cargo run --release --example h2_memory -- [N]` (default 20,000).

use vigil::h2::{Conn, Event, Limits, Path};

const NACOS_GO: &[u8] = include_bytes!("../tests/h2_vectors/nacos-sdk-go-2.3.2.bin");

fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn idle_conn(scratch: &mut Vec<u8>) -> Conn {
    let mut conn = Conn::new(&Limits::default());
    let mut events = Vec::new();
    scratch.clear();
    if let Err(e) = conn.receive(NACOS_GO, &mut events, scratch) {
        panic!("the recording is valid: {e:?}");
    }
    for ev in events {
        match ev {
            Event::Open {
                stream,
                path: Path::BiStream,
            } => {
                conn.send_headers(stream, scratch);
            }
            Event::Open { .. } => {}
            Event::Message { stream, .. } => {
                conn.send_message(stream, b"{\"resultCode\":200}", scratch);
            }
            Event::End { stream } => conn.send_trailers(stream, 0, "", scratch),
            Event::Reset { .. } | Event::GoAway => {}
        }
    }
    conn
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let mut scratch = Vec::new();
    let mut conns = Vec::with_capacity(n);
    let before = rss_bytes();
    for _ in 0..n {
        conns.push(idle_conn(&mut scratch));
    }
    let after = rss_bytes();
    let heap: usize = conns.iter().map(Conn::heap_bytes).sum::<usize>() / n;
    println!("connections: {n}");
    println!("size_of::<Conn>(): {} B", std::mem::size_of::<Conn>());
    println!("heap by Vec capacities: {heap} B per connection");
    println!(
        "RSS growth: {} B per connection (Conn inline + heap + allocator)",
        (after - before) / n
    );
    assert!(conns.iter().all(|c| !c.is_idle() && c.queued_bytes() == 0));
}
