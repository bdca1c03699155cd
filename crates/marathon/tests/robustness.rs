//! Faults a hostile user found (issue 13): input that used to crash the scheduler or exhaust its
//! memory, and a store that fails under it. Each test drives a real `marathon scheduler` process
//! over HTTP and checks that it answers, keeps running and keeps its state.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

/// A scheduler without a master (the REST API validates and stores without one).
async fn lone_marathon(dir: &std::path::Path) -> Marathon {
    let unreachable_master = format!("127.0.0.1:{}", free_port());
    Marathon::start(&unreachable_master, &dir.join("marathon"), &[]).await
}

fn rss_kb(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn has_error_at(answer: &Value, path: &str, needle: &str) -> bool {
    answer["details"].as_array().is_some_and(|details| {
        details.iter().any(|d| {
            d["path"] == path
                && d["errors"]
                    .as_array()
                    .is_some_and(|e| e.iter().any(|m| m.as_str().is_some_and(|m| m.contains(needle))))
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_of_any_length_are_stored_or_refused_and_the_process_lives_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut marathon = lone_marathon(dir.path()).await;
    let long = "a".repeat(600);
    let longest = format!("/{}", "b".repeat(179));
    let deep = format!("/{}", vec!["segment"; 40].join("/"));

    let (status, answer) = marathon.send(Method::POST, "/v2/apps", Some(json!({"id": long, "cmd": "sleep 1"}))).await;
    assert_eq!(status, 422, "{answer}");
    assert!(has_error_at(&answer, "/id", "must not be longer than 180 characters"), "{answer}");
    let (status, answer) = marathon.send(Method::POST, "/v2/apps", Some(json!({"id": deep, "cmd": "sleep 1"}))).await;
    assert_eq!(status, 422, "{answer}");
    let (status, answer) =
        marathon.send(Method::PUT, &format!("/v2/apps/{long}"), Some(json!({"cmd": "sleep 1"}))).await;
    assert_eq!(status, 422, "{answer}");
    let group = json!({"id": long, "apps": [{"id": "x", "cmd": "sleep 1"}]});
    let (status, answer) = marathon.send(Method::POST, "/v2/groups", Some(group)).await;
    assert_eq!(status, 422, "{answer}");
    assert!(has_error_at(&answer, "/id", "must not be longer than 180 characters"), "{answer}");
    let nested = json!({"id": "/g", "groups": [{"id": "/g/".to_string() + &long}]});
    let (status, answer) = marathon.send(Method::POST, "/v2/groups", Some(nested)).await;
    assert_eq!(status, 422, "{answer}");
    let (status, answer) = marathon.send(Method::PUT, &format!("/v2/groups/{long}"), Some(json!({"apps": []}))).await;
    assert_eq!(status, 422, "{answer}");

    // The longest allowed id is stored and survives a restart.
    let (status, answer) =
        marathon.send(Method::POST, "/v2/apps", Some(json!({"id": longest, "cmd": "sleep 1"}))).await;
    assert_eq!(status, 201, "{answer}");
    assert!(marathon.proc.child.try_wait().expect("wait").is_none(), "the scheduler exited");
    marathon.kill9_and_restart().await;
    let (status, answer) = marathon.get(&format!("/v2/apps{longest}")).await;
    assert_eq!(status, 200, "{answer}");
    let (_, apps) = marathon.get("/v2/apps").await;
    assert_eq!(apps["apps"].as_array().map(Vec::len), Some(1), "{apps}");
}

/// Found by schemathesis: `PUT /v2/groups/{id}` with `scaleBy` skipped the id checks, so a
/// group id the store refuses (a control character) reached a store write, which failed and
/// made the service reload its state (every request meanwhile answered 503); and the apps of a
/// group that does not exist were listed as an empty group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_that_do_not_exist_cannot_be_scaled_or_listed_and_the_api_stays_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marathon = lone_marathon(dir.path()).await;
    let (status, answer) = marathon
        .send(Method::POST, "/v2/apps", Some(json!({"id": "/real/web", "cmd": "sleep 1", "instances": 1})))
        .await;
    assert_eq!(status, 201, "{answer}");
    for group in ["%1Cx", "nothere", "real/nothere"] {
        let (status, answer) =
            marathon.send(Method::PUT, &format!("/v2/groups/{group}"), Some(json!({"scaleBy": 2}))).await;
        assert_eq!(status, 404, "scaleBy of {group}: {answer}");
        assert!(answer["message"].as_str().is_some_and(|m| m.contains("does not exist")), "{answer}");
        // Served at once: the service did not stop to reload.
        let (status, answer) = marathon.get("/v2/apps").await;
        assert_eq!(status, 200, "after scaleBy of {group}: {answer}");
    }
    let (status, answer) = marathon.get("/v2/apps/nothere/versions/*").await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(answer["message"], "Group '/nothere/versions' does not exist", "{answer}");
    let (status, answer) = marathon.get("/v2/apps/real/*").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["*"].as_array().map(Vec::len), Some(1), "{answer}");
    let (status, answer) = marathon.get("/v2/apps/*").await;
    assert_eq!(status, 200, "{answer}");
    // A group that exists still scales (forced: without a master the app's deployment never ends).
    let (status, answer) = marathon.send(Method::PUT, "/v2/groups/real?force=true", Some(json!({"scaleBy": 3}))).await;
    assert_eq!(status, 200, "{answer}");
    let (_, app) = marathon.get("/v2/apps/real/web").await;
    assert_eq!(app["app"]["instances"], 3, "{app}");
    assert!(!marathon.proc.log_text().contains("store write failed"), "a refused store write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_must_be_json_and_within_the_limit_answered_in_marathons_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marathon = lone_marathon(dir.path()).await;
    let body = json!({"id": "/typed", "cmd": "sleep 1"}).to_string();
    for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
        let mut request = marathon.http.post(marathon.url("/v2/apps")).body(body.clone());
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        let response = request.send().await.expect("POST");
        assert_eq!(response.status().as_u16(), 415, "{content_type:?}");
        let answer: Value = response.json().await.expect("a JSON error");
        assert_eq!(answer, json!({"message": "Unsupported Media Type"}));
    }
    let (_, apps) = marathon.get("/v2/apps").await;
    assert_eq!(apps, json!({"apps": []}), "nothing was created from a non-JSON body");
    // A JSON body with a charset is fine, and so is a POST without a body.
    let response = marathon
        .http
        .post(marathon.url("/v2/apps"))
        .header("Content-Type", "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 201);
    let response = marathon.http.post(marathon.url("/v2/apps/typed/restart?force=true")).send().await.expect("restart");
    assert!(response.status().is_success(), "{}", response.status());

    let huge = json!({"id": "/huge", "cmd": "x".repeat(3 << 20)});
    let (status, answer) = marathon.send(Method::POST, "/v2/apps", Some(huge)).await;
    assert_eq!(status, 413, "{answer}");
    assert!(answer["message"].as_str().is_some_and(|m| m.contains("too large")), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn features_not_built_yet_are_refused_by_name_instead_of_ignored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marathon = lone_marathon(dir.path()).await;
    let cases = [
        (
            json!({"container": {"type": "DOCKER", "docker": {"image": "nginx"},
                "volumes": [{"containerPath": "/data", "mode": "RW", "external": {"name": "v", "provider": "dvdi"}}]}}),
            "/container/volumes(0)",
        ),
        (json!({"container": {"type": "MESOS", "docker": {"image": "nginx"}}}), "/container/docker/image"),
        (
            json!({"role": "prod", "container": {"type": "MESOS",
                "volumes": [{"containerPath": "data", "mode": "RW", "persistent": {"size": 10}}]}}),
            "/container/volumes",
        ),
        (json!({"executor": "/opt/custom-executor"}), "/executor"),
        (json!({"networks": [{"mode": "container/bridge"}]}), "/networks"),
    ];
    for (extra, path) in cases {
        // A role other than the default one is valid below the top-level group of its name.
        let id = if extra.get("role").is_some() { "/prod/unsupported" } else { "/unsupported" };
        let mut app = json!({"id": id, "cmd": "sleep 100"});
        app.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
        let (status, answer) = marathon.send(Method::POST, "/v2/apps", Some(app.clone())).await;
        assert_eq!(status, 422, "{app} -> {answer}");
        assert!(has_error_at(&answer, path, "not supported yet"), "{app}: {answer}");
        // The same through a group.
        let group = json!({"id": "/grp", "apps": [app]});
        let (status, answer) = marathon.send(Method::POST, "/v2/groups", Some(group)).await;
        assert_eq!(status, 422, "{answer}");
    }
    let (_, apps) = marathon.get("/v2/apps").await;
    assert_eq!(apps, json!({"apps": []}));

    // Upstream rules that used to pass: an app that depends on itself, MAX_PER below 1.
    let (status, answer) = marathon
        .send(Method::POST, "/v2/apps", Some(json!({"id": "/self", "cmd": "sleep 1", "dependencies": ["/self"]})))
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(has_error_at(&answer, "/", "cyclic"), "{answer}");
    let max_per = json!({"id": "/mp", "cmd": "sleep 1", "constraints": [["hostname", "MAX_PER", "-1"]]});
    let (status, answer) = marathon.send(Method::POST, "/v2/apps", Some(max_per)).await;
    assert_eq!(status, 422, "{answer}");
    assert!(has_error_at(&answer, "/constraints(0)", "at least 1"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_version_a_group_post_returns_is_the_stored_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marathon = lone_marathon(dir.path()).await;
    for i in 0..20 {
        let group = json!({"id": format!("/v{i}"), "apps": [{"id": "a", "cmd": "sleep 1", "instances": 0}]});
        let (status, answer) = marathon.send(Method::POST, "/v2/groups", Some(group)).await;
        assert_eq!(status, 201, "{answer}");
        let version = answer["version"].as_str().expect("version").to_string();
        let (_, stored) = marathon.get(&format!("/v2/groups/v{i}")).await;
        assert_eq!(stored["version"], version, "{stored}");
        let (_, versions) = marathon.get(&format!("/v2/groups/v{i}/versions")).await;
        assert!(versions.as_array().is_some_and(|v| v.contains(&json!(version))), "{versions}");
        let (status, _) = marathon.get(&format!("/v2/groups/v{i}/versions/{version}")).await;
        assert_eq!(status, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_billion_instances_that_fit_nowhere_cost_no_memory_and_can_be_scaled_back() {
    let mut cluster = Cluster::start(1).await;
    let marathon = Marathon::start(&cluster.master_addr(), &cluster.dir.path().join("marathon"), &[]).await;
    let before = rss_kb(marathon.proc.pid());
    let app = json!({"id": "/many", "cmd": "sleep 600", "cpus": 0.01, "mem": 1024000, "instances": 1_000_000_000});
    let (status, answer) = marathon.send(Method::POST, "/v2/apps", Some(app)).await;
    assert_eq!(status, 201, "{answer}");
    // Offers come and are declined; the API stays responsive and the queue shows the demand.
    let queued = eventually(Duration::from_secs(20), "the app in the queue", || async {
        let (status, queue) = marathon.get("/v2/queue").await;
        let count = queue["queue"][0]["count"].as_u64()?;
        (status == 200).then_some(count)
    })
    .await;
    assert_eq!(queued, 1_000_000_000);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (status, listing) = marathon.get("/v2/apps?embed=apps.tasks&embed=apps.counts").await;
    assert_eq!(status, 200);
    assert_eq!(listing["apps"][0]["instances"], 1_000_000_000);
    let after = rss_kb(marathon.proc.pid());
    assert!(after < before + 64 * 1024, "RSS grew from {before} kB to {after} kB");

    let (status, answer) = marathon.send(Method::PUT, "/v2/apps/many?force=true", Some(json!({"instances": 0}))).await;
    assert_eq!(status, 200, "{answer}");
    eventually(Duration::from_secs(20), "an empty queue", || async {
        let (_, queue) = marathon.get("/v2/queue").await;
        queue["queue"].as_array().is_some_and(Vec::is_empty).then_some(())
    })
    .await;
    let (status, answer) = marathon.send(Method::DELETE, "/v2/apps/many?force=true", None).await;
    assert_eq!(status, 200, "{answer}");
    let (_, apps) = marathon.get("/v2/apps").await;
    assert_eq!(apps, json!({"apps": []}));
    assert!(cluster.teardown().is_empty());
}

/// A tmpfs of `size` mounted on `dir` (unmounted when dropped).
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &std::path::Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .expect("mount");
        assert!(status.success(), "remount {size}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_store_write_fails_its_request_and_the_scheduler_reloads_what_is_durable() {
    if !cgroups_available() {
        eprintln!("skipped: needs root (mounts a tmpfs)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let work_dir = dir.path().join("marathon");
    let Some(tmpfs) = Tmpfs::mount(&work_dir, "3m") else {
        eprintln!("skipped: cannot mount a tmpfs");
        return;
    };
    let unreachable_master = format!("127.0.0.1:{}", free_port());
    let mut marathon = Marathon::start(&unreachable_master, &work_dir, &[]).await;

    // Apps with large labels until the store's disk is full.
    let mut created = Vec::new();
    let mut failure = None;
    for i in 0..40 {
        let id = format!("/big-{i}");
        let app = json!({"id": id, "cmd": "sleep 1", "instances": 0, "labels": {"blob": "x".repeat(200_000)}});
        let (status, answer) = marathon.send(Method::POST, "/v2/apps", Some(app)).await;
        match status {
            201 => created.push(id),
            _ => {
                failure = Some((status, answer));
                break;
            }
        }
    }
    let (status, answer) = failure.expect("the tmpfs filled up");
    assert_eq!(status, 503, "{answer}");
    assert!(answer["message"].is_string(), "{answer}");
    assert!(marathon.proc.child.try_wait().expect("wait").is_none(), "the scheduler exited");

    // Room again: the scheduler serves from what was durable, every acknowledged app included.
    tmpfs.resize("64m");
    let listed = eventually(Duration::from_secs(20), "the API to serve again", || async {
        let (status, apps) = marathon.get("/v2/apps").await;
        (status == 200).then_some(apps)
    })
    .await;
    let mut ids: Vec<String> =
        listed["apps"].as_array().expect("apps").iter().map(|a| a["id"].as_str().unwrap_or("").to_string()).collect();
    ids.sort();
    created.sort();
    assert_eq!(ids, created, "acknowledged apps, and only those");
    let (status, answer) =
        marathon.send(Method::POST, "/v2/apps", Some(json!({"id": "/after", "cmd": "sleep 1", "instances": 0}))).await;
    assert_eq!(status, 201, "{answer}");
    marathon.kill9_and_restart().await;
    let (_, apps) = marathon.get("/v2/apps").await;
    assert_eq!(apps["apps"].as_array().map(Vec::len), Some(created.len() + 1), "{apps}");
    marathon.proc.kill();
    drop(tmpfs);
}
