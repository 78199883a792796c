//! Releases, provenance and reader variability through the `concord` binary, on a copy of the
//! audit tests' project (three readers, three items, r-2 adjudicated and signed).

use super::audit::copy;
use super::util::{concord, concord_with_stdin, write};
use std::path::Path;

fn run_ok(dir: &Path, args: &[&str]) -> String {
    let run = concord(dir, args);
    assert_eq!(run.code, 0, "concord {}: {}", args.join(" "), run.stderr);
    run.stdout
}

fn create(dir: &Path, name: &str, purpose: &str, password: &str) -> super::util::Run {
    concord_with_stdin(
        dir,
        &[
            "release",
            "create",
            "cxr",
            name,
            "--as",
            "alice",
            "--purpose",
            purpose,
        ],
        &format!("{password}\n"),
    )
}

fn export(dir: &Path, name: &str, format: &str, out: &str) -> Vec<u8> {
    run_ok(
        dir,
        &[
            "release",
            "export",
            "cxr",
            name,
            "--format",
            format,
            "-o",
            out,
            "--reason",
            "model 3 evaluation",
        ],
    );
    std::fs::read(dir.join(out)).unwrap()
}

#[test]
fn releases_are_signed_frozen_and_byte_identical() {
    let dir = copy();
    let d = dir.path();
    // Signing re-authenticates.
    let wrong = create(d, "v1", "test", "not alice's");
    assert_eq!(wrong.code, 2, "{}", wrong.stderr);
    assert!(wrong.stderr.contains("password"), "{}", wrong.stderr);
    let made = create(d, "v1", "test", "alice-pass");
    assert_eq!(made.code, 0, "{}", made.stderr);
    assert_eq!(
        create(d, "v1", "test", "alice-pass").code,
        2,
        "names are unique"
    );

    let jsonl = export(d, "v1", "jsonl", "a.jsonl");
    assert_eq!(jsonl, export(d, "v1", "jsonl", "b.jsonl"), "byte-identical");
    let csv = export(d, "v1", "csv", "a.csv");
    assert_eq!(csv, export(d, "v1", "csv", "b.csv"));
    let reads = String::from_utf8(export(d, "v1", "reads", "reads.csv")).unwrap();
    assert_eq!(reads.lines().next(), Some("item,annotator,label"));
    assert_eq!(reads.lines().count(), 1 + 9, "every read is kept:\n{reads}");
    let csv_text = String::from_utf8(csv.clone()).unwrap();
    assert!(
        csv_text
            .lines()
            .any(|l| l.starts_with("r-2,effusion,1.0,adjudicated,3,")),
        "{csv_text}"
    );
    let first: serde_json::Value = serde_json::from_str(
        String::from_utf8(jsonl.clone())
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["reads"].as_array().unwrap().len(), 3, "{first}");
    assert!(
        first["reads"][0]["reader"]
            .as_str()
            .unwrap()
            .starts_with("reader-"),
        "pseudonyms, not names: {first}"
    );

    // The test-set firewall: a reason is required, and every export is counted per item.
    let bare = concord(d, &["release", "export", "cxr", "v1"]);
    assert_eq!(bare.code, 2, "{}", bare.stderr);
    assert!(bare.stderr.contains("--reason"), "{}", bare.stderr);
    let usage: serde_json::Value =
        serde_json::from_str(&run_ok(d, &["release", "usage", "cxr", "--json"])).unwrap();
    assert_eq!(usage.as_array().unwrap().len(), 3, "{usage}");
    for u in usage.as_array().unwrap() {
        assert_eq!(u["uses"], 5, "five exports of v1 so far: {usage}");
    }

    // More work in the project: a new item, three reads, a new consensus run.
    write(d, "more.jsonl", "{\"id\": \"r-4\", \"text\": \"four\"}\n");
    run_ok(d, &["import", "items", "cxr", "more.jsonl"]);
    for user in ["lee", "kim", "ida"] {
        run_ok(d, &["next", "cxr", "--as", user]);
        run_ok(d, &["submit", "cxr", "r-4", "nodule", "--as", user]);
    }
    run_ok(d, &["consensus", "cxr"]);
    assert_eq!(export(d, "v1", "jsonl", "c.jsonl"), jsonl, "v1 is frozen");
    assert_eq!(export(d, "v1", "csv", "c.csv"), csv);
    let verified: serde_json::Value =
        serde_json::from_str(&run_ok(d, &["release", "verify", "cxr", "v1", "--json"])).unwrap();
    assert_eq!(verified["intact"], true, "{verified}");
    assert_eq!(verified["release"]["signatures"][0]["meaning"], "approved");
    assert_eq!(verified["release"]["signatures"][0]["valid"], true);

    let made = create(d, "v2", "reference", "alice-pass");
    assert_eq!(made.code, 0, "{}", made.stderr);
    assert_ne!(export(d, "v2", "jsonl", "v2.jsonl"), jsonl);
    let audit: serde_json::Value =
        serde_json::from_str(&run_ok(d, &["audit", "verify", "--json"])).unwrap();
    assert_eq!(audit["intact"], true, "{audit}");
    assert_eq!(audit["records_checked"]["release"], 2, "{audit}");

    // A manifest edited in the file: the release and the audit trail both say so.
    let db = rusqlite::Connection::open(d.join("concord.db")).unwrap();
    db.execute_batch(
        "DROP TRIGGER releases_no_update; \
         UPDATE releases SET manifest = replace(manifest, 'effusion', 'normal') WHERE name = 'v1';",
    )
    .unwrap();
    let seq: i64 = db
        .query_row(
            "SELECT seq FROM audit_events WHERE action = 'release.create' ORDER BY seq LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    drop(db);
    let broken = concord(d, &["release", "verify", "cxr", "v1", "--json"]);
    assert_eq!(broken.code, 1, "{}", broken.stdout);
    let refused = concord(
        d,
        &[
            "release",
            "export",
            "cxr",
            "v1",
            "--reason",
            "after the edit",
        ],
    );
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("does not verify"),
        "{}",
        refused.stderr
    );
    let audit = concord(d, &["audit", "verify", "--json"]);
    assert_eq!(audit.code, 1);
    let audit: serde_json::Value = serde_json::from_str(&audit.stdout).unwrap();
    assert_eq!(audit["first_break"]["seq"], seq, "{audit}");
    assert_eq!(audit["first_break"]["kind"], "record_changed", "{audit}");
}

#[test]
fn provenance_shows_every_read_the_run_and_the_signed_adjudication() {
    let dir = copy();
    let d = dir.path();
    let p: serde_json::Value =
        serde_json::from_str(&run_ok(d, &["provenance", "cxr", "r-2", "--json"])).unwrap();
    assert_eq!(p["item"], "r-2");
    assert_eq!(p["reads"].as_array().unwrap().len(), 3, "{p}");
    assert_eq!(p["state"]["status"], "adjudicated", "{p}");
    let run = &p["consensus"];
    assert_eq!(run["method"], "ds", "{p}");
    assert!(run["input_sha256"].as_str().unwrap().len() == 64, "{p}");
    assert!(run["label"]["posterior"].is_object(), "{p}");
    let adjudication = &p["adjudication"];
    assert_eq!(adjudication["rationale"], "meniscus sign", "{p}");
    assert_eq!(adjudication["signatures"][0]["printed_name"], "sam", "{p}");
    assert_eq!(adjudication["signatures"][0]["meaning"], "authored", "{p}");
    assert_eq!(adjudication["signatures"][0]["valid"], true, "{p}");
    assert!(p["audit_events"].as_array().unwrap().len() >= 6, "{p}");
    // Annotators never read other readers' labels.
    let refused = concord(d, &["provenance", "cxr", "r-2", "--as", "lee"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
}

#[test]
fn reader_variability_is_deterministic() {
    let dir = copy();
    let d = dir.path();
    assert_eq!(create(d, "v1", "reference", "alice-pass").code, 0);
    let args = [
        "release",
        "stability",
        "cxr",
        "v1",
        "--resamples",
        "40",
        "--seed",
        "3",
        "--json",
    ];
    let first = run_ok(d, &args);
    assert_eq!(first, run_ok(d, &args), "same seed, same analysis");
    let s: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(s["readers"], 3, "{s}");
    assert_eq!(s["items"], 3, "{s}");
    assert_eq!(s["leave_one_out"].as_array().unwrap().len(), 3, "{s}");
    // kim alone disagrees: leaving kim out changes nothing.
    let kim = s["leave_one_out"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["reads"] == 3 && l["changed"] == 0);
    assert!(kim.is_some(), "{s}");
    let share = s["bootstrap"]["mean_changed_share"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&share), "{s}");
    assert!(s["bootstrap"]["low"].as_f64().unwrap() <= s["bootstrap"]["high"].as_f64().unwrap());
}

#[test]
fn a_locked_plan_records_deviations() {
    let dir = copy();
    let d = dir.path();
    let wrong = concord_with_stdin(d, &["plan", "lock", "cxr", "--as", "alice"], "nope\n");
    assert_eq!(wrong.code, 2, "{}", wrong.stderr);
    let locked = concord_with_stdin(d, &["plan", "lock", "cxr", "--as", "alice"], "alice-pass\n");
    assert_eq!(locked.code, 0, "{}", locked.stderr);
    // Reads have started (the template has nine): another method needs a reason.
    let bare = concord(d, &["consensus", "cxr", "--method", "mv"]);
    assert_eq!(bare.code, 2, "{}", bare.stderr);
    assert!(bare.stderr.contains("deviation"), "{}", bare.stderr);
    run_ok(
        d,
        &[
            "consensus",
            "cxr",
            "--method",
            "mv",
            "--reason",
            "sensitivity analysis",
        ],
    );
    // The plan's own method needs none.
    run_ok(d, &["consensus", "cxr"]);
    // So does a protocol change.
    let protocol = super::util::project_root().join("demo/protocol.yaml");
    let mut text = std::fs::read_to_string(&protocol).unwrap();
    text.push_str("\n# clarified wording\n");
    let changed = text.replace("name:", "name: v2 of");
    write(d, "v2.yaml", changed);
    let bare = concord(
        d,
        &["protocol", "update", "cxr", "v2.yaml", "--note", "wording"],
    );
    assert_eq!(bare.code, 2, "{}", bare.stderr);
    run_ok(
        d,
        &[
            "protocol",
            "update",
            "cxr",
            "v2.yaml",
            "--note",
            "wording",
            "--reason",
            "readers asked",
        ],
    );
    let plan: serde_json::Value =
        serde_json::from_str(&run_ok(d, &["plan", "show", "cxr", "--json"])).unwrap();
    assert_eq!(plan["plans"].as_array().unwrap().len(), 1, "{plan}");
    assert_eq!(plan["plans"][0]["signatures"][0]["valid"], true, "{plan}");
    let deviations = plan["deviations"].as_array().unwrap();
    assert_eq!(deviations.len(), 2, "{plan}");
    assert_eq!(deviations[0]["reason"], "sensitivity analysis");
    assert_eq!(deviations[0]["to"]["method"], "mv");
    assert_eq!(deviations[1]["reason"], "readers asked");
    let audit: serde_json::Value =
        serde_json::from_str(&run_ok(d, &["audit", "verify", "--json"])).unwrap();
    assert_eq!(audit["intact"], true, "{audit}");
    assert_eq!(audit["records_checked"]["truthing_plan"], 1, "{audit}");
}
