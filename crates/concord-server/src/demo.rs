//! The demo project of `concord serve --demo`: the bundled synthetic chest X-ray studies
//! (`demo/`), a labelling team with passwords, and a first round of reads by simulated readers
//! so that every screen has something to show.

use concord_core::Core;
use concord_core::policy::{Overlap, Settings};
use concord_core::service::{CoreError, CoreResult, UserRequest};
use concord_store::Role;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::io::Write as _;

const PROTOCOL: &str = include_str!("../../../demo/protocol.yaml");
const ITEMS: &str = include_str!("../../../demo/items.jsonl");
const TRUTH: &str = include_str!("../../../demo/truth.csv");
const CLASSES: [&str; 4] = ["normal", "pneumonia", "effusion", "nodule"];

/// The demo project's name.
pub const PROJECT: &str = "cxr";
/// Every demo account's password.
pub const PASSWORD: &str = "demo";

/// A demo account to sign in with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Login name.
    pub name: &'static str,
    /// What it is for.
    pub role: Role,
}

/// The accounts with a password (printed by `concord serve --demo`).
pub const ACCOUNTS: [Account; 6] = [
    Account {
        name: "admin",
        role: Role::Admin,
    },
    Account {
        name: "lead",
        role: Role::Manager,
    },
    Account {
        name: "reader-1",
        role: Role::Annotator,
    },
    Account {
        name: "reader-2",
        role: Role::Annotator,
    },
    Account {
        name: "senior-1",
        role: Role::Adjudicator,
    },
    Account {
        name: "auditor",
        role: Role::Auditor,
    },
];

/// Simulated readers (no password): accuracy, cost per label.
const SIMULATED: [(&str, f64, f64); 4] = [
    ("sim-radiologist-1", 0.88, 3.0),
    ("sim-radiologist-2", 0.84, 3.0),
    ("sim-resident-1", 0.70, 1.0),
    ("sim-resident-2", 0.62, 1.0),
];

/// Items the simulated readers label before the humans arrive.
const PRELABELLED: usize = 150;

/// Fills an empty database: the accounts of [`ACCOUNTS`] (password [`PASSWORD`]), project
/// [`PROJECT`] (adaptive overlap 2..3 at 0.95, 15 % gold, Dawid–Skene) with the 400 demo
/// studies, simulated reads of the first items, and one consensus run.
///
/// # Errors
/// [`CoreError::Conflict`] when the database already has users.
pub async fn seed(core: &Core, seed: u64) -> CoreResult<()> {
    let admin = core.init_admin("admin", Some(PASSWORD)).await?;
    let mut names = Vec::new();
    for account in ACCOUNTS.iter().filter(|a| a.role != Role::Admin) {
        let cost = if account.role == Role::Annotator {
            1.0
        } else {
            10.0
        };
        core.add_user(
            &admin,
            UserRequest {
                name: account.name.into(),
                roles: vec![account.role],
                password: Some(PASSWORD.into()),
                qualification: None,
                cost,
            },
        )
        .await?;
        names.push(account.name);
    }
    for (name, _, cost) in SIMULATED {
        core.add_user(
            &admin,
            UserRequest {
                name: name.into(),
                roles: vec![Role::Annotator],
                password: None,
                qualification: Some("simulated reader".into()),
                cost,
            },
        )
        .await?;
        names.push(name);
    }
    let settings = Settings {
        overlap: Overlap::Adaptive {
            min: 2,
            max: 3,
            threshold: 0.95,
        },
        gold_rate: 0.15,
        method: "ds".into(),
        refit_every: 50,
        seed,
        ..Settings::default()
    };
    core.create_project(&admin, PROJECT, PROTOCOL, settings)
        .await?;
    for name in names {
        core.add_member(&admin, PROJECT, name).await?;
    }
    let mut file = tempfile::Builder::new()
        .suffix(".jsonl")
        .tempfile()
        .map_err(|e| CoreError::Invalid(format!("cannot write the demo items: {e}")))?;
    file.write_all(ITEMS.as_bytes())
        .map_err(|e| CoreError::Invalid(format!("cannot write the demo items: {e}")))?;
    core.import_items(&admin, PROJECT, file.path()).await?;

    let truth: HashMap<&str, &str> = TRUTH
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(','))
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut readers = Vec::new();
    for (name, accuracy, _) in SIMULATED {
        readers.push((core.user(name).await?, accuracy));
    }
    let mut labelled = 0;
    'rounds: while labelled < PRELABELLED * 2 {
        let mut progress = false;
        for (user, accuracy) in &readers {
            let Some(task) = core.next(PROJECT, user).await? else {
                continue;
            };
            let right = truth.get(task.item.as_str()).copied().unwrap_or("normal");
            let answer = if rng.random::<f64>() < *accuracy {
                right
            } else {
                let wrong: Vec<&str> = CLASSES.iter().copied().filter(|c| *c != right).collect();
                wrong[rng.random_range(0..wrong.len())]
            };
            core.submit(PROJECT, user, &task.item, answer, Some(15_000))
                .await?;
            labelled += 1;
            progress = true;
            if labelled >= PRELABELLED * 2 {
                break 'rounds;
            }
        }
        if !progress {
            break;
        }
    }
    core.wait_for_refits().await;
    core.consensus(&admin, PROJECT, None).await?;
    Ok(())
}
