//! The client framing against hand-built server frames (a server encoder
//! that indexes into the dynamic table, as tonic/h2 does).

use super::*;

/// The frames in `bytes`: (type, flags, stream, payload).
fn frames(mut bytes: &[u8]) -> Vec<(u8, u8, u32, Vec<u8>)> {
    let mut v = Vec::new();
    while bytes.len() >= 9 {
        let len =
            (usize::from(bytes[0]) << 16) | (usize::from(bytes[1]) << 8) | usize::from(bytes[2]);
        let stream = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]);
        v.push((bytes[3], bytes[4], stream, bytes[9..9 + len].to_vec()));
        bytes = &bytes[9 + len..];
    }
    assert!(bytes.is_empty(), "trailing partial frame");
    v
}

fn grpc_data(msgs: &[&[u8]]) -> Vec<u8> {
    let mut d = Vec::new();
    for m in msgs {
        d.push(0);
        d.extend_from_slice(&(m.len() as u32).to_be_bytes());
        d.extend_from_slice(m);
    }
    d
}

fn server_headers(enc: &mut loona_hpack::Encoder, pairs: &[(&str, &str)]) -> Vec<u8> {
    enc.encode(pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())))
}

#[test]
fn request_headers_decode_as_grpc_wants() {
    let block = request_headers("/Request/request", "127.0.0.1:9848");
    let got = loona_hpack::Decoder::new().decode(&block).unwrap();
    let got: Vec<(String, String)> = got
        .into_iter()
        .map(|(n, v)| (String::from_utf8(n).unwrap(), String::from_utf8(v).unwrap()))
        .collect();
    let want = [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/Request/request"),
        (":authority", "127.0.0.1:9848"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        ("user-agent", "vigil-loadtest"),
    ];
    assert_eq!(got.len(), want.len());
    for ((n, v), (wn, wv)) in got.iter().zip(want) {
        assert_eq!((n.as_str(), v.as_str()), (wn, wv));
    }
    // Long values take the multi-byte integer form.
    let long = "/".repeat(300);
    let got = loona_hpack::Decoder::new()
        .decode(&request_headers(&long, "h"))
        .unwrap();
    assert_eq!(got[2].1, long.as_bytes());
}

#[test]
fn preface_settings_and_window() {
    let c = H2Client::new();
    let mut out = Vec::new();
    c.preface(&mut out);
    assert!(out.starts_with(PREFACE));
    let f = frames(&out[PREFACE.len()..]);
    assert_eq!(f[0].0, SETTINGS);
    assert_eq!(f[0].3, [0, 2, 0, 0, 0, 0, 0, 4, 0, 0x10, 0, 0]);
    assert_eq!(
        f[1],
        (
            WINDOW_UPDATE,
            0,
            0,
            (RECV_WINDOW - 65_535).to_be_bytes().to_vec()
        )
    );
}

#[test]
fn a_unary_call_and_a_push_on_the_bi_stream() {
    let mut c = H2Client::new();
    let mut out = Vec::new();
    let unary = c.open_stream("/Request/request", "h", &mut out);
    c.send_message(unary, b"ping", true, &mut out);
    let bi = c.open_stream("/BiRequestStream/requestBiStream", "h", &mut out);
    c.send_message(bi, b"setup", false, &mut out);
    assert_eq!((unary, bi), (1, 3));
    let f = frames(&out);
    assert_eq!(f.len(), 4);
    assert_eq!((f[0].0, f[0].1, f[0].2), (HEADERS, END_HEADERS, 1));
    assert_eq!((f[1].0, f[1].1, f[1].2), (DATA, END_STREAM, 1));
    assert_eq!(f[1].3, grpc_data(&[b"ping"]));
    assert_eq!((f[3].0, f[3].1, f[3].2), (DATA, 0, 3));

    // The server: SETTINGS, a PING, headers (indexed), a message split over
    // two DATA frames, a second message, trailers; then a push on the bi-stream
    // whose headers reuse the dynamic table.
    let mut enc = loona_hpack::Encoder::new();
    let mut s = Vec::new();
    frame(&mut s, SETTINGS, 0, 0, &[0, 4, 0, 0, 0x10, 0]);
    frame(&mut s, PING, 0, 0, b"12345678");
    let h = server_headers(
        &mut enc,
        &[(":status", "200"), ("content-type", "application/grpc")],
    );
    frame(&mut s, HEADERS, END_HEADERS, 1, &h);
    let data = grpc_data(&[b"first message", b"second"]);
    frame(&mut s, DATA, 0, 1, &data[..7]);
    frame(&mut s, DATA, 0, 1, &data[7..]);
    let t = server_headers(&mut enc, &[("grpc-status", "0"), ("grpc-message", "")]);
    frame(&mut s, HEADERS, END_HEADERS | END_STREAM, 1, &t);
    let h = server_headers(
        &mut enc,
        &[(":status", "200"), ("content-type", "application/grpc")],
    );
    frame(&mut s, HEADERS, END_HEADERS, 3, &h);
    frame(
        &mut s,
        DATA,
        PADDED,
        3,
        &[[3u8].as_slice(), &grpc_data(&[b"push"]), b"pad"].concat(),
    );

    let mut events = Vec::new();
    let mut reply = Vec::new();
    // Byte by byte: partial frames wait for the rest.
    let mut buf = Vec::new();
    for b in &s {
        buf.push(*b);
        let used = c.receive(&buf, &mut events, &mut reply).unwrap();
        buf.drain(..used);
    }
    assert!(buf.is_empty());
    assert_eq!(
        events,
        vec![
            H2Event::Headers {
                stream: 1,
                end_stream: false,
                status: Some(200),
                grpc_status: None,
                grpc_message: None
            },
            H2Event::Message {
                stream: 1,
                bytes: b"first message".to_vec()
            },
            H2Event::Message {
                stream: 1,
                bytes: b"second".to_vec()
            },
            H2Event::Headers {
                stream: 1,
                end_stream: true,
                status: None,
                grpc_status: Some(0),
                grpc_message: Some(String::new())
            },
            H2Event::Headers {
                stream: 3,
                end_stream: false,
                status: Some(200),
                grpc_status: None,
                grpc_message: None
            },
            H2Event::Message {
                stream: 3,
                bytes: b"push".to_vec()
            },
        ]
    );
    let r = frames(&reply);
    assert_eq!(r[0], (SETTINGS, ACK, 0, vec![]));
    assert_eq!(r[1], (PING, ACK, 0, b"12345678".to_vec()));
    // The finished unary stream is forgotten; the bi-stream stays.
    assert_eq!(c.open_streams(), 1);
}

#[test]
fn continuation_frames_join_one_header_block() {
    let mut c = H2Client::new();
    let mut out = Vec::new();
    let id = c.open_stream("/Request/request", "h", &mut out);
    let mut enc = loona_hpack::Encoder::new();
    let block = server_headers(
        &mut enc,
        &[
            (":status", "200"),
            ("grpc-status", "12"),
            ("grpc-message", "no handler"),
        ],
    );
    let mut s = Vec::new();
    frame(&mut s, HEADERS, END_STREAM, id, &block[..3]);
    frame(&mut s, CONTINUATION, 0, id, &block[3..6]);
    frame(&mut s, CONTINUATION, END_HEADERS, id, &block[6..]);
    let mut events = Vec::new();
    assert_eq!(c.receive(&s, &mut events, &mut out), Ok(s.len()));
    assert_eq!(
        events,
        vec![H2Event::Headers {
            stream: id,
            end_stream: true,
            status: Some(200),
            grpc_status: Some(12),
            grpc_message: Some("no handler".into())
        }]
    );
    // A header block interrupted by another frame is a connection error.
    let mut s = Vec::new();
    frame(&mut s, HEADERS, 0, 5, &block[..3]);
    frame(&mut s, PING, 0, 0, b"12345678");
    assert!(matches!(
        c.receive(&s, &mut events, &mut out),
        Err(H2Error::Protocol(_))
    ));
}

#[test]
fn sends_wait_for_window_and_receives_are_replenished() {
    let mut c = H2Client::new();
    let mut out = Vec::new();
    let mut events = Vec::new();
    // The server allows 10 bytes per stream.
    let mut s = Vec::new();
    frame(&mut s, SETTINGS, 0, 0, &[0, 4, 0, 0, 0, 10]);
    c.receive(&s, &mut events, &mut out).unwrap();
    out.clear();
    let id = c.open_stream("/BiRequestStream/requestBiStream", "h", &mut out);
    c.send_message(id, b"0123456789abcdef", false, &mut out);
    let f = frames(&out);
    assert_eq!(f.len(), 2);
    assert_eq!(f[1].3.len(), 10);
    assert_eq!(c.blocked_bytes(), 11);
    out.clear();
    let mut s = Vec::new();
    frame(&mut s, WINDOW_UPDATE, 0, id, &100u32.to_be_bytes());
    c.receive(&s, &mut events, &mut out).unwrap();
    let f = frames(&out);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].3.len(), 11);
    assert_eq!(c.blocked_bytes(), 0);

    // Half our window consumed on the stream: both windows are topped up.
    out.clear();
    let mut s = Vec::new();
    let data = grpc_data(&[&[b'y'; (RECV_WINDOW / 2) as usize]]);
    for chunk in data.chunks(16_000) {
        frame(&mut s, DATA, 0, id, chunk);
    }
    let used = c.receive(&s, &mut events, &mut out).unwrap();
    assert_eq!(used, s.len());
    let updates: Vec<_> = frames(&out)
        .into_iter()
        .filter(|f| f.0 == WINDOW_UPDATE)
        .collect();
    assert_eq!(updates.len(), 2, "{updates:?}");
    assert!(
        matches!(events.last(), Some(H2Event::Message { bytes, .. }) if bytes.len() == (RECV_WINDOW / 2) as usize)
    );
}

#[test]
fn bad_frames_are_connection_errors() {
    let mut events = Vec::new();
    let mut out = Vec::new();
    let mut s = Vec::new();
    s.extend_from_slice(&[0, 0x40, 0x01, DATA, 0, 0, 0, 0, 1]);
    assert_eq!(
        H2Client::new().receive(&s, &mut events, &mut out),
        Err(H2Error::FrameTooLarge(16_385))
    );
    let mut s = Vec::new();
    frame(&mut s, PUSH_PROMISE, END_HEADERS, 1, &[0, 0, 0, 2]);
    assert!(H2Client::new().receive(&s, &mut events, &mut out).is_err());
    let mut c = H2Client::new();
    let id = c.open_stream("/Request/request", "h", &mut out);
    let mut s = Vec::new();
    frame(&mut s, DATA, 0, id, &[1, 0, 0, 0, 0]);
    assert_eq!(
        c.receive(&s, &mut events, &mut out),
        Err(H2Error::Compressed)
    );
    let mut s = Vec::new();
    frame(&mut s, GOAWAY, 0, 0, &[0, 0, 0, 7, 0, 0, 0, 0]);
    frame(&mut s, RST_STREAM, 0, 9, &[0, 0, 0, 8]);
    events.clear();
    H2Client::new().receive(&s, &mut events, &mut out).unwrap();
    assert_eq!(
        events,
        vec![
            H2Event::GoAway {
                last_stream: 7,
                code: 0
            },
            H2Event::Reset { stream: 9, code: 8 }
        ]
    );
}
