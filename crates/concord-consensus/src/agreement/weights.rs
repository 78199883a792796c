//! Agreement weights: how much credit two different categories earn (1 on the diagonal, 0 for
//! complete disagreement), as irrCAC defines them.

use super::error::AgreementError;

/// A `q × q` matrix of agreement weights `w_kl ∈ [0, 1]`, `w_kk = 1`.
///
/// # Formula
/// With category values `x_1 < … < x_q` (the numbers themselves for numeric labels, the ranks
/// `1..q` otherwise), as in irrCAC's `weights.py`:
/// - identity: `w_kl = [k = l]` (unweighted);
/// - linear: `w_kl = 1 − |x_k − x_l| / (x_max − x_min)`;
/// - quadratic: `w_kl = 1 − (x_k − x_l)² / (x_max − x_min)²`;
/// - ordinal: `w_kl = 1 − C(|k − l| + 1, 2) / C(q, 2)` on ranks.
///
/// Gwet, K. L. (2014). Handbook of Inter-Rater Reliability, 4th ed., chapter 3.
///
/// # Deviations
/// With a single category (`x_max = x_min`) irrCAC divides by zero; here the matrix is `[[1]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    q: usize,
    w: Vec<f64>,
    identity: bool,
}

/// The named weight schemes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WeightScheme {
    /// Unweighted: credit only for the same category.
    Identity,
    /// Credit falls linearly with the distance between values.
    Linear,
    /// Credit falls with the squared distance between values.
    Quadratic,
    /// irrCAC's ordinal weights (on ranks).
    Ordinal,
}

impl WeightScheme {
    /// The scheme's name as irrCAC and the command line spell it.
    pub fn name(self) -> &'static str {
        match self {
            WeightScheme::Identity => "identity",
            WeightScheme::Linear => "linear",
            WeightScheme::Quadratic => "quadratic",
            WeightScheme::Ordinal => "ordinal",
        }
    }
}

impl Weights {
    /// The identity matrix: unweighted agreement.
    pub fn identity(q: usize) -> Self {
        let mut w = vec![0.0; q * q];
        for k in 0..q {
            w[k * q + k] = 1.0;
        }
        Weights {
            q,
            w,
            identity: true,
        }
    }

    /// The named scheme over categories with values `values` (sorted ascending).
    pub fn scheme(scheme: WeightScheme, values: &[f64]) -> Self {
        let q = values.len();
        if scheme == WeightScheme::Identity || q < 2 {
            return Weights::identity(q);
        }
        let (min, max) = (values[0], values[q - 1]);
        let range = max - min;
        let mut w = vec![0.0; q * q];
        let max_pairs = (q * (q - 1) / 2) as f64;
        for k in 0..q {
            for l in 0..q {
                w[k * q + l] = match scheme {
                    WeightScheme::Linear => 1.0 - (values[k] - values[l]).abs() / range,
                    WeightScheme::Quadratic => 1.0 - ((values[k] - values[l]) / range).powi(2),
                    WeightScheme::Ordinal => {
                        let n = k.abs_diff(l) + 1;
                        1.0 - (n * (n - 1) / 2) as f64 / max_pairs
                    }
                    WeightScheme::Identity => unreachable!("handled above"),
                };
            }
        }
        Weights {
            q,
            w,
            identity: false,
        }
    }

    /// Agreement weights from a disagreement (distance) matrix `d` (row-major `q × q`):
    /// `w_kl = 1 − d_kl / max d`. All-zero distances give the identity.
    ///
    /// # Errors
    /// [`AgreementError::LengthMismatch`] when `d` is not `q × q`.
    pub fn from_distances(d: &[f64], q: usize) -> Result<Self, AgreementError> {
        if d.len() != q * q {
            return Err(AgreementError::LengthMismatch {
                what: "distance matrix",
                expected: q * q,
                found: d.len(),
            });
        }
        let max = d.iter().copied().fold(0.0, f64::max);
        if max <= 0.0 {
            return Ok(Weights::identity(q));
        }
        Ok(Weights {
            q,
            w: d.iter().map(|&x| 1.0 - x / max).collect(),
            identity: false,
        })
    }

    /// A custom matrix (row-major `q × q`).
    ///
    /// # Errors
    /// [`AgreementError::LengthMismatch`] when `w` is not `q × q`;
    /// [`AgreementError::InvalidParameter`] for a non-finite weight.
    pub fn custom(w: Vec<f64>, q: usize) -> Result<Self, AgreementError> {
        if w.len() != q * q {
            return Err(AgreementError::LengthMismatch {
                what: "weight matrix",
                expected: q * q,
                found: w.len(),
            });
        }
        if w.iter().any(|x| !x.is_finite()) {
            return Err(AgreementError::InvalidParameter {
                name: "weights",
                reason: "must be finite numbers".into(),
            });
        }
        let identity = (0..q).all(|k| (0..q).all(|l| w[k * q + l] == f64::from(u8::from(k == l))));
        Ok(Weights { q, w, identity })
    }

    /// Number of categories.
    pub fn len(&self) -> usize {
        self.q
    }

    /// Whether there are no categories.
    pub fn is_empty(&self) -> bool {
        self.q == 0
    }

    /// Weight of the pair `(k, l)`.
    #[inline]
    pub fn get(&self, k: usize, l: usize) -> f64 {
        self.w[k * self.q + l]
    }

    /// Whether this is the identity (unweighted) matrix.
    pub fn is_identity(&self) -> bool {
        self.identity
    }

    /// Sum of all weights (irrCAC's `weights_mat_sum`).
    pub fn total(&self) -> f64 {
        self.w.iter().sum()
    }

    /// The matrix as rows.
    pub fn rows(&self) -> impl Iterator<Item = &[f64]> {
        self.w.chunks(self.q.max(1))
    }

    /// `Σ_l w_kl v_l` for every `k` (`W v`).
    pub(crate) fn apply(&self, v: &[f64]) -> Vec<f64> {
        (0..self.q)
            .map(|k| (0..self.q).map(|l| self.get(k, l) * v[l]).sum())
            .collect()
    }

    /// `Σ_l w_lk v_l` for every `k` (`Wᵀ v`).
    pub(crate) fn apply_transposed(&self, v: &[f64]) -> Vec<f64> {
        (0..self.q)
            .map(|k| (0..self.q).map(|l| self.get(l, k) * v[l]).sum())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_match_irrcac() {
        let values = [1.0, 2.0, 3.0, 4.0, 5.0];
        let quadratic = Weights::scheme(WeightScheme::Quadratic, &values);
        assert_eq!(
            quadratic.rows().next().unwrap(),
            [1.0, 0.9375, 0.75, 0.4375, 0.0]
        );
        let linear = Weights::scheme(WeightScheme::Linear, &values);
        assert_eq!(linear.rows().next().unwrap(), [1.0, 0.75, 0.5, 0.25, 0.0]);
        let ordinal = Weights::scheme(WeightScheme::Ordinal, &values);
        assert_eq!(ordinal.get(0, 1), 0.9);
        assert!(Weights::scheme(WeightScheme::Identity, &values).is_identity());
    }
}
