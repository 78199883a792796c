//! Submissions per second through `Core` on SQLite, and the time of a full consensus run.
//!
//! Run with `cargo run --release -p concord-core --example throughput -- --items 100000` (the
//! suite that calls it: `bench/platform/run`). Prints one JSON object.
//!
//! `--paired ROUNDS` (in a build with the `benchmark-without-audit-trail` feature) measures what
//! the audit trail costs: each round labels a fresh project twice, once with the trail and once
//! without, in alternating order, so both halves of a pair see the same machine; it prints each
//! round and the median of the rounds' ratios.
//!
//! The project uses adaptive overlap (every submission updates the item's posterior with the
//! current skill snapshot inside its transaction; skills are re-fitted in the background every
//! `--refit-every` labels). Simulated annotators of known accuracy work concurrently, each
//! worker cycling `next` → `submit` for its share of the annotators until nothing is left.

use concord_core::Core;
use concord_core::auth::HashCost;
use concord_core::policy::{Overlap, Settings};
use concord_core::service::UserRequest;
use concord_store::{Role, SqliteStore};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

const CLASSES: [&str; 4] = ["normal", "pneumonia", "effusion", "nodule"];
const PROTOCOL: &str = "name: bench\ntasks:\n  - id: finding\n    type: single\n    classes: [{id: normal}, {id: pneumonia}, {id: effusion}, {id: nodule}]\n";

struct Args {
    items: usize,
    annotators: usize,
    workers: usize,
    min: u32,
    max: u32,
    threshold: f64,
    refit_every: u32,
    db: Option<String>,
    consensus_only: bool,
    /// Rounds of labelling with and without the audit trail.
    paired: Option<usize>,
    /// Overrides `--min/--max/--threshold` (e.g. `cost:20@0.95`; under the cost policy the
    /// annotators cost 1, 3 or 8 per label, 70/20/10 %).
    overlap: Option<Overlap>,
}

fn parse() -> Args {
    let mut args = Args {
        items: 100_000,
        annotators: 200,
        workers: 4,
        min: 10,
        max: 12,
        threshold: 0.999,
        refit_every: 50_000,
        db: None,
        consensus_only: false,
        paired: None,
        overlap: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--items" => args.items = value().parse().unwrap(),
            "--annotators" => args.annotators = value().parse().unwrap(),
            "--workers" => args.workers = value().parse().unwrap(),
            "--min" => args.min = value().parse().unwrap(),
            "--max" => args.max = value().parse().unwrap(),
            "--threshold" => args.threshold = value().parse().unwrap(),
            "--refit-every" => args.refit_every = value().parse().unwrap(),
            "--db" => args.db = Some(value()),
            "--overlap" => args.overlap = Some(value().parse().unwrap()),
            // Times one consensus run over the project an earlier run left in `--db`.
            "--consensus-only" => args.consensus_only = true,
            "--paired" => args.paired = Some(value().parse().unwrap()),
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

/// A fixed key: the benchmark measures the cost of signing, not key management.
fn key() -> concord_store::AuditKey {
    concord_store::AuditKey::from_seed([42; 32])
}

fn main() {
    let args = parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(args));
}

async fn run(args: Args) {
    let dir = tempfile::tempdir().unwrap();
    let path = args
        .db
        .clone()
        .map_or_else(|| dir.path().join("bench.db"), Into::into);
    if let Some(rounds) = args.paired {
        paired(&args, rounds, dir.path()).await;
        return;
    }
    if args.consensus_only {
        consensus_only(&path).await;
        return;
    }
    let report = label(&args, &path, dir.path()).await;
    println!("{report}");
}

/// Rounds of labelling with and without the audit trail, in alternating order.
#[cfg(feature = "benchmark-without-audit-trail")]
async fn paired(args: &Args, rounds: usize, dir: &std::path::Path) {
    use concord_store::audit::benchmark::set_recording;
    let mut ratios = Vec::new();
    let (mut with_total, mut without_total) = ((0u64, 0.0), (0u64, 0.0));
    for round in 0..rounds {
        let mut rates = [0.0; 2];
        let order = if round % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for recording in order {
            set_recording(recording);
            let path = dir.join(format!("round{round}-{recording}.db"));
            let report = label(args, &path, dir).await;
            let n = report["submissions"].as_u64().unwrap();
            let seconds = report["labeling_seconds"].as_f64().unwrap();
            let total = if recording {
                &mut with_total
            } else {
                &mut without_total
            };
            total.0 += n;
            total.1 += seconds;
            rates[usize::from(!recording)] = n as f64 / seconds;
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
        let ratio = rates[0] / rates[1];
        ratios.push(ratio);
        eprintln!(
            "round {round}: {:.0}/s with the audit trail, {:.0}/s without: {:+.1} %",
            rates[0],
            rates[1],
            (ratio - 1.0) * 100.0
        );
    }
    set_recording(true);
    ratios.sort_by(f64::total_cmp);
    let median = if rounds % 2 == 1 {
        ratios[rounds / 2]
    } else {
        (ratios[rounds / 2 - 1] + ratios[rounds / 2]) / 2.0
    };
    let with = with_total.0 as f64 / with_total.1;
    let without = without_total.0 as f64 / without_total.1;
    println!(
        "{}",
        serde_json::json!({
            "items": args.items,
            "rounds": rounds,
            "submissions_per_second_with_audit": with,
            "submissions_per_second_without_audit": without,
            "pooled_ratio": with / without,
            "median_ratio": median,
            "ratios": ratios,
        })
    );
}

#[cfg(not(feature = "benchmark-without-audit-trail"))]
async fn paired(_: &Args, _: usize, _: &std::path::Path) {
    eprintln!("--paired needs a build with the benchmark-without-audit-trail feature");
    std::process::exit(2);
}

/// Times one consensus run over the project an earlier run left in `path`, and the
/// verification of its audit trail.
async fn consensus_only(path: &std::path::Path) {
    let store = SqliteStore::open(path, key()).await.unwrap();
    let core = Core::new(Arc::new(store)).with_hash_cost(HashCost::Fast);
    let admin = core.user("admin").await.unwrap();
    // The first run reads every annotation from the database; the second, like every run
    // in a long-lived process, reads only what was added since.
    let t = Instant::now();
    let run = core.consensus(&admin, "bench", None).await.unwrap();
    let fresh = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let again = core.consensus(&admin, "bench", None).await.unwrap();
    let consensus_seconds = t.elapsed().as_secs_f64();
    assert_eq!(run.input_sha256, again.input_sha256);
    // Verifying the whole audit trail (MACs included) and re-deriving every record.
    let t = Instant::now();
    let report = core.verify_audit(&admin, &key().verifier()).await.unwrap();
    let verify_seconds = t.elapsed().as_secs_f64();
    assert!(report.intact, "{:?}", report.first_break);
    println!(
        "{}",
        serde_json::json!({
            "annotations": run.annotations,
            "items": run.items,
            "consensus_seconds_fresh_process": fresh,
            "consensus_seconds": consensus_seconds,
            "consensus_iterations": run.iterations,
            "audit_events": report.events,
            "audit_verify_seconds": verify_seconds,
        })
    );
}

/// Labels a fresh project in `path` (temporary files in `dir`); returns the report.
async fn label(args: &Args, path: &std::path::Path, dir: &std::path::Path) -> serde_json::Value {
    let store = SqliteStore::open(path, key()).await.unwrap();
    let core = Core::new(Arc::new(store)).with_hash_cost(HashCost::Fast);
    let admin = core.init_admin("admin", None).await.unwrap();
    let overlap = args.overlap.unwrap_or(Overlap::Adaptive {
        min: args.min,
        max: args.max,
        threshold: args.threshold,
    });
    let priced = matches!(overlap, Overlap::Cost { .. });
    let settings = Settings {
        overlap,
        refit_every: args.refit_every,
        lease_seconds: 3600,
        ..Settings::default()
    };
    core.create_project(&admin, "bench", PROTOCOL, settings)
        .await
        .unwrap();

    // Items and their truth.
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let mut truth = HashMap::new();
    let items_path = dir.join("items.jsonl");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&items_path).unwrap());
        for i in 0..args.items {
            let id = format!("i{i:06}");
            let class = CLASSES[rng.random_range(0..4)];
            writeln!(f, "{{\"id\": \"{id}\", \"text\": \"study {i}\"}}").unwrap();
            truth.insert(id, class);
        }
    }
    let t = Instant::now();
    core.import_items(&admin, "bench", &items_path)
        .await
        .unwrap();
    let import_seconds = t.elapsed().as_secs_f64();

    let mut annotators = Vec::new();
    for a in 0..args.annotators {
        let cost = match (priced, a % 10) {
            (false, _) | (true, 0..=6) => 1.0,
            (true, 7 | 8) => 3.0,
            _ => 8.0,
        };
        let user = core
            .add_user(
                &admin,
                UserRequest {
                    name: format!("a{a:04}"),
                    roles: vec![Role::Annotator],
                    password: None,
                    qualification: None,
                    cost,
                },
            )
            .await
            .unwrap();
        let accuracy = 0.55 + 0.4 * rng.random::<f64>();
        annotators.push((user, accuracy));
    }

    let truth = Arc::new(truth);
    let submitted = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut handles = Vec::new();
    for w in 0..args.workers {
        let mine: Vec<_> = annotators
            .iter()
            .skip(w)
            .step_by(args.workers)
            .cloned()
            .collect();
        let core = core.clone();
        let truth = truth.clone();
        let submitted = submitted.clone();
        handles.push(tokio::spawn(async move {
            let mut rng = ChaCha8Rng::seed_from_u64(w as u64);
            // Until a whole pass over this worker's annotators finds no work: under the cost
            // policy an annotator with nothing now may be the best reader later.
            let mut progress = true;
            while progress {
                progress = false;
                for (user, accuracy) in &mine {
                    let Some(task) = core.next("bench", user).await.unwrap() else {
                        continue;
                    };
                    progress = true;
                    let right = truth[&task.item];
                    let value = if rng.random::<f64>() < *accuracy {
                        right
                    } else {
                        CLASSES[rng.random_range(0..4)]
                    };
                    core.submit("bench", user, &task.item, value, None)
                        .await
                        .unwrap();
                    submitted.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let labeling_seconds = start.elapsed().as_secs_f64();
    core.wait_for_refits().await;
    let n = submitted.load(Ordering::Relaxed);

    let t = Instant::now();
    let run = core.consensus(&admin, "bench", None).await.unwrap();
    let consensus_seconds = t.elapsed().as_secs_f64();
    let rows = core.export(&admin, "bench").await.unwrap();
    let right = rows
        .iter()
        .filter(|r| r.label.as_ref().and_then(|l| l.as_str()) == Some(truth[&r.item]))
        .count();
    serde_json::json!({
            "items": args.items,
            "annotators": args.annotators,
            "workers": args.workers,
            "overlap": overlap.to_string(),
            "submissions": n,
            "labeling_seconds": labeling_seconds,
            "submissions_per_second": n as f64 / labeling_seconds,
            "import_seconds": import_seconds,
            "consensus_seconds": consensus_seconds,
            "consensus_iterations": run.iterations,
            "accuracy": right as f64 / rows.len() as f64,
    })
}
