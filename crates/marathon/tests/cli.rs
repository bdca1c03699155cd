//! The `marathon app|task|deployment|group|pod|queue|info|leader|events` client commands, run as
//! subprocesses against a real `marathon local` (master, agent and Marathon in one process) whose
//! tasks are real `sleep` processes.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The longest a client command may run; `--wait` is bounded tighter by [`WAIT`].
const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);
/// `--timeout` of every `--wait` (seconds).
const WAIT: &str = "60";

/// One `marathon local` (tests/common's) with room for its tasks. Dropping it kills the
/// process and every process left with a working directory in its temp dir (its task
/// sandboxes, the monitors and the containerizer's zygote all live there).
struct Local {
    inner: common::Local,
    url: String,
}

impl Local {
    async fn start() -> Local {
        let inner =
            common::Local::serving("cli-test", &["--resources", "cpus:4;mem:4096;disk:4096;ports:[31000-32000]"]).await;
        let url = inner.api();
        Local { inner, url }
    }

    /// Runs `marathon ARGS --url <this Marathon>`.
    async fn cli(&self, args: &[&str]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--url", &self.url]);
        run(&all, &[]).await
    }

    /// Writes a file in the temp dir.
    fn file(&self, name: &str, contents: &str) -> String {
        let path = self.inner.dir.path().join(name);
        std::fs::write(&path, contents).expect("write file");
        path.display().to_string()
    }

    fn log(&self) -> String {
        self.inner.log_tail()
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        self.inner.proc.kill();
        for _ in 0..100 {
            let pids = pids_below(self.inner.dir.path());
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).stderr(Stdio::null()).status();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let dir = self.inner.dir.path();
        eprintln!("processes left in {}: {:?}", dir.display(), pids_below(dir));
    }
}

/// Processes whose working directory is `dir` or below it.
fn pids_below(dir: &Path) -> Vec<i32> {
    let mut pids = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return pids };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        if std::fs::read_link(e.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(dir)) {
            pids.push(pid);
        }
    }
    pids
}

/// What a client command did.
#[derive(Debug)]
struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Output {
    /// Asserts that the command succeeded.
    #[track_caller]
    fn ok(self) -> Output {
        assert_eq!(self.code, Some(0), "command failed:\n{self:#?}");
        self
    }

    /// Asserts that the command failed (status 1) and printed nothing on standard output.
    #[track_caller]
    fn failed(self) -> Output {
        assert_eq!(self.code, Some(1), "command did not fail as expected:\n{self:#?}");
        assert_eq!(self.stdout, "", "a failed command printed a result");
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// Runs `marathon ARGS` with `env`, without MARATHON_URL unless `env` sets it.
async fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(BIN);
    command
        .args(args)
        .env_remove("MARATHON_URL")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(COMMAND_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("marathon {args:?} still runs after {COMMAND_TIMEOUT:?}"))
        .expect("run marathon");
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A row of `marathon task list`.
#[derive(Debug, Clone, PartialEq)]
struct TaskRow {
    id: String,
    app: String,
    state: String,
}

/// The rows of a task table (TASK APP HOST PORTS STATE VERSION STARTED; every cell is one word).
fn task_rows(table: &str) -> Vec<TaskRow> {
    let mut lines = table.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().expect("a header").split_whitespace().collect();
    assert_eq!(header, ["TASK", "APP", "HOST", "PORTS", "STATE", "VERSION", "STARTED"], "{table}");
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(cells.len(), header.len(), "unexpected row {l:?} in\n{table}");
            TaskRow { id: cells[0].to_string(), app: cells[1].to_string(), state: cells[4].to_string() }
        })
        .collect()
}

/// The words of the line of a table whose first cell is `first`.
fn row<'a>(table: &'a str, first: &str) -> Option<Vec<&'a str>> {
    table.lines().map(|l| l.split_whitespace().collect::<Vec<_>>()).find(|cells| cells.first() == Some(&first))
}

fn ids(rows: &[TaskRow]) -> Vec<String> {
    let mut ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    ids.sort();
    ids
}

/// `count` tasks of `app`, all running.
fn all_running(rows: &[TaskRow], app: &str, count: usize) -> bool {
    rows.len() == count && rows.iter().all(|r| r.app == app && r.state == "TASK_RUNNING")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_is_added_scaled_restarted_and_removed_with_the_cli() {
    let local = Local::start().await;
    let definition =
        local.file("cli-web.json", r#"{"id":"cli-web","cmd":"sleep 600","cpus":0.05,"mem":16,"instances":2}"#);

    // add --wait: returns once both instances run.
    let out = local.cli(&["app", "add", &definition, "--wait", "--timeout", WAIT]).await.ok();
    assert!(out.stdout.starts_with("Created app /cli-web (deployment "), "{out:#?}");
    assert!(out.stderr.contains("succeeded: /cli-web 2/2 instance(s) running"), "{out:#?}\n{}", local.log());

    let out = local.cli(&["app", "list"]).await.ok();
    assert_eq!(row(&out.stdout, "ID"), Some(vec!["ID", "INSTANCES", "CPUS", "MEM", "DEPLOYMENTS", "CMD"]));
    assert_eq!(row(&out.stdout, "/cli-web"), Some(vec!["/cli-web", "2/2", "0.05", "16", "0", "sleep", "600"]));

    let out = local.cli(&["app", "show", "cli-web"]).await.ok();
    assert_eq!(row(&out.stdout, "instances"), Some(vec!["instances", "2"]), "{}", out.stdout);
    assert_eq!(row(&out.stdout, "tasksRunning"), Some(vec!["tasksRunning", "2"]), "{}", out.stdout);
    let table = out.stdout.split_once("\n\n").map(|(_, tasks)| tasks).expect("a task table after the app");
    assert!(all_running(&task_rows(table), "/cli-web", 2), "{}", out.stdout);

    // scale --wait: a third instance.
    let out = local.cli(&["app", "scale", "cli-web", "3", "--wait", "--timeout", WAIT]).await.ok();
    assert!(out.stdout.starts_with("Scaling /cli-web to 3 instance(s) (deployment "), "{out:#?}");
    assert!(out.stderr.contains("succeeded: /cli-web 3/3 instance(s) running"), "{out:#?}");
    let tasks = task_rows(&local.cli(&["task", "list"]).await.ok().stdout);
    assert!(all_running(&tasks, "/cli-web", 3), "{tasks:#?}");
    let of_app = task_rows(&local.cli(&["task", "list", "/cli-web"]).await.ok().stdout);
    assert_eq!(ids(&of_app), ids(&tasks));

    // task kill: the task is replaced, the app keeps 3 instances.
    let victim = tasks[0].id.clone();
    let out = local.cli(&["task", "kill", &victim]).await.ok();
    assert!(out.stdout.starts_with("Killing 1 task(s)"), "{out:#?}");
    assert_eq!(task_rows(out.stdout.split_once('\n').expect("a table").1)[0].id, victim);
    let replaced = eventually(Duration::from_secs(30), "a replacement of the killed task", || async {
        let rows = task_rows(&local.cli(&["task", "list", "cli-web"]).await.ok().stdout);
        (all_running(&rows, "/cli-web", 3) && !rows.iter().any(|r| r.id == victim)).then_some(rows)
    })
    .await;
    let out = local.cli(&["app", "list"]).await.ok();
    assert_eq!(row(&out.stdout, "/cli-web").map(|cells| cells[1].to_string()), Some("3/3".to_string()));

    // restart --wait: every task is new.
    let out = local.cli(&["app", "restart", "/cli-web", "--wait", "--timeout", WAIT]).await.ok();
    assert!(out.stdout.starts_with("Restarting /cli-web (deployment "), "{out:#?}");
    assert!(out.stderr.contains("succeeded: /cli-web 3/3 instance(s) running"), "{out:#?}");
    let restarted = task_rows(&local.cli(&["task", "list"]).await.ok().stdout);
    assert!(all_running(&restarted, "/cli-web", 3), "{restarted:#?}");
    assert!(restarted.iter().all(|r| !replaced.contains(r)), "{replaced:#?}\n{restarted:#?}");

    // remove --wait: nothing is left.
    let out = local.cli(&["app", "remove", "cli-web", "--wait", "--timeout", WAIT]).await.ok();
    assert!(out.stdout.starts_with("Removing /cli-web (deployment "), "{out:#?}");
    assert!(out.stderr.contains("succeeded: /cli-web removed"), "{out:#?}");
    let out = local.cli(&["app", "list"]).await.ok();
    assert_eq!(out.stdout.lines().count(), 1, "only the header is left:\n{}", out.stdout);
    assert_eq!(task_rows(&local.cli(&["task", "list"]).await.ok().stdout), []);
    let out = local.cli(&["app", "show", "cli-web"]).await.failed();
    assert!(out.stderr.contains("App '/cli-web' does not exist"), "{out:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_is_the_apis_json() {
    let local = Local::start().await;
    let definition =
        local.file("cli-json.json", r#"{"id":"cli-json","cmd":"sleep 600","cpus":0.05,"mem":16,"instances":1}"#);

    // With --wait, standard output still holds only the API's answer.
    let out = local.cli(&["app", "add", &definition, "--json", "--wait", "--timeout", WAIT]).await.ok();
    let created = out.json();
    assert_eq!(created["id"], "/cli-json");
    assert_eq!(created["instances"], 1);
    assert_eq!(created["cmd"], "sleep 600");
    assert!(created["deployments"][0]["id"].is_string(), "{created:#}");
    assert!(out.stderr.contains("succeeded: /cli-json 1/1 instance(s) running"), "{out:#?}");

    let apps = local.cli(&["app", "list", "--json"]).await.ok().json();
    let app = &apps["apps"][0];
    assert_eq!(apps["apps"].as_array().map(Vec::len), Some(1), "{apps:#}");
    assert_eq!(app["id"], "/cli-json");
    assert_eq!(app["instances"], 1);
    assert_eq!(app["tasksRunning"], 1);
    for key in ["cpus", "mem", "version", "versionInfo", "tasksStaged", "tasksHealthy", "tasksUnhealthy"] {
        assert!(app.get(key).is_some(), "no {key} in {app:#}");
    }
    assert_eq!(app["deployments"], serde_json::json!([]));

    let shown = local.cli(&["app", "show", "cli-json", "--json"]).await.ok().json();
    assert_eq!(shown["app"]["id"], "/cli-json");
    let task = &shown["app"]["tasks"][0];
    assert_eq!(shown["app"]["tasks"].as_array().map(Vec::len), Some(1), "{shown:#}");
    assert_eq!(task["appId"], "/cli-json");
    assert_eq!(task["state"], "TASK_RUNNING");
    for key in ["id", "host", "ports", "startedAt", "stagedAt", "version", "slaveId"] {
        assert!(task.get(key).is_some(), "no {key} in {task:#}");
    }

    let tasks = local.cli(&["task", "list", "--json"]).await.ok().json();
    assert_eq!(tasks["tasks"][0]["id"], task["id"], "{tasks:#}");
    assert!(tasks["tasks"][0]["servicePorts"].is_array(), "{tasks:#}");
    let of_app = local.cli(&["task", "list", "cli-json", "--json"]).await.ok().json();
    assert_eq!(of_app["tasks"][0]["id"], task["id"], "{of_app:#}");

    let scaled = local.cli(&["app", "scale", "cli-json", "2", "--json", "--wait", "--timeout", WAIT]).await.ok().json();
    assert!(scaled["deploymentId"].is_string() && scaled["version"].is_string(), "{scaled:#}");

    let id = task["id"].as_str().expect("task id");
    let killed = local.cli(&["task", "kill", id, "--json"]).await.ok().json();
    assert_eq!(killed["tasks"][0]["id"], id, "{killed:#}");
    let task_ids = |v: &Value| -> Vec<String> {
        v["tasks"].as_array().into_iter().flatten().filter_map(|t| t["id"].as_str().map(str::to_string)).collect()
    };
    let survivor = eventually(Duration::from_secs(30), "the killed task to be replaced", || async {
        let tasks = local.cli(&["task", "list", "--json"]).await.ok().json();
        let ids = task_ids(&tasks);
        let running = tasks["tasks"].as_array().into_iter().flatten().all(|t| t["state"] == "TASK_RUNNING");
        (running && ids.len() == 2 && !ids.iter().any(|t| t == id)).then(|| ids[0].clone())
    })
    .await;

    // kill --scale answers with the deployment that scales the app down.
    let scaled_down = local.cli(&["task", "kill", &survivor, "--scale", "--json"]).await.ok().json();
    assert!(scaled_down["deploymentId"].is_string(), "{scaled_down:#}");
    eventually(Duration::from_secs(30), "the app to be scaled down to 1", || async {
        let app = local.cli(&["app", "show", "cli-json", "--json"]).await.ok().json();
        let ids = task_ids(&app["app"]);
        (app["app"]["instances"] == 1 && ids.len() == 1 && !ids.contains(&survivor)).then_some(())
    })
    .await;

    let removed = local.cli(&["app", "remove", "cli-json", "--json", "--wait", "--timeout", WAIT]).await.ok();
    assert!(removed.json()["deploymentId"].is_string(), "{removed:#?}");
    assert_eq!(local.cli(&["app", "list", "--json"]).await.ok().json(), serde_json::json!({"apps": []}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_printed_to_stderr_with_a_failure_status() {
    let local = Local::start().await;
    // No backtrace even when one is asked for: the error is the API's, not a crash.
    let env = [("MARATHON_URL", local.url.as_str()), ("RUST_BACKTRACE", "1"), ("RUST_LIB_BACKTRACE", "1")];

    // 422 with details: each invalid path and its message.
    let invalid = local.file("invalid.json", r#"{"id":"cli-bad","cmd":"sleep 600","cpus":-1,"mem":16}"#);
    let out = run(&["app", "add", &invalid], &env).await.failed();
    assert_eq!(
        out.stderr,
        "error: POST /v2/apps failed with 422 Unprocessable Entity: Object is not valid\n  \
         /cpus: got -1.0, expected 0.0 or more\n"
    );
    let out = local.cli(&["app", "add", &invalid, "--wait", "--json"]).await.failed();
    assert!(out.stderr.contains("/cpus: got -1.0, expected 0.0 or more"), "{out:#?}");
    assert_eq!(local.cli(&["app", "list", "--json"]).await.ok().json(), serde_json::json!({"apps": []}));

    // 404, 409 and 400 answers.
    let out = local.cli(&["app", "show", "cli-missing"]).await.failed();
    assert_eq!(
        out.stderr,
        "error: GET /v2/apps/cli-missing failed with 404 Not Found: App '/cli-missing' does not exist\n"
    );
    for command in
        [&["restart", "cli-missing", "--wait"][..], &["scale", "cli-missing", "2"], &["remove", "cli-missing"]]
    {
        let out = local.cli(&[&["app"][..], command].concat()).await.failed();
        assert!(out.stderr.contains("404 Not Found: App '/cli-missing' does not exist"), "{command:?}: {out:#?}");
    }
    let idle = local.file("idle.json", r#"{"id":"cli-idle","cmd":"sleep 600","cpus":0.05,"mem":16,"instances":0}"#);
    // Nothing to start: the deployment is over at once (the created app lists none).
    let out = local.cli(&["app", "add", &idle, "--wait", "--timeout", WAIT]).await.ok();
    assert!(out.stderr.contains("succeeded: /cli-idle 0/0 instance(s) running"), "{out:#?}");
    let out = local.cli(&["app", "add", &idle]).await.failed();
    assert!(out.stderr.contains("409 Conflict: An app with id [/cli-idle] already exists."), "{out:#?}");
    let out = local.cli(&["task", "kill", "not-a-task-id"]).await.failed();
    assert!(out.stderr.contains("400 Bad Request: Invalid task id 'not-a-task-id'"), "{out:#?}");

    // --wait fails when the deployment cannot finish in time, or when another change replaces it.
    // A change of an app whose deployment is running is refused unless forced.
    // No offer ever fits 100 cpus, so this app's deployments never finish by themselves.
    let stuck = local.file("stuck.json", r#"{"id":"cli-stuck","cmd":"sleep 600","cpus":100,"mem":16,"instances":1}"#);
    let out = local.cli(&["app", "add", &stuck, "--wait", "--timeout", "1"]).await;
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(out.stdout.starts_with("Created app /cli-stuck (deployment "), "{out:#?}");
    assert!(
        out.stderr.starts_with("error: deployment ") && out.stderr.contains(" failed: timed out after 1s"),
        "{out:#?}"
    );
    let out = local.cli(&["app", "scale", "cli-stuck", "3"]).await.failed();
    assert!(out.stderr.contains("409 Conflict: App is locked by one or more deployments."), "{out:#?}");
    let waiter = tokio::spawn({
        let url = local.url.clone();
        async move {
            // The app's first deployment never finishes: only a forced change may replace it.
            let args = ["app", "scale", "cli-stuck", "2", "--force", "--wait", "--timeout", WAIT, "--url", &url];
            run(&args, &[]).await
        }
    });
    eventually(Duration::from_secs(30), "the scale change", || async {
        let app = local.cli(&["app", "show", "cli-stuck", "--json"]).await.ok().json();
        (app["app"]["instances"] == 2).then_some(())
    })
    .await;
    local.cli(&["app", "remove", "cli-stuck"]).await.ok();
    let out = waiter.await.expect("join the waiting command");
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(out.stderr.contains(" failed: /cli-stuck was removed"), "{out:#?}");

    // Errors found before any request.
    let garbage = local.file("garbage.json", "{not json");
    let out = local.cli(&["app", "add", &garbage]).await.failed();
    assert!(out.stderr.starts_with("error: the app definition in ") && out.stderr.contains("is not JSON"), "{out:#?}");
    let missing: PathBuf = local.inner.dir.path().join("missing.json");
    let out = local.cli(&["app", "add", &missing.display().to_string()]).await.failed();
    assert!(out.stderr.contains("missing.json"), "{out:#?}");

    // Nobody listening.
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let out = run(&["app", "list", "--url", &nowhere], &[]).await.failed();
    assert!(out.stderr.contains(&format!("cannot reach Marathon at {nowhere}")), "{out:#?}");
    // MARATHON_URL is used without --url; --url wins over it.
    let out = run(&["app", "list"], &env).await.ok();
    assert!(row(&out.stdout, "/cli-idle").is_some(), "{out:#?}");
    let out = run(&["task", "list", "--url", &nowhere], &env).await.failed();
    assert!(out.stderr.contains("cannot reach Marathon"), "{out:#?}");
}

/// The `cmd` of an app, through `app show --json`.
async fn cmd_of(local: &Local, app: &str) -> Value {
    local.cli(&["app", "show", app, "--json"]).await.ok().json()["app"]["cmd"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_versions_and_deployments_with_the_cli() {
    let local = Local::start().await;
    let group = local.file(
        "group.json",
        r#"{"id":"/cli-g","apps":[
            {"id":"a","cmd":"sleep 600","cpus":0.05,"mem":16,"instances":1},
            {"id":"b","cmd":"sleep 601","cpus":0.05,"mem":16,"instances":1,"dependencies":["/cli-g/a"]}]}"#,
    );

    // group add --wait: both apps run when it returns.
    let out = local.cli(&["group", "add", &group, "--wait", "--timeout", WAIT]).await.ok();
    assert!(out.stdout.starts_with("Created group /cli-g (deployment "), "{out:#?}");
    assert!(out.stderr.contains("finished"), "{out:#?}");
    let tasks = task_rows(&local.cli(&["task", "list"]).await.ok().stdout);
    assert_eq!(tasks.iter().filter(|t| t.state == "TASK_RUNNING").count(), 2, "{tasks:#?}");
    let out = local.cli(&["group", "list"]).await.ok();
    assert_eq!(row(&out.stdout, "/cli-g"), Some(vec!["/cli-g", "2", "2", "-"]), "{}", out.stdout);
    let out = local.cli(&["group", "show", "cli-g"]).await.ok();
    assert_eq!(row(&out.stdout, "/cli-g/b"), Some(vec!["/cli-g/b", "1", "0.05", "16", "/cli-g/a"]), "{}", out.stdout);

    // group scale --wait: every app doubles.
    let out = local.cli(&["group", "scale", "/cli-g", "2", "--wait", "--timeout", WAIT]).await.ok();
    assert!(out.stdout.starts_with("Scaling group /cli-g by 2 (deployment "), "{out:#?}");
    let tasks = task_rows(&local.cli(&["task", "list"]).await.ok().stdout);
    assert_eq!(tasks.iter().filter(|t| t.state == "TASK_RUNNING").count(), 4, "{tasks:#?}");

    // app update: only the fields given change; versions lists both; rollback restores the first.
    let first_version = local.cli(&["app", "versions", "/cli-g/a", "--json"]).await.ok().json()["versions"]
        .as_array()
        .and_then(|v| v.last().cloned())
        .expect("a version");
    let change = local.file("change.json", r#"{"id":"/ignored","cmd":"sleep 700"}"#);
    let out = local.cli(&["app", "update", "cli-g/a", &change, "--wait", "--timeout", WAIT]).await.ok();
    assert!(out.stdout.starts_with("Updating /cli-g/a (deployment "), "{out:#?}");
    assert_eq!(cmd_of(&local, "cli-g/a").await, "sleep 700");
    let app = local.cli(&["app", "show", "cli-g/a", "--json"]).await.ok().json();
    assert_eq!(app["app"]["instances"], 2, "the instances were kept: {app:#}");
    let out = local.cli(&["app", "versions", "cli-g/a"]).await.ok();
    let versions: Vec<&str> = out.stdout.lines().skip(1).map(str::trim).collect();
    assert!(versions.len() >= 3 && versions.contains(&first_version.as_str().unwrap_or("")), "{}", out.stdout);
    let first = first_version.as_str().expect("a version string");
    let out = local.cli(&["app", "rollback", "cli-g/a", first, "--wait", "--timeout", WAIT]).await.ok();
    assert!(out.stdout.starts_with(&format!("Rolling /cli-g/a back to version {first}")), "{out:#?}");
    assert_eq!(cmd_of(&local, "cli-g/a").await, "sleep 600");
    let out = local.cli(&["app", "rollback", "cli-g/a", "2000-01-01T00:00:00.000Z"]).await.failed();
    assert!(out.stderr.contains("404 Not Found"), "{out:#?}");

    // A deployment that cannot finish (nothing fits 100 cpus): listed, then cancelled with a
    // rollback (the app it created goes away) or stopped where it is with --force.
    let stuck = local.file("stuck.json", r#"{"id":"/cli-g/stuck","cmd":"sleep 600","cpus":100,"mem":16}"#);
    let created = local.cli(&["app", "add", &stuck]).await.ok();
    let id = created.stdout.split("(deployment ").nth(1).and_then(|s| s.strip_suffix(")\n")).expect("an id");
    let out = local.cli(&["deployment", "list"]).await.ok();
    let listed = row(&out.stdout, id).unwrap_or_else(|| panic!("{id} not listed:\n{}", out.stdout));
    let listed_json = local.cli(&["deployment", "list", "--json"]).await.ok().json();
    assert_eq!(listed_json[0]["id"], id, "{listed_json:#}");
    let step = format!("{}/{}", listed_json[0]["currentStep"], listed_json[0]["totalSteps"]);
    assert_eq!(listed[2], step, "{}", out.stdout);
    let out = local.cli(&["deployment", "cancel", id, "--wait"]).await.ok();
    assert!(out.stdout.starts_with(&format!("Rolling back deployment {id} (deployment ")), "{out:#?}");
    let out = local.cli(&["app", "show", "cli-g/stuck"]).await.failed();
    assert!(out.stderr.contains("does not exist"), "the rollback removed the app it created: {out:#?}");
    let created = local.cli(&["app", "add", &stuck]).await.ok();
    let id = created.stdout.split("(deployment ").nth(1).and_then(|s| s.strip_suffix(")\n")).expect("an id");
    let out = local.cli(&["deployment", "cancel", id, "--force"]).await.ok();
    assert_eq!(out.stdout, format!("Stopped deployment {id} (no rollback)\n"));
    assert_eq!(local.cli(&["deployment", "list", "--json"]).await.ok().json(), serde_json::json!([]));
    local.cli(&["app", "show", "cli-g/stuck"]).await.ok();
    let out = local.cli(&["deployment", "cancel", "no-such-deployment"]).await.failed();
    assert!(out.stderr.contains("404 Not Found"), "{out:#?}");

    // group remove --wait: nothing is left.
    let out = local.cli(&["group", "remove", "cli-g", "--wait", "--timeout", WAIT]).await.ok();
    assert!(out.stdout.starts_with("Removing group /cli-g (deployment "), "{out:#?}");
    assert_eq!(task_rows(&local.cli(&["task", "list"]).await.ok().stdout), []);
    assert_eq!(local.cli(&["app", "list", "--json"]).await.ok().json(), serde_json::json!({"apps": []}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_leader_queue_events_and_completions_with_the_cli() {
    let local = Local::start().await;
    let port = local.url.rsplit(':').next().expect("a port").to_string();

    let out = local.cli(&["info"]).await.ok();
    assert_eq!(row(&out.stdout, "name"), Some(vec!["name", "marathon"]), "{}", out.stdout);
    let info = local.cli(&["info", "--json"]).await.ok().json();
    assert!(info["frameworkId"].is_string(), "{info:#}");
    assert!(row(&out.stdout, "marathon_config.master").is_some(), "{}", out.stdout);

    let out = local.cli(&["leader", "show"]).await.ok();
    assert!(out.stdout.trim().ends_with(&format!(":{port}")), "{out:#?}");
    assert!(local.cli(&["leader", "show", "--json"]).await.ok().json()["leader"].is_string());
    let out = local.cli(&["leader", "abdicate"]).await.failed();
    assert!(
        out.stderr.contains("400 Bad Request: Leadership can only be abdicated with high availability"),
        "{out:#?}"
    );

    // The event stream, followed while an app is created: readable lines, then the same as JSON.
    let mut events = tokio::process::Command::new(BIN)
        .args(["events", "--url", &local.url])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn marathon events");
    let mut json_events = tokio::process::Command::new(BIN)
        .args(["events", "--json", "--event-type", "status_update_event", "--url", &local.url])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn marathon events --json");
    let lines = |child: &mut tokio::process::Child| {
        use tokio::io::AsyncBufReadExt;
        tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines()
    };
    let (mut readable, mut raw) = (lines(&mut events), lines(&mut json_events));
    let first = tokio::time::timeout(Duration::from_secs(10), readable.next_line()).await;
    let first = first.expect("the first event in time").expect("read").expect("a line");
    assert!(first.contains(" event_stream_attached "), "{first}");
    let definition = local.file("ev.json", r#"{"id":"cli-ev","cmd":"sleep 600","cpus":0.05,"mem":16}"#);
    local.cli(&["app", "add", &definition]).await.ok();
    let running = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = readable.next_line().await.expect("read") {
            if line.contains(" status_update_event app=/cli-ev ") && line.contains(" status=TASK_RUNNING") {
                return line;
            }
        }
        panic!("the event stream ended");
    })
    .await
    .expect("a readable TASK_RUNNING line");
    assert!(running.contains(" task=cli-ev."), "{running}");
    let event: Value = tokio::time::timeout(Duration::from_secs(30), async {
        let line = raw.next_line().await.expect("read").expect("a line");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    })
    .await
    .expect("a JSON status update");
    assert_eq!(event["eventType"], "status_update_event", "only the type asked for: {event:#}");
    assert_eq!(event["appId"], "/cli-ev");

    // The queue: an app nothing can hold waits, with the reason offers did not fit; reset its
    // delay.
    let big = local.file("big.json", r#"{"id":"cli-big","cmd":"sleep 600","cpus":100,"mem":16}"#);
    local.cli(&["app", "add", &big]).await.ok();
    let waiting = eventually(Duration::from_secs(30), "the queue's reasons", || async {
        let out = local.cli(&["queue", "list"]).await.ok();
        let unmet = row(&out.stdout, "/cli-big").is_some_and(|r| r.iter().any(|c| c.contains("InsufficientCpus")));
        unmet.then_some(out.stdout)
    })
    .await;
    assert!(row(&waiting, "APP").is_some(), "{waiting}");
    let queue = local.cli(&["queue", "list", "--json"]).await.ok().json();
    assert_eq!(queue["queue"][0]["app"]["id"], "/cli-big", "{queue:#}");
    let out = local.cli(&["queue", "reset", "cli-big"]).await.ok();
    assert_eq!(out.stdout, "Reset the launch delay of /cli-big\n");
    let out = local.cli(&["queue", "reset", "cli-nothing"]).await.failed();
    assert!(out.stderr.contains("404"), "{out:#?}");

    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["completions", shell], &[]).await.ok();
        assert!(out.stdout.contains("deployment") && out.stdout.contains("rollback"), "{shell}: {out:#?}");
        // `pod` and its subcommands: listed as words (bash, fish) or with their help (zsh).
        let pod = match shell {
            "zsh" => out.stdout.contains("'pod:Manage pods") && out.stdout.contains("'kill:Kill instances of a pod"),
            _ => out.stdout.contains("list show status add update scale remove versions version kill"),
        };
        assert!(pod, "{shell} completes no pod commands");
    }
}

/// A pod of two containers: a web server on a host port, and a sidecar.
const POD: &str = r#"{"id":"/cli/pod","scaling":{"kind":"fixed","instances":1},"containers":[
    {"name":"server","resources":{"cpus":0.1,"mem":32},
     "exec":{"command":{"shell":"exec python3 -m http.server $ENDPOINT_HTTP"}},
     "endpoints":[{"name":"http","hostPort":0}]},
    {"name":"sidecar","resources":{"cpus":0.1,"mem":16},"exec":{"command":{"argv":["/bin/sleep","1000"]}}}]}"#;

/// A row of `marathon pod status`.
#[derive(Debug, Clone, PartialEq)]
struct InstanceRow {
    id: String,
    status: String,
    containers: String,
    endpoints: String,
}

/// The instances `marathon pod status` lists (after a `pod <id> <STATE> since <time>` line,
/// INSTANCE STATUS HOST CONTAINERS ENDPOINTS; every cell is one word), and the pod's state.
fn instance_rows(out: &str) -> (String, Vec<InstanceRow>) {
    let mut lines = out.lines().filter(|l| !l.trim().is_empty());
    let title: Vec<&str> = lines.next().expect("a title").split_whitespace().collect();
    assert!(title.len() == 5 && title[0] == "pod" && title[3] == "since", "{out}");
    let header: Vec<&str> = lines.next().expect("a header").split_whitespace().collect();
    assert_eq!(header, ["INSTANCE", "STATUS", "HOST", "CONTAINERS", "ENDPOINTS"], "{out}");
    let rows = lines
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(cells.len(), header.len(), "unexpected row {l:?} in\n{out}");
            InstanceRow {
                id: cells[0].to_string(),
                status: cells[1].to_string(),
                containers: cells[3].to_string(),
                endpoints: cells[4].to_string(),
            }
        })
        .collect();
    (title[2].to_string(), rows)
}

/// The task ids of each container of each instance, from `pod status --json`.
fn container_ids(status: &Value) -> Vec<(String, Vec<String>)> {
    let ids = |i: &Value| -> Vec<String> {
        i["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["containerId"].as_str())
            .map(str::to_string)
            .collect()
    };
    let instances = status["instances"].as_array().into_iter().flatten();
    instances.map(|i| (i["id"].as_str().unwrap_or_default().to_string(), ids(i))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_is_added_scaled_killed_and_removed_with_the_cli() {
    let local = Local::start().await;
    let definition = local.file("pod.json", POD);

    // add --wait: returns once the instance is STABLE.
    let out = local.cli(&["pod", "add", &definition, "--wait", "--timeout", WAIT]).await.ok();
    assert!(out.stdout.starts_with("Created pod /cli/pod (deployment "), "{out:#?}");
    assert!(out.stderr.contains("succeeded: /cli/pod 1/1 instance(s) stable"), "{out:#?}\n{}", local.log());

    let out = local.cli(&["pod", "list"]).await.ok();
    assert_eq!(row(&out.stdout, "ID"), Some(vec!["ID", "INSTANCES", "STATUS", "CONTAINERS", "CPUS", "MEM"]));
    assert_eq!(row(&out.stdout, "/cli/pod"), Some(vec!["/cli/pod", "1", "STABLE", "2", "0.2", "48"]));

    // status: both containers run, the server on the host port it was given.
    let (state, rows) = instance_rows(&local.cli(&["pod", "status", "cli/pod"]).await.ok().stdout);
    assert_eq!((state.as_str(), rows.len()), ("STABLE", 1), "{rows:#?}");
    assert_eq!(rows[0].status, "STABLE");
    assert_eq!(rows[0].containers, "server:TASK_RUNNING,sidecar:TASK_RUNNING");
    let port: u16 = rows[0]
        .endpoints
        .strip_prefix("http:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("a host port: {rows:#?}"));
    // Without a health check the instance is STABLE once running: the server may still start.
    eventually(Duration::from_secs(30), "the server container on its host port", || async {
        let served = reqwest::get(format!("http://127.0.0.1:{port}/")).await.ok()?;
        (served.status() == 200).then_some(())
    })
    .await;
    let status = local.cli(&["pod", "status", "cli/pod", "--json"]).await.ok().json();
    assert_eq!(status["instances"][0]["containers"][0]["endpoints"][0]["allocatedHostPort"], port, "{status:#}");

    // scale --wait: a second instance.
    let out = local.cli(&["pod", "scale", "/cli/pod", "2", "--wait", "--timeout", WAIT]).await.ok();
    assert!(out.stdout.starts_with("Scaling pod /cli/pod to 2 instance(s) (deployment "), "{out:#?}");
    assert!(out.stderr.contains("succeeded: /cli/pod 2/2 instance(s) stable"), "{out:#?}");
    let (state, rows) = instance_rows(&local.cli(&["pod", "status", "cli/pod"]).await.ok().stdout);
    assert_eq!(state, "STABLE");
    assert_eq!(rows.iter().filter(|r| r.status == "STABLE").count(), 2, "{rows:#?}");
    let out = local.cli(&["pod", "list"]).await.ok();
    assert_eq!(row(&out.stdout, "/cli/pod"), Some(vec!["/cli/pod", "2", "STABLE", "2", "0.2", "48"]));

    // kill: the instance is relaunched under its id (its containers' next incarnation).
    let before = container_ids(&local.cli(&["pod", "status", "cli/pod", "--json"]).await.ok().json());
    let victim = rows[0].id.clone();
    let out = local.cli(&["pod", "kill", "cli/pod", &victim]).await.ok();
    assert!(out.stdout.starts_with("Killing 1 instance(s) of /cli/pod\n"), "{out:#?}");
    assert!(out.stdout.contains(&victim), "{out:#?}");
    let relaunched = |victims: Vec<String>, before: Vec<(String, Vec<String>)>| {
        let local = &local;
        async move {
            eventually(Duration::from_secs(30), "the killed instances relaunched", || async {
                let status = local.cli(&["pod", "status", "cli/pod", "--json"]).await.ok().json();
                let now = container_ids(&status);
                let stable = status["instances"].as_array()?.iter().all(|i| i["status"] == "STABLE");
                let ids = |v: &[(String, Vec<String>)]| {
                    let mut ids: Vec<String> = v.iter().map(|(id, _)| id.clone()).collect();
                    ids.sort();
                    ids
                };
                let renewed = now.iter().all(|(id, containers)| {
                    let old = before.iter().find(|(i, _)| i == id).map(|(_, c)| c);
                    old.is_some_and(|old| (old != containers) == victims.contains(id))
                });
                (status["status"] == "STABLE" && stable && ids(&now) == ids(&before) && renewed).then_some(now)
            })
            .await
        }
    };
    let after = relaunched(vec![victim.clone()], before).await;
    let (state, rows) = instance_rows(&local.cli(&["pod", "status", "cli/pod"]).await.ok().stdout);
    assert_eq!(state, "STABLE");
    assert!(rows.iter().all(|r| r.status == "STABLE") && rows.iter().any(|r| r.id == victim), "{rows:#?}");

    // kill of several: both relaunched; an unknown id fails.
    let both: Vec<String> = after.iter().map(|(id, _)| id.clone()).collect();
    let killed = local.cli(&["pod", "kill", "cli/pod", &both[0], &both[1], "--json"]).await.ok().json();
    assert_eq!(killed.as_array().map(Vec::len), Some(2), "{killed:#}");
    relaunched(both, after).await;
    let out = local.cli(&["pod", "kill", "cli/pod", "cli_pod.instance-nope"]).await.failed();
    assert!(out.stderr.contains("404 Not Found"), "{out:#?}");

    // update --wait: a new definition (its id left out), restarted; versions: one per change.
    let mut changed: Value = serde_json::from_str(POD).expect("POD is JSON");
    changed.as_object_mut().map(|o| o.remove("id"));
    changed["scaling"]["instances"] = 2.into();
    changed["containers"][1]["exec"]["command"]["argv"][1] = "1001".into();
    let changed = local.file("changed.json", &changed.to_string());
    let out = local.cli(&["pod", "update", "cli/pod", &changed, "--wait", "--timeout", WAIT]).await.ok();
    assert!(out.stdout.starts_with("Updating pod /cli/pod (deployment "), "{out:#?}");
    assert!(out.stderr.contains("succeeded: /cli/pod 2/2 instance(s) stable"), "{out:#?}");
    let out = local.cli(&["pod", "versions", "cli/pod"]).await.ok();
    let versions: Vec<&str> = out.stdout.lines().skip(1).map(str::trim).collect();
    assert_eq!(out.stdout.lines().next().map(str::trim), Some("VERSION"), "{}", out.stdout);
    assert_eq!(versions.len(), 3, "add, scale and update: {}", out.stdout);
    let out = local.cli(&["pod", "version", "cli/pod", versions[2]]).await.ok();
    assert_eq!(row(&out.stdout, "instances"), Some(vec!["instances", "1"]), "{}", out.stdout);
    assert_eq!(row(&out.stdout, "sidecar"), Some(vec!["sidecar", "0.1", "16", "-", "/bin/sleep", "1000"]));
    let first = local.cli(&["pod", "version", "cli/pod", versions[2], "--json"]).await.ok().json();
    assert_eq!(first["scaling"]["instances"], 1, "{first:#}");

    // show --json is the API's pod.
    let shown = local.cli(&["pod", "show", "cli/pod", "--json"]).await.ok().json();
    let api: Value =
        reqwest::get(format!("{}/v2/pods/cli/pod", local.url)).await.expect("GET").json().await.expect("JSON");
    assert_eq!(shown, api);
    assert_eq!(shown["containers"][1]["exec"]["command"]["argv"], serde_json::json!(["/bin/sleep", "1001"]));
    let out = local.cli(&["pod", "show", "cli/pod"]).await.ok();
    assert_eq!(
        row(&out.stdout, "server"),
        Some(vec!["server", "0.1", "32", "http:0", "exec", "python3", "-m", "http.server", "$ENDPOINT_HTTP"])
    );

    // remove --wait: nothing is left.
    let out = local.cli(&["pod", "remove", "cli/pod", "--wait", "--timeout", WAIT]).await.ok();
    assert!(out.stdout.starts_with("Removing pod /cli/pod (deployment "), "{out:#?}");
    assert!(out.stderr.contains("succeeded: /cli/pod removed"), "{out:#?}");
    let out = local.cli(&["pod", "list"]).await.ok();
    assert_eq!(out.stdout.lines().count(), 1, "only the header is left:\n{}", out.stdout);
    assert_eq!(local.cli(&["pod", "list", "--json"]).await.ok().json(), serde_json::json!([]));
    let out = local.cli(&["pod", "status", "cli/pod"]).await.failed();
    assert!(out.stderr.contains("404 Not Found: Pod '/cli/pod' does not exist"), "{out:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_errors_are_printed_per_field_with_a_failure_status() {
    let local = Local::start().await;
    // 422: the message, then each invalid field on a line of its own.
    let mut named: Value = serde_json::from_str(POD).expect("POD is JSON");
    named["containers"][0]["name"] = "Bad_Name".into();
    let mut imaged: Value = serde_json::from_str(POD).expect("POD is JSON");
    imaged["containers"][1]["image"] = serde_json::json!({"kind": "DOCKER", "id": "busybox"});
    for (bad, field) in [(named, "/containers(0)/name"), (imaged, "/containers(1)/image")] {
        let bad = local.file("bad.json", &bad.to_string());
        let out = local.cli(&["pod", "add", &bad, "--wait"]).await.failed();
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 2, "{out:#?}");
        assert_eq!(lines[0], "error: POST /v2/pods failed with 422 Unprocessable Entity: Object is not valid");
        assert!(lines[1].starts_with(&format!("  {field}: ")), "{out:#?}");
    }
    assert_eq!(local.cli(&["pod", "list", "--json"]).await.ok().json(), serde_json::json!([]));

    // 404s, a 409 and a 400.
    for command in
        [&["show", "cli-nope"][..], &["scale", "cli-nope", "2"], &["remove", "cli-nope"], &["versions", "cli-nope"]]
    {
        let out = local.cli(&[&["pod"][..], command].concat()).await.failed();
        assert!(out.stderr.contains("404 Not Found: Pod '/cli-nope' does not exist"), "{command:?}: {out:#?}");
    }
    // No offer ever fits 100 cpus, so this pod's deployment never finishes by itself.
    let mut stuck: Value = serde_json::from_str(POD).expect("POD is JSON");
    stuck["id"] = "/cli-stuck".into();
    stuck["containers"][1]["resources"]["cpus"] = 100.into();
    let stuck = local.file("stuck.json", &stuck.to_string());
    let out = local.cli(&["pod", "add", &stuck, "--wait", "--timeout", "1"]).await;
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(out.stdout.starts_with("Created pod /cli-stuck (deployment "), "{out:#?}");
    assert!(out.stderr.contains(" failed: timed out after 1s"), "{out:#?}");
    // Its deployment names the pod as what its action acts on, and as affected.
    let id = out.stdout.split("(deployment ").nth(1).and_then(|s| s.strip_suffix(")\n")).expect("an id");
    let out = local.cli(&["deployment", "list"]).await.ok();
    let listed = row(&out.stdout, id).unwrap_or_else(|| panic!("{id} not listed:\n{}", out.stdout));
    assert_eq!(listed[3..].iter().filter(|c| **c == "/cli-stuck").count(), 2, "{}", out.stdout);
    let out = local.cli(&["pod", "list"]).await.ok();
    assert_eq!(row(&out.stdout, "/cli-stuck"), Some(vec!["/cli-stuck", "1", "DEGRADED", "2", "100.1", "48"]));
    let out = local.cli(&["pod", "scale", "cli-stuck", "2"]).await.failed();
    assert!(out.stderr.contains("409 Conflict"), "{out:#?}");
    let out = local.cli(&["pod", "scale", "cli-stuck", "0", "--force", "--wait", "--timeout", WAIT]).await.ok();
    assert!(out.stderr.contains("succeeded: /cli-stuck 0/0 instance(s) stable"), "{out:#?}");
    let other = local.file("other.json", POD);
    let out = local.cli(&["pod", "update", "cli-stuck", &other]).await.failed();
    assert!(
        out.stderr.contains("400 Bad Request: '/cli-stuck' does not match definition's id ('/cli/pod')"),
        "{out:#?}"
    );
    let out = local.cli(&["pod", "version", "cli-stuck", "2000-01-01T00:00:00.000Z"]).await.failed();
    assert!(out.stderr.contains("404 Not Found"), "{out:#?}");
}
