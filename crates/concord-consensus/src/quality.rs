//! Annotator quality: accuracy as a Beta posterior with a credible interval, and the test for
//! an annotator whose gold accuracy their consensus accuracy does not back (a leaked gold set).

use crate::agreement::beta_quantile;

/// A proportion's Beta posterior under a uniform prior, Beta(1 + right, 1 + wrong): its mean and
/// equal-tailed credible interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Proportion {
    /// Successes.
    pub right: u64,
    /// Trials.
    pub total: u64,
    /// Posterior mean, `(right + 1) / (total + 2)`.
    pub mean: f64,
    /// Lower bound of the credible interval.
    pub low: f64,
    /// Upper bound of the credible interval.
    pub high: f64,
}

/// The Beta posterior of `right` successes in `total` trials (uniform prior) with a `level`
/// (e.g. 0.95) equal-tailed credible interval (Gelman et al., *Bayesian Data Analysis*, 3rd ed.,
/// §2.4).
///
/// # Panics
/// If `right > total` or `level` is not in (0, 1).
pub fn beta_posterior(right: u64, total: u64, level: f64) -> Proportion {
    assert!(right <= total, "{right} successes in {total} trials");
    assert!(level > 0.0 && level < 1.0, "level {level} not in (0, 1)");
    let a = right as f64 + 1.0;
    let b = (total - right) as f64 + 1.0;
    let tail = 0.5 * (1.0 - level);
    Proportion {
        right,
        total,
        mean: a / (a + b),
        low: beta_quantile(tail, a, b),
        high: beta_quantile(1.0 - tail, a, b),
    }
}

/// Whether an annotator's accuracy on gold items is implausibly far above their agreement with
/// the consensus on regular items: the 95 % intervals do not overlap and the gold mean exceeds
/// the consensus mean by more than `margin`. An annotator who memorised the gold answers (a
/// leak) answers gold right and the rest at their real skill; an annotator who is simply good
/// scores alike on both. At least 10 gold answers are needed before the test says anything.
pub fn gold_leak_suspected(gold: &Proportion, consensus: &Proportion, margin: f64) -> bool {
    gold.total >= 10 && gold.low > consensus.high && gold.mean - consensus.mean > margin
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_match_closed_forms() {
        // Beta(1, 1): the interval is the quantiles of the uniform.
        let p = beta_posterior(0, 0, 0.95);
        assert!((p.low - 0.025).abs() < 1e-12 && (p.high - 0.975).abs() < 1e-12);
        // Beta(a, 1): CDF x^a, quantile q^(1/a).
        let p = beta_posterior(9, 9, 0.95);
        assert!((p.low - 0.025f64.powf(0.1)).abs() < 1e-12, "{p:?}");
        assert!((p.high - 0.975f64.powf(0.1)).abs() < 1e-12);
        assert!((p.mean - 10.0 / 11.0).abs() < 1e-15);
        // Beta(1, b): quantile 1 − (1 − q)^(1/b).
        let p = beta_posterior(0, 20, 0.9);
        assert!(
            (p.high - (1.0 - 0.05f64.powf(1.0 / 21.0))).abs() < 1e-12,
            "{p:?}"
        );
        // Symmetric: the interval is symmetric about 1/2.
        let p = beta_posterior(15, 30, 0.95);
        assert!((p.low + p.high - 1.0).abs() < 1e-12);
    }

    #[test]
    fn a_memorised_gold_set_is_flagged_a_good_annotator_is_not() {
        let leak = gold_leak_suspected(
            &beta_posterior(40, 40, 0.95),
            &beta_posterior(120, 200, 0.95),
            0.1,
        );
        let good = gold_leak_suspected(
            &beta_posterior(38, 40, 0.95),
            &beta_posterior(185, 200, 0.95),
            0.1,
        );
        let few = gold_leak_suspected(
            &beta_posterior(5, 5, 0.95),
            &beta_posterior(50, 100, 0.95),
            0.1,
        );
        assert!(leak && !good && !few);
    }
}
