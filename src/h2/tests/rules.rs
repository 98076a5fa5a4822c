//! Frame and stream rules of RFC 9113, as tables of cases.

use super::*;
use crate::h2::frame::*;
use crate::h2::{Limits, Path};

#[test]
fn handshake_writes_our_settings_and_acks_theirs() {
    let mut p = Peer::raw(Limits::default());
    // The preface may arrive a byte at a time: nothing is consumed early.
    for n in 0..PREFACE.len() {
        assert_eq!(
            p.conn.receive(&PREFACE[..n], &mut p.events, &mut p.out),
            Ok(0)
        );
    }
    assert!(p.out.is_empty());
    p.feed(&client_start(&[(SETTINGS_INITIAL_WINDOW_SIZE, 1000)]))
        .expect("preface");
    let frames = p.take();
    assert_eq!(kinds(&frames), [SETTINGS, WINDOW_UPDATE, SETTINGS]);
    let ours: Vec<(u16, u32)> = frames[0]
        .payload
        .chunks(6)
        .map(|c| (u16::from_be_bytes([c[0], c[1]]), u32_at(c, 2)))
        .collect();
    assert_eq!(
        ours,
        [
            (SETTINGS_HEADER_TABLE_SIZE, 0),
            (SETTINGS_ENABLE_PUSH, 0),
            (SETTINGS_MAX_CONCURRENT_STREAMS, 128),
            (SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20),
            (SETTINGS_MAX_FRAME_SIZE, 16_384),
            (SETTINGS_MAX_HEADER_LIST_SIZE, 16_384),
        ]
    );
    assert_eq!(frames[1].head.stream, 0);
    assert_eq!(u32_at(&frames[1].payload, 0), (1 << 20) - 65_535);
    assert!(frames[2].head.has(FLAG_ACK));
    assert!(frames[2].payload.is_empty());
}

#[test]
fn bad_prefaces_are_connection_errors() {
    let mut p = Peer::raw(Limits::default());
    p.expect_conn_error(b"GET / HTTP/1.1\r\n", ErrorCode::Protocol);
    // The first frame after the preface must be SETTINGS.
    let mut p = Peer::raw(Limits::default());
    let mut bytes = PREFACE.to_vec();
    bytes.extend(raw_frame(PING, 0, 0, &[0; 8]));
    p.expect_conn_error(&bytes, ErrorCode::Protocol);
}

/// Connection errors: (what, frames after the handshake, code).
#[test]
fn connection_errors() {
    use ErrorCode::*;
    let open = grpc_open(1, "/Request/request");
    let with_open = |f: Vec<u8>| [open.clone(), f].concat();
    let mut padded_headers = vec![200];
    padded_headers.extend(block(&grpc_fields("/")));
    let mut big = vec![0u8; 16_385];
    big[0] = 0;
    let cases: Vec<(&str, Vec<u8>, ErrorCode)> = vec![
        ("DATA on stream 0", data(0, 0, b"x"), Protocol),
        ("DATA on an idle stream", data(1, 0, b"x"), Protocol),
        (
            "DATA with a pad as long as the payload",
            with_open(raw_frame(DATA, FLAG_PADDED, 1, &[4, 0, 0, 0])),
            Protocol,
        ),
        (
            "DATA padded without a pad length",
            with_open(raw_frame(DATA, FLAG_PADDED, 1, &[])),
            Protocol,
        ),
        (
            "HEADERS on stream 0",
            headers(0, 0, &grpc_fields("/")),
            Protocol,
        ),
        (
            "HEADERS on an even stream",
            headers(2, 0, &grpc_fields("/")),
            Protocol,
        ),
        (
            "HEADERS with a pad past the end",
            raw_frame(HEADERS, FLAG_PADDED | FLAG_END_HEADERS, 1, &padded_headers),
            Protocol,
        ),
        (
            "HEADERS too short for its priority",
            raw_frame(HEADERS, FLAG_PRIORITY | FLAG_END_HEADERS, 1, &[0, 0]),
            FrameSize,
        ),
        (
            "HEADERS with a bad HPACK index",
            raw_frame(HEADERS, FLAG_END_HEADERS, 1, &[0x80]),
            Compression,
        ),
        (
            "HEADERS referring past the table",
            raw_frame(HEADERS, FLAG_END_HEADERS, 1, &[0xc0]),
            Compression,
        ),
        (
            "HEADERS on a lower id",
            [grpc_open(5, "/a"), grpc_open(3, "/a")].concat(),
            Protocol,
        ),
        (
            "a frame over SETTINGS_MAX_FRAME_SIZE",
            raw_frame(DATA, 0, 1, &big),
            FrameSize,
        ),
        (
            "PRIORITY on stream 0",
            raw_frame(PRIORITY, 0, 0, &[0, 0, 0, 1, 0]),
            Protocol,
        ),
        (
            "PRIORITY of 4 bytes",
            raw_frame(PRIORITY, 0, 1, &[0, 0, 0, 3]),
            FrameSize,
        ),
        (
            "RST_STREAM on stream 0",
            raw_frame(RST_STREAM, 0, 0, &[0, 0, 0, 8]),
            Protocol,
        ),
        (
            "RST_STREAM on an idle stream",
            raw_frame(RST_STREAM, 0, 1, &[0, 0, 0, 8]),
            Protocol,
        ),
        (
            "RST_STREAM of 3 bytes",
            with_open(raw_frame(RST_STREAM, 0, 1, &[0, 0, 8])),
            FrameSize,
        ),
        (
            "SETTINGS on a stream",
            raw_frame(SETTINGS, 0, 1, &[]),
            Protocol,
        ),
        (
            "SETTINGS of 5 bytes",
            raw_frame(SETTINGS, 0, 0, &[0, 4, 0, 0, 1]),
            FrameSize,
        ),
        (
            "SETTINGS ACK with a payload",
            raw_frame(SETTINGS, FLAG_ACK, 0, &[0, 4, 0, 0, 0, 1]),
            FrameSize,
        ),
        (
            "ENABLE_PUSH of 2",
            settings(&[(SETTINGS_ENABLE_PUSH, 2)]),
            Protocol,
        ),
        (
            "INITIAL_WINDOW_SIZE of 2^31",
            settings(&[(SETTINGS_INITIAL_WINDOW_SIZE, 1 << 31)]),
            FlowControl,
        ),
        (
            "MAX_FRAME_SIZE below 16384",
            settings(&[(SETTINGS_MAX_FRAME_SIZE, 16_383)]),
            Protocol,
        ),
        (
            "MAX_FRAME_SIZE of 2^24",
            settings(&[(SETTINGS_MAX_FRAME_SIZE, 1 << 24)]),
            Protocol,
        ),
        (
            "PUSH_PROMISE from a client",
            with_open(raw_frame(PUSH_PROMISE, FLAG_END_HEADERS, 1, &[0, 0, 0, 2])),
            Protocol,
        ),
        ("PING on a stream", raw_frame(PING, 0, 1, &[0; 8]), Protocol),
        ("PING of 7 bytes", raw_frame(PING, 0, 0, &[0; 7]), FrameSize),
        (
            "GOAWAY on a stream",
            raw_frame(GOAWAY, 0, 1, &[0; 8]),
            Protocol,
        ),
        (
            "GOAWAY of 4 bytes",
            raw_frame(GOAWAY, 0, 0, &[0; 4]),
            FrameSize,
        ),
        ("WINDOW_UPDATE of 0", window_update(0, 0), Protocol),
        (
            "WINDOW_UPDATE of 3 bytes",
            raw_frame(WINDOW_UPDATE, 0, 0, &[0, 0, 1]),
            FrameSize,
        ),
        (
            "WINDOW_UPDATE past 2^31-1",
            [window_update(0, 0x7fff_ffff), window_update(0, 0x7fff_ffff)].concat(),
            FlowControl,
        ),
        (
            "WINDOW_UPDATE on an idle stream",
            window_update(1, 1),
            Protocol,
        ),
        (
            "CONTINUATION without HEADERS",
            raw_frame(CONTINUATION, FLAG_END_HEADERS, 1, &[]),
            Protocol,
        ),
        (
            "CONTINUATION on an open stream",
            with_open(raw_frame(CONTINUATION, FLAG_END_HEADERS, 1, &[])),
            Protocol,
        ),
    ];
    for (what, bytes, code) in cases {
        let mut p = Peer::new();
        let err = p.feed(&bytes).expect_err(what);
        assert_eq!(err.code, code, "{what}: {err:?}");
        let goaway = p.take().pop().expect("GOAWAY");
        assert_eq!(
            (goaway.head.kind, u32_at(&goaway.payload, 4)),
            (GOAWAY, u32::from(code)),
            "{what}"
        );
    }
}

#[test]
fn goaway_names_the_last_stream() {
    let mut p = Peer::new();
    p.feed(&grpc_open(7, "/Request/request")).expect("open");
    p.take();
    assert!(p.feed(&raw_frame(PING, 0, 3, &[0; 8])).is_err());
    let goaway = p.take().pop().expect("GOAWAY");
    assert_eq!(
        (u32_at(&goaway.payload, 0), u32_at(&goaway.payload, 4)),
        (7, 1)
    );
}

/// A header block interrupted by anything but its CONTINUATION.
#[test]
fn continuation_must_follow_its_headers() {
    let fields = block(&grpc_fields("/Request/request"));
    let first = raw_frame(HEADERS, 0, 1, &fields[..10]);
    let interruptions = [
        raw_frame(PING, 0, 0, &[0; 8]),
        raw_frame(PRIORITY, 0, 1, &[0, 0, 0, 3, 0]),
        data(1, 0, b""),
        raw_frame(CONTINUATION, FLAG_END_HEADERS, 3, &fields[10..]),
        headers(3, 0, &grpc_fields("/")),
        raw_frame(0xfa, 0, 0, b"extension"),
    ];
    for next in interruptions {
        let mut p = Peer::new();
        p.expect_conn_error(&[first.clone(), next].concat(), ErrorCode::Protocol);
    }
}

#[test]
fn continuations_are_joined() {
    let fields = block(&grpc_fields("/BiRequestStream/requestBiStream"));
    let mut bytes = raw_frame(HEADERS, FLAG_END_STREAM, 1, &fields[..7]);
    bytes.extend(raw_frame(CONTINUATION, 0, 1, &fields[7..20]));
    bytes.extend(raw_frame(CONTINUATION, 0, 1, &[]));
    bytes.extend(raw_frame(CONTINUATION, FLAG_END_HEADERS, 1, &fields[20..]));
    let mut p = Peer::new();
    p.feed(&bytes).expect("joined");
    assert_eq!(
        p.events(),
        [
            Event::Open {
                stream: 1,
                path: Path::BiStream
            },
            Event::End { stream: 1 }
        ]
    );
}

#[test]
fn header_blocks_over_the_limit_close_the_connection() {
    let limits = Limits {
        max_header_list: 100,
        ..Limits::default()
    };
    let mut p = Peer::with(limits, &[]);
    let first = raw_frame(HEADERS, 0, 1, &[0; 60]);
    p.expect_conn_error(
        &[first, raw_frame(CONTINUATION, 0, 1, &[0; 60])].concat(),
        ErrorCode::EnhanceYourCalm,
    );
    // Decoded fields over the limit (a block that fits): refused on the
    // stream with RESOURCE_EXHAUSTED, the connection lives on.
    let mut p = Peer::with(
        Limits {
            max_header_list: 300,
            ..Limits::default()
        },
        &[],
    );
    let mut fields = grpc_fields("/Request/request");
    let long = "v".repeat(120);
    fields.push(("x-long", &long));
    fields.push(("x-long2", &long));
    p.feed(&headers(1, FLAG_END_STREAM, &fields))
        .expect("refused on the stream");
    let frames = p.take();
    assert_eq!(kinds(&frames), [HEADERS]);
    let got = p.fields(&frames[0].payload);
    assert!(got.contains(&("grpc-status".into(), "8".into())), "{got:?}");
    assert!(p.events().is_empty());
    assert!(p.conn.is_idle());
}

/// Stream errors: (what, frames after the handshake, stream, code,
/// whether the application had seen the stream).
#[test]
fn stream_errors() {
    use ErrorCode::*;
    let open = grpc_open(1, "/Request/request");
    let with_open = |f: Vec<u8>| [open.clone(), f].concat();
    let mut self_dep = vec![0, 0, 0, 1, 0];
    self_dep.extend(block(&grpc_fields("/a")));
    let malformed = |extra: (&'static str, &'static str)| {
        let mut f = grpc_fields("/a");
        f.push(extra);
        headers(1, 0, &f)
    };
    let cases: Vec<(&str, Vec<u8>, u32, ErrorCode, bool)> = vec![
        (
            "uppercase field name",
            malformed(("X-Up", "1")),
            1,
            Protocol,
            false,
        ),
        (
            "connection header",
            malformed(("connection", "keep-alive")),
            1,
            Protocol,
            false,
        ),
        (
            "te other than trailers",
            malformed(("te", "gzip")),
            1,
            Protocol,
            false,
        ),
        (
            "response pseudo-header",
            headers(1, 0, &[(":status", "200")]),
            1,
            Protocol,
            false,
        ),
        (
            "HEADERS depending on itself",
            raw_frame(HEADERS, FLAG_PRIORITY | FLAG_END_HEADERS, 1, &self_dep),
            1,
            Protocol,
            false,
        ),
        (
            "PRIORITY depending on itself",
            with_open(raw_frame(PRIORITY, 0, 1, &[0, 0, 0, 1, 0])),
            1,
            Protocol,
            true,
        ),
        (
            "DATA after END_STREAM",
            [
                headers(1, FLAG_END_STREAM, &grpc_fields("/a")),
                data(1, 0, b"x"),
            ]
            .concat(),
            1,
            StreamClosed,
            true,
        ),
        (
            "HEADERS after END_STREAM",
            [
                headers(1, FLAG_END_STREAM, &grpc_fields("/a")),
                headers(1, FLAG_END_STREAM, &[]),
            ]
            .concat(),
            1,
            StreamClosed,
            true,
        ),
        (
            "trailers without END_STREAM",
            with_open(headers(1, 0, &[("x-a", "b")])),
            1,
            Protocol,
            true,
        ),
        (
            "trailers with a pseudo-header",
            with_open(headers(1, FLAG_END_STREAM, &[(":path", "/")])),
            1,
            Protocol,
            true,
        ),
        (
            "WINDOW_UPDATE of 0",
            with_open(window_update(1, 0)),
            1,
            Protocol,
            true,
        ),
        (
            "stream window past 2^31-1",
            with_open([window_update(1, 0x7fff_ffff), window_update(1, 0x7fff_ffff)].concat()),
            1,
            FlowControl,
            true,
        ),
        (
            "DATA on a closed stream",
            [
                open.clone(),
                raw_frame(RST_STREAM, 0, 1, &[0, 0, 0, 8]),
                data(1, 0, b"x"),
            ]
            .concat(),
            1,
            StreamClosed,
            true,
        ),
        (
            "WINDOW_UPDATE of 0 on a closed stream",
            [
                open.clone(),
                raw_frame(RST_STREAM, 0, 1, &[0, 0, 0, 8]),
                window_update(1, 0),
            ]
            .concat(),
            1,
            Protocol,
            true,
        ),
    ];
    for (what, bytes, stream, code, visible) in cases {
        let mut p = Peer::new();
        p.feed(&bytes).unwrap_or_else(|e| panic!("{what}: {e:?}"));
        let frames = p.take();
        assert_eq!(
            resets(&frames).last(),
            Some(&(stream, u32::from(code))),
            "{what}: {frames:?}"
        );
        let events = p.events();
        assert_eq!(
            events.contains(&Event::Reset { stream }),
            visible,
            "{what}: {events:?}"
        );
        assert!(p.conn.is_idle(), "{what}: the stream is forgotten");
        // The connection lives on.
        p.feed(&raw_frame(PING, 0, 0, &[7; 8])).expect("still open");
        assert_eq!(kinds(&p.take()), [PING], "{what}");
    }
}

#[test]
fn headers_on_the_last_closed_stream_is_a_connection_error() {
    let mut p = Peer::new();
    p.feed(&headers(1, FLAG_END_STREAM, &grpc_fields("/a")))
        .expect("open");
    p.conn.send_trailers(1, 0, "", &mut p.out);
    assert!(p.conn.is_idle());
    p.expect_conn_error(
        &headers(1, FLAG_END_STREAM, &grpc_fields("/a")),
        ErrorCode::StreamClosed,
    );
}

#[test]
fn streams_over_the_concurrency_limit_are_refused() {
    let mut p = Peer::with(
        Limits {
            max_concurrent_streams: 2,
            ..Limits::default()
        },
        &[],
    );
    let bytes = [grpc_open(1, "/a"), grpc_open(3, "/a"), grpc_open(5, "/a")].concat();
    p.feed(&bytes).expect("refused, not fatal");
    assert_eq!(
        resets(&p.take()),
        [(5, u32::from(ErrorCode::RefusedStream))]
    );
    assert_eq!(p.events().len(), 2);
}

#[test]
fn ignored_frames() {
    let mut p = Peer::new();
    let bytes = [
        raw_frame(0xfa, 0xff, 0, b"unknown type"),
        raw_frame(PRIORITY, 0, 9, &[0, 0, 0, 1, 0]),
        raw_frame(PING, FLAG_ACK, 0, &[1; 8]),
        settings(&[
            (0x99, 5),
            (SETTINGS_HEADER_TABLE_SIZE, 100),
            (SETTINGS_MAX_HEADER_LIST_SIZE, 1),
        ]),
        raw_frame(SETTINGS, FLAG_ACK, 0, &[]),
        // Unknown flags and the reserved bit are ignored.
        {
            let mut ping = raw_frame(PING, 0xf0, 0, &[2; 8]);
            ping[5] |= 0x80;
            ping
        },
    ]
    .concat();
    p.feed(&bytes).expect("ignored");
    let frames = p.take();
    assert_eq!(kinds(&frames), [SETTINGS, PING]);
    assert!(frames[0].head.has(FLAG_ACK));
    assert_eq!(
        (frames[1].head.flags, frames[1].payload.clone()),
        (FLAG_ACK, vec![2; 8])
    );
    assert!(p.events().is_empty());
    // PRIORITY does not open its stream: stream 9 is still idle.
    p.expect_conn_error(&window_update(9, 1), ErrorCode::Protocol);
}

#[test]
fn requests_that_are_not_grpc_are_answered_here() {
    let cases = [
        (
            vec![(":method", "GET"), (":scheme", "http"), (":path", "/")],
            "405",
        ),
        (
            vec![
                (":method", "POST"),
                (":scheme", "http"),
                (":path", "/"),
                ("content-type", "text/plain"),
            ],
            "415",
        ),
        (
            vec![(":method", "POST"), (":scheme", "http"), (":path", "/")],
            "415",
        ),
    ];
    for (fields, status) in cases {
        let mut p = Peer::new();
        p.feed(&headers(1, FLAG_END_STREAM, &fields))
            .expect("answered");
        let frames = p.take();
        assert_eq!(kinds(&frames), [HEADERS, DATA]);
        let got = p.fields(&frames[0].payload);
        assert_eq!(got[0], (":status".into(), status.into()));
        assert!(frames[1].head.has(FLAG_END_STREAM));
        assert!(p.events().is_empty());
        assert!(p.conn.is_idle());
    }
    // A body still coming is read and checked against content-length.
    let mut p = Peer::new();
    let fields = [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/"),
        ("content-length", "3"),
    ];
    p.feed(&headers(1, 0, &fields)).expect("answered");
    assert_eq!(kinds(&p.take()), [HEADERS, DATA]);
    assert!(!p.conn.is_idle());
    p.feed(&data(1, FLAG_END_STREAM, b"abcd"))
        .expect("stream error");
    assert_eq!(resets(&p.take()), [(1, u32::from(ErrorCode::Protocol))]);
    assert!(p.conn.is_idle());
}

#[test]
fn paths() {
    let cases = [
        ("/Request/request", Path::Unary),
        ("/BiRequestStream/requestBiStream", Path::BiStream),
        (
            "/grpc.health.v1.Health/Check",
            Path::Other("/grpc.health.v1.Health/Check".into()),
        ),
    ];
    for (path, want) in cases {
        let mut p = Peer::new();
        p.feed(&grpc_open(1, path)).expect("open");
        assert_eq!(
            p.events(),
            [Event::Open {
                stream: 1,
                path: want
            }]
        );
    }
}

#[test]
fn client_reset_and_goaway_are_events() {
    let mut p = Peer::new();
    p.feed(&grpc_open(1, "/a")).expect("open");
    p.feed(&raw_frame(RST_STREAM, 0, 1, &[0, 0, 0, 8]))
        .expect("reset");
    p.feed(&raw_frame(GOAWAY, 0, 0, &[0, 0, 0, 0, 0, 0, 0, 0x63]))
        .expect("goaway");
    assert_eq!(p.events()[1..], [Event::Reset { stream: 1 }, Event::GoAway]);
    assert!(p.conn.is_idle());
}

#[test]
fn our_goaway_refuses_later_streams() {
    let mut p = Peer::new();
    p.feed(&grpc_open(3, "/a")).expect("open");
    p.events();
    p.conn.go_away(ErrorCode::NoError, &mut p.out);
    let frames = p.take();
    assert_eq!(
        (frames[0].head.kind, u32_at(&frames[0].payload, 0)),
        (GOAWAY, 3)
    );
    p.feed(&grpc_open(5, "/a")).expect("refused");
    assert_eq!(
        resets(&p.take()),
        [(5, u32::from(ErrorCode::RefusedStream))]
    );
    assert!(p.events().is_empty());
    // The open stream still completes.
    p.conn.send_trailers(3, 0, "", &mut p.out);
    assert_eq!(kinds(&p.take()), [HEADERS, RST_STREAM]);
}
