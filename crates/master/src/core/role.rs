//! Whether this master acts: the decisions of high availability (`--zk`), without IO.
//!
//! Masters contend in ZooKeeper (`coordination::mesos::contend`); the shell feeds what the
//! election says ([`Contention`]) and what the registry store answers into a [`RoleMachine`],
//! and runs the [`RoleCommand`]s it returns. The rules:
//!
//! - A master acts only while elected, and only for a **term**: elected, it loads the registry
//!   for a new term (in ZooKeeper the load first claims the registry, fencing every earlier
//!   writer), then leads with a fresh core that expects the registry's agents back. Requests
//!   that arrive while it loads wait for the term ([`Disposition::Wait`]).
//! - The moment the election no longer says "elected" (the session disconnected or expired,
//!   another master leads), the term ends: every framework and agent stream is closed, no offer
//!   is made, no update forwarded. The master stays up as a standby and contends again
//!   (upstream aborts the process instead); a later term starts from the registry again. Being
//!   elected as another member of the election than the term's is a new term too, even when
//!   the loss in between was never seen (the shell only sees the latest state of the election).
//! - A registry write refused because another master claimed the registry since (fenced)
//!   ends the term too, and the master leaves the election and joins it again at the back
//!   (whatever the election says, someone else acted as leader).
//! - A standby serves no call: it redirects to the leader it knows
//!   ([`Disposition::Redirect`]) or, knowing none, answers that no leader is elected.
//!
//! Without ZooKeeper the master leads from the start in term 1, for good.

use mesos_api::MasterInfo;
use std::time::Duration;

/// What the election says about this master.
#[derive(Debug, Clone, PartialEq)]
pub enum Contention {
    /// This master is elected, as member `node` of the election (its sequence number): a
    /// different member is a different election, even if no other state was seen in between.
    Elected { node: i64 },
    /// Another master leads (`Some`), or no leader is known (none, or ZooKeeper unreachable).
    NotElected { leader: Option<MasterInfo> },
}

/// What this master is doing.
#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    /// Not elected; `leader` is the master that is, if known.
    Standby { leader: Option<MasterInfo> },
    /// Elected; loading the registry for `term`.
    Recovering { term: u64 },
    /// Elected and acting in `term`.
    Leading { term: u64 },
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleCommand {
    /// Load (and in a shared store claim) the registry for `term`, after `delay`.
    LoadRegistry { term: u64, delay: Duration },
    /// Lead in `term` with the registry loaded for it; then serve the requests that waited.
    Lead { term: u64 },
    /// Stop acting in `term` at once: close every stream, drop the core, answer the requests
    /// that waited as a standby.
    StepDown { term: u64 },
    /// Leave the election and contend again (behind the others).
    Abdicate,
}

/// How to answer a call (scheduler API, agent API) now.
#[derive(Debug, Clone, PartialEq)]
pub enum Disposition<'a> {
    /// This master leads: handle it.
    Serve,
    /// The registry is being loaded: keep it until the term starts (or ends).
    Wait,
    /// Another master leads: 307 to it.
    Redirect(&'a MasterInfo),
    /// No leader is known: 503.
    NoLeader,
}

/// The role state machine; see the module docs.
#[derive(Debug, Clone)]
pub struct RoleMachine {
    role: Role,
    last_term: u64,
    /// The election member the current term was elected as.
    elected_as: Option<i64>,
}

/// How long a failed registry load waits before the next attempt.
pub const LOAD_RETRY_DELAY: Duration = Duration::from_secs(1);

impl RoleMachine {
    /// A master without ZooKeeper: it leads in term 1 (its registry is loaded before it starts).
    pub fn sole() -> RoleMachine {
        RoleMachine { role: Role::Leading { term: 1 }, last_term: 1, elected_as: None }
    }

    /// A master contending in ZooKeeper: a standby until elected.
    pub fn contending() -> RoleMachine {
        RoleMachine { role: Role::Standby { leader: None }, last_term: 0, elected_as: None }
    }

    pub fn role(&self) -> &Role {
        &self.role
    }

    /// The term this master acts in, if it leads.
    pub fn leading_term(&self) -> Option<u64> {
        match self.role {
            Role::Leading { term } => Some(term),
            _ => None,
        }
    }

    /// Whether the registry report of `term` belongs to the current term (loading or leading).
    pub fn is_current(&self, term: u64) -> bool {
        matches!(self.role, Role::Recovering { term: t } | Role::Leading { term: t } if t == term)
    }

    /// How to answer a call now.
    pub fn disposition(&self) -> Disposition<'_> {
        match &self.role {
            Role::Leading { .. } => Disposition::Serve,
            Role::Recovering { .. } => Disposition::Wait,
            Role::Standby { leader: Some(leader) } => Disposition::Redirect(leader),
            Role::Standby { leader: None } => Disposition::NoLeader,
        }
    }

    /// The election changed.
    pub fn contention(&mut self, contention: Contention) -> Vec<RoleCommand> {
        match (contention, &self.role) {
            (Contention::Elected { node }, Role::Standby { .. }) => self.elected(node),
            (Contention::Elected { node }, Role::Recovering { term } | Role::Leading { term }) => {
                if self.elected_as.is_none_or(|n| n == node) {
                    return Vec::new();
                }
                // Elected again as another member: the election was lost in between (and
                // someone else may have led): a new term.
                let mut commands = vec![RoleCommand::StepDown { term: *term }];
                commands.extend(self.elected(node));
                commands
            }
            (Contention::NotElected { leader }, Role::Standby { .. }) => {
                self.role = Role::Standby { leader };
                Vec::new()
            }
            (Contention::NotElected { leader }, Role::Recovering { term } | Role::Leading { term }) => {
                let term = *term;
                self.role = Role::Standby { leader };
                vec![RoleCommand::StepDown { term }]
            }
        }
    }

    fn elected(&mut self, node: i64) -> Vec<RoleCommand> {
        self.last_term += 1;
        let term = self.last_term;
        self.role = Role::Recovering { term };
        self.elected_as = Some(node);
        vec![RoleCommand::LoadRegistry { term, delay: Duration::ZERO }]
    }

    /// The registry load of `term` finished (`ok`) or failed.
    pub fn registry_loaded(&mut self, term: u64, ok: bool) -> Vec<RoleCommand> {
        if self.role != (Role::Recovering { term }) {
            return Vec::new();
        }
        if ok {
            self.role = Role::Leading { term };
            vec![RoleCommand::Lead { term }]
        } else {
            vec![RoleCommand::LoadRegistry { term, delay: LOAD_RETRY_DELAY }]
        }
    }

    /// A registry write (or load) of `term` was refused: another master claimed the registry.
    pub fn fenced(&mut self, term: u64) -> Vec<RoleCommand> {
        if !self.is_current(term) {
            return Vec::new();
        }
        self.role = Role::Standby { leader: None };
        vec![RoleCommand::StepDown { term }, RoleCommand::Abdicate]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_api::Address;

    fn info(port: u16) -> MasterInfo {
        MasterInfo {
            id: format!("m{port}"),
            ip: 16777343,
            port,
            pid: format!("master@127.0.0.1:{port}"),
            hostname: "localhost".into(),
            version: mesos_api::MESOS_VERSION.into(),
            address: Address { hostname: Some("localhost".into()), ip: Some("127.0.0.1".into()), port },
            capabilities: vec![],
        }
    }

    fn not_elected(leader: Option<MasterInfo>) -> Contention {
        Contention::NotElected { leader }
    }

    #[test]
    fn elected_it_loads_then_leads_and_calls_wait_meanwhile() {
        let mut m = RoleMachine::contending();
        assert_eq!(m.disposition(), Disposition::NoLeader);
        let other = info(5051);
        m.contention(not_elected(Some(other.clone())));
        assert_eq!(m.disposition(), Disposition::Redirect(&other));

        assert_eq!(
            m.contention(Contention::Elected { node: 1 }),
            vec![RoleCommand::LoadRegistry { term: 1, delay: Duration::ZERO }]
        );
        assert_eq!(m.disposition(), Disposition::Wait);
        assert!(m.contention(Contention::Elected { node: 1 }).is_empty(), "elected again changes nothing");
        assert_eq!(m.registry_loaded(1, true), vec![RoleCommand::Lead { term: 1 }]);
        assert_eq!(m.disposition(), Disposition::Serve);
        assert_eq!(m.leading_term(), Some(1));
    }

    #[test]
    fn a_failed_load_is_retried_while_elected() {
        let mut m = RoleMachine::contending();
        m.contention(Contention::Elected { node: 1 });
        assert_eq!(m.registry_loaded(1, false), vec![RoleCommand::LoadRegistry { term: 1, delay: LOAD_RETRY_DELAY }]);
        assert_eq!(m.role(), &Role::Recovering { term: 1 });
        assert_eq!(m.registry_loaded(1, true), vec![RoleCommand::Lead { term: 1 }]);
    }

    #[test]
    fn losing_the_election_steps_down_at_once_and_a_new_election_is_a_new_term() {
        let mut m = RoleMachine::contending();
        m.contention(Contention::Elected { node: 1 });
        m.registry_loaded(1, true);
        // Disconnected from ZooKeeper: nobody known to lead, and this master stops acting.
        assert_eq!(m.contention(not_elected(None)), vec![RoleCommand::StepDown { term: 1 }]);
        assert_eq!(m.disposition(), Disposition::NoLeader);
        assert!(m.contention(not_elected(None)).is_empty(), "stepped down once");
        let other = info(5051);
        m.contention(not_elected(Some(other.clone())));
        assert_eq!(m.disposition(), Disposition::Redirect(&other));
        // Elected again: term 2, from the registry again.
        assert_eq!(
            m.contention(Contention::Elected { node: 1 }),
            vec![RoleCommand::LoadRegistry { term: 2, delay: Duration::ZERO }]
        );
        assert!(m.registry_loaded(1, true).is_empty(), "a late load of term 1 starts nothing");
        assert_eq!(m.registry_loaded(2, true), vec![RoleCommand::Lead { term: 2 }]);
    }

    #[test]
    fn losing_the_election_while_loading_abandons_the_term() {
        let mut m = RoleMachine::contending();
        m.contention(Contention::Elected { node: 1 });
        assert_eq!(m.contention(not_elected(None)), vec![RoleCommand::StepDown { term: 1 }]);
        assert!(m.registry_loaded(1, true).is_empty());
        assert_eq!(m.disposition(), Disposition::NoLeader);
    }

    #[test]
    fn a_fenced_write_steps_down_and_abdicates_even_while_still_elected() {
        let mut m = RoleMachine::contending();
        m.contention(Contention::Elected { node: 1 });
        m.registry_loaded(1, true);
        assert_eq!(m.fenced(1), vec![RoleCommand::StepDown { term: 1 }, RoleCommand::Abdicate]);
        assert_eq!(m.disposition(), Disposition::NoLeader);
        assert!(m.fenced(1).is_empty(), "a second refusal of the same term changes nothing");
        // The election then reports the new queue: another master leads, or this one again.
        assert_eq!(
            m.contention(Contention::Elected { node: 1 }),
            vec![RoleCommand::LoadRegistry { term: 2, delay: Duration::ZERO }]
        );
    }

    #[test]
    fn elected_as_another_member_is_a_new_term_even_if_the_loss_was_not_seen() {
        let mut m = RoleMachine::contending();
        m.contention(Contention::Elected { node: 1 });
        m.registry_loaded(1, true);
        assert!(m.contention(Contention::Elected { node: 1 }).is_empty());
        assert_eq!(
            m.contention(Contention::Elected { node: 7 }),
            vec![RoleCommand::StepDown { term: 1 }, RoleCommand::LoadRegistry { term: 2, delay: Duration::ZERO }]
        );
        assert_eq!(m.role(), &Role::Recovering { term: 2 });
    }

    #[test]
    fn a_sole_master_leads_for_good() {
        let mut m = RoleMachine::sole();
        assert_eq!(m.disposition(), Disposition::Serve);
        assert_eq!(m.leading_term(), Some(1));
        assert!(m.contention(Contention::Elected { node: 1 }).is_empty());
    }
}
