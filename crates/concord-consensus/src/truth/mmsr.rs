//! M-MSR: annotator skills by robust rank-one completion of the agreement matrix.

use super::dawid_skene::check_common;
use super::fit::{Aggregator, Fit, FitError, Progress, Skills};
use super::kernels::{
    ITEM_CHUNK, decide, keyed_uniform, label_frequencies, name_hash, par_csr_chunks_mut,
    softmax_in_place,
};
use crate::data::Annotations;
use rayon::prelude::*;

/// Annotators per parallel chunk of the MSR updates (fixed, so results do not depend on the
/// thread count).
const ANNOTATOR_CHUNK: usize = 64;

/// Cap on the sweeps of the sign determination (it ends by itself; see [`skill_signs`]).
const SIGN_MAX_SWEEPS: u32 = 1000;

/// M-MSR (Matrix Mean-Subsequence-Reduced): each annotator's skill is read off a robust
/// rank-one completion of the matrix of pairwise agreement between annotators; items get the
/// weighted majority vote with the one-coin log-odds of those skills.
///
/// Ma, Q. & Olshevsky, A. (2020). Adversarial crowdsourcing through robust rank-one matrix
/// completion. *Advances in Neural Information Processing Systems 33* (NeurIPS 2020).
/// arXiv:2010.12181. As implemented by crowd-kit's `MMSR` (Ustalov et al., JOSS 2024,
/// doi:10.21105/joss.06227).
///
/// # Model
/// One-coin annotators: annotator `a` gives the true class with probability `p_a`, otherwise one
/// of the other `K − 1` classes uniformly. With `s_a = (K p_a − 1)/(K − 1)` (0 for a coin flip,
/// 1 for a perfect annotator, negative for an adversary), two annotators `a ≠ b` who labelled
/// the same items agree at a rate `q_ab` with `E[C_ab] = s_a s_b`, where
/// `C_ab = (K q_ab − 1)/(K − 1)`. So `C` is the rank-one matrix `s sᵀ`, observed on the pairs of
/// annotators that share items, with noise, and with arbitrary entries in the rows of
/// adversarial annotators.
///
/// # Algorithm
/// 1. `C_ab` for every pair of annotators with at least one item in common (each annotator's last
///    label on an item counts once); `X = |C|`. `F = max(0, ⌊min_a deg(a) / 2⌋ − 1)`, where
///    `deg(a)` is the number of annotators `a` shares items with, is the number of outliers
///    trimmed on each side.
/// 2. `u = v ~ Uniform(0, 1)` per annotator, from `seed`.
/// 3. MSR iteration, until `‖u vᵀ − u' v'ᵀ‖_F < tol` (primed: the previous iterate) or `max_iter`
///    iterations: for each annotator `b`, `v_b ←` the trimmed mean of `X_ab / u_a` over the
///    annotators `a` sharing items with `b`; then for each `a`, `u_a ←` the trimmed mean of
///    `X_ab / v_b`. The trimmed mean around the current value `c` drops the `F` smallest values
///    if at least `F` lie below `c` (otherwise all values below `c`), likewise at the top, and
///    averages the rest; with nothing left it keeps `c`.
/// 4. Magnitudes `|s| = u · √(‖v‖ / ‖u‖)`.
/// 5. Signs: starting from all positive, each annotator in turn takes the sign of
///    `Σ_b n_ab C_ab |s_b| sign_b` (`n_ab`: items shared), until a sweep changes nothing — the
///    least-squares fit of `C ≈ s sᵀ`, weighted by the number of shared items, by coordinate
///    ascent. Negate all if the annotators with negative skill gave most of the labels.
/// 6. Clip `s` to `[−1/(K − 1) + 1/√n, 1 − 1/√n]` (`n` items); `p_a = s_a (K − 1)/K + 1/K`;
///    weight `w_a = ln((K − 1) p_a / (1 − p_a))`.
/// 7. Score `Σ_{a labelled i with k} w_a` for each class; the label is the highest score.
///
/// # Output
/// - Posteriors: `softmax` of the scores, `P(z_i = k) ∝ exp(Σ_{a labelled i with k} w_a)`: the
///   exact posterior of one-coin annotators with accuracies `p_a` under a uniform class prior,
///   the model the weights come from. Items whose annotators all weigh 0 get vote shares.
/// - Skill: `accuracy`, the estimated `p_a` (`1/K` for an annotator who shares no item with
///   anyone, whose skill the method cannot see).
/// - `objective_trace`: `‖u vᵀ − u' v'ᵀ‖_F` after each iteration (crowd-kit's `loss_history_`).
/// - `class_prior`: the label frequencies; `log_likelihood`: `None`.
///
/// # Deviations
/// - Memory and time. crowd-kit builds dense `annotators × items` and `annotators × annotators`
///   arrays and, for its sign step, a dense matrix over the annotators plus one node per
///   positively correlated pair (7.1 GB on 100k labels). Here the pairs of annotators that share
///   items are a sparse list, so memory grows with those pairs (at most `annotators²`, usually
///   far fewer), building them costs `Σ_i (labels of i)²`, and an MSR iteration costs one pass
///   over the pairs with a selection (not a sort) for the trimming.
/// - Signs (step 5). The paper and crowd-kit split a graph whose edges are the signs of `C` by the
///   eigenvector of its random-walk matrix for the eigenvalue nearest −1. Every observed pair
///   counts the same there, but on sparse data most pairs share one or two items, and the sign
///   of their `C` is noise; crowd-kit moreover gives every *unobserved* pair (and the diagonal)
///   `C = −1/(K − 1)`, a negative edge. A port of that step (on observed pairs) marked 126 of
///   461 `cf-weather` annotators and 300 of 766 `vldb-relevance` annotators adversarial and
///   scored 0.853 and 0.424 (crowd-kit: 0.773 and 0.426; majority vote 0.88 and 0.543). The
///   weighted least-squares signs mark 48 and 77 and score 0.897 and 0.564.
/// - Zero means. crowd-kit replaces a lone remaining value 0 by `1/√n`; a trimmed mean of 0 over
///   several values would make `u` or `v` zero and every later ratio NaN (likely crowd-kit's
///   `Skill value is missing` error on `vldb-product`). Here any trimmed mean of 0 becomes
///   `1/√n`, so `u` and `v` stay positive.
/// - `F` below 0. When some annotator shares items with at most one other, the formula gives
///   `F = −1`, and crowd-kit's slicing `y[F:]` then keeps only the largest ratio: the mean becomes
///   a maximum, the iteration stops after two rounds with most skills at the clip, and many
///   items tie (tried on `trec2011`: several hundred ties and a lower accuracy; crowd-kit too
///   stopped after 2 iterations there). `F` is clamped at 0.
/// - Annotators who share no item with anyone keep their random start in `u` and `v`; crowd-kit
///   counts them in the norms of step 4, which skews everyone's magnitude. Here they are left
///   out (their own skill is unknown: `s = 0`).
/// - Items whose annotators all have weight 0 fall back to vote shares instead of a tie.
/// - `K` is the number of classes that occur in the labels (as in crowd-kit), at least 2.
/// - Random numbers: a ChaCha8 stream, so the start differs from crowd-kit's for the same seed.
///
/// # Parameters
/// - `max_iter` (10 000): cap on MSR iterations (crowd-kit's `n_iter`).
/// - `tol` (1e-10): stop when the Frobenius change of `u vᵀ` falls below it.
/// - `seed` (0): seed of the start `u = v` (crowd-kit's `random_state`).
///
/// # Example
/// ```
/// use concord_consensus::{Annotations, truth::{Aggregator, Mmsr}};
/// // Annotators 0–2 are reliable; annotator 3 contradicts them on every item.
/// let mut rows = Vec::new();
/// for item in 0..20u32 {
///     let truth = item % 2;
///     for a in 0..3 {
///         let wrong = (item + a) % 7 == 0;
///         rows.push((item, a, truth ^ u32::from(wrong)));
///     }
///     rows.push((item, 3, 1 - truth));
/// }
/// let data = Annotations::from_indices(2, rows).unwrap();
/// let fit = Mmsr::default().fit(&data).unwrap();
/// assert_eq!(fit.labels, (0..20).map(|i| i % 2).collect::<Vec<_>>());
/// ```
#[derive(Debug, Clone)]
pub struct Mmsr {
    /// Cap on MSR iterations.
    pub max_iter: u32,
    /// Stop when `‖u vᵀ − u' v'ᵀ‖_F` falls below this.
    pub tol: f64,
    /// Seed of the random start.
    pub seed: u64,
}

impl Default for Mmsr {
    fn default() -> Self {
        Self {
            max_iter: 10_000,
            tol: 1e-10,
            seed: 0,
        }
    }
}

impl Aggregator for Mmsr {
    fn name(&self) -> &'static str {
        "mmsr"
    }

    fn fit_with_progress(
        &self,
        data: &Annotations,
        progress: &dyn Progress,
    ) -> Result<Fit, FitError> {
        check_common(self.name(), self.max_iter, self.tol)?;
        Ok(run(data, self, progress))
    }
}

/// The pairs of annotators that share items, as a symmetric CSR matrix over annotators (each row
/// sorted by neighbour).
#[derive(Debug)]
struct Pairs {
    offsets: Vec<usize>,
    neighbour: Vec<u32>,
    /// `C_ab`, the chance-corrected agreement.
    c: Vec<f64>,
    /// Number of items the pair has in common.
    common: Vec<u32>,
}

fn run(data: &Annotations, params: &Mmsr, progress: &dyn Progress) -> Fit {
    let n_annotators = data.n_annotators();
    let used_classes = data.class_counts().iter().filter(|&&c| c > 0).count();
    let k = used_classes.max(2) as f64;
    let n_items = data.n_items() as f64;
    let floor = 1.0 / n_items.sqrt();

    let pairs = agreement_pairs(data, k);
    let x: Vec<f64> = pairs.c.iter().map(|c| c.abs()).collect();
    let min_degree = (0..n_annotators)
        .map(|a| pairs.offsets[a + 1] - pairs.offsets[a])
        .min()
        .unwrap_or(0);
    let trim = (min_degree / 2).saturating_sub(1);

    // Start: `u = v`, uniform on (0, 1), as crowd-kit draws both from the same seed.
    // Keyed by annotator name, so the start does not depend on the order of the input rows.
    let mut u: Vec<f64> = data
        .annotators()
        .iter()
        .map(|name| keyed_uniform(params.seed, name_hash(name), 0))
        .collect();
    let mut v = u.clone();
    let mut u_next = vec![0.0; n_annotators];
    let mut v_next = vec![0.0; n_annotators];
    let mut ratios = vec![0.0; x.len()];
    let mut chunk_slots = vec![(); n_annotators.div_ceil(ANNOTATOR_CHUNK)];

    // Room for every iteration up front, so the loop does not allocate.
    let mut trace = Vec::with_capacity(params.max_iter.min(1 << 20) as usize);
    let mut converged = false;
    let mut iterations = 0;
    while iterations < params.max_iter {
        msr_step(
            &pairs,
            &x,
            &u,
            &v,
            trim,
            floor,
            &mut ratios,
            &mut v_next,
            &mut chunk_slots,
        );
        msr_step(
            &pairs,
            &x,
            &v_next,
            &u,
            trim,
            floor,
            &mut ratios,
            &mut u_next,
            &mut chunk_slots,
        );
        let loss = rank_one_change(&u_next, &v_next, &u, &v);
        std::mem::swap(&mut u, &mut u_next);
        std::mem::swap(&mut v, &mut v_next);
        iterations += 1;
        trace.push(loss);
        progress.iteration(iterations, params.max_iter);
        if loss < params.tol {
            converged = true;
            break;
        }
    }

    // Magnitudes `|s| = u √(‖v‖/‖u‖)`, then signs, clipping and one-coin accuracies.
    // Annotators in no pair keep their random start; they have no skill and stay out of the
    // norms.
    let norm = |w: &[f64]| {
        (0..n_annotators)
            .filter(|&a| pairs.offsets[a + 1] > pairs.offsets[a])
            .map(|a| w[a] * w[a])
            .sum::<f64>()
            .sqrt()
    };
    let norm_u = norm(&u);
    let rescale = if norm_u > 0.0 {
        (norm(&v) / norm_u).sqrt()
    } else {
        0.0
    };
    let magnitude: Vec<f64> = (0..n_annotators)
        .map(|a| {
            if pairs.offsets[a + 1] > pairs.offsets[a] {
                u[a] * rescale
            } else {
                0.0
            }
        })
        .collect();
    let labels_per_annotator: Vec<usize> = (0..n_annotators)
        .map(|a| data.annotator_offsets()[a + 1] - data.annotator_offsets()[a])
        .collect();
    // Sweep in an order fixed by the annotators' names, not their input order, so a symmetric
    // case (two annotators who always disagree) resolves the same way for any row order.
    let mut sweep_order: Vec<usize> = (0..n_annotators).collect();
    sweep_order.sort_by_key(|&a| (name_hash(&data.annotators()[a]), a));
    let signs = skill_signs(&pairs, &magnitude, &labels_per_annotator, &sweep_order);
    // `min` then `max`, as crowd-kit: with very few items the bounds cross and the lower one
    // wins.
    let skill: Vec<f64> = (0..n_annotators)
        .map(|a| {
            (signs[a] * magnitude[a])
                .min(1.0 - floor)
                .max(-1.0 / (k - 1.0) + floor)
        })
        .collect();
    let accuracy: Vec<f64> = skill.iter().map(|s| s * (k - 1.0) / k + 1.0 / k).collect();
    // `ln((K − 1) p / (1 − p)) = ln((1 + (K − 1) s) / (1 − s))`, exactly 0 for `s = 0`.
    let weights: Vec<f64> = skill
        .iter()
        .map(|&s| ((k - 1.0) * s).ln_1p() - (-s).ln_1p())
        .collect();

    let posteriors = weighted_posteriors(data, &weights);
    let (labels, ties) = decide(&posteriors, data.n_classes());
    Fit {
        labels,
        n_classes: data.n_classes(),
        posteriors,
        class_prior: label_frequencies(data),
        skills: Skills::Scalar {
            name: "accuracy",
            values: accuracy,
        },
        iterations,
        converged,
        log_likelihood: None,
        objective_trace: trace,
        ties,
    }
}

/// Chance-corrected agreement `C_ab = (K q_ab − 1)/(K − 1)` of every pair of annotators that
/// share at least one item, `q_ab` being the fraction of their common items they labelled alike.
///
/// An annotator who labelled an item more than once counts with their last label (crowd-kit
/// overwrites in input order). Work is `Σ_i (labels of i)²`, memory one entry per pair.
fn agreement_pairs(data: &Annotations, k: f64) -> Pairs {
    let n_annotators = data.n_annotators();
    let item_offsets = data.item_offsets();
    let item_annotators = data.item_annotators();
    let item_classes = data.item_classes();
    let ann_offsets = data.annotator_offsets();
    let ann_items = data.annotator_items();
    // The last label of each annotator on an item: the item layout keeps repeated reads of one
    // annotator next to each other, in input order.
    let last_reads = |item: usize| {
        let range = item_offsets[item]..item_offsets[item + 1];
        range.clone().filter(move |&obs| {
            obs + 1 == range.end || item_annotators[obs + 1] != item_annotators[obs]
        })
    };
    let rows: Vec<Vec<(u32, f64, u32)>> = (0..n_annotators)
        .into_par_iter()
        .map_init(
            || {
                (
                    vec![0u32; n_annotators],
                    vec![0u32; n_annotators],
                    Vec::new(),
                )
            },
            |(common, agree, touched), a| {
                let mut previous_item = u32::MAX;
                for &item in &ann_items[ann_offsets[a]..ann_offsets[a + 1]] {
                    if item == previous_item {
                        continue;
                    }
                    previous_item = item;
                    let own = last_reads(item as usize)
                        .find(|&obs| item_annotators[obs] as usize == a)
                        .map(|obs| item_classes[obs])
                        .expect("the annotator labelled the item");
                    for obs in last_reads(item as usize) {
                        let b = item_annotators[obs] as usize;
                        if b == a {
                            continue;
                        }
                        if common[b] == 0 {
                            touched.push(b as u32);
                        }
                        common[b] += 1;
                        agree[b] += u32::from(item_classes[obs] == own);
                    }
                }
                touched.sort_unstable();
                let row = touched
                    .iter()
                    .map(|&b| {
                        let b = b as usize;
                        let q = f64::from(agree[b]) / f64::from(common[b]);
                        let n = common[b];
                        common[b] = 0;
                        agree[b] = 0;
                        (b as u32, (k * q - 1.0) / (k - 1.0), n)
                    })
                    .collect();
                touched.clear();
                row
            },
        )
        .collect();
    let mut offsets = Vec::with_capacity(n_annotators + 1);
    offsets.push(0);
    let mut neighbour = Vec::new();
    let mut c = Vec::new();
    let mut common = Vec::new();
    for row in rows {
        for (b, value, n) in row {
            neighbour.push(b);
            c.push(value);
            common.push(n);
        }
        offsets.push(neighbour.len());
    }
    Pairs {
        offsets,
        neighbour,
        c,
        common,
    }
}

/// One half of an MSR iteration: `out_b ←` trimmed mean of `X_ab / given_a` over the
/// neighbours `a` of `b`, around the current value `current_b`.
#[allow(clippy::too_many_arguments)]
fn msr_step(
    pairs: &Pairs,
    x: &[f64],
    given: &[f64],
    current: &[f64],
    trim: usize,
    floor: f64,
    ratios: &mut [f64],
    out: &mut [f64],
    chunk_slots: &mut [()],
) {
    par_csr_chunks_mut(
        &pairs.offsets,
        ANNOTATOR_CHUNK,
        ratios,
        out,
        chunk_slots,
        &|chunk, ratios, out, _| {
            let base = pairs.offsets[chunk * ANNOTATOR_CHUNK];
            for (local, value) in out.iter_mut().enumerate() {
                let b = chunk * ANNOTATOR_CHUNK + local;
                let range = pairs.offsets[b]..pairs.offsets[b + 1];
                let row = &mut ratios[range.start - base..range.end - base];
                for ((r, &a), &xab) in row
                    .iter_mut()
                    .zip(&pairs.neighbour[range.clone()])
                    .zip(&x[range])
                {
                    *r = xab / given[a as usize];
                }
                *value = trimmed_mean(row, current[b], trim, floor);
            }
        },
    );
}

/// crowd-kit's `_remove_largest_and_smallest_F_value` followed by the mean, without sorting.
///
/// Drops the `trim` smallest values if at least `trim` lie below `center` (otherwise every value
/// below it), likewise at the top, and averages the rest. Keeps `center` when nothing is left;
/// a mean of 0 becomes `floor` (see Deviations). Reorders `values`.
fn trimmed_mean(values: &mut [f64], center: f64, trim: usize, floor: f64) -> f64 {
    let n = values.len();
    let below = values.iter().filter(|&&y| y < center).count();
    let above = values.iter().filter(|&&y| y > center).count();
    // The kept values are the order statistics `start..end`.
    let start = if below < trim { below } else { trim };
    let end = n - if above < trim { above } else { trim };
    if start >= end {
        return center;
    }
    if start > 0 {
        values.select_nth_unstable_by(start, f64::total_cmp);
    }
    let rest = &mut values[start..];
    if end - start < rest.len() {
        rest.select_nth_unstable_by(end - start, f64::total_cmp);
    }
    let kept = &rest[..end - start];
    let mean = kept.iter().sum::<f64>() / kept.len() as f64;
    if mean > 0.0 { mean } else { floor }
}

/// `‖u vᵀ − u' v'ᵀ‖_F`, computed in `O(n)` as
/// `‖(u − u') vᵀ + u' (v − v')ᵀ‖_F`, which stays accurate when the change is tiny.
fn rank_one_change(u: &[f64], v: &[f64], u_old: &[f64], v_old: &[f64]) -> f64 {
    let (mut du2, mut v2, mut du_uo, mut v_dv, mut uo2, mut dv2) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (((&u, &v), &uo), &vo) in u.iter().zip(v).zip(u_old).zip(v_old) {
        let (du, dv) = (u - uo, v - vo);
        du2 += du * du;
        v2 += v * v;
        du_uo += du * uo;
        v_dv += v * dv;
        uo2 += uo * uo;
        dv2 += dv * dv;
    }
    (du2 * v2 + 2.0 * du_uo * v_dv + uo2 * dv2).max(0.0).sqrt()
}

/// The sign of each annotator's skill given the magnitudes `|s|`: coordinate ascent on
/// `Σ_{a,b} n_ab C_ab |s_a| |s_b| σ_a σ_b` over the signs `σ`, from all positive, where `n_ab`
/// is the number of items `a` and `b` share. 0 for an annotator in no pair.
///
/// With the magnitudes fixed, maximising that sum is minimising the least-squares misfit
/// `Σ n_ab (C_ab − s_a s_b)²` of the rank-one model. Each annotator in turn (in index order, a
/// Gauss–Seidel sweep) takes the sign of their evidence `Σ_b n_ab C_ab |s_b| σ_b`, keeping theirs
/// on a tie; every change raises the sum, so the sweeps end when one changes nothing. Updating
/// all annotators at once instead can oscillate for ever between two sign patterns. Afterwards
/// the signs are negated if annotators with negative skill gave more labels than those with
/// positive skill (the annotators must be better than chance on the whole, the assumption every
/// method here rests on).
fn skill_signs(
    pairs: &Pairs,
    magnitude: &[f64],
    labels_per_annotator: &[usize],
    sweep_order: &[usize],
) -> Vec<f64> {
    let n_annotators = magnitude.len();
    let mut signs: Vec<f64> = (0..n_annotators)
        .map(|a| f64::from(u8::from(pairs.offsets[a + 1] > pairs.offsets[a])))
        .collect();
    for _ in 0..SIGN_MAX_SWEEPS {
        let mut changed = false;
        for &a in sweep_order {
            let evidence: f64 = (pairs.offsets[a]..pairs.offsets[a + 1])
                .map(|pos| {
                    let b = pairs.neighbour[pos] as usize;
                    f64::from(pairs.common[pos]) * pairs.c[pos] * magnitude[b] * signs[b]
                })
                .sum();
            let sign = if evidence < 0.0 {
                -1.0
            } else if evidence > 0.0 {
                1.0
            } else {
                signs[a]
            };
            changed |= sign != signs[a];
            signs[a] = sign;
        }
        if !changed {
            break;
        }
    }
    let balance: f64 = signs
        .iter()
        .zip(labels_per_annotator)
        .map(|(s, &n)| s * n as f64)
        .sum();
    if balance < 0.0 {
        signs.iter_mut().for_each(|s| *s = -*s);
    }
    signs
}

/// `softmax` of the weighted votes; items whose annotators all weigh 0 get plain vote shares.
fn weighted_posteriors(data: &Annotations, weights: &[f64]) -> Vec<f64> {
    let k = data.n_classes();
    let offsets = data.item_offsets();
    let annotators = data.item_annotators();
    let classes = data.item_classes();
    let mut posteriors = vec![0.0; data.n_items() * k];
    posteriors
        .par_chunks_mut(ITEM_CHUNK * k)
        .enumerate()
        .for_each(|(chunk, rows)| {
            for (local, row) in rows.chunks_exact_mut(k).enumerate() {
                let item = chunk * ITEM_CHUNK + local;
                row.fill(0.0);
                let range = offsets[item]..offsets[item + 1];
                let informative = range
                    .clone()
                    .any(|obs| weights[annotators[obs] as usize] != 0.0);
                for obs in range {
                    let w = if informative {
                        weights[annotators[obs] as usize]
                    } else {
                        1.0
                    };
                    row[classes[obs] as usize] += w;
                }
                if informative {
                    softmax_in_place(row);
                } else {
                    let total: f64 = row.iter().sum();
                    row.iter_mut().for_each(|p| *p /= total);
                }
            }
        });
    posteriors
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 100 items of two classes: annotators 0 and 1 are always right, annotator 2 is wrong on
    /// every fourth item, annotator 3 labels one extra item that nobody else saw.
    fn three_and_a_loner() -> Annotations {
        let mut rows = Vec::new();
        for item in 0..100u32 {
            let truth = item % 2;
            rows.push((item, 0, truth));
            rows.push((item, 1, truth));
            rows.push((item, 2, truth ^ u32::from(item.is_multiple_of(4))));
        }
        rows.push((100, 3, 1));
        Annotations::from_indices(2, rows).unwrap()
    }

    #[test]
    fn skills_by_hand() {
        // C_01 = 1, C_02 = C_12 = 2 · 0.75 − 1 = 0.5, so s = (1, 1, 0.5) up to the clip at
        // 1 − 1/√101: p = s/2 + 1/2. Annotator 3 shares nothing: p = 1/K.
        let fit = Mmsr::default().fit(&three_and_a_loner()).unwrap();
        let Skills::Scalar { name, values } = &fit.skills else {
            panic!("scalar skills")
        };
        assert_eq!(*name, "accuracy");
        let top = (1.0 - 1.0 / 101f64.sqrt()) / 2.0 + 0.5;
        for (got, want) in values.iter().zip([top, top, 0.75, 0.5]) {
            assert!((got - want).abs() < 1e-8, "{values:?}");
        }
        assert!(fit.converged);
        assert!(*fit.objective_trace.last().unwrap() < 1e-10);
        // Item 0: annotator 2 dissents. P(truth) = e^{2 w_top} / (e^{2 w_top} + e^{w_2}).
        let (w_top, w_2) = ((top / (1.0 - top)).ln(), 3f64.ln());
        let want = 1.0 / (1.0 + (w_2 - 2.0 * w_top).exp());
        assert!((fit.posterior(0)[0] - want).abs() < 1e-8);
        // The loner's item falls back to vote shares.
        assert_eq!(fit.posterior(100), [0.0, 1.0]);
        let truth: Vec<u32> = (0..100).map(|i| i % 2).chain([1]).collect();
        assert_eq!(fit.labels, truth);
        for row in fit.posteriors.chunks_exact(2) {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn without_shared_items_it_is_a_majority_vote() {
        // Nobody shares an item: no skill can be seen, every weight is 0, and each item keeps
        // its vote shares.
        let rows = [
            (0, 0, 3),
            (0, 0, 3),
            (0, 0, 7),
            (1, 1, 9),
            (2, 2, 9),
            (3, 3, 7),
        ];
        let fit = Mmsr::default()
            .fit(
                &Annotations::from_indices(10, rows.into_iter().chain([(4, 4, 3), (5, 5, 3)]))
                    .unwrap(),
            )
            .unwrap();
        assert_eq!(fit.labels, [3, 9, 9, 7, 3, 3]);
        assert!((fit.posterior(0)[3] - 2.0 / 3.0).abs() < 1e-15);
        // With two items and three classes the clip bounds cross (−1/2 + 1/√2 > 1 − 1/√2); the
        // lower one wins, as in crowd-kit, and nothing breaks.
        let fit = Mmsr::default()
            .fit(&Annotations::from_indices(10, rows.into_iter().take(4)).unwrap())
            .unwrap();
        assert_eq!(fit.labels, [3, 9]);
        assert!(fit.posteriors.iter().all(|p| p.is_finite()));
    }

    #[test]
    fn trimmed_mean_follows_crowd_kit() {
        let check = |values: &[f64], center: f64, trim: usize, want: f64| {
            let mut values = values.to_vec();
            assert_eq!(trimmed_mean(&mut values, center, trim, 0.125), want);
        };
        let values = [6.0, 1.0, 100.0, 3.0, 5.0, 2.0, 4.0];
        // Two below and two above the centre are dropped.
        check(&values, 4.0, 2, 4.0);
        // Only one value lies below 2: it goes, with the two largest.
        check(&values, 2.0, 2, 3.5);
        check(&values, 4.0, 0, 121.0 / 7.0);
        // Nothing left: the current value stays; a mean of 0 becomes the floor.
        check(&[1.0, 9.0], 5.0, 1, 5.0);
        check(&[0.0, 0.0], 1.0, 0, 0.125);
    }

    #[test]
    fn frobenius_change_matches_the_dense_formula() {
        let (u, v): ([f64; 3], [f64; 3]) = ([0.3, 1.2, 0.7], [0.5, 0.9, 2.0]);
        let (uo, vo) = ([0.31, 1.1, 0.7], [0.5, 1.0, 1.9]);
        let dense: f64 = (0..3)
            .flat_map(|i| (0..3).map(move |j| (i, j)))
            .map(|(i, j)| (u[i] * v[j] - uo[i] * vo[j]).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!((rank_one_change(&u, &v, &uo, &vo) - dense).abs() < 1e-14);
    }

    #[test]
    fn invalid_parameters_are_refused() {
        let data = three_and_a_loner();
        for (params, name) in [
            (
                Mmsr {
                    max_iter: 0,
                    ..Mmsr::default()
                },
                "max_iter",
            ),
            (
                Mmsr {
                    tol: f64::NAN,
                    ..Mmsr::default()
                },
                "tol",
            ),
        ] {
            let err = params.fit(&data).unwrap_err();
            assert!(
                matches!(err, FitError::InvalidParameter { name: n, .. } if n == name),
                "{err}"
            );
        }
    }

    #[test]
    fn same_output_for_any_thread_count() {
        // 150 annotators (three chunks), 5000 items (three chunks), four classes, and one
        // adversary.
        let rows: Vec<(u32, u32, u32)> = (0..5000u32)
            .flat_map(|item| {
                let truth = item % 4;
                (0..5u32).map(move |k| {
                    let a = (item * 7 + k * 31) % 150;
                    let class = if a == 0 {
                        (truth + 1) % 4
                    } else if (item * 13 + a * 5) % 9 < 2 {
                        (truth + a) % 4
                    } else {
                        truth
                    };
                    (item, a, class)
                })
            })
            .collect();
        let data = Annotations::from_indices(4, rows).unwrap();
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    // The check needs no convergence (it takes ~9 000 iterations here).
                    Mmsr {
                        max_iter: 300,
                        ..Mmsr::default()
                    }
                    .fit(&data)
                    .unwrap()
                })
        };
        let one = run(1);
        assert_eq!(one, run(2));
        let Skills::Scalar { values, .. } = &one.skills else {
            panic!("scalar skills")
        };
        assert!(
            values[0] < 0.25,
            "the adversary is below chance: {}",
            values[0]
        );
    }
}
