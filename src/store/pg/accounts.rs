//! Users, roles, permissions, namespaces and the token-signing secret on
//! PostgreSQL: the same rows as the SQLite store's `accounts`, and the
//! account statements of the rules ([`AccountRows`]).

use super::db::Db;
use super::OpError;
use crate::auth::{AuthKeys, AuthState, Permission, ADMIN_ROLE};
use crate::store::rules::{hash_password, AccountRows};
use crate::store::StoreError;
use postgres::{Error, GenericClient};

/// The token-signing secret, shared by every node: the first node to start
/// creates it, the others read it (so a token from one node works on all).
pub(super) fn auth_keys(
    c: &mut Db<'_, impl GenericClient>,
    ttl_secs: u64,
) -> Result<AuthKeys, StoreError> {
    let fail = |e: Error| StoreError(format!("cannot read the auth key from PostgreSQL: {e}"));
    let mut secret = [0u8; 32];
    getrandom::getrandom(&mut secret)
        .map_err(|e| StoreError(format!("no randomness for the auth key: {e}")))?;
    c.execute(
        "INSERT INTO vigil_auth_key (id, secret) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
        &[&secret.to_vec()],
    )
    .map_err(fail)?;
    let row = c
        .query_one("SELECT secret FROM vigil_auth_key WHERE id = 1", &[])
        .map_err(fail)?;
    let stored: Vec<u8> = row.try_get(0).map_err(fail)?;
    let secret = <[u8; 32]>::try_from(stored.as_slice())
        .map_err(|_| StoreError("the stored auth key is not 32 bytes".into()))?;
    Ok(AuthKeys::new(secret, ttl_secs))
}

/// With auth on, makes sure an administrator exists (see the SQLite store).
pub(super) fn ensure_admin(
    c: &mut Db<'_, impl GenericClient>,
    user: &str,
    password: Option<&str>,
) -> Result<(), StoreError> {
    let fail = |e: Error| StoreError(format!("cannot set up users in PostgreSQL: {e}"));
    let count = |c: &mut dyn FnMut() -> Result<postgres::Row, Error>| -> Result<i64, StoreError> {
        c().map_err(fail)?.try_get(0).map_err(fail)
    };
    let users = count(&mut || c.query_one("SELECT count(*) FROM users", &[]))?;
    match password {
        Some(p) if !p.is_empty() => {
            let hash = hash_password(p).map_err(|e| StoreError(e.to_string()))?;
            let n = c
                .execute(
                    "INSERT INTO users (username, password, enabled) VALUES ($1, $2, TRUE) ON CONFLICT (username) DO NOTHING",
                    &[&user, &hash],
                )
                .map_err(fail)?;
            c.execute(
                "INSERT INTO roles (username, role) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&user, &ADMIN_ROLE],
            )
            .map_err(fail)?;
            if n > 0 {
                log::info!("created admin user {user}");
            }
            Ok(())
        }
        Some(_) => Err(StoreError("the admin password must not be empty".into())),
        None if users == 0 => Err(StoreError(
            "auth is on but PostgreSQL has no users: give the first admin's password with --auth-admin-password or VIGIL_AUTH_ADMIN_PASSWORD".into(),
        )),
        None => Ok(()),
    }
}

/// The users, roles and permissions tables as a snapshot.
pub(super) fn load_auth_state(c: &mut Db<'_, impl GenericClient>) -> Result<AuthState, Error> {
    let mut state = AuthState::default();
    for r in c.query("SELECT username FROM users WHERE enabled", &[])? {
        state.users.insert(r.try_get(0)?, Vec::new());
    }
    for r in c.query("SELECT username, role FROM roles", &[])? {
        let user: String = r.try_get(0)?;
        if let Some(roles) = state.users.get_mut(&user) {
            roles.push(r.try_get(1)?);
        }
    }
    for r in c.query("SELECT role, resource, action FROM permissions", &[])? {
        state.permissions.push(Permission {
            role: r.try_get(0)?,
            resource: r.try_get(1)?,
            action: r.try_get(2)?,
        });
    }
    Ok(state)
}

impl<C: GenericClient> AccountRows for Db<'_, C> {
    fn namespace_create(
        &mut self,
        id: &str,
        name: &str,
        desc: Option<&str>,
        now: i64,
    ) -> Result<bool, OpError> {
        let n = self.execute(
            "INSERT INTO tenant_info (kp, tenant_id, tenant_name, tenant_desc, create_source, gmt_create, gmt_modified)
             VALUES ('1', $1, $2, $3, 'nacos', $4, $4) ON CONFLICT (kp, tenant_id) DO NOTHING",
            &[&id, &name, &desc, &now],
        )?;
        Ok(n > 0)
    }

    fn namespace_update(
        &mut self,
        id: &str,
        name: &str,
        desc: Option<&str>,
        now: i64,
    ) -> Result<(), OpError> {
        self.execute(
            "UPDATE tenant_info SET tenant_name = $2, tenant_desc = $3, gmt_modified = $4 WHERE kp = '1' AND tenant_id = $1",
            &[&id, &name, &desc, &now],
        )?;
        Ok(())
    }

    fn namespace_delete(&mut self, id: &str) -> Result<(), OpError> {
        self.execute(
            "DELETE FROM tenant_info WHERE kp = '1' AND tenant_id = $1",
            &[&id],
        )?;
        Ok(())
    }

    fn user_create(&mut self, username: &str, hash: &str) -> Result<bool, OpError> {
        let n = self.execute(
            "INSERT INTO users (username, password, enabled) VALUES ($1, $2, TRUE) ON CONFLICT (username) DO NOTHING",
            &[&username, &hash],
        )?;
        Ok(n > 0)
    }

    fn user_update(&mut self, username: &str, hash: &str) -> Result<(), OpError> {
        self.execute(
            "UPDATE users SET password = $2 WHERE username = $1",
            &[&username, &hash],
        )?;
        Ok(())
    }

    fn user_delete(&mut self, username: &str) -> Result<(), OpError> {
        self.execute("DELETE FROM users WHERE username = $1", &[&username])?;
        self.execute("DELETE FROM roles WHERE username = $1", &[&username])?;
        Ok(())
    }

    fn role_add(&mut self, role: &str, username: &str) -> Result<(), OpError> {
        self.execute(
            "INSERT INTO roles (username, role) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&username, &role],
        )?;
        Ok(())
    }

    fn role_delete(&mut self, role: &str, username: Option<&str>) -> Result<(), OpError> {
        match username {
            Some(u) => self.execute(
                "DELETE FROM roles WHERE role = $1 AND username = $2",
                &[&role, &u],
            )?,
            None => self.execute("DELETE FROM roles WHERE role = $1", &[&role])?,
        };
        Ok(())
    }

    fn permission_add(&mut self, role: &str, resource: &str, action: &str) -> Result<(), OpError> {
        self.execute(
            "INSERT INTO permissions (role, resource, action) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&role, &resource, &action],
        )?;
        Ok(())
    }

    fn permission_delete(
        &mut self,
        role: &str,
        resource: &str,
        action: &str,
    ) -> Result<(), OpError> {
        self.execute(
            "DELETE FROM permissions WHERE role = $1 AND resource = $2 AND action = $3",
            &[&role, &resource, &action],
        )?;
        Ok(())
    }
}
