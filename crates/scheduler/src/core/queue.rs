//! The launch queue as the API shows it (`/v2/queue`): per app, how many instances wait for an
//! offer, the backoff delay, and what the offers seen since the launch attempt began lacked.

use super::matcher::NoMatchReason;
use super::run_spec::AppId;
use super::time::Timestamp;
use mesos_api::{AgentId, OfferId};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// An offer an app could not use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnusedOffer {
    pub offer_id: OfferId,
    pub agent_id: AgentId,
    pub hostname: String,
    pub reasons: Vec<NoMatchReason>,
    pub at: Timestamp,
}

/// One row of a funnel summary: of `processed` offers that got as far as this check, `declined`
/// failed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RejectSummary {
    pub reason: NoMatchReason,
    pub declined: u64,
    pub processed: u64,
}

/// Offer statistics of one app since its current launch attempt began (cleared when nothing of
/// the app waits any more).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfferStats {
    /// Offers considered for the app.
    pub processed_offers: u64,
    /// Offers the app could not use.
    pub unused_offers: u64,
    pub last_unused_offer_at: Option<Timestamp>,
    pub last_used_offer_at: Option<Timestamp>,
    /// How often each reason applied (an offer counts once per reason it had).
    pub reason_counts: BTreeMap<NoMatchReason, u64>,
    /// Unused offers by the first reason in funnel order.
    pub first_reason_counts: BTreeMap<NoMatchReason, u64>,
    /// The latest unused offers, newest last (bounded).
    pub last_unused_offers: VecDeque<UnusedOffer>,
}

impl OfferStats {
    pub(crate) fn record_used(&mut self, at: Timestamp) {
        self.processed_offers += 1;
        self.last_used_offer_at = Some(at);
    }

    pub(crate) fn record_unused(&mut self, offer: UnusedOffer, capacity: usize) {
        self.processed_offers += 1;
        self.unused_offers += 1;
        self.last_unused_offer_at = Some(offer.at);
        for reason in &offer.reasons {
            *self.reason_counts.entry(*reason).or_default() += 1;
        }
        if let Some(first) = offer.reasons.iter().min() {
            *self.first_reason_counts.entry(*first).or_default() += 1;
        }
        self.last_unused_offers.push_back(offer);
        while self.last_unused_offers.len() > capacity {
            self.last_unused_offers.pop_front();
        }
    }

    /// The funnel over every offer of the launch attempt (`rejectSummaryLaunchAttempt`).
    pub fn reject_summary_launch_attempt(&self) -> Vec<RejectSummary> {
        funnel(self.processed_offers, &self.first_reason_counts)
    }

    /// The funnel over the latest unused offers (`rejectSummaryLastOffers`).
    pub fn reject_summary_last_offers(&self) -> Vec<RejectSummary> {
        let mut first = BTreeMap::new();
        for offer in &self.last_unused_offers {
            if let Some(reason) = offer.reasons.iter().min() {
                *first.entry(*reason).or_default() += 1;
            }
        }
        funnel(self.last_unused_offers.len() as u64, &first)
    }
}

fn funnel(total: u64, first_reason_counts: &BTreeMap<NoMatchReason, u64>) -> Vec<RejectSummary> {
    let mut processed = total;
    let mut out = Vec::with_capacity(NoMatchReason::ALL.len());
    for reason in NoMatchReason::ALL {
        let declined = first_reason_counts.get(&reason).copied().unwrap_or(0);
        out.push(RejectSummary { reason, declined, processed });
        processed = processed.saturating_sub(declined);
    }
    out
}

/// The backoff state shown for a queued app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueDelay {
    pub time_left: Duration,
    /// True when the app is not backed off (it only waits for offers).
    pub overdue: bool,
}

/// One app in the launch queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    pub app_id: AppId,
    /// Instances waiting for an offer.
    pub count: usize,
    pub role: String,
    pub delay: QueueDelay,
    /// When the longest-waiting instance was scheduled.
    pub since: Timestamp,
    pub offer_stats: OfferStats,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unused(reasons: &[NoMatchReason]) -> UnusedOffer {
        UnusedOffer {
            offer_id: OfferId::new("o"),
            agent_id: AgentId::new("a"),
            hostname: "h".into(),
            reasons: reasons.to_vec(),
            at: Timestamp::from_millis(1),
        }
    }

    #[test]
    fn funnel_counts_each_offer_at_its_first_failed_check() {
        let mut stats = OfferStats::default();
        stats.record_unused(unused(&[NoMatchReason::UnfulfilledRole]), 2);
        stats.record_unused(unused(&[NoMatchReason::InsufficientMemory, NoMatchReason::InsufficientCpus]), 2);
        stats.record_unused(unused(&[NoMatchReason::InsufficientCpus]), 2);
        stats.record_used(Timestamp::from_millis(2));
        assert_eq!(stats.processed_offers, 4);
        assert_eq!(stats.unused_offers, 3);
        assert_eq!(stats.reason_counts[&NoMatchReason::InsufficientCpus], 2);
        let summary = stats.reject_summary_launch_attempt();
        assert_eq!(summary[0], RejectSummary { reason: NoMatchReason::UnfulfilledRole, declined: 1, processed: 4 });
        assert_eq!(summary[2], RejectSummary { reason: NoMatchReason::InsufficientCpus, declined: 2, processed: 3 });
        assert_eq!(summary[3], RejectSummary { reason: NoMatchReason::InsufficientMemory, declined: 0, processed: 1 });
        // Only the latest two unused offers are kept.
        assert_eq!(stats.last_unused_offers.len(), 2);
        let last = stats.reject_summary_last_offers();
        assert_eq!(last[0], RejectSummary { reason: NoMatchReason::UnfulfilledRole, declined: 0, processed: 2 });
        assert_eq!(last[2], RejectSummary { reason: NoMatchReason::InsufficientCpus, declined: 2, processed: 2 });
    }
}
