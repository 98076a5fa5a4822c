//! Request parameters: the query string merged with an
//! `application/x-www-form-urlencoded` body, as a servlet container does
//! (spec §1.2): query values first, `+` is a space, bytes always UTF-8
//! whatever charset the request declares, a trailing `&` and empty pairs are
//! tolerated, a pair without `=` has the empty value.
//!
//! Decoding is strict: a malformed `%` escape or invalid UTF-8 is an error
//! (400), never silently patched into a different value.

use std::fmt;

/// A malformed parameter encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(&'static str);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Decodes one form component (Java `URLDecoder` semantics).
pub fn url_decode(raw: &[u8]) -> Result<String, DecodeError> {
    const BAD_UTF8: DecodeError = DecodeError("invalid UTF-8 in request parameters");
    if !raw.iter().any(|&b| b == b'+' || b == b'%') {
        return std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| BAD_UTF8);
    }
    for (i, &b) in raw.iter().enumerate() {
        if b == b'%'
            && !(raw.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && raw.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        {
            return Err(DecodeError(
                "invalid percent-encoding in request parameters",
            ));
        }
    }
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    let decoded: Vec<u8> = percent_encoding::percent_decode(&plus_as_space).collect();
    String::from_utf8(decoded).map_err(|_| BAD_UTF8)
}

/// Decoded parameters in arrival order (query first, then body).
#[derive(Debug, Default, Clone)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses the query string and, if given, a form body.
    pub fn parse(query: &[u8], body: Option<&[u8]>) -> Result<Params, DecodeError> {
        let mut p = Params::default();
        p.extend(query)?;
        if let Some(body) = body {
            p.extend(body)?;
        }
        Ok(p)
    }

    fn extend(&mut self, raw: &[u8]) -> Result<(), DecodeError> {
        for pair in raw.split(|&b| b == b'&') {
            if pair.is_empty() {
                continue;
            }
            let (k, v) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            self.pairs.push((url_decode(k)?, url_decode(v)?));
        }
        Ok(())
    }

    /// The first value of `name` (query wins over body), if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in arrival order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name`, or `""` when absent.
    pub fn get_or_empty(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    /// Reads parameter `from` as `to`: every `to` is dropped, then every
    /// `from` renamed (an API that spells a parameter differently, e.g.
    /// Nacos 2.x's `namespaceId` for 1.x's `tenant`, reads as the other).
    pub fn rename(&mut self, from: &str, to: &str) {
        self.pairs.retain(|(k, _)| k != to);
        for (k, _) in &mut self.pairs {
            if k == from {
                to.clone_into(k);
            }
        }
    }

    /// Moves the first value of `name` out (for large values such as content).
    pub fn take(&mut self, name: &str) -> Option<String> {
        self.pairs
            .iter_mut()
            .find(|(k, _)| k == name)
            .map(|(_, v)| std::mem::take(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_strictly() {
        assert_eq!(url_decode(b"a+b%2Bc%E9%85%8D").unwrap(), "a b+c配");
        assert_eq!(url_decode(b"plain:x").unwrap(), "plain:x");
        for bad in [&b"%zz"[..], b"%4", b"%FF", b"\xff", b"a%"] {
            assert!(url_decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn merges_query_first_and_tolerates_empty_pairs() {
        let p = Params::parse(b"dataId=q&tenant=", Some(b"dataId=b&&group=G&flag&")).unwrap();
        assert_eq!(p.get("dataId"), Some("q"));
        assert_eq!(p.get("group"), Some("G"));
        assert_eq!(p.get("tenant"), Some(""));
        assert_eq!(p.get("flag"), Some(""));
        assert_eq!(p.get("missing"), None);
        let mut p = Params::parse(b"tenant=t&namespaceId=n", None).unwrap();
        p.rename("namespaceId", "tenant");
        assert_eq!(p.get("tenant"), Some("n"));
        assert_eq!(p.get("namespaceId"), None);
        // Raw non-ASCII (UTF-8) in a query is accepted, as Go v1 sends it.
        let p = Params::parse("dataId=配置.yaml".as_bytes(), None).unwrap();
        assert_eq!(p.get("dataId"), Some("配置.yaml"));
    }
}
