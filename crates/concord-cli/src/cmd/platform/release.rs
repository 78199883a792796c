//! `concord release`: frozen, signed releases of a project's reference standard.

use super::audit::rfc3339;
use super::{Db, actor, block_on, password_from_stdin, print_json};
use crate::output::Output;
use concord_core::release::{ExportFormat, Purpose};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Freeze, verify, export and analyse releases.
///
/// A release freezes the project's reference standard as it is now into a manifest (every
/// item's label, confidence, status, consensus run, adjudication and signature, content hash,
/// and every individual read, with the protocol and the readers' qualifications), hashed and
/// signed by the manager who cuts it. Exports are built from the manifest alone: the same bytes
/// every time, whatever happens in the project afterwards. Every export is recorded in the
/// audit trail; exporting a test release needs a reason, and `release usage` counts how often
/// each test item was exported.
#[derive(Debug, clap::Args)]
pub(crate) struct ReleaseArgs {
    #[command(subcommand)]
    command: ReleaseCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ReleaseCommand {
    Create(CreateArgs),
    List(ListArgs),
    Verify(NamedArgs),
    Export(ExportArgs),
    Stability(StabilityArgs),
    Usage(ListArgs),
}

/// Cut a release: the manager re-enters their password (standard input) and signs it as
/// approved.
///
/// Example:
///   concord release create cxr v1 --as alice --purpose test <<< 'a long passphrase'
#[derive(Debug, clap::Args)]
struct CreateArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// Release name (unique in the project; releases are never changed).
    name: String,
    /// The manager cutting and signing it.
    #[arg(long = "as", value_name = "USER")]
    acting: String,
    /// What the release is for: reference, train, tune, test (test releases log and count
    /// every export).
    #[arg(long, default_value = "reference")]
    purpose: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// The project's releases (`list`), or how often each test item has been exported (`usage`).
#[derive(Debug, clap::Args)]
struct ListArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// The manager or auditor acting (default: the first administrator).
    #[arg(long = "as", value_name = "USER")]
    acting: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Check a release: its manifest hash, its approval signature, and that every item's content
/// and every read still match the database. Exit 1 when something does not.
#[derive(Debug, clap::Args)]
struct NamedArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// Release name.
    name: String,
    /// The manager or auditor acting (default: the first administrator).
    #[arg(long = "as", value_name = "USER")]
    acting: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Export a release: `jsonl` (one object per item, every read and the provenance), `csv`
/// (one row per item), or `reads` (every individual read as `item,annotator,label`, so the
/// consensus can be recomputed with `concord aggregate`).
///
/// Example:
///   concord release export cxr v1 --format csv -o v1.csv --reason "model 3 evaluation"
#[derive(Debug, clap::Args)]
struct ExportArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// Release name.
    name: String,
    /// jsonl, csv or reads.
    #[arg(long, default_value = "jsonl")]
    format: String,
    /// Output file (default: standard output). Written only when complete.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Why (recorded in the audit trail; required for test releases).
    #[arg(long)]
    reason: Option<String>,
    /// The manager or auditor acting (default: the first administrator).
    #[arg(long = "as", value_name = "USER")]
    acting: Option<String>,
}

/// Reader variability: re-run the release's consensus method leaving each reader out, and on
/// bootstrap resamples of the reader panel, and count the labels that change.
///
/// Example:
///   concord release stability cxr v1 --resamples 200 --seed 7 --json
#[derive(Debug, clap::Args)]
struct StabilityArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// Release name.
    name: String,
    /// Bootstrap resamples of the panel.
    #[arg(long, default_value_t = 100)]
    resamples: usize,
    /// Seed of the resampling (the method keeps the release run's seed).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The manager or auditor acting (default: the first administrator).
    #[arg(long = "as", value_name = "USER")]
    acting: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: ReleaseArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ReleaseCommand::Create(args) => {
            let purpose: Purpose = args
                .purpose
                .parse()
                .map_err(|e: String| anyhow::anyhow!("--purpose: {e}"))?;
            let password = password_from_stdin()?;
            block_on(async {
                let core = args.db.open().await?;
                let manager = core.user(&args.acting).await?;
                let info = core
                    .create_release(&manager, &args.project, &args.name, purpose, &password)
                    .await?;
                if args.json {
                    print_json(&info)?;
                } else {
                    println!(
                        "release {} ({}): {} items, manifest SHA-256 {}, signed by {}",
                        info.name,
                        info.purpose,
                        info.items,
                        info.manifest_sha256,
                        manager.display_name
                    );
                }
                Ok(ExitCode::SUCCESS)
            })
        }
        ReleaseCommand::List(args) => block_on(async {
            let core = args.db.open().await?;
            let user = actor(&core, args.acting.as_deref()).await?;
            let releases = core.releases(&user, &args.project).await?;
            if args.json {
                print_json(&releases)?;
            } else {
                for r in &releases {
                    let signed: Vec<String> = r
                        .signatures
                        .iter()
                        .map(|s| {
                            format!(
                                "{} ({}, {}{})",
                                s.printed_name,
                                s.meaning.as_str(),
                                rfc3339(s.signed_at),
                                if s.valid { "" } else { ", INVALID" }
                            )
                        })
                        .collect();
                    println!(
                        "{}\t{}\t{} items\t{}\t{}\tsigned: {}",
                        r.name,
                        r.purpose,
                        r.items,
                        rfc3339(r.created_at),
                        r.manifest_sha256,
                        signed.join("; ")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }),
        ReleaseCommand::Verify(args) => block_on(async {
            let core = args.db.open().await?;
            let user = actor(&core, args.acting.as_deref()).await?;
            let check = core
                .verify_release(&user, &args.project, &args.name)
                .await?;
            if args.json {
                print_json(&check)?;
            } else {
                println!(
                    "release {}: {} items, manifest SHA-256 {}",
                    check.release.name, check.release.items, check.release.manifest_sha256
                );
                for s in &check.release.signatures {
                    println!(
                        "signature #{}: {}, {}, {} — {}",
                        s.id,
                        s.printed_name,
                        s.meaning.as_str(),
                        rfc3339(s.signed_at),
                        if s.valid { "valid" } else { "INVALID" }
                    );
                }
                for p in &check.problems {
                    println!("problem: {p}");
                }
                println!("{}", if check.intact { "intact" } else { "NOT intact" });
            }
            if let Some(p) = check.problems.first() {
                eprintln!("concord: release `{}` does not verify: {p}", args.name);
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }),
        ReleaseCommand::Export(args) => {
            let format: ExportFormat = args
                .format
                .parse()
                .map_err(|e: String| anyhow::anyhow!("--format: {e}"))?;
            block_on(async {
                let core = args.db.open().await?;
                let user = actor(&core, args.acting.as_deref()).await?;
                let bytes = core
                    .export_release(
                        &user,
                        &args.project,
                        &args.name,
                        format,
                        args.reason.as_deref(),
                    )
                    .await?;
                let mut out = Output::create(args.output.as_deref())?;
                out.write_all(&bytes)?;
                out.commit()?;
                Ok(ExitCode::SUCCESS)
            })
        }
        ReleaseCommand::Stability(args) => block_on(async {
            let core = args.db.open().await?;
            let user = actor(&core, args.acting.as_deref()).await?;
            let s = core
                .release_stability(&user, &args.project, &args.name, args.resamples, args.seed)
                .await?;
            if args.json {
                print_json(&s)?;
            } else {
                let mut out = std::io::stdout().lock();
                writeln!(
                    out,
                    "{} items, {} readers, method {}; full-panel consensus differs from the \
                     release on {} items",
                    s.items, s.readers, s.method, s.differ_from_release
                )?;
                for l in &s.leave_one_out {
                    writeln!(
                        out,
                        "without {:<14} ({} reads): {} labels change, {} items left unread",
                        l.reader, l.reads, l.changed, l.unlabelled
                    )?;
                }
                writeln!(
                    out,
                    "bootstrap ({} resamples of the panel, seed {}): {:.2}% of labels change on \
                     average (95% interval {:.2}%..{:.2}%)",
                    s.bootstrap.resamples,
                    s.bootstrap.seed,
                    100.0 * s.bootstrap.mean_changed_share,
                    100.0 * s.bootstrap.low,
                    100.0 * s.bootstrap.high
                )?;
                for (item, share) in s.unstable_items.iter().take(10) {
                    writeln!(
                        out,
                        "unstable: {item} changes in {:.0}% of resamples",
                        100.0 * share
                    )?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }),
        ReleaseCommand::Usage(args) => block_on(async {
            let core = args.db.open().await?;
            let user = actor(&core, args.acting.as_deref()).await?;
            let usage = core.test_usage(&user, &args.project).await?;
            if args.json {
                print_json(&usage)?;
            } else {
                for u in &usage {
                    println!("{}\t{} exports\t{}", u.item, u.uses, u.releases.join(","));
                }
            }
            Ok(ExitCode::SUCCESS)
        }),
    }
}
