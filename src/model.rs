//! The shared, immutable value types: a committed config and a committed
//! change. The writer thread creates them; reactors share them through `Arc`,
//! so a config's content is stored once however many reactors cache it.

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
    pub group_key: Box<str>,
    /// The new formal config; `None` after a delete.
    pub config: Option<Arc<Config>>,
    /// Whether the md5 changed (only then are listeners woken).
    pub content_changed: bool,
}
