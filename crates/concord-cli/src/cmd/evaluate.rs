//! `concord evaluate`: every method's accuracy against known truth, with timings.

use super::common::{Duplicates, methods_help, parse_method};
use crate::input;
use crate::output::Bar;
use concord_consensus::Annotations;
use concord_consensus::truth::{FitError, Method, MethodParams};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Compare truth-inference methods on labels with known truth.
///
/// For each method: accuracy on the items of TRUTH.csv (a truth item nobody labelled counts as
/// wrong), the seconds the inference took in-process (parsing excluded), and the iterations run.
/// Methods that need gold (gds, wmv) run only with --gold; kos only on two-class data.
///
/// Examples:
///   concord evaluate labels.csv --truth truth.csv
///   concord evaluate labels.csv --truth truth.csv --methods ds,glad --json
///   concord evaluate labels.csv --truth truth.csv --max-iter 100 --tol 0
#[derive(Debug, clap::Args)]
#[command(after_help = methods_help())]
pub(crate) struct Args {
    /// Labels CSV with header `item,annotator,label`.
    labels: PathBuf,
    /// Truth CSV with header `item,label`.
    #[arg(long, value_name = "TRUTH.csv")]
    truth: PathBuf,
    /// `all`, or a comma-separated list of methods.
    #[arg(long, default_value = "all")]
    methods: String,
    /// Known answers for gds and wmv, CSV `item,label` (keep them apart from TRUTH.csv).
    #[arg(long, value_name = "GOLD.csv")]
    gold: Option<PathBuf>,
    /// Seed for methods with randomness.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Iteration cap of iterative methods (default: each method's own).
    #[arg(long, value_name = "N")]
    max_iter: Option<u32>,
    /// Convergence threshold (default: each method's own; 0 runs every iteration).
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    tol: Option<f64>,
    /// Print a JSON array of {method, accuracy, seconds, iterations[, default]}.
    #[arg(long)]
    json: bool,
    /// What to do when an annotator labelled an item twice.
    #[arg(long, value_enum, default_value_t = Duplicates::Error)]
    duplicates: Duplicates,
}

/// One method's evaluation.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Row {
    method: &'static str,
    accuracy: f64,
    seconds: f64,
    iterations: u32,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    default: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let data = input::load(&args.labels, args.gold.as_deref(), args.duplicates.into())?;
    let truth = input::read_answers(&args.truth)?;
    let methods: Vec<Method> = if args.methods == "all" {
        Method::ALL
            .iter()
            .copied()
            .filter(|m| !m.needs_gold() || data.n_gold() > 0)
            .collect()
    } else {
        args.methods
            .split(',')
            .map(|m| parse_method(m.trim()).map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<_>>()?
    };
    let params = MethodParams {
        seed: args.seed,
        max_iter: args.max_iter,
        tol: args.tol,
        weights: Vec::new(),
    };
    let explicit = args.methods != "all";
    let mut rows = Vec::new();
    for method in methods {
        let aggregator = method.build(&params);
        let bar = Bar::new(method.name());
        let start = Instant::now();
        let fit = match aggregator.fit_with_progress(&data, &bar) {
            Ok(fit) => fit,
            // `all` skips methods this data cannot support; a named method must run.
            Err(err @ (FitError::NotBinary { .. } | FitError::NoGold { .. })) if !explicit => {
                bar.finish();
                eprintln!("concord: skipping {method}: {err}");
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        let seconds = start.elapsed().as_secs_f64();
        bar.finish();
        rows.push(Row {
            method: method.name(),
            accuracy: accuracy(&data, &truth, &fit.labels),
            seconds,
            iterations: fit.iterations,
            default: method == Method::DEFAULT,
        });
    }
    // Written through a handle (not `println!`), so a closed pipe is an error `main` recognises
    // instead of a panic.
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
    } else {
        writeln!(
            out,
            "{:<8} {:>9} {:>10} {:>10}",
            "method", "accuracy", "seconds", "iterations"
        )?;
        for row in &rows {
            let mark = if row.default { " (default)" } else { "" };
            writeln!(
                out,
                "{:<8} {:>9.4} {:>10.4} {:>10}{mark}",
                row.method, row.accuracy, row.seconds, row.iterations
            )?;
        }
        writeln!(
            out,
            "{} items with truth, {} labelled items, {} labels",
            truth.len(),
            data.n_items(),
            data.n_labels()
        )?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Fraction of truth items whose inferred label equals the truth (unlabelled ones count wrong).
pub(crate) fn accuracy(data: &Annotations, truth: &[(String, String)], labels: &[u32]) -> f64 {
    let index: std::collections::HashMap<&str, usize> = data
        .items()
        .iter()
        .enumerate()
        .map(|(i, name)| (&**name, i))
        .collect();
    let right = truth
        .iter()
        .filter(|(item, label)| {
            index
                .get(item.as_str())
                .is_some_and(|&i| &*data.classes()[labels[i] as usize] == label.as_str())
        })
        .count();
    right as f64 / truth.len().max(1) as f64
}
