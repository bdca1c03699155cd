//! The fetcher: downloads `CommandInfo.uris` into a sandbox before the task starts (Mesos'
//! `mesos-fetcher`, without the cache).
//!
//! Sources: `http://` (and `https://` when reqwest has TLS), `file://` and plain local paths.
//! Archives are extracted into the sandbox unless `extract: false` (`tar`, `unzip`, `gzip`
//! do the work); `executable: true` makes the file mode 755 and skips extraction;
//! `output_file` names the result.

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

/// Fetches every URI into `sandbox`, in order; the first failure stops the fetch.
pub async fn fetch_all(client: &reqwest::Client, uris: &[CommandUri], sandbox: &Path) -> Result<(), FetchError> {
    for uri in uris {
        fetch_one(client, uri, sandbox).await?;
    }
    Ok(())
}

async fn fetch_one(client: &reqwest::Client, uri: &CommandUri, sandbox: &Path) -> Result<(), FetchError> {
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
        tokio::fs::create_dir_all(parent).await.map_err(|e| FetchError::Io {
            op: "create",
            path: parent.into(),
            source: e,
        })?;
    }
    info!(uri = value, dest = %dest.display(), "fetching");
    if value.starts_with("http://") || value.starts_with("https://") {
        download(client, value, &dest).await?;
    } else if let Some(path) = value.strip_prefix("file://") {
        copy(value, Path::new(path), &dest).await?;
    } else if value.contains("://") {
        return Err(FetchError::Unsupported(value.to_string()));
    } else {
        copy(value, Path::new(value), &dest).await?;
    }
    if uri.executable == Some(true) {
        use std::os::unix::fs::PermissionsExt;
        tokio::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755))
            .await
            .map_err(|e| FetchError::Io { op: "chmod", path: dest.clone(), source: e })?;
        return Ok(());
    }
    if uri.extract {
        extract(&dest, sandbox).await?;
    }
    Ok(())
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

async fn copy(uri: &str, src: &Path, dest: &Path) -> Result<(), FetchError> {
    tokio::fs::copy(src, dest).await.map(|_| ()).map_err(|e| FetchError::Copy { uri: uri.to_string(), source: e })
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

async fn extract(file: &Path, sandbox: &Path) -> Result<(), FetchError> {
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let Some(kind) = archive_kind(name) else { return Ok(()) };
    let dir = file.parent().unwrap_or(sandbox);
    let mut cmd = match kind {
        Archive::Tar => {
            let mut c = tokio::process::Command::new("tar");
            c.arg("-C").arg(dir).arg("-xf").arg(file);
            c
        }
        Archive::Zip => {
            let mut c = tokio::process::Command::new("unzip");
            c.arg("-o").arg("-q").arg("-d").arg(dir).arg(file);
            c
        }
        Archive::Gzip => {
            // `gzip -dkf x.gz` leaves x next to the archive and keeps the archive.
            let mut c = tokio::process::Command::new("gzip");
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
        fetch_all(&client, &[uri(&format!("http://{addr}/files/app.txt?v=1"))], sandbox.path()).await.expect("fetch");
        assert_eq!(std::fs::read_to_string(sandbox.path().join("app.txt")).expect("read"), "served over http");
        let missing = fetch_all(&client, &[uri(&format!("http://{addr}/files/nope.txt"))], sandbox.path()).await;
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
        fetch_all(&client, &[exe, tarball, kept], sandbox.path()).await.expect("fetch");

        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(sandbox.path().join("bin/start")).expect("start").permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(std::fs::read_to_string(sandbox.path().join("inner.txt")).expect("inner"), "inside");
        assert!(sandbox.path().join("copy.tar.gz").is_file());

        let missing = uri("/nonexistent/file.txt");
        assert!(matches!(fetch_all(&client, &[missing], sandbox.path()).await, Err(FetchError::Copy { .. })));
        assert!(matches!(
            fetch_all(&client, &[uri("ftp://x/y")], sandbox.path()).await,
            Err(FetchError::Unsupported(_))
        ));
        let mut escape = uri("/etc/hostname");
        escape.output_file = Some("../x".into());
        assert!(matches!(fetch_all(&client, &[escape], sandbox.path()).await, Err(FetchError::OutputFile(_))));
    }
}
