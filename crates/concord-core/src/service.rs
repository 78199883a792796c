//! [`Core`]: every workflow operation, with its role check, over a [`Store`].

use crate::auth::{HashCost, hash_password, verify_password};
use crate::items::read_items;
use crate::policy::Settings;
use crate::protocol::Protocol;
use crate::skills::SkillSnapshot;
use concord_consensus::truth::{Method, MethodParams};
use concord_consensus::{AnnotationsBuilder, DuplicatePolicy};
use concord_store::{
    Adjudication, Annotation, AnnotationText, ConsensusRun, Enrolment, Item, ItemDecision,
    ItemPhase, ItemState, LeaseRequest, Meaning, Millis, NewAdjudication, NewAnnotation,
    NewConsensusLabel, NewConsensusRun, NewItem, NewProtocol, NewSkill, NewUser, Phase, Project,
    ProtocolVersion, Purpose, Role, SignAs, Store, StoreError, User,
};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What went wrong, in terms a user can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The actor's roles do not allow the operation.
    #[error("permission denied: {0}")]
    Forbidden(String),
    /// The request is invalid (a value outside the protocol, a bad setting).
    #[error("{0}")]
    Invalid(String),
    /// The thing asked for does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// An import file was refused.
    #[error(transparent)]
    Import(#[from] crate::items::ImportError),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for CoreError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => CoreError::NotFound(what),
            StoreError::Conflict(what) => CoreError::Conflict(what),
            other => CoreError::Store(other),
        }
    }
}

/// Shorthand for core results.
pub type CoreResult<T> = Result<T, CoreError>;

/// Where the core reads the time (a test can hold it still or move it).
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the Unix epoch, UTC.
    fn now(&self) -> Millis;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as Millis)
    }
}

/// An item handed to an annotator: its content and nothing of anyone else's labels, nor whether
/// it is gold.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Task {
    /// The item's id.
    pub item: String,
    /// `text`, `image` or `uri`.
    pub kind: String,
    /// The text, image path or URI.
    pub content: String,
    /// The protocol version to label under.
    pub protocol_version: i64,
    /// When the lease runs out (ms since the epoch).
    pub lease_expires_at: Millis,
}

/// Feedback after a gold item: the reference answer and whether the submission matched it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GoldFeedback {
    /// Whether the primary task's answer matched the reference.
    pub correct: bool,
    /// The reference answer.
    pub reference: Value,
    /// The protocol's definition of the reference class, when there is one.
    pub definition: Option<String>,
}

/// What a submission did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Receipt {
    /// The stored annotation's id.
    pub annotation_id: i64,
    /// Feedback when the item was gold.
    pub gold: Option<GoldFeedback>,
    /// The annotator's qualification state after this submission, when the gate applies.
    pub qualification: Option<String>,
}

/// One item waiting for an adjudicator, with every read and each reader's skill.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueueEntry {
    /// The item's id.
    pub item: String,
    /// Why it is in the queue.
    pub reason: Option<String>,
    /// The current consensus label and confidence.
    pub label: Option<Value>,
    /// Its posterior probability.
    pub confidence: Option<f64>,
    /// Every current read.
    pub reads: Vec<Read>,
}

/// One annotator's read of an item, for adjudicators.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Read {
    /// The annotation's id.
    pub annotation_id: i64,
    /// The annotator's login name.
    pub annotator: String,
    /// The value.
    pub value: Value,
    /// The annotator's expected accuracy on the primary task, when a skill snapshot exists.
    pub skill: Option<f64>,
}

/// A summary of a project.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Status {
    /// Project name.
    pub project: String,
    /// Items by workflow phase (`open`, `complete`, `adjudication`, `adjudicated`, `gold`).
    pub items: HashMap<String, usize>,
    /// Current annotations.
    pub annotations: usize,
    /// Mean labels per regular item.
    pub labels_per_item: f64,
    /// Mean cost of the reads per regular item: each current annotation at its annotator's
    /// cost per label (`concord user add --cost`; 1 by default).
    pub cost_per_item: f64,
    /// Pairwise percent agreement on the primary task among items with at least two answers.
    pub agreement: Option<f64>,
    /// The latest consensus run's id.
    pub latest_run: Option<i64>,
}

/// One row of the exported reference standard.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExportRow {
    /// The item's id.
    pub item: String,
    /// The reference label (the primary task's class), or `null` while pending.
    pub label: Option<Value>,
    /// Its confidence (1 for adjudicated items).
    pub confidence: Option<f64>,
    /// `auto`, `adjudicated`, `needs_adjudication` or `pending`.
    pub status: String,
    /// Current labels.
    pub labels: i64,
    /// What the item's reads cost: each current annotation at its annotator's cost per label.
    pub cost: f64,
    /// The consensus run the label comes from (adjudicated items: the run the adjudicator saw).
    pub run: Option<i64>,
}

/// The result of a consensus run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunSummary {
    /// The stored run's id.
    pub run: i64,
    /// Method short name.
    pub method: String,
    /// Items labelled.
    pub items: usize,
    /// Annotations read.
    pub annotations: usize,
    /// Iterations run.
    pub iterations: u32,
    /// Whether it converged.
    pub converged: bool,
    /// Items now complete, in adjudication, still open.
    pub complete: usize,
    /// Items sent to (or kept in) adjudication.
    pub adjudication: usize,
    /// Items that still need labels.
    pub open: usize,
    /// Hex SHA-256 of the input annotation set.
    pub input_sha256: String,
}

/// A user to create.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRequest {
    /// Login name.
    pub name: String,
    /// Roles.
    pub roles: Vec<Role>,
    /// Password, or none for an account that cannot log in.
    pub password: Option<String>,
    /// Free-text qualification.
    pub qualification: Option<String>,
    /// Cost per label.
    pub cost: f64,
}

/// The workflow engine. Cheap to clone; clones share the store and the skill cache.
#[derive(Clone)]
pub struct Core {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    hash_cost: HashCost,
    cache: Arc<Mutex<HashMap<i64, CachedSkills>>>,
    contexts: Arc<ContextCache>,
    logs: Arc<Mutex<HashMap<i64, AnnotationLog>>>,
    run_classes: Arc<RunClassesCache>,
}

/// (consensus run, task, classes) → the class index of every item the run labelled.
pub(crate) type RunClassesCache =
    Mutex<HashMap<(i64, String, Vec<String>), Arc<HashMap<i64, usize>>>>;

/// Project name → its context and when it was read.
type ContextCache = Mutex<HashMap<String, (Arc<Context>, Instant)>>;

/// How long `next` and `submit` reuse a project's settings and latest protocol before reading
/// them again. A lease records the protocol version it was made under and `submit` validates
/// against that version, so a protocol change by another process is picked up by the next lease
/// at most this much later and never mixes versions within one label.
const CONTEXT_TTL: Duration = Duration::from_secs(1);

/// Wrong signing passwords within [`SIGNING_LOCKOUT`] that lock a signer's signing (21 CFR
/// 11.300(d): attempts at unauthorised use are detected and acted on).
pub const SIGNING_ATTEMPTS: usize = 3;

/// How long wrong signing passwords count towards the lock, and how long it lasts.
pub const SIGNING_LOCKOUT: Duration = Duration::from_secs(15 * 60);

/// A day in milliseconds (the window of the gold-feedback limit).
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Open items cost-aware routing considers for one lease (the first in import order the
/// annotator may label), so choosing stays cheap whatever the project's size.
pub const ROUTING_FRONTIER: i64 = 64;

/// A project's skill snapshot and how many submissions it has not seen.
#[derive(Debug, Clone)]
struct CachedSkills {
    snapshot: Arc<SkillSnapshot>,
    protocol_version: i64,
    new_labels: u32,
    refitting: bool,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// A project with its settings and latest protocol, parsed.
pub(crate) struct Context {
    pub(crate) project: Project,
    pub(crate) settings: Settings,
    pub(crate) protocol: ProtocolVersion,
    pub(crate) parsed: Protocol,
    /// Cost per label of every active annotator, by user id (loaded for the cost policy only).
    pub(crate) costs: Arc<HashMap<i64, f64>>,
    /// The weight of each annotator on probation, by user id (the quality rules'
    /// `probation_weight`); everyone else weighs 1.
    pub(crate) weights: Arc<HashMap<i64, f64>>,
    /// The project is deleted (closed): nothing is leased or submitted. (The store refuses new
    /// records in it too; this is the clear message.)
    pub(crate) deleted: bool,
}

impl Context {
    /// Refuses work on a deleted project.
    fn open(&self) -> CoreResult<()> {
        if self.deleted {
            return Err(CoreError::Conflict(format!(
                "project `{}` is deleted: it takes no new labels",
                self.project.name
            )));
        }
        Ok(())
    }
}

impl Core {
    /// A core over `store` with the system clock and production password hashing.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            clock: Arc::new(SystemClock),
            hash_cost: HashCost::Standard,
            cache: Default::default(),
            contexts: Default::default(),
            logs: Default::default(),
            run_classes: Default::default(),
        }
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the password hashing cost (tests).
    pub fn with_hash_cost(mut self, cost: HashCost) -> Self {
        self.hash_cost = cost;
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The consensus runs' labels by item, kept by [`Core`] for the quality reports.
    pub(crate) fn run_classes_cache(&self) -> &RunClassesCache {
        &self.run_classes
    }

    /// The core's clock: milliseconds since the Unix epoch, UTC.
    pub fn now(&self) -> Millis {
        self.clock.now()
    }

    // Users.

    /// Creates the first administrator. Refused once any user exists.
    ///
    /// # Errors
    /// [`CoreError::Conflict`] when users exist already.
    pub async fn init_admin(&self, name: &str, password: Option<&str>) -> CoreResult<User> {
        if !self.store.users().await?.is_empty() {
            return Err(CoreError::Conflict(
                "the database already has users; use `concord user add`".into(),
            ));
        }
        self.create_user(
            None,
            UserRequest {
                name: name.into(),
                roles: vec![Role::Admin],
                password: password.map(String::from),
                qualification: None,
                cost: 1.0,
            },
        )
        .await
    }

    /// Creates a user (the actor must be an admin).
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] for a non-admin actor, [`CoreError::Invalid`] for a bad name or
    /// no role, [`CoreError::Conflict`] when the name is taken.
    pub async fn add_user(&self, actor: &User, request: UserRequest) -> CoreResult<User> {
        require(actor, Role::Admin, "add users")?;
        self.create_user(Some(actor.id), request).await
    }

    async fn create_user(&self, actor: Option<i64>, request: UserRequest) -> CoreResult<User> {
        if request.name.trim().is_empty() || request.name.chars().any(char::is_whitespace) {
            return Err(CoreError::Invalid(format!(
                "`{}` is not a valid user name (no spaces)",
                request.name
            )));
        }
        if request.roles.is_empty() {
            return Err(CoreError::Invalid("a user needs at least one role".into()));
        }
        if !(request.cost > 0.0 && request.cost.is_finite()) {
            return Err(CoreError::Invalid(format!(
                "cost per label must be positive, got {}",
                request.cost
            )));
        }
        let password_hash = match &request.password {
            Some(p) if p.is_empty() => {
                return Err(CoreError::Invalid("the password is empty".into()));
            }
            Some(p) => Some(hash_password(p, self.hash_cost).map_err(CoreError::Invalid)?),
            None => None,
        };
        let qualifications = match &request.qualification {
            Some(q) => json!([q]),
            None => json!([]),
        };
        let user = NewUser {
            display_name: request.name.clone(),
            name: request.name,
            email: None,
            roles: request.roles,
            password_hash,
            qualifications,
            cost: request.cost,
        };
        Ok(self.store.create_user(user, actor, self.now()).await?)
    }

    /// The user with this login name.
    ///
    /// # Errors
    /// [`CoreError::NotFound`].
    pub async fn user(&self, name: &str) -> CoreResult<User> {
        Ok(self.store.user(name).await?)
    }

    /// Checks a password; the same error for an unknown user and a wrong password.
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] when the credentials do not match or the account is disabled.
    pub async fn authenticate(&self, name: &str, password: &str) -> CoreResult<User> {
        let denied = || CoreError::Forbidden("wrong user name or password".into());
        let user = self.store.user(name).await.map_err(|_| denied())?;
        match &user.password_hash {
            Some(hash) if !user.disabled && verify_password(password, hash) => Ok(user),
            _ => Err(denied()),
        }
    }

    // Projects and protocols.

    /// Creates a project from a protocol text (YAML or JSON) and settings.
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless the actor is a manager; [`CoreError::Invalid`] for a bad
    /// protocol or settings; [`CoreError::Conflict`] when the name is taken.
    pub async fn create_project(
        &self,
        actor: &User,
        name: &str,
        protocol_text: &str,
        settings: Settings,
    ) -> CoreResult<Project> {
        require(actor, Role::Manager, "create projects")?;
        if name.trim().is_empty() {
            return Err(CoreError::Invalid("the project needs a name".into()));
        }
        settings.check().map_err(CoreError::Invalid)?;
        let protocol = Protocol::parse(protocol_text)
            .map_err(|e| CoreError::Invalid(format!("protocol: {e}")))?;
        if matches!(
            settings.overlap,
            crate::policy::Overlap::Adaptive { .. } | crate::policy::Overlap::Cost { .. }
        ) && protocol.primary_task().is_none()
        {
            return Err(CoreError::Invalid(
                "adaptive and cost-aware overlap need a `single` or `ordinal` task to measure the consensus on"
                    .into(),
            ));
        }
        let schema = serde_json::to_value(&protocol).expect("protocols serialise");
        let settings_json = serde_json::to_value(&settings).expect("settings serialise");
        let new = NewProtocol {
            schema,
            note: "initial version".into(),
            created_by: Some(actor.id),
            deviation: None,
        };
        let (project, _) = self
            .store
            .create_project(name, settings_json, new, self.now())
            .await?;
        // Whoever creates a project can open it in the web app.
        self.store
            .add_member(project.id, actor.id, Some(actor.id), self.now())
            .await?;
        Ok(project)
    }

    /// Stores a new protocol version with a change note.
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless manager; [`CoreError::Invalid`] for a bad protocol or an
    /// empty note.
    pub async fn update_protocol(
        &self,
        actor: &User,
        project: &str,
        protocol_text: &str,
        note: &str,
        reason: Option<&str>,
    ) -> CoreResult<ProtocolVersion> {
        require(actor, Role::Manager, "change protocols")?;
        if note.trim().is_empty() {
            return Err(CoreError::Invalid(
                "a protocol change needs a note saying what changed".into(),
            ));
        }
        let project = self.store.project(project).await?;
        let protocol = Protocol::parse(protocol_text)
            .map_err(|e| CoreError::Invalid(format!("protocol: {e}")))?;
        let schema = serde_json::to_value(&protocol).expect("protocols serialise");
        let sha = crate::items::sha256_hex(
            serde_json::to_string(&schema)
                .expect("protocols serialise")
                .as_bytes(),
        );
        let deviation = self
            .deviation(
                project.id,
                "the protocol",
                reason,
                |plan| json!({ "protocol_version": plan.protocol_version, "schema_sha256": plan.schema_sha256 }),
                json!({ "schema_sha256": sha, "note": note }),
            )
            .await?;
        let new = NewProtocol {
            schema,
            note: note.into(),
            created_by: Some(actor.id),
            deviation,
        };
        let version = self.store.add_protocol(project.id, new, self.now()).await?;
        self.forget_context(&project.name);
        Ok(version)
    }

    /// Drops the cached context of `project` (its protocol or retention changed).
    pub(crate) fn forget_context(&self, project: &str) {
        self.contexts.lock().expect("context lock").remove(project);
    }

    /// The project's context for the labelling hot path (`next`, `submit`): reused for
    /// [`CONTEXT_TTL`], and dropped at once when this process changes the protocol.
    pub(crate) async fn cached_context(&self, project: &str) -> CoreResult<Arc<Context>> {
        if let Some((ctx, at)) = self.contexts.lock().expect("context lock").get(project)
            && at.elapsed() < CONTEXT_TTL
        {
            return Ok(ctx.clone());
        }
        let ctx = Arc::new(self.context(project).await?);
        self.contexts
            .lock()
            .expect("context lock")
            .insert(project.to_string(), (ctx.clone(), Instant::now()));
        Ok(ctx)
    }

    pub(crate) async fn context(&self, project: &str) -> CoreResult<Context> {
        let project = self.store.project(project).await?;
        let settings: Settings = serde_json::from_value(project.settings.clone()).map_err(|e| {
            CoreError::Store(StoreError::Integrity(format!("project settings: {e}")))
        })?;
        let retention = self.store.retention(project.id).await?;
        if let Some(purge) = &retention.purged {
            return Err(CoreError::Conflict(format!(
                "project `{}` was purged ({}): its records were removed at the end of their \
                 retention period; `concord retention show {}` and the audit trail keep its history",
                project.name, purge.reason, project.name
            )));
        }
        let protocol = self.store.protocol(project.id, None).await?;
        let parsed: Protocol = serde_json::from_value(protocol.schema.clone())
            .map_err(|e| CoreError::Store(StoreError::Integrity(format!("protocol: {e}"))))?;
        let costs = match settings.overlap {
            crate::policy::Overlap::Cost { .. } => self
                .store
                .users()
                .await?
                .into_iter()
                .filter(|u| u.has(Role::Annotator) && !u.roles.contains(&Role::Admin))
                .map(|u| (u.id, u.cost))
                .collect(),
            _ => HashMap::new(),
        };
        let weights = match settings.rules {
            Some(rules) if rules.probation_weight < 1.0 => self
                .store
                .annotators_in_phase(project.id, Phase::Probation)
                .await?
                .into_iter()
                .map(|id| (id, rules.probation_weight))
                .collect(),
            _ => HashMap::new(),
        };
        let deleted = retention.deleted.is_some();
        Ok(Context {
            project,
            settings,
            protocol,
            parsed,
            costs: Arc::new(costs),
            weights: Arc::new(weights),
            deleted,
        })
    }

    // Items.

    /// Imports items from a JSONL or CSV file, all or nothing; gold answers are validated
    /// against the protocol.
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless manager; [`CoreError::Import`] naming the line of a bad
    /// row; [`CoreError::Invalid`] for a gold answer outside the protocol (with its line);
    /// [`CoreError::Conflict`] for an id already in the project.
    pub async fn import_items(
        &self,
        actor: &User,
        project: &str,
        path: &Path,
    ) -> CoreResult<usize> {
        require(actor, Role::Manager, "import items")?;
        let ctx = self.context(project).await?;
        let items = read_items(path)?;
        let mut rows = Vec::with_capacity(items.len());
        for item in items {
            let gold = match &item.gold {
                None => None,
                Some(Value::String(s)) => Some(ctx.parsed.parse_reference(s).map_err(|e| {
                    CoreError::Invalid(format!("{}:{}: gold: {e}", path.display(), item.line))
                })?),
                Some(v) => {
                    let v = ctx.parsed.parse_reference(&v.to_string()).map_err(|e| {
                        CoreError::Invalid(format!("{}:{}: gold: {e}", path.display(), item.line))
                    })?;
                    Some(v)
                }
            };
            rows.push(NewItem {
                external_id: item.external_id,
                kind: item.kind.as_str().into(),
                content: item.content,
                content_sha256: item.content_sha256,
                metadata: Value::Object(item.metadata),
                gold,
            });
        }
        let needed = i64::from(ctx.settings.overlap.initial());
        Ok(self
            .store
            .import_items(ctx.project.id, rows, needed, Some(actor.id), self.now())
            .await?)
    }

    // Assignment.

    /// Leases the next item for an annotator: the same item again while a lease is active,
    /// qualification gold while the gate is open, interleaved gold at the project's gold rate,
    /// otherwise the regular item closest to done. `None` when nothing is left.
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless the user is an annotator, or failed the qualification
    /// gate; [`CoreError::Conflict`] when the gate needs more gold items than the project has.
    pub async fn next(&self, project: &str, annotator: &User) -> CoreResult<Option<Task>> {
        require(annotator, Role::Annotator, "label items")?;
        let ctx = self.cached_context(project).await?;
        ctx.open()?;
        let now = self.now();
        if let Some(lease) = self
            .store
            .active_lease(ctx.project.id, annotator.id, now)
            .await?
        {
            let item = self.store.item_by_id(lease.item_id).await?;
            return Ok(Some(task(&item, lease.protocol_version, lease.expires_at)));
        }
        let request = |purpose| LeaseRequest {
            project_id: ctx.project.id,
            annotator_id: annotator.id,
            purpose,
            protocol_version: ctx.protocol.version,
            now,
            lease_ms: i64::from(ctx.settings.lease_seconds) * 1000,
            item_id: None,
        };
        // The annotator's standing, read when a gate or quality rules apply.
        let standing = match (ctx.settings.qualify, ctx.settings.rules) {
            (None, None) => None,
            _ => self.store.enrolment(ctx.project.id, annotator.id).await?,
        };
        if standing.as_ref().map(|e| e.phase) == Some(Phase::Suspended) {
            return Err(CoreError::Forbidden(format!(
                "{} is suspended from `{}`: their recent gold accuracy fell below the project's \
                 bound; a manager can reinstate them (`concord reinstate`)",
                annotator.name, ctx.project.name
            )));
        }
        let on_probation = standing.as_ref().map(|e| e.phase) == Some(Phase::Probation);
        if let Some(gate) = ctx.settings.qualify {
            let enrolment = standing.clone();
            match enrolment.as_ref().map(|e| e.phase) {
                Some(Phase::Failed) => {
                    let e = enrolment.expect("matched");
                    return Err(CoreError::Forbidden(format!(
                        "{} did not pass the qualification gate of `{}` ({} of {} gold items right, {:.0}% needed)",
                        annotator.name,
                        ctx.project.name,
                        e.gold_correct,
                        e.gold_answered,
                        gate.accuracy * 100.0
                    )));
                }
                Some(Phase::Qualified | Phase::Probation | Phase::Suspended) => {}
                None | Some(Phase::Qualifying) => {
                    let lease = self.store.lease(request(Purpose::Qualification)).await?;
                    return match lease {
                        Some(lease) => {
                            let item = self.store.item_by_id(lease.item_id).await?;
                            Ok(Some(task(&item, lease.protocol_version, lease.expires_at)))
                        }
                        None => Err(CoreError::Conflict(format!(
                            "the qualification gate needs {} gold items and `{}` has too few left for {}",
                            gate.n, ctx.project.name, annotator.name
                        ))),
                    };
                }
            }
        }
        // On probation, gold comes at the rules' (higher) rate.
        let gold_rate = match (on_probation, ctx.settings.rules) {
            (true, Some(rules)) => rules.probation_gold_rate.max(ctx.settings.gold_rate),
            _ => ctx.settings.gold_rate,
        };
        if gold_rate > 0.0 {
            let (regular, gold, _) = self
                .store
                .assignment_counts(ctx.project.id, annotator.id)
                .await?;
            if wants_gold(gold_rate, ctx.settings.seed, annotator.id, regular, gold)
                && let Some(lease) = self.store.lease(request(Purpose::Gold)).await?
            {
                let item = self.store.item_by_id(lease.item_id).await?;
                return Ok(Some(task(&item, lease.protocol_version, lease.expires_at)));
            }
        }
        if let crate::policy::Overlap::Cost { budget, .. } = ctx.settings.overlap {
            // Cost-aware routing: the item this annotator is the best value for; another
            // annotator may lease it first, so a few tries.
            for _ in 0..3 {
                let Some(item_id) = self.route(&ctx, annotator, budget).await? else {
                    return Ok(None);
                };
                let chosen = LeaseRequest {
                    item_id: Some(item_id),
                    ..request(Purpose::Regular)
                };
                if let Some(lease) = self.store.lease(chosen).await? {
                    let item = self.store.item_by_id(lease.item_id).await?;
                    return Ok(Some(task(&item, lease.protocol_version, lease.expires_at)));
                }
            }
            return Ok(None);
        }
        match self.store.lease(request(Purpose::Regular)).await? {
            Some(lease) => {
                let item = self.store.item_by_id(lease.item_id).await?;
                Ok(Some(task(&item, lease.protocol_version, lease.expires_at)))
            }
            None => Ok(None),
        }
    }

    /// Submits a value (as typed: a class id for a one-task protocol, else JSON keyed by task)
    /// for an item the annotator holds a lease on. The item's posterior is updated with the
    /// current skill snapshot and the adaptive policy decides whether it needs another expert,
    /// is complete, or goes to adjudication, in the same transaction.
    ///
    /// # Errors
    /// [`CoreError::Invalid`] for a value outside the protocol (naming the task);
    /// [`CoreError::Conflict`] without an active lease; [`CoreError::Forbidden`] unless
    /// annotator; [`CoreError::NotFound`] for an unknown item.
    pub async fn submit(
        &self,
        project: &str,
        annotator: &User,
        item: &str,
        value: &str,
        time_spent_ms: Option<i64>,
    ) -> CoreResult<Receipt> {
        require(annotator, Role::Annotator, "label items")?;
        let ctx = self.cached_context(project).await?;
        ctx.open()?;
        let item = self.store.item(ctx.project.id, item).await?;
        let now = self.now();
        let lease = self
            .store
            .active_lease(ctx.project.id, annotator.id, now)
            .await?
            .filter(|l| l.item_id == item.id);
        // The value is checked against the protocol version the item was leased under, which
        // is the version the annotation records.
        let leased_protocol;
        let protocol = match &lease {
            Some(l) if l.protocol_version != ctx.protocol.version => {
                let version = self
                    .store
                    .protocol(ctx.project.id, Some(l.protocol_version))
                    .await?;
                leased_protocol =
                    serde_json::from_value::<Protocol>(version.schema).map_err(|e| {
                        CoreError::Store(StoreError::Integrity(format!("protocol: {e}")))
                    })?;
                &leased_protocol
            }
            _ => &ctx.parsed,
        };
        let value = protocol
            .parse_value(value)
            .map_err(|e| CoreError::Invalid(e.to_string()))?;
        let purpose = match &lease {
            Some(l) => l.purpose,
            _ => {
                return Err(CoreError::Conflict(format!(
                    "{} holds no active lease on item `{}` (run `concord next` first; leases expire after {} s)",
                    annotator.name, item.external_id, ctx.settings.lease_seconds
                )));
            }
        };
        let correct = item
            .gold
            .as_ref()
            .map(|gold| same_answer(&ctx.parsed, &value, gold));
        let enrolment = match (purpose, ctx.settings.qualify) {
            (Purpose::Qualification, Some(gate)) => {
                let mut e = self
                    .store
                    .enrolment(ctx.project.id, annotator.id)
                    .await?
                    .unwrap_or(Enrolment {
                        reason: None,
                        phase: Phase::Qualifying,
                        gold_answered: 0,
                        gold_correct: 0,
                    });
                e.gold_answered += 1;
                e.gold_correct += i64::from(correct == Some(true));
                if e.gold_answered >= i64::from(gate.n) {
                    let accuracy = e.gold_correct as f64 / e.gold_answered as f64;
                    e.phase = if accuracy >= gate.accuracy {
                        Phase::Qualified
                    } else {
                        Phase::Failed
                    };
                }
                Some(e)
            }
            (Purpose::Gold, _) => match (ctx.settings.rules, correct) {
                (Some(rules), Some(correct)) => {
                    self.judge(&ctx, annotator, &rules, correct).await?
                }
                _ => None,
            },
            _ => None,
        };
        let snapshot = self.snapshot(&ctx).await?;
        let decide = decider(&ctx, snapshot.clone());
        let submitted = self
            .store
            .submit(
                NewAnnotation {
                    item_id: item.id,
                    annotator_id: annotator.id,
                    value,
                    time_spent_ms,
                    now,
                },
                enrolment.clone(),
                &decide,
            )
            .await?;
        if submitted.purpose == Purpose::Regular {
            self.note_new_label(&ctx);
        }
        // A gold item answered by enough annotators is retired: the more people have seen it
        // (and, after feedback, its answer), the likelier it circulates.
        if let (Some(_), Some(limit)) = (&item.gold, ctx.settings.retire_gold_after)
            && submitted.state.n_labels >= i64::from(limit)
        {
            let reason = format!(
                "answered by {} annotators; the project retires gold after {limit}",
                submitted.state.n_labels
            );
            self.store.retire_gold(item.id, &reason, None, now).await?;
        }
        // Feedback on gold is rate-limited (when the project sets a limit) so that the gold set
        // does not leak wholesale: the first N gold answers in any 24 hours get it. Silently:
        // saying it was withheld would tell the annotator the item was gold.
        let feedback_allowed = match (&item.gold, ctx.settings.gold_feedback_per_day) {
            (Some(_), Some(limit)) => {
                let recent = self
                    .store
                    .gold_answers_since(ctx.project.id, annotator.id, now - DAY_MS)
                    .await?;
                recent <= i64::from(limit)
            }
            _ => true,
        };
        let gold = item
            .gold
            .as_ref()
            .filter(|_| feedback_allowed)
            .map(|reference| GoldFeedback {
                correct: correct == Some(true),
                reference: reference.clone(),
                definition: definition_of(&ctx.parsed, reference),
            });
        Ok(Receipt {
            annotation_id: submitted.annotation.id,
            gold,
            qualification: enrolment.map(|e| e.phase.as_str().to_string()),
        })
    }

    /// Cost-aware routing (the cost policy): among the first [`ROUTING_FRONTIER`] open items
    /// the annotator may label, those whose budget pays for their read and for which no reader
    /// of another price who could still read them offers more expected information per unit
    /// of cost; of those, the one where this annotator's read is worth most. `None` when the
    /// annotator is nobody's best value now (a senior reader waits until an item stays
    /// uncertain after the cheaper reads). Readers of the same price do not hold items for one
    /// another: the best resident reads one item at a time, so holding every item for them
    /// would idle the other residents (measured: 200 readers, one lease per pass over them).
    async fn route(&self, ctx: &Context, annotator: &User, budget: f64) -> CoreResult<Option<i64>> {
        let Some(task) = ctx.parsed.primary_task() else {
            return Ok(None);
        };
        let my_cost = ctx
            .costs
            .get(&annotator.id)
            .copied()
            .unwrap_or(annotator.cost);
        let snapshot = self.snapshot(ctx).await?;
        let candidates = self
            .store
            .routing_candidates(ctx.project.id, annotator.id, ROUTING_FRONTIER)
            .await?;
        // The others, best first by an upper bound on what a read of theirs is worth per unit
        // of cost, so that the search for someone worth more than this annotator stops early:
        // with 200 annotators, scoring everyone for 64 items cost ~10 ms per lease.
        let weight = |id: i64| ctx.weights.get(&id).copied().unwrap_or(1.0);
        let me = snapshot.reader(annotator.id, my_cost, weight(annotator.id));
        let mut others: Vec<_> = ctx
            .costs
            .iter()
            .filter(|&(&id, _)| id != annotator.id)
            .map(|(&id, &cost)| snapshot.reader(id, cost, weight(id)))
            .collect();
        others.sort_by(|a, b| {
            b.bound_per_cost
                .total_cmp(&a.bound_per_cost)
                .then(a.id.cmp(&b.id))
        });
        // Items nobody has read yet share one verdict.
        let mut unread: Option<(f64, bool)> = None;
        let mut best: Option<(f64, i64)> = None;
        for (item, reads) in candidates {
            let readers: Vec<i64> = reads.iter().map(|a| a.annotator_id).collect();
            let spent: f64 = readers
                .iter()
                .map(|r| ctx.costs.get(r).copied().unwrap_or(1.0))
                .sum();
            if spent + my_cost > budget + 1e-9 {
                continue;
            }
            let labels: Vec<(i64, usize)> = reads
                .iter()
                .filter_map(|a| {
                    let class = a.value.get(&task.id)?.as_str()?;
                    Some((
                        a.annotator_id,
                        snapshot.classes.iter().position(|c| c == class)?,
                    ))
                })
                .collect();
            let post = snapshot
                .posterior(&labels, &ctx.weights)
                .map_or_else(|| snapshot.prior.clone(), |(_, p)| p);
            let judge = || {
                let mine = me.information(&post) / my_cost;
                // Someone else who could still read the item offers more: leave it to them.
                let outbid = others
                    .iter()
                    .take_while(|r| r.bound_per_cost > mine + 1e-12)
                    .filter(|r| {
                        r.cost != my_cost
                            && !readers.contains(&r.id)
                            && spent + r.cost <= budget + 1e-9
                    })
                    .any(|r| mine + 1e-12 < r.information(&post) / r.cost);
                (mine, outbid)
            };
            let (mine, outbid) = if readers.is_empty() {
                *unread.get_or_insert_with(judge)
            } else {
                judge()
            };
            if outbid {
                continue;
            }
            if best.is_none_or(|(v, _)| mine > v) {
                best = Some((mine, item));
            }
        }
        Ok(best.map(|(_, item)| item))
    }

    /// The quality rules' verdict after a gold answer: the annotator's new standing, when it
    /// changes, with the reason the audit event records. The window is this answer and the
    /// previous `window − 1` gold answers. A suspension stands until a manager reinstates.
    async fn judge(
        &self,
        ctx: &Context,
        annotator: &User,
        rules: &crate::policy::QualityRules,
        correct: bool,
    ) -> CoreResult<Option<Enrolment>> {
        let recent = self
            .store
            .recent_gold_answers(ctx.project.id, annotator.id, i64::from(rules.window) - 1)
            .await?;
        let n = recent.len() as u32 + 1;
        let right = recent
            .iter()
            .filter(|(given, gold)| same_answer(&ctx.parsed, given, gold))
            .count() as u32
            + u32::from(correct);
        let Some((phase, accuracy)) = rules.judge(right, n) else {
            return Ok(None);
        };
        let current = self.store.enrolment(ctx.project.id, annotator.id).await?;
        let was = current.as_ref().map_or(Phase::Qualified, |e| e.phase);
        if was == phase || matches!(was, Phase::Suspended | Phase::Qualifying | Phase::Failed) {
            return Ok(None);
        }
        let reason = match phase {
            Phase::Qualified => format!(
                "gold accuracy {accuracy:.2} on the last {n} gold answers is back at or above the \
                 probation bound {}",
                rules.probation_below
            ),
            Phase::Probation => format!(
                "gold accuracy {accuracy:.2} on the last {n} gold answers is below the probation \
                 bound {}",
                rules.probation_below
            ),
            _ => format!(
                "gold accuracy {accuracy:.2} on the last {n} gold answers is below the suspension \
                 bound {}",
                rules.suspend_below
            ),
        };
        let (answered, right_total) = current
            .as_ref()
            .map_or((0, 0), |e| (e.gold_answered, e.gold_correct));
        Ok(Some(Enrolment {
            phase,
            gold_answered: answered,
            gold_correct: right_total,
            reason: Some(reason),
        }))
    }

    /// Reinstates an annotator (probation or suspension lifted) with a reason, audited.
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless manager; [`CoreError::Invalid`] for an empty reason or
    /// an annotator who is neither on probation nor suspended.
    pub async fn reinstate(
        &self,
        actor: &User,
        project: &str,
        annotator: &str,
        reason: &str,
    ) -> CoreResult<()> {
        require(actor, Role::Manager, "reinstate annotators")?;
        if reason.trim().is_empty() {
            return Err(CoreError::Invalid("reinstating needs a reason".into()));
        }
        let ctx = self.context(project).await?;
        let user = self.store.user(annotator).await?;
        let current = self.store.enrolment(ctx.project.id, user.id).await?;
        let Some(mut e) =
            current.filter(|e| matches!(e.phase, Phase::Probation | Phase::Suspended))
        else {
            return Err(CoreError::Invalid(format!(
                "{annotator} is neither on probation nor suspended in `{project}`"
            )));
        };
        e.phase = Phase::Qualified;
        e.reason = Some(reason.trim().to_string());
        self.store
            .set_enrolment(ctx.project.id, user.id, e, Some(actor.id), self.now())
            .await?;
        Ok(())
    }

    /// The project's skill snapshot: cached, else from the latest consensus run, else
    /// uninformed.
    async fn snapshot(&self, ctx: &Context) -> CoreResult<Arc<SkillSnapshot>> {
        let Some(task) = ctx.parsed.primary_task() else {
            return Ok(Arc::new(SkillSnapshot::uninformed(vec!["-".into()])));
        };
        if let Some(c) = self.cache.lock().expect("cache lock").get(&ctx.project.id)
            && c.protocol_version == ctx.protocol.version
        {
            return Ok(c.snapshot.clone());
        }
        let classes: Vec<String> = task.classes.iter().map(|c| c.id.clone()).collect();
        let mut snapshot = SkillSnapshot::uninformed(classes.clone());
        if let Some(run) = self.store.latest_run(ctx.project.id).await?
            && let Some(stored) = run.parameters.get("snapshot")
            && let Ok(s) = serde_json::from_value::<SkillSnapshot>(stored.clone())
            && s.classes == classes
        {
            snapshot = s;
        }
        let snapshot = Arc::new(snapshot);
        self.cache.lock().expect("cache lock").insert(
            ctx.project.id,
            CachedSkills {
                snapshot: snapshot.clone(),
                protocol_version: ctx.protocol.version,
                new_labels: 0,
                refitting: false,
            },
        );
        Ok(snapshot)
    }

    /// Counts a new label and starts a background re-fit of the skills when enough arrived.
    fn note_new_label(&self, ctx: &Context) {
        let due = {
            let mut cache = self.cache.lock().expect("cache lock");
            let Some(c) = cache.get_mut(&ctx.project.id) else {
                return;
            };
            c.new_labels += 1;
            if c.new_labels >= ctx.settings.refit_every && !c.refitting {
                c.refitting = true;
                Some(c.new_labels)
            } else {
                None
            }
        };
        if let Some(counted) = due
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            let core = self.clone();
            let name = ctx.project.name.clone();
            let project_id = ctx.project.id;
            handle.spawn(async move {
                let result = core.refit(&name).await;
                let mut cache = core.cache.lock().expect("cache lock");
                if let Some(c) = cache.get_mut(&project_id) {
                    c.refitting = false;
                    if let Ok((snapshot, version)) = result {
                        c.snapshot = Arc::new(snapshot);
                        c.protocol_version = version;
                        // Labels that arrived while the re-fit ran count towards the next one.
                        c.new_labels = c.new_labels.saturating_sub(counted);
                    }
                }
            });
        }
    }

    /// Fits the project's method on the current annotations and returns the skill snapshot,
    /// without storing a run.
    async fn refit(&self, project: &str) -> CoreResult<(SkillSnapshot, i64)> {
        let ctx = self.context(project).await?;
        let input = self.consensus_input(&ctx).await?;
        let method: Method =
            ctx.settings
                .method
                .parse()
                .map_err(|e: concord_consensus::truth::UnknownMethod| {
                    CoreError::Invalid(e.to_string())
                })?;
        let params = MethodParams {
            seed: ctx.settings.seed,
            ..MethodParams::default()
        };
        let snapshot = tokio::task::spawn_blocking(move || -> CoreResult<SkillSnapshot> {
            let Some(fit) = input.fit(method, &params)? else {
                return Ok(SkillSnapshot::uninformed(input.classes.clone()));
            };
            Ok(fit.snapshot)
        })
        .await
        .map_err(|e| CoreError::Invalid(format!("skill re-fit failed: {e}")))??;
        Ok((snapshot, ctx.protocol.version))
    }

    /// Waits until background skill re-fits have finished (for tests and short-lived processes).
    pub async fn wait_for_refits(&self) {
        loop {
            let busy = self
                .cache
                .lock()
                .expect("cache lock")
                .values()
                .any(|c| c.refitting);
            if !busy {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    // Consensus.

    /// The project's current annotations of `task`, in memory: the cached log topped up from
    /// the store with the annotations added since (read afresh when the cache cannot be trusted).
    pub(crate) async fn annotation_log(
        &self,
        ctx: &Context,
        task: &crate::protocol::Task,
    ) -> CoreResult<AnnotationLog> {
        let classes: Vec<String> = task.classes.iter().map(|c| c.id.clone()).collect();
        let confidence_task = ctx.parsed.confidence_task(&task.id).map(|t| t.id.as_str());
        let project_id = ctx.project.id;
        let cached = self
            .logs
            .lock()
            .expect("log lock")
            .get(&project_id)
            // A deleted project's records may be purged by another process, which the log
            // would not notice (annotation ids only grow); it is closed, so read it afresh.
            .filter(|_| !ctx.deleted)
            .filter(|log| {
                log.task_id == task.id
                    && log.classes == classes
                    && log.confidence_task.as_deref() == confidence_task
            })
            .cloned();
        let mut log = match cached {
            Some(log)
                if self.store.annotation_ids_follow_commits()
                    || self.store.annotation_count(project_id, log.last_id).await?
                        == log.n_stored =>
            {
                log
            }
            _ => AnnotationLog::new(&task.id, confidence_task, &classes),
        };
        let batch = self
            .store
            .annotation_texts_after(project_id, log.last_id)
            .await?;
        if !log.append(&batch) {
            log = AnnotationLog::new(&task.id, confidence_task, &classes);
            let all = self.store.annotation_texts_after(project_id, 0).await?;
            assert!(log.append(&all), "a fresh log takes every supersession");
        }
        self.logs
            .lock()
            .expect("log lock")
            .insert(project_id, log.clone());
        Ok(log)
    }

    /// Reads every project's current annotations into memory (the log consensus runs, the
    /// status and the leaderboard work from), so the first dashboard after a start does not
    /// wait for it. Returns how many annotations were read. A server calls this on start.
    ///
    /// # Errors
    /// A store error.
    pub async fn warm_up(&self) -> CoreResult<usize> {
        let mut read = 0;
        for project in self.store.projects().await? {
            let ctx = self.context(&project.name).await?;
            if let Some(task) = ctx.parsed.primary_task() {
                read += self.annotation_log(&ctx, task).await?.rows.len();
            }
        }
        Ok(read)
    }

    async fn consensus_input(&self, ctx: &Context) -> CoreResult<ConsensusInput> {
        let task = ctx.parsed.primary_task().ok_or_else(|| {
            CoreError::Invalid(
                "consensus needs a `single` or `ordinal` task in the protocol".into(),
            )
        })?;
        let classes: Vec<String> = task.classes.iter().map(|c| c.id.clone()).collect();
        let project_id = ctx.project.id;
        let log = self.annotation_log(ctx, task).await?;
        let gold = self
            .store
            .gold_answers(project_id)
            .await?
            .into_iter()
            .filter_map(|(item, gold)| {
                let class = gold.get(&task.id)?.as_str()?.to_string();
                Some((item, class))
            })
            .collect();
        let users = self.store.users().await?;
        Ok(ConsensusInput {
            task_id: task.id.clone(),
            classes,
            class_names: log.names.clone(),
            input_sha256: log.sha256(),
            rows: log.rows,
            gold,
            names: users.into_iter().map(|u| (u.id, u.name)).collect(),
            weights: ctx.weights.clone(),
        })
    }

    /// Runs a truth-inference method over the project's current annotations, stores the run
    /// (method, version, parameters, seed, hash of the exact input), and moves each open or
    /// complete item to the state the run implies.
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless manager; [`CoreError::Invalid`] when the protocol has no
    /// categorical task or there are no annotations yet.
    pub async fn consensus(
        &self,
        actor: &User,
        project: &str,
        method: Option<Method>,
    ) -> CoreResult<RunSummary> {
        self.consensus_with_reason(actor, project, method, None)
            .await
    }

    /// [`Core::consensus`], with the reason for departing from a locked truthing plan (a
    /// method other than the plan's, after reads started), recorded as a deviation.
    ///
    /// # Errors
    /// As [`Core::consensus`]; [`CoreError::Invalid`] for a departure without a reason.
    pub async fn consensus_with_reason(
        &self,
        actor: &User,
        project: &str,
        method: Option<Method>,
        reason: Option<&str>,
    ) -> CoreResult<RunSummary> {
        require(actor, Role::Manager, "run consensus")?;
        let ctx = self.context(project).await?;
        let method = match method {
            Some(m) => m,
            None => ctx.settings.method.parse().map_err(
                |e: concord_consensus::truth::UnknownMethod| CoreError::Invalid(e.to_string()),
            )?,
        };
        let deviation = self
            .deviation(
                ctx.project.id,
                "the consensus method",
                reason,
                |plan| json!({ "method": plan.settings.get("method") }),
                json!({ "method": method.name() }),
            )
            .await?;
        let input = self.consensus_input(&ctx).await?;
        let n_annotations = input.rows.len();
        // Who read each item (for the cost policy's budget).
        let mut readers: HashMap<i64, Vec<i64>> = HashMap::new();
        if matches!(ctx.settings.overlap, crate::policy::Overlap::Cost { .. }) {
            for row in input.rows.iter() {
                readers
                    .entry(row.item_id)
                    .or_default()
                    .push(row.annotator_id);
            }
        }
        let params = MethodParams {
            seed: ctx.settings.seed,
            ..MethodParams::default()
        };
        let input_sha256 = input.input_sha256.clone();
        let task_id = input.task_id.clone();
        // The item states are read while the method runs on another thread.
        let (states, fitted) = tokio::join!(
            self.store.item_states(ctx.project.id),
            tokio::task::spawn_blocking(move || input.fit(method, &params))
        );
        let states: HashMap<i64, ItemState> = states?.into_iter().map(|s| (s.item_id, s)).collect();
        let mut fitted = fitted
            .map_err(|e| CoreError::Invalid(format!("consensus failed: {e}")))??
            .ok_or_else(|| {
                CoreError::Invalid("no annotations with a class yet: nothing to infer".into())
            })?;
        let mut labels = Vec::new();
        let (mut complete, mut adjudication, mut open) = (0, 0, 0);
        for row in std::mem::take(&mut fitted.items) {
            let Some(state) = states.get(&row.item_id) else {
                continue;
            };
            if state.is_gold {
                continue;
            }
            let label = json!({ &task_id: row.class });
            // An item the policy sent to adjudication is decided again: a run whose skills are
            // better known may now be confident (an item can reach its cap while the early
            // skill estimates are poor). One a person flagged stays in the queue.
            let affordable = affordable(
                &ctx,
                readers.get(&row.item_id).map_or(&[][..], Vec::as_slice),
            );
            let redecide = match state.phase {
                ItemPhase::Open | ItemPhase::Complete => true,
                ItemPhase::Adjudication => !state.flagged,
                _ => false,
            };
            let decision = redecide.then(|| {
                ctx.settings.overlap.decide(
                    state.n_labels as u32,
                    Some((label.clone(), row.confidence)),
                    ctx.settings.accept,
                    affordable,
                )
            });
            let phase = decision.as_ref().map_or(state.phase, |d| d.phase);
            match phase {
                ItemPhase::Complete => complete += 1,
                ItemPhase::Adjudication => adjudication += 1,
                ItemPhase::Open => open += 1,
                _ => {}
            }
            let status = match phase {
                ItemPhase::Adjudicated => "adjudicated",
                ItemPhase::Adjudication => "needs_adjudication",
                ItemPhase::Open => "pending",
                _ => "auto",
            };
            // A decision that leaves the item as it is writes nothing (a run over unchanged
            // annotations updates no item state).
            let decision = decision.filter(|d| !state.says(d));
            labels.push(NewConsensusLabel {
                item_id: row.item_id,
                label,
                confidence: row.confidence,
                posterior: row.posterior,
                status: status.into(),
                decision,
                decided_from: (state.n_labels, state.phase),
            });
        }
        let n_items = labels.len();
        let run = self
            .store
            .record_run(NewConsensusRun {
                project_id: ctx.project.id,
                method: method.name().into(),
                method_version: env!("CARGO_PKG_VERSION").into(),
                parameters: run_parameters(&ctx, &fitted.snapshot),
                seed: ctx.settings.seed as i64,
                protocol_version: ctx.protocol.version,
                task_id,
                input_sha256: input_sha256.clone(),
                n_annotations: n_annotations as i64,
                iterations: i64::from(fitted.iterations),
                converged: fitted.converged,
                run_by: Some(actor.id),
                now: self.now(),
                labels,
                skills: fitted.skills,
                deviation,
            })
            .await?;
        self.cache.lock().expect("cache lock").insert(
            ctx.project.id,
            CachedSkills {
                snapshot: Arc::new(fitted.snapshot),
                protocol_version: ctx.protocol.version,
                new_labels: 0,
                refitting: false,
            },
        );
        Ok(RunSummary {
            run: run.id,
            method: method.name().into(),
            items: n_items,
            annotations: n_annotations,
            iterations: fitted.iterations,
            converged: fitted.converged,
            complete,
            adjudication,
            open,
            input_sha256,
        })
    }

    /// The latest consensus run.
    ///
    /// # Errors
    /// [`CoreError::NotFound`] for an unknown project.
    pub async fn latest_run(&self, project: &str) -> CoreResult<Option<ConsensusRun>> {
        let project = self.store.project(project).await?;
        Ok(self.store.latest_run(project.id).await?)
    }

    // Adjudication.

    /// The adjudication queue, least confident first, with every read and each reader's skill.
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless adjudicator or manager.
    pub async fn adjudication_queue(
        &self,
        actor: &User,
        project: &str,
    ) -> CoreResult<Vec<QueueEntry>> {
        if !actor.has(Role::Adjudicator) && !actor.has(Role::Manager) {
            return Err(CoreError::Forbidden(format!(
                "{} may not see the adjudication queue",
                actor.name
            )));
        }
        let ctx = self.context(project).await?;
        let snapshot = self.snapshot(&ctx).await?;
        let names: HashMap<i64, String> = self
            .store
            .users()
            .await?
            .into_iter()
            .map(|u| (u.id, u.name))
            .collect();
        let mut entries = Vec::new();
        for state in self.store.item_states(ctx.project.id).await? {
            if state.phase != ItemPhase::Adjudication {
                continue;
            }
            let reads = self
                .store
                .item_annotations(state.item_id)
                .await?
                .into_iter()
                .map(|a| Read {
                    annotation_id: a.id,
                    annotator: names.get(&a.annotator_id).cloned().unwrap_or_default(),
                    skill: snapshot.confusion.get(&a.annotator_id).map(|m| {
                        m.iter()
                            .enumerate()
                            .map(|(t, row)| snapshot.prior[t] * row[t])
                            .sum()
                    }),
                    value: a.value,
                })
                .collect();
            entries.push(QueueEntry {
                item: state.external_id,
                reason: state.reason,
                label: state.label,
                confidence: state.confidence,
                reads,
            });
        }
        entries.sort_by(|a, b| {
            a.confidence
                .unwrap_or(0.0)
                .total_cmp(&b.confidence.unwrap_or(0.0))
                .then(a.item.cmp(&b.item))
        });
        Ok(entries)
    }

    /// Sends an item to the adjudication queue.
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless manager; [`CoreError::Conflict`] for gold or decided items.
    pub async fn flag(
        &self,
        actor: &User,
        project: &str,
        item: &str,
        reason: &str,
    ) -> CoreResult<ItemState> {
        require(actor, Role::Manager, "flag items for adjudication")?;
        let ctx = self.context(project).await?;
        let item = self.store.item(ctx.project.id, item).await?;
        let reason = format!("flagged by {}: {reason}", actor.name);
        Ok(self
            .store
            .flag(item.id, &reason, Some(actor.id), self.now())
            .await?)
    }

    /// Re-authenticates a signer (21 CFR 11.200(a)(1): user id and password at each signing
    /// outside a continuous session). A wrong password is refused and recorded.
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] for a wrong password or an account that cannot sign.
    pub async fn reauthenticate(
        &self,
        signer: &User,
        password: &str,
        what: &str,
    ) -> CoreResult<()> {
        // After SIGNING_ATTEMPTS wrong passwords within SIGNING_LOCKOUT, signing is locked until
        // the oldest of them leaves the window; the password is not even checked meanwhile (no
        // guessing through the signature dialog). Each refusal is an audit event.
        let now = self.now();
        let window = SIGNING_LOCKOUT.as_millis() as i64;
        let refusals = self
            .store
            // Within the last `window`: a refusal exactly `window` old no longer counts.
            .signature_refusals_since(signer.id, now - window + 1)
            .await?;
        if refusals.len() >= SIGNING_ATTEMPTS {
            let until = refusals[refusals.len() - SIGNING_ATTEMPTS] + window;
            let until_text = crate::report::utc(until);
            self.store
                .record_event(concord_store::NewEvent {
                    actor: Some(signer.id),
                    action: "signature.locked".into(),
                    entity: format!("user:{}", signer.id),
                    before: None,
                    after: None,
                    reason: Some(format!(
                        "signing {what} refused: {} wrong passwords in {} minutes",
                        refusals.len(),
                        window / 60_000
                    )),
                    at: now,
                })
                .await?;
            return Err(CoreError::Forbidden(format!(
                "signing is locked for {} until {until_text}: {} wrong passwords in the last {} \
                 minutes (each is in the audit trail: concord audit log --entity user:{})",
                signer.name,
                refusals.len(),
                window / 60_000,
                signer.id
            )));
        }
        let ok = !signer.disabled
            && signer
                .password_hash
                .as_deref()
                .is_some_and(|hash| verify_password(password, hash));
        if ok {
            return Ok(());
        }
        self.store
            .record_event(concord_store::NewEvent {
                actor: Some(signer.id),
                action: "signature.refused".into(),
                entity: format!("user:{}", signer.id),
                before: None,
                after: None,
                reason: Some(format!("wrong password when signing {what}")),
                at: now,
            })
            .await?;
        Err(CoreError::Forbidden(format!(
            "signing {what} needs {}'s password, and the one given is wrong (the attempt is recorded)",
            signer.name
        )))
    }

    /// Records an adjudicator's decision, with the annotations considered, signed by the
    /// adjudicator (meaning: authored) after re-entering their password; it supersedes the
    /// consensus label.
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless adjudicator, or for a wrong password;
    /// [`CoreError::Invalid`] for an empty rationale or a value outside the protocol;
    /// [`CoreError::Conflict`] when the item is not in the queue.
    pub async fn adjudicate(
        &self,
        actor: &User,
        project: &str,
        item: &str,
        value: &str,
        rationale: &str,
        password: &str,
    ) -> CoreResult<Adjudication> {
        require(actor, Role::Adjudicator, "adjudicate")?;
        if rationale.trim().is_empty() {
            return Err(CoreError::Invalid(
                "an adjudication needs a rationale".into(),
            ));
        }
        self.reauthenticate(actor, password, &format!("the adjudication of `{item}`"))
            .await?;
        let ctx = self.context(project).await?;
        let item = self.store.item(ctx.project.id, item).await?;
        let value = ctx
            .parsed
            .parse_reference(value)
            .map_err(|e| CoreError::Invalid(e.to_string()))?;
        let considered = self
            .store
            .item_annotations(item.id)
            .await?
            .iter()
            .map(|a| a.id)
            .collect();
        let run = self.store.latest_run(ctx.project.id).await?.map(|r| r.id);
        let label = ctx
            .parsed
            .primary_task()
            .and_then(|t| value.get(&t.id).map(|v| json!({ &t.id: v })));
        Ok(self
            .store
            .adjudicate(NewAdjudication {
                item_id: item.id,
                adjudicator_id: actor.id,
                value,
                rationale: rationale.into(),
                considered,
                consensus_run_id: run,
                protocol_version: ctx.protocol.version,
                label,
                signature: Some(SignAs {
                    printed_name: actor.display_name.clone(),
                    meaning: Meaning::Authored,
                }),
                now: self.now(),
            })
            .await?)
    }

    // The audit trail.

    /// The audit events `filter` selects, oldest first (auditors and admins).
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless auditor.
    pub async fn audit_log(
        &self,
        actor: &User,
        filter: concord_store::AuditFilter,
    ) -> CoreResult<Vec<concord_store::AuditEvent>> {
        require(actor, Role::Auditor, "read the audit trail")?;
        Ok(self.store.audit_events(filter).await?)
    }

    /// Re-computes the audit chain and re-derives every audited record from it (auditors and
    /// admins).
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless auditor.
    pub async fn verify_audit(
        &self,
        actor: &User,
        verifier: &concord_store::AuditVerifier,
    ) -> CoreResult<concord_store::VerifyReport> {
        require(actor, Role::Auditor, "verify the audit trail")?;
        Ok(self.store.verify_audit(verifier).await?)
    }

    // Reports.

    /// Items by state, labels per item, agreement so far.
    ///
    /// # Errors
    /// [`CoreError::NotFound`] for an unknown project.
    pub async fn status(&self, project: &str) -> CoreResult<Status> {
        // Counters from the store's index and sums over the in-memory annotation log: nothing
        // here reads each item or each annotation (the dashboard polls this at a million).
        let ctx = self.context(project).await?;
        let totals = self.store.item_state_totals(ctx.project.id).await?;
        let gold: HashSet<i64> = self
            .store
            .gold_item_ids(ctx.project.id)
            .await?
            .into_iter()
            .collect();
        let cost_of = self.user_costs().await?;
        // Regular items' reads per annotator, priced once per annotator below.
        let mut regular_reads: HashMap<i64, u64> = HashMap::new();
        let (annotation_count, agreement) = match ctx.parsed.primary_task() {
            Some(task) => {
                let log = self.annotation_log(&ctx, task).await?;
                // (item, class) of every classed read, sorted: agreement from runs, without a
                // map per item.
                let mut reads: Vec<(i64, u32)> = Vec::with_capacity(log.rows.len());
                for row in log.rows.iter() {
                    if row.class != NO_CLASS {
                        reads.push((row.item_id, row.class));
                    }
                    if !gold.contains(&row.item_id) {
                        *regular_reads.entry(row.annotator_id).or_default() += 1;
                    }
                }
                reads.sort_unstable();
                let (mut agree, mut pairs) = (0u64, 0u64);
                for item in reads.chunk_by(|a, b| a.0 == b.0) {
                    let n = item.len() as u64;
                    pairs += n * (n - 1) / 2;
                    for class in item.chunk_by(|a, b| a.1 == b.1) {
                        let c = class.len() as u64;
                        agree += c * (c - 1) / 2;
                    }
                }
                (
                    log.rows.len(),
                    (pairs > 0).then(|| agree as f64 / pairs as f64),
                )
            }
            None => {
                let annotations = self.store.annotations(ctx.project.id).await?;
                for a in annotations.iter().filter(|a| !gold.contains(&a.item_id)) {
                    *regular_reads.entry(a.annotator_id).or_default() += 1;
                }
                (annotations.len(), None)
            }
        };
        let cost: f64 = regular_reads
            .iter()
            .map(|(annotator, &n)| n as f64 * cost_of.get(annotator).copied().unwrap_or(1.0))
            .sum();
        let mut items: HashMap<String, usize> = HashMap::new();
        let (mut regular, mut labels) = (0i64, 0i64);
        for t in &totals {
            *items.entry(t.phase.as_str().into()).or_default() += t.items as usize;
            if !t.is_gold {
                regular += t.items;
                labels += t.labels;
            }
        }
        let latest_run = self.store.latest_run(ctx.project.id).await?.map(|r| r.id);
        Ok(Status {
            project: ctx.project.name,
            items,
            annotations: annotation_count,
            labels_per_item: if regular > 0 {
                labels as f64 / regular as f64
            } else {
                0.0
            },
            cost_per_item: if regular > 0 {
                cost / regular as f64
            } else {
                0.0
            },
            agreement,
            latest_run,
        })
    }

    /// What each item's current reads cost, by item id: every annotation at its annotator's
    /// cost per label.
    async fn read_costs(&self, annotations: &[Annotation]) -> CoreResult<HashMap<i64, f64>> {
        let cost = self.user_costs().await?;
        let mut out: HashMap<i64, f64> = HashMap::new();
        for a in annotations {
            *out.entry(a.item_id).or_default() += cost.get(&a.annotator_id).copied().unwrap_or(1.0);
        }
        Ok(out)
    }

    /// Every user's cost per label, by id.
    async fn user_costs(&self) -> CoreResult<HashMap<i64, f64>> {
        Ok(self
            .store
            .users()
            .await?
            .into_iter()
            .map(|u| (u.id, u.cost))
            .collect())
    }

    /// The current reference standard: one row per regular item.
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless manager or auditor.
    pub async fn export(&self, actor: &User, project: &str) -> CoreResult<Vec<ExportRow>> {
        if !actor.has(Role::Manager) && !actor.has(Role::Auditor) {
            return Err(CoreError::Forbidden(format!(
                "{} may not export the reference standard",
                actor.name
            )));
        }
        let ctx = self.context(project).await?;
        let run = self.store.latest_run(ctx.project.id).await?.map(|r| r.id);
        let costs = self
            .read_costs(&self.store.annotations(ctx.project.id).await?)
            .await?;
        let adjudications: HashMap<i64, Adjudication> = self
            .store
            .adjudications(ctx.project.id)
            .await?
            .into_iter()
            .map(|a| (a.item_id, a))
            .collect();
        let task = ctx.parsed.primary_task().map(|t| t.id.clone());
        let primary = |v: &Value| match &task {
            Some(t) => v.get(t).cloned(),
            None => Some(v.clone()),
        };
        let mut rows = Vec::new();
        for s in self.store.item_states(ctx.project.id).await? {
            if s.is_gold {
                continue;
            }
            let row = match s.phase {
                ItemPhase::Adjudicated => {
                    let a = adjudications.get(&s.item_id);
                    ExportRow {
                        item: s.external_id,
                        label: a.and_then(|a| primary(&a.value)),
                        confidence: Some(1.0),
                        status: "adjudicated".into(),
                        labels: s.n_labels,
                        cost: costs.get(&s.item_id).copied().unwrap_or(0.0),
                        run: a.and_then(|a| a.consensus_run_id),
                    }
                }
                phase => ExportRow {
                    item: s.external_id,
                    label: s.label.as_ref().and_then(primary),
                    confidence: s.confidence,
                    status: match phase {
                        ItemPhase::Complete => "auto",
                        ItemPhase::Adjudication => "needs_adjudication",
                        _ => "pending",
                    }
                    .into(),
                    labels: s.n_labels,
                    cost: costs.get(&s.item_id).copied().unwrap_or(0.0),
                    run,
                },
            };
            rows.push(row);
        }
        Ok(rows)
    }
}

pub(crate) fn require(user: &User, role: Role, what: &str) -> CoreResult<()> {
    if user.has(role) {
        Ok(())
    } else {
        Err(CoreError::Forbidden(format!(
            "{} may not {what} (needs the {} role)",
            user.name,
            role.as_str()
        )))
    }
}

fn task(item: &Item, protocol_version: i64, expires_at: Millis) -> Task {
    Task {
        item: item.external_id.clone(),
        kind: item.kind.clone(),
        content: item.content.clone(),
        protocol_version,
        lease_expires_at: expires_at,
    }
}

/// Whether the next assignment of an annotator should be gold: a seeded draw at the gold rate,
/// nudged back whenever the share of gold so far drifts more than one item from the rate, so the
/// long-run rate is exact while the position of gold items stays unpredictable.
fn wants_gold(rate: f64, seed: u64, annotator: i64, regular: i64, gold: i64) -> bool {
    let total = (regular + gold) as f64;
    let expected = rate * (total + 1.0);
    if (gold as f64) < expected - 1.0 {
        return true;
    }
    if gold as f64 > expected + 1.0 {
        return false;
    }
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(annotator.to_le_bytes());
    h.update((regular + gold).to_le_bytes());
    let digest = h.finalize();
    let x = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes")) as f64 / u64::MAX as f64;
    x < rate
}

/// Whether two stored-form values give the same answer on the primary task (or, without one,
/// are equal).
pub(crate) fn same_answer(protocol: &Protocol, value: &Value, reference: &Value) -> bool {
    match protocol.primary_task() {
        Some(t) => value.get(&t.id) == reference.get(&t.id),
        None => value == reference,
    }
}

fn definition_of(protocol: &Protocol, reference: &Value) -> Option<String> {
    let task = protocol.primary_task()?;
    let class = reference.get(&task.id)?.as_str()?;
    task.classes
        .iter()
        .any(|c| c.id == class)
        .then(|| task.definition(class).to_string())
}

/// The decision function run inside a submission's transaction.
fn decider(
    ctx: &Context,
    snapshot: Arc<SkillSnapshot>,
) -> impl Fn(&[Annotation]) -> ItemDecision + Send + Sync + 'static {
    let task = ctx.parsed.primary_task().map(|t| t.id.clone());
    let overlap = ctx.settings.overlap;
    let accept = ctx.settings.accept;
    let costs = ctx.costs.clone();
    let weights = ctx.weights.clone();
    move |annotations: &[Annotation]| {
        let n_labels = annotations.len() as u32;
        let readers: Vec<i64> = annotations.iter().map(|a| a.annotator_id).collect();
        let affordable = affordable_with(&overlap, &costs, &readers);
        let top = task.as_ref().and_then(|task| {
            let labels: Vec<(i64, usize)> = annotations
                .iter()
                .filter_map(|a| {
                    let class = a.value.get(task)?.as_str()?;
                    let index = snapshot.classes.iter().position(|c| c == class)?;
                    Some((a.annotator_id, index))
                })
                .collect();
            let (best, post) = snapshot.posterior(&labels, &weights)?;
            Some((json!({ task: snapshot.classes[best] }), post[best]))
        });
        overlap.decide(n_labels, top, accept, affordable)
    }
}

/// A consensus run's parameters as stored: the seed, the duplicate policy, the skill snapshot
/// and, when anyone is on probation, their weights by annotator id.
fn run_parameters(ctx: &Context, snapshot: &SkillSnapshot) -> Value {
    let mut parameters = json!({
        "seed": ctx.settings.seed,
        "duplicates": "last",
        "snapshot": snapshot,
    });
    if !ctx.weights.is_empty() {
        let mut weights: Vec<(&i64, &f64)> = ctx.weights.iter().collect();
        weights.sort_by_key(|(id, _)| **id);
        parameters["probation_weights"] = weights
            .into_iter()
            .map(|(id, w)| (id.to_string(), json!(w)))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    parameters
}

/// Under the cost policy: whether the item's remaining budget, after what `readers` cost,
/// pays for a read by someone who has not read it. `true` under the other policies.
fn affordable(ctx: &Context, readers: &[i64]) -> bool {
    affordable_with(&ctx.settings.overlap, &ctx.costs, readers)
}

fn affordable_with(
    overlap: &crate::policy::Overlap,
    costs: &HashMap<i64, f64>,
    readers: &[i64],
) -> bool {
    let crate::policy::Overlap::Cost { budget, .. } = *overlap else {
        return true;
    };
    let spent: f64 = readers
        .iter()
        .map(|r| costs.get(r).copied().unwrap_or(1.0))
        .sum();
    costs
        .iter()
        .any(|(id, cost)| !readers.contains(id) && spent + cost <= budget + 1e-9)
}

/// A project's annotations of the primary task, ready to fit.
/// Feeds written bytes to a SHA-256.
struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What a consensus run reads: the project's current annotations (from its [`AnnotationLog`]),
/// the gold answers and the annotators' names.
struct ConsensusInput {
    task_id: String,
    classes: Vec<String>,
    /// Class names the rows' indices refer to.
    class_names: Vec<String>,
    rows: Arc<Vec<LogRow>>,
    input_sha256: String,
    /// Item id → the gold answer's class name for the task.
    gold: HashMap<i64, String>,
    names: HashMap<i64, String>,
    /// The weight of each annotator on probation ([`Context::weights`]).
    weights: Arc<HashMap<i64, f64>>,
}

/// One current annotation in compact form.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogRow {
    pub(crate) item_id: i64,
    pub(crate) annotator_id: i64,
    /// When it was made (ms since the epoch).
    pub(crate) created_at: i64,
    /// Index into the log's class names, or [`NO_CLASS`] when the value has no class for the
    /// task.
    pub(crate) class: u32,
    /// The value of the task that states the annotator's confidence in this one
    /// ([`AnnotationLog::confidence_task`]), as given; NaN when there is none.
    pub(crate) confidence: f64,
}

pub(crate) const NO_CLASS: u32 = u32::MAX;

/// A project's current annotations, kept in memory by `Core` and topped up from the store by
/// id, so a consensus run or a skill re-fit reads only the annotations added since the last
/// one. Annotations are append-only (a correction is a new row that supersedes), so the copy
/// stays exact; a supersession of a row already in the copy, or a row appearing below the
/// newest one read (a count check), makes it start over from the store.
#[derive(Clone)]
pub(crate) struct AnnotationLog {
    task_id: String,
    /// The task whose value is the annotator's stated confidence in `task_id`'s (the log is
    /// rebuilt when it changes, as when the classes do).
    confidence_task: Option<String>,
    /// The protocol's classes for the task (the log is rebuilt when they change).
    classes: Vec<String>,
    /// Every class name the rows use: the protocol's, then any other seen (a value made under
    /// an earlier protocol version).
    pub(crate) names: Vec<String>,
    /// The current annotations, by id.
    pub(crate) rows: Arc<Vec<LogRow>>,
    /// SHA-256 state after the line of every row, in id order: the input hash of a run only
    /// needs the new lines.
    hasher: Sha256,
    /// Newest annotation id read.
    last_id: i64,
    /// Annotations with an id up to `last_id` in the store, superseded ones included.
    n_stored: i64,
}

impl AnnotationLog {
    fn new(task_id: &str, confidence_task: Option<&str>, classes: &[String]) -> Self {
        Self {
            task_id: task_id.to_string(),
            confidence_task: confidence_task.map(str::to_string),
            classes: classes.to_vec(),
            names: classes.to_vec(),
            rows: Arc::new(Vec::new()),
            hasher: Sha256::new(),
            last_id: 0,
            n_stored: 0,
        }
    }

    /// Appends `batch` (every annotation after `last_id`, by id). `false` when a row of the
    /// batch supersedes one already in the log, which the log cannot take back.
    fn append(&mut self, batch: &[AnnotationText]) -> bool {
        if batch.is_empty() {
            // Nothing to add: no copy of rows another caller still holds.
            return true;
        }
        let superseded: std::collections::HashSet<i64> =
            batch.iter().filter_map(|a| a.supersedes).collect();
        if superseded.iter().any(|&id| id <= self.last_id) {
            return false;
        }
        let mut class_index: HashMap<String, u32> = self
            .names
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i as u32))
            .collect();
        let rows = Arc::make_mut(&mut self.rows);
        rows.reserve(batch.len());
        let mut hash = std::io::BufWriter::with_capacity(1 << 16, HashWriter(&mut self.hasher));
        let mut digits = itoa::Buffer::new();
        for a in batch.iter().filter(|a| !superseded.contains(&a.id)) {
            // One line per annotation, `[id,item,annotator,value]`, the value as stored: the
            // compact JSON a re-serialisation would give (`crate::stored`).
            let mut line = |bytes: &[u8]| hash.write_all(bytes).expect("hashing");
            line(b"[");
            line(digits.format(a.id).as_bytes());
            line(b",");
            line(digits.format(a.item_id).as_bytes());
            line(b",");
            line(digits.format(a.annotator_id).as_bytes());
            line(b",");
            line(a.value.as_bytes());
            line(b"]\n");
            let [class, confidence] = crate::stored::fields(
                &a.value,
                [Some(self.task_id.as_str()), self.confidence_task.as_deref()],
            );
            let class = match class.and_then(crate::stored::string) {
                None => NO_CLASS,
                Some(name) => match class_index.get(&*name) {
                    Some(&i) => i,
                    None => {
                        let i = self.names.len() as u32;
                        self.names.push(name.to_string());
                        class_index.insert(name.into_owned(), i);
                        i
                    }
                },
            };
            rows.push(LogRow {
                item_id: a.item_id,
                annotator_id: a.annotator_id,
                created_at: a.created_at,
                class,
                confidence: confidence
                    .and_then(crate::stored::number)
                    .unwrap_or(f64::NAN),
            });
        }
        hash.flush().expect("hashing");
        drop(hash);
        if let Some(last) = batch.last() {
            self.last_id = last.id;
        }
        self.n_stored += batch.len() as i64;
        true
    }

    /// SHA-256 over the exact input: one line `[id,item,annotator,value]` per current
    /// annotation, by id.
    fn sha256(&self) -> String {
        crate::items::hex(&self.hasher.clone().finalize())
    }
}

struct FittedItem {
    item_id: i64,
    class: String,
    confidence: f64,
    posterior: Value,
}

struct Fitted {
    items: Vec<FittedItem>,
    skills: Vec<NewSkill>,
    snapshot: SkillSnapshot,
    iterations: u32,
    converged: bool,
}

/// Tempers an item's posterior `post` (over `fit_classes`) for the labels given on probation,
/// `(annotator id, weight, class name)`: each one's likelihood under the run's skill snapshot
/// goes from power 1 (as the method counted it) to power `weight`, exactly as
/// [`SkillSnapshot::posterior`] weighs it after a submission. Returns the new most probable
/// class (ties to the lower index, as the methods break them).
fn temper(
    post: &mut [f64],
    labels: &[(i64, f64, &str)],
    snapshot: &SkillSnapshot,
    fit_classes: &[Box<str>],
    classes: &[String],
) -> usize {
    let index = |name: &str| classes.iter().position(|c| c == name);
    for &(annotator, weight, given) in labels {
        let (Some(g), m) = (index(given), snapshot.matrix(annotator)) else {
            continue;
        };
        for (p, class) in post.iter_mut().zip(fit_classes) {
            if let Some(t) = index(class) {
                *p *= m[t][g].powf(weight - 1.0);
            }
        }
    }
    let total: f64 = post.iter().sum();
    if total > 0.0 {
        post.iter_mut().for_each(|p| *p /= total);
    }
    (0..post.len()).fold(0, |b, c| if post[c] > post[b] { c } else { b })
}

impl ConsensusInput {
    /// Per item, the labels given by annotators on probation: `(annotator id, weight, class)`.
    fn tempered_labels(&self, fit_classes: &[Box<str>]) -> HashMap<i64, Vec<(i64, f64, &str)>> {
        let mut out: HashMap<i64, Vec<(i64, f64, &str)>> = HashMap::new();
        if self.weights.is_empty() {
            return out;
        }
        for row in self.rows.iter().filter(|r| r.class != NO_CLASS) {
            let Some(&weight) = self.weights.get(&row.annotator_id) else {
                continue;
            };
            let name = self.class_names[row.class as usize].as_str();
            if fit_classes.iter().any(|c| &**c == name) {
                out.entry(row.item_id)
                    .or_default()
                    .push((row.annotator_id, weight, name));
            }
        }
        out
    }

    /// Fits `method`; `None` when no annotation carries a class of the task.
    fn fit(&self, method: Method, params: &MethodParams) -> CoreResult<Option<Fitted>> {
        let mut builder = AnnotationsBuilder::with_capacity(self.rows.len());
        for class in &self.classes {
            // Every protocol class exists in the fit, even one nobody used yet.
            builder.push_gold("\u{0}", class);
        }
        let mut n = 0;
        // Ids as text, formatted into two reused buffers rather than a new string per label.
        let (mut item, mut annotator) = (itoa::Buffer::new(), itoa::Buffer::new());
        for row in self.rows.iter().filter(|r| r.class != NO_CLASS) {
            builder.push(
                item.format(row.item_id),
                annotator.format(row.annotator_id),
                &self.class_names[row.class as usize],
            );
            n += 1;
        }
        if n == 0 {
            return Ok(None);
        }
        for (item, class) in &self.gold {
            builder.push_gold(&item.to_string(), class);
        }
        let data = builder
            .build(DuplicatePolicy::Last)
            .map_err(|e| CoreError::Invalid(e.to_string()))?;
        let needs_gold = method.needs_gold() && data.n_gold() == 0;
        let method = if needs_gold { Method::DEFAULT } else { method };
        let fit = method
            .build(params)
            .fit(&data)
            .map_err(|e| CoreError::Invalid(format!("{}: {e}", method.name())))?;
        let annotator_ids: Vec<i64> = data
            .annotators()
            .iter()
            .map(|a| a.parse().expect("annotator ids are numbers"))
            .collect();
        let labels: Vec<usize> = data
            .annotator_offsets()
            .windows(2)
            .map(|w| w[1] - w[0])
            .collect();
        let snapshot = SkillSnapshot::from_fit(
            self.classes.clone(),
            data.classes(),
            &annotator_ids,
            &labels,
            &fit,
            n,
        );
        let tempered = self.tempered_labels(data.classes());
        let items = data
            .items()
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let item_id = name.parse().expect("item ids are numbers");
                let mut post = fit.posterior(i as u32).to_vec();
                let mut label = fit.labels[i] as usize;
                if let Some(labels) = tempered.get(&item_id) {
                    label = temper(&mut post, labels, &snapshot, data.classes(), &self.classes);
                }
                let posterior: serde_json::Map<String, Value> = data
                    .classes()
                    .iter()
                    .zip(&post)
                    .map(|(c, &p)| (c.to_string(), json!(p)))
                    .collect();
                FittedItem {
                    item_id,
                    class: data.classes()[label].to_string(),
                    confidence: post[label],
                    posterior: Value::Object(posterior),
                }
            })
            .collect();
        // Gold accuracy per annotator, from the raw annotations.
        let mut gold: HashMap<i64, (i64, i64)> = HashMap::new();
        for row in self.rows.iter() {
            let Some(reference) = self.gold.get(&row.item_id) else {
                continue;
            };
            let entry = gold.entry(row.annotator_id).or_default();
            entry.1 += 1;
            entry.0 += i64::from(
                row.class != NO_CLASS && self.class_names[row.class as usize] == *reference,
            );
        }
        let summary = fit.skills.summary(&fit.class_prior);
        let skills = annotator_ids
            .iter()
            .enumerate()
            .map(|(a, &id)| {
                let (gold_correct, gold_total) = gold.get(&id).copied().unwrap_or((0, 0));
                NewSkill {
                    annotator_id: id,
                    skill: json!({
                        "annotator": self.names.get(&id),
                        fit.skills.summary_name(): summary[a],
                        "confusion": snapshot.confusion.get(&id),
                        "classes": snapshot.classes,
                    }),
                    n_labels: data.annotator_labels(a as u32).len() as i64,
                    gold_correct,
                    gold_total,
                }
            })
            .collect();
        Ok(Some(Fitted {
            items,
            skills,
            snapshot,
            iterations: fit.iterations,
            converged: fit.converged,
        }))
    }
}
