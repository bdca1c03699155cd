//! Where a container's output goes: the sandbox's `stdout` and `stderr` ([`LogFiles`]),
//! rotated by size when the agent runs upstream's logrotate container logger ([`Rotate`], as
//! the command tasks' monitor rotates theirs), and the record of how much of each stream was
//! copied ([`OutputState`]), which tells a restarted agent where to go on once rotation has
//! made the files' sizes meaningless.

use std::io;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// logrotate's `size` and `rotate` for one stream: a file that reached `max_size` bytes
/// becomes `<file>.1` when more output comes (older ones `.2` ... up to `.keep`, the oldest
/// removed; `keep` 0: no old file is kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotate {
    pub max_size: u64,
    pub keep: u32,
}

/// Where a container's output goes: the sandbox's `stdout` and `stderr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFiles {
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    /// With the logrotate logger: how `stdout` and `stderr` are rotated.
    pub rotate: Option<(Rotate, Rotate)>,
}

impl LogFiles {
    /// `<sandbox>/stdout` and `<sandbox>/stderr`, growing without bound.
    pub fn in_sandbox(sandbox: &Path) -> LogFiles {
        LogFiles { stdout: sandbox.join("stdout"), stderr: sandbox.join("stderr"), rotate: None }
    }

    /// The same files rotated by size.
    pub fn rotated(self, rotate: Option<(Rotate, Rotate)>) -> LogFiles {
        LogFiles { rotate, ..self }
    }

    /// The files' current sizes (0 for a file that does not exist yet).
    pub(crate) fn sizes(&self) -> (u64, u64) {
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        (size(&self.stdout), size(&self.stderr))
    }

    /// The record of a rotated container's output, next to its files.
    pub(crate) fn state_path(&self) -> PathBuf {
        self.stdout.with_file_name(".docker-output")
    }
}

/// What a rotated container's output pump records after each write: the rotation and the
/// bytes of each stream copied so far (a line `max_out keep_out max_err keep_err out err`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OutputState {
    pub rotate: (Rotate, Rotate),
    pub copied: (u64, u64),
}

impl OutputState {
    pub(crate) fn read(path: &Path) -> Option<OutputState> {
        let text = std::fs::read_to_string(path).ok()?;
        let n: Vec<u64> = text.split_whitespace().map(str::parse).collect::<Result<_, _>>().ok()?;
        let [max_out, keep_out, max_err, keep_err, out, err] = n[..] else { return None };
        let keep = |k: u64| u32::try_from(k).ok();
        Some(OutputState {
            rotate: (
                Rotate { max_size: max_out, keep: keep(keep_out)? },
                Rotate { max_size: max_err, keep: keep(keep_err)? },
            ),
            copied: (out, err),
        })
    }

    fn text(&self) -> String {
        let (o, e) = self.rotate;
        format!("{} {} {} {} {} {}\n", o.max_size, o.keep, e.max_size, e.keep, self.copied.0, self.copied.1)
    }

    /// Written whole to a temporary file and renamed over the record, so that a crash leaves
    /// the old record or the new one. At worst it lags the files by the last write, which a
    /// restarted agent then copies again.
    pub(crate) async fn write(&self, path: &Path) -> io::Result<()> {
        let tmp = path.with_extension("tmp");
        tokio::fs::write(&tmp, self.text()).await?;
        tokio::fs::rename(&tmp, path).await
    }
}

/// One output file being appended to, rotated by size when it has a [`Rotate`].
pub(crate) struct Sink {
    path: PathBuf,
    file: tokio::fs::File,
    size: u64,
    rotate: Option<Rotate>,
}

impl Sink {
    pub(crate) async fn open(path: &Path, rotate: Option<Rotate>) -> io::Result<Sink> {
        let file = open_append(path).await?;
        let size = file.metadata().await?.len();
        Ok(Sink { path: path.to_path_buf(), file, size, rotate })
    }

    /// Appends `bytes`; with rotation, a full file is rotated before more is written to it
    /// and a write that crosses the max size is split, so each rotated file holds exactly
    /// `max_size` bytes.
    pub(crate) async fn write(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        let Some(rotate) = self.rotate.filter(|r| r.max_size > 0) else {
            self.size += bytes.len() as u64;
            return self.file.write_all(bytes).await;
        };
        while !bytes.is_empty() {
            if self.size >= rotate.max_size {
                self.file.flush().await?;
                rotate_files(&self.path, rotate.keep).await?;
                self.file = open_append(&self.path).await?;
                self.size = 0;
            }
            let room = usize::try_from(rotate.max_size - self.size).unwrap_or(usize::MAX);
            let (now, later) = bytes.split_at(room.min(bytes.len()));
            self.file.write_all(now).await?;
            self.size += now.len() as u64;
            bytes = later;
        }
        Ok(())
    }

    pub(crate) async fn flush(&mut self) -> io::Result<()> {
        self.file.flush().await
    }
}

async fn open_append(path: &Path) -> io::Result<tokio::fs::File> {
    tokio::fs::OpenOptions::new().create(true).append(true).open(path).await
}

/// `<file>.k` becomes `<file>.k+1` (the one at `keep` is removed), `<file>` becomes `<file>.1`.
async fn rotate_files(path: &Path, keep: u32) -> io::Result<()> {
    let numbered = |k: u32| {
        let mut name = path.as_os_str().to_os_string();
        name.push(format!(".{k}"));
        PathBuf::from(name)
    };
    if keep == 0 {
        return ignore_missing(tokio::fs::remove_file(path).await);
    }
    ignore_missing(tokio::fs::remove_file(numbered(keep)).await)?;
    for k in (1..keep).rev() {
        ignore_missing(tokio::fs::rename(numbered(k), numbered(k + 1)).await)?;
    }
    ignore_missing(tokio::fs::rename(path, numbered(1)).await)
}

fn ignore_missing(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }

    #[tokio::test]
    async fn a_rotated_sink_keeps_files_of_exactly_the_max_size_and_at_most_keep_of_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("stdout");
        let mut sink = Sink::open(&path, Some(Rotate { max_size: 10, keep: 2 })).await.expect("open");
        sink.write(b"0123456789").await.expect("write");
        sink.flush().await.expect("flush");
        assert_eq!(read(&path), "0123456789", "a full file is rotated only when more comes");
        sink.write(b"abcdefghijklmnopqrstuvwxyz").await.expect("write");
        sink.flush().await.expect("flush");
        assert_eq!(read(&path), "uvwxyz");
        assert_eq!(read(&dir.path().join("stdout.1")), "klmnopqrst");
        assert_eq!(read(&dir.path().join("stdout.2")), "abcdefghij");
        assert!(!dir.path().join("stdout.3").exists(), "the oldest is removed");

        let plain = dir.path().join("stderr");
        let mut sink = Sink::open(&plain, None).await.expect("open");
        sink.write(&[b'x'; 100]).await.expect("write");
        sink.flush().await.expect("flush");
        assert_eq!(read(&plain).len(), 100, "no rotation without the logger");
    }

    #[tokio::test]
    async fn the_output_record_round_trips_and_refuses_garbage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = LogFiles::in_sandbox(dir.path());
        let state = OutputState {
            rotate: (Rotate { max_size: 1024, keep: 3 }, Rotate { max_size: 4096, keep: 0 }),
            copied: (5000, 7),
        };
        state.write(&files.state_path()).await.expect("write");
        assert_eq!(OutputState::read(&files.state_path()), Some(state));
        std::fs::write(files.state_path(), "1 2 3\n").expect("write");
        assert_eq!(OutputState::read(&files.state_path()), None);
        assert_eq!(OutputState::read(&dir.path().join("missing")), None);
    }
}
