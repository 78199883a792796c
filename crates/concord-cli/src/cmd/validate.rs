//! `concord validate`: run reference cases and report pass or fail per case (software
//! validation, 21 CFR 11.10(a)).

use crate::conformance::{self, BUNDLED, Outcome, Status};
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

/// Check Concord against reference cases computed by trusted libraries.
///
/// Each case is computed from its `input` alone and compared with the reference library's
/// `expected` output within the case's tolerance (format: conformance/README.md). Kinds this
/// build does not know are listed as skipped. Exit code 1 when any case fails.
///
/// Without FILE, runs the reference cases bundled into the binary and prints a validation
/// report (tool version, date, per-case results, totals) a quality team can file.
///
/// Examples:
///   concord validate
///   concord validate ../shared/conformance/agreement.json --json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct Args {
    /// Reference-case files (JSON arrays of cases).
    files: Vec<PathBuf>,
    /// Print one JSON array of {name, kind, status, computed} (plus `detail` for a failure).
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let bundled = args.files.is_empty();
    let mut sources: Vec<(String, String)> = Vec::new();
    if bundled {
        for (name, text) in BUNDLED {
            sources.push((format!("conformance/{name} (bundled)"), (*text).to_string()));
        }
    } else {
        for path in &args.files {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("{}: cannot read", path.display()))?;
            sources.push((path.display().to_string(), text));
        }
    }
    let mut files: Vec<(String, Vec<Outcome>)> = Vec::new();
    for (name, text) in sources {
        let outcomes = conformance::run_file(&text).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        files.push((name, outcomes));
    }
    let all: Vec<&Outcome> = files.iter().flat_map(|(_, o)| o).collect();
    let count = |s: Status| all.iter().filter(|o| o.status == s).count();
    let (pass, fail, skipped, error) = (
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Skipped),
        count(Status::Error),
    );
    if args.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    } else {
        if bundled {
            print_header(&files);
        }
        for (name, outcomes) in &files {
            println!("{name}");
            for o in outcomes {
                let status = match o.status {
                    Status::Pass => "pass",
                    Status::Fail => "FAIL",
                    Status::Skipped => "skipped",
                    Status::Error => "ERROR",
                };
                println!("  {status:<8} {:<30} {}", o.kind, o.name);
                if !o.computed.is_null() {
                    println!("           computed: {}", o.computed);
                }
                if matches!(o.status, Status::Fail | Status::Error)
                    && let Some(detail) = &o.detail
                {
                    println!("           {detail}");
                }
            }
        }
        println!(
            "Totals: {} cases: {pass} pass, {fail} fail, {skipped} skipped, {error} error",
            all.len()
        );
        if bundled {
            let verdict = if fail + error == 0 {
                "PASS (no case failed)"
            } else {
                "FAIL"
            };
            println!("Result: {verdict}");
        }
    }
    Ok(if fail + error > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_header(files: &[(String, Vec<Outcome>)]) {
    println!("Concord software validation report");
    println!("==================================");
    println!("Tool:      concord {}", env!("CARGO_PKG_VERSION"));
    println!("Date:      {} (UTC)", utc_now());
    println!(
        "Platform:  {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    for (name, outcomes) in files {
        println!("Cases:     {name}: {} cases", outcomes.len());
    }
    println!("Oracles:   each case names the library call that produced its expected output");
    println!("           (`oracle`); versions and conventions in conformance/README.md");
    println!("Method:    every case is computed from its input alone and compared with the");
    println!("           expected output within the case's tolerance; unknown kinds are skipped");
    println!();
}

/// The current time as RFC 3339 UTC, to the second.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
