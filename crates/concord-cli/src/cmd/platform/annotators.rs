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
accuracy's interval lies above the consensus interval by more than 0.1. When the protocol has a
confidence task (`confidence_of`), a second line gives the annotator's calibration: mean stated
confidence against how often they were right, expected calibration error and Brier score.")]
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
            if let Some(c) = &r.calibration {
                writeln!(
                    out,
                    "{:<16} stated confidence {:.3}, right {:.3}: ECE {:.3}, Brier {:.3} ({} answers)",
                    "", c.confidence, c.accuracy, c.ece, c.brier, c.n
                )?;
            }
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

/// One annotator's feedback: their accuracy on gold and against the consensus (with 95 %
/// credible intervals) and their most frequent confusions, each with example items and the
/// protocol's definitions of both classes. `--html` writes a page to hand to them.
///
/// Managers see anyone's; an annotator (`--as`) their own.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  concord feedback cxr dr-lee
  concord feedback cxr dr-lee --html dr-lee.html
  concord feedback cxr dr-lee --as dr-lee --json")]
pub(crate) struct FeedbackArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// The annotator.
    annotator: String,
    /// Confusions to list.
    #[arg(long, value_name = "N", default_value_t = 5)]
    top: usize,
    /// Also write a self-contained HTML page.
    #[arg(long, value_name = "FILE.html")]
    html: Option<std::path::PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// The user acting (default: the first administrator).
    #[arg(long = "as", value_name = "USER")]
    acting: Option<String>,
}

pub(crate) fn run_feedback(args: FeedbackArgs) -> anyhow::Result<()> {
    block_on(async {
        let core = args.db.open().await?;
        let user = actor(&core, args.acting.as_deref()).await?;
        let feedback = core
            .feedback(&user, &args.project, &args.annotator, args.top)
            .await?;
        if let Some(path) = &args.html {
            let mut file = crate::output::Output::create(Some(path))?;
            file.write_all(feedback_html(&args.project, &feedback).as_bytes())?;
            file.commit()?;
        }
        if args.json {
            return print_json(&feedback);
        }
        let mut out = std::io::stdout().lock();
        let q = &feedback.quality;
        let show = |a: Option<concord_core::quality::Accuracy>| {
            a.map_or("-".to_string(), |a| {
                format!(
                    "{:.3} [{:.3}, {:.3}] over {}",
                    a.mean, a.low, a.high, a.total
                )
            })
        };
        writeln!(out, "{} in {}", feedback.annotator, args.project)?;
        writeln!(out, "  gold accuracy        {}", show(q.gold))?;
        writeln!(out, "  consensus agreement  {}", show(q.consensus))?;
        writeln!(out, "  most frequent confusions (reference -> answered):")?;
        for c in &feedback.confusions {
            writeln!(
                out,
                "    {} -> {}: {} times ({:.0}% of their {} items), e.g. {}",
                c.reference,
                c.given,
                c.count,
                100.0 * c.rate,
                c.reference,
                c.examples.join(", ")
            )?;
        }
        Ok(())
    })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn feedback_html(project: &str, f: &concord_core::quality::Feedback) -> String {
    let q = &f.quality;
    let show = |a: Option<concord_core::quality::Accuracy>| {
        a.map_or("—".to_string(), |a| {
            format!(
                "{:.1}% (95% interval {:.1}–{:.1}%, {} answers)",
                100.0 * a.mean,
                100.0 * a.low,
                100.0 * a.high,
                a.total
            )
        })
    };
    let mut rows = String::new();
    for c in &f.confusions {
        rows.push_str(&format!(
            "<tr><td><b>{}</b><br><small>{}</small></td><td><b>{}</b><br><small>{}</small></td>\
             <td>{}</td><td>{:.0}%</td><td>{}</td></tr>\n",
            escape(&c.reference),
            escape(&c.reference_definition),
            escape(&c.given),
            escape(&c.given_definition),
            c.count,
            100.0 * c.rate,
            escape(&c.examples.join(", "))
        ));
    }
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Feedback: {name}</title>\
         <style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.4em;\
         vertical-align:top}}</style></head><body>\n<h1>Feedback for {name}</h1>\n\
         <p>Project {project}.</p>\n<ul><li>Accuracy on gold items: {gold}</li>\
         <li>Agreement with the consensus: {consensus}</li></ul>\n<h2>Most frequent \
         confusions</h2>\n<table><tr><th>reference</th><th>you answered</th><th>times</th>\
         <th>share</th><th>examples</th></tr>\n{rows}</table>\n</body></html>\n",
        name = escape(&f.annotator),
        project = escape(project),
        gold = show(q.gold),
        consensus = show(q.consensus),
    )
}

/// The protocol ambiguity report: the class pairs skilled annotators split between most, with
/// example items and both definitions side by side, as the input for the next protocol
/// revision. Managers only. Reads the latest consensus run's skills.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  concord ambiguity cxr
  concord ambiguity cxr --min-skill 0.85 --top 5 --json")]
pub(crate) struct AmbiguityArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// Expected accuracy (the consensus model's) that counts as skilled.
    #[arg(long, value_name = "ACCURACY", default_value_t = 0.8)]
    min_skill: f64,
    /// Pairs to list.
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// The manager acting (default: the first administrator).
    #[arg(long = "as", value_name = "USER")]
    acting: Option<String>,
}

pub(crate) fn run_ambiguity(args: AmbiguityArgs) -> anyhow::Result<()> {
    block_on(async {
        let core = args.db.open().await?;
        let user = actor(&core, args.acting.as_deref()).await?;
        let pairs = core
            .ambiguity(&user, &args.project, args.min_skill, args.top)
            .await?;
        if args.json {
            return print_json(&pairs);
        }
        let mut out = std::io::stdout().lock();
        for p in &pairs {
            writeln!(
                out,
                "{} / {}: {} splits among skilled readers ({:.1}% of their read pairs on these \
                 classes), e.g. {}",
                p.a,
                p.b,
                p.splits,
                100.0 * p.rate,
                p.examples.join(", ")
            )?;
            writeln!(out, "    {}: {}", p.a, p.a_definition)?;
            writeln!(out, "    {}: {}", p.b, p.b_definition)?;
        }
        Ok(())
    })
}
