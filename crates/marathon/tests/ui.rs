//! The web UI in a real browser: `ui/tests/*.spec.mjs` (Playwright driving Debian's Chromium)
//! against a `marathon local` started here on free ports, with its own work dir and cgroup
//! root. The scenarios are in `ui/tests/ui.spec.mjs` (Marathon's UI) and
//! `ui/tests/master.spec.mjs` (the master's page); their screenshots go to `ui/screenshots`.
//!
//! Needs the UI built into the binary and the browser-test tools: `scripts/build-ui` (npm
//! packages in `ui/node_modules`) and `/usr/bin/chromium` (or `$CHROMIUM`), both installed by
//! `scripts/install-test-deps`. Without them the test says why and skips, except under `CI`.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Why the browser tests cannot run here, if they cannot.
fn missing(ui: &Path) -> Option<String> {
    if !ui.join("node_modules/@playwright/test/cli.js").is_file() {
        return Some(format!("{}/node_modules has no @playwright/test: run scripts/build-ui", ui.display()));
    }
    if !chromium().is_file() {
        return Some(format!(
            "{} is missing: apt-get install chromium (scripts/install-test-deps)",
            chromium().display()
        ));
    }
    if Command::new("node").arg("--version").stdout(Stdio::null()).status().map(|s| !s.success()).unwrap_or(true) {
        return Some("node is missing: scripts/install-test-deps".into());
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_uis_of_marathon_and_the_master_work_in_a_browser() {
    let ui = workspace_root().join("ui");
    if let Some(why) = missing(&ui) {
        assert!(std::env::var_os("CI").is_none(), "the browser tests must run in CI: {why}");
        eprintln!("skipping the browser tests: {why}");
        return;
    }
    let local = Local::start("ui-test", &[]);
    let url = local.api();
    let http = reqwest::Client::new();
    eventually(Duration::from_secs(30), "the agent to register and Marathon to subscribe", || async {
        let state: serde_json::Value =
            http.get(format!("{url}/ui/api/master/state")).send().await.ok()?.json().await.ok()?;
        let active = state["slaves"].as_array()?.iter().any(|s| s["active"] == true);
        let subscribed = state["frameworks"].as_array()?.iter().any(|f| f["name"] == "marathon");
        (active && subscribed).then_some(())
    })
    .await;
    let index = http.get(format!("{url}/ui/")).send().await.expect("GET /ui/");
    let status = index.status();
    let body = index.text().await.unwrap_or_default();
    assert!(
        status.is_success() && body.contains("/ui/assets/app.js"),
        "the binary has no UI bundle ({status}): run scripts/build-ui before cargo build\n{body}"
    );

    let screenshots = ui.join("screenshots");
    // Only this run's screenshots count.
    let _ = std::fs::remove_dir_all(&screenshots);
    let (ui_dir, run_url) = (ui.clone(), url.clone());
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("node_modules/@playwright/test/cli.js")
            .args(["test", "--output", "test-results"])
            .current_dir(&ui_dir)
            .env("MARATHON_URL", &run_url)
            .env("MASTER_URL", format!("http://127.0.0.1:{}", local.master_port))
            .env("UI_SCREENSHOTS", &screenshots)
            .env("CHROMIUM", chromium())
            .stdin(Stdio::null())
            .output()
    })
    .await
    .expect("join")
    .expect("run playwright");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "browser tests failed:\n{stdout}\n{stderr}\n--- marathon local ---\n{}",
        local.proc.log_text()
    );
    let pages = ["02-editor-422", "03-app-tasks", "04-task-stdout", "07-app-versions", "08-deployments", "09-cluster"];
    for page in pages.into_iter().chain(["11-master-agents", "12-master-sandbox"]) {
        let shot = ui.join("screenshots").join(format!("{page}.png"));
        assert!(shot.is_file(), "no screenshot {}", shot.display());
    }
}
