//! Authentication on the Mesos side with real processes: a master with
//! `--authenticate_frameworks --authenticate_agents --authenticate_http_readonly
//! --authenticate_http_readwrite --credentials`, agents with `--credential`, Marathon with
//! `--mesos_authentication_principal`/`--mesos_authentication_secret_file`, pymesos with a
//! principal and secret; and hostile clients: another framework that tries to take over or tear
//! down Marathon's framework, no password, a wrong one, a forged agent that re-registers with a
//! real agent's id, a framework or an agent id taken over after a master restart, and forged
//! status updates (refused with or without authentication).

mod common;

use common::*;
use mesos_api::credentials::basic_header;
use reqwest::Method;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);

/// The master's credentials (plain text, as upstream still accepts), the agents' credential
/// (JSON) and Marathon's secret file, in `dir`. Returns the master and agent flags.
fn credentials(dir: &Path) -> (Vec<String>, Vec<String>) {
    let credentials = dir.join("credentials");
    std::fs::write(&credentials, "marathon marathon-secret\nagent agent-secret\nhostile hostile-secret\n")
        .expect("write credentials");
    let credential = dir.join("agent-credential.json");
    std::fs::write(&credential, r#"{"principal": "agent", "secret": "agent-secret"}"#).expect("write credential");
    std::fs::write(dir.join("marathon-secret"), "marathon-secret\n").expect("write secret");
    let master = [
        "--authenticate_frameworks",
        "--authenticate_agents",
        "--authenticate_http_readonly=true",
        "--authenticate_http_readwrite",
        "--credentials",
        &credentials.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    (master, vec![format!("--credential={}", credential.display())])
}

async fn subscribe_status(master: &str, info: Value, authorization: Option<&str>) -> (u16, String) {
    let mut body = json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": info}});
    if let Some(id) = info.get("id") {
        body["framework_id"] = id.clone();
    }
    let mut request = reqwest::Client::new()
        .post(format!("http://{master}/api/v1/scheduler"))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .body(body.to_string());
    if let Some(authorization) = authorization {
        request = request.header("Authorization", authorization);
    }
    let response = request.send().await.expect("SUBSCRIBE");
    let status = response.status().as_u16();
    let challenge = response.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    if status == 200 {
        // Do not keep the stream.
        return (status, challenge);
    }
    (status, format!("{challenge} {}", response.text().await.unwrap_or_default()))
}

/// The master's `/master/state` as `principal` with `secret`.
async fn master_state(cluster: &Cluster, principal: &str, secret: &str) -> Value {
    let url = format!("http://{}/master/state", cluster.master_addr());
    let answer = cluster.http.get(url).header("Authorization", basic_header(principal, secret)).send().await;
    answer.expect("state").json().await.unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_framework_can_neither_take_over_nor_tear_down_marathon() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (master_flags, agent_flags) = credentials(dir.path());
    let master_flags: Vec<&str> = master_flags.iter().map(String::as_str).collect();
    let agent_flags: Vec<&str> = agent_flags.iter().map(String::as_str).collect();
    // Registering needs the agent's credential: the cluster waits for its agent in the state.
    let mut cluster =
        Cluster::start_custom_authorized(1, &master_flags, &agent_flags, ("marathon", "marathon-secret")).await;
    let master = cluster.master_addr();
    let secret_file = dir.path().join("marathon-secret").display().to_string();
    let marathon = Marathon::start(
        &master,
        &cluster.dir.path().join("marathon"),
        &["--mesos_authentication_principal", "marathon", "--mesos_authentication_secret_file", &secret_file],
    )
    .await;
    let app = json!({"id": "/guarded", "cmd": "sleep 600", "cpus": 0.1, "mem": 16, "instances": 1});
    let (status, body) = marathon.send(Method::POST, "/v2/apps", Some(app)).await;
    assert_eq!(status, 201, "{body}");
    let tasks = marathon.wait_running("guarded", 1, TIMEOUT).await;
    let (_, info) = marathon.get("/v2/info").await;
    let marathon_id = info["frameworkId"].as_str().expect("framework id").to_string();
    let state = master_state(&cluster, "marathon", "marathon-secret").await;
    let registered = state["frameworks"].as_array().and_then(|f| f.iter().find(|f| f["id"] == marathon_id.as_str()));
    assert_eq!(registered.expect("Marathon's framework")["principal"], "marathon", "{state}");

    // Whoever reads Marathon's framework id tries to subscribe with it: without credentials,
    // with a wrong password, with the right password of another principal, and claiming
    // Marathon's principal.
    let takeover = json!({"user": "root", "name": "evil", "id": {"value": marathon_id}, "failover_timeout": 1.0});
    let (status, answer) = subscribe_status(&master, takeover.clone(), None).await;
    assert_eq!(status, 401, "{answer}");
    assert!(answer.contains("Basic realm="), "{answer}");
    let wrong = basic_header("marathon", "guess");
    assert_eq!(subscribe_status(&master, takeover.clone(), Some(&wrong)).await.0, 401);
    let hostile = basic_header("hostile", "hostile-secret");
    let (status, answer) = subscribe_status(&master, takeover.clone(), Some(&hostile)).await;
    assert_eq!(status, 403, "{answer}");
    let mut claiming = takeover.clone();
    claiming["principal"] = json!("marathon");
    assert_eq!(subscribe_status(&master, claiming, Some(&hostile)).await.0, 403);

    // A framework of its own it may have; it cannot act on Marathon's through its stream.
    let evil = Framework::subscribe_as(&master, framework_info("evil", false, &[]), Some(&hostile)).await;
    let teardown = json!({"type": "TEARDOWN", "framework_id": {"value": marathon_id}});
    let kill = json!({"type": "KILL", "framework_id": {"value": marathon_id},
        "kill": {"task_id": {"value": tasks[0]["id"]}}});
    for call in [teardown, kill] {
        let answer = reqwest::Client::new()
            .post(format!("http://{master}/api/v1/scheduler"))
            .header("Content-Type", "application/json")
            .header("Mesos-Stream-Id", &evil.stream_id)
            .header("Authorization", &hostile)
            .body(call.to_string())
            .send()
            .await
            .expect("call");
        assert_eq!(answer.status(), 403, "{call}");
    }
    assert_eq!(evil.teardown().await, 202, "its own framework it may tear down");

    // Marathon is untouched: still subscribed, the same task still running.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = marathon.wait_running("guarded", 1, TIMEOUT).await;
    assert_eq!(after[0]["id"], tasks[0]["id"]);
    let state = master_state(&cluster, "marathon", "marathon-secret").await;
    let fw = state["frameworks"].as_array().and_then(|f| f.iter().find(|f| f["id"] == marathon_id.as_str())).cloned();
    let fw = fw.expect("Marathon's framework");
    assert_eq!((fw["active"].clone(), fw["tasks"].as_array().map(Vec::len)), (json!(true), Some(1)), "{fw}");

    // The read-only and operator endpoints want credentials too.
    let http = reqwest::Client::new();
    let state_url = format!("http://{master}/master/state");
    assert_eq!(http.get(&state_url).send().await.expect("state").status(), 401);
    let operator = http
        .post(format!("http://{master}/api/v1"))
        .header("Content-Type", "application/json")
        .body(r#"{"type":"GET_HEALTH"}"#)
        .send()
        .await
        .expect("operator");
    assert_eq!(operator.status(), 401);
    assert_eq!(operator.headers()["www-authenticate"], "Basic realm=\"mesos-master-readwrite\"");
    assert_eq!(http.get(format!("http://{master}/health")).send().await.expect("health").status(), 200);
    cluster.teardown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frameworks_binding_to_its_principal_survives_a_master_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (master_flags, agent_flags) = credentials(dir.path());
    let master_flags: Vec<&str> = master_flags.iter().map(String::as_str).collect();
    let agent_flags: Vec<&str> = agent_flags.iter().map(String::as_str).collect();
    let mut cluster =
        Cluster::start_custom_authorized(1, &master_flags, &agent_flags, ("marathon", "marathon-secret")).await;
    let master = cluster.master_addr();
    let owner = basic_header("marathon", "marathon-secret");
    let framework = Framework::subscribe_as(&master, framework_info("owner", true, &[]), Some(&owner)).await;
    let id = framework.id.clone();
    drop(framework);

    // SIGKILLed right after SUBSCRIBED: the binding was durable before it.
    cluster.kill_master();
    cluster.start_master().await;
    let mut takeover = framework_info("evil", true, &[]);
    takeover["id"] = json!({"value": id});
    let hostile = basic_header("hostile", "hostile-secret");
    let (status, answer) = subscribe_status(&master, takeover.clone(), Some(&hostile)).await;
    assert_eq!(status, 403, "another principal subscribes with the framework's id after a restart: {answer}");

    // The owner comes back with its id.
    let mut info = framework_info("owner", true, &[]);
    info["id"] = json!({"value": id});
    let framework = Framework::subscribe_as(&master, info, Some(&owner)).await;
    assert_eq!(framework.id, id);
    drop(framework);
    // And after one more restart, still nobody else.
    cluster.kill_master();
    cluster.start_master().await;
    assert_eq!(subscribe_status(&master, takeover, Some(&hostile)).await.0, 403);
    cluster.teardown();
}

/// REGISTER as an agent (raw protocol) with `agent_id`; the status and, while the stream lasts,
/// the response.
async fn register_agent(master: &str, agent_id: Option<&str>, authorization: Option<&str>) -> reqwest::Response {
    let mut register = json!({
        "agent_info": {"hostname": "forged", "port": 1, "resources": []},
        "tasks": [],
        "endpoint": "127.0.0.1:1",
    });
    if let Some(id) = agent_id {
        register["agent_id"] = json!({"value": id});
        register["agent_info"]["id"] = json!({"value": id});
    }
    let mut request = reqwest::Client::new()
        .post(format!("http://{master}/api/v1/agent"))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .body(json!({"type": "REGISTER", "register": register}).to_string());
    if let Some(authorization) = authorization {
        request = request.header("Authorization", authorization);
    }
    request.send().await.expect("REGISTER")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_agent_cannot_take_over_a_real_agents_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (master_flags, agent_flags) = credentials(dir.path());
    let master_flags: Vec<&str> = master_flags.iter().map(String::as_str).collect();
    let agent_flags: Vec<&str> = agent_flags.iter().map(String::as_str).collect();
    let mut cluster = Cluster::start_custom_authorized(1, &master_flags, &agent_flags, ("agent", "agent-secret")).await;
    let master = cluster.master_addr();
    let state = master_state(&cluster, "agent", "agent-secret").await;
    let real_id = state["slaves"][0]["id"].as_str().expect("agent id").to_string();

    assert_eq!(register_agent(&master, Some(&real_id), None).await.status(), 401);
    let wrong = basic_header("agent", "guess");
    assert_eq!(register_agent(&master, Some(&real_id), Some(&wrong)).await.status(), 401);
    let hostile = basic_header("hostile", "hostile-secret");
    assert_eq!(register_agent(&master, Some(&real_id), Some(&hostile)).await.status(), 403);
    // A new agent of its own it may register.
    let own = register_agent(&master, None, Some(&hostile)).await;
    assert_eq!(own.status(), 200);
    drop(own);

    // The real agent is still registered and connected, with its address.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let state = master_state(&cluster, "agent", "agent-secret").await;
    let real = state["slaves"].as_array().and_then(|a| a.iter().find(|s| s["id"] == real_id.as_str())).cloned();
    let real = real.expect("the real agent");
    assert_eq!((real["active"].clone(), real["hostname"].clone()), (json!(true), json!("agent0")), "{real}");

    // The binding survives a master restart (it is in the registry).
    cluster.kill_master();
    cluster.start_master().await;
    let real_id_ref = real_id.as_str();
    eventually(TIMEOUT, "the real agent back", || async {
        let state = master_state(&cluster, "agent", "agent-secret").await;
        state["slaves"].as_array()?.iter().find(|s| s["id"] == real_id_ref && s["active"] == true).map(|_| ())
    })
    .await;
    cluster.kill_master();
    cluster.start_master().await;
    assert_eq!(register_agent(&master, Some(&real_id), Some(&hostile)).await.status(), 403);
    cluster.teardown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_updates_for_a_task_are_taken_only_from_its_agent_even_without_authentication() {
    let mut cluster = Cluster::start(1).await;
    let master = cluster.master_addr();
    let mut framework = Framework::subscribe(&master, framework_info("victim", true, &[])).await;
    let offers = framework.next_offers(TIMEOUT).await;
    let task = command_task(&offers[0], "victim-task", "sleep 600", 0.1, 32.0);
    assert_eq!(framework.launch(&offers[0], vec![task]).await, 202);
    framework.wait_state("victim-task", "TASK_RUNNING", TIMEOUT).await;

    // Anyone may register an agent here (no authentication): it still cannot speak for tasks
    // that run on another agent.
    let forged = register_agent(&master, None, None).await;
    assert_eq!(forged.status(), 200);
    let stream_id = forged.headers()["Mesos-Stream-Id"].to_str().expect("stream id").to_string();
    let mut forged_stream = forged.bytes_stream();
    use futures::StreamExt;
    // Its REGISTERED comes once the registry holds it.
    tokio::time::timeout(TIMEOUT, forged_stream.next()).await.expect("REGISTERED in time");
    let update = |state: &str| {
        json!({"type": "STATUS_UPDATE", "status_update": {
            "framework_id": {"value": framework.id},
            "status": {"task_id": {"value": "victim-task"}, "state": state, "source": "SOURCE_EXECUTOR",
                "message": "forged"},
            "latest_state": state,
        }})
    };
    for state in ["TASK_FAILED", "TASK_FINISHED"] {
        let answer = reqwest::Client::new()
            .post(format!("http://{master}/api/v1/agent"))
            .header("Content-Type", "application/json")
            .header("Mesos-Stream-Id", &stream_id)
            .body(update(state).to_string())
            .send()
            .await
            .expect("STATUS_UPDATE");
        assert_eq!(answer.status(), 202);
    }
    // The framework hears nothing of it, and the master still has the task running.
    while let Some(event) = framework.next_event(Duration::from_secs(2)).await {
        assert_ne!(event["type"], "UPDATE", "a forged update reached the framework: {event}");
    }
    let state = cluster.master_state().await;
    let fw = state["frameworks"].as_array().and_then(|f| f.iter().find(|f| f["id"] == framework.id.as_str())).cloned();
    assert_eq!(fw.expect("framework")["tasks"][0]["state"], "TASK_RUNNING");
    assert_eq!(cluster.master_metrics().await["master/invalid_status_updates"], 2.0);
    drop(forged_stream);
    cluster.teardown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymesos_authenticates_with_its_principal_and_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (master_flags, agent_flags) = credentials(dir.path());
    let master_flags: Vec<&str> = master_flags.iter().map(String::as_str).collect();
    let agent_flags: Vec<&str> = agent_flags.iter().map(String::as_str).collect();
    let mut cluster = Cluster::start_custom_authorized(1, &master_flags, &agent_flags, ("agent", "agent-secret")).await;
    let script = workspace_root().join("tests/compat/pymesos_scheduler.py");
    let master = cluster.master_addr();
    let run = move |extra: &'static [&'static str]| {
        let (script, master) = (script.clone(), master.clone());
        move || {
            Command::new(python())
                .arg(&script)
                .args(["--master", &master, "--timeout", "20"])
                .args(extra)
                .output()
                .expect("python")
        }
    };
    let authenticated = tokio::task::spawn_blocking(run(&["--principal", "hostile", "--secret", "hostile-secret"]));
    let out = authenticated.await.expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("TASK_FINISHED"), "{stdout}");
    let refused = tokio::task::spawn_blocking(run(&["--principal", "hostile", "--secret", "wrong", "--timeout", "5"]));
    let out = refused.await.expect("join");
    assert!(!out.status.success(), "a wrong secret is refused: {}", String::from_utf8_lossy(&out.stdout));
    cluster.teardown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marathon_local_wires_one_credential_through_master_agent_and_marathon() {
    let secrets = tempfile::tempdir().expect("tempdir");
    let secret = secrets.path().join("secret");
    std::fs::write(&secret, "local-secret\n").expect("secret");
    let secret = secret.display().to_string();
    let local = Local::start(
        "local-auth",
        &["--mesos_authentication_principal", "local", "--mesos_authentication_secret_file", &secret],
    );
    let (dir, cgroups, master_port) = (&local.dir, &local.cgroups, local.master_port);
    let http = reqwest::Client::new();
    let api = local.api();
    eventually(TIMEOUT, "the Marathon API", || async {
        http.get(format!("{api}/ping")).send().await.ok().filter(|r| r.status().is_success()).map(|_| ())
    })
    .await;
    let app = json!({"id": "authed", "cmd": "sleep 600", "cpus": 0.01, "mem": 8, "portDefinitions": []});
    assert_eq!(http.post(format!("{api}/v2/apps")).json(&app).send().await.expect("POST").status(), 201);
    eventually(TIMEOUT, "the task to run", || async {
        let app: Value = http.get(format!("{api}/v2/apps/authed")).send().await.ok()?.json().await.ok()?;
        (app["app"]["tasks"][0]["state"] == "TASK_RUNNING").then_some(())
    })
    .await;
    // The master authenticates frameworks: an anonymous one is refused.
    let (status, _) =
        subscribe_status(&format!("127.0.0.1:{master_port}"), framework_info("anon", false, &[]), None).await;
    assert_eq!(status, 401);
    let credential = std::fs::read_to_string(dir.path().join("state/credential.json")).expect("credential file");
    assert!(credential.contains("\"local\""));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("state/credential.json")).expect("meta").permissions().mode();
    assert_eq!(mode & 0o077, 0, "only the owner may read it");
    assert_eq!(http.delete(format!("{api}/v2/apps/authed")).send().await.expect("DELETE").status(), 200);
    eventually(TIMEOUT, "the task's process to be gone", || async {
        cgroup_root_pids(&cgroups.0).is_empty().then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_with_authenticate_http_readonly_serves_state_and_files_only_with_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, _) = credentials(dir.path());
    let credentials_flag = format!("--http_credentials={}", dir.path().join("credentials").display());
    let mut cluster = Cluster::start_with(1, &["--authenticate_http_readonly", &credentials_flag]).await;
    let http = reqwest::Client::new();
    let agent = format!("http://127.0.0.1:{}", cluster.agents[0].port);
    for path in
        ["/state", "/flags", "/metrics/snapshot", "/files/browse?path=/", "/files/read?path=/etc/hostname&offset=0"]
    {
        let refused = http.get(format!("{agent}{path}")).send().await.expect("GET");
        assert_eq!(refused.status(), 401, "{path}");
        assert_eq!(refused.headers()["www-authenticate"], "Basic realm=\"mesos-agent-readonly\"");
        let wrong = http.get(format!("{agent}{path}")).header("Authorization", basic_header("agent", "guess"));
        assert_eq!(wrong.send().await.expect("GET").status(), 401, "{path}");
        let right = http.get(format!("{agent}{path}")).header("Authorization", basic_header("agent", "agent-secret"));
        assert_ne!(right.send().await.expect("GET").status(), 401, "{path}");
    }
    let state = http.get(format!("{agent}/state")).header("Authorization", basic_header("hostile", "hostile-secret"));
    assert_eq!(state.send().await.expect("GET").status(), 200);
    assert_eq!(http.get(format!("{agent}/health")).send().await.expect("GET").status(), 200);
    cluster.teardown();
}
