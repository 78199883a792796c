//! `concord simulate`: what a labelling policy buys with a given pool of experts.

use super::common::methods_help;
use super::platform::{block_on, print_json};
use anyhow::Context;
use concord_core::policy::Overlap;
use concord_sim::sweep::{SweepPoint, parse_sweep, to_csv, to_svg};
use concord_sim::{Pool, SimReport, Simulation, simulate};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Simulate a labelling project: a pool of experts labels N items through the real assignment
/// engine and consensus, on a real (temporary) database, and the run reports the accuracy of
/// the consensus before adjudication, labels and cost per item, and the adjudication rate.
///
/// The true classes are drawn from --prevalence; each expert answers from their confusion
/// matrix (or symmetric errors at their accuracy); the engine does not know who is good: it
/// estimates skills from the labels, as in a real project. The same --seed gives the same
/// result.
#[derive(Debug, clap::Args)]
#[command(after_help = "POOL.toml lists the experts:
  [[annotator]]
  name = \"resident-1\"
  accuracy = 0.8          # or: confusion = [[0.9, 0.1], [0.2, 0.8]]  (K×K, true × given)
  cost = 1                # per label (default 1)
  availability = 0.5      # share of turns at work (default 1)
  memorised_gold = false  # knows the gold answers (tests leak detection)
  drift_after = 200       # after 200 labels the expert answers at
  accuracy_after = 0.4    # this accuracy (tests the quality rules)

Policies: fixed:K (K labels per item); adaptive:MIN..MAX@T (after MIN labels, one more
while the top class's posterior is below T; at MAX, adjudication); cost:BUDGET[@T] (two
reads, then one more while below T (default 0.95) from the expert with the most expected
information per unit of cost, as long as the item's budget pays for it; then adjudication).

Examples:
  concord simulate --pool pool.toml --items 3000 --classes 4 --policy adaptive:2..6@0.95 --method ds --seed 1
  concord simulate --pool pool.toml --items 3000 --classes 4 --policy fixed:5 --method mv --json
  concord simulate --pool pool.toml --items 1000 --classes 4 --policy fixed:3 \\
      --sweep fixed:3/mv,fixed:5/mv,adaptive:2..6@0.95/ds,adaptive:2..7@0.99/ds --plot curve.svg

Output: one `measure value` line each; --json prints one object (accuracy, labels_per_item,
cost_per_item, adjudication_rate, …). --sweep prints CSV, one row per policy.")]
pub(crate) struct Args {
    /// The experts (TOML, see below).
    #[arg(long, value_name = "POOL.toml")]
    pool: PathBuf,
    /// Items to label.
    #[arg(long, value_name = "N")]
    items: usize,
    /// Number of classes (named c1 … cK).
    #[arg(long, value_name = "K")]
    classes: usize,
    /// Class prevalence, comma-separated, summing to 1 (default: balanced).
    #[arg(long, value_name = "p1,p2,…", value_delimiter = ',')]
    prevalence: Option<Vec<f64>>,
    /// Overlap policy: fixed:K, adaptive:MIN..MAX@T or cost:BUDGET[@T].
    #[arg(long, value_name = "POLICY")]
    policy: Overlap,
    /// Truth-inference method, for the engine's skill estimates and the final consensus.
    #[arg(long, value_name = "METHOD", default_value = "ds", long_help = methods_help())]
    method: String,
    /// Seed of the truth, the answers and the method.
    #[arg(long, value_name = "S", default_value_t = 0)]
    seed: u64,
    /// New labels between the engine's skill re-fits.
    #[arg(long, value_name = "N", default_value_t = 100)]
    refit_every: u32,
    /// Share of items planted as genuinely ambiguous (every expert splits between the true
    /// class and the next one), to see where they end up (`concord edge-cases` on --keep-db).
    #[arg(long, value_name = "SHARE", default_value_t = 0.0)]
    ambiguous: f64,
    /// Gold items (known answers) to add to the project.
    #[arg(long, value_name = "N", default_value_t = 0)]
    gold_items: usize,
    /// Share of each expert's assignments that are gold items.
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    gold_rate: f64,
    /// Quality rule of the project: probation below this accuracy on the last 20 gold answers
    /// (`concord project create --probation-below`).
    #[arg(long, value_name = "ACCURACY")]
    probation_below: Option<f64>,
    /// Quality rule of the project: suspension below this accuracy on the last 20 gold answers.
    #[arg(long, value_name = "ACCURACY")]
    suspend_below: Option<f64>,
    /// Keep the simulated project's database at PATH (with PATH.audit-key) to inspect it with
    /// the other commands; refused if PATH exists.
    #[arg(long, value_name = "PATH")]
    keep_db: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Run several policies instead of --policy: comma-separated POLICY or POLICY/METHOD;
    /// prints CSV.
    #[arg(long, value_name = "SPEC")]
    sweep: Option<String>,
    /// With --sweep: draw accuracy against cost per item into this SVG file.
    #[arg(long, value_name = "FILE.svg", requires = "sweep")]
    plot: Option<PathBuf>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let pool = Pool::load(&args.pool, args.classes)?;
    args.method
        .parse::<concord_consensus::truth::Method>()
        .map_err(|e| anyhow::anyhow!("--method: {e}"))?;
    if let Some(path) = &args.keep_db {
        anyhow::ensure!(
            !path.exists(),
            "--keep-db {}: the file exists; name a new one",
            path.display()
        );
        anyhow::ensure!(
            args.sweep.is_none(),
            "--keep-db keeps one project: use it without --sweep"
        );
    }
    let points = match &args.sweep {
        Some(spec) => parse_sweep(spec, &args.method).map_err(anyhow::Error::msg)?,
        None => vec![SweepPoint {
            policy: args.policy,
            method: args.method.clone(),
        }],
    };
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{msg:>24} {pos} labels {per_sec} {elapsed}")
            .expect("the template is valid"),
    );
    let mut reports: Vec<SimReport> = Vec::new();
    for point in &points {
        bar.set_message(format!("{}/{}", point.policy, point.method));
        bar.set_position(0);
        let sim = Simulation {
            pool: pool.clone(),
            items: args.items,
            classes: args.classes,
            prevalence: args.prevalence.clone(),
            policy: point.policy,
            method: point.method.clone(),
            seed: args.seed,
            refit_every: args.refit_every,
            ambiguous: args.ambiguous,
            gold_items: args.gold_items,
            gold_rate: args.gold_rate,
            rules: (args.probation_below.is_some() || args.suspend_below.is_some()).then(|| {
                concord_core::policy::QualityRules {
                    probation_below: args.probation_below.or(args.suspend_below).unwrap_or(0.0),
                    suspend_below: args.suspend_below.unwrap_or(0.0),
                    ..Default::default()
                }
            }),
            db: args.keep_db.clone(),
        };
        let report = block_on(async {
            simulate(&sim, |n| bar.set_position(n as u64))
                .await
                .map_err(anyhow::Error::from)
        })
        .with_context(|| format!("simulating {}/{}", point.policy, point.method))?;
        reports.push(report);
    }
    bar.finish_and_clear();

    if args.sweep.is_some() {
        let mut out = std::io::stdout().lock();
        out.write_all(to_csv(&reports).as_bytes())?;
        if let Some(plot) = &args.plot {
            let title = format!(
                "{} items, {} classes, {} experts, seed {}",
                args.items,
                args.classes,
                pool.annotators.len(),
                args.seed
            );
            let mut file = crate::output::Output::create(Some(plot))?;
            file.write_all(to_svg(&reports, &title).as_bytes())?;
            file.commit()?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let report = &reports[0];
    if args.json {
        print_json(report)?;
    } else {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{:<20} {}", "policy", report.policy)?;
        writeln!(out, "{:<20} {}", "method", report.method)?;
        writeln!(out, "{:<20} {:.4}", "accuracy", report.accuracy)?;
        writeln!(
            out,
            "{:<20} {:.3}",
            "labels_per_item", report.labels_per_item
        )?;
        writeln!(out, "{:<20} {:.3}", "cost_per_item", report.cost_per_item)?;
        writeln!(
            out,
            "{:<20} {:.4}",
            "adjudication_rate", report.adjudication_rate
        )?;
        if let Some(a) = report.accuracy_auto_accepted {
            writeln!(out, "{:<20} {a:.4}", "accuracy_auto")?;
        }
        writeln!(out, "{:<20} {}", "labels", report.labels)?;
    }
    Ok(ExitCode::SUCCESS)
}
