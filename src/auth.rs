//! Authentication and authorisation as pure functions: signed access tokens,
//! the credential-cache key, and permission checks over a snapshot of the
//! users, roles and permissions tables (spec §8).
//!
//! Tokens are `base64url(user).expiry.base64url(HMAC-SHA256(secret,
//! user.expiry))`: unguessable without the server's secret, checkable on any
//! reactor without a lock or a lookup, and URL-safe (the Go SDK puts them in
//! query strings unescaped). Password hashes (bcrypt) are checked off the
//! reactors; a reactor remembers a verified (user, password) pair only as an
//! HMAC under the secret, never the password itself.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;

type HmacSha256 = Hmac<Sha256>;

/// The role that may do everything.
pub const ADMIN_ROLE: &str = "ROLE_ADMIN";

/// The server's signing secret and token lifetime.
#[derive(Clone)]
pub struct AuthKeys {
    secret: [u8; 32],
    pub ttl_secs: u64,
}

impl std::fmt::Debug for AuthKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthKeys")
            .field("ttl_secs", &self.ttl_secs)
            .finish()
    }
}

/// Why a request is refused; `Display` is Nacos's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    UnknownUser,
    UserNotFound,
    TokenInvalid,
    TokenExpired,
    Forbidden,
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AuthError::UnknownUser => "unknown user!",
            AuthError::UserNotFound => "user not found!",
            AuthError::TokenInvalid => "token invalid!",
            AuthError::TokenExpired => "token expired!",
            AuthError::Forbidden => "authorization failed!",
        })
    }
}

impl AuthKeys {
    pub fn new(secret: [u8; 32], ttl_secs: u64) -> AuthKeys {
        AuthKeys { secret, ttl_secs }
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length, so this cannot fail.
        HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length")
    }

    /// A token for `user`, valid for `ttl_secs` from `now_secs`.
    pub fn sign(&self, user: &str, now_secs: u64) -> String {
        let expiry = now_secs + self.ttl_secs;
        let mut mac = self.mac();
        mac.update(format!("{user}.{expiry}").as_bytes());
        let sig = mac.finalize().into_bytes();
        format!(
            "{}.{expiry}.{}",
            URL_SAFE_NO_PAD.encode(user),
            URL_SAFE_NO_PAD.encode(sig)
        )
    }

    /// The user a token names, if it is genuine and unexpired.
    pub fn verify(&self, token: &str, now_secs: u64) -> Result<String, AuthError> {
        let mut parts = token.split('.');
        let (Some(user), Some(expiry), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::TokenInvalid);
        };
        let user = URL_SAFE_NO_PAD
            .decode(user)
            .ok()
            .and_then(|u| String::from_utf8(u).ok())
            .ok_or(AuthError::TokenInvalid)?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| AuthError::TokenInvalid)?;
        let mut mac = self.mac();
        mac.update(format!("{user}.{expiry}").as_bytes());
        mac.verify_slice(&sig)
            .map_err(|_| AuthError::TokenInvalid)?;
        let expiry: u64 = expiry.parse().map_err(|_| AuthError::TokenInvalid)?;
        if expiry <= now_secs {
            return Err(AuthError::TokenExpired);
        }
        Ok(user)
    }

    /// The key under which a reactor remembers the verdict on a
    /// (user, password) pair: an HMAC, so the password is never kept.
    pub fn credential_key(&self, user: &str, password: &str) -> [u8; 32] {
        let mut mac = self.mac();
        mac.update(b"credential\0");
        mac.update(user.as_bytes());
        mac.update(b"\0");
        mac.update(password.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// Read or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// One row of the permissions table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub role: String,
    /// `tenant:group:config/dataId`, `*` matching any run of characters.
    pub resource: String,
    /// `r`, `w` or `rw`.
    pub action: String,
}

/// A snapshot of the users, roles and permissions tables.
#[derive(Debug, Clone, Default)]
pub struct AuthState {
    /// User name -> its roles.
    pub users: HashMap<String, Vec<String>>,
    pub permissions: Vec<Permission>,
}

/// `*` matches any run of characters; everything else matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

/// What a config request touches: its namespace, and `group:config/dataId`
/// (Nacos's resource string is the two joined by `:`).
///
/// The two parts are kept apart because tenants, groups and dataIds may
/// themselves contain `:`: matched as one string, a grant on `dev:*:*` would
/// also cover a tenant named `dev:x`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub tenant: String,
    pub rest: String,
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.tenant, self.rest)
    }
}

/// The resource a config request touches (tenant already canonical).
pub fn config_resource(tenant: &str, group: Option<&str>, data_id: Option<&str>) -> Resource {
    let rest = match data_id.filter(|d| !d.trim().is_empty()) {
        None => "*:config/*".to_owned(),
        Some(d) => format!(
            "{}:config/{d}",
            group.filter(|g| !g.trim().is_empty()).unwrap_or("*")
        ),
    };
    Resource {
        tenant: tenant.to_owned(),
        rest,
    }
}

impl Permission {
    /// A granted resource `ns:rest` covers a request when its namespace part
    /// (up to the first `:`) matches the tenant and the rest matches the
    /// rest; a grant without `:` is matched against the whole string.
    pub fn covers(&self, r: &Resource) -> bool {
        match self.resource.split_once(':') {
            Some((ns, rest)) => glob_match(ns, &r.tenant) && glob_match(rest, &r.rest),
            None => glob_match(&self.resource, &r.to_string()),
        }
    }
}

impl AuthState {
    pub fn exists(&self, user: &str) -> bool {
        self.users.contains_key(user)
    }

    pub fn is_admin(&self, user: &str) -> bool {
        self.users
            .get(user)
            .is_some_and(|roles| roles.iter().any(|r| r == ADMIN_ROLE))
    }

    /// Whether `user` may perform `access` on `resource`.
    pub fn allows(&self, user: &str, resource: &Resource, access: Access) -> bool {
        let Some(roles) = self.users.get(user) else {
            return false;
        };
        if roles.iter().any(|r| r == ADMIN_ROLE) {
            return true;
        }
        let want = match access {
            Access::Read => 'r',
            Access::Write => 'w',
        };
        self.permissions
            .iter()
            .any(|p| roles.contains(&p.role) && p.action.contains(want) && p.covers(resource))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_tampering_and_expiry() {
        let keys = AuthKeys::new([7; 32], 100);
        let t = keys.sign("nacos", 1000);
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "{t}"
        );
        assert_eq!(keys.verify(&t, 1050), Ok("nacos".into()));
        assert_eq!(keys.verify(&t, 1100), Err(AuthError::TokenExpired));
        let other = AuthKeys::new([8; 32], 100);
        assert_eq!(other.verify(&t, 1050), Err(AuthError::TokenInvalid));
        // Changing the user or the expiry breaks the signature.
        let parts: Vec<&str> = t.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode("admin"),
            parts[1],
            parts[2]
        );
        assert_eq!(keys.verify(&forged, 1050), Err(AuthError::TokenInvalid));
        let extended = format!("{}.{}.{}", parts[0], 99999, parts[2]);
        assert_eq!(keys.verify(&extended, 1050), Err(AuthError::TokenInvalid));
        for junk in ["", "a.b", "a.b.c.d", "nacos"] {
            assert_eq!(keys.verify(junk, 0), Err(AuthError::TokenInvalid));
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match("dev:*:*", "dev:G:config/a"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*c*e", "abcde"));
        assert!(!glob_match("dev:*:*", "prod:G:config/a"));
        assert!(!glob_match("abc", "abcd"));
    }

    #[test]
    fn permissions() {
        let mut s = AuthState::default();
        s.users.insert("admin".into(), vec![ADMIN_ROLE.into()]);
        s.users.insert("dev".into(), vec!["devs".into()]);
        s.users.insert("nobody".into(), vec![]);
        s.permissions.push(Permission {
            role: "devs".into(),
            resource: "dev:*:*".into(),
            action: "r".into(),
        });
        let res = config_resource("dev", Some("G"), Some("a"));
        assert_eq!(res.to_string(), "dev:G:config/a");
        assert!(s.allows("admin", &config_resource("x", None, None), Access::Write));
        assert!(s.allows("dev", &res, Access::Read));
        assert!(!s.allows("dev", &res, Access::Write));
        assert!(!s.allows(
            "dev",
            &config_resource("", Some("G"), Some("a")),
            Access::Read
        ));
        assert!(!s.allows("nobody", &res, Access::Read));
        assert!(!s.allows("ghost", &res, Access::Read));
        assert_eq!(
            config_resource("dev", None, None).to_string(),
            "dev:*:config/*"
        );
        // A tenant containing the separator is not covered by a grant on
        // its prefix.
        assert!(!s.allows(
            "dev",
            &config_resource("dev:x", Some("G"), Some("a")),
            Access::Read
        ));
    }

    #[test]
    fn credential_keys_depend_on_both_parts() {
        let keys = AuthKeys::new([1; 32], 1);
        assert_ne!(keys.credential_key("a", "b"), keys.credential_key("a", "c"));
        assert_ne!(keys.credential_key("ab", ""), keys.credential_key("a", "b"));
    }
}
