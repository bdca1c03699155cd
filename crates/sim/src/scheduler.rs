//! Marathon as the sim plays its shell (`scheduler::service`): the real [`SchedulerCore`], its
//! store (writes committed in order, one at a time; a crash loses those not committed), the
//! Mesos client (`mesos-client`: subscribe, follow redirects and the detected leader, give up
//! on a silent stream, resubscribe with backoff; calls only while subscribed) and the API
//! client that changes apps (answered once every write issued so far is durable).

use crate::check::{AppState, Kind, Violation};
use crate::env::{Env, Ev, sched_now};
use crate::net::{Answer, Msg, Node, Sid};
use mesos_api::scheduler::{Acknowledge, Call, CallType, Event as Mesos};
use mesos_api::{Capability, FrameworkId, FrameworkInfo, TaskId, TaskState};
use rand::Rng;
use scheduler::core::{
    AppId, Command, Event, Instance, InstanceId, Record, RecoveredState, RunSpec, SchedulerConfig, SchedulerCore,
    WriteId, parse_task_id,
};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Silence allowed before SUBSCRIBED (Mesos' default heartbeat, doubled, plus a second).
const FIRST_SILENCE: Duration = Duration::from_secs(31);
/// As `scheduler::service`'s `send_calls`: tries of a repairing DECLINE, and their spacing.
const REDECLINE_TRIES: u32 = 5;
const REDECLINE_DELAY: Duration = Duration::from_secs(1);

pub(crate) fn config(seed: u64) -> SchedulerConfig {
    SchedulerConfig {
        seed,
        reconciliation_interval: Duration::from_secs(30),
        reconciliation_answer_timeout: Duration::from_secs(15),
        task_launch_confirm_timeout: Duration::from_secs(60),
        task_launch_timeout: Duration::from_secs(60),
        ..SchedulerConfig::default()
    }
}

fn framework_info(id: Option<FrameworkId>) -> FrameworkInfo {
    FrameworkInfo {
        user: "root".into(),
        name: "marathon".into(),
        id,
        failover_timeout: 604_800.0,
        checkpoint: true,
        role: "*".into(),
        roles: Vec::new(),
        hostname: Some("marathon".into()),
        principal: None,
        webui_url: None,
        capabilities: ["PARTITION_AWARE", "TASK_KILLING_STATE", "GPU_RESOURCES"]
            .into_iter()
            .map(|kind| Capability { kind: kind.to_string() })
            .collect(),
        labels: None,
        offer_filters: None,
    }
}

/// The store: the last record of everything, as `scheduler::records` keeps it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Durable {
    pub(crate) framework_id: Option<FrameworkId>,
    pub(crate) apps: BTreeMap<AppId, RunSpec>,
    pub(crate) instances: BTreeMap<InstanceId, Instance>,
}

impl Durable {
    fn apply(&mut self, records: &[Record]) {
        for record in records {
            match record {
                Record::FrameworkId(id) => self.framework_id = Some(id.clone()),
                Record::App(spec) => {
                    self.apps.insert(spec.id.clone(), spec.clone());
                }
                Record::AppDeleted(id) => {
                    self.apps.remove(id);
                }
                Record::Instance(instance) => {
                    self.instances.insert(instance.id.clone(), instance.clone());
                }
                Record::InstanceExpunged(id) => {
                    self.instances.remove(id);
                }
            }
        }
    }

    fn recovered(&self) -> RecoveredState {
        RecoveredState {
            framework_id: self.framework_id.clone(),
            apps: self.apps.values().cloned().collect(),
            instances: self.instances.values().cloned().collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientState {
    /// Not connected; subscribe at `retry` (none: wait for a leader to be detected).
    Idle {
        retry: Option<Duration>,
    },
    /// SUBSCRIBE posted (`sid` once the stream is open), no SUBSCRIBED yet.
    Subscribing {
        attempt: u64,
        sid: Option<Sid>,
    },
    Subscribed {
        attempt: u64,
        sid: Sid,
    },
}

/// What `mesos-client` keeps.
#[derive(Debug, Clone)]
struct Client {
    master: Option<usize>,
    framework_id: Option<FrameworkId>,
    attempt: u64,
    state: ClientState,
    backoff: Duration,
    /// Silence limit of the stream (or the time an unanswered SUBSCRIBE fails).
    deadline: Option<Duration>,
    silence: Duration,
}

/// An API change waiting for its writes, or answered.
#[derive(Debug, Clone)]
struct Pending {
    threshold: u64,
    app: AppId,
    index: usize,
}

#[derive(Debug)]
pub(crate) struct SchedulerNode {
    pub(crate) inc: u64,
    pub(crate) up: bool,
    pub(crate) core: Option<SchedulerCore>,
    pub(crate) durable: Durable,
    /// Writes handed to the store, not committed.
    pending: VecDeque<(WriteId, Vec<Record>)>,
    committing: bool,
    /// The last write id the core issued and the last one reported stored (this incarnation).
    issued: u64,
    stored: u64,
    client: Client,
    api: Vec<Pending>,
    /// The state of every update handed to the core, for its acknowledgement.
    update_states: BTreeMap<(TaskId, String), TaskState>,
    pub(crate) wake: Option<Duration>,
    /// The app record the last committed write replaced (for [`crate::Mutation::ForgetWrite`]).
    last_app_write: Option<(AppId, Option<RunSpec>)>,
}

impl SchedulerNode {
    pub(crate) fn new() -> SchedulerNode {
        SchedulerNode {
            inc: 0,
            up: false,
            core: None,
            durable: Durable::default(),
            pending: VecDeque::new(),
            committing: false,
            issued: 0,
            stored: 0,
            client: Client {
                master: None,
                framework_id: None,
                attempt: 0,
                state: ClientState::Idle { retry: None },
                backoff: INITIAL_BACKOFF,
                deadline: None,
                silence: FIRST_SILENCE,
            },
            api: Vec::new(),
            update_states: BTreeMap::new(),
            wake: None,
            last_app_write: None,
        }
    }

    /// The master this scheduler is subscribed to.
    pub(crate) fn subscribed_to(&self) -> Option<usize> {
        match self.client.state {
            ClientState::Subscribed { .. } if self.up => self.client.master,
            _ => None,
        }
    }

    /// Starts (or restarts) from the store, and subscribes.
    pub(crate) fn start(&mut self, env: &mut Env) {
        self.inc += 1;
        self.up = true;
        self.pending.clear();
        self.committing = false;
        self.issued = 0;
        self.stored = 0;
        self.api.clear();
        self.update_states.clear();
        if env.mutation == crate::Mutation::ForgetWrite
            && let Some(last) = self.last_app_write.take()
        {
            // The deliberate bug: the last app write vanishes from the store.
            match last.1 {
                Some(spec) => self.durable.apps.insert(last.0, spec),
                None => self.durable.apps.remove(&last.0),
            };
        }
        let recovered = self.durable.recovered();
        env.history.scheduler_recovered(&recovered.apps);
        let seed = env.rng.random();
        let core = SchedulerCore::recover(config(seed), sched_now(env.now), recovered);
        self.client = Client {
            master: (!env.ha).then_some(0),
            framework_id: core.framework_id().cloned(),
            attempt: self.client.attempt,
            state: ClientState::Idle { retry: None },
            backoff: INITIAL_BACKOFF,
            deadline: None,
            silence: FIRST_SILENCE,
        };
        self.core = Some(core);
        env.note(format!(
            "scheduler starts (incarnation {}): framework {:?}, {} apps, {} instances",
            self.inc,
            self.client.framework_id.as_ref().map(|f| f.value.as_str()),
            self.durable.apps.len(),
            self.durable.instances.len()
        ));
        // Repairs found while recovering are written at once.
        self.handle(env, Event::Tick);
        if env.ha {
            self.client.master = env.zk.leader();
        }
        self.subscribe(env);
        self.refresh_wake();
    }

    pub(crate) fn crash(&mut self, env: &mut Env) {
        if !self.up {
            return;
        }
        env.dirty = true;
        env.note("scheduler CRASHES".to_string());
        self.drop_stream(env);
        self.up = false;
        self.core = None;
        self.pending.clear();
        self.committing = false;
        self.wake = None;
    }

    pub(crate) fn refresh_wake(&mut self) {
        if !self.up {
            self.wake = None;
            return;
        }
        let core = self.core.as_ref().and_then(SchedulerCore::next_wakeup);
        let retry = match self.client.state {
            ClientState::Idle { retry } => retry,
            _ => None,
        };
        self.wake = [core, retry, self.client.deadline].into_iter().flatten().min();
    }

    pub(crate) fn tick(&mut self, env: &mut Env) {
        let now = env.now;
        if self.client.deadline.is_some_and(|d| d <= now) {
            self.client.deadline = None;
            let subscribed = matches!(self.client.state, ClientState::Subscribed { .. });
            env.note(format!("scheduler: {} silent too long", if subscribed { "stream" } else { "SUBSCRIBE" }));
            self.ended(env);
        }
        if let ClientState::Idle { retry: Some(at) } = self.client.state
            && at <= now
        {
            self.subscribe(env);
        }
        if self.core.as_ref().and_then(SchedulerCore::next_wakeup).is_some_and(|at| at <= now) {
            self.handle(env, Event::Tick);
        }
        self.refresh_wake();
    }

    // ------------------------------------------------------------------------------------------
    // The Mesos client

    fn subscribe(&mut self, env: &mut Env) {
        let Some(master) = self.client.master else {
            self.client.state = ClientState::Idle { retry: None };
            return;
        };
        self.client.attempt += 1;
        let attempt = self.client.attempt;
        self.client.state = ClientState::Subscribing { attempt, sid: None };
        self.client.silence = FIRST_SILENCE;
        let info = framework_info(self.client.framework_id.clone());
        let sent = env.post(
            Node::Scheduler,
            Node::Master(master),
            Msg::Subscribe { attempt, inc: self.inc, info: Box::new(info) },
        );
        // A lost SUBSCRIBE is a failed connection, noticed after a while.
        self.client.deadline = Some(if sent { env.now + FIRST_SILENCE } else { env.now + env.millis(50, 10_000) });
    }

    /// The subscription (or the attempt) ended: resubscribe after a backoff.
    fn ended(&mut self, env: &mut Env) {
        let was_subscribed = matches!(self.client.state, ClientState::Subscribed { .. });
        self.drop_stream(env);
        if was_subscribed {
            self.client.backoff = INITIAL_BACKOFF;
            self.handle(env, Event::Disconnected);
        }
        let retry = env.now + self.client.backoff;
        self.client.backoff = (self.client.backoff * 2).min(MAX_BACKOFF);
        self.client.state = ClientState::Idle { retry: Some(retry) };
        self.client.deadline = None;
    }

    fn drop_stream(&mut self, env: &mut Env) {
        match self.client.state {
            ClientState::Subscribing { sid: Some(sid), .. } | ClientState::Subscribed { sid, .. } => {
                env.stream_drop_by_client(sid);
            }
            _ => {}
        }
        self.client.state = ClientState::Idle { retry: None };
    }

    /// The detector says who leads now: a new leader ends the subscription at once.
    pub(crate) fn detected(&mut self, env: &mut Env) {
        if !self.up {
            return;
        }
        let leader = env.zk.leader();
        if leader == self.client.master {
            return;
        }
        let was_subscribed = matches!(self.client.state, ClientState::Subscribed { .. });
        self.drop_stream(env);
        if was_subscribed {
            self.handle(env, Event::Disconnected);
        }
        self.client.master = leader;
        self.client.backoff = INITIAL_BACKOFF;
        self.client.deadline = None;
        self.subscribe(env);
        self.refresh_wake();
    }

    pub(crate) fn on_msg(&mut self, env: &mut Env, msg: Msg) {
        match msg {
            Msg::SubscribeAnswer { attempt, answer } => {
                let current =
                    matches!(self.client.state, ClientState::Subscribing { attempt: a, sid: None } if a == attempt);
                match answer {
                    Answer::Opened { sid, master } if current => {
                        self.client.master = Some(master);
                        self.client.state = ClientState::Subscribing { attempt, sid: Some(sid) };
                        self.client.deadline = Some(env.now + self.client.silence);
                    }
                    Answer::Opened { sid, .. } => env.stream_drop_by_client(sid),
                    Answer::Redirect(leader) if current => {
                        if Some(leader) == self.client.master {
                            self.ended(env);
                        } else {
                            self.client.master = Some(leader);
                            self.subscribe(env);
                        }
                    }
                    Answer::Unavailable if current => self.ended(env),
                    _ => {}
                }
            }
            Msg::FrameworkEvent { attempt, event } => {
                let sid = match self.client.state {
                    ClientState::Subscribing { attempt: a, sid: Some(sid) }
                    | ClientState::Subscribed { attempt: a, sid }
                        if a == attempt =>
                    {
                        sid
                    }
                    _ => return,
                };
                self.client.deadline = Some(env.now + self.client.silence);
                match *event {
                    Mesos::Heartbeat => {}
                    Mesos::Subscribed { subscribed } => {
                        let interval =
                            Duration::from_secs_f64(subscribed.heartbeat_interval_seconds.clamp(0.1, 3600.0));
                        self.client.silence = interval * 2 + Duration::from_secs(1);
                        self.client.deadline = Some(env.now + self.client.silence);
                        self.client.framework_id = Some(subscribed.framework_id.clone());
                        self.client.state = ClientState::Subscribed { attempt, sid };
                        self.handle(env, Event::Subscribed { framework_id: subscribed.framework_id });
                    }
                    Mesos::Offers { offers } => {
                        if env.mutation == crate::Mutation::StarveOffers {
                            return;
                        }
                        self.handle(env, Event::Offers(offers.offers));
                    }
                    Mesos::Rescind { rescind } => self.handle(env, Event::OfferRescinded(rescind.offer_id)),
                    Mesos::Update { update } => {
                        let status = update.status;
                        if let Some(uuid) = &status.uuid {
                            if env.mutation == crate::Mutation::LoseUpdates && env.history.lose_update(uuid) {
                                // The deliberate bug: acknowledged, never handed to the core.
                                if let (Some(m), Some(agent_id)) = (self.client.master, status.agent_id.clone()) {
                                    let mut call = Call::new(CallType::Acknowledge, self.client.framework_id.clone());
                                    call.acknowledge = Some(Acknowledge {
                                        agent_id,
                                        task_id: status.task_id.clone(),
                                        uuid: uuid.clone(),
                                    });
                                    let msg = Msg::Call { stream: sid.to_string(), call: Box::new(call) };
                                    env.post(Node::Scheduler, Node::Master(m), msg);
                                }
                                return;
                            }
                            env.history.update_delivered(&status.task_id, uuid);
                            self.update_states.insert((status.task_id.clone(), uuid.clone()), status.state);
                        }
                        let commands = match &mut self.core {
                            Some(core) => core.handle_status_updates(sched_now(env.now), vec![status]),
                            None => return,
                        };
                        self.execute(env, commands);
                    }
                    Mesos::Failure { failure } => {
                        if let Some(agent_id) = failure.agent_id
                            && failure.executor_id.is_none()
                        {
                            self.handle(env, Event::AgentLost { agent_id });
                        }
                    }
                    Mesos::Message { .. } | Mesos::Error { .. } => {}
                }
            }
            Msg::StreamEnded { sid } => {
                let current = match self.client.state {
                    ClientState::Subscribing { sid: Some(s), .. } | ClientState::Subscribed { sid: s, .. } => s == sid,
                    _ => false,
                };
                if let Some(s) = env.net.streams.get_mut(&sid) {
                    s.client_open = false;
                }
                if current {
                    self.ended(env);
                }
            }
            _ => {}
        }
        self.refresh_wake();
    }

    // ------------------------------------------------------------------------------------------
    // The driver

    pub(crate) fn handle(&mut self, env: &mut Env, event: Event) {
        let Some(core) = &mut self.core else { return };
        let commands = core.handle(sched_now(env.now), event);
        self.execute(env, commands);
    }

    fn execute(&mut self, env: &mut Env, commands: Vec<Command>) {
        env.dirty = true;
        let stream = match self.client.state {
            ClientState::Subscribed { sid, .. } => self.client.master.map(|m| (m, sid)),
            _ => None,
        };
        let framework_id = self.client.framework_id.clone();
        for command in commands {
            let call = match command {
                Command::Persist { write_id, records } => {
                    self.issued = self.issued.max(write_id.0);
                    self.pending.push_back((write_id, records));
                    self.commit_next(env);
                    continue;
                }
                Command::Publish(_) => continue,
                Command::Probe { instance_id, task_id, check, .. } => {
                    let outcome = scheduler::core::ProbeOutcome::Healthy;
                    self.handle(env, Event::ProbeResult { instance_id, task_id, check, outcome });
                    continue;
                }
                Command::ReadinessProbe { instance_id, task_id, check, .. } => {
                    self.handle(env, Event::ReadinessResult { instance_id, task_id, check, response: None });
                    continue;
                }
                other => {
                    match &other {
                        Command::Accept { task_infos, .. } => {
                            for info in task_infos {
                                self.check_launch_durable(env, &info.task_id);
                                if let Some(app) = self.core.as_ref().and_then(|c| c.instance_of_task(&info.task_id)) {
                                    env.launched.insert(app.app_id.clone());
                                }
                            }
                        }
                        Command::Acknowledge { task_id, uuid, .. } => self.check_ack_durable(env, task_id, uuid),
                        _ => {}
                    }
                    match scheduler::service::mesos_call(framework_id.as_ref(), other) {
                        Some(call) => call,
                        None => continue,
                    }
                }
            };
            // The client refuses calls while not subscribed.
            if let Some((master, sid)) = stream {
                let repair = scheduler::service::redecline(&call);
                let sent = env.post(
                    Node::Scheduler,
                    Node::Master(master),
                    Msg::Call { stream: sid.to_string(), call: Box::new(call) },
                );
                if !sent && let Some(decline) = repair {
                    self.redecline_later(env, decline, REDECLINE_TRIES);
                }
            }
        }
    }

    /// The shell saw a call fail (a connection error, noticed a little later): it declines the
    /// call's offers again after `REDECLINE_DELAY`, as `send_calls` does.
    fn redecline_later(&mut self, env: &mut Env, decline: mesos_api::scheduler::Call, tries: u32) {
        if tries == 0 {
            return;
        }
        let noticed = env.millis(10, 2_000);
        env.after(noticed + REDECLINE_DELAY, Ev::Redecline { inc: self.inc, call: Box::new(decline), tries });
    }

    /// The repairing DECLINE goes out on the current subscription (if any).
    pub(crate) fn redecline(&mut self, env: &mut Env, decline: mesos_api::scheduler::Call, tries: u32) {
        let ClientState::Subscribed { sid, .. } = self.client.state else { return };
        let Some(master) = self.client.master else { return };
        let msg = Msg::Call { stream: sid.to_string(), call: Box::new(decline.clone()) };
        if !env.post(Node::Scheduler, Node::Master(master), msg) {
            self.redecline_later(env, decline, tries - 1);
        }
    }

    /// An instance is on disk, with its task, before its offer is accepted.
    fn check_launch_durable(&self, env: &mut Env, task_id: &TaskId) {
        let Some((instance, _)) = parse_task_id(task_id.as_str()) else { return };
        let durable =
            self.durable.instances.get(&instance).and_then(|i| i.task.as_ref()).is_some_and(|t| &t.id == task_id);
        if !durable {
            env.history.violation(Violation::new(
                Kind::AcknowledgedWriteLost,
                format!("the scheduler accepts an offer for {task_id} before its instance is stored with it"),
            ));
        }
    }

    /// A terminal update is acknowledged only once its instance no longer runs it on disk.
    fn check_ack_durable(&self, env: &mut Env, task_id: &TaskId, uuid: &str) {
        let Some(state) = self.update_states.get(&(task_id.clone(), uuid.to_string())) else { return };
        if !state.is_terminal() {
            return;
        }
        let Some((instance, _)) = parse_task_id(task_id.as_str()) else { return };
        let still_runs = self
            .durable
            .instances
            .get(&instance)
            .is_some_and(|i| i.task.as_ref().is_some_and(|t| &t.id == task_id) && !i.condition.is_terminal());
        if still_runs {
            env.history.violation(Violation::new(
                Kind::AcknowledgedWriteLost,
                format!("the scheduler acknowledges {} of {task_id} before it is stored", state.name()),
            ));
        }
    }

    // ------------------------------------------------------------------------------------------
    // The store

    fn commit_next(&mut self, env: &mut Env) {
        if self.committing || self.pending.is_empty() {
            return;
        }
        self.committing = true;
        let d = env.millis(1, 15);
        env.after(d, Ev::StoreCommit { inc: self.inc });
    }

    /// The oldest pending write is durable; the driver hears of it a little later.
    pub(crate) fn store_commit(&mut self, env: &mut Env) {
        self.committing = false;
        let Some((write_id, records)) = self.pending.pop_front() else { return };
        for record in &records {
            match record {
                Record::App(spec) => {
                    let before = self.durable.apps.get(&spec.id).cloned();
                    self.last_app_write = Some((spec.id.clone(), before));
                }
                Record::AppDeleted(id) => {
                    let before = self.durable.apps.get(id).cloned();
                    self.last_app_write = Some((id.clone(), before));
                }
                _ => {}
            }
        }
        self.durable.apply(&records);
        let d = Duration::from_micros(env.rng.random_range(10..500));
        env.after(d, Ev::StoredReport { inc: self.inc, write_id });
        self.commit_next(env);
    }

    pub(crate) fn stored_report(&mut self, env: &mut Env, write_id: WriteId) {
        self.stored = self.stored.max(write_id.0);
        self.handle(env, Event::Stored { write_id });
        let stored = self.stored;
        let (done, waiting): (Vec<Pending>, Vec<Pending>) =
            std::mem::take(&mut self.api).into_iter().partition(|p| p.threshold <= stored);
        self.api = waiting;
        for p in done {
            env.history.app_acked(&p.app, p.index);
        }
        self.refresh_wake();
    }

    // ------------------------------------------------------------------------------------------
    // The API

    /// An API change of `app`: the core handles it, and the answer waits for the writes.
    pub(crate) fn api(&mut self, env: &mut Env, app: &AppId, event: Event) {
        if !self.up {
            return;
        }
        env.log(|| format!("API {event:?}"));
        self.handle(env, event);
        let state = self.core.as_ref().and_then(|c| c.app(app)).map(AppState::of);
        let index = env.history.app_issued(app, state);
        if self.issued <= self.stored {
            env.history.app_acked(app, index);
        } else {
            self.api.push(Pending { threshold: self.issued, app: app.clone(), index });
        }
        self.refresh_wake();
    }

    /// Instances of the core that run (or will run) `task_id` as their current task.
    pub(crate) fn knows_task(&self, task_id: &TaskId) -> bool {
        self.core.as_ref().is_some_and(|c| c.instance_of_task(task_id).is_some())
    }

    pub(crate) fn instances_of<'a>(&'a self, app: &AppId) -> Vec<&'a Instance> {
        self.core.as_ref().map(|c| c.instances_of(app).collect()).unwrap_or_default()
    }
}
