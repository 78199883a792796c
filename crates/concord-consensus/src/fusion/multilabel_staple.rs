//! Multi-label STAPLE: a label map fused from several readers' label maps, with one confusion
//! matrix per reader.

use super::FusionError;
use super::mask::{LabelVolume, check_same_geometry};
use super::patterns::{Patterns, identity_map};
use super::voting::undecided_label;

/// Multi-label STAPLE, as published by Rohlfing et al. and as implemented by ITK's
/// `MultiLabelSTAPLEImageFilter` (with [`MultiLabelStaple::itk_compat`]).
///
/// Rohlfing, T., Russakoff, D. B. & Maurer, C. R. (2004). Performance-based classifier
/// combination in atlas-based image segmentation using expectation-maximization parameter
/// estimation. IEEE Transactions on Medical Imaging 23(8), 983–994.
/// doi:10.1109/TMI.2004.830802
///
/// # Model
/// Each voxel has a true label `c ∈ 0..L` (L = largest label + 1) with prior `π_c`. Reader `r`
/// gives label `j` to a voxel of true label `c` with probability `θ_r[j][c]`.
///
/// # Formula
/// - start: a majority vote (ties undecided) gives each voxel a label `m(v)`;
///   `θ_r[j][c] ∝ #{v : D_r(v) = j, m(v) = c}`, each row normalised over `c`;
///   `π_c` = frequency of label `c` over all readers' voxels (unless given);
/// - E-step: `W_c(v) ∝ π_c Π_r θ_r[D_r(v)][c]`, normalised over `c` when the sum is non-zero;
/// - M-step: `θ_r[j][c] = Σ_{v: D_r(v) = j} W_c(v)`, normalised so each column sums to 1;
/// - stop when no entry of any matrix changed by `termination_threshold` or more, or after
///   `max_iterations` iterations;
/// - output: one more E-step, then `argmax_c W_c(v)`; a tie (including all zeros) gives the
///   undecided label.
///
/// The matrices have ITK's layout: `L + 1` rows (label given, `0..=L`) by `L` columns (true
/// label), flattened row-major per reader in [`MultiLabelStapleFit::confusion`].
///
/// # Parameters
/// - `max_iterations`: EM iteration cap (`None`, the default: until convergence; `Some(0)`:
///   the initial matrices are used as they are).
/// - `termination_threshold`: default `1e-5`.
/// - `undecided_label`: label of tied voxels (default `L`).
/// - `priors`: one prior per label (default: estimated from the readers).
/// - `itk_compat`: reproduce ITK's initial matrices exactly (default `false`, see Deviations).
///
/// # Deviations
/// The published algorithm leaves voxels whose initial vote is tied out of the initial
/// matrices (ITK allocates a "reject" slot for them). ITK's code instead writes each tied voxel's
/// count at flat position `j·L + L` of reader `r`'s row-major `(L+1) × L` matrix, that is
/// into row `j + 1`, column 0, and normalises with it. That changes the starting point, and
/// so, slightly, the converged matrices. With `itk_compat = true` Concord does the same, and
/// also gives tied output voxels the label `L` whatever `undecided_label` says, as ITK does.
/// The conformance fixtures (SimpleITK 2.5.7) are matched with `itk_compat = true`.
///
/// Sums run over distinct reader patterns weighted by their counts (see [`super::Staple`]),
/// so the last bits can differ from ITK's voxel-by-voxel sums.
///
/// # Example
/// ```
/// use concord_consensus::fusion::{LabelVolume, MultiLabelStaple};
/// let a = LabelVolume::new(vec![4], vec![0, 1, 2, 2]).unwrap();
/// let b = LabelVolume::new(vec![4], vec![0, 1, 2, 1]).unwrap();
/// let c = LabelVolume::new(vec![4], vec![0, 1, 1, 2]).unwrap();
/// let fit = MultiLabelStaple::default().fit(&[&a, &b, &c]).unwrap();
/// assert_eq!(fit.labels.data(), &[0, 1, 2, 2]);
/// assert_eq!(fit.n_labels, 3);
/// ```
#[derive(Debug, Clone)]
pub struct MultiLabelStaple {
    /// EM iteration cap (`None`: until convergence).
    pub max_iterations: Option<u32>,
    /// Stop when the largest change of a matrix entry is below this (default 1e-5).
    pub termination_threshold: f64,
    /// Label of tied voxels (`None`: `L`, one more than the largest label).
    pub undecided_label: Option<u8>,
    /// Prior probability of each label `0..L` (`None`: estimated).
    pub priors: Option<Vec<f64>>,
    /// Reproduce ITK's handling of ties (see Deviations).
    pub itk_compat: bool,
}

impl Default for MultiLabelStaple {
    fn default() -> Self {
        MultiLabelStaple {
            max_iterations: None,
            termination_threshold: 1e-5,
            undecided_label: None,
            priors: None,
            itk_compat: false,
        }
    }
}

/// What multi-label STAPLE estimated.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiLabelStapleFit {
    /// The fused label map.
    pub labels: LabelVolume,
    /// `L`, the number of labels (largest label + 1).
    pub n_labels: usize,
    /// Per reader, the `(L + 1) × L` matrix row-major: `confusion[r][j * L + c]` is the
    /// probability that reader `r` says `j` when the truth is `c`.
    pub confusion: Vec<Vec<f64>>,
    /// The label priors used.
    pub priors: Vec<f64>,
    /// EM iterations run.
    pub iterations: u32,
    /// Whether the run stopped by convergence rather than at the cap.
    pub converged: bool,
    /// Voxels whose initial majority vote was tied.
    pub initial_ties: u64,
    /// Output voxels with a tied posterior (given the undecided label).
    pub n_ties: u64,
}

impl MultiLabelStapleFit {
    /// Reader `r`'s confusion matrix entry: P(reader says `given` | truth is `truth`).
    pub fn confusion(&self, reader: usize, given: usize, truth: usize) -> f64 {
        self.confusion[reader][given * self.n_labels + truth]
    }
}

impl MultiLabelStaple {
    /// Runs multi-label STAPLE on `readers` (same shape and spacing).
    ///
    /// # Errors
    /// [`FusionError::NoReaders`], [`FusionError::ShapeMismatch`],
    /// [`FusionError::SpacingMismatch`], [`FusionError::NoUndecidedLabel`] (label 255 in use),
    /// and [`FusionError::InvalidParameter`] for priors of the wrong length or a threshold
    /// that is not a finite number.
    pub fn fit(&self, readers: &[&LabelVolume]) -> Result<MultiLabelStapleFit, FusionError> {
        check_same_geometry(readers)?;
        let max_label = readers.iter().map(|r| r.max_label()).max().unwrap_or(0);
        let n_labels = usize::from(max_label) + 1;
        let default_undecided = undecided_label(None, max_label);
        let undecided = match (self.itk_compat, self.undecided_label) {
            (false, Some(label)) => label,
            _ => default_undecided?,
        };
        if !self.termination_threshold.is_finite() {
            return Err(FusionError::InvalidParameter {
                name: "termination_threshold",
                reason: format!("must be finite, got {}", self.termination_threshold),
            });
        }
        let slices: Vec<&[u8]> = readers.iter().map(|r| r.data()).collect();
        let patterns = Patterns::build(&slices, &identity_map(), n_labels as u32);
        let n_readers = readers.len();
        let counts: Vec<f64> = patterns.counts().iter().map(|&c| c as f64).collect();
        let n_rows = n_labels + 1;
        let matrix_len = n_rows * n_labels;

        // Initial matrices from the majority vote.
        let mut confusion = vec![vec![0.0; matrix_len]; n_readers];
        let mut initial_ties = 0u64;
        for (k, &count) in counts.iter().enumerate() {
            let given = patterns.symbols(k);
            let voted = majority(given);
            if voted.is_none() {
                initial_ties += patterns.counts()[k];
            }
            for (matrix, &j) in confusion.iter_mut().zip(given) {
                let j = usize::from(j);
                match voted {
                    Some(c) => matrix[j * n_labels + usize::from(c)] += count,
                    // ITK: `matrix[j][L]` on a row-major (L+1) × L matrix is `[j + 1][0]`.
                    None if self.itk_compat => matrix[j * n_labels + n_labels] += count,
                    None => {}
                }
            }
        }
        for matrix in &mut confusion {
            for row in matrix.chunks_mut(n_labels) {
                let sum: f64 = row.iter().sum();
                if sum > 0.0 {
                    row.iter_mut().for_each(|x| *x /= sum);
                }
            }
        }

        let priors = match &self.priors {
            Some(priors) => {
                if priors.len() < n_labels || priors.iter().any(|p| !p.is_finite() || *p < 0.0) {
                    return Err(FusionError::InvalidParameter {
                        name: "priors",
                        reason: format!(
                            "needs {n_labels} finite non-negative values (one per label), got {priors:?}"
                        ),
                    });
                }
                priors[..n_labels].to_vec()
            }
            None => {
                let mut frequency = vec![0.0; n_labels];
                for (k, &count) in counts.iter().enumerate() {
                    for &j in patterns.symbols(k) {
                        frequency[usize::from(j)] += count;
                    }
                }
                let total: f64 = frequency.iter().sum();
                frequency.iter_mut().for_each(|f| *f /= total);
                frequency
            }
        };

        let mut weights = vec![0.0; n_labels];
        let mut updated = vec![vec![0.0; matrix_len]; n_readers];
        let mut iterations = 0u32;
        let mut converged = false;
        while self.max_iterations.is_none_or(|max| iterations < max) {
            updated.iter_mut().for_each(|m| m.fill(0.0));
            for (k, &count) in counts.iter().enumerate() {
                let given = patterns.symbols(k);
                e_step(&priors, &confusion, given, n_labels, &mut weights);
                for (matrix, &j) in updated.iter_mut().zip(given) {
                    let row = &mut matrix[usize::from(j) * n_labels..][..n_labels];
                    for (cell, &w) in row.iter_mut().zip(&weights) {
                        *cell += w * count;
                    }
                }
            }
            for matrix in &mut updated {
                for c in 0..n_labels {
                    let sum: f64 = (0..n_rows).map(|j| matrix[j * n_labels + c]).sum();
                    if sum != 0.0 {
                        (0..n_rows).for_each(|j| matrix[j * n_labels + c] /= sum);
                    }
                }
            }
            let mut largest_update = 0.0f64;
            for (old, new) in confusion.iter_mut().zip(&updated) {
                for (o, &n) in old.iter_mut().zip(new) {
                    largest_update = largest_update.max((n - *o).abs());
                    *o = n;
                }
            }
            iterations += 1;
            if largest_update < self.termination_threshold {
                converged = true;
                break;
            }
        }

        // The output: one more E-step and the arg-max.
        let mut n_ties = 0u64;
        let fused: Vec<u8> = (0..patterns.len())
            .map(|k| {
                e_step_unnormalised(&priors, &confusion, patterns.symbols(k), &mut weights);
                let mut winner = None;
                let mut best = 0.0;
                for (c, &w) in weights.iter().enumerate() {
                    if w > best {
                        best = w;
                        winner = Some(c as u8);
                    } else if w.partial_cmp(&best) != Some(std::cmp::Ordering::Less) {
                        // ITK's `!(w < best)`: a tie, or NaN.
                        winner = None;
                    }
                }
                winner.unwrap_or_else(|| {
                    n_ties += patterns.counts()[k];
                    undecided
                })
            })
            .collect();
        Ok(MultiLabelStapleFit {
            labels: readers[0].same_geometry(patterns.expand(&slices, &fused)),
            n_labels,
            confusion,
            priors,
            iterations,
            converged,
            initial_ties,
            n_ties,
        })
    }
}

/// The majority label of one voxel, `None` on a tie (LabelVotingImageFilter's rule).
fn majority(given: &[u8]) -> Option<u8> {
    let mut best = (0u8, 0usize);
    let mut tie = false;
    for (r, &label) in given.iter().enumerate() {
        if given[..r].contains(&label) {
            continue;
        }
        let count = given[r..].iter().filter(|&&l| l == label).count();
        if count > best.1 {
            best = (label, count);
            tie = false;
        } else if count == best.1 {
            tie = true;
        }
    }
    (!tie).then_some(best.0)
}

/// `W_c ∝ π_c Π_r θ_r[j_r][c]`, normalised when the sum is non-zero.
fn e_step(priors: &[f64], confusion: &[Vec<f64>], given: &[u8], n_labels: usize, w: &mut [f64]) {
    e_step_unnormalised(priors, confusion, given, w);
    let sum: f64 = w.iter().sum();
    if sum != 0.0 {
        w.iter_mut().for_each(|x| *x /= sum);
    }
    debug_assert_eq!(w.len(), n_labels);
}

fn e_step_unnormalised(priors: &[f64], confusion: &[Vec<f64>], given: &[u8], w: &mut [f64]) {
    let n_labels = w.len();
    w.copy_from_slice(priors);
    for (matrix, &j) in confusion.iter().zip(given) {
        let row = &matrix[usize::from(j) * n_labels..][..n_labels];
        for (x, &theta) in w.iter_mut().zip(row) {
            *x *= theta;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tie_quirk_moves_counts_to_the_next_row() {
        // Two readers disagree on voxel 1: the initial vote ties there.
        let a = LabelVolume::new(vec![3], vec![0, 0, 1]).unwrap();
        let b = LabelVolume::new(vec![3], vec![0, 1, 1]).unwrap();
        let run = |itk_compat| {
            MultiLabelStaple {
                max_iterations: Some(0),
                itk_compat,
                ..Default::default()
            }
            .fit(&[&a, &b])
            .unwrap()
        };
        let published = run(false);
        assert_eq!(published.initial_ties, 1);
        // Reader a said 0 on voxels 0 (voted 0) and 1 (tied): row 0 is [1, 0].
        assert_eq!(&published.confusion[0][..2], &[1.0, 0.0]);
        let itk = run(true);
        // ITK adds the tied voxel to row 1, column 0 of reader a: row 1 = [1, 1] / 2.
        assert_eq!(&itk.confusion[0][..4], &[1.0, 0.0, 0.5, 0.5]);
    }
}
