//! `concord demo`: the whole platform on bundled demo data with simulated annotators.

use super::block_on;
use anyhow::Context;
use concord_core::Core;
use concord_core::auth::HashCost;
use concord_core::policy::{Overlap, Qualification, Settings};
use concord_core::service::UserRequest;
use concord_store::{AuditKey, Role, SqliteStore};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

const PROTOCOL: &str = include_str!("../../../../../demo/protocol.yaml");
const ITEMS: &str = include_str!("../../../../../demo/items.jsonl");
const TRUTH: &str = include_str!("../../../../../demo/truth.csv");
const CLASSES: [&str; 4] = ["normal", "pneumonia", "effusion", "nodule"];

/// Run the platform end to end on the bundled demo data (`demo/`: 400 synthetic chest X-ray
/// studies, its source and licence in `demo/README.md`).
///
/// Creates a project with adaptive overlap (2 to 5 readers, stop at 0.95), gold interleaved at
/// 10% and a qualification gate, and locks its truthing plan; simulated annotators of known
/// skill label through the real assignment engine (`next`, `submit`); then a consensus run, the
/// reference standard's accuracy against the known truth, labels per item, the adjudication
/// queue, five signed adjudications, a signed release (`demo-v1`) and the audit trail's
/// verification.
///
/// Example:
///   concord demo                                  # in a fresh temporary database
///   concord demo --db demo.db --report report.html   # keep the database and the truthing report
#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// Keep the demo database here (default: a temporary file, removed afterwards).
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Seed of the simulated annotators.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Also write the release's truthing report (HTML) here.
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,
}

/// The password of the demo's administrator and adjudicator (printed by the demo).
const DEMO_PASSWORD: &str = "demo";

/// A simulated annotator: accuracy, and the class their errors lean towards.
struct Reader {
    name: &'static str,
    accuracy: f64,
    bias: Option<&'static str>,
    cost: f64,
}

const READERS: [Reader; 8] = [
    Reader {
        name: "thoracic-1",
        accuracy: 0.94,
        bias: None,
        cost: 8.0,
    },
    Reader {
        name: "thoracic-2",
        accuracy: 0.92,
        bias: None,
        cost: 8.0,
    },
    Reader {
        name: "radiologist-1",
        accuracy: 0.85,
        bias: None,
        cost: 3.0,
    },
    Reader {
        name: "radiologist-2",
        accuracy: 0.82,
        bias: None,
        cost: 3.0,
    },
    Reader {
        name: "radiologist-3",
        accuracy: 0.80,
        bias: Some("nodule"),
        cost: 3.0,
    },
    Reader {
        name: "resident-1",
        accuracy: 0.70,
        bias: Some("pneumonia"),
        cost: 1.0,
    },
    Reader {
        name: "resident-2",
        accuracy: 0.66,
        bias: Some("pneumonia"),
        cost: 1.0,
    },
    Reader {
        name: "student-1",
        accuracy: 0.40,
        bias: Some("normal"),
        cost: 1.0,
    },
];

fn read(rng: &mut ChaCha8Rng, reader: &Reader, truth: &str) -> &'static str {
    if rng.random::<f64>() < reader.accuracy {
        return CLASSES
            .iter()
            .copied()
            .find(|c| *c == truth)
            .expect("known class");
    }
    if let Some(bias) = reader.bias.filter(|b| *b != truth)
        && rng.random::<f64>() < 0.6
    {
        return bias;
    }
    let wrong: Vec<&'static str> = CLASSES.iter().copied().filter(|c| *c != truth).collect();
    wrong[rng.random_range(0..wrong.len())]
}

pub(crate) fn run(args: DemoArgs) -> anyhow::Result<()> {
    let temp = tempfile::tempdir().context("cannot create a temporary folder")?;
    let db = args
        .db
        .clone()
        .unwrap_or_else(|| temp.path().join("demo.db"));
    let items_file = temp.path().join("items.jsonl");
    std::fs::write(&items_file, ITEMS)?;
    let truth: HashMap<String, String> = TRUTH
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(','))
        .map(|(i, l)| (i.to_string(), l.to_string()))
        .collect();
    block_on(async move {
        let mut key_path = db.as_os_str().to_owned();
        key_path.push(".audit-key");
        let key_path = std::path::PathBuf::from(key_path);
        let key = if key_path.exists() {
            AuditKey::load(&key_path)?
        } else {
            AuditKey::create_file(&key_path)?
        };
        let verifier = key.verifier();
        let store = SqliteStore::open(&db, key)
            .await
            .with_context(|| format!("{}: cannot open", db.display()))?;
        // Demo accounts have no password; fast hashing keeps the demo quick where one is set.
        let core = Core::new(Arc::new(store)).with_hash_cost(HashCost::Fast);
        let admin = match core.init_admin("admin", Some(DEMO_PASSWORD)).await {
            Ok(admin) => admin,
            Err(_) => anyhow::bail!("{}: already has users; give a new --db path", db.display()),
        };
        let request = |name: &str, roles: Vec<Role>, cost: f64| UserRequest {
            name: name.into(),
            roles,
            password: None,
            qualification: None,
            cost,
        };
        for reader in &READERS {
            // The simulated readers' qualifications follow their names.
            let qualification = match reader.name.split('-').next() {
                Some("thoracic") => "thoracic radiologist, board certified",
                Some("radiologist") => "general radiologist, board certified",
                _ => "radiology resident",
            };
            core.add_user(
                &admin,
                UserRequest {
                    qualification: Some(qualification.into()),
                    ..request(reader.name, vec![Role::Annotator], reader.cost)
                },
            )
            .await?;
        }
        let adjudicator = core
            .add_user(
                &admin,
                UserRequest {
                    password: Some(DEMO_PASSWORD.into()),
                    qualification: Some("thoracic radiologist, 20 years".into()),
                    ..request("senior-1", vec![Role::Adjudicator], 10.0)
                },
            )
            .await?;
        let settings = Settings {
            overlap: Overlap::Adaptive {
                min: 2,
                max: 5,
                threshold: 0.95,
            },
            gold_rate: 0.1,
            method: "ds".into(),
            qualify: Some(Qualification {
                n: 5,
                accuracy: 0.6,
            }),
            refit_every: 100,
            ..Settings::default()
        };
        core.create_project(&admin, "demo", PROTOCOL, settings)
            .await?;
        let n_items = core.import_items(&admin, "demo", &items_file).await?;
        // The reference-standard method is fixed, and signed, before the first read.
        core.lock_plan(&admin, "demo", DEMO_PASSWORD).await?;
        println!(
            "== Project `demo`: {n_items} studies, 8 simulated readers, adaptive overlap 2..5@0.95, 10% gold, gate 5@0.6"
        );

        let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
        let mut users = Vec::new();
        for reader in &READERS {
            users.push((reader, core.user(reader.name).await?));
        }
        let mut submissions = 0;
        let mut refused = Vec::new();
        let mut gated = vec![false; users.len()];
        let mut rounds = 0;
        // Label until nobody gets an item, run the consensus, and label again the items it
        // reopened (better-known skills found them still uncertain); at most four rounds.
        let run = loop {
            let mut active: Vec<bool> = gated.iter().map(|g| !g).collect();
            while active.iter().any(|&a| a) {
                for (i, (reader, user)) in users.iter().enumerate() {
                    if !active[i] {
                        continue;
                    }
                    let task = match core.next("demo", user).await {
                        Ok(Some(task)) => task,
                        Ok(None) => {
                            active[i] = false;
                            continue;
                        }
                        Err(e) => {
                            refused.push(format!("{}: {e}", reader.name));
                            active[i] = false;
                            gated[i] = true;
                            continue;
                        }
                    };
                    let answer = read(&mut rng, reader, &truth[&task.item]);
                    core.submit("demo", user, &task.item, answer, Some(20_000))
                        .await?;
                    // A skill re-fit runs in the background every `refit_every` labels; waiting
                    // for it keeps the run reproducible (the next assignment sees the same
                    // skills whatever the machine's speed).
                    core.wait_for_refits().await;
                    submissions += 1;
                }
            }
            core.wait_for_refits().await;
            let run = core.consensus(&admin, "demo", None).await?;
            rounds += 1;
            if run.open == 0 || rounds >= 4 {
                break run;
            }
        };
        println!(
            "   {submissions} submissions through the assignment engine, {rounds} consensus run(s)"
        );
        for r in &refused {
            println!("   refused: {r}");
        }

        let rows = core.export(&admin, "demo").await?;
        let (mut right, mut decided, mut labels) = (0, 0, 0);
        for row in &rows {
            labels += row.labels;
            if let Some(serde_json::Value::String(label)) = &row.label {
                decided += 1;
                right += usize::from(truth.get(&row.item) == Some(label));
            }
        }
        let status = core.status("demo").await?;
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "\n== Consensus run {} ({}, {} iterations)",
            run.run, run.method, run.iterations
        )?;
        writeln!(
            out,
            "   reference standard: {right}/{decided} labelled studies right ({:.1}%)",
            100.0 * right as f64 / decided.max(1) as f64
        )?;
        writeln!(
            out,
            "   labels per study: {:.2} (fixed overlap at the cap would be 5)",
            labels as f64 / rows.len() as f64
        )?;
        writeln!(
            out,
            "   complete {}, in adjudication {}, open {}",
            run.complete, run.adjudication, run.open
        )?;
        if let Some(a) = status.agreement {
            writeln!(out, "   pairwise agreement so far: {a:.3}")?;
        }
        let queue = core.adjudication_queue(&adjudicator, "demo").await?;
        writeln!(
            out,
            "\n== Adjudication queue ({} studies, least confident first)",
            queue.len()
        )?;
        for entry in queue.iter().take(5) {
            let reads: Vec<String> = entry
                .reads
                .iter()
                .map(|r| {
                    format!(
                        "{}={}",
                        r.annotator,
                        r.value["finding"].as_str().unwrap_or("uncertain")
                    )
                })
                .collect();
            writeln!(
                out,
                "   {} (confidence {:.2}, truth {}): {}",
                entry.item,
                entry.confidence.unwrap_or(0.0),
                truth[&entry.item],
                reads.join(", ")
            )?;
        }
        // The senior reader settles the five least confident studies, each decision signed.
        let adjudicated = queue.len().min(5);
        for entry in queue.iter().take(adjudicated) {
            core.adjudicate(
                &adjudicator,
                "demo",
                &entry.item,
                &truth[&entry.item],
                "senior review of every read (simulated)",
                DEMO_PASSWORD,
            )
            .await?;
        }
        let release = core
            .create_release(
                &admin,
                "demo",
                "demo-v1",
                concord_core::release::Purpose::Reference,
                DEMO_PASSWORD,
            )
            .await?;
        writeln!(
            out,
            "\n== Release `{}`: {} studies, {adjudicated} adjudicated and signed, manifest SHA-256 {}",
            release.name, release.items, release.manifest_sha256
        )?;
        if let Some(path) = &args.report {
            let report = core
                .truthing_report(&admin, "demo", "demo-v1", &verifier)
                .await?;
            let mut file = crate::output::Output::create(Some(path))?;
            file.write_all(report.to_html().as_bytes())?;
            file.commit()?;
            writeln!(out, "   truthing report: {}", path.display())?;
        }
        let audit = core.verify_audit(&admin, &verifier).await?;
        writeln!(
            out,
            "\n== Audit trail: {} events, {} (every annotation, run and adjudication re-derived)",
            audit.events,
            if audit.intact { "intact" } else { "BROKEN" }
        )?;
        writeln!(
            out,
            "   accounts: admin and senior-1, password `{DEMO_PASSWORD}` (simulated readers have none)"
        )?;
        if let Some(path) = &args.db {
            writeln!(
                out,
                "\nThe database is at {}: try `concord status demo --db {}`.",
                path.display(),
                path.display()
            )?;
        }
        Ok(())
    })
}
