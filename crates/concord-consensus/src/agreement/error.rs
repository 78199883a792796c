//! What can go wrong: bad input ([`AgreementError`]) and statistics that have no value on
//! degenerate data ([`Undefined`]).

/// Why a statistic has no value on this data, although the input is well formed.
///
/// The reference libraries answer these cases with NaN (0/0) or an exception; Concord answers
/// with this typed reason so that no NaN reaches a report unexplained. Each variant says which
/// reference answer it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Undefined {
    /// Chance agreement is complete (`p_e = 1`, or alpha's expected disagreement is 0): the
    /// statistic is 0/0. Example: every label is the same class. The reference libraries
    /// return NaN here.
    NoVariation,
    /// Only one category or value is possible. krippendorff raises
    /// `ValueError("There has to be more than one value in the domain.")`.
    SingleValue,
    /// No item has two or more labels, so no two labels can be compared. krippendorff raises
    /// `ValueError("There has to be at least one unit with values assigned by at least two
    /// coders.")`.
    NoPairableItem,
    /// Too few items for the quantity: a standard error needs at least two.
    TooFewItems,
    /// The two annotators have no item in common.
    NoCommonItems,
    /// The metric needs a given number of annotators (Cohen's kappa needs exactly two).
    WrongAnnotatorCount {
        /// Annotators the metric needs.
        expected: usize,
        /// Annotators in the data.
        found: usize,
    },
    /// Every bootstrap resample was itself undefined.
    AllResamplesUndefined,
    /// The analytic standard error needs a dense weight matrix and there are too many
    /// categories for one (use the bootstrap instead).
    TooManyCategories {
        /// Categories in the data.
        n_categories: usize,
    },
}

impl std::fmt::Display for Undefined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Undefined::NoVariation => write!(f, "no variation: chance agreement is complete (0/0)"),
            Undefined::SingleValue => write!(f, "only one value is possible"),
            Undefined::NoPairableItem => write!(f, "no item has two or more labels"),
            Undefined::TooFewItems => write!(f, "fewer than two items"),
            Undefined::NoCommonItems => write!(f, "the two annotators have no item in common"),
            Undefined::WrongAnnotatorCount { expected, found } => {
                write!(
                    f,
                    "needs exactly {expected} annotators, the data has {found}"
                )
            }
            Undefined::AllResamplesUndefined => {
                write!(f, "every bootstrap resample was undefined")
            }
            Undefined::TooManyCategories { n_categories } => write!(
                f,
                "{n_categories} categories are too many for the analytic interval (use the bootstrap)"
            ),
        }
    }
}

/// Why an agreement statistic could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AgreementError {
    /// The data is well formed but the statistic has no value on it.
    #[error("undefined: {0}")]
    Undefined(Undefined),
    /// Two inputs that must have the same length do not.
    #[error("{what}: expected length {expected}, found {found}")]
    LengthMismatch {
        /// Which input.
        what: &'static str,
        /// The length it must have.
        expected: usize,
        /// The length it has.
        found: usize,
    },
    /// An item of a count table has a different number of labels from the first item
    /// (statsmodels' Fleiss' kappa assumes every item rated by the same number of raters).
    #[error(
        "item {item} has {found} labels, item 0 has {expected} (every row must sum to the same number)"
    )]
    UnequalRaters {
        /// 0-based item.
        item: usize,
        /// Labels of item 0.
        expected: u64,
        /// Labels of this item.
        found: u64,
    },
    /// A value is not in the value domain given.
    #[error("value {value} is not in the value domain")]
    OutOfDomain {
        /// The value, as written.
        value: String,
    },
    /// A category index is not below the number of categories.
    #[error("category {category} is out of range (there are {n_categories})")]
    CategoryOutOfRange {
        /// The index.
        category: u32,
        /// Number of categories.
        n_categories: usize,
    },
    /// A parameter is out of its range.
    #[error("parameter `{name}` {reason}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl AgreementError {
    /// The reason when the statistic is undefined on well-formed data, `None` for bad input.
    pub fn undefined(&self) -> Option<Undefined> {
        match self {
            AgreementError::Undefined(u) => Some(*u),
            _ => None,
        }
    }
}

impl From<Undefined> for AgreementError {
    fn from(u: Undefined) -> Self {
        AgreementError::Undefined(u)
    }
}

/// `Err(Undefined::NoVariation)` when `denominator` is zero (or not finite), else the ratio.
pub(crate) fn ratio(numerator: f64, denominator: f64) -> Result<f64, AgreementError> {
    let value = numerator / denominator;
    if denominator == 0.0 || !value.is_finite() {
        Err(Undefined::NoVariation.into())
    } else {
        Ok(value)
    }
}
