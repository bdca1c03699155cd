//! The fetcher: downloads `CommandInfo.uris` into a sandbox before the task starts (Mesos'
//! `mesos-fetcher`, without the cache).
//!
//! Sources: `http://` (and `https://` when reqwest has TLS), `file://` and plain local paths.
//! Archives are extracted into the sandbox unless `extract: false` (`tar`, `unzip`, `gzip`
//! do the work); `executable: true` makes the file mode 755 and skips extraction;
//! `output_file` names the result.
//!
//! With a task user (`--switch_user`), everything happens with that user's rights, as
//! upstream's fetcher runs as the task's user: local files are copied by `cp` running as the
//! user (a task cannot fetch what its user may not read, e.g. `file:///etc/shadow`), archives
//! are extracted by `tar`/`unzip`/`gzip` running as the user, and downloads and directories
//! the agent writes are given to the user.

use containerizer::UserCreds;
use futures::StreamExt;
use mesos_api::messages::CommandUri;
use std::path::{Component, Path, PathBuf};
use tokio::io::AsyncWriteExt;
use tracing::info;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("unsupported URI '{0}' (http://, file:// and local paths are supported)")]
    Unsupported(String),
    #[error("invalid output_file '{0}'")]
    OutputFile(String),
    #[error("cannot name the file fetched from '{0}'")]
    NoName(String),
    #[error("failed to download '{uri}': {why}")]
    Download { uri: String, why: String },
    #[error("failed to copy '{uri}': {source}")]
    Copy {
        uri: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to extract '{}': {why}", path.display())]
    Extract { path: PathBuf, why: String },
    #[error("{op} '{}': {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Fetches every URI into `sandbox`, in order, with `user`'s rights (`None`: the agent's);
/// the first failure stops the fetch.
pub async fn fetch_all(
    client: &reqwest::Client,
    uris: &[CommandUri],
    sandbox: &Path,
    user: Option<&UserCreds>,
) -> Result<(), FetchError> {
    for uri in uris {
        fetch_one(client, uri, sandbox, user).await?;
    }
    Ok(())
}

async fn fetch_one(
    client: &reqwest::Client,
    uri: &CommandUri,
    sandbox: &Path,
    user: Option<&UserCreds>,
) -> Result<(), FetchError> {
    let value = uri.value.trim();
    let name = match &uri.output_file {
        Some(out) => {
            let p = Path::new(out);
            let ok = !out.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
            if !ok {
                return Err(FetchError::OutputFile(out.clone()));
            }
            p.to_path_buf()
        }
        None => PathBuf::from(basename(value).ok_or_else(|| FetchError::NoName(value.to_string()))?),
    };
    let dest = sandbox.join(&name);
    if let Some(parent) = dest.parent() {
        create_dirs(sandbox, parent, user).await?;
    }
    info!(uri = value, dest = %dest.display(), "fetching");
    if value.starts_with("http://") || value.starts_with("https://") {
        download(client, value, &dest).await?;
        give(&dest, user)?;
    } else if let Some(path) = value.strip_prefix("file://") {
        copy(value, Path::new(path), &dest, user).await?;
    } else if value.contains("://") {
        return Err(FetchError::Unsupported(value.to_string()));
    } else {
        copy(value, Path::new(value), &dest, user).await?;
    }
    if uri.executable == Some(true) {
        use std::os::unix::fs::PermissionsExt;
        tokio::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755))
            .await
            .map_err(|e| FetchError::Io { op: "chmod", path: dest.clone(), source: e })?;
        return Ok(());
    }
    if uri.extract {
        extract(&dest, sandbox, user).await?;
    }
    Ok(())
}

/// Creates `dir` (inside `sandbox`) and the directories above it, giving the new ones to `user`.
async fn create_dirs(sandbox: &Path, dir: &Path, user: Option<&UserCreds>) -> Result<(), FetchError> {
    let missing: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|d| d.starts_with(sandbox) && *d != sandbox && !d.exists())
        .map(Path::to_path_buf)
        .collect();
    tokio::fs::create_dir_all(dir).await.map_err(|e| FetchError::Io { op: "create", path: dir.into(), source: e })?;
    for d in missing.iter().rev() {
        give(d, user)?;
    }
    Ok(())
}

/// Gives what the agent wrote into the sandbox to the task's user.
fn give(path: &Path, user: Option<&UserCreds>) -> Result<(), FetchError> {
    match user {
        Some(u) => std::os::unix::fs::lchown(path, Some(u.uid), Some(u.gid)).map_err(|e| FetchError::Io {
            op: "chown",
            path: path.into(),
            source: e,
        }),
        None => Ok(()),
    }
}

/// A command that runs as `user` (the agent's own user without one). Supplementary groups are
/// dropped: only the user's and its primary group's rights remain.
fn command_as(program: &str, user: Option<&UserCreds>) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(program);
    if let Some(u) = user {
        c.uid(u.uid).gid(u.gid);
    }
    c
}

/// The last path segment of a URI, without query or fragment.
fn basename(uri: &str) -> Option<String> {
    let no_query = uri.split(['?', '#']).next().unwrap_or(uri);
    let path = match no_query.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map(|(_, p)| p).unwrap_or(""),
        None => no_query,
    };
    let name = path.rsplit('/').next().unwrap_or("");
    (!name.is_empty() && name != "." && name != "..").then(|| name.to_string())
}

async fn download(client: &reqwest::Client, uri: &str, dest: &Path) -> Result<(), FetchError> {
    let fail = |why: String| FetchError::Download { uri: uri.to_string(), why };
    let resp = client.get(uri).send().await.map_err(|e| fail(error_chain(&e)))?;
    if !resp.status().is_success() {
        return Err(fail(format!("HTTP {}", resp.status())));
    }
    let mut file = tokio::fs::File::create(dest).await.map_err(|e| FetchError::Io {
        op: "create",
        path: dest.into(),
        source: e,
    })?;
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| fail(error_chain(&e)))?;
        file.write_all(&chunk).await.map_err(|e| FetchError::Io { op: "write", path: dest.into(), source: e })?;
    }
    file.flush().await.map_err(|e| FetchError::Io { op: "write", path: dest.into(), source: e })?;
    Ok(())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

async fn copy(uri: &str, src: &Path, dest: &Path, user: Option<&UserCreds>) -> Result<(), FetchError> {
    let Some(user) = user else {
        return tokio::fs::copy(src, dest)
            .await
            .map(|_| ())
            .map_err(|e| FetchError::Copy { uri: uri.to_string(), source: e });
    };
    // With the user's rights: `cp` runs as the user (following symlinks as the user would).
    let out = command_as("cp", Some(user))
        .arg("--")
        .arg(src)
        .arg(dest)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| FetchError::Copy { uri: uri.to_string(), source: e })?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(FetchError::Copy { uri: uri.to_string(), source: std::io::Error::other(why) });
    }
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
enum Archive {
    Tar,
    Zip,
    Gzip,
}

fn archive_kind(name: &str) -> Option<Archive> {
    let n = name.to_ascii_lowercase();
    const TARS: [&str; 7] = [".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz"];
    if TARS.iter().any(|s| n.ends_with(s)) {
        Some(Archive::Tar)
    } else if n.ends_with(".zip") {
        Some(Archive::Zip)
    } else if n.ends_with(".gz") {
        Some(Archive::Gzip)
    } else {
        None
    }
}

async fn extract(file: &Path, sandbox: &Path, user: Option<&UserCreds>) -> Result<(), FetchError> {
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let Some(kind) = archive_kind(name) else { return Ok(()) };
    let dir = file.parent().unwrap_or(sandbox);
    let mut cmd = match kind {
        Archive::Tar => {
            let mut c = command_as("tar", user);
            c.arg("-C").arg(dir).arg("-xf").arg(file);
            c
        }
        Archive::Zip => {
            let mut c = command_as("unzip", user);
            c.arg("-o").arg("-q").arg("-d").arg(dir).arg(file);
            c
        }
        Archive::Gzip => {
            // `gzip -dkf x.gz` leaves x next to the archive and keeps the archive.
            let mut c = command_as("gzip", user);
            c.arg("-d").arg("-k").arg("-f").arg(file);
            c
        }
    };
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| FetchError::Extract { path: file.into(), why: e.to_string() })?;
    if !out.status.success() {
        return Err(FetchError::Extract {
            path: file.into(),
            why: format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()),
        });
    }
    info!(archive = %file.display(), "extracted");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(value: &str) -> CommandUri {
        CommandUri { value: value.into(), executable: None, extract: true, cache: None, output_file: None }
    }

    #[test]
    fn names_and_kinds() {
        assert_eq!(basename("http://h:80/a/b/app.tgz?x=1").as_deref(), Some("app.tgz"));
        assert_eq!(basename("file:///tmp/x.sh").as_deref(), Some("x.sh"));
        assert_eq!(basename("/opt/run.sh").as_deref(), Some("run.sh"));
        assert_eq!(basename("http://h/"), None);
        assert_eq!(archive_kind("a.tar.gz"), Some(Archive::Tar));
        assert_eq!(archive_kind("a.TXZ"), Some(Archive::Tar));
        assert_eq!(archive_kind("a.zip"), Some(Archive::Zip));
        assert_eq!(archive_kind("a.gz"), Some(Archive::Gzip));
        assert_eq!(archive_kind("a.sh"), None);
    }

    #[tokio::test]
    async fn downloads_over_http() {
        use axum::routing::get;
        let app = axum::Router::new().route("/files/app.txt", get(|| async { "served over http" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let sandbox = tempfile::tempdir().expect("tempdir");
        let client = reqwest::Client::new();
        fetch_all(&client, &[uri(&format!("http://{addr}/files/app.txt?v=1"))], sandbox.path(), None)
            .await
            .expect("fetch");
        assert_eq!(std::fs::read_to_string(sandbox.path().join("app.txt")).expect("read"), "served over http");
        let missing = fetch_all(&client, &[uri(&format!("http://{addr}/files/nope.txt"))], sandbox.path(), None).await;
        assert!(matches!(missing, Err(FetchError::Download { ref why, .. }) if why.contains("404")), "{missing:?}");
        server.abort();
    }

    #[tokio::test]
    async fn fetches_local_files_extracts_and_chmods() {
        let src = tempfile::tempdir().expect("tempdir");
        let sandbox = tempfile::tempdir().expect("tempdir");
        let client = reqwest::Client::new();
        // A tarball with one file.
        std::fs::write(src.path().join("inner.txt"), "inside").expect("write");
        let status = std::process::Command::new("tar")
            .arg("-C")
            .arg(src.path())
            .args(["-czf", "bundle.tar.gz", "inner.txt"])
            .current_dir(src.path())
            .status()
            .expect("tar");
        assert!(status.success());
        std::fs::write(src.path().join("run.sh"), "#!/bin/sh\necho hi\n").expect("write");

        let mut exe = uri(&format!("file://{}", src.path().join("run.sh").display()));
        exe.executable = Some(true);
        exe.output_file = Some("bin/start".into());
        let tarball = uri(&src.path().join("bundle.tar.gz").display().to_string());
        let mut kept = uri(&src.path().join("bundle.tar.gz").display().to_string());
        kept.extract = false;
        kept.output_file = Some("copy.tar.gz".into());
        fetch_all(&client, &[exe, tarball, kept], sandbox.path(), None).await.expect("fetch");

        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(sandbox.path().join("bin/start")).expect("start").permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(std::fs::read_to_string(sandbox.path().join("inner.txt")).expect("inner"), "inside");
        assert!(sandbox.path().join("copy.tar.gz").is_file());

        let missing = uri("/nonexistent/file.txt");
        assert!(matches!(fetch_all(&client, &[missing], sandbox.path(), None).await, Err(FetchError::Copy { .. })));
        assert!(matches!(
            fetch_all(&client, &[uri("ftp://x/y")], sandbox.path(), None).await,
            Err(FetchError::Unsupported(_))
        ));
        let mut escape = uri("/etc/hostname");
        escape.output_file = Some("../x".into());
        assert!(matches!(fetch_all(&client, &[escape], sandbox.path(), None).await, Err(FetchError::OutputFile(_))));
    }
}
