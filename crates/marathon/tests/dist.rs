//! The Debian package (`cargo xtask dist`, `xtask::dist`), installed for real: built from this
//! test's binary, `dpkg -i`'d into the machine (as root; CI runs as root), then the units'
//! `ExecStart` lines are started by hand as systemd would start them (their `Environment=`,
//! their `EnvironmentFile=`s as installed, their `User=`), since CI has no running systemd.
//! `dpkg --purge` removes it all at the end, also when the test fails.
//!
//! Installing into `/` is shared by everything on the machine: one such test runs at a time
//! (a lock file, across checkouts), a package left by a killed run is purged first, and a
//! `marathon` package this test did not install (a real one) is never touched: the test fails.

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use xtask::dist::{self, systemd::Unit};

const LOCK: &str = "/run/lock/marathon-rs-deb-test.lock";
/// Written before `dpkg -i`, removed after the purge: an installed package with this marker is
/// a killed run's. Its text says whether the run created the `marathon` user.
const MARKER: &str = "/var/lib/marathon-rs-deb-test.installed";

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

fn output(command: &mut Command) -> (bool, String) {
    let out = command.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("run {command:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn installed() -> bool {
    output(Command::new("dpkg-query").args(["-W", "-f=${Status}", "marathon"])).1.trim() == "install ok installed"
}

fn user_exists(name: &str) -> bool {
    output(Command::new("getent").args(["passwd", name])).0
}

/// The package stays installed while this lives; dropping it purges the package (and the
/// `marathon` user if the test created it).
struct Installation {
    created_user: bool,
}

impl Installation {
    fn purge(created_user: bool) {
        let (ok, text) =
            output(Command::new("dpkg").args(["--purge", "marathon"]).env("DEBIAN_FRONTEND", "noninteractive"));
        assert!(ok, "dpkg --purge marathon failed:\n{text}");
        if created_user && user_exists("marathon") {
            let _ = output(Command::new("userdel").arg("marathon"));
        }
        let _ = std::fs::remove_file(MARKER);
    }
}

impl Drop for Installation {
    fn drop(&mut self) {
        if installed() {
            Self::purge(self.created_user);
        }
    }
}

/// Starts a unit's `ExecStart` as systemd would: its environment only (plus `PATH`), in `/`, as
/// its `User=`.
fn start_unit(unit: &str, log: &Path) -> Proc {
    let text = std::fs::read_to_string(format!("/usr/lib/systemd/system/{unit}")).expect("installed unit");
    let unit = Unit::parse(&text);
    let env = unit.environment(|path| std::fs::read_to_string(path).ok()).expect("the unit's environment");
    let exec = dist::systemd::split_words(&unit.service("ExecStart")[0]);
    let mut command = match unit.service("User").first() {
        Some(user) => {
            let mut c = Command::new("setpriv");
            c.args(["--reuid", user, "--regid", user, "--init-groups", "--"]).args(&exec);
            c
        }
        None => {
            let mut c = Command::new(&exec[0]);
            c.args(&exec[1..]);
            c
        }
    };
    let out = std::fs::File::create(log).expect("log");
    command
        .env_clear()
        .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .envs(env)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log"))
        .stderr(out);
    Proc { child: command.spawn().expect("start the unit's ExecStart"), log: log.to_path_buf() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_debian_package_installs_and_its_units_start_the_master_and_marathon() {
    if !on_path("dpkg") || !on_path("dpkg-deb") {
        eprintln!("skipping: dpkg is not installed (not a Debian-based system)");
        return;
    }
    if !nix_is_root() {
        eprintln!("skipping: installing a package needs root");
        return;
    }
    let lock = std::fs::File::create(LOCK).expect("lock file");
    lock.lock().expect("lock");
    if installed() {
        let marker = std::fs::read_to_string(MARKER)
            .unwrap_or_else(|_| panic!("a marathon package this test did not install is installed: not touching it"));
        Installation::purge(marker.contains("created-user"));
    }
    assert!(!Path::new("/usr/bin/marathon").exists(), "/usr/bin/marathon exists outside any package: not touching it");

    // The package, from this test's (dev profile, dynamic) binary.
    let dir = tempfile::tempdir().expect("tempdir");
    let options = dist::DebOptions { strip: true, compression: dist::Compression::FastGzip, require_static: false };
    let deb = dist::build_deb(Path::new(BIN), dir.path(), &options).expect("build the package");
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(deb.path, dir.path().join(format!("marathon_{version}_amd64.deb")));
    let field =
        |name: &str| output(Command::new("dpkg-deb").args(["--field"]).arg(&deb.path).arg(name)).1.trim().to_string();
    assert_eq!(field("Package"), "marathon");
    assert_eq!(field("Version"), version);
    let depends = field("Depends");
    assert!(depends.contains("libc6 (>= 2.") && depends.contains("libgcc-s1"), "a dynamic binary's Depends: {depends}");
    let (_, contents) = output(Command::new("dpkg-deb").arg("--contents").arg(&deb.path));
    for path in [
        "./usr/bin/marathon",
        "./usr/lib/systemd/system/marathon.service",
        "./usr/lib/systemd/system/mesos-master.service",
        "./usr/lib/systemd/system/mesos-agent.service",
        "./etc/default/marathon",
        "./etc/default/mesos",
        "./etc/default/mesos-master",
        "./etc/default/mesos-agent",
    ] {
        assert!(contents.lines().any(|l| l.ends_with(path) && l.contains("root/root")), "{path} missing:\n{contents}");
    }
    let (_, conffiles) = output(Command::new("dpkg-deb").arg("--info").arg(&deb.path).arg("conffiles"));
    assert_eq!(conffiles.lines().count(), 4, "{conffiles}");

    // Installed into the machine, which runs no systemd (the maintainer scripts must not need it).
    let created_user = !user_exists("marathon");
    let had_var_lib_mesos = Path::new("/var/lib/mesos").exists();
    std::fs::write(MARKER, if created_user { "created-user\n" } else { "\n" }).expect("marker");
    let _installation = Installation { created_user };
    let (ok, text) = output(Command::new("dpkg").arg("-i").arg(&deb.path).env("DEBIAN_FRONTEND", "noninteractive"));
    assert!(ok, "dpkg -i failed:\n{text}");
    assert!(installed());
    let (ok, printed) = output(Command::new("/usr/bin/marathon").arg("--version"));
    assert!(ok && printed.trim() == format!("marathon {version}"), "{printed}");
    assert!(user_exists("marathon"), "postinst made no marathon user");
    let (_, owner) = output(Command::new("stat").args(["-c", "%U:%G %a", "/var/lib/marathon"]));
    assert_eq!(owner.trim(), "marathon:marathon 750");

    if on_path("systemd-analyze") {
        let (ok, text) = output(
            Command::new("systemd-analyze")
                .arg("verify")
                .args(dist::UNITS.map(|(name, _)| format!("/usr/lib/systemd/system/{name}"))),
        );
        assert!(ok && text.trim().is_empty(), "systemd-analyze verify:\n{text}");
    } else {
        eprintln!("systemd-analyze is not installed: the units are not verified");
    }

    // An operator's configuration: the master on a free port, Marathon on it.
    let (master_port, http_port) = (free_port(), free_port());
    let edit = |file: &str, lines: String| {
        let path = format!("/etc/default/{file}");
        let text = std::fs::read_to_string(&path).expect("installed env file");
        std::fs::write(&path, format!("{text}\n{lines}")).expect("edit the env file");
    };
    edit("mesos-master", format!("MESOS_PORT={master_port}\n"));
    edit(
        "marathon",
        format!(
            "MARATHON_MASTER=127.0.0.1:{master_port}\nMARATHON_HTTP_PORT={http_port}\n\
             MARATHON_HTTP_ADDRESS=127.0.0.1\nMARATHON_FRAMEWORK_NAME=\"packaged marathon\"\n"
        ),
    );
    let mut master = start_unit("mesos-master.service", &dir.path().join("master.log"));
    let mut scheduler = start_unit("marathon.service", &dir.path().join("marathon.log"));
    let http = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let pong = loop {
        if let Ok(response) = http.get(format!("http://127.0.0.1:{http_port}/ping")).send().await
            && response.status() == 200
        {
            break response.text().await.unwrap_or_default();
        }
        let exited = scheduler.child.try_wait().ok().flatten();
        assert!(
            exited.is_none() && std::time::Instant::now() < deadline,
            "Marathon does not answer /ping (exited: {exited:?}):\n{}\nmaster:\n{}",
            scheduler.log_text(),
            master.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(pong.trim(), "pong", "{}", scheduler.log_text());
    eventually(Duration::from_secs(30), "the packaged Marathon registered with the packaged master", || async {
        let state: serde_json::Value =
            http.get(format!("http://127.0.0.1:{master_port}/master/state")).send().await.ok()?.json().await.ok()?;
        state["frameworks"].as_array()?.iter().any(|f| f["name"] == "packaged marathon").then_some(())
    })
    .await;
    // Marathon runs as `marathon`, its state where the unit says (MARATHON_WORK_DIR), the
    // master's where its unit says.
    let (_, user) = output(Command::new("ps").args(["-o", "user=", "-p", &scheduler.pid().to_string()]));
    assert_eq!(user.trim(), "marathon");
    let entries = |dir: &str| std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
    assert!(entries("/var/lib/marathon") > 0, "Marathon's state is not in /var/lib/marathon");
    assert!(
        Path::new("/var/lib/mesos/master").is_dir(),
        "the master's work dir is not /var/lib/mesos/master:\n{}",
        master.log_text()
    );
    scheduler.kill();
    master.kill();

    // The purge removes everything the package and its services made.
    drop(_installation);
    assert!(!installed());
    for gone in ["/usr/bin/marathon", "/etc/default/marathon", "/etc/default/mesos-agent", "/var/lib/marathon"] {
        assert!(!Path::new(gone).exists(), "{gone} is left after the purge");
    }
    assert_eq!(Path::new("/var/lib/mesos").exists(), had_var_lib_mesos, "/var/lib/mesos after the purge");
    if created_user {
        assert!(!user_exists("marathon"), "the test's marathon user is left");
    }
}
