//! Stacks, in child processes: coroutine stack overflow aborts with a report naming the
//! coroutine; an OS thread's overflow still gets std's report (weft's handler chains to std's);
//! the mprotect guard budget ends in an `io::Error`, not an abort; a bad `WEFT_WORKERS` is an
//! error naming the variable.
//!
//! Each `child_*` test does nothing unless it runs as the child of its parent test
//! (`WEFT_CHILD` names it); see `support::run_child`.

mod support;

use std::hint::black_box;
use std::io;
use std::panic::catch_unwind;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use support::{ChildOutput, child_is, child_report, panic_text, run_child, watchdog};

/// The child died of `abort()` (the overflow handlers' way out), not of a raw fault.
#[track_caller]
fn assert_aborted(out: &ChildOutput) {
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(6),
        "not killed by SIGABRT:\n{}",
        out.dump()
    );
}
use weft::go;
use weft::thread::{self, Builder};

/// Recurses until the stack runs out (the condition only hides that from the compiler).
#[inline(never)]
fn unbounded(depth: u64) -> u64 {
    let buf = black_box([depth as u8; 512]);
    if black_box(depth) == u64::MAX {
        return buf[0] as u64;
    }
    unbounded(depth + 1) + black_box(&buf)[511] as u64
}

#[test]
fn child_coroutine_overflow() {
    if !child_is("overflow") {
        return;
    }
    // The runtime works before the overflow.
    assert_eq!(go!(|| 1).join().unwrap(), 1);
    overflow_named("deep-diver", 32 * 1024);
}

/// Child side: a coroutine named `name` with `stack` bytes recurses without end; reports its
/// id first, and `survived` if the process goes on (it must not).
fn overflow_named(name: &str, stack: usize) {
    let h = Builder::new()
        .name(name.into())
        .stack_size(stack)
        .spawn(|| {
            // Wait until the id is reported: the abort must not race the report.
            weft::thread::park();
            unbounded(0)
        })
        .unwrap();
    child_report("id", h.thread().id());
    h.thread().unpark();
    let _ = h.join();
    child_report("survived", "yes");
}

/// Parent side: the child aborted with weft's report naming coroutine `name` and its stack.
fn assert_overflow_reported(out: &ChildOutput, name: &str, kib: usize, case: &str) {
    out.assert_failure();
    assert_aborted(out);
    let id = out.stdout_value("id");
    out.assert_stderr_contains(&format!("coroutine '{name}' (id {id})"))
        .assert_stderr_contains(&format!("has overflowed its stack of {kib} KiB"))
        .assert_stderr_contains("Builder::stack_size");
    assert!(
        !out.stdout.contains("[survived="),
        "the process went on after a stack overflow ({case}):\n{}",
        out.dump()
    );
}

/// Guards are installed in batches of up to 1,024 per system call (`process_madvise`): a stack
/// far into a slab (16 KiB slots: about 3,270 per slab, so several batches) must be guarded too.
#[test]
fn child_overflow_far_into_a_slab() {
    if !child_is("overflow-far") {
        return;
    }
    let parked: Vec<_> = (0..3000)
        .map(|_| {
            Builder::new()
                .stack_size(16 * 1024)
                .spawn(thread::park)
                .unwrap()
        })
        .collect();
    overflow_named("far-diver", 16 * 1024);
    drop(parked);
}

#[test]
fn a_stack_far_into_a_slab_is_guarded_too() {
    watchdog(|| {
        let out = run_child("child_overflow_far_into_a_slab", "overflow-far", &[]);
        assert_overflow_reported(&out, "far-diver", 16, "far into a slab");
    });
}

#[test]
fn coroutine_stack_overflow_aborts_naming_the_coroutine() {
    watchdog(|| {
        // Both guard kinds: the default (madvise where available) and forced mprotect.
        for guard in ["auto", "mprotect"] {
            let out = run_child(
                "child_coroutine_overflow",
                "overflow",
                &[("WEFT_STACK_GUARD", guard)],
            );
            assert_overflow_reported(&out, "deep-diver", 32, guard);
        }
    });
}

#[test]
fn child_huge_frame_overflow() {
    if !child_is("huge-frame") {
        return;
    }
    // Neighbouring coroutines whose stacks sit right below and above in the same slab.
    let neighbours: Vec<_> = (0..8)
        .map(|_| {
            Builder::new()
                .stack_size(16 * 1024)
                .spawn(|| {
                    thread::park();
                })
                .unwrap()
        })
        .collect();
    // One frame far larger than the whole stack and its guard page: stack probes must touch
    // the guard instead of jumping over it into a neighbour's stack.
    let h = Builder::new()
        .name("big-frame".into())
        .stack_size(16 * 1024)
        .spawn(|| {
            let big = black_box([7u8; 256 * 1024]);
            black_box(&big)[12345] as usize
        })
        .unwrap();
    let _ = h.join();
    child_report("survived", "yes");
    drop(neighbours);
}

#[test]
fn a_frame_larger_than_the_stack_is_reported_as_an_overflow() {
    watchdog(|| {
        let out = run_child("child_huge_frame_overflow", "huge-frame", &[]);
        assert_aborted(&out);
        out.assert_failure()
            .assert_stderr_contains("coroutine 'big-frame' (id")
            .assert_stderr_contains("has overflowed its stack of 16 KiB");
        assert!(!out.stdout.contains("[survived="), "{}", out.dump());
    });
}

#[test]
fn child_long_name_overflow() {
    if !child_is("long-name") {
        return;
    }
    let name = "n".repeat(600);
    let h = Builder::new()
        .name(name)
        .stack_size(32 * 1024)
        .spawn(|| unbounded(0))
        .unwrap();
    let _ = h.join();
    child_report("survived", "yes");
}

#[test]
fn an_overflow_report_with_a_long_coroutine_name_keeps_its_diagnosis() {
    // signal.rs writes the report through a fixed 512-byte buffer; a long name must not push
    // the diagnosis itself out of the message.
    watchdog(|| {
        let out = run_child("child_long_name_overflow", "long-name", &[]);
        out.assert_failure();
        assert!(!out.stdout.contains("[survived="), "{}", out.dump());
        out.assert_stderr_contains("coroutine 'nnnnnnnn")
            .assert_stderr_contains("has overflowed its stack of 32 KiB")
            .assert_stderr_contains("fatal runtime error");
    });
}

#[test]
fn child_coroutine_segfault() {
    if !child_is("segfault") {
        return;
    }
    go!(|| {
        // A plain invalid access (not in any guard page) from a coroutine.
        let bad = std::ptr::null_mut::<u8>().wrapping_add(16);
        // SAFETY: none: this child process exists to take this fault.
        unsafe { std::ptr::write_volatile(bad, 1) };
    })
    .join()
    .ok();
    child_report("survived", "yes");
}

#[test]
fn a_fault_that_is_no_overflow_gets_the_default_action() {
    use std::os::unix::process::ExitStatusExt;
    watchdog(|| {
        let out = run_child("child_coroutine_segfault", "segfault", &[]);
        out.assert_failure()
            .assert_stderr_lacks("has overflowed its stack");
        assert_eq!(
            out.status.signal(),
            Some(11),
            "not killed by SIGSEGV:\n{}",
            out.dump()
        );
        assert!(!out.stdout.contains("[survived="), "{}", out.dump());
    });
}

#[test]
fn child_unnamed_coroutine_overflow() {
    if !child_is("overflow-unnamed") {
        return;
    }
    // Default stack size (64 KiB), no name, spawned from a coroutine.
    go!(|| go!(|| unbounded(0)).join()).join().ok();
    child_report("survived", "yes");
}

#[test]
fn unnamed_coroutine_stack_overflow_aborts_with_a_report() {
    watchdog(|| {
        let out = run_child("child_unnamed_coroutine_overflow", "overflow-unnamed", &[]);
        assert_aborted(&out);
        out.assert_failure()
            .assert_stderr_contains("coroutine '<unnamed>' (id")
            .assert_stderr_contains("has overflowed its stack of 64 KiB")
            .assert_stderr_contains("Builder::stack_size");
        assert!(!out.stdout.contains("[survived="), "{}", out.dump());
    });
}

#[test]
fn child_os_thread_overflow() {
    if !child_is("os-overflow") {
        return;
    }
    // Start the runtime first, so weft's SIGSEGV handler is installed in front of std's.
    assert_eq!(go!(|| 2).join().unwrap(), 2);
    let t = std::thread::Builder::new()
        .name("os-diver".into())
        .stack_size(256 * 1024)
        .spawn(|| unbounded(0))
        .unwrap();
    let _ = t.join();
    child_report("survived", "yes");
}

#[test]
fn os_thread_stack_overflow_still_gets_std_report() {
    watchdog(|| {
        let out = run_child("child_os_thread_overflow", "os-overflow", &[]);
        assert_aborted(&out);
        out.assert_failure()
            .assert_stderr_contains("thread 'os-diver'")
            .assert_stderr_contains("has overflowed its stack")
            .assert_stderr_lacks("coroutine '");
        assert!(!out.stdout.contains("[survived="), "{}", out.dump());
    });
}

#[test]
fn child_mprotect_budget() {
    if !child_is("mprotect") {
        return;
    }
    let release = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    let err = loop {
        let (r, s) = (release.clone(), started.clone());
        match Builder::new().spawn(move || {
            s.fetch_add(1, Ordering::Relaxed);
            while !r.load(Ordering::Acquire) {
                thread::park();
            }
            1usize
        }) {
            Ok(h) => handles.push(h),
            Err(e) => break e,
        }
        assert!(
            handles.len() < 1_000_000,
            "no error after a million mprotect-guarded stacks"
        );
    };
    child_report("spawned", handles.len());
    child_report("kind", format!("{:?}", err.kind()));
    child_report("error", &err);
    // Spawning keeps failing cleanly while all of them are live.
    let again = Builder::new().spawn(|| 0usize);
    child_report("again_failed", again.is_err());
    // Release and join every coroutine spawned before the error.
    release.store(true, Ordering::Release);
    for h in &handles {
        h.thread().unpark();
    }
    let n = handles.len();
    let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(total, n, "a coroutine was lost");
    assert_eq!(started.load(Ordering::Relaxed), n);
    child_report("joined", total);
    // A normal small program goes on: stacks are reused.
    let hs: Vec<_> = (0..2000u64)
        .map(|i| {
            go!(move || {
                thread::sleep(Duration::from_millis(1));
                let inner = go!(move || i * 2).join().unwrap();
                inner + 1
            })
        })
        .collect();
    let sum: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(sum, 2 * (1999 * 2000 / 2) + 2000);
    child_report("after", "ok");
}

#[test]
fn mprotect_guard_budget_ends_in_an_io_error() {
    watchdog(|| {
        let out = run_child(
            "child_mprotect_budget",
            "mprotect",
            &[("WEFT_STACK_GUARD", "mprotect")],
        );
        out.assert_success()
            .assert_stderr_lacks("panicked")
            .assert_stderr_lacks("internal error");
        let error = out.stdout_value("error");
        assert!(
            error.contains("vm.max_map_count"),
            "the error does not name vm.max_map_count: {error}\n{}",
            out.dump()
        );
        let spawned: usize = out.stdout_value("spawned").parse().unwrap();
        let max_map_count: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(65530);
        // Two maps per guard: the limit is reached near half of vm.max_map_count.
        assert!(
            spawned > 1000 && spawned <= max_map_count / 2,
            "the budget ended after {spawned} coroutines (vm.max_map_count {max_map_count})"
        );
        assert_eq!(out.stdout_value("again_failed"), "true");
        assert_eq!(out.stdout_value("joined"), spawned.to_string());
        assert_eq!(out.stdout_value("after"), "ok");
    });
}

#[test]
fn child_bad_workers() {
    if !child_is("bad-workers") {
        return;
    }
    let err = Builder::new()
        .spawn(|| ())
        .expect_err("WEFT_WORKERS=abc must be refused");
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    let msg = err.to_string();
    child_report("error", &msg);
    assert!(msg.contains("WEFT_WORKERS"), "{msg}");
    assert!(msg.contains("abc"), "{msg}");
    // spawn and go! panic with the same message.
    let p = catch_unwind(|| thread::spawn(|| ())).expect_err("spawn must panic");
    assert_eq!(panic_text(&*p).as_deref(), Some(msg.as_str()));
    let p = catch_unwind(|| go!(|| 1)).expect_err("go! must panic");
    assert_eq!(panic_text(&*p).as_deref(), Some(msg.as_str()));
    // The error is permanent: a later spawn fails the same way.
    let again = Builder::new()
        .name("later".into())
        .spawn(|| ())
        .unwrap_err();
    assert_eq!(again.to_string(), msg);
    assert_eq!(again.kind(), io::ErrorKind::InvalidInput);
    child_report("done", "yes");
}

#[test]
fn invalid_weft_workers_is_an_error_naming_the_variable() {
    watchdog(|| {
        let out = run_child(
            "child_bad_workers",
            "bad-workers",
            &[("WEFT_WORKERS", "abc")],
        );
        out.assert_success();
        assert_eq!(out.stdout_value("done"), "yes");
        let msg = out.stdout_value("error");
        assert!(msg.contains("WEFT_WORKERS") && msg.contains("abc"), "{msg}");
    });
}

#[test]
fn child_mprotect_size_classes() {
    if !child_is("mprotect-sizes") {
        return;
    }
    // A few dozen live coroutines, each with its own stack size (its own size class).
    const CLASSES: usize = 48;
    let release = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    let mut error = None;
    for k in 0..CLASSES {
        let r = release.clone();
        match Builder::new()
            .stack_size(16 * 1024 + k * 4096)
            .spawn(move || {
                while !r.load(Ordering::Acquire) {
                    thread::park();
                }
                k
            }) {
            Ok(h) => handles.push(h),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    child_report("spawned", handles.len());
    if let Some(e) = error {
        child_report("error", e);
    }
    release.store(true, Ordering::Release);
    for h in &handles {
        h.thread().unpark();
    }
    for (k, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap(), k);
    }
    child_report("done", "yes");
}

#[test]
fn mprotect_guards_are_not_used_up_by_a_few_dozen_size_classes() {
    // The budget is ~32k guarded stacks (vm.max_map_count / 2), but each new size class
    // guards a whole 64 MiB slab of slots at once (stack/slab.rs StackPool::grow), spending
    // budget on slots that no coroutine uses.
    watchdog(|| {
        let out = run_child(
            "child_mprotect_size_classes",
            "mprotect-sizes",
            &[("WEFT_STACK_GUARD", "mprotect")],
        );
        out.assert_success();
        assert_eq!(out.stdout_value("done"), "yes");
        assert_eq!(
            out.stdout_value("spawned"),
            "48",
            "spawning failed with only a few coroutines live:\n{}",
            out.dump()
        );
    });
}
