//! End-to-end tests of the `concord` binary, run as a user would run it.
//!
//! - `bad_input`: every malformed input gets exit code 2 and a message naming file, line, column.
//! - `aggregate`: output formats, atomic output, multi-label.
//! - `evaluate`: the JSON contract.
//! - `fuse`: `concord fuse masks|boxes|spans` and `concord overlap` on real PNG, NIfTI and CSV
//!   files written by the tests, including bad input (exit 2, the message names the file).
//! - `platform`: the database commands as the README shows them, and their refusals.
//! - `audit`: tamper tests: the SQLite file edited behind the application's back, and
//!   `concord audit verify` naming the first broken sequence number.
//! - `release`: releases (signed, frozen, byte-identical exports, the test-set firewall),
//!   provenance and reader variability.
//! - `report`: the truthing report in headless Chromium: screenshot, every figure equals the JSON.
//! - `quality`: `concord simulate` (JSON, sweeps, bad pools), `concord import predictions` and
//!   `concord edge-cases` (a model's dissent raises items; the import is audited and verified).
//! - `agreement`: `concord agreement` output, flags and bad input.
//! - `validate`: `concord validate` on the reference cases (bundled and from files).
//! - `upgrade`: databases written by earlier schema versions open, verify and render.
//! - `parallel_read`: label files over 4 MiB, split across cores, read as one sequential read.
//! - `conformance_copy`: the project's `conformance/` is a byte-identical copy of the shared one.

mod aggregate;
mod agreement;
mod audit;
mod bad_input;
mod conformance_copy;
mod evaluate;
mod fuse;
mod parallel_read;
mod platform;
mod quality;
mod release;
mod report;
mod upgrade;
mod util;
mod validate;
