//! `concord agreement`: how far annotators agree, with a confidence interval, per class and per
//! pair of annotators.

use super::common::Duplicates;
use crate::input::{self, ANNOTATOR, ITEM, InputError, LABEL};
use crate::output::Output;
use anyhow::Context;
use concord_consensus::agreement::{
    Bootstrap, BootstrapMethod, CohenWeights, Level, Metric, Options, PairMatrix, Ratings, Report,
    Undefined, WeightScheme, evaluate, pairwise_kappa, per_class,
};
use concord_consensus::{Annotations, AnnotationsBuilder};
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Measure inter-annotator agreement, with a confidence interval.
///
/// LABELS is CSV `item,annotator,label`, as for `concord aggregate`. For the ordinal, interval
/// and ratio levels, and for weights, labels must be numbers, or --order gives the order of
/// textual labels (their values are then the ranks 1, 2, …). The interval is irrCAC's t
/// interval unless --bootstrap asks for a percentile bootstrap (Hayes & Krippendorff's for
/// alpha, items resampled otherwise).
///
/// Metrics: percent (pairwise percent agreement), cohen (two annotators, scikit-learn), fleiss
/// (statsmodels; irrCAC with missing labels), alpha (Krippendorff, krippendorff package),
/// ac1 / ac2 (Gwet, irrCAC), conger (irrCAC).
///
/// Examples:
///   concord agreement labels.csv --metric alpha --level ordinal --bootstrap 1000 --seed 1
///   concord agreement labels.csv --metric fleiss --per-class --json
///   concord agreement labels.csv --metric cohen --weights quadratic --order low,mid,high
///   concord agreement labels.csv --metric fleiss --pairs --svg pairs.svg
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct Args {
    /// Labels CSV with header `item,annotator,label` (`-` reads standard input).
    labels: PathBuf,
    /// The agreement statistic.
    #[arg(long, short, value_parser = parse_metric)]
    metric: Metric,
    /// Level of measurement for alpha.
    #[arg(long, value_parser = parse_level, default_value = "nominal")]
    level: Level,
    /// Weights for percent, cohen, fleiss, ac2 and conger (ac2 defaults to quadratic).
    #[arg(long, value_enum)]
    weights: Option<Weights>,
    /// The categories in order, comma-separated (e.g. `low,mid,high`); may list categories
    /// nobody used.
    #[arg(long, value_delimiter = ',', value_name = "A,B,C")]
    order: Option<Vec<String>>,
    /// Confidence level of the interval.
    #[arg(long, default_value_t = 0.95, value_name = "LEVEL")]
    ci: f64,
    /// A percentile bootstrap interval from N resamples instead of the analytic interval.
    #[arg(long, value_name = "N")]
    bootstrap: Option<usize>,
    /// Seed of the bootstrap (same seed, same interval, for any thread count).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Which bootstrap: auto = Hayes & Krippendorff's for alpha, items otherwise.
    #[arg(long, value_enum, default_value_t = Resampling::Auto)]
    bootstrap_method: Resampling,
    /// Also report the metric per class (one-vs-rest).
    #[arg(long)]
    per_class: bool,
    /// Also report Cohen's kappa of every pair of annotators.
    #[arg(long)]
    pairs: bool,
    /// With --pairs: write the pairwise matrix as an SVG heatmap to FILE.
    #[arg(long, value_name = "FILE", requires = "pairs")]
    svg: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// What to do when an annotator labelled an item twice.
    #[arg(long, value_enum, default_value_t = Duplicates::Error)]
    duplicates: Duplicates,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Weights {
    Linear,
    Quadratic,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Resampling {
    Auto,
    Items,
    HayesKrippendorff,
}

fn parse_metric(s: &str) -> Result<Metric, String> {
    match s.parse::<Metric>()? {
        // Randolph's kappa is in the library; the command line keeps to the documented list.
        Metric::Randolph => Err("unknown metric `randolph`".into()),
        m => Ok(m),
    }
}

fn parse_level(s: &str) -> Result<Level, String> {
    s.parse()
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    check_flags(&args)?;
    let needs_numbers = (args.metric == Metric::Alpha && args.level != Level::Nominal)
        || args.weights.is_some()
        || args.metric == Metric::Ac2;
    let (data, categories) = load(&args, needs_numbers)?;
    if args.metric == Metric::Cohen && data.n_annotators() != 2 {
        anyhow::bail!(
            "{}: --metric cohen needs exactly two annotators, the file has {} (use fleiss, conger, \
             alpha or ac1 for more, or --pairs for every pair)",
            args.labels.display(),
            data.n_annotators()
        );
    }
    let ratings =
        Ratings::from_annotations_mapped(&data, &categories.category_of, categories.names.len())?;
    let options = Options {
        level: args.level,
        weights: args.weights.map(|w| match w {
            Weights::Linear => WeightScheme::Linear,
            Weights::Quadratic => WeightScheme::Quadratic,
        }),
        values: Some(categories.values.clone()),
        confidence: args.ci,
        bootstrap: args.bootstrap.map(|resamples| {
            (
                Bootstrap {
                    resamples,
                    seed: args.seed,
                    level: args.ci,
                },
                match args.bootstrap_method {
                    Resampling::Auto => BootstrapMethod::Auto,
                    Resampling::Items => BootstrapMethod::Items,
                    Resampling::HayesKrippendorff => BootstrapMethod::HayesKrippendorff,
                },
            )
        }),
    };
    let report = evaluate(&ratings, args.metric, &options)?;
    let classes = if args.per_class {
        Some(per_class(&ratings, args.metric, &options)?)
    } else {
        None
    };
    let pairs = if args.pairs {
        let weights = match args.weights {
            None => CohenWeights::Unweighted,
            Some(Weights::Linear) => CohenWeights::Linear,
            Some(Weights::Quadratic) => CohenWeights::Quadratic,
        };
        Some(pairwise_kappa(&ratings, &weights)?)
    } else {
        None
    };
    // The heatmap is written before anything is printed, so a failure leaves no half output.
    if let (Some(path), Some(pairs)) = (&args.svg, &pairs) {
        let mut out = Output::create(Some(path))?;
        out.write_all(heatmap(pairs, data.annotators(), args.metric).as_bytes())
            .with_context(|| format!("{}: cannot write", path.display()))?;
        out.commit()?;
    }
    let view = View {
        args: &args,
        report: &report,
        classes: classes.as_deref(),
        class_names: &categories.names,
        pairs: pairs.as_ref(),
        annotators: data.annotators(),
        n_labels: ratings.n_labels(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view.json())?);
    } else {
        view.print_table();
    }
    Ok(ExitCode::SUCCESS)
}

/// Flags that do not go together.
fn check_flags(args: &Args) -> anyhow::Result<()> {
    if args.level != Level::Nominal && args.metric != Metric::Alpha {
        anyhow::bail!(
            "--level applies to --metric alpha; {} takes --weights linear|quadratic",
            args.metric.name()
        );
    }
    if args.weights.is_some() && matches!(args.metric, Metric::Alpha | Metric::Ac1) {
        anyhow::bail!(
            "--weights does not apply to --metric {} (alpha takes --level; weighted AC1 is --metric ac2)",
            args.metric.name()
        );
    }
    if !(args.ci > 0.0 && args.ci < 1.0) {
        anyhow::bail!("--ci must be between 0 and 1 (exclusive), got {}", args.ci);
    }
    if args.bootstrap == Some(0) {
        anyhow::bail!("--bootstrap needs at least 1 resample");
    }
    if let Some(order) = &args.order {
        for (i, name) in order.iter().enumerate() {
            if name.trim().is_empty() {
                anyhow::bail!("--order: entry {} is empty", i + 1);
            }
            if order[..i].contains(name) {
                anyhow::bail!("--order: `{name}` appears twice");
            }
        }
    }
    Ok(())
}

/// The categories agreement is computed over: their names in order, the value of each, and the
/// category of each class of the label matrix.
struct Categories {
    names: Vec<String>,
    values: Vec<f64>,
    category_of: Vec<u32>,
}

/// Reads the labels, refusing (with file, line and column) a label that is not in --order, or
/// not a number when numbers are needed.
fn load(args: &Args, needs_numbers: bool) -> anyhow::Result<(Annotations, Categories)> {
    let path = &args.labels;
    let mut builder = AnnotationsBuilder::with_capacity(1 << 16);
    let mut lines = Vec::new();
    input::read_csv(path, &[ITEM, ANNOTATOR, LABEL], |line, f| {
        let label = f[2];
        let bad = |expected: String| InputError::BadValue {
            path: path.clone(),
            line,
            column: "label",
            expected,
            found: label.to_string(),
        };
        if let Some(order) = &args.order {
            if !order.iter().any(|o| o == label) {
                return Err(bad(format!("one of --order {}", order.join(","))));
            }
        } else if needs_numbers && !label.parse::<f64>().is_ok_and(f64::is_finite) {
            return Err(bad(
                "a number (this level or weighting needs numeric labels, or --order)".into(),
            ));
        }
        builder.push(f[0], f[1], label);
        lines.push(line);
        Ok(())
    })?;
    let data = input::build(path, builder, &lines, args.duplicates.into())?;
    let classes: Vec<&str> = data.classes().iter().map(|c| &**c).collect();
    let categories = match &args.order {
        Some(order) => {
            let numeric: Option<Vec<f64>> = order.iter().map(|o| o.parse().ok()).collect();
            let values = match numeric {
                Some(v) if v.windows(2).all(|w| w[0] < w[1]) => v,
                _ => (1..=order.len()).map(|r| r as f64).collect(),
            };
            Categories {
                category_of: classes
                    .iter()
                    .map(|c| order.iter().position(|o| o == c).expect("checked per row") as u32)
                    .collect(),
                names: order.clone(),
                values,
            }
        }
        None => {
            let numeric: Option<Vec<f64>> = classes.iter().map(|c| c.parse().ok()).collect();
            let values = match numeric {
                Some(v) if needs_numbers => {
                    if let Some(w) = v.windows(2).find(|w| w[0] == w[1]) {
                        anyhow::bail!(
                            "{}: two labels have the value {} (write each number one way)",
                            path.display(),
                            w[0]
                        );
                    }
                    v
                }
                _ => (1..=classes.len()).map(|r| r as f64).collect(),
            };
            Categories {
                names: classes.iter().map(|c| c.to_string()).collect(),
                values,
                category_of: (0..classes.len() as u32).collect(),
            }
        }
    };
    Ok((data, categories))
}

/// Everything a run reports.
struct View<'a> {
    args: &'a Args,
    report: &'a Report,
    classes: Option<&'a [Report]>,
    class_names: &'a [String],
    pairs: Option<&'a PairMatrix>,
    annotators: &'a [Box<str>],
    n_labels: usize,
}

/// A finite number as JSON, otherwise null (the reason is reported beside it).
fn number(x: Option<f64>) -> Value {
    match x {
        Some(x) if x.is_finite() => json!(x),
        _ => Value::Null,
    }
}

fn undefined_text(u: &Undefined) -> String {
    u.to_string()
}

impl View<'_> {
    fn level_name(&self) -> &'static str {
        self.args.level.name()
    }

    fn weights_name(&self) -> Option<&'static str> {
        match (self.args.weights, self.args.metric) {
            (Some(Weights::Linear), _) => Some("linear"),
            (Some(Weights::Quadratic), _) | (None, Metric::Ac2) => Some("quadratic"),
            (None, _) => None,
        }
    }

    fn report_json(&self, report: &Report) -> serde_json::Map<String, Value> {
        let mut o = serde_json::Map::new();
        o.insert("value".into(), number(report.value.ok()));
        if let Err(u) = &report.value {
            o.insert("undefined".into(), json!(undefined_text(u)));
        }
        let interval = report.interval.ok();
        o.insert("ci_low".into(), number(interval.map(|i| i.low)));
        o.insert("ci_high".into(), number(interval.map(|i| i.high)));
        o.insert("ci_level".into(), json!(self.args.ci));
        o.insert("ci_method".into(), json!(report.interval_method.name()));
        if let (Err(u), Ok(_)) = (&report.interval, &report.value) {
            o.insert("ci_undefined".into(), json!(undefined_text(u)));
        }
        o.insert("se".into(), number(report.se));
        if let Some((resamples, undefined)) = report.bootstrap {
            o.insert(
                "bootstrap".into(),
                json!({"resamples": resamples, "seed": self.args.seed, "undefined": undefined}),
            );
        }
        o.insert("n_items".into(), json!(report.n_items));
        o.insert("n_annotators".into(), json!(report.n_annotators));
        o
    }

    fn json(&self) -> Value {
        let mut o = serde_json::Map::new();
        o.insert("metric".into(), json!(self.args.metric.name()));
        o.insert("level".into(), json!(self.level_name()));
        o.insert("weights".into(), json!(self.weights_name()));
        o.extend(self.report_json(self.report));
        o.insert("n_labels".into(), json!(self.n_labels));
        if let Some(classes) = self.classes {
            let rows: Vec<Value> = classes
                .iter()
                .zip(self.class_names)
                .map(|(r, name)| {
                    let mut row = serde_json::Map::new();
                    row.insert("class".into(), json!(name));
                    row.extend(self.report_json(r));
                    Value::Object(row)
                })
                .collect();
            o.insert("per_class".into(), Value::Array(rows));
        }
        if let Some(pairs) = self.pairs {
            let n = pairs.n_annotators();
            let kappa: Vec<Vec<Value>> = (0..n)
                .map(|a| (0..n).map(|b| number(pairs.kappa(a, b).ok())).collect())
                .collect();
            let items: Vec<Vec<usize>> = (0..n)
                .map(|a| (0..n).map(|b| pairs.n_items(a, b)).collect())
                .collect();
            o.insert(
                "pairs".into(),
                json!({
                    "metric": "cohen",
                    "annotators": self.annotators.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                    "kappa": kappa,
                    "n_items": items,
                }),
            );
        }
        Value::Object(o)
    }

    fn print_table(&self) {
        let r = self.report;
        let mut what = self.args.metric.describe().to_string();
        if self.args.metric == Metric::Alpha {
            what = format!("{what}, {} level", self.level_name());
        }
        if let Some(w) = self.weights_name() {
            what = format!("{what}, {w} weights");
        }
        println!("{:<12} {} ({what})", "metric", self.args.metric.name());
        println!("{:<12} {}", "value", fmt_value(&r.value));
        println!(
            "{:<12} {}",
            format!("{}% CI", self.args.ci * 100.0),
            fmt_interval(self.args, r)
        );
        println!("{:<12} {}", "items", r.n_items);
        println!("{:<12} {}", "annotators", r.n_annotators);
        println!("{:<12} {}", "labels", self.n_labels);
        if let Some(classes) = self.classes {
            println!();
            let width = self
                .class_names
                .iter()
                .map(|c| c.len())
                .max()
                .unwrap_or(5)
                .max(5);
            println!(
                "{:<width$}  {:>9}  {:>9}  {:>9}  {:>7}",
                "class", "value", "ci_low", "ci_high", "items"
            );
            for (report, name) in classes.iter().zip(self.class_names) {
                let interval = report.interval.ok();
                println!(
                    "{name:<width$}  {:>9}  {:>9}  {:>9}  {:>7}",
                    fmt_value(&report.value),
                    fmt_number(interval.map(|i| i.low)),
                    fmt_number(interval.map(|i| i.high)),
                    report.n_items
                );
            }
        }
        if let Some(pairs) = self.pairs {
            println!();
            println!("pairwise Cohen's kappa (items in common in parentheses)");
            let width = self
                .annotators
                .iter()
                .map(|a| a.len())
                .max()
                .unwrap_or(4)
                .max(4);
            print!("{:<width$}", "");
            for a in self.annotators {
                print!("  {a:>14}");
            }
            println!();
            for (i, a) in self.annotators.iter().enumerate() {
                print!("{a:<width$}");
                for j in 0..pairs.n_annotators() {
                    let cell = format!(
                        "{} ({})",
                        fmt_number(pairs.kappa(i, j).ok()),
                        pairs.n_items(i, j)
                    );
                    print!("  {cell:>14}");
                }
                println!();
            }
        }
    }
}

fn fmt_number(x: Option<f64>) -> String {
    match x {
        Some(x) if x.is_finite() => format!("{x:.4}"),
        _ => "undefined".into(),
    }
}

fn fmt_value(value: &Result<f64, Undefined>) -> String {
    match value {
        Ok(v) => format!("{v:.4}"),
        Err(u) => format!("undefined ({u})"),
    }
}

fn fmt_interval(args: &Args, r: &Report) -> String {
    match &r.interval {
        Ok(i) => {
            let how = match r.bootstrap {
                Some((n, undefined)) if undefined > 0 => format!(
                    "{}, {n} resamples, seed {}, {undefined} undefined",
                    r.interval_method.name(),
                    args.seed
                ),
                Some((n, _)) => format!(
                    "{}, {n} resamples, seed {}",
                    r.interval_method.name(),
                    args.seed
                ),
                None => format!("t, se {}", fmt_number(r.se)),
            };
            format!("[{:.4}, {:.4}]  ({how})", i.low, i.high)
        }
        Err(u) => format!("undefined ({u})"),
    }
}

/// The pairwise matrix as an SVG heatmap: blue for agreement, red for disagreement, grey where
/// kappa is undefined.
fn heatmap(pairs: &PairMatrix, annotators: &[Box<str>], metric: Metric) -> String {
    let n = pairs.n_annotators();
    let cell = 56;
    let label_width = annotators
        .iter()
        .map(|a| a.chars().count())
        .max()
        .unwrap_or(4)
        * 7
        + 16;
    let top = 40 + label_width;
    let left = label_width;
    let width = left + n * cell + 120;
    let height = top + n * cell + 40;
    let mut svg = String::new();
    svg.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"11\">\n"
    ));
    svg.push_str(&format!(
        "<title>Pairwise Cohen's kappa ({} annotators; run for --metric {})</title>\n",
        n,
        metric.name()
    ));
    svg.push_str("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    svg.push_str(&format!(
        "<text x=\"{left}\" y=\"20\" font-size=\"14\">Pairwise Cohen's kappa</text>\n"
    ));
    for (i, a) in annotators.iter().enumerate() {
        let name = escape(a);
        let y = top + i * cell + cell / 2 + 4;
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{y}\" text-anchor=\"end\">{name}</text>\n",
            left - 6
        ));
        let x = left + i * cell + cell / 2 + 4;
        svg.push_str(&format!(
            "<text x=\"{x}\" y=\"{}\" text-anchor=\"start\" transform=\"rotate(-90 {x} {})\">{name}</text>\n",
            top - 6,
            top - 6
        ));
    }
    for i in 0..n {
        for j in 0..n {
            let (x, y) = (left + j * cell, top + i * cell);
            let kappa = pairs.kappa(i, j).ok();
            let (fill, text) = match kappa {
                Some(k) => (colour(k), format!("{k:.2}")),
                None => ("#dddddd".to_string(), "n/a".to_string()),
            };
            let ink = if kappa.is_some_and(|k| k.abs() > 0.6) {
                "white"
            } else {
                "black"
            };
            svg.push_str(&format!(
                "<rect x=\"{x}\" y=\"{y}\" width=\"{cell}\" height=\"{cell}\" fill=\"{fill}\" stroke=\"white\">\
                 <title>{} × {}: kappa {text}, {} items</title></rect>\n",
                escape(&annotators[i]),
                escape(&annotators[j]),
                pairs.n_items(i, j)
            ));
            svg.push_str(&format!(
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"{ink}\">{text}</text>\n",
                x + cell / 2,
                y + cell / 2 + 4
            ));
        }
    }
    // Legend: −1 … 1.
    let lx = left + n * cell + 30;
    for step in 0..=20 {
        let k = 1.0 - f64::from(step) / 10.0;
        svg.push_str(&format!(
            "<rect x=\"{lx}\" y=\"{}\" width=\"16\" height=\"8\" fill=\"{}\"/>\n",
            top + step as usize * 8,
            colour(k)
        ));
    }
    for (label, step) in [("1", 0), ("0", 10), ("-1", 20)] {
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\">{label}</text>\n",
            lx + 22,
            top + step * 8 + 8
        ));
    }
    svg.push_str("</svg>\n");
    svg
}

/// Diverging colour for kappa in [−1, 1]: red (−1) through white (0) to blue (1).
fn colour(kappa: f64) -> String {
    let k = kappa.clamp(-1.0, 1.0);
    let (end, t) = if k >= 0.0 {
        ((33.0, 102.0, 172.0), k)
    } else {
        ((178.0, 24.0, 43.0), -k)
    };
    let mix = |e: f64| (255.0 + (e - 255.0) * t).round() as u8;
    format!("#{:02x}{:02x}{:02x}", mix(end.0), mix(end.1), mix(end.2))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
