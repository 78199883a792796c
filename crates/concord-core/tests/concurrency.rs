//! 16 threads leasing and submitting at once on one project.

use crate::util::{add_user, core, items_file, settings};
use concord_store::Role;
use std::sync::Arc;

#[test]
fn sixteen_threads_never_exceed_the_overlap_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (core, users) = runtime.block_on(async {
        let (core, admin) = core(dir.path()).await;
        let items = dir.path().join("items.jsonl");
        items_file(&items, 60, 0, 9);
        core.create_project(&admin, "p", crate::util::PROTOCOL, settings("fixed:3"))
            .await
            .unwrap();
        core.import_items(&admin, "p", &items).await.unwrap();
        let mut users = Vec::new();
        for i in 0..16 {
            users.push(add_user(&core, &admin, &format!("a{i:02}"), vec![Role::Annotator]).await);
        }
        (core, users)
    });
    let core = Arc::new(core);
    // Every thread has its own runtime: 16 operating-system threads hit the store at once.
    let handles: Vec<_> = users
        .into_iter()
        .map(|user| {
            let core = core.clone();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    let mut submitted = 0;
                    while let Some(task) = core.next("p", &user).await.unwrap() {
                        core.submit("p", &user, &task.item, "normal", None)
                            .await
                            .unwrap();
                        submitted += 1;
                    }
                    submitted
                })
            })
        })
        .collect();
    let submitted: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    runtime.block_on(async {
        let project = core.store().project("p").await.unwrap();
        let annotations = core.store().annotations(project.id).await.unwrap();
        assert_eq!(annotations.len(), submitted, "no annotation lost");
        assert_eq!(submitted, 60 * 3, "every item got its three labels");
        let mut pairs = std::collections::HashSet::new();
        for a in &annotations {
            assert!(
                pairs.insert((a.item_id, a.annotator_id)),
                "an annotator labelled an item twice"
            );
        }
        for state in core.store().item_states(project.id).await.unwrap() {
            assert_eq!(
                (state.n_labels, state.n_leased),
                (3, 0),
                "{}",
                state.external_id
            );
        }
    });
}
