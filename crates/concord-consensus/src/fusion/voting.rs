//! Majority voting of label maps, with SimpleITK's tie rule, and weighted voting.

use super::FusionError;
use super::mask::{LabelVolume, check_same_geometry};
use super::patterns::CHUNK;
use rayon::prelude::*;

/// Majority voting of label maps: every voxel gets the label most readers gave it.
///
/// # Formula
/// `label(v) = argmax_l #{r : D_r(v) = l}`; when two or more labels share the largest count the
/// voxel gets the undecided label.
///
/// This is SimpleITK's `LabelVotingImageFilter` (ITK `itkLabelVotingImageFilter.hxx`), voxel for
/// voxel: the default undecided label is one more than the largest label of any reader.
///
/// # Parameters
/// - `undecided_label`: the label of tied voxels; `None` (the default) means
///   `max label + 1`, which requires that label 255 is not in use.
///
/// # Example
/// ```
/// use concord_consensus::fusion::{LabelVolume, LabelVoting};
/// let a = LabelVolume::new(vec![3], vec![0, 1, 1]).unwrap();
/// let b = LabelVolume::new(vec![3], vec![0, 1, 0]).unwrap();
/// let fit = LabelVoting::default().fit(&[&a, &b]).unwrap();
/// assert_eq!(fit.labels.data(), &[0, 1, 2]); // voxel 2 is tied: undecided label 2
/// assert_eq!(fit.n_ties, 1);
/// ```
#[derive(Debug, Clone, Default)]
pub struct LabelVoting {
    /// The label given to tied voxels (`None`: the largest label + 1).
    pub undecided_label: Option<u8>,
}

/// Weighted voting of label maps: each reader's vote counts with a weight, for instance a
/// skill measured by STAPLE or on gold cases.
///
/// # Formula
/// `label(v) = argmax_l Σ_{r : D_r(v) = l} w_r`; an exact tie for the largest sum gives the
/// undecided label. Sums run in reader order, so results are reproducible bit for bit.
///
/// # Example
/// ```
/// use concord_consensus::fusion::{LabelVolume, WeightedVoting};
/// let a = LabelVolume::new(vec![2], vec![1, 1]).unwrap();
/// let b = LabelVolume::new(vec![2], vec![0, 1]).unwrap();
/// let fit = WeightedVoting { weights: vec![2.0, 1.0], undecided_label: None }
///     .fit(&[&a, &b])
///     .unwrap();
/// assert_eq!(fit.labels.data(), &[1, 1]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct WeightedVoting {
    /// One finite non-negative weight per reader.
    pub weights: Vec<f64>,
    /// The label given to tied voxels (`None`: the largest label + 1).
    pub undecided_label: Option<u8>,
}

/// The result of a vote.
#[derive(Debug, Clone, PartialEq)]
pub struct VotingFit {
    /// The fused label map.
    pub labels: LabelVolume,
    /// The label tied voxels received.
    pub undecided_label: u8,
    /// How many voxels were tied.
    pub n_ties: u64,
}

impl LabelVoting {
    /// Votes `readers` (same shape and spacing).
    ///
    /// # Errors
    /// [`FusionError::NoReaders`], [`FusionError::ShapeMismatch`],
    /// [`FusionError::SpacingMismatch`], and [`FusionError::NoUndecidedLabel`] when label 255
    /// is in use and no undecided label was given.
    pub fn fit(&self, readers: &[&LabelVolume]) -> Result<VotingFit, FusionError> {
        check_same_geometry(readers)?;
        let max_label = readers.iter().map(|r| r.max_label()).max().unwrap_or(0);
        let undecided = undecided_label(self.undecided_label, max_label)?;
        let slices: Vec<&[u8]> = readers.iter().map(|r| r.data()).collect();
        let (data, n_ties) = if max_label <= 1 && readers.len() <= usize::from(u8::MAX) {
            vote_binary(&slices, undecided)
        } else {
            vote_general(&slices, undecided, |label_at, n_readers, scratch| {
                mode(label_at, n_readers, scratch)
            })
        };
        Ok(VotingFit {
            labels: readers[0].same_geometry(data),
            undecided_label: undecided,
            n_ties,
        })
    }
}

impl WeightedVoting {
    /// Votes `readers` (same shape and spacing) with one weight per reader.
    ///
    /// # Errors
    /// As [`LabelVoting::fit`], and [`FusionError::InvalidParameter`] when the weights are not
    /// one finite non-negative number per reader.
    pub fn fit(&self, readers: &[&LabelVolume]) -> Result<VotingFit, FusionError> {
        check_same_geometry(readers)?;
        if self.weights.len() != readers.len() {
            return Err(FusionError::InvalidParameter {
                name: "weights",
                reason: format!(
                    "needs one weight per reader ({}), got {}",
                    readers.len(),
                    self.weights.len()
                ),
            });
        }
        if let Some(w) = self.weights.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
            return Err(FusionError::InvalidParameter {
                name: "weights",
                reason: format!("must be finite and non-negative, got {w}"),
            });
        }
        let max_label = readers.iter().map(|r| r.max_label()).max().unwrap_or(0);
        let undecided = undecided_label(self.undecided_label, max_label)?;
        let slices: Vec<&[u8]> = readers.iter().map(|r| r.data()).collect();
        let weights = &self.weights;
        let (data, n_ties) = vote_general(&slices, undecided, |label_at, n_readers, _| {
            weighted_mode(label_at, n_readers, weights)
        });
        Ok(VotingFit {
            labels: readers[0].same_geometry(data),
            undecided_label: undecided,
            n_ties,
        })
    }
}

/// The undecided label: the one asked for, or `max_label + 1`.
pub(crate) fn undecided_label(asked: Option<u8>, max_label: u8) -> Result<u8, FusionError> {
    match asked {
        Some(label) => Ok(label),
        None => max_label
            .checked_add(1)
            .ok_or(FusionError::NoUndecidedLabel),
    }
}

/// Binary labels: the count of 1s decides, in a loop the compiler vectorises.
fn vote_binary(readers: &[&[u8]], undecided: u8) -> (Vec<u8>, u64) {
    let n_voxels = readers[0].len();
    let n_readers = readers.len() as u16;
    let mut out = vec![0u8; n_voxels];
    let n_ties = out
        .par_chunks_mut(CHUNK)
        .enumerate()
        .map(|(chunk, out)| {
            let start = chunk * CHUNK;
            // `out` first holds the count of 1s (at most 255 readers).
            let len = out.len();
            for reader in readers {
                for (o, &v) in out.iter_mut().zip(&reader[start..start + len]) {
                    *o += v;
                }
            }
            // Branch-free, so that the loop vectorises; an odd number of readers never ties.
            let n_ties = out
                .iter()
                .filter(|&&o| 2 * u16::from(o) == n_readers)
                .count() as u64;
            for o in out.iter_mut() {
                let twice = 2 * u16::from(*o);
                let majority = u8::from(twice > n_readers);
                *o = if twice == n_readers {
                    undecided
                } else {
                    majority
                };
            }
            n_ties
        })
        .sum();
    (out, n_ties)
}

/// Any labels: `decide` picks a voxel's label from its readers' labels, `None` for a tie.
fn vote_general(
    readers: &[&[u8]],
    undecided: u8,
    decide: impl Fn(&[u8], usize, &mut Vec<u8>) -> Option<u8> + Sync,
) -> (Vec<u8>, u64) {
    let n_voxels = readers[0].len();
    let n_readers = readers.len();
    let mut out = vec![0u8; n_voxels];
    let n_ties = out
        .par_chunks_mut(CHUNK)
        .enumerate()
        .map(|(chunk, out)| {
            let start = chunk * CHUNK;
            let mut labels = vec![0u8; n_readers];
            let mut scratch = Vec::new();
            let mut n_ties = 0u64;
            for (offset, o) in out.iter_mut().enumerate() {
                for (l, reader) in labels.iter_mut().zip(readers) {
                    *l = reader[start + offset];
                }
                *o = match decide(&labels, n_readers, &mut scratch) {
                    Some(label) => label,
                    None => {
                        n_ties += 1;
                        undecided
                    }
                };
            }
            n_ties
        })
        .sum();
    (out, n_ties)
}

/// The most frequent label, `None` when two labels share the top count.
fn mode(labels: &[u8], n_readers: usize, _: &mut Vec<u8>) -> Option<u8> {
    let mut best = (0u8, 0usize);
    let mut tie = false;
    for r in 0..n_readers {
        let label = labels[r];
        if labels[..r].contains(&label) {
            continue;
        }
        let count = labels[r..].iter().filter(|&&l| l == label).count();
        if count > best.1 {
            best = (label, count);
            tie = false;
        } else if count == best.1 {
            tie = true;
        }
    }
    (!tie).then_some(best.0)
}

/// The label with the largest weight sum, `None` on an exact tie.
fn weighted_mode(labels: &[u8], n_readers: usize, weights: &[f64]) -> Option<u8> {
    let mut best = (0u8, f64::NEG_INFINITY);
    let mut tie = false;
    for r in 0..n_readers {
        let label = labels[r];
        if labels[..r].contains(&label) {
            continue;
        }
        let weight: f64 = (r..n_readers)
            .filter(|&s| labels[s] == label)
            .map(|s| weights[s])
            .sum();
        if weight > best.1 {
            best = (label, weight);
            tie = false;
        } else if weight == best.1 {
            tie = true;
        }
    }
    (!tie).then_some(best.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(readers: &[&[u8]], undecided: Option<u8>, want: &[u8], want_ties: u64) {
        let volumes: Vec<LabelVolume> = readers
            .iter()
            .map(|r| LabelVolume::new(vec![r.len()], r.to_vec()).unwrap())
            .collect();
        let refs: Vec<&LabelVolume> = volumes.iter().collect();
        let fit = LabelVoting {
            undecided_label: undecided,
        }
        .fit(&refs)
        .unwrap();
        assert_eq!(fit.labels.data(), want);
        assert_eq!(fit.n_ties, want_ties);
        // Equal weights vote like plain voting.
        let weighted = WeightedVoting {
            weights: vec![1.0; readers.len()],
            undecided_label: undecided,
        }
        .fit(&refs)
        .unwrap();
        assert_eq!(weighted, fit);
    }

    #[test]
    fn votes() {
        check(&[&[0, 1, 1], &[0, 1, 0], &[1, 1, 0]], None, &[0, 1, 0], 0);
        check(&[&[0, 1], &[1, 1]], None, &[2, 1], 1);
        check(&[&[0, 1], &[1, 1]], Some(7), &[7, 1], 1);
        check(
            &[&[0, 2, 3], &[2, 2, 3], &[1, 1, 1], &[2, 1, 0]],
            None,
            &[2, 4, 3],
            1,
        );
        check(&[&[3, 3], &[3, 3], &[1, 3], &[1, 0]], None, &[4, 3], 1);
    }

    #[test]
    fn label_255_needs_an_undecided_label() {
        let a = LabelVolume::new(vec![1], vec![255]).unwrap();
        assert_eq!(
            LabelVoting::default().fit(&[&a]),
            Err(FusionError::NoUndecidedLabel)
        );
        assert!(
            LabelVoting {
                undecided_label: Some(0)
            }
            .fit(&[&a])
            .is_ok()
        );
    }
}
