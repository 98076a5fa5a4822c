//! A real browser on a real watch stream: headless Chromium (Debian's
//! `chromium`) opens a page served by this test, whose script opens an
//! `EventSource` on vigil and reports what it sees back to the test.
//! Fails (never skips) when Chromium is missing: `.ci/run` installs it.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Serves `page` at `/` and sends every `/report?...` query to `tx`.
fn serve_page(listener: TcpListener, page: String, tx: mpsc::Sender<String>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let page = page.clone();
        let tx = tx.clone();
        std::thread::spawn(move || answer(stream, &page, &tx));
    }
}

fn answer(mut stream: TcpStream, page: &str, tx: &mpsc::Sender<String>) {
    let mut line = String::new();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    if reader.read_line(&mut line).is_err() {
        return;
    }
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
    }
    let target = line.split(' ').nth(1).unwrap_or("/").to_string();
    let body = if let Some(q) = target.strip_prefix("/report?") {
        let _ = tx.send(q.to_string());
        String::new()
    } else if target == "/" {
        page.to_string()
    } else {
        String::new()
    };
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/html;charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

#[test]
fn a_browser_event_source_sees_a_publish() {
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); .ci/run does"
    );
    let s = Server::start();
    publish_ok(s.addr, "browser", "G", "", "before");
    let page = format!(
        r#"<!doctype html><meta charset="utf-8"><title>watch</title><script>
const report = q => fetch('/report?' + q);
const es = new EventSource('http://{}/nacos/v1/cs/configs/watch?group=G&dataId=browser&content=true');
es.addEventListener('change', e => {{
  const d = JSON.parse(e.data);
  report('change=' + encodeURIComponent(d.content) + '&id=' + encodeURIComponent(e.lastEventId));
}});
es.onerror = () => report('error=' + es.readyState);
</script>"#,
        s.addr
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let page_addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || serve_page(listener, page, tx));

    let profile = tempfile::tempdir().unwrap();
    let mut browser = Command::new(CHROMIUM)
        .args(common::CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("http://{page_addr}/"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");

    // Seconds, not milliseconds: a browser starting on a busy machine.
    let wait = Duration::from_secs(60);
    let first = rx
        .recv_timeout(wait)
        .expect("the page reported the snapshot");
    assert!(first.starts_with("change=before"), "{first}");
    publish_ok(s.addr, "browser", "G", "", "after publish");
    let next = rx
        .recv_timeout(wait)
        .expect("the page reported the publish");
    let _ = browser.kill();
    let _ = browser.wait();
    assert!(next.starts_with("change=after%20publish&id="), "{next}");
    assert!(
        next.len() > "change=after%20publish&id=".len(),
        "the event carried an id: {next}"
    );
}
