//! The web console (the browser UI; `api::console` holds the Nacos "console"
//! endpoints it calls): static assets embedded in the binary and served at
//! `/nacos/` like any GET. The page speaks only the public HTTP API (and the
//! watch stream), so nothing here knows of configs, users or auth.
//!
//! Invariants: every asset is compiled in (`include_bytes!`), so `cargo
//! build` needs no Node and no network; each is served `Cache-Control:
//! no-cache` with a strong `ETag` (its md5, computed once), so a browser
//! revalidates and gets a body-less 304 when nothing changed. Only `GET` of
//! the names below is served; any other request falls through to the API's
//! router.

use crate::api::Action;
use crate::http::Request;
use crate::protocol::Md5Hex;
use std::borrow::Cow;
use std::sync::OnceLock;

/// One embedded file.
struct Asset {
    /// Its path under the context path, e.g. `/app.css`.
    path: &'static [u8],
    content_type: &'static str,
    body: &'static [u8],
}

/// An embedded asset: its path under the context path, its file in
/// `assets/` and its content type.
macro_rules! asset {
    ($path:literal, $file:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_bytes!(concat!("assets/", $file)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the console; `/` is the page itself.
const ASSETS: &[Asset] = &[
    asset!(b"/", "index.html", "text/html; charset=utf-8"),
    asset!(b"/console.css", "console.css", "text/css; charset=utf-8"),
    asset!(b"/console-core.js", "console-core.js", JS),
    asset!(b"/console-text.js", "console-text.js", JS),
    asset!(b"/console-configs.js", "console-configs.js", JS),
    asset!(b"/console-edit.js", "console-edit.js", JS),
    asset!(b"/console-pages.js", "console-pages.js", JS),
    asset!(b"/favicon.svg", "favicon.svg", "image/svg+xml"),
];

/// Headers every console answer carries: revalidate each time, never let
/// the page be framed or sniffed, and load nothing from anywhere else.
const COMMON_HEAD: &str = "Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\nContent-Security-Policy: default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'\r\n";

/// The quoted ETag of each asset, in `ASSETS` order, computed on first use.
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| format!("\"{}\"", Md5Hex::of(a.body).as_str()))
            .collect()
    })
}

/// Answers a console request, or `None` when `path` (after the context
/// path, before any normalisation) is not the console's.
pub fn serve(req: &Request, path: &[u8]) -> Option<Action> {
    if req.method != "GET" {
        return None;
    }
    if path.is_empty() {
        // `/nacos` -> `/nacos/`, so that relative asset URLs resolve.
        return Some(Action::Respond {
            status: 302,
            head: Cow::Borrowed(b"Location: /nacos/\r\nCache-Control: no-cache\r\n"),
            body: Vec::new(),
        });
    }
    let path = if path == b"/index.html" { b"/" } else { path };
    let i = ASSETS.iter().position(|a| a.path == path)?;
    let (asset, etag) = (&ASSETS[i], &etags()[i]);
    let head = format!("{COMMON_HEAD}ETag: {etag}\r\n");
    let fresh = req
        .header_str("If-None-Match")
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if fresh {
        return Some(Action::Respond {
            status: 304,
            head: Cow::Owned(head.into_bytes()),
            body: Vec::new(),
        });
    }
    let head = format!("{head}Content-Type: {}\r\n", asset.content_type);
    Some(Action::Respond {
        status: 200,
        head: Cow::Owned(head.into_bytes()),
        body: asset.body.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(path: &'a [u8], headers: Vec<(&'a str, &'a [u8])>) -> Request<'a> {
        Request {
            method: "GET",
            path,
            query: b"",
            headers,
            body: Cow::Borrowed(b""),
            keep_alive: true,
        }
    }

    fn parts(a: Option<Action>) -> (u16, String, usize) {
        match a {
            Some(Action::Respond { status, head, body }) => (
                status,
                String::from_utf8_lossy(&head).into_owned(),
                body.len(),
            ),
            other => panic!("not a response: {other:?}"),
        }
    }

    #[test]
    fn every_asset_is_served_with_its_type_and_etag() {
        for (a, etag) in ASSETS.iter().zip(etags()) {
            let (status, head, len) = parts(serve(&get(a.path, vec![]), a.path));
            assert_eq!(status, 200);
            assert_eq!(len, a.body.len());
            assert!(head.contains(&format!("Content-Type: {}\r\n", a.content_type)));
            assert!(head.contains(&format!("ETag: {etag}\r\n")), "{head}");
            assert!(head.contains("Cache-Control: no-cache\r\n"));
        }
    }

    #[test]
    fn a_matching_etag_gets_an_empty_304_and_a_stale_one_the_body() {
        let etag = etags()[0].clone();
        let r = get(b"/", vec![("If-None-Match", etag.as_bytes())]);
        assert_eq!(parts(serve(&r, b"/")).0, 304);
        let r = get(b"/", vec![("If-None-Match", b"\"0\"")]);
        assert_eq!(parts(serve(&r, b"/")).0, 200);
    }

    #[test]
    fn the_bare_context_path_redirects_and_unknown_paths_fall_through() {
        let (status, head, _) = parts(serve(&get(b"", vec![]), b""));
        assert_eq!(status, 302);
        assert!(head.contains("Location: /nacos/\r\n"));
        for path in [&b"/v1/cs/configs"[..], b"/nope.js", b"/console.css/"] {
            assert!(serve(&get(path, vec![]), path).is_none());
        }
        let mut post = get(b"/", vec![]);
        post.method = "POST";
        assert!(serve(&post, b"/").is_none());
    }
}
