//! Users, roles, permissions, namespaces and the token-signing secret: the
//! start-up set-up, the snapshot reactors check permissions against, and
//! the account statements of the rules ([`AccountRows`]).

use super::configs::Sql;
use super::Store;
use crate::auth::{AuthKeys, AuthState, Permission, ADMIN_ROLE};
use crate::store::rules::{hash_password, AccountRows, HashFailed};
use crate::store::StoreError;
use rusqlite::{params, Connection, OptionalExtension};

impl Store {
    /// The token-signing secret, created on first use and kept in the
    /// database so tokens outlive a restart.
    pub fn auth_keys(&self, ttl_secs: u64) -> Result<AuthKeys, StoreError> {
        let fail = |e: rusqlite::Error| {
            StoreError(format!(
                "cannot read the auth key from {}: {e}",
                self.path.display()
            ))
        };
        let stored: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT secret FROM vigil_auth_key WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(fail)?;
        if let Some(secret) = stored.and_then(|s| <[u8; 32]>::try_from(s.as_slice()).ok()) {
            return Ok(AuthKeys::new(secret, ttl_secs));
        }
        let mut secret = [0u8; 32];
        getrandom::getrandom(&mut secret)
            .map_err(|e| StoreError(format!("no randomness for the auth key: {e}")))?;
        self.conn
            .execute(
                "INSERT OR REPLACE INTO vigil_auth_key (id, secret) VALUES (1, ?1)",
                params![secret.to_vec()],
            )
            .map_err(fail)?;
        Ok(AuthKeys::new(secret, ttl_secs))
    }

    /// With auth on, makes sure an administrator exists: creates `user` with
    /// `password` when that user does not exist yet. With no users at all
    /// and no password given, refuses: there is no built-in default.
    pub fn ensure_admin(&self, user: &str, password: Option<&str>) -> Result<(), StoreError> {
        let fail = |e: rusqlite::Error| {
            StoreError(format!(
                "cannot set up users in {}: {e}",
                self.path.display()
            ))
        };
        let users: i64 = self
            .conn
            .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
            .map_err(fail)?;
        let exists: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM users WHERE username = ?1",
                params![user],
                |r| r.get(0),
            )
            .map_err(fail)?;
        match password {
            Some(p) if exists == 0 => {
                if p.is_empty() {
                    return Err(StoreError("the admin password must not be empty".into()));
                }
                self.conn
                    .execute("INSERT INTO users (username, password, enabled) VALUES (?1, ?2, 1)", params![user, hash_password(p).map_err(|e| fail(e.into()))?])
                    .map_err(fail)?;
                self.conn
                    .execute("INSERT OR IGNORE INTO roles (username, role) VALUES (?1, ?2)", params![user, ADMIN_ROLE])
                    .map_err(fail)?;
                log::info!("created admin user {user}");
                Ok(())
            }
            None if users == 0 => Err(StoreError(format!(
                "auth is on but {} has no users: give the first admin's password with --auth-admin-password or VIGIL_AUTH_ADMIN_PASSWORD",
                self.path.display()
            ))),
            _ => Ok(()),
        }
    }

    pub fn auth_state(&self) -> Result<AuthState, StoreError> {
        load_auth_state(&self.conn).map_err(|e| {
            StoreError(format!(
                "cannot read users from {}: {e}",
                self.path.display()
            ))
        })
    }
}

/// The users, roles and permissions tables as a snapshot.
pub(super) fn load_auth_state(conn: &Connection) -> rusqlite::Result<AuthState> {
    let mut state = AuthState::default();
    let mut stmt = conn.prepare_cached("SELECT username FROM users WHERE enabled = 1")?;
    for user in stmt.query_map([], |r| r.get::<_, String>(0))? {
        state.users.insert(user?, Vec::new());
    }
    let mut stmt = conn.prepare_cached("SELECT username, role FROM roles")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
        let (user, role) = row?;
        if let Some(roles) = state.users.get_mut(&user) {
            roles.push(role);
        }
    }
    let mut stmt = conn.prepare_cached("SELECT role, resource, action FROM permissions")?;
    for row in stmt.query_map([], |r| {
        Ok(Permission {
            role: r.get(0)?,
            resource: r.get(1)?,
            action: r.get(2)?,
        })
    })? {
        state.permissions.push(row?);
    }
    Ok(state)
}

impl AccountRows for Sql<'_> {
    fn namespace_create(
        &mut self,
        id: &str,
        name: &str,
        desc: Option<&str>,
        now: i64,
    ) -> rusqlite::Result<bool> {
        let n = self
            .0
            .prepare_cached(
                "INSERT OR IGNORE INTO tenant_info (kp, tenant_id, tenant_name, tenant_desc, create_source, gmt_create, gmt_modified)
                 VALUES ('1', ?1, ?2, ?3, 'nacos', ?4, ?4)",
            )?
            .execute(params![id, name, desc, now])?;
        Ok(n > 0)
    }

    fn namespace_update(
        &mut self,
        id: &str,
        name: &str,
        desc: Option<&str>,
        now: i64,
    ) -> rusqlite::Result<()> {
        self.0
            .prepare_cached(
                "UPDATE tenant_info SET tenant_name = ?2, tenant_desc = ?3, gmt_modified = ?4 WHERE kp = '1' AND tenant_id = ?1",
            )?
            .execute(params![id, name, desc, now])?;
        Ok(())
    }

    fn namespace_delete(&mut self, id: &str) -> rusqlite::Result<()> {
        self.0
            .prepare_cached("DELETE FROM tenant_info WHERE kp = '1' AND tenant_id = ?1")?
            .execute(params![id])?;
        Ok(())
    }

    fn user_create(&mut self, username: &str, hash: &str) -> rusqlite::Result<bool> {
        let n = self
            .0
            .prepare_cached(
                "INSERT OR IGNORE INTO users (username, password, enabled) VALUES (?1, ?2, 1)",
            )?
            .execute(params![username, hash])?;
        Ok(n > 0)
    }

    fn user_update(&mut self, username: &str, hash: &str) -> rusqlite::Result<()> {
        self.0
            .prepare_cached("UPDATE users SET password = ?2 WHERE username = ?1")?
            .execute(params![username, hash])?;
        Ok(())
    }

    fn user_delete(&mut self, username: &str) -> rusqlite::Result<()> {
        self.0
            .prepare_cached("DELETE FROM users WHERE username = ?1")?
            .execute(params![username])?;
        self.0
            .prepare_cached("DELETE FROM roles WHERE username = ?1")?
            .execute(params![username])?;
        Ok(())
    }

    fn role_add(&mut self, role: &str, username: &str) -> rusqlite::Result<()> {
        self.0
            .prepare_cached("INSERT OR IGNORE INTO roles (username, role) VALUES (?1, ?2)")?
            .execute(params![username, role])?;
        Ok(())
    }

    fn role_delete(&mut self, role: &str, username: Option<&str>) -> rusqlite::Result<()> {
        match username {
            Some(u) => self
                .0
                .prepare_cached("DELETE FROM roles WHERE role = ?1 AND username = ?2")?
                .execute(params![role, u])?,
            None => self
                .0
                .prepare_cached("DELETE FROM roles WHERE role = ?1")?
                .execute(params![role])?,
        };
        Ok(())
    }

    fn permission_add(&mut self, role: &str, resource: &str, action: &str) -> rusqlite::Result<()> {
        self.0
            .prepare_cached(
                "INSERT OR IGNORE INTO permissions (role, resource, action) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![role, resource, action])?;
        Ok(())
    }

    fn permission_delete(
        &mut self,
        role: &str,
        resource: &str,
        action: &str,
    ) -> rusqlite::Result<()> {
        self.0
            .prepare_cached(
                "DELETE FROM permissions WHERE role = ?1 AND resource = ?2 AND action = ?3",
            )?
            .execute(params![role, resource, action])?;
        Ok(())
    }
}

/// A password that cannot be hashed fails its write as a conversion error.
impl From<HashFailed> for rusqlite::Error {
    fn from(e: HashFailed) -> rusqlite::Error {
        rusqlite::Error::ToSqlConversionFailure(Box::new(e))
    }
}
