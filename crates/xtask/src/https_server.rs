//! An HTTPS server for tests of HTTPS health and readiness checks: `tests/compat/https_server.py`
//! serving a directory on 127.0.0.1 with a self-signed certificate made by the `openssl` CLI
//! (as tasks with HTTPS endpoints usually have).

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The running server; killed when dropped.
pub struct HttpsServer {
    child: Child,
    pub port: u16,
}

impl HttpsServer {
    /// Serves `dir` (where `cert.pem` and `key.pem` are written). Panics if `openssl` or
    /// `python3` cannot run or the server does not report its port: test setup only.
    pub fn start(dir: &Path) -> Self {
        let status = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-days", "1"])
            .args(["-keyout", "key.pem", "-out", "cert.pem"])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run openssl");
        assert!(status.success(), "openssl req failed: {status}");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/compat/https_server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["0", "cert.pem", "key.pem", "127.0.0.1"])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run python3");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        // The script prints its port once it listens (or exits, which ends the read).
        std::io::BufReader::new(stdout).read_line(&mut line).expect("read the HTTPS server's port");
        let port = match line.trim().parse() {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                panic!("the HTTPS server printed no port: {line:?}");
            }
        };
        HttpsServer { child, port }
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
