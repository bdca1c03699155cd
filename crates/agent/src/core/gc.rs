//! Sandbox garbage collection, as Mesos' agent does it (`--gc_delay`, `--gc_disk_headroom`,
//! `--disk_watch_interval`).
//!
//! When a task completes (it ended and its last update was acknowledged), its sandbox and its
//! executor's directory are scheduled for removal `gc_delay` later (and stamped with the
//! time, see [`Command::StampForGc`]). Every `disk_watch_interval` the shell measures how full
//! the work dir's file system is; directories older than
//! `gc_delay * max(0, 1 - gc_disk_headroom - usage)` are then removed at once (measured only
//! while something is scheduled: there is nothing to remove early otherwise). A new task of
//! the same executor takes its directory off the schedule. At start, the directories of no
//! live task are scheduled from their modification time, those of agent ids no longer in
//! use from now. The schedule is data here; the shell removes what [`Command::GarbageCollect`]
//! names.

use super::*;
use std::collections::HashMap;
use std::path::Path;

/// Directories by removal time (monotonic), and the time of each.
#[derive(Debug, Default)]
pub(super) struct GcSchedule {
    by_time: BTreeSet<(Duration, GcPath)>,
    by_path: HashMap<PathBuf, (Duration, GcKind)>,
}

impl GcSchedule {
    /// Schedules `path` for removal at `at` (replacing an earlier schedule of it).
    pub(super) fn schedule(&mut self, path: PathBuf, kind: GcKind, at: Duration) {
        if let Some((old, old_kind)) = self.by_path.insert(path.clone(), (at, kind)) {
            self.by_time.remove(&(old, GcPath { path: path.clone(), kind: old_kind }));
        }
        self.by_time.insert((at, GcPath { path, kind }));
    }

    /// Takes `path` off the schedule; whether it was on it.
    pub(super) fn unschedule(&mut self, path: &Path) -> bool {
        match self.by_path.remove(path) {
            Some((at, kind)) => {
                self.by_time.remove(&(at, GcPath { path: path.to_path_buf(), kind }));
                true
            }
            None => false,
        }
    }

    pub(super) fn contains(&self, path: &Path) -> bool {
        self.by_path.contains_key(path)
    }

    /// The earliest removal time.
    pub(super) fn next(&self) -> Option<Duration> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// Takes every directory due at or before `until` off the schedule, earliest first.
    pub(super) fn take_until(&mut self, until: Duration) -> Vec<GcPath> {
        let mut due = Vec::new();
        while let Some((at, _)) = self.by_time.first()
            && *at <= until
        {
            let Some((_, gc_path)) = self.by_time.pop_first() else { break };
            self.by_path.remove(&gc_path.path);
            due.push(gc_path);
        }
        // Sandboxes before executor directories: those go only once empty.
        due.sort_by_key(|p| p.kind);
        due
    }

    pub(super) fn len(&self) -> usize {
        self.by_path.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.by_path.is_empty()
    }
}

/// The garbage collector's part of the core.
#[derive(Debug, Default)]
pub(super) struct Gc {
    pub(super) schedule: GcSchedule,
    /// When the disk usage is measured next (set once the core started).
    next_check: Option<Duration>,
}

impl AgentCore {
    /// The directory of the executor that ran in `sandbox` (`.../executors/<id>/runs/<cid>`).
    fn executor_dir(sandbox: &Path) -> Option<PathBuf> {
        sandbox.parent().and_then(Path::parent).map(Path::to_path_buf)
    }

    /// A task completed: its sandbox and its executor's directory go `gc_delay` from now.
    pub(super) fn gc_completed(&mut self, now: Now, sandbox: &Path, out: &mut Vec<Command>) {
        let at = now.mono + self.cfg.gc_delay;
        let mut stamped = vec![sandbox.to_path_buf()];
        self.gc.schedule.schedule(sandbox.to_path_buf(), GcKind::Tree, at);
        if let Some(executor) = Self::executor_dir(sandbox) {
            self.gc.schedule.schedule(executor.clone(), GcKind::Executor, at);
            stamped.push(executor);
        }
        debug!(sandbox = %sandbox.display(), in_secs = self.cfg.gc_delay.as_secs(), "sandbox scheduled for removal");
        out.push(Command::StampForGc(stamped));
    }

    /// A task starts in `sandbox`: its executor's directory stays (Mesos unschedules it too).
    pub(super) fn gc_keep_executor_of(&mut self, sandbox: &Path) {
        if let Some(executor) = Self::executor_dir(sandbox)
            && self.gc.schedule.unschedule(&executor)
        {
            debug!(executor = %executor.display(), "executor directory in use again: no longer scheduled for removal");
        }
    }

    /// The directory of an agent id given up (the master gave this agent a new one).
    pub(super) fn gc_old_agent(&mut self, now: Now, agent_id: &AgentId, out: &mut Vec<Command>) {
        let dir = self.cfg.layout.slaves_dir().join(agent_id.as_str());
        self.gc.schedule.schedule(dir.clone(), GcKind::Tree, now.mono + self.cfg.gc_delay);
        out.push(Command::StampForGc(vec![dir]));
    }

    /// At start: schedules what the shell found and no live task uses, from its modification
    /// time (directories of other agent ids from now, as Mesos does). Directories scheduled
    /// already (tasks that completed during recovery) keep their time.
    pub(super) fn gc_recovered(&mut self, now: Now, found: Vec<FoundSandbox>, out: &mut Vec<Command>) {
        self.gc.next_check = Some(now.mono);
        let mut stamped = Vec::new();
        for f in found {
            if self.gc.schedule.contains(&f.path) {
                continue;
            }
            let kind = match &f.kind {
                FoundKind::Agent => {
                    if self.agent_id.as_ref().is_some_and(|id| f.path.ends_with(id.as_str())) {
                        continue;
                    }
                    stamped.push(f.path.clone());
                    self.gc.schedule.schedule(f.path, GcKind::Tree, now.mono + self.cfg.gc_delay);
                    continue;
                }
                FoundKind::Executor { framework_id, executor_id } => {
                    let key = (framework_id.clone(), TaskId::new(executor_id.value.clone()));
                    if self.tasks.contains_key(&key)
                        || self.executors.contains_key(&(framework_id.clone(), executor_id.clone()))
                    {
                        continue;
                    }
                    GcKind::Executor
                }
                FoundKind::Run { container_id } => {
                    if self.containers.contains_key(container_id)
                        || self.executors.values().any(|e| &e.container_id == container_id)
                    {
                        continue;
                    }
                    GcKind::Tree
                }
            };
            let age = Duration::try_from_secs_f64((now.wall - f.mtime).max(0.0)).unwrap_or(Duration::MAX);
            let at = now.mono + self.cfg.gc_delay.saturating_sub(age);
            self.gc.schedule.schedule(f.path, kind, at);
        }
        if !stamped.is_empty() {
            out.push(Command::StampForGc(stamped));
        }
        info!(scheduled = self.gc.schedule.len(), "sandboxes of no live task scheduled for removal");
    }

    /// Removes at once whatever is older than the disk usage allows.
    pub(super) fn on_disk_usage(&mut self, now: Now, usage: f64, out: &mut Vec<Command>) {
        let usage = if usage.is_finite() { usage.clamp(0.0, 1.0) } else { 0.0 };
        let share = (1.0 - self.cfg.gc_disk_headroom - usage).max(0.0);
        let max_age = self.cfg.gc_delay.mul_f64(share);
        // Everything is scheduled `gc_delay` after it completed: what is due within
        // `gc_delay - max_age` from now is older than `max_age`.
        let due = self.gc.schedule.take_until(now.mono + (self.cfg.gc_delay - max_age));
        info!(
            usage_percent = format!("{:.2}", usage * 100.0),
            max_allowed_age_secs = max_age.as_secs(),
            removing = due.len(),
            "current disk usage"
        );
        if !due.is_empty() {
            out.push(Command::GarbageCollect(due));
        }
    }

    /// Removals due, and the disk usage measurement when due.
    pub(super) fn fire_gc(&mut self, now: Now, out: &mut Vec<Command>) {
        if self.link == Link::Stopped {
            return;
        }
        if self.gc.schedule.next().is_some_and(|at| at <= now.mono) {
            let due = self.gc.schedule.take_until(now.mono);
            info!(directories = due.len(), "removing sandboxes whose time is up");
            out.push(Command::GarbageCollect(due));
        }
        if !self.gc.schedule.is_empty() && self.gc.next_check.is_some_and(|at| at <= now.mono) {
            self.gc.next_check = Some(now.mono + self.cfg.disk_watch_interval);
            out.push(Command::CheckDiskUsage);
        }
    }

    /// The earliest of the garbage collector's timers.
    pub(super) fn gc_next_wakeup(&self) -> Option<Duration> {
        if self.link == Link::Stopped {
            return None;
        }
        let removal = self.gc.schedule.next()?;
        Some(self.gc.next_check.map_or(removal, |check| check.min(removal)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn tree(p: &str) -> GcPath {
        GcPath { path: PathBuf::from(p), kind: GcKind::Tree }
    }

    #[test]
    fn schedule_is_ordered_by_time_and_keeps_one_time_per_path() {
        let mut s = GcSchedule::default();
        s.schedule("/a".into(), GcKind::Tree, 5 * SEC);
        s.schedule("/b".into(), GcKind::Tree, 3 * SEC);
        s.schedule("/c".into(), GcKind::Executor, 4 * SEC);
        s.schedule("/a".into(), GcKind::Tree, 2 * SEC);
        assert_eq!((s.len(), s.next()), (3, Some(2 * SEC)));
        assert!(s.unschedule(Path::new("/c")));
        assert!(!s.unschedule(Path::new("/c")));
        assert_eq!(s.take_until(2 * SEC), vec![tree("/a")]);
        assert_eq!(s.take_until(10 * SEC), vec![tree("/b")]);
        assert_eq!((s.len(), s.next()), (0, None));
    }
}
