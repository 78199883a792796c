//! The method registry: short names (as the command line spells them) to configured aggregators.

use super::Ibcc;
use super::Kos;
use super::Mmsr;
use super::fit::Aggregator;
use super::{
    DawidSkene, MajorityVote, OneCoinDawidSkene, Wawa, WeightedMajorityVote, ZeroBasedSkill,
};
use super::{Glad, Mace};
use std::fmt;
use std::str::FromStr;

/// A truth-inference method, by its short name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Method {
    /// `mv`: [`MajorityVote`].
    Mv,
    /// `wmv`: [`WeightedMajorityVote`] (needs weights).
    Wmv,
    /// `wawa`: [`Wawa`].
    Wawa,
    /// `zbs`: [`ZeroBasedSkill`].
    Zbs,
    /// `ds`: [`DawidSkene`], the default.
    Ds,
    /// `ods`: [`OneCoinDawidSkene`].
    Ods,
    /// `gds`: gold-anchored [`DawidSkene`] (needs gold).
    Gds,
    /// `kos`: [`Kos`] (binary only).
    Kos,
    /// `mmsr`: [`Mmsr`].
    Mmsr,
    /// `ibcc`: [`Ibcc`].
    Ibcc,
    /// `glad`: [`Glad`].
    Glad,
    /// `mace`: [`Mace`].
    Mace,
}

impl Method {
    /// Every method, in the order the command line lists them.
    pub const ALL: &'static [Method] = &[
        Method::Mv,
        Method::Wmv,
        Method::Wawa,
        Method::Zbs,
        Method::Ds,
        Method::Ods,
        Method::Gds,
        Method::Glad,
        Method::Mace,
        Method::Kos,
        Method::Mmsr,
        Method::Ibcc,
    ];

    /// The method `concord aggregate` uses when none is named: `ds`, i.e. [`DawidSkene`] with
    /// its defaults — confusion matrices under an empirical-Bayes Dirichlet prior (each
    /// annotator's own recall, errors spread like the crowd's, 4 pseudo-labels per row), EM
    /// accelerated by SQUAREM and run until no posterior moves by more than `1e-6`, and, for two
    /// classes, the one-coin fit instead when its labels agree with the annotators' plurality on
    /// more items. No parameter depends on the data set. On the public data sets it averages
    /// 0.839 over the 17 where all eight general crowd-kit methods ran and is within 2 points of
    /// crowd-kit's best method on every set (`docs/default-method.md`).
    pub const DEFAULT: Method = Method::Ds;

    /// The short name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Mv => "mv",
            Method::Wmv => "wmv",
            Method::Wawa => "wawa",
            Method::Zbs => "zbs",
            Method::Ds => "ds",
            Method::Ods => "ods",
            Method::Gds => "gds",
            Method::Kos => "kos",
            Method::Mmsr => "mmsr",
            Method::Ibcc => "ibcc",
            Method::Glad => "glad",
            Method::Mace => "mace",
        }
    }

    /// A one-line description for `--help`.
    pub fn describe(self) -> &'static str {
        match self {
            Method::Mv => "majority vote",
            Method::Wmv => "weighted majority vote (weights from gold accuracy or given)",
            Method::Wawa => {
                "majority vote weighted by agreement with the majority (crowd-kit Wawa)"
            }
            Method::Zbs => "zero-based skill (crowd-kit ZeroBasedSkill)",
            Method::Ds => {
                "Dawid-Skene with an empirical-Bayes prior on confusion matrices (default)"
            }
            Method::Ods => "one-coin Dawid-Skene (guarded against class-prior collapse)",
            Method::Gds => "gold-anchored Dawid-Skene (needs gold)",
            Method::Kos => "Karger-Oh-Shah message passing, with sign disambiguation (binary only)",
            Method::Mmsr => {
                "matrix mean-subsequence-reduced skills, weighted vote (crowd-kit MMSR)"
            }
            Method::Ibcc => "independent Bayesian classifier combination (variational Bayes)",
            Method::Glad => "GLAD: annotator ability times item difficulty (Whitehill et al. 2009)",
            Method::Mace => "MACE: competence and spamming pattern (Hovy et al. 2013)",
        }
    }

    /// Whether the method needs known answers (gds) or annotator weights (wmv).
    pub fn needs_gold(self) -> bool {
        matches!(self, Method::Gds | Method::Wmv)
    }

    /// Builds the configured aggregator.
    pub fn build(self, params: &MethodParams) -> Box<dyn Aggregator> {
        let max_iter = |d: u32| params.max_iter.unwrap_or(d);
        let tol = |d: f64| params.tol.unwrap_or(d);
        match self {
            Method::Mv => Box::new(MajorityVote),
            Method::Wmv => Box::new(WeightedMajorityVote {
                weights: params.weights.clone(),
            }),
            Method::Wawa => Box::new(Wawa),
            Method::Zbs => {
                let d = ZeroBasedSkill::default();
                Box::new(ZeroBasedSkill {
                    max_iter: max_iter(d.max_iter),
                    ..d
                })
            }
            Method::Ds | Method::Gds => {
                let d = if self == Method::Gds {
                    DawidSkene::gold_anchored()
                } else {
                    DawidSkene::default()
                };
                Box::new(DawidSkene {
                    max_iter: max_iter(d.max_iter),
                    tol: tol(d.tol),
                    ..d
                })
            }
            Method::Ods => {
                let d = OneCoinDawidSkene::default();
                Box::new(OneCoinDawidSkene {
                    max_iter: max_iter(d.max_iter),
                    tol: tol(d.tol),
                    ..d
                })
            }
            Method::Glad => {
                let d = Glad::default();
                Box::new(Glad {
                    n_iter: max_iter(d.n_iter),
                    tol: tol(d.tol),
                    ..d
                })
            }
            Method::Mace => {
                let d = Mace::default();
                Box::new(Mace {
                    n_iter: max_iter(d.n_iter),
                    tol: tol(d.tol),
                    seed: params.seed,
                    ..d
                })
            }
            Method::Kos => {
                let d = Kos::default();
                Box::new(Kos {
                    max_iter: max_iter(d.max_iter),
                    seed: params.seed,
                    ..d
                })
            }
            Method::Mmsr => {
                let d = Mmsr::default();
                Box::new(Mmsr {
                    max_iter: max_iter(d.max_iter),
                    tol: tol(d.tol),
                    seed: params.seed,
                })
            }
            Method::Ibcc => {
                let d = Ibcc::default();
                Box::new(Ibcc {
                    max_iter: max_iter(d.max_iter),
                    tol: tol(d.tol),
                    ..d
                })
            }
        }
    }
}

/// Parameters shared by the registry's methods; `None` keeps each method's default.
#[derive(Debug, Clone, Default)]
pub struct MethodParams {
    /// Seed of methods with randomness.
    pub seed: u64,
    /// Iteration cap.
    pub max_iter: Option<u32>,
    /// Convergence threshold (each method documents what it measures).
    pub tol: Option<f64>,
    /// Annotator weights for `wmv`, by annotator index.
    pub weights: Vec<f64>,
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name is not one of [`Method::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown method {0:?}; expected one of: mv wmv wawa zbs ds ods gds glad mace kos mmsr ibcc"
)]
pub struct UnknownMethod(pub String);

impl FromStr for Method {
    type Err = UnknownMethod;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::ALL
            .iter()
            .copied()
            .find(|m| m.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownMethod(s.to_string()))
    }
}
