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
use concord_consensus::quality::{Proportion, beta_posterior, gold_leak_suspected};
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
}

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
            out.push(AnnotatorQuality {
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
