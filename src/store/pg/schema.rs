//! The PostgreSQL schema: Nacos's table and column names, as in the SQLite
//! store (times are epoch milliseconds, so rows move between the two as
//! they are), plus three tables of the cluster's own:
//!
//! - `vigil_change_seq`: one row holding the last change number handed out.
//!   A writer takes its numbers by updating this row just before `COMMIT`,
//!   so it holds the row lock until its commit is done (see `feed`).
//! - `vigil_change_log`: one row per committed change, by that number:
//!   which key changed (kind `c`) or that users, roles or permissions did
//!   (kind `a`). Nodes replay it strictly in order.
//! - `vigil_nodes`: the members, with a heartbeat.

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS config_info (
    id BIGSERIAL PRIMARY KEY,
    data_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL DEFAULT '',
    content TEXT NOT NULL,
    md5 TEXT,
    gmt_create BIGINT NOT NULL,
    gmt_modified BIGINT NOT NULL,
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
    id BIGINT NOT NULL,
    nid BIGSERIAL PRIMARY KEY,
    data_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    app_name TEXT,
    content TEXT NOT NULL,
    md5 TEXT,
    gmt_create BIGINT NOT NULL,
    gmt_modified BIGINT NOT NULL,
    src_user TEXT,
    src_ip TEXT,
    op_type TEXT,
    tenant_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS idx_his_key ON his_config_info (data_id, group_id, tenant_id);
CREATE INDEX IF NOT EXISTS idx_his_id ON his_config_info (id);
CREATE INDEX IF NOT EXISTS idx_his_gmt_modified ON his_config_info (gmt_modified);
CREATE TABLE IF NOT EXISTS config_info_beta (
    id BIGSERIAL PRIMARY KEY,
    data_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL DEFAULT '',
    app_name TEXT,
    content TEXT NOT NULL,
    beta_ips TEXT,
    md5 TEXT,
    gmt_create BIGINT NOT NULL,
    gmt_modified BIGINT NOT NULL,
    src_user TEXT,
    src_ip TEXT,
    UNIQUE (data_id, group_id, tenant_id)
);
CREATE TABLE IF NOT EXISTS config_info_tag (
    id BIGSERIAL PRIMARY KEY,
    data_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL DEFAULT '',
    tag_id TEXT NOT NULL,
    app_name TEXT,
    content TEXT NOT NULL,
    md5 TEXT,
    gmt_create BIGINT NOT NULL,
    gmt_modified BIGINT NOT NULL,
    src_user TEXT,
    src_ip TEXT,
    UNIQUE (data_id, group_id, tenant_id, tag_id)
);
CREATE TABLE IF NOT EXISTS config_tags_relation (
    id BIGINT NOT NULL,
    tag_name TEXT NOT NULL,
    tag_type TEXT,
    data_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL DEFAULT '',
    nid BIGSERIAL PRIMARY KEY,
    UNIQUE (id, tag_name, tag_type)
);
CREATE INDEX IF NOT EXISTS idx_tags_tenant ON config_tags_relation (tenant_id);
CREATE INDEX IF NOT EXISTS idx_config_tenant_data ON config_info (tenant_id, data_id);
CREATE INDEX IF NOT EXISTS idx_config_tenant_group ON config_info (tenant_id, group_id);
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    password TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE
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
    secret BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS tenant_info (
    id BIGSERIAL PRIMARY KEY,
    kp TEXT NOT NULL,
    tenant_id TEXT NOT NULL DEFAULT '',
    tenant_name TEXT DEFAULT '',
    tenant_desc TEXT,
    create_source TEXT,
    gmt_create BIGINT NOT NULL,
    gmt_modified BIGINT NOT NULL,
    UNIQUE (kp, tenant_id)
);
CREATE TABLE IF NOT EXISTS vigil_change_seq (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO vigil_change_seq (id, seq) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
CREATE TABLE IF NOT EXISTS vigil_change_log (
    seq BIGINT PRIMARY KEY,
    kind TEXT NOT NULL,
    data_id TEXT NOT NULL DEFAULT '',
    group_id TEXT NOT NULL DEFAULT '',
    tenant_id TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS vigil_nodes (
    node_id TEXT PRIMARY KEY,
    addr TEXT NOT NULL,
    last_seen TIMESTAMPTZ NOT NULL DEFAULT now()
);
";

/// Advisory-lock keys (arbitrary constants, one per purpose).
pub(super) const LOCK_SCHEMA: i64 = 0x7669_6769_6c00_0001;
pub(super) const LOCK_PURGE: i64 = 0x7669_6769_6c00_0002;

/// The channel `NOTIFY` carries change numbers on.
pub(super) const CHANNEL: &str = "vigil_changes";
