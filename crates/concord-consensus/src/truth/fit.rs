//! The common API: [`Aggregator`] in, [`Fit`] out.

use crate::data::Annotations;

/// A truth-inference method: fits a model of the annotators to the labels.
///
/// Implementations are deterministic: the same [`Annotations`] and parameters (seed included)
/// give the same [`Fit`], bit for bit, whatever the size of the rayon thread pool.
pub trait Aggregator: Sync {
    /// The short name the command line uses (`ds`, `glad`, …).
    fn name(&self) -> &'static str;

    /// Fits the model and reports each iteration to `progress`.
    ///
    /// # Errors
    /// [`FitError`] when the method cannot run on this data (KOS on more than two classes) or a
    /// parameter is out of range.
    fn fit_with_progress(
        &self,
        data: &Annotations,
        progress: &dyn Progress,
    ) -> Result<Fit, FitError>;

    /// Fits the model.
    ///
    /// # Errors
    /// As [`fit_with_progress`](Self::fit_with_progress).
    fn fit(&self, data: &Annotations) -> Result<Fit, FitError> {
        self.fit_with_progress(data, &NoProgress)
    }
}

/// Receives progress from long fits (the command line draws a bar from it).
pub trait Progress: Sync {
    /// Called after each iteration of an iterative method; `max_iter` is the cap.
    fn iteration(&self, done: u32, max_iter: u32);
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn iteration(&self, _done: u32, _max_iter: u32) {}
}

/// Why a method could not fit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FitError {
    /// The method needs exactly two classes.
    #[error("{method} needs exactly two classes, the data has {n_classes}")]
    NotBinary {
        /// The method's short name.
        method: &'static str,
        /// Number of classes in the data.
        n_classes: usize,
    },
    /// A parameter is out of its range.
    #[error("{method}: parameter `{name}` {reason}")]
    InvalidParameter {
        /// The method's short name.
        method: &'static str,
        /// The parameter's name.
        name: &'static str,
        /// What is wrong, e.g. "must be positive, got -1".
        reason: String,
    },
    /// The method needs known answers and the data has none.
    #[error("{method} needs gold (known answers) for at least one labelled item")]
    NoGold {
        /// The method's short name.
        method: &'static str,
    },
}

/// Per-annotator skill, in the form the method's model defines.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Skills {
    /// One number per annotator (by annotator index); `name` says what it is, e.g. `accuracy`.
    Scalar {
        /// What the number is (`accuracy`, `weight`, `reliability`, …).
        name: &'static str,
        /// One value per annotator.
        values: Vec<f64>,
    },
    /// A confusion matrix per annotator: `values[(a * K + true) * K + given]` is the probability
    /// that annotator `a` gives class `given` to an item whose true class is `true`. Each row
    /// (fixed `a`, `true`) sums to 1.
    Confusion {
        /// Number of classes `K`.
        n_classes: usize,
        /// `n_annotators * K * K` probabilities.
        values: Vec<f64>,
    },
    /// GLAD's parameters: annotator ability `alpha` (by annotator) and item inverse difficulty
    /// `beta` (by item, positive).
    Glad {
        /// Ability of each annotator (negative: adversarial).
        alpha: Vec<f64>,
        /// Inverse difficulty of each item (larger: easier).
        beta: Vec<f64>,
    },
    /// MACE's parameters: the probability that each annotator labels competently, and the
    /// distribution each one draws from when not (`n_annotators * K`).
    Mace {
        /// Competence (probability of not spamming) per annotator.
        competence: Vec<f64>,
        /// Number of classes `K`.
        n_classes: usize,
        /// Spamming distribution, `n_annotators * K`.
        spam: Vec<f64>,
    },
}

impl Skills {
    /// One number per annotator that summarises the skill: the scalar itself, the expected
    /// accuracy `Σ_k prior_k · θ_kk` of a confusion matrix (with the fitted class prior), GLAD's
    /// ability or MACE's competence.
    pub fn summary(&self, class_prior: &[f64]) -> Vec<f64> {
        match self {
            Skills::Scalar { values, .. } => values.clone(),
            Skills::Confusion { n_classes, values } => values
                .chunks_exact(n_classes * n_classes)
                .map(|m| {
                    (0..*n_classes)
                        .map(|k| class_prior[k] * m[k * n_classes + k])
                        .sum()
                })
                .collect(),
            Skills::Glad { alpha, .. } => alpha.clone(),
            Skills::Mace { competence, .. } => competence.clone(),
        }
    }

    /// What [`summary`](Self::summary) returns, as a column name.
    pub fn summary_name(&self) -> &'static str {
        match self {
            Skills::Scalar { name, .. } => name,
            Skills::Confusion { .. } => "expected_accuracy",
            Skills::Glad { .. } => "ability",
            Skills::Mace { .. } => "competence",
        }
    }
}

/// The result of fitting a method.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// The inferred class of each item (by item index).
    pub labels: Vec<u32>,
    /// Number of classes `K`.
    pub n_classes: usize,
    /// Posterior over classes, row-major `n_items * K`; each row sums to 1.
    pub posteriors: Vec<f64>,
    /// The class prior the model ended with (label frequencies for methods without one).
    pub class_prior: Vec<f64>,
    /// Per-annotator skill.
    pub skills: Skills,
    /// Iterations run (0 for one-pass methods).
    pub iterations: u32,
    /// Whether the convergence rule was met before the iteration cap (true for one-pass methods).
    pub converged: bool,
    /// Log-likelihood of the labels under the fitted model, where the model has one (for
    /// maximum a posteriori fits: the log-likelihood plus the log-prior of the parameters).
    pub log_likelihood: Option<f64>,
    /// The objective after each iteration, for convergence plots.
    pub objective_trace: Vec<f64>,
    /// Items whose top posterior is shared by two or more classes; their label is the first of
    /// them in class order.
    pub ties: Vec<u32>,
}

impl Fit {
    /// Posterior of one item.
    pub fn posterior(&self, item: u32) -> &[f64] {
        let k = self.n_classes;
        &self.posteriors[item as usize * k..(item as usize + 1) * k]
    }

    /// Confidence of each item's label: its posterior probability.
    pub fn confidence(&self, item: u32) -> f64 {
        self.posterior(item)[self.labels[item as usize] as usize]
    }
}
