//! Limits watched while tasks run, as upstream's isolators do with `watch()`: the pids limit
//! of `cgroups/pids` (a task whose cgroup refused a fork) and the sandbox quota of `disk/du`
//! (`--enforce_container_disk_quota`). On its timers the core asks the shell to measure the
//! running tasks of the Mesos containerizer ([`Command::Measure`]); what comes back
//! ([`Event::Measured`]) is judged by the isolators' pure rules (`crate::isolation`), and a
//! task over a limit is killed at once and fails with the limitation's reason (upstream's
//! `ContainerLimitation`: REASON_CONTAINER_LIMITATION_DISK, ...).

use super::*;

/// How often the pids cgroups are read (one small file per task).
pub(super) const PIDS_WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// When the next measurements are due.
#[derive(Debug, Clone, Default)]
pub(super) struct LimitTimers {
    next_pids: Duration,
    next_disk: Duration,
}

impl TaskEntry {
    /// Whether the task's limits are watched: a running task of the Mesos containerizer that
    /// is not being failed for a limitation already.
    pub(super) fn watched(&self) -> bool {
        self.phase == Phase::Launched
            && !self.state.is_terminal()
            && self.limitation.is_none()
            && self.spec.docker.is_none()
    }
}

impl AgentCore {
    /// Asks for the measurements that are due, of every watched task.
    pub(super) fn fire_limits(&mut self, now: Now, out: &mut Vec<Command>) {
        if self.link == Link::Stopped {
            return;
        }
        let pids = self.cfg.limits.pids_max.is_some() && self.limit_timers.next_pids <= now.mono;
        let disk = self.cfg.limits.disk_watch.filter(|_| self.limit_timers.next_disk <= now.mono);
        if !pids && disk.is_none() {
            return;
        }
        let measures: Vec<Measure> = self
            .tasks
            .values()
            .filter(|t| t.watched())
            .filter_map(|t| {
                let sandbox = disk.and_then(|_| disk_quota_bytes(&t.info).map(|_| t.spec.sandbox.clone()));
                (pids || sandbox.is_some()).then(|| Measure { container_id: t.container_id.clone(), pids, sandbox })
            })
            .collect();
        if measures.is_empty() {
            // Nothing to watch: the timers stay due, and the next watched task is measured at once.
            return;
        }
        if pids {
            self.limit_timers.next_pids = now.mono + PIDS_WATCH_INTERVAL;
        }
        if let Some(interval) = disk {
            self.limit_timers.next_disk = now.mono + interval;
        }
        out.push(Command::Measure(measures));
    }

    /// The earliest measurement due, when a task is watched.
    pub(super) fn limits_next_wakeup(&self) -> Option<Duration> {
        let pids = self.cfg.limits.pids_max.map(|_| self.limit_timers.next_pids);
        let disk = self.cfg.limits.disk_watch.map(|_| self.limit_timers.next_disk);
        let next = match (pids, disk) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        (self.link != Link::Stopped && self.tasks.values().any(TaskEntry::watched)).then_some(next)
    }

    /// Judges what was measured; a task over a limit fails.
    pub(super) fn on_measured(&mut self, now: Now, usages: Vec<Usage>, out: &mut Vec<Command>) {
        for usage in usages {
            let Some(key) = self.containers.get(&usage.container_id).cloned() else { continue };
            let Some(t) = self.tasks.get(&key) else { continue };
            if !t.watched() {
                continue;
            }
            let pids =
                self.cfg.limits.pids_max.and_then(|max| crate::isolation::pids::limitation(usage.refused_forks, max));
            let disk = || crate::isolation::disk::limitation(usage.disk_bytes, disk_quota_bytes(&t.info));
            if let Some(limitation) = pids.or_else(disk) {
                self.fail_for_limitation(now, &key, limitation, out);
            }
        }
    }

    /// Kills the task at once; its terminal update is TASK_FAILED with the limitation.
    fn fail_for_limitation(&mut self, now: Now, key: &TaskKey, limitation: Limitation, out: &mut Vec<Command>) {
        let Some(t) = self.tasks.get_mut(key) else { return };
        warn!(task_id = %key.1, container_id = %t.container_id, message = %limitation.message, "task over its limit: killing it");
        t.limitation = Some(limitation);
        let now_policy = KillPolicy { grace_period: Some(duration_info(Duration::ZERO)) };
        self.start_kill(now, key, Some(now_policy), KillCause::Limitation, out);
    }
}

/// The task's `disk` resource in bytes (`None` without one).
fn disk_quota_bytes(task: &TaskInfo) -> Option<u64> {
    let mb = ResourceSet::from_wire(&task.resources).map(|r| r.scalar("disk")).unwrap_or(0.0);
    (mb > 0.0).then_some((mb * 1024.0 * 1024.0) as u64)
}
