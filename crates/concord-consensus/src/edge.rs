//! Edge-case scores: how much an item deserves a second look, from its consensus posterior,
//! the disagreement of skilled readers, a model's prediction and the rarity of its class.
//!
//! Four signals, each in `[0, 1]`:
//! - **entropy** of the posterior over classes, divided by `ln K` (uncertainty sampling,
//!   Settles, "Active Learning Literature Survey", 2009, §3.1);
//! - **disagreement** the readers' skills do not explain: the posterior probability, at a
//!   prior of [`AMBIGUOUS_PRIOR`], that the reads came from an item that carries no signal (each reader
//!   answering any class with equal odds) rather than from a clear item read with the readers'
//!   skills (one-coin accuracies, as in Dawid & Skene, doi:10.2307/2346806, reduced to one
//!   number per reader). A likelihood ratio, so it is the most powerful test between the two
//!   (Neyman–Pearson): weak readers scattering says little, because they scatter anyway;
//!   skilled readers scattering says the item is the problem. On simulated projects it finds
//!   planted ambiguous items better than entropy, confidence or pairwise disagreement
//!   (`concord-sim`'s tests);
//! - **model**: the probability mass a non-voting model puts outside the consensus class (1 or
//!   0 when it gives a class without a probability);
//! - **rarity**: `1 − prevalence` of the consensus class among the project's consensus labels,
//!   so items of rare classes, which matter most clinically, rank higher at equal doubt.
//!
//! The score is their weighted mean with [`EdgeWeights`] (renormalised over the signals that
//! exist: an item without a model prediction is scored on the other three).

/// Prior probability that an item carries no signal (is ambiguous): a few in a hundred. At even
/// odds a single dissent among three reads would already read as "probably ambiguous".
pub const AMBIGUOUS_PRIOR: f64 = 0.1;

/// The weight of each signal in [`EdgeScore::score`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EdgeWeights {
    /// Posterior entropy.
    pub entropy: f64,
    /// Disagreement beyond what the readers' skills explain.
    pub disagreement: f64,
    /// Model-versus-consensus conflict.
    pub model: f64,
    /// Rarity of the consensus class.
    pub rarity: f64,
}

impl Default for EdgeWeights {
    /// Disagreement the readers' skills do not explain first (0.45): it is what a protocol
    /// revision or a senior reader can fix; posterior doubt next (0.25), a model's dissent
    /// (0.2), rarity as a tie-breaker (0.1).
    fn default() -> Self {
        Self {
            entropy: 0.25,
            disagreement: 0.45,
            model: 0.2,
            rarity: 0.1,
        }
    }
}

/// One read of the item: the reader's class and skill (expected accuracy, `0..=1`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EdgeRead {
    /// The class the reader gave.
    pub class: usize,
    /// The reader's expected accuracy.
    pub skill: f64,
}

/// A model's prediction for the item.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPrediction {
    /// The predicted class.
    pub class: usize,
    /// The model's probability of that class, when it gives one.
    pub confidence: Option<f64>,
}

/// The signals of one item and their weighted mean.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EdgeScore {
    /// Weighted mean of the signals present, in `[0, 1]`.
    pub score: f64,
    /// Posterior entropy over `ln K`.
    pub entropy: f64,
    /// Probability that the reads carry no signal rather than come from a clear item read
    /// with the readers' skills, in `[0, 1]`.
    pub disagreement: f64,
    /// Model mass outside the consensus class, when a prediction exists.
    pub model: Option<f64>,
    /// `1 − prevalence` of the consensus class.
    pub rarity: f64,
}

/// Scores one item. `posterior` is over the `K` classes, `consensus` its label,
/// `prevalence[c]` the share of items whose consensus is `c`.
///
/// # Panics
/// If `consensus` or a read's class is not below `posterior.len()`.
pub fn edge_score(
    posterior: &[f64],
    consensus: usize,
    reads: &[EdgeRead],
    model: Option<&ModelPrediction>,
    prevalence: &[f64],
    weights: &EdgeWeights,
) -> EdgeScore {
    let k = posterior.len();
    assert!(
        consensus < k,
        "the consensus class is one of the {k} classes"
    );
    let entropy = if k > 1 {
        let h: f64 = posterior
            .iter()
            .filter(|&&p| p > 0.0)
            .map(|&p| -p * p.ln())
            .sum();
        (h / (k as f64).ln()).clamp(0.0, 1.0)
    } else {
        0.0
    };
    // ln P(reads | clear item) = ln Σ_t prior_t Π_a P(read_a | t), one-coin, against
    // ln P(reads | no signal) = n ln(1/K); the prior over t is uniform (the consensus class is
    // not assumed).
    let mut disagreement = 0.0;
    if !reads.is_empty() && k > 1 {
        let mut log_clear: Vec<f64> = vec![-(k as f64).ln(); k];
        for read in reads {
            assert!(read.class < k, "a read's class is one of the {k} classes");
            let p = read.skill.clamp(1e-6, 1.0 - 1e-6);
            let off = ((1.0 - p) / (k as f64 - 1.0)).ln();
            for (t, l) in log_clear.iter_mut().enumerate() {
                *l += if t == read.class { p.ln() } else { off };
            }
        }
        let max = log_clear.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let log_clear = max + log_clear.iter().map(|l| (l - max).exp()).sum::<f64>().ln();
        let log_noise = -(reads.len() as f64) * (k as f64).ln();
        let prior_odds = ((1.0 - AMBIGUOUS_PRIOR) / AMBIGUOUS_PRIOR).ln();
        disagreement = 1.0 / (1.0 + (log_clear - log_noise + prior_odds).exp());
    }
    let model = model.map(|m| match (m.class == consensus, m.confidence) {
        (true, Some(c)) => (1.0 - c).clamp(0.0, 1.0),
        (true, None) => 0.0,
        (false, Some(c)) => c.clamp(0.0, 1.0),
        (false, None) => 1.0,
    });
    let rarity = (1.0 - prevalence.get(consensus).copied().unwrap_or(0.0)).clamp(0.0, 1.0);
    let mut sum =
        weights.entropy * entropy + weights.disagreement * disagreement + weights.rarity * rarity;
    let mut weight = weights.entropy + weights.disagreement + weights.rarity;
    if let Some(m) = model {
        sum += weights.model * m;
        weight += weights.model;
    }
    EdgeScore {
        score: if weight > 0.0 { sum / weight } else { 0.0 },
        entropy,
        disagreement,
        model,
        rarity,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(class: usize, skill: f64) -> EdgeRead {
        EdgeRead { class, skill }
    }

    #[test]
    fn skilled_dissent_outranks_a_weak_slip() {
        let w = EdgeWeights::default();
        let prevalence = [0.5, 0.5];
        let post = [0.9, 0.1];
        let weak_slip = edge_score(
            &post,
            0,
            &[read(0, 0.95), read(0, 0.95), read(1, 0.55)],
            None,
            &prevalence,
            &w,
        );
        let skilled_dissent = edge_score(
            &post,
            0,
            &[read(0, 0.95), read(0, 0.55), read(1, 0.95)],
            None,
            &prevalence,
            &w,
        );
        assert!(
            skilled_dissent.disagreement > 2.0 * weak_slip.disagreement,
            "{skilled_dissent:?} {weak_slip:?}"
        );
        assert!(skilled_dissent.score > weak_slip.score);
    }

    #[test]
    fn signals_are_bounded_and_renormalised() {
        let w = EdgeWeights::default();
        let uniform = edge_score(&[0.25; 4], 0, &[], None, &[0.25; 4], &w);
        assert!((uniform.entropy - 1.0).abs() < 1e-12);
        assert_eq!(uniform.model, None);
        // Without a model the weights of the other three are renormalised.
        let expected = (0.25 * 1.0 + 0.1 * 0.75) / 0.8;
        assert!(
            (uniform.score - expected).abs() < 1e-12,
            "{}",
            uniform.score
        );
        let model = ModelPrediction {
            class: 2,
            confidence: Some(0.8),
        };
        let with_model = edge_score(
            &[1.0, 0.0, 0.0, 0.0],
            0,
            &[],
            Some(&model),
            &[1.0, 0.0, 0.0, 0.0],
            &w,
        );
        assert_eq!(with_model.model, Some(0.8));
        assert_eq!(with_model.entropy, 0.0);
        assert!((with_model.score - 0.2 * 0.8 / 1.0).abs() < 1e-12);
    }
}
