//! HPACK (RFC 7541) for the gRPC server: request header blocks are decoded
//! with `loona-hpack` and checked against RFC 9113 §8.2–8.3 (pseudo-header
//! rules, connection-specific fields, lowercase names); response blocks are
//! written by hand from the static table and literals without indexing, so
//! the encoder keeps no state at all.
//!
//! Dynamic table: we advertise SETTINGS_HEADER_TABLE_SIZE 0, so once the
//! peer has acknowledged our SETTINGS its encoder must open its next block
//! with a size update to 0 and may never index again. Until then it may use
//! the default 4,096 bytes ([`Decoder::peer_acked_table_size`] switches).
//! Our own first block opens with a size update to 0 too, so a later smaller
//! SETTINGS_HEADER_TABLE_SIZE from the peer never needs another one.

use loona_hpack::Decoder as Inner;
use percent_encoding::{percent_encode, AsciiSet, CONTROLS};

/// The table size every HPACK peer starts from.
const DEFAULT_TABLE_SIZE: usize = 4_096;

/// A dynamic table size update to 0 (pattern `001` with a 5-bit value).
pub const SIZE_UPDATE_ZERO: u8 = 0x20;

/// The request pseudo-headers and fields a gRPC server reads.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Request {
    pub method: Option<Vec<u8>>,
    pub scheme: bool,
    pub path: Option<Vec<u8>>,
    pub content_type: Option<Vec<u8>>,
    pub content_length: Option<u64>,
    /// Set when the block breaks a rule of RFC 9113 §8 (a malformed request:
    /// stream error PROTOCOL_ERROR).
    pub malformed: Option<&'static str>,
    /// Decoded size (name + value + 32 per field) over the limit.
    pub too_large: bool,
}

/// Why a header block could not be decoded: a connection COMPRESSION_ERROR.
#[derive(Debug, PartialEq, Eq)]
pub struct CompressionError;

/// One connection's HPACK decoder.
pub struct Decoder {
    inner: Inner<'static>,
    /// The peer acknowledged a table size of 0: no entry can outlive a block.
    zero: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    pub fn new() -> Decoder {
        let mut inner = Inner::new();
        inner.set_max_allowed_table_size(DEFAULT_TABLE_SIZE);
        Decoder { inner, zero: false }
    }

    fn zero_table() -> Inner<'static> {
        let mut inner = Inner::new();
        inner.set_max_table_size(0);
        inner.set_max_allowed_table_size(0);
        inner
    }

    /// Called when the peer acknowledges our SETTINGS_HEADER_TABLE_SIZE
    /// `size`. For 0, its next block must open with a size update to 0,
    /// which would evict every entry, so the entries are dropped now (a
    /// fresh decoder frees the table's memory; the old one keeps its
    /// capacity). Otherwise updates up to `size` are allowed from now on.
    pub fn peer_acked_table_size(&mut self, size: u32) {
        if size == 0 {
            self.inner = Self::zero_table();
            self.zero = true;
        } else {
            self.inner.set_max_allowed_table_size(size as usize);
        }
    }

    /// Decodes a request header block (`trailers`: a second block on the
    /// stream, which may carry no pseudo-header). The whole block is always
    /// decoded, whatever its fields, so the table stays in step with the peer.
    pub fn decode_request(
        &mut self,
        block: &[u8],
        trailers: bool,
        max_list: u32,
    ) -> Result<Request, CompressionError> {
        let mut req = Request::default();
        let mut size: u64 = 0;
        let mut regular_seen = false;
        self.inner
            .decode_with_cb(block, |name, value| {
                size += name.len() as u64 + value.len() as u64 + 32;
                if size > u64::from(max_list) {
                    req.too_large = true;
                }
                if req.malformed.is_none() && !req.too_large {
                    if let Err(why) =
                        check_field(&mut req, &name, &value, trailers, &mut regular_seen)
                    {
                        req.malformed = Some(why);
                    }
                }
            })
            .map_err(|_| CompressionError)?;
        if self.zero {
            // Fields "with incremental indexing" still pass through the
            // table (and are evicted at once), leaving its ring buffer
            // allocated: a fresh decoder holds nothing.
            self.inner = Self::zero_table();
        }
        if !trailers && req.malformed.is_none() && !req.too_large {
            if req.method.is_none() {
                req.malformed = Some("no :method");
            } else if !req.scheme {
                req.malformed = Some("no :scheme");
            } else if req.path.is_none() {
                req.malformed = Some("no :path");
            }
        }
        Ok(req)
    }
}

/// Applies one decoded field to `req`, or says why the request is malformed.
fn check_field(
    req: &mut Request,
    name: &[u8],
    value: &[u8],
    trailers: bool,
    regular_seen: &mut bool,
) -> Result<(), &'static str> {
    if name.iter().any(u8::is_ascii_uppercase) {
        return Err("uppercase field name");
    }
    if let Some(pseudo) = name.strip_prefix(b":") {
        if trailers {
            return Err("pseudo-header in trailers");
        }
        if *regular_seen {
            return Err("pseudo-header after a regular field");
        }
        let slot = match pseudo {
            b"method" => &mut req.method,
            b"path" => {
                if value.is_empty() {
                    return Err("empty :path");
                }
                &mut req.path
            }
            b"scheme" => {
                if req.scheme {
                    return Err("duplicate :scheme");
                }
                req.scheme = true;
                return Ok(());
            }
            // Recorded nowhere: a gRPC server has no use for the authority.
            b"authority" => return Ok(()),
            _ => return Err("unknown or response pseudo-header"),
        };
        if slot.is_some() {
            return Err("duplicate pseudo-header");
        }
        *slot = Some(value.to_vec());
        return Ok(());
    }
    *regular_seen = true;
    match name {
        b"connection" | b"keep-alive" | b"proxy-connection" | b"transfer-encoding" | b"upgrade" => {
            Err("connection-specific field")
        }
        b"te" if value != b"trailers" => Err("te other than trailers"),
        b"content-type" if !trailers => {
            req.content_type = Some(value.to_vec());
            Ok(())
        }
        b"content-length" if !trailers => {
            let n = std::str::from_utf8(value)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or("bad content-length")?;
            if req.content_length.is_some_and(|old| old != n) {
                return Err("conflicting content-length");
            }
            req.content_length = Some(n);
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Appends an HPACK integer with an `n`-bit prefix whose high bits are `first`.
fn write_int(out: &mut Vec<u8>, first: u8, n: u32, mut value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}

/// Appends a string literal without Huffman coding.
fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    write_int(out, 0, 7, s.len());
    out.extend_from_slice(s);
}

/// Static table indexes used below (RFC 7541 Appendix A).
const STATUS_200: usize = 8;
const NAME_STATUS: usize = 8;
const NAME_CONTENT_TYPE: usize = 31;

/// A literal field without indexing whose name is a static table entry.
fn write_indexed_name(out: &mut Vec<u8>, name_index: usize, value: &[u8]) {
    write_int(out, 0x00, 4, name_index);
    write_str(out, value);
}

/// A literal field without indexing with a literal name.
fn write_literal(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.push(0x00);
    write_str(out, name);
    write_str(out, value);
}

/// `:status` (indexed for 200) and `content-type`.
pub fn write_response_head(out: &mut Vec<u8>, status: u16, content_type: &[u8]) {
    if status == 200 {
        write_int(out, 0x80, 7, STATUS_200);
    } else {
        let mut buf = itoa::Buffer::new();
        write_indexed_name(out, NAME_STATUS, buf.format(status).as_bytes());
    }
    write_indexed_name(out, NAME_CONTENT_TYPE, content_type);
}

/// Bytes gRPC percent-encodes in grpc-message: everything outside
/// 0x20..=0x7E, and '%' itself.
const GRPC_MESSAGE: &AsciiSet = &CONTROLS.add(b'%');

/// `grpc-status` and, if not empty, `grpc-message` (percent-encoded).
pub fn write_grpc_status(out: &mut Vec<u8>, status: u32, message: &str) {
    let mut buf = itoa::Buffer::new();
    write_literal(out, b"grpc-status", buf.format(status).as_bytes());
    if !message.is_empty() {
        let encoded: String = percent_encode(message.as_bytes(), GRPC_MESSAGE).collect();
        write_literal(out, b"grpc-message", encoded.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_ours(block: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut d = Inner::new();
        d.decode(block).expect("our block decodes")
    }

    #[test]
    fn response_blocks_decode_as_written() {
        let mut out = vec![SIZE_UPDATE_ZERO];
        write_response_head(&mut out, 200, b"application/grpc");
        write_grpc_status(&mut out, 12, "no such method: /a b%\n\u{e9}");
        let fields = decode_ours(&out);
        let want: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (b":status".to_vec(), b"200".to_vec()),
            (b"content-type".to_vec(), b"application/grpc".to_vec()),
            (b"grpc-status".to_vec(), b"12".to_vec()),
            (
                b"grpc-message".to_vec(),
                b"no such method: /a b%25%0A%C3%A9".to_vec(),
            ),
        ];
        assert_eq!(fields, want);
        let mut out = Vec::new();
        write_response_head(&mut out, 415, b"text/plain");
        assert_eq!(decode_ours(&out)[0], (b":status".to_vec(), b"415".to_vec()));
    }

    #[test]
    fn long_values_use_multi_byte_lengths() {
        let long = "x".repeat(300);
        let mut out = Vec::new();
        write_grpc_status(&mut out, 2, &long);
        assert_eq!(decode_ours(&out)[1].1.len(), 300);
    }

    /// Encodes fields as literals without indexing (what a test client sends).
    pub(crate) fn block(fields: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (n, v) in fields {
            write_literal(&mut out, n.as_bytes(), v.as_bytes());
        }
        out
    }

    fn check(fields: &[(&str, &str)], trailers: bool) -> Request {
        Decoder::new()
            .decode_request(&block(fields), trailers, 16_384)
            .expect("decodes")
    }

    const GOOD: &[(&str, &str)] = &[
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/Request/request"),
        (":authority", "x"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ];

    #[test]
    fn request_rules() {
        let ok = check(GOOD, false);
        assert_eq!(ok.malformed, None);
        assert_eq!(ok.path.as_deref(), Some(&b"/Request/request"[..]));
        assert_eq!(ok.content_type.as_deref(), Some(&b"application/grpc"[..]));
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[(":method", "POST"), (":scheme", "http")], "no :path"),
            (&[(":method", "POST"), (":path", "/")], "no :scheme"),
            (&[(":scheme", "http"), (":path", "/")], "no :method"),
            (
                &[(":method", "POST"), (":scheme", "http"), (":path", "")],
                "empty :path",
            ),
            (
                &[
                    (":method", "POST"),
                    (":method", "POST"),
                    (":scheme", "http"),
                    (":path", "/"),
                ],
                "duplicate pseudo-header",
            ),
            (
                &[
                    (":method", "POST"),
                    (":scheme", "http"),
                    (":scheme", "http"),
                    (":path", "/"),
                ],
                "duplicate :scheme",
            ),
            (
                &[
                    (":method", "POST"),
                    (":scheme", "http"),
                    (":path", "/"),
                    (":path", "/"),
                ],
                "duplicate pseudo-header",
            ),
            (
                &[
                    (":method", "POST"),
                    (":scheme", "http"),
                    (":path", "/"),
                    (":status", "200"),
                ],
                "unknown or response pseudo-header",
            ),
            (
                &[
                    (":method", "POST"),
                    (":scheme", "http"),
                    (":path", "/"),
                    (":foo", "x"),
                ],
                "unknown or response pseudo-header",
            ),
            (
                &[
                    (":method", "POST"),
                    ("x", "y"),
                    (":scheme", "http"),
                    (":path", "/"),
                ],
                "pseudo-header after a regular field",
            ),
            (
                &[
                    (":method", "POST"),
                    (":scheme", "http"),
                    (":path", "/"),
                    ("Foo", "y"),
                ],
                "uppercase field name",
            ),
            (
                &[
                    (":method", "POST"),
                    (":scheme", "http"),
                    (":path", "/"),
                    ("connection", "close"),
                ],
                "connection-specific field",
            ),
            (
                &[
                    (":method", "POST"),
                    (":scheme", "http"),
                    (":path", "/"),
                    ("te", "gzip"),
                ],
                "te other than trailers",
            ),
            (
                &[
                    (":method", "POST"),
                    (":scheme", "http"),
                    (":path", "/"),
                    ("content-length", "x"),
                ],
                "bad content-length",
            ),
        ];
        for (fields, why) in cases {
            assert_eq!(check(fields, false).malformed, Some(*why), "{fields:?}");
        }
        assert_eq!(
            check(&[(":path", "/")], true).malformed,
            Some("pseudo-header in trailers")
        );
        assert_eq!(check(&[("x-a", "b")], true).malformed, None);
    }

    #[test]
    fn header_list_limit_counts_decoded_bytes() {
        let big = "v".repeat(200);
        let fields = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", "/"),
            ("x", big.as_str()),
        ];
        let req = Decoder::new()
            .decode_request(&block(&fields), false, 200)
            .expect("decodes");
        assert!(req.too_large);
        let req = Decoder::new()
            .decode_request(&block(&fields), false, 400)
            .expect("decodes");
        assert!(!req.too_large);
    }

    #[test]
    fn table_rules() {
        // Index 0 and an index past the table are compression errors.
        assert_eq!(
            Decoder::new().decode_request(&[0x80], false, 999),
            Err(CompressionError)
        );
        assert_eq!(
            Decoder::new().decode_request(&[0xbe], false, 999),
            Err(CompressionError)
        );
        // A size update at the end of a block, or above the allowed size.
        assert_eq!(
            Decoder::new().decode_request(&[0x82, 0x20], false, 999),
            Err(CompressionError)
        );
        let mut d = Decoder::new();
        assert_eq!(
            d.decode_request(&[0x3f, 0xe2, 0x1f, 0x82], false, 999),
            Err(CompressionError)
        );
        // After our table size 0 is acknowledged, an indexed entry is gone.
        let mut d = Decoder::new();
        let mut b = vec![0x40];
        write_str(&mut b, b"x-a");
        write_str(&mut b, b"1");
        b.push(0xbe); // index 62: the entry just added
        assert!(d.decode_request(&b, true, 999).is_ok());
        d.peer_acked_table_size(0);
        assert_eq!(
            d.decode_request(&[0x20, 0xbe], true, 999),
            Err(CompressionError)
        );
        assert!(d.decode_request(&[0x20, 0x82], true, 999).is_ok());
    }
}
