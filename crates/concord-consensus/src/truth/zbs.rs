//! Zero-Based Skill: annotator weights learned by moving them towards their agreement with the
//! weighted vote.

use super::dawid_skene::check_common;
use super::fit::{Aggregator, Fit, FitError, Progress, Skills};
use super::majority::{agreement_with, weighted_vote};
use crate::data::Annotations;

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
        for t in 1..=self.max_iter {
            if t % self.lr_steps_to_reduce == 0 {
                step *= self.lr_reduce_factor;
            }
            let vote = weighted_vote(data, Some(&skills));
            let agreement = agreement_with(data, &vote.labels);
            last_move = 0.0;
            for (s, a) in skills.iter_mut().zip(agreement) {
                let delta = step * (a - *s);
                last_move = f64::max(last_move, delta.abs());
                *s += delta;
            }
            progress.iteration(t, self.max_iter);
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
