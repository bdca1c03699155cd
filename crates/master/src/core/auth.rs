//! Who may act on a framework or an agent. The shell authenticates requests (`crate::auth`) and
//! asks these before it opens a stream or hands a call to the core. A principal is `None` when
//! the endpoint needs no authentication: then nobody has an identity and nothing is checked.
//!
//! - A framework is bound to the principal of its `FrameworkInfo`, which an authenticated
//!   SUBSCRIBE sets to the authenticated principal (or must already name). Another principal
//!   can neither subscribe with its id (which would fail it over and take its tasks) nor make
//!   calls on it (TEARDOWN, KILL, ...): 403, as upstream.
//! - An agent id is bound (in the registry, so that it survives restarts and failovers) to the
//!   principal it first registered with; another principal cannot register with that id.

use super::*;

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
        if let Some(id) = info.id.as_ref().filter(|id| !id.value.is_empty())
            && let Some(owner) = self.frameworks.get(id).and_then(|fw| fw.info.principal.as_deref())
            && owner != principal
        {
            return Err(reject(403, format!("Framework '{id}' is registered by another principal")));
        }
        Ok(())
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
