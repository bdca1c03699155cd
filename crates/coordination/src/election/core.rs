//! The decisions of a ZooKeeper election, without IO: [`Elector`] takes [`Input`]s (session state
//! changes, results of ZooKeeper operations, requests) and returns [`Command`]s (operations to
//! run, leadership to report). The shell (`election::shell`) runs the commands and feeds their
//! results back.
//!
//! The recipe is the one Mesos' group membership and Curator's `LeaderLatch` share: every
//! contender creates an ephemeral sequential node under one directory; the member with the lowest
//! sequence number leads; everyone lists the directory with a watch and looks again when it
//! changes. Details:
//!
//! - A contender leads only while its session is connected and its own node is the lowest
//!   member in the latest listing. On a disconnection it reports at once that it no longer knows
//!   (a disconnected session may expire at any moment, and the server deletes its node when it
//!   does, after which another contender leads); like Curator's default, it does not act again
//!   until it has reconnected and listed. When its session ends (expired, closed), it reports
//!   the loss first, then asks for a new session, and contends again with a new node.
//! - A create whose outcome is unknown (the connection broke while it was in flight) is resolved
//!   by looking for a member node owned by this session (Curator's "protection", done through
//!   the nodes' `ephemeralOwner`, which works for Mesos' names too).
//! - Its own node missing from a listing (deleted by someone) means: create a new one.
//! - Followers (and observers, which never create a node) read the leader's node and report its
//!   data.
//! - Abdicating deletes the own node and creates a new one, which queues behind the others.

/// How member nodes are named, and which children of the directory are members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Naming {
    /// Mesos masters: `json.info_<seq>` holding the MasterInfo JSON. Other children (legacy
    /// `info_` nodes, `log_replicas`) are not members.
    Mesos,
    /// Curator's `LeaderLatch` (Marathon): `_c_<uuid>-latch-<seq>` holding the participant id;
    /// ordered by the number after the last `latch-`.
    Curator {
        /// The protection prefix of this participant, `_c_<uuid>-`.
        protection: String,
    },
}

/// Mesos' label for MasterInfo JSON nodes.
pub const MESOS_PREFIX: &str = "json.info_";
/// Curator's lock name for leader latches.
pub const CURATOR_LOCK_NAME: &str = "latch-";

impl Naming {
    /// A Curator naming with a fresh protection id.
    pub fn curator() -> Naming {
        Naming::Curator { protection: format!("_c_{}-", uuid::Uuid::new_v4()) }
    }

    /// The name this participant creates its node with; ZooKeeper appends the sequence.
    pub fn create_prefix(&self) -> String {
        match self {
            Naming::Mesos => MESOS_PREFIX.to_owned(),
            Naming::Curator { protection } => format!("{protection}{CURATOR_LOCK_NAME}"),
        }
    }

    /// The sequence number of a member node; `None` for children that are not members.
    pub fn sequence(&self, name: &str) -> Option<i64> {
        let digits = match self {
            Naming::Mesos => name.strip_prefix(MESOS_PREFIX)?,
            Naming::Curator { .. } => {
                let at = name.rfind(CURATOR_LOCK_NAME)?;
                &name[at + CURATOR_LOCK_NAME.len()..]
            }
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }

    /// The members among `children`, lowest sequence (the leader) first.
    pub fn members(&self, children: &[String]) -> Vec<(i64, String)> {
        let mut members: Vec<(i64, String)> =
            children.iter().filter_map(|name| self.sequence(name).map(|seq| (seq, name.clone()))).collect();
        members.sort();
        members
    }
}

/// What a participant knows about the leadership; reported whenever it changes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Leadership {
    /// Not known (no session yet, disconnected, or not listed yet): do not act as leader.
    #[default]
    Unknown,
    /// This participant leads.
    Leader {
        /// Its node's name.
        node: String,
        /// Its node's sequence number (grows with every new member: usable as an epoch).
        sequence: i64,
    },
    /// Someone else leads (`Some`, with the data of its node), or nobody (`None`).
    Follower {
        /// The leader, if there is one.
        leader: Option<LeaderInfo>,
    },
}

impl Leadership {
    /// Whether this participant leads.
    pub fn is_leader(&self) -> bool {
        matches!(self, Leadership::Leader { .. })
    }
}

/// The leading member as a follower sees it.
#[derive(Clone, PartialEq, Eq)]
pub struct LeaderInfo {
    /// The leader's node name.
    pub node: String,
    /// Its data (MasterInfo JSON, a Marathon participant's `host:port`).
    pub data: Vec<u8>,
}

impl std::fmt::Debug for LeaderInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderInfo")
            .field("node", &self.node)
            .field("data", &String::from_utf8_lossy(&self.data))
            .finish()
    }
}

/// What happens to an [`Elector`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A new session is connected (the first one, or one after the previous ended).
    SessionStarted {
        /// The session id (owner of our ephemeral nodes).
        session: i64,
    },
    /// The connection broke; the session (and our node) may still be alive.
    Disconnected,
    /// The same session is connected again.
    Reconnected,
    /// The session ended (expired, closed, authentication failed): our node is gone.
    SessionEnded,
    /// Our node was created with this name.
    Created {
        /// Its name (prefix and sequence).
        name: String,
    },
    /// The create failed because the connection broke: it may or may not have happened.
    CreateUnknown,
    /// Children of the directory (a watch is armed on it).
    Children {
        /// Their names.
        names: Vec<String>,
    },
    /// The directory's children changed (the watch fired).
    ChildrenChanged,
    /// The leader's node data; `None` if the node is gone.
    LeaderData {
        /// The node read.
        node: String,
        /// Its data.
        data: Option<Vec<u8>>,
    },
    /// Result of [`Command::FindOwn`]: the member node this session owns, if any.
    OwnFound {
        /// Its name.
        name: Option<String>,
    },
    /// An operation failed for a reason other than the connection (e.g. no permission).
    Failed,
    /// Give up leadership (and queue again).
    Abdicate,
    /// Leave the election.
    Stop,
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Create our node (ephemeral sequential, `<dir>/<prefix>`, with our data) → `Created`,
    /// `CreateUnknown` or `Failed`.
    Create {
        /// The name before the sequence.
        prefix: String,
    },
    /// List the directory's children with a watch → `Children`, then `ChildrenChanged` when
    /// they change.
    List,
    /// Read a node's data → `LeaderData`.
    ReadLeader {
        /// The node.
        node: String,
    },
    /// Find the member node owned by the current session → `OwnFound`.
    FindOwn,
    /// Delete one of our nodes (missing is fine).
    Delete {
        /// The node.
        node: String,
    },
    /// End the current session (if any) and start a new one → `SessionStarted`.
    NewSession,
    /// Tell the caller.
    Report(Leadership),
    /// Leave: the election is over.
    Exit,
}

/// Where our node stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Own {
    /// Not created (or gone).
    None,
    /// A create is in flight.
    Creating,
    /// A create's outcome is unknown; resolved by `FindOwn` once connected.
    Unknown,
    /// Looking for it (`FindOwn` in flight).
    Finding,
    /// Our node.
    Node { name: String, sequence: i64 },
}

/// The state machine of one participant (a contender, or an observer that only follows).
#[derive(Debug)]
pub struct Elector {
    naming: Naming,
    contend: bool,
    /// A session is established (not necessarily connected).
    session: bool,
    connected: bool,
    own: Own,
    listing: bool,
    relist: bool,
    /// The leader we last read (node and data), to report without reading it again.
    leader: Option<LeaderInfo>,
    /// The node whose data we are reading (older reads are stale).
    reading: Option<String>,
    reported: Leadership,
    stopped: bool,
}

impl Elector {
    /// A participant that creates a node when `contend`, or only follows the leader.
    pub fn new(naming: Naming, contend: bool) -> Elector {
        Elector {
            naming,
            contend,
            session: false,
            connected: false,
            own: Own::None,
            listing: false,
            relist: false,
            leader: None,
            reading: None,
            reported: Leadership::Unknown,
            stopped: false,
        }
    }

    /// The naming.
    pub fn naming(&self) -> &Naming {
        &self.naming
    }

    /// What was reported last.
    pub fn leadership(&self) -> &Leadership {
        &self.reported
    }

    /// Takes one input; returns what to do, in order.
    pub fn handle(&mut self, input: Input) -> Vec<Command> {
        let mut out = Vec::new();
        if self.stopped {
            return out;
        }
        match input {
            Input::SessionStarted { .. } => {
                self.session = true;
                self.connected = true;
                self.own = Own::None;
                self.listing = false;
                self.relist = false;
                self.reading = None;
                if self.contend {
                    self.create(&mut out);
                } else {
                    self.list(&mut out);
                }
            }
            Input::Disconnected => {
                self.connected = false;
                self.report(Leadership::Unknown, &mut out);
            }
            Input::Reconnected => {
                if !self.session {
                    return out;
                }
                self.connected = true;
                // Requests in flight failed with the connection; start over from a listing.
                self.listing = false;
                self.reading = None;
                match self.own {
                    Own::Unknown | Own::Finding => {
                        self.own = Own::Finding;
                        out.push(Command::FindOwn);
                    }
                    Own::None if self.contend => self.create(&mut out),
                    _ => self.list(&mut out),
                }
            }
            Input::SessionEnded => {
                self.session = false;
                self.connected = false;
                self.own = Own::None;
                self.listing = false;
                self.leader = None;
                self.reading = None;
                self.report(Leadership::Unknown, &mut out);
                out.push(Command::NewSession);
            }
            Input::Created { name } => {
                if !matches!(self.own, Own::Creating) {
                    // Not ours to keep (we stopped wanting it): remove it.
                    out.push(Command::Delete { node: name });
                    return out;
                }
                match self.naming.sequence(&name) {
                    Some(sequence) => {
                        self.own = Own::Node { name, sequence };
                        self.list(&mut out);
                    }
                    None => {
                        // ZooKeeper named it unlike the prefix we gave: leave it and start over.
                        out.push(Command::Delete { node: name });
                        self.own = Own::None;
                        self.restart(&mut out);
                    }
                }
            }
            Input::CreateUnknown => {
                if matches!(self.own, Own::Creating) {
                    self.own = Own::Unknown;
                    if self.connected {
                        self.own = Own::Finding;
                        out.push(Command::FindOwn);
                    }
                }
            }
            Input::OwnFound { name } => {
                if !matches!(self.own, Own::Finding) || !self.connected {
                    return out;
                }
                match name.and_then(|name| self.naming.sequence(&name).map(|sequence| (name, sequence))) {
                    Some((name, sequence)) => {
                        self.own = Own::Node { name, sequence };
                        self.list(&mut out);
                    }
                    None => {
                        self.own = Own::None;
                        self.create(&mut out);
                    }
                }
            }
            Input::Children { names } => {
                self.listing = false;
                if !self.connected {
                    return out;
                }
                if self.relist {
                    self.relist = false;
                    self.list(&mut out);
                }
                self.decide(&names, &mut out);
            }
            Input::ChildrenChanged => {
                if self.connected {
                    self.list(&mut out);
                }
            }
            Input::LeaderData { node, data } => {
                if !self.connected || self.reading.as_ref() != Some(&node) {
                    return out;
                }
                self.reading = None;
                match data {
                    Some(data) => {
                        let leader = LeaderInfo { node, data };
                        self.leader = Some(leader.clone());
                        if !matches!(self.reported, Leadership::Leader { .. }) {
                            self.report(Leadership::Follower { leader: Some(leader) }, &mut out);
                        }
                    }
                    // Gone already: the next listing tells who leads now.
                    None => self.list(&mut out),
                }
            }
            Input::Failed => {
                self.report(Leadership::Unknown, &mut out);
                self.restart(&mut out);
            }
            Input::Abdicate => {
                if let Own::Node { name, .. } = &self.own {
                    let node = name.clone();
                    self.own = Own::None;
                    self.report(Leadership::Unknown, &mut out);
                    out.push(Command::Delete { node });
                    if self.connected {
                        self.create(&mut out);
                    }
                }
            }
            Input::Stop => {
                self.report(Leadership::Unknown, &mut out);
                if let Own::Node { name, .. } = &self.own {
                    out.push(Command::Delete { node: name.clone() });
                }
                self.own = Own::None;
                self.stopped = true;
                out.push(Command::Exit);
            }
        }
        out
    }

    fn create(&mut self, out: &mut Vec<Command>) {
        self.own = Own::Creating;
        out.push(Command::Create { prefix: self.naming.create_prefix() });
    }

    fn list(&mut self, out: &mut Vec<Command>) {
        if self.listing {
            self.relist = true;
            return;
        }
        self.listing = true;
        out.push(Command::List);
    }

    /// A new session: the blunt retry after an unexpected failure.
    fn restart(&mut self, out: &mut Vec<Command>) {
        self.session = false;
        self.connected = false;
        self.own = Own::None;
        self.listing = false;
        out.push(Command::NewSession);
    }

    fn report(&mut self, leadership: Leadership, out: &mut Vec<Command>) {
        if leadership != self.reported {
            self.reported = leadership.clone();
            out.push(Command::Report(leadership));
        }
    }

    /// Who leads, from a listing.
    fn decide(&mut self, names: &[String], out: &mut Vec<Command>) {
        let members = self.naming.members(names);
        if let Own::Node { name, sequence } = &self.own {
            if !members.iter().any(|(_, member)| member == name) {
                // Our node is gone although the session lives (someone deleted it): start over.
                self.report(Leadership::Unknown, out);
                self.create(out);
                return;
            }
            if members.first().is_some_and(|(_, first)| first == name) {
                let leadership = Leadership::Leader { node: name.clone(), sequence: *sequence };
                self.report(leadership, out);
                return;
            }
        }
        match members.first() {
            None => {
                self.leader = None;
                self.report(Leadership::Follower { leader: None }, out);
            }
            Some((_, first)) => match &self.leader {
                Some(leader) if &leader.node == first => {
                    let leadership = Leadership::Follower { leader: Some(leader.clone()) };
                    self.report(leadership, out);
                }
                _ => {
                    // Until its data is read, the leader is not known.
                    if self.reported.is_leader() {
                        self.report(Leadership::Unknown, out);
                    }
                    if self.reading.as_ref() != Some(first) {
                        self.reading = Some(first.clone());
                        out.push(Command::ReadLeader { node: first.clone() });
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests;
