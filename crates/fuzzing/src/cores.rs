//! Targets that drive the pure cores: the master with scheduler calls and agent calls, the
//! agent with the master's events.

use agent::core::{AgentCore, Command, ContainerizerKind, CoreConfig, Event as AgentCoreEvent, LimitsConfig};
use agent::paths::Layout;
use master::core::{MasterConfig, MasterCore, Now};
use mesos_api::agent::{AgentCall, AgentEvent, Register};
use mesos_api::recordio;
use mesos_api::resources::ResourceSet;
use mesos_api::scheduler::{Call, CallType};
use mesos_api::{AgentInfo, FrameworkInfo, MasterInfo};
use std::time::Duration;

const SEC: Duration = Duration::from_secs(1);

fn master_info() -> MasterInfo {
    MasterInfo {
        id: "m".into(),
        ip: 16777343,
        port: 5050,
        pid: "master@127.0.0.1:5050".into(),
        hostname: "localhost".into(),
        version: mesos_api::MESOS_VERSION.into(),
        address: Default::default(),
        capabilities: vec![],
    }
}

fn agent_info(hostname: &str) -> AgentInfo {
    AgentInfo {
        hostname: hostname.into(),
        port: 5051,
        resources: ResourceSet::parse_text("cpus:4;mem:4096;disk:1000;ports:[31000-32000]")
            .map(|r| r.to_wire())
            .unwrap_or_default(),
        attributes: vec![],
        id: None,
        domain: None,
    }
}

/// A master core with one agent (stream `agent-0`) and one subscribed framework (stream `fw`,
/// id `m-0000`), its first offers made.
struct Master {
    core: MasterCore,
    now: Now,
}

impl Master {
    fn new() -> Self {
        let config = MasterConfig {
            master_info: master_info(),
            allocation_interval: SEC,
            heartbeat_interval: 15 * SEC,
            agent_ping_timeout: Duration::from_millis(500),
            max_agent_ping_timeouts: 4,
            agent_reregister_timeout: 10 * SEC,
            offer_timeout: None,
            max_completed_frameworks: 50,
            max_completed_tasks_per_framework: 1000,
            seed: 7,
        };
        let now = Now { mono: Duration::ZERO, wall: 1_700_000_000.0 };
        let mut master = Master { core: MasterCore::new(config, now), now };
        let register = Register {
            agent_info: agent_info("host-0"),
            agent_id: None,
            tasks: vec![],
            executors: vec![],
            endpoint: "127.0.0.1:5051".into(),
        };
        master.core.agent_register(master.now, "agent-0".into(), register);
        master.stored();
        let info: FrameworkInfo = serde_json::from_str(
            r#"{"user":"root","name":"fuzz","failover_timeout":100.0,"checkpoint":true,
                "capabilities":[{"type":"PARTITION_AWARE"}]}"#,
        )
        .expect("framework info");
        master.core.subscribe(master.now, "fw".into(), info);
        master.step(SEC);
        master
    }

    /// The shell stored the registry as it is now.
    fn stored(&mut self) {
        let version = self.core.registry_version();
        self.core.registry_stored(self.now, version);
    }

    /// Time passes; the outputs are taken as the shell would.
    fn step(&mut self, by: Duration) {
        self.now.mono += by;
        self.now.wall += by.as_secs_f64();
        self.core.tick(self.now);
        self.stored();
        let _ = self.core.take_outputs();
        let _ = self.core.agent_call(self.now, Some("agent-0"), AgentCall::Pong { agent_id: "x".into() });
    }
}

/// `POST /api/v1/scheduler`: each line of the input is a call body, parsed and validated as the
/// master's handler does; a parsed call survives a round trip through its JSON unchanged and is
/// then run by a master core with an agent and a subscribed framework (SUBSCRIBE opens a new
/// framework stream).
pub fn mesos_call(data: &[u8]) {
    let mut master = Master::new();
    for (n, line) in data.split(|b| *b == b'\n').enumerate() {
        let Ok(call) = Call::parse(line) else { continue };
        let text = serde_json::to_vec(&call).expect("a call is JSON");
        assert_eq!(Call::parse(&text).as_ref(), Ok(&call), "a call changed through its JSON");
        if call.kind == Some(CallType::Subscribe) {
            if let Some(subscribe) = call.subscribe {
                master.core.subscribe(master.now, format!("fw-{n}"), subscribe.framework_info);
            }
        } else {
            let _ = master.core.call(master.now, Some("fw"), call);
        }
        master.step(SEC / 4);
    }
    master.step(60 * SEC);
}

/// Our agent protocol, both ways. The input is a RecordIO stream as the master writes to an
/// agent; each record that is an agent event survives a round trip through its framing and is
/// handled by an agent core (registered with the master as its first connection), and each that
/// is an agent call (`POST /api/v1/agent`) is handled by a master core (REGISTER as a new agent
/// stream).
pub fn agent_protocol(data: &[u8]) {
    let Ok(records) = recordio::Decoder::new().feed(data) else { return };
    let mut master = Master::new();
    let mut agent = AgentCore::new(agent_config());
    let out = agent.handle(at(0.0), AgentCoreEvent::Start(Box::default()));
    let conn = out
        .iter()
        .find_map(|c| match c {
            Command::Connect { conn, .. } => Some(*conn),
            _ => None,
        })
        .expect("a starting agent connects");
    let mut secs = 0.0;
    for (n, record) in records.iter().enumerate() {
        if let Ok(event) = serde_json::from_slice::<AgentEvent>(record) {
            let framed = event.to_record();
            let back = recordio::Decoder::new().feed(&framed).expect("a framed event decodes");
            let back: Vec<AgentEvent> =
                back.iter().map(|r| serde_json::from_slice(r).expect("a written event parses")).collect();
            assert_eq!(back, vec![event.clone()], "an event changed through its record");
            secs += 0.25;
            let _ = agent.handle(at(secs), AgentCoreEvent::Master { conn, event: Box::new(event) });
        }
        if let Ok(call) = serde_json::from_slice::<AgentCall>(record) {
            match call {
                AgentCall::Register { register } => {
                    master.core.agent_register(master.now, format!("agent-{n}"), register);
                }
                call => {
                    let _ = master.core.agent_call(master.now, Some("agent-0"), call);
                }
            }
            master.step(SEC / 4);
        }
    }
    let _ = agent.handle(at(secs + 600.0), AgentCoreEvent::Tick);
    master.step(60 * SEC);
}

fn at(secs: f64) -> agent::core::Now {
    agent::core::Now { mono: Duration::from_secs_f64(secs), wall: 1_700_000_000.0 + secs }
}

fn agent_config() -> CoreConfig {
    CoreConfig {
        master: Some("127.0.0.1:5050".into()),
        agent_info: agent_info("host1"),
        endpoint: "127.0.0.1:5051".into(),
        ip: "127.0.0.1".into(),
        layout: Layout::new("/work"),
        default_kill_grace: 3 * SEC,
        executor_shutdown_grace: 5 * SEC,
        update_retry_min: 10 * SEC,
        update_retry_max: 600 * SEC,
        registration_backoff_factor: Duration::from_millis(100),
        registration_backoff_max: 5 * SEC,
        cgroups: true,
        seed: 7,
        gc_delay: 7 * 86400 * SEC,
        gc_disk_headroom: 0.1,
        disk_watch_interval: 60 * SEC,
        containerizers: vec![ContainerizerKind::Mesos, ContainerizerKind::Docker],
        docker_stop_timeout: Duration::ZERO,
        limits: LimitsConfig::default(),
        switch_user: false,
        agent_user: None,
    }
}
