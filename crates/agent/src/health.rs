//! Runs the health check probes the core asks for ([`HealthProbe`]), as Mesos' built-in
//! command executor does next to its task: a command in the task's sandbox, an HTTP or HTTPS GET,
//! or a TCP connection, all against the task on this host. The core decides when checks run and
//! what their results mean; this only probes.

use crate::core::{CommandLine, HealthProbe};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The HTTP client of health checks: no proxy (the target is always the loopback), no idle
/// connections kept to the task (a fresh connection per check, as with Mesos' curl), redirects
/// followed as curl's `-L` does, and for HTTPS the task's certificate and host name not verified,
/// as curl's `-k` (tasks serve self-signed certificates). Plain HTTP checks are unaffected by
/// these TLS settings.
pub fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::limited(10))
        .tls_danger_accept_invalid_certs(true)
        .tls_danger_accept_invalid_hostnames(true)
        .build()
        .map_err(|e| e.to_string())
}

/// Runs one probe; `Err` says why the task is unhealthy. `base_env` is the agent's own
/// environment (the probe's variables go on top).
pub async fn run(
    probe: &HealthProbe,
    timeout: Option<Duration>,
    http: &reqwest::Client,
    base_env: &[(String, String)],
) -> Result<(), String> {
    match probe {
        HealthProbe::Command { command, env, sandbox } => {
            run_command(command, &crate::containers::merge_env(base_env, env), sandbox, timeout).await
        }
        HealthProbe::Http { scheme, addr, port, path } => {
            with_timeout(timeout, http_get(http, scheme, *addr, *port, path, timeout)).await
        }
        HealthProbe::Tcp { addr, port } => with_timeout(timeout, tcp_connect(*addr, *port)).await,
        // The runtime runs these with the task's container (`docker_tasks::exec_check`).
        HealthProbe::ContainerCommand { .. } => Err("a container's command check needs its container".to_string()),
    }
}

async fn with_timeout(
    timeout: Option<Duration>,
    probe: impl std::future::Future<Output = Result<(), String>>,
) -> Result<(), String> {
    match timeout {
        Some(t) => tokio::time::timeout(t, probe).await.unwrap_or_else(|_| Err(timed_out(t))),
        None => probe.await,
    }
}

fn timed_out(t: Duration) -> String {
    format!("Health check timed out after {}", crate::flags::format_duration(t))
}

/// The command, in its own process group so that a timeout kills all of it. It runs as a child
/// of the agent, not inside the task's cgroups.
async fn run_command(
    command: &CommandLine,
    env: &[(String, String)],
    sandbox: &std::path::Path,
    timeout: Option<Duration>,
) -> Result<(), String> {
    let mut cmd = match command {
        CommandLine::Shell(value) => {
            let mut c = tokio::process::Command::new("/bin/sh");
            c.arg("-c").arg(value);
            c
        }
        CommandLine::Exec { value, arguments } => {
            let mut c = tokio::process::Command::new(value);
            if let Some((argv0, rest)) = arguments.split_first() {
                c.arg0(argv0).args(rest);
            }
            c
        }
    };
    cmd.env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(sandbox)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| format!("Failed to run the health check command: {e}"))?;
    let pgid = child.id().and_then(|p| i32::try_from(p).ok());
    let waited = match timeout {
        Some(t) => match tokio::time::timeout(t, child.wait()).await {
            Ok(waited) => waited,
            Err(_) => {
                if let Some(pgid) = pgid {
                    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), nix::sys::signal::SIGKILL);
                }
                let _ = child.wait().await;
                return Err(timed_out(t));
            }
        },
        None => child.wait().await,
    };
    let status = waited.map_err(|e| format!("Failed to wait for the health check command: {e}"))?;
    if status.success() {
        return Ok(());
    }
    use std::os::unix::process::ExitStatusExt;
    Err(match (status.code(), status.signal()) {
        (Some(code), _) => format!("Command exited with status {code}"),
        (None, Some(sig)) => format!("Command terminated with signal {}", crate::core::signal_description(sig)),
        (None, None) => "Command terminated for an unknown reason".to_string(),
    })
}

async fn http_get(
    http: &reqwest::Client,
    scheme: &str,
    addr: IpAddr,
    port: u16,
    path: &str,
    timeout: Option<Duration>,
) -> Result<(), String> {
    let url = format!("{scheme}://{}{path}", SocketAddr::new(addr, port));
    let mut request = http.get(&url);
    if let Some(t) = timeout {
        request = request.timeout(t);
    }
    let response = request.send().await.map_err(|e| format!("GET {url} failed: {e}"))?;
    let code = response.status().as_u16();
    if (200..400).contains(&code) { Ok(()) } else { Err(format!("GET {url} returned {code}, expected 200-399")) }
}

async fn tcp_connect(addr: IpAddr, port: u16) -> Result<(), String> {
    let target = SocketAddr::new(addr, port);
    tokio::net::TcpStream::connect(target).await.map(drop).map_err(|e| format!("Cannot connect to {target}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn shell(cmd: &str, dir: &std::path::Path) -> HealthProbe {
        HealthProbe::Command {
            command: CommandLine::Shell(cmd.to_string()),
            env: vec![("CHECK_VAR".into(), "yes".into())],
            sandbox: dir.to_path_buf(),
        }
    }

    /// A one-shot-per-connection HTTP server answering `status` (with `Location: /ok` for 3xx
    /// on other paths, 200 on `/ok`).
    async fn server(status: u16) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    let request = String::from_utf8_lossy(&buf[..n]).to_string();
                    let code = if request.starts_with("GET /ok ") { 200 } else { status };
                    let reply =
                        format!("HTTP/1.1 {code} X\r\nLocation: /ok\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    let _ = socket.write_all(reply.as_bytes()).await;
                });
            }
        });
        port
    }

    #[tokio::test]
    async fn command_probe_runs_in_the_sandbox_with_the_environment() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("healthy"), "").expect("write");
        let http = http_client().expect("client");
        let ok = shell("test -f healthy && test \"$CHECK_VAR\" = yes", dir.path());
        assert_eq!(run(&ok, Some(Duration::from_secs(5)), &http, &[]).await, Ok(()));
        let bad = shell("exit 3", dir.path());
        assert_eq!(run(&bad, None, &http, &[]).await, Err("Command exited with status 3".into()));
    }

    #[tokio::test]
    async fn command_probe_is_killed_at_its_timeout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let http = http_client().expect("client");
        // The background sleep is in the check's process group: the timeout kills it too.
        let slow = shell("sleep 30 & echo $! > bg; wait", dir.path());
        let started = std::time::Instant::now();
        let result = run(&slow, Some(Duration::from_millis(300)), &http, &[]).await;
        assert!(result.as_ref().is_err_and(|e| e.contains("timed out")), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let bg = std::fs::read_to_string(dir.path().join("bg")).expect("pid file");
        let stat = format!("/proc/{}/stat", bg.trim());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        // Gone, or a zombie waiting for its new parent to reap it.
        while std::fs::read_to_string(&stat).is_ok_and(|s| !s.contains(") Z ")) {
            assert!(std::time::Instant::now() < deadline, "the check's background process survived its timeout");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn http_probe_follows_redirects_and_reads_the_status() {
        let http = http_client().expect("client");
        let ip: IpAddr = "127.0.0.1".parse().expect("ip");
        let probe =
            |port: u16, path: &str| HealthProbe::Http { scheme: "http".into(), addr: ip, port, path: path.into() };
        let timeout = Some(Duration::from_secs(5));
        let redirecting = server(302).await;
        assert_eq!(run(&probe(redirecting, "/"), timeout, &http, &[]).await, Ok(()));
        let failing = server(500).await;
        let result = run(&probe(failing, "/x"), timeout, &http, &[]).await;
        assert!(result.as_ref().is_err_and(|e| e.contains("500")), "{result:?}");
        let closed = unused_port();
        assert!(run(&probe(closed, "/"), timeout, &http, &[]).await.is_err());
        // HTTPS to a plain HTTP server gets no answer.
        let https = HealthProbe::Http { scheme: "https".into(), addr: ip, port: redirecting, path: "/".into() };
        assert!(run(&https, timeout, &http, &[]).await.is_err());
    }

    #[tokio::test]
    async fn https_probe_accepts_a_self_signed_certificate() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("health"), "ok").expect("write");
        let tls = xtask::https_server::HttpsServer::start(dir.path());
        let port = tls.port;
        let http = http_client().expect("client");
        let ip: IpAddr = "127.0.0.1".parse().expect("ip");
        let probe =
            |scheme: &str, path: &str| HealthProbe::Http { scheme: scheme.into(), addr: ip, port, path: path.into() };
        let timeout = Some(Duration::from_secs(5));
        assert_eq!(run(&probe("https", "/health"), timeout, &http, &[]).await, Ok(()));
        let missing = run(&probe("https", "/missing"), timeout, &http, &[]).await;
        assert!(missing.as_ref().is_err_and(|e| e.contains("404")), "{missing:?}");
        // Plain HTTP to the TLS server gets no answer.
        assert!(run(&probe("http", "/health"), timeout, &http, &[]).await.is_err());
    }

    #[tokio::test]
    async fn tcp_probe_connects() {
        let http = http_client().expect("client");
        let ip: IpAddr = "127.0.0.1".parse().expect("ip");
        let open = server(200).await;
        let timeout = Some(Duration::from_secs(5));
        assert_eq!(run(&HealthProbe::Tcp { addr: ip, port: open }, timeout, &http, &[]).await, Ok(()));
        let closed = unused_port();
        assert!(run(&HealthProbe::Tcp { addr: ip, port: closed }, timeout, &http, &[]).await.is_err());
    }

    /// A port nothing listens on (bound, then released).
    fn unused_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    }
}
