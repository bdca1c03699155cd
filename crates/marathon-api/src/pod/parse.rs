//! Reading a pod body: JSON syntax, then the type check of [`crate::parse`] against the schema
//! of upstream's RAML `Pod` (play-json's error codes and paths: `/containers(0)/resources/cpus`),
//! then serde. Unknown fields are ignored, as for apps.

use super::Pod;
use crate::error::{ParseError, Violations};
use crate::parse::{
    ARTIFACT, EXECUTOR_RESOURCES, Field, LABELS, NETWORK, RESOURCE_LIMITS, Ty, UPGRADE_STRATEGY, check_fields, finish,
    opt, req, syntax,
};
use serde_json::Value as Json;

const CONSTRAINT: &[Field] = &[
    req("fieldName", Ty::Str),
    req("operator", Ty::Enum(&["UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "UNLIKE", "MAX_PER", "IS"])),
    opt("value", Ty::Str),
];
const SCHEDULING: &[Field] = &[
    opt("backoff", Ty::Obj(&[opt("backoff", Ty::Num), opt("backoffFactor", Ty::Num), opt("maxLaunchDelay", Ty::Num)])),
    opt("upgrade", Ty::Obj(UPGRADE_STRATEGY)),
    opt(
        "placement",
        Ty::Obj(&[opt("constraints", Ty::Arr(&Ty::Obj(CONSTRAINT))), opt("acceptedResourceRoles", Ty::Arr(&Ty::Str))]),
    ),
    opt("killSelection", Ty::Enum(&["YOUNGEST_FIRST", "OLDEST_FIRST"])),
    opt("unreachableStrategy", Ty::Unreachable),
];
const SCALING: &[Field] = &[opt("kind", Ty::Enum(&["fixed"])), opt("instances", Ty::Int), opt("maxInstances", Ty::Int)];
const RESOURCES: &[Field] = &[opt("cpus", Ty::Num), opt("mem", Ty::Num), opt("disk", Ty::Num), opt("gpus", Ty::Int)];
const ENDPOINT: &[Field] = &[
    req("name", Ty::Str),
    opt("containerPort", Ty::Int),
    opt("hostPort", Ty::Int),
    opt("protocol", Ty::Arr(&Ty::Str)),
    opt("labels", LABELS),
    opt("networkNames", Ty::Arr(&Ty::Str)),
];
const IMAGE: &[Field] = &[
    req("kind", Ty::Enum(&["DOCKER"])),
    req("id", Ty::Str),
    opt("pullConfig", Ty::Obj(&[req("secret", Ty::Str)])),
    opt("forcePull", Ty::Bool),
    opt("labels", LABELS),
];
const HEALTH_CHECK: &[Field] = &[
    opt(
        "http",
        Ty::Obj(&[req("endpoint", Ty::Str), opt("path", Ty::Str), opt("scheme", Ty::Enum(&["HTTP", "HTTPS"]))]),
    ),
    opt("tcp", Ty::Obj(&[req("endpoint", Ty::Str)])),
    opt("exec", Ty::Obj(&[req("command", Ty::Command)])),
    opt("gracePeriodSeconds", Ty::Int),
    opt("intervalSeconds", Ty::Int),
    opt("maxConsecutiveFailures", Ty::Int),
    opt("timeoutSeconds", Ty::Int),
    opt("delaySeconds", Ty::Int),
];
const VOLUME_MOUNT: &[Field] = &[req("name", Ty::Str), req("mountPath", Ty::Str), opt("readOnly", Ty::Bool)];
const CONTAINER: &[Field] = &[
    req("name", Ty::Str),
    opt("exec", Ty::Obj(&[req("command", Ty::Command), opt("overrideEntrypoint", Ty::Bool)])),
    req("resources", Ty::Obj(RESOURCES)),
    opt("resourceLimits", Ty::Obj(RESOURCE_LIMITS)),
    opt("endpoints", Ty::Arr(&Ty::Obj(ENDPOINT))),
    opt("image", Ty::Obj(IMAGE)),
    opt("environment", Ty::Map(&Ty::EnvValue)),
    opt("user", Ty::Str),
    opt("healthCheck", Ty::Obj(HEALTH_CHECK)),
    opt("check", Ty::Object),
    opt("volumeMounts", Ty::Arr(&Ty::Obj(VOLUME_MOUNT))),
    opt("artifacts", Ty::Arr(&Ty::Obj(ARTIFACT))),
    opt("labels", LABELS),
    opt("lifecycle", Ty::Obj(&[opt("killGracePeriodSeconds", Ty::Num)])),
    opt("linuxInfo", Ty::Object),
    opt("tty", Ty::Bool),
];
const POD: &[Field] = &[
    req("id", Ty::Str),
    opt("labels", LABELS),
    opt("version", Ty::Timestamp),
    opt("user", Ty::Str),
    opt("environment", Ty::Map(&Ty::EnvValue)),
    req("containers", Ty::Arr(&Ty::Obj(CONTAINER))),
    opt("secrets", Ty::Map(&Ty::Obj(&[req("source", Ty::Str)]))),
    opt("volumes", Ty::Arr(&Ty::Object)),
    opt("networks", Ty::Arr(&Ty::Obj(NETWORK))),
    opt("scaling", Ty::Obj(SCALING)),
    opt("scheduling", Ty::Obj(SCHEDULING)),
    opt("executorResources", Ty::Obj(EXECUTOR_RESOURCES)),
    opt("role", Ty::Str),
    opt("linuxInfo", Ty::Object),
    opt("legacySharedCgroups", Ty::Bool),
];

/// Parses a `POST /v2/pods` or `PUT /v2/pods/{id}` body (a Pod: `id` and `containers`
/// required). Errors are the apps' ([`ParseError`]): 400 for syntax, 422 for types.
pub fn parse_pod(body: &[u8]) -> Result<Pod, ParseError> {
    Pod::from_json(syntax(body)?)
}

impl Pod {
    /// Reads a Pod from JSON already parsed (e.g. an element of a group's `pods`).
    pub fn from_json(mut value: Json) -> Result<Self, ParseError> {
        let mut v = Violations::default();
        check_fields(&mut value, POD, "", &mut v);
        finish(value, v)
    }
}
