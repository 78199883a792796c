//! `concord fuse spans`: several readers' text spans fused by overlap matching and voting.

use super::readers::{Readers, cell, field_error, parse, read_weights};
use crate::input::{self, ANNOTATOR, Column, ITEM, LABEL};
use crate::output::Output;
use concord_consensus::fusion::{ReaderSpan, SpanFusion, span_agreement};
use std::path::PathBuf;
use std::process::ExitCode;

/// Fuse several readers' text spans (findings marked in a report) into one set per item.
///
/// Overlapping spans are matched across readers (optimal assignment by overlap for every two
/// readers, whatever the class), then each group votes: the start and the end with the most
/// reader weight (ties: the wider span), and the class with the most weight (ties: the class
/// that sorts first). Agreement between readers is span-level F1 (exact: same boundaries and
/// class; overlap: overlapping, same class), printed to standard error and written by
/// --agreement.
///
/// Input CSV: `item,annotator,start,end,label` with `end > start` (offsets, end exclusive).
/// Every annotator in the file is taken to have read every item.
///
/// Output CSV: `item,start,end,label,support,confidence,label_agreement,readers,missing`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  concord fuse spans findings.csv -o fused.csv
  concord fuse spans findings.csv --min-support 2 --agreement pairs.csv -o fused.csv
  concord fuse spans findings.csv --weights skills.csv --min-iou 0.5 -o fused.csv

The --agreement CSV has one row per pair of readers:
`annotator_a,annotator_b,spans_a,spans_b,exact_f1,overlap_f1`.")]
pub(crate) struct Args {
    /// Spans CSV with header `item,annotator,start,end,label`.
    spans: PathBuf,
    /// Spans match when their overlap over union is above this (0: any overlap).
    #[arg(long, default_value_t = 0.0, value_name = "T")]
    min_iou: f64,
    /// Reader skills, CSV `annotator,weight` (default: all 1).
    #[arg(long, value_name = "WEIGHTS.csv")]
    weights: Option<PathBuf>,
    /// Keep only fused spans marked by at least this many readers.
    #[arg(long, default_value_t = 1, value_name = "N")]
    min_support: usize,
    /// Write span-level F1 of every pair of readers to this CSV.
    #[arg(long, value_name = "PAIRS.csv")]
    agreement: Option<PathBuf>,
    /// Output CSV (default: standard output).
    #[arg(long, short, value_name = "OUT.csv")]
    output: Option<PathBuf>,
}

const START: Column = Column {
    name: "start",
    aliases: &[],
    expected: "a non-negative integer offset",
};
const END: Column = Column {
    name: "end",
    aliases: &[],
    expected: "an integer offset greater than start",
};

struct Row {
    item: String,
    annotator: String,
    start: u64,
    end: u64,
    label: String,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let path = &args.spans;
    let mut rows: Vec<Row> = Vec::new();
    input::read_csv(path, &[ITEM, ANNOTATOR, START, END, LABEL], |line, f| {
        let start: u64 = parse(path, line, &START, f[2])?;
        let end: u64 = parse(path, line, &END, f[3])?;
        if end <= start {
            return Err(field_error(path, line, &END, f[3]));
        }
        rows.push(Row {
            item: f[0].to_string(),
            annotator: f[1].to_string(),
            start,
            end,
            label: f[4].to_string(),
        });
        Ok(())
    })?;
    let readers = Readers::new(rows.iter().map(|r| r.annotator.clone()));
    let mut labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
    labels.sort_unstable();
    labels.dedup();
    let weights = match &args.weights {
        Some(p) => read_weights(p, &readers)?,
        None => Vec::new(),
    };
    let fusion = SpanFusion {
        min_iou: args.min_iou,
        weights,
    };
    let mut items: Vec<&str> = Vec::new();
    for row in &rows {
        if !items.contains(&row.item.as_str()) {
            items.push(&row.item);
        }
    }
    let per_item: Vec<Vec<ReaderSpan>> = items
        .iter()
        .map(|&item| {
            rows.iter()
                .filter(|r| r.item == item)
                .map(|r| ReaderSpan {
                    reader: readers.index(&r.annotator),
                    start: r.start,
                    end: r.end,
                    label: labels
                        .binary_search(&r.label.as_str())
                        .expect("label registered") as u32,
                })
                .collect()
        })
        .collect();
    let n_readers = readers.names.len();

    let mut out = Output::create(args.output.as_deref())?;
    let mut w = csv::Writer::from_writer(&mut out);
    w.write_record([
        "item",
        "start",
        "end",
        "label",
        "support",
        "confidence",
        "label_agreement",
        "readers",
        "missing",
    ])?;
    for (item, spans) in items.iter().zip(&per_item) {
        for fused in fusion.fuse(n_readers, spans)? {
            if fused.support < args.min_support {
                continue;
            }
            w.write_record([
                item.to_string(),
                fused.start.to_string(),
                fused.end.to_string(),
                labels[fused.label as usize].to_string(),
                fused.support.to_string(),
                cell(fused.confidence),
                cell(fused.label_agreement),
                readers.join(&fused.readers),
                readers.join(&fused.missing),
            ])?;
        }
    }
    w.flush()?;
    drop(w);

    let pairs = span_agreement(n_readers, &per_item)?;
    let agreement = match &args.agreement {
        Some(p) => {
            let mut file = Output::create(Some(p))?;
            let mut w = csv::Writer::from_writer(&mut file);
            w.write_record([
                "annotator_a",
                "annotator_b",
                "spans_a",
                "spans_b",
                "exact_f1",
                "overlap_f1",
            ])?;
            for pair in &pairs {
                w.write_record([
                    readers.names[pair.a].clone(),
                    readers.names[pair.b].clone(),
                    pair.n_a.to_string(),
                    pair.n_b.to_string(),
                    cell(pair.exact_f1),
                    cell(pair.overlap_f1),
                ])?;
            }
            w.flush()?;
            drop(w);
            Some(file)
        }
        None => None,
    };
    out.commit()?;
    if let Some(file) = agreement {
        file.commit()?;
    }
    if !pairs.is_empty() {
        let mean = |f: fn(&concord_consensus::fusion::SpanAgreement) -> f64| {
            pairs.iter().map(f).sum::<f64>() / pairs.len() as f64
        };
        eprintln!(
            "concord: {} spans from {n_readers} readers; mean pairwise span F1: exact {:.4}, overlap {:.4}",
            rows.len(),
            mean(|p| p.exact_f1),
            mean(|p| p.overlap_f1)
        );
    }
    Ok(ExitCode::SUCCESS)
}
