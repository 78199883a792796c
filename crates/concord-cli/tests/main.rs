//! Integration tests of the `concord` binary.
//!
//! - `agreement`: `concord agreement` output, flags and bad input.
//! - `validate`: `concord validate` on the reference cases (bundled and from files).
//! - `conformance_copy`: the project's `conformance/` is a byte-identical copy of the shared one.

mod agreement;
mod conformance_copy;
mod util;
mod validate;
