//! What a durable commit costs: 1,000 single-record commits against one 1,000-record batch,
//! on a redb file (default: a temporary directory; `--dir PATH` to measure another disk).
//!
//! ```text
//! cargo run --release -p store --example commit_cost [-- --dir /var/lib/marathon]
//! ```

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};
use store::{Batch, Namespace, RedbStore, Store};

const N: usize = 1000;

fn value(i: usize) -> Vec<u8> {
    // About the size of a small app definition.
    format!(
        r#"{{"id":"/bench/app-{i}","cmd":"sleep 1000","cpus":0.1,"mem":32,"instances":1,"pad":"{}"}}"#,
        "x".repeat(400)
    )
    .into_bytes()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let tmp = tempfile::tempdir()?;
    let dir = match args.iter().position(|a| a == "--dir") {
        Some(i) => std::path::PathBuf::from(args.get(i + 1).ok_or("--dir needs a path")?),
        None => tmp.path().to_path_buf(),
    };
    let path = dir.join(format!("commit-cost-{}.redb", std::process::id()));

    let started = Instant::now();
    let store = RedbStore::open(&path)?;
    let open_new = started.elapsed();
    let g = store.claim_next_generation()?;
    let size = value(0).len();

    // 1. One commit per record.
    let mut latencies = Vec::with_capacity(N);
    let started = Instant::now();
    for i in 0..N {
        let t = Instant::now();
        store.put(g, &Namespace::APPS, &format!("/bench/single-{i}"), value(i))?;
        latencies.push(t.elapsed());
    }
    let singles = started.elapsed();
    latencies.sort();

    // 2. One commit for all records.
    let mut batch = Batch::new();
    for i in 0..N {
        batch = batch.put(Namespace::INSTANCES, format!("/bench/batched-{i}"), value(i));
    }
    let started = Instant::now();
    store.apply(g, &batch)?;
    let batched = started.elapsed();

    // 3. Reads, for scale.
    let started = Instant::now();
    for i in 0..N {
        store.get(&Namespace::APPS, &format!("/bench/single-{i}"))?.ok_or("missing")?;
    }
    let gets = started.elapsed();
    let started = Instant::now();
    let listed = store.list(&Namespace::INSTANCES)?.len();
    let list = started.elapsed();

    // 4. Reopen (redb checks every page's checksum on open) with ~20 MB of state.
    for round in 0..20 {
        let mut batch = Batch::new();
        for i in 0..N {
            batch = batch.put(Namespace::INSTANCES, format!("/bench/bulk-{round}-{i}"), value(i));
        }
        store.apply(g, &batch)?;
    }
    drop(store);
    let file_mb = std::fs::metadata(&path)?.len() as f64 / 1e6;
    let started = Instant::now();
    let store = RedbStore::open(&path)?;
    let reopen = started.elapsed();
    drop(store);
    std::fs::remove_file(&path)?;

    let pct = |p: usize| ms(latencies[(latencies.len() * p / 100).min(latencies.len() - 1)]);
    println!("redb commit cost ({} B values, file in {})", size, dir.display());
    println!(
        "  {N} single-record commits: {:8.1} ms total, {:.3} ms/commit (p50 {:.3}, p99 {:.3}, max {:.3}), {:.0} commits/s",
        ms(singles),
        ms(singles) / N as f64,
        pct(50),
        pct(99),
        ms(latencies[N - 1]),
        N as f64 / singles.as_secs_f64()
    );
    println!(
        "  one {N}-record batch:      {:8.1} ms total, {:.4} ms/record ({:.0}x cheaper per record)",
        ms(batched),
        ms(batched) / N as f64,
        singles.as_secs_f64() / batched.as_secs_f64()
    );
    println!("  {N} gets:                  {:8.1} ms total, {:.4} ms/get", ms(gets), ms(gets) / N as f64);
    println!("  list of {listed} records:     {:8.1} ms", ms(list));
    println!("  open (create):             {:8.1} ms", ms(open_new));
    println!("  reopen of {file_mb:.0} MB file:      {:8.1} ms (includes the integrity check)", ms(reopen));
    Ok(())
}
