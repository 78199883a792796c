//! Dawid–Skene: full confusion matrices (with an empirical-Bayes prior), one-coin, and
//! gold-anchored, all fitted by the same EM engine.

use super::fit::{Aggregator, Fit, FitError, Progress, Skills};
use super::kernels::{ITEM_CHUNK, clamp_gold, column_means, decide, softmax_in_place, vote_shares};
use crate::data::Annotations;
use rayon::prelude::*;

/// Probability floor, as in crowd-kit (`1e-10`), so an unseen (annotator, class) pair is unlikely
/// rather than impossible.
const EPS: f64 = 1e-10;

/// Dawid–Skene: each annotator has a confusion matrix `θ_a[true][given]`; EM alternates item
/// posteriors and maximum a posteriori matrices.
///
/// Dawid, A. P. & Skene, A. M. (1979). Maximum likelihood estimation of observer error-rates
/// using the EM algorithm. *JRSS C* 28(1), 20–28. doi:10.2307/2346806
///
/// # Model
/// Item `i` has true class `z_i ~ Categorical(π)`; annotator `a` labels it `l ~ Categorical(θ_a[z_i])`,
/// independently given `z_i`. The posterior is
/// `P(z_i = k) ∝ π_k Π_{(a, l) on i} θ_a[k][l]`.
///
/// # Algorithm
/// 1. Initialise posteriors with vote shares (gold items clamped to their answer when
///    `anchor_gold`).
/// 2. M-step: `θ_a[k][l] ∝ Σ_{i labelled l by a} P(z_i = k) + α_{a,k,l}`, `π_k ∝ Σ_i P(z_i = k) + 1`,
///    where `α` is the prior (below).
/// 3. E-step: recompute the posteriors (re-clamping gold).
/// 4. Repeat 2–3 until no posterior entry moves by more than `tol` in one iteration, or
///    `max_iter` iterations ran.
///
/// # Prior (the deviation that makes it the default)
/// Plain maximum likelihood over-fits annotators with few labels: a full `K × K` matrix from a
/// handful of labels is mostly zeros, and on sparse data majority vote beats it (Zheng et al.,
/// VLDB 2017; BASELINE.md in the shared datasets). Each annotator's row `θ_a[k]` gets a Dirichlet
/// prior centred on the *pooled* row `θ̄[k]` (all annotators' counts together, re-estimated every
/// iteration) with weight `prior_strength`: `α_{a,k,l} = prior_strength · θ̄[k][l]`. An annotator
/// with few labels is thus shrunk towards the crowd's typical confusion; one with many labels keeps
/// their own. `prior_strength = 0` gives crowd-kit's maximum-likelihood `DawidSkene` (up to its
/// convergence rule).
///
/// # Convergence
/// Converged when the largest change of any posterior probability between two consecutive
/// E-steps is at most `tol`. crowd-kit instead stops at the first iteration whose gain in
/// per-label ELBO is below `1e-5`, which on real data often means after 2–5 iterations.
///
/// # Parameters
/// - `max_iter` (100): iteration cap.
/// - `tol` (1e-6): convergence threshold on posterior change.
/// - `prior_strength` (4.0): pseudo-labels of the pooled prior per confusion row.
/// - `anchor_gold` (false): clamp items with a known answer to it (the `gds` method); those items
///   then calibrate the confusion matrices.
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
    /// Weight of the pooled-confusion prior, in pseudo-labels per confusion row (0: none).
    pub prior_strength: f64,
    /// Clamp gold items to their known answer (gold-anchored Dawid–Skene).
    pub anchor_gold: bool,
    /// What the prior is centred on.
    pub center: PriorCenter,
}

/// The centre of the Dirichlet prior on each annotator's confusion rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PriorCenter {
    /// All annotators' counts pooled into one confusion matrix.
    #[default]
    Pooled,
    /// A one-coin matrix with the pooled accuracy.
    PooledOneCoin,
    /// A one-coin matrix with the annotator's own accuracy.
    OwnOneCoin,
}

impl Default for DawidSkene {
    fn default() -> Self {
        Self {
            max_iter: 100,
            tol: 1e-6,
            prior_strength: 4.0,
            anchor_gold: false,
            center: PriorCenter::Pooled,
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
        Ok(run_em(
            data,
            model,
            self.max_iter,
            self.tol,
            self.anchor_gold,
            progress,
        ))
    }
}

/// One-coin Dawid–Skene: each annotator is right with probability `s_a` and otherwise picks one
/// of the other `K − 1` classes uniformly.
///
/// Dawid & Skene (1979), doi:10.2307/2346806, with the confusion matrix restricted to
/// `θ_a[k][l] = s_a` if `k = l`, else `(1 − s_a)/(K − 1)`.
///
/// # Algorithm
/// EM as in [`DawidSkene`]; the M-step sets `s_a = (Σ_{(i, l) by a} P(z_i = l) + 1) / (n_a + 2)`:
/// the mean posterior of the labels they gave, under a Beta(2, 2) prior (one pseudo-label right,
/// one wrong) that keeps an annotator with few labels away from the degenerate 0 and 1.
///
/// # Deviations
/// crowd-kit's `OneCoinDawidSkene` has no prior and can collapse to a label-switched optimum
/// (0.19 accuracy on `vldb-relevance`); this one starts from vote shares like crowd-kit, but the
/// Beta prior and the posterior-change rule make it converge to the majority-consistent optimum.
///
/// # Parameters
/// - `max_iter` (100), `tol` (1e-6): as in [`DawidSkene`].
#[derive(Debug, Clone)]
pub struct OneCoinDawidSkene {
    /// Iteration cap.
    pub max_iter: u32,
    /// Convergence threshold on the largest posterior change per iteration.
    pub tol: f64,
}

impl Default for OneCoinDawidSkene {
    fn default() -> Self {
        Self {
            max_iter: 100,
            tol: 1e-6,
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
        Ok(run_em(
            data,
            SkillModel::OneCoin,
            self.max_iter,
            self.tol,
            false,
            progress,
        ))
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

#[derive(Debug, Clone, Copy)]
enum SkillModel {
    Confusion {
        prior_strength: f64,
        center: PriorCenter,
    },
    OneCoin,
}

/// Buffers of one EM run, allocated once.
struct Em<'a> {
    data: &'a Annotations,
    k: usize,
    /// Posteriors, `n_items * K`.
    posteriors: Vec<f64>,
    /// Expected counts, `[a][given][true]`.
    counts: Vec<f64>,
    /// `log θ`, `[a][given][true]`, so an E-step reads one contiguous row per label.
    log_theta: Vec<f64>,
    log_prior: Vec<f64>,
    prior: Vec<f64>,
    /// Per-chunk partial sums of the E-step: `(log-likelihood, largest posterior change)`.
    partials: Vec<(f64, f64)>,
    /// One score row per item chunk, the E-step's working space.
    scratch: Vec<f64>,
    /// Per-annotator partial sums of the M-step's log-prior.
    annotator_partials: Vec<f64>,
    /// Pooled confusion of all annotators, `[given][true]`.
    pooled: Vec<f64>,
    /// Log-prior of the parameters (MAP objective), from the last M-step.
    log_param_prior: f64,
}

fn run_em(
    data: &Annotations,
    model: SkillModel,
    max_iter: u32,
    tol: f64,
    anchor_gold: bool,
    progress: &dyn Progress,
) -> Fit {
    let k = data.n_classes();
    let a = data.n_annotators();
    let n_chunks = data.n_items().div_ceil(ITEM_CHUNK);
    let mut em = Em {
        data,
        k,
        posteriors: vec![0.0; data.n_items() * k],
        counts: vec![0.0; a * k * k],
        log_theta: vec![0.0; a * k * k],
        log_prior: vec![0.0; k],
        prior: vec![0.0; k],
        partials: vec![(0.0, 0.0); n_chunks],
        scratch: vec![0.0; n_chunks * k],
        annotator_partials: vec![0.0; a],
        pooled: vec![0.0; k * k],
        log_param_prior: 0.0,
    };
    vote_shares(data, None, &mut em.posteriors);
    if anchor_gold {
        clamp_gold(data, &mut em.posteriors);
    }
    let mut trace = Vec::new();
    let mut converged = false;
    let mut iterations = 0;
    let mut log_likelihood = f64::NAN;
    while iterations < max_iter {
        em.m_step(model);
        let (ll, change) = em.e_step(anchor_gold);
        iterations += 1;
        log_likelihood = ll + em.log_param_prior;
        trace.push(log_likelihood);
        progress.iteration(iterations, max_iter);
        if change <= tol {
            converged = true;
            break;
        }
    }
    // The reported parameters are the ones the final posteriors were computed with.
    let skills = em.skills();
    let (labels, ties) = decide(&em.posteriors, k);
    Fit {
        labels,
        n_classes: k,
        posteriors: em.posteriors,
        class_prior: em.prior,
        skills,
        iterations,
        converged,
        log_likelihood: Some(log_likelihood),
        objective_trace: trace,
        ties,
    }
}

impl Em<'_> {
    /// Expected counts `counts[a][given][true] = Σ P(z_i = true)` over `a`'s labels `given`.
    fn accumulate_counts(&mut self) {
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

    fn m_step(&mut self, model: SkillModel) {
        let k = self.k;
        self.accumulate_counts();
        column_means(&self.posteriors, k, &mut self.prior);
        // Class prior: MAP under a flat Dirichlet(2) (one pseudo-item per class), so a class no
        // item currently favours keeps a non-zero prior.
        let n_items = self.data.n_items() as f64;
        for (lp, p) in self.log_prior.iter_mut().zip(self.prior.iter_mut()) {
            *p = (*p * n_items + 1.0) / (n_items + k as f64);
            *lp = p.ln();
        }
        self.log_param_prior = 0.0;
        match model {
            SkillModel::Confusion {
                prior_strength,
                center,
            } => self.m_step_confusion(prior_strength, center),
            SkillModel::OneCoin => self.m_step_one_coin(),
        }
    }

    fn m_step_confusion(&mut self, prior_strength: f64, center: PriorCenter) {
        let k = self.k;
        if center == PriorCenter::OwnOneCoin {
            return self.m_step_own_one_coin(prior_strength);
        }
        // Pooled confusion `pooled[given][true]`, normalised over `given` for each `true`.
        let pooled = &mut self.pooled;
        pooled.fill(0.0);
        for block in self.counts.chunks_exact(k * k) {
            for (p, &c) in pooled.iter_mut().zip(block) {
                *p += c;
            }
        }
        normalize_columns(pooled, k);
        if center == PriorCenter::PooledOneCoin {
            let acc: f64 = (0..k).map(|c| pooled[c * k + c]).sum::<f64>() / k as f64;
            for g in 0..k {
                for t in 0..k {
                    pooled[g * k + t] = if g == t {
                        acc
                    } else {
                        (1.0 - acc) / (k.max(2) - 1) as f64
                    };
                }
            }
        }
        let pooled = &self.pooled;
        self.counts
            .par_chunks(k * k)
            .zip(self.log_theta.par_chunks_mut(k * k))
            .zip(self.annotator_partials.par_iter_mut())
            .for_each(|((counts, log_theta), partial)| {
                for (lt, (&c, &p)) in log_theta.iter_mut().zip(counts.iter().zip(pooled)) {
                    *lt = c + prior_strength * p;
                }
                normalize_columns(log_theta, k);
                let mut lp = 0.0;
                for (lt, &p) in log_theta.iter_mut().zip(pooled) {
                    *lt = lt.max(EPS).ln();
                    lp += prior_strength * p * *lt;
                }
                *partial = lp;
            });
        self.log_param_prior = self.annotator_partials.iter().sum();
    }

    fn m_step_own_one_coin(&mut self, prior_strength: f64) {
        let k = self.k;
        let off_classes = (k.max(2) - 1) as f64;
        self.counts
            .par_chunks(k * k)
            .zip(self.log_theta.par_chunks_mut(k * k))
            .zip(self.annotator_partials.par_iter_mut())
            .for_each(|((counts, log_theta), partial)| {
                let total: f64 = counts.iter().sum();
                let right: f64 = (0..k).map(|c| counts[c * k + c]).sum();
                let skill = ((right + 1.0) / (total + 2.0)).clamp(EPS, 1.0 - EPS);
                for g in 0..k {
                    for t in 0..k {
                        let center = if g == t {
                            skill
                        } else {
                            (1.0 - skill) / off_classes
                        };
                        log_theta[g * k + t] = counts[g * k + t] + prior_strength * center;
                    }
                }
                normalize_columns(log_theta, k);
                let mut lp = 0.0;
                for g in 0..k {
                    for t in 0..k {
                        let center = if g == t {
                            skill
                        } else {
                            (1.0 - skill) / off_classes
                        };
                        let lt = &mut log_theta[g * k + t];
                        *lt = lt.max(EPS).ln();
                        lp += prior_strength * center * *lt;
                    }
                }
                *partial = lp;
            });
        self.log_param_prior = self.annotator_partials.iter().sum();
    }

    fn m_step_one_coin(&mut self) {
        let k = self.k;
        let off_classes = (k.max(2) - 1) as f64;
        let mut lp = 0.0;
        for (counts, log_theta) in self
            .counts
            .chunks_exact(k * k)
            .zip(self.log_theta.chunks_exact_mut(k * k))
        {
            let total: f64 = counts.iter().sum();
            let right: f64 = (0..k).map(|c| counts[c * k + c]).sum();
            let skill = ((right + 1.0) / (total + 2.0)).clamp(EPS, 1.0 - EPS);
            let (log_right, log_wrong) = (skill.ln(), ((1.0 - skill) / off_classes).ln());
            for given in 0..k {
                for truth in 0..k {
                    log_theta[given * k + truth] =
                        if given == truth { log_right } else { log_wrong };
                }
            }
            lp += skill.ln() + (1.0 - skill).ln();
        }
        self.log_param_prior = lp;
    }

    /// Recomputes the posteriors; returns `(log-likelihood, largest posterior change)`.
    fn e_step(&mut self, anchor_gold: bool) -> (f64, f64) {
        let k = self.k;
        let data = self.data;
        let offsets = data.item_offsets();
        let annotators = data.item_annotators();
        let classes = data.item_classes();
        let log_theta = &self.log_theta;
        let log_prior = &self.log_prior;
        self.posteriors
            .par_chunks_mut(ITEM_CHUNK * k)
            .zip(self.partials.par_iter_mut())
            .zip(self.scratch.par_chunks_mut(k))
            .enumerate()
            .for_each(|(chunk, ((rows, partial), score))| {
                let mut ll = 0.0;
                let mut change: f64 = 0.0;
                for (local, row) in rows.chunks_exact_mut(k).enumerate() {
                    let item = chunk * ITEM_CHUNK + local;
                    score.copy_from_slice(log_prior);
                    for obs in offsets[item]..offsets[item + 1] {
                        let base = (annotators[obs] as usize * k + classes[obs] as usize) * k;
                        for (s, &lt) in score.iter_mut().zip(&log_theta[base..base + k]) {
                            *s += lt;
                        }
                    }
                    ll += softmax_in_place(score);
                    if anchor_gold && let Some(class) = data.gold(item as u32) {
                        score.fill(0.0);
                        score[class as usize] = 1.0;
                    }
                    for (old, &new) in row.iter_mut().zip(score.iter()) {
                        change = change.max((*old - new).abs());
                        *old = new;
                    }
                }
                *partial = (ll, change);
            });
        self.partials
            .iter()
            .fold((0.0, 0.0), |(ll, ch), &(l, c)| (ll + l, f64::max(ch, c)))
    }

    /// Confusion matrices as `[a][true][given]` probabilities.
    fn skills(&self) -> Skills {
        let k = self.k;
        let mut values = vec![0.0; self.log_theta.len()];
        for (out, lt) in values
            .chunks_exact_mut(k * k)
            .zip(self.log_theta.chunks_exact(k * k))
        {
            for given in 0..k {
                for truth in 0..k {
                    out[truth * k + given] = lt[given * k + truth].exp();
                }
            }
        }
        Skills::Confusion {
            n_classes: k,
            values,
        }
    }
}

/// Normalises a `[given][true]` block so each `true` column sums to 1 (uniform if empty).
fn normalize_columns(block: &mut [f64], k: usize) {
    for truth in 0..k {
        let sum: f64 = (0..k).map(|given| block[given * k + truth]).sum();
        for given in 0..k {
            let v = &mut block[given * k + truth];
            *v = if sum > 0.0 { *v / sum } else { 1.0 / k as f64 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
