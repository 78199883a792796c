//! The UI in headless Chromium (Debian's `/usr/bin/chromium`, driven over the DevTools
//! protocol): an annotator labels by keyboard only and sees gold feedback, an adjudicator signs
//! a decision, a manager's dashboard shows the numbers of `concord status --json`. Screenshots
//! go to `target/ui-screenshots/`.

use crate::harness::{Server, start};
use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::page::{Page, ScreenshotParams};
use concord_server::{ServerConfig, demo};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
];

fn chromium() -> Option<PathBuf> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var_os("CONCORD_REQUIRE_BROWSER").is_none(),
            "CONCORD_REQUIRE_BROWSER=1 but no Chromium at /usr/bin/chromium"
        );
        eprintln!("notice: skipping, no Chromium at /usr/bin/chromium");
    }
    found
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/ui-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

async fn eval<T: DeserializeOwned>(page: &Page, js: &str) -> T {
    page.evaluate(js)
        .await
        .unwrap_or_else(|e| panic!("{js}: {e}"))
        .into_value()
        .unwrap_or_else(|e| panic!("{js}: {e}"))
}

/// Waits until `js` is true (10 s at most).
async fn until(page: &Page, js: &str) {
    let start = Instant::now();
    loop {
        if eval::<bool>(page, js).await {
            return;
        }
        if start.elapsed() > Duration::from_secs(10) {
            let body: String = eval(page, "document.body.innerText").await;
            let _ = page
                .save_screenshot(
                    ScreenshotParams::builder().build(),
                    screenshots().join("failure.png"),
                )
                .await;
            panic!("timed out waiting for `{js}`; the page says:\n{body}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Presses a key on whatever has the focus, as a keyboard would.
async fn key(page: &Page, key: &str) {
    let focused = page
        .find_element(":focus")
        .await
        .or(page.find_element("body").await)
        .expect("an element");
    focused.press_key(key).await.expect("key press");
}

/// Opens a screen of the UI: a page load the first time, then a change of the URL's fragment
/// (which loads nothing, so there is no load event to wait for).
async fn open(page: &Page, server: &Server, hash: &str) {
    let here = page.url().await.ok().flatten().unwrap_or_default();
    if here.starts_with(&server.url("/")) {
        let _: String = eval(page, &format!("location.hash = '{hash}'")).await;
    } else {
        page.goto(server.url(&format!("/{hash}")))
            .await
            .expect("open");
    }
}

async fn sign_in(page: &Page, server: &Server, name: &str) {
    open(page, server, "#/login").await;
    until(page, "!!document.querySelector('#username')").await;
    page.find_element("#username")
        .await
        .unwrap()
        .click()
        .await
        .unwrap()
        .type_str(name)
        .await
        .unwrap();
    let password = page.find_element("#password").await.unwrap();
    password.click().await.unwrap();
    password.type_str(demo::PASSWORD).await.unwrap();
    password.press_key("Enter").await.unwrap();
    until(page, "location.hash === '#/projects'").await;
}

async fn sign_out(page: &Page) {
    page.find_element("#logout")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(page, "!!document.querySelector('#username')").await;
}

async fn shot(page: &Page, name: &str) {
    page.save_screenshot(
        ScreenshotParams::builder().full_page(true).build(),
        screenshots().join(name),
    )
    .await
    .expect("screenshot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annotator_adjudicator_and_manager_in_a_real_browser() {
    let Some(executable) = chromium() else {
        return;
    };
    let server = start(ServerConfig::default()).await;
    let profile = tempfile::tempdir().unwrap();
    let config = BrowserConfig::builder()
        .chrome_executable(executable)
        .no_sandbox()
        .user_data_dir(profile.path())
        .window_size(1280, 900)
        .args(FLAGS)
        .build()
        .expect("browser config");
    let (mut browser, mut handler) = Browser::launch(config).await.expect("Chromium starts");
    let events = tokio::spawn(async move { while handler.next().await.is_some() {} });
    let page = browser.new_page("about:blank").await.unwrap();

    // An annotator labels by keyboard only: the first class's key, then Enter.
    sign_in(&page, &server, "reader-1").await;
    open(&page, &server, "#/p/cxr/label").await;
    let mut labelled = Vec::new();
    let mut gold_feedback = false;
    while labelled.len() < 30 && !(gold_feedback && labelled.len() >= 3) {
        until(
            &page,
            "!!document.querySelector('#item-id') && !document.querySelector('#gold-feedback')",
        )
        .await;
        let item: String = eval(&page, "document.querySelector('#item-id').textContent").await;
        key(&page, "1").await;
        until(
            &page,
            "document.querySelector('input[type=radio]:checked') !== null",
        )
        .await;
        key(&page, "Enter").await;
        until(
            &page,
            &format!(
                "!!document.querySelector('#gold-feedback') || \
                 (document.querySelector('#item-id') && document.querySelector('#item-id').textContent !== '{item}') || \
                 !!document.querySelector('#empty')"
            ),
        )
        .await;
        labelled.push(item);
        if eval::<bool>(&page, "!!document.querySelector('#gold-feedback')").await {
            if !gold_feedback {
                shot(&page, "annotator-gold-feedback.png").await;
            }
            gold_feedback = true;
            let text: String = eval(
                &page,
                "document.querySelector('#gold-feedback').textContent",
            )
            .await;
            assert!(text.contains("Gold item"), "{text}");
            key(&page, "n").await;
        }
    }
    assert!(gold_feedback, "a gold item within {} items", labelled.len());
    let reader = server.core.user("reader-1").await.unwrap();
    let project = server.core.store().project(demo::PROJECT).await.unwrap();
    let stored = server
        .core
        .store()
        .annotations(project.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.annotator_id == reader.id)
        .count();
    assert_eq!(stored, labelled.len(), "every keyboard submission stored");
    shot(&page, "annotator.png").await;
    sign_out(&page).await;

    // An adjudicator resolves the first item of the queue with a rationale and signature.
    sign_in(&page, &server, "senior-1").await;
    open(&page, &server, "#/p/cxr/adjudicate").await;
    until(&page, "!!document.querySelector('nav.queue li button')").await;
    page.find_element("nav.queue li button")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(&page, "!!document.querySelector('#decision-normal')").await;
    page.find_element("#decision-normal")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    page.find_element("#rationale")
        .await
        .unwrap()
        .click()
        .await
        .unwrap()
        .type_str("clear lungs, sharp costophrenic angles")
        .await
        .unwrap();
    page.find_element("#sign-password")
        .await
        .unwrap()
        .click()
        .await
        .unwrap()
        .type_str(demo::PASSWORD)
        .await
        .unwrap();
    shot(&page, "adjudicator.png").await;
    page.find_element("#sign")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(
        &page,
        "document.querySelector('#status').textContent.includes('Signed')",
    )
    .await;
    let adjudications = server.core.store().adjudications(project.id).await.unwrap();
    assert_eq!(adjudications.len(), 1);
    let adjudicated_item = server
        .core
        .store()
        .item_by_id(adjudications[0].item_id)
        .await
        .unwrap()
        .external_id;
    assert_eq!(
        adjudications[0].rationale,
        "clear lungs, sharp costophrenic angles"
    );
    sign_out(&page).await;

    // A manager's dashboard shows the numbers of `concord status --json`.
    sign_in(&page, &server, "lead").await;
    let lead = server.core.user("lead").await.unwrap();
    open(&page, &server, "#/p/cxr/manage").await;
    until(&page, "!!document.querySelector('#stat-annotations')").await;
    let status = server.core.status(demo::PROJECT).await.unwrap();
    let text = |id: &str| format!("document.querySelector('#{id}').textContent");
    let shown: String = eval(&page, &text("stat-annotations")).await;
    assert_eq!(shown, status.annotations.to_string());
    for state in ["open", "complete", "adjudication", "adjudicated", "gold"] {
        let shown: String = eval(&page, &text(&format!("stat-{state}"))).await;
        let expected = status.items.get(state).copied().unwrap_or(0);
        assert_eq!(shown, expected.to_string(), "{state}");
    }
    let shown: String = eval(&page, &text("stat-labels-per-item")).await;
    assert_eq!(shown, format!("{:.2}", status.labels_per_item));
    let shown: String = eval(&page, &text("stat-cost-per-item")).await;
    assert_eq!(shown, format!("{:.2}", status.cost_per_item));
    until(&page, "!!document.querySelector('#leaderboard tbody tr')").await;
    shot(&page, "manager.png").await;

    // Accessibility: every form control of the dashboard has a label.
    let unlabelled: Vec<String> = eval(
        &page,
        "[...document.querySelectorAll('input, select, textarea, button')].filter(e => \
           !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && \
           !e.getAttribute('aria-labelledby') && !(e.tagName === 'BUTTON' && e.textContent.trim())\
         ).map(e => e.outerHTML.slice(0, 80))",
    )
    .await;
    assert!(
        unlabelled.is_empty(),
        "controls without a label: {unlabelled:?}"
    );

    // The manager cuts a signed release and opens its truthing report.
    until(&page, "!!document.querySelector('#release-name')").await;
    for (field, text) in [
        ("#release-name", "v1"),
        ("#release-password", demo::PASSWORD),
    ] {
        page.find_element(field)
            .await
            .unwrap()
            .click()
            .await
            .unwrap()
            .type_str(text)
            .await
            .unwrap();
    }
    page.find_element("#create-release")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(&page, "!!document.querySelector('#releases a.report-link')").await;
    let released = server.core.releases(&lead, demo::PROJECT).await.unwrap();
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].signatures.len(), 1);
    let _: bool = eval(
        &page,
        "(fetch(document.querySelector('#releases a.report-link').href) \
           .then(r => r.text().then(t => { window.reportCheck = r.status + ' ' + t.includes('Truthing report'); })), true)",
    )
    .await;
    until(&page, "window.reportCheck === '200 true'").await;
    shot(&page, "releases.png").await;

    // The adjudicated item's provenance: its decision, rationale and signature.
    open(
        &page,
        &server,
        &format!("#/p/cxr/item/{}", adjudicated_item),
    )
    .await;
    until(&page, "!!document.querySelector('#prov-decision')").await;
    let decision: String = eval(&page, &text("prov-decision")).await;
    assert_eq!(decision, "finding: normal");
    let reads: usize = eval(
        &page,
        "document.querySelectorAll('#prov-reads-table tbody tr').length",
    )
    .await;
    assert_eq!(
        reads,
        server
            .core
            .provenance(&lead, demo::PROJECT, &adjudicated_item)
            .await
            .unwrap()
            .reads
            .len()
    );
    shot(&page, "provenance.png").await;

    browser.close().await.ok();
    events.abort();
}
