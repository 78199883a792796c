//! Fleiss' kappa: from an items × categories count table exactly as statsmodels computes it
//! (Fleiss 1971, or Randolph's free-marginal variant), and from labels with missing values and
//! weights as irrCAC generalises it.

use super::error::{AgreementError, Undefined, ratio};
use super::gwet::{Chance, Coefficient, chance_corrected};
use super::table::{CountTable, ItemWeights, chunked_sum};
use super::weights::Weights;

/// The chance agreement of [`fleiss_kappa_table`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FleissMethod {
    /// Fleiss (1971): `p_e = Σ_k p_k²` from the category margins.
    Fleiss,
    /// Randolph (2005), free-marginal: `p_e = 1 / q`, `q` the number of columns (unused
    /// columns count).
    Randolph,
}

/// Fleiss' kappa of an items × categories count table (row-major `u32` counts), as
/// `statsmodels.stats.inter_rater.fleiss_kappa(table, method)`.
///
/// # Formula
/// With `n` items each rated by `m` raters and `n_ik` the raters putting item `i` in category
/// `k`: `P_i = (Σ_k n_ik² − m) / (m(m − 1))`, `P̄ = mean_i P_i`, `p_k = Σ_i n_ik / (n m)`;
/// Fleiss: `P̄_e = Σ_k p_k²`; Randolph: `P̄_e = 1/q`; `κ = (P̄ − P̄_e) / (1 − P̄_e)`.
///
/// Fleiss, J. L. (1971). Measuring nominal scale agreement among many raters. Psychological
/// Bulletin 76(5), 378–382. doi:10.1037/h0031619.
/// Randolph, J. J. (2005). Free-marginal multirater kappa (multirater κfree): an alternative
/// to Fleiss' fixed-marginal multirater kappa. Joensuu Learning and Instruction Symposium.
///
/// # Example
/// ```
/// use concord_consensus::agreement::{fleiss_kappa_table, FleissMethod};
/// let table = [2, 0, 0, 1, 1, 0, 0, 2, 0, 0, 1, 1, 0, 0, 2, 1, 0, 1];
/// let kappa = fleiss_kappa_table(&table, 3, FleissMethod::Fleiss).unwrap();
/// assert!((kappa - 0.25).abs() < 1e-12);
/// ```
///
/// # Errors
/// [`AgreementError::UnequalRaters`] when rows do not all sum to the same number (statsmodels
/// asserts this); [`Undefined::NoPairableItem`] with fewer than two raters per item (0/0 in
/// statsmodels); [`Undefined::NoVariation`] when `P̄_e = 1` (statsmodels returns NaN).
///
/// # Deviations
/// None. The sums run in parallel over fixed chunks of rows, so the result is the same for any
/// thread count.
pub fn fleiss_kappa_table(
    table: &[u32],
    n_categories: usize,
    method: FleissMethod,
) -> Result<f64, AgreementError> {
    fleiss_table_weighted(table, n_categories, method, ItemWeights::Ones)
}

pub(crate) fn fleiss_table_weighted(
    table: &[u32],
    n_categories: usize,
    method: FleissMethod,
    item_weights: ItemWeights<'_>,
) -> Result<f64, AgreementError> {
    let q = n_categories;
    if q == 0 || !table.len().is_multiple_of(q) {
        return Err(AgreementError::LengthMismatch {
            what: "count table",
            expected: table.len().div_ceil(q.max(1)) * q.max(1),
            found: table.len(),
        });
    }
    let n_items = table.len() / q;
    if n_items == 0 {
        return Err(Undefined::NoPairableItem.into());
    }
    let m: u64 = table[..q].iter().map(|&x| u64::from(x)).sum();
    // acc = [Σ w, Σ w Σ_k n_ik², rows whose sum differs from row 0, column sums (q)]
    let acc = match item_weights {
        // Unit weights: exact integer sums per chunk (the common, fast case).
        ItemWeights::Ones => chunked_sum(n_items, 3 + q, |range, acc| {
            let mut squares = 0u64;
            let mut unequal = 0u64;
            let mut columns = vec![0u64; q];
            for row in table[range.start * q..range.end * q].chunks_exact(q) {
                let mut sum = 0u64;
                for (column, &x) in columns.iter_mut().zip(row) {
                    let x = u64::from(x);
                    sum += x;
                    squares += x * x;
                    *column += x;
                }
                unequal += u64::from(sum != m);
            }
            acc[0] += range.len() as f64;
            acc[1] += squares as f64;
            acc[2] += unequal as f64;
            for (a, c) in acc[3..].iter_mut().zip(columns) {
                *a += c as f64;
            }
        }),
        _ => chunked_sum(n_items, 3 + q, |range, acc| {
            for item in range {
                let row = &table[item * q..(item + 1) * q];
                let mut sum = 0u64;
                let mut squares = 0u64;
                for &x in row {
                    sum += u64::from(x);
                    squares += u64::from(x) * u64::from(x);
                }
                if sum != m {
                    acc[2] += 1.0;
                }
                let w = item_weights.get(item);
                if w == 0.0 {
                    continue;
                }
                acc[0] += w;
                acc[1] += w * squares as f64;
                for (a, &x) in acc[3..].iter_mut().zip(row) {
                    *a += w * f64::from(x);
                }
            }
        }),
    };
    if acc[2] > 0.0 {
        let (item, found) = (0..n_items)
            .map(|i| {
                (
                    i,
                    table[i * q..(i + 1) * q]
                        .iter()
                        .map(|&x| u64::from(x))
                        .sum::<u64>(),
                )
            })
            .find(|&(_, s)| s != m)
            .expect("a row with a different sum was counted");
        return Err(AgreementError::UnequalRaters {
            item,
            expected: m,
            found,
        });
    }
    if m < 2 {
        return Err(Undefined::NoPairableItem.into());
    }
    let (n, squares) = (acc[0], acc[1]);
    let mf = m as f64;
    let total = n * mf;
    // P̄ = mean_i (Σ_k n_ik² − m) / (m(m − 1)).
    let p_mean = (squares / n - mf) / (mf * (mf - 1.0));
    let pe = match method {
        FleissMethod::Fleiss => acc[3..].iter().map(|&s| (s / total) * (s / total)).sum(),
        FleissMethod::Randolph => 1.0 / q as f64,
    };
    ratio(p_mean - pe, 1.0 - pe)
}

/// Fleiss' kappa generalised to missing labels and weights, with its standard error, as
/// irrCAC's `CAC.fleiss()`.
///
/// # Formula
/// `p_a` as in [`gwet_ac`](super::gwet_ac); `π_k = (1/n) Σ_i n_ik / r_i`;
/// `p_e = Σ_kl w_kl π_k π_l`; `κ = (p_a − p_e)/(1 − p_e)`. On complete data with identity
/// weights this equals [`fleiss_kappa_table`] with [`FleissMethod::Fleiss`].
///
/// Fleiss (1971), doi:10.1037/h0031619; variance: Gwet, K. L. (2014), Handbook of
/// Inter-Rater Reliability, 4th ed., §5.3.
///
/// # Errors
/// As [`gwet_ac`](super::gwet_ac).
///
/// # Deviations
/// None.
pub fn fleiss_kappa(table: &CountTable, weights: &Weights) -> Result<Coefficient, AgreementError> {
    chance_corrected(table, weights, Chance::Fleiss, ItemWeights::Ones, true)
}

/// Randolph's free-marginal kappa from labels (missing labels allowed), with its standard
/// error: Brennan–Prediger with identity weights, `p_e = 1/q`.
///
/// Randolph (2005); irrCAC's `CAC.bp()` for the variance.
///
/// # Errors
/// As [`gwet_ac`](super::gwet_ac).
pub fn randolph_kappa(table: &CountTable) -> Result<Coefficient, AgreementError> {
    let weights = Weights::identity(table.n_categories());
    chance_corrected(
        table,
        &weights,
        Chance::BrennanPrediger,
        ItemWeights::Ones,
        true,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_labels_agree_on_complete_data() {
        let rows = [0, 2, 1, 3, 3, 0, 1, 2, 2, 1, 0, 3, 0, 0, 3, 3, 1, 1, 2, 2];
        let from_table = fleiss_kappa_table(&rows, 4, FleissMethod::Fleiss).unwrap();
        let table = CountTable::from_dense(&rows, 4).unwrap();
        let generalised = fleiss_kappa(&table, &Weights::identity(4)).unwrap();
        assert!((from_table - generalised.value).abs() < 1e-12);
        let randolph = fleiss_kappa_table(&rows, 4, FleissMethod::Randolph).unwrap();
        assert!((randolph - randolph_kappa(&table).unwrap().value).abs() < 1e-12);
    }

    #[test]
    fn unequal_rows_are_refused() {
        let err = fleiss_kappa_table(&[2, 0, 1, 0], 2, FleissMethod::Fleiss).unwrap_err();
        assert_eq!(
            err,
            AgreementError::UnequalRaters {
                item: 1,
                expected: 2,
                found: 1
            }
        );
    }
}
