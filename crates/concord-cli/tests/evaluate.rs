//! `concord evaluate`: the JSON contract.

use super::util::{LABELS, concord, write};

#[test]
fn json_rows_per_method() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "labels.csv", LABELS);
    write(
        dir.path(),
        "truth.csv",
        "item,label\nt1,yes\nt2,no\nt3,yes\nt4,no\nt5,no\n",
    );
    let run = concord(
        dir.path(),
        &["evaluate", "labels.csv", "--truth", "truth.csv", "--json"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert!(rows.len() >= 5);
    let mut defaults = 0;
    for row in rows {
        let obj = row.as_object().unwrap();
        for key in ["method", "accuracy", "seconds", "iterations"] {
            assert!(obj.contains_key(key), "{row} lacks {key}");
        }
        // t5 has truth but no labels: it counts as wrong. KOS is left out: message passing on
        // three annotators and four items has no reliable signal (its scores nearly tie).
        if obj["method"] != "kos" {
            assert_eq!(obj["accuracy"].as_f64().unwrap(), 0.8, "{row}");
        }
        if obj.get("default") == Some(&serde_json::Value::Bool(true)) {
            defaults += 1;
            assert_eq!(obj["method"], "ds");
        }
    }
    assert_eq!(defaults, 1);
}

#[test]
fn named_methods_and_fixed_iterations() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "labels.csv", LABELS);
    write(dir.path(), "truth.csv", "item,label\nt1,yes\n");
    let run = concord(
        dir.path(),
        &[
            "evaluate",
            "labels.csv",
            "--truth",
            "truth.csv",
            "--methods",
            "ds,mv",
            "--json",
            "--max-iter",
            "7",
            "--tol",
            "0",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(rows[0]["method"], "ds");
    // Two classes: ds also fits the one-coin model and counts both fits' iterations.
    assert_eq!(rows[0]["iterations"], 14);
    assert_eq!(rows[1]["method"], "mv");
}
