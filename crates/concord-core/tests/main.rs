//! End-to-end tests of the workflow through `Core` on a real SQLite database.
//!
//! - `workflow`: 500 items, 8 simulated annotators of known skill, adaptive overlap, gold,
//!   the qualification gate; accuracy, blindness, no item twice, gold rate.
//! - `concurrency`: 16 threads leasing and submitting on one project.
//! - `refusals`: bad input is refused with a clear message and leaves the database unchanged.
//! - `retention`: legal holds, logical deletion, the purge job, backups.

mod concurrency;
mod refusals;
mod retention;
mod util;
mod workflow;
