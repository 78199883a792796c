//! `concord audit verify` and `concord audit log`.

use super::{Db, actor, block_on, print_json};
use anyhow::Context;
use concord_store::{AuditEvent, AuditFilter};
use std::io::Write;
use std::process::ExitCode;

/// Check and read the tamper-evident audit trail.
///
/// Every change (users, projects, protocol versions, imports, leases, annotations, consensus
/// runs, adjudications, signatures) appended an event in the transaction that made it; the
/// events form a SHA-256 hash chain whose head is signed with the audit key (see
/// docs/audit.md for what that proves and what it cannot).
#[derive(Debug, clap::Args)]
pub(crate) struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AuditCommand {
    Verify(VerifyArgs),
    Log(LogArgs),
}

/// Re-compute the chain and re-derive every stored annotation, adjudication, protocol
/// version, import, consensus run and signature from the events.
///
/// Exit 0 when intact; exit 1 naming the first broken sequence number and what is wrong
/// (altered, deleted, inserted or reordered event, cut-off chain, a record changed outside the
/// application, a signature whose record changed). Uses the audit key file when present (then
/// a chain rewritten with fresh hashes is located too), else its public half (`KEY.pub`).
///
/// Examples:
///   concord audit verify --db study.db
///   concord audit verify --db copy.db --audit-key /media/auditor/study.audit-key.pub --json
#[derive(Debug, clap::Args)]
struct VerifyArgs {
    #[command(flatten)]
    db: Db,
    /// The auditor acting (default: the first administrator).
    #[arg(long = "as", value_name = "USER")]
    acting: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Show the history, oldest first, with the values before and after each change.
///
/// Examples:
///   concord audit log --entity annotation:17
///   concord audit log --actor dr-senior --since 2026-11-01 --json
#[derive(Debug, clap::Args)]
struct LogArgs {
    #[command(flatten)]
    db: Db,
    /// Only events about this entity, `KIND:ID` (`annotation:17`, `adjudication:3`,
    /// `user:2`, `project:1`, `item:40`, `consensus_run:5`, `protocol:1.v2`).
    #[arg(long, value_name = "KIND:ID")]
    entity: Option<String>,
    /// Only events by this user (login name).
    #[arg(long, value_name = "USER")]
    actor: Option<String>,
    /// Only events at or after this time: RFC 3339 (`2026-11-28T09:00:00Z`) or a date
    /// (`2026-11-28`, midnight UTC).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// The auditor acting (default: the first administrator).
    #[arg(long = "as", value_name = "USER")]
    acting: Option<String>,
    /// Print JSON (one array).
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        AuditCommand::Verify(args) => verify(args),
        AuditCommand::Log(args) => log(args).map(|()| ExitCode::SUCCESS),
    }
}

fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let verifier = args.db.verifier()?;
    block_on(async {
        let core = args.db.open().await?;
        let user = actor(&core, args.acting.as_deref()).await?;
        let report = core.verify_audit(&user, &verifier).await?;
        if args.json {
            print_json(&report)?;
        } else {
            let mut out = std::io::stdout().lock();
            let records: Vec<String> = report
                .records_checked
                .iter()
                .map(|(kind, n)| format!("{n} {kind}"))
                .collect();
            writeln!(
                out,
                "events: {} (head {} {})",
                report.events,
                report.head_seq.map_or("-".into(), |s| s.to_string()),
                report.head_hash.as_deref().unwrap_or("-")
            )?;
            writeln!(out, "records re-derived: {}", records.join(", "))?;
            writeln!(out, "signatures valid: {}", report.signatures_checked)?;
            if !report.macs_checked {
                writeln!(
                    out,
                    "note: checked with the public key only; a rewritten chain is detected but \
                     not located"
                )?;
            }
            for b in &report.breaks {
                let seq = b.seq.map_or("-".into(), |s| s.to_string());
                writeln!(out, "BROKEN at {seq}: {:?}: {}", b.kind, b.detail)?;
            }
            writeln!(
                out,
                "{}",
                if report.intact {
                    "intact"
                } else {
                    "NOT intact"
                }
            )?;
        }
        if let Some(b) = &report.first_break {
            eprintln!(
                "concord: the audit trail is broken{}: {}",
                b.seq
                    .map_or(String::new(), |s| format!(" at sequence number {s}")),
                b.detail
            );
            return Ok(ExitCode::from(1));
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Parses `--since`.
fn parse_since(text: &str) -> anyhow::Result<i64> {
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Ok(t.as_millisecond());
    }
    let date: jiff::civil::Date = text.parse().with_context(|| {
        format!("--since {text}: expected RFC 3339 (2026-11-28T09:00:00Z) or a date (2026-11-28)")
    })?;
    Ok(date
        .to_zoned(jiff::tz::TimeZone::UTC)?
        .timestamp()
        .as_millisecond())
}

/// RFC 3339, UTC, milliseconds.
pub(crate) fn rfc3339(millis: i64) -> String {
    jiff::Timestamp::from_millisecond(millis)
        .map(|t| format!("{t:.3}"))
        .unwrap_or_else(|_| millis.to_string())
}

fn log(args: LogArgs) -> anyhow::Result<()> {
    if let Some(entity) = &args.entity {
        anyhow::ensure!(
            entity.contains(':'),
            "--entity {entity}: expected KIND:ID, such as annotation:17"
        );
    }
    let since = args.since.as_deref().map(parse_since).transpose()?;
    block_on(async {
        let core = args.db.open().await?;
        let user = actor(&core, args.acting.as_deref()).await?;
        let actor_id = match &args.actor {
            Some(name) => Some(core.user(name).await?.id),
            None => None,
        };
        let events = core
            .audit_log(
                &user,
                AuditFilter {
                    entity: args.entity.clone(),
                    actor: actor_id,
                    since,
                    ..AuditFilter::default()
                },
            )
            .await?;
        if args.json {
            #[derive(serde::Serialize)]
            struct Row<'a> {
                time: String,
                #[serde(flatten)]
                event: &'a AuditEvent,
            }
            let rows: Vec<Row<'_>> = events
                .iter()
                .map(|event| Row {
                    time: rfc3339(event.at),
                    event,
                })
                .collect();
            print_json(&rows)?;
        } else {
            let mut out = std::io::stdout().lock();
            for e in &events {
                writeln!(
                    out,
                    "{:>7}  {}  {:<12} {:<22} {}",
                    e.seq,
                    rfc3339(e.at),
                    e.actor_name.as_deref().unwrap_or("(system)"),
                    e.action,
                    e.entity
                )?;
                if let Some(before) = &e.before {
                    writeln!(out, "         before: {before}")?;
                }
                if let Some(after) = &e.after {
                    writeln!(out, "         after:  {after}")?;
                }
                if let Some(reason) = &e.reason {
                    writeln!(out, "         reason: {reason}")?;
                }
                if let Some(client) = &e.client {
                    writeln!(out, "         client: {client}")?;
                }
            }
            eprintln!("concord: {} events", events.len());
        }
        Ok(())
    })
}
