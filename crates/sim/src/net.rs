//! The simulated network: who can reach whom, what a message costs, and the streams the master
//! keeps open to agents and frameworks.
//!
//! Two kinds of traffic, as in the real cluster:
//!
//! - **Calls** (HTTP POSTs: REGISTER, SUBSCRIBE, status updates, pongs, framework calls) are
//!   independent messages. They can be lost, duplicated (a client resends a request whose
//!   connection broke after the server took it), delayed and, for the agent (whose calls go out
//!   from concurrent helper tasks), reordered. The scheduler's calls leave one after another
//!   (`send_calls` awaits each), so they keep their order.
//! - **Streams** (the response bodies of REGISTER and SUBSCRIBE) are TCP: delivered in order,
//!   never duplicated. They do not lose single messages; they *break*: a partition drops what
//!   crosses it and breaks every stream across it (each end notices by its own timeouts, or
//!   when the partition heals and the connection is reset), a crashed master's streams end at
//!   once for their clients.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::time::Duration;

/// A process of the simulated cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Node {
    Master(usize),
    Agent(usize),
    Scheduler,
}

/// A stream's id (the master core's stream id is its decimal form).
pub(crate) type Sid = u64;

/// What the network carries.
#[derive(Debug, Clone)]
pub(crate) enum Msg {
    // Agent to master.
    /// POST REGISTER (opens a stream on success).
    Register {
        conn: u64,
        inc: u64,
        register: Box<mesos_api::agent::Register>,
        hops: u8,
    },
    /// POST of a call on stream `stream`.
    AgentCall {
        stream: String,
        call: Box<mesos_api::agent::AgentCall>,
    },
    // Scheduler to master.
    /// POST SUBSCRIBE (opens a stream on success).
    Subscribe {
        attempt: u64,
        inc: u64,
        info: Box<mesos_api::FrameworkInfo>,
    },
    /// POST of a call with `Mesos-Stream-Id: stream`.
    Call {
        stream: String,
        call: Box<mesos_api::scheduler::Call>,
    },
    /// A client dropped its end of stream `sid` (the master notices when it writes next).
    ClientGone {
        sid: Sid,
    },
    // Master to agent.
    /// The answer to REGISTER: a redirect or 503 (no stream), or the stream's head.
    RegisterAnswer {
        conn: u64,
        answer: Answer,
    },
    AgentEvent {
        conn: u64,
        event: Box<mesos_api::agent::AgentEvent>,
    },
    // Master to scheduler.
    SubscribeAnswer {
        attempt: u64,
        answer: Answer,
    },
    FrameworkEvent {
        attempt: u64,
        event: Box<mesos_api::scheduler::Event>,
    },
    /// The end of stream `sid` as its client sees it (the master closed it, or it broke).
    StreamEnded {
        sid: Sid,
    },
}

impl Msg {
    /// A short description for the event log.
    pub(crate) fn describe(&self) -> String {
        use mesos_api::agent::{AgentCall, AgentEvent};
        use mesos_api::scheduler::Event;
        match self {
            Msg::Register { conn, register, .. } => {
                format!(
                    "REGISTER conn={conn} id={:?} tasks={}",
                    register.agent_id.as_ref().map(|a| a.value.as_str()),
                    register.tasks.len()
                )
            }
            Msg::AgentCall { stream, call } => match &**call {
                AgentCall::StatusUpdate { status_update } => format!(
                    "STATUS_UPDATE s={stream} {} {} uuid={:?}",
                    status_update.status.task_id,
                    status_update.status.state.name(),
                    status_update.status.uuid
                ),
                AgentCall::StatusUpdates { status_updates } => {
                    let all: Vec<String> = status_updates
                        .iter()
                        .map(|u| format!("{} {} uuid={:?}", u.status.task_id, u.status.state.name(), u.status.uuid))
                        .collect();
                    format!("STATUS_UPDATES s={stream} [{}]", all.join(", "))
                }
                AgentCall::Pong { .. } => format!("PONG s={stream}"),
                other => format!("{other:?}"),
            },
            Msg::Subscribe { attempt, info, .. } => {
                format!("SUBSCRIBE attempt={attempt} id={:?}", info.id.as_ref().map(|i| i.value.as_str()))
            }
            Msg::Call { stream, call } => {
                let mut text = format!("CALL s={stream} {:?}", call.kind);
                if let Some(a) = &call.accept {
                    let tasks: Vec<&str> = a
                        .operations
                        .iter()
                        .filter_map(|o| o.launch.as_ref())
                        .flat_map(|l| l.task_infos.iter().map(|t| t.task_id.as_str()))
                        .collect();
                    text.push_str(&format!(
                        " offers={:?} tasks={tasks:?}",
                        a.offer_ids.iter().map(|o| o.as_str()).collect::<Vec<_>>()
                    ));
                }
                if let Some(k) = &call.kill {
                    text.push_str(&format!(" {}", k.task_id));
                }
                if let Some(a) = &call.acknowledge {
                    text.push_str(&format!(" {} uuid={}", a.task_id, a.uuid));
                }
                if let Some(r) = &call.reconcile {
                    text.push_str(&format!(" tasks={}", r.tasks.len()));
                }
                text
            }
            Msg::ClientGone { sid } => format!("CLIENT_GONE sid={sid}"),
            Msg::RegisterAnswer { conn, answer } => format!("REGISTER_ANSWER conn={conn} {answer:?}"),
            Msg::AgentEvent { conn, event } => match &**event {
                AgentEvent::RunTask { task, .. } => format!("RUN_TASK conn={conn} {}", task.task_id),
                AgentEvent::RunTaskGroup { executor, task_group, .. } => {
                    let tasks: Vec<&str> = task_group.tasks.iter().map(|t| t.task_id.as_str()).collect();
                    format!("RUN_TASK_GROUP conn={conn} {} {tasks:?}", executor.executor_id)
                }
                AgentEvent::KillTask { task_id, .. } => format!("KILL_TASK conn={conn} {task_id}"),
                AgentEvent::Acknowledge { task_id, uuid, .. } => {
                    format!("ACKNOWLEDGE conn={conn} {task_id} uuid={uuid}")
                }
                AgentEvent::Registered { registered } => {
                    format!("REGISTERED conn={conn} {} kill={:?}", registered.agent_id, registered.kill_tasks)
                }
                AgentEvent::Ping => format!("PING conn={conn}"),
                other => format!("{other:?} conn={conn}"),
            },
            Msg::SubscribeAnswer { attempt, answer } => format!("SUBSCRIBE_ANSWER attempt={attempt} {answer:?}"),
            Msg::FrameworkEvent { attempt, event } => match &**event {
                Event::Update { update } => format!(
                    "UPDATE attempt={attempt} {} {} uuid={:?} reason={:?}",
                    update.status.task_id,
                    update.status.state.name(),
                    update.status.uuid,
                    update.status.reason
                ),
                Event::Offers { offers } => {
                    let all: Vec<String> = offers.offers.iter().map(|o| format!("{}@{}", o.id, o.agent_id)).collect();
                    format!("OFFERS attempt={attempt} {all:?}")
                }
                Event::Subscribed { subscribed } => format!("SUBSCRIBED attempt={attempt} {}", subscribed.framework_id),
                Event::Heartbeat => format!("HEARTBEAT attempt={attempt}"),
                other => format!("{other:?} attempt={attempt}"),
            },
            Msg::StreamEnded { sid } => format!("STREAM_ENDED sid={sid}"),
        }
    }
}

/// How a master answers a request that opens a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The stream is open (this is its first message); `master` answered.
    Opened { sid: Sid, master: usize },
    /// 307 to the leading master.
    Redirect(usize),
    /// 503: no leader known.
    Unavailable,
}

/// One stream between a master and a client.
#[derive(Debug, Clone)]
pub(crate) struct Stream {
    /// The client's conn (agent) or subscription attempt (scheduler) it answers.
    pub(crate) tag: u64,
    pub(crate) master: usize,
    pub(crate) master_inc: u64,
    pub(crate) client: Node,
    pub(crate) client_inc: u64,
    /// When the last message towards the client arrives (later ones arrive after it).
    last: Duration,
    /// The connection died (partition): nothing more gets through.
    pub(crate) broken: bool,
    /// The master still writes to it.
    pub(crate) master_open: bool,
    /// The client still reads it.
    pub(crate) client_open: bool,
}

/// The weather: message faults in force.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Weather {
    /// Probability that a call is lost.
    pub(crate) loss: f64,
    /// Probability that a call arrives twice.
    pub(crate) dup: f64,
    /// Extra delay, up to this much, on every message (a slow or congested network).
    pub(crate) jitter: Duration,
}

impl Weather {
    pub(crate) const CALM: Weather = Weather { loss: 0.0, dup: 0.0, jitter: Duration::ZERO };
}

/// Where a sent message goes and when it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Delivery {
    pub(crate) to: Node,
    /// The incarnation of `to` it is for (streams); `None`: whichever runs when it arrives
    /// (a POST connects to whatever process listens then).
    pub(crate) inc: Option<u64>,
    pub(crate) at: Duration,
}

/// Base latency of one message: 0.2 to 5 ms.
fn base_latency(rng: &mut ChaCha8Rng) -> Duration {
    Duration::from_micros(rng.random_range(200..5_000))
}

#[derive(Debug, Default)]
pub(crate) struct Net {
    /// Pairs that cannot reach each other (smaller node first), with the number of faults
    /// that cut them (overlapping partitions heal one at a time).
    cut: BTreeMap<(Node, Node), u32>,
    pub(crate) streams: BTreeMap<Sid, Stream>,
    next_sid: Sid,
    weather: Option<Weather>,
    /// When the last scheduler call arrives (they keep their order).
    last_scheduler_call: Duration,
    /// Counts of what the weather did, for the report.
    pub(crate) lost: u64,
    pub(crate) duplicated: u64,
}

fn pair(a: Node, b: Node) -> (Node, Node) {
    if a <= b { (a, b) } else { (b, a) }
}

impl Net {
    pub(crate) fn weather(&self) -> Weather {
        self.weather.unwrap_or(Weather::CALM)
    }

    pub(crate) fn set_weather(&mut self, weather: Weather) {
        self.weather = Some(weather);
    }

    pub(crate) fn reachable(&self, a: Node, b: Node) -> bool {
        !self.cut.contains_key(&pair(a, b))
    }

    pub(crate) fn is_cut(&self) -> bool {
        !self.cut.is_empty()
    }

    /// Cuts `a` off from `b`: every stream between them breaks.
    pub(crate) fn cut(&mut self, a: Node, b: Node) {
        *self.cut.entry(pair(a, b)).or_default() += 1;
        for s in self.streams.values_mut() {
            if pair(Node::Master(s.master), s.client) == pair(a, b) {
                s.broken = true;
            }
        }
    }

    /// Heals `a` and `b`; returns the broken streams between them that an end still holds
    /// (they are reset now).
    pub(crate) fn heal(&mut self, a: Node, b: Node) -> Vec<Sid> {
        let key = pair(a, b);
        match self.cut.get_mut(&key) {
            Some(n) if *n > 1 => {
                *n -= 1;
                return Vec::new();
            }
            _ => {
                self.cut.remove(&key);
            }
        }
        self.broken_between(a, b)
    }

    /// Heals everything; returns the broken streams an end still holds.
    pub(crate) fn heal_all(&mut self) -> Vec<Sid> {
        let pairs: Vec<(Node, Node)> = std::mem::take(&mut self.cut).into_keys().collect();
        let mut reset = Vec::new();
        for (a, b) in pairs {
            reset.extend(self.broken_between(a, b));
        }
        reset.sort_unstable();
        reset.dedup();
        reset
    }

    fn broken_between(&self, a: Node, b: Node) -> Vec<Sid> {
        self.streams
            .iter()
            .filter(|(_, s)| s.broken && (s.master_open || s.client_open))
            .filter(|(_, s)| pair(Node::Master(s.master), s.client) == pair(a, b))
            .map(|(sid, _)| *sid)
            .collect()
    }

    pub(crate) fn open_stream(
        &mut self,
        master: usize,
        master_inc: u64,
        client: Node,
        client_inc: u64,
        tag: u64,
        now: Duration,
    ) -> Sid {
        self.next_sid += 1;
        let sid = self.next_sid;
        let broken = !self.reachable(Node::Master(master), client);
        self.streams.insert(
            sid,
            Stream {
                tag,
                master,
                master_inc,
                client,
                client_inc,
                last: now,
                broken,
                master_open: true,
                client_open: true,
            },
        );
        sid
    }

    /// A message from the master down stream `sid`; `None` when it does not get through.
    pub(crate) fn stream_send(&mut self, sid: Sid, now: Duration, rng: &mut ChaCha8Rng) -> Option<Delivery> {
        let jitter = self.weather().jitter;
        let s = self.streams.get_mut(&sid)?;
        if s.broken || !s.master_open {
            return None;
        }
        let mut at = now + base_latency(rng);
        if !jitter.is_zero() {
            at += Duration::from_nanos(rng.random_range(0..=jitter.as_nanos() as u64));
        }
        // In order: never before the previous message.
        at = at.max(s.last + Duration::from_micros(1));
        s.last = at;
        Some(Delivery { to: s.client, inc: Some(s.client_inc), at })
    }

    /// A call (POST) from `from` to `to`: none (lost or cut), one or two deliveries.
    pub(crate) fn post(&mut self, from: Node, to: Node, now: Duration, rng: &mut ChaCha8Rng) -> Vec<Delivery> {
        if !self.reachable(from, to) {
            return Vec::new();
        }
        let weather = self.weather();
        if weather.loss > 0.0 && rng.random_bool(weather.loss) {
            self.lost += 1;
            return Vec::new();
        }
        let copies = if weather.dup > 0.0 && rng.random_bool(weather.dup) {
            self.duplicated += 1;
            2
        } else {
            1
        };
        let mut out = Vec::with_capacity(copies);
        for _ in 0..copies {
            let mut at = now + base_latency(rng);
            if !weather.jitter.is_zero() {
                at += Duration::from_nanos(rng.random_range(0..=weather.jitter.as_nanos() as u64));
            }
            if from == Node::Scheduler {
                at = at.max(self.last_scheduler_call + Duration::from_micros(1));
                self.last_scheduler_call = at;
            }
            out.push(Delivery { to, inc: None, at });
        }
        out
    }
}
