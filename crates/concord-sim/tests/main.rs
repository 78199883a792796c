//! The simulator through the real engine: the pool, policies and thresholds.

use concord_core::policy::Overlap;
use concord_sim::{Pool, SimReport, Simulation, simulate};

fn sim(policy: &str, method: &str, items: usize, seed: u64) -> Simulation {
    let mut s = Simulation::new(
        Pool::uniform(20, 0.6, 0.95),
        items,
        4,
        policy.parse::<Overlap>().unwrap(),
        method,
    );
    s.seed = seed;
    s
}

async fn run(s: Simulation) -> SimReport {
    simulate(&s, |_| {}).await.unwrap()
}

/// 20 experts with accuracies spread evenly over 0.6–0.95 (symmetric errors), 4 balanced
/// classes, 3,000 items, skills estimated by the engine from the labels: adaptive overlap with
/// Dawid–Skene matches fixed-5 majority vote with at most 65 % of its labels, and with a
/// stricter threshold cuts its error to a third with at most 80 %.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_overlap_buys_fixed_five_accuracy_for_fewer_labels() {
    let (fixed, adaptive, strict) = tokio::join!(
        run(sim("fixed:5", "mv", 3000, 1)),
        run(sim("adaptive:2..6@0.95", "ds", 3000, 1)),
        run(sim("adaptive:2..7@0.99", "ds", 3000, 1)),
    );
    for r in [&fixed, &adaptive, &strict] {
        eprintln!(
            "{}/{}: accuracy {:.4}, labels/item {:.3}, adjudication {:.4}, auto-accepted \
             accuracy {:?}, consensus runs {}",
            r.policy,
            r.method,
            r.accuracy,
            r.labels_per_item,
            r.adjudication_rate,
            r.accuracy_auto_accepted,
            r.consensus_runs
        );
    }
    assert_eq!(fixed.labels, 15_000);
    assert!(
        (0.95..0.99).contains(&fixed.accuracy),
        "fixed-5 majority vote on this pool is about 0.97: {}",
        fixed.accuracy
    );
    assert!(
        adaptive.accuracy >= fixed.accuracy,
        "adaptive:2..6@0.95 {} < fixed:5 {}",
        adaptive.accuracy,
        fixed.accuracy
    );
    assert!(
        adaptive.labels as f64 <= 0.65 * fixed.labels as f64,
        "adaptive:2..6@0.95 used {} labels",
        adaptive.labels
    );
    assert!(
        1.0 - strict.accuracy <= (1.0 - fixed.accuracy) / 3.0,
        "adaptive:2..7@0.99 error {} vs fixed:5 error {}",
        1.0 - strict.accuracy,
        1.0 - fixed.accuracy
    );
    assert!(
        strict.labels as f64 <= 0.80 * fixed.labels as f64,
        "adaptive:2..7@0.99 used {} labels",
        strict.labels
    );
    // Every expert took part, the better ones no less than others (the engine does not know
    // who is better when it hands out items).
    assert!(adaptive.labels_by_annotator.iter().all(|(_, n)| *n > 0));
}

/// Same seed, same report, bit for bit; another seed, other answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_fixes_the_whole_run() {
    let (a, b, c) = tokio::join!(
        run(sim("adaptive:2..4@0.9", "ds", 200, 5)),
        run(sim("adaptive:2..4@0.9", "ds", 200, 5)),
        run(sim("adaptive:2..4@0.9", "ds", 200, 6)),
    );
    assert_eq!(a, b);
    assert_ne!(a.labels_by_annotator, c.labels_by_annotator);
}

#[tokio::test]
async fn out_of_range_parameters_are_named() {
    let mut s = sim("fixed:3", "mv", 10, 0);
    s.prevalence = Some(vec![0.5, 0.5]);
    let e = simulate(&s, |_| {}).await.unwrap_err().to_string();
    assert!(e.contains("--prevalence has 2 values for 4 classes"), "{e}");
    let mut s = sim("fixed:3", "mv", 10, 0);
    s.classes = 1;
    let e = simulate(&s, |_| {}).await.unwrap_err().to_string();
    assert!(e.contains("--classes"), "{e}");
}

/// Items planted as genuinely ambiguous (every expert, however good, splits between two
/// classes) come out on top of the edge-case queue: at least 80 % of them among the first as
/// many items as were planted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_case_queue_finds_planted_ambiguous_items() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sim.db");
    // Ten skilled readers (0.80–0.95), seven reads per item: with fewer reads, or weaker
    // readers, many ambiguous items look like clear ones one reader got wrong (measured: five
    // reads from the 0.6–0.95 pool put 0.44 of them on top at best).
    let mut s = Simulation::new(
        Pool::uniform(10, 0.8, 0.95),
        1000,
        4,
        "fixed:7".parse::<Overlap>().unwrap(),
        "ds",
    );
    s.seed = 3;
    s.ambiguous = 0.05;
    s.db = Some(db.clone());
    let report = run(s).await;
    let planted: std::collections::HashSet<String> = report.planted.iter().cloned().collect();
    assert!(planted.len() >= 30, "{} planted", planted.len());

    let key = concord_store::AuditKey::load(&dir.path().join("sim.db.audit-key")).unwrap();
    let store = concord_store::SqliteStore::open(&db, key).await.unwrap();
    let core = concord_core::Core::new(std::sync::Arc::new(store));
    let admin = core.user("admin").await.unwrap();
    let queue = core
        .edge_cases(&admin, "simulated", Some(planted.len()))
        .await
        .unwrap();
    let found = queue.iter().filter(|c| planted.contains(&c.item)).count();

    let recall = found as f64 / planted.len() as f64;
    eprintln!(
        "edge-case queue: {found} of {} planted items in the top {}",
        planted.len(),
        queue.len()
    );
    assert!(recall >= 0.8, "recovered {recall:.2} of the planted items");
    // Readers scattering over the classes show a class disagreement.
    let top = &queue[0];
    assert_eq!(top.kind.as_deref(), Some("class"), "{top:?}");
    assert!(top.disagreement > 0.2 && top.reads >= 2, "{top:?}");
    // Annotators may not see the queue.
    let annotator = core.user("a01").await.unwrap();
    assert!(annotator.roles == vec![concord_store::Role::Annotator]);
    assert!(
        core.edge_cases(&annotator, "simulated", None)
            .await
            .is_err()
    );
}

/// An expert who memorised the gold answers scores perfectly on gold and at their real skill
/// elsewhere: leak detection flags them, and nobody else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leak_detection_flags_an_expert_who_memorised_gold() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sim.db");
    let mut pool = Pool::uniform(8, 0.7, 0.9);
    let mut leaker = concord_sim::SimAnnotator::with_accuracy("leaker", 0.6);
    leaker.memorised_gold = true;
    pool.annotators.push(leaker);
    let mut s = Simulation::new(pool, 600, 4, "fixed:3".parse::<Overlap>().unwrap(), "ds");
    s.seed = 5;
    s.gold_items = 80;
    s.gold_rate = 0.2;
    s.db = Some(db.clone());
    run(s).await;

    let key = concord_store::AuditKey::load(&dir.path().join("sim.db.audit-key")).unwrap();
    let store = concord_store::SqliteStore::open(&db, key).await.unwrap();
    let core = concord_core::Core::new(std::sync::Arc::new(store));
    let admin = core.user("admin").await.unwrap();
    let report = core
        .annotator_quality(&admin, "simulated", 50)
        .await
        .unwrap();
    assert_eq!(report.len(), 9);
    for r in &report {
        let (g, c) = (r.gold.unwrap(), r.consensus.unwrap());
        eprintln!(
            "{}: gold {:.2} [{:.2}, {:.2}] n={}, consensus {:.2} [{:.2}, {:.2}] n={}, leak {}",
            r.annotator,
            g.mean,
            g.low,
            g.high,
            g.total,
            c.mean,
            c.low,
            c.high,
            c.total,
            r.leak_suspected
        );
        assert_eq!(r.leak_suspected, r.annotator == "leaker", "{r:?}");
        assert!(g.low <= g.mean && g.mean <= g.high);
        assert_eq!(r.per_class.len(), 4);
        assert!(!r.trend.is_empty());
    }
    // An annotator sees their own quality, nobody else's.
    let a01 = core.user("a01").await.unwrap();
    let own = core.annotator_quality(&a01, "simulated", 50).await.unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].annotator, "a01");
}

/// An expert whose skill drops mid-project is put on probation within a bounded number of gold
/// answers, and the audit trail says so, with the reason; a manager can reinstate them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drop_in_skill_puts_an_expert_on_probation_and_the_trail_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sim.db");
    let mut pool = Pool::uniform(6, 0.8, 0.9);
    let mut tired = concord_sim::SimAnnotator::with_accuracy("tired", 0.9);
    tired.drift_after = Some(100);
    tired.accuracy_after = Some(0.3);
    pool.annotators.push(tired);
    let mut s = Simulation::new(pool, 500, 4, "fixed:3".parse::<Overlap>().unwrap(), "ds");
    s.seed = 9;
    s.gold_items = 150;
    s.gold_rate = 0.15;
    s.rules = Some(concord_core::policy::QualityRules {
        window: 10,
        min_gold: 8,
        probation_below: 0.7,
        suspend_below: 0.0,
        probation_gold_rate: 0.4,
        probation_weight: 0.5,
    });
    s.db = Some(db.clone());
    run(s).await;

    let key = concord_store::AuditKey::load(&dir.path().join("sim.db.audit-key")).unwrap();
    let store = concord_store::SqliteStore::open(&db, key).await.unwrap();
    let core = concord_core::Core::new(std::sync::Arc::new(store));
    let admin = core.user("admin").await.unwrap();
    let tired = core.user("tired").await.unwrap();
    let events = core
        .audit_log(
            &admin,
            concord_store::AuditFilter {
                actor: Some(tired.id),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // The tired expert's labels in order; the drop comes after their 100th.
    let creates: Vec<&concord_store::AuditEvent> = events
        .iter()
        .filter(|e| e.action == "annotation.create")
        .collect();
    let probation = events
        .iter()
        .find(|e| {
            e.action == "enrolment.update"
                && e.after.as_ref().is_some_and(|a| a["phase"] == "probation")
        })
        .expect("the tired expert was put on probation");
    assert!(
        probation
            .reason
            .as_deref()
            .unwrap()
            .contains("below the probation bound 0.7"),
        "{probation:?}"
    );
    // Gold answers between the drop and probation.
    let trigger = probation.after.as_ref().unwrap()["annotation_id"]
        .as_i64()
        .unwrap();
    let gold_after_drop = creates
        .iter()
        .skip(100)
        .take_while(|e| e.entity != format!("annotation:{trigger}"))
        .filter(|e| {
            let item = e.after.as_ref().unwrap()["item_id"].as_i64().unwrap();
            item > 500 // gold items are imported after the 500 regular ones
        })
        .count()
        + 1;
    eprintln!("probation after {gold_after_drop} gold answers past the drop");
    assert!(gold_after_drop <= 10, "{gold_after_drop} gold answers");
    // Nobody else was put on probation before the end... the good experts stay qualified.
    for name in ["a01", "a06"] {
        let u = core.user(name).await.unwrap();
        let e = core.store().enrolment(1, u.id).await.unwrap();
        assert!(
            e.as_ref()
                .is_none_or(|e| e.phase == concord_store::Phase::Qualified),
            "{name}: {e:?}"
        );
    }
    // A manager reinstates; the trail records who and why.
    let state = core.store().enrolment(1, tired.id).await.unwrap().unwrap();
    if state.phase == concord_store::Phase::Probation {
        core.reinstate(
            &admin,
            "simulated",
            "tired",
            "rested; retrained on the protocol",
        )
        .await
        .unwrap();
        let e = core.store().enrolment(1, tired.id).await.unwrap().unwrap();
        assert_eq!(e.phase, concord_store::Phase::Qualified);
        let log = core
            .audit_log(
                &admin,
                concord_store::AuditFilter {
                    actor: Some(admin.id),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let last = log
            .iter()
            .rfind(|e| e.action == "enrolment.update")
            .unwrap();
        assert_eq!(
            last.reason.as_deref(),
            Some("rested; retrained on the protocol")
        );
    }
    assert!(
        core.reinstate(&admin, "simulated", "a01", "x")
            .await
            .is_err()
    );
}

/// With readers of different costs (residents 1, radiologists 3, subspecialists 8), cost-aware
/// routing reaches the accuracy of adaptive overlap at a lower cost: cheap reads first, senior
/// reads only where the item stays uncertain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cost_aware_routing_matches_adaptive_accuracy_for_less() {
    let pool = Pool::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs/simulator/pool-costs.toml"),
        4,
    )
    .unwrap();
    let policy = |p: &str| {
        let mut s = Simulation::new(pool.clone(), 600, 4, p.parse::<Overlap>().unwrap(), "ds");
        s.seed = 1;
        s
    };
    let (adaptive, cost) = tokio::join!(
        run(policy("adaptive:2..6@0.95")),
        run(policy("cost:20@0.95"))
    );
    for r in [&adaptive, &cost] {
        eprintln!(
            "{}: accuracy {:.4}, labels/item {:.2}, cost/item {:.2}, adjudication {:.3}, by \
             expert {:?}",
            r.policy,
            r.accuracy,
            r.labels_per_item,
            r.cost_per_item,
            r.adjudication_rate,
            r.labels_by_annotator
        );
    }
    assert!(
        cost.accuracy >= adaptive.accuracy - 0.005,
        "cost-aware {} vs adaptive {}",
        cost.accuracy,
        adaptive.accuracy
    );
    assert!(
        cost.cost_per_item <= 0.8 * adaptive.cost_per_item,
        "cost-aware {} vs adaptive {} per item",
        cost.cost_per_item,
        adaptive.cost_per_item
    );
    // The export's cost per item is the simulator's: no gold items here, every read priced.
    for r in [&adaptive, &cost] {
        assert!(
            (r.exported_cost_per_item - r.cost_per_item).abs() < 1e-9,
            "{} vs {}",
            r.exported_cost_per_item,
            r.cost_per_item
        );
    }
    // Residents do most of the reading.
    let by = |prefix: &str| -> usize {
        cost.labels_by_annotator
            .iter()
            .filter(|(n, _)| n.starts_with(prefix))
            .map(|(_, k)| k)
            .sum()
    };
    assert!(by("res-") > by("rad-") + by("sub-"));
}
