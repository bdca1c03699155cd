//! Runs a range of seeds and prints one line per run: `cargo run -p sim --example probe -- <first> <count>`
//! (`PRINT=1`: each event log; `TRACE=<filter>`: the cores' logs; `UNDER=1`: with the `UnderHealth` mutation).

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let from: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(0);
    let n: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);
    let print = std::env::var("PRINT").is_ok();
    if let Ok(filter) = std::env::var("TRACE") {
        tracing_subscriber::fmt().with_env_filter(filter).without_time().with_writer(std::io::stderr).init();
    }
    let start = std::time::Instant::now();
    let mut fails = 0;
    for seed in from..from + n {
        let t = std::time::Instant::now();
        let mutation = if std::env::var("UNDER").is_ok() { sim::Mutation::UnderHealth } else { sim::Mutation::None };
        let out = sim::run(seed, sim::Options { print, mutation, ..Default::default() });
        match &out.result {
            Ok(()) => println!(
                "seed {seed}: ok {:?} steps {} vt {:.0}s conv {:.1}s faults {} ha {}",
                t.elapsed(),
                out.stats.steps,
                out.stats.virtual_time.as_secs_f64(),
                out.stats.converged_after.as_secs_f64(),
                out.stats.faults,
                out.stats.ha
            ),
            Err(v) => {
                fails += 1;
                println!(
                    "seed {seed}: FAIL {:?} steps {} vt {:.0}s: {v}",
                    t.elapsed(),
                    out.stats.steps,
                    out.stats.virtual_time.as_secs_f64()
                )
            }
        }
    }
    println!("{n} seeds, {fails} failures, {:?}", start.elapsed());
}
