use super::*;
use crate::{normalize, parse_app};
use chrono::TimeZone;

// Keys marathon-python 0.13's strict models accept (ecosystem.md §3.3); any other key in a
// response makes its `from_json` raise.
const MARATHON_APP: &[&str] = &[
    "acceptedResourceRoles",
    "args",
    "backoffFactor",
    "backoffSeconds",
    "cmd",
    "constraints",
    "container",
    "cpus",
    "dependencies",
    "deployments",
    "disk",
    "env",
    "executor",
    "healthChecks",
    "id",
    "role",
    "instances",
    "killSelection",
    "labels",
    "lastTaskFailure",
    "maxLaunchDelaySeconds",
    "mem",
    "ports",
    "requirePorts",
    "storeUrls",
    "taskRateLimit",
    "tasks",
    "tasksRunning",
    "tasksStaged",
    "tasksHealthy",
    "taskKillGracePeriodSeconds",
    "tasksUnhealthy",
    "upgradeStrategy",
    "unreachableStrategy",
    "uris",
    "user",
    "version",
    "versionInfo",
    "ipAddress",
    "fetch",
    "taskStats",
    "readinessChecks",
    "readinessCheckResults",
    "secrets",
    "portDefinitions",
    "residency",
    "gpus",
    "networks",
];
const VERSION_INFO: &[&str] = &["lastScalingAt", "lastConfigChangeAt"];
const TASK_FAILURE: &[&str] =
    &["appId", "host", "message", "taskId", "instanceId", "slaveId", "state", "timestamp", "version"];
const TASK_STATS: &[&str] = &["startedAfterLastScaling", "withLatestConfig", "withOutdatedConfig", "totalSummary"];
const UPGRADE_STRATEGY: &[&str] = &["maximumOverCapacity", "minimumHealthCapacity"];
const UNREACHABLE_STRATEGY: &[&str] = &[
    "unreachableInactiveAfterSeconds",
    "unreachableExpungeAfterSeconds",
    "inactiveAfterSeconds",
    "expungeAfterSeconds",
];
const PORT_DEFINITION: &[&str] = &["port", "protocol", "name", "labels"];
const READINESS_CHECK: &[&str] = &[
    "name",
    "protocol",
    "path",
    "portName",
    "intervalSeconds",
    "httpStatusCodesForReady",
    "preserveLastResponse",
    "timeoutSeconds",
];
const RESIDENCY: &[&str] = &["relaunchEscalationTimeoutSeconds", "taskLostBehavior"];
const SECRET: &[&str] = &["source"];
const MARATHON_TASK: &[&str] = &[
    "appId",
    "healthCheckResults",
    "host",
    "id",
    "ports",
    "servicePorts",
    "slaveId",
    "stagedAt",
    "startedAt",
    "version",
    "ipAddresses",
    "state",
    "localVolumes",
    "region",
    "zone",
    "role",
];
const HEALTH_CHECK_RESULT: &[&str] = &[
    "alive",
    "consecutiveFailures",
    "firstSuccess",
    "lastFailure",
    "lastSuccess",
    "taskId",
    "lastFailureCause",
    "instanceId",
];
const IP_ADDRESS: &[&str] = &["ipAddress", "protocol"];
const QUEUE_ITEM: &[&str] =
    &["app", "overdue", "count", "delay", "since", "processedOffersSummary", "lastUnusedOffers"];
const QUEUE_DELAY: &[&str] = &["timeLeftSeconds", "overdue"];
const CONTAINER: &[&str] = &["docker", "type", "portMappings", "volumes"];
const PORT_MAPPING: &[&str] = &["name", "containerPort", "hostPort", "servicePort", "protocol", "labels"];
const VOLUME: &[&str] = &["containerPath", "hostPath", "mode", "persistent", "external"];
const DEPLOYMENT: &[&str] =
    &["affectedApps", "currentActions", "currentStep", "id", "steps", "totalSteps", "version", "affectedPods"];

fn keys_within(value: &Json, allowed: &[&str], what: &str) {
    let object = value.as_object().unwrap_or_else(|| panic!("{what} is not an object: {value}"));
    for key in object.keys() {
        assert!(allowed.contains(&key.as_str()), "{what}: key {key:?} is not accepted by marathon-python");
    }
}

fn each_within(value: &Json, allowed: &[&str], what: &str) {
    for item in value.as_array().unwrap_or_else(|| panic!("{what} is not an array: {value}")) {
        keys_within(item, allowed, what);
    }
}

fn ts(ms: i64) -> Timestamp {
    Utc.timestamp_millis_opt(ms).single().expect("valid millis")
}

use chrono::Utc;

fn normalized(body: &str) -> AppDefinition {
    let raw = parse_app(body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"));
    normalize(raw, &PathId::root()).unwrap_or_else(|e| panic!("{body}: {e}"))
}

fn task() -> TaskJson {
    TaskJson {
        id: "web.instance-7f0e2b1a-7a71-11eb-9d6b-0242ac110002._app.1".into(),
        app_id: PathId::parse("/web"),
        host: "agent1".into(),
        ip_addresses: vec![TaskIpAddress { ip_address: "10.0.0.11".into(), protocol: "IPv4".into() }],
        ports: vec![31002],
        service_ports: Some(vec![10000]),
        slave_id: Some("m-S0".into()),
        state: "TASK_RUNNING".into(),
        staged_at: Some(ts(1_000)),
        started_at: Some(ts(2_500)),
        version: Some(ts(500)),
        health_check_results: Some(vec![HealthCheckResult {
            alive: true,
            consecutive_failures: 0,
            first_success: Some(ts(3_000)),
            last_failure: None,
            last_success: Some(ts(4_000)),
            last_failure_cause: None,
            instance_id: "web.instance-7f0e2b1a-7a71-11eb-9d6b-0242ac110002".into(),
        }]),
        local_volumes: vec![],
        region: Some("r1".into()),
        zone: None,
        role: "*".into(),
    }
}

fn full_extras() -> AppExtras {
    let stats = TaskStats {
        counts: TaskCounts { staged: 0, running: 1, healthy: 1, unhealthy: 0 },
        life_time: Some(TaskLifeTime { average_seconds: 1.5, median_seconds: 1.0 }),
    };
    AppExtras {
        counts: Some(TaskCounts { staged: 1, running: 2, healthy: 1, unhealthy: 1 }),
        deployments: Some(vec!["5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43".into()]),
        tasks: Some(vec![task()]),
        last_task_failure: Some(TaskFailure {
            app_id: PathId::parse("/web"),
            host: "agent1".into(),
            message: "Command exited with status 1".into(),
            state: "TASK_FAILED".into(),
            task_id: "web.instance-7f0e2b1a-7a71-11eb-9d6b-0242ac110002._app.1".into(),
            timestamp: ts(5_000),
            version: ts(500),
            slave_id: Some("m-S0".into()),
        }),
        task_stats: Some(TaskStatsByVersion {
            total_summary: Some(stats),
            with_latest_config: Some(stats),
            ..Default::default()
        }),
        readiness_check_results: Some(vec![ReadinessCheckResult {
            name: "readinessCheck".into(),
            task_id: "t".into(),
            ready: false,
            last_response: Some(ReadinessCheckResponse {
                status: 500,
                content_type: "text/plain".into(),
                body: "no".into(),
            }),
        }]),
    }
}

/// Definitions covering every part of the app JSON marathon-python parses.
fn client_visible_apps() -> Vec<AppDefinition> {
    let mut apps = vec![
        normalized(
            r#"{"id":"web","cmd":"sleep 1","ports":[0,0],"uris":["http://x/a.tgz"],"user":"nobody",
            "env":{"A":"b"},"labels":{"l":"v"},"constraints":[["hostname","unique"]],"acceptedResourceRoles":["*"],
            "healthChecks":[{"protocol":"HTTP"},{"command":{"value":"true"}}],"dependencies":["/db"],
            "taskKillGracePeriodSeconds":5,"fetch":null}"#,
        ),
        normalized(
            r#"{"id":"legacy","cmd":"sleep 1","container":{"type":"DOCKER","docker":{"image":"busybox",
            "network":"BRIDGE","portMappings":[{"containerPort":80,"name":"http","labels":{"a":"b"}}],
            "parameters":[{"key":"label","value":"x=y"}],"privileged":false,"forcePullImage":true},
            "volumes":[{"containerPath":"/c","hostPath":"/h","mode":"RO"}]},
            "readinessChecks":[{"portName":"http"}],"unreachableStrategy":"disabled"}"#,
        ),
        normalized(
            r#"{"id":"db","cmd":"sleep 1","role":"slave_public","container":{"type":"MESOS","volumes":[
            {"containerPath":"data","mode":"RW","persistent":{"size":10}}]}}"#,
        ),
        normalized(r#"{"id":"cn","cmd":"sleep 1","networks":[{"mode":"container","name":"dcos"}]}"#),
    ];
    let mut with_version = apps[0].clone();
    with_version.version = Some(ts(1_000));
    with_version.version_info = Some(VersionInfo { last_scaling_at: ts(1_000), last_config_change_at: ts(900) });
    apps.push(with_version);
    apps
}

fn check_app_keys(app: &Json) {
    keys_within(app, MARATHON_APP, "app");
    let get = |k: &str| app.get(k);
    if let Some(v) = get("versionInfo") {
        keys_within(v, VERSION_INFO, "versionInfo");
    }
    keys_within(&app["upgradeStrategy"], UPGRADE_STRATEGY, "upgradeStrategy");
    if app["unreachableStrategy"] != "disabled" {
        keys_within(&app["unreachableStrategy"], UNREACHABLE_STRATEGY, "unreachableStrategy");
    }
    if let Some(v) = get("portDefinitions") {
        each_within(v, PORT_DEFINITION, "portDefinitions");
    }
    if let Some(v) = get("readinessChecks") {
        each_within(v, READINESS_CHECK, "readinessChecks");
    }
    if let Some(v) = get("residency") {
        keys_within(v, RESIDENCY, "residency");
    }
    if let Some(secrets) = get("secrets").and_then(Json::as_object) {
        for secret in secrets.values() {
            keys_within(secret, SECRET, "secret");
        }
    }
    if let Some(c) = get("container") {
        keys_within(c, CONTAINER, "container");
        if let Some(m) = c.get("portMappings") {
            each_within(m, PORT_MAPPING, "portMappings");
        }
        if let Some(vs) = c.get("volumes") {
            each_within(vs, VOLUME, "volumes");
        }
    }
    if let Some(tasks) = get("tasks") {
        for t in tasks.as_array().expect("tasks array") {
            check_task_keys(t);
        }
    }
    if let Some(v) = get("lastTaskFailure") {
        keys_within(v, TASK_FAILURE, "lastTaskFailure");
    }
    if let Some(v) = get("taskStats") {
        keys_within(v, TASK_STATS, "taskStats");
        for group in v.as_object().expect("object").values() {
            keys_within(group, &["stats"], "taskStats group");
            keys_within(&group["stats"], &["counts", "lifeTime"], "stats");
            keys_within(&group["stats"]["counts"], &["staged", "running", "healthy", "unhealthy"], "counts");
            keys_within(&group["stats"]["lifeTime"], &["averageSeconds", "medianSeconds"], "lifeTime");
        }
    }
    if let Some(v) = get("deployments") {
        each_within(v, DEPLOYMENT, "deployments");
    }
}

fn check_task_keys(task: &Json) {
    keys_within(task, MARATHON_TASK, "task");
    if let Some(v) = task.get("healthCheckResults") {
        each_within(v, HEALTH_CHECK_RESULT, "healthCheckResults");
    }
    each_within(&task["ipAddresses"], IP_ADDRESS, "ipAddresses");
}

#[test]
fn app_json_stays_within_marathon_python_keys() {
    for app in client_visible_apps() {
        check_app_keys(&app_json(&app, &AppExtras::default()));
        check_app_keys(&app_json(&app, &full_extras()));
    }
}

#[test]
fn fields_outside_the_client_lists_appear_only_when_set() {
    let plain = app_json(&normalized(r#"{"id":"a","cmd":"sleep 1"}"#), &AppExtras::default());
    for key in ["tty", "executorResources", "resourceLimits", "check", "residency", "args", "env", "secrets"] {
        assert!(plain.get(key).is_none(), "{key} written although unset");
    }
    let set = normalized(
        r#"{"id":"a","cmd":"sleep 1","tty":true,"executorResources":{},"resourceLimits":{"cpus":"unlimited"},
            "check":{"exec":{"command":{"shell":"true"}}}}"#,
    );
    let json = app_json(&set, &AppExtras::default());
    assert_eq!(json["tty"], true);
    assert_eq!(json["executorResources"], json!({"cpus": 0.1, "mem": 32.0, "disk": 10.0}));
    assert_eq!(json["resourceLimits"], json!({"cpus": "unlimited"}));
    assert_eq!(json["check"], json!({"exec": {"command": {"shell": "true"}}}));
}

#[test]
fn output_rules() {
    let host =
        app_json(&normalized(r#"{"id":"a","cmd":"sleep 1","ports":[0],"uris":["http://x/y"]}"#), &AppExtras::default());
    for key in ["ports", "uris", "ipAddress"] {
        assert!(host.get(key).is_none(), "{key}");
    }
    for key in ["upgradeStrategy", "unreachableStrategy", "killSelection", "role", "networks", "portDefinitions"] {
        assert!(host.get(key).is_some(), "{key}");
    }
    assert_eq!(host["fetch"], json!([{"uri": "http://x/y", "extract": false, "executable": false, "cache": false}]));

    let bridge = app_json(
        &normalized(
            r#"{"id":"b","cmd":"sleep 1","container":{"docker":{"image":"i","network":"BRIDGE","portMappings":[{"containerPort":80}]}}}"#,
        ),
        &AppExtras::default(),
    );
    assert!(bridge.get("portDefinitions").is_none());
    assert_eq!(bridge["networks"], json!([{"mode": "container/bridge"}]));
    assert_eq!(
        bridge["container"]["portMappings"],
        json!([{"containerPort": 80, "hostPort": 0, "servicePort": 0, "protocol": "tcp"}])
    );
    assert!(bridge["container"]["docker"].get("network").is_none());
    assert!(bridge["container"]["docker"].get("portMappings").is_none());

    // Unnormalized definitions still get the always-written fields.
    let raw = app_json(&AppDefinition::with_id("/raw"), &AppExtras::default());
    assert_eq!(raw["networks"], json!([{"mode": "host"}]));
    assert_eq!(raw["role"], "*");
    assert_eq!(raw["upgradeStrategy"], json!({"minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0}));
    assert_eq!(raw["unreachableStrategy"], json!({"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0}));
    assert_eq!(raw["portDefinitions"], json!([]));

    let resident = app_json(&client_visible_apps()[2], &AppExtras::default());
    assert_eq!(resident["unreachableStrategy"], "disabled");
    assert_eq!(
        resident["residency"],
        json!({"relaunchEscalationTimeoutSeconds": 3600, "taskLostBehavior": "WAIT_FOREVER"})
    );
}

#[test]
fn appendix_a_post_response() {
    let mut app =
        normalized(r#"{"id":"/web","cmd":"python3 -m http.server $PORT0","cpus":0.1,"mem":32,"instances":2}"#);
    // The server assigns service ports and the version.
    if let Some(defs) = app.port_definitions.as_mut() {
        defs[0].port = 10000;
    }
    app.version = Some(crate::parse_timestamp("2021-03-01T10:00:00.000Z").expect("valid"));
    let extras = AppExtras {
        counts: Some(TaskCounts::default()),
        deployments: Some(vec!["5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43".into()]),
        ..AppExtras::default()
    };
    let expected = json!({"id":"/web","backoffFactor":1.15,"backoffSeconds":1,"cmd":"python3 -m http.server $PORT0","cpus":0.1,"disk":0.0,
        "executor":"","instances":2,"labels":{},"maxLaunchDelaySeconds":300,"mem":32.0,"gpus":0,
        "networks":[{"mode":"host"}],"portDefinitions":[{"port":10000,"name":"default","protocol":"tcp"}],
        "requirePorts":false,"upgradeStrategy":{"maximumOverCapacity":1.0,"minimumHealthCapacity":1.0},
        "version":"2021-03-01T10:00:00.000Z","killSelection":"YOUNGEST_FIRST",
        "unreachableStrategy":{"inactiveAfterSeconds":0,"expungeAfterSeconds":0},"role":"*",
        "tasksStaged":0,"tasksRunning":0,"tasksHealthy":0,"tasksUnhealthy":0,
        "deployments":[{"id":"5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43"}]});
    assert_eq!(app_json(&app, &extras), expected);
}

#[test]
fn api_output_reads_back_as_the_same_definition() {
    for app in client_visible_apps() {
        let json = app_json(&app, &full_extras());
        let body = serde_json::to_vec(&json).expect("serializes");
        let mut again = normalized(std::str::from_utf8(&body).expect("utf8"));
        // versionInfo is server-managed and read back as given.
        again.version_info = app.version_info;
        assert_eq!(again, app, "{json}");
    }
}

#[test]
fn storage_form_round_trips() {
    for app in client_visible_apps() {
        let stored = serde_json::to_value(&app).expect("serializes");
        let back: AppDefinition = serde_json::from_value(stored.clone()).expect("deserializes");
        assert_eq!(back, app, "{stored}");
    }
}

#[test]
fn task_json_is_exact() {
    let json = to_json(&task());
    assert_eq!(
        json,
        json!({
            "id": "web.instance-7f0e2b1a-7a71-11eb-9d6b-0242ac110002._app.1",
            "appId": "/web",
            "host": "agent1",
            "ipAddresses": [{"ipAddress": "10.0.0.11", "protocol": "IPv4"}],
            "ports": [31002],
            "servicePorts": [10000],
            "slaveId": "m-S0",
            "state": "TASK_RUNNING",
            "stagedAt": "1970-01-01T00:00:01.000Z",
            "startedAt": "1970-01-01T00:00:02.500Z",
            "version": "1970-01-01T00:00:00.500Z",
            "healthCheckResults": [{"alive": true, "consecutiveFailures": 0,
                "firstSuccess": "1970-01-01T00:00:03.000Z", "lastSuccess": "1970-01-01T00:00:04.000Z",
                "instanceId": "web.instance-7f0e2b1a-7a71-11eb-9d6b-0242ac110002"}],
            "localVolumes": [],
            "region": "r1",
            "role": "*"
        })
    );
    check_task_keys(&json);
    let back: TaskJson = serde_json::from_value(json).expect("reads back");
    assert_eq!(back, task());
}

#[test]
fn queue_items() {
    let app = normalized(r#"{"id":"q","cmd":"sleep 1"}"#);
    let item = QueueItem {
        count: 5,
        delay: QueueDelay { time_left_seconds: 0, overdue: true },
        since: ts(1_000),
        processed_offers_summary: ProcessedOffersSummary {
            processed_offers_count: 3,
            unused_offers_count: 3,
            last_unused_offer_at: Some(ts(2_000)),
            last_used_offer_at: None,
            reject_summary_last_offers: Some(DeclinedOfferStep::funnel(3, |r| {
                u32::from(r == "UnfulfilledConstraint") * 3
            })),
            reject_summary_launch_attempt: None,
        },
        last_unused_offers: None,
    };
    let json = queue_item_json(&app, &item);
    keys_within(&json, QUEUE_ITEM, "queue item");
    keys_within(&json["delay"], QUEUE_DELAY, "delay");
    check_app_keys(&json["app"]);
    assert_eq!(json["count"], 5);
    assert_eq!(json["since"], "1970-01-01T00:00:01.000Z");
    let summary = &json["processedOffersSummary"];
    assert_eq!(summary["lastUnusedOfferAt"], "1970-01-01T00:00:02.000Z");
    assert!(summary.get("lastUsedOfferAt").is_none());
    let steps = summary["rejectSummaryLastOffers"].as_array().expect("steps");
    assert_eq!(steps.len(), OFFER_REJECT_REASONS.len());
    assert_eq!(steps[0], json!({"reason": "UnfulfilledRole", "declined": 0, "processed": 3}));
    assert_eq!(steps[1], json!({"reason": "UnfulfilledConstraint", "declined": 3, "processed": 3}));
    assert_eq!(steps[2], json!({"reason": "NoCorrespondingReservationFound", "declined": 0, "processed": 0}));
}

#[test]
fn result_and_error_bodies() {
    assert_eq!(
        deployment_result(ts(1_443_604_157_614), "97c136bf"),
        json!({"version": "2015-09-30T09:09:17.614Z", "deploymentId": "97c136bf"})
    );
    assert_eq!(error_json("x"), json!({"message": "x"}));
    assert_eq!(
        app_locked_json(&["d1".to_string()]),
        json!({"message": "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.",
            "deployments": [{"id": "d1"}]})
    );
    let id = PathId::parse("/x");
    assert_eq!(messages::app_not_found(&id, None), "App '/x' does not exist");
    assert_eq!(
        messages::app_not_found(&id, Some(ts(0))),
        "App '/x' does not exist in version 1970-01-01T00:00:00.000Z"
    );
    assert_eq!(messages::group_not_found(&id), "Group '/x' does not exist");
    assert_eq!(messages::pod_not_found(&id, None), "Pod '/x' does not exist");
    assert_eq!(messages::task_not_found("t"), "Task 't' does not exist");
    assert_eq!(messages::app_exists(&id), "An app with id [/x] already exists.");
    assert_eq!(messages::deployment_not_found("d"), "DeploymentPlan d does not exist");
    assert_eq!(messages::not_in_queue(&id), "Application /x not found in tasks queue.");
    assert!(messages::too_many_deployments(100).starts_with("Max number (100) of running deployments is achieved."));
    let invalid = ValidationError::object("m");
    assert_eq!(
        validation_error_json(&invalid),
        json!({"message": "Object is not valid", "details": [{"path": "/", "errors": ["m"]}]})
    );
    assert_eq!(parse_error_json(&ParseError::Syntax("t".into())), json!({"message": "Invalid JSON", "details": "t"}));
}

#[test]
fn rendered_apps_write_the_same_bytes_as_app_json() {
    let mut plain_task = task();
    plain_task.health_check_results = None;
    plain_task.service_ports = None;
    plain_task.started_at = None;
    let extras = [
        AppExtras::default(),
        full_extras(),
        AppExtras {
            counts: Some(TaskCounts::default()),
            deployments: Some(vec![]),
            tasks: Some(vec![plain_task, task()]),
            ..AppExtras::default()
        },
        AppExtras { tasks: Some(vec![]), ..AppExtras::default() },
    ];
    for app in client_visible_apps() {
        let rendered = RenderedApp::new(&app);
        for extras in &extras {
            let expected = serde_json::to_vec(&app_json(&app, extras)).expect("serialize");
            let mut written = b"prefix".to_vec();
            write_app_json(&mut written, &rendered, extras);
            assert_eq!(
                String::from_utf8_lossy(&written[6..]),
                String::from_utf8_lossy(&expected),
                "{} with {extras:?}",
                app.id
            );
        }
        assert!(rendered.len() >= serde_json::to_vec(&app_json(&app, &AppExtras::default())).expect("json").len());
    }
}

#[test]
fn tasks_are_written_in_key_order() {
    let task = task();
    let direct = serde_json::to_string(&task).expect("serialize");
    let through_value = serde_json::to_string(&serde_json::to_value(&task).expect("value")).expect("serialize");
    assert_eq!(direct, through_value);
}

/// Addresses of both protocols.
static IPS: [std::net::IpAddr; 2] =
    [std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 11)), std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)];

/// Views of tasks with every optional field set or not, and text that needs escaping.
fn task_views<'a>(full: &'a TaskJson, ports: &'a [u16]) -> Vec<TaskView<'a>> {
    let base = TaskView {
        app_id: "/web",
        health_check_results: full.health_check_results.as_deref(),
        host: "agent1",
        id: "web.instance-7f0e2b1a-7a71-11eb-9d6b-0242ac110002._app.1",
        ip_addresses: &IPS,
        local_volumes: &[],
        ports,
        region: Some("r1"),
        role: "*",
        service_ports: Some(&ports[..1]),
        slave_id: Some("m-S0"),
        staged_at: Some(ts(1_000)),
        started_at: Some(ts(2_500)),
        state: "TASK_RUNNING",
        version: Some(ts(500)),
        zone: Some("z1"),
    };
    let bare = TaskView {
        app_id: "/a/b",
        health_check_results: None,
        host: "",
        id: "a_b.instance-1._app.2",
        ip_addresses: &[],
        local_volumes: &[],
        ports: &[],
        region: None,
        role: "slave_public",
        service_ports: None,
        slave_id: None,
        staged_at: None,
        started_at: None,
        state: "TASK_STAGING",
        version: None,
        zone: None,
    };
    let odd = TaskView {
        host: "h\"o\\s\tt\u{1}\u{7f}é€/</",
        role: "r\nl",
        region: Some("\u{1f}"),
        zone: Some(""),
        service_ports: Some(&[]),
        started_at: Some(ts(-1)),
        ..bare
    };
    vec![base, bare, odd]
}

#[test]
fn written_tasks_are_the_serialized_task_json() {
    let full = task();
    let ports = [31002, 0, 65535];
    for view in task_views(&full, &ports) {
        let owned = TaskJson::from(&view);
        let mut array = Vec::new();
        write_tasks(&mut array, |tasks| tasks.push(&view));
        assert_eq!(
            String::from_utf8_lossy(&array),
            serde_json::to_string(&vec![owned.clone()]).expect("serialize"),
            "{view:?}"
        );
        // And as `app_json` writes them (through a sorted `Value`).
        assert_eq!(serde_json::from_slice::<Json>(&array).expect("parses"), to_json(&vec![owned]), "{view:?}");
    }
}

#[test]
fn apps_with_written_tasks_are_app_json() {
    let full = task();
    let ports = [31002, 31003];
    let views = task_views(&full, &ports);
    // Tasks of one version, then of another: the version written last is reused only when
    // it is the same.
    let mut versions = views.clone();
    versions[1].version = versions[0].version;
    versions[2].version = Some(ts(1_443_604_157_614));
    versions.push(TaskView { version: Some(ts(1_443_604_157_614)), ..views[0] });
    versions.push(TaskView { version: Some(ts(1)), ..views[2] });
    for app in client_visible_apps() {
        let rendered = RenderedApp::new(&app);
        for tasks in [&views[..0], &views[..1], &views[..], &versions[..]] {
            let owned: Vec<TaskJson> = tasks.iter().map(TaskJson::from).collect();
            for extras in [
                AppExtras::default(),
                AppExtras {
                    counts: Some(TaskCounts { staged: 1, running: 22, healthy: 0, unhealthy: 333 }),
                    ..full_extras()
                },
                AppExtras { counts: Some(TaskCounts::default()), deployments: Some(vec![]), ..AppExtras::default() },
            ] {
                let expected =
                    serde_json::to_vec(&app_json(&app, &AppExtras { tasks: Some(owned.clone()), ..extras.clone() }))
                        .expect("serialize");
                let mut out = b"prefix".to_vec();
                write_app_json_with_tasks(&mut out, &rendered, &extras, |array| {
                    tasks.iter().for_each(|view| array.push(view))
                });
                assert_eq!(
                    String::from_utf8_lossy(&out[6..]),
                    String::from_utf8_lossy(&expected),
                    "{} with {} tasks and {extras:?}",
                    app.id,
                    tasks.len()
                );
            }
        }
    }
}

proptest::proptest! {
    #[test]
    fn written_strings_are_serde_json_strings(s in ".*", t in "[\\x00-\\x7f]{0,40}") {
        for s in [&s, &t] {
            let mut out = Vec::new();
            write_str(&mut out, s);
            proptest::prop_assert_eq!(out, serde_json::to_vec(s).expect("serialize"));
        }
    }

    #[test]
    fn written_numbers_are_serde_json_numbers(n in proptest::num::u64::ANY) {
        let mut out = Vec::new();
        write_u64(&mut out, n);
        proptest::prop_assert_eq!(out, serde_json::to_vec(&n).expect("serialize"));
    }
}
