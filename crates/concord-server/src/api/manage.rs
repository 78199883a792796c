//! The data lead's API: protocol, items, progress, annotator leaderboard, edge cases,
//! consensus runs, exports and releases.

use super::{ApiJson, member, need};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use concord_core::edge::EdgeCase;
use concord_core::protocol::Protocol;
use concord_core::provenance::Provenance;
use concord_core::quality::AnnotatorQuality;
use concord_core::release::{Purpose, ReleaseInfo};
use concord_core::service::{ExportRow, RunSummary, Status};
use concord_store::Role;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::Write as _;
use utoipa::{IntoParams, ToSchema};

/// The current protocol version.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProtocolView {
    /// Version number.
    version: i64,
    /// Tasks, classes with definitions and examples, decision rules.
    protocol: Protocol,
}

/// A new protocol version.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProtocolChange {
    /// The protocol, YAML or JSON text.
    protocol: String,
    /// What changed (required).
    note: String,
}

/// The saved version.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProtocolSaved {
    version: i64,
}

/// Items imported.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Imported {
    imported: usize,
}

/// How many edge cases.
#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct Top {
    /// At most this many (default 50).
    top: Option<usize>,
}

/// Export format.
#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct Format {
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// The project's current protocol: what every annotator labels against.
#[utoipa::path(get, path = "/api/projects/{project}/protocol", tag = "project",
    params(("project" = String, Path)), responses((status = 200, body = ProtocolView)))]
pub(crate) async fn protocol(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Json<ProtocolView>, ApiError> {
    member(&state, &caller, &project).await?;
    let (version, protocol) = state.core.current_protocol(&project).await?;
    Ok(Json(ProtocolView { version, protocol }))
}

/// Saves a new protocol version with a change note.
#[utoipa::path(put, path = "/api/projects/{project}/protocol", tag = "manager",
    params(("project" = String, Path)), request_body = ProtocolChange,
    responses((status = 200, body = ProtocolSaved), (status = 400)))]
pub(crate) async fn update_protocol(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    ApiJson(change): ApiJson<ProtocolChange>,
) -> Result<Json<ProtocolSaved>, ApiError> {
    need(&caller, &[Role::Manager], "change protocols")?;
    member(&state, &caller, &project).await?;
    let saved = state
        .core
        .update_protocol(&caller.user, &project, &change.protocol, &change.note, None)
        .await?;
    Ok(Json(ProtocolSaved {
        version: saved.version,
    }))
}

/// Imports items: the body is JSONL, one item per line (`{"id", "text"}`, `{"id", "uri"}`,
/// `{"id", "image"}` with an absolute path, optional `"gold"`). All or nothing.
#[utoipa::path(post, path = "/api/projects/{project}/items", tag = "manager",
    params(("project" = String, Path)),
    request_body(content = String, content_type = "application/x-ndjson"),
    responses((status = 200, body = Imported), (status = 400), (status = 413)))]
pub(crate) async fn import_items(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    body: String,
) -> Result<Json<Imported>, ApiError> {
    need(&caller, &[Role::Manager], "import items")?;
    member(&state, &caller, &project).await?;
    let mut file = tempfile::Builder::new()
        .prefix("concord-import-")
        .suffix(".jsonl")
        .tempfile()
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    file.write_all(body.as_bytes())
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let path = file.path().to_path_buf();
    match state.core.import_items(&caller.user, &project, &path).await {
        Ok(imported) => Ok(Json(Imported { imported })),
        Err(e) => {
            // The core names the file it read; to the client that file is the request body.
            let mut error = ApiError::from(e);
            error.message = error
                .message
                .replace(&path.display().to_string(), "request body");
            Err(error)
        }
    }
}

/// Progress: items by state, labels and cost per item, agreement, the latest run.
#[utoipa::path(get, path = "/api/projects/{project}/status", tag = "manager",
    params(("project" = String, Path)), responses((status = 200, body = Status)))]
pub(crate) async fn status(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Json<Status>, ApiError> {
    need(
        &caller,
        &[Role::Manager, Role::Auditor],
        "see a project's status",
    )?;
    member(&state, &caller, &project).await?;
    Ok(Json(state.core.status(&project).await?))
}

/// The annotator leaderboard: every annotator's quality with credible intervals.
#[utoipa::path(get, path = "/api/projects/{project}/annotators", tag = "manager",
    params(("project" = String, Path)), responses((status = 200, body = Vec<AnnotatorQuality>)))]
pub(crate) async fn annotators(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Json<Vec<AnnotatorQuality>>, ApiError> {
    need(&caller, &[Role::Manager], "see every annotator's quality")?;
    member(&state, &caller, &project).await?;
    Ok(Json(
        state
            .core
            .annotator_quality(&caller.user, &project, super::TREND)
            .await?,
    ))
}

/// The edge-case queue of the latest consensus run.
#[utoipa::path(get, path = "/api/projects/{project}/edge-cases", tag = "manager",
    params(("project" = String, Path), Top), responses((status = 200, body = Vec<EdgeCase>)))]
pub(crate) async fn edge_cases(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    Query(top): Query<Top>,
) -> Result<Json<Vec<EdgeCase>>, ApiError> {
    need(
        &caller,
        &[Role::Manager, Role::Adjudicator],
        "see the edge-case queue",
    )?;
    member(&state, &caller, &project).await?;
    let top = top.top.unwrap_or(50);
    match state
        .core
        .edge_cases(&caller.user, &project, Some(top))
        .await
    {
        Ok(cases) => Ok(Json(cases)),
        // Before the first run there is no queue yet: that is a state, not a bad request.
        Err(concord_core::service::CoreError::Invalid(message)) => {
            Err(ApiError::new(StatusCode::CONFLICT, message))
        }
        Err(e) => Err(e.into()),
    }
}

/// Runs consensus with the project's method.
#[utoipa::path(post, path = "/api/projects/{project}/consensus", tag = "manager",
    params(("project" = String, Path)), responses((status = 200, body = RunSummary)))]
pub(crate) async fn consensus(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Json<RunSummary>, ApiError> {
    need(&caller, &[Role::Manager], "run consensus")?;
    member(&state, &caller, &project).await?;
    Ok(Json(
        state.core.consensus(&caller.user, &project, None).await?,
    ))
}

/// The reference standard: JSON rows, or CSV with `?format=csv` (the columns of
/// `concord export`).
#[utoipa::path(get, path = "/api/projects/{project}/export", tag = "manager",
    params(("project" = String, Path), Format),
    responses((status = 200, body = Vec<ExportRow>)))]
pub(crate) async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    Query(format): Query<Format>,
) -> Result<Response, ApiError> {
    need(
        &caller,
        &[Role::Manager, Role::Auditor],
        "export the reference standard",
    )?;
    member(&state, &caller, &project).await?;
    let rows = state.core.export(&caller.user, &project).await?;
    match format.format.as_deref() {
        None | Some("json") => Ok(Json(rows).into_response()),
        Some("csv") => {
            let mut out = String::from("item,label,confidence,status,labels,run,cost\n");
            for row in rows {
                let label = match &row.label {
                    None => String::new(),
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                };
                let fields = [
                    row.item,
                    label,
                    row.confidence.map(|c| c.to_string()).unwrap_or_default(),
                    row.status,
                    row.labels.to_string(),
                    row.run.map(|r| r.to_string()).unwrap_or_default(),
                    row.cost.to_string(),
                ];
                let quoted: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                out.push_str(&quoted.join(","));
                out.push('\n');
            }
            let mut response = out.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            let disposition = format!("attachment; filename=\"{}.csv\"", project.replace('"', ""));
            if let Ok(value) = HeaderValue::from_str(&disposition) {
                headers.insert(header::CONTENT_DISPOSITION, value);
            }
            Ok(response)
        }
        Some(other) => Err(ApiError::bad_request(format!(
            "`format`: `{other}` is not `json` or `csv`"
        ))),
    }
}

/// One CSV field, quoted when it needs to be (RFC 4180).
fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// The project's releases, with their signatures.
#[utoipa::path(get, path = "/api/projects/{project}/releases", tag = "manager",
    params(("project" = String, Path)),
    responses((status = 200, description = "releases", body = Vec<Object>)))]
pub(crate) async fn releases(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Json<Vec<ReleaseInfo>>, ApiError> {
    need(&caller, &[Role::Manager, Role::Auditor], "list releases")?;
    member(&state, &caller, &project).await?;
    let list = state.core.releases(&caller.user, &project).await?;
    Ok(Json(list))
}

/// A release to cut.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewRelease {
    /// Its name (no spaces), unique in the project.
    name: String,
    /// `reference` (default), `train`, `tune` or `test` (sequestered: every export needs a
    /// reason and is counted).
    purpose: Option<String>,
    /// The manager's password: the release is signed ("approved") with it.
    password: String,
}

/// Freezes the current reference standard into a signed release.
#[utoipa::path(post, path = "/api/projects/{project}/releases", tag = "manager",
    params(("project" = String, Path)), request_body = NewRelease,
    responses((status = 200, description = "the release", body = Object), (status = 400),
        (status = 403), (status = 409)))]
pub(crate) async fn create_release(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    ApiJson(new): ApiJson<NewRelease>,
) -> Result<Json<ReleaseInfo>, ApiError> {
    need(&caller, &[Role::Manager], "cut releases")?;
    member(&state, &caller, &project).await?;
    let purpose = match new.purpose.as_deref() {
        None => Purpose::Reference,
        Some(p) => p
            .parse()
            .map_err(|e: String| ApiError::bad_request(format!("`purpose`: {e}")))?,
    };
    let info = state
        .core
        .create_release(&caller.user, &project, &new.name, purpose, &new.password)
        .await?;
    Ok(Json(info))
}

/// The truthing report of a release, as a self-contained HTML page (the audit chain is
/// verified as it is written).
#[utoipa::path(get, path = "/api/projects/{project}/releases/{release}/report", tag = "manager",
    params(("project" = String, Path), ("release" = String, Path)),
    responses((status = 200, content_type = "text/html", body = String), (status = 404),
        (status = 503)))]
pub(crate) async fn release_report(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, release)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    need(
        &caller,
        &[Role::Manager, Role::Auditor],
        "read truthing reports",
    )?;
    member(&state, &caller, &project).await?;
    let Some(verifier) = &state.config.audit_verifier else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "this server was started without the audit key or its public half: it cannot \
             verify the audit chain a truthing report states",
        ));
    };
    let report = state
        .core
        .truthing_report(&caller.user, &project, &release, verifier)
        .await?;
    let mut response = report.to_html().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // The report's own inline style and SVG figures, nothing else: no script runs in it.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
             frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

/// Everything that made an item's label: the reads with their readers' qualifications, the
/// consensus run with its parameters and the item's posterior, the signed adjudication, the
/// gold answer, the audit events. Managers, adjudicators and auditors.
#[utoipa::path(get, path = "/api/projects/{project}/items/{item}/provenance", tag = "manager",
    params(("project" = String, Path), ("item" = String, Path)),
    responses((status = 200, description = "the provenance", body = Object), (status = 404)))]
pub(crate) async fn provenance(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, item)): Path<(String, String)>,
) -> Result<Json<Provenance>, ApiError> {
    need(
        &caller,
        &[Role::Manager, Role::Adjudicator, Role::Auditor],
        "read provenance",
    )?;
    member(&state, &caller, &project).await?;
    let provenance = state.core.provenance(&caller.user, &project, &item).await?;
    Ok(Json(provenance))
}
