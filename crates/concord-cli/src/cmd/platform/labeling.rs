//! `concord next`, `concord submit`, `concord consensus`, `concord status`: the labeling loop.

use super::{Db, actor, block_on, print_json};
use concord_consensus::truth::Method;

/// Lease the next item for an annotator and print it (never anyone else's labels).
///
/// Prints the item id and content; with --json an object whose key `item` is the item id, or
/// `null` when the annotator has nothing left. Asking again returns the same item until it is
/// submitted or the lease expires.
///
/// Example:
///   concord next cxr --as dr-lee --json
#[derive(Debug, clap::Args)]
pub(crate) struct NextArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// The annotator.
    #[arg(long = "as", value_name = "USER")]
    acting: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Submit an annotator's label for an item they hold a lease on.
///
/// VALUE is a class id for a one-task protocol (or `uncertain` where allowed), else a JSON object
/// keyed by task id. Invalid values are refused naming the task, and nothing is stored.
///
/// Examples:
///   concord submit cxr CXR-0007 pneumonia --as dr-lee
///   concord submit mammo M-12 '{"birads": "4", "density": 62}' --as dr-kim
#[derive(Debug, clap::Args)]
pub(crate) struct SubmitArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// Item id.
    item: String,
    /// The label.
    value: String,
    /// The annotator.
    #[arg(long = "as", value_name = "USER")]
    acting: String,
    /// Seconds spent on the item.
    #[arg(long)]
    seconds: Option<f64>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Run a consensus method over the project's current annotations and store the run.
///
/// The run records the method, its version, parameters, seed and the SHA-256 of the exact input
/// annotation set; each item's state follows (complete, needs another expert, adjudication).
///
/// Example:
///   concord consensus cxr --method ds --json
#[derive(Debug, clap::Args)]
pub(crate) struct ConsensusArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// Method (default: the project's).
    #[arg(long, value_parser = crate::cmd::common::parse_method)]
    method: Option<Method>,
    /// Why a method other than the locked truthing plan's is used (required then, once reads
    /// have started; recorded as a deviation).
    #[arg(long)]
    reason: Option<String>,
    /// The manager acting (default: the first administrator).
    #[arg(long = "as", value_name = "USER")]
    acting: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Show a project's progress: items by state, labels per item, agreement so far.
#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run_next(args: NextArgs) -> anyhow::Result<()> {
    block_on(async {
        let core = args.db.open().await?;
        let annotator = core.user(&args.acting).await?;
        let task = core.next(&args.project, &annotator).await?;
        if args.json {
            match &task {
                Some(t) => print_json(t)?,
                None => print_json(&serde_json::json!({ "item": null }))?,
            }
        } else {
            match &task {
                Some(t) => println!("{}\t{}\t{}", t.item, t.kind, t.content),
                None => eprintln!(
                    "concord: nothing left for {} in `{}`",
                    args.acting, args.project
                ),
            }
        }
        Ok(())
    })
}

pub(crate) fn run_submit(args: SubmitArgs) -> anyhow::Result<()> {
    block_on(async {
        let core = args.db.open().await?;
        let annotator = core.user(&args.acting).await?;
        let ms = args.seconds.map(|s| (s * 1000.0).round() as i64);
        let receipt = core
            .submit(&args.project, &annotator, &args.item, &args.value, ms)
            .await?;
        core.wait_for_refits().await;
        if args.json {
            print_json(&receipt)?;
        } else if let Some(gold) = &receipt.gold {
            let verdict = if gold.correct {
                "right"
            } else {
                "not the reference answer"
            };
            println!("submitted ({verdict}; reference: {})", gold.reference);
            if let Some(d) = gold.definition.as_deref().filter(|d| !d.is_empty()) {
                println!("definition: {d}");
            }
        } else {
            println!("submitted");
        }
        Ok(())
    })
}

pub(crate) fn run_consensus(args: ConsensusArgs) -> anyhow::Result<()> {
    block_on(async {
        let core = args.db.open().await?;
        let manager = actor(&core, args.acting.as_deref()).await?;
        let summary = core
            .consensus_with_reason(&manager, &args.project, args.method, args.reason.as_deref())
            .await?;
        if args.json {
            print_json(&summary)?;
        } else {
            println!(
                "run {}: {} over {} annotations of {} items ({} iterations{}); {} complete, {} in adjudication, {} open",
                summary.run,
                summary.method,
                summary.annotations,
                summary.items,
                summary.iterations,
                if summary.converged {
                    ""
                } else {
                    ", not converged"
                },
                summary.complete,
                summary.adjudication,
                summary.open
            );
        }
        Ok(())
    })
}

pub(crate) fn run_status(args: StatusArgs) -> anyhow::Result<()> {
    block_on(async {
        let core = args.db.open().await?;
        let status = core.status(&args.project).await?;
        if args.json {
            print_json(&status)?;
        } else {
            println!("project {}", status.project);
            let mut phases: Vec<_> = status.items.iter().collect();
            phases.sort();
            for (phase, n) in phases {
                println!("  {phase:<13} {n}");
            }
            println!("  annotations   {}", status.annotations);
            println!("  labels/item   {:.2}", status.labels_per_item);
            println!("  cost/item     {:.2}", status.cost_per_item);
            match status.agreement {
                Some(a) => println!("  agreement     {:.3} (pairwise, primary task)", a),
                None => println!("  agreement     - (no item has two answers yet)"),
            }
        }
        Ok(())
    })
}
