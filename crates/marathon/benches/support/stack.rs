//! What the Marathon benchmarks share: settings from the environment, a master, agents and a
//! scheduler as separate processes (`Stack`), and measuring helpers.

#![allow(dead_code)]

use crate::common::*;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub(crate) struct Settings {
    pub(crate) allocation_interval: String,
    pub(crate) scheduler_flags: Vec<String>,
    pub(crate) scheduler_env: Vec<(String, String)>,
    pub(crate) poll: Duration,
    pub(crate) hollow_agents: usize,
    pub(crate) requests: usize,
    pub(crate) timeout: Duration,
}

impl Settings {
    pub(crate) fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let num = |name: &str, default: u64| var(name).and_then(|v| v.trim().parse().ok()).unwrap_or(default);
        Settings {
            allocation_interval: var("BENCH_ALLOCATION_INTERVAL").unwrap_or_else(|| "1secs".to_string()),
            scheduler_flags: var("BENCH_SCHEDULER_FLAGS")
                .map(|v| v.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
            scheduler_env: var("BENCH_SCHEDULER_ENV")
                .map(|v| {
                    v.split_whitespace()
                        .filter_map(|kv| kv.split_once('='))
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()
                })
                .unwrap_or_default(),
            poll: Duration::from_millis(num("BENCH_POLL_MS", 50)),
            hollow_agents: num("BENCH_HOLLOW_AGENTS", 20) as usize,
            requests: num("BENCH_REQUESTS", 200) as usize,
            timeout: Duration::from_secs(num("BENCH_TIMEOUT_SECS", 600)),
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "allocation_interval": self.allocation_interval,
            "scheduler_flags": self.scheduler_flags.join(" "),
            "scheduler_env": self.scheduler_env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "),
            "tmpdir": std::env::temp_dir().display().to_string(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The processes

pub(crate) enum Agents {
    /// One real agent (cgroups if root) with these resources.
    Real { resources: String },
    /// Hollow agents with `marathon agent --hollow`'s default-sized resources.
    Hollow { count: usize },
}

/// A master, agents and a scheduler, each its own process. The [`Cluster`] of the tests owns the
/// master, the agents and the temp dir, and its teardown kills whatever they started.
pub(crate) struct Stack {
    pub(crate) cluster: Cluster,
    pub(crate) scheduler: Proc,
    /// How the scheduler was started (for [`Stack::restart_scheduler`]).
    pub(crate) scheduler_args: Vec<String>,
    pub(crate) scheduler_env: Vec<(String, String)>,
    pub(crate) api: String,
    pub(crate) http: reqwest::Client,
}

impl Stack {
    pub(crate) async fn start(settings: &Settings, agents: Agents) -> Stack {
        let dir = tempfile::tempdir().expect("tempdir");
        let http = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().expect("client");
        let master_port = free_port();
        let master = spawn(
            &[
                "master",
                "--port",
                &master_port.to_string(),
                "--work_dir",
                &dir.path().join("master").display().to_string(),
                "--hostname",
                "localhost",
                "--allocation_interval",
                &settings.allocation_interval,
            ],
            &dir.path().join("master.log"),
            "info",
            &[],
        );
        wait_http(&http, &format!("http://127.0.0.1:{master_port}/health")).await;
        let mut cluster = Cluster {
            dir,
            master,
            master_port,
            master_args: Vec::new(),
            master_starts: 1,
            agents: Vec::new(),
            cgroups_root: unique("marathon-bench"),
            http: http.clone(),
            state_auth: None,
        };
        let (count, hollow, resources) = match agents {
            Agents::Real { resources } => (1, false, resources),
            Agents::Hollow { count } => (count, true, "cpus:8;mem:32768;disk:65536;ports:[31000-32000]".to_string()),
        };
        for i in 0..count {
            let port = free_port();
            let work_dir = cluster.dir.path().join(format!("agent{i}"));
            let mut args: Vec<String> = [
                "agent",
                "--master",
                &cluster.master_addr(),
                "--port",
                &port.to_string(),
                "--work_dir",
                &work_dir.display().to_string(),
                "--hostname",
                &format!("agent{i}"),
                "--cgroups_root",
                &cluster.cgroups_root,
                "--resources",
                &resources,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            if hollow {
                args.push("--hollow".to_string());
            }
            let args_ref: Vec<&str> = args.iter().map(String::as_str).collect();
            let proc = spawn(&args_ref, &cluster.dir.path().join(format!("agent{i}.log")), "info", &[]);
            wait_http(&http, &format!("http://127.0.0.1:{port}/health")).await;
            cluster.agents.push(Agent { proc, port, work_dir, args });
        }
        cluster
            .wait_state("all agents registered", |s| {
                s["slaves"].as_array().is_some_and(|a| a.iter().filter(|x| x["active"] == true).count() == count)
            })
            .await;

        let port = free_port();
        let mut args: Vec<String> = [
            "scheduler",
            "--master",
            &cluster.master_addr(),
            "--http_port",
            &port.to_string(),
            "--http_address",
            "127.0.0.1",
            "--hostname",
            "localhost",
            "--work_dir",
            &cluster.dir.path().join("marathon").display().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(settings.scheduler_flags.iter().cloned());
        let args_ref: Vec<&str> = args.iter().map(String::as_str).collect();
        // `reviving offers` is a debug line of the core; it shows when the rate limit let a
        // REVIVE out.
        let log = cluster.dir.path().join("scheduler.log");
        let scheduler = spawn(&args_ref, &log, "info,scheduler::core::launch=debug", &settings.scheduler_env);
        let stack = Stack {
            cluster,
            scheduler,
            scheduler_args: args,
            scheduler_env: settings.scheduler_env.clone(),
            api: format!("http://127.0.0.1:{port}"),
            http,
        };
        stack.wait_subscribed().await;
        stack
    }

    /// A second scheduler with the same flags (its own port and work dir): with `--zk`, a
    /// standby.
    pub(crate) async fn start_standby(&self, name: &str) -> Standby {
        let port = free_port();
        let mut args = self.scheduler_args.clone();
        let set = |args: &mut Vec<String>, flag: &str, value: String| {
            if let Some(i) = args.iter().position(|a| a == flag) {
                args[i + 1] = value;
            }
        };
        set(&mut args, "--http_port", port.to_string());
        set(&mut args, "--work_dir", self.cluster.dir.path().join(name).display().to_string());
        let args_ref: Vec<&str> = args.iter().map(String::as_str).collect();
        let log = self.cluster.dir.path().join(format!("{name}.log"));
        let proc = spawn(&args_ref, &log, "info", &self.scheduler_env);
        let api = format!("http://127.0.0.1:{port}");
        wait_http(&self.http, &format!("{api}/v2/leader")).await;
        Standby { proc, api }
    }

    pub(crate) async fn wait_subscribed(&self) {
        eventually(Duration::from_secs(60), "Marathon subscribed", || async {
            let metrics = self.metrics().await;
            (metrics["gauges"]["marathon.mesos.connected.gauge"]["value"] == 1).then_some(())
        })
        .await;
    }

    /// SIGKILL the scheduler and start it again on the same work dir (it reloads its state).
    pub(crate) async fn restart_scheduler(&mut self) {
        self.scheduler.kill();
        let args: Vec<&str> = self.scheduler_args.iter().map(String::as_str).collect();
        let log = self.cluster.dir.path().join("scheduler-restart.log");
        self.scheduler = spawn(&args, &log, "info,scheduler::core::launch=debug", &self.scheduler_env);
        self.wait_subscribed().await;
    }

    /// `GET /metrics` (`Null` while the API is not up).
    pub(crate) async fn metrics(&self) -> Value {
        let Ok(response) = self.http.get(format!("{}/metrics", self.api)).send().await else { return Value::Null };
        response.json().await.unwrap_or(Value::Null)
    }

    /// `marathon.instances.running.gauge`.
    pub(crate) async fn running(&self) -> usize {
        self.metrics().await["gauges"]["marathon.instances.running.gauge"]["value"].as_u64().unwrap_or(0) as usize
    }

    /// Waits until no deployment is left and the scheduler used less than 50 ms of CPU in a
    /// second (or `deadline`).
    pub(crate) async fn settle(&self, deadline: Instant) {
        while Instant::now() < deadline {
            let deployments: Value = serde_json::from_slice(&self.get("/v2/deployments").await).unwrap_or(Value::Null);
            let before = proc_cpu_secs(self.scheduler.pid());
            tokio::time::sleep(Duration::from_secs(1)).await;
            let busy = proc_cpu_secs(self.scheduler.pid()) - before;
            if deployments.as_array().is_some_and(Vec::is_empty) && busy < 0.05 {
                return;
            }
        }
    }

    pub(crate) async fn post_app(&self, app: &Value) -> u16 {
        let response = self
            .http
            .post(format!("{}/v2/apps", self.api))
            .header("Content-Type", "application/json")
            .body(app.to_string())
            .send()
            .await
            .expect("POST /v2/apps");
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        assert!(status == 201, "POST /v2/apps {}: {status} {body}", app["id"]);
        status
    }

    pub(crate) async fn put_apps(&self, apps: &[Value]) {
        let response = self
            .http
            .put(format!("{}/v2/apps", self.api))
            .header("Content-Type", "application/json")
            .body(Value::from(apps.to_vec()).to_string())
            .send()
            .await
            .expect("PUT /v2/apps");
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        assert!(status == 200, "PUT /v2/apps: {status} {body}");
    }

    /// The whole body of a GET on the REST API.
    pub(crate) async fn get(&self, path_and_query: &str) -> Vec<u8> {
        let response = self.http.get(format!("{}{path_and_query}", self.api)).send().await.expect("GET");
        response.bytes().await.expect("body").to_vec()
    }

    pub(crate) async fn master_metrics(&self) -> Value {
        let url = format!("http://{}/metrics/snapshot", self.cluster.master_addr());
        match self.http.get(url).send().await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }

    /// Lines of the scheduler's log written at or after `since` (Unix seconds) that contain
    /// `needle`, as (seconds after `since`, line).
    pub(crate) fn scheduler_log_since(&self, since: f64, needle: &str) -> Vec<(f64, String)> {
        self.scheduler
            .log_text()
            .lines()
            .map(strip_ansi)
            .filter(|l| l.contains(needle))
            .filter_map(|l| log_time(&l).map(|t| (t - since, l)))
            .filter(|(t, _)| *t >= -0.001)
            .collect()
    }

    /// The scheduler's launches (one per ACCEPT): (seconds after `since`, instances).
    pub(crate) fn launches_since(&self, since: f64) -> Vec<(f64, u64)> {
        self.scheduler_log_since(since, "launching on offer")
            .into_iter()
            .map(|(t, l)| (t, log_field(&l, "instances=").unwrap_or(0)))
            .collect()
    }

    pub(crate) fn cpu_secs(&self) -> Vec<(&'static str, f64)> {
        let mut out = vec![
            ("scheduler", proc_cpu_secs(self.scheduler.pid())),
            ("master", proc_cpu_secs(self.cluster.master.pid())),
        ];
        let agents: f64 = self.cluster.agents.iter().map(|a| proc_cpu_secs(a.proc.pid())).sum();
        out.push(("agents", agents));
        out
    }

    pub(crate) fn teardown(mut self, bench: &str) {
        self.scheduler.kill();
        if let Ok(dir) = std::env::var("BENCH_LOGS") {
            let to = Path::new(&dir).join(bench);
            let _ = std::fs::create_dir_all(&to);
            for entry in std::fs::read_dir(self.cluster.dir.path()).into_iter().flatten().flatten() {
                if entry.path().extension().is_some_and(|e| e == "log") {
                    let _ = std::fs::copy(entry.path(), to.join(entry.file_name()));
                }
            }
        }
        let leaked = self.cluster.teardown();
        if !leaked.is_empty() {
            eprintln!("teardown: killed {} task and monitor processes", leaked.len());
        }
    }
}

/// A second scheduler of a [`Stack`] (killed when dropped).
pub(crate) struct Standby {
    pub(crate) proc: Proc,
    pub(crate) api: String,
}

/// `perf record` of the stack's processes while the measured part runs (with `BENCH_PERF`).
pub(crate) struct Perf(Option<std::process::Child>);

impl Perf {
    pub(crate) fn start(stack: &Stack, bench: &str) -> Perf {
        let Ok(dir) = std::env::var("BENCH_PERF") else { return Perf(None) };
        let _ = std::fs::create_dir_all(&dir);
        let mut pids = vec![stack.scheduler.pid(), stack.cluster.master.pid()];
        pids.extend(stack.cluster.agents.iter().map(|a| a.proc.pid()));
        let pids: Vec<String> = pids.iter().map(i32::to_string).collect();
        // Which process is which (`perf report --pid`): scheduler, master, agents.
        let _ = std::fs::write(Path::new(&dir).join(format!("{bench}.pids")), pids.join("\n"));
        let out = Path::new(&dir).join(format!("{bench}.perf.data"));
        let child = Command::new("perf")
            .args(["record", "-F", "499", "--call-graph", "dwarf,16384", "-o"])
            .arg(&out)
            .args(["-p", &pids.join(",")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok();
        // perf needs a moment to attach.
        std::thread::sleep(Duration::from_millis(500));
        Perf(child)
    }

    pub(crate) fn stop(mut self) {
        if let Some(child) = &mut self.0 {
            let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
            let _ = child.wait();
        }
    }
}

pub(crate) fn spawn(args: &[&str], log: &Path, rust_log: &str, env: &[(String, String)]) -> Proc {
    let out = std::fs::File::create(log).expect("log file");
    let err = out.try_clone().expect("log file");
    let child = Command::new(BIN)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", rust_log)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("spawn marathon");
    Proc { child, log: log.to_path_buf() }
}

pub(crate) async fn wait_http(http: &reqwest::Client, url: &str) {
    eventually(Duration::from_secs(20), url, || async {
        http.get(url).send().await.ok().filter(|r| r.status().is_success()).map(|_| ())
    })
    .await;
}

pub(crate) fn app(id: &str, instances: usize) -> Value {
    json!({
        "id": id,
        "cmd": "sleep 600",
        "cpus": 0.001,
        "mem": 1,
        "instances": instances,
        "portDefinitions": [],
    })
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/// The first number after `"key":` in a JSON body (the app's own counts come before its tasks,
/// which have no such keys), without parsing the whole body.
pub(crate) fn field(body: &[u8], key: &str) -> Option<u64> {
    let pattern = format!("\"{key}\":");
    let at = body.windows(pattern.len()).position(|w| w == pattern.as_bytes())? + pattern.len();
    let digits: String = body[at..]
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take_while(|b| b.is_ascii_digit())
        .map(|b| *b as char)
        .collect();
    digits.parse().ok()
}

pub(crate) fn log_field(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()
}

pub(crate) fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Unix seconds of a tracing line's leading `2026-11-25T10:11:12.123456Z`.
pub(crate) fn log_time(line: &str) -> Option<f64> {
    let stamp = line.split_whitespace().next()?.strip_suffix('Z')?;
    let (date, time) = stamp.split_once('T')?;
    let mut ymd = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (ymd.next()??, ymd.next()??, ymd.next()??);
    let mut hms = time.split(':');
    let (h, min) = (hms.next()?.parse::<f64>().ok()?, hms.next()?.parse::<f64>().ok()?);
    let s = hms.next()?.parse::<f64>().ok()?;
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as f64 * 86_400.0 + h * 3600.0 + min * 60.0 + s)
}

pub(crate) fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

/// CPU used on this machine by processes other than this benchmark and its descendants (the
/// stack, its tasks), between [`Noise::start`] and [`Noise::other_cpu_secs`]: other work on a
/// shared machine makes a run unrepresentative, so every result reports it.
pub(crate) struct Noise {
    pub(crate) busy: f64,
    pub(crate) ours: std::collections::HashMap<i32, f64>,
}

impl Noise {
    pub(crate) fn start() -> Noise {
        Noise { busy: machine_busy_secs(), ours: descendants_cpu() }
    }

    pub(crate) fn other_cpu_secs(&self) -> f64 {
        let busy = machine_busy_secs() - self.busy;
        let ours: f64 =
            descendants_cpu().iter().map(|(pid, cpu)| cpu - self.ours.get(pid).copied().unwrap_or(0.0)).sum();
        round((busy - ours).max(0.0))
    }
}

/// Busy CPU seconds of the whole machine since boot (`/proc/stat`, ticks of 1/100 s).
pub(crate) fn machine_busy_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> =
        stat.lines().next().unwrap_or_default().split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let idle = ticks.get(3).copied().unwrap_or(0.0) + ticks.get(4).copied().unwrap_or(0.0);
    (ticks.iter().take(8).sum::<f64>() - idle) / 100.0
}

/// CPU seconds of this process and every live descendant, by pid.
pub(crate) fn descendants_cpu() -> std::collections::HashMap<i32, f64> {
    let mut parent = std::collections::HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let Some((_, rest)) = stat.rsplit_once(')') else { continue };
        if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|p| p.parse::<i32>().ok()) {
            parent.insert(pid, ppid);
        }
    }
    let me = std::process::id() as i32;
    let ours = |mut pid: i32| {
        for _ in 0..64 {
            if pid == me {
                return true;
            }
            match parent.get(&pid) {
                Some(p) if *p > 1 => pid = *p,
                _ => return false,
            }
        }
        false
    };
    parent.keys().filter(|pid| ours(**pid)).map(|pid| (*pid, proc_cpu_secs(*pid))).collect()
}

/// User + system CPU seconds of a process (clock ticks of 1/100 s).
pub(crate) fn proc_cpu_secs(pid: i32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    let Some((_, rest)) = stat.rsplit_once(')') else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

pub(crate) fn cpu_delta(before: &[(&'static str, f64)], after: &[(&'static str, f64)]) -> Value {
    let mut out = serde_json::Map::new();
    for ((name, b), (_, a)) in before.iter().zip(after) {
        out.insert((*name).to_string(), json!(round(a - b)));
    }
    Value::Object(out)
}

pub(crate) fn status_kib(pid: i32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub(crate) fn rss_kib(pid: i32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

pub(crate) fn mib(kib: u64) -> f64 {
    round(kib as f64 / 1024.0)
}

pub(crate) fn ms(d: Duration) -> f64 {
    round(d.as_secs_f64() * 1000.0)
}

pub(crate) fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// p50, p99 (nearest rank), max and mean in milliseconds.
pub(crate) fn stats(samples: &mut [Duration]) -> Value {
    if samples.is_empty() {
        return Value::Null;
    }
    samples.sort_unstable();
    let rank = |p: f64| samples[((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1];
    let mean = samples.iter().map(Duration::as_secs_f64).sum::<f64>() / samples.len() as f64;
    json!({
        "n": samples.len(),
        "p50": ms(rank(0.50)),
        "p99": ms(rank(0.99)),
        "max": ms(samples[samples.len() - 1]),
        "mean": round(mean * 1000.0),
    })
}
