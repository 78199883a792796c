//! End-to-end tests of the `concord` binary.
//!
//! - `bad_input`: every malformed input gets exit code 2 and a message naming file, line, column.
//! - `aggregate`: output formats, atomic output, multi-label.
//! - `evaluate`: the JSON contract.

mod aggregate;
mod bad_input;
mod evaluate;
mod util;
