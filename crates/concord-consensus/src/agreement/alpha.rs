//! Krippendorff's alpha for nominal, ordinal, interval and ratio data, with missing values, as
//! the `krippendorff` Python package computes it; and irrCAC's formulation of alpha, which
//! gives its standard error.

use super::error::{AgreementError, Undefined};
use super::gwet::{Coefficient, sum_q};
use super::table::{CountTable, ItemWeights, chunked_sum};
use super::weights::Weights;

/// Level of measurement: which difference function alpha uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Level {
    /// `δ²(c, k) = [c ≠ k]`.
    #[default]
    Nominal,
    /// `δ²(c, k) = (Σ_{g=c}^{k} n_g − (n_c + n_k)/2)²`, on the ranks of the values.
    Ordinal,
    /// `δ²(c, k) = (x_c − x_k)²`.
    Interval,
    /// `δ²(c, k) = ((x_c − x_k)/(x_c + x_k))²`, 0 when `x_c + x_k = 0`.
    Ratio,
}

impl Level {
    /// All levels, in the order above.
    pub const ALL: [Level; 4] = [
        Level::Nominal,
        Level::Ordinal,
        Level::Interval,
        Level::Ratio,
    ];

    /// The level's name (`nominal`, …).
    pub fn name(self) -> &'static str {
        match self {
            Level::Nominal => "nominal",
            Level::Ordinal => "ordinal",
            Level::Interval => "interval",
            Level::Ratio => "ratio",
        }
    }

    /// Whether the level needs numeric values (interval, ratio) or at least an order
    /// (ordinal).
    pub fn needs_order(self) -> bool {
        self != Level::Nominal
    }
}

impl std::str::FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Level::ALL
            .into_iter()
            .find(|l| l.name() == s)
            .ok_or_else(|| {
                format!("unknown level `{s}` (expected nominal, ordinal, interval or ratio)")
            })
    }
}

/// Krippendorff's alpha and its parts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alpha {
    /// `α = 1 − D_o / D_e`.
    pub value: f64,
    /// Observed disagreement `D_o = (1/n) Σ_ck o_ck δ²_ck`.
    pub observed_disagreement: f64,
    /// Expected disagreement `D_e = (1/(n(n − 1))) Σ_ck n_c n_k δ²_ck`.
    pub expected_disagreement: f64,
    /// Number of pairable values `n` (values in units with at least two values).
    pub n_pairable: f64,
    /// Number of units with at least two values.
    pub n_units: usize,
}

/// Krippendorff's alpha of a units × values count table, as
/// `krippendorff.alpha(value_counts=…, value_domain=values, level_of_measurement=level)`.
///
/// `values` is the value domain: the value of each category (column), in order. Units with
/// fewer than two values are not pairable and contribute nothing.
///
/// # Formula
/// Coincidences `o_ck = Σ_u (n_uc n_uk − [c = k] n_uc) / (m_u − 1)` over units with
/// `m_u ≥ 2` values, `n_c = Σ_k o_ck`, `n = Σ_c n_c`;
/// `α = 1 − (n − 1) Σ_ck o_ck δ²_ck / Σ_ck n_c n_k δ²_ck` with `δ²` from [`Level`].
/// Computed without the `V × V` matrix where the level allows: per unit from its distinct
/// values (or from moments when a unit holds many), and the ordinal distance as an interval
/// distance between mid-ranks `p_c = Σ_{g<c} n_g + n_c/2`.
///
/// Krippendorff, K. (2011). Computing Krippendorff's alpha-reliability. Annenberg School for
/// Communication Departmental Papers 43. <https://repository.upenn.edu/asc_papers/43>
///
/// # Example
/// ```
/// use concord_consensus::agreement::{krippendorff_alpha, CountTable, Level};
/// // Krippendorff (2011)'s 3-coder example as value counts over values 1..4.
/// let counts = [1,0,0,0, 0,0,0,0, 0,2,0,0, 2,0,0,0, 0,0,2,0, 0,0,2,1, 0,0,0,3, 1,0,1,0,
///               0,2,0,0, 2,0,0,0, 2,0,0,0, 0,0,2,0, 0,0,2,0, 0,0,0,0, 0,0,1,1];
/// let table = CountTable::from_dense(&counts, 4).unwrap();
/// let alpha = krippendorff_alpha(&table, &[1.0, 2.0, 3.0, 4.0], Level::Nominal).unwrap();
/// assert!((alpha.value - 0.691358024691358).abs() < 1e-12);
/// ```
///
/// # Errors
/// [`AgreementError::LengthMismatch`] when `values` does not name every column;
/// [`Undefined::SingleValue`] for a domain of fewer than two values and
/// [`Undefined::NoPairableItem`] when no unit has two values (krippendorff raises
/// `ValueError`); [`Undefined::NoVariation`] when `D_e = 0` (krippendorff returns NaN).
///
/// # Deviations
/// None. Sums run over fixed chunks of units in parallel; the result does not depend on the
/// thread count.
pub fn krippendorff_alpha(
    table: &CountTable,
    values: &[f64],
    level: Level,
) -> Result<Alpha, AgreementError> {
    alpha_weighted(table, values, level, ItemWeights::Ones)
}

/// Above this many distinct values in one unit, interval and ordinal disagreement use moments
/// instead of pairs.
const PAIRWISE_LIMIT: usize = 16;
/// Above this many values in the domain, the expected disagreement uses moments.
const DOMAIN_PAIRWISE_LIMIT: usize = 64;

pub(crate) fn alpha_weighted(
    table: &CountTable,
    values: &[f64],
    level: Level,
    item_weights: ItemWeights<'_>,
) -> Result<Alpha, AgreementError> {
    let v = table.n_categories();
    if values.len() != v {
        return Err(AgreementError::LengthMismatch {
            what: "value domain",
            expected: v,
            found: values.len(),
        });
    }
    if v <= 1 {
        return Err(Undefined::SingleValue.into());
    }
    let n_items = table.n_items();
    // Pass 1: pairable value counts n_c, the number of pairable units and, where the distance
    // does not depend on n_c (every level but ordinal), the observed disagreement
    // Σ_u 2 Σ_{c<k ∈ u} n_uc n_uk δ² / (m_u − 1).
    let fused = level != Level::Ordinal;
    let fixed = coordinates(level, values, &vec![1.0; v]);
    let acc = chunked_sum(n_items, v + 2, |range, acc| {
        let mut cells = Vec::new();
        for item in range {
            let m = table.n_labels(item);
            let w = item_weights.get(item);
            if m < 2 || w == 0.0 {
                continue;
            }
            acc[v] += w;
            cells.clear();
            for (c, n) in table.item(item) {
                let n = f64::from(n);
                acc[c as usize] += w * n;
                cells.push((c as usize, n));
            }
            if fused {
                acc[v + 1] += w * cells_disagreement(&cells, f64::from(m), level, &fixed, values);
            }
        }
    });
    let n_units = acc[v];
    let n_c = &acc[..v];
    if n_units == 0.0 {
        return Err(Undefined::NoPairableItem.into());
    }
    let n: f64 = n_c.iter().sum();
    let centred = coordinates(level, values, n_c);
    // Pass 2 (ordinal): the observed disagreement with the mid-ranks of these counts.
    let observed = if fused {
        acc[v + 1]
    } else {
        chunked_sum(n_items, 1, |range, acc| {
            let mut cells = Vec::new();
            for item in range {
                let w = item_weights.get(item);
                if w != 0.0 {
                    acc[0] +=
                        w * unit_disagreement(table, item, level, &centred, values, &mut cells);
                }
            }
        })[0]
    };
    finish_alpha(
        n,
        n_units,
        observed,
        expected_pairs(n_c, level, &centred, values),
    )
}

/// `α` from the number of pairable values, the observed `Σ_u 2 Σ_{c<k} n_uc n_uk δ²/(m_u − 1)`
/// and the expected `2 Σ_{c<k} n_c n_k δ²`.
fn finish_alpha(
    n: f64,
    n_units: f64,
    observed: f64,
    expected: f64,
) -> Result<Alpha, AgreementError> {
    if n_units == 0.0 {
        return Err(Undefined::NoPairableItem.into());
    }
    if expected == 0.0 {
        return Err(Undefined::NoVariation.into());
    }
    Ok(Alpha {
        value: 1.0 - (n - 1.0) * observed / expected,
        observed_disagreement: observed / n,
        expected_disagreement: expected / (n * (n - 1.0)),
        n_pairable: n,
        n_units: n_units as usize,
    })
}

/// Coordinates in which interval and ordinal distances are squared differences (ordinal:
/// mid-ranks `p_c = Σ_{g<c} n_g + n_c/2`), centred on their mean so that moment formulas keep
/// their digits.
fn coordinates(level: Level, values: &[f64], n_c: &[f64]) -> Vec<f64> {
    let coords: Vec<f64> = match level {
        Level::Ordinal => {
            let mut below = 0.0;
            n_c.iter()
                .map(|&nc| {
                    let p = below + nc / 2.0;
                    below += nc;
                    p
                })
                .collect()
        }
        _ => values.to_vec(),
    };
    let n: f64 = n_c.iter().sum();
    let centre = if n > 0.0 {
        coords.iter().zip(n_c).map(|(x, nc)| x * nc).sum::<f64>() / n
    } else {
        0.0
    };
    coords.iter().map(|x| x - centre).collect()
}

/// `δ²(c, k)` of a level, with `centred` from [`coordinates`].
#[inline]
fn delta(level: Level, centred: &[f64], values: &[f64], c: usize, k: usize) -> f64 {
    match level {
        Level::Nominal => f64::from(u8::from(c != k)),
        Level::Ordinal | Level::Interval => (centred[c] - centred[k]).powi(2),
        Level::Ratio => {
            let s = values[c] + values[k];
            if s == 0.0 {
                0.0
            } else {
                ((values[c] - values[k]) / s).powi(2)
            }
        }
    }
}

/// One unit's observed disagreement `2 Σ_{c<k} n_uc n_uk δ² / (m_u − 1)` (0 for a unit with
/// fewer than two values). `cells` is scratch space.
fn unit_disagreement(
    table: &CountTable,
    item: usize,
    level: Level,
    centred: &[f64],
    values: &[f64],
    cells: &mut Vec<(usize, f64)>,
) -> f64 {
    let m = table.n_labels(item);
    if m < 2 {
        return 0.0;
    }
    cells.clear();
    cells.extend(table.item(item).map(|(c, x)| (c as usize, f64::from(x))));
    cells_disagreement(cells, f64::from(m), level, centred, values)
}

/// [`unit_disagreement`] from the unit's `(value, count)` cells and its number of values `m`.
#[inline]
fn cells_disagreement(
    cells: &[(usize, f64)],
    m: f64,
    level: Level,
    centred: &[f64],
    values: &[f64],
) -> f64 {
    if cells.len() < 2 {
        return 0.0;
    }
    let pairs = if level == Level::Nominal {
        m * m - cells.iter().map(|&(_, x)| x * x).sum::<f64>()
    } else if cells.len() > PAIRWISE_LIMIT && level != Level::Ratio {
        let (s1, s2) = cells.iter().fold((0.0, 0.0), |(s1, s2), &(c, x)| {
            let y = centred[c];
            (s1 + x * y, s2 + x * y * y)
        });
        2.0 * (m * s2 - s1 * s1)
    } else {
        let mut sum = 0.0;
        for (a, &(c, nc)) in cells.iter().enumerate() {
            for &(k, nk) in &cells[a + 1..] {
                sum += nc * nk * delta(level, centred, values, c, k);
            }
        }
        2.0 * sum
    };
    pairs / (m - 1.0)
}

/// Expected disagreement `Σ_ck n_c n_k δ² = 2 Σ_{c<k} n_c n_k δ²`.
fn expected_pairs(n_c: &[f64], level: Level, centred: &[f64], values: &[f64]) -> f64 {
    let v = n_c.len();
    let n: f64 = n_c.iter().sum();
    if level == Level::Nominal {
        n * n - n_c.iter().map(|x| x * x).sum::<f64>()
    } else if v > DOMAIN_PAIRWISE_LIMIT && level != Level::Ratio {
        let (s1, s2) = n_c
            .iter()
            .zip(centred)
            .fold((0.0, 0.0), |(s1, s2), (nc, y)| {
                (s1 + nc * y, s2 + nc * y * y)
            });
        2.0 * (n * s2 - s1 * s1)
    } else {
        let mut sum = 0.0;
        for c in 0..v {
            if n_c[c] == 0.0 {
                continue;
            }
            for k in c + 1..v {
                sum += n_c[c] * n_c[k] * delta(level, centred, values, c, k);
            }
        }
        2.0 * sum
    }
}

/// Largest domain for which ordinal alpha's bootstrap accumulates coincidence matrices.
const ORDINAL_PARTS_LIMIT: usize = 32;

/// The additive parts of alpha, for the bootstrap: unit `u` contributes
/// `[1, n_u1, …, n_uV, D_o,u]` (ordinal: `[1, o_u]`, its coincidences, since the ordinal
/// distance depends on the value counts), and alpha is a function of their sum.
pub(crate) struct AlphaParts<'a> {
    table: &'a CountTable,
    values: &'a [f64],
    level: Level,
    centred: Vec<f64>,
}

impl<'a> AlphaParts<'a> {
    /// `None` for ordinal alpha over more than 32 values (use reweighting instead).
    pub(crate) fn new(table: &'a CountTable, values: &'a [f64], level: Level) -> Option<Self> {
        if values.len() != table.n_categories()
            || (level == Level::Ordinal && values.len() > ORDINAL_PARTS_LIMIT)
        {
            return None;
        }
        let ones = vec![1.0; values.len()];
        Some(AlphaParts {
            table,
            values,
            level,
            centred: coordinates(level, values, &ones),
        })
    }

    pub(crate) fn width(&self) -> usize {
        let v = self.values.len();
        if self.level == Level::Ordinal {
            1 + v * v
        } else {
            v + 2
        }
    }

    /// Writes unit `item`'s contribution to `out` (zeroed first).
    pub(crate) fn contribution(&self, item: usize, out: &mut [f64]) {
        out.fill(0.0);
        let m = self.table.n_labels(item);
        if m < 2 {
            return;
        }
        out[0] = 1.0;
        let v = self.values.len();
        if self.level == Level::Ordinal {
            let m = f64::from(m);
            for (c, nc) in self.table.item(item) {
                for (k, nk) in self.table.item(item) {
                    let same = if c == k { f64::from(nc) } else { 0.0 };
                    out[1 + c as usize * v + k as usize] +=
                        (f64::from(nc) * f64::from(nk) - same) / (m - 1.0);
                }
            }
        } else {
            for (c, nc) in self.table.item(item) {
                out[1 + c as usize] = f64::from(nc);
            }
            let mut cells = Vec::new();
            out[v + 1] = unit_disagreement(
                self.table,
                item,
                self.level,
                &self.centred,
                self.values,
                &mut cells,
            );
        }
    }

    pub(crate) fn finish(&self, acc: &[f64]) -> Result<f64, AgreementError> {
        let v = self.values.len();
        if v <= 1 {
            return Err(Undefined::SingleValue.into());
        }
        if self.level == Level::Ordinal {
            let o = &acc[1..];
            let n_c: Vec<f64> = (0..v).map(|c| o[c * v..(c + 1) * v].iter().sum()).collect();
            let centred = coordinates(self.level, self.values, &n_c);
            let mut observed = 0.0;
            for c in 0..v {
                for k in 0..v {
                    observed += o[c * v + k] * (centred[c] - centred[k]).powi(2);
                }
            }
            let n = n_c.iter().sum();
            let expected = expected_pairs(&n_c, self.level, &centred, self.values);
            finish_alpha(n, acc[0], observed, expected).map(|a| a.value)
        } else {
            let n_c = &acc[1..v + 1];
            let n = n_c.iter().sum();
            let expected = expected_pairs(n_c, self.level, &self.centred, self.values);
            finish_alpha(n, acc[0], acc[v + 1], expected).map(|a| a.value)
        }
    }
}

/// The `V × V` matrix of squared differences `δ²_ck` of a level over a value domain, given the
/// pairable value counts `n_c` (the ordinal distance depends on them).
pub fn distances(values: &[f64], level: Level, n_c: &[f64]) -> Vec<f64> {
    let v = values.len();
    let mut ranks = Vec::with_capacity(v);
    let mut below = 0.0;
    for &nc in n_c {
        ranks.push(below + nc / 2.0);
        below += nc;
    }
    let mut d = vec![0.0; v * v];
    for c in 0..v {
        for k in 0..v {
            d[c * v + k] = match level {
                Level::Nominal => f64::from(u8::from(c != k)),
                Level::Ordinal => (ranks[c] - ranks[k]).powi(2),
                Level::Interval => (values[c] - values[k]).powi(2),
                Level::Ratio => {
                    let s = values[c] + values[k];
                    if s == 0.0 {
                        0.0
                    } else {
                        ((values[c] - values[k]) / s).powi(2)
                    }
                }
            };
        }
    }
    d
}

/// Pairable value counts `n_c` of a table (values in units with at least two values).
pub(crate) fn pairable_counts(table: &CountTable) -> Vec<f64> {
    let mut n_c = vec![0.0; table.n_categories()];
    for item in 0..table.n_items() {
        if table.n_labels(item) >= 2 {
            for (c, n) in table.item(item) {
                n_c[c as usize] += f64::from(n);
            }
        }
    }
    n_c
}

/// The largest value domain for which [`alpha_standard_error`] builds its dense weights.
pub const MAX_DENSE_CATEGORIES: usize = 2048;

/// Krippendorff's alpha in irrCAC's formulation, with Gwet's linearised standard error, as
/// irrCAC's `CAC.krippendorff()` with agreement weights `weights`.
///
/// # Formula
/// Over the `n` units with `r_i ≥ 2` labels, `r̄ = mean r_i`, `ε = 1/Σ r_i`:
/// `p'_a = (1/n) Σ_i Σ_k n_ik (n*_ik − 1) / (r̄ (r_i − 1))`, `p_a = (1 − ε) p'_a + ε`,
/// `π_k = (1/n) Σ_i n_ik / r̄`, `p_e = Σ_kl w_kl π_k π_l`, `α = (p_a − p_e)/(1 − p_e)`.
/// With `w = 1 − δ²/max δ²` this equals [`krippendorff_alpha`] for any level.
///
/// Gwet, K. L. (2014), Handbook of Inter-Rater Reliability, 4th ed., §5.5; Krippendorff
/// (2011).
///
/// # Errors
/// [`Undefined::NoPairableItem`] when no unit has two labels; [`Undefined::NoVariation`] when
/// `p_e = 1`.
///
/// # Deviations
/// None.
pub fn krippendorff_irrcac(
    table: &CountTable,
    weights: &Weights,
) -> Result<Coefficient, AgreementError> {
    let q = table.n_categories();
    if weights.len() != q {
        return Err(AgreementError::LengthMismatch {
            what: "weights",
            expected: q,
            found: weights.len(),
        });
    }
    let n_items = table.n_items();
    // acc = [n, Σ r_i, Σ sum_q_i / (r_i − 1), n_k sums (q)]
    let acc = chunked_sum(n_items, 3 + q, |range, acc| {
        for item in range {
            let r = table.n_labels(item);
            if r < 2 {
                continue;
            }
            let r = f64::from(r);
            acc[0] += 1.0;
            acc[1] += r;
            acc[2] += sum_q(table, item, weights) / (r - 1.0);
            for (c, x) in table.item(item) {
                acc[3 + c as usize] += f64::from(x);
            }
        }
    });
    let (n, total) = (acc[0], acc[1]);
    if n == 0.0 {
        return Err(Undefined::NoPairableItem.into());
    }
    let r_mean = total / n;
    let epsilon = 1.0 / total;
    let pa_prime = acc[2] / (r_mean * n);
    let pa = (1.0 - epsilon) * pa_prime + epsilon;
    let pi: Vec<f64> = acc[3..].iter().map(|s| s / (n * r_mean)).collect();
    let pe: f64 = weights.apply(&pi).iter().zip(&pi).map(|(a, b)| a * b).sum();
    let value = super::error::ratio(pa - pe, 1.0 - pe)?;
    let alpha_prime = (pa_prime - pe) / (1.0 - pe);
    let mut coefficient = Coefficient {
        value,
        pa,
        pe,
        se: None,
        n_items: n as usize,
    };
    if n < 2.0 {
        return Ok(coefficient);
    }
    let a = weights.apply(&pi);
    let b = weights.apply_transposed(&pi);
    let pi_w: Vec<f64> = a.iter().zip(&b).map(|(x, y)| (x + y) / 2.0).collect();
    let sum_sq = chunked_sum(n_items, 1, |range, acc| {
        for item in range {
            let r = table.n_labels(item);
            if r < 2 {
                continue;
            }
            let r = f64::from(r);
            let pa_i =
                sum_q(table, item, weights) / (r_mean * (r - 1.0)) - pa * (r - r_mean) / r_mean;
            let alpha_i = (pa_i - pe) / (1.0 - pe);
            let pe_i = table
                .item(item)
                .map(|(c, x)| f64::from(x) * pi_w[c as usize])
                .sum::<f64>()
                / r_mean
                - pe * (r - r_mean) / r_mean;
            let x = alpha_i - 2.0 * (1.0 - alpha_prime) * (pe_i - pe) / (1.0 - pe);
            acc[0] += (x - alpha_prime) * (x - alpha_prime);
        }
    })[0];
    coefficient.se = Some((sum_sq / (n * (n - 1.0))).sqrt());
    Ok(coefficient)
}

/// The standard error of [`krippendorff_alpha`] at any level: irrCAC's linearisation with
/// agreement weights `1 − δ²/max δ²` (δ² fixed at the full data's value counts).
///
/// # Errors
/// As [`krippendorff_irrcac`]; [`Undefined::TooManyCategories`] above
/// [`MAX_DENSE_CATEGORIES`] values.
///
/// # Deviations
/// irrCAC offers this for identity and quadratic weights (nominal and interval alpha); for
/// ordinal and ratio alpha the same linearisation is applied with their distances, treated as
/// fixed.
pub fn alpha_standard_error(
    table: &CountTable,
    values: &[f64],
    level: Level,
) -> Result<Coefficient, AgreementError> {
    if table.n_categories() > MAX_DENSE_CATEGORIES {
        return Err(Undefined::TooManyCategories {
            n_categories: table.n_categories(),
        }
        .into());
    }
    let d = distances(values, level, &pairable_counts(table));
    let weights = Weights::from_distances(&d, values.len())?;
    krippendorff_irrcac(table, &weights)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alpha_of(data: &[f64], n_raters: usize, level: Level) -> f64 {
        let (table, domain) = CountTable::from_reliability_data(data, n_raters, None).unwrap();
        krippendorff_alpha(&table, &domain, level).unwrap().value
    }

    #[test]
    fn moments_and_pairs_agree() {
        // 3 raters × 6 units with many distinct values per unit and over the domain.
        let data: Vec<f64> = (0..300).map(|i| ((i * 37) % 101) as f64 + 0.25).collect();
        let pairs = alpha_of(&data[..], 3, Level::Interval);
        // Shift every value: the interval distance is shift-invariant.
        let shifted: Vec<f64> = data.iter().map(|x| x + 1e6).collect();
        let moments = alpha_of(&shifted, 3, Level::Interval);
        assert!((pairs - moments).abs() < 1e-9, "{pairs} vs {moments}");
    }

    #[test]
    fn irrcac_form_equals_alpha_at_every_level() {
        let nan = f64::NAN;
        let data = [
            1.0, 2.0, 3.0, 3.0, 2.0, 1.0, 4.0, 1.0, 2.0, nan, nan, nan, //
            1.0, 2.0, 3.0, 3.0, 2.0, 2.0, 4.0, 1.0, 2.0, 5.0, nan, 3.0, //
            nan, 3.0, 3.0, 3.0, 2.0, 3.0, 4.0, 2.0, 2.0, 5.0, 1.0, nan, //
            1.0, 2.0, 3.0, 3.0, 2.0, 4.0, 4.0, 1.0, 2.0, 5.0, 1.0, nan,
        ];
        let (table, domain) = CountTable::from_reliability_data(&data, 4, None).unwrap();
        for level in Level::ALL {
            let alpha = krippendorff_alpha(&table, &domain, level).unwrap().value;
            let irrcac = alpha_standard_error(&table, &domain, level).unwrap().value;
            assert!(
                (alpha - irrcac).abs() < 1e-12,
                "{level:?}: {alpha} vs {irrcac}"
            );
        }
    }
}
