//! The whole workflow with simulated annotators of known skill.

use crate::util::{CLASSES, add_user, answer, core, fingerprint, items_file, settings};
use concord_core::CoreError;
use concord_core::policy::Qualification;
use concord_store::Role;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::{HashMap, HashSet};

/// The annotators: (name, accuracy). `weak` is below the gate and must be blocked.
const PANEL: [(&str, f64); 8] = [
    ("expert-1", 0.95),
    ("expert-2", 0.92),
    ("rad-1", 0.85),
    ("rad-2", 0.82),
    ("rad-3", 0.80),
    ("res-1", 0.72),
    ("res-2", 0.68),
    ("weak", 0.25),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_project_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let (core, admin) = core(dir.path()).await;
    let items = dir.path().join("items.jsonl");
    let truth: HashMap<String, String> = items_file(&items, 500, 10, 3).into_iter().collect();
    let mut project_settings = settings("adaptive:2..5@0.95");
    project_settings.gold_rate = 0.1;
    project_settings.qualify = Some(Qualification {
        n: 5,
        accuracy: 0.6,
    });
    project_settings.refit_every = 200;
    core.create_project(&admin, "cxr", crate::util::PROTOCOL, project_settings)
        .await
        .unwrap();
    assert_eq!(core.import_items(&admin, "cxr", &items).await.unwrap(), 500);

    let mut annotators = Vec::new();
    for (name, accuracy) in PANEL {
        annotators.push((
            add_user(&core, &admin, name, vec![Role::Annotator]).await,
            accuracy,
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut active = vec![true; annotators.len()];
    let mut blocked = Vec::new();
    while active.iter().any(|&a| a) {
        for (i, (user, accuracy)) in annotators.iter().enumerate() {
            if !active[i] {
                continue;
            }
            let task = match core.next("cxr", user).await {
                Ok(Some(task)) => task,
                Ok(None) => {
                    active[i] = false;
                    continue;
                }
                Err(CoreError::Forbidden(message)) => {
                    blocked.push((user.name.clone(), message));
                    active[i] = false;
                    continue;
                }
                Err(other) => panic!("{other}"),
            };
            // Blindness: the task carries the item's content and nothing else.
            let keys: Vec<String> = serde_json::to_value(&task)
                .unwrap()
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            assert_eq!(
                keys,
                [
                    "content",
                    "item",
                    "kind",
                    "lease_expires_at",
                    "protocol_version"
                ]
            );
            assert!(
                !CLASSES.iter().any(|c| task.content.contains(c)),
                "content leaks a class: {}",
                task.content
            );
            // Asking again returns the same lease.
            assert_eq!(
                core.next("cxr", user).await.unwrap().unwrap().item,
                task.item
            );
            assert!(
                seen.insert((user.name.clone(), task.item.clone())),
                "{} got {} twice",
                user.name,
                task.item
            );
            let value = answer(&mut rng, *accuracy, &truth[&task.item]);
            core.submit("cxr", user, &task.item, value, Some(9_000))
                .await
                .unwrap();
        }
    }
    core.wait_for_refits().await;

    // The qualification gate stopped the weak annotator, and only them.
    assert_eq!(blocked.len(), 1, "{blocked:?}");
    assert_eq!(blocked[0].0, "weak");
    assert!(
        blocked[0].1.contains("qualification gate"),
        "{}",
        blocked[0].1
    );

    // Gold was interleaved at the project's rate for those who worked.
    for (user, _) in annotators.iter().filter(|(u, _)| u.name != "weak") {
        let (regular, gold, qualification) = core
            .store()
            .assignment_counts(core.store().project("cxr").await.unwrap().id, user.id)
            .await
            .unwrap();
        assert_eq!(qualification, 5, "{}", user.name);
        if regular + gold >= 60 {
            let rate = gold as f64 / (regular + gold) as f64;
            assert!(
                (rate - 0.1).abs() <= 0.05,
                "{}: gold rate {rate:.3} over {} items",
                user.name,
                regular + gold
            );
        }
    }

    // Consensus and the exported reference standard.
    let run = core.consensus(&admin, "cxr", None).await.unwrap();
    assert_eq!(run.items, 450, "every regular item has labels");
    assert_eq!(run.input_sha256.len(), 64);
    let rows = core.export(&admin, "cxr").await.unwrap();
    assert_eq!(
        rows.len(),
        450,
        "gold items are not part of the reference standard"
    );
    let mut right = 0;
    let mut labels = 0;
    for row in &rows {
        assert!(
            (2..=5).contains(&row.labels),
            "{}: {} labels",
            row.item,
            row.labels
        );
        labels += row.labels;
        if row.label.as_ref().and_then(|l| l.as_str()) == Some(truth[&row.item].as_str()) {
            right += 1;
        }
    }
    let accuracy = right as f64 / rows.len() as f64;
    let per_item = labels as f64 / rows.len() as f64;
    eprintln!("accuracy {accuracy:.3}, labels per item {per_item:.2}, run {run:?}");
    // Background re-fits land at timing-dependent points, so the figure varies a little run to run.
    assert!(accuracy >= 0.90, "reference accuracy {accuracy:.3}");
    assert!(
        per_item < 4.0,
        "adaptive overlap should stop early on clear items: {per_item:.2}"
    );

    // Adjudication: an adjudicator decides the least confident item; the decision wins.
    let adjudicator = add_user(&core, &admin, "senior", vec![Role::Adjudicator]).await;
    let queue = core.adjudication_queue(&adjudicator, "cxr").await.unwrap();
    let item = match queue.first() {
        Some(entry) => {
            assert!(entry.reads.len() >= 2 && entry.reads.iter().all(|r| r.skill.is_some()));
            entry.item.clone()
        }
        None => {
            core.flag(&admin, "cxr", "it-0001", "second look")
                .await
                .unwrap();
            "it-0001".to_string()
        }
    };
    let before = fingerprint(core.store()).await;
    let refused = core
        .adjudicate(&adjudicator, "cxr", &item, &truth[&item], " ", "secret")
        .await
        .unwrap_err();
    assert!(matches!(refused, CoreError::Invalid(ref m) if m.contains("rationale")));
    assert_eq!(
        fingerprint(core.store()).await,
        before,
        "a refused adjudication stores nothing"
    );
    core.adjudicate(
        &adjudicator,
        "cxr",
        &item,
        &truth[&item],
        "clear on second look",
        "secret",
    )
    .await
    .unwrap();
    let rows = core.export(&admin, "cxr").await.unwrap();
    let row = rows.iter().find(|r| r.item == item).unwrap();
    assert_eq!(
        (
            row.status.as_str(),
            row.label.as_ref().and_then(|l| l.as_str())
        ),
        ("adjudicated", Some(truth[&item].as_str()))
    );

    let status = core.status("cxr").await.unwrap();
    assert_eq!(status.items.get("gold"), Some(&50));
    assert!(status.agreement.unwrap() > 0.5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_overlap_gives_every_item_exactly_k_labels() {
    let dir = tempfile::tempdir().unwrap();
    let (core, admin) = core(dir.path()).await;
    let items = dir.path().join("items.jsonl");
    let truth: HashMap<String, String> = items_file(&items, 40, 0, 5).into_iter().collect();
    core.create_project(&admin, "p", crate::util::PROTOCOL, settings("fixed:3"))
        .await
        .unwrap();
    core.import_items(&admin, "p", &items).await.unwrap();
    let mut users = Vec::new();
    for i in 0..5 {
        users.push(add_user(&core, &admin, &format!("a{i}"), vec![Role::Annotator]).await);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    loop {
        let mut any = false;
        for user in &users {
            if let Some(task) = core.next("p", user).await.unwrap() {
                core.submit(
                    "p",
                    user,
                    &task.item,
                    answer(&mut rng, 0.9, &truth[&task.item]),
                    None,
                )
                .await
                .unwrap();
                any = true;
            }
        }
        if !any {
            break;
        }
    }
    let project = core.store().project("p").await.unwrap();
    for state in core.store().item_states(project.id).await.unwrap() {
        assert_eq!(state.n_labels, 3, "{}", state.external_id);
        assert_eq!(state.n_leased, 0);
    }

    // An item a person sent to adjudication stays there through consensus runs, however
    // confident they are; the policy's own items are decided again by each run.
    let flagged = core
        .store()
        .item_states(project.id)
        .await
        .unwrap()
        .into_iter()
        .find(|s| !s.is_gold)
        .unwrap();
    core.flag(&admin, "p", &flagged.external_id, "second look")
        .await
        .unwrap();
    let run = core.consensus(&admin, "p", None).await.unwrap();
    assert_eq!(run.adjudication, 1, "{run:?}");
    let state = core
        .store()
        .item_states(project.id)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.item_id == flagged.item_id)
        .unwrap();
    assert_eq!(state.phase, concord_store::ItemPhase::Adjudication);
    assert!(state.flagged);
    assert_eq!(
        state.reason.as_deref(),
        Some("flagged by admin: second look")
    );
}

/// A consensus run in a long-lived `Core` reads only the annotations added since its last run;
/// it must see exactly what a fresh process reading everything sees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_consensus_equals_a_fresh_read() {
    let dir = tempfile::tempdir().unwrap();
    let (core, admin) = core(dir.path()).await;
    let items = dir.path().join("items.jsonl");
    let truth: HashMap<String, String> = items_file(&items, 40, 8, 5).into_iter().collect();
    core.create_project(&admin, "p", crate::util::PROTOCOL, settings("fixed:3"))
        .await
        .unwrap();
    core.import_items(&admin, "p", &items).await.unwrap();
    let mut users = Vec::new();
    for i in 0..5 {
        users.push(add_user(&core, &admin, &format!("a{i}"), vec![Role::Annotator]).await);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut label = |rounds: usize| {
        let core = core.clone();
        let users = users.clone();
        let truth = truth.clone();
        let seed = rand::Rng::random::<u64>(&mut rng);
        async move {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            for _ in 0..rounds {
                for user in &users {
                    if let Some(task) = core.next("p", user).await.unwrap() {
                        let right = &truth[&task.item];
                        core.submit("p", user, &task.item, answer(&mut rng, 0.8, right), None)
                            .await
                            .unwrap();
                    }
                }
            }
        }
    };
    label(10).await;
    let first = core.consensus(&admin, "p", None).await.unwrap();
    label(100).await;
    let incremental = core.consensus(&admin, "p", None).await.unwrap();
    assert!(incremental.annotations > first.annotations);

    let store = concord_store::SqliteStore::open(&dir.path().join("test.db"), crate::util::key())
        .await
        .unwrap();
    let fresh_core = concord_core::Core::new(std::sync::Arc::new(store));
    let fresh = fresh_core.consensus(&admin, "p", None).await.unwrap();
    assert_eq!(incremental.input_sha256, fresh.input_sha256);
    assert_eq!(
        (
            incremental.annotations,
            incremental.items,
            incremental.iterations,
            incremental.complete,
            incremental.adjudication,
            incremental.open
        ),
        (
            fresh.annotations,
            fresh.items,
            fresh.iterations,
            fresh.complete,
            fresh.adjudication,
            fresh.open
        )
    );
    let a = core.export(&admin, "p").await.unwrap();
    let b = fresh_core.export(&admin, "p").await.unwrap();
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}

/// With a gold-feedback limit, only the first N gold answers in 24 hours show the reference
/// answer; the rest get no feedback (and no hint that the item was gold).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gold_feedback_is_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let (core, admin) = core(dir.path()).await;
    let items = dir.path().join("items.jsonl");
    let truth: HashMap<String, String> = items_file(&items, 40, 2, 3).into_iter().collect();
    let mut s = settings("fixed:1");
    s.gold_rate = 1.0;
    s.gold_feedback_per_day = Some(3);
    core.create_project(&admin, "p", crate::util::PROTOCOL, s)
        .await
        .unwrap();
    core.import_items(&admin, "p", &items).await.unwrap();
    let annotator = add_user(&core, &admin, "ann", vec![Role::Annotator]).await;
    let mut feedback = Vec::new();
    for _ in 0..6 {
        let task = core.next("p", &annotator).await.unwrap().unwrap();
        let receipt = core
            .submit("p", &annotator, &task.item, &truth[&task.item], None)
            .await
            .unwrap();
        feedback.push(receipt.gold.is_some());
    }
    assert_eq!(feedback, [true, true, true, false, false, false]);
}

/// An annotator on probation weighs less: where they disagree with a qualified reader of the
/// same measured skill, the qualified reader decides, and the run records the weight. (Majority
/// vote, so the two readers' skills are one number each; the tempering itself is tested on a
/// snapshot in `skills.rs`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_given_on_probation_weigh_less() {
    let dir = tempfile::tempdir().unwrap();
    let (core, admin) = core(dir.path()).await;
    let items = dir.path().join("items.jsonl");
    let truth: HashMap<String, String> = items_file(&items, 40, 0, 5).into_iter().collect();
    let mut s = settings("fixed:2");
    s.method = "mv".into();
    s.rules = Some(concord_core::policy::QualityRules {
        probation_weight: 0.5,
        ..Default::default()
    });
    core.create_project(&admin, "p", crate::util::PROTOCOL, s)
        .await
        .unwrap();
    core.import_items(&admin, "p", &items).await.unwrap();
    let steady = add_user(&core, &admin, "steady", vec![Role::Annotator]).await;
    let shaky = add_user(&core, &admin, "shaky", vec![Role::Annotator]).await;
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    // Item id → (steady's label, shaky's label).
    let mut given: HashMap<i64, (String, String)> = HashMap::new();
    for (who, accuracy) in [(&steady, 0.9), (&shaky, 0.6)] {
        while let Some(task) = core.next("p", who).await.unwrap() {
            let label = answer(&mut rng, accuracy, &truth[&task.item]);
            core.submit("p", who, &task.item, label, None)
                .await
                .unwrap();
            let id = core.store().item(1, &task.item).await.unwrap().id;
            let pair = given.entry(id).or_default();
            *(if who.id == steady.id {
                &mut pair.0
            } else {
                &mut pair.1
            }) = label.to_string();
        }
    }
    let labels = |run: i64| {
        let store = core.store().clone();
        async move {
            let rows = store.run_labels(run).await.unwrap();
            rows.into_iter()
                .map(|l| (l.item_id, l))
                .collect::<HashMap<_, _>>()
        }
    };
    let before = labels(core.consensus(&admin, "p", None).await.unwrap().run).await;
    core.store()
        .set_enrolment(
            1,
            shaky.id,
            concord_store::Enrolment {
                phase: concord_store::Phase::Probation,
                gold_answered: 0,
                gold_correct: 0,
                reason: Some("gold accuracy 0.50 below the probation bound 0.7".into()),
            },
            Some(admin.id),
            1,
        )
        .await
        .unwrap();
    let run = core.consensus(&admin, "p", None).await.unwrap();
    let stored = core.store().latest_run(1).await.unwrap().unwrap();
    assert_eq!(
        stored.parameters["probation_weights"][shaky.id.to_string()],
        0.5
    );
    let after = labels(run.run).await;
    let (mut disagree, mut agree, mut steady_before, mut steady_after) = (0, 0, 0, 0);
    for (item, (mine, theirs)) in &given {
        let (was, now) = (&before[item], &after[item]);
        let p =
            |l: &concord_store::ConsensusLabel, class: &str| l.posterior[class].as_f64().unwrap();
        if mine == theirs {
            agree += 1;
            assert_eq!(now.label["finding"], mine.as_str());
            assert_eq!(now.confidence, was.confidence, "{item}: both votes agree");
        } else {
            disagree += 1;
            assert_eq!(now.label["finding"], mine.as_str(), "{item}: {now:?}");
            assert!(
                p(now, mine) > 0.5 && p(was, mine) == 0.5,
                "{now:?} vs {was:?}"
            );
            assert!(p(now, theirs) < 0.5, "{item}: {now:?}");
            steady_before += usize::from(was.label["finding"] == mine.as_str());
            steady_after += usize::from(now.label["finding"] == mine.as_str());
        }
    }
    eprintln!("the qualified reader decides {steady_before} then {steady_after} of {disagree}");
    assert!(disagree >= 5 && agree >= 5, "{disagree} / {agree}");
    assert!(steady_after > steady_before);
}

/// The gold set's lifecycle: gold answered by enough annotators retires itself (audited), a
/// manager retires one by hand, and adjudicated items the consensus was sure of, where the
/// adjudicator agreed, become gold candidates in the import format.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gold_retires_when_over_exposed_and_adjudicated_items_become_candidates() {
    let dir = tempfile::tempdir().unwrap();
    let (core, admin) = core(dir.path()).await;
    let items = dir.path().join("items.jsonl");
    let truth: HashMap<String, String> = items_file(&items, 60, 5, 8).into_iter().collect();
    let mut s = settings("fixed:3");
    s.gold_rate = 0.1;
    s.retire_gold_after = Some(2);
    core.create_project(&admin, "p", crate::util::PROTOCOL, s)
        .await
        .unwrap();
    core.import_items(&admin, "p", &items).await.unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut readers = Vec::new();
    for (name, accuracy) in [("r1", 0.95), ("r2", 0.9), ("r3", 0.85)] {
        readers.push((
            add_user(&core, &admin, name, vec![Role::Annotator]).await,
            accuracy,
        ));
    }
    // Round robin, one item each, so that gold answers are spread over the readers.
    loop {
        let mut any = false;
        for (who, accuracy) in &readers {
            if let Some(task) = core.next("p", who).await.unwrap() {
                let label = answer(&mut rng, *accuracy, &truth[&task.item]);
                core.submit("p", who, &task.item, label, None)
                    .await
                    .unwrap();
                any = true;
            }
        }
        if !any {
            break;
        }
    }
    let gold = core.gold_items(&admin, "p").await.unwrap();
    assert_eq!(gold.len(), 12);
    let retired: Vec<_> = gold.iter().filter(|g| g.retired).collect();
    assert!(!retired.is_empty(), "{gold:?}");
    for g in &gold {
        if g.retired {
            assert_eq!(g.answers, 2, "served until its second answer: {g:?}");
        } else {
            assert!(g.answers < 2, "{g:?}");
        }
    }
    let log = core
        .audit_log(&admin, concord_store::AuditFilter::default())
        .await
        .unwrap();
    let retirements: Vec<_> = log.iter().filter(|e| e.action == "gold.retire").collect();
    assert_eq!(retirements.len(), retired.len());
    assert!(retirements.iter().all(|e| {
        e.actor.is_none()
            && e.reason
                .as_deref()
                .unwrap()
                .contains("retires gold after 2")
    }));

    // By hand: a reason, a gold item, once, and a manager.
    let in_service = gold.iter().find(|g| !g.retired).unwrap().item.clone();
    let annotator = &readers[0].0;
    assert!(matches!(
        core.retire_gold(annotator, "p", &in_service, "seen").await,
        Err(CoreError::Forbidden(_))
    ));
    assert!(matches!(
        core.retire_gold(&admin, "p", &in_service, " ").await,
        Err(CoreError::Invalid(_))
    ));
    assert!(matches!(
        core.retire_gold(&admin, "p", "it-0001", "not gold").await,
        Err(CoreError::Invalid(m)) if m.contains("not a gold item")
    ));
    core.retire_gold(&admin, "p", &in_service, "shown at a training session")
        .await
        .unwrap();
    assert!(matches!(
        core.retire_gold(&admin, "p", &in_service, "again").await,
        Err(CoreError::Conflict(_))
    ));

    // Candidates: adjudicated, and the consensus agreed with confidence.
    let adjudicator = add_user(&core, &admin, "adj", vec![Role::Adjudicator]).await;
    core.consensus(&admin, "p", None).await.unwrap();
    let rows = core.export(&admin, "p").await.unwrap();
    let mut confident = rows
        .iter()
        .filter(|r| r.status == "auto" && r.confidence.unwrap() >= 0.99);
    let (agreed, overruled) = (confident.next().unwrap(), confident.next().unwrap());
    let label = |r: &concord_core::service::ExportRow| {
        r.label.as_ref().unwrap().as_str().unwrap().to_string()
    };
    let other = CLASSES
        .iter()
        .find(|c| **c != label(overruled))
        .unwrap()
        .to_string();
    for (row, decision) in [(agreed, label(agreed)), (overruled, other)] {
        core.flag(&admin, "p", &row.item, "audit sample")
            .await
            .unwrap();
        core.adjudicate(
            &adjudicator,
            "p",
            &row.item,
            &decision,
            "reviewed",
            "secret",
        )
        .await
        .unwrap();
    }
    core.consensus(&admin, "p", None).await.unwrap();
    let candidates = core.gold_candidates(&admin, "p", 0.95).await.unwrap();
    assert_eq!(
        candidates
            .iter()
            .map(|c| c.item.as_str())
            .collect::<Vec<_>>(),
        [agreed.item.as_str()]
    );
    let line = candidates[0].import_line("p");
    assert_eq!(line["id"], agreed.item.as_str());
    assert_eq!(line["gold"]["finding"], label(agreed).as_str());
    assert_eq!(line["metadata"]["gold_source"]["adjudicator"], "adj");
    assert!(line["text"].is_string());
    assert!(core.gold_candidates(annotator, "p", 0.95).await.is_err());
    assert!(core.gold_candidates(&admin, "p", 1.5).await.is_err());
}

/// When the protocol asks for a confidence, `annotators` measures each annotator's calibration:
/// one who says 0.9 and is right nine times in ten is calibrated, one who says 0.99 and is right
/// six times in ten is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stated_confidence_is_measured_for_calibration() {
    let dir = tempfile::tempdir().unwrap();
    let (core, admin) = core(dir.path()).await;
    let items = dir.path().join("items.jsonl");
    let truth: HashMap<String, String> = items_file(&items, 200, 1, 4).into_iter().collect();
    // Gold answers stay bare class ids: a reference carries no confidence.
    let protocol = format!(
        "{}  - {{id: sure, type: number, min: 0, max: 100, unit: '%', confidence_of: finding}}\n",
        crate::util::PROTOCOL
    );
    let mut s = settings("fixed:1");
    s.gold_rate = 1.0;
    core.create_project(&admin, "p", &protocol, s)
        .await
        .unwrap();
    core.import_items(&admin, "p", &items).await.unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    for (name, accuracy, stated) in [("honest", 0.9, 90), ("bold", 0.6, 99)] {
        let who = add_user(&core, &admin, name, vec![Role::Annotator]).await;
        while let Some(task) = core.next("p", &who).await.unwrap() {
            let label = answer(&mut rng, accuracy, &truth[&task.item]);
            let value = format!(r#"{{"finding": "{label}", "sure": {stated}}}"#);
            core.submit("p", &who, &task.item, &value, None)
                .await
                .unwrap();
        }
    }
    let report = core.annotator_quality(&admin, "p", 100).await.unwrap();
    let of = |name: &str| {
        report
            .iter()
            .find(|r| r.annotator == name)
            .unwrap()
            .calibration
            .clone()
            .unwrap()
    };
    let (honest, bold) = (of("honest"), of("bold"));
    eprintln!("honest {honest:?}\nbold {bold:?}");
    assert_eq!((honest.n, bold.n), (200, 200));
    assert!((honest.confidence - 0.9).abs() < 1e-12);
    assert!(honest.ece < 0.06, "{honest:?}");
    assert!(bold.ece > 0.3, "{bold:?}");
    assert!(bold.brier > 2.0 * honest.brier);

    // Trend windows: 100 labels each make 2 windows of 200 gold answers; 10 labels each,
    // capped at 7 windows, widen to 29 labels (the last one shorter) and add up to the whole.
    let trend_of = |report: &[concord_core::quality::AnnotatorQuality]| {
        report
            .iter()
            .find(|r| r.annotator == "honest")
            .unwrap()
            .trend
            .iter()
            .map(|w| w.gold.unwrap().total)
            .collect::<Vec<_>>()
    };
    assert_eq!(trend_of(&report), [100, 100]);
    let capped = core
        .annotator_quality(
            &admin,
            "p",
            concord_core::quality::Trend {
                window: 10,
                max_windows: Some(7),
            },
        )
        .await
        .unwrap();
    assert_eq!(trend_of(&capped), [29, 29, 29, 29, 29, 29, 26]);
    let whole = capped.iter().find(|r| r.annotator == "honest").unwrap();
    assert_eq!(whole.gold.unwrap().total, 200);
    assert_eq!(whole.calibration, of("honest").into());
}
