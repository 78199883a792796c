//! Concord's HTTP API and browser UI: the server behind `concord serve`.
//!
//! The API lives under `/api` (documented by the OpenAPI 3 document at `/api/openapi.json`,
//! generated from the handlers' types by [`utoipa`]); the UI's static files are embedded in the
//! binary and served at `/`. Every handler calls [`concord_core::Core`]: the server adds who
//! is calling (sessions, API tokens, CSRF, login rate limits), where they may go (role and
//! project membership), and HTTP.
//!
//! Invariants:
//! - an annotator never receives another annotator's annotation, the consensus, a gold answer
//!   before submitting, or an item not leased to them;
//! - a cookie-authenticated write carries the session's CSRF token (`X-CSRF-Token`);
//! - a refused request changes nothing: bodies are parsed and checked before the core is
//!   called, and the core's writes are single transactions.

#![warn(missing_docs)]

mod api;
mod auth;
pub mod demo;
mod error;
mod openapi;
mod ui;

pub use auth::LoginLimits;
pub use error::ApiError;

use axum::Router;
use concord_core::Core;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How the server behaves; [`ServerConfig::default`] is what `concord serve` uses.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// How long a browser session lasts after login.
    pub session_ttl: Duration,
    /// Login attempts allowed before answering `429`.
    pub login_limits: LoginLimits,
    /// The largest request body, except item imports.
    pub body_limit: usize,
    /// The largest item import.
    pub import_limit: usize,
    /// Whether the session cookie is marked `Secure` (behind HTTPS).
    pub secure_cookie: bool,
    /// What checks the audit chain for a release's truthing report (the audit key, or its
    /// public half); without it the report endpoint answers 503.
    pub audit_verifier: Option<concord_store::AuditVerifier>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(12 * 3600),
            login_limits: LoginLimits::default(),
            body_limit: 1 << 20,
            import_limit: 32 << 20,
            secure_cookie: false,
            audit_verifier: None,
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) core: Core,
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) sessions: Arc<auth::Credentials>,
    pub(crate) limiter: Arc<auth::LoginLimiter>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The whole application: the API, the OpenAPI document and the UI.
pub fn router(core: Core, config: ServerConfig) -> Router {
    let state = AppState {
        core,
        limiter: Arc::new(auth::LoginLimiter::new(config.login_limits)),
        config: Arc::new(config),
        sessions: Arc::new(auth::Credentials::default()),
    };
    api::routes(state.clone()).merge(ui::routes()).layer(
        tower_http::trace::TraceLayer::new_for_http()
            .make_span_with(tower_http::trace::DefaultMakeSpan::new().level(tracing::Level::INFO))
            .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO)),
    )
}

/// Serves `router` on `listener` until `shutdown` completes, then finishes the requests in
/// flight (graceful shutdown).
///
/// # Errors
/// When the listener fails.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
