//! `concord aggregate`: one label per item, with confidence, from several annotators' labels.

use super::common::{Duplicates, methods_help, parse_method};
use crate::input;
use crate::output::{Bar, Output, prob};
use anyhow::Context;
use concord_consensus::Annotations;
use concord_consensus::truth::{Fit, Method, MethodParams, MultiLabel, MultiLabelBuilder, Skills};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Infer one label per item from several annotators' labels.
///
/// Writes CSV `item,label,confidence` (plus one column per class, named by the class, with
/// --posteriors). The output file appears only when the run succeeded.
///
/// Examples:
///   concord aggregate labels.csv -o consensus.csv
///   concord aggregate labels.csv --method glad --seed 7 --posteriors
///   concord aggregate labels.csv --method gds --gold gold.csv --skills skills.csv
#[derive(Debug, clap::Args)]
#[command(after_help = methods_help())]
pub(crate) struct Args {
    /// Labels CSV with header `item,annotator,label` (`-` reads standard input).
    labels: PathBuf,
    /// Truth-inference method (see the list below).
    #[arg(long, short, default_value_t = Method::DEFAULT, value_parser = parse_method)]
    method: Method,
    /// Known answers, CSV `item,label`: gds clamps these items, wmv derives weights from them.
    #[arg(long, value_name = "GOLD.csv")]
    gold: Option<PathBuf>,
    /// Seed for methods with randomness (same seed, same output).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Iteration cap of iterative methods (default: the method's own).
    #[arg(long, value_name = "N")]
    max_iter: Option<u32>,
    /// Convergence threshold (default: the method's own; 0 runs every iteration).
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    tol: Option<f64>,
    /// Output CSV (default: standard output).
    #[arg(long, short, value_name = "OUT.csv")]
    output: Option<PathBuf>,
    /// Add one column per class with the posterior probability.
    #[arg(long)]
    posteriors: bool,
    /// Also write each annotator's skill to this CSV.
    #[arg(long, value_name = "SKILLS.csv")]
    skills: Option<PathBuf>,
    /// What to do when an annotator labelled an item twice.
    #[arg(long, value_enum, default_value_t = Duplicates::Error)]
    duplicates: Duplicates,
    /// Multi-label task: each label is a set of classes joined by --separator (`-` is the empty
    /// set); each class is inferred as its own present/absent problem. The output's `label` is
    /// the inferred set, `confidence` the probability of that exact set, and --posteriors adds
    /// P(present) per class.
    #[arg(long)]
    multi_label: bool,
    /// Separator of classes in a multi-label set.
    #[arg(long, default_value = "|", requires = "multi_label")]
    separator: String,
}

/// The empty set in multi-label files.
const EMPTY_SET: &str = "-";

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.multi_label {
        return run_multi_label(args);
    }
    let data = input::load(&args.labels, args.gold.as_deref(), args.duplicates.into())?;
    let params = MethodParams {
        seed: args.seed,
        max_iter: args.max_iter,
        tol: args.tol,
        weights: Vec::new(),
    };
    let aggregator = args.method.build(&params);
    let bar = Bar::new(args.method.name());
    let fit = aggregator
        .fit_with_progress(&data, &bar)
        .with_context(|| format!("{}: {} could not run", args.labels.display(), args.method))?;
    bar.finish();

    // Both outputs are complete before either is moved into place.
    let mut out = Output::create(args.output.as_deref())?;
    write_labels(&mut out, &data, &fit, args.posteriors)
        .with_context(|| format!("{}: cannot write", display(args.output.as_deref())))?;
    let skills = match &args.skills {
        Some(path) => {
            let mut skills = Output::create(Some(path))?;
            write_skills(&mut skills, &data, &fit)
                .with_context(|| format!("{}: cannot write", path.display()))?;
            Some(skills)
        }
        None => None,
    };
    out.commit()?;
    if let Some(skills) = skills {
        skills.commit()?;
    }
    if !fit.converged {
        eprintln!(
            "concord: note: {} stopped at the iteration cap ({}) before converging",
            args.method, fit.iterations
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn run_multi_label(args: Args) -> anyhow::Result<ExitCode> {
    if args.skills.is_some() {
        anyhow::bail!(
            "--skills is not available with --multi-label (each class has its own skills)"
        );
    }
    let sep = args.separator.as_str();
    let split = |label: &str| -> Vec<String> {
        if label == EMPTY_SET {
            return Vec::new();
        }
        label
            .split(sep)
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect()
    };
    let mut builder = MultiLabelBuilder::new();
    let mut lines = Vec::new();
    input::read_csv(
        &args.labels,
        &[input::ITEM, input::ANNOTATOR, input::LABEL],
        |line, f| {
            builder.push(f[0], f[1], split(f[2]).iter().map(String::as_str));
            lines.push(line);
            Ok(())
        },
    )?;
    if let Some(gold) = &args.gold {
        for (item, label) in input::read_answers(gold)? {
            builder.push_gold(&item, split(&label).iter().map(String::as_str));
        }
    }
    let data = builder
        .build(args.duplicates.into())
        .map_err(|e| input::build_error(&args.labels, &lines, e))?;
    let params = MethodParams {
        seed: args.seed,
        max_iter: args.max_iter,
        tol: args.tol,
        weights: Vec::new(),
    };
    let aggregator = args.method.build(&params);
    let bar = Bar::new(args.method.name());
    let fit = MultiLabel::new(aggregator.as_ref())
        .fit_with_progress(&data, &bar)
        .with_context(|| format!("{}: {} could not run", args.labels.display(), args.method))?;
    bar.finish();

    let mut out = Output::create(args.output.as_deref())?;
    let mut w = csv::Writer::from_writer(&mut out);
    let mut header = vec!["item", "label", "confidence"];
    if args.posteriors {
        header.extend(data.classes().iter().map(|c| &**c));
    }
    w.write_record(&header)?;
    for (item, name) in data.items().iter().enumerate() {
        let item = item as u32;
        let present = fit.present(item);
        let set = if present.is_empty() {
            EMPTY_SET.to_string()
        } else {
            present
                .iter()
                .map(|&c| &*data.classes()[c as usize])
                .collect::<Vec<_>>()
                .join(sep)
        };
        let mut row = vec![name.to_string(), set, prob(fit.set_confidence(item))];
        if args.posteriors {
            row.extend(fit.probabilities(item).iter().map(|&p| prob(p)));
        }
        w.write_record(&row)?;
    }
    w.flush()?;
    drop(w);
    out.commit()?;
    Ok(ExitCode::SUCCESS)
}

fn display(path: Option<&Path>) -> String {
    path.map_or_else(|| "standard output".into(), |p| p.display().to_string())
}

fn write_labels(
    out: &mut impl Write,
    data: &Annotations,
    fit: &Fit,
    posteriors: bool,
) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let mut header = vec!["item", "label", "confidence"];
    if posteriors {
        header.extend(data.classes().iter().map(|c| &**c));
    }
    w.write_record(&header)?;
    let mut row: Vec<String> = Vec::with_capacity(header.len());
    for (item, name) in data.items().iter().enumerate() {
        let item = item as u32;
        row.clear();
        row.push(name.to_string());
        row.push(data.classes()[fit.labels[item as usize] as usize].to_string());
        row.push(prob(fit.confidence(item)));
        if posteriors {
            row.extend(fit.posterior(item).iter().map(|&p| prob(p)));
        }
        w.write_record(&row)?;
    }
    w.flush()
}

/// Skills CSV: `annotator,labels,<summary>` plus the method's detail columns (confusion cells
/// `true->given`, MACE's spamming distribution `spam:<class>`).
fn write_skills(out: &mut impl Write, data: &Annotations, fit: &Fit) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let k = data.n_classes();
    let classes = data.classes();
    let mut header = vec![
        "annotator".to_string(),
        "labels".to_string(),
        fit.skills.summary_name().to_string(),
    ];
    match &fit.skills {
        Skills::Confusion { .. } => {
            for t in classes {
                for g in classes {
                    header.push(format!("{t}->{g}"));
                }
            }
        }
        Skills::Mace { .. } => header.extend(classes.iter().map(|c| format!("spam:{c}"))),
        _ => {}
    }
    w.write_record(&header)?;
    let summary = fit.skills.summary(&fit.class_prior);
    for (a, name) in data.annotators().iter().enumerate() {
        let mut row = vec![
            name.to_string(),
            data.annotator_labels(a as u32).len().to_string(),
            format!("{}", summary[a]),
        ];
        match &fit.skills {
            Skills::Confusion { values, .. } => {
                row.extend(values[a * k * k..(a + 1) * k * k].iter().map(|&p| prob(p)));
            }
            Skills::Mace { spam, .. } => {
                row.extend(spam[a * k..(a + 1) * k].iter().map(|&p| prob(p)))
            }
            _ => {}
        }
        w.write_record(&row)?;
    }
    w.flush()
}
