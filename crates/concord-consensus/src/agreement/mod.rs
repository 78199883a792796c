//! Inter-annotator agreement: how far several experts' labels agree beyond chance, with
//! confidence intervals, per class and per pair of annotators.
//!
//! Every statistic matches a reference implementation to within floating-point rounding
//! (the conformance cases in `conformance/agreement.json` check it):
//!
//! | statistic | function | reference |
//! |---|---|---|
//! | percent agreement | [`percent_agreement`] | irrCAC `pa`, scikit-learn `accuracy_score` |
//! | Cohen's kappa (weighted) | [`cohen_kappa`] | scikit-learn `cohen_kappa_score` |
//! | Fleiss' / Randolph's kappa | [`fleiss_kappa_table`], [`fleiss_kappa`], [`randolph_kappa`] | statsmodels `fleiss_kappa`, irrCAC |
//! | Krippendorff's alpha | [`krippendorff_alpha`] | krippendorff `alpha` |
//! | Gwet's AC1/AC2, Brennan–Prediger, Conger | [`gwet_ac`], [`brennan_prediger`], [`conger_kappa`] | irrCAC |
//!
//! Data comes in as [`Ratings`] (who gave which category to which item) or a [`CountTable`]
//! (items × categories counts). [`evaluate`] runs any [`Metric`] with an analytic
//! ([`t_interval`]) or bootstrap ([`bootstrap_items`], [`alpha_hayes_krippendorff`]) interval;
//! [`per_class`] and [`pairwise_kappa`] break agreement down.
//!
//! Degenerate data (one rater, one unit, one value) never panics and never yields a silent
//! NaN: the statistic is [`Undefined`], with the reason.
//!
//! ```
//! use concord_consensus::agreement::{evaluate, Metric, Options, Ratings};
//! // 5 items × 3 annotators, categories 0..3 (None: not labelled).
//! let rows = [
//!     Some(0), Some(0), Some(0),
//!     Some(1), Some(1), Some(2),
//!     Some(2), Some(2), Some(2),
//!     Some(0), Some(1), None,
//!     Some(1), Some(1), Some(1),
//! ];
//! let ratings = Ratings::from_rows(&rows, 3, 3).unwrap();
//! let report = evaluate(&ratings, Metric::Alpha, &Options::default()).unwrap();
//! assert!(report.value.unwrap() > 0.5);
//! ```

mod alpha;
mod bootstrap;
mod breakdown;
mod cohen;
mod error;
mod fleiss;
mod gwet;
mod interval;
mod metric;
mod percent;
mod table;
mod weights;

pub use alpha::{
    Alpha, Level, MAX_DENSE_CATEGORIES, alpha_standard_error, distances, krippendorff_alpha,
    krippendorff_irrcac,
};
pub use bootstrap::{Bootstrap, BootstrapInterval, alpha_hayes_krippendorff, bootstrap_items};
pub use breakdown::{MAX_PAIR_CELLS, PairMatrix, pairwise_kappa, per_class};
pub use cohen::{CohenWeights, cohen_kappa};
pub use error::{AgreementError, Undefined};
pub use fleiss::{FleissMethod, fleiss_kappa, fleiss_kappa_table, randolph_kappa};
pub use gwet::{Coefficient, brennan_prediger, conger_kappa, gwet_ac};
pub use interval::{Interval, beta_quantile, t_cdf, t_interval, t_quantile};
pub use metric::{BootstrapMethod, IntervalMethod, Metric, Options, Report, evaluate};
pub use percent::percent_agreement;
pub use table::{CountTable, Ratings};
pub use weights::{WeightScheme, Weights};
