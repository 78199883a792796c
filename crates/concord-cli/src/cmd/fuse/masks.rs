//! `concord fuse masks`: majority voting or STAPLE over several readers' mask files.

use anyhow::Context;
use concord_consensus::fusion::{
    LabelVolume, LabelVoting, MultiLabelStaple, Staple, WeightedVoting, against, pairwise,
};
use concord_imageio::{
    LabelFile, read_labels, require_binary, require_foreground, require_same_geometry,
    write_labels, write_probability,
};
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Fuse several readers' masks (PNG, NIfTI .nii/.nii.gz, or RLE .json) into one.
///
/// `vote` gives each voxel the label most readers gave it (ties get the undecided label,
/// SimpleITK's LabelVotingImageFilter rule); with --weights each reader's vote counts with a
/// weight. `staple` (binary masks) estimates the true mask and each reader's sensitivity and
/// specificity (Warfield et al. 2004, ITK's iteration). `mlstaple` does the same for label maps
/// with one confusion matrix per reader (Rohlfing et al. 2004).
///
/// All readers must have the same shape and spacing; masks must not be empty (unless
/// --allow-empty); `staple` needs binary masks (0 and the foreground value). Any of these
/// problems is an error naming the file, with exit code 2.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  concord fuse masks --method staple r1.nii.gz r2.nii.gz r3.nii.gz -o fused.nii.gz --prob p.nii.gz
  concord fuse masks --method vote a.png b.png c.png -o vote.png --json
  concord fuse masks --method vote --weights 0.9,0.7,0.8 a.nii b.nii c.nii -o vote.nii
  concord fuse masks --method staple --foreground 255 a.png b.png c.png -o staple.png
  concord fuse masks --method mlstaple seg1.nii.gz seg2.nii.gz seg3.nii.gz -o labels.nii.gz

Output (without --json): one line per reader with sensitivity, specificity and Dice against the
fused mask. With --json: {\"method\", \"readers\": [{\"file\", \"sensitivity\", \"specificity\",
\"dice\", \"jaccard\", ...}], \"iterations\", \"converged\", \"pairwise\": [...], ...}.")]
pub(crate) struct Args {
    /// The readers' mask files (at least two).
    #[arg(required = true, num_args = 2.., value_name = "READER_FILES")]
    readers: Vec<PathBuf>,
    /// Fusion method.
    #[arg(long, short, value_enum, default_value_t = MaskMethod::Staple)]
    method: MaskMethod,
    /// Fused mask or label map (.png, .nii, .nii.gz, .json).
    #[arg(long, short, value_name = "OUT")]
    output: Option<PathBuf>,
    /// STAPLE's probability map of foreground (.nii, .nii.gz or .json; staple only).
    #[arg(long, value_name = "PROB_OUT")]
    prob: Option<PathBuf>,
    /// Print reader statistics as JSON on standard output.
    #[arg(long)]
    json: bool,
    /// The label value that marks foreground in binary masks (staple).
    #[arg(long, default_value_t = 1, value_name = "VALUE")]
    foreground: u8,
    /// Label of tied voxels (vote, mlstaple; default: largest label + 1).
    #[arg(long, value_name = "LABEL")]
    undecided: Option<u8>,
    /// One weight per reader, comma-separated, for a weighted vote.
    #[arg(long, value_delimiter = ',', value_name = "W1,W2,…")]
    weights: Option<Vec<f64>>,
    /// Iteration cap (staple, mlstaple; default: until convergence).
    #[arg(long, value_name = "N")]
    max_iter: Option<u32>,
    /// Multiplies STAPLE's foreground prior.
    #[arg(long, default_value_t = 1.0, value_name = "X")]
    confidence_weight: f64,
    /// Reproduce ITK's initial confusion matrices exactly (mlstaple; see docs/fusion.md).
    #[arg(long)]
    itk_compat: bool,
    /// Accept readers who marked nothing.
    #[arg(long)]
    allow_empty: bool,
    /// Also compute Hausdorff distance, HD95 and average Hausdorff of each reader against the
    /// fused mask (physical units).
    #[arg(long)]
    distances: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum MaskMethod {
    /// Majority vote (SimpleITK's LabelVotingImageFilter rule), or weighted with --weights.
    Vote,
    /// Binary STAPLE (Warfield, Zou & Wells 2004).
    Staple,
    /// Multi-label STAPLE (Rohlfing et al. 2004).
    Mlstaple,
}

impl MaskMethod {
    fn name(self) -> &'static str {
        match self {
            MaskMethod::Vote => "vote",
            MaskMethod::Staple => "staple",
            MaskMethod::Mlstaple => "mlstaple",
        }
    }
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.prob.is_some() && args.method != MaskMethod::Staple {
        anyhow::bail!("--prob needs --method staple (only STAPLE gives a probability map)");
    }
    if args.weights.is_some() && args.method != MaskMethod::Vote {
        anyhow::bail!("--weights applies to --method vote");
    }
    let files = args
        .readers
        .iter()
        .map(|path| read_labels(path))
        .collect::<Result<Vec<_>, _>>()?;
    require_same_geometry(&files)?;
    for file in &files {
        if !args.allow_empty {
            require_foreground(file)?;
        }
        if args.method == MaskMethod::Staple {
            require_binary(file, args.foreground)?;
        }
    }
    let volumes: Vec<&LabelVolume> = files.iter().map(|f| &f.volume).collect();
    let geometry = Some(&files[0].geometry);
    let mut report = json!({
        "method": args.method.name(),
        "shape": files[0].volume.shape(),
        "spacing": files[0].volume.spacing(),
    });
    let mut readers: Vec<Value> = files
        .iter()
        .map(|f| json!({"file": f.path.display().to_string()}))
        .collect();

    // The fused volume, and a binary mask of it for the agreement measures.
    let (fused, fused_binary) = match args.method {
        MaskMethod::Vote => {
            let fit = match &args.weights {
                Some(weights) => WeightedVoting {
                    weights: weights.clone(),
                    undecided_label: args.undecided,
                }
                .fit(&volumes)?,
                None => LabelVoting {
                    undecided_label: args.undecided,
                }
                .fit(&volumes)?,
            };
            report["iterations"] = json!(0);
            report["undecided_label"] = json!(fit.undecided_label);
            report["ties"] = json!(fit.n_ties);
            let binary = is_binary(&volumes).then(|| fit.labels.select(1));
            (fit.labels, binary)
        }
        MaskMethod::Staple => {
            let fit = Staple {
                foreground: f64::from(args.foreground),
                confidence_weight: args.confidence_weight,
                max_iterations: args.max_iter.unwrap_or(u32::MAX),
            }
            .fit(&volumes)?;
            for (reader, (p, q)) in readers
                .iter_mut()
                .zip(fit.sensitivity.iter().zip(&fit.specificity))
            {
                reader["sensitivity"] = number(*p);
                reader["specificity"] = number(*q);
            }
            report["iterations"] = json!(fit.iterations);
            report["converged"] = json!(fit.converged);
            report["prior"] = number(fit.prior);
            if let Some(path) = &args.prob {
                write_probability(path, &fit.probability, geometry)?;
            }
            let mask = fit.mask();
            // The fused mask uses the readers' foreground value (0/255 in, 0/255 out).
            let mut output = mask.clone();
            output
                .data_mut()
                .iter_mut()
                .for_each(|v| *v *= args.foreground);
            (output, Some(mask))
        }
        MaskMethod::Mlstaple => {
            let fit = MultiLabelStaple {
                max_iterations: args.max_iter,
                undecided_label: args.undecided,
                itk_compat: args.itk_compat,
                ..MultiLabelStaple::default()
            }
            .fit(&volumes)?;
            let n_labels = fit.n_labels;
            for (reader, matrix) in readers.iter_mut().zip(&fit.confusion) {
                let rows: Vec<Vec<f64>> = matrix.chunks(n_labels).map(|r| r.to_vec()).collect();
                reader["confusion"] = json!(rows);
            }
            report["iterations"] = json!(fit.iterations);
            report["converged"] = json!(fit.converged);
            report["labels"] = json!(n_labels);
            report["priors"] = json!(fit.priors);
            report["ties"] = json!(fit.n_ties);
            let binary = is_binary(&volumes).then(|| fit.labels.select(1));
            (fit.labels, binary)
        }
    };
    if let Some(path) = &args.output {
        write_labels(path, &fused, geometry)?;
    }

    // Agreement of every reader with the fused mask, and between readers (binary masks).
    if let Some(fused_binary) = &fused_binary {
        let foreground = if args.method == MaskMethod::Staple {
            args.foreground
        } else {
            1
        };
        let binary: Vec<LabelVolume> = volumes.iter().map(|v| v.select(foreground)).collect();
        let binary_refs: Vec<&LabelVolume> = binary.iter().collect();
        for (reader, agreement) in
            readers
                .iter_mut()
                .zip(against(&binary_refs, fused_binary, args.distances)?)
        {
            let o = agreement.overlap;
            if args.method != MaskMethod::Staple {
                // Empirical sensitivity and specificity against the fused mask.
                let n_voxels = fused_binary.n_voxels() as f64;
                let fused_size = o.size_b as f64;
                reader["sensitivity"] = number(o.intersection as f64 / fused_size);
                reader["specificity"] =
                    number((n_voxels - o.union as f64) / (n_voxels - fused_size));
            }
            reader["dice"] = number(o.dice);
            reader["jaccard"] = number(o.jaccard);
            reader["voxels"] = json!(o.size_a);
            if let Some(d) = agreement.distances {
                reader["hausdorff"] = number(d.hausdorff);
                reader["hausdorff95"] = number(d.hausdorff95);
                reader["average_hausdorff"] = number(d.average_hausdorff);
            }
        }
        report["fused_voxels"] = json!(fused_binary.count_nonzero());
        let pairs: Vec<Value> = pairwise(&binary_refs, false)?
            .iter()
            .map(|p| {
                json!({
                    "a": files[p.a].path.display().to_string(),
                    "b": files[p.b].path.display().to_string(),
                    "dice": number(p.overlap.dice),
                    "jaccard": number(p.overlap.jaccard),
                })
            })
            .collect();
        report["pairwise"] = json!(pairs);
    }
    report["readers"] = json!(readers);

    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        print_table(&mut out, &files, &report).context("cannot write to standard output")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether every reader holds only 0 and 1.
fn is_binary(volumes: &[&LabelVolume]) -> bool {
    volumes.iter().all(|v| v.max_label() <= 1)
}

/// A JSON number, or the fixtures' strings for non-finite values.
pub(crate) fn number(x: f64) -> Value {
    if x.is_nan() {
        json!("NaN")
    } else if x == f64::INFINITY {
        json!("Infinity")
    } else if x == f64::NEG_INFINITY {
        json!("-Infinity")
    } else {
        json!(x)
    }
}

fn print_table(out: &mut impl Write, files: &[LabelFile], report: &Value) -> std::io::Result<()> {
    let cell = |v: &Value| match v {
        Value::Number(n) => format!("{:.6}", n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => s.clone(),
        _ => "-".into(),
    };
    writeln!(
        out,
        "{:<40} {:>12} {:>12} {:>10}",
        "reader", "sensitivity", "specificity", "dice"
    )?;
    for (file, reader) in files
        .iter()
        .zip(report["readers"].as_array().into_iter().flatten())
    {
        writeln!(
            out,
            "{:<40} {:>12} {:>12} {:>10}",
            file.path.display(),
            cell(&reader["sensitivity"]),
            cell(&reader["specificity"]),
            cell(&reader["dice"]),
        )?;
    }
    writeln!(
        out,
        "method {}, {} iterations",
        report["method"].as_str().unwrap_or(""),
        report["iterations"]
    )
}
