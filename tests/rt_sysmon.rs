//! sysmon (arch/scheduler.md, "sysmon", SY1–SY4): the warning for a coroutine that holds its
//! worker, its absence for coroutines that work in short slices, `WEFT_BLOCKING_WARN`, and a
//! monitor that does not wake while the runtime is idle.
//!
//! Each case runs in a child process (`WEFT_CHILD` names it, `support::run_child`): the
//! warning goes to the process's stderr, and the runtime's configuration is per process.

mod support;

use std::time::{Duration, Instant};

use support::{child_is, child_report, run_child};

/// Child side: a coroutine named `blocker` blocks its worker in `std::thread::sleep` (`block`).
#[test]
fn child_blocker() {
    if !child_is("blocker") {
        return;
    }
    let builder = weft::thread::Builder::new().name("blocker".into());
    let (h, line) = (builder.spawn(block).unwrap(), line!());
    child_report("id", h.thread().id());
    child_report("line", line);
    h.join().unwrap();
    // The gave-back line comes from sysmon's next round, after the reporter has symbolised
    // the stack (up to a second in a debug build, the first time; more on a loaded machine).
    std::thread::sleep(Duration::from_millis(4000));
}

fn block() {
    std::thread::sleep(Duration::from_millis(400));
}

#[test]
fn a_coroutine_that_holds_its_worker_is_named_with_its_stack_and_the_remedy() {
    let out = run_child(
        "child_blocker",
        "blocker",
        &[("WEFT_BLOCKING_WARN", "50ms"), ("WEFT_WORKERS", "2")],
    );
    out.assert_success();
    let id = out.stdout_value("id");
    let line = out.stdout_value("line");
    out.assert_stderr_contains(&format!(
        "weft: coroutine 'blocker' (id {id}, spawned at tests/rt_sysmon.rs:{line}:"
    ))
    .assert_stderr_contains("without a weft call")
    // Where it is: the std call that blocks, and the coroutine's own closure.
    .assert_stderr_contains("std::thread")
    .assert_stderr_contains("sleep")
    .assert_stderr_contains("rt_sysmon::block")
    // The remedy.
    .assert_stderr_contains("weft::thread::spawn_blocking")
    .assert_stderr_contains("WEFT_BLOCKING_WARN")
    // SY4: once per episode, and the end of it.
    .assert_stderr_contains(&format!("weft: coroutine 'blocker' (id {id}) gave worker "));
    assert_eq!(
        out.stderr.matches("has held worker").count(),
        1,
        "one warning per episode:\n{}",
        out.dump()
    );
    // The frames of the sampling handler are not shown.
    out.assert_stderr_lacks("sample.rs")
        .assert_stderr_lacks("trace_unsynchronized");
}

#[test]
fn blocking_warn_off_silences_the_warning() {
    let out = run_child(
        "child_blocker",
        "blocker",
        &[("WEFT_BLOCKING_WARN", "off"), ("WEFT_WORKERS", "2")],
    );
    out.assert_success().assert_stderr_lacks("has held worker");
}

/// Child side: eight coroutines each compute in slices of about 1 ms, with a weft call between
/// slices, for half a second.
#[test]
fn child_short_slices() {
    if !child_is("slices") {
        return;
    }
    let handles: Vec<_> = (0..8)
        .map(|i| {
            weft::thread::Builder::new()
                .name(format!("slicer-{i}"))
                .spawn(move || {
                    let end = Instant::now() + Duration::from_millis(500);
                    let mut slices = 0u64;
                    while Instant::now() < end {
                        let slice = Instant::now() + Duration::from_millis(1);
                        while Instant::now() < slice {
                            std::hint::spin_loop();
                        }
                        slices += 1;
                        if slices.is_multiple_of(2) {
                            weft::thread::yield_now();
                        } else {
                            weft::thread::sleep(Duration::from_micros(100));
                        }
                    }
                    slices
                })
                .unwrap()
        })
        .collect();
    let slices: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    child_report("slices", slices);
}

#[test]
fn coroutines_that_work_in_short_slices_get_no_warning() {
    let out = run_child(
        "child_short_slices",
        "slices",
        // Far above a slice (1 ms), far below the run (500 ms); high enough that a worker
        // descheduled by a loaded machine is not taken for a held one.
        &[("WEFT_BLOCKING_WARN", "250ms"), ("WEFT_WORKERS", "2")],
    );
    out.assert_success().assert_stderr_lacks("has held worker");
    let slices: u64 = out.stdout_value("slices").parse().unwrap();
    assert!(slices > 8, "the coroutines did work:\n{}", out.dump());
}

/// The number of times thread `name` of this process has been switched in voluntarily (it
/// slept and was woken), from /proc.
fn voluntary_switches(name: &str) -> Option<u64> {
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = task.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
        if comm.trim() != name {
            continue;
        }
        let status = std::fs::read_to_string(dir.join("status")).ok()?;
        return status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse().ok());
    }
    None
}

/// Child side: after some work, the runtime idles; the monitor's wake-ups over the idle time.
#[test]
fn child_idle_monitor() {
    if !child_is("idle") {
        return;
    }
    let handles: Vec<_> = (0..100)
        .map(|_| weft::go!(|| weft::thread::sleep(Duration::from_millis(5))))
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    // Let the workers finish spinning and go to sleep, and the monitor notice.
    std::thread::sleep(Duration::from_millis(200));
    let before = voluntary_switches("weft-sysmon").expect("a weft-sysmon thread");
    std::thread::sleep(Duration::from_millis(1000));
    let after = voluntary_switches("weft-sysmon").expect("a weft-sysmon thread");
    child_report("idle_wakeups", after - before);
}

#[test]
fn the_monitor_does_not_wake_while_the_runtime_is_idle() {
    let out = run_child("child_idle_monitor", "idle", &[("WEFT_WORKERS", "2")]);
    out.assert_success();
    let wakeups: u64 = out.stdout_value("idle_wakeups").parse().unwrap();
    // SY1: no periodic wake-up; a stray one (a worker's late spin ending) is allowed.
    assert!(
        wakeups <= 2,
        "sysmon woke {wakeups} times in 1 s of idle:\n{}",
        out.dump()
    );
}
