//! `/files/browse`, `/files/read` and `/files/download` over HTTP (the file work itself is in
//! [`crate::files`]).
//!
//! File work blocks, so it runs on tokio's blocking threads, the ones the agent also uses to
//! checkpoint and to start tasks. [`FileIo`] keeps file serving from ever taking them all:
//! at most [`FILE_IO_THREADS`] blocking jobs serve files at once, a request waits at most
//! [`FILE_IO_WAIT`] for one (then 503), and each job is answered within [`FILE_IO_TIMEOUT`]
//! (then 500; the job keeps its slot until it really ends, so a stuck file system cannot take
//! more than those threads either). A download is read chunk by chunk, each chunk such a job,
//! and ends at the size the file had when it was opened.

use crate::files::{self, FilesError, OpenedFile};
use crate::server::{AppState, json_response};
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tracing::warn;

/// Blocking jobs serving files at once, at most.
pub(crate) const FILE_IO_THREADS: usize = 8;

/// How long a request waits for one of those jobs.
pub(crate) const FILE_IO_WAIT: Duration = Duration::from_secs(5);

/// How long one job (an open, a listing, a read of one chunk) may take.
pub(crate) const FILE_IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes a download reads per job.
const DOWNLOAD_CHUNK: usize = 64 * 1024;

/// The bounded share of the blocking threads that serves files. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct FileIo {
    slots: Arc<Semaphore>,
}

impl Default for FileIo {
    fn default() -> Self {
        Self { slots: Arc::new(Semaphore::new(FILE_IO_THREADS)) }
    }
}

/// Why file work got no answer.
#[derive(Debug)]
enum IoError {
    Files(FilesError),
    Busy,
    TimedOut,
    Failed(String),
}

impl IoError {
    fn into_response(self) -> Response {
        match self {
            IoError::Files(FilesError::BadRequest(m)) => (StatusCode::BAD_REQUEST, m).into_response(),
            IoError::Files(FilesError::NotFound(m)) => (StatusCode::NOT_FOUND, m).into_response(),
            IoError::Files(FilesError::Forbidden(m)) => (StatusCode::FORBIDDEN, m).into_response(),
            IoError::Busy => {
                (StatusCode::SERVICE_UNAVAILABLE, "Too many file requests at once; try again\n").into_response()
            }
            IoError::TimedOut => {
                (StatusCode::INTERNAL_SERVER_ERROR, "The file took too long to read\n").into_response()
            }
            IoError::Failed(m) => (StatusCode::INTERNAL_SERVER_ERROR, m).into_response(),
        }
    }
}

impl FileIo {
    /// Runs `job` on a blocking thread once a slot is free, bounded in time.
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> Result<T, FilesError> + Send + 'static,
    ) -> Result<T, IoError> {
        let slot = match tokio::time::timeout(FILE_IO_WAIT, self.slots.clone().acquire_owned()).await {
            Ok(Ok(slot)) => slot,
            Ok(Err(_)) | Err(_) => return Err(IoError::Busy),
        };
        let work = tokio::task::spawn_blocking(move || {
            let result = job();
            drop(slot);
            result
        });
        match tokio::time::timeout(FILE_IO_TIMEOUT, work).await {
            Ok(Ok(result)) => result.map_err(IoError::Files),
            Ok(Err(e)) => Err(IoError::Failed(format!("file job failed: {e}\n"))),
            Err(_) => {
                warn!("a file request took longer than {FILE_IO_TIMEOUT:?}; answered without waiting for it");
                Err(IoError::TimedOut)
            }
        }
    }
}

/// The agent id and work dir a request resolves paths with.
async fn context(s: &AppState) -> (std::path::PathBuf, Option<String>) {
    let snap = s.snapshot().await;
    (s.info.work_dir.clone(), snap.agent_id.as_ref().map(|a| a.value.clone()))
}

pub(crate) async fn browse(State(s): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let (work_dir, agent) = context(&s).await;
    let path = q.get("path").cloned().unwrap_or_default();
    match s.file_io.run(move || files::browse(&work_dir, agent.as_deref(), &path)).await {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => e.into_response(),
    }
}

pub(crate) async fn read(State(s): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let (work_dir, agent) = context(&s).await;
    let result = s
        .file_io
        .run(move || {
            let get = |k: &str| q.get(k).map(String::as_str);
            files::read(&work_dir, agent.as_deref(), get("path").unwrap_or(""), get("offset"), get("length"))
        })
        .await;
    match result {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => e.into_response(),
    }
}

pub(crate) async fn download(State(s): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let (work_dir, agent) = context(&s).await;
    let path = q.get("path").cloned().unwrap_or_default();
    let opened = match s.file_io.run(move || files::open_regular(&work_dir, agent.as_deref(), &path, "download")).await
    {
        Ok(opened) => opened,
        Err(e) => return e.into_response(),
    };
    let OpenedFile { file, size, name } = opened;
    let file = Arc::new(file);
    let io = s.file_io.clone();
    // (next offset, failed): the body ends at `size`, or after the first error.
    let stream = futures::stream::unfold((0u64, false), move |(offset, failed)| {
        let (file, io) = (file.clone(), io.clone());
        async move {
            if failed || offset >= size {
                return None;
            }
            let want = (size - offset).min(DOWNLOAD_CHUNK as u64) as usize;
            let chunk = io
                .run(move || {
                    let mut buf = vec![0u8; want];
                    let n =
                        files::read_at(&file, &mut buf, offset).map_err(|e| FilesError::BadRequest(e.to_string()))?;
                    buf.truncate(n);
                    Ok(buf)
                })
                .await;
            match chunk {
                Ok(buf) if !buf.is_empty() => {
                    let next = offset + buf.len() as u64;
                    Some((Ok(bytes::Bytes::from(buf)), (next, false)))
                }
                // Shorter than when it was opened: the body cannot have its announced length.
                Ok(_) => Some((Err(std::io::Error::other("the file shrank while it was downloaded")), (offset, true))),
                Err(e) => Some((Err(std::io::Error::other(format!("{e:?}"))), (offset, true))),
            }
        }
    });
    let mut resp = Response::new(Body::from_stream(stream));
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", name.replace('"', ""))) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}
