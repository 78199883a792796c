//! The gold set's lifecycle: which adjudicated items could become gold, how each gold item is
//! doing (answers, accuracy, exposure), and retiring over-exposed gold.
//!
//! Items are immutable (their content hash is in the audit trail), so an item does not turn
//! into gold in place: candidates are exported in the item import format, with their
//! provenance, for the manager to review and import as gold into the next batch. Retirement is
//! a state change on the gold item, audited (`gold.retire`).

use crate::service::{Core, CoreError, CoreResult, require};
use concord_store::{ItemPhase, Role, User};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

/// The consensus confidence above which an adjudicated item whose decision agrees with the
/// consensus is a gold candidate, unless the caller says otherwise.
pub const CANDIDATE_CONFIDENCE: f64 = 0.95;

/// An adjudicated item the consensus was very sure of, and the adjudicator agreed: two
/// independent routes to the same answer, so a reference answer for a gold set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GoldCandidate {
    /// The item's id.
    pub item: String,
    /// `text`, `image` or `uri`.
    pub kind: String,
    /// Its text, path or URI.
    pub content: String,
    /// Its metadata.
    pub metadata: Value,
    /// The adjudicated answer (the full value, every task).
    pub gold: Value,
    /// The latest consensus run's confidence in the same class.
    pub confidence: f64,
    /// That run.
    pub run: i64,
    /// The adjudication.
    pub adjudication: i64,
    /// The adjudicator's name.
    pub adjudicator: String,
}

impl GoldCandidate {
    /// The candidate as a line of `concord import items` JSONL: the content under its kind,
    /// the answer as `gold`, and where it came from in the metadata (`gold_source`).
    pub fn import_line(&self, project: &str) -> Value {
        let mut line = serde_json::Map::new();
        line.insert("id".into(), json!(self.item));
        line.insert(self.kind.clone(), json!(self.content));
        line.insert("gold".into(), self.gold.clone());
        let mut metadata = match &self.metadata {
            Value::Object(m) => m.clone(),
            _ => serde_json::Map::new(),
        };
        metadata.insert(
            "gold_source".into(),
            json!({
                "project": project,
                "adjudication": self.adjudication,
                "adjudicator": self.adjudicator,
                "run": self.run,
                "confidence": self.confidence,
            }),
        );
        line.insert("metadata".into(), Value::Object(metadata));
        Value::Object(line)
    }
}

/// One gold item's record in its project.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GoldItemReport {
    /// The item's id.
    pub item: String,
    /// The reference answer.
    pub gold: Value,
    /// Annotators who answered it (each answers an item at most once).
    pub answers: i64,
    /// Of those, right.
    pub right: i64,
    /// Whether it is out of service.
    pub retired: bool,
}

impl Core {
    /// Adjudicated items whose adjudicated class is the latest consensus run's class with at
    /// least `min_confidence`, in import order: candidates for a gold set.
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless manager; [`CoreError::Invalid`] for a confidence outside
    /// [0, 1] or a protocol without a categorical task.
    pub async fn gold_candidates(
        &self,
        actor: &User,
        project: &str,
        min_confidence: f64,
    ) -> CoreResult<Vec<GoldCandidate>> {
        require(actor, Role::Manager, "list gold candidates")?;
        if !(0.0..=1.0).contains(&min_confidence) {
            return Err(CoreError::Invalid(format!(
                "the minimum confidence must be in [0, 1], got {min_confidence}"
            )));
        }
        let ctx = self.context(project).await?;
        let task = ctx.parsed.primary_task().ok_or_else(|| {
            CoreError::Invalid("gold candidates need a `single` or `ordinal` task".into())
        })?;
        let Some(run) = self.store().latest_run(ctx.project.id).await? else {
            return Ok(Vec::new());
        };
        let consensus: HashMap<i64, (Value, f64)> = self
            .store()
            .run_labels(run.id)
            .await?
            .into_iter()
            .map(|l| (l.item_id, (l.label, l.confidence)))
            .collect();
        let adjudications: HashMap<i64, concord_store::Adjudication> = self
            .store()
            .adjudications(ctx.project.id)
            .await?
            .into_iter()
            .map(|a| (a.item_id, a))
            .collect();
        let names: HashMap<i64, String> = self
            .store()
            .users()
            .await?
            .into_iter()
            .map(|u| (u.id, u.name))
            .collect();
        let adjudicated: HashSet<i64> = self
            .store()
            .item_states(ctx.project.id)
            .await?
            .into_iter()
            .filter(|s| s.phase == ItemPhase::Adjudicated)
            .map(|s| s.item_id)
            .collect();
        let mut out = Vec::new();
        for item in self.store().items(ctx.project.id).await? {
            if !adjudicated.contains(&item.id) {
                continue;
            }
            let (Some(a), Some((label, confidence))) =
                (adjudications.get(&item.id), consensus.get(&item.id))
            else {
                continue;
            };
            let decided = a.value.get(&task.id);
            if decided.is_none() || decided != label.get(&task.id) || *confidence < min_confidence {
                continue;
            }
            out.push(GoldCandidate {
                item: item.external_id,
                kind: item.kind,
                content: item.content,
                metadata: item.metadata,
                gold: a.value.clone(),
                confidence: *confidence,
                run: run.id,
                adjudication: a.id,
                adjudicator: names.get(&a.adjudicator_id).cloned().unwrap_or_default(),
            });
        }
        Ok(out)
    }

    /// Every gold item of the project with its answers, right answers and whether it is
    /// retired, in import order.
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless manager or auditor.
    pub async fn gold_items(&self, actor: &User, project: &str) -> CoreResult<Vec<GoldItemReport>> {
        if !actor.has(Role::Manager) && !actor.has(Role::Auditor) {
            return Err(CoreError::Forbidden(format!(
                "{} may not read the gold set",
                actor.name
            )));
        }
        let ctx = self.context(project).await?;
        let retired: HashSet<i64> = self
            .store()
            .retired_gold(ctx.project.id)
            .await?
            .into_iter()
            .collect();
        let mut answers: HashMap<i64, (i64, i64)> = HashMap::new();
        let items = self.store().items(ctx.project.id).await?;
        let gold: HashMap<i64, &Value> = items
            .iter()
            .filter_map(|i| Some((i.id, i.gold.as_ref()?)))
            .collect();
        for a in self.store().annotations(ctx.project.id).await? {
            if let Some(reference) = gold.get(&a.item_id) {
                let entry = answers.entry(a.item_id).or_default();
                entry.0 += 1;
                entry.1 += i64::from(crate::service::same_answer(
                    &ctx.parsed,
                    &a.value,
                    reference,
                ));
            }
        }
        Ok(items
            .iter()
            .filter_map(|i| {
                let reference = i.gold.clone()?;
                let (n, right) = answers.get(&i.id).copied().unwrap_or((0, 0));
                Some(GoldItemReport {
                    item: i.external_id.clone(),
                    gold: reference,
                    answers: n,
                    right,
                    retired: retired.contains(&i.id),
                })
            })
            .collect())
    }

    /// Retires a gold item by hand (it is never served again; its answers stay), with the
    /// reason in the audit trail.
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless manager; [`CoreError::Invalid`] for an empty reason or an
    /// item that is not gold; [`CoreError::Conflict`] when it is retired already.
    pub async fn retire_gold(
        &self,
        actor: &User,
        project: &str,
        item: &str,
        reason: &str,
    ) -> CoreResult<()> {
        require(actor, Role::Manager, "retire gold items")?;
        if reason.trim().is_empty() {
            return Err(CoreError::Invalid(
                "retiring a gold item needs a reason".into(),
            ));
        }
        let ctx = self.context(project).await?;
        let item = self.store().item(ctx.project.id, item).await?;
        if item.gold.is_none() {
            return Err(CoreError::Invalid(format!(
                "`{}` is not a gold item of `{project}`",
                item.external_id
            )));
        }
        if !self
            .store()
            .retire_gold(item.id, reason, Some(actor.id), self.now())
            .await?
        {
            return Err(CoreError::Conflict(format!(
                "`{}` is retired already",
                item.external_id
            )));
        }
        Ok(())
    }
}
