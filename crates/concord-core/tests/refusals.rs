//! Bad input is refused with a clear message, and the database is unchanged afterwards.

use crate::util::{add_user, core, fingerprint, items_file, settings};
use concord_core::CoreError;
use concord_store::Role;
use std::sync::Arc;
use std::sync::atomic::Ordering;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_leaves_the_database_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (core, admin) = core(dir.path()).await;
    let items = dir.path().join("items.jsonl");
    items_file(&items, 10, 0, 1);
    core.create_project(&admin, "p", crate::util::PROTOCOL, settings("fixed:2"))
        .await
        .unwrap();
    core.import_items(&admin, "p", &items).await.unwrap();
    let ann = add_user(&core, &admin, "ann", vec![Role::Annotator]).await;
    let bob = add_user(&core, &admin, "bob", vec![Role::Annotator]).await;
    let task = core.next("p", &ann).await.unwrap().unwrap();
    let store = core.store().clone();
    let before = fingerprint(&store).await;

    // Each refusal: (what, the error, text the message must contain).
    let bad_import = dir.path().join("bad.jsonl");
    std::fs::write(&bad_import, "{\"id\": \"new-1\", \"text\": \"x\"}\n{\"id\": \"new-2\", \"text\": \"y\"}\n{\"id\": \"new-3\"\n").unwrap();
    let duplicate_import = dir.path().join("dup.jsonl");
    std::fs::write(
        &duplicate_import,
        "{\"id\": \"new-9\", \"text\": \"x\"}\n{\"id\": \"it-0003\", \"text\": \"y\"}\n",
    )
    .unwrap();
    let bad_gold = dir.path().join("gold.jsonl");
    std::fs::write(
        &bad_gold,
        "{\"id\": \"new-7\", \"text\": \"x\", \"gold\": \"pneumothorax\"}\n",
    )
    .unwrap();
    let cases: Vec<(&str, CoreError, &str)> = vec![
        (
            "invalid protocol",
            core.create_project(
                &admin,
                "q",
                "name: q\ntasks:\n  - {id: t, type: single, classes: [{id: a}]}",
                settings("fixed:2"),
            )
            .await
            .unwrap_err(),
            "at least two classes",
        ),
        (
            "protocol syntax",
            core.create_project(&admin, "q", "name: [unclosed", settings("fixed:2"))
                .await
                .unwrap_err(),
            "protocol",
        ),
        (
            "malformed import line",
            core.import_items(&admin, "p", &bad_import)
                .await
                .unwrap_err(),
            "bad.jsonl:3",
        ),
        (
            "duplicate id in the project",
            core.import_items(&admin, "p", &duplicate_import)
                .await
                .unwrap_err(),
            "it-0003",
        ),
        (
            "gold outside the protocol",
            core.import_items(&admin, "p", &bad_gold).await.unwrap_err(),
            "gold.jsonl:1",
        ),
        (
            "value outside the protocol",
            core.submit("p", &ann, &task.item, "pneumothorax", None)
                .await
                .unwrap_err(),
            "task `finding`: `pneumothorax` is not a class",
        ),
        (
            "another annotator's lease",
            core.submit("p", &bob, &task.item, "normal", None)
                .await
                .unwrap_err(),
            "no active lease",
        ),
        (
            "unknown item",
            core.submit("p", &ann, "nope", "normal", None)
                .await
                .unwrap_err(),
            "item `nope` not found",
        ),
        (
            "unknown user",
            core.user("mallory").await.unwrap_err(),
            "user `mallory` not found",
        ),
        (
            "unknown project",
            core.status("nope").await.unwrap_err(),
            "project `nope` not found",
        ),
        (
            "annotator creating users",
            core.add_user(
                &ann,
                concord_core::service::UserRequest {
                    name: "x".into(),
                    roles: vec![Role::Admin],
                    password: None,
                    qualification: None,
                    cost: 1.0,
                },
            )
            .await
            .unwrap_err(),
            "needs the admin role",
        ),
        (
            "annotator running consensus",
            core.consensus(&ann, "p", None).await.unwrap_err(),
            "needs the manager role",
        ),
        (
            "adjudicating outside the queue",
            {
                let adj = core.user("admin").await.unwrap();
                core.adjudicate(&adj, "p", &task.item, "normal", "because", "secret")
                    .await
                    .unwrap_err()
            },
            "not in the adjudication queue",
        ),
        (
            "wrong password",
            core.authenticate("admin", "guess").await.unwrap_err(),
            "wrong user name or password",
        ),
    ];
    for (what, err, needle) in &cases {
        assert!(err.to_string().contains(needle), "{what}: {err}");
    }
    assert_eq!(
        fingerprint(&store).await,
        before,
        "a refusal changed the database"
    );
    // The lease survived every refusal: the annotator can still submit.
    core.submit("p", &ann, &task.item, "normal", None)
        .await
        .unwrap();
    assert!(core.authenticate("admin", "secret").await.is_ok());
}

/// A clock that can be moved forward.
#[derive(Debug)]
struct MovableClock(std::sync::atomic::AtomicI64);

impl concord_core::service::Clock for MovableClock {
    fn now(&self) -> concord_store::Millis {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Three wrong signing passwords in fifteen minutes lock the signer's signing, even with the
/// right password, until the first of them is fifteen minutes old; every attempt is audited,
/// other signers are unaffected, and the chain still verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_locks_after_three_wrong_passwords() {
    use concord_core::service::{SIGNING_ATTEMPTS, SIGNING_LOCKOUT};
    let dir = tempfile::tempdir().unwrap();
    let (core, admin) = core(dir.path()).await;
    let start = 1_800_000_000_000;
    let clock = Arc::new(MovableClock(start.into()));
    let core = core.with_clock(clock.clone());
    let adj = add_user(&core, &admin, "adj", vec![Role::Adjudicator]).await;
    let minute = 60_000;
    for attempt in 0..SIGNING_ATTEMPTS {
        clock
            .0
            .store(start + attempt as i64 * minute, Ordering::SeqCst);
        let err = core
            .reauthenticate(&adj, "guess", "a test")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("is wrong"), "{err}");
    }
    clock.0.store(start + 10 * minute, Ordering::SeqCst);
    let locked = core
        .reauthenticate(&adj, "secret", "a test")
        .await
        .unwrap_err();
    assert!(matches!(locked, CoreError::Forbidden(_)));
    let message = locked.to_string();
    assert!(
        message.contains("locked") && message.contains("2027-01-15T08:15:00Z"),
        "{message}"
    );
    // Others sign as usual.
    core.reauthenticate(&admin, "secret", "a test")
        .await
        .unwrap();
    // The lock lifts when the first wrong password is fifteen minutes old.
    let lifted = start + SIGNING_LOCKOUT.as_millis() as i64;
    clock.0.store(lifted - 1, Ordering::SeqCst);
    assert!(core.reauthenticate(&adj, "secret", "a test").await.is_err());
    clock.0.store(lifted, Ordering::SeqCst);
    core.reauthenticate(&adj, "secret", "a test").await.unwrap();
    let events = core
        .store()
        .audit_events(concord_store::AuditFilter {
            entity: Some(format!("user:{}", adj.id)),
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "signature.refused")
            .count(),
        SIGNING_ATTEMPTS
    );
    assert_eq!(
        actions.iter().filter(|a| **a == "signature.locked").count(),
        2
    );
    let report = core
        .verify_audit(&admin, &crate::util::key().verifier())
        .await
        .unwrap();
    assert!(report.intact, "{:?}", report.first_break);
}
