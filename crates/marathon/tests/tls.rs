//! TLS end to end: a master and an agent with upstream's `LIBPROCESS_SSL_*` variables, and
//! Marathon on `--https_port` with a PKCS#12 keystore (`--disable_http`) talking to the master
//! over TLS; the `marathon` Python client launches an app over HTTPS, verifying the server
//! against the test's CA, and its sandbox is read through Marathon's and the master's proxies
//! (which reach the agent over TLS). Two schedulers on ZooKeeper serving HTTPS only: a standby
//! forwards to the leader over HTTPS. Certificates are made at run time (rcgen), never
//! committed.

mod common;

use common::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    keystore: PathBuf,
}

const KEYSTORE_PASSWORD: &str = "s3cret";

/// A CA and a server certificate it signed for `localhost` and 127.0.0.1, as PEM files and as a
/// PKCS#12 keystore (by the `openssl` CLI when there is one, as users make theirs, else by
/// `p12-keystore`).
fn pki(dir: &Path) -> Pki {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "marathon-rs test CA");
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("params");
    params.distinguished_name.push(DnType::CommonName, "localhost");
    let cert = params.signed_by(&key, &issuer).expect("certificate");
    let pki = Pki {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
        keystore: dir.join("keystore.p12"),
    };
    std::fs::write(&pki.ca, ca_cert.pem()).expect("write");
    std::fs::write(&pki.cert, cert.pem()).expect("write");
    std::fs::write(&pki.key, key.serialize_pem()).expect("write");
    let by_cli = Command::new("openssl")
        .args(["pkcs12", "-export", "-name", "marathon", "-passout"])
        .arg(format!("pass:{KEYSTORE_PASSWORD}"))
        .arg("-in")
        .arg(&pki.cert)
        .arg("-inkey")
        .arg(&pki.key)
        .arg("-certfile")
        .arg(&pki.ca)
        .arg("-out")
        .arg(&pki.keystore)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !by_cli {
        let chain = p12_keystore::PrivateKeyChain::new(
            b"marathon".to_vec(),
            p12_keystore::PrivateKey::from_der(&key.serialize_der()).expect("key"),
            [p12_keystore::Certificate::from_der(cert.der()).expect("cert")],
        );
        let mut store = p12_keystore::KeyStore::new();
        store.add_entry("marathon", p12_keystore::KeyStoreEntry::PrivateKeyChain(chain));
        std::fs::write(&pki.keystore, store.writer(KEYSTORE_PASSWORD).write().expect("pkcs12")).expect("write");
    }
    pki
}

fn ssl_env(pki: &Pki) -> Vec<(&'static str, String)> {
    vec![
        ("LIBPROCESS_SSL_ENABLED", "true".to_string()),
        ("LIBPROCESS_SSL_CERT_FILE", pki.cert.display().to_string()),
        ("LIBPROCESS_SSL_KEY_FILE", pki.key.display().to_string()),
        ("LIBPROCESS_SSL_CA_FILE", pki.ca.display().to_string()),
    ]
}

fn spawn_with(args: &[String], env: &[(&'static str, String)], log: &Path) -> Proc {
    let out = std::fs::File::create(log).expect("log file");
    let err = out.try_clone().expect("log file");
    let child = Command::new(BIN)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("spawn marathon");
    Proc { child, log: log.to_path_buf() }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_agent_and_marathon_over_tls_launch_an_app_for_the_python_client() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki(dir.path());
    let env = ssl_env(&pki);
    let roots = httpd::tls::roots(&pki.ca).expect("roots");
    let https = reqwest::Client::builder()
        .tls_backend_preconfigured(rustls_config(httpd::tls::client_config(Some(roots), None).expect("client config")))
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");

    let master_port = free_port();
    let work = |name: &str| dir.path().join(name).display().to_string();
    let master = spawn_with(
        &strings(&[
            "master",
            "--port",
            &master_port.to_string(),
            "--work_dir",
            &work("master"),
            "--allocation_interval",
            "200ms",
        ]),
        &env,
        &dir.path().join("master.log"),
    );
    let master_state = format!("https://127.0.0.1:{master_port}/master/state");
    eventually(Duration::from_secs(20), "the master over HTTPS", || {
        let (https, url) = (https.clone(), master_state.clone());
        async move { https.get(url).send().await.ok().filter(|r| r.status().is_success()).map(|_| ()) }
    })
    .await;
    // Plain HTTP is not served.
    let plain = reqwest::Client::new().get(format!("http://127.0.0.1:{master_port}/master/state")).send().await;
    assert!(plain.is_err(), "the TLS master answered plain HTTP: {plain:?}");

    let agent_port = free_port();
    let cgroups_root = unique("marathon-tls");
    let _agent = spawn_with(
        &strings(&[
            "agent",
            "--master",
            &format!("127.0.0.1:{master_port}"),
            "--port",
            &agent_port.to_string(),
            "--work_dir",
            &work("agent"),
            "--cgroups_root",
            &cgroups_root,
            "--resources=cpus:4;mem:4096;disk:4096;ports:[31000-32000]",
        ]),
        &env,
        &dir.path().join("agent.log"),
    );
    eventually(Duration::from_secs(20), "the agent registered over TLS", || {
        let (https, url) = (https.clone(), master_state.clone());
        async move {
            let state: serde_json::Value = https.get(url).send().await.ok()?.json().await.ok()?;
            (state["slaves"].as_array()?.iter().filter(|s| s["active"] == true).count() == 1).then_some(())
        }
    })
    .await;
    let agent_state = https.get(format!("https://127.0.0.1:{agent_port}/state")).send().await.expect("agent /state");
    assert!(agent_state.status().is_success());

    let api_port = free_port();
    let _marathon = spawn_with(
        &strings(&[
            "scheduler",
            "--master",
            &format!("127.0.0.1:{master_port}"),
            "--http_address",
            "127.0.0.1",
            "--https_address",
            "127.0.0.1",
            "--https_port",
            &api_port.to_string(),
            "--ssl_keystore_path",
            &pki.keystore.display().to_string(),
            "--ssl_keystore_password",
            KEYSTORE_PASSWORD,
            "--disable_http",
            "--work_dir",
            &work("marathon"),
            "--hostname",
            "localhost",
            "--min_revive_offers_interval",
            "0",
        ]),
        &env,
        &dir.path().join("marathon.log"),
    );
    let ping = format!("https://127.0.0.1:{api_port}/ping");
    eventually(Duration::from_secs(20), "Marathon over HTTPS", || {
        let (https, url) = (https.clone(), ping.clone());
        async move { https.get(url).send().await.ok().filter(|r| r.status().is_success()).map(|_| ()) }
    })
    .await;

    let script = r#"
import sys, time
from marathon import MarathonClient
from marathon.models import MarathonApp
client = MarathonClient(sys.argv[1], verify=sys.argv[2])
client.create_app('tls-app', MarathonApp(cmd='echo tls-sandbox; sleep 1000', cpus=0.1, mem=16, instances=1))
for _ in range(120):
    if client.get_app('tls-app').tasks_running == 1:
        print('running')
        sys.exit(0)
    time.sleep(0.5)
sys.exit('the app never ran')
"#;
    let output = tokio::process::Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(format!("https://localhost:{api_port}"))
        .arg(&pki.ca)
        .output()
        .await
        .expect("run python");
    assert!(
        output.status.success(),
        "python client over HTTPS: {}\n{}\nmaster log:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        master.log_text()
    );

    // The task's stdout through Marathon's UI proxy and the master's: both reach the agent
    // over TLS. Marathon's view of the master goes over TLS too.
    let api = format!("https://127.0.0.1:{api_port}");
    let tasks: serde_json::Value =
        https.get(format!("{api}/v2/apps/tls-app/tasks")).send().await.expect("tasks").json().await.expect("json");
    let task = &tasks["tasks"][0];
    let (task_id, agent_id) = (task["id"].as_str().expect("task id"), task["slaveId"].as_str().expect("agent id"));
    let info: serde_json::Value =
        https.get(format!("{api}/v2/info")).send().await.expect("info").json().await.expect("json");
    let framework = info["frameworkId"].as_str().expect("framework id");
    let stdout = format!("/frameworks/{framework}/executors/{task_id}/runs/latest/stdout");
    for base in [api.clone(), format!("https://127.0.0.1:{master_port}")] {
        let url = format!("{base}/ui/api/agents/{agent_id}/files/read?path={stdout}&offset=0");
        let read = eventually(Duration::from_secs(20), "the sandbox's stdout through the proxy", || {
            let (https, url) = (https.clone(), url.clone());
            async move {
                let answer: serde_json::Value = https.get(url).send().await.ok()?.json().await.ok()?;
                answer["data"].as_str()?.contains("tls-sandbox").then_some(answer)
            }
        })
        .await;
        assert_eq!(read["offset"], 0, "{base}: {read}");
    }
    let state = https.get(format!("{api}/ui/api/master/state")).send().await.expect("master state through Marathon");
    assert!(state.status().is_success(), "{:?}", state.status());
    clear_cgroup_root(&cgroups_root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_serving_https_only_forwards_to_the_leader_over_https() {
    let test = "a_standby_serving_https_only_forwards_to_the_leader_over_https";
    let Some(zk) = xtask::zookeeper::ZooKeeper::start_or_skip(1, test) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki(dir.path());
    let env = ssl_env(&pki);
    let roots = httpd::tls::roots(&pki.ca).expect("roots");
    let https = reqwest::Client::builder()
        .tls_backend_preconfigured(rustls_config(httpd::tls::client_config(Some(roots), None).expect("client config")))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let master_port = free_port();
    let work = |name: &str| dir.path().join(name).display().to_string();
    let _master = spawn_with(
        &strings(&["master", "--port", &master_port.to_string(), "--work_dir", &work("master")]),
        &env,
        &dir.path().join("master.log"),
    );
    let zk_url = zk.url("/marathon");
    let ports = [free_port(), free_port()];
    let mut schedulers = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        schedulers.push(spawn_with(
            &strings(&[
                "scheduler",
                "--master",
                &format!("127.0.0.1:{master_port}"),
                "--zk",
                &zk_url,
                "--zk_session_timeout",
                "2000",
                "--http_address",
                "127.0.0.1",
                "--https_address",
                "127.0.0.1",
                "--https_port",
                &port.to_string(),
                "--ssl_keystore_path",
                &pki.keystore.display().to_string(),
                "--ssl_keystore_password",
                KEYSTORE_PASSWORD,
                "--disable_http",
                "--work_dir",
                &work(&format!("marathon-{i}")),
            ]),
            &env,
            &dir.path().join(format!("marathon-{i}.log")),
        ));
    }
    let url = |i: usize, path: &str| format!("https://127.0.0.1:{}{path}", ports[i]);
    // The leader every node names, once it serves as leader.
    let leader = eventually(Duration::from_secs(60), "a leader both name", || async {
        let mut named = Vec::new();
        for i in 0..2 {
            let body: serde_json::Value = https.get(url(i, "/v2/leader")).send().await.ok()?.json().await.ok()?;
            named.push(body["leader"].as_str()?.to_string());
        }
        (named[0] == named[1]).then_some(())?;
        let leader = (0..2).find(|&i| named[0] == format!("127.0.0.1:{}", ports[i]))?;
        let info: serde_json::Value = https.get(url(leader, "/v2/info")).send().await.ok()?.json().await.ok()?;
        (info["elected"] == true).then_some(leader)
    })
    .await;
    let standby = 1 - leader;

    let app = serde_json::json!({"id": "/proxied", "cmd": "sleep 600", "cpus": 0.01, "mem": 8, "instances": 0});
    let answer = https.post(url(standby, "/v2/apps")).json(&app).send().await.expect("POST through the standby");
    let status = answer.status();
    let headers = answer.headers().clone();
    let body = answer.text().await.unwrap_or_default();
    assert_eq!(status, 201, "{body}\n{}", schedulers[standby].log_text());
    let via = headers.get("x-marathon-via").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(via.contains(&format!(":{}", ports[standby])), "Via: {via}");
    assert_eq!(headers["x-marathon-leader"], format!("https://127.0.0.1:{}", ports[leader]).as_str());
    let on_leader = https.get(url(leader, "/v2/apps/proxied")).send().await.expect("GET on the leader");
    assert_eq!(on_leader.status(), 200, "created on the leader");
    // A standby's event stream is a redirect to the leader's, over HTTPS.
    let no_redirects = reqwest::Client::builder()
        .tls_backend_preconfigured(rustls_config(
            httpd::tls::client_config(Some(httpd::tls::roots(&pki.ca).expect("roots")), None).expect("config"),
        ))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let events = no_redirects.get(url(standby, "/v2/events")).send().await.expect("GET /v2/events");
    assert_eq!(events.status(), 302);
    assert_eq!(events.headers()["location"], url(leader, "/v2/events").as_str());
}

fn rustls_config(config: std::sync::Arc<rustls::ClientConfig>) -> rustls::ClientConfig {
    rustls::ClientConfig::clone(&config)
}
