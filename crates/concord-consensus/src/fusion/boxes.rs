//! Bounding boxes: matching across readers by IoU with optimal assignment, then weighted box
//! fusion weighted by reader skill.

use super::FusionError;
use super::assignment::group;
use std::cmp::Ordering;

/// An axis-aligned box: top-left corner `(x, y)`, width and height (image units).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width (positive).
    pub w: f64,
    /// Height (positive).
    pub h: f64,
}

impl Rect {
    /// Intersection over union of two boxes (0 when they do not overlap).
    ///
    /// # Example
    /// ```
    /// use concord_consensus::fusion::Rect;
    /// let a = Rect { x: 0.0, y: 0.0, w: 2.0, h: 2.0 };
    /// let b = Rect { x: 1.0, y: 0.0, w: 2.0, h: 2.0 };
    /// assert!((a.iou(&b) - 1.0 / 3.0).abs() < 1e-12);
    /// ```
    pub fn iou(&self, other: &Rect) -> f64 {
        let w = (self.x + self.w).min(other.x + other.w) - self.x.max(other.x);
        let h = (self.y + self.h).min(other.y + other.h) - self.y.max(other.y);
        if w <= 0.0 || h <= 0.0 {
            return 0.0;
        }
        let intersection = w * h;
        intersection / (self.w * self.h + other.w * other.h - intersection)
    }

    fn key(&self) -> [f64; 4] {
        [self.x, self.y, self.w, self.h]
    }
}

/// One reader's box on one item.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReaderBox {
    /// The reader's index (`0..n_readers`).
    pub reader: usize,
    /// Where the box is.
    pub rect: Rect,
    /// The finding's class.
    pub label: u32,
}

/// A fused box and how many readers support it.
#[derive(Debug, Clone, PartialEq)]
pub struct FusedBox {
    /// The fused box.
    pub rect: Rect,
    /// The class (boxes are matched within a class).
    pub label: u32,
    /// How many readers drew this box.
    pub support: usize,
    /// Skill-weighted share of readers who drew it: `Σ_{r drew it} w_r / Σ_r w_r`.
    pub confidence: f64,
    /// The readers who drew it, ascending.
    pub readers: Vec<usize>,
    /// The readers who did not, ascending.
    pub missing: Vec<usize>,
    /// Indices of the input boxes fused into this one, ascending.
    pub members: Vec<usize>,
}

/// Box fusion: boxes of one item and class are matched across readers, and each matched group
/// becomes one box by weighted box fusion.
///
/// Solovyev, R., Wang, W. & Gabruseva, T. (2021). Weighted boxes fusion: ensembling boxes from
/// different object detection models. Image and Vision Computing 107, 104117.
/// arXiv:1910.13302
///
/// # Algorithm
/// 1. Matching: for every two readers, the optimal assignment (Hungarian algorithm) of their
///    boxes that maximises the total IoU among pairs with `IoU >= iou_threshold`. Matched pairs
///    are merged into groups, highest IoU first, never putting two boxes of one reader in a
///    group.
/// 2. Fusion: each corner coordinate of a group is the skill-weighted mean of its members',
///    `x̂ = Σ w_r x_r / Σ w_r`.
/// 3. Support is the group's size, confidence `Σ_{r ∈ group} w_r / Σ_{all r} w_r`, and missing
///    readers are the others.
///
/// # Parameters
/// - `iou_threshold`: default 0.5 (0 < t ≤ 1).
/// - `weights`: one non-negative skill per reader (empty: all 1).
///
/// # Deviations
/// WBF clusters boxes greedily in decreasing score order against the running fused box, and
/// readers' boxes carry no score; here matching is optimal per pair of readers, and a reader's
/// skill plays the role of the score. The confidence is WBF's `avg` confidence with the
/// "missing models" rescaling, generalised to weights; with unit weights it is
/// `support / n_readers`.
///
/// The result does not depend on the order of readers or boxes: ties are broken by the boxes'
/// coordinates, and fused boxes are sorted by class, then position.
///
/// # Example
/// ```
/// use concord_consensus::fusion::{BoxFusion, ReaderBox, Rect};
/// let boxes = [
///     ReaderBox { reader: 0, rect: Rect { x: 10.0, y: 10.0, w: 20.0, h: 20.0 }, label: 0 },
///     ReaderBox { reader: 1, rect: Rect { x: 12.0, y: 10.0, w: 20.0, h: 20.0 }, label: 0 },
/// ];
/// let fused = BoxFusion::default().fuse(3, &boxes).unwrap();
/// assert_eq!(fused.len(), 1);
/// assert_eq!(fused[0].rect.x, 11.0);
/// assert_eq!(fused[0].missing, [2]);
/// ```
#[derive(Debug, Clone)]
pub struct BoxFusion {
    /// Boxes match when their IoU is at least this (default 0.5).
    pub iou_threshold: f64,
    /// Skill of each reader (empty: all 1).
    pub weights: Vec<f64>,
}

impl Default for BoxFusion {
    fn default() -> Self {
        BoxFusion {
            iou_threshold: 0.5,
            weights: Vec::new(),
        }
    }
}

impl BoxFusion {
    /// Fuses the boxes of one item drawn by `n_readers` readers (a reader with no box found
    /// nothing).
    ///
    /// # Errors
    /// [`FusionError::InvalidParameter`] for a threshold outside `(0, 1]`, weights that are not
    /// one non-negative finite number per reader (or sum to 0), a reader index out of range,
    /// or a box with a non-positive or non-finite size.
    pub fn fuse(
        &self,
        n_readers: usize,
        boxes: &[ReaderBox],
    ) -> Result<Vec<FusedBox>, FusionError> {
        if !(self.iou_threshold > 0.0 && self.iou_threshold <= 1.0) {
            return Err(FusionError::InvalidParameter {
                name: "iou_threshold",
                reason: format!("must be in (0, 1], got {}", self.iou_threshold),
            });
        }
        let weights = reader_weights(&self.weights, n_readers)?;
        for b in boxes {
            if b.reader >= n_readers {
                return Err(FusionError::InvalidParameter {
                    name: "reader",
                    reason: format!("reader {} of {n_readers}", b.reader),
                });
            }
            let r = b.rect;
            if !(r.x.is_finite() && r.y.is_finite() && r.w.is_finite() && r.h.is_finite())
                || r.w <= 0.0
                || r.h <= 0.0
            {
                return Err(FusionError::InvalidParameter {
                    name: "box",
                    reason: format!("needs finite coordinates and a positive size, got {r:?}"),
                });
            }
        }
        let order = |a: usize, b: usize| box_order(&boxes[a], &boxes[b], &weights);
        let mut fused = Vec::new();
        let mut labels: Vec<u32> = boxes.iter().map(|b| b.label).collect();
        labels.sort_unstable();
        labels.dedup();
        let total_weight: f64 = weights.iter().sum();
        for label in labels {
            let indices: Vec<usize> = (0..boxes.len())
                .filter(|&i| boxes[i].label == label)
                .collect();
            let readers: Vec<usize> = indices.iter().map(|&i| boxes[i].reader).collect();
            let groups = group(
                &readers,
                |a, b| boxes[indices[a]].rect.iou(&boxes[indices[b]].rect),
                self.iou_threshold,
                false,
                |a, b| order(indices[a], indices[b]),
            );
            for members in groups {
                let mut members: Vec<usize> = members.iter().map(|&m| indices[m]).collect();
                // Sum in content order, so that listing order cannot change the last bits.
                members.sort_by(|&a, &b| order(a, b));
                let corners = |b: &ReaderBox| {
                    let r = b.rect;
                    [r.x, r.y, r.x + r.w, r.y + r.h]
                };
                let member_weights: Vec<f64> =
                    members.iter().map(|&m| weights[boxes[m].reader]).collect();
                let mut fused_corners = [0.0; 4];
                for (axis, value) in fused_corners.iter_mut().enumerate() {
                    let values: Vec<f64> =
                        members.iter().map(|&m| corners(&boxes[m])[axis]).collect();
                    *value = weighted_mean(&values, &member_weights);
                }
                let mut group_readers: Vec<usize> =
                    members.iter().map(|&m| boxes[m].reader).collect();
                group_readers.sort_unstable();
                let group_weight: f64 = group_readers.iter().map(|&r| weights[r]).sum();
                members.sort_unstable();
                fused.push(FusedBox {
                    rect: Rect {
                        x: fused_corners[0],
                        y: fused_corners[1],
                        w: fused_corners[2] - fused_corners[0],
                        h: fused_corners[3] - fused_corners[1],
                    },
                    label,
                    support: group_readers.len(),
                    confidence: group_weight / total_weight,
                    missing: (0..n_readers)
                        .filter(|r| !group_readers.contains(r))
                        .collect(),
                    readers: group_readers,
                    members,
                });
            }
        }
        fused.sort_by(|a, b| {
            a.label
                .cmp(&b.label)
                .then_with(|| cmp_keys(&a.rect.key(), &b.rect.key()))
                .then_with(|| b.support.cmp(&a.support))
        });
        Ok(fused)
    }
}

/// Weights checked, or all 1 when none are given.
pub(crate) fn reader_weights(weights: &[f64], n_readers: usize) -> Result<Vec<f64>, FusionError> {
    if weights.is_empty() {
        return Ok(vec![1.0; n_readers]);
    }
    if weights.len() != n_readers
        || weights.iter().any(|w| !(w.is_finite() && *w >= 0.0))
        || weights.iter().sum::<f64>() <= 0.0
    {
        return Err(FusionError::InvalidParameter {
            name: "weights",
            reason: format!(
                "needs one finite non-negative weight per reader ({n_readers}), not all 0; got {weights:?}"
            ),
        });
    }
    Ok(weights.to_vec())
}

/// `Σ w x / Σ w`, written as `x₀ + Σ w (x − x₀) / Σ w` so that equal values give exactly that
/// value back; all-zero weights give the plain mean.
pub(crate) fn weighted_mean(values: &[f64], weights: &[f64]) -> f64 {
    let total: f64 = weights.iter().sum();
    let base = values[0];
    if total <= 0.0 {
        let n = values.len() as f64;
        return base + values.iter().map(|v| v - base).sum::<f64>() / n;
    }
    base + values
        .iter()
        .zip(weights)
        .map(|(v, w)| w * (v - base))
        .sum::<f64>()
        / total
}

fn cmp_keys(a: &[f64], b: &[f64]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.total_cmp(y))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// Boxes by content: coordinates, then the reader's weight, then the reader.
fn box_order(a: &ReaderBox, b: &ReaderBox, weights: &[f64]) -> Ordering {
    cmp_keys(&a.rect.key(), &b.rect.key())
        .then_with(|| weights[b.reader].total_cmp(&weights[a.reader]))
        .then_with(|| a.reader.cmp(&b.reader))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(x: f64, y: f64, w: f64, h: f64) -> Rect {
        Rect { x, y, w, h }
    }

    #[test]
    fn iou() {
        assert_eq!(rect(0.0, 0.0, 1.0, 1.0).iou(&rect(1.0, 0.0, 1.0, 1.0)), 0.0);
        assert_eq!(rect(0.0, 0.0, 2.0, 2.0).iou(&rect(0.0, 0.0, 2.0, 2.0)), 1.0);
        assert_eq!(
            rect(0.0, 0.0, 2.0, 2.0).iou(&rect(0.0, 0.0, 1.0, 1.0)),
            0.25
        );
    }

    #[test]
    fn weighted_mean_is_exact_for_equal_values() {
        assert_eq!(weighted_mean(&[0.1, 0.1, 0.1], &[1.0, 1.0, 1.0]), 0.1);
        assert_eq!(weighted_mean(&[0.0, 4.0], &[3.0, 1.0]), 1.0);
    }
}
