//! The master's registry: what must survive a master restart (upstream's `Registry`). It holds
//! the agents the master admitted and the agents it marked unreachable or gone, and the
//! principals agent and framework ids are bound to; never tasks or frameworks themselves, which
//! agents and frameworks report again when they come back.
//!
//! The core changes it and counts its versions; the shell makes each version durable
//! (`crate::registry`) and reports it back with [`super::MasterCore::registry_stored`]. What
//! depends on a change (an agent's REGISTERED, the updates of an agent marked unreachable) waits
//! for that.

use mesos_api::{AgentId, AgentInfo, FrameworkId};
use std::collections::BTreeMap;

/// An admitted agent as the registry remembers it.
#[derive(Debug, Clone, PartialEq)]
pub struct AdmittedAgent {
    /// Its AgentInfo as it last registered (with its id).
    pub info: AgentInfo,
    /// `ip:port` of its HTTP server.
    pub endpoint: String,
}

/// The durable part of the master's state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Registry {
    /// Admitted agents: after a restart the master expects them back.
    pub admitted: BTreeMap<AgentId, AdmittedAgent>,
    /// Agents marked unreachable, with the time they were (seconds since the epoch).
    pub unreachable: BTreeMap<AgentId, f64>,
    /// Agents marked gone, with the time they were (seconds since the epoch). Nothing marks an
    /// agent gone yet (upstream's operator call `MARK_AGENT_GONE`), but a registry that holds
    /// such agents is honoured: they are refused and reconciliation answers for them.
    pub gone: BTreeMap<AgentId, f64>,
    /// The principal each agent id is bound to (the one it first registered with when agents
    /// authenticate); kept while the agent is admitted or unreachable.
    pub principals: BTreeMap<AgentId, String>,
    /// The principal each framework id is bound to (the one it first subscribed with when
    /// frameworks authenticate), so that after a restart nobody else can subscribe with it
    /// before the framework is back; kept until the framework is removed.
    pub framework_principals: BTreeMap<FrameworkId, String>,
}

impl Registry {
    /// Most unreachable agents remembered; the oldest are forgotten first (upstream bounds them
    /// with `--registry_max_agent_count`, 102400, and `--registry_max_agent_age`, 2 weeks).
    pub const MAX_UNREACHABLE: usize = 10_000;

    /// Admits `agent` (again, or with changed details, or back from unreachable); `false` when
    /// the registry already says exactly this.
    pub fn admit(&mut self, agent: AdmittedAgent) -> bool {
        let Some(id) = agent.info.id.clone() else { return false };
        let was_unreachable = self.unreachable.remove(&id).is_some();
        if self.admitted.get(&id) == Some(&agent) {
            return was_unreachable;
        }
        self.admitted.insert(id, agent);
        true
    }

    /// Binds agent `id` to `principal`; `false` when it already was.
    pub fn bind(&mut self, id: &AgentId, principal: &str) -> bool {
        if self.principals.get(id).is_some_and(|p| p == principal) {
            return false;
        }
        self.principals.insert(id.clone(), principal.to_string());
        true
    }

    /// Binds framework `id` to `principal`; `false` when it already was.
    pub fn bind_framework(&mut self, id: &FrameworkId, principal: &str) -> bool {
        if self.framework_principals.get(id).is_some_and(|p| p == principal) {
            return false;
        }
        self.framework_principals.insert(id.clone(), principal.to_string());
        true
    }

    /// Forgets the binding of a removed framework; `false` when there was none.
    pub fn unbind_framework(&mut self, id: &FrameworkId) -> bool {
        self.framework_principals.remove(id).is_some()
    }

    /// Moves an admitted agent to the unreachable ones; `false` if it was not admitted.
    pub fn mark_unreachable(&mut self, id: &AgentId, at: f64) -> bool {
        if self.admitted.remove(id).is_none() {
            return false;
        }
        self.unreachable.insert(id.clone(), at);
        while self.unreachable.len() > Self::MAX_UNREACHABLE {
            let oldest = self.unreachable.iter().min_by(|a, b| a.1.total_cmp(b.1)).map(|(id, _)| id.clone());
            match oldest {
                Some(oldest) => {
                    self.unreachable.remove(&oldest);
                    self.principals.remove(&oldest);
                }
                None => break,
            };
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(id: &str, hostname: &str) -> AdmittedAgent {
        AdmittedAgent {
            info: AgentInfo {
                hostname: hostname.into(),
                port: 5051,
                resources: vec![],
                attributes: vec![],
                id: Some(AgentId::new(id)),
                domain: None,
            },
            endpoint: "127.0.0.1:5051".into(),
        }
    }

    #[test]
    fn admitting_the_same_agent_again_changes_nothing() {
        let mut r = Registry::default();
        assert!(r.admit(agent("a", "h")));
        assert!(!r.admit(agent("a", "h")));
        assert!(r.admit(agent("a", "other")), "changed details are written");
    }

    #[test]
    fn unreachable_agents_move_out_of_the_admitted_ones_and_back() {
        let mut r = Registry::default();
        r.admit(agent("a", "h"));
        assert!(r.mark_unreachable(&AgentId::new("a"), 10.0));
        assert!(!r.mark_unreachable(&AgentId::new("a"), 11.0), "only admitted agents");
        assert!(r.admitted.is_empty());
        assert_eq!(r.unreachable.get(&AgentId::new("a")), Some(&10.0));
        assert!(r.admit(agent("a", "h")), "back from unreachable is a change");
        assert!(r.unreachable.is_empty());
    }

    #[test]
    fn the_oldest_unreachable_agents_are_forgotten_beyond_the_bound() {
        let mut r = Registry::default();
        for i in 0..=Registry::MAX_UNREACHABLE {
            let id = format!("a{i}");
            r.admit(agent(&id, "h"));
            r.mark_unreachable(&AgentId::new(id), i as f64);
        }
        assert_eq!(r.unreachable.len(), Registry::MAX_UNREACHABLE);
        assert!(!r.unreachable.contains_key(&AgentId::new("a0")));
    }
}
