//! Compiles `monitor/main.rs` into a standalone executable that the library embeds
//! (`include_bytes!`) and execs for every task. See `monitor/main.rs` for why the
//! monitor is a separate program rather than a long-lived fork of the agent.
//!
//! The program only uses `std`, so a plain `rustc` invocation suffices. A statically
//! linked binary (`+crt-static`, faster exec, no dynamic loader) is tried first; if the
//! toolchain cannot link one (no static libc), a normal dynamic binary is built.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR")).join("monitor").join("main.rs");
    println!("cargo:rerun-if-changed={}", src.display());
    println!("cargo:rerun-if-changed=build.rs");

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let out = out_dir.join("containerizer-monitor");
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let target = env::var("TARGET").expect("TARGET");

    let mut last_err = String::new();
    for static_crt in [true, false] {
        let mut cmd = Command::new(&rustc);
        cmd.arg("--edition=2024")
            .args(["--crate-name", "containerizer_monitor", "--crate-type", "bin"])
            .args(["--target", &target])
            .args(["-C", "opt-level=2", "-C", "panic=abort", "-C", "debuginfo=0"])
            .args(["-C", "strip=symbols", "-C", "codegen-units=1"])
            .arg("-o")
            .arg(&out)
            .arg(&src)
            .env_remove("CARGO_ENCODED_RUSTFLAGS");
        if static_crt {
            cmd.args(["-C", "target-feature=+crt-static"]);
        }
        match cmd.output() {
            Ok(o) if o.status.success() => {
                println!("cargo:rustc-env=CONTAINERIZER_MONITOR_STATIC={}", if static_crt { "1" } else { "0" });
                return;
            }
            Ok(o) => last_err = String::from_utf8_lossy(&o.stderr).into_owned(),
            Err(e) => last_err = format!("could not run {rustc:?}: {e}"),
        }
    }
    panic!("failed to compile the containerizer monitor:\n{last_err}");
}
