//! Per-label provenance: everything that made an item's reference label, for a reviewer or a
//! regulator (the provenance envelope of `../shared/reference/regulatory-requirements.md`,
//! section B).

use crate::release::pseudonym;
use crate::service::{Core, CoreError, CoreResult};
use concord_store::{AuditFilter, ConsensusLabel, Role, SignatureRecord, User};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;

/// Where an item's label comes from.
#[derive(Debug, Clone, Serialize)]
pub struct Provenance {
    /// The project.
    pub project: String,
    /// The item's id.
    pub item: String,
    /// `text`, `image`, `uri`.
    pub kind: String,
    /// SHA-256 of the item's content at import.
    pub content_sha256: String,
    /// Whether the item is gold (a known answer), and the answer.
    pub gold: Option<Value>,
    /// The workflow state: status, label, confidence, label count.
    pub state: ItemSummary,
    /// The protocol versions the reads were made under, with their SHA-256.
    pub protocol_versions: Vec<ProtocolRef>,
    /// Every current read.
    pub reads: Vec<ReadProvenance>,
    /// The latest consensus run's view of the item.
    pub consensus: Option<RunProvenance>,
    /// The adjudication, if any, with its signatures.
    pub adjudication: Option<AdjudicationProvenance>,
    /// The audit events about the item, its reads and its adjudication (sequence numbers).
    pub audit_events: Vec<i64>,
}

/// The item's workflow state.
#[derive(Debug, Clone, Serialize)]
pub struct ItemSummary {
    /// `open`, `complete`, `adjudication`, `adjudicated`, `gold`.
    pub status: String,
    /// The current label.
    pub label: Option<Value>,
    /// Its confidence.
    pub confidence: Option<f64>,
    /// Labels so far.
    pub labels: i64,
}

/// A protocol version.
#[derive(Debug, Clone, Serialize)]
pub struct ProtocolRef {
    /// Version.
    pub version: i64,
    /// SHA-256 of its canonical JSON.
    pub schema_sha256: String,
    /// Its change note.
    pub note: String,
}

/// One read.
#[derive(Debug, Clone, Serialize)]
pub struct ReadProvenance {
    /// The annotation's id.
    pub annotation: i64,
    /// The reader's pseudonym.
    pub reader: String,
    /// The reader's qualifications (as recorded on the account).
    pub qualifications: Value,
    /// When submitted (UTC milliseconds).
    pub created_at: i64,
    /// The value.
    pub value: Value,
    /// Time spent, milliseconds.
    pub time_spent_ms: Option<i64>,
    /// The protocol version it was made under.
    pub protocol_version: i64,
}

/// The consensus run's view.
#[derive(Debug, Clone, Serialize)]
pub struct RunProvenance {
    /// Run id.
    pub run: i64,
    /// Method.
    pub method: String,
    /// Implementation version.
    pub method_version: String,
    /// Parameters.
    pub parameters: Value,
    /// Seed.
    pub seed: i64,
    /// SHA-256 of the exact input annotation set.
    pub input_sha256: String,
    /// When.
    pub created_at: i64,
    /// The item's label, confidence, posterior and status in the run.
    pub label: Option<ConsensusLabel>,
}

/// The adjudication.
#[derive(Debug, Clone, Serialize)]
pub struct AdjudicationProvenance {
    /// Its id.
    pub adjudication: i64,
    /// The adjudicator's pseudonym.
    pub adjudicator: String,
    /// The decision.
    pub value: Value,
    /// Why.
    pub rationale: String,
    /// The reads considered.
    pub considered: Vec<i64>,
    /// The consensus run shown.
    pub consensus_run: Option<i64>,
    /// When.
    pub created_at: i64,
    /// The signatures (printed name, time, meaning, whether still valid).
    pub signatures: Vec<SignatureRecord>,
}

impl Core {
    /// Everything that made an item's label: reads with readers' qualifications, the consensus
    /// run with its parameters and the item's posterior, the signed adjudication, the gold
    /// status and the audit events concerned. Managers, adjudicators and auditors only (an
    /// annotator would see other readers' labels).
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] for other roles; [`CoreError::NotFound`] for an unknown item.
    pub async fn provenance(
        &self,
        actor: &User,
        project: &str,
        item: &str,
    ) -> CoreResult<Provenance> {
        if !(actor.has(Role::Manager) || actor.has(Role::Auditor) || actor.has(Role::Adjudicator)) {
            return Err(CoreError::Forbidden(format!(
                "{} may not read provenance (it shows every reader's label)",
                actor.name
            )));
        }
        let store = self.store();
        let p = store.project(project).await?;
        let it = store.item(p.id, item).await?;
        let state = store.item_state(it.id).await?;
        let users: HashMap<i64, User> = store
            .users()
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect();
        let annotations = store.item_annotations(it.id).await?;
        let mut versions: Vec<i64> = annotations.iter().map(|a| a.protocol_version).collect();
        versions.sort_unstable();
        versions.dedup();
        let mut protocol_versions = Vec::new();
        for v in versions {
            let pv = store.protocol(p.id, Some(v)).await?;
            protocol_versions.push(ProtocolRef {
                version: pv.version,
                schema_sha256: pv.schema_sha256,
                note: pv.note,
            });
        }
        let reads = annotations
            .iter()
            .map(|a| ReadProvenance {
                annotation: a.id,
                reader: pseudonym(a.annotator_id),
                qualifications: users
                    .get(&a.annotator_id)
                    .map_or(Value::Null, |u| u.qualifications.clone()),
                created_at: a.created_at,
                value: a.value.clone(),
                time_spent_ms: a.time_spent_ms,
                protocol_version: a.protocol_version,
            })
            .collect();
        let consensus = match store.latest_run(p.id).await? {
            Some(run) => Some(RunProvenance {
                label: store.consensus_label(run.id, it.id).await?,
                run: run.id,
                method: run.method,
                method_version: run.method_version,
                parameters: run.parameters,
                seed: run.seed,
                input_sha256: run.input_sha256,
                created_at: run.created_at,
            }),
            None => None,
        };
        let adjudication = match store
            .adjudications(p.id)
            .await?
            .into_iter()
            .find(|a| a.item_id == it.id)
        {
            Some(a) => Some(AdjudicationProvenance {
                signatures: store.signatures("adjudication", a.id).await?,
                adjudication: a.id,
                adjudicator: pseudonym(a.adjudicator_id),
                value: a.value,
                rationale: a.rationale,
                considered: a.considered,
                consensus_run: a.consensus_run_id,
                created_at: a.created_at,
            }),
            None => None,
        };
        let mut entities = vec![format!("item:{}", it.id)];
        entities.extend(annotations.iter().map(|a| format!("annotation:{}", a.id)));
        if let Some(a) = &adjudication {
            entities.push(format!("adjudication:{}", a.adjudication));
            entities.extend(a.signatures.iter().map(|s| format!("signature:{}", s.id)));
        }
        let audit_events = store
            .audit_events(AuditFilter {
                entities,
                ..AuditFilter::default()
            })
            .await?
            .into_iter()
            .map(|e| e.seq)
            .collect();
        Ok(Provenance {
            project: p.name,
            item: it.external_id,
            kind: it.kind,
            content_sha256: it.content_sha256,
            gold: it.gold,
            state: ItemSummary {
                status: state.phase.as_str().into(),
                label: state.label,
                confidence: state.confidence,
                labels: state.n_labels,
            },
            protocol_versions,
            reads,
            consensus,
            adjudication,
            audit_events,
        })
    }
}
