//! Integration tests of `concord-consensus`.
//!
//! - `agreement`: agreement statistics keep their invariances (rater and unit order, perfect
//!   agreement, thread count).
//! - `datasets`: every method on every public data set, against crowd-kit's accuracy.
//! - `properties`: invariances (order, renaming, thread count).
//! - `anaesthesia`: Dawid & Skene's own 1979 data.
//! - `boundary`: the crate stays free of I/O and of other Concord crates.
//! - `fusion_conformance`: every case of `conformance/fusion.json` (SimpleITK oracles).
//! - `fusion_properties`: box and span fusion, hand-built cases and invariances.

mod agreement;
mod anaesthesia;
mod boundary;
mod datasets;
mod fusion_conformance;
mod fusion_properties;
mod properties;
mod util;
