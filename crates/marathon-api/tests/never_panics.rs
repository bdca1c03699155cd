//! Random input never panics the parsers, and what parses normalizes idempotently.

use marathon_api::{
    AppDefinition, AppExtras, InstanceId, LabelSelector, PathId, TaskId, app_json, apply_update, normalize, parse_app,
    parse_app_update, parse_timestamp,
};
use proptest::prelude::*;
use serde_json::Value;

/// Field names and enum literals the parsers know, so random documents reach deep code paths.
const KEYS: &[&str] = &[
    "id",
    "cmd",
    "args",
    "user",
    "instances",
    "cpus",
    "mem",
    "disk",
    "gpus",
    "resourceLimits",
    "executor",
    "executorResources",
    "env",
    "secrets",
    "labels",
    "constraints",
    "acceptedResourceRoles",
    "role",
    "ports",
    "portDefinitions",
    "requirePorts",
    "networks",
    "container",
    "ipAddress",
    "fetch",
    "uris",
    "healthChecks",
    "check",
    "readinessChecks",
    "dependencies",
    "upgradeStrategy",
    "backoffSeconds",
    "backoffFactor",
    "maxLaunchDelaySeconds",
    "taskKillGracePeriodSeconds",
    "unreachableStrategy",
    "killSelection",
    "residency",
    "tty",
    "version",
    "versionInfo",
    "type",
    "docker",
    "image",
    "network",
    "portMappings",
    "volumes",
    "containerPort",
    "hostPort",
    "servicePort",
    "protocol",
    "name",
    "mode",
    "port",
    "portIndex",
    "path",
    "command",
    "value",
    "secret",
    "source",
    "uri",
    "minimumHealthCapacity",
    "maximumOverCapacity",
    "inactiveAfterSeconds",
    "expungeAfterSeconds",
    "persistent",
    "size",
    "containerPath",
    "hostPath",
    "networkName",
    "discovery",
    "number",
    "portName",
    "networkNames",
    "httpStatusCodesForReady",
    "ipProtocol",
    "pullConfig",
    "credential",
    "parameters",
    "key",
];
const WORDS: &[&str] = &[
    "disabled",
    "HTTP",
    "HTTPS",
    "TCP",
    "COMMAND",
    "MESOS_HTTP",
    "MESOS_TCP",
    "DOCKER",
    "MESOS",
    "BRIDGE",
    "HOST",
    "USER",
    "NONE",
    "host",
    "container",
    "container/bridge",
    "tcp",
    "udp",
    "UNIQUE",
    "unique",
    "GROUP_BY",
    "LIKE",
    "IS",
    "MAX_PER",
    "hostname",
    "/a",
    "a",
    "..",
    "",
    "x y",
    "YOUNGEST_FIRST",
    "MARATHON_SINGLE_INSTANCE_APP",
    "true",
    "unlimited",
    "RW",
    "IPv6",
    "http-api",
    "default",
    "2021-03-01T10:00:00.000Z",
    "*",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-3i64..70_000).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-2.0f64..2.0).prop_map(Value::from),
        prop::sample::select(WORDS).prop_map(Value::from),
        "[a-zA-Z0-9 /._-]{0,8}".prop_map(Value::from),
    ];
    let key = prop_oneof![prop::sample::select(KEYS).prop_map(str::to_string), "[a-zA-Z]{1,5}"];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..8).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A random object that always has an `id` and a `cmd`, so normalization gets past the basics.
fn app_like() -> impl Strategy<Value = Value> {
    (json_value(), prop::sample::select(KEYS), json_value()).prop_map(|(base, key, value)| {
        let mut object = match base {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        object.insert(key.to_string(), value);
        object.entry("id").or_insert_with(|| Value::from("/fuzz"));
        object.entry("cmd").or_insert_with(|| Value::from("sleep 1"));
        Value::Object(object)
    })
}

fn check_pipeline(body: &[u8]) {
    let Ok(raw) = parse_app(body) else { return };
    let Ok(app) = normalize(raw, &PathId::root()) else { return };
    let again = normalize(app.clone(), &PathId::root()).expect("a normalized definition stays valid");
    assert_eq!(again, app, "normalization is idempotent");
    let json = app_json(&app, &AppExtras::default());
    let reread = parse_app(&serde_json::to_vec(&json).expect("serializes")).expect("API output parses");
    let mut renormalized = normalize(reread, &PathId::root()).expect("API output validates");
    renormalized.version_info = app.version_info;
    assert_eq!(renormalized, app, "API output reads back as the same definition");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn random_json_apps(value in app_like()) {
        check_pipeline(&serde_json::to_vec(&value).expect("serializes"));
    }

    #[test]
    fn random_json_documents(value in json_value()) {
        check_pipeline(&serde_json::to_vec(&value).expect("serializes"));
        let body = serde_json::to_vec(&value).expect("serializes");
        if let Ok(update) = parse_app_update(&body) {
            let merged = apply_update(&AppDefinition::with_id("/fuzz"), &update);
            let _ = normalize(merged, &PathId::root());
            let _ = update.normalize(&PathId::root());
        }
    }

    #[test]
    fn random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = parse_app(&bytes);
        let _ = parse_app_update(&bytes);
    }

    #[test]
    fn random_strings(s in "\\PC{0,40}") {
        let _ = LabelSelector::parse(&s);
        let _ = parse_timestamp(&s);
        let _ = InstanceId::parse(&s);
        if let Ok(id) = TaskId::parse(&s) {
            prop_assert_eq!(TaskId::parse(&id.to_string()), Ok(id));
        }
        let path = PathId::parse(&s);
        prop_assert_eq!(PathId::parse(&path.to_string()), path);
    }

    #[test]
    fn selector_like_strings(s in "[a-z=!(), \\\\]{0,24}") {
        let _ = LabelSelector::parse(&s);
    }
}
