//! Record retention (P11-10c-1): legal holds refuse deletion (audited), deletion is logical,
//! and the purge job removes only expired records with no hold, logging each purge, while the
//! audit trail still verifies; a backup restores to a database that verifies and holds the
//! same records.

use crate::util::{add_user, core, items_file, key, settings};
use concord_core::CoreError;
use concord_core::release::Purpose;
use concord_store::{AuditFilter, Role, SqliteStore, Store};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Debug)]
struct MovableClock(AtomicI64);

impl concord_core::service::Clock for MovableClock {
    fn now(&self) -> concord_store::Millis {
        self.0.load(Ordering::SeqCst)
    }
}

const DAY: i64 = 86_400_000;

/// Two reads per item; an item the two readers split on goes to adjudication.
fn disputed() -> concord_core::policy::Settings {
    concord_core::policy::Settings {
        accept: Some(0.99),
        ..settings("fixed:2")
    }
}

/// Labels every item of `project` twice, runs consensus, adjudicates one item (signed) and
/// cuts a signed release: every kind of record a purge must remove.
async fn fill(core: &concord_core::Core, admin: &concord_store::User, project: &str) {
    let annotators = [
        add_user(core, admin, &format!("{project}-a"), vec![Role::Annotator]).await,
        add_user(core, admin, &format!("{project}-b"), vec![Role::Annotator]).await,
    ];
    for (i, annotator) in annotators.iter().enumerate() {
        while let Some(task) = core.next(project, annotator).await.unwrap() {
            let class = if i == 0 { "normal" } else { "effusion" };
            core.submit(
                project,
                annotator,
                &task.item,
                &format!("{{\"finding\": \"{class}\"}}"),
                Some(1000),
            )
            .await
            .unwrap();
        }
    }
    core.consensus(admin, project, None).await.unwrap();
    core.adjudicate(
        admin,
        project,
        "it-0001",
        "{\"finding\": \"normal\"}",
        "read the prior study",
        "secret",
    )
    .await
    .unwrap();
    core.create_release(admin, project, "v1", Purpose::Reference, "secret")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_refuse_deletion_and_the_purge_removes_only_expired_records() {
    let dir = tempfile::tempdir().unwrap();
    let (core, admin) = core(dir.path()).await;
    let start = 1_800_000_000_000;
    let clock = Arc::new(MovableClock(start.into()));
    let core = core.with_clock(clock.clone());
    let items = dir.path().join("items.jsonl");
    items_file(&items, 6, 0, 3);
    for project in ["kept", "held", "gone"] {
        core.create_project(&admin, project, crate::util::PROTOCOL, disputed())
            .await
            .unwrap();
        core.import_items(&admin, project, &items).await.unwrap();
        fill(&core, &admin, project).await;
    }

    // Retention changes are the administrator's, with a reason.
    let manager = add_user(&core, &admin, "manager", vec![Role::Manager]).await;
    assert!(matches!(
        core.set_retention(&manager, "gone", Some(30), "policy")
            .await,
        Err(CoreError::Forbidden(_))
    ));
    assert!(matches!(
        core.set_retention(&admin, "gone", Some(30), "  ").await,
        Err(CoreError::Invalid(_))
    ));
    for project in ["kept", "held", "gone"] {
        core.set_retention(&admin, project, Some(30), "SOP-12: 30 days after closeout")
            .await
            .unwrap();
    }

    // A held project cannot be deleted; the refusal is audited and changes nothing else.
    let hold = core
        .place_hold(&admin, "held", "litigation 2026-17")
        .await
        .unwrap();
    let refused = core
        .delete_project(&admin, "held", "closing out")
        .await
        .unwrap_err();
    assert!(matches!(refused, CoreError::Conflict(_)), "{refused}");
    assert!(
        refused.to_string().contains("legal hold") && refused.to_string().contains("2026-17"),
        "{refused}"
    );
    let held_id = core.store().project("held").await.unwrap().id;
    let events = core
        .store()
        .audit_events(AuditFilter {
            entity: Some(format!("project:{held_id}")),
            ..Default::default()
        })
        .await
        .unwrap();
    let refusal = events
        .iter()
        .find(|e| e.action == "project.delete.refused")
        .expect("the refusal is audited");
    assert_eq!(refusal.reason.as_deref(), Some("closing out"));
    assert!(core.retention("held").await.unwrap().deleted.is_none());

    // Deletion is logical: the records stay, the project takes nothing new.
    clock.0.store(start + DAY, Ordering::SeqCst);
    assert_eq!(core.status("gone").await.unwrap().annotations, 12);
    let state = core
        .delete_project(&admin, "gone", "study closed out")
        .await
        .unwrap();
    assert_eq!(state.expires_at(), Some(start + 31 * DAY));
    assert_eq!(core.export(&admin, "gone").await.unwrap().len(), 6);
    let late = add_user(&core, &admin, "late", vec![Role::Annotator]).await;
    let closed = core.next("gone", &late).await.unwrap_err();
    assert!(closed.to_string().contains("deleted"), "{closed}");
    assert!(matches!(closed, CoreError::Conflict(_)), "{closed}");
    let import = core.import_items(&admin, "gone", &items).await;
    assert!(import.is_err());
    // The hold is released later; the project is deleted after it.
    core.release_hold(&admin, "held", hold.id, "matter closed")
        .await
        .unwrap();
    clock.0.store(start + 2 * DAY, Ordering::SeqCst);
    core.delete_project(&admin, "held", "closing out")
        .await
        .unwrap();
    core.place_hold(&admin, "held", "a second matter")
        .await
        .unwrap();

    // Before the period runs out nothing is purged.
    clock.0.store(start + 31 * DAY - 1, Ordering::SeqCst);
    let outcomes = core.purge_expired(&admin, false).await.unwrap();
    assert!(outcomes.iter().all(|o| o.purged.is_none()), "{outcomes:?}");
    let why = |name: &str| {
        outcomes
            .iter()
            .find(|o| o.project == name)
            .unwrap()
            .kept_because
            .clone()
            .unwrap()
    };
    assert!(why("gone").contains("runs until"), "{}", why("gone"));
    assert!(why("kept").contains("not deleted"), "{}", why("kept"));
    assert!(why("held").contains("legal hold"), "{}", why("held"));

    // Past it: only the expired project without a hold is purged, and the purge is logged.
    clock.0.store(start + 40 * DAY, Ordering::SeqCst);
    let dry = core.purge_expired(&admin, true).await.unwrap();
    assert!(dry.iter().all(|o| o.purged.is_none()));
    assert!(core.export(&admin, "gone").await.unwrap().len() == 6);
    let outcomes = core.purge_expired(&admin, false).await.unwrap();
    let purged: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.purged.is_some())
        .map(|o| o.project.as_str())
        .collect();
    assert_eq!(purged, ["gone"]);
    let report = outcomes
        .iter()
        .find(|o| o.project == "gone")
        .and_then(|o| o.purged.as_ref())
        .unwrap();
    assert_eq!(report.removed["items"], 6);
    assert_eq!(report.removed["annotations"], 12);
    assert!(report.removed["signatures"] >= 2, "{:?}", report.removed);
    assert_eq!(report.removed["releases"], 1);
    assert_eq!(report.removed["consensus_runs"], 1);
    let gone_id = core.store().project("gone").await.unwrap().id;
    let log = core
        .store()
        .audit_events(AuditFilter::default())
        .await
        .unwrap();
    let purge = log
        .iter()
        .find(|e| e.action == "project.purge")
        .expect("the purge is logged");
    assert_eq!(purge.seq, report.seq);
    assert_eq!(
        purge.before.as_ref().unwrap()["project_id"],
        gone_id,
        "{purge:?}"
    );
    assert!(core.store().items(gone_id).await.unwrap().is_empty());
    // The dashboard's in-memory log of the project does not outlive the purge, and asking for
    // its status says why there is none.
    let purged_status = core.status("gone").await.unwrap_err();
    assert!(
        purged_status.to_string().contains("purged"),
        "{purged_status}"
    );
    assert!(core.store().annotations(gone_id).await.unwrap().is_empty());
    assert!(core.retention("gone").await.unwrap().purged.is_some());
    // The other projects keep every record.
    for project in ["kept", "held"] {
        assert_eq!(core.export(&admin, project).await.unwrap().len(), 6);
    }
    // A purged project cannot be purged again, and its retention no longer changes.
    assert!(
        core.set_retention(&admin, "gone", None, "undo")
            .await
            .is_err()
    );

    // The chain verifies: every removed record is listed by the purge event.
    let report = core.store().verify_audit(&key().verifier()).await.unwrap();
    assert!(report.intact, "{:?}", report.breaks);
    for kind in [
        "retention_policy",
        "legal_hold",
        "legal_hold_release",
        "project_deletion",
        "purge",
    ] {
        assert!(
            report.records_checked[kind] >= 1,
            "{kind}: {:?}",
            report.records_checked
        );
    }
}

/// A record removed without a purge event is reported as deleted, even in a database where a
/// purge happened; a hold removed behind the application's back is reported too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removal_outside_a_purge_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let (core, admin) = core(dir.path()).await;
    let items = dir.path().join("items.jsonl");
    items_file(&items, 4, 0, 5);
    for project in ["a", "b"] {
        core.create_project(&admin, project, crate::util::PROTOCOL, disputed())
            .await
            .unwrap();
        core.import_items(&admin, project, &items).await.unwrap();
        fill(&core, &admin, project).await;
    }
    core.set_retention(&admin, "a", Some(0), "test")
        .await
        .unwrap();
    core.delete_project(&admin, "a", "test").await.unwrap();
    core.purge_expired(&admin, false).await.unwrap();
    core.place_hold(&admin, "b", "matter").await.unwrap();
    let b = core.store().project("b").await.unwrap().id;
    drop(core);

    let db = dir.path().join("test.db");
    let raw = rusqlite::Connection::open(&db).unwrap();
    // The application's triggers refuse the deletion; a person with the file drops them.
    assert!(
        raw.execute(
            &format!("DELETE FROM annotations WHERE project_id = {b}"),
            []
        )
        .is_err()
    );
    raw.execute_batch(&format!(
        "DROP TRIGGER annotations_no_delete; DROP TRIGGER legal_holds_no_delete;
         DELETE FROM annotations WHERE id = (SELECT MAX(id) FROM annotations WHERE project_id = {b});
         DELETE FROM legal_holds WHERE project_id = {b};"
    ))
    .unwrap();
    drop(raw);
    let store = SqliteStore::open(&db, key()).await.unwrap();
    let report = store.verify_audit(&key().verifier()).await.unwrap();
    assert!(!report.intact);
    let details: Vec<&str> = report.breaks.iter().map(|b| b.detail.as_str()).collect();
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("annotation #") && d.contains("is gone")),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("legal_hold #") && d.contains("is gone")),
        "{details:?}"
    );
    assert_eq!(details.len(), 2, "{details:?}");
}

/// A backup taken while the database is open verifies on its own and holds the same records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_restores_to_a_database_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (core, admin) = core(dir.path()).await;
    let items = dir.path().join("items.jsonl");
    items_file(&items, 5, 0, 9);
    core.create_project(&admin, "p", crate::util::PROTOCOL, disputed())
        .await
        .unwrap();
    core.import_items(&admin, "p", &items).await.unwrap();
    fill(&core, &admin, "p").await;
    let copy = dir.path().join("backup.db");
    let annotator = add_user(&core, &admin, "refused", vec![Role::Annotator]).await;
    assert!(matches!(
        core.backup(&annotator, &copy).await,
        Err(CoreError::Forbidden(_))
    ));
    core.backup(&admin, &copy).await.unwrap();
    assert!(matches!(
        core.backup(&admin, &copy).await,
        Err(CoreError::Conflict(_))
    ));
    let original = core.export(&admin, "p").await.unwrap();
    let original_events = core
        .store()
        .audit_events(AuditFilter::default())
        .await
        .unwrap();

    let restored = SqliteStore::open(&copy, key()).await.unwrap();
    let report = restored.verify_audit(&key().verifier()).await.unwrap();
    assert!(report.intact, "{:?}", report.breaks);
    let restored_core = concord_core::Core::new(Arc::new(restored));
    assert_eq!(restored_core.export(&admin, "p").await.unwrap(), original);
    let events = restored_core
        .store()
        .audit_events(AuditFilter::default())
        .await
        .unwrap();
    assert_eq!(events.len(), original_events.len());
    for (a, b) in events.iter().zip(&original_events) {
        assert_eq!(a.hash, b.hash);
    }
}
