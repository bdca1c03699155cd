//! `disk/du`: a task's sandbox may hold as much as its `disk` resource. Every
//! `--container_disk_watcher_interval` the shell measures each sandbox as `du` does ([`usage`]:
//! allocated blocks, each inode once, symlinks not followed, other file systems skipped);
//! with `--enforce_container_disk_quota` a sandbox over its quota fails its task with
//! REASON_CONTAINER_LIMITATION_DISK ([`limitation`]).

use crate::core::Limitation;
use mesos_api::messages::Reason;
use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The limitation of a sandbox of `used` bytes with a quota of `quota` bytes (`None` when
/// either is unknown or the sandbox fits).
pub fn limitation(used: Option<u64>, quota: Option<u64>) -> Option<Limitation> {
    let (used, quota) = (used?, quota?);
    (used > quota).then(|| Limitation {
        reason: Reason::ContainerLimitationDisk,
        message: format!("Disk usage ({}) exceeds quota ({})", bytes_text(used), bytes_text(quota)),
        resources: vec!["disk"],
    })
}

/// Bytes as upstream's `Bytes` prints them: the largest unit that keeps the value at least 1,
/// with up to 3 decimals (`10MB`, `1.5GB`, `512B`).
fn bytes_text(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size {
            let value = ((bytes as f64 / size as f64) * 1000.0).round() / 1000.0;
            return format!("{value}{unit}");
        }
    }
    format!("{bytes}B")
}

/// The space `dir` takes on disk, as `du -s -x` counts it (blocking): allocated blocks of
/// every file and directory below it, hard links once, symlinks not followed, and nothing on
/// other file systems (a mount inside the sandbox is not the sandbox's).
pub fn usage(dir: &Path) -> std::io::Result<u64> {
    let top = std::fs::symlink_metadata(dir)?;
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut total = top.blocks() * 512;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            // Files come and go while the task runs: skip what vanished.
            let Ok(meta) = entry.metadata() else { continue };
            if meta.dev() != top.dev() {
                continue;
            }
            if meta.nlink() > 1 && !meta.is_dir() && !seen.insert((meta.dev(), meta.ino())) {
                continue;
            }
            total += meta.blocks() * 512;
            if meta.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_the_quota_is_a_disk_limitation() {
        assert_eq!(limitation(Some(10), None), None);
        assert_eq!(limitation(None, Some(10)), None);
        assert_eq!(limitation(Some(10 << 20), Some(10 << 20)), None, "at the quota is fine");
        let l = limitation(Some(15 << 20), Some(10 << 20)).expect("over");
        assert_eq!(l.reason, Reason::ContainerLimitationDisk);
        assert_eq!(l.message, "Disk usage (15MB) exceeds quota (10MB)");
        assert_eq!(l.resources, vec!["disk"]);
        assert_eq!(bytes_text(1536 << 20), "1.5GB");
        assert_eq!(bytes_text(512), "512B");
    }

    #[test]
    fn usage_counts_allocated_blocks_once_and_follows_no_link() {
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = usage(dir.path()).expect("du");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("sub/data"), vec![1u8; 1 << 20]).expect("write");
        std::fs::hard_link(dir.path().join("sub/data"), dir.path().join("again")).expect("link");
        std::os::unix::fs::symlink("/usr", dir.path().join("usr")).expect("symlink");
        let used = usage(dir.path()).expect("du") - empty;
        assert!((1 << 20..(1 << 20) + (64 << 10)).contains(&used), "{used}");
    }
}
