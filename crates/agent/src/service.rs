//! Starting an agent (the shell around [`crate::core::AgentCore`]): its flags checked, the work
//! dir recovered, the runtime task that owns the core and the HTTP server started.

use crate::checkpoint::Store;
use crate::containers::Containers;
use crate::core::{AgentCore, CoreConfig, Event, RecoveredProcess, RecoveredTask, Recovery, Snapshot};
use crate::flags::{AgentFlags, FlagError};
use crate::paths::Layout;
use crate::{
    auth, checkpoint, containerizers, core, detect, docker_tasks, flags, gc, health, isolation, link, metrics, runtime,
    server,
};
use mesos_api::AgentId;
use mesos_api::messages::AgentInfo;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tracing::{info, warn};

/// Kill grace of the command executor when neither the kill nor the task has a policy.
const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(3);
/// Cap of the registration backoff.
const REGISTRATION_BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Cap of the status update retry interval (Mesos' STATUS_UPDATE_RETRY_INTERVAL_MAX).
const UPDATE_RETRY_MAX: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Flags(#[from] FlagError),
    #[error("work dir {}: {source}", path.display())]
    WorkDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("recovery failed: {0}")]
    Recovery(String),
    #[error("the agent's {0} task failed")]
    Task(&'static str),
    #[error("cannot start the Docker containerizer: {0}")]
    Docker(String),
}

/// A started agent. Drop it only after [`RunningAgent::shutdown`] (or [`RunningAgent::abort`]):
/// dropping it leaves the agent running in the background.
pub struct RunningAgent {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    runtime: JoinHandle<()>,
    server: JoinHandle<()>,
    snapshot: watch::Receiver<Arc<Snapshot>>,
}

impl RunningAgent {
    /// The address of the agent's HTTP server.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The latest published picture of the agent.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }

    /// The agent's id: the one the master gave it, or the one recovered from the work dir.
    pub fn agent_id(&self) -> Option<AgentId> {
        self.snapshot().agent_id.clone()
    }

    /// Stops the agent: tasks of frameworks that do not checkpoint are killed, the others
    /// keep running and are recovered by the next agent on the same work dir (as in Mesos).
    pub async fn shutdown(self) -> Result<(), AgentError> {
        let _ = self.stop.send(true);
        let runtime = self.runtime.await;
        let server = self.server.await;
        runtime.map_err(|_| AgentError::Task("runtime"))?;
        server.map_err(|_| AgentError::Task("HTTP server"))
    }

    /// Runs until `signal` resolves (e.g. [`shutdown_signal`]), then shuts down.
    pub async fn run_until(mut self, signal: impl Future<Output = ()>) -> Result<(), AgentError> {
        tokio::select! {
            () = signal => self.shutdown().await,
            r = &mut self.runtime => {
                self.server.abort();
                r.map_err(|_| AgentError::Task("runtime"))?;
                Err(AgentError::Task("runtime"))
            }
        }
    }

    /// Stops at once, as if the agent process had been killed: nothing is cleaned up, task
    /// processes keep running, pending updates stay checkpointed. For crash tests.
    pub fn abort(self) {
        let RunningAgent { stop, runtime, server, .. } = self;
        runtime.abort();
        server.abort();
        // The abort takes effect at the runtime's next await; a `stop` sender dropped before
        // that reads as a stop request, and the runtime would shut down gracefully (killing
        // the tasks of frameworks that do not checkpoint). Keep it until the runtime is gone.
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    let _ = runtime.await;
                    drop(stop);
                });
            }
            Err(_) => std::mem::forget(stop),
        }
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

fn system_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Starts the agent: recovers the work dir, binds the HTTP server, registers with the master.
pub async fn start(flags: AgentFlags) -> Result<RunningAgent, AgentError> {
    flags.compat.warn_ignored();
    let (master, detector) = match flags::parse_master(&flags.master)? {
        flags::MasterLocation::Address(address) => (Some(address), None),
        flags::MasterLocation::ZooKeeper(url) => {
            info!(zk = %url, "following the leading master in ZooKeeper");
            (None, Some(coordination::mesos::MasterDetector::start(&url, flags.zk_session_timeout)))
        }
    };
    if !(0.0..=1.0).contains(&flags.gc_disk_headroom) {
        return Err(FlagError::Headroom(flags.gc_disk_headroom.to_string()).into());
    }
    let work_err = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| AgentError::WorkDir { path, source }
    };
    std::fs::create_dir_all(&flags.work_dir).map_err(work_err(&flags.work_dir))?;
    let work_dir = flags.work_dir.canonicalize().map_err(work_err(&flags.work_dir))?;
    std::fs::create_dir_all(work_dir.join("slaves")).map_err(work_err(&work_dir))?;
    let layout = Layout::new(&work_dir);

    let attributes = flags::parse_attributes(flags.attributes.as_deref().unwrap_or(""))?;
    let host = detect::HostFacts::probe(&work_dir);
    let resources = detect::total_resources(flags.resources.as_deref(), &flags.default_role, &host)?;
    let cgroups = if flags.wants_cgroups() {
        // This agent's own cgroup under the root: other agents on the host have theirs.
        let root = isolation::cgroups_root(&flags.cgroups_root, &work_dir);
        let found = containerizer::Cgroups::detect_with(&flags.cgroups_hierarchy, &root, flags.isolation.cgroups());
        match &found {
            Some(cg) => {
                info!(subsystems = ?cg.subsystems(), %root, cfs = cg.isolation().cfs, "cgroups isolation enabled");
                if cg.isolation().pids && !cg.subsystems().contains(&"pids") {
                    warn!("cgroups/pids: the pids hierarchy is not mounted: the tasks' processes are not limited");
                }
            }
            None => warn!(
                hierarchy = %flags.cgroups_hierarchy.display(),
                "cgroups v1 (cpu and memory) are not usable here: tasks run as plain processes without resource limits"
            ),
        }
        found
    } else {
        info!(isolation = %flags.isolation.isolation, "posix isolation: tasks run without resource limits");
        None
    };

    let ssl = httpd::tls::LibprocessSsl::from_env().map_err(|e| AgentError::Client(e.to_string()))?;
    let tls_server = ssl.server_config().map_err(|e| AgentError::Client(e.to_string()))?;
    let tls_client = ssl.client_config().map_err(|e| AgentError::Client(e.to_string()))?;
    let limits = httpd::Limits::from_flags(&flags.http);

    // The pids limit is watched when the pids cgroups exist to enforce it.
    let pids_max =
        cgroups.as_ref().filter(|cg| cg.subsystems().contains(&"pids")).and_then(|cg| cg.isolation().pids_max);
    if flags.isolation.enforce_container_disk_quota && !flags.isolation.isolation.disk_du {
        warn!("--enforce_container_disk_quota needs the disk/du isolator in --isolation: sandboxes are not limited");
    }

    let addr = SocketAddr::new(flags.ip, flags.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| AgentError::Bind { addr: addr.to_string(), source })?;
    let local_addr = listener.local_addr().map_err(|source| AgentError::Bind { addr: addr.to_string(), source })?;
    let hostname = flags.hostname.clone().unwrap_or_else(system_hostname);
    let endpoint = format!("{}:{}", flags.ip, local_addr.port());

    let store = Store::new(layout.clone());
    let private_tmp = flags.isolation.isolation.filesystem_linux && !flags.hollow;
    if private_tmp && work_dir.starts_with("/tmp") {
        warn!(work_dir = %work_dir.display(), "filesystem/linux: the sandboxes are under /tmp, which each task sees as its own private /tmp: tasks reach their sandbox as their working directory only, not by its path");
    }
    let log_rotation = flags.logger.rotation()?;
    // Agents of earlier releases kept their containers right under the root.
    let legacy_cgroups = cgroups.as_ref().and_then(|cg| {
        containerizer::Cgroups::detect_with(&flags.cgroups_hierarchy, &flags.cgroups_root, cg.isolation())
    });
    let monitored_cgroups = cgroups.clone();
    let mut containers =
        Containers::new(layout.clone(), store.clone(), cgroups, flags.hollow, private_tmp, log_rotation)
            .with_legacy_cgroups(legacy_cgroups);
    if flags.hollow {
        warn!("hollow agent: tasks are simulated, no process is started");
    }
    let (mut recovery, containers) = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || {
            let recovery = recover(&store, &mut containers);
            (recovery, containers)
        })
        .await
        .map_err(|e| AgentError::Recovery(e.to_string()))?
    };
    let docker =
        start_docker(&flags.containerizers, &flags.isolation, log_rotation, &work_dir, &host, &layout, &mut recovery)
            .await?;

    let credential = flags.credential.as_deref().map(flags::read_credential).transpose()?;
    let readonly_auth = auth::from_flags(&flags)?;
    let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(5));
    let http = match &tls_client {
        Some(tls) => http.tls_backend_preconfigured(rustls::ClientConfig::clone(tls)),
        None => http,
    };
    let http = http.build().map_err(|e| AgentError::Client(e.to_string()))?;
    let health_http = health::http_client().map_err(AgentError::Client)?;
    let cfg = CoreConfig {
        master: master.clone(),
        agent_info: AgentInfo {
            hostname: hostname.clone(),
            port: local_addr.port(),
            resources: resources.to_wire(),
            attributes: attributes.clone(),
            id: None,
            domain: None,
        },
        endpoint: endpoint.clone(),
        ip: flags.ip.to_string(),
        layout: layout.clone(),
        default_kill_grace: DEFAULT_KILL_GRACE,
        executor_shutdown_grace: flags.executor_shutdown_grace_period,
        update_retry_min: flags.status_update_retry_interval,
        update_retry_max: UPDATE_RETRY_MAX.max(flags.status_update_retry_interval),
        registration_backoff_factor: flags.registration_backoff_factor,
        registration_backoff_max: REGISTRATION_BACKOFF_MAX.max(flags.registration_backoff_factor),
        cgroups: containers.launcher().has_cgroups(),
        seed: rand::random(),
        gc_delay: flags.gc_delay,
        gc_disk_headroom: flags.gc_disk_headroom,
        disk_watch_interval: flags.disk_watch_interval,
        containerizers: flags.containerizers.containerizers.0.clone(),
        docker_stop_timeout: flags.containerizers.docker_stop_timeout,
        switch_user: flags.isolation.switch_user && !flags.hollow,
        agent_user: nix::unistd::User::from_uid(nix::unistd::geteuid()).ok().flatten().map(|u| u.name),
        limits: core::LimitsConfig {
            pids_max,
            disk_watch: flags.isolation.disk_quota_watch().filter(|_| !flags.hollow),
        },
    };
    let (snapshot_tx, snapshot_rx) = watch::channel(Arc::new(Snapshot::default()));
    let (fresh_tx, snapshot_requests) = mpsc::unbounded_channel();
    let (spawned_tx, spawned_rx) = mpsc::unbounded_channel();
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let metrics = metrics::Metrics::new();
    let mut runtime = runtime::Runtime {
        core: AgentCore::new(cfg),
        store,
        containers,
        docker,
        master: link::MasterClient::new(http.clone(), master.as_deref().unwrap_or_default(), tls_client, credential),
        http,
        health_http,
        base_env: Arc::new(
            std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect(),
        ),
        origin: tokio::time::Instant::now(),
        events_tx,
        events_rx,
        snapshot_tx,
        snapshot_requests,
        spawning: std::collections::HashMap::new(),
        spawned_tx,
        spawned_rx,
        spawn_slots: Arc::new(tokio::sync::Semaphore::new(runtime::SPAWN_CONCURRENCY)),
        helpers: JoinSet::new(),
        link: None,
        published: 0,
        published_at: None,
        wait_teardowns: false,
        detector,
        metrics: metrics.clone(),
    };
    runtime.step(Event::Start(Box::new(recovery))).await;
    let runtime = tokio::spawn(runtime.run(stop_rx.clone()));

    let info = server::ServerInfo {
        work_dir,
        hostname,
        ip: flags.ip.to_string(),
        port: local_addr.port(),
        flags: flags.to_map(),
        resources,
        attributes,
        start_time: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0),
        started: std::time::Instant::now(),
        cgroups: monitored_cgroups,
    };
    let app = server::router(server::AppState {
        info: Arc::new(info),
        snapshot: snapshot_rx.clone(),
        fresh: fresh_tx,
        file_io: Default::default(),
        metrics,
    })
    .layer(axum::middleware::from_fn_with_state(readonly_auth, auth::authenticate));
    let mut stop_server = stop_rx;
    let server = tokio::spawn(async move {
        let stopped = async move {
            while !*stop_server.borrow() {
                if stop_server.changed().await.is_err() {
                    break;
                }
            }
        };
        httpd::serve(listener, app, limits, tls_server, httpd::plain_request_timeout, stopped).await;
    });
    info!(%local_addr, master = %flags.master, %endpoint, "agent started");
    Ok(RunningAgent { local_addr, stop: stop_tx, runtime, server, snapshot: snapshot_rx })
}

/// Reads what a previous run left in the work dir (blocking).
fn recover(store: &Store, containers: &mut Containers) -> Recovery {
    let layout = store.layout().clone();
    let boot_id = checkpoint::current_boot_id();
    let old_boot = std::fs::read_to_string(layout.boot_id_file()).ok().map(|s| s.trim().to_string());
    if let (Some(old), Some(now)) = (&old_boot, &boot_id)
        && old != now
    {
        warn!(old, now, "the host rebooted since the last run: discarding the checkpointed state");
        if let Err(e) = std::fs::remove_dir_all(layout.meta_slaves_dir())
            && e.kind() != std::io::ErrorKind::NotFound
        {
            warn!(error = %e, "cannot remove the old checkpoint");
        }
        store.discard();
        containers.discard_records();
    }
    if let Some(id) = &boot_id
        && let Err(e) = checkpoint::write_atomic(&layout.boot_id_file(), id.as_bytes())
    {
        warn!(error = %e, "cannot write the boot id");
    }
    let meta = store.recover();
    let mut processes = containers.recover(&meta.containers);
    let tasks: Vec<RecoveredTask> = meta
        .tasks
        .into_iter()
        .map(|t| RecoveredTask {
            // Nothing at all of its container: its launch never started. (A Docker task's
            // container is looked up in dockerd later: `start_docker`.)
            process: processes.remove(&t.container_id).unwrap_or(RecoveredProcess::NotStarted),
            framework_id: t.framework_id,
            container_id: t.container_id,
            info: t.info,
            records: t.records,
            containerizer: t.containerizer,
            addresses: Vec::new(),
            executor_id: t.executor_id,
        })
        .collect();
    let executors = meta
        .executors
        .into_iter()
        .map(|e| crate::core::RecoveredExecutor {
            framework_id: e.framework_id,
            container_id: e.container_id,
            info: e.info,
        })
        .collect();
    info!(
        agent_id = ?meta.agent_id.as_ref().map(|a| a.value.as_str()),
        tasks = tasks.len(),
        orphans = processes.len(),
        "recovered the work dir"
    );
    let sandboxes = gc::scan(&layout, meta.agent_id.as_ref());
    Recovery {
        sandboxes,
        agent_id: meta.agent_id,
        frameworks: meta.frameworks,
        executors,
        tasks,
        orphan_containers: processes.into_keys().collect(),
    }
}

/// With `--containerizers` naming `docker`: connects to dockerd and recovers the containers
/// of the checkpointed Docker tasks in `recovery` (removing this agent's containers it has no
/// record of). A Docker task recovered by an agent without the Docker containerizer cannot be
/// looked after: it is reported as gone.
async fn start_docker(
    flags: &containerizers::ContainerizerFlags,
    isolation: &isolation::IsolationFlags,
    log_rotation: Option<containerizer::LogRotation>,
    work_dir: &std::path::Path,
    host: &detect::HostFacts,
    layout: &Layout,
    recovery: &mut Recovery,
) -> Result<Option<docker_tasks::DockerTasks>, AgentError> {
    use crate::core::ContainerizerKind;
    flags.warn_unimplemented();
    let docker_tasks = recovery.tasks.iter_mut().filter(|t| t.containerizer == ContainerizerKind::Docker);
    if !flags.containerizers.has(ContainerizerKind::Docker) {
        for t in docker_tasks {
            warn!(task_id = %t.info.task_id, "a Docker task was recovered, but the Docker containerizer is not enabled (--containerizers)");
            t.process = RecoveredProcess::Unknown;
        }
        return Ok(None);
    }
    let settings = docker::Settings {
        // Unique per agent on a dockerd and stable across restarts.
        owner: work_dir.display().to_string(),
        sandbox_directory: flags.sandbox_directory.clone(),
        cgroups_enable_cfs: isolation.cgroups_enable_cfs,
        host_memory_bytes: Some(host.mem_bytes).filter(|m| *m > 0),
        pids_max: isolation.cgroups().pids.then(|| isolation.cgroups().pids_max).flatten(),
    };
    let mut docker =
        docker_tasks::DockerTasks::connect(&flags.docker_socket, settings, flags.docker_remove_delay, log_rotation)
            .await
            .map_err(AgentError::Docker)?;
    let agent_id = recovery.agent_id.clone().unwrap_or_default();
    let known: Vec<(String, PathBuf)> = recovery
        .tasks
        .iter()
        .filter(|t| t.containerizer == ContainerizerKind::Docker)
        .map(|t| {
            let sandbox =
                layout.sandbox(agent_id.as_str(), t.framework_id.as_str(), t.info.task_id.as_str(), &t.container_id);
            (t.container_id.clone(), sandbox)
        })
        .collect();
    let mut found = docker.recover(&known).await.map_err(AgentError::Recovery)?;
    for t in recovery.tasks.iter_mut().filter(|t| t.containerizer == ContainerizerKind::Docker) {
        if let Some(c) = found.remove(&t.container_id) {
            t.process = c.process;
            t.addresses = c.addresses;
        }
    }
    Ok(Some(docker))
}
