//! `concord overlap`: Dice, Jaccard, volumes and surface distances of two masks.

use super::fuse::number;
use anyhow::Context;
use concord_consensus::fusion::{distances, overlap};
use concord_imageio::{
    LabelFile, read_labels, require_binary, require_foreground, require_same_geometry,
};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Compare two masks: Dice, Jaccard, volumes, Hausdorff distance, its 95th percentile and the
/// average Hausdorff distance.
///
/// Masks are PNG, NIfTI (.nii/.nii.gz) or RLE .json files of the same shape and spacing.
/// Distances are in physical units (NIfTI pixdim; 1 per pixel for PNG), between voxel centres,
/// as SimpleITK's HausdorffDistanceImageFilter measures them. Without --label each mask must be
/// binary (0 and one other value); empty masks are refused (distances are undefined).
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  concord overlap reader1.nii.gz fused.nii.gz
  concord overlap a.png b.png --json
  concord overlap seg_a.nii seg_b.nii --label 2

Output: one `measure value` line each (dice, jaccard, size_a, size_b, intersection, union,
volume_a, volume_b, volume_difference = B - A, relative_volume_difference = (B - A) / A,
hausdorff, hausdorff95, average_hausdorff); --json prints the same as one object.")]
pub(crate) struct Args {
    /// First mask.
    a: PathBuf,
    /// Second mask.
    b: PathBuf,
    /// Compare only this label of two label maps.
    #[arg(long, value_name = "LABEL")]
    label: Option<u8>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut files = [read_labels(&args.a)?, read_labels(&args.b)?];
    require_same_geometry(&files)?;
    for file in &mut files {
        select(file, args.label)?;
        require_foreground(file)?;
    }
    let (a, b) = (&files[0].volume, &files[1].volume);
    let o = overlap(a, b)?;
    let d = distances(a, b)?.context("a mask is empty")?;
    let report = json!({
        "a": args.a.display().to_string(),
        "b": args.b.display().to_string(),
        "dice": number(o.dice),
        "jaccard": number(o.jaccard),
        "size_a": o.size_a,
        "size_b": o.size_b,
        "intersection": o.intersection,
        "union": o.union,
        "volume_a": number(o.volume_a),
        "volume_b": number(o.volume_b),
        "volume_difference": number(o.volume_difference),
        "relative_volume_difference": number(o.relative_volume_difference),
        "hausdorff": number(d.hausdorff),
        "hausdorff95": number(d.hausdorff95),
        "average_hausdorff": number(d.average_hausdorff),
        "spacing": a.spacing(),
    });
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        for (key, value) in report.as_object().into_iter().flatten() {
            if matches!(key.as_str(), "a" | "b" | "spacing") {
                continue;
            }
            writeln!(out, "{key:<28} {value}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Keeps `label` (as 1) when given; otherwise requires a binary mask.
fn select(file: &mut LabelFile, label: Option<u8>) -> anyhow::Result<()> {
    match label {
        Some(label) => file.volume = file.volume.select(label),
        None => {
            let foreground = file.volume.max_label().max(1);
            require_binary(file, foreground)?;
        }
    }
    Ok(())
}
