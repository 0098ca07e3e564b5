//! `weft::sync::{Once, OnceLock, LazyLock}`: the initialiser runs exactly once among a
//! thousand coroutines (and OS threads) even though it parks, while other coroutines keep
//! running; waiters see its effects; std's poisoning of `Once` and `LazyLock`, and
//! `OnceLock`'s "stay empty and let the next caller try"; `wait`; the `OnceLock` API. Waits
//! are bounded only so that a hang fails (support's watchdog); no test asserts how long
//! anything took.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use support::{Party, panic_text, start, watchdog};
use weft::go;
use weft::sync::mpsc;
use weft::sync::{LazyLock, Mutex, Once, OnceLock};

/// Joins a party that must have panicked; returns its panic message.
fn join_err<T: std::fmt::Debug>(p: Party<T>) -> String {
    let err = match p {
        Party::Co(h) => h.join().unwrap_err(),
        Party::Os(h) => h.join().unwrap_err(),
    };
    panic_text(&*err).unwrap_or_default()
}

/// Waits, from the test's OS thread, until `flag` is set.
fn until_set(flag: &AtomicBool) {
    while !flag.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
}

#[test]
fn call_once_runs_once_while_it_parks_and_other_coroutines_run() {
    watchdog(|| {
        const CALLERS: usize = 1_000;
        const OTHERS: usize = 100;
        let once = Arc::new(Once::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(AtomicBool::new(false));
        let others_done = Arc::new(AtomicUsize::new(0));
        // Written inside the closure with Relaxed: the callers must see it through the Once.
        let value = Arc::new(AtomicUsize::new(0));
        let init = {
            let (runs, started) = (runs.clone(), started.clone());
            let (others_done, value) = (others_done.clone(), value.clone());
            move || {
                runs.fetch_add(1, Ordering::SeqCst);
                started.store(true, Ordering::SeqCst);
                // Parks until the unrelated coroutines, spawned only now, have all finished.
                while others_done.load(Ordering::SeqCst) < OTHERS {
                    weft::thread::sleep(Duration::from_millis(1));
                }
                value.store(42, Ordering::Relaxed);
            }
        };
        let callers: Vec<Party<usize>> = (0..CALLERS + 4)
            .map(|i| {
                let (once, value, init) = (once.clone(), value.clone(), init.clone());
                let others_done = others_done.clone();
                start(i >= CALLERS, move || {
                    once.call_once(init);
                    assert!(once.is_completed());
                    assert_eq!(others_done.load(Ordering::SeqCst), OTHERS);
                    value.load(Ordering::Relaxed)
                })
            })
            .collect();
        until_set(&started);
        assert!(!once.is_completed());
        let others: Vec<_> = (0..OTHERS)
            .map(|_| {
                let others_done = others_done.clone();
                go!(move || {
                    for _ in 0..3 {
                        weft::thread::yield_now();
                    }
                    others_done.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        for h in others {
            h.join().unwrap();
        }
        for c in callers {
            assert_eq!(c.join(), 42);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // Complete: later calls run nothing, forced or not.
        once.call_once(|| panic!("ran twice"));
        once.call_once_force(|_| panic!("ran twice"));
        once.wait();
        once.wait_force();
    });
}

#[test]
fn a_panicking_call_once_poisons_the_once() {
    watchdog(|| {
        for os in [false, true] {
            let once = Arc::new(Once::new());
            let o = once.clone();
            let msg = join_err(start(os, move || o.call_once(|| panic!("init fails"))));
            assert_eq!(msg, "init fails");
            assert!(!once.is_completed());

            // call_once on a poisoned Once panics, without running its closure.
            for caller_os in [false, true] {
                let o = once.clone();
                let msg = join_err(start(caller_os, move || {
                    o.call_once(|| panic!("must not run"));
                }));
                assert!(msg.contains("poisoned"), "{msg:?}");
            }
            // wait() panics too; the Once is still not complete.
            let o = once.clone();
            assert!(join_err(start(os, move || o.wait())).contains("poisoned"));
            assert!(!once.is_completed());

            // A forced call sees the poison, and completes the Once.
            let o = once.clone();
            let saw = start(os, move || {
                let mut saw = None;
                o.call_once_force(|state| saw = Some(state.is_poisoned()));
                saw
            })
            .join();
            assert_eq!(saw, Some(true));
            assert!(once.is_completed());
            once.call_once(|| panic!("ran after completion"));
            once.wait();

            // A forced call that panics poisons again; the next forced one is told so.
            let o = Once::new();
            let mut fresh = None;
            o.call_once_force(|s| fresh = Some(s.is_poisoned()));
            assert_eq!(fresh, Some(false));
            let o = Arc::new(Once::new());
            let o2 = o.clone();
            join_err(start(os, move || {
                o2.call_once_force(|_| panic!("forced fails"))
            }));
            let mut again = None;
            o.call_once_force(|s| again = Some(s.is_poisoned()));
            assert_eq!(again, Some(true));
        }
    });
}

#[test]
fn waiters_return_once_the_closure_completes() {
    watchdog(|| {
        let once = Arc::new(Once::new());
        let value = Arc::new(AtomicUsize::new(0));
        let waiters: Vec<_> = (0..52)
            .map(|i| {
                let (once, value) = (once.clone(), value.clone());
                start(i % 13 == 0, move || {
                    if i % 2 == 0 {
                        once.wait();
                    } else {
                        once.wait_force();
                    }
                    assert!(once.is_completed());
                    value.load(Ordering::Relaxed)
                })
            })
            .collect();
        let (o, v) = (once.clone(), value.clone());
        go!(move || {
            o.call_once(|| {
                weft::thread::sleep(Duration::from_millis(10));
                v.store(7, Ordering::Relaxed);
            });
        })
        .join()
        .unwrap();
        for w in waiters {
            assert_eq!(w.join(), 7);
        }
    });
}

/// Runs a closure in `once` that panics once released, with `waiters` started while it runs;
/// returns their results after the panic.
fn panic_while_waited<T: Send + 'static>(
    once: &Arc<Once>,
    waiters: usize,
    waiter: impl Fn(usize, &Once) -> T + Clone + Send + 'static,
) -> Vec<Party<T>> {
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let o = once.clone();
    let runner = go!(move || {
        o.call_once(|| {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            panic!("runner fails");
        });
    });
    started_rx.recv().unwrap();
    let parties: Vec<_> = (0..waiters)
        .map(|i| {
            let (o, waiter) = (once.clone(), waiter.clone());
            start(i % 3 == 0, move || waiter(i, &o))
        })
        .collect();
    // Let them reach their waits (if some are late, they still see the poison, and the test
    // is only weaker).
    std::thread::sleep(Duration::from_millis(20));
    assert!(!once.is_completed());
    release_tx.send(()).unwrap();
    assert!(runner.join().is_err());
    parties
}

#[test]
fn waiters_blocked_while_the_closure_panics() {
    watchdog(|| {
        // `wait` and `call_once` callers see the poison; `wait_force` callers keep waiting
        // until a forced call completes the Once.
        let once = Arc::new(Once::new());
        let forced_waiters_done = Arc::new(AtomicUsize::new(0));
        let done = forced_waiters_done.clone();
        let parties = panic_while_waited(&once, 12, move |i, o| match i % 3 {
            0 => {
                o.wait_force();
                assert!(o.is_completed());
                done.fetch_add(1, Ordering::SeqCst);
            }
            1 => o.wait(),
            _ => o.call_once(|| panic!("must not run")),
        });
        let mut forced = Vec::new();
        for (i, p) in parties.into_iter().enumerate() {
            if i % 3 == 0 {
                forced.push(p);
            } else {
                assert!(join_err(p).contains("poisoned"));
            }
        }
        assert_eq!(forced_waiters_done.load(Ordering::SeqCst), 0);
        assert!(!once.is_completed());
        let mut poisoned = None;
        once.call_once_force(|s| poisoned = Some(s.is_poisoned()));
        assert_eq!(poisoned, Some(true));
        for p in forced {
            p.join();
        }
        assert_eq!(forced_waiters_done.load(Ordering::SeqCst), 4);

        // `call_once_force` callers blocked during the panic: exactly one of them runs its
        // closure, told of the poison; the others return once it completed.
        let once = Arc::new(Once::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        let parties = panic_while_waited(&once, 12, move |_, o| {
            o.call_once_force(|s| {
                assert!(s.is_poisoned());
                r.fetch_add(1, Ordering::SeqCst);
                weft::thread::yield_now();
            });
            assert!(o.is_completed());
        });
        for p in parties {
            p.join();
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(format!("{:?}", *once), "Once { .. }");
    });
}

#[test]
fn once_lock_parking_initialiser_runs_once_among_a_thousand_coroutines() {
    watchdog(|| {
        let cell = Arc::new(OnceLock::<String>::new());
        let runs = Arc::new(AtomicUsize::new(0));
        // The initialiser sleeps, then takes a weft Mutex held meanwhile by another coroutine:
        // it parks twice while 1,000 coroutines and 4 threads wait for it.
        let config = Arc::new(Mutex::new(String::new()));
        let (held_tx, held_rx) = mpsc::channel::<()>();
        let c = config.clone();
        let holder = go!(move || {
            let mut g = c.lock().unwrap();
            held_tx.send(()).unwrap();
            weft::thread::sleep(Duration::from_millis(30));
            g.push_str("configured");
        });
        held_rx.recv().unwrap();
        let parties: Vec<Party<usize>> = (0..1_004)
            .map(|i| {
                let (cell, runs, config) = (cell.clone(), runs.clone(), config.clone());
                start(i >= 1_000, move || {
                    let v = cell.get_or_init(|| {
                        runs.fetch_add(1, Ordering::SeqCst);
                        weft::thread::sleep(Duration::from_millis(5));
                        let g = config.lock().unwrap();
                        format!("{}!", *g)
                    });
                    assert_eq!(v, "configured!");
                    // Everyone gets the same value, not a copy.
                    v as *const String as usize
                })
            })
            .collect();
        let addrs: Vec<usize> = parties.into_iter().map(Party::join).collect();
        holder.join().unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let first = cell.get().unwrap() as *const String as usize;
        assert!(addrs.iter().all(|&a| a == first));
    });
}

#[test]
fn once_lock_api() {
    watchdog(|| {
        let mut cell = OnceLock::new();
        assert_eq!(cell.get(), None);
        assert_eq!(cell.get_mut(), None);
        assert_eq!(format!("{cell:?}"), "OnceLock(<uninit>)");
        assert_eq!(cell, OnceLock::default());
        assert_eq!(cell.clone(), OnceLock::new());
        assert_eq!(cell.set(1), Ok(()));
        assert_eq!(cell.set(2), Err(2));
        assert_eq!(cell.get(), Some(&1));
        assert_eq!(*cell.get_or_init(|| panic!("already set")), 1);
        *cell.get_mut().unwrap() += 10;
        assert_eq!(format!("{cell:?}"), "OnceLock(11)");
        assert_eq!(cell.wait(), &11);
        let copy = cell.clone();
        assert_eq!(copy, cell);
        assert_ne!(copy, OnceLock::new());
        assert_eq!(OnceLock::from(11), cell);
        assert_ne!(OnceLock::from(12), cell);
        assert_eq!(cell.take(), Some(11));
        assert_eq!(cell.get(), None);
        assert_eq!(cell.take(), None);
        // Empty again: settable again.
        assert_eq!(cell.set(3), Ok(()));
        assert_eq!(cell.into_inner(), Some(3));
        assert_eq!(OnceLock::<u8>::new().into_inner(), None);

        // Values are dropped exactly once: when taken out and dropped, or with the cell.
        let drops = Arc::new(AtomicUsize::new(0));
        struct Counted(Arc<AtomicUsize>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let mut cell = OnceLock::new();
        assert!(cell.set(Counted(drops.clone())).is_ok());
        let back = cell.set(Counted(drops.clone())).err().unwrap();
        drop(back);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        drop(cell.take());
        assert_eq!(drops.load(Ordering::SeqCst), 2);
        assert!(cell.set(Counted(drops.clone())).is_ok());
        drop(cell);
        assert_eq!(drops.load(Ordering::SeqCst), 3);
        drop(OnceLock::from(Counted(drops.clone())));
        assert_eq!(drops.load(Ordering::SeqCst), 4);

        // Concurrent `set`: exactly one wins; everyone then sees the winner's value.
        static CELL: OnceLock<usize> = OnceLock::new();
        let parties: Vec<_> = (0..104)
            .map(|i| {
                start(i % 26 == 0, move || {
                    let won = CELL.set(i).is_ok();
                    (won, i, *CELL.get().unwrap())
                })
            })
            .collect();
        let results: Vec<_> = parties.into_iter().map(Party::join).collect();
        let winners: Vec<_> = results.iter().filter(|r| r.0).map(|r| r.1).collect();
        assert_eq!(winners.len(), 1);
        assert!(results.iter().all(|r| r.2 == winners[0]));
    });
}

#[test]
fn a_panicking_initialiser_leaves_the_cell_empty_for_the_next() {
    watchdog(|| {
        for os in [false, true] {
            let cell = Arc::new(OnceLock::<u32>::new());
            let c = cell.clone();
            let msg = join_err(start(os, move || {
                c.get_or_init(|| panic!("init fails"));
            }));
            assert_eq!(msg, "init fails");
            assert_eq!(cell.get(), None);
            assert_eq!(*cell.get_or_init(|| 5), 5);
            assert_eq!(cell.get(), Some(&5));
        }

        // Callers waiting while the first initialiser panics: exactly one of them then runs
        // its own initialiser, and all get its value.
        let cell = Arc::new(OnceLock::<u32>::new());
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let c = cell.clone();
        let first = go!(move || {
            c.get_or_init(|| {
                started_tx.send(()).unwrap();
                weft::thread::sleep(Duration::from_millis(20));
                panic!("first init fails");
            });
        });
        started_rx.recv().unwrap();
        let runs = Arc::new(AtomicUsize::new(0));
        let parties: Vec<_> = (0..54)
            .map(|i| {
                let (cell, runs) = (cell.clone(), runs.clone());
                start(i % 27 == 0, move || {
                    *cell.get_or_init(|| {
                        runs.fetch_add(1, Ordering::SeqCst);
                        weft::thread::yield_now();
                        9
                    })
                })
            })
            .collect();
        assert!(first.join().is_err());
        for p in parties {
            assert_eq!(p.join(), 9);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn once_lock_wait_returns_when_another_party_sets_it() {
    watchdog(|| {
        for setter_os in [false, true] {
            let cell = Arc::new(OnceLock::<String>::new());
            let waiting = Arc::new(AtomicUsize::new(0));
            let waiters: Vec<_> = (0..60)
                .map(|i| {
                    let (cell, waiting) = (cell.clone(), waiting.clone());
                    start(i % 20 == 0, move || {
                        waiting.fetch_add(1, Ordering::SeqCst);
                        cell.wait().clone()
                    })
                })
                .collect();
            while waiting.load(Ordering::SeqCst) < 60 {
                std::thread::yield_now();
            }
            assert_eq!(cell.get(), None);
            let c = cell.clone();
            start(setter_os, move || {
                weft::thread::sleep(Duration::from_millis(5));
                c.set("set".to_owned()).unwrap();
            })
            .join();
            for w in waiters {
                assert_eq!(w.join(), "set");
            }
        }
    });
}

static LAZY_RUNS: AtomicUsize = AtomicUsize::new(0);
static LAZY: LazyLock<Vec<u64>> = LazyLock::new(|| {
    LAZY_RUNS.fetch_add(1, Ordering::SeqCst);
    // Parks while the other accessors wait.
    weft::thread::sleep(Duration::from_millis(20));
    static INNER: Mutex<u64> = Mutex::new(3);
    let n = *INNER.lock().unwrap();
    (0..n).collect()
});

#[test]
fn a_static_lazy_lock_initialises_once_from_coroutines_and_threads() {
    watchdog(|| {
        assert_eq!(format!("{:?}", LAZY), "LazyLock(<uninit>)");
        let parties: Vec<_> = (0..504)
            .map(|i| {
                start(i % 126 == 0, move || {
                    if i % 2 == 0 {
                        LAZY.iter().sum::<u64>()
                    } else {
                        LazyLock::force(&LAZY).len() as u64 * 10
                    }
                })
            })
            .collect();
        for (i, p) in parties.into_iter().enumerate() {
            assert_eq!(p.join(), if i % 2 == 0 { 3 } else { 30 });
        }
        assert_eq!(LAZY_RUNS.load(Ordering::SeqCst), 1);
        assert_eq!(*LAZY, [0, 1, 2]);
        assert_eq!(format!("{:?}", LAZY), "LazyLock([0, 1, 2])");

        // A capturing closure, and Default.
        let base = String::from("base");
        let lazy = Arc::new(LazyLock::new(move || base + "+lazy"));
        let l = lazy.clone();
        assert_eq!(go!(move || l.len()).join().unwrap(), 9);
        assert_eq!(lazy.as_str(), "base+lazy");
        let d: LazyLock<Vec<u8>> = LazyLock::default();
        assert!(d.is_empty());
    });
}

static BAD: LazyLock<u32> = LazyLock::new(|| panic!("lazy init fails"));

#[test]
fn a_panicking_lazy_lock_init_makes_later_accesses_panic() {
    watchdog(|| {
        let msg = join_err(start(false, || *BAD));
        assert_eq!(msg, "lazy init fails");
        for i in 0..6 {
            let msg = join_err(start(i % 2 == 1, || *BAD));
            assert!(msg.contains("poisoned"), "{msg:?}");
        }
        assert_eq!(format!("{:?}", BAD), "LazyLock(<uninit>)");
    });
}

#[test]
fn reentrant_initialisation_panics_instead_of_waiting_for_ever() {
    watchdog(|| {
        // A Once whose closure calls the same Once, in a coroutine and on a thread.
        for os_thread in [false, true] {
            let once = Arc::new(Once::new());
            let o = Arc::clone(&once);
            let party = start(os_thread, move || {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    o.call_once(|| o.call_once(|| {}))
                }))
            });
            let err = party.join().expect_err("the inner call panics");
            let text = panic_text(&*err).unwrap_or_default();
            assert!(text.contains("reentrant initialisation"), "{text}");
            // The panic poisoned it, like any panicking closure.
            assert!(!once.is_completed());
        }
        // A OnceLock whose initialiser reads the same cell.
        static CELL: OnceLock<u32> = OnceLock::new();
        let h = weft::go!(|| *CELL.get_or_init(|| *CELL.get_or_init(|| 1) + 1));
        let text = panic_text(&*h.join().expect_err("the inner call panics")).unwrap_or_default();
        assert!(text.contains("reentrant initialisation"), "{text}");
        // The cell is still usable.
        assert_eq!(*CELL.get_or_init(|| 5), 5);
    });
}

#[test]
fn lazy_lock_get_force_mut_and_deref_mut() {
    watchdog(|| {
        let mut lazy = LazyLock::new(|| 40);
        assert_eq!(LazyLock::get(&lazy), None);
        assert_eq!(LazyLock::get_mut(&mut lazy), None);
        *LazyLock::force_mut(&mut lazy) += 1;
        *lazy += 1;
        assert_eq!(LazyLock::get(&lazy), Some(&42));
        assert_eq!(*lazy, 42);
    });
}

#[test]
fn once_lock_may_hold_borrows_that_die_with_it_and_types_are_unwind_safe() {
    // Compiles only if `OnceLock`'s drop check lets `T` borrow data declared after the cell
    // (std's `#[may_dangle]`).
    let cell = OnceLock::new();
    let s = String::from("borrowed");
    cell.set(&s).unwrap();
    assert_eq!(*cell.get().unwrap(), "borrowed");
    fn unwind_safe<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
    unwind_safe::<weft::sync::Condvar>();
    unwind_safe::<weft::sync::Barrier>();
    unwind_safe::<weft::sync::Semaphore>();
    unwind_safe::<weft::sync::Mutex<u32>>();
    unwind_safe::<Once>();
}
