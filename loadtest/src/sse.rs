//! The client side of a watch stream (`GET /nacos/v1/cs/configs/watch`,
//! `text/event-stream`), as pure incremental decoders fed whatever bytes
//! arrived: [`Dechunker`] undoes chunked transfer encoding, [`SseParser`]
//! splits the event stream into events (the WHATWG rules: lines end with LF,
//! CRLF or CR; `:` starts a comment; `data` lines join with LF; a blank line
//! dispatches; `id` persists as the last event id), and [`Change`] reads an
//! event's JSON `data`. Nothing here touches a socket.

use serde::Deserialize;

/// What one watch stream asks for.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum WatchScope {
    /// The listener's own keys (`dataId` repeated).
    #[default]
    Keys,
    /// Every config of the group.
    Group,
    /// Every config of the (public) namespace.
    Namespace,
}

/// Largest line accepted in an event stream, bytes.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Why a stream could not be decoded.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamError {
    BadChunk,
    LineTooLong,
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StreamError::BadChunk => "bad chunk framing in the event stream",
            StreamError::LineTooLong => "event stream line too long",
        })
    }
}

/// Where a [`Dechunker`] is within the chunked framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChunkState {
    /// Reading a chunk-size line.
    Size,
    /// This many data bytes of the current chunk remain.
    Data(usize),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until a blank one.
    Trailer,
    Done,
}

/// Incremental decoder of a chunked body.
#[derive(Debug)]
pub struct Dechunker {
    state: ChunkState,
    line: Vec<u8>,
}

impl Default for Dechunker {
    fn default() -> Self {
        Dechunker {
            state: ChunkState::Size,
            line: Vec::new(),
        }
    }
}

impl Dechunker {
    /// Appends the data bytes found in `input` to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), StreamError> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                ChunkState::Data(left) => {
                    let n = left.min(input.len() - i);
                    out.extend_from_slice(&input[i..i + n]);
                    i += n;
                    self.state = if n == left {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left - n)
                    };
                }
                ChunkState::Done => return Ok(()),
                _ => {
                    let b = input[i];
                    i += 1;
                    if b != b'\n' {
                        if self.line.len() > 1024 {
                            return Err(StreamError::BadChunk);
                        }
                        self.line.push(b);
                        continue;
                    }
                    let line = std::mem::take(&mut self.line);
                    let line = line.strip_suffix(b"\r").unwrap_or(&line);
                    self.state = match self.state {
                        ChunkState::Size => {
                            let text =
                                std::str::from_utf8(line).map_err(|_| StreamError::BadChunk)?;
                            let size = text.split(';').next().unwrap_or("").trim();
                            match usize::from_str_radix(size, 16) {
                                Ok(0) => ChunkState::Trailer,
                                Ok(n) => ChunkState::Data(n),
                                Err(_) => return Err(StreamError::BadChunk),
                            }
                        }
                        ChunkState::DataEnd if line.is_empty() => ChunkState::Size,
                        ChunkState::DataEnd => return Err(StreamError::BadChunk),
                        ChunkState::Trailer if line.is_empty() => ChunkState::Done,
                        other => other,
                    };
                }
            }
        }
        Ok(())
    }

    /// The terminating chunk has been seen: the stream ended.
    pub fn finished(&self) -> bool {
        self.state == ChunkState::Done
    }
}

/// One dispatched event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:`, or `message` when absent.
    pub event: String,
    pub data: String,
    /// The last event id in force when it was dispatched.
    pub id: Option<String>,
}

/// Incremental event-stream parser.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    /// A CR ended the last line: a following LF belongs to it.
    after_cr: bool,
    event: String,
    data: String,
    has_data: bool,
    last_id: Option<String>,
    /// `retry:` hint, ms.
    pub retry_ms: Option<u64>,
}

impl SseParser {
    /// Parses `input`, appending every completed event to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<SseEvent>) -> Result<(), StreamError> {
        for &b in input {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    self.line_done(&String::from_utf8_lossy(&line), out);
                }
                _ if self.line.len() >= MAX_LINE_BYTES => return Err(StreamError::LineTooLong),
                _ => self.line.push(b),
            }
        }
        Ok(())
    }

    /// The id of the last event seen, for `Last-Event-ID` on a reconnect.
    pub fn last_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    fn line_done(&mut self, line: &str, out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            if self.has_data {
                out.push(SseEvent {
                    event: if self.event.is_empty() {
                        "message".into()
                    } else {
                        std::mem::take(&mut self.event)
                    },
                    data: std::mem::take(&mut self.data),
                    id: self.last_id.clone(),
                });
            }
            self.event.clear();
            self.data.clear();
            self.has_data = false;
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.last_id = Some(value.to_string()),
            "retry" => {
                if let Ok(ms) = value.parse() {
                    self.retry_ms = Some(ms);
                }
            }
            _ => {}
        }
    }
}

/// The JSON `data` of a `change` or `delete` event.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub data_id: String,
    pub group: String,
    #[serde(default)]
    pub tenant: String,
    /// Empty on delete.
    #[serde(default)]
    pub md5: String,
}

impl Change {
    pub fn parse(data: &str) -> Option<Change> {
        serde_json::from_str(data).ok()
    }
}

/// The request opening a watch stream on `data_ids` of `group` in the
/// public namespace (no `data_ids`: the whole group; no group either: the
/// whole namespace), resuming after `last_id` when given.
pub fn watch_request(
    host: &str,
    group: Option<&str>,
    data_ids: &[String],
    last_id: Option<&str>,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(b"GET /nacos/v1/cs/configs/watch");
    let mut sep = b'?';
    if let Some(g) = group {
        out.push(sep);
        out.extend_from_slice(b"group=");
        crate::proto::form_encode(g.as_bytes(), out);
        sep = b'&';
    }
    for id in data_ids {
        out.push(sep);
        out.extend_from_slice(b"dataId=");
        crate::proto::form_encode(id.as_bytes(), out);
        sep = b'&';
    }
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\nAccept: text/event-stream\r\n");
    if let Some(id) = last_id {
        out.extend_from_slice(b"Last-Event-ID: ");
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: &str, data: &str, id: Option<&str>) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
            id: id.map(Into::into),
        }
    }

    /// Parses `input` whole and split at every position: the same events.
    fn check(input: &str, expected: Vec<SseEvent>) {
        for cut in 0..=input.len() {
            let mut p = SseParser::default();
            let mut out = Vec::new();
            p.feed(&input.as_bytes()[..cut], &mut out).unwrap();
            p.feed(&input.as_bytes()[cut..], &mut out).unwrap();
            assert_eq!(out, expected, "cut at {cut} of {input:?}");
        }
    }

    #[test]
    fn events_comments_ids_and_line_ends() {
        check(
            "retry: 3000\n: hello\nid: 7\nevent: change\ndata: {\"a\":1}\n\n",
            vec![ev("change", "{\"a\":1}", Some("7"))],
        );
        check(
            "data: one\r\ndata:two\r\n\r\nevent: delete\rdata: x\r\r",
            vec![ev("message", "one\ntwo", None), ev("delete", "x", None)],
        );
        // The id persists; an event without data is not dispatched.
        check(
            "id: 1\nevent: change\ndata: a\n\nevent: reset\n\ndata: b\n\n",
            vec![ev("change", "a", Some("1")), ev("message", "b", Some("1"))],
        );
        let mut p = SseParser::default();
        p.feed(b"retry: 250\nid: 9\n\n", &mut Vec::new()).unwrap();
        assert_eq!((p.retry_ms, p.last_id()), (Some(250), Some("9")));
    }

    #[test]
    fn chunked_stream_decodes_at_any_split() {
        let input = b"5\r\nid: 1\r\n7;ext=1\r\n\ndata:x\r\n0\r\nT: v\r\n\r\n";
        for cut in 0..=input.len() {
            let mut d = Dechunker::default();
            let mut out = Vec::new();
            d.feed(&input[..cut], &mut out).unwrap();
            d.feed(&input[cut..], &mut out).unwrap();
            assert_eq!(out, b"id: 1\ndata:x", "cut {cut}");
            assert!(d.finished());
        }
        let mut d = Dechunker::default();
        assert_eq!(
            d.feed(b"zz\r\n", &mut Vec::new()),
            Err(StreamError::BadChunk)
        );
        let mut d = Dechunker::default();
        assert_eq!(
            d.feed(b"1\r\nab\r\n", &mut Vec::new()),
            Err(StreamError::BadChunk)
        );
    }

    #[test]
    fn change_data_and_the_request() {
        let c = Change::parse(
            r#"{"dataId":"lt.r.h0","group":"LOADTEST","tenant":"","md5":"abc","type":"text","lastModified":1}"#,
        )
        .unwrap();
        assert_eq!((c.data_id.as_str(), c.md5.as_str()), ("lt.r.h0", "abc"));
        assert_eq!(Change::parse("not json"), None);
        let mut out = Vec::new();
        watch_request(
            "h",
            Some("G"),
            &["a.b".into(), "c d".into()],
            Some("42"),
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "GET /nacos/v1/cs/configs/watch?group=G&dataId=a.b&dataId=c+d HTTP/1.1\r\nHost: h\r\n\
             Accept: text/event-stream\r\nLast-Event-ID: 42\r\n\r\n"
        );
        let mut out = Vec::new();
        watch_request("h", None, &[], None, &mut out);
        assert!(out.starts_with(b"GET /nacos/v1/cs/configs/watch HTTP/1.1\r\n"));
    }
}
