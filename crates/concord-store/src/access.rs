//! Web access records: browser sessions and API tokens (credentials), and project membership.
//!
//! A credential stores the SHA-256 of its secret, never the secret, so a copy of the database
//! does not let anyone sign in. Creating and revoking a credential and changing a project's
//! members append audit events in the same transaction.

use crate::audit::{Appender, Event, canonical};
use crate::model::{Credential, CredentialKind, NewCredential};
use crate::{StoreError, StoreResult};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::json;

/// The columns [`credential_from`] reads.
const COLUMNS: &str =
    "id, user_id, kind, name, token_sha256, csrf_token, created_at, expires_at, revoked_at";

fn credential_from(row: &Row<'_>) -> rusqlite::Result<Credential> {
    let kind: String = row.get(2)?;
    Ok(Credential {
        id: row.get(0)?,
        user_id: row.get(1)?,
        kind: if kind == "token" {
            CredentialKind::Token
        } else {
            CredentialKind::Session
        },
        name: row.get(3)?,
        token_sha256: row.get(4)?,
        csrf_token: row.get(5)?,
        created_at: row.get(6)?,
        expires_at: row.get(7)?,
        revoked_at: row.get(8)?,
    })
}

/// See [`crate::Store::credential`].
pub(crate) fn credential(db: &Connection, token_sha256: &str) -> StoreResult<Option<Credential>> {
    Ok(db
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM credentials WHERE token_sha256 = ?1"
        ))?
        .query_row(params![token_sha256], credential_from)
        .optional()?)
}

/// See [`crate::Store::credentials`].
pub(crate) fn credentials(
    db: &Connection,
    user_id: i64,
    kind: CredentialKind,
) -> StoreResult<Vec<Credential>> {
    let mut statement = db.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM credentials WHERE user_id = ?1 AND kind = ?2 ORDER BY id"
    ))?;
    let rows = statement.query_map(params![user_id, kind.as_str()], credential_from)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// See [`crate::Store::create_credential`].
pub(crate) fn create_credential(
    tx: &Connection,
    audit: &mut Appender<'_>,
    new: &NewCredential,
) -> StoreResult<Credential> {
    let credential = tx
        .prepare_cached(&format!(
            "INSERT INTO credentials (user_id, kind, name, token_sha256, csrf_token, created_at, \
             expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING {COLUMNS}"
        ))?
        .query_row(
            params![
                new.user_id,
                new.kind.as_str(),
                new.name,
                new.token_sha256,
                new.csrf_token,
                new.now,
                new.expires_at
            ],
            credential_from,
        )?;
    audit.append(
        tx,
        Event {
            at: new.now,
            actor: Some(new.user_id),
            action: match new.kind {
                CredentialKind::Session => "session.create",
                CredentialKind::Token => "token.create",
            },
            entity: format!("user:{}", new.user_id),
            before: None,
            after: Some(canonical(&json!({
                "credential": credential.id,
                "expires_at": new.expires_at,
                "name": new.name,
            }))),
            reason: new.reason.as_deref(),
        },
    )?;
    Ok(credential)
}

/// See [`crate::Store::revoke_credential`].
pub(crate) fn revoke_credential(
    tx: &Connection,
    audit: &mut Appender<'_>,
    id: i64,
    actor: i64,
    now: i64,
) -> StoreResult<bool> {
    let revoked: Option<(i64, String)> = tx
        .prepare_cached(
            "UPDATE credentials SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL \
             RETURNING user_id, kind",
        )?
        .query_row(params![now, id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((user_id, kind)) = revoked else {
        return Ok(false);
    };
    audit.append(
        tx,
        Event {
            at: now,
            actor: Some(actor),
            action: if kind == "token" {
                "token.revoke"
            } else {
                "session.revoke"
            },
            entity: format!("user:{user_id}"),
            before: None,
            after: Some(canonical(&json!({ "credential": id, "revoked": true }))),
            reason: None,
        },
    )?;
    Ok(true)
}

/// See [`crate::Store::add_member`].
pub(crate) fn add_member(
    tx: &Connection,
    audit: &mut Appender<'_>,
    project_id: i64,
    user_id: i64,
    actor: Option<i64>,
    now: i64,
) -> StoreResult<bool> {
    let added = tx
        .prepare_cached(
            "INSERT INTO project_members (project_id, user_id, added_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![project_id, user_id, now])
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                StoreError::NotFound(format!("project #{project_id} or user #{user_id}"))
            }
            other => other.into(),
        })?;
    if added == 0 {
        return Ok(false);
    }
    audit.append(
        tx,
        Event {
            at: now,
            actor,
            action: "project.member_add",
            entity: format!("project:{project_id}"),
            before: None,
            after: Some(canonical(&json!({ "user": user_id }))),
            reason: None,
        },
    )?;
    Ok(true)
}

/// See [`crate::Store::remove_member`].
pub(crate) fn remove_member(
    tx: &Connection,
    audit: &mut Appender<'_>,
    project_id: i64,
    user_id: i64,
    actor: Option<i64>,
    now: i64,
) -> StoreResult<bool> {
    let removed = tx
        .prepare_cached("DELETE FROM project_members WHERE project_id = ?1 AND user_id = ?2")?
        .execute(params![project_id, user_id])?;
    if removed == 0 {
        return Ok(false);
    }
    audit.append(
        tx,
        Event {
            at: now,
            actor,
            action: "project.member_remove",
            entity: format!("project:{project_id}"),
            before: Some(canonical(&json!({ "user": user_id }))),
            after: None,
            reason: None,
        },
    )?;
    Ok(true)
}
