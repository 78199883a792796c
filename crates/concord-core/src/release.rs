//! Frozen, signed releases of a project's reference standard: cutting one, verifying it,
//! exporting it (byte-identical however often and whatever happens afterwards), the test-set
//! firewall (every export of a test release is recorded with its reason), and the stability of
//! its labels when the reader panel changes (leave one reader out; bootstrap resamples of the
//! panel, as FDA's CADe guidance suggests for reader variability, after Miller et al. 2004).

use crate::items::sha256_hex;
use crate::service::{Core, CoreError, CoreResult, require};
use concord_consensus::truth::{Method, MethodParams};
use concord_consensus::{AnnotationsBuilder, DuplicatePolicy};
use concord_store::{
    AuditFilter, Meaning, NewEvent, NewRelease, Release, Role, SignAs, SignatureRecord, User,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// What a release is for. Test releases are sequestered: each export needs a reason and is
/// counted against the items it contains (CADe 510(k) guidance §V.B, test-data reuse).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A reference standard with no declared use.
    Reference,
    /// Training data.
    Train,
    /// Tuning (validation) data.
    Tune,
    /// Test data: every export is logged with who, when and why.
    Test,
}

impl Purpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Reference => "reference",
            Purpose::Train => "train",
            Purpose::Tune => "tune",
            Purpose::Test => "test",
        }
    }
}

impl std::str::FromStr for Purpose {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [Self::Reference, Self::Train, Self::Tune, Self::Test]
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown purpose `{s}` (reference, train, tune, test)"))
    }
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One canonical JSON object per item: label, confidence, status, provenance, every read.
    Jsonl,
    /// `item,label,confidence,status,labels,run,adjudication,content_sha256`.
    Csv,
    /// Every individual read, `item,annotator,label` (the input `concord aggregate` takes, so
    /// the consensus can be recomputed).
    Reads,
}

impl std::str::FromStr for ExportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "jsonl" => Ok(Self::Jsonl),
            "csv" => Ok(Self::Csv),
            "reads" => Ok(Self::Reads),
            other => Err(format!("unknown format `{other}` (jsonl, csv, reads)")),
        }
    }
}

/// A release with its signatures.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseInfo {
    /// Name.
    pub name: String,
    /// Purpose.
    pub purpose: String,
    /// Items in it.
    pub items: usize,
    /// Hex SHA-256 of the manifest.
    pub manifest_sha256: String,
    /// When it was cut (UTC milliseconds).
    pub created_at: i64,
    /// Its signatures, each with whether it still binds.
    pub signatures: Vec<SignatureRecord>,
}

/// The outcome of [`Core::verify_release`].
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseCheck {
    /// Whether nothing is wrong.
    pub intact: bool,
    /// The release.
    pub release: ReleaseInfo,
    /// What is wrong, in words.
    pub problems: Vec<String>,
}

/// How often each item of the project's test releases has been exported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Usage {
    /// The item.
    pub item: String,
    /// Exports of test releases that contained it.
    pub uses: i64,
    /// Those releases.
    pub releases: Vec<String>,
}

/// Reader-variability analysis of a release ([`Core::release_stability`]).
#[derive(Debug, Clone, Serialize)]
pub struct Stability {
    /// Method re-run.
    pub method: String,
    /// Items with reads.
    pub items: usize,
    /// Readers in the panel.
    pub readers: usize,
    /// Items whose full-panel consensus differs from the release's label (adjudicated items
    /// included: the adjudicator overrode the consensus).
    pub differ_from_release: usize,
    /// Leaving each reader out: labels that change against the full panel.
    pub leave_one_out: Vec<LeaveOneOut>,
    /// Bootstrap resamples of the panel (readers drawn with replacement).
    pub bootstrap: Bootstrap,
    /// The items whose label changes most often under resampling, most unstable first (at
    /// most 20).
    pub unstable_items: Vec<(String, f64)>,
}

/// One reader left out.
#[derive(Debug, Clone, Serialize)]
pub struct LeaveOneOut {
    /// The reader's pseudonym.
    pub reader: String,
    /// Items the reader read.
    pub reads: usize,
    /// Labels that change.
    pub changed: usize,
    /// Items left with no read.
    pub unlabelled: usize,
}

/// The bootstrap summary.
#[derive(Debug, Clone, Serialize)]
pub struct Bootstrap {
    /// Resamples.
    pub resamples: usize,
    /// Seed of the resampling.
    pub seed: u64,
    /// Mean share of labelled items whose label changes.
    pub mean_changed_share: f64,
    /// 2.5th percentile of that share.
    pub low: f64,
    /// 97.5th percentile.
    pub high: f64,
}

/// A reader's pseudonym in releases and reports: stable within the database, not derived from
/// the person's name.
pub fn pseudonym(user_id: i64) -> String {
    format!("reader-{user_id}")
}

impl Core {
    /// Freezes the project's current reference standard into a signed release: a manifest of
    /// every regular item with its label, confidence, status, label count, consensus run,
    /// adjudication (with its signature), content hash, and every read; plus the protocol,
    /// the run's method, parameters and seed, and the readers' qualifications. The manager
    /// re-enters their password; the signature means "approved".
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless manager, or for a wrong password;
    /// [`CoreError::Conflict`] when the name is taken; [`CoreError::Invalid`] for an empty
    /// name.
    pub async fn create_release(
        &self,
        actor: &User,
        project: &str,
        name: &str,
        purpose: Purpose,
        password: &str,
    ) -> CoreResult<ReleaseInfo> {
        require(actor, Role::Manager, "cut releases")?;
        if name.trim().is_empty() || name.chars().any(char::is_whitespace) {
            return Err(CoreError::Invalid(format!(
                "`{name}` is not a valid release name (no spaces)"
            )));
        }
        self.reauthenticate(actor, password, &format!("release `{name}`"))
            .await?;
        let manifest = self.manifest(actor, project, name, purpose).await?;
        let project_id = self.store().project(project).await?.id;
        let release = self
            .store()
            .create_release(NewRelease {
                project_id,
                name: name.into(),
                purpose: purpose.as_str().into(),
                manifest: serde_json::to_string(&manifest).expect("JSON serialises"),
                created_by: actor.id,
                signature: SignAs {
                    printed_name: actor.display_name.clone(),
                    meaning: Meaning::Approved,
                },
                now: self.now(),
            })
            .await?;
        self.release_info(&release).await
    }

    async fn manifest(
        &self,
        actor: &User,
        project: &str,
        name: &str,
        purpose: Purpose,
    ) -> CoreResult<Value> {
        let store = self.store();
        let p = store.project(project).await?;
        let protocol = store.protocol(p.id, None).await?;
        let rows = self.export(actor, project).await?;
        let items: HashMap<String, (i64, String)> = store
            .items(p.id)
            .await?
            .into_iter()
            .map(|i| (i.external_id, (i.id, i.content_sha256)))
            .collect();
        let mut reads: HashMap<i64, Vec<Value>> = HashMap::new();
        let mut readers: BTreeMap<i64, ()> = BTreeMap::new();
        for a in store.annotations(p.id).await? {
            readers.insert(a.annotator_id, ());
            reads.entry(a.item_id).or_default().push(json!({
                "annotation": a.id,
                "reader": pseudonym(a.annotator_id),
                "value": a.value,
                "protocol_version": a.protocol_version,
                "created_at": a.created_at,
                "time_spent_ms": a.time_spent_ms,
            }));
        }
        let mut adjudications = HashMap::new();
        for a in store.adjudications(p.id).await? {
            let signatures: Vec<Value> = store
                .signatures("adjudication", a.id)
                .await?
                .into_iter()
                .map(|s| {
                    json!({
                        "signature": s.id,
                        "printed_name": s.printed_name,
                        "meaning": s.meaning.as_str(),
                        "signed_at": s.signed_at,
                        "record_sha256": s.record_sha256,
                    })
                })
                .collect();
            adjudications.insert(
                a.item_id,
                json!({
                    "adjudication": a.id,
                    "adjudicator": pseudonym(a.adjudicator_id),
                    "value": a.value,
                    "rationale": a.rationale,
                    "considered": a.considered,
                    "consensus_run": a.consensus_run_id,
                    "created_at": a.created_at,
                    "signatures": signatures,
                }),
            );
        }
        let users: HashMap<i64, User> = store
            .users()
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect();
        let readers: Vec<Value> = readers
            .keys()
            .map(|id| {
                json!({
                    "reader": pseudonym(*id),
                    "qualifications": users.get(id).map(|u| u.qualifications.clone()),
                })
            })
            .collect();
        let run = store.latest_run(p.id).await?.map(|r| {
            json!({
                "run": r.id,
                "method": r.method,
                "method_version": r.method_version,
                "parameters": r.parameters,
                "seed": r.seed,
                "input_sha256": r.input_sha256,
                "task": r.task_id,
                "protocol_version": r.protocol_version,
            })
        });
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let (id, content_sha256) = items
                .get(&row.item)
                .cloned()
                .ok_or_else(|| CoreError::NotFound(format!("item `{}`", row.item)))?;
            out.push(json!({
                "item": row.item,
                "content_sha256": content_sha256,
                "label": row.label,
                "confidence": row.confidence,
                "status": row.status,
                "labels": row.labels,
                "run": row.run,
                "adjudication": adjudications.remove(&id),
                "reads": reads.remove(&id).unwrap_or_default(),
            }));
        }
        Ok(json!({
            "format": "concord-release-v1",
            "project": p.name,
            "release": name,
            "purpose": purpose.as_str(),
            "created_at": self.now(),
            "created_by": actor.name,
            "protocol": {
                "version": protocol.version,
                "schema_sha256": protocol.schema_sha256,
                "primary_task": run.as_ref().and_then(|r| r.get("task").cloned()),
            },
            "consensus_run": run,
            "readers": readers,
            "items": out,
        }))
    }

    async fn find_release(&self, project: &str, name: &str) -> CoreResult<Release> {
        let p = self.store().project(project).await?;
        self.store()
            .releases(p.id)
            .await?
            .into_iter()
            .find(|r| r.name == name)
            .ok_or_else(|| CoreError::NotFound(format!("release `{name}` of project `{project}`")))
    }

    async fn release_info(&self, release: &Release) -> CoreResult<ReleaseInfo> {
        let manifest = parse_manifest(release)?;
        Ok(ReleaseInfo {
            name: release.name.clone(),
            purpose: release.purpose.clone(),
            items: manifest["items"].as_array().map_or(0, Vec::len),
            manifest_sha256: release.manifest_sha256.clone(),
            created_at: release.created_at,
            signatures: self.store().signatures("release", release.id).await?,
        })
    }

    /// The project's releases, oldest first.
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless manager or auditor.
    pub async fn releases(&self, actor: &User, project: &str) -> CoreResult<Vec<ReleaseInfo>> {
        require_reader(actor, "list releases")?;
        let p = self.store().project(project).await?;
        let mut out = Vec::new();
        for r in self.store().releases(p.id).await? {
            out.push(self.release_info(&r).await?);
        }
        Ok(out)
    }

    /// Checks a release: the manifest still hashes to what was stored, an approval signature
    /// still binds, every item's content hash and every read still match the database.
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless manager or auditor; [`CoreError::NotFound`].
    pub async fn verify_release(
        &self,
        actor: &User,
        project: &str,
        name: &str,
    ) -> CoreResult<ReleaseCheck> {
        require_reader(actor, "verify releases")?;
        let release = self.find_release(project, name).await?;
        let info = self.release_info(&release).await?;
        let mut problems = Vec::new();
        let actual = sha256_hex(release.manifest.as_bytes());
        if actual != release.manifest_sha256 {
            problems.push(format!(
                "the manifest hashes to {actual}, not to the stored {}: it was changed",
                release.manifest_sha256
            ));
        }
        if !info
            .signatures
            .iter()
            .any(|s| s.valid && s.meaning == Meaning::Approved)
        {
            problems.push("no valid approval signature binds this release".into());
        }
        let manifest = parse_manifest(&release)?;
        let items: HashMap<String, String> = self
            .store()
            .items(release.project_id)
            .await?
            .into_iter()
            .map(|i| (i.external_id, i.content_sha256))
            .collect();
        let annotations: HashMap<i64, Value> = self
            .store()
            .annotations_after(release.project_id, 0)
            .await?
            .into_iter()
            .map(|a| (a.id, a.value))
            .collect();
        for item in manifest["items"].as_array().into_iter().flatten() {
            let id = item["item"].as_str().unwrap_or_default();
            match items.get(id) {
                None => problems.push(format!("item `{id}` is no longer in the project")),
                Some(sha) if Some(sha.as_str()) != item["content_sha256"].as_str() => problems
                    .push(format!(
                        "item `{id}`'s content changed since the release (SHA-256 {sha})"
                    )),
                Some(_) => {}
            }
            for read in item["reads"].as_array().into_iter().flatten() {
                let aid = read["annotation"].as_i64().unwrap_or_default();
                if annotations.get(&aid) != Some(&read["value"]) {
                    problems.push(format!(
                        "read #{aid} of item `{id}` no longer matches the stored annotation"
                    ));
                }
            }
        }
        Ok(ReleaseCheck {
            intact: problems.is_empty(),
            release: info,
            problems,
        })
    }

    /// The bytes of a release export, built from the stored manifest alone (so the same bytes
    /// every time). Every export is recorded in the audit trail with its reason; a test
    /// release needs one.
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless manager or auditor; [`CoreError::Invalid`] for a test
    /// release exported without a reason.
    pub async fn export_release(
        &self,
        actor: &User,
        project: &str,
        name: &str,
        format: ExportFormat,
        reason: Option<&str>,
    ) -> CoreResult<Vec<u8>> {
        require_reader(actor, "export releases")?;
        let release = self.find_release(project, name).await?;
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        if release.purpose == Purpose::Test.as_str() && reason.is_none() {
            return Err(CoreError::Invalid(format!(
                "`{name}` is a test release: say why you export it (--reason); every access is \
                 recorded and counted per item"
            )));
        }
        // A manifest edited behind the application's back is not exported (DM-07).
        let actual = sha256_hex(release.manifest.as_bytes());
        if actual != release.manifest_sha256 {
            return Err(CoreError::Conflict(format!(
                "release `{name}` does not verify: its manifest hashes to {actual}, not to the                  stored {} (run `concord release verify`)",
                release.manifest_sha256
            )));
        }
        let manifest = parse_manifest(&release)?;
        let bytes = render(&manifest, format);
        self.store()
            .record_event(NewEvent {
                actor: Some(actor.id),
                action: "release.export".into(),
                entity: format!("release:{}", release.id),
                before: None,
                after: Some(json!({
                    "format": format_name(format),
                    "sha256": sha256_hex(&bytes),
                })),
                reason: reason.map(String::from),
                at: self.now(),
            })
            .await?;
        Ok(bytes)
    }

    /// How often each item of the project's test releases has been exported, most used first.
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless manager or auditor.
    pub async fn test_usage(&self, actor: &User, project: &str) -> CoreResult<Vec<Usage>> {
        require_reader(actor, "read test-set usage")?;
        let p = self.store().project(project).await?;
        let mut usage: BTreeMap<String, Usage> = BTreeMap::new();
        for release in self.store().releases(p.id).await? {
            if release.purpose != Purpose::Test.as_str() {
                continue;
            }
            let exports = self
                .store()
                .audit_events(AuditFilter {
                    entity: Some(format!("release:{}", release.id)),
                    ..AuditFilter::default()
                })
                .await?
                .into_iter()
                .filter(|e| e.action == "release.export")
                .count() as i64;
            let manifest = parse_manifest(&release)?;
            for item in manifest["items"].as_array().into_iter().flatten() {
                let id = item["item"].as_str().unwrap_or_default().to_string();
                let entry = usage.entry(id.clone()).or_insert_with(|| Usage {
                    item: id,
                    uses: 0,
                    releases: Vec::new(),
                });
                entry.uses += exports;
                entry.releases.push(release.name.clone());
            }
        }
        let mut out: Vec<Usage> = usage.into_values().collect();
        out.sort_by(|a, b| b.uses.cmp(&a.uses).then_with(|| a.item.cmp(&b.item)));
        Ok(out)
    }

    /// Reader variability: re-runs the release's consensus method on its reads leaving each
    /// reader out, and on `resamples` bootstrap resamples of the reader panel (drawn with
    /// replacement, seeded), and counts the labels that change against the full panel.
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless manager or auditor; [`CoreError::Invalid`] when the
    /// release has no categorical reads.
    pub async fn release_stability(
        &self,
        actor: &User,
        project: &str,
        name: &str,
        resamples: usize,
        seed: u64,
    ) -> CoreResult<Stability> {
        require_reader(actor, "analyse releases")?;
        let release = self.find_release(project, name).await?;
        let manifest = parse_manifest(&release)?;
        let run = &manifest["consensus_run"];
        let method: Method = run["method"]
            .as_str()
            .unwrap_or(Method::DEFAULT.name())
            .parse()
            .map_err(|e: concord_consensus::truth::UnknownMethod| {
                CoreError::Invalid(e.to_string())
            })?;
        let params = MethodParams {
            seed: run["seed"].as_u64().unwrap_or(0),
            ..MethodParams::default()
        };
        let task = manifest["protocol"]["primary_task"]
            .as_str()
            .map(String::from);
        // (item, reader, class) for every categorical read.
        let mut reads: Vec<(String, String, String)> = Vec::new();
        let mut release_labels: HashMap<String, String> = HashMap::new();
        for item in manifest["items"].as_array().into_iter().flatten() {
            let id = item["item"].as_str().unwrap_or_default().to_string();
            if let Some(label) = item["label"].as_str() {
                release_labels.insert(id.clone(), label.to_string());
            }
            for read in item["reads"].as_array().into_iter().flatten() {
                let value = match &task {
                    Some(t) => &read["value"][t],
                    None => &read["value"],
                };
                if let (Some(class), Some(reader)) = (value.as_str(), read["reader"].as_str()) {
                    reads.push((id.clone(), reader.to_string(), class.to_string()));
                }
            }
        }
        if reads.is_empty() {
            return Err(CoreError::Invalid(format!(
                "release `{name}` has no categorical reads to resample"
            )));
        }
        let mut panel: Vec<String> = reads.iter().map(|r| r.1.clone()).collect();
        panel.sort();
        panel.dedup();
        let full = fit_labels(
            method,
            &params,
            reads.iter().map(|r| (&r.0, r.1.clone(), &r.2)),
        )?;
        let differ_from_release = full
            .iter()
            .filter(|(item, label)| release_labels.get(*item).is_some_and(|r| r != *label))
            .count();
        let changed = |labels: &HashMap<String, String>| {
            full.iter()
                .filter(|(item, label)| labels.get(*item).is_some_and(|l| l != *label))
                .count()
        };
        let leave_one_out = panel
            .par_iter()
            .map(|reader| -> CoreResult<LeaveOneOut> {
                let kept = reads.iter().filter(|r| &r.1 != reader);
                let labels = fit_labels(method, &params, kept.map(|r| (&r.0, r.1.clone(), &r.2)))?;
                Ok(LeaveOneOut {
                    reader: reader.clone(),
                    reads: reads.iter().filter(|r| &r.1 == reader).count(),
                    changed: changed(&labels),
                    unlabelled: full.len() - labels.len(),
                })
            })
            .collect::<CoreResult<Vec<_>>>()?;
        // Each resample draws the panel with replacement; a reader drawn twice counts as two.
        let draws: Vec<Vec<usize>> = {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..resamples)
                .map(|_| {
                    (0..panel.len())
                        .map(|_| rng.random_range(0..panel.len()))
                        .collect()
                })
                .collect()
        };
        let outcomes = draws
            .par_iter()
            .map(|draw| -> CoreResult<HashMap<String, String>> {
                let mut copies: HashMap<&str, usize> = HashMap::new();
                for &i in draw {
                    *copies.entry(panel[i].as_str()).or_default() += 1;
                }
                let resampled = reads.iter().flat_map(|r| {
                    let n = copies.get(r.1.as_str()).copied().unwrap_or(0);
                    (0..n).map(move |c| (&r.0, format!("{}#{c}", r.1), &r.2))
                });
                fit_labels(method, &params, resampled)
            })
            .collect::<CoreResult<Vec<_>>>()?;
        let mut shares: Vec<f64> = Vec::with_capacity(outcomes.len());
        let mut flips: HashMap<&str, usize> = HashMap::new();
        for labels in &outcomes {
            let mut n = 0;
            for (item, label) in labels {
                if full.get(item).is_some_and(|f| f != label) {
                    n += 1;
                    *flips.entry(item.as_str()).or_default() += 1;
                }
            }
            shares.push(n as f64 / labels.len().max(1) as f64);
        }
        let mean = shares.iter().sum::<f64>() / shares.len().max(1) as f64;
        shares.sort_by(f64::total_cmp);
        let quantile = |q: f64| {
            if shares.is_empty() {
                0.0
            } else {
                shares[((shares.len() - 1) as f64 * q).round() as usize]
            }
        };
        let mut unstable: Vec<(String, f64)> = flips
            .into_iter()
            .map(|(item, n)| (item.to_string(), n as f64 / resamples.max(1) as f64))
            .collect();
        unstable.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        unstable.truncate(20);
        Ok(Stability {
            method: method.name().into(),
            items: full.len(),
            readers: panel.len(),
            differ_from_release,
            leave_one_out,
            bootstrap: Bootstrap {
                resamples,
                seed,
                mean_changed_share: mean,
                low: quantile(0.025),
                high: quantile(0.975),
            },
            unstable_items: unstable,
        })
    }
}

/// Fits `method` to the reads and returns each item's label.
fn fit_labels<'a>(
    method: Method,
    params: &MethodParams,
    reads: impl Iterator<Item = (&'a String, String, &'a String)>,
) -> CoreResult<HashMap<String, String>> {
    let mut builder = AnnotationsBuilder::new();
    for (item, reader, class) in reads {
        builder.push(item, &reader, class);
    }
    if builder.is_empty() {
        return Ok(HashMap::new());
    }
    let data = builder
        .build(DuplicatePolicy::Last)
        .map_err(|e| CoreError::Invalid(e.to_string()))?;
    // Methods that need gold fall back to the default: a release's reads carry none.
    let method = if method.needs_gold() {
        Method::DEFAULT
    } else {
        method
    };
    let fit = method
        .build(params)
        .fit(&data)
        .map_err(|e| CoreError::Invalid(format!("{}: {e}", method.name())))?;
    Ok(data
        .items()
        .iter()
        .zip(&fit.labels)
        .map(|(item, &label)| (item.to_string(), data.classes()[label as usize].to_string()))
        .collect())
}

fn require_reader(actor: &User, what: &str) -> CoreResult<()> {
    if actor.has(Role::Manager) || actor.has(Role::Auditor) {
        Ok(())
    } else {
        Err(CoreError::Forbidden(format!(
            "{} may not {what} (needs the manager or auditor role)",
            actor.name
        )))
    }
}

fn parse_manifest(release: &Release) -> CoreResult<Value> {
    serde_json::from_str(&release.manifest).map_err(|e| {
        CoreError::Store(concord_store::StoreError::Integrity(format!(
            "release `{}`: manifest: {e}",
            release.name
        )))
    })
}

fn format_name(format: ExportFormat) -> &'static str {
    match format {
        ExportFormat::Jsonl => "jsonl",
        ExportFormat::Csv => "csv",
        ExportFormat::Reads => "reads",
    }
}

/// A CSV field, quoted when it must be (RFC 4180).
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// A JSON value as a CSV cell: strings bare, `null` empty, anything else as canonical JSON.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => field(s),
        other => field(&other.to_string()),
    }
}

/// Renders a manifest; a pure function of it.
fn render(manifest: &Value, format: ExportFormat) -> Vec<u8> {
    let items = manifest["items"].as_array().cloned().unwrap_or_default();
    let task = manifest["protocol"]["primary_task"].as_str();
    let mut out = String::new();
    match format {
        ExportFormat::Jsonl => {
            for item in &items {
                out.push_str(&item.to_string());
                out.push('\n');
            }
        }
        ExportFormat::Csv => {
            out.push_str("item,label,confidence,status,labels,run,adjudication,content_sha256\n");
            for item in &items {
                let row = [
                    cell(&item["item"]),
                    cell(&item["label"]),
                    cell(&item["confidence"]),
                    cell(&item["status"]),
                    cell(&item["labels"]),
                    cell(&item["run"]),
                    cell(&item["adjudication"]["adjudication"]),
                    cell(&item["content_sha256"]),
                ];
                out.push_str(&row.join(","));
                out.push('\n');
            }
        }
        ExportFormat::Reads => {
            out.push_str("item,annotator,label\n");
            for item in &items {
                for read in item["reads"].as_array().into_iter().flatten() {
                    let value = match task {
                        Some(t) => &read["value"][t],
                        None => &read["value"],
                    };
                    out.push_str(&format!(
                        "{},{},{}\n",
                        cell(&item["item"]),
                        cell(&read["reader"]),
                        cell(value)
                    ));
                }
            }
        }
    }
    out.into_bytes()
}
