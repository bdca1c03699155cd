//! Builds the `marathon` binary to package: statically linked against glibc
//! (`-C target-feature=+crt-static`) for releases, or the ordinary dynamic build of a profile.

use super::{DistError, io, run};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSpec {
    /// Cargo profile (`release`, `dev`, ...).
    pub profile: String,
    /// Link statically: built for the host's target triple named explicitly (`--target`), so
    /// that `+crt-static` applies to the binary but not to build scripts and proc macros,
    /// which must stay dynamic. Its own target directory (`target/<triple>/<profile>`).
    pub static_crt: bool,
}

/// The host's target triple (`rustc -vV`).
pub fn host_triple() -> Result<String, DistError> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let info = run(Command::new(rustc).arg("-vV"))?;
    info.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(|h| h.trim().to_string())
        .ok_or_else(|| DistError::Command { command: "rustc -vV".to_string(), output: info.clone() })
}

/// `cargo build -p marathon` as `spec` says, in the workspace at `root`; returns the binary.
pub fn build_marathon(root: &Path, spec: &BuildSpec) -> Result<PathBuf, DistError> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args(["build", "-p", "marathon", "--bin", "marathon", "--profile", &spec.profile])
        .args(["--message-format", "json-render-diagnostics"])
        .stderr(std::process::Stdio::inherit());
    if spec.static_crt {
        let triple = host_triple()?;
        if !triple.ends_with("-linux-gnu") {
            return Err(DistError::NotStatic(format!("static glibc builds are for *-linux-gnu hosts, not {triple}")));
        }
        let mut flags = std::env::var("RUSTFLAGS").unwrap_or_default();
        if !flags.is_empty() {
            flags.push(' ');
        }
        flags.push_str("-C target-feature=+crt-static");
        command.args(["--target", &triple]).env("RUSTFLAGS", flags).env_remove("CARGO_ENCODED_RUSTFLAGS");
    }
    let shown = format!("{command:?}");
    let out = command.output().map_err(io(format!("run {shown}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(DistError::Command { command: shown, output: out.status.to_string() });
    }
    // The last compiler-artifact message of the binary names the executable.
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "marathon")
        .filter_map(|m| m["executable"].as_str().map(PathBuf::from))
        .next_back()
        .ok_or_else(|| DistError::Command {
            command: shown,
            output: "no executable named marathon was built".to_string(),
        })
}
