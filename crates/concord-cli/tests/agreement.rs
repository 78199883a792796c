//! `concord agreement`: values against hand-checked numbers, JSON keys, breakdowns, the
//! heatmap, determinism of the bootstrap, and bad input (exit 2, naming file and line).

use crate::util::{concord, write};
use serde_json::Value;
use std::path::Path;
use std::path::PathBuf;

/// Krippendorff (2011)'s 4-coder, 12-unit example in long format, unit 12 rated by the third
/// coder as in irrCAC's copy (Gwet 2014) (published alpha: nominal
/// 0.743, ordinal 0.815, interval 0.849, ratio 0.797).
const KRIPPENDORFF: &str = "\
item,annotator,label
u1,A,1\nu1,B,1\nu1,D,1
u2,A,2\nu2,B,2\nu2,C,3\nu2,D,2
u3,A,3\nu3,B,3\nu3,C,3\nu3,D,3
u4,A,3\nu4,B,3\nu4,C,3\nu4,D,3
u5,A,2\nu5,B,2\nu5,C,2\nu5,D,2
u6,A,1\nu6,B,2\nu6,C,3\nu6,D,4
u7,A,4\nu7,B,4\nu7,C,4\nu7,D,4
u8,A,1\nu8,B,1\nu8,C,2\nu8,D,1
u9,A,2\nu9,B,2\nu9,C,2\nu9,D,2
u10,B,5\nu10,C,5\nu10,D,5
u11,C,1\nu11,D,1
u12,C,3
";

fn fixture(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), name, text);
    (dir, path)
}

fn json(args: &[&str]) -> Value {
    let run = concord(Path::new("."), args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

/// One row of the value table: metric flags and the expected value.
fn check(flags: &[&str], want: f64) {
    let (_dir, path) = fixture("labels.csv", KRIPPENDORFF);
    let mut args = vec!["agreement", path.to_str().unwrap(), "--json"];
    args.extend_from_slice(flags);
    let out = json(&args);
    let got = out["value"].as_f64().unwrap();
    assert!(
        (got - want).abs() < 1e-9,
        "{flags:?}: got {got}, want {want}"
    );
    for key in [
        "metric",
        "level",
        "value",
        "ci_low",
        "ci_high",
        "n_items",
        "n_annotators",
    ] {
        assert!(out.get(key).is_some(), "{flags:?}: key {key} missing");
    }
}

#[test]
fn values_match_the_reference_libraries() {
    // krippendorff 0.9.0 and irrCAC 0.4.4 on the same data (conformance/agreement.json).
    check(&["--metric", "alpha"], 0.743421052631579);
    check(
        &["--metric", "alpha", "--level", "ordinal"],
        0.8153875037548814,
    );
    check(
        &["--metric", "alpha", "--level", "interval"],
        0.8491071428571428,
    );
    check(
        &["--metric", "alpha", "--level", "ratio"],
        0.7974027747116121,
    );
    check(&["--metric", "ac1"], 0.775444068126995);
    check(&["--metric", "ac2"], 0.914000723551605);
    check(
        &["--metric", "ac2", "--weights", "linear"],
        0.858739136432611,
    );
    check(&["--metric", "fleiss"], 0.761169275422411);
    check(
        &["--metric", "fleiss", "--weights", "quadratic"],
        0.864935064935065,
    );
    check(&["--metric", "conger"], 0.762817441303306);
    check(&["--metric", "percent"], 0.818181818181818);
}

#[test]
fn analytic_interval_is_irrcacs() {
    let (_dir, path) = fixture("labels.csv", KRIPPENDORFF);
    let out = json(&[
        "agreement",
        path.to_str().unwrap(),
        "--metric",
        "ac1",
        "--json",
    ]);
    // irrCAC: AC1 0.775444, CI (0.460813348132080, 1), se 0.142949950640765.
    assert!((out["ci_low"].as_f64().unwrap() - 0.46081334813208).abs() < 1e-9);
    assert_eq!(out["ci_high"].as_f64().unwrap(), 1.0);
    assert!((out["se"].as_f64().unwrap() - 0.142949950640765).abs() < 1e-9);
    assert_eq!(out["ci_method"], "t");
    assert_eq!(out["n_annotators"], 4);
}

#[test]
fn bootstrap_is_seeded() {
    let (_dir, path) = fixture("labels.csv", KRIPPENDORFF);
    let p = path.to_str().unwrap();
    let run = |seed: &str, threads: &str| {
        json(&[
            "agreement",
            p,
            "--metric",
            "alpha",
            "--level",
            "interval",
            "--bootstrap",
            "500",
            "--seed",
            seed,
            "--threads",
            threads,
            "--json",
        ])
    };
    let a = run("7", "1");
    assert_eq!(a, run("7", "2"), "same seed, different thread count");
    assert_ne!(a["ci_low"], run("8", "2")["ci_low"]);
    assert_eq!(a["ci_method"], "bootstrap-hayes-krippendorff");
    let items = json(&[
        "agreement",
        p,
        "--metric",
        "fleiss",
        "--bootstrap",
        "300",
        "--seed",
        "1",
        "--json",
    ]);
    assert_eq!(items["ci_method"], "bootstrap-items");
    assert_eq!(items["bootstrap"]["resamples"], 300);
}

#[test]
fn per_class_pairs_and_heatmap() {
    let (dir, path) = fixture("labels.csv", KRIPPENDORFF);
    let svg = dir.path().join("pairs.svg");
    let out = json(&[
        "agreement",
        path.to_str().unwrap(),
        "--metric",
        "fleiss",
        "--per-class",
        "--pairs",
        "--svg",
        svg.to_str().unwrap(),
        "--json",
    ]);
    let classes = out["per_class"].as_array().unwrap();
    assert_eq!(classes.len(), 5);
    assert_eq!(classes[0]["class"], "1");
    let pairs = &out["pairs"];
    assert_eq!(pairs["annotators"].as_array().unwrap().len(), 4);
    assert_eq!(pairs["kappa"][0][0], 1.0);
    assert_eq!(pairs["kappa"][0][1], pairs["kappa"][1][0]);
    // A and B share units 1–9.
    assert_eq!(pairs["n_items"][0][1], 9);
    let svg = std::fs::read_to_string(svg).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<rect x=").count(), 16 + 21);
}

#[test]
fn textual_labels_with_order() {
    let text = "item,annotator,label\n1,a,low\n1,b,low\n2,a,mid\n2,b,high\n3,a,high\n3,b,high\n4,a,mid\n4,b,mid\n";
    let (_dir, path) = fixture("labels.csv", text);
    let p = path.to_str().unwrap();
    // Ranks low=1, mid=2, high=3: scikit-learn's quadratic kappa on indices 0,1,2.
    let out = json(&[
        "agreement",
        p,
        "--metric",
        "cohen",
        "--weights",
        "quadratic",
        "--order",
        "low,mid,high",
        "--json",
    ]);
    let want = {
        use concord_consensus::agreement::{CohenWeights, cohen_kappa};
        cohen_kappa(
            &[0, 1, 2, 1],
            &[0, 2, 2, 1],
            3,
            &CohenWeights::Quadratic,
            None,
        )
        .unwrap()
    };
    assert!((out["value"].as_f64().unwrap() - want).abs() < 1e-12);
    let table = concord(Path::new("."), &["agreement", p, "--metric", "percent"]);
    assert_eq!(table.code, 0);
    assert!(table.stdout.contains("value        0.7500"));
}

#[test]
fn degenerate_data_is_reported_undefined() {
    let text = "item,annotator,label\n1,a,x\n1,b,x\n2,a,x\n2,b,x\n";
    let (_dir, path) = fixture("labels.csv", text);
    let out = json(&[
        "agreement",
        path.to_str().unwrap(),
        "--metric",
        "fleiss",
        "--json",
    ]);
    assert_eq!(out["value"], Value::Null);
    assert!(out["undefined"].as_str().unwrap().contains("no variation"));
    let table = concord(
        Path::new("."),
        &["agreement", path.to_str().unwrap(), "--metric", "alpha"],
    );
    assert_eq!(table.code, 0);
    assert!(table.stdout.contains("undefined"));
    assert!(!table.stdout.contains("NaN"));
}

/// Every malformed input: exit 2 and a message naming the file (and line where there is one).
#[test]
fn bad_input_exits_2_naming_file_and_line() {
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "item,annotator\n1,a\n",
            &["--metric", "alpha"],
            ":1: header lacks column `label`",
        ),
        (
            "item,annotator,label\n1,a,1\n1,b\n",
            &["--metric", "alpha"],
            ":3: expected 3 fields",
        ),
        (
            "item,annotator,label\n1,a,1\n1,,2\n",
            &["--metric", "alpha"],
            ":3: column `annotator` is empty",
        ),
        (
            "item,annotator,label\n1,a,1\n1,a,2\n",
            &["--metric", "alpha"],
            ":3: annotator `a` already labelled",
        ),
        (
            "item,annotator,label\n1,a,1\n1,b,x\n",
            &["--metric", "alpha", "--level", "interval"],
            ":3: column `label`: expected a number",
        ),
        (
            "item,annotator,label\n1,a,low\n1,b,odd\n",
            &[
                "--metric", "alpha", "--level", "ordinal", "--order", "low,high",
            ],
            ":3: column `label`: expected one of --order low,high, found `odd`",
        ),
        (
            "item,annotator,label\n",
            &["--metric", "alpha"],
            "no data rows",
        ),
    ];
    for (text, flags, needle) in cases {
        let (_dir, path) = fixture("bad.csv", text);
        let mut args = vec!["agreement", path.to_str().unwrap()];
        args.extend_from_slice(flags);
        let run = concord(Path::new("."), &args);
        assert_eq!(run.code, 2, "{text:?}: {}", run.stderr);
        assert!(run.stderr.contains("bad.csv"), "{text:?}: {}", run.stderr);
        assert!(run.stderr.contains(needle), "{text:?}: {}", run.stderr);
    }
    let (_dir, path) = fixture("three.csv", KRIPPENDORFF);
    let run = concord(
        Path::new("."),
        &["agreement", path.to_str().unwrap(), "--metric", "cohen"],
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("exactly two annotators"));
    let run = concord(
        Path::new("."),
        &["agreement", "/nonexistent/labels.csv", "--metric", "alpha"],
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("/nonexistent/labels.csv"));
    let run = concord(
        Path::new("."),
        &[
            "agreement",
            path.to_str().unwrap(),
            "--metric",
            "fleiss",
            "--level",
            "ordinal",
        ],
    );
    assert_eq!(run.code, 2);
}
