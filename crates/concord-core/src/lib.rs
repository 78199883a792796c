//! Concord's domain: what a labeling project is and how it decides.
//!
//! - [`protocol`]: versioned label schemas and the validation of submitted values.
//! - [`items`]: importing items from JSONL or CSV, with content hashes.
//! - [`policy`]: project settings, fixed and adaptive overlap, the qualification gate.
//! - [`skills`]: skill snapshots for the posterior update after each submission.
//! - [`auth`]: password hashing.
//! - [`edge`]: the edge-case queue and the model predictions it compares with the consensus.
//! - [`service`]: [`Core`], every workflow operation with its role check.
//! - [`plan`]: the truthing plan, locked and signed before reads, and deviations from it.
//! - [`provenance`]: everything that made one item's label.
//! - [`gold`]: the gold set's lifecycle: candidates from adjudicated items, exposure, retirement.
//! - [`quality`]: annotator quality: gold accuracy and consensus agreement with credible
//!   intervals, per-class skill, trend, leaked gold.
//! - [`release`]: frozen, signed releases, their exports, the test-set firewall and reader
//!   variability.
//! - [`report`]: the truthing report of a release, as JSON and as an HTML page.

#![warn(missing_docs)]

pub mod auth;
pub mod edge;
pub mod gold;
pub mod items;
pub mod membership;
pub mod plan;
pub mod policy;
pub mod protocol;
pub mod provenance;
pub mod quality;
pub mod release;
pub mod report;
pub mod retention;
pub mod service;
pub mod skills;
mod stored;

pub use service::{Core, CoreError, CoreResult};
