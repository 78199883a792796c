//! `concord annotators`: each annotator's quality in a project; `concord reinstate`: lift a
//! probation or suspension.

use super::{Db, actor, block_on, print_json};
use std::io::Write;

/// Show each annotator's quality: accuracy on gold items and agreement with the latest
/// consensus, each as a Beta posterior mean with its 95 % credible interval; the consensus
/// model's expected accuracy; and whether their gold accuracy is implausibly far above their
/// consensus agreement (a leaked gold set). `--json` adds per-class skill (observed and the
/// model's) and the trend over windows of labels.
///
/// Managers see everyone; an annotator (`--as`) sees only their own.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  concord annotators cxr
  concord annotators cxr --json --window 100
  concord annotators cxr --as dr-lee

Columns: annotator, cost per label, labels on regular items, gold accuracy [95% interval] (n),
agreement with the consensus [95% interval] (n), model's expected accuracy, LEAK? when gold
accuracy's interval lies above the consensus interval by more than 0.1.")]
pub(crate) struct AnnotatorsArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// Labels per trend window (in --json).
    #[arg(long, value_name = "N", default_value_t = 100)]
    window: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// The user acting (default: the first administrator).
    #[arg(long = "as", value_name = "USER")]
    acting: Option<String>,
}

pub(crate) fn run(args: AnnotatorsArgs) -> anyhow::Result<()> {
    block_on(async {
        let core = args.db.open().await?;
        let user = actor(&core, args.acting.as_deref()).await?;
        let report = core
            .annotator_quality(&user, &args.project, args.window)
            .await?;
        if args.json {
            return print_json(&report);
        }
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{:<16} {:>5} {:>7}  {:<26} {:<26} {:>8}",
            "annotator", "cost", "labels", "gold accuracy", "consensus agreement", "expected"
        )?;
        let show = |a: Option<concord_core::quality::Accuracy>| {
            a.map_or("-".to_string(), |a| {
                format!("{:.3} [{:.3}, {:.3}] ({})", a.mean, a.low, a.high, a.total)
            })
        };
        for r in &report {
            writeln!(
                out,
                "{:<16} {:>5} {:>7}  {:<26} {:<26} {:>8}{}",
                r.annotator,
                r.cost,
                r.labels,
                show(r.gold),
                show(r.consensus),
                r.expected_accuracy
                    .map_or("-".to_string(), |e| format!("{e:.3}")),
                if r.leak_suspected { "  LEAK?" } else { "" }
            )?;
        }
        Ok(())
    })
}

/// Lift an annotator's probation or suspension in a project (managers), with a reason; the
/// audit trail records who, when and why.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:
  concord reinstate cxr dr-lee --reason \"retrained on the 2026 protocol\"")]
pub(crate) struct ReinstateArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// The annotator.
    annotator: String,
    /// Why (recorded in the audit trail).
    #[arg(long)]
    reason: String,
    /// The manager acting (default: the first administrator).
    #[arg(long = "as", value_name = "USER")]
    acting: Option<String>,
}

pub(crate) fn run_reinstate(args: ReinstateArgs) -> anyhow::Result<()> {
    block_on(async {
        let core = args.db.open().await?;
        let manager = actor(&core, args.acting.as_deref()).await?;
        core.reinstate(&manager, &args.project, &args.annotator, &args.reason)
            .await?;
        eprintln!(
            "concord: {} is reinstated in `{}`",
            args.annotator, args.project
        );
        Ok(())
    })
}
