//! `concord import items|predictions`: add items, or a model's predictions, to a project.

use super::{Db, actor, block_on};
use std::path::PathBuf;

/// Import data into a project.
#[derive(Debug, clap::Args)]
pub(crate) struct ImportArgs {
    #[command(subcommand)]
    command: ImportCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ImportCommand {
    /// Import items from JSONL or CSV (`.csv`), all or nothing.
    ///
    /// Each item has `id`, exactly one of `text`, `image` (a path, relative to the file) or `uri`,
    /// an optional `gold` answer (a class id, or a JSON value keyed by task), and any other fields
    /// as metadata. The content's SHA-256 is recorded.
    ///
    /// Example (items.jsonl):
    ///   {"id": "r-001", "text": "No focal consolidation.", "gold": "normal"}
    ///   {"id": "r-002", "image": "scans/r-002.png", "site": "north"}
    Items(ItemsArgs),
    /// Import a model's predictions as a non-voting source, all or nothing.
    ///
    /// Truth inference never reads them; `concord edge-cases` ranks items where the model and
    /// the consensus disagree higher. CSV with a header `item,label[,confidence]`, or JSONL with
    /// those keys; `label` is a class of the protocol's primary task, `confidence` the model's
    /// probability of it. A model name may be imported once per item: put the version in it.
    ///
    /// Example (predictions.csv):
    ///   item,label,confidence
    ///   r-001,normal,0.97
    ///   r-002,pneumonia,0.64
    Predictions(PredictionsArgs),
}

#[derive(Debug, clap::Args)]
struct PredictionsArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// CSV or JSONL file.
    file: PathBuf,
    /// Model name and version, e.g. cxr-net-2.1.
    #[arg(long, value_name = "NAME")]
    model: String,
    /// The manager acting (default: the first administrator).
    #[arg(long = "as", value_name = "USER")]
    acting: Option<String>,
}

#[derive(Debug, clap::Args)]
struct ItemsArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// JSONL or CSV file.
    file: PathBuf,
    /// The manager acting (default: the first administrator).
    #[arg(long = "as", value_name = "USER")]
    acting: Option<String>,
}

pub(crate) fn run(args: ImportArgs) -> anyhow::Result<()> {
    let args = match args.command {
        ImportCommand::Items(args) => args,
        ImportCommand::Predictions(args) => return run_predictions(args),
    };
    block_on(async {
        let core = args.db.open().await?;
        let manager = actor(&core, args.acting.as_deref()).await?;
        let n = core
            .import_items(&manager, &args.project, &args.file)
            .await?;
        eprintln!("concord: imported {n} items into `{}`", args.project);
        Ok(())
    })
}

fn run_predictions(args: PredictionsArgs) -> anyhow::Result<()> {
    block_on(async {
        let core = args.db.open().await?;
        let manager = actor(&core, args.acting.as_deref()).await?;
        let n = core
            .import_predictions(&manager, &args.project, &args.model, &args.file)
            .await?;
        eprintln!(
            "concord: imported {n} predictions of `{}` into `{}`",
            args.model, args.project
        );
        Ok(())
    })
}
