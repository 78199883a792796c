//! Concord's persistence: one [`Store`] trait over the data model of `DESIGN.md`, implemented on
//! SQLite ([`SqliteStore`], the embedded default).
//!
//! The store persists and enforces; the core decides. Where a decision must be atomic with the
//! write it causes (the workflow state of an item after a submission), the core passes the
//! decision as a pure function that the store calls inside the transaction.
//!
//! Every state change is one transaction. Nothing here relies on SQLite-only behaviour for
//! correctness: write transactions take the write lock up front (`BEGIN IMMEDIATE`, the SQLite
//! spelling of a serialisable write), and every multi-row rule is also a constraint
//! (`UNIQUE (item_id, annotator_id)` on assignments, `UNIQUE (project_id, external_id)` on
//! items).

#![warn(missing_docs)]

mod access;
mod admin;
pub mod audit;
mod direct;
pub mod model;
pub mod retention;
mod signer;
mod sqlite;
mod verify;

pub use audit::{AuditEvent, AuditFilter, AuditKey, AuditVerifier, NewEvent};
pub use model::*;
pub use retention::{LegalHold, PurgeReport, Retention, Tombstone};
pub use sqlite::SqliteStore;
pub use verify::{Break, BreakKind, VerifyReport};

use async_trait::async_trait;

/// What went wrong in the store, in domain terms.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The thing asked for does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The change conflicts with what is stored (a duplicate name, a lease that is not yours).
    #[error("{0}")]
    Conflict(String),
    /// Stored data breaks an invariant (corrupt JSON, an unknown enum value).
    #[error("stored data is inconsistent: {0}")]
    Integrity(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The database failed on the direct (rusqlite) hot path.
    #[error("database error: {0}")]
    Direct(String),
    /// The audit trail cannot be written or checked (a missing or wrong key).
    #[error("{0}")]
    Audit(String),
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// The decision the core makes about an item inside a submission's transaction, from the item's
/// current annotations (the new one included).
pub type Decide<'a> = &'a (dyn Fn(&[Annotation]) -> ItemDecision + Send + Sync);

/// Every operation the core needs, each one transaction.
#[async_trait]
pub trait Store: Send + Sync {
    // Users.

    /// Creates a user (`actor` is who creates it). [`StoreError::Conflict`] when the name is
    /// taken.
    async fn create_user(
        &self,
        user: NewUser,
        actor: Option<i64>,
        now: Millis,
    ) -> StoreResult<User>;
    /// The user with this login name.
    async fn user(&self, name: &str) -> StoreResult<User>;
    /// The user with this id.
    async fn user_by_id(&self, id: i64) -> StoreResult<User>;
    /// Every user, by name.
    async fn users(&self) -> StoreResult<Vec<User>>;

    // Projects and protocols.

    /// Creates a project with its first protocol version.
    async fn create_project(
        &self,
        name: &str,
        settings: serde_json::Value,
        protocol: NewProtocol,
        now: Millis,
    ) -> StoreResult<(Project, ProtocolVersion)>;
    /// The project with this name.
    async fn project(&self, name: &str) -> StoreResult<Project>;
    /// Every project, by name.
    async fn projects(&self) -> StoreResult<Vec<Project>>;
    /// Adds a protocol version (the next number).
    async fn add_protocol(
        &self,
        project_id: i64,
        protocol: NewProtocol,
        now: Millis,
    ) -> StoreResult<ProtocolVersion>;
    /// One protocol version; `None` for the latest.
    async fn protocol(&self, project_id: i64, version: Option<i64>)
    -> StoreResult<ProtocolVersion>;

    // Items.

    /// Imports items, all or nothing. Each regular item needs `needed` labels to start with.
    /// [`StoreError::Conflict`] naming the first external id already in the project.
    async fn import_items(
        &self,
        project_id: i64,
        items: Vec<NewItem>,
        needed: i64,
        actor: Option<i64>,
        now: Millis,
    ) -> StoreResult<usize>;
    /// Imports a model's predictions (non-voting), all or nothing, with one audit event.
    /// [`StoreError::Conflict`] when the model already has a prediction for one of the items.
    async fn import_predictions(
        &self,
        project_id: i64,
        model: &str,
        rows: Vec<NewPrediction>,
        actor: Option<i64>,
        now: Millis,
    ) -> StoreResult<usize>;
    /// Every model prediction of a project, in import order.
    async fn predictions(&self, project_id: i64) -> StoreResult<Vec<Prediction>>;
    /// The item with this external id.
    async fn item(&self, project_id: i64, external_id: &str) -> StoreResult<Item>;
    /// The item with this id.
    async fn item_by_id(&self, id: i64) -> StoreResult<Item>;
    /// Every item of a project, in import order.
    async fn items(&self, project_id: i64) -> StoreResult<Vec<Item>>;
    /// The workflow state of every item, in import order.
    async fn item_states(&self, project_id: i64) -> StoreResult<Vec<ItemState>>;
    /// A project's items counted by gold flag and phase, with their labels summed, without
    /// reading each item (the dashboard polls this).
    async fn item_state_totals(&self, project_id: i64) -> StoreResult<Vec<StateTotal>>;
    /// The workflow state of one item.
    async fn item_state(&self, item_id: i64) -> StoreResult<ItemState>;

    // Assignment.

    /// The annotator's unexpired lease in the project, if any.
    async fn active_lease(
        &self,
        project_id: i64,
        annotator_id: i64,
        now: Millis,
    ) -> StoreResult<Option<Assignment>>;
    /// Expires stale leases, then leases the next item for the request: for regular work the
    /// first item in import order that still needs labels counting active leases and that the
    /// annotator never had (so items are finished in order and the open frontier stays short,
    /// which keeps the query an index scan); for gold, the unseen gold item seen least, then in
    /// import order. `None` when nothing is left.
    async fn lease(&self, request: LeaseRequest) -> StoreResult<Option<Assignment>>;
    /// How many assignments of each purpose the annotator has had in the project:
    /// `(regular, gold, qualification)`.
    async fn assignment_counts(
        &self,
        project_id: i64,
        annotator_id: i64,
    ) -> StoreResult<(i64, i64, i64)>;
    /// Stores an annotation for the annotator's active lease on the item, closes the lease,
    /// applies `decide` to the item's current annotations and, if given, writes the
    /// annotator's new enrolment; all in one transaction. [`StoreError::Conflict`] when the
    /// annotator holds no unexpired lease on the item.
    async fn submit(
        &self,
        annotation: NewAnnotation,
        enrolment: Option<Enrolment>,
        decide: Decide<'_>,
    ) -> StoreResult<Submitted>;
    /// The current (not superseded) annotations of a project, by id.
    async fn annotations(&self, project_id: i64) -> StoreResult<Vec<Annotation>>;
    /// Every annotation of a project with an id above `after_id`, superseded ones included,
    /// by id (for topping up an in-memory copy).
    async fn annotations_after(
        &self,
        project_id: i64,
        after_id: i64,
    ) -> StoreResult<Vec<Annotation>>;
    /// [`Store::annotations_after`] in the compact form an in-memory copy keeps: ids, time,
    /// supersession and the value as stored (compact JSON text, not parsed), by id.
    async fn annotation_texts_after(
        &self,
        project_id: i64,
        after_id: i64,
    ) -> StoreResult<Vec<AnnotationText>>;
    /// How many annotations of a project, superseded ones included, have an id up to
    /// `up_to_id` (so a copy can tell that no row appeared below its newest one).
    async fn annotation_count(&self, project_id: i64, up_to_id: i64) -> StoreResult<i64>;
    /// Whether annotation ids grow in commit order, so no annotation can appear below the
    /// newest one a reader has seen and an in-memory copy need not count to tell (SQLite:
    /// one writer at a time, and annotations are never deleted). `false` unless a store
    /// guarantees it (a PostgreSQL sequence hands out ids before commit).
    fn annotation_ids_follow_commits(&self) -> bool {
        false
    }
    /// The known answers of a project's gold items, by item id.
    async fn gold_answers(&self, project_id: i64) -> StoreResult<Vec<(i64, serde_json::Value)>>;
    /// The ids of a project's gold items (retired ones too), from the item states' index.
    async fn gold_item_ids(&self, project_id: i64) -> StoreResult<Vec<i64>>;
    /// The current annotations of one item.
    async fn item_annotations(&self, item_id: i64) -> StoreResult<Vec<Annotation>>;
    /// Writes an annotator's standing outside a submission (a manager reinstating someone), with
    /// its audit event (`reason` in [`Enrolment::reason`]).
    async fn set_enrolment(
        &self,
        project_id: i64,
        annotator_id: i64,
        enrolment: Enrolment,
        actor: Option<i64>,
        now: Millis,
    ) -> StoreResult<()>;
    /// The open regular items the annotator may label next, in import order, at most `limit`,
    /// each with its current annotations (for the core's cost-aware routing).
    async fn routing_candidates(
        &self,
        project_id: i64,
        annotator_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<(i64, Vec<Annotation>)>>;
    /// How many gold items the annotator answered in the project since `since` (superseded
    /// answers included).
    async fn gold_answers_since(
        &self,
        project_id: i64,
        annotator_id: i64,
        since: Millis,
    ) -> StoreResult<i64>;
    /// An annotator's most recent answers on gold items (value given, gold answer), newest
    /// first, at most `limit`.
    async fn recent_gold_answers(
        &self,
        project_id: i64,
        annotator_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<(serde_json::Value, serde_json::Value)>>;
    /// The annotator's qualification progress in the project.
    async fn enrolment(&self, project_id: i64, annotator_id: i64)
    -> StoreResult<Option<Enrolment>>;
    /// Takes a gold item out of service (never leased again; its answers stay), with its audit
    /// event (`gold.retire`, with `reason`). `false` when the item is not gold or already
    /// retired (nothing written).
    async fn retire_gold(
        &self,
        item_id: i64,
        reason: &str,
        actor: Option<i64>,
        now: Millis,
    ) -> StoreResult<bool>;
    /// The project's retired gold items, by id.
    async fn retired_gold(&self, project_id: i64) -> StoreResult<Vec<i64>>;
    /// The annotators of a project whose enrolment is in `phase`, by id.
    async fn annotators_in_phase(&self, project_id: i64, phase: Phase) -> StoreResult<Vec<i64>>;

    // Web access.

    /// Stores a session or API token (audited `session.create` / `token.create`).
    async fn create_credential(&self, credential: NewCredential) -> StoreResult<Credential>;
    /// The credential whose secret hashes to `token_sha256` (hex), valid or not.
    async fn credential(&self, token_sha256: &str) -> StoreResult<Option<Credential>>;
    /// A user's credentials of one kind, oldest first.
    async fn credentials(&self, user_id: i64, kind: CredentialKind)
    -> StoreResult<Vec<Credential>>;
    /// Revokes a credential (audited); `false` when it was revoked already or does not exist.
    async fn revoke_credential(&self, id: i64, actor: i64, now: Millis) -> StoreResult<bool>;
    /// Makes a user a member of a project (audited `project.member_add`); `false` when they
    /// were one already.
    async fn add_member(
        &self,
        project_id: i64,
        user_id: i64,
        actor: Option<i64>,
        now: Millis,
    ) -> StoreResult<bool>;
    /// Removes a user from a project (audited); `false` when they were not a member.
    async fn remove_member(
        &self,
        project_id: i64,
        user_id: i64,
        actor: Option<i64>,
        now: Millis,
    ) -> StoreResult<bool>;
    /// The projects a user is a member of, by id.
    async fn member_projects(&self, user_id: i64) -> StoreResult<Vec<i64>>;
    /// A project's members, by user id.
    async fn members(&self, project_id: i64) -> StoreResult<Vec<i64>>;

    // Consensus.

    /// Stores a run with its labels and skills and applies each label's decision to its item.
    async fn record_run(&self, run: NewConsensusRun) -> StoreResult<ConsensusRun>;
    /// The latest run of the project.
    async fn latest_run(&self, project_id: i64) -> StoreResult<Option<ConsensusRun>>;
    /// The skills of a run.
    async fn run_skills(&self, run_id: i64) -> StoreResult<Vec<Skill>>;
    /// Every label of a run, by item id.
    async fn run_labels(&self, run_id: i64) -> StoreResult<Vec<ConsensusLabel>>;
    /// One item's consensus in a run, if the run labelled it.
    async fn consensus_label(
        &self,
        run_id: i64,
        item_id: i64,
    ) -> StoreResult<Option<ConsensusLabel>>;

    // Adjudication.

    /// Sends an item to the adjudication queue with a reason.
    async fn flag(
        &self,
        item_id: i64,
        reason: &str,
        actor: Option<i64>,
        now: Millis,
    ) -> StoreResult<ItemState>;
    /// Records a decision on an item in the queue (or a correction of an earlier one).
    /// [`StoreError::Conflict`] when the item is neither in the queue nor adjudicated.
    async fn adjudicate(&self, adjudication: NewAdjudication) -> StoreResult<Adjudication>;
    /// The current adjudication of each adjudicated item of a project.
    async fn adjudications(&self, project_id: i64) -> StoreResult<Vec<Adjudication>>;

    // Signatures and the audit trail.

    /// Stores an electronic signature bound to the record's current content. The core has
    /// re-authenticated the signer.
    async fn sign(&self, signature: NewSignature) -> StoreResult<SignatureRecord>;
    /// The signatures of a record, each with whether the record still matches it.
    async fn signatures(
        &self,
        record_kind: &str,
        record_id: i64,
    ) -> StoreResult<Vec<SignatureRecord>>;
    /// Appends a free-standing event (a refused signature, a read of a test set). Returns its
    /// sequence number.
    async fn record_event(&self, event: NewEvent) -> StoreResult<i64>;
    /// The events `filter` selects, oldest first.
    async fn audit_events(&self, filter: AuditFilter) -> StoreResult<Vec<AuditEvent>>;
    /// When the user's signatures were refused (wrong password) at or after `since`, oldest
    /// first (from an index over `signature.refused` events only).
    async fn signature_refusals_since(
        &self,
        user_id: i64,
        since: Millis,
    ) -> StoreResult<Vec<Millis>>;
    /// Re-computes the chain and re-derives the records from it.
    async fn verify_audit(&self, verifier: &AuditVerifier) -> StoreResult<VerifyReport>;

    // Releases.

    /// Stores a release with its approver's signature, in one transaction.
    /// [`StoreError::Conflict`] when the name is taken.
    async fn create_release(&self, release: NewRelease) -> StoreResult<Release>;
    /// Every release of a project, oldest first.
    async fn releases(&self, project_id: i64) -> StoreResult<Vec<Release>>;

    // Truthing plans.

    /// Locks a truthing plan with its manager's signature, in one transaction.
    async fn lock_plan(&self, plan: NewPlan) -> StoreResult<TruthingPlan>;
    /// Every truthing plan of a project, oldest first.
    async fn plans(&self, project_id: i64) -> StoreResult<Vec<TruthingPlan>>;

    // Retention (21 CFR 11.10(c)).
    /// A project's retention state: period, holds, deletion, purge.
    async fn retention(&self, project_id: i64) -> StoreResult<Retention>;
    /// Sets the retention period, places or releases a legal hold, or deletes the project
    /// logically (audited, with the request's reason). A deletion while a hold is in force is
    /// refused with [`StoreError::Conflict`], and the refusal is audited
    /// (`project.delete.refused`).
    async fn change_retention(&self, request: RetentionRequest) -> StoreResult<Retention>;
    /// Removes a deleted project's records once its retention period ran out and no hold is in
    /// force, listing every removed record in a `project.purge` event; the project's row, its
    /// retention history and the audit trail stay. Otherwise [`StoreError::Conflict`], audited
    /// as `project.purge.refused`.
    async fn purge_project(
        &self,
        project_id: i64,
        actor: Option<i64>,
        now: Millis,
        reason: &str,
    ) -> StoreResult<PurgeReport>;
    /// Writes a consistent copy of the whole database to `path` (SQLite `VACUUM INTO`), which
    /// must not exist; the copy opens with the same audit key and verifies on its own.
    async fn backup(&self, path: &std::path::Path) -> StoreResult<()>;
}
