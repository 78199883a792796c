//! `concord project` and `concord protocol`: projects and their versioned protocols.

use super::{Db, actor, block_on, print_json};
use anyhow::Context;
use concord_core::policy::{Overlap, Qualification, QualityRules, Settings};
use std::path::PathBuf;

/// Manage projects.
#[derive(Debug, clap::Args)]
pub(crate) struct ProjectArgs {
    #[command(subcommand)]
    command: ProjectCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ProjectCommand {
    /// Create a project from a protocol file (YAML or JSON).
    ///
    /// Examples:
    ///   concord project create cxr --protocol cxr.yaml --overlap adaptive:2..5@0.95 --gold-rate 0.1
    ///   concord project create mammo --protocol birads.json --overlap fixed:3 --qualify 10@0.8
    Create(Box<CreateArgs>),
    /// List projects.
    List(ListArgs),
    /// Who may open a project in the web app and the API (administrators open every project).
    ///
    /// Examples:
    ///   concord project member add cxr dr-lee
    ///   concord project member list cxr
    Member(MemberArgs),
    /// Delete a project logically: it is closed (no new records; open leases end) and its
    /// retention period starts. Its records stay readable until `concord retention purge`
    /// removes them after the period; refused while a legal hold is in force.
    ///
    /// Example:
    ///   concord project delete cxr --reason "study closed out (CIP-7 §12)"
    Delete(DeleteArgs),
}

#[derive(Debug, clap::Args)]
struct DeleteArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// Why (recorded in the audit trail; required).
    #[arg(long)]
    reason: String,
    /// The administrator acting (default: the first administrator).
    #[arg(long = "as", value_name = "USER")]
    acting: Option<String>,
}

#[derive(Debug, clap::Args)]
struct MemberArgs {
    #[command(flatten)]
    db: Db,
    /// `add`, `remove` or `list`.
    #[arg(value_parser = ["add", "remove", "list"])]
    action: String,
    /// Project name.
    project: String,
    /// The user to add or remove.
    user: Option<String>,
    /// The manager acting (default: the first administrator).
    #[arg(long = "as", value_name = "USER")]
    acting: Option<String>,
}

#[derive(Debug, clap::Args)]
struct CreateArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    name: String,
    /// The protocol: label tasks, classes with definitions and examples, decision rules.
    #[arg(long, value_name = "FILE")]
    protocol: PathBuf,
    /// Labels per item: `fixed:K`; `adaptive:MIN..MAX@THRESHOLD` (ask one more expert only
    /// while the top class's posterior is below THRESHOLD; at MAX, adjudication); or
    /// `cost:BUDGET[@THRESHOLD]` (two reads, then one more while uncertain from the annotator
    /// with the most expected information per unit of cost, within the item's budget; each
    /// annotator's cost is set with `concord user add --cost`).
    #[arg(long, default_value = "fixed:3", value_parser = |s: &str| s.parse::<Overlap>())]
    overlap: Overlap,
    /// Share of each annotator's assignments that are gold items, indistinguishable to them.
    #[arg(long, default_value_t = 0.0)]
    gold_rate: f64,
    /// Consensus method (`concord aggregate --help` lists them).
    #[arg(long, default_value = "ds")]
    method: String,
    /// Qualification gate `N@ACCURACY`: a new annotator first answers N gold items and needs
    /// that accuracy before real work.
    #[arg(long, value_parser = |s: &str| s.parse::<Qualification>())]
    qualify: Option<Qualification>,
    /// For fixed overlap: send fully labelled items below this confidence to adjudication.
    #[arg(long)]
    accept: Option<f64>,
    /// Seconds an annotator holds a leased item.
    #[arg(long, default_value_t = 3600)]
    lease_seconds: u32,
    /// New labels after which skills are re-fitted in the background.
    #[arg(long, default_value_t = 500)]
    refit_every: u32,
    /// Seed of consensus runs.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Quality rule: put an annotator on probation (more gold items) when their accuracy on
    /// their last --rule-window gold answers falls below this. Lifted automatically when it
    /// recovers; every change is audited.
    #[arg(long, value_name = "ACCURACY")]
    probation_below: Option<f64>,
    /// Quality rule: suspend an annotator (no work until a manager runs `concord reinstate`)
    /// below this accuracy on their last --rule-window gold answers.
    #[arg(long, value_name = "ACCURACY")]
    suspend_below: Option<f64>,
    /// Gold answers the quality rules look at (the most recent).
    #[arg(long, value_name = "N", default_value_t = 20)]
    rule_window: u32,
    /// Gold answers needed in the window before a quality rule applies.
    #[arg(long, value_name = "N", default_value_t = 10)]
    rule_min_gold: u32,
    /// Show the reference answer after at most this many gold items per annotator and 24 hours
    /// (default: after every one), so the gold set cannot be harvested.
    #[arg(long, value_name = "N")]
    gold_feedback_per_day: Option<u32>,
    /// Retire a gold item (never serve it again; its answers stay) once this many annotators
    /// have answered it, so over-exposed gold leaves the set. Audited as `gold.retire`.
    #[arg(long, value_name = "N")]
    retire_gold_after: Option<u32>,
    /// Share of assignments that are gold items while on probation.
    #[arg(long, value_name = "RATE", default_value_t = 0.3)]
    probation_gold_rate: f64,
    /// Weight of a label given on probation, in (0, 1]: its likelihood is raised to this
    /// power in posteriors and consensus runs (0.5: half a label of the same skill).
    #[arg(long, value_name = "W", default_value_t = 0.5)]
    probation_weight: f64,
    /// The manager acting (default: the first administrator).
    #[arg(long = "as", value_name = "USER")]
    acting: Option<String>,
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    #[command(flatten)]
    db: Db,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Manage protocol versions.
#[derive(Debug, clap::Args)]
pub(crate) struct ProtocolArgs {
    #[command(subcommand)]
    command: ProtocolCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ProtocolCommand {
    /// Store a new version of a project's protocol, with a note saying what changed.
    ///
    /// Example:
    ///   concord protocol update cxr cxr-v2.yaml --note "split effusion into small/large"
    Update(UpdateArgs),
    /// Print a protocol version (default: the latest) as JSON.
    Show(ShowArgs),
}

#[derive(Debug, clap::Args)]
struct UpdateArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// The new protocol (YAML or JSON).
    file: PathBuf,
    /// What changed and why.
    #[arg(long)]
    note: String,
    /// Why the locked truthing plan is departed from (required once reads have started;
    /// recorded as a deviation the truthing report lists).
    #[arg(long)]
    reason: Option<String>,
    /// The manager acting (default: the first administrator).
    #[arg(long = "as", value_name = "USER")]
    acting: Option<String>,
}

#[derive(Debug, clap::Args)]
struct ShowArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// Version (default: latest).
    #[arg(long)]
    version: Option<i64>,
}

pub(crate) fn run_project(args: ProjectArgs) -> anyhow::Result<()> {
    match args.command {
        ProjectCommand::Delete(args) => block_on(async {
            let core = args.db.open().await?;
            let admin = actor(&core, args.acting.as_deref()).await?;
            let state = core
                .delete_project(&admin, &args.project, &args.reason)
                .await?;
            match state.expires_at() {
                Some(at) => println!(
                    "{} deleted; its records may be purged from {}",
                    args.project,
                    super::audit::rfc3339(at)
                ),
                None => println!(
                    "{} deleted; its records are kept indefinitely (`concord retention set`)",
                    args.project
                ),
            }
            Ok(())
        }),
        ProjectCommand::Create(args) => {
            let text = std::fs::read_to_string(&args.protocol).with_context(|| {
                format!("{}: cannot read the protocol", args.protocol.display())
            })?;
            let settings = Settings {
                overlap: args.overlap,
                gold_rate: args.gold_rate,
                method: args.method,
                qualify: args.qualify,
                accept: args.accept,
                lease_seconds: args.lease_seconds,
                refit_every: args.refit_every,
                seed: args.seed,
                gold_feedback_per_day: args.gold_feedback_per_day,
                retire_gold_after: args.retire_gold_after,
                rules: (args.probation_below.is_some() || args.suspend_below.is_some()).then(
                    || QualityRules {
                        window: args.rule_window,
                        min_gold: args.rule_min_gold,
                        probation_below: args.probation_below.or(args.suspend_below).unwrap_or(0.0),
                        suspend_below: args.suspend_below.unwrap_or(0.0),
                        probation_gold_rate: args.probation_gold_rate,
                        probation_weight: args.probation_weight,
                    },
                ),
            };
            block_on(async {
                let core = args.db.open().await?;
                let manager = actor(&core, args.acting.as_deref()).await?;
                let project = core
                    .create_project(&manager, &args.name, &text, settings)
                    .await
                    .with_context(|| format!("{}", args.protocol.display()))?;
                eprintln!("concord: created project `{}`", project.name);
                Ok(())
            })
        }
        ProjectCommand::Member(args) => block_on(async {
            let core = args.db.open().await?;
            if args.action == "list" {
                for name in core.members(&args.project).await? {
                    println!("{name}");
                }
                return Ok(());
            }
            let Some(user) = args.user.as_deref() else {
                anyhow::bail!(
                    "`project member {}` needs the user to {}",
                    args.action,
                    args.action
                );
            };
            let manager = actor(&core, args.acting.as_deref()).await?;
            let changed = if args.action == "add" {
                core.add_member(&manager, &args.project, user).await?
            } else {
                core.remove_member(&manager, &args.project, user).await?
            };
            match (args.action.as_str(), changed) {
                ("add", true) => eprintln!("concord: {user} is now a member of `{}`", args.project),
                ("add", false) => {
                    eprintln!("concord: {user} was already a member of `{}`", args.project)
                }
                (_, true) => eprintln!(
                    "concord: {user} is no longer a member of `{}`",
                    args.project
                ),
                (_, false) => eprintln!("concord: {user} was not a member of `{}`", args.project),
            }
            Ok(())
        }),
        ProjectCommand::List(args) => block_on(async {
            let core = args.db.open().await?;
            let projects = core.store().projects().await?;
            if args.json {
                let rows: Vec<_> = projects
                    .iter()
                    .map(|p| serde_json::json!({"name": p.name, "settings": p.settings}))
                    .collect();
                print_json(&rows)?;
            } else {
                for p in &projects {
                    println!("{}", p.name);
                }
            }
            Ok(())
        }),
    }
}

pub(crate) fn run_protocol(args: ProtocolArgs) -> anyhow::Result<()> {
    match args.command {
        ProtocolCommand::Update(args) => {
            let text = std::fs::read_to_string(&args.file)
                .with_context(|| format!("{}: cannot read the protocol", args.file.display()))?;
            block_on(async {
                let core = args.db.open().await?;
                let manager = actor(&core, args.acting.as_deref()).await?;
                let version = core
                    .update_protocol(
                        &manager,
                        &args.project,
                        &text,
                        &args.note,
                        args.reason.as_deref(),
                    )
                    .await
                    .with_context(|| format!("{}", args.file.display()))?;
                eprintln!(
                    "concord: `{}` protocol version {}",
                    args.project, version.version
                );
                Ok(())
            })
        }
        ProtocolCommand::Show(args) => block_on(async {
            let core = args.db.open().await?;
            let project = core.store().project(&args.project).await?;
            let protocol = core.store().protocol(project.id, args.version).await?;
            print_json(&serde_json::json!({
                "project": project.name,
                "version": protocol.version,
                "note": protocol.note,
                "sha256": protocol.schema_sha256,
                "protocol": protocol.schema,
            }))
        }),
    }
}
