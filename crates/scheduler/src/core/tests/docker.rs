//! Docker apps: the ContainerInfo of their tasks, port mappings (host ports from the offer,
//! service ports from the range), the port variables, and where checks connect.

use super::*;
use crate::core::{DockerContainer, HostVolume, Network};

fn docker_app(id: &str, network: Network, mappings: Vec<PortDefinition>) -> RunSpec {
    let mut spec = app(id, 1);
    spec.network = network;
    spec.port_definitions = mappings;
    spec.docker = Some(Box::new(DockerContainer {
        image: "busybox".into(),
        privileged: true,
        force_pull_image: true,
        parameters: vec![("add-host".into(), "a:1.2.3.4".into()), ("label".into(), "x=y".into())],
        volumes: vec![HostVolume {
            container_path: "/etc/stuff".into(),
            host_path: "/srv/stuff".into(),
            read_only: true,
        }],
    }));
    spec
}

#[test]
fn a_bridged_app_maps_offered_host_ports_to_its_container_ports() {
    let mut h = Harness::subscribed();
    let mut http = PortDefinition::mapping(8080, Some(0), 0);
    http.name = Some("http".into());
    let mut fixed = PortDefinition::mapping(0, Some(31005), 0);
    fixed.protocol = "udp,tcp".into();
    h.put(docker_app("/web", Network::Bridge, vec![http, fixed]));
    let app_id = AppId::new("/web");
    // Service ports from the service port range, as for port definitions.
    assert_eq!(h.core.app(&app_id).expect("app").service_ports(), vec![10000, 10001]);
    let infos = h.launch(offer("o1", "agent-1", "cpus:1;mem:256;ports:[31000-31009]"));
    assert_eq!(infos.len(), 1);
    let task = &infos[0];
    let ports = h.instances("/web")[0].task.as_ref().expect("task").host_ports.clone();
    assert_eq!(ports.len(), 2);
    assert!((31000..=31009).contains(&ports[0]) && ports[0] != 31005);
    assert_eq!(ports[1], 31005, "a fixed host port is taken exactly");
    let used = ResourceSet::from_wire(&task.resources).expect("resources");
    let mut ranges = used.ranges_of("ports");
    ranges.sort_unstable();
    let mut expected = vec![(u64::from(ports[0]), u64::from(ports[0])), (31005, 31005)];
    expected.sort_unstable();
    assert_eq!(ranges, expected);

    let container = task.container.as_ref().expect("a DOCKER ContainerInfo");
    let info = mesos_api::container::ContainerInfo::from_json(container).expect("valid ContainerInfo");
    assert_eq!(info.kind, mesos_api::container::ContainerType::Docker);
    let docker = info.docker.as_ref().expect("docker");
    assert_eq!(docker.image, "busybox");
    assert_eq!(docker.network, Some(mesos_api::container::DockerNetwork::Bridge));
    assert!(docker.privileged);
    assert_eq!(docker.force_pull_image, Some(true));
    assert_eq!(docker.parameters.len(), 2);
    assert_eq!(docker.parameters[0].key, "add-host");
    let mappings: Vec<(u32, u32, Option<&str>)> =
        docker.port_mappings.iter().map(|m| (m.host_port, m.container_port, m.protocol.as_deref())).collect();
    assert_eq!(
        mappings,
        vec![
            (u32::from(ports[0]), 8080, Some("tcp")),
            // Container port 0: the host port's number; one mapping per protocol.
            (31005, 31005, Some("udp")),
            (31005, 31005, Some("tcp")),
        ]
    );
    assert_eq!(info.volumes.len(), 1);
    assert_eq!(info.volumes[0].container_path, "/etc/stuff");
    assert_eq!(info.volumes[0].host_path.as_deref(), Some("/srv/stuff"));
    assert_eq!(info.volumes[0].mode, mesos_api::container::VolumeMode::Ro);

    // The port variables: host ports by index, by container port and by name.
    let env = env_of(task);
    let p0 = ports[0].to_string();
    assert_eq!(env["PORT0"], p0);
    assert_eq!(env["PORT1"], "31005");
    assert_eq!(env["PORT_8080"], p0);
    assert_eq!(env["PORT_31005"], "31005");
    assert_eq!(env["PORT_HTTP"], p0);
    assert_eq!(env["PORT"], p0);
    assert_eq!(env["PORTS"], format!("{p0},31005"));
    assert_eq!(env["HOST"], "agent-1.example.com");
    let discovery = task.discovery.as_ref().expect("discovery");
    assert_eq!(discovery["ports"]["ports"][0]["number"], ports[0]);
    assert_eq!(discovery["ports"]["ports"][0]["labels"]["labels"][0]["value"], "host");
}

#[test]
fn a_container_network_port_without_a_host_port_is_reached_at_the_container() {
    let mut h = Harness::subscribed();
    let mut spec = docker_app("/net", Network::Container("net1".into()), vec![PortDefinition::mapping(80, None, 0)]);
    spec.docker.as_mut().expect("docker").volumes.clear();
    let mut check = HealthCheck::new(HealthCheckProtocol::Http);
    check.port_index = Some(0);
    check.grace_period = Duration::from_secs(10);
    check.delay = Duration::ZERO;
    check.interval = Duration::from_secs(1);
    spec.health_checks = vec![check];
    h.put(spec);
    // No host port is needed: an offer without ports fits.
    let infos = h.launch(offer("o1", "agent-1", "cpus:1;mem:256"));
    assert_eq!(infos.len(), 1);
    let task = &infos[0];
    assert!(!ResourceSet::from_wire(&task.resources).expect("resources").has("ports"));
    let info = mesos_api::container::ContainerInfo::from_json(task.container.as_ref().expect("container"))
        .expect("valid ContainerInfo");
    assert_eq!(info.docker.as_ref().and_then(|d| d.network), Some(mesos_api::container::DockerNetwork::User));
    assert_eq!(info.network_infos.first().and_then(|n| n.name.as_deref()), Some("net1"));
    assert!(info.docker.as_ref().is_some_and(|d| d.port_mappings.is_empty()));
    let env = env_of(task);
    assert_eq!((env["PORT0"].as_str(), env["PORT_80"].as_str()), ("80", "80"));
    assert_eq!(env["PORTS"], "");
    // Running with the container's address: Marathon's HTTP check goes there, on port 80.
    let mut status = TaskStatus::new(task.task_id.clone(), TaskState::Running);
    status.agent_id = Some(AgentId::new("agent-1"));
    status.uuid = Some("u1".into());
    status.container_status = Some(serde_json::json!({
        "network_infos": [{"name": "net1", "ip_addresses": [{"protocol": "IPv4", "ip_address": "10.250.3.7"}]}]
    }));
    let mut commands = h.run(Event::StatusUpdate(status));
    let instance = &h.instances("/net")[0];
    let ips = &instance.task.as_ref().expect("task").ip_addresses;
    assert_eq!(ips, &vec!["10.250.3.7".parse::<std::net::IpAddr>().expect("ip")]);
    h.advance(Duration::from_secs(1));
    commands.extend(h.tick());
    let probes: Vec<(String, u16)> = commands
        .into_iter()
        .filter_map(|c| match c {
            Command::Probe { host, port, .. } => Some((host, port)),
            _ => None,
        })
        .collect();
    assert_eq!(probes, vec![("10.250.3.7".to_string(), 80)]);
}

#[test]
fn a_docker_app_on_the_host_network_uses_its_host_ports_unmapped() {
    let mut h = Harness::subscribed();
    let mut spec = docker_app("/host", Network::Host, vec![PortDefinition::new(0)]);
    spec.docker.as_mut().expect("docker").volumes.clear();
    h.put(spec);
    let infos = h.launch(offer("o1", "agent-1", "cpus:1;mem:256;ports:[31000-31000]"));
    let info = mesos_api::container::ContainerInfo::from_json(infos[0].container.as_ref().expect("container"))
        .expect("valid ContainerInfo");
    let docker = info.docker.as_ref().expect("docker");
    assert_eq!(docker.network, Some(mesos_api::container::DockerNetwork::Host));
    assert!(docker.port_mappings.is_empty(), "{docker:?}");
    assert_eq!(env_of(&infos[0])["PORT0"], "31000");
}

#[test]
fn checks_of_a_bridged_app_use_the_right_ports() {
    let mut h = Harness::subscribed();
    let mut spec = docker_app("/hc", Network::Bridge, vec![PortDefinition::mapping(80, Some(0), 0)]);
    // Mesos checks run in the container's network: the container port.
    let mut mesos = HealthCheck::new(HealthCheckProtocol::MesosHttp);
    mesos.port_index = Some(0);
    let mut marathon = HealthCheck::new(HealthCheckProtocol::Http);
    marathon.port_index = Some(0);
    marathon.delay = Duration::ZERO;
    spec.health_checks = vec![marathon, mesos];
    spec.command = CommandSpec::Args(vec!["httpd".into(), "-f".into()]);
    h.put(spec);
    let infos = h.launch(offer("o1", "agent-1", "cpus:1;mem:256;ports:[31000-31000]"));
    let task = &infos[0];
    assert_eq!(task.health_check.as_ref().expect("a Mesos check")["http"]["port"], 80);
    // `args` of a Docker app are the entrypoint's arguments: no value.
    let command = task.command.as_ref().expect("command");
    assert!(!command.shell);
    assert_eq!(command.value, None);
    assert_eq!(command.arguments, vec!["httpd".to_string(), "-f".to_string()]);
    // Marathon's own check: the host port at the agent.
    let mut commands = h.update(&task.task_id, TaskState::Running);
    h.advance(Duration::from_secs(1));
    commands.extend(h.tick());
    let probes: Vec<(String, u16)> = commands
        .into_iter()
        .filter_map(|c| match c {
            Command::Probe { host, port, .. } => Some((host, port)),
            _ => None,
        })
        .collect();
    assert_eq!(probes, vec![("agent-1.example.com".to_string(), 31000)]);
}
