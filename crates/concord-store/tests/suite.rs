//! Every store operation, constraint and transaction boundary.

use crate::util::{protocol, store_test, user};
use concord_store::*;
use serde_json::json;

fn item(id: &str, gold: Option<&str>) -> NewItem {
    NewItem {
        external_id: id.into(),
        kind: "text".into(),
        content: format!("text of {id}"),
        content_sha256: "00".into(),
        metadata: json!({"site": 1}),
        gold: gold.map(|g| json!({"t": g})),
    }
}

fn keep_open(n: i64) -> impl Fn(&[Annotation]) -> ItemDecision + Send + Sync {
    move |annotations: &[Annotation]| ItemDecision {
        needed: n,
        phase: if annotations.len() as i64 >= n {
            ItemPhase::Complete
        } else {
            ItemPhase::Open
        },
        label: annotations.last().map(|a| a.value.clone()),
        confidence: Some(0.5),
        reason: None,
    }
}

fn lease_request(
    project_id: i64,
    annotator_id: i64,
    purpose: Purpose,
    now: Millis,
) -> LeaseRequest {
    LeaseRequest {
        project_id,
        annotator_id,
        purpose,
        protocol_version: 1,
        now,
        lease_ms: 1000,
        item_id: None,
    }
}

store_test!(users_are_unique_and_round_trip, |store| {
    let u = store
        .create_user(user("ann", &[Role::Annotator, Role::Auditor]), None, 5)
        .await
        .unwrap();
    assert_eq!(u.roles, [Role::Annotator, Role::Auditor]);
    assert_eq!(store.user("ann").await.unwrap(), u);
    assert_eq!(store.user_by_id(u.id).await.unwrap(), u);
    let err = store
        .create_user(user("ann", &[Role::Admin]), None, 6)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(ref m) if m.contains("ann")),
        "{err}"
    );
    assert!(matches!(
        store.user("nobody").await.unwrap_err(),
        StoreError::NotFound(_)
    ));
    assert_eq!(store.users().await.unwrap().len(), 1);
});

store_test!(projects_and_protocol_versions, |store| {
    let (p, v1) = store
        .create_project("p", json!({"x": 1}), protocol(), 1)
        .await
        .unwrap();
    assert_eq!(v1.version, 1);
    assert_eq!(v1.schema_sha256.len(), 64);
    let err = store
        .create_project("p", json!({}), protocol(), 2)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)));
    let mut second = protocol();
    second.note = "add class c".into();
    let v2 = store.add_protocol(p.id, second, 3).await.unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(store.protocol(p.id, None).await.unwrap().version, 2);
    assert_eq!(
        store.protocol(p.id, Some(1)).await.unwrap(),
        v1,
        "old versions are immutable"
    );
    assert!(matches!(
        store.protocol(p.id, Some(9)).await.unwrap_err(),
        StoreError::NotFound(_)
    ));
    assert_eq!(store.projects().await.unwrap(), vec![p]);
});

store_test!(imports_are_all_or_nothing, |store| {
    let (p, _) = store
        .create_project("p", json!({}), protocol(), 1)
        .await
        .unwrap();
    assert_eq!(
        store
            .import_items(
                p.id,
                vec![item("a", None), item("g", Some("a"))],
                3,
                None,
                1
            )
            .await
            .unwrap(),
        2
    );
    // The second batch repeats `a`: nothing of it may stay.
    let err = store
        .import_items(p.id, vec![item("b", None), item("a", None)], 3, None, 2)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(ref m) if m.contains("`a`")),
        "{err}"
    );
    let items = store.items(p.id).await.unwrap();
    assert_eq!(
        items
            .iter()
            .map(|i| i.external_id.as_str())
            .collect::<Vec<_>>(),
        ["a", "g"]
    );
    let states = store.item_states(p.id).await.unwrap();
    assert_eq!((states[0].phase, states[0].needed), (ItemPhase::Open, 3));
    assert_eq!(
        (states[1].phase, states[1].is_gold),
        (ItemPhase::Gold, true)
    );
    assert_eq!(
        store.item(p.id, "g").await.unwrap().gold,
        Some(json!({"t": "a"}))
    );
});

store_test!(leases_respect_overlap_and_never_repeat, |store| {
    let (p, _) = store
        .create_project("p", json!({}), protocol(), 1)
        .await
        .unwrap();
    store
        .import_items(p.id, vec![item("a", None), item("b", None)], 2, None, 1)
        .await
        .unwrap();
    let mut annotators = Vec::new();
    for name in ["u1", "u2", "u3"] {
        annotators.push(
            store
                .create_user(user(name, &[Role::Annotator]), None, 1)
                .await
                .unwrap(),
        );
    }
    // u1 and u2 take `a` (import order, while it needs labels); u3 gets `b`.
    let l1 = store
        .lease(lease_request(p.id, annotators[0].id, Purpose::Regular, 10))
        .await
        .unwrap()
        .unwrap();
    let l2 = store
        .lease(lease_request(p.id, annotators[1].id, Purpose::Regular, 10))
        .await
        .unwrap()
        .unwrap();
    let l3 = store
        .lease(lease_request(p.id, annotators[2].id, Purpose::Regular, 10))
        .await
        .unwrap()
        .unwrap();
    let a = store.item(p.id, "a").await.unwrap().id;
    assert_eq!((l1.item_id, l2.item_id), (a, a));
    assert_ne!(l3.item_id, a);
    assert_eq!(store.item_state(a).await.unwrap().n_leased, 2);
    // Submitting closes the lease; the same annotator never gets `a` again.
    let decide = keep_open(2);
    let s = store
        .submit(
            NewAnnotation {
                item_id: a,
                annotator_id: annotators[0].id,
                value: json!({"t": "a"}),
                time_spent_ms: None,
                now: 11,
            },
            None,
            &decide,
        )
        .await
        .unwrap();
    assert_eq!(
        (s.state.n_labels, s.state.n_leased, s.purpose),
        (1, 1, Purpose::Regular)
    );
    let again = store
        .lease(lease_request(p.id, annotators[0].id, Purpose::Regular, 12))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(again.item_id, a);
    // A second submission of the same annotator on the same item has no lease.
    let err = store
        .submit(
            NewAnnotation {
                item_id: a,
                annotator_id: annotators[0].id,
                value: json!({"t": "b"}),
                time_spent_ms: None,
                now: 13,
            },
            None,
            &decide,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)));
    assert_eq!(
        store.item_annotations(a).await.unwrap().len(),
        1,
        "nothing stored by the refused submission"
    );
});

store_test!(expired_leases_are_released, |store| {
    let (p, _) = store
        .create_project("p", json!({}), protocol(), 1)
        .await
        .unwrap();
    store
        .import_items(p.id, vec![item("a", None)], 1, None, 1)
        .await
        .unwrap();
    let u1 = store
        .create_user(user("u1", &[Role::Annotator]), None, 1)
        .await
        .unwrap();
    let u2 = store
        .create_user(user("u2", &[Role::Annotator]), None, 1)
        .await
        .unwrap();
    store
        .lease(lease_request(p.id, u1.id, Purpose::Regular, 0))
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .lease(lease_request(p.id, u2.id, Purpose::Regular, 500))
            .await
            .unwrap()
            .is_none(),
        "the only slot is leased"
    );
    assert!(
        store
            .active_lease(p.id, u1.id, 500)
            .await
            .unwrap()
            .is_some()
    );
    // After expiry (lease_ms = 1000) the slot is free again, and u1's late submission is refused.
    let l2 = store
        .lease(lease_request(p.id, u2.id, Purpose::Regular, 1500))
        .await
        .unwrap();
    assert!(l2.is_some());
    let decide = keep_open(1);
    let err = store
        .submit(
            NewAnnotation {
                item_id: l2.unwrap().item_id,
                annotator_id: u1.id,
                value: json!({"t": "a"}),
                time_spent_ms: None,
                now: 1600,
            },
            None,
            &decide,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)));
    assert_eq!(
        store.assignment_counts(p.id, u1.id).await.unwrap(),
        (0, 0, 0),
        "expired leases do not count"
    );
});

store_test!(gold_leases_and_enrolment, |store| {
    let (p, _) = store
        .create_project("p", json!({}), protocol(), 1)
        .await
        .unwrap();
    store
        .import_items(
            p.id,
            vec![
                item("g1", Some("a")),
                item("g2", Some("b")),
                item("r", None),
            ],
            1,
            None,
            1,
        )
        .await
        .unwrap();
    let u = store
        .create_user(user("u", &[Role::Annotator]), None, 1)
        .await
        .unwrap();
    let lease = store
        .lease(lease_request(p.id, u.id, Purpose::Qualification, 1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lease.purpose, Purpose::Qualification);
    let g1 = store.item(p.id, "g1").await.unwrap().id;
    assert_eq!(lease.item_id, g1);
    let decide = keep_open(1);
    let enrolment = Enrolment {
        reason: None,
        phase: Phase::Qualifying,
        gold_answered: 1,
        gold_correct: 1,
    };
    let s = store
        .submit(
            NewAnnotation {
                item_id: g1,
                annotator_id: u.id,
                value: json!({"t": "a"}),
                time_spent_ms: Some(3000),
                now: 2,
            },
            Some(enrolment.clone()),
            &decide,
        )
        .await
        .unwrap();
    assert_eq!(
        s.state.phase,
        ItemPhase::Gold,
        "gold items keep their phase"
    );
    assert_eq!(
        store.enrolment(p.id, u.id).await.unwrap(),
        Some(enrolment.clone())
    );
    assert_eq!(
        store.assignment_counts(p.id, u.id).await.unwrap(),
        (0, 0, 1)
    );
    assert_eq!(
        store
            .annotators_in_phase(p.id, Phase::Qualifying)
            .await
            .unwrap(),
        vec![u.id]
    );
    let probation = Enrolment {
        reason: Some("gold accuracy 0.50".into()),
        phase: Phase::Probation,
        ..enrolment
    };
    store
        .set_enrolment(p.id, u.id, probation, None, 3)
        .await
        .unwrap();
    assert!(
        store
            .annotators_in_phase(p.id, Phase::Qualifying)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .annotators_in_phase(p.id, Phase::Probation)
            .await
            .unwrap(),
        vec![u.id]
    );
});

store_test!(retired_gold_is_never_leased_again, |store| {
    let (p, _) = store
        .create_project("p", json!({}), protocol(), 1)
        .await
        .unwrap();
    store
        .import_items(
            p.id,
            vec![item("g1", Some("a")), item("g2", Some("b"))],
            1,
            None,
            1,
        )
        .await
        .unwrap();
    let g1 = store.item(p.id, "g1").await.unwrap().id;
    let g2 = store.item(p.id, "g2").await.unwrap().id;
    let u = store
        .create_user(user("u", &[Role::Annotator]), None, 1)
        .await
        .unwrap();
    assert!(
        store
            .retire_gold(g1, "over-exposed", None, 2)
            .await
            .unwrap()
    );
    assert!(
        !store.retire_gold(g1, "again", None, 3).await.unwrap(),
        "retiring twice writes nothing"
    );
    assert_eq!(store.retired_gold(p.id).await.unwrap(), vec![g1]);
    let lease = store
        .lease(lease_request(p.id, u.id, Purpose::Gold, 4))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lease.item_id, g2, "the retired item is skipped");
    let v = store
        .create_user(user("v", &[Role::Annotator]), None, 5)
        .await
        .unwrap();
    assert!(
        store
            .retire_gold(g2, "over-exposed", None, 6)
            .await
            .unwrap()
    );
    assert!(
        store
            .lease(lease_request(p.id, v.id, Purpose::Gold, 7))
            .await
            .unwrap()
            .is_none(),
        "no gold left in service"
    );
});

store_test!(runs_skills_and_decisions, |store| {
    let (p, _) = store
        .create_project("p", json!({}), protocol(), 1)
        .await
        .unwrap();
    store
        .import_items(p.id, vec![item("a", None)], 1, None, 1)
        .await
        .unwrap();
    let a = store.item(p.id, "a").await.unwrap().id;
    let run = store
        .record_run(NewConsensusRun {
            project_id: p.id,
            method: "ds".into(),
            method_version: "0.1.0".into(),
            parameters: json!({"seed": 0}),
            seed: 0,
            protocol_version: 1,
            task_id: "t".into(),
            input_sha256: "ab".into(),
            n_annotations: 0,
            iterations: 3,
            converged: true,
            run_by: None,
            now: 5,
            labels: vec![NewConsensusLabel {
                item_id: a,
                label: json!({"t": "b"}),
                confidence: 0.6,
                posterior: json!({"a": 0.4, "b": 0.6}),
                status: "needs_adjudication".into(),
                decision: Some(ItemDecision {
                    needed: 1,
                    phase: ItemPhase::Adjudication,
                    label: Some(json!({"t": "b"})),
                    confidence: Some(0.6),
                    reason: Some("low".into()),
                }),
                decided_from: (0, ItemPhase::Open),
            }],
            skills: vec![],
            deviation: None,
        })
        .await
        .unwrap();
    assert_eq!((run.n_items, run.iterations, run.converged), (1, 3, true));
    assert_eq!(store.latest_run(p.id).await.unwrap().unwrap(), run);
    assert_eq!(
        store.item_state(a).await.unwrap().phase,
        ItemPhase::Adjudication
    );
    assert!(store.run_skills(run.id).await.unwrap().is_empty());
    // A run whose decision was made from an older state (the item was labelled, or changed
    // phase, while the method ran) stores its label but leaves the newer state alone.
    for decided_from in [(0, ItemPhase::Open), (3, ItemPhase::Adjudication)] {
        let stale = store
            .record_run(NewConsensusRun {
                project_id: p.id,
                method: "ds".into(),
                method_version: "0.1.0".into(),
                parameters: json!({"seed": 0}),
                seed: 0,
                protocol_version: 1,
                task_id: "t".into(),
                input_sha256: "cd".into(),
                n_annotations: 0,
                iterations: 1,
                converged: true,
                run_by: None,
                now: 6,
                labels: vec![NewConsensusLabel {
                    item_id: a,
                    label: json!({"t": "a"}),
                    confidence: 0.99,
                    posterior: json!({"a": 0.99, "b": 0.01}),
                    status: "auto".into(),
                    decision: Some(ItemDecision {
                        needed: 1,
                        phase: ItemPhase::Complete,
                        label: Some(json!({"t": "a"})),
                        confidence: Some(0.99),
                        reason: None,
                    }),
                    decided_from,
                }],
                skills: vec![],
                deviation: None,
            })
            .await
            .unwrap();
        assert_eq!(store.latest_run(p.id).await.unwrap().unwrap(), stale);
        let state = store.item_state(a).await.unwrap();
        assert_eq!(
            (state.phase, state.confidence),
            (ItemPhase::Adjudication, Some(0.6))
        );
    }
});

store_test!(adjudications_supersede_and_need_the_queue, |store| {
    let (p, _) = store
        .create_project("p", json!({}), protocol(), 1)
        .await
        .unwrap();
    store
        .import_items(p.id, vec![item("a", None)], 1, None, 1)
        .await
        .unwrap();
    let adj = store
        .create_user(user("adj", &[Role::Adjudicator]), None, 1)
        .await
        .unwrap();
    let a = store.item(p.id, "a").await.unwrap().id;
    let decision = |value: &str, now| NewAdjudication {
        item_id: a,
        adjudicator_id: adj.id,
        value: json!({"t": value}),
        rationale: "why".into(),
        considered: vec![],
        consensus_run_id: None,
        protocol_version: 1,
        label: Some(json!({"t": value})),
        signature: None,
        now,
    };
    assert!(
        matches!(
            store.adjudicate(decision("a", 2)).await.unwrap_err(),
            StoreError::Conflict(_)
        ),
        "not in the queue"
    );
    store.flag(a, "manager asked", None, 3).await.unwrap();
    let first = store.adjudicate(decision("a", 4)).await.unwrap();
    let second = store.adjudicate(decision("b", 5)).await.unwrap();
    assert_eq!(second.supersedes, Some(first.id));
    let current = store.adjudications(p.id).await.unwrap();
    assert_eq!(current, vec![second]);
    let state = store.item_state(a).await.unwrap();
    assert_eq!(
        (state.phase, state.label),
        (ItemPhase::Adjudicated, Some(json!({"t": "b"})))
    );
});

store_test!(migrations_are_idempotent, |store| {
    // Opening the same file again re-runs the migrator: nothing to do, data intact.
    let _ = store;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    let first = SqliteStore::open(&path, crate::util::key()).await.unwrap();
    first
        .create_user(user("u", &[Role::Admin]), None, 1)
        .await
        .unwrap();
    drop(first);
    let again = SqliteStore::open(&path, crate::util::key()).await.unwrap();
    assert_eq!(again.users().await.unwrap().len(), 1);
});

store_test!(annotations_after_count_and_gold, |store| {
    let (p, _) = store
        .create_project("p", json!({}), protocol(), 1)
        .await
        .unwrap();
    store
        .import_items(
            p.id,
            vec![item("a", None), item("b", Some("x")), item("c", None)],
            3,
            None,
            1,
        )
        .await
        .unwrap();
    let b = store.item(p.id, "b").await.unwrap().id;
    assert_eq!(
        store.gold_answers(p.id).await.unwrap(),
        vec![(b, json!({"t": "x"}))]
    );
    let decide = keep_open(3);
    let mut ids = Vec::new();
    for (n, name) in ["u1", "u2"].into_iter().enumerate() {
        let u = store
            .create_user(user(name, &[Role::Annotator]), None, 1)
            .await
            .unwrap();
        let lease = store
            .lease(lease_request(p.id, u.id, Purpose::Regular, 10))
            .await
            .unwrap()
            .unwrap();
        let s = store
            .submit(
                NewAnnotation {
                    item_id: lease.item_id,
                    annotator_id: u.id,
                    value: json!({"t": format!("v{n}")}),
                    time_spent_ms: None,
                    now: 11,
                },
                None,
                &decide,
            )
            .await
            .unwrap();
        ids.push(s.annotation.id);
    }
    let all = store.annotations_after(p.id, 0).await.unwrap();
    assert_eq!(all.iter().map(|a| a.id).collect::<Vec<_>>(), ids);
    let newer = store.annotations_after(p.id, ids[0]).await.unwrap();
    assert_eq!(newer.iter().map(|a| a.id).collect::<Vec<_>>(), &ids[1..]);
    assert_eq!(newer[0].value, json!({"t": "v1"}));
    // The compact form: the same rows, the value as its stored text (compact, keys sorted).
    let texts = store.annotation_texts_after(p.id, 0).await.unwrap();
    assert_eq!(texts.len(), all.len());
    for (text, a) in texts.iter().zip(&all) {
        assert_eq!(
            (
                text.id,
                text.item_id,
                text.annotator_id,
                text.created_at,
                text.supersedes
            ),
            (a.id, a.item_id, a.annotator_id, a.created_at, a.supersedes)
        );
        assert_eq!(&*text.value, serde_json::to_string(&a.value).unwrap());
    }
    assert_eq!(
        store.annotation_texts_after(p.id, ids[0]).await.unwrap()[0].id,
        ids[1]
    );
    assert!(
        store
            .annotations_after(p.id, ids[1])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.annotation_count(p.id, ids[0]).await.unwrap(), 1);
    assert_eq!(store.annotation_count(p.id, ids[1]).await.unwrap(), 2);
    assert_eq!(store.annotation_count(p.id, 0).await.unwrap(), 0);
});

store_test!(concurrent_writes_commit_together_and_fail_alone, |store| {
    // Forty writes at once: they share commits, and the eight that repeat a name fail without
    // taking anyone else's write with them.
    let mut tasks = Vec::new();
    for i in 0..40i64 {
        let store = store.clone();
        let name = if i % 5 == 4 {
            format!("u{}", i - 1)
        } else {
            format!("u{i}")
        };
        tasks.push(tokio::spawn(async move {
            store
                .create_user(user(&name, &[Role::Annotator]), None, i)
                .await
        }));
    }
    let (mut ok, mut conflicts) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::Conflict(_)) => conflicts += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((ok, conflicts), (32, 8));
    assert_eq!(store.users().await.unwrap().len(), 32);
    let report = store
        .verify_audit(&crate::util::key().verifier())
        .await
        .unwrap();
    assert!(report.intact, "{:?}", report.first_break);
    assert_eq!(report.events, 32, "one event per committed write, gap-free");
});
