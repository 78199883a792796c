//! The chance-corrected coefficients of irrCAC (Gwet's AC1/AC2, Brennan–Prediger, Fleiss'
//! generalised kappa, Conger's kappa, percent agreement) with Gwet's linearised standard
//! errors.
//!
//! One engine computes them all from a [`CountTable`]: the observed agreement `p_a` is shared,
//! only the chance agreement `p_e` and its per-item linearisation differ.

use super::error::{AgreementError, Undefined, ratio};
use super::interval::{Interval, t_cdf, t_interval};
use super::table::{CountTable, ItemWeights, Ratings, chunked_sum};
use super::weights::Weights;

/// A chance-corrected agreement coefficient `(p_a − p_e) / (1 − p_e)` with its parts and
/// irrCAC's standard error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coefficient {
    /// The coefficient.
    pub value: f64,
    /// Observed (weighted) agreement `p_a`.
    pub pa: f64,
    /// Chance agreement `p_e`.
    pub pe: f64,
    /// Standard error (Gwet's linearisation); `None` with fewer than two items.
    pub se: Option<f64>,
    /// Items the variance is taken over (`n`; the t interval has `n − 1` degrees of freedom).
    pub n_items: usize,
}

impl Coefficient {
    /// irrCAC's t interval: `value ± t_{(1+level)/2, n−1} · se`, upper bound clipped to 1.
    ///
    /// # Errors
    /// [`Undefined::TooFewItems`] without a standard error; an invalid `level`.
    pub fn interval(&self, level: f64) -> Result<Interval, AgreementError> {
        let se = self.se.ok_or(Undefined::TooFewItems)?;
        t_interval(self.value, se, self.n_items as f64 - 1.0, level)
    }

    /// `value / se`, with irrCAC's convention that an exactly-zero standard error counts as
    /// 1e-15.
    pub fn z(&self) -> Option<f64> {
        self.se
            .map(|se| self.value / if se == 0.0 { 1e-15 } else { se })
    }

    /// p-value of the t test of `value = 0` (`n − 1` degrees of freedom): two-sided
    /// `2(1 − T(|z|))`, or one-sided `1 − T(|z|)` (irrCAC's Brennan–Prediger).
    pub fn p_value(&self, two_sided: bool) -> Option<f64> {
        let z = self.z()?;
        let tail = 1.0 - t_cdf(z.abs(), self.n_items as f64 - 1.0);
        Some(if two_sided { 2.0 * tail } else { tail })
    }
}

/// Which chance agreement the engine subtracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chance {
    /// Gwet (2008): `p_e = T_w/(q(q−1)) · Σ_k π_k(1 − π_k)`.
    Gwet,
    /// Fleiss (1971), generalised to weights and missing labels: `p_e = Σ_kl w_kl π_k π_l`.
    Fleiss,
    /// Brennan & Prediger (1981): `p_e = T_w / q²` (with identity weights, Randolph's `1/q`).
    BrennanPrediger,
    /// No chance correction: the coefficient is the percent agreement itself.
    None,
}

/// Gwet's AC1 (identity weights) or AC2 (any other weights), as irrCAC's `CAC.gwet()`.
///
/// # Formula
/// `p_a = (1/n₂) Σ_{i: r_i ≥ 2} Σ_k n_ik (n*_ik − 1) / (r_i (r_i − 1))` with
/// `n*_ik = Σ_l w_kl n_il`; `π_k = (1/n) Σ_i n_ik / r_i`;
/// `p_e = T_w / (q(q − 1)) · Σ_k π_k (1 − π_k)` with `T_w = Σ_kl w_kl`;
/// `AC = (p_a − p_e) / (1 − p_e)`. The variance is Gwet's linearisation
/// `v = 1/(n(n−1)) Σ_i (AC*_i − AC)²` with
/// `AC*_i = (n/n₂)(p_a|i − p_e[r_i ≥ 2])/(1 − p_e) − 2(1 − AC)(p_e|i − p_e)/(1 − p_e)`.
///
/// Gwet, K. L. (2008). Computing inter-rater reliability and its variance in the presence of
/// high agreement. British Journal of Mathematical and Statistical Psychology 61(1), 29–48.
/// doi:10.1348/000711006X126600
///
/// # Example
/// ```
/// use concord_consensus::agreement::{gwet_ac, CountTable, Weights};
/// // 3 items, 2 raters, categories {0, 1}: two agreements, one disagreement.
/// let table = CountTable::from_dense(&[2, 0, 1, 1, 0, 2], 2).unwrap();
/// let ac1 = gwet_ac(&table, &Weights::identity(2)).unwrap();
/// assert!((ac1.pa - 2.0 / 3.0).abs() < 1e-12);
/// ```
///
/// # Errors
/// [`Undefined::NoPairableItem`] when no item has two labels; [`Undefined::NoVariation`] when
/// `p_e = 1`; [`AgreementError::LengthMismatch`] when the weights do not fit the table.
///
/// # Deviations
/// None: with a single category irrCAC sets `p_e = 1 − 10⁻¹⁵`, and so does this.
pub fn gwet_ac(table: &CountTable, weights: &Weights) -> Result<Coefficient, AgreementError> {
    chance_corrected(table, weights, Chance::Gwet, ItemWeights::Ones, true)
}

/// Brennan & Prediger's coefficient, as irrCAC's `CAC.bp()`: chance agreement `T_w / q²`. With
/// identity weights this is Randolph's free-marginal kappa (`p_e = 1/q`).
///
/// Brennan, R. L. & Prediger, D. J. (1981). Coefficient kappa: some uses, misuses, and
/// alternatives. Educational and Psychological Measurement 41(3), 687–699.
/// doi:10.1177/001316448104100307
///
/// # Errors
/// As [`gwet_ac`].
///
/// # Deviations
/// None: the variance has no chance term, as in irrCAC.
pub fn brennan_prediger(
    table: &CountTable,
    weights: &Weights,
) -> Result<Coefficient, AgreementError> {
    chance_corrected(
        table,
        weights,
        Chance::BrennanPrediger,
        ItemWeights::Ones,
        true,
    )
}

/// The engine behind [`gwet_ac`], [`brennan_prediger`], Fleiss' generalised kappa and percent
/// agreement. `item_weights` are bootstrap multiplicities (the standard error is only
/// computed for [`ItemWeights::Ones`]).
pub(crate) fn chance_corrected(
    table: &CountTable,
    weights: &Weights,
    chance: Chance,
    item_weights: ItemWeights<'_>,
    with_se: bool,
) -> Result<Coefficient, AgreementError> {
    let parts = ChanceParts::new(table, weights, chance)?;
    let q = table.n_categories();
    let n_items = table.n_items();
    let acc = chunked_sum(n_items, parts.width(), |range, acc| {
        for item in range {
            parts.add(item, item_weights.get(item), acc);
        }
    });
    let (pa, pe, value) = parts.finish(&acc)?;
    let (n, n2) = (acc[0], acc[1]);
    let pi: Vec<f64> = acc[3..].iter().map(|s| s / n).collect();
    let qf = q as f64;
    let mut coefficient = Coefficient {
        value,
        pa,
        pe,
        se: None,
        n_items: n as usize,
    };
    if !with_se || !matches!(item_weights, ItemWeights::Ones) || n < 2.0 {
        return Ok(coefficient);
    }
    // The per-item chance agreement p_e|i.
    let gwet_scale = if q >= 2 {
        weights.total() / (qf * (qf - 1.0))
    } else {
        f64::NAN
    };
    let pi_w: Vec<f64> = match chance {
        Chance::Fleiss => {
            let a = weights.apply(&pi);
            let b = weights.apply_transposed(&pi);
            a.iter().zip(&b).map(|(x, y)| (x + y) / 2.0).collect()
        }
        Chance::Gwet => pi.iter().map(|p| gwet_scale * (1.0 - p)).collect(),
        _ => Vec::new(),
    };
    let acc = chunked_sum(n_items, 1, |range, acc| {
        for item in range {
            let r = table.n_labels(item);
            if r == 0 {
                continue;
            }
            let r = f64::from(r);
            let den = r * (r - 1.0);
            let den = if den == 0.0 { -1.0 } else { den };
            let pa_i = sum_q(table, item, weights) / den;
            let pe_r2 = if r >= 2.0 { pe } else { 0.0 };
            let coef_i = (n / n2) * (pa_i - pe_r2) / (1.0 - pe);
            let x = match chance {
                Chance::Fleiss | Chance::Gwet => {
                    let pe_i: f64 = table
                        .item(item)
                        .map(|(c, count)| f64::from(count) * pi_w[c as usize])
                        .sum::<f64>()
                        / r;
                    coef_i - 2.0 * (1.0 - value) * (pe_i - pe) / (1.0 - pe)
                }
                Chance::BrennanPrediger | Chance::None => coef_i,
            };
            acc[0] += (x - value) * (x - value);
        }
    });
    coefficient.se = Some((acc[0] / (n * (n - 1.0))).sqrt());
    Ok(coefficient)
}

/// The additive parts of the engine. Item `i` contributes `[1, [r_i ≥ 2], p_a|i [r_i ≥ 2],
/// n_i1/r_i, …, n_iq/r_i]` and the coefficient is a function of their sum, so the estimate and
/// every bootstrap resample (a reweighted sum) share one formula.
pub(crate) struct ChanceParts<'a> {
    table: &'a CountTable,
    weights: &'a Weights,
    chance: Chance,
}

impl<'a> ChanceParts<'a> {
    pub(crate) fn new(
        table: &'a CountTable,
        weights: &'a Weights,
        chance: Chance,
    ) -> Result<Self, AgreementError> {
        if weights.len() != table.n_categories() {
            return Err(AgreementError::LengthMismatch {
                what: "weights",
                expected: table.n_categories(),
                found: weights.len(),
            });
        }
        Ok(ChanceParts {
            table,
            weights,
            chance,
        })
    }

    pub(crate) fn width(&self) -> usize {
        3 + self.table.n_categories()
    }

    /// Adds `w` times item `item`'s contribution to `acc`.
    #[inline]
    pub(crate) fn add(&self, item: usize, w: f64, acc: &mut [f64]) {
        let r = self.table.n_labels(item);
        if r == 0 || w == 0.0 {
            return;
        }
        acc[0] += w;
        let r = f64::from(r);
        for (c, n) in self.table.item(item) {
            acc[3 + c as usize] += w * f64::from(n) / r;
        }
        if r >= 2.0 {
            acc[1] += w;
            acc[2] += w * sum_q(self.table, item, self.weights) / (r * (r - 1.0));
        }
    }

    /// `(p_a, p_e, coefficient)` from the summed contributions.
    pub(crate) fn finish(&self, acc: &[f64]) -> Result<(f64, f64, f64), AgreementError> {
        let (n, n2) = (acc[0], acc[1]);
        if n2 == 0.0 {
            return Err(Undefined::NoPairableItem.into());
        }
        let q = self.table.n_categories();
        let pa = acc[2] / n2;
        let pi: Vec<f64> = acc[3..].iter().map(|s| s / n).collect();
        let qf = q as f64;
        let weights = self.weights;
        let pe = match self.chance {
            Chance::Gwet if q >= 2 => {
                weights.total() * pi.iter().map(|p| p * (1.0 - p)).sum::<f64>() / (qf * (qf - 1.0))
            }
            Chance::Gwet => 1.0 - 1e-15,
            Chance::BrennanPrediger if q >= 2 => weights.total() / (qf * qf),
            Chance::BrennanPrediger => 1e-15,
            Chance::Fleiss => weights
                .apply(&pi)
                .iter()
                .zip(&pi)
                .map(|(wp, p)| wp * p)
                .sum(),
            Chance::None => 0.0,
        };
        Ok((pa, pe, ratio(pa - pe, 1.0 - pe)?))
    }
}

/// `Σ_k n_ik (n*_ik − 1)` with `n*_ik = Σ_l w_kl n_il`: twice the weighted agreeing pairs of
/// item `item`.
#[inline]
pub(crate) fn sum_q(table: &CountTable, item: usize, weights: &Weights) -> f64 {
    if weights.is_identity() {
        return table
            .item(item)
            .map(|(_, n)| {
                let n = f64::from(n);
                n * (n - 1.0)
            })
            .sum();
    }
    let mut total = 0.0;
    for (k, nk) in table.item(item) {
        let star: f64 = table
            .item(item)
            .map(|(l, nl)| weights.get(k as usize, l as usize) * f64::from(nl))
            .sum();
        total += f64::from(nk) * (star - 1.0);
    }
    total
}

/// Conger's kappa, as irrCAC's `CAC.conger()`: Fleiss' observed agreement with the chance
/// agreement of Cohen's kappa averaged over all pairs of raters.
///
/// # Formula
/// With `p_gk` the share of rater `g`'s labels in category `k`, `p̄_k = (1/r) Σ_g p_gk` and
/// `s²_kl = (Σ_g p_gk p_gl − r p̄_k p̄_l)/(r − 1)`:
/// `p_e = Σ_kl w_kl (p̄_k p̄_l − s²_kl / r)`, `κ = (p_a − p_e)/(1 − p_e)` with `p_a` as in
/// [`gwet_ac`]. For two raters with no missing label this is Cohen's (weighted) kappa.
/// The variance is Gwet's linearisation (Gwet 2014, §5.4), as irrCAC computes it.
///
/// Conger, A. J. (1980). Integration and generalization of kappas for multiple raters.
/// Psychological Bulletin 88(2), 322–328. doi:10.1037/0033-2909.88.2.322
///
/// # Errors
/// As [`gwet_ac`].
///
/// # Deviations
/// A rater (column) with no label at all is left out; irrCAC's answer would be NaN.
pub fn conger_kappa(ratings: &Ratings, weights: &Weights) -> Result<Coefficient, AgreementError> {
    conger(ratings, &ratings.counts(), weights, ItemWeights::Ones, true)
}

pub(crate) fn conger(
    ratings: &Ratings,
    table: &CountTable,
    weights: &Weights,
    item_weights: ItemWeights<'_>,
    with_se: bool,
) -> Result<Coefficient, AgreementError> {
    let q = ratings.n_categories();
    if weights.len() != q {
        return Err(AgreementError::LengthMismatch {
            what: "weights",
            expected: q,
            found: weights.len(),
        });
    }
    let n_raters = ratings.n_annotators();
    let n_items = ratings.n_items();
    // Observed agreement from the count table (same as Fleiss).
    let mut n = 0.0;
    let mut n2 = 0.0;
    let mut pa_sum = 0.0;
    // classification[g * q + k]: (weighted) labels of rater g in category k.
    let mut classification = vec![0.0; n_raters * q];
    for item in 0..n_items {
        let w = item_weights.get(item);
        if w == 0.0 {
            continue;
        }
        n += w;
        let r = f64::from(table.n_labels(item));
        if r >= 2.0 {
            n2 += w;
            pa_sum += w * sum_q(table, item, weights) / (r * (r - 1.0));
        }
        for (g, c) in ratings.item(item) {
            classification[g as usize * q + c as usize] += w;
        }
    }
    if n2 == 0.0 {
        return Err(Undefined::NoPairableItem.into());
    }
    let pa = pa_sum / n2;
    // Raters with at least one label, and their classification probabilities.
    let rated: Vec<usize> = (0..n_raters)
        .filter(|&g| classification[g * q..(g + 1) * q].iter().sum::<f64>() > 0.0)
        .collect();
    let r = rated.len() as f64;
    let mut n_g = vec![0.0; n_raters];
    let mut p = vec![0.0; n_raters * q];
    for &g in &rated {
        n_g[g] = classification[g * q..(g + 1) * q].iter().sum();
        for k in 0..q {
            p[g * q + k] = classification[g * q + k] / n_g[g];
        }
    }
    let mut p_mean = vec![0.0; q];
    for &g in &rated {
        for k in 0..q {
            p_mean[k] += p[g * q + k] / r;
        }
    }
    // p_e = Σ_kl w_kl (p̄_k p̄_l − s²_kl / r), s²_kl = (Σ_g p_gk p_gl − r p̄_k p̄_l)/(r − 1).
    let mut pe = 0.0;
    for k in 0..q {
        for l in 0..q {
            let cross: f64 = rated.iter().map(|&g| p[g * q + k] * p[g * q + l]).sum();
            let s2 = (cross - r * p_mean[k] * p_mean[l]) / (r - 1.0);
            pe += weights.get(k, l) * (p_mean[k] * p_mean[l] - s2 / r);
        }
    }
    let value = ratio(pa - pe, 1.0 - pe)?;
    let mut coefficient = Coefficient {
        value,
        pa,
        pe,
        se: None,
        n_items: n as usize,
    };
    if !with_se || !matches!(item_weights, ItemWeights::Ones) || n < 2.0 {
        return Ok(coefficient);
    }
    // Per-item chance agreement (see the module notes in docs/agreement.md):
    // p_e|i = [Σ_g D_g + Σ_{(g,c) ∈ i} (n/n_g)(C_gc − D_g)] / (r(r − 1)) with
    // A_gk = Σ_l w_kl p_gl, B_gk = r p̄_k − p_gk, C_gc = Σ_k w_kc B_gk, D_g = Σ_k A_gk B_gk.
    let mut c_mat = vec![0.0; n_raters * q];
    let mut d = vec![0.0; n_raters];
    for &g in &rated {
        let pg = &p[g * q..(g + 1) * q];
        let a = weights.apply(pg);
        let b: Vec<f64> = (0..q).map(|k| r * p_mean[k] - pg[k]).collect();
        d[g] = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        for c in 0..q {
            c_mat[g * q + c] = (0..q).map(|k| weights.get(k, c) * b[k]).sum();
        }
    }
    let d_total: f64 = d.iter().sum();
    let mut sum_sq = 0.0;
    for item in 0..n_items {
        let r_i = f64::from(table.n_labels(item));
        let den = r_i * (r_i - 1.0);
        let den = if den == 0.0 { -1.0 } else { den };
        let pa_i = sum_q(table, item, weights) / den;
        let pe_r2 = if r_i >= 2.0 { pe } else { 0.0 };
        let kappa_i = n / n2 * (pa_i - pe_r2) / (1.0 - pe);
        let lambda: f64 = d_total
            + ratings
                .item(item)
                .map(|(g, c)| {
                    let g = g as usize;
                    n / n_g[g] * (c_mat[g * q + c as usize] - d[g])
                })
                .sum::<f64>();
        let pe_i = lambda / (r * (r - 1.0));
        let x = kappa_i - 2.0 * (1.0 - value) * (pe_i - pe) / (1.0 - pe);
        sum_sq += (x - value) * (x - value);
    }
    coefficient.se = Some((sum_sq / (n * (n - 1.0))).sqrt());
    Ok(coefficient)
}
