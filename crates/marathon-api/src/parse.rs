//! Reading request bodies: JSON syntax first, then a type check that reports wrong JSON types with
//! play-json's error codes and paths (as upstream's RAML-generated readers do), then serde.
//!
//! The type check walks the JSON against a schema of the fields this crate knows. `null` in an
//! optional field means "absent" (play-json's `validateOpt`). Integral floats (`1.0`) are accepted
//! for integer fields. Unknown fields are ignored.

use crate::app::AppDefinition;
use crate::error::{ParseError, Violations};
use crate::update::AppUpdate;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

pub(crate) const EXPECTED_STRING: &str = "error.expected.jsstring";
const EXPECTED_NUMBER: &str = "error.expected.jsnumber";
const EXPECTED_INT: &str = "error.expected.int";
const EXPECTED_LONG: &str = "error.expected.long";
const EXPECTED_BOOLEAN: &str = "error.expected.jsboolean";
const EXPECTED_ARRAY: &str = "error.expected.jsarray";
const EXPECTED_OBJECT: &str = "error.expected.jsobject";
const EXPECTED_DATE: &str = "error.expected.date.isoformat";
const UNKNOWN_ENUM: &str = "error.unknown.enum.literal";
const PATH_MISSING: &str = "error.path.missing";
/// RAML's `MesosCommand` is a union of a shell and an argv command.
const COMMAND_SHELL_OR_ARGV: &str = "specify either `shell` or `argv`, never both";

#[derive(Clone, Copy)]
pub(crate) enum Ty {
    /// Any object; its fields are not checked.
    Object,
    Str,
    Num,
    /// 32-bit integer.
    Int,
    /// 64-bit integer.
    Long,
    Bool,
    Timestamp,
    Enum(&'static [&'static str]),
    Arr(&'static Ty),
    /// Object with arbitrary keys.
    Map(&'static Ty),
    Obj(&'static [Field]),
    /// A string or `{"secret": "<name>"}`.
    EnvValue,
    /// `"disabled"` or `{inactiveAfterSeconds, expungeAfterSeconds}`.
    Unreachable,
    /// A number or a string (`"unlimited"`).
    ResourceLimit,
    /// A pod's Mesos command: `{"shell": "..."}` or `{"argv": ["..."]}`, never both.
    Command,
}

#[derive(Clone, Copy)]
pub(crate) struct Field {
    name: &'static str,
    ty: Ty,
    required: bool,
}

pub(crate) const fn opt(name: &'static str, ty: Ty) -> Field {
    Field { name, ty, required: false }
}

pub(crate) const fn req(name: &'static str, ty: Ty) -> Field {
    Field { name, ty, required: true }
}

pub(crate) const LABELS: Ty = Ty::Map(&Ty::Str);
const NETWORK_PROTOCOLS: &[&str] = &["tcp", "udp", "udp,tcp"];
const PORT_DEFINITION: &[Field] =
    &[opt("port", Ty::Int), opt("protocol", Ty::Enum(NETWORK_PROTOCOLS)), opt("name", Ty::Str), opt("labels", LABELS)];
pub(crate) const NETWORK: &[Field] =
    &[opt("mode", Ty::Enum(&["container", "container/bridge", "host"])), opt("name", Ty::Str), opt("labels", LABELS)];
const PORT_MAPPING: &[Field] = &[
    opt("containerPort", Ty::Int),
    opt("hostPort", Ty::Int),
    opt("servicePort", Ty::Int),
    opt("protocol", Ty::Enum(NETWORK_PROTOCOLS)),
    opt("name", Ty::Str),
    opt("labels", LABELS),
    opt("networkNames", Ty::Arr(&Ty::Str)),
];
const DOCKER_PARAMETER: &[Field] = &[req("key", Ty::Str), req("value", Ty::Str)];
const DOCKER: &[Field] = &[
    req("image", Ty::Str),
    opt("forcePullImage", Ty::Bool),
    opt("privileged", Ty::Bool),
    opt("parameters", Ty::Arr(&Ty::Obj(DOCKER_PARAMETER))),
    opt("network", Ty::Enum(&["BRIDGE", "HOST", "USER", "NONE"])),
    opt("portMappings", Ty::Arr(&Ty::Obj(PORT_MAPPING))),
    opt("pullConfig", Ty::Object),
    opt("credential", Ty::Object),
];
const CONTAINER: &[Field] = &[
    opt("type", Ty::Enum(&["DOCKER", "MESOS"])),
    opt("docker", Ty::Obj(DOCKER)),
    opt("portMappings", Ty::Arr(&Ty::Obj(PORT_MAPPING))),
    opt("volumes", Ty::Arr(&Ty::Object)),
    opt("linuxInfo", Ty::Object),
];
const IP_DISCOVERY_PORT: &[Field] = &[
    opt("number", Ty::Int),
    req("name", Ty::Str),
    opt("protocol", Ty::Enum(NETWORK_PROTOCOLS)),
    opt("labels", LABELS),
];
const IP_ADDRESS: &[Field] = &[
    opt("networkName", Ty::Str),
    opt("groups", Ty::Arr(&Ty::Str)),
    opt("labels", LABELS),
    opt("discovery", Ty::Obj(&[opt("ports", Ty::Arr(&Ty::Obj(IP_DISCOVERY_PORT)))])),
];
pub(crate) const ARTIFACT: &[Field] = &[
    req("uri", Ty::Str),
    opt("extract", Ty::Bool),
    opt("executable", Ty::Bool),
    opt("cache", Ty::Bool),
    opt("destPath", Ty::Str),
];
const HEALTH_CHECK: &[Field] = &[
    opt("protocol", Ty::Enum(&["HTTP", "HTTPS", "TCP", "COMMAND", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP"])),
    opt("command", Ty::Obj(&[req("value", Ty::Str)])),
    opt("path", Ty::Str),
    opt("port", Ty::Int),
    opt("portIndex", Ty::Int),
    opt("gracePeriodSeconds", Ty::Int),
    opt("intervalSeconds", Ty::Int),
    opt("timeoutSeconds", Ty::Int),
    opt("maxConsecutiveFailures", Ty::Int),
    opt("delaySeconds", Ty::Int),
    opt("ignoreHttp1xx", Ty::Bool),
    opt("ipProtocol", Ty::Enum(&["IPv4", "IPv6"])),
];
const READINESS_CHECK: &[Field] = &[
    opt("name", Ty::Str),
    opt("protocol", Ty::Enum(&["HTTP", "HTTPS"])),
    opt("path", Ty::Str),
    opt("portName", Ty::Str),
    opt("intervalSeconds", Ty::Int),
    opt("timeoutSeconds", Ty::Int),
    opt("httpStatusCodesForReady", Ty::Arr(&Ty::Int)),
    opt("preserveLastResponse", Ty::Bool),
];
pub(crate) const UPGRADE_STRATEGY: &[Field] =
    &[opt("minimumHealthCapacity", Ty::Num), opt("maximumOverCapacity", Ty::Num)];
const UNREACHABLE_ENABLED: &[Field] = &[opt("inactiveAfterSeconds", Ty::Long), opt("expungeAfterSeconds", Ty::Long)];
const RESIDENCY: &[Field] = &[
    opt("relaunchEscalationTimeoutSeconds", Ty::Long),
    opt("taskLostBehavior", Ty::Enum(&["WAIT_FOREVER", "RELAUNCH_AFTER_TIMEOUT"])),
];
const VERSION_INFO: &[Field] = &[req("lastScalingAt", Ty::Timestamp), req("lastConfigChangeAt", Ty::Timestamp)];
pub(crate) const RESOURCE_LIMITS: &[Field] = &[opt("cpus", Ty::ResourceLimit), opt("mem", Ty::ResourceLimit)];
pub(crate) const EXECUTOR_RESOURCES: &[Field] = &[opt("cpus", Ty::Num), opt("mem", Ty::Num), opt("disk", Ty::Num)];

/// Every field of App and AppUpdate except `id`.
const APP_FIELDS: &[Field] = &[
    opt("cmd", Ty::Str),
    opt("args", Ty::Arr(&Ty::Str)),
    opt("user", Ty::Str),
    opt("instances", Ty::Int),
    opt("cpus", Ty::Num),
    opt("mem", Ty::Num),
    opt("disk", Ty::Num),
    opt("gpus", Ty::Int),
    opt("resourceLimits", Ty::Obj(RESOURCE_LIMITS)),
    opt("executor", Ty::Str),
    opt("executorResources", Ty::Obj(EXECUTOR_RESOURCES)),
    opt("env", Ty::Map(&Ty::EnvValue)),
    opt("secrets", Ty::Map(&Ty::Obj(&[req("source", Ty::Str)]))),
    opt("labels", LABELS),
    opt("constraints", Ty::Arr(&Ty::Arr(&Ty::Str))),
    opt("acceptedResourceRoles", Ty::Arr(&Ty::Str)),
    opt("role", Ty::Str),
    opt("ports", Ty::Arr(&Ty::Int)),
    opt("portDefinitions", Ty::Arr(&Ty::Obj(PORT_DEFINITION))),
    opt("requirePorts", Ty::Bool),
    opt("networks", Ty::Arr(&Ty::Obj(NETWORK))),
    opt("container", Ty::Obj(CONTAINER)),
    opt("ipAddress", Ty::Obj(IP_ADDRESS)),
    opt("fetch", Ty::Arr(&Ty::Obj(ARTIFACT))),
    opt("uris", Ty::Arr(&Ty::Str)),
    opt("healthChecks", Ty::Arr(&Ty::Obj(HEALTH_CHECK))),
    opt("check", Ty::Object),
    opt("readinessChecks", Ty::Arr(&Ty::Obj(READINESS_CHECK))),
    opt("dependencies", Ty::Arr(&Ty::Str)),
    opt("upgradeStrategy", Ty::Obj(UPGRADE_STRATEGY)),
    opt("backoffSeconds", Ty::Int),
    opt("backoffFactor", Ty::Num),
    opt("maxLaunchDelaySeconds", Ty::Int),
    opt("taskKillGracePeriodSeconds", Ty::Int),
    opt("unreachableStrategy", Ty::Unreachable),
    opt("killSelection", Ty::Enum(&["YOUNGEST_FIRST", "OLDEST_FIRST"])),
    opt("residency", Ty::Obj(RESIDENCY)),
    opt("tty", Ty::Bool),
    opt("version", Ty::Timestamp),
    opt("versionInfo", Ty::Obj(VERSION_INFO)),
];

/// Parses a `POST /v2/apps` body (an App; `id` required).
pub fn parse_app(body: &[u8]) -> Result<AppDefinition, ParseError> {
    AppDefinition::from_json(syntax(body)?)
}

/// Parses a `PUT`/`PATCH /v2/apps/{id}` body (an AppUpdate; every field optional).
pub fn parse_app_update(body: &[u8]) -> Result<AppUpdate, ParseError> {
    AppUpdate::from_json(syntax(body)?)
}

/// Parses a `PUT`/`PATCH /v2/apps` body: an array of AppUpdates (paths are prefixed with the
/// index, `(0)/cmd`).
pub fn parse_app_updates(body: &[u8]) -> Result<Vec<AppUpdate>, ParseError> {
    let mut value = syntax(body)?;
    let mut v = Violations::default();
    match value.as_array_mut() {
        None => v.add("", EXPECTED_ARRAY),
        Some(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                check_app_object(item, &format!("({i})"), false, &mut v);
            }
        }
    }
    finish(value, v)
}

impl AppDefinition {
    /// Reads an App from JSON already parsed (e.g. an element of a group's `apps`).
    pub fn from_json(mut value: Json) -> Result<Self, ParseError> {
        let mut v = Violations::default();
        check_app_object(&mut value, "", true, &mut v);
        finish(value, v)
    }
}

impl AppUpdate {
    /// Reads an AppUpdate from JSON already parsed.
    pub fn from_json(mut value: Json) -> Result<Self, ParseError> {
        let mut v = Violations::default();
        check_app_object(&mut value, "", false, &mut v);
        finish(value, v)
    }
}

pub(crate) fn syntax(body: &[u8]) -> Result<Json, ParseError> {
    serde_json::from_slice(body).map_err(|e| ParseError::Syntax(e.to_string()))
}

pub(crate) fn finish<T: DeserializeOwned>(value: Json, v: Violations) -> Result<T, ParseError> {
    if !v.is_empty() {
        return Err(ParseError::Types(v.into_details()));
    }
    // The schema mirrors the structs, so this only fails if they disagree; report it as a type
    // error at the root rather than panicking.
    serde_json::from_value(value)
        .map_err(|e| ParseError::Types(vec![crate::Violation { path: "/".to_string(), errors: vec![e.to_string()] }]))
}

fn check_app_object(value: &mut Json, path: &str, id_required: bool, v: &mut Violations) {
    if !value.is_object() {
        v.add(path, EXPECTED_OBJECT);
        return;
    }
    let id = if id_required { req("id", Ty::Str) } else { opt("id", Ty::Str) };
    check_fields(value, std::slice::from_ref(&id), path, v);
    check_fields(value, APP_FIELDS, path, v);
}

pub(crate) fn check_fields(value: &mut Json, fields: &[Field], path: &str, v: &mut Violations) {
    let Some(object) = value.as_object_mut() else {
        v.add(path, EXPECTED_OBJECT);
        return;
    };
    for field in fields {
        let field_path = format!("{path}/{}", field.name);
        match object.get_mut(field.name) {
            None if field.required => v.add(&field_path, PATH_MISSING),
            None => {}
            Some(Json::Null) if !field.required => {
                object.remove(field.name);
            }
            Some(item) => check(item, field.ty, &field_path, v),
        }
    }
}

fn check(value: &mut Json, ty: Ty, path: &str, v: &mut Violations) {
    match ty {
        Ty::Object => {
            if !value.is_object() {
                v.add(path, EXPECTED_OBJECT);
            }
        }
        Ty::Str => {
            if !value.is_string() {
                v.add(path, EXPECTED_STRING);
            }
        }
        Ty::Num => {
            if !value.is_number() {
                v.add(path, EXPECTED_NUMBER);
            }
        }
        Ty::Int => check_integer(value, i64::from(i32::MIN), i64::from(i32::MAX), EXPECTED_INT, path, v),
        Ty::Long => check_integer(value, i64::MIN, i64::MAX, EXPECTED_LONG, path, v),
        Ty::Bool => {
            if !value.is_boolean() {
                v.add(path, EXPECTED_BOOLEAN);
            }
        }
        Ty::Timestamp => match value.as_str() {
            None => v.add(path, EXPECTED_STRING),
            Some(s) if crate::time::parse_timestamp(s).is_none() => v.add(path, EXPECTED_DATE),
            Some(_) => {}
        },
        Ty::Enum(literals) => match value.as_str() {
            None => v.add(path, EXPECTED_STRING),
            Some(s) if !literals.contains(&s) => v.add(path, UNKNOWN_ENUM),
            Some(_) => {}
        },
        Ty::Arr(item) => match value.as_array_mut() {
            None => v.add(path, EXPECTED_ARRAY),
            Some(items) => {
                for (i, element) in items.iter_mut().enumerate() {
                    check(element, *item, &format!("{path}({i})"), v);
                }
            }
        },
        Ty::Map(item) => match value.as_object_mut() {
            None => v.add(path, EXPECTED_OBJECT),
            Some(entries) => {
                for (key, element) in entries.iter_mut() {
                    check(element, *item, &format!("{path}/{key}"), v);
                }
            }
        },
        Ty::Obj(fields) => check_fields(value, fields, path, v),
        Ty::EnvValue => match value {
            Json::String(_) => {}
            Json::Object(_) => check_fields(value, &[req("secret", Ty::Str)], path, v),
            _ => v.add(path, EXPECTED_STRING),
        },
        Ty::Unreachable => match value {
            Json::String(s) if s == "disabled" => {}
            Json::String(_) => v.add(path, UNKNOWN_ENUM),
            Json::Object(_) => check_fields(value, UNREACHABLE_ENABLED, path, v),
            _ => v.add(path, EXPECTED_OBJECT),
        },
        Ty::ResourceLimit => {
            if !value.is_number() && !value.is_string() {
                v.add(path, EXPECTED_NUMBER);
            }
        }
        Ty::Command => {
            let present = |key: &str| value.get(key).is_some_and(|f| !f.is_null());
            match (value.is_object(), present("shell"), present("argv")) {
                (false, _, _) => v.add(path, EXPECTED_OBJECT),
                (true, true, true) => v.add(path, COMMAND_SHELL_OR_ARGV),
                (true, false, false) => v.add(&format!("{path}/shell"), PATH_MISSING),
                (true, _, _) => check_fields(value, &[opt("shell", Ty::Str), opt("argv", Ty::Arr(&Ty::Str))], path, v),
            }
        }
    }
}

/// Accepts integers in `[min, max]`, also written as integral floats (rewritten to integers so
/// serde takes them).
fn check_integer(value: &mut Json, min: i64, max: i64, out_of_range: &str, path: &str, v: &mut Violations) {
    let Json::Number(n) = value else {
        v.add(path, EXPECTED_NUMBER);
        return;
    };
    let integral = n.as_i64().or_else(|| {
        n.as_f64().filter(|f| f.fract() == 0.0 && *f >= i64::MIN as f64 && *f < i64::MAX as f64).map(|f| f as i64)
    });
    match integral {
        Some(i) if (min..=max).contains(&i) => *value = Json::from(i),
        _ => v.add(path, out_of_range),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Violation;
    use serde_json::json;

    fn types(body: &str) -> Vec<Violation> {
        match parse_app(body.as_bytes()) {
            Err(ParseError::Types(details)) => details,
            other => panic!("expected type errors for {body}, got {other:?}"),
        }
    }

    fn violation(path: &str, error: &str) -> Violation {
        Violation { path: path.to_string(), errors: vec![error.to_string()] }
    }

    #[test]
    fn syntax_errors_are_distinguished() {
        for body in [r#"{"id":"/test""#, "", "nope", "{]"] {
            match parse_app(body.as_bytes()) {
                Err(e @ ParseError::Syntax(_)) => assert_eq!(e.status(), 400),
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn type_errors_use_play_json_codes_and_paths() {
        let cases: &[(&str, Violation)] = &[
            (r#"{"id":123}"#, violation("/id", "error.expected.jsstring")),
            (r#"{"cmd":"x"}"#, violation("/id", "error.path.missing")),
            (r#"{"id":null}"#, violation("/id", "error.expected.jsstring")),
            ("[]", violation("/", "error.expected.jsobject")),
            (r#"{"id":"a","cpus":"1"}"#, violation("/cpus", "error.expected.jsnumber")),
            (r#"{"id":"a","instances":1.5}"#, violation("/instances", "error.expected.int")),
            (r#"{"id":"a","instances":3000000000}"#, violation("/instances", "error.expected.int")),
            (r#"{"id":"a","requirePorts":"yes"}"#, violation("/requirePorts", "error.expected.jsboolean")),
            (r#"{"id":"a","args":"x"}"#, violation("/args", "error.expected.jsarray")),
            (r#"{"id":"a","args":["x",1]}"#, violation("/args(1)", "error.expected.jsstring")),
            (r#"{"id":"a","labels":{"k":1}}"#, violation("/labels/k", "error.expected.jsstring")),
            (r#"{"id":"a","killSelection":"RANDOM"}"#, violation("/killSelection", "error.unknown.enum.literal")),
            (r#"{"id":"a","killSelection":1}"#, violation("/killSelection", "error.expected.jsstring")),
            (
                r#"{"id":"a","healthChecks":[{"portIndex":"0"}]}"#,
                violation("/healthChecks(0)/portIndex", "error.expected.jsnumber"),
            ),
            (r#"{"id":"a","container":{"docker":{}}}"#, violation("/container/docker/image", "error.path.missing")),
            (
                r#"{"id":"a","unreachableStrategy":"off"}"#,
                violation("/unreachableStrategy", "error.unknown.enum.literal"),
            ),
            (
                r#"{"id":"a","unreachableStrategy":{"inactiveAfterSeconds":"1"}}"#,
                violation("/unreachableStrategy/inactiveAfterSeconds", "error.expected.jsnumber"),
            ),
            (r#"{"id":"a","env":{"A":1}}"#, violation("/env/A", "error.expected.jsstring")),
            (r#"{"id":"a","env":{"A":{"secret":2}}}"#, violation("/env/A/secret", "error.expected.jsstring")),
            (r#"{"id":"a","version":"yesterday"}"#, violation("/version", "error.expected.date.isoformat")),
            (
                r#"{"id":"a","resourceLimits":{"cpus":true}}"#,
                violation("/resourceLimits/cpus", "error.expected.jsnumber"),
            ),
            (r#"{"id":"a","constraints":[["a",1]]}"#, violation("/constraints(0)(1)", "error.expected.jsstring")),
        ];
        for (body, expected) in cases {
            assert_eq!(types(body), vec![expected.clone()], "{body}");
        }
    }

    #[test]
    fn several_type_errors_are_reported_together() {
        let details = types(r#"{"id":1,"cpus":"x","mem":[]}"#);
        let paths: Vec<&str> = details.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["/id", "/cpus", "/mem"]);
    }

    #[test]
    fn nulls_are_absent_and_integral_floats_are_integers() {
        let app =
            parse_app(br#"{"id":"a","cmd":null,"args":null,"instances":2.0,"portDefinitions":null}"#).expect("valid");
        assert_eq!(app.cmd, None);
        assert!(app.args.is_empty());
        assert_eq!(app.instances, 2);
        assert_eq!(app.port_definitions, None);
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let app = parse_app(br#"{"id":"a","cmd":"x","whatever":{"deep":[1]},"tasksRunning":3}"#).expect("valid");
        assert_eq!(app.id, "a");
    }

    #[test]
    fn defaults_are_applied_by_parsing() {
        let app = parse_app(br#"{"id":"a"}"#).expect("valid");
        assert_eq!(app, AppDefinition::with_id("a"));
    }

    #[test]
    fn updates_have_no_required_id_and_arrays_have_indexed_paths() {
        let update = parse_app_update(br#"{"instances":3}"#).expect("valid");
        assert_eq!(update.instances, Some(3));
        match parse_app_updates(br#"[{"id":"/a"},{"cmd":5}]"#) {
            Err(ParseError::Types(details)) => {
                assert_eq!(details, vec![violation("(1)/cmd", "error.expected.jsstring")])
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(parse_app_updates(br#"[{"id":"/a","cmd":"x"}]"#).expect("valid").len(), 1);
        assert!(matches!(parse_app_updates(b"{}"), Err(ParseError::Types(_))));
    }

    #[test]
    fn from_json_works_on_values() {
        let app = AppDefinition::from_json(json!({"id": "x", "cmd": "sleep 1"})).expect("valid");
        assert_eq!(app.cmd.as_deref(), Some("sleep 1"));
    }
}
