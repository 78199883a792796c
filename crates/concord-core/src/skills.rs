//! Skill snapshots: each annotator's confusion matrix on a project's primary task, used to update
//! an item's posterior after every submission without a full consensus run.

use concord_consensus::truth::{Fit, Skills};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The accuracy assumed for an annotator the snapshot has not seen (one-coin).
const DEFAULT_ACCURACY: f64 = 0.75;

/// Probability floor, so a label an annotator never gave is unlikely rather than impossible.
const FLOOR: f64 = 1e-6;

/// Strength, in labels per true class, of the prior each annotator's confusion row is shrunk
/// towards (the pool's label-weighted average). An annotator with a handful of labels gets
/// mostly the pool's matrix; one with hundreds, their own. Without it, an early re-fit (a few
/// labels per annotator) produces extreme matrices, and the posterior after each submission
/// turns nonsensical: six agreeing labels read as 0.94, five out of seven as 0.46 (measured in
/// the simulator, `concord-sim`).
const PRIOR_LABELS: f64 = 10.0;

/// Confusion matrices and class prior at one moment, over the primary task's classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkillSnapshot {
    /// Class ids, in the protocol's order.
    pub classes: Vec<String>,
    /// Class prior.
    pub prior: Vec<f64>,
    /// Per annotator id: `confusion[true][given]`, rows summing to 1.
    pub confusion: HashMap<i64, Vec<Vec<f64>>>,
    /// The matrix used for annotators the snapshot has not seen.
    pub fallback: Vec<Vec<f64>>,
    /// Annotations the snapshot was fitted on.
    pub n_annotations: usize,
    /// Per annotator, what routing needs of their matrix, computed once per snapshot.
    #[serde(skip)]
    routing: RoutingCache,
}

/// Row entropies and information bound of one annotator's matrix.
#[derive(Debug, Clone)]
struct MatrixStats {
    row_entropy: Vec<f64>,
    bound: f64,
}

/// [`MatrixStats`] per annotator id (and for the fallback matrix), filled on first use. Not
/// part of the snapshot's value: equal snapshots are equal whatever the cache holds.
#[derive(Debug, Clone, Default)]
struct RoutingCache(std::sync::OnceLock<(HashMap<i64, MatrixStats>, MatrixStats)>);

impl PartialEq for RoutingCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

fn matrix_stats(m: &[Vec<f64>]) -> MatrixStats {
    let kl = |p: &[f64], q: &[f64]| -> f64 {
        p.iter()
            .zip(q)
            .filter(|&(&x, _)| x > 0.0)
            .map(|(&x, &y)| x * (x / y).ln())
            .sum()
    };
    let mut bound: f64 = 0.0;
    for p in m {
        for q in m {
            bound = bound.max(kl(p, q));
        }
    }
    let row_entropy = m
        .iter()
        .map(|row| row.iter().filter(|&&x| x > 0.0).map(|&x| -x * x.ln()).sum())
        .collect();
    MatrixStats { row_entropy, bound }
}

impl SkillSnapshot {
    /// A snapshot before any fit: uniform prior, every annotator one-coin at 0.75.
    pub fn uninformed(classes: Vec<String>) -> Self {
        let k = classes.len();
        let fallback = one_coin(k, DEFAULT_ACCURACY);
        Self {
            prior: vec![1.0 / k as f64; k],
            classes,
            confusion: HashMap::new(),
            fallback,
            n_annotations: 0,
            routing: RoutingCache::default(),
        }
    }

    /// A snapshot from a fit whose classes are `fit_classes` (a subset of `classes`, the
    /// protocol's), with `annotator_ids[a]` the store id of the fit's annotator `a` and
    /// `labels[a]` the number of labels they gave. Each annotator's matrix is the posterior
    /// mean under a Dirichlet prior of [`PRIOR_LABELS`] pseudo-labels per true class centred
    /// on the pool's average matrix (empirical Bayes shrinkage, as in the hierarchical
    /// Dawid–Skene model of Paun et al., TACL 2018, doi:10.1162/tacl_a_00040).
    pub fn from_fit(
        classes: Vec<String>,
        fit_classes: &[Box<str>],
        annotator_ids: &[i64],
        labels: &[usize],
        fit: &Fit,
        n_annotations: usize,
    ) -> Self {
        let k = classes.len();
        let index: Vec<usize> = fit_classes
            .iter()
            .map(|c| {
                classes
                    .iter()
                    .position(|p| p.as_str() == &**c)
                    .expect("fit classes are protocol classes")
            })
            .collect();
        let mut prior = vec![1e-3; k];
        for (f, &p) in fit.class_prior.iter().enumerate() {
            prior[index[f]] += p;
        }
        normalise(&mut prior);
        let kf = fit_classes.len();
        let mut confusion = HashMap::new();
        let summary = fit.skills.summary(&fit.class_prior);
        let fitted: Vec<Vec<Vec<f64>>> = (0..annotator_ids.len())
            .map(|a| match &fit.skills {
                Skills::Confusion { n_classes, values } => {
                    let mut m = one_coin(k, DEFAULT_ACCURACY);
                    for t in 0..kf {
                        for g in 0..kf {
                            m[index[t]][index[g]] = values[(a * n_classes + t) * n_classes + g];
                        }
                    }
                    m
                }
                // Methods with a scalar skill become one-coin matrices of that accuracy.
                _ => one_coin(k, summary[a].clamp(1.0 / k as f64, 0.999)),
            })
            .collect();
        // The pool's matrix: the label-weighted average, in annotator order (deterministic).
        let mut pool = vec![vec![0.0; k]; k];
        for (m, &n) in fitted.iter().zip(labels) {
            for (row, add) in pool.iter_mut().zip(m) {
                for (x, y) in row.iter_mut().zip(add) {
                    *x += n as f64 * y;
                }
            }
        }
        for row in &mut pool {
            normalise(row);
        }
        // The prior: one-coin at the pool's accuracy. A full pooled matrix inherits the label
        // switching an early fit on few labels is prone to; one number does not.
        let accuracy: f64 = (0..k).map(|t| prior[t] * pool[t][t]).sum::<f64>();
        let pool = one_coin(k, accuracy.clamp(1.0 / k as f64, 0.999));
        for (a, &id) in annotator_ids.iter().enumerate() {
            let n = labels.get(a).copied().unwrap_or(0) as f64;
            let matrix: Vec<Vec<f64>> = fitted[a]
                .iter()
                .zip(&pool)
                .enumerate()
                .map(|(t, (own, prior_row))| {
                    // Labels this annotator gave on items of true class t, expected.
                    let n_t = n * prior[t];
                    own.iter()
                        .zip(prior_row)
                        .map(|(x, p)| (n_t * x + PRIOR_LABELS * p) / (n_t + PRIOR_LABELS))
                        .collect()
                })
                .collect();
            let matrix = matrix
                .into_iter()
                .map(|mut row| {
                    row.iter_mut().for_each(|p| *p = p.max(FLOOR));
                    normalise(&mut row);
                    row
                })
                .collect();
            confusion.insert(id, matrix);
        }
        let fallback = pooled(&confusion, k);
        Self {
            classes,
            prior,
            confusion,
            fallback,
            n_annotations,
            routing: RoutingCache::default(),
        }
    }

    /// The posterior over classes of an item labelled `labels` (annotator id, class index), and
    /// its most probable class. `None` when there is no label.
    ///
    /// An annotator with a weight `w` in `weights` (one on probation) has their likelihood
    /// raised to the power `w`: a tempered ("power") likelihood, so their label counts as `w`
    /// of a label of the same skill (Ibrahim and Chen, "Power prior distributions for
    /// regression models", Statistical Science 2000, doi:10.1214/ss/1009212673). Annotators not
    /// in `weights` weigh 1.
    pub fn posterior(
        &self,
        labels: &[(i64, usize)],
        weights: &HashMap<i64, f64>,
    ) -> Option<(usize, Vec<f64>)> {
        if labels.is_empty() {
            return None;
        }
        let k = self.classes.len();
        let mut log = self.prior.iter().map(|p| p.ln()).collect::<Vec<_>>();
        for &(annotator, given) in labels {
            let m = self.matrix(annotator);
            let w = weights.get(&annotator).copied().unwrap_or(1.0);
            for (t, l) in log.iter_mut().enumerate() {
                *l += w * m[t][given].ln();
            }
        }
        let max = log.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut post: Vec<f64> = log.iter().map(|l| (l - max).exp()).collect();
        normalise(&mut post);
        let best = (0..k).fold(0, |b, c| if post[c] > post[b] { c } else { b });
        Some((best, post))
    }
}

impl SkillSnapshot {
    /// The expected information, in nats, that one more read by `annotator` brings about an
    /// item whose posterior is `post`: the mutual information between the true class and
    /// their answer, `H(post) − Σ_g P(g) · H(post | g)` (Lindley, "On a measure of the
    /// information provided by an experiment", 1956, doi:10.1214/aoms/1177728069).
    ///
    /// With a `weight` below 1 (an annotator on probation), the posterior after their answer
    /// is the tempered one [`SkillSnapshot::posterior`] computes, so the gain is what the
    /// engine will actually learn: less than the mutual information.
    pub fn expected_information(&self, post: &[f64], annotator: i64, weight: f64) -> f64 {
        let m = self.matrix(annotator);
        let entropy =
            |p: &[f64]| -> f64 { p.iter().filter(|&&x| x > 0.0).map(|&x| -x * x.ln()).sum() };
        let k = post.len();
        let mut after = 0.0;
        let mut joint = vec![0.0; k];
        // Column g of the confusion matrix: P(answer g | true class t) for every t.
        for column in (0..k).map(|g| m.iter().map(move |row| row[g])) {
            let mut p_g = 0.0;
            for ((j, p), m_tg) in joint.iter_mut().zip(post).zip(column) {
                p_g += p * m_tg;
                *j = p * m_tg.powf(weight);
            }
            let z: f64 = joint.iter().sum();
            if p_g > 0.0 && z > 0.0 {
                joint.iter_mut().for_each(|j| *j /= z);
                after += p_g * entropy(&joint);
            }
        }
        (entropy(post) - after).max(0.0)
    }
}

/// One annotator as routing sees them: their matrix with what makes
/// [`SkillSnapshot::expected_information`] cheap to evaluate for many items.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    /// User id.
    pub id: i64,
    /// Cost per label.
    pub cost: f64,
    /// Weight of their labels (below 1 on probation).
    pub weight: f64,
    /// [`SkillSnapshot::information_bound`] per unit of cost (infinite when tempered).
    pub bound_per_cost: f64,
    snapshot: &'a SkillSnapshot,
    matrix: &'a [Vec<f64>],
    /// `H(G | T = t)`: the entropy of each row of the matrix.
    row_entropy: &'a [f64],
}

impl Reader<'_> {
    /// [`SkillSnapshot::expected_information`] of a read by this annotator. Untempered, as
    /// `H(G) − H(G | T)` (the same mutual information from the answer's side): `k` logarithms
    /// instead of `k²`.
    pub fn information(&self, post: &[f64]) -> f64 {
        if self.weight != 1.0 {
            return self
                .snapshot
                .expected_information(post, self.id, self.weight);
        }
        let k = post.len();
        let mut answer = [0.0f64; 16];
        let mut answer_vec;
        let answer: &mut [f64] = if k <= answer.len() {
            &mut answer[..k]
        } else {
            answer_vec = vec![0.0; k];
            &mut answer_vec
        };
        let mut conditional = 0.0;
        for ((p, row), h) in post.iter().zip(self.matrix).zip(self.row_entropy) {
            conditional += p * h;
            for (a, m) in answer.iter_mut().zip(row) {
                *a += p * m;
            }
        }
        let marginal: f64 = answer
            .iter()
            .filter(|&&x| x > 0.0)
            .map(|&x| -x * x.ln())
            .sum();
        (marginal - conditional).max(0.0)
    }
}

impl SkillSnapshot {
    /// The annotator `id` as routing sees them (see [`Reader`]).
    pub fn reader(&self, id: i64, cost: f64, weight: f64) -> Reader<'_> {
        let stats = self.stats(id);
        Reader {
            id,
            cost,
            weight,
            bound_per_cost: if weight < 1.0 {
                f64::INFINITY // the bound is for untempered reads
            } else {
                stats.bound / cost
            },
            snapshot: self,
            matrix: self.matrix(id),
            row_entropy: &stats.row_entropy,
        }
    }

    fn stats(&self, id: i64) -> &MatrixStats {
        let (by_id, fallback) = self.routing.0.get_or_init(|| {
            let by_id = self
                .confusion
                .iter()
                .map(|(&id, m)| (id, matrix_stats(m)))
                .collect();
            (by_id, matrix_stats(&self.fallback))
        });
        by_id.get(&id).unwrap_or(fallback)
    }

    /// An upper bound, in nats, on [`SkillSnapshot::expected_information`] of an untempered
    /// read by `annotator`, whatever the item's posterior: the largest Kullback–Leibler
    /// divergence between two rows of their confusion matrix. (The information is
    /// `Σ_t p_t KL(m_t ‖ Σ_s p_s m_s)`, and by convexity each term is at most
    /// `Σ_s p_s KL(m_t ‖ m_s)`.) Cheap, so routing can skip annotators who cannot win.
    pub fn information_bound(&self, annotator: i64) -> f64 {
        self.stats(annotator).bound
    }

    /// The annotator's confusion matrix, or the fallback for one the snapshot has not seen.
    pub fn matrix(&self, annotator: i64) -> &[Vec<f64>] {
        self.confusion.get(&annotator).unwrap_or(&self.fallback)
    }
}

fn one_coin(k: usize, accuracy: f64) -> Vec<Vec<f64>> {
    let off = if k > 1 {
        (1.0 - accuracy) / (k - 1) as f64
    } else {
        0.0
    };
    (0..k)
        .map(|t| {
            (0..k)
                .map(|g| if t == g { accuracy } else { off })
                .collect()
        })
        .collect()
}

fn normalise(v: &mut [f64]) {
    let s: f64 = v.iter().sum();
    if s > 0.0 {
        v.iter_mut().for_each(|x| *x /= s);
    }
}

fn pooled(confusion: &HashMap<i64, Vec<Vec<f64>>>, k: usize) -> Vec<Vec<f64>> {
    if confusion.is_empty() {
        return one_coin(k, DEFAULT_ACCURACY);
    }
    let mut ids: Vec<&i64> = confusion.keys().collect();
    ids.sort();
    let mut m = vec![vec![0.0; k]; k];
    for id in ids {
        for (row, add) in m.iter_mut().zip(&confusion[id]) {
            for (x, y) in row.iter_mut().zip(add) {
                *x += y;
            }
        }
    }
    for row in &mut m {
        normalise(row);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_information_is_mutual_information() {
        let mut s = SkillSnapshot::uninformed(vec!["a".into(), "b".into()]);
        s.confusion.insert(1, vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
        s.confusion.insert(2, vec![vec![0.5, 0.5], vec![0.5, 0.5]]);
        let uniform = [0.5, 0.5];
        assert!((s.expected_information(&uniform, 1, 1.0) - 2f64.ln()).abs() < 1e-12);
        assert!(s.expected_information(&uniform, 2, 1.0).abs() < 1e-12);
        // A settled item gains nothing from anyone.
        assert!(s.expected_information(&[1.0, 0.0], 1, 1.0).abs() < 1e-12);
        // The fallback (0.75 one-coin) is in between.
        let fallback = s.expected_information(&uniform, 99, 1.0);
        assert!(fallback > 0.1 && fallback < 2f64.ln());
        // On probation, the same reader teaches the engine less.
        let tempered = s.expected_information(&uniform, 99, 0.5);
        assert!(
            tempered > 0.0 && tempered < fallback,
            "{tempered} vs {fallback}"
        );
    }

    #[test]
    fn the_information_bound_bounds_the_information() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut s = SkillSnapshot::uninformed(vec!["a".into(), "b".into(), "c".into()]);
        for id in 0..20 {
            let matrix = (0..3)
                .map(|t| {
                    let mut row: Vec<f64> = (0..3)
                        .map(|g| rng.random::<f64>() + if t == g { 2.0 } else { 0.0 })
                        .collect();
                    normalise(&mut row);
                    row
                })
                .collect();
            s.confusion.insert(id, matrix);
        }
        for _ in 0..200 {
            let mut post: Vec<f64> = (0..3).map(|_| rng.random::<f64>()).collect();
            normalise(&mut post);
            for id in 0..20 {
                let info = s.expected_information(&post, id, 1.0);
                assert!(info <= s.information_bound(id) + 1e-12, "{id}: {post:?}");
                // The reader's fast form is the same mutual information.
                let fast = s.reader(id, 2.0, 1.0).information(&post);
                assert!((fast - info).abs() < 1e-12, "{fast} vs {info}");
                let tempered = s.reader(id, 2.0, 0.5).information(&post);
                assert_eq!(tempered, s.expected_information(&post, id, 0.5));
            }
        }
    }

    #[test]
    fn uninformed_posterior_is_a_soft_vote() {
        let s = SkillSnapshot::uninformed(vec!["a".into(), "b".into()]);
        let none = HashMap::new();
        let (best, post) = s.posterior(&[(1, 0), (2, 0), (3, 1)], &none).unwrap();
        assert_eq!(best, 0);
        assert!((post[0] - 0.75).abs() < 1e-12, "{post:?}");
        assert!(s.posterior(&[], &none).is_none());
    }

    #[test]
    fn a_label_on_probation_counts_as_a_fraction_of_one() {
        let s = SkillSnapshot::uninformed(vec!["a".into(), "b".into()]);
        // Two readers disagree: an even split...
        let none = HashMap::new();
        let (_, even) = s.posterior(&[(1, 0), (2, 1)], &none).unwrap();
        assert!((even[0] - 0.5).abs() < 1e-12);
        // ...unless reader 2 is on probation: then reader 1 wins.
        let probation = HashMap::from([(2, 0.5)]);
        let (best, post) = s.posterior(&[(1, 0), (2, 1)], &probation).unwrap();
        assert_eq!(best, 0);
        // 3^1 / 3^0.5 against 1: odds sqrt(3).
        assert!((post[0] / post[1] - 3f64.sqrt()).abs() < 1e-9, "{post:?}");
        // A weight of 1 is no weight at all.
        let full = HashMap::from([(2, 1.0)]);
        assert_eq!(s.posterior(&[(1, 0), (2, 1)], &full).unwrap().1, even);
    }
}
