//! Fits one truth-inference method to a data set in the shared layout and prints accuracy and
//! the median and minimum fit times (on a shared machine the minimum is the least disturbed).
//!
//! Run with `cargo run --release -p concord-consensus --example truth_timing -- DIR METHOD [REPEATS]`,
//! where `DIR` holds `labels.csv` (`item,annotator,label`) and `truth.csv` (`item,label`), and
//! `METHOD` is a short name (`glad`, `mace`, `ds`, …).

use concord_consensus::truth::{Method, MethodParams};
use concord_consensus::{AnnotationsBuilder, DuplicatePolicy};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, method, rest @ ..] = args.as_slice() else {
        eprintln!("usage: truth_timing DIR METHOD [REPEATS]");
        std::process::exit(2);
    };
    let repeats: usize = rest
        .first()
        .map_or(5, |r| r.parse().expect("REPEATS is a number"));
    let method: Method = method.parse().expect("a known method");
    let mut builder = AnnotationsBuilder::new();
    let mut labels = csv::Reader::from_path(format!("{dir}/labels.csv")).expect("labels.csv");
    for row in labels.records() {
        let row = row.expect("a labels.csv row");
        builder.push(&row[0], &row[1], &row[2]);
    }
    let data = builder.build(DuplicatePolicy::All).expect("valid labels");
    let mut truth = csv::Reader::from_path(format!("{dir}/truth.csv")).expect("truth.csv");
    let truth: Vec<(String, String)> = truth
        .records()
        .map(|r| {
            let r = r.expect("a truth.csv row");
            (r[0].to_string(), r[1].to_string())
        })
        .collect();
    let aggregator = method.build(&MethodParams::default());
    let mut times = Vec::new();
    let mut fit = None;
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        fit = Some(aggregator.fit(&data).expect("fit"));
        times.push(start.elapsed().as_secs_f64());
    }
    let fit = fit.expect("at least one run");
    times.sort_by(f64::total_cmp);
    let index: std::collections::HashMap<&str, usize> = data
        .items()
        .iter()
        .enumerate()
        .map(|(i, n)| (&**n, i))
        .collect();
    let right = truth
        .iter()
        .filter(|(item, label)| {
            index
                .get(item.as_str())
                .is_some_and(|&i| &*data.classes()[fit.labels[i] as usize] == label.as_str())
        })
        .count();
    println!(
        "{dir} {method}: {} labels, accuracy {:.4}, {} iterations, converged {}, objective {:.3}, \
         fit median {:.1} ms, min {:.1} ms over {} runs (threads: {})",
        data.n_labels(),
        right as f64 / truth.len() as f64,
        fit.iterations,
        fit.converged,
        fit.log_likelihood.unwrap_or(f64::NAN),
        times[times.len() / 2] * 1e3,
        times[0] * 1e3,
        times.len(),
        rayon::current_num_threads(),
    );
}
