//! Launch backoff: how long an app's scheduled instances wait before they may use an offer.
//!
//! Delays are keyed by app id and `last_config_change_at`, so scaling keeps a delay and a config
//! change starts afresh. Marathon's rules:
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

/// Which delay an instance's launch waits for.
pub(crate) type DelayKey = (AppId, Timestamp);

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

#[derive(Debug, Clone, Default)]
pub(crate) struct LaunchDelays {
    entries: BTreeMap<DelayKey, LaunchDelay>,
}

impl LaunchDelays {
    /// A task of the app version ended in a failure.
    pub(crate) fn on_failure(&mut self, key: DelayKey, strategy: &BackoffStrategy, now: Duration) {
        let max = strategy.max_launch_delay;
        let delay = match self.entries.get(&key) {
            Some(entry) if !entry.expired(now) => scale(entry.delay, strategy.factor).min(max),
            _ => strategy.backoff.min(max),
        };
        self.entries.insert(key, LaunchDelay { delay, reference: now, max_launch_delay: max });
    }

    /// A task of the app version made progress (staging, starting, running).
    pub(crate) fn on_progress(&mut self, key: &DelayKey, now: Duration) {
        if let Some(entry) = self.entries.get_mut(key) {
            if entry.expired(now) {
                self.entries.remove(key);
            } else {
                entry.reference = now;
            }
        }
    }

    /// Forgets every delay of `app`.
    pub(crate) fn reset(&mut self, app: &AppId) {
        self.entries.retain(|(id, _), _| id != app);
    }

    /// The active delay of `key`, if any.
    pub(crate) fn get(&self, key: &DelayKey, now: Duration) -> Option<&LaunchDelay> {
        self.entries.get(key).filter(|entry| !entry.expired(now))
    }

    /// Whether launches of `key` must still wait at `now`.
    pub(crate) fn is_delayed(&self, key: &DelayKey, now: Duration) -> bool {
        self.get(key, now).is_some_and(|entry| entry.launch_not_before() > now)
    }

    /// The delays that hold launches back at `now`, by key.
    pub(crate) fn waiting(&self, now: Duration) -> impl Iterator<Item = (&DelayKey, &LaunchDelay)> {
        self.entries.iter().filter(move |(_, entry)| !entry.expired(now) && entry.launch_not_before() > now)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Drops expired entries.
    pub(crate) fn cleanup(&mut self, now: Duration) {
        self.entries.retain(|_, entry| !entry.expired(now));
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

    fn key() -> DelayKey {
        (AppId::new("/a"), Timestamp::from_millis(1))
    }

    #[test]
    fn delays_grow_by_the_factor_up_to_the_cap() {
        let strategy = BackoffStrategy::default();
        let mut delays = LaunchDelays::default();
        let mut now = Duration::from_secs(1000);
        let mut seen = Vec::new();
        for _ in 0..60 {
            delays.on_failure(key(), &strategy, now);
            let entry = *delays.get(&key(), now).expect("entry");
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
        delays.on_failure(key(), &strategy, 10 * SEC);
        assert!(delays.is_delayed(&key(), 10 * SEC));
        assert!(!delays.is_delayed(&key(), 11 * SEC));
        delays.on_progress(&key(), 20 * SEC);
        assert!(delays.is_delayed(&key(), 20 * SEC));
        assert_eq!(delays.get(&key(), 20 * SEC).map(|e| e.launch_not_before()), Some(21 * SEC));
        // 300 s after the reference the entry is gone, and the next failure starts over.
        assert!(delays.get(&key(), 321 * SEC).is_none());
        delays.on_failure(key(), &strategy, 321 * SEC);
        assert_eq!(delays.get(&key(), 321 * SEC).map(|e| e.delay), Some(SEC));
        delays.reset(&AppId::new("/a"));
        assert!(delays.get(&key(), 321 * SEC).is_none());
    }

    #[test]
    fn the_cap_also_bounds_the_first_delay() {
        let strategy = BackoffStrategy { backoff: 10 * SEC, factor: 2.0, max_launch_delay: 4 * SEC };
        let mut delays = LaunchDelays::default();
        delays.on_failure(key(), &strategy, SEC);
        assert_eq!(delays.get(&key(), SEC).map(|e| e.delay), Some(4 * SEC));
    }
}
