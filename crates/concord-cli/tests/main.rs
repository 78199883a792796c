//! Integration tests of the `concord` binary, run as a user would run it.
//!
//! - `fuse`: `concord fuse masks|boxes|spans` and `concord overlap` on real PNG, NIfTI and CSV
//!   files written by the tests, including bad input (exit 2, the message names the file).

mod fuse;
