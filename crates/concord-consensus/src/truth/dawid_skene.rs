//! Dawid–Skene: full confusion matrices (with an empirical-Bayes prior), one-coin, and
//! gold-anchored, all fitted by the same EM engine.
//!
//! Rationale, per-dataset results and the rules that led to the defaults: `docs/default-method.md`.

use super::fit::{Aggregator, Fit, FitError, Progress, Skills};
use super::kernels::{
    ITEM_CHUNK, LogProduct, decide, softmax_in_place, squarem_norms, squarem_point, vote_share_row,
};
use crate::data::Annotations;
use rayon::prelude::*;

/// Probability floor, as in crowd-kit (`1e-10`), so an unseen (annotator, class) pair is unlikely
/// rather than impossible.
const EPS: f64 = 1e-10;

/// Pseudo-labels with which an annotator's recall of a class is pulled toward the crowd's recall
/// of that class in the [`PriorCenter::Crowd`] prior centre.
const RECALL_SHRINKAGE: f64 = 1.0;

/// Largest number of per-item-chunk partial counts (`chunks × annotators × K²`, 64 MiB of `f64`)
/// for which expected counts are accumulated item-major, fused into the E-step; above it (very
/// many annotators) they are accumulated annotator-major in a separate pass.
const MAX_CHUNK_COUNTS: usize = 1 << 23;

/// Dawid–Skene: each annotator has a confusion matrix `θ_a[true][given]`; EM alternates item
/// posteriors and maximum a posteriori matrices under an empirical-Bayes Dirichlet prior. The
/// default method.
///
/// Dawid, A. P. & Skene, A. M. (1979). Maximum likelihood estimation of observer error-rates
/// using the EM algorithm. *JRSS C* 28(1), 20–28. doi:10.2307/2346806
///
/// # Model
/// Item `i` has true class `z_i ~ Categorical(π)`; annotator `a` labels it `l ~ Categorical(θ_a[z_i])`,
/// independently given `z_i`. The posterior is
/// `P(z_i = k) ∝ π_k Π_{(a, l) on i} θ_a[k][l]`. Each row `θ_a[k]` has a Dirichlet prior with
/// `prior_strength` pseudo-labels centred on `C_a[k]` (below); `π` has a flat Dirichlet(2) prior
/// (one pseudo-item per class).
///
/// # Prior centre ([`PriorCenter::Crowd`], the default)
/// With `n_ak` the expected number of items of true class `k` that `a` labelled and `c_akl` how
/// many of them `a` called `l`:
/// - the crowd's confusion `P[k][l] ∝ Σ_a c_akl / (n_ak + 1)`: every annotator's row counts about
///   once (precision-weighted), so a few prolific annotators — or prolific spammers — do not
///   define what a typical annotator looks like;
/// - `C_a[k][k] = r_ak = (c_akk + P[k][k]) / (n_ak + 1)`: the annotator's own recall of class `k`,
///   shrunk toward the crowd's by one pseudo-label;
/// - `C_a[k][l] = (1 − r_ak) · P[k][l] / (1 − P[k][k])` for `l ≠ k`: their errors are expected to
///   fall where the crowd's fall (ordinal neighbours, a "can't tell" class).
///
/// So an annotator keeps their own accuracy, and one with few labels borrows from the crowd
/// *where* their mistakes go. `prior_strength = 0` gives maximum-likelihood Dawid–Skene.
/// [`PriorCenter::Pooled`] centres every row on the count-pooled confusion instead (the previous
/// default).
///
/// # Algorithm
/// 1. Initialise posteriors with vote shares (gold items clamped to their answer when
///    `anchor_gold`).
/// 2. M-step: `θ_a[k][l] = (c_akl + s·C_a[k][l]) / (n_ak + s)` (`s = prior_strength`; the MAP
///    estimate under a Dirichlet(1 + s·C_a[k]) prior), floored at `1e-10`;
///    `π_k = (Σ_i P(z_i = k) + 1) / (N + K)`. The centre `C` is re-estimated from the current
///    counts every iteration (empirical Bayes).
/// 3. E-step: recompute the posteriors (re-clamping gold) as the products `π_k Π θ_a[k][l]`,
///    normalised; an item whose largest product is below `1e-200` (thousands of labels) is
///    recomputed from sums of logarithms instead, so nothing underflows. Products need no
///    exponential per class and no logarithm per item, which were most of an iteration's cost.
/// 4. Repeat 2–3 until converged (below) or `max_iter` iterations ran, accelerated by SQUAREM
///    (Varadhan & Roland 2008, *Scand. J. Statist.* 35, 335–353,
///    doi:10.1111/j.1467-9469.2007.00585.x; scheme S3) on the posteriors `x`: after two EM
///    iterations `x0 → x1 → x2`, the next one starts from the extrapolated
///    `x' = x0 − 2αr + α²v` (`r = x1 − x0`, `v = x2 − 2x1 + x0`, `α = −‖r‖/‖v‖ ≤ −1`) instead of
///    from `x2`. The M-step at `x'` needs only its expected counts, which are linear in `x`, so
///    they are extrapolated from the three iterates' counts (clipped at 0) and `x'` is never
///    stored. The safeguard is the fixed-point residual, not the objective (which the
///    re-estimated prior centre makes non-monotone): if the step from `x'` changes a posterior by
///    more than the step `x1 → x2` did, the iteration is redone from `x2`. Every E-step counts as
///    an iteration (on the slow public sets 3–4× fewer than plain EM: 362 instead of 1,103 on
///    `vldb-relevance`, 99 instead of 364 on `ms-music-genre`).
///
/// # Two classes: one-coin check (`binary_one_coin_check`, on by default)
/// With two classes the full matrix is the "two-coin" model (sensitivity and specificity per
/// annotator) and the [`OneCoinDawidSkene`] model is its symmetric restriction. When a few
/// prolific annotators label nearly every item and some of them make correlated errors, the
/// two-coin fit lets them define the latent class: on ZenCrowd the maximum-likelihood fit rates
/// two such annotators 0.96/0.92 and 0.87/0.96 (their true rates: 0.80/0.85 and 0.70/0.83), with a
/// *higher* likelihood than the true matrices give, so likelihood-based choices (BIC, AIC) pick
/// it. With two classes the method therefore also fits the one-coin
/// model and keeps, of the two fits, the one whose labels agree with the annotators' plurality on
/// more items (an item whose top vote is tied agrees with any of the tied classes); a tie keeps
/// the two-coin fit. With gold (`anchor_gold`), the fit kept is instead the one that gives the
/// known answers the higher log-probability from the annotators' labels alone (the posterior before
/// clamping); on ZenCrowd that check, too, keeps the one-coin fit. With more than two classes the full matrix also models *which* wrong class an
/// annotator picks, which a one-coin fit cannot; that makes the one-coin fit closer to the
/// plurality by construction, so the check does not apply.
///
/// # Convergence
/// Converged when the largest change of any posterior probability between two consecutive
/// E-steps is at most `tol`. This is the rule, for every data set; there is no early stop on a
/// small first step (crowd-kit stops at the first iteration whose per-label ELBO gain is below
/// `1e-5`, which on real data often means after 2–5 iterations).
///
/// # Deviations
/// - crowd-kit's `DawidSkene` is maximum likelihood (`prior_strength = 0`), has no class-prior
///   smoothing, no one-coin check, and stops early (above).
/// - The prior centre is estimated from the same data (empirical Bayes), so EM is not guaranteed
///   to increase the reported objective monotonically; convergence is judged on the posteriors.
///
/// # Parameters
/// - `max_iter` (1000): iteration cap per fit; a safety net, not the stopping rule (every
///   public data set converges, in at most 510 iterations).
/// - `tol` (1e-6): convergence threshold on posterior change.
/// - `prior_strength` (4.0): pseudo-labels of the prior per confusion row.
/// - `center` ([`PriorCenter::Crowd`]): what the prior is centred on.
/// - `binary_one_coin_check` (true): the two-class model check above.
/// - `anchor_gold` (false): clamp items with a known answer to it (the `gds` method); those items
///   then calibrate the confusion matrices.
///
/// # Output
/// `skills` are confusion matrices (for a one-coin fit: its symmetric matrices); `iterations`
/// counts the EM iterations of both fits when the one-coin check ran; `converged`,
/// `log_likelihood` and `objective_trace` are those of the fit that was kept.
///
/// # Example
/// ```
/// use concord_consensus::{Annotations, truth::{Aggregator, DawidSkene}};
/// let data = Annotations::from_indices(2, [
///     (0, 0, 0), (0, 1, 0), (0, 2, 1),
///     (1, 0, 1), (1, 1, 1), (1, 2, 1),
/// ]).unwrap();
/// let fit = DawidSkene::default().fit(&data).unwrap();
/// assert_eq!(fit.labels, [0, 1]);
/// assert!(fit.converged);
/// ```
#[derive(Debug, Clone)]
pub struct DawidSkene {
    /// Iteration cap.
    pub max_iter: u32,
    /// Convergence threshold on the largest posterior change per iteration.
    pub tol: f64,
    /// Weight of the confusion-matrix prior, in pseudo-labels per confusion row (0: none).
    pub prior_strength: f64,
    /// What the prior is centred on.
    pub center: PriorCenter,
    /// With two classes, also fit the one-coin model and keep the more plurality-consistent fit.
    pub binary_one_coin_check: bool,
    /// Clamp gold items to their known answer (gold-anchored Dawid–Skene).
    pub anchor_gold: bool,
    /// Accelerate EM with SQUAREM (on by default). Off, every iteration is one plain EM step,
    /// the trajectory crowd-kit follows (its fixed-iteration outputs are the test oracle).
    pub accelerate: bool,
}

/// The centre of the Dirichlet prior on each annotator's confusion rows (see [`DawidSkene`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PriorCenter {
    /// The annotator's own recall (shrunk toward the crowd's by one pseudo-label), with errors
    /// spread like the crowd's; the crowd's matrix weighs each annotator about equally.
    #[default]
    Crowd,
    /// All annotators' counts pooled into one confusion matrix, so prolific annotators dominate.
    Pooled,
}

impl Default for DawidSkene {
    fn default() -> Self {
        Self {
            max_iter: 1000,
            tol: 1e-6,
            prior_strength: 4.0,
            center: PriorCenter::Crowd,
            binary_one_coin_check: true,
            anchor_gold: false,
            accelerate: true,
        }
    }
}

impl DawidSkene {
    /// Gold-anchored Dawid–Skene (`gds`): the default with `anchor_gold` set.
    pub fn gold_anchored() -> Self {
        Self {
            anchor_gold: true,
            ..Self::default()
        }
    }
}

impl Aggregator for DawidSkene {
    fn name(&self) -> &'static str {
        if self.anchor_gold { "gds" } else { "ds" }
    }

    fn fit_with_progress(
        &self,
        data: &Annotations,
        progress: &dyn Progress,
    ) -> Result<Fit, FitError> {
        check_common(self.name(), self.max_iter, self.tol)?;
        if !(self.prior_strength >= 0.0 && self.prior_strength.is_finite()) {
            return Err(FitError::InvalidParameter {
                method: self.name(),
                name: "prior_strength",
                reason: format!(
                    "must be finite and non-negative, got {}",
                    self.prior_strength
                ),
            });
        }
        if self.anchor_gold && data.n_gold() == 0 {
            return Err(FitError::NoGold {
                method: self.name(),
            });
        }
        let model = SkillModel::Confusion {
            prior_strength: self.prior_strength,
            center: self.center,
        };
        let alternative = (self.binary_one_coin_check && data.n_classes() == 2)
            .then_some(SkillModel::OneCoin { balanced: false });
        let settings = EmSettings {
            max_iter: self.max_iter,
            tol: self.tol,
            anchor_gold: self.anchor_gold,
            accelerate: self.accelerate,
        };
        Ok(fit_choosing(data, model, alternative, settings, progress))
    }
}

/// One-coin Dawid–Skene: each annotator is right with probability `s_a` and otherwise picks one
/// of the other `K − 1` classes uniformly.
///
/// Dawid & Skene (1979), doi:10.2307/2346806, with the confusion matrix restricted to
/// `θ_a[k][l] = s_a` if `k = l`, else `(1 − s_a)/(K − 1)`; crowd-kit's `OneCoinDawidSkene` cites
/// Zhang, Chen, Zhou & Jordan (2016), *JMLR* 17, arXiv:1406.3824.
///
/// # Algorithm
/// EM as in [`DawidSkene`]: start from vote shares; the M-step sets `s_a` to the maximum-likelihood
/// accuracy `Σ_{(i, l) by a} P(z_i = l) / n_a` (floored at `1e-10`, capped at `1 − 1e-10`) and
/// `π_k = (Σ_i P(z_i = k) + 1) / (N + K)`; iterate to the convergence rule of [`DawidSkene`].
///
/// # Collapse guard (`collapse_guard`, on by default)
/// The maximum-likelihood skill weighs an annotator's per-class recalls by how often each class
/// appears among their items. A prolific annotator who gives one label to everything then scores
/// the prevalence of that label, which pulls the posteriors toward it, which raises the
/// prevalence: the class prior runs away to one class (crowd-kit: 0.19 on `vldb-relevance`, 0.56
/// on `trec2011`, 0.58 on `vldb-duck`). The fit is *degenerate* when its class prior gives some
/// class less than a quarter of the share of all labels that name it, i.e. it explains most of
/// the crowd's uses of that class as errors. A degenerate fit is replaced by a refit with the
/// *class-balanced* skill `s_a = (1/K) Σ_k (c_akk + 1/K) / (n_ak + 1)` (the mean per-class
/// recall, each smoothed by one pseudo-label at chance), for which a constant labeller scores
/// `1/K` and carries no weight; both estimators are consistent when the one-coin model holds.
/// On the public data sets the ratio is at most 0.17 for the fits that collapse or nearly do
/// (`vldb-duck`, `vldb-relevance`, `trec2011`, `vldb-adult`, `vldb-product`, and
/// `cf-weather-amt`, whose rare "can't tell" class gets prior 0) and at least 0.33 elsewhere.
///
/// # Deviations
/// crowd-kit has no class-prior smoothing, no guard, and stops early (see [`DawidSkene`]); the
/// guard's balanced skill is not a maximum-likelihood estimate.
///
/// # Parameters
/// - `max_iter` (1000), `tol` (1e-6): as in [`DawidSkene`].
/// - `collapse_guard` (true): the guard above.
///
/// # Output
/// `skills` are one accuracy per annotator (`accuracy`); `iterations` counts both fits when the
/// guard refitted; the other outputs are those of the refit.
#[derive(Debug, Clone)]
pub struct OneCoinDawidSkene {
    /// Iteration cap.
    pub max_iter: u32,
    /// Convergence threshold on the largest posterior change per iteration.
    pub tol: f64,
    /// Refit with the class-balanced skill when the maximum-likelihood fit is degenerate.
    pub collapse_guard: bool,
}

impl Default for OneCoinDawidSkene {
    fn default() -> Self {
        Self {
            max_iter: 1000,
            tol: 1e-6,
            collapse_guard: true,
        }
    }
}

impl Aggregator for OneCoinDawidSkene {
    fn name(&self) -> &'static str {
        "ods"
    }

    fn fit_with_progress(
        &self,
        data: &Annotations,
        progress: &dyn Progress,
    ) -> Result<Fit, FitError> {
        check_common(self.name(), self.max_iter, self.tol)?;
        let plain = SkillModel::OneCoin { balanced: false };
        let settings = EmSettings {
            max_iter: self.max_iter,
            tol: self.tol,
            anchor_gold: false,
            accelerate: true,
        };
        let mut fit = run_em(data, plain, settings, 0, progress);
        if self.collapse_guard && is_degenerate(data, &fit.class_prior) {
            let first = fit.iterations;
            let balanced = SkillModel::OneCoin { balanced: true };
            fit = run_em(data, balanced, settings, first, progress);
            fit.iterations += first;
        }
        if let Skills::Confusion { n_classes, values } = &fit.skills {
            let k = *n_classes;
            fit.skills = Skills::Scalar {
                name: "accuracy",
                values: values.chunks_exact(k * k).map(|m| m[0]).collect(),
            };
        }
        Ok(fit)
    }
}

pub(crate) fn check_common(method: &'static str, max_iter: u32, tol: f64) -> Result<(), FitError> {
    if max_iter == 0 {
        return Err(FitError::InvalidParameter {
            method,
            name: "max_iter",
            reason: "must be at least 1".into(),
        });
    }
    if tol.is_nan() {
        return Err(FitError::InvalidParameter {
            method,
            name: "tol",
            reason: "is NaN".into(),
        });
    }
    Ok(())
}

/// How an EM run iterates.
#[derive(Debug, Clone, Copy)]
struct EmSettings {
    max_iter: u32,
    tol: f64,
    anchor_gold: bool,
    accelerate: bool,
}

#[derive(Debug, Clone, Copy)]
enum SkillModel {
    Confusion {
        prior_strength: f64,
        center: PriorCenter,
    },
    OneCoin {
        /// Class-balanced skill (mean recall) instead of the maximum-likelihood accuracy.
        balanced: bool,
    },
}

/// Fits `model` and, when given, `alternative`; keeps the fit whose labels agree with the
/// plurality on more items (ties keep `model`).
fn fit_choosing(
    data: &Annotations,
    model: SkillModel,
    alternative: Option<SkillModel>,
    settings: EmSettings,
    progress: &dyn Progress,
) -> Fit {
    let first = run_em(data, model, settings, 0, progress);
    let Some(alternative) = alternative else {
        return first;
    };
    let second = run_em(data, alternative, settings, first.iterations, progress);
    let total = first.iterations + second.iterations;
    let second_better = if settings.anchor_gold {
        gold_log_score(data, &second) > gold_log_score(data, &first)
    } else {
        plurality_agreement(data, &second.labels) > plurality_agreement(data, &first.labels)
    };
    let mut kept = if second_better { second } else { first };
    kept.iterations = total;
    kept
}

/// Whether a fitted class prior gives some class less than a quarter of the share of labels that
/// name it: the fit then explains most of the crowd's uses of that class as errors.
fn is_degenerate(data: &Annotations, class_prior: &[f64]) -> bool {
    let total = data.n_labels() as f64;
    data.class_counts()
        .iter()
        .zip(class_prior)
        .any(|(&count, &prior)| prior < 0.25 * count as f64 / total)
}

/// `Σ log P(z_i = gold_i)` over gold items, with the posterior the fitted model gives from the
/// annotators' labels alone (before the item is clamped to its answer).
fn gold_log_score(data: &Annotations, fit: &Fit) -> f64 {
    let Skills::Confusion {
        n_classes: k,
        values,
    } = &fit.skills
    else {
        return f64::NEG_INFINITY;
    };
    let k = *k;
    let mut score = vec![0.0; k];
    let mut total = 0.0;
    for item in 0..data.n_items() as u32 {
        let Some(gold) = data.gold(item) else {
            continue;
        };
        for (s, &p) in score.iter_mut().zip(&fit.class_prior) {
            *s = p.max(EPS).ln();
        }
        for (a, l) in data.item_labels(item) {
            let matrix = &values[a as usize * k * k..][..k * k];
            for (t, s) in score.iter_mut().enumerate() {
                *s += matrix[t * k + l as usize].max(EPS).ln();
            }
        }
        softmax_in_place(&mut score);
        total += score[gold as usize].max(EPS).ln();
    }
    total
}

/// Number of items whose label is one of the classes with the most votes on that item.
fn plurality_agreement(data: &Annotations, labels: &[u32]) -> usize {
    let k = data.n_classes();
    let offsets = data.item_offsets();
    let classes = data.item_classes();
    let mut votes = vec![0u32; k];
    let mut agree = 0;
    for (item, &label) in labels.iter().enumerate() {
        votes.fill(0);
        for &c in &classes[offsets[item]..offsets[item + 1]] {
            votes[c as usize] += 1;
        }
        let top = votes.iter().copied().max().unwrap_or(0);
        if votes[label as usize] == top {
            agree += 1;
        }
    }
    agree
}

/// Buffers of one EM run, allocated once.
struct Em<'a> {
    data: &'a Annotations,
    k: usize,
    /// Posteriors, `n_items * K`.
    posteriors: Vec<f64>,
    /// Expected counts, `[a][given][true]`.
    counts: Vec<f64>,
    /// `θ`, `[a][given][true]` (floored at `EPS`), so an E-step reads one contiguous row per
    /// label.
    theta: Vec<f64>,
    /// `log θ`, laid out as `theta`, for the items whose product would underflow.
    log_theta: Vec<f64>,
    log_prior: Vec<f64>,
    prior: Vec<f64>,
    /// Per-chunk partial sums of the E-step: `(log-likelihood, largest posterior change)`.
    partials: Vec<(f64, f64)>,
    /// One score row per item chunk, the E-step's working space.
    scratch: Vec<f64>,
    /// Per-annotator partial sums of the M-step's log-prior.
    annotator_partials: Vec<f64>,
    /// The crowd's confusion, `[true][given]`, rows summing to 1.
    crowd: Vec<f64>,
    /// Log-prior of the parameters (MAP objective), from the last M-step.
    log_param_prior: f64,
    /// Clamp gold items to their answer after every E-step.
    anchor_gold: bool,
    /// Per label, in item order: `annotator · K + given`, the label's row of `K` entries in
    /// `theta`, `log_theta` and `counts`. `u32`, half the bytes of an index: the E-step streams
    /// this array every iteration.
    label_rows: Vec<u32>,
    /// Whether `counts` sums are computed item-major, per item chunk, into `chunk_counts`
    /// (fused into the E-step); otherwise annotator-major, straight into `counts`.
    item_major: bool,
    /// Per-item-chunk partial expected counts, `[chunk][a][given][true]` (item-major; one
    /// unused slot per chunk otherwise).
    chunk_counts: Vec<f64>,
    /// Per-item-chunk partial sums of the posteriors, `[chunk][class]`.
    chunk_class_sums: Vec<f64>,
    /// Whether the chunk sums (and, annotator-major, `counts`) match the current posteriors.
    counts_fresh: bool,
    /// Posterior sums per class (expected class counts) from the last reduction.
    class_sums: Vec<f64>,
    /// SQUAREM's posterior iterates `x0` and `x1` (`x2` is the current posteriors).
    x0: Vec<f64>,
    x1: Vec<f64>,
    /// SQUAREM's three iterates' expected counts, each `counts` followed by `class_sums`.
    saved: [Vec<f64>; 3],
}

fn run_em(
    data: &Annotations,
    model: SkillModel,
    settings: EmSettings,
    progress_offset: u32,
    progress: &dyn Progress,
) -> Fit {
    let EmSettings {
        max_iter,
        tol,
        anchor_gold,
        accelerate,
    } = settings;
    let k = data.n_classes();
    let mut em = Em::new(data, anchor_gold);
    em.recount(true);
    let mut trace = Vec::with_capacity(max_iter as usize);
    let mut done = 0;
    let mut converged = false;
    // One E-step with the current parameters, counted as an iteration: returns the largest
    // posterior change and whether to stop (converged, or the cap reached).
    let mut e_step = |em: &mut Em<'_>, reference: Option<f64>, converged: &mut bool| {
        let (ll, change) = em.e_step(reference);
        done += 1;
        trace.push(ll + em.log_param_prior);
        progress.iteration(progress_offset + done, progress_offset + max_iter);
        *converged = change <= tol;
        (change, *converged || done >= max_iter)
    };
    // SQUAREM (Varadhan & Roland 2008, scheme S3) on the posteriors x, the EM map being
    // F(x) = E-step(M-step(x)): from x0, two EM iterations give x1 and x2; the next iteration
    // starts from the extrapolated x' = x0 − 2αr + α²v (r = x1 − x0, v = x2 − 2x1 + x0,
    // α = −‖r‖/‖v‖ ≤ −1) instead of x2. The M-step at x' needs only its expected counts, which
    // are linear in x: they are extrapolated from the three iterates' counts (clipped at 0)
    // without materialising x'. The safeguard is the fixed-point residual, not the objective
    // (which the re-estimated prior centre makes non-monotone): if ‖F(x') − x'‖∞ exceeds
    // ‖x2 − x1‖∞, the iteration is redone from x2. Every E-step counts as an iteration and the
    // convergence rule is checked after each; the run stops right after an E-step, so the
    // reported parameters are the ones the final posteriors were computed with.
    if !accelerate {
        loop {
            em.reduce_counts(0);
            em.m_step(model);
            if e_step(&mut em, None, &mut converged).1 {
                break;
            }
        }
    } else {
        loop {
            em.x0.copy_from_slice(&em.posteriors);
            em.reduce_counts(0);
            em.m_step(model);
            if e_step(&mut em, None, &mut converged).1 {
                break;
            }
            em.x1.copy_from_slice(&em.posteriors);
            em.reduce_counts(1);
            em.m_step(model);
            let (plain_change, stop) = e_step(&mut em, None, &mut converged);
            if stop {
                break;
            }
            em.reduce_counts(2);
            let alpha = em.squarem_step();
            if let Some(alpha) = alpha {
                em.extrapolate_counts(alpha);
            }
            em.m_step(model);
            let (change, stop) = e_step(&mut em, alpha, &mut converged);
            if stop {
                break;
            }
            if alpha.is_some() && change > plain_change {
                em.restore_counts(2);
                em.m_step(model);
                if e_step(&mut em, None, &mut converged).1 {
                    break;
                }
            }
        }
    }
    let log_likelihood = trace.last().copied().unwrap_or(f64::NAN);
    // The reported parameters are the ones the final posteriors were computed with.
    let skills = em.skills();
    let (labels, ties) = decide(&em.posteriors, k);
    Fit {
        labels,
        n_classes: k,
        posteriors: em.posteriors,
        class_prior: em.prior,
        skills,
        iterations: done,
        converged,
        log_likelihood: Some(log_likelihood),
        objective_trace: trace,
        ties,
    }
}

impl<'a> Em<'a> {
    /// Allocates every buffer of a run (nothing is allocated inside the iterations).
    fn new(data: &'a Annotations, anchor_gold: bool) -> Self {
        let k = data.n_classes();
        let a = data.n_annotators();
        let n = data.n_items() * k;
        let n_chunks = data.n_items().div_ceil(ITEM_CHUNK);
        let item_major = n_chunks * a * k * k <= MAX_CHUNK_COUNTS;
        Em {
            data,
            k,
            posteriors: vec![0.0; n],
            counts: vec![0.0; a * k * k],
            theta: vec![0.0; a * k * k],
            log_theta: vec![0.0; a * k * k],
            log_prior: vec![0.0; k],
            prior: vec![0.0; k],
            partials: vec![(0.0, 0.0); n_chunks],
            scratch: vec![0.0; n_chunks * k],
            annotator_partials: vec![0.0; a],
            crowd: vec![0.0; k * k],
            log_param_prior: 0.0,
            anchor_gold,
            label_rows: data
                .item_annotators()
                .iter()
                .zip(data.item_classes())
                .map(|(&a, &c)| {
                    u32::try_from(a as usize * k + c as usize)
                        .expect("fewer than 2^32 (annotator, class) pairs")
                })
                .collect(),
            item_major,
            chunk_counts: vec![0.0; n_chunks * if item_major { a * k * k } else { 1 }],
            chunk_class_sums: vec![0.0; n_chunks * k],
            counts_fresh: false,
            class_sums: vec![0.0; k],
            x0: vec![0.0; n],
            x1: vec![0.0; n],
            saved: std::array::from_fn(|_| vec![0.0; a * k * k + k]),
        }
    }
}

impl Em<'_> {
    /// Recomputes the chunk sums (and, annotator-major, `counts`) from the posteriors, for
    /// posteriors the E-step did not produce. With `from_votes` (the start), first sets each
    /// item's posterior to its vote shares (gold items, when anchored, to their answer) in the
    /// same pass.
    fn recount(&mut self, from_votes: bool) {
        let k = self.k;
        let offsets = self.data.item_offsets();
        let label_rows = &self.label_rows;
        let data = self.data;
        let anchor_gold = self.anchor_gold;
        let table = if self.item_major {
            self.data.n_annotators() * k * k
        } else {
            1
        };
        let item_major = self.item_major;
        self.chunk_class_sums
            .par_chunks_mut(k)
            .zip(self.chunk_counts.par_chunks_mut(table))
            .zip(self.posteriors.par_chunks_mut(ITEM_CHUNK * k))
            .enumerate()
            .for_each(|(chunk, ((class_sums, counts), rows))| {
                class_sums.fill(0.0);
                counts.fill(0.0);
                for (local, row) in rows.chunks_exact_mut(k).enumerate() {
                    let item = chunk * ITEM_CHUNK + local;
                    if from_votes {
                        vote_share_row(data, None, item, row);
                        if anchor_gold && let Some(class) = data.gold(item as u32) {
                            row.fill(0.0);
                            row[class as usize] = 1.0;
                        }
                    }
                    count_row(
                        class_sums,
                        counts,
                        row,
                        &label_rows[offsets[item]..offsets[item + 1]],
                        item_major,
                    );
                }
            });
        if !item_major {
            self.accumulate_counts_by_annotator();
        }
        self.counts_fresh = true;
    }

    /// Expected counts `counts[a][given][true] = Σ P(z_i = true)` over `a`'s labels `given`,
    /// annotator by annotator.
    fn accumulate_counts_by_annotator(&mut self) {
        let k = self.k;
        let data = self.data;
        let posteriors = &self.posteriors;
        let offsets = data.annotator_offsets();
        let items = data.annotator_items();
        let classes = data.annotator_classes();
        self.counts
            .par_chunks_mut(k * k)
            .enumerate()
            .for_each(|(a, block)| {
                block.fill(0.0);
                for obs in offsets[a]..offsets[a + 1] {
                    let row = &posteriors[items[obs] as usize * k..][..k];
                    let given = classes[obs] as usize;
                    for (c, &p) in block[given * k..(given + 1) * k].iter_mut().zip(row) {
                        *c += p;
                    }
                }
            });
    }

    /// Sums the chunks' partial counts (in chunk order) into `counts` and `class_sums`, and
    /// keeps a copy in SQUAREM slot `slot`.
    fn reduce_counts(&mut self, slot: usize) {
        let k = self.k;
        if !self.counts_fresh {
            self.recount(false);
        }
        if self.item_major {
            let block = self.counts.len();
            let chunk_counts = &self.chunk_counts;
            self.counts
                .par_chunks_mut(k * k)
                .enumerate()
                .for_each(|(a, out)| {
                    out.fill(0.0);
                    for chunk in chunk_counts.chunks_exact(block) {
                        for (o, &c) in out.iter_mut().zip(&chunk[a * k * k..(a + 1) * k * k]) {
                            *o += c;
                        }
                    }
                });
        }
        self.class_sums.fill(0.0);
        for sums in self.chunk_class_sums.chunks_exact(k) {
            for (p, &s) in self.class_sums.iter_mut().zip(sums) {
                *p += s;
            }
        }
        let n = self.counts.len();
        let saved = &mut self.saved[slot];
        saved[..n].copy_from_slice(&self.counts);
        saved[n..].copy_from_slice(&self.class_sums);
    }

    /// Puts the counts of SQUAREM slot `slot` back.
    fn restore_counts(&mut self, slot: usize) {
        let n = self.counts.len();
        let saved = &self.saved[slot];
        self.counts.copy_from_slice(&saved[..n]);
        self.class_sums.copy_from_slice(&saved[n..]);
    }

    /// SQUAREM's step length from `x0`, `x1` and the current posteriors `x2`:
    /// `α = −‖x1 − x0‖ / ‖x2 − 2x1 + x0‖`, or `None` when `α ≥ −1` (plain EM).
    fn squarem_step(&mut self) -> Option<f64> {
        let k = self.k;
        let (x0, x1) = (&self.x0, &self.x1);
        self.partials
            .par_iter_mut()
            .zip(x0.par_chunks(ITEM_CHUNK * k))
            .zip(x1.par_chunks(ITEM_CHUNK * k))
            .zip(self.posteriors.par_chunks(ITEM_CHUNK * k))
            .for_each(|(((partial, a), b), c)| *partial = squarem_norms(a, b, c));
        let (rr, vv) = self
            .partials
            .iter()
            .fold((0.0, 0.0), |(r, v), &(pr, pv)| (r + pr, v + pv));
        let alpha = -(rr / vv).sqrt();
        (alpha < -1.0 && alpha.is_finite()).then_some(alpha)
    }

    /// Replaces `counts` and `class_sums` by those of the extrapolated posteriors
    /// `x0 − 2α(x1 − x0) + α²(x2 − 2x1 + x0)` (they are linear in the posteriors), clipped at 0.
    fn extrapolate_counts(&mut self, alpha: f64) {
        let [c0, c1, c2] = &self.saved;
        for (i, out) in self
            .counts
            .iter_mut()
            .chain(self.class_sums.iter_mut())
            .enumerate()
        {
            let (p0, p1, p2) = (c0[i], c1[i], c2[i]);
            *out = squarem_point(p0, p1, p2, alpha).max(0.0);
        }
    }

    /// The M-step from `counts` and `class_sums`.
    fn m_step(&mut self, model: SkillModel) {
        let k = self.k;
        let total: f64 = self.class_sums.iter().sum();
        for (p, &s) in self.prior.iter_mut().zip(&self.class_sums) {
            *p = if total > 0.0 {
                s / total
            } else {
                1.0 / k as f64
            };
        }
        // Class prior: MAP under a flat Dirichlet(2) (one pseudo-item per class), so a class no
        // item currently favours keeps a non-zero prior; the maximum-likelihood model
        // (`prior_strength = 0`) keeps crowd-kit's plain mean, floored at 1e-10.
        let maximum_likelihood =
            matches!(model, SkillModel::Confusion { prior_strength, .. } if prior_strength == 0.0);
        let n_items = self.data.n_items() as f64;
        for (lp, p) in self.log_prior.iter_mut().zip(self.prior.iter_mut()) {
            if maximum_likelihood {
                *p = p.max(EPS);
            } else {
                *p = (*p * n_items + 1.0) / (n_items + k as f64);
            }
            *lp = p.ln();
        }
        self.log_param_prior = 0.0;
        match model {
            SkillModel::Confusion {
                prior_strength,
                center,
            } => self.m_step_confusion(prior_strength, center),
            SkillModel::OneCoin { balanced } => self.m_step_one_coin(balanced),
        }
    }

    /// Fills `crowd[true][given]` (rows sum to 1; uniform when empty).
    fn estimate_crowd(&mut self, center: PriorCenter) {
        let k = self.k;
        let crowd = &mut self.crowd;
        crowd.fill(0.0);
        for block in self.counts.chunks_exact(k * k) {
            for t in 0..k {
                let weight = match center {
                    PriorCenter::Pooled => 1.0,
                    PriorCenter::Crowd => {
                        let n: f64 = (0..k).map(|g| block[g * k + t]).sum();
                        1.0 / (n + 1.0)
                    }
                };
                for g in 0..k {
                    crowd[t * k + g] += block[g * k + t] * weight;
                }
            }
        }
        for row in crowd.chunks_exact_mut(k) {
            let sum: f64 = row.iter().sum();
            if sum > 0.0 {
                row.iter_mut().for_each(|v| *v /= sum);
            } else {
                row.fill(1.0 / k as f64);
            }
        }
    }

    fn m_step_confusion(&mut self, prior_strength: f64, center: PriorCenter) {
        let k = self.k;
        self.estimate_crowd(center);
        let crowd = &self.crowd;
        self.counts
            .par_chunks(k * k)
            .zip(self.theta.par_chunks_mut(k * k))
            .zip(self.log_theta.par_chunks_mut(k * k))
            .zip(self.annotator_partials.par_iter_mut())
            .for_each(|(((counts, theta_out), log_theta), partial)| {
                let mut lp = 0.0;
                for t in 0..k {
                    let row = &crowd[t * k..(t + 1) * k];
                    let n: f64 = (0..k).map(|g| counts[g * k + t]).sum();
                    // The prior centre `C[t][g]`.
                    let recall =
                        (counts[t * k + t] + RECALL_SHRINKAGE * row[t]) / (n + RECALL_SHRINKAGE);
                    let crowd_errors = 1.0 - row[t];
                    let centre = |g: usize| match center {
                        PriorCenter::Pooled => row[g],
                        PriorCenter::Crowd if g == t => recall,
                        PriorCenter::Crowd if crowd_errors > EPS => {
                            (1.0 - recall) * row[g] / crowd_errors
                        }
                        PriorCenter::Crowd => (1.0 - recall) / (k - 1) as f64,
                    };
                    // θ[t][g] = (c + s·C) / (n + s); the log-prior is Σ s·C·log θ.
                    let denominator = n + prior_strength;
                    for g in 0..k {
                        let mass = prior_strength * centre(g);
                        let theta = if denominator > 0.0 {
                            (counts[g * k + t] + mass) / denominator
                        } else {
                            1.0 / k as f64
                        }
                        .max(EPS);
                        let lt = theta.ln();
                        lp += mass * lt;
                        theta_out[g * k + t] = theta;
                        log_theta[g * k + t] = lt;
                    }
                }
                *partial = lp;
            });
        self.log_param_prior = self.annotator_partials.iter().sum();
    }

    fn m_step_one_coin(&mut self, balanced: bool) {
        let k = self.k;
        let off_classes = (k.max(2) - 1) as f64;
        self.counts
            .par_chunks(k * k)
            .zip(self.theta.par_chunks_mut(k * k))
            .zip(self.log_theta.par_chunks_mut(k * k))
            .for_each(|((counts, theta), log_theta)| {
                let skill = if balanced {
                    let chance = 1.0 / k as f64;
                    (0..k)
                        .map(|t| {
                            let n: f64 = (0..k).map(|g| counts[g * k + t]).sum();
                            (counts[t * k + t] + chance) / (n + 1.0)
                        })
                        .sum::<f64>()
                        / k as f64
                } else {
                    let total: f64 = counts.iter().sum();
                    let right: f64 = (0..k).map(|c| counts[c * k + c]).sum();
                    if total > 0.0 { right / total } else { 0.5 }
                };
                let skill = skill.clamp(EPS, 1.0 - EPS);
                let (right, wrong) = (skill, (1.0 - skill) / off_classes);
                let (log_right, log_wrong) = (right.ln(), wrong.ln());
                for given in 0..k {
                    for truth in 0..k {
                        let diagonal = given == truth;
                        theta[given * k + truth] = if diagonal { right } else { wrong };
                        log_theta[given * k + truth] = if diagonal { log_right } else { log_wrong };
                    }
                }
            });
    }

    /// Recomputes the posteriors; returns `(log-likelihood, largest posterior change)`. With
    /// `item_major`, also accumulates the next M-step's expected counts from the new rows. With
    /// `reference = Some(α)`, the change is measured from SQUAREM's extrapolated point
    /// `x0 − 2α(x1 − x0) + α²(x2 − 2x1 + x0)` (`x2` the posteriors before the step).
    fn e_step(&mut self, reference: Option<f64>) -> (f64, f64) {
        let k = self.k;
        let item_major = self.item_major;
        let avx2 = has_avx2();
        let input = ChunkInput {
            reference: reference.map(|alpha| (&self.x0[..], &self.x1[..], alpha)),
            data: self.data,
            offsets: self.data.item_offsets(),
            label_rows: &self.label_rows,
            theta: &self.theta,
            log_theta: &self.log_theta,
            prior: &self.prior,
            log_prior: &self.log_prior,
            anchor_gold: self.anchor_gold,
            item_major,
        };
        // One (unused) slot per chunk when annotator-major.
        let table = if item_major {
            self.data.n_annotators() * k * k
        } else {
            1
        };
        self.posteriors
            .par_chunks_mut(ITEM_CHUNK * k)
            .zip(self.partials.par_iter_mut())
            .zip(self.scratch.par_chunks_mut(k))
            .zip(self.chunk_class_sums.par_chunks_mut(k))
            .zip(self.chunk_counts.par_chunks_mut(table))
            .enumerate()
            .for_each(
                |(chunk, ((((rows, partial), score), class_sums), counts))| {
                    counts.fill(0.0);
                    let first = chunk * ITEM_CHUNK;
                    *partial = match k {
                        2 => e_chunk_fastest::<2>(avx2, &input, first, rows, class_sums, counts),
                        3 => e_chunk_fastest::<3>(avx2, &input, first, rows, class_sums, counts),
                        4 => e_chunk_fastest::<4>(avx2, &input, first, rows, class_sums, counts),
                        5 => e_chunk_fastest::<5>(avx2, &input, first, rows, class_sums, counts),
                        _ => e_chunk_dyn(&input, first, rows, class_sums, counts, score),
                    };
                },
            );
        if !item_major {
            self.accumulate_counts_by_annotator();
        }
        self.counts_fresh = true;
        self.partials
            .iter()
            .fold((0.0, 0.0), |(ll, ch), &(l, c)| (ll + l, f64::max(ch, c)))
    }

    /// Confusion matrices as `[a][true][given]` probabilities.
    fn skills(&self) -> Skills {
        let k = self.k;
        let mut values = vec![0.0; self.theta.len()];
        for (out, theta) in values
            .chunks_exact_mut(k * k)
            .zip(self.theta.chunks_exact(k * k))
        {
            for given in 0..k {
                for truth in 0..k {
                    out[truth * k + given] = theta[given * k + truth];
                }
            }
        }
        Skills::Confusion {
            n_classes: k,
            values,
        }
    }
}

/// What an E-step chunk reads.
struct ChunkInput<'a> {
    /// SQUAREM's `(x0, x1, α)`: measure the change from the extrapolated point.
    reference: Option<(&'a [f64], &'a [f64], f64)>,
    data: &'a Annotations,
    offsets: &'a [usize],
    /// Per label, in item order: `annotator · K + given`, its row in `theta` and `counts`.
    label_rows: &'a [u32],
    theta: &'a [f64],
    log_theta: &'a [f64],
    prior: &'a [f64],
    log_prior: &'a [f64],
    anchor_gold: bool,
    item_major: bool,
}

/// The E-step on one chunk of items starting at `first`, for `K` known at compile time: writes
/// the posteriors into `rows`, their sums into `class_sums` and, when `item_major`, adds them to
/// the chunk's expected `counts`. Returns `(log-likelihood, largest posterior change)`.
#[inline(always)]
fn e_chunk<const K: usize>(
    input: &ChunkInput<'_>,
    first: usize,
    rows: &mut [f64],
    class_sums: &mut [f64],
    counts: &mut [f64],
) -> (f64, f64) {
    let prior: [f64; K] = input.prior.try_into().expect("K classes");
    let mut sums = [0.0; K];
    let mut likelihood = Likelihood::new();
    let mut change: f64 = 0.0;
    for (local, row) in rows.chunks_exact_mut(K).enumerate() {
        let item = first + local;
        let label_rows = &input.label_rows[input.offsets[item]..input.offsets[item + 1]];
        let mut score = prior;
        for &label_row in label_rows {
            let base = label_row as usize * K;
            let theta: &[f64; K] = input.theta[base..base + K].try_into().expect("K");
            for (s, &t) in score.iter_mut().zip(theta) {
                *s *= t;
            }
        }
        if !likelihood.normalize(&mut score) {
            score.copy_from_slice(input.log_prior);
            for &label_row in label_rows {
                let base = label_row as usize * K;
                let lt: &[f64; K] = input.log_theta[base..base + K].try_into().expect("K");
                for (s, &l) in score.iter_mut().zip(lt) {
                    *s += l;
                }
            }
            likelihood.add_log(softmax(&mut score));
        }
        if input.anchor_gold
            && let Some(class) = input.data.gold(item as u32)
        {
            score = [0.0; K];
            score[class as usize] = 1.0;
        }
        let at = item * K;
        for (j, ((old, &new), sum)) in row.iter_mut().zip(&score).zip(&mut sums).enumerate() {
            change = change.max((reference_point(input.reference, at + j, *old) - new).abs());
            *old = new;
            *sum += new;
        }
        if input.item_major {
            for &label_row in label_rows {
                let base = label_row as usize * K;
                let c: &mut [f64; K] = (&mut counts[base..base + K]).try_into().expect("K");
                for (c, &p) in c.iter_mut().zip(&score) {
                    *c += p;
                }
            }
        }
    }
    class_sums.copy_from_slice(&sums);
    (likelihood.ln(), change)
}

/// Whether the running CPU has AVX2, for [`e_chunk_fastest`].
fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// [`e_chunk`], compiled for AVX2 when `avx2` says the CPU has it.
///
/// The E-step is most of an iteration and its rows of `K` doubles fit 256-bit registers: the
/// AVX2 build takes 10–20 % less time on the 1M-label benchmark. The results are bit for bit
/// those of the baseline build, since both do the same IEEE operations in the same order (no
/// contraction into fused multiply-adds): only the width of the instructions changes.
#[inline]
fn e_chunk_fastest<const K: usize>(
    avx2: bool,
    input: &ChunkInput<'_>,
    first: usize,
    rows: &mut [f64],
    class_sums: &mut [f64],
    counts: &mut [f64],
) -> (f64, f64) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` comes from `has_avx2`, so the running CPU supports the instructions
        // `e_chunk_avx2` is compiled with.
        return unsafe { e_chunk_avx2::<K>(input, first, rows, class_sums, counts) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = avx2;
    e_chunk::<K>(input, first, rows, class_sums, counts)
}

/// [`e_chunk`] inlined into a function compiled with AVX2 enabled.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn e_chunk_avx2<const K: usize>(
    input: &ChunkInput<'_>,
    first: usize,
    rows: &mut [f64],
    class_sums: &mut [f64],
    counts: &mut [f64],
) -> (f64, f64) {
    e_chunk::<K>(input, first, rows, class_sums, counts)
}

/// The point an E-step's change is measured from at posterior entry `i` whose value before the
/// step is `x2`: `x2` itself, or SQUAREM's extrapolated point.
#[inline]
fn reference_point(reference: Option<(&[f64], &[f64], f64)>, i: usize, x2: f64) -> f64 {
    match reference {
        None => x2,
        Some((x0, x1, alpha)) => {
            let (p0, p1) = (x0[i], x1[i]);
            squarem_point(p0, p1, x2, alpha)
        }
    }
}

/// [`e_chunk`] for any `K`, with `score` (`K` long) as working space.
fn e_chunk_dyn(
    input: &ChunkInput<'_>,
    first: usize,
    rows: &mut [f64],
    class_sums: &mut [f64],
    counts: &mut [f64],
    score: &mut [f64],
) -> (f64, f64) {
    let k = score.len();
    class_sums.fill(0.0);
    let mut likelihood = Likelihood::new();
    let mut change: f64 = 0.0;
    for (local, row) in rows.chunks_exact_mut(k).enumerate() {
        let item = first + local;
        let label_rows = &input.label_rows[input.offsets[item]..input.offsets[item + 1]];
        score.copy_from_slice(input.prior);
        for &label_row in label_rows {
            let base = label_row as usize * k;
            for (s, &t) in score.iter_mut().zip(&input.theta[base..base + k]) {
                *s *= t;
            }
        }
        if !likelihood.normalize(score) {
            score.copy_from_slice(input.log_prior);
            for &label_row in label_rows {
                let base = label_row as usize * k;
                for (s, &l) in score.iter_mut().zip(&input.log_theta[base..base + k]) {
                    *s += l;
                }
            }
            likelihood.add_log(softmax(score));
        }
        if input.anchor_gold
            && let Some(class) = input.data.gold(item as u32)
        {
            score.fill(0.0);
            score[class as usize] = 1.0;
        }
        let at = item * k;
        for (j, ((old, &new), sum)) in row
            .iter_mut()
            .zip(score.iter())
            .zip(class_sums.iter_mut())
            .enumerate()
        {
            change = change.max((reference_point(input.reference, at + j, *old) - new).abs());
            *old = new;
            *sum += new;
        }
        if input.item_major {
            for &label_row in label_rows {
                let base = label_row as usize * k;
                for (c, &p) in counts[base..base + k].iter_mut().zip(score.iter()) {
                    *c += p;
                }
            }
        }
    }
    (likelihood.ln(), change)
}

/// Smallest largest-entry of an item's product `π_k Π θ` that the E-step normalises as it is:
/// every factor is at most 1, so the largest entry never underflowed on its way down, and an
/// entry that did is below `1e-108` of it (`f64::MIN_POSITIVE / 1e-200`) and becomes a
/// posterior of 0 or nearly. Below it (an item with dozens of confident labels) the item is
/// recomputed in log space.
const MIN_PRODUCT: f64 = 1e-200;

/// A chunk's log-likelihood `Σ_i log Σ_k π_k Π θ`, summed without a logarithm per item.
///
/// The E-step works with products of probabilities rather than sums of logarithms: `K`
/// exponentials and a logarithm per item were most of its cost. Each item's normaliser `1/Σ`
/// (at least 1, since every factor is a probability) goes into a [`LogProduct`], whose
/// logarithm is taken once per many items; items recomputed in log space add their
/// log-normaliser directly.
struct Likelihood {
    inverse_sums: LogProduct,
    logs: f64,
}

impl Likelihood {
    fn new() -> Self {
        Self {
            inverse_sums: LogProduct::new(),
            logs: 0.0,
        }
    }

    /// Scales the product `score` to sum to 1 and records its normaliser; `false` (leaving
    /// `score` alone) when its largest entry is below [`MIN_PRODUCT`].
    #[inline]
    fn normalize(&mut self, score: &mut [f64]) -> bool {
        let max = score.iter().copied().fold(0.0, f64::max);
        if max < MIN_PRODUCT {
            return false;
        }
        let sum: f64 = score.iter().sum();
        let inverse = 1.0 / sum;
        score.iter_mut().for_each(|s| *s *= inverse);
        self.inverse_sums.mul(inverse);
        true
    }

    /// Records the log-normaliser of an item computed in log space.
    fn add_log(&mut self, log: f64) {
        self.logs += log;
    }

    fn ln(&self) -> f64 {
        self.logs - self.inverse_sums.ln()
    }
}

/// Turns log-scores into probabilities in place and returns `log Σ exp(score)`, with
/// [`exp_nonpositive`] for the exponentials.
#[inline]
fn softmax(row: &mut [f64]) -> f64 {
    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        let u = 1.0 / row.len() as f64;
        row.fill(u);
        return max;
    }
    let mut sum = 0.0;
    for p in row.iter_mut() {
        *p = exp_nonpositive(*p - max);
        sum += *p;
    }
    row.iter_mut().for_each(|p| *p /= sum);
    max + sum.ln()
}

/// Adds a posterior `row` to a chunk's class sums and, when `item_major`, to the chunk's expected
/// counts at each of the item's `label_rows`.
#[inline]
fn count_row(
    class_sums: &mut [f64],
    counts: &mut [f64],
    row: &[f64],
    label_rows: &[u32],
    item_major: bool,
) {
    let k = row.len();
    for (s, &p) in class_sums.iter_mut().zip(row) {
        *s += p;
    }
    if item_major {
        for &label_row in label_rows {
            let base = label_row as usize * k;
            for (c, &p) in counts[base..base + k].iter_mut().zip(row) {
                *c += p;
            }
        }
    }
}

/// `2^(j/32)`, `j = 0..32`.
const EXP2_THIRTY_SECONDS: [f64; 32] = [
    1.0,
    1.0218971486541166,
    1.0442737824274138,
    1.0671404006768237,
    1.0905077326652577,
    1.1143867425958924,
    1.1387886347566916,
    1.1637248587775775,
    1.189207115002721,
    1.215247359980469,
    1.241857812073484,
    1.2690509571917332,
    1.2968395546510096,
    1.3252366431597413,
    1.3542555469368927,
    1.383909881963832,
    std::f64::consts::SQRT_2,
    1.4451808069770467,
    1.4768261459394993,
    1.5091644275934228,
    1.5422108254079407,
    1.5759808451078865,
    1.6104903319492543,
    1.645755478153965,
    1.681792830507429,
    1.718619298122478,
    1.7562521603732995,
    1.7947090750031072,
    1.8340080864093424,
    1.8741676341103,
    1.9152065613971474,
    1.9571441241754002,
];

/// `e^x` for `x ≤ 0` (arguments below `−700` are taken as `−700`, whose exponential, `1e-304`,
/// is 0 for every purpose here), in plain IEEE arithmetic: the same bits on every platform and
/// several times cheaper than a libm call, which matters because the E-step takes `K` of them
/// per item. `x = (32m + j)·ln2/32 + r` with `|r| ≤ ln2/64` (Cody–Waite split of `ln 2`);
/// `e^x = 2^m · 2^(j/32) · e^r`, `e^r` by its Taylor polynomial of degree 6 (truncation error
/// below `4e-18`). Relative error a few units in the last place.
#[inline]
fn exp_nonpositive(x: f64) -> f64 {
    // ln 2 = LN2_HI + LN2_LO, with LN2_HI's low 21 bits zero so n·LN2_HI is exact (fdlibm).
    const LN2_HI_32: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000) / 32.0;
    const LN2_LO_32: f64 = f64::from_bits(0x3dea_39ef_3579_3c76) / 32.0;
    const THIRTY_TWO_OVER_LN2: f64 = 46.16624130844683;
    // Round to nearest by adding and subtracting 1.5 · 2^52.
    const ROUND: f64 = 6_755_399_441_055_744.0;
    let x = x.max(-700.0);
    let n = (x * THIRTY_TWO_OVER_LN2 + ROUND) - ROUND;
    let r = (x - n * LN2_HI_32) - n * LN2_LO_32;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let n = n as i64;
    let scale = f64::from_bits((((n >> 5) + 1023) as u64) << 52);
    p * EXP2_THIRTY_SECONDS[(n & 31) as usize] * scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::truth::OneCoinDawidSkene;

    /// Deterministic pseudo-random numbers in [0, 1) (xorshift64*).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
        }

        fn below(&mut self, n: usize) -> u32 {
            ((self.next() * n as f64) as usize).min(n - 1) as u32
        }
    }

    /// `items` items with a uniform true class, `per_item` labels each from `annotators`
    /// annotators whose accuracy is spread over [0.45, 0.95]; errors go to a random other class.
    /// Returns the data and the true classes by item index.
    fn synthetic(
        k: usize,
        items: u32,
        annotators: u32,
        per_item: u32,
        seed: u64,
    ) -> (Annotations, Vec<u32>) {
        let mut rng = Rng(seed);
        let accuracy: Vec<f64> = (0..annotators)
            .map(|a| 0.45 + 0.5 * a as f64 / annotators.max(2) as f64)
            .collect();
        let truth: Vec<u32> = (0..items).map(|_| rng.below(k)).collect();
        let mut obs = Vec::new();
        for (item, &t) in truth.iter().enumerate() {
            for _ in 0..per_item {
                let a = rng.below(annotators as usize);
                let label = if rng.next() < accuracy[a as usize] {
                    t
                } else {
                    (t + 1 + rng.below(k - 1)) % k as u32
                };
                obs.push((item as u32, a, label));
            }
        }
        let data = Annotations::from_indices(k, obs).unwrap();
        // Numeric names sort numerically, so item indices are the generated ones.
        (data, truth)
    }

    fn accuracy(labels: &[u32], truth: &[u32]) -> f64 {
        labels.iter().zip(truth).filter(|(l, t)| l == t).count() as f64 / truth.len() as f64
    }

    fn with_threads<T: Send>(n: usize, f: impl FnOnce() -> T + Send) -> T {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
            .install(f)
    }

    fn assert_bit_identical(a: &Fit, b: &Fit) {
        assert_eq!(a.labels, b.labels);
        assert_eq!(a.iterations, b.iterations);
        assert_eq!(a.converged, b.converged);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a.posteriors), bits(&b.posteriors));
        assert_eq!(bits(&a.class_prior), bits(&b.class_prior));
        assert_eq!(bits(&a.objective_trace), bits(&b.objective_trace));
        assert_eq!(a.skills, b.skills);
    }

    #[test]
    fn one_and_two_threads_give_identical_fits() {
        // 5,000 items span three item chunks, so the chunked reductions are exercised.
        for (k, seed) in [(2, 1), (4, 2), (7, 3)] {
            let (data, truth) = synthetic(k, 5_000, 40, 5, seed);
            let gold = data.with_gold((0..5_000).step_by(10).map(|i| (i, truth[i as usize])));
            let methods: [(&dyn Aggregator, &Annotations); 4] = [
                (&DawidSkene::default(), &data),
                (&DawidSkene::gold_anchored(), &gold),
                (&OneCoinDawidSkene::default(), &data),
                (
                    &DawidSkene {
                        center: PriorCenter::Pooled,
                        ..DawidSkene::default()
                    },
                    &data,
                ),
            ];
            for (method, data) in methods {
                let one = with_threads(1, || method.fit(data).unwrap());
                let two = with_threads(2, || method.fit(data).unwrap());
                assert_bit_identical(&one, &two);
                assert!(one.converged, "{} K={k}", method.name());
                let acc = accuracy(&one.labels, &truth);
                assert!(acc > 0.85, "{} K={k}: accuracy {acc}", method.name());
            }
        }
    }

    #[test]
    fn annotator_major_counts_match_item_major() {
        let (data, _) = synthetic(3, 3_000, 30, 5, 7);
        let fit = |item_major: bool| {
            let mut em = Em::new(&data, false);
            em.item_major = item_major;
            if !item_major {
                em.chunk_counts = vec![0.0; em.partials.len()];
            }
            em.recount(true);
            em.reduce_counts(0);
            em.m_step(SkillModel::Confusion {
                prior_strength: 4.0,
                center: PriorCenter::Crowd,
            });
            em.e_step(None);
            em.reduce_counts(0);
            em.m_step(SkillModel::OneCoin { balanced: true });
            (em.counts.clone(), em.posteriors.clone())
        };
        let (counts_a, post_a) = fit(true);
        let (counts_b, post_b) = fit(false);
        // The two orders of summation agree to rounding.
        for (a, b) in counts_a.iter().zip(&counts_b) {
            assert!((a - b).abs() <= 1e-9 * a.abs().max(1.0), "{a} vs {b}");
        }
        for (a, b) in post_a.iter().zip(&post_b) {
            assert!((a - b).abs() <= 1e-9, "{a} vs {b}");
        }
    }

    /// Plain EM for maximum-likelihood Dawid–Skene, written the obvious way.
    fn reference_ml_ds(data: &Annotations, iterations: usize) -> Vec<f64> {
        let (k, n) = (data.n_classes(), data.n_items());
        let mut post = vec![0.0; n * k];
        for item in 0..n {
            for (_, l) in data.item_labels(item as u32) {
                post[item * k + l as usize] += 1.0;
            }
            let s: f64 = post[item * k..(item + 1) * k].iter().sum();
            post[item * k..(item + 1) * k]
                .iter_mut()
                .for_each(|p| *p /= s);
        }
        for _ in 0..iterations {
            let mut theta = vec![0.0; data.n_annotators() * k * k]; // [a][true][given]
            // Maximum likelihood: the class prior is the plain mean of the posteriors.
            let mut prior = vec![0.0; k];
            for item in 0..n {
                for t in 0..k {
                    prior[t] += post[item * k + t];
                }
                for (a, l) in data.item_labels(item as u32) {
                    for t in 0..k {
                        theta[(a as usize * k + t) * k + l as usize] += post[item * k + t];
                    }
                }
            }
            for row in theta.chunks_exact_mut(k) {
                let s: f64 = row.iter().sum();
                row.iter_mut()
                    .for_each(|v| *v = if s > 0.0 { *v / s } else { 1.0 / k as f64 });
            }
            let total: f64 = prior.iter().sum();
            for item in 0..n {
                let mut score: Vec<f64> = prior.iter().map(|p| (p / total).max(EPS).ln()).collect();
                for (a, l) in data.item_labels(item as u32) {
                    for (t, s) in score.iter_mut().enumerate() {
                        *s += theta[(a as usize * k + t) * k + l as usize].max(EPS).ln();
                    }
                }
                let m = score.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = score.iter().map(|s| (s - m).exp()).sum();
                for t in 0..k {
                    post[item * k + t] = (score[t] - m).exp() / z;
                }
            }
        }
        post
    }

    #[test]
    fn maximum_likelihood_fixed_point_matches_plain_em() {
        let (data, _) = synthetic(3, 400, 12, 6, 11);
        let fit = DawidSkene {
            prior_strength: 0.0,
            binary_one_coin_check: false,
            tol: 1e-12,
            max_iter: 10_000,
            ..DawidSkene::default()
        }
        .fit(&data)
        .unwrap();
        assert!(fit.converged);
        let reference = reference_ml_ds(&data, 3_000);
        let worst = fit
            .posteriors
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-6, "largest posterior difference {worst}");
        // SQUAREM needs far fewer EM steps than plain EM to the same point.
        assert!(fit.iterations < 1_000, "{} iterations", fit.iterations);
    }

    /// Items with thousands of labels, whose products `π_k Π θ` underflow, are recomputed in log
    /// space: the fit still follows plain EM, iteration for iteration.
    #[test]
    fn long_items_fall_back_to_log_space() {
        let (short, _) = synthetic(3, 200, 12, 5, 3);
        let (long, _) = synthetic(3, 20, 12, 2_000, 4);
        let labels = |data: &Annotations, first: u32| {
            (0..data.n_items() as u32)
                .flat_map(|item| {
                    data.item_labels(item)
                        .map(move |(a, l)| (first + item, a, l))
                })
                .collect::<Vec<_>>()
        };
        let mut obs = labels(&short, 0);
        obs.extend(labels(&long, 200));
        let data = Annotations::from_indices(3, obs).unwrap();
        for iterations in [1, 2, 5, 20] {
            let fit = DawidSkene {
                prior_strength: 0.0,
                binary_one_coin_check: false,
                accelerate: false,
                tol: 0.0,
                max_iter: iterations,
                ..DawidSkene::default()
            }
            .fit(&data)
            .unwrap();
            let reference = reference_ml_ds(&data, iterations as usize);
            for (a, b) in fit.posteriors.iter().zip(&reference) {
                assert!((a - b).abs() < 1e-9, "after {iterations}: {a} vs {b}");
            }
            // The long items' largest product is far below what the product path takes.
            let Skills::Confusion { values, .. } = &fit.skills else {
                panic!("confusion matrices expected")
            };
            let log_product = |item: u32, t: usize| {
                fit.class_prior[t].ln()
                    + data
                        .item_labels(item)
                        .map(|(a, l)| values[(a as usize * 3 + t) * 3 + l as usize].ln())
                        .sum::<f64>()
            };
            let largest = (0..3).map(|t| log_product(200, t)).fold(f64::MIN, f64::max);
            assert!(
                largest < MIN_PRODUCT.ln() - 100.0,
                "log of largest product {largest}"
            );
        }
    }

    /// The AVX2 build of the E-step gives the baseline build's results bit for bit.
    #[test]
    fn avx2_e_step_matches_baseline() {
        if !has_avx2() {
            return;
        }
        for k in [2, 3, 4, 5] {
            let (data, _) = synthetic(k, 3_000, 40, 7, 5 + k as u64);
            let e_steps = |avx2: bool| {
                let mut em = Em::new(&data, false);
                em.recount(true);
                em.reduce_counts(0);
                em.m_step(SkillModel::Confusion {
                    prior_strength: 4.0,
                    center: PriorCenter::Crowd,
                });
                let input = ChunkInput {
                    reference: None,
                    data: &data,
                    offsets: data.item_offsets(),
                    label_rows: &em.label_rows,
                    theta: &em.theta,
                    log_theta: &em.log_theta,
                    prior: &em.prior,
                    log_prior: &em.log_prior,
                    anchor_gold: false,
                    item_major: true,
                };
                let mut rows = em.posteriors.clone();
                let mut sums = vec![0.0; k];
                let mut counts = vec![0.0; em.counts.len()];
                let out = match k {
                    2 => e_chunk_fastest::<2>(avx2, &input, 0, &mut rows, &mut sums, &mut counts),
                    3 => e_chunk_fastest::<3>(avx2, &input, 0, &mut rows, &mut sums, &mut counts),
                    4 => e_chunk_fastest::<4>(avx2, &input, 0, &mut rows, &mut sums, &mut counts),
                    _ => e_chunk_fastest::<5>(avx2, &input, 0, &mut rows, &mut sums, &mut counts),
                };
                (out, rows, sums, counts)
            };
            let (baseline, avx2) = (e_steps(false), e_steps(true));
            assert_eq!(baseline.0.0.to_bits(), avx2.0.0.to_bits(), "K={k}");
            assert_eq!(baseline.0.1.to_bits(), avx2.0.1.to_bits(), "K={k}");
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&baseline.1), bits(&avx2.1), "K={k}");
            assert_eq!(bits(&baseline.2), bits(&avx2.2), "K={k}");
            assert_eq!(bits(&baseline.3), bits(&avx2.3), "K={k}");
        }
    }

    #[test]
    fn crowd_prior_centre_by_hand() {
        // Two classes, vote shares as posteriors (max_iter = 1 runs one M-step from them).
        // Items: 0 labelled (a0: 0, a1: 0), 1 labelled (a0: 1, a1: 0), 2 labelled (a0: 1).
        let data =
            Annotations::from_indices(2, [(0, 0, 0), (0, 1, 0), (1, 0, 1), (1, 1, 0), (2, 0, 1)])
                .unwrap();
        let fit = DawidSkene {
            max_iter: 1,
            binary_one_coin_check: false,
            ..DawidSkene::default()
        }
        .fit(&data)
        .unwrap();
        // Posteriors from vote shares: item 0 (1, 0), item 1 (½, ½), item 2 (0, 1).
        // Expected counts c[a][true][given]:
        //   a0: true 0 → given 0: 1, given 1: ½;  true 1 → given 0: 0, given 1: 1½.
        //   a1: true 0 → given 0: 1½, given 1: 0; true 1 → given 0: ½, given 1: 0.
        let c = [[[1.0, 0.5], [0.0, 1.5]], [[1.5, 0.0], [0.5, 0.0]]];
        // Crowd rows: Σ_a c[a][t][g] / (n_at + 1), normalised.
        let mut crowd = [[0.0; 2]; 2];
        for ca in &c {
            for t in 0..2 {
                let n: f64 = ca[t].iter().sum();
                for g in 0..2 {
                    crowd[t][g] += ca[t][g] / (n + 1.0);
                }
            }
        }
        for row in &mut crowd {
            let s: f64 = row.iter().sum();
            row.iter_mut().for_each(|v| *v /= s);
        }
        let Skills::Confusion { values, .. } = &fit.skills else {
            panic!("confusion matrices expected")
        };
        for (a, ca) in c.iter().enumerate() {
            for t in 0..2 {
                let n: f64 = ca[t].iter().sum();
                let recall = (ca[t][t] + crowd[t][t]) / (n + 1.0);
                for g in 0..2 {
                    let centre = if g == t { recall } else { 1.0 - recall };
                    let expected = (ca[t][g] + 4.0 * centre) / (n + 4.0);
                    let got = values[(a * 2 + t) * 2 + g];
                    assert!(
                        (got - expected).abs() < 1e-12,
                        "a{a} t{t} g{g}: {got} vs {expected}"
                    );
                }
            }
        }
    }

    #[test]
    fn binary_check_keeps_the_more_plurality_consistent_fit() {
        for seed in 0..4 {
            let (data, _) = synthetic(2, 600, 8, 3, 100 + seed);
            let two_coin = DawidSkene {
                binary_one_coin_check: false,
                ..DawidSkene::default()
            }
            .fit(&data)
            .unwrap();
            let one_coin = OneCoinDawidSkene {
                collapse_guard: false,
                ..OneCoinDawidSkene::default()
            }
            .fit(&data)
            .unwrap();
            let chosen = DawidSkene::default().fit(&data).unwrap();
            let expected = if plurality_agreement(&data, &one_coin.labels)
                > plurality_agreement(&data, &two_coin.labels)
            {
                &one_coin
            } else {
                &two_coin
            };
            assert_eq!(chosen.labels, expected.labels);
            assert_eq!(chosen.iterations, two_coin.iterations + one_coin.iterations);
        }
    }

    #[test]
    fn collapse_guard_rescues_a_constant_labeller() {
        // A prolific annotator who answers 1 to everything, and four 70 % annotators: the
        // maximum-likelihood one-coin fit runs away to class 1.
        let mut rng = Rng(5);
        let truth: Vec<u32> = (0..400).map(|_| rng.below(2)).collect();
        let mut obs = Vec::new();
        for (item, &t) in truth.iter().enumerate() {
            obs.push((item as u32, 0, 1));
            for a in 1..4 {
                if rng.next() < 0.5 {
                    let label = if rng.next() < 0.7 { t } else { 1 - t };
                    obs.push((item as u32, a, label));
                }
            }
        }
        let data = Annotations::from_indices(2, obs).unwrap();
        let plain = OneCoinDawidSkene {
            collapse_guard: false,
            ..OneCoinDawidSkene::default()
        }
        .fit(&data)
        .unwrap();
        assert!(
            is_degenerate(&data, &plain.class_prior),
            "{:?}",
            plain.class_prior
        );
        let guarded = OneCoinDawidSkene::default().fit(&data).unwrap();
        assert!(guarded.iterations > plain.iterations);
        assert!(!is_degenerate(&data, &guarded.class_prior));
        assert!(accuracy(&guarded.labels, &truth) > accuracy(&plain.labels, &truth) + 0.1);
        let Skills::Scalar { name, values } = &guarded.skills else {
            panic!("one accuracy per annotator expected")
        };
        assert_eq!(*name, "accuracy");
        assert!(
            values[0] < 0.55,
            "the constant labeller's skill is {}",
            values[0]
        );
    }

    #[test]
    fn fast_exp_matches_libm() {
        let mut x = 0.0;
        while x > -700.0 {
            let (fast, exact) = (exp_nonpositive(x), x.exp());
            assert!(
                (fast - exact).abs() <= 4e-16 * exact,
                "exp({x}): {fast} vs {exact}"
            );
            x -= 0.001_234_567;
        }
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert!(exp_nonpositive(-1e6) < 1e-300);
    }

    #[test]
    fn gold_anchored_needs_gold() {
        let data = Annotations::from_indices(2, [(0, 0, 0), (0, 1, 1)]).unwrap();
        let err = DawidSkene::gold_anchored().fit(&data).unwrap_err();
        assert_eq!(err, FitError::NoGold { method: "gds" });
    }

    #[test]
    fn gold_items_keep_their_answer() {
        let data = Annotations::from_indices(2, [(0, 0, 0), (0, 1, 0), (1, 0, 1), (1, 1, 1)])
            .unwrap()
            .with_gold([(0, 1)]);
        let fit = DawidSkene::gold_anchored().fit(&data).unwrap();
        assert_eq!(fit.labels[0], 1);
        assert_eq!(fit.posterior(0), [0.0, 1.0]);
    }

    #[test]
    fn rejects_bad_parameters() {
        let data = Annotations::from_indices(2, [(0, 0, 0)]).unwrap();
        for strength in [-1.0, f64::NAN, f64::INFINITY] {
            let ds = DawidSkene {
                prior_strength: strength,
                ..DawidSkene::default()
            };
            assert!(matches!(
                ds.fit(&data),
                Err(FitError::InvalidParameter { .. })
            ));
        }
        let ods = OneCoinDawidSkene {
            max_iter: 0,
            ..OneCoinDawidSkene::default()
        };
        assert!(matches!(
            ods.fit(&data),
            Err(FitError::InvalidParameter { .. })
        ));
    }
}
