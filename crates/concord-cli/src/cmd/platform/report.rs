//! `concord report`: the truthing report of a release.

use super::{Db, actor, block_on, print_json};
use crate::output::Output;
use std::io::Write;
use std::path::PathBuf;

/// The truthing report of a release: readers and their qualifications, blinding, assignment
/// policy, consensus method and parameters, counts (accepted, adjudicated, gold), agreement
/// with 95% intervals overall and per class, each reader's agreement with the reference with
/// its interval, the disagreement matrix, protocol versions, the truthing plan and deviations,
/// the audit chain's state, and the labels' stability under reader resampling.
///
/// `-o FILE` writes a self-contained HTML page (inline SVG charts; prints cleanly to PDF);
/// `--json` prints the same facts as JSON. Every number on the page carries the JSON path it
/// comes from (`data-fact`).
///
/// Example:
///   concord report cxr v1 -o report.html --json > report.json
#[derive(Debug, clap::Args)]
pub(crate) struct ReportArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// Release name.
    release: String,
    /// Write the HTML page here (default: standard output unless --json).
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Print the facts as JSON on standard output.
    #[arg(long)]
    json: bool,
    /// The manager or auditor acting (default: the first administrator).
    #[arg(long = "as", value_name = "USER")]
    acting: Option<String>,
}

pub(crate) fn run(args: ReportArgs) -> anyhow::Result<()> {
    let verifier = args.db.verifier()?;
    block_on(async {
        let core = args.db.open().await?;
        let user = actor(&core, args.acting.as_deref()).await?;
        let report = core
            .truthing_report(&user, &args.project, &args.release, &verifier)
            .await?;
        if args.output.is_some() || !args.json {
            let mut out = Output::create(args.output.as_deref())?;
            out.write_all(report.to_html().as_bytes())?;
            out.commit()?;
        }
        if args.json {
            print_json(&report)?;
        }
        Ok(())
    })
}
