//! A fresh store per test.

use concord_store::{NewProtocol, NewUser, Role, SqliteStore, Store};
use serde_json::json;
use std::sync::Arc;

/// The audit key of every test database.
pub(crate) fn key() -> concord_store::AuditKey {
    concord_store::AuditKey::from_seed([7; 32])
}

/// A fresh SQLite store in its own temporary folder (kept alive by the returned guard).
pub(crate) async fn sqlite() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("test.db"), key())
        .await
        .unwrap();
    (Arc::new(store), dir)
}

/// Runs a test body once per backend.
macro_rules! store_test {
    ($name:ident, |$store:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let ($store, _guard) = crate::util::sqlite().await;
                $body
            }
        }
    };
}
pub(crate) use store_test;

pub(crate) fn user(name: &str, roles: &[Role]) -> NewUser {
    NewUser {
        name: name.into(),
        display_name: name.into(),
        email: None,
        roles: roles.to_vec(),
        password_hash: None,
        qualifications: json!([]),
        cost: 1.0,
    }
}

pub(crate) fn protocol() -> NewProtocol {
    NewProtocol {
        schema: json!({"name": "p", "tasks": [{"id": "t", "type": "single", "classes": [{"id": "a"}, {"id": "b"}]}]}),
        note: "initial".into(),
        created_by: None,
        deviation: None,
    }
}
