//! The truthing report of a release: the facts a submission needs about how the reference
//! standard was made (section C of `../shared/reference/regulatory-requirements.md`), as JSON
//! and as a self-contained HTML page with inline SVG charts that prints cleanly to PDF.
//!
//! Every number on the page is rendered from the same [`TruthingReport`] the JSON serialises,
//! and carries a `data-fact` attribute naming its JSON path, so a test can check that every
//! figure a reader sees equals the electronic record.

use crate::plan::{DeviationInfo, PlanInfo};
use crate::provenance::ProtocolRef;
use crate::release::{ReleaseInfo, Stability};
use crate::service::{Core, CoreError, CoreResult};
use concord_consensus::agreement::{Metric, Options, Ratings, evaluate, per_class};
use concord_consensus::{AnnotationsBuilder, DuplicatePolicy};
use concord_store::{AuditVerifier, Role, User, VerifyReport};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

/// An estimate with its 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    /// The point estimate.
    pub estimate: f64,
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

/// A reader in the report.
#[derive(Debug, Clone, Serialize)]
pub struct ReaderRow {
    /// Pseudonym.
    pub reader: String,
    /// Qualifications as recorded.
    pub qualifications: Value,
    /// Reads in the release.
    pub reads: u64,
    /// Reads with a class that agree with the reference label, with a Wilson interval.
    pub accuracy: Option<Estimate>,
}

/// Item counts.
#[derive(Debug, Clone, Serialize)]
pub struct Counts {
    /// Items in the release.
    pub items: u64,
    /// Accepted from the consensus without adjudication.
    pub auto_accepted: u64,
    /// Decided by an adjudicator.
    pub adjudicated: u64,
    /// Waiting for an adjudicator when the release was cut.
    pub needs_adjudication: u64,
    /// Without a reference label yet.
    pub pending: u64,
    /// Gold (known-answer) items in the project, not part of the release.
    pub gold_items: u64,
    /// Individual reads.
    pub reads: u64,
}

/// Agreement between readers.
#[derive(Debug, Clone, Serialize)]
pub struct AgreementFacts {
    /// Pairwise percent agreement.
    pub percent: Option<Estimate>,
    /// Fleiss' kappa.
    pub fleiss_kappa: Option<Estimate>,
    /// Krippendorff's alpha, nominal.
    pub krippendorff_alpha: Option<Estimate>,
    /// Fleiss' kappa of each class against the rest.
    pub per_class: Vec<ClassAgreement>,
    /// How the intervals were computed.
    pub interval_method: String,
}

/// One class's agreement.
#[derive(Debug, Clone, Serialize)]
pub struct ClassAgreement {
    /// The class.
    pub class: String,
    /// Its one-vs-rest Fleiss' kappa.
    pub kappa: Option<Estimate>,
}

/// Reads against the reference label: `counts[r][c]` reads of class `classes[c]` on items whose
/// reference label is `classes[r]`.
#[derive(Debug, Clone, Serialize)]
pub struct DisagreementMatrix {
    /// Classes, in order.
    pub classes: Vec<String>,
    /// Counts.
    pub counts: Vec<Vec<u64>>,
}

/// The audit chain's state when the report was made.
#[derive(Debug, Clone, Serialize)]
pub struct AuditFacts {
    /// Whether `concord audit verify` found nothing wrong.
    pub intact: bool,
    /// Events.
    pub events: i64,
    /// The signed head.
    pub head_seq: Option<i64>,
    /// Its hash.
    pub head_hash: Option<String>,
    /// The first problem, if any.
    pub first_break: Option<String>,
}

/// Everything the truthing report says.
#[derive(Debug, Clone, Serialize)]
pub struct TruthingReport {
    /// The program that made it.
    pub generator: String,
    /// The project.
    pub project: String,
    /// The release, its manifest hash and signatures.
    pub release: ReleaseInfo,
    /// Readers with their qualifications and performance against the reference.
    pub readers: Vec<ReaderRow>,
    /// Adjudicators (pseudonyms).
    pub adjudicators: Vec<String>,
    /// How readers were kept independent.
    pub blinding: Vec<String>,
    /// The project's assignment and consensus settings.
    pub assignment_policy: Value,
    /// The consensus run the labels come from.
    pub consensus: Value,
    /// Counts.
    pub counts: Counts,
    /// Agreement statistics.
    pub agreement: AgreementFacts,
    /// Reads against the reference label.
    pub disagreement: DisagreementMatrix,
    /// Protocol versions and their change notes.
    pub protocol_versions: Vec<ProtocolRef>,
    /// Truthing plans and their signatures.
    pub plans: Vec<PlanInfo>,
    /// Deviations from the plan.
    pub deviations: Vec<DeviationInfo>,
    /// The audit chain.
    pub audit: AuditFacts,
    /// Labels under reader resampling.
    pub stability: Stability,
}

/// Wilson score interval for a proportion (Wilson 1927, doi:10.1080/01621459.1927.10502953).
fn wilson(successes: u64, n: u64) -> Option<Estimate> {
    if n == 0 {
        return None;
    }
    let z = 1.959_963_984_540_054_f64;
    let n_f = n as f64;
    let p = successes as f64 / n_f;
    let denominator = 1.0 + z * z / n_f;
    let centre = (p + z * z / (2.0 * n_f)) / denominator;
    let half = z * (p * (1.0 - p) / n_f + z * z / (4.0 * n_f * n_f)).sqrt() / denominator;
    Some(Estimate {
        estimate: p,
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
    })
}

fn estimate(report: &concord_consensus::agreement::Report) -> Option<Estimate> {
    let value = report.value.as_ref().ok()?;
    let interval = report.interval.as_ref().ok()?;
    Some(Estimate {
        estimate: *value,
        low: interval.low,
        high: interval.high,
    })
}

impl Core {
    /// The truthing report of a release, from the release's manifest, the project's protocol
    /// history, plans and deviations, the audit chain (verified now with `verifier`) and a
    /// reader-resampling analysis (100 resamples, seed 0).
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless manager or auditor; [`CoreError::NotFound`].
    pub async fn truthing_report(
        &self,
        actor: &User,
        project: &str,
        release: &str,
        verifier: &AuditVerifier,
    ) -> CoreResult<TruthingReport> {
        if !actor.has(Role::Manager) && !actor.has(Role::Auditor) {
            return Err(CoreError::Forbidden(format!(
                "{} may not read truthing reports",
                actor.name
            )));
        }
        let store = self.store();
        let p = store.project(project).await?;
        let info = self
            .releases(actor, project)
            .await?
            .into_iter()
            .find(|r| r.name == release)
            .ok_or_else(|| CoreError::NotFound(format!("release `{release}`")))?;
        let manifest: Value = {
            let stored = store
                .releases(p.id)
                .await?
                .into_iter()
                .find(|r| r.name == release)
                .ok_or_else(|| CoreError::NotFound(format!("release `{release}`")))?;
            serde_json::from_str(&stored.manifest).map_err(|e| {
                CoreError::Store(concord_store::StoreError::Integrity(format!(
                    "release `{release}`: {e}"
                )))
            })?
        };
        let task = manifest["protocol"]["primary_task"]
            .as_str()
            .map(String::from);
        let class_of = |value: &Value| -> Option<String> {
            let v = match &task {
                Some(t) => &value[t],
                None => value,
            };
            v.as_str().map(String::from)
        };
        let items = manifest["items"].as_array().cloned().unwrap_or_default();

        // Counts, reads, per-reader accuracy, the disagreement matrix.
        let mut counts = Counts {
            items: items.len() as u64,
            auto_accepted: 0,
            adjudicated: 0,
            needs_adjudication: 0,
            pending: 0,
            gold_items: store
                .items(p.id)
                .await?
                .iter()
                .filter(|i| i.gold.is_some())
                .count() as u64,
            reads: 0,
        };
        let mut builder = AnnotationsBuilder::new();
        let mut per_reader: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut adjudicators = Vec::new();
        for item in &items {
            match item["status"].as_str() {
                Some("auto") => counts.auto_accepted += 1,
                Some("adjudicated") => counts.adjudicated += 1,
                Some("needs_adjudication") => counts.needs_adjudication += 1,
                _ => counts.pending += 1,
            }
            if let Some(a) = item["adjudication"]["adjudicator"].as_str()
                && !adjudicators.iter().any(|x| x == a)
            {
                adjudicators.push(a.to_string());
            }
            let reference = item["label"].as_str();
            let id = item["item"].as_str().unwrap_or_default();
            for read in item["reads"].as_array().into_iter().flatten() {
                counts.reads += 1;
                let reader = read["reader"].as_str().unwrap_or_default().to_string();
                let entry = per_reader.entry(reader.clone()).or_default();
                entry.0 += 1;
                if let Some(class) = class_of(&read["value"]) {
                    builder.push(id, &reader, &class);
                    if let Some(reference) = reference {
                        entry.1 += 1;
                        entry.2 += u64::from(reference == class);
                        pairs.push((reference.to_string(), class));
                    }
                }
            }
        }
        adjudicators.sort();
        let readers_meta: HashMap<String, Value> = manifest["readers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                Some((
                    r["reader"].as_str()?.to_string(),
                    r["qualifications"].clone(),
                ))
            })
            .collect();
        let readers = per_reader
            .into_iter()
            .map(|(reader, (reads, decided, right))| ReaderRow {
                qualifications: readers_meta.get(&reader).cloned().unwrap_or(Value::Null),
                reader,
                reads,
                accuracy: wilson(right, decided),
            })
            .collect();
        let mut classes: Vec<String> = pairs
            .iter()
            .flat_map(|(a, b)| [a.clone(), b.clone()])
            .collect();
        classes.sort();
        classes.dedup();
        let index: HashMap<&str, usize> = classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i))
            .collect();
        let mut matrix = vec![vec![0u64; classes.len()]; classes.len()];
        for (reference, read) in &pairs {
            matrix[index[reference.as_str()]][index[read.as_str()]] += 1;
        }

        // Agreement, with analytic 95 % intervals.
        let agreement = if builder.is_empty() {
            AgreementFacts {
                percent: None,
                fleiss_kappa: None,
                krippendorff_alpha: None,
                per_class: Vec::new(),
                interval_method: "none: no categorical reads".into(),
            }
        } else {
            let data = builder
                .build(DuplicatePolicy::Last)
                .map_err(|e| CoreError::Invalid(e.to_string()))?;
            let ratings = Ratings::from_annotations(&data);
            let options = Options::default();
            let run = |metric| {
                evaluate(&ratings, metric, &options)
                    .ok()
                    .as_ref()
                    .and_then(estimate)
            };
            let per_class = per_class(&ratings, Metric::Fleiss, &options)
                .map(|reports| {
                    data.classes()
                        .iter()
                        .zip(&reports)
                        .map(|(class, r)| ClassAgreement {
                            class: class.to_string(),
                            kappa: estimate(r),
                        })
                        .collect()
                })
                .unwrap_or_default();
            AgreementFacts {
                percent: run(Metric::Percent),
                fleiss_kappa: run(Metric::Fleiss),
                krippendorff_alpha: run(Metric::Alpha),
                per_class,
                interval_method: "analytic 95% intervals (concord-consensus agreement module)"
                    .into(),
            }
        };

        let mut protocol_versions = Vec::new();
        let latest = store.protocol(p.id, None).await?.version;
        for v in 1..=latest {
            let pv = store.protocol(p.id, Some(v)).await?;
            protocol_versions.push(ProtocolRef {
                version: pv.version,
                schema_sha256: pv.schema_sha256,
                note: pv.note,
            });
        }
        let plan = self.plans(actor, project).await?;
        let audit: VerifyReport = store.verify_audit(verifier).await?;
        let stability = self
            .release_stability(actor, project, release, 100, 0)
            .await?;
        let blinding = vec![
            "Each reader saw the item and the protocol only: never another reader's label, the \
             consensus, or a gold answer before submitting (enforced by the server, which hands \
             out item content alone)."
                .into(),
            format!(
                "Gold items were interleaved at the project's gold rate and looked like any \
                 other item (gold rate {}).",
                p.settings["gold_rate"]
            ),
            "Adjudicators saw every read with each reader's measured skill, and signed each \
             decision with a rationale."
                .into(),
        ];
        Ok(TruthingReport {
            generator: format!("concord {}", env!("CARGO_PKG_VERSION")),
            project: p.name,
            release: info,
            readers,
            adjudicators,
            blinding,
            assignment_policy: p.settings,
            consensus: manifest["consensus_run"].clone(),
            counts,
            agreement,
            disagreement: DisagreementMatrix {
                classes,
                counts: matrix,
            },
            protocol_versions,
            plans: plan.plans,
            deviations: plan.deviations,
            audit: AuditFacts {
                intact: audit.intact,
                events: audit.events,
                head_seq: audit.head_seq,
                head_hash: audit.head_hash,
                first_break: audit.first_break.map(|b| b.detail),
            },
            stability,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// HTML.

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A number on the page, tagged with its JSON path.
fn fact(path: &str, value: f64, decimals: usize) -> String {
    format!(r#"<span data-fact="{path}">{value:.decimals$}</span>"#)
}

fn int(path: &str, value: impl std::fmt::Display) -> String {
    format!(r#"<span data-fact="{path}">{value}</span>"#)
}

fn est(path: &str, e: Option<&Estimate>) -> String {
    match e {
        None => "undefined".into(),
        Some(e) => format!(
            "{} (95% CI {} – {})",
            fact(&format!("{path}.estimate"), e.estimate, 3),
            fact(&format!("{path}.low"), e.low, 3),
            fact(&format!("{path}.high"), e.high, 3)
        ),
    }
}

/// A UTC time in ISO 8601 (`2026-12-06T21:30:00Z`).
pub(crate) fn utc(millis: i64) -> String {
    jiff::Timestamp::from_millisecond(millis)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|_| millis.to_string())
}

/// Horizontal bars with 95 % interval whiskers, one per row, on a 0–1 axis.
fn interval_chart(title: &str, rows: &[(String, Option<Estimate>)]) -> String {
    let width = 640.0;
    let left = 160.0;
    let bar_h = 22.0;
    let height = 40.0 + bar_h * rows.len() as f64;
    let x = |v: f64| left + (width - left - 20.0) * v.clamp(0.0, 1.0);
    let mut svg = format!(
        r##"<svg role="img" aria-label="{t}" width="{width}" height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg"><title>{t}</title>"##,
        t = esc(title)
    );
    for tick in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let _ = write!(
            svg,
            r##"<line x1="{0}" x2="{0}" y1="20" y2="{1}" stroke="#ccc"/><text x="{0}" y="14" font-size="10" text-anchor="middle">{tick}</text>"##,
            x(tick),
            height - 10.0
        );
    }
    for (i, (label, e)) in rows.iter().enumerate() {
        let y = 24.0 + bar_h * i as f64;
        let _ = write!(
            svg,
            r##"<text x="{0}" y="{1}" font-size="11" text-anchor="end">{2}</text>"##,
            left - 6.0,
            y + 13.0,
            esc(label)
        );
        if let Some(e) = e {
            let _ = write!(
                svg,
                r##"<rect x="{left}" y="{0}" width="{1}" height="14" fill="#4a78b5"/><line x1="{2}" x2="{3}" y1="{4}" y2="{4}" stroke="#222" stroke-width="1.5"/>"##,
                y + 2.0,
                (x(e.estimate) - left).max(0.0),
                x(e.low),
                x(e.high),
                y + 9.0
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// A heatmap of the disagreement matrix.
fn heatmap(m: &DisagreementMatrix) -> String {
    let cell = 44.0;
    let left = 110.0;
    let top = 90.0;
    let n = m.classes.len() as f64;
    let (w, h) = (left + cell * n + 10.0, top + cell * n + 10.0);
    let max = m.counts.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
    let mut svg = format!(
        r##"<svg role="img" aria-label="Reads against the reference label" width="{w}" height="{h}" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg"><title>Reads against the reference label</title>"##
    );
    for (i, c) in m.classes.iter().enumerate() {
        let _ = write!(
            svg,
            r##"<text x="{0}" y="{1}" font-size="11" text-anchor="end">{2}</text><text transform="translate({3},{4}) rotate(-45)" font-size="11">{2}</text>"##,
            left - 6.0,
            top + cell * i as f64 + cell / 2.0 + 4.0,
            esc(c),
            left + cell * i as f64 + cell / 2.0,
            top - 6.0
        );
    }
    for (r, row) in m.counts.iter().enumerate() {
        for (c, &count) in row.iter().enumerate() {
            let shade = (255.0 - 200.0 * count as f64 / max).round() as u8;
            let _ = write!(
                svg,
                r##"<rect x="{0}" y="{1}" width="{cell}" height="{cell}" fill="rgb({shade},{shade},255)" stroke="#fff"/><text x="{2}" y="{3}" font-size="11" text-anchor="middle">{count}</text>"##,
                left + cell * c as f64,
                top + cell * r as f64,
                left + cell * c as f64 + cell / 2.0,
                top + cell * r as f64 + cell / 2.0 + 4.0
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

impl TruthingReport {
    /// The report as one self-contained HTML page.
    pub fn to_html(&self) -> String {
        let mut h = String::new();
        let r = &self.release;
        let _ = write!(
            h,
            r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Truthing report — {project} / {name}</title><style>
body{{font:14px/1.45 system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#111}}
h1{{font-size:1.6em}} h2{{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:1.6em}}
table{{border-collapse:collapse;margin:.5em 0}} td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}}
code{{font-size:.9em;word-break:break-all}} .ok{{color:#176b2c}} .bad{{color:#a30d0d;font-weight:bold}}
@media print{{body{{margin:0}} h2{{break-after:avoid}} table,svg{{break-inside:avoid}}}}
</style></head><body>
<h1>Truthing report: {project} / {name}</h1>
<p>Generated by {generator}. Release purpose: {purpose}; {items} items; manifest SHA-256 <code>{sha}</code>; cut {created}.</p>"#,
            project = esc(&self.project),
            name = esc(&r.name),
            generator = esc(&self.generator),
            purpose = esc(&r.purpose),
            items = int("release.items", r.items),
            sha = esc(&r.manifest_sha256),
            created = utc(r.created_at),
        );
        h.push_str("<h2>Signatures</h2><table><tr><th>printed name</th><th>meaning</th><th>time (UTC)</th><th>status</th></tr>");
        for s in &r.signatures {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
                esc(&s.printed_name),
                s.meaning.as_str(),
                utc(s.signed_at),
                if s.valid { "ok" } else { "bad" },
                if s.valid { "valid" } else { "INVALID" }
            );
        }
        h.push_str("</table>");

        let c = &self.counts;
        let _ = write!(
            h,
            "<h2>Counts</h2><table><tr><th>items</th><td>{}</td></tr><tr><th>accepted from the consensus</th><td>{}</td></tr><tr><th>adjudicated</th><td>{}</td></tr><tr><th>waiting for adjudication</th><td>{}</td></tr><tr><th>without a label</th><td>{}</td></tr><tr><th>gold items (not released)</th><td>{}</td></tr><tr><th>individual reads</th><td>{}</td></tr></table>",
            int("counts.items", c.items),
            int("counts.auto_accepted", c.auto_accepted),
            int("counts.adjudicated", c.adjudicated),
            int("counts.needs_adjudication", c.needs_adjudication),
            int("counts.pending", c.pending),
            int("counts.gold_items", c.gold_items),
            int("counts.reads", c.reads),
        );

        h.push_str("<h2>Readers</h2><table><tr><th>reader</th><th>qualifications</th><th>reads</th><th>agreement with the reference (95% Wilson CI)</th></tr>");
        for (i, reader) in self.readers.iter().enumerate() {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&reader.reader),
                esc(&reader.qualifications.to_string()),
                int(&format!("readers.{i}.reads"), reader.reads),
                est(&format!("readers.{i}.accuracy"), reader.accuracy.as_ref())
            );
        }
        h.push_str("</table>");
        let rows: Vec<(String, Option<Estimate>)> = self
            .readers
            .iter()
            .map(|r| (r.reader.clone(), r.accuracy))
            .collect();
        h.push_str(&interval_chart(
            "Each reader's agreement with the reference label",
            &rows,
        ));
        let _ = write!(
            h,
            "<p>Adjudicators: {}.</p>",
            if self.adjudicators.is_empty() {
                "none".into()
            } else {
                esc(&self.adjudicators.join(", "))
            }
        );

        h.push_str("<h2>Blinding</h2><ul>");
        for b in &self.blinding {
            let _ = write!(h, "<li>{}</li>", esc(b));
        }
        h.push_str("</ul>");
        let run = &self.consensus;
        let text = |v: &Value| match v {
            Value::String(s) => esc(s),
            Value::Null => "-".into(),
            other => esc(&other.to_string()),
        };
        // The parameters without the skill snapshot (the confusion matrices the run started
        // from): it is in the JSON, and too long to read on a page.
        let parameters = match &run["parameters"] {
            Value::Object(map) => Value::Object(
                map.iter()
                    .filter(|(k, _)| k.as_str() != "snapshot")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            other => other.clone(),
        };
        let _ = write!(
            h,
            "<h2>Assignment policy and consensus method</h2><p>Settings: <code>{}</code></p><table><tr><th>consensus run</th><td>{}</td></tr><tr><th>method</th><td>{} (implementation {})</td></tr><tr><th>parameters</th><td><code>{}</code></td></tr><tr><th>seed</th><td>{}</td></tr><tr><th>SHA-256 of the input reads</th><td><code>{}</code></td></tr><tr><th>task</th><td>{}</td></tr></table>",
            esc(&self.assignment_policy.to_string()),
            text(&run["run"]),
            text(&run["method"]),
            text(&run["method_version"]),
            esc(&parameters.to_string()),
            text(&run["seed"]),
            text(&run["input_sha256"]),
            text(&run["task"]),
        );

        let a = &self.agreement;
        let _ = write!(
            h,
            "<h2>Agreement</h2><p>{}</p><table><tr><th>percent agreement</th><td>{}</td></tr><tr><th>Fleiss' kappa</th><td>{}</td></tr><tr><th>Krippendorff's alpha (nominal)</th><td>{}</td></tr></table>",
            esc(&a.interval_method),
            est("agreement.percent", a.percent.as_ref()),
            est("agreement.fleiss_kappa", a.fleiss_kappa.as_ref()),
            est(
                "agreement.krippendorff_alpha",
                a.krippendorff_alpha.as_ref()
            ),
        );
        h.push_str("<table><tr><th>class</th><th>Fleiss' kappa, one vs rest</th></tr>");
        for (i, k) in a.per_class.iter().enumerate() {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td></tr>",
                esc(&k.class),
                est(&format!("agreement.per_class.{i}.kappa"), k.kappa.as_ref())
            );
        }
        h.push_str("</table>");
        let rows: Vec<(String, Option<Estimate>)> = a
            .per_class
            .iter()
            .map(|k| (k.class.clone(), k.kappa.map(|e| clamp_unit(&e))))
            .collect();
        h.push_str(&interval_chart(
            "Agreement per class (kappa, clipped to 0–1)",
            &rows,
        ));

        h.push_str(
            "<h2>Reads against the reference label</h2><table><tr><th>reference \\ read</th>",
        );
        for class in &self.disagreement.classes {
            let _ = write!(h, "<th>{}</th>", esc(class));
        }
        h.push_str("</tr>");
        for (r, row) in self.disagreement.counts.iter().enumerate() {
            let _ = write!(h, "<tr><th>{}</th>", esc(&self.disagreement.classes[r]));
            for (c, count) in row.iter().enumerate() {
                let _ = write!(
                    h,
                    "<td>{}</td>",
                    int(&format!("disagreement.counts.{r}.{c}"), count)
                );
            }
            h.push_str("</tr>");
        }
        h.push_str("</table>");
        h.push_str(&heatmap(&self.disagreement));

        h.push_str("<h2>Protocol versions</h2><table><tr><th>version</th><th>SHA-256</th><th>change note</th></tr>");
        for v in &self.protocol_versions {
            let _ = write!(
                h,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                v.version,
                esc(&v.schema_sha256),
                esc(&v.note)
            );
        }
        h.push_str("</table><h2>Truthing plan and deviations</h2>");
        if self.plans.is_empty() {
            h.push_str("<p class=\"bad\">No truthing plan was locked before the reads.</p>");
        }
        for p in &self.plans {
            let _ = write!(
                h,
                "<p>Plan #{} locked {}: protocol version {}, settings <code>{}</code>; signed by {}.</p>",
                p.plan.id,
                utc(p.plan.created_at),
                p.plan.protocol_version,
                esc(&p.plan.settings.to_string()),
                p.signatures
                    .iter()
                    .map(|s| format!(
                        "{} ({}, {}, {})",
                        esc(&s.printed_name),
                        s.meaning.as_str(),
                        utc(s.signed_at),
                        if s.valid { "valid" } else { "INVALID" }
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
        let _ = write!(
            h,
            "<p>Deviations: {}.</p>",
            int("deviations.length", self.deviations.len())
        );
        if !self.deviations.is_empty() {
            h.push_str("<table><tr><th>event</th><th>time (UTC)</th><th>by</th><th>from</th><th>to</th><th>reason</th></tr>");
            for d in &self.deviations {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
                    d.seq,
                    utc(d.at),
                    esc(d.actor.as_deref().unwrap_or("(system)")),
                    esc(&d.from.as_ref().map_or(String::new(), Value::to_string)),
                    esc(&d.to.as_ref().map_or(String::new(), Value::to_string)),
                    esc(d.reason.as_deref().unwrap_or(""))
                );
            }
            h.push_str("</table>");
        }

        let s = &self.stability;
        let _ = write!(
            h,
            "<h2>Stability under reader resampling</h2><p>Method {}, {} items, {} readers. The full panel's consensus differs from the released label on {} items (adjudications override the consensus). Over {} bootstrap resamples of the reader panel (seed {}), {} of labels change on average (95% interval {} – {}).</p><table><tr><th>reader left out</th><th>reads</th><th>labels that change</th><th>items left unread</th></tr>",
            esc(&s.method),
            int("stability.items", s.items),
            int("stability.readers", s.readers),
            int("stability.differ_from_release", s.differ_from_release),
            int("stability.bootstrap.resamples", s.bootstrap.resamples),
            s.bootstrap.seed,
            fact(
                "stability.bootstrap.mean_changed_share",
                s.bootstrap.mean_changed_share,
                4
            ),
            fact("stability.bootstrap.low", s.bootstrap.low, 4),
            fact("stability.bootstrap.high", s.bootstrap.high, 4),
        );
        for (i, l) in s.leave_one_out.iter().enumerate() {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&l.reader),
                int(&format!("stability.leave_one_out.{i}.reads"), l.reads),
                int(&format!("stability.leave_one_out.{i}.changed"), l.changed),
                int(
                    &format!("stability.leave_one_out.{i}.unlabelled"),
                    l.unlabelled
                )
            );
        }
        h.push_str("</table>");

        let au = &self.audit;
        let _ = write!(
            h,
            "<h2>Record integrity</h2><p class=\"{}\">Audit trail: {} ({} events; signed head {} <code>{}</code>){}.</p>",
            if au.intact { "ok" } else { "bad" },
            if au.intact { "intact" } else { "NOT intact" },
            int("audit.events", au.events),
            au.head_seq.map_or("-".into(), |s| s.to_string()),
            esc(au.head_hash.as_deref().unwrap_or("-")),
            au.first_break
                .as_ref()
                .map_or(String::new(), |b| format!(": {}", esc(b)))
        );
        h.push_str("</body></html>\n");
        h
    }
}

fn clamp_unit(e: &Estimate) -> Estimate {
    Estimate {
        estimate: e.estimate.clamp(0.0, 1.0),
        low: e.low.clamp(0.0, 1.0),
        high: e.high.clamp(0.0, 1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_a_worked_example() {
        // 8 of 10: Wilson 95% interval 0.4902..0.9433 (Newcombe 1998, method 3).
        let e = wilson(8, 10).unwrap();
        assert!((e.low - 0.4902).abs() < 1e-4, "{e:?}");
        assert!((e.high - 0.9433).abs() < 1e-4, "{e:?}");
        assert!(wilson(0, 0).is_none());
    }

    #[test]
    fn utc_formats_civil_time() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_795_857_600_000), "2026-11-28T09:20:00Z");
    }
}
