//! One entry point for every metric: [`evaluate`] a [`Metric`] on [`Ratings`] with its interval.

use super::alpha::{AlphaParts, Level, alpha_standard_error, alpha_weighted, krippendorff_alpha};
use super::bootstrap::{
    Bootstrap, BootstrapInterval, alpha_hayes_krippendorff, bootstrap_additive, bootstrap_items,
};
use super::cohen::{CohenWeights, cohen_weighted, kappa_from_confusion};
use super::error::{AgreementError, Undefined};
use super::gwet::{Chance, ChanceParts, Coefficient, chance_corrected, conger};
use super::interval::{Interval, t_interval};
use super::table::{ItemWeights, Ratings};
use super::weights::{WeightScheme, Weights};

/// An agreement statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Metric {
    /// Pairwise percent agreement ([`percent_agreement`](super::percent_agreement)).
    Percent,
    /// Cohen's kappa of two annotators ([`cohen_kappa`](super::cohen_kappa)).
    Cohen,
    /// Fleiss' kappa, generalised to missing labels ([`fleiss_kappa`](super::fleiss_kappa)).
    Fleiss,
    /// Randolph's free-marginal kappa ([`randolph_kappa`](super::randolph_kappa)).
    Randolph,
    /// Krippendorff's alpha ([`krippendorff_alpha`]).
    Alpha,
    /// Gwet's AC1 ([`gwet_ac`](super::gwet_ac), identity weights).
    Ac1,
    /// Gwet's AC2 ([`gwet_ac`](super::gwet_ac), weighted; quadratic unless told otherwise).
    Ac2,
    /// Conger's kappa ([`conger_kappa`](super::conger_kappa)).
    Conger,
}

impl Metric {
    /// Every metric.
    pub const ALL: [Metric; 8] = [
        Metric::Percent,
        Metric::Cohen,
        Metric::Fleiss,
        Metric::Randolph,
        Metric::Alpha,
        Metric::Ac1,
        Metric::Ac2,
        Metric::Conger,
    ];

    /// The short name (`percent`, `cohen`, …).
    pub fn name(self) -> &'static str {
        match self {
            Metric::Percent => "percent",
            Metric::Cohen => "cohen",
            Metric::Fleiss => "fleiss",
            Metric::Randolph => "randolph",
            Metric::Alpha => "alpha",
            Metric::Ac1 => "ac1",
            Metric::Ac2 => "ac2",
            Metric::Conger => "conger",
        }
    }

    /// A one-line description.
    pub fn describe(self) -> &'static str {
        match self {
            Metric::Percent => "pairwise percent agreement",
            Metric::Cohen => "Cohen's kappa (two annotators; scikit-learn)",
            Metric::Fleiss => "Fleiss' kappa (statsmodels; irrCAC with missing labels)",
            Metric::Randolph => "Randolph's free-marginal kappa",
            Metric::Alpha => "Krippendorff's alpha (krippendorff)",
            Metric::Ac1 => "Gwet's AC1 (irrCAC)",
            Metric::Ac2 => "Gwet's AC2, weighted (irrCAC)",
            Metric::Conger => "Conger's kappa (irrCAC)",
        }
    }
}

impl std::str::FromStr for Metric {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Metric::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Metric::ALL.iter().map(|m| m.name()).collect();
                format!(
                    "unknown metric `{s}` (expected one of {})",
                    names.join(", ")
                )
            })
    }
}

/// Which bootstrap to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BootstrapMethod {
    /// Hayes & Krippendorff's for alpha, items for every other metric.
    #[default]
    Auto,
    /// Resample items with replacement.
    Items,
    /// Hayes & Krippendorff's resampling of coincidences (alpha only).
    HayesKrippendorff,
}

/// How to evaluate a metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Alpha's level of measurement (default nominal).
    pub level: Level,
    /// Weights for percent, Cohen, Fleiss, AC2 and Conger (`None`: unweighted; AC2 defaults
    /// to quadratic).
    pub weights: Option<WeightScheme>,
    /// The value of each category (for weights and alpha's interval and ratio levels); `None`
    /// means the ranks `1..q`.
    pub values: Option<Vec<f64>>,
    /// Confidence level of the interval (default 0.95).
    pub confidence: f64,
    /// A bootstrap interval instead of the analytic one.
    pub bootstrap: Option<(Bootstrap, BootstrapMethod)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            level: Level::Nominal,
            weights: None,
            values: None,
            confidence: 0.95,
            bootstrap: None,
        }
    }
}

/// How an interval was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntervalMethod {
    /// irrCAC's Student-t interval from the linearised standard error.
    T,
    /// Percentile bootstrap over items.
    BootstrapItems,
    /// Hayes & Krippendorff's bootstrap (alpha).
    BootstrapHayesKrippendorff,
}

impl IntervalMethod {
    /// A short name (`t`, `bootstrap-items`, `bootstrap-hayes-krippendorff`).
    pub fn name(self) -> &'static str {
        match self {
            IntervalMethod::T => "t",
            IntervalMethod::BootstrapItems => "bootstrap-items",
            IntervalMethod::BootstrapHayesKrippendorff => "bootstrap-hayes-krippendorff",
        }
    }
}

/// A metric's value with its interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The metric.
    pub metric: Metric,
    /// The value, or why it is undefined on this data.
    pub value: Result<f64, Undefined>,
    /// The analytic standard error, when defined.
    pub se: Option<f64>,
    /// The interval, or why there is none.
    pub interval: Result<Interval, Undefined>,
    /// How the interval was obtained.
    pub interval_method: IntervalMethod,
    /// For a bootstrap: resamples drawn and resamples on which the metric was undefined.
    pub bootstrap: Option<(usize, usize)>,
    /// Items that entered the statistic (Cohen: items both annotators labelled; alpha: units
    /// with two or more labels; otherwise every labelled item).
    pub n_items: usize,
    /// Annotators with at least one label.
    pub n_annotators: usize,
}

/// Evaluates `metric` on `ratings` with its interval (analytic unless a bootstrap is asked
/// for). Degenerate data is not an error: the report says which part is undefined and why.
///
/// # Example
/// ```
/// use concord_consensus::agreement::{evaluate, Metric, Options, Ratings};
/// // 4 items × 2 annotators.
/// let rows = [Some(0), Some(0), Some(1), Some(1), Some(0), Some(1), Some(1), Some(1)];
/// let ratings = Ratings::from_rows(&rows, 2, 2).unwrap();
/// let report = evaluate(&ratings, Metric::Cohen, &Options::default()).unwrap();
/// assert!((report.value.unwrap() - 0.5).abs() < 1e-12);
/// ```
///
/// # Errors
/// Bad parameters (a confidence level outside (0, 1), values that do not match the
/// categories, the Hayes–Krippendorff bootstrap for a metric other than alpha).
pub fn evaluate(
    ratings: &Ratings,
    metric: Metric,
    options: &Options,
) -> Result<Report, AgreementError> {
    super::interval::check_level(options.confidence)?;
    let q = ratings.n_categories();
    let values: Vec<f64> = match &options.values {
        Some(v) if v.len() != q => {
            return Err(AgreementError::LengthMismatch {
                what: "category values",
                expected: q,
                found: v.len(),
            });
        }
        Some(v) => v.clone(),
        None => (1..=q).map(|x| x as f64).collect(),
    };
    let active = active_annotators(ratings);
    let table = ratings.counts();
    let scheme = match (metric, options.weights) {
        (Metric::Ac1 | Metric::Randolph, _) => WeightScheme::Identity,
        (Metric::Ac2, None) => WeightScheme::Quadratic,
        (_, Some(s)) => s,
        (_, None) => WeightScheme::Identity,
    };
    let weights = Weights::scheme(scheme, &values);
    let mut report = Report {
        metric,
        value: Err(Undefined::NoPairableItem),
        se: None,
        interval: Err(Undefined::TooFewItems),
        interval_method: IntervalMethod::T,
        bootstrap: None,
        n_items: ratings.n_items(),
        n_annotators: active.len(),
    };
    let bootstrap = match options.bootstrap {
        Some((config, method)) => {
            let method = match (method, metric) {
                (BootstrapMethod::Auto, Metric::Alpha) => BootstrapMethod::HayesKrippendorff,
                (BootstrapMethod::Auto, _) => BootstrapMethod::Items,
                (BootstrapMethod::HayesKrippendorff, m) if m != Metric::Alpha => {
                    return Err(AgreementError::InvalidParameter {
                        name: "bootstrap method",
                        reason: format!(
                            "Hayes & Krippendorff's bootstrap is for alpha, not {}",
                            m.name()
                        ),
                    });
                }
                (m, _) => m,
            };
            Some((
                Bootstrap {
                    level: options.confidence,
                    ..config
                },
                method,
            ))
        }
        None => None,
    };
    let level = options.confidence;
    // Each arm gives the estimate with its analytic interval, then the bootstrap asked for,
    // which evaluates the estimate's own formula on resampled items.
    let outcome: Result<(), AgreementError> = match metric {
        Metric::Cohen => {
            if active.len() != 2 {
                let undefined = Undefined::WrongAnnotatorCount {
                    expected: 2,
                    found: active.len(),
                };
                report.value = Err(undefined);
                report.interval = Err(undefined);
                return Ok(report);
            }
            let cohen_weights = match options.weights {
                None | Some(WeightScheme::Identity) => CohenWeights::Unweighted,
                Some(WeightScheme::Linear) => CohenWeights::Linear,
                Some(WeightScheme::Quadratic) => CohenWeights::Quadratic,
                Some(WeightScheme::Ordinal) => {
                    return Err(AgreementError::InvalidParameter {
                        name: "weights",
                        reason: "Cohen's kappa takes linear or quadratic weights".into(),
                    });
                }
            };
            let (y1, y2) = ratings.pair(active[0], active[1]);
            report.n_items = y1.len();
            let v = cohen_weights.disagreement(q)?;
            let value = cohen_weighted(&y1, &y2, q, &v, ItemWeights::Ones);
            // Cohen's kappa is Conger's kappa of the two raters: its standard error.
            let se = || -> Result<Coefficient, AgreementError> {
                let rows: Vec<Option<u32>> = y1
                    .iter()
                    .zip(&y2)
                    .flat_map(|(&a, &b)| [Some(a), Some(b)])
                    .collect();
                let pair = Ratings::from_rows(&rows, 2, q)?;
                let weights = cohen_weights.agreement(q)?;
                conger(&pair, &pair.counts(), &weights, ItemWeights::Ones, true)
            };
            finish(&mut report, value, se(), level)?;
            with_bootstrap(&mut report, bootstrap, |config| {
                bootstrap_additive(
                    y1.len(),
                    q * q,
                    |item, out| {
                        out.fill(0.0);
                        out[y1[item] as usize * q + y2[item] as usize] = 1.0;
                    },
                    |confusion| kappa_from_confusion(confusion, q, &v),
                    config,
                )
            })
        }
        Metric::Alpha => {
            let alpha = krippendorff_alpha(&table, &values, options.level);
            report.n_items = alpha.as_ref().map_or(0, |a| a.n_units);
            let se = alpha_standard_error(&table, &values, options.level);
            finish(&mut report, alpha.map(|a| a.value), se, level)?;
            match bootstrap {
                Some((config, BootstrapMethod::HayesKrippendorff)) if report.value.is_ok() => {
                    let interval =
                        alpha_hayes_krippendorff(&table, &values, options.level, &config);
                    apply_bootstrap(
                        &mut report,
                        interval,
                        IntervalMethod::BootstrapHayesKrippendorff,
                    )
                }
                _ => with_bootstrap(&mut report, bootstrap, |config| {
                    match AlphaParts::new(&table, &values, options.level) {
                        Some(parts) => bootstrap_additive(
                            table.n_items(),
                            parts.width(),
                            |item, out| parts.contribution(item, out),
                            |acc| parts.finish(acc),
                            config,
                        ),
                        None => bootstrap_items(table.n_items(), config, |w| {
                            alpha_weighted(&table, &values, options.level, ItemWeights::Counts(w))
                                .map(|a| a.value)
                        }),
                    }
                }),
            }
        }
        Metric::Conger => {
            let stat = |w: ItemWeights<'_>, se: bool| conger(ratings, &table, &weights, w, se);
            let point = stat(ItemWeights::Ones, true);
            finish(&mut report, point.clone().map(|c| c.value), point, level)?;
            with_bootstrap(&mut report, bootstrap, |config| {
                bootstrap_items(table.n_items(), config, |w| {
                    stat(ItemWeights::Counts(w), false).map(|c| c.value)
                })
            })
        }
        Metric::Percent | Metric::Fleiss | Metric::Randolph | Metric::Ac1 | Metric::Ac2 => {
            let chance = match metric {
                Metric::Percent => Chance::None,
                Metric::Fleiss => Chance::Fleiss,
                Metric::Randolph => Chance::BrennanPrediger,
                _ => Chance::Gwet,
            };
            let point = chance_corrected(&table, &weights, chance, ItemWeights::Ones, true);
            finish(&mut report, point.clone().map(|c| c.value), point, level)?;
            with_bootstrap(&mut report, bootstrap, |config| {
                let parts = ChanceParts::new(&table, &weights, chance)?;
                bootstrap_additive(
                    table.n_items(),
                    parts.width(),
                    |item, out| {
                        out.fill(0.0);
                        parts.add(item, 1.0, out);
                    },
                    |acc| parts.finish(acc).map(|(_, _, value)| value),
                    config,
                )
            })
        }
    };
    outcome?;
    Ok(report)
}

/// Annotators with at least one label, in index order.
fn active_annotators(ratings: &Ratings) -> Vec<u32> {
    let mut seen = vec![false; ratings.n_annotators()];
    for &a in ratings.annotators() {
        seen[a as usize] = true;
    }
    (0..ratings.n_annotators() as u32)
        .filter(|&a| seen[a as usize])
        .collect()
}

/// Fills the value, standard error and interval of `report`.
fn finish(
    report: &mut Report,
    value: Result<f64, AgreementError>,
    se: Result<Coefficient, AgreementError>,
    level: f64,
) -> Result<(), AgreementError> {
    report.value = match value {
        Ok(v) => Ok(v),
        Err(AgreementError::Undefined(u)) => Err(u),
        Err(e) => return Err(e),
    };
    let Ok(value) = report.value else {
        report.interval = Err(report.value.unwrap_err());
        return Ok(());
    };
    match se {
        Ok(c) => {
            report.se = c.se;
            report.interval = match c.se {
                Some(se) => match t_interval(value, se, c.n_items as f64 - 1.0, level) {
                    Ok(i) => Ok(i),
                    Err(AgreementError::Undefined(u)) => Err(u),
                    Err(e) => return Err(e),
                },
                None => Err(Undefined::TooFewItems),
            };
        }
        Err(AgreementError::Undefined(u)) => report.interval = Err(u),
        Err(e) => return Err(e),
    }
    Ok(())
}

/// Replaces the interval of `report` with an item bootstrap when one is asked for and the
/// value is defined.
fn with_bootstrap(
    report: &mut Report,
    bootstrap: Option<(Bootstrap, BootstrapMethod)>,
    run: impl FnOnce(&Bootstrap) -> Result<BootstrapInterval, AgreementError>,
) -> Result<(), AgreementError> {
    match bootstrap {
        Some((config, BootstrapMethod::Items)) if report.value.is_ok() => {
            let interval = run(&config);
            apply_bootstrap(report, interval, IntervalMethod::BootstrapItems)
        }
        _ => Ok(()),
    }
}

fn apply_bootstrap(
    report: &mut Report,
    interval: Result<BootstrapInterval, AgreementError>,
    method: IntervalMethod,
) -> Result<(), AgreementError> {
    report.interval_method = method;
    match interval {
        Ok(b) => {
            report.interval = Ok(b.interval);
            report.bootstrap = Some((b.resamples, b.undefined));
        }
        Err(AgreementError::Undefined(u)) => report.interval = Err(u),
        Err(e) => return Err(e),
    }
    Ok(())
}
