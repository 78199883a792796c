//! Majority vote and weighted majority vote.

use super::fit::{Aggregator, Fit, FitError, Progress, Skills};
use super::kernels::{decide, label_frequencies, vote_shares};
use crate::data::Annotations;

/// Majority vote: each item gets the class most of its annotators chose.
///
/// # Model
/// The posterior of item `i` is its vote shares, `P(i = k) = n_ik / n_i`. Skill of annotator `a`
/// is their agreement with the majority label.
///
/// # Ties
/// Deterministic and independent of input order: among classes with the most votes, the one
/// first in natural class order wins (numeric order when every class name is a number). Tied
/// items are listed in [`Fit::ties`]. crowd-kit picks the class that sorts first as a *string*,
/// so there `"10"` beats `"2"`.
///
/// # Example
/// ```
/// use concord_consensus::{Annotations, truth::{Aggregator, MajorityVote}};
/// let data = Annotations::from_indices(2, [(0, 0, 1), (0, 1, 1), (0, 2, 0)]).unwrap();
/// let fit = MajorityVote.fit(&data).unwrap();
/// assert_eq!(fit.labels, [1]);
/// assert!((fit.confidence(0) - 2.0 / 3.0).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct MajorityVote;

impl Aggregator for MajorityVote {
    fn name(&self) -> &'static str {
        "mv"
    }

    fn fit_with_progress(&self, data: &Annotations, _: &dyn Progress) -> Result<Fit, FitError> {
        Ok(weighted_vote(data, None))
    }
}

/// Weighted majority vote: each annotator's label counts with a given weight.
///
/// # Model
/// `P(i = k) ∝ Σ_{a labelled i with k} w_a`. Typical weights are gold accuracies, or the log-odds
/// `log(K−1) + log(acc/(1−acc))`, which makes the vote the Bayes decision for one-coin annotators.
/// Skill reported is the weight.
///
/// # Parameters
/// - `weights`: one non-negative finite weight per annotator, by annotator index; empty means
///   "derive them from gold" with [`WeightedMajorityVote::gold_weights`].
///
/// # Example
/// ```
/// use concord_consensus::{Annotations, truth::{Aggregator, WeightedMajorityVote}};
/// let data = Annotations::from_indices(2, [(0, 0, 1), (0, 1, 1), (0, 2, 0)]).unwrap();
/// let fit = WeightedMajorityVote { weights: vec![1.0, 1.0, 3.0] }.fit(&data).unwrap();
/// assert_eq!(fit.labels, [0]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct WeightedMajorityVote {
    /// Weight of each annotator, by annotator index.
    pub weights: Vec<f64>,
}

impl Aggregator for WeightedMajorityVote {
    fn name(&self) -> &'static str {
        "wmv"
    }

    fn fit_with_progress(&self, data: &Annotations, _: &dyn Progress) -> Result<Fit, FitError> {
        if self.weights.is_empty() {
            let weights = Self::gold_weights(data)?;
            return WeightedMajorityVote { weights }.fit(data);
        }
        if self.weights.len() != data.n_annotators() {
            return Err(FitError::InvalidParameter {
                method: "wmv",
                name: "weights",
                reason: format!(
                    "needs one weight per annotator ({}), got {}",
                    data.n_annotators(),
                    self.weights.len()
                ),
            });
        }
        if let Some(w) = self.weights.iter().find(|w| !w.is_finite() || **w < 0.0) {
            return Err(FitError::InvalidParameter {
                method: "wmv",
                name: "weights",
                reason: format!("must be finite and non-negative, got {w}"),
            });
        }
        let mut fit = weighted_vote(data, Some(&self.weights));
        fit.skills = Skills::Scalar {
            name: "weight",
            values: self.weights.clone(),
        };
        Ok(fit)
    }
}

impl WeightedMajorityVote {
    /// Weights from accuracy on gold items: the log-odds `max(0, log((K−1)·acc/(1−acc)))` of each
    /// annotator's gold accuracy, smoothed as `acc = (right + 2·p̄) / (n + 2)` where `p̄` is the
    /// pooled accuracy of all annotators on gold. The log-odds weight makes the vote the Bayes
    /// decision when each annotator is right with probability `acc` and otherwise errs uniformly
    /// (Nitzan & Paroush 1982, doi:10.2307/2526382); the smoothing gives an annotator with no
    /// gold answers the crowd's accuracy instead of zero.
    ///
    /// # Errors
    /// [`FitError::NoGold`] when no labelled item has a known answer.
    pub fn gold_weights(data: &Annotations) -> Result<Vec<f64>, FitError> {
        let mut right = vec![0.0; data.n_annotators()];
        let mut seen = vec![0.0; data.n_annotators()];
        for item in 0..data.n_items() as u32 {
            if let Some(gold) = data.gold(item) {
                for (a, c) in data.item_labels(item) {
                    seen[a as usize] += 1.0;
                    right[a as usize] += f64::from(u8::from(c == gold));
                }
            }
        }
        let n: f64 = seen.iter().sum();
        if n == 0.0 {
            return Err(FitError::NoGold { method: "wmv" });
        }
        let pooled = right.iter().sum::<f64>() / n;
        let others = (data.n_classes().max(2) - 1) as f64;
        Ok(right
            .iter()
            .zip(&seen)
            .map(|(&r, &n)| {
                let acc = ((r + 2.0 * pooled) / (n + 2.0)).clamp(1e-6, 1.0 - 1e-6);
                (others * acc / (1.0 - acc)).ln().max(0.0)
            })
            .collect())
    }
}

/// Vote shares, labels by the tie rule, and each annotator's agreement with the labels.
pub(crate) fn weighted_vote(data: &Annotations, weights: Option<&[f64]>) -> Fit {
    let k = data.n_classes();
    let mut posteriors = vec![0.0; data.n_items() * k];
    vote_shares(data, weights, &mut posteriors);
    let (labels, ties) = decide(&posteriors, k);
    let agreement = agreement_with(data, &labels);
    Fit {
        labels,
        n_classes: k,
        posteriors,
        class_prior: label_frequencies(data),
        skills: Skills::Scalar {
            name: "agreement",
            values: agreement,
        },
        iterations: 0,
        converged: true,
        log_likelihood: None,
        objective_trace: Vec::new(),
        ties,
    }
}

/// Fraction of each annotator's labels equal to `labels` (0 for an annotator with none).
pub(crate) fn agreement_with(data: &Annotations, labels: &[u32]) -> Vec<f64> {
    (0..data.n_annotators() as u32)
        .map(|a| {
            let n = data.annotator_labels(a).len();
            let hits = data
                .annotator_labels(a)
                .filter(|&(i, c)| labels[i as usize] == c)
                .count();
            if n == 0 { 0.0 } else { hits as f64 / n as f64 }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_go_to_the_first_class() {
        // Item 0 is a 1–1 tie: the first class in natural order wins.
        let data =
            Annotations::from_indices(2, [(0, 0, 0), (0, 1, 1), (1, 0, 1), (1, 1, 1)]).unwrap();
        let fit = MajorityVote.fit(&data).unwrap();
        assert_eq!(fit.labels, [0, 1]);
        assert_eq!(fit.ties, [0]);
        assert_eq!(
            fit.skills,
            Skills::Scalar {
                name: "agreement",
                values: vec![1.0, 0.5]
            }
        );
    }

    #[test]
    fn weights_must_match_annotators() {
        let data = Annotations::from_indices(2, [(0, 0, 0), (0, 1, 1)]).unwrap();
        let err = WeightedMajorityVote { weights: vec![1.0] }
            .fit(&data)
            .unwrap_err();
        assert!(matches!(
            err,
            FitError::InvalidParameter {
                name: "weights",
                ..
            }
        ));
    }
}
