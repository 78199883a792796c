//! Concord's domain: what a labeling project is and how it decides.
//!
//! - [`protocol`]: versioned label schemas and the validation of submitted values.
//! - [`items`]: importing items from JSONL or CSV, with content hashes.

#![warn(missing_docs)]

pub mod items;
pub mod protocol;
