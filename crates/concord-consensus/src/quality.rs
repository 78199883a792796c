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

/// One bin of a reliability diagram: the answers whose stated confidence falls in
/// `[low, high)` (the last bin includes 1).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct CalibrationBin {
    /// Lower edge.
    pub low: f64,
    /// Upper edge.
    pub high: f64,
    /// Answers in the bin.
    pub n: u64,
    /// Their mean stated confidence.
    pub confidence: f64,
    /// Their share of right answers.
    pub accuracy: f64,
}

/// How well stated confidences match outcomes.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Calibration {
    /// Answers with a confidence.
    pub n: u64,
    /// Mean stated confidence.
    pub confidence: f64,
    /// Share right.
    pub accuracy: f64,
    /// Brier score: the mean squared difference between confidence and outcome (0 is perfect;
    /// Brier, Monthly Weather Review 1950, doi:10.1175/1520-0493(1950)078<0001:VOFEIT>2.0.CO;2).
    pub brier: f64,
    /// Expected calibration error: the answer-weighted mean gap between confidence and accuracy
    /// over the non-empty bins (Naeini, Cooper and Hauskrecht, AAAI 2015,
    /// doi:10.1609/aaai.v29i1.9602; Guo et al., arXiv:1706.04599).
    pub ece: f64,
    /// The reliability diagram's non-empty bins, in order.
    pub bins: Vec<CalibrationBin>,
}

/// The calibration of `answers` (stated confidence in [0, 1], right or not) over `bins` equal
/// bins of [0, 1]; `None` without answers.
///
/// # Panics
/// If `bins` is 0 or a confidence is outside [0, 1].
pub fn calibration(answers: &[(f64, bool)], bins: usize) -> Option<Calibration> {
    assert!(bins > 0, "at least one bin");
    if answers.is_empty() {
        return None;
    }
    // Per bin: answers, sum of confidences, right answers.
    let mut acc = vec![(0u64, 0.0f64, 0u64); bins];
    let mut brier = 0.0;
    for &(p, right) in answers {
        assert!((0.0..=1.0).contains(&p), "confidence {p} outside [0, 1]");
        let b = ((p * bins as f64) as usize).min(bins - 1);
        acc[b].0 += 1;
        acc[b].1 += p;
        acc[b].2 += u64::from(right);
        brier += (p - f64::from(u8::from(right))).powi(2);
    }
    let n = answers.len() as u64;
    let total = n as f64;
    let mut ece = 0.0;
    let bins: Vec<CalibrationBin> = acc
        .iter()
        .enumerate()
        .filter(|(_, a)| a.0 > 0)
        .map(|(b, &(k, sum, right))| {
            let bin = CalibrationBin {
                low: b as f64 / bins as f64,
                high: (b + 1) as f64 / bins as f64,
                n: k,
                confidence: sum / k as f64,
                accuracy: right as f64 / k as f64,
            };
            ece += k as f64 / total * (bin.accuracy - bin.confidence).abs();
            bin
        })
        .collect();
    Some(Calibration {
        n,
        confidence: answers.iter().map(|a| a.0).sum::<f64>() / total,
        accuracy: answers.iter().filter(|a| a.1).count() as f64 / total,
        brier: brier / total,
        ece,
        bins,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_matches_hand_computed_scores() {
        // Two bins of ten: 0.9 stated, 9 right (calibrated); 0.95 stated, 6 right.
        let mut answers = Vec::new();
        answers.extend((0..10).map(|i| (0.9, i < 9)));
        let c = calibration(&answers, 10).unwrap();
        assert!(c.ece.abs() < 1e-12, "{c:?}");
        assert!((c.brier - (9.0 * 0.01 + 0.81) / 10.0).abs() < 1e-12);
        let over: Vec<(f64, bool)> = (0..10).map(|i| (0.95, i < 6)).collect();
        let c = calibration(&over, 10).unwrap();
        assert!((c.ece - 0.35).abs() < 1e-12, "{c:?}");
        assert_eq!(c.bins.len(), 1);
        assert_eq!((c.bins[0].low, c.bins[0].high), (0.9, 1.0));
        // Confidence 1 goes in the last bin; 0 in the first.
        let edges = calibration(&[(1.0, true), (0.0, false)], 10).unwrap();
        assert_eq!(edges.bins.len(), 2);
        assert_eq!(edges.ece, 0.0);
        assert_eq!(edges.brier, 0.0);
        assert!(calibration(&[], 10).is_none());
    }

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
