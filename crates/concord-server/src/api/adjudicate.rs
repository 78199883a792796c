//! The adjudicator's API: the queue with every read and each reader's skill, one item's reads,
//! and a signed decision (password re-entered at each signing).

use super::{ApiJson, member, need};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use axum::Json;
use axum::extract::{Path, State};
use concord_core::service::{QueueEntry, Read};
use concord_store::Role;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use utoipa::ToSchema;

/// A decision to sign.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Decision {
    /// The reference value (as for a submission).
    value: Value,
    /// Why (required).
    rationale: String,
    /// The adjudicator's password, re-entered to sign.
    password: String,
}

/// A signed decision.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Decided {
    /// The adjudication's id.
    id: i64,
    /// The item.
    item: String,
    /// The decision.
    value: Value,
    /// Why.
    rationale: String,
    /// The annotations considered.
    considered: Vec<i64>,
    /// The consensus run the adjudicator saw.
    consensus_run: Option<i64>,
    /// When (ms since the epoch).
    created_at: i64,
}

/// The adjudication queue, least confident first.
#[utoipa::path(get, path = "/api/projects/{project}/adjudication", tag = "adjudicator",
    params(("project" = String, Path)),
    responses((status = 200, body = Vec<QueueEntry>), (status = 403)))]
pub(crate) async fn queue(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Json<Vec<QueueEntry>>, ApiError> {
    need(
        &caller,
        &[Role::Adjudicator, Role::Manager],
        "see the adjudication queue",
    )?;
    member(&state, &caller, &project).await?;
    Ok(Json(
        state
            .core
            .adjudication_queue(&caller.user, &project)
            .await?,
    ))
}

/// Every current read of one item (never for annotators: they are blinded).
#[utoipa::path(get, path = "/api/projects/{project}/items/{item}/annotations", tag = "adjudicator",
    params(("project" = String, Path), ("item" = String, Path)),
    responses((status = 200, body = Vec<Read>), (status = 403)))]
pub(crate) async fn reads(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, item)): Path<(String, String)>,
) -> Result<Json<Vec<Read>>, ApiError> {
    need(
        &caller,
        &[Role::Adjudicator, Role::Manager],
        "see other experts' reads",
    )?;
    member(&state, &caller, &project).await?;
    let store = state.core.store();
    let p = store.project(&project).await?;
    let found = store.item(p.id, &item).await?;
    let all = store.item_annotations(found.id).await?;
    let superseded: HashSet<i64> = all.iter().filter_map(|a| a.supersedes).collect();
    let names: HashMap<i64, String> = store
        .users()
        .await?
        .into_iter()
        .map(|u| (u.id, u.name))
        .collect();
    Ok(Json(
        all.into_iter()
            .filter(|a| !superseded.contains(&a.id))
            .map(|a| Read {
                annotation_id: a.id,
                annotator: names.get(&a.annotator_id).cloned().unwrap_or_default(),
                value: a.value,
                skill: None,
            })
            .collect(),
    ))
}

/// Records and signs the caller's decision on an item in the queue.
#[utoipa::path(post, path = "/api/projects/{project}/items/{item}/adjudication", tag = "adjudicator",
    params(("project" = String, Path), ("item" = String, Path)), request_body = Decision,
    responses((status = 200, body = Decided), (status = 400), (status = 403), (status = 409)))]
pub(crate) async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, item)): Path<(String, String)>,
    ApiJson(decision): ApiJson<Decision>,
) -> Result<Json<Decided>, ApiError> {
    need(&caller, &[Role::Adjudicator], "adjudicate")?;
    member(&state, &caller, &project).await?;
    let value = super::value_text(&decision.value);
    let adjudication = state
        .core
        .adjudicate(
            &caller.user,
            &project,
            &item,
            &value,
            &decision.rationale,
            &decision.password,
        )
        .await?;
    Ok(Json(Decided {
        id: adjudication.id,
        item,
        value: adjudication.value,
        rationale: adjudication.rationale,
        considered: adjudication.considered,
        consensus_run: adjudication.consensus_run_id,
        created_at: adjudication.created_at,
    }))
}
