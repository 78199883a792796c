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
pub(crate) const TIE_EPS: f64 = 1e-12;

/// Picks the most probable class of each item and lists tied items.
///
/// Ties go to the lowest class index, i.e. the class that comes first in natural order (numeric
/// when every class name is a number). That matches crowd-kit on numeric labels below 10 and is
/// documented rather than clever: on the public data sets no tie rule (label frequency, skill,
/// random) beats it consistently, and tied items are reported so a workflow can adjudicate them.
pub(crate) fn decide(posteriors: &[f64], n_classes: usize) -> (Vec<u32>, Vec<u32>) {
    let k = n_classes.max(1);
    let mut labels = vec![0; posteriors.len() / k];
    let chunk_ties: Vec<Vec<u32>> = labels
        .par_chunks_mut(ITEM_CHUNK)
        .zip(posteriors.par_chunks(ITEM_CHUNK * k))
        .enumerate()
        .map(|(chunk, (labels, rows))| {
            let mut ties = Vec::new();
            for (local, (label, row)) in labels.iter_mut().zip(rows.chunks_exact(k)).enumerate() {
                let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let mut best = u32::MAX;
                let mut n_top = 0;
                for (class, &p) in row.iter().enumerate() {
                    if max - p <= TIE_EPS {
                        n_top += 1;
                        if best == u32::MAX {
                            best = class as u32;
                        }
                    }
                }
                if n_top > 1 {
                    ties.push((chunk * ITEM_CHUNK + local) as u32);
                }
                *label = best;
            }
            ties
        })
        .collect();
    (labels, chunk_ties.concat())
}

/// Fills `posteriors` (`n_items * K`) with each item's (weighted) vote shares.
///
/// Without weights every label counts 1. An item whose weights sum to zero or less gets a uniform
/// row.
pub(crate) fn vote_shares(data: &Annotations, weights: Option<&[f64]>, posteriors: &mut [f64]) {
    let k = data.n_classes();
    posteriors
        .par_chunks_mut(ITEM_CHUNK * k)
        .enumerate()
        .for_each(|(chunk, rows)| {
            for (local, row) in rows.chunks_exact_mut(k).enumerate() {
                vote_share_row(data, weights, chunk * ITEM_CHUNK + local, row);
            }
        });
}

/// Fills `row` (`K` long) with `item`'s (weighted) vote shares, as [`vote_shares`] does.
#[inline]
pub(crate) fn vote_share_row(
    data: &Annotations,
    weights: Option<&[f64]>,
    item: usize,
    row: &mut [f64],
) {
    let offsets = data.item_offsets();
    let annotators = data.item_annotators();
    let classes = data.item_classes();
    row.fill(0.0);
    for obs in offsets[item]..offsets[item + 1] {
        let w = weights.map_or(1.0, |w| w[annotators[obs] as usize]);
        row[classes[obs] as usize] += w;
    }
    normalize_or_uniform(row);
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

/// SQUAREM's squared norms `(‖x1 − x0‖², ‖x2 − 2x1 + x0‖²)` over three iterates (Varadhan &
/// Roland 2008, doi:10.1111/j.1467-9469.2007.00585.x); the step length is `−√(first/second)`.
pub(crate) fn squarem_norms(x0: &[f64], x1: &[f64], x2: &[f64]) -> (f64, f64) {
    let (mut rr, mut vv) = (0.0, 0.0);
    for ((&p0, &p1), &p2) in x0.iter().zip(x1).zip(x2) {
        let r = p1 - p0;
        let v = p2 - 2.0 * p1 + p0;
        rr += r * r;
        vv += v * v;
    }
    (rr, vv)
}

/// SQUAREM's extrapolated point `x0 − 2αr + α²v` for one coordinate of three iterates.
#[inline]
pub(crate) fn squarem_point(p0: f64, p1: f64, p2: f64, alpha: f64) -> f64 {
    p0 - 2.0 * alpha * (p1 - p0) + alpha * alpha * (p2 - 2.0 * p1 + p0)
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

/// Label frequencies, used as the class prior of methods that have none.
pub(crate) fn label_frequencies(data: &Annotations) -> Vec<f64> {
    let total = data.n_labels() as f64;
    data.class_counts()
        .iter()
        .map(|&c| c as f64 / total)
        .collect()
}

/// Accumulates expected confusion counts `counts[a][given][true] += P(z_i = true)` over every
/// label `(i, a, given)`, scanning items in order.
///
/// Why item order: the posterior rows are then read sequentially and the scattered writes land
/// in the count table (`A·K²` values, usually cache-resident). The annotator layout would instead
/// read posterior rows at random, a cache miss per label on large data. The items are split into
/// a fixed number of parts, chosen from the data size and never from the thread count; each part
/// fills its own table and the tables are added in part order, so the result is bit-identical
/// on any number of threads.
#[derive(Debug)]
pub(crate) struct ConfusionCounts {
    parts: Vec<f64>,
    n_parts: usize,
    table: usize,
}

impl ConfusionCounts {
    /// Sizes the partial tables for `data`.
    pub(crate) fn new(data: &Annotations) -> Self {
        const MAX_PARTS: usize = 8;
        const MAX_BYTES: usize = 256 << 20;
        let k = data.n_classes();
        let table = data.n_annotators() * k * k;
        let by_size = (data.n_labels() / 65_536).clamp(1, MAX_PARTS);
        let by_memory = (MAX_BYTES / (table * 8).max(1)).max(1);
        let n_parts = by_size.min(by_memory);
        Self {
            parts: vec![0.0; n_parts * table],
            n_parts,
            table,
        }
    }

    /// Writes the counts of `posteriors` (`n_items * K`) into `out` (`A * K * K`).
    pub(crate) fn accumulate(&mut self, data: &Annotations, posteriors: &[f64], out: &mut [f64]) {
        // Small class counts get a loop the compiler unrolls; the rest take the general path.
        match data.n_classes() {
            2 => self.fill_parts::<2>(data, posteriors),
            3 => self.fill_parts::<3>(data, posteriors),
            4 => self.fill_parts::<4>(data, posteriors),
            5 => self.fill_parts::<5>(data, posteriors),
            _ => self.fill_parts::<0>(data, posteriors),
        }
        let (first, rest) = self.parts.split_at(self.table);
        out.copy_from_slice(first);
        for table in rest.chunks_exact(self.table) {
            for (o, &c) in out.iter_mut().zip(table) {
                *o += c;
            }
        }
    }

    /// Fills each part's table; `K` is the class count, or 0 for "read it from the data".
    fn fill_parts<const K: usize>(&mut self, data: &Annotations, posteriors: &[f64]) {
        let k = if K == 0 { data.n_classes() } else { K };
        let n_items = data.n_items();
        let items_per_part = n_items.div_ceil(self.n_parts);
        let offsets = data.item_offsets();
        let annotators = data.item_annotators();
        let classes = data.item_classes();
        self.parts
            .par_chunks_mut(self.table)
            .enumerate()
            .for_each(|(part, table)| {
                table.fill(0.0);
                let items = part * items_per_part..((part + 1) * items_per_part).min(n_items);
                for item in items {
                    let row = &posteriors[item * k..(item + 1) * k];
                    let range = offsets[item]..offsets[item + 1];
                    for (&a, &c) in annotators[range.clone()].iter().zip(&classes[range]) {
                        let base = (a as usize * k + c as usize) * k;
                        let cell = &mut table[base..base + k];
                        for t in 0..k {
                            cell[t] += row[t];
                        }
                    }
                }
            });
    }
}

/// Stable 64-bit FNV-1a hash of a name (the same on every platform and Rust version).
pub(crate) fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The SplitMix64 finaliser (Steele, Lea & Flood 2014, doi:10.1145/2714064.2660195): a
/// bijective mix whose outputs pass BigCrush for sequential inputs.
fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A uniform number in `[0, 1)` determined by `seed` and two keys (typically [`name_hash`]es of
/// an item and an annotator).
///
/// Why keyed rather than drawn from one stream: a random start drawn in index order changes when
/// an unrelated item or annotator is added (indices follow name order), and a start should belong
/// to its item and annotator. Keyed by names, each gets the same start whatever else is in the
/// data.
pub(crate) fn keyed_uniform(seed: u64, a: u64, b: u64) -> f64 {
    let x = mix64(seed ^ mix64(a ^ mix64(b)));
    (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Parallel loop over fixed chunks of `rows_per_chunk` rows of a compressed sparse row layout.
///
/// Chunk `c` covers rows `r0 = c * rows_per_chunk` to `r1 = min(r0 + rows_per_chunk, n_rows)`;
/// `f(c, entries, rows, partial)` gets mutable access to its rows' entries
/// (`entries[offsets[r0]..offsets[r1]]`), its rows' values (`row_values[r0..r1]`) and its own
/// slot `partials[c]`. The chunks are fixed by `rows_per_chunk`, not by the thread count, so a
/// computation that is sequential within a chunk gives the same result for any rayon pool; the
/// slices are split by recursive halving, so no allocation is needed per call.
///
/// # Panics
/// If `row_values` does not have one value per row (`offsets.len() − 1`) or `partials` one slot
/// per chunk.
pub(crate) fn par_csr_chunks_mut<E, R, P, F>(
    offsets: &[usize],
    rows_per_chunk: usize,
    entries: &mut [E],
    row_values: &mut [R],
    partials: &mut [P],
    f: &F,
) where
    E: Send,
    R: Send,
    P: Send,
    F: Fn(usize, &mut [E], &mut [R], &mut P) + Sync,
{
    let n_rows = offsets.len() - 1;
    assert_eq!(row_values.len(), n_rows, "one value per row");
    assert_eq!(
        partials.len(),
        n_rows.div_ceil(rows_per_chunk),
        "one slot per chunk"
    );
    if partials.is_empty() {
        return;
    }
    let base = offsets[0];
    let entries = &mut entries[..offsets[n_rows] - base];
    split_chunks(
        offsets,
        rows_per_chunk,
        0..partials.len(),
        entries,
        row_values,
        partials,
        f,
    );
}

fn split_chunks<E, R, P, F>(
    offsets: &[usize],
    rows_per_chunk: usize,
    chunks: std::ops::Range<usize>,
    entries: &mut [E],
    row_values: &mut [R],
    partials: &mut [P],
    f: &F,
) where
    E: Send,
    R: Send,
    P: Send,
    F: Fn(usize, &mut [E], &mut [R], &mut P) + Sync,
{
    if chunks.len() == 1 {
        f(chunks.start, entries, row_values, &mut partials[0]);
        return;
    }
    let mid = chunks.start + chunks.len() / 2;
    let (row_start, row_mid) = (chunks.start * rows_per_chunk, mid * rows_per_chunk);
    let (entries_left, entries_right) = entries.split_at_mut(offsets[row_mid] - offsets[row_start]);
    let (rows_left, rows_right) = row_values.split_at_mut(row_mid - row_start);
    let (partials_left, partials_right) = partials.split_at_mut(mid - chunks.start);
    rayon::join(
        || {
            split_chunks(
                offsets,
                rows_per_chunk,
                chunks.start..mid,
                entries_left,
                rows_left,
                partials_left,
                f,
            )
        },
        || {
            split_chunks(
                offsets,
                rows_per_chunk,
                mid..chunks.end,
                entries_right,
                rows_right,
                partials_right,
                f,
            )
        },
    );
}

/// Working space of [`log_linear_e_step`], allocated once per fit.
#[derive(Debug)]
pub(crate) struct EStepBuffers {
    /// Per-chunk partial sums: `(Σ log-normaliser, largest posterior change)`.
    partials: Vec<(f64, f64)>,
    /// One score row per item chunk.
    scratch: Vec<f64>,
}

impl EStepBuffers {
    pub(crate) fn new(n_items: usize, n_classes: usize) -> Self {
        let n_chunks = n_items.div_ceil(ITEM_CHUNK);
        Self {
            partials: vec![(0.0, 0.0); n_chunks],
            scratch: vec![0.0; n_chunks * n_classes],
        }
    }
}

/// The E-step of every model whose item log-posterior is a sum over the item's labels:
/// `log P(z_i = k) = log_prior[k] + Σ_{(a, l) on i} log_theta[(a * K + l) * K + k] − log Z_i`.
///
/// Dawid–Skene passes `log θ`; IBCC passes the expectations `E[log θ]` and `E[log π]` under its
/// Dirichlet posteriors. Writes the posteriors (gold items clamped to their answer when
/// `anchor_gold`) and returns `(Σ_i log Z_i, largest change of any posterior entry)`.
pub(crate) fn log_linear_e_step(
    data: &Annotations,
    log_theta: &[f64],
    log_prior: &[f64],
    anchor_gold: bool,
    posteriors: &mut [f64],
    buffers: &mut EStepBuffers,
) -> (f64, f64) {
    let k = data.n_classes();
    let offsets = data.item_offsets();
    let annotators = data.item_annotators();
    let classes = data.item_classes();
    posteriors
        .par_chunks_mut(ITEM_CHUNK * k)
        .zip(buffers.partials.par_iter_mut())
        .zip(buffers.scratch.par_chunks_mut(k))
        .enumerate()
        .for_each(|(chunk, ((rows, partial), score))| {
            let mut log_z = 0.0;
            let mut change: f64 = 0.0;
            for (local, row) in rows.chunks_exact_mut(k).enumerate() {
                let item = chunk * ITEM_CHUNK + local;
                score.copy_from_slice(log_prior);
                for obs in offsets[item]..offsets[item + 1] {
                    let base = (annotators[obs] as usize * k + classes[obs] as usize) * k;
                    for (s, &lt) in score.iter_mut().zip(&log_theta[base..base + k]) {
                        *s += lt;
                    }
                }
                log_z += softmax_in_place(score);
                if anchor_gold && let Some(class) = data.gold(item as u32) {
                    score.fill(0.0);
                    score[class as usize] = 1.0;
                }
                for (old, &new) in row.iter_mut().zip(score.iter()) {
                    change = change.max((*old - new).abs());
                    *old = new;
                }
            }
            *partial = (log_z, change);
        });
    buffers
        .partials
        .iter()
        .fold((0.0, 0.0), |(ll, ch), &(l, c)| (ll + l, f64::max(ch, c)))
}

/// The digamma function `ψ(x) = d/dx ln Γ(x)`, for `x > 0`.
///
/// # Formula
/// The recurrence `ψ(x) = ψ(x + 1) − 1/x` lifts `x` to at least 12, then the asymptotic series
/// `ψ(x) ≈ ln x − 1/(2x) − Σ_{n≤5} B_2n / (2n x^2n)` (Abramowitz & Stegun 6.3.18) is accurate to
/// a few units in 1e-15 (the first omitted term is below 3e-15 at 12).
pub(crate) fn digamma(mut x: f64) -> f64 {
    let mut result = 0.0;
    while x < 12.0 {
        result -= 1.0 / x;
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    let series = inv2
        * (1.0 / 12.0
            - inv2
                * (1.0 / 120.0
                    - inv2 * (1.0 / 252.0 - inv2 * (1.0 / 240.0 - inv2 * (1.0 / 132.0)))));
    result + x.ln() - 0.5 * inv - series
}

/// The log-gamma function `ln Γ(x)`, for `x > 0`.
///
/// # Formula
/// `ln Γ(x) = ln Γ(x + n) − ln(x (x + 1) ⋯ (x + n − 1))` lifts `x` to at least 15, then
/// Stirling's series `(x − ½) ln x − x + ½ ln 2π + 1/(12x) − 1/(360x³) + 1/(1260x⁵) − 1/(1680x⁷)`
/// (Abramowitz & Stegun 6.1.41) is accurate to about 1e-14 absolute (the first omitted term,
/// `1/(1188 x⁹)`, is below 3e-14 at 15).
pub(crate) fn ln_gamma(mut x: f64) -> f64 {
    let mut shift = 1.0;
    while x < 15.0 {
        shift *= x;
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    let series =
        inv * (1.0 / 12.0 - inv2 * (1.0 / 360.0 - inv2 * (1.0 / 1260.0 - inv2 * (1.0 / 1680.0))));
    const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;
    (x - 0.5) * x.ln() - x + HALF_LN_2PI + series - shift.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_functions_match_known_values() {
        // ψ(1) = −γ, ψ(½) = −γ − 2 ln 2, ln Γ(½) = ln √π, ln Γ(10) = ln 9!.
        let euler_gamma = 0.577_215_664_901_532_9;
        let cases = [
            (digamma(1.0), -euler_gamma),
            (digamma(0.5), -euler_gamma - 2.0 * std::f64::consts::LN_2),
            (digamma(100.0), 4.600_161_852_738_088),
            (ln_gamma(0.5), 0.5 * std::f64::consts::PI.ln()),
            (ln_gamma(1.0), 0.0),
            (ln_gamma(10.0), 362_880f64.ln()),
            (ln_gamma(1000.5), 5_908.674_175_848_678),
        ];
        for (got, want) in cases {
            assert!(
                (got - want).abs() <= 1e-12 * want.abs().max(1.0),
                "{got} vs {want}"
            );
        }
    }
}

/// A running product of numbers `≥ 1` whose logarithm is taken only when it grows large: one
/// logarithm per many factors instead of one per factor (`ln` is the costliest instruction of
/// an E-step).
pub(crate) struct LogProduct {
    product: f64,
    log: f64,
}

impl LogProduct {
    pub(crate) fn new() -> Self {
        Self {
            product: 1.0,
            log: 0.0,
        }
    }

    pub(crate) fn mul(&mut self, x: f64) {
        if self.product > 1e100 || x > 1e100 {
            self.log += self.product.ln() + x.ln();
            self.product = 1.0;
        } else {
            self.product *= x;
        }
    }

    pub(crate) fn add_log(&mut self, log: f64) {
        self.log += log;
    }

    pub(crate) fn ln(&self) -> f64 {
        self.log + self.product.ln()
    }
}

/// Generated data for the methods' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use crate::data::Annotations;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// One-coin annotators with accuracies between 0.3 and 0.95 (a few adversarial).
    pub(crate) fn generated(
        n_items: u32,
        n_annotators: u32,
        k: u32,
        per_item: u32,
        seed: u64,
    ) -> Annotations {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let accuracy: Vec<f64> = (0..n_annotators)
            .map(|_| rng.random_range(0.3..0.95))
            .collect();
        let mut obs = Vec::new();
        for item in 0..n_items {
            let truth = rng.random_range(0..k);
            for _ in 0..per_item {
                let annotator = rng.random_range(0..n_annotators);
                let label = if rng.random::<f64>() < accuracy[annotator as usize] {
                    truth
                } else {
                    (truth + rng.random_range(1..k)) % k
                };
                obs.push((item, annotator, label));
            }
        }
        Annotations::from_indices(k as usize, obs).unwrap()
    }
}
