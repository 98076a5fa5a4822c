//! The web console over HTTPS in headless Chromium (Debian's `chromium`
//! and `chromium-driver`, as tests/console_e2e.rs drives them), the
//! server's key pinned with `--ignore-certificate-errors-spki-list` (a
//! throwaway profile has no CA store to add the test CA to): the page
//! loads, lists a config, and its watch stream (over the same TLS port)
//! shows a config published after the page opened.

use super::webdriver::Browser;
use super::{pki, publish, start_pair};

#[test]
fn the_console_works_over_https_in_chromium() {
    let p = pki();
    let (cert, key, pin) = p.ca.server_pinned("pinned");
    let s = start_pair(&cert, &key, &[], &[]);
    publish(s.addr, &p.ca.cert, "before.tls", "one");
    let b = Browser::start_with(&[format!("--ignore-certificate-errors-spki-list={pin}")]);
    b.goto(&format!("https://127.0.0.1:{}/nacos/", s.addr.port()));
    b.wait_text("main[data-page=configs] table", "before.tls");
    b.shot("tls-configs");
    publish(s.addr, &p.ca.cert, "after.tls", "two");
    b.wait_text("main[data-page=configs] table", "after.tls");
}
