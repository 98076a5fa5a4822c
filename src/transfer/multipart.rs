//! A small strict `multipart/form-data` parser for the import upload
//! (RFC 7578). The whole body is already in memory (bounded by the body
//! limit), so parts are borrowed slices of it; nothing is copied.
//!
//! No synchronous, maintained crate fits a body that is already buffered
//! without pulling in an async runtime, hence this one.

/// One part: its form field name, file name if any, and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    pub name: String,
    pub filename: Option<String>,
    pub data: &'a [u8],
}

/// Why a body is not multipart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartError(pub &'static str);

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        (!v.is_empty() && v.len() <= 70).then(|| v.to_owned())
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A parameter of a `Content-Disposition` value (`name="file"`).
fn disposition_param(value: &str, key: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case(key) {
            return None;
        }
        let v = v.trim();
        Some(
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v)
                .to_owned(),
        )
    })
}

/// Splits `body` into its parts.
pub fn parse<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, MultipartError> {
    let delimiter = format!("--{boundary}");
    let start = find(body, delimiter.as_bytes()).ok_or(MultipartError("no boundary"))?;
    let mut rest = &body[start + delimiter.len()..];
    let next = format!("\r\n--{boundary}");
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        rest = rest
            .strip_prefix(b"\r\n")
            .ok_or(MultipartError("bad delimiter line"))?;
        let head_end = find(rest, b"\r\n\r\n").ok_or(MultipartError("unterminated part head"))?;
        let head = std::str::from_utf8(&rest[..head_end])
            .map_err(|_| MultipartError("part head is not UTF-8"))?;
        let body_start = head_end + 4;
        let len = find(&rest[body_start..], next.as_bytes())
            .ok_or(MultipartError("unterminated part"))?;
        let mut name = None;
        let mut filename = None;
        for line in head.split("\r\n") {
            let Some((k, v)) = line.split_once(':') else {
                return Err(MultipartError("bad part header"));
            };
            if k.trim().eq_ignore_ascii_case("content-disposition") {
                name = disposition_param(v, "name");
                filename = disposition_param(v, "filename");
            }
        }
        parts.push(Part {
            name: name.ok_or(MultipartError("part without a name"))?,
            filename,
            data: &rest[body_start..body_start + len],
        });
        rest = &rest[body_start + len + next.len()..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries() {
        for (ct, want) in [
            ("multipart/form-data; boundary=abc", Some("abc")),
            ("Multipart/Form-Data;boundary=\"a b\"", Some("a b")),
            ("multipart/form-data", None),
            ("application/json; boundary=x", None),
            ("multipart/form-data; boundary=", None),
        ] {
            assert_eq!(boundary(ct).as_deref(), want, "{ct}");
        }
    }

    #[test]
    fn parts() {
        let body = b"preamble\r\n--XX\r\nContent-Disposition: form-data; name=\"policy\"\r\n\r\nSKIP\r\n--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.zip\"\r\nContent-Type: application/zip\r\n\r\nPK\r\n\x00bytes\r\n--XX--\r\n";
        let parts = parse(body, "XX").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "policy");
        assert_eq!(parts[0].data, b"SKIP");
        assert_eq!(parts[1].filename.as_deref(), Some("a.zip"));
        assert_eq!(parts[1].data, b"PK\r\n\x00bytes");
    }

    #[test]
    fn malformed() {
        for bad in [
            &b"no boundary here"[..],
            b"--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated",
            b"--XX\r\nno-colon\r\n\r\nx\r\n--XX--",
            b"--XX\r\nContent-Type: text/plain\r\n\r\nx\r\n--XX--",
            b"--XXgarbage",
        ] {
            assert!(
                parse(bad, "XX").is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
