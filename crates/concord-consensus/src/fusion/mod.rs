//! Label fusion: several readers' masks, boxes or text spans fused into one reference, with each
//! reader's measured performance.
//!
//! | what | type or function | reference |
//! |---|---|---|
//! | majority vote of label maps | [`LabelVoting`] | SimpleITK `LabelVotingImageFilter` |
//! | weighted vote of label maps | [`WeightedVoting`] | — |
//! | binary STAPLE | [`Staple`] | Warfield et al. 2004, doi:10.1109/TMI.2004.828354 |
//! | multi-label STAPLE | [`MultiLabelStaple`] | Rohlfing et al. 2004, doi:10.1109/TMI.2004.830802 |
//! | Dice, Jaccard, volumes | [`overlap()`] | — |
//! | Hausdorff, HD95, average HD | [`distances()`] | Felzenszwalb & Huttenlocher 2012 (distance transform) |
//! | box fusion | [`BoxFusion`] | Solovyev et al., arXiv:1910.13302 (weighted box fusion) |
//! | span fusion, span F1 | [`SpanFusion`], [`span_agreement`] | Hripcsak & Rothschild 2005, doi:10.1197/jamia.M1733 |
//!
//! Volumes are dense C-order arrays ([`Volume`]); file formats live in `concord-imageio`.
//! Every computation splits voxels into fixed chunks and combines chunk results in order, so the
//! output is identical for any number of threads.

mod assignment;
mod boxes;
mod edt;
mod error;
mod mask;
mod multilabel_staple;
mod overlap;
mod patterns;
mod spans;
mod staple;
mod voting;

pub use boxes::{BoxFusion, FusedBox, ReaderBox, Rect};
pub use error::FusionError;
pub use mask::{LabelVolume, ProbabilityMap, Volume};
pub use multilabel_staple::{MultiLabelStaple, MultiLabelStapleFit};
pub use overlap::{
    Directed, Distances, Overlap, PairAgreement, against, distances, overlap, pairwise,
};
pub use spans::{FusedSpan, ReaderSpan, SpanAgreement, SpanFusion, span_agreement};
pub use staple::{Staple, StapleFit};
pub use voting::{LabelVoting, VotingFit, WeightedVoting};
