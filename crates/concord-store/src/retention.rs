//! Record retention (21 CFR 11.10(c)): retention periods, legal holds, logical deletion and
//! purges of a project's records.
//!
//! A project is deleted logically: a tombstone with its reason closes it (no new records; open
//! leases end) and starts its retention period. Its records stay readable until a purge, which
//! removes them only once the period has run out and no legal hold is in force. Every step
//! writes an audit event in its transaction; a deletion refused by a hold is audited too. The
//! audit trail itself is never purged: it holds the labels and digests, not item content, and
//! `concord audit verify` accepts a missing record only when a chained `project.purge` event
//! lists it.

use crate::audit::{Appender, Event, canonical};
use crate::model::{Millis, RetentionChange, RetentionRequest};
use crate::{StoreError, StoreResult};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Milliseconds in a retention day.
pub const DAY_MS: i64 = 86_400_000;

/// Who did what, when and why: a deletion, a purge or a hold's release.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Tombstone {
    /// When.
    pub at: Millis,
    /// Who (a user id; `None` for the system).
    pub by: Option<i64>,
    /// Why.
    pub reason: String,
}

/// A legal hold on a project.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LegalHold {
    /// Its id (`concord retention release` names it).
    pub id: i64,
    /// When it was placed.
    pub placed_at: Millis,
    /// Who placed it.
    pub placed_by: Option<i64>,
    /// Why (the matter it is held for).
    pub reason: String,
    /// Its release, if it was released.
    pub released: Option<Tombstone>,
}

/// A project's retention state.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Retention {
    /// The project.
    pub project_id: i64,
    /// Days the records are kept after the project is deleted; `None`: indefinitely.
    pub days: Option<i64>,
    /// When the period was last set, by whom and why (`None`: never set, indefinite).
    pub policy: Option<Tombstone>,
    /// Every hold, in force or released, oldest first.
    pub holds: Vec<LegalHold>,
    /// The logical deletion, if the project is deleted.
    pub deleted: Option<Tombstone>,
    /// The purge, if the project's records were removed.
    pub purged: Option<Tombstone>,
}

impl Retention {
    /// The holds in force.
    pub fn active_holds(&self) -> impl Iterator<Item = &LegalHold> {
        self.holds.iter().filter(|h| h.released.is_none())
    }

    /// When the records may be purged: the deletion plus the period (`None` while the project
    /// is not deleted or the period is indefinite).
    pub fn expires_at(&self) -> Option<Millis> {
        Some(
            self.deleted
                .as_ref()?
                .at
                .saturating_add(self.days?.saturating_mul(DAY_MS)),
        )
    }

    /// Why the records may not be purged at `now`; `None` when they may.
    pub fn purge_blocker(&self, now: Millis) -> Option<String> {
        if self.purged.is_some() {
            return Some("already purged".into());
        }
        if let Some(hold) = self.active_holds().next() {
            return Some(format!(
                "under legal hold #{} ({}); release the hold first",
                hold.id, hold.reason
            ));
        }
        if self.deleted.is_none() {
            return Some("the project is not deleted".into());
        }
        match self.expires_at() {
            None => Some("the retention period is indefinite".into()),
            Some(at) if at > now => {
                Some(format!("the retention period runs until {}", rfc3339(at)))
            }
            Some(_) => None,
        }
    }
}

/// RFC 3339, UTC, to the second.
fn rfc3339(millis: Millis) -> String {
    jiff::Timestamp::from_millisecond(millis)
        .map(|t| format!("{t:.0}"))
        .unwrap_or_else(|_| millis.to_string())
}

/// What a purge removed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PurgeReport {
    /// The project.
    pub project_id: i64,
    /// The `project.purge` event.
    pub seq: i64,
    /// Rows removed, by table.
    pub removed: BTreeMap<String, i64>,
}

/// A row as canonical JSON, its columns as keys: the record text of the retention tables,
/// which hold only integers, text and nulls.
pub(crate) fn row_record(row: &Row<'_>) -> rusqlite::Result<String> {
    let statement = row.as_ref();
    let mut map = Map::new();
    for (i, name) in statement.column_names().into_iter().enumerate() {
        let value = match row.get_ref(i)? {
            rusqlite::types::ValueRef::Null => Value::Null,
            rusqlite::types::ValueRef::Integer(n) => json!(n),
            rusqlite::types::ValueRef::Real(x) => json!(x),
            rusqlite::types::ValueRef::Text(t) => {
                Value::String(String::from_utf8_lossy(t).into_owned())
            }
            rusqlite::types::ValueRef::Blob(b) => Value::String(hex::encode(b)),
        };
        map.insert(name.to_string(), value);
    }
    Ok(canonical(&map))
}

/// The record text of row `id` of `table` (one of the retention tables).
fn record_of(tx: &Connection, table: &str, id: i64) -> StoreResult<String> {
    Ok(tx
        .prepare_cached(&format!("SELECT * FROM {table} WHERE id = ?1"))?
        .query_row([id], row_record)?)
}

fn tombstone(at: Millis, by: Option<i64>, reason: String) -> Tombstone {
    Tombstone { at, by, reason }
}

/// See [`crate::Store::retention`].
pub(crate) fn retention(db: &Connection, project_id: i64) -> StoreResult<Retention> {
    let exists: Option<i64> = db
        .prepare_cached("SELECT id FROM projects WHERE id = ?1")?
        .query_row([project_id], |r| r.get(0))
        .optional()?;
    if exists.is_none() {
        return Err(StoreError::NotFound(format!("project #{project_id}")));
    }
    let policy = db
        .prepare_cached(
            "SELECT days, set_at, set_by, reason FROM retention_policies WHERE project_id = ?1 \
             ORDER BY id DESC LIMIT 1",
        )?
        .query_row([project_id], |r| {
            Ok((
                r.get::<_, Option<i64>>(0)?,
                tombstone(r.get(1)?, r.get(2)?, r.get(3)?),
            ))
        })
        .optional()?;
    let holds = db
        .prepare_cached(
            "SELECT h.id, h.placed_at, h.placed_by, h.reason, r.released_at, r.released_by, r.reason \
             FROM legal_holds h LEFT JOIN legal_hold_releases r ON r.hold_id = h.id \
             WHERE h.project_id = ?1 ORDER BY h.id",
        )?
        .query_map([project_id], |r| {
            let released = match r.get::<_, Option<i64>>(4)? {
                Some(at) => Some(tombstone(at, r.get(5)?, r.get(6)?)),
                None => None,
            };
            Ok(LegalHold {
                id: r.get(0)?,
                placed_at: r.get(1)?,
                placed_by: r.get(2)?,
                reason: r.get(3)?,
                released,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let stone = |sql: &str| -> StoreResult<Option<Tombstone>> {
        Ok(db
            .prepare_cached(sql)?
            .query_row([project_id], |r| {
                Ok(tombstone(r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?)
    };
    let deleted = stone(
        "SELECT deleted_at, deleted_by, reason FROM project_deletions WHERE project_id = ?1",
    )?;
    let purged = stone("SELECT purged_at, purged_by, reason FROM purges WHERE project_id = ?1")?;
    let (days, policy) = match policy {
        Some((days, t)) => (days, Some(t)),
        None => (None, None),
    };
    Ok(Retention {
        project_id,
        days,
        policy,
        holds,
        deleted,
        purged,
    })
}

fn require_reason(reason: &str) -> StoreResult<()> {
    if reason.trim().is_empty() {
        return Err(StoreError::Conflict(
            "a reason is required for every retention change".into(),
        ));
    }
    Ok(())
}

/// See [`crate::Store::change_retention`]. Returns the state after the change, or the reason
/// the change was refused (already audited) as `Err` inside `Ok`, so that the refusal's event
/// commits.
pub(crate) fn change_retention(
    tx: &Connection,
    audit: &mut Appender<'_>,
    request: &RetentionRequest,
) -> StoreResult<Result<Retention, String>> {
    require_reason(&request.reason)?;
    let RetentionRequest {
        project_id,
        actor,
        now,
        ref reason,
        ref change,
    } = *request;
    let before = retention(tx, project_id)?;
    if before.purged.is_some() {
        return Err(StoreError::Conflict(format!(
            "project #{project_id} was purged; its retention can no longer change"
        )));
    }
    let (action, table, entity, id) = match change {
        RetentionChange::Period { days } => {
            if let Some(d) = days
                && *d < 0
            {
                return Err(StoreError::Conflict(
                    "a retention period cannot be negative".into(),
                ));
            }
            let id: i64 = tx
                .prepare_cached(
                    "INSERT INTO retention_policies (project_id, days, set_at, set_by, reason) \
                     VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
                )?
                .query_row(params![project_id, days, now, actor, reason], |r| r.get(0))?;
            (
                "retention.set",
                "retention_policies",
                "retention_policy",
                id,
            )
        }
        RetentionChange::PlaceHold => {
            let id: i64 = tx
                .prepare_cached(
                    "INSERT INTO legal_holds (project_id, placed_at, placed_by, reason) \
                     VALUES (?1, ?2, ?3, ?4) RETURNING id",
                )?
                .query_row(params![project_id, now, actor, reason], |r| r.get(0))?;
            ("hold.place", "legal_holds", "legal_hold", id)
        }
        RetentionChange::ReleaseHold { hold_id } => {
            if !before.active_holds().any(|h| h.id == *hold_id) {
                return Err(StoreError::NotFound(format!(
                    "legal hold #{hold_id} in force on project #{project_id}"
                )));
            }
            let id: i64 = tx
                .prepare_cached(
                    "INSERT INTO legal_hold_releases (hold_id, released_at, released_by, reason) \
                     VALUES (?1, ?2, ?3, ?4) RETURNING id",
                )?
                .query_row(params![hold_id, now, actor, reason], |r| r.get(0))?;
            (
                "hold.release",
                "legal_hold_releases",
                "legal_hold_release",
                id,
            )
        }
        RetentionChange::Delete => {
            if before.deleted.is_some() {
                return Err(StoreError::Conflict(format!(
                    "project #{project_id} is already deleted"
                )));
            }
            let holds: Vec<i64> = before.active_holds().map(|h| h.id).collect();
            if !holds.is_empty() {
                audit.append(
                    tx,
                    Event {
                        at: now,
                        actor,
                        action: "project.delete.refused",
                        entity: format!("project:{project_id}"),
                        before: None,
                        after: Some(canonical(&json!({ "holds": holds }))),
                        reason: Some(reason),
                    },
                )?;
                let hold = before.active_holds().next().expect("a hold");
                return Ok(Err(format!(
                    "the project is under legal hold #{} ({}): it cannot be deleted until every \
                     hold is released",
                    hold.id, hold.reason
                )));
            }
            let id: i64 = tx
                .prepare_cached(
                    "INSERT INTO project_deletions (project_id, deleted_at, deleted_by, reason) \
                     VALUES (?1, ?2, ?3, ?4) RETURNING id",
                )?
                .query_row(params![project_id, now, actor, reason], |r| r.get(0))?;
            // Every open lease ends now.
            crate::direct::expire(
                tx,
                audit,
                project_id,
                now,
                Millis::MAX,
                Some("the project was deleted"),
            )?;
            (
                "project.delete",
                "project_deletions",
                "project_deletion",
                id,
            )
        }
    };
    audit.append(
        tx,
        Event {
            at: now,
            actor,
            action,
            entity: format!("{entity}:{id}"),
            before: None,
            after: Some(record_of(tx, table, id)?),
            reason: Some(reason),
        },
    )?;
    Ok(Ok(retention(tx, project_id)?))
}

/// Consecutive runs of sorted ids, `[first, last]` each: how a purge event lists what it
/// removed.
pub(crate) fn id_ranges(ids: &[i64]) -> Vec<[i64; 2]> {
    let mut ranges: Vec<[i64; 2]> = Vec::new();
    for &id in ids {
        match ranges.last_mut() {
            Some(last) if last[1] + 1 == id => last[1] = id,
            _ => ranges.push([id, id]),
        }
    }
    ranges
}

/// The project's rows whose ids the audit trail vouches for one by one, by record kind (the
/// kinds of `verify`), and the SQL that selects them.
const PURGED_RECORDS: [(&str, &str); 6] = [
    (
        "annotation",
        "SELECT id FROM annotations WHERE project_id = ?1 ORDER BY id",
    ),
    (
        "adjudication",
        "SELECT id FROM adjudications WHERE project_id = ?1 ORDER BY id",
    ),
    (
        "consensus_run",
        "SELECT id FROM consensus_runs WHERE project_id = ?1 ORDER BY id",
    ),
    (
        "signature",
        "SELECT s.id FROM signatures s WHERE \
         (s.record_kind = 'annotation' AND s.record_id IN (SELECT id FROM annotations WHERE project_id = ?1)) \
         OR (s.record_kind = 'consensus_run' AND s.record_id IN (SELECT id FROM consensus_runs WHERE project_id = ?1)) \
         OR (s.record_kind = 'adjudication' AND s.record_id IN (SELECT id FROM adjudications WHERE project_id = ?1)) \
         OR (s.record_kind = 'release' AND s.record_id IN (SELECT id FROM releases WHERE project_id = ?1)) \
         OR (s.record_kind = 'truthing_plan' AND s.record_id IN (SELECT id FROM truthing_plans WHERE project_id = ?1)) \
         ORDER BY s.id",
    ),
    (
        "release",
        "SELECT id FROM releases WHERE project_id = ?1 ORDER BY id",
    ),
    (
        "truthing_plan",
        "SELECT id FROM truthing_plans WHERE project_id = ?1 ORDER BY id",
    ),
];

/// Removal order (children before parents), with each table's condition on the project.
const PURGE_ORDER: [(&str, &str); 15] = [
    ("signatures", "id IN (SELECT value FROM json_each(?2))"),
    (
        "consensus_labels",
        "run_id IN (SELECT id FROM consensus_runs WHERE project_id = ?1)",
    ),
    (
        "annotator_skills",
        "run_id IN (SELECT id FROM consensus_runs WHERE project_id = ?1)",
    ),
    ("adjudications", "project_id = ?1"),
    ("releases", "project_id = ?1"),
    ("truthing_plans", "project_id = ?1"),
    ("consensus_runs", "project_id = ?1"),
    ("annotations", "project_id = ?1"),
    ("predictions", "project_id = ?1"),
    ("assignments", "project_id = ?1"),
    ("item_state", "project_id = ?1"),
    ("enrolments", "project_id = ?1"),
    ("project_members", "project_id = ?1"),
    ("protocols", "project_id = ?1"),
    ("items", "project_id = ?1"),
];

/// See [`crate::Store::purge_project`]: removes the records of a deleted project whose
/// retention period has run out, with no hold in force. A refusal is audited
/// (`project.purge.refused`) and returned as `Err` inside `Ok`.
pub(crate) fn purge_project(
    tx: &Connection,
    audit: &mut Appender<'_>,
    project_id: i64,
    actor: Option<i64>,
    now: Millis,
    reason: &str,
) -> StoreResult<Result<PurgeReport, String>> {
    require_reason(reason)?;
    let state = retention(tx, project_id)?;
    if let Some(blocker) = state.purge_blocker(now) {
        audit.append(
            tx,
            Event {
                at: now,
                actor,
                action: "project.purge.refused",
                entity: format!("project:{project_id}"),
                before: None,
                after: Some(canonical(&json!({ "refused": blocker }))),
                reason: Some(reason),
            },
        )?;
        return Ok(Err(format!(
            "project #{project_id} cannot be purged: {blocker}"
        )));
    }
    let mut records = Map::new();
    let mut signatures = Vec::new();
    for (kind, sql) in PURGED_RECORDS {
        let ids: Vec<i64> = tx
            .prepare(sql)?
            .query_map([project_id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        if kind == "signature" {
            signatures.clone_from(&ids);
        }
        records.insert(kind.into(), json!(id_ranges(&ids)));
    }
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO purges (project_id, purged_at, purged_by, reason) \
             VALUES (?1, ?2, ?3, ?4) RETURNING id",
        )?
        .query_row(params![project_id, now, actor, reason], |r| r.get(0))?;
    let signature_ids = serde_json::to_string(&signatures).expect("ids serialise");
    let mut removed = BTreeMap::new();
    for (table, condition) in PURGE_ORDER {
        let sql = format!("DELETE FROM {table} WHERE {condition}");
        let n = if condition.contains("?2") {
            tx.execute(&sql, params![project_id, signature_ids])?
        } else {
            tx.execute(&sql, params![project_id])?
        };
        removed.insert(table.to_string(), n as i64);
    }
    let seq = audit.append(
        tx,
        Event {
            at: now,
            actor,
            action: "project.purge",
            entity: format!("purge:{id}"),
            before: Some(canonical(&json!({
                "project_id": project_id,
                "records": records,
                "removed": removed,
            }))),
            after: Some(record_of(tx, "purges", id)?),
            reason: Some(reason),
        },
    )?;
    Ok(Ok(PurgeReport {
        project_id,
        seq,
        removed,
    }))
}
