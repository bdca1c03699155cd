//! The scheduler's lifecycle: binds the REST API once, then runs incarnations of the service.
//! An incarnation opens the store, claims the next generation, loads the state, subscribes to
//! the master and drives the core until it must stop: a store write failed (the state in
//! memory can no longer be trusted: the core applied a change the store refused), or, with
//! high availability, this scheduler stopped leading. The incarnation is then dropped whole
//! (its pending API changes answer 503, its master connection closes) and the next one starts
//! from what is durable, exactly as after a restart of the process: the failure costs one
//! request and a moment of unavailability, never the process (in `marathon local` the master
//! and agents run on). Writes of an old incarnation are fenced by the next one's generation.
//!
//! With `--zk` (and without `--disable_ha`) the scheduler contends for leadership in
//! ZooKeeper (`coordination::marathon`): only the leader has an incarnation; a standby's API
//! forwards every request to the leader (`api::proxy`). A leader whose ZooKeeper session is
//! lost stops at once (before anything else happens in the driver), becomes a standby and
//! contends again.

use super::*;
use crate::api::proxy::{LeaderProxy, Leadership};
use tokio::sync::watch;

/// A running scheduler: its API address and the tasks behind it.
pub struct RunningScheduler {
    addr: SocketAddr,
    https_addr: Option<SocketAddr>,
    server: tokio::task::JoinHandle<()>,
    supervisor: tokio::task::JoinHandle<Result<(), SchedulerError>>,
}

impl RunningScheduler {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The HTTPS port's address (with `--https_port`).
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https_addr
    }

    /// Runs until the scheduler fails (it does not stop on its own otherwise).
    pub async fn wait(&mut self) -> Result<(), SchedulerError> {
        match (&mut self.supervisor).await {
            Ok(result) => result,
            Err(e) => Err(SchedulerError::WriteFailed(format!("driver task ended: {e}"))),
        }
    }

    pub fn shutdown(self) {
        self.server.abort();
        // Dropping the incarnation stops its master connection.
        self.supervisor.abort();
    }
}

/// What every incarnation shares: the flags, the API's view of this scheduler and the event bus
/// (subscribers stay connected across incarnations).
struct Shared {
    flags: SchedulerFlags,
    /// `--zk`: the state is in ZooKeeper.
    zk: Option<coordination::ZkUrl>,
    info: Arc<ServiceInfo>,
    bus: EventBus,
    probe_http: reqwest::Client,
    /// TLS to the master (`LIBPROCESS_SSL_*`, as upstream's Mesos library reads them).
    mesos_tls: Option<Arc<rustls::ClientConfig>>,
    /// What Marathon authenticates to the master with.
    mesos_credential: Option<mesos_api::credentials::Credential>,
}

/// The store the REST API reads versions from: the current incarnation's (none while the
/// next one opens it).
#[derive(Clone)]
pub(crate) struct CurrentStore(watch::Receiver<Option<store::AsyncStore>>);

impl CurrentStore {
    fn get(&self) -> store::Result<store::AsyncStore> {
        self.0.borrow().clone().ok_or_else(|| store::StoreError::Backend("the state is being reloaded".into()))
    }

    /// See [`store::Store::get_version`].
    pub(crate) async fn get_version(
        &self,
        namespace: store::Namespace,
        key: String,
        version: String,
    ) -> store::Result<Option<Vec<u8>>> {
        self.get()?.get_version(namespace, key, version).await
    }

    /// See [`store::Store::list_versions`].
    pub(crate) async fn list_versions(&self, namespace: store::Namespace, key: String) -> store::Result<Vec<String>> {
        self.get()?.list_versions(namespace, key).await
    }
}

/// Stops a master connection when dropped (with its incarnation, or when the scheduler stops).
struct ClientGuard(mesos_client::SchedulerClient);

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// One run of the service from the durable state.
struct Incarnation {
    service: Service,
    store: Arc<dyn Store>,
    client_events: mpsc::UnboundedReceiver<mesos_client::ClientEvent>,
    stored: mpsc::UnboundedReceiver<Result<Durable, String>>,
    probes: mpsc::UnboundedReceiver<Event>,
    _client: ClientGuard,
}

/// Loads the state, subscribes to the master and serves the REST API (with `--zk` and high
/// availability: contends for leadership and does that once elected).
pub async fn start(flags: SchedulerFlags) -> Result<RunningScheduler, SchedulerError> {
    flags.compat.warn_ignored();
    std::fs::create_dir_all(&flags.work_dir)
        .map_err(|source| SchedulerError::WorkDir { path: flags.work_dir.clone(), source })?;
    let zk = flags.zk.as_deref().map(coordination::ZkUrl::from_flag).transpose()?;
    let auth = crate::api::auth::Authentication::from_flags(&flags)?;
    let mesos_credential = crate::api::auth::mesos_credential(&flags)?;
    let probe_http = crate::probe::client().map_err(SchedulerError::ProbeClient)?;
    let ssl = httpd::tls::LibprocessSsl::from_env().map_err(|e| SchedulerError::Tls(e.to_string()))?;
    let mesos_tls = ssl.client_config().map_err(|e| SchedulerError::Tls(e.to_string()))?;
    let https_tls = flags.listen.tls().map_err(SchedulerError::Tls)?;
    let leader_tls = flags.listen.leader_client_tls(ssl.ca_file.as_deref()).map_err(SchedulerError::Tls)?;
    let limits = httpd::Limits::from_flags(&flags.listen.limits);
    let mut listeners = Vec::new();
    if !flags.listen.disable_http {
        let addr = SocketAddr::new(flags.http_address, flags.http_port);
        let listener =
            tokio::net::TcpListener::bind(addr).await.map_err(|source| SchedulerError::Bind { addr, source })?;
        listeners.push((listener, None));
    }
    if let (Some(port), Some(tls)) = (flags.listen.https_port, &https_tls) {
        let addr = SocketAddr::new(flags.listen.https_address, port);
        let listener =
            tokio::net::TcpListener::bind(addr).await.map_err(|source| SchedulerError::Bind { addr, source })?;
        listeners.push((listener, Some(tls.clone())));
    }
    let local = |l: &tokio::net::TcpListener| {
        l.local_addr().map_err(|source| SchedulerError::Bind {
            addr: SocketAddr::new(flags.http_address, flags.http_port),
            source,
        })
    };
    let https_addr = match listeners.iter().find(|(_, tls)| tls.is_some()) {
        Some((l, _)) => Some(local(l)?),
        None => None,
    };
    // The address advertised (leader election, `X-Marathon-Leader`): HTTP's, or HTTPS' when
    // HTTP is disabled.
    let addr = match listeners.first() {
        Some((l, _)) => local(l)?,
        None => return Err(SchedulerError::Tls("nothing to listen on".to_string())),
    };
    let hostname = flags.hostname.clone().unwrap_or_else(hostname_of_this_machine);
    let advertised_ip = if flags.http_address.is_unspecified() { hostname.clone() } else { addr.ip().to_string() };
    let metrics = Arc::new(crate::metrics::Metrics::new());
    let info = Arc::new(ServiceInfo {
        flags: flags.clone(),
        hostname,
        http_address: format!("{advertised_ip}:{}", addr.port()),
        started: Instant::now(),
        metrics: metrics.clone(),
        mesos_tls: mesos_tls.clone(),
    });
    let bus = EventBus::with_lag_histogram(Some(metrics.event_lag.clone()));
    crate::events::start_callbacks(&bus, &flags);
    let election = match (&zk, flags.high_availability()) {
        (Some(zk), true) => {
            let session_timeout = Duration::from_millis(flags.zk_session_timeout_ms);
            Some(Arc::new(coordination::marathon::contend(zk, &info.http_address, session_timeout)))
        }
        _ => None,
    };
    let shared = Shared { flags, zk, info: info.clone(), bus: bus.clone(), probe_http, mesos_tls, mesos_credential };

    // Alone, the scheduler leads from the start: a store it cannot open fails the start.
    let first = match &election {
        None => Some(open(&shared).await?),
        Some(_) => None,
    };
    let initially = if election.is_none() { Leadership::Leading } else { Leadership::Following { leader: None } };
    let (leadership, leadership_rx) = watch::channel(initially);
    let (current_store, store_rx) =
        watch::channel(first.as_ref().map(|first| store::AsyncStore::new(first.store.clone())));
    let (requests_tx, requests_rx) = mpsc::unbounded_channel();
    let proxy = LeaderProxy::new(info.http_address.clone(), leadership_rx, election.clone(), leader_tls);
    let supervisor = Supervisor { shared, election, requests: requests_rx, current_store, leadership };
    let supervisor = tokio::spawn(supervisor.run(first));

    let limit = info.flags.listen.http_max_concurrent_requests.map(crate::listen::ConcurrencyLimit::new);
    let handle = ServiceHandle { requests: requests_tx, info, bus };
    // Reads of the version history go to the store directly (reads are not fenced).
    let app = crate::api::router(handle, CurrentStore(store_rx), proxy, limit, auth);
    let mut servers = tokio::task::JoinSet::new();
    for (listener, tls) in listeners {
        servers.spawn(httpd::serve(
            listener,
            app.clone(),
            limits,
            tls,
            crate::api::request_timeout,
            std::future::pending(),
        ));
    }
    let server = tokio::spawn(async move {
        while servers.join_next().await.is_some() {}
        error!("REST API server stopped");
    });
    if let Some(https) = https_addr {
        info!(%https, "Marathon REST API listening (HTTPS)");
    }
    info!(%addr, "Marathon REST API listening");
    Ok(RunningScheduler { addr, https_addr, server, supervisor })
}

/// How long a failed incarnation waits before the next one opens the store.
const REOPEN_DELAY: Duration = Duration::from_millis(500);

/// Runs incarnations one after the other (see the module docs).
struct Supervisor {
    shared: Shared,
    election: Option<Arc<coordination::Election>>,
    requests: mpsc::UnboundedReceiver<Request>,
    current_store: watch::Sender<Option<store::AsyncStore>>,
    /// What the API's proxy and event streams see.
    leadership: watch::Sender<Leadership>,
}

/// Why the supervisor waited.
enum Waited {
    /// The time passed (or this scheduler leads, with high availability).
    Go,
    /// The API is gone: the scheduler stops.
    Stop,
}

impl Supervisor {
    async fn run(mut self, mut next: Option<Incarnation>) -> Result<(), SchedulerError> {
        loop {
            let incarnation = match next.take() {
                Some(incarnation) => incarnation,
                None => {
                    if let Waited::Stop = self.wait_to_lead().await {
                        return Ok(());
                    }
                    // Elected: requests are now this node's to answer; those that come while
                    // the state loads wait for it (in the requests channel) instead of being
                    // forwarded to the leader that was.
                    self.leadership.send_replace(Leadership::Leading);
                    match open(&self.shared).await {
                        Ok(incarnation) => incarnation,
                        Err(e) => {
                            warn!(error = %e, "cannot load the state yet; retrying");
                            if let Waited::Stop = self.pause(REOPEN_DELAY).await {
                                return Ok(());
                            }
                            continue;
                        }
                    }
                }
            };
            let _ = self.current_store.send(Some(store::AsyncStore::new(incarnation.store.clone())));
            self.leadership.send_replace(Leadership::Leading);
            let mut elected = self.election.as_ref().map(|e| e.leadership());
            let Incarnation { service, store, client_events, stored, probes, _client } = incarnation;
            let end = drive(service, client_events, &mut self.requests, stored, probes, elected.as_mut()).await;
            // The incarnation is gone: its waiting API changes were dropped (answered 503) and
            // its master connection closes now; the store is opened again by the next one.
            drop(_client);
            drop(store);
            let _ = self.current_store.send(None);
            if self.election.is_some() {
                self.leadership.send_replace(Leadership::Following { leader: None });
            }
            match end {
                DriverEnd::Stopped => return Ok(()),
                DriverEnd::Deposed => warn!("no longer the leader; serving as a standby"),
                DriverEnd::WriteFailed(e) => {
                    error!(error = %e, "a store write failed; reloading the state from the store");
                    if let Waited::Stop = self.pause(REOPEN_DELAY).await {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Waits `delay`, answering meanwhile requests with 503 (dropped: there is no state to serve).
    async fn pause(&mut self, delay: Duration) -> Waited {
        let until = tokio::time::sleep(delay);
        tokio::pin!(until);
        loop {
            tokio::select! {
                request = self.requests.recv() => {
                    if request.is_none() {
                        return Waited::Stop;
                    }
                }
                () = &mut until => return Waited::Go,
            }
        }
    }

    /// Waits until this scheduler leads (at once without high availability), keeping the API's
    /// view of the leader current meanwhile.
    async fn wait_to_lead(&mut self) -> Waited {
        let Some(election) = &self.election else { return Waited::Go };
        let mut elected = election.leadership();
        let me = self.shared.info.http_address.clone();
        loop {
            let now = elected.borrow_and_update().clone();
            if now.is_leader() {
                info!("elected leader");
                return Waited::Go;
            }
            let leader = coordination::marathon::leader_id(&now, &me);
            self.leadership.send_replace(Leadership::Following { leader });
            tokio::select! {
                changed = elected.changed() => {
                    if changed.is_err() {
                        return Waited::Stop;
                    }
                }
                request = self.requests.recv() => {
                    // A request that reached a standby's handlers (it was elected and deposed
                    // meanwhile) cannot be served here: dropping it answers 503.
                    if request.is_none() {
                        return Waited::Stop;
                    }
                }
            }
        }
    }
}

/// The store: ZooKeeper with `--zk`, else the embedded one in `--work_dir`.
fn open_store(zk: Option<&coordination::ZkUrl>, flags: &SchedulerFlags) -> Result<Arc<dyn Store>, SchedulerError> {
    Ok(match zk {
        Some(zk) => {
            let options = coordination::ZkStoreOptions {
                store: store::Options { max_versions: flags.zk_max_versions },
                session_timeout: Duration::from_millis(flags.zk_session_timeout_ms),
                operation_timeout: Duration::from_millis(flags.zk_timeout_ms),
                ..coordination::ZkStoreOptions::default()
            };
            Arc::new(coordination::ZkStore::open_with(zk, options)?)
        }
        None => Arc::new(store::RedbStore::open_in_work_dir(&flags.work_dir)?),
    })
}

/// Opens the store, claims the next generation (fencing every earlier writer) and loads the
/// state: blocking work, on a blocking thread.
async fn load(shared: &Shared) -> Result<(Arc<dyn Store>, Generation, records::Loaded), SchedulerError> {
    let (zk, flags) = (shared.zk.clone(), shared.flags.clone());
    tokio::task::spawn_blocking(move || {
        let store = open_store(zk.as_ref(), &flags)?;
        let generation = store.claim_next_generation()?;
        let loaded = records::load(store.as_ref())?;
        Ok((store, generation, loaded))
    })
    .await
    .map_err(|e| SchedulerError::WriteFailed(format!("loading the state panicked: {e}")))?
}

/// Opens the store, loads the state and starts the service on it (subscribing to the master).
async fn open(shared: &Shared) -> Result<Incarnation, SchedulerError> {
    let flags = &shared.flags;
    let (store, generation, mut loaded) = load(shared).await?;
    info!(
        apps = loaded.definitions.len(),
        instances = loaded.instances.len(),
        framework_id = ?loaded.framework_id,
        %generation,
        "state loaded"
    );

    let clock = Clock { start: Instant::now() };
    let config = SchedulerConfig {
        seed: rand::random(),
        max_instances_per_offer: flags.max_instances_per_offer,
        decline_offer_duration: Duration::from_millis(flags.decline_offer_duration_ms),
        min_revive_offers_interval: Duration::from_millis(flags.min_revive_offers_interval_ms),
        reconciliation_interval: flags.reconciliation_interval(),
        task_launch_confirm_timeout: Duration::from_millis(flags.task_launch_confirm_timeout_ms),
        task_launch_timeout: Duration::from_millis(flags.task_launch_timeout_ms),
        local_port_min: flags.local_port_min,
        local_port_max: flags.local_port_max,
        env_vars_prefix: flags.env_vars_prefix.clone(),
        ..SchedulerConfig::default()
    };
    let core = SchedulerCore::recover(config, clock.now(), loaded.recovered_state());
    let recovered_deployments = std::mem::take(&mut loaded.deployments);

    let framework_info = FrameworkInfo {
        user: flags.mesos_user.clone(),
        name: flags.framework_name.clone(),
        id: core.framework_id().cloned(),
        failover_timeout: flags.failover_timeout_secs as f64,
        checkpoint: true,
        role: flags.mesos_role.clone(),
        roles: Vec::new(),
        hostname: Some(shared.info.hostname.clone()),
        principal: flags.mesos_authentication_principal.clone(),
        webui_url: Some(format!("{}://{}", flags.listen.advertised_scheme(), shared.info.http_address)),
        capabilities: ["PARTITION_AWARE", "TASK_KILLING_STATE", "GPU_RESOURCES"]
            .into_iter()
            .map(|kind| Capability { kind: kind.to_string() })
            .collect(),
        labels: None,
        offer_filters: None,
    };
    let (client, client_events) = mesos_client::start(mesos_client::ClientConfig {
        tls: shared.mesos_tls.clone(),
        credential: shared.mesos_credential.clone(),
        ..mesos_client::ClientConfig::new(flags.master.clone(), framework_info)
    });

    let (calls_tx, calls_rx) = mpsc::unbounded_channel();
    tokio::spawn(send_calls(client.clone(), calls_rx));
    let (stored_tx, stored_rx) = mpsc::unbounded_channel();
    let (writes_tx, writes_rx) = std::sync::mpsc::channel();
    let writer_store = store.clone();
    let metrics = shared.info.metrics.clone();
    std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || write_batches(writer_store.as_ref(), generation, writes_rx, stored_tx, &metrics))
        .map_err(|source| SchedulerError::WorkDir { path: flags.work_dir.clone(), source })?;

    let (probe_tx, probe_rx) = mpsc::unbounded_channel();
    let mut service = Service {
        core,
        definitions: Definitions::new(loaded.definitions),
        pods: std::mem::take(&mut loaded.pods),
        groups: std::mem::take(&mut loaded.groups),
        deployments: DeploymentTracker::default(),
        bus: shared.bus.clone(),
        events: Vec::new(),
        info: shared.info.clone(),
        clock,
        calls: calls_tx,
        writes: writes_tx,
        probe_results: probe_tx,
        http: shared.probe_http.clone(),
        advancing: false,
        master_url: None,
        sent: 0,
        stored: 0,
        waiting: Vec::new(),
    };
    // Deployments resume where they were (their current step's changes are applied already).
    for deployment in recovered_deployments {
        service.deployments.start(deployment);
    }
    // Repairs found while recovering (e.g. instances of deleted apps) are written at once.
    service.handle(clock.now(), Event::Tick);
    Ok(Incarnation { service, store, client_events, stored: stored_rx, probes: probe_rx, _client: ClientGuard(client) })
}

/// Why a driver returned.
enum DriverEnd {
    /// The API or the master connection is gone: the scheduler stops.
    Stopped,
    /// A store write failed: the state in memory is ahead of the durable one.
    WriteFailed(String),
    /// This scheduler no longer leads (high availability).
    Deposed,
}

/// How long the driver goes on with events from the master that are already waiting before it
/// publishes what they changed.
const BURST_BUDGET: Duration = Duration::from_millis(2);
/// Events from the master taken into one step at most.
const STEP_EVENTS: usize = 64;

async fn drive(
    mut service: Service,
    mut client_events: mpsc::UnboundedReceiver<mesos_client::ClientEvent>,
    requests: &mut mpsc::UnboundedReceiver<Request>,
    mut stored: mpsc::UnboundedReceiver<Result<Durable, String>>,
    mut probes: mpsc::UnboundedReceiver<Event>,
    mut elected: Option<&mut watch::Receiver<coordination::Leadership>>,
) -> DriverEnd {
    loop {
        // Checked first, every time: a deposed leader must not act on anything else.
        if elected.as_mut().is_some_and(|e| !e.borrow_and_update().is_leader()) {
            return DriverEnd::Deposed;
        }
        // What the last step published goes out together.
        service.flush_events();
        let wakeup = service.core.next_wakeup().map(|at| service.clock.instant_of(at));
        tokio::select! {
            event = client_events.recv() => {
                let Some(event) = event else { return DriverEnd::Stopped };
                // The rest of a burst from the master (status updates arrive in batches) is
                // handled before the events go out, so that subscribers get the burst in one
                // message, and in steps of up to STEP_EVENTS (a run of status updates is one
                // core step); bounded, so that its first events are not held up for long.
                let burst = Instant::now();
                let mut events = vec![event];
                loop {
                    while events.len() < STEP_EVENTS {
                        let Ok(event) = client_events.try_recv() else { break };
                        events.push(event);
                    }
                    service.handle_client_events(std::mem::take(&mut events));
                    if burst.elapsed() >= BURST_BUDGET {
                        break;
                    }
                    let Ok(event) = client_events.try_recv() else { break };
                    events.push(event);
                }
            }
            request = requests.recv() => {
                let Some(request) = request else { return DriverEnd::Stopped };
                match request {
                    Request::Read(f) => f(&service),
                    Request::Change(f) => {
                        let reply = f(&mut service);
                        // Its events go out before any answer.
                        service.flush_events();
                        service.reply_when_durable(reply);
                    }
                }
            }
            result = stored.recv() => match result {
                Some(Ok(report)) => service.stored(report),
                Some(Err(e)) => return DriverEnd::WriteFailed(e),
                None => return DriverEnd::WriteFailed("store writer stopped".into()),
            },
            Some(result) = probes.recv() => {
                let now = service.now();
                service.handle(now, result);
            }
            () = deposed(elected.as_deref_mut()) => return DriverEnd::Deposed,
            () = sleep_until(wakeup), if wakeup.is_some() => {
                let now = service.now();
                service.handle(now, Event::Tick);
            }
        }
    }
}

/// Resolves once the election says this scheduler no longer leads (never without one).
async fn deposed(elected: Option<&mut watch::Receiver<coordination::Leadership>>) {
    let Some(elected) = elected else { return std::future::pending().await };
    loop {
        if !elected.borrow_and_update().is_leader() {
            return;
        }
        if elected.changed().await.is_err() {
            return;
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

pub(super) fn core_event(event: mesos_client::ClientEvent) -> Option<Event> {
    use mesos_api::scheduler::Event as Mesos;
    match event {
        mesos_client::ClientEvent::Subscribed { framework_id, .. } => Some(Event::Subscribed { framework_id }),
        mesos_client::ClientEvent::Disconnected { reason } => {
            warn!(%reason, "disconnected from the master");
            Some(Event::Disconnected)
        }
        mesos_client::ClientEvent::Event(event) => match *event {
            Mesos::Offers { offers } => Some(Event::Offers(offers.offers)),
            Mesos::Rescind { rescind } => Some(Event::OfferRescinded(rescind.offer_id)),
            Mesos::Update { update } => Some(Event::StatusUpdate(update.status)),
            Mesos::Error { error } => {
                error!(message = %error.message, "master sent an error");
                None
            }
            Mesos::Failure { failure } => match failure.agent_id {
                // No executor: the agent itself was lost.
                Some(agent_id) if failure.executor_id.is_none() => Some(Event::AgentLost { agent_id }),
                _ => {
                    warn!(?failure, "master reported a failure");
                    None
                }
            },
            other => {
                debug!(?other, "event ignored");
                None
            }
        },
    }
}

/// Tries of the DECLINE that repairs a failed ACCEPT or DECLINE, one [`REDECLINE_DELAY`] apart.
const REDECLINE_TRIES: u32 = 5;
const REDECLINE_DELAY: Duration = Duration::from_secs(1);

/// Sends calls to the master one after another, in the order the core decided them. Lost calls
/// are repaired by the core's retries and reconciliation, except an ACCEPT or DECLINE that
/// failed on its way: its offers are declined (again) by [`redecline`], in the background.
async fn send_calls(client: mesos_client::SchedulerClient, mut calls: mpsc::UnboundedReceiver<Call>) {
    while let Some(call) = calls.recv().await {
        let kind = call.kind;
        let repair = redecline(&call);
        match client.call(call).await {
            Ok(()) => {}
            Err(e @ mesos_client::CallError::Http(_)) => {
                warn!(?kind, error = %e, "call failed");
                if let Some(decline) = repair {
                    tokio::spawn(send_redecline(client.clone(), decline));
                }
            }
            // Refused: the master had it; not subscribed: the offers went with the subscription.
            Err(e) => warn!(?kind, error = %e, "call failed"),
        }
    }
}

/// Sends the DECLINE that repairs a failed call until the master gets it.
async fn send_redecline(client: mesos_client::SchedulerClient, decline: Call) {
    for _ in 0..REDECLINE_TRIES {
        tokio::time::sleep(REDECLINE_DELAY).await;
        match client.call(decline.clone()).await {
            Err(mesos_client::CallError::Http(e)) => {
                warn!(error = %e, "the DECLINE repairing a failed call failed too")
            }
            _ => return,
        }
    }
}

/// A batch for the store writer.
pub(super) struct Write {
    /// Batches are numbered in the order they are sent.
    pub(super) seq: u64,
    /// The core's write it carries.
    pub(super) core: Option<WriteId>,
    pub(super) batch: Batch,
}

/// Everything up to `seq` (and the core's writes up to `core`) is durable.
#[derive(Debug, Clone, Copy)]
pub(super) struct Durable {
    pub(super) seq: u64,
    pub(super) core: Option<WriteId>,
}

/// The store writer: applies batches in order, merging whatever is queued into one commit (group
/// commit), and reports what is durable. Runs on its own thread (redb is blocking).
fn write_batches(
    store: &dyn Store,
    generation: Generation,
    writes: std::sync::mpsc::Receiver<Write>,
    stored: mpsc::UnboundedSender<Result<Durable, String>>,
    metrics: &crate::metrics::Metrics,
) {
    let apply = |batch: &Batch| {
        let started = Instant::now();
        let result = store.apply(generation, batch);
        metrics.observe_store_write(started.elapsed(), result.is_ok());
        result
    };
    while let Ok(first) = writes.recv() {
        let mut pending = vec![first];
        while let Ok(next) = writes.try_recv() {
            pending.push(next);
        }
        let last = pending.last().map(|w| w.seq);
        let core = pending.iter().filter_map(|w| w.core).max();
        let mut merged = Batch::new();
        let mut result = Ok(());
        for Write { batch, .. } in pending {
            if merged.len() + batch.len() > limits::MAX_BATCH_OPS && !merged.is_empty() {
                result = apply(&std::mem::take(&mut merged));
                if result.is_err() {
                    break;
                }
            }
            for op in batch.ops() {
                merged.push(op.clone());
                if merged.len() >= limits::MAX_BATCH_OPS {
                    // One change larger than a batch: its records are independent, so they
                    // may be committed in several parts.
                    result = apply(&std::mem::take(&mut merged));
                    if result.is_err() {
                        break;
                    }
                }
            }
            if result.is_err() {
                break;
            }
        }
        if result.is_ok() && !merged.is_empty() {
            result = apply(&merged);
        }
        let report = match (result, last) {
            (Ok(()), Some(seq)) => Ok(Durable { seq, core }),
            (Ok(()), None) => continue,
            (Err(e), _) => Err(e.to_string()),
        };
        let failed = report.is_err();
        if stored.send(report).is_err() || failed {
            return;
        }
    }
}
