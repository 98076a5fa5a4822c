//! Users, roles, permissions, namespaces and the token-signing secret on
//! PostgreSQL: the same rows and rules as the SQLite store's `accounts`.

use super::db::Db;
use super::{OpError, Outcome};
use crate::auth::{AuthKeys, AuthState, Permission, ADMIN_ROLE};
use crate::msg::{AccountChange, WriteOp, Written};
use crate::store::StoreError;
use postgres::{Error, GenericClient};

/// bcrypt work factor: Nacos's own, so its password hashes carry over.
const BCRYPT_COST: u32 = 10;

fn hash_password(password: &str) -> Result<String, String> {
    bcrypt::hash(password, BCRYPT_COST).map_err(|e| format!("cannot hash a password: {e}"))
}

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
            let hash = hash_password(p).map_err(StoreError)?;
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

/// Applies one account or namespace write inside the open transaction.
pub(super) fn apply(
    c: &mut Db<'_, impl GenericClient>,
    op: &WriteOp,
    now: i64,
) -> Result<Outcome, OpError> {
    let hash = |p: &str| hash_password(p).map_err(OpError::Other);
    let account = |change| Ok(Outcome::auth(Written::Account(change)));
    match op {
        WriteOp::NamespaceCreate { id, name, desc } => {
            let n = c.execute(
                "INSERT INTO tenant_info (kp, tenant_id, tenant_name, tenant_desc, create_source, gmt_create, gmt_modified)
                 VALUES ('1', $1, $2, $3, 'nacos', $4, $4) ON CONFLICT (kp, tenant_id) DO NOTHING",
                &[id, name, desc, &now],
            )?;
            Ok(Outcome::new(Written::NamespaceCreated(n > 0), Vec::new()))
        }
        WriteOp::NamespaceUpdate { id, name, desc } => {
            c.execute(
                "UPDATE tenant_info SET tenant_name = $2, tenant_desc = $3, gmt_modified = $4 WHERE kp = '1' AND tenant_id = $1",
                &[id, name, desc, &now],
            )?;
            Ok(Outcome::new(Written::Done, Vec::new()))
        }
        WriteOp::NamespaceDelete { id } => {
            c.execute(
                "DELETE FROM tenant_info WHERE kp = '1' AND tenant_id = $1",
                &[id],
            )?;
            Ok(Outcome::new(Written::Done, Vec::new()))
        }
        WriteOp::UserCreate { username, password } => {
            let n = c.execute(
                "INSERT INTO users (username, password, enabled) VALUES ($1, $2, TRUE) ON CONFLICT (username) DO NOTHING",
                &[username, &hash(password)?],
            )?;
            if n == 0 {
                return Ok(Outcome::auth(Written::UserExists(username.clone())));
            }
            account(AccountChange::UserCreated)
        }
        WriteOp::UserUpdate { username, password } => {
            c.execute(
                "UPDATE users SET password = $2 WHERE username = $1",
                &[username, &hash(password)?],
            )?;
            account(AccountChange::UserUpdated)
        }
        WriteOp::UserDelete { username } => {
            c.execute("DELETE FROM users WHERE username = $1", &[username])?;
            c.execute("DELETE FROM roles WHERE username = $1", &[username])?;
            account(AccountChange::UserDeleted)
        }
        WriteOp::RoleAdd { role, username } => {
            c.execute(
                "INSERT INTO roles (username, role) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[username, role],
            )?;
            account(AccountChange::RoleAdded)
        }
        WriteOp::RoleDelete { role, username } => {
            match username {
                Some(u) => c.execute(
                    "DELETE FROM roles WHERE role = $1 AND username = $2",
                    &[role, u],
                )?,
                None => c.execute("DELETE FROM roles WHERE role = $1", &[role])?,
            };
            account(AccountChange::RoleDeleted)
        }
        WriteOp::PermissionAdd {
            role,
            resource,
            action,
        } => {
            c.execute(
                "INSERT INTO permissions (role, resource, action) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[role, resource, action],
            )?;
            account(AccountChange::PermissionAdded)
        }
        WriteOp::PermissionDelete {
            role,
            resource,
            action,
        } => {
            c.execute(
                "DELETE FROM permissions WHERE role = $1 AND resource = $2 AND action = $3",
                &[role, resource, action],
            )?;
            account(AccountChange::PermissionDeleted)
        }
        _ => Ok(Outcome::new(Written::Done, Vec::new())),
    }
}
