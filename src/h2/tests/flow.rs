//! gRPC messages both ways, flow control both ways, and the limits.

use super::*;
use crate::h2::frame::*;
use crate::h2::{status, Limits, Path};

/// The payloads of the DATA frames among `frames`, joined.
fn data_bytes(frames: &[Out]) -> Vec<u8> {
    frames
        .iter()
        .filter(|f| f.head.kind == DATA)
        .flat_map(|f| f.payload.clone())
        .collect()
}

#[test]
fn a_unary_call_round_trip() {
    let mut p = Peer::new();
    let bytes = [
        grpc_open(1, "/Request/request"),
        data(1, FLAG_END_STREAM, &grpc_msg(b"hello")),
    ]
    .concat();
    p.feed(&bytes).expect("request");
    assert_eq!(
        p.events(),
        [
            Event::Open {
                stream: 1,
                path: Path::Unary
            },
            Event::Message {
                stream: 1,
                bytes: b"hello".to_vec()
            },
            Event::End { stream: 1 },
        ]
    );
    p.conn.send_headers(1, &mut p.out);
    assert!(p.conn.send_message(1, b"world", &mut p.out));
    p.conn.send_trailers(1, 0, "", &mut p.out);
    let frames = p.take();
    assert_eq!(kinds(&frames), [HEADERS, DATA, HEADERS]);
    // Our first block opens with a table size update to 0.
    assert_eq!(frames[0].payload[0], 0x20);
    assert_eq!(
        p.fields(&frames[0].payload),
        [
            (":status".to_string(), "200".to_string()),
            ("content-type".into(), "application/grpc".into())
        ]
    );
    assert_eq!(frames[1].payload, grpc_msg(b"world"));
    assert!(frames[2].head.has(FLAG_END_STREAM) && frames[2].head.has(FLAG_END_HEADERS));
    assert_eq!(
        p.fields(&frames[2].payload),
        [("grpc-status".to_string(), "0".to_string())]
    );
    assert!(p.conn.is_idle());
    // The stream is gone: nothing more can be sent on it.
    assert!(!p.conn.send_message(1, b"late", &mut p.out));
    assert!(p.out.is_empty());
}

#[test]
fn a_trailers_only_answer_carries_the_status_and_message() {
    let mut p = Peer::new();
    p.feed(&headers(1, FLAG_END_STREAM, &grpc_fields("/x.Y/z")))
        .expect("request");
    p.conn.send_trailers_only(
        1,
        status::UNIMPLEMENTED,
        "unknown method /x.Y/z: 100%",
        &mut p.out,
    );
    let frames = p.take();
    assert_eq!(kinds(&frames), [HEADERS]);
    assert!(frames[0].head.has(FLAG_END_STREAM));
    assert_eq!(
        p.fields(&frames[0].payload),
        [
            (":status".to_string(), "200".to_string()),
            ("content-type".into(), "application/grpc".into()),
            ("grpc-status".into(), "12".into()),
            (
                "grpc-message".into(),
                "unknown method /x.Y/z: 100%25".into()
            ),
        ]
    );
}

#[test]
fn a_bidi_stream_ended_by_us_is_reset_with_no_error() {
    let mut p = Peer::new();
    p.feed(&grpc_open(1, "/BiRequestStream/requestBiStream"))
        .expect("open");
    p.conn.send_trailers(1, 0, "", &mut p.out);
    let frames = p.take();
    assert_eq!(kinds(&frames), [HEADERS, RST_STREAM]);
    assert_eq!(resets(&frames), [(1, 0)]);
    assert!(p.conn.is_idle());
    // Its DATA still in flight is answered STREAM_CLOSED, not a connection error.
    p.feed(&data(1, 0, &grpc_msg(b"late"))).expect("tolerated");
    assert_eq!(resets(&p.take()), [(1, u32::from(ErrorCode::StreamClosed))]);
}

#[test]
fn messages_split_and_joined_across_frames() {
    let mut p = Peer::new();
    let mut body = grpc_msg(b"first");
    body.extend(grpc_msg(b""));
    body.extend(grpc_msg(&[9; 40_000]));
    let mut bytes = grpc_open(1, "/a");
    // Odd frame boundaries, cutting through prefixes and messages, with padding.
    for (n, chunk) in body.chunks(7_001).enumerate() {
        if n % 2 == 0 {
            let mut padded = vec![3];
            padded.extend_from_slice(chunk);
            padded.extend([0, 0, 0]);
            bytes.extend(raw_frame(DATA, FLAG_PADDED, 1, &padded));
        } else {
            bytes.extend(data(1, 0, chunk));
        }
    }
    bytes.extend(data(1, FLAG_END_STREAM, &[]));
    p.feed(&bytes).expect("messages");
    let events = p.events();
    assert_eq!(
        events[1..],
        [
            Event::Message {
                stream: 1,
                bytes: b"first".to_vec()
            },
            Event::Message {
                stream: 1,
                bytes: Vec::new()
            },
            Event::Message {
                stream: 1,
                bytes: vec![9; 40_000]
            },
            Event::End { stream: 1 },
        ]
    );
}

#[test]
fn refused_messages_end_the_stream_not_the_connection() {
    let limits = Limits {
        max_message: 10,
        ..Limits::default()
    };
    let mut compressed = grpc_msg(b"abc");
    compressed[0] = 1;
    let mut bad_flag = grpc_msg(b"abc");
    bad_flag[0] = 2;
    let cases = [
        (
            "over max_message",
            grpc_msg(&[0; 11])[..8].to_vec(),
            0,
            status::RESOURCE_EXHAUSTED,
        ),
        ("compressed", compressed, 0, status::UNIMPLEMENTED),
        ("bad flag", bad_flag, 0, status::INTERNAL),
        (
            "ended inside a message",
            grpc_msg(b"abcdef")[..6].to_vec(),
            FLAG_END_STREAM,
            status::INTERNAL,
        ),
    ];
    for (what, body, flags, code) in cases {
        let mut p = Peer::with(limits, &[]);
        p.feed(&[grpc_open(1, "/a"), data(1, flags, &body)].concat())
            .expect(what);
        let frames = p.take();
        let trailers = frames
            .iter()
            .find(|f| f.head.kind == HEADERS)
            .expect("trailers-only");
        assert!(trailers.head.has(FLAG_END_STREAM), "{what}");
        let fields = p.fields(&trailers.payload.clone());
        assert!(
            fields.contains(&("grpc-status".into(), code.to_string())),
            "{what}: {fields:?}"
        );
        // The client was still sending unless it had ended.
        let rst: &[(u32, u32)] = if flags == 0 { &[(1, 0)] } else { &[] };
        assert_eq!(resets(&frames), rst, "{what}");
        assert_eq!(p.events()[1..], [Event::Reset { stream: 1 }], "{what}");
        assert!(p.conn.is_idle());
        // The connection lives on: a new call works.
        p.feed(
            &[
                grpc_open(3, "/a"),
                data(3, FLAG_END_STREAM, &grpc_msg(b"ok")),
            ]
            .concat(),
        )
        .expect("next call");
        assert_eq!(p.events().len(), 3, "{what}");
    }
    // A message of exactly max_message passes.
    let mut p = Peer::with(limits, &[]);
    p.feed(&[grpc_open(1, "/a"), data(1, 0, &grpc_msg(&[1; 10]))].concat())
        .expect("fits");
    assert_eq!(
        p.events()[1],
        Event::Message {
            stream: 1,
            bytes: vec![1; 10]
        }
    );
}

#[test]
fn we_hand_back_the_receive_windows() {
    let window = 100_000;
    let limits = Limits {
        initial_window: window,
        ..Limits::default()
    };
    let mut p = Peer::with(limits, &[]);
    p.feed(&grpc_open(1, "/a")).expect("open");
    // Just under half of the window: no update yet.
    let chunk = vec![0u8; 10_000];
    for _ in 0..4 {
        p.feed(&data(1, 0, &chunk)).expect("data");
    }
    assert!(p.take().is_empty());
    // Padding counts too: 10,000 more crosses half of both windows.
    let mut padded = vec![99];
    padded.extend(vec![0u8; 9_999]);
    p.feed(&raw_frame(DATA, FLAG_PADDED, 1, &padded))
        .expect("data");
    let updates: Vec<(u32, u32)> = p
        .take()
        .iter()
        .filter(|f| f.head.kind == WINDOW_UPDATE)
        .map(|f| (f.head.stream, u32_at(&f.payload, 0)))
        .collect();
    assert_eq!(updates, [(0, 50_000), (1, 50_000)]);
    // A client that keeps sending within what we handed back is never
    // refused: 10 windows' worth goes through.
    for _ in 0..100 {
        p.feed(&data(1, 0, &chunk)).expect("within the windows");
    }
    assert!(
        p.take()
            .iter()
            .filter(|f| f.head.kind == WINDOW_UPDATE)
            .count()
            >= 2 * 18
    );
}

#[test]
fn data_beyond_a_window_is_a_flow_control_error() {
    let limits = Limits {
        initial_window: 65_535,
        max_frame_size: 1 << 16,
        ..Limits::default()
    };
    let mut p = Peer::with(limits, &[]);
    p.feed(&[grpc_open(1, "/a"), grpc_open(3, "/a")].concat())
        .expect("open");
    // 30,000 on each stream: under half of a stream window (no stream
    // update), over half of the connection window (it is handed back).
    let mut body = grpc_msg(&[0; 100_000]);
    body.truncate(30_000);
    p.feed(&[data(1, 0, &body), data(3, 0, &body)].concat())
        .expect("within");
    let updates: Vec<u32> = p
        .take()
        .iter()
        .filter(|f| f.head.kind == WINDOW_UPDATE)
        .map(|f| f.head.stream)
        .collect();
    assert_eq!(updates, [0]);
    // Stream 3 has 35,535 left: one byte more is a stream error only.
    p.feed(&data(3, 0, &vec![0; 35_536])).expect("stream error");
    assert_eq!(resets(&p.take()), [(3, u32::from(ErrorCode::FlowControl))]);
    assert_eq!(p.events()[2..], [Event::Reset { stream: 3 }]);
    // The connection window was handed back to 65,535: one frame larger
    // than that is fatal.
    p.expect_conn_error(&data(1, 0, &vec![0; 65_536]), ErrorCode::FlowControl);
}

#[test]
fn we_never_exceed_the_peer_windows() {
    // The client allows 10 bytes per stream.
    let mut p = Peer::with(Limits::default(), &[(SETTINGS_INITIAL_WINDOW_SIZE, 10)]);
    p.feed(&grpc_open(1, "/a")).expect("open");
    assert!(p.conn.send_message(1, &[7; 95], &mut p.out));
    p.conn.send_trailers(1, 0, "done", &mut p.out);
    let frames = p.take();
    assert_eq!(kinds(&frames), [HEADERS, DATA]);
    assert_eq!(frames[1].payload.len(), 10);
    assert_eq!(p.conn.queued_bytes(), 90 + 2 + 13 + 2 + 12 + 5);
    // Queued messages keep their order; nothing is sent past the window.
    assert!(!p.conn.send_message(1, b"after trailers", &mut p.out));
    p.feed(&window_update(1, 40)).expect("update");
    let frames = p.take();
    assert_eq!(data_bytes(&frames).len(), 40);
    // A SETTINGS increase applies to open streams: 50 more.
    p.feed(&settings(&[(SETTINGS_INITIAL_WINDOW_SIZE, 60)]))
        .expect("settings");
    let frames = p.take();
    assert_eq!(kinds(&frames), [SETTINGS, DATA, HEADERS, RST_STREAM]);
    assert_eq!(frames[1].payload.len(), 50);
    assert_eq!(
        p.fields(&frames[2].payload)[0],
        ("grpc-status".to_string(), "0".to_string())
    );
    assert_eq!(p.conn.queued_bytes(), 0);
    assert!(p.conn.is_idle());
}

#[test]
fn a_decreased_window_goes_negative_and_is_tracked() {
    let mut p = Peer::with(Limits::default(), &[(SETTINGS_INITIAL_WINDOW_SIZE, 3)]);
    p.feed(&grpc_open(1, "/a")).expect("open");
    assert!(p.conn.send_message(1, b"abcdef", &mut p.out));
    assert_eq!(data_bytes(&p.take()), [0, 0, 0]);
    // 3 -> 1: the window is now -2; an update of 2 leaves it at 0.
    p.feed(&settings(&[(SETTINGS_INITIAL_WINDOW_SIZE, 1)]))
        .expect("decrease");
    p.feed(&window_update(1, 2)).expect("update");
    assert_eq!(kinds(&p.take()), [SETTINGS]);
    p.feed(&window_update(1, 1)).expect("update");
    assert_eq!(data_bytes(&p.take()), [0]);
}

#[test]
fn the_connection_window_binds_all_streams() {
    let mut p = Peer::with(
        Limits::default(),
        &[(SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20)],
    );
    p.feed(&[grpc_open(1, "/a"), grpc_open(3, "/a")].concat())
        .expect("open");
    assert!(p.conn.send_message(1, &vec![1; 60_000], &mut p.out));
    assert!(p.conn.send_message(3, &vec![3; 60_000], &mut p.out));
    let frames = p.take();
    assert_eq!(data_bytes(&frames).len(), 65_535);
    assert!(frames.iter().all(|f| f.payload.len() <= 16_384));
    assert_eq!(p.conn.queued_bytes(), 120_010 - 65_535);
    p.feed(&window_update(0, 100_000)).expect("update");
    assert_eq!(data_bytes(&p.take()).len(), 120_010 - 65_535);
    assert_eq!(p.conn.queued_bytes(), 0);
}

#[test]
fn the_peer_max_frame_size_is_respected() {
    let mut p = Peer::with(
        Limits::default(),
        &[
            (SETTINGS_MAX_FRAME_SIZE, 20_000),
            (SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20),
        ],
    );
    p.feed(&[grpc_open(1, "/a"), window_update(0, 1 << 20)].concat())
        .expect("open");
    assert!(p.conn.send_message(1, &vec![1; 50_000], &mut p.out));
    let sizes: Vec<usize> = p
        .take()
        .iter()
        .filter(|f| f.head.kind == DATA)
        .map(|f| f.payload.len())
        .collect();
    assert_eq!(sizes, [20_000, 20_000, 10_005]);
}

#[test]
fn hpack_entries_before_the_ack_are_honoured_then_dropped() {
    // A client that indexes a field before it has our SETTINGS (allowed:
    // it may use the default 4,096 bytes until it acks), then refers to it.
    let mut p = Peer::raw(Limits::default());
    p.feed(&client_start(&[])).expect("start");
    let mut first = block(&grpc_fields("/a"));
    first.push(0x40);
    first.extend(&block(&[("x-custom", "1")])[1..]);
    p.feed(&raw_frame(HEADERS, FLAG_END_HEADERS, 1, &first))
        .expect("indexed");
    let mut second = block(&grpc_fields("/a"));
    second.push(0xbe); // index 62: x-custom: 1
    p.feed(&raw_frame(HEADERS, FLAG_END_HEADERS, 3, &second))
        .expect("referenced");
    assert_eq!(p.events().len(), 2);
    // After the ack the table is 0 bytes: the client must open its next
    // block with a size update; a reference to the old entry fails.
    p.feed(&raw_frame(SETTINGS, FLAG_ACK, 0, &[])).expect("ack");
    let mut third = vec![0x20];
    third.extend(block(&grpc_fields("/a")));
    p.feed(&raw_frame(HEADERS, FLAG_END_HEADERS, 5, &third))
        .expect("size update");
    p.expect_conn_error(
        &raw_frame(HEADERS, FLAG_END_HEADERS, 7, &second),
        ErrorCode::Compression,
    );
}

#[test]
fn long_trailers_continue_in_continuation_frames() {
    let mut p = Peer::new();
    p.feed(&headers(1, FLAG_END_STREAM, &grpc_fields("/a")))
        .expect("open");
    p.conn.send_headers(1, &mut p.out);
    let message = "e".repeat(40_000);
    p.conn
        .send_trailers(1, status::INTERNAL, &message, &mut p.out);
    let frames = p.take();
    assert_eq!(
        kinds(&frames),
        [HEADERS, HEADERS, CONTINUATION, CONTINUATION]
    );
    let trailers = &frames[1..];
    assert!(trailers[0].head.has(FLAG_END_STREAM) && !trailers[0].head.has(FLAG_END_HEADERS));
    assert!(!trailers[1].head.has(FLAG_END_HEADERS) && trailers[2].head.has(FLAG_END_HEADERS));
    assert!(trailers
        .iter()
        .all(|f| f.head.stream == 1 && f.payload.len() <= 16_384));
    p.fields(&frames[0].payload.clone());
    let joined: Vec<u8> = trailers.iter().flat_map(|f| f.payload.clone()).collect();
    assert_eq!(p.fields(&joined)[1], ("grpc-message".to_string(), message));
}

#[test]
fn incomplete_messages_share_one_connection_wide_cap() {
    let limits = Limits {
        max_message: 10,
        max_partial_bytes: 20,
        ..Limits::default()
    };
    let mut p = Peer::with(limits, &[]);
    let whole = grpc_msg(&[7; 10]);
    // Stream 1 holds 12 bytes of its message, stream 3 then 8: 20, at the cap.
    p.feed(
        &[
            grpc_open(1, "/a"),
            data(1, 0, &whole[..12]),
            grpc_open(3, "/a"),
            data(3, 0, &whole[..8]),
        ]
        .concat(),
    )
    .expect("at the cap");
    assert!(resets(&p.take()).is_empty());
    assert_eq!(p.events().len(), 2, "two opens, no message yet");
    // One byte more on stream 3 passes the cap: stream 3 alone is refused.
    p.feed(&data(3, 0, &whole[8..9]))
        .expect("the connection lives");
    let frames = p.take();
    let trailers = frames
        .iter()
        .find(|f| f.head.kind == HEADERS && f.head.stream == 3)
        .expect("trailers-only on stream 3");
    let fields = p.fields(&trailers.payload.clone());
    assert!(
        fields.contains(&("grpc-status".into(), status::RESOURCE_EXHAUSTED.to_string())),
        "{fields:?}"
    );
    assert_eq!(resets(&frames), [(3, 0)]);
    assert_eq!(p.events(), [Event::Reset { stream: 3 }]);
    // Its bytes are freed: stream 5 may hold 8 again, and stream 1's
    // message completes.
    p.feed(
        &[
            grpc_open(5, "/a"),
            data(5, 0, &whole[..8]),
            data(1, FLAG_END_STREAM, &whole[12..]),
        ]
        .concat(),
    )
    .expect("below the cap again");
    assert!(resets(&p.take()).is_empty());
    assert_eq!(
        p.events()[1..],
        [
            Event::Message {
                stream: 1,
                bytes: vec![7; 10]
            },
            Event::End { stream: 1 },
        ]
    );
}
