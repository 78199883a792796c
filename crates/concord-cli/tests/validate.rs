//! `concord validate`: every agreement case passes through the binary, reports are complete,
//! and a failing case exits 1.

use crate::util::{concord, project_root, write};
use serde_json::Value;
use std::path::Path;

fn outcomes(args: &[&str]) -> (i32, Vec<Value>) {
    let run = concord(Path::new("."), args);
    let parsed: Value = serde_json::from_str(&run.stdout).expect("validate --json prints JSON");
    (run.code, parsed.as_array().unwrap().clone())
}

#[test]
fn every_agreement_case_passes_through_validate() {
    let file = project_root().join("conformance/agreement.json");
    let (code, cases) = outcomes(&["validate", file.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0);
    assert_eq!(cases.len(), 108);
    for case in &cases {
        assert_eq!(case["status"], "pass", "{case}");
        for key in ["name", "kind", "status", "computed"] {
            assert!(case.get(key).is_some(), "{key} missing in {case}");
        }
    }
}

#[test]
fn bundled_cases_give_a_fileable_report() {
    let run = concord(Path::new("."), &["validate"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    for needle in [
        "Concord software validation report",
        "Tool:      concord ",
        "(UTC)",
        "agreement.json (bundled): 108 cases",
        "pass     cohen_kappa",
        "pass     staple_binary",
        "Result: PASS",
    ] {
        assert!(run.stdout.contains(needle), "report lacks {needle:?}");
    }
    let (_, cases) = outcomes(&["validate", "--json"]);
    let skipped = cases.iter().filter(|c| c["status"] == "skipped").count();
    let passed = cases.iter().filter(|c| c["status"] == "pass").count();
    assert_eq!(skipped, 0, "every bundled kind is known");
    assert_eq!(passed, 135, "108 agreement and 27 fusion cases");
    assert_eq!(passed, cases.len());
}

#[test]
fn a_wrong_expectation_fails_with_exit_1_and_computed_ignores_expected() {
    let dir = tempfile::tempdir().unwrap();
    let case = |kappa: &str| {
        format!(
            r#"[{{"name": "t/{kappa}", "kind": "fleiss_kappa_table", "oracle": "test",
                "input": {{"table": [[2,0],[1,1],[0,2]], "method": "fleiss"}},
                "expected": {{"kappa": {kappa}}}, "tolerance": {{"abs": 1e-9, "rel": 1e-9}}}},
               {{"name": "t/nan", "kind": "fleiss_kappa_table", "oracle": "test",
                "input": {{"table": [[2,0],[2,0]], "method": "fleiss"}},
                "expected": {{"kappa": "NaN"}}, "tolerance": {{"abs": 1e-9, "rel": 1e-9}}}}]"#
        )
    };
    let right = write(dir.path(), "right.json", case("0.3333333333333333"));
    let wrong = write(dir.path(), "wrong.json", case("0.5"));
    let (code, good) = outcomes(&["validate", right.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0);
    let (code, bad) = outcomes(&["validate", wrong.to_str().unwrap(), "--json"]);
    assert_eq!(code, 1);
    assert_eq!(bad[0]["status"], "fail");
    assert_eq!(good[0]["computed"], bad[0]["computed"]);
    // Non-finite numbers are written as the README's strings.
    assert_eq!(bad[1]["computed"]["kappa"], "NaN");
    let text = concord(Path::new("."), &["validate", wrong.to_str().unwrap()]);
    assert_eq!(text.code, 1);
    assert!(text.stdout.contains("FAIL"));
}

#[test]
fn unreadable_case_files_exit_2() {
    let run = concord(Path::new("."), &["validate", "/nonexistent/cases.json"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("/nonexistent/cases.json"));
}
