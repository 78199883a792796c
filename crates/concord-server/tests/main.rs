//! The server's integration tests: the API over real HTTP on loopback, and the UI in headless
//! Chromium (one binary, a module per concern; STYLE.md §9).

mod api;
mod browser;
mod harness;
