//! The platform commands end to end, as the README shows them: init, users, project, import,
//! next/submit, consensus, adjudication, status, export; and their refusals.

use super::util::{concord, concord_with_stdin, project_root, write};
use std::path::Path;

fn run_ok(dir: &Path, args: &[&str]) -> String {
    let run = concord(dir, args);
    assert_eq!(run.code, 0, "concord {}: {}", args.join(" "), run.stderr);
    run.stdout
}

#[test]
fn a_project_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let protocol = project_root().join("demo/protocol.yaml");
    let protocol = protocol.to_str().unwrap();
    write(
        d,
        "items.jsonl",
        "{\"id\": \"r-1\", \"text\": \"one\"}\n{\"id\": \"r-2\", \"text\": \"two\"}\n{\"id\": \"g-1\", \"text\": \"three\", \"gold\": \"normal\"}\n",
    );
    run_ok(d, &["init", "--admin", "alice"]);
    run_ok(d, &["user", "add", "lee", "--role", "annotator"]);
    run_ok(d, &["user", "add", "kim", "--role", "annotator"]);
    let added = concord_with_stdin(
        d,
        &[
            "user",
            "add",
            "sam",
            "--role",
            "adjudicator",
            "--qualification",
            "thoracic radiologist",
            "--password-stdin",
        ],
        "sam's passphrase\n",
    );
    assert_eq!(added.code, 0, "{}", added.stderr);
    run_ok(
        d,
        &[
            "project",
            "create",
            "cxr",
            "--protocol",
            protocol,
            "--overlap",
            "fixed:2",
            "--accept",
            "0.99",
        ],
    );
    run_ok(d, &["import", "items", "cxr", "items.jsonl"]);

    // Label every regular item with two annotators who disagree on r-2.
    for user in ["lee", "kim"] {
        loop {
            let out = run_ok(d, &["next", "cxr", "--as", user, "--json"]);
            let task: serde_json::Value = serde_json::from_str(&out).unwrap();
            let Some(item) = task["item"].as_str() else {
                assert_eq!(task, serde_json::json!({"item": null}));
                break;
            };
            assert!(
                task.get("label").is_none() && task.get("gold").is_none(),
                "{task}"
            );
            let value = if user == "kim" && item == "r-2" {
                "effusion"
            } else {
                "normal"
            };
            run_ok(d, &["submit", "cxr", item, value, "--as", user]);
        }
    }
    let summary: serde_json::Value =
        serde_json::from_str(&run_ok(d, &["consensus", "cxr", "--json"])).unwrap();
    assert_eq!(summary["items"], 2);
    let queue: serde_json::Value = serde_json::from_str(&run_ok(
        d,
        &["adjudication", "list", "cxr", "--as", "sam", "--json"],
    ))
    .unwrap();
    let queued: Vec<&str> = queue
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["item"].as_str().unwrap())
        .collect();
    assert!(queued.contains(&"r-2"), "{queue}");
    let adjudicate = [
        "adjudicate",
        "cxr",
        "r-2",
        "effusion",
        "--as",
        "sam",
        "--rationale",
        "meniscus sign",
    ];
    // Signing re-authenticates: a wrong password is refused, stores nothing, and is audited.
    let wrong = concord_with_stdin(d, &adjudicate, "not sam's\n");
    assert_eq!(wrong.code, 2, "{}", wrong.stderr);
    assert!(wrong.stderr.contains("password"), "{}", wrong.stderr);
    let refused = run_ok(d, &["audit", "log", "--entity", "user:4", "--json"]);
    assert!(refused.contains("signature.refused"), "{refused}");
    let signed = concord_with_stdin(d, &adjudicate, "sam's passphrase\n");
    assert_eq!(signed.code, 0, "{}", signed.stderr);
    let status: serde_json::Value =
        serde_json::from_str(&run_ok(d, &["status", "cxr", "--json"])).unwrap();
    assert_eq!(status["items"]["adjudicated"], 1);
    run_ok(
        d,
        &["export", "cxr", "--format", "csv", "-o", "reference.csv"],
    );
    let csv = std::fs::read_to_string(d.join("reference.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "item,label,confidence,status,labels,run,cost");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("r-2,effusion,1,adjudicated,2,")),
        "{csv}"
    );
    let jsonl = run_ok(d, &["export", "cxr"]);
    assert_eq!(jsonl.lines().count(), 2, "gold items are not exported");

    // The gold set: one unanswered gold item, retired by hand, once.
    let gold: serde_json::Value =
        serde_json::from_str(&run_ok(d, &["gold", "list", "cxr", "--json"])).unwrap();
    assert_eq!(
        gold,
        serde_json::json!([{"item": "g-1", "gold": {"finding": "normal"}, "answers": 0,
            "right": 0, "retired": false}])
    );
    run_ok(
        d,
        &[
            "gold",
            "retire",
            "cxr",
            "g-1",
            "--reason",
            "shown at grand rounds",
        ],
    );
    let again = concord(d, &["gold", "retire", "cxr", "g-1", "--reason", "x"]);
    assert_ne!(again.code, 0);
    assert!(again.stderr.contains("retired already"), "{}", again.stderr);
    let listed = run_ok(d, &["gold", "list", "cxr"]);
    assert!(listed.contains("retired"), "{listed}");
    // r-2's adjudication overruled an unsure consensus: not a gold candidate.
    let candidates = concord(d, &["gold", "candidates", "cxr"]);
    assert_eq!(candidates.code, 0, "{}", candidates.stderr);
    assert_eq!(candidates.stdout, "");
    assert!(
        candidates.stderr.contains("0 gold candidate(s)"),
        "{}",
        candidates.stderr
    );

    // Everything above is in the audit trail, and the trail verifies.
    let report: serde_json::Value =
        serde_json::from_str(&run_ok(d, &["audit", "verify", "--json"])).unwrap();
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["records_checked"]["annotation"], 4, "{report}");
    assert_eq!(report["records_checked"]["adjudication"], 1, "{report}");
    assert_eq!(report["signatures_checked"], 1, "{report}");
    let log = run_ok(d, &["audit", "log", "--json"]);
    let log: Vec<serde_json::Value> = serde_json::from_str(&log).unwrap();
    let actions: std::collections::BTreeSet<&str> =
        log.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in [
        "user.create",
        "project.create",
        "protocol.create",
        "items.import",
        "lease.create",
        "annotation.create",
        "consensus.run",
        "adjudication.create",
        "signature.create",
        "signature.refused",
        "gold.retire",
    ] {
        assert!(
            actions.contains(action),
            "{action} missing from {actions:?}"
        );
    }
    let seqs: Vec<i64> = log.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "gap-free"
    );
}

#[test]
fn refusals_name_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let protocol = project_root().join("demo/protocol.yaml");
    let protocol = protocol.to_str().unwrap();
    run_ok(d, &["init"]);
    run_ok(d, &["user", "add", "lee", "--role", "annotator"]);
    write(
        d,
        "bad.yaml",
        "name: x\ntasks:\n  - {id: t, type: colour}\n",
    );
    write(
        d,
        "items.jsonl",
        "{\"id\": \"r-1\", \"text\": \"one\"}\n{\"id\": \"r-1\", \"text\": \"again\"}\n",
    );
    for (args, needle) in [
        (
            vec!["project", "create", "x", "--protocol", "bad.yaml"],
            "bad.yaml",
        ),
        (
            vec![
                "project",
                "create",
                "x",
                "--protocol",
                protocol,
                "--overlap",
                "some",
            ],
            "adaptive:MIN..MAX@THRESHOLD",
        ),
        (vec!["init"], "already has users"),
        (
            vec!["next", "cxr", "--as", "lee"],
            "project `cxr` not found",
        ),
        (
            vec!["user", "add", "bo", "--role", "wizard"],
            "unknown role `wizard`",
        ),
    ] {
        let run = concord(d, &args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stdout);
        assert!(run.stderr.contains(needle), "{args:?}: {}", run.stderr);
    }
    run_ok(d, &["project", "create", "cxr", "--protocol", protocol]);
    let run = concord(d, &["import", "items", "cxr", "items.jsonl"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("items.jsonl:2") && run.stderr.contains("duplicate id `r-1`"),
        "{}",
        run.stderr
    );
    let run = concord(d, &["next", "cxr", "--as", "nobody"]);
    assert!(
        run.code == 2 && run.stderr.contains("user `nobody` not found"),
        "{}",
        run.stderr
    );
    let run = concord(d, &["submit", "cxr", "r-1", "normal", "--as", "lee"]);
    assert!(
        run.code == 2 && run.stderr.contains("item `r-1` not found"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_demo_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(dir.path(), &["demo", "--db", "demo.db"]);
    assert!(out.contains("reference standard:"), "{out}");
    assert!(out.contains("Adjudication queue"), "{out}");
    let status = run_ok(dir.path(), &["status", "demo", "--json", "--db", "demo.db"]);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["items"]["gold"], 40);

    // The same seed gives the same project, however fast the background skill re-fits run:
    // every figure the demo prints agrees, except the release manifest's digest, which covers
    // timestamps.
    let again = tempfile::tempdir().unwrap();
    let second = run_ok(again.path(), &["demo", "--db", "demo.db"]);
    let facts = |out: &str| -> Vec<String> {
        out.lines()
            .map(|l| l.split(", manifest SHA-256").next().unwrap().to_owned())
            .collect()
    };
    assert_eq!(facts(&out), facts(&second));
}
