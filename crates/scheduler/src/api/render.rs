//! Response bodies built from the service's state (run inside the driver, through
//! [`ServiceHandle::read`](crate::service::ServiceHandle::read)).
//!
//! App listings are written on the driver straight into the body: each app's JSON written when
//! its definition changed ([`RenderedApp`]), merged with its counts and deployments, and its
//! tasks written from the core's instances ([`TaskArray`]) without an owned `TaskJson` each.

use crate::convert;
use crate::core::{AppId, Condition, Instance, RunSpec, SchedulerCore};
use crate::service::Service;
use marathon_api::output::{ReadinessCheckResponse, ReadinessCheckResult, TaskCounts, TaskStats, TaskStatsByVersion};
use marathon_api::{
    AppDefinition, AppExtras, Embed, RenderedApp, TaskArray, TaskJson, TaskView, app_json, write_app_json,
    write_app_json_with_tasks, write_tasks,
};
use serde_json::Value as Json;

/// Task counts of an app: staged (launched, not yet running), running, and the health of
/// running tasks that have health results.
pub(crate) fn counts<'a>(core: &SchedulerCore, instances: impl Iterator<Item = &'a Instance>) -> TaskCounts {
    tally(instances.map(|instance| (instance, core.instance_health(instance))))
}

/// [`counts`] of one app's instances (its run spec looked up once).
fn app_counts(core: &SchedulerCore, id: &AppId) -> TaskCounts {
    let spec = core.app(id);
    tally(
        core.instances_of(id).map(|instance| (instance, spec.and_then(|spec| core.instance_health_in(spec, instance)))),
    )
}

fn tally<'a>(instances: impl Iterator<Item = (&'a Instance, Option<bool>)>) -> TaskCounts {
    let mut counts = TaskCounts::default();
    for (instance, health) in instances {
        match instance.condition {
            Condition::Provisioned | Condition::Staging | Condition::Starting => counts.staged += 1,
            Condition::Running => {
                counts.running += 1;
                match health {
                    Some(true) => counts.healthy += 1,
                    Some(false) => counts.unhealthy += 1,
                    None => {}
                }
            }
            _ => {}
        }
    }
    counts
}

/// The AppInfo JSON of `def` with what `embed` asks for.
pub(crate) fn app_info(service: &Service, def: &AppDefinition, embed: Embed) -> Json {
    let id = AppId::new(&def.id);
    let mut extras = app_extras(service, &id, embed);
    if embed.tasks {
        extras.tasks = Some(tasks_of(service, &id, false));
    }
    app_json(def, &extras)
}

/// Appends the JSON of app `id` (`rendered`: its definition's) with what `embed` asks for: the
/// same bytes as [`app_info`]'s.
fn write_app(out: &mut Vec<u8>, service: &Service, id: &AppId, rendered: &RenderedApp, embed: Embed) {
    let extras = app_extras(service, id, embed);
    if embed.tasks {
        write_app_json_with_tasks(out, rendered, &extras, |tasks| push_tasks_of(service, id, false, |_| true, tasks));
    } else {
        write_app_json(out, rendered, &extras);
    }
}

/// About what a task takes (the benchmark's average is 370 bytes), so that a body rarely grows.
const TASK_BYTES: usize = 400;

/// The size to reserve for the JSON of app `id`.
fn app_size(service: &Service, id: &AppId, rendered: &RenderedApp, embed: Embed) -> usize {
    let tasks = if embed.tasks { service.core().instances_of(id).count() } else { 0 };
    rendered.len() + 128 + TASK_BYTES * tasks
}

/// The body `{"<key>": [<app>, …]}` of `apps` (the same bytes as `json!({key: [app_info(…), …]})`).
pub(crate) fn apps_body(service: &Service, key: &str, apps: &[(&AppId, &RenderedApp)], embed: Embed) -> Vec<u8> {
    let size = apps.iter().map(|(id, rendered)| app_size(service, id, rendered, embed)).sum::<usize>();
    let mut out = Vec::with_capacity(key.len() + 8 + size);
    write_key(&mut out, key);
    out.push(b'[');
    for (i, (id, rendered)) in apps.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_app(&mut out, service, id, rendered, embed);
    }
    out.extend_from_slice(b"]}");
    out
}

/// The body `{"app": <app>}` of app `id` (the same bytes as `json!({"app": app_info(…)})`).
pub(crate) fn app_body(service: &Service, id: &AppId, rendered: &RenderedApp, embed: Embed) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + app_size(service, id, rendered, embed));
    write_key(&mut out, "app");
    write_app(&mut out, service, id, rendered, embed);
    out.push(b'}');
    out
}

/// `{"<key>":`.
fn write_key(out: &mut Vec<u8>, key: &str) {
    out.push(b'{');
    let _ = serde_json::to_writer(&mut *out, key);
    out.push(b':');
}

/// The AppInfo additions `embed` asks for, but its tasks.
fn app_extras(service: &Service, id: &AppId, embed: Embed) -> AppExtras {
    let core = service.core();
    let mut extras = AppExtras::default();
    // Both counts and taskStats need them: one walk of the app's instances.
    let counts = (embed.counts || embed.task_stats).then(|| app_counts(core, id));
    if embed.counts {
        extras.counts = counts;
    }
    if embed.deployments {
        extras.deployments = Some(service.deployments().of_app(id).map(|d| d.id.clone()).collect());
    }
    if embed.last_task_failure {
        extras.last_task_failure = core.last_task_failure(id).map(convert::task_failure);
    }
    if embed.task_stats
        && let Some(counts) = counts
    {
        let total = (counts.staged + counts.running > 0).then_some(TaskStats { counts, life_time: None });
        extras.task_stats = Some(TaskStatsByVersion { total_summary: total, ..TaskStatsByVersion::default() });
    }
    if embed.readiness {
        extras.readiness_check_results = Some(readiness_of(service, id));
    }
    extras
}

/// The readiness check results of an app's instances being checked (`readinessCheckResults`);
/// the last response only for checks with `preserveLastResponse`.
pub(crate) fn readiness_of(service: &Service, id: &AppId) -> Vec<ReadinessCheckResult> {
    let core = service.core();
    let Some(spec) = core.app(id) else { return Vec::new() };
    let mut out = Vec::new();
    for instance in core.instances_of(id) {
        let Some(task) = &instance.task else { continue };
        for (check, result) in spec.readiness_checks.iter().zip(core.readiness_results(&instance.id)) {
            out.push(ReadinessCheckResult {
                name: check.name.clone(),
                task_id: task.id.as_str().to_string(),
                ready: result.ready,
                last_response: result.last_response.as_ref().filter(|_| check.preserve_last_response).map(|r| {
                    ReadinessCheckResponse {
                        status: r.status,
                        content_type: r.content_type.clone(),
                        body: r.body.clone(),
                    }
                }),
            });
        }
    }
    out
}

/// The tasks of an app's instances that have one; with `service_ports`, each task carries its
/// app's service ports (as `/v2/tasks` shows them).
pub(crate) fn tasks_of(service: &Service, id: &AppId, with_service_ports: bool) -> Vec<TaskJson> {
    let mut tasks = Vec::new();
    for_each_task(service, id, with_service_ports, |_| true, |task| tasks.push(TaskJson::from(task)));
    tasks
}

/// Calls `f` with the view of each task of an app's instances (those that have one) whose state
/// `keep` keeps, with its health check results: what [`tasks_of`] collects and
/// [`push_tasks_of`] writes.
fn for_each_task(
    service: &Service,
    id: &AppId,
    with_service_ports: bool,
    keep: impl Fn(&str) -> bool,
    mut f: impl FnMut(&TaskView<'_>),
) {
    let core = service.core();
    let spec = core.app(id);
    let ports = with_service_ports.then(|| spec.map(RunSpec::service_ports).unwrap_or_default());
    let app_id = convert::app_id_text(id);
    for instance in core.instances_of(id) {
        let Some(task) = convert::task_view(instance, &app_id, ports.as_deref()).filter(|task| keep(task.state)) else {
            continue;
        };
        match spec.and_then(|spec| convert::health_check_results(spec, instance, core)) {
            Some(results) => f(&TaskView { health_check_results: Some(&results), ..task }),
            None => f(&task),
        }
    }
}

/// The body `{"tasks": […]}` of the tasks of `apps` (those of [`tasks_of`]) whose state `keep`
/// keeps: the same bytes as `json!({"tasks": tasks})`.
pub(crate) fn tasks_body<'a>(
    service: &'a Service,
    apps: impl Iterator<Item = &'a AppId>,
    with_service_ports: bool,
    keep: impl Fn(&str) -> bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + TASK_BYTES * service.core().instances().count());
    out.extend_from_slice(b"{\"tasks\":");
    write_tasks(&mut out, |tasks| apps.for_each(|id| push_tasks_of(service, id, with_service_ports, &keep, tasks)));
    out.push(b'}');
    out
}

/// Writes the tasks of an app's instances that have one (those of [`tasks_of`]) whose state
/// `keep` keeps into `out`.
fn push_tasks_of(
    service: &Service,
    id: &AppId,
    with_service_ports: bool,
    keep: impl Fn(&str) -> bool,
    out: &mut TaskArray<'_>,
) {
    touch_tasks(service.core().instances_of(id));
    for_each_task(service, id, with_service_ports, keep, |task| out.push(task));
}

/// Reads the first byte of each string a task's JSON copies. The instances and their strings
/// lie all over the heap (a profile of a 10,000-task listing spent most of `write_str` on the
/// first load of each string): in this short loop the processor waits for many of their cache
/// misses at once, where writing a task (a long loop body) waits for each in turn. On the
/// benchmark, 5.8-7.3 ms of CPU per listing instead of 6.4-13.8 ms (3 and 4 runs).
fn touch_tasks<'a>(instances: impl Iterator<Item = &'a Instance>) {
    let first = |s: &str| s.as_bytes().first().copied().unwrap_or(0);
    let touched = instances.filter_map(|instance| Some((instance, instance.task.as_ref()?))).fold(
        0u8,
        |acc, (instance, task)| {
            acc ^ first(task.id.as_str())
                ^ first(&task.hostname)
                ^ first(task.agent_id.as_str())
                ^ first(&instance.role)
        },
    );
    std::hint::black_box(touched);
}
