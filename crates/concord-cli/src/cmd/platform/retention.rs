//! `concord retention` and `concord backup`: how long records are kept, legal holds, the purge
//! job, and consistent copies of the database.

use super::audit::rfc3339;
use super::{Db, actor, block_on, print_json};
use concord_store::Retention;
use std::path::PathBuf;

/// Retention periods, legal holds and the purge job (21 CFR 11.10(c)).
///
/// A project's records are kept indefinitely unless an administrator sets a period. Deleting a
/// project (`concord project delete`) is logical: it closes the project and starts the period;
/// the records stay readable. Once the period has run out, `concord retention purge` removes
/// them, unless a legal hold is in force; a held project cannot be deleted either. Every change,
/// every refusal and every purge is an audit event; the audit trail itself is never purged.
///
/// Examples:
///   concord retention set cxr --days 3650 --reason "SOP-12: ten years after closeout"
///   concord retention hold cxr --reason "litigation 2026-17"
///   concord retention release cxr 1 --reason "matter closed"
///   concord retention show cxr
///   concord retention purge --dry-run
#[derive(Debug, clap::Args)]
pub(crate) struct RetentionArgs {
    #[command(subcommand)]
    command: RetentionCommand,
}

#[derive(Debug, clap::Subcommand)]
enum RetentionCommand {
    /// A project's retention period, holds, deletion and purge.
    Show(ShowArgs),
    /// Set how many days a project's records are kept after it is deleted.
    Set(SetArgs),
    /// Place a legal hold: the project can be neither deleted nor purged until it is released.
    Hold(HoldArgs),
    /// Release a legal hold (its id is in `retention show`).
    Release(ReleaseArgs),
    /// Remove the records of every deleted project whose retention period has run out and that
    /// no hold keeps; print every project's outcome.
    Purge(PurgeArgs),
}

#[derive(Debug, clap::Args)]
struct ShowArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// What every retention change takes: the project, why, and who.
#[derive(Debug, clap::Args)]
struct ChangeArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// Why (recorded in the audit trail; required). For a hold: the matter it is held for.
    #[arg(long)]
    reason: String,
    /// The administrator acting (default: the first administrator).
    #[arg(long = "as", value_name = "USER")]
    acting: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
#[group(id = "period", required = true, multiple = false)]
struct SetArgs {
    #[command(flatten)]
    change: ChangeArgs,
    /// Days after the project's deletion.
    #[arg(long, group = "period")]
    days: Option<u32>,
    /// Keep the records indefinitely (the default for a new project).
    #[arg(long, group = "period")]
    indefinite: bool,
}

#[derive(Debug, clap::Args)]
struct HoldArgs {
    #[command(flatten)]
    change: ChangeArgs,
}

#[derive(Debug, clap::Args)]
struct ReleaseArgs {
    #[command(flatten)]
    change: ChangeArgs,
    /// The hold's id (`retention show` lists them).
    hold: i64,
}

#[derive(Debug, clap::Args)]
struct PurgeArgs {
    #[command(flatten)]
    db: Db,
    /// Report what would be purged; remove nothing.
    #[arg(long)]
    dry_run: bool,
    /// The administrator acting (default: the first administrator).
    #[arg(long = "as", value_name = "USER")]
    acting: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Write a consistent copy of the database to a new file, while it is in use.
///
/// The copy is the whole database (records and audit trail) as of one moment. To restore,
/// open the copy instead (`--db COPY`, with the same audit key); `concord audit verify --db
/// COPY` checks it.
///
/// Example:
///   concord backup -o /backups/concord-2026-12-07.db
#[derive(Debug, clap::Args)]
pub(crate) struct BackupArgs {
    #[command(flatten)]
    db: Db,
    /// The copy (must not exist).
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// The administrator acting (default: the first administrator).
    #[arg(long = "as", value_name = "USER")]
    acting: Option<String>,
}

pub(crate) fn run(args: RetentionArgs) -> anyhow::Result<()> {
    match args.command {
        RetentionCommand::Show(args) => block_on(async {
            let core = args.db.open().await?;
            let state = core.retention(&args.project).await?;
            if args.json {
                return print_json(&state);
            }
            print_state(&args.project, &state);
            Ok(())
        }),
        RetentionCommand::Set(args) => {
            let days = if args.indefinite { None } else { args.days };
            change(args.change, |core, admin, c| async move {
                let state = core
                    .set_retention(&admin, &c.project, days, &c.reason)
                    .await?;
                show(&c, &state)
            })
        }
        RetentionCommand::Hold(args) => change(args.change, |core, admin, c| async move {
            let hold = core.place_hold(&admin, &c.project, &c.reason).await?;
            if c.json {
                return print_json(&hold);
            }
            println!(
                "legal hold #{} placed on {}: {}",
                hold.id, c.project, hold.reason
            );
            Ok(())
        }),
        RetentionCommand::Release(args) => {
            let hold = args.hold;
            change(args.change, |core, admin, c| async move {
                let state = core
                    .release_hold(&admin, &c.project, hold, &c.reason)
                    .await?;
                show(&c, &state)
            })
        }
        RetentionCommand::Purge(args) => block_on(async {
            let core = args.db.open().await?;
            let admin = actor(&core, args.acting.as_deref()).await?;
            let outcomes = core.purge_expired(&admin, args.dry_run).await?;
            if args.json {
                return print_json(&outcomes);
            }
            for o in &outcomes {
                match (&o.purged, &o.kept_because) {
                    (Some(report), _) => {
                        let rows: i64 = report.removed.values().sum();
                        println!(
                            "{}: purged {rows} rows (event {}): {}",
                            o.project,
                            report.seq,
                            report
                                .removed
                                .iter()
                                .filter(|(_, n)| **n > 0)
                                .map(|(t, n)| format!("{t} {n}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        );
                    }
                    (None, None) => println!("{}: would be purged", o.project),
                    (None, Some(why)) => println!("{}: kept: {why}", o.project),
                }
            }
            Ok(())
        }),
    }
}

/// Opens the database and runs `work` as the acting administrator.
fn change<F, Fut>(args: ChangeArgs, work: F) -> anyhow::Result<()>
where
    F: FnOnce(concord_core::Core, concord_store::User, ChangeArgs) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    block_on(async {
        let core = args.db.open().await?;
        let admin = actor(&core, args.acting.as_deref()).await?;
        work(core, admin, args).await
    })
}

/// Prints the state after a change, as JSON or text.
fn show(args: &ChangeArgs, state: &Retention) -> anyhow::Result<()> {
    if args.json {
        return print_json(state);
    }
    print_state(&args.project, state);
    Ok(())
}

pub(crate) fn run_backup(args: BackupArgs) -> anyhow::Result<()> {
    block_on(async {
        let core = args.db.open().await?;
        let admin = actor(&core, args.acting.as_deref()).await?;
        core.backup(&admin, &args.output).await?;
        println!(
            "backed up {} to {} (verify it: concord audit verify --db {})",
            args.db.db.display(),
            args.output.display(),
            args.output.display()
        );
        Ok(())
    })
}

fn print_state(project: &str, state: &Retention) {
    match (state.days, &state.policy) {
        (Some(days), Some(p)) => println!(
            "{project}: records kept {days} days after deletion (set {}: {})",
            rfc3339(p.at),
            p.reason
        ),
        (None, Some(p)) => println!(
            "{project}: records kept indefinitely (set {}: {})",
            rfc3339(p.at),
            p.reason
        ),
        _ => println!("{project}: records kept indefinitely (the default)"),
    }
    for h in &state.holds {
        match &h.released {
            None => println!(
                "  legal hold #{} in force since {}: {}",
                h.id,
                rfc3339(h.placed_at),
                h.reason
            ),
            Some(r) => println!(
                "  legal hold #{} placed {} ({}), released {} ({})",
                h.id,
                rfc3339(h.placed_at),
                h.reason,
                rfc3339(r.at),
                r.reason
            ),
        }
    }
    if let Some(d) = &state.deleted {
        println!("  deleted {}: {}", rfc3339(d.at), d.reason);
        match state.expires_at() {
            Some(at) if state.purged.is_none() => {
                println!("  records may be purged from {}", rfc3339(at));
            }
            _ => {}
        }
    }
    if let Some(p) = &state.purged {
        println!("  purged {}: {}", rfc3339(p.at), p.reason);
    }
}
