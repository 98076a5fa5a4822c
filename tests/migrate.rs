//! `vigil migrate`, `vigil export` and `vigil import` as users run them:
//! the real binary as a client between two real vigil servers, auth on
//! both sides, over real HTTP.

mod common;
#[path = "transfer/helpers.rs"]
mod helpers;

use common::*;
use helpers::*;
use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};

/// A logged-in console session on one server.
struct Session {
    addr: SocketAddr,
    token: String,
}

impl Session {
    fn login(addr: SocketAddr, password: &str) -> Session {
        let body = form(&[("username", "nacos"), ("password", password)]);
        let r = request(
            addr,
            &post_raw("/nacos/v1/auth/login", &[], body.as_bytes()),
        );
        let token = json(&r)["accessToken"].as_str().expect("token").to_owned();
        Session { addr, token }
    }

    fn post(&self, path: &str, fields: &[(&str, &str)], headers: &[(&str, &str)]) -> String {
        let mut fields = fields.to_vec();
        fields.push(("accessToken", &self.token));
        request(
            self.addr,
            &post_raw(path, headers, form(&fields).as_bytes()),
        )
        .text()
    }

    fn get(&self, query: &[(&str, &str)]) -> Response {
        let mut q = query.to_vec();
        q.push(("accessToken", &self.token));
        request(
            self.addr,
            &get_raw(&format!("/nacos/v1/cs/configs?{}", form(&q))),
        )
    }

    fn publish(&self, fields: &[(&str, &str)]) {
        assert_eq!(
            self.post("/nacos/v1/cs/configs", fields, &[]),
            "true",
            "{fields:?}"
        );
    }

    fn namespace(&self, id: &str) {
        let f = [
            ("customNamespaceId", id),
            ("namespaceName", id),
            ("namespaceDesc", "desc of it"),
        ];
        assert_eq!(self.post("/nacos/v1/console/namespaces", &f, &[]), "true");
    }

    /// Everything migrate copies of one namespace, comparable.
    fn snapshot(&self, tenant: &str) -> Vec<serde_json::Value> {
        let page = json(&self.get(&[
            ("search", "accurate"),
            ("dataId", ""),
            ("group", ""),
            ("tenant", tenant),
            ("pageNo", "1"),
            ("pageSize", "500"),
        ]));
        let mut out = Vec::new();
        for item in page["pageItems"].as_array().expect("items") {
            let (d, g) = (
                item["dataId"].as_str().unwrap(),
                item["group"].as_str().unwrap(),
            );
            let detail = json(&self.get(&[
                ("show", "all"),
                ("dataId", d),
                ("group", g),
                ("tenant", tenant),
            ]));
            let beta = json(&self.get(&[
                ("beta", "true"),
                ("dataId", d),
                ("group", g),
                ("tenant", tenant),
            ]));
            out.push(serde_json::json!({
                "key": format!("{g}/{d}"),
                "content": detail["content"], "type": detail["type"], "desc": detail["desc"],
                "appName": detail["appName"], "configTags": detail["configTags"],
                "beta": [beta["data"]["betaIps"].clone(), beta["data"]["content"].clone()],
            }));
        }
        out.sort_by_key(|v| v["key"].as_str().unwrap_or("").to_owned());
        out
    }
}

/// Runs the vigil binary as a client with these arguments and `VIGIL_*`
/// variables (others removed).
fn vigil(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigil"));
    cmd.args(args).stdin(Stdio::null());
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("VIGIL_")) {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("run vigil")
}

fn stdout(o: &Output) -> String {
    format!("{}{}", lossy(&o.stdout), lossy(&o.stderr))
}

#[test]
fn migrate_copies_everything_between_two_authenticated_servers_once() {
    let src_server = Server::start_args(&["--auth", "--auth-admin-password", "src-secret"]);
    let dst_server = Server::start_args(&["--auth", "--auth-admin-password", "dst-secret"]);
    let src = Session::login(src_server.addr, "src-secret");
    let dst = Session::login(dst_server.addr, "dst-secret");
    src.namespace("dev");
    src.namespace("prod");
    for i in 0..5 {
        src.publish(&[
            ("dataId", &format!("p{i}.properties")),
            ("group", "DEFAULT_GROUP"),
            ("content", &format!("k={i}")),
            ("type", "properties"),
        ]);
    }
    src.publish(&[
        ("dataId", "app.yaml"),
        ("group", "APP"),
        ("tenant", "dev"),
        ("content", "a: 1"),
        ("type", "yaml"),
        ("desc", "the app"),
        ("appName", "order-svc"),
        ("config_tags", "blue,green"),
    ]);
    src.publish(&[
        ("dataId", "plain"),
        ("group", "APP"),
        ("tenant", "dev"),
        ("content", "x"),
    ]);
    src.publish(&[
        ("dataId", "db.json"),
        ("group", "DB"),
        ("tenant", "prod"),
        ("content", "{}"),
        ("type", "json"),
    ]);
    assert_eq!(
        src.post(
            "/nacos/v1/cs/configs",
            &[
                ("dataId", "db.json"),
                ("group", "DB"),
                ("tenant", "prod"),
                ("content", "{\"beta\":1}")
            ],
            &[("betaIps", "10.0.0.7")]
        ),
        "true"
    );
    let (from, to) = (
        format!("http://{}", src.addr),
        format!("http://{}", dst.addr),
    );
    // Source credentials by flag, target credentials from the environment.
    let args = |password: &'static str, dry: bool| {
        let mut a = vec!["migrate", "--from", &from, "--to", &to];
        a.extend(["--from-username", "nacos", "--from-password", password]);
        if dry {
            a.push("--dry-run");
        }
        a
    };
    let env = [
        ("VIGIL_TO_USERNAME", "nacos"),
        ("VIGIL_TO_PASSWORD", "dst-secret"),
    ];

    // A client on the target waits for a config that does not exist yet.
    let mut poll = Conn::open(dst.addr);
    let records = record("db.json", "DB", "", Some("prod"));
    let listen = form(&[("Listening-Configs", &records), ("accessToken", &dst.token)]);
    poll.send(&post_raw(
        "/nacos/v1/cs/configs/listener",
        &[("Long-Pulling-Timeout", "30000")],
        listen.as_bytes(),
    ));

    // The same table for the dry run and the real one; only the dry run
    // leaves the target empty.
    for dry in [true, false] {
        let out = vigil(&args("src-secret", dry), &env);
        assert!(out.status.success(), "{}", stdout(&out));
        let table = lossy(&out.stdout);
        assert_eq!(table.contains("dry run"), dry, "{table}");
        for row in [
            "namespaces          2        0          0       0",
            "configs             8        0          0       0",
        ] {
            assert!(table.contains(row), "dry run {dry}: {table}");
        }
        assert_eq!(dst.snapshot("dev").is_empty(), dry, "dry run {dry}");
    }
    for ns in ["", "dev", "prod"] {
        let want = src.snapshot(ns);
        assert!(!want.is_empty());
        assert_eq!(dst.snapshot(ns), want, "namespace {ns:?} copied whole");
    }
    assert_eq!(
        dst.snapshot("prod")[0]["beta"],
        serde_json::json!(["10.0.0.7", "{\"beta\":1}"])
    );
    assert_eq!(
        poll.read_response().text(),
        "db.json%02DB%02prod%01\n",
        "the target's listener woke"
    );

    // Idempotent: a second run changes nothing and says so.
    let again = vigil(&args("src-secret", false), &env);
    let table = lossy(&again.stdout);
    assert!(
        table.contains("configs             0        0          8       0"),
        "{table}"
    );
    assert!(table.contains("nothing to change"), "{table}");
    // One change on the source is one update on the target.
    src.publish(&[
        ("dataId", "plain"),
        ("group", "APP"),
        ("tenant", "dev"),
        ("content", "y"),
    ]);
    let table = lossy(&vigil(&args("src-secret", false), &env).stdout);
    assert!(
        table.contains("configs             0        1          7       0"),
        "{table}"
    );
    assert_eq!(dst.snapshot("dev"), src.snapshot("dev"));

    // Wrong credentials: a clear refusal, nothing else.
    let bad = vigil(&args("wrong", false), &env);
    assert!(!bad.status.success());
    assert!(
        stdout(&bad).contains("login to") && stdout(&bad).contains("refused"),
        "{}",
        stdout(&bad)
    );
}

#[test]
fn export_and_import_subcommands_round_trip_through_a_file() {
    let a = Server::start();
    let b = Server::start();
    publish_with(
        a.addr,
        &[
            ("dataId", "app.yaml"),
            ("group", "G"),
            ("content", "a: 1"),
            ("type", "yaml"),
            ("desc", "d"),
            ("appName", "svc"),
        ],
    );
    publish_with(a.addr, &[("dataId", "b"), ("group", "G"), ("content", "b")]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("configs.zip");
    let file = file.to_str().unwrap();
    let (from, to) = (format!("http://{}", a.addr), format!("http://{}", b.addr));
    let out = vigil(
        &["export", "--server", &from, "--v2", "--output", file],
        &[],
    );
    assert!(out.status.success(), "{}", stdout(&out));
    let names: Vec<String> = unzip(&std::fs::read(file).unwrap())
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(names, vec!["G/app.yaml", "G/b", ".metadata.yml"]);
    let out = vigil(&["import", "--server", &to, "--policy", "SKIP", file], &[]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(lossy(&out.stdout), "{\"skipCount\":0,\"succCount\":2}\n");
    let d = detail(b.addr, "app.yaml", "G", "");
    assert_eq!(
        (
            d["type"].as_str(),
            d["desc"].as_str(),
            d["appName"].as_str()
        ),
        (Some("yaml"), Some("d"), Some("svc"))
    );
    // Refusals are errors with the server's reason.
    let out = vigil(
        &["import", "--server", &to, "--namespace", "missing", file],
        &[],
    );
    assert!(!out.status.success());
    assert!(stdout(&out).contains("100001"), "{}", stdout(&out));
}

#[test]
fn transfer_calls_need_permission_on_the_namespace_they_touch() {
    let s = Server::start_args(&["--auth", "--auth-admin-password", "admin-secret"]);
    let admin = Session::login(s.addr, "admin-secret");
    admin.namespace("a");
    admin.namespace("b");
    for (path, fields) in [
        (
            "/nacos/v1/auth/users",
            [("username", "w"), ("password", "w-secret")],
        ),
        (
            "/nacos/v1/auth/roles",
            [("role", "a-writer"), ("username", "w")],
        ),
    ] {
        assert!(admin.post(path, &fields, &[]).contains("200"), "{path}");
    }
    let grant = [
        ("role", "a-writer"),
        ("resource", "a:*:*"),
        ("action", "rw"),
    ];
    assert!(admin
        .post("/nacos/v1/auth/permissions", &grant, &[])
        .contains("200"));
    let body = form(&[("username", "w"), ("password", "w-secret")]);
    let r = request(
        s.addr,
        &post_raw("/nacos/v1/auth/login", &[], body.as_bytes()),
    );
    let token = json(&r)["accessToken"].as_str().expect("token").to_owned();

    let zip = zip_of(&[("G/k", b"v")]);
    let upload = multipart(None, Some(&zip));
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    let import_into = |ns: &str| {
        let target = format!("/nacos/v1/cs/configs?import=true&namespace={ns}&accessToken={token}");
        request(
            s.addr,
            &raw("POST", &target, &[("Content-Type", &ct)], Some(&upload)),
        )
    };
    assert_envelope(
        &import_into("a"),
        200,
        serde_json::json!({"succCount": 1, "skipCount": 0}),
    );
    assert_eq!(import_into("b").status, 403, "no write permission on b");
    let export_of = |ns: &str| {
        let q = format!("/nacos/v1/cs/configs?export=true&tenant={ns}&ids=&accessToken={token}");
        request(s.addr, &get_raw(&q)).status
    };
    assert_eq!((export_of("a"), export_of("b")), (200, 403));
    // A config in b, which w may not read: cloning it into a finds nothing.
    admin.publish(&[
        ("dataId", "secret"),
        ("group", "G"),
        ("tenant", "b"),
        ("content", "s3cr3t"),
    ]);
    let detail = json(&admin.get(&[
        ("show", "all"),
        ("dataId", "secret"),
        ("group", "G"),
        ("tenant", "b"),
    ]));
    let secret_id = detail["id"].as_str().expect("id").to_owned();
    let clone_into = |ns: &str| {
        let target =
            format!("/nacos/v1/cs/configs?clone=true&tenant={ns}&policy=SKIP&accessToken={token}");
        let body = format!(r#"[{{"cfgId":{secret_id}}}]"#);
        request(
            s.addr,
            &raw(
                "POST",
                &target,
                &[("Content-Type", "application/json")],
                Some(body.as_bytes()),
            ),
        )
    };
    assert_envelope(
        &clone_into("a"),
        100005,
        serde_json::json!({"succCount": 0}),
    );
    let copied = admin.get(&[
        ("show", "all"),
        ("dataId", "secret"),
        ("group", "G"),
        ("tenant", "a"),
    ]);
    assert!(
        copied.body.is_empty(),
        "nothing cloned: {}",
        lossy(&copied.body)
    );
    assert_eq!(clone_into("b").status, 403);
}
