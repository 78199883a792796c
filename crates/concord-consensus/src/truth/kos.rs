//! KOS: Karger, Oh & Shah's iterative message passing for binary labels.

use super::fit::{Aggregator, Fit, FitError, Progress, Skills};
use super::kernels::{
    ITEM_CHUNK, decide, keyed_uniform, label_frequencies, name_hash, par_csr_chunks_mut,
};
use crate::data::Annotations;
use rayon::prelude::*;

/// Messages larger than this stop the iteration, as in crowd-kit (`10^300`): the messages grow
/// geometrically and would otherwise overflow to infinity and NaN.
const OVERFLOW: f64 = 1e300;

/// KOS: binary truth inference by message passing between items and annotators.
///
/// Karger, D. R., Oh, S. & Shah, D. (2011). Iterative learning for reliable crowdsourcing
/// systems. *Advances in Neural Information Processing Systems 24* (NeurIPS 2011), 1953–1961.
/// arXiv:1110.3564. Journal version: Budget-optimal task allocation for reliable crowdsourcing
/// systems, *Operations Research* 62(1), 1–24 (2014), doi:10.1287/opre.2013.1235.
///
/// # Model
/// Labels are coded `A_ij = +1` (the first class) or `−1` (the second) for each item `i` and
/// annotator `j` who labelled it. Annotator `j` is right with an unknown probability `p_j`,
/// the same for both classes; the method needs no other model and no prior, only that
/// annotators are on average better than a coin flip (`E[2p_j − 1] > 0`). It passes item
/// messages `x_{i→j}` (evidence about item `i` from everyone but `j`) and annotator messages
/// `y_{j→i}` (reliability of `j` judged on everything but `i`):
///
/// `x_{i→j} = Σ_{j' ∈ ∂i \ j} A_ij' y_{j'→i}`,  `y_{j→i} = c_j Σ_{i' ∈ ∂j \ i} A_i'j x_{i'→j}`,
///
/// where `c_j = 1 / (d_j − 1)` for an annotator with `d_j` labels (`c_j = 1` in the paper and in
/// crowd-kit; see Deviations).
///
/// # Algorithm
/// 1. Draw `y_{j→i} ~ N(1, 1)` independently for every label, from `seed` (in item order).
/// 2. Repeat `max_iter` times: update every `x` from the `y`, then every `y` from the `x`.
///    Stop early, keeping the last messages, when an item sum `Σ_j A_ij y_{j→i}` or an annotator
///    sum `Σ_i A_ij x_{i→j}` exceeds `10^300` in magnitude (the messages are never rescaled and
///    grow geometrically; crowd-kit's overflow guard).
/// 3. Score each item `s_i = Σ_{j ∈ ∂i} A_ij y_{j→i}`; its label is the sign of `s_i`.
/// 4. Orientation: if the labels disagree with more of the annotators' labels than they agree
///    with, negate every message and score (see Deviations).
///
/// # Output
/// - Posteriors: KOS has no probabilistic model, and the magnitude of the messages is arbitrary
///   (it grows with the iterations), so a logistic of `s_i` would be 0 or 1 almost everywhere.
///   Instead the posterior of item `i` is its *signed vote share*: each label `A_ij` votes for
///   its class with weight `A_ij y_{j→i}` (negative weight: a vote for the other class), and
///   `P(first class) = Σ_j max(0, A_ij y_{j→i}) / Σ_j |A_ij y_{j→i}|`. It is scale-free, above ½
///   exactly when `s_i > 0`, and ½ when the score is zero (no usable evidence). It measures how
///   one-sided the weighted evidence is, not a calibrated probability.
/// - Skill: `reliability` in `[−1, 1]`, each annotator's agreement with the item messages sent
///   to them, weighted by their magnitude, `Σ_i A_ij x_{i→j} / Σ_i |x_{i→j}|` — an estimate of
///   `2p_j − 1` (0 for an annotator whose items have no other evidence).
/// - `objective_trace`: after each iteration, the fraction of all labels that agree with the
///   current labels (orientation-free: the larger of agree and disagree).
/// - `converged`: the last iteration changed no item's label. `log_likelihood`: `None`.
/// - `class_prior`: the label frequencies (KOS has no class prior).
/// - Ties: an item whose score is exactly zero (e.g. its only annotator labelled nothing else)
///   gets the first class by the rule of [`Fit::ties`] and is listed there.
///
/// # Deviations
/// - Degree normalisation (`normalize`, default on). Without it an annotator's message is a sum
///   over everything they labelled, so their weight grows with their number of labels. The
///   paper designs and analyses `(ℓ, r)`-regular assignments, where every annotator has `r`
///   labels and `c_j` is one constant for all: there the normalised messages are the paper's
///   divided by `r − 1`, and the labels are identical. Real data are far from regular (on
///   `snow-temp` three annotators labelled 440–462 of 462 items, the median annotator 20), and
///   the unnormalised iteration converges to the direction those few dominate. When they are
///   biased spammers (on `snow-temp` two of them give one class to 94–97% of their items and
///   are right 44% of the time; on `snow-rte` the two busiest, 800 and 760 labels, are right
///   half of the time) nearly every item gets their favourite class: crowd-kit scores
///   0.4975 on `snow-rte` and 0.569 on `snow-temp` (majority vote: 0.875, 0.939). That is not a
///   sign flip — a flipped good answer would score below 0.1, and flipping these gives 0.50 and
///   0.43 — so no choice of sign repairs it.
///   With `c_j = 1/(d_j − 1)` an annotator's message is their *average* agreement with the
///   other evidence, the same scale for everyone, and KOS reaches 0.914 and 0.942 there. The
///   cost: where prolific annotators really are the best ones, weighting by volume helped
///   (`zencrowd-us` 0.8632 against crowd-kit's 0.8725, `zencrowd-all` 0.8436 against 0.8510).
///   `normalize: false` gives crowd-kit's iteration.
/// - Sign disambiguation (step 4). The updates are odd in the messages: negated initial
///   messages give negated scores, so a start with mostly negative messages could end in the
///   label-flipped answer. Step 4 picks the orientation under which the annotators are on
///   average better than chance — the assumption the method rests on. The number of labels
///   agreeing with the inferred labels is `Σ_i sign(s_i) Σ_j A_ij`, so this is also the
///   orientation positively correlated with the majority vote's margins. A tie (as many labels
///   agree as disagree) keeps the orientation found.
/// - Zero scores. crowd-kit looks the label of `sign(s_i) = 0` up in its two-class map and
///   raises `KeyError` (on `trec2011`); here such an item is a tie (above).
/// - Class coding. crowd-kit codes the class that appears first in the data as `+1`; here it is
///   the first class in natural order. With sign disambiguation the coding does not matter.
/// - Random numbers: a ChaCha8 stream (Box–Muller normals), so the initial messages differ from
///   crowd-kit's NumPy draws for the same seed. After 100 iterations the start is forgotten: on
///   the eleven binary public data sets the accuracy is the same for seeds 0–4, and with
///   `normalize: false` it equals crowd-kit's wherever crowd-kit returned labels, except on
///   `snow-temp`, where crowd-kit's degenerate answer has the other orientation
///   (0.5693 = 1 − 0.4307).
///
/// # Limitations
/// KOS assumes every annotator errs symmetrically (one coin for both classes). Where annotators
/// lean hard towards one class it is still pulled below majority vote: on `trec2011`, where two
/// labels in three are of the second class, it scores 0.580 (majority vote 0.661, Dawid–Skene
/// 0.706, IBCC 0.708). Prefer Dawid–Skene or IBCC there.
///
/// # Parameters
/// - `max_iter` (100): number of message-passing iterations (crowd-kit's `n_iter`).
/// - `seed` (0): seed of the initial messages (crowd-kit's `random_state`).
/// - `normalize` (true): divide each annotator message by `d_j − 1` (above).
///
/// # Example
/// ```
/// use concord_consensus::{Annotations, truth::{Aggregator, Kos}};
/// // Three annotators; the third disagrees with the other two on every item.
/// let data = Annotations::from_indices(2, [
///     (0, 0, 0), (0, 1, 0), (0, 2, 1),
///     (1, 0, 1), (1, 1, 1), (1, 2, 0),
///     (2, 0, 0), (2, 1, 0), (2, 2, 1),
/// ]).unwrap();
/// let fit = Kos::default().fit(&data).unwrap();
/// assert_eq!(fit.labels, [0, 1, 0]);
/// ```
#[derive(Debug, Clone)]
pub struct Kos {
    /// Number of message-passing iterations.
    pub max_iter: u32,
    /// Seed of the random initial annotator messages.
    pub seed: u64,
    /// Divide each annotator's messages by their number of other labels (`d_j − 1`).
    pub normalize: bool,
}

impl Default for Kos {
    fn default() -> Self {
        Self {
            max_iter: 100,
            seed: 0,
            normalize: true,
        }
    }
}

impl Aggregator for Kos {
    fn name(&self) -> &'static str {
        "kos"
    }

    fn fit_with_progress(
        &self,
        data: &Annotations,
        progress: &dyn Progress,
    ) -> Result<Fit, FitError> {
        if self.max_iter == 0 {
            return Err(FitError::InvalidParameter {
                method: self.name(),
                name: "max_iter",
                reason: "must be at least 1".into(),
            });
        }
        if data.n_classes() != 2 {
            return Err(FitError::NotBinary {
                method: self.name(),
                n_classes: data.n_classes(),
            });
        }
        Ok(run(
            data,
            self.max_iter,
            self.seed,
            self.normalize,
            progress,
        ))
    }
}

/// Per-item state: the current score `Σ_j A_ij y_{j→i}` and the sign it had last time.
#[derive(Debug, Clone, Copy, Default)]
struct ItemState {
    score: f64,
    sign: i8,
}

/// What one item chunk reports after a scoring pass.
#[derive(Debug, Clone, Copy, Default)]
struct ChunkStats {
    /// Labels equal to their item's current label.
    agree: u64,
    /// Labels opposite to their item's current label.
    disagree: u64,
    /// Items whose label changed.
    flips: u64,
    /// Some item score is beyond [`OVERFLOW`] (or not finite).
    overflow: bool,
}

/// Whether a sum is beyond [`OVERFLOW`] or not a number.
fn overflows(sum: f64) -> bool {
    sum.is_nan() || sum.abs() > OVERFLOW
}

/// `+1` for the first class, `−1` for the second.
fn code(class: u32) -> f64 {
    if class == 0 { 1.0 } else { -1.0 }
}

fn run(
    data: &Annotations,
    max_iter: u32,
    seed: u64,
    normalize: bool,
    progress: &dyn Progress,
) -> Fit {
    let n_items = data.n_items();
    let n_labels = data.n_labels();
    let item_offsets = data.item_offsets();
    let item_annotators = data.item_annotators();
    let item_classes = data.item_classes();
    let annotator_offsets = data.annotator_offsets();
    let annotator_items = data.annotator_items();
    let annotator_classes = data.annotator_classes();

    // Annotator messages `y_{j→i}`, one per label, in the item layout, keyed by the item's and
    // the annotator's names so that the start does not depend on the order of the input rows.
    let annotator_keys: Vec<u64> = data.annotators().iter().map(|n| name_hash(n)).collect();
    let mut y = vec![0.0; n_labels];
    for item in 0..n_items {
        let item_key = name_hash(&data.items()[item]);
        for obs in item_offsets[item]..item_offsets[item + 1] {
            let key = annotator_keys[item_annotators[obs] as usize];
            let u1 = 1.0 - keyed_uniform(seed, item_key, key);
            let u2 = keyed_uniform(seed ^ 0x5bd1_e995, item_key, key);
            y[obs] = 1.0 + standard_normal(u1, u2);
        }
    }

    // The factor of each annotator's messages: `1 / (d_j − 1)` when normalising.
    let scale: Vec<f64> = (0..data.n_annotators())
        .map(|a| {
            let others = annotator_offsets[a + 1] - annotator_offsets[a] - 1;
            if normalize && others > 0 {
                1.0 / others as f64
            } else {
                1.0
            }
        })
        .collect();
    // `Σ_i y_{j→i}` per annotator. After an update it is `c_j (d_j − 1) T_j` (each of the `d_j`
    // messages is `c_j (T_j − A_ij x_{i→j})`, and the `A_ij x_{i→j}` sum to `T_j`), so the
    // annotator pass needs no gather of the messages themselves.
    let mut message_sums = vec![0.0; data.n_annotators()];
    for (&a, &message) in item_annotators.iter().zip(&y) {
        message_sums[a as usize] += message;
    }
    let mut items = vec![ItemState::default(); n_items];
    let mut worker_sums = vec![0.0; data.n_annotators()];
    let mut stats = vec![ChunkStats::default(); n_items.div_ceil(ITEM_CHUNK)];

    // Scores of the initial messages.
    let mut totals = item_pass(data, &mut y, &mut items, &mut stats, None);
    // Room for every iteration up front, so the loop does not allocate.
    let mut trace = Vec::with_capacity(max_iter.min(1 << 20) as usize);
    let mut iterations = 0;
    let mut converged = false;
    while iterations < max_iter && !totals.overflow {
        // Annotator sums `T_j = Σ_i A_ij x_{i→j} = Σ_i A_ij s_i − Σ_i y_{j→i}`, since
        // `x_{i→j} = s_i − A_ij y_{j→i}` and `A_ij² = 1`.
        {
            let items = &items;
            let message_sums = &message_sums;
            worker_sums.par_iter_mut().enumerate().for_each(|(a, sum)| {
                let range = annotator_offsets[a]..annotator_offsets[a + 1];
                let votes: f64 = annotator_items[range.clone()]
                    .iter()
                    .zip(&annotator_classes[range])
                    .map(|(&item, &class)| code(class) * items[item as usize].score)
                    .sum();
                *sum = votes - message_sums[a];
            });
        }
        if worker_sums.par_iter().copied().any(overflows) {
            break;
        }
        // `y_{j→i} = Σ_{i'} A_i'j x_{i'→j} − A_ij x_{i→j}`, then the new scores.
        totals = item_pass(
            data,
            &mut y,
            &mut items,
            &mut stats,
            Some((&worker_sums, &scale)),
        );
        for (a, (total, sum)) in message_sums.iter_mut().zip(&worker_sums).enumerate() {
            let others = (annotator_offsets[a + 1] - annotator_offsets[a] - 1) as f64;
            *total = scale[a] * others * sum;
        }
        iterations += 1;
        converged = totals.flips == 0;
        trace.push(totals.agree.max(totals.disagree) as f64 / n_labels as f64);
        progress.iteration(iterations, max_iter);
    }

    // Orientation: the annotators must agree with the labels more often than not.
    let orientation = if totals.disagree > totals.agree {
        -1.0
    } else {
        1.0
    };

    // Signed vote shares.
    let mut posteriors = vec![0.0; n_items * 2];
    posteriors
        .par_chunks_mut(ITEM_CHUNK * 2)
        .enumerate()
        .for_each(|(chunk, rows)| {
            for (local, row) in rows.chunks_exact_mut(2).enumerate() {
                let item = chunk * ITEM_CHUNK + local;
                let (mut first, mut all) = (0.0, 0.0);
                for obs in item_offsets[item]..item_offsets[item + 1] {
                    let vote = orientation * code(item_classes[obs]) * y[obs];
                    first += vote.max(0.0);
                    all += vote.abs();
                }
                let p = if all > 0.0 { first / all } else { 0.5 };
                row[0] = p;
                row[1] = 1.0 - p;
            }
        });

    // Reliability: agreement with the item messages, `Σ_i A_ij x_{i→j} / Σ_i |x_{i→j}|`, summed
    // in item order.
    let mut agreement = vec![0.0; data.n_annotators()];
    let mut reliability = vec![0.0; data.n_annotators()];
    for item in 0..n_items {
        for obs in item_offsets[item]..item_offsets[item + 1] {
            let a = item_annotators[obs] as usize;
            let class = code(item_classes[obs]);
            let x = orientation * (items[item].score - class * y[obs]);
            agreement[a] += class * x;
            reliability[a] += x.abs();
        }
    }
    for (r, &agree) in reliability.iter_mut().zip(&agreement) {
        *r = if *r > 0.0 { agree / *r } else { 0.0 };
    }

    let (labels, ties) = decide(&posteriors, 2);
    Fit {
        labels,
        n_classes: 2,
        posteriors,
        class_prior: label_frequencies(data),
        skills: Skills::Scalar {
            name: "reliability",
            values: reliability,
        },
        iterations,
        converged,
        log_likelihood: None,
        objective_trace: trace,
        ties,
    }
}

/// One pass over the items. With `update = (T, c)` it first sets each annotator message to
/// `y_{j→i} = c_j (T_j − A_ij x_{i→j})`, where `T_j = Σ_{i'} A_i'j x_{i'→j}` and
/// `x_{i→j} = s_i − A_ij y_{j→i}` uses the previous score and message; then it recomputes each
/// item's score `s_i = Σ_j A_ij y_{j→i}` and counts agreement, label changes and overflow.
fn item_pass(
    data: &Annotations,
    y: &mut [f64],
    items: &mut [ItemState],
    stats: &mut [ChunkStats],
    update: Option<(&[f64], &[f64])>,
) -> ChunkStats {
    let offsets = data.item_offsets();
    let annotators = data.item_annotators();
    let classes = data.item_classes();
    par_csr_chunks_mut(
        offsets,
        ITEM_CHUNK,
        y,
        items,
        stats,
        &|chunk, y, items, stats| {
            let base = offsets[chunk * ITEM_CHUNK];
            let mut out = ChunkStats::default();
            for (local, state) in items.iter_mut().enumerate() {
                let item = chunk * ITEM_CHUNK + local;
                let (mut score, mut margin, mut n) = (0.0, 0.0, 0.0);
                for obs in offsets[item]..offsets[item + 1] {
                    let class = code(classes[obs]);
                    let message = &mut y[obs - base];
                    if let Some((sums, scale)) = update {
                        let a = annotators[obs] as usize;
                        let x = state.score - class * *message;
                        *message = (sums[a] - class * x) * scale[a];
                    }
                    score += class * *message;
                    margin += class;
                    n += 1.0;
                }
                // Labels of the first class: (n + margin) / 2; of the second: (n − margin) / 2.
                let sign = if score > 0.0 {
                    1
                } else if score < 0.0 {
                    -1
                } else {
                    0
                };
                let (with, against) = match sign {
                    1 => ((n + margin) / 2.0, (n - margin) / 2.0),
                    -1 => ((n - margin) / 2.0, (n + margin) / 2.0),
                    _ => (0.0, 0.0),
                };
                out.agree += with as u64;
                out.disagree += against as u64;
                out.flips += u64::from(sign != state.sign);
                out.overflow |= overflows(score);
                *state = ItemState { score, sign };
            }
            *stats = out;
        },
    );
    stats
        .iter()
        .fold(ChunkStats::default(), |acc, s| ChunkStats {
            agree: acc.agree + s.agree,
            disagree: acc.disagree + s.disagree,
            flips: acc.flips + s.flips,
            overflow: acc.overflow || s.overflow,
        })
}

/// A standard normal draw from two uniforms, `u1` in (0, 1] and `u2` in [0, 1) (Box–Muller),
/// so no distribution crate is needed.
fn standard_normal(u1: f64, u2: f64) -> f64 {
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fit of `kos` with default parameters on `(item, annotator, class)` triples.
    fn fit(rows: &[(u32, u32, u32)], n_classes: usize) -> Result<Fit, FitError> {
        let data = Annotations::from_indices(n_classes, rows.iter().copied()).unwrap();
        Kos::default().fit(&data)
    }

    #[test]
    fn two_agree_one_dissents() {
        // Annotators 0 and 1 agree everywhere, annotator 2 always dissents. Once the messages
        // of 0 and 1 are positive (after orientation), every item message sent to 2 has the
        // sign of 0's and 1's label, so 2's reliability is exactly −1 and the labels follow
        // 0 and 1.
        let rows = [
            (0, 0, 0),
            (0, 1, 0),
            (0, 2, 1),
            (1, 0, 1),
            (1, 1, 1),
            (1, 2, 0),
            (2, 0, 0),
            (2, 1, 0),
            (2, 2, 1),
        ];
        let fit = fit(&rows, 2).unwrap();
        assert_eq!(fit.labels, [0, 1, 0]);
        assert!(fit.ties.is_empty());
        for row in fit.posteriors.chunks_exact(2) {
            assert!((row[0] + row[1] - 1.0).abs() < 1e-15);
        }
        let Skills::Scalar { name, values } = &fit.skills else {
            panic!("scalar skills")
        };
        assert_eq!(*name, "reliability");
        assert!(values[0] > 0.0 && values[1] > 0.0);
        assert_eq!(values[2], -1.0);
        assert!(fit.converged);
        assert_eq!(fit.objective_trace.len(), fit.iterations as usize);
    }

    #[test]
    fn orientation_follows_the_majority_whatever_the_seed() {
        // Every seed must give the orientation in which most labels agree with the result.
        let rows: Vec<(u32, u32, u32)> = (0..30)
            .flat_map(|item| {
                let truth = item % 2;
                (0..5).map(move |a| {
                    let wrong = (item + a) % 5 == 0; // one wrong label per item
                    (item, a, if wrong { 1 - truth } else { truth })
                })
            })
            .collect();
        let data = Annotations::from_indices(2, rows).unwrap();
        for seed in 0..20 {
            let fit = Kos {
                seed,
                ..Kos::default()
            }
            .fit(&data)
            .unwrap();
            let expected: Vec<u32> = (0..30).map(|i| i % 2).collect();
            assert_eq!(fit.labels, expected, "seed {seed}");
        }
    }

    #[test]
    fn a_busy_spammer_does_not_outvote_the_crowd() {
        // A miniature `snow-temp`: annotator 0 labels all 60 items and always says class 1;
        // annotators 1..=20 give 4 labels per item and are wrong on one item in seven. Three in
        // four items are of class 1.
        let truth = |item: u32| u32::from(!item.is_multiple_of(4));
        let mut rows = Vec::new();
        for item in 0..60u32 {
            rows.push((item, 0, 1));
            for k in 0..4 {
                let a = (item * 4 + k) % 20;
                let wrong = (item + a) % 7 == 0;
                rows.push((item, 1 + a, truth(item) ^ u32::from(wrong)));
            }
        }
        let data = Annotations::from_indices(2, rows).unwrap();
        let expected: Vec<u32> = (0..60).map(truth).collect();
        assert_eq!(Kos::default().fit(&data).unwrap().labels, expected);
        // Unnormalised (crowd-kit's iteration), the spammer's 60 labels outweigh everyone and
        // every item gets class 1.
        let raw = Kos {
            normalize: false,
            ..Kos::default()
        }
        .fit(&data)
        .unwrap();
        assert_eq!(raw.labels, [1; 60]);
    }

    #[test]
    fn an_item_without_evidence_is_a_tie() {
        // Item 1's only annotator labelled nothing else: from the first iteration on, their
        // message is an empty sum, so the item's score is exactly 0.
        let rows = [(0, 0, 1), (0, 1, 1), (1, 2, 1), (2, 0, 1), (2, 1, 1)];
        let fit = fit(&rows, 2).unwrap();
        assert!(fit.ties.contains(&1));
        assert_eq!(fit.posterior(1), [0.5, 0.5]);
        assert_eq!(fit.labels[1], 0);
    }

    #[test]
    fn refuses_non_binary_data_and_zero_iterations() {
        let rows = [(0, 0, 0), (0, 1, 2)];
        assert_eq!(
            fit(&rows, 3).unwrap_err(),
            FitError::NotBinary {
                method: "kos",
                n_classes: 3
            }
        );
        let data = Annotations::from_indices(2, [(0, 0, 0)]).unwrap();
        let err = Kos {
            max_iter: 0,
            ..Kos::default()
        }
        .fit(&data)
        .unwrap_err();
        assert!(matches!(
            err,
            FitError::InvalidParameter {
                name: "max_iter",
                ..
            }
        ));
    }

    #[test]
    fn same_output_for_any_thread_count() {
        // Enough items for several chunks.
        let rows: Vec<(u32, u32, u32)> = (0..5000u32)
            .flat_map(|item| {
                (0..4u32).map(move |k| {
                    let a = (item * 7 + k * 13) % 50;
                    let class = u32::from((item * 31 + a * 17) % 7 < 2) ^ (item % 2);
                    (item, a, class)
                })
            })
            .collect();
        let data = Annotations::from_indices(2, rows).unwrap();
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| Kos::default().fit(&data).unwrap())
        };
        assert_eq!(run(1), run(2));
    }
}
