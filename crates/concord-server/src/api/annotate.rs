//! The annotator's API: lease the next item, see its content, submit, and their own
//! performance. Nothing here returns anyone else's label, the consensus, or a gold answer
//! before the annotator's own submission.

use super::{ApiJson, member, need};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use concord_core::quality::AnnotatorQuality;
use concord_core::service::{Receipt, Task};
use concord_store::Role;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

/// A submission.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Submission {
    /// The value: an object keyed by task id (`{"finding": "effusion"}`), or for a one-task
    /// protocol the bare value (`"effusion"`); `{"uncertain": true}` where allowed.
    value: Value,
    /// Time spent on the item, in milliseconds.
    #[serde(default)]
    time_spent_ms: Option<i64>,
}

/// Leases the next item for the caller: `204` when nothing is left for them.
#[utoipa::path(post, path = "/api/projects/{project}/next", tag = "annotator",
    params(("project" = String, Path)),
    responses((status = 200, body = Task), (status = 204), (status = 403)))]
pub(crate) async fn next(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Response, ApiError> {
    need(&caller, &[Role::Annotator], "label items")?;
    member(&state, &caller, &project).await?;
    Ok(match state.core.next(&project, &caller.user).await? {
        Some(task) => Json(task).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// Submits the caller's label for an item they hold the lease on.
#[utoipa::path(post, path = "/api/projects/{project}/items/{item}/annotations", tag = "annotator",
    params(("project" = String, Path), ("item" = String, Path)), request_body = Submission,
    responses((status = 200, body = Receipt), (status = 400), (status = 409)))]
pub(crate) async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, item)): Path<(String, String)>,
    ApiJson(submission): ApiJson<Submission>,
) -> Result<Json<Receipt>, ApiError> {
    need(&caller, &[Role::Annotator], "label items")?;
    member(&state, &caller, &project).await?;
    if submission.time_spent_ms.is_some_and(|ms| ms < 0) {
        return Err(ApiError::bad_request("`time_spent_ms` cannot be negative"));
    }
    let value = super::value_text(&submission.value);
    let receipt = state
        .core
        .submit(
            &project,
            &caller.user,
            &item,
            &value,
            submission.time_spent_ms,
        )
        .await?;
    Ok(Json(receipt))
}

/// The bytes of an image item: for the annotator holding its lease, adjudicators and managers.
#[utoipa::path(get, path = "/api/projects/{project}/items/{item}/content", tag = "annotator",
    params(("project" = String, Path), ("item" = String, Path)),
    responses((status = 200, description = "the image"), (status = 403), (status = 404)))]
pub(crate) async fn content(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, item)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    member(&state, &caller, &project).await?;
    let store = state.core.store();
    let p = store.project(&project).await?;
    let found = store.item(p.id, &item).await?;
    let reviewer = caller.user.has(Role::Adjudicator) || caller.user.has(Role::Manager);
    if !reviewer {
        need(&caller, &[Role::Annotator], "see items")?;
        let holds = store
            .active_lease(p.id, caller.user.id, state.core.now())
            .await?
            .is_some_and(|l| l.item_id == found.id);
        if !holds {
            return Err(ApiError::forbidden(format!(
                "{} does not hold the lease on `{item}`",
                caller.user.name
            )));
        }
    }
    if found.kind != "image" {
        return Err(ApiError::bad_request(format!(
            "`{item}` is a {} item; its content is in the task itself",
            found.kind
        )));
    }
    let path = std::path::PathBuf::from(&found.content);
    let mime = match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        _ => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("`{item}` is not an image a browser shows (PNG, JPEG, GIF, WebP)"),
            ));
        }
    };
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| ApiError::not_found(format!("the image of `{item}` cannot be read: {e}")))?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}

/// The caller's own quality: gold accuracy with its interval, per class, trend.
#[utoipa::path(get, path = "/api/projects/{project}/me", tag = "annotator",
    params(("project" = String, Path)),
    responses((status = 200, body = Vec<AnnotatorQuality>)))]
pub(crate) async fn performance(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Json<Vec<AnnotatorQuality>>, ApiError> {
    need(&caller, &[Role::Annotator], "see their performance")?;
    member(&state, &caller, &project).await?;
    // As an annotator: the core returns only the caller's own row, also for a manager who
    // labels.
    let mut me = caller.user.clone();
    me.roles = vec![Role::Annotator];
    Ok(Json(
        state
            .core
            .annotator_quality(&me, &project, super::TREND)
            .await?,
    ))
}
