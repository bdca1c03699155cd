//! Launch backoff: how long an app's scheduled instances wait before they may use an offer.
//!
//! Delays are keyed by app id and `last_config_change_at`, so scaling keeps a delay and a config
//! change starts afresh. A failure is the end of a wanted task as Failed, Finished, Error or
//! Gone, or as Killed for failing its health checks (upstream does not count those, which lets a
//! task that fails its checks at once be relaunched in a tight loop); a Dropped task was never
//! launched and does not count (upstream counts it). Marathon's rules:
//! - first failure: `delay = min(backoff, max_launch_delay)`, `reference = now`;
//! - each further failure: `delay = min(max_launch_delay, delay * factor)`, `reference = now`;
//! - Staging/Starting/Running move `reference` to now without changing the delay;
//! - launches wait until `reference + delay`;
//! - an entry is forgotten once `now > reference + max_launch_delay`, on reset (API), on a
//!   config change and when the app is deleted.

use super::run_spec::{AppId, BackoffStrategy};
use super::time::Timestamp;
use std::collections::BTreeMap;
use std::time::Duration;

/// The backoff state of one app version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaunchDelay {
    /// The current delay.
    pub delay: Duration,
    /// The monotonic time the delay counts from.
    pub reference: Duration,
    /// Forget the entry after `reference + max_launch_delay`.
    pub max_launch_delay: Duration,
}

impl LaunchDelay {
    /// Launches may happen from here on.
    pub fn launch_not_before(&self) -> Duration {
        self.reference + self.delay
    }

    fn expired(&self, now: Duration) -> bool {
        now > self.reference + self.max_launch_delay
    }
}

/// Delays by app and config (`last_config_change_at`). Nested by app, so that a lookup borrows
/// the app id: every step asks for the delays of the apps with instances waiting.
#[derive(Debug, Clone, Default)]
pub(crate) struct LaunchDelays {
    entries: BTreeMap<AppId, BTreeMap<Timestamp, LaunchDelay>>,
}

impl LaunchDelays {
    /// A task of the app version ended in a failure.
    pub(crate) fn on_failure(&mut self, app: &AppId, config: Timestamp, strategy: &BackoffStrategy, now: Duration) {
        let max = strategy.max_launch_delay;
        let delay = match self.get(app, config, now) {
            Some(entry) => scale(entry.delay, strategy.factor).min(max),
            None => strategy.backoff.min(max),
        };
        let entry = LaunchDelay { delay, reference: now, max_launch_delay: max };
        self.entries.entry(app.clone()).or_default().insert(config, entry);
    }

    /// A task of the app version made progress (staging, starting, running).
    pub(crate) fn on_progress(&mut self, app: &AppId, config: Timestamp, now: Duration) {
        let Some(configs) = self.entries.get_mut(app) else { return };
        if let Some(entry) = configs.get_mut(&config) {
            if entry.expired(now) {
                configs.remove(&config);
            } else {
                entry.reference = now;
            }
        }
        if configs.is_empty() {
            self.entries.remove(app);
        }
    }

    /// Forgets every delay of `app`.
    pub(crate) fn reset(&mut self, app: &AppId) {
        self.entries.remove(app);
    }

    /// The active delay of the app version, if any.
    pub(crate) fn get(&self, app: &AppId, config: Timestamp, now: Duration) -> Option<&LaunchDelay> {
        self.entries.get(app)?.get(&config).filter(|entry| !entry.expired(now))
    }

    /// Whether launches of the app version must still wait at `now`.
    pub(crate) fn is_delayed(&self, app: &AppId, config: Timestamp, now: Duration) -> bool {
        self.get(app, config, now).is_some_and(|entry| entry.launch_not_before() > now)
    }

    /// The delays that hold launches back at `now`: app, config and delay.
    pub(crate) fn waiting(&self, now: Duration) -> impl Iterator<Item = (&AppId, Timestamp, &LaunchDelay)> {
        self.entries
            .iter()
            .flat_map(|(app, configs)| configs.iter().map(move |(config, entry)| (app, *config, entry)))
            .filter(move |(_, _, entry)| !entry.expired(now) && entry.launch_not_before() > now)
    }

    /// Drops expired entries.
    pub(crate) fn cleanup(&mut self, now: Duration) {
        self.entries.retain(|_, configs| {
            configs.retain(|_, entry| !entry.expired(now));
            !configs.is_empty()
        });
    }
}

/// `delay * factor`, rounded to whole nanoseconds so that the series is exact in milliseconds
/// (1 s, 1.15 s, 1.3225 s, ...).
fn scale(delay: Duration, factor: f64) -> Duration {
    let nanos = (delay.as_nanos() as f64 * factor).round();
    if nanos >= u64::MAX as f64 { Duration::MAX } else { Duration::from_nanos(nanos as u64) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    const CONFIG: Timestamp = Timestamp::from_millis(1);

    fn app() -> AppId {
        AppId::new("/a")
    }

    #[test]
    fn delays_grow_by_the_factor_up_to_the_cap() {
        let strategy = BackoffStrategy::default();
        let mut delays = LaunchDelays::default();
        let mut now = Duration::from_secs(1000);
        let mut seen = Vec::new();
        for _ in 0..60 {
            delays.on_failure(&app(), CONFIG, &strategy, now);
            let entry = *delays.get(&app(), CONFIG, now).expect("entry");
            assert_eq!(entry.reference, now);
            seen.push(entry.delay);
            now += Duration::from_millis(10);
        }
        assert_eq!(seen[0], SEC);
        assert_eq!(seen[1], Duration::from_millis(1150));
        assert_eq!(seen[2], Duration::from_nanos(1_322_500_000));
        assert_eq!(seen[3], Duration::from_nanos(1_520_875_000));
        assert_eq!(seen[59], Duration::from_secs(300));
        let first_capped = seen.iter().position(|d| *d == Duration::from_secs(300)).expect("capped");
        assert_eq!(first_capped, 41);
    }

    #[test]
    fn progress_moves_the_reference_and_expiry_forgets() {
        let strategy = BackoffStrategy::default();
        let mut delays = LaunchDelays::default();
        delays.on_failure(&app(), CONFIG, &strategy, 10 * SEC);
        assert!(delays.is_delayed(&app(), CONFIG, 10 * SEC));
        assert!(!delays.is_delayed(&app(), CONFIG, 11 * SEC));
        delays.on_progress(&app(), CONFIG, 20 * SEC);
        assert!(delays.is_delayed(&app(), CONFIG, 20 * SEC));
        assert_eq!(delays.get(&app(), CONFIG, 20 * SEC).map(|e| e.launch_not_before()), Some(21 * SEC));
        // 300 s after the reference the entry is gone, and the next failure starts over.
        assert!(delays.get(&app(), CONFIG, 321 * SEC).is_none());
        delays.on_failure(&app(), CONFIG, &strategy, 321 * SEC);
        assert_eq!(delays.get(&app(), CONFIG, 321 * SEC).map(|e| e.delay), Some(SEC));
        delays.reset(&AppId::new("/a"));
        assert!(delays.get(&app(), CONFIG, 321 * SEC).is_none());
    }

    #[test]
    fn the_cap_also_bounds_the_first_delay() {
        let strategy = BackoffStrategy { backoff: 10 * SEC, factor: 2.0, max_launch_delay: 4 * SEC };
        let mut delays = LaunchDelays::default();
        delays.on_failure(&app(), CONFIG, &strategy, SEC);
        assert_eq!(delays.get(&app(), CONFIG, SEC).map(|e| e.delay), Some(4 * SEC));
    }
}
