//! `concord simulate`, `concord import predictions` and `concord edge-cases` through the binary.

use crate::util::{concord, write};

const POOL: &str = "[[annotator]]\nname = \"r1\"\naccuracy = 0.9\n\n[[annotator]]\nname = \"r2\"\n\
    accuracy = 0.85\n\n[[annotator]]\nname = \"r3\"\naccuracy = 0.8\ncost = 3\n\n[[annotator]]\n\
    name = \"r4\"\naccuracy = 0.95\ncost = 8\n";

#[test]
fn simulate_reports_json_and_sweeps_to_csv_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "pool.toml", POOL);
    let args = [
        "simulate",
        "--pool",
        "pool.toml",
        "--items",
        "60",
        "--classes",
        "3",
        "--policy",
        "fixed:3",
        "--method",
        "mv",
        "--seed",
        "4",
        "--json",
    ];
    let run = concord(dir.path(), &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    for key in [
        "accuracy",
        "labels_per_item",
        "cost_per_item",
        "adjudication_rate",
    ] {
        assert!(report[key].is_number(), "{key} missing: {report}");
    }
    assert_eq!(report["labels_per_item"], 3.0);
    let cost = report["cost_per_item"].as_f64().unwrap();
    assert!(cost > 3.0 && cost < 24.0, "costs 1, 1, 3, 8: {cost}");
    // The same seed gives the same report, byte for byte.
    assert_eq!(concord(dir.path(), &args).stdout, run.stdout);

    let run = concord(
        dir.path(),
        &[
            "simulate",
            "--pool",
            "pool.toml",
            "--items",
            "60",
            "--classes",
            "3",
            "--policy",
            "fixed:3",
            "--sweep",
            "fixed:2/mv,fixed:3/mv,adaptive:2..4@0.9/ds",
            "--plot",
            "curve.svg",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", run.stdout);
    assert!(lines[0].starts_with("policy,method,accuracy,labels_per_item,cost_per_item"));
    assert!(lines[3].starts_with("adaptive:2..4@0.9,ds,"));
    let svg = std::fs::read_to_string(dir.path().join("curve.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.matches("<circle").count() == 3);

    // Bad pools and parameters are named.
    write(
        dir.path(),
        "bad.toml",
        "[[annotator]]\nname = \"x\"\naccuracy = 2\n",
    );
    let run = concord(
        dir.path(),
        &[
            "simulate",
            "--pool",
            "bad.toml",
            "--items",
            "5",
            "--classes",
            "2",
            "--policy",
            "fixed:1",
        ],
    );
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("bad.toml")
            && run.stderr.contains("`x`")
            && run.stderr.contains("accuracy"),
        "{}",
        run.stderr
    );
    let run = concord(
        dir.path(),
        &[
            "simulate",
            "--pool",
            "pool.toml",
            "--items",
            "5",
            "--classes",
            "3",
            "--policy",
            "many",
        ],
    );
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("fixed:K"), "{}", run.stderr);
}

#[test]
fn predictions_raise_model_conflicts_in_the_edge_case_queue() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "pool.toml", POOL);
    let run = concord(
        dir.path(),
        &[
            "simulate",
            "--pool",
            "pool.toml",
            "--items",
            "40",
            "--classes",
            "3",
            "--policy",
            "fixed:3",
            "--method",
            "ds",
            "--seed",
            "2",
            "--keep-db",
            "p.db",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let db = ["--db", "p.db"];
    let edge = |extra: &[&str]| {
        let mut args = vec!["edge-cases", "simulated"];
        args.extend(db);
        args.extend(extra);
        concord(dir.path(), &args)
    };
    let before = edge(&["--json"]);
    assert_eq!(before.code, 0, "{}", before.stderr);
    let before: Vec<serde_json::Value> = serde_json::from_str(&before.stdout).unwrap();
    assert_eq!(before.len(), 40);
    assert!(before.iter().all(|c| c["model"].is_null()));

    // A model that contradicts the consensus, confidently, on the five calmest items.
    let calm: Vec<(String, String)> = before
        .iter()
        .rev()
        .take(5)
        .map(|c| {
            (
                c["item"].as_str().unwrap().to_string(),
                c["label"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut csv = String::from("item,label,confidence\n");
    for (item, label) in &calm {
        let other = if label == "c1" { "c2" } else { "c1" };
        csv.push_str(&format!("{item},{other},0.99\n"));
    }
    write(dir.path(), "pred.csv", &csv);
    let run = concord(
        dir.path(),
        &[
            "import",
            "predictions",
            "simulated",
            "pred.csv",
            "--model",
            "net-1",
            "--db",
            "p.db",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = edge(&["--json", "--top", "10"]);
    let after: Vec<serde_json::Value> = serde_json::from_str(&after.stdout).unwrap();
    assert_eq!(after.len(), 10);
    for (item, _) in &calm {
        let case = after
            .iter()
            .find(|c| c["item"] == item.as_str())
            .unwrap_or_else(|| panic!("{item} should now be in the top 10: {after:?}"));
        assert_eq!(case["model"], 0.99);
    }
    // The queue as a CSV set.
    let run = edge(&["--top", "3", "-o", "set.csv"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let set = std::fs::read_to_string(dir.path().join("set.csv")).unwrap();
    assert_eq!(set.lines().count(), 4);
    assert!(set.starts_with("rank,item,score,disagreement,entropy,model,rarity,label"));

    // Bad prediction files are refused with file and line, and nothing is stored.
    write(
        dir.path(),
        "bad.csv",
        "item,label\nitem-000001,c1\nnope,c1\n",
    );
    let run = concord(
        dir.path(),
        &[
            "import",
            "predictions",
            "simulated",
            "bad.csv",
            "--model",
            "net-2",
            "--db",
            "p.db",
        ],
    );
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("bad.csv:3") && run.stderr.contains("nope"),
        "{}",
        run.stderr
    );
    write(dir.path(), "bad.csv", "item,label\nitem-000001,c9\n");
    let run = concord(
        dir.path(),
        &[
            "import",
            "predictions",
            "simulated",
            "bad.csv",
            "--model",
            "net-2",
            "--db",
            "p.db",
        ],
    );
    assert!(
        run.stderr.contains("bad.csv:2") && run.stderr.contains("c9"),
        "{}",
        run.stderr
    );
    let run = concord(
        dir.path(),
        &[
            "import",
            "predictions",
            "simulated",
            "pred.csv",
            "--model",
            "net-1",
            "--db",
            "p.db",
        ],
    );
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("already has a prediction"),
        "{}",
        run.stderr
    );

    // The import is in the audit trail and verified; an edited prediction is caught.
    let run = concord(dir.path(), &["audit", "verify", "--db", "p.db", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["records_checked"]["predictions_import"], 1);
    let conn = rusqlite::Connection::open(dir.path().join("p.db")).unwrap();
    conn.execute_batch(
        "DROP TRIGGER predictions_no_update; UPDATE predictions SET confidence = 0.5 WHERE id = 1;",
    )
    .unwrap();
    drop(conn);
    let run = concord(dir.path(), &["audit", "verify", "--db", "p.db"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("predictions #1..#5"), "{}", run.stdout);
}

#[test]
fn annotators_shows_gold_and_consensus_accuracy_and_flags_a_leak() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "pool.toml",
        format!("{POOL}\n[[annotator]]\nname = \"leaky\"\naccuracy = 0.6\nmemorised_gold = true\n"),
    );
    let run = concord(
        dir.path(),
        &[
            "simulate",
            "--pool",
            "pool.toml",
            "--items",
            "300",
            "--classes",
            "3",
            "--policy",
            "fixed:3",
            "--gold-items",
            "40",
            "--gold-rate",
            "0.2",
            "--seed",
            "1",
            "--keep-db",
            "q.db",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = concord(dir.path(), &["annotators", "simulated", "--db", "q.db"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let flagged: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.ends_with("LEAK?"))
        .collect();
    assert_eq!(flagged.len(), 1, "{}", run.stdout);
    assert!(flagged[0].starts_with("leaky "), "{}", run.stdout);

    let run = concord(
        dir.path(),
        &[
            "annotators",
            "simulated",
            "--db",
            "q.db",
            "--json",
            "--window",
            "50",
        ],
    );
    let report: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report.len(), 5);
    let r1 = report.iter().find(|r| r["annotator"] == "r1").unwrap();
    assert!(r1["gold"]["low"].as_f64().unwrap() < r1["gold"]["mean"].as_f64().unwrap());
    assert_eq!(r1["per_class"].as_array().unwrap().len(), 3);
    assert!(r1["trend"].as_array().unwrap().len() >= 4, "{r1}");

    // An annotator sees their own line only.
    let run = concord(
        dir.path(),
        &["annotators", "simulated", "--db", "q.db", "--as", "r2"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 2, "{}", run.stdout);
    assert!(run.stdout.lines().nth(1).unwrap().starts_with("r2 "));
}

#[test]
fn quality_rules_suspend_a_failing_expert_and_a_manager_reinstates() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "pool.toml",
        format!(
            "{POOL}\n[[annotator]]\nname = \"tired\"\naccuracy = 0.9\ndrift_after = 30\naccuracy_after = 0.1\n"
        ),
    );
    let run = concord(
        dir.path(),
        &[
            "simulate",
            "--pool",
            "pool.toml",
            "--items",
            "300",
            "--classes",
            "3",
            "--policy",
            "fixed:3",
            "--gold-items",
            "120",
            "--gold-rate",
            "0.25",
            "--seed",
            "3",
            "--suspend-below",
            "0.5",
            "--keep-db",
            "r.db",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = concord(
        dir.path(),
        &[
            "audit",
            "log",
            "--db",
            "r.db",
            "--entity",
            "enrolment:1.6",
            "--json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let events: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    let suspended = events
        .iter()
        .find(|e| e["after"]["phase"] == "suspended")
        .unwrap_or_else(|| panic!("no suspension: {events:?}"));
    assert!(
        suspended["reason"]
            .as_str()
            .unwrap()
            .contains("suspension bound 0.5")
    );

    let run = concord(
        dir.path(),
        &["reinstate", "simulated", "tired", "--db", "r.db"],
    );
    assert_ne!(run.code, 0, "a reason is required");
    let run = concord(
        dir.path(),
        &[
            "reinstate",
            "simulated",
            "tired",
            "--reason",
            "retrained",
            "--db",
            "r.db",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = concord(
        dir.path(),
        &[
            "audit",
            "log",
            "--db",
            "r.db",
            "--entity",
            "enrolment:1.6",
            "--json",
        ],
    );
    let events: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    let last = events.last().unwrap();
    assert_eq!(last["after"]["phase"], "qualified");
    assert_eq!(last["reason"], "retrained");
    let run = concord(
        dir.path(),
        &[
            "reinstate",
            "simulated",
            "r1",
            "--reason",
            "x",
            "--db",
            "r.db",
        ],
    );
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("neither on probation nor suspended"),
        "{}",
        run.stderr
    );
}

#[test]
fn feedback_names_confusions_and_ambiguity_names_class_pairs() {
    let dir = tempfile::tempdir().unwrap();
    // r3 mixes up c1 and c2 (true c1 → says c2 half the time); everyone else is symmetric.
    write(
        dir.path(),
        "pool.toml",
        "[[annotator]]\nname = \"r1\"\naccuracy = 0.9\n\n[[annotator]]\nname = \"r2\"\n\
         accuracy = 0.9\n\n[[annotator]]\nname = \"r3\"\n\
         confusion = [[0.5, 0.5, 0.0], [0.05, 0.9, 0.05], [0.05, 0.05, 0.9]]\n\n\
         [[annotator]]\nname = \"r4\"\naccuracy = 0.85\n",
    );
    let run = concord(
        dir.path(),
        &[
            "simulate",
            "--pool",
            "pool.toml",
            "--items",
            "240",
            "--classes",
            "3",
            "--policy",
            "fixed:4",
            "--seed",
            "2",
            "--keep-db",
            "f.db",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = concord(
        dir.path(),
        &[
            "feedback",
            "simulated",
            "r3",
            "--db",
            "f.db",
            "--json",
            "--html",
            "r3.html",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let f: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let top = &f["confusions"][0];
    assert_eq!(
        (top["reference"].as_str(), top["given"].as_str()),
        (Some("c1"), Some("c2")),
        "{f}"
    );
    assert!(top["rate"].as_f64().unwrap() > 0.3, "{f}");
    assert_eq!(top["examples"].as_array().unwrap().len(), 3);
    let html = std::fs::read_to_string(dir.path().join("r3.html")).unwrap();
    assert!(html.contains("<h1>Feedback for r3</h1>") && html.contains("c1"));
    // Another annotator may not read r3's feedback; r3 may read their own.
    let run = concord(
        dir.path(),
        &["feedback", "simulated", "r3", "--db", "f.db", "--as", "r1"],
    );
    assert_ne!(run.code, 0);
    let run = concord(
        dir.path(),
        &["feedback", "simulated", "r3", "--db", "f.db", "--as", "r3"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);

    let run = concord(
        dir.path(),
        &[
            "ambiguity",
            "simulated",
            "--db",
            "f.db",
            "--min-skill",
            "0.5",
            "--json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let pairs: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        (pairs[0]["a"].as_str(), pairs[0]["b"].as_str()),
        (Some("c1"), Some("c2")),
        "{pairs:?}"
    );
    let run = concord(
        dir.path(),
        &["ambiguity", "simulated", "--db", "f.db", "--as", "r1"],
    );
    assert_ne!(run.code, 0, "annotators may not read the ambiguity report");
}
