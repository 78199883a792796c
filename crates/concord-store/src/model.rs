//! The records the store keeps, as plain values (no driver types).

use serde_json::Value;

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// A user's role. A user may hold several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Manages users and everything else.
    Admin,
    /// Writes protocols, imports items, runs consensus, exports.
    Manager,
    /// Labels items assigned to them.
    Annotator,
    /// Resolves items the consensus could not settle.
    Adjudicator,
    /// Reads the audit trail and reports.
    Auditor,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Manager,
        Role::Annotator,
        Role::Adjudicator,
        Role::Auditor,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Annotator => "annotator",
            Role::Adjudicator => "adjudicator",
            Role::Auditor => "auditor",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// A new user.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUser {
    /// Unique login name.
    pub name: String,
    /// Name shown and printed on signatures.
    pub display_name: String,
    /// Contact address.
    pub email: Option<String>,
    /// Roles held.
    pub roles: Vec<Role>,
    /// Argon2 PHC string, or none for accounts that cannot log in.
    pub password_hash: Option<String>,
    /// Qualifications as JSON (free text and structured fields).
    pub qualifications: Value,
    /// Cost of one label by this user (relative units).
    pub cost: f64,
}

/// A stored user.
#[derive(Clone, PartialEq)]
pub struct User {
    /// Internal id.
    pub id: i64,
    /// Unique login name.
    pub name: String,
    /// Name shown and printed on signatures.
    pub display_name: String,
    /// Contact address.
    pub email: Option<String>,
    /// Roles held.
    pub roles: Vec<Role>,
    /// Argon2 PHC string.
    pub password_hash: Option<String>,
    /// Qualifications as JSON.
    pub qualifications: Value,
    /// Cost of one label.
    pub cost: f64,
    /// Disabled accounts can do nothing.
    pub disabled: bool,
    /// Creation time.
    pub created_at: Millis,
}

impl std::fmt::Debug for User {
    // The password hash stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("roles", &self.roles)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

impl User {
    /// Whether the user holds `role` (admins hold every role).
    pub fn has(&self, role: Role) -> bool {
        !self.disabled && (self.roles.contains(&role) || self.roles.contains(&Role::Admin))
    }
}

/// A stored project.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    /// Internal id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Settings as JSON (interpreted by the core).
    pub settings: Value,
    /// Creation time.
    pub created_at: Millis,
}

/// A protocol version to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewProtocol {
    /// The protocol as JSON.
    pub schema: Value,
    /// Why this version exists.
    pub note: String,
    /// Who wrote it.
    pub created_by: Option<i64>,
    /// Set when the change departs from a locked truthing plan after reads started.
    pub deviation: Option<Deviation>,
}

/// A stored, immutable protocol version.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolVersion {
    /// The project.
    pub project_id: i64,
    /// 1, 2, …
    pub version: i64,
    /// The protocol as JSON.
    pub schema: Value,
    /// Hex SHA-256 of the canonical JSON text.
    pub schema_sha256: String,
    /// Why this version exists.
    pub note: String,
    /// Creation time.
    pub created_at: Millis,
}

/// An item to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewItem {
    /// Unique within the project.
    pub external_id: String,
    /// `text`, `image`, `uri`.
    pub kind: String,
    /// Text, path or URI.
    pub content: String,
    /// Hex SHA-256 of the content.
    pub content_sha256: String,
    /// Free metadata.
    pub metadata: Value,
    /// Known answer (stored form), making the item gold.
    pub gold: Option<Value>,
}

/// A stored item.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Internal id.
    pub id: i64,
    /// The project.
    pub project_id: i64,
    /// Unique within the project.
    pub external_id: String,
    /// `text`, `image`, `uri`.
    pub kind: String,
    /// Text, path or URI.
    pub content: String,
    /// Hex SHA-256 of the content.
    pub content_sha256: String,
    /// Free metadata.
    pub metadata: Value,
    /// Known answer, if gold.
    pub gold: Option<Value>,
}

/// Where an item is in the workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemPhase {
    /// Needs more labels.
    Open,
    /// Enough labels and a confident consensus.
    Complete,
    /// Waiting for an adjudicator.
    Adjudication,
    /// Decided by an adjudicator.
    Adjudicated,
    /// A gold item (served for interleaving and qualification, never completed).
    Gold,
}

impl ItemPhase {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemPhase::Open => "open",
            ItemPhase::Complete => "complete",
            ItemPhase::Adjudication => "adjudication",
            ItemPhase::Adjudicated => "adjudicated",
            ItemPhase::Gold => "gold",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Open,
            Self::Complete,
            Self::Adjudication,
            Self::Adjudicated,
            Self::Gold,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// The workflow state of one item.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemState {
    /// The item.
    pub item_id: i64,
    /// Its external id.
    pub external_id: String,
    /// Gold item.
    pub is_gold: bool,
    /// Labels it needs in total (for now).
    pub needed: i64,
    /// Current (not superseded) labels.
    pub n_labels: i64,
    /// Active leases.
    pub n_leased: i64,
    /// Workflow phase.
    pub phase: ItemPhase,
    /// Current consensus label (stored form of the primary task's value), if any.
    pub label: Option<Value>,
    /// Its posterior probability.
    pub confidence: Option<f64>,
    /// Why the item is in adjudication (or other notes).
    pub reason: Option<String>,
    /// Sent to adjudication by a person (`concord adjudication flag`), not by the overlap
    /// policy: consensus runs leave it there.
    pub flagged: bool,
}

impl ItemState {
    /// Whether `decision` is what this state already says (writing it would change nothing).
    pub fn says(&self, decision: &ItemDecision) -> bool {
        self.needed == decision.needed
            && self.phase == decision.phase
            && self.label == decision.label
            && self.confidence == decision.confidence
            && self.reason == decision.reason
    }
}

/// An annotation as an in-memory copy reads it: what [`Annotation`] holds minus the lease and
/// the protocol version, with the value as the store keeps it (the compact JSON text of
/// `serde_json::to_string`, keys sorted), so a reader parses only what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnotationText {
    /// Id (increasing).
    pub id: i64,
    /// The item.
    pub item_id: i64,
    /// Who.
    pub annotator_id: i64,
    /// When (UTC milliseconds).
    pub created_at: Millis,
    /// The annotation it corrects.
    pub supersedes: Option<i64>,
    /// The value's stored JSON text.
    pub value: Box<str>,
}

/// How many of a project's items are in one phase, gold or regular, and their labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateTotal {
    /// Gold items or regular ones.
    pub is_gold: bool,
    /// The phase.
    pub phase: ItemPhase,
    /// Items.
    pub items: i64,
    /// Their current labels, summed.
    pub labels: i64,
}

/// A model prediction to import.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPrediction {
    /// The item.
    pub item_id: i64,
    /// The predicted value, in the primary task's stored form (a class id).
    pub value: Value,
    /// The model's probability of that value, if it gives one.
    pub confidence: Option<f64>,
}

/// A stored model prediction: a non-voting source, compared with the consensus.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Prediction {
    /// Row id.
    pub id: i64,
    /// The item.
    pub item_id: i64,
    /// Model name (with its version).
    pub model: String,
    /// The predicted value.
    pub value: Value,
    /// The model's probability of that value.
    pub confidence: Option<f64>,
    /// When it was imported.
    pub created_at: Millis,
}

/// What the core decided about an item after a submission.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemDecision {
    /// Labels it needs in total.
    pub needed: i64,
    /// New phase.
    pub phase: ItemPhase,
    /// Current consensus label.
    pub label: Option<Value>,
    /// Its posterior probability.
    pub confidence: Option<f64>,
    /// Why (for adjudication).
    pub reason: Option<String>,
}

/// Why an assignment was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Real work.
    Regular,
    /// A gold item interleaved with real work.
    Gold,
    /// A gold item of the qualification gate.
    Qualification,
}

impl Purpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Regular => "regular",
            Purpose::Gold => "gold",
            Purpose::Qualification => "qualification",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Regular, Self::Gold, Self::Qualification]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// What to lease.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseRequest {
    /// The project.
    pub project_id: i64,
    /// Who.
    pub annotator_id: i64,
    /// Regular work or a gold item.
    pub purpose: Purpose,
    /// The protocol version the annotator will label under.
    pub protocol_version: i64,
    /// Now.
    pub now: Millis,
    /// Lease length.
    pub lease_ms: i64,
    /// Lease this regular item (chosen by the core's routing), if it still needs a label and
    /// the annotator never had it; `None`: the store picks.
    pub item_id: Option<i64>,
}

/// A lease or a finished assignment.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// Internal id.
    pub id: i64,
    /// The item.
    pub item_id: i64,
    /// The annotator.
    pub annotator_id: i64,
    /// The project.
    pub project_id: i64,
    /// Protocol version shown.
    pub protocol_version: i64,
    /// Why it was assigned.
    pub purpose: Purpose,
    /// `leased`, `submitted`, `expired`.
    pub state: String,
    /// When leased.
    pub leased_at: Millis,
    /// When the lease runs out.
    pub expires_at: Millis,
}

/// A submitted annotation to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAnnotation {
    /// The item.
    pub item_id: i64,
    /// The annotator.
    pub annotator_id: i64,
    /// The value (stored form, validated by the core).
    pub value: Value,
    /// Seconds spent, in milliseconds.
    pub time_spent_ms: Option<i64>,
    /// Now.
    pub now: Millis,
}

/// A stored annotation (never updated: corrections supersede).
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    /// Internal id.
    pub id: i64,
    /// The item.
    pub item_id: i64,
    /// The annotator.
    pub annotator_id: i64,
    /// The assignment it fulfilled.
    pub assignment_id: Option<i64>,
    /// Protocol version it was made under.
    pub protocol_version: i64,
    /// The value.
    pub value: Value,
    /// Time spent.
    pub time_spent_ms: Option<i64>,
    /// Submission time.
    pub created_at: Millis,
    /// The annotation this one corrects.
    pub supersedes: Option<i64>,
}

/// The result of a submission.
#[derive(Debug, Clone, PartialEq)]
pub struct Submitted {
    /// The stored annotation.
    pub annotation: Annotation,
    /// The assignment's purpose (gold feedback, qualification).
    pub purpose: Purpose,
    /// The item's new state.
    pub state: ItemState,
}

/// An annotator's standing in a project: the qualification gate, then the quality rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Answering qualification gold items.
    Qualifying,
    /// Passed (or no gate): real work allowed.
    Qualified,
    /// Failed the gate.
    Failed,
    /// Recent gold accuracy below the project's probation bound: more gold items.
    Probation,
    /// Recent gold accuracy below the suspension bound: no work until a manager reinstates.
    Suspended,
}

impl Phase {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Qualifying => "qualifying",
            Phase::Qualified => "qualified",
            Phase::Failed => "failed",
            Phase::Probation => "probation",
            Phase::Suspended => "suspended",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Qualifying,
            Self::Qualified,
            Self::Failed,
            Self::Probation,
            Self::Suspended,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// An annotator's qualification progress in a project.
#[derive(Debug, Clone, PartialEq)]
pub struct Enrolment {
    /// Phase.
    pub phase: Phase,
    /// Qualification gold items answered.
    pub gold_answered: i64,
    /// Answered correctly.
    pub gold_correct: i64,
    /// Why the phase changes with this write (goes into the audit event; not stored with the
    /// enrolment).
    pub reason: Option<String>,
}

/// A consensus run to store, with its labels and skills.
#[derive(Debug, Clone, PartialEq)]
pub struct NewConsensusRun {
    /// The project.
    pub project_id: i64,
    /// Method short name.
    pub method: String,
    /// Version of the implementation (crate version).
    pub method_version: String,
    /// Parameters as JSON.
    pub parameters: Value,
    /// Seed.
    pub seed: i64,
    /// Protocol version the run read.
    pub protocol_version: i64,
    /// The task the run inferred.
    pub task_id: String,
    /// Hex SHA-256 of the exact input annotation set.
    pub input_sha256: String,
    /// Annotations read.
    pub n_annotations: i64,
    /// Iterations run.
    pub iterations: i64,
    /// Whether it converged.
    pub converged: bool,
    /// Who ran it.
    pub run_by: Option<i64>,
    /// Now.
    pub now: Millis,
    /// One per item.
    pub labels: Vec<NewConsensusLabel>,
    /// One per annotator.
    pub skills: Vec<NewSkill>,
    /// Set when the run departs from a locked truthing plan (another method).
    pub deviation: Option<Deviation>,
}

/// One item's consensus in a run, and the workflow state it implies.
#[derive(Debug, Clone, PartialEq)]
pub struct NewConsensusLabel {
    /// The item.
    pub item_id: i64,
    /// The label (stored form of the task value).
    pub label: Value,
    /// Posterior of the label.
    pub confidence: f64,
    /// Posterior over classes, as JSON `{class: p}`.
    pub posterior: Value,
    /// `auto`, `needs_adjudication`, `adjudicated`.
    pub status: String,
    /// The item's new workflow state, or `None` to leave it.
    pub decision: Option<ItemDecision>,
    /// The label count and phase the decision was made from. The store applies the decision
    /// only while the item still has both: a submission or an adjudication that landed while
    /// the method ran is newer than the run and wins.
    pub decided_from: (i64, ItemPhase),
}

/// One annotator's skill in a run.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSkill {
    /// The annotator.
    pub annotator_id: i64,
    /// Skill parameters as JSON.
    pub skill: Value,
    /// Labels in the run.
    pub n_labels: i64,
    /// Gold answers right.
    pub gold_correct: i64,
    /// Gold answers given.
    pub gold_total: i64,
}

/// A stored consensus run.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsensusRun {
    /// Internal id.
    pub id: i64,
    /// The project.
    pub project_id: i64,
    /// Method short name.
    pub method: String,
    /// Implementation version.
    pub method_version: String,
    /// Parameters.
    pub parameters: Value,
    /// Seed.
    pub seed: i64,
    /// Protocol version read.
    pub protocol_version: i64,
    /// Task inferred.
    pub task_id: String,
    /// Hex SHA-256 of the input.
    pub input_sha256: String,
    /// Items labelled.
    pub n_items: i64,
    /// Annotations read.
    pub n_annotations: i64,
    /// Iterations.
    pub iterations: i64,
    /// Converged.
    pub converged: bool,
    /// Who ran it.
    pub run_by: Option<i64>,
    /// When.
    pub created_at: Millis,
}

/// A stored skill row.
#[derive(Debug, Clone, PartialEq)]
pub struct Skill {
    /// The annotator.
    pub annotator_id: i64,
    /// Skill parameters.
    pub skill: Value,
    /// Labels in the run.
    pub n_labels: i64,
    /// Gold answers right.
    pub gold_correct: i64,
    /// Gold answers given.
    pub gold_total: i64,
}

/// An adjudication to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAdjudication {
    /// The item.
    pub item_id: i64,
    /// Who decided.
    pub adjudicator_id: i64,
    /// The decision (stored form).
    pub value: Value,
    /// Why (required).
    pub rationale: String,
    /// Ids of the annotations considered.
    pub considered: Vec<i64>,
    /// The consensus run shown, if any.
    pub consensus_run_id: Option<i64>,
    /// Protocol version.
    pub protocol_version: i64,
    /// The primary-task label the decision implies, for the item state.
    pub label: Option<Value>,
    /// The adjudicator's electronic signature, stored in the same transaction and bound to
    /// the stored decision (the core re-authenticates the adjudicator first).
    pub signature: Option<SignAs>,
    /// Now.
    pub now: Millis,
}

/// How a signer signs a record being written: the printed name and the meaning.
#[derive(Debug, Clone, PartialEq)]
pub struct SignAs {
    /// The signer's full name as printed on the record.
    pub printed_name: String,
    /// What the signature means.
    pub meaning: Meaning,
}

/// A stored adjudication.
#[derive(Debug, Clone, PartialEq)]
pub struct Adjudication {
    /// Internal id.
    pub id: i64,
    /// The item.
    pub item_id: i64,
    /// Who decided.
    pub adjudicator_id: i64,
    /// The decision.
    pub value: Value,
    /// Why.
    pub rationale: String,
    /// Annotations considered.
    pub considered: Vec<i64>,
    /// Consensus run shown.
    pub consensus_run_id: Option<i64>,
    /// When.
    pub created_at: Millis,
    /// The adjudication this one corrects.
    pub supersedes: Option<i64>,
}

/// What a signature means (21 CFR 11.50(a)(3)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Meaning {
    /// The signer wrote the record (an adjudicator's decision).
    Authored,
    /// The signer reviewed it.
    Reviewed,
    /// The signer approved it (a release, a truthing plan).
    Approved,
}

impl Meaning {
    /// Every meaning.
    pub const ALL: [Meaning; 3] = [Meaning::Authored, Meaning::Reviewed, Meaning::Approved];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Meaning::Authored => "authored",
            Meaning::Reviewed => "reviewed",
            Meaning::Approved => "approved",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// A signature to store. The store binds it to the SHA-256 of the record's content as it is
/// in the signing transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSignature {
    /// Who signs (already re-authenticated by the core).
    pub signer_id: i64,
    /// The signer's full name as printed on the record.
    pub printed_name: String,
    /// What the signature means.
    pub meaning: Meaning,
    /// `adjudication`, `annotation`, `consensus_run`.
    pub record_kind: String,
    /// The record's id.
    pub record_id: i64,
    /// Now.
    pub now: Millis,
}

/// A stored signature.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SignatureRecord {
    /// Internal id.
    pub id: i64,
    /// Who signed.
    pub signer_id: i64,
    /// Printed name.
    pub printed_name: String,
    /// Meaning.
    pub meaning: Meaning,
    /// Kind of the signed record.
    pub record_kind: String,
    /// Id of the signed record.
    pub record_id: i64,
    /// Hex SHA-256 of the record's canonical content when signed.
    pub record_sha256: String,
    /// When (UTC milliseconds).
    pub signed_at: Millis,
    /// Whether the record still has that content.
    pub valid: bool,
}

/// A release to store: a frozen manifest of a project's reference standard, signed.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRelease {
    /// The project.
    pub project_id: i64,
    /// Unique within the project.
    pub name: String,
    /// `reference`, `train`, `tune` or `test` (test releases log every export).
    pub purpose: String,
    /// The manifest, canonical JSON text.
    pub manifest: String,
    /// Who cuts it (already re-authenticated by the core).
    pub created_by: i64,
    /// The approver's signature, stored in the same transaction.
    pub signature: SignAs,
    /// Now.
    pub now: Millis,
}

/// A stored release (never updated).
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    /// Internal id.
    pub id: i64,
    /// The project.
    pub project_id: i64,
    /// Name.
    pub name: String,
    /// Purpose.
    pub purpose: String,
    /// The manifest, canonical JSON text.
    pub manifest: String,
    /// Hex SHA-256 of the manifest text, as stored when the release was cut.
    pub manifest_sha256: String,
    /// Who cut it.
    pub created_by: i64,
    /// When.
    pub created_at: Millis,
}

/// One item's stored consensus in a run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ConsensusLabel {
    /// The run.
    pub run_id: i64,
    /// The item.
    pub item_id: i64,
    /// The label.
    pub label: Value,
    /// Its posterior.
    pub confidence: f64,
    /// Posterior over classes.
    pub posterior: Value,
    /// `auto`, `needs_adjudication`, `adjudicated`, `pending`.
    pub status: String,
}

/// A departure from the locked truthing plan, recorded with the change that makes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Deviation {
    /// Why (required once reads have started).
    pub reason: String,
    /// What the plan said.
    pub from: Value,
    /// What it is now.
    pub to: Value,
}

/// A truthing plan to lock: a protocol version and the consensus settings, signed.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPlan {
    /// The project.
    pub project_id: i64,
    /// The protocol version the plan fixes.
    pub protocol_version: i64,
    /// Its SHA-256.
    pub schema_sha256: String,
    /// The project's settings (overlap, thresholds, method, seed) as the plan fixes them.
    pub settings: Value,
    /// The manager locking it (already re-authenticated by the core).
    pub created_by: i64,
    /// The manager's signature.
    pub signature: SignAs,
    /// Now.
    pub now: Millis,
}

/// A stored truthing plan (never updated).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TruthingPlan {
    /// Internal id.
    pub id: i64,
    /// The project.
    pub project_id: i64,
    /// The protocol version fixed.
    pub protocol_version: i64,
    /// Its SHA-256.
    pub schema_sha256: String,
    /// The settings fixed.
    pub settings: Value,
    /// Who locked it.
    pub created_by: i64,
    /// When.
    pub created_at: Millis,
}

/// What a credential is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    /// A browser session (a cookie), with a CSRF token for writes.
    Session,
    /// An API token for scripts (`Authorization: Bearer`).
    Token,
}

impl CredentialKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Session => "session",
            CredentialKind::Token => "token",
        }
    }
}

/// A credential to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCredential {
    /// Whose.
    pub user_id: i64,
    /// Session or token.
    pub kind: CredentialKind,
    /// A name the user gave a token, or the client that opened a session.
    pub name: String,
    /// Hex SHA-256 of the secret (the secret itself is never stored).
    pub token_sha256: String,
    /// The session's CSRF token.
    pub csrf_token: Option<String>,
    /// When it stops working (`None`: when revoked).
    pub expires_at: Option<Millis>,
    /// Why, for the audit trail (e.g. the client address of a login).
    pub reason: Option<String>,
    /// Now.
    pub now: Millis,
}

/// A stored session or API token.
#[derive(Debug, Clone, PartialEq)]
pub struct Credential {
    /// Internal id.
    pub id: i64,
    /// Whose.
    pub user_id: i64,
    /// Session or token.
    pub kind: CredentialKind,
    /// Its name.
    pub name: String,
    /// Hex SHA-256 of the secret.
    pub token_sha256: String,
    /// The session's CSRF token.
    pub csrf_token: Option<String>,
    /// Creation time.
    pub created_at: Millis,
    /// Expiry.
    pub expires_at: Option<Millis>,
    /// When revoked.
    pub revoked_at: Option<Millis>,
}

impl Credential {
    /// Whether it still grants access at `now`.
    pub fn is_valid(&self, now: Millis) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| now < at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_says_only_the_decision_it_holds() {
        let state = ItemState {
            item_id: 1,
            external_id: "x".into(),
            is_gold: false,
            needed: 3,
            n_labels: 3,
            n_leased: 0,
            phase: ItemPhase::Complete,
            label: Some(serde_json::json!({"finding": "normal"})),
            confidence: Some(0.97),
            reason: None,
            flagged: false,
        };
        let same = ItemDecision {
            needed: 3,
            phase: ItemPhase::Complete,
            label: Some(serde_json::json!({"finding": "normal"})),
            confidence: Some(0.97),
            reason: None,
        };
        assert!(state.says(&same));
        let changes = [
            ItemDecision {
                needed: 4,
                ..same.clone()
            },
            ItemDecision {
                phase: ItemPhase::Open,
                ..same.clone()
            },
            ItemDecision {
                label: Some(serde_json::json!({"finding": "nodule"})),
                ..same.clone()
            },
            ItemDecision {
                confidence: Some(0.970_000_1),
                ..same.clone()
            },
            ItemDecision {
                reason: Some("cap".into()),
                ..same.clone()
            },
        ];
        for decision in &changes {
            assert!(!state.says(decision), "{decision:?}");
        }
    }
}

/// A change to a project's retention state (see [`crate::Store::change_retention`]).
#[derive(Debug, Clone, PartialEq)]
pub enum RetentionChange {
    /// Keep the records `days` after the project is deleted (`None`: indefinitely).
    Period {
        /// Days; `None` for indefinite.
        days: Option<i64>,
    },
    /// Place a legal hold.
    PlaceHold,
    /// Release legal hold `hold_id`.
    ReleaseHold {
        /// The hold.
        hold_id: i64,
    },
    /// Delete the project logically (a tombstone; refused while a hold is in force).
    Delete,
}

/// A retention change with who asks, when and why.
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionRequest {
    /// The project.
    pub project_id: i64,
    /// Who (a user id).
    pub actor: Option<i64>,
    /// Now.
    pub now: Millis,
    /// Why (required).
    pub reason: String,
    /// What.
    pub change: RetentionChange,
}
