//! Fairness with a single worker (child processes with `WEFT_WORKERS=1`): a coroutine that
//! spins on `yield_now` (or keeps waking a partner) must not keep other runnable work, wherever
//! it is queued, from running.

mod support;

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use support::{child_is, child_report, run_child, run_child_with_timeout, watchdog};
use weft::go;
use weft::thread::{self, Thread};

/// Spins with `yield_now` until `flag` is set; returns how many yields that took.
fn spin_until(flag: &AtomicBool) -> u64 {
    let mut yields = 0;
    while !flag.load(Ordering::Acquire) {
        thread::yield_now();
        yields += 1;
    }
    yields
}

fn only_worker() -> String {
    std::thread::current().name().unwrap().to_owned()
}

#[test]
fn child_yield_fairness() {
    if !child_is("yield-fairness") {
        return;
    }
    // 1. The setter is spawned by the spinner itself (its worker's local queue).
    let worker = go!(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        go!(move || f.store(true, Ordering::Release));
        spin_until(&flag);
        only_worker()
    })
    .join()
    .unwrap();
    assert_eq!(worker, "weft-worker-0");
    child_report("local", "ok");

    // 2. The setter is spawned from the OS thread (the global queue) while spinners run.
    let flag = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicUsize::new(0));
    let spinners: Vec<_> = (0..4)
        .map(|_| {
            let (f, s) = (flag.clone(), started.clone());
            go!(move || {
                s.fetch_add(1, Ordering::Release);
                spin_until(&f)
            })
        })
        .collect();
    while started.load(Ordering::Acquire) < 4 {
        std::thread::yield_now();
    }
    let f = flag.clone();
    go!(move || f.store(true, Ordering::Release));
    for s in spinners {
        s.join().unwrap();
    }
    child_report("global", "ok");

    // 2b. The same with a lone spinner: its yields take the no-switch fast path, which must
    // still look at the global queue on fairness ticks.
    let flag = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let (f, s) = (flag.clone(), started.clone());
    let spinner = go!(move || {
        s.store(true, Ordering::Release);
        spin_until(&f)
    });
    while !started.load(Ordering::Acquire) {
        std::thread::yield_now();
    }
    let f = flag.clone();
    go!(move || f.store(true, Ordering::Release));
    spinner.join().unwrap();
    child_report("global-lone", "ok");

    // 3. The setter sleeps first (the worker's timers).
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let spinner = go!(move || {
        let f2 = f.clone();
        go!(move || {
            thread::sleep(Duration::from_millis(5));
            f2.store(true, Ordering::Release);
        });
        spin_until(&f)
    });
    spinner.join().unwrap();
    child_report("timer", "ok");

    // 4. The setter is parked and woken by the OS thread (the worker's inbox).
    let flag = Arc::new(AtomicBool::new(false));
    let go_ahead = Arc::new(AtomicBool::new(false));
    let (f, g) = (flag.clone(), go_ahead.clone());
    let setter = go!(move || {
        while !g.load(Ordering::Acquire) {
            thread::park();
        }
        f.store(true, Ordering::Release);
    });
    let f = flag.clone();
    let spinner = go!(move || spin_until(&f));
    go_ahead.store(true, Ordering::Release);
    setter.thread().unpark();
    spinner.join().unwrap();
    setter.join().unwrap();
    child_report("inbox", "ok");

    // 5. The setter is woken by a coroutine of the same worker (runnext).
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    go!(move || {
        let go_ahead = Arc::new(AtomicBool::new(false));
        let (f2, g) = (f.clone(), go_ahead.clone());
        let setter = go!(move || {
            while !g.load(Ordering::Acquire) {
                thread::park();
            }
            f2.store(true, Ordering::Release);
        });
        thread::yield_now();
        go_ahead.store(true, Ordering::Release);
        setter.thread().unpark();
        spin_until(&f);
    })
    .join()
    .unwrap();
    child_report("runnext", "ok");
}

#[test]
fn yield_now_spinners_do_not_starve_anything_with_one_worker() {
    watchdog(|| {
        let out = run_child(
            "child_yield_fairness",
            "yield-fairness",
            &[("WEFT_WORKERS", "1")],
        );
        out.assert_success();
        for step in [
            "local",
            "global",
            "global-lone",
            "timer",
            "inbox",
            "runnext",
        ] {
            assert_eq!(out.stdout_value(step), "ok", "{step}");
        }
    });
}

#[test]
fn child_ping_pong_then_fresh_spawn() {
    if !child_is("ping-pong-fresh") {
        return;
    }
    // Two coroutines hand a turn back and forth with park/unpark until `stop` is set. After
    // 100 rounds one of them spawns the coroutine that sets `stop`. With one worker, that new
    // coroutine must get to run at some point.
    let stop = Arc::new(AtomicBool::new(false));
    let turn = Arc::new(AtomicUsize::new(0));
    let a_slot: Arc<OnceLock<Thread>> = Arc::new(OnceLock::new());
    let (st, t, a) = (stop.clone(), turn.clone(), a_slot.clone());
    let b = go!(move || {
        let mut round = 0;
        loop {
            while t.load(Ordering::Acquire) != 2 * round + 1 {
                thread::park();
            }
            t.store(2 * round + 2, Ordering::Release);
            a.get().unwrap().unpark();
            if st.load(Ordering::Acquire) {
                return round;
            }
            round += 1;
        }
    });
    let b_thread = b.thread().clone();
    let (st, t, a) = (stop.clone(), turn.clone(), a_slot.clone());
    let a = go!(move || {
        a.set(thread::current()).unwrap();
        let mut round = 0;
        loop {
            while t.load(Ordering::Acquire) != 2 * round {
                thread::park();
            }
            if round == 100 {
                let s = st.clone();
                go!(move || s.store(true, Ordering::Release));
            }
            if st.load(Ordering::Acquire) {
                // Let B see the flag too: one last move.
                t.store(2 * round + 1, Ordering::Release);
                b_thread.unpark();
                return round;
            }
            t.store(2 * round + 1, Ordering::Release);
            b_thread.unpark();
            round += 1;
        }
    });
    let rounds = a.join().unwrap();
    b.join().unwrap();
    child_report("rounds", rounds);
}

/// Regression test: `Core::next_task` used to serve the worker's own `fresh` deque only when
/// `runnext`, `ready` and the inbox were all empty, so with one worker this child hung forever
/// (fixed by letting `ready` and `fresh` take turns, S3).
#[test]
fn a_ping_pong_pair_does_not_starve_a_freshly_spawned_coroutine() {
    watchdog(|| {
        let out = run_child_with_timeout(
            "child_ping_pong_then_fresh_spawn",
            "ping-pong-fresh",
            &[("WEFT_WORKERS", "1")],
            20,
        );
        out.assert_success();
        let rounds: usize = out.stdout_value("rounds").parse().unwrap();
        assert!(rounds >= 100);
    });
}

/// Found by review: with one worker, a ping-pong pair (local work never runs out) and an OS
/// thread flooding the injector, a coroutine that yielded once never ran again (S3).
#[test]
fn child_yield_under_injector_flood() {
    if !child_is("yield-flood") {
        return;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel::<Thread>();
    let s1 = stop.clone();
    let a = go!(move || {
        let b = rx.recv().unwrap();
        while !s1.load(Ordering::Relaxed) {
            b.unpark();
            thread::park();
        }
        b.unpark();
    });
    let a_thread = a.thread().clone();
    let s2 = stop.clone();
    let b = go!(move || {
        while !s2.load(Ordering::Relaxed) {
            thread::park();
            a_thread.unpark();
        }
        a_thread.unpark();
    });
    tx.send(b.thread().clone()).unwrap();
    let s3 = stop.clone();
    let flooder = std::thread::spawn(move || {
        while !s3.load(Ordering::Relaxed) {
            drop(go!(|| ()));
        }
    });
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let y = go!(move || {
        thread::yield_now();
        d.store(true, Ordering::SeqCst);
    });
    // No deadline here: the parent's timeout is the failure signal.
    while !done.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    stop.store(true, Ordering::SeqCst);
    flooder.join().unwrap();
    y.join().unwrap();
    child_report("yield-flood", "ok");
    std::process::exit(0);
}

#[test]
fn a_yielded_coroutine_runs_again_while_the_injector_never_empties() {
    watchdog(|| {
        let out = run_child_with_timeout(
            "child_yield_under_injector_flood",
            "yield-flood",
            &[("WEFT_WORKERS", "1")],
            30,
        );
        out.assert_success();
        assert_eq!(out.stdout_value("yield-flood"), "ok");
    });
}
