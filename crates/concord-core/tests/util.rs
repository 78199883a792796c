//! A project on a fresh database, simulated annotators, and a fingerprint of everything stored.

use concord_core::Core;
use concord_core::auth::HashCost;
use concord_core::policy::Settings;
use concord_core::service::UserRequest;
use concord_store::{Role, SqliteStore, Store, User};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use std::sync::Arc;

pub(crate) const CLASSES: [&str; 4] = ["normal", "pneumonia", "effusion", "nodule"];

pub(crate) const PROTOCOL: &str = "
name: Chest X-ray
tasks:
  - id: finding
    type: single
    allow_uncertain: true
    classes:
      - {id: normal, definition: No acute abnormality.}
      - {id: pneumonia, definition: Airspace opacity consistent with infection.}
      - {id: effusion, definition: Pleural fluid.}
      - {id: nodule, definition: A rounded opacity of 3 to 30 mm.}
";

/// The audit key of every test database.
pub(crate) fn key() -> concord_store::AuditKey {
    concord_store::AuditKey::from_seed([7; 32])
}

/// A fresh database in `dir` with an administrator (password `secret`).
pub(crate) async fn core(dir: &Path) -> (Core, User) {
    let store = SqliteStore::open(&dir.join("test.db"), key())
        .await
        .unwrap();
    let core = Core::new(Arc::new(store)).with_hash_cost(HashCost::Fast);
    let admin = core.init_admin("admin", Some("secret")).await.unwrap();
    (core, admin)
}

/// Adds a user with the password `secret`.
pub(crate) async fn add_user(core: &Core, admin: &User, name: &str, roles: Vec<Role>) -> User {
    core.add_user(
        admin,
        UserRequest {
            name: name.into(),
            roles,
            password: Some("secret".into()),
            qualification: None,
            cost: 1.0,
        },
    )
    .await
    .unwrap()
}

/// Writes `n` items (every `gold_every`-th with a gold answer) and returns the truth of each.
pub(crate) fn items_file(
    path: &Path,
    n: usize,
    gold_every: usize,
    seed: u64,
) -> Vec<(String, String)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut truth = Vec::new();
    let mut text = String::new();
    for i in 0..n {
        let id = format!("it-{i:04}");
        let class = CLASSES[rng.random_range(0..CLASSES.len())];
        let gold = if gold_every > 0 && i % gold_every == 0 {
            format!(", \"gold\": \"{class}\"")
        } else {
            String::new()
        };
        text.push_str(&format!(
            "{{\"id\": \"{id}\", \"text\": \"study {i}\"{gold}}}\n"
        ));
        truth.push((id, class.to_string()));
    }
    std::fs::write(path, text).unwrap();
    truth
}

/// A simulated annotator: right with probability `accuracy`, otherwise a uniformly wrong class.
pub(crate) fn answer(rng: &mut ChaCha8Rng, accuracy: f64, truth: &str) -> &'static str {
    if rng.random::<f64>() < accuracy {
        return CLASSES.iter().copied().find(|c| *c == truth).unwrap();
    }
    let wrong: Vec<&'static str> = CLASSES.iter().copied().filter(|c| *c != truth).collect();
    wrong[rng.random_range(0..wrong.len())]
}

pub(crate) fn settings(overlap: &str) -> Settings {
    Settings {
        overlap: overlap.parse().unwrap(),
        ..Settings::default()
    }
}

/// Everything the store holds about the projects, as JSON: users, projects, protocol versions,
/// items, item states, annotations, adjudications, the latest run. Equal fingerprints mean an
/// unchanged database.
pub(crate) async fn fingerprint(store: &Arc<dyn Store>) -> String {
    let mut out = Vec::new();
    for user in store.users().await.unwrap() {
        out.push(format!(
            "user {} {:?} {}",
            user.name, user.roles, user.disabled
        ));
    }
    for project in store.projects().await.unwrap() {
        out.push(format!("project {} {}", project.name, project.settings));
        let latest = store.protocol(project.id, None).await.unwrap();
        out.push(format!(
            "protocol {} {}",
            latest.version, latest.schema_sha256
        ));
        for item in store.items(project.id).await.unwrap() {
            out.push(format!(
                "item {} {} {:?}",
                item.external_id, item.content_sha256, item.gold
            ));
        }
        for state in store.item_states(project.id).await.unwrap() {
            out.push(format!("state {state:?}"));
        }
        for a in store.annotations(project.id).await.unwrap() {
            out.push(format!(
                "annotation {} {} {} {}",
                a.id, a.item_id, a.annotator_id, a.value
            ));
        }
        for a in store.adjudications(project.id).await.unwrap() {
            out.push(format!("adjudication {} {}", a.id, a.value));
        }
        out.push(format!(
            "run {:?}",
            store.latest_run(project.id).await.unwrap().map(|r| r.id)
        ));
    }
    out.join("\n")
}
