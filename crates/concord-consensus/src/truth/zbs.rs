//! Zero-Based Skill: annotator weights learned by moving them towards their agreement with the
//! weighted vote.

use super::dawid_skene::check_common;
use super::fit::{Aggregator, Fit, FitError, Progress, Skills};
use super::kernels::TIE_EPS;
use super::majority::weighted_vote;
use crate::data::Annotations;
use rayon::prelude::*;

/// Zero-Based Skill: weighted majority vote whose weights are fitted by a decaying-step update
/// towards each annotator's agreement with the current weighted vote.
///
/// As defined by crowd-kit (`crowdkit.aggregation.ZeroBasedSkill`; Ustalov et al., JOSS 2024,
/// doi:10.21105/joss.06227).
///
/// # Algorithm
/// 1. `s_a = 1/K + eps` for every annotator (`K` = classes that occur in the labels).
/// 2. For `t = 1..=max_iter`: if `t` is a multiple of `lr_steps_to_reduce`, multiply the step
///    `η` by `lr_reduce_factor`; compute the weighted vote with `s`; set
///    `s_a += η · (agreement_a − s_a)`.
/// 3. The output is the weighted vote with the final `s`.
///
/// It always runs `max_iter` iterations, as crowd-kit does (`converged` is reported true when the
/// last update moved no skill by more than `1e-12`).
///
/// # Parameters
/// `max_iter` (100), `lr_init` (1.0), `lr_steps_to_reduce` (20), `lr_reduce_factor` (0.5),
/// `eps` (1e-5): crowd-kit's names and defaults.
///
/// # Example
/// ```
/// use concord_consensus::{Annotations, truth::{Aggregator, ZeroBasedSkill}};
/// let data = Annotations::from_indices(2, [(0, 0, 0), (0, 1, 0), (0, 2, 1), (1, 2, 1)]).unwrap();
/// let fit = ZeroBasedSkill::default().fit(&data).unwrap();
/// assert_eq!(fit.labels, [0, 1]);
/// ```
#[derive(Debug, Clone)]
pub struct ZeroBasedSkill {
    /// Number of updates.
    pub max_iter: u32,
    /// Initial step size.
    pub lr_init: f64,
    /// The step shrinks every this many iterations.
    pub lr_steps_to_reduce: u32,
    /// Factor the step shrinks by.
    pub lr_reduce_factor: f64,
    /// Added to the initial skill `1/K`.
    pub eps: f64,
}

impl Default for ZeroBasedSkill {
    fn default() -> Self {
        Self {
            max_iter: 100,
            lr_init: 1.0,
            lr_steps_to_reduce: 20,
            lr_reduce_factor: 0.5,
            eps: 1e-5,
        }
    }
}

impl Aggregator for ZeroBasedSkill {
    fn name(&self) -> &'static str {
        "zbs"
    }

    fn fit_with_progress(
        &self,
        data: &Annotations,
        progress: &dyn Progress,
    ) -> Result<Fit, FitError> {
        check_common(self.name(), self.max_iter, 0.0)?;
        if self.lr_steps_to_reduce == 0 {
            return Err(FitError::InvalidParameter {
                method: self.name(),
                name: "lr_steps_to_reduce",
                reason: "must be at least 1".into(),
            });
        }
        let used_classes = data.class_counts().iter().filter(|&&c| c > 0).count();
        let mut skills = vec![1.0 / used_classes as f64 + self.eps; data.n_annotators()];
        let mut step = self.lr_init;
        let mut last_move = f64::INFINITY;
        let mut state = VoteState::new(data);
        let mut limit = VoteState::new(data);
        let mut target = vec![0.0; data.n_annotators()];
        let mut previous: Vec<u32> = Vec::with_capacity(data.n_items());
        let mut t = 1;
        while t <= self.max_iter {
            if t % self.lr_steps_to_reduce == 0 {
                step *= self.lr_reduce_factor;
            }
            state.vote(data, &skills);
            for (a, x) in target.iter_mut().enumerate() {
                *x = state.agreement(a);
            }
            last_move = update(&mut skills, &target, step);
            progress.iteration(t, self.max_iter);
            // Shortcut, exact: the vote is a linear function of the weights, so when the labels
            // under the current skills and under their target (the agreements) are the same,
            // they are the same for every convex combination of the two, which is all the
            // remaining updates produce (steps at most 1). The agreements then stay fixed and
            // the remaining iterations are the closed-form updates below.
            let stable = previous == state.labels && step <= 1.0 && self.lr_reduce_factor <= 1.0;
            if stable {
                limit.vote(data, &target);
                if limit.labels == state.labels {
                    for t_rest in t + 1..=self.max_iter {
                        if t_rest % self.lr_steps_to_reduce == 0 {
                            step *= self.lr_reduce_factor;
                        }
                        last_move = update(&mut skills, &target, step);
                        progress.iteration(t_rest, self.max_iter);
                    }
                    break;
                }
            }
            previous.clone_from(&state.labels);
            t += 1;
        }
        let mut fit = weighted_vote(data, Some(&skills));
        fit.iterations = self.max_iter;
        fit.converged = last_move <= 1e-12;
        fit.skills = Skills::Scalar {
            name: "skill",
            values: skills,
        };
        Ok(fit)
    }
}

/// `s += step · (target − s)` for every annotator; returns the largest move.
fn update(skills: &mut [f64], target: &[f64], step: f64) -> f64 {
    let mut largest: f64 = 0.0;
    for (s, &a) in skills.iter_mut().zip(target) {
        let delta = step * (a - *s);
        largest = largest.max(delta.abs());
        *s += delta;
    }
    largest
}

/// Items per parallel chunk of the vote: small, because a vote costs little per item and two
/// threads need several chunks each to share the work evenly.
const VOTE_CHUNK: usize = 512;

/// Buffers of the weighted-vote iterations, allocated once per fit.
struct VoteState {
    /// The weighted-vote label of each item.
    labels: Vec<u32>,
    /// Per item chunk, `n_annotators` counts of labels equal to the vote.
    chunk_agree: Vec<u32>,
    /// Labels given by each annotator.
    given: Vec<u32>,
    /// Labels equal to the vote, per annotator (the sum of `chunk_agree`).
    agree: Vec<u32>,
}

impl VoteState {
    fn new(data: &Annotations) -> Self {
        let a = data.n_annotators();
        let n_chunks = data.n_items().div_ceil(VOTE_CHUNK);
        let given = (0..a as u32)
            .map(|x| data.annotator_labels(x).len() as u32)
            .collect();
        Self {
            labels: vec![0; data.n_items()],
            chunk_agree: vec![0; n_chunks * a],
            given,
            agree: vec![0; a],
        }
    }

    /// The weighted vote of every item and each annotator's agreement with it: the same labels
    /// as [`weighted_vote`] (vote shares, ties to the first class within `1e-12`), without
    /// building a `Fit` per iteration. Counts are integers, so their sum is exact in any order.
    fn vote(&mut self, data: &Annotations, weights: &[f64]) {
        let k = data.n_classes();
        let a = data.n_annotators();
        let offsets = data.item_offsets();
        let annotators = data.item_annotators();
        let classes = data.item_classes();
        self.labels
            .par_chunks_mut(VOTE_CHUNK)
            .zip(self.chunk_agree.par_chunks_mut(a.max(1)))
            .enumerate()
            .for_each(|(chunk, (labels, agree))| {
                agree.fill(0);
                let mut row = [0.0f64; 64];
                let mut heap = Vec::new();
                let shares: &mut [f64] = if k <= row.len() {
                    &mut row[..k]
                } else {
                    heap.resize(k, 0.0);
                    &mut heap
                };
                for (local, label) in labels.iter_mut().enumerate() {
                    let item = chunk * VOTE_CHUNK + local;
                    let range = offsets[item]..offsets[item + 1];
                    shares.fill(0.0);
                    for (&x, &c) in annotators[range.clone()]
                        .iter()
                        .zip(&classes[range.clone()])
                    {
                        shares[c as usize] += weights[x as usize];
                    }
                    // The first class within `TIE_EPS` of the top vote share, without dividing
                    // every share by the total (a tie at zero total weight goes to class 0).
                    let total: f64 = shares.iter().sum();
                    let max = shares.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let eps = TIE_EPS * total;
                    *label = shares.iter().position(|&p| max - p <= eps).unwrap_or(0) as u32;
                    for (&x, &c) in annotators[range.clone()].iter().zip(&classes[range]) {
                        agree[x as usize] += u32::from(c == *label);
                    }
                }
            });
        self.agree.fill(0);
        for chunk in self.chunk_agree.chunks_exact(a.max(1)) {
            for (total, &n) in self.agree.iter_mut().zip(chunk) {
                *total += n;
            }
        }
    }

    /// Fraction of annotator `a`'s labels equal to the vote (0 without labels).
    fn agreement(&self, a: usize) -> f64 {
        if self.given[a] == 0 {
            0.0
        } else {
            f64::from(self.agree[a]) / f64::from(self.given[a])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::truth::majority::agreement_with;

    /// crowd-kit's loop, literally: a full weighted vote and agreement every iteration.
    fn naive(data: &Annotations, params: &ZeroBasedSkill) -> Vec<f64> {
        let used = data.class_counts().iter().filter(|&&c| c > 0).count();
        let mut skills = vec![1.0 / used as f64 + params.eps; data.n_annotators()];
        let mut step = params.lr_init;
        for t in 1..=params.max_iter {
            if t % params.lr_steps_to_reduce == 0 {
                step *= params.lr_reduce_factor;
            }
            let labels = weighted_vote(data, Some(&skills)).labels;
            let target = agreement_with(data, &labels);
            update(&mut skills, &target, step);
        }
        skills
    }

    #[test]
    fn the_shortcut_gives_the_full_loop_bit_for_bit() {
        for seed in 0..6 {
            let data =
                crate::truth::kernels::testing::generated(300, 25, 3 + seed as u32 % 3, 4, seed);
            let params = ZeroBasedSkill::default();
            let fit = params.fit(&data).unwrap();
            let Skills::Scalar { values, .. } = &fit.skills else {
                panic!()
            };
            assert_eq!(values, &naive(&data, &params), "seed {seed}");
        }
    }
}
