//! The simulation's seeds: the sweep CI runs, the replay of one seed, the seeds that found
//! bugs, and the deliberate bugs the checker must catch.
//!
//! A failing seed prints the one command that replays it with its event log:
//! `SIM_SEED=<seed> cargo test -p sim --test seeds replay -- --nocapture` (add `SIM_TRACE=info`,
//! or any `tracing` filter, for the cores' own logs).

use sim::{Kind, Mutation, Options};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Seeds the sweep runs (`SIM_SEEDS` overrides it), from `SIM_FIRST_SEED` (default 0). The
/// cores are optimized in test builds too (the workspace's `profile.dev.package` settings).
const SEEDS: u64 = 10_000;
/// What the sweep may take on the 2-core CI machine.
const BUDGET: Duration = Duration::from_secs(180);

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Runs seeds `first..first + count` on every core; stops at the first failure, which it
/// returns with its violation.
fn sweep(first: u64, count: u64, options: Options) -> (u64, Option<(u64, sim::Violation)>) {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).min(8);
    let next = AtomicU64::new(first);
    let done = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let failures: Mutex<Vec<(u64, sim::Violation)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= first + count {
                        break;
                    }
                    let outcome = sim::run(seed, options);
                    done.fetch_add(1, Ordering::Relaxed);
                    if let Err(v) = outcome.result {
                        stop.store(true, Ordering::Relaxed);
                        failures.lock().unwrap_or_else(|p| p.into_inner()).push((seed, v));
                    }
                }
            });
        }
    });
    let failure = failures.into_inner().unwrap_or_else(|p| p.into_inner()).into_iter().min_by_key(|(seed, _)| *seed);
    (done.load(Ordering::Relaxed), failure)
}

/// CI: at least 10,000 seeds, each a whole run with faults, must keep every invariant and
/// converge, within the time budget.
#[test]
fn ten_thousand_seeds() {
    let first = env_u64("SIM_FIRST_SEED").unwrap_or(0);
    let count = env_u64("SIM_SEEDS").unwrap_or(SEEDS);
    let started = Instant::now();
    let (done, failure) = sweep(first, count, Options::default());
    let elapsed = started.elapsed();
    eprintln!(
        "{done} seeds from {first} in {:.1} s ({:.0} seeds/s)",
        elapsed.as_secs_f64(),
        done as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    if let Some((seed, violation)) = failure {
        panic!("seed {seed} failed: {violation}\nreplay it with its event log:\n  {}", sim::replay_command(seed));
    }
    assert!(elapsed <= BUDGET, "{done} seeds took {elapsed:?}, more than {BUDGET:?}");
}

/// `SIM_SEED=<seed>`: runs that seed again, printing its event log as it goes.
#[test]
fn replay() {
    let Some(seed) = env_u64("SIM_SEED") else {
        eprintln!("set SIM_SEED=<seed> to replay a seed");
        return;
    };
    if let Ok(filter) = std::env::var("SIM_TRACE") {
        let _ =
            tracing_subscriber::fmt().with_env_filter(filter).without_time().with_writer(std::io::stderr).try_init();
    }
    let outcome = sim::run(seed, Options { print: true, ..Options::default() });
    eprintln!("seed {seed}: {:?}", outcome.stats);
    if let Err(v) = outcome.result {
        panic!("seed {seed} failed: {v}");
    }
}

/// Seeds that found bugs in the cores (each fixed, with a focused test in its core).
#[test]
fn seeds_that_found_bugs() {
    let seeds: &[(u64, &str)] = &[];
    for (seed, bug) in seeds {
        let outcome = sim::run(*seed, Options::default());
        assert!(outcome.result.is_ok(), "seed {seed} ({bug}): {:?}\n{}", outcome.result, sim::replay_command(*seed));
    }
}

/// Runs seeds with a deliberate bug until one fails; it must fail with `kind`.
fn caught(mutation: Mutation, kind: Kind) {
    let options = Options { mutation, ..Options::default() };
    let (done, failure) = sweep(0, 2_000, options);
    let Some((seed, violation)) = failure else {
        panic!("{mutation:?}: {done} seeds and no violation");
    };
    assert_eq!(violation.kind, kind, "{mutation:?}, seed {seed}: {violation}");
}

#[test]
fn the_checker_catches_a_lost_acknowledged_write() {
    caught(Mutation::ForgetWrite, Kind::AcknowledgedWriteLost);
}

#[test]
fn the_checker_catches_an_update_that_never_reaches_the_framework() {
    caught(Mutation::LoseUpdates, Kind::UpdateNotDelivered);
}

#[test]
fn the_checker_catches_an_app_that_does_not_converge() {
    caught(Mutation::StarveOffers, Kind::Convergence);
}

#[test]
fn the_checker_catches_a_task_no_framework_knows() {
    caught(Mutation::StrayTask, Kind::UnknownTask);
}

#[test]
fn the_checker_catches_launches_beyond_max_capacity() {
    caught(Mutation::OverLaunch, Kind::OverCapacity);
}

#[test]
fn the_checker_catches_kills_below_minimum_health() {
    caught(Mutation::UnderHealth, Kind::MinimumHealth);
}

/// A run is a function of its seed: the same seed gives the same event log.
#[test]
fn a_seed_replays_exactly() {
    let options = Options { log: true, ..Options::default() };
    for seed in [3, 7] {
        let a = sim::run(seed, options);
        let b = sim::run(seed, options);
        assert!(!a.log.is_empty());
        assert_eq!(a.log, b.log, "seed {seed}");
    }
}
