//! Who may act on a framework or an agent. The shell authenticates requests (`crate::auth`) and
//! asks these before it opens a stream or hands a call to the core. A principal is `None` when
//! the endpoint needs no authentication: then nobody has an identity and nothing is checked.
//!
//! - A framework is bound to the principal of its `FrameworkInfo`, which an authenticated
//!   SUBSCRIBE sets to the authenticated principal (or must already name). Another principal
//!   can neither subscribe with its id (which would fail it over and take its tasks) nor make
//!   calls on it (TEARDOWN, KILL, ...): 403, as upstream.
//!   The binding is kept in the registry: after a restart or failover, before the framework
//!   is back, nobody else can subscribe with its id either. A SUBSCRIBE that binds a framework
//!   is answered once that binding is durable.
//! - An agent id is bound (in the registry, so that it survives restarts and failovers) to the
//!   principal it first registered with; another principal cannot register with that id.

use super::*;

/// A SUBSCRIBE whose answer waits for its framework's binding to be durable.
#[derive(Debug, Clone)]
pub(super) struct PendingSubscription {
    /// The registry version that must be durable first.
    version: u64,
    pub(super) stream: StreamId,
    info: FrameworkInfo,
}

impl MasterCore {
    /// May `principal` SUBSCRIBE with `info`? Sets `info.principal` to it.
    pub fn authorize_subscribe(&self, info: &mut FrameworkInfo, principal: Option<&str>) -> Result<(), Rejection> {
        let Some(principal) = principal else { return Ok(()) };
        if let Some(claimed) = info.principal.as_deref().filter(|p| !p.is_empty())
            && claimed != principal
        {
            return Err(reject(
                403,
                format!(
                    "Authenticated principal '{principal}' does not match principal '{claimed}' set in `FrameworkInfo`"
                ),
            ));
        }
        info.principal = Some(principal.to_string());
        if let Some(id) = info.id.as_ref().filter(|id| !id.value.is_empty()) {
            let bound = self.registry.framework_principals.get(id).map(String::as_str);
            let registered = self.frameworks.get(id).and_then(|fw| fw.info.principal.as_deref());
            if let Some(owner) = bound.or(registered)
                && owner != principal
            {
                tracing::warn!(framework = %id, %principal, "refusing a SUBSCRIBE with the id of another principal's framework");
                return Err(reject(403, format!("Framework '{id}' is registered by another principal")));
            }
        }
        Ok(())
    }

    /// [`Self::subscribe`] of a framework that authenticated as `principal` (checked first with
    /// [`Self::authorize_subscribe`]): its id is bound to the principal in the registry, and
    /// the subscription goes ahead once that is durable. Returns its id (new for a framework
    /// without one) once subscribed, `None` while it waits or when it was refused.
    pub fn subscribe_as(
        &mut self,
        now: Now,
        stream: StreamId,
        mut info: FrameworkInfo,
        principal: Option<String>,
    ) -> Option<FrameworkId> {
        let Some(principal) = principal else { return self.subscribe(now, stream, info) };
        let id = match info.id.clone().filter(|id| !id.value.is_empty()) {
            Some(id) => id,
            None => {
                let id = FrameworkId::new(format!("{}-{:04}", self.config.master_info.id, self.next_framework));
                self.next_framework += 1;
                info.id = Some(id.clone());
                id
            }
        };
        if self.registry.bind_framework(&id, &principal) {
            self.registry_version += 1;
            self.framework_changes.insert(id.clone(), self.registry_version);
        }
        let version = self.framework_changes.get(&id).copied().unwrap_or_default();
        if version > self.stored_version {
            tracing::debug!(framework = %id, version, "subscription waits for the registry");
            self.pending_subscriptions.push(PendingSubscription { version, stream, info });
            return None;
        }
        self.subscribe(now, stream, info)
    }

    /// Subscriptions whose bindings are now durable go ahead.
    pub(super) fn subscriptions_stored(&mut self, now: Now) {
        let stored = self.stored_version;
        self.framework_changes.retain(|_, v| *v > stored);
        let (ready, waiting): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.pending_subscriptions).into_iter().partition(|p| p.version <= stored);
        self.pending_subscriptions = waiting;
        for PendingSubscription { stream, info, .. } in ready {
            self.subscribe(now, stream, info);
        }
    }

    /// May `principal` make `call` (not a SUBSCRIBE) on its framework?
    pub fn authorize_call(&self, call: &Call, principal: Option<&str>) -> Result<(), Rejection> {
        let Some(principal) = principal else { return Ok(()) };
        let Some(fw) = call.framework_id.as_ref().and_then(|id| self.frameworks.get(id)) else {
            // The core answers calls on unknown frameworks.
            return Ok(());
        };
        match fw.info.principal.as_deref() {
            Some(owner) if owner == principal => Ok(()),
            Some(owner) => Err(reject(
                403,
                format!(
                    "Authenticated principal '{principal}' does not match principal '{owner}' of framework '{}'",
                    fw.id
                ),
            )),
            None => Err(reject(403, format!("Framework '{}' is not bound to principal '{principal}'", fw.id))),
        }
    }

    /// May `principal` register (or re-register) the agent of `register`?
    pub fn authorize_agent_register(&self, register: &Register, principal: Option<&str>) -> Result<(), Rejection> {
        let Some(principal) = principal else { return Ok(()) };
        let Some(id) = register.agent_id.as_ref().filter(|id| !id.value.is_empty()) else { return Ok(()) };
        match self.registry.principals.get(id) {
            Some(owner) if owner != principal => {
                tracing::warn!(agent = %id, %principal, "refusing an agent that registers with the id of another principal's agent");
                Err(reject(403, format!("Agent '{id}' is registered by another principal")))
            }
            _ => Ok(()),
        }
    }

    /// May `principal` make a call on agent stream `stream`?
    pub fn authorize_agent_call(&self, stream: Option<&str>, principal: Option<&str>) -> Result<(), Rejection> {
        let Some(principal) = principal else { return Ok(()) };
        let Some(agent) = stream.and_then(|s| self.agent_streams.get(s)) else { return Ok(()) };
        match self.registry.principals.get(agent) {
            Some(owner) if owner != principal => {
                Err(reject(403, format!("Agent '{agent}' is registered by another principal")))
            }
            _ => Ok(()),
        }
    }
}
