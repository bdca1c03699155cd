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
