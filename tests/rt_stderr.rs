//! Every message survives a failing stderr: weft's reports (a coroutine's panic, a fatal
//! error) neither panic nor abort the process when stderr is `/dev/full` or a pipe whose
//! reading end is closed, as std's own hook ignores such errors for a plain thread; and they
//! are still captured by libtest, as `eprint!` output is (arch/coroutine.md, "Panics").
//!
//! Each case runs in a child process, the test binary itself running one `child_*` test (which
//! does nothing unless `WEFT_CHILD` names it). The parent chooses the child's stderr, so it
//! starts the child with `support::child_command` and `LiveChild` instead of
//! `support::run_child`, which always pipes it.

mod support;

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::mpsc;

use support::{ChildOutput, LiveChild, child_command, child_is, child_report, watchdog};
use weft::go;
use weft::thread::Builder;

/// A child that has not finished after this long is killed and the test fails.
const CHILD_SECS: u64 = 20;

/// Where the child's stderr goes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Stderr {
    /// A pipe the parent reads: the control run.
    Piped,
    /// `/dev/full`: every write fails with `ENOSPC`.
    DevFull,
    /// A pipe whose reading end the parent closed before starting the child: every write
    /// fails with `EPIPE` (Rust programs ignore `SIGPIPE`).
    ClosedPipe,
}

const FAILING: [Stderr; 2] = [Stderr::DevFull, Stderr::ClosedPipe];

/// Runs the child test `test` with `WEFT_CHILD=tag` and its stderr set as `stderr`. With
/// `capture`, libtest captures the test's output (no `--nocapture`) and shows it on stdout
/// if the test fails. As with `support::run_child`, every inherited `WEFT_*` variable is
/// removed and core dumps are off.
fn run(test: &str, tag: &str, stderr: Stderr, capture: bool) -> ChildOutput {
    let mut cmd = child_command(test, tag, &[], capture);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    match stderr {
        Stderr::Piped => cmd.stderr(Stdio::piped()),
        Stderr::DevFull => cmd.stderr(Stdio::from(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .expect("open /dev/full"),
        )),
        Stderr::ClosedPipe => {
            let (reader, writer) = std::io::pipe().expect("pipe");
            drop(reader);
            cmd.stderr(Stdio::from(writer))
        }
    };
    // `LiveChild::spawn` drops `cmd`, which holds the parent's copy of the child's stderr
    // (`/dev/full` or the pipe's writing end), so that only the child holds it.
    let label = format!("child `{test}` ({tag}, stderr {stderr:?})");
    LiveChild::spawn(cmd, label, CHILD_SECS).finish()
}

/// Reports whether this process's stderr fails, so the parent knows the failing cases really
/// failed (and the control run really did not).
fn report_whether_stderr_fails() {
    let fails = std::io::stderr().write_all(b"probe\n").is_err();
    child_report("stderr_fails", fails);
}

/// Checks the child's probe against where its stderr went.
#[track_caller]
fn assert_probe(out: &ChildOutput, stderr: Stderr) {
    assert_eq!(
        out.stdout_value("stderr_fails"),
        (stderr != Stderr::Piped).to_string(),
        "stderr {stderr:?}:\n{}",
        out.dump()
    );
}

/// Sends on drop: a panicking coroutine's unwinding has started, so its panic hook is done.
struct Notify(mpsc::Sender<()>);

impl Drop for Notify {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

#[test]
fn child_joined_panic() {
    if !child_is("joined") {
        return;
    }
    report_whether_stderr_fails();
    let h = Builder::new()
        .name("joined-one".into())
        .spawn(|| -> u32 { panic!("joined boom") })
        .unwrap();
    child_report("id", h.thread().id());
    let err = h.join().expect_err("the coroutine panicked");
    assert_eq!(err.downcast_ref::<&str>(), Some(&"joined boom"));
    // The same on a plain OS thread, where std's hook reports it.
    let os = std::thread::Builder::new()
        .name("plain-os".into())
        .spawn(|| panic!("os boom"))
        .unwrap()
        .join();
    assert!(os.is_err());
    // The process and the runtime go on.
    assert_eq!(go!(|| 1 + 1).join().unwrap(), 2);
    child_report("done", "joined");
}

#[test]
fn child_detached_panic() {
    if !child_is("detached") {
        return;
    }
    report_whether_stderr_fails();
    let (tx, rx) = mpsc::channel();
    let h = Builder::new()
        .name("detached-one".into())
        .spawn(move || {
            let _n = Notify(tx);
            weft::thread::yield_now();
            panic!("detached boom");
        })
        .unwrap();
    child_report("id", h.thread().id());
    drop(h);
    rx.recv().expect("the detached coroutine unwinds");
    assert_eq!(go!(|| 1 + 1).join().unwrap(), 2);
    child_report("done", "detached");
}

/// Runs the joined and the detached cases with `stderr`; returns their outputs.
fn both_panics(stderr: Stderr) -> [(ChildOutput, &'static str); 2] {
    ["joined", "detached"].map(|tag| {
        let out = run(&format!("child_{tag}_panic"), tag, stderr, false);
        out.assert_success();
        assert_probe(&out, stderr);
        assert_eq!(out.stdout_value("done"), tag, "{}", out.dump());
        (out, tag)
    })
}

#[test]
fn the_control_run_prints_the_panics_naming_the_coroutines() {
    watchdog(|| {
        for (out, tag) in both_panics(Stderr::Piped) {
            let id = out.stdout_value("id");
            out.assert_stderr_contains(&format!("coroutine '{tag}-one' (id {id}) panicked at"))
                .assert_stderr_contains(&format!("{tag} boom"));
            if tag == "joined" {
                out.assert_stderr_contains("thread 'plain-os'")
                    .assert_stderr_contains("os boom");
            }
        }
    });
}

#[test]
fn a_coroutine_panic_survives_stderr_on_dev_full() {
    watchdog(|| {
        both_panics(Stderr::DevFull);
    });
}

#[test]
fn a_coroutine_panic_survives_stderr_on_a_closed_pipe() {
    watchdog(|| {
        both_panics(Stderr::ClosedPipe);
    });
}

struct BadResult;

impl Drop for BadResult {
    fn drop(&mut self) {
        panic!("result drop bomb");
    }
}

#[test]
fn child_fatal_error() {
    if !child_is("fatal") {
        return;
    }
    report_whether_stderr_fails();
    let h = go!(|| BadResult);
    while !h.is_finished() {
        std::thread::yield_now();
    }
    // Aborts: "weft: fatal: a coroutine's result panicked on drop".
    drop(h);
    child_report("survived", "yes");
}

#[test]
fn a_fatal_error_still_aborts_when_stderr_fails() {
    watchdog(|| {
        for stderr in FAILING {
            // Not a panic escaping the fatal report (the child test would fail with exit code
            // 101 and go on), but the abort.
            let out = run("child_fatal_error", "fatal", stderr, false);
            assert_probe(&out, stderr);
            assert_eq!(
                out.status.signal(),
                Some(libc::SIGABRT),
                "stderr {stderr:?}:\n{}",
                out.dump()
            );
            assert!(!out.stdout.contains("[survived="), "{}", out.dump());
        }
    });
}

#[test]
fn child_panic_under_the_stderr_lock() {
    if !child_is("stderr-lock") {
        return;
    }
    let h = Builder::new()
        .name("lock-holder".into())
        .spawn(|| -> u32 {
            let _stderr = std::io::stderr().lock();
            panic!("boom under the stderr lock")
        })
        .unwrap();
    child_report("id", h.thread().id());
    assert!(h.join().is_err());
    assert_eq!(go!(|| 1 + 1).join().unwrap(), 2);
    child_report("done", "yes");
}

#[test]
fn a_coroutine_that_panics_holding_the_stderr_lock_is_reported_once() {
    watchdog(|| {
        // The hook's helper thread cannot take the lock the panicking worker holds: the hook
        // stops waiting for it and writes the report itself, and the helper, unblocked by the
        // unwinding, does not write it again.
        let out = run(
            "child_panic_under_the_stderr_lock",
            "stderr-lock",
            Stderr::Piped,
            false,
        );
        out.assert_success();
        assert_eq!(out.stdout_value("done"), "yes");
        let id = out.stdout_value("id");
        let head = format!("coroutine 'lock-holder' (id {id}) panicked at");
        assert_eq!(out.stderr.matches(&head).count(), 1, "{}", out.dump());
        out.assert_stderr_contains("boom under the stderr lock");
    });
}

#[test]
fn child_captured_panic() {
    if !child_is("captured") {
        return;
    }
    let h = Builder::new()
        .name("captured-one".into())
        .spawn(|| -> u32 { panic!("captured boom") })
        .unwrap();
    let id = h.thread().id();
    assert!(h.join().is_err());
    // Fails on purpose, so that libtest shows what it captured.
    panic!("deliberate failure after coroutine id {id}.");
}

#[test]
fn a_coroutine_panic_is_captured_by_libtest() {
    watchdog(|| {
        let out = run("child_captured_panic", "captured", Stderr::Piped, true);
        out.assert_failure()
            .assert_stdout_contains("---- child_captured_panic stdout ----")
            .assert_stdout_contains("deliberate failure after coroutine id ");
        // The coroutine's id, from the deliberate failure's message.
        let marker = "deliberate failure after coroutine id ";
        let id: String = out.stdout[out.stdout.find(marker).unwrap() + marker.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        // In libtest's section for the test, not on the real stderr.
        let section = &out.stdout[out.stdout.find("---- child_captured_panic stdout").unwrap()..];
        assert!(
            section.contains(&format!("coroutine 'captured-one' (id {id}) panicked at"))
                && section.contains("captured boom"),
            "the coroutine's panic report is not in the captured output:\n{}",
            out.dump()
        );
        out.assert_stderr_lacks("captured-one");
    });
}
