//! Dropwizard's timer and meter, for Marathon's `/metrics` JSON: a meter's rates are
//! exponentially weighted moving averages over 1, 5 and 15 minutes, ticked every 5 seconds (here
//! lazily, when marked or read); a timer is a meter and a reservoir of the last
//! [`RESERVOIR`] durations, whose quantiles, mean, minimum, maximum and standard deviation its
//! snapshot shows (Dropwizard's sliding-window reservoir, in seconds as Marathon reports them).

use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Durations a timer keeps for its quantiles (Dropwizard's default reservoir size).
pub(crate) const RESERVOIR: usize = 1028;
/// How often the moving averages move.
const TICK: Duration = Duration::from_secs(5);
/// Ticks caught up at most at once: after an hour without events every average is ~0 anyway.
const MAX_CATCH_UP: u64 = 720;
/// The windows of the moving averages, in minutes (`m1_rate`, `m5_rate`, `m15_rate`).
const WINDOWS_MIN: [f64; 3] = [1.0, 5.0, 15.0];

#[derive(Debug)]
struct MeterState {
    count: u64,
    uncounted: u64,
    /// Events per second.
    rates: [f64; 3],
    initialized: bool,
    last_tick: Instant,
}

/// Counts events and their rates.
#[derive(Debug)]
pub(crate) struct Meter {
    started: Instant,
    state: Mutex<MeterState>,
}

impl Default for Meter {
    fn default() -> Self {
        let now = Instant::now();
        Self {
            started: now,
            state: Mutex::new(MeterState {
                count: 0,
                uncounted: 0,
                rates: [0.0; 3],
                initialized: false,
                last_tick: now,
            }),
        }
    }
}

impl MeterState {
    fn catch_up(&mut self, now: Instant) {
        let ticks = (now.saturating_duration_since(self.last_tick).as_nanos() / TICK.as_nanos()) as u64;
        if ticks == 0 {
            return;
        }
        for _ in 0..ticks.min(MAX_CATCH_UP) {
            let instant = self.uncounted as f64 / TICK.as_secs_f64();
            self.uncounted = 0;
            for (rate, minutes) in self.rates.iter_mut().zip(WINDOWS_MIN) {
                if self.initialized {
                    let alpha = 1.0 - (-TICK.as_secs_f64() / 60.0 / minutes).exp();
                    *rate += alpha * (instant - *rate);
                } else {
                    *rate = instant;
                }
            }
            self.initialized = true;
        }
        if ticks > MAX_CATCH_UP {
            self.rates = [0.0; 3];
        }
        self.last_tick += TICK * u32::try_from(ticks).unwrap_or(u32::MAX);
    }
}

impl Meter {
    pub(crate) fn mark(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.catch_up(Instant::now());
        state.count += 1;
        state.uncounted += 1;
    }

    pub(crate) fn count(&self) -> u64 {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).count
    }

    /// `count`, the moving averages and the mean rate (per second).
    fn rates(&self) -> (u64, [f64; 3], f64) {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.catch_up(now);
        let elapsed = now.saturating_duration_since(self.started).as_secs_f64();
        let mean = if state.count == 0 || elapsed <= 0.0 { 0.0 } else { state.count as f64 / elapsed };
        (state.count, state.rates, mean)
    }

    /// The meter in Dropwizard's JSON.
    pub(crate) fn json(&self) -> Value {
        let (count, [m1, m5, m15], mean) = self.rates();
        json!({ "count": count, "m15_rate": m15, "m1_rate": m1, "m5_rate": m5, "mean_rate": mean, "units": "events/second" })
    }
}

/// Times events: a meter and a reservoir of durations.
#[derive(Debug, Default)]
pub(crate) struct Timer {
    meter: Meter,
    /// The last [`RESERVOIR`] durations, in seconds.
    reservoir: Mutex<VecDeque<f64>>,
}

impl Timer {
    pub(crate) fn update(&self, elapsed: Duration) {
        {
            let mut reservoir = self.reservoir.lock().unwrap_or_else(|e| e.into_inner());
            if reservoir.len() == RESERVOIR {
                reservoir.pop_front();
            }
            reservoir.push_back(elapsed.as_secs_f64());
        }
        self.meter.mark();
    }

    pub(crate) fn count(&self) -> u64 {
        self.meter.count()
    }

    /// The timer in Dropwizard's JSON (durations in seconds).
    pub(crate) fn json(&self) -> Value {
        let mut values: Vec<f64> = self.reservoir.lock().unwrap_or_else(|e| e.into_inner()).iter().copied().collect();
        values.sort_by(f64::total_cmp);
        let (count, [m1, m5, m15], mean_rate) = self.meter.rates();
        let n = values.len() as f64;
        let mean = if values.is_empty() { 0.0 } else { values.iter().sum::<f64>() / n };
        let stddev = if values.len() < 2 {
            0.0
        } else {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        };
        json!({
            "count": count,
            "max": values.last().copied().unwrap_or(0.0),
            "mean": mean,
            "min": values.first().copied().unwrap_or(0.0),
            "p50": quantile(&values, 0.5),
            "p75": quantile(&values, 0.75),
            "p95": quantile(&values, 0.95),
            "p98": quantile(&values, 0.98),
            "p99": quantile(&values, 0.99),
            "p999": quantile(&values, 0.999),
            "stddev": stddev,
            "m15_rate": m15,
            "m1_rate": m1,
            "m5_rate": m5,
            "mean_rate": mean_rate,
            "duration_units": "seconds",
            "rate_units": "calls/second",
        })
    }
}

/// The `q` quantile of sorted `values`, interpolated as Dropwizard's snapshots do.
fn quantile(values: &[f64], q: f64) -> f64 {
    let Some(&last) = values.last() else { return 0.0 };
    let pos = q * (values.len() as f64 + 1.0);
    if pos < 1.0 {
        return values[0];
    }
    if pos >= values.len() as f64 {
        return last;
    }
    let index = pos.floor() as usize;
    let (lower, upper) = (values[index - 1], values[index]);
    lower + (pos - pos.floor()) * (upper - lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&values, 0.5), 50.5);
        assert_eq!(quantile(&values, 0.999), 100.0);
        assert_eq!(quantile(&values, 0.001), 1.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }

    #[test]
    fn timer_snapshot() {
        let timer = Timer::default();
        for ms in [10, 20, 30] {
            timer.update(Duration::from_millis(ms));
        }
        let json = timer.json();
        assert_eq!(json["count"], 3);
        assert_eq!(json["min"], 0.01);
        assert_eq!(json["max"], 0.03);
        assert!((json["mean"].as_f64().unwrap_or_default() - 0.02).abs() < 1e-9, "{json}");
        assert!(json["mean_rate"].as_f64().unwrap_or_default() > 0.0, "{json}");
        assert_eq!(json["duration_units"], "seconds");
    }

    /// The first tick sets the averages to the tick's rate; later ticks without events decay them.
    #[test]
    fn meter_rates_decay() {
        let started = Instant::now();
        let mut state =
            MeterState { count: 10, uncounted: 10, rates: [0.0; 3], initialized: false, last_tick: started };
        state.catch_up(started + TICK);
        assert_eq!(state.rates, [2.0; 3]);
        state.catch_up(started + TICK * 13);
        assert!(state.rates[0] < 0.8 && state.rates[0] > 0.6, "{:?}", state.rates);
        assert!(state.rates[2] > state.rates[1] && state.rates[1] > state.rates[0], "{:?}", state.rates);
    }
}
