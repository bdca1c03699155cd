//! Launching a task under its monitor.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::cgroups::TaskCgroups;
use crate::error::{Error, Result};
use crate::{sys, zygote};

/// What to run: Mesos `CommandInfo` semantics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskCommand {
    /// `shell: true`: `/bin/sh -c <command>` (argv `["sh", "-c", command]`).
    Shell(String),
    /// `shell: false`: exec `value` with `arguments` as the *whole* argv (`argv[0]`
    /// included). A `value` without a `/` is looked up in the task environment's
    /// `PATH` (`execvp` semantics, `/bin:/usr/bin` when `PATH` is unset). Empty
    /// `arguments` give argv `[value]`.
    Exec { value: String, arguments: Vec<String> },
}

/// Everything needed to start one task.
#[derive(Clone, Debug)]
pub struct LaunchSpec {
    pub command: TaskCommand,
    /// The task's environment, exactly (nothing is inherited or added).
    pub env: Vec<(String, String)>,
    /// Working directory (the sandbox). Must exist.
    pub working_dir: PathBuf,
    /// Opened `O_APPEND | O_CREAT` for the task's stdout / stderr. stdin is /dev/null.
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    /// Removed at launch; the monitor creates it when the task ends and writes the
    /// task's wait status there (so a launch creates no file for it). Its directory must
    /// exist. Keep it (e.g. next to the agent's checkpoint) to learn how the task ended
    /// across agent restarts.
    pub status_file: PathBuf,
    /// Cgroups to run the task in (joined before exec, so no descendant escapes).
    pub cgroups: Option<TaskCgroups>,
    /// Run as this user (`setgroups` / `setgid` / `setuid` after joining the cgroups and
    /// changing directory). `None`: the agent's own user.
    pub user: Option<String>,
    /// A private `/tmp`: the task gets a mount namespace of its own (mounts private, so
    /// nothing propagates to the host) with this directory (which must exist) bound on
    /// `/tmp`. `None`: the host's `/tmp`.
    pub private_tmp: Option<PathBuf>,
    /// Size rotation of `stdout` and `stderr` (upstream's logrotate container logger): the
    /// task writes into pipes and its monitor copies them into the files, rotating each at its
    /// max size. `None`: the task writes into the files itself, without a bound.
    pub log_rotation: Option<LogRotation>,
}

/// Size rotation of a task's `stdout` and `stderr` (see [`LaunchSpec::log_rotation`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogRotation {
    pub stdout: Rotate,
    pub stderr: Rotate,
}

/// logrotate's `size` and `rotate`: a file that reached `max_size` bytes becomes `<file>.1`
/// (older ones `.2` ... up to `.keep`, the oldest removed; `keep` 0: no old file is kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotate {
    pub max_size: u64,
    pub keep: u32,
}

/// A started task: plain integers so that the caller can checkpoint them and later
/// rebuild a [`crate::Monitored`] with [`crate::Monitored::recover`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Launched {
    /// Pid of the task's monitor.
    pub monitor_pid: i32,
    /// Pid of the task's top process, which is also its process group id.
    pub task_pid: i32,
    /// Field 22 of `/proc/<monitor_pid>/stat` (start time in clock ticks since boot),
    /// used to detect pid reuse when recovering.
    pub monitor_start_ticks: u64,
}

fn cstring(what: &'static str, bytes: &[u8]) -> Result<CString> {
    CString::new(bytes).map_err(|_| Error::invalid(what, "contains a NUL byte"))
}

/// A user's credentials, as a task started with `LaunchSpec::user` gets them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserCreds {
    pub uid: u32,
    /// The primary group.
    pub gid: u32,
    /// Every group the user is in (the primary one included).
    pub groups: Vec<u32>,
}

impl UserCreds {
    /// Looks `name` up (the passwd and group databases): [`Error::UnknownUser`] when there is
    /// no such user.
    pub fn lookup(name: &str) -> Result<UserCreds> {
        let user = nix::unistd::User::from_name(name)
            .map_err(|e| Error::sys("getpwnam", e.into()))?
            .ok_or_else(|| Error::UnknownUser(name.to_string()))?;
        let cname = cstring("user", name.as_bytes())?;
        let groups = nix::unistd::getgrouplist(&cname, user.gid).map_err(|e| Error::sys("getgrouplist", e.into()))?;
        Ok(UserCreds {
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
            groups: groups.into_iter().map(|g| g.as_raw()).collect(),
        })
    }

    /// Whether these credentials may read a file with this owner and mode (permission bits
    /// only, as the kernel checks them without ACLs; root reads everything).
    pub fn may_read(&self, owner_uid: u32, owner_gid: u32, mode: u32) -> bool {
        if self.uid == 0 {
            return true;
        }
        if owner_uid == self.uid {
            return mode & 0o400 != 0;
        }
        if owner_gid == self.gid || self.groups.contains(&owner_gid) {
            return mode & 0o040 != 0;
        }
        mode & 0o004 != 0
    }
}

/// Opens a task's output file, never through a symlink (the sandbox may belong to the task's
/// user, who could have made `stdout` a link to any file this process may write).
fn open_output(path: &Path) -> Result<OwnedFd> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map(OwnedFd::from)
        .map_err(|e| Error::io("open", path, e))
}

/// Starts the task described by `spec` under a new monitor process and returns once
/// the task is set up (in its cgroups, working directory and process group) and about
/// to exec.
///
/// Blocking (a few hundred microseconds); thread-safe, so several threads may launch
/// concurrently. An exec failure (missing binary, not executable) is *not* an error
/// here: the task exits 127 with a message on its stderr, as in Mesos. Failures
/// before exec (cgroups, working dir, user) are [`Error::Setup`], and then nothing of
/// the task is left running.
///
/// Monitors are forked by a helper process (the zygote) that this process starts on
/// first use and that exits with it; they are not children of the caller and are
/// reaped by the kernel as soon as they exit.
pub fn launch(spec: &LaunchSpec) -> Result<Launched> {
    launch_start(spec)?.finish(spec)
}

/// A launch whose request the zygote has (see [`launch_start`]); [`PendingLaunch::finish`]
/// waits for the monitor's report. Dropping it abandons the launch: a task whose report
/// nobody reads (the caller gave up, or died) is not started, or killed at once, and no
/// status file is written for it (nothing could record its launch).
#[derive(Debug)]
pub struct PendingLaunch {
    payload: Vec<u8>,
    report: OwnedFd,
    /// The zygote that got the request.
    zygote: libc::pid_t,
}

/// The first half of [`launch`]: sends the request to the zygote and returns without
/// waiting for the monitor, so that one thread can have several launches in flight (send
/// the next requests, then [`PendingLaunch::finish`] them in order) instead of one thread
/// (and two thread hand-offs) per launch. Blocking, but short.
pub fn launch_start(spec: &LaunchSpec) -> Result<PendingLaunch> {
    let payload = request_payload(spec)?;
    let (report, zygote) = send_request(spec, &payload)?;
    Ok(PendingLaunch { payload, report, zygote })
}

impl PendingLaunch {
    /// Waits (blocking) until the task is set up and about to exec, or its setup failed;
    /// `spec` must be the one given to [`launch_start`].
    pub fn finish(self, spec: &LaunchSpec) -> Result<Launched> {
        if let Some(launched) = read_report(self.report)? {
            return Ok(launched);
        }
        if zygote_gone(self.zygote) {
            let (pipe, _) = send_request(spec, &self.payload)?;
            if let Some(launched) = read_report(pipe)? {
                return Ok(launched);
            }
        }
        Err(no_report())
    }
}

/// [`launch`] for async callers: the request is sent right away (a short blocking
/// step), then the monitor's report is awaited without blocking a thread, so many
/// launches can be in flight at once. Must run inside a tokio runtime with I/O enabled.
pub async fn launch_async(spec: &LaunchSpec) -> Result<Launched> {
    let payload = request_payload(spec)?;
    for attempt in 0..2 {
        let (pipe, sent_to) = send_request(spec, &payload)?;
        if let Some(launched) = read_report_async(pipe).await? {
            return Ok(launched);
        }
        if attempt > 0 || !zygote_gone(sent_to) {
            break;
        }
    }
    Err(no_report())
}

/// After a request got no report at all: whether the zygote it went to (`sent_to`) died before
/// forking its monitor, so that the request should go once more to a new zygote (another
/// launch in flight may have found that zygote dead and replaced it already).
fn zygote_gone(sent_to: libc::pid_t) -> bool {
    zygote::reap_if_dead();
    !zygote::is_running(sent_to)
}

fn no_report() -> Error {
    Error::Setup { stage: "monitor report".into(), source: io::Error::other("the zygote did not start a monitor") }
}

/// How long to wait for a monitor's report before giving up.
const REPORT_TIMEOUT: Duration = Duration::from_secs(30);

fn report_timeout() -> Error {
    Error::Setup {
        stage: "monitor report".into(),
        source: io::Error::new(io::ErrorKind::TimedOut, "no report from the monitor"),
    }
}

/// Opens the task's files and a report pipe, and sends the request to the zygote.
/// Returns the read end of the report pipe and the zygote's pid.
fn send_request(spec: &LaunchSpec, payload: &[u8]) -> Result<(OwnedFd, libc::pid_t)> {
    let stdout = open_output(&spec.stdout)?;
    let stderr = open_output(&spec.stderr)?;
    // The monitor creates the status file when the task ends; a leftover is no status.
    match std::fs::remove_file(&spec.status_file) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("remove", &spec.status_file, e)),
    }
    let status_dir = status_dir(&spec.status_file);
    let status_dir = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(status_dir)
        .map_err(|e| Error::io("open", status_dir, e))?;
    let (report_r, report_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::sys("pipe2", e.into()))?;
    let zygote = zygote::send(payload, &[stdout.as_fd(), stderr.as_fd(), status_dir.as_fd(), report_w.as_fd()])?;
    // Our copies are closed on return, so that the report pipe reaches EOF.
    Ok((report_r, zygote))
}

/// The words of a shell command that `/bin/sh -c` would run as one program with those
/// arguments, found in `PATH` (`None` when the shell has anything else to do).
///
/// `sh -c 'sleep 600'` makes the shell exec `sleep` in its own process (dash and bash do not
/// fork for a last simple command), so exec'ing the words directly runs the same program
/// with the same argv, pid, environment and exit status, without starting a shell first
/// (a whole dynamically linked program start per task). Only plain words qualify: no
/// quoting, expansion, redirection, globbing, comments, operators or assignments, and a
/// first word that is not a shell builtin or reserved word. A program that cannot be run
/// exits 127 (126 when it is not executable) with a message on stderr, as from the shell.
pub(crate) fn simple_command(cmd: &str) -> Option<Vec<&str>> {
    const BUILTINS: &[&str] = &[
        "!", ".", ":", "[", "[[", "{", "}", "alias", "bg", "break", "builtin", "case", "cd", "chdir", "command",
        "continue", "declare", "do", "done", "echo", "elif", "else", "esac", "eval", "exec", "exit", "export", "false",
        "fc", "fg", "fi", "for", "function", "getopts", "hash", "if", "in", "jobs", "kill", "let", "local", "printf",
        "pwd", "read", "readonly", "return", "select", "set", "shift", "source", "test", "then", "time", "times",
        "trap", "true", "type", "typeset", "ulimit", "umask", "unalias", "unset", "until", "wait", "while",
    ];
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:,+=@%".contains(c);
    if !cmd.chars().all(|c| c == ' ' || plain(c)) {
        return None;
    }
    let words: Vec<&str> = cmd.split(' ').filter(|w| !w.is_empty()).collect();
    let first = *words.first()?;
    if first.contains('=') || BUILTINS.contains(&first) {
        return None;
    }
    Some(words)
}

/// The directory of the status file (`.` for a bare name).
fn status_dir(status_file: &Path) -> &Path {
    match status_file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The request payload (see `monitor/main.rs`): NUL-terminated fields.
fn request_payload(spec: &LaunchSpec) -> Result<Vec<u8>> {
    let (file, argv): (&str, Vec<&str>) = match &spec.command {
        TaskCommand::Shell(cmd) => match simple_command(cmd) {
            Some(words) => (words[0], words),
            None => ("/bin/sh", vec!["sh", "-c", cmd.as_str()]),
        },
        TaskCommand::Exec { value, arguments } => {
            if value.is_empty() {
                return Err(Error::invalid("command", "empty value"));
            }
            let argv = if arguments.is_empty() {
                vec![value.as_str()]
            } else {
                arguments.iter().map(String::as_str).collect()
            };
            (value.as_str(), argv)
        }
    };
    let creds = spec.user.as_deref().map(UserCreds::lookup).transpose()?;
    let procs: Vec<PathBuf> = spec.cgroups.as_ref().map(TaskCgroups::procs_files).unwrap_or_default();

    let mut out = Vec::with_capacity(256);
    let mut field = |what: &'static str, bytes: &[u8]| -> Result<()> {
        if bytes.contains(&0) {
            return Err(Error::invalid(what, "contains a NUL byte"));
        }
        out.extend_from_slice(bytes);
        out.push(0);
        Ok(())
    };
    field("working_dir", spec.working_dir.as_os_str().as_bytes())?;
    let status_name = spec
        .status_file
        .file_name()
        .ok_or_else(|| Error::invalid("status file", format!("{} has no file name", spec.status_file.display())))?;
    field("status file", status_name.as_bytes())?;
    field("private tmp", spec.private_tmp.as_ref().map(|p| p.as_os_str().as_bytes()).unwrap_or(b""))?;
    match &spec.log_rotation {
        None => field("log", b"")?,
        Some(r) => {
            field("log", b"1")?;
            for (rotate, path) in [(r.stdout, &spec.stdout), (r.stderr, &spec.stderr)] {
                field("log size", rotate.max_size.to_string().as_bytes())?;
                field("log count", rotate.keep.to_string().as_bytes())?;
                field("log path", path.as_os_str().as_bytes())?;
            }
        }
    }
    match &creds {
        Some(c) => {
            field("uid", c.uid.to_string().as_bytes())?;
            field("gid", c.gid.to_string().as_bytes())?;
            let groups: Vec<String> = c.groups.iter().map(u32::to_string).collect();
            field("groups", groups.join(",").as_bytes())?;
        }
        None => {
            field("uid", b"-")?;
            field("gid", b"-")?;
            field("groups", b"")?;
        }
    }
    field("cgroups", procs.len().to_string().as_bytes())?;
    for p in &procs {
        field("cgroup path", p.as_os_str().as_bytes())?;
    }
    field("command", file.as_bytes())?;
    field("arguments", argv.len().to_string().as_bytes())?;
    for a in &argv {
        field("argument", a.as_bytes())?;
    }
    field("environment", spec.env.len().to_string().as_bytes())?;
    for (k, v) in &spec.env {
        if k.is_empty() || k.contains('=') {
            return Err(Error::invalid("environment", format!("bad variable name {k:?}")));
        }
        field("environment", format!("{k}={v}").as_bytes())?;
    }
    Ok(out)
}

/// Parses the report lines: `monitor <pid> <ticks>` and `pid <task>` from the monitor,
/// `ok` (set up, about to exec) or `error <stage> <errno>` from the task.
#[derive(Default)]
struct ReportParser {
    buf: Vec<u8>,
    parsed: usize,
    monitor: Option<(i32, u64)>,
    task_pid: Option<i32>,
    ok: bool,
}

impl ReportParser {
    /// Feeds bytes read from the pipe (empty = EOF). `Some` once the outcome is known:
    /// `Ok(None)` means EOF before anything was reported (no monitor was started).
    fn feed(&mut self, bytes: &[u8]) -> Option<Result<Option<Launched>>> {
        self.buf.extend_from_slice(bytes);
        while let Some(nl) = self.buf[self.parsed..].iter().position(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(&self.buf[self.parsed..self.parsed + nl]).into_owned();
            self.parsed += nl + 1;
            let words: Vec<&str> = line.split(' ').collect();
            match words.as_slice() {
                ["monitor", pid, ticks] => self.monitor = pid.parse::<i32>().ok().zip(ticks.parse::<u64>().ok()),
                ["pid", pid] => self.task_pid = pid.parse::<i32>().ok().filter(|&p| p > 1),
                ["ok"] => self.ok = true,
                ["error", stage @ .., errno] => {
                    return Some(Err(Error::Setup {
                        stage: stage.join(" "),
                        source: io::Error::from_raw_os_error(errno.parse().unwrap_or(0)),
                    }));
                }
                _ => {}
            }
        }
        if let (Some((monitor_pid, monitor_start_ticks)), Some(task_pid), true) = (self.monitor, self.task_pid, self.ok)
        {
            return Some(Ok(Some(Launched { monitor_pid, task_pid, monitor_start_ticks })));
        }
        if bytes.is_empty() {
            if self.buf.is_empty() {
                return Some(Ok(None));
            }
            return Some(Err(Error::Setup {
                stage: "monitor report".into(),
                source: io::Error::other(format!("incomplete report {:?}", String::from_utf8_lossy(&self.buf))),
            }));
        }
        None
    }
}

/// Reads the report pipe until the task is set up, failed, or EOF. Does not wait for
/// the task's exec itself (an exec failure shows as exit 127).
fn read_report(pipe: OwnedFd) -> Result<Option<Launched>> {
    let deadline = Instant::now() + REPORT_TIMEOUT;
    let mut pipe = File::from(pipe);
    let mut parser = ReportParser::default();
    let mut chunk = [0u8; 256];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let left_ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
        if !sys::poll_readable(pipe.as_fd(), left_ms).map_err(|e| Error::sys("poll monitor report", e))? {
            return Err(report_timeout());
        }
        let n = match pipe.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::sys("read monitor report", e)),
        };
        if let Some(outcome) = parser.feed(&chunk[..n]) {
            return outcome;
        }
    }
}

async fn read_report_async(pipe: OwnedFd) -> Result<Option<Launched>> {
    nix::fcntl::fcntl(&pipe, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK))
        .map_err(|e| Error::sys("set O_NONBLOCK", e.into()))?;
    // `with_interest` is deprecated in recent tokio in favour of the `unsafe`
    // `register_with_interest` (an arbitrary `AsRawFd` could close its descriptor
    // behind tokio's back); an `OwnedFd` owned by the `AsyncFd` cannot, so this is sound.
    #[allow(deprecated)]
    let pipe = AsyncFd::with_interest(pipe, Interest::READABLE).map_err(|e| Error::sys("register report pipe", e))?;
    let mut parser = ReportParser::default();
    let mut chunk = [0u8; 256];
    let read = async {
        loop {
            let mut guard = pipe.readable().await.map_err(|e| Error::sys("poll monitor report", e))?;
            match guard.try_io(|fd| nix::unistd::read(fd.get_ref(), &mut chunk).map_err(io::Error::from)) {
                Ok(Ok(n)) => {
                    if let Some(outcome) = parser.feed(&chunk[..n]) {
                        return outcome;
                    }
                }
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => return Err(Error::sys("read monitor report", e)),
                Err(_would_block) => {}
            }
        }
    };
    tokio::time::timeout(REPORT_TIMEOUT, read).await.unwrap_or_else(|_| Err(report_timeout()))
}

#[cfg(test)]
mod simple_command_tests {
    use super::simple_command;

    #[test]
    fn plain_words_run_without_a_shell() {
        assert_eq!(simple_command("sleep 600"), Some(vec!["sleep", "600"]));
        assert_eq!(simple_command("  /usr/bin/env  -i  x=1 "), Some(vec!["/usr/bin/env", "-i", "x=1"]));
        assert_eq!(simple_command("python3 -m http.server 8000"), Some(vec!["python3", "-m", "http.server", "8000"]));
    }

    #[test]
    fn anything_the_shell_interprets_keeps_the_shell() {
        for cmd in [
            "",
            "   ",
            "python3 -m http.server $PORT0",
            "echo hello",
            "exit 1",
            "true",
            "cd /tmp",
            "FOO=1 env",
            "sleep 1; sleep 2",
            "sleep 1 && true",
            "sleep 1 | cat",
            "cat < x",
            "ls *",
            "ls ~",
            "echo 'x'",
            "echo \"x\"",
            "a\\ b",
            "sleep 1 # comment",
            "sleep\t1",
            "sleep 1\nsleep 2",
            "(sleep 1)",
            "sleep 1 &",
            "if true",
            "ls [ab]",
            "ls {a,b}",
            "sleep `echo 1`",
            "sléep 1",
        ] {
            assert_eq!(simple_command(cmd), None, "{cmd:?}");
        }
    }
}

#[cfg(test)]
mod user_tests {
    use super::UserCreds;

    #[test]
    fn read_rights_follow_the_permission_bits() {
        let user = UserCreds { uid: 1000, gid: 100, groups: vec![100, 27] };
        assert!(user.may_read(1000, 0, 0o400));
        assert!(!user.may_read(1000, 100, 0o044), "the owner's bits apply to the owner");
        assert!(user.may_read(0, 27, 0o640), "a supplementary group");
        assert!(!user.may_read(0, 0, 0o640), "root's file, not world-readable");
        assert!(user.may_read(0, 0, 0o644));
        let root = UserCreds { uid: 0, gid: 0, groups: vec![0] };
        assert!(root.may_read(1, 1, 0o000));
        assert!(matches!(UserCreds::lookup("no-such-user-x9"), Err(crate::Error::UnknownUser(_))));
        assert_eq!(UserCreds::lookup("root").map(|u| u.uid).ok(), Some(0));
    }
}
