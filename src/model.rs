//! The shared, immutable value types: a committed config, its beta and tag
//! variants gathered in an [`Entry`], and a committed change. The writer
//! thread creates them; reactors share them through `Arc`, so a config's
//! content is stored once however many reactors cache it.

use crate::protocol::{content_type_for, group_key, Md5Hex};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

/// One formal config as committed to storage.
#[derive(Debug)]
pub struct Config {
    /// `config_info.id`.
    pub id: i64,
    pub data_id: String,
    pub group: String,
    /// Canonical tenant (`""` is the public namespace).
    pub tenant: String,
    pub content: String,
    pub md5: Md5Hex,
    /// One of the Nacos types (`text` when none was given).
    pub config_type: &'static str,
    pub app_name: Option<String>,
    pub modified_ms: i64,
    /// The header lines of a GET reply, rendered once per version.
    pub get_head: Box<[u8]>,
}

impl Config {
    /// Builds a config and renders its GET head.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: i64,
        data_id: String,
        group: String,
        tenant: String,
        content: String,
        config_type: &'static str,
        app_name: Option<String>,
        modified_ms: i64,
    ) -> Config {
        let md5 = Md5Hex::of(content.as_bytes());
        let modified = UNIX_EPOCH + Duration::from_millis(u64::try_from(modified_ms).unwrap_or(0));
        let head = format!(
            "Config-Type: {config_type}\r\nContent-MD5: {}\r\nPragma: no-cache\r\nExpires: Thu, 01 Jan 1970 00:00:00 GMT\r\nCache-Control: no-cache,no-store\r\nLast-Modified: {}\r\nContent-Type: {}\r\n",
            md5.as_str(),
            httpdate::fmt_http_date(modified),
            content_type_for(config_type),
        );
        Config {
            id,
            data_id,
            group,
            tenant,
            content,
            md5,
            config_type,
            app_name,
            modified_ms,
            get_head: head.into_bytes().into_boxed_slice(),
        }
    }

    pub fn group_key(&self) -> String {
        group_key(&self.data_id, &self.group, &self.tenant)
    }
}

/// A committed change to one key, broadcast to every reactor in commit order.
#[derive(Debug)]
pub struct Change {
    /// Commit order: every change has a larger `seq` than the ones before.
    pub seq: u64,
    pub group_key: Box<str>,
    /// Everything now stored under the key; `None` when nothing is left.
    pub entry: Option<Arc<Entry>>,
}

/// A beta (gray) variant: content served only to the listed client addresses.
#[derive(Debug)]
pub struct Beta {
    pub config: Arc<Config>,
    /// The list exactly as published (`betaIps` header).
    pub ips_raw: String,
    /// The list split on `,` (not trimmed, as Nacos does).
    pub ips: Vec<String>,
}

impl Beta {
    pub fn new(config: Config, ips_raw: String) -> Beta {
        let ips = ips_raw.split(',').map(str::to_owned).collect();
        Beta {
            config: Arc::new(config),
            ips_raw,
            ips,
        }
    }

    pub fn serves(&self, requester: &str) -> bool {
        self.ips.iter().any(|ip| ip == requester)
    }
}

/// Everything stored under one key: the formal config and its variants.
#[derive(Debug, Default)]
pub struct Entry {
    pub formal: Option<Arc<Config>>,
    pub beta: Option<Arc<Beta>>,
    /// Tag variants, by tag name.
    pub tags: Vec<(String, Arc<Config>)>,
}

/// Which variant a request reads.
#[derive(Debug, Clone, Copy)]
pub enum Variant<'a> {
    Formal(&'a Arc<Config>),
    Beta(&'a Arc<Config>),
    Tag(&'a str, &'a Arc<Config>),
}

impl<'a> Variant<'a> {
    pub fn config(&self) -> &'a Arc<Config> {
        match *self {
            Variant::Formal(c) | Variant::Beta(c) | Variant::Tag(_, c) => c,
        }
    }
}

impl Entry {
    pub fn is_empty(&self) -> bool {
        self.formal.is_none() && self.beta.is_none() && self.tags.is_empty()
    }

    pub fn tag(&self, name: &str) -> Option<&Arc<Config>> {
        self.tags.iter().find(|(t, _)| t == name).map(|(_, c)| c)
    }

    /// The variant a requester at `ip` carrying header tag `vip_tag` sees
    /// (spec §3.3): beta if listed, else the named tag if it exists, else
    /// the formal config.
    pub fn effective(&self, ip: &str, vip_tag: Option<&str>) -> Option<Variant<'_>> {
        if let Some(beta) = self.beta.as_deref().filter(|b| b.serves(ip)) {
            return Some(Variant::Beta(&beta.config));
        }
        if let Some((t, c)) = vip_tag.and_then(|t| self.tags.iter().find(|(name, _)| name == t)) {
            return Some(Variant::Tag(t, c));
        }
        self.formal.as_ref().map(Variant::Formal)
    }
}
