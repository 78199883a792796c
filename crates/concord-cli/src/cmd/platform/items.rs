//! `concord import items`: add items to a project.

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
    let ImportCommand::Items(args) = args.command;
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
