//! The zygote: the embedded helper program, exec'd once per process, that forks one
//! monitor per task (see `monitor/main.rs` for the protocol).

use std::ffi::CString;
use std::fs::OpenOptions;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use nix::sys::socket::{AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType};

use crate::error::{Error, Result};
use crate::sys::{self, CStringArray, Exe};

/// The helper program built by `build.rs` from `monitor/main.rs`.
static MONITOR_BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/containerizer-monitor"));

/// Request header magic (protocol version 2).
const MAGIC: &[u8; 4] = b"CZ04";

/// How the helper executable is reached (resolved once per process).
enum HelperExe {
    Memfd(OwnedFd),
    Path(CString),
}

fn helper_exe() -> Result<&'static HelperExe> {
    static EXE: OnceLock<std::result::Result<HelperExe, String>> = OnceLock::new();
    EXE.get_or_init(init_helper_exe).as_ref().map_err(|reason| Error::invalid("helper executable", reason.clone()))
}

/// Puts the embedded helper into a sealed memfd and checks that it can be exec'd;
/// falls back to a file in `$CONTAINERIZER_MONITOR_DIR` or the temp dir (e.g. when
/// `vm.memfd_noexec` forbids executable memfds).
fn init_helper_exe() -> std::result::Result<HelperExe, String> {
    let probe = |path: &Path| {
        std::process::Command::new(path)
            .arg("--probe")
            .env_clear()
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    // Keep the memfd away from the low descriptor numbers the spawn moves fds to.
    let memfd = sys::exec_memfd(c"containerizer-monitor", MONITOR_BYTES).and_then(|fd| sys::fd_at_least(fd, 16));
    let memfd_err = match memfd {
        Ok(fd) => {
            use std::os::fd::AsRawFd;
            if probe(Path::new(&format!("/proc/self/fd/{}", fd.as_raw_fd()))) {
                return Ok(HelperExe::Memfd(fd));
            }
            "memfd is not executable".to_string()
        }
        Err(e) => format!("memfd_create: {e}"),
    };
    let dir = std::env::var_os("CONTAINERIZER_MONITOR_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let hash =
        MONITOR_BYTES.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let path = dir.join(format!("containerizer-monitor-{hash:016x}"));
    let write = || -> io::Result<()> {
        if std::fs::read(&path).ok().as_deref() == Some(MONITOR_BYTES) {
            return Ok(());
        }
        let tmp = dir.join(format!("containerizer-monitor-{hash:016x}.{}.tmp", std::process::id()));
        {
            let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(0o755).open(&tmp)?;
            io::Write::write_all(&mut f, MONITOR_BYTES)?;
        }
        std::fs::rename(&tmp, &path)
    };
    if let Err(e) = write() {
        return Err(format!("{memfd_err}; writing {}: {e}", path.display()));
    }
    if !probe(&path) {
        return Err(format!("{memfd_err}; {} cannot be executed", path.display()));
    }
    tracing::warn!(
        path = %path.display(),
        reason = %memfd_err,
        "containerizer: running the helper from a file instead of a memfd"
    );
    CString::new(path.as_os_str().as_bytes())
        .map(HelperExe::Path)
        .map_err(|_| "monitor path contains a NUL byte".to_string())
}

/// The running zygote of this process.
struct Zygote {
    sock: OwnedFd,
    pid: libc::pid_t,
}

static ZYGOTE: Mutex<Option<Zygote>> = Mutex::new(None);

fn spawn_zygote() -> Result<Zygote> {
    let exe = helper_exe()?;
    let exe = match exe {
        HelperExe::Memfd(fd) => Exe::Fd(fd.as_fd()),
        HelperExe::Path(p) => Exe::Path(p.as_c_str()),
    };
    let (ours, theirs) =
        nix::sys::socket::socketpair(AddressFamily::Unix, SockType::Stream, None, SockFlag::SOCK_CLOEXEC)
            .map_err(|e| Error::sys("socketpair", e.into()))?;
    // Zygote fds: 0, 1 = /dev/null, 2 = our stderr (for its rare diagnostics), 3 = socket.
    const SLOTS: RawFd = 4;
    let at_least = |fd: OwnedFd, what: &'static str| sys::fd_at_least(fd, SLOTS + 1).map_err(|e| Error::sys(what, e));
    let devnull = std::fs::File::open("/dev/null").map_err(|e| Error::io("open", "/dev/null", e))?;
    let devnull = at_least(devnull.into(), "dup /dev/null")?;
    let stderr = match io::stderr().as_fd().try_clone_to_owned() {
        Ok(fd) => at_least(fd, "dup stderr")?,
        Err(_) => devnull.try_clone().map_err(|e| Error::sys("dup /dev/null", e))?,
    };
    let theirs = at_least(theirs, "dup socket")?;
    if let Exe::Fd(fd) = &exe
        && fd.as_raw_fd() <= SLOTS
    {
        return Err(Error::invalid("helper executable", "memfd has a low number"));
    }
    let argv = CStringArray::new(vec![c"containerizer-monitor".to_owned(), c"--zygote".to_owned()]);
    let envp = CStringArray::new(Vec::new());
    let fds = [devnull.as_fd(), devnull.as_fd(), stderr.as_fd(), theirs.as_fd()];
    let pid = sys::spawn_helper(exe, &argv, &envp, &fds)
        .map_err(|e| Error::Setup { stage: format!("start zygote: {}", e.stage), source: e.source })?;
    Ok(Zygote { sock: ours, pid })
}

/// Sends one request (header + payload, with `fds`) to the zygote, starting it first
/// if needed, and restarting it once if it has died. Returns the pid of the zygote that got
/// it (see [`is_running`]).
pub(crate) fn send(payload: &[u8], fds: &[BorrowedFd<'_>]) -> Result<libc::pid_t> {
    let len = u32::try_from(payload.len()).map_err(|_| Error::invalid("command", "too large"))?;
    let mut header = [0u8; 8];
    header[..4].copy_from_slice(MAGIC);
    header[4..].copy_from_slice(&len.to_le_bytes());
    let raw: Vec<RawFd> = fds.iter().map(|fd| fd.as_raw_fd()).collect();

    let mut guard = ZYGOTE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    for attempt in 0..2 {
        if guard.is_none() {
            *guard = Some(spawn_zygote()?);
        }
        let Some(z) = guard.as_ref() else { continue };
        match send_all(z.sock.as_fd(), &header, payload, &raw) {
            Ok(()) => return Ok(z.pid),
            Err(e) if attempt == 0 => {
                // The zygote died (EPIPE / ECONNRESET): reap it and start a new one.
                tracing::warn!(error = %e, pid = z.pid, "containerizer: zygote gone, restarting it");
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(z.pid), nix::sys::signal::Signal::SIGKILL);
                sys::reap_blocking(z.pid);
                *guard = None;
            }
            Err(e) => return Err(Error::sys("send request to zygote", e)),
        }
    }
    Err(Error::sys("send request to zygote", io::Error::other("zygote unavailable")))
}

/// Whether `pid` is the zygote in use (after [`reap_if_dead`], a dead one no longer is).
pub(crate) fn is_running(pid: libc::pid_t) -> bool {
    let guard = ZYGOTE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    guard.as_ref().is_some_and(|z| z.pid == pid)
}

/// Forgets the zygote if it has died (so that the next request starts a new one).
/// Returns whether it was found dead.
pub(crate) fn reap_if_dead() -> bool {
    let mut guard = ZYGOTE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let Some(z) = guard.as_ref() else { return false };
    // A live zygote never closes its end of the socket, and a dying one closes it
    // (with all its descriptors) before it can be waited for.
    if !sys::peer_closed(z.sock.as_fd()) {
        return false;
    }
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(z.pid), nix::sys::signal::Signal::SIGKILL);
    sys::reap_blocking(z.pid);
    *guard = None;
    true
}

fn send_all(sock: BorrowedFd<'_>, header: &[u8], payload: &[u8], fds: &[RawFd]) -> io::Result<()> {
    let iov = [IoSlice::new(header), IoSlice::new(payload)];
    let cmsg = [ControlMessage::ScmRights(fds)];
    let total = header.len() + payload.len();
    let mut sent = loop {
        match nix::sys::socket::sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(n) => break n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    };
    // A large payload may go out in pieces (the descriptors went with the first one).
    while sent < total {
        let rest: &[u8] = if sent < header.len() { &header[sent..] } else { &payload[sent - header.len()..] };
        match nix::sys::socket::send(sock.as_raw_fd(), rest, MsgFlags::MSG_NOSIGNAL) {
            Ok(n) => sent += n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
