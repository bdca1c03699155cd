use super::*;
use crate::error::ParseError;
use crate::normalize::NormalizeConfig;
use crate::time::parse_timestamp;
use crate::{PathId, ValidationError, Violation};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Upstream's `docs/docs/rest-api/public/api/v2/examples/pod.json` (1.11), with one change: its
/// health check's `timeoutSeconds` (20) is not less than its `intervalSeconds` (2), which
/// upstream's own validation refuses; 1 here.
const UPSTREAM_EXAMPLE: &str = r#"{
  "id": "/foo",
  "labels": {"owner": "zeus", "note": "Away from olympus"},
  "user": "root",
  "environment": {"XPS1": "Test", "XPS2": "Rest"},
  "volumes": [{"name": "etc", "host": "/hdd/tools/docker/registry"}],
  "networks": [{"name": "my-network", "mode": "container", "labels": {}}],
  "scaling": {"kind": "fixed", "instances": 1, "maxInstances": 888},
  "scheduling": {
    "backoff": {"backoff": 1, "backoffFactor": 1.15, "maxLaunchDelay": 3600},
    "upgrade": {"minimumHealthCapacity": 1, "maximumOverCapacity": 1},
    "placement": {"constraints": [], "acceptedResourceRoles": []}
  },
  "containers": [{
    "name": "container1",
    "exec": {"command": {"shell": "sleep 100"}, "overrideEntrypoint": true},
    "resources": {"cpus": 1, "mem": 128, "disk": 0, "gpus": 0},
    "endpoints": [{"name": "httpendpoint", "containerPort": 80, "hostPort": 0, "protocol": ["tcp"], "labels": {}}],
    "image": {"id": "mesosphere/marathon:latest", "kind": "DOCKER", "forcePull": false},
    "environment": {},
    "user": "root",
    "healthCheck": {
      "gracePeriodSeconds": 30, "intervalSeconds": 2, "maxConsecutiveFailures": 3, "timeoutSeconds": 1,
      "delaySeconds": 2, "http": {"path": "/health", "scheme": "HTTP", "endpoint": "httpendpoint"}
    },
    "volumeMounts": [{"name": "etc", "mountPath": "/mnt/etc", "readOnly": true}],
    "artifacts": [{"uri": "https://foo.com/archive.zip", "executable": false, "extract": true, "cache": true,
                   "destPath": "newname.zip"}],
    "labels": {"owner": "zeus", "note": "Away from olympus"},
    "lifecycle": {"killGracePeriodSeconds": 60}
  }],
  "executorResources": {"cpus": 0.2, "mem": 64, "disk": 50}
}"#;

fn cfg() -> NormalizeConfig {
    NormalizeConfig::default()
}

fn simple() -> Value {
    json!({"id": "/p", "containers": [{"name": "c", "exec": {"command": {"shell": "sleep 100"}},
        "resources": {"cpus": 0.1, "mem": 32}}]})
}

/// `simple()` with `patch` merged in (objects merged key by key, anything else replaced).
fn with(patch: Value) -> Value {
    fn merge(base: &mut Value, patch: &Value) {
        match (base, patch) {
            (Value::Object(b), Value::Object(p)) => {
                for (k, v) in p {
                    merge(b.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
            (b, p) => *b = p.clone(),
        }
    }
    let mut pod = simple();
    merge(&mut pod, &patch);
    pod
}

fn normalized(body: &Value) -> Result<Pod, ValidationError> {
    let raw = parse_pod(body.to_string().as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"));
    normalize_pod(raw, None, &cfg())
}

fn invalid(body: &Value) -> ValidationError {
    normalized(body).expect_err(&format!("{body} is invalid"))
}

fn type_errors(body: &str) -> Vec<Violation> {
    match parse_pod(body.as_bytes()) {
        Err(ParseError::Types(details)) => details,
        other => panic!("expected type errors for {body}, got {other:?}"),
    }
}

/// Normalizing what was rendered gives the same pod again.
fn assert_fixpoint(pod: &Pod) {
    let text = serde_json::to_vec(&pod_json(pod)).expect("json");
    let again = normalize_pod(parse_pod(&text).expect("rendered pod parses"), None, &cfg()).expect("still valid");
    assert_eq!(&again, pod);
    assert_eq!(pod_json(&again), pod_json(pod));
}

#[test]
fn upstream_example_parses_normalizes_and_round_trips() {
    let raw = parse_pod(UPSTREAM_EXAMPLE.as_bytes()).expect("parses");
    assert_eq!(
        raw.containers[0].exec.as_ref().map(|e| &e.command),
        Some(&MesosCommand::Shell { shell: "sleep 100".into() })
    );
    assert_eq!(raw.scaling.max_instances, Some(888));
    let pod = normalize_pod(raw, None, &cfg()).expect("valid");
    assert_eq!(pod.id, "/foo");
    assert_eq!(pod.role.as_deref(), Some("*"));
    assert_eq!(pod.scheduling.backoff.max_launch_delay, 3600.0);
    assert_eq!(pod.executor_resources, ExecutorResources { cpus: 0.2, mem: 64.0, disk: 50.0 });
    let check = pod.containers[0].health_check.as_ref().expect("health check");
    assert_eq!(check.endpoint(), Some("httpendpoint"));
    assert_eq!((check.grace_period_seconds, check.interval_seconds, check.delay_seconds), (30, 2, 2));
    assert_fixpoint(&pod);
}

#[test]
fn defaults_are_upstreams() {
    let body = json!({"id": "/a/../p", "containers": [{"name": "c", "resources": {},
        "endpoints": [{"name": "http"}], "healthCheck": {"tcp": {"endpoint": "http"}, "timeoutSeconds": 5}}]});
    let pod = normalized(&body).expect("valid");
    assert_eq!(
        pod_json(&pod),
        json!({
            "id": "/p",
            "containers": [{
                "name": "c",
                "resources": {"cpus": 1.0, "mem": 128.0, "disk": 0.0, "gpus": 0},
                "endpoints": [{"name": "http", "hostPort": 0}],
                "healthCheck": {"tcp": {"endpoint": "http"}, "gracePeriodSeconds": 300, "intervalSeconds": 60,
                    "maxConsecutiveFailures": 3, "timeoutSeconds": 5, "delaySeconds": 15}
            }],
            "scaling": {"kind": "fixed", "instances": 1},
            "scheduling": {
                "backoff": {"backoff": 1.0, "backoffFactor": 1.15, "maxLaunchDelay": 300.0},
                "upgrade": {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0},
                "killSelection": "YOUNGEST_FIRST",
                "unreachableStrategy": {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0}
            },
            "executorResources": {"cpus": 0.1, "mem": 32.0, "disk": 10.0},
            "role": "*"
        })
    );
    assert!(pod.has_host_networking());
    assert_eq!(pod.containers[0].endpoints[0].protocols(), ["tcp"]);
    assert_fixpoint(&pod);
}

#[test]
fn http_check_scheme_defaults_to_http_and_role_comes_from_the_config() {
    let body =
        with(json!({"containers": [{"name": "c", "resources": {}, "endpoints": [{"name": "web", "hostPort": 8080}],
        "healthCheck": {"http": {"endpoint": "web", "path": "/ping"}, "timeoutSeconds": 1, "intervalSeconds": 2}}]}));
    let config = NormalizeConfig { default_role: "marathon".into(), ..cfg() };
    let raw = parse_pod(body.to_string().as_bytes()).expect("parses");
    let pod = normalize_pod(raw, None, &config).expect("valid");
    assert_eq!(pod.role.as_deref(), Some("marathon"));
    assert_eq!(
        pod_json(&pod)["containers"][0]["healthCheck"]["http"],
        json!({"endpoint": "web", "path": "/ping",
        "scheme": "HTTP"})
    );
    assert_eq!(pod.containers[0].endpoints[0].host_port, Some(8080));
}

#[test]
fn container_network_endpoints_keep_an_absent_host_port_and_get_the_default_network_name() {
    let body = with(json!({"networks": [{"mode": "container"}], "containers": [{"name": "c", "resources": {},
        "endpoints": [{"name": "web", "containerPort": 80}]}]}));
    let raw = parse_pod(body.to_string().as_bytes()).expect("parses");
    let config = NormalizeConfig { default_network_name: Some("dcos".into()), ..cfg() };
    let pod = normalize_pod(raw, None, &config).expect("valid");
    assert_eq!(pod.networks[0].name.as_deref(), Some("dcos"));
    assert_eq!(pod.containers[0].endpoints[0].host_port, None);
    assert!(!pod.has_host_networking());
}

#[test]
fn resident_pods_get_resident_strategies() {
    let body = with(json!({"role": "slave_public", "volumes": [{"name": "data", "persistent": {"size": 10}}],
        "containers": [{"name": "c", "resources": {}, "volumeMounts": [{"name": "data", "mountPath": "data"}]}]}));
    let pod = normalized(&body).expect("valid");
    assert_eq!(pod.scheduling.upgrade, Some(crate::app::UpgradeStrategy::FOR_RESIDENT_TASKS));
    assert_eq!(pod.scheduling.unreachable_strategy, Some(crate::app::UnreachableStrategy::Disabled));
}

#[test]
fn every_rule_reports_upstreams_message_at_its_path() {
    let one = |c: Value| json!({"containers": [c]});
    let c = |extra: Value| {
        let mut container = json!({"name": "c", "resources": {}});
        if let (Some(base), Some(e)) = (container.as_object_mut(), extra.as_object()) {
            base.extend(e.clone());
        }
        container
    };
    let hc = |check: Value| c(json!({"endpoints": [{"name": "web"}], "healthCheck": check}));
    let regex = "must fully match regular expression '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'";
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({"id": "p"}), "/id", "Path needs to be absolute"),
        (json!({"id": "/"}), "/id", "Path must contain at least one path element"),
        (json!({"id": "/a/Bad"}), "/id", "must fully match regular expression"),
        (json!({"id": "/a/versions"}), "/id", "must not end with any of the following reserved keywords"),
        (json!({"user": ""}), "/user", "must not be empty"),
        (json!({"containers": []}), "/containers", "must not be empty"),
        (json!({"containers": [c(json!({})), c(json!({}))]}), "/containers", "container names must be unique"),
        (one(c(json!({"name": "Web"}))), "/containers(0)/name", regex),
        (one(c(json!({"name": "-a"}))), "/containers(0)/name", regex),
        (one(c(json!({"resources": {"cpus": 0}}))), "/containers(0)/resources/cpus", "got 0.0, expected 0.001 or more"),
        (one(c(json!({"resources": {"mem": -1}}))), "/containers(0)/resources/mem", "got -1.0, expected 0.001 or more"),
        (one(c(json!({"resources": {"disk": -1}}))), "/containers(0)/resources/disk", "got -1.0, expected 0.0 or more"),
        (one(c(json!({"resources": {"gpus": -1}}))), "/containers(0)/resources/gpus", "got -1, expected 0 or more"),
        (
            one(c(json!({"resourceLimits": {"mem": 100}}))),
            "/containers(0)/resourceLimits/mem",
            "resource limit must be greater than or equal to requested resource (128.0)",
        ),
        (
            json!({"legacySharedCgroups": true, "containers": [c(json!({"resourceLimits": {"cpus": "unlimited"}}))]}),
            "/containers(0)/resourceLimits",
            "resourceLimits cannot be defined if legacySharedCgroups is enabled",
        ),
        (one(c(json!({"exec": {"command": {"shell": ""}}}))), "/containers(0)/exec/command/shell", "must not be empty"),
        (one(c(json!({"exec": {"command": {"argv": []}}}))), "/containers(0)/exec/command/argv", "must not be empty"),
        (one(c(json!({"endpoints": [{"name": "Web"}]}))), "/containers(0)/endpoints(0)/name", regex),
        (
            json!({"containers": [c(json!({"endpoints": [{"name": "a"}]})), c(json!({"name": "d", "endpoints": [{"name": "a"}]}))]}),
            "/",
            "endpoint names nust be unique across all containers",
        ),
        (
            one(c(json!({"endpoints": [{"name": "a", "hostPort": 80}, {"name": "b", "hostPort": 80}]}))),
            "/",
            "host ports must be unique across all containers",
        ),
        (
            json!({"networks": [{"mode": "container", "name": "n"}],
                "containers": [c(json!({"endpoints": [{"name": "a", "containerPort": 80}, {"name": "b", "containerPort": 80}]}))]}),
            "/",
            "container ports must be unique across all containers",
        ),
        (
            json!({"networks": [{"mode": "host"}], "containers": [c(json!({"endpoints": [{"name": "a", "containerPort": 80}]}))]}),
            "/containers(0)/endpoints(0)/containerPort",
            "is not allowed when using host-mode networking",
        ),
        (
            json!({"networks": [{"mode": "container", "name": "n"}], "containers": [c(json!({"endpoints": [{"name": "a"}]}))]}),
            "/containers(0)/endpoints(0)/containerPort",
            "is required when using container-mode networking",
        ),
        (
            json!({"networks": [{"mode": "container", "name": "n"}], "containers": [c(json!({"endpoints": [{"name": "a",
                "containerPort": 80, "networkNames": ["m"]}]}))]}),
            "/containers(0)/endpoints(0)/networkNames(0)",
            "is not one of (n)",
        ),
        (
            json!({"networks": [{"mode": "container", "name": "n"}, {"mode": "container", "name": "m"}],
                "containers": [c(json!({"endpoints": [{"name": "a", "containerPort": 80, "hostPort": 0}]}))]}),
            "/containers(0)/endpoints(0)",
            "networkNames must be a single item list when hostPort is specified and more than 1 container network is defined",
        ),
        (
            one(c(json!({"endpoints": [{"name": "a", "protocol": ["tcp", "tcp"]}]}))),
            "/containers(0)/endpoints(0)/protocol",
            "Duplicate protocols within the same endpoint are not allowed",
        ),
        (
            one(c(json!({"endpoints": [{"name": "a", "hostPort": 70000}]}))),
            "/containers(0)/endpoints(0)/hostPort",
            "got 70000, expected between 0 and 65535",
        ),
        (
            one(hc(json!({"tcp": {"endpoint": "nope"}}))),
            "/containers(0)/healthCheck/tcp/endpoint",
            "contained in the container endpoints",
        ),
        (
            one(hc(json!({"tcp": {"endpoint": "web"}, "http": {"endpoint": "web"}}))),
            "/containers(0)/healthCheck",
            "Only one of http, tcp, or command may be specified",
        ),
        (one(hc(json!({}))), "/containers(0)/healthCheck", "Only one of http, tcp, or command may be specified"),
        (
            one(hc(json!({"tcp": {"endpoint": "web"}, "timeoutSeconds": 60}))),
            "/containers(0)/healthCheck/timeoutSeconds",
            "got 60, expected less than 60",
        ),
        (
            one(hc(json!({"tcp": {"endpoint": "web"}, "gracePeriodSeconds": -1}))),
            "/containers(0)/healthCheck/gracePeriodSeconds",
            "got -1, expected 0 or more",
        ),
        (
            one(hc(json!({"exec": {"command": {"shell": ""}}}))),
            "/containers(0)/healthCheck/exec/command/shell",
            "must not be empty",
        ),
        (
            json!({"environment": {"1BAD": "x"}}),
            "/environment/1BAD",
            "must contain only alphanumeric chars or underscore, must not begin with a number, and must be 254 chars or less",
        ),
        (
            one(c(json!({"environment": {"A-B": "x"}}))),
            "/containers(0)/environment/A-B",
            "must contain only alphanumeric chars or underscore, must not begin with a number, and must be 254 chars or less",
        ),
        (
            json!({"environment": {"A": {"secret": "s"}}}),
            "/environment",
            "use of secret-references in the environment requires the secrets feature to be enabled",
        ),
        (json!({"environment": {"A": {"secret": "s"}}}), "/environment/A/secret", "references an undefined secret"),
        (
            json!({"secrets": {"s": {"source": "/x"}}}),
            "/secrets",
            "Feature secrets is not enabled. Enable with --enable_features secrets)",
        ),
        (
            json!({"volumes": [{"name": "v", "host": "/tmp"}]}),
            "/volumes(0)",
            "volume must be referenced by at least one container",
        ),
        (
            one(c(json!({"volumeMounts": [{"name": "v", "mountPath": "/v"}]}))),
            "/containers(0)/volumeMounts(0)/name",
            "Referenced Volume in VolumeMount should exist",
        ),
        (
            one(c(json!({"artifacts": [{"uri": ""}]}))),
            "/containers(0)/artifacts(0)/uri",
            "got 0, expected between 1 and 1024",
        ),
        (
            one(c(json!({"image": {"kind": "DOCKER", "id": "x", "pullConfig": {"secret": "s"}}}))),
            "/containers(0)/image/pullConfig",
            "pullConfig.secret must refer to an existing secret",
        ),
        (
            one(c(json!({"lifecycle": {"killGracePeriodSeconds": -1}}))),
            "/containers(0)/lifecycle/killGracePeriodSeconds",
            "got -1.0, expected 0.0 or more",
        ),
        (
            json!({"networks": [{"mode": "host"}, {"mode": "container", "name": "n"}]}),
            "/networks",
            "May specify a single host network, single bridge network, or else 1-to-n container networks",
        ),
        (
            json!({"networks": [{"mode": "container"}]}),
            "/networks",
            "Network name must be specified when container network is selected.",
        ),
        (
            json!({"networks": [{"mode": "host", "name": "x"}]}),
            "/networks",
            "Host networks may not have names or labels",
        ),
        (json!({"scaling": {"instances": -1}}), "/scaling/instances", "got -1, expected 0 or more"),
        (
            json!({"scheduling": {"backoff": {"backoff": -1}}}),
            "/scheduling/backoff/backoff",
            "got -1.0, expected 0.0 or more",
        ),
        (
            json!({"scheduling": {"backoff": {"maxLaunchDelay": -1}}}),
            "/scheduling/backoff/maxLaunchDelay",
            "got -1.0, expected 0.0 or more",
        ),
        (
            json!({"scheduling": {"upgrade": {"minimumHealthCapacity": 1.5}}}),
            "/scheduling/upgrade/minimumHealthCapacity",
            "got 1.5, expected between 0.0 and 1.0",
        ),
        (
            json!({"scheduling": {"upgrade": {"maximumOverCapacity": -0.5}}}),
            "/scheduling/upgrade/maximumOverCapacity",
            "got -0.5, expected between 0.0 and 1.0",
        ),
        (
            json!({"scheduling": {"unreachableStrategy": {"inactiveAfterSeconds": 10, "expungeAfterSeconds": 5}}}),
            "/scheduling/unreachableStrategy/inactiveAfterSeconds",
            "inactiveAfterSeconds (10) must be less or equal to expungeAfterSeconds, which is 5",
        ),
        (
            json!({"scheduling": {"placement": {"constraints": [{"fieldName": "hostname", "operator": "UNIQUE", "value": "x"}]}}}),
            "/scheduling/placement/constraints(0)",
            "UNIQUE does not accept a value",
        ),
        (
            json!({"scheduling": {"placement": {"constraints": [{"fieldName": "rack", "operator": "MAX_PER"}]}}}),
            "/scheduling/placement/constraints(0)",
            "MAX_PER requires an integer value",
        ),
        (
            json!({"scheduling": {"placement": {"constraints": [{"fieldName": "", "operator": "CLUSTER"}]}}}),
            "/scheduling/placement/constraints(0)",
            "missing field for constraint declaration",
        ),
        (
            json!({"scheduling": {"placement": {"acceptedResourceRoles": ["prod"]}}}),
            "/scheduling/placement/acceptedResourceRoles",
            "acceptedResourceRoles can only contain *",
        ),
        (
            json!({"scheduling": {"placement": {"acceptedResourceRoles": ["a b"]}}}),
            "/scheduling/placement/acceptedResourceRoles",
            "A role name must not include a space (\\x20) character.",
        ),
        (json!({"role": ""}), "/role", "must not be empty"),
        (json!({"executorResources": {"cpus": 0.05}}), "/executorResources/cpus", "got 0.05, expected 0.1 or more"),
        (json!({"executorResources": {"mem": 16}}), "/executorResources/mem", "got 16.0, expected 32.0 or more"),
        (json!({"executorResources": {"disk": 1}}), "/executorResources/disk", "got 1.0, expected 10.0 or more"),
    ];
    for (patch, path, message) in cases {
        let body = with(patch.clone());
        let e = invalid(&body);
        assert!(
            e.errors_at(path).iter().any(|m| m.starts_with(message)),
            "{patch}: expected {message:?} at {path}, got {e}"
        );
    }
}

#[test]
fn valid_roles_and_accepted_roles_follow_the_role() {
    let config = NormalizeConfig { valid_roles: Some(BTreeSet::from(["dev".to_string()])), ..cfg() };
    let raw = parse_pod(with(json!({"role": "prod"})).to_string().as_bytes()).expect("parses");
    let e = normalize_pod(raw, None, &config).expect_err("role not valid");
    assert_eq!(e.errors_at("/role"), ["got prod, expected one of: [dev]"]);
    let body = with(json!({"role": "dev", "scheduling": {"placement": {"acceptedResourceRoles": ["*", "dev", "*"]}}}));
    let pod = normalize_pod(parse_pod(body.to_string().as_bytes()).expect("parses"), None, &config).expect("valid");
    assert_eq!(pod.scheduling.placement.accepted_resource_roles, ["*", "dev"]);
}

#[test]
fn a_put_path_must_name_the_bodys_pod() {
    let raw = parse_pod(simple().to_string().as_bytes()).expect("parses");
    assert_eq!(pod_path_mismatch(&PathId::parse("/p"), &raw), None);
    assert_eq!(
        pod_path_mismatch(&PathId::parse("/q"), &raw).as_deref(),
        Some("'/q' does not match definition's id ('/p')")
    );
    let e = normalize_pod(raw.clone(), Some(&PathId::parse("/q")), &cfg()).expect_err("mismatch");
    assert_eq!(e.errors_at("/id"), ["'/q' does not match definition's id ('/p')"]);
    assert!(normalize_pod(raw, Some(&PathId::parse("/p")), &cfg()).is_ok());
}

#[test]
fn type_errors_use_play_json_codes_and_pod_paths() {
    let cases: &[(&str, &str, &str)] = &[
        (r#"{"containers":[]}"#, "/id", "error.path.missing"),
        (r#"{"id":"/p"}"#, "/containers", "error.path.missing"),
        (r#"{"id":"/p","containers":[{"resources":{}}]}"#, "/containers(0)/name", "error.path.missing"),
        (r#"{"id":"/p","containers":[{"name":"c"}]}"#, "/containers(0)/resources", "error.path.missing"),
        (
            r#"{"id":"/p","containers":[{"name":"c","resources":{"cpus":"1"}}]}"#,
            "/containers(0)/resources/cpus",
            "error.expected.jsnumber",
        ),
        (
            r#"{"id":"/p","containers":[{"name":"c","resources":{},"exec":{"command":{"shell":"a","argv":["b"]}}}]}"#,
            "/containers(0)/exec/command",
            "specify either `shell` or `argv`, never both",
        ),
        (
            r#"{"id":"/p","containers":[{"name":"c","resources":{},"exec":{"command":{}}}]}"#,
            "/containers(0)/exec/command/shell",
            "error.path.missing",
        ),
        (
            r#"{"id":"/p","containers":[{"name":"c","resources":{},"exec":{"command":{"argv":"x"}}}]}"#,
            "/containers(0)/exec/command/argv",
            "error.expected.jsarray",
        ),
        (
            r#"{"id":"/p","containers":[{"name":"c","resources":{},"image":{"kind":"APPC","id":"x"}}]}"#,
            "/containers(0)/image/kind",
            "error.unknown.enum.literal",
        ),
        (r#"{"id":"/p","containers":[],"scaling":{"kind":"auto"}}"#, "/scaling/kind", "error.unknown.enum.literal"),
        (
            r#"{"id":"/p","containers":[],"scheduling":{"placement":{"constraints":[{"fieldName":"a","operator":"unique"}]}}}"#,
            "/scheduling/placement/constraints(0)/operator",
            "error.unknown.enum.literal",
        ),
        (
            r#"{"id":"/p","containers":[],"scheduling":{"unreachableStrategy":"never"}}"#,
            "/scheduling/unreachableStrategy",
            "error.unknown.enum.literal",
        ),
        (r#"{"id":"/p","containers":[],"environment":{"A":1}}"#, "/environment/A", "error.expected.jsstring"),
        ("[]", "/", "error.expected.jsobject"),
    ];
    for (body, path, code) in cases {
        let details = type_errors(body);
        assert!(
            details.iter().any(|d| d.path == *path && d.errors.iter().any(|e| e == code)),
            "{body}: expected {code} at {path}, got {details:?}"
        );
    }
    assert!(matches!(parse_pod(b"{"), Err(e @ ParseError::Syntax(_)) if e.status() == 400));
}

#[test]
fn unknown_fields_are_ignored_and_nulls_are_absent() {
    let pod =
        parse_pod(br#"{"id":"/p","containers":[{"name":"c","resources":{},"whatever":1,"user":null}],"extra":{}}"#)
            .expect("parses");
    assert_eq!(pod.containers[0].user, None);
}

#[test]
fn argv_commands_and_version_round_trip() {
    let body = with(json!({"version": "2020-01-02T03:04:05.678Z", "containers": [{"name": "c", "resources": {},
        "exec": {"command": {"argv": ["/bin/sleep", "100"]}}}]}));
    let pod = normalized(&body).expect("valid");
    assert_eq!(
        pod.containers[0].exec.as_ref().map(|e| e.command.clone()),
        Some(MesosCommand::Argv { argv: vec!["/bin/sleep".into(), "100".into()] })
    );
    let json = pod_json(&pod);
    assert_eq!(json["version"], "2020-01-02T03:04:05.678Z");
    assert_eq!(json["containers"][0]["exec"], json!({"command": {"argv": ["/bin/sleep", "100"]}}));
    assert_fixpoint(&pod);
}

#[test]
fn pod_json_key_sets() {
    let pod = normalize_pod(parse_pod(UPSTREAM_EXAMPLE.as_bytes()).expect("parses"), None, &cfg()).expect("valid");
    let json = pod_json(&pod);
    let keys = |v: &Value| v.as_object().map(|o| o.keys().cloned().collect::<BTreeSet<_>>()).unwrap_or_default();
    let set = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        keys(&json),
        set(&[
            "id",
            "labels",
            "user",
            "environment",
            "volumes",
            "networks",
            "scaling",
            "scheduling",
            "containers",
            "executorResources",
            "role"
        ])
    );
    assert_eq!(keys(&json["scheduling"]), set(&["backoff", "upgrade", "killSelection", "unreachableStrategy"]));
    assert_eq!(
        keys(&json["containers"][0]),
        set(&[
            "name",
            "exec",
            "resources",
            "endpoints",
            "image",
            "user",
            "healthCheck",
            "volumeMounts",
            "artifacts",
            "labels",
            "lifecycle"
        ])
    );
    assert_eq!(
        keys(&json["containers"][0]["artifacts"][0]),
        set(&["uri", "extract", "executable", "cache", "destPath"])
    );
}

#[test]
fn status_shapes_have_upstream_field_names() {
    let t = parse_timestamp("2020-01-02T03:04:05.678Z").expect("timestamp");
    let spec = normalized(&simple()).expect("valid");
    let container = ContainerStatus {
        name: "c".into(),
        status: "TASK_RUNNING".into(),
        status_since: t,
        message: None,
        conditions: vec![StatusCondition::healthy(true, None, t, t)],
        container_id: Some("p.instance-1.c".into()),
        endpoints: vec![ContainerEndpointStatus {
            name: "web".into(),
            allocated_host_port: Some(31000),
            healthy: None,
        }],
        resources: Some(spec.containers[0].resources),
        termination: None,
        last_updated: t,
        last_changed: t,
    };
    let instance = PodInstanceStatus {
        id: "p.instance-1".into(),
        status: PodInstanceState::Stable,
        status_since: t,
        message: None,
        conditions: vec![],
        agent_hostname: Some("host".into()),
        agent_id: Some("S1".into()),
        agent_region: None,
        agent_zone: None,
        resources: None,
        networks: vec![],
        containers: vec![container],
        spec_reference: Some(spec_reference(&PathId::parse("/p"), t)),
        last_updated: t,
        last_changed: t,
        role: "*".into(),
    };
    let status = PodStatus {
        id: "/p".into(),
        spec: spec.clone(),
        status: PodState::Stable,
        status_since: t,
        message: None,
        instances: vec![instance],
        termination_history: vec![],
        last_updated: t,
        last_changed: t,
    };
    let json = serde_json::to_value(&status).expect("json");
    assert_eq!(json["spec"], pod_json(&spec));
    assert_eq!(json["status"], "STABLE");
    assert_eq!(json["statusSince"], "2020-01-02T03:04:05.678Z");
    let instance = &json["instances"][0];
    assert_eq!(
        instance.as_object().map(|o| o.keys().cloned().collect::<BTreeSet<_>>()),
        Some(
            [
                "id",
                "status",
                "statusSince",
                "agentHostname",
                "agentId",
                "containers",
                "specReference",
                "lastUpdated",
                "lastChanged",
                "role"
            ]
            .iter()
            .map(|s| s.to_string())
            .collect()
        )
    );
    assert_eq!(instance["specReference"], "/v2/pods/p::versions/2020-01-02T03:04:05.678Z");
    assert_eq!(
        instance["containers"][0],
        json!({"name": "c", "status": "TASK_RUNNING", "statusSince": "2020-01-02T03:04:05.678Z",
            "conditions": [{"name": "healthy", "value": "true", "lastChanged": "2020-01-02T03:04:05.678Z",
                "lastUpdated": "2020-01-02T03:04:05.678Z"}],
            "containerId": "p.instance-1.c", "endpoints": [{"name": "web", "allocatedHostPort": 31000}],
            "resources": {"cpus": 0.1, "mem": 32.0, "disk": 0.0, "gpus": 0},
            "lastUpdated": "2020-01-02T03:04:05.678Z", "lastChanged": "2020-01-02T03:04:05.678Z"})
    );
    let history = TerminationHistory {
        instance_id: "p.instance-0".into(),
        started_at: t,
        terminated_at: t,
        message: None,
        containers: vec![],
    };
    assert_eq!(serde_json::to_value(&history).expect("json")["instanceID"], "p.instance-0");
}

#[test]
fn pod_events_have_upstream_fields_and_name_their_pod() {
    use crate::events::Event;
    let t = parse_timestamp("2020-01-02T03:04:05.678Z").expect("timestamp");
    let event = Event::PodCreated { client_ip: "10.0.0.1".into(), uri: "/v2/pods".into(), pod_id: "/p".into() };
    assert_eq!(
        event.to_json(t),
        json!({"eventType": "pod_created_event", "clientIp": "10.0.0.1", "uri": "/v2/pods",
            "timestamp": "2020-01-02T03:04:05.678Z"})
    );
    assert_eq!(event.subject_paths(), Some(vec!["/p".to_string()]));
    let updated = Event::PodUpdated { client_ip: "::1".into(), uri: "/v2/pods/p".into(), pod_id: "/p".into() };
    let deleted = Event::PodDeleted { client_ip: "::1".into(), uri: "/v2/pods/p".into(), pod_id: "/p".into() };
    for (event, name) in [(updated, "pod_updated_event"), (deleted, "pod_deleted_event")] {
        assert_eq!(event.event_type(), name);
        assert_eq!(event.to_json(t)["eventType"], name);
    }
}
