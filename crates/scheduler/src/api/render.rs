//! Response bodies built from the service's state (run inside the driver, through
//! [`ServiceHandle::read`](crate::service::ServiceHandle::read)).
//!
//! App listings copy out only what changes between requests (counts, deployments, tasks) next
//! to each app's JSON written when its definition changed ([`AppSnapshot`]), and write the body
//! on a blocking thread ([`apps_body`]), so the driver spends little time on them.

use crate::convert;
use crate::core::{AppId, Condition, Instance, SchedulerCore};
use crate::service::Service;
use marathon_api::output::{ReadinessCheckResponse, ReadinessCheckResult, TaskCounts, TaskStats, TaskStatsByVersion};
use marathon_api::{AppDefinition, AppExtras, Embed, PathId, RenderedApp, TaskJson, app_json, write_app_json};
use serde_json::Value as Json;
use std::sync::Arc;

/// Task counts of an app: staged (launched, not yet running), running, and the health of
/// running tasks that have health results.
pub(crate) fn counts<'a>(core: &SchedulerCore, instances: impl Iterator<Item = &'a Instance>) -> TaskCounts {
    let mut counts = TaskCounts::default();
    for instance in instances {
        match instance.condition {
            Condition::Provisioned | Condition::Staging | Condition::Starting => counts.staged += 1,
            Condition::Running => {
                counts.running += 1;
                match core.instance_health(instance) {
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
    app_json(def, &app_extras(service, &AppId::new(&def.id), embed))
}

/// What an app listing needs of one app, copied out of the driver.
pub(crate) struct AppSnapshot {
    app: Arc<RenderedApp>,
    extras: AppExtras,
}

/// The snapshot of `def` (a stored definition) with what `embed` asks for.
pub(crate) fn app_snapshot(service: &Service, def: &AppDefinition, embed: Embed) -> AppSnapshot {
    AppSnapshot { app: service.rendered_app(def), extras: app_extras(service, &AppId::new(&def.id), embed) }
}

/// What a listing body holds under its one key.
pub(crate) enum Listed {
    /// `{"app": {…}}`.
    One(Box<AppSnapshot>),
    /// `{"apps": […]}`, `{"*": […]}`.
    Many(Vec<AppSnapshot>),
}

/// The body `{"<key>": <listed>}`, written on a blocking thread (the same bytes as
/// `json!({key: [app_info(…), …]})`); `None` if that thread failed.
pub(crate) async fn apps_body(key: &'static str, listed: Listed) -> Option<Vec<u8>> {
    tokio::task::spawn_blocking(move || write_body(key, &listed)).await.ok()
}

fn write_body(key: &str, listed: &Listed) -> Vec<u8> {
    // About what a task takes (the benchmark's average is 370 bytes), so that the buffer
    // rarely grows.
    const TASK_BYTES: usize = 400;
    let size = |app: &AppSnapshot| app.app.len() + 128 + app.extras.tasks.as_ref().map_or(0, Vec::len) * TASK_BYTES;
    let apps: &[AppSnapshot] = match listed {
        Listed::One(app) => std::slice::from_ref(&**app),
        Listed::Many(apps) => apps,
    };
    let mut out = Vec::with_capacity(key.len() + 8 + apps.iter().map(size).sum::<usize>());
    out.extend_from_slice(b"{");
    let _ = serde_json::to_writer(&mut out, key);
    out.extend_from_slice(b":");
    match listed {
        Listed::One(app) => write_app_json(&mut out, &app.app, &app.extras),
        Listed::Many(apps) => {
            out.push(b'[');
            for (i, app) in apps.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_app_json(&mut out, &app.app, &app.extras);
            }
            out.push(b']');
        }
    }
    out.push(b'}');
    out
}

/// The AppInfo additions `embed` asks for.
fn app_extras(service: &Service, id: &AppId, embed: Embed) -> AppExtras {
    let core = service.core();
    let mut extras = AppExtras::default();
    if embed.counts {
        extras.counts = Some(counts(core, core.instances_of(id)));
    }
    if embed.deployments {
        extras.deployments = Some(service.deployments().of_app(id).map(|d| d.id.clone()).collect());
    }
    if embed.tasks {
        extras.tasks = Some(tasks_of(service, id, false));
    }
    if embed.last_task_failure {
        extras.last_task_failure = core.last_task_failure(id).map(convert::task_failure);
    }
    if embed.task_stats {
        let counts = counts(core, core.instances_of(id));
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
    let ports = service.core().app(id).map(|spec| spec.service_ports());
    let ports = if with_service_ports { Some(ports.unwrap_or_default()) } else { None };
    let core = service.core();
    let spec = core.app(id);
    let app_id = PathId::parse(id.as_str());
    core.instances_of(id)
        .filter_map(|i| {
            let mut task = convert::task_json_of(i, app_id.clone(), ports.as_deref())?;
            task.health_check_results = spec.and_then(|spec| convert::health_check_results(spec, i, core));
            Some(task)
        })
        .collect()
}
