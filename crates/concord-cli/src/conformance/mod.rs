//! Conformance cases: each family computes its kinds of `conformance/*.json` from `input`.

// `concord validate` (built on the agreement branch) dispatches here; until it lands, only the
// tests call the fusion family.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod fusion;
