//! The SQLite store: WAL mode, foreign keys on, a busy timeout, and write transactions that take
//! the write lock when they begin.

use crate::direct::parse_json;
use crate::model::*;
use crate::{
    AuditEvent, AuditFilter, AuditKey, AuditVerifier, Decide, NewEvent, PurgeReport, Retention,
    Store, StoreError, StoreResult, VerifyReport,
};
use async_trait::async_trait;
use serde_json::Value;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Readers (WAL lets them run beside the writer).
    pool: SqlitePool,
    /// The connection every write goes through, with the audit key (see [`crate::direct`]).
    direct: std::sync::Arc<crate::direct::Direct>,
}

impl SqliteStore {
    /// Names the program that writes through this store (`serve`, `cli`): every audit event
    /// records `concord VERSION PROGRAM` as its client (21 CFR 11.10(e)). Without it events
    /// record `concord VERSION`. The first name given stays.
    pub fn set_client(&self, program: &str) {
        self.direct.set_client(program);
    }

    /// Opens (creating if missing) the database at `path`, applies pending migrations, and
    /// records every change with `key` signing the audit chain.
    ///
    /// # Errors
    /// [`StoreError::Database`] when the file cannot be opened, [`StoreError::Migrate`] when the
    /// schema cannot be brought up to date, [`StoreError::Audit`] when `key` is not the key
    /// that signed the database's chain.
    pub async fn open(path: &Path, key: AuditKey) -> StoreResult<Self> {
        Self::open_with(path, Some(key)).await
    }

    /// Opens the database for reading and verifying only: without the audit key, every write
    /// is refused with [`StoreError::Audit`].
    pub async fn open_without_key(path: &Path) -> StoreResult<Self> {
        Self::open_with(path, None).await
    }

    async fn open_with(path: &Path, key: Option<AuditKey>) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL with NORMAL is durable against application crashes; a power loss may drop the
            // last transactions but never corrupts the database.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        // A connection is checked when it is opened; pinging it again before every use would
        // double the round trips of a short query.
        let migrator = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        MIGRATIONS.run(&migrator).await?;
        migrator.close().await;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        let direct = std::sync::Arc::new(crate::direct::Direct::open(path, key)?);
        Ok(Self { pool, direct })
    }
}

fn not_found(what: impl Into<String>) -> impl FnOnce(sqlx::Error) -> StoreError {
    let what = what.into();
    move |e| match e {
        sqlx::Error::RowNotFound => StoreError::NotFound(what),
        other => StoreError::Database(other),
    }
}

fn user_from(row: &SqliteRow) -> StoreResult<User> {
    let roles: String = row.try_get("roles")?;
    let roles = roles
        .split(',')
        .filter(|r| !r.is_empty())
        .map(|r| Role::parse(r).ok_or_else(|| StoreError::Integrity(format!("unknown role `{r}`"))))
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(User {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        display_name: row.try_get("display_name")?,
        email: row.try_get("email")?,
        roles,
        password_hash: row.try_get("password_hash")?,
        qualifications: parse_json(
            &row.try_get::<String, _>("qualifications")?,
            "qualifications",
        )?,
        cost: row.try_get("cost")?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        created_at: row.try_get("created_at")?,
    })
}

fn project_from(row: &SqliteRow) -> StoreResult<Project> {
    Ok(Project {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        settings: parse_json(&row.try_get::<String, _>("settings")?, "project settings")?,
        created_at: row.try_get("created_at")?,
    })
}

fn protocol_from(row: &SqliteRow) -> StoreResult<ProtocolVersion> {
    Ok(ProtocolVersion {
        project_id: row.try_get("project_id")?,
        version: row.try_get("version")?,
        schema: parse_json(&row.try_get::<String, _>("schema")?, "protocol")?,
        schema_sha256: row.try_get("schema_sha256")?,
        note: row.try_get("note")?,
        created_at: row.try_get("created_at")?,
    })
}

fn state_from(row: &SqliteRow) -> StoreResult<ItemState> {
    let phase: String = row.try_get("state")?;
    let label: Option<String> = row.try_get("label")?;
    Ok(ItemState {
        item_id: row.try_get("item_id")?,
        external_id: row.try_get("external_id")?,
        is_gold: row.try_get::<i64, _>("is_gold")? != 0,
        needed: row.try_get("needed")?,
        n_labels: row.try_get("n_labels")?,
        n_leased: row.try_get("n_leased")?,
        phase: ItemPhase::parse(&phase)
            .ok_or_else(|| StoreError::Integrity(format!("unknown item state `{phase}`")))?,
        label: label
            .map(|l| parse_json(&l, "consensus label"))
            .transpose()?,
        confidence: row.try_get("confidence")?,
        reason: row.try_get("reason")?,
        flagged: row.try_get::<i64, _>("flagged")? != 0,
    })
}

fn annotation_from(row: &SqliteRow) -> StoreResult<Annotation> {
    Ok(Annotation {
        id: row.try_get("id")?,
        item_id: row.try_get("item_id")?,
        annotator_id: row.try_get("annotator_id")?,
        assignment_id: row.try_get("assignment_id")?,
        protocol_version: row.try_get("protocol_version")?,
        value: parse_json(&row.try_get::<String, _>("value")?, "annotation value")?,
        time_spent_ms: row.try_get("time_spent_ms")?,
        created_at: row.try_get("created_at")?,
        supersedes: row.try_get("supersedes")?,
    })
}

fn run_from(row: &SqliteRow) -> StoreResult<ConsensusRun> {
    Ok(ConsensusRun {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        method: row.try_get("method")?,
        method_version: row.try_get("method_version")?,
        parameters: parse_json(&row.try_get::<String, _>("parameters")?, "run parameters")?,
        seed: row.try_get("seed")?,
        protocol_version: row.try_get("protocol_version")?,
        task_id: row.try_get("task_id")?,
        input_sha256: row.try_get("input_sha256")?,
        n_items: row.try_get("n_items")?,
        n_annotations: row.try_get("n_annotations")?,
        iterations: row.try_get("iterations")?,
        converged: row.try_get::<i64, _>("converged")? != 0,
        run_by: row.try_get("run_by")?,
        created_at: row.try_get("created_at")?,
    })
}

fn adjudication_from(row: &SqliteRow) -> StoreResult<Adjudication> {
    let considered: Value = parse_json(&row.try_get::<String, _>("considered")?, "considered")?;
    let considered = serde_json::from_value(considered)
        .map_err(|e| StoreError::Integrity(format!("considered: {e}")))?;
    Ok(Adjudication {
        id: row.try_get("id")?,
        item_id: row.try_get("item_id")?,
        adjudicator_id: row.try_get("adjudicator_id")?,
        value: parse_json(&row.try_get::<String, _>("value")?, "adjudication value")?,
        rationale: row.try_get("rationale")?,
        considered,
        consensus_run_id: row.try_get("consensus_run_id")?,
        created_at: row.try_get("created_at")?,
        supersedes: row.try_get("supersedes")?,
    })
}

const STATE_COLUMNS: &str = "s.item_id, i.external_id, s.is_gold, s.needed, s.n_labels, s.n_leased, \
     s.state, s.label, s.confidence, s.reason, s.flagged";

/// Current annotations: those no other annotation supersedes.
const CURRENT: &str = "NOT EXISTS (SELECT 1 FROM annotations b WHERE b.supersedes = a.id)";

#[async_trait]
impl Store for SqliteStore {
    async fn create_user(
        &self,
        user: NewUser,
        actor: Option<i64>,
        now: Millis,
    ) -> StoreResult<User> {
        let id = self
            .direct
            .write(|tx, audit| crate::admin::create_user(tx, audit, &user, actor, now))
            .await?;
        self.user_by_id(id).await
    }

    async fn user(&self, name: &str) -> StoreResult<User> {
        let row = sqlx::query("SELECT * FROM users WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(not_found(format!("user `{name}`")))?;
        user_from(&row)
    }

    async fn user_by_id(&self, id: i64) -> StoreResult<User> {
        let row = sqlx::query("SELECT * FROM users WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .map_err(not_found(format!("user #{id}")))?;
        user_from(&row)
    }

    async fn users(&self) -> StoreResult<Vec<User>> {
        let rows = sqlx::query("SELECT * FROM users ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(user_from).collect()
    }

    async fn create_project(
        &self,
        name: &str,
        settings: Value,
        protocol: NewProtocol,
        now: Millis,
    ) -> StoreResult<(Project, ProtocolVersion)> {
        let id = self
            .direct
            .write(|tx, audit| {
                crate::admin::create_project(tx, audit, name, &settings, &protocol, now)
            })
            .await?;
        let project = self.project(name).await?;
        let protocol = self.protocol(id, Some(1)).await?;
        Ok((project, protocol))
    }

    async fn project(&self, name: &str) -> StoreResult<Project> {
        let row = sqlx::query("SELECT * FROM projects WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(not_found(format!("project `{name}`")))?;
        project_from(&row)
    }

    async fn projects(&self) -> StoreResult<Vec<Project>> {
        let rows = sqlx::query("SELECT * FROM projects ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(project_from).collect()
    }

    async fn add_protocol(
        &self,
        project_id: i64,
        protocol: NewProtocol,
        now: Millis,
    ) -> StoreResult<ProtocolVersion> {
        let version = self
            .direct
            .write(|tx, audit| crate::admin::add_protocol(tx, audit, project_id, &protocol, now))
            .await?;
        self.protocol(project_id, Some(version)).await
    }

    async fn protocol(
        &self,
        project_id: i64,
        version: Option<i64>,
    ) -> StoreResult<ProtocolVersion> {
        let row = match version {
            Some(v) => {
                sqlx::query("SELECT * FROM protocols WHERE project_id = $1 AND version = $2")
                    .bind(project_id)
                    .bind(v)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(not_found(format!("protocol version {v}")))?
            }
            None => sqlx::query(
                "SELECT * FROM protocols WHERE project_id = $1 ORDER BY version DESC LIMIT 1",
            )
            .bind(project_id)
            .fetch_one(&self.pool)
            .await
            .map_err(not_found(format!("protocol of project #{project_id}")))?,
        };
        protocol_from(&row)
    }

    async fn import_items(
        &self,
        project_id: i64,
        items: Vec<NewItem>,
        needed: i64,
        actor: Option<i64>,
        now: Millis,
    ) -> StoreResult<usize> {
        self.direct
            .write(|tx, audit| {
                crate::admin::import_items(tx, audit, project_id, &items, needed, actor, now)
            })
            .await
    }

    async fn import_predictions(
        &self,
        project_id: i64,
        model: &str,
        rows: Vec<NewPrediction>,
        actor: Option<i64>,
        now: Millis,
    ) -> StoreResult<usize> {
        self.direct
            .write(|tx, audit| {
                crate::admin::import_predictions(tx, audit, project_id, model, &rows, actor, now)
            })
            .await
    }

    async fn predictions(&self, project_id: i64) -> StoreResult<Vec<Prediction>> {
        self.direct
            .read(|db| crate::admin::predictions(db, project_id))
            .await
    }

    async fn set_enrolment(
        &self,
        project_id: i64,
        annotator_id: i64,
        enrolment: Enrolment,
        actor: Option<i64>,
        now: Millis,
    ) -> StoreResult<()> {
        self.direct
            .write(|tx, audit| {
                crate::admin::set_enrolment(
                    tx,
                    audit,
                    project_id,
                    annotator_id,
                    &enrolment,
                    actor,
                    now,
                )
            })
            .await
    }

    async fn routing_candidates(
        &self,
        project_id: i64,
        annotator_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<(i64, Vec<Annotation>)>> {
        self.direct
            .read(|db| crate::admin::routing_candidates(db, project_id, annotator_id, limit))
            .await
    }

    async fn gold_answers_since(
        &self,
        project_id: i64,
        annotator_id: i64,
        since: Millis,
    ) -> StoreResult<i64> {
        self.direct
            .read(|db| {
                Ok(db
                    .prepare_cached(
                        "SELECT COUNT(*) FROM annotations a JOIN items i ON i.id = a.item_id \
                         WHERE a.project_id = ?1 AND a.annotator_id = ?2 AND a.created_at >= ?3 \
                         AND i.gold IS NOT NULL",
                    )?
                    .query_row(rusqlite::params![project_id, annotator_id, since], |r| {
                        r.get(0)
                    })?)
            })
            .await
    }

    async fn recent_gold_answers(
        &self,
        project_id: i64,
        annotator_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<(Value, Value)>> {
        self.direct
            .read(|db| crate::admin::recent_gold_answers(db, project_id, annotator_id, limit))
            .await
    }

    async fn item(&self, project_id: i64, external_id: &str) -> StoreResult<Item> {
        self.direct
            .read(|db| crate::direct::item_by_external_id(db, project_id, external_id))
            .await
    }

    async fn item_by_id(&self, id: i64) -> StoreResult<Item> {
        self.direct
            .read(|db| crate::direct::item_by_id(db, id))
            .await
    }

    async fn items(&self, project_id: i64) -> StoreResult<Vec<Item>> {
        self.direct
            .read(|db| crate::direct::items(db, project_id))
            .await
    }

    async fn item_states(&self, project_id: i64) -> StoreResult<Vec<ItemState>> {
        self.direct
            .read(|db| crate::direct::item_states(db, project_id))
            .await
    }

    async fn item_state_totals(&self, project_id: i64) -> StoreResult<Vec<StateTotal>> {
        self.direct
            .read(|db| crate::direct::item_state_totals(db, project_id))
            .await
    }

    async fn item_state(&self, item_id: i64) -> StoreResult<ItemState> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {STATE_COLUMNS} FROM item_state s JOIN items i ON i.id = s.item_id WHERE s.item_id = $1"
        )))
        .bind(item_id)
        .fetch_one(&self.pool)
        .await
        .map_err(not_found(format!("item #{item_id}")))?;
        state_from(&row)
    }

    async fn active_lease(
        &self,
        project_id: i64,
        annotator_id: i64,
        now: Millis,
    ) -> StoreResult<Option<Assignment>> {
        self.direct
            .read(|db| crate::direct::active_lease(db, project_id, annotator_id, now))
            .await
    }

    async fn lease(&self, request: LeaseRequest) -> StoreResult<Option<Assignment>> {
        self.direct
            .write(|tx, audit| crate::direct::lease(tx, audit, &request))
            .await
    }

    async fn assignment_counts(
        &self,
        project_id: i64,
        annotator_id: i64,
    ) -> StoreResult<(i64, i64, i64)> {
        let rows = sqlx::query(
            "SELECT purpose, COUNT(*) AS n FROM assignments WHERE project_id = $1 AND annotator_id = $2 \
             AND state <> 'expired' GROUP BY purpose",
        )
        .bind(project_id)
        .bind(annotator_id)
        .fetch_all(&self.pool)
        .await?;
        let mut counts = (0, 0, 0);
        for row in rows {
            let purpose: String = row.try_get("purpose")?;
            let n: i64 = row.try_get("n")?;
            match Purpose::parse(&purpose) {
                Some(Purpose::Regular) => counts.0 = n,
                Some(Purpose::Gold) => counts.1 = n,
                Some(Purpose::Qualification) => counts.2 = n,
                None => {
                    return Err(StoreError::Integrity(format!(
                        "unknown purpose `{purpose}`"
                    )));
                }
            }
        }
        Ok(counts)
    }

    async fn submit(
        &self,
        annotation: NewAnnotation,
        enrolment: Option<Enrolment>,
        decide: Decide<'_>,
    ) -> StoreResult<Submitted> {
        self.direct
            .write(|tx, audit| {
                crate::direct::submit(tx, audit, &annotation, enrolment.as_ref(), decide)
            })
            .await
    }

    async fn annotations(&self, project_id: i64) -> StoreResult<Vec<Annotation>> {
        self.direct
            .read(|db| crate::direct::annotations(db, project_id))
            .await
    }

    async fn annotations_after(
        &self,
        project_id: i64,
        after_id: i64,
    ) -> StoreResult<Vec<Annotation>> {
        self.direct
            .read(|db| crate::direct::annotations_after(db, project_id, after_id))
            .await
    }

    async fn annotation_texts_after(
        &self,
        project_id: i64,
        after_id: i64,
    ) -> StoreResult<Vec<AnnotationText>> {
        self.direct
            .read(|db| crate::direct::annotation_texts_after(db, project_id, after_id))
            .await
    }

    async fn annotation_count(&self, project_id: i64, up_to_id: i64) -> StoreResult<i64> {
        self.direct
            .read(|db| crate::direct::annotation_count(db, project_id, up_to_id))
            .await
    }

    fn annotation_ids_follow_commits(&self) -> bool {
        // Every write goes through one connection's transactions, SQLite lets one writer in at
        // a time, a new row's id is the largest plus one, and triggers refuse DELETE: ids grow
        // in commit order, across processes too.
        true
    }

    async fn gold_item_ids(&self, project_id: i64) -> StoreResult<Vec<i64>> {
        self.direct
            .read(|db| {
                crate::direct::collect(
                    db,
                    "SELECT item_id FROM item_state WHERE project_id = ?1 AND is_gold = 1",
                    rusqlite::params![project_id],
                    |row| Ok(row.get(0)?),
                )
            })
            .await
    }

    async fn gold_answers(&self, project_id: i64) -> StoreResult<Vec<(i64, Value)>> {
        self.direct
            .read(|db| crate::direct::gold_answers(db, project_id))
            .await
    }

    async fn item_annotations(&self, item_id: i64) -> StoreResult<Vec<Annotation>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT * FROM annotations a WHERE a.item_id = $1 AND {CURRENT} ORDER BY a.id"
        )))
        .bind(item_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(annotation_from).collect()
    }

    async fn enrolment(
        &self,
        project_id: i64,
        annotator_id: i64,
    ) -> StoreResult<Option<Enrolment>> {
        let row =
            sqlx::query("SELECT * FROM enrolments WHERE project_id = $1 AND annotator_id = $2")
                .bind(project_id)
                .bind(annotator_id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|row| -> StoreResult<Enrolment> {
            let phase: String = row.try_get("phase")?;
            Ok(Enrolment {
                reason: None,
                phase: Phase::parse(&phase)
                    .ok_or_else(|| StoreError::Integrity(format!("unknown phase `{phase}`")))?,
                gold_answered: row.try_get("gold_answered")?,
                gold_correct: row.try_get("gold_correct")?,
            })
        })
        .transpose()
    }

    async fn retire_gold(
        &self,
        item_id: i64,
        reason: &str,
        actor: Option<i64>,
        now: Millis,
    ) -> StoreResult<bool> {
        self.direct
            .write(|tx, audit| crate::admin::retire_gold(tx, audit, item_id, reason, actor, now))
            .await
    }

    async fn retired_gold(&self, project_id: i64) -> StoreResult<Vec<i64>> {
        let ids = sqlx::query_scalar(
            "SELECT item_id FROM item_state WHERE project_id = $1 AND retired = 1 ORDER BY item_id",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids)
    }

    async fn annotators_in_phase(&self, project_id: i64, phase: Phase) -> StoreResult<Vec<i64>> {
        let ids = sqlx::query_scalar(
            "SELECT annotator_id FROM enrolments WHERE project_id = $1 AND phase = $2 \
             ORDER BY annotator_id",
        )
        .bind(project_id)
        .bind(phase.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(ids)
    }

    async fn create_credential(&self, credential: NewCredential) -> StoreResult<Credential> {
        self.direct
            .write(|tx, audit| crate::access::create_credential(tx, audit, &credential))
            .await
    }

    async fn credential(&self, token_sha256: &str) -> StoreResult<Option<Credential>> {
        self.direct
            .read(|db| crate::access::credential(db, token_sha256))
            .await
    }

    async fn credentials(
        &self,
        user_id: i64,
        kind: CredentialKind,
    ) -> StoreResult<Vec<Credential>> {
        self.direct
            .read(|db| crate::access::credentials(db, user_id, kind))
            .await
    }

    async fn revoke_credential(&self, id: i64, actor: i64, now: Millis) -> StoreResult<bool> {
        self.direct
            .write(|tx, audit| crate::access::revoke_credential(tx, audit, id, actor, now))
            .await
    }

    async fn add_member(
        &self,
        project_id: i64,
        user_id: i64,
        actor: Option<i64>,
        now: Millis,
    ) -> StoreResult<bool> {
        self.direct
            .write(|tx, audit| {
                crate::access::add_member(tx, audit, project_id, user_id, actor, now)
            })
            .await
    }

    async fn remove_member(
        &self,
        project_id: i64,
        user_id: i64,
        actor: Option<i64>,
        now: Millis,
    ) -> StoreResult<bool> {
        self.direct
            .write(|tx, audit| {
                crate::access::remove_member(tx, audit, project_id, user_id, actor, now)
            })
            .await
    }

    async fn member_projects(&self, user_id: i64) -> StoreResult<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT project_id FROM project_members WHERE user_id = $1 ORDER BY project_id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn members(&self, project_id: i64) -> StoreResult<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT user_id FROM project_members WHERE project_id = $1 ORDER BY user_id",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn record_run(&self, run: NewConsensusRun) -> StoreResult<ConsensusRun> {
        self.direct
            .write(|tx, audit| crate::direct::record_run(tx, audit, &run))
            .await
    }

    async fn latest_run(&self, project_id: i64) -> StoreResult<Option<ConsensusRun>> {
        let row = sqlx::query(
            "SELECT * FROM consensus_runs WHERE project_id = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(project_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(run_from).transpose()
    }

    async fn run_skills(&self, run_id: i64) -> StoreResult<Vec<Skill>> {
        let rows =
            sqlx::query("SELECT * FROM annotator_skills WHERE run_id = $1 ORDER BY annotator_id")
                .bind(run_id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|row| {
                Ok(Skill {
                    annotator_id: row.try_get("annotator_id")?,
                    skill: parse_json(&row.try_get::<String, _>("skill")?, "skill")?,
                    n_labels: row.try_get("n_labels")?,
                    gold_correct: row.try_get("gold_correct")?,
                    gold_total: row.try_get("gold_total")?,
                })
            })
            .collect()
    }

    async fn run_labels(&self, run_id: i64) -> StoreResult<Vec<ConsensusLabel>> {
        self.direct
            .read(|db| {
                let mut statement = db.prepare_cached(
                    "SELECT item_id, label, confidence, posterior, status FROM consensus_labels \
                     WHERE run_id = ?1 ORDER BY item_id",
                )?;
                let mut rows = statement.query([run_id])?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    let label: String = r.get(1)?;
                    let posterior: String = r.get(3)?;
                    out.push(ConsensusLabel {
                        run_id,
                        item_id: r.get(0)?,
                        label: parse_json(&label, "consensus label")?,
                        confidence: r.get(2)?,
                        posterior: parse_json(&posterior, "posterior")?,
                        status: r.get(4)?,
                    });
                }
                Ok(out)
            })
            .await
    }

    async fn consensus_label(
        &self,
        run_id: i64,
        item_id: i64,
    ) -> StoreResult<Option<ConsensusLabel>> {
        let row = sqlx::query("SELECT * FROM consensus_labels WHERE run_id = $1 AND item_id = $2")
            .bind(run_id)
            .bind(item_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| -> StoreResult<ConsensusLabel> {
            Ok(ConsensusLabel {
                run_id,
                item_id,
                label: parse_json(&row.try_get::<String, _>("label")?, "consensus label")?,
                confidence: row.try_get("confidence")?,
                posterior: parse_json(&row.try_get::<String, _>("posterior")?, "posterior")?,
                status: row.try_get("status")?,
            })
        })
        .transpose()
    }

    async fn flag(
        &self,
        item_id: i64,
        reason: &str,
        actor: Option<i64>,
        now: Millis,
    ) -> StoreResult<ItemState> {
        self.direct
            .write(|tx, audit| crate::admin::flag(tx, audit, item_id, reason, actor, now))
            .await?;
        self.item_state(item_id).await
    }

    async fn adjudicate(&self, adjudication: NewAdjudication) -> StoreResult<Adjudication> {
        self.direct
            .write(|tx, audit| crate::admin::adjudicate(tx, audit, &adjudication))
            .await
    }

    async fn adjudications(&self, project_id: i64) -> StoreResult<Vec<Adjudication>> {
        let rows = sqlx::query(
            "SELECT * FROM adjudications d WHERE d.project_id = $1 \
             AND NOT EXISTS (SELECT 1 FROM adjudications e WHERE e.supersedes = d.id) ORDER BY d.id",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(adjudication_from).collect()
    }

    async fn sign(&self, signature: NewSignature) -> StoreResult<SignatureRecord> {
        self.direct
            .write(|tx, audit| crate::admin::sign(tx, audit, &signature))
            .await
    }

    async fn signatures(
        &self,
        record_kind: &str,
        record_id: i64,
    ) -> StoreResult<Vec<SignatureRecord>> {
        self.direct
            .read(|db| crate::admin::signatures(db, record_kind, record_id))
            .await
    }

    async fn record_event(&self, event: NewEvent) -> StoreResult<i64> {
        self.direct
            .write(|tx, audit| crate::admin::record_event(tx, audit, &event))
            .await
    }

    async fn audit_events(&self, filter: AuditFilter) -> StoreResult<Vec<AuditEvent>> {
        self.direct
            .read(|db| crate::audit::events(db, &filter))
            .await
    }

    async fn signature_refusals_since(
        &self,
        user_id: i64,
        since: Millis,
    ) -> StoreResult<Vec<Millis>> {
        let entity = format!("user:{user_id}");
        self.direct
            .read(move |db| {
                crate::direct::collect(
                    db,
                    "SELECT at FROM audit_events WHERE action = 'signature.refused' \
                     AND entity = ?1 AND at >= ?2 ORDER BY at",
                    rusqlite::params![entity, since],
                    |row| Ok(row.get(0)?),
                )
            })
            .await
    }

    async fn verify_audit(&self, verifier: &AuditVerifier) -> StoreResult<VerifyReport> {
        self.direct
            .read_committed(|db| crate::verify::verify(db, verifier))
            .await
    }

    async fn create_release(&self, release: NewRelease) -> StoreResult<Release> {
        self.direct
            .write(|tx, audit| crate::admin::create_release(tx, audit, &release))
            .await
    }

    async fn releases(&self, project_id: i64) -> StoreResult<Vec<Release>> {
        self.direct
            .read(|db| crate::admin::releases(db, project_id))
            .await
    }

    async fn lock_plan(&self, plan: NewPlan) -> StoreResult<TruthingPlan> {
        self.direct
            .write(|tx, audit| crate::admin::lock_plan(tx, audit, &plan))
            .await
    }

    async fn plans(&self, project_id: i64) -> StoreResult<Vec<TruthingPlan>> {
        self.direct
            .read(|db| crate::admin::plans(db, project_id))
            .await
    }

    async fn retention(&self, project_id: i64) -> StoreResult<Retention> {
        self.direct
            .read(|db| crate::retention::retention(db, project_id))
            .await
    }

    async fn change_retention(&self, request: RetentionRequest) -> StoreResult<Retention> {
        self.direct
            .write(|tx, audit| crate::retention::change_retention(tx, audit, &request))
            .await?
            .map_err(StoreError::Conflict)
    }

    async fn purge_project(
        &self,
        project_id: i64,
        actor: Option<i64>,
        now: Millis,
        reason: &str,
    ) -> StoreResult<PurgeReport> {
        self.direct
            .write(|tx, audit| {
                crate::retention::purge_project(tx, audit, project_id, actor, now, reason)
            })
            .await?
            .map_err(StoreError::Conflict)
    }

    async fn backup(&self, path: &std::path::Path) -> StoreResult<()> {
        if path.exists() {
            return Err(StoreError::Conflict(format!(
                "{} exists; a backup is written to a new file",
                path.display()
            )));
        }
        let target = path.to_str().ok_or_else(|| {
            StoreError::Conflict(format!("{}: the path is not UTF-8", path.display()))
        })?;
        self.direct
            .read_committed(|db| {
                db.execute("VACUUM INTO ?1", [target])?;
                Ok(())
            })
            .await
    }
}
