//! Integration tests of `concord-consensus`.
//!
//! - `datasets`: every method on every public data set, against crowd-kit's accuracy.
//! - `properties`: invariances (order, renaming, thread count).
//! - `anaesthesia`: Dawid & Skene's own 1979 data.
//! - `boundary`: the crate stays free of I/O and of other Concord crates.

mod anaesthesia;
mod boundary;
mod datasets;
mod properties;
mod util;
