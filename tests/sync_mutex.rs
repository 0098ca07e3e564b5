//! `weft::sync::Mutex`: exclusion with exact counts (a thousand coroutines, and coroutines
//! mixed with OS threads), a lock held across a park while other coroutines keep running,
//! `try_lock`, std's poisoning, a `static` mutex, eventual fairness against a hog, `Debug`,
//! unsized data, and a relock by the holder, which panics naming it (M6) while a coroutine
//! that waits for another one of its worker does not. Waits are bounded only so that a hang
//! fails (support's watchdog); no test asserts how long anything took.

mod support;

use std::collections::HashSet;
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use support::{Party, child_is, child_report, panic_text, run_child, start, watchdog};
use weft::go;
use weft::sync::mpsc;
use weft::sync::{Condvar, Mutex, TryLockError};

/// Adds one to the counter `per` times, checking on every entry that nobody else is inside.
fn increment(m: &Mutex<u64>, inside: &AtomicBool, per: usize) {
    for _ in 0..per {
        let mut g = m.lock().unwrap();
        assert!(!inside.swap(true, Ordering::Relaxed), "two holders at once");
        // A read and a write apart: an overlapping holder would lose an update.
        let v = *g;
        *g = v + 1;
        inside.store(false, Ordering::Relaxed);
    }
}

#[test]
fn a_thousand_coroutines_a_thousand_increments_each() {
    watchdog(|| {
        let m = Arc::new(Mutex::new(0u64));
        let inside = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = (0..1_000)
            .map(|_| {
                let (m, inside) = (m.clone(), inside.clone());
                go!(move || increment(&m, &inside, 1_000))
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(*m.lock().unwrap(), 1_000_000);
        assert!(!m.is_poisoned());
    });
}

#[test]
fn coroutines_and_os_threads_contend_with_exact_counts() {
    watchdog(|| {
        let m = Arc::new(Mutex::new(0u64));
        let inside = Arc::new(AtomicBool::new(false));
        // 200 coroutines and 6 OS threads; the threads do more each, so they overlap the
        // coroutines for the whole run.
        let parties: Vec<Party<()>> = (0..206)
            .map(|i| {
                let (m, inside) = (m.clone(), inside.clone());
                let os = i % 35 == 0;
                let per = if os { 10_000 } else { 1_000 };
                start(os, move || increment(&m, &inside, per))
            })
            .collect();
        let threads = parties.iter().filter(|p| matches!(p, Party::Os(_))).count() as u64;
        for p in parties {
            p.join();
        }
        assert_eq!(threads, 6);
        assert_eq!(
            *m.lock().unwrap(),
            threads * 10_000 + (206 - threads) * 1_000
        );
    });
}

#[test]
fn a_lock_held_across_a_sleep_lets_other_coroutines_run() {
    watchdog(|| {
        // More holders than the two workers, each holding its own mutex while it sleeps (parks)
        // until unrelated coroutines have made a given amount of progress; each mutex also has
        // parked contenders. If a held lock, a sleeping holder or a parked contender blocked a
        // worker, the progress could not happen and the holders would never let go.
        const HOLDERS: usize = 4;
        const CONTENDERS: usize = 3;
        const TARGET: usize = 2_000;
        let progress = Arc::new(AtomicUsize::new(0));
        let (held_tx, held_rx) = mpsc::channel::<usize>();
        let mutexes: Vec<_> = (0..HOLDERS).map(|_| Arc::new(Mutex::new(0u32))).collect();
        let holders: Vec<_> = mutexes
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let (m, progress, held_tx) = (m.clone(), progress.clone(), held_tx.clone());
                go!(move || {
                    let mut g = m.lock().unwrap();
                    held_tx.send(i).unwrap();
                    while progress.load(Ordering::SeqCst) < TARGET {
                        weft::thread::sleep(Duration::from_millis(1));
                    }
                    // Still holding: the progress happened while the lock was held.
                    let seen = progress.load(Ordering::SeqCst);
                    *g = 1000; // the holder's mark, seen by every contender
                    drop(g);
                    seen
                })
            })
            .collect();
        let mut held: Vec<usize> = (0..HOLDERS).map(|_| held_rx.recv().unwrap()).collect();
        held.sort_unstable();
        assert_eq!(held, (0..HOLDERS).collect::<Vec<_>>());
        // Every mutex is held now: the contenders park in `lock`.
        let contenders: Vec<_> = mutexes
            .iter()
            .flat_map(|m| (0..CONTENDERS).map(move |_| m.clone()))
            .map(|m| {
                go!(move || {
                    let mut g = m.lock().unwrap();
                    assert!(
                        *g >= 1000,
                        "a contender got the lock before its holder let go"
                    );
                    *g += 1;
                })
            })
            .collect();
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let progress = progress.clone();
                go!(move || {
                    let mut mine = 0;
                    while progress.fetch_add(1, Ordering::SeqCst) < TARGET {
                        mine += 1;
                        weft::thread::yield_now();
                    }
                    mine
                })
            })
            .collect();
        let total: usize = workers.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(total, TARGET);
        for h in holders {
            assert!(h.join().unwrap() >= TARGET);
        }
        for h in contenders {
            h.join().unwrap();
        }
        for m in &mutexes {
            assert_eq!(*m.lock().unwrap(), 1000 + CONTENDERS as u32);
        }
    });
}

#[test]
fn try_lock_would_block_while_held_and_succeeds_after() {
    watchdog(|| {
        // Same party: held by us.
        let m = Mutex::new(7);
        let g = m.lock().unwrap();
        assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
        drop(g);
        assert_eq!(*m.try_lock().unwrap(), 7);

        // Holder and tryer in every combination of coroutine and OS thread.
        for (holder_os, tryer_os) in [(false, false), (false, true), (true, false), (true, true)] {
            let m = Arc::new(Mutex::new(0u32));
            let (held_tx, held_rx) = mpsc::channel::<()>();
            let (release_tx, release_rx) = mpsc::channel::<()>();
            let m2 = m.clone();
            let holder = start(holder_os, move || {
                let mut g = m2.lock().unwrap();
                *g = 1;
                held_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                *g = 2;
            });
            held_rx.recv().unwrap();
            let m3 = m.clone();
            start(tryer_os, move || {
                for _ in 0..100 {
                    assert!(matches!(m3.try_lock(), Err(TryLockError::WouldBlock)));
                }
            })
            .join();
            release_tx.send(()).unwrap();
            holder.join();
            let m4 = m.clone();
            let got = start(tryer_os, move || {
                *m4.try_lock().expect("free after release")
            })
            .join();
            assert_eq!(got, 2, "holder {holder_os}, tryer {tryer_os}");
        }
    });
}

#[test]
fn a_panicking_holder_poisons_the_mutex() {
    watchdog(|| {
        let m = Arc::new(Mutex::new(vec![1u32]));
        let m2 = m.clone();
        let err = go!(move || {
            let mut g = m2.lock().unwrap();
            g.push(2);
            panic!("holder fails");
        })
        .join()
        .unwrap_err();
        assert_eq!(panic_text(&*err).as_deref(), Some("holder fails"));
        assert!(m.is_poisoned());

        // lock() gives the guard anyway, inside the error, with the data as the panic left it.
        let err = m.lock().unwrap_err();
        let mut g = err.into_inner();
        assert_eq!(*g, [1, 2]);
        g.push(3);
        drop(g);
        assert!(matches!(m.try_lock(), Err(TryLockError::Poisoned(_))));
        // From a coroutine and from an OS thread too.
        for os in [false, true] {
            let m2 = m.clone();
            let len = start(os, move || {
                let err = m2.lock().expect_err("poisoned");
                err.into_inner().len()
            })
            .join();
            assert_eq!(len, 3);
        }
        assert_eq!(
            format!("{m:?}"),
            "Mutex { data: [1, 2, 3], poisoned: true, .. }"
        );

        m.clear_poison();
        assert!(!m.is_poisoned());
        m.lock().unwrap().push(4);

        // Poisoned again, this time by an OS thread; into_inner and get_mut say so.
        let m2 = m.clone();
        let joined = std::thread::spawn(move || {
            let _g = m2.lock().unwrap();
            panic!("thread holder fails");
        })
        .join();
        assert!(joined.is_err());
        assert!(m.is_poisoned());
        let mut m = Arc::try_unwrap(m).expect("the only owner");
        assert_eq!(*m.get_mut().unwrap_err().into_inner(), [1, 2, 3, 4]);
        assert_eq!(m.into_inner().unwrap_err().into_inner(), [1, 2, 3, 4]);
    });
}

#[test]
fn a_panic_without_the_lock_or_started_before_it_does_not_poison() {
    watchdog(|| {
        let m = Arc::new(Mutex::new(0));
        // Panics after releasing the lock.
        let m2 = m.clone();
        assert!(
            go!(move || {
                *m2.lock().unwrap() += 1;
                panic!("after the unlock");
            })
            .join()
            .is_err()
        );
        assert!(!m.is_poisoned());

        // Takes and releases the lock while already unwinding (in a destructor): std does not
        // poison then either.
        struct LockOnDrop(Arc<Mutex<i32>>);
        impl Drop for LockOnDrop {
            fn drop(&mut self) {
                *self.0.lock().unwrap() += 10;
            }
        }
        for os in [false, true] {
            let m2 = m.clone();
            let party = start(os, move || {
                let _d = LockOnDrop(m2);
                panic!("unwinding through a lock");
            });
            let failed = match party {
                Party::Co(h) => h.join().is_err(),
                Party::Os(h) => h.join().is_err(),
            };
            assert!(failed);
        }
        assert!(!m.is_poisoned());
        assert_eq!(*m.lock().unwrap(), 21);
    });
}

static NUMBERS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[test]
fn a_static_mutex_works_from_coroutines_and_threads() {
    watchdog(|| {
        let parties: Vec<_> = (0..104u32)
            .map(|i| {
                start(i % 26 == 0, move || {
                    for k in 0..10 {
                        NUMBERS.lock().unwrap().push(i * 10 + k);
                        if k % 3 == 0 {
                            weft::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        for p in parties {
            p.join();
        }
        let mut all = std::mem::take(&mut *NUMBERS.lock().unwrap());
        all.sort_unstable();
        assert_eq!(all, (0..1_040).collect::<Vec<_>>());
    });
}

/// A hog locks and unlocks in a loop until the waiter has had the lock once. The hog on an OS
/// thread never pauses; in a coroutine it yields while holding the lock (else it would hog its
/// worker, not the lock), then re-locks at once after each unlock. Returns the hog's count.
fn hog_against_waiter(hog_os: bool, waiter_os: bool) -> usize {
    let m = Arc::new(Mutex::new(0usize));
    let waiter_done = Arc::new(AtomicBool::new(false));
    let hog_running = Arc::new(AtomicBool::new(false));
    let (m2, done2, running2) = (m.clone(), waiter_done.clone(), hog_running.clone());
    let hog = start(hog_os, move || {
        let mut rounds = 0;
        while !done2.load(Ordering::SeqCst) {
            let mut g = m2.lock().unwrap();
            *g += 1;
            rounds += 1;
            running2.store(true, Ordering::SeqCst);
            if !hog_os {
                weft::thread::yield_now();
            }
            drop(g);
        }
        rounds
    });
    let (m3, done3, running3) = (m.clone(), waiter_done.clone(), hog_running.clone());
    let waiter = start(waiter_os, move || {
        while !running3.load(Ordering::SeqCst) {
            weft::thread::yield_now();
        }
        let mut total = 0;
        // Several acquisitions, each against the running hog.
        for _ in 0..20 {
            let g = m3.lock().unwrap();
            total = *g;
            drop(g);
            weft::thread::yield_now();
        }
        done3.store(true, Ordering::SeqCst);
        total
    });
    let seen = waiter.join();
    let rounds = hog.join();
    assert!(rounds >= 1 && seen >= 1);
    assert_eq!(*m.lock().unwrap(), rounds);
    rounds
}

#[test]
fn a_hog_cannot_starve_a_waiter() {
    watchdog(|| {
        for hog_os in [false, true] {
            for waiter_os in [false, true] {
                hog_against_waiter(hog_os, waiter_os);
            }
        }
    });
}

#[test]
fn debug_display_from_and_default() {
    watchdog(|| {
        let m = Mutex::new(5);
        assert_eq!(format!("{m:?}"), "Mutex { data: 5, poisoned: false, .. }");
        {
            let g = m.lock().unwrap();
            assert_eq!(
                format!("{m:?}"),
                "Mutex { data: <locked>, poisoned: false, .. }"
            );
            assert_eq!(format!("{g:?}"), "5");
            assert_eq!(format!("{g}"), "5");
        }
        // Locked by a coroutine, formatted by this thread.
        let m = Arc::new(Mutex::new(String::from("text")));
        let (held_tx, held_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let m2 = m.clone();
        let h = go!(move || {
            let _g = m2.lock().unwrap();
            held_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        });
        held_rx.recv().unwrap();
        assert!(format!("{m:?}").contains("<locked>"));
        release_tx.send(()).unwrap();
        h.join().unwrap();
        assert_eq!(
            format!("{m:?}"),
            "Mutex { data: \"text\", poisoned: false, .. }"
        );

        let mut d: Mutex<Vec<u8>> = Mutex::default();
        assert!(d.get_mut().unwrap().is_empty());
        let f = Mutex::from(3u8);
        assert_eq!(f.into_inner().unwrap(), 3);
    });
}

#[test]
fn unsized_data_behind_a_mutex() {
    watchdog(|| {
        // Box and Arc coercions to a slice.
        let b: Box<Mutex<[u8]>> = Box::new(Mutex::new([1, 2, 3]));
        b.lock().unwrap()[1] = 20;
        assert_eq!(&*b.lock().unwrap(), &[1, 20, 3]);
        let fixed = Mutex::new([0u8; 4]);
        let r: &Mutex<[u8]> = &fixed;
        r.lock().unwrap().fill(9);
        assert_eq!(r.lock().unwrap().len(), 4);
        assert_eq!(fixed.into_inner().unwrap(), [9; 4]);

        // Shared by coroutines: each bumps its own slot many times.
        let shared: Arc<Mutex<[u32]>> = Arc::new(Mutex::new([0; 8]));
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let shared = shared.clone();
                go!(move || {
                    for _ in 0..500 {
                        shared.lock().unwrap()[i] += 1;
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(&*shared.lock().unwrap(), &[500; 8]);

        // A trait object.
        let dynamic: Box<Mutex<dyn Debug + Send>> = Box::new(Mutex::new(42u16));
        assert_eq!(format!("{:?}", &*dynamic.lock().unwrap()), "42");
        let set: HashSet<u8> = [1].into();
        let dynamic: &Mutex<dyn Debug + Send> = &Mutex::new(set);
        assert_eq!(
            format!("{dynamic:?}"),
            "Mutex { data: {1}, poisoned: false, .. }"
        );
    });
}

/// M6's message for a relock of a `Mutex` by the caller, a coroutine (`in_coroutine`) or a
/// named OS thread.
fn relock_message(in_coroutine: bool) -> String {
    const WHAT: &str = "locked a weft::sync::Mutex it already holds (std's Mutex may deadlock \
                        here; weft panics)";
    let me = weft::thread::current();
    if in_coroutine {
        let name = me.name().unwrap_or("<unnamed>");
        format!("weft: coroutine '{name}' (id {}) {WHAT}", me.id())
    } else {
        let name = std::thread::current().name().unwrap().to_owned();
        format!("weft: thread '{name}' {WHAT}")
    }
}

/// Locks `m`, then locks it again inside `catch_unwind`: returns the second lock's panic
/// message, after checking that the first guard is still good, that `try_lock` says
/// `WouldBlock` rather than panic, and that the lock is free and unpoisoned afterwards.
fn relock_caught(m: &Mutex<u32>) -> String {
    let mut g = m.lock().unwrap();
    let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _again = m.lock();
    }))
    .expect_err("the holder's second lock returned");
    assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
    *g += 1;
    drop(g);
    assert!(!m.is_poisoned(), "the caught panic poisoned the mutex");
    *m.lock().unwrap() += 1;
    panic_text(&*payload).expect("a text payload")
}

#[test]
fn a_relock_by_the_holder_panics_naming_it_and_leaves_the_lock_usable() {
    watchdog(|| {
        let m = Arc::new(Mutex::new(0u32));
        // A named coroutine and an unnamed one, caught inside.
        for name in [Some("relocker"), None] {
            let m2 = m.clone();
            let mut b = weft::thread::Builder::new();
            if let Some(name) = name {
                b = b.name(name.to_owned());
            }
            let (got, want) = b
                .spawn(move || (relock_caught(&m2), relock_message(true)))
                .unwrap()
                .join()
                .unwrap();
            assert_eq!(got, want);
        }
        // A named OS thread.
        let m2 = m.clone();
        let (got, want) = std::thread::Builder::new()
            .name("relock-thread".to_owned())
            .spawn(move || (relock_caught(&m2), relock_message(false)))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(got, want);
        assert!(
            got.starts_with("weft: thread 'relock-thread' locked"),
            "{got}"
        );
        assert_eq!(*m.lock().unwrap(), 6);

        // Not caught: the coroutine ends with the panic, and its guard, dropped by the
        // unwinding, poisons the mutex as any panic would, and releases it.
        let m2 = m.clone();
        let h = weft::thread::Builder::new()
            .name("uncaught".to_owned())
            .spawn(move || {
                let _g = m2.lock().unwrap();
                let _again = m2.lock();
                unreachable!("the second lock returned");
            })
            .unwrap();
        let id = h.thread().id();
        let err = h.join().unwrap_err();
        assert_eq!(
            panic_text(&*err).unwrap(),
            format!(
                "weft: coroutine 'uncaught' (id {id}) locked a weft::sync::Mutex it already \
                 holds (std's Mutex may deadlock here; weft panics)"
            )
        );
        assert!(m.is_poisoned());
        *m.lock().unwrap_err().into_inner() += 1;
        m.clear_poison();
        assert_eq!(*m.lock().unwrap(), 7);
    });
}

#[test]
fn the_lock_retaken_by_a_condvar_wait_is_recorded_as_the_waiters() {
    watchdog(|| {
        // `Condvar::wait` releases the mutex and takes it again through the same lock path
        // (with nobody holding it in between here): the waiter is its holder again after it,
        // so a relock still panics, and the wait's own re-lock never did.
        for os in [false, true] {
            let got = start(os, || {
                let m = Mutex::new(0u32);
                let cv = Condvar::new();
                let g = m.lock().unwrap();
                let (g, _) = cv.wait_timeout(g, Duration::from_millis(1)).unwrap();
                let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let _again = m.lock();
                }))
                .expect_err("the holder's second lock returned");
                drop(g);
                assert!(!m.is_poisoned());
                panic_text(&*payload).unwrap()
            })
            .join();
            assert!(
                got.ends_with(
                    "locked a weft::sync::Mutex it already holds (std's Mutex may \
                               deadlock here; weft panics)"
                ),
                "{got}"
            );
        }
    });
}

/// The child of `a_coroutine_waiting_for_its_workers_holder_parks_and_does_not_panic`: one
/// worker, so the holder and the waiter are two coroutines of the same OS thread.
#[test]
fn child_one_worker_holder_and_waiter() {
    if !child_is("one-worker-mutex") {
        return;
    }
    let m = Arc::new(Mutex::new(0u32));
    let (held_tx, held_rx) = mpsc::channel::<std::thread::ThreadId>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (locking_tx, locking_rx) = std::sync::mpsc::channel::<std::thread::ThreadId>();
    let holder = {
        let m = m.clone();
        go!(move || {
            let mut g = m.lock().unwrap();
            held_tx.send(std::thread::current().id()).unwrap();
            // Parks, holding the lock, until the waiter has started to lock.
            release_rx.recv().unwrap();
            *g += 1;
        })
    };
    let waiter = {
        let m = m.clone();
        go!(move || {
            let holders_thread = held_rx.recv().unwrap();
            locking_tx.send(holders_thread).unwrap();
            assert_eq!(std::thread::current().id(), holders_thread);
            // The lock is held by the other coroutine of this worker. With one worker, the
            // holder cannot run (and let go) before this coroutine parks in `lock`, so this
            // takes the slow path, which checks for a relock.
            assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
            let mut g = m.lock().unwrap();
            *g += 10;
        })
    };
    locking_rx.recv().unwrap();
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    let waited = waiter.join();
    child_report("waiter_ok", waited.is_ok());
    child_report("value", *m.lock().unwrap());
}

#[test]
fn a_coroutine_waiting_for_its_workers_holder_parks_and_does_not_panic() {
    watchdog(|| {
        let out = run_child(
            "child_one_worker_holder_and_waiter",
            "one-worker-mutex",
            &[("WEFT_WORKERS", "1")],
        );
        out.assert_success();
        assert_eq!(out.stdout_value("waiter_ok"), "true");
        assert_eq!(out.stdout_value("value"), "11");
        out.assert_stderr_lacks("already holds");
    });
}
