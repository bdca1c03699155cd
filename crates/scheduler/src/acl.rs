//! Authorization of the REST API (`--acl_file`): who a request is and what it may do, as pure
//! decisions (no IO). The HTTP layer (`api::authz`) only extracts credentials, paths and ids from
//! requests and enforces what this module decides.
//!
//! The file is JSON:
//!
//! ```json
//! {"principals": [
//!   {"name": "ops", "password": "ops-secret", "rules": [{"path": "/", "access": "admin"}]},
//!   {"name": "ci", "token": "ci-token", "rules": [{"path": "/dev", "access": "write"},
//!                                                 {"path": "/prod", "access": "read"}]}
//! ]}
//! ```
//!
//! A principal authenticates with HTTP basic auth (`name:password`) or a bearer token
//! (`Authorization: Bearer <token>`, or DC/OS' `token=<token>`). A rule gives an access level on a
//! group path and everything below it (`/prod` covers `/prod` and `/prod/web`, not
//! `/production`); `admin` includes `write`, which includes `read`. The highest level of the rules
//! that cover a path applies. System actions (abdicating, event subscriptions) need `admin` on
//! `/`; `/v2/info`, `GET /v2/leader` and `/metrics` need any valid principal.

use marathon_api::PathId;
use mesos_api::credentials::secrets_equal;
use serde::Deserialize;
use std::collections::HashMap;

/// An access level, ordered: `Admin` includes `Write`, which includes `Read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Read,
    Write,
    Admin,
}

/// The credentials a request presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented<'a> {
    Basic { user: &'a str, password: &'a str },
    Token(&'a str),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AclFile {
    principals: Vec<PrincipalEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrincipalEntry {
    name: String,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    rules: Vec<RuleEntry>,
}

impl std::fmt::Debug for PrincipalEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrincipalEntry").field("name", &self.name).field("rules", &self.rules).finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    path: String,
    access: Access,
}

/// Why an ACL file cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AclError {
    #[error("not an ACL file: {0}")]
    Format(String),
    #[error("principal '{0}' appears twice")]
    DuplicatePrincipal(String),
    #[error("principal '{0}' has neither a password nor a token")]
    NoCredential(String),
    #[error("principal '{0}' has an empty password or token")]
    EmptySecret(String),
    #[error("a token is used by two principals ('{0}' and '{1}')")]
    DuplicateToken(String, String),
    #[error("principal '{0}': rule path '{1}' is not absolute")]
    RelativePath(String, String),
}

#[derive(Clone)]
struct Principal {
    password: Option<String>,
    token: Option<String>,
    rules: Vec<(PathId, Access)>,
}

/// The principals and their rules.
#[derive(Clone)]
pub struct Acl {
    principals: HashMap<String, Principal>,
}

impl std::fmt::Debug for Acl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acl").field("principals", &self.principals.keys().collect::<Vec<_>>()).finish()
    }
}

impl Acl {
    /// Reads an ACL file's text.
    pub fn parse(text: &str) -> Result<Acl, AclError> {
        let file: AclFile = serde_json::from_str(text).map_err(|e| AclError::Format(e.to_string()))?;
        let mut principals = HashMap::new();
        let mut tokens: HashMap<String, String> = HashMap::new();
        for entry in file.principals {
            if entry.password.is_none() && entry.token.is_none() {
                return Err(AclError::NoCredential(entry.name));
            }
            if entry.password.as_deref() == Some("") || entry.token.as_deref() == Some("") {
                return Err(AclError::EmptySecret(entry.name));
            }
            if let Some(token) = &entry.token
                && let Some(other) = tokens.insert(token.clone(), entry.name.clone())
            {
                return Err(AclError::DuplicateToken(other, entry.name));
            }
            let mut rules = Vec::new();
            for rule in entry.rules {
                if !rule.path.starts_with('/') {
                    return Err(AclError::RelativePath(entry.name, rule.path));
                }
                rules.push((PathId::parse(&rule.path), rule.access));
            }
            let principal = Principal { password: entry.password, token: entry.token, rules };
            if principals.insert(entry.name.clone(), principal).is_some() {
                return Err(AclError::DuplicatePrincipal(entry.name));
            }
        }
        Ok(Acl { principals })
    }

    /// The principal the credentials prove (`None`: unknown or wrong).
    pub fn authenticate(&self, presented: &Presented<'_>) -> Option<&str> {
        match presented {
            Presented::Basic { user, password } => {
                let (name, principal) = self.principals.get_key_value(*user)?;
                principal.password.as_deref().is_some_and(|known| secrets_equal(known, password)).then_some(name)
            }
            // Every token is compared (in constant time each), so timing tells nothing of which.
            Presented::Token(token) => self
                .principals
                .iter()
                .filter(|(_, p)| p.token.as_deref().is_some_and(|known| secrets_equal(known, token)))
                .map(|(name, _)| name.as_str())
                .last(),
        }
    }

    /// The highest access `principal` has on `path` (`None`: none at all).
    pub fn access(&self, principal: &str, path: &PathId) -> Option<Access> {
        let principal = self.principals.get(principal)?;
        principal.rules.iter().filter(|(prefix, _)| covers(prefix, path)).map(|(_, access)| *access).max()
    }

    /// Whether `principal` has at least `access` on `path`.
    pub fn allows(&self, principal: &str, access: Access, path: &PathId) -> bool {
        self.access(principal, path).is_some_and(|has| has >= access)
    }

    /// Whether `principal` has at least `access` on every path of `paths`.
    pub fn allows_all<'a>(&self, principal: &str, access: Access, mut paths: impl Iterator<Item = &'a PathId>) -> bool {
        paths.all(|path| self.allows(principal, access, path))
    }

    /// Whether `principal` may read everything (no listing needs filtering for it).
    pub fn reads_everything(&self, principal: &str) -> bool {
        self.allows(principal, Access::Read, &PathId::root())
    }

    /// Whether `principal` may read some of what lies below `group` (so that the group shows,
    /// with only that in it).
    pub fn reads_below(&self, principal: &str, group: &PathId) -> bool {
        self.principals.get(principal).is_some_and(|p| p.rules.iter().any(|(prefix, _)| covers(group, prefix)))
    }

    /// Whether `principal` may see an event about `paths` (the apps or groups it names; `None`
    /// for an event about none). System events are for everyone, except HTTP callback
    /// subscriptions, which show callback URLs (they need `admin` on `/`, like managing them).
    pub fn may_see_event(&self, principal: &str, event_type: &str, paths: Option<&[PathId]>) -> bool {
        match paths {
            _ if matches!(event_type, "subscribe_event" | "unsubscribe_event") => {
                self.allows(principal, Access::Admin, &PathId::root())
            }
            None => true,
            Some(paths) => !paths.is_empty() && self.allows_all(principal, Access::Read, paths.iter()),
        }
    }
}

/// Whether `prefix` is `path` or one of its enclosing groups.
fn covers(prefix: &PathId, path: &PathId) -> bool {
    path.segments().starts_with(prefix.segments())
}

/// What a request needs, from its method and path alone (the ids in its body or the entries of
/// its answer are checked by the HTTP layer with [`Acl::allows`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// Anyone (`/ping`).
    Nothing,
    /// Any valid principal.
    Authenticated,
    /// `access` on `path`.
    On(Access, PathId),
    /// `write` on the app of every app id of the body (an app or an array of them; without
    /// ids, on `/`).
    BodyAppIds,
    /// `write` on the group of the body (its `id` resolved against this path, which it is
    /// without one) and on every app and group in it.
    BodyGroupIds(PathId),
    /// `write` on the app of every task id of the body (`POST /v2/tasks/delete`).
    BodyTaskIds,
    /// `write` on the apps of a deployment (`DELETE /v2/deployments/{id}`).
    Deployment(String),
    /// A listing: the answer shows only what the principal may read.
    Filtered,
    /// `read` on `path`, or, failing that, the answer is filtered (group listings).
    ReadOrFiltered(PathId),
}

/// Path segments after which an app's or group's path ends in the API (`/v2/apps/x/tasks`).
const SUFFIXES: [&str; 5] = ["tasks", "versions", "restart", "*", "delay"];

/// The app or group path a REST path below `/v2/apps/` or `/v2/groups/` names: the segments
/// before the first of [`SUFFIXES`]. An app that is named like one of them is cut short, which
/// only ever asks for more (access to an enclosing group), never for less.
fn named_path(rest: &str) -> PathId {
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let end = segments.iter().position(|s| SUFFIXES.contains(s)).unwrap_or(segments.len());
    PathId::from_segments(segments[..end].iter().copied())
}

/// What a request with `method` (upper case) on `path` needs.
pub fn requirement(method: &str, path: &str) -> Requirement {
    let read = matches!(method, "GET" | "HEAD");
    let access = if read { Access::Read } else { Access::Write };
    let admin = || Requirement::On(Access::Admin, PathId::root());
    match path {
        "/ping" => Requirement::Nothing,
        "/v2/apps" if !read => Requirement::BodyAppIds,
        "/v2/groups" if !read => Requirement::BodyGroupIds(PathId::root()),
        "/v2/apps" | "/v2/tasks" | "/v2/queue" | "/v2/deployments" | "/v2/events" => Requirement::Filtered,
        "/v2/groups" => Requirement::ReadOrFiltered(PathId::root()),
        "/v2/tasks/delete" => Requirement::BodyTaskIds,
        "/v2/leader" if !read => admin(),
        "/v2/info" | "/v2/leader" | "/metrics" | "/" => Requirement::Authenticated,
        "/v2/eventSubscriptions" => admin(),
        _ => {
            if let Some(rest) = path.strip_prefix("/v2/apps/") {
                let id = named_path(rest);
                return match read {
                    true if rest.split('/').any(|s| s == "*") => Requirement::ReadOrFiltered(id),
                    _ => Requirement::On(access, id),
                };
            }
            if let Some(rest) = path.strip_prefix("/v2/groups/") {
                let id = named_path(rest);
                return match (read, method) {
                    (true, _) => Requirement::ReadOrFiltered(id),
                    (false, "DELETE") => Requirement::On(Access::Write, id),
                    (false, _) => Requirement::BodyGroupIds(id),
                };
            }
            if let Some(rest) = path.strip_prefix("/v2/queue/") {
                return Requirement::On(access, named_path(rest));
            }
            if let Some(id) = path.strip_prefix("/v2/deployments/") {
                return Requirement::Deployment(id.to_string());
            }
            // The UI's reads of the master (the whole cluster's state) and of agents' sandboxes
            // (any app's task files): not cut down per app yet, so admins only.
            if path.starts_with("/ui/api/") {
                return admin();
            }
            // Anything else (unknown routes answer 404) needs a valid principal only.
            Requirement::Authenticated
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{"principals": [
        {"name": "ops", "password": "ops-pw", "rules": [{"path": "/", "access": "admin"}]},
        {"name": "ci", "token": "ci-token", "password": "ci-pw",
         "rules": [{"path": "/dev", "access": "write"}, {"path": "/prod", "access": "read"},
                   {"path": "/prod/canary", "access": "write"}]},
        {"name": "nobody", "token": "nobody-token"}
    ]}"#;

    fn p(s: &str) -> PathId {
        PathId::parse(s)
    }

    #[test]
    fn credentials_authenticate_their_principal_only() {
        let acl = Acl::parse(FILE).expect("acl");
        assert_eq!(acl.authenticate(&Presented::Basic { user: "ops", password: "ops-pw" }), Some("ops"));
        assert_eq!(acl.authenticate(&Presented::Basic { user: "ops", password: "ci-pw" }), None);
        assert_eq!(acl.authenticate(&Presented::Basic { user: "ghost", password: "x" }), None);
        assert_eq!(acl.authenticate(&Presented::Token("ci-token")), Some("ci"));
        assert_eq!(acl.authenticate(&Presented::Token("ci-toke")), None);
        // A principal with only a token has no password to guess.
        assert_eq!(acl.authenticate(&Presented::Basic { user: "nobody", password: "" }), None);
    }

    #[test]
    fn rules_cover_their_path_and_below_with_the_highest_level() {
        let acl = Acl::parse(FILE).expect("acl");
        assert!(acl.allows("ops", Access::Admin, &p("/anything/at/all")));
        assert!(acl.allows("ci", Access::Write, &p("/dev/web")));
        assert!(acl.allows("ci", Access::Read, &p("/prod/web")));
        assert!(!acl.allows("ci", Access::Write, &p("/prod/web")), "read only on /prod");
        assert!(acl.allows("ci", Access::Write, &p("/prod/canary/web")), "a deeper rule adds");
        assert!(!acl.allows("ci", Access::Read, &p("/production")), "segments, not characters");
        assert!(!acl.allows("ci", Access::Read, &PathId::root()));
        assert!(!acl.allows("ci", Access::Admin, &p("/dev")));
        assert!(!acl.allows("nobody", Access::Read, &p("/dev")));
        assert!(!acl.allows("ghost", Access::Read, &p("/dev")));
        assert!(acl.reads_below("ci", &PathId::root()) && acl.reads_below("ci", &p("/prod")));
        assert!(!acl.reads_below("ci", &p("/staging")) && !acl.reads_below("nobody", &PathId::root()));
        assert!(acl.reads_everything("ops") && !acl.reads_everything("ci"));
    }

    #[test]
    fn events_show_only_what_may_be_read() {
        let acl = Acl::parse(FILE).expect("acl");
        assert!(acl.may_see_event("ci", "status_update_event", Some(&[p("/dev/web")])));
        assert!(!acl.may_see_event("ci", "status_update_event", Some(&[p("/secret/db")])));
        assert!(!acl.may_see_event("ci", "deployment_info", Some(&[p("/dev/web"), p("/secret/db")])));
        assert!(acl.may_see_event("ci", "event_stream_attached", None));
        assert!(!acl.may_see_event("ci", "subscribe_event", None));
        assert!(acl.may_see_event("ops", "subscribe_event", None));
    }

    #[test]
    fn bad_files_are_refused_by_name() {
        assert!(matches!(Acl::parse("[]"), Err(AclError::Format(_))));
        let twice = r#"{"principals": [{"name": "a", "token": "t"}, {"name": "a", "token": "u"}]}"#;
        assert_eq!(Acl::parse(twice).map(|_| ()), Err(AclError::DuplicatePrincipal("a".into())));
        let shared = r#"{"principals": [{"name": "a", "token": "t"}, {"name": "b", "token": "t"}]}"#;
        assert_eq!(Acl::parse(shared).map(|_| ()), Err(AclError::DuplicateToken("a".into(), "b".into())));
        let none = r#"{"principals": [{"name": "a"}]}"#;
        assert_eq!(Acl::parse(none).map(|_| ()), Err(AclError::NoCredential("a".into())));
        let relative =
            r#"{"principals": [{"name": "a", "token": "t", "rules": [{"path": "prod", "access": "read"}]}]}"#;
        assert_eq!(Acl::parse(relative).map(|_| ()), Err(AclError::RelativePath("a".into(), "prod".into())));
        let level = r#"{"principals": [{"name": "a", "token": "t", "rules": [{"path": "/", "access": "root"}]}]}"#;
        assert!(matches!(Acl::parse(level), Err(AclError::Format(_))));
    }

    #[test]
    fn requests_need_what_their_method_and_path_say() {
        use Requirement::*;
        assert_eq!(requirement("GET", "/ping"), Nothing);
        assert_eq!(requirement("GET", "/v2/apps"), Filtered);
        assert_eq!(requirement("POST", "/v2/apps"), BodyAppIds);
        assert_eq!(requirement("PATCH", "/v2/apps"), BodyAppIds);
        assert_eq!(requirement("PUT", "/v2/groups"), BodyGroupIds(PathId::root()));
        assert_eq!(requirement("GET", "/v2/apps/prod/web"), On(Access::Read, p("/prod/web")));
        assert_eq!(requirement("PUT", "/v2/apps/prod/web"), On(Access::Write, p("/prod/web")));
        assert_eq!(requirement("DELETE", "/v2/apps/prod/web/tasks/t1"), On(Access::Write, p("/prod/web")));
        assert_eq!(requirement("POST", "/v2/apps/prod/web/restart"), On(Access::Write, p("/prod/web")));
        assert_eq!(requirement("GET", "/v2/apps/prod/web/versions/x"), On(Access::Read, p("/prod/web")));
        assert_eq!(requirement("GET", "/v2/apps/prod/*"), ReadOrFiltered(p("/prod")));
        assert_eq!(requirement("GET", "/v2/groups"), ReadOrFiltered(PathId::root()));
        assert_eq!(requirement("GET", "/v2/groups/prod"), ReadOrFiltered(p("/prod")));
        assert_eq!(requirement("PUT", "/v2/groups/prod"), BodyGroupIds(p("/prod")));
        assert_eq!(requirement("POST", "/v2/groups/prod"), BodyGroupIds(p("/prod")));
        assert_eq!(requirement("DELETE", "/v2/groups/prod"), On(Access::Write, p("/prod")));
        assert_eq!(requirement("POST", "/v2/tasks/delete"), BodyTaskIds);
        assert_eq!(requirement("DELETE", "/v2/queue/prod/web/delay"), On(Access::Write, p("/prod/web")));
        assert_eq!(requirement("DELETE", "/v2/deployments/d1"), Deployment("d1".into()));
        assert_eq!(requirement("GET", "/v2/deployments"), Filtered);
        assert_eq!(requirement("GET", "/v2/events"), Filtered);
        assert_eq!(requirement("GET", "/v2/info"), Authenticated);
        assert_eq!(requirement("GET", "/v2/leader"), Authenticated);
        assert_eq!(requirement("DELETE", "/v2/leader"), On(Access::Admin, PathId::root()));
        assert_eq!(requirement("POST", "/v2/eventSubscriptions"), On(Access::Admin, PathId::root()));
        assert_eq!(requirement("GET", "/v2/eventSubscriptions"), On(Access::Admin, PathId::root()));
        assert_eq!(requirement("GET", "/ui/api/master/state"), On(Access::Admin, PathId::root()));
        assert_eq!(requirement("GET", "/ui/api/agents/a1/files/read"), On(Access::Admin, PathId::root()));
        assert_eq!(requirement("GET", "/ui/index.html"), Authenticated);
    }
}
