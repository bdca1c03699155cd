//! A master process as the sim plays its shell (`master::server`): the role machine, the term's
//! [`MasterCore`] and its streams, and the registry thread (one job at a time, against
//! ZooKeeper's record with fencing when highly available, against a file of its own when not).

use crate::env::{Env, Ev, master_now};
use crate::net::{Answer, Msg, Node, Sid};
use master::core::role::{Contention, Disposition, Role, RoleCommand, RoleMachine};
use master::core::{IdCounters, MasterConfig, MasterCore, Output, Registry};
use mesos_api::{Address, MasterInfo};
use rand::Rng;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// The masters' settings in the simulation (faster than the defaults, same logic).
pub(crate) fn config(info: MasterInfo, seed: u64) -> MasterConfig {
    MasterConfig {
        master_info: info,
        allocation_interval: Duration::from_secs(1),
        heartbeat_interval: Duration::from_secs(5),
        agent_ping_timeout: Duration::from_secs(1),
        max_agent_ping_timeouts: 3,
        agent_reregister_timeout: Duration::from_secs(10),
        offer_timeout: None,
        max_completed_frameworks: 50,
        max_completed_tasks_per_framework: 1000,
        seed,
    }
}

pub(crate) fn address(m: usize) -> String {
    format!("10.0.1.{}:5050", m + 1)
}

/// The master whose address is `text`.
pub(crate) fn of_address(text: &str) -> Option<usize> {
    let host = text.strip_prefix("10.0.1.")?.strip_suffix(":5050")?;
    host.parse::<usize>().ok()?.checked_sub(1)
}

fn master_info(m: usize, inc: u64) -> MasterInfo {
    let hostname = format!("master{m}");
    MasterInfo {
        id: format!("m{m}i{inc}"),
        ip: 0,
        port: 5050,
        pid: format!("master@10.0.1.{}:5050", m + 1),
        hostname: hostname.clone(),
        version: mesos_api::MESOS_VERSION.to_string(),
        address: Address { hostname: Some(hostname), ip: Some(format!("10.0.1.{}", m + 1)), port: 5050 },
        capabilities: vec![],
    }
}

#[derive(Debug, Clone)]
enum Job {
    Load {
        term: u64,
    },
    /// `generation`: the store generation of this process' last load (its writes carry it).
    Store {
        term: u64,
        version: u64,
        registry: Box<Registry>,
        generation: u64,
    },
}

/// One term of leadership: the core and its streams.
#[derive(Debug)]
pub(crate) struct Term {
    pub(crate) number: u64,
    pub(crate) core: MasterCore,
    /// Stream id (as the core knows it) to the network's stream.
    streams: BTreeMap<String, (Sid, Kind)>,
    registry_sent: u64,
    registry_in_flight: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Framework,
    Agent,
}

#[derive(Debug)]
pub(crate) struct MasterNode {
    pub(crate) idx: usize,
    pub(crate) inc: u64,
    pub(crate) up: bool,
    info: MasterInfo,
    roles: RoleMachine,
    pub(crate) term: Option<Term>,
    loaded: Option<Option<Registry>>,
    /// The store generation this process' last load claimed (HA).
    generation: u64,
    /// Requests that arrived while the registry loaded.
    waiting: Vec<(Node, Msg)>,
    ids: IdCounters,
    jobs: VecDeque<Job>,
    job_busy: bool,
    /// The registry file of a master without ZooKeeper.
    file: Option<Registry>,
    /// When the core must tick next (cached after every step).
    pub(crate) wake: Option<Duration>,
}

impl MasterNode {
    pub(crate) fn new(idx: usize) -> MasterNode {
        MasterNode {
            idx,
            inc: 0,
            up: false,
            info: master_info(idx, 0),
            roles: RoleMachine::contending(),
            term: None,
            loaded: None,
            generation: 0,
            waiting: Vec::new(),
            ids: IdCounters::default(),
            jobs: VecDeque::new(),
            job_busy: false,
            file: None,
            wake: None,
        }
    }

    pub(crate) fn leading(&self) -> bool {
        self.up && self.term.is_some()
    }

    /// Starts the process (again): a sole master loads its file and leads; with ZooKeeper it
    /// joins the election as a standby.
    pub(crate) fn start(&mut self, env: &mut Env) {
        self.inc += 1;
        self.up = true;
        self.info = master_info(self.idx, self.inc);
        self.term = None;
        self.loaded = None;
        self.waiting.clear();
        self.ids = IdCounters::default();
        self.jobs.clear();
        self.job_busy = false;
        env.note(format!("master {} starts (incarnation {})", self.idx, self.inc));
        if env.ha {
            self.roles = RoleMachine::contending();
            env.zk.join(self.idx);
            crate::world::election_changed(env);
        } else {
            self.roles = RoleMachine::sole();
            self.loaded = Some(self.file.clone());
            self.lead(env, 1);
        }
        self.refresh_wake();
    }

    /// The process dies: its streams end for their clients, its requests are gone.
    pub(crate) fn crash(&mut self, env: &mut Env) {
        if !self.up {
            return;
        }
        env.note(format!("master {} CRASHES", self.idx));
        self.up = false;
        self.drop_term(env);
        // A registry write on its way may still land.
        if self.job_busy
            && let Some(Job::Store { registry, generation, .. }) = self.jobs.front().cloned()
            && (!env.ha || generation == env.zk.generation)
            && env.chance(0.5)
        {
            self.write_registry(env, &registry);
        }
        self.jobs.clear();
        self.job_busy = false;
        // Requests that waited for the registry see their connection reset.
        for (from, msg) in std::mem::take(&mut self.waiting) {
            let answer = match msg {
                Msg::Register { conn, .. } => Msg::RegisterAnswer { conn, answer: Answer::Unavailable },
                Msg::Subscribe { attempt, .. } => Msg::SubscribeAnswer { attempt, answer: Answer::Unavailable },
                _ => continue,
            };
            env.post(Node::Master(self.idx), from, answer);
        }
        if env.ha {
            env.zk.crash(self.idx, env.now);
        }
        self.wake = None;
    }

    /// Ends the term: every stream of it ends at once (the process closes them).
    fn drop_term(&mut self, env: &mut Env) {
        env.dirty = true;
        if let Some(term) = self.term.take() {
            self.ids = term.core.id_counters();
            for (sid, _) in term.streams.values() {
                env.stream_close_by_master(*sid);
            }
        }
    }

    pub(crate) fn refresh_wake(&mut self) {
        self.wake = self.term.as_ref().filter(|_| self.up).map(|t| t.core.next_wakeup());
    }

    /// The core's timers.
    pub(crate) fn tick(&mut self, env: &mut Env) {
        if let Some(term) = &mut self.term {
            term.core.tick(master_now(env.now));
        }
        self.after_step(env);
    }

    /// What every step ends with (as the driver loop): deliver outputs, store the registry.
    fn after_step(&mut self, env: &mut Env) {
        self.flush(env);
        self.persist_registry(env);
        self.refresh_wake();
    }

    fn flush(&mut self, env: &mut Env) {
        let file = &self.file;
        let durable = |env: &Env| if env.ha { env.zk.registry.clone() } else { file.clone() };
        let Some(term) = &mut self.term else { return };
        loop {
            let outputs = term.core.take_outputs();
            if outputs.is_empty() {
                return;
            }
            for output in outputs {
                match output {
                    Output::Framework { stream, event } => {
                        if let Some((sid, _)) = term.streams.get(&stream) {
                            if crate::check::is_about_a_lost_agent(&event)
                                && let Err(v) = crate::check::check_unreachable_durable(&event, durable(env).as_ref())
                            {
                                env.history.violation(v);
                            }
                            let attempt = stream_attempt(env, *sid);
                            env.stream_send(*sid, Msg::FrameworkEvent { attempt, event: Box::new(event) });
                        }
                    }
                    Output::Agent { stream, event } => {
                        if let Some((sid, _)) = term.streams.get(&stream) {
                            if let mesos_api::agent::AgentEvent::Registered { registered } = &event
                                && let Err(v) =
                                    crate::check::check_admitted(&registered.agent_id, durable(env).as_ref())
                            {
                                env.history.violation(v);
                            }
                            let conn = stream_attempt(env, *sid);
                            env.stream_send(*sid, Msg::AgentEvent { conn, event: Box::new(event) });
                        }
                    }
                    Output::CloseFramework { stream } | Output::CloseAgent { stream } => {
                        if let Some((sid, _)) = term.streams.remove(&stream) {
                            env.stream_close_by_master(sid);
                        }
                    }
                }
            }
        }
    }

    fn persist_registry(&mut self, env: &mut Env) {
        let Some(term) = &mut self.term else { return };
        let version = term.core.registry_version();
        if term.registry_in_flight || version <= term.registry_sent {
            return;
        }
        term.registry_sent = version;
        term.registry_in_flight = true;
        let job = Job::Store {
            term: term.number,
            version,
            registry: Box::new(term.core.registry().clone()),
            generation: self.generation,
        };
        self.push_job(env, job);
    }

    fn push_job(&mut self, env: &mut Env, job: Job) {
        self.jobs.push_back(job);
        self.next_job(env);
    }

    fn next_job(&mut self, env: &mut Env) {
        if self.job_busy || self.jobs.is_empty() {
            return;
        }
        self.job_busy = true;
        // A ZooKeeper round trip or a file replaced and synced.
        let d = env.millis(2, 40);
        env.after(d, Ev::RegistryDone { master: self.idx, inc: self.inc });
    }

    fn write_registry(&mut self, env: &mut Env, registry: &Registry) {
        if env.ha {
            env.zk.registry = Some(registry.clone());
        } else {
            self.file = Some(registry.clone());
        }
    }

    /// The registry thread finished its oldest job (jobs of a term that ended are dropped).
    pub(crate) fn registry_done(&mut self, env: &mut Env) {
        self.job_busy = false;
        let Some(job) = self.jobs.pop_front() else { return };
        match job {
            Job::Load { term } if self.roles.is_current(term) => {
                let registry = if env.ha {
                    // The load claims the record: writes of earlier generations are fenced.
                    env.zk.generation += 1;
                    self.generation = env.zk.generation;
                    env.zk.registry.clone()
                } else {
                    self.file.clone()
                };
                env.note(format!("master {} loaded the registry for term {term}", self.idx));
                self.loaded = Some(registry);
                let commands = self.roles.registry_loaded(term, true);
                self.apply(env, commands);
            }
            Job::Store { term, version, registry, generation } if self.roles.is_current(term) => {
                if env.ha && generation != env.zk.generation {
                    env.note(format!("master {} registry write of term {term} FENCED", self.idx));
                    let commands = self.roles.fenced(term);
                    self.apply(env, commands);
                } else {
                    self.write_registry(env, &registry);
                    if let Some(t) = self.term.as_mut().filter(|t| t.number == term) {
                        t.registry_in_flight = false;
                        t.core.registry_stored(master_now(env.now), version);
                    }
                }
            }
            Job::Load { .. } | Job::Store { .. } => {}
        }
        self.after_step(env);
        self.next_job(env);
    }

    /// The election watch fired: what it says now.
    pub(crate) fn contention(&mut self, env: &mut Env) {
        if !env.ha || !self.up {
            return;
        }
        let contention = match env.zk.view(self.idx) {
            None => Contention::NotElected { leader: None },
            Some((node, leader)) => match (node, leader) {
                (Some(node), Some(l)) if l == self.idx => Contention::Elected { node },
                (_, Some(l)) => Contention::NotElected { leader: Some(master_info(l, 0)) },
                _ => Contention::NotElected { leader: None },
            },
        };
        let commands = self.roles.contention(contention);
        self.apply(env, commands);
        self.after_step(env);
    }

    fn apply(&mut self, env: &mut Env, commands: Vec<RoleCommand>) {
        for command in commands {
            env.log(|| format!("master {} role: {command:?}", self.idx));
            match command {
                RoleCommand::LoadRegistry { term, delay } => {
                    let _ = delay;
                    self.push_job(env, Job::Load { term });
                }
                RoleCommand::Lead { term } => self.lead(env, term),
                RoleCommand::StepDown { .. } => {
                    self.loaded = None;
                    self.drop_term(env);
                }
                RoleCommand::Abdicate => {
                    env.zk.requeue(self.idx);
                    crate::world::election_changed(env);
                }
            }
        }
        if !matches!(self.roles.role(), Role::Recovering { .. }) {
            for (from, msg) in std::mem::take(&mut self.waiting) {
                self.on_msg(env, from, msg);
            }
        }
    }

    fn lead(&mut self, env: &mut Env, term: u64) {
        env.dirty = true;
        let seed = env.rng.random();
        let mut core = MasterCore::new(config(self.info.clone(), seed), master_now(env.now));
        core.continue_ids(self.ids);
        if let Some(registry) = self.loaded.take().flatten() {
            core.recover(master_now(env.now), registry);
        }
        env.note(format!("master {} LEADS term {term}", self.idx));
        self.term =
            Some(Term { number: term, core, streams: BTreeMap::new(), registry_sent: 0, registry_in_flight: false });
    }

    /// A message for this master.
    pub(crate) fn on_msg(&mut self, env: &mut Env, from: Node, msg: Msg) {
        let now = master_now(env.now);
        match msg {
            Msg::ClientGone { sid } => {
                if let Some(term) = &mut self.term {
                    let found =
                        term.streams.iter().find(|(_, (s, _))| *s == sid).map(|(k, (_, kind))| (k.clone(), *kind));
                    if let Some((stream, kind)) = found {
                        term.streams.remove(&stream);
                        if let Some(s) = env.net.streams.get_mut(&sid) {
                            s.master_open = false;
                        }
                        match kind {
                            Kind::Framework => term.core.framework_disconnected(now, &stream),
                            Kind::Agent => term.core.agent_disconnected(now, &stream),
                        }
                    }
                }
            }
            msg => {
                let refusal = match self.roles.disposition() {
                    Disposition::Serve => None,
                    Disposition::Wait => {
                        self.waiting.push((from, msg));
                        return;
                    }
                    Disposition::Redirect(leader) => of_address(&format!(
                        "{}:{}",
                        leader.address.ip.clone().unwrap_or_default(),
                        leader.address.port
                    ))
                    .map(Answer::Redirect),
                    Disposition::NoLeader => Some(Answer::Unavailable),
                };
                match (refusal, self.term.is_some()) {
                    (None, true) => self.serve(env, from, msg),
                    (refusal, _) => self.refuse(env, from, msg, refusal.unwrap_or(Answer::Unavailable)),
                }
            }
        }
        self.after_step(env);
    }

    fn refuse(&mut self, env: &mut Env, from: Node, msg: Msg, answer: Answer) {
        let reply = match msg {
            Msg::Register { conn, inc, register, hops } => {
                if let Answer::Redirect(leader) = answer
                    && hops < 10
                {
                    // The agent's HTTP client follows the redirect to the leader.
                    env.post(from, Node::Master(leader), Msg::Register { conn, inc, register, hops: hops + 1 });
                    return;
                }
                Msg::RegisterAnswer { conn, answer }
            }
            Msg::Subscribe { attempt, .. } => Msg::SubscribeAnswer { attempt, answer },
            // Calls are refused; nobody follows a redirect for them.
            _ => return,
        };
        env.post(Node::Master(self.idx), from, reply);
    }

    fn serve(&mut self, env: &mut Env, from: Node, msg: Msg) {
        let now = master_now(env.now);
        let Some(term) = &mut self.term else { return };
        match msg {
            Msg::Register { conn, inc, register, .. } => {
                let sid = env.net.open_stream(self.idx, self.inc, from, inc, conn, env.now);
                term.streams.insert(sid.to_string(), (sid, Kind::Agent));
                env.stream_send(sid, Msg::RegisterAnswer { conn, answer: Answer::Opened { sid, master: self.idx } });
                term.core.agent_register(now, sid.to_string(), *register);
            }
            Msg::Subscribe { attempt, inc, info } => {
                let sid = env.net.open_stream(self.idx, self.inc, from, inc, attempt, env.now);
                term.streams.insert(sid.to_string(), (sid, Kind::Framework));
                env.stream_send(
                    sid,
                    Msg::SubscribeAnswer { attempt, answer: Answer::Opened { sid, master: self.idx } },
                );
                term.core.subscribe(now, sid.to_string(), *info);
            }
            Msg::AgentCall { stream, call } => {
                let _ = term.core.agent_call(now, Some(&stream), *call);
            }
            Msg::Call { stream, call } => {
                let _ = term.core.call(now, Some(&stream), *call);
            }
            _ => {}
        }
    }
}

/// The attempt (framework) or conn (agent) a stream was opened for.
fn stream_attempt(env: &Env, sid: Sid) -> u64 {
    env.net.streams.get(&sid).map_or(0, |s| s.tag)
}
