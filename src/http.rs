//! HTTP/1.1 framing: parse a request out of a byte buffer (httparse for the
//! head, `Content-Length` or chunked bodies), and append responses to an
//! output buffer.
//!
//! Knows nothing of Nacos. Parsing is a pure function of the buffered bytes,
//! so any split of the input across reads gives the same result: the caller
//! appends what it reads and calls [`parse`] again until it is `Complete`.
//! Every limit is a field of [`Limits`]; each failure is an [`HttpError`]
//! that maps to exactly one status code.

use std::borrow::Cow;

/// Most header fields in one request.
pub const MAX_HEADERS: usize = 64;

/// Longest chunk-size line (size plus extensions).
pub const MAX_CHUNK_LINE_BYTES: usize = 1024;

/// Size limits of one request.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Bytes of the request line (a publish may carry its content in the
    /// query, as nacos-sdk-python 1.0.0 does).
    pub max_request_line_bytes: usize,
    /// Bytes of the header fields after the request line.
    pub max_header_bytes: usize,
    /// Bytes of a body (decoded size for chunked bodies).
    pub max_body_bytes: usize,
}

/// Why a request could not be parsed; each maps to one status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// Malformed request line, header or chunked framing (400).
    BadRequest(&'static str),
    /// Request line longer than the limit (414).
    UriTooLong,
    /// Header fields too large or too many (431).
    HeadersTooLarge,
    /// Body larger than the limit (413).
    BodyTooLarge,
    /// A transfer coding other than chunked (501).
    NotImplemented,
}

impl HttpError {
    pub fn status(&self) -> u16 {
        match self {
            HttpError::BadRequest(_) => 400,
            HttpError::UriTooLong => 414,
            HttpError::HeadersTooLarge => 431,
            HttpError::BodyTooLarge => 413,
            HttpError::NotImplemented => 501,
        }
    }

    pub fn message(&self) -> &'static str {
        match self {
            HttpError::BadRequest(m) => m,
            HttpError::UriTooLong => "request line too long",
            HttpError::HeadersTooLarge => "request header fields too large",
            HttpError::BodyTooLarge => "request body too large",
            HttpError::NotImplemented => "transfer coding not implemented",
        }
    }
}

/// A parsed request borrowing the input buffer.
#[derive(Debug)]
pub struct Request<'a> {
    pub method: &'a str,
    /// Path without the query string.
    pub path: &'a [u8],
    /// Raw query string (without `?`), possibly empty.
    pub query: &'a [u8],
    pub headers: Vec<(&'a str, &'a [u8])>,
    pub body: Cow<'a, [u8]>,
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
}

impl<'a> Request<'a> {
    /// First header with this name (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// Header value as trimmed UTF-8 text, if valid.
    pub fn header_str(&self, name: &str) -> Option<&'a str> {
        self.header(name)
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::trim)
    }
}

/// Result of trying to parse the buffered bytes.
#[derive(Debug)]
pub enum Parse<'a> {
    /// More bytes are needed; `want` is the total buffer size needed when known.
    Incomplete { want: Option<usize> },
    /// A request, and how many bytes of the buffer it used.
    Complete(Request<'a>, usize),
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

/// Parses one request from the start of `buf`.
pub fn parse<'a>(buf: &'a [u8], limits: &Limits) -> Result<Parse<'a>, HttpError> {
    // Be lenient with empty lines before a request (RFC 9112 §2.2).
    let skip = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let buf_all = buf;
    let buf = &buf[skip..];
    let line_end = match find_crlf(buf) {
        Some(i) => i,
        None => {
            if buf.len() > limits.max_request_line_bytes {
                return Err(HttpError::UriTooLong);
            }
            return Ok(Parse::Incomplete { want: None });
        }
    };
    if line_end > limits.max_request_line_bytes {
        return Err(HttpError::UriTooLong);
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() - line_end > limits.max_header_bytes {
                return Err(HttpError::HeadersTooLarge);
            }
            return Ok(Parse::Incomplete { want: None });
        }
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::HeadersTooLarge),
        Err(_) => return Err(HttpError::BadRequest("malformed request head")),
    };
    if head_len - line_end > limits.max_header_bytes {
        return Err(HttpError::HeadersTooLarge);
    }
    let method = req.method.unwrap_or("");
    let target = req.path.unwrap_or("").as_bytes();
    let version = req.version.unwrap_or(1);
    let header_list: Vec<(&'a str, &'a [u8])> =
        req.headers.iter().map(|h| (h.name, h.value)).collect();
    let find = |name: &str| {
        header_list
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    };

    let connection = find("Connection").map(|v| v.to_ascii_lowercase());
    let has_token = |t: &str| {
        connection.as_deref().is_some_and(|v| {
            v.split(|&b| b == b',')
                .any(|p| p.trim_ascii() == t.as_bytes())
        })
    };
    let keep_alive = if version == 0 {
        has_token("keep-alive")
    } else {
        !has_token("close")
    };

    let (path, query) = match target.iter().position(|&b| b == b'?') {
        Some(i) => (&target[..i], &target[i + 1..]),
        None => (target, &target[target.len()..]),
    };

    let body_start = skip + head_len;
    let content_length = content_length(fields(&header_list, "Content-Length"))?;
    let chunked = match transfer_coding(fields(&header_list, "Transfer-Encoding"))? {
        // A body framed twice is how requests are smuggled past proxies
        // (RFC 9112 §6.1): refuse it, and the error closes the connection,
        // so nothing after it is ever read as a request.
        Some(_) if content_length.is_some() => {
            return Err(HttpError::BadRequest(
                "both Transfer-Encoding and Content-Length",
            ))
        }
        Some(chunked) => chunked,
        None => false,
    };
    let (body, total) = if chunked {
        match decode_chunked(&buf_all[body_start..], limits.max_body_bytes)? {
            None => return Ok(Parse::Incomplete { want: None }),
            Some((body, used)) => (Cow::Owned(body), body_start + used),
        }
    } else {
        let len = content_length.unwrap_or(0);
        if len > limits.max_body_bytes {
            return Err(HttpError::BodyTooLarge);
        }
        let total = body_start + len;
        if buf_all.len() < total {
            return Ok(Parse::Incomplete { want: Some(total) });
        }
        (Cow::Borrowed(&buf_all[body_start..total]), total)
    };

    Ok(Parse::Complete(
        Request {
            method,
            path,
            query,
            headers: header_list,
            body,
            keep_alive,
        },
        total,
    ))
}

/// Every value of the header fields called `name`.
fn fields<'h, 'a: 'h>(
    headers: &'h [(&'a str, &'a [u8])],
    name: &'h str,
) -> impl Iterator<Item = &'a [u8]> + 'h {
    headers
        .iter()
        .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

/// The body length from every `Content-Length` field: each may be a list
/// (`5, 5`), and all values must be valid and equal (RFC 9112 §6.3).
fn content_length<'a>(fields: impl Iterator<Item = &'a [u8]>) -> Result<Option<usize>, HttpError> {
    let mut len = None;
    for field in fields {
        for value in field.split(|&b| b == b',') {
            let v = std::str::from_utf8(value)
                .ok()
                .map(str::trim)
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<usize>().ok())
                .ok_or(HttpError::BadRequest("invalid Content-Length"))?;
            if len.is_some_and(|l| l != v) {
                return Err(HttpError::BadRequest("conflicting Content-Length"));
            }
            len = Some(v);
        }
    }
    Ok(len)
}

/// `None` without `Transfer-Encoding`, else whether the body is chunked
/// (`identity` alone is accepted as no coding); any other coding is 501.
fn transfer_coding<'a>(fields: impl Iterator<Item = &'a [u8]>) -> Result<Option<bool>, HttpError> {
    let mut codings = Vec::new();
    for field in fields {
        codings.extend(
            field
                .split(|&b| b == b',')
                .map(<[u8]>::trim_ascii)
                .filter(|c| !c.is_empty()),
        );
    }
    match codings.as_slice() {
        [] => Ok(None),
        [c] if c.eq_ignore_ascii_case(b"chunked") => Ok(Some(true)),
        [c] if c.eq_ignore_ascii_case(b"identity") => Ok(Some(false)),
        _ => Err(HttpError::NotImplemented),
    }
}

/// Decodes a chunked body; `None` when incomplete, else (body, bytes used).
fn decode_chunked(buf: &[u8], max_body: usize) -> Result<Option<(Vec<u8>, usize)>, HttpError> {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let rest = &buf[pos..];
        // httparse takes an empty size as 0; a size line must start with
        // one (no leading space either).
        if rest.first().is_some_and(|b| !b.is_ascii_hexdigit()) {
            return Err(HttpError::BadRequest("malformed chunk size"));
        }
        let (line_bytes, size) = match httparse::parse_chunk_size(rest) {
            Ok(httparse::Status::Complete(found)) => found,
            Ok(httparse::Status::Partial) => {
                // (+1: a finished line of the longest length may sit here without its LF.)
                if rest.len() > MAX_CHUNK_LINE_BYTES + 1 {
                    return Err(HttpError::BadRequest("malformed chunk size"));
                }
                return Ok(None);
            }
            Err(httparse::InvalidChunkSize) => {
                return Err(HttpError::BadRequest("malformed chunk size"))
            }
        };
        // The same limit whether or not the line is finished, so the
        // outcome never depends on how the bytes were split across reads.
        if line_bytes - 2 > MAX_CHUNK_LINE_BYTES {
            return Err(HttpError::BadRequest("malformed chunk size"));
        }
        pos += line_bytes;
        if size == 0 {
            // Trailer fields until an empty line.
            loop {
                let Some(l) = find_crlf(&buf[pos..]) else {
                    return Ok(None);
                };
                pos += l + 2;
                if l == 0 {
                    return Ok(Some((body, pos)));
                }
            }
        }
        let size = match usize::try_from(size) {
            Ok(size) if body.len().saturating_add(size) <= max_body => size,
            _ => return Err(HttpError::BodyTooLarge),
        };
        if buf.len() < pos + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&buf[pos..pos + size]);
        if &buf[pos + size..pos + size + 2] != b"\r\n" {
            return Err(HttpError::BadRequest("malformed chunk"));
        }
        pos += size + 2;
    }
}

/// Reason phrase for the status codes this server sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Appends a whole response. `head` is pre-rendered header lines, each ending
/// in CRLF; `Content-Length` and, when closing, `Connection: close` are added.
pub fn write_response(out: &mut Vec<u8>, status: u16, head: &[u8], body: &[u8], close: bool) {
    out.reserve(64 + head.len() + body.len());
    write_head(out, status, head, body.len(), close);
    out.extend_from_slice(body);
}

/// Appends a response's status line and header fields for a body of
/// `body_len` bytes that the caller sends separately.
pub fn write_head(out: &mut Vec<u8>, status: u16, head: &[u8], body_len: usize, close: bool) {
    out.extend_from_slice(b"HTTP/1.1 ");
    let mut itoa_buf = itoa::Buffer::new();
    out.extend_from_slice(itoa_buf.format(status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(head);
    out.extend_from_slice(b"Content-Length: ");
    out.extend_from_slice(itoa_buf.format(body_len).as_bytes());
    out.extend_from_slice(b"\r\n");
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_request_line_bytes: 1024,
        max_header_bytes: 512,
        max_body_bytes: 64,
    };

    fn complete(buf: &[u8]) -> (Request<'_>, usize) {
        match parse(buf, &LIMITS) {
            Ok(Parse::Complete(r, n)) => (r, n),
            other => panic!("not complete: {other:?}"),
        }
    }

    #[test]
    fn simple_get_and_pipelining() {
        let raw = b"GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\nGET /d HTTP/1.1\r\n\r\n";
        let (r, n) = complete(raw);
        assert_eq!(
            (r.method, r.path, r.query, r.keep_alive),
            ("GET", &b"/a"[..], &b"b=c"[..], true)
        );
        let (r2, n2) = complete(&raw[n..]);
        assert_eq!((r2.path, n + n2), (&b"/d"[..], raw.len()));
    }

    #[test]
    fn bodies() {
        let raw = b"POST / HTTP/1.1\r\nContent-Length: 3\r\nconnection: Close\r\n\r\nabcX";
        let (r, n) = complete(raw);
        assert_eq!(
            (&*r.body, n, r.keep_alive),
            (&b"abc"[..], raw.len() - 1, false)
        );
        let raw = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let (r, n) = complete(raw);
        assert_eq!((&*r.body, n), (&b"abcde"[..], raw.len()));
    }

    #[test]
    fn http10_closes_by_default() {
        let (r, _) = complete(b"GET / HTTP/1.0\r\n\r\n");
        assert!(!r.keep_alive);
        let (r, _) = complete(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert!(r.keep_alive);
    }

    #[test]
    fn errors() {
        let e = |raw: &[u8]| parse(raw, &LIMITS).err();
        assert_eq!(e(b"\x00\x01garbage\r\n\r\n").map(|e| e.status()), Some(400));
        assert_eq!(
            e(b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n").map(|e| e.status()),
            Some(400)
        );
        assert_eq!(
            e(b"POST / HTTP/1.1\r\nContent-Length: 65\r\n\r\n").map(|e| e.status()),
            Some(413)
        );
        assert_eq!(e(&[b'a'; 2000]).map(|e| e.status()), Some(414));
        let mut big = b"GET / HTTP/1.1\r\n".to_vec();
        big.extend_from_slice(&[b'a'; 600]);
        assert_eq!(e(&big).map(|e| e.status()), Some(431));
        assert_eq!(
            e(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n").map(|e| e.status()),
            Some(501)
        );
        assert_eq!(
            e(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").map(|e| e.status()),
            Some(400)
        );
    }

    /// Chunk-size lines (parsed by httparse): hex digits, optional
    /// whitespace and extensions; anything else is 400, a size past the
    /// body limit 413, a line past [`MAX_CHUNK_LINE_BYTES`] 400.
    #[test]
    fn chunk_size_lines() {
        let long_ext = format!("3;{}\r\nabc\r\n0\r\n\r\n", "x".repeat(MAX_CHUNK_LINE_BYTES));
        // (chunks after the head, the body or the refusal's status)
        type Case<'a> = (&'a [u8], Result<&'a [u8], u16>);
        let cases: [Case; 11] = [
            (b"3;x=y\r\nabc\r\n0\r\n\r\n", Ok(b"abc")),
            (b"3 \r\nabc\r\n0\r\n\r\n", Ok(b"abc")),
            (b"A\r\n0123456789\r\n0\r\n\r\n", Ok(b"0123456789")),
            (b"\r\n", Err(400)),
            (b";x\r\n", Err(400)),
            (b" 3\r\nabc\r\n0\r\n\r\n", Err(400)),
            (b"3\nabc\r\n0\r\n\r\n", Err(400)),
            (b"0x3\r\nabc\r\n0\r\n\r\n", Err(400)),
            (b"ffffffffffffffff\r\n", Err(413)),
            (b"1ffffffffffffffff\r\n", Err(400)),
            (long_ext.as_bytes(), Err(400)),
        ];
        for (chunks, want) in cases {
            let mut raw = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            raw.extend_from_slice(chunks);
            let got = match parse(&raw, &LIMITS) {
                Ok(Parse::Complete(r, _)) => Ok(r.body.into_owned()),
                Ok(Parse::Incomplete { .. }) => {
                    panic!("incomplete: {:?}", String::from_utf8_lossy(chunks))
                }
                Err(e) => Err(e.status()),
            };
            assert_eq!(
                got,
                want.map(<[u8]>::to_vec),
                "{:?}",
                String::from_utf8_lossy(chunks)
            );
        }
    }

    /// Body framing: one length, or chunked alone; anything ambiguous is
    /// refused (RFC 9112 §6.1, §6.3).
    #[test]
    fn body_framing_cases() {
        type Case = (&'static [u8], Result<&'static [u8], &'static str>);
        let cases: &[Case] = &[
            (b"Content-Length: 3", Ok(b"abc")),
            (b"Content-Length: 3, 3", Ok(b"abc")),
            (b"Content-Length: 3\r\nContent-Length: 3", Ok(b"abc")),
            (b"Content-Length: 3, 4", Err("conflicting Content-Length")),
            (
                b"Content-Length: 3\r\nContent-Length: 4",
                Err("conflicting Content-Length"),
            ),
            (b"Content-Length: 3,", Err("invalid Content-Length")),
            (b"Content-Length: -3", Err("invalid Content-Length")),
            (
                b"Transfer-Encoding: identity\r\nContent-Length: 3",
                Err("both Transfer-Encoding and Content-Length"),
            ),
            (
                b"Transfer-Encoding: chunked\r\nContent-Length: 3",
                Err("both Transfer-Encoding and Content-Length"),
            ),
            (
                b"Content-Length: 0\r\nTransfer-Encoding: chunked",
                Err("both Transfer-Encoding and Content-Length"),
            ),
            (
                b"Transfer-Encoding: chunked, chunked",
                Err("transfer coding not implemented"),
            ),
        ];
        for (headers, want) in cases {
            let mut raw = b"POST / HTTP/1.1\r\n".to_vec();
            raw.extend_from_slice(headers);
            raw.extend_from_slice(b"\r\n\r\nabcd");
            let got = match parse(&raw, &LIMITS) {
                Ok(Parse::Complete(req, _)) => Ok(req.body.into_owned()),
                Ok(Parse::Incomplete { .. }) => Err("incomplete"),
                Err(e) => Err(e.message()),
            };
            assert_eq!(
                got,
                want.map(<[u8]>::to_vec),
                "{}",
                String::from_utf8_lossy(headers)
            );
        }
    }

    proptest::proptest! {
        /// Any split of the input parses to the same request once complete.
        #[test]
        fn any_split_parses_the_same(split in 0usize..200) {
            let raw: &[u8] = b"POST /nacos/v1/cs/configs?x=1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab=c\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n";
            let split = split.min(raw.len());
            let first = parse(&raw[..split], &LIMITS);
            if let Ok(Parse::Complete(r, n)) = first {
                proptest::prop_assert_eq!(&*r.body, &b"ab=c"[..]);
                proptest::prop_assert!(n <= split);
            } else {
                let incomplete = matches!(first, Ok(Parse::Incomplete { .. }));
                proptest::prop_assert!(incomplete);
            }
            let (r, _) = complete(raw);
            proptest::prop_assert_eq!(&*r.body, &b"ab=c"[..]);
        }
    }
}
