//! Seeded bootstrap intervals: items resampled with replacement for every statistic, and
//! Hayes & Krippendorff's resampling of coincidences for alpha.

use super::alpha::{Alpha, Level, distances, pairable_counts};
use super::error::{AgreementError, Undefined};
use super::interval::{Interval, check_level};
use super::table::CountTable;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// How many resamples, from which seed, at which confidence level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bootstrap {
    /// Number of resamples (default 1000).
    pub resamples: usize,
    /// Master seed: resample `b` draws from the ChaCha8 stream `b` of this seed, so the
    /// interval is the same for any thread count.
    pub seed: u64,
    /// Confidence level of the percentile interval (default 0.95).
    pub level: f64,
}

impl Default for Bootstrap {
    fn default() -> Self {
        Bootstrap {
            resamples: 1000,
            seed: 0,
            level: 0.95,
        }
    }
}

/// A percentile bootstrap interval.
#[derive(Debug, Clone, PartialEq)]
pub struct BootstrapInterval {
    /// The percentile interval.
    pub interval: Interval,
    /// Resamples drawn.
    pub resamples: usize,
    /// Resamples on which the statistic was undefined (left out of the percentiles).
    pub undefined: usize,
    /// The statistic on each resample, in resample order (`None` where undefined).
    pub replicates: Vec<Option<f64>>,
}

/// Bootstrap over items: each resample draws `n_items` items with replacement and evaluates
/// `statistic` on the item multiplicities (`weights[i]` = how often item `i` was drawn), so
/// each statistic reweights per-item contributions it prepared once instead of copying data.
///
/// # Formula
/// Percentile interval: the `(1 − level)/2` and `(1 + level)/2` quantiles (linear
/// interpolation between order statistics, numpy's default) of the defined replicates.
///
/// Efron, B. & Tibshirani, R. J. (1993). An Introduction to the Bootstrap, ch. 13.
///
/// # Errors
/// An invalid level or zero resamples; any input error `statistic` returns;
/// [`Undefined::AllResamplesUndefined`] when no replicate is defined.
pub fn bootstrap_items(
    n_items: usize,
    config: &Bootstrap,
    statistic: impl Fn(&[u32]) -> Result<f64, AgreementError> + Sync,
) -> Result<BootstrapInterval, AgreementError> {
    check(config)?;
    let replicates: Vec<Result<f64, AgreementError>> = (0..config.resamples)
        .into_par_iter()
        .map_init(
            || vec![0u32; n_items],
            |weights, b| {
                weights.fill(0);
                let mut rng = stream(config.seed, b);
                if n_items > 0 {
                    let n = u32::try_from(n_items).unwrap_or(u32::MAX);
                    for _ in 0..n_items {
                        weights[rng.random_range(0..n) as usize] += 1;
                    }
                }
                statistic(weights)
            },
        )
        .collect();
    summarise(replicates, config)
}

/// Bootstrap over items for a statistic that is a function of a sum of per-item contributions
/// (`finish(Σ_i contribution_i)`): the contributions are computed once and grouped into
/// distinct patterns, so a resample costs `n_items` random draws and a sum over patterns,
/// with no pass over the data. Same resamples (seeds, streams) as [`bootstrap_items`].
pub(crate) fn bootstrap_additive(
    n_items: usize,
    width: usize,
    contribution: impl Fn(usize, &mut [f64]),
    finish: impl Fn(&[f64]) -> Result<f64, AgreementError> + Sync,
    config: &Bootstrap,
) -> Result<BootstrapInterval, AgreementError> {
    check(config)?;
    let mut index: rustc_hash::FxHashMap<Vec<u64>, u32> = Default::default();
    let mut patterns: Vec<f64> = Vec::new();
    let mut pattern_of = Vec::with_capacity(n_items);
    let mut row = vec![0.0; width];
    let mut key = Vec::with_capacity(width);
    for item in 0..n_items {
        contribution(item, &mut row);
        key.clear();
        key.extend(row.iter().map(|x| x.to_bits()));
        let next = index.len() as u32;
        let id = *index.entry(key.clone()).or_insert_with(|| {
            patterns.extend_from_slice(&row);
            next
        });
        pattern_of.push(id);
    }
    let n_patterns = index.len();
    let replicates: Vec<Result<f64, AgreementError>> = (0..config.resamples)
        .into_par_iter()
        .map_init(
            || (vec![0u32; n_patterns], vec![0.0; width]),
            |(counts, acc), b| {
                counts.fill(0);
                let mut rng = stream(config.seed, b);
                if n_items > 0 {
                    let n = u32::try_from(n_items).unwrap_or(u32::MAX);
                    for _ in 0..n_items {
                        counts[pattern_of[rng.random_range(0..n) as usize] as usize] += 1;
                    }
                }
                acc.fill(0.0);
                for (p, &count) in counts.iter().enumerate() {
                    if count > 0 {
                        let count = f64::from(count);
                        for (a, x) in acc.iter_mut().zip(&patterns[p * width..(p + 1) * width]) {
                            *a += count * x;
                        }
                    }
                }
                finish(acc)
            },
        )
        .collect();
    summarise(replicates, config)
}

/// Hayes & Krippendorff's bootstrap of alpha: resamples pairs of values from the observed
/// coincidence matrix, keeping the expected disagreement of the full data.
///
/// # Algorithm
/// Krippendorff's "Algorithm for bootstrapping a distribution of α" (2006, rev. 2011), as the
/// KALPHA macro implements it:
/// 1. cells `c ≤ k` of the coincidence matrix get probability `o_cc/n` and `2 o_ck/n`;
/// 2. each resample draws `M = min(25 Q, P)` cells (`Q` non-zero cells of the matrix, `P` the
///    number of pairs of values within units) and sets `α* = 1 − (Σ δ²) / (M D_e)`, floored
///    at −1;
/// 3. a resample with `α* = 1` where only one diagonal cell is non-zero counts as 0, and as
///    many `α* = 1` as lack of variation would make undefined (`B Σ_c (o_cc/n)^M`) are set to
///    0.
///
/// Hayes, A. F. & Krippendorff, K. (2007). Answering the call for a standard reliability
/// measure for coding data. Communication Methods and Measures 1(1), 77–89.
/// doi:10.1080/19312450709336664
///
/// # Errors
/// As [`krippendorff_alpha`](super::krippendorff_alpha); an invalid configuration.
///
/// # Deviations
/// `P` counts the pairs within units (`Σ_u m_u(m_u − 1)/2`); the macro uses
/// `(m − 1) n / 2` with `m` the number of coders, which is the same without missing values.
pub fn alpha_hayes_krippendorff(
    table: &CountTable,
    values: &[f64],
    level: Level,
    config: &Bootstrap,
) -> Result<BootstrapInterval, AgreementError> {
    check(config)?;
    let alpha: Alpha = super::alpha::krippendorff_alpha(table, values, level)?;
    let v = values.len();
    // The coincidence matrix (dense: the bootstrap samples its cells).
    let mut o = vec![0.0; v * v];
    let mut pairs = 0.0;
    for item in 0..table.n_items() {
        let m = table.n_labels(item);
        if m < 2 {
            continue;
        }
        let m = f64::from(m);
        pairs += m * (m - 1.0) / 2.0;
        for (c, nc) in table.item(item) {
            for (k, nk) in table.item(item) {
                let same = if c == k { f64::from(nc) } else { 0.0 };
                o[c as usize * v + k as usize] +=
                    (f64::from(nc) * f64::from(nk) - same) / (m - 1.0);
            }
        }
    }
    let n = alpha.n_pairable;
    let d = distances(values, level, &pairable_counts(table));
    let d_e = alpha.expected_disagreement;
    // Cumulative distribution over cells c ≤ k.
    let mut cumulative = Vec::new();
    let mut deltas = Vec::new();
    let mut total = 0.0;
    for c in 0..v {
        for k in c..v {
            let p = if c == k {
                o[c * v + k] / n
            } else {
                2.0 * o[c * v + k] / n
            };
            if p > 0.0 {
                total += p;
                cumulative.push(total);
                deltas.push(d[c * v + k]);
            }
        }
    }
    let q = o.iter().filter(|&&x| x != 0.0).count() as f64;
    let draws = (25.0 * q).min(pairs).max(1.0) as usize;
    let diagonal: Vec<f64> = (0..v).map(|c| o[c * v + c] / n).collect();
    let one_diagonal_cell = diagonal.iter().filter(|&&x| x != 0.0).count() == 1;
    let mut replicates: Vec<f64> = (0..config.resamples)
        .into_par_iter()
        .map(|b| {
            let mut rng = stream(config.seed, b);
            let mut sum = 0.0;
            for _ in 0..draws {
                let r: f64 = rng.random::<f64>() * total;
                let cell = cumulative
                    .partition_point(|&c| c < r)
                    .min(cumulative.len() - 1);
                sum += deltas[cell];
            }
            let mut a = 1.0 - sum / (draws as f64 * d_e);
            if a < -1.0 {
                a = -1.0;
            }
            if a == 1.0 && one_diagonal_cell {
                a = 0.0;
            }
            a
        })
        .collect();
    // Lack of variation: as many perfect resamples as chance alone would give become 0.
    let expected_ones = (config.resamples as f64
        * diagonal.iter().map(|p| p.powf(draws as f64)).sum::<f64>())
    .round() as usize;
    let mut changed = 0;
    for a in replicates.iter_mut() {
        if changed >= expected_ones {
            break;
        }
        if *a == 1.0 {
            *a = 0.0;
            changed += 1;
        }
    }
    summarise(replicates.into_iter().map(Ok).collect(), config)
}

fn check(config: &Bootstrap) -> Result<(), AgreementError> {
    check_level(config.level)?;
    if config.resamples == 0 {
        return Err(AgreementError::InvalidParameter {
            name: "resamples",
            reason: "must be at least 1".into(),
        });
    }
    Ok(())
}

/// The random stream of resample `b`.
fn stream(seed: u64, b: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(b as u64);
    rng
}

fn summarise(
    replicates: Vec<Result<f64, AgreementError>>,
    config: &Bootstrap,
) -> Result<BootstrapInterval, AgreementError> {
    let mut kept = Vec::with_capacity(replicates.len());
    let mut out = Vec::with_capacity(replicates.len());
    for r in replicates {
        match r {
            Ok(x) => {
                kept.push(x);
                out.push(Some(x));
            }
            Err(AgreementError::Undefined(_)) => out.push(None),
            Err(e) => return Err(e),
        }
    }
    if kept.is_empty() {
        return Err(Undefined::AllResamplesUndefined.into());
    }
    kept.sort_unstable_by(f64::total_cmp);
    let tail = (1.0 - config.level) / 2.0;
    Ok(BootstrapInterval {
        interval: Interval {
            low: quantile(&kept, tail),
            high: quantile(&kept, 1.0 - tail),
            level: config.level,
        },
        resamples: config.resamples,
        undefined: config.resamples - kept.len(),
        replicates: out,
    })
}

/// The `p` quantile of sorted values, interpolating linearly between order statistics.
fn quantile(sorted: &[f64], p: f64) -> f64 {
    let position = p * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = (below + 1).min(sorted.len() - 1);
    let fraction = position - below as f64;
    sorted[below] + fraction * (sorted[above] - sorted[below])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let sorted = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&sorted, 0.0), 1.0);
        assert_eq!(quantile(&sorted, 0.5), 3.0);
        assert_eq!(quantile(&sorted, 0.125), 1.5);
        assert_eq!(quantile(&sorted, 1.0), 5.0);
    }

    #[test]
    fn additive_and_reweighting_bootstraps_agree() {
        let values: Vec<f64> = (0..300).map(|i| f64::from((i * 7919) % 7)).collect();
        let config = Bootstrap {
            resamples: 32,
            seed: 11,
            level: 0.9,
        };
        let reweighted = bootstrap_items(values.len(), &config, |w| {
            let (s, n) = w.iter().zip(&values).fold((0.0, 0.0), |(s, n), (&w, &x)| {
                (s + f64::from(w) * x, n + f64::from(w))
            });
            Ok(s / n)
        })
        .unwrap();
        let additive = bootstrap_additive(
            values.len(),
            2,
            |i, out| {
                out[0] = values[i];
                out[1] = 1.0;
            },
            |acc| Ok(acc[0] / acc[1]),
            &config,
        )
        .unwrap();
        for (a, b) in reweighted.replicates.iter().zip(&additive.replicates) {
            assert!((a.unwrap() - b.unwrap()).abs() < 1e-12);
        }
    }

    #[test]
    fn item_bootstrap_is_seeded_and_thread_independent() {
        let values: Vec<f64> = (0..200).map(|i| f64::from((i * 7919) % 13)).collect();
        let mean = |w: &[u32]| -> Result<f64, AgreementError> {
            let (s, n) = w.iter().zip(&values).fold((0.0, 0.0), |(s, n), (&w, &x)| {
                (s + f64::from(w) * x, n + f64::from(w))
            });
            Ok(s / n)
        };
        let config = Bootstrap {
            resamples: 64,
            seed: 7,
            level: 0.9,
        };
        let many = bootstrap_items(values.len(), &config, mean).unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let one = pool.install(|| bootstrap_items(values.len(), &config, mean).unwrap());
        assert_eq!(many, one);
        let other = bootstrap_items(values.len(), &Bootstrap { seed: 8, ..config }, mean).unwrap();
        assert_ne!(many.replicates, other.replicates);
        assert!(many.interval.low < 6.0 && many.interval.high > 6.0);
    }
}
