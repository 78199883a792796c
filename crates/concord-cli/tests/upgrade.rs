//! Records stay readable after software upgrades (P11-10c-1): a database written by each
//! earlier schema version (`fixtures/schema/NNNN`, made once by that version's binary with
//! `fixtures/schema/make`) opens with this version, its migrations apply, its audit trail
//! verifies (events hashed under the encodings of their time), its release verifies and
//! renders, its provenance reads, and it takes new writes that verify too.

use super::util::{concord, project_root};
use std::path::{Path, PathBuf};

fn run_ok(dir: &Path, args: &[&str]) -> String {
    let run = concord(dir, args);
    assert_eq!(run.code, 0, "concord {}: {}", args.join(" "), run.stderr);
    run.stdout
}

fn json(dir: &Path, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&run_ok(dir, args)).unwrap()
}

fn fixtures() -> Vec<PathBuf> {
    let root = project_root().join("crates/concord-cli/tests/fixtures/schema");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn databases_of_earlier_schema_versions_open_verify_and_render() {
    let versions = fixtures();
    assert!(versions.len() >= 2, "fixtures: {versions:?}");
    for version in versions {
        let name = version.file_name().unwrap().to_string_lossy().into_owned();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for file in [
            "concord.db",
            "concord.db.audit-key",
            "concord.db.audit-key.pub",
        ] {
            std::fs::copy(version.join(file), d.join(file)).unwrap();
        }
        let report = json(d, &["audit", "verify", "--json"]);
        assert_eq!(report["intact"], true, "{name}: {report:#}");
        assert_eq!(
            report["records_checked"]["annotation"], 9,
            "{name}: {report:#}"
        );
        assert_eq!(
            report["records_checked"]["release"], 1,
            "{name}: {report:#}"
        );
        let release = json(d, &["release", "verify", "cxr", "v1", "--json"]);
        assert_eq!(
            release["release"]["signatures"][0]["valid"], true,
            "{name}: {release:#}"
        );
        let provenance = json(d, &["provenance", "cxr", "r-2", "--json"]);
        assert_eq!(
            provenance["reads"].as_array().map(Vec::len),
            Some(3),
            "{name}: {provenance:#}"
        );
        assert!(
            provenance.to_string().contains("meniscus sign"),
            "{name}: the adjudication's rationale: {provenance:#}"
        );
        let truthing = json(d, &["report", "cxr", "v1", "--json"]);
        assert!(truthing.to_string().contains("cxr"), "{name}");
        // New writes on the upgraded database chain onto the old events.
        run_ok(d, &["user", "add", "zoe", "--role", "annotator"]);
        run_ok(
            d,
            &[
                "retention",
                "set",
                "cxr",
                "--days",
                "3650",
                "--reason",
                "upgrade test",
            ],
        );
        let report = json(d, &["audit", "verify", "--json"]);
        assert_eq!(
            report["intact"], true,
            "{name} after new writes: {report:#}"
        );
    }
}
