//! `concord export`: the current reference standard.

use super::{Db, actor, block_on};
use crate::output::Output;
use clap::ValueEnum;
use std::io::Write;
use std::path::PathBuf;

/// Export the current reference standard: one row per item with label, confidence, status
/// (auto, adjudicated, needs_adjudication, pending), number of labels and consensus run.
///
/// Example:
///   concord export cxr --format csv -o reference.csv
#[derive(Debug, clap::Args)]
pub(crate) struct ExportArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,
    /// Output file (default: standard output). Written only when complete.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// The manager or auditor acting (default: the first administrator).
    #[arg(long = "as", value_name = "USER")]
    acting: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Jsonl,
    Csv,
}

pub(crate) fn run(args: ExportArgs) -> anyhow::Result<()> {
    block_on(async {
        let core = args.db.open().await?;
        let user = actor(&core, args.acting.as_deref()).await?;
        let rows = core.export(&user, &args.project).await?;
        let mut out = Output::create(args.output.as_deref())?;
        match args.format {
            Format::Jsonl => {
                for row in &rows {
                    writeln!(out, "{}", serde_json::to_string(row)?)?;
                }
            }
            Format::Csv => {
                let mut w = csv::Writer::from_writer(&mut out);
                w.write_record([
                    "item",
                    "label",
                    "confidence",
                    "status",
                    "labels",
                    "run",
                    "cost",
                ])?;
                for row in &rows {
                    let label = match &row.label {
                        Some(serde_json::Value::String(s)) => s.clone(),
                        Some(v) => v.to_string(),
                        None => String::new(),
                    };
                    w.write_record([
                        row.item.clone(),
                        label,
                        row.confidence.map_or(String::new(), |c| c.to_string()),
                        row.status.clone(),
                        row.labels.to_string(),
                        row.run.map_or(String::new(), |r| r.to_string()),
                        row.cost.to_string(),
                    ])?;
                }
                w.flush()?;
            }
        }
        out.commit()?;
        Ok(())
    })
}
