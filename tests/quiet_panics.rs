//! A panic inside the library must not write to the host program's stderr
//! (unless CTRD_DEBUG_PANICS=1), yet come back as CTRD_ERR_INTERNAL with its
//! message; the host's own panics are still reported.
//!
//! The test harness captures output, so each case runs in a child process:
//! this binary (harness = false) re-executed with CTRD_QUIET_PANICS_CASE set,
//! which runs the case, prints "ok" or what went wrong to stdout, and exits.
//! Needs no daemon.

use std::ffi::{CStr, CString};
use std::process::Command;

use containerd_c::ffi::ctrd_status::*;
use containerd_c::ffi::*;

const CASE: &str = "CTRD_QUIET_PANICS_CASE";
const PREFIX: &str = "internal error (a bug in containerd-c): panic: ";

fn last_error() -> String {
    // SAFETY: ctrd_last_error returns a NUL-terminated string, copied at once.
    unsafe { CStr::from_ptr(ctrd_last_error()) }
        .to_string_lossy()
        .into_owned()
}

/// A panic injected into a status-returning and into a value-returning
/// export.
fn boundary_case() -> Result<(), String> {
    let name = CString::new("ctrd_spec_patch").unwrap();
    if ctrd_debug_panic_next_call(name.as_ptr()) != CTRD_OK {
        return Err(format!("arming the panic: {}", last_error()));
    }
    let (spec, patch) = (c"{\"ociVersion\":\"1.0.2\"}", c"{}");
    let mut out = std::ptr::null_mut();
    let status = ctrd_spec_patch(spec.as_ptr(), patch.as_ptr(), &mut out);
    let want = format!("ctrd_spec_patch: {PREFIX}panic injected by ctrd_debug_panic_next_call");
    if status != CTRD_ERR_INTERNAL || last_error() != want || !out.is_null() {
        return Err(format!("ctrd_spec_patch: {status:?}: {}", last_error()));
    }
    let name = CString::new("ctrd_version").unwrap();
    if ctrd_debug_panic_next_call(name.as_ptr()) != CTRD_OK {
        return Err(format!("arming the panic: {}", last_error()));
    }
    // SAFETY: ctrd_version returns a static NUL-terminated string.
    let version = unsafe { CStr::from_ptr(ctrd_version()) };
    if !version.to_bytes().is_empty()
        || !last_error().starts_with(&format!("ctrd_version: {PREFIX}"))
    {
        return Err(format!("ctrd_version: {version:?}: {}", last_error()));
    }
    Ok(())
}

/// A panic inside a task on the runtime's workers.
fn task_case() -> Result<(), String> {
    let r: containerd_c::Result<()> =
        containerd_c::runtime::block_on_shared(async { panic!("boom in a task") });
    let e = r.err().ok_or("no error")?;
    if e.code != containerd_c::Code::Internal || e.message != format!("{PREFIX}boom in a task") {
        return Err(format!("{:?}: {}", e.code, e.message));
    }
    Ok(())
}

/// The host's own panic, after the library installed its hook, still goes
/// to the host's hook (the default one prints it).
fn host_case() -> Result<(), String> {
    // SAFETY: ctrd_version returns a static string; only the call matters.
    let _ = ctrd_version();
    let _ = containerd_c::runtime::block_on(async { Ok(()) });
    let joined = std::thread::spawn(|| panic!("the host's own panic")).join();
    if joined.is_ok() {
        return Err("the host thread did not panic".into());
    }
    Ok(())
}

fn child(case: &str) -> ! {
    let result = match case {
        "boundary" => boundary_case(),
        "task" => task_case(),
        "host" => host_case(),
        other => Err(format!("unknown case {other}")),
    };
    match result {
        Ok(()) => {
            println!("ok");
            std::process::exit(0)
        }
        Err(e) => {
            println!("{e}");
            std::process::exit(1)
        }
    }
}

/// Runs `case` in a child; returns its stderr.
fn run(case: &str, debug: bool) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env(CASE, case).env_remove("RUST_BACKTRACE");
    if debug {
        cmd.env("CTRD_DEBUG_PANICS", "1");
    } else {
        cmd.env_remove("CTRD_DEBUG_PANICS");
    }
    let out = cmd.output().expect("running the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success() && stdout.trim() == "ok",
        "case {case} (debug {debug}) failed: {}; stdout: {stdout}; stderr: {stderr}",
        out.status
    );
    stderr
}

fn main() {
    if let Ok(case) = std::env::var(CASE) {
        child(&case);
    }
    for case in ["boundary", "task"] {
        let quiet = run(case, false);
        assert!(quiet.is_empty(), "case {case} wrote to stderr: {quiet}");
        let loud = run(case, true);
        assert!(
            loud.contains("panicked at"),
            "case {case} with CTRD_DEBUG_PANICS=1 printed no panic: {loud:?}"
        );
        println!("quiet_panics: {case}: ok");
    }
    let host = run("host", false);
    assert!(
        host.contains("the host's own panic"),
        "the host's panic was not reported: {host:?}"
    );
    println!("quiet_panics: host: ok");
}
