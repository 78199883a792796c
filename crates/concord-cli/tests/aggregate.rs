//! `concord aggregate`: formats and choices.

use super::util::{LABELS, concord, datasets_dir, write};

#[test]
fn labels_confidence_and_posteriors() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "labels.csv", LABELS);
    let run = concord(
        dir.path(),
        &["aggregate", "labels.csv", "--method", "mv", "--posteriors"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "item,label,confidence,no,yes");
    assert_eq!(
        lines[1],
        "t1,yes,0.6666666666666666,0.3333333333333333,0.6666666666666666"
    );
    assert_eq!(lines[3], "t3,yes,1,0,1");
    assert_eq!(lines.len(), 5);
}

#[test]
fn output_file_and_skills() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "labels.csv", LABELS);
    let run = concord(
        dir.path(),
        &[
            "aggregate",
            "labels.csv",
            "-o",
            "out.csv",
            "--skills",
            "skills.csv",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    let out = std::fs::read_to_string(dir.path().join("out.csv")).unwrap();
    let labels: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(labels, ["yes", "no", "yes", "no"]);
    let skills = std::fs::read_to_string(dir.path().join("skills.csv")).unwrap();
    let mut lines = skills.lines();
    assert_eq!(
        lines.next().unwrap(),
        "annotator,labels,expected_accuracy,no->no,no->yes,yes->no,yes->yes"
    );
    assert_eq!(lines.count(), 3);
}

#[test]
fn crowd_kit_column_names_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "labels.csv",
        LABELS.replacen("item,annotator,label", "task,worker,label", 1),
    );
    let run = concord(dir.path(), &["aggregate", "labels.csv"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn duplicates_policy_all_keeps_repeated_reads() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "labels.csv",
        "item,annotator,label\nt,a,x\nt,a,x\nt,b,y\n",
    );
    let run = concord(
        dir.path(),
        &[
            "aggregate",
            "labels.csv",
            "--method",
            "mv",
            "--duplicates",
            "all",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("t,x,0.6666666666666666"),
        "{}",
        run.stdout
    );
    let run = concord(
        dir.path(),
        &[
            "aggregate",
            "labels.csv",
            "--method",
            "mv",
            "--duplicates",
            "last",
        ],
    );
    assert!(run.stdout.contains("t,x,0.5"), "{}", run.stdout);
}

#[test]
fn multi_label_sets() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "labels.csv",
        "item,annotator,label\nx1,a,edema|effusion\nx1,b,edema\nx1,c,edema|effusion\nx2,a,-\nx2,b,-\nx2,c,effusion\n",
    );
    let run = concord(
        dir.path(),
        &[
            "aggregate",
            "labels.csv",
            "--multi-label",
            "--method",
            "mv",
            "--posteriors",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "item,label,confidence,edema,effusion");
    assert!(lines[1].starts_with("x1,edema|effusion,"), "{}", lines[1]);
    assert!(lines[2].starts_with("x2,-,"), "{}", lines[2]);
}

#[test]
fn seeds_make_runs_repeatable() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "labels.csv", LABELS);
    let a = concord(
        dir.path(),
        &["aggregate", "labels.csv", "--seed", "7", "--posteriors"],
    );
    let b = concord(
        dir.path(),
        &[
            "--threads",
            "1",
            "aggregate",
            "labels.csv",
            "--seed",
            "7",
            "--posteriors",
        ],
    );
    assert_eq!(a.code, 0);
    assert_eq!(a.stdout, b.stdout);
}

/// Dawid & Skene's 1979 data has repeated reads: it needs `--duplicates all`.
#[test]
fn anaesthesia_needs_duplicates_all() {
    let Some(dir) = datasets_dir() else { return };
    let labels = dir.join("ds1979-anaesthesia/labels.csv");
    let labels = labels.to_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let refused = concord(tmp.path(), &["aggregate", labels]);
    assert_eq!(refused.code, 2);
    assert!(
        refused.stderr.contains("--duplicates"),
        "{}",
        refused.stderr
    );
    let run = concord(tmp.path(), &["aggregate", labels, "--duplicates", "all"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 46);
}
