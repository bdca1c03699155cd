//! Event fan-out: many `GET /v2/events` subscribers on one Marathon while 1,000 tasks change
//! state, next to the same run with one subscriber (the floor).
//!
//! ```text
//! cargo bench -p marathon --bench events -- [subscribers=100] [tasks=1000]
//! ```
//!
//! Every component is its own process (release build): `marathon master`, hollow agents
//! (`marathon agent --hollow`: tasks are simulated, status updates are real) and `marathon
//! scheduler`, in a temp dir with free ports; all are killed at the end. The subscribers are
//! SSE connections of this process, on a tokio runtime of their own (2 worker threads). They
//! stand for clients on other machines, so they are kept cheap: each reads its response body
//! into one buffer, noting the time of every read, and only looks for the phase markers while
//! the run lasts; the events are parsed after the run.
//!
//! Phases, each ended by a marker (an `api_post_event` of a new empty app that every subscriber
//! must see):
//! 1. `idle`: 20 empty apps posted 50 ms apart (the delay when nothing else happens);
//! 2. `launch`: one app of `tasks` instances (no ports) goes from nothing to running
//!    (STAGING/STARTING/RUNNING updates, instance changes, deployment events);
//! 3. `restart`: `POST /v2/apps/{id}/restart` replaces every task (kills and launches).
//!
//! Checks: every subscriber receives the same events in the same order (count and hash of the
//! data lines per phase), with one `TASK_RUNNING` per task. Measured: delay from each event's
//! `timestamp` (the scheduler's wall clock when it made the event, in milliseconds) to the
//! moment the chunk carrying it was read here (same machine, same clock). Because timestamps
//! are truncated to the millisecond, delays carry up to +1 ms of rounding. The headline
//! `delay_ms_launch_and_restart` covers the two loaded phases. The floor run (one subscriber)
//! also has the scheduler log each event's lag when published and when its SSE frame is
//! written (`scheduler_lag_ms`), which splits the delay.
//!
//! Settings (environment): `BENCH_SUBSCRIBERS` (100), `BENCH_TASKS` (1000),
//! `BENCH_HOLLOW_AGENTS` (2), `BENCH_FLOOR` (1: also run with one subscriber first; 0: skip),
//! `BENCH_ALLOCATION_INTERVAL` (`200ms`), `BENCH_SCHEDULER_FLAGS` (extra scheduler flags),
//! `BENCH_TIMEOUT_SECS` (300), `BENCH_LOGS` (a directory to copy the components' logs to),
//! `BENCH_REAL_TASKS` (real agents running real processes instead of hollow agents),
//! `BENCH_TIMELINE` (print, per 20 ms of event timestamps, how many events were made and how
//! late the slowest subscriber got them), `BENCH_TRACE_PUBLISH` (split the delay at the bus with
//! many subscribers too: `scheduler_lag_ms.to_published`).

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hasher};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PHASES: [&str; 3] = ["idle", "launch", "restart"];
/// Apps created one by one in the `idle` phase.
const IDLE_POSTS: usize = 20;
const APP: &str = "/bench/fanout";

fn main() {
    let settings = Settings::load();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    // The subscribers have a runtime of their own, so that the control part's requests (and
    // their JSON) never hold up a stream's reading and its clock reading.
    let streams = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("subscriber")
        .enable_all()
        .build()
        .expect("runtime");
    if settings.floor && settings.subscribers > 1 {
        println!("{}", runtime.block_on(run(1, &settings, true, streams.handle())));
    }
    // With many subscribers only the publication is traced (a line per event, not per delivery).
    let trace = settings.subscribers == 1 || std::env::var_os("BENCH_TRACE_PUBLISH").is_some();
    println!("{}", runtime.block_on(run(settings.subscribers, &settings, trace, streams.handle())));
}

struct Settings {
    subscribers: usize,
    tasks: usize,
    hollow_agents: usize,
    floor: bool,
    allocation_interval: String,
    scheduler_flags: Vec<String>,
    timeout: Duration,
}

impl Settings {
    fn load() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
        let arg = |name: &str| args.iter().find_map(|a| a.strip_prefix(&format!("{name}=")).map(str::to_string));
        let num = |name: &str, env: &str, default: u64| {
            arg(name).or_else(|| var(env)).and_then(|v| v.trim().parse().ok()).unwrap_or(default)
        };
        Settings {
            subscribers: num("subscribers", "BENCH_SUBSCRIBERS", 100) as usize,
            tasks: num("tasks", "BENCH_TASKS", 1000) as usize,
            hollow_agents: num("agents", "BENCH_HOLLOW_AGENTS", 2).max(1) as usize,
            floor: num("floor", "BENCH_FLOOR", 1) != 0,
            allocation_interval: var("BENCH_ALLOCATION_INTERVAL").unwrap_or_else(|| "200ms".to_string()),
            scheduler_flags: var("BENCH_SCHEDULER_FLAGS")
                .map(|v| v.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
            timeout: Duration::from_secs(num("timeout", "BENCH_TIMEOUT_SECS", 300)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The subscribers

/// What one subscriber saw in one phase.
#[derive(Debug, Default, Clone)]
struct PhaseRecord {
    events: usize,
    /// `status_update_event`s with `TASK_RUNNING`.
    running: usize,
    /// Hash of every data line in order.
    hash: u64,
    /// Chunks (reads) that carried at least one event of the phase.
    chunks: usize,
    /// Bytes of the data lines.
    bytes: usize,
    /// Timestamp-to-delivery delay of each event, microseconds.
    delays_us: Vec<i64>,
    /// Each event's timestamp (ms since the epoch), in the order of `delays_us`.
    stamps_ms: Vec<i64>,
    by_type: BTreeMap<String, usize>,
}

/// A subscriber's stream parsed after the run: its events per phase.
#[derive(Debug, Default)]
struct SubscriberState {
    /// Index into `records`: 0 before the start marker, then one per phase.
    phase: usize,
    records: Vec<PhaseRecord>,
}

/// What a subscriber's task shares while it runs: only what the run waits for.
#[derive(Debug, Default)]
struct Progress {
    /// End markers seen so far (as `SubscriberState::phase`).
    phase: AtomicUsize,
    attached: AtomicBool,
    /// Why the stream ended early, if it did.
    ended: Mutex<Option<String>>,
}

/// Everything a subscriber read, as it arrived: the response body (chunked framing included)
/// and, for each socket read, where it ended in `body` and when it was read.
#[derive(Debug, Default)]
struct Capture {
    body: Vec<u8>,
    len: usize,
    reads: Vec<(usize, i64)>,
}

impl Capture {
    /// The stream's events per phase, each with the time of the read that carried it.
    fn parse(&self) -> Result<SubscriberState, String> {
        let mut state =
            SubscriberState { records: vec![PhaseRecord::default(); PHASES.len() + 2], ..SubscriberState::default() };
        let mut reader = Reader::default();
        let mut chunked = Chunked::default();
        let mut from = 0;
        for &(to, received_us) in &self.reads {
            reader.new_read();
            chunked.feed(&self.body[from..to], |payload| reader.read(payload, received_us, &mut state))?;
            from = to;
        }
        Ok(state)
    }
}

struct Subscriber {
    progress: Arc<Progress>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Capture>,
}

fn marker_id(phase: usize) -> String {
    format!("/bench/marker-{phase}")
}

impl Subscriber {
    fn start(runtime: &tokio::runtime::Handle, api: SocketAddr, capacity: usize) -> Subscriber {
        let progress = Arc::new(Progress::default());
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let shared = progress.clone();
        let task = runtime.spawn(async move {
            let mut capture = Capture::default();
            let ended = follow(api, &shared, &mut capture, capacity, stopped).await;
            if let Some(ended) = ended {
                *shared.ended.lock().expect("lock") = Some(ended);
            }
            capture
        });
        Subscriber { progress, stop: Some(stop), task }
    }

    /// Ends the stream and hands over what it read.
    async fn finish(mut self) -> Capture {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.unwrap_or_default()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads the stream into `capture` until it ends (returns why) or `stop` fires (`None`).
///
/// A plain HTTP/1.1 client (the request, the response head) that reads the body straight into
/// one pre-touched buffer and only looks for the phase markers while the run lasts; the events
/// are parsed afterwards ([`Capture::parse`]). The subscribers share the two cores with what
/// they measure: a general-purpose client and parsing as the bytes arrive cost them more CPU
/// than the scheduler spent on the fan-out.
async fn follow(
    api: SocketAddr,
    progress: &Progress,
    capture: &mut Capture,
    capacity: usize,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> Option<String> {
    let mut socket = match tokio::net::TcpStream::connect(api).await {
        Ok(socket) => socket,
        Err(e) => return Some(format!("connect: {e}")),
    };
    let _ = socket.set_nodelay(true);
    let request = format!("GET /v2/events HTTP/1.1\r\nHost: {api}\r\nAccept: text/event-stream\r\n\r\n");
    if let Err(e) = socket.write_all(request.as_bytes()).await {
        return Some(format!("write: {e}"));
    }
    let mut head = vec![0u8; 16 * 1024];
    let mut filled = 0;
    let body_start = loop {
        match socket.read(&mut head[filled..]).await {
            Ok(0) => return Some("closed before the response head".to_string()),
            Ok(n) => filled += n,
            Err(e) => return Some(format!("read: {e}")),
        }
        if let Some(end) = memchr::memmem::find(&head[..filled], b"\r\n\r\n") {
            let text = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
            if !text.starts_with("http/1.1 200") {
                return Some(format!("answered {}", text.lines().next().unwrap_or_default()));
            }
            if !text.lines().any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked")) {
                return Some("response is not chunked".to_string());
            }
            break end + 4;
        }
        if filled == head.len() {
            return Some("response head too large".to_string());
        }
    };
    // Touched now, so that page faults do not land in the measured phases.
    capture.body = vec![1u8; capacity.max(filled)];
    capture.body[..filled - body_start].copy_from_slice(&head[body_start..filled]);
    capture.len = filled - body_start;
    capture.reads.push((capture.len, unix_micros()));
    let attached = memchr::memmem::Finder::new(b"event: event_stream_attached");
    let marker_of = |phase: usize| format!("\"id\":\"{}\"", marker_id(phase)).into_bytes();
    let mut marker = marker_of(0);
    let mut searched = 0;
    loop {
        // Only what the run waits for is looked at now: the attach event and the next marker
        // (searching from a marker's length before the new bytes, in case a read split it).
        if !progress.attached.load(Ordering::Relaxed) && attached.find(&capture.body[..capture.len]).is_some() {
            progress.attached.store(true, Ordering::Relaxed);
        }
        while let Some(at) = memchr::memmem::find(&capture.body[searched..capture.len], &marker) {
            searched += at + marker.len();
            let phase = progress.phase.fetch_add(1, Ordering::Relaxed) + 1;
            marker = marker_of(phase);
        }
        searched = searched.max(capture.len.saturating_sub(marker.len()));
        if capture.len == capture.body.len() {
            let grown = capture.body.len() * 2;
            capture.body.resize(grown, 1);
        }
        let read = tokio::select! {
            read = socket.read(&mut capture.body[capture.len..]) => read,
            _ = &mut stop => return None,
        };
        match read {
            Ok(0) => return Some("stream closed".to_string()),
            Ok(n) => {
                capture.len += n;
                capture.reads.push((capture.len, unix_micros()));
            }
            Err(e) => return Some(format!("read: {e}")),
        }
    }
}

/// Decodes HTTP/1.1 chunked framing as bytes arrive, handing on the payload.
#[derive(Default)]
enum Chunked {
    /// In a chunk-size line (the hex digits so far).
    #[default]
    Size,
    SizeDigits(usize),
    /// In a size line's extension or its line end.
    SizeRest(usize),
    /// Payload bytes left in the current chunk.
    Data(usize),
    /// The CRLF after a chunk's payload: bytes left to skip.
    DataEnd(usize),
    /// The last chunk was read.
    Done,
}

impl Chunked {
    fn feed(&mut self, mut input: &[u8], mut payload: impl FnMut(&[u8])) -> Result<(), String> {
        while let Some(&byte) = input.first() {
            *self = match *self {
                Chunked::Size | Chunked::SizeDigits(_) if byte.is_ascii_hexdigit() => {
                    let so_far = if let Chunked::SizeDigits(n) = *self { n } else { 0 };
                    let digit = (byte as char).to_digit(16).unwrap_or(0) as usize;
                    input = &input[1..];
                    Chunked::SizeDigits(so_far.checked_mul(16).ok_or("chunk size overflows")? + digit)
                }
                Chunked::SizeDigits(n) | Chunked::SizeRest(n) => {
                    input = &input[1..];
                    match byte {
                        b'\n' if n == 0 => Chunked::Done,
                        b'\n' => Chunked::Data(n),
                        _ => Chunked::SizeRest(n),
                    }
                }
                Chunked::Size => return Err(format!("bad chunk size byte {byte:#x}")),
                Chunked::Data(left) => {
                    let take = left.min(input.len());
                    payload(&input[..take]);
                    input = &input[take..];
                    if take == left { Chunked::DataEnd(2) } else { Chunked::Data(left - take) }
                }
                Chunked::DataEnd(left) => {
                    input = &input[1..];
                    if left == 1 { Chunked::Size } else { Chunked::DataEnd(left - 1) }
                }
                Chunked::Done => return Err("data after the last chunk".to_string()),
            };
        }
        if matches!(self, Chunked::Done) { Err("stream finished".to_string()) } else { Ok(()) }
    }
}

/// A subscriber's parser, run over its capture after the run: whole lines are handled in turn,
/// a line split by chunk framing waits for its rest.
struct Reader {
    /// The start of a line whose end has not arrived yet.
    partial: Vec<u8>,
    event_type: Vec<u8>,
    timestamp: memchr::memmem::FinderRev<'static>,
    task_status: memchr::memmem::FinderRev<'static>,
    markers: Vec<Vec<u8>>,
    /// Whether the current socket read carried an event of the phase (counted in `chunks`).
    counted: bool,
}

impl Default for Reader {
    fn default() -> Self {
        Reader {
            partial: Vec::new(),
            event_type: Vec::new(),
            timestamp: memchr::memmem::FinderRev::new(TIMESTAMP_KEY).into_owned(),
            task_status: memchr::memmem::FinderRev::new(TASK_STATUS_KEY).into_owned(),
            markers: (0..=PHASES.len()).map(|p| format!("\"id\":\"{}\"", marker_id(p)).into_bytes()).collect(),
            counted: false,
        }
    }
}

const TIMESTAMP_KEY: &[u8] = b"\"timestamp\":\"";
const TASK_STATUS_KEY: &[u8] = b"\"taskStatus\":\"";

impl Reader {
    fn new_read(&mut self) {
        self.counted = false;
    }

    fn read(&mut self, chunk: &[u8], received_us: i64, state: &mut SubscriberState) {
        let mut rest = chunk;
        if !self.partial.is_empty() {
            let Some(end) = memchr::memchr(b'\n', rest) else {
                self.partial.extend_from_slice(rest);
                return;
            };
            let mut line = std::mem::take(&mut self.partial);
            line.extend_from_slice(&rest[..end]);
            rest = &rest[end + 1..];
            self.line(&line, received_us, state);
        }
        while let Some(end) = memchr::memchr(b'\n', rest) {
            self.line(&rest[..end], received_us, state);
            rest = &rest[end + 1..];
        }
        self.partial.extend_from_slice(rest);
    }

    fn line(&mut self, line: &[u8], received_us: i64, state: &mut SubscriberState) {
        if let Some(name) = line.strip_prefix(b"event: ") {
            self.event_type.clear();
            self.event_type.extend_from_slice(name);
            return;
        }
        let Some(data) = line.strip_prefix(b"data: ") else { return };
        if self.event_type == b"event_stream_attached" {
            return;
        }
        let phase = state.phase;
        let record = &mut state.records[phase];
        record.events += 1;
        record.bytes += data.len();
        if !self.counted {
            record.chunks += 1;
            self.counted = true;
        }
        let mut hasher = DefaultHasher::new();
        hasher.write_u64(record.hash);
        hasher.write(data);
        record.hash = hasher.finish();
        let event_type = std::str::from_utf8(&self.event_type).unwrap_or_default();
        match record.by_type.get_mut(event_type) {
            Some(count) => *count += 1,
            None => {
                record.by_type.insert(event_type.to_string(), 1);
            }
        }
        if event_type == "status_update_event"
            && field(data, &self.task_status, TASK_STATUS_KEY.len()) == Some(b"TASK_RUNNING".as_slice())
        {
            record.running += 1;
        }
        if let Some(at) = field(data, &self.timestamp, TIMESTAMP_KEY.len()).and_then(parse_millis) {
            record.delays_us.push(received_us - at * 1000);
            record.stamps_ms.push(at);
        }
        if event_type == "api_post_event"
            && self.markers.get(phase).is_some_and(|m| memchr::memmem::find(data, m).is_some())
        {
            state.phase += 1;
        }
    }
}

/// The string value after a key (`"name":"`, found by `finder`, `key_len` bytes) in one line
/// of compact JSON (the last occurrence: `timestamp` and `taskStatus` are top-level keys written
/// after the nested objects; no escapes in the values looked up here).
fn field<'a>(data: &'a [u8], finder: &memchr::memmem::FinderRev<'_>, key_len: usize) -> Option<&'a [u8]> {
    let start = finder.rfind(data)? + key_len;
    let len = memchr::memchr(b'"', &data[start..])?;
    Some(&data[start..start + len])
}

/// Milliseconds since the epoch of `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn parse_millis(text: &[u8]) -> Option<i64> {
    let num = |range: std::ops::Range<usize>| {
        text.get(range)?.iter().try_fold(0i64, |n, b| b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0')))
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss, ms) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..23)?);
    // Days from civil (proleptic Gregorian).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hh) * 60 + mm) * 60_000 + ss * 1000 + ms)
}

fn unix_micros() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// One run

/// With `trace`, the scheduler logs each event's lag when it is published and when its SSE
/// frame is written, which splits the delay into the scheduler's parts and the rest.
async fn run(subscribers: usize, settings: &Settings, trace: bool, streams: &tokio::runtime::Handle) -> Value {
    let load_before = loadavg();
    let stack = Stack::start(settings, trace).await;
    // Room for every byte a subscriber reads (about 5 KB per task), allocated and touched now.
    let capacity = settings.tasks * 5632 + (1 << 20);
    let subs: Vec<Subscriber> = (0..subscribers).map(|_| Subscriber::start(streams, stack.addr, capacity)).collect();
    let all_attached =
        wait_until(settings.timeout, || subs.iter().all(|s| s.progress.attached.load(Ordering::Relaxed))).await;
    assert!(all_attached, "not every subscriber attached");

    let n = settings.tasks;
    let cpu_start = stack.cpu_secs();
    stack.post(&json!({"id": marker_id(0), "cmd": "sleep 1", "instances": 0})).await;
    // Per phase, what the run saw; the streams are parsed when every phase is over.
    let mut measured = Vec::new();
    for (index, phase) in PHASES.iter().enumerate() {
        let record_index = index + 1;
        wait_phase(&subs, record_index, settings.timeout).await;
        let cpu_before = stack.cpu_secs();
        let log_from = stack.log_len();
        let start = Instant::now();
        match *phase {
            "idle" => {
                for i in 0..IDLE_POSTS {
                    stack.post(&json!({"id": format!("/bench/idle-{i}"), "cmd": "sleep 1", "instances": 0})).await;
                    // Paced: one change at a time on a quiet scheduler.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            "launch" => {
                let app = json!({"id": APP, "cmd": "sleep 100000", "cpus": 0.001, "mem": 1, "instances": n,
                    "portDefinitions": []});
                stack.post(&app).await;
            }
            _ => {
                let response = stack.http.post(format!("{}/v2/apps{APP}/restart", stack.api)).send().await;
                assert!(response.is_ok_and(|r| r.status().is_success()), "restart refused");
            }
        }
        let stable = *phase == "idle" || stack.wait_stable(n, settings.timeout).await;
        let changed_secs = start.elapsed().as_secs_f64();
        stack.post(&json!({"id": marker_id(record_index), "cmd": "sleep 1", "instances": 0})).await;
        let delivered = wait_phase(&subs, record_index + 1, settings.timeout).await;
        let cpu = cpu_delta(&cpu_before, &stack.cpu_secs());
        let lags = trace.then(|| stack.lags(log_from));
        measured.push((changed_secs, stable && delivered, cpu, lags));
    }
    let cpu_total = cpu_delta(&cpu_start, &stack.cpu_secs());
    let ended: Vec<String> = subs.iter().filter_map(|s| s.progress.ended.lock().expect("lock").clone()).collect();
    let mut parsed = Vec::new();
    for sub in subs {
        match sub.finish().await.parse() {
            Ok(state) => parsed.push(state),
            Err(e) => panic!("a subscriber's stream does not parse: {e}"),
        }
    }
    let mut phases = serde_json::Map::new();
    let mut all_delays: Vec<i64> = Vec::new();
    let mut ok = true;
    for (index, (phase, (changed_secs, finished, cpu, lags))) in PHASES.iter().zip(measured).enumerate() {
        let records: Vec<PhaseRecord> = parsed.iter_mut().map(|s| std::mem::take(&mut s.records[index + 1])).collect();
        let running = if *phase == "idle" { 0 } else { n };
        let mut result = summarize(&records, running, changed_secs, finished, &cpu);
        ok &= result["every_subscriber_got_every_event"] == true && result["timed_out"] == false;
        if let Some(lags) = lags {
            result["scheduler_lag_ms"] = lags;
        }
        if *phase != "idle" {
            all_delays.extend(records.iter().flat_map(|r| r.delays_us.iter().copied()));
        }
        phases.insert(phase.to_string(), result);
    }
    stack.teardown(&format!("events-{subscribers}"));
    json!({
        "bench": "event_fanout",
        "subscribers": subscribers,
        "tasks": n,
        "hollow_agents": settings.hollow_agents,
        "real_tasks": std::env::var_os("BENCH_REAL_TASKS").is_some(),
        "ok": ok && ended.is_empty(),
        "delay_ms_launch_and_restart": stats_us(&mut all_delays),
        "goal_p99_ms": 20,
        "phases": phases,
        "streams_ended_early": ended,
        "cpu_secs": cpu_total,
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
        "allocation_interval": settings.allocation_interval,
        "scheduler_flags": settings.scheduler_flags.join(" "),
    })
}

/// One phase's result over every subscriber.
fn summarize(records: &[PhaseRecord], tasks: usize, changed_secs: f64, finished: bool, cpu: &Value) -> Value {
    let first = records.first().cloned().unwrap_or_default();
    let same = records.iter().all(|r| r.events == first.events && r.hash == first.hash);
    let all_running = records.iter().all(|r| r.running >= tasks);
    let mut delays: Vec<i64> = records.iter().flat_map(|r| r.delays_us.iter().copied()).collect();
    // Per event, the slowest subscriber (events are in the same order everywhere).
    let mut slowest: Vec<i64> = (0..first.delays_us.len())
        .map(|i| records.iter().filter_map(|r| r.delays_us.get(i)).copied().max().unwrap_or(0))
        .collect();
    let counts: Vec<usize> = records.iter().map(|r| r.events).collect();
    if std::env::var_os("BENCH_TIMELINE").is_some() {
        print_timeline(&first.stamps_ms, &slowest);
    }
    json!({
        "events_per_subscriber": first.events,
        "chunks_per_subscriber": records.iter().map(|r| r.chunks).sum::<usize>() / records.len().max(1),
        "min_events": counts.iter().min(),
        "max_events": counts.iter().max(),
        "deliveries": delays.len(),
        "data_bytes_per_subscriber": first.bytes,
        "task_running_updates": first.running,
        "every_subscriber_got_every_event": same && all_running,
        "timed_out": !finished,
        "changed_secs": round(changed_secs),
        "events_per_sec": round(first.events as f64 / changed_secs.max(0.001)),
        "delay_ms": stats_us(&mut delays),
        "slowest_subscriber_delay_ms": stats_us(&mut slowest),
        "by_type": first.by_type,
        "cpu_secs": cpu,
    })
}

/// Per 20 ms of event timestamps: how many events were made, and the slowest subscriber's
/// median and largest delay for them (stderr).
fn print_timeline(stamps_ms: &[i64], slowest_us: &[i64]) {
    let Some(&start) = stamps_ms.iter().min() else { return };
    let mut buckets: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (stamp, delay) in stamps_ms.iter().zip(slowest_us) {
        buckets.entry((stamp - start) / 20).or_default().push(*delay);
    }
    for (bucket, mut delays) in buckets {
        delays.sort_unstable();
        eprintln!(
            "  +{:5} ms {:5} events  slowest p50 {:7.1} ms  max {:7.1} ms",
            bucket * 20,
            delays.len(),
            delays[delays.len() / 2] as f64 / 1000.0,
            delays[delays.len() - 1] as f64 / 1000.0
        );
    }
}

fn stats_us(values: &mut [i64]) -> Value {
    if values.is_empty() {
        return Value::Null;
    }
    values.sort_unstable();
    let at = |q: f64| values[((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1] as f64 / 1000.0;
    let mean = values.iter().sum::<i64>() as f64 / values.len() as f64 / 1000.0;
    json!({"p50": round(at(0.5)), "p90": round(at(0.9)), "p99": round(at(0.99)), "max": round(at(1.0)),
        "mean": round(mean), "n": values.len()})
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Waits until every subscriber is past phase `index - 1` (saw its end marker); `false` on
/// timeout or if a stream ended.
async fn wait_phase(subs: &[Subscriber], index: usize, timeout: Duration) -> bool {
    let ended = |s: &Subscriber| s.progress.ended.lock().expect("lock").is_some();
    wait_until(timeout, || subs.iter().all(|s| s.progress.phase.load(Ordering::Relaxed) >= index || ended(s))).await
        && !subs.iter().any(ended)
}

async fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

// ---------------------------------------------------------------------------------------------
// The processes

/// A master, hollow agents and a scheduler. The [`Cluster`] of the tests owns the master, the
/// agents and the temp dir, and kills them when dropped.
struct Stack {
    cluster: Cluster,
    scheduler: Proc,
    api: String,
    /// The REST API's address (the subscribers connect to it).
    addr: SocketAddr,
    http: reqwest::Client,
}

impl Stack {
    async fn start(settings: &Settings, trace: bool) -> Stack {
        let dir = tempfile::tempdir().expect("tempdir");
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client");
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
        );
        wait_http(&http, &format!("http://127.0.0.1:{master_port}/health")).await;
        let mut cluster = Cluster {
            dir,
            master,
            master_port,
            master_args: Vec::new(),
            master_starts: 1,
            agents: Vec::new(),
            cgroups_root: unique("marathon-bench-events"),
            http: http.clone(),
            state_auth: None,
        };
        for i in 0..settings.hollow_agents {
            let port = free_port();
            let work_dir = cluster.dir.path().join(format!("agent{i}"));
            let args: Vec<String> = [
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
                "cpus:8;mem:32768;disk:65536;ports:[31000-32000]",
            ]
            .iter()
            .map(|s| s.to_string())
            .chain(std::env::var_os("BENCH_REAL_TASKS").is_none().then(|| "--hollow".to_string()))
            .collect();
            let args_ref: Vec<&str> = args.iter().map(String::as_str).collect();
            let proc = spawn(&args_ref, &cluster.dir.path().join(format!("agent{i}.log")), "info");
            wait_http(&http, &format!("http://127.0.0.1:{port}/health")).await;
            cluster.agents.push(Agent { proc, port, work_dir, args });
        }
        let count = settings.hollow_agents;
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
            "--min_revive_offers_interval",
            "0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(settings.scheduler_flags.iter().cloned());
        let args_ref: Vec<&str> = args.iter().map(String::as_str).collect();
        let rust_log = match (trace, settings.subscribers) {
            (false, _) => "info",
            (true, 1) => "info,scheduler::events=trace,scheduler::api::events=trace",
            (true, _) => "info,scheduler::events=trace",
        };
        let scheduler = spawn(&args_ref, &cluster.dir.path().join("scheduler.log"), rust_log);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let stack = Stack { cluster, scheduler, api: format!("http://{addr}"), addr, http };
        eventually(Duration::from_secs(30), "Marathon subscribed", || async {
            let body = stack.http.get(format!("{}/metrics", stack.api)).send().await.ok()?.bytes().await.ok()?;
            let metrics: Value = serde_json::from_slice(&body).ok()?;
            (metrics["gauges"]["marathon.mesos.connected.gauge"]["value"] == 1).then_some(())
        })
        .await;
        stack
    }

    async fn post(&self, app: &Value) {
        let response = self.http.post(format!("{}/v2/apps", self.api)).json(app).send().await.expect("POST /v2/apps");
        assert_eq!(response.status().as_u16(), 201, "POST {app}");
    }

    /// Waits until `n` instances run and no deployment is left; `false` on timeout. Polls
    /// `/metrics` and `/v2/deployments`, which cost the scheduler little (rendering 1,000 tasks
    /// every poll would add to the very delays measured).
    async fn wait_stable(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let get = |path: &'static str| async move {
                match self.http.get(format!("{}{path}", self.api)).send().await {
                    Ok(r) => r.json::<Value>().await.unwrap_or(Value::Null),
                    Err(_) => Value::Null,
                }
            };
            let metrics = get("/metrics").await;
            let running = metrics["gauges"]["marathon.instances.running.gauge"]["value"].as_u64().unwrap_or(0) as usize;
            if running == n && get("/v2/deployments").await == json!([]) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_len(&self) -> usize {
        std::fs::metadata(&self.scheduler.log).map(|m| m.len() as usize).unwrap_or(0)
    }

    /// The scheduler's trace lines since `from` (a log offset): event timestamp to publication
    /// on the bus, and to the SSE frame handed to the connection.
    fn lags(&self, from: usize) -> Value {
        let text = std::fs::read(&self.scheduler.log).unwrap_or_default();
        let text = String::from_utf8_lossy(text.get(from..).unwrap_or_default());
        let lags = |message: &str| -> Vec<i64> {
            text.lines()
                .filter(|l| l.contains(message))
                .filter_map(|l| l.split("lag_us=").nth(1)?.split_whitespace().next()?.parse().ok())
                .collect()
        };
        json!({
            "to_published": stats_us(&mut lags("event published")),
            "to_sse_frame": stats_us(&mut lags("event sent")),
        })
    }

    fn cpu_secs(&self) -> Vec<(&'static str, f64)> {
        let agents: f64 = self.cluster.agents.iter().map(|a| proc_cpu_secs(a.proc.pid())).sum();
        vec![
            ("scheduler", proc_cpu_secs(self.scheduler.pid())),
            ("master", proc_cpu_secs(self.cluster.master.pid())),
            ("agents", agents),
            ("subscribers", proc_cpu_secs(std::process::id() as i32)),
        ]
    }

    fn teardown(mut self, name: &str) {
        self.scheduler.kill();
        if let Ok(dir) = std::env::var("BENCH_LOGS") {
            let to = Path::new(&dir).join(name);
            let _ = std::fs::create_dir_all(&to);
            for entry in std::fs::read_dir(self.cluster.dir.path()).into_iter().flatten().flatten() {
                if entry.path().extension().is_some_and(|e| e == "log") {
                    let _ = std::fs::copy(entry.path(), to.join(entry.file_name()));
                }
            }
        }
        self.cluster.teardown();
    }
}

/// The 1, 5 and 15 minute load averages (other work on the machine skews the delays).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn cpu_delta(before: &[(&'static str, f64)], after: &[(&'static str, f64)]) -> Value {
    let map: serde_json::Map<String, Value> =
        before.iter().zip(after).map(|((name, b), (_, a))| (name.to_string(), json!(round(a - b)))).collect();
    Value::Object(map)
}

/// CPU seconds (user + system) a process used so far.
fn proc_cpu_secs(pid: i32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 (1-based), 11 and 12 here; 100 ticks per second.
    (ticks(11) + ticks(12)) / 100.0
}

async fn wait_http(http: &reqwest::Client, url: &str) {
    eventually(Duration::from_secs(20), url, || async {
        http.get(url).send().await.ok().filter(|r| r.status().is_success()).map(|_| ())
    })
    .await;
}

fn spawn(args: &[&str], log: &Path, rust_log: &str) -> Proc {
    let out = std::fs::File::create(log).expect("log file");
    let err = out.try_clone().expect("log file");
    let child = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", rust_log)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("spawn marathon");
    Proc { child, log: log.to_path_buf() }
}
