//! Wawa: worker agreement with aggregate.

use super::fit::{Aggregator, Fit, FitError, Progress, Skills};
use super::majority::{agreement_with, weighted_vote};
use crate::data::Annotations;

/// Wawa ("worker agreement with aggregate"): a majority vote weighted by each annotator's
/// agreement with the plain majority vote.
///
/// As defined by crowd-kit (`crowdkit.aggregation.Wawa`, Toloka; Ustalov et al., "Learning from
/// Crowds with Crowd-Kit", JOSS 2024, doi:10.21105/joss.06227).
///
/// # Algorithm
/// 1. Majority vote (ties by the rule of [`MajorityVote`](super::MajorityVote)).
/// 2. `w_a` = fraction of `a`'s labels equal to the majority label.
/// 3. Weighted majority vote with `w`; its vote shares are the posterior.
///
/// Skill reported: `w_a`.
///
/// # Example
/// ```
/// use concord_consensus::{Annotations, truth::{Aggregator, Wawa}};
/// let data = Annotations::from_indices(2, [(0, 0, 0), (0, 1, 0), (0, 2, 1), (1, 2, 1)]).unwrap();
/// let fit = Wawa.fit(&data).unwrap();
/// assert_eq!(fit.labels, [0, 1]);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Wawa;

impl Aggregator for Wawa {
    fn name(&self) -> &'static str {
        "wawa"
    }

    fn fit_with_progress(&self, data: &Annotations, _: &dyn Progress) -> Result<Fit, FitError> {
        let majority = weighted_vote(data, None);
        let weights = agreement_with(data, &majority.labels);
        let mut fit = weighted_vote(data, Some(&weights));
        fit.skills = Skills::Scalar {
            name: "agreement",
            values: weights,
        };
        Ok(fit)
    }
}
