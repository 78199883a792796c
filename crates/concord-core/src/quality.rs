//! Annotator quality: accuracy on gold with a credible interval, agreement with the consensus,
//! the consensus model's per-class skill, the trend over time, and leaked gold.
//!
//! Gold accuracy and consensus agreement are Beta posteriors under a uniform prior with 95 %
//! equal-tailed credible intervals ([`concord_consensus::quality`]); the per-class skill is the
//! diagonal of the annotator's confusion matrix in the latest consensus run's skill snapshot
//! (Dawid & Skene, doi:10.2307/2346806, or the project's method), beside the share of items of
//! each consensus class the annotator labelled so.

use crate::service::{Core, CoreError, CoreResult};
use crate::skills::SkillSnapshot;
use concord_consensus::quality::{
    Calibration, Proportion, beta_posterior, calibration, gold_leak_suspected,
};
use concord_store::{Annotation, Role, User};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;

/// Credible level of every interval in a quality report.
pub const LEVEL: f64 = 0.95;

/// Gap between gold accuracy and consensus agreement, beyond non-overlapping intervals, that
/// flags a leak.
pub const LEAK_MARGIN: f64 = 0.1;

/// A proportion with its 95 % credible interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Accuracy {
    /// Right answers.
    pub right: u64,
    /// Answers.
    pub total: u64,
    /// Posterior mean.
    pub mean: f64,
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

impl From<Proportion> for Accuracy {
    fn from(p: Proportion) -> Self {
        Self {
            right: p.right,
            total: p.total,
            mean: p.mean,
            low: p.low,
            high: p.high,
        }
    }
}

/// One class of the primary task, for one annotator.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClassSkill {
    /// The class.
    pub class: String,
    /// Among items whose consensus is this class that the annotator labelled: how many they
    /// labelled so.
    pub recall: Accuracy,
    /// The consensus model's estimate of the same (its confusion matrix's diagonal).
    pub model_recall: Option<f64>,
}

/// A stretch of an annotator's work, in the order they labelled.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Window {
    /// Time of the first label in the window (ms since the epoch).
    pub from: i64,
    /// Time of the last.
    pub to: i64,
    /// Agreement with the consensus on regular items in the window.
    pub consensus: Option<Accuracy>,
    /// Accuracy on gold items in the window.
    pub gold: Option<Accuracy>,
}

/// One annotator's quality in a project.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnnotatorQuality {
    /// Login name.
    pub annotator: String,
    /// Cost per label.
    pub cost: f64,
    /// Current labels on regular items.
    pub labels: usize,
    /// Accuracy on gold items.
    pub gold: Option<Accuracy>,
    /// Agreement with the latest consensus run's labels on regular items.
    pub consensus: Option<Accuracy>,
    /// The consensus model's expected accuracy (class prior times the confusion diagonal).
    pub expected_accuracy: Option<f64>,
    /// Per class of the primary task.
    pub per_class: Vec<ClassSkill>,
    /// Windows of the annotator's labels, oldest first.
    pub trend: Vec<Window>,
    /// Gold accuracy far above consensus agreement: the gold answers may have leaked to them.
    pub leak_suspected: bool,
    /// When the protocol asks for a confidence (`confidence_of` the primary task): how well
    /// the annotator's stated confidence matches how often they are right (against the gold
    /// answer on gold items, the consensus elsewhere), over [`CALIBRATION_BINS`] bins.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub calibration: Option<Calibration>,
}

/// Bins of the reliability diagram in a calibration report.
pub const CALIBRATION_BINS: usize = 10;

impl Core {
    /// Every annotator's quality in a project (managers), or the acting annotator's own (an
    /// annotator sees nobody else's). `window` is the number of labels per trend window.
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] for other roles; [`CoreError::Invalid`] for a protocol without
    /// a categorical task or a zero window.
    pub async fn annotator_quality(
        &self,
        actor: &User,
        project: &str,
        window: usize,
    ) -> CoreResult<Vec<AnnotatorQuality>> {
        let only = if actor.has(Role::Manager) {
            None
        } else if actor.has(Role::Annotator) {
            Some(actor.id)
        } else {
            return Err(CoreError::Forbidden(format!(
                "{} may not see annotator quality (needs the manager role, or the annotator \
                 role for one's own)",
                actor.name
            )));
        };
        if window == 0 {
            return Err(CoreError::Invalid(
                "the trend window needs at least 1 label".into(),
            ));
        }
        let ctx = self.context(project).await?;
        let task = ctx.parsed.primary_task().ok_or_else(|| {
            CoreError::Invalid("the protocol has no `single` or `ordinal` task".into())
        })?;
        let classes: Vec<&str> = task.classes.iter().map(|c| c.id.as_str()).collect();
        let class_of = |v: &Value| -> Option<usize> {
            let id = v.get(&task.id)?.as_str()?;
            classes.iter().position(|c| *c == id)
        };
        // The stated confidence in the primary task's answer, as a probability.
        let confidence_task = ctx.parsed.confidence_task(&task.id);
        let confidence_of = |v: &Value| -> Option<f64> {
            let t = confidence_task?;
            let x = v.get(&t.id)?.as_f64()?;
            Some((x / t.max.unwrap_or(1.0)).clamp(0.0, 1.0))
        };
        let gold: HashMap<i64, usize> = self
            .store()
            .gold_answers(ctx.project.id)
            .await?
            .into_iter()
            .filter_map(|(item, v)| Some((item, class_of(&v)?)))
            .collect();
        let run = self.store().latest_run(ctx.project.id).await?;
        let (consensus, snapshot): (HashMap<i64, usize>, Option<SkillSnapshot>) = match &run {
            Some(run) => (
                self.store()
                    .run_labels(run.id)
                    .await?
                    .into_iter()
                    .filter_map(|l| Some((l.item_id, class_of(&l.label)?)))
                    .collect(),
                run.parameters
                    .get("snapshot")
                    .and_then(|s| serde_json::from_value::<SkillSnapshot>(s.clone()).ok())
                    .filter(|s| s.classes.len() == classes.len()),
            ),
            None => (HashMap::new(), None),
        };
        let mut by_annotator: HashMap<i64, Vec<Annotation>> = HashMap::new();
        for a in self.store().annotations(ctx.project.id).await? {
            if only.is_none_or(|id| id == a.annotator_id) {
                by_annotator.entry(a.annotator_id).or_default().push(a);
            }
        }
        let mut users: Vec<User> = self
            .store()
            .users()
            .await?
            .into_iter()
            .filter(|u| by_annotator.contains_key(&u.id))
            .collect();
        users.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out = Vec::with_capacity(users.len());
        for user in users {
            let mut mine = by_annotator.remove(&user.id).unwrap_or_default();
            mine.sort_by_key(|a| a.id);
            // (regular right, regular total, gold right, gold total) over a slice of labels.
            let tally = |labels: &[Annotation]| {
                let (mut cr, mut ct, mut gr, mut gt) = (0u64, 0u64, 0u64, 0u64);
                for a in labels {
                    let given = class_of(&a.value);
                    if let Some(&truth) = gold.get(&a.item_id) {
                        gt += 1;
                        gr += u64::from(given == Some(truth));
                    } else if let Some(&c) = consensus.get(&a.item_id) {
                        ct += 1;
                        cr += u64::from(given == Some(c));
                    }
                }
                (cr, ct, gr, gt)
            };
            let proportion =
                |right: u64, total: u64| (total > 0).then(|| beta_posterior(right, total, LEVEL));
            let (cr, ct, gr, gt) = tally(&mine);
            let gold_p = proportion(gr, gt);
            let consensus_p = proportion(cr, ct);
            let leak_suspected = match (&gold_p, &consensus_p) {
                (Some(g), Some(c)) => gold_leak_suspected(g, c, LEAK_MARGIN),
                _ => false,
            };
            let matrix = snapshot.as_ref().map(|s| {
                s.confusion
                    .get(&user.id)
                    .unwrap_or(&s.fallback)
                    .iter()
                    .enumerate()
                    .map(|(t, row)| row[t])
                    .collect::<Vec<f64>>()
            });
            let expected_accuracy = snapshot
                .as_ref()
                .zip(matrix.as_ref())
                .map(|(s, diag)| diag.iter().zip(&s.prior).map(|(d, p)| d * p).sum::<f64>());
            let per_class = classes
                .iter()
                .enumerate()
                .map(|(c, name)| {
                    let (mut right, mut total) = (0u64, 0u64);
                    for a in &mine {
                        if gold.contains_key(&a.item_id) {
                            continue;
                        }
                        if consensus.get(&a.item_id) == Some(&c) {
                            total += 1;
                            right += u64::from(class_of(&a.value) == Some(c));
                        }
                    }
                    ClassSkill {
                        class: name.to_string(),
                        recall: beta_posterior(right, total, LEVEL).into(),
                        model_recall: matrix.as_ref().map(|d| d[c]),
                    }
                })
                .collect();
            let trend = mine
                .chunks(window)
                .map(|chunk| {
                    let (cr, ct, gr, gt) = tally(chunk);
                    Window {
                        from: chunk.first().map_or(0, |a| a.created_at),
                        to: chunk.last().map_or(0, |a| a.created_at),
                        consensus: proportion(cr, ct).map(Into::into),
                        gold: proportion(gr, gt).map(Into::into),
                    }
                })
                .collect();
            let stated: Vec<(f64, bool)> = mine
                .iter()
                .filter_map(|a| {
                    let p = confidence_of(&a.value)?;
                    let given = class_of(&a.value)?;
                    let truth = gold.get(&a.item_id).or(consensus.get(&a.item_id))?;
                    Some((p, given == *truth))
                })
                .collect();
            out.push(AnnotatorQuality {
                calibration: calibration(&stated, CALIBRATION_BINS),
                annotator: user.name.clone(),
                cost: user.cost,
                labels: mine
                    .iter()
                    .filter(|a| !gold.contains_key(&a.item_id))
                    .count(),
                gold: gold_p.map(Into::into),
                consensus: consensus_p.map(Into::into),
                expected_accuracy,
                per_class,
                trend,
                leak_suspected,
            });
        }
        Ok(out)
    }
}

/// One confusion of an annotator: the reference said `reference`, they said `given`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Confusion {
    /// The reference class (gold answer or consensus).
    pub reference: String,
    /// What the annotator answered.
    pub given: String,
    /// How often.
    pub count: usize,
    /// Share of the annotator's items of the reference class answered so.
    pub rate: f64,
    /// Up to three items where it happened, newest first.
    pub examples: Vec<String>,
    /// The protocol's definitions of both classes.
    pub reference_definition: String,
    /// The definition of the class they gave.
    pub given_definition: String,
}

/// What one annotator should look at: their accuracy and their most frequent confusions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Feedback {
    /// The annotator.
    pub annotator: String,
    /// Their quality figures.
    pub quality: AnnotatorQuality,
    /// Confusions against gold answers and the consensus, most frequent first.
    pub confusions: Vec<Confusion>,
}

/// A pair of classes skilled annotators split between.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AmbiguousPair {
    /// One class.
    pub a: String,
    /// The other.
    pub b: String,
    /// Pairs of skilled reads on the same item, one for each class.
    pub splits: usize,
    /// Share of skilled read pairs involving either class that split this way.
    pub rate: f64,
    /// Items with the most such splits.
    pub examples: Vec<String>,
    /// The protocol's definitions, side by side: the input for the next revision.
    pub a_definition: String,
    /// The definition of `b`.
    pub b_definition: String,
}

impl Core {
    /// One annotator's feedback: their quality and most frequent confusions, against gold
    /// answers and the latest consensus, with example items and the protocol's definitions.
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless manager, or the annotator asking about themselves.
    pub async fn feedback(
        &self,
        actor: &User,
        project: &str,
        annotator: &str,
        top: usize,
    ) -> CoreResult<Feedback> {
        let user = self.store().user(annotator).await?;
        if !actor.has(Role::Manager) && actor.id != user.id {
            return Err(CoreError::Forbidden(format!(
                "{} may not see {annotator}'s feedback (managers, or the annotator themselves)",
                actor.name
            )));
        }
        let quality = self
            .annotator_quality(actor, project, 100)
            .await?
            .into_iter()
            .find(|q| q.annotator == user.name)
            .ok_or_else(|| {
                CoreError::NotFound(format!("{annotator} has no labels in `{project}`"))
            })?;
        let ctx = self.context(project).await?;
        let task = ctx.parsed.primary_task().ok_or_else(|| {
            CoreError::Invalid("the protocol has no `single` or `ordinal` task".into())
        })?;
        let reference = self.references(&ctx, task).await?;
        let names = self.item_names(ctx.project.id).await?;
        let mut mine: Vec<Annotation> = self
            .store()
            .annotations(ctx.project.id)
            .await?
            .into_iter()
            .filter(|a| a.annotator_id == user.id)
            .collect();
        mine.sort_by_key(|a| std::cmp::Reverse(a.id));
        let class_of = |v: &Value| v.get(&task.id).and_then(Value::as_str).map(str::to_string);
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut pairs: HashMap<(String, String), Vec<i64>> = HashMap::new();
        for a in &mine {
            let (Some(reference), Some(given)) = (reference.get(&a.item_id), class_of(&a.value))
            else {
                continue;
            };
            *seen.entry(reference.clone()).or_default() += 1;
            if *reference != given {
                pairs
                    .entry((reference.clone(), given))
                    .or_default()
                    .push(a.item_id);
            }
        }
        let definition = |c: &str| task.definition(c).to_string();
        let mut confusions: Vec<Confusion> = pairs
            .into_iter()
            .map(|((reference, given), items)| Confusion {
                rate: items.len() as f64 / seen[&reference].max(1) as f64,
                count: items.len(),
                examples: items
                    .iter()
                    .take(3)
                    .filter_map(|i| names.get(i).cloned())
                    .collect(),
                reference_definition: definition(&reference),
                given_definition: definition(&given),
                reference,
                given,
            })
            .collect();
        confusions.sort_by(|x, y| {
            y.count
                .cmp(&x.count)
                .then_with(|| (&x.reference, &x.given).cmp(&(&y.reference, &y.given)))
        });
        confusions.truncate(top);
        Ok(Feedback {
            annotator: user.name,
            quality,
            confusions,
        })
    }

    /// The class pairs skilled annotators split between most, with example items and the
    /// protocol's definitions side by side: the input for the next protocol revision.
    /// "Skilled" means an expected accuracy of at least `min_skill` in the latest run's skill
    /// snapshot; pairs of reads on the same item are counted once per pair of annotators.
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless manager; [`CoreError::Invalid`] before the first
    /// consensus run.
    pub async fn ambiguity(
        &self,
        actor: &User,
        project: &str,
        min_skill: f64,
        top: usize,
    ) -> CoreResult<Vec<AmbiguousPair>> {
        crate::service::require(actor, Role::Manager, "see the protocol ambiguity report")?;
        let ctx = self.context(project).await?;
        let task = ctx.parsed.primary_task().ok_or_else(|| {
            CoreError::Invalid("the protocol has no `single` or `ordinal` task".into())
        })?;
        let run = self.store().latest_run(ctx.project.id).await?.ok_or_else(|| {
            CoreError::Invalid(format!(
                "project `{project}` has no consensus run yet: run `concord consensus {project}` \
                 first (skills come from it)"
            ))
        })?;
        let classes: Vec<String> = task.classes.iter().map(|c| c.id.clone()).collect();
        let snapshot = run
            .parameters
            .get("snapshot")
            .and_then(|s| serde_json::from_value::<SkillSnapshot>(s.clone()).ok())
            .filter(|s| s.classes == classes)
            .unwrap_or_else(|| SkillSnapshot::uninformed(classes.clone()));
        let skilled = |annotator: i64| -> bool {
            snapshot.confusion.get(&annotator).is_some_and(|m| {
                m.iter()
                    .enumerate()
                    .map(|(t, row)| snapshot.prior[t] * row[t])
                    .sum::<f64>()
                    >= min_skill
            })
        };
        let names = self.item_names(ctx.project.id).await?;
        let mut by_item: HashMap<i64, Vec<(i64, String)>> = HashMap::new();
        for a in self.store().annotations(ctx.project.id).await? {
            if let Some(c) = a.value.get(&task.id).and_then(Value::as_str)
                && skilled(a.annotator_id)
            {
                by_item
                    .entry(a.item_id)
                    .or_default()
                    .push((a.annotator_id, c.to_string()));
            }
        }
        // Every skilled read pair by its (unordered) classes, and the splits by item.
        let mut pair_counts: HashMap<(String, String), usize> = HashMap::new();
        let mut splits: HashMap<(String, String), HashMap<i64, usize>> = HashMap::new();
        for (item, reads) in &by_item {
            for (i, (_, x)) in reads.iter().enumerate() {
                for (_, y) in &reads[i + 1..] {
                    let key = if x <= y {
                        (x.clone(), y.clone())
                    } else {
                        (y.clone(), x.clone())
                    };
                    *pair_counts.entry(key.clone()).or_default() += 1;
                    if x != y {
                        *splits.entry(key).or_default().entry(*item).or_default() += 1;
                    }
                }
            }
        }
        // Read pairs with at least one read of `a` or `b`.
        let involving = |a: &str, b: &str| -> usize {
            pair_counts
                .iter()
                .filter(|((x, y), _)| [x, y].iter().any(|c| *c == a || *c == b))
                .map(|(_, n)| n)
                .sum()
        };
        let definition = |c: &str| task.definition(c).to_string();
        let mut out: Vec<AmbiguousPair> = splits
            .into_iter()
            .map(|((a, b), items)| {
                let n: usize = items.values().sum();
                let mut examples: Vec<(usize, &i64)> = items.iter().map(|(i, c)| (*c, i)).collect();
                examples.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(y.1)));
                let pairs_involving = involving(&a, &b);
                AmbiguousPair {
                    splits: n,
                    rate: n as f64 / pairs_involving.max(1) as f64,
                    examples: examples
                        .iter()
                        .take(3)
                        .filter_map(|(_, i)| names.get(i).cloned())
                        .collect(),
                    a_definition: definition(&a),
                    b_definition: definition(&b),
                    a,
                    b,
                }
            })
            .collect();
        out.sort_by(|x, y| {
            y.splits
                .cmp(&x.splits)
                .then_with(|| (&x.a, &x.b).cmp(&(&y.a, &y.b)))
        });
        out.truncate(top);
        Ok(out)
    }

    /// Each item's reference class: its gold answer, else the latest run's consensus.
    async fn references(
        &self,
        ctx: &crate::service::Context,
        task: &crate::protocol::Task,
    ) -> CoreResult<HashMap<i64, String>> {
        let class_of = |v: &Value| v.get(&task.id).and_then(Value::as_str).map(str::to_string);
        let mut out: HashMap<i64, String> = HashMap::new();
        if let Some(run) = self.store().latest_run(ctx.project.id).await? {
            for l in self.store().run_labels(run.id).await? {
                if let Some(c) = class_of(&l.label) {
                    out.insert(l.item_id, c);
                }
            }
        }
        for (item, gold) in self.store().gold_answers(ctx.project.id).await? {
            if let Some(c) = class_of(&gold) {
                out.insert(item, c);
            }
        }
        Ok(out)
    }

    async fn item_names(&self, project_id: i64) -> CoreResult<HashMap<i64, String>> {
        Ok(self
            .store()
            .item_states(project_id)
            .await?
            .into_iter()
            .map(|s| (s.item_id, s.external_id))
            .collect())
    }
}
