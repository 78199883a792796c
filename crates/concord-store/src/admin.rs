//! The store's other writes (users, projects, protocols, imports, flags, adjudications,
//! signatures, free-standing events) on the same rusqlite connection as the hot path, so that
//! every write of the SQLite store appends its audit events through one [`Appender`].

use crate::audit::{
    Appender, Event, adjudication_record, canonical, import_record, plan_record,
    predictions_record, protocol_record, release_record, sha256_hex, signable_record,
    signature_record,
};
use crate::direct::json_text;
use crate::model::*;
use crate::{NewEvent, StoreError, StoreResult};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::{Value, json};

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation
                && matches!(f.extended_code, 2067 | 1555) // SQLITE_CONSTRAINT_UNIQUE, _PRIMARYKEY
    )
}

/// See [`crate::Store::create_user`]. Returns the new id.
pub(crate) fn create_user(
    tx: &Connection,
    audit: &mut Appender<'_>,
    user: &NewUser,
    actor: Option<i64>,
    now: Millis,
) -> StoreResult<i64> {
    let roles: Vec<&str> = user.roles.iter().map(|r| r.as_str()).collect();
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO users (name, display_name, email, roles, password_hash, qualifications, cost, \
             created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
        )?
        .query_row(
            params![
                user.name,
                user.display_name,
                user.email,
                roles.join(","),
                user.password_hash,
                json_text(&user.qualifications),
                user.cost,
                now
            ],
            |r| r.get(0),
        )
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(format!("a user named `{}` already exists", user.name))
            } else {
                e.into()
            }
        })?;
    audit.append(
        tx,
        Event {
            at: now,
            actor,
            action: "user.create",
            entity: format!("user:{id}"),
            before: None,
            // The password hash stays out of the trail; that one was set does not.
            after: Some(canonical(&json!({
                "cost": user.cost,
                "display_name": user.display_name,
                "email": user.email,
                "name": user.name,
                "password_set": user.password_hash.is_some(),
                "qualifications": user.qualifications,
                "roles": roles,
            }))),
            reason: None,
        },
    )?;
    Ok(id)
}

/// See [`crate::Store::create_project`]. Returns the new id.
pub(crate) fn create_project(
    tx: &Connection,
    audit: &mut Appender<'_>,
    name: &str,
    settings: &Value,
    protocol: &NewProtocol,
    now: Millis,
) -> StoreResult<i64> {
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO projects (name, settings, created_at, created_by) VALUES (?1, ?2, ?3, ?4) \
             RETURNING id",
        )?
        .query_row(
            params![name, json_text(settings), now, protocol.created_by],
            |r| r.get(0),
        )
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(format!("a project named `{name}` already exists"))
            } else {
                e.into()
            }
        })?;
    audit.append(
        tx,
        Event {
            at: now,
            actor: protocol.created_by,
            action: "project.create",
            entity: format!("project:{id}"),
            before: None,
            after: Some(canonical(&json!({ "name": name, "settings": settings }))),
            reason: None,
        },
    )?;
    insert_protocol(tx, audit, id, 1, protocol, now)?;
    Ok(id)
}

/// See [`crate::Store::add_protocol`]. Returns the new version.
pub(crate) fn add_protocol(
    tx: &Connection,
    audit: &mut Appender<'_>,
    project_id: i64,
    protocol: &NewProtocol,
    now: Millis,
) -> StoreResult<i64> {
    let latest: Option<i64> = tx
        .prepare_cached("SELECT MAX(version) FROM protocols WHERE project_id = ?1")?
        .query_row(params![project_id], |r| r.get(0))?;
    let version = latest.ok_or_else(|| StoreError::NotFound(format!("project #{project_id}")))? + 1;
    insert_protocol(tx, audit, project_id, version, protocol, now)?;
    Ok(version)
}

fn insert_protocol(
    tx: &Connection,
    audit: &mut Appender<'_>,
    project_id: i64,
    version: i64,
    protocol: &NewProtocol,
    now: Millis,
) -> StoreResult<()> {
    let text = json_text(&protocol.schema);
    tx.prepare_cached(
        "INSERT INTO protocols (project_id, version, schema, schema_sha256, note, created_at, created_by) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        project_id,
        version,
        text,
        sha256_hex(&text),
        protocol.note,
        now,
        protocol.created_by
    ])?;
    let record = tx
        .prepare_cached("SELECT * FROM protocols WHERE project_id = ?1 AND version = ?2")?
        .query_row(params![project_id, version], protocol_record)?;
    audit.append(
        tx,
        Event {
            at: now,
            actor: protocol.created_by,
            action: "protocol.create",
            entity: format!("protocol:{project_id}.v{version}"),
            before: None,
            after: Some(record),
            reason: Some(&protocol.note)
                .filter(|n| !n.is_empty())
                .map(|n| n.as_str()),
        },
    )?;
    if let Some(d) = &protocol.deviation {
        deviation(tx, audit, project_id, protocol.created_by, d, now)?;
    }
    Ok(())
}

/// See [`crate::Store::import_items`].
pub(crate) fn import_items(
    tx: &Connection,
    audit: &mut Appender<'_>,
    project_id: i64,
    items: &[NewItem],
    needed: i64,
    actor: Option<i64>,
    now: Millis,
) -> StoreResult<usize> {
    let mut seq: i64 = tx
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM item_state WHERE project_id = ?1")?
        .query_row(params![project_id], |r| r.get(0))?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO items (project_id, external_id, kind, content, content_sha256, metadata, gold, \
         created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
    )?;
    let mut state = tx.prepare_cached(
        "INSERT INTO item_state (item_id, project_id, is_gold, seq, needed, state, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut range: Option<(i64, i64)> = None;
    for item in items {
        let id: i64 = insert
            .query_row(
                params![
                    project_id,
                    item.external_id,
                    item.kind,
                    item.content,
                    item.content_sha256,
                    json_text(&item.metadata),
                    item.gold.as_ref().map(json_text),
                    now
                ],
                |r| r.get(0),
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict(format!(
                        "item `{}` is already in the project",
                        item.external_id
                    ))
                } else {
                    e.into()
                }
            })?;
        range = Some(range.map_or((id, id), |(first, _)| (first, id)));
        seq += 1;
        let (is_gold, phase, item_needed) = match item.gold {
            Some(_) => (1, ItemPhase::Gold, 0),
            None => (0, ItemPhase::Open, needed),
        };
        state.execute(params![
            id,
            project_id,
            is_gold,
            seq,
            item_needed,
            phase.as_str(),
            now
        ])?;
    }
    let record = |first, last| import_record(tx, project_id, first, last);
    append_import(
        tx,
        audit,
        "items.import",
        project_id,
        range,
        items.len(),
        record,
        actor,
        now,
    )?;
    Ok(items.len())
}

/// Appends the event of an import of consecutive rows `range` (`n` of them), whose canonical
/// text `record` builds from the id range.
#[allow(clippy::too_many_arguments)]
fn append_import(
    tx: &Connection,
    audit: &mut Appender<'_>,
    action: &str,
    project_id: i64,
    range: Option<(i64, i64)>,
    n: usize,
    record: impl Fn(i64, i64) -> StoreResult<String>,
    actor: Option<i64>,
    now: Millis,
) -> StoreResult<()> {
    let Some((first, last)) = range else {
        return Ok(());
    };
    // Ids are consecutive: the write lock is held and SQLite hands out max(rowid) + 1.
    if last - first + 1 != n as i64 {
        return Err(StoreError::Integrity(format!(
            "{action}: imported row ids are not consecutive"
        )));
    }
    audit.append(
        tx,
        Event {
            at: now,
            actor,
            action,
            entity: format!("project:{project_id}"),
            before: None,
            after: Some(record(first, last)?),
            reason: None,
        },
    )?;
    Ok(())
}

/// See [`crate::Store::import_predictions`].
pub(crate) fn import_predictions(
    tx: &Connection,
    audit: &mut Appender<'_>,
    project_id: i64,
    model: &str,
    rows: &[NewPrediction],
    actor: Option<i64>,
    now: Millis,
) -> StoreResult<usize> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO predictions (project_id, item_id, model, value, confidence, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
    )?;
    let mut range: Option<(i64, i64)> = None;
    for row in rows {
        let id: i64 = insert
            .query_row(
                params![
                    project_id,
                    row.item_id,
                    model,
                    json_text(&row.value),
                    row.confidence,
                    now
                ],
                |r| r.get(0),
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict(format!(
                        "model `{model}` already has a prediction for item #{} (name a new \
                         model version to import again)",
                        row.item_id
                    ))
                } else {
                    e.into()
                }
            })?;
        range = Some(range.map_or((id, id), |(first, _)| (first, id)));
    }
    let record = |first, last| predictions_record(tx, project_id, first, last);
    append_import(
        tx,
        audit,
        "predictions.import",
        project_id,
        range,
        rows.len(),
        record,
        actor,
        now,
    )?;
    Ok(rows.len())
}

/// See [`crate::Store::predictions`].
pub(crate) fn predictions(db: &Connection, project_id: i64) -> StoreResult<Vec<Prediction>> {
    let mut statement = db.prepare_cached(
        "SELECT id, item_id, model, value, confidence, created_at FROM predictions \
         WHERE project_id = ?1 ORDER BY id",
    )?;
    let mut rows = statement.query(params![project_id])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let value: String = r.get(3)?;
        out.push(Prediction {
            id: r.get(0)?,
            item_id: r.get(1)?,
            model: r.get(2)?,
            value: crate::direct::parse_json(&value, "prediction value")?,
            confidence: r.get(4)?,
            created_at: r.get(5)?,
        });
    }
    Ok(out)
}

/// See [`crate::Store::set_enrolment`].
pub(crate) fn set_enrolment(
    tx: &Connection,
    audit: &mut Appender<'_>,
    project_id: i64,
    annotator_id: i64,
    e: &Enrolment,
    actor: Option<i64>,
    now: Millis,
) -> StoreResult<()> {
    let before: Option<String> = tx
        .prepare_cached("SELECT phase FROM enrolments WHERE project_id = ?1 AND annotator_id = ?2")?
        .query_row(params![project_id, annotator_id], |r| r.get(0))
        .optional()?;
    tx.prepare_cached(
        "INSERT INTO enrolments (project_id, annotator_id, phase, gold_answered, gold_correct, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (project_id, annotator_id) DO UPDATE SET \
         phase = excluded.phase, gold_answered = excluded.gold_answered, \
         gold_correct = excluded.gold_correct, updated_at = excluded.updated_at",
    )?
    .execute(params![
        project_id,
        annotator_id,
        e.phase.as_str(),
        e.gold_answered,
        e.gold_correct,
        now
    ])?;
    audit.append(
        tx,
        Event {
            at: now,
            actor,
            action: "enrolment.update",
            entity: format!("enrolment:{project_id}.{annotator_id}"),
            before: before.map(|p| canonical(&json!({ "phase": p }))),
            after: Some(canonical(&json!({
                "gold_answered": e.gold_answered,
                "gold_correct": e.gold_correct,
                "phase": e.phase.as_str(),
            }))),
            reason: e.reason.as_deref(),
        },
    )?;
    Ok(())
}

/// See [`crate::Store::retire_gold`].
pub(crate) fn retire_gold(
    tx: &Connection,
    audit: &mut Appender<'_>,
    item_id: i64,
    reason: &str,
    actor: Option<i64>,
    now: Millis,
) -> StoreResult<bool> {
    let answers: Option<i64> = tx
        .prepare_cached(
            "UPDATE item_state SET retired = 1, updated_at = ?1 \
             WHERE item_id = ?2 AND is_gold = 1 AND retired = 0 RETURNING n_labels",
        )?
        .query_row(params![now, item_id], |r| r.get(0))
        .optional()?;
    let Some(answers) = answers else {
        return Ok(false);
    };
    audit.append(
        tx,
        Event {
            at: now,
            actor,
            action: "gold.retire",
            entity: format!("item:{item_id}"),
            before: Some(canonical(&json!({ "retired": false }))),
            after: Some(canonical(&json!({ "answers": answers, "retired": true }))),
            reason: Some(reason),
        },
    )?;
    Ok(true)
}

/// See [`crate::Store::routing_candidates`].
pub(crate) fn routing_candidates(
    db: &Connection,
    project_id: i64,
    annotator_id: i64,
    limit: i64,
) -> StoreResult<Vec<(i64, Vec<Annotation>)>> {
    let items: Vec<i64> = db
        .prepare_cached(
            "SELECT s.item_id FROM item_state s WHERE s.project_id = ?1 AND s.is_gold = 0 \
             AND s.state = 'open' AND s.n_labels + s.n_leased < s.needed \
             AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.item_id = s.item_id \
             AND a.annotator_id = ?2) ORDER BY s.seq LIMIT ?3",
        )?
        .query_map(params![project_id, annotator_id, limit], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        out.push((item, crate::direct::item_annotations(db, item)?));
    }
    Ok(out)
}

/// See [`crate::Store::recent_gold_answers`].
pub(crate) fn recent_gold_answers(
    db: &Connection,
    project_id: i64,
    annotator_id: i64,
    limit: i64,
) -> StoreResult<Vec<(Value, Value)>> {
    let mut statement = db.prepare_cached(
        "SELECT a.value, i.gold FROM annotations a JOIN items i ON i.id = a.item_id \
         WHERE a.project_id = ?1 AND a.annotator_id = ?2 AND i.gold IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM annotations b WHERE b.supersedes = a.id) \
         ORDER BY a.id DESC LIMIT ?3",
    )?;
    let mut rows = statement.query(params![project_id, annotator_id, limit])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let given: String = r.get(0)?;
        let gold: String = r.get(1)?;
        out.push((
            crate::direct::parse_json(&given, "annotation value")?,
            crate::direct::parse_json(&gold, "gold answer")?,
        ));
    }
    Ok(out)
}

/// See [`crate::Store::flag`].
pub(crate) fn flag(
    tx: &Connection,
    audit: &mut Appender<'_>,
    item_id: i64,
    reason: &str,
    actor: Option<i64>,
    now: Millis,
) -> StoreResult<()> {
    let before: Option<String> = tx
        .prepare_cached(
            "SELECT state FROM item_state WHERE item_id = ?1 AND is_gold = 0 \
             AND state IN ('open', 'complete')",
        )?
        .query_row(params![item_id], |r| r.get(0))
        .optional()?;
    let Some(before) = before else {
        return Err(StoreError::Conflict(
            "only open or completed regular items can be sent to adjudication".into(),
        ));
    };
    tx.prepare_cached(
        "UPDATE item_state SET state = 'adjudication', reason = ?1, updated_at = ?2, flagged = 1 \
         WHERE item_id = ?3",
    )?
    .execute(params![reason, now, item_id])?;
    audit.append(
        tx,
        Event {
            at: now,
            actor,
            action: "item.flag",
            entity: format!("item:{item_id}"),
            before: Some(canonical(&json!({ "state": before }))),
            after: Some(canonical(&json!({ "state": "adjudication" }))),
            reason: Some(reason),
        },
    )?;
    Ok(())
}

pub(crate) fn adjudication(row: &Row<'_>) -> StoreResult<Adjudication> {
    let considered: String = row.get("considered")?;
    let considered = serde_json::from_str(&considered)
        .map_err(|e| StoreError::Integrity(format!("considered: {e}")))?;
    Ok(Adjudication {
        id: row.get("id")?,
        item_id: row.get("item_id")?,
        adjudicator_id: row.get("adjudicator_id")?,
        value: crate::direct::parse_json(&row.get::<_, String>("value")?, "adjudication value")?,
        rationale: row.get("rationale")?,
        considered,
        consensus_run_id: row.get("consensus_run_id")?,
        created_at: row.get("created_at")?,
        supersedes: row.get("supersedes")?,
    })
}

/// See [`crate::Store::adjudicate`].
pub(crate) fn adjudicate(
    tx: &Connection,
    audit: &mut Appender<'_>,
    new: &NewAdjudication,
) -> StoreResult<Adjudication> {
    let (state, project_id): (String, i64) = tx
        .prepare_cached("SELECT state, project_id FROM item_state WHERE item_id = ?1")?
        .query_row(params![new.item_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("item #{}", new.item_id)))?;
    if state != "adjudication" && state != "adjudicated" {
        return Err(StoreError::Conflict(format!(
            "the item is not in the adjudication queue (it is {state})"
        )));
    }
    let previous: Option<(i64, String)> = tx
        .prepare_cached(
            "SELECT * FROM adjudications d WHERE d.item_id = ?1 \
             AND NOT EXISTS (SELECT 1 FROM adjudications e WHERE e.supersedes = d.id) \
             ORDER BY id DESC LIMIT 1",
        )?
        .query_row(params![new.item_id], |r| {
            Ok((r.get("id")?, adjudication_record(r)?))
        })
        .optional()?;
    let (stored, record) = tx
        .prepare_cached(
            "INSERT INTO adjudications (item_id, project_id, adjudicator_id, value, rationale, \
             considered, consensus_run_id, protocol_version, created_at, supersedes) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING *",
        )?
        .query_row(
            params![
                new.item_id,
                project_id,
                new.adjudicator_id,
                json_text(&new.value),
                new.rationale,
                json_text(&json!(new.considered)),
                new.consensus_run_id,
                new.protocol_version,
                new.now,
                previous.as_ref().map(|p| p.0)
            ],
            |r| Ok((adjudication(r), adjudication_record(r)?)),
        )?;
    let stored = stored?;
    tx.prepare_cached(
        "UPDATE item_state SET state = 'adjudicated', label = ?1, confidence = 1.0, updated_at = ?2 \
         WHERE item_id = ?3",
    )?
    .execute(params![
        new.label.as_ref().map(json_text),
        new.now,
        new.item_id
    ])?;
    let correction = previous.is_some();
    audit.append(
        tx,
        Event {
            at: new.now,
            actor: Some(new.adjudicator_id),
            action: if correction {
                "adjudication.correct"
            } else {
                "adjudication.create"
            },
            entity: format!("adjudication:{}", stored.id),
            before: previous.map(|p| p.1),
            after: Some(record),
            reason: correction.then_some(new.rationale.as_str()),
        },
    )?;
    if let Some(signature) = &new.signature {
        sign_as(
            tx,
            audit,
            new.adjudicator_id,
            signature,
            "adjudication",
            stored.id,
            new.now,
        )?;
    }
    Ok(stored)
}

fn signature(row: &Row<'_>) -> rusqlite::Result<SignatureRecord> {
    let meaning: String = row.get("meaning")?;
    Ok(SignatureRecord {
        id: row.get("id")?,
        signer_id: row.get("signer_id")?,
        printed_name: row.get("printed_name")?,
        meaning: Meaning::parse(&meaning).unwrap_or(Meaning::Authored),
        record_kind: row.get("record_kind")?,
        record_id: row.get("record_id")?,
        record_sha256: row.get("record_sha256")?,
        signed_at: row.get("signed_at")?,
        valid: false,
    })
}

/// See [`crate::Store::sign`].
pub(crate) fn sign(
    tx: &Connection,
    audit: &mut Appender<'_>,
    new: &NewSignature,
) -> StoreResult<SignatureRecord> {
    let content = signable_record(tx, &new.record_kind, new.record_id)?
        .ok_or_else(|| StoreError::NotFound(format!("{} #{}", new.record_kind, new.record_id)))?;
    let (mut stored, record) = tx
        .prepare_cached(
            "INSERT INTO signatures (signer_id, printed_name, meaning, record_kind, record_id, \
             record_sha256, signed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING *",
        )?
        .query_row(
            params![
                new.signer_id,
                new.printed_name,
                new.meaning.as_str(),
                new.record_kind,
                new.record_id,
                sha256_hex(&content),
                new.now
            ],
            |r| Ok((signature(r)?, signature_record(r)?)),
        )?;
    stored.valid = true;
    audit.append(
        tx,
        Event {
            at: new.now,
            actor: Some(new.signer_id),
            action: "signature.create",
            entity: format!("signature:{}", stored.id),
            before: None,
            after: Some(record),
            reason: None,
        },
    )?;
    Ok(stored)
}

/// Signs a record written in the same transaction.
fn sign_as(
    tx: &Connection,
    audit: &mut Appender<'_>,
    signer_id: i64,
    how: &SignAs,
    record_kind: &str,
    record_id: i64,
    now: Millis,
) -> StoreResult<SignatureRecord> {
    sign(
        tx,
        audit,
        &NewSignature {
            signer_id,
            printed_name: how.printed_name.clone(),
            meaning: how.meaning,
            record_kind: record_kind.into(),
            record_id,
            now,
        },
    )
}

/// See [`crate::Store::signatures`]: each with whether it still binds to its record.
pub(crate) fn signatures(
    db: &rusqlite::Connection,
    record_kind: &str,
    record_id: i64,
) -> StoreResult<Vec<SignatureRecord>> {
    let mut out: Vec<SignatureRecord> = db
        .prepare_cached(
            "SELECT * FROM signatures WHERE record_kind = ?1 AND record_id = ?2 ORDER BY id",
        )?
        .query_map(params![record_kind, record_id], signature)?
        .collect::<Result<_, _>>()?;
    let now = signable_record(db, record_kind, record_id)?.map(|t| sha256_hex(&t));
    for s in &mut out {
        s.valid = now.as_deref() == Some(s.record_sha256.as_str());
    }
    Ok(out)
}

/// See [`crate::Store::record_event`].
pub(crate) fn record_event(
    tx: &Connection,
    audit: &mut Appender<'_>,
    event: &NewEvent,
) -> StoreResult<i64> {
    audit.append(
        tx,
        Event {
            at: event.at,
            actor: event.actor,
            action: &event.action,
            entity: event.entity.clone(),
            before: event.before.as_ref().map(canonical),
            after: event.after.as_ref().map(canonical),
            reason: event.reason.as_deref(),
        },
    )
}

fn release(row: &Row<'_>) -> rusqlite::Result<Release> {
    Ok(Release {
        id: row.get("id")?,
        project_id: row.get("project_id")?,
        name: row.get("name")?,
        purpose: row.get("purpose")?,
        manifest: row.get("manifest")?,
        manifest_sha256: row.get("manifest_sha256")?,
        created_by: row.get("created_by")?,
        created_at: row.get("created_at")?,
    })
}

/// See [`crate::Store::create_release`].
pub(crate) fn create_release(
    tx: &Connection,
    audit: &mut Appender<'_>,
    new: &NewRelease,
) -> StoreResult<Release> {
    let (stored, record) = tx
        .prepare_cached(
            "INSERT INTO releases (project_id, name, purpose, manifest, manifest_sha256, created_by, \
             created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING *",
        )?
        .query_row(
            params![
                new.project_id,
                new.name,
                new.purpose,
                new.manifest,
                sha256_hex(&new.manifest),
                new.created_by,
                new.now
            ],
            |r| Ok((release(r)?, release_record(r)?)),
        )
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(format!(
                    "the project already has a release named `{}` (releases are immutable: \
                     choose a new name)",
                    new.name
                ))
            } else {
                e.into()
            }
        })?;
    audit.append(
        tx,
        Event {
            at: new.now,
            actor: Some(new.created_by),
            action: "release.create",
            entity: format!("release:{}", stored.id),
            before: None,
            after: Some(record),
            reason: None,
        },
    )?;
    sign_as(
        tx,
        audit,
        new.created_by,
        &new.signature,
        "release",
        stored.id,
        new.now,
    )?;
    Ok(stored)
}

/// See [`crate::Store::releases`].
pub(crate) fn releases(db: &rusqlite::Connection, project_id: i64) -> StoreResult<Vec<Release>> {
    Ok(db
        .prepare_cached("SELECT * FROM releases WHERE project_id = ?1 ORDER BY id")?
        .query_map(params![project_id], release)?
        .collect::<Result<_, _>>()?)
}

/// Records a departure from the locked truthing plan.
pub(crate) fn deviation(
    tx: &Connection,
    audit: &mut Appender<'_>,
    project_id: i64,
    actor: Option<i64>,
    d: &Deviation,
    now: Millis,
) -> StoreResult<()> {
    audit.append(
        tx,
        Event {
            at: now,
            actor,
            action: "plan.deviation",
            entity: format!("project:{project_id}"),
            before: Some(canonical(&d.from)),
            after: Some(canonical(&d.to)),
            reason: Some(&d.reason),
        },
    )?;
    Ok(())
}

fn plan(row: &Row<'_>) -> StoreResult<TruthingPlan> {
    Ok(TruthingPlan {
        id: row.get("id")?,
        project_id: row.get("project_id")?,
        protocol_version: row.get("protocol_version")?,
        schema_sha256: row.get("schema_sha256")?,
        settings: crate::direct::parse_json(&row.get::<_, String>("settings")?, "plan settings")?,
        created_by: row.get("created_by")?,
        created_at: row.get("created_at")?,
    })
}

/// See [`crate::Store::lock_plan`].
pub(crate) fn lock_plan(
    tx: &Connection,
    audit: &mut Appender<'_>,
    new: &NewPlan,
) -> StoreResult<TruthingPlan> {
    let (stored, record) = tx
        .prepare_cached(
            "INSERT INTO truthing_plans (project_id, protocol_version, schema_sha256, settings, \
             created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING *",
        )?
        .query_row(
            params![
                new.project_id,
                new.protocol_version,
                new.schema_sha256,
                json_text(&new.settings),
                new.created_by,
                new.now
            ],
            |r| Ok((plan(r), plan_record(r)?)),
        )?;
    let stored = stored?;
    audit.append(
        tx,
        Event {
            at: new.now,
            actor: Some(new.created_by),
            action: "plan.lock",
            entity: format!("truthing_plan:{}", stored.id),
            before: None,
            after: Some(record),
            reason: None,
        },
    )?;
    sign_as(
        tx,
        audit,
        new.created_by,
        &new.signature,
        "truthing_plan",
        stored.id,
        new.now,
    )?;
    Ok(stored)
}

/// See [`crate::Store::plans`].
pub(crate) fn plans(db: &rusqlite::Connection, project_id: i64) -> StoreResult<Vec<TruthingPlan>> {
    let mut statement =
        db.prepare_cached("SELECT * FROM truthing_plans WHERE project_id = ?1 ORDER BY id")?;
    let mut rows = statement.query(params![project_id])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(plan(row)?);
    }
    Ok(out)
}
