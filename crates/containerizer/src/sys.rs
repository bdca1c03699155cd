//! The only module with `unsafe` code: process creation and a few raw syscalls.
//!
//! # Spawning the helper (zygote)
//!
//! The agent is a multi-threaded tokio program. The helper is started with
//! `clone(CLONE_VM | CLONE_VFORK)` (what glibc's `posix_spawn` does): the child borrows
//! the caller's address space on a separate stack until it execs, so no page tables
//! are copied however large the agent is, and the calling thread is suspended until
//! the child has exec'd (or exited). Between clone and exec the child only makes
//! async-signal-safe system calls: no allocation, no locks, no logging; everything it
//! touches (argv/envp pointer arrays, fds, the executable) is prepared beforehand.
//!
//! All signals are blocked in the calling thread across the clone so that no agent
//! signal handler can run in the child (it shares the agent's memory); the child resets
//! every disposition to `SIG_DFL` and then unblocks everything before exec.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

/// A NUL-terminated array of C strings (argv / envp) that owns its strings.
pub(crate) struct CStringArray {
    _strings: Vec<CString>,
    ptrs: Vec<*const c_char>,
}

// SAFETY: the raw pointers only point into `_strings`, which the array owns and never
// mutates; sharing or moving the array across threads is as safe as for `Vec<CString>`.
unsafe impl Send for CStringArray {}
// SAFETY: see `Send`; there is no interior mutability.
unsafe impl Sync for CStringArray {}

impl CStringArray {
    pub(crate) fn new(strings: Vec<CString>) -> Self {
        let mut ptrs: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        CStringArray { _strings: strings, ptrs }
    }

    fn as_ptr(&self) -> *const *const c_char {
        self.ptrs.as_ptr()
    }
}

/// How the helper executable is reached.
pub(crate) enum Exe<'a> {
    /// An open (memfd) descriptor, exec'd with `fexecve`.
    Fd(BorrowedFd<'a>),
    /// A path, exec'd with `execve`.
    Path(&'a CStr),
}

/// Why spawning failed: which step, and the errno.
#[derive(Debug)]
pub(crate) struct SpawnError {
    pub(crate) stage: &'static str,
    pub(crate) source: io::Error,
}

const STAGES: [&str; 6] = ["", "clone", "setsid", "dup2", "close_range", "exec helper"];
const STAGE_CLONE: usize = 1;
const STAGE_SETSID: usize = 2;
const STAGE_DUP2: usize = 3;
const STAGE_CLOSE: usize = 4;
const STAGE_EXEC: usize = 5;

/// Everything the child needs, prepared by the parent; lives on the parent's stack
/// for the whole (vfork-suspended) lifetime of the child's use of it.
struct ChildArgs {
    exe_fd: c_int,
    exe_path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    fds: *const c_int,
    nfds: usize,
    stage: AtomicUsize,
    errno: AtomicI32,
}

const CHILD_STACK_SIZE: usize = 64 * 1024;
/// Highest signal number + 1 on Linux (`_NSIG`).
const NSIG: c_int = 65;

/// Starts the helper executable with `fds[i]` as its descriptor `i` and nothing else
/// open, in a new session, with default signal dispositions and an empty signal mask.
///
/// Every descriptor in `fds` (and an `Exe::Fd`) must be numbered `>= fds.len() + 1`
/// (see [`fd_at_least`]) so that placing them cannot clobber one another.
///
/// Returns the helper's pid once it has exec'd. On failure after the clone the child
/// has been reaped already.
pub(crate) fn spawn_helper(
    exe: Exe<'_>,
    argv: &CStringArray,
    envp: &CStringArray,
    fds: &[BorrowedFd<'_>],
) -> Result<libc::pid_t, SpawnError> {
    let raw_fds: Vec<c_int> = fds.iter().map(|fd| fd.as_raw_fd()).collect();
    let (exe_fd, exe_path) = match exe {
        Exe::Fd(fd) => (fd.as_raw_fd(), std::ptr::null()),
        Exe::Path(path) => (-1, path.as_ptr()),
    };
    let limit = raw_fds.len() as c_int;
    if raw_fds.iter().chain([exe_fd].iter()).any(|&fd| fd >= 0 && fd <= limit) {
        return Err(SpawnError { stage: "prepare descriptors", source: io::Error::from_raw_os_error(libc::EINVAL) });
    }
    let args = ChildArgs {
        exe_fd,
        exe_path,
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        fds: raw_fds.as_ptr(),
        nfds: raw_fds.len(),
        stage: AtomicUsize::new(0),
        errno: AtomicI32::new(0),
    };
    let mut stack = vec![0u8; CHILD_STACK_SIZE];
    // The stack grows down on every Linux architecture we support; keep it 16-aligned.
    let top = ((stack.as_mut_ptr() as usize + CHILD_STACK_SIZE) & !15) as *mut c_void;

    // SAFETY: sigset_t is plain data, initialised by sigfillset/pthread_sigmask.
    let pid = unsafe {
        let mut all = MaybeUninit::<libc::sigset_t>::uninit();
        let mut old = MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigfillset(all.as_mut_ptr());
        libc::pthread_sigmask(libc::SIG_SETMASK, all.as_ptr(), old.as_mut_ptr());
        // SAFETY: `helper_child` never returns into this frame: it execs or `_exit`s.
        // With CLONE_VFORK this thread is suspended until then, so `args`, `stack`,
        // `raw_fds` and the argv/envp arrays outlive every use by the child.
        let pid = libc::clone(
            helper_child,
            top,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&args as *const ChildArgs).cast_mut().cast(),
        );
        let clone_err = io::Error::last_os_error();
        libc::pthread_sigmask(libc::SIG_SETMASK, old.as_ptr(), std::ptr::null_mut());
        if pid < 0 {
            return Err(SpawnError { stage: STAGES[STAGE_CLONE], source: clone_err });
        }
        pid
    };
    drop(stack);
    let stage = args.stage.load(Ordering::SeqCst);
    if stage != 0 {
        reap_blocking(pid);
        return Err(SpawnError {
            stage: STAGES.get(stage).copied().unwrap_or("spawn"),
            source: io::Error::from_raw_os_error(args.errno.load(Ordering::SeqCst)),
        });
    }
    Ok(pid)
}

/// The vfork child. Async-signal-safe system calls only.
extern "C" fn helper_child(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `ChildArgs` of `spawn_helper`, alive while the parent is
    // suspended. All pointers in it are valid, NUL-terminated where required, and only
    // read. Only raw system calls follow, then exec or `_exit`.
    unsafe {
        let a = &*(arg as *const ChildArgs);
        if libc::setsid() < 0 {
            child_fail(a, STAGE_SETSID);
        }
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        for sig in 1..NSIG {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                // Fails harmlessly (EINVAL) for the signals glibc reserves.
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
            }
        }
        let mut empty = MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigemptyset(empty.as_mut_ptr());
        libc::sigprocmask(libc::SIG_SETMASK, empty.as_ptr(), std::ptr::null_mut());

        for i in 0..a.nfds {
            let fd = *a.fds.add(i);
            // dup2 clears FD_CLOEXEC on the new descriptor.
            if libc::dup2(fd, i as c_int) < 0 {
                child_fail(a, STAGE_DUP2);
            }
        }
        let mut keep = a.nfds as c_int;
        let mut exe_fd = a.exe_fd;
        if exe_fd >= 0 {
            if libc::dup3(exe_fd, keep, libc::O_CLOEXEC) < 0 {
                child_fail(a, STAGE_DUP2);
            }
            exe_fd = keep;
            keep += 1;
        }
        if !close_from(keep) {
            child_fail(a, STAGE_CLOSE);
        }
        if exe_fd >= 0 {
            libc::fexecve(exe_fd, a.argv, a.envp);
        } else {
            libc::execve(a.exe_path, a.argv, a.envp);
        }
        child_fail(a, STAGE_EXEC)
    }
}

/// Records the failing step and errno for the parent (shared memory) and exits.
///
/// # Safety
/// Only for the vfork child.
unsafe fn child_fail(a: &ChildArgs, stage: usize) -> ! {
    // SAFETY: reading this thread's errno and exiting without running any handlers.
    unsafe {
        a.errno.store(*libc::__errno_location(), Ordering::SeqCst);
        a.stage.store(stage, Ordering::SeqCst);
        libc::_exit(127)
    }
}

/// Closes every descriptor `>= first`. Async-signal-safe.
///
/// # Safety
/// Closes descriptors this process may own; only for the vfork child.
unsafe fn close_from(first: c_int) -> bool {
    // SAFETY: close_range(2) / close(2) on descriptor numbers only.
    unsafe {
        if libc::syscall(libc::SYS_close_range, first as libc::c_uint, libc::c_uint::MAX, 0) == 0 {
            return true;
        }
        // Kernels before 5.9: close one by one up to the descriptor limit.
        let mut lim = MaybeUninit::<libc::rlimit>::uninit();
        if libc::getrlimit(libc::RLIMIT_NOFILE, lim.as_mut_ptr()) != 0 {
            return false;
        }
        let max = lim.assume_init().rlim_cur.min(1 << 20) as c_int;
        for fd in first..max {
            libc::close(fd);
        }
        true
    }
}

/// `waitpid(pid, 0)` retrying on EINTR; errors (e.g. ECHILD) are ignored.
pub(crate) fn reap_blocking(pid: libc::pid_t) {
    loop {
        let mut status = 0;
        // SAFETY: waitpid on a specific pid with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r >= 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}

/// `pidfd_open(2)`: a descriptor that becomes readable when the process exits. Works
/// for processes that are not our children. The descriptor is close-on-exec.
pub(crate) fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; on success the returned descriptor is ours alone.
    unsafe {
        let fd = libc::syscall(libc::SYS_pidfd_open, pid, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(fd as RawFd))
    }
}

/// Reaps the process behind `pidfd` if it is our child and has exited
/// (`waitid(P_PIDFD, WEXITED | WNOHANG)`). `Ok(false)` if it is still running;
/// `Err(ECHILD)` if it is not our child (or was reaped already).
pub(crate) fn reap_pidfd(pidfd: BorrowedFd<'_>) -> io::Result<bool> {
    loop {
        // SAFETY: siginfo_t is plain data that waitid fills in.
        let (r, info) = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let r =
                libc::waitid(libc::P_PIDFD, pidfd.as_raw_fd() as libc::id_t, &mut info, libc::WEXITED | libc::WNOHANG);
            (r, info)
        };
        if r < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(err);
        }
        // SAFETY: si_pid is valid to read after a successful waitid.
        return Ok(unsafe { info.si_pid() } != 0);
    }
}

/// `poll(2)` for readability with a timeout in milliseconds (0 = just check).
pub(crate) fn poll_readable(fd: BorrowedFd<'_>, timeout_ms: c_int) -> io::Result<bool> {
    let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    loop {
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if r < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(err);
        }
        return Ok(r > 0 && pfd.revents & (libc::POLLIN | libc::POLLHUP) != 0);
    }
}

/// Whether the other end of a connected socket has been closed (`POLLHUP` /
/// `POLLRDHUP`), without consuming any data.
pub(crate) fn peer_closed(fd: BorrowedFd<'_>) -> bool {
    let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLRDHUP, revents: 0 };
    // SAFETY: one valid pollfd, zero timeout.
    let r = unsafe { libc::poll(&mut pfd, 1, 0) };
    r > 0 && pfd.revents & (libc::POLLHUP | libc::POLLRDHUP | libc::POLLERR) != 0
}

/// Returns `fd` itself if its number is `>= min`, otherwise a close-on-exec duplicate
/// numbered `>= min` (the original is closed).
pub(crate) fn fd_at_least(fd: OwnedFd, min: RawFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() >= min {
        return Ok(fd);
    }
    // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor that we then own.
    unsafe {
        let new = libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min);
        if new < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(new))
    }
}

/// An anonymous, sealed, read-only, executable in-memory file holding `bytes`.
pub(crate) fn exec_memfd(name: &CStr, bytes: &[u8]) -> io::Result<OwnedFd> {
    use std::io::Write;
    let base = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: memfd_create with a valid name; we own the returned descriptor.
    let rw = unsafe {
        // MFD_EXEC (Linux 6.3+) asks for an executable memfd even when the
        // vm.memfd_noexec sysctl defaults to non-executable; older kernels reject it.
        let mut fd = libc::memfd_create(name.as_ptr(), base | libc::MFD_EXEC);
        if fd < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
            fd = libc::memfd_create(name.as_ptr(), base);
        }
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        OwnedFd::from_raw_fd(fd)
    };
    let mut file = std::fs::File::from(rw);
    file.write_all(bytes)?;
    // SAFETY: fcntl on our own descriptor.
    let r = unsafe {
        libc::fcntl(
            file.as_raw_fd(),
            libc::F_ADD_SEALS,
            libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // Re-open read-only and drop the writable descriptor: exec refuses (ETXTBSY) files
    // that are open for writing.
    let ro = std::fs::File::open(format!("/proc/self/fd/{}", file.as_raw_fd()))?;
    Ok(OwnedFd::from(ro))
}
