//! The HTTP API under `/api`: one module per audience, each handler checking the caller's role
//! and project membership before calling the core.

pub(crate) mod adjudicate;
pub(crate) mod annotate;
pub(crate) mod manage;
pub(crate) mod retention;
pub(crate) mod session;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use concord_store::Role;
use serde::de::DeserializeOwned;

/// Trend windows of the leaderboard and "my performance": 20 labels each, at most 50 (wider
/// windows for a longer history), so the answer stays small at a million labels.
pub(crate) const TREND: concord_core::quality::Trend = concord_core::quality::Trend {
    window: 20,
    max_windows: Some(50),
};

/// Every API route, with the body limits.
pub(crate) fn routes(state: AppState) -> Router {
    let import_limit = state.config.import_limit;
    let body_limit = state.config.body_limit;
    let imports = Router::new()
        .route("/api/projects/{project}/items", post(manage::import_items))
        .layer(DefaultBodyLimit::max(import_limit));
    Router::new()
        .route("/api/openapi.json", get(crate::openapi::document))
        .route("/api/login", post(session::login))
        .route("/api/logout", post(session::logout))
        .route("/api/me", get(session::me))
        .route(
            "/api/tokens",
            get(session::tokens).post(session::create_token),
        )
        .route("/api/tokens/{id}", delete(session::revoke_token))
        .route("/api/projects", get(session::projects))
        .route(
            "/api/projects/{project}/protocol",
            get(manage::protocol).put(manage::update_protocol),
        )
        .route("/api/projects/{project}/next", post(annotate::next))
        .route(
            "/api/projects/{project}/items/{item}/content",
            get(annotate::content),
        )
        .route(
            "/api/projects/{project}/items/{item}/annotations",
            post(annotate::submit).get(adjudicate::reads),
        )
        .route("/api/projects/{project}/me", get(annotate::performance))
        .route(
            "/api/projects/{project}/adjudication",
            get(adjudicate::queue),
        )
        .route(
            "/api/projects/{project}/items/{item}/adjudication",
            post(adjudicate::decide),
        )
        .route("/api/projects/{project}/status", get(manage::status))
        .route(
            "/api/projects/{project}/annotators",
            get(manage::annotators),
        )
        .route(
            "/api/projects/{project}/edge-cases",
            get(manage::edge_cases),
        )
        .route("/api/projects/{project}/consensus", post(manage::consensus))
        .route("/api/projects/{project}/export", get(manage::export))
        .route(
            "/api/projects/{project}/releases",
            get(manage::releases).post(manage::create_release),
        )
        .route(
            "/api/projects/{project}/releases/{release}/report",
            get(manage::release_report),
        )
        .route(
            "/api/projects/{project}/items/{item}/provenance",
            get(manage::provenance),
        )
        .route("/api/projects/{project}", delete(retention::delete_project))
        .route(
            "/api/projects/{project}/retention",
            get(retention::retention).put(retention::set_retention),
        )
        .route("/api/projects/{project}/holds", post(retention::place_hold))
        .route(
            "/api/projects/{project}/holds/{hold}/release",
            post(retention::release_hold),
        )
        .layer(DefaultBodyLimit::max(body_limit))
        .merge(imports)
        .with_state(state)
}

/// A JSON body whose refusal is an [`ApiError`]: `400` naming the field for malformed or
/// mistyped JSON, `413` over the body limit, `415` without `Content-Type: application/json`.
#[derive(Debug)]
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_error(rejection)),
        }
    }
}

fn json_error(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is too large".to_string(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            "send the body as JSON with `Content-Type: application/json`".to_string()
        }
        _ => format!("malformed JSON body: {}", rejection.body_text()),
    };
    // Axum answers a well-formed body of the wrong shape with 422; to a client both are a bad
    // request, and the message says which field.
    let status = if status == StatusCode::UNPROCESSABLE_ENTITY {
        StatusCode::BAD_REQUEST
    } else {
        status
    };
    ApiError::new(status, message)
}

/// Refuses unless the caller holds one of `roles` (administrators hold every role).
pub(crate) fn need(caller: &Caller, roles: &[Role], what: &str) -> Result<(), ApiError> {
    if roles.iter().any(|&r| caller.user.has(r)) {
        return Ok(());
    }
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    Err(ApiError::forbidden(format!(
        "{} may not {what} (needs the {} role)",
        caller.user.name,
        names.join(" or ")
    )))
}

/// Refuses unless the caller may open the project (a member, or an administrator); a project
/// the caller may not open is answered like one that does not exist.
pub(crate) async fn member(
    state: &AppState,
    caller: &Caller,
    project: &str,
) -> Result<(), ApiError> {
    Ok(state.core.check_member(&caller.user, project).await?)
}

/// A submitted or decided value as the core takes it: a bare string as typed (a class id),
/// anything else as JSON text.
pub(crate) fn value_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
