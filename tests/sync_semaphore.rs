//! `weft::sync::Semaphore`: never more holders than permits (1,000 coroutines; coroutines and
//! OS threads mixed), every permit back at the end, `try_acquire`, `add_permits` waking
//! waiters, `forget`, a waiter not starved by acquire loops, and the `MAX_PERMITS` limit. Waits
//! are bounded only so that a hang fails (support's watchdog); no test asserts how long
//! anything took.

mod support;

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use support::{Party, panic_text, start, watchdog};
use weft::go;
use weft::sync::Semaphore;

/// Enters the bounded section once: checks the bound on entry and records the high mark.
fn enter(sem: &Semaphore, permits: usize, inside: &AtomicUsize, high: &AtomicUsize, k: usize) {
    let permit = sem.acquire();
    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
    assert!(now <= permits, "{now} holders of {permits} permits");
    high.fetch_max(now, Ordering::SeqCst);
    match k % 8 {
        0 => weft::thread::sleep(Duration::from_micros(200)),
        1 | 2 => weft::thread::yield_now(),
        _ => {}
    }
    inside.fetch_sub(1, Ordering::SeqCst);
    drop(permit);
}

#[test]
fn a_thousand_coroutines_never_exceed_the_permits() {
    watchdog(|| {
        const PERMITS: usize = 4;
        let sem = Arc::new(Semaphore::new(PERMITS));
        let inside = Arc::new(AtomicUsize::new(0));
        let high = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..1_000)
            .map(|i| {
                let (sem, inside, high) = (sem.clone(), inside.clone(), high.clone());
                go!(move || {
                    for k in 0..3 {
                        enter(&sem, PERMITS, &inside, &high, i + k);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let high = high.load(Ordering::SeqCst);
        assert!(high > 0 && high <= PERMITS, "high mark {high}");
        assert_eq!(sem.available_permits(), PERMITS);
        assert_eq!(inside.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn coroutines_and_threads_share_the_permits() {
    watchdog(|| {
        for permits in [1, 3] {
            let sem = Arc::new(Semaphore::new(permits));
            let inside = Arc::new(AtomicUsize::new(0));
            let high = Arc::new(AtomicUsize::new(0));
            let entries = Arc::new(AtomicUsize::new(0));
            let parties: Vec<Party<()>> = (0..206)
                .map(|i| {
                    let (sem, inside, high) = (sem.clone(), inside.clone(), high.clone());
                    let entries = entries.clone();
                    let os = i % 35 == 0;
                    start(os, move || {
                        for k in 0..if os { 200 } else { 10 } {
                            enter(&sem, permits, &inside, &high, i + k);
                            entries.fetch_add(1, Ordering::SeqCst);
                        }
                    })
                })
                .collect();
            for p in parties {
                p.join();
            }
            assert_eq!(entries.load(Ordering::SeqCst), 6 * 200 + 200 * 10);
            let high = high.load(Ordering::SeqCst);
            assert!(high > 0 && high <= permits, "high mark {high}");
            assert_eq!(sem.available_permits(), permits);
        }
    });
}

#[test]
fn try_acquire_fails_when_exhausted() {
    watchdog(|| {
        let sem = Semaphore::new(2);
        let a = sem.try_acquire().expect("first");
        let b = sem.try_acquire().expect("second");
        assert_eq!(sem.available_permits(), 0);
        assert!(sem.try_acquire().is_none());
        drop(a);
        assert_eq!(sem.available_permits(), 1);
        let c = sem.try_acquire().expect("given back");
        assert!(sem.try_acquire().is_none());
        drop((b, c));
        assert_eq!(sem.available_permits(), 2);
        assert!(Semaphore::new(0).try_acquire().is_none());

        // Exhausted by a coroutine: an OS thread and a coroutine both see none.
        let sem = Arc::new(Semaphore::new(1));
        let (held_tx, held_rx) = weft::sync::mpsc::channel::<()>();
        let (release_tx, release_rx) = weft::sync::mpsc::channel::<()>();
        let s = sem.clone();
        let holder = go!(move || {
            let _p = s.acquire();
            held_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        });
        held_rx.recv().unwrap();
        for os in [false, true] {
            let s = sem.clone();
            assert!(start(os, move || s.try_acquire().is_none()).join());
        }
        release_tx.send(()).unwrap();
        holder.join().unwrap();
        assert!(sem.try_acquire().is_some());
    });
}

#[test]
fn a_failed_try_acquire_adds_no_permit() {
    watchdog(|| {
        let sem = Semaphore::new(0);
        assert!(sem.try_acquire().is_none());
        assert_eq!(
            sem.available_permits(),
            0,
            "a failed try_acquire added a permit"
        );
        for _ in 0..10 {
            assert!(sem.try_acquire().is_none());
        }
        assert_eq!(sem.available_permits(), 0);

        // With the only permit held and a waiter queued, a failed try_acquire must not let the
        // waiter in: that would make two holders of one permit.
        let sem = Arc::new(Semaphore::new(1));
        let inside = Arc::new(AtomicUsize::new(0));
        let held = sem.acquire();
        inside.fetch_add(1, Ordering::SeqCst);
        let waiting = Arc::new(AtomicBool::new(false));
        let (s, i, w) = (sem.clone(), inside.clone(), waiting.clone());
        let waiter = go!(move || {
            w.store(true, Ordering::SeqCst);
            let _p = s.acquire();
            let now = i.fetch_add(1, Ordering::SeqCst) + 1;
            i.fetch_sub(1, Ordering::SeqCst);
            now
        });
        while !waiting.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        std::thread::sleep(Duration::from_millis(10));
        for _ in 0..3 {
            assert!(sem.try_acquire().is_none());
        }
        std::thread::sleep(Duration::from_millis(10));
        inside.fetch_sub(1, Ordering::SeqCst);
        drop(held);
        assert_eq!(waiter.join().unwrap(), 1, "two holders of one permit");
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn add_permits_wakes_exactly_as_many_waiters() {
    watchdog(|| {
        // Waiters forget their permits, so each needs one of the added ones: the number
        // through may never exceed the number added.
        const WAITERS: usize = 60;
        let sem = Arc::new(Semaphore::new(0));
        let added = Arc::new(AtomicUsize::new(0));
        let through = Arc::new(AtomicUsize::new(0));
        let waiters: Vec<_> = (0..WAITERS)
            .map(|i| {
                let (sem, added, through) = (sem.clone(), added.clone(), through.clone());
                start(i % 15 == 0, move || {
                    sem.acquire().forget();
                    let n = through.fetch_add(1, Ordering::SeqCst) + 1;
                    assert!(n <= added.load(Ordering::SeqCst), "{n} through, not added");
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(through.load(Ordering::SeqCst), 0);
        let mut total = 0;
        for n in [1, 2, 7, 20, 30] {
            total += n;
            added.fetch_add(n, Ordering::SeqCst);
            sem.add_permits(n);
            // Exactly `total` get through, not more.
            while through.load(Ordering::SeqCst) < total {
                std::thread::yield_now();
            }
            assert_eq!(through.load(Ordering::SeqCst), total);
        }
        for w in waiters {
            w.join();
        }
        assert_eq!(total, WAITERS);
        assert_eq!(sem.available_permits(), 0);
        sem.add_permits(0);
        assert_eq!(sem.available_permits(), 0);
        sem.add_permits(5);
        assert_eq!(sem.available_permits(), 5);
    });
}

#[test]
fn forget_reduces_the_count() {
    watchdog(|| {
        let sem = Semaphore::new(3);
        sem.acquire().forget();
        assert_eq!(sem.available_permits(), 2);
        let p = sem.try_acquire().unwrap();
        p.forget();
        assert_eq!(sem.available_permits(), 1);
        let held = sem.acquire();
        assert!(sem.try_acquire().is_none());
        drop(held);
        assert_eq!(sem.available_permits(), 1);
        sem.add_permits(1);
        assert_eq!(sem.available_permits(), 2);

        // Forgotten in coroutines and threads.
        let sem = Arc::new(Semaphore::new(100));
        let parties: Vec<_> = (0..40)
            .map(|i| {
                let sem = sem.clone();
                start(i % 10 == 0, move || sem.acquire().forget())
            })
            .collect();
        for p in parties {
            p.join();
        }
        assert_eq!(sem.available_permits(), 60);
    });
}

/// Hogs take and give back the only permit in loops until the waiter got it a few times.
fn waiter_against_hogs(waiter_os: bool, hogs: &[bool]) {
    let sem = Arc::new(Semaphore::new(1));
    let stop = Arc::new(AtomicBool::new(false));
    let running = Arc::new(AtomicUsize::new(0));
    let hogs: Vec<_> = hogs
        .iter()
        .enumerate()
        .map(|(k, &os)| {
            let (sem, stop, running) = (sem.clone(), stop.clone(), running.clone());
            start(os, move || {
                let mut n = 0usize;
                running.fetch_add(1, Ordering::SeqCst);
                while !stop.load(Ordering::SeqCst) {
                    // Half the hogs poll with try_acquire, half block in acquire.
                    let permit = if k % 2 == 0 {
                        match sem.try_acquire() {
                            Some(p) => p,
                            None => {
                                if !os {
                                    weft::thread::yield_now();
                                }
                                continue;
                            }
                        }
                    } else {
                        sem.acquire()
                    };
                    n += 1;
                    if !os {
                        // Hold across a yield (a coroutine must not hog its worker).
                        weft::thread::yield_now();
                    }
                    drop(permit);
                }
                n
            })
        })
        .collect();
    let count = hogs.len();
    let (s, r) = (sem.clone(), running.clone());
    let waiter = start(waiter_os, move || {
        while r.load(Ordering::SeqCst) < count {
            weft::thread::yield_now();
        }
        for _ in 0..20 {
            drop(s.acquire());
            weft::thread::yield_now();
        }
    });
    waiter.join();
    stop.store(true, Ordering::SeqCst);
    for h in hogs {
        h.join();
    }
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn a_waiter_is_not_starved_by_acquire_loops() {
    watchdog(|| {
        waiter_against_hogs(false, &[false, false, true, true]);
        waiter_against_hogs(true, &[false, false, true, true]);
        waiter_against_hogs(false, &[true, true]);
        waiter_against_hogs(true, &[true, true]);
        waiter_against_hogs(false, &[false, false]);
        waiter_against_hogs(true, &[false, false]);
    });
}

#[test]
fn permits_beyond_max_panic_and_change_nothing() {
    watchdog(|| {
        let max = Semaphore::MAX_PERMITS;
        assert_eq!(max, usize::MAX >> 3);
        let sem = Semaphore::new(max - 2);
        let err = panic::catch_unwind(AssertUnwindSafe(|| sem.add_permits(3))).unwrap_err();
        assert!(panic_text(&*err).unwrap().contains("MAX_PERMITS"));
        assert_eq!(sem.available_permits(), max - 2);
        sem.add_permits(2);
        assert_eq!(sem.available_permits(), max);
        assert!(panic::catch_unwind(AssertUnwindSafe(|| sem.add_permits(1))).is_err());
        assert_eq!(sem.available_permits(), max);

        let sem = Semaphore::new(0);
        assert!(panic::catch_unwind(AssertUnwindSafe(|| sem.add_permits(max + 1))).is_err());
        assert!(panic::catch_unwind(AssertUnwindSafe(|| sem.add_permits(usize::MAX))).is_err());
        assert_eq!(sem.available_permits(), 0);
        sem.add_permits(max);
        assert_eq!(sem.available_permits(), max);

        // `new` checks too.
        assert!(panic::catch_unwind(|| Semaphore::new(max + 1)).is_err());

        // With waiters queued, an oversized add panics and wakes nobody; a valid one wakes.
        let sem = Arc::new(Semaphore::new(0));
        let through = Arc::new(AtomicUsize::new(0));
        let waiters: Vec<_> = (0..4)
            .map(|i| {
                let (sem, through) = (sem.clone(), through.clone());
                start(i == 0, move || {
                    sem.acquire().forget();
                    through.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(10));
        assert!(panic::catch_unwind(AssertUnwindSafe(|| sem.add_permits(max + 1))).is_err());
        assert_eq!(through.load(Ordering::SeqCst), 0);
        assert_eq!(sem.available_permits(), 0);
        sem.add_permits(4);
        for w in waiters {
            w.join();
        }
        assert_eq!(through.load(Ordering::SeqCst), 4);
        assert_eq!(sem.available_permits(), 0);

        // A permit given back to a full semaphore leaves it at the limit (documented).
        let sem = Semaphore::new(1);
        let p = sem.acquire();
        sem.add_permits(max);
        drop(p);
        assert_eq!(sem.available_permits(), max);
    });
}

static LIMIT: Semaphore = Semaphore::new(2);

#[test]
fn a_static_semaphore_and_debug() {
    watchdog(|| {
        let inside = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..100)
            .map(|_| {
                let inside = inside.clone();
                go!(move || {
                    let _p = LIMIT.acquire();
                    assert!(inside.fetch_add(1, Ordering::SeqCst) < 2);
                    weft::thread::yield_now();
                    inside.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(LIMIT.available_permits(), 2);
        let sem = Semaphore::new(3);
        assert_eq!(format!("{sem:?}"), "Semaphore { permits: 3 }");
        let p = sem.acquire();
        assert_eq!(format!("{sem:?}"), "Semaphore { permits: 2 }");
        assert_eq!(format!("{p:?}"), "SemaphorePermit { .. }");
    });
}
