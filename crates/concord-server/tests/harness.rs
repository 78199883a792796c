//! A server on 127.0.0.1 over a fresh SQLite database holding the demo project.

use concord_core::Core;
use concord_core::auth::HashCost;
use concord_server::{ServerConfig, demo};
use concord_store::{AuditKey, SqliteStore};
use std::net::SocketAddr;
use std::sync::Arc;

/// A running server; dropped, it stops.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    pub(crate) core: Core,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Server {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// Starts a server on the demo project (demo accounts, password `demo`), verifying the audit
/// chain with the database's key.
pub(crate) async fn start(mut config: ServerConfig) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("web.db");
    let key = AuditKey::create_file(&dir.path().join("web.db.audit-key")).expect("audit key");
    config.audit_verifier = Some(key.verifier());
    let store = SqliteStore::open(&db, key).await.expect("store");
    let core = Core::new(Arc::new(store)).with_hash_cost(HashCost::Fast);
    demo::seed(&core, 7).await.expect("demo project");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = concord_server::router(core.clone(), config);
    tokio::spawn(concord_server::serve(listener, router, async move {
        let _ = stopped.await;
    }));
    Server {
        addr,
        core,
        _dir: dir,
        stop: Some(stop),
    }
}

/// A signed-in browser-like client: the session cookie and its CSRF token.
#[derive(Clone)]
pub(crate) struct Session {
    pub(crate) cookie: String,
    pub(crate) csrf: String,
}

pub(crate) async fn login(server: &Server, name: &str) -> Session {
    let response = reqwest::Client::new()
        .post(server.url("/api/login"))
        .json(&serde_json::json!({"username": name, "password": demo::PASSWORD}))
        .send()
        .await
        .expect("login request");
    assert_eq!(response.status(), 200, "login as {name}");
    let cookie = response
        .headers()
        .get("set-cookie")
        .expect("session cookie")
        .to_str()
        .expect("ASCII")
        .split(';')
        .next()
        .expect("name=value")
        .to_string();
    let body: serde_json::Value = response.json().await.expect("JSON");
    Session {
        cookie,
        csrf: body["csrf_token"].as_str().expect("csrf token").to_string(),
    }
}
