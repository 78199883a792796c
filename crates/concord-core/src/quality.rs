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
use std::sync::Arc;

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

/// How an annotator's labels, oldest first, are cut into the windows of
/// [`AnnotatorQuality::trend`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trend {
    /// Labels per window, at least.
    pub window: usize,
    /// At most this many windows: a longer history gets wider windows (summarised, not cut),
    /// so a leaderboard at a million labels stays small.
    pub max_windows: Option<usize>,
}

impl From<usize> for Trend {
    /// Windows of `window` labels, as many as there are.
    fn from(window: usize) -> Self {
        Self {
            window,
            max_windows: None,
        }
    }
}

impl Trend {
    /// Labels per window for an annotator with `labels` labels.
    fn width(&self, labels: usize) -> usize {
        match self.max_windows {
            Some(most) if most > 0 => self.window.max(labels.div_ceil(most)),
            _ => self.window,
        }
    }
}

/// Bins of the reliability diagram in a calibration report.
pub const CALIBRATION_BINS: usize = 10;

impl Core {
    /// Every annotator's quality in a project (managers), or the acting annotator's own (an
    /// annotator sees nobody else's). `trend` says how labels are cut into trend windows (a
    /// number: labels per window).
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] for other roles; [`CoreError::Invalid`] for a protocol without
    /// a categorical task or a zero window.
    pub async fn annotator_quality(
        &self,
        actor: &User,
        project: &str,
        trend: impl Into<Trend>,
    ) -> CoreResult<Vec<AnnotatorQuality>> {
        let trend = trend.into();
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
        if trend.window == 0 {
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
        let confidence_scale = ctx
            .parsed
            .confidence_task(&task.id)
            .map(|t| t.max.unwrap_or(1.0));
        // Every current annotation from the in-memory log (only new ones are read): a
        // manager's leaderboard at a million labels reads nothing per annotation.
        let log = self.annotation_log(&ctx, task).await?;
        let run = self.store().latest_run(ctx.project.id).await?;
        let snapshot: Option<SkillSnapshot> = run.as_ref().and_then(|run| {
            run.parameters
                .get("snapshot")
                .and_then(|s| serde_json::from_value::<SkillSnapshot>(s.clone()).ok())
                .filter(|s| s.classes.len() == classes.len())
        });
        // What each label is checked against: the gold answer, else the latest run's label.
        let run_classes = match &run {
            Some(run) => self.run_classes(run.id, &task.id, &classes).await?,
            None => Arc::default(),
        };
        let gold: Vec<(i64, usize)> = self
            .store()
            .gold_answers(ctx.project.id)
            .await?
            .into_iter()
            .filter_map(|(item, answer)| Some((item, class_of(&answer)?)))
            .collect();
        let reference = References::new(&run_classes, &gold);
        // Each annotator's running figures, in one pass over the log in id order (oldest
        // first): a dense index per annotator, windows closed as they fill.
        let mut index: HashMap<i64, usize> = HashMap::new();
        let mut counts: Vec<usize> = Vec::new();
        for row in log.rows.iter() {
            if only.is_none_or(|id| id == row.annotator_id) {
                let next = index.len();
                let k = *index.entry(row.annotator_id).or_insert(next);
                if k == counts.len() {
                    counts.push(0);
                }
                counts[k] += 1;
            }
        }
        let mut running: Vec<Running> = counts
            .iter()
            .map(|&n| Running::new(trend.width(n), classes.len()))
            .collect();
        let mut last: Option<(i64, usize)> = None;
        for row in log.rows.iter() {
            let k = match last {
                Some((annotator, k)) if annotator == row.annotator_id => k,
                _ => match index.get(&row.annotator_id) {
                    Some(&k) => {
                        last = Some((row.annotator_id, k));
                        k
                    }
                    None => continue,
                },
            };
            // The log's first class names are the protocol's, in order.
            let given = ((row.class as usize) < classes.len()).then_some(row.class as usize);
            let stated = confidence_scale
                .filter(|_| !row.confidence.is_nan() && given.is_some())
                .map(|scale| (row.confidence / scale).clamp(0.0, 1.0));
            running[k].add(row.created_at, given, reference.get(row.item_id), stated);
        }
        let mut users: Vec<User> = self
            .store()
            .users()
            .await?
            .into_iter()
            .filter(|u| index.contains_key(&u.id))
            .collect();
        users.sort_by(|a, b| a.name.cmp(&b.name));
        let proportion =
            |right: u64, total: u64| (total > 0).then(|| beta_posterior(right, total, LEVEL));
        let mut out = Vec::with_capacity(users.len());
        for user in users {
            let mut figures = std::mem::take(&mut running[index[&user.id]]);
            figures.close_window();
            let gold_p = proportion(figures.overall.gold_right, figures.overall.gold_total);
            let consensus_p = proportion(
                figures.overall.consensus_right,
                figures.overall.consensus_total,
            );
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
                .zip(&figures.per_class)
                .enumerate()
                .map(|(c, (name, &(right, total)))| ClassSkill {
                    class: name.to_string(),
                    recall: beta_posterior(right, total, LEVEL).into(),
                    model_recall: matrix.as_ref().map(|d| d[c]),
                })
                .collect();
            let trend = figures
                .windows
                .iter()
                .map(|(from, to, tally)| Window {
                    from: *from,
                    to: *to,
                    consensus: proportion(tally.consensus_right, tally.consensus_total)
                        .map(Into::into),
                    gold: proportion(tally.gold_right, tally.gold_total).map(Into::into),
                })
                .collect();
            out.push(AnnotatorQuality {
                calibration: calibration(&figures.stated, CALIBRATION_BINS),
                annotator: user.name.clone(),
                cost: user.cost,
                labels: figures.labels,
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

    /// The class (index into `classes`) of every item a consensus run labelled, for `task`:
    /// read once per run and kept (a run never changes), so the leaderboard does not parse
    /// a hundred thousand stored labels on every call.
    async fn run_classes(
        &self,
        run_id: i64,
        task: &str,
        classes: &[&str],
    ) -> CoreResult<Arc<HashMap<i64, usize>>> {
        let key = (
            run_id,
            task.to_string(),
            classes.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        );
        if let Some(cached) = self
            .run_classes_cache()
            .lock()
            .expect("run cache lock")
            .get(&key)
        {
            return Ok(cached.clone());
        }
        let by_item: HashMap<i64, usize> = self
            .store()
            .run_labels(run_id)
            .await?
            .into_iter()
            .filter_map(|l| {
                let id = l.label.get(task)?.as_str()?;
                Some((l.item_id, classes.iter().position(|c| *c == id)?))
            })
            .collect();
        let by_item = Arc::new(by_item);
        let mut cache = self.run_classes_cache().lock().expect("run cache lock");
        // The latest run per project and task is what is asked for: a few entries suffice.
        if cache.len() >= RUN_CLASSES_KEPT {
            cache.clear();
        }
        cache.insert(key, by_item.clone());
        Ok(by_item)
    }
}

/// Runs whose labels [`Core::run_classes`] keeps before starting over.
const RUN_CLASSES_KEPT: usize = 16;

/// What a label is checked against.
#[derive(Debug, Clone, Copy)]
struct Reference {
    /// The item's gold answer (else the latest consensus run's label).
    gold: bool,
    /// Index into the primary task's classes.
    class: usize,
}

/// Each item's [`Reference`], in a slot per item id between the smallest and the largest
/// (a project's items are imported in runs of ids): one array read per label instead of a
/// hash lookup, a million times per leaderboard.
struct References {
    first_id: i64,
    /// `NONE`, or the class index with `GOLD` set for a gold answer.
    slots: Vec<u32>,
}

impl References {
    const NONE: u32 = u32::MAX;
    const GOLD: u32 = 1 << 31;

    /// From the run's class per item, overridden by the gold answers.
    fn new(consensus: &HashMap<i64, usize>, gold: &[(i64, usize)]) -> Self {
        let ids = consensus.keys().chain(gold.iter().map(|(id, _)| id));
        let (Some(&first_id), Some(&last_id)) = (ids.clone().min(), ids.max()) else {
            return Self {
                first_id: 0,
                slots: Vec::new(),
            };
        };
        let mut slots = vec![Self::NONE; (last_id - first_id + 1) as usize];
        for (&item, &class) in consensus {
            slots[(item - first_id) as usize] = class as u32;
        }
        for &(item, class) in gold {
            slots[(item - first_id) as usize] = class as u32 | Self::GOLD;
        }
        Self { first_id, slots }
    }

    fn get(&self, item: i64) -> Option<Reference> {
        let slot = *usize::try_from(item - self.first_id)
            .ok()
            .and_then(|i| self.slots.get(i))?;
        (slot != Self::NONE).then_some(Reference {
            gold: slot & Self::GOLD != 0,
            class: (slot & !Self::GOLD) as usize,
        })
    }
}

/// Right and total answers against gold and against the consensus.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    consensus_right: u64,
    consensus_total: u64,
    gold_right: u64,
    gold_total: u64,
}

/// One annotator's figures as the log is read, oldest label first.
#[derive(Debug, Default)]
struct Running {
    /// Labels per trend window.
    width: usize,
    overall: Tally,
    /// (right, total) per consensus class, regular items only.
    per_class: Vec<(u64, u64)>,
    /// Labels on items without a gold answer.
    labels: usize,
    /// (stated confidence, right) where both are known.
    stated: Vec<(f64, bool)>,
    /// Closed windows: first and last label's time, tally.
    windows: Vec<(i64, i64, Tally)>,
    /// The open window.
    open: Tally,
    open_labels: usize,
    open_from: i64,
    open_to: i64,
}

impl Running {
    fn new(width: usize, classes: usize) -> Self {
        Self {
            width,
            per_class: vec![(0, 0); classes],
            ..Self::default()
        }
    }

    fn add(
        &mut self,
        at: i64,
        given: Option<usize>,
        truth: Option<Reference>,
        stated: Option<f64>,
    ) {
        if self.open_labels == 0 {
            self.open_from = at;
        }
        self.open_to = at;
        self.open_labels += 1;
        match truth {
            None => self.labels += 1,
            Some(truth) => {
                let right = given == Some(truth.class);
                if truth.gold {
                    self.open.gold_total += 1;
                    self.open.gold_right += u64::from(right);
                } else {
                    self.labels += 1;
                    self.open.consensus_total += 1;
                    self.open.consensus_right += u64::from(right);
                    let counts = &mut self.per_class[truth.class];
                    counts.0 += u64::from(right);
                    counts.1 += 1;
                }
                if let Some(p) = stated {
                    self.stated.push((p, right));
                }
            }
        }
        if self.open_labels == self.width {
            self.close_window();
        }
    }

    /// Ends the open window (if it has labels) and adds it to the totals.
    fn close_window(&mut self) {
        if self.open_labels == 0 {
            return;
        }
        let t = std::mem::take(&mut self.open);
        self.overall.consensus_right += t.consensus_right;
        self.overall.consensus_total += t.consensus_total;
        self.overall.gold_right += t.gold_right;
        self.overall.gold_total += t.gold_total;
        self.windows.push((self.open_from, self.open_to, t));
        self.open_labels = 0;
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
