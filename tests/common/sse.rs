//! A minimal Server-Sent Events reader over a raw socket, for the watch
//! stream tests: it sees the exact bytes a browser's `EventSource` parses.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long a fence may take to arrive: a safety net for a busy machine.
const FENCE_WAIT: Duration = Duration::from_secs(10);

/// What one read of a stream found.
#[derive(Debug)]
pub enum Next {
    Event(Event),
    /// Nothing within the wait; the stream is still open.
    Quiet,
    /// The server ended the stream (EOF or reset).
    Closed,
}

/// One dispatched event (or a block carrying only an `id:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: Option<String>,
    /// `event:` (empty for an id-only block).
    pub kind: String,
    pub data: String,
}

impl Event {
    /// The `data:` JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("{e}: {:?}", self.data))
    }

    /// A field of the `data:` JSON as text.
    pub fn field(&self, name: &str) -> String {
        match &self.json()[name] {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

/// An open watch stream.
pub struct Stream {
    reader: BufReader<TcpStream>,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The last `id:` seen, as `EventSource.lastEventId` would hold it.
    pub last_id: Option<String>,
}

impl Stream {
    /// Opens `GET /nacos/v1/cs/configs/watch?<query>` with extra headers and
    /// reads the response head.
    pub fn open(addr: SocketAddr, query: &str, headers: &[(&str, &str)]) -> Stream {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut req = format!("GET /nacos/v1/cs/configs/watch?{query} HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).expect("write");
        let mut reader = BufReader::new(s);
        let mut line = String::new();
        reader.read_line(&mut line).expect("status line");
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let mut headers = Vec::new();
        loop {
            let mut l = String::new();
            reader.read_line(&mut l).expect("header");
            let l = l.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.to_string(), v.trim().to_string()));
            }
        }
        Stream {
            reader,
            status,
            headers,
            last_id: None,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The rest of the body once the server closes (for error answers).
    pub fn body(mut self) -> String {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut self.reader, &mut s);
        s
    }

    /// The next event block (comments and `retry:` skipped), or `None` when
    /// nothing arrives within `wait` or the stream ended.
    pub fn next_within(&mut self, wait: Duration) -> Option<Event> {
        match self.read_block(wait) {
            Next::Event(ev) => Some(ev),
            Next::Quiet | Next::Closed => None,
        }
    }

    /// The next event block (comments and `retry:` skipped), telling a
    /// stream the server ended from one that stayed quiet for `wait`.
    pub fn read_block(&mut self, wait: Duration) -> Next {
        self.reader.get_mut().set_read_timeout(Some(wait)).unwrap();
        let mut ev = Event {
            id: None,
            kind: String::new(),
            data: String::new(),
        };
        let mut any = false;
        loop {
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) => return Next::Closed,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Next::Quiet
                }
                Err(_) => return Next::Closed,
            }
            let line = line.trim_end_matches('\n');
            if line.is_empty() {
                if any {
                    if ev.id.is_some() {
                        self.last_id = ev.id.clone();
                    }
                    return Next::Event(ev);
                }
                continue;
            }
            if line.starts_with(':') || line.starts_with("retry:") {
                continue;
            }
            any = true;
            let (field, value) = line.split_once(": ").unwrap_or((line, ""));
            match field {
                "id" => ev.id = Some(value.to_string()),
                "event" => ev.kind = value.to_string(),
                "data" => ev.data.push_str(value),
                other => panic!("unexpected field {other:?} in {line:?}"),
            }
        }
    }

    /// The next event that is dispatched (`event:` set), skipping id-only
    /// blocks.
    pub fn next_event(&mut self, wait: Duration) -> Option<Event> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let ev = self.next_within(left)?;
            if !ev.kind.is_empty() {
                return Some(ev);
            }
        }
    }

    /// Reads the snapshot: events up to the id-only block that ends it.
    pub fn snapshot(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        loop {
            let ev = self
                .next_within(Duration::from_secs(30))
                .expect("snapshot ends with an id line");
            if ev.kind.is_empty() {
                assert!(ev.id.is_some(), "an id-only block ends the snapshot");
                return out;
            }
            out.push(ev);
        }
    }

    /// Asserts that nothing reached the stream before a fence: the caller
    /// has just published `fence_data_id` (a change this stream sees, after
    /// everything under test, so commit order puts it last); the next event
    /// must be that change. An extra event arrives before it; a closed
    /// stream or a missing fence fails too, so "nothing arrived" cannot pass
    /// because the server hung up, and no fixed quiet period is waited out.
    pub fn expect_fence(&mut self, fence_data_id: &str, what: &str) {
        let deadline = Instant::now() + FENCE_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_block(left) {
                Next::Event(ev) if ev.kind.is_empty() => continue,
                Next::Event(ev) => {
                    let is_fence = ev.kind == "change" && ev.field("dataId") == fence_data_id;
                    assert!(
                        is_fence,
                        "{what}: unexpected event before the fence: {ev:?}"
                    );
                    return;
                }
                Next::Quiet => panic!("{what}: the fence {fence_data_id:?} never arrived"),
                Next::Closed => panic!("{what}: the server closed the stream"),
            }
        }
    }

    /// Reads what a stream resumed from an old `Last-Event-ID` sends first:
    /// either one event for each of the `missed` changes of the watched key
    /// `data_id`, ids growing, the last holding `latest` (a node may have
    /// read a later content for an earlier change, never an earlier one
    /// last), or `event: reset` and a snapshot in which `data_id` holds
    /// `latest`. Anything else (a change skipped, nothing at all) is a
    /// silent gap and fails. Returns whether it was a reset.
    pub fn expect_missed_or_reset(
        &mut self,
        data_id: &str,
        missed: usize,
        latest: &str,
        what: &str,
    ) -> bool {
        let first = self
            .next_event(FENCE_WAIT)
            .unwrap_or_else(|| panic!("{what}: nothing after the resume: a silent gap"));
        if first.kind == "reset" {
            let snap = self.snapshot();
            let held: Vec<String> = snap
                .iter()
                .filter(|e| e.field("dataId") == data_id)
                .map(|e| e.field("content"))
                .collect();
            assert_eq!(held, [latest], "{what}: the snapshot after the reset");
            return true;
        }
        let mut got = vec![first];
        while got.len() < missed {
            got.push(
                self.next_event(FENCE_WAIT)
                    .unwrap_or_else(|| panic!("{what}: only {got:?} of {missed} changes")),
            );
        }
        let ids: Vec<u64> = got
            .iter()
            .map(|e| e.id.as_deref().and_then(|i| i.parse().ok()).expect("an id"))
            .collect();
        assert!(ids.windows(2).all(|p| p[0] < p[1]), "{what}: ids {ids:?}");
        for e in &got {
            assert_eq!(
                (e.kind.as_str(), e.field("dataId")),
                ("change", data_id.to_owned()),
                "{what}: {got:?}"
            );
        }
        assert_eq!(
            got[missed - 1].field("content"),
            latest,
            "{what}: the last change"
        );
        false
    }

    /// True once the server has closed the stream (reads to EOF).
    pub fn closed_within(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        self.reader
            .get_mut()
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = Vec::new();
        while Instant::now() < deadline {
            buf.clear();
            match self.reader.read_until(b'\n', &mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => continue,
            }
        }
        false
    }
}
