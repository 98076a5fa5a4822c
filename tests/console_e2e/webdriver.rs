//! A small blocking WebDriver (W3C) client for the console's end-to-end
//! tests: it starts Debian's `chromedriver` on a loopback port, opens one
//! headless Chromium session with a fresh profile, and speaks JSON over
//! plain HTTP/1.1 (one connection per command). When `chromium` or
//! `chromedriver` is missing the test fails with a message saying what to
//! install; it never skips.

use crate::common::CHROMIUM_FLAGS;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a page gets to show what a test waits for: a safety net, not
/// a speed claim (the machine is small and shared).
pub const WAIT: Duration = Duration::from_secs(15);

/// The W3C key naming an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The first of `names` found on `PATH`.
fn find_on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    _profile: tempfile::TempDir,
    shots: PathBuf,
}

#[derive(Clone, Debug)]
pub struct Element(String);

impl Browser {
    /// Starts chromedriver and a headless Chromium at 1280x800.
    pub fn start() -> Browser {
        Browser::start_with(&[])
    }

    /// [`Browser::start`] with more Chromium flags.
    pub fn start_with(extra: &[String]) -> Browser {
        let chromium = find_on_path(&["chromium", "chromium-browser"]).expect(
            "chromium is not installed: the console tests need Debian's `chromium` and \
             `chromium-driver` packages (apt-get install -y chromium chromium-driver)",
        );
        let driver_bin = find_on_path(&["chromedriver"]).expect(
            "chromedriver is not installed: the console tests need Debian's `chromium-driver` \
             package (apt-get install -y chromium chromium-driver)",
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start chromedriver");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let shots = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .expect("target dir")
            .join("console-shots");
        std::fs::create_dir_all(&shots).expect("shots dir");
        let mut b = Browser {
            driver,
            addr,
            session: String::new(),
            _profile: profile,
            shots,
        };
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| f.to_string()).collect();
        args.push("--disable-dev-shm-usage".into());
        args.push("--window-size=1280,800".into());
        args.push(format!("--user-data-dir={}", b._profile.path().display()));
        args.extend(extra.iter().cloned());
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let v = b.call("POST", "/session", Some(caps));
        b.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_owned();
        // --window-size includes the (virtual) browser frame: make the
        // page itself 1280x800, the smallest size the console supports.
        let metrics = json!({"cmd": "Emulation.setDeviceMetricsOverride", "params": {
            "width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": false,
        }});
        b.call("POST", &b.s("/goog/cdp/execute"), Some(metrics));
        b
    }

    /// One WebDriver command; panics on a WebDriver error with its message.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let v = self.try_call(method, path, body);
        if let Some(err) = v.get("error") {
            panic!("webdriver {method} {path}: {err} {}", v["message"]);
        }
        v
    }

    fn try_call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut s = TcpStream::connect(self.addr).expect("connect chromedriver");
        s.set_read_timeout(Some(Duration::from_secs(120)))
            .expect("timeout");
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).expect("send");
        // chromedriver keeps the connection open: read by Content-Length.
        let mut reader = BufReader::new(s);
        let mut len = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("read head");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().expect("content-length");
                }
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).expect("read body");
        let v: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)));
        v["value"].clone()
    }

    fn s(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", &self.s("/url"), Some(json!({ "url": url })));
    }

    /// Runs `script` (a function body; `arguments` holds `args`).
    pub fn js(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            &self.s("/execute/sync"),
            Some(json!({"script": script, "args": args})),
        )
    }

    fn find_now(&self, css: &str) -> Option<Element> {
        let v = self.try_call(
            "POST",
            &self.s("/element"),
            Some(json!({"using": "css selector", "value": css})),
        );
        v.get(ELEMENT)
            .and_then(Value::as_str)
            .map(|id| Element(id.to_owned()))
    }

    /// Waits for an element matching `css`.
    pub fn find(&self, css: &str) -> Element {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(e) = self.find_now(css) {
                return e;
            }
            if Instant::now() > deadline {
                self.shot("failure");
                panic!("no element {css} on {}", self.body_text());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether an element matching `css` exists now.
    pub fn exists(&self, css: &str) -> bool {
        self.find_now(css).is_some()
    }

    /// Waits until `css` matches an element whose text contains `needle`.
    pub fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let t = self.js(
                "return [...document.querySelectorAll(arguments[0])].map(e => e.innerText).join('\\n');",
                json!([css]),
            );
            let t = t.as_str().unwrap_or_default().to_owned();
            if t.contains(needle) {
                return t;
            }
            if Instant::now() > deadline {
                self.shot("failure");
                panic!("{css} never showed {needle:?}; it shows {t:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Clicks the element matching `css` once it exists.
    pub fn click(&self, css: &str) {
        let e = self.find(css);
        self.call(
            "POST",
            &self.s(&format!("/element/{}/click", e.0)),
            Some(json!({})),
        );
    }

    /// Clicks the button (or link) whose text is exactly `text`, inside
    /// the element matching `scope`.
    pub fn click_text(&self, scope: &str, text: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let v = self.js(
                "const b = [...document.querySelectorAll(arguments[0] + ' button, ' + arguments[0] + ' a')]
                   .find(e => e.textContent.trim() === arguments[1] && !e.disabled);
                 if (b) { b.scrollIntoView({block: 'center'}); b.click(); return true; } return false;",
                json!([scope, text]),
            );
            if v == json!(true) {
                return;
            }
            if Instant::now() > deadline {
                self.shot("failure");
                panic!("no button {text:?} in {scope}: {}", self.body_text());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Types into the element matching `css`, after clearing it.
    pub fn fill(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.call(
            "POST",
            &self.s(&format!("/element/{}/clear", e.0)),
            Some(json!({})),
        );
        self.call(
            "POST",
            &self.s(&format!("/element/{}/value", e.0)),
            Some(json!({ "text": text })),
        );
    }

    /// Sends keys to the element matching `css` without clearing it (W3C
    /// key codes: `\u{E007}` is Enter, `\u{E00C}` Escape).
    pub fn keys(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.call(
            "POST",
            &self.s(&format!("/element/{}/value", e.0)),
            Some(json!({ "text": text })),
        );
    }

    /// Chooses `value` in the `<select>` matching `css`.
    pub fn choose(&self, css: &str, value: &str) {
        self.find(css);
        self.js(
            "const s = document.querySelector(arguments[0]); s.value = arguments[1];
             s.dispatchEvent(new Event('change', {bubbles: true}));",
            json!([css, value]),
        );
    }

    pub fn body_text(&self) -> String {
        self.js("return document.body.innerText;", json!([]))
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Saves a PNG of the viewport as `target/console-shots/<name>.png`.
    pub fn shot(&self, name: &str) {
        let v = self.try_call("GET", &self.s("/screenshot"), None);
        if let Some(b64) = v.as_str() {
            use base64::Engine;
            if let Ok(png) = base64::engine::general_purpose::STANDARD.decode(b64) {
                let _ = std::fs::write(self.shots.join(format!("{name}.png")), png);
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.try_call("DELETE", &self.s(""), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
