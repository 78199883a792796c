//! `concord adjudication list` and `concord adjudicate`.

use super::{Db, actor, block_on, password_from_stdin, print_json};

/// The adjudication queue.
#[derive(Debug, clap::Args)]
pub(crate) struct AdjudicationArgs {
    #[command(subcommand)]
    command: AdjudicationCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AdjudicationCommand {
    /// List items waiting for an adjudicator, least confident first, with every read and each
    /// reader's skill.
    List(ListArgs),
    /// Send an item to the queue.
    Flag(FlagArgs),
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// The adjudicator or manager acting (default: the first administrator).
    #[arg(long = "as", value_name = "USER")]
    acting: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct FlagArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// Item id.
    item: String,
    /// Why.
    #[arg(long)]
    reason: String,
    /// The manager acting (default: the first administrator).
    #[arg(long = "as", value_name = "USER")]
    acting: Option<String>,
}

/// Decide an item in the adjudication queue and sign the decision; it supersedes the consensus
/// label.
///
/// Signing re-authenticates the adjudicator: their password is read from standard input (one
/// line). The signature records the printed name, the UTC time and the meaning ("authored") and
/// binds to the SHA-256 of the stored decision (21 CFR 11.50, 11.70, 11.200). A wrong password
/// is refused and recorded in the audit trail.
///
/// Example:
///   concord adjudicate cxr CXR-0042 effusion --as dr-senior --rationale "blunted costophrenic angle on lateral" <<< 'passphrase'
#[derive(Debug, clap::Args)]
pub(crate) struct AdjudicateArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// Item id.
    item: String,
    /// The decision (as `concord submit` takes values).
    value: String,
    /// The adjudicator.
    #[arg(long = "as", value_name = "USER")]
    acting: String,
    /// Why (required).
    #[arg(long)]
    rationale: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run_list(args: AdjudicationArgs) -> anyhow::Result<()> {
    match args.command {
        AdjudicationCommand::List(args) => block_on(async {
            let core = args.db.open().await?;
            let user = actor(&core, args.acting.as_deref()).await?;
            let queue = core.adjudication_queue(&user, &args.project).await?;
            if args.json {
                print_json(&queue)?;
            } else {
                for entry in &queue {
                    println!(
                        "{}\tconfidence {}\t{}",
                        entry.item,
                        entry.confidence.map_or("-".into(), |c| format!("{c:.3}")),
                        entry.reason.as_deref().unwrap_or("")
                    );
                    for read in &entry.reads {
                        let skill = read.skill.map_or("-".into(), |s| format!("{s:.2}"));
                        println!("    {:<16} skill {skill:<5} {}", read.annotator, read.value);
                    }
                }
                eprintln!("concord: {} items in the queue", queue.len());
            }
            Ok(())
        }),
        AdjudicationCommand::Flag(args) => block_on(async {
            let core = args.db.open().await?;
            let manager = actor(&core, args.acting.as_deref()).await?;
            core.flag(&manager, &args.project, &args.item, &args.reason)
                .await?;
            eprintln!("concord: `{}` is in the adjudication queue", args.item);
            Ok(())
        }),
    }
}

pub(crate) fn run_adjudicate(args: AdjudicateArgs) -> anyhow::Result<()> {
    block_on(async {
        let core = args.db.open().await?;
        let adjudicator = core.user(&args.acting).await?;
        let password = password_from_stdin()?;
        let adjudication = core
            .adjudicate(
                &adjudicator,
                &args.project,
                &args.item,
                &args.value,
                &args.rationale,
                &password,
            )
            .await?;
        if args.json {
            print_json(&serde_json::json!({
                "adjudication": adjudication.id,
                "item": args.item,
                "value": adjudication.value,
                "considered": adjudication.considered,
                "supersedes": adjudication.supersedes,
            }))?;
        } else {
            println!(
                "adjudicated {} (considering {} reads)",
                args.item,
                adjudication.considered.len()
            );
        }
        Ok(())
    })
}
