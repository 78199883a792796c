//! The store test suite: every operation, constraint and rollback, written once against the
//! `Store` trait so a second backend can run it unchanged (`store_test!` makes one test per
//! backend; SQLite today).

mod suite;
mod util;
