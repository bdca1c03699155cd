use super::*;
use mesos_api::container::ResourceLimits;
use mesos_api::{AllocationInfo, Environment, EnvironmentVariable, Range, Resource};
use serde_json::json;
use std::path::PathBuf;

struct Fixture {
    container: ContainerInfo,
    command: Option<CommandInfo>,
    resources: Vec<Resource>,
    limits: Option<ResourceLimits>,
    env: Vec<(String, String)>,
    sandbox: PathBuf,
}

fn fixture(container: serde_json::Value) -> Fixture {
    Fixture {
        container: ContainerInfo::from_json(&container).expect("container json"),
        command: Some(shell("echo hi")),
        resources: vec![
            Resource::scalar("cpus", 0.5, "*"),
            Resource::scalar("mem", 64.0, "*"),
            Resource::ranges("ports", vec![Range { begin: 31000, end: 31009 }], "*"),
        ],
        limits: None,
        env: vec![("MESOS_TASK_ID".to_string(), "web.1".to_string())],
        sandbox: PathBuf::from("/var/lib/mesos/slaves/a/frameworks/f/executors/e/runs/c"),
    }
}

fn shell(value: &str) -> CommandInfo {
    CommandInfo {
        uris: Vec::new(),
        environment: None,
        shell: true,
        value: Some(value.to_string()),
        arguments: Vec::new(),
        user: None,
    }
}

fn exec(value: Option<&str>, arguments: &[&str]) -> CommandInfo {
    CommandInfo {
        shell: false,
        value: value.map(str::to_string),
        arguments: arguments.iter().map(|a| a.to_string()).collect(),
        ..shell("")
    }
}

fn settings() -> Settings {
    Settings::new("/var/lib/mesos")
}

fn map(f: &Fixture, settings: &Settings) -> Result<ContainerSpec, SpecError> {
    container_spec(
        settings,
        &TaskContainer {
            agent_id: "agent-1",
            framework_id: "fw-1",
            task_id: "web.1",
            container_id: "c0ffee",
            container: &f.container,
            command: f.command.as_ref(),
            resources: &f.resources,
            limits: f.limits.as_ref(),
            env: &f.env,
            sandbox: &f.sandbox,
        },
    )
}

fn docker(extra: serde_json::Value) -> serde_json::Value {
    let mut docker = json!({"image": "busybox:latest"});
    if let (Some(d), Some(e)) = (docker.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            d.insert(k.clone(), v.clone());
        }
    }
    json!({"type": "DOCKER", "docker": docker})
}

fn host(spec: &ContainerSpec) -> &HostConfig {
    spec.body.host_config.as_ref().expect("host config")
}

fn env_of(spec: &ContainerSpec) -> Vec<String> {
    spec.body.env.clone().unwrap_or_default()
}

#[test]
fn a_plain_docker_task_maps_like_upstream() {
    let spec = map(&fixture(docker(json!({}))), &settings()).expect("spec");
    assert_eq!(spec.name, "mesos-c0ffee");
    assert_eq!(spec.image, "busybox:latest");
    assert!(!spec.force_pull);
    assert_eq!(spec.network, NetworkMode::Host, "HOST is the default network");
    let host = host(&spec);
    assert_eq!(host.network_mode.as_deref(), Some("host"));
    assert_eq!(host.cpu_shares, Some(512));
    assert_eq!(host.cpu_quota, None, "no quota without a limit or --cgroups_enable_cfs");
    assert_eq!(host.memory, Some(64 * 1024 * 1024));
    assert_eq!(host.memory_reservation, None);
    assert_eq!(host.privileged, Some(false));
    assert_eq!(
        host.binds,
        Some(vec!["/var/lib/mesos/slaves/a/frameworks/f/executors/e/runs/c:/mnt/mesos/sandbox:rw".to_string()])
    );
    assert_eq!(host.log_config.as_ref().and_then(|l| l.typ.as_deref()), Some("json-file"));
    assert_eq!(spec.body.entrypoint, Some(vec!["/bin/sh".to_string()]));
    assert_eq!(spec.body.cmd, Some(vec!["-c".to_string(), "echo hi".to_string()]));
    let labels = spec.body.labels.as_ref().expect("labels");
    assert_eq!(labels[labels::OWNER], "/var/lib/mesos");
    assert_eq!(labels[labels::AGENT_ID], "agent-1");
    assert_eq!(labels[labels::FRAMEWORK_ID], "fw-1");
    assert_eq!(labels[labels::TASK_ID], "web.1");
    assert_eq!(labels[labels::CONTAINER_ID], "c0ffee");
    assert_eq!(
        env_of(&spec),
        vec!["MESOS_CONTAINER_NAME=mesos-c0ffee", "MESOS_SANDBOX=/mnt/mesos/sandbox", "MESOS_TASK_ID=web.1"]
    );
}

#[test]
fn exec_commands_keep_the_image_entrypoint() {
    let mut f = fixture(docker(json!({})));
    // Marathon's `args`: no value, the arguments are the command for the entrypoint.
    f.command = Some(exec(None, &["serve", "--port", "80"]));
    let spec = map(&f, &settings()).expect("spec");
    assert_eq!(spec.body.entrypoint, None);
    assert_eq!(spec.body.cmd, Some(vec!["serve".to_string(), "--port".to_string(), "80".to_string()]));
    // A value comes first, then every argument (unlike a command task's argv).
    f.command = Some(exec(Some("/bin/echo"), &["a", "b"]));
    let spec = map(&f, &settings()).expect("spec");
    assert_eq!(spec.body.cmd, Some(vec!["/bin/echo".to_string(), "a".to_string(), "b".to_string()]));
    // Nothing at all: the image's entrypoint and command.
    f.command = Some(exec(None, &[]));
    let spec = map(&f, &settings()).expect("spec");
    assert_eq!((spec.body.entrypoint, spec.body.cmd), (None, None));
    f.command = None;
    let spec = map(&f, &settings()).expect("spec");
    assert_eq!((spec.body.entrypoint, spec.body.cmd), (None, None));
}

#[test]
fn a_shell_command_needs_a_value() {
    let mut f = fixture(docker(json!({})));
    f.command = Some(CommandInfo { value: None, ..shell("") });
    assert_eq!(map(&f, &settings()), Err(invalid("Shell specified but no command value provided")));
}

#[test]
fn an_entrypoint_parameter_overrides_the_shell_entrypoint() {
    let f = fixture(docker(json!({"parameters": [{"key": "entrypoint", "value": "/bin/busybox"}]})));
    let spec = map(&f, &settings()).expect("spec");
    assert_eq!(spec.body.entrypoint, Some(vec!["/bin/busybox".to_string()]));
    assert_eq!(spec.body.cmd, Some(vec!["-c".to_string(), "echo hi".to_string()]));
}

#[test]
fn environment_merges_agent_task_and_containerizer_variables() {
    let mut f = fixture(docker(json!({})));
    f.env = vec![("MESOS_TASK_ID".to_string(), "web.1".to_string()), ("HOST".to_string(), "agent.example".to_string())];
    let var = |name: &str, value: &str| EnvironmentVariable {
        name: name.to_string(),
        kind: None,
        value: Some(value.to_string()),
        secret: None,
    };
    f.command = Some(CommandInfo {
        environment: Some(Environment {
            variables: vec![var("PORT0", "31000"), var("HOST", "ignored"), var("MESOS_SANDBOX", "/elsewhere")],
        }),
        ..shell("true")
    });
    f.resources[0].allocation_info = Some(AllocationInfo { role: Some("web".to_string()) });
    let spec = map(&f, &settings()).expect("spec");
    assert_eq!(
        env_of(&spec),
        vec![
            "HOST=agent.example",
            "MESOS_ALLOCATION_ROLE=web",
            "MESOS_CONTAINER_NAME=mesos-c0ffee",
            "MESOS_SANDBOX=/mnt/mesos/sandbox",
            "MESOS_TASK_ID=web.1",
            "PORT0=31000",
        ]
    );
}

#[test]
fn secret_variables_are_refused_by_name() {
    let mut f = fixture(docker(json!({})));
    f.command = Some(CommandInfo {
        environment: Some(Environment {
            variables: vec![EnvironmentVariable {
                name: "TOKEN".to_string(),
                kind: Some("SECRET".to_string()),
                value: None,
                secret: Some(json!({"type": "REFERENCE"})),
            }],
        }),
        ..shell("true")
    });
    let err = map(&f, &settings()).expect_err("refused").to_string();
    assert!(err.contains("'TOKEN'") && err.contains("SECRET"), "{err}");
}

#[test]
fn cpu_and_memory_follow_requests_limits_and_cfs() {
    let mut f = fixture(docker(json!({})));
    f.resources[0] = Resource::scalar("cpus", 0.001, "*");
    f.resources[1] = Resource::scalar("mem", 8.0, "*");
    let spec = map(&f, &settings()).expect("spec");
    assert_eq!(host(&spec).cpu_shares, Some(2), "at least 2 shares");
    assert_eq!(host(&spec).memory, Some(32 * 1024 * 1024), "at least 32 MB");

    let mut cfs = settings();
    cfs.cgroups_enable_cfs = true;
    let spec = map(&f, &cfs).expect("spec");
    assert_eq!(host(&spec).cpu_quota, Some(1_000), "at least 1 ms per period");
    f.resources[0] = Resource::scalar("cpus", 1.5, "*");
    let spec = map(&f, &cfs).expect("spec");
    assert_eq!(host(&spec).cpu_shares, Some(1536));
    assert_eq!(host(&spec).cpu_quota, Some(150_000));

    // Limits: the quota from the cpus limit even without CFS; mem limit above the request.
    f.resources[1] = Resource::scalar("mem", 128.0, "*");
    f.limits = Some(ResourceLimits { cpus: Some(Limit::Value(2.0)), mem: Some(Limit::Value(256.0)) });
    let mut s = settings();
    s.host_memory_bytes = Some(1024 * 1024 * 1024);
    let spec = map(&f, &s).expect("spec");
    let h = host(&spec);
    assert_eq!(h.cpu_quota, Some(200_000));
    assert_eq!(h.memory, Some(256 * 1024 * 1024));
    assert_eq!(h.memory_reservation, Some(128 * 1024 * 1024));
    assert_eq!(h.oom_score_adj, Some(875), "1000 - 1000 * 128 MB / 1 GB");

    // Unlimited: no quota, no memory limit, the request still reserved.
    f.limits = Some(ResourceLimits { cpus: Some(Limit::Unlimited), mem: Some(Limit::Unlimited) });
    let spec = map(&f, &cfs).expect("spec");
    let h = host(&spec);
    assert_eq!((h.cpu_quota, h.memory, h.memory_reservation), (None, None, Some(128 * 1024 * 1024)));
}

#[test]
fn volumes_map_to_binds_relative_paths_as_upstream() {
    let f = fixture(json!({
        "type": "DOCKER",
        "docker": {"image": "busybox"},
        "volumes": [
            {"host_path": "/etc/stuff", "container_path": "/etc/stuff", "mode": "RO"},
            {"host_path": "/srv/data", "container_path": "data", "mode": "RW"},
            {"host_path": "cache", "container_path": "/cache", "mode": "RW"},
            {"container_path": "/named", "mode": "RW", "source": {"type": "DOCKER_VOLUME", "docker_volume": {"name": "shared"}}}
        ]
    }));
    let spec = map(&f, &settings()).expect("spec");
    assert_eq!(
        host(&spec).binds.clone().expect("binds"),
        vec![
            "/etc/stuff:/etc/stuff:ro",
            "/srv/data:/mnt/mesos/sandbox/data:rw",
            "/var/lib/mesos/slaves/a/frameworks/f/executors/e/runs/c/cache:/cache:rw",
            "shared:/named:rw",
            "/var/lib/mesos/slaves/a/frameworks/f/executors/e/runs/c:/mnt/mesos/sandbox:rw",
        ]
    );
}

#[test]
fn invalid_volumes_are_refused() {
    let both_relative = fixture(json!({
        "type": "DOCKER", "docker": {"image": "busybox"},
        "volumes": [{"host_path": "a", "container_path": "b", "mode": "RW"}]
    }));
    assert_eq!(
        map(&both_relative, &settings()),
        Err(invalid("Both host_path 'a' and container_path 'b' of a volume are relative"))
    );
    let colon = fixture(json!({
        "type": "DOCKER", "docker": {"image": "busybox"},
        "volumes": [{"host_path": "/a:b", "container_path": "/b", "mode": "RW"}]
    }));
    assert!(map(&colon, &settings()).expect_err("colon").to_string().contains("':'"));
    let secret = fixture(json!({
        "type": "DOCKER", "docker": {"image": "busybox"},
        "volumes": [{"container_path": "/s", "mode": "RO", "source": {"type": "SECRET", "secret": {}}}]
    }));
    let err = map(&secret, &settings()).expect_err("secret").to_string();
    assert!(err.contains("source type SECRET of the volume at '/s'"), "{err}");
}

#[test]
fn bridge_networks_publish_port_mappings_from_the_task_ports() {
    let f = fixture(docker(json!({
        "network": "BRIDGE",
        "port_mappings": [
            {"host_port": 31000, "container_port": 80, "protocol": "tcp"},
            {"host_port": 31001, "container_port": 53, "protocol": "UDP"},
            {"host_port": 31002, "container_port": 80}
        ]
    })));
    let spec = map(&f, &settings()).expect("spec");
    assert_eq!(spec.network, NetworkMode::Bridge);
    assert!(spec.network.has_own_addresses());
    assert_eq!(host(&spec).network_mode.as_deref(), Some("bridge"));
    assert_eq!(spec.ports.len(), 3);
    assert_eq!(spec.ports[1], PortMapping { host_port: 31001, container_port: 53, protocol: "udp".to_string() });
    let bindings = host(&spec).port_bindings.clone().expect("bindings");
    let host_ports = |key: &str| -> Vec<String> {
        bindings[key].clone().unwrap_or_default().into_iter().filter_map(|b| b.host_port).collect()
    };
    assert_eq!(host_ports("80/tcp"), vec!["31000", "31002"]);
    assert_eq!(host_ports("53/udp"), vec!["31001"]);
    assert_eq!(spec.body.exposed_ports, Some(vec!["80/tcp".to_string(), "53/udp".to_string()]));
}

#[test]
fn port_mappings_need_a_bridge_or_user_network_and_offered_ports() {
    let host_net = fixture(docker(json!({"port_mappings": [{"host_port": 31000, "container_port": 80}]})));
    assert_eq!(
        map(&host_net, &settings()),
        Err(invalid("Port mappings are only supported for bridge and user-defined networks"))
    );
    let outside = fixture(docker(json!({
        "network": "BRIDGE", "port_mappings": [{"host_port": 8080, "container_port": 80}]
    })));
    assert_eq!(map(&outside, &settings()), Err(invalid("Port [8080] not included in resources")));
    let mut no_ports = fixture(docker(json!({
        "network": "BRIDGE", "port_mappings": [{"host_port": 31000, "container_port": 80}]
    })));
    no_ports.resources.truncate(2);
    assert_eq!(map(&no_ports, &settings()), Err(invalid("Port mappings require port resources")));
}

#[test]
fn user_networks_take_the_one_network_info_name() {
    let mut f = fixture(json!({
        "type": "DOCKER",
        "docker": {"image": "busybox", "network": "USER", "port_mappings": [{"host_port": 31005, "container_port": 8080}],
                   "parameters": [{"key": "network-alias", "value": "web"}]},
        "network_infos": [{"name": "backend", "labels": {"labels": [{"key": "a", "value": "b"}]}}]
    }));
    let spec = map(&f, &settings()).expect("spec");
    assert_eq!(spec.network, NetworkMode::User("backend".to_string()));
    assert_eq!(host(&spec).network_mode.as_deref(), Some("backend"));
    let endpoints = spec.body.networking_config.and_then(|n| n.endpoints_config).expect("endpoints");
    assert_eq!(endpoints["backend"].aliases, Some(vec!["web".to_string()]));

    f.container.network_infos.clear();
    assert_eq!(map(&f, &settings()), Err(invalid("No network info found in container info")));
    f.container.network_infos = vec![Default::default(), Default::default()];
    assert_eq!(map(&f, &settings()), Err(invalid("Only a single network can be defined in Docker run")));
    f.container.network_infos = vec![Default::default()];
    assert_eq!(map(&f, &settings()), Err(invalid("No network name found in network info")));
}

#[test]
fn a_network_parameter_replaces_the_network_mode() {
    let f = fixture(docker(json!({"network": "BRIDGE", "parameters": [{"key": "net", "value": "none"}]})));
    let spec = map(&f, &settings()).expect("spec");
    assert_eq!(spec.network, NetworkMode::None);
    assert_eq!(host(&spec).network_mode.as_deref(), Some("none"));
    let alias_on_bridge =
        fixture(docker(json!({"network": "BRIDGE", "parameters": [{"key": "network-alias", "value": "x"}]})));
    assert!(matches!(map(&alias_on_bridge, &settings()), Err(SpecError::Parameters(_))));
}

#[test]
fn hostname_is_refused_on_the_host_network() {
    let mut f = fixture(json!({"type": "DOCKER", "docker": {"image": "busybox"}, "hostname": "web"}));
    assert_eq!(map(&f, &settings()), Err(invalid("Unable to set hostname with host network mode")));
    f.container.docker.as_mut().expect("docker").network = Some(DockerNetwork::Bridge);
    assert_eq!(map(&f, &settings()).expect("spec").body.hostname.as_deref(), Some("web"));
}

#[test]
fn privileged_force_pull_and_parameters() {
    let f = fixture(docker(json!({
        "privileged": true,
        "force_pull_image": true,
        "parameters": [
            {"key": "add-host", "value": "google-public-dns-a.google.com:8.8.8.8"},
            {"key": "memory", "value": "128m"},
            {"key": "label", "value": "team=web"}
        ]
    })));
    let spec = map(&f, &settings()).expect("spec");
    assert!(spec.force_pull);
    let h = host(&spec);
    assert_eq!(h.privileged, Some(true));
    assert_eq!(h.extra_hosts, Some(vec!["google-public-dns-a.google.com:8.8.8.8".to_string()]));
    assert_eq!(h.memory, Some(128 * 1024 * 1024), "parameters come last, as on the command line");
    let labels = spec.body.labels.as_ref().expect("labels");
    assert_eq!(labels["team"], "web");
    assert_eq!(labels[labels::OWNER], "/var/lib/mesos");
}

#[test]
fn unknown_parameters_are_refused_by_name() {
    let f =
        fixture(docker(json!({"parameters": [{"key": "bogus-flag", "value": "1"}, {"key": "rm", "value": "true"}]})));
    let err = map(&f, &settings()).expect_err("refused").to_string();
    assert!(err.contains("'bogus-flag' (unknown docker run option)"), "{err}");
    assert!(err.contains("'rm'"), "{err}");
}

#[test]
fn what_is_not_implemented_is_refused_not_dropped() {
    let f = fixture(json!({
        "type": "DOCKER", "docker": {"image": "busybox"},
        "linux_info": {"share_pid_namespace": true},
        "tty_info": {},
        "network_infos": [{"name": "n", "groups": ["g"], "port_mappings": [{"host_port": 1, "container_port": 2}]}]
    }));
    let err = map(&f, &settings()).expect_err("refused").to_string();
    for name in
        ["'container.linux_info'", "'container.tty_info'", "'network_infos.groups'", "'network_infos.port_mappings'"]
    {
        assert!(err.contains(name), "{name} missing from: {err}");
    }
    let mesos = fixture(json!({"type": "MESOS"}));
    assert_eq!(map(&mesos, &settings()), Err(SpecError::NotDocker));
    let empty_image = fixture(docker(json!({"image": " "})));
    assert_eq!(map(&empty_image, &settings()), Err(invalid("'container.docker.image' is empty")));
}

#[test]
fn a_command_user_is_a_warning() {
    let mut f = fixture(docker(json!({})));
    f.command = Some(CommandInfo { user: Some("nobody".to_string()), ..shell("id") });
    let spec = map(&f, &settings()).expect("spec");
    assert_eq!(spec.body.user, None);
    assert!(spec.warnings[0].contains("'nobody'"), "{:?}", spec.warnings);
}

#[test]
fn the_create_body_is_what_the_engine_api_expects() {
    let f =
        fixture(docker(json!({"network": "BRIDGE", "port_mappings": [{"host_port": 31000, "container_port": 80}]})));
    let spec = map(&f, &settings()).expect("spec");
    let body = serde_json::to_value(&spec.body).expect("json");
    assert_eq!(body["Image"], "busybox:latest");
    assert_eq!(body["ExposedPorts"], json!({"80/tcp": {}}));
    assert_eq!(body["HostConfig"]["PortBindings"], json!({"80/tcp": [{"HostPort": "31000"}]}));
    assert_eq!(body["HostConfig"]["NetworkMode"], "bridge");
    assert_eq!(body["Entrypoint"], json!(["/bin/sh"]));
}

#[test]
fn the_agents_pids_max_caps_every_container_and_a_parameter_may_only_lower_it() {
    let mut limited = settings();
    limited.pids_max = Some(1024);
    let plain = fixture(docker(json!({})));
    assert_eq!(host(&map(&plain, &settings()).expect("spec")).pids_limit, None, "no cgroups/pids: no limit");
    assert_eq!(host(&map(&plain, &limited).expect("spec")).pids_limit, Some(1024));
    let pids = |value: &str| fixture(docker(json!({"parameters": [{"key": "pids-limit", "value": value}]})));
    assert_eq!(host(&map(&pids("100"), &limited).expect("spec")).pids_limit, Some(100), "lowered");
    for higher_or_unlimited in ["5000", "0", "-1"] {
        let spec = map(&pids(higher_or_unlimited), &limited).expect("spec");
        assert_eq!(host(&spec).pids_limit, Some(1024), "pids-limit {higher_or_unlimited} raised the agent's limit");
    }
    assert_eq!(host(&map(&pids("5000"), &settings()).expect("spec")).pids_limit, Some(5000), "no agent limit");
}
