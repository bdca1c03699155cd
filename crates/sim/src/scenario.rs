//! What happens in one run, decided by the seed: the cluster (one master, or three with
//! ZooKeeper), the apps and their strategies, and a timeline in three phases:
//!
//! 1. **Warm-up**: the apps are created and converge; half the runs then upgrade one app
//!    with no fault around (a *calm* deployment, where the minimum health is checked).
//! 2. **Chaos**: faults at random (agent crash and restart, agent host crash, partitions of
//!    agents, of the scheduler and of masters, scheduler crash and restart from its store,
//!    master crash and restart, a master cut off from ZooKeeper, lost, duplicated, delayed and
//!    reordered messages, task failures) mixed with API changes (scale, config change,
//!    restart, kill tasks with and without scaling, delete and re-create).
//! 3. **Settling**: faults stop (every partition heals, the network is calm, every crashed
//!    process restarts) and every app must converge; the other half of the runs then upgrades
//!    one app calmly.

use crate::net::Node;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use scheduler::core::{
    AppId, BackoffStrategy, CommandSpec, KillSelection, RunSpec, Timestamp, UnreachableStrategy, UpgradeStrategy,
};
use std::time::Duration;

/// A deliberate bug, to show that the checker catches what it claims to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mutation {
    #[default]
    None,
    /// A restarted scheduler's store lost the last app change it committed.
    ForgetWrite,
    /// The scheduler's shell acknowledges each task's first update without handing it to
    /// the core.
    LoseUpdates,
    /// The scheduler never sees an offer.
    StarveOffers,
    /// A task process nobody launched appears on an agent and is never reported.
    StrayTask,
    /// The core gets a larger `maximumOverCapacity` than the app declares.
    OverLaunch,
    /// The core gets a `minimumHealthCapacity` of 0 while the app declares 1.
    UnderHealth,
}

/// The fixed traits of one app.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AppPlan {
    pub(crate) id: AppId,
    pub(crate) instances: u32,
    pub(crate) upgrade: UpgradeStrategy,
    pub(crate) unreachable: UnreachableStrategy,
    pub(crate) kill_grace: Option<Duration>,
    pub(crate) kill_selection: KillSelection,
}

impl AppPlan {
    /// The definition the API would store, at `version` with `instances`.
    pub(crate) fn spec(&self, instances: u32, version: Timestamp, generation: u64, mutation: Mutation) -> RunSpec {
        let mut spec = RunSpec::new(self.id.clone(), version);
        spec.instances = instances;
        spec.cpus = 0.5;
        spec.mem = 64.0;
        spec.port_definitions = Vec::new();
        spec.command = CommandSpec::Shell(format!("sleep {}", 1000 + generation));
        spec.backoff =
            BackoffStrategy { backoff: Duration::from_secs(1), factor: 1.5, max_launch_delay: Duration::from_secs(10) };
        spec.unreachable_strategy = self.unreachable;
        spec.task_kill_grace_period = self.kill_grace;
        spec.kill_selection = self.kill_selection;
        spec.upgrade_strategy = match mutation {
            Mutation::OverLaunch => {
                UpgradeStrategy { maximum_over_capacity: self.upgrade.maximum_over_capacity + 1.0, ..self.upgrade }
            }
            Mutation::UnderHealth => UpgradeStrategy { minimum_health_capacity: 0.0, ..self.upgrade },
            _ => self.upgrade,
        };
        spec
    }
}

/// An API call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ApiOp {
    Scale { app: usize, instances: u32 },
    Config { app: usize },
    Restart { app: usize },
    Kill { app: usize, pick: u64, scale: bool, wipe: bool },
    Delete { app: usize },
}

/// A fault.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Fault {
    /// The agent process dies (`host`: the machine) and restarts after `down`.
    AgentCrash {
        agent: usize,
        host: bool,
        down: Duration,
    },
    /// The agent cannot reach the masters (or one of them) for `length`.
    AgentPartition {
        agent: usize,
        master: Option<usize>,
        length: Duration,
    },
    SchedulerCrash {
        down: Duration,
    },
    /// The scheduler cannot reach the masters for `length`.
    SchedulerPartition {
        length: Duration,
    },
    MasterCrash {
        master: usize,
        down: Duration,
    },
    /// The master is cut off from ZooKeeper for `length`.
    MasterZkCut {
        master: usize,
        length: Duration,
    },
    /// The master cannot reach agents and scheduler for `length`.
    MasterPartition {
        master: usize,
        length: Duration,
    },
    /// Message loss, duplication and delay for `length`.
    Weather {
        loss: f64,
        dup: f64,
        jitter: Duration,
        length: Duration,
    },
    /// A task process ends by itself (exit code 0 or 1).
    TaskExit {
        pick: u64,
        code: i32,
    },
}

/// A scripted step.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    CreateApps,
    Api(ApiOp),
    Fault(Fault),
    Restart(Node),
    Heal(Node, Node),
    HealZk(usize),
    CalmWeather,
    /// Faults stop: heal, calm, restart everything; then convergence is awaited.
    StopFaults,
    /// Upgrades one app with nothing else going on.
    CalmUpgrade {
        app: usize,
    },
    /// `Mutation::StrayTask`: a process nobody launched starts on an agent.
    Stray {
        agent: usize,
    },
}

/// One run's plan.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) ha: bool,
    pub(crate) masters: usize,
    pub(crate) agents: usize,
    pub(crate) apps: Vec<AppPlan>,
    pub(crate) timeline: Vec<(Duration, Action)>,
    /// Upgrade this app calmly once the run settled.
    pub(crate) final_upgrade: Option<usize>,
    /// How long convergence may take after the faults stop.
    pub(crate) settle_limit: Duration,
}

fn secs(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> Duration {
    Duration::from_secs_f64(rng.random_range(lo..hi))
}

fn pick_strategy(rng: &mut ChaCha8Rng) -> UpgradeStrategy {
    let (min, over) = match rng.random_range(0..5) {
        0 => (1.0, 1.0),
        1 => (1.0, 0.0),
        2 => (0.5, 0.0),
        3 => (0.5, 0.5),
        _ => (0.0, 1.0),
    };
    UpgradeStrategy { minimum_health_capacity: min, maximum_over_capacity: over }
}

fn pick_unreachable(rng: &mut ChaCha8Rng) -> UnreachableStrategy {
    match rng.random_range(0..3) {
        0 => UnreachableStrategy::default(),
        1 => UnreachableStrategy::Enabled {
            inactive_after: Duration::from_secs(5),
            expunge_after: Duration::from_secs(30),
        },
        _ => UnreachableStrategy::Enabled { inactive_after: Duration::ZERO, expunge_after: Duration::from_secs(20) },
    }
}

impl Plan {
    pub(crate) fn new(rng: &mut ChaCha8Rng, mutation: Mutation) -> Plan {
        let ha = rng.random_bool(0.4);
        let masters = if ha { 3 } else { 1 };
        let agents = 3;
        let napps = rng.random_range(2..=3);
        let apps: Vec<AppPlan> = (0..napps)
            .map(|i| AppPlan {
                id: AppId::new(&format!("/app{i}")),
                instances: rng.random_range(1..=3),
                upgrade: pick_strategy(rng),
                unreachable: pick_unreachable(rng),
                kill_grace: rng.random_bool(0.3).then(|| Duration::from_secs(1)),
                kill_selection: if rng.random_bool(0.5) {
                    KillSelection::YoungestFirst
                } else {
                    KillSelection::OldestFirst
                },
            })
            .collect();
        let mut timeline = vec![(Duration::from_millis(500), Action::CreateApps)];
        let warm_up = Duration::from_secs(8);
        let calm_first = rng.random_bool(0.5);
        let upgrade_app = rng.random_range(0..napps);
        let mut chaos_start = warm_up;
        if calm_first {
            timeline.push((warm_up, Action::CalmUpgrade { app: upgrade_app }));
            chaos_start += Duration::from_secs(8);
        }
        let chaos_len = secs(rng, 15.0, 45.0);
        let chaos_end = chaos_start + chaos_len;
        let mut t = chaos_start;
        loop {
            t += secs(rng, 0.5, 5.0);
            if t >= chaos_end {
                break;
            }
            let action = if rng.random_bool(0.35) {
                Action::Api(Self::api_op(rng, napps))
            } else {
                Action::Fault(Self::fault(rng, ha, masters, agents))
            };
            timeline.push((t, action));
        }
        timeline.push((chaos_end, Action::StopFaults));
        match mutation {
            Mutation::StrayTask => timeline.push((Duration::from_secs(5), Action::Stray { agent: 0 })),
            Mutation::ForgetWrite => {
                timeline.push((chaos_start, Action::Api(ApiOp::Scale { app: 0, instances: 3 })));
                timeline.push((
                    chaos_start + Duration::from_secs(2),
                    Action::Fault(Fault::SchedulerCrash { down: Duration::from_secs(1) }),
                ));
            }
            _ => {}
        }
        timeline.sort_by_key(|(t, _)| *t);
        let final_upgrade = (!calm_first).then_some(upgrade_app);
        Plan { ha, masters, agents, apps, timeline, final_upgrade, settle_limit: Duration::from_secs(240) }
    }

    fn api_op(rng: &mut ChaCha8Rng, napps: usize) -> ApiOp {
        let app = rng.random_range(0..napps);
        match rng.random_range(0..10) {
            0..=2 => ApiOp::Scale { app, instances: rng.random_range(0..=4) },
            3..=4 => ApiOp::Config { app },
            5 => ApiOp::Restart { app },
            6..=8 => {
                let scale = rng.random_bool(0.3);
                ApiOp::Kill { app, pick: rng.random(), scale, wipe: !scale && rng.random_bool(0.3) }
            }
            _ => ApiOp::Delete { app },
        }
    }

    fn fault(rng: &mut ChaCha8Rng, ha: bool, masters: usize, agents: usize) -> Fault {
        loop {
            let fault = match rng.random_range(0..20) {
                0..=3 => Fault::AgentCrash {
                    agent: rng.random_range(0..agents),
                    host: rng.random_bool(0.15),
                    down: secs(rng, 0.1, 8.0),
                },
                4..=6 => Fault::AgentPartition {
                    agent: rng.random_range(0..agents),
                    master: (masters > 1 && rng.random_bool(0.3)).then(|| rng.random_range(0..masters)),
                    length: secs(rng, 0.5, 15.0),
                },
                7..=8 => Fault::SchedulerCrash { down: secs(rng, 0.1, 5.0) },
                9 => Fault::SchedulerPartition { length: secs(rng, 0.5, 15.0) },
                10..=11 => Fault::MasterCrash { master: rng.random_range(0..masters), down: secs(rng, 0.5, 8.0) },
                12 if ha => Fault::MasterZkCut { master: rng.random_range(0..masters), length: secs(rng, 0.5, 10.0) },
                13 => Fault::MasterPartition { master: rng.random_range(0..masters), length: secs(rng, 0.5, 10.0) },
                14..=16 => Fault::Weather {
                    loss: [0.0, 0.02, 0.1, 0.3][rng.random_range(0..4)],
                    dup: [0.0, 0.05, 0.2][rng.random_range(0..3)],
                    jitter: [Duration::ZERO, Duration::from_millis(50), Duration::from_millis(800)]
                        [rng.random_range(0..3)],
                    length: secs(rng, 1.0, 15.0),
                },
                17..=19 => Fault::TaskExit { pick: rng.random(), code: rng.random_range(0..2) },
                _ => continue,
            };
            return fault;
        }
    }
}
