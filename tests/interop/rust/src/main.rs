//! gRPC interop scenarios for vigil driven by the real Rust client, the `nacos-sdk`
//! crate (tonic), pinned in Cargo.toml and Cargo.lock.
//!
//! Usage: `vigil-interop-rust HOST:PORT[,HOST:PORT...] SCENARIO`. The addresses are
//! HTTP ones; the SDK talks gRPC on each port + 1000. Scenarios: basic, listen,
//! namespace, auth_on, restart, failover (see [`run`]). Environment:
//! `INTEROP_SDK_VERSION` (optional) must equal the linked nacos-sdk version;
//! `INTEROP_AUTH_USER` / `INTEROP_AUTH_PASSWORD` the administrator of an auth-on server.
//!
//! restart and failover stop half-way: they print `AWAIT <what>` and read one line from
//! stdin, the HTTP address (HOST:PORT) of a live server, once the test has restarted
//! the server (restart) or stopped the node the client is connected to (failover).
//! Prints one line per check and `PASS <scenario>` at the end; exits 0 only when every
//! check passed (1 on a failed check, 2 on bad usage, 3 when its time limit ran out).

use nacos_sdk::api::config::{
    ConfigChangeListener, ConfigResponse, ConfigService, ConfigServiceBuilder,
};
use nacos_sdk::api::error::Error as SdkError;
use nacos_sdk::api::props::ClientProps;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// The nacos-sdk version of Cargo.toml (and Cargo.lock, built with --locked).
const SDK_VERSION: &str = "0.8.3";
const PUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// nacos-sdk 0.8.3 registers its listeners again only in a loop that runs every 60 s
/// (not on reconnecting), so a change made while it was away may reach it that late.
const RECONNECT_TIMEOUT: Duration = Duration::from_secs(75);
const QUIET_WAIT: Duration = Duration::from_secs(2);
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(130);

type Check<T> = Result<T, String>;

fn ok(what: &str) {
    println!("ok: {what}");
}

fn check(cond: bool, what: &str) -> Check<()> {
    if cond {
        ok(what);
        Ok(())
    } else {
        Err(what.to_string())
    }
}

fn expect_eq(actual: &str, expected: &str, what: &str) -> Check<()> {
    if actual == expected {
        ok(what);
        Ok(())
    } else {
        Err(format!("{what}: expected {expected:?}, got {actual:?}"))
    }
}

fn sdk<T>(r: Result<T, SdkError>, what: &str) -> Check<T> {
    r.map_err(|e| format!("{what}: {e}"))
}

fn stamp() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{nanos:x}")
}

struct Env {
    addrs: String,
    /// HTTP address used for publishes made outside the SDK.
    http: String,
}

impl Env {
    async fn try_client(
        &self,
        namespace: &str,
        login: Option<(&str, &str)>,
    ) -> Result<ConfigService, SdkError> {
        let mut props = ClientProps::new()
            .server_addr(self.addrs.clone())
            .namespace(namespace)
            .app_name("vigil-interop-rust")
            .env_first(false)
            .config_load_cache_at_start(false);
        let builder = match login {
            Some((user, password)) => {
                props = props.auth_username(user).auth_password(password);
                ConfigServiceBuilder::new(props).enable_auth_plugin_http()
            }
            None => ConfigServiceBuilder::new(props),
        };
        builder.build().await
    }

    async fn client(&self, namespace: &str, login: Option<(&str, &str)>) -> Check<ConfigService> {
        sdk(
            self.try_client(namespace, login).await,
            "creating a config client",
        )
    }

    /// A plain HTTP/1.1 request to the HTTP address; returns (status, headers, body).
    fn http(&self, head: &str, body: &str) -> Check<(u16, String, String)> {
        let mut s =
            TcpStream::connect(&self.http).map_err(|e| format!("HTTP to {}: {e}", self.http))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| format!("HTTP timeout: {e}"))?;
        let req = format!(
            "{head} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            self.http,
            body.len()
        );
        s.write_all(req.as_bytes())
            .map_err(|e| format!("HTTP write: {e}"))?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)
            .map_err(|e| format!("HTTP read: {e}"))?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (headers, body) = text
            .split_once("\r\n\r\n")
            .ok_or_else(|| format!("HTTP reply without a header end: {text:?}"))?;
        let status = headers
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("HTTP reply without a status: {text:?}"))?;
        Ok((status, headers.to_string(), body.to_string()))
    }

    /// A publish made outside the SDK: `POST /nacos/v1/cs/configs`. Returns when the
    /// request was sent (a push may arrive before the reply).
    fn http_publish(
        &self,
        data_id: &str,
        group: &str,
        tenant: &str,
        content: &str,
    ) -> Check<Instant> {
        let sent = Instant::now();
        let body = format!(
            "dataId={}&group={}&tenant={}&content={}",
            enc(data_id),
            enc(group),
            enc(tenant),
            enc(content)
        );
        let (status, _, reply) = self.http("POST /nacos/v1/cs/configs", &body)?;
        if status != 200 || reply.trim() != "true" {
            return Err(format!("HTTP publish of {data_id}: {status} {reply:?}"));
        }
        Ok(sent)
    }
}

/// Form encoding of the few characters the scenarios' values use beyond [A-Za-z0-9-].
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b' ' => "+".to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

struct Event {
    data_id: String,
    group: String,
    content: String,
    at: Instant,
}

struct Recorder {
    tx: mpsc::UnboundedSender<Event>,
}

impl ConfigChangeListener for Recorder {
    fn notify(&self, r: ConfigResponse) {
        let _ = self.tx.send(Event {
            data_id: r.data_id().clone(),
            group: r.group().clone(),
            content: r.content().clone(),
            at: Instant::now(),
        });
    }
}

struct Pushes {
    rx: mpsc::UnboundedReceiver<Event>,
}

impl Pushes {
    async fn listen(c: &ConfigService, data_id: &str, group: &str) -> Check<Pushes> {
        let (tx, rx) = mpsc::unbounded_channel();
        sdk(
            c.add_listener(data_id.into(), group.into(), Arc::new(Recorder { tx }))
                .await,
            &format!("add_listener {group}/{data_id}"),
        )?;
        Ok(Pushes { rx })
    }

    async fn expect(
        &mut self,
        since: Instant,
        limit: Duration,
        key: (&str, &str),
        content: &str,
        what: &str,
    ) -> Check<()> {
        let (data_id, group) = key;
        match tokio::time::timeout(limit, self.rx.recv()).await {
            Ok(Some(ev)) => {
                expect_eq(
                    &format!("{}/{}", ev.data_id, ev.group),
                    &format!("{data_id}/{group}"),
                    &format!("{what}: pushed key"),
                )?;
                expect_eq(&ev.content, content, &format!("{what}: pushed content"))?;
                let ms = ev.at.saturating_duration_since(since).as_secs_f64() * 1000.0;
                println!("   ({what}: pushed {ms:.1} ms after the publish)");
                Ok(())
            }
            Ok(None) => Err(format!("{what}: the listener is gone")),
            Err(_) => Err(format!("{what}: no push within {limit:?}")),
        }
    }

    async fn expect_quiet(&mut self, what: &str) -> Check<()> {
        match tokio::time::timeout(QUIET_WAIT, self.rx.recv()).await {
            Ok(Some(ev)) => Err(format!(
                "{what}: expected no push, got {}/{} {:?}",
                ev.group, ev.data_id, ev.content
            )),
            Ok(None) => Err(format!("{what}: the listener is gone")),
            Err(_) => {
                ok(&format!("{what} (no push within {QUIET_WAIT:?})"));
                Ok(())
            }
        }
    }
}

/// The content of a key; "" when the server says it does not exist.
async fn get(c: &ConfigService, data_id: &str, group: &str) -> Check<(String, String)> {
    match c.get_config(data_id.into(), group.into()).await {
        Ok(r) => Ok((r.content().clone(), r.content_type().clone())),
        Err(SdkError::ConfigNotFound(_)) => Ok((String::new(), String::new())),
        Err(e) => Err(format!("get_config {group}/{data_id}: {e}")),
    }
}

async fn publish(
    c: &ConfigService,
    key: (&str, &str),
    content: &str,
    content_type: Option<&str>,
    what: &str,
) -> Check<Instant> {
    let (data_id, group) = key;
    let done = sdk(
        c.publish_config(
            data_id.into(),
            group.into(),
            content.into(),
            content_type.map(str::to_string),
        )
        .await,
        &format!("publish_config ({what})"),
    )?;
    check(done, &format!("publish_config -> true ({what})"))?;
    Ok(Instant::now())
}

/// Creates the key before a listener is added to it. nacos-sdk 0.8.3 marks a listened
/// key "initializing" until its first successful read and does not notify the change
/// that ends it; a read of a missing key is an error, so the first change of a key
/// missing when the listener was added would never reach the listener.
async fn seed(c: &ConfigService, key: (&str, &str), content: &str) -> Check<()> {
    publish(
        c,
        key,
        content,
        None,
        &format!("creating {} before listening", key.0),
    )
    .await?;
    Ok(())
}

async fn await_line(what: &str) -> Check<String> {
    println!("AWAIT {what}");
    let line = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await
    .map_err(|e| format!("reading stdin: {e}"))?
    .map_err(|e| format!("reading stdin: {e}"))?;
    let line = line.trim().to_string();
    check(!line.is_empty(), &format!("the test answered AWAIT {what}"))?;
    Ok(line)
}

async fn basic(e: &Env) -> Check<()> {
    let c = e.client("", None).await?;
    let id = format!("rust-basic-{}", stamp());
    let key = (id.as_str(), "RUST_GROUP");
    let (content, _) = get(&c, key.0, key.1).await?;
    expect_eq(&content, "", "get_config of a missing key -> not found")?;
    publish(&c, key, "a: 1\n", Some("yaml"), "new key").await?;
    let (content, ty) = get(&c, key.0, key.1).await?;
    expect_eq(
        &content,
        "a: 1\n",
        "get_config returns the published content",
    )?;
    expect_eq(&ty, "yaml", "get_config returns the published type")?;
    publish(&c, key, "{\"a\": 2}", Some("json"), "update").await?;
    let (content, ty) = get(&c, key.0, key.1).await?;
    expect_eq(
        &content,
        "{\"a\": 2}",
        "get_config returns the updated content",
    )?;
    expect_eq(&ty, "json", "get_config returns the updated type")?;
    let removed = sdk(
        c.remove_config(key.0.into(), key.1.into()).await,
        "remove_config",
    )?;
    check(removed, "remove_config -> true")?;
    let (content, _) = get(&c, key.0, key.1).await?;
    expect_eq(&content, "", "get_config after remove -> not found")
}

async fn listen(e: &Env) -> Check<()> {
    let c = e.client("", None).await?;
    let writer = e.client("", None).await?;
    let base = format!("rust-listen-{}", stamp());
    let group = "DEFAULT_GROUP";
    let ids: Vec<String> = (0..3).map(|i| format!("{base}-{i}")).collect();
    let mut pushes = Vec::new();
    for id in &ids {
        seed(&writer, (id, group), "seed").await?;
        pushes.push(Pushes::listen(&c, id, group).await?);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (i, (id, p)) in ids.iter().zip(pushes.iter_mut()).enumerate() {
        let v = format!("http {i}");
        let since = e.http_publish(id, group, "", &v)?;
        p.expect(
            since,
            PUSH_TIMEOUT,
            (id, group),
            &v,
            &format!("HTTP publish of {id}"),
        )
        .await?;
        let v = format!("sdk {i}");
        let since = publish(&writer, (id, group), &v, None, id).await?;
        p.expect(
            since,
            PUSH_TIMEOUT,
            (id, group),
            &v,
            &format!("SDK publish of {id}"),
        )
        .await?;
    }
    for p in pushes.iter_mut() {
        p.expect_quiet("no other key's change reached this listener")
            .await?;
    }
    Ok(())
}

async fn namespace(e: &Env) -> Check<()> {
    let public = e.client("", None).await?;
    let dev = e.client("dev", None).await?;
    let id = format!("rust-ns-{}", stamp());
    let key = (id.as_str(), "DEFAULT_GROUP");
    seed(&public, key, "public seed").await?;
    seed(&dev, key, "dev seed").await?;
    let mut p_pub = Pushes::listen(&public, key.0, key.1).await?;
    let mut p_dev = Pushes::listen(&dev, key.0, key.1).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let since = publish(&dev, key, "in dev", None, "dev").await?;
    p_dev
        .expect(since, PUSH_TIMEOUT, key, "in dev", "dev publish")
        .await?;
    p_pub
        .expect_quiet("a publish in dev does not reach the public listener")
        .await?;
    expect_eq(
        &get(&public, key.0, key.1).await?.0,
        "public seed",
        "public keeps its own content",
    )?;
    let since = publish(&public, key, "in public", None, "public").await?;
    p_pub
        .expect(since, PUSH_TIMEOUT, key, "in public", "public publish")
        .await?;
    p_dev
        .expect_quiet("a publish in public does not reach the dev listener")
        .await?;
    expect_eq(
        &get(&dev, key.0, key.1).await?.0,
        "in dev",
        "dev keeps its own content",
    )?;
    let since = e.http_publish(key.0, key.1, "dev", "dev by http")?;
    p_dev
        .expect(
            since,
            PUSH_TIMEOUT,
            key,
            "dev by http",
            "HTTP publish with tenant=dev",
        )
        .await?;
    p_pub
        .expect_quiet("the HTTP publish in dev does not reach the public listener")
        .await
}

async fn auth_on(e: &Env) -> Check<()> {
    let (user, password) = match (
        std::env::var("INTEROP_AUTH_USER"),
        std::env::var("INTEROP_AUTH_PASSWORD"),
    ) {
        (Ok(u), Ok(p)) if !u.is_empty() && !p.is_empty() => (u, p),
        _ => usage("auth_on needs INTEROP_AUTH_USER and INTEROP_AUTH_PASSWORD"),
    };
    let c = e.client("", Some((&user, &password))).await?;
    let id = format!("rust-auth-{}", stamp());
    let key = (id.as_str(), "DEFAULT_GROUP");
    seed(&c, key, "seed").await?;
    let mut p = Pushes::listen(&c, key.0, key.1).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let since = publish(&c, key, "secret", None, "logged in").await?;
    p.expect(since, PUSH_TIMEOUT, key, "secret", "logged-in publish")
        .await?;
    expect_eq(
        &get(&c, key.0, key.1).await?.0,
        "secret",
        "get_config logged in",
    )?;
    let wrong = format!("{password}-wrong");
    let bad = match e.try_client("", Some((&user, &wrong))).await {
        Ok(bad) => bad,
        Err(err) => {
            ok(&format!(
                "a client with a wrong password is refused at creation ({err})"
            ));
            return Ok(());
        }
    };
    match bad.get_config(key.0.into(), key.1.into()).await {
        Ok(r) => {
            return Err(format!(
                "get_config with a wrong password returned {:?}",
                r.content()
            ))
        }
        Err(err) => ok(&format!("get_config with a wrong password fails ({err})")),
    }
    match bad
        .publish_config(key.0.into(), key.1.into(), "forged".into(), None)
        .await
    {
        Ok(true) => return Err("publish_config with a wrong password -> true".into()),
        Ok(false) => ok("publish_config with a wrong password -> false"),
        Err(err) => ok(&format!(
            "publish_config with a wrong password fails ({err})"
        )),
    }
    expect_eq(
        &get(&c, key.0, key.1).await?.0,
        "secret",
        "the refused publish changed nothing",
    )
}

/// restart and failover: pushes before, the test's action, pushes after.
async fn survive(e: &mut Env, what: &str) -> Check<()> {
    let c = e.client("", None).await?;
    let id = format!("rust-{what}-{}", stamp());
    let key = (id.as_str(), "DEFAULT_GROUP");
    seed(&c, key, "seed").await?;
    let mut p = Pushes::listen(&c, key.0, key.1).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let since = e.http_publish(key.0, key.1, "", "before")?;
    p.expect(
        since,
        PUSH_TIMEOUT,
        key,
        "before",
        &format!("push before the {what}"),
    )
    .await?;
    e.http = await_line(what).await?;
    let since = e.http_publish(key.0, key.1, "", "after")?;
    p.expect(
        since,
        RECONNECT_TIMEOUT,
        key,
        "after",
        &format!("push after the {what}"),
    )
    .await?;
    let since = publish(&c, key, "sdk after", None, &format!("after the {what}")).await?;
    p.expect(
        since,
        PUSH_TIMEOUT,
        key,
        "sdk after",
        &format!("SDK publish after the {what}"),
    )
    .await?;
    expect_eq(
        &get(&c, key.0, key.1).await?.0,
        "sdk after",
        &format!("get_config after the {what}"),
    )
}

#[derive(Clone, Copy)]
enum Scenario {
    Basic,
    Listen,
    Namespace,
    AuthOn,
    Restart,
    Failover,
}

const SCENARIOS: &[(&str, Scenario)] = &[
    ("basic", Scenario::Basic),
    ("listen", Scenario::Listen),
    ("namespace", Scenario::Namespace),
    ("auth_on", Scenario::AuthOn),
    ("restart", Scenario::Restart),
    ("failover", Scenario::Failover),
];

async fn run(e: &mut Env, s: Scenario) -> Check<()> {
    match s {
        Scenario::Basic => basic(e).await,
        Scenario::Listen => listen(e).await,
        Scenario::Namespace => namespace(e).await,
        Scenario::AuthOn => auth_on(e).await,
        Scenario::Restart => survive(e, "restart").await,
        Scenario::Failover => {
            check(e.addrs.contains(','), "failover is given two servers")?;
            survive(e, "failover").await
        }
    }
}

fn usage(msg: &str) -> ! {
    let names: Vec<&str> = SCENARIOS.iter().map(|(n, _)| *n).collect();
    eprintln!(
        "{msg}\nusage: vigil-interop-rust HOST:PORT[,HOST:PORT] SCENARIO (one of {})",
        names.join(", ")
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, addrs, name] = args.as_slice() else {
        usage("expected two arguments")
    };
    let Some(&(_, scenario)) = SCENARIOS.iter().find(|(n, _)| n == name) else {
        usage(&format!("unknown scenario {name}"))
    };
    if let Ok(want) = std::env::var("INTEROP_SDK_VERSION") {
        if want != SDK_VERSION {
            println!("FAIL {name}: built with nacos-sdk {SDK_VERSION}, the test expects {want}");
            std::process::exit(1);
        }
    }
    println!("nacos-sdk {SDK_VERSION} (Rust, gRPC), scenario {name} against {addrs}");
    let http = addrs.split(',').next().unwrap_or_default().to_string();
    let mut env = Env {
        addrs: addrs.clone(),
        http,
    };
    let code = match tokio::time::timeout(SCRIPT_TIMEOUT, run(&mut env, scenario)).await {
        Ok(Ok(())) => {
            println!("PASS {name}");
            0
        }
        Ok(Err(msg)) => {
            println!("FAIL {name}: {msg}");
            1
        }
        Err(_) => {
            println!("FAIL {name}: the scenario's own time limit of {SCRIPT_TIMEOUT:?} ran out");
            3
        }
    };
    // The SDK's background tasks never end by themselves.
    std::process::exit(code)
}
