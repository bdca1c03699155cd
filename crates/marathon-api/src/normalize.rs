//! Normalization and validation of app definitions, in upstream's order:
//!
//! 1. ids canonicalised (`id` against the base path, `dependencies` against the app's parent);
//! 2. rules about deprecated fields checked (`ports` with `portDefinitions`, `ipAddress` with
//!    `networks`, …);
//! 3. deprecated fields migrated (`uris` → `fetch`, `ports` → `portDefinitions`,
//!    `ipAddress`/`container.docker.network` → `networks`, `container.docker.portMappings` →
//!    `container.portMappings`), port defaults applied, health checks get a `portIndex`;
//! 4. the canonical definition validated (every rule at once, grouped by path);
//! 5. remaining defaults applied (networks, container for non-host networking, bridge host
//!    ports, unreachable and upgrade strategies, health check paths, upper-case constraint
//!    operators).
//!
//! Steps 2-4 stop at the first step that finds violations, like upstream. Messages are
//! upstream's (wix-accord style for range rules: `got -1.0, expected 0.0 or more`).

use crate::app::*;
use crate::error::{ValidationError, Violations};
use crate::path::PathId;
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

/// Server settings normalization depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizeConfig {
    /// Role given to apps without one (`--mesos_role`, or the enforced group role).
    pub default_role: String,
    /// Roles an app may have; `None` skips the check.
    pub valid_roles: Option<BTreeSet<String>>,
    /// `--default_network_name`: name for container networks without one.
    pub default_network_name: Option<String>,
    /// `--mesos_bridge_name`: an `ipAddress.networkName` with this name means bridge networking.
    pub mesos_bridge_name: String,
    /// `--enable_features` (`gpu_resources`, `secrets`, `external_volumes`, …).
    pub enabled_features: BTreeSet<String>,
    /// The roles the framework subscribes with (whose offers it gets); `None`: any.
    pub subscribed_roles: Option<BTreeSet<String>>,
}

impl Default for NormalizeConfig {
    fn default() -> Self {
        Self {
            default_role: "*".to_string(),
            valid_roles: None,
            default_network_name: None,
            mesos_bridge_name: "mesos-bridge".to_string(),
            enabled_features: BTreeSet::new(),
            subscribed_roles: None,
        }
    }
}

/// Normalizes and validates `raw` with the default [`NormalizeConfig`]; relative ids are
/// resolved against `base` (the root for `/v2/apps`, the group for group bodies).
pub fn normalize(raw: AppDefinition, base: &PathId) -> Result<AppDefinition, ValidationError> {
    normalize_with(raw, base, &NormalizeConfig::default())
}

/// [`normalize()`] with explicit server settings. Idempotent: normalizing a normalized definition
/// returns it unchanged. `version` and `versionInfo` are left alone (the server owns them).
pub fn normalize_with(
    mut app: AppDefinition,
    base: &PathId,
    cfg: &NormalizeConfig,
) -> Result<AppDefinition, ValidationError> {
    let id = PathId::resolve(&app.id, base);
    app.id = id.to_string();
    let parent = id.parent();
    app.dependencies = dedup(app.dependencies.iter().map(|d| PathId::resolve(d, &parent).to_string()));

    let mut v = Violations::default();
    validate_deprecated(&app, &mut v);
    v.into_result()?;

    let mut v = Violations::default();
    migrate_deprecated(&mut app, cfg, &mut v);
    v.into_result()?;
    if app.role.is_none() {
        app.role = Some(cfg.default_role.clone());
    }

    let mut v = Violations::default();
    validate_canonical(&app, &id, cfg, &mut v);
    v.into_result()?;

    apply_defaults(&mut app, cfg);
    Ok(app)
}

// ---------------------------------------------------------------------------------------------
// Step 2: rules about deprecated fields

fn validate_deprecated(app: &AppDefinition, v: &mut Violations) {
    if let Some(container) = &app.container
        && let Some(docker) = &container.docker
    {
        if docker.credential.is_some() {
            v.add("/container/docker/credential", "must be empty");
        }
        if container.kind == ContainerType::Mesos {
            if docker.network.is_some() {
                v.add("/container/docker/network", "must be empty");
            }
            if !docker.parameters.is_empty() {
                v.add("/container/docker/parameters", "must be empty");
            }
            if docker.port_mappings.as_ref().is_some_and(|m| !m.is_empty()) {
                v.add("/container/docker/portMappings", "must be empty");
            }
        }
        if let Some(mappings) = &docker.port_mappings
            && !unique(mappings.iter().filter_map(|m| m.name.as_ref()))
        {
            v.add("/container/docker/portMappings", "Port names must be unique.");
        }
    }
    if let Some(ip) = &app.ip_address
        && ip.discovery.is_some()
        && app.container.as_ref().is_some_and(|c| c.kind == ContainerType::Docker)
    {
        v.add("/ipAddress", "ipAddress/discovery is not allowed for Docker containers");
    }
    if let Some(uris) = &app.uris {
        for (i, uri) in uris.iter().enumerate() {
            if !is_valid_uri(uri) {
                v.add(&format!("/uris({i})"), "URI has invalid syntax.");
            }
        }
        if !uris.is_empty() && !app.fetch.is_empty() {
            v.add("/uris", "may not be set in conjunction with fetch");
        }
    }
    let docker_network = app.container.as_ref().and_then(|c| c.docker.as_ref()).and_then(|d| d.network);
    if docker_network.is_some() && !app.networks.is_empty() {
        v.add("/", "must not specify both container.docker.network and networks");
    }
    if app.ip_address.is_some() && !app.networks.is_empty() {
        v.add("/", "must not specify both networks and ipAddress");
    }
    if let Some(ports) = &app.ports
        && !unique(ports.iter().filter(|p| **p != 0))
    {
        v.add("/", "ports must be unique");
    }
    let has_ports = app.ports.as_ref().is_some_and(|p| !p.is_empty())
        || app.port_definitions.as_ref().is_some_and(|p| !p.is_empty());
    if app.ip_address.is_some() && has_ports {
        v.add("/", "cannot specify both an IP address and port");
    }
    if let (Some(ports), Some(defs)) = (&app.ports, &app.port_definitions)
        && defs.iter().map(|d| d.port).collect::<Vec<_>>() != *ports
    {
        v.add("/", "cannot specify both ports and port definitions");
    }
}

// ---------------------------------------------------------------------------------------------
// Step 3: migration of deprecated fields and port defaults

fn migrate_deprecated(app: &mut AppDefinition, cfg: &NormalizeConfig, v: &mut Violations) {
    if let Some(uris) = app.uris.take().filter(|u| !u.is_empty()) {
        if app.fetch.is_empty() {
            app.fetch = uris.iter().map(|u| Artifact::from_uri(u)).collect();
        } else {
            v.add("/", "cannot specify both uris and fetch fields");
        }
    }

    let docker_network = app.container.as_ref().and_then(|c| c.docker.as_ref()).and_then(|d| d.network);
    let canonical = Some(std::mem::take(&mut app.networks)).filter(|n| !n.is_empty());
    match translate_networks(app.ip_address.as_ref(), docker_network, canonical, &cfg.mesos_bridge_name) {
        Ok(networks) => app.networks = networks.unwrap_or_default(),
        Err(message) => v.add("/", message),
    }
    let non_host = app.networks.iter().any(|n| n.mode != NetworkMode::Host);

    let migrated_ports = app
        .port_definitions
        .take()
        .or_else(|| app.ports.take().map(|p| p.into_iter().map(PortDefinition::new).collect()));
    app.ports = None;
    app.port_definitions =
        if non_host { None } else { Some(migrated_ports.clone().unwrap_or_else(|| vec![default_port_definition()])) };

    let discovery = app.ip_address.as_ref().and_then(|ip| ip.discovery.clone());
    let container = app.container.take().or_else(|| app.ip_address.as_ref().map(|_| Container::mesos()));
    app.ip_address = None;
    app.container = match container.map(|c| migrate_container(c, discovery.as_ref())) {
        None => None,
        Some(Err(message)) => {
            v.add("/", message);
            None
        }
        Some(Ok(mut c)) => {
            if !non_host {
                c.port_mappings = None;
            } else {
                if c.port_mappings.is_none() {
                    c.port_mappings = Some(vec![default_port_mapping()]);
                }
                let wanted = migrated_ports.as_ref().map_or(0, Vec::len);
                let mappings = c.port_mappings.get_or_insert_with(Vec::new);
                while mappings.len() < wanted {
                    mappings.push(PortMapping::default());
                }
            }
            Some(c)
        }
    };

    let port_count = app.port_definitions.as_ref().map_or(0, Vec::len)
        + app.container.as_ref().and_then(|c| c.port_mappings.as_ref()).map_or(0, Vec::len);
    for check in &mut app.health_checks {
        let protocol = check.effective_protocol();
        check.protocol = Some(protocol);
        if port_count > 0
            && protocol != HealthCheckProtocol::Command
            && check.port.is_none()
            && check.port_index.is_none()
        {
            check.port_index = Some(0);
        }
    }

    if app.residency.is_none() && app.is_resident() {
        app.residency = Some(Residency::default());
    }
    for check in &mut app.readiness_checks {
        if check.http_status_codes_for_ready.as_ref().is_none_or(Vec::is_empty) {
            check.http_status_codes_for_ready = Some(vec![200]);
        }
    }
}

fn default_port_definition() -> PortDefinition {
    PortDefinition { name: Some("default".to_string()), ..PortDefinition::new(0) }
}

fn default_port_mapping() -> PortMapping {
    PortMapping { name: Some("default".to_string()), ..PortMapping::default() }
}

/// Upstream's `NetworkTranslation`: deprecated `ipAddress` / `container.docker.network` to
/// `networks`. `networks` is the canonical field (`None` when absent or empty).
pub(crate) fn translate_networks(
    ip_address: Option<&IpAddress>,
    docker_network: Option<DockerNetwork>,
    networks: Option<Vec<Network>>,
    mesos_bridge_name: &str,
) -> Result<Option<Vec<Network>>, String> {
    let with_labels =
        |mode, name: Option<String>, labels: &BTreeMap<String, String>| Network { mode, name, labels: labels.clone() };
    match (ip_address, docker_network, networks) {
        (None, None, networks) => Ok(networks),
        (Some(ip), Some(kind), None) => match kind {
            DockerNetwork::Host => Ok(Some(vec![Network::new(NetworkMode::Host)])),
            DockerNetwork::User => {
                Ok(Some(vec![with_labels(NetworkMode::Container, ip.network_name.clone(), &ip.labels)]))
            }
            DockerNetwork::Bridge => Ok(Some(vec![with_labels(NetworkMode::ContainerBridge, None, &ip.labels)])),
            DockerNetwork::None => Err(format!("unsupported docker network type {}", kind.as_str())),
        },
        (Some(ip), None, None) => match &ip.network_name {
            Some(name) if name == mesos_bridge_name => {
                Ok(Some(vec![with_labels(NetworkMode::ContainerBridge, None, &ip.labels)]))
            }
            name => Ok(Some(vec![with_labels(NetworkMode::Container, name.clone(), &ip.labels)])),
        },
        (None, Some(kind), None) => match kind {
            DockerNetwork::Host => Ok(Some(vec![Network::new(NetworkMode::Host)])),
            DockerNetwork::User => Ok(Some(vec![Network::new(NetworkMode::Container)])),
            DockerNetwork::Bridge => Ok(Some(vec![Network::new(NetworkMode::ContainerBridge)])),
            DockerNetwork::None => Err(format!("unsupported docker network type {}", kind.as_str())),
        },
        _ => Err("cannot mix deprecated and canonical network APIs".to_string()),
    }
}

/// Moves `docker.portMappings` to `container.portMappings`, turns `ipAddress.discovery.ports`
/// into port mappings, and clears `docker.network`.
pub(crate) fn migrate_container(mut c: Container, discovery: Option<&IpDiscovery>) -> Result<Container, String> {
    if let Some(docker_mappings) = c.docker.as_mut().and_then(|d| d.port_mappings.take()) {
        match (&c.port_mappings, docker_mappings.is_empty()) {
            (Some(_), false) => return Err("cannot specify both portMappings and docker.portMappings".to_string()),
            (Some(_), true) => {}
            (None, _) => c.port_mappings = Some(docker_mappings),
        }
    }
    if let Some(discovery) = discovery.filter(|d| !d.ports.is_empty()) {
        if c.kind != ContainerType::Mesos {
            return Err("ipAddress.discovery.ports do not apply for container type DOCKER".to_string());
        }
        if c.port_mappings.is_some() {
            return Err("container.portMappings and ipAddress.discovery.ports must not both be set".to_string());
        }
        c.port_mappings = Some(
            discovery
                .ports
                .iter()
                .map(|p| PortMapping {
                    container_port: p.number,
                    host_port: None,
                    name: Some(p.name.clone()),
                    protocol: p.protocol.clone(),
                    labels: p.labels.clone(),
                    ..PortMapping::default()
                })
                .collect(),
        );
    }
    if let Some(docker) = c.docker.as_mut() {
        docker.network = None;
    }
    Ok(c)
}

// ---------------------------------------------------------------------------------------------
// Step 4: validation of the canonical definition

const EXECUTOR_PATTERN: &str = r"^(//cmd)|(/?[^/]+(/[^/]+)*)|$";
pub(crate) const NAME_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
const NETWORK_NAME_PATTERN: &str = r"^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$";
const IS_VALUE_PATTERN: &str = r"^[a-zA-Z0-9_/.-]*$";

fn full_match(pattern: &str) -> Regex {
    Regex::new(&format!("^(?:{pattern})$")).expect("constant regex")
}

static EXECUTOR_RE: LazyLock<Regex> = LazyLock::new(|| full_match(EXECUTOR_PATTERN));
pub(crate) static NAME_RE: LazyLock<Regex> = LazyLock::new(|| full_match(NAME_PATTERN));
static NETWORK_NAME_RE: LazyLock<Regex> = LazyLock::new(|| full_match(NETWORK_NAME_PATTERN));
static IS_VALUE_RE: LazyLock<Regex> = LazyLock::new(|| full_match(IS_VALUE_PATTERN));

pub(crate) fn regex_message(pattern: &str) -> String {
    format!("must fully match regular expression '{pattern}'")
}

pub(crate) fn feature_message(feature: &str) -> String {
    format!("Feature {feature} is not enabled. Enable with --enable_features {feature})")
}

const HEALTH_CHECK_PORT_INDEX: &str =
    "Health check port indices must address an element of the ports array or container port mappings.";
const HEALTH_CHECK_IPV6: &str =
    "IPv6 can only be used for container type DOCKER and Mesos http/https/tcp health checks";
const CMD_ARGS_OR_CONTAINER: &str = "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.";

fn validate_canonical(app: &AppDefinition, id: &PathId, cfg: &NormalizeConfig, v: &mut Violations) {
    for error in id.validate() {
        v.add("/id", error.to_string());
    }
    if id.is_root() {
        v.add("/", "must not be root");
    }
    for (i, dep) in app.dependencies.iter().enumerate() {
        for error in PathId::parse(dep).validate().into_iter().filter(|e| *e != crate::PathIdError::Empty) {
            v.add(&format!("/dependencies({i})"), error.to_string());
        }
    }
    if app.cmd.as_ref().is_some_and(|c| c.chars().count() <= 1) {
        v.add("/", "must not be an empty string");
    }

    validate_resources(app, v);
    validate_networks(&app.networks, cfg, v);
    if let Some(container) = &app.container {
        validate_container(app, container, cfg, v);
    }
    if let Some(defs) = &app.port_definitions {
        validate_port_definitions(defs, v);
    }
    if app.has_host_networking()
        && app.container.as_ref().and_then(|c| c.port_mappings.as_ref()).is_some_and(|m| !m.is_empty())
    {
        v.add("/", "portMappings are not allowed with host-networking");
    }
    if app.networks.iter().any(|n| n.mode != NetworkMode::Host)
        && app.port_definitions.as_ref().is_some_and(|p| !p.is_empty())
    {
        v.add("/", "portDefinitions are only allowed with host-networking");
    }
    if !contains_cmd_args_or_container(app) {
        v.add("/", CMD_ARGS_OR_CONTAINER);
    }
    validate_health_checks(app, v);
    for (i, artifact) in app.fetch.iter().enumerate() {
        if !is_valid_uri(&artifact.uri) {
            v.add(&format!("/fetch({i})/uri"), "URI has invalid syntax.");
        }
    }
    validate_secrets_and_env(app, cfg, v);
    validate_roles(app, cfg, v);
    if app.gpus > 0 {
        if app.container.as_ref().is_some_and(|c| c.kind == ContainerType::Docker) {
            v.add("/", "GPU resources only work with the Mesos containerizer");
        }
        if !cfg.enabled_features.contains("gpu_resources") {
            v.add("/", feature_message("gpu_resources"));
        }
    }
    if let Some(version) = app.labels.get(LABEL_DCOS_MIGRATION_API_VERSION).filter(|s| !s.is_empty()) {
        let present = |key: &str| app.labels.get(key).is_some_and(|s| !s.is_empty());
        if version != "v1" || !present(LABEL_DCOS_PACKAGE_FRAMEWORK_NAME) || !present(LABEL_DCOS_MIGRATION_API_PATH) {
            v.add(
                "/",
                "DCOS_PACKAGE_FRAMEWORK_NAME and DCOS_MIGRATION_API_PATH must be defined when using DCOS_MIGRATION_API_VERSION",
            );
        }
    }
    validate_readiness_checks(app, v);
    if app.is_single_instance() && app.instances > 1 {
        v.add("/", "Single instance app may only have one instance");
    }
    validate_strategies(app, v);
    if app.container.as_ref().is_some_and(|c| c.kind == ContainerType::Docker) {
        if app.networks.iter().filter(|n| n.mode == NetworkMode::Container).count() > 1 {
            v.add("/", "may only specify a single container network when using the Docker container engine");
        }
        if app.check.is_some() {
            v.add("/", "AppDefinition must not use 'checks' if using docker");
        }
    }
    for (i, constraint) in app.constraints.iter().enumerate() {
        if let Err(message) = validate_constraint(constraint) {
            v.add(&format!("/constraints({i})"), message);
        }
    }
    if !EXECUTOR_RE.is_match(&app.executor) {
        v.add("/executor", regex_message(EXECUTOR_PATTERN));
    }
}

fn validate_resources(app: &AppDefinition, v: &mut Violations) {
    at_least_f64(v, "/cpus", app.cpus, 0.0);
    at_least_f64(v, "/mem", app.mem, 0.0);
    at_least_f64(v, "/disk", app.disk, 0.0);
    at_least(v, "/gpus", app.gpus.into(), 0);
    at_least(v, "/instances", app.instances.into(), 0);
    at_least(v, "/backoffSeconds", app.backoff_seconds.into(), 0);
    at_least_f64(v, "/backoffFactor", app.backoff_factor, 1.0);
    at_least(v, "/maxLaunchDelaySeconds", app.max_launch_delay_seconds.into(), 0);
    if let Some(grace) = app.task_kill_grace_period_seconds {
        at_least(v, "/taskKillGracePeriodSeconds", grace.into(), 0);
    }
    if let Some(limits) = &app.resource_limits {
        for (name, limit, requested) in [("cpus", &limits.cpus, app.cpus), ("mem", &limits.mem, app.mem)] {
            let path = format!("/resourceLimits/{name}");
            match limit {
                Some(ResourceLimit::Number(n)) if *n < requested => v.add(
                    &path,
                    format!(
                        "resource limit must be greater than or equal to requested resource ({})",
                        java_double(requested)
                    ),
                ),
                Some(ResourceLimit::Text(t)) if t != "unlimited" => {
                    v.add(&path, format!("'{t}' is an invalid resource limit. It must be 'unlimited' or a number"))
                }
                _ => {}
            }
        }
    }
    if let Some(res) = &app.executor_resources {
        at_least_f64(v, "/executorResources/cpus", res.cpus, 0.0);
        at_least_f64(v, "/executorResources/mem", res.mem, 0.0);
        at_least_f64(v, "/executorResources/disk", res.disk, 0.0);
    }
}

/// The rules of upstream's `ramlNetworksValidator` and `defaultNetworkNameValidator` (apps and pods).
pub(crate) fn validate_networks(nets: &[Network], cfg: &NormalizeConfig, v: &mut Violations) {
    let count = |mode| nets.iter().filter(|n| n.mode == mode).count();
    if cfg.default_network_name.is_none() && nets.iter().any(|n| n.mode == NetworkMode::Container && n.name.is_none()) {
        v.add("/networks", "Network name must be specified when container network is selected.");
    }
    if nets.iter().any(|n| {
        n.mode == NetworkMode::Host && (n.name.as_ref().is_some_and(|s| !s.is_empty()) || !n.labels.is_empty())
    }) {
        v.add("/networks", "Host networks may not have names or labels");
    }
    if nets.iter().any(|n| n.mode == NetworkMode::ContainerBridge && n.name.as_ref().is_some_and(|s| !s.is_empty())) {
        v.add("/networks", "Bridge networks may not have names");
    }
    let unnamed_container = nets.iter().filter(|n| n.name.is_none() && n.mode == NetworkMode::Container).count();
    if unnamed_container > 1 || !unique(nets.iter().filter_map(|n| n.name.as_ref())) {
        v.add("/networks", "Duplicate networks are not allowed");
    }
    let (host, bridge, container) =
        (count(NetworkMode::Host), count(NetworkMode::ContainerBridge), count(NetworkMode::Container));
    let valid_mix = (host <= 1 && bridge == 0 && container == 0)
        || (host == 0 && bridge <= 1 && container == 0)
        || (host == 0 && bridge == 0 && container > 0);
    if !valid_mix {
        v.add(
            "/networks",
            "May specify a single host network, single bridge network, or else 1-to-n container networks",
        );
    }
    for (i, net) in nets.iter().enumerate() {
        if let Some(name) = &net.name
            && (name.len() > 63 || !NETWORK_NAME_RE.is_match(name))
        {
            v.add(&format!("/networks({i})/name"), regex_message(NETWORK_NAME_PATTERN));
        }
    }
}

fn validate_container(app: &AppDefinition, c: &Container, cfg: &NormalizeConfig, v: &mut Violations) {
    if let Some(mappings) = &c.port_mappings {
        if !unique(mappings.iter().filter_map(|m| m.name.as_ref())) {
            v.add("/container/portMappings", "Port names must be unique.");
        }
        let many_networks = app.networks.iter().filter(|n| n.mode == NetworkMode::Container).count() > 1;
        let all_names: Vec<&str> = app.networks.iter().filter_map(|n| n.name.as_deref()).collect();
        for (i, m) in mappings.iter().enumerate() {
            let path = format!("/container/portMappings({i})");
            if many_networks && m.host_port.is_some() && m.network_names.len() != 1 {
                v.add(
                    &path,
                    "networkNames must be a single item list when hostPort is specified and more than 1 container network is defined",
                );
            }
            for (j, name) in m.network_names.iter().enumerate() {
                if !all_names.contains(&name.as_str()) {
                    v.add(&format!("{path}/networkNames({j})"), format!("is not one of ({})", all_names.join(",")));
                }
            }
            port_range(v, &format!("{path}/containerPort"), m.container_port);
            port_range(v, &format!("{path}/servicePort"), m.service_port);
            if let Some(host_port) = m.host_port {
                port_range(v, &format!("{path}/hostPort"), host_port);
            }
            if let Some(name) = &m.name
                && (name.len() > 63 || !NAME_RE.is_match(name))
            {
                v.add(&format!("{path}/name"), regex_message(NAME_PATTERN));
            }
        }
    }
    validate_volumes(c, v);
    match (c.kind, &c.docker) {
        (ContainerType::Docker, None) => v.add("/container/docker", "not defined"),
        (ContainerType::Docker, Some(docker)) => {
            if docker.image.is_empty() {
                v.add("/container/docker/image", "must not be empty");
            }
            if docker.pull_config.is_some() {
                v.add("/container/docker/pullConfig", "pullConfig is not supported with Docker containerizer");
            }
        }
        (ContainerType::Mesos, Some(docker)) => {
            if docker.image.is_empty() {
                v.add("/container/docker/image", "must not be empty");
            }
            if let Some(pull) = &docker.pull_config {
                if !cfg.enabled_features.contains("secrets") {
                    v.add("/container/docker/pullConfig", feature_message("secrets"));
                }
                let secret = pull.get("secret").and_then(|s| s.as_str()).unwrap_or_default();
                if !app.secrets.contains_key(secret) {
                    v.add("/container/docker/pullConfig", "pullConfig.secret must refer to an existing secret");
                }
            }
        }
        (ContainerType::Mesos, None) => {}
    }
}

fn validate_volumes(c: &Container, v: &mut Violations) {
    let mut external_names = Vec::new();
    for (i, volume) in c.volumes.iter().enumerate() {
        let path = format!("/container/volumes({i})");
        let text = |key: &str| volume.get(key).and_then(|s| s.as_str());
        let container_path = text("containerPath").unwrap_or_default();
        if container_path.is_empty() {
            v.add(&format!("{path}/containerPath"), "must not be empty");
        }
        if let Some(persistent) = volume.get("persistent").filter(|p| !p.is_null()) {
            if container_path.contains('/') {
                v.add(&format!("{path}/containerPath"), "value must not contain \"/\"");
            }
            let size = persistent.get("size").and_then(|s| s.as_f64()).unwrap_or(0.0);
            if size <= 0.0 {
                v.add(
                    &format!("{path}/persistent/size"),
                    format!("got {}, expected more than 0", java_number(persistent.get("size"))),
                );
            }
        } else if let Some(external) = volume.get("external").filter(|e| !e.is_null()) {
            if let Some(name) = external.get("name").and_then(|n| n.as_str()) {
                external_names.push(name.to_string());
            }
        } else if volume.get("secret").is_none() && text("hostPath").unwrap_or_default().is_empty() {
            v.add(&format!("{path}/hostPath"), "must not be empty");
        }
    }
    if !unique(external_names.iter()) {
        v.add("/container/volumes", "Volume names must be unique");
    }
}

fn validate_port_definitions(defs: &[PortDefinition], v: &mut Violations) {
    if !unique(defs.iter().filter_map(|d| d.name.as_ref())) {
        v.add("/portDefinitions", "Port names must be unique.");
    }
    if !unique(defs.iter().map(|d| d.port).filter(|p| *p != 0)) {
        v.add("/portDefinitions", "Ports must be unique.");
    }
    for (i, def) in defs.iter().enumerate() {
        port_range(v, &format!("/portDefinitions({i})/port"), def.port);
        if let Some(name) = &def.name
            && !NAME_RE.is_match(name)
        {
            v.add(&format!("/portDefinitions({i})/name"), regex_message(NAME_PATTERN));
        }
    }
}

fn contains_cmd_args_or_container(app: &AppDefinition) -> bool {
    let cmd = app.cmd.is_some();
    let args = !app.args.is_empty();
    let container = app.container.as_ref().is_some_and(|c| c.docker.is_some() || c.kind == ContainerType::Mesos);
    (cmd ^ args) || (!(cmd && args) && container)
}

fn validate_health_checks(app: &AppDefinition, v: &mut Violations) {
    let port_count = app.port_names().len();
    let docker = app.container.as_ref().is_some_and(|c| c.kind == ContainerType::Docker);
    let mut mesos_checks = 0;
    for (i, check) in app.health_checks.iter().enumerate() {
        let path = format!("/healthChecks({i})");
        let protocol = check.effective_protocol();
        if check.command.is_none() && protocol.is_marathon_check() {
            let valid = match check.port_index {
                Some(idx) => idx >= 0 && (idx as usize) < port_count,
                None => check.port.is_some() || port_count == 1,
            };
            if !valid {
                v.add(&path, HEALTH_CHECK_PORT_INDEX);
            }
        }
        let mesos_network_check = matches!(
            protocol,
            HealthCheckProtocol::MesosHttp | HealthCheckProtocol::MesosHttps | HealthCheckProtocol::MesosTcp
        );
        if check.ip_protocol == IpProtocol::IPv6 && !(mesos_network_check && docker) {
            v.add(&path, HEALTH_CHECK_IPV6);
        }
        let is_command = protocol == HealthCheckProtocol::Command;
        if check.command.is_some() && !is_command {
            v.add(&path, format!("illegal protocol {} specified with command", protocol.as_str()));
        }
        if check.command.is_none() && is_command {
            v.add(&format!("{path}/command"), "not defined");
        }
        if check.command.is_none() && (mesos_network_check || is_command) {
            mesos_checks += 1;
        }
        // Upstream's RAML bounds (`minimum: 0`; `timeoutSeconds` has none there, but Mesos
        // rejects a negative one and Marathon's own checks cannot use it either). Zero is valid
        // everywhere: Mesos reads a zero timeout as none, and checks never run closer together
        // than 100 ms (agent and scheduler both).
        for (field, value) in [
            ("gracePeriodSeconds", check.grace_period_seconds),
            ("intervalSeconds", check.interval_seconds),
            ("timeoutSeconds", check.timeout_seconds),
            ("maxConsecutiveFailures", check.max_consecutive_failures),
            ("delaySeconds", check.delay_seconds),
        ] {
            at_least(v, &format!("{path}/{field}"), value.into(), 0);
        }
        if let Some(port) = check.port {
            port_range(v, &format!("{path}/port"), port);
        }
        // `numbers.AnyPort` in upstream's RAML, whatever the protocol.
        if let Some(index) = check.port_index {
            port_range(v, &format!("{path}/portIndex"), index);
        }
    }
    if mesos_checks > 1 {
        v.add("/", "AppDefinition can contain at most one Mesos health check");
    }
}

fn validate_secrets_and_env(app: &AppDefinition, cfg: &NormalizeConfig, v: &mut Violations) {
    let secrets_enabled = cfg.enabled_features.contains("secrets");
    if !app.secrets.is_empty() && !secrets_enabled {
        v.add("/secrets", feature_message("secrets"));
    }
    for (name, def) in &app.secrets {
        if def.source.is_empty() {
            v.add(&format!("/secrets/{name}/source"), "must not be empty");
        }
    }
    let mut uses_secrets = false;
    for (name, value) in &app.env {
        if let EnvValue::Secret { secret } = value {
            uses_secrets = true;
            if !app.secrets.contains_key(secret) {
                v.add(&format!("/env/{name}/secret"), "references an undefined secret");
            }
        }
    }
    if uses_secrets && !secrets_enabled {
        v.add("/env", "use of secret-references in the environment requires the secrets feature to be enabled");
    }
}

fn validate_roles(app: &AppDefinition, cfg: &NormalizeConfig, v: &mut Violations) {
    let role = app.role.as_deref().unwrap_or(&cfg.default_role);
    if role.is_empty() {
        v.add("/role", "must not be empty");
    }
    if let Some(valid) = &cfg.valid_roles
        && !valid.contains(role)
    {
        let list = valid.iter().map(String::as_str).collect::<Vec<_>>().join(", ");
        v.add("/role", format!("got {role}, expected one of: [{list}]"));
    }
    let resident = app.is_resident();
    if resident && role == "*" {
        v.add("/role", "Resident apps cannot have the role *");
    }
    if let Some(roles) = &app.accepted_resource_roles {
        if roles.is_empty() {
            v.add("/acceptedResourceRoles", "must not be empty");
        }
        for r in roles {
            if let Some(message) = invalid_role_char(r) {
                v.add("/acceptedResourceRoles", message);
            }
        }
        let distinct: BTreeSet<&str> = roles.iter().map(String::as_str).collect();
        if resident && distinct != BTreeSet::from(["*"]) {
            v.add("/acceptedResourceRoles", "A resident app must have `acceptedResourceRoles = [\"*\"]`.");
        }
        let allowed: BTreeSet<&str> = ["*", role].into_iter().collect();
        let within = distinct.len() <= 2 && distinct.is_subset(&allowed);
        if !distinct.is_empty() && !within {
            let list = allowed.iter().copied().collect::<Vec<_>>().join(" and ");
            v.add("/acceptedResourceRoles", format!("acceptedResourceRoles can only contain {list}"));
        }
    }
}

pub(crate) fn invalid_role_char(role: &str) -> Option<String> {
    let names = [
        ('\u{09}', "horizontal tab (\\x09)"),
        ('\u{0a}', "line feed (\\x0a)"),
        ('\u{0b}', "vertical tab (\\x0b)"),
        ('\u{0c}', "form feed (\\x0c)"),
        ('\u{0d}', "carriage return (\\x0d)"),
        (' ', "space (\\x20)"),
        ('/', "slash (\\x2f)"),
        ('\u{7f}', "backspace (\\x7f)"),
    ];
    names
        .iter()
        .find(|(c, _)| role.contains(*c))
        .map(|(_, name)| format!("A role name must not include a {name} character."))
}

fn validate_readiness_checks(app: &AppDefinition, v: &mut Violations) {
    let checks = &app.readiness_checks;
    if checks.len() > 1 {
        v.add("/readinessChecks", format!("got {}, expected 1 or less", checks.len()));
    }
    let port_names: BTreeSet<String> = match app.container.as_ref().and_then(|c| c.port_mappings.as_ref()) {
        Some(mappings) => mappings.iter().filter_map(|m| m.name.clone()).collect(),
        None => app.port_definitions.iter().flatten().filter_map(|p| p.name.clone()).collect(),
    };
    for (i, check) in checks.iter().enumerate() {
        let path = format!("/readinessChecks({i})");
        if !port_names.contains(&check.port_name) {
            v.add(
                &format!("{path}/portName"),
                format!("No port definition reference for portName {}", check.port_name),
            );
        }
        if check.timeout_seconds >= check.interval_seconds {
            v.add(
                &format!("{path}/timeoutSeconds"),
                format!("got {}, expected less than {}", check.timeout_seconds, check.interval_seconds),
            );
        }
        if check.timeout_seconds <= 0 {
            v.add(&format!("{path}/timeoutSeconds"), format!("got {}, expected more than 0", check.timeout_seconds));
        }
        at_least(v, &format!("{path}/intervalSeconds"), check.interval_seconds.into(), 0);
        if !matches!(check.protocol.as_str(), "HTTP" | "HTTPS") {
            v.add(&format!("{path}/protocol"), "is not one of (HTTP,HTTPS)");
        }
        for (j, code) in check.http_status_codes_for_ready.iter().flatten().enumerate() {
            if !(100..=999).contains(code) {
                v.add(
                    &format!("{path}/httpStatusCodesForReady({j})"),
                    format!("got {code}, expected between 100 and 999"),
                );
            }
        }
    }
}

fn validate_strategies(app: &AppDefinition, v: &mut Violations) {
    let min_path = "/upgradeStrategy/minimumHealthCapacity";
    let max_path = "/upgradeStrategy/maximumOverCapacity";
    if let Some(us) = &app.upgrade_strategy {
        between_f64(v, min_path, us.minimum_health_capacity, 0.0, 1.0);
        between_f64(v, max_path, us.maximum_over_capacity, 0.0, 1.0);
    }
    // The defaulted strategy must satisfy these too (the `{1, 1}` default fails a single-instance app).
    let us = app.effective_upgrade_strategy();
    if app.is_single_instance() {
        equal_f64(v, min_path, us.minimum_health_capacity, 0.0);
        equal_f64(v, max_path, us.maximum_over_capacity, 0.0);
    }
    if app.is_resident() {
        equal_f64(v, max_path, us.maximum_over_capacity, 0.0);
    }
    validate_unreachable_strategy(
        v,
        "/unreachableStrategy",
        app.unreachable_strategy,
        app.is_resident().then_some("unreachableStrategy must be disabled for resident tasks"),
    );
}

/// An enabled unreachable strategy's bounds (`prefix`: where it is in the body), and
/// `resident_refusal` when the run spec is resident (only `disabled` is allowed then).
pub(crate) fn validate_unreachable_strategy(
    v: &mut Violations,
    prefix: &str,
    strategy: Option<UnreachableStrategy>,
    resident_refusal: Option<&str>,
) {
    let Some(UnreachableStrategy::Enabled { inactive_after_seconds: inactive, expunge_after_seconds: expunge }) =
        strategy
    else {
        return;
    };
    let path = format!("{prefix}/inactiveAfterSeconds");
    if inactive < 0 {
        v.add(&path, format!("inactiveAfterSeconds ({inactive}) must be greater than or equal to 0"));
    } else if inactive > expunge {
        v.add(
            &path,
            format!(
                "inactiveAfterSeconds ({inactive}) must be less or equal to expungeAfterSeconds, which is {expunge}"
            ),
        );
    }
    at_least(v, &format!("{prefix}/expungeAfterSeconds"), expunge, 0);
    if let Some(refusal) = resident_refusal {
        v.add("/", refusal);
    }
}

/// The rules of upstream's `complyWithAppConstraintRules`; `Err` carries the message.
pub(crate) fn validate_constraint(c: &[String]) -> Result<(), &'static str> {
    if c.len() < 2 || c.len() > 3 {
        return Err("Each constraint must have either 2 or 3 fields");
    }
    let (field, op, value) = (&c[0], &c[1], c.get(2));
    if field.is_empty() {
        return Err("illegal constraint specification");
    }
    let is_int = |s: &String| s.parse::<i32>().is_ok();
    let is_positive = |s: &String| s.parse::<i32>().is_ok_and(|n| n >= 1);
    match ConstraintOperator::parse(op) {
        None => Err("operator must be one of the following UNIQUE, CLUSTER, GROUP_BY, LIKE, MAX_PER, UNLIKE or IS"),
        Some(ConstraintOperator::Unique) if value.is_some() => Err("UNIQUE does not accept a value"),
        Some(ConstraintOperator::GroupBy) if !value.is_none_or(is_int) => {
            Err("GROUP BY must define an integer value or else no value at all")
        }
        Some(ConstraintOperator::MaxPer) if !value.is_some_and(is_int) => Err("MAX_PER requires an integer value"),
        // Upstream takes any integer; zero or less would place nothing, forever.
        Some(ConstraintOperator::MaxPer) if !value.is_some_and(is_positive) => {
            Err("MAX_PER requires a value of at least 1")
        }
        Some(ConstraintOperator::GroupBy) if !value.is_none_or(is_positive) => {
            Err("GROUP BY requires a value of at least 1")
        }
        Some(ConstraintOperator::Like | ConstraintOperator::Unlike) => match value {
            None => Err("LIKE and UNLIKE require a non-empty, regular expression value"),
            Some(re) if Regex::new(re).is_err() => Err("is not a valid regular expression"),
            Some(_) => Ok(()),
        },
        Some(ConstraintOperator::Is) if !IS_VALUE_RE.is_match(value.map_or("", String::as_str)) => Err(
            "IS only supports Mesos text and float values (see http://mesos.apache.org/documentation/latest/attributes-resources/)",
        ),
        Some(_) => Ok(()),
    }
}

/// Placement constraint operators (`[field, OPERATOR, value?]`, case-insensitive on input).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConstraintOperator {
    Unique,
    Cluster,
    GroupBy,
    Like,
    Unlike,
    MaxPer,
    Is,
}

impl ConstraintOperator {
    /// Parses an operator name, ignoring case.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "UNIQUE" => Some(Self::Unique),
            "CLUSTER" => Some(Self::Cluster),
            "GROUP_BY" => Some(Self::GroupBy),
            "LIKE" => Some(Self::Like),
            "UNLIKE" => Some(Self::Unlike),
            "MAX_PER" => Some(Self::MaxPer),
            "IS" => Some(Self::Is),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unique => "UNIQUE",
            Self::Cluster => "CLUSTER",
            Self::GroupBy => "GROUP_BY",
            Self::Like => "LIKE",
            Self::Unlike => "UNLIKE",
            Self::MaxPer => "MAX_PER",
            Self::Is => "IS",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Step 5: defaults that need a valid definition

fn apply_defaults(app: &mut AppDefinition, cfg: &NormalizeConfig) {
    for net in &mut app.networks {
        if net.mode == NetworkMode::Container && net.name.is_none() {
            net.name = cfg.default_network_name.clone();
        }
    }
    if app.networks.is_empty() {
        app.networks = vec![Network::new(NetworkMode::Host)];
    }
    let non_host = app.networks.iter().any(|n| n.mode != NetworkMode::Host);
    let bridged = app.networks.iter().any(|n| n.mode == NetworkMode::ContainerBridge);
    if app.container.is_none() && non_host {
        app.container = Some(Container { port_mappings: Some(vec![default_port_mapping()]), ..Container::mesos() });
    }
    if let Some(container) = &mut app.container {
        if let Some(docker) = &mut container.docker {
            docker.network = None;
        }
        if bridged {
            for mapping in container.port_mappings.iter_mut().flatten() {
                mapping.host_port.get_or_insert(0);
            }
        }
    }
    // Residency is deprecated and only meaningful (and only written) for resident apps.
    if !app.is_resident() {
        app.residency = None;
    }
    app.unreachable_strategy = Some(app.effective_unreachable_strategy());
    app.upgrade_strategy = Some(app.effective_upgrade_strategy());
    if non_host {
        app.require_ports = false;
    }
    for check in &mut app.health_checks {
        let protocol = check.effective_protocol();
        check.protocol = Some(protocol);
        if protocol.is_http() && check.path.is_none() {
            check.path = Some("/".to_string());
        }
        if matches!(protocol, HealthCheckProtocol::Http | HealthCheckProtocol::Https) && check.ignore_http1xx.is_none()
        {
            check.ignore_http1xx = Some(false);
        }
    }
    for constraint in &mut app.constraints {
        if let Some(op) = constraint.get_mut(1)
            && let Some(parsed) = ConstraintOperator::parse(op)
        {
            *op = parsed.as_str().to_string();
        }
    }
    app.constraints = dedup(std::mem::take(&mut app.constraints));
    if let Some(roles) = app.accepted_resource_roles.take() {
        app.accepted_resource_roles = Some(dedup(roles));
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

pub(crate) fn dedup<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

pub(crate) fn unique<T: PartialEq>(items: impl Iterator<Item = T>) -> bool {
    let all: Vec<T> = items.collect();
    all.iter().enumerate().all(|(i, a)| !all[..i].contains(a))
}

pub(crate) fn at_least(v: &mut Violations, path: &str, value: i64, min: i64) {
    if value < min {
        v.add(path, format!("got {value}, expected {min} or more"));
    }
}

pub(crate) fn at_least_f64(v: &mut Violations, path: &str, value: f64, min: f64) {
    if value < min {
        v.add(path, format!("got {}, expected {} or more", java_double(value), java_double(min)));
    }
}

pub(crate) fn between_f64(v: &mut Violations, path: &str, value: f64, min: f64, max: f64) {
    if !(min..=max).contains(&value) {
        v.add(
            path,
            format!("got {}, expected between {} and {}", java_double(value), java_double(min), java_double(max)),
        );
    }
}

fn equal_f64(v: &mut Violations, path: &str, value: f64, expected: f64) {
    if value != expected {
        v.add(path, format!("got {}, expected {}", java_double(value), java_double(expected)));
    }
}

pub(crate) fn port_range(v: &mut Violations, path: &str, port: i32) {
    if !(0..=65535).contains(&port) {
        v.add(path, format!("got {port}, expected between 0 and 65535"));
    }
}

fn java_number(value: Option<&serde_json::Value>) -> String {
    match value.and_then(|n| n.as_f64()) {
        Some(f) if value.is_some_and(|n| n.is_i64() || n.is_u64()) => format!("{}", f as i64),
        Some(f) => java_double(f),
        None => "0".to_string(),
    }
}

/// Formats a double like Java's `Double.toString` (`1.0`, `0.5`, `1.0E-5`), as upstream's
/// messages contain it.
pub(crate) fn java_double(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "NaN".into()
        } else if x > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let abs = x.abs();
    if x == 0.0 || (1e-3..1e7).contains(&abs) {
        let s = format!("{x}");
        if s.contains('.') { s } else { format!("{s}.0") }
    } else {
        let s = format!("{x:E}");
        match s.split_once('E') {
            Some((mantissa, exp)) if !mantissa.contains('.') => format!("{mantissa}.0E{exp}"),
            _ => s,
        }
    }
}

/// Approximates `java.net.URI`'s syntax check: no characters outside the URI grammar (spaces,
/// `"<>\^`{|}`, controls), well-formed `%` escapes, a well-formed scheme if one is present, and a
/// non-empty scheme-specific part after it.
pub(crate) fn is_valid_uri(uri: &str) -> bool {
    if uri.is_empty() {
        return false;
    }
    let bytes = uri.as_bytes();
    let mut i = 0;
    let mut fragments = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'%' => {
                let hex = |k: usize| bytes.get(i + k).is_some_and(u8::is_ascii_hexdigit);
                if !(hex(1) && hex(2)) {
                    return false;
                }
                i += 2;
            }
            b'#' => fragments += 1,
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => {}
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')' => {}
            b';' | b'/' | b'?' | b':' | b'@' | b'&' | b'=' | b'+' | b'$' | b',' | b'[' | b']' => {}
            0x80.. => {}
            _ => return false,
        }
        i += 1;
    }
    if fragments > 1 || uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return false;
    }
    let before_path = uri.split(['/', '?', '#']).next().unwrap_or_default();
    if let Some((scheme, _)) = before_path.split_once(':') {
        let mut chars = scheme.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
        if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) {
            return false;
        }
        if uri[scheme.len() + 1..].is_empty() {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests;
