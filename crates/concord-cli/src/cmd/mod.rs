//! The command line: one file per subcommand, each with its `Args` and `run`.

mod aggregate;
mod agreement;
mod common;
mod evaluate;
mod fuse;
mod overlap;
mod validate;

use clap::{Parser, Subcommand};
pub(crate) use fuse::number;
use std::process::ExitCode;

/// Concord turns several clinical experts' labels into one reference label per item, with a
/// confidence, weighting each expert by measured skill.
///
/// Input labels are CSV with the header `item,annotator,label` (crowd-kit's `task,worker,label`
/// is accepted too). Errors name the file, line and column, and exit with code 2.
#[derive(Debug, Parser)]
#[command(name = "concord", version, about, max_term_width = 100)]
pub(crate) struct Cli {
    /// Worker threads for parallel computation (default: one per core). Results are identical
    /// for any number.
    #[arg(long, global = true, value_name = "N")]
    pub(crate) threads: Option<usize>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    Aggregate(aggregate::Args),
    Agreement(agreement::Args),
    Evaluate(evaluate::Args),
    Fuse(fuse::Args),
    Overlap(overlap::Args),
    Validate(validate::Args),
}

pub(crate) fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Aggregate(args) => aggregate::run(args),
        Command::Agreement(args) => agreement::run(args),
        Command::Evaluate(args) => evaluate::run(args),
        Command::Fuse(args) => fuse::run(args),
        Command::Overlap(args) => overlap::run(args),
        Command::Validate(args) => validate::run(args),
    }
}
