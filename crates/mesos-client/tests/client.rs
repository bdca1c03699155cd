//! The client against a real master on loopback.

use mesos_api::scheduler::{Call, CallType, Decline, Event};
use mesos_client::{ClientConfig, ClientEvent};
use std::time::Duration;

fn flags(port: u16, dir: &std::path::Path) -> master::MasterFlags {
    master::MasterFlags {
        port,
        hostname: Some("localhost".into()),
        allocation_interval: Duration::from_millis(50),
        agent_ping_timeout: Duration::from_secs(5),
        heartbeat_interval: Duration::from_secs(1),
        ..master::MasterFlags::new(dir)
    }
}

fn framework_info() -> mesos_api::FrameworkInfo {
    serde_json::from_value(serde_json::json!({"user": "root", "name": "client-test", "failover_timeout": 60.0}))
        .expect("info")
}

async fn next(events: &mut tokio::sync::mpsc::UnboundedReceiver<ClientEvent>) -> ClientEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv()).await.expect("event in time").expect("open")
}

/// Registers a fake agent over the agent protocol so that the master makes offers; returns the
/// response whose body must stay open.
async fn fake_agent(master: std::net::SocketAddr) -> reqwest::Response {
    let register = serde_json::json!({"type": "REGISTER", "register": {
        "agent_info": {"hostname": "fake", "port": 5051, "resources":
            mesos_api::resources::ResourceSet::parse_text("cpus:2;mem:1024").expect("res").to_wire()},
        "tasks": [], "endpoint": "127.0.0.1:5051"}});
    reqwest::Client::new()
        .post(format!("http://{master}/api/v1/agent"))
        .header("Content-Type", "application/json")
        .body(register.to_string())
        .send()
        .await
        .expect("register agent")
}

#[tokio::test]
async fn subscribes_receives_offers_makes_calls_and_fails_over_to_a_new_master() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = master::start(flags(0, dir.path())).await.expect("master");
    let addr = m.local_addr();
    let (client, mut events) = mesos_client::start(ClientConfig::new(addr.to_string(), framework_info()));
    let ClientEvent::Subscribed { framework_id, .. } = next(&mut events).await else { panic!("expected SUBSCRIBED") };
    assert!(client.is_subscribed());

    let _agent = fake_agent(addr).await;
    let offer = loop {
        if let ClientEvent::Event(e) = next(&mut events).await
            && let Event::Offers { offers } = *e
        {
            break offers.offers[0].clone();
        }
    };
    let mut decline = Call::new(CallType::Decline, None);
    decline.decline = Some(Decline { offer_ids: vec![offer.id], filters: None });
    client.call(decline).await.expect("decline accepted");

    // The master goes away and a new one comes up on the same port: the client resubscribes
    // with the same framework id.
    m.shutdown();
    let reason = loop {
        if let ClientEvent::Disconnected { reason } = next(&mut events).await {
            break reason;
        }
    };
    assert!(!reason.is_empty());
    assert!(matches!(
        client.call(Call::new(CallType::Revive, None)).await,
        Err(mesos_client::CallError::NotSubscribed)
    ));
    let m2 = master::start(flags(addr.port(), dir.path())).await.expect("master again");
    let again = loop {
        if let ClientEvent::Subscribed { framework_id, .. } = next(&mut events).await {
            break framework_id;
        }
    };
    assert_eq!(again, framework_id);
    client.call(Call::new(CallType::Revive, None)).await.expect("revive after failover");
    client.stop();
    m2.shutdown();
}

/// A master on a free port contending under `zk`.
async fn contending(zk: &str, dir: &std::path::Path) -> master::RunningMaster {
    let flags =
        master::MasterFlags { zk: Some(zk.to_string()), zk_session_timeout: Duration::from_secs(2), ..flags(0, dir) };
    master::start(flags).await.expect("master")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_zookeeper_it_follows_the_leading_master_with_the_same_framework_id() {
    let test = "given_zookeeper_it_follows_the_leading_master";
    let Some(zk) =
        tokio::task::spawn_blocking(move || xtask::zookeeper::ZooKeeper::shared_or_skip(test)).await.expect("join")
    else {
        return;
    };
    let url = zk.url(&zk.unique_path("mesos"));
    let dir = tempfile::tempdir().expect("tempdir");
    let a = contending(&url, &dir.path().join("a")).await;
    let (client, mut events) = mesos_client::start(ClientConfig::new(url.clone(), framework_info()));
    let ClientEvent::Subscribed { framework_id, master_info, .. } = next(&mut events).await else {
        panic!("expected SUBSCRIBED")
    };
    assert_eq!(master_info.port, a.local_addr().port(), "subscribed to the leader");
    let b = contending(&url, &dir.path().join("b")).await;
    client.call(Call::new(CallType::Revive, None)).await.expect("revive");

    // A leaves: the client drops its subscription and subscribes to B with the same id.
    a.stop().await;
    let mut disconnected = false;
    let (again, leader) = loop {
        match next(&mut events).await {
            ClientEvent::Disconnected { .. } => disconnected = true,
            ClientEvent::Subscribed { framework_id, master_info, .. } => break (framework_id, master_info),
            ClientEvent::Event(_) => {}
        }
    };
    assert!(disconnected);
    assert_eq!(again, framework_id);
    assert_eq!(leader.port, b.local_addr().port());
    client.call(Call::new(CallType::Revive, None)).await.expect("revive on the new leader");
    client.stop();
    b.stop().await;
}

/// A standby that answers every request with a redirect to `leader` (as a master that does not
/// lead does), on a free port.
async fn redirecting_standby(leader: std::net::SocketAddr) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0u8; 8192];
                let _ = socket.read(&mut buffer).await;
                let answer = format!(
                    "HTTP/1.1 307 Temporary Redirect\r\nLocation: //{leader}/api/v1/scheduler\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn with_a_credential_it_authenticates_to_the_leader_a_standby_redirects_to() {
    let dir = tempfile::tempdir().expect("tempdir");
    let credentials = dir.path().join("credentials");
    std::fs::write(&credentials, "fw fw-secret\n").expect("credentials");
    let m = master::start(master::MasterFlags {
        authenticate_frameworks: true,
        credentials: Some(credentials),
        ..flags(0, dir.path())
    })
    .await
    .expect("master");
    let standby = redirecting_standby(m.local_addr()).await;
    let credential = mesos_api::credentials::Credential { principal: "fw".into(), secret: "fw-secret".into() };
    let config =
        ClientConfig { credential: Some(credential), ..ClientConfig::new(standby.to_string(), framework_info()) };
    let (client, mut events) = mesos_client::start(config);
    let subscribed = loop {
        match next(&mut events).await {
            ClientEvent::Subscribed { framework_id, .. } => break framework_id,
            ClientEvent::Disconnected { .. } | ClientEvent::Event(_) => {}
        }
    };
    assert!(!subscribed.value.is_empty());
    // Calls carry the credential too (the master refuses them otherwise).
    client.call(Call::new(CallType::Revive, None)).await.expect("revive accepted");

    // Without it the master refuses the subscription (the client keeps trying, in vain).
    let (anonymous, mut refused) = mesos_client::start(ClientConfig::new(m.local_addr().to_string(), framework_info()));
    assert!(tokio::time::timeout(Duration::from_secs(2), refused.recv()).await.is_err(), "no SUBSCRIBED");
    assert!(!anonymous.is_subscribed());
    anonymous.stop();
    client.stop();
    m.shutdown();
}
