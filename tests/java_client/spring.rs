//! A Spring Boot application on Spring Cloud Alibaba 2.2.6.RELEASE
//! (`tests/java/spring-app`): its configuration loads from the server in the
//! documented order, and a publish refreshes its `@RefreshScope` bean (an
//! `@Value` field) and its `@ConfigurationProperties`.

use crate::common::{self, Server};
use crate::jvm::{value, Jvm};
use crate::stop_cleanly;
use std::time::Duration;

const G: &str = "DEFAULT_GROUP";
/// Longest wait for the application to start (a cold JVM on a busy machine).
const START_LIMIT: Duration = Duration::from_secs(120);
/// Longest wait from a publish to the refresh it causes.
const REFRESH_LIMIT: Duration = Duration::from_secs(30);

/// The data ids of `bootstrap.yml` (application `vigil-demo`, profile `dev`,
/// extension `yaml`), lowest precedence first, as Spring Cloud Alibaba
/// documents the order: shared-configs (a later one wins), then
/// extension-configs (a later one wins), then `${prefix}`,
/// `${prefix}.${file-extension}`, `${prefix}-${profile}.${file-extension}`.
const SOURCES: [(&str, &str); 7] = [
    ("shared-a.yaml", G),
    ("shared-b.properties", G),
    ("ext-a.yaml", G),
    ("ext-b.yaml", "EXT_GROUP"),
    ("vigil-demo", G),
    ("vigil-demo.yaml", G),
    ("vigil-demo-dev.yaml", G),
];

/// The content of source `i`: it sets `order.k<j>` to its own name for
/// every `j >= i`, so `order.k<j>` must resolve to source `j`'s name.
fn source_content(i: usize, greeting: &str) -> String {
    let (data_id, _) = SOURCES[i];
    let sep = if data_id.ends_with(".properties") {
        "="
    } else {
        ": "
    };
    let mut text: String = (i..SOURCES.len())
        .map(|j| format!("order.k{j}{sep}{data_id}\n"))
        .collect();
    if data_id == "vigil-demo-dev.yaml" {
        text.push_str(&format!("demo.greeting: {greeting}\n"));
    }
    text
}

struct App {
    jvm: Jvm,
}

impl App {
    fn start(addr: std::net::SocketAddr) -> App {
        let built = crate::java_programs();
        let mut jvm = Jvm::start(
            "Spring Cloud Alibaba app",
            &built.spring_app,
            "vigil.interop.spring.App",
            &[
                format!("--spring.cloud.nacos.config.server-addr={addr}"),
                "--spring.profiles.active=dev".to_string(),
            ],
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
    fn refreshed(&mut self, what: &str) -> Vec<String> {
        match self.jvm.next_event(REFRESH_LIMIT) {
            Some(e) => e.fields[1..].to_vec(),
            None => self
                .jvm
                .fail(&format!("no refresh within {REFRESH_LIMIT:?} after {what}")),
        }
    }
}

#[test]
fn spring_cloud_alibaba_loads_in_order_and_refreshes() {
    let server = Server::start();
    let addr = server.addr;
    for (i, (data_id, group)) in SOURCES.iter().enumerate() {
        common::publish_ok(addr, data_id, group, "", &source_content(i, "hello-1"));
    }
    let mut app = App::start(addr);

    let loaded = app.jvm.command(&["sources"]);
    let expected: Vec<String> = SOURCES
        .iter()
        .rev()
        .map(|(data_id, group)| format!("bootstrapProperties-{data_id},{group}"))
        .collect();
    assert_eq!(
        loaded, expected,
        "the property sources, highest precedence first"
    );
    let keys: Vec<String> = (0..SOURCES.len()).map(|j| format!("order.k{j}")).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let resolved = app.get(&keys);
    let winners: Vec<Option<String>> = SOURCES.iter().map(|(d, _)| Some(d.to_string())).collect();
    assert_eq!(resolved, winners, "order.k<j> resolves to source j");
    assert_eq!(
        app.beans(),
        (
            "hello-1".into(),
            "hello-1".into(),
            "hello-1".into(),
            "1".into()
        )
    );

    common::publish_ok(
        addr,
        "vigil-demo-dev.yaml",
        G,
        "",
        &source_content(6, "hello-2"),
    );
    let changed = app.refreshed("publishing vigil-demo-dev.yaml");
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

    // A shared config marked `refresh: true` refreshes too.
    let shared_b =
        source_content(1, "").replace("order.k1=shared-b.properties", "order.k1=shared-b, changed");
    common::publish_ok(addr, "shared-b.properties", G, "", &shared_b);
    assert_eq!(
        app.refreshed("publishing shared-b.properties"),
        ["order.k1"]
    );
    assert_eq!(
        app.get(&["order.k1"]),
        [Some("shared-b, changed".to_string())]
    );

    app.jvm.quit();
    // Spring's console (stderr) has warnings of its own (the nacos client's
    // HTTP pool announces its shutdown as one): only errors count there.
    app.jvm.assert_quiet(|line| {
        line.contains(" ERROR ") || line.contains("Exception") || line.contains("timed out")
    });
    common::assert_failures(addr, &[], "the Spring Cloud Alibaba app");
    stop_cleanly(server, "the Spring Cloud Alibaba app");
}
