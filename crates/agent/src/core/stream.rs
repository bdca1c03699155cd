//! One task's ordered stream of status updates (Mesos' status-update manager, per task).
//!
//! Only the head is forwarded to the master. It is re-sent when no acknowledgement arrives within
//! the retry interval, which starts at the configured minimum and doubles up to the maximum. An
//! acknowledgement pops the head only when its uuid matches.

use mesos_api::TaskStatus;
use std::collections::VecDeque;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Retry {
    due: Duration,
    interval: Duration,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct UpdateStream {
    pending: VecDeque<TaskStatus>,
    /// Set while the head has been sent and waits for its acknowledgement.
    retry: Option<Retry>,
}

/// What an acknowledgement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AckOutcome {
    /// The head matched and was removed.
    Popped,
    /// The uuid is not the head's (duplicate or stale acknowledgement); nothing changed.
    Ignored,
}

impl UpdateStream {
    /// Appends an update; returns true when it became the head (and so should be sent now).
    pub(crate) fn push(&mut self, status: TaskStatus) -> bool {
        self.pending.push_back(status);
        self.pending.len() == 1
    }

    pub(crate) fn head(&self) -> Option<&TaskStatus> {
        self.pending.front()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    /// Records that the head was sent at `now` for the first time (or again after a
    /// reconnection): the next retry is `min` later.
    pub(crate) fn sent_fresh(&mut self, now: Duration, min: Duration) {
        self.retry = Some(Retry { due: now + min, interval: min });
    }

    /// Records a retry at `now`: the interval doubles, capped at `max`.
    pub(crate) fn sent_retry(&mut self, now: Duration, min: Duration, max: Duration) {
        let interval = match self.retry {
            Some(r) => r.interval.saturating_mul(2).min(max),
            None => min,
        };
        self.retry = Some(Retry { due: now + interval, interval });
    }

    /// When the head must be re-sent, if it is waiting for an acknowledgement.
    pub(crate) fn due(&self) -> Option<Duration> {
        if self.pending.is_empty() { None } else { self.retry.map(|r| r.due) }
    }

    /// The current retry interval.
    #[cfg(test)]
    pub(crate) fn interval(&self) -> Option<Duration> {
        self.retry.map(|r| r.interval)
    }

    /// Forget retry timing (the master connection is gone; everything is re-sent on the next
    /// registration).
    pub(crate) fn pause(&mut self) {
        self.retry = None;
    }

    pub(crate) fn ack(&mut self, uuid: &str) -> AckOutcome {
        match self.pending.front() {
            Some(head) if head.uuid.as_deref() == Some(uuid) => {
                self.pending.pop_front();
                self.retry = None;
                AckOutcome::Popped
            }
            _ => AckOutcome::Ignored,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_api::{TaskId, TaskState};

    fn status(state: TaskState, uuid: &str) -> TaskStatus {
        let mut s = TaskStatus::new(TaskId::new("t"), state);
        s.uuid = Some(uuid.to_string());
        s
    }

    const MIN: Duration = Duration::from_secs(10);
    const MAX: Duration = Duration::from_secs(600);

    #[test]
    fn head_only_and_ordered() {
        let mut s = UpdateStream::default();
        assert!(s.push(status(TaskState::Starting, "a")));
        assert!(!s.push(status(TaskState::Running, "b")));
        assert_eq!(s.head().and_then(|h| h.uuid.as_deref()), Some("a"));
        assert_eq!(s.ack("b"), AckOutcome::Ignored);
        assert_eq!(s.len(), 2);
        assert_eq!(s.ack("a"), AckOutcome::Popped);
        assert_eq!(s.head().map(|h| h.state), Some(TaskState::Running));
        assert_eq!(s.ack("a"), AckOutcome::Ignored);
        assert_eq!(s.ack("b"), AckOutcome::Popped);
        assert!(s.is_empty());
        assert_eq!(s.ack("b"), AckOutcome::Ignored);
    }

    proptest::proptest! {
        /// Against a model queue: updates leave in order, only a matching ack pops, and an
        /// ack never removes anything but the head.
        #[test]
        fn behaves_like_a_fifo_popped_by_matching_acks(ops in proptest::collection::vec((0u8..3, 0usize..6), 0..60)) {
            let mut s = UpdateStream::default();
            let mut model: std::collections::VecDeque<String> = Default::default();
            let mut next = 0;
            for (op, pick) in ops {
                match op {
                    0 => {
                        let uuid = format!("u{next}");
                        next += 1;
                        let became_head = s.push(status(TaskState::Running, &uuid));
                        proptest::prop_assert_eq!(became_head, model.is_empty());
                        model.push_back(uuid);
                    }
                    _ => {
                        // Ack either some known uuid (maybe not the head) or an unknown one.
                        let uuid = model.get(pick).cloned().unwrap_or_else(|| "nope".to_string());
                        let expect = if model.front() == Some(&uuid) { AckOutcome::Popped } else { AckOutcome::Ignored };
                        proptest::prop_assert_eq!(s.ack(&uuid), expect);
                        if expect == AckOutcome::Popped {
                            model.pop_front();
                        }
                    }
                }
                proptest::prop_assert_eq!(s.len(), model.len());
                proptest::prop_assert_eq!(s.head().and_then(|h| h.uuid.clone()), model.front().cloned());
            }
        }
    }

    #[test]
    fn retry_interval_doubles_to_the_cap() {
        let mut s = UpdateStream::default();
        s.push(status(TaskState::Running, "a"));
        assert_eq!(s.due(), None);
        s.sent_fresh(Duration::ZERO, MIN);
        assert_eq!(s.due(), Some(MIN));
        let mut now = MIN;
        let mut seen = vec![];
        for _ in 0..8 {
            s.sent_retry(now, MIN, MAX);
            seen.push(s.interval().map(|d| d.as_secs()).unwrap_or(0));
            now = s.due().unwrap_or(now);
        }
        assert_eq!(seen, vec![20, 40, 80, 160, 320, 600, 600, 600]);
        s.pause();
        assert_eq!(s.due(), None);
        s.sent_fresh(now, MIN);
        assert_eq!(s.interval(), Some(MIN));
    }
}
