//! `concord fuse boxes`: several readers' bounding boxes fused by IoU matching and weighted box
//! fusion.

use super::readers::{Readers, cell, field_error, parse, read_weights};
use crate::input::{self, ANNOTATOR, Column, ITEM, LABEL};
use crate::output::Output;
use concord_consensus::fusion::{BoxFusion, ReaderBox, Rect};
use std::path::PathBuf;
use std::process::ExitCode;

/// Fuse several readers' bounding boxes into one set per item.
///
/// Boxes of the same item and class are matched across readers by IoU with an optimal
/// assignment (Hungarian algorithm) for every two readers, matched groups never holding two
/// boxes of one reader; each group becomes one box by weighted box fusion (Solovyev et al.,
/// arXiv:1910.13302), weighted by reader skill (--weights; default equal).
///
/// Input CSV: `item,annotator,x,y,w,h,label` (x, y the top-left corner; w, h > 0). Every
/// annotator in the file is taken to have read every item: a reader with no box on an item
/// found nothing there.
///
/// Output CSV: `item,x,y,w,h,label,support,confidence,readers,missing` — support is how many
/// readers drew the box, confidence their skill-weighted share, readers and missing list
/// annotators separated by `;`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  concord fuse boxes nodules.csv -o fused.csv
  concord fuse boxes nodules.csv --iou 0.3 --weights skills.csv --min-support 2 -o fused.csv

WEIGHTS.csv has the header `annotator,weight` (for instance each reader's sensitivity from
`concord fuse masks --json`, or gold-case accuracy).")]
pub(crate) struct Args {
    /// Boxes CSV with header `item,annotator,x,y,w,h,label`.
    boxes: PathBuf,
    /// Boxes match when their IoU is at least this.
    #[arg(long, default_value_t = 0.5, value_name = "T")]
    iou: f64,
    /// Reader skills, CSV `annotator,weight` (default: all 1).
    #[arg(long, value_name = "WEIGHTS.csv")]
    weights: Option<PathBuf>,
    /// Keep only fused boxes drawn by at least this many readers.
    #[arg(long, default_value_t = 1, value_name = "N")]
    min_support: usize,
    /// Output CSV (default: standard output).
    #[arg(long, short, value_name = "OUT.csv")]
    output: Option<PathBuf>,
}

const X: Column = Column {
    name: "x",
    aliases: &[],
    expected: "a number (left edge)",
};
const Y: Column = Column {
    name: "y",
    aliases: &[],
    expected: "a number (top edge)",
};
const W: Column = Column {
    name: "w",
    aliases: &["width"],
    expected: "a positive number",
};
const H: Column = Column {
    name: "h",
    aliases: &["height"],
    expected: "a positive number",
};

struct Row {
    item: String,
    annotator: String,
    rect: Rect,
    label: String,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let path = &args.boxes;
    let mut rows: Vec<Row> = Vec::new();
    input::read_csv(path, &[ITEM, ANNOTATOR, X, Y, W, H, LABEL], |line, f| {
        let number = |column: &Column, value: &str| -> Result<f64, input::InputError> {
            let x: f64 = parse(path, line, column, value)?;
            if !x.is_finite() || (column.name.len() == 1 && "wh".contains(column.name) && x <= 0.0)
            {
                return Err(field_error(path, line, column, value));
            }
            Ok(x)
        };
        rows.push(Row {
            item: f[0].to_string(),
            annotator: f[1].to_string(),
            rect: Rect {
                x: number(&X, f[2])?,
                y: number(&Y, f[3])?,
                w: number(&W, f[4])?,
                h: number(&H, f[5])?,
            },
            label: f[6].to_string(),
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
    let fusion = BoxFusion {
        iou_threshold: args.iou,
        weights,
    };
    let mut items: Vec<&str> = Vec::new();
    for row in &rows {
        if !items.contains(&row.item.as_str()) {
            items.push(&row.item);
        }
    }
    let mut out = Output::create(args.output.as_deref())?;
    let mut w = csv::Writer::from_writer(&mut out);
    w.write_record([
        "item",
        "x",
        "y",
        "w",
        "h",
        "label",
        "support",
        "confidence",
        "readers",
        "missing",
    ])?;
    let mut n_fused = 0usize;
    for item in items {
        let boxes: Vec<ReaderBox> = rows
            .iter()
            .filter(|r| r.item == item)
            .map(|r| ReaderBox {
                reader: readers.index(&r.annotator),
                rect: r.rect,
                label: labels
                    .binary_search(&r.label.as_str())
                    .expect("label registered") as u32,
            })
            .collect();
        for fused in fusion.fuse(readers.names.len(), &boxes)? {
            if fused.support < args.min_support {
                continue;
            }
            n_fused += 1;
            w.write_record([
                item.to_string(),
                cell(fused.rect.x),
                cell(fused.rect.y),
                cell(fused.rect.w),
                cell(fused.rect.h),
                labels[fused.label as usize].to_string(),
                fused.support.to_string(),
                cell(fused.confidence),
                readers.join(&fused.readers),
                readers.join(&fused.missing),
            ])?;
        }
    }
    w.flush()?;
    drop(w);
    out.commit()?;
    eprintln!(
        "concord: {} boxes from {} readers fused into {n_fused}",
        rows.len(),
        readers.names.len()
    );
    Ok(ExitCode::SUCCESS)
}
