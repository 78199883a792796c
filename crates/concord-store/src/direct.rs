//! The labelling hot path (lease, submit and the lookups around them) on a connection of its
//! own, driven synchronously through rusqlite.
//!
//! Why: sqlx runs every SQLite statement on a worker thread and hands rows back over a channel,
//! so a submission's two transactions and four lookups (about twenty statements) cost some forty
//! thread wake-ups; on two cores that, not SQLite, was the ceiling (about 900 submissions/s).
//! Here the statements run on the calling thread, prepared once and cached. The statements,
//! their order and the transaction boundaries are the same as in the rest of the store; only the
//! driver differs. The connection is shared behind an async mutex, so in-process writers queue
//! without SQLite's sleeping busy handler; other processes meet the same busy timeout as sqlx's
//! connections.

use crate::audit::{Appender, AuditKey, Event, annotation_record, canonical, run_record};
use crate::model::*;
use crate::{Decide, StoreError, StoreResult};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::sync::watch;

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound("row".into()),
            // The triggers of migration 0011 refuse new records in a deleted project.
            rusqlite::Error::SqliteFailure(_, Some(message))
                if message.starts_with(CLOSED_PROJECT) =>
            {
                StoreError::Conflict(message)
            }
            other => StoreError::Direct(other.to_string()),
        }
    }
}

/// How the triggers that close a deleted project word their refusal.
const CLOSED_PROJECT: &str = "the project is deleted";

/// The hot path's connection, for reads and writes alike, with group commit.
///
/// One connection, not a writer and readers: every commit invalidates the page cache of every
/// other connection, and with two readers beside the writer throughput fell from about 2,450
/// to 1,600 submissions/s (5,000 items, 50,000 submissions).
///
/// Group commit: a write runs in a savepoint of the connection's open transaction. When no
/// other writer is waiting for the connection, the writer signs the audit chain's head once for
/// the whole group and commits; otherwise it leaves the transaction open for the next writer
/// and waits until its group is committed. Every write therefore returns only once it is
/// durable, and a burst of concurrent writes shares one commit, one head signature and the
/// pages they touch in common. A write that fails is rolled back to its savepoint alone. Reads
/// on this connection see the open group, which commits in moments; readers on other
/// connections see only committed groups.
#[derive(Debug)]
pub(crate) struct Direct {
    state: Mutex<State>,
    /// Signs the audit chain; without it every write is refused.
    key: Option<AuditKey>,
    /// The program writing, recorded with every audit event (set once, by the binary).
    client: std::sync::OnceLock<String>,
    /// Writers waiting for the connection.
    waiting: AtomicUsize,
    /// The newest committed (or failed) group.
    committed: watch::Sender<u64>,
    /// Groups whose commit failed, with the error.
    failed: std::sync::Mutex<HashMap<u64, String>>,
}

#[derive(Debug)]
struct State {
    connection: Connection,
    group: Option<Group>,
    next_epoch: u64,
}

/// The open transaction's writes so far.
#[derive(Debug)]
struct Group {
    epoch: u64,
    writes: usize,
    head: Option<(i64, [u8; 32])>,
    appended: bool,
}

/// What audit events name as their client when the program did not say (`concord VERSION`).
pub(crate) const DEFAULT_CLIENT: &str = concat!("concord ", env!("CARGO_PKG_VERSION"));

/// Writes per group at most, so other processes wait for the write lock a bounded time.
const MAX_GROUP: usize = 32;

/// Counts a writer as waiting until it holds the connection (or gives up).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Direct {
    /// Opens `path` (which the sqlx pool has created and migrated) with the store's settings:
    /// WAL, `synchronous = NORMAL`, foreign keys on, a 30 s busy timeout; checkpoints every
    /// 4,000 pages rather than 1,000, so a page that many submissions touch is copied back once.
    pub(crate) fn open(path: &Path, key: Option<AuditKey>) -> StoreResult<Self> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(Duration::from_secs(30))?;
        connection.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
             PRAGMA wal_autocheckpoint = 4000;",
        )?;
        connection.set_prepared_statement_cache_capacity(64);
        if let Some(key) = &key {
            crate::audit::check_key(&connection, key)?;
        }
        Ok(Self {
            state: Mutex::new(State {
                connection,
                group: None,
                next_epoch: 1,
            }),
            key,
            client: std::sync::OnceLock::new(),
            waiting: AtomicUsize::new(0),
            committed: watch::Sender::new(0),
            failed: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// Runs `work` as one write with an audit appender (see the type's documentation for how
    /// writes are grouped); returns once the write is committed. An error from `work` undoes
    /// the write (its events included) and nothing else.
    pub(crate) async fn write<T>(
        &self,
        work: impl FnOnce(&Connection, &mut Appender<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let waiting = Waiting::new(&self.waiting);
        let mut guard = self.state.lock().await;
        drop(waiting);
        let state = &mut *guard;
        if state.group.is_none() {
            state.connection.execute_batch("BEGIN IMMEDIATE")?;
            state.group = Some(Group {
                epoch: state.next_epoch,
                writes: 0,
                head: None,
                appended: false,
            });
            state.next_epoch += 1;
        }
        let group = state.group.as_mut().expect("a group is open");
        let connection = &state.connection;
        connection.execute_batch("SAVEPOINT write")?;
        let mut audit =
            Appender::resume(self.key.as_ref(), self.client(), group.head, group.appended);
        let out = work(connection, &mut audit);
        match &out {
            Ok(_) => {
                connection.execute_batch("RELEASE write")?;
                (group.head, group.appended) = audit.state();
                group.writes += 1;
            }
            Err(_) => connection.execute_batch("ROLLBACK TO write; RELEASE write")?,
        }
        let epoch = group.epoch;
        if self.waiting.load(Ordering::SeqCst) == 0 || group.writes >= MAX_GROUP {
            let committed = self.commit(state);
            drop(guard);
            committed?;
            return out;
        }
        drop(guard);
        let out = out?;
        self.wait_for(epoch).await?;
        Ok(out)
    }

    /// Signs the head and commits the open group, if any; publishes the outcome.
    fn commit(&self, state: &mut State) -> StoreResult<()> {
        let Some(group) = state.group.take() else {
            return Ok(());
        };
        let result = Appender::resume(self.key.as_ref(), self.client(), group.head, group.appended)
            .finish(&state.connection)
            .and_then(|()| Ok(state.connection.execute_batch("COMMIT")?));
        if let Err(e) = &result {
            let _ = state.connection.execute_batch("ROLLBACK");
            self.failed
                .lock()
                .expect("failure map")
                .insert(group.epoch, e.to_string());
        }
        self.committed.send_replace(group.epoch);
        result
    }

    /// Waits until group `epoch` is committed; commits it itself if the writer expected to do
    /// so went away.
    async fn wait_for(&self, epoch: u64) -> StoreResult<()> {
        let mut committed = self.committed.subscribe();
        while *committed.borrow_and_update() < epoch {
            if tokio::time::timeout(Duration::from_millis(20), committed.changed())
                .await
                .is_err()
            {
                let mut guard = self.state.lock().await;
                if guard.group.as_ref().is_some_and(|g| g.epoch == epoch) {
                    let _ = self.commit(&mut guard);
                }
            }
        }
        match self.failed.lock().expect("failure map").get(&epoch) {
            Some(e) => Err(StoreError::Direct(format!("the commit failed: {e}"))),
            None => Ok(()),
        }
    }

    /// Names the program writing: `concord VERSION PROGRAM` in every audit event from now on
    /// (the first name given stays).
    pub(crate) fn set_client(&self, program: &str) {
        let _ = self.client.set(format!("{DEFAULT_CLIENT} {program}"));
    }

    /// The program writing, as audit events record it.
    pub(crate) fn client(&self) -> &str {
        self.client.get().map_or(DEFAULT_CLIENT, String::as_str)
    }

    /// Runs `work` on the connection (each statement reads one consistent snapshot; an open
    /// group's writes included).
    pub(crate) async fn read<T>(
        &self,
        work: impl FnOnce(&Connection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let guard = self.state.lock().await;
        work(&guard.connection)
    }

    /// Commits any open group first, then runs `work` (for work that opens its own read
    /// transaction, such as verifying the audit trail).
    pub(crate) async fn read_committed<T>(
        &self,
        work: impl FnOnce(&Connection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut guard = self.state.lock().await;
        self.commit(&mut guard)?;
        work(&guard.connection)
    }
}

pub(crate) fn json_text(v: &Value) -> String {
    serde_json::to_string(v).expect("JSON values serialise")
}

pub(crate) fn parse_json(text: &str, what: &str) -> StoreResult<Value> {
    serde_json::from_str(text).map_err(|e| StoreError::Integrity(format!("{what}: {e}")))
}

fn assignment(row: &Row<'_>) -> StoreResult<Assignment> {
    let purpose: String = row.get("purpose")?;
    Ok(Assignment {
        id: row.get("id")?,
        item_id: row.get("item_id")?,
        annotator_id: row.get("annotator_id")?,
        project_id: row.get("project_id")?,
        protocol_version: row.get("protocol_version")?,
        purpose: Purpose::parse(&purpose)
            .ok_or_else(|| StoreError::Integrity(format!("unknown purpose `{purpose}`")))?,
        state: row.get("state")?,
        leased_at: row.get("leased_at")?,
        expires_at: row.get("expires_at")?,
    })
}

/// The columns [`annotation`] reads, by position (a name lookup per column and row was an
/// eighth of the time of loading a project's annotations).
const ANNOTATION_COLUMNS: &str = "a.id, a.item_id, a.annotator_id, a.assignment_id, \
     a.protocol_version, a.value, a.time_spent_ms, a.created_at, a.supersedes";

fn annotation(row: &Row<'_>) -> StoreResult<Annotation> {
    let value = row.get_ref(5)?.as_str().map_err(rusqlite::Error::from)?;
    Ok(Annotation {
        id: row.get(0)?,
        item_id: row.get(1)?,
        annotator_id: row.get(2)?,
        assignment_id: row.get(3)?,
        protocol_version: row.get(4)?,
        value: parse_json(value, "annotation value")?,
        time_spent_ms: row.get(6)?,
        created_at: row.get(7)?,
        supersedes: row.get(8)?,
    })
}

/// The current (not superseded) annotations of an item, by id.
pub(crate) fn item_annotations(db: &Connection, item_id: i64) -> StoreResult<Vec<Annotation>> {
    let mut statement = db.prepare_cached(&format!(
        "SELECT {ANNOTATION_COLUMNS} FROM annotations a WHERE a.item_id = ?1 AND \
         NOT EXISTS (SELECT 1 FROM annotations b WHERE b.supersedes = a.id) ORDER BY a.id"
    ))?;
    let mut rows = statement.query(params![item_id])?;
    let mut current = Vec::new();
    while let Some(row) = rows.next()? {
        current.push(annotation(row)?);
    }
    Ok(current)
}

/// An annotation and its audit record text from a row of
/// [`crate::audit::ANNOTATION_RECORD_COLUMNS`].
fn annotation_with_record(row: &Row<'_>) -> StoreResult<(Annotation, String)> {
    let value = row.get_ref(6)?.as_str().map_err(rusqlite::Error::from)?;
    Ok((
        Annotation {
            id: row.get(0)?,
            item_id: row.get(1)?,
            annotator_id: row.get(2)?,
            assignment_id: row.get(4)?,
            protocol_version: row.get(5)?,
            value: parse_json(value, "annotation value")?,
            time_spent_ms: row.get(7)?,
            created_at: row.get(8)?,
            supersedes: row.get(9)?,
        },
        annotation_record(row)?,
    ))
}

/// The columns [`item_state`] reads, by position.
const STATE_COLUMNS: &str = "s.item_id, i.external_id, s.is_gold, s.needed, s.n_labels, \
     s.n_leased, s.state, s.label, s.confidence, s.reason, s.flagged";

fn item_state(row: &Row<'_>) -> StoreResult<ItemState> {
    let phase = row.get_ref(6)?.as_str().map_err(rusqlite::Error::from)?;
    let label = row
        .get_ref(7)?
        .as_str_or_null()
        .map_err(rusqlite::Error::from)?;
    Ok(ItemState {
        item_id: row.get(0)?,
        external_id: row.get(1)?,
        is_gold: row.get::<_, i64>(2)? != 0,
        needed: row.get(3)?,
        n_labels: row.get(4)?,
        n_leased: row.get(5)?,
        phase: ItemPhase::parse(phase)
            .ok_or_else(|| StoreError::Integrity(format!("unknown item state `{phase}`")))?,
        label: label
            .map(|l| parse_json(l, "consensus label"))
            .transpose()?,
        confidence: row.get(8)?,
        reason: row.get(9)?,
        flagged: row.get::<_, i64>(10)? != 0,
    })
}

fn item(row: &Row<'_>) -> StoreResult<Item> {
    let gold: Option<String> = row.get("gold")?;
    Ok(Item {
        id: row.get("id")?,
        project_id: row.get("project_id")?,
        external_id: row.get("external_id")?,
        kind: row.get("kind")?,
        content: row.get("content")?,
        content_sha256: row.get("content_sha256")?,
        metadata: parse_json(&row.get::<_, String>("metadata")?, "item metadata")?,
        gold: gold.map(|g| parse_json(&g, "gold")).transpose()?,
    })
}

/// See [`crate::Store::item`].
pub(crate) fn item_by_external_id(
    db: &Connection,
    project_id: i64,
    external_id: &str,
) -> StoreResult<Item> {
    db.prepare_cached("SELECT * FROM items WHERE project_id = ?1 AND external_id = ?2")?
        .query_row(params![project_id, external_id], |r| Ok(item(r)))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("item `{external_id}`")))?
}

/// See [`crate::Store::item_by_id`].
pub(crate) fn item_by_id(db: &Connection, id: i64) -> StoreResult<Item> {
    db.prepare_cached("SELECT * FROM items WHERE id = ?1")?
        .query_row(params![id], |r| Ok(item(r)))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("item #{id}")))?
}

/// See [`crate::Store::active_lease`].
pub(crate) fn active_lease(
    db: &Connection,
    project_id: i64,
    annotator_id: i64,
    now: Millis,
) -> StoreResult<Option<Assignment>> {
    db.prepare_cached(
        "SELECT * FROM assignments WHERE project_id = ?1 AND annotator_id = ?2 AND state = 'leased' \
         AND expires_at > ?3 ORDER BY id LIMIT 1",
    )?
    .query_row(params![project_id, annotator_id, now], |r| Ok(assignment(r)))
    .optional()?
    .transpose()
}

/// Marks the project's leases that run out by `until` as expired at `now`, releases their
/// places, and records which ones in one event (with `reason`, when something other than time
/// ended them).
pub(crate) fn expire(
    tx: &Connection,
    audit: &mut Appender<'_>,
    project_id: i64,
    now: Millis,
    until: Millis,
    reason: Option<&str>,
) -> StoreResult<()> {
    // Release the lease counts first, then mark the assignments expired.
    tx.prepare_cached(
        "UPDATE item_state SET n_leased = n_leased - (SELECT COUNT(*) FROM assignments a \
         WHERE a.item_id = item_state.item_id AND a.state = 'leased' AND a.expires_at <= ?1) \
         WHERE item_id IN (SELECT item_id FROM assignments WHERE project_id = ?2 AND state = 'leased' \
         AND expires_at <= ?1)",
    )?
    .execute(params![until, project_id])?;
    let expired: Vec<i64> = tx
        .prepare_cached(
            "UPDATE assignments SET state = 'expired', closed_at = ?1 \
             WHERE project_id = ?2 AND state = 'leased' AND expires_at <= ?3 RETURNING id",
        )?
        .query_map(params![now, project_id, until], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if !expired.is_empty() {
        let mut expired = expired;
        expired.sort_unstable();
        audit.append(
            tx,
            Event {
                at: now,
                actor: None,
                action: "lease.expire",
                entity: format!("project:{project_id}"),
                before: None,
                after: Some(canonical(&serde_json::json!({ "assignments": expired }))),
                reason,
            },
        )?;
    }
    Ok(())
}

/// See [`crate::Store::lease`].
pub(crate) fn lease(
    tx: &Connection,
    audit: &mut Appender<'_>,
    request: &LeaseRequest,
) -> StoreResult<Option<Assignment>> {
    expire(
        tx,
        audit,
        request.project_id,
        request.now,
        request.now,
        None,
    )?;
    let sql = match request.purpose {
        Purpose::Regular => {
            "SELECT s.item_id FROM item_state s WHERE s.project_id = ?1 AND s.is_gold = 0 \
             AND s.state = 'open' AND s.n_labels + s.n_leased < s.needed \
             AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.item_id = s.item_id AND a.annotator_id = ?2) \
             ORDER BY s.seq LIMIT 1"
        }
        Purpose::Gold | Purpose::Qualification => {
            "SELECT s.item_id FROM item_state s WHERE s.project_id = ?1 AND s.is_gold = 1 \
             AND s.retired = 0 AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.item_id = s.item_id AND a.annotator_id = ?2) \
             ORDER BY s.n_labels + s.n_leased, s.seq LIMIT 1"
        }
    };
    let candidate: Option<i64> = match (request.purpose, request.item_id) {
        (Purpose::Regular, Some(item_id)) => tx
            .prepare_cached(
                "SELECT s.item_id FROM item_state s WHERE s.item_id = ?3 AND s.project_id = ?1 \
                 AND s.is_gold = 0 AND s.state = 'open' AND s.n_labels + s.n_leased < s.needed \
                 AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.item_id = s.item_id \
                 AND a.annotator_id = ?2)",
            )?
            .query_row(
                params![request.project_id, request.annotator_id, item_id],
                |r| r.get(0),
            )
            .optional()?,
        _ => tx
            .prepare_cached(sql)?
            .query_row(params![request.project_id, request.annotator_id], |r| {
                r.get(0)
            })
            .optional()?,
    };
    let Some(item_id) = candidate else {
        return Ok(None);
    };
    let leased = tx
        .prepare_cached(
            "INSERT INTO assignments (item_id, annotator_id, project_id, protocol_version, purpose, state, \
             leased_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, 'leased', ?6, ?7) RETURNING *",
        )?
        .query_row(
            params![
                item_id,
                request.annotator_id,
                request.project_id,
                request.protocol_version,
                request.purpose.as_str(),
                request.now,
                request.now + request.lease_ms
            ],
            |r| Ok(assignment(r)),
        )??;
    tx.prepare_cached("UPDATE item_state SET n_leased = n_leased + 1 WHERE item_id = ?1")?
        .execute(params![item_id])?;
    audit.append(
        tx,
        Event {
            at: request.now,
            actor: Some(request.annotator_id),
            action: "lease.create",
            entity: format!("assignment:{}", leased.id),
            before: None,
            after: Some(canonical(&serde_json::json!({
                "expires_at": leased.expires_at,
                "item_id": leased.item_id,
                "leased_at": leased.leased_at,
                "project_id": leased.project_id,
                "protocol_version": leased.protocol_version,
                "purpose": leased.purpose.as_str(),
            }))),
            reason: None,
        },
    )?;
    Ok(Some(leased))
}

/// See [`crate::Store::submit`].
pub(crate) fn submit(
    tx: &Connection,
    audit: &mut Appender<'_>,
    new: &NewAnnotation,
    enrolment: Option<&Enrolment>,
    decide: Decide<'_>,
) -> StoreResult<Submitted> {
    let lease = tx
        .prepare_cached(
            "SELECT * FROM assignments WHERE item_id = ?1 AND annotator_id = ?2 AND state = 'leased' \
             AND expires_at > ?3",
        )?
        .query_row(params![new.item_id, new.annotator_id, new.now], |r| {
            Ok(assignment(r))
        })
        .optional()?
        .transpose()?;
    let Some(lease) = lease else {
        return Err(StoreError::Conflict(
            "no active lease on this item for this annotator (never leased, already submitted, \
             or the lease expired)"
                .into(),
        ));
    };
    // The inserted row comes back in the audit record's column order, so the event's text is
    // built from it without reading the row again.
    let (stored, record) = tx
        .prepare_cached(&format!(
            "INSERT INTO annotations (item_id, annotator_id, project_id, assignment_id, protocol_version, \
             value, time_spent_ms, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             RETURNING {}",
            crate::audit::ANNOTATION_RECORD_COLUMNS
        ))?
        .query_row(
            params![
                new.item_id,
                new.annotator_id,
                lease.project_id,
                lease.id,
                lease.protocol_version,
                json_text(&new.value),
                new.time_spent_ms,
                new.now
            ],
            |r| Ok(annotation_with_record(r)),
        )??;
    audit.append(
        tx,
        Event {
            at: new.now,
            actor: Some(new.annotator_id),
            action: "annotation.create",
            entity: format!("annotation:{}", stored.id),
            before: None,
            after: Some(record),
            reason: None,
        },
    )?;
    tx.prepare_cached("UPDATE assignments SET state = 'submitted', closed_at = ?1 WHERE id = ?2")?
        .execute(params![new.now, lease.id])?;
    let is_gold: i64 = tx
        .prepare_cached(
            "UPDATE item_state SET n_leased = n_leased - 1, n_labels = n_labels + 1, updated_at = ?1 \
             WHERE item_id = ?2 RETURNING is_gold",
        )?
        .query_row(params![new.now, new.item_id], |r| r.get(0))?;
    if is_gold == 0 {
        let current = item_annotations(tx, new.item_id)?;
        let decision = decide(&current);
        tx.prepare_cached(
            "UPDATE item_state SET needed = ?1, state = ?2, label = ?3, confidence = ?4, reason = ?5, \
             updated_at = ?6 WHERE item_id = ?7",
        )?
        .execute(params![
            decision.needed,
            decision.phase.as_str(),
            decision.label.as_ref().map(json_text),
            decision.confidence,
            decision.reason,
            new.now,
            new.item_id
        ])?;
    }
    if let Some(e) = enrolment {
        tx.prepare_cached(
            "INSERT INTO enrolments (project_id, annotator_id, phase, gold_answered, gold_correct, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (project_id, annotator_id) DO UPDATE SET \
             phase = excluded.phase, gold_answered = excluded.gold_answered, \
             gold_correct = excluded.gold_correct, updated_at = excluded.updated_at",
        )?
        .execute(params![
            lease.project_id,
            new.annotator_id,
            e.phase.as_str(),
            e.gold_answered,
            e.gold_correct,
            new.now
        ])?;
        audit.append(
            tx,
            Event {
                at: new.now,
                actor: Some(new.annotator_id),
                action: "enrolment.update",
                entity: format!("enrolment:{}.{}", lease.project_id, new.annotator_id),
                before: None,
                after: Some(canonical(&serde_json::json!({
                    "annotation_id": stored.id,
                    "gold_answered": e.gold_answered,
                    "gold_correct": e.gold_correct,
                    "phase": e.phase.as_str(),
                }))),
                reason: e.reason.as_deref(),
            },
        )?;
    }
    let state = tx
        .prepare_cached(&format!(
            "SELECT {STATE_COLUMNS} FROM item_state s JOIN items i ON i.id = s.item_id \
                 WHERE s.item_id = ?1"
        ))?
        .query_row(params![new.item_id], |r| Ok(item_state(r)))??;
    Ok(Submitted {
        annotation: stored,
        purpose: lease.purpose,
        state,
    })
}

fn run(row: &Row<'_>) -> StoreResult<ConsensusRun> {
    Ok(ConsensusRun {
        id: row.get("id")?,
        project_id: row.get("project_id")?,
        method: row.get("method")?,
        method_version: row.get("method_version")?,
        parameters: parse_json(&row.get::<_, String>("parameters")?, "run parameters")?,
        seed: row.get("seed")?,
        protocol_version: row.get("protocol_version")?,
        task_id: row.get("task_id")?,
        input_sha256: row.get("input_sha256")?,
        n_items: row.get("n_items")?,
        n_annotations: row.get("n_annotations")?,
        iterations: row.get("iterations")?,
        converged: row.get::<_, i64>("converged")? != 0,
        run_by: row.get("run_by")?,
        created_at: row.get("created_at")?,
    })
}

/// Collects every row of `sql` (with `params`) through `map`.
pub(crate) fn collect<T>(
    db: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl Fn(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut statement = db.prepare_cached(sql)?;
    let mut rows = statement.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(map(row)?);
    }
    Ok(out)
}

/// See [`crate::Store::annotations`].
pub(crate) fn annotations(db: &Connection, project_id: i64) -> StoreResult<Vec<Annotation>> {
    collect(
        db,
        &format!(
            "SELECT {ANNOTATION_COLUMNS} FROM annotations a WHERE a.project_id = ?1 AND \
             NOT EXISTS (SELECT 1 FROM annotations b WHERE b.supersedes = a.id) ORDER BY a.id"
        ),
        params![project_id],
        annotation,
    )
}

/// See [`crate::Store::annotations_after`].
pub(crate) fn annotations_after(
    db: &Connection,
    project_id: i64,
    after_id: i64,
) -> StoreResult<Vec<Annotation>> {
    collect(
        db,
        &format!(
            "SELECT {ANNOTATION_COLUMNS} FROM annotations a WHERE a.project_id = ?1 AND a.id > ?2 \
             ORDER BY a.id"
        ),
        params![project_id, after_id],
        annotation,
    )
}

/// See [`crate::Store::annotation_texts_after`].
pub(crate) fn annotation_texts_after(
    db: &Connection,
    project_id: i64,
    after_id: i64,
) -> StoreResult<Vec<AnnotationText>> {
    collect(
        db,
        "SELECT id, item_id, annotator_id, created_at, supersedes, value FROM annotations \
         WHERE project_id = ?1 AND id > ?2 ORDER BY id",
        params![project_id, after_id],
        |row| {
            Ok(AnnotationText {
                id: row.get(0)?,
                item_id: row.get(1)?,
                annotator_id: row.get(2)?,
                created_at: row.get(3)?,
                supersedes: row.get(4)?,
                value: row
                    .get_ref(5)?
                    .as_str()
                    .map_err(rusqlite::Error::from)?
                    .into(),
            })
        },
    )
}

/// See [`crate::Store::annotation_count`].
pub(crate) fn annotation_count(
    db: &Connection,
    project_id: i64,
    up_to_id: i64,
) -> StoreResult<i64> {
    Ok(db
        .prepare_cached("SELECT COUNT(*) FROM annotations WHERE project_id = ?1 AND id <= ?2")?
        .query_row(params![project_id, up_to_id], |r| r.get(0))?)
}

/// See [`crate::Store::gold_answers`].
pub(crate) fn gold_answers(db: &Connection, project_id: i64) -> StoreResult<Vec<(i64, Value)>> {
    collect(
        db,
        "SELECT id, gold FROM items WHERE project_id = ?1 AND gold IS NOT NULL ORDER BY id",
        params![project_id],
        |row| {
            let gold = row.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
            Ok((row.get(0)?, parse_json(gold, "gold")?))
        },
    )
}

/// See [`crate::Store::items`].
pub(crate) fn items(db: &Connection, project_id: i64) -> StoreResult<Vec<Item>> {
    collect(
        db,
        "SELECT * FROM items WHERE project_id = ?1 ORDER BY id",
        params![project_id],
        item,
    )
}

/// See [`crate::Store::item_states`].
pub(crate) fn item_states(db: &Connection, project_id: i64) -> StoreResult<Vec<ItemState>> {
    collect(
        db,
        &format!(
            "SELECT {STATE_COLUMNS} FROM item_state s JOIN items i ON i.id = s.item_id \
             WHERE s.project_id = ?1 ORDER BY s.seq"
        ),
        params![project_id],
        item_state,
    )
}

/// See [`crate::Store::item_state_totals`].
pub(crate) fn item_state_totals(db: &Connection, project_id: i64) -> StoreResult<Vec<StateTotal>> {
    collect(
        db,
        "SELECT is_gold, state, COUNT(*), SUM(n_labels) FROM item_state WHERE project_id = ?1 \
         GROUP BY is_gold, state ORDER BY is_gold, state",
        params![project_id],
        |row| {
            let phase = row.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
            Ok(StateTotal {
                is_gold: row.get::<_, i64>(0)? != 0,
                phase: ItemPhase::parse(phase).ok_or_else(|| {
                    StoreError::Integrity(format!("unknown item state `{phase}`"))
                })?,
                items: row.get(2)?,
                labels: row.get(3)?,
            })
        },
    )
}

/// See [`crate::Store::record_run`].
pub(crate) fn record_run(
    tx: &Connection,
    audit: &mut Appender<'_>,
    new: &NewConsensusRun,
) -> StoreResult<ConsensusRun> {
    let run_id: i64 = tx
        .prepare_cached(
            "INSERT INTO consensus_runs (project_id, method, method_version, parameters, seed, protocol_version, \
             task_id, input_sha256, n_items, n_annotations, iterations, converged, run_by, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) RETURNING id",
        )?
        .query_row(
            params![
                new.project_id,
                new.method,
                new.method_version,
                json_text(&new.parameters),
                new.seed,
                new.protocol_version,
                new.task_id,
                new.input_sha256,
                new.labels.len() as i64,
                new.n_annotations,
                new.iterations,
                i64::from(new.converged),
                new.run_by,
                new.now
            ],
            |r| r.get(0),
        )?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO consensus_labels (run_id, item_id, label, confidence, posterior, status) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        // Only while the item is still in the state the decision was made from.
        let mut decide = tx.prepare_cached(
            "UPDATE item_state SET needed = ?1, state = ?2, label = ?3, confidence = ?4, reason = ?5, \
             updated_at = ?6 WHERE item_id = ?7 AND n_labels = ?8 AND state = ?9",
        )?;
        for label in &new.labels {
            insert.execute(params![
                run_id,
                label.item_id,
                json_text(&label.label),
                label.confidence,
                json_text(&label.posterior),
                label.status
            ])?;
            if let Some(decision) = &label.decision {
                decide.execute(params![
                    decision.needed,
                    decision.phase.as_str(),
                    decision.label.as_ref().map(json_text),
                    decision.confidence,
                    decision.reason,
                    new.now,
                    label.item_id,
                    label.decided_from.0,
                    label.decided_from.1.as_str()
                ])?;
            }
        }
        let mut skill = tx.prepare_cached(
            "INSERT INTO annotator_skills (run_id, annotator_id, skill, n_labels, gold_correct, gold_total) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for s in &new.skills {
            skill.execute(params![
                run_id,
                s.annotator_id,
                json_text(&s.skill),
                s.n_labels,
                s.gold_correct,
                s.gold_total
            ])?;
        }
    }
    if let Some(d) = &new.deviation {
        crate::admin::deviation(tx, audit, new.project_id, new.run_by, d, new.now)?;
    }
    let record = run_record(tx, run_id)?
        .ok_or_else(|| StoreError::Integrity(format!("consensus run #{run_id} vanished")))?;
    audit.append(
        tx,
        Event {
            at: new.now,
            actor: new.run_by,
            action: "consensus.run",
            entity: format!("consensus_run:{run_id}"),
            before: None,
            after: Some(record),
            reason: None,
        },
    )?;
    tx.prepare_cached("SELECT * FROM consensus_runs WHERE id = ?1")?
        .query_row(params![run_id], |r| Ok(run(r)))?
}
