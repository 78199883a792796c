//! Load on the HTTP API over loopback: concurrent annotators each cycling `POST next` →
//! `POST …/annotations` with their own API token, against `concord serve`'s router on SQLite.
//! Then a consensus run (the project's method, Dawid–Skene) and the manager dashboard's calls
//! (`status`, `annotators`), timed on the labelled project.
//!
//! Run with `bash bench/web/run` (release build). Prints one JSON object: submissions per
//! second and p50/p99 latency of each call, measured at the client.
//!
//!   load [--items N] [--annotators N] [--overlap SPEC] [--db PATH]
//!   load --dashboard-only --db PATH
//!
//! With `--db` the database (and its audit key, `PATH.audit-key`) is kept; `--dashboard-only`
//! then times the dashboard on it again in a fresh process, without labelling: the first call
//! of each endpoint (which reads the annotations into memory) is reported apart as `first_ms`.
//!
//! Server and clients share the machine (and its cores), as a load generator on loopback does.

use concord_core::Core;
use concord_core::auth::HashCost;
use concord_core::policy::{Overlap, Settings};
use concord_core::service::UserRequest;
use concord_server::ServerConfig;
use concord_store::{AuditKey, Role, SqliteStore};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLASSES: [&str; 4] = ["normal", "pneumonia", "effusion", "nodule"];
const PROTOCOL: &str = "name: load\ntasks:\n  - id: finding\n    type: single\n    classes: [{id: normal}, {id: pneumonia}, {id: effusion}, {id: nodule}]\n";

struct Args {
    items: usize,
    annotators: usize,
    overlap: Overlap,
    db: Option<String>,
    dashboard_only: bool,
}

fn parse() -> Args {
    let mut args = Args {
        items: 20_000,
        annotators: 50,
        overlap: "fixed:3".parse().expect("overlap"),
        db: None,
        dashboard_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--items" => args.items = value().parse().expect("--items N"),
            "--annotators" => args.annotators = value().parse().expect("--annotators N"),
            "--overlap" => args.overlap = value().parse().expect("--overlap SPEC"),
            "--db" => args.db = Some(value()),
            "--dashboard-only" => args.dashboard_only = true,
            other => panic!("unknown flag {other}"),
        }
    }
    assert!(
        !args.dashboard_only || args.db.is_some(),
        "--dashboard-only needs --db PATH"
    );
    args
}

fn quantile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn summary(mut times: Vec<Duration>) -> serde_json::Value {
    times.sort_unstable();
    serde_json::json!({
        "n": times.len(),
        "p50_ms": quantile(&times, 0.5),
        "p99_ms": quantile(&times, 0.99),
        "max_ms": quantile(&times, 1.0),
    })
}

/// `name=value` of a login answer's session cookie.
fn session_cookie(login: &reqwest::Response) -> String {
    login.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("cookie")
        .to_string()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args = parse();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = args
        .db
        .clone()
        .map_or_else(|| dir.path().join("load.db"), std::path::PathBuf::from);
    let key_path = std::path::PathBuf::from(format!("{}.audit-key", db.display()));
    let key = if args.dashboard_only {
        AuditKey::load(&key_path).expect("audit key")
    } else {
        AuditKey::create_file(&key_path).expect("audit key")
    };
    let store = SqliteStore::open(&db, key).await.expect("store");
    let core = Core::new(Arc::new(store)).with_hash_cost(HashCost::Fast);
    if args.dashboard_only {
        let base = start_server(core).await;
        let client = reqwest::Client::new();
        let (annotations, dashboard) = time_dashboard(&client, &base, true, false).await;
        println!(
            "{}",
            serde_json::json!({
                "dashboard_annotations": annotations,
                "dashboard": dashboard,
            })
        );
        return;
    }
    let admin = core.init_admin("admin", Some("load")).await.expect("admin");
    let settings = Settings {
        overlap: args.overlap,
        gold_rate: 0.0,
        refit_every: 1_000,
        ..Settings::default()
    };
    core.create_project(&admin, "load", PROTOCOL, settings)
        .await
        .expect("project");
    let items = dir.path().join("items.jsonl");
    let mut file = std::fs::File::create(&items).expect("items file");
    for i in 0..args.items {
        writeln!(file, "{{\"id\": \"L-{i:07}\", \"text\": \"study {i}\"}}").expect("write");
    }
    drop(file);
    core.import_items(&admin, "load", &items)
        .await
        .expect("import");
    let mut names = Vec::new();
    for a in 0..args.annotators {
        let name = format!("reader-{a:03}");
        core.add_user(
            &admin,
            UserRequest {
                name: name.clone(),
                roles: vec![Role::Annotator],
                password: Some("load".into()),
                qualification: None,
                cost: 1.0,
            },
        )
        .await
        .expect("user");
        core.add_member(&admin, "load", &name)
            .await
            .expect("member");
        names.push(name);
    }
    let base = start_server(core.clone()).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.annotators)
        .build()
        .expect("client");
    // Each annotator signs in once and makes an API token, as a labelling script would.
    let mut tokens = Vec::new();
    for name in &names {
        let login = client
            .post(format!("{base}/api/login"))
            .json(&serde_json::json!({"username": name, "password": "load"}))
            .send()
            .await
            .expect("login");
        let cookie = session_cookie(&login);
        let csrf = login.json::<serde_json::Value>().await.expect("login body")["csrf_token"]
            .as_str()
            .expect("csrf")
            .to_string();
        let token: serde_json::Value = client
            .post(format!("{base}/api/tokens"))
            .header("cookie", cookie)
            .header("x-csrf-token", csrf)
            .json(&serde_json::json!({"name": "load"}))
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("token body");
        tokens.push(token["token"].as_str().expect("token").to_string());
    }

    let start = Instant::now();
    let mut workers = Vec::new();
    for (i, token) in tokens.into_iter().enumerate() {
        let client = client.clone();
        let base = base.clone();
        workers.push(tokio::spawn(async move {
            let mut rng = ChaCha8Rng::seed_from_u64(i as u64);
            let (mut next_times, mut submit_times) = (Vec::new(), Vec::new());
            loop {
                let t = Instant::now();
                let next = client
                    .post(format!("{base}/api/projects/load/next"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .expect("next");
                let status = next.status();
                let body = next.bytes().await.expect("next body");
                next_times.push(t.elapsed());
                if status == 204 {
                    break;
                }
                assert!(status.is_success(), "next: {status}");
                let task: serde_json::Value = serde_json::from_slice(&body).expect("task");
                let item = task["item"].as_str().expect("item");
                let class = CLASSES[rng.random_range(0..CLASSES.len())];
                let t = Instant::now();
                let submitted = client
                    .post(format!("{base}/api/projects/load/items/{item}/annotations"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({"value": class, "time_spent_ms": 1000}))
                    .send()
                    .await
                    .expect("submit");
                let status = submitted.status();
                let _ = submitted.bytes().await;
                submit_times.push(t.elapsed());
                assert!(status.is_success(), "submit: {status}");
            }
            (next_times, submit_times)
        }));
    }
    let (mut next_times, mut submit_times) = (Vec::new(), Vec::new());
    for w in workers {
        let (n, s) = w.await.expect("worker");
        next_times.extend(n);
        submit_times.extend(s);
    }
    let seconds = start.elapsed().as_secs_f64();
    let submissions = submit_times.len();

    let (_, dashboard) = time_dashboard(&client, &base, false, true).await;
    let target = 1_500.0;
    let rate = submissions as f64 / seconds;
    println!(
        "{}",
        serde_json::json!({
            "items": args.items,
            "annotators": args.annotators,
            "overlap": format!("{:?}", args.overlap),
            "submissions": submissions,
            "seconds": seconds,
            "submissions_per_second": rate,
            "ratio_to_target_1500": rate / target,
            "next": summary(next_times),
            "submit": summary(submit_times),
            "dashboard_annotations": submissions,
            "dashboard": dashboard,
        })
    );
}

/// Serves `core` on a loopback port; the base URL.
async fn start_server(core: Core) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let router = concord_server::router(core, ServerConfig::default());
    tokio::spawn(concord_server::serve(
        listener,
        router,
        std::future::pending(),
    ));
    base
}

/// The dashboard's calls, as the manager (admin) makes them, five times each (after one
/// first call kept out of the quantiles when `first` is set: a fresh process reads the
/// annotations then), after a consensus run when `consensus` is set (its time is
/// `consensus_ms`). The number of annotations `status` counts, and the timings.
async fn time_dashboard(
    client: &reqwest::Client,
    base: &str,
    first: bool,
    consensus: bool,
) -> (u64, serde_json::Map<String, serde_json::Value>) {
    let admin_login = client
        .post(format!("{base}/api/login"))
        .json(&serde_json::json!({"username": "admin", "password": "load"}))
        .send()
        .await
        .expect("admin login");
    let cookie = session_cookie(&admin_login);
    let csrf = admin_login
        .json::<serde_json::Value>()
        .await
        .expect("login body")["csrf_token"]
        .as_str()
        .expect("csrf")
        .to_string();
    let mut dashboard = serde_json::Map::new();
    if consensus {
        let t = Instant::now();
        let response = client
            .post(format!("{base}/api/projects/load/consensus"))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .expect("consensus");
        assert!(response.status().is_success(), "consensus");
        let _ = response.bytes().await;
        dashboard.insert(
            "consensus_ms".into(),
            serde_json::json!(t.elapsed().as_secs_f64() * 1000.0),
        );
    }
    let mut annotations = 0;
    for endpoint in ["status", "annotators"] {
        let call = || async {
            let t = Instant::now();
            let response = client
                .get(format!("{base}/api/projects/load/{endpoint}"))
                .header("cookie", &cookie)
                .send()
                .await
                .expect("dashboard");
            assert!(response.status().is_success(), "{endpoint}");
            let body = response.bytes().await.expect("dashboard body");
            (t.elapsed(), body)
        };
        let first_ms = if first {
            Some(call().await.0.as_secs_f64() * 1000.0)
        } else {
            None
        };
        let mut times = Vec::new();
        for _ in 0..5 {
            let (elapsed, body) = call().await;
            if endpoint == "status" {
                let status: serde_json::Value = serde_json::from_slice(&body).expect("status");
                annotations = status["annotations"].as_u64().expect("annotations");
            }
            times.push(elapsed);
        }
        let mut timing = summary(times);
        if let Some(ms) = first_ms {
            timing["first_ms"] = serde_json::json!(ms);
        }
        dashboard.insert(endpoint.to_string(), timing);
    }
    (annotations, dashboard)
}
