//! `containerizer-monitor`: the helper program behind every task.
//!
//! It is compiled by the crate's `build.rs` as a standalone static program (std only,
//! no crates), embedded into the library and exec'd from a memfd **once per agent
//! process** as a *zygote* (`--zygote`). For each task the library sends the zygote a
//! request; the zygote forks a *monitor*, which starts the task the way `posix_spawn`
//! does (a child sharing its memory until the exec). So a launch costs one fork of a tiny
//! process, one vfork-style clone and the task's own exec (no exec of a helper per task), and
//! no monitor pins any of the agent's memory (a monitor forked from the agent itself
//! would keep every agent page it was forked with, copy-on-write, for the task's life).
//!
//! # Zygote protocol (version 2)
//!
//! The zygote's fds: 0 and 1 = /dev/null, 2 = the agent's stderr, 3 = a Unix stream
//! socket to the library. Each request is one `sendmsg`: an 8-byte header (`CZ01` and
//! the payload length as u32 little endian) carrying exactly 4 descriptors
//! (SCM_RIGHTS: task stdout, task stderr, the status file's directory, report pipe write
//! end), then the payload: NUL-terminated fields
//! `workdir status tmp log uid|- gid|- groups K cgroup.procs×K file argc argv×argc envc env×envc`
//! (`status`: the status file's name in that directory; `tmp`: empty, or the directory
//! mounted on the task's `/tmp` in a mount namespace of its own; `log`: empty, or
//! `max_out keep_out path_out max_err keep_err path_err` as 6 more fields: the task's output
//! goes through pipes to the monitor, which rotates the files by size, see 5.)
//! (`groups`: comma separated gids, empty for none). EOF on the socket (the agent is
//! gone) makes the zygote exit. It ignores SIGCHLD, so its monitors are reaped by the
//! kernel as soon as they exit.
//!
//! # Monitor (forked from the zygote)
//!
//! 1. new session; child subreaper (orphaned task descendants are re-parented to it and
//!    reaped here); fds arranged as 0 = /dev/null, 1/2 = task stdout/stderr,
//!    3 = the status file's directory, 4 = report pipe, nothing else;
//! 2. reports `monitor <pid> <start ticks>` on the report pipe;
//! 3. starts the task (P2, `clone` with `CLONE_VM | CLONE_VFORK` on a stack of its own;
//!    the monitor waits until P2 has exec'd or failed): own process group, chdir, default
//!    signal dispositions and an empty mask, with `tmp` (after the chdir) a mount namespace of
//!    its own (mounts private) with `tmp` bound on `/tmp`, joins the cgroups by writing `0` to each
//!    `cgroup.procs` *before* exec (no descendant can escape), credentials, reports `ok`, then execs `file`
//!    with the given argv and exactly the given environment, searching the
//!    environment's `PATH` when `file` has no `/` (execvp semantics). A setup failure
//!    is reported as `error <stage> <errno>` and P2 exits 127; an exec failure is
//!    written to the task's stderr and P2 exits 127 (126 for EACCES), as a shell does;
//! 4. reports `pid <P2>` and closes the report pipe;
//!
//!    A report that finds the pipe without a reader (EPIPE: the agent that asked died before
//!    it learned of the launch, so nothing will record it) abandons the launch: the monitor
//!    exits before starting P2, P2 exits without exec'ing, and once P2 is started the monitor
//!    kills what there is of the task (as in 6.) and exits *without* a status file, so that a
//!    restarted agent reads the launch as never started rather than as a task that ended;
//! 5. reaps children until P2 exits (with `log`: meanwhile copies what the task writes to its
//!    pipes into the stdout/stderr files; a file that reached its max size is renamed `.1`,
//!    older ones shifted up to `.keep`, the oldest removed, and a new one (the task user's)
//!    started, as logrotate's `rotate keep` + `size max` do), then creates the status file and writes
//!    `exited N` / `signaled N` to it with a single `write` (the file only exists once
//!    there is a status: a launch creates no file for it);
//! 6. SIGKILLs what is left of the task (its process group and everything in its
//!    cgroups: Mesos destroys the container once the command exits), reaps it, and
//!    exits 0. Processes that escaped both the group and the cgroups are left alone.
//!
//! `containerizer-monitor --probe` exits 0 at once (used to check that exec works).

#![deny(unsafe_op_in_unsafe_fn)]

use std::ffi::{CStr, CString, OsStr, c_char, c_int, c_void};
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "riscv64", target_arch = "loongarch64")
)))]
compile_error!("containerizer-monitor hard-codes Linux constants for x86_64/aarch64/riscv64/loongarch64");

// Linux constants (identical on the architectures above).
const SIGKILL: c_int = 9;
const SIGPIPE: c_int = 13;
const SIGCHLD: c_int = 17;
const SIGSTOP: c_int = 19;
const NSIG: c_int = 65;
const SIG_DFL: usize = 0;
const SIG_IGN: usize = 1;
const SIG_SETMASK: c_int = 2;
const WNOHANG: c_int = 1;
const EINTR: i32 = 4;
const EACCES: i32 = 13;
const ENOEXEC: i32 = 8;
const ENOENT: i32 = 2;
const EINVAL: i32 = 22;
const F_DUPFD: c_int = 0;
const F_GETFD: c_int = 1;
const F_SETFD: c_int = 2;
const FD_CLOEXEC: c_int = 1;
const O_WRONLY: c_int = 0o1;
const O_CREAT: c_int = 0o100;
const O_TRUNC: c_int = 0o1000;
const O_CLOEXEC: c_int = 0o2000000;
const O_EXCL: c_int = 0o200;
const O_APPEND: c_int = 0o2000;
#[cfg(target_arch = "aarch64")]
const O_NOFOLLOW: c_int = 0o100000;
#[cfg(not(target_arch = "aarch64"))]
const O_NOFOLLOW: c_int = 0o400000;
const SEEK_END: c_int = 2;
const POLLIN: i16 = 1;
const SYS_PIDFD_OPEN: i64 = 434;
/// What one read of a task's output pipe takes at most.
const LOG_CHUNK: usize = 64 * 1024;
/// How long the monitor keeps copying output after the task ended and was killed (a process
/// that escaped the task's group and cgroups may hold a pipe open for ever).
const LOG_DRAIN: Duration = Duration::from_secs(2);
const PR_SET_CHILD_SUBREAPER: c_int = 36;
const SOL_SOCKET: c_int = 1;
const SCM_RIGHTS: c_int = 1;
const MSG_CMSG_CLOEXEC: c_int = 0x4000_0000;
const SYS_CLOSE_RANGE: i64 = 436;
const CLONE_VM: c_int = 0x100;
const CLONE_VFORK: c_int = 0x4000;
const CLONE_NEWNS: c_int = 0x20000;
const MS_BIND: u64 = 0x1000;
const MS_REC: u64 = 0x4000;
const MS_PRIVATE: u64 = 0x40000;
/// The task's stack until it execs (it only sets itself up, see [`run_task`]).
const TASK_STACK: usize = 256 * 1024;
/// execvp goes on with the next PATH entry after these.
const NOT_HERE: [i32; 7] = [
    2,   /* ENOENT */
    20,  /* ENOTDIR */
    116, /* ESTALE */
    19,  /* ENODEV */
    110, /* ETIMEDOUT */
    40,  /* ELOOP */
    36,  /* ENAMETOOLONG */
];

const SOCKET_FD: c_int = 3;
const STATUS_FD: c_int = 3;
const REPORT_FD: c_int = 4;
const REQUEST_FDS: usize = 4;
const MAGIC: &[u8; 4] = b"CZ04";
const MAX_PAYLOAD: usize = 64 << 20;

/// How long the monitor keeps killing and reaping what is left of the task after it
/// exited, before giving up on processes that will not die (e.g. stuck in D state).
const CLEANUP_DEADLINE: Duration = Duration::from_secs(5);

#[repr(C)]
struct PollFd {
    fd: c_int,
    events: i16,
    revents: i16,
}

#[repr(C)]
struct IoVec {
    base: *mut c_void,
    len: usize,
}

#[repr(C)]
struct MsgHdr {
    name: *mut c_void,
    namelen: u32,
    iov: *mut IoVec,
    iovlen: usize,
    control: *mut c_void,
    controllen: usize,
    flags: c_int,
}

#[repr(C)]
struct CmsgHdr {
    len: usize,
    level: c_int,
    kind: c_int,
}

unsafe extern "C" {
    fn fork() -> c_int;
    fn clone(f: extern "C" fn(*mut c_void) -> c_int, stack: *mut c_void, flags: c_int, arg: *mut c_void, ...) -> c_int;
    fn getpid() -> c_int;
    fn setsid() -> c_int;
    fn setpgid(pid: c_int, pgid: c_int) -> c_int;
    fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
    fn kill(pid: c_int, sig: c_int) -> c_int;
    fn read(fd: c_int, buf: *mut c_void, n: usize) -> isize;
    fn write(fd: c_int, buf: *const c_void, n: usize) -> isize;
    fn recvmsg(fd: c_int, msg: *mut MsgHdr, flags: c_int) -> isize;
    fn close(fd: c_int) -> c_int;
    fn dup2(old: c_int, new: c_int) -> c_int;
    fn fcntl(fd: c_int, cmd: c_int, ...) -> c_int;
    fn open(path: *const c_char, flags: c_int, ...) -> c_int;
    fn openat(dirfd: c_int, path: *const c_char, flags: c_int, ...) -> c_int;
    fn chdir(path: *const c_char) -> c_int;
    fn poll(fds: *mut PollFd, n: u64, timeout: c_int) -> c_int;
    fn pipe2(fds: *mut c_int, flags: c_int) -> c_int;
    fn rename(from: *const c_char, to: *const c_char) -> c_int;
    fn unlink(path: *const c_char) -> c_int;
    fn lseek(fd: c_int, offset: i64, whence: c_int) -> i64;
    fn fchown(fd: c_int, uid: u32, gid: u32) -> c_int;
    fn unshare(flags: c_int) -> c_int;
    fn mount(
        source: *const c_char,
        target: *const c_char,
        fstype: *const c_char,
        flags: u64,
        data: *const c_void,
    ) -> c_int;
    fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
    fn signal(sig: c_int, handler: usize) -> usize;
    fn sigprocmask(how: c_int, set: *const u64, old: *mut u64) -> c_int;
    fn setgroups(n: usize, groups: *const u32) -> c_int;
    fn setgid(gid: u32) -> c_int;
    fn setuid(uid: u32) -> c_int;
    fn prctl(option: c_int, arg2: u64, arg3: u64, arg4: u64, arg5: u64) -> c_int;
    fn syscall(num: i64, ...) -> i64;
    fn _exit(code: c_int) -> !;
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(EINVAL)
}

fn main() {
    match std::env::args_os().nth(1).as_deref().map(OsStr::as_bytes) {
        Some(b"--probe") => {}
        Some(b"--zygote") => zygote(),
        _ => {
            write_all(2, b"containerizer-monitor: internal helper of the containerizer crate\n");
            std::process::exit(2);
        }
    }
}

// ---------------------------------------------------------------------------------
// Zygote
// ---------------------------------------------------------------------------------

fn zygote() -> ! {
    // Monitors are reaped by the kernel as soon as they exit.
    // SAFETY: setting a signal disposition.
    unsafe { signal(SIGCHLD, SIG_IGN) };
    loop {
        let (len, fds) = match recv_header() {
            Ok(Some(h)) => h,
            Ok(None) => std::process::exit(0), // the agent is gone
            Err(msg) => {
                write_all(2, format!("containerizer zygote: {msg}\n").as_bytes());
                std::process::exit(1);
            }
        };
        let mut payload = vec![0u8; len];
        if !read_exact(SOCKET_FD, &mut payload) {
            write_all(2, b"containerizer zygote: truncated request\n");
            std::process::exit(1);
        }
        if fds.len() == REQUEST_FDS {
            // SAFETY: this process is single-threaded, so the child may do anything.
            let pid = unsafe { fork() };
            if pid == 0 {
                monitor(&payload, &fds);
            }
            if pid < 0 {
                write_all(fds[3], format!("error fork {}\n", errno()).as_bytes());
            }
        }
        for fd in fds {
            // SAFETY: closing descriptors received with the request.
            unsafe { close(fd) };
        }
    }
}

/// Receives one request header and its descriptors. `Ok(None)` on EOF.
fn recv_header() -> Result<Option<(usize, Vec<c_int>)>, String> {
    let mut header = [0u8; 8];
    let mut control = [0u64; 8]; // 64 bytes, 8-aligned: room for the 4 fds
    let mut iov = IoVec { base: header.as_mut_ptr().cast(), len: header.len() };
    let mut msg = MsgHdr {
        name: std::ptr::null_mut(),
        namelen: 0,
        iov: &mut iov,
        iovlen: 1,
        control: control.as_mut_ptr().cast(),
        controllen: std::mem::size_of_val(&control),
        flags: 0,
    };
    let n = loop {
        // SAFETY: `msg` points at live buffers of the given sizes.
        let n = unsafe { recvmsg(SOCKET_FD, &mut msg, MSG_CMSG_CLOEXEC) };
        if n < 0 && errno() == EINTR {
            continue;
        }
        break n;
    };
    if n == 0 {
        return Ok(None);
    }
    if n < 0 {
        return Err(format!("recvmsg: errno {}", errno()));
    }
    // Descriptors first, so that they are closed (by the caller) even on bad input.
    let mut fds = Vec::new();
    let mut off = 0;
    let hdr_size = std::mem::size_of::<CmsgHdr>();
    while off + hdr_size <= msg.controllen {
        // SAFETY: within `control`, which is 8-aligned; cmsg headers are 8-aligned.
        let cmsg = unsafe { &*(control.as_ptr().cast::<u8>().add(off).cast::<CmsgHdr>()) };
        if cmsg.len < hdr_size || off + cmsg.len > msg.controllen {
            break;
        }
        if cmsg.level == SOL_SOCKET && cmsg.kind == SCM_RIGHTS {
            let count = (cmsg.len - hdr_size) / std::mem::size_of::<c_int>();
            for i in 0..count {
                // SAFETY: `count` ints follow the header within `control`.
                let fd = unsafe {
                    control.as_ptr().cast::<u8>().add(off + hdr_size).cast::<c_int>().add(i).read_unaligned()
                };
                fds.push(fd);
            }
        }
        off += (cmsg.len + 7) & !7;
    }
    if (n as usize) < header.len() && !read_exact(SOCKET_FD, &mut header[n as usize..]) {
        return Err("truncated header".into());
    }
    if &header[..4] != MAGIC {
        return Err("bad request magic (library and zygote versions differ?)".into());
    }
    let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if len > MAX_PAYLOAD {
        return Err(format!("request too large ({len} bytes)"));
    }
    Ok(Some((len, fds)))
}

fn read_exact(fd: c_int, mut buf: &mut [u8]) -> bool {
    while !buf.is_empty() {
        // SAFETY: reading into the live slice `buf`.
        let n = unsafe { read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 && errno() == EINTR {
            continue;
        }
        if n <= 0 {
            return false;
        }
        buf = &mut buf[n as usize..];
    }
    true
}

// ---------------------------------------------------------------------------------
// Monitor (a fork of the zygote)
// ---------------------------------------------------------------------------------

struct Spec {
    workdir: CString,
    /// The status file's name in the directory at `STATUS_FD`.
    status: CString,
    /// Mounted on the task's `/tmp`, in a mount namespace of its own.
    private_tmp: Option<CString>,
    /// Rotation of stdout and stderr (the output goes through pipes to the monitor).
    log: Option<[Rotation; 2]>,
    creds: Option<(u32, u32, Vec<u32>)>,
    cgroup_procs: Vec<CString>,
    /// The command as given, for messages.
    file: CString,
    /// Paths to try in order (execvp semantics).
    candidates: Vec<CString>,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

fn parse(payload: &[u8]) -> Result<Spec, String> {
    let mut fields = payload.split(|&b| b == 0);
    let mut next = || -> Result<&[u8], String> { fields.next().ok_or_else(|| "truncated request".to_string()) };
    let cstr = |b: &[u8]| CString::new(b).map_err(|_| "NUL in field".to_string());
    let text = |b: &[u8]| -> Result<String, String> {
        std::str::from_utf8(b).map(str::to_string).map_err(|_| "non UTF-8 number".to_string())
    };
    let num = |b: &[u8]| -> Result<usize, String> { text(b)?.parse().map_err(|_| "bad count".to_string()) };

    let workdir = cstr(next()?)?;
    let status = cstr(next()?)?;
    let private_tmp = Some(next()?).filter(|t| !t.is_empty()).map(cstr).transpose()?;
    let log = if next()?.is_empty() {
        None
    } else {
        let mut rotation = || -> Result<Rotation, String> {
            let max = text(next()?)?.parse::<u64>().map_err(|_| "bad log size".to_string())?;
            let keep = text(next()?)?.parse::<u32>().map_err(|_| "bad log count".to_string())?;
            Ok(Rotation { max: max.max(1), keep, path: cstr(next()?)? })
        };
        Some([rotation()?, rotation()?])
    };
    let (uid, gid, groups) = (text(next()?)?, text(next()?)?, text(next()?)?);
    let creds = if uid == "-" || gid == "-" {
        None
    } else {
        let groups = groups
            .split(',')
            .filter(|g| !g.is_empty())
            .map(|g| g.parse::<u32>().map_err(|_| "bad group".to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        Some((uid.parse().map_err(|_| "bad uid")?, gid.parse().map_err(|_| "bad gid")?, groups))
    };
    let k = num(next()?)?;
    let cgroup_procs = (0..k).map(|_| cstr(next()?)).collect::<Result<Vec<_>, _>>()?;
    let file = next()?.to_vec();
    let argc = num(next()?)?;
    let argv = (0..argc).map(|_| cstr(next()?)).collect::<Result<Vec<_>, _>>()?;
    let envc = num(next()?)?;
    let envp = (0..envc).map(|_| cstr(next()?)).collect::<Result<Vec<_>, _>>()?;
    if argv.is_empty() || file.is_empty() {
        return Err("empty command".into());
    }
    let candidates = search_path(&file, &envp)?;
    Ok(Spec { workdir, status, private_tmp, log, creds, cgroup_procs, file: cstr(&file)?, candidates, argv, envp })
}

/// `execvp` candidates: `file` itself if it contains a `/`, else `dir/file` for each
/// entry of the task environment's `PATH` (default `/bin:/usr/bin`, empty entry =
/// current directory).
fn search_path(file: &[u8], envp: &[CString]) -> Result<Vec<CString>, String> {
    let to_c = |b: Vec<u8>| CString::new(b).map_err(|_| "NUL in path".to_string());
    if file.contains(&b'/') {
        return Ok(vec![to_c(file.to_vec())?]);
    }
    let path = envp.iter().rev().find_map(|e| e.as_bytes().strip_prefix(b"PATH=")).unwrap_or(b"/bin:/usr/bin");
    path.split(|&b| b == b':')
        .map(|dir| {
            let mut p = if dir.is_empty() { b".".to_vec() } else { dir.to_vec() };
            p.push(b'/');
            p.extend_from_slice(file);
            to_c(p)
        })
        .collect()
}

/// One `write` per call for short records (atomic on pipes below PIPE_BUF). Returns whether
/// everything was written (false with EPIPE when the pipe has no reader left, provided
/// SIGPIPE is ignored).
fn write_all(fd: c_int, buf: &[u8]) -> bool {
    let mut off = 0;
    while off < buf.len() {
        // SAFETY: the pointer/length pair denotes the live slice `buf[off..]`.
        let n = unsafe { write(fd, buf[off..].as_ptr().cast(), buf.len() - off) };
        if n < 0 {
            if errno() == EINTR {
                continue;
            }
            return false;
        }
        off += n as usize;
    }
    true
}

fn set_cloexec(fd: c_int) {
    // SAFETY: plain fcntl calls on an fd number.
    unsafe {
        let flags = fcntl(fd, F_GETFD);
        if flags >= 0 {
            fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
        }
    }
}

fn fail(stage: &str, err: i32) -> ! {
    write_all(REPORT_FD, format!("error {stage} {err}\n").as_bytes());
    // SAFETY: terminating without running any atexit handlers.
    unsafe { _exit(127) }
}

/// Field 22 of /proc/self/stat (start time in clock ticks since boot).
fn own_start_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(19))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

/// Puts the request's descriptors (stdout, stderr, status dir, report) at 1, 2, 3, 4;
/// 0 is the zygote's /dev/null; everything else (the zygote socket...) is closed.
fn arrange_fds(fds: &[c_int]) {
    // SAFETY: descriptor juggling on numbers we own; the temporary copies are placed
    // above every target so that no dup2 clobbers a source.
    unsafe {
        let mut tmp = [0; REQUEST_FDS];
        for (t, &fd) in tmp.iter_mut().zip(fds) {
            *t = fcntl(fd, F_DUPFD, 16);
            if *t < 0 {
                _exit(127);
            }
        }
        for (target, &t) in (1..).zip(tmp.iter()) {
            if dup2(t, target) < 0 {
                _exit(127);
            }
        }
        if syscall(SYS_CLOSE_RANGE, 5u32, u32::MAX, 0u32) != 0 {
            for fd in 5..65536 {
                close(fd);
            }
        }
    }
}

fn monitor(payload: &[u8], fds: &[c_int]) -> ! {
    // SAFETY: plain syscalls on this (single-threaded) process.
    unsafe {
        setsid();
        signal(SIGCHLD, SIG_DFL);
        prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
    arrange_fds(fds);
    let spec = match parse(payload) {
        Ok(spec) => spec,
        Err(msg) => {
            write_all(2, format!("containerizer monitor: bad request: {msg}\n").as_bytes());
            fail("monitor request", EINVAL);
        }
    };
    // SAFETY: getpid cannot fail.
    let me = unsafe { getpid() };
    // SIGPIPE is ignored here (the Rust runtime's default), so a report to an agent that
    // is gone fails with EPIPE: then nothing will ever record this launch; abandon it.
    if !write_all(REPORT_FD, format!("monitor {me} {}\n", own_start_ticks()).as_bytes()) {
        // SAFETY: exit without running the zygote's atexit handlers or destructors.
        unsafe { _exit(127) }
    }
    set_cloexec(STATUS_FD);
    set_cloexec(REPORT_FD);

    let mut cgroup_fds = Vec::with_capacity(spec.cgroup_procs.len());
    for path in &spec.cgroup_procs {
        // SAFETY: NUL-terminated path; the returned fd is owned here.
        let fd = unsafe { open(path.as_ptr(), O_WRONLY | O_CLOEXEC) };
        if fd < 0 {
            fail("open cgroup.procs", errno());
        }
        cgroup_fds.push(fd);
    }

    // With log rotation the task writes into pipes: [stdout read, write, stderr read, write].
    let mut pipes = [-1; 4];
    if spec.log.is_some() {
        // SAFETY: pipe2 fills two ints each; the descriptors are owned here.
        let ok = unsafe { pipe2(pipes.as_mut_ptr(), O_CLOEXEC) == 0 && pipe2(pipes[2..].as_mut_ptr(), O_CLOEXEC) == 0 };
        if !ok {
            fail("pipe", errno());
        }
    }
    let outputs = spec.log.is_some().then_some((pipes[1], pipes[3]));
    let child = spawn_task(&spec, &cgroup_fds, outputs);
    if child < 0 {
        fail("fork", errno());
    }
    if spec.log.is_some() {
        // SAFETY: closing our copies of the pipes' write ends (the task has its own).
        unsafe {
            close(pipes[1]);
            close(pipes[3]);
        }
    }
    // SAFETY: plain syscalls on our own child / fds. setpgid here as well closes the
    // race with the child's own setpgid (it may fail with EACCES after exec: ignored).
    unsafe {
        setpgid(child, child);
        for &fd in &cgroup_fds {
            close(fd);
        }
    }
    if !write_all(REPORT_FD, format!("pid {child}\n").as_bytes()) {
        // The agent is gone without learning of the task: it never started as far as
        // anyone will know. Kill it, and leave no status file that would say it ended.
        cleanup(&spec, child);
        // SAFETY: exit without running the zygote's atexit handlers or destructors.
        unsafe { _exit(0) }
    }
    // SAFETY: closing our own descriptors; the task keeps its own copies of 0-2 (with log
    // rotation 1 and 2 stay: the files the pipes are copied to).
    unsafe {
        close(REPORT_FD);
        close(0);
        if spec.log.is_none() {
            close(1);
            close(2);
        }
    }
    match &spec.log {
        None => wait_task(&spec, child),
        Some([out, err]) => {
            let mut logs = [Log::new(pipes[0], 1, out, &spec), Log::new(pipes[2], 2, err, &spec)];
            wait_task_logging(&spec, child, &mut logs);
            cleanup(&spec, child);
            drain(&mut logs);
            // SAFETY: exit without running the zygote's atexit handlers or destructors.
            unsafe { _exit(0) }
        }
    }
    cleanup(&spec, child);
    // SAFETY: exit without running the zygote's atexit handlers or destructors.
    unsafe { _exit(0) }
}

/// Reaps children until the task's top process exits and records its status.
fn wait_task(spec: &Spec, child: c_int) {
    loop {
        let mut st = 0;
        // SAFETY: waitpid with a valid status pointer. This process only ever has the
        // task and re-parented task descendants as children.
        let r = unsafe { waitpid(-1, &mut st, 0) };
        if r < 0 {
            if errno() == EINTR {
                continue;
            }
            return; // ECHILD: cannot happen before the task was reaped
        }
        if r == child {
            record_status(spec, st);
            return;
        }
    }
}

/// Creates the status file with the task's wait status (one `write`).
fn record_status(spec: &Spec, st: c_int) {
    // SAFETY: NUL-terminated name relative to our directory fd; the returned fd is owned here
    // and closed right after the write.
    let fd =
        unsafe { openat(STATUS_FD, spec.status.as_ptr(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644 as c_int) };
    if fd >= 0 {
        write_all(fd, status_record(st).as_bytes());
        // SAFETY: closing our own fd.
        unsafe { close(fd) };
    }
    // SAFETY: closing our own fd.
    unsafe { close(STATUS_FD) };
}

/// Size rotation of one output file (`logrotate`'s `size max` and `rotate keep`).
struct Rotation {
    max: u64,
    keep: u32,
    path: CString,
}

/// One output stream being copied: its pipe, its file (at fd 1 or 2) and the file's size.
struct Log<'a> {
    pipe: c_int,
    file: c_int,
    size: u64,
    rotation: &'a Rotation,
    owner: Option<(u32, u32)>,
}

impl<'a> Log<'a> {
    fn new(pipe: c_int, file: c_int, rotation: &'a Rotation, spec: &Spec) -> Self {
        // SAFETY: lseek on our own fd.
        let size = unsafe { lseek(file, 0, SEEK_END) }.max(0) as u64;
        Log { pipe, file, size, rotation, owner: spec.creds.as_ref().map(|(uid, gid, _)| (*uid, *gid)) }
    }

    /// Copies what one read of the pipe gives into the file; closes the pipe at EOF.
    fn pump(&mut self) {
        let mut buf = [0u8; LOG_CHUNK];
        // SAFETY: reading into the live buffer.
        let n = unsafe { read(self.pipe, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 && errno() == EINTR {
            return;
        }
        if n <= 0 {
            // SAFETY: closing our own fd.
            unsafe { close(self.pipe) };
            self.pipe = -1;
            return;
        }
        // A read that crosses the max size is split: the file gets exactly its max size and
        // the rest starts the next one. Rotated before writing, not after, so the file the task
        // writes to always holds its newest output (never an empty file that just replaced a
        // full one).
        let mut data = &buf[..n as usize];
        while !data.is_empty() {
            if self.size >= self.rotation.max {
                self.rotate();
            }
            let room = self.rotation.max.saturating_sub(self.size);
            // A rotation that failed (no room yet) writes on in the old file until the next try.
            let take = if room == 0 { data.len() } else { data.len().min(room as usize) };
            write_all(self.file, &data[..take]);
            self.size += take as u64;
            data = &data[take..];
        }
    }

    /// `path` becomes `path.1` (older ones shifted up to `path.keep`, the oldest removed) and
    /// writing goes on in a new `path`. Renames and unlinks never follow a symlink; the new
    /// file is created exclusively (if the task put something there meanwhile, writing goes
    /// on in the old file until the next try).
    fn rotate(&mut self) {
        let path = self.rotation.path.to_bytes();
        let numbered = |i: u32| {
            let mut p = path.to_vec();
            p.extend_from_slice(format!(".{i}").as_bytes());
            CString::new(p).unwrap_or_default()
        };
        let keep = self.rotation.keep;
        // SAFETY: plain syscalls on NUL-terminated paths.
        unsafe {
            if keep == 0 {
                unlink(self.rotation.path.as_ptr());
            } else {
                unlink(numbered(keep).as_ptr());
                for i in (1..keep).rev() {
                    rename(numbered(i).as_ptr(), numbered(i + 1).as_ptr());
                }
                rename(self.rotation.path.as_ptr(), numbered(1).as_ptr());
            }
        }
        let flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_APPEND | O_CLOEXEC;
        // SAFETY: NUL-terminated path; the fd is owned here, moved to `self.file` by dup2.
        unsafe {
            let fd = open(self.rotation.path.as_ptr(), flags, 0o644 as c_int);
            if fd < 0 {
                return;
            }
            if let Some((uid, gid)) = self.owner {
                fchown(fd, uid, gid);
            }
            dup2(fd, self.file);
            close(fd);
        }
        self.size = 0;
    }
}

/// Copies the task's output while reaping children, until the task's top process exits and
/// its status is recorded.
fn wait_task_logging(spec: &Spec, child: c_int, logs: &mut [Log<'_>; 2]) {
    // SAFETY: pidfd_open of our own child; the fd is owned here.
    let pidfd = unsafe { syscall(SYS_PIDFD_OPEN, child as i64, 0i64) } as c_int;
    loop {
        let mut fds = [
            PollFd { fd: pidfd, events: POLLIN, revents: 0 },
            PollFd { fd: logs[0].pipe, events: POLLIN, revents: 0 },
            PollFd { fd: logs[1].pipe, events: POLLIN, revents: 0 },
        ];
        // Without a pidfd (old kernel), children are looked for every 100 ms.
        let timeout = if pidfd < 0 { 100 } else { 1000 };
        // SAFETY: `fds` is a live array of 3 (negative fds are ignored by poll).
        let n = unsafe { poll(fds.as_mut_ptr(), 3, timeout) };
        if n > 0 {
            for (log, p) in logs.iter_mut().zip(&fds[1..]) {
                if p.revents != 0 && log.pipe >= 0 {
                    log.pump();
                }
            }
        }
        loop {
            let mut st = 0;
            // SAFETY: waitpid with a valid status pointer.
            let r = unsafe { waitpid(-1, &mut st, WNOHANG) };
            if r == child {
                record_status(spec, st);
                if pidfd >= 0 {
                    // SAFETY: closing our own fd.
                    unsafe { close(pidfd) };
                }
                return;
            }
            if r <= 0 && !(r < 0 && errno() == EINTR) {
                break;
            }
        }
    }
}

/// Copies what is left in the pipes after the task was killed, for at most [`LOG_DRAIN`].
fn drain(logs: &mut [Log<'_>; 2]) {
    let deadline = Instant::now() + LOG_DRAIN;
    while logs.iter().any(|l| l.pipe >= 0) && Instant::now() < deadline {
        let mut fds = [
            PollFd { fd: logs[0].pipe, events: POLLIN, revents: 0 },
            PollFd { fd: logs[1].pipe, events: POLLIN, revents: 0 },
        ];
        // SAFETY: `fds` is a live array of 2.
        if unsafe { poll(fds.as_mut_ptr(), 2, 100) } <= 0 {
            continue;
        }
        for (log, p) in logs.iter_mut().zip(&fds) {
            if p.revents != 0 && log.pipe >= 0 {
                log.pump();
            }
        }
    }
}

/// What the task's first function gets.
struct TaskStart<'a> {
    spec: &'a Spec,
    cgroup_fds: &'a [c_int],
    /// With log rotation: the pipes' write ends, to become the task's stdout and stderr.
    outputs: Option<(c_int, c_int)>,
}

/// Starts P2 as `posix_spawn` does: a child that shares this process's memory (no page
/// tables copied, no copy-on-write faults, nothing to tear down at its exec) on a stack of
/// its own, while this process waits until the child has exec'd or exited (`CLONE_VFORK`).
/// Returns the child's pid, or -1 with `errno` set.
fn spawn_task(spec: &Spec, cgroup_fds: &[c_int], outputs: Option<(c_int, c_int)>) -> c_int {
    extern "C" fn start(arg: *mut c_void) -> c_int {
        // SAFETY: `arg` points at the `TaskStart` of `spawn_task`, which waits in `clone`
        // (CLONE_VFORK) until this child has exec'd or exited.
        let start = unsafe { &*arg.cast::<TaskStart<'_>>() };
        run_task(start.spec, start.cgroup_fds, start.outputs)
    }
    let mut stack = vec![0u8; TASK_STACK];
    // The stack grows down from its (16-byte aligned) end.
    let top = (stack.as_mut_ptr() as usize + TASK_STACK) & !15;
    let mut arg = TaskStart { spec, cgroup_fds, outputs };
    // SAFETY: the child runs `start` on `stack`, which outlives it: with CLONE_VFORK this
    // call returns only once the child has exec'd or exited. Sharing memory (CLONE_VM) with
    // this suspended, single-threaded process, the child may allocate (only on its failure
    // paths): whatever it leaves behind is a leak here, never an inconsistency. Its file
    // descriptors, signal dispositions, credentials and working directory are its own
    // (no CLONE_FILES, CLONE_SIGHAND or CLONE_FS).
    unsafe { clone(start, top as *mut c_void, CLONE_VM | CLONE_VFORK | SIGCHLD, (&raw mut arg).cast::<c_void>()) }
}

/// P2, the task until its exec: runs on its own stack in this process's memory while this
/// process waits (see [`spawn_task`]).
fn run_task(spec: &Spec, cgroup_fds: &[c_int], outputs: Option<(c_int, c_int)>) -> ! {
    let argv = ptrs(&spec.argv);
    let envp = ptrs(&spec.envp);
    // SAFETY: plain libc calls with valid, NUL-terminated arguments that live until
    // exec; on any failure we report and `_exit`.
    unsafe {
        if setpgid(0, 0) != 0 {
            fail("setpgid", errno());
        }
        if let Some((out, err)) = outputs
            && (dup2(out, 1) < 0 || dup2(err, 2) < 0)
        {
            fail("dup2 output pipes", errno());
        }
        if chdir(spec.workdir.as_ptr()) != 0 {
            fail("chdir", errno());
        }
        if let Some(tmp) = &spec.private_tmp {
            // A mount namespace of the task's own whose mounts never propagate to the host's,
            // with the sandbox's directory as its /tmp (after the chdir: a working directory
            // under the host's /tmp stays reachable as `.`).
            if unshare(CLONE_NEWNS) != 0 {
                fail("unshare mount namespace", errno());
            }
            let none = std::ptr::null();
            if mount(none, c"/".as_ptr(), none, MS_REC | MS_PRIVATE, none.cast()) != 0 {
                fail("make mounts private", errno());
            }
            if mount(tmp.as_ptr(), c"/tmp".as_ptr(), none, MS_BIND, none.cast()) != 0 {
                fail("mount private /tmp", errno());
            }
        }
        // Ignored dispositions survive exec (the Rust runtime ignores SIGPIPE here). SIGPIPE
        // stays ignored until the `ok` report is written (see below).
        for sig in 1..NSIG {
            if sig != SIGKILL && sig != SIGSTOP && sig != SIGPIPE {
                signal(sig, SIG_DFL);
            }
        }
        let empty = [0u64; 16];
        sigprocmask(SIG_SETMASK, empty.as_ptr(), std::ptr::null_mut());
        // Join the cgroups last (still as root), right before reporting: little runs in
        // the new cgroups before the exec.
        for &fd in cgroup_fds {
            // In cgroup v1, writing 0 to cgroup.procs moves the writing process.
            if write(fd, b"0\n".as_ptr().cast(), 2) != 2 {
                fail("join cgroup", errno());
            }
            close(fd);
        }
        if let Some((uid, gid, groups)) = &spec.creds {
            if setgroups(groups.len(), groups.as_ptr()) != 0 {
                fail("setgroups", errno());
            }
            if setgid(*gid) != 0 {
                fail("setgid", errno());
            }
            if setuid(*uid) != 0 {
                fail("setuid", errno());
            }
        }
    }
    // Set up: the library returns from launch() on this, not waiting for the exec. Without
    // a reader (the agent died) the task must not start: nothing would record it.
    if !write_all(REPORT_FD, b"ok\n") {
        // SAFETY: terminating the child without running any atexit handlers.
        unsafe { _exit(127) }
    }
    // SAFETY: restoring the default disposition before exec.
    unsafe { signal(SIGPIPE, SIG_DFL) };

    let mut err = ENOENT;
    let mut denied = false;
    let mut exhausted = true;
    for cand in &spec.candidates {
        // SAFETY: NUL-terminated path and NULL-terminated pointer arrays.
        unsafe { execve(cand.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
        err = errno();
        match err {
            EACCES => denied = true,
            ENOEXEC => {
                // Like execvp: a file without a #! line is run by /bin/sh.
                let mut sh_args = vec![c"/bin/sh".to_owned(), cand.clone()];
                sh_args.extend(spec.argv.iter().skip(1).cloned());
                let sh_argv = ptrs(&sh_args);
                // SAFETY: as above.
                unsafe { execve(c"/bin/sh".as_ptr(), sh_argv.as_ptr(), envp.as_ptr()) };
                err = errno();
                exhausted = false;
                break;
            }
            e if NOT_HERE.contains(&e) => {}
            _ => {
                exhausted = false;
                break;
            }
        }
    }
    if denied && exhausted {
        err = EACCES;
    }
    let msg = format!(
        "containerizer: failed to execute '{}': {}\n",
        spec.file.to_string_lossy(),
        std::io::Error::from_raw_os_error(err)
    );
    write_all(2, msg.as_bytes());
    // A shell's codes: 126 for a program found but not executable, 127 for none found.
    let code = if err == EACCES { 126 } else { 127 };
    // SAFETY: terminating the child without running any atexit handlers.
    unsafe { _exit(code) }
}

fn ptrs(strings: &[CString]) -> Vec<*const c_char> {
    strings.iter().map(|s| s.as_ptr()).chain(std::iter::once(std::ptr::null())).collect()
}

fn status_record(status: c_int) -> String {
    let sig = status & 0x7f;
    if sig == 0 { format!("exited {}\n", (status >> 8) & 0xff) } else { format!("signaled {sig}\n") }
}

/// Pids currently listed in the task's cgroups.
fn cgroup_pids(spec: &Spec) -> Vec<c_int> {
    let mut pids = Vec::new();
    for path in &spec.cgroup_procs {
        let path = std::path::Path::new(OsStr::from_bytes(CStr::to_bytes(path)));
        if let Ok(text) = std::fs::read_to_string(path) {
            pids.extend(text.lines().filter_map(|l| l.trim().parse::<c_int>().ok()));
        }
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Reaps every child that has already exited. Returns false once there are no
/// children left at all.
fn reap_ready() -> bool {
    loop {
        let mut st = 0;
        // SAFETY: waitpid with a valid status pointer.
        let r = unsafe { waitpid(-1, &mut st, WNOHANG) };
        if r > 0 {
            continue;
        }
        if r == 0 {
            return true;
        }
        if errno() != EINTR {
            return false;
        }
    }
}

/// Kill what remains of the task (its group and cgroups) and reap it.
fn cleanup(spec: &Spec, pgid: c_int) {
    let deadline = Instant::now() + CLEANUP_DEADLINE;
    let mut pause = Duration::from_micros(200);
    loop {
        // SAFETY: kill(2) with a negative pid signals exactly the task's process group.
        unsafe { kill(-pgid, SIGKILL) };
        let in_cgroups = cgroup_pids(spec);
        for &pid in &in_cgroups {
            // SAFETY: pids read from the task's own cgroups.
            unsafe { kill(pid, SIGKILL) };
        }
        if !reap_ready() {
            return; // no children left at all
        }
        // SAFETY: signal 0 only checks for existence.
        let group_alive = unsafe { kill(-pgid, 0) } == 0;
        if !group_alive && in_cgroups.is_empty() {
            // Remaining children escaped both the group and the cgroups: not ours to kill.
            return;
        }
        if Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}
