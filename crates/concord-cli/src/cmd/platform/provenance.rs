//! `concord provenance`: everything that made one item's label.

use super::audit::rfc3339;
use super::{Db, actor, block_on, print_json};
use std::io::Write;

/// Show where an item's reference label comes from: the protocol versions, every read (reader
/// pseudonym, qualifications, time, value, time spent), the consensus run (method, version,
/// parameters, seed, input hash, the item's posterior), the adjudication (rationale,
/// signatures with printed name, time and meaning), the gold status, and the audit events.
///
/// Example:
///   concord provenance cxr CXR-0042 --json
#[derive(Debug, clap::Args)]
pub(crate) struct ProvenanceArgs {
    #[command(flatten)]
    db: Db,
    /// Project name.
    project: String,
    /// Item id.
    item: String,
    /// The manager, adjudicator or auditor acting (default: the first administrator).
    #[arg(long = "as", value_name = "USER")]
    acting: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: ProvenanceArgs) -> anyhow::Result<()> {
    block_on(async {
        let core = args.db.open().await?;
        let user = actor(&core, args.acting.as_deref()).await?;
        let p = core.provenance(&user, &args.project, &args.item).await?;
        if args.json {
            return print_json(&p);
        }
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{} / {} ({}), content SHA-256 {}",
            p.project, p.item, p.kind, p.content_sha256
        )?;
        if let Some(gold) = &p.gold {
            writeln!(out, "gold item, known answer {gold}")?;
        }
        writeln!(
            out,
            "status {}, label {}, confidence {}, {} labels",
            p.state.status,
            p.state.label.as_ref().map_or("-".into(), |l| l.to_string()),
            p.state.confidence.map_or("-".into(), |c| format!("{c:.4}")),
            p.state.labels
        )?;
        for v in &p.protocol_versions {
            writeln!(
                out,
                "protocol v{} ({}) {}",
                v.version, v.schema_sha256, v.note
            )?;
        }
        for r in &p.reads {
            writeln!(
                out,
                "read #{} by {} {} at {} under v{}: {} ({} s)",
                r.annotation,
                r.reader,
                r.qualifications,
                rfc3339(r.created_at),
                r.protocol_version,
                r.value,
                r.time_spent_ms
                    .map_or("-".into(), |t| format!("{:.1}", t as f64 / 1000.0))
            )?;
        }
        if let Some(c) = &p.consensus {
            writeln!(
                out,
                "consensus run {} ({} {}, seed {}, parameters {}, input SHA-256 {}) at {}",
                c.run,
                c.method,
                c.method_version,
                c.seed,
                c.parameters,
                c.input_sha256,
                rfc3339(c.created_at)
            )?;
            if let Some(l) = &c.label {
                writeln!(
                    out,
                    "    label {} confidence {:.4} ({}), posterior {}",
                    l.label, l.confidence, l.status, l.posterior
                )?;
            }
        }
        if let Some(a) = &p.adjudication {
            writeln!(
                out,
                "adjudication #{} by {} at {}: {} — {}",
                a.adjudication,
                a.adjudicator,
                rfc3339(a.created_at),
                a.value,
                a.rationale
            )?;
            for s in &a.signatures {
                writeln!(
                    out,
                    "    signed by {} ({}) at {}: {}",
                    s.printed_name,
                    s.meaning.as_str(),
                    rfc3339(s.signed_at),
                    if s.valid {
                        "valid"
                    } else {
                        "INVALID: the record changed after signing"
                    }
                )?;
            }
        }
        writeln!(
            out,
            "audit events: {}",
            p.audit_events
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )?;
        Ok(())
    })
}
