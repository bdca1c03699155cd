//! What the nodes share: the virtual clock, the seeded RNG, the network, the event queue,
//! ZooKeeper (election and the masters' registry), the event log and the checker's history.

use crate::check::History;
use crate::net::{Msg, Net, Node, Sid};
use master::core::Registry;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::time::Duration;

/// The wall clock at virtual time zero (milliseconds since the epoch).
pub(crate) const WALL0_MS: i64 = 1_700_000_000_000;

pub(crate) fn master_now(t: Duration) -> master::core::Now {
    master::core::Now { mono: t, wall: WALL0_MS as f64 / 1000.0 + t.as_secs_f64() }
}

pub(crate) fn agent_now(t: Duration) -> agent::core::Now {
    agent::core::Now { mono: t, wall: WALL0_MS as f64 / 1000.0 + t.as_secs_f64() }
}

pub(crate) fn sched_now(t: Duration) -> scheduler::core::Now {
    scheduler::core::Now { mono: t, wall: scheduler::core::Timestamp::from_millis(WALL0_MS + t.as_millis() as i64) }
}

/// Something scheduled to happen.
#[derive(Debug, Clone)]
pub(crate) enum Ev {
    /// A message arrives.
    Deliver { from: Node, to: Node, inc: Option<u64>, msg: Msg },
    /// The agent's group commit of a step is durable: the step's other commands run.
    AgentStepDone { agent: usize, inc: u64 },
    /// An event for an agent core (from its shell's helpers: sandbox ready, process ended...).
    AgentInput { agent: usize, inc: u64, event: Box<agent::core::Event> },
    /// A launch's report reaches the agent (the process runs).
    LaunchReported { agent: usize, inc: u64, cid: String },
    /// A task process ends (the host's business, whatever the agent does).
    ProcessExit { agent: usize, cid: String, token: u64 },
    /// The scheduler store commits its oldest pending write.
    StoreCommit { inc: u64 },
    /// The store's report of a commit reaches the scheduler's driver.
    StoredReport { inc: u64, write_id: scheduler::core::WriteId },
    /// A master's registry job (load or store) is done.
    RegistryDone { master: usize, inc: u64 },
    /// A master's election watch fires: it reads what the election says now.
    Contention { master: usize },
    /// A master detector (agent or scheduler) reads the leading master now.
    Detected { node: Node },
    /// The scheduler's shell repairs a failed ACCEPT or DECLINE (`scheduler::service::redecline`).
    Redecline { inc: u64, call: Box<mesos_api::scheduler::Call>, tries: u32 },
    /// A scripted step of the scenario (faults, API calls, phases).
    Script(crate::scenario::Action),
}

/// The election member of one master.
#[derive(Debug, Clone)]
struct Member {
    /// The sequence number of its election node, while it has one.
    node: Option<i64>,
    /// Whether its ZooKeeper session is connected.
    connected: bool,
    /// When its session expires (set while disconnected).
    expires: Option<Duration>,
}

/// ZooKeeper: the masters' election and the registry record with its generation (fencing).
#[derive(Debug, Default)]
pub(crate) struct Zk {
    pub(crate) session_timeout: Duration,
    members: BTreeMap<usize, Member>,
    next_node: i64,
    /// The registry record (the masters' shared store).
    pub(crate) registry: Option<Registry>,
    /// Raised by every load: writes of an earlier generation are fenced.
    pub(crate) generation: u64,
}

impl Zk {
    /// The master whose node is lowest.
    pub(crate) fn leader(&self) -> Option<usize> {
        self.members.iter().filter_map(|(m, member)| member.node.map(|n| (n, *m))).min().map(|(_, m)| m)
    }

    /// What master `m` hears from its election (`None` when it is not connected).
    pub(crate) fn view(&self, m: usize) -> Option<(Option<i64>, Option<usize>)> {
        let member = self.members.get(&m)?;
        member.connected.then(|| (member.node, self.leader()))
    }

    /// A master (re)starts: a new session and a new node at the back.
    pub(crate) fn join(&mut self, m: usize) {
        self.next_node += 1;
        self.members.insert(m, Member { node: Some(self.next_node), connected: true, expires: None });
    }

    /// A master's session loses its connection (crash, partition): it expires `session_timeout`
    /// later unless it reconnects.
    pub(crate) fn disconnect(&mut self, m: usize, now: Duration) {
        if let Some(member) = self.members.get_mut(&m)
            && member.connected
        {
            member.connected = false;
            member.expires = Some(now + self.session_timeout);
        }
    }

    /// The connection is back: the same session and node if it has not expired, else a new
    /// session and node.
    pub(crate) fn reconnect(&mut self, m: usize) {
        let expired = self.members.get(&m).is_none_or(|member| member.node.is_none());
        if expired {
            self.join(m);
        } else if let Some(member) = self.members.get_mut(&m) {
            member.connected = true;
            member.expires = None;
        }
    }

    /// Leaves the election and joins it again at the back (abdication).
    pub(crate) fn requeue(&mut self, m: usize) {
        if self.members.get(&m).is_some_and(|member| member.connected) {
            self.join(m);
        }
    }

    /// The master process is gone for good (until it restarts and joins).
    pub(crate) fn crash(&mut self, m: usize, now: Duration) {
        self.disconnect(m, now);
    }

    /// Expires sessions whose time is up; whether the leader may have changed.
    pub(crate) fn expire(&mut self, now: Duration) -> bool {
        let mut changed = false;
        for member in self.members.values_mut() {
            if member.expires.is_some_and(|at| now >= at) {
                member.expires = None;
                member.node = None;
                changed = true;
            }
        }
        changed
    }

    /// The next session expiry.
    pub(crate) fn next_expiry(&self) -> Option<Duration> {
        self.members.values().filter_map(|m| m.expires).min()
    }
}

/// The event log: kept (and printed as it grows) only when replaying.
#[derive(Debug, Default)]
pub(crate) struct Log {
    pub(crate) enabled: bool,
    pub(crate) print: bool,
    pub(crate) lines: Vec<String>,
}

#[derive(Debug)]
pub(crate) struct Env {
    pub(crate) now: Duration,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) net: Net,
    queue: BTreeMap<(Duration, u64), Ev>,
    seq: u64,
    pub(crate) zk: Zk,
    pub(crate) log: Log,
    pub(crate) history: History,
    pub(crate) mutation: crate::Mutation,
    /// Whether the masters run with ZooKeeper (HA); otherwise master 0 leads alone.
    pub(crate) ha: bool,
    pub(crate) masters: usize,
    pub(crate) agents: usize,
    /// Something the per-step checks look at may have changed (a scheduler or agent step, a
    /// process, a term): they run only then.
    pub(crate) dirty: bool,
    /// Apps the scheduler launched tasks of since the last check.
    pub(crate) launched: std::collections::BTreeSet<scheduler::core::AppId>,
}

impl Env {
    pub(crate) fn new(rng: ChaCha8Rng, ha: bool, masters: usize, agents: usize, mutation: crate::Mutation) -> Env {
        Env {
            now: Duration::ZERO,
            rng,
            net: Net::default(),
            queue: BTreeMap::new(),
            seq: 0,
            zk: Zk::default(),
            log: Log::default(),
            history: History::default(),
            mutation,
            ha,
            masters,
            agents,
            dirty: true,
            launched: std::collections::BTreeSet::new(),
        }
    }

    pub(crate) fn at(&mut self, at: Duration, ev: Ev) {
        self.seq += 1;
        self.queue.insert((at.max(self.now), self.seq), ev);
    }

    pub(crate) fn after(&mut self, d: Duration, ev: Ev) {
        self.at(self.now + d, ev);
    }

    /// A random delay in `[lo, hi)` milliseconds (microsecond resolution).
    pub(crate) fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_micros(self.rng.random_range(lo * 1000..hi.max(lo + 1) * 1000))
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.random_bool(p.min(1.0))
    }

    pub(crate) fn next_time(&self) -> Option<Duration> {
        self.queue.keys().next().map(|(t, _)| *t)
    }

    pub(crate) fn pop(&mut self) -> Option<(Duration, Ev)> {
        self.queue.pop_first().map(|((t, _), ev)| (t, ev))
    }

    /// POSTs `msg` from `from` to `to`; whether it goes out (not lost, not cut off).
    pub(crate) fn post(&mut self, from: Node, to: Node, msg: Msg) -> bool {
        let deliveries = self.net.post(from, to, self.now, &mut self.rng);
        if self.log.enabled {
            let text = msg.describe();
            match deliveries.len() {
                0 => self.note(format!("{from:?} -> {to:?} LOST {text}")),
                2 => self.note(format!("{from:?} -> {to:?} DUPLICATED {text}")),
                _ => {}
            }
        }
        if deliveries.len() != 1 {
            self.history.fault(self.now);
        }
        let sent = !deliveries.is_empty();
        let n = deliveries.len();
        let mut msg = Some(msg);
        for (i, d) in deliveries.into_iter().enumerate() {
            let copy = if i + 1 == n { msg.take() } else { msg.clone() };
            if let Some(copy) = copy {
                self.at(d.at, Ev::Deliver { from, to: d.to, inc: d.inc, msg: copy });
            }
        }
        sent
    }

    /// Sends `msg` down stream `sid` (from its master to its client).
    pub(crate) fn stream_send(&mut self, sid: Sid, msg: Msg) {
        let Some(master) = self.net.streams.get(&sid).map(|s| Node::Master(s.master)) else { return };
        if let Some(d) = self.net.stream_send(sid, self.now, &mut self.rng) {
            self.at(d.at, Ev::Deliver { from: master, to: d.to, inc: d.inc, msg });
        }
    }

    /// The master ends stream `sid`: its client sees the end after what was sent before.
    pub(crate) fn stream_close_by_master(&mut self, sid: Sid) {
        self.stream_send(sid, Msg::StreamEnded { sid });
        if let Some(s) = self.net.streams.get_mut(&sid) {
            s.master_open = false;
        }
    }

    /// The client drops stream `sid`: the master hears of it (if the network lets it).
    pub(crate) fn stream_drop_by_client(&mut self, sid: Sid) {
        let Some(s) = self.net.streams.get_mut(&sid) else { return };
        if !s.client_open {
            return;
        }
        s.client_open = false;
        let (master, master_inc, client, broken, master_open) =
            (s.master, s.master_inc, s.client, s.broken, s.master_open);
        if master_open && !broken && self.net.reachable(Node::Master(master), client) {
            let at = self.now + Duration::from_micros(self.rng.random_range(200..5_000));
            let msg = Msg::ClientGone { sid };
            self.at(at, Ev::Deliver { from: client, to: Node::Master(master), inc: Some(master_inc), msg });
        }
    }

    pub(crate) fn note(&mut self, line: String) {
        if self.log.enabled {
            let line = format!("[{:>9.3}s] {line}", self.now.as_secs_f64());
            if self.log.print {
                eprintln!("{line}");
            }
            self.log.lines.push(line);
        }
    }

    /// Logs a line made only when the log is on.
    pub(crate) fn log(&mut self, line: impl FnOnce() -> String) {
        if self.log.enabled {
            self.note(line());
        }
    }
}
