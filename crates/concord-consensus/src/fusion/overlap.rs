//! Agreement between two masks: overlap (Dice, Jaccard, volumes) and surface distances
//! (Hausdorff, its 95th percentile, average Hausdorff), per pair of readers and against a
//! fused mask.

use super::FusionError;
use super::edt::squared_distance;
use super::mask::{LabelVolume, check_same_geometry};
use super::patterns::CHUNK;
use rayon::prelude::*;

/// Overlap counts and ratios of two binary masks (non-zero voxels are foreground).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Overlap {
    /// Foreground voxels of A.
    pub size_a: u64,
    /// Foreground voxels of B.
    pub size_b: u64,
    /// Voxels in both.
    pub intersection: u64,
    /// Voxels in either.
    pub union: u64,
    /// `2|A∩B| / (|A| + |B|)`; NaN when both masks are empty (0/0).
    pub dice: f64,
    /// `|A∩B| / |A∪B|`; NaN when both masks are empty.
    pub jaccard: f64,
    /// Physical volume of A (voxels × voxel volume).
    pub volume_a: f64,
    /// Physical volume of B.
    pub volume_b: f64,
    /// `volume_b − volume_a`.
    pub volume_difference: f64,
    /// `(volume_b − volume_a) / volume_a`; NaN or infinite when A is empty.
    pub relative_volume_difference: f64,
}

/// Surface distances between two non-empty binary masks, in physical units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Distances {
    /// Hausdorff distance: the larger of the two directed maxima.
    pub hausdorff: f64,
    /// The larger of the two directed 95th percentiles.
    pub hausdorff95: f64,
    /// Mean of the two directed means (ITK's average Hausdorff distance).
    pub average_hausdorff: f64,
    /// Distances from A's foreground to B.
    pub a_to_b: Directed,
    /// Distances from B's foreground to A.
    pub b_to_a: Directed,
}

/// Statistics of the distances from every foreground voxel of one mask to the nearest
/// foreground voxel of the other (0 for voxels inside the other mask).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Directed {
    /// The largest distance.
    pub max: f64,
    /// The mean distance.
    pub mean: f64,
    /// The 95th percentile (linear interpolation between order statistics, numpy's default).
    pub p95: f64,
}

/// Dice, Jaccard and volumes of two masks of the same shape and spacing.
///
/// # Formula
/// `dice = 2|A∩B| / (|A|+|B|)`, `jaccard = |A∩B| / |A∪B|` over non-zero voxels. Two empty masks
/// give NaN for both (0/0), the convention of the conformance fixtures; SimpleITK's
/// `LabelOverlapMeasuresImageFilter` returns unusable values there instead.
///
/// # Errors
/// [`FusionError::ShapeMismatch`] or [`FusionError::SpacingMismatch`].
///
/// # Example
/// ```
/// use concord_consensus::fusion::{LabelVolume, overlap};
/// let a = LabelVolume::new(vec![4], vec![1, 1, 0, 0]).unwrap();
/// let b = LabelVolume::new(vec![4], vec![0, 1, 1, 0]).unwrap();
/// let o = overlap(&a, &b).unwrap();
/// assert_eq!((o.intersection, o.union), (1, 3));
/// assert_eq!(o.dice, 0.5);
/// ```
pub fn overlap(a: &LabelVolume, b: &LabelVolume) -> Result<Overlap, FusionError> {
    check_same_geometry(&[a, b])?;
    let (size_a, size_b, intersection) = a
        .data()
        .par_chunks(CHUNK)
        .zip(b.data().par_chunks(CHUNK))
        .map(|(a, b)| {
            let mut counts = (0u64, 0u64, 0u64);
            for (&x, &y) in a.iter().zip(b) {
                let (x, y) = (u64::from(x != 0), u64::from(y != 0));
                counts.0 += x;
                counts.1 += y;
                counts.2 += x & y;
            }
            counts
        })
        .reduce(|| (0, 0, 0), |p, q| (p.0 + q.0, p.1 + q.1, p.2 + q.2));
    let union = size_a + size_b - intersection;
    let voxel = a.voxel_volume();
    let (volume_a, volume_b) = (size_a as f64 * voxel, size_b as f64 * voxel);
    Ok(Overlap {
        size_a,
        size_b,
        intersection,
        union,
        dice: 2.0 * intersection as f64 / (size_a + size_b) as f64,
        jaccard: intersection as f64 / union as f64,
        volume_a,
        volume_b,
        volume_difference: volume_b - volume_a,
        relative_volume_difference: (volume_b - volume_a) / volume_a,
    })
}

/// Hausdorff distance, its 95th percentile and the average Hausdorff distance of two masks, in
/// physical units (the volumes' spacing), from an exact Euclidean distance transform.
///
/// # Formula
/// For every foreground voxel of A, `d(v, B)` is the distance between voxel centres to the
/// nearest foreground voxel of B (0 inside B), and symmetrically. Then `hausdorff =
/// max(max_A d, max_B d)`, `average_hausdorff = (mean_A d + mean_B d) / 2` (SimpleITK's
/// `HausdorffDistanceImageFilter`), and `hausdorff95 = max(p95_A d, p95_B d)`.
///
/// # Deviations
/// The 95th percentile is over all foreground voxels, like ITK's Hausdorff distance, so that
/// the 100th percentile is exactly [`Distances::hausdorff`]. Tools that take it over surface
/// voxels only (MedPy's `hd95`) report larger values for solid masks.
///
/// # Errors
/// `Ok(None)` when either mask is empty (the distance is undefined);
/// [`FusionError::ShapeMismatch`] or [`FusionError::SpacingMismatch`].
///
/// # Example
/// ```
/// use concord_consensus::fusion::{LabelVolume, distances};
/// let a = LabelVolume::new(vec![1, 5], vec![1, 0, 0, 0, 0]).unwrap();
/// let b = LabelVolume::new(vec![1, 5], vec![1, 0, 0, 0, 1]).unwrap();
/// let d = distances(&a, &b).unwrap().unwrap();
/// assert_eq!(d.hausdorff, 4.0);
/// assert_eq!(d.a_to_b.max, 0.0);
/// ```
pub fn distances(a: &LabelVolume, b: &LabelVolume) -> Result<Option<Distances>, FusionError> {
    check_same_geometry(&[a, b])?;
    let (Some(a_to_b), Some(b_to_a)) = (directed(a, b), directed(b, a)) else {
        return Ok(None);
    };
    Ok(Some(Distances {
        hausdorff: a_to_b.max.max(b_to_a.max),
        hausdorff95: a_to_b.p95.max(b_to_a.p95),
        average_hausdorff: (a_to_b.mean + b_to_a.mean) / 2.0,
        a_to_b,
        b_to_a,
    }))
}

/// One pair of readers' agreement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairAgreement {
    /// The first reader's index.
    pub a: usize,
    /// The second reader's index.
    pub b: usize,
    /// Overlap measures.
    pub overlap: Overlap,
    /// Surface distances (`None` when not asked for or when a mask is empty).
    pub distances: Option<Distances>,
}

/// Agreement of every pair of readers `(a, b)` with `a < b`, in that order.
///
/// # Errors
/// As [`overlap`].
pub fn pairwise(
    readers: &[&LabelVolume],
    with_distances: bool,
) -> Result<Vec<PairAgreement>, FusionError> {
    check_same_geometry(readers)?;
    let mut pairs = Vec::new();
    for a in 0..readers.len() {
        for b in a + 1..readers.len() {
            pairs.push(PairAgreement {
                a,
                b,
                overlap: overlap(readers[a], readers[b])?,
                distances: if with_distances {
                    distances(readers[a], readers[b])?
                } else {
                    None
                },
            });
        }
    }
    Ok(pairs)
}

/// Agreement of every reader with a fused mask (reader as A, fused mask as B).
///
/// # Errors
/// As [`overlap`].
pub fn against(
    readers: &[&LabelVolume],
    fused: &LabelVolume,
    with_distances: bool,
) -> Result<Vec<PairAgreement>, FusionError> {
    readers
        .iter()
        .enumerate()
        .map(|(a, reader)| {
            Ok(PairAgreement {
                a,
                b: readers.len(),
                overlap: overlap(reader, fused)?,
                distances: if with_distances {
                    distances(reader, fused)?
                } else {
                    None
                },
            })
        })
        .collect()
}

/// Distances from `from`'s foreground to `to`'s foreground; `None` when either is empty.
fn directed(from: &LabelVolume, to: &LabelVolume) -> Option<Directed> {
    let inside: Vec<bool> = to
        .data()
        .par_iter()
        .with_min_len(CHUNK)
        .map(|&v| v != 0)
        .collect();
    if !inside.contains(&true) || from.data().iter().all(|&v| v == 0) {
        return None;
    }
    let field = squared_distance(to.shape(), to.spacing(), &inside);
    // Chunks of fixed size, summed in order: the same result for any thread count.
    let per_chunk: Vec<(Vec<f64>, f64)> = from
        .data()
        .par_chunks(CHUNK)
        .zip(field.par_chunks(CHUNK))
        .map(|(from, field)| {
            let mut values = Vec::new();
            let mut sum = 0.0;
            for (&v, &d2) in from.iter().zip(field) {
                if v != 0 {
                    let d = d2.sqrt();
                    sum += d;
                    values.push(d);
                }
            }
            (values, sum)
        })
        .collect();
    let sum: f64 = per_chunk.iter().map(|(_, s)| s).sum();
    let mut values: Vec<f64> = per_chunk.into_iter().flat_map(|(v, _)| v).collect();
    let n = values.len();
    let max = values.iter().copied().fold(0.0, f64::max);
    Some(Directed {
        max,
        mean: sum / n as f64,
        p95: percentile(&mut values, 0.95),
    })
}

/// numpy's default (linear) percentile of non-empty `values`, reordering them.
fn percentile(values: &mut [f64], fraction: f64) -> f64 {
    let position = fraction * (values.len() - 1) as f64;
    let lower = position.floor() as usize;
    let upper = position.ceil() as usize;
    let (_, &mut low, rest) = values.select_nth_unstable_by(lower, f64::total_cmp);
    if upper == lower {
        return low;
    }
    let high = rest.iter().copied().fold(f64::INFINITY, f64::min);
    low + (high - low) * (position - lower as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_matches_numpy() {
        // numpy.percentile([1, 2, 3, 4], 95) = 3.85
        assert!((percentile(&mut [4.0, 1.0, 3.0, 2.0], 0.95) - 3.85).abs() < 1e-12);
        assert_eq!(percentile(&mut [7.0], 0.95), 7.0);
    }

    #[test]
    fn empty_masks() {
        let a = LabelVolume::new(vec![3], vec![0, 0, 0]).unwrap();
        let b = LabelVolume::new(vec![3], vec![0, 1, 0]).unwrap();
        let o = overlap(&a, &a).unwrap();
        assert!(o.dice.is_nan() && o.jaccard.is_nan());
        assert_eq!(overlap(&a, &b).unwrap().dice, 0.0);
        assert_eq!(distances(&a, &b).unwrap(), None);
    }
}
