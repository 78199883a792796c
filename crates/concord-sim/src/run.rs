//! One simulated project, labelled end to end through [`Core`] on a real SQLite store.

use crate::pool::Pool;
use concord_core::policy::{Overlap, Settings};
use concord_core::service::{Clock, UserRequest};
use concord_core::{Core, CoreError};
use concord_store::{AuditKey, Millis, Role, SqliteStore, StoreError};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// The simulated project's name.
const PROJECT: &str = "simulated";

/// Consensus runs after the labelling stops: a run may reopen items its fit finds uncertain,
/// which are then labelled again; this caps how often.
const MAX_ROUNDS: usize = 8;

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A parameter is out of range (the message names it).
    #[error("{0}")]
    Invalid(String),
    /// The engine refused an operation.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A temporary file could not be written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// The experts.
    pub pool: Pool,
    /// Items to label.
    pub items: usize,
    /// Classes (`c1` … `cK`).
    pub classes: usize,
    /// Class prevalence (sums to 1); `None`: balanced.
    pub prevalence: Option<Vec<f64>>,
    /// Overlap policy of the project.
    pub policy: Overlap,
    /// Truth-inference method (a `concord aggregate` short name): skill re-fits and the final
    /// consensus run.
    pub method: String,
    /// Seed of the truth, the experts' answers, their availability and the method.
    pub seed: u64,
    /// New labels between background skill re-fits.
    pub refit_every: u32,
    /// Automatic probation and suspension rules of the project.
    pub rules: Option<concord_core::policy::QualityRules>,
    /// Gold items (known answers) added to the project, drawn like the others.
    pub gold_items: usize,
    /// Share of each expert's assignments that are gold (the project's gold rate).
    pub gold_rate: f64,
    /// Share of items planted as ambiguous: the item carries no signal, and every expert,
    /// however good, answers any class with equal odds (the edge-case queue should find them;
    /// a split between two classes only is, with five readers, mostly indistinguishable from
    /// an ordinary item that two readers got wrong).
    pub ambiguous: f64,
    /// Keep the project's database here (with its audit key beside it, `PATH.audit-key`)
    /// instead of a temporary file.
    pub db: Option<PathBuf>,
}

impl Simulation {
    /// A simulation with the defaults: balanced classes, seed 0, re-fits every 100 labels.
    pub fn new(pool: Pool, items: usize, classes: usize, policy: Overlap, method: &str) -> Self {
        Self {
            pool,
            items,
            classes,
            prevalence: None,
            policy,
            method: method.into(),
            seed: 0,
            refit_every: 100,
            ambiguous: 0.0,
            gold_items: 0,
            gold_rate: 0.0,
            rules: None,
            db: None,
        }
    }

    fn check(&self) -> Result<(), SimError> {
        let bad = |m: String| Err(SimError::Invalid(m));
        if self.items == 0 {
            return bad("--items must be at least 1".into());
        }
        if self.classes < 2 {
            return bad(format!(
                "--classes must be at least 2, got {}",
                self.classes
            ));
        }
        if let Some(p) = &self.prevalence {
            if p.len() != self.classes {
                return bad(format!(
                    "--prevalence has {} values for {} classes",
                    p.len(),
                    self.classes
                ));
            }
            if p.iter().any(|x| !(x.is_finite() && *x >= 0.0)) {
                return bad("--prevalence values must be non-negative".into());
            }
            let sum: f64 = p.iter().sum();
            if (sum - 1.0).abs() > 1e-6 {
                return bad(format!("--prevalence sums to {sum}, not 1"));
            }
        }
        if !(0.0..=1.0).contains(&self.gold_rate) {
            return bad(format!(
                "--gold-rate must be in [0, 1], got {}",
                self.gold_rate
            ));
        }
        if self.gold_rate > 0.0 && self.gold_items == 0 {
            return bad("--gold-rate needs --gold-items".into());
        }
        if !(0.0..=1.0).contains(&self.ambiguous) {
            return bad(format!(
                "--ambiguous must be in [0, 1], got {}",
                self.ambiguous
            ));
        }
        if self.refit_every == 0 {
            return bad("--refit-every must be at least 1".into());
        }
        self.pool
            .check("the pool", self.classes)
            .map_err(|e| SimError::Invalid(e.to_string()))?;
        Ok(())
    }
}

/// What a simulation measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimReport {
    /// The overlap policy.
    pub policy: String,
    /// The truth-inference method.
    pub method: String,
    /// Items labelled.
    pub items: usize,
    /// Share of items whose consensus label (before any adjudication) is the true class.
    pub accuracy: f64,
    /// Labels per item.
    pub labels_per_item: f64,
    /// Cost per item (each label at its expert's cost).
    pub cost_per_item: f64,
    /// Cost per item as `concord export` reports it (regular items' reads only).
    pub exported_cost_per_item: f64,
    /// Share of items the engine sent to adjudication.
    pub adjudication_rate: f64,
    /// Share of the items outside adjudication whose label is right.
    pub accuracy_auto_accepted: Option<f64>,
    /// Labels in all.
    pub labels: usize,
    /// Cost in all.
    pub cost: f64,
    /// Labels given by each expert, in pool order.
    pub labels_by_annotator: Vec<(String, usize)>,
    /// Consensus runs made after the labelling stopped (a run may reopen uncertain items).
    pub consensus_runs: usize,
    /// The seed.
    pub seed: u64,
    /// The items planted as ambiguous.
    pub planted: Vec<String>,
}

/// A clock that moves one second per reading, from 2026-01-01T00:00:00Z: the same run gives the
/// same times, and leases never expire between a lease and its submission.
#[derive(Debug)]
struct SimClock(AtomicI64);

impl Clock for SimClock {
    fn now(&self) -> Millis {
        self.0.fetch_add(1000, Ordering::Relaxed)
    }
}

/// A 64-bit mix of the seed and two indices (SplitMix64's finaliser), so each expert's answer
/// to each item comes from its own stream whatever the order the engine hands items out in.
fn stream(seed: u64, a: u64, b: u64) -> ChaCha8Rng {
    let mut z =
        seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ChaCha8Rng::seed_from_u64(z ^ (z >> 31))
}

/// Draws an index from a discrete distribution.
fn draw(rng: &mut ChaCha8Rng, p: &[f64]) -> usize {
    let u: f64 = rng.random();
    let mut acc = 0.0;
    for (i, x) in p.iter().enumerate() {
        acc += x;
        if u < acc {
            return i;
        }
    }
    p.len() - 1
}

/// Runs a simulation: a fresh project with the policy and method, `items` items with classes
/// drawn from the prevalence, the pool's experts taking turns at `next` and `submit` (each
/// answering from their confusion matrix), background skill re-fits awaited so the run is
/// deterministic, and consensus runs until no item is left open. `progress` is called with the
/// number of labels so far.
///
/// # Errors
/// [`SimError::Invalid`] naming a parameter out of range; engine and store failures.
pub async fn simulate(
    sim: &Simulation,
    mut progress: impl FnMut(usize),
) -> Result<SimReport, SimError> {
    sim.check()?;
    let k = sim.classes;
    let dir = tempfile::tempdir()?;
    let (path, key) = match &sim.db {
        Some(path) => {
            let mut key_path = path.as_os_str().to_owned();
            key_path.push(".audit-key");
            (
                path.clone(),
                AuditKey::create_file(std::path::Path::new(&key_path))?,
            )
        }
        None => (dir.path().join("sim.db"), AuditKey::from_seed([7; 32])),
    };
    let store = SqliteStore::open(&path, key).await?;
    let core = Core::new(Arc::new(store))
        .with_clock(Arc::new(SimClock(AtomicI64::new(1_767_225_600_000))))
        .with_hash_cost(concord_core::auth::HashCost::Fast);
    let admin = core.init_admin("admin", None).await?;

    let class_ids: Vec<String> = (1..=k).map(|c| format!("c{c}")).collect();
    let protocol = format!(
        "name: simulated\ntasks:\n  - id: finding\n    type: single\n    classes: [{}]\n",
        class_ids
            .iter()
            .map(|c| format!("{{id: {c}}}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let settings = Settings {
        overlap: sim.policy,
        method: sim.method.clone(),
        refit_every: sim.refit_every,
        seed: sim.seed,
        gold_rate: sim.gold_rate,
        rules: sim.rules,
        ..Settings::default()
    };
    core.create_project(&admin, PROJECT, &protocol, settings)
        .await?;

    // The truth, and the items.
    let prevalence = sim
        .prevalence
        .clone()
        .unwrap_or_else(|| vec![1.0 / k as f64; k]);
    let mut rng = ChaCha8Rng::seed_from_u64(sim.seed);
    let truth: Vec<usize> = (0..sim.items)
        .map(|_| draw(&mut rng, &prevalence))
        .collect();
    let ambiguous: Vec<bool> = (0..sim.items)
        .map(|_| rng.random::<f64>() < sim.ambiguous)
        .collect();
    let gold_truth: Vec<usize> = (0..sim.gold_items)
        .map(|_| draw(&mut rng, &prevalence))
        .collect();
    let items_path = dir.path().join("items.jsonl");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&items_path)?);
        for i in 0..sim.items {
            writeln!(
                f,
                "{{\"id\": \"item-{i:06}\", \"text\": \"simulated item {i}\"}}"
            )?;
        }
        for (g, &class) in gold_truth.iter().enumerate() {
            writeln!(
                f,
                "{{\"id\": \"gold-{g:06}\", \"text\": \"simulated gold item {g}\", \
                 \"gold\": \"{}\"}}",
                class_ids[class]
            )?;
        }
        f.flush()?;
    }
    core.import_items(&admin, PROJECT, &items_path).await?;

    let mut experts = Vec::new();
    for a in &sim.pool.annotators {
        let user = core
            .add_user(
                &admin,
                UserRequest {
                    name: a.name.clone(),
                    roles: vec![Role::Annotator],
                    password: None,
                    qualification: None,
                    cost: a.cost,
                },
            )
            .await?;
        experts.push((
            user,
            a.matrix(k),
            a.cost,
            a.availability,
            a.memorised_gold,
            a.drift_after.zip(a.drifted_matrix(k)),
        ));
    }

    let mut given = vec![0usize; experts.len()];
    let mut labels = 0usize;
    let mut cost = 0.0;
    let mut runs = 0;
    let mut turn: u64 = 0;
    loop {
        // Labelling: rounds of turns until nobody, asked, gets an item.
        loop {
            turn += 1;
            let mut submitted = 0;
            // Experts come to work in a new order every round: in a fixed order, each item
            // would get the same run of neighbours in the pool as its panel.
            let mut order: Vec<usize> = (0..experts.len()).collect();
            order.shuffle(&mut stream(sim.seed ^ 0x5A5A, turn, 0));
            for everyone in [false, true] {
                for &a in &order {
                    let (user, matrix, price, availability, memorised, drift) = &experts[a];
                    let matrix = match drift {
                        Some((after, drifted)) if given[a] >= *after => drifted,
                        _ => matrix,
                    };
                    if !everyone
                        && stream(sim.seed ^ 0xA5A5, turn, a as u64).random::<f64>()
                            >= *availability
                    {
                        continue;
                    }
                    let task = match core.next(PROJECT, user).await {
                        Ok(Some(task)) => task,
                        // A suspended expert gets no more work.
                        Ok(None) | Err(CoreError::Forbidden(_)) => continue,
                        Err(e) => return Err(e.into()),
                    };
                    let number = |prefix: &str| -> Option<usize> {
                        task.item.strip_prefix(prefix).and_then(|n| n.parse().ok())
                    };
                    let answer = match (number("item-"), number("gold-")) {
                        (Some(item), _) => {
                            let mut answers = stream(sim.seed, a as u64, item as u64);
                            if ambiguous[item] {
                                answers.random_range(0..k)
                            } else {
                                draw(&mut answers, &matrix[truth[item]])
                            }
                        }
                        (None, Some(g)) if *memorised => gold_truth[g],
                        (None, Some(g)) => {
                            // Gold streams are apart from the regular items' streams.
                            let mut answers = stream(!sim.seed, a as u64, g as u64);
                            draw(&mut answers, &matrix[gold_truth[g]])
                        }
                        _ => unreachable!("the simulator's own item ids: {}", task.item),
                    };
                    core.submit(PROJECT, user, &task.item, &class_ids[answer], None)
                        .await?;
                    // Re-fits run in the background; waiting for each makes the run the same
                    // every time.
                    core.wait_for_refits().await;
                    given[a] += 1;
                    labels += 1;
                    cost += price;
                    submitted += 1;
                    progress(labels);
                }
                // Someone at work got an item: the next round. Otherwise ask everyone once
                // before concluding that the work is done.
                if submitted > 0 {
                    break;
                }
            }
            if submitted == 0 {
                break;
            }
        }
        let run = core.consensus(&admin, PROJECT, None).await?;
        runs += 1;
        if run.open == 0 || runs >= MAX_ROUNDS {
            break;
        }
    }

    let rows = core.export(&admin, PROJECT).await?;
    // The engine's own account of what the reads cost (gold reads are not in the export).
    let exported_cost: f64 = rows.iter().map(|r| r.cost).sum();
    let mut right = 0usize;
    let (mut auto, mut auto_right, mut adjudication) = (0usize, 0usize, 0usize);
    for row in &rows {
        let Some(i) = row
            .item
            .strip_prefix("item-")
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        let ok = row.label.as_ref().and_then(|v| v.as_str()) == Some(class_ids[truth[i]].as_str());
        right += usize::from(ok);
        if row.status == "needs_adjudication" {
            adjudication += 1;
        } else {
            auto += 1;
            auto_right += usize::from(ok);
        }
    }
    let n = sim.items as f64;
    Ok(SimReport {
        policy: sim.policy.to_string(),
        method: sim.method.clone(),
        items: sim.items,
        accuracy: right as f64 / n,
        labels_per_item: labels as f64 / n,
        cost_per_item: cost / n,
        adjudication_rate: adjudication as f64 / n,
        accuracy_auto_accepted: (auto > 0).then(|| auto_right as f64 / auto as f64),
        labels,
        cost,
        exported_cost_per_item: exported_cost / n,
        labels_by_annotator: sim
            .pool
            .annotators
            .iter()
            .zip(&given)
            .map(|(a, n)| (a.name.clone(), *n))
            .collect(),
        consensus_runs: runs,
        seed: sim.seed,
        planted: (0..sim.items)
            .filter(|&i| ambiguous[i])
            .map(|i| format!("item-{i:06}"))
            .collect(),
    })
}
