//! Malformed input: exit code 2 and a message that names the file, the line and the column.

use super::util::{LABELS, concord, write};

/// Runs `concord aggregate` on `contents` and checks the exit code and that stderr contains
/// every one of `expected`.
fn check(contents: &[u8], extra: &[&str], expected: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "labels.csv", contents);
    let mut args = vec!["aggregate", "labels.csv", "-o", "out.csv"];
    args.extend_from_slice(extra);
    let run = concord(dir.path(), &args);
    assert_eq!(run.code, 2, "exit code; stderr: {}", run.stderr);
    for e in expected {
        assert!(run.stderr.contains(e), "stderr lacks {e:?}: {}", run.stderr);
    }
    assert!(!dir.path().join("out.csv").exists(), "no output on failure");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "labels.csv")
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files left behind: {leftovers:?}"
    );
}

#[test]
fn empty_file() {
    check(b"", &[], &["labels.csv", "empty", "item,annotator,label"]);
}

#[test]
fn header_only() {
    check(
        b"item,annotator,label\n",
        &[],
        &["labels.csv", "no data rows"],
    );
}

#[test]
fn missing_column() {
    check(
        b"item,rater,label\nt,a,x\n",
        &[],
        &["labels.csv:1", "`annotator`", "item,rater,label"],
    );
}

#[test]
fn wrong_header() {
    check(
        b"t1,a,yes\nt2,a,no\n",
        &[],
        &["labels.csv:1", "header lacks column `item`"],
    );
}

#[test]
fn ragged_row() {
    check(
        b"item,annotator,label\nt,a,x\nt,b\n",
        &[],
        &["labels.csv:3", "expected 3 fields", "found 2"],
    );
}

#[test]
fn lines_count_blank_lines_and_line_breaks_inside_quotes() {
    check(
        b"item,annotator,label\nt,a,x\n\n\nt,b\n",
        &[],
        &["labels.csv:5", "expected 3 fields", "found 2"],
    );
    // The same without a final line break.
    check(
        b"item,annotator,label\nt,a,x\n\n\nt,b",
        &[],
        &["labels.csv:5", "expected 3 fields", "found 2"],
    );
    // A quoted label spans lines 2-3; line 4 is blank; the empty label is on line 5.
    check(
        b"item,annotator,label\nt,a,\"x\ny\"\n\r\nt,b,\" \"\n",
        &[],
        &["labels.csv:5", "`label` is empty"],
    );
}

#[test]
fn not_utf8() {
    check(
        b"item,annotator,label\nt,a,\xff\xfe\n",
        &[],
        &["labels.csv:2", "`label`", "UTF-8"],
    );
}

#[test]
fn empty_label() {
    check(
        b"item,annotator,label\nt,a,x\nt,b,\n",
        &[],
        &["labels.csv:3", "`label` is empty"],
    );
}

#[test]
fn duplicate_read() {
    check(
        b"item,annotator,label\nt,a,x\nu,a,y\nt,a,y\n",
        &[],
        &[
            "labels.csv:4",
            "line 2",
            "annotator `a`",
            "item `t`",
            "--duplicates",
        ],
    );
}

#[test]
fn unknown_method() {
    check(
        LABELS.as_bytes(),
        &["--method", "magic"],
        &["magic", "mv wmv wawa zbs ds"],
    );
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let run = concord(dir.path(), &["aggregate", "nope.csv"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("nope.csv"), "{}", run.stderr);
}

#[test]
fn gold_conflict() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "labels.csv", LABELS);
    write(dir.path(), "gold.csv", "item,label\nt1,yes\nt1,no\n");
    let run = concord(
        dir.path(),
        &[
            "aggregate",
            "labels.csv",
            "--method",
            "gds",
            "--gold",
            "gold.csv",
        ],
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("gold.csv:3"), "{}", run.stderr);
}

#[test]
fn gds_without_gold_says_so() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "labels.csv", LABELS);
    let run = concord(dir.path(), &["aggregate", "labels.csv", "--method", "gds"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("gold"), "{}", run.stderr);
}

/// A failed run leaves an existing output file exactly as it was.
#[test]
fn failure_keeps_previous_output() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "labels.csv",
        "item,annotator,label\nt,a,x\nt,a,y\n",
    );
    write(dir.path(), "out.csv", "previous");
    let run = concord(dir.path(), &["aggregate", "labels.csv", "-o", "out.csv"]);
    assert_eq!(run.code, 2);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.csv")).unwrap(),
        "previous"
    );
}
