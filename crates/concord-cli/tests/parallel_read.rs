//! Label files over 4 MiB are parsed on every core: the result, and every error's line, must be
//! those of the sequential read that standard input gets.

use super::util::write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Rows of a label file over 4 MiB: 24,000 items, eight annotators, three classes, grouped by
/// item (as exports usually are), with `terminator` after each row.
fn large_rows(terminator: &str) -> Vec<String> {
    let mut rows = Vec::new();
    for item in 0..24_000u32 {
        for annotator in 0..8u32 {
            // Annotators 0–5 mostly agree with the item's class; 6 and 7 are noisy.
            let truth = item % 3;
            let label = if annotator < 6 && (item + annotator) % 7 != 0 {
                truth
            } else {
                (item * 31 + annotator * 17) % 3
            };
            rows.push(format!(
                "case-{item:06},reader-{annotator},class-{label}{terminator}"
            ));
        }
    }
    rows
}

fn file(rows: &[String], terminator: &str) -> String {
    let mut text = format!("item,annotator,label{terminator}");
    for row in rows {
        text.push_str(row);
    }
    assert!(text.len() > 4 << 20, "large enough to be split");
    text
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `concord aggregate` on `labels.csv` in `dir` (split into `threads` parts) or, with
/// `stdin`, on standard input (read in one piece).
fn aggregate(dir: &Path, stdin: Option<&str>, threads: usize, extra: &[&str]) -> Run {
    let mut args = vec![
        "aggregate",
        if stdin.is_some() { "-" } else { "labels.csv" },
    ];
    args.extend_from_slice(extra);
    let mut child = Command::new(env!("CARGO_BIN_EXE_concord"))
        .args(&args)
        .current_dir(dir)
        .env("RAYON_NUM_THREADS", threads.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the concord binary runs");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        use std::io::Write;
        // A run that stops at an early error closes its input: a broken pipe is expected.
        let _ = input.write_all(text.as_bytes());
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn parts_give_what_one_sequential_read_gives() {
    for terminator in ["\n", "\r\n"] {
        let text = file(&large_rows(terminator), terminator);
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "labels.csv", &text);
        let sequential = aggregate(dir.path(), Some(&text), 1, &["--posteriors"]);
        assert_eq!(sequential.code, 0, "{}", sequential.stderr);
        assert_eq!(sequential.stdout.lines().count(), 24_001);
        for threads in [1, 2, 3] {
            let parts = aggregate(dir.path(), None, threads, &["--posteriors"]);
            assert_eq!(parts.code, 0, "{}", parts.stderr);
            assert!(
                parts.stdout == sequential.stdout,
                "{threads} parts, terminator {terminator:?}: the output differs"
            );
        }
    }
}

/// The line (1-based, the header is line 1) of row `index`.
fn line_of(index: usize) -> usize {
    index + 2
}

#[test]
fn errors_in_any_part_name_the_files_line() {
    let rows = large_rows("\n");
    let late = rows.len() * 9 / 10;
    let mut cases: Vec<(Vec<String>, String)> = Vec::new();
    // A ragged row near the end (in the last part).
    let mut ragged = rows.clone();
    ragged[late] = "case-999999,reader-0\n".into();
    cases.push((
        ragged,
        format!("labels.csv:{}: expected 3 fields", line_of(late)),
    ));
    // An empty label in the last part, and a second error after it that must not be reported.
    let mut empty = rows.clone();
    empty[late] = "case-999999,reader-0,\n".into();
    empty[late + 5] = "case-999998\n".into();
    cases.push((
        empty,
        format!("labels.csv:{}: column `label` is empty", line_of(late)),
    ));
    // Not UTF-8 in the first part while the last part is ragged: the first error wins.
    let mut both = rows.clone();
    both[10] = "case-000001,reader-\u{fffd},class-0\n".into();
    both[late] = "x\n".into();
    let mut both_text = file(&both, "\n").into_bytes();
    let at = both_text
        .windows(3)
        .position(|w| w == "\u{fffd}".as_bytes())
        .unwrap();
    both_text.splice(at..at + 3, [0xff, 0xfe, b'!']);
    // The same annotator twice on one item, the repeat in the last part.
    let mut duplicate = rows.clone();
    duplicate.push("case-000000,reader-3,class-1\n".into());
    let duplicate_line = line_of(duplicate.len() - 1);
    cases.push((
        duplicate,
        format!(
            "labels.csv:{duplicate_line}: annotator `reader-3` already labelled item `case-000000` on line {}",
            line_of(3)
        ),
    ));

    let dir = tempfile::tempdir().unwrap();
    let check = |bytes: &[u8], expected: &str| {
        write(dir.path(), "labels.csv", bytes);
        for threads in [2, 3] {
            let run = aggregate(dir.path(), None, threads, &["-o", "out.csv"]);
            assert_eq!(run.code, 2, "{}", run.stderr);
            assert!(
                run.stderr.contains(expected),
                "{threads} parts: stderr lacks {expected:?}: {}",
                run.stderr
            );
            assert!(!dir.path().join("out.csv").exists(), "no output on failure");
        }
        // Standard input, read in one piece, names the same line.
        let run = aggregate(
            dir.path(),
            Some(&String::from_utf8_lossy(bytes)),
            1,
            &["-o", "out.csv"],
        );
        assert_eq!(run.code, 2, "{}", run.stderr);
        let expected_stdin = expected.replacen("labels.csv", "-", 1);
        if std::str::from_utf8(bytes).is_ok() {
            assert!(
                run.stderr.contains(&expected_stdin),
                "stdin: stderr lacks {expected_stdin:?}: {}",
                run.stderr
            );
        }
    };
    for (rows, expected) in &cases {
        check(file(rows, "\n").as_bytes(), expected);
    }
    check(
        &both_text,
        &format!(
            "labels.csv:{}: column `annotator` is not valid UTF-8",
            line_of(10)
        ),
    );
}
