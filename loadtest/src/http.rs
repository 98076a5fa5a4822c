//! An incremental HTTP/1.1 response parser, just enough for a keep-alive
//! client: httparse reads the head and the chunk sizes; this file frames
//! the body.
//!
//! Call [`parse_response`] on everything received so far: it answers
//! `Partial` until a whole response (head and body) is in the buffer, then
//! the response and how many bytes it used, so the caller can keep any excess.
//! Bodies framed by `Content-Length` and by chunked transfer encoding are both
//! understood (Nacos itself often answers chunked). A response framed by
//! closing the connection is refused: a keep-alive client cannot tell its end.

/// Largest response head accepted, in bytes.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Largest response body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// One complete response.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// The server said `Connection: close`.
    pub close: bool,
    /// The `Content-MD5` header, as sent.
    pub content_md5: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed.
    Partial,
    /// A response, and the number of buffer bytes it occupied.
    Done(Response, usize),
}

#[derive(Debug, PartialEq, Eq)]
pub enum HttpError {
    BadStatusLine,
    BadHeader,
    BadLength,
    BadChunk,
    /// Neither `Content-Length` nor chunked.
    NoLength,
    TooLarge,
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            HttpError::BadStatusLine => "bad status line",
            HttpError::BadHeader => "bad header line",
            HttpError::BadLength => "bad Content-Length",
            HttpError::BadChunk => "bad chunk framing",
            HttpError::NoLength => "response body without length",
            HttpError::TooLarge => "response too large",
        };
        f.write_str(s)
    }
}

impl std::error::Error for HttpError {}

/// A response head: its status, framing, and length in bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub length: Option<usize>,
    pub chunked: bool,
    /// The server said `Connection: close`.
    pub close: bool,
    /// The `Content-MD5` header, as sent.
    pub content_md5: Option<String>,
    /// Bytes of the head, blank line included.
    pub len: usize,
}

/// Most header fields in one response head.
const MAX_HEADERS: usize = 64;

/// Parses the head at the start of `buf`; `None` while incomplete.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, HttpError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut fields);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => {
            return Err(HttpError::TooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::Version | httparse::Error::Status) => {
            return Err(HttpError::BadStatusLine)
        }
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::TooLarge),
        Err(
            httparse::Error::HeaderName
            | httparse::Error::HeaderValue
            | httparse::Error::NewLine
            | httparse::Error::Token,
        ) => return Err(HttpError::BadHeader),
    };
    if len > MAX_HEAD_BYTES {
        return Err(HttpError::TooLarge);
    }
    let mut h = Head {
        status: response.code.ok_or(HttpError::BadStatusLine)?,
        length: None,
        chunked: false,
        close: false,
        content_md5: None,
        len,
    };
    for field in response.headers.iter() {
        let value = std::str::from_utf8(field.value)
            .map_err(|_| HttpError::BadHeader)?
            .trim();
        let name = field.name;
        if name.eq_ignore_ascii_case("content-length") {
            h.length = Some(value.parse::<usize>().map_err(|_| HttpError::BadLength)?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            h.chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            h.close = value.eq_ignore_ascii_case("close");
        } else if name.eq_ignore_ascii_case("content-md5") {
            h.content_md5 = Some(value.to_string());
        }
    }
    Ok(Some(h))
}

/// Parses the first response in `buf`.
pub fn parse_response(buf: &[u8]) -> Result<Parsed, HttpError> {
    let Some(Head {
        status,
        length,
        chunked,
        close,
        content_md5,
        len: head_len,
    }) = parse_head(buf)?
    else {
        return Ok(Parsed::Partial);
    };
    let rest = &buf[head_len..];
    let done = |body: Vec<u8>, used: usize| {
        Ok(Parsed::Done(
            Response {
                status,
                body,
                close,
                content_md5: content_md5.clone(),
            },
            head_len + used,
        ))
    };
    if chunked {
        return match parse_chunked(rest)? {
            Some((body, used)) => done(body, used),
            None => Ok(Parsed::Partial),
        };
    }
    let length = match length {
        Some(n) => n,
        None if status == 204 || status == 304 || (100..200).contains(&status) => 0,
        None => return Err(HttpError::NoLength),
    };
    if length > MAX_BODY_BYTES {
        return Err(HttpError::TooLarge);
    }
    if rest.len() < length {
        return Ok(Parsed::Partial);
    }
    done(rest[..length].to_vec(), length)
}

/// Decodes a chunked body; `None` while incomplete.
fn parse_chunked(buf: &[u8]) -> Result<Option<(Vec<u8>, usize)>, HttpError> {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let (line_bytes, size) = match httparse::parse_chunk_size(&buf[pos..]) {
            Ok(httparse::Status::Complete(found)) => found,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::InvalidChunkSize) => return Err(HttpError::BadChunk),
        };
        pos += line_bytes;
        if size == 0 {
            // Trailer lines end with an empty line.
            loop {
                let Some(eol) = find(&buf[pos..], b"\r\n") else {
                    return Ok(None);
                };
                pos += eol + 2;
                if eol == 0 {
                    return Ok(Some((body, pos)));
                }
            }
        }
        let size = match usize::try_from(size) {
            Ok(size) if body.len().saturating_add(size) <= MAX_BODY_BYTES => size,
            _ => return Err(HttpError::TooLarge),
        };
        if buf.len() < pos + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&buf[pos..pos + size]);
        if &buf[pos + size..pos + size + 2] != b"\r\n" {
            return Err(HttpError::BadChunk);
        }
        pos += size + 2;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(status: u16, body: &str, close: bool, used: usize) -> Parsed {
        Parsed::Done(
            Response {
                status,
                body: body.as_bytes().to_vec(),
                close,
                content_md5: None,
            },
            used,
        )
    }

    /// Checks the complete parse, and that every proper prefix is `Partial`.
    fn check(input: &str, expected: Parsed) {
        assert_eq!(parse_response(input.as_bytes()), Ok(expected), "{input:?}");
        let end = match parse_response(input.as_bytes()) {
            Ok(Parsed::Done(_, used)) => used,
            _ => input.len(),
        };
        for cut in 0..end {
            assert_eq!(
                parse_response(&input.as_bytes()[..cut]),
                Ok(Parsed::Partial),
                "cut {cut} of {input:?}"
            );
        }
    }

    #[test]
    fn content_length() {
        check(
            "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ntrue",
            done(200, "true", false, 42),
        );
        check(
            "HTTP/1.1 200 \r\ncontent-length: 0\r\n\r\n",
            done(200, "", false, 36),
        );
        check(
            "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
            done(200, "", false, 35),
        );
        check(
            "HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 22\r\n\r\nconfig data not exist\nEXTRA",
            done(404, "config data not exist\n", true, 87),
        );
    }

    #[test]
    fn content_md5_is_kept_as_sent() {
        let input = "HTTP/1.1 200 \r\nContent-MD5: b326b5062b2f0e69046810717534cb09\r\nContent-Length: 4\r\n\r\ntrue";
        let Ok(Parsed::Done(r, _)) = parse_response(input.as_bytes()) else {
            panic!("not parsed: {input:?}");
        };
        assert_eq!(
            r.content_md5.as_deref(),
            Some("b326b5062b2f0e69046810717534cb09")
        );
    }

    #[test]
    fn chunked() {
        let input = "HTTP/1.1 200 \r\nTransfer-Encoding: chunked\r\n\r\n4\r\ntrue\r\n3;x=y\r\nabc\r\n0\r\n\r\nNEXT";
        check(input, done(200, "trueabc", false, input.len() - 4));
        let trailer = "HTTP/1.1 200 \r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n\r\n";
        check(trailer, done(200, "", false, trailer.len()));
    }

    #[test]
    fn errors() {
        let e = |s: &str| parse_response(s.as_bytes()).unwrap_err();
        assert_eq!(e("HTTX/1.1 200\r\n\r\n"), HttpError::BadStatusLine);
        assert_eq!(e("HTTP/1.1 2x0\r\n\r\n"), HttpError::BadStatusLine);
        assert_eq!(e("HTTP/1.1 200\r\nNoColon\r\n\r\n"), HttpError::BadHeader);
        assert_eq!(
            e("HTTP/1.1 200\r\nContent-Length: -1\r\n\r\n"),
            HttpError::BadLength
        );
        assert_eq!(e("HTTP/1.1 200\r\n\r\nbody"), HttpError::NoLength);
        assert_eq!(
            e("HTTP/1.1 200\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            HttpError::BadChunk
        );
        assert_eq!(
            e("HTTP/1.1 200\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n"),
            HttpError::BadChunk
        );
        let endless = format!("HTTP/1.1 200 OK\r\nX: {}", "x".repeat(MAX_HEAD_BYTES));
        assert_eq!(e(&endless), HttpError::TooLarge);
    }
}
