//! The byte streams of real gRPC clients (recorded with
//! `examples/h2_echo.rs`, see `tests/h2_vectors/README.md`), the memory an
//! idle connection holds, and property tests: no input panics, and any split
//! of a real stream gives the same events and output.

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;
use crate::h2::Path;

/// grpcio 1.85.1 (Python, gRPC C-core): a unary call, a bidi stream with
/// a 13-byte and a 20,000-byte message, a call to an unknown method.
const GRPCIO: &[u8] = include_bytes!("../../../tests/h2_vectors/grpcio-1.85.1.bin");

/// nacos-sdk-go v2.3.2 (grpc-go 1.56.3) starting a config client and
/// querying one config: ServerCheckRequest (unary), the bidi stream with
/// ConnectionSetupRequest, then ConfigQueryRequest retries (unary).
const NACOS_GO: &[u8] = include_bytes!("../../../tests/h2_vectors/nacos-sdk-go-2.3.2.bin");

/// nacos-client 2.5.1 (Java; grpc-java 1.64.2 on netty, shaded): its
/// ServerCheckRequest on stream 3, HEADERS with the PRIORITY flag, then a
/// PING and its GOAWAY.
const NACOS_JAVA: &[u8] = include_bytes!("../../../tests/h2_vectors/nacos-client-2.5.1.bin");

/// Feeds `input` in the pieces `cuts` makes, as the reactor does (keeping
/// what is not consumed), answering as an echo server if `echo`; returns
/// the events and every output byte. (Answers depend on when they are made:
/// a message sent before or after a WINDOW_UPDATE is framed differently,
/// so split comparisons run without them.)
fn replay_with(input: &[u8], cuts: &[usize], echo: bool) -> (Vec<Event>, Vec<u8>, Conn) {
    let mut conn = Conn::new(&Limits::default());
    let (mut all_events, mut out, mut events) = (Vec::new(), Vec::new(), Vec::new());
    let mut pending: Vec<u8> = Vec::new();
    let mut from = 0;
    let mut ends: Vec<usize> = cuts.iter().copied().filter(|&c| c < input.len()).collect();
    ends.sort_unstable();
    ends.push(input.len());
    for end in ends {
        if end < from {
            continue;
        }
        pending.extend_from_slice(&input[from..end]);
        from = end;
        let used = conn
            .receive(&pending, &mut events, &mut out)
            .expect("a real client is valid");
        pending.drain(..used);
        if echo {
            for ev in &events {
                answer(&mut conn, ev, &mut out);
            }
        }
        all_events.append(&mut events);
    }
    assert!(pending.is_empty(), "the recording ends on a frame boundary");
    (all_events, out, conn)
}

fn replay(input: &[u8], cuts: &[usize]) -> (Vec<Event>, Vec<u8>, Conn) {
    replay_with(input, cuts, false)
}

fn echo(input: &[u8]) -> (Vec<Event>, Vec<u8>, Conn) {
    replay_with(input, &[], true)
}

/// An echo server's answers: unary calls get their message back.
fn answer(conn: &mut Conn, ev: &Event, out: &mut Vec<u8>) {
    match ev {
        Event::Open {
            stream,
            path: Path::Other(_),
        } => conn.send_trailers_only(*stream, 12, "unknown method", out),
        Event::Open { stream, .. } => conn.send_headers(*stream, out),
        Event::Message { stream, bytes } => {
            conn.send_message(*stream, bytes, out);
        }
        Event::End { stream } => conn.send_trailers(*stream, 0, "", out),
        Event::Reset { .. } | Event::GoAway => {}
    }
}

#[test]
fn grpcio_streams_decode() {
    let (events, out, conn) = echo(GRPCIO);
    let msg = |stream, bytes: &[u8]| Event::Message {
        stream,
        bytes: bytes.to_vec(),
    };
    assert_eq!(
        events,
        [
            Event::Open {
                stream: 1,
                path: Path::Unary
            },
            msg(1, br#"{"hello":"world"}"#),
            Event::End { stream: 1 },
            Event::Open {
                stream: 3,
                path: Path::BiStream
            },
            msg(3, b"setup-message"),
            msg(3, &[b'x'; 20_000]),
            Event::End { stream: 3 },
            Event::Open {
                stream: 5,
                path: Path::Other("/Other/method".into())
            },
            // Same batch as the Open (one read): the application sees them
            // after it answered, and they find the stream gone.
            msg(5, b"abc"),
            Event::End { stream: 5 },
        ]
    );
    assert!(conn.is_idle());
    // Our output is valid HTTP/2 (it parses into whole frames).
    assert!(!parse_frames(&out).is_empty());
}

#[test]
fn nacos_sdk_go_streams_decode() {
    let (events, _, conn) = echo(NACOS_GO);
    let opens: Vec<(u32, Path)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Open { stream, path } => Some((*stream, path.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        opens,
        [
            (1, Path::Unary),
            (3, Path::BiStream),
            (5, Path::Unary),
            (7, Path::Unary),
            (9, Path::Unary),
            (11, Path::Unary)
        ]
    );
    let types: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::Message { bytes, .. } => [
                "ServerCheckRequest",
                "ConnectionSetupRequest",
                "ConfigQueryRequest",
            ]
            .into_iter()
            .find(|t| bytes.windows(t.len()).any(|w| w == t.as_bytes())),
            _ => None,
        })
        .collect();
    assert_eq!(
        types[..3],
        [
            "ServerCheckRequest",
            "ConnectionSetupRequest",
            "ConfigQueryRequest"
        ]
    );
    // Only the bidi stream stays open.
    assert!(!conn.is_idle());
}

#[test]
fn nacos_client_java_streams_decode() {
    let (events, out, conn) = echo(NACOS_JAVA);
    assert_eq!(events.len(), 4, "{events:?}");
    assert_eq!(
        events[0],
        Event::Open {
            stream: 3,
            path: Path::Unary
        }
    );
    match &events[1] {
        Event::Message { stream: 3, bytes } => {
            assert!(bytes.windows(18).any(|w| w == b"ServerCheckRequest"));
        }
        other => panic!("not the request: {other:?}"),
    }
    assert_eq!(events[2..], [Event::End { stream: 3 }, Event::GoAway]);
    assert!(conn.is_idle());
    // The PING was answered.
    let frames = parse_frames(&out);
    assert!(frames
        .iter()
        .any(|f| f.head.kind == crate::h2::frame::PING && f.head.has(crate::h2::frame::FLAG_ACK)));
}

/// What an idle Nacos client costs this layer: the connection after the
/// real nacos-sdk-go start-up, its unary calls answered, its bidi stream
/// open. Heap is counted from Vec capacities (`Conn::heap_bytes`); the
/// HPACK decoder holds no entry once the client acked table size 0.
#[test]
fn an_idle_connection_with_one_bidi_stream_is_small() {
    let (_, _, conn) = echo(NACOS_GO);
    let size = std::mem::size_of::<Conn>();
    let heap = conn.heap_bytes();
    eprintln!("size_of::<Conn>() = {size} B, heap held = {heap} B");
    assert!(size <= 320, "Conn is {size} bytes");
    assert!(heap <= 200, "an idle Conn holds {heap} heap bytes");
    assert_eq!(conn.queued_bytes(), 0);
}

#[test]
fn any_split_gives_the_same_events_and_output() {
    let whole = replay(GRPCIO, &[]);
    // Every single cut point through the first kilobyte (the preface,
    // SETTINGS, HPACK blocks), then random cuts below.
    for cut in 0..1024 {
        let split = replay(GRPCIO, &[cut]);
        assert!(split.0 == whole.0 && split.1 == whole.1, "cut at {cut}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_splits_change_nothing(cuts in vec(0..GRPCIO.len(), 0..40), go_cuts in vec(0..NACOS_GO.len(), 0..20), java_cuts in vec(0..NACOS_JAVA.len(), 0..10)) {
        let whole = replay(NACOS_JAVA, &[]);
        let split = replay(NACOS_JAVA, &java_cuts);
        prop_assert!(split.0 == whole.0 && split.1 == whole.1);
        let whole = replay(GRPCIO, &[]);
        let split = replay(GRPCIO, &cuts);
        prop_assert!(split.0 == whole.0 && split.1 == whole.1);
        let whole = replay(NACOS_GO, &[]);
        let split = replay(NACOS_GO, &go_cuts);
        prop_assert!(split.0 == whole.0 && split.1 == whole.1);
    }

    /// Arbitrary bytes after a valid start never panic; an error is final.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..3000)) {
        let mut p = Peer::new();
        fuzz(&mut p, &bytes);
    }

    /// Arbitrary frames (any type, flags, small stream ids and payloads,
    /// mixed with valid request headers) never panic.
    #[test]
    fn arbitrary_frames_never_panic(frames in vec((0u8..12, any::<u8>(), 0u32..8, vec(any::<u8>(), 0..40), any::<bool>()), 0..40)) {
        let mut p = Peer::new();
        let mut bytes = Vec::new();
        for (kind, flags, stream, payload, valid_headers) in frames {
            if valid_headers && stream % 2 == 1 {
                bytes.extend(headers(stream, flags & crate::h2::frame::FLAG_END_STREAM, &grpc_fields("/a")));
            }
            bytes.extend(raw_frame(kind, flags, stream, &payload));
        }
        fuzz(&mut p, &bytes);
    }
}

/// Feeds `bytes` in two pieces, answering every event, and checks the
/// output always parses into whole frames.
fn fuzz(p: &mut Peer, bytes: &[u8]) {
    let mid = bytes.len() / 2;
    let mut pending = Vec::new();
    for piece in [&bytes[..mid], &bytes[mid..]] {
        pending.extend_from_slice(piece);
        match p.conn.receive(&pending, &mut p.events, &mut p.out) {
            Ok(used) => {
                pending.drain(..used);
            }
            Err(e) => {
                assert_eq!(p.conn.receive(&pending, &mut p.events, &mut p.out), Err(e));
                break;
            }
        }
        let events = p.events();
        for ev in &events {
            answer(&mut p.conn, ev, &mut p.out);
        }
    }
    p.take();
}
