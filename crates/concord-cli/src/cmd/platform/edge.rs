//! `concord edge-cases`: the items most worth a second look, and why.

use super::{Db, actor, block_on, print_json};
use crate::output::Output;
use std::io::Write;
use std::path::PathBuf;

/// Rank a project's items by how much they deserve a second look: disagreement the readers'
/// skills do not explain, uncertainty of the consensus (posterior entropy), a model's dissent
/// (`concord import predictions`) and rarity of the consensus class; and say which kind of
/// disagreement each shows (presence, class, boundary, attribute).
///
/// Reads the latest consensus run (run `concord consensus` first). Managers and adjudicators
/// only: the queue shows every reader's answers.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  concord edge-cases cxr --top 20
  concord edge-cases cxr --json
  concord edge-cases cxr --top 100 -o second-look.csv

Columns: rank, item, score (0-1, weighted mean of the signals), disagreement (probability
that the reads carry no signal rather than come from a clear item read with the readers'
skills), entropy (posterior entropy over ln K), model (model probability outside the
consensus class, empty without a prediction), rarity (1 - prevalence of the consensus class),
label and confidence of the consensus, kind of disagreement, reads.")]
pub(crate) struct EdgeArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// Show only the first N items.
    #[arg(long, value_name = "N")]
    top: Option<usize>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Write the queue as CSV to this file (a set to review or re-import elsewhere).
    #[arg(short, long, value_name = "FILE.csv")]
    output: Option<PathBuf>,
    /// The manager or adjudicator acting (default: the first administrator).
    #[arg(long = "as", value_name = "USER")]
    acting: Option<String>,
}

pub(crate) fn run(args: EdgeArgs) -> anyhow::Result<()> {
    block_on(async {
        let core = args.db.open().await?;
        let user = actor(&core, args.acting.as_deref()).await?;
        let queue = core.edge_cases(&user, &args.project, args.top).await?;
        if args.json {
            return print_json(&queue);
        }
        let csv = args.output.is_some();
        let mut out = Output::create(args.output.as_deref())?;
        if csv {
            writeln!(
                out,
                "rank,item,score,disagreement,entropy,model,rarity,label,confidence,kind,reads"
            )?;
        } else {
            writeln!(
                out,
                "{:>4}  {:<16} {:>6} {:>7} {:>7} {:>6} {:>6}  {:<12} {:>6}  {:<10} reads",
                "rank",
                "item",
                "score",
                "disagr",
                "entropy",
                "model",
                "rarity",
                "label",
                "conf",
                "kind"
            )?;
        }
        for c in &queue {
            let model = c.model.map_or(String::new(), |m| format!("{m:.3}"));
            let kind = c.kind.as_deref().unwrap_or("-");
            if csv {
                writeln!(
                    out,
                    "{},{},{:.6},{:.6},{:.6},{model},{:.6},{},{:.6},{kind},{}",
                    c.rank,
                    c.item,
                    c.score,
                    c.disagreement,
                    c.entropy,
                    c.rarity,
                    c.label,
                    c.confidence,
                    c.reads
                )?;
            } else {
                writeln!(
                    out,
                    "{:>4}  {:<16} {:>6.3} {:>7.3} {:>7.3} {:>6} {:>6.3}  {:<12} {:>6.3}  {:<10} {}",
                    c.rank,
                    c.item,
                    c.score,
                    c.disagreement,
                    c.entropy,
                    if model.is_empty() {
                        "-".to_string()
                    } else {
                        model
                    },
                    c.rarity,
                    c.label,
                    c.confidence,
                    kind,
                    c.reads
                )?;
            }
        }
        out.commit()?;
        if let Some(path) = &args.output {
            eprintln!(
                "concord: wrote {} edge cases to {}",
                queue.len(),
                path.display()
            );
        }
        Ok(())
    })
}
