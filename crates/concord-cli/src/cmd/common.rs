//! Flags shared by several subcommands.

use concord_consensus::DuplicatePolicy;
use concord_consensus::truth::Method;

/// What to keep when an annotator labelled the same item twice.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Duplicates {
    /// Refuse the file, naming both lines.
    Error,
    /// Keep the first label in file order.
    First,
    /// Keep the last label in file order.
    Last,
    /// Keep every label as an independent read (Dawid & Skene's 1979 data needs this).
    All,
}

impl From<Duplicates> for DuplicatePolicy {
    fn from(d: Duplicates) -> Self {
        match d {
            Duplicates::Error => DuplicatePolicy::Error,
            Duplicates::First => DuplicatePolicy::First,
            Duplicates::Last => DuplicatePolicy::Last,
            Duplicates::All => DuplicatePolicy::All,
        }
    }
}

/// Parses a method's short name for clap.
pub(crate) fn parse_method(s: &str) -> Result<Method, String> {
    s.parse::<Method>().map_err(|e| e.to_string())
}

/// The `--help` text listing the methods.
pub(crate) fn methods_help() -> String {
    let mut help = String::from("Methods:\n");
    for m in Method::ALL {
        help.push_str(&format!("  {:<6} {}\n", m.name(), m.describe()));
    }
    help
}
