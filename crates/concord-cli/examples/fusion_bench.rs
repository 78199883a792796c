//! Times Concord's mask fusion in-process, for `bench/fusion/run` (which compares it with
//! SimpleITK on the same files).
//!
//! Run with `cargo run --release -p concord-cli --example fusion_bench -- OUT_DIR READER…`.
//! Prints one JSON object: median seconds of STAPLE and voting over the runs (file reading
//! excluded), STAPLE's reader statistics and iterations; writes `concord_prob.nii` and
//! `concord_vote.nii` to OUT_DIR for the equality check.

use concord_consensus::fusion::{LabelVolume, LabelVoting, Staple};
use concord_imageio::{read_labels, write_labels, write_probability};
use std::path::PathBuf;
use std::time::Instant;

const RUNS: usize = 7;

fn main() {
    let mut args = std::env::args_os().skip(1);
    let out_dir = PathBuf::from(args.next().expect("usage: fusion_bench OUT_DIR READER..."));
    let files: Vec<_> = args
        .map(|p| read_labels(PathBuf::from(p).as_path()).expect("readable reader file"))
        .collect();
    let readers: Vec<&LabelVolume> = files.iter().map(|f| &f.volume).collect();

    let median = |mut times: Vec<f64>| {
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    };
    let mut staple_times = Vec::new();
    let mut fit = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        let result = Staple::default().fit(&readers).expect("STAPLE runs");
        staple_times.push(start.elapsed().as_secs_f64());
        fit = Some(std::hint::black_box(result));
    }
    let mut vote_times = Vec::new();
    let mut vote = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        let result = LabelVoting::default().fit(&readers).expect("voting runs");
        vote_times.push(start.elapsed().as_secs_f64());
        vote = Some(std::hint::black_box(result));
    }
    let fit = fit.expect("at least one run");
    let vote = vote.expect("at least one run");
    let geometry = Some(&files[0].geometry);
    write_probability(
        &out_dir.join("concord_prob.nii"),
        &fit.probability,
        geometry,
    )
    .expect("writable output");
    write_labels(&out_dir.join("concord_vote.nii"), &vote.labels, geometry)
        .expect("writable output");
    let report = serde_json::json!({
        "threads": rayon::current_num_threads(),
        "runs": RUNS,
        "staple_seconds": median(staple_times),
        "vote_seconds": median(vote_times),
        "iterations": fit.iterations,
        "sensitivity": fit.sensitivity,
        "specificity": fit.specificity,
        "vote_ties": vote.n_ties,
    });
    println!("{report}");
}
