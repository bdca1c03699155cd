//! Leader election in ZooKeeper as Mesos masters and Marathon (Curator's `LeaderLatch`) do it:
//! the decisions are the pure [`Elector`] (`core`); [`Election`] is the thin shell that runs it
//! against ZooKeeper on a tokio task and publishes the [`Leadership`] on a watch channel.
//!
//! A caller acts as leader only while the channel says [`Leadership::Leader`]. The shell
//! reports the loss at once when the session disconnects or expires (before anything else), then
//! reconnects with a new session and contends again. Fencing of what a deposed leader may still
//! be writing is the store's business (generations, `store` crate).

mod core;

pub use self::core::{CURATOR_LOCK_NAME, Command, Elector, Input, LeaderInfo, Leadership, MESOS_PREFIX, Naming};
use crate::session;
use crate::url::ZkUrl;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use zookeeper_client::{Client, CreateMode, Error as ZkError, EventType, SessionState};

/// What to contend for (or follow).
#[derive(Debug, Clone)]
pub struct ElectionConfig {
    /// The servers and credentials (its path is not used: see `dir`).
    pub url: ZkUrl,
    /// The directory of the member nodes (`/mesos`, `/marathon/leader-curator`).
    pub dir: String,
    /// How members are named.
    pub naming: Naming,
    /// The data of our node (MasterInfo JSON, `host:port`).
    pub data: Vec<u8>,
    /// `false` for an observer that only follows the leader (a master detector).
    pub contend: bool,
    /// The ZooKeeper session timeout.
    pub session_timeout: Duration,
}

enum Control {
    Abdicate,
    Stop,
}

/// A running participant. Dropping it leaves the election (its node is deleted, its session
/// closed) in the background; [`Election::stop`] does that and waits.
pub struct Election {
    leadership: watch::Receiver<Leadership>,
    control: mpsc::UnboundedSender<Control>,
    task: Option<JoinHandle<()>>,
}

impl Election {
    /// Starts participating, on the current tokio runtime (panics outside one).
    pub fn start(config: ElectionConfig) -> Election {
        let (report, leadership) = watch::channel(Leadership::Unknown);
        let (control, control_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(config, report, control_rx));
        Election { leadership, control, task: Some(task) }
    }

    /// The leadership as it changes.
    pub fn leadership(&self) -> watch::Receiver<Leadership> {
        self.leadership.clone()
    }

    /// The leadership now.
    pub fn current(&self) -> Leadership {
        self.leadership.borrow().clone()
    }

    /// Gives up leadership: deletes our node and queues again behind the others.
    pub fn abdicate(&self) {
        let _ = self.control.send(Control::Abdicate);
    }

    /// Leaves the election: reports [`Leadership::Unknown`], deletes our node, closes the
    /// session, and waits until that is done.
    pub async fn stop(mut self) {
        let _ = self.control.send(Control::Stop);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Election {
    fn drop(&mut self) {
        let _ = self.control.send(Control::Stop);
    }
}

/// What the shell's operation tasks send back.
enum Message {
    Input(Input),
    Session(Client),
}

/// The shell: owns the elector, the session, and the operations in flight (each on a task of
/// its own, so a slow operation never delays a state change).
struct Shell {
    config: ElectionConfig,
    elector: Elector,
    report: watch::Sender<Leadership>,
    client: Option<Client>,
    /// Counts sessions; results of an older session's operations are dropped.
    epoch: u64,
    messages: mpsc::UnboundedSender<(u64, Message)>,
    last_delete: Option<JoinHandle<()>>,
    exit: bool,
}

async fn run(config: ElectionConfig, report: watch::Sender<Leadership>, mut control: mpsc::UnboundedReceiver<Control>) {
    let (messages, mut inbox) = mpsc::unbounded_channel();
    let naming = config.naming.clone();
    let contend = config.contend;
    let mut shell = Shell {
        config,
        elector: Elector::new(naming, contend),
        report,
        client: None,
        epoch: 0,
        messages,
        last_delete: None,
        exit: false,
    };
    shell.execute(Command::NewSession);
    let mut state: Option<zookeeper_client::StateWatcher> = None;
    while !shell.exit {
        let changed = async {
            match state.as_mut() {
                Some(watcher) => Some(watcher.changed().await),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            Some(new_state) = changed => {
                let input = match new_state {
                    SessionState::SyncConnected => Input::Reconnected,
                    SessionState::Disconnected | SessionState::ConnectedReadOnly => Input::Disconnected,
                    SessionState::Expired | SessionState::Closed | SessionState::AuthFailed => {
                        tracing::warn!(state = %new_state, dir = %shell.config.dir, "ZooKeeper session ended");
                        state = None;
                        Input::SessionEnded
                    }
                };
                shell.feed(input);
            }
            request = control.recv() => {
                shell.feed(match request {
                    Some(Control::Abdicate) => Input::Abdicate,
                    Some(Control::Stop) | None => Input::Stop,
                });
            }
            Some((epoch, message)) = inbox.recv() => {
                if epoch != shell.epoch {
                    continue;
                }
                match message {
                    Message::Input(input) => shell.feed(input),
                    Message::Session(client) => {
                        let session = client.session_id().0;
                        tracing::info!(session = format!("{session:#x}"), dir = %shell.config.dir, "ZooKeeper session started");
                        state = Some(client.state_watcher());
                        shell.client = Some(client);
                        shell.feed(Input::SessionStarted { session });
                    }
                }
            }
        }
    }
    if let Some(delete) = shell.last_delete.take() {
        let _ = tokio::time::timeout(shell.config.session_timeout, delete).await;
    }
}

impl Shell {
    fn feed(&mut self, input: Input) {
        for command in self.elector.handle(input) {
            self.execute(command);
        }
    }

    /// Runs a command; ZooKeeper operations run on tasks that send their result back.
    fn execute(&mut self, command: Command) {
        let epoch = self.epoch;
        let tx = self.messages.clone();
        let send = move |input: Input| {
            let _ = tx.send((epoch, Message::Input(input)));
        };
        let dir = self.config.dir.clone();
        let acls = session::election_acls(&self.config.url);
        match command {
            Command::Report(leadership) => {
                tracing::info!(?leadership, dir = %dir, "leadership");
                self.report.send_replace(leadership);
            }
            Command::Exit => {
                self.exit = true;
                self.client = None;
            }
            Command::NewSession => {
                self.epoch += 1;
                self.client = None;
                let epoch = self.epoch;
                let tx = self.messages.clone();
                let url = self.config.url.clone();
                let timeout = self.config.session_timeout;
                tokio::spawn(async move {
                    let mut backoff = Duration::from_millis(100);
                    loop {
                        match session::connect(&url, timeout).await {
                            Ok(client) => {
                                let _ = tx.send((epoch, Message::Session(client)));
                                return;
                            }
                            Err(err) => {
                                tracing::warn!(%url, %err, "cannot open a ZooKeeper session; retrying");
                                tokio::time::sleep(backoff).await;
                                backoff = (backoff * 2).min(Duration::from_secs(2));
                            }
                        }
                    }
                });
            }
            Command::Create { prefix } => {
                let Some(client) = self.client.clone() else { return };
                let data = self.config.data.clone();
                tokio::spawn(async move {
                    let options = CreateMode::EphemeralSequential.with_acls(acls);
                    let path = format!("{dir}/{prefix}");
                    let mut created = client.create(&path, &data, &options).await;
                    if created == Err(ZkError::NoNode) {
                        let _ = client.mkdir(&dir, &CreateMode::Persistent.with_acls(acls)).await;
                        created = client.create(&path, &data, &options).await;
                    }
                    match created {
                        Ok((_, sequence)) => send(Input::Created { name: format!("{prefix}{sequence}") }),
                        Err(err) if session_ended(&err) => {}
                        Err(err) if connection_trouble(&err) => send(Input::CreateUnknown),
                        Err(err) => {
                            tracing::warn!(%path, %err, "cannot create the election node");
                            send(Input::Failed);
                        }
                    }
                });
            }
            Command::List => {
                let Some(client) = self.client.clone() else { return };
                tokio::spawn(async move {
                    let mut listed = client.list_and_watch_children(&dir).await;
                    if matches!(listed, Err(ZkError::NoNode)) {
                        let _ = client.mkdir(&dir, &CreateMode::Persistent.with_acls(acls)).await;
                        listed = client.list_and_watch_children(&dir).await;
                    }
                    drop(client);
                    match listed {
                        Ok((names, watcher)) => {
                            send(Input::Children { names });
                            let event = watcher.changed().await;
                            if event.event_type != EventType::Session {
                                send(Input::ChildrenChanged);
                            }
                        }
                        Err(err) if connection_trouble(&err) || session_ended(&err) => {}
                        Err(err) => {
                            tracing::warn!(%dir, %err, "cannot list the election directory");
                            send(Input::Failed);
                        }
                    }
                });
            }
            Command::ReadLeader { node } => {
                let Some(client) = self.client.clone() else { return };
                tokio::spawn(async move {
                    let path = format!("{dir}/{node}");
                    match client.get_data(&path).await {
                        Ok((data, _)) => send(Input::LeaderData { node, data: Some(data) }),
                        Err(ZkError::NoNode) => send(Input::LeaderData { node, data: None }),
                        Err(err) if connection_trouble(&err) || session_ended(&err) => {}
                        Err(err) => {
                            tracing::warn!(%path, %err, "cannot read the leader's node");
                            send(Input::Failed);
                        }
                    }
                });
            }
            Command::FindOwn => {
                let Some(client) = self.client.clone() else { return };
                let naming = self.elector.naming().clone();
                tokio::spawn(async move {
                    let session = client.session_id().0;
                    let children = match client.list_children(&dir).await {
                        Ok(children) => children,
                        Err(ZkError::NoNode) => Vec::new(),
                        Err(err) if connection_trouble(&err) || session_ended(&err) => return,
                        Err(err) => {
                            tracing::warn!(%dir, %err, "cannot list the election directory");
                            return send(Input::Failed);
                        }
                    };
                    for (_, name) in naming.members(&children) {
                        match client.check_stat(&format!("{dir}/{name}")).await {
                            Ok(Some(stat)) if stat.ephemeral_owner == session => {
                                return send(Input::OwnFound { name: Some(name) });
                            }
                            Ok(_) => {}
                            Err(err) if connection_trouble(&err) || session_ended(&err) => return,
                            Err(_) => return send(Input::Failed),
                        }
                    }
                    send(Input::OwnFound { name: None });
                });
            }
            Command::Delete { node } => {
                let Some(client) = self.client.clone() else { return };
                self.last_delete = Some(tokio::spawn(async move {
                    let path = format!("{dir}/{node}");
                    match client.delete(&path, None).await {
                        Ok(()) | Err(ZkError::NoNode) => {}
                        Err(err) => tracing::warn!(%path, %err, "cannot delete our election node"),
                    }
                }));
            }
        }
    }
}

/// Errors after which the session's state watcher reports what happened.
fn session_ended(err: &ZkError) -> bool {
    matches!(err, ZkError::SessionExpired | ZkError::ClientClosed | ZkError::AuthFailed | ZkError::SessionMoved)
}

/// Errors of a broken connection: the operation may or may not have happened.
fn connection_trouble(err: &ZkError) -> bool {
    matches!(err, ZkError::ConnectionLoss | ZkError::Timeout | ZkError::Custom(_))
}
