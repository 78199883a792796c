//! Numeric kernels shared by the methods: dense slices in, dense slices out.
//!
//! Parallel loops split items (or annotators) into fixed-size chunks, and every reduction adds
//! per-chunk partial sums in chunk order, so a result never depends on how rayon schedules the
//! chunks or how many threads it has.

use crate::data::Annotations;
use rayon::prelude::*;

/// Items per parallel chunk. Fixed, so reductions are identical for any thread count.
pub(crate) const ITEM_CHUNK: usize = 2048;

/// Two posteriors closer than this are a tie.
const TIE_EPS: f64 = 1e-12;

/// Picks the most probable class of each item and lists tied items.
///
/// Ties go to the lowest class index, i.e. the class that comes first in natural order (numeric
/// when every class name is a number). That matches crowd-kit on numeric labels below 10 and is
/// documented rather than clever: on the public data sets no tie rule (label frequency, skill,
/// random) beats it consistently, and tied items are reported so a workflow can adjudicate them.
pub(crate) fn decide(posteriors: &[f64], n_classes: usize) -> (Vec<u32>, Vec<u32>) {
    let mut labels = Vec::with_capacity(posteriors.len() / n_classes.max(1));
    let mut ties = Vec::new();
    for (item, row) in posteriors.chunks_exact(n_classes).enumerate() {
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut best = u32::MAX;
        let mut n_top = 0;
        for (k, &p) in row.iter().enumerate() {
            if max - p <= TIE_EPS {
                n_top += 1;
                if best == u32::MAX {
                    best = k as u32;
                }
            }
        }
        if n_top > 1 {
            ties.push(item as u32);
        }
        labels.push(best);
    }
    (labels, ties)
}

/// Fills `posteriors` (`n_items * K`) with each item's (weighted) vote shares.
///
/// Without weights every label counts 1. An item whose weights sum to zero or less gets a uniform
/// row.
pub(crate) fn vote_shares(data: &Annotations, weights: Option<&[f64]>, posteriors: &mut [f64]) {
    let k = data.n_classes();
    let offsets = data.item_offsets();
    let annotators = data.item_annotators();
    let classes = data.item_classes();
    posteriors
        .par_chunks_mut(ITEM_CHUNK * k)
        .enumerate()
        .for_each(|(chunk, rows)| {
            for (local, row) in rows.chunks_exact_mut(k).enumerate() {
                let item = chunk * ITEM_CHUNK + local;
                row.fill(0.0);
                for obs in offsets[item]..offsets[item + 1] {
                    let w = weights.map_or(1.0, |w| w[annotators[obs] as usize]);
                    row[classes[obs] as usize] += w;
                }
                normalize_or_uniform(row);
            }
        });
}

/// Scales `row` to sum to 1; a row whose sum is not positive and finite becomes uniform.
pub(crate) fn normalize_or_uniform(row: &mut [f64]) {
    let sum: f64 = row.iter().sum();
    if sum > 0.0 && sum.is_finite() {
        row.iter_mut().for_each(|p| *p /= sum);
    } else {
        let u = 1.0 / row.len() as f64;
        row.fill(u);
    }
}

/// Turns log-scores into probabilities in place and returns `log Σ exp(score)`.
pub(crate) fn softmax_in_place(row: &mut [f64]) -> f64 {
    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        let u = 1.0 / row.len() as f64;
        row.fill(u);
        return max;
    }
    let mut sum = 0.0;
    for p in row.iter_mut() {
        *p = (*p - max).exp();
        sum += *p;
    }
    row.iter_mut().for_each(|p| *p /= sum);
    max + sum.ln()
}

/// Mean of the posterior rows: the empirical class distribution.
// Dawid–Skene sums the rows inside its E-step; kept for the methods that do not.
#[allow(dead_code)]
pub(crate) fn column_means(posteriors: &[f64], n_classes: usize, out: &mut [f64]) {
    out.fill(0.0);
    let n_items = posteriors.len() / n_classes;
    for row in posteriors.chunks_exact(n_classes) {
        for (o, &p) in out.iter_mut().zip(row) {
            *o += p;
        }
    }
    out.iter_mut().for_each(|o| *o /= n_items as f64);
}

/// Sets the rows of gold items to the one-hot vector of their known class.
pub(crate) fn clamp_gold(data: &Annotations, posteriors: &mut [f64]) {
    let k = data.n_classes();
    for item in 0..data.n_items() {
        if let Some(class) = data.gold(item as u32) {
            let row = &mut posteriors[item * k..(item + 1) * k];
            row.fill(0.0);
            row[class as usize] = 1.0;
        }
    }
}

/// Label frequencies, used as the class prior of methods that have none.
pub(crate) fn label_frequencies(data: &Annotations) -> Vec<f64> {
    let total = data.n_labels() as f64;
    data.class_counts()
        .iter()
        .map(|&c| c as f64 / total)
        .collect()
}
