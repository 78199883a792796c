//! Analytic confidence intervals: Student's t distribution and irrCAC's interval convention.

use super::error::{AgreementError, Undefined};

/// A confidence interval for an agreement statistic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
    /// Confidence level, e.g. 0.95.
    pub level: f64,
}

/// The t interval irrCAC reports: `value ± t_{(1+level)/2, df} · se`, upper bound clipped to 1
/// (no coefficient exceeds 1), lower bound not clipped.
///
/// # Formula
/// `[value − t·se, min(1, value + t·se)]` with `t` the `(1 + level)/2` quantile of Student's t
/// with `df` degrees of freedom (irrCAC uses `df = n − 1`, `n` the number of items).
///
/// # Errors
/// [`AgreementError::InvalidParameter`] when `level` is not in (0, 1);
/// [`Undefined::TooFewItems`] when `df < 1`.
pub fn t_interval(value: f64, se: f64, df: f64, level: f64) -> Result<Interval, AgreementError> {
    check_level(level)?;
    if df < 1.0 || !df.is_finite() {
        return Err(Undefined::TooFewItems.into());
    }
    let t = t_quantile((1.0 + level) / 2.0, df);
    Ok(Interval {
        low: value - t * se,
        high: (value + t * se).min(1.0),
        level,
    })
}

/// Checks that a confidence level is in (0, 1).
pub(crate) fn check_level(level: f64) -> Result<(), AgreementError> {
    if level > 0.0 && level < 1.0 {
        Ok(())
    } else {
        Err(AgreementError::InvalidParameter {
            name: "confidence level",
            reason: format!("must be between 0 and 1 (exclusive), got {level}"),
        })
    }
}

/// Student's t cumulative distribution function `P(T ≤ t)` with `df` degrees of freedom.
///
/// # Formula
/// `P(T > |t|) = I_x(df/2, 1/2) / 2` with `x = df / (df + t²)` and `I` the regularised
/// incomplete beta function (continued fraction, Numerical Recipes §6.4).
pub fn t_cdf(t: f64, df: f64) -> f64 {
    if t.is_nan() || df.is_nan() {
        return f64::NAN;
    }
    if t.is_infinite() {
        return if t > 0.0 { 1.0 } else { 0.0 };
    }
    let tail = 0.5 * t_tail_beta(t, df);
    if t > 0.0 { 1.0 - tail } else { tail }
}

/// The `p` quantile of Student's t with `df` degrees of freedom.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    if !(p > 0.0 && p < 1.0) || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if p == 0.5 {
        return 0.0;
    }
    // Solve on the upper tail for accuracy: find t > 0 with P(T > t) = q.
    let (q, sign) = if p > 0.5 { (1.0 - p, 1.0) } else { (p, -1.0) };
    let upper_tail = |t: f64| 0.5 * t_tail_beta(t, df);
    // Bracket, then bisect and polish with Newton steps (the density is explicit).
    let mut lo = 0.0;
    let mut hi = 1.0;
    while upper_tail(hi) > q {
        lo = hi;
        hi *= 2.0;
        if hi > 1e300 {
            return sign * f64::INFINITY;
        }
    }
    let log_norm =
        ln_gamma(0.5 * (df + 1.0)) - ln_gamma(0.5 * df) - 0.5 * (df * std::f64::consts::PI).ln();
    let density = |t: f64| (log_norm - 0.5 * (df + 1.0) * (1.0 + t * t / df).ln()).exp();
    let mut t = 0.5 * (lo + hi);
    for _ in 0..200 {
        let f = upper_tail(t) - q;
        if f > 0.0 {
            lo = t;
        } else {
            hi = t;
        }
        // Newton on the tail: d/dt tail = -density.
        let newton = t + f / density(t);
        t = if newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
        if (hi - lo) <= 1e-15 * t.abs().max(1e-300) || f == 0.0 {
            break;
        }
    }
    sign * t
}

/// Natural logarithm of the gamma function (Lanczos, g = 7, n = 9), for `x > 0`.
pub(crate) fn ln_gamma(x: f64) -> f64 {
    const COEF: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = COEF[0];
    let t = x + 7.5;
    for (i, &c) in COEF.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// `I_x(df/2, 1/2)` with `x = df/(df + t²)`: twice the upper tail `P(T > |t|)`.
fn t_tail_beta(t: f64, df: f64) -> f64 {
    let t2 = t * t;
    // x and 1 − x computed separately, so neither loses digits when the other is tiny.
    incomplete_beta(0.5 * df, 0.5, df / (df + t2), t2 / (df + t2))
}

/// The `p` quantile of the Beta(`a`, `b`) distribution: Newton's method on the regularised
/// incomplete beta function from the mean, kept inside a bisection bracket (a step that leaves
/// it halves the bracket instead). A few steps where 100 halvings were needed before: the
/// leaderboard computes thousands of these at a million labels.
pub fn beta_quantile(p: f64, a: f64, b: f64) -> f64 {
    if !(p > 0.0 && p < 1.0 && a > 0.0 && b > 0.0) {
        return if p == 0.0 {
            0.0
        } else if p == 1.0 {
            1.0
        } else {
            f64::NAN
        };
    }
    // ln B(a, b), for the density (the step's size only: exactness comes from the bracket).
    let ln_beta = ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b);
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    let mut x = a / (a + b);
    for _ in 0..200 {
        let f = incomplete_beta(a, b, x, 1.0 - x) - p;
        if f == 0.0 {
            return x;
        }
        if f < 0.0 {
            lo = x;
        } else {
            hi = x;
        }
        let density = ((a - 1.0) * x.ln() + (b - 1.0) * (-x).ln_1p() - ln_beta).exp();
        let newton = x - f / density;
        let next = if newton > lo && newton < hi && newton.is_finite() {
            newton
        } else {
            0.5 * (lo + hi)
        };
        if (next - x).abs() <= 4.0 * f64::EPSILON * x || hi - lo <= f64::EPSILON * hi {
            return next;
        }
        x = next;
    }
    x
}

/// Regularised incomplete beta function `I_x(a, b)`, given `x` and `y = 1 − x`.
fn incomplete_beta(a: f64, b: f64, x: f64, y: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if y <= 0.0 {
        return 1.0;
    }
    let ln_x = if x > 0.5 { (-y).ln_1p() } else { x.ln() };
    let ln_y = if y > 0.5 { (-x).ln_1p() } else { y.ln() };
    let ln_front = ln_gamma_ratio(a, b) - ln_gamma(b) + a * ln_x + b * ln_y;
    let front = ln_front.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_continued_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_continued_fraction(b, a, y) / b
    }
}

/// `ln Γ(a + b) − ln Γ(a)`, accurate for large `a` (Stirling's series, differenced term by
/// term, so that two huge logarithms never cancel).
fn ln_gamma_ratio(a: f64, b: f64) -> f64 {
    if a < 20.0 {
        return ln_gamma(a + b) - ln_gamma(a);
    }
    let c = a + b;
    let series = |z: f64| {
        let z2 = z * z;
        1.0 / (12.0 * z) - 1.0 / (360.0 * z * z2) + 1.0 / (1260.0 * z * z2 * z2)
    };
    (a - 0.5) * (b / a).ln_1p() + b * c.ln() - b + series(c) - series(a)
}

/// The continued fraction of the incomplete beta function (modified Lentz).
fn beta_continued_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..10_000 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quantile by 100 halvings of the bracket (the definition, slowly).
    fn beta_quantile_by_bisection(p: f64, a: f64, b: f64) -> f64 {
        let (mut lo, mut hi) = (0.0f64, 1.0f64);
        for _ in 0..100 {
            let mid = 0.5 * (lo + hi);
            if incomplete_beta(a, b, mid, 1.0 - mid) < p {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    }

    #[test]
    fn beta_quantile_has_the_closed_forms() {
        for p in [0.001, 0.025, 0.3, 0.5, 0.975, 0.999] {
            // Beta(1, 1) is uniform; Beta(a, 1) has CDF x^a; Beta(1, b) has 1 − (1 − x)^b.
            check(beta_quantile(p, 1.0, 1.0), p, 1e-13);
            for s in [0.5, 3.0, 250.0] {
                check(beta_quantile(p, s, 1.0), p.powf(1.0 / s), 1e-12);
                check(
                    beta_quantile(p, 1.0, s),
                    1.0 - (1.0 - p).powf(1.0 / s),
                    1e-12,
                );
            }
        }
    }

    #[test]
    fn beta_quantile_equals_bisection_from_few_to_many_answers() {
        for (right, total) in [
            (0u64, 1u64),
            (3, 4),
            (19, 20),
            (7, 200),
            (9_000, 20_000),
            (19_990, 20_000),
        ] {
            let (a, b) = (right as f64 + 1.0, (total - right) as f64 + 1.0);
            for p in [0.025, 0.5, 0.975] {
                check(
                    beta_quantile(p, a, b),
                    beta_quantile_by_bisection(p, a, b),
                    1e-12,
                );
            }
        }
    }

    fn check(got: f64, want: f64, tol: f64) {
        assert!(
            (got - want).abs() <= tol * want.abs().max(1.0),
            "got {got}, want {want}"
        );
    }

    #[test]
    fn t_matches_closed_forms() {
        // df = 1 is Cauchy: quantile tan(π(p − ½)), cdf ½ + atan(t)/π. df = 2: t = (2p − 1)/√(2p(1 − p)).
        check(t_quantile(0.975, 1.0), 12.706204736174696, 1e-12);
        check(t_quantile(0.975, 2.0), 4.302652729749462, 1e-12);
        check(t_quantile(0.025, 2.0), -4.302652729749462, 1e-12);
        check(t_cdf(2.0, 1.0), 0.8524163823495667, 1e-13);
        check(t_cdf(-1.5, 1.0), 0.1871670418109988, 1e-13);
        check(t_cdf(0.0, 3.0), 0.5, 1e-15);
        // Large df approaches the normal quantile 1.959963984540054.
        check(t_quantile(0.975, 1e9), 1.959963984540054, 1e-8);
    }
}
