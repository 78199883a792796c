//! The edge-case queue: the items that most deserve a second look, and why; and the model
//! predictions it compares with the consensus.
//!
//! Scores come from [`concord_consensus::edge`] (posterior entropy, skill-weighted
//! disagreement, model-versus-consensus conflict, rarity of the consensus class); this module
//! gathers their inputs from a project's latest consensus run and says which kind of
//! disagreement each item shows:
//! - `presence`: readers split between a class marked `absent: true` in the protocol (no
//!   finding) and a finding, or, for box and span tasks, found different numbers of objects;
//! - `class`: readers gave different classes (or box/span labels);
//! - `boundary`: box or span readers agree on what is there but not on where it ends;
//! - `attribute`: readers agree on the primary task but not on another task.

use crate::items::read_records;
use crate::protocol::{Protocol, Task, TaskKind};
use crate::service::{Core, CoreError, CoreResult, require};
use crate::skills::SkillSnapshot;
use concord_consensus::edge::{EdgeRead, EdgeWeights, ModelPrediction, edge_score};
use concord_store::{Annotation, NewPrediction, Role, User};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// One item of the edge-case queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EdgeCase {
    /// 1 for the item most worth a second look.
    pub rank: usize,
    /// The item's id.
    pub item: String,
    /// Weighted mean of the signals, in `[0, 1]`.
    pub score: f64,
    /// Posterior entropy over `ln K`.
    pub entropy: f64,
    /// Skill-weighted share of readers against the consensus.
    pub disagreement: f64,
    /// Model probability outside the consensus class, when a model predicted the item.
    pub model: Option<f64>,
    /// `1 − prevalence` of the consensus class.
    pub rarity: f64,
    /// The consensus class.
    pub label: String,
    /// Its posterior probability.
    pub confidence: f64,
    /// The main kind of disagreement (`presence`, `class`, `boundary`, `attribute`), or `None`
    /// when the readers agree (the item ranks on uncertainty, the model or rarity).
    pub kind: Option<String>,
    /// Every kind of disagreement the item shows, main one first.
    pub kinds: Vec<String>,
    /// Current reads.
    pub reads: usize,
    /// The model's predicted class, when there is one.
    pub model_label: Option<String>,
}

impl Core {
    /// Imports a model's predictions for a project's primary task as a non-voting source
    /// (truth inference never reads them; the edge-case queue compares them with the
    /// consensus). The file is CSV with a header `item,label[,confidence]` or JSONL with those
    /// keys. All or nothing; one audit event.
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless manager; [`CoreError::Invalid`] naming the file and
    /// line of an unknown item, a class outside the task or a confidence outside `[0, 1]`;
    /// [`CoreError::Store`] (conflict) when the model already predicted one of the items.
    pub async fn import_predictions(
        &self,
        actor: &User,
        project: &str,
        model: &str,
        path: &Path,
    ) -> CoreResult<usize> {
        require(actor, Role::Manager, "import predictions")?;
        if model.trim().is_empty() || model.chars().any(char::is_whitespace) {
            return Err(CoreError::Invalid(format!(
                "`{model}` is not a valid model name (no spaces; put the version in it, e.g. \
                 cxr-net-2.1)"
            )));
        }
        let ctx = self.context(project).await?;
        let task = primary(&ctx.parsed)?;
        let ids: HashMap<String, i64> = self
            .store()
            .item_states(ctx.project.id)
            .await?
            .into_iter()
            .map(|s| (s.external_id, s.item_id))
            .collect();
        let shown = path.display();
        let rows = read_records(path)?;
        if rows.is_empty() {
            return Err(CoreError::Invalid(format!(
                "{shown}: no predictions in the file"
            )));
        }
        let mut seen: HashMap<i64, u64> = HashMap::new();
        let mut out = Vec::with_capacity(rows.len());
        for (line, mut row) in rows {
            let bad = |reason: String| CoreError::Invalid(format!("{shown}:{line}: {reason}"));
            let text = |v: Option<Value>| match v {
                Some(Value::String(s)) => Some(s.trim().to_string()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            let item = text(row.remove("item")).ok_or_else(|| bad("needs `item`".into()))?;
            let label = text(row.remove("label")).ok_or_else(|| bad("needs `label`".into()))?;
            let confidence = match row.remove("confidence") {
                None => None,
                Some(v) => Some(
                    text(Some(v))
                        .and_then(|s| s.parse::<f64>().ok())
                        .filter(|c| (0.0..=1.0).contains(c))
                        .ok_or_else(|| bad("`confidence` must be a number in [0, 1]".into()))?,
                ),
            };
            if let Some(extra) = row.keys().next() {
                return Err(bad(format!(
                    "unknown field `{extra}` (expected item, label, confidence)"
                )));
            }
            let item_id = *ids
                .get(&item)
                .ok_or_else(|| bad(format!("item `{item}` is not in project `{project}`")))?;
            if !task.classes.iter().any(|c| c.id == label) {
                return Err(bad(format!(
                    "`{label}` is not a class of task `{}` ({})",
                    task.id,
                    task.classes
                        .iter()
                        .map(|c| c.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            if let Some(first) = seen.insert(item_id, line) {
                return Err(bad(format!(
                    "item `{item}` predicted twice (first on line {first})"
                )));
            }
            out.push(NewPrediction {
                item_id,
                value: serde_json::json!({ &task.id: label }),
                confidence,
            });
        }
        let n = out.len();
        self.store()
            .import_predictions(ctx.project.id, model, out, Some(actor.id), self.now())
            .await?;
        Ok(n)
    }

    /// The edge-case queue of a project's latest consensus run: every item it labelled, most
    /// worth a second look first (ties by item id), at most `top`.
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless manager or adjudicator (the queue shows everyone's
    /// reads); [`CoreError::Invalid`] before the first consensus run.
    pub async fn edge_cases(
        &self,
        actor: &User,
        project: &str,
        top: Option<usize>,
    ) -> CoreResult<Vec<EdgeCase>> {
        if !actor.has(Role::Manager) && !actor.has(Role::Adjudicator) {
            return Err(CoreError::Forbidden(format!(
                "{} may not see the edge-case queue (needs the manager or adjudicator role)",
                actor.name
            )));
        }
        let ctx = self.context(project).await?;
        let task = primary(&ctx.parsed)?;
        let classes: Vec<&str> = task.classes.iter().map(|c| c.id.as_str()).collect();
        let class_of = |v: &Value| -> Option<usize> {
            let id = v.get(&task.id)?.as_str()?;
            classes.iter().position(|c| *c == id)
        };
        let run = self.store().latest_run(ctx.project.id).await?.ok_or_else(|| {
            CoreError::Invalid(format!(
                "project `{project}` has no consensus run yet: run `concord consensus {project}` \
                 first"
            ))
        })?;
        let snapshot = run
            .parameters
            .get("snapshot")
            .and_then(|s| serde_json::from_value::<SkillSnapshot>(s.clone()).ok())
            .filter(|s| s.classes.len() == classes.len())
            .unwrap_or_else(|| {
                SkillSnapshot::uninformed(classes.iter().map(|c| c.to_string()).collect())
            });
        let skill = |annotator: i64| -> f64 {
            let m = snapshot
                .confusion
                .get(&annotator)
                .unwrap_or(&snapshot.fallback);
            m.iter()
                .enumerate()
                .map(|(t, row)| snapshot.prior[t] * row[t])
                .sum()
        };
        let labels = self.store().run_labels(run.id).await?;
        let mut reads: HashMap<i64, Vec<Annotation>> = HashMap::new();
        for a in self.store().annotations(ctx.project.id).await? {
            reads.entry(a.item_id).or_default().push(a);
        }
        // The newest prediction per item (a later model version wins).
        let mut predictions: HashMap<i64, (usize, Option<f64>)> = HashMap::new();
        for p in self.store().predictions(ctx.project.id).await? {
            if let Some(class) = class_of(&p.value) {
                predictions.insert(p.item_id, (class, p.confidence));
            }
        }
        let names: HashMap<i64, String> = self
            .store()
            .item_states(ctx.project.id)
            .await?
            .into_iter()
            .map(|s| (s.item_id, s.external_id))
            .collect();
        let mut prevalence = vec![0.0; classes.len()];
        let consensus: Vec<Option<usize>> = labels.iter().map(|l| class_of(&l.label)).collect();
        for c in consensus.iter().flatten() {
            prevalence[*c] += 1.0;
        }
        let n_labelled = prevalence.iter().sum::<f64>().max(1.0);
        prevalence.iter_mut().for_each(|p| *p /= n_labelled);
        let weights = EdgeWeights::default();
        let mut cases = Vec::new();
        for (label, consensus) in labels.iter().zip(&consensus) {
            let Some(consensus) = *consensus else {
                continue;
            };
            let posterior: Vec<f64> = classes
                .iter()
                .map(|c| {
                    label
                        .posterior
                        .get(*c)
                        .and_then(Value::as_f64)
                        .unwrap_or(0.0)
                })
                .collect();
            let item_reads = reads.get(&label.item_id).map_or(&[][..], Vec::as_slice);
            let edge_reads: Vec<EdgeRead> = item_reads
                .iter()
                .filter_map(|a| {
                    Some(EdgeRead {
                        class: class_of(&a.value)?,
                        skill: skill(a.annotator_id),
                    })
                })
                .collect();
            let model = predictions
                .get(&label.item_id)
                .map(|&(class, confidence)| ModelPrediction { class, confidence });
            let s = edge_score(
                &posterior,
                consensus,
                &edge_reads,
                model.as_ref(),
                &prevalence,
                &weights,
            );
            let kinds = disagreement_kinds(&ctx.parsed, task, item_reads);
            cases.push(EdgeCase {
                rank: 0,
                item: names.get(&label.item_id).cloned().unwrap_or_default(),
                score: s.score,
                entropy: s.entropy,
                disagreement: s.disagreement,
                model: s.model,
                rarity: s.rarity,
                label: classes[consensus].to_string(),
                confidence: label.confidence,
                kind: kinds.first().cloned(),
                kinds,
                reads: item_reads.len(),
                model_label: model.map(|m| classes[m.class].to_string()),
            });
        }
        cases.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.item.cmp(&b.item)));
        cases.truncate(top.unwrap_or(usize::MAX));
        for (i, c) in cases.iter_mut().enumerate() {
            c.rank = i + 1;
        }
        Ok(cases)
    }
}

fn primary(protocol: &Protocol) -> CoreResult<&Task> {
    protocol.primary_task().ok_or_else(|| {
        CoreError::Invalid("the protocol has no `single` or `ordinal` task to rank on".into())
    })
}

/// The kinds of disagreement among an item's reads, in the order presence, class, boundary,
/// attribute.
fn disagreement_kinds(protocol: &Protocol, primary: &Task, reads: &[Annotation]) -> Vec<String> {
    let mut presence = false;
    let mut class = false;
    let mut boundary = false;
    let mut attribute = false;
    let values = |task: &Task| -> Vec<&Value> {
        reads
            .iter()
            .filter_map(|a| a.value.get(&task.id))
            .filter(|v| !is_uncertain(v))
            .collect()
    };
    // The primary task.
    let given: Vec<&str> = values(primary).iter().filter_map(|v| v.as_str()).collect();
    let primary_split = given.windows(2).any(|w| w[0] != w[1]);
    if primary_split {
        let absent = |c: &str| primary.classes.iter().any(|k| k.id == c && k.absent);
        if given.iter().any(|c| absent(c)) && given.iter().any(|c| !absent(c)) {
            presence = true;
        } else {
            class = true;
        }
    }
    // The other tasks.
    for task in protocol.tasks.iter().filter(|t| t.id != primary.id) {
        let vs = values(task);
        if vs.windows(2).all(|w| w[0] == w[1]) {
            continue;
        }
        match task.kind {
            TaskKind::Box | TaskKind::Span => {
                let shapes: Vec<Vec<(String, Vec<f64>)>> = vs.iter().map(|v| objects(v)).collect();
                let counts: Vec<usize> = shapes.iter().map(Vec::len).collect();
                if counts.windows(2).any(|w| w[0] != w[1]) {
                    presence = true;
                    continue;
                }
                fn classes(s: &[(String, Vec<f64>)]) -> BTreeMap<&str, usize> {
                    let mut c: BTreeMap<&str, usize> = BTreeMap::new();
                    for (k, _) in s {
                        *c.entry(k.as_str()).or_default() += 1;
                    }
                    c
                }
                if shapes.windows(2).any(|w| classes(&w[0]) != classes(&w[1])) {
                    class = true;
                } else {
                    boundary = true;
                }
            }
            _ if primary_split => {}
            _ => attribute = true,
        }
    }
    [
        (presence, "presence"),
        (class, "class"),
        (boundary, "boundary"),
        (attribute, "attribute"),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| name.to_string())
    .collect()
}

fn is_uncertain(v: &Value) -> bool {
    v.get("uncertain").and_then(Value::as_bool) == Some(true)
}

/// The objects of a box (`[x, y, w, h, class]`) or span (`[start, end, class]`) value: class
/// and coordinates.
fn objects(v: &Value) -> Vec<(String, Vec<f64>)> {
    v.as_array()
        .map(|list| {
            list.iter()
                .filter_map(|o| {
                    let o = o.as_array()?;
                    let (class, coords) = o.split_last()?;
                    Some((
                        class.as_str()?.to_string(),
                        coords.iter().filter_map(Value::as_f64).collect(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(value: Value) -> Annotation {
        Annotation {
            id: 0,
            item_id: 1,
            annotator_id: 1,
            assignment_id: None,
            protocol_version: 1,
            value,
            time_spent_ms: None,
            created_at: 0,
            supersedes: None,
        }
    }

    const PROTOCOL: &str = "name: p\ntasks:\n  - id: finding\n    type: single\n    classes: \
        [{id: normal, absent: true}, {id: nodule}, {id: mass}]\n  - id: size\n    type: ordinal\n    \
        classes: [{id: small}, {id: large}]\n  - id: where\n    type: box\n    classes: [{id: lesion}]\n";

    #[test]
    fn kinds_of_disagreement() {
        let p = Protocol::parse(PROTOCOL).unwrap();
        let task = p.primary_task().unwrap();
        let kinds = |values: Vec<Value>| {
            disagreement_kinds(&p, task, &values.into_iter().map(read).collect::<Vec<_>>())
        };
        let v = |finding: &str, size: &str, boxes: Value| json!({"finding": finding, "size": size, "where": boxes});
        let one = json!([[1, 1, 4, 4, "lesion"]]);
        assert!(
            kinds(vec![
                v("nodule", "small", one.clone()),
                v("nodule", "small", one.clone())
            ])
            .is_empty()
        );
        assert_eq!(
            kinds(vec![
                v("normal", "small", json!([])),
                v("nodule", "small", one.clone())
            ]),
            ["presence"]
        );
        assert_eq!(
            kinds(vec![
                v("mass", "small", one.clone()),
                v("nodule", "small", one.clone())
            ]),
            ["class"]
        );
        assert_eq!(
            kinds(vec![
                v("nodule", "small", one.clone()),
                v("nodule", "small", json!([[2, 2, 6, 6, "lesion"]]))
            ]),
            ["boundary"]
        );
        assert_eq!(
            kinds(vec![
                v("nodule", "small", one.clone()),
                v("nodule", "large", one)
            ]),
            ["attribute"]
        );
    }
}
