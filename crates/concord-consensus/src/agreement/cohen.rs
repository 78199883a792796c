//! Cohen's kappa for two raters, unweighted (1960) or weighted (1968), as scikit-learn's
//! `cohen_kappa_score` computes it.

use super::error::{AgreementError, Undefined, ratio};
use super::table::ItemWeights;
use super::weights::Weights;

/// The disagreement weights of Cohen's weighted kappa, on the **index** of each category
/// (as scikit-learn builds them), not on its value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CohenWeights {
    /// `v_ij = [i ≠ j]`: Cohen's (1960) kappa.
    Unweighted,
    /// `v_ij = |i − j|`.
    Linear,
    /// `v_ij = (i − j)²`.
    Quadratic,
    /// A custom `q × q` disagreement matrix (row-major) with a zero diagonal.
    Custom(Vec<f64>),
}

impl CohenWeights {
    /// The `q × q` disagreement matrix.
    ///
    /// # Errors
    /// [`AgreementError::LengthMismatch`] for a custom matrix that is not `q × q`;
    /// [`AgreementError::InvalidParameter`] for one with a non-zero diagonal or a negative or
    /// non-finite entry.
    pub fn disagreement(&self, q: usize) -> Result<Vec<f64>, AgreementError> {
        let cell = |f: &dyn Fn(f64) -> f64| -> Vec<f64> {
            (0..q * q)
                .map(|x| f((x / q) as f64 - (x % q) as f64))
                .collect()
        };
        match self {
            CohenWeights::Unweighted => Ok(cell(&|d| f64::from(u8::from(d != 0.0)))),
            CohenWeights::Linear => Ok(cell(&|d| d.abs())),
            CohenWeights::Quadratic => Ok(cell(&|d| d * d)),
            CohenWeights::Custom(v) => {
                if v.len() != q * q {
                    return Err(AgreementError::LengthMismatch {
                        what: "weight matrix",
                        expected: q * q,
                        found: v.len(),
                    });
                }
                if v.iter().any(|x| !x.is_finite() || *x < 0.0)
                    || (0..q).any(|k| v[k * q + k] != 0.0)
                {
                    return Err(AgreementError::InvalidParameter {
                        name: "weights",
                        reason: "a disagreement matrix needs finite, non-negative entries and a zero diagonal".into(),
                    });
                }
                Ok(v.clone())
            }
        }
    }

    /// The equivalent agreement weights `w = 1 − v / max v`, under which Conger's kappa of the
    /// two raters equals this kappa (used for its standard error).
    ///
    /// # Errors
    /// As [`disagreement`](Self::disagreement).
    pub fn agreement(&self, q: usize) -> Result<Weights, AgreementError> {
        Weights::from_distances(&self.disagreement(q)?, q)
    }
}

/// Cohen's kappa of two raters' labels `y1`, `y2` (category indices below `n_categories`),
/// optionally with per-item `sample_weight`, as `sklearn.metrics.cohen_kappa_score`.
///
/// # Formula
/// With the confusion matrix `O` (`O_ij` = weight of items rated `i` by the first rater and
/// `j` by the second), its margins and `E_ij = O_i· O_·j / N`:
/// `κ = 1 − Σ_ij v_ij O_ij / Σ_ij v_ij E_ij`, `v` from [`CohenWeights`]. Unweighted, this is
/// `(p_o − p_e)/(1 − p_e)`.
///
/// Cohen, J. (1960). A coefficient of agreement for nominal scales. Educational and
/// Psychological Measurement 20(1), 37–46. doi:10.1177/001316446002000104.
/// Cohen, J. (1968). Weighted kappa: nominal scale agreement with provision for scaled
/// disagreement or partial credit. Psychological Bulletin 70(4), 213–220.
/// doi:10.1037/h0026256
///
/// # Example
/// ```
/// use concord_consensus::agreement::{cohen_kappa, CohenWeights};
/// let y1 = [0, 0, 1, 1, 0, 0, 1, 1];
/// let y2 = [0, 1, 0, 1, 0, 1, 0, 1];
/// let kappa = cohen_kappa(&y1, &y2, 2, &CohenWeights::Unweighted, None).unwrap();
/// assert_eq!(kappa, 0.0);
/// ```
///
/// # Errors
/// [`AgreementError::LengthMismatch`] when the inputs differ in length;
/// [`AgreementError::CategoryOutOfRange`] for a label not below `n_categories`;
/// [`Undefined::NoCommonItems`] for empty input; [`Undefined::NoVariation`] when the
/// expected disagreement is zero (scikit-learn returns NaN, e.g. both raters always give the
/// same single category).
///
/// # Deviations
/// None.
pub fn cohen_kappa(
    y1: &[u32],
    y2: &[u32],
    n_categories: usize,
    weights: &CohenWeights,
    sample_weight: Option<&[f64]>,
) -> Result<f64, AgreementError> {
    if let Some(w) = sample_weight
        && w.len() != y1.len()
    {
        return Err(AgreementError::LengthMismatch {
            what: "sample_weight",
            expected: y1.len(),
            found: w.len(),
        });
    }
    let item_weights = sample_weight.map_or(ItemWeights::Ones, ItemWeights::Floats);
    let v = weights.disagreement(n_categories)?;
    cohen_weighted(y1, y2, n_categories, &v, item_weights)
}

pub(crate) fn cohen_weighted(
    y1: &[u32],
    y2: &[u32],
    q: usize,
    disagreement: &[f64],
    item_weights: ItemWeights<'_>,
) -> Result<f64, AgreementError> {
    if y1.len() != y2.len() {
        return Err(AgreementError::LengthMismatch {
            what: "second rater's labels",
            expected: y1.len(),
            found: y2.len(),
        });
    }
    if y1.is_empty() {
        return Err(Undefined::NoCommonItems.into());
    }
    let mut confusion = vec![0.0; q * q];
    for (item, (&a, &b)) in y1.iter().zip(y2).enumerate() {
        if a as usize >= q || b as usize >= q {
            return Err(AgreementError::CategoryOutOfRange {
                category: a.max(b),
                n_categories: q,
            });
        }
        confusion[a as usize * q + b as usize] += item_weights.get(item);
    }
    kappa_from_confusion(&confusion, q, disagreement)
}

/// `1 − Σ v O / Σ v E` of a `q × q` confusion matrix.
pub(crate) fn kappa_from_confusion(
    confusion: &[f64],
    q: usize,
    disagreement: &[f64],
) -> Result<f64, AgreementError> {
    let rows: Vec<f64> = (0..q)
        .map(|i| confusion[i * q..(i + 1) * q].iter().sum())
        .collect();
    let cols: Vec<f64> = (0..q)
        .map(|j| (0..q).map(|i| confusion[i * q + j]).sum())
        .collect();
    let total: f64 = rows.iter().sum();
    if total == 0.0 {
        return Err(Undefined::NoCommonItems.into());
    }
    let mut observed = 0.0;
    let mut expected = 0.0;
    for i in 0..q {
        for j in 0..q {
            let v = disagreement[i * q + j];
            observed += v * confusion[i * q + j];
            // scikit-learn: expected = outer(sum0, sum1) / N, i.e. E_ij = cols_i · rows_j / N.
            expected += v * cols[i] * rows[j] / total;
        }
    }
    Ok(1.0 - ratio(observed, expected)?)
}
