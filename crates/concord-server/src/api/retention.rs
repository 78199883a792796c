//! The administrator's records API: retention periods, legal holds and logical deletion
//! (21 CFR 11.10(c)). Deleting a project under a legal hold answers `409 Conflict`, and the
//! refusal is in the audit trail.

use super::{ApiJson, member, need};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use axum::Json;
use axum::extract::{Path, State};
use concord_store::{LegalHold, Retention, Role};
use serde::Deserialize;
use utoipa::ToSchema;

/// A project's retention state: period (`days`, `null` for indefinite), holds, deletion, purge.
#[utoipa::path(get, path = "/api/projects/{project}/retention", tag = "admin",
    params(("project" = String, Path)),
    responses((status = 200, description = "the retention state", body = Object),
        (status = 403), (status = 404)))]
pub(crate) async fn retention(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Json<Retention>, ApiError> {
    need(
        &caller,
        &[Role::Manager, Role::Auditor],
        "see a project's retention",
    )?;
    member(&state, &caller, &project).await?;
    Ok(Json(state.core.retention(&project).await?))
}

/// A retention period to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetentionPeriod {
    /// Days the records are kept after the project is deleted; `null` for indefinitely.
    days: Option<u32>,
    /// Why (recorded in the audit trail; required).
    reason: String,
}

/// Sets how long a project's records are kept after its deletion.
#[utoipa::path(put, path = "/api/projects/{project}/retention", tag = "admin",
    params(("project" = String, Path)), request_body = RetentionPeriod,
    responses((status = 200, description = "the retention state", body = Object),
        (status = 400), (status = 403), (status = 409)))]
pub(crate) async fn set_retention(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    ApiJson(period): ApiJson<RetentionPeriod>,
) -> Result<Json<Retention>, ApiError> {
    need(&caller, &[Role::Admin], "change a project's retention")?;
    member(&state, &caller, &project).await?;
    let retention = state
        .core
        .set_retention(&caller.user, &project, period.days, &period.reason)
        .await?;
    Ok(Json(retention))
}

/// Why: a legal hold's matter, a release's or a deletion's reason.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Reason {
    /// Recorded in the audit trail; required.
    reason: String,
}

/// Places a legal hold: the project can be neither deleted nor purged until it is released.
#[utoipa::path(post, path = "/api/projects/{project}/holds", tag = "admin",
    params(("project" = String, Path)), request_body = Reason,
    responses((status = 200, description = "the hold", body = Object), (status = 400),
        (status = 403), (status = 409)))]
pub(crate) async fn place_hold(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    ApiJson(why): ApiJson<Reason>,
) -> Result<Json<LegalHold>, ApiError> {
    need(&caller, &[Role::Admin], "place legal holds")?;
    member(&state, &caller, &project).await?;
    let hold = state
        .core
        .place_hold(&caller.user, &project, &why.reason)
        .await?;
    Ok(Json(hold))
}

/// Releases a legal hold.
#[utoipa::path(post, path = "/api/projects/{project}/holds/{hold}/release", tag = "admin",
    params(("project" = String, Path), ("hold" = i64, Path)), request_body = Reason,
    responses((status = 200, description = "the retention state", body = Object),
        (status = 400), (status = 403), (status = 404)))]
pub(crate) async fn release_hold(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, hold)): Path<(String, i64)>,
    ApiJson(why): ApiJson<Reason>,
) -> Result<Json<Retention>, ApiError> {
    need(&caller, &[Role::Admin], "release legal holds")?;
    member(&state, &caller, &project).await?;
    let retention = state
        .core
        .release_hold(&caller.user, &project, hold, &why.reason)
        .await?;
    Ok(Json(retention))
}

/// Deletes a project logically (closed, records kept until the purge after the retention
/// period). `409` while a legal hold is in force; the refusal is audited.
#[utoipa::path(delete, path = "/api/projects/{project}", tag = "admin",
    params(("project" = String, Path)), request_body = Reason,
    responses((status = 200, description = "the retention state", body = Object),
        (status = 400), (status = 403), (status = 409)))]
pub(crate) async fn delete_project(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    ApiJson(why): ApiJson<Reason>,
) -> Result<Json<Retention>, ApiError> {
    need(&caller, &[Role::Admin], "delete projects")?;
    member(&state, &caller, &project).await?;
    let retention = state
        .core
        .delete_project(&caller.user, &project, &why.reason)
        .await?;
    Ok(Json(retention))
}
