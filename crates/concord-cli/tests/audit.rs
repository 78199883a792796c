//! Tamper tests: a project built with the `concord` binary, then its SQLite file edited behind
//! the application's back the way someone with write access to the file could (triggers
//! dropped first); `concord audit verify` must fail and name the right sequence number every
//! time, and an untouched copy must verify.
//!
//! The event hash is re-implemented here from `docs/audit.md`, independently of the store, to
//! forge events and rewrite the chain with fresh hashes.

use super::util::{concord, concord_with_stdin, project_root, write};
use rusqlite::{Connection, params};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn run_ok(dir: &Path, args: &[&str]) -> String {
    let run = concord(dir, args);
    assert_eq!(run.code, 0, "concord {}: {}", args.join(" "), run.stderr);
    run.stdout
}

/// A labelled, adjudicated and signed project, built once; each test works on a copy.
/// Users: alice (admin, password `alice-pass`), lee, kim, ida (annotators: kim reads
/// `effusion`, the others `normal`), sam (adjudicator, password `pass`); project `cxr` with
/// items r-1..r-3, three reads each, one consensus run, r-2 adjudicated and signed.
pub(crate) fn template() -> &'static Path {
    static TEMPLATE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &TEMPLATE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path().to_path_buf();
            let protocol = project_root().join("demo/protocol.yaml");
            write(
                &d,
                "items.jsonl",
                "{\"id\": \"r-1\", \"text\": \"one\"}\n{\"id\": \"r-2\", \"text\": \"two\"}\n\
                 {\"id\": \"r-3\", \"text\": \"three\"}\n",
            );
            let init = concord_with_stdin(
                &d,
                &["init", "--admin", "alice", "--password-stdin"],
                "alice-pass\n",
            );
            assert_eq!(init.code, 0, "{}", init.stderr);
            for user in ["lee", "kim", "ida"] {
                run_ok(&d, &["user", "add", user, "--role", "annotator"]);
            }
            let added = concord_with_stdin(
                &d,
                &[
                    "user",
                    "add",
                    "sam",
                    "--role",
                    "adjudicator",
                    "--password-stdin",
                ],
                "pass\n",
            );
            assert_eq!(added.code, 0, "{}", added.stderr);
            run_ok(
                &d,
                &[
                    "project",
                    "create",
                    "cxr",
                    "--protocol",
                    protocol.to_str().unwrap(),
                    "--overlap",
                    "fixed:3",
                ],
            );
            run_ok(&d, &["import", "items", "cxr", "items.jsonl"]);
            for user in ["lee", "kim", "ida"] {
                loop {
                    let out = run_ok(&d, &["next", "cxr", "--as", user, "--json"]);
                    let task: serde_json::Value = serde_json::from_str(&out).unwrap();
                    let Some(item) = task["item"].as_str() else {
                        break;
                    };
                    let value = if user == "kim" { "effusion" } else { "normal" };
                    run_ok(&d, &["submit", "cxr", item, value, "--as", user]);
                }
            }
            run_ok(&d, &["consensus", "cxr"]);
            run_ok(
                &d,
                &[
                    "adjudication",
                    "flag",
                    "cxr",
                    "r-2",
                    "--reason",
                    "second look",
                ],
            );
            let signed = concord_with_stdin(
                &d,
                &[
                    "adjudicate",
                    "cxr",
                    "r-2",
                    "effusion",
                    "--as",
                    "sam",
                    "--rationale",
                    "meniscus sign",
                ],
                "pass\n",
            );
            assert_eq!(signed.code, 0, "{}", signed.stderr);
            // Fold the write-ahead log into the file so that a copy of the file is the database.
            Connection::open(d.join("concord.db"))
                .unwrap()
                .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
                .unwrap();
            (dir, d)
        })
        .1
}

/// A copy of the template to tamper with or to continue.
pub(crate) fn copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "concord.db",
        "concord.db.audit-key",
        "concord.db.audit-key.pub",
    ] {
        std::fs::copy(template().join(name), dir.path().join(name)).unwrap();
    }
    dir
}

/// Opens the copy as an attacker would: with the append-only triggers dropped.
fn tamper(dir: &Path) -> Connection {
    let db = Connection::open(dir.join("concord.db")).unwrap();
    let triggers: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for t in triggers {
        db.execute_batch(&format!("DROP TRIGGER {t}")).unwrap();
    }
    db
}

fn seq_of(db: &Connection, entity: &str) -> i64 {
    db.query_row(
        "SELECT seq FROM audit_events WHERE entity = ?1 ORDER BY seq LIMIT 1",
        params![entity],
        |r| r.get(0),
    )
    .unwrap()
}

fn last_seq(db: &Connection) -> i64 {
    db.query_row("SELECT MAX(seq) FROM audit_events", [], |r| r.get(0))
        .unwrap()
}

/// Runs `concord audit verify --json` and returns (exit code, report). It runs twice: once
/// walking the chain whole, once cut into ranges of three events walked in parallel (so every
/// kind of break also falls on and next to range boundaries); both must say the same.
fn verify_with(dir: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec!["audit", "verify", "--json"];
    args.extend_from_slice(extra);
    let run = concord(dir, &args);
    let report: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {} {}", run.stdout, run.stderr));
    let ranged = std::process::Command::new(env!("CARGO_BIN_EXE_concord"))
        .args(&args)
        .current_dir(dir)
        .env("CONCORD_VERIFY_RANGE", "3")
        .output()
        .unwrap();
    let ranged_report: serde_json::Value = serde_json::from_slice(&ranged.stdout).unwrap();
    assert_eq!(ranged.status.code(), Some(run.code));
    assert_eq!(
        ranged_report["first_break"], report["first_break"],
        "walking in ranges finds the same first break"
    );
    (run.code, report)
}

/// Asserts that verification fails with the first break at `seq` of `kind`.
fn assert_broken(dir: &Path, seq: Option<i64>, kind: &str) -> serde_json::Value {
    let (code, report) = verify_with(dir, &[]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["intact"], false);
    let first = &report["first_break"];
    assert_eq!(first["seq"].as_i64(), seq, "{report:#}");
    assert_eq!(first["kind"], kind, "{report:#}");
    report
}

/// The event hash of `docs/audit.md`, written from the document.
#[allow(clippy::too_many_arguments)]
fn doc_hash(
    seq: i64,
    at: i64,
    actor: Option<i64>,
    action: &str,
    entity: &str,
    before: Option<&str>,
    after: Option<&str>,
    reason: Option<&str>,
    client: Option<&str>,
    prev: &[u8],
) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(if client.is_some() {
        b"concord-audit-v2\0"
    } else {
        b"concord-audit-v1\0"
    });
    h.update(seq.to_be_bytes());
    h.update(at.to_be_bytes());
    match actor {
        None => h.update([0]),
        Some(a) => {
            h.update([1]);
            h.update(a.to_be_bytes());
        }
    }
    let mut fields = vec![Some(action), Some(entity), before, after, reason];
    if client.is_some() {
        fields.push(client);
    }
    for text in fields {
        match text {
            None => h.update([0]),
            Some(t) => {
                h.update([1]);
                h.update((t.len() as u64).to_be_bytes());
                h.update(t.as_bytes());
            }
        }
    }
    h.update(prev);
    h.finalize().to_vec()
}

/// An event's hashed columns, as stored.
type EventRow = (
    i64,
    i64,
    Option<i64>,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Recomputes `hash` and `prev_hash` of every event from `from` on (what an attacker without
/// the key can do), leaving the MACs and the signed head as they were.
fn rehash_from(db: &Connection, from: i64) {
    let mut prev: Vec<u8> = db
        .query_row(
            "SELECT hash FROM audit_events WHERE seq = ?1",
            params![from - 1],
            |r| r.get(0),
        )
        .unwrap_or_else(|_| vec![0; 32]);
    let rows: Vec<EventRow> = db
        .prepare("SELECT seq, at, actor, action, entity, before, after, reason, client FROM audit_events WHERE seq >= ?1 ORDER BY seq")
        .unwrap()
        .query_map(params![from], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (seq, at, actor, action, entity, before, after, reason, client) in rows {
        let hash = doc_hash(
            seq,
            at,
            actor,
            &action,
            &entity,
            before.as_deref(),
            after.as_deref(),
            reason.as_deref(),
            client.as_deref(),
            &prev,
        );
        db.execute(
            "UPDATE audit_events SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
            params![prev, hash, seq],
        )
        .unwrap();
        prev = hash;
    }
}

#[test]
fn an_untouched_database_verifies() {
    let dir = copy();
    let (code, report) = verify_with(dir.path(), &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["intact"], true);
    assert_eq!(report["macs_checked"], true);
    assert_eq!(report["records_checked"]["annotation"], 9);
    assert_eq!(report["records_checked"]["consensus_run"], 1);
    assert_eq!(report["signatures_checked"], 1);
    assert_eq!(report["head_seq"], report["events"]);
    // Every event names the program that wrote it.
    let db = Connection::open(dir.path().join("concord.db")).unwrap();
    let (events, by_cli): (i64, i64) = db
        .query_row(
            "SELECT COUNT(*), SUM(client = ?1) FROM audit_events",
            params![concat!("concord ", env!("CARGO_PKG_VERSION"), " cli")],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(by_cli, events);
    drop(db);
    // The document's encoding is the store's: every stored hash recomputes.
    let db = Connection::open(dir.path().join("concord.db")).unwrap();
    let last = last_seq(&db);
    let before: Vec<Vec<u8>> = db
        .prepare("SELECT hash FROM audit_events ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    drop(db);
    let db = tamper(dir.path());
    rehash_from(&db, 1);
    let after: Vec<Vec<u8>> = db
        .prepare("SELECT hash FROM audit_events ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(before.len() as i64, last);
    assert_eq!(before, after);
}

#[test]
fn an_altered_event_is_named() {
    let dir = copy();
    let db = tamper(dir.path());
    let k = seq_of(&db, "annotation:2");
    db.execute(
        "UPDATE audit_events SET after = replace(after, 'normal', 'effusion') WHERE seq = ?1",
        params![k],
    )
    .unwrap();
    drop(db);
    assert_broken(dir.path(), Some(k), "altered");

    let dir = copy();
    let db = tamper(dir.path());
    db.execute(
        "UPDATE audit_events SET actor = 1 WHERE seq = ?1",
        params![k],
    )
    .unwrap();
    drop(db);
    assert_broken(dir.path(), Some(k), "altered");

    // The program that wrote an event is covered too: changed, or removed (which would make
    // the event read as an old, v1 one), the event no longer matches its hash.
    for change in ["'concord 9.9.9 cli'", "NULL"] {
        let dir = copy();
        let db = tamper(dir.path());
        db.execute(
            &format!("UPDATE audit_events SET client = {change} WHERE seq = ?1"),
            params![k],
        )
        .unwrap();
        drop(db);
        assert_broken(dir.path(), Some(k), "altered");
    }
}

#[test]
fn a_deleted_event_is_named() {
    let dir = copy();
    let db = tamper(dir.path());
    let k = seq_of(&db, "annotation:3");
    db.execute("DELETE FROM audit_events WHERE seq = ?1", params![k])
        .unwrap();
    drop(db);
    assert_broken(dir.path(), Some(k), "deleted");
}

#[test]
fn cutting_off_the_newest_events_is_detected() {
    let dir = copy();
    let db = tamper(dir.path());
    let last = last_seq(&db);
    db.execute(
        "DELETE FROM audit_events WHERE seq >= ?1",
        params![last - 1],
    )
    .unwrap();
    drop(db);
    assert_broken(dir.path(), Some(last - 1), "truncated");

    // Moving the head back to the new last event needs a signature only the key makes.
    let dir = copy();
    let db = tamper(dir.path());
    db.execute("DELETE FROM audit_events WHERE seq = ?1", params![last])
        .unwrap();
    db.execute(
        "UPDATE audit_head SET seq = ?1, hash = (SELECT hash FROM audit_events WHERE seq = ?1)",
        params![last - 1],
    )
    .unwrap();
    drop(db);
    assert_broken(dir.path(), Some(last - 1), "head_invalid");
}

#[test]
fn an_inserted_event_is_named() {
    // At the end, with a correct hash: the application did not write it (no MAC, past the
    // signed head).
    let dir = copy();
    let db = tamper(dir.path());
    let last = last_seq(&db);
    let prev: Vec<u8> = db
        .query_row(
            "SELECT hash FROM audit_events WHERE seq = ?1",
            params![last],
            |r| r.get(0),
        )
        .unwrap();
    let hash = doc_hash(
        last + 1,
        1,
        Some(1),
        "annotation.create",
        "annotation:99",
        None,
        Some("{}"),
        None,
        Some("concord 0.1.0 cli"),
        &prev,
    );
    db.execute(
        "INSERT INTO audit_events VALUES (?1, 1, 1, 'annotation.create', 'annotation:99', NULL, '{}', NULL, ?2, ?3, ?4, 'concord 0.1.0 cli')",
        params![last + 1, prev, hash, vec![0u8; 32]],
    )
    .unwrap();
    drop(db);
    assert_broken(dir.path(), Some(last + 1), "inserted");

    // In the middle: later events renumbered, the chain re-hashed from there.
    let dir = copy();
    let db = tamper(dir.path());
    let k = seq_of(&db, "annotation:4");
    db.execute_batch(&format!(
        "CREATE TEMP TABLE moved AS SELECT * FROM audit_events WHERE seq >= {k};
         DELETE FROM audit_events WHERE seq >= {k};
         INSERT INTO audit_events SELECT seq + 1, at, actor, action, entity, before, after, reason, prev_hash, hash, mac, client FROM moved;
         INSERT INTO audit_events SELECT {k}, at, actor, action, 'annotation:98', before, after, reason, prev_hash, hash, mac, client FROM moved WHERE seq = {k};"
    ))
    .unwrap();
    rehash_from(&db, k);
    drop(db);
    assert_broken(dir.path(), Some(k), "inserted");
}

#[test]
fn swapped_events_are_named() {
    let dir = copy();
    let db = tamper(dir.path());
    let k = seq_of(&db, "annotation:5");
    db.execute_batch(&format!(
        "UPDATE audit_events SET seq = -1 WHERE seq = {k};
         UPDATE audit_events SET seq = {k} WHERE seq = {k} + 1;
         UPDATE audit_events SET seq = {k} + 1 WHERE seq = -1;"
    ))
    .unwrap();
    drop(db);
    assert_broken(dir.path(), Some(k), "reordered");
}

#[test]
fn a_chain_rewritten_with_fresh_hashes_is_located() {
    let dir = copy();
    let db = tamper(dir.path());
    let k = seq_of(&db, "annotation:6");
    let annotation = db
        .query_row(
            "SELECT after FROM audit_events WHERE seq = ?1",
            params![k],
            |r| r.get::<_, String>(0),
        )
        .unwrap();
    // Change the record and its event consistently, then re-hash everything after it and
    // point the head at the new last hash.
    db.execute_batch("UPDATE annotations SET time_spent_ms = 1 WHERE id = 6")
        .unwrap();
    let forged = annotation.replace("\"time_spent_ms\":null", "\"time_spent_ms\":1");
    assert_ne!(forged, annotation, "{annotation}");
    db.execute(
        "UPDATE audit_events SET after = ?1 WHERE seq = ?2",
        params![forged, k],
    )
    .unwrap();
    rehash_from(&db, k);
    db.execute(
        "UPDATE audit_head SET hash = (SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1)",
        [],
    )
    .unwrap();
    drop(db);
    assert_broken(dir.path(), Some(k), "inserted");

    // With the public key only, the rewrite is still detected (the head's signature no longer
    // matches), though not located.
    std::fs::remove_file(dir.path().join("concord.db.audit-key")).unwrap();
    let (code, report) = verify_with(dir.path(), &[]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["macs_checked"], false);
    assert_eq!(report["first_break"]["kind"], "head_invalid", "{report:#}");
}

#[test]
fn records_changed_outside_the_application_are_named() {
    // An annotation.
    let dir = copy();
    let db = tamper(dir.path());
    let k = seq_of(&db, "annotation:7");
    db.execute_batch("UPDATE annotations SET value = '{\"finding\":\"nodule\"}' WHERE id = 7")
        .unwrap();
    drop(db);
    assert_broken(dir.path(), Some(k), "record_changed");

    // An adjudication: its record differs and its signature no longer binds.
    let dir = copy();
    let db = tamper(dir.path());
    let k = seq_of(&db, "adjudication:1");
    db.execute_batch("UPDATE adjudications SET rationale = 'coin toss' WHERE id = 1")
        .unwrap();
    drop(db);
    let report = assert_broken(dir.path(), Some(k), "record_changed");
    let kinds: Vec<&str> = report["breaks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"signature_invalid"), "{report:#}");

    // A consensus label.
    let dir = copy();
    let db = tamper(dir.path());
    let k = seq_of(&db, "consensus_run:1");
    db.execute_batch("UPDATE consensus_labels SET confidence = 0.5 WHERE item_id = 1")
        .unwrap();
    drop(db);
    assert_broken(dir.path(), Some(k), "record_changed");

    // An item's content.
    let dir = copy();
    let db = tamper(dir.path());
    let k = seq_of(&db, "project:1");
    let import: i64 = db
        .query_row(
            "SELECT seq FROM audit_events WHERE action = 'items.import'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(import > k);
    db.execute_batch("UPDATE items SET content = 'other' WHERE id = 2")
        .unwrap();
    drop(db);
    assert_broken(dir.path(), Some(import), "record_changed");

    // A deleted annotation.
    let dir = copy();
    let db = tamper(dir.path());
    let k = seq_of(&db, "annotation:8");
    db.execute_batch("DELETE FROM annotations WHERE id = 8")
        .unwrap();
    drop(db);
    assert_broken(dir.path(), Some(k), "record_deleted");

    // An annotation no event recorded.
    let dir = copy();
    let db = tamper(dir.path());
    db.execute_batch(
        "INSERT INTO annotations (item_id, annotator_id, project_id, protocol_version, value, created_at) \
         VALUES (1, 2, 1, 1, '{\"finding\":\"normal\"}', 5)",
    )
    .unwrap();
    drop(db);
    assert_broken(dir.path(), None, "record_unaudited");
}

#[test]
fn the_application_cannot_update_or_delete_audited_rows() {
    let dir = copy();
    let db = Connection::open(dir.path().join("concord.db")).unwrap();
    for sql in [
        "UPDATE audit_events SET reason = 'x' WHERE seq = 1",
        "DELETE FROM audit_events WHERE seq = 1",
        "UPDATE annotations SET value = '{}' WHERE id = 1",
        "DELETE FROM annotations WHERE id = 1",
        "UPDATE adjudications SET rationale = 'x'",
        "DELETE FROM signatures",
        "UPDATE consensus_labels SET confidence = 0",
        "DELETE FROM protocols",
    ] {
        let err = db.execute_batch(sql).unwrap_err().to_string();
        assert!(
            err.contains("append-only") || err.contains("immutable"),
            "{sql}: {err}"
        );
    }
}

#[test]
fn writes_need_the_audit_key() {
    let dir = copy();
    std::fs::remove_file(dir.path().join("concord.db.audit-key")).unwrap();
    let run = concord(dir.path(), &["user", "add", "zoe", "--role", "annotator"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("audit key"), "{}", run.stderr);
    // Reading and verifying still work, with the public half.
    let (code, report) = verify_with(dir.path(), &[]);
    assert_eq!(code, 0, "{report:#}");
    // A different key is refused rather than used to sign the chain.
    write(dir.path(), "other.key", format!("{}\n", "ab".repeat(32)));
    let run = concord(
        dir.path(),
        &[
            "user",
            "add",
            "zoe",
            "--role",
            "annotator",
            "--audit-key",
            "other.key",
        ],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("not the key that signed"),
        "{}",
        run.stderr
    );
}

/// Retention through the command line: a held project cannot be deleted (exit 2, audited);
/// released, deleted and past its period, `retention purge` removes its records and the chain
/// still verifies; a backup taken before the purge verifies on its own and keeps them.
#[test]
fn holds_deletion_purge_and_backup() {
    let dir = copy();
    let d = dir.path();
    let held = run_ok(
        d,
        &["retention", "hold", "cxr", "--reason", "litigation 2026-17"],
    );
    assert!(held.contains("legal hold #1"), "{held}");
    let refused = concord(d, &["project", "delete", "cxr", "--reason", "closing out"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("legal hold #1"),
        "{}",
        refused.stderr
    );
    let log = run_ok(d, &["audit", "log", "--entity", "project:1", "--json"]);
    assert!(log.contains("project.delete.refused"), "{log}");
    let kept = run_ok(d, &["retention", "purge", "--dry-run"]);
    assert!(kept.contains("cxr: kept: under legal hold #1"), "{kept}");

    run_ok(
        d,
        &[
            "retention",
            "release",
            "cxr",
            "1",
            "--reason",
            "matter closed",
        ],
    );
    run_ok(
        d,
        &[
            "retention",
            "set",
            "cxr",
            "--days",
            "0",
            "--reason",
            "test policy",
        ],
    );
    let deleted = run_ok(d, &["project", "delete", "cxr", "--reason", "closing out"]);
    assert!(deleted.contains("may be purged from"), "{deleted}");
    let shown = run_ok(d, &["retention", "show", "cxr"]);
    assert!(
        shown.contains("kept 0 days") && shown.contains("released") && shown.contains("deleted"),
        "{shown}"
    );
    run_ok(d, &["backup", "-o", "before-purge.db"]);
    let purged = run_ok(d, &["retention", "purge", "--json"]);
    let outcomes: serde_json::Value = serde_json::from_str(&purged).unwrap();
    assert_eq!(outcomes[0]["project"], "cxr");
    assert_eq!(outcomes[0]["purged"]["removed"]["annotations"], 9);
    assert_eq!(outcomes[0]["purged"]["removed"]["items"], 3);
    let (code, report) = verify_with(d, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["records_checked"]["purge"], 1, "{report:#}");
    let exported = concord(d, &["export", "cxr"]);
    assert!(!exported.stdout.contains("r-1"), "{}", exported.stdout);
    let status = concord(d, &["status", "cxr"]);
    assert_eq!(status.code, 2);
    assert!(status.stderr.contains("was purged"), "{}", status.stderr);

    // The backup: the records as they were, and a chain that verifies with the same key.
    let (code, report) = verify_with(
        d,
        &[
            "--db",
            "before-purge.db",
            "--audit-key",
            "concord.db.audit-key",
        ],
    );
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["records_checked"]["annotation"], 9, "{report:#}");
    let again = concord(d, &["backup", "-o", "before-purge.db"]);
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(again.stderr.contains("exists"), "{}", again.stderr);
}
