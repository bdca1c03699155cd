use super::*;
use crate::path::ID_SEGMENT_PATTERN;
use serde_json::{Value, json};

fn read(value: Value) -> AppDefinition {
    AppDefinition::from_json(value.clone()).unwrap_or_else(|e| panic!("{value}: {e}"))
}

fn ok_with(value: Value, cfg: &NormalizeConfig) -> AppDefinition {
    normalize_with(read(value.clone()), &PathId::root(), cfg).unwrap_or_else(|e| panic!("{value}: {e}"))
}

fn ok(value: Value) -> AppDefinition {
    ok_with(value, &NormalizeConfig::default())
}

fn err_with(value: Value, cfg: &NormalizeConfig) -> ValidationError {
    match normalize_with(read(value.clone()), &PathId::root(), cfg) {
        Err(e) => e,
        Ok(app) => panic!("{value} should be invalid, normalized to {app:?}"),
    }
}

/// `base` merged with `extra` (top-level keys of `extra` win).
fn app(extra: Value) -> Value {
    let mut base = json!({"id": "/test", "cmd": "sleep 100"});
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    base
}

fn resident(extra: Value) -> Value {
    let mut value = app(json!({
        "role": "slave_public",
        "container": {"type": "MESOS", "volumes": [
            {"containerPath": "data", "mode": "RW", "persistent": {"size": 10}}]}
    }));
    if let (Some(b), Some(e)) = (value.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    value
}

const CMD_ARGS: &str = "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.";

/// One row: the definition, the path, and a message that must be among that path's errors.
fn cases() -> Vec<(Value, &'static str, String)> {
    let s = |m: &str| m.to_string();
    vec![
        // ids
        (
            app(json!({"id": format!("/{}", "a".repeat(600))})),
            "/id",
            s("must not be longer than 180 characters, but is 601 characters long"),
        ),
        (app(json!({"id": "/a b"})), "/id", format!("must fully match regular expression '{ID_SEGMENT_PATTERN}'")),
        (
            app(json!({"id": "uppercaseLettersNoGood"})),
            "/id",
            format!("must fully match regular expression '{ID_SEGMENT_PATTERN}'"),
        ),
        (app(json!({"id": "-dash"})), "/id", format!("must fully match regular expression '{ID_SEGMENT_PATTERN}'")),
        (
            app(json!({"id": "/app/tasks"})),
            "/id",
            s("must not end with any of the following reserved keywords: restart, tasks, versions, ., .."),
        ),
        (
            app(json!({"id": "/x/versions"})),
            "/id",
            s("must not end with any of the following reserved keywords: restart, tasks, versions, ., .."),
        ),
        (app(json!({"id": "/"})), "/id", s("Path must contain at least one path element")),
        (app(json!({"id": "/"})), "/", s("must not be root")),
        (
            app(json!({"dependencies": ["/OK"]})),
            "/dependencies(0)",
            format!("must fully match regular expression '{ID_SEGMENT_PATTERN}'"),
        ),
        // cmd / args / container
        (app(json!({"cmd": "x"})), "/", s("must not be an empty string")),
        (app(json!({"cmd": ""})), "/", s("must not be an empty string")),
        (app(json!({"args": ["a"]})), "/", s(CMD_ARGS)),
        (json!({"id": "/test"}), "/", s(CMD_ARGS)),
        (json!({"id": "/test", "container": {"type": "DOCKER"}}), "/", s(CMD_ARGS)),
        // resources and numbers
        (app(json!({"cpus": -3.0})), "/cpus", s("got -3.0, expected 0.0 or more")),
        (app(json!({"mem": -3})), "/mem", s("got -3.0, expected 0.0 or more")),
        (app(json!({"disk": -0.5})), "/disk", s("got -0.5, expected 0.0 or more")),
        (app(json!({"gpus": -3})), "/gpus", s("got -3, expected 0 or more")),
        (app(json!({"instances": -3})), "/instances", s("got -3, expected 0 or more")),
        (app(json!({"backoffSeconds": -1})), "/backoffSeconds", s("got -1, expected 0 or more")),
        (app(json!({"backoffFactor": 0.5})), "/backoffFactor", s("got 0.5, expected 1.0 or more")),
        (app(json!({"maxLaunchDelaySeconds": -1})), "/maxLaunchDelaySeconds", s("got -1, expected 0 or more")),
        (
            app(json!({"taskKillGracePeriodSeconds": -1})),
            "/taskKillGracePeriodSeconds",
            s("got -1, expected 0 or more"),
        ),
        (
            app(json!({"resourceLimits": {"cpus": 0.5}})),
            "/resourceLimits/cpus",
            s("resource limit must be greater than or equal to requested resource (1.0)"),
        ),
        (
            app(json!({"resourceLimits": {"mem": "lots"}})),
            "/resourceLimits/mem",
            s("'lots' is an invalid resource limit. It must be 'unlimited' or a number"),
        ),
        (
            app(json!({"executor": "/test/"})),
            "/executor",
            s("must fully match regular expression '^(//cmd)|(/?[^/]+(/[^/]+)*)|$'"),
        ),
        (
            app(json!({"executor": "/test//path"})),
            "/executor",
            s("must fully match regular expression '^(//cmd)|(/?[^/]+(/[^/]+)*)|$'"),
        ),
        // strategies
        (
            app(json!({"upgradeStrategy": {"minimumHealthCapacity": 1.2, "maximumOverCapacity": 1.0}})),
            "/upgradeStrategy/minimumHealthCapacity",
            s("got 1.2, expected between 0.0 and 1.0"),
        ),
        (
            app(json!({"upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": -1.2}})),
            "/upgradeStrategy/maximumOverCapacity",
            s("got -1.2, expected between 0.0 and 1.0"),
        ),
        (
            app(json!({"unreachableStrategy": {"inactiveAfterSeconds": -1, "expungeAfterSeconds": 0}})),
            "/unreachableStrategy/inactiveAfterSeconds",
            s("inactiveAfterSeconds (-1) must be greater than or equal to 0"),
        ),
        (
            app(json!({"unreachableStrategy": {"inactiveAfterSeconds": 10, "expungeAfterSeconds": 5}})),
            "/unreachableStrategy/inactiveAfterSeconds",
            s("inactiveAfterSeconds (10) must be less or equal to expungeAfterSeconds, which is 5"),
        ),
        // labels
        (
            app(json!({"instances": 2, "labels": {"MARATHON_SINGLE_INSTANCE_APP": "true"}})),
            "/",
            s("Single instance app may only have one instance"),
        ),
        (
            app(json!({"labels": {"MARATHON_SINGLE_INSTANCE_APP": "true"},
                "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.0}})),
            "/upgradeStrategy/minimumHealthCapacity",
            s("got 0.5, expected 0.0"),
        ),
        (
            app(json!({"labels": {"MARATHON_SINGLE_INSTANCE_APP": "true"}})),
            "/upgradeStrategy/maximumOverCapacity",
            s("got 1.0, expected 0.0"),
        ),
        (
            app(json!({"labels": {"DCOS_MIGRATION_API_VERSION": "v1"}})),
            "/",
            s(
                "DCOS_PACKAGE_FRAMEWORK_NAME and DCOS_MIGRATION_API_PATH must be defined when using DCOS_MIGRATION_API_VERSION",
            ),
        ),
        // constraints
        (
            app(json!({"constraints": [["hostname"]]})),
            "/constraints(0)",
            s("Each constraint must have either 2 or 3 fields"),
        ),
        (
            app(json!({"constraints": [["a", "B", "c", "d"]]})),
            "/constraints(0)",
            s("Each constraint must have either 2 or 3 fields"),
        ),
        (
            app(json!({"constraints": [["hostname", "UNIQUE"], ["a", "SOMETIMES"]]})),
            "/constraints(1)",
            s("operator must be one of the following UNIQUE, CLUSTER, GROUP_BY, LIKE, MAX_PER, UNLIKE or IS"),
        ),
        (
            app(json!({"constraints": [["hostname", "unique", "x"]]})),
            "/constraints(0)",
            s("UNIQUE does not accept a value"),
        ),
        (
            app(json!({"constraints": [["rack", "GROUP_BY", "x"]]})),
            "/constraints(0)",
            s("GROUP BY must define an integer value or else no value at all"),
        ),
        (app(json!({"constraints": [["rack", "MAX_PER"]]})), "/constraints(0)", s("MAX_PER requires an integer value")),
        (
            app(json!({"constraints": [["rack", "MAX_PER", "two"]]})),
            "/constraints(0)",
            s("MAX_PER requires an integer value"),
        ),
        (
            app(json!({"constraints": [["rack", "MAX_PER", "-1"]]})),
            "/constraints(0)",
            s("MAX_PER requires a value of at least 1"),
        ),
        (
            app(json!({"constraints": [["rack", "MAX_PER", "0"]]})),
            "/constraints(0)",
            s("MAX_PER requires a value of at least 1"),
        ),
        (
            app(json!({"constraints": [["rack", "GROUP_BY", "-3"]]})),
            "/constraints(0)",
            s("GROUP BY requires a value of at least 1"),
        ),
        (
            app(json!({"constraints": [["rack", "LIKE"]]})),
            "/constraints(0)",
            s("LIKE and UNLIKE require a non-empty, regular expression value"),
        ),
        (
            app(json!({"constraints": [["rack", "unlike", "("]]})),
            "/constraints(0)",
            s("is not a valid regular expression"),
        ),
        (
            app(json!({"constraints": [["rack", "IS", "a b"]]})),
            "/constraints(0)",
            s(
                "IS only supports Mesos text and float values (see http://mesos.apache.org/documentation/latest/attributes-resources/)",
            ),
        ),
        (app(json!({"constraints": [["", "UNIQUE"]]})), "/constraints(0)", s("illegal constraint specification")),
        // ports
        (
            app(json!({"portDefinitions": [{"port": 0, "name": "a"}, {"port": 0, "name": "a"}]})),
            "/portDefinitions",
            s("Port names must be unique."),
        ),
        (app(json!({"portDefinitions": [{"port": 80}, {"port": 80}]})), "/portDefinitions", s("Ports must be unique.")),
        (
            app(json!({"portDefinitions": [{"port": 70000}]})),
            "/portDefinitions(0)/port",
            s("got 70000, expected between 0 and 65535"),
        ),
        (
            app(json!({"portDefinitions": [{"port": 0, "name": "Bad_Name"}]})),
            "/portDefinitions(0)/name",
            s("must fully match regular expression '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'"),
        ),
        // health checks
        (
            app(json!({"healthChecks": [{"protocol": "HTTP", "portIndex": 1}]})),
            "/healthChecks(0)",
            s("Health check port indices must address an element of the ports array or container port mappings."),
        ),
        (
            app(json!({"portDefinitions": [], "healthChecks": [{"protocol": "TCP"}]})),
            "/healthChecks(0)",
            s("Health check port indices must address an element of the ports array or container port mappings."),
        ),
        (
            app(json!({"healthChecks": [{"protocol": "HTTP", "ipProtocol": "IPv6"}]})),
            "/healthChecks(0)",
            s("IPv6 can only be used for container type DOCKER and Mesos http/https/tcp health checks"),
        ),
        (
            app(json!({"healthChecks": [{"protocol": "MESOS_HTTP"}, {"protocol": "MESOS_TCP"}]})),
            "/",
            s("AppDefinition can contain at most one Mesos health check"),
        ),
        (
            app(json!({"healthChecks": [{"protocol": "HTTP", "command": {"value": "true"}}]})),
            "/healthChecks(0)",
            s("illegal protocol HTTP specified with command"),
        ),
        (app(json!({"healthChecks": [{"protocol": "COMMAND"}]})), "/healthChecks(0)/command", s("not defined")),
        (
            app(json!({"healthChecks": [{"protocol": "TCP", "gracePeriodSeconds": -1}]})),
            "/healthChecks(0)/gracePeriodSeconds",
            s("got -1, expected 0 or more"),
        ),
        (
            app(json!({"healthChecks": [{"protocol": "HTTP", "intervalSeconds": -1}]})),
            "/healthChecks(0)/intervalSeconds",
            s("got -1, expected 0 or more"),
        ),
        (
            app(json!({"healthChecks": [{"protocol": "MESOS_HTTP", "timeoutSeconds": -2}]})),
            "/healthChecks(0)/timeoutSeconds",
            s("got -2, expected 0 or more"),
        ),
        (
            app(json!({"healthChecks": [{"protocol": "MESOS_TCP", "maxConsecutiveFailures": -1}]})),
            "/healthChecks(0)/maxConsecutiveFailures",
            s("got -1, expected 0 or more"),
        ),
        (
            app(json!({"healthChecks": [{"protocol": "COMMAND", "command": {"value": "true"}, "delaySeconds": -5}]})),
            "/healthChecks(0)/delaySeconds",
            s("got -5, expected 0 or more"),
        ),
        (
            app(json!({"healthChecks": [{"protocol": "TCP", "port": 65536}]})),
            "/healthChecks(0)/port",
            s("got 65536, expected between 0 and 65535"),
        ),
        (
            app(json!({"healthChecks": [{"protocol": "MESOS_HTTP", "portIndex": -1}]})),
            "/healthChecks(0)/portIndex",
            s("got -1, expected between 0 and 65535"),
        ),
        (
            app(json!({"healthChecks": [{"protocol": "HTTP"}, {"protocol": "HTTPS", "portIndex": 70000}]})),
            "/healthChecks(1)/portIndex",
            s("got 70000, expected between 0 and 65535"),
        ),
        // readiness checks
        (
            app(json!({"readinessChecks": [{}]})),
            "/readinessChecks(0)/portName",
            s("No port definition reference for portName http-api"),
        ),
        (
            app(
                json!({"portDefinitions": [{"name": "http-api"}], "readinessChecks": [{"intervalSeconds": 5, "timeoutSeconds": 5}]}),
            ),
            "/readinessChecks(0)/timeoutSeconds",
            s("got 5, expected less than 5"),
        ),
        (
            app(
                json!({"portDefinitions": [{"name": "http-api"}], "readinessChecks": [{"intervalSeconds": 5, "timeoutSeconds": 0}]}),
            ),
            "/readinessChecks(0)/timeoutSeconds",
            s("got 0, expected more than 0"),
        ),
        (
            app(
                json!({"portDefinitions": [{"name": "http-api"}], "readinessChecks": [{"intervalSeconds": -1, "timeoutSeconds": 1}]}),
            ),
            "/readinessChecks(0)/intervalSeconds",
            s("got -1, expected 0 or more"),
        ),
        (
            app(json!({"portDefinitions": [{"name": "http-api"}], "readinessChecks": [{}, {}]})),
            "/readinessChecks",
            s("got 2, expected 1 or less"),
        ),
        (
            app(
                json!({"portDefinitions": [{"name": "http-api"}], "readinessChecks": [{"httpStatusCodesForReady": [42]}]}),
            ),
            "/readinessChecks(0)/httpStatusCodesForReady(0)",
            s("got 42, expected between 100 and 999"),
        ),
        // networks
        (
            app(json!({"networks": [{"mode": "container"}]})),
            "/networks",
            s("Network name must be specified when container network is selected."),
        ),
        (
            app(json!({"networks": [{"mode": "host", "name": "x"}]})),
            "/networks",
            s("Host networks may not have names or labels"),
        ),
        (
            app(json!({"networks": [{"mode": "container/bridge", "name": "x"}]})),
            "/networks",
            s("Bridge networks may not have names"),
        ),
        (
            app(json!({"networks": [{"mode": "container", "name": "a"}, {"mode": "container", "name": "a"}]})),
            "/networks",
            s("Duplicate networks are not allowed"),
        ),
        (
            app(json!({"networks": [{"mode": "host"}, {"mode": "container/bridge"}]})),
            "/networks",
            s("May specify a single host network, single bridge network, or else 1-to-n container networks"),
        ),
        (
            app(json!({"networks": [{"mode": "container", "name": "Bad Name"}]})),
            "/networks(0)/name",
            s("must fully match regular expression '^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$'"),
        ),
        (
            app(json!({"networks": [{"mode": "container", "name": "a"}, {"mode": "container", "name": "b"}],
                "container": {"type": "DOCKER", "docker": {"image": "busybox"}}})),
            "/",
            s("may only specify a single container network when using the Docker container engine"),
        ),
        // containers
        (app(json!({"container": {"type": "DOCKER"}})), "/container/docker", s("not defined")),
        (app(json!({"container": {"docker": {"image": ""}}})), "/container/docker/image", s("must not be empty")),
        (
            app(json!({"container": {"docker": {"image": "x", "pullConfig": {"secret": "s"}}}})),
            "/container/docker/pullConfig",
            s("pullConfig is not supported with Docker containerizer"),
        ),
        (
            app(json!({"container": {"type": "MESOS", "docker": {"image": "x", "pullConfig": {"secret": "s"}}}})),
            "/container/docker/pullConfig",
            s("pullConfig.secret must refer to an existing secret"),
        ),
        (
            app(json!({"container": {"docker": {"image": "x"}}, "check": {"exec": {"command": {"shell": "true"}}}})),
            "/",
            s("AppDefinition must not use 'checks' if using docker"),
        ),
        (
            app(json!({"networks": [{"mode": "container/bridge"}],
                "container": {"docker": {"image": "x"}, "portMappings": [{"name": "a"}, {"name": "a"}]}})),
            "/container/portMappings",
            s("Port names must be unique."),
        ),
        (
            app(json!({"networks": [{"mode": "container", "name": "a"}, {"mode": "container", "name": "b"}],
                "container": {"type": "MESOS", "portMappings": [{"containerPort": 80, "hostPort": 0}]}})),
            "/container/portMappings(0)",
            s(
                "networkNames must be a single item list when hostPort is specified and more than 1 container network is defined",
            ),
        ),
        (
            app(json!({"networks": [{"mode": "container", "name": "a"}, {"mode": "container", "name": "b"}],
                "container": {"type": "MESOS", "portMappings": [{"containerPort": 80, "networkNames": ["c"]}]}})),
            "/container/portMappings(0)/networkNames(0)",
            s("is not one of (a,b)"),
        ),
        (
            app(json!({"container": {"type": "MESOS", "volumes": [{"containerPath": "/data", "mode": "RW"}]}})),
            "/container/volumes(0)/hostPath",
            s("must not be empty"),
        ),
        (
            resident(
                json!({"container": {"type": "MESOS", "volumes": [{"containerPath": "data", "persistent": {"size": 0}}]}}),
            ),
            "/container/volumes(0)/persistent/size",
            s("got 0, expected more than 0"),
        ),
        // resident apps
        (
            resident(json!({"unreachableStrategy": {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0}})),
            "/",
            s("unreachableStrategy must be disabled for resident tasks"),
        ),
        (
            resident(json!({"upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5}})),
            "/upgradeStrategy/maximumOverCapacity",
            s("got 0.5, expected 0.0"),
        ),
        (resident(json!({"role": "*"})), "/role", s("Resident apps cannot have the role *")),
        (
            resident(json!({"acceptedResourceRoles": ["slave_public"]})),
            "/acceptedResourceRoles",
            s("A resident app must have `acceptedResourceRoles = [\"*\"]`."),
        ),
        // roles
        (app(json!({"acceptedResourceRoles": []})), "/acceptedResourceRoles", s("must not be empty")),
        (
            app(json!({"acceptedResourceRoles": ["other"]})),
            "/acceptedResourceRoles",
            s("acceptedResourceRoles can only contain *"),
        ),
        (
            app(json!({"role": "dev", "acceptedResourceRoles": ["other"]})),
            "/acceptedResourceRoles",
            s("acceptedResourceRoles can only contain * and dev"),
        ),
        (
            app(json!({"acceptedResourceRoles": ["a b"]})),
            "/acceptedResourceRoles",
            s("A role name must not include a space (\\x20) character."),
        ),
        // features, secrets and env
        (
            app(json!({"gpus": 1})),
            "/",
            s("Feature gpu_resources is not enabled. Enable with --enable_features gpu_resources)"),
        ),
        (
            app(json!({"gpus": 1, "container": {"docker": {"image": "x"}}})),
            "/",
            s("GPU resources only work with the Mesos containerizer"),
        ),
        (
            app(json!({"secrets": {"s": {"source": "/db/pw"}}})),
            "/secrets",
            s("Feature secrets is not enabled. Enable with --enable_features secrets)"),
        ),
        (
            app(json!({"env": {"PW": {"secret": "s"}}})),
            "/env",
            s("use of secret-references in the environment requires the secrets feature to be enabled"),
        ),
        (app(json!({"env": {"PW": {"secret": "s"}}})), "/env/PW/secret", s("references an undefined secret")),
        // fetch
        (
            app(json!({"fetch": [{"uri": "http://example.com/valid"}, {"uri": "d://\\not-a-uri"}]})),
            "/fetch(1)/uri",
            s("URI has invalid syntax."),
        ),
        // deprecated fields
        (app(json!({"ports": [80, 80]})), "/", s("ports must be unique")),
        (
            app(json!({"ports": [80], "portDefinitions": [{"port": 81}]})),
            "/",
            s("cannot specify both ports and port definitions"),
        ),
        (
            app(json!({"ipAddress": {"networkName": "n"}, "ports": [80]})),
            "/",
            s("cannot specify both an IP address and port"),
        ),
        (
            app(json!({"ipAddress": {"networkName": "n"}, "networks": [{"mode": "container", "name": "n"}]})),
            "/",
            s("must not specify both networks and ipAddress"),
        ),
        (
            app(json!({"networks": [{"mode": "host"}], "container": {"docker": {"image": "x", "network": "BRIDGE"}}})),
            "/",
            s("must not specify both container.docker.network and networks"),
        ),
        (
            app(json!({"container": {"docker": {"image": "x", "network": "NONE"}}})),
            "/",
            s("unsupported docker network type NONE"),
        ),
        (
            app(json!({"container": {"docker": {"image": "x", "credential": {"principal": "p"}}}})),
            "/container/docker/credential",
            s("must be empty"),
        ),
        (
            app(
                json!({"container": {"type": "MESOS", "docker": {"image": "x", "parameters": [{"key": "a", "value": "b"}]}}}),
            ),
            "/container/docker/parameters",
            s("must be empty"),
        ),
        (
            app(
                json!({"container": {"docker": {"image": "x", "network": "BRIDGE", "portMappings": [{"containerPort": 1}]},
                "portMappings": [{"containerPort": 2}]}}),
            ),
            "/",
            s("cannot specify both portMappings and docker.portMappings"),
        ),
        (
            app(json!({"container": {"docker": {"image": "x", "portMappings": [{"name": "a"}, {"name": "a"}]}}})),
            "/container/docker/portMappings",
            s("Port names must be unique."),
        ),
        (
            app(json!({"uris": ["http://a/b.tgz"], "fetch": [{"uri": "http://a/c"}]})),
            "/uris",
            s("may not be set in conjunction with fetch"),
        ),
        (app(json!({"uris": ["has space"]})), "/uris(0)", s("URI has invalid syntax.")),
        (
            app(json!({"container": {"docker": {"image": "x"}}, "ipAddress": {"discovery": {"ports": []}}})),
            "/ipAddress",
            s("ipAddress/discovery is not allowed for Docker containers"),
        ),
    ]
}

#[test]
fn every_validation_message() {
    for (value, path, message) in cases() {
        let error = err_with(value.clone(), &NormalizeConfig::default());
        assert!(
            error.errors_at(path).contains(&message),
            "{value}\n  expected {path}: {message}\n  got {:?}",
            error.details
        );
    }
}

#[test]
fn role_enforcement_with_configured_roles() {
    let cfg = NormalizeConfig {
        default_role: "someRole".into(),
        valid_roles: Some(BTreeSet::from(["someRole".to_string()])),
        ..NormalizeConfig::default()
    };
    let error = err_with(app(json!({"role": "aRole"})), &cfg);
    assert_eq!(error.errors_at("/role"), ["got aRole, expected one of: [someRole]"]);
    assert_eq!(ok_with(app(json!({})), &cfg).role.as_deref(), Some("someRole"));
}

#[test]
fn features_enable_gpus_and_secrets() {
    let cfg = NormalizeConfig {
        enabled_features: BTreeSet::from(["gpu_resources".to_string(), "secrets".to_string()]),
        ..NormalizeConfig::default()
    };
    let normalized = ok_with(
        app(json!({"gpus": 1, "secrets": {"s": {"source": "/db/pw"}}, "env": {"PW": {"secret": "s"}, "A": "b"}})),
        &cfg,
    );
    assert_eq!(normalized.gpus, 1);
    assert_eq!(normalized.env.get("PW"), Some(&EnvValue::Secret { secret: "s".into() }));
}

#[test]
fn valid_definitions_pass() {
    for value in [
        app(json!({})),
        json!({"id": "x", "args": ["sleep", "1"]}),
        json!({"id": "x", "container": {"docker": {"image": "busybox"}}}),
        json!({"id": "x", "container": {"type": "MESOS"}}),
        app(json!({"constraints": [["hostname", "unique"], ["rack", "GROUP_BY"], ["rack", "GROUP_BY", "3"],
            ["a", "CLUSTER"], ["a", "CLUSTER", "x"], ["a", "LIKE", "r.*"], ["a", "MAX_PER", "2"], ["a", "IS", "0.8"],
            ["a", "LIKE", ""]]})),
        app(json!({"executor": "//cmd"})),
        app(json!({"executor": "some/relative/path.mte"})),
        app(json!({"executor": "/some/absolute/path"})),
        app(json!({"fetch": [{"uri": "/root/file"}, {"uri": "https://h/x.tgz?y=1#z"}]})),
        app(json!({"healthChecks": [{"protocol": "COMMAND", "command": {"value": "true"}}]})),
        app(json!({"healthChecks": [{"protocol": "HTTP", "port": 80}], "portDefinitions": []})),
        // Upstream accepts zeros in every field of a health check.
        app(json!({"healthChecks": [{"protocol": "HTTP", "intervalSeconds": 0, "timeoutSeconds": 0,
            "gracePeriodSeconds": 0, "maxConsecutiveFailures": 0, "delaySeconds": 0, "port": 0}]})),
        app(json!({"healthChecks": [{"protocol": "MESOS_TCP", "intervalSeconds": 0, "timeoutSeconds": 0,
            "gracePeriodSeconds": 0, "portIndex": 0}]})),
        app(json!({"resourceLimits": {"cpus": "unlimited", "mem": 256}})),
        app(json!({"labels": {"MARATHON_SINGLE_INSTANCE_APP": "true"},
            "upgradeStrategy": {"minimumHealthCapacity": 0, "maximumOverCapacity": 0}})),
        app(json!({"labels": {"DCOS_MIGRATION_API_VERSION": "v1", "DCOS_PACKAGE_FRAMEWORK_NAME": "f",
            "DCOS_MIGRATION_API_PATH": "/p"}})),
        app(json!({"unreachableStrategy": "disabled"})),
        app(json!({"acceptedResourceRoles": ["*"]})),
        app(json!({"ports": [80], "portDefinitions": [{"port": 80}]})),
        resident(json!({})),
    ] {
        ok(value);
    }
}

#[test]
fn defaults_of_a_minimal_app() {
    let a = ok(json!({"id": "web", "cmd": "python3 -m http.server $PORT0"}));
    assert_eq!(a.id, "/web");
    assert_eq!((a.instances, a.cpus, a.mem, a.disk, a.gpus), (1, 1.0, 128.0, 0.0, 0));
    assert_eq!(a.executor, "");
    assert_eq!((a.backoff_seconds, a.backoff_factor, a.max_launch_delay_seconds), (1, 1.15, 300));
    assert_eq!(a.networks, vec![Network::new(NetworkMode::Host)]);
    assert_eq!(a.port_definitions, Some(vec![default_port_definition()]));
    assert!(!a.require_ports);
    assert_eq!(a.upgrade_strategy, Some(UpgradeStrategy { minimum_health_capacity: 1.0, maximum_over_capacity: 1.0 }));
    assert_eq!(
        a.unreachable_strategy,
        Some(UnreachableStrategy::Enabled { inactive_after_seconds: 0, expunge_after_seconds: 0 })
    );
    assert_eq!(a.kill_selection, KillSelection::YoungestFirst);
    assert_eq!(a.role.as_deref(), Some("*"));
    assert_eq!(a.container, None);
    assert_eq!(a.residency, None);
}

#[test]
fn health_check_defaults() {
    let a = ok(app(json!({"healthChecks": [
        {"protocol": "HTTP"},
        {"protocol": "TCP"},
        {"command": {"value": "true"}},
        {"protocol": "MESOS_HTTPS", "path": "/health"}
    ]})));
    let http = &a.health_checks[0];
    assert_eq!(http.protocol, Some(HealthCheckProtocol::Http));
    assert_eq!(
        (
            http.grace_period_seconds,
            http.interval_seconds,
            http.timeout_seconds,
            http.max_consecutive_failures,
            http.delay_seconds
        ),
        (300, 60, 20, 3, 15)
    );
    assert_eq!(http.path.as_deref(), Some("/"));
    assert_eq!(http.ignore_http1xx, Some(false));
    assert_eq!(http.port_index, Some(0));
    assert_eq!(http.ip_protocol, IpProtocol::IPv4);
    let tcp = &a.health_checks[1];
    assert_eq!((tcp.path.as_deref(), tcp.port_index, tcp.ignore_http1xx), (None, Some(0), None));
    let command = &a.health_checks[2];
    assert_eq!(command.protocol, Some(HealthCheckProtocol::Command));
    assert_eq!((command.path.as_deref(), command.port_index), (None, None));
    let mesos = &a.health_checks[3];
    assert_eq!((mesos.path.as_deref(), mesos.ignore_http1xx, mesos.port_index), (Some("/health"), None, Some(0)));
}

#[test]
fn legacy_docker_format_is_migrated() {
    let a = ok(json!({
        "id": "legacy",
        "cmd": "sleep 100",
        "uris": ["http://x/app.tgz", "http://x/run.sh"],
        "container": {"type": "DOCKER", "docker": {
            "image": "busybox", "network": "BRIDGE",
            "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
            "parameters": [{"key": "label", "value": "a=b"}]}},
        "healthChecks": [{"protocol": "HTTP", "portIndex": 0}]
    }));
    assert_eq!(a.networks, vec![Network::new(NetworkMode::ContainerBridge)]);
    assert_eq!(a.port_definitions, None);
    let c = a.container.as_ref().expect("container");
    let docker = c.docker.as_ref().expect("docker");
    assert_eq!((docker.network, docker.port_mappings.as_ref()), (None, None));
    assert_eq!(docker.parameters.len(), 1);
    let mappings = c.port_mappings.as_ref().expect("mappings");
    assert_eq!(mappings.len(), 1);
    assert_eq!((mappings[0].container_port, mappings[0].host_port), (8080, Some(0)));
    assert_eq!(a.uris, None);
    assert_eq!(
        a.fetch.iter().map(|f| (f.uri.as_str(), f.extract)).collect::<Vec<_>>(),
        [("http://x/app.tgz", true), ("http://x/run.sh", false)]
    );
}

#[test]
fn docker_network_translation() {
    let net = |kind: &str| {
        ok(app(json!({"container": {"docker": {"image": "x", "network": kind}}}))).networks.first().map(|n| n.mode)
    };
    assert_eq!(net("HOST"), Some(NetworkMode::Host));
    assert_eq!(net("BRIDGE"), Some(NetworkMode::ContainerBridge));
    let cfg = NormalizeConfig { default_network_name: Some("dcos".into()), ..NormalizeConfig::default() };
    let user = ok_with(app(json!({"container": {"docker": {"image": "x", "network": "USER"}}})), &cfg);
    assert_eq!(user.networks, vec![Network { name: Some("dcos".into()), ..Network::new(NetworkMode::Container) }]);
}

#[test]
fn ports_become_port_definitions() {
    let a = ok(app(json!({"ports": [0, 0, 8080]})));
    assert_eq!(
        a.port_definitions,
        Some(vec![PortDefinition::new(0), PortDefinition::new(0), PortDefinition::new(8080)])
    );
    assert_eq!(a.ports, None);
    let none = ok(app(json!({"portDefinitions": []})));
    assert_eq!(none.port_definitions, Some(vec![]));
}

#[test]
fn ip_address_is_migrated() {
    let a = ok(app(json!({"ipAddress": {"networkName": "net1", "labels": {"a": "b"},
        "discovery": {"ports": [{"number": 80, "name": "http", "protocol": "tcp"}]}}})));
    assert_eq!(a.ip_address, None);
    assert_eq!(a.networks.len(), 1);
    assert_eq!((a.networks[0].mode, a.networks[0].name.as_deref()), (NetworkMode::Container, Some("net1")));
    let c = a.container.expect("implied mesos container");
    assert_eq!(c.kind, ContainerType::Mesos);
    let mappings = c.port_mappings.expect("mappings from discovery");
    assert_eq!(
        (mappings[0].container_port, mappings[0].name.as_deref(), mappings[0].host_port),
        (80, Some("http"), None)
    );
    let bridge = ok(app(json!({"ipAddress": {"networkName": "mesos-bridge"}})));
    assert_eq!(bridge.networks, vec![Network::new(NetworkMode::ContainerBridge)]);
}

#[test]
fn non_host_networking_defaults() {
    let a = ok(app(json!({"networks": [{"mode": "container/bridge"}], "requirePorts": true})));
    let c = a.container.expect("default container");
    assert_eq!(c.kind, ContainerType::Mesos);
    assert_eq!(c.port_mappings, Some(vec![PortMapping { host_port: Some(0), ..default_port_mapping() }]));
    assert!(!a.require_ports);
    assert_eq!(a.port_definitions, None);
    let cfg = NormalizeConfig { default_network_name: Some("dcos".into()), ..NormalizeConfig::default() };
    let named = ok_with(app(json!({"networks": [{"mode": "container"}]})), &cfg);
    assert_eq!(named.networks[0].name.as_deref(), Some("dcos"));
    // In container mode a missing host port stays missing.
    assert_eq!(named.container.and_then(|c| c.port_mappings).map(|m| m[0].host_port), Some(None));
    // Port definitions of a host app that switches to bridge become extra mappings.
    let grown =
        ok(app(json!({"networks": [{"mode": "container/bridge"}], "portDefinitions": [{"port": 0}, {"port": 0}],
        "container": {"docker": {"image": "x"}}})));
    assert_eq!(grown.container.and_then(|c| c.port_mappings).map(|m| m.len()), Some(2));
}

#[test]
fn resident_defaults() {
    let a = ok(resident(json!({})));
    assert!(a.is_resident());
    assert_eq!(a.upgrade_strategy, Some(UpgradeStrategy::FOR_RESIDENT_TASKS));
    assert_eq!(a.unreachable_strategy, Some(UnreachableStrategy::Disabled));
    assert_eq!(a.residency, Some(Residency::default()));
}

#[test]
fn other_defaults_and_canonical_forms() {
    let a = ok(app(json!({
        "id": "/prod/web",
        "dependencies": ["../db", "cache", "/abs", "cache"],
        "constraints": [["hostname", "unique"], ["hostname", "UNIQUE"], ["rack", "group_by", "2"]],
        "acceptedResourceRoles": ["*", "*"],
        "portDefinitions": [{"name": "http-api"}],
        "readinessChecks": [{}]
    })));
    assert_eq!(a.dependencies, ["/db", "/prod/cache", "/abs"]);
    assert_eq!(a.constraints, [vec!["hostname", "UNIQUE"], vec!["rack", "GROUP_BY", "2"]]);
    assert_eq!(a.accepted_resource_roles, Some(vec!["*".to_string()]));
    let rc = &a.readiness_checks[0];
    assert_eq!(
        (rc.name.as_str(), rc.protocol.as_str(), rc.path.as_str(), rc.interval_seconds, rc.timeout_seconds),
        ("readinessCheck", "HTTP", "/", 30, 10)
    );
    assert_eq!(rc.http_status_codes_for_ready, Some(vec![200]));
}

#[test]
fn relative_ids_resolve_against_the_base() {
    let raw = read(json!({"id": "web", "cmd": "sleep 1", "dependencies": ["../db"]}));
    let a = normalize(raw, &PathId::parse("/prod")).expect("valid");
    assert_eq!(a.id, "/prod/web");
    assert_eq!(a.dependencies, ["/db"]);
    let a = normalize(read(json!({"id": "./a/../b", "cmd": "sleep 1"})), &PathId::parse("/g")).expect("valid");
    assert_eq!(a.id, "/g/b");
}

#[test]
fn stops_at_the_first_failing_step() {
    // A deprecated-field violation hides canonical ones (upstream validates in steps).
    let error = err_with(app(json!({"ports": [80, 80], "cpus": -1})), &NormalizeConfig::default());
    assert_eq!(error.details.len(), 1);
    assert_eq!(error.errors_at("/"), ["ports must be unique"]);
    // Within a step every violation is reported, grouped by path.
    let error = err_with(app(json!({"cpus": -1, "mem": -1, "instances": -1, "cmd": "x"})), &NormalizeConfig::default());
    let paths: Vec<&str> = error.details.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(paths, ["/", "/cpus", "/mem", "/instances"]);
}

#[test]
fn normalization_is_idempotent() {
    let inputs = [
        app(json!({})),
        app(json!({"healthChecks": [{"protocol": "HTTP"}], "ports": [0, 0]})),
        json!({"id": "legacy", "cmd": "x y", "uris": ["http://x/a.zip"],
            "container": {"docker": {"image": "b", "network": "BRIDGE", "portMappings": [{"containerPort": 80}]}}}),
        app(json!({"networks": [{"mode": "container/bridge"}]})),
        app(json!({"ipAddress": {"networkName": "n", "discovery": {"ports": [{"number": 80, "name": "http"}]}}})),
        resident(json!({})),
        app(json!({"constraints": [["hostname", "unique"]], "readinessChecks": [{"portName": "default"}]})),
    ];
    for input in inputs {
        let once = ok(input.clone());
        let twice = normalize(once.clone(), &PathId::root()).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(once, twice, "{input}");
    }
}

#[test]
fn java_doubles_and_uris() {
    for (x, s) in [
        (1.0, "1.0"),
        (-3.0, "-3.0"),
        (0.5, "0.5"),
        (1.2, "1.2"),
        (1e-5, "1.0E-5"),
        (0.0, "0.0"),
        (12_345_678.0, "1.2345678E7"),
    ] {
        assert_eq!(java_double(x), s);
    }
    for good in ["http://example.com/a?b=c#d", "/root/file", "file:///tmp/x", "s3://bucket/key", "relative/path", "%41"]
    {
        assert!(is_valid_uri(good), "{good}");
    }
    for bad in ["", "has space", "d://\\not-a-uri", "http://x/<y>", "%4", "1http://x", "a#b#c", "http:"] {
        assert!(!is_valid_uri(bad), "{bad}");
    }
}
