//! Percent agreement: the share of agreeing pairs of labels.

use super::error::AgreementError;
use super::gwet::{Chance, Coefficient, chance_corrected};
use super::table::{CountTable, ItemWeights};
use super::weights::Weights;

/// Pairwise percent agreement over the items with at least two labels, optionally weighted,
/// as irrCAC's `pa` (and, for two raters, scikit-learn's `accuracy_score(y1, y2)`).
///
/// # Formula
/// `p_a = (1/n₂) Σ_{i: r_i ≥ 2} Σ_k n_ik (n*_ik − 1) / (r_i (r_i − 1))`,
/// `n*_ik = Σ_l w_kl n_il` (identity weights: `Σ_k n_ik (n_ik − 1) / (r_i(r_i − 1))`, the
/// share of agreeing ordered pairs of labels). The standard error is irrCAC's linearisation
/// with no chance term (as for Brennan–Prediger): `v = 1/(n(n−1)) Σ_i ((n/n₂) p_a|i − p_a)²`.
///
/// # Example
/// ```
/// use concord_consensus::agreement::{percent_agreement, CountTable, Weights};
/// // Two raters agree on 2 of 3 items.
/// let table = CountTable::from_dense(&[2, 0, 1, 1, 0, 2], 2).unwrap();
/// let pa = percent_agreement(&table, &Weights::identity(2)).unwrap();
/// assert!((pa.value - 2.0 / 3.0).abs() < 1e-12);
/// ```
///
/// # Errors
/// [`Undefined::NoPairableItem`](super::Undefined::NoPairableItem) when no item has two labels.
///
/// # Deviations
/// irrCAC reports no interval for `p_a` alone; this one uses its Brennan–Prediger variance
/// with `p_e = 0`.
pub fn percent_agreement(
    table: &CountTable,
    weights: &Weights,
) -> Result<Coefficient, AgreementError> {
    chance_corrected(table, weights, Chance::None, ItemWeights::Ones, true)
}
