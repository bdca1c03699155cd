//! Real processes, real cgroups. Every test has its own temp dir and cgroup root and
//! cleans up through the `Fixture` drop guard.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use common::{Fixture, eventually, group_members, pid_alive, read, shell};
use containerizer::{Error, Monitored, Signal, TaskCommand, TaskExit};

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn exit_zero() {
    let mut f = Fixture::new();
    let (_, m) = f.launch(&f.spec("t", shell("exit 0")));
    assert_eq!(f.wait(m).await, TaskExit::Exited(0));
}

#[tokio::test]
async fn exit_three() {
    let mut f = Fixture::new();
    let (_, m) = f.launch(&f.spec("t", shell("exit 3")));
    assert_eq!(f.wait(m).await, TaskExit::Exited(3));
    // Waiting again gives the same answer.
    assert_eq!(f.wait(m).await, TaskExit::Exited(3));
    assert_eq!(f.monitored(m).try_exit(), Some(TaskExit::Exited(3)));
}

#[tokio::test]
async fn killed_by_signal() {
    let mut f = Fixture::new();
    let (_, m) = f.launch(&f.spec("t", shell("kill -USR1 $$; sleep 100")));
    assert_eq!(f.wait(m).await, TaskExit::Signaled(libc::SIGUSR1));
}

#[tokio::test]
async fn sigterm_ignored_needs_sigkill() {
    let mut f = Fixture::new();
    let spec = f.spec("t", shell("trap '' TERM; echo ready > ready; sleep 100"));
    let ready = spec.working_dir.join("ready");
    let (launched, m) = f.launch(&spec);
    eventually("trap installed", T, || ready.exists()).await;

    assert!(f.monitored(m).signal_group(Signal::SIGTERM).expect("TERM"));
    // Negative check: nothing dies from SIGTERM within a generous window.
    let still_running = tokio::time::timeout(Duration::from_millis(300), f.monitored(m).wait_exit()).await;
    assert!(still_running.is_err(), "task died from an ignored SIGTERM");
    assert!(pid_alive(launched.task_pid));

    assert!(containerizer::signal_group(launched.task_pid, Signal::SIGKILL).expect("KILL"));
    assert_eq!(f.wait(m).await, TaskExit::Signaled(libc::SIGKILL));
    assert!(group_members(launched.task_pid).is_empty());
    // The monitor is gone, so signalling through it is refused.
    assert!(!f.monitored(m).signal_group(Signal::SIGKILL).expect("no-op"));
}

#[tokio::test]
async fn whole_tree_dies_with_signal_group() {
    let mut f = Fixture::new();
    let spec = f.spec("t", shell("sleep 100 & sleep 100 & echo ready > ready; wait"));
    let ready = spec.working_dir.join("ready");
    let (launched, m) = f.launch(&spec);
    eventually("children started", T, || ready.exists()).await;
    let members = group_members(launched.task_pid);
    assert_eq!(members.len(), 3, "sh + 2 sleeps: {members:?}");

    assert!(containerizer::signal_group(launched.task_pid, Signal::SIGTERM).expect("TERM"));
    assert_eq!(f.wait(m).await, TaskExit::Signaled(libc::SIGTERM));
    for pid in members {
        assert!(!pid_alive(pid), "{pid} survived");
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "{pid} left a zombie");
    }
}

#[tokio::test]
async fn leftovers_are_killed_when_the_task_exits() {
    let mut f = Fixture::new();
    let spec = f.spec("t", shell("sleep 100 & echo $! > bg; exit 4"));
    let bg = spec.working_dir.join("bg");
    let (_, m) = f.launch(&spec);
    assert_eq!(f.wait(m).await, TaskExit::Exited(4));
    let pid: i32 = read(&bg).trim().parse().expect("bg pid");
    // The monitor is a subreaper: the orphaned sleep was killed *and* reaped.
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

#[tokio::test]
async fn stdout_and_stderr_land_in_files() {
    let mut f = Fixture::new();
    let spec = f.spec("t", shell("echo out; echo err >&2; pwd"));
    // O_APPEND: existing content is kept.
    std::fs::write(&spec.stdout, "before\n").expect("write");
    let (_, m) = f.launch(&spec);
    assert_eq!(f.wait(m).await, TaskExit::Exited(0));
    let cwd = spec.working_dir.canonicalize().expect("canonicalize");
    assert_eq!(read(&spec.stdout), format!("before\nout\n{}\n", cwd.display()));
    assert_eq!(read(&spec.stderr), "err\n");
}

#[tokio::test]
async fn environment_is_exactly_the_given_one() {
    let mut f = Fixture::new();
    let mut spec = f.spec("t", TaskCommand::Exec { value: "/usr/bin/env".into(), arguments: vec!["env".into()] });
    spec.env = vec![("A".into(), "1".into()), ("B".into(), "two words = x".into()), ("EMPTY".into(), String::new())];
    let (_, m) = f.launch(&spec);
    assert_eq!(f.wait(m).await, TaskExit::Exited(0));
    let got: BTreeSet<String> = read(&spec.stdout).lines().map(String::from).collect();
    let want: BTreeSet<String> = ["A=1", "B=two words = x", "EMPTY="].into_iter().map(String::from).collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn non_shell_argv_is_exact_and_path_is_searched() {
    let mut f = Fixture::new();
    // `sh` has no slash: found through the task's PATH. argv[0] is arguments[0].
    let spec = f.spec(
        "t",
        TaskCommand::Exec {
            value: "sh".into(),
            arguments: vec![
                "custom-argv0".into(),
                "-c".into(),
                r#"tr '\0' '|' < /proc/$$/cmdline"#.into(),
                "x y".into(),
            ],
        },
    );
    let (_, m) = f.launch(&spec);
    assert_eq!(f.wait(m).await, TaskExit::Exited(0));
    assert_eq!(read(&spec.stdout), r#"custom-argv0|-c|tr '\0' '|' < /proc/$$/cmdline|x y|"#);
}

#[tokio::test]
async fn exec_failure_exits_127() {
    let mut f = Fixture::new();
    for (name, value) in [("abs", "/nonexistent/binary"), ("path", "no-such-binary-xyz")] {
        let spec = f.spec(name, TaskCommand::Exec { value: value.into(), arguments: vec![] });
        let (_, m) = f.launch(&spec);
        assert_eq!(f.wait(m).await, TaskExit::Exited(127), "{value}");
        let err = read(&spec.stderr);
        assert!(err.contains("failed to execute") && err.contains(value), "{err}");
    }
}

#[tokio::test]
async fn simple_shell_commands_behave_as_under_the_shell() {
    let mut f = Fixture::new();
    // Run without a shell: the task's process is the program itself, as after the shell's exec.
    let mut spec = f.spec("env", shell("printenv GREETING"));
    spec.env.push(("GREETING".into(), "hello".into()));
    let (_, m) = f.launch(&spec);
    assert_eq!(f.wait(m).await, TaskExit::Exited(0));
    assert_eq!(read(&spec.stdout), "hello\n");
    // Exit codes as from the shell: 127 for no such program, 126 for one not executable.
    let spec = f.spec("missing", shell("no-such-binary-xyz --flag"));
    let (_, m) = f.launch(&spec);
    assert_eq!(f.wait(m).await, TaskExit::Exited(127));
    assert!(read(&spec.stderr).contains("no-such-binary-xyz"), "{}", read(&spec.stderr));
    let spec = f.spec("not-executable", shell("./data.txt"));
    std::fs::write(spec.working_dir.join("data.txt"), "not a program").expect("write");
    let (_, m) = f.launch(&spec);
    assert_eq!(f.wait(m).await, TaskExit::Exited(126));
    // The same under the shell (a redirection keeps it), for comparison.
    let spec = f.spec("shell-missing", shell("no-such-binary-xyz --flag 2>&1"));
    let (_, m) = f.launch(&spec);
    assert_eq!(f.wait(m).await, TaskExit::Exited(127));
    let spec = f.spec("shell-not-executable", shell("./data.txt 2>&1"));
    std::fs::write(spec.working_dir.join("data.txt"), "not a program").expect("write");
    let (_, m) = f.launch(&spec);
    assert_eq!(f.wait(m).await, TaskExit::Exited(126));
}

#[tokio::test]
async fn setup_failure_is_an_error_and_leaves_nothing() {
    let f = Fixture::new();
    let mut spec = f.spec("t", shell("echo should-not-run"));
    spec.working_dir = f.dir.path().join("missing");
    match containerizer::launch(&spec) {
        Err(Error::Setup { stage, source }) => {
            assert_eq!(stage, "chdir");
            assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
        }
        other => panic!("expected a setup error, got {other:?}"),
    }
    assert_eq!(read(&spec.stdout), "");

    let mut spec = f.spec("u", shell("true"));
    spec.user = Some("no-such-user-xyz".into());
    assert!(matches!(containerizer::launch(&spec), Err(Error::UnknownUser(_))));
    let mut spec = f.spec("v", shell("true"));
    spec.env.push(("BAD=NAME".into(), "x".into()));
    assert!(matches!(containerizer::launch(&spec), Err(Error::Invalid { .. })));
}

#[tokio::test]
async fn runs_as_another_user() {
    if !nix::unistd::geteuid().is_root() {
        println!("SKIP runs_as_another_user: not root");
        return;
    }
    let Ok(Some(nobody)) = nix::unistd::User::from_name("nobody") else {
        println!("SKIP runs_as_another_user: no user nobody");
        return;
    };
    let mut f = Fixture::new();
    let mut spec = f.spec("t", shell("id -u; id -g"));
    spec.user = Some("nobody".into());
    let (_, m) = f.launch(&spec);
    assert_eq!(f.wait(m).await, TaskExit::Exited(0));
    assert_eq!(read(&spec.stdout), format!("{}\n{}\n", nobody.uid, nobody.gid));
}

#[tokio::test]
async fn monitor_and_task_hold_no_inherited_descriptors() {
    let mut f = Fixture::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let listener_inode = std::fs::metadata(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&listener)))
        .expect("stat socket")
        .ino();
    let spec = f.spec("t", shell("echo ready > ready; exec sleep 100"));
    let ready = spec.working_dir.join("ready");
    let (launched, m) = f.launch(&spec);
    eventually("task ready", T, || ready.exists()).await;

    let fds = |pid: i32| -> Vec<(String, String)> {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .expect("read fd dir")
            .flatten()
            .map(|e| {
                let target = std::fs::read_link(e.path()).map(|t| t.display().to_string()).unwrap_or_default();
                (e.file_name().to_string_lossy().into_owned(), target)
            })
            .collect()
    };
    // The monitor closes its report pipe right after reporting (launch returns on the report,
    // and the task may be ready before the monitor has run again).
    let setup_closed = |pid: i32| fds(pid).iter().all(|(fd, _)| ["0", "1", "2", "3"].contains(&fd.as_str()));
    eventually("the monitor closed its setup descriptors", T, || setup_closed(launched.monitor_pid)).await;
    for (who, pid) in [("monitor", launched.monitor_pid), ("task", launched.task_pid)] {
        for (fd, target) in fds(pid) {
            assert!(!target.starts_with("socket:"), "{who} holds socket fd {fd} -> {target}");
            assert_ne!(target, format!("socket:[{listener_inode}]"));
            if who == "task" {
                assert!(["0", "1", "2"].contains(&fd.as_str()), "task fd {fd} -> {target}");
            } else {
                // Only the status file (and stdio until it closes them).
                assert!(["0", "1", "2", "3"].contains(&fd.as_str()), "monitor fd {fd} -> {target}");
            }
        }
    }
    // The monitor is a separate small program in its own session.
    let stat = read(std::path::Path::new(&format!("/proc/{}/stat", launched.monitor_pid)));
    let fields: Vec<&str> = stat.rsplit_once(')').expect("stat").1.split_whitespace().collect();
    assert_eq!(fields[3], launched.monitor_pid.to_string(), "monitor session id");
    let task_stat = read(std::path::Path::new(&format!("/proc/{}/stat", launched.task_pid)));
    let task_fields: Vec<&str> = task_stat.rsplit_once(')').expect("stat").1.split_whitespace().collect();
    assert_eq!(task_fields[2], launched.task_pid.to_string(), "task pgid");
    drop(listener);
    assert!(f.monitored(m).signal_group(Signal::SIGKILL).expect("kill"));
    assert_eq!(f.wait(m).await, TaskExit::Signaled(libc::SIGKILL));
}

#[tokio::test]
async fn recover_from_integers_while_running_and_after_exit() {
    let mut f = Fixture::new();
    // Running: launch, forget the handle, recover from the integers.
    let spec = f.spec("running", shell("for i in $(seq 3000); do [ -e go ] && exit 7; sleep 0.01; done; exit 99"));
    let launched = containerizer::launch(&spec).expect("launch");
    let (pid, ticks, pgid) = (launched.monitor_pid, launched.monitor_start_ticks, launched.task_pid);
    let rec = Monitored::recover(pid, ticks, &spec.status_file, pgid).expect("recover");
    let m = f.adopt(rec);
    assert_eq!(f.monitored(m).try_exit(), None);
    std::fs::write(spec.working_dir.join("go"), "").expect("go");
    assert_eq!(f.wait(m).await, TaskExit::Exited(7));

    // Already exited (and reaped: monitors are never left as zombies) before recover.
    let spec = f.spec("exited", shell("exit 5"));
    let launched = containerizer::launch(&spec).expect("launch");
    let proc_dir = format!("/proc/{}", launched.monitor_pid);
    eventually("monitor gone", T, || !std::path::Path::new(&proc_dir).exists()).await;
    let rec =
        Monitored::recover(launched.monitor_pid, launched.monitor_start_ticks, &spec.status_file, launched.task_pid)
            .expect("recover");
    assert_eq!(rec.try_exit(), Some(TaskExit::Exited(5)));
    let m = f.adopt(rec);
    assert_eq!(f.wait(m).await, TaskExit::Exited(5));
}

#[tokio::test]
async fn recover_detects_pid_reuse() {
    let mut f = Fixture::new();
    let spec = f.spec("t", shell("echo ready > ready; sleep 100"));
    let (launched, m) = f.launch(&spec);
    // Same pid, different start time: some other process, so the monitor is "gone".
    let rec = Monitored::recover(
        launched.monitor_pid,
        launched.monitor_start_ticks + 1,
        &spec.status_file,
        launched.task_pid,
    )
    .expect("recover");
    assert_eq!(rec.try_exit(), Some(TaskExit::Unknown));
    assert_eq!(rec.wait_exit().await, TaskExit::Unknown);
    assert!(!rec.signal_group(Signal::SIGKILL).expect("refused"));
    assert!(pid_alive(launched.task_pid));
    assert!(f.monitored(m).signal_group(Signal::SIGKILL).expect("kill"));
    assert_eq!(f.wait(m).await, TaskExit::Signaled(libc::SIGKILL));
}

#[tokio::test]
async fn monitor_killed_gives_unknown() {
    let mut f = Fixture::new();
    let spec = f.spec("t", shell("sleep 100"));
    let (launched, m) = f.launch(&spec);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(launched.monitor_pid), Signal::SIGKILL).expect("kill monitor");
    assert_eq!(f.wait(m).await, TaskExit::Unknown);
    // The task survives its monitor; the caller cleans it up by group (or cgroup).
    assert!(pid_alive(launched.task_pid));
    assert!(containerizer::signal_group(launched.task_pid, Signal::SIGKILL).expect("kill"));
    eventually("task gone", T, || !pid_alive(launched.task_pid)).await;
}

#[tokio::test]
async fn many_concurrent_launches() {
    let mut f = Fixture::new();
    let specs: Vec<_> = (0..40).map(|i| f.spec(&format!("t{i}"), shell(&format!("exit {}", i % 7)))).collect();
    let launched: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = specs
            .chunks(10)
            .map(|chunk| {
                s.spawn(move || {
                    chunk.iter().map(|spec| containerizer::launch(spec).expect("launch")).collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("thread")).collect()
    });
    let idx: Vec<usize> = launched
        .iter()
        .zip(&specs)
        .map(|(l, spec)| f.adopt(Monitored::new(l, &spec.status_file).expect("monitor")))
        .collect();
    for (i, m) in idx.into_iter().enumerate() {
        assert_eq!(f.wait(m).await, TaskExit::Exited((i % 7) as i32));
    }
}

#[test]
fn signal_group_rejects_dangerous_ids() {
    assert!(containerizer::signal_group(0, Signal::SIGTERM).is_err());
    assert!(containerizer::signal_group(1, Signal::SIGTERM).is_err());
    assert!(containerizer::signal_group(-5, Signal::SIGTERM).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launch_async_with_many_in_flight() {
    let mut f = Fixture::new();
    let specs: Vec<_> =
        (0..60).map(|i| f.spec(&format!("t{i}"), shell(&format!("echo {i}; exit {}", i % 5)))).collect();
    let mut set = tokio::task::JoinSet::new();
    for (i, spec) in specs.iter().cloned().enumerate() {
        set.spawn(async move { (i, containerizer::launch_async(&spec).await) });
    }
    let mut launched = vec![None; specs.len()];
    while let Some(res) = set.join_next().await {
        let (i, l) = res.expect("join");
        launched[i] = Some(l.expect("launch_async"));
    }
    for (i, (l, spec)) in launched.iter().zip(&specs).enumerate() {
        let l = l.expect("launched");
        let m = f.adopt(Monitored::new(&l, &spec.status_file).expect("monitor"));
        assert_eq!(f.wait(m).await, TaskExit::Exited((i % 5) as i32));
        assert_eq!(read(&spec.stdout), format!("{i}\n"));
    }

    let mut spec = f.spec("bad", shell("true"));
    spec.working_dir = f.dir.path().join("missing");
    match containerizer::launch_async(&spec).await {
        Err(Error::Setup { stage, .. }) => assert_eq!(stage, "chdir"),
        other => panic!("expected a setup error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_private_tmp_is_the_tasks_own() {
    let mut f = Fixture::new();
    let name = format!("containerizer-private-tmp-{}", std::process::id());
    let mut spec = f.spec("t", shell(&format!("echo mine > /tmp/{name} && cat /tmp/{name} && ls -A /tmp | wc -l")));
    let tmp = spec.working_dir.join("tmp");
    std::fs::create_dir(&tmp).expect("tmp");
    spec.private_tmp = Some(tmp.clone());
    let (_, m) = f.launch(&spec);
    assert_eq!(f.wait(m).await, TaskExit::Exited(0));
    assert_eq!(read(&spec.stdout), "mine\n1\n", "only its own file in its /tmp");
    assert_eq!(read(&tmp.join(&name)), "mine\n", "kept in the sandbox");
    assert!(!std::path::Path::new("/tmp").join(&name).exists(), "the host's /tmp untouched");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(!mounts.contains(tmp.to_str().unwrap_or("?")), "no mount leaked to the host");
}

#[tokio::test]
async fn output_is_rotated_by_size() {
    let mut f = Fixture::new();
    // 4,000 numbered lines of 100 bytes (400 kB) on stdout, a little on stderr.
    let cmd = "i=0; while [ $i -lt 4000 ]; do printf '%099d\\n' $i; i=$((i+1)); done; echo oops >&2; exit 7";
    let mut spec = f.spec("t", shell(cmd));
    let rotate = containerizer::Rotate { max_size: 64 * 1024, keep: 2 };
    spec.log_rotation = Some(containerizer::LogRotation { stdout: rotate, stderr: rotate });
    let (_, m) = f.launch(&spec);
    assert_eq!(f.wait(m).await, TaskExit::Exited(7), "the task's own status");
    let dir = spec.working_dir.clone();
    let size = |name: &str| std::fs::metadata(dir.join(name)).map(|m| m.len()).unwrap_or(0);
    for name in ["stdout", "stdout.1", "stdout.2"] {
        assert!(size(name) <= 128 * 1024, "{name}: {}", size(name));
    }
    assert!(size("stdout.1") >= 64 * 1024 && size("stdout.2") >= 64 * 1024, "rotated at the max size");
    assert!(!dir.join("stdout.3").exists(), "only 2 old files kept");
    let last = read(&spec.stdout);
    assert!(last.ends_with(&format!("{:099}\n", 3999)), "the newest output is in stdout");
    assert_eq!(read(&spec.stderr), "oops\n");
    assert!(!dir.join("stderr.1").exists());
}
