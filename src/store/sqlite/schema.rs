//! The SQLite schema (Nacos's table and column names; times are epoch
//! milliseconds) and how every connection is opened.

use super::StoreError;
use rusqlite::Connection;
use std::path::Path;
use std::time::Duration;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS config_info (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    data_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL DEFAULT '',
    content TEXT NOT NULL,
    md5 TEXT,
    gmt_create INTEGER NOT NULL,
    gmt_modified INTEGER NOT NULL,
    src_user TEXT,
    src_ip TEXT,
    app_name TEXT,
    c_desc TEXT,
    c_use TEXT,
    effect TEXT,
    type TEXT,
    c_schema TEXT,
    UNIQUE (data_id, group_id, tenant_id)
);
CREATE TABLE IF NOT EXISTS his_config_info (
    id INTEGER NOT NULL,
    nid INTEGER PRIMARY KEY AUTOINCREMENT,
    data_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    app_name TEXT,
    content TEXT NOT NULL,
    md5 TEXT,
    gmt_create INTEGER NOT NULL,
    gmt_modified INTEGER NOT NULL,
    src_user TEXT,
    src_ip TEXT,
    op_type TEXT,
    tenant_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS idx_his_key ON his_config_info (data_id, group_id, tenant_id);
CREATE INDEX IF NOT EXISTS idx_his_gmt_modified ON his_config_info (gmt_modified);
CREATE TABLE IF NOT EXISTS config_info_beta (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    data_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL DEFAULT '',
    app_name TEXT,
    content TEXT NOT NULL,
    beta_ips TEXT,
    md5 TEXT,
    gmt_create INTEGER NOT NULL,
    gmt_modified INTEGER NOT NULL,
    src_user TEXT,
    src_ip TEXT,
    UNIQUE (data_id, group_id, tenant_id)
);
CREATE TABLE IF NOT EXISTS config_info_tag (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    data_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL DEFAULT '',
    tag_id TEXT NOT NULL,
    app_name TEXT,
    content TEXT NOT NULL,
    md5 TEXT,
    gmt_create INTEGER NOT NULL,
    gmt_modified INTEGER NOT NULL,
    src_user TEXT,
    src_ip TEXT,
    UNIQUE (data_id, group_id, tenant_id, tag_id)
);
CREATE TABLE IF NOT EXISTS config_tags_relation (
    id INTEGER NOT NULL,
    tag_name TEXT NOT NULL,
    tag_type TEXT,
    data_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL DEFAULT '',
    nid INTEGER PRIMARY KEY AUTOINCREMENT,
    UNIQUE (id, tag_name, tag_type)
);
CREATE INDEX IF NOT EXISTS idx_tags_tenant ON config_tags_relation (tenant_id);
CREATE INDEX IF NOT EXISTS idx_config_tenant_data ON config_info (tenant_id, data_id);
CREATE INDEX IF NOT EXISTS idx_config_tenant_group ON config_info (tenant_id, group_id);
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    password TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS roles (
    username TEXT NOT NULL,
    role TEXT NOT NULL,
    UNIQUE (username, role)
);
CREATE TABLE IF NOT EXISTS permissions (
    role TEXT NOT NULL,
    resource TEXT NOT NULL,
    action TEXT NOT NULL,
    UNIQUE (role, resource, action)
);
CREATE TABLE IF NOT EXISTS vigil_auth_key (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    secret BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS tenant_info (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kp TEXT NOT NULL,
    tenant_id TEXT NOT NULL DEFAULT '',
    tenant_name TEXT DEFAULT '',
    tenant_desc TEXT,
    create_source TEXT,
    gmt_create INTEGER NOT NULL,
    gmt_modified INTEGER NOT NULL,
    UNIQUE (kp, tenant_id)
);
";

/// When a commit counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sync {
    /// The WAL is fsync'd before a publish is acknowledged: an acknowledged
    /// publish survives a crash of the process and of the machine.
    Full,
    /// The WAL is written (not fsync'd) before acknowledging: survives a
    /// crash of the process (`kill -9`), not a power loss; much lower
    /// publish latency on disks with slow fsync.
    Normal,
}

impl Sync {
    pub(super) fn pragma(self) -> &'static str {
        match self {
            Sync::Full => "PRAGMA synchronous=FULL;",
            Sync::Normal => "PRAGMA synchronous=NORMAL;",
        }
    }
}

/// Opens the database file with the pragmas every connection needs.
pub(crate) fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let fail =
        |what: &str, e: rusqlite::Error| StoreError(format!("{what} {}: {e}", path.display()));
    let conn = Connection::open(path).map_err(|e| fail("cannot open database", e))?;
    conn.busy_timeout(Duration::from_secs(2))
        .map_err(|e| fail("cannot configure database", e))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(|e| fail("cannot use database", e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError(format!(
            "cannot switch database {} to WAL mode (got {mode})",
            path.display()
        )));
    }
    Ok(conn)
}
