//! Crash safety: a child process (this test binary, re-executed) writes in a loop and reports
//! each acknowledged write on stdout; the parent SIGKILLs it at varying points, reopens the
//! file and checks that every acknowledged write is there, that the write in flight is all or
//! nothing, and that the file passes redb's integrity check. Several rounds on one file, each
//! child claiming a new generation.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use store::{Batch, Generation, Namespace, RedbStore, Store};

const CHILD_DB_ENV: &str = "STORE_TEST_CRASH_CHILD_DB";
const CHILD_START_ENV: &str = "STORE_TEST_CRASH_CHILD_START";

fn key(i: u64) -> String {
    format!("/app-{i:06}")
}

fn value(i: u64) -> Vec<u8> {
    // Values of varying size, some spanning several pages.
    let len = 16 + (i as usize * 997) % 9000;
    (0..len).map(|j| (i as usize + j) as u8).collect()
}

fn version(i: u64) -> String {
    format!("v{i:06}")
}

/// Write `i`: even numbers are single puts, odd numbers a batch of three across namespaces.
fn write(store: &RedbStore, generation: Generation, i: u64) -> store::Result<()> {
    if i.is_multiple_of(2) {
        store.put(generation, &Namespace::APPS, &key(i), value(i))
    } else {
        store.apply(
            generation,
            &Batch::new()
                .put(Namespace::APPS, key(i), value(i))
                .put_version(Namespace::APP_VERSIONS, key(i), version(i), value(i))
                .put(Namespace::DEPLOYMENTS, key(i), i.to_le_bytes().to_vec()),
        )
    }
}

/// What write `i` left in the store: `Some(true)` all of it, `Some(false)` none, `None` a part.
fn presence(store: &RedbStore, i: u64) -> Option<bool> {
    let app = store.get(&Namespace::APPS, &key(i)).unwrap();
    if let Some(entry) = &app {
        assert_eq!(entry.value, value(i), "value of write {i}");
    }
    if i.is_multiple_of(2) {
        return Some(app.is_some());
    }
    let version = store.get_version(&Namespace::APP_VERSIONS, &key(i), &version(i)).unwrap();
    let deployment = store.get(&Namespace::DEPLOYMENTS, &key(i)).unwrap();
    match (app.is_some(), version.is_some(), deployment.is_some()) {
        (true, true, true) => {
            assert_eq!(version, Some(value(i)));
            assert_eq!(deployment.map(|e| e.value), Some(i.to_le_bytes().to_vec()));
            Some(true)
        }
        (false, false, false) => Some(false),
        _ => None,
    }
}

/// Child side: a no-op in a normal test run.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_DB_ENV) else { return };
    let start: u64 = std::env::var(CHILD_START_ENV).unwrap().parse().unwrap();
    let store = RedbStore::open(&path).unwrap();
    let generation = store.claim_next_generation().unwrap();
    let mut out = std::io::stdout().lock();
    writeln!(out, "generation {}", generation.0).unwrap();
    out.flush().unwrap();
    for i in start.. {
        write(&store, generation, i).unwrap();
        writeln!(out, "ack {i}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let mut acked = BTreeSet::new();
    let mut next = 0u64;
    // Kill after this many acknowledgements (0: as soon as the child has claimed), then this
    // many microseconds more, to land at different points of a commit.
    let kill_points =
        [(37u64, 0u64), (0, 0), (211, 150), (5, 700), (120, 0), (1, 2000), (64, 300), (90, 40), (17, 1000)];
    for (round, &(after, delay_us)) in kill_points.iter().enumerate() {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_DB_ENV, &path)
            .env(CHILD_START_ENV, next.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut generation = None;
        let mut round_acks = 0;
        let mut record = |line: &str, generation: &mut Option<u64>| {
            // libtest prints "test crash_child ... " without a newline before the child's output.
            if let Some((_, g)) = line.split_once("generation ") {
                *generation = Some(g.trim().parse::<u64>().unwrap());
            } else if let Some(i) = line.strip_prefix("ack ") {
                acked.insert(i.parse::<u64>().unwrap());
                return true;
            }
            false
        };
        // Read until the kill point, then SIGKILL the child wherever it is.
        while generation.is_none() || round_acks < after {
            assert!(Instant::now() < deadline, "round {round}: child too slow");
            let line = lines.next().expect("child exited early").unwrap();
            if record(&line, &mut generation) {
                round_acks += 1;
            }
        }
        std::thread::sleep(Duration::from_micros(delay_us));
        child.kill().unwrap(); // SIGKILL
        // Acknowledgements the child printed before it died are acknowledged writes too.
        for line in lines {
            let Ok(line) = line else { break };
            record(&line, &mut generation);
        }
        let status = child.wait().unwrap();
        assert!(!status.success(), "round {round}: the child must have been killed, got {status}");

        let store = RedbStore::open(&path).unwrap();
        assert_eq!(store.generation().unwrap(), Generation(round as u64 + 1), "round {round}");
        assert_eq!(generation, Some(round as u64 + 1));
        for &i in &acked {
            assert_eq!(presence(&store, i), Some(true), "round {round}: acknowledged write {i} lost or torn");
        }
        let last = acked.last().copied();
        let in_flight = last.map_or(0, |l| l + 1).max(next);
        let in_flight_presence = presence(&store, in_flight);
        assert!(in_flight_presence.is_some(), "round {round}: write {in_flight} is torn");
        // Nothing beyond the write in flight exists.
        let keys = store.list_keys(&Namespace::APPS).unwrap();
        let expected = acked.len() + usize::from(in_flight_presence == Some(true));
        assert_eq!(keys.len(), expected, "round {round}: unexpected records");
        eprintln!(
            "round {round}: killed after {} acks this round ({} total), in-flight write {in_flight} {}",
            round_acks,
            acked.len(),
            if in_flight_presence == Some(true) { "committed" } else { "absent" }
        );
        if in_flight_presence == Some(true) {
            acked.insert(in_flight);
        }
        next = acked.last().map_or(0, |l| l + 1);
    }
    let mut db = redb::Database::open(&path).unwrap();
    assert!(db.check_integrity().unwrap(), "integrity check after the last crash");
}
