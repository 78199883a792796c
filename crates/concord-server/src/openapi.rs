//! The OpenAPI 3 document at `/api/openapi.json`, generated from the handlers' annotations and
//! the types they take and return.

use crate::api::{adjudicate, annotate, manage, retention, session};
use axum::Json;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Concord",
        description = "Multi-expert medical labeling: blinded assignment, consensus, adjudication. \
                       Sign in with POST /api/login (cookie session; send X-CSRF-Token on writes) \
                       or use an API token (Authorization: Bearer)."
    ),
    paths(
        session::login, session::logout, session::me, session::projects, session::tokens,
        session::create_token, session::revoke_token,
        annotate::next, annotate::submit, annotate::content, annotate::performance,
        adjudicate::queue, adjudicate::reads, adjudicate::decide,
        manage::protocol, manage::update_protocol, manage::import_items, manage::status,
        manage::annotators, manage::edge_cases, manage::consensus, manage::export,
        manage::releases, manage::create_release, manage::release_report, manage::provenance,
        retention::retention, retention::set_retention, retention::place_hold,
        retention::release_hold, retention::delete_project,
    ),
    modifiers(&Security),
    security(("session" = []), ("token" = [])),
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("concord_session"))),
        );
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document.
pub(crate) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
