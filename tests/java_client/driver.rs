//! The nacos-client driver (`tests/java/driver`) as typed calls: each method
//! is one call of the client's public `ConfigService` API in the JVM, and
//! listener callbacks come back as [`Change`]s.

use crate::jvm::{is_trouble, value, Jvm};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The timeout a `get` passes to `ConfigService.getConfig`.
pub const GET_TIMEOUT_MS: &str = "3000";

/// One listener callback: which listener (client, dataId, group) got what.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub client: String,
    pub data_id: String,
    pub group: String,
    pub content: Option<String>,
}

pub struct Driver {
    jvm: Jvm,
}

impl Driver {
    /// Starts the driver JVM on the 1.x client.
    pub fn start(label: &str) -> Driver {
        Driver::start_with(label, &crate::java_programs().driver)
    }

    /// Starts the driver JVM built on the client of `classpath` (the same
    /// driver source is built against each client line).
    pub fn start_with(label: &str, classpath: &str) -> Driver {
        Driver {
            jvm: Jvm::start(label, classpath, "vigil.interop.Driver", &[], &["change"]),
        }
    }

    /// A driver with one client `c` on `addr` (public namespace, no credentials).
    pub fn on(label: &str, addr: SocketAddr) -> Driver {
        let mut d = Driver::start(label);
        d.client("c", addr, &[]);
        d
    }

    pub fn jvm(&self) -> &Jvm {
        &self.jvm
    }

    /// `NacosFactory.createConfigService` with `serverAddr` and `props`.
    pub fn client(&mut self, name: &str, addr: SocketAddr, props: &[(&str, &str)]) {
        self.client_of(name, &addr.to_string(), props);
    }

    /// `NacosFactory.createConfigService` with `serverAddr` = `servers` (a
    /// comma-separated list of `host:port`) and `props`.
    pub fn client_of(&mut self, name: &str, servers: &str, props: &[(&str, &str)]) {
        let mut fields = vec![
            "client".to_string(),
            name.to_string(),
            format!("serverAddr={servers}"),
        ];
        fields.extend(props.iter().map(|(k, v)| format!("{k}={v}")));
        let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
        self.jvm.command(&fields);
    }

    /// `getConfig(dataId, group, 3000)`.
    pub fn get(&mut self, name: &str, data_id: &str, group: &str) -> Option<String> {
        self.try_get(name, data_id, group, GET_TIMEOUT_MS)
            .unwrap_or_else(|e| self.jvm.fail(&format!("getConfig {data_id} threw {e:?}")))
    }

    /// `getConfig`; `Err` holds the exception (class, error code, message).
    pub fn try_get(
        &mut self,
        name: &str,
        data_id: &str,
        group: &str,
        timeout_ms: &str,
    ) -> Result<Option<String>, Vec<String>> {
        self.jvm
            .try_command(&["get", name, data_id, group, timeout_ms])
            .map(|reply| value(&reply[0]))
    }

    /// `publishConfig`, with `type` when given.
    pub fn publish(
        &mut self,
        name: &str,
        data_id: &str,
        group: &str,
        content: &str,
        config_type: Option<&str>,
    ) -> bool {
        let mut fields = vec!["publish", name, data_id, group, content];
        fields.extend(config_type);
        self.jvm.command(&fields)[0] == "true"
    }

    /// `removeConfig`.
    pub fn remove(&mut self, name: &str, data_id: &str, group: &str) -> bool {
        self.jvm.command(&["remove", name, data_id, group])[0] == "true"
    }

    /// `addListener` with a listener that reports every callback.
    pub fn listen(&mut self, name: &str, data_id: &str, group: &str) {
        self.jvm.command(&["listen", name, data_id, group]);
    }

    /// `addListener` on `prefix + i` for every `i` in `range`.
    pub fn listen_range(
        &mut self,
        name: &str,
        prefix: &str,
        range: std::ops::Range<usize>,
        group: &str,
    ) {
        let (from, to) = (range.start.to_string(), range.end.to_string());
        self.jvm
            .command(&["listen_range", name, prefix, &from, &to, group]);
    }

    /// The next listener callback within `limit`, with when it arrived.
    pub fn next_change(&mut self, limit: Duration) -> Option<(Change, Instant)> {
        let event = self.jvm.next_event(limit)?;
        let f = &event.fields;
        assert_eq!(f.len(), 5, "a change event has 5 fields: {f:?}");
        Some((
            Change {
                client: f[1].clone(),
                data_id: f[2].clone(),
                group: f[3].clone(),
                content: value(&f[4]),
            },
            event.at,
        ))
    }

    /// Waits up to `limit` for exactly `want` as the next callback; returns
    /// how long after `since` it arrived.
    pub fn expect_change(&mut self, want: &Change, since: Instant, limit: Duration) -> Duration {
        match self.next_change(limit) {
            Some((got, at)) if got == *want => at.duration_since(since),
            Some((got, _)) => self
                .jvm
                .fail(&format!("expected the callback {want:?}, got {got:?}")),
            None => self
                .jvm
                .fail(&format!("no callback {want:?} within {limit:?}")),
        }
    }

    /// Asserts no callback arrives within `wait`.
    pub fn expect_no_change(&mut self, wait: Duration, what: &str) {
        if let Some((got, _)) = self.next_change(wait) {
            self.jvm
                .fail(&format!("{what}: unexpected callback {got:?}"));
        }
    }

    /// Quits the driver (clients shut down, exit 0).
    pub fn quit(mut self) {
        self.jvm.quit();
    }

    /// Quits, then asserts the client logged no error, no warning and no
    /// timeout anywhere (its own log and stderr).
    pub fn quit_quietly(mut self) {
        self.jvm.quit();
        self.jvm.assert_quiet(is_trouble);
    }
}
