//! A Spring Boot 3 application on Spring Cloud Alibaba 2025.0
//! (`tests/java/spring-app3`, its nacos-client 3.x over gRPC): it imports
//! two data ids (`spring.config.import`), and a publish of either refreshes
//! its `@RefreshScope` bean (an `@Value` field) and its
//! `@ConfigurationProperties`, while a singleton keeps its start-up value.

use crate::common::grpc::start_grpc;
use crate::common::{self, Server};
use crate::jvm::{value, Jvm};
use crate::stop_cleanly;
use std::time::{Duration, Instant};

const G: &str = "DEFAULT_GROUP";
/// The imports of `application.yml`.
const SHARED: (&str, &str) = ("shared3.properties", "SHARED_GROUP");
const APP: (&str, &str) = ("vigil-demo3.yaml", G);
/// Longest wait for the application to start (a cold JVM on a busy machine).
const START_LIMIT: Duration = Duration::from_secs(120);
/// Longest wait from a publish to the refresh it causes.
const REFRESH_LIMIT: Duration = Duration::from_secs(30);

struct App {
    jvm: Jvm,
}

impl App {
    fn start(server: &Server) -> App {
        let built = crate::java_programs();
        let mut jvm = Jvm::start(
            "Spring Cloud Alibaba 3 app",
            &built.spring_app3,
            "vigil.interop.spring.App",
            &[format!(
                "--spring.cloud.nacos.config.server-addr={}",
                server.addr
            )],
            &["refreshed"],
        );
        let ready = jvm.reply(START_LIMIT, "`ready` from the application");
        if ready != ["ready"] {
            jvm.fail(&format!("expected `ready`, got {ready:?}"));
        }
        App { jvm }
    }

    fn get(&mut self, keys: &[&str]) -> Vec<Option<String>> {
        let mut fields = vec!["get"];
        fields.extend(keys);
        self.jvm.command(&fields).iter().map(|f| value(f)).collect()
    }

    /// (@RefreshScope bean's @Value, @ConfigurationProperties, singleton's
    /// @Value, instances of the refresh-scoped bean so far).
    fn beans(&mut self) -> (String, String, String, String) {
        let b = self.jvm.command(&["beans"]);
        let v = |i: usize| value(&b[i]).unwrap_or_else(|| "(null)".to_string());
        (v(0), v(1), v(2), b[3].clone())
    }

    /// Waits for the next refresh; returns the keys it changed.
    fn refreshed(&mut self, what: &str, since: Instant) -> Vec<String> {
        match self.jvm.next_event(REFRESH_LIMIT) {
            Some(e) => {
                println!(
                    "{what}: refreshed {:?} after publishing",
                    e.at.duration_since(since)
                );
                e.fields[1..].to_vec()
            }
            None => self
                .jvm
                .fail(&format!("no refresh within {REFRESH_LIMIT:?} after {what}")),
        }
    }
}

fn app_content(greeting: &str) -> String {
    format!(
        "demo.greeting: {greeting}\norder.app: {APP_ID}\n",
        APP_ID = APP.0
    )
}

#[test]
fn spring_boot_3_refreshes_its_refresh_scope_bean() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut server = start_grpc(&tmp.path().join("data"), &[]);
    server.keep_tmp(tmp);
    let addr = server.addr;
    common::publish_ok(addr, SHARED.0, SHARED.1, "", "order.shared=v1\n");
    common::publish_ok(addr, APP.0, APP.1, "", &app_content("hello-1"));
    let mut app = App::start(&server);

    assert_eq!(
        app.get(&["order.shared", "order.app", "demo.greeting"]),
        [
            Some("v1".to_string()),
            Some(APP.0.to_string()),
            Some("hello-1".to_string())
        ],
        "the imported data ids' values"
    );
    assert_eq!(
        app.beans(),
        (
            "hello-1".into(),
            "hello-1".into(),
            "hello-1".into(),
            "1".into()
        )
    );

    let at = Instant::now();
    common::publish_ok(addr, APP.0, APP.1, "", &app_content("hello-2"));
    let changed = app.refreshed("publishing vigil-demo3.yaml", at);
    assert_eq!(changed, ["demo.greeting"], "the keys the refresh changed");
    let (refreshed, bound, singleton, instances) = app.beans();
    assert_eq!(
        refreshed, "hello-2",
        "the @RefreshScope bean's @Value field"
    );
    assert_eq!(bound, "hello-2", "the @ConfigurationProperties bean");
    assert_eq!(
        singleton, "hello-1",
        "a singleton's @Value field keeps its start-up value"
    );
    assert_eq!(instances, "2", "the refresh scope built its bean again");

    // The other import, in its own group, refreshes too.
    let at = Instant::now();
    common::publish_ok(addr, SHARED.0, SHARED.1, "", "order.shared=v2\n");
    assert_eq!(
        app.refreshed("publishing shared3.properties", at),
        ["order.shared"]
    );
    assert_eq!(app.get(&["order.shared"]), [Some("v2".to_string())]);

    app.jvm.quit();
    common::assert_failures(addr, &[], "the Spring Boot 3 app");
    stop_cleanly(server, "the Spring Boot 3 app");
}
