//! Hand-off (arch/scheduler.md, "sysmon", HO1–HO3): a worker held by a coroutine that blocks
//! its thread stops counting as a worker; a spare thread takes the new coroutines meanwhile,
//! and leaves when the held worker is back and its own coroutines have ended. Never more
//! spares than workers.
//!
//! Each case runs in a child process (`WEFT_CHILD` names it, `support::run_child`): the number
//! of workers is per process, and the cases count the process's threads.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::{child_is, child_report, run_child, worker_threads};

fn weft_workers() -> usize {
    worker_threads().len()
}

/// One hold of the only worker: a coroutine blocks in `std::thread::sleep(hold)`; 100
/// coroutines are spawned from main meanwhile. Returns whether the hold had ended when they
/// had all finished, and on which threads they ran.
fn one_hold(hold: Duration) -> (bool, Vec<String>) {
    let running = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let (r, d) = (running.clone(), done.clone());
    let blocker = weft::go!(move || {
        r.store(true, Ordering::SeqCst);
        std::thread::sleep(hold);
        d.store(true, Ordering::SeqCst);
    });
    while !running.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let handles: Vec<_> = (0..100)
        .map(|i| {
            weft::go!(move || {
                weft::thread::sleep(Duration::from_millis(1));
                (i, std::thread::current().name().unwrap_or("?").to_owned())
            })
        })
        .collect();
    let ran_on: Vec<(usize, String)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let done_first = done.load(Ordering::SeqCst);
    assert_eq!(ran_on.iter().map(|(i, _)| i).sum::<usize>(), 4950);
    blocker.join().unwrap();
    (done_first, ran_on.into_iter().map(|(_, w)| w).collect())
}

/// Waits (up to 5 s) until only the configured worker is left; returns the worker threads.
fn spares_gone() -> usize {
    let until = Instant::now() + Duration::from_secs(5);
    while weft_workers() > 1 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    weft_workers()
}

/// Child side: the only worker blocks in a 3 s `std::thread::sleep`; 100 coroutines spawned
/// from main meanwhile must all finish before it wakes. Then again, in the slot the first spare
/// left.
#[test]
fn child_one_worker_blocked() {
    if !child_is("one-blocked") {
        return;
    }
    let (blocker_done_first, ran_on) = one_hold(Duration::from_secs(3));
    // HO1: they finished while the worker was still held, on the spare.
    child_report("blocker_done_first", blocker_done_first);
    let on_spare = ran_on.iter().filter(|w| *w == "weft-worker-1").count();
    child_report("on_spare", on_spare);
    // HO3: the spare leaves once the worker is back and its own coroutines have ended.
    child_report("workers_after", spares_gone());
    // The runtime goes on, and the slot takes a new spare for a new hold.
    assert_eq!(weft::go!(|| 6 * 7).join().unwrap(), 42);
    let (again_done_first, again_on) = one_hold(Duration::from_secs(1));
    child_report("again_done_first", again_done_first);
    let again_on_spare = again_on.iter().filter(|w| *w == "weft-worker-1").count();
    child_report("again_on_spare", again_on_spare);
    child_report("workers_after_again", spares_gone());
}

#[test]
fn a_spare_runs_new_coroutines_while_the_only_worker_is_held_and_leaves_after() {
    let out = run_child(
        "child_one_worker_blocked",
        "one-blocked",
        &[("WEFT_WORKERS", "1"), ("WEFT_BLOCKING_WARN", "off")],
    );
    out.assert_success();
    assert_eq!(
        out.stdout_value("blocker_done_first"),
        "false",
        "the coroutines waited for the held worker:\n{}",
        out.dump()
    );
    assert_eq!(out.stdout_value("on_spare"), "100", "{}", out.dump());
    assert_eq!(out.stdout_value("workers_after"), "1", "{}", out.dump());
    assert_eq!(
        out.stdout_value("again_done_first"),
        "false",
        "{}",
        out.dump()
    );
    assert_eq!(out.stdout_value("again_on_spare"), "100", "{}", out.dump());
    assert_eq!(
        out.stdout_value("workers_after_again"),
        "1",
        "{}",
        out.dump()
    );
}

/// Child side: more blockers than workers, spawned from main; a watcher counts the worker
/// threads all along.
#[test]
fn child_many_blocked() {
    if !child_is("many-blocked") {
        return;
    }
    let most = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (most, stop) = (most.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                most.fetch_max(weft_workers(), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let blockers: Vec<_> = (0..6)
        .map(|_| weft::go!(|| std::thread::sleep(Duration::from_millis(300))))
        .collect();
    // Short coroutines keep coming while the workers are held.
    let shorts: Vec<_> = (0..200)
        .map(|i| {
            std::thread::sleep(Duration::from_micros(500));
            weft::go!(move || i)
        })
        .collect();
    let sum: usize = shorts.into_iter().map(|h| h.join().unwrap()).sum();
    blockers.into_iter().for_each(|h| h.join().unwrap());
    stop.store(true, Ordering::SeqCst);
    watcher.join().unwrap();
    child_report("sum", sum);
    child_report("most_workers", most.load(Ordering::SeqCst));
}

#[test]
fn never_more_spares_than_workers() {
    let out = run_child(
        "child_many_blocked",
        "many-blocked",
        &[("WEFT_WORKERS", "2"), ("WEFT_BLOCKING_WARN", "off")],
    );
    out.assert_success();
    assert_eq!(out.stdout_value("sum"), (0..200).sum::<usize>().to_string());
    let most: usize = out.stdout_value("most_workers").parse().unwrap();
    // At least one spare stood in (two workers held 300 ms in a system call), never more than
    // two.
    assert!(
        (3..=4).contains(&most),
        "{most} worker threads at once with 2 workers:\n{}",
        out.dump()
    );
}
