//! The world: every node, the event loop, the scenario's actions, and the checks after each
//! step.

use crate::agent::{AgentNode, ProcState};
use crate::check::{self, AppEnd, Kind, Violation};
use crate::env::{Env, Ev, sched_now};
use crate::master::MasterNode;
use crate::net::{Answer, Msg, Node, Weather};
use crate::scenario::{Action, ApiOp, Fault, Mutation, Plan};
use crate::scheduler::SchedulerNode;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use scheduler::core::{AppId, Condition, Event, Goal, Timestamp};
use std::collections::BTreeMap;
use std::time::Duration;

/// Unknown tasks may run this long beyond the reconciliation interval (the kill's grace,
/// SIGKILL, and the round trips).
const UNKNOWN_SLACK: Duration = Duration::from_secs(10);

/// Tells every master's election watch and every detector that the election changed.
pub(crate) fn election_changed(env: &mut Env) {
    for m in 0..env.masters {
        let d = env.millis(1, 100);
        env.after(d, Ev::Contention { master: m });
    }
    for a in 0..env.agents {
        let d = env.millis(5, 300);
        env.after(d, Ev::Detected { node: Node::Agent(a) });
    }
    let d = env.millis(5, 300);
    env.after(d, Ev::Detected { node: Node::Scheduler });
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Chaos,
    /// Faults stopped at `since`; waiting for convergence.
    Settling {
        since: Duration,
    },
    /// Converged; a calm upgrade runs, then convergence again.
    FinalUpgrade {
        since: Duration,
    },
    Done,
}

/// What one run did.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub steps: u64,
    pub virtual_time: Duration,
    pub faults: u64,
    pub api_calls: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub ha: bool,
    pub converged_after: Duration,
}

pub(crate) struct World {
    pub(crate) env: Env,
    pub(crate) masters: Vec<MasterNode>,
    pub(crate) agents: Vec<AgentNode>,
    pub(crate) scheduler: SchedulerNode,
    plan: Plan,
    phase: Phase,
    /// Config changes so far (each gives a new command).
    generation: u64,
    last_check: Duration,
    last_converge_check: Duration,
    /// Tasks killed through the API (a kill the core may still be repeating).
    user_kills: std::collections::BTreeSet<mesos_api::TaskId>,
    /// Apps that were converged (every instance of the current version running, none killed
    /// by a user) in a healthy cluster at the last check: a deployment that starts from there
    /// is calm. Judged before the step, since the core may act on an upgrade in the very step
    /// that asks for it.
    converged_apps: std::collections::BTreeSet<scheduler::core::AppId>,
    /// Wakeups that stayed in the past after the node was woken (per node).
    stuck: BTreeMap<Node, u32>,
    pub(crate) stats: Stats,
}

impl World {
    pub(crate) fn new(seed: u64, mutation: Mutation) -> World {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let plan = Plan::new(&mut rng, mutation);
        let mut env = Env::new(rng, plan.ha, plan.masters, plan.agents, mutation);
        env.zk.session_timeout = Duration::from_secs(4);
        for (at, action) in &plan.timeline {
            env.at(*at, Ev::Script(action.clone()));
        }
        let masters = (0..plan.masters).map(MasterNode::new).collect();
        let agents = (0..plan.agents).map(AgentNode::new).collect();
        let stats = Stats { ha: plan.ha, ..Stats::default() };
        World {
            env,
            masters,
            agents,
            scheduler: SchedulerNode::new(),
            plan,
            phase: Phase::Chaos,
            generation: 0,
            last_check: Duration::ZERO,
            last_converge_check: Duration::ZERO,
            user_kills: std::collections::BTreeSet::new(),
            converged_apps: std::collections::BTreeSet::new(),
            stuck: BTreeMap::new(),
            stats,
        }
    }

    /// Runs to the end; the first violated invariant ends the run.
    pub(crate) fn run(&mut self) -> Result<(), Violation> {
        for m in 0..self.masters.len() {
            self.masters[m].start(&mut self.env);
        }
        for a in 0..self.agents.len() {
            self.agents[a].start(&mut self.env);
        }
        self.scheduler.start(&mut self.env);
        while self.phase != Phase::Done {
            let node = self.next_node();
            let queued = self.env.next_time();
            let zk = self.env.zk.next_expiry();
            let next = [node.map(|(t, _)| t), queued, zk].into_iter().flatten().min();
            let Some(next) = next else {
                return Err(Violation::new(Kind::Convergence, "nothing left to happen"));
            };
            self.env.now = next.max(self.env.now);
            self.stats.steps += 1;
            if queued == Some(next) {
                if let Some((_, ev)) = self.env.pop() {
                    self.dispatch(ev);
                }
            } else if zk == Some(next) {
                if self.env.zk.expire(self.env.now) {
                    self.env.note("a ZooKeeper session expired".into());
                    election_changed(&mut self.env);
                }
            } else if let Some((_, node)) = node {
                self.wake(node)?;
            }
            self.check_step()?;
        }
        self.stats.virtual_time = self.env.now;
        self.stats.lost = self.env.net.lost;
        self.stats.duplicated = self.env.net.duplicated;
        Ok(())
    }

    /// The node whose timer is due first.
    fn next_node(&self) -> Option<(Duration, Node)> {
        let masters = self.masters.iter().filter_map(|m| m.wake.map(|t| (t, Node::Master(m.idx))));
        let agents = self.agents.iter().filter_map(|a| a.wake.map(|t| (t, Node::Agent(a.idx))));
        let scheduler = self.scheduler.wake.map(|t| (t, Node::Scheduler));
        masters.chain(agents).chain(scheduler).min()
    }

    fn wake(&mut self, node: Node) -> Result<(), Violation> {
        let env = &mut self.env;
        let after = match node {
            Node::Master(m) => {
                self.masters[m].tick(env);
                self.masters[m].wake
            }
            Node::Agent(a) => {
                self.agents[a].tick(env);
                self.agents[a].wake
            }
            Node::Scheduler => {
                self.scheduler.tick(env);
                self.scheduler.wake
            }
        };
        if after.is_some_and(|t| t <= env.now) {
            let n = self.stuck.entry(node).or_default();
            *n += 1;
            if *n > 3 {
                return Err(Violation::new(
                    Kind::TimerInThePast,
                    format!("{node:?} keeps asking to be woken at {after:?}, now {:?}", env.now),
                ));
            }
            // Move on; it is woken again a little later.
            let later = Some(env.now + Duration::from_millis(1));
            match node {
                Node::Master(m) => self.masters[m].wake = later,
                Node::Agent(a) => self.agents[a].wake = later,
                Node::Scheduler => self.scheduler.wake = later,
            }
        } else {
            self.stuck.remove(&node);
        }
        Ok(())
    }

    fn dispatch(&mut self, ev: Ev) {
        let env = &mut self.env;
        match ev {
            Ev::Deliver { from, to, inc, msg } => {
                env.log(|| format!("{from:?} -> {to:?}: {}", msg.describe()));
                let (up, current) = match to {
                    Node::Master(m) => (self.masters[m].up, self.masters[m].inc),
                    Node::Agent(a) => (self.agents[a].up, self.agents[a].inc),
                    Node::Scheduler => (self.scheduler.up, self.scheduler.inc),
                };
                if !up || inc.is_some_and(|i| i != current) {
                    // Nobody listens: a request is refused (connection refused).
                    let refused = match msg {
                        Msg::Register { conn, .. } => Some(Msg::RegisterAnswer { conn, answer: Answer::Unavailable }),
                        Msg::Subscribe { attempt, .. } => {
                            Some(Msg::SubscribeAnswer { attempt, answer: Answer::Unavailable })
                        }
                        _ => None,
                    };
                    if let Some(answer) = refused
                        && inc.is_none()
                    {
                        env.post(to, from, answer);
                    }
                    return;
                }
                match to {
                    Node::Master(m) => self.masters[m].on_msg(env, from, msg),
                    Node::Agent(a) => self.agents[a].on_msg(env, msg),
                    Node::Scheduler => self.scheduler.on_msg(env, msg),
                }
            }
            Ev::AgentStepDone { agent, inc } => {
                if self.agents[agent].up && self.agents[agent].inc == inc {
                    self.agents[agent].step_done(env);
                }
            }
            Ev::AgentInput { agent, inc, event } => {
                if self.agents[agent].up && self.agents[agent].inc == inc {
                    self.agents[agent].feed(env, vec![*event]);
                    self.agents[agent].refresh_wake();
                }
            }
            Ev::LaunchReported { agent, inc, cid } => {
                if self.agents[agent].up && self.agents[agent].inc == inc {
                    self.agents[agent].launch_reported(env, &cid);
                }
            }
            Ev::ProcessExit { agent, cid, token } => {
                self.agents[agent].process_exit(env, &cid, token);
                self.agents[agent].refresh_wake();
            }
            Ev::StoreCommit { inc } => {
                if self.scheduler.up && self.scheduler.inc == inc {
                    self.scheduler.store_commit(env);
                }
            }
            Ev::StoredReport { inc, write_id } => {
                if self.scheduler.up && self.scheduler.inc == inc {
                    self.scheduler.stored_report(env, write_id);
                }
            }
            Ev::RegistryDone { master, inc } => {
                if self.masters[master].up && self.masters[master].inc == inc {
                    self.masters[master].registry_done(env);
                }
            }
            Ev::Contention { master } => {
                if self.masters[master].up {
                    self.masters[master].contention(env);
                }
            }
            Ev::Detected { node } => match node {
                Node::Agent(a) if self.agents[a].up => self.agents[a].detected(env),
                Node::Scheduler if self.scheduler.up => self.scheduler.detected(env),
                _ => {}
            },
            Ev::Redecline { inc, call, tries } => {
                if self.scheduler.up && self.scheduler.inc == inc {
                    self.scheduler.redecline(env, *call, tries);
                }
            }
            Ev::Script(action) => self.act(action),
        }
    }

    // ------------------------------------------------------------------------------------------
    // The scenario

    fn act(&mut self, action: Action) {
        let chaos = self.phase == Phase::Chaos;
        match action {
            Action::CreateApps => {
                for i in 0..self.plan.apps.len() {
                    let instances = self.plan.apps[i].instances;
                    self.api(ApiOp::Scale { app: i, instances });
                }
            }
            Action::Api(op) if chaos => self.api(op),
            Action::Fault(fault) if chaos => self.fault(fault),
            Action::Restart(node) => self.restart(node),
            Action::Heal(a, b) => {
                let reset = self.env.net.heal(a, b);
                self.env.note(format!("heal {a:?} <-> {b:?}"));
                self.reset_streams(reset);
            }
            Action::HealZk(m) => {
                if self.masters[m].up {
                    self.env.note(format!("master {m} reaches ZooKeeper again"));
                    self.env.zk.reconnect(m);
                    election_changed(&mut self.env);
                }
            }
            Action::CalmWeather => self.env.net.set_weather(Weather::CALM),
            Action::StopFaults if chaos => self.stop_faults(),
            Action::CalmUpgrade { app } => {
                self.env.note(format!("calm upgrade of app {app}"));
                self.api(ApiOp::Config { app });
            }
            Action::Stray { agent } => {
                self.env.dirty = true;
                let a = &mut self.agents[agent];
                let cid = "stray-container".to_string();
                a.procs.insert(cid, crate::agent::Proc::stray(mesos_api::TaskId::new("stray.instance-x._app.1")));
            }
            Action::Api(_) | Action::Fault(_) | Action::StopFaults => {}
        }
    }

    fn stop_faults(&mut self) {
        self.env.note("FAULTS STOP: heal everything, calm the network, restart what is down".into());
        self.env.net.set_weather(Weather::CALM);
        let reset = self.env.net.heal_all();
        self.reset_streams(reset);
        for m in 0..self.masters.len() {
            if !self.masters[m].up {
                self.masters[m].start(&mut self.env);
            } else if self.env.ha {
                self.env.zk.reconnect(m);
            }
        }
        if self.env.ha {
            election_changed(&mut self.env);
        }
        for a in 0..self.agents.len() {
            if !self.agents[a].up {
                self.agents[a].start(&mut self.env);
            }
        }
        if !self.scheduler.up {
            self.scheduler.start(&mut self.env);
        }
        self.phase = Phase::Settling { since: self.env.now };
    }

    /// Broken streams an end still held are reset: both ends learn of it now.
    fn reset_streams(&mut self, sids: Vec<crate::net::Sid>) {
        for sid in sids {
            let Some(s) = self.env.net.streams.get(&sid).cloned() else { continue };
            if s.master_open {
                let m = &mut self.masters[s.master];
                if m.up && m.inc == s.master_inc {
                    m.on_msg(&mut self.env, s.client, Msg::ClientGone { sid });
                }
            }
            if s.client_open {
                let msg = Msg::StreamEnded { sid };
                match s.client {
                    Node::Agent(a) if self.agents[a].up && self.agents[a].inc == s.client_inc => {
                        self.agents[a].on_msg(&mut self.env, msg)
                    }
                    Node::Scheduler if self.scheduler.up && self.scheduler.inc == s.client_inc => {
                        self.scheduler.on_msg(&mut self.env, msg)
                    }
                    _ => {}
                }
            }
            if let Some(s) = self.env.net.streams.get_mut(&sid) {
                s.master_open = false;
                s.client_open = false;
            }
        }
    }

    fn restart(&mut self, node: Node) {
        if self.phase != Phase::Chaos {
            return;
        }
        match node {
            Node::Master(m) if !self.masters[m].up => self.masters[m].start(&mut self.env),
            Node::Agent(a) if !self.agents[a].up => self.agents[a].start(&mut self.env),
            Node::Scheduler if !self.scheduler.up => self.scheduler.start(&mut self.env),
            _ => {}
        }
    }

    fn fault(&mut self, fault: Fault) {
        self.stats.faults += 1;
        self.env.history.fault(self.env.now);
        self.env.note(format!("FAULT {fault:?}"));
        let masters: Vec<Node> = (0..self.masters.len()).map(Node::Master).collect();
        match fault {
            Fault::AgentCrash { agent, host, down } => {
                self.agents[agent].crash(&mut self.env, host);
                self.env.after(down, Ev::Script(Action::Restart(Node::Agent(agent))));
            }
            Fault::AgentPartition { agent, master, length } => {
                let targets = match master {
                    Some(m) => vec![Node::Master(m)],
                    None => masters,
                };
                for t in targets {
                    self.env.net.cut(Node::Agent(agent), t);
                    self.env.after(length, Ev::Script(Action::Heal(Node::Agent(agent), t)));
                }
            }
            Fault::SchedulerCrash { down } => {
                self.scheduler.crash(&mut self.env);
                self.env.after(down, Ev::Script(Action::Restart(Node::Scheduler)));
            }
            Fault::SchedulerPartition { length } => {
                for t in masters {
                    self.env.net.cut(Node::Scheduler, t);
                    self.env.after(length, Ev::Script(Action::Heal(Node::Scheduler, t)));
                }
            }
            Fault::MasterCrash { master, down } => {
                self.masters[master].crash(&mut self.env);
                if self.env.ha {
                    election_changed(&mut self.env);
                }
                self.env.after(down, Ev::Script(Action::Restart(Node::Master(master))));
            }
            Fault::MasterZkCut { master, length } => {
                if self.masters[master].up {
                    self.env.zk.disconnect(master, self.env.now);
                    // The client notices the lost connection before the session can expire.
                    let d = Duration::from_secs_f64(
                        self.env.zk.session_timeout.as_secs_f64() * 2.0 / 3.0
                            * rand::Rng::random::<f64>(&mut self.env.rng),
                    );
                    self.env.after(d, Ev::Contention { master });
                    self.env.after(length, Ev::Script(Action::HealZk(master)));
                }
            }
            Fault::MasterPartition { master, length } => {
                let m = Node::Master(master);
                let others: Vec<Node> = (0..self.agents.len()).map(Node::Agent).chain([Node::Scheduler]).collect();
                for o in others {
                    self.env.net.cut(m, o);
                    self.env.after(length, Ev::Script(Action::Heal(m, o)));
                }
            }
            Fault::Weather { loss, dup, jitter, length } => {
                self.env.net.set_weather(Weather { loss, dup, jitter });
                self.env.after(length, Ev::Script(Action::CalmWeather));
            }
            Fault::TaskExit { pick, code } => {
                let alive: Vec<(usize, String)> = self
                    .agents
                    .iter()
                    .flat_map(|a| {
                        a.procs.iter().filter(|(_, p)| p.state == ProcState::Running).map(|(c, _)| (a.idx, c.clone()))
                    })
                    .collect();
                if !alive.is_empty() {
                    let (a, cid) = alive[(pick % alive.len() as u64) as usize].clone();
                    let d = Duration::from_micros(10);
                    let termination = agent::core::Termination::Exited(code);
                    self.agents[a].schedule_exit(&mut self.env, &cid, d, termination);
                }
            }
        }
    }

    /// The version the API gives a change of `app`: now, but after the app's current version.
    fn next_version(&self, app: &AppId) -> Timestamp {
        let now = sched_now(self.env.now).wall;
        let Some(core) = &self.scheduler.core else { return now };
        let newest =
            core.app(app).map(|s| s.version).into_iter().chain(core.instances_of(app).map(|i| i.run_spec_version));
        newest.max().map_or(now, |newest| now.max(Timestamp::from_millis(newest.millis() + 1)))
    }

    fn api(&mut self, op: ApiOp) {
        if !self.scheduler.up {
            return;
        }
        self.stats.api_calls += 1;
        self.env.history.disturb();
        let mutation = self.env.mutation;
        let app_index = match op {
            ApiOp::Scale { app, .. }
            | ApiOp::Config { app }
            | ApiOp::Restart { app }
            | ApiOp::Kill { app, .. }
            | ApiOp::Delete { app } => app,
        };
        let plan = self.plan.apps[app_index].clone();
        let id = plan.id.clone();
        let version = self.next_version(&id);
        let current = self.scheduler.core.as_ref().and_then(|c| c.app(&id)).cloned();
        let event = match op {
            ApiOp::Scale { instances, .. } => {
                let spec = match current {
                    Some(spec) => scheduler::core::RunSpec { instances, version, ..spec },
                    None => plan.spec(instances, version, self.generation, mutation),
                };
                Event::AppPut { spec }
            }
            ApiOp::Config { .. } => {
                let Some(current) = current else { return };
                self.generation += 1;
                let spec = plan.spec(current.instances, version, self.generation, mutation);
                Event::AppPut { spec }
            }
            ApiOp::Restart { .. } => Event::AppRestart { id: id.clone(), version: sched_now(self.env.now).wall },
            ApiOp::Kill { pick, scale, wipe, .. } => {
                let tasks: Vec<mesos_api::TaskId> = self
                    .scheduler
                    .instances_of(&id)
                    .into_iter()
                    .filter_map(|i| i.task.as_ref().map(|t| t.id.clone()))
                    .collect();
                if tasks.is_empty() {
                    return;
                }
                let task = tasks[(pick % tasks.len() as u64) as usize].clone();
                self.user_kills.insert(task.clone());
                Event::KillTasks { task_ids: vec![task], scale, wipe }
            }
            ApiOp::Delete { .. } => Event::AppDeleted { id: id.clone() },
        };
        self.scheduler.api(&mut self.env, &id, event);
    }

    // ------------------------------------------------------------------------------------------
    // Checks

    fn check_step(&mut self) -> Result<(), Violation> {
        if let Some(v) = self.env.history.violations.first() {
            return Err(v.clone());
        }
        if std::mem::take(&mut self.env.dirty) {
            let dt = self.env.now.saturating_sub(self.last_check);
            self.last_check = self.env.now;
            self.check_deployments()?;
            self.check_unknown(dt)?;
        }
        match self.phase {
            Phase::Settling { since } | Phase::FinalUpgrade { since } => {
                if self.env.now >= self.last_converge_check + Duration::from_millis(500) {
                    self.last_converge_check = self.env.now;
                    match self.convergence() {
                        Ok(()) => self.converged_now(since)?,
                        Err(mut v) => {
                            if self.env.now > since + self.plan.settle_limit {
                                v.message.push_str(&format!("; {}", self.master_view()));
                                return Err(v);
                            }
                        }
                    }
                }
            }
            Phase::Chaos | Phase::Done => {}
        }
        Ok(())
    }

    fn converged_now(&mut self, since: Duration) -> Result<(), Violation> {
        match (self.phase, self.plan.final_upgrade) {
            (Phase::Settling { .. }, Some(app)) => {
                self.stats.converged_after = self.env.now.saturating_sub(since);
                self.env.note("converged; a last calm upgrade".into());
                self.phase = Phase::FinalUpgrade { since: self.env.now };
                self.act(Action::CalmUpgrade { app });
                Ok(())
            }
            _ => {
                if matches!(self.phase, Phase::Settling { .. }) {
                    self.stats.converged_after = self.env.now.saturating_sub(since);
                }
                self.env.note("converged".into());
                self.phase = Phase::Done;
                let undelivered = self.env.history.undelivered();
                if !undelivered.is_empty() {
                    return Err(Violation::new(
                        Kind::UpdateNotDelivered,
                        format!("status updates that never reached the framework: {undelivered:?}"),
                    ));
                }
                Ok(())
            }
        }
    }

    /// Alive task processes, by task id: (agent, container).
    fn alive_tasks(&self) -> BTreeMap<mesos_api::TaskId, (usize, String)> {
        let mut out = BTreeMap::new();
        for a in &self.agents {
            for (cid, p) in a.alive() {
                out.insert(p.task_id.clone(), (a.idx, cid.clone()));
            }
        }
        out
    }

    /// Whether the whole cluster is healthy now: every process up, no partition, a calm
    /// network, every master connected to ZooKeeper, the scheduler subscribed to the leader
    /// and reconciled, every agent registered with it.
    fn cluster_healthy(&self) -> bool {
        let Some(leader) = self.scheduler.subscribed_to() else { return false };
        self.masters.iter().all(|m| m.up && (!self.env.ha || self.env.zk.view(m.idx).is_some()))
            && self.masters[leader].leading()
            && self.agents.iter().all(|a| a.registered_with(leader))
            && self.scheduler.core.as_ref().is_some_and(|c| c.is_connected() && c.is_reconciled())
            && !self.env.net.is_cut()
            && self.env.net.weather() == Weather::CALM
    }

    /// During a deployment (a rolling upgrade: live instances of an outdated version), a
    /// launch never takes the app's launched instances beyond its capacity; in a calm one
    /// (it started from a converged app in a healthy cluster, and met no fault), the app's
    /// healthy instances never drop below the minimum.
    fn check_deployments(&mut self) -> Result<(), Violation> {
        let launched_apps = std::mem::take(&mut self.env.launched);
        let healthy_cluster = self.cluster_healthy();
        let Some(core) = self.scheduler.core.as_ref().filter(|_| self.scheduler.up) else { return Ok(()) };
        let (agents, env, user_kills) = (&self.agents, &mut self.env, &self.user_kills);
        let converged_before = std::mem::take(&mut self.converged_apps);
        let alive =
            |task: &mesos_api::TaskId| agents.iter().any(|a| a.procs.values().any(|p| p.alive() && &p.task_id == task));
        let mut results = Vec::new();
        for spec in core.apps() {
            let outdated =
                |i: &&scheduler::core::Instance| !i.condition.is_terminal() && !spec.is_current(i.run_spec_version);
            let live: Vec<&scheduler::core::Instance> =
                core.instances_of(&spec.id).filter(|i| !i.condition.is_terminal()).collect();
            let running = |i: &scheduler::core::Instance| {
                i.goal == Goal::Running
                    && i.condition == Condition::Running
                    && i.task.as_ref().is_some_and(|t| alive(&t.id))
            };
            if !core.instances_of(&spec.id).any(|i| outdated(&i)) {
                env.history.deployment(&spec.id, None, env.now);
                let converged = healthy_cluster
                    && live.len() == spec.instances as usize
                    && live.iter().all(|i| running(i) && i.task.as_ref().is_none_or(|t| !user_kills.contains(&t.id)));
                if converged {
                    self.converged_apps.insert(spec.id.clone());
                }
                continue;
            }
            let Some(plan) = self.plan.apps.iter().find(|p| p.id == spec.id) else { continue };
            // Converged when it started: every instance ran at the last check, in a cluster
            // that is still healthy.
            let calm_start = healthy_cluster && !env.history.deploying(&spec.id) && converged_before.contains(&spec.id);
            let bound = check::max_capacity(spec.instances, plan.upgrade);
            let Some(d) = env.history.deployment(&spec.id, Some((bound, calm_start)), env.now) else { continue };
            if d.started == env.now && env.log.enabled {
                let id = spec.id.clone();
                env.note(format!("deployment of {id} starts (calm: {}, bound {})", d.calm, d.bound));
            }
            if launched_apps.contains(&spec.id) {
                let launched = live.iter().filter(|i| i.task.is_some()).count();
                let result = check::check_capacity(&spec.id, launched, d.bound).map_err(|mut v| {
                    let all: Vec<String> = live
                        .iter()
                        .map(|i| {
                            let version = if spec.is_current(i.run_spec_version) { "new" } else { "old" };
                            format!("{} {version} {:?} {:?}", i.id, i.goal, i.condition)
                        })
                        .collect();
                    v.message.push_str(&format!(": {all:?}"));
                    v
                });
                results.push(result);
            }
            if d.calm {
                let healthy = live.iter().filter(|i| running(i)).count();
                results.push(check::check_min_health(
                    &spec.id,
                    healthy,
                    check::min_healthy(spec.instances, plan.upgrade),
                ));
            }
        }
        results.into_iter().collect()
    }

    fn check_unknown(&mut self, dt: Duration) -> Result<(), Violation> {
        let mut exposed = Vec::new();
        if let Some(m) = self.scheduler.subscribed_to()
            && self.masters[m].leading()
            && self.scheduler.core.as_ref().is_some_and(|c| c.is_connected())
        {
            for a in self.agents.iter().filter(|a| a.registered_with(m)) {
                for (cid, p) in a.alive() {
                    if !self.scheduler.knows_task(&p.task_id) {
                        exposed.push((a.idx, cid.clone(), p.task_id.clone()));
                    }
                }
            }
        }
        let limit = crate::scheduler::config(0).reconciliation_interval + UNKNOWN_SLACK;
        self.env.history.observe_unknown(dt, &exposed, limit)
    }

    /// Whether every app runs exactly its instances (and nothing else runs, and every
    /// update was acknowledged).
    fn convergence(&self) -> Result<(), Violation> {
        let Some(core) = self.scheduler.core.as_ref().filter(|_| self.scheduler.up) else {
            return Err(Violation::new(Kind::Convergence, "the scheduler is down"));
        };
        let alive = self.alive_tasks();
        let mut wanted_tasks = std::collections::BTreeSet::new();
        let mut apps = Vec::new();
        for spec in core.apps() {
            let instances: Vec<&scheduler::core::Instance> = core.instances_of(&spec.id).collect();
            let running: Vec<&&scheduler::core::Instance> = instances
                .iter()
                .filter(|i| {
                    i.goal == Goal::Running && i.condition == Condition::Running && spec.is_current(i.run_spec_version)
                })
                .collect();
            let mut processes = 0;
            for i in &running {
                if let Some(t) = &i.task
                    && alive.contains_key(&t.id)
                {
                    processes += 1;
                    wanted_tasks.insert(t.id.clone());
                }
            }
            apps.push(AppEnd {
                id: spec.id.clone(),
                wanted: spec.instances as usize,
                instances: instances.len(),
                running_instances: running.len(),
                processes,
            });
        }
        let strays: Vec<String> =
            alive.keys().filter(|t| !wanted_tasks.contains(*t)).map(|t| t.value.clone()).collect();
        let pending: usize = self
            .agents
            .iter()
            .filter_map(|a| a.core.as_ref())
            .map(|c| c.snapshot().tasks.iter().map(|t| t.pending_updates).sum::<usize>())
            .sum();
        check::check_converged(&apps, &strays, pending)
    }

    /// What the leading masters know, for a report.
    fn master_view(&self) -> String {
        let mut out = Vec::new();
        for m in self.masters.iter().filter(|m| m.leading()) {
            let Some(term) = &m.term else { continue };
            let agents: Vec<String> =
                term.core.agents().map(|a| format!("{} {:?} stream={}", a.id, a.state, a.stream.is_some())).collect();
            let frameworks: Vec<String> = term
                .core
                .frameworks()
                .map(|f| format!("{} connected={} suppressed={:?}", f.id, f.connected(), f.suppressed_roles))
                .collect();
            let offers = term.core.offers().count();
            out.push(format!("master {}: agents {agents:?}, frameworks {frameworks:?}, {offers} offers", m.idx));
        }
        out.join("; ")
    }
}
