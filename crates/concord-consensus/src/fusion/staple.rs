//! Binary STAPLE: a probabilistic estimate of the true mask and of each reader's sensitivity
//! and specificity.

use super::FusionError;
use super::mask::{LabelVolume, ProbabilityMap, check_same_geometry};
use super::patterns::Patterns;

/// Binary STAPLE (Simultaneous Truth And Performance Level Estimation), the way ITK and
/// SimpleITK's `STAPLEImageFilter` compute it.
///
/// Warfield, S. K., Zou, K. H. & Wells, W. M. (2004). Simultaneous truth and performance level
/// estimation (STAPLE): an algorithm for the validation of image segmentation. IEEE
/// Transactions on Medical Imaging 23(7), 903–921. doi:10.1109/TMI.2004.828354
///
/// # Model
/// Each voxel `v` is truly foreground with prior probability `g`. Reader `r` marks a true
/// foreground voxel with probability `p_r` (sensitivity) and a true background voxel as
/// background with probability `q_r` (specificity), independently of the other readers.
///
/// # Formula
/// With `D_rv = 1` when reader `r` marked voxel `v` (`|value − foreground| < 1e-10`):
/// - start: `W(v)` = fraction of readers marking `v`; `g = mean_v W(v) · confidence_weight`,
///   fixed for the run;
/// - M-step: `p_r = Σ_{v: D_rv=1} W(v) / Σ_v W(v)`, `q_r = Σ_{v: D_rv=0} (1−W(v)) / Σ_v (1−W(v))`;
/// - E-step: `W(v) = g·a / (g·a + (1−g)·b)` with `a = Π_r (D_rv ? p_r : 1−p_r)` and
///   `b = Π_r (D_rv ? 1−q_r : q_r)`;
/// - after the E-step of iteration `i > 0`, stop when `(p_r − p_r')² ≤ 1e-14` and
///   `(q_r − q_r')² ≤ 1e-14` for every reader (NaN counts as converged, as in ITK).
///
/// [`StapleFit::iterations`] is ITK's `GetElapsedIterations()`: the index of the iteration that
/// converged, or `max_iterations` when the cap was hit.
///
/// # Speed
/// `W(v)` depends on a voxel only through its pattern (which readers marked it), so each
/// iteration runs over the at most `2^R` distinct patterns, weighted by their voxel counts,
/// instead of over every voxel. The voxels are read twice in all: once to count patterns and
/// once to write the probability map.
///
/// # Parameters
/// - `foreground`: the label value that means "foreground" (default 1); every other value is
///   background.
/// - `confidence_weight`: multiplies the prior `g` (default 1).
/// - `max_iterations`: iteration cap (default `u32::MAX`, ITK's "unlimited").
///
/// # Deviations
/// - Warfield et al. initialise `p` and `q` and may use a spatially varying prior; ITK (and so
///   Concord) starts from the mean vote and uses one global prior `g`.
/// - Sums over voxels are taken per pattern (count × value) instead of voxel by voxel, so the
///   last bits of `p`, `q` and `W` can differ from ITK's (well below 1e-12 on the conformance
///   cases); iteration counts and masks match.
/// - With `max_iterations = 0` ITK reports uninitialised memory as `p` and `q`; Concord
///   reports NaN, and the probability map is the initial mean vote.
///
/// # Example
/// ```
/// use concord_consensus::fusion::{LabelVolume, Staple};
/// let a = LabelVolume::new(vec![4], vec![1, 1, 0, 0]).unwrap();
/// let b = LabelVolume::new(vec![4], vec![1, 1, 1, 0]).unwrap();
/// let c = LabelVolume::new(vec![4], vec![1, 0, 0, 0]).unwrap();
/// let fit = Staple::default().fit(&[&a, &b, &c]).unwrap();
/// assert_eq!(fit.mask().data(), &[1, 1, 0, 0]);
/// assert_eq!(fit.sensitivity.len(), 3);
/// ```
#[derive(Debug, Clone)]
pub struct Staple {
    /// The label value that counts as foreground (default 1).
    pub foreground: f64,
    /// Multiplies the foreground prior (default 1).
    pub confidence_weight: f64,
    /// Iteration cap (default `u32::MAX`: unlimited).
    pub max_iterations: u32,
}

impl Default for Staple {
    fn default() -> Self {
        Staple {
            foreground: 1.0,
            confidence_weight: 1.0,
            max_iterations: u32::MAX,
        }
    }
}

/// What STAPLE estimated.
#[derive(Debug, Clone, PartialEq)]
pub struct StapleFit {
    /// Posterior probability that each voxel is foreground (NaN when no reader marked anything).
    pub probability: ProbabilityMap,
    /// Each reader's sensitivity `p_r`, by reader.
    pub sensitivity: Vec<f64>,
    /// Each reader's specificity `q_r`, by reader.
    pub specificity: Vec<f64>,
    /// ITK's elapsed iterations (see [`Staple`]).
    pub iterations: u32,
    /// Whether the run stopped by convergence rather than at the cap.
    pub converged: bool,
    /// The foreground prior `g`.
    pub prior: f64,
}

impl StapleFit {
    /// The fused mask: `probability >= 0.5` (NaN gives 0).
    pub fn mask(&self) -> LabelVolume {
        self.probability.threshold(0.5)
    }
}

/// ITK's foreground tolerance.
const FOREGROUND_EPSILON: f64 = 1.0e-10;
/// ITK's convergence threshold on squared changes of `p` and `q`.
const MIN_SQUARED_CHANGE: f64 = 1.0e-14;

impl Staple {
    /// Runs STAPLE on `readers` (same shape and spacing).
    ///
    /// # Errors
    /// [`FusionError::NoReaders`], [`FusionError::ShapeMismatch`],
    /// [`FusionError::SpacingMismatch`], and [`FusionError::InvalidParameter`] for a
    /// non-finite foreground value or confidence weight.
    pub fn fit(&self, readers: &[&LabelVolume]) -> Result<StapleFit, FusionError> {
        check_same_geometry(readers)?;
        for (name, value) in [
            ("foreground", self.foreground),
            ("confidence_weight", self.confidence_weight),
        ] {
            if !value.is_finite() {
                return Err(FusionError::InvalidParameter {
                    name,
                    reason: format!("must be finite, got {value}"),
                });
            }
        }
        let foreground: [u8; 256] = std::array::from_fn(|v| {
            let v = v as f64;
            u8::from(
                v > self.foreground - FOREGROUND_EPSILON
                    && v < self.foreground + FOREGROUND_EPSILON,
            )
        });
        let slices: Vec<&[u8]> = readers.iter().map(|r| r.data()).collect();
        let patterns = Patterns::build(&slices, &foreground, 2);
        let n_readers = readers.len();
        let n_voxels = readers[0].n_voxels() as f64;
        let counts: Vec<f64> = patterns.counts().iter().map(|&c| c as f64).collect();
        let marked = |k: usize| patterns.symbols(k);

        // The initial W is the mean vote; the prior is its mean, fixed from here on.
        let mut w: Vec<f64> = (0..patterns.len())
            .map(|k| marked(k).iter().map(|&d| f64::from(d)).sum::<f64>() / n_readers as f64)
            .collect();
        let prior = w.iter().zip(&counts).map(|(w, c)| w * c).sum::<f64>() / n_voxels
            * self.confidence_weight;

        let mut p = vec![f64::NAN; n_readers];
        let mut q = vec![f64::NAN; n_readers];
        let mut last_p = vec![-10.0; n_readers];
        let mut last_q = vec![-10.0; n_readers];
        let mut iteration = 0u32;
        let mut converged = false;
        while iteration < self.max_iterations {
            // M-step.
            let mut p_denominator = 0.0;
            let mut q_denominator = 0.0;
            let mut p_numerator = vec![0.0; n_readers];
            let mut q_numerator = vec![0.0; n_readers];
            for (k, (&w, &count)) in w.iter().zip(&counts).enumerate() {
                let fg = w * count;
                let bg = (1.0 - w) * count;
                p_denominator += fg;
                q_denominator += bg;
                for (r, &d) in marked(k).iter().enumerate() {
                    if d == 1 {
                        p_numerator[r] += fg;
                    } else {
                        q_numerator[r] += bg;
                    }
                }
            }
            for r in 0..n_readers {
                p[r] = p_numerator[r] / p_denominator;
                q[r] = q_numerator[r] / q_denominator;
            }
            // E-step.
            for (k, w) in w.iter_mut().enumerate() {
                let (mut a, mut b) = (1.0, 1.0);
                for (r, &d) in marked(k).iter().enumerate() {
                    if d == 1 {
                        a *= p[r];
                        b *= 1.0 - q[r];
                    } else {
                        a *= 1.0 - p[r];
                        b *= q[r];
                    }
                }
                *w = prior * a / (prior * a + (1.0 - prior) * b);
            }
            // ITK compares with "not greater than", so NaN counts as converged.
            let stop = iteration != 0
                && (0..n_readers).all(|r| {
                    let dp = p[r] - last_p[r];
                    let dq = q[r] - last_q[r];
                    not_greater(dp * dp, MIN_SQUARED_CHANGE)
                        && not_greater(dq * dq, MIN_SQUARED_CHANGE)
                });
            last_p.copy_from_slice(&p);
            last_q.copy_from_slice(&q);
            if stop {
                converged = true;
                break;
            }
            iteration += 1;
        }
        let probability = readers[0].same_geometry(patterns.expand(&slices, &w));
        Ok(StapleFit {
            probability,
            sensitivity: p,
            specificity: q,
            iterations: iteration,
            converged,
            prior,
        })
    }
}

/// `!(x > limit)`: true for NaN, as ITK's comparison is.
fn not_greater(x: f64, limit: f64) -> bool {
    x.partial_cmp(&limit) != Some(std::cmp::Ordering::Greater)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_readers_return_the_mask() {
        let a = LabelVolume::new(vec![2, 3], vec![0, 1, 1, 0, 0, 1]).unwrap();
        let fit = Staple::default().fit(&[&a, &a, &a]).unwrap();
        assert_eq!(fit.probability.data(), &[0.0, 1.0, 1.0, 0.0, 0.0, 1.0]);
        assert_eq!(fit.sensitivity, [1.0; 3]);
        assert_eq!(fit.specificity, [1.0; 3]);
        assert_eq!(fit.iterations, 1);
        assert!(fit.converged);
    }

    #[test]
    fn no_iterations_gives_the_mean_vote() {
        let a = LabelVolume::new(vec![2], vec![1, 0]).unwrap();
        let b = LabelVolume::new(vec![2], vec![1, 1]).unwrap();
        let fit = Staple {
            max_iterations: 0,
            ..Staple::default()
        }
        .fit(&[&a, &b])
        .unwrap();
        assert_eq!(fit.probability.data(), &[1.0, 0.5]);
        assert!(fit.sensitivity[0].is_nan());
        assert_eq!(fit.iterations, 0);
    }
}
