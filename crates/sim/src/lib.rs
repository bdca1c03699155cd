//! A deterministic simulation of the whole cluster, for tests.
//!
//! The real cores (`master::core::MasterCore` with its role machine and registry,
//! `agent::core::AgentCore`, `scheduler::core::SchedulerCore`) run together under a virtual
//! clock. The sim plays everything their shells do, and the world around them: a seeded
//! network that carries the cores' messages (`net`), the agents' disks and task processes
//! (`agent`), the scheduler's store and Mesos client (`scheduler`), the masters' registry
//! and ZooKeeper (`master`, `env`). One `u64` seed decides everything (the cores' seeds
//! included), so a run replays exactly.
//!
//! Each run follows a plan drawn from the seed (`scenario`): apps are created, faults and API
//! changes happen at random, then faults stop and every app must converge. The invariants
//! (`check`) are checked after every step; the first violation ends the run.

mod agent;
pub mod check;
mod env;
mod master;
mod net;
mod scenario;
mod scheduler;
mod world;

pub use check::{Kind, Violation};
pub use scenario::Mutation;
pub use world::Stats;

/// How a run ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub seed: u64,
    pub stats: Stats,
    pub result: Result<(), Violation>,
    /// The event log (only when asked for).
    pub log: Vec<String>,
}

/// Options of a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub mutation: Mutation,
    /// Keep the event log.
    pub log: bool,
    /// Print the event log as it grows (to stderr).
    pub print: bool,
}

/// Runs one seed.
pub fn run(seed: u64, options: Options) -> Outcome {
    let mut world = world::World::new(seed, options.mutation);
    world.env.log.enabled = options.log || options.print;
    world.env.log.print = options.print;
    let result = world.run();
    let mut log = std::mem::take(&mut world.env.log.lines);
    if let Err(v) = &result {
        log.push(format!("VIOLATION at {:.3}s: {v}", world.env.now.as_secs_f64()));
    }
    Outcome { seed, stats: world.stats.clone(), result, log }
}

/// The command that replays `seed` with its event log.
pub fn replay_command(seed: u64) -> String {
    format!("SIM_SEED={seed} cargo test -p sim --test seeds replay -- --nocapture")
}
