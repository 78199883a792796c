//! Concord's computations, with no I/O: truth inference over several experts' labels, and
//! fusion of their masks, boxes and text spans ([`fusion`]).
//! how far those labels agree ([`agreement`]).
//!
//! The crate is usable alone, the way crowd-kit is. Build an [`Annotations`] matrix from
//! `(item, annotator, label)` triples, pick a method from [`truth`], and read the [`truth::Fit`]:
//! a label and a posterior per item and a skill per annotator.
//!
//! ```
//! use concord_consensus::{AnnotationsBuilder, DuplicatePolicy, truth::{Aggregator, DawidSkene}};
//! let mut builder = AnnotationsBuilder::new();
//! for (item, annotator, label) in [
//!     ("scan-1", "dr-a", "benign"), ("scan-1", "dr-b", "benign"), ("scan-1", "dr-c", "malignant"),
//!     ("scan-2", "dr-a", "malignant"), ("scan-2", "dr-b", "malignant"), ("scan-2", "dr-c", "malignant"),
//! ] {
//!     builder.push(item, annotator, label);
//! }
//! let data = builder.build(DuplicatePolicy::Error).unwrap();
//! let fit = DawidSkene::default().fit(&data).unwrap();
//! assert_eq!(&*data.classes()[fit.labels[0] as usize], "benign");
//! ```
//!
//! Every method is deterministic: the same input and seed give the same output, bit for bit,
//! whatever the size of the rayon thread pool.

#![warn(missing_docs)]

pub mod agreement;
mod data;
pub mod edge;
pub mod fusion;
pub mod quality;
pub mod truth;

pub use data::{
    Annotations, AnnotationsBuilder, AnnotatorIdx, BuildError, ClassIdx, DuplicatePolicy, ItemIdx,
};
