//! The shell around [`AgentCore`]: one task owns the core, executes its commands and feeds the
//! results back as events. Everything slow (fetching, waiting for processes, posting calls,
//! tearing containers down) runs in helper tasks that report through the event channel;
//! checkpoint writes of a burst of events are group-committed before any other command of that
//! burst runs, because those commands depend on them.

use crate::checkpoint::Store;
use crate::containers::{Container, Containers, Launcher, Starting};
use crate::core::{AgentCore, Command, Event, HealthProbe, LaunchSpec, Now, Snapshot, Started};
use crate::docker_tasks::DockerTasks;
use crate::link::MasterClient;
use mesos_api::agent::{AgentCall, StatusUpdate};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, watch};
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

pub(crate) struct Runtime {
    pub(crate) core: AgentCore,
    pub(crate) store: Store,
    pub(crate) containers: Containers,
    /// The Docker containerizer, with `--containerizers` naming `docker`.
    pub(crate) docker: Option<DockerTasks>,
    pub(crate) master: MasterClient,
    pub(crate) http: reqwest::Client,
    /// For HTTP health checks (see [`crate::health::http_client`]).
    pub(crate) health_http: reqwest::Client,
    pub(crate) base_env: Arc<Vec<(String, String)>>,
    pub(crate) origin: Instant,
    pub(crate) events_tx: mpsc::UnboundedSender<Event>,
    pub(crate) events_rx: mpsc::UnboundedReceiver<Event>,
    pub(crate) snapshot_tx: watch::Sender<Arc<Snapshot>>,
    /// Launches in flight, with the commands for their containers that must wait for them.
    pub(crate) spawning: std::collections::HashMap<String, Vec<Command>>,
    pub(crate) spawned_tx: mpsc::UnboundedSender<(String, Result<Launched, String>)>,
    pub(crate) spawned_rx: mpsc::UnboundedReceiver<(String, Result<Launched, String>)>,
    /// Bounds the launches in flight.
    pub(crate) spawn_slots: Arc<tokio::sync::Semaphore>,
    /// Endpoints asking for the state as of now.
    pub(crate) snapshot_requests: mpsc::UnboundedReceiver<crate::server::SnapshotRequest>,
    pub(crate) helpers: JoinSet<()>,
    pub(crate) link: Option<(u64, AbortHandle)>,
    pub(crate) published: u64,
    /// When the last snapshot was published; see [`PUBLISH_INTERVAL`].
    pub(crate) published_at: Option<Instant>,
    /// When set, container teardowns are awaited (shutdown) instead of run in the background.
    pub(crate) wait_teardowns: bool,
    /// Follows the leading master in ZooKeeper (`--master zk://...`).
    pub(crate) detector: Option<coordination::mesos::MasterDetector>,
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
}

/// A started container, of either containerizer.
pub(crate) enum Launched {
    Process(Arc<Container>),
    Docker(docker::Container),
}

/// Spawn lanes working at once (each a blocking thread; see [`Runtime::spawn_all`]).
pub(crate) const SPAWN_CONCURRENCY: usize = 4;

/// Lanes one burst of launches is split over.
const SPAWN_LANES: usize = 2;

/// Launches a lane has in flight: it sends this many requests ahead of the report it waits
/// for, so that the zygote and the monitors work while the lane creates the next cgroups.
const SPAWN_WINDOW: usize = 8;

/// Blocking threads creating the sandboxes of one burst of launches.
const SANDBOX_LANES: usize = 4;

/// Status updates in one call at most (keeps a request far below the master's body limit
/// when every task's update is sent at once, e.g. after a re-registration).
const MAX_UPDATES_PER_CALL: usize = 256;

/// Events handled together at most, so a long queue cannot delay timers indefinitely.
const MAX_BURST: usize = 256;

/// Building a snapshot costs time proportional to the number of tasks, so it is published at
/// most this often (the endpoints see state at most this old), never once per event.
const PUBLISH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(50);

impl Runtime {
    fn now(&self) -> Now {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        Now { mono: self.origin.elapsed(), wall }
    }

    /// Feeds one event to the core and executes what it asks for.
    pub(crate) async fn step(&mut self, event: Event) {
        self.step_all(vec![event]).await;
    }

    /// Feeds a burst of events to the core, then executes what it asked for: every checkpoint
    /// first, made durable together (one group commit instead of an fsync per file), then the
    /// other commands in order. Hoisting checkpoints is safe: they record decisions already
    /// taken, and recovery treats a recorded intent whose action never ran as interrupted.
    async fn step_all(&mut self, events: Vec<Event>) {
        let now = self.now();
        let mut checkpoints = Vec::new();
        let mut others = Vec::new();
        for command in self.core.handle_all(now, events) {
            match command {
                Command::Checkpoint(cp) => checkpoints.push(cp),
                other => others.push(other),
            }
        }
        self.checkpoint(checkpoints).await;
        // Status updates of the burst travel together: one POST instead of one per update.
        let mut updates: Vec<(String, StatusUpdate)> = Vec::new();
        // Sandboxes of the burst are created by one blocking job, one after the other.
        let mut sandboxes: Vec<LaunchSpec> = Vec::new();
        // And its task processes started by a few lanes.
        let mut spawns: Vec<LaunchSpec> = Vec::new();
        // Directories of the tasks it completed stamped by one blocking job.
        let mut stamps: Vec<std::path::PathBuf> = Vec::new();
        for command in others {
            match command {
                Command::Send { stream_id, call } => match *call {
                    AgentCall::StatusUpdate { status_update } => updates.push((stream_id, status_update)),
                    call => self.execute(Command::Send { stream_id, call: Box::new(call) }).await,
                },
                Command::Prepare(spec) if spec.uris.is_empty() && !self.containers.hollow() => sandboxes.push(*spec),
                Command::Spawn(spec) => {
                    // From here on, commands for the container wait until it exists.
                    self.spawning.insert(spec.container_id.clone(), Vec::new());
                    if spec.docker.is_some() {
                        self.spawn_docker(*spec);
                    } else {
                        spawns.push(*spec);
                    }
                }
                Command::StampForGc(paths) => stamps.extend(paths),
                other => self.execute(other).await,
            }
        }
        self.prepare_sandboxes(sandboxes);
        self.spawn_all(spawns);
        if !stamps.is_empty() {
            self.execute(Command::StampForGc(stamps)).await;
        }
        self.send_updates(updates);
        self.publish();
    }

    /// Prepares tasks without URIs: creates their sandboxes one after the other on at most
    /// [`SANDBOX_LANES`] blocking threads, reporting each as soon as it exists, instead of one
    /// blocking job (a thread hand-off each way, and a thread per task in a large burst) per
    /// task. Sandboxes of one framework share their parent directories, so many threads
    /// would mostly contend on those directories' locks.
    fn prepare_sandboxes(&mut self, mut specs: Vec<LaunchSpec>) {
        let lane_len = specs.len().div_ceil(SANDBOX_LANES).max(1);
        while !specs.is_empty() {
            let lane: Vec<LaunchSpec> = specs.drain(..lane_len.min(specs.len())).collect();
            let events = self.events_tx.clone();
            self.helpers.spawn(async move {
                let job = tokio::task::spawn_blocking(move || {
                    for spec in lane {
                        // Every task of the lane gets its answer, even if one creation panicked.
                        let result = std::panic::catch_unwind(|| prepare_sandbox(&spec).map(|_| ()))
                            .unwrap_or_else(|_| Err("sandbox creation panicked".to_string()));
                        let _ = events.send(Event::Prepared { container_id: spec.container_id, result });
                    }
                });
                if let Err(e) = job.await {
                    error!(error = %e, "sandbox lane failed");
                }
            });
        }
    }

    /// Posts status updates in order, one call per run of updates for the same stream.
    fn send_updates(&mut self, updates: Vec<(String, StatusUpdate)>) {
        let mut batch: Vec<StatusUpdate> = Vec::new();
        let mut current: Option<String> = None;
        let mut calls = Vec::new();
        for (stream_id, update) in updates {
            self.metrics.status_updates.with_label_values(&[update.status.state.name()]).inc();
            if current.as_ref().is_some_and(|c| *c != stream_id) || batch.len() >= MAX_UPDATES_PER_CALL {
                calls.push((current.take(), std::mem::take(&mut batch)));
            }
            current = Some(stream_id);
            batch.push(update);
        }
        calls.push((current, batch));
        for (stream_id, mut batch) in calls {
            let Some(stream_id) = stream_id else { continue };
            let call = match batch.len() {
                0 => continue,
                1 => match batch.pop() {
                    Some(status_update) => AgentCall::StatusUpdate { status_update },
                    None => continue,
                },
                _ => AgentCall::StatusUpdates { status_updates: batch },
            };
            let master = self.master.clone();
            self.helpers.spawn(async move { master.post(&stream_id, &call).await });
        }
    }

    /// The state as of now, for an endpoint; also published.
    fn answer_snapshot(&mut self, reply: crate::server::SnapshotRequest) {
        let version = self.core.version();
        if version != self.published {
            self.published = version;
            self.published_at = Some(Instant::now());
            self.snapshot_tx.send_replace(Arc::new(self.core.snapshot()));
        }
        let _ = reply.send(self.snapshot_tx.borrow().clone());
    }

    fn publish(&mut self) {
        let version = self.core.version();
        if version == self.published || self.publish_due().is_some_and(|due| due > Instant::now()) {
            return;
        }
        self.published = version;
        self.published_at = Some(Instant::now());
        self.snapshot_tx.send_replace(Arc::new(self.core.snapshot()));
    }

    /// When a pending change may be published.
    fn publish_due(&self) -> Option<Instant> {
        if self.core.version() == self.published {
            return None;
        }
        Some(self.published_at.map_or_else(Instant::now, |at| at + PUBLISH_INTERVAL))
    }

    /// Runs until `stop` turns true, then shuts the core down (tasks of checkpointing
    /// frameworks keep running).
    pub(crate) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut leader = self.detector.as_ref().map(coordination::mesos::MasterDetector::leader);
        loop {
            while let Some(done) = self.helpers.try_join_next() {
                if let Err(e) = done
                    && e.is_panic()
                {
                    error!(error = %e, "an agent helper task panicked");
                }
            }
            let wake = match (self.core.next_wakeup().map(|d| self.origin + d), self.publish_due()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let sleep = async move {
                match wake {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let detected = async {
                match leader.as_mut() {
                    Some(leader) => leader.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        break;
                    }
                }
                alive = detected => {
                    let master = match leader.as_mut() {
                        Some(l) if alive => l.borrow_and_update().as_ref().map(coordination::mesos::http_address),
                        _ => {
                            leader = None;
                            continue;
                        }
                    };
                    self.step(Event::MasterDetected { master }).await;
                }
                Some(reply) = self.snapshot_requests.recv() => self.answer_snapshot(reply),
                Some(first) = self.spawned_rx.recv() => {
                    let mut spawned = vec![first];
                    while spawned.len() < MAX_BURST {
                        match self.spawned_rx.try_recv() {
                            Ok(s) => spawned.push(s),
                            Err(_) => break,
                        }
                    }
                    self.on_spawned(spawned).await;
                }
                event = self.events_rx.recv() => match event {
                    Some(event) => {
                        let mut burst = vec![event];
                        while burst.len() < MAX_BURST {
                            match self.events_rx.try_recv() {
                                Ok(e) => burst.push(e),
                                Err(_) => break,
                            }
                        }
                        self.step_all(burst).await;
                    }
                    None => break,
                },
                () = sleep => self.step(Event::Tick).await,
            }
        }
        info!("agent stopping");
        self.wait_teardowns = true;
        self.step(Event::Shutdown).await;
        if let Some((_, handle)) = self.link.take() {
            handle.abort();
        }
        if let Some(detector) = self.detector.take() {
            detector.stop().await;
        }
        // Dropping the helpers aborts waiters, fetches and posts; processes keep running.
        self.helpers.shutdown().await;
    }

    /// Makes `checkpoints` durable together (a hollow agent keeps nothing across restarts).
    async fn checkpoint(&self, checkpoints: Vec<crate::core::Checkpoint>) {
        if checkpoints.is_empty() || self.containers.hollow() {
            return;
        }
        let store = self.store.clone();
        let writes = self.metrics.checkpoint_writes.clone();
        let write = move || {
            let started = std::time::Instant::now();
            let result = store.apply_batch(&checkpoints);
            writes.observe(started.elapsed().as_secs_f64());
            result
        };
        match tokio::task::spawn_blocking(write).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => error!(error = %e, "checkpoint failed"),
            Err(e) => error!(error = %e, "checkpoint task failed"),
        }
    }

    async fn execute(&mut self, command: Command) {
        let deferred = match &command {
            Command::Signal { container_id, .. } | Command::Destroy { container_id } => {
                self.spawning.get_mut(container_id)
            }
            _ => None,
        };
        if let Some(waiting) = deferred {
            // The process is being started: act on it once it exists.
            waiting.push(command);
            return;
        }
        match command {
            Command::Connect { conn, register, master: address } => {
                if let Some((_, old)) = self.link.take() {
                    old.abort();
                }
                self.master.set_master(&address);
                let master = self.master.clone();
                let events = self.events_tx.clone();
                let handle = self.helpers.spawn(master.run_stream(conn, *register, address, events));
                self.link = Some((conn, handle));
            }
            Command::Disconnect { conn } => {
                if let Some((c, handle)) = self.link.take() {
                    if c == conn {
                        handle.abort();
                    } else {
                        self.link = Some((c, handle));
                    }
                }
            }
            Command::Send { stream_id, call } => {
                let master = self.master.clone();
                self.helpers.spawn(async move { master.post(&stream_id, &call).await });
            }
            // step_all() group-commits checkpoints before other commands; one arriving here on
            // its own is written the same way.
            Command::Checkpoint(cp) => self.checkpoint(vec![cp]).await,
            Command::Prepare(spec) if self.containers.hollow() => {
                let _ =
                    self.events_tx.send(Event::Prepared { container_id: spec.container_id.clone(), result: Ok(()) });
            }
            Command::Prepare(spec) => {
                let http = self.http.clone();
                let events = self.events_tx.clone();
                self.helpers.spawn(async move {
                    let result = prepare(&http, &spec).await;
                    let _ = events.send(Event::Prepared { container_id: spec.container_id.clone(), result });
                });
            }
            Command::Spawn(spec) => {
                self.spawning.insert(spec.container_id.clone(), Vec::new());
                if spec.docker.is_some() {
                    self.spawn_docker(*spec);
                } else {
                    self.spawn_all(vec![*spec]);
                }
            }
            Command::Reattach { container_id } if self.is_docker(&container_id) => {
                if let Some(container) = self.docker.as_ref().and_then(|d| d.get(&container_id)) {
                    self.watch_docker(container);
                }
            }
            Command::Reattach { container_id } => match self.containers.get(&container_id) {
                Some(container) => self.watch(container),
                None => {
                    warn!(%container_id, "no handle to reattach to");
                    let _ = self.events_tx.send(Event::Exited {
                        container_id,
                        exit: crate::core::ExitInfo { termination: crate::core::Termination::Unknown, oom: None },
                    });
                }
            },
            Command::Signal { container_id, signal } if self.is_docker(&container_id) => {
                if let Some(container) = self.docker.as_ref().and_then(|d| d.get(&container_id)) {
                    self.helpers.spawn(async move { crate::docker_tasks::signal(&container, signal).await });
                }
            }
            Command::Signal { container_id, signal } => match self.containers.get(&container_id) {
                // SIGKILL waits until the cgroups are empty: not in the loop.
                Some(container) if signal == crate::core::KillSignal::Kill => {
                    self.helpers.spawn(async move {
                        let _ = tokio::task::spawn_blocking(move || container.signal(signal)).await;
                    });
                }
                Some(container) => container.signal(signal),
                None => debug!(%container_id, "signal for a container without a process"),
            },
            // A hollow agent runs no task process, so there is nothing to probe: every check
            // passes at once (a task with a health check reports `healthy: true` after its delay).
            Command::RunHealthCheck { container_id, check_id, .. } if self.containers.hollow() => {
                let _ = self.events_tx.send(Event::HealthCheckResult { container_id, check_id, result: Ok(()) });
            }
            Command::RunHealthCheck { container_id, check_id, probe, timeout }
                if matches!(*probe, HealthProbe::ContainerCommand { .. }) =>
            {
                let container = self.docker.as_ref().and_then(|d| d.get(&container_id));
                let events = self.events_tx.clone();
                let metrics = self.metrics.clone();
                self.helpers.spawn(async move {
                    let result = match (&*probe, container) {
                        (HealthProbe::ContainerCommand { command, env }, Some(c)) => {
                            crate::docker_tasks::exec_check(&c, command, env, timeout).await
                        }
                        _ => Err("the task's container is gone".to_string()),
                    };
                    metrics.count_health_check(&result);
                    let _ = events.send(Event::HealthCheckResult { container_id, check_id, result });
                });
            }
            Command::RunHealthCheck { container_id, check_id, probe, timeout } => {
                let http = self.health_http.clone();
                let env = self.base_env.clone();
                let events = self.events_tx.clone();
                let metrics = self.metrics.clone();
                self.helpers.spawn(async move {
                    let result = crate::health::run(&probe, timeout, &http, &env).await;
                    metrics.count_health_check(&result);
                    let _ = events.send(Event::HealthCheckResult { container_id, check_id, result });
                });
            }
            // A hollow agent has no sandboxes.
            Command::StampForGc(_) | Command::GarbageCollect(_) if self.containers.hollow() => {}
            Command::StampForGc(paths) => {
                self.helpers.spawn(async move {
                    let _ = tokio::task::spawn_blocking(move || crate::gc::stamp(&paths)).await;
                });
            }
            Command::GarbageCollect(paths) => {
                let layout = self.store.layout().clone();
                self.helpers.spawn(async move {
                    let _ = tokio::task::spawn_blocking(move || crate::gc::remove(&layout, &paths)).await;
                });
            }
            Command::CheckDiskUsage => {
                let work_dir = self.store.layout().work_dir().to_path_buf();
                let events = self.events_tx.clone();
                self.helpers.spawn(async move {
                    match tokio::task::spawn_blocking(move || crate::gc::disk_usage(&work_dir)).await {
                        Ok(Ok(usage)) => {
                            let _ = events.send(Event::DiskUsage(usage));
                        }
                        Ok(Err(e)) => warn!(error = %e, "cannot measure the disk usage"),
                        Err(e) => warn!(error = %e, "disk usage job failed"),
                    }
                });
            }
            Command::Measure(measures) => {
                let measured: Vec<_> =
                    measures.into_iter().map(|m| (self.containers.get(&m.container_id), m)).collect();
                let events = self.events_tx.clone();
                self.helpers.spawn(async move {
                    match tokio::task::spawn_blocking(move || measure(measured)).await {
                        Ok(usages) => {
                            let _ = events.send(Event::Measured(usages));
                        }
                        Err(e) => warn!(error = %e, "container measurement failed"),
                    }
                });
            }
            Command::Destroy { container_id } if self.is_docker(&container_id) => {
                let Some(docker) = self.docker.as_mut() else { return };
                let job = docker.destroy(&container_id, self.wait_teardowns);
                if self.wait_teardowns {
                    job.await;
                } else {
                    self.helpers.spawn(job);
                }
            }
            Command::Destroy { container_id } => {
                let teardown = self.containers.take_for_destroy(&container_id);
                let job = async move {
                    let _ = tokio::task::spawn_blocking(move || teardown.run()).await;
                    debug!(%container_id, "container destroyed");
                };
                if self.wait_teardowns {
                    job.await;
                } else {
                    self.helpers.spawn(job);
                }
            }
        }
    }

    /// Starts task processes in the background (their containers are in `spawning`, where
    /// kills and destroys wait until they exist): the burst is split over at most
    /// [`SPAWN_LANES`] blocking jobs (at most [`SPAWN_CONCURRENCY`] running), each starting its
    /// tasks in order with [`SPAWN_WINDOW`] in flight ([`spawn_lane`]), instead of a blocking
    /// job, and two thread hand-offs, per task. Each result is reported as soon as it is known.
    fn spawn_all(&mut self, mut specs: Vec<LaunchSpec>) {
        let lane_len = specs.len().div_ceil(SPAWN_LANES).max(1);
        while !specs.is_empty() {
            let lane: Vec<LaunchSpec> = specs.drain(..lane_len.min(specs.len())).collect();
            let env = self.base_env.clone();
            let launcher = self.containers.launcher();
            let slots = self.spawn_slots.clone();
            let done = self.spawned_tx.clone();
            self.helpers.spawn(async move {
                let _slot = slots.acquire_owned().await;
                let job = tokio::task::spawn_blocking(move || spawn_lane(&launcher, &env, lane, &done));
                if let Err(e) = job.await {
                    error!(error = %e, "spawn lane failed");
                }
            });
        }
    }

    /// Whether `container_id` is a Docker task's container.
    fn is_docker(&self, container_id: &str) -> bool {
        self.docker.as_ref().is_some_and(|d| d.has(container_id))
    }

    /// Starts a Docker task's container in the background (see [`DockerTasks::launch`]);
    /// the result goes where the spawn lanes' go.
    fn spawn_docker(&mut self, spec: LaunchSpec) {
        let done = self.spawned_tx.clone();
        let container_id = spec.container_id.clone();
        let Some(docker) = &self.docker else {
            let _ = done.send((container_id, Err("the Docker containerizer is not enabled on this agent".to_string())));
            return;
        };
        let launch = docker.launch(spec);
        self.helpers.spawn(async move {
            let result = launch.await.map(Launched::Docker);
            let _ = done.send((container_id, result));
        });
    }

    /// Handles launches that finished together in one burst (one group commit for all
    /// their TASK_RUNNING updates), then the commands that waited for them.
    async fn on_spawned(&mut self, spawned: Vec<(String, Result<Launched, String>)>) {
        let mut events = Vec::with_capacity(spawned.len());
        let mut waiting = Vec::new();
        for (container_id, result) in spawned {
            waiting.extend(self.spawning.remove(&container_id).unwrap_or_default());
            match result {
                Ok(Launched::Process(container)) => {
                    self.metrics.launches.with_label_values(&["mesos", "launched"]).inc();
                    self.containers.insert(container.clone());
                    let pid = container.task_pid();
                    self.watch(container);
                    events.push(Event::Spawned { container_id, result: Ok(Started { pid, addresses: Vec::new() }) });
                }
                Ok(Launched::Docker(container)) => {
                    self.metrics.launches.with_label_values(&["docker", "launched"]).inc();
                    let started = crate::docker_tasks::started(&container);
                    if let Some(docker) = self.docker.as_mut() {
                        docker.insert(container.clone());
                    }
                    self.watch_docker(container);
                    events.push(Event::Spawned { container_id, result: Ok(started) });
                }
                Err(e) => {
                    self.metrics.launches.with_label_values(&["any", "failed"]).inc();
                    events.push(Event::Spawned { container_id, result: Err(e) });
                }
            }
        }
        self.step_all(events).await;
        for command in waiting {
            self.execute(command).await;
        }
    }

    fn watch_docker(&mut self, container: docker::Container) {
        let events = self.events_tx.clone();
        self.helpers.spawn(async move {
            let exit = crate::docker_tasks::wait(&container).await;
            let _ = events.send(Event::Exited { container_id: container.container_id().to_string(), exit });
        });
    }

    fn watch(&mut self, container: Arc<Container>) {
        let events = self.events_tx.clone();
        self.helpers.spawn(async move {
            let exit = container.wait().await;
            let container_id = container.container_id.clone();
            // A task that reached its pids limit and ended before the next measurement (its
            // shell could not fork) still fails for it: the core learns of it first.
            if let Some(refused) = container.refused_forks().filter(|n| *n > 0) {
                let usage = crate::core::Usage {
                    container_id: container_id.clone(),
                    refused_forks: Some(refused),
                    disk_bytes: None,
                };
                let _ = events.send(Event::Measured(vec![usage]));
            }
            let _ = events.send(Event::Exited { container_id, exit });
        });
    }
}

/// Measures containers for [`Command::Measure`] (blocking): refused forks of their pids
/// cgroups, sizes of their sandboxes.
fn measure(measures: Vec<(Option<Arc<Container>>, crate::core::Measure)>) -> Vec<crate::core::Usage> {
    measures
        .into_iter()
        .map(|(container, m)| {
            let refused_forks = if m.pids { container.and_then(|c| c.refused_forks()) } else { None };
            let disk_bytes = m.sandbox.as_deref().and_then(|dir| match crate::isolation::disk::usage(dir) {
                Ok(bytes) => Some(bytes),
                Err(e) => {
                    warn!(sandbox = %dir.display(), error = %e, "cannot measure the sandbox");
                    None
                }
            });
            crate::core::Usage { container_id: m.container_id, refused_forks, disk_bytes }
        })
        .collect()
}

/// Starts `lane`'s tasks in order, keeping up to [`SPAWN_WINDOW`] launches in flight, and
/// reports each (blocking). Every task gets its answer, even if one launch panics.
fn spawn_lane(
    launcher: &Launcher,
    env: &[(String, String)],
    lane: Vec<LaunchSpec>,
    done: &mpsc::UnboundedSender<(String, Result<Launched, String>)>,
) {
    fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| Err("launch panicked".to_string()))
    }
    let finish = |(container_id, started): (String, Result<Starting, String>)| {
        let result = started.and_then(|starting| guarded(|| starting.finish(launcher))).map(Launched::Process);
        let _ = done.send((container_id, result));
    };
    let mut in_flight: std::collections::VecDeque<(String, Result<Starting, String>)> =
        std::collections::VecDeque::with_capacity(SPAWN_WINDOW);
    for spec in lane {
        let started = guarded(|| launcher.start(&spec, env));
        in_flight.push_back((spec.container_id, started));
        if in_flight.len() >= SPAWN_WINDOW
            && let Some(oldest) = in_flight.pop_front()
        {
            finish(oldest);
        }
    }
    while let Some(oldest) = in_flight.pop_front() {
        finish(oldest);
    }
}

/// Creates the sandbox with its `runs/latest` link and fetches the URIs (with the task user's
/// rights).
async fn prepare(http: &reqwest::Client, spec: &LaunchSpec) -> Result<(), String> {
    let blocking = spec.clone();
    let user = tokio::task::spawn_blocking(move || prepare_sandbox(&blocking)).await.map_err(|e| e.to_string())??;
    if spec.uris.is_empty() {
        return Ok(());
    }
    crate::fetcher::fetch_all(http, &spec.uris, &spec.sandbox, user.as_ref())
        .await
        .map_err(|e| format!("Failed to fetch URIs: {e}"))
}

/// Creates the sandbox (blocking) and, for a task with a user to switch to, gives it to that
/// user, with empty `stdout` and `stderr` files of theirs; returns the user's credentials
/// (`None`: the task runs as the agent's user). A user that does not exist fails the task.
fn prepare_sandbox(spec: &LaunchSpec) -> Result<Option<containerizer::UserCreds>, String> {
    let user = match spec.user.as_deref() {
        Some(name) => {
            Some(containerizer::UserCreds::lookup(name).map_err(|e| format!("Failed to prepare the sandbox: {e}"))?)
        }
        None => None,
    };
    match &spec.executor_sandbox {
        // A task of a task group: its executor's run directory (with `runs/latest`), then the
        // task's sandbox in it.
        Some(executor) => {
            create_sandbox(executor)?;
            std::fs::create_dir_all(&spec.sandbox).map_err(|e| format!("cannot create the task's sandbox: {e}"))?;
        }
        None => create_sandbox(&spec.sandbox)?,
    }
    let Some(creds) = user.filter(|u| u.uid != nix::unistd::geteuid().as_raw()) else {
        return Ok(None);
    };
    for name in ["stdout", "stderr"] {
        let path = spec.sandbox.join(name);
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        std::os::unix::fs::lchown(&path, Some(creds.uid), Some(creds.gid))
            .map_err(|e| format!("cannot give {} to the task's user: {e}", path.display()))?;
    }
    std::os::unix::fs::chown(&spec.sandbox, Some(creds.uid), Some(creds.gid))
        .map_err(|e| format!("cannot give the sandbox to the task's user: {e}"))?;
    Ok(Some(creds))
}

/// The sandbox directory and `runs/latest` pointing at it (blocking). Neither is made durable:
/// nothing is recovered from them. The garbage collector may be removing the empty directory
/// of the same executor (a task id used again) at that moment: then it tries again.
fn create_sandbox(sandbox: &std::path::Path) -> Result<(), String> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        match try_create_sandbox(sandbox) {
            Err((std::io::ErrorKind::NotFound, _)) if attempts < 3 => {}
            result => return result.map_err(|(_, message)| message),
        }
    }
}

fn try_create_sandbox(sandbox: &std::path::Path) -> Result<(), (std::io::ErrorKind, String)> {
    std::fs::create_dir_all(sandbox).map_err(|e| (e.kind(), format!("cannot create the sandbox: {e}")))?;
    if let (Some(runs), Some(name)) = (sandbox.parent(), sandbox.file_name()) {
        let target = std::path::Path::new(name);
        let latest = runs.join("latest");
        // The first run of an executor has no link yet: create it in place (no temporary
        // link and rename); a later run replaces it atomically.
        match std::os::unix::fs::symlink(target, &latest) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                crate::checkpoint::replace_symlink_volatile(target, &latest)
                    .map_err(|e| (e.source.kind(), e.to_string()))?;
            }
            Err(e) => return Err((e.kind(), format!("cannot link {}: {e}", latest.display()))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::create_sandbox;

    #[test]
    fn sandbox_links_latest_to_the_newest_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        let runs = dir.path().join("executors/e1/runs");
        create_sandbox(&runs.join("c1")).expect("first run");
        assert_eq!(std::fs::read_link(runs.join("latest")).expect("link"), std::path::Path::new("c1"));
        create_sandbox(&runs.join("c2")).expect("second run");
        assert_eq!(std::fs::read_link(runs.join("latest")).expect("link"), std::path::Path::new("c2"));
        assert!(runs.join("latest").is_dir());
        let names: Vec<_> = std::fs::read_dir(&runs).expect("runs").flatten().map(|e| e.file_name()).collect();
        assert_eq!(names.len(), 3, "no temporary link left: {names:?}");
    }
}
