//! Panics: they unwind only their coroutine, join reports them, the runtime keeps going, and a
//! detached coroutine's panic is printed with the coroutine's name (child process).

mod support;

use std::panic::panic_any;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use support::{panic_text, run_child, watchdog};
use weft::go;
use weft::thread::{self, Builder};

#[test]
fn join_returns_err_with_a_str_payload() {
    watchdog(|| {
        let err = go!(|| -> u32 { panic!("static message") })
            .join()
            .expect_err("the coroutine panicked");
        assert_eq!(err.downcast_ref::<&str>(), Some(&"static message"));
    });
}

#[test]
fn join_returns_err_with_a_string_payload() {
    watchdog(|| {
        let n = 7;
        let err = go!(move || -> u32 { panic!("formatted message {n}") })
            .join()
            .expect_err("the coroutine panicked");
        assert_eq!(
            err.downcast_ref::<String>().map(String::as_str),
            Some("formatted message 7")
        );
    });
}

#[test]
fn join_returns_err_with_a_custom_payload() {
    watchdog(|| {
        #[derive(Debug, PartialEq)]
        struct Custom(u64);
        let err = go!(|| panic_any(Custom(99))).join().unwrap_err();
        assert_eq!(err.downcast_ref::<Custom>(), Some(&Custom(99)));
        let err = go!(|| panic_any(5i32)).join().unwrap_err();
        assert_eq!(err.downcast_ref::<i32>(), Some(&5));
    });
}

#[test]
fn a_panic_after_parking_unwinds_only_that_coroutine() {
    watchdog(|| {
        // Drops during unwinding run on the coroutine's own stack.
        struct Guard(Arc<AtomicUsize>);
        impl Drop for Guard {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let drops = Arc::new(AtomicUsize::new(0));
        let d = drops.clone();
        let err = go!(move || {
            let _g = Guard(d);
            thread::yield_now();
            thread::sleep(Duration::from_millis(1));
            let inner = go!(|| 3).join().unwrap();
            if inner == 3 {
                panic!("after parking");
            }
        })
        .join()
        .unwrap_err();
        assert_eq!(panic_text(&*err).as_deref(), Some("after parking"));
        assert_eq!(drops.load(Ordering::Relaxed), 1);
    });
}

#[test]
fn the_runtime_keeps_going_after_panics() {
    watchdog(|| {
        // Panicking coroutines mixed with parked ones that must survive their neighbours.
        let release = Arc::new(AtomicBool::new(false));
        let survivors: Vec<_> = (0..200)
            .map(|i| {
                let r = release.clone();
                go!(move || {
                    while !r.load(Ordering::Acquire) {
                        thread::park();
                    }
                    i
                })
            })
            .collect();
        let panickers: Vec<_> = (0..20)
            .map(|i| {
                Builder::new()
                    .name(format!("panicker-{i}"))
                    .spawn(move || -> usize {
                        if i % 2 == 0 {
                            thread::yield_now();
                        }
                        panic!("panicker {i}")
                    })
                    .unwrap()
            })
            .collect();
        for (i, h) in panickers.into_iter().enumerate() {
            let err = h.join().unwrap_err();
            assert_eq!(panic_text(&*err), Some(format!("panicker {i}")));
        }
        // More work after the panics, and the parked survivors still wake up.
        let more: Vec<_> = (0..500).map(|i| go!(move || i * 2)).collect();
        assert_eq!(
            more.into_iter().map(|h| h.join().unwrap()).sum::<usize>(),
            2 * 124_750
        );
        release.store(true, Ordering::Release);
        for h in &survivors {
            h.thread().unpark();
        }
        for (i, h) in survivors.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), i);
        }
    });
}

#[test]
fn panics_caught_inside_a_coroutine_do_not_end_it() {
    watchdog(|| {
        let v = go!(|| {
            let caught = std::panic::catch_unwind(|| panic!("caught inside"));
            assert!(caught.is_err());
            thread::yield_now();
            "still running"
        })
        .join()
        .unwrap();
        assert_eq!(v, "still running");
    });
}

/// Sends on drop: the panicking coroutine reports when its unwinding has started, which is
/// after the panic hook printed the message.
struct Notify(mpsc::Sender<()>);
impl Drop for Notify {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

#[test]
fn child_detached_panic() {
    if !support::child_is("detached-panic") {
        return;
    }
    let (tx, rx) = mpsc::channel();
    let t = tx.clone();
    let h = Builder::new()
        .name("doomed-one".into())
        .spawn(move || {
            let _n = Notify(t);
            thread::yield_now();
            panic!("kaboom {}", 6 * 7);
        })
        .unwrap();
    support::child_report("named", h.thread().id());
    drop(h); // detached
    let h = go!(move || {
        let _n = Notify(tx);
        panic!("anonymous kaboom");
    });
    support::child_report("unnamed", h.thread().id());
    drop(h);
    rx.recv().unwrap();
    rx.recv().unwrap();
    // A panic on a plain OS thread still gets std's report, not weft's.
    let os = std::thread::Builder::new()
        .name("plain-os".into())
        .spawn(|| panic!("os kaboom"))
        .unwrap()
        .join();
    assert!(os.is_err());
    // The runtime is still fine.
    assert_eq!(go!(|| 1 + 1).join().unwrap(), 2);
    support::child_report("done", "yes");
}

#[test]
fn a_detached_panic_is_reported_with_the_coroutine_name() {
    watchdog(|| {
        let out = run_child("child_detached_panic", "detached-panic", &[]);
        out.assert_success();
        assert_eq!(out.stdout_value("done"), "yes");
        let named = out.stdout_value("named");
        let unnamed = out.stdout_value("unnamed");
        out.assert_stderr_contains(&format!("coroutine 'doomed-one' (id {named}) panicked at"))
            .assert_stderr_contains("kaboom 42")
            .assert_stderr_contains(&format!("coroutine '<unnamed>' (id {unnamed}) panicked at"))
            .assert_stderr_contains("anonymous kaboom")
            .assert_stderr_contains("tests/rt_panic.rs:")
            .assert_stderr_contains("thread 'plain-os'")
            .assert_stderr_contains("os kaboom")
            .assert_stderr_lacks("coroutine 'plain-os'");
        // The brief's exact fragments.
        out.assert_stderr_contains("coroutine 'doomed-one' (id ")
            .assert_stderr_contains("panicked at");
    });
}

// --- Found by review: panics and blocking interact with std's per-thread panic state. ---

#[test]
fn child_small_stack_panic_with_backtrace() {
    if !support::child_is("small-bt") {
        return;
    }
    let h = Builder::new()
        .stack_size(16 * 1024)
        .spawn(|| -> () { panic!("boom on a small stack") })
        .unwrap();
    support::child_report("joined_err", h.join().is_err());
}

#[test]
fn a_panic_on_the_smallest_stack_prints_its_backtrace_without_overflowing() {
    watchdog(|| {
        let out = run_child(
            "child_small_stack_panic_with_backtrace",
            "small-bt",
            &[("RUST_BACKTRACE", "1")],
        );
        out.assert_success()
            .assert_stderr_contains("boom on a small stack")
            .assert_stderr_contains("stack backtrace:")
            .assert_stderr_lacks("overflowed");
        assert_eq!(out.stdout_value("joined_err"), "true");
    });
}

struct SpawnOnDrop;

impl Drop for SpawnOnDrop {
    fn drop(&mut self) {
        // First use of weft while this thread unwinds.
        let r = Builder::new().spawn(|| 1).map(|h| h.join().unwrap());
        support::child_report("cleanup", format!("{r:?}"));
    }
}

#[test]
fn child_first_use_while_panicking() {
    if !support::child_is("first-use-panicking") {
        return;
    }
    let caught = std::panic::catch_unwind(|| {
        let _guard = SpawnOnDrop;
        panic!("unwinding main");
    });
    support::child_report("caught", caught.is_err());
}

#[test]
fn the_runtime_can_start_from_a_destructor_during_unwinding() {
    watchdog(|| {
        let out = run_child(
            "child_first_use_while_panicking",
            "first-use-panicking",
            &[],
        );
        out.assert_success();
        assert_eq!(out.stdout_value("cleanup"), "Ok(1)");
        assert_eq!(out.stdout_value("caught"), "true");
    });
}

struct BadResult;

impl Drop for BadResult {
    fn drop(&mut self) {
        panic!("result drop bomb");
    }
}

#[test]
fn child_result_panics_on_drop() {
    if !support::child_is("result-bomb") {
        return;
    }
    let h = go!(|| BadResult);
    while !h.is_finished() {
        std::thread::yield_now();
    }
    drop(h);
    support::child_report("survived", "yes");
}

#[test]
fn a_result_that_panics_on_drop_aborts_with_a_message() {
    watchdog(|| {
        let out = run_child("child_result_panics_on_drop", "result-bomb", &[]);
        out.assert_failure()
            .assert_stderr_contains("a coroutine's result panicked on drop");
        assert!(!out.stdout.contains("[survived="), "{}", out.dump());
    });
}

#[test]
fn child_blocking_while_unwinding() {
    if !support::child_is("panic-state") {
        return;
    }
    // A parks (joins B) while unwinding; std's panic count is per OS thread, so if A switched
    // away, B would run with `thread::panicking()` true. A blocks its worker instead (P7), so B
    // must run on the other one: the parent forces two workers.
    let seen = Arc::new(AtomicBool::new(true));
    let s2 = seen.clone();
    let a = go!(move || {
        struct JoinOnDrop(Option<weft::thread::JoinHandle<()>>);
        impl Drop for JoinOnDrop {
            fn drop(&mut self) {
                let _ = self.0.take().unwrap().join();
            }
        }
        let b = go!(move || s2.store(std::thread::panicking(), Ordering::SeqCst));
        let _guard = JoinOnDrop(Some(b));
        panic!("A unwinds");
    });
    support::child_report("a_err", a.join().is_err());
    support::child_report("b_saw_panicking", seen.load(Ordering::SeqCst));
}

#[test]
fn a_coroutine_blocking_in_a_drop_during_unwinding_does_not_leak_its_panic_state() {
    watchdog(|| {
        let out = run_child(
            "child_blocking_while_unwinding",
            "panic-state",
            &[("WEFT_WORKERS", "2")],
        );
        out.assert_success();
        assert_eq!(out.stdout_value("a_err"), "true");
        assert_eq!(
            out.stdout_value("b_saw_panicking"),
            "false",
            "B ran with A's panic state"
        );
    });
}
