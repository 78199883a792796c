//! Who is calling: browser sessions (an HttpOnly, SameSite=Strict cookie plus a CSRF token for
//! writes), API tokens (`Authorization: Bearer`), and the login rate limit.
//!
//! Secrets are 256 random bits; the store keeps only their SHA-256, so reading the database
//! does not let anyone sign in. Resolved credentials are cached for a few seconds so that a
//! request costs no database read; logging out and revoking a token drop the cache entry at
//! once.

use crate::AppState;
use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use concord_store::{Credential, CredentialKind, User};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie's name.
pub(crate) const COOKIE: &str = "concord_session";
/// The header a cookie-authenticated write must carry.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";
/// How long a resolved credential is trusted without reading the store again (a role change
/// or a revocation made by another process takes effect within this).
const CACHE_TTL: Duration = Duration::from_secs(5);

/// A fresh secret: 32 random bytes from the operating system, hex.
pub(crate) fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    hex::encode(bytes)
}

/// Hex SHA-256 of a secret (what the store keeps).
pub(crate) fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares two secrets in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The caller of a request, authenticated.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// The user.
    pub(crate) user: User,
    /// The credential used.
    pub(crate) credential: Credential,
}

/// Resolved credentials, by the SHA-256 of their secret.
#[derive(Debug, Default)]
pub(crate) struct Credentials {
    cache: Mutex<HashMap<String, (Credential, User, Instant)>>,
}

impl Credentials {
    /// Forgets a credential (after logout or revocation).
    pub(crate) fn forget(&self, token_sha256: &str) {
        self.cache
            .lock()
            .expect("credential cache")
            .remove(token_sha256);
    }

    /// Forgets every credential of a user (after revoking one of their tokens by id).
    pub(crate) fn forget_user(&self, user_id: i64) {
        self.cache
            .lock()
            .expect("credential cache")
            .retain(|_, (c, _, _)| c.user_id != user_id);
    }
}

/// The secret a request presents, and how.
fn presented(headers: &HeaderMap) -> Option<(String, CredentialKind)> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let token = value.strip_prefix("Bearer ")?.trim();
        return (!token.is_empty()).then(|| (token.to_string(), CredentialKind::Token));
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| (value.to_string(), CredentialKind::Session))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some((secret, how)) = presented(&parts.headers) else {
            return Err(ApiError::unauthorized(
                "sign in first (POST /api/login) or send `Authorization: Bearer <token>`",
            ));
        };
        let key = digest(&secret);
        let now = state.core.now();
        let cached = state
            .sessions
            .cache
            .lock()
            .expect("credential cache")
            .get(&key)
            .filter(|(_, _, at)| at.elapsed() < CACHE_TTL)
            .map(|(c, u, _)| (c.clone(), u.clone()));
        let (credential, user) = match cached {
            Some(found) => found,
            None => {
                let credential = state.core.store().credential(&key).await?.ok_or_else(|| {
                    ApiError::unauthorized("the session or token is not known; sign in again")
                })?;
                let user = state.core.store().user_by_id(credential.user_id).await?;
                state
                    .sessions
                    .cache
                    .lock()
                    .expect("credential cache")
                    .insert(key, (credential.clone(), user.clone(), Instant::now()));
                (credential, user)
            }
        };
        // A cookie must hold a session and a bearer header a token: a stolen session secret
        // replayed as a bearer token would skip the CSRF check below.
        if credential.kind != how {
            return Err(ApiError::unauthorized(
                "this credential is not valid here (sessions are cookies; API tokens are bearer tokens)",
            ));
        }
        if !credential.is_valid(now) {
            return Err(ApiError::unauthorized(
                "the session has expired or was revoked; sign in again",
            ));
        }
        if user.disabled {
            return Err(ApiError::unauthorized("the account is disabled"));
        }
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe && credential.kind == CredentialKind::Session {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let expected = credential.csrf_token.as_deref().unwrap_or("");
            if expected.is_empty() || !same_secret(sent, expected) {
                return Err(ApiError::forbidden(
                    "missing or wrong X-CSRF-Token header (a write with the session cookie must \
                     send the csrf_token that login and GET /api/me return)",
                ));
            }
        }
        Ok(Caller { user, credential })
    }
}

/// Login attempts allowed within a window, per account and per client address. Failures count;
/// once either budget is spent, every attempt (even with the right password) is refused with
/// `429` until the oldest failure leaves the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failed logins per account within the window.
    pub per_account: usize,
    /// Failed logins per client address within the window.
    pub per_address: usize,
    /// The window.
    pub window: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            per_account: 5,
            per_address: 20,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Recent failed logins, per account and per address.
#[derive(Debug)]
pub(crate) struct LoginLimiter {
    limits: LoginLimits,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginLimiter {
    pub(crate) fn new(limits: LoginLimits) -> Self {
        Self {
            limits,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(account: &str, address: IpAddr) -> [(String, bool); 2] {
        [
            (format!("account:{account}"), true),
            (format!("address:{address}"), false),
        ]
    }

    /// `Some(seconds to wait)` when either budget is spent.
    pub(crate) fn blocked(&self, account: &str, address: IpAddr) -> Option<u64> {
        let mut failures = self.failures.lock().expect("login limiter");
        let now = Instant::now();
        let mut wait = None;
        for (key, is_account) in Self::keys(account, address) {
            let Some(times) = failures.get_mut(&key) else {
                continue;
            };
            while times
                .front()
                .is_some_and(|t| now.duration_since(*t) >= self.limits.window)
            {
                times.pop_front();
            }
            let limit = if is_account {
                self.limits.per_account
            } else {
                self.limits.per_address
            };
            if times.len() >= limit {
                let oldest = *times.front().expect("non-empty");
                let left = self
                    .limits
                    .window
                    .saturating_sub(now.duration_since(oldest));
                let seconds = left.as_secs().max(1);
                wait = Some(wait.map_or(seconds, |w: u64| w.max(seconds)));
            }
        }
        wait
    }

    /// Counts a failed login.
    pub(crate) fn failed(&self, account: &str, address: IpAddr) {
        let mut failures = self.failures.lock().expect("login limiter");
        for (key, _) in Self::keys(account, address) {
            failures.entry(key).or_default().push_back(Instant::now());
        }
    }
}
