//! Where the master's [`Registry`] is kept: the [`RegistryStore`] seam, its implementations,
//! the file format, and the registry thread that loads it for each term and makes the core's
//! versions durable one after the other.
//!
//! [`FileRegistry`] (`--registry=work_dir`, the default without `--zk`) keeps it in one small
//! JSON file in the master's work dir, replaced atomically (written to a temporary file,
//! synced, renamed over the old one, directory synced). [`InMemoryRegistry`]
//! (`--registry=in_memory`) keeps nothing across restarts. [`ZkRegistry`]
//! (`--registry=zookeeper`, the default with `--zk`) keeps it in ZooKeeper, shared by the
//! masters that contend there, and fences every earlier leader's writes when a new leader
//! loads it.

mod zk;

pub use zk::ZkRegistry;

use crate::core::{AdmittedAgent, Registry};
use mesos_api::{AgentId, AgentInfo, FrameworkId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// `--registry`: where the registry lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RegistryKind {
    /// A file in `--work_dir` (`registry.json`): admitted agents survive a restart.
    #[value(name = "work_dir")]
    WorkDir,
    /// Nothing survives a restart (upstream's `in_memory`, for tests).
    #[value(name = "in_memory")]
    InMemory,
    /// In ZooKeeper under the `--zk` path (`<path>/log_replicas/registry`), shared by the
    /// masters that contend there: what upstream keeps in its replicated log.
    #[value(name = "zookeeper")]
    ZooKeeper,
}

impl RegistryKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::WorkDir => "work_dir",
            Self::InMemory => "in_memory",
            Self::ZooKeeper => "zookeeper",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("read registry {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("write registry {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("registry {path} is not valid: {source}")]
    Decode { path: PathBuf, source: serde_json::Error },
    #[error("registry {path} has format {format}; this master reads format {FORMAT}")]
    Format { path: PathBuf, format: u32 },
    #[error("registry {path} in ZooKeeper: {reason}")]
    ZooKeeper { path: String, reason: String },
    /// Another master loaded (claimed) the shared registry since this one did.
    #[error("registry {path}: another master claimed it since this one loaded it")]
    Fenced { path: String },
    #[error("registry {path}: stored before it was loaded")]
    NotLoaded { path: String },
}

/// Durable storage of the registry. `store` returns only once the registry is durable.
///
/// A master calls `load` when it starts to lead (each term), before it stores anything in
/// that term. A store shared by several masters ([`ZkRegistry`]) claims the registry there:
/// from then on the writes of whoever loaded it before fail with [`RegistryError::Fenced`].
pub trait RegistryStore: Send + 'static {
    /// The registry as last stored; `None` when nothing was ever stored.
    fn load(&mut self) -> Result<Option<Registry>, RegistryError>;
    /// Replaces the stored registry.
    fn store(&mut self, registry: &Registry) -> Result<(), RegistryError>;
}

/// The registry in memory only: lost with the process.
#[derive(Debug, Default)]
pub struct InMemoryRegistry {
    stored: Option<Registry>,
}

impl RegistryStore for InMemoryRegistry {
    fn load(&mut self) -> Result<Option<Registry>, RegistryError> {
        Ok(self.stored.clone())
    }

    fn store(&mut self, registry: &Registry) -> Result<(), RegistryError> {
        self.stored = Some(registry.clone());
        Ok(())
    }
}

/// The registry in `<work_dir>/registry.json`.
#[derive(Debug)]
pub struct FileRegistry {
    dir: PathBuf,
}

impl FileRegistry {
    pub const FILE: &'static str = "registry.json";
    const TEMPORARY: &'static str = "registry.json.new";

    pub fn new(work_dir: &Path) -> Self {
        Self { dir: work_dir.to_path_buf() }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(Self::FILE)
    }
}

impl RegistryStore for FileRegistry {
    fn load(&mut self) -> Result<Option<Registry>, RegistryError> {
        let path = self.path();
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(RegistryError::Read { path, source }),
        };
        decode(&bytes, &path).map(Some)
    }

    fn store(&mut self, registry: &Registry) -> Result<(), RegistryError> {
        let path = self.path();
        let temporary = self.dir.join(Self::TEMPORARY);
        let write = |path: &Path, what: &dyn Fn() -> std::io::Result<()>| {
            what().map_err(|source| RegistryError::Write { path: path.to_path_buf(), source })
        };
        write(&temporary, &|| {
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(&encode(registry))?;
            file.sync_all()
        })?;
        write(&path, &|| std::fs::rename(&temporary, &path))?;
        write(&self.dir, &|| std::fs::File::open(&self.dir)?.sync_all())
    }
}

// ---------------------------------------------------------------------------------------------
// The file format

/// The format this master writes and reads.
pub const FORMAT: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct RegistryFile {
    format: u32,
    #[serde(default)]
    agents: Vec<AgentRecord>,
    #[serde(default)]
    unreachable: Vec<RemovedRecord>,
    #[serde(default)]
    gone: Vec<RemovedRecord>,
    /// The principals agent ids are bound to (with `--authenticate_agents`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    principals: Vec<PrincipalRecord>,
    /// The principals framework ids are bound to (with `--authenticate_frameworks`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    framework_principals: Vec<FrameworkPrincipalRecord>,
}

#[derive(Debug, Serialize, Deserialize)]
struct PrincipalRecord {
    id: AgentId,
    principal: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct FrameworkPrincipalRecord {
    id: FrameworkId,
    principal: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct AgentRecord {
    info: AgentInfo,
    endpoint: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct RemovedRecord {
    id: AgentId,
    /// Seconds since the epoch.
    timestamp: f64,
}

fn removed(map: &BTreeMap<AgentId, f64>) -> Vec<RemovedRecord> {
    map.iter().map(|(id, timestamp)| RemovedRecord { id: id.clone(), timestamp: *timestamp }).collect()
}

pub fn encode(registry: &Registry) -> Vec<u8> {
    let file = RegistryFile {
        format: FORMAT,
        agents: registry
            .admitted
            .values()
            .map(|a| AgentRecord { info: a.info.clone(), endpoint: a.endpoint.clone() })
            .collect(),
        unreachable: removed(&registry.unreachable),
        gone: removed(&registry.gone),
        principals: registry
            .principals
            .iter()
            .map(|(id, principal)| PrincipalRecord { id: id.clone(), principal: principal.clone() })
            .collect(),
        framework_principals: registry
            .framework_principals
            .iter()
            .map(|(id, principal)| FrameworkPrincipalRecord { id: id.clone(), principal: principal.clone() })
            .collect(),
    };
    let mut bytes = mesos_api::json::to_ascii_vec(&file);
    bytes.push(b'\n');
    bytes
}

/// `path` names the source in errors.
pub fn decode(bytes: &[u8], path: &Path) -> Result<Registry, RegistryError> {
    let file: RegistryFile =
        serde_json::from_slice(bytes).map_err(|source| RegistryError::Decode { path: path.to_path_buf(), source })?;
    if file.format != FORMAT {
        return Err(RegistryError::Format { path: path.to_path_buf(), format: file.format });
    }
    let mut registry = Registry::default();
    for AgentRecord { info, endpoint } in file.agents {
        let Some(id) = info.id.clone() else {
            tracing::warn!(hostname = %info.hostname, "registry entry without an agent id skipped");
            continue;
        };
        registry.admitted.insert(id, AdmittedAgent { info, endpoint });
    }
    registry.unreachable = file.unreachable.into_iter().map(|r| (r.id, r.timestamp)).collect();
    registry.gone = file.gone.into_iter().map(|r| (r.id, r.timestamp)).collect();
    registry.principals = file.principals.into_iter().map(|r| (r.id, r.principal)).collect();
    registry.framework_principals = file.framework_principals.into_iter().map(|r| (r.id, r.principal)).collect();
    Ok(registry)
}

// ---------------------------------------------------------------------------------------------
// The registry thread

/// How long the thread waits before it tries a failed write again.
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// What the registry thread is asked to do.
#[derive(Debug)]
pub enum Job {
    /// Load the registry for `term` (a shared store claims it for this master first).
    Load { term: u64 },
    /// Store version `version` of `term`'s registry.
    Store { term: u64, version: u64, registry: Registry },
}

/// What the registry thread reports.
#[derive(Debug)]
pub enum Report {
    /// The load of `term` finished.
    Loaded { term: u64, result: Result<Option<Registry>, RegistryError> },
    /// Version `version` of `term` (and every earlier one) is durable.
    Stored { term: u64, version: u64 },
    /// A write of `term` was refused: another master claimed the registry since.
    Fenced { term: u64 },
}

/// The thread that owns the [`RegistryStore`]: it loads the registry when a term starts and
/// stores that term's versions one at a time. A failed write is retried until it succeeds, as
/// long as its term lasts: what waits for it (agent registrations, unreachable marks) waits
/// meanwhile, as it must. Jobs of a term that has ended are dropped.
#[derive(Debug, Clone)]
pub struct RegistryThread {
    jobs: std::sync::mpsc::Sender<Job>,
    term: Arc<AtomicU64>,
}

impl RegistryThread {
    /// Starts the thread; it reports through `report` until that returns `false`.
    pub fn spawn(mut store: Box<dyn RegistryStore>, report: impl Fn(Report) -> bool + Send + 'static) -> Self {
        let (jobs, rx) = std::sync::mpsc::channel::<Job>();
        let term = Arc::new(AtomicU64::new(0));
        let current = term.clone();
        let spawned = std::thread::Builder::new().name("master-registry".to_string()).spawn(move || {
            let live = |term: u64| current.load(Ordering::SeqCst) == term;
            while let Ok(job) = rx.recv() {
                let answer = match job {
                    Job::Load { term } if live(term) => {
                        let result = store.load();
                        Some(Report::Loaded { term, result })
                    }
                    Job::Store { term, version, registry } if live(term) => loop {
                        match store.store(&registry) {
                            Ok(()) => {
                                tracing::debug!(term, version, agents = registry.admitted.len(), "registry stored");
                                break Some(Report::Stored { term, version });
                            }
                            Err(e @ RegistryError::Fenced { .. }) => {
                                tracing::error!(error = %e, term, version, "registry write fenced");
                                break Some(Report::Fenced { term });
                            }
                            Err(e) => {
                                tracing::error!(error = %e, term, version, "cannot store the registry; retrying");
                                std::thread::sleep(RETRY_DELAY);
                                if !live(term) {
                                    tracing::info!(term, version, "term over: the registry write is dropped");
                                    break None;
                                }
                            }
                        }
                    },
                    Job::Load { .. } | Job::Store { .. } => None,
                };
                if let Some(answer) = answer
                    && !report(answer)
                {
                    return;
                }
            }
        });
        if let Err(e) = spawned {
            // Nothing is ever stored: registrations wait, and the error says why.
            tracing::error!(error = %e, "cannot start the registry thread");
        }
        Self { jobs, term }
    }

    /// From now on only jobs of `term` run (0: none).
    pub fn set_term(&self, term: u64) {
        self.term.store(term, Ordering::SeqCst);
    }

    /// Queues a job; `false` if the thread is gone.
    pub fn send(&self, job: Job) -> bool {
        self.jobs.send(job).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Registry {
        let mut registry = Registry::default();
        let info: AgentInfo = serde_json::from_value(serde_json::json!({
            "hostname": "h1", "port": 5051, "id": {"value": "m-S0"},
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 2.0}}],
            "attributes": [{"name": "rack", "type": "TEXT", "text": {"value": "a"}}],
        }))
        .expect("agent info");
        registry.admit(AdmittedAgent { info, endpoint: "10.0.0.1:5051".into() });
        registry.unreachable.insert(AgentId::new("m-S1"), 1_700_000_000.5);
        registry.gone.insert(AgentId::new("m-S2"), 1_700_000_001.0);
        registry.bind(&AgentId::new("m-S0"), "agent-principal");
        registry.bind_framework(&FrameworkId::new("m-0000"), "framework-principal");
        registry
    }

    #[test]
    fn a_stored_registry_loads_as_it_was() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = FileRegistry::new(dir.path());
        assert_eq!(store.load().expect("load"), None, "nothing stored yet");
        store.store(&sample()).expect("store");
        assert_eq!(FileRegistry::new(dir.path()).load().expect("load"), Some(sample()));
        assert!(!dir.path().join(FileRegistry::TEMPORARY).exists());
    }

    #[test]
    fn a_corrupt_or_newer_registry_is_an_error_not_an_empty_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FileRegistry::FILE);
        std::fs::write(&path, b"{\"format\": 1, \"agents\": [").expect("write");
        assert!(matches!(FileRegistry::new(dir.path()).load(), Err(RegistryError::Decode { .. })));
        std::fs::write(&path, b"{\"format\": 2}").expect("write");
        assert!(matches!(FileRegistry::new(dir.path()).load(), Err(RegistryError::Format { format: 2, .. })));
    }
}
