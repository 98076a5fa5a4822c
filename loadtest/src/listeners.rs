//! Parked long-polling listeners as a library, for programs that drive load
//! from their own process (the server's integration tests).
//!
//! [`Listeners::park`] runs the load tester's workers on threads of the
//! caller's process, opens `conns` listener connections that behave as real
//! clients (poll with the md5s they hold, GET what a reply names, re-poll at
//! once), and returns once every one is parked. The caller then publishes
//! through [`Listeners::publish`] (each key's content is versioned, so the
//! workers check every GET after a wake-up reads the announced version or a
//! newer one, and that its `Content-MD5` is the body's md5; for bursts see
//! [`Listeners::announce_ahead`]), collects wake-ups with [`Listeners::wait_wakes`] and
//! [`Listeners::take_wakes`], and ends with [`Listeners::stop`], which
//! returns the counters (errors, stale reads, polls, ...) and deletes the keys
//! it published.
//!
//! Keys are named by [`KeyPlan`]: each listener has `own_keys` keys, its own
//! or, with `key_pool` > 0, drawn from a pool that many listeners share, plus
//! the hot key with `hot`. Nothing here asserts: the caller decides what a
//! wake-up count means.
//!
//! ```no_run
//! use std::time::Duration;
//! use vigil_loadtest::listeners::{Listeners, Options};
//! use vigil_loadtest::proto::{KeyId, KeyKind};
//!
//! # fn main() -> anyhow::Result<()> {
//! let server = "127.0.0.1:8848".parse()?;
//! // 10,000 listeners, 2 keys each out of a pool of 50, on 2 worker threads.
//! let opts = Options { conns: 10_000, own_keys: 2, key_pool: 50, threads: 2, ..Options::default() };
//! let mut l = Listeners::park(&[server], &opts, Duration::from_secs(60))?;
//! let keys: Vec<KeyId> = (0..10).map(|k| KeyId::new(KeyKind::Own, k)).collect();
//! l.publish(&keys)?;
//! let expected: usize = keys.iter().map(|k| l.listeners_of(*k).len()).sum();
//! l.wait_wakes(expected, Duration::from_secs(30))?;
//! l.wait_parked(Duration::from_secs(30))?;
//! let wakes = l.take_wakes(Duration::from_millis(500))?; // late duplicates show up here
//! assert_eq!(wakes.len(), expected);
//! let counters = l.stop()?;
//! assert_eq!((counters.errors(), counters.stale_reads), (0, 0));
//! # Ok(())
//! # }
//! ```

use crate::client::Client;
use crate::fleet::{Deadline, Fleet};
use crate::msg::{Command, Counters, Event, Plan};
use crate::proto::{self, KeyId, KeyPlan, KeySpace};
use anyhow::{bail, Result};
use indicatif::ProgressBar;
use std::collections::{BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

/// What to park.
#[derive(Clone, Debug)]
pub struct Options {
    /// Listener connections.
    pub conns: u32,
    /// Keys per listener (besides the hot key).
    pub own_keys: u32,
    /// 0: each listener's keys are its own; P: they come from a pool of P shared keys.
    pub key_pool: u32,
    /// Every listener also listens to the hot key.
    pub hot: bool,
    /// GET each woken key before re-polling, as real clients do.
    pub get_after_wake: bool,
    /// Watch one event stream each (`/configs/watch`) instead of long-polling.
    pub sse: bool,
    /// Non-empty: be Nacos 2.x gRPC clients of these addresses (the gRPC
    /// port of each server, in the order of the servers) instead of long-polling.
    pub grpc_servers: Vec<std::net::SocketAddr>,
    /// `Long-Pulling-Timeout`, ms.
    pub poll_timeout_ms: u64,
    /// Worker threads (each an event loop holding its share of connections).
    pub threads: u32,
    /// Loopback source addresses 127.0.0.2 .. 127.0.0.(1+N).
    pub sources: u32,
    /// Size of published content, bytes.
    pub content_bytes: usize,
    /// Key namespace: keys are `lt.<run>.<kind><n>` in group `LOADTEST`.
    pub run: String,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            conns: 100,
            own_keys: 1,
            key_pool: 0,
            hot: false,
            get_after_wake: true,
            sse: false,
            grpc_servers: Vec::new(),
            poll_timeout_ms: 30_000,
            threads: 1,
            sources: 4,
            content_bytes: 64,
            run: format!("t{:x}", crate::clock::mono_ns() & 0xff_ffff_ffff),
        }
    }
}

/// Listener `listener` (global index) was told `key` changed, at `t_ns` (`clock::mono_ns`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wake {
    pub listener: u32,
    pub key: KeyId,
    pub t_ns: u64,
}

/// A set of parked listeners on one or more servers.
pub struct Listeners {
    fleet: Fleet,
    open: Vec<u32>,
    keys: KeyPlan,
    conns: u32,
    content_bytes: usize,
    pub space: KeySpace,
    client: Client,
    versions: HashMap<KeyId, u64>,
    published: BTreeSet<KeyId>,
    wakes: Vec<Wake>,
}

impl Listeners {
    /// Opens the listeners (listener `i` on `servers[i mod S]`) and waits up
    /// to `timeout` for every one to be parked; publishes go to `servers[0]`.
    pub fn park(servers: &[SocketAddr], o: &Options, timeout: Duration) -> Result<Listeners> {
        let Some(&first) = servers.first() else {
            bail!("no server");
        };
        if servers.iter().any(|s| !s.ip().is_loopback()) {
            bail!("only loopback servers may be loaded");
        }
        if o.key_pool > 0 && o.own_keys > o.key_pool {
            bail!(
                "own_keys {} exceeds the key pool {}",
                o.own_keys,
                o.key_pool
            );
        }
        let keys = KeyPlan {
            own_keys: o.own_keys,
            pool: o.key_pool,
            hot: o.hot,
        };
        let threads = o.threads.max(1);
        let plans: Vec<Plan> = (0..threads)
            .map(|w| {
                let (listener_first, listeners) = crate::ctx::split(o.conns, threads, w);
                Plan {
                    worker: w,
                    servers: servers.to_vec(),
                    sources: (0..o.sources.clamp(1, 250))
                        .map(|i| Ipv4Addr::new(127, 0, 0, (2 + i) as u8))
                        .collect(),
                    run: o.run.clone(),
                    listener_first,
                    listeners,
                    keys,
                    poll_timeout_ms: o.poll_timeout_ms,
                    get_after_wake: o.get_after_wake,
                    sse: o.sse,
                    watch: crate::sse::WatchScope::Keys,
                    grpc: !o.grpc_servers.is_empty(),
                    grpc_servers: o.grpc_servers.clone(),
                    grpc_health_idle_ms: crate::grpc::HEALTH_IDLE_NS / 1_000_000,
                    report_wakes: true,
                    getters: 0,
                    getter_first: 0,
                    get_keys: 0,
                    publishers: 0,
                    publisher_first: 0,
                    publish_rate: 0.0,
                    publish_to_listeners: false,
                    content_bytes: o.content_bytes,
                    connect_concurrency: 256,
                    request_timeout_ms: 10_000,
                    // Threads stop with the Listeners; this is only a backstop.
                    deadline_ms: 24 * 3600 * 1000,
                }
            })
            .collect();
        let open = plans.iter().map(|p| p.listeners).collect();
        let fleet = Fleet::spawn_threads(&plans, ProgressBar::hidden())?;
        let mut me = Listeners {
            fleet,
            open,
            keys,
            conns: o.conns,
            content_bytes: o.content_bytes,
            space: KeySpace::new(&o.run),
            client: Client::new(first, &first.to_string(), Duration::from_secs(10)),
            versions: HashMap::new(),
            published: BTreeSet::new(),
            wakes: Vec::new(),
        };
        if !me.wait_parked(timeout)? {
            let t = me.fleet.totals();
            bail!(
                "only {} of {} listeners parked within {timeout:?} ({} errors; first: {:?})",
                t.parked,
                o.conns,
                t.errors,
                me.fleet.error_samples.first()
            );
        }
        Ok(me)
    }

    /// The data id and group of `key`, as the server sees them.
    pub fn key_name(&self, key: KeyId) -> (String, &'static str) {
        (self.space.data_id(key), proto::GROUP)
    }

    /// The listeners (global indexes) that listen to `key`.
    pub fn listeners_of(&self, key: KeyId) -> Vec<u32> {
        (0..self.conns)
            .filter(|g| self.keys.slot_of(*g, key).is_some())
            .collect()
    }

    /// Listeners whose poll is sent and unanswered right now.
    pub fn parked(&mut self, timeout: Duration) -> Result<u64> {
        let until = Instant::now() + timeout;
        let wakes = &mut self.wakes;
        let census = self.fleet.census(until, &mut |_, ev| collect(wakes, ev))?;
        match census {
            Some(c) => Ok(c.iter().map(|s| s.parked).sum()),
            None => bail!("the workers did not answer a census within {timeout:?}"),
        }
    }

    /// Waits until every listener is parked again; `false` after `timeout`.
    pub fn wait_parked(&mut self, timeout: Duration) -> Result<bool> {
        let until = Deadline(Instant::now() + timeout).0;
        let wakes = &mut self.wakes;
        self.fleet
            .wait_parked(until, &self.open, &mut |_, ev| collect(wakes, ev))
    }

    /// Publishes a new version of each of `keys` (in order) through the
    /// first server and returns the versions; see [`Listeners::announce`].
    pub fn publish(&mut self, keys: &[KeyId]) -> Result<Vec<u64>> {
        let versions = self.announce(keys)?;
        for (key, v) in keys.iter().zip(&versions) {
            let content = self.content(*key, *v);
            self.client.publish(&self.space, *key, &content)?;
        }
        Ok(versions)
    }

    /// Tells the workers the next version of each of `keys` and returns
    /// them, for a caller that publishes [`Listeners::content`] itself (from
    /// several connections at once, say). A GET after a wake-up, or a watch
    /// event, that shows content older than the version announced when the
    /// wake-up arrived counts as a stale read.
    pub fn announce(&mut self, keys: &[KeyId]) -> Result<Vec<u64>> {
        self.announce_as(keys, Command::Version)
    }

    /// Like [`Listeners::announce`], for a second (third, ...) publish of
    /// `keys` in a burst, before the first has reached every listener: a GET
    /// may show this version, but a wake-up still demands only the one last
    /// announced (a late wake-up of the first publish may be read before
    /// this one lands).
    pub fn announce_ahead(&mut self, keys: &[KeyId]) -> Result<Vec<u64>> {
        self.announce_as(keys, Command::Ahead)
    }

    /// The next version of each of `keys`, told to the workers as `command`.
    fn announce_as(
        &mut self,
        keys: &[KeyId],
        command: fn(KeyId, u64) -> Command,
    ) -> Result<Vec<u64>> {
        let mut versions = Vec::with_capacity(keys.len());
        for key in keys {
            let v = self.versions.get(key).copied().unwrap_or(0) + 1;
            self.versions.insert(*key, v);
            self.published.insert(*key);
            self.fleet.broadcast(&command(*key, v))?;
            versions.push(v);
        }
        // A census is a barrier: every worker has applied the versions.
        self.parked(Duration::from_secs(30))?;
        Ok(versions)
    }

    /// The content of `key` at `version`.
    pub fn content(&self, key: KeyId, version: u64) -> String {
        proto::versioned_content(&self.space, key, version, self.content_bytes)
    }

    /// Waits until at least `count` wake-ups have arrived since the last
    /// [`Listeners::take_wakes`], or `timeout`; returns how many have.
    pub fn wait_wakes(&mut self, count: usize, timeout: Duration) -> Result<usize> {
        let until = Instant::now() + timeout;
        while self.wakes.len() < count {
            match self.fleet.recv(until)? {
                Some((_, ev)) => collect(&mut self.wakes, ev),
                None => break,
            }
        }
        Ok(self.wakes.len())
    }

    /// Collects wake-ups for a quiet `gap`, then hands over all gathered since
    /// the last call (late duplicates or spurious wake-ups show up here).
    pub fn take_wakes(&mut self, gap: Duration) -> Result<Vec<Wake>> {
        let until = Instant::now() + gap;
        while let Some((_, ev)) = self.fleet.recv(until)? {
            collect(&mut self.wakes, ev);
        }
        Ok(std::mem::take(&mut self.wakes))
    }

    /// Error samples the workers sent so far (at most a few per worker).
    pub fn error_samples(&self) -> &[String] {
        &self.fleet.error_samples
    }

    /// Stops the workers, deletes the published keys, and returns the
    /// summed counters (see `msg::Counters`: `errors()` and `stale_reads`
    /// are what a test usually checks).
    pub fn stop(self) -> Result<Counters> {
        let Listeners {
            fleet,
            mut client,
            space,
            published,
            ..
        } = self;
        let reports = fleet.stop()?;
        let mut c = Counters::default();
        for r in &reports {
            c.add(&r.counters);
        }
        for key in published {
            client.delete(&space, key)?;
        }
        Ok(c)
    }
}

fn collect(wakes: &mut Vec<Wake>, ev: Event) {
    if let Event::Wake { conn, key, t_ns } = ev {
        wakes.push(Wake {
            listener: conn,
            key,
            t_ns,
        });
    }
}
