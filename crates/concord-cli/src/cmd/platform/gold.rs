//! `concord gold`: the gold set's lifecycle (candidates, state of each gold item, retirement).

use super::{Db, actor, block_on, print_json};
use crate::output::Output;
use std::io::Write;

/// The gold set: candidates from adjudicated items, each gold item's record, retirement.
///
/// A gold item stays honest while few people have seen its answer: `gold list` shows how often
/// each was answered and how often rightly; `gold retire` takes one out of service (the project
/// can do so automatically: `concord project create --retire-gold-after N`). New gold comes from
/// `gold candidates`: adjudicated items whose adjudicated class the consensus also gave with
/// high confidence, written as `concord import items` JSONL (the answer as `gold`, the source
/// in `metadata.gold_source`) to review and import into the next batch. Leaked gold shows in
/// `concord annotators` (LEAK?).
#[derive(Debug, clap::Args)]
pub(crate) struct GoldArgs {
    #[command(subcommand)]
    command: GoldCommand,
}

#[derive(Debug, clap::Subcommand)]
enum GoldCommand {
    /// Adjudicated items the latest consensus run agreed with, at a high confidence, as
    /// `concord import items` JSONL.
    ///
    /// Examples:
    ///   concord gold candidates cxr -o candidates.jsonl
    ///   concord gold candidates cxr --min-confidence 0.99
    Candidates(CandidatesArgs),
    /// Each gold item: its answer, how many answered it, how many rightly, retired or not.
    List(ListArgs),
    /// Take a gold item out of service (it is never served again; its answers stay), with a
    /// reason for the audit trail.
    ///
    /// Example:
    ///   concord gold retire cxr g-017 --reason "shown in the March training session"
    Retire(RetireArgs),
}

#[derive(Debug, clap::Args)]
struct CandidatesArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// The least consensus confidence in the adjudicated class.
    #[arg(long, value_name = "P", default_value_t = concord_core::gold::CANDIDATE_CONFIDENCE)]
    min_confidence: f64,
    /// Write the JSONL here instead of standard output.
    #[arg(short, long, value_name = "FILE.jsonl")]
    output: Option<std::path::PathBuf>,
    /// The manager acting (default: the first administrator).
    #[arg(long = "as", value_name = "USER")]
    acting: Option<String>,
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// The manager or auditor acting (default: the first administrator).
    #[arg(long = "as", value_name = "USER")]
    acting: Option<String>,
}

#[derive(Debug, clap::Args)]
struct RetireArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// The gold item's id.
    item: String,
    /// Why (recorded in the audit trail).
    #[arg(long)]
    reason: String,
    /// The manager acting (default: the first administrator).
    #[arg(long = "as", value_name = "USER")]
    acting: Option<String>,
}

pub(crate) fn run(args: GoldArgs) -> anyhow::Result<()> {
    match args.command {
        GoldCommand::Candidates(args) => block_on(async {
            let core = args.db.open().await?;
            let manager = actor(&core, args.acting.as_deref()).await?;
            let candidates = core
                .gold_candidates(&manager, &args.project, args.min_confidence)
                .await?;
            let mut out = Output::create(args.output.as_deref())?;
            for c in &candidates {
                writeln!(out, "{}", c.import_line(&args.project))?;
            }
            out.commit()?;
            eprintln!(
                "concord: {} gold candidate(s) in `{}` (adjudicated, consensus >= {})",
                candidates.len(),
                args.project,
                args.min_confidence
            );
            Ok(())
        }),
        GoldCommand::List(args) => block_on(async {
            let core = args.db.open().await?;
            let user = actor(&core, args.acting.as_deref()).await?;
            let gold = core.gold_items(&user, &args.project).await?;
            if args.json {
                return print_json(&gold);
            }
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "{:<20} {:<24} {:>7} {:>6} {:>9}  state",
                "item", "gold", "answers", "right", "accuracy"
            )?;
            for g in &gold {
                writeln!(
                    out,
                    "{:<20} {:<24} {:>7} {:>6} {:>9}  {}",
                    g.item,
                    g.gold.to_string(),
                    g.answers,
                    g.right,
                    if g.answers > 0 {
                        format!("{:.2}", g.right as f64 / g.answers as f64)
                    } else {
                        "-".into()
                    },
                    if g.retired { "retired" } else { "in service" }
                )?;
            }
            Ok(())
        }),
        GoldCommand::Retire(args) => block_on(async {
            let core = args.db.open().await?;
            let manager = actor(&core, args.acting.as_deref()).await?;
            core.retire_gold(&manager, &args.project, &args.item, &args.reason)
                .await?;
            eprintln!(
                "concord: gold item `{}` of `{}` is retired",
                args.item, args.project
            );
            Ok(())
        }),
    }
}
