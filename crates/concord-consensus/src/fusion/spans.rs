//! Text spans: matching overlapping spans across readers, voting on boundaries and class, and
//! span-level F1 between readers.

use super::FusionError;
use super::assignment::{assign, group};
use super::boxes::reader_weights;
use std::cmp::Ordering;

/// One reader's span `[start, end)` on one item (character or token offsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderSpan {
    /// The reader's index (`0..n_readers`).
    pub reader: usize,
    /// First position.
    pub start: u64,
    /// One past the last position (`end > start`).
    pub end: u64,
    /// The span's class.
    pub label: u32,
}

impl ReaderSpan {
    /// Overlap over union of two spans' positions (0 when disjoint).
    pub fn iou(&self, other: &ReaderSpan) -> f64 {
        let overlap = self
            .end
            .min(other.end)
            .saturating_sub(self.start.max(other.start));
        if overlap == 0 {
            return 0.0;
        }
        let union = (self.end - self.start) + (other.end - other.start) - overlap;
        overlap as f64 / union as f64
    }
}

/// A fused span and how many readers support it.
#[derive(Debug, Clone, PartialEq)]
pub struct FusedSpan {
    /// First position (boundary vote).
    pub start: u64,
    /// One past the last position (boundary vote).
    pub end: u64,
    /// The class (class vote).
    pub label: u32,
    /// How many readers marked an overlapping span.
    pub support: usize,
    /// Skill-weighted share of readers who marked it: `Σ_{r marked it} w_r / Σ_r w_r`.
    pub confidence: f64,
    /// Share of the supporting readers' weight that voted for `label`.
    pub label_agreement: f64,
    /// The readers who marked it, ascending.
    pub readers: Vec<usize>,
    /// The readers who did not, ascending.
    pub missing: Vec<usize>,
    /// Indices of the input spans fused into this one, ascending.
    pub members: Vec<usize>,
}

/// Span fusion: overlapping spans of one item are matched across readers, and each matched
/// group becomes one span by voting.
///
/// # Algorithm
/// 1. Matching: for every two readers, the optimal assignment (Hungarian algorithm) of their
///    spans maximising total overlap-over-union among overlapping pairs (`IoU > min_iou`),
///    whatever their classes; matched pairs are merged into groups, highest IoU first, never
///    two spans of one reader in a group.
/// 2. Boundaries: the start is the start with the largest total reader weight in the group, the
///    end likewise; a tie goes to the wider span (the smaller start, the larger end).
/// 3. Class: weighted majority of the group's classes; a tie goes to the smaller class id.
/// 4. Support, confidence and missing readers as for boxes ([`super::BoxFusion`]).
///
/// # Parameters
/// - `min_iou`: spans match when their IoU is above this (default 0: any overlap).
/// - `weights`: one non-negative skill per reader (empty: all 1).
///
/// # Example
/// ```
/// use concord_consensus::fusion::{ReaderSpan, SpanFusion};
/// let spans = [
///     ReaderSpan { reader: 0, start: 10, end: 20, label: 1 },
///     ReaderSpan { reader: 1, start: 10, end: 22, label: 1 },
///     ReaderSpan { reader: 2, start: 11, end: 20, label: 0 },
/// ];
/// let fused = SpanFusion::default().fuse(3, &spans).unwrap();
/// assert_eq!((fused[0].start, fused[0].end, fused[0].label), (10, 20, 1));
/// assert_eq!(fused[0].support, 3);
/// ```
#[derive(Debug, Clone, Default)]
pub struct SpanFusion {
    /// Spans match when their IoU is above this (default 0: any overlap).
    pub min_iou: f64,
    /// Skill of each reader (empty: all 1).
    pub weights: Vec<f64>,
}

impl SpanFusion {
    /// Fuses the spans of one item marked by `n_readers` readers.
    ///
    /// # Errors
    /// [`FusionError::InvalidParameter`] for `min_iou` outside `[0, 1)`, bad weights (see
    /// [`super::BoxFusion::fuse`]), a reader index out of range, or a span with `end <= start`.
    pub fn fuse(
        &self,
        n_readers: usize,
        spans: &[ReaderSpan],
    ) -> Result<Vec<FusedSpan>, FusionError> {
        if !(0.0..1.0).contains(&self.min_iou) {
            return Err(FusionError::InvalidParameter {
                name: "min_iou",
                reason: format!("must be in [0, 1), got {}", self.min_iou),
            });
        }
        let weights = reader_weights(&self.weights, n_readers)?;
        check_spans(n_readers, spans)?;
        let readers: Vec<usize> = spans.iter().map(|s| s.reader).collect();
        let order = |a: usize, b: usize| span_order(&spans[a], &spans[b]);
        let groups = group(
            &readers,
            |a, b| spans[a].iou(&spans[b]),
            self.min_iou,
            true,
            order,
        );
        let total_weight: f64 = weights.iter().sum();
        let mut fused: Vec<FusedSpan> = groups
            .into_iter()
            .map(|members| {
                let vote = |key: &dyn Fn(&ReaderSpan) -> u64, prefer_small: bool| {
                    let mut tally: Vec<(u64, f64)> = Vec::new();
                    for &m in &members {
                        let k = key(&spans[m]);
                        match tally.iter_mut().find(|(v, _)| *v == k) {
                            Some((_, w)) => *w += weights[spans[m].reader],
                            None => tally.push((k, weights[spans[m].reader])),
                        }
                    }
                    // Sorted values make the sums and the tie-break independent of order.
                    tally.sort_by_key(|&(v, _)| if prefer_small { v } else { u64::MAX - v });
                    tally
                        .iter()
                        .fold(None::<(u64, f64)>, |best, &(v, w)| match best {
                            Some((_, bw)) if bw >= w => best,
                            _ => Some((v, w)),
                        })
                        .expect("a group is not empty")
                };
                let (mut start, _) = vote(&|s| s.start, true);
                let (mut end, _) = vote(&|s| s.end, false);
                if start >= end {
                    start = members
                        .iter()
                        .map(|&m| spans[m].start)
                        .min()
                        .unwrap_or(start);
                    end = members.iter().map(|&m| spans[m].end).max().unwrap_or(end);
                }
                let (label, label_weight) = vote(&|s| u64::from(s.label), true);
                let mut group_readers: Vec<usize> =
                    members.iter().map(|&m| spans[m].reader).collect();
                group_readers.sort_unstable();
                let group_weight: f64 = group_readers.iter().map(|&r| weights[r]).sum();
                FusedSpan {
                    start,
                    end,
                    label: label as u32,
                    support: group_readers.len(),
                    confidence: group_weight / total_weight,
                    label_agreement: label_weight / group_weight,
                    missing: (0..n_readers)
                        .filter(|r| !group_readers.contains(r))
                        .collect(),
                    readers: group_readers,
                    members,
                }
            })
            .collect();
        fused.sort_by(|a, b| {
            (a.start, a.end, a.label)
                .cmp(&(b.start, b.end, b.label))
                .then_with(|| b.support.cmp(&a.support))
        });
        Ok(fused)
    }
}

/// Span-level agreement of two readers, summed over items.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpanAgreement {
    /// The first reader.
    pub a: usize,
    /// The second reader.
    pub b: usize,
    /// Spans of reader a.
    pub n_a: u64,
    /// Spans of reader b.
    pub n_b: u64,
    /// Spans both marked with the same boundaries and class.
    pub exact_matches: u64,
    /// Pairs of overlapping spans of the same class, optimally matched one to one.
    pub overlap_matches: u64,
    /// `2 · exact_matches / (n_a + n_b)`: strict span F1 (NaN when neither marked anything).
    pub exact_f1: f64,
    /// `2 · overlap_matches / (n_a + n_b)`: lenient span F1.
    pub overlap_f1: f64,
}

/// Span-level F1 of every pair of readers `(a, b)`, `a < b`, over all items: F1 treats one
/// reader as the reference and the other as the response, and is symmetric, so it is the usual
/// agreement measure for span annotation without chance correction.
///
/// Hripcsak, G. & Rothschild, A. S. (2005). Agreement, the F-measure, and reliability in
/// information retrieval. JAMIA 12(3), 296–298. doi:10.1197/jamia.M1733
///
/// # Errors
/// [`FusionError::InvalidParameter`] for a reader index out of range or an empty span.
///
/// # Example
/// ```
/// use concord_consensus::fusion::{ReaderSpan, span_agreement};
/// let item = vec![
///     ReaderSpan { reader: 0, start: 0, end: 5, label: 0 },
///     ReaderSpan { reader: 1, start: 0, end: 5, label: 0 },
///     ReaderSpan { reader: 1, start: 8, end: 9, label: 0 },
/// ];
/// let pairs = span_agreement(2, &[item]).unwrap();
/// assert!((pairs[0].exact_f1 - 2.0 / 3.0).abs() < 1e-12);
/// ```
pub fn span_agreement(
    n_readers: usize,
    items: &[Vec<ReaderSpan>],
) -> Result<Vec<SpanAgreement>, FusionError> {
    let mut pairs = Vec::new();
    for a in 0..n_readers {
        for b in a + 1..n_readers {
            pairs.push(SpanAgreement {
                a,
                b,
                n_a: 0,
                n_b: 0,
                exact_matches: 0,
                overlap_matches: 0,
                exact_f1: f64::NAN,
                overlap_f1: f64::NAN,
            });
        }
    }
    for spans in items {
        check_spans(n_readers, spans)?;
        for pair in &mut pairs {
            let of = |r: usize| {
                let mut s: Vec<ReaderSpan> =
                    spans.iter().filter(|s| s.reader == r).copied().collect();
                s.sort_by(span_order);
                s
            };
            let (sa, sb) = (of(pair.a), of(pair.b));
            pair.n_a += sa.len() as u64;
            pair.n_b += sb.len() as u64;
            let same = |x: &ReaderSpan, y: &ReaderSpan| {
                (x.start, x.end, x.label) == (y.start, y.end, y.label)
            };
            // Exact matches, one to one.
            let mut used = vec![false; sb.len()];
            for x in &sa {
                if let Some(j) = (0..sb.len()).find(|&j| !used[j] && same(x, &sb[j])) {
                    used[j] = true;
                    pair.exact_matches += 1;
                }
            }
            let matrix: Vec<Vec<f64>> = sa
                .iter()
                .map(|x| {
                    sb.iter()
                        .map(|y| if x.label == y.label { x.iou(y) } else { 0.0 })
                        .collect()
                })
                .collect();
            pair.overlap_matches += assign(&matrix, 0.0, true).len() as u64;
        }
    }
    for pair in &mut pairs {
        let n = (pair.n_a + pair.n_b) as f64;
        pair.exact_f1 = 2.0 * pair.exact_matches as f64 / n;
        pair.overlap_f1 = 2.0 * pair.overlap_matches as f64 / n;
    }
    Ok(pairs)
}

fn check_spans(n_readers: usize, spans: &[ReaderSpan]) -> Result<(), FusionError> {
    for s in spans {
        if s.reader >= n_readers {
            return Err(FusionError::InvalidParameter {
                name: "reader",
                reason: format!("reader {} of {n_readers}", s.reader),
            });
        }
        if s.end <= s.start {
            return Err(FusionError::InvalidParameter {
                name: "span",
                reason: format!("needs end > start, got [{}, {})", s.start, s.end),
            });
        }
    }
    Ok(())
}

fn span_order(a: &ReaderSpan, b: &ReaderSpan) -> Ordering {
    (a.start, a.end, a.label, a.reader).cmp(&(b.start, b.end, b.label, b.reader))
}
