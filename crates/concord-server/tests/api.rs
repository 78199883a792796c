//! The HTTP API over real HTTP: roles × endpoints, blinding, login rate limit, session expiry,
//! CSRF, malformed and oversized bodies.

use crate::harness::{Server, Session, login, start};
use concord_core::release::Purpose;
use concord_core::service::UserRequest;
use concord_server::{LoginLimits, ServerConfig, demo};
use concord_store::{AuditFilter, Role};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

async fn send(
    server: &Server,
    session: &Session,
    method: Method,
    path: &str,
    body: Option<&str>,
) -> reqwest::Response {
    let mut request = Client::new()
        .request(method, server.url(path))
        .header("cookie", &session.cookie)
        .header("x-csrf-token", &session.csrf);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    request.send().await.expect("request")
}

async fn annotations(server: &Server) -> usize {
    let store = server.core.store();
    let project = store.project(demo::PROJECT).await.expect("project");
    store
        .annotations(project.id)
        .await
        .expect("annotations")
        .len()
}

/// Every endpoint that touches a project, with the accounts allowed to use it. Everyone else
/// who is a member is refused with 403; a non-member never gets through (403 or 404).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_checks_role_and_membership() {
    let server = start(ServerConfig::default()).await;
    let admin = server.core.user("admin").await.unwrap();
    server
        .core
        .add_user(
            &admin,
            UserRequest {
                name: "outsider".into(),
                roles: vec![Role::Annotator, Role::Manager, Role::Adjudicator],
                password: Some(demo::PASSWORD.into()),
                qualification: None,
                cost: 1.0,
            },
        )
        .await
        .unwrap();
    let accounts = [
        "admin", "lead", "reader-1", "senior-1", "auditor", "outsider",
    ];
    let mut sessions = Vec::new();
    for name in accounts {
        sessions.push((name, login(&server, name).await));
    }
    // A release for the report endpoint.
    let lead = server.core.user("lead").await.unwrap();
    server
        .core
        .create_release(&lead, "cxr", "v1", Purpose::Reference, demo::PASSWORD)
        .await
        .unwrap();
    let p = "/api/projects/cxr";
    let decision = r#"{"value":"normal","rationale":"test","password":"wrong"}"#;
    let table: Vec<(Method, String, Option<&str>, &[&str])> = vec![
        (
            Method::GET,
            format!("{p}/protocol"),
            None,
            &["admin", "lead", "reader-1", "senior-1", "auditor"],
        ),
        (
            Method::PUT,
            format!("{p}/protocol"),
            Some(r#"{"protocol":"tasks: []","note":"x"}"#),
            &["admin", "lead"],
        ),
        (
            Method::POST,
            format!("{p}/items"),
            Some("{"),
            &["admin", "lead"],
        ),
        (
            Method::POST,
            format!("{p}/next"),
            None,
            &["admin", "reader-1"],
        ),
        (Method::GET, format!("{p}/me"), None, &["admin", "reader-1"]),
        (
            Method::POST,
            format!("{p}/items/CXR-0399/annotations"),
            Some(r#"{"value":"normal"}"#),
            &["admin", "reader-1"],
        ),
        (
            Method::GET,
            format!("{p}/items/CXR-0002/annotations"),
            None,
            &["admin", "lead", "senior-1"],
        ),
        (
            Method::GET,
            format!("{p}/items/CXR-0002/content"),
            None,
            &["admin", "lead", "senior-1"],
        ),
        (
            Method::GET,
            format!("{p}/adjudication"),
            None,
            &["admin", "lead", "senior-1"],
        ),
        (
            Method::POST,
            format!("{p}/items/CXR-0002/adjudication"),
            Some(decision),
            &["admin", "senior-1"],
        ),
        (
            Method::GET,
            format!("{p}/status"),
            None,
            &["admin", "lead", "auditor"],
        ),
        (
            Method::GET,
            format!("{p}/annotators"),
            None,
            &["admin", "lead"],
        ),
        (
            Method::GET,
            format!("{p}/edge-cases?top=5"),
            None,
            &["admin", "lead", "senior-1"],
        ),
        (
            Method::POST,
            format!("{p}/consensus"),
            None,
            &["admin", "lead"],
        ),
        (
            Method::GET,
            format!("{p}/export"),
            None,
            &["admin", "lead", "auditor"],
        ),
        (
            Method::GET,
            format!("{p}/releases"),
            None,
            &["admin", "lead", "auditor"],
        ),
        (
            Method::POST,
            format!("{p}/releases"),
            Some(r#"{"name":"refused","password":"wrong"}"#),
            &["admin", "lead"],
        ),
        (
            Method::GET,
            format!("{p}/releases/v1/report"),
            None,
            &["admin", "lead", "auditor"],
        ),
        (
            Method::GET,
            format!("{p}/items/CXR-0002/provenance"),
            None,
            &["admin", "lead", "senior-1", "auditor"],
        ),
        (
            Method::GET,
            format!("{p}/retention"),
            None,
            &["admin", "lead", "auditor"],
        ),
        (
            Method::PUT,
            format!("{p}/retention"),
            Some(r#"{"days":3650,"reason":"SOP-12"}"#),
            &["admin"],
        ),
        (
            Method::POST,
            format!("{p}/holds"),
            Some(r#"{"reason":"a matter"}"#),
            &["admin"],
        ),
        // Held: the administrator's deletion is refused with 409.
        (
            Method::DELETE,
            p.to_string(),
            Some(r#"{"reason":"closing out"}"#),
            &["admin"],
        ),
        (
            Method::POST,
            format!("{p}/holds/1/release"),
            Some(r#"{"reason":"matter closed"}"#),
            &["admin"],
        ),
    ];
    for (method, path, body, allowed) in &table {
        for (name, session) in &sessions {
            let status = send(&server, session, method.clone(), path, *body)
                .await
                .status();
            let what = format!("{method} {path} as {name}: {status}");
            if *name == "outsider" {
                assert!(
                    status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
                    "{what}"
                );
            } else if allowed.contains(name) {
                // Allowed through: any answer but "who are you" or "not you". (A wrong
                // signing password is 403 by design: checked separately below.)
                let signing = (path.ends_with("/adjudication") || path.ends_with("/releases"))
                    && *method == Method::POST;
                assert!(
                    status != StatusCode::UNAUTHORIZED
                        && status != StatusCode::NOT_FOUND
                        && (signing || status != StatusCode::FORBIDDEN),
                    "{what}"
                );
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{what}");
            }
        }
    }
    // Without credentials, every project endpoint answers 401.
    for (method, path, _, _) in &table {
        let status = Client::new()
            .request(method.clone(), server.url(path))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} anonymous"
        );
    }
    // The projects list shows members their projects and outsiders nothing.
    let outsider = &sessions.last().unwrap().1;
    let listed: Value = send(&server, outsider, Method::GET, "/api/projects", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed, json!([]));
    // A wrong signing password is refused and recorded.
    let senior = &sessions[3].1;
    let queue: Value = send(
        &server,
        senior,
        Method::GET,
        &format!("{p}/adjudication"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let item = queue[0]["item"]
        .as_str()
        .expect("the demo has an adjudication queue");
    let wrong = send(
        &server,
        senior,
        Method::POST,
        &format!("{p}/items/{item}/adjudication"),
        Some(decision),
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let right = send(
        &server,
        senior,
        Method::POST,
        &format!("{p}/items/{item}/adjudication"),
        Some(r#"{"value":"normal","rationale":"clear lungs","password":"demo"}"#),
    )
    .await;
    assert_eq!(right.status(), StatusCode::OK, "{:?}", right.text().await);
}

/// An annotator sees the item leased to them and nothing of anyone else's labels.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annotators_are_blinded() {
    let server = start(ServerConfig::default()).await;
    let reader = login(&server, "reader-1").await;
    let p = "/api/projects/cxr";
    let task: Value = send(&server, &reader, Method::POST, &format!("{p}/next"), None)
        .await
        .json()
        .await
        .unwrap();
    let mut keys: Vec<&str> = task
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "content",
            "item",
            "kind",
            "lease_expires_at",
            "protocol_version"
        ],
        "a task carries the item and nothing about other reads or gold"
    );
    let item = task["item"].as_str().unwrap();
    for path in [
        format!("{p}/items/{item}/annotations"),
        format!("{p}/adjudication"),
        format!("{p}/status"),
        format!("{p}/export"),
        format!("{p}/annotators"),
        format!("{p}/edge-cases"),
        // An item read by the simulated readers, not leased to this annotator.
        format!("{p}/items/CXR-0002/content"),
    ] {
        let status = send(&server, &reader, Method::GET, &path, None)
            .await
            .status();
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    // Their own performance only.
    let mine: Value = send(&server, &reader, Method::GET, &format!("{p}/me"), None)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        mine.as_array()
            .unwrap()
            .iter()
            .all(|row| row["annotator"] == "reader-1"),
        "{mine}"
    );
    // Submitting works, and a gold item's reference answer comes only in the receipt.
    let mut gold_seen = false;
    let mut current = task.clone();
    for _ in 0..30 {
        let item = current["item"].as_str().unwrap().to_string();
        let receipt = send(
            &server,
            &reader,
            Method::POST,
            &format!("{p}/items/{item}/annotations"),
            Some(r#"{"value":{"finding":"normal"},"time_spent_ms":1200}"#),
        )
        .await;
        assert_eq!(receipt.status(), StatusCode::OK);
        let receipt: Value = receipt.json().await.unwrap();
        if receipt["gold"].is_object() {
            assert!(receipt["gold"]["reference"].is_object(), "{receipt}");
            gold_seen = true;
            break;
        }
        let next = send(&server, &reader, Method::POST, &format!("{p}/next"), None).await;
        assert_eq!(next.status(), StatusCode::OK);
        current = next.json().await.unwrap();
    }
    assert!(gold_seen, "15 % gold: one in 30 items");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_with_the_cookie_need_the_csrf_token_and_tokens_do_not() {
    let server = start(ServerConfig::default()).await;
    let reader = login(&server, "reader-1").await;
    let next = server.url("/api/projects/cxr/next");
    let client = Client::new();
    let without = client
        .post(&next)
        .header("cookie", &reader.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(without.status(), StatusCode::FORBIDDEN);
    let body: Value = without.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("X-CSRF-Token"),
        "{body}"
    );
    let wrong = client
        .post(&next)
        .header("cookie", &reader.cookie)
        .header("x-csrf-token", "0".repeat(64))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    // An API token: no CSRF token needed (a browser never sends it by itself).
    let created: Value = send(
        &server,
        &reader,
        Method::POST,
        "/api/tokens",
        Some(r#"{"name":"script"}"#),
    )
    .await
    .json()
    .await
    .unwrap();
    let token = created["token"].as_str().unwrap();
    let with_token = client.post(&next).bearer_auth(token).send().await.unwrap();
    assert_eq!(with_token.status(), StatusCode::OK);
    // The session secret is not a bearer token.
    let secret = reader.cookie.split_once('=').unwrap().1;
    let replayed = client.post(&next).bearer_auth(secret).send().await.unwrap();
    assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED);
    // Revoked, the token stops working at once.
    let id = created["id"].as_i64().unwrap();
    let revoked = send(
        &server,
        &reader,
        Method::DELETE,
        &format!("/api/tokens/{id}"),
        None,
    )
    .await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let after = client.post(&next).bearer_auth(token).send().await.unwrap();
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    // Logging out ends the session.
    let out = send(&server, &reader, Method::POST, "/api/logout", None).await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let me = send(&server, &reader, Method::GET, "/api/me", None).await;
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_are_refused_with_a_message_and_store_nothing() {
    let server = start(ServerConfig::default()).await;
    let reader = login(&server, "reader-1").await;
    let task: Value = send(
        &server,
        &reader,
        Method::POST,
        "/api/projects/cxr/next",
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let path = format!(
        "/api/projects/cxr/items/{}/annotations",
        task["item"].as_str().unwrap()
    );
    let before = annotations(&server).await;
    let cases: Vec<(&str, StatusCode, &str)> = vec![
        (
            r#"{"value": "normal""#,
            StatusCode::BAD_REQUEST,
            "malformed JSON",
        ),
        (r#"{"valu": "normal"}"#, StatusCode::BAD_REQUEST, "valu"),
        (
            r#"{"value": "fracture"}"#,
            StatusCode::BAD_REQUEST,
            "fracture",
        ),
        (
            r#"{"value": "normal", "time_spent_ms": -5}"#,
            StatusCode::BAD_REQUEST,
            "time_spent_ms",
        ),
    ];
    for (body, status, says) in cases {
        let response = send(&server, &reader, Method::POST, &path, Some(body)).await;
        assert_eq!(response.status(), status, "{body}");
        let error: Value = response.json().await.unwrap();
        let message = error["error"].as_str().unwrap();
        assert!(message.contains(says), "{body}: {message}");
    }
    // Not JSON at all.
    let plain = Client::new()
        .post(server.url(&path))
        .header("cookie", &reader.cookie)
        .header("x-csrf-token", &reader.csrf)
        .body(r#"{"value": "normal"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Over the 1 MiB limit.
    let huge = format!(r#"{{"value": "{}"}}"#, "x".repeat(2 << 20));
    let response = send(&server, &reader, Method::POST, &path, Some(&huge)).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(annotations(&server).await, before, "nothing stored");
    // A good submission then goes through.
    let ok = send(
        &server,
        &reader,
        Method::POST,
        &path,
        Some(r#"{"value":"normal"}"#),
    )
    .await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(annotations(&server).await, before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_are_rate_limited_and_audited() {
    let server = start(ServerConfig {
        login_limits: LoginLimits {
            per_account: 3,
            per_address: 10,
            window: Duration::from_secs(600),
        },
        ..ServerConfig::default()
    })
    .await;
    let client = Client::new();
    let attempt = |password: &'static str| {
        client
            .post(server.url("/api/login"))
            .json(&json!({"username": "reader-2", "password": password}))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(
            attempt("guess").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let limited = attempt(demo::PASSWORD).await.unwrap();
    assert_eq!(
        limited.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password"
    );
    assert!(limited.headers().contains_key("retry-after"));
    // Another account from the same address is not locked out yet.
    login(&server, "reader-1").await;
    let user = server.core.user("reader-2").await.unwrap();
    let events = server
        .core
        .store()
        .audit_events(AuditFilter {
            entity: Some(format!("user:{}", user.id)),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    let refused = events
        .iter()
        .filter(|e| e.action == "login.refused")
        .count();
    assert_eq!(
        refused, 4,
        "three wrong passwords and one rate-limited attempt"
    );
    let reader1 = server.core.user("reader-1").await.unwrap();
    let events = server
        .core
        .store()
        .audit_events(AuditFilter {
            entity: Some(format!("user:{}", reader1.id)),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.action == "session.create"));
    // Malformed logins are refused without counting as attempts on anyone.
    let malformed = client
        .post(server.url("/api/login"))
        .header("content-type", "application/json")
        .body("{\"username\": 1}")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire() {
    let server = start(ServerConfig {
        session_ttl: Duration::from_secs(1),
        ..ServerConfig::default()
    })
    .await;
    let reader = login(&server, "reader-1").await;
    assert_eq!(
        send(&server, &reader, Method::GET, "/api/me", None)
            .await
            .status(),
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let expired = send(&server, &reader, Method::GET, "/api/me", None).await;
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_endpoint() {
    let server = start(ServerConfig::default()).await;
    let doc: Value = Client::new()
        .get(server.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/login",
        "/api/projects/{project}/next",
        "/api/projects/{project}/items/{item}/annotations",
        "/api/projects/{project}/items/{item}/adjudication",
        "/api/projects/{project}/status",
        "/api/projects/{project}/releases/{release}/report",
        "/api/projects/{project}/items/{item}/provenance",
    ] {
        assert!(paths.contains_key(path), "{path}");
    }
    assert!(doc["components"]["schemas"]["Task"].is_object());
    assert!(doc["components"]["schemas"]["Receipt"].is_object());
}

/// A manager cuts a signed release over HTTP (a wrong password cuts nothing), reads its
/// truthing report as a script-free HTML page, and an item's provenance equals the core's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releases_are_cut_and_reported_and_provenance_is_shown() {
    let server = start(ServerConfig::default()).await;
    let lead = login(&server, "lead").await;
    let p = "/api/projects/cxr";
    let wrong = send(
        &server,
        &lead,
        Method::POST,
        &format!("{p}/releases"),
        Some(r#"{"name":"v1","purpose":"test","password":"nope"}"#),
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let bad_purpose = send(
        &server,
        &lead,
        Method::POST,
        &format!("{p}/releases"),
        Some(r#"{"name":"v1","purpose":"final","password":"demo"}"#),
    )
    .await;
    assert_eq!(bad_purpose.status(), StatusCode::BAD_REQUEST);
    assert!(bad_purpose.text().await.unwrap().contains("`purpose`"));
    let listed: Value = send(&server, &lead, Method::GET, &format!("{p}/releases"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed, json!([]), "nothing is cut without the signature");
    let cut = send(
        &server,
        &lead,
        Method::POST,
        &format!("{p}/releases"),
        Some(r#"{"name":"v1","purpose":"test","password":"demo"}"#),
    )
    .await;
    assert_eq!(cut.status(), StatusCode::OK);
    let cut: Value = cut.json().await.unwrap();
    assert_eq!(cut["name"], "v1");
    assert_eq!(cut["purpose"], "test");
    assert_eq!(cut["signatures"][0]["meaning"], "approved");
    assert!(cut["items"].as_u64().unwrap() > 0);

    let report = send(
        &server,
        &lead,
        Method::GET,
        &format!("{p}/releases/v1/report"),
        None,
    )
    .await;
    assert_eq!(report.status(), StatusCode::OK);
    assert!(
        report.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = report.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    let html = report.text().await.unwrap();
    assert!(html.contains("Truthing report") && html.contains("v1"));
    assert!(!html.contains("<script"));
    let missing = send(
        &server,
        &lead,
        Method::GET,
        &format!("{p}/releases/v9/report"),
        None,
    )
    .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    // Provenance of an item with reads: what the core says, to the read.
    let admin = server.core.user("admin").await.unwrap();
    let item = server
        .core
        .export(&admin, "cxr")
        .await
        .unwrap()
        .into_iter()
        .find(|row| row.labels >= 2)
        .expect("the demo has labelled items")
        .item;
    let shown: Value = send(
        &server,
        &lead,
        Method::GET,
        &format!("{p}/items/{item}/provenance"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let core =
        serde_json::to_value(server.core.provenance(&admin, "cxr", &item).await.unwrap()).unwrap();
    assert_eq!(shown["reads"], core["reads"]);
    assert!(shown["reads"].as_array().unwrap().len() >= 2);
    assert_eq!(shown["audit_events"], core["audit_events"]);
    let reader = login(&server, "reader-1").await;
    let refused = send(
        &server,
        &reader,
        Method::GET,
        &format!("{p}/items/{item}/provenance"),
        None,
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}

/// Deleting a project under a legal hold answers 409 and is audited; after the hold's release
/// the deletion goes through, and the project takes no more labels.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_project_cannot_be_deleted() {
    let server = start(ServerConfig::default()).await;
    let admin = login(&server, "admin").await;
    let p = "/api/projects/cxr";
    let hold: Value = send(
        &server,
        &admin,
        Method::POST,
        &format!("{p}/holds"),
        Some(r#"{"reason":"litigation 2026-17"}"#),
    )
    .await
    .json()
    .await
    .unwrap();
    let refused = send(
        &server,
        &admin,
        Method::DELETE,
        p,
        Some(r#"{"reason":"closing out"}"#),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let message: Value = refused.json().await.unwrap();
    assert!(message.to_string().contains("legal hold"), "{message}");
    let project = server.core.store().project("cxr").await.unwrap();
    let events = server
        .core
        .store()
        .audit_events(AuditFilter {
            entity: Some(format!("project:{}", project.id)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.action == "project.delete.refused"
                && e.reason.as_deref() == Some("closing out")),
        "the refusal is audited"
    );
    // Without a reason: 400.
    let bare = send(&server, &admin, Method::DELETE, p, Some(r#"{"reason":""}"#)).await;
    assert_eq!(bare.status(), StatusCode::BAD_REQUEST);
    let released = send(
        &server,
        &admin,
        Method::POST,
        &format!("{p}/holds/{}/release", hold["id"]),
        Some(r#"{"reason":"matter closed"}"#),
    )
    .await;
    assert_eq!(released.status(), StatusCode::OK);
    let deleted: Value = send(
        &server,
        &admin,
        Method::DELETE,
        p,
        Some(r#"{"reason":"closing out"}"#),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(deleted["deleted"]["reason"], "closing out");
    let reader = login(&server, "reader-1").await;
    let next = send(&server, &reader, Method::POST, &format!("{p}/next"), None).await;
    assert_eq!(next.status(), StatusCode::CONFLICT);
    let state: Value = send(
        &server,
        &admin,
        Method::GET,
        &format!("{p}/retention"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(state["holds"][0]["released"]["reason"], "matter closed");
}
