//! Categorical truth inference: from several annotators' labels to one label per item, with a
//! posterior over classes and a measured skill per annotator.
//!
//! Every method implements [`Aggregator`] and returns a [`Fit`]. The methods, one file each:
//!
//! | method | type | skill model | reference |
//! |---|---|---|---|
//! | `mv` | [`MajorityVote`] | none | — |
//! | `wmv` | [`WeightedMajorityVote`] | given weights | — |
//! | `wawa` | [`Wawa`] | agreement with the majority | crowd-kit |
//! | `zbs` | [`ZeroBasedSkill`] | scalar, gradient-fitted | crowd-kit |
//! | `ds` | [`DawidSkene`] | confusion matrix | doi:10.2307/2346806 |
//! | `ods` | [`OneCoinDawidSkene`] | one accuracy | doi:10.2307/2346806 |
//! | `gds` | [`DawidSkene`] with gold | confusion matrix | doi:10.2307/2346806 |
//! | `glad` | [`Glad`] | ability × item difficulty | Whitehill et al. 2009 |
//! | `mace` | [`Mace`] | competence + spamming pattern | Hovy et al. 2013, doi:10.18653/v1/N13-1132 |
//! | `kos` | [`Kos`] | reliability (binary) | Karger, Oh & Shah 2011, arXiv:1110.3564 |
//! | `mmsr` | [`Mmsr`] | skill from matrix completion | arXiv:2010.12181 |
//! | `ibcc` | [`Ibcc`] | Dirichlet confusion matrix | Kim & Ghahramani 2012 |
//!
//! [`MultiLabel`] runs any of them once per class on a multi-label task.

mod dawid_skene;
mod fit;
mod glad;
mod ibcc;
mod kernels;
mod kos;
mod mace;
mod majority;
mod method;
mod mmsr;
mod multilabel;
mod wawa;
mod zbs;

pub use dawid_skene::{DawidSkene, OneCoinDawidSkene, PriorCenter};
pub use fit::{Aggregator, Fit, FitError, NoProgress, Progress, Skills};
pub use glad::Glad;
pub use ibcc::Ibcc;
pub use kos::Kos;
pub use mace::{Mace, MaceMethod};
pub use majority::{MajorityVote, WeightedMajorityVote};
pub use method::{Method, MethodParams, UnknownMethod};
pub use mmsr::Mmsr;
pub use multilabel::{
    ABSENT, MultiLabel, MultiLabelAnnotations, MultiLabelBuilder, MultiLabelFit, PRESENT,
};
pub use wawa::Wawa;
pub use zbs::ZeroBasedSkill;
