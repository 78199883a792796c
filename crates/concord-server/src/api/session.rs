//! Signing in and out, API tokens, and the caller's projects.

use super::ApiJson;
use crate::AppState;
use crate::auth::{COOKIE, Caller, digest, new_secret};
use crate::error::ApiError;
use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use concord_store::{CredentialKind, NewCredential, NewEvent, StoreError};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use utoipa::ToSchema;

/// A login request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    /// Login name.
    username: String,
    /// Password.
    password: String,
}

/// The signed-in user.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserInfo {
    /// Login name.
    name: String,
    /// Name shown.
    display_name: String,
    /// Roles held.
    roles: Vec<String>,
}

/// The answer to a login.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LoginResponse {
    user: UserInfo,
    /// Send it as `X-CSRF-Token` with every write made with the session cookie.
    csrf_token: String,
}

/// The caller, their CSRF token and projects.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Me {
    name: String,
    display_name: String,
    roles: Vec<String>,
    /// The session's CSRF token (`null` for API tokens, which need none).
    csrf_token: Option<String>,
    /// Projects the caller may open.
    projects: Vec<String>,
}

/// A project the caller may open.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProjectEntry {
    name: String,
    /// The caller's roles (roles are global; membership says where they apply).
    roles: Vec<String>,
}

/// A token to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewToken {
    /// What the token is for (shown in the list).
    name: String,
    /// Days until it expires (default: until revoked).
    #[serde(default)]
    expires_in_days: Option<u32>,
}

/// A created token: the secret is shown only here.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedToken {
    id: i64,
    name: String,
    /// Send as `Authorization: Bearer <token>`.
    token: String,
    expires_at: Option<i64>,
}

/// One of the caller's tokens (never the secret).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenEntry {
    id: i64,
    name: String,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
}

fn roles(user: &concord_store::User) -> Vec<String> {
    user.roles.iter().map(|r| r.as_str().to_string()).collect()
}

/// Signs in: sets the session cookie and returns the CSRF token.
#[utoipa::path(post, path = "/api/login", request_body = LoginRequest, tag = "session",
    responses((status = 200, body = LoginResponse), (status = 401), (status = 429)))]
pub(crate) async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let address = peer.ip();
    let store = state.core.store();
    let known = match store.user(&request.username).await {
        Ok(user) => Some(user),
        Err(StoreError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let refuse = |reason: String| NewEvent {
        actor: known.as_ref().map(|u| u.id),
        action: "login.refused".into(),
        entity: match &known {
            Some(u) => format!("user:{}", u.id),
            None => "login".into(),
        },
        before: None,
        after: None,
        reason: Some(reason),
        at: state.core.now(),
    };
    if let Some(wait) = state.limiter.blocked(&request.username, address) {
        store
            .record_event(refuse(format!("rate limited, from {address}")))
            .await?;
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed logins; try again in {wait} s"),
        );
        e.retry_after = Some(wait);
        return Err(e);
    }
    let user = match state
        .core
        .authenticate(&request.username, &request.password)
        .await
    {
        Ok(user) => user,
        Err(_) => {
            state.limiter.failed(&request.username, address);
            store
                .record_event(refuse(format!(
                    "wrong user name or password, from {address}"
                )))
                .await?;
            return Err(ApiError::unauthorized("wrong user name or password"));
        }
    };
    let secret = new_secret();
    let csrf = new_secret();
    let now = state.core.now();
    let ttl_ms = i64::try_from(state.config.session_ttl.as_millis()).unwrap_or(i64::MAX);
    store
        .create_credential(NewCredential {
            user_id: user.id,
            kind: CredentialKind::Session,
            name: "browser session".into(),
            token_sha256: digest(&secret),
            csrf_token: Some(csrf.clone()),
            expires_at: Some(now.saturating_add(ttl_ms)),
            reason: Some(format!("login from {address}")),
            now,
        })
        .await?;
    let cookie = format!(
        "{COOKIE}={secret}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
        state.config.session_ttl.as_secs(),
        if state.config.secure_cookie {
            "; Secure"
        } else {
            ""
        }
    );
    let body = LoginResponse {
        user: UserInfo {
            name: user.name.clone(),
            display_name: user.display_name.clone(),
            roles: roles(&user),
        },
        csrf_token: csrf,
    };
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).expect("cookie is ASCII"),
    );
    Ok(response)
}

/// Signs out: revokes the session and clears the cookie.
#[utoipa::path(post, path = "/api/logout", tag = "session", responses((status = 204)))]
pub(crate) async fn logout(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    state
        .core
        .store()
        .revoke_credential(caller.credential.id, caller.user.id, state.core.now())
        .await?;
    state.sessions.forget(&caller.credential.token_sha256);
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("concord_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    Ok(response)
}

/// The caller: name, roles, CSRF token and projects.
#[utoipa::path(get, path = "/api/me", tag = "session", responses((status = 200, body = Me), (status = 401)))]
pub(crate) async fn me(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Me>, ApiError> {
    let projects = state.core.projects_of(&caller.user).await?;
    Ok(Json(Me {
        name: caller.user.name.clone(),
        display_name: caller.user.display_name.clone(),
        roles: roles(&caller.user),
        csrf_token: caller.credential.csrf_token.clone(),
        projects,
    }))
}

/// The projects the caller may open.
#[utoipa::path(get, path = "/api/projects", tag = "session", responses((status = 200, body = Vec<ProjectEntry>)))]
pub(crate) async fn projects(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ProjectEntry>>, ApiError> {
    let names = state.core.projects_of(&caller.user).await?;
    Ok(Json(
        names
            .into_iter()
            .map(|name| ProjectEntry {
                name,
                roles: roles(&caller.user),
            })
            .collect(),
    ))
}

/// The caller's API tokens.
#[utoipa::path(get, path = "/api/tokens", tag = "session", responses((status = 200, body = Vec<TokenEntry>)))]
pub(crate) async fn tokens(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<TokenEntry>>, ApiError> {
    let list = state
        .core
        .store()
        .credentials(caller.user.id, CredentialKind::Token)
        .await?;
    Ok(Json(
        list.into_iter()
            .map(|c| TokenEntry {
                id: c.id,
                name: c.name,
                created_at: c.created_at,
                expires_at: c.expires_at,
                revoked_at: c.revoked_at,
            })
            .collect(),
    ))
}

/// Creates an API token for the caller; the secret is in this answer only.
#[utoipa::path(post, path = "/api/tokens", request_body = NewToken, tag = "session",
    responses((status = 201, body = CreatedToken)))]
pub(crate) async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    if request.name.trim().is_empty() {
        return Err(ApiError::bad_request("`name`: say what the token is for"));
    }
    let secret = new_secret();
    let now = state.core.now();
    let expires_at = request
        .expires_in_days
        .map(|days| now + i64::from(days) * 24 * 3600 * 1000);
    let credential = state
        .core
        .store()
        .create_credential(NewCredential {
            user_id: caller.user.id,
            kind: CredentialKind::Token,
            name: request.name.trim().to_string(),
            token_sha256: digest(&secret),
            csrf_token: None,
            expires_at,
            reason: None,
            now,
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            id: credential.id,
            name: credential.name,
            token: secret,
            expires_at,
        }),
    ))
}

/// Revokes one of the caller's tokens.
#[utoipa::path(delete, path = "/api/tokens/{id}", tag = "session",
    params(("id" = i64, Path, description = "the token's id")),
    responses((status = 204), (status = 404)))]
pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let store = state.core.store();
    let mine = store
        .credentials(caller.user.id, CredentialKind::Token)
        .await?
        .into_iter()
        .any(|c| c.id == id);
    if !mine {
        return Err(ApiError::not_found(format!("you have no token #{id}")));
    }
    store
        .revoke_credential(id, caller.user.id, state.core.now())
        .await?;
    state.sessions.forget_user(caller.user.id);
    Ok(StatusCode::NO_CONTENT)
}
