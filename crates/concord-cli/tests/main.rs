//! End-to-end tests of the `concord` binary, run as a user would run it.
//!
//! - `bad_input`: every malformed input gets exit code 2 and a message naming file, line, column.
//! - `aggregate`: output formats, atomic output, multi-label.
//! - `evaluate`: the JSON contract.
//! - `fuse`: `concord fuse masks|boxes|spans` and `concord overlap` on real PNG, NIfTI and CSV
//!   files written by the tests, including bad input (exit 2, the message names the file).

mod aggregate;
mod bad_input;
mod evaluate;
mod fuse;
mod util;
