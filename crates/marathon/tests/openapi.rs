//! The OpenAPI document served at `/openapi.json` against the server that serves it:
//! schemathesis (in the test venv, `scripts/install-test-deps`) generates requests from the
//! document and sends them to a `marathon local` with one hollow agent (tasks are accepted and
//! reported running, no process is started: generated commands never run), bounded in time.
//! It checks that no answer is a 5xx (`not_a_server_error`), that every answer's status is
//! documented (`status_code_conformance`) and that its body matches the documented schema
//! (`response_schema_conformance`). Without schemathesis it skips, saying why (under `CI` it
//! fails). `SCHEMATHESIS_EXAMPLES=<n>` changes the examples per operation, `SCHEMATHESIS_SEED=<n>`
//! the seed (CI keeps seed 1, so that a run is repeatable).

mod common;

use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_answer_that_contradicts_the_document() {
    let python = python();
    let has_schemathesis = Command::new(&python)
        .args(["-c", "import schemathesis"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_schemathesis {
        assert!(
            std::env::var_os("CI").is_none(),
            "schemathesis must run in CI: not importable by {}",
            python.display()
        );
        eprintln!("skipping: schemathesis is not installed in {} (scripts/install-test-deps)", python.display());
        return;
    }
    let local = Local::start("openapi-test", &["--agents", "0", "--hollow_agents", "1"]);
    let api = local.api();
    let http = reqwest::Client::new();
    eventually(Duration::from_secs(30), "the Marathon API", || async {
        http.get(format!("{api}/ping")).send().await.ok().filter(|r| r.status().is_success()).map(|_| ())
    })
    .await;
    // Something to read: an app with a running task (on the hollow agent) and a group.
    for (path, body) in [
        ("/v2/apps", r#"{"id":"/st/app","cmd":"sleep 600","cpus":0.01,"mem":8}"#),
        ("/v2/groups", r#"{"id":"/st/group","apps":[{"id":"web","cmd":"sleep 600","cpus":0.01,"mem":8}]}"#),
    ] {
        let status = http
            .post(format!("{api}{path}"))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .expect("seed request")
            .status();
        assert!(status.is_success(), "POST {path}: {status}");
    }
    // Found by schemathesis: versions of an id the store cannot hold (a control character) were
    // answered 503 with the store's error; nothing has such an id, so they are 404s.
    for (method, path) in [
        (reqwest::Method::GET, "/v2/groups/%C2%84/versions"),
        (reqwest::Method::GET, "/v2/groups/%C2%84/versions/2020-01-01T00:00:00.000Z"),
        (reqwest::Method::GET, "/v2/apps/%C2%84/versions/2020-01-01T00:00:00.000Z"),
    ] {
        let status = http.request(method.clone(), format!("{api}{path}")).send().await.expect("request").status();
        assert_eq!(status, reqwest::StatusCode::NOT_FOUND, "{method} {path}");
    }
    let status = http
        .put(format!("{api}/v2/apps/%C2%84"))
        .header("Content-Type", "application/json")
        .body(r#"{"version":"2020-01-01T00:00:00.000Z"}"#)
        .send()
        .await
        .expect("PUT")
        .status();
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND, "a rollback of an app id the store cannot hold");
    let document: serde_json::Value =
        http.get(format!("{api}/openapi.json")).send().await.expect("GET /openapi.json").json().await.expect("JSON");
    assert!(document["paths"]["/v2/apps"].is_object(), "the served document: {document}");

    let examples = std::env::var("SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "5".into());
    let seed = std::env::var("SCHEMATHESIS_SEED").unwrap_or_else(|_| "1".into());
    let st_dir = local.dir.path().join("schemathesis");
    std::fs::create_dir_all(&st_dir).expect("dir");
    let output = tokio::task::spawn_blocking({
        let (python, api) = (python.clone(), api.clone());
        move || {
            Command::new(python)
                .args(["-m", "schemathesis.cli", "run"])
                .arg(format!("{api}/openapi.json"))
                .args(["--checks", "not_a_server_error,status_code_conformance,response_schema_conformance"])
                // The coverage phase alone takes minutes; examples and generated cases are enough
                // to hold the budget of about two minutes.
                .args(["--phases", "examples,fuzzing", "--max-time", "120", "--max-examples", &examples])
                .args(["--seed", &seed, "--workers", "2", "--request-timeout", "10", "--no-color"])
                .args(["--generation-database", "none", "--suppress-health-check", "too_slow"])
                // An event stream never ends.
                .args(["--exclude-operation-id", "streamEvents"])
                .current_dir(&st_dir)
                .stdin(Stdio::null())
                .output()
        }
    })
    .await
    .expect("join")
    .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stdout}");
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{stdout}\n{stderr}\n--- marathon local (tail) ---\n{}",
        {
            let text = local.proc.log_text();
            text[text.len().saturating_sub(4000)..].to_string()
        }
    );
}
