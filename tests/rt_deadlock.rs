//! The deadlock report (DL1, DL2; arch/dump.md), in child processes (each needs a runtime of
//! its own and the whole process quiet): a real deadlock is reported, once per episode, with
//! the dump; `abort` aborts; `off` stays silent; and nothing is reported while a timer is
//! pending or while a plain thread that will send is still sleeping.

mod support;

use std::time::Duration;

use support::{child_is, run_child};
use weft::chan;

const REPORT: &str = "weft: all coroutines are asleep - deadlock?";

/// The hang: two coroutines each wait on a channel whose sender is alive, and the
/// test thread joins them.
fn two_receivers_hang() {
    let (to_reader, from_main) = chan::bounded::<u32>(0);
    let (to_writer, from_reader) = chan::bounded::<u32>(0);
    let reader = weft::thread::Builder::new()
        .name("reader".into())
        .spawn(move || from_main.recv())
        .unwrap();
    let writer = weft::thread::Builder::new()
        .name("writer".into())
        .spawn(move || from_reader.recv())
        .unwrap();
    let _alive = (to_reader, to_writer);
    let _ = reader.join();
    let _ = writer.join();
}

#[test]
fn child_deadlock() {
    if !child_is("deadlock") {
        return;
    }
    if std::env::var_os("STOP_AFTER").is_some() {
        // The warn run cannot end by itself: the kernel stops it (SIGALRM) after 4 s, which
        // no thread of the process notices (no thread runs or waits with a timeout for it).
        // SAFETY: alarm only arms this process's timer.
        unsafe { libc::alarm(4) };
    }
    two_receivers_hang();
    println!("[not reached]");
}

#[test]
fn a_deadlock_is_reported_with_the_dump_and_abort_aborts() {
    let out = run_child(
        "child_deadlock",
        "deadlock",
        &[("WEFT_DEADLOCK", "abort"), ("WEFT_WORKERS", "2")],
    );
    out.assert_failure().assert_stderr_contains(REPORT);
    assert!(!out.stdout.contains("[not reached]"));
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{}", out.dump());
    for name in ["reader", "writer"] {
        out.assert_stderr_contains(&format!("coroutine '{name}' (id "));
    }
    out.assert_stderr_contains("[chan receive 0x")
        .assert_stderr_contains("spawned at tests/rt_deadlock.rs:")
        // The frame where each one blocks, in its own closure.
        .assert_stderr_contains("rt_deadlock")
        .assert_stderr_contains("weft: aborting (WEFT_DEADLOCK=abort)");
}

#[test]
fn warn_reports_once_per_episode_and_goes_on() {
    let out = run_child(
        "child_deadlock",
        "deadlock",
        &[("STOP_AFTER", "1"), ("WEFT_WORKERS", "1")],
    );
    use std::os::unix::process::ExitStatusExt;
    // Still running when the alarm came: warn does not stop the program.
    assert_eq!(out.status.signal(), Some(libc::SIGALRM), "{}", out.dump());
    assert_eq!(out.stderr.matches(REPORT).count(), 1, "{}", out.dump());
}

#[test]
fn off_stays_silent() {
    let out = run_child(
        "child_deadlock",
        "deadlock",
        &[("STOP_AFTER", "1"), ("WEFT_DEADLOCK", "off")],
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGALRM), "{}", out.dump());
    assert!(!out.stderr.contains(REPORT), "{}", out.dump());
}

/// A coroutine waits on a channel; the sender is a coroutine that sleeps first (a timer is
/// pending all along), or a plain thread that sleeps first. Both outlast the check's second.
#[test]
fn child_late_sender() {
    let Some(kind) = std::env::var("LATE_SENDER").ok() else {
        return;
    };
    if !child_is("late") {
        return;
    }
    let (tx, rx) = chan::bounded::<u32>(0);
    let receiver = weft::thread::Builder::new()
        .name("receiver".into())
        .spawn(move || rx.recv().unwrap())
        .unwrap();
    let pause = Duration::from_millis(2500);
    match kind.as_str() {
        "timer" => {
            weft::go!(move || {
                weft::thread::sleep(pause);
                tx.send(7).unwrap();
            });
        }
        _ => {
            std::thread::spawn(move || {
                std::thread::sleep(pause);
                tx.send(7).unwrap();
            });
        }
    }
    assert_eq!(receiver.join().unwrap(), 7);
    println!("[received]");
}

#[test]
fn no_report_while_a_timer_is_pending() {
    let out = run_child(
        "child_late_sender",
        "late",
        &[("LATE_SENDER", "timer"), ("WEFT_DEADLOCK", "abort")],
    );
    out.assert_success();
    assert!(out.stdout.contains("[received]"), "{}", out.dump());
    assert!(!out.stderr.contains(REPORT), "{}", out.dump());
}

#[test]
fn no_report_while_a_plain_thread_that_will_send_sleeps() {
    let out = run_child(
        "child_late_sender",
        "late",
        &[("LATE_SENDER", "thread"), ("WEFT_DEADLOCK", "abort")],
    );
    out.assert_success();
    assert!(out.stdout.contains("[received]"), "{}", out.dump());
    assert!(!out.stderr.contains(REPORT), "{}", out.dump());
}

/// A plain thread blocked in a weft receive is part of the deadlock too: the coroutine that
/// holds the only sender waits for a message from that thread.
#[test]
fn child_thread_and_coroutine() {
    if !child_is("mixed") {
        return;
    }
    let (to_thread, from_co) = chan::bounded::<u32>(0);
    let (to_co, from_thread) = chan::bounded::<u32>(0);
    let co = weft::thread::Builder::new()
        .name("holder".into())
        .spawn(move || {
            let n = from_thread.recv().unwrap();
            to_thread.send(n).unwrap();
        })
        .unwrap();
    let _alive = to_co;
    let _ = from_co.recv();
    let _ = co.join();
}

#[test]
fn a_plain_thread_in_a_weft_wait_is_part_of_the_deadlock() {
    let out = run_child(
        "child_thread_and_coroutine",
        "mixed",
        &[("WEFT_DEADLOCK", "abort")],
    );
    out.assert_failure()
        .assert_stderr_contains(REPORT)
        .assert_stderr_contains("coroutine 'holder' (id ");
}
