//! The truthing report of the demo project's release, opened in headless Chromium: the page
//! renders (a screenshot is kept in `target/tmp/truthing-report.png`), and every figure on it
//! equals the JSON the same command printed.

use super::util::concord;
use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> Option<PathBuf> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var("CONCORD_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "CONCORD_REQUIRE_BROWSER=1 but no Chromium at /usr/bin/chromium"
        );
        eprintln!("notice: skipping, no Chromium at /usr/bin/chromium");
    }
    found
}

/// Runs headless Chromium on `page` with `args` and returns its standard output.
fn headless(browser: &Path, profile: &Path, page: &Path, args: &[&str]) -> String {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every `data-fact` element of the DOM: (JSON path, text).
fn facts(dom: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = dom;
    while let Some(start) = rest.find("data-fact=\"") {
        rest = &rest[start + "data-fact=\"".len()..];
        let end = rest.find('"').unwrap();
        let path = rest[..end].to_string();
        let open = rest.find('>').unwrap();
        let close = rest[open..].find('<').unwrap();
        out.push((path, rest[open + 1..open + close].to_string()));
    }
    out
}

/// The JSON value at a dotted path (`readers.0.accuracy.low`; `x.length` is an array's length).
fn at(json: &serde_json::Value, path: &str) -> serde_json::Value {
    let mut v = json;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        if *part == "length" && i == parts.len() - 1 {
            return serde_json::json!(v.as_array().map_or(0, Vec::len));
        }
        v = match part.parse::<usize>() {
            Ok(n) => &v[n],
            Err(_) => &v[*part],
        };
    }
    v.clone()
}

#[test]
fn the_truthing_report_shows_the_json_facts_in_a_browser() {
    let Some(browser) = chromium() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let demo = concord(d, &["demo", "--db", "demo.db"]);
    assert_eq!(demo.code, 0, "{}", demo.stderr);
    assert!(demo.stdout.contains("Release `demo-v1`"), "{}", demo.stdout);
    let run = concord(
        d,
        &[
            "report",
            "demo",
            "demo-v1",
            "--db",
            "demo.db",
            "-o",
            "report.html",
            "--json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["counts"]["adjudicated"], 5, "{json}");
    assert_eq!(json["audit"]["intact"], true, "{json}");
    assert_eq!(json["plans"].as_array().unwrap().len(), 1, "{json}");
    assert!(json["readers"].as_array().unwrap().len() >= 6, "{json}");

    let page = d.join("report.html");
    let artifacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let screenshot = artifacts.join("truthing-report.png");
    let _ = std::fs::remove_file(&screenshot);
    let profile = tempfile::tempdir().unwrap();
    headless(
        &browser,
        profile.path(),
        &page,
        &[
            &format!("--screenshot={}", screenshot.display()),
            "--window-size=1100,3800",
        ],
    );
    let png = std::fs::read(&screenshot).expect("a screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{}",
        png.len()
    );
    std::fs::copy(&page, artifacts.join("truthing-report.html")).unwrap();

    let dom = headless(&browser, profile.path(), &page, &["--dump-dom"]);
    assert!(dom.contains("<svg"), "charts are inline SVG");
    let facts = facts(&dom);
    assert!(facts.len() > 40, "{} facts", facts.len());
    for (path, text) in &facts {
        let value = at(&json, path);
        let shown: f64 = text
            .parse()
            .unwrap_or_else(|_| panic!("{path}: `{text}` is not a number"));
        match value.as_f64() {
            Some(v) if value.is_i64() || value.is_u64() => {
                assert_eq!(shown, v, "{path}: page {text}, JSON {value}");
            }
            Some(v) => {
                let decimals = text.split_once('.').map_or(0, |(_, f)| f.len());
                let tolerance = 0.5 * 10f64.powi(-(decimals as i32)) + 1e-12;
                assert!(
                    (shown - v).abs() <= tolerance,
                    "{path}: page {text}, JSON {value}"
                );
            }
            None => panic!("{path}: not a number in the JSON ({value})"),
        }
    }
}
