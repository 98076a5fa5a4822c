//! Walks the route table: every route answers, every other method on its
//! path is a 405, and with auth on every guarded route refuses a stranger.

use super::*;
use crate::auth::AuthKeys;

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

struct World {
    index: Index,
    settings: Settings,
    metrics: Metrics,
    keys: AuthKeys,
    state: Arc<AuthState>,
    credentials: HashMap<[u8; 32], bool>,
}

impl World {
    fn new() -> World {
        use clap::Parser;
        World {
            index: Index::new(),
            settings: Settings::parse_from(["vigil"]),
            metrics: Metrics::new(1),
            keys: AuthKeys::new([7; 32], 18_000),
            state: Arc::default(),
            credentials: HashMap::new(),
        }
    }

    /// Handles `method path` with no parameters, auth on or off.
    fn answer(&self, method: &str, path: &str, auth: bool) -> Action {
        let req = Request {
            method,
            path: path.as_bytes(),
            query: b"",
            headers: Vec::new(),
            body: Cow::Borrowed(b""),
            keep_alive: true,
        };
        let ctx = Ctx {
            index: &self.index,
            settings: &self.settings,
            metrics: &self.metrics,
            peer: IpAddr::from([127, 0, 0, 1]),
            auth: auth.then_some(AuthCtx {
                keys: &self.keys,
                state: &self.state,
                credentials: &self.credentials,
                now_secs: 1_000,
            }),
        };
        handle(&req, &ctx)
    }
}

/// The status and body of an immediate or delayed response.
fn response(a: &Action) -> Option<(u16, &[u8])> {
    match a {
        Action::Respond { status, body, .. } | Action::Later { status, body, .. } => {
            Some((*status, body))
        }
        _ => None,
    }
}

fn full(path: &str) -> String {
    format!("/nacos{path}")
}

#[test]
fn routes_are_unique() {
    for (i, r) in ROUTES.iter().enumerate() {
        assert!(
            r.path.starts_with('/') && !r.path.ends_with('/'),
            "{}",
            r.path
        );
        assert!(METHODS.contains(&r.method), "{} {}", r.method, r.path);
        let twin = ROUTES[i + 1..]
            .iter()
            .any(|o| o.method == r.method && o.path == r.path);
        assert!(!twin, "{} {} is in the table twice", r.method, r.path);
    }
}

#[test]
fn every_route_answers_and_other_methods_are_405() {
    let w = World::new();
    for r in ROUTES {
        for auth in [false, true] {
            let a = w.answer(r.method, &full(r.path), auth);
            if let Some((status, body)) = response(&a) {
                assert!(
                    status != 404 && status != 405,
                    "{} {} (auth {auth}): {status} {}",
                    r.method,
                    r.path,
                    String::from_utf8_lossy(body)
                );
            }
        }
        let served = |m: &&str| ROUTES.iter().any(|o| o.path == r.path && o.method == *m);
        for method in METHODS.iter().filter(|m| !served(m)) {
            let a = w.answer(method, &full(r.path), false);
            let expected = serde_json::json!({
                "status": 405,
                "error": "Method Not Allowed",
                "message": format!("Request method '{method}' not supported"),
                "path": full(r.path),
            });
            let (status, body) = response(&a).expect("a response");
            assert_eq!(status, 405, "{method} {}", r.path);
            let body: serde_json::Value = serde_json::from_slice(body).expect("JSON");
            assert_eq!(body, expected, "{method} {}", r.path);
        }
    }
}

/// The only paths anyone may use with auth on (spec §8.4).
const OPEN_PATHS: [&str; 10] = [
    "/v1/auth/login",
    "/v1/auth/users/login",
    "/v1/console/health/liveness",
    "/v1/console/health/readiness",
    "/v1/console/server/state",
    "/v1/cs/health",
    "/actuator/prometheus",
    "/v2/console/health/liveness",
    "/v2/console/health/readiness",
    "/v3/auth/user/login",
];

#[test]
fn guarded_routes_refuse_a_stranger() {
    let w = World::new();
    for r in ROUTES {
        let open = OPEN_PATHS.contains(&r.path);
        assert_eq!(r.perm == Perm::Open, open, "{} {}", r.method, r.path);
        let a = w.answer(r.method, &full(r.path), true);
        let refused = response(&a).is_some_and(|(s, b)| s == 403 && b == b"unknown user!");
        assert_eq!(
            refused, !open,
            "{} {} ({:?}): {a:?}",
            r.method, r.path, r.perm
        );
        // A refused long poll is answered late, everything else at once.
        let late = matches!(a, Action::Later { .. });
        assert_eq!(
            late,
            refused && r.path == LISTENER,
            "{} {}",
            r.method,
            r.path
        );
    }
}

#[test]
fn unknown_paths_are_404_and_a_trailing_slash_is_the_same_path() {
    let w = World::new();
    for path in [
        "/v1/cs/config",
        "/nacos/nothing.js",
        "/v1/cs/configs",
        "/nacos/v1/cs/nothing",
    ] {
        let a = w.answer("GET", path, false);
        assert_eq!(response(&a).map(|r| r.0), Some(404), "{path}");
    }
    // The bare context path is the web console's: a redirect to `/nacos/`.
    let a = w.answer("GET", "/nacos", false);
    assert_eq!(response(&a).map(|r| r.0), Some(302));
    let a = w.answer("GET", "/nacos/v1/cs/health/", false);
    assert_eq!(response(&a), Some((200, &b"UP"[..])));
}

/// Liveness always answers; readiness and the config module's health follow
/// the process's readiness (false after a panic or once a drain began).
#[test]
fn health_probes_follow_readiness() {
    let w = World::new();
    #[rustfmt::skip]
    let probes = [
        // path                           ready          not ready
        ("/v1/console/health/liveness",  (200, "OK"),  (200, "OK")),
        ("/v1/console/health/readiness", (200, "OK"),  (500, "Config is not in readiness")),
        ("/v1/cs/health",                (200, "UP"),  (200, "DOWN:not ready")),
    ];
    for ready in [true, false, true] {
        w.metrics.set_ready(ready);
        for &(path, when_ready, when_not) in &probes {
            let (status, body) = if ready { when_ready } else { when_not };
            let a = w.answer("GET", &full(path), false);
            assert_eq!(
                response(&a),
                Some((status, body.as_bytes())),
                "{path}, ready: {ready}"
            );
        }
    }
}
