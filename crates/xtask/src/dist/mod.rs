//! `cargo xtask dist`: the Debian package of the `marathon` binary, made with `dpkg-deb` alone
//! (no debhelper, no cargo-deb). What goes in it lives in `crates/xtask/debian/`: the systemd
//! units (`marathon.service`, `mesos-master.service`, `mesos-agent.service` alias
//! `mesos-slave.service`), the env files under `/etc/default` (conffiles) and the maintainer
//! scripts. [`build_deb`] lays them out with the binary and writes
//! `marathon_<version>_<arch>.deb`; the version is what the binary's `--version` says, the
//! `Depends` what its ELF headers need ([`elf::Linkage`]: nothing for a static binary).

pub mod cargo;
pub mod elf;
pub mod systemd;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

pub use elf::Linkage;

/// Package name, and the user the scheduler's unit runs as.
pub const PACKAGE: &str = "marathon";

/// The units, installed under `/usr/lib/systemd/system` (systemd's vendor directory on every
/// Debian and Ubuntu release, merged `/usr` or not).
pub const UNITS: [(&str, &str); 3] = [
    ("marathon.service", include_str!("../../debian/marathon.service")),
    ("mesos-master.service", include_str!("../../debian/mesos-master.service")),
    ("mesos-agent.service", include_str!("../../debian/mesos-agent.service")),
];

/// The env files the units read, installed under `/etc/default` as conffiles.
pub const ENV_FILES: [(&str, &str); 4] = [
    ("marathon", include_str!("../../debian/default/marathon")),
    ("mesos", include_str!("../../debian/default/mesos")),
    ("mesos-master", include_str!("../../debian/default/mesos-master")),
    ("mesos-agent", include_str!("../../debian/default/mesos-agent")),
];

const SCRIPTS: [(&str, &str); 3] = [
    ("postinst", include_str!("../../debian/postinst")),
    ("prerm", include_str!("../../debian/prerm")),
    ("postrm", include_str!("../../debian/postrm")),
];

pub const UNIT_DIR: &str = "usr/lib/systemd/system";

#[derive(Debug, thiserror::Error)]
pub enum DistError {
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("{command} failed: {output}")]
    Command { command: String, output: String },
    #[error("`{binary} --version` printed {printed:?}, not `marathon <version>`")]
    Version { binary: String, printed: String },
    #[error("no Debian architecture for {0} (amd64 and arm64 are known)")]
    Architecture(String),
    #[error("the binary needs {0}, which no known Debian package provides: add it to elf::package_of")]
    UnknownLibrary(String),
    #[error("the binary is not statically linked: {0}")]
    NotStatic(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DistError {
    let what = what.into();
    move |source| DistError::Io { what, source }
}

/// Runs `command`, returning its standard output; a failure carries its output.
pub(crate) fn run(command: &mut Command) -> Result<String, DistError> {
    let shown = format!("{command:?}");
    let out = command.output().map_err(io(format!("run {shown}")))?;
    if !out.status.success() {
        let output =
            format!("{}: {}{}", out.status, String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        return Err(DistError::Command { command: shown, output });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// How the package is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebOptions {
    /// Remove the binary's debug information (line tables) in the package.
    pub strip: bool,
    /// `dpkg-deb -Z`: `xz` (small, slow) for releases, `gzip` (fast) for test packages.
    pub compression: Compression,
    /// Refuse a binary that is not statically linked.
    pub require_static: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Xz,
    /// gzip at level 1: a test package in seconds.
    FastGzip,
}

impl Default for DebOptions {
    fn default() -> Self {
        Self { strip: true, compression: Compression::Xz, require_static: false }
    }
}

/// A package written by [`build_deb`].
#[derive(Debug, Clone)]
pub struct Deb {
    pub path: PathBuf,
    pub version: String,
    pub architecture: String,
    pub linkage: Linkage,
    /// The control file's `Depends` (empty for a static binary).
    pub depends: String,
}

/// The version `binary --version` reports (`marathon 0.1.0` gives `0.1.0`).
pub fn binary_version(binary: &Path) -> Result<String, DistError> {
    let printed = run(Command::new(binary).arg("--version"))?;
    let version = printed.trim().strip_prefix("marathon ").map(str::trim).unwrap_or_default();
    let valid = version.starts_with(|c: char| c.is_ascii_digit())
        && version.chars().all(|c| c.is_ascii_alphanumeric() || ".+~-".contains(c));
    if !valid {
        return Err(DistError::Version { binary: binary.display().to_string(), printed });
    }
    Ok(version.to_string())
}

/// Debian's name of this machine's architecture (the binary is built for it).
pub fn debian_architecture() -> Result<&'static str, DistError> {
    match std::env::consts::ARCH {
        "x86_64" => Ok("amd64"),
        "aarch64" => Ok("arm64"),
        other => Err(DistError::Architecture(other.to_string())),
    }
}

/// Writes `marathon_<version>_<arch>.deb` into `out_dir` from `binary`.
pub fn build_deb(binary: &Path, out_dir: &Path, options: &DebOptions) -> Result<Deb, DistError> {
    let version = binary_version(binary)?;
    let architecture = debian_architecture()?.to_string();
    let linkage = elf::linkage(binary)?;
    if options.require_static
        && let Linkage::Dynamic { interpreter, needed, .. } = &linkage
    {
        return Err(DistError::NotStatic(format!("interpreter {interpreter:?}, libraries {needed:?}")));
    }
    let depends = linkage.depends()?;

    std::fs::create_dir_all(out_dir).map_err(io(format!("create {}", out_dir.display())))?;
    let staging = tempfile::Builder::new()
        .prefix(".marathon-deb-")
        .tempdir_in(out_dir)
        .map_err(io(format!("create a staging directory in {}", out_dir.display())))?;
    let root = staging.path().join("root");

    let bin_dir = root.join("usr/bin");
    mkdir(&bin_dir)?;
    let installed = bin_dir.join("marathon");
    if options.strip {
        run(Command::new("strip").arg("--strip-debug").arg("-o").arg(&installed).arg(binary))?;
    } else {
        std::fs::copy(binary, &installed).map_err(io(format!("copy {}", binary.display())))?;
    }
    set_mode(&installed, 0o755)?;

    let unit_dir = root.join(UNIT_DIR);
    mkdir(&unit_dir)?;
    for (name, text) in UNITS {
        write(&unit_dir.join(name), text, 0o644)?;
    }
    let default_dir = root.join("etc/default");
    mkdir(&default_dir)?;
    for (name, text) in ENV_FILES {
        write(&default_dir.join(name), text, 0o644)?;
    }
    let doc_dir = root.join("usr/share/doc").join(PACKAGE);
    mkdir(&doc_dir)?;
    write(&doc_dir.join("copyright"), COPYRIGHT, 0o644)?;

    let debian = root.join("DEBIAN");
    mkdir(&debian)?;
    for (name, text) in SCRIPTS {
        write(&debian.join(name), text, 0o755)?;
    }
    let conffiles: String = ENV_FILES.iter().map(|(name, _)| format!("/etc/default/{name}\n")).collect();
    write(&debian.join("conffiles"), &conffiles, 0o644)?;
    let installed_kib = installed_size_kib(&root)?;
    let control = control_file(&version, &architecture, &depends, installed_kib);
    write(&debian.join("control"), &control, 0o644)?;

    let path = out_dir.join(format!("{PACKAGE}_{version}_{architecture}.deb"));
    let mut dpkg = Command::new("dpkg-deb");
    dpkg.arg("--root-owner-group");
    match options.compression {
        Compression::Xz => dpkg.args(["-Zxz"]),
        Compression::FastGzip => dpkg.args(["-Zgzip", "-z1"]),
    };
    run(dpkg.arg("--build").arg(&root).arg(&path))?;
    Ok(Deb { path, version, architecture, linkage, depends })
}

const COPYRIGHT: &str = "marathon-rs: a Rust implementation of Apache Mesos and Marathon.\n\
License: Apache-2.0\n\
On Debian systems the full text of the license is in /usr/share/common-licenses/Apache-2.0.\n";

fn control_file(version: &str, architecture: &str, depends: &str, installed_kib: u64) -> String {
    let mut control = String::new();
    let _ = writeln!(control, "Package: {PACKAGE}");
    let _ = writeln!(control, "Version: {version}");
    let _ = writeln!(control, "Architecture: {architecture}");
    let _ = writeln!(control, "Maintainer: marathon-rs developers <marathon-rs@localhost>");
    let _ = writeln!(control, "Installed-Size: {installed_kib}");
    if !depends.is_empty() {
        let _ = writeln!(control, "Depends: {depends}");
    }
    let _ = writeln!(control, "Conflicts: mesos");
    let _ = writeln!(control, "Section: admin");
    let _ = writeln!(control, "Priority: optional");
    let _ = writeln!(control, "Description: Mesos-compatible cluster manager and Marathon scheduler");
    let _ = writeln!(control, " One binary, /usr/bin/marathon, runs a Mesos-compatible master");
    let _ = writeln!(control, " (mesos-master.service), agent (mesos-agent.service, alias mesos-slave)");
    let _ = writeln!(control, " and the Marathon scheduler for long-running services (marathon.service),");
    let _ = writeln!(control, " configured by MESOS_* and MARATHON_* variables in /etc/default.");
    control
}

/// dpkg's `Installed-Size`: the files' sizes in KiB, each rounded up, as dpkg-gencontrol counts
/// (and every directory made 0755 on the way).
fn installed_size_kib(root: &Path) -> Result<u64, DistError> {
    let mut total = 0;
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io(format!("list {}", dir.display())))? {
            let entry = entry.map_err(io(format!("list {}", dir.display())))?;
            if entry.file_name() == "DEBIAN" {
                continue;
            }
            let meta = entry.metadata().map_err(io(format!("stat {}", entry.path().display())))?;
            if meta.is_dir() {
                // Whatever the umask, directories in the package are 0755.
                set_mode(&entry.path(), 0o755)?;
                dirs.push(entry.path());
                total += 1;
            } else {
                total += meta.len().div_ceil(1024);
            }
        }
    }
    Ok(total)
}

fn mkdir(dir: &Path) -> Result<(), DistError> {
    std::fs::create_dir_all(dir).map_err(io(format!("create {}", dir.display())))
}

fn write(path: &Path, text: &str, mode: u32) -> Result<(), DistError> {
    std::fs::write(path, text).map_err(io(format!("write {}", path.display())))?;
    set_mode(path, mode)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), DistError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io(format!("chmod {mode:o} {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_control_file_names_the_dependencies_only_when_there_are_some() {
        let dynamic = control_file("1.2.3", "amd64", "libc6 (>= 2.34), libgcc-s1", 42);
        assert!(dynamic.contains("\nDepends: libc6 (>= 2.34), libgcc-s1\n"), "{dynamic}");
        assert!(dynamic.starts_with("Package: marathon\nVersion: 1.2.3\nArchitecture: amd64\n"), "{dynamic}");
        assert!(dynamic.contains("\nInstalled-Size: 42\n"), "{dynamic}");
        let fixed = control_file("1.2.3", "amd64", "", 42);
        assert!(!fixed.contains("Depends"), "{fixed}");
        // Every continuation line of the description starts with a space.
        let description = fixed.split("Description: ").nth(1).unwrap_or_default();
        assert!(description.lines().skip(1).all(|l| l.starts_with(' ')), "{fixed}");
    }

    #[test]
    fn every_unit_reads_its_env_files_and_may_miss_them() {
        for (name, text) in UNITS {
            let unit = systemd::Unit::parse(text);
            let files = unit.service("EnvironmentFile");
            assert!(!files.is_empty(), "{name} reads no env file");
            assert!(files.iter().all(|f| f.starts_with("-/etc/default/")), "{name}: {files:?}");
            let exec = unit.service("ExecStart");
            assert_eq!(exec.len(), 1, "{name}");
            assert!(exec[0].starts_with("/usr/bin/marathon "), "{name}: {exec:?}");
        }
        let shipped: Vec<String> = ENV_FILES.iter().map(|(n, _)| format!("-/etc/default/{n}")).collect();
        let read: Vec<String> =
            UNITS.iter().flat_map(|(_, t)| systemd::Unit::parse(t).service("EnvironmentFile")).collect();
        assert!(shipped.iter().all(|f| read.contains(f)), "an env file no unit reads: {shipped:?} vs {read:?}");
    }
}
