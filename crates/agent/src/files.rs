//! `/files/*`: sandbox browsing, confined to the agent's `slaves/` tree.
//!
//! A requested path is either a real path inside `<work_dir>/slaves` (possibly through a
//! `runs/latest` symlink) or the virtual `/frameworks/<F>/executors/<E>/runs/...`, which is
//! resolved under the current agent id. The result is canonicalized (symlinks and `..`
//! resolved) and must still lie inside `<work_dir>/slaves`; anything else is "not found".
//!
//! Only regular files are read or downloaded (and directories browsed): a task can put a named
//! pipe, a socket or a device node in its sandbox, and opening or reading those can block for
//! ever or never end. A file is checked before it is opened (nothing else is even opened),
//! opened without blocking and without following a last symlink, checked again on the opened
//! descriptor, whose path must still lie inside `<work_dir>/slaves` (a component replaced by
//! a symlink in the meantime cannot lead outside).
//!
//! A file inside a task's sandbox is served only if the sandbox's owner (the task's user, see
//! `--switch_user`) may read it by its permission bits: a hard link a task made to a file its
//! user cannot read (where the kernel allows that) is refused (403), as reading it as the task
//! would be.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Largest chunk `/files/read` returns (Mesos: 16 pages).
pub const MAX_READ: u64 = 16 * 4096;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilesError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
}

/// Resolves a requested path to a canonical path inside `<work_dir>/slaves`.
pub fn resolve(work_dir: &Path, agent_id: Option<&str>, requested: &str) -> Result<PathBuf, FilesError> {
    if requested.is_empty() {
        return Err(FilesError::BadRequest("Expecting 'path=value' in query.".into()));
    }
    let slaves = work_dir.join("slaves");
    let candidate = if let Some(rest) = requested.strip_prefix("/frameworks/") {
        let agent = agent_id.ok_or_else(|| FilesError::NotFound("No file or directory found".into()))?;
        slaves.join(agent).join("frameworks").join(rest)
    } else if Path::new(requested).is_absolute() {
        PathBuf::from(requested)
    } else {
        return Err(FilesError::BadRequest(format!("Path '{requested}' is not absolute")));
    };
    let not_found = || FilesError::NotFound(format!("No file or directory found at path '{requested}'"));
    let root = slaves.canonicalize().map_err(|_| not_found())?;
    let real = candidate.canonicalize().map_err(|_| not_found())?;
    if !real.starts_with(&root) || real == root {
        return Err(not_found());
    }
    Ok(real)
}

/// `ls -l`-style mode string (`-rw-r--r--`, `drwxr-xr-x`).
pub fn mode_string(meta: &fs::Metadata) -> String {
    let ft = meta.file_type();
    let kind = if ft.is_dir() {
        'd'
    } else if ft.is_symlink() {
        'l'
    } else {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            'p'
        } else if ft.is_socket() {
            's'
        } else if ft.is_block_device() {
            'b'
        } else if ft.is_char_device() {
            'c'
        } else {
            '-'
        }
    };
    let mode = meta.permissions().mode();
    let mut s = String::with_capacity(10);
    s.push(kind);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

/// uid/gid → name tables from `/etc/passwd` and `/etc/group`.
#[derive(Debug, Default)]
pub struct Names {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

impl Names {
    pub fn load() -> Self {
        let table = |path: &str| -> HashMap<u32, String> {
            fs::read_to_string(path)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| {
                    let mut f = l.split(':');
                    let name = f.next()?;
                    let id = f.nth(1)?.parse().ok()?;
                    Some((id, name.to_string()))
                })
                .collect()
        };
        Self { users: table("/etc/passwd"), groups: table("/etc/group") }
    }

    fn user(&self, uid: u32) -> String {
        self.users.get(&uid).cloned().unwrap_or_else(|| uid.to_string())
    }

    fn group(&self, gid: u32) -> String {
        self.groups.get(&gid).cloned().unwrap_or_else(|| gid.to_string())
    }
}

fn entry_json(path: String, meta: &fs::Metadata, names: &Names) -> Value {
    json!({
        "path": path,
        "nlink": meta.nlink(),
        "size": meta.len(),
        "mtime": meta.mtime(),
        "mode": mode_string(meta),
        "uid": names.user(meta.uid()),
        "gid": names.group(meta.gid()),
    })
}

/// `/files/browse`: the entries of a directory (paths in the caller's form), sorted by name.
pub fn browse(work_dir: &Path, agent_id: Option<&str>, requested: &str) -> Result<Value, FilesError> {
    let real = resolve(work_dir, agent_id, requested)?;
    let names = Names::load();
    let meta = fs::metadata(&real).map_err(|e| FilesError::NotFound(e.to_string()))?;
    if !meta.is_dir() {
        return Ok(json!([entry_json(requested.to_string(), &meta, &names)]));
    }
    let mut entries: Vec<(String, fs::Metadata)> = fs::read_dir(&real)
        .map_err(|e| FilesError::NotFound(e.to_string()))?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            // Follow symlinks for the listing, but do not list links leading outside.
            let target = fs::canonicalize(e.path()).ok()?;
            if !target.starts_with(work_dir.join("slaves").canonicalize().ok()?) {
                return None;
            }
            Some((name, fs::metadata(e.path()).ok()?))
        })
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let base = requested.trim_end_matches('/');
    Ok(Value::Array(entries.into_iter().map(|(n, m)| entry_json(format!("{base}/{n}"), &m, &names)).collect()))
}

/// Parses an optional signed integer query parameter.
fn parse_param(name: &str, value: Option<&str>) -> Result<Option<i64>, FilesError> {
    match value {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .map(Some)
            .map_err(|_| FilesError::BadRequest(format!("Failed to parse {name}: '{v}' is not a number"))),
    }
}

/// A regular file inside `<work_dir>/slaves`, opened for reading.
#[derive(Debug)]
pub struct OpenedFile {
    pub file: fs::File,
    /// Its size when it was opened.
    pub size: u64,
    /// Its name (for `Content-Disposition`).
    pub name: String,
}

/// Opens the regular file `requested` names for `verb` (`read`, `download`): directories,
/// named pipes, sockets and devices are refused (400), as are paths outside the sandboxes (404).
pub fn open_regular(
    work_dir: &Path,
    agent_id: Option<&str>,
    requested: &str,
    verb: &str,
) -> Result<OpenedFile, FilesError> {
    let real = resolve(work_dir, agent_id, requested)?;
    let not_regular = || FilesError::BadRequest(format!("Cannot {verb} '{requested}': it is not a regular file"));
    let meta = fs::metadata(&real).map_err(|e| FilesError::NotFound(e.to_string()))?;
    if meta.is_dir() {
        return Err(FilesError::BadRequest(format!("Cannot {verb} a directory")));
    }
    if !meta.is_file() {
        return Err(not_regular());
    }
    use nix::fcntl::OFlag;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW | OFlag::O_NOCTTY).bits())
        .open(&real)
        .map_err(|e| FilesError::NotFound(e.to_string()))?;
    let meta = file.metadata().map_err(|e| FilesError::NotFound(e.to_string()))?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    // What was opened, wherever a path component may have been replaced since `resolve`.
    let opened = fs::read_link(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&file)))
        .map_err(|e| FilesError::NotFound(e.to_string()))?;
    let root = work_dir.join("slaves").canonicalize().map_err(|e| FilesError::NotFound(e.to_string()))?;
    if !opened.starts_with(&root) {
        return Err(FilesError::NotFound(format!("No file or directory found at path '{requested}'")));
    }
    if !sandbox_owner_may_read(&root, &opened, &meta) {
        return Err(FilesError::Forbidden(format!("The task's user may not read '{requested}'")));
    }
    let name = real.file_name().and_then(|n| n.to_str()).unwrap_or("download").to_string();
    Ok(OpenedFile { file, size: meta.len(), name })
}

/// Components from `<work_dir>/slaves` to a sandbox:
/// `<agent>/frameworks/<F>/executors/<E>/runs/<container>`.
const SANDBOX_DEPTH: usize = 7;

/// Whether the owner of the sandbox holding `path` (below the canonical `slaves` root) may read
/// the file `meta` describes: its owner's permission bits, its group's when the file's group is
/// the sandbox's, the others' otherwise (the sandbox of a task group's task is its own,
/// `.../runs/<container>/tasks/<task id>`). Files outside sandboxes, and sandboxes of root, are
/// not restricted.
fn sandbox_owner_may_read(slaves: &Path, path: &Path, meta: &fs::Metadata) -> bool {
    let Ok(below) = path.strip_prefix(slaves) else { return false };
    if below.components().count() <= SANDBOX_DEPTH {
        return true;
    }
    // A task group's task has its own sandbox in its executor's: `tasks/<task id>`.
    let in_task = below.components().nth(SANDBOX_DEPTH).is_some_and(|c| c.as_os_str() == "tasks")
        && below.components().count() > SANDBOX_DEPTH + 2;
    let depth = if in_task { SANDBOX_DEPTH + 2 } else { SANDBOX_DEPTH };
    let sandbox: PathBuf = slaves.join(below.components().take(depth).collect::<PathBuf>());
    let Ok(owner) = fs::metadata(&sandbox) else { return false };
    let creds = containerizer::UserCreds { uid: owner.uid(), gid: owner.gid(), groups: vec![owner.gid()] };
    creds.may_read(meta.uid(), meta.gid(), meta.mode())
}

/// `/files/read`: `{"data": ..., "offset": ...}`.
pub fn read(
    work_dir: &Path,
    agent_id: Option<&str>,
    requested: &str,
    offset: Option<&str>,
    length: Option<&str>,
) -> Result<Value, FilesError> {
    let offset = parse_param("offset", offset)?;
    let length = parse_param("length", length)?;
    if offset.is_some_and(|o| o < -1) {
        return Err(FilesError::BadRequest(format!("Negative offset provided: {}", offset.unwrap_or(0))));
    }
    if length.is_some_and(|l| l < -1) {
        return Err(FilesError::BadRequest(format!("Negative length provided: {}", length.unwrap_or(0))));
    }
    let opened = open_regular(work_dir, agent_id, requested, "read")?;
    let size = opened.size;
    let offset = match offset {
        None | Some(-1) => return Ok(json!({"data": "", "offset": size})),
        Some(o) => o as u64,
    };
    if offset >= size {
        return Ok(json!({"data": "", "offset": size}));
    }
    let want = match length {
        None | Some(-1) => MAX_READ,
        Some(l) => (l as u64).min(MAX_READ),
    };
    let mut buf = vec![0u8; want.min(size - offset) as usize];
    let n = read_at(&opened.file, &mut buf, offset).map_err(|e| FilesError::BadRequest(e.to_string()))?;
    buf.truncate(n);
    Ok(json!({"data": String::from_utf8_lossy(&buf), "offset": offset}))
}

/// Reads from `offset` until `buf` is full or the end of the file (blocking).
pub fn read_at(file: &fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Tree {
        _dir: tempfile::TempDir,
        work: PathBuf,
        sandbox: PathBuf,
    }

    fn tree() -> Tree {
        let dir = tempfile::tempdir().expect("tempdir");
        let work = dir.path().join("work");
        let runs = work.join("slaves/A1/frameworks/F/executors/E/runs");
        let sandbox = runs.join("C1");
        fs::create_dir_all(&sandbox).expect("mkdir");
        fs::write(sandbox.join("stdout"), "hello\nworld\n").expect("write");
        std::os::unix::fs::symlink("C1", runs.join("latest")).expect("symlink");
        std::os::unix::fs::symlink("/etc", sandbox.join("etc-link")).expect("symlink");
        fs::write(dir.path().join("secret"), "s").expect("write");
        Tree { work: work.clone(), sandbox, _dir: dir }
    }

    #[test]
    fn resolves_real_latest_and_virtual_paths() {
        let t = tree();
        let real = t.sandbox.join("stdout").canonicalize().expect("canon");
        let p = |s: &str| resolve(&t.work, Some("A1"), s);
        assert_eq!(p(&t.sandbox.join("stdout").display().to_string()), Ok(real.clone()));
        let latest = t.work.join("slaves/A1/frameworks/F/executors/E/runs/latest/stdout");
        assert_eq!(p(&latest.display().to_string()), Ok(real.clone()));
        assert_eq!(p("/frameworks/F/executors/E/runs/latest/stdout"), Ok(real));
    }

    #[test]
    fn refuses_traversal_and_escaping_symlinks() {
        let t = tree();
        let p = |s: &str| resolve(&t.work, Some("A1"), s);
        assert!(matches!(p("/frameworks/../../../secret"), Err(FilesError::NotFound(_))));
        assert!(matches!(
            p("/frameworks/F/executors/E/runs/latest/../../../../../../../secret"),
            Err(FilesError::NotFound(_))
        ));
        assert!(matches!(p("/frameworks/F/executors/E/runs/latest/etc-link/passwd"), Err(FilesError::NotFound(_))));
        assert!(matches!(p("/etc/passwd"), Err(FilesError::NotFound(_))));
        assert!(matches!(p(&format!("{}/../secret", t.work.join("slaves").display())), Err(FilesError::NotFound(_))));
        assert!(matches!(p(&t.work.join("slaves").display().to_string()), Err(FilesError::NotFound(_))));
        assert!(matches!(p("relative/path"), Err(FilesError::BadRequest(_))));
        assert!(matches!(p(""), Err(FilesError::BadRequest(_))));
        assert!(matches!(resolve(&t.work, None, "/frameworks/F"), Err(FilesError::NotFound(_))));
        let listing = browse(&t.work, Some("A1"), "/frameworks/F/executors/E/runs/latest").expect("browse");
        let names: Vec<&str> = listing.as_array().expect("array").iter().filter_map(|e| e["path"].as_str()).collect();
        assert_eq!(names, vec!["/frameworks/F/executors/E/runs/latest/stdout"]);
    }

    #[test]
    fn reads_with_offsets() {
        let t = tree();
        let path = "/frameworks/F/executors/E/runs/latest/stdout";
        let r = |o: Option<&str>, l: Option<&str>| read(&t.work, Some("A1"), path, o, l);
        assert_eq!(r(Some("0"), None), Ok(json!({"data": "hello\nworld\n", "offset": 0})));
        assert_eq!(r(Some("6"), Some("3")), Ok(json!({"data": "wor", "offset": 6})));
        assert_eq!(r(None, None), Ok(json!({"data": "", "offset": 12})));
        assert_eq!(r(Some("-1"), None), Ok(json!({"data": "", "offset": 12})));
        assert_eq!(r(Some("100"), None), Ok(json!({"data": "", "offset": 12})));
        assert!(matches!(r(Some("-5"), None), Err(FilesError::BadRequest(_))));
        assert!(matches!(r(Some("x"), None), Err(FilesError::BadRequest(_))));
        assert!(matches!(r(Some("0"), Some("-3")), Err(FilesError::BadRequest(_))));
        assert!(matches!(
            read(&t.work, Some("A1"), "/frameworks/F/executors/E/runs/latest", Some("0"), None),
            Err(FilesError::BadRequest(_))
        ));
        assert!(matches!(
            read(&t.work, Some("A1"), "/frameworks/F/nope", Some("0"), None),
            Err(FilesError::NotFound(_))
        ));
    }

    #[test]
    fn only_regular_files_are_read_or_downloaded() {
        let t = tree();
        nix::unistd::mkfifo(&t.sandbox.join("pipe"), nix::sys::stat::Mode::from_bits_truncate(0o644)).expect("mkfifo");
        let _socket = std::os::unix::net::UnixListener::bind(t.sandbox.join("socket")).expect("socket");
        std::os::unix::fs::symlink("pipe", t.sandbox.join("to-pipe")).expect("symlink");
        // A device node (only root may make one): /dev/zero would never end.
        let device = nix::sys::stat::mknod(
            &t.sandbox.join("zero"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o644),
            nix::sys::stat::makedev(1, 5),
        )
        .is_ok();
        let mut names = vec!["pipe", "socket", "to-pipe"];
        if device {
            names.push("zero");
        }
        for name in names {
            let path = format!("/frameworks/F/executors/E/runs/latest/{name}");
            let started = std::time::Instant::now();
            let refused = |r: Result<(), FilesError>| match r {
                Err(FilesError::BadRequest(m)) => assert!(m.contains("not a regular file"), "{name}: {m}"),
                other => panic!("{name}: {other:?}"),
            };
            refused(read(&t.work, Some("A1"), &path, Some("0"), None).map(|_| ()));
            refused(open_regular(&t.work, Some("A1"), &path, "download").map(|_| ()));
            assert!(started.elapsed() < std::time::Duration::from_secs(1), "{name} blocked");
            // Browsing shows it without opening it.
            let listing = browse(&t.work, Some("A1"), &path).expect("browse");
            assert_eq!(listing[0]["path"], path.as_str());
        }
        let listing = browse(&t.work, Some("A1"), "/frameworks/F/executors/E/runs/latest").expect("browse");
        let modes: Vec<&str> = listing.as_array().expect("array").iter().filter_map(|e| e["mode"].as_str()).collect();
        assert!(modes.contains(&"prw-r--r--"), "{modes:?}");
    }

    #[test]
    fn browse_lists_entries_like_mesos() {
        let t = tree();
        let dir = t.sandbox.display().to_string();
        let listing = browse(&t.work, Some("A1"), &dir).expect("browse");
        let e = &listing[0];
        assert_eq!(e["path"], format!("{dir}/stdout"));
        assert_eq!(e["size"], 12);
        assert_eq!(e["mode"], "-rw-r--r--");
        assert!(e["mtime"].as_i64().is_some());
        assert!(e["uid"].is_string());
        assert!(matches!(open_regular(&t.work, Some("A1"), &dir, "download"), Err(FilesError::BadRequest(_))));
        let opened = open_regular(&t.work, Some("A1"), &format!("{dir}/stdout"), "download").expect("open");
        assert_eq!((opened.size, opened.name.as_str()), (12, "stdout"));
    }
}
