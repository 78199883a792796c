//! The SQLite store: WAL mode, foreign keys on, a busy timeout, and write transactions that take
//! the write lock when they begin.

use crate::direct::{json_text, parse_json};
use crate::model::*;
use crate::{Decide, Store, StoreError, StoreResult};
use async_trait::async_trait;
use serde_json::Value;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row, SqlitePool, Transaction};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Readers (WAL lets them run beside the writer).
    pool: SqlitePool,
    /// The one sqlx connection that writes. Write transactions queue for it in the pool, in
    /// order and without polling, instead of meeting SQLite's busy handler, which sleeps and
    /// retries.
    writer: SqlitePool,
    /// The labelling hot path's own connection (see [`crate::direct`]).
    direct: std::sync::Arc<crate::direct::Direct>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path` and applies pending migrations.
    ///
    /// # Errors
    /// [`StoreError::Database`] when the file cannot be opened, [`StoreError::Migrate`] when the
    /// schema cannot be brought up to date.
    pub async fn open(path: &Path) -> StoreResult<Self> {
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
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        MIGRATIONS.run(&writer).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        let direct = std::sync::Arc::new(crate::direct::Direct::open(path)?);
        Ok(Self {
            pool,
            writer,
            direct,
        })
    }

    /// Begins a write transaction on the writer connection, holding SQLite's write lock (other
    /// processes wait for it through the busy timeout), so two writers never interleave.
    async fn write(&self) -> StoreResult<Transaction<'static, sqlx::Sqlite>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }
}

fn not_found(what: impl Into<String>) -> impl FnOnce(sqlx::Error) -> StoreError {
    let what = what.into();
    move |e| match e {
        sqlx::Error::RowNotFound => StoreError::NotFound(what),
        other => StoreError::Database(other),
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
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
     s.state, s.label, s.confidence, s.reason";

/// Current annotations: those no other annotation supersedes.
const CURRENT: &str = "NOT EXISTS (SELECT 1 FROM annotations b WHERE b.supersedes = a.id)";

#[async_trait]
impl Store for SqliteStore {
    async fn create_user(&self, user: NewUser, now: Millis) -> StoreResult<User> {
        let roles: Vec<&str> = user.roles.iter().map(|r| r.as_str()).collect();
        let mut tx = self.write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (name, display_name, email, roles, password_hash, qualifications, cost, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(&user.name)
        .bind(&user.display_name)
        .bind(&user.email)
        .bind(roles.join(","))
        .bind(&user.password_hash)
        .bind(json_text(&user.qualifications))
        .bind(user.cost)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(format!("a user named `{}` already exists", user.name))
            } else {
                e.into()
            }
        })?;
        tx.commit().await?;
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
        let mut tx = self.write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO projects (name, settings, created_at, created_by) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(name)
        .bind(json_text(&settings))
        .bind(now)
        .bind(protocol.created_by)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(format!("a project named `{name}` already exists"))
            } else {
                e.into()
            }
        })?;
        insert_protocol(&mut tx, id, 1, &protocol, now).await?;
        tx.commit().await?;
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
        let mut tx = self.write().await?;
        let latest: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM protocols WHERE project_id = $1")
                .bind(project_id)
                .fetch_one(&mut *tx)
                .await?;
        let version =
            latest.ok_or_else(|| StoreError::NotFound(format!("project #{project_id}")))? + 1;
        insert_protocol(&mut tx, project_id, version, &protocol, now).await?;
        tx.commit().await?;
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
        now: Millis,
    ) -> StoreResult<usize> {
        let mut tx = self.write().await?;
        let mut seq: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(seq), 0) FROM item_state WHERE project_id = $1",
        )
        .bind(project_id)
        .fetch_one(&mut *tx)
        .await?;
        let n = items.len();
        for item in items {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO items (project_id, external_id, kind, content, content_sha256, metadata, gold, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(project_id)
            .bind(&item.external_id)
            .bind(&item.kind)
            .bind(&item.content)
            .bind(&item.content_sha256)
            .bind(json_text(&item.metadata))
            .bind(item.gold.as_ref().map(json_text))
            .bind(now)
            .fetch_one(&mut *tx)
            .await
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
            seq += 1;
            let (is_gold, phase, item_needed) = match item.gold {
                Some(_) => (1, ItemPhase::Gold, 0),
                None => (0, ItemPhase::Open, needed),
            };
            sqlx::query(
                "INSERT INTO item_state (item_id, project_id, is_gold, seq, needed, state, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id)
            .bind(project_id)
            .bind(is_gold)
            .bind(seq)
            .bind(item_needed)
            .bind(phase.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(n)
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
            .write(|tx| crate::direct::lease(tx, &request))
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
            .write(|tx| crate::direct::submit(tx, &annotation, enrolment.as_ref(), decide))
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

    async fn annotation_count(&self, project_id: i64, up_to_id: i64) -> StoreResult<i64> {
        self.direct
            .read(|db| crate::direct::annotation_count(db, project_id, up_to_id))
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
                phase: Phase::parse(&phase)
                    .ok_or_else(|| StoreError::Integrity(format!("unknown phase `{phase}`")))?,
                gold_answered: row.try_get("gold_answered")?,
                gold_correct: row.try_get("gold_correct")?,
            })
        })
        .transpose()
    }

    async fn record_run(&self, run: NewConsensusRun) -> StoreResult<ConsensusRun> {
        self.direct
            .write(|tx| crate::direct::record_run(tx, &run))
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

    async fn flag(&self, item_id: i64, reason: &str, now: Millis) -> StoreResult<ItemState> {
        let mut tx = self.write().await?;
        let updated = sqlx::query(
            "UPDATE item_state SET state = 'adjudication', reason = $1, updated_at = $2 \
             WHERE item_id = $3 AND is_gold = 0 AND state IN ('open', 'complete')",
        )
        .bind(reason)
        .bind(now)
        .bind(item_id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::Conflict(
                "only open or completed regular items can be sent to adjudication".into(),
            ));
        }
        tx.commit().await?;
        self.item_state(item_id).await
    }

    async fn adjudicate(&self, adjudication: NewAdjudication) -> StoreResult<Adjudication> {
        let mut tx = self.write().await?;
        let row = sqlx::query("SELECT state, project_id FROM item_state WHERE item_id = $1")
            .bind(adjudication.item_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(not_found(format!("item #{}", adjudication.item_id)))?;
        let state: String = row.try_get("state")?;
        let project_id: i64 = row.try_get("project_id")?;
        if state != "adjudication" && state != "adjudicated" {
            return Err(StoreError::Conflict(format!(
                "the item is not in the adjudication queue (it is {state})"
            )));
        }
        let previous: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM adjudications d WHERE d.item_id = $1 \
             AND NOT EXISTS (SELECT 1 FROM adjudications e WHERE e.supersedes = d.id) ORDER BY id DESC LIMIT 1",
        )
        .bind(adjudication.item_id)
        .fetch_optional(&mut *tx)
        .await?;
        let row = sqlx::query(
            "INSERT INTO adjudications (item_id, project_id, adjudicator_id, value, rationale, considered, \
             consensus_run_id, protocol_version, created_at, supersedes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *",
        )
        .bind(adjudication.item_id)
        .bind(project_id)
        .bind(adjudication.adjudicator_id)
        .bind(json_text(&adjudication.value))
        .bind(&adjudication.rationale)
        .bind(json_text(&serde_json::json!(adjudication.considered)))
        .bind(adjudication.consensus_run_id)
        .bind(adjudication.protocol_version)
        .bind(adjudication.now)
        .bind(previous)
        .fetch_one(&mut *tx)
        .await?;
        let stored = adjudication_from(&row)?;
        sqlx::query(
            "UPDATE item_state SET state = 'adjudicated', label = $1, confidence = 1.0, updated_at = $2 \
             WHERE item_id = $3",
        )
        .bind(adjudication.label.as_ref().map(json_text))
        .bind(adjudication.now)
        .bind(adjudication.item_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(stored)
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
}

async fn insert_protocol(
    tx: &mut Transaction<'static, sqlx::Sqlite>,
    project_id: i64,
    version: i64,
    protocol: &NewProtocol,
    now: Millis,
) -> StoreResult<()> {
    use sha2::{Digest, Sha256};
    let text = json_text(&protocol.schema);
    let hash: String = Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    sqlx::query(
        "INSERT INTO protocols (project_id, version, schema, schema_sha256, note, created_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(project_id)
    .bind(version)
    .bind(text)
    .bind(hash)
    .bind(&protocol.note)
    .bind(now)
    .bind(protocol.created_by)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
