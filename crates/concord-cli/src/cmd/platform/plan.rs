//! `concord plan`: the truthing plan, locked before the reads start.

use super::audit::rfc3339;
use super::{Db, actor, block_on, password_from_stdin, print_json};

/// Lock and show the truthing plan.
///
/// FDA's CADe guidances ask that the reference-standard method be fixed before the evaluation
/// starts. `plan lock` signs the project's current protocol version and consensus settings
/// (overlap, thresholds, method, seed) as the plan; once reads have started, a protocol change
/// (`concord protocol update --reason`) or a consensus run with another method
/// (`concord consensus --method M --reason`) needs a reason and is recorded as a deviation,
/// which `plan show` and the truthing report list.
#[derive(Debug, clap::Args)]
pub(crate) struct PlanArgs {
    #[command(subcommand)]
    command: PlanCommand,
}

#[derive(Debug, clap::Subcommand)]
enum PlanCommand {
    /// Sign the current protocol version and settings as the truthing plan (the manager's
    /// password on standard input).
    ///
    /// Example:
    ///   concord plan lock cxr --as alice <<< 'a long passphrase'
    Lock(LockArgs),
    /// The plans, their signatures, and the deviations recorded since.
    Show(ShowArgs),
}

#[derive(Debug, clap::Args)]
struct LockArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// The manager locking and signing the plan.
    #[arg(long = "as", value_name = "USER")]
    acting: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct ShowArgs {
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

pub(crate) fn run(args: PlanArgs) -> anyhow::Result<()> {
    match args.command {
        PlanCommand::Lock(args) => {
            let password = password_from_stdin()?;
            block_on(async {
                let core = args.db.open().await?;
                let manager = core.user(&args.acting).await?;
                let plan = core.lock_plan(&manager, &args.project, &password).await?;
                if args.json {
                    print_json(&plan)?;
                } else {
                    println!(
                        "truthing plan #{} locked: protocol v{} ({}), settings {}",
                        plan.plan.id,
                        plan.plan.protocol_version,
                        plan.plan.schema_sha256,
                        plan.plan.settings
                    );
                }
                Ok(())
            })
        }
        PlanCommand::Show(args) => block_on(async {
            let core = args.db.open().await?;
            let user = actor(&core, args.acting.as_deref()).await?;
            let report = core.plans(&user, &args.project).await?;
            if args.json {
                return print_json(&report);
            }
            for p in &report.plans {
                println!(
                    "plan #{} at {}: protocol v{} ({}), settings {}",
                    p.plan.id,
                    rfc3339(p.plan.created_at),
                    p.plan.protocol_version,
                    p.plan.schema_sha256,
                    p.plan.settings
                );
                for s in &p.signatures {
                    println!(
                        "    signed by {} ({}) at {}: {}",
                        s.printed_name,
                        s.meaning.as_str(),
                        rfc3339(s.signed_at),
                        if s.valid { "valid" } else { "INVALID" }
                    );
                }
            }
            if report.plans.is_empty() {
                println!("no truthing plan locked");
            }
            for d in &report.deviations {
                println!(
                    "deviation (event {}) at {} by {}: {} -> {}: {}",
                    d.seq,
                    rfc3339(d.at),
                    d.actor.as_deref().unwrap_or("(system)"),
                    d.from.as_ref().map_or("-".into(), |v| v.to_string()),
                    d.to.as_ref().map_or("-".into(), |v| v.to_string()),
                    d.reason.as_deref().unwrap_or("")
                );
            }
            Ok(())
        }),
    }
}
