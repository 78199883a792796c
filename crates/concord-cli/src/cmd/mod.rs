//! The command line: one file per subcommand, each with its `Args` and `run`.

mod aggregate;
mod agreement;
mod common;
mod evaluate;
mod fuse;
mod overlap;
mod platform;
mod simulate;
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
    /// Create the database, its audit key and its first administrator.
    Init(platform::init::InitArgs),
    /// Manage users.
    User(platform::user::UserArgs),
    /// Manage projects.
    Project(platform::project::ProjectArgs),
    /// Manage protocol versions.
    Protocol(platform::project::ProtocolArgs),
    /// Import items into a project.
    Import(platform::items::ImportArgs),
    Next(platform::labeling::NextArgs),
    Submit(platform::labeling::SubmitArgs),
    Consensus(platform::labeling::ConsensusArgs),
    /// The adjudication queue.
    Adjudication(platform::adjudication::AdjudicationArgs),
    Adjudicate(platform::adjudication::AdjudicateArgs),
    Status(platform::labeling::StatusArgs),
    Export(platform::export::ExportArgs),
    Audit(platform::audit::AuditArgs),
    Release(platform::release::ReleaseArgs),
    Plan(platform::plan::PlanArgs),
    Report(platform::report::ReportArgs),
    Provenance(platform::provenance::ProvenanceArgs),
    Demo(platform::demo::DemoArgs),
    Simulate(simulate::Args),
    EdgeCases(platform::edge::EdgeArgs),
    Annotators(platform::annotators::AnnotatorsArgs),
    Reinstate(platform::annotators::ReinstateArgs),
    Feedback(platform::annotators::FeedbackArgs),
    Ambiguity(platform::annotators::AmbiguityArgs),
    Gold(platform::gold::GoldArgs),
    Serve(platform::serve::ServeArgs),
    Retention(platform::retention::RetentionArgs),
    Backup(platform::retention::BackupArgs),
}

pub(crate) fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Aggregate(args) => aggregate::run(args),
        Command::Agreement(args) => agreement::run(args),
        Command::Evaluate(args) => evaluate::run(args),
        Command::Fuse(args) => fuse::run(args),
        Command::Overlap(args) => overlap::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Init(args) => platform::init::run(args).map(|()| ExitCode::SUCCESS),
        Command::User(args) => platform::user::run(args).map(|()| ExitCode::SUCCESS),
        Command::Project(args) => platform::project::run_project(args).map(|()| ExitCode::SUCCESS),
        Command::Protocol(args) => {
            platform::project::run_protocol(args).map(|()| ExitCode::SUCCESS)
        }
        Command::Import(args) => platform::items::run(args).map(|()| ExitCode::SUCCESS),
        Command::Next(args) => platform::labeling::run_next(args).map(|()| ExitCode::SUCCESS),
        Command::Submit(args) => platform::labeling::run_submit(args).map(|()| ExitCode::SUCCESS),
        Command::Consensus(args) => {
            platform::labeling::run_consensus(args).map(|()| ExitCode::SUCCESS)
        }
        Command::Adjudication(args) => {
            platform::adjudication::run_list(args).map(|()| ExitCode::SUCCESS)
        }
        Command::Adjudicate(args) => {
            platform::adjudication::run_adjudicate(args).map(|()| ExitCode::SUCCESS)
        }
        Command::Status(args) => platform::labeling::run_status(args).map(|()| ExitCode::SUCCESS),
        Command::Export(args) => platform::export::run(args).map(|()| ExitCode::SUCCESS),
        Command::Audit(args) => platform::audit::run(args),
        Command::Release(args) => platform::release::run(args),
        Command::Plan(args) => platform::plan::run(args).map(|()| ExitCode::SUCCESS),
        Command::Report(args) => platform::report::run(args).map(|()| ExitCode::SUCCESS),
        Command::Provenance(args) => platform::provenance::run(args).map(|()| ExitCode::SUCCESS),
        Command::Demo(args) => platform::demo::run(args).map(|()| ExitCode::SUCCESS),
        Command::Simulate(args) => simulate::run(args),
        Command::EdgeCases(args) => platform::edge::run(args).map(|()| ExitCode::SUCCESS),
        Command::Annotators(args) => platform::annotators::run(args).map(|()| ExitCode::SUCCESS),
        Command::Reinstate(args) => {
            platform::annotators::run_reinstate(args).map(|()| ExitCode::SUCCESS)
        }
        Command::Feedback(args) => {
            platform::annotators::run_feedback(args).map(|()| ExitCode::SUCCESS)
        }
        Command::Ambiguity(args) => {
            platform::annotators::run_ambiguity(args).map(|()| ExitCode::SUCCESS)
        }
        Command::Gold(args) => platform::gold::run(args).map(|()| ExitCode::SUCCESS),
        Command::Serve(args) => platform::serve::run(args).map(|()| ExitCode::SUCCESS),
        Command::Retention(args) => platform::retention::run(args).map(|()| ExitCode::SUCCESS),
        Command::Backup(args) => platform::retention::run_backup(args).map(|()| ExitCode::SUCCESS),
    }
}
