//! Invariances every method must keep.
// Filled in with the property tests; see docs/roadmap.md.
