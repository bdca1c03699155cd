//! `--acl_file` with real processes: principals with passwords and bearer tokens, rules by group
//! path. Hostile clients: no credentials, a wrong password or token, a token without write
//! rights on `/prod` trying every way to change it; listings and the event stream show only
//! what the principal may read.

mod common;

use common::*;
use mesos_api::credentials::basic_header;
use reqwest::Method;
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);

const ACL: &str = r#"{"principals": [
    {"name": "ops", "password": "ops-secret", "rules": [{"path": "/", "access": "admin"}]},
    {"name": "ci", "token": "ci-token", "rules": [{"path": "/dev", "access": "write"}, {"path": "/prod", "access": "read"}]},
    {"name": "dev", "token": "dev-token", "rules": [{"path": "/dev", "access": "write"}]}
]}"#;

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn call(marathon: &Marathon, auth: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = marathon.http.request(method, marathon.url(path)).header("Authorization", auth);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let answer = request.send().await.expect("request");
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

fn app(id: &str, cpus: f64) -> Value {
    json!({"id": id, "cmd": "sleep 600", "cpus": cpus, "mem": 16, "instances": 1, "portDefinitions": []})
}

fn ids(list: &Value, key: &str, field: &str) -> Vec<String> {
    let mut ids: Vec<String> =
        list[key].as_array().into_iter().flatten().filter_map(|e| e[field].as_str().map(str::to_string)).collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_write_rights_on_prod_cannot_change_it_and_sees_only_what_it_may_read() {
    let mut cluster = Cluster::start(1).await;
    let acl = cluster.dir.path().join("acl.json");
    std::fs::write(&acl, ACL).expect("acl file");
    let acl_flag = acl.display().to_string();
    let mut marathon =
        Marathon::start(&cluster.master_addr(), &cluster.dir.path().join("marathon"), &["--acl_file", &acl_flag]).await;
    let ops = basic_header("ops", "ops-secret");
    let (ci, dev) = (bearer("ci-token"), bearer("dev-token"));

    // Nobody gets in without valid credentials.
    for wrong in [None, Some(basic_header("ops", "guess")), Some(bearer("guess")), Some(basic_header("ci", "ci-token"))]
    {
        let mut request = marathon.http.get(marathon.url("/v2/apps"));
        if let Some(wrong) = &wrong {
            request = request.header("Authorization", wrong);
        }
        let answer = request.send().await.expect("GET");
        assert_eq!(answer.status(), 401, "{wrong:?}");
        assert!(answer.headers().contains_key("www-authenticate"));
        assert_eq!(answer.json::<Value>().await.expect("json"), json!({"message": "Invalid username or password."}));
    }

    // From now on requests without their own header are the admin's (explicit ones win).
    marathon.authorize_with(&ops);

    // Events as the dev principal, from before anything happens.
    let dev_events = follow_events_as(&marathon.url(""), "", Some(&dev));
    let ops_events = follow_events_as(&marathon.url(""), "", Some(&ops));

    for id in ["/prod/web", "/dev/api"] {
        let (status, body) = call(&marathon, &ops, Method::POST, "/v2/apps", Some(app(id, 0.1))).await;
        assert_eq!(status, 201, "{body}");
    }
    // A deployment that cannot finish (no agent has 100 CPUs), to try to cancel.
    let (status, stuck) = call(&marathon, &ops, Method::POST, "/v2/apps", Some(app("/prod/stuck", 100.0))).await;
    assert_eq!(status, 201, "{stuck}");
    let stuck_deployment = stuck["deployments"][0]["id"].as_str().expect("deployment id").to_string();
    let prod_tasks = marathon.wait_running("prod/web", 1, TIMEOUT).await;
    marathon.wait_running("dev/api", 1, TIMEOUT).await;
    let prod_task = prod_tasks[0]["id"].as_str().expect("task id").to_string();

    // The ci token may read /prod but changes nothing there, whichever way it tries.
    let forbidden = json!({"message": "Not Authorized to perform this action!"});
    let attempts: Vec<(Method, String, Option<Value>)> = vec![
        (Method::POST, "/v2/apps".into(), Some(app("/prod/evil", 0.1))),
        (Method::POST, "/v2/apps".into(), Some(app("prod/relative", 0.1))),
        (Method::PUT, "/v2/apps".into(), Some(json!([app("/dev/ok", 0.1), app("/prod/web", 0.2)]))),
        (Method::PATCH, "/v2/apps".into(), Some(json!([{"id": "/prod/web", "instances": 0}]))),
        (Method::PUT, "/v2/apps/prod/web".into(), Some(json!({"instances": 5}))),
        (Method::PATCH, "/v2/apps/prod/web".into(), Some(json!({"instances": 0}))),
        (Method::DELETE, "/v2/apps/prod/web".into(), None),
        (Method::POST, "/v2/apps/prod/web/restart".into(), None),
        (Method::DELETE, format!("/v2/apps/prod/web/tasks/{prod_task}"), None),
        (Method::DELETE, "/v2/apps/prod/web/tasks".into(), None),
        (Method::POST, "/v2/tasks/delete".into(), Some(json!({"ids": [prod_task]}))),
        (Method::POST, "/v2/groups".into(), Some(json!({"id": "/prod/sub", "apps": [app("x", 0.1)]}))),
        (Method::PUT, "/v2/groups/dev".into(), Some(json!({"apps": [app("/prod/web", 0.1)]}))),
        (Method::PUT, "/v2/groups".into(), Some(json!({"apps": [app("/dev/x", 0.1)]}))),
        (Method::DELETE, "/v2/groups/prod".into(), None),
        (Method::DELETE, "/v2/queue/prod/stuck/delay".into(), None),
        (Method::DELETE, format!("/v2/deployments/{stuck_deployment}"), None),
        (Method::DELETE, "/v2/leader".into(), None),
        (Method::POST, "/v2/eventSubscriptions?callbackUrl=http://127.0.0.1:1/".into(), None),
    ];
    for (method, path, body) in attempts {
        let (status, answer) = call(&marathon, &ci, method.clone(), &path, body).await;
        assert_eq!((status, &answer), (403, &forbidden), "{method} {path}");
    }
    let (status, _) = call(&marathon, &ci, Method::GET, "/v2/apps/prod/web", None).await;
    assert_eq!(status, 200, "ci may read /prod");
    let (status, body) = call(&marathon, &ci, Method::POST, "/v2/apps", Some(app("/dev/ci-app", 0.1))).await;
    assert_eq!(status, 201, "ci may write /dev: {body}");
    let (status, _) = call(&marathon, &ci, Method::GET, "/v2/info", None).await;
    assert_eq!(status, 200);

    // /prod is as it was.
    let after = marathon.wait_running("prod/web", 1, TIMEOUT).await;
    assert_eq!(after[0]["id"], prod_task.as_str());
    let (_, deployments) = call(&marathon, &ops, Method::GET, "/v2/deployments", None).await;
    assert!(deployments.as_array().expect("list").iter().any(|d| d["id"] == stuck_deployment.as_str()));

    // The dev token sees only /dev, in every listing.
    let (_, apps) = call(&marathon, &dev, Method::GET, "/v2/apps", None).await;
    assert_eq!(ids(&apps, "apps", "id"), ["/dev/api", "/dev/ci-app"]);
    let (_, tasks) = call(&marathon, &dev, Method::GET, "/v2/tasks", None).await;
    assert!(ids(&tasks, "tasks", "appId").iter().all(|id| id.starts_with("/dev/")), "{tasks}");
    assert!(!ids(&tasks, "tasks", "appId").is_empty(), "{tasks}");
    let (_, groups) = call(&marathon, &dev, Method::GET, "/v2/groups", None).await;
    assert_eq!(ids(&groups, "groups", "id"), ["/dev"], "{groups}");
    let (_, deployments) = call(&marathon, &dev, Method::GET, "/v2/deployments", None).await;
    assert!(deployments.as_array().expect("list").iter().all(|d| d["id"] != stuck_deployment.as_str()));
    let (_, queue) = call(&marathon, &dev, Method::GET, "/v2/queue", None).await;
    assert!(queue["queue"].as_array().expect("queue").iter().all(|q| q["app"]["id"] != "/prod/stuck"), "{queue}");
    let (_, all) = call(&marathon, &ops, Method::GET, "/v2/queue", None).await;
    assert!(all["queue"].as_array().expect("queue").iter().any(|q| q["app"]["id"] == "/prod/stuck"), "{all}");
    for path in ["/v2/apps/prod/web", "/v2/groups/prod", "/v2/apps/prod/*"] {
        assert_eq!(call(&marathon, &dev, Method::GET, path, None).await.0, 403, "{path}");
    }

    // Its event stream carries only /dev's events; the admin's carries both.
    let event_apps = |events: &[SeenEvent]| -> Vec<String> {
        events
            .iter()
            .filter(|e| e.kind == "status_update_event")
            .filter_map(|e| e.data["appId"].as_str().map(str::to_string))
            .collect()
    };
    eventually(TIMEOUT, "the admin's stream to see both apps' updates", || async {
        let seen = event_apps(&ops_events.lock().expect("lock"));
        (seen.iter().any(|a| a == "/prod/web") && seen.iter().any(|a| a == "/dev/api")).then_some(())
    })
    .await;
    let seen = dev_events.lock().expect("lock").clone();
    assert!(event_apps(&seen).iter().any(|a| a == "/dev/api"), "{seen:?}");
    for event in &seen {
        let text = event.data.to_string();
        assert!(!text.contains("/prod"), "a /prod event reached the dev stream: {} {text}", event.kind);
    }
    cluster.teardown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_marathon_python_client_authenticates_with_a_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let acl = dir.path().join("acl.json");
    std::fs::write(&acl, ACL).expect("acl file");
    let master = format!("127.0.0.1:{}", free_port());
    let marathon =
        Marathon::start(&master, &dir.path().join("marathon"), &["--acl_file", &acl.display().to_string()]).await;
    let url = marathon.url("");
    let script = r#"import sys
from marathon import MarathonClient, MarathonApp
from marathon.exceptions import MarathonHttpError
c = MarathonClient(sys.argv[1], auth_token='ci-token')
c.create_app('/dev/tokened', MarathonApp(cmd='sleep 600', cpus=0.1, mem=16, instances=0))
print([a.id for a in c.list_apps()])
try:
    c.create_app('/prod/tokened', MarathonApp(cmd='sleep 600', cpus=0.1, mem=16, instances=0))
    print('accepted')
except MarathonHttpError as e:
    print(e.status_code)
"#;
    let out = tokio::task::spawn_blocking(move || Command::new(python()).args(["-c", script, &url]).output())
        .await
        .expect("join")
        .expect("python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().collect::<Vec<_>>(), ["['/dev/tokened']", "403"], "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_acl_file_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let acl = dir.path().join("acl.json");
    std::fs::write(&acl, r#"{"principals": [{"name": "a"}]}"#).expect("acl file");
    let out = Command::new(BIN)
        .args(["scheduler", "--master", "127.0.0.1:1", "--http_port", "0", "--work_dir"])
        .arg(dir.path().join("m"))
        .args(["--acl_file", &acl.display().to_string()])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--acl_file") && stderr.contains("neither a password nor a token"), "{stderr}");
}
