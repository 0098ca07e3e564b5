//! `park` / `park_timeout` / `Thread::unpark`: std's token semantics, in coroutines and on OS
//! threads, across the two worlds, and under races.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use support::{Latch, watchdog};
use weft::go;
use weft::thread::{self, Thread};

/// Parks until `flag` is set (park may return spuriously, so it loops like std code must).
fn park_until(flag: &AtomicBool) {
    while !flag.load(Ordering::Acquire) {
        thread::park();
    }
}

#[test]
fn unpark_before_park_returns_at_once_in_a_coroutine() {
    watchdog(|| {
        // Self-unpark, then park: the token is there, park returns (else the watchdog fires).
        go!(|| {
            thread::current().unpark();
            thread::park();
            // Same with park_timeout and an hour-long timeout.
            thread::current().unpark();
            thread::park_timeout(Duration::from_secs(3600));
        })
        .join()
        .unwrap();

        // Unparked by another thread before it parks.
        let unparked = Arc::new(AtomicBool::new(false));
        let u = unparked.clone();
        let h = go!(move || {
            while !u.load(Ordering::Acquire) {
                thread::yield_now();
            }
            thread::park(); // the token was set before: returns at once
            "returned"
        });
        h.thread().unpark();
        unparked.store(true, Ordering::Release);
        assert_eq!(h.join().unwrap(), "returned");
    });
}

#[test]
fn unpark_before_the_coroutine_starts_is_kept() {
    watchdog(|| {
        // The token is set through the handle, possibly before the coroutine first runs.
        let handles: Vec<_> = (0..200)
            .map(|i| {
                let h = go!(move || {
                    thread::park();
                    i
                });
                h.thread().unpark();
                h
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), i);
        }
    });
}

#[test]
fn unpark_before_park_returns_at_once_on_an_os_thread() {
    watchdog(|| {
        thread::current().unpark();
        thread::park();
        thread::current().unpark();
        thread::park_timeout(Duration::from_secs(3600));
        // From a coroutine, before this thread parks.
        let me = thread::current();
        go!(move || me.unpark()).join().unwrap();
        thread::park();
    });
}

#[test]
fn several_unparks_collapse_into_one_token_in_a_coroutine() {
    watchdog(|| {
        let dur = Duration::from_millis(100);
        let h = go!(move || {
            let me = thread::current();
            me.unpark();
            me.unpark();
            me.unpark();
            thread::park(); // consumes the single token
            let start = Instant::now();
            thread::park_timeout(dur); // no token left: waits the whole timeout
            start.elapsed()
        });
        let waited = h.join().unwrap();
        assert!(
            waited >= dur,
            "park_timeout returned after {waited:?}: a second token was left"
        );

        // Unparked many times from outside while it was not parked.
        let ready = Arc::new(AtomicBool::new(false));
        let r = ready.clone();
        let h = go!(move || {
            while !r.load(Ordering::Acquire) {
                thread::yield_now();
            }
            thread::park();
            let start = Instant::now();
            thread::park_timeout(dur);
            start.elapsed()
        });
        for _ in 0..10 {
            h.thread().unpark();
        }
        ready.store(true, Ordering::Release);
        let waited = h.join().unwrap();
        assert!(
            waited >= dur,
            "park_timeout returned after {waited:?}: a second token was left"
        );
    });
}

#[test]
fn several_unparks_collapse_into_one_token_on_an_os_thread() {
    watchdog(|| {
        let dur = Duration::from_millis(100);
        let me = thread::current();
        me.unpark();
        me.unpark();
        me.unpark();
        thread::park();
        let start = Instant::now();
        thread::park_timeout(dur);
        assert!(start.elapsed() >= dur);
    });
}

#[test]
fn park_timeout_returns_after_the_timeout_without_unpark() {
    watchdog(|| {
        let durs = [1u64, 20, 60].map(Duration::from_millis);
        let handles: Vec<_> = durs
            .iter()
            .map(|&d| {
                go!(move || {
                    let start = Instant::now();
                    thread::park_timeout(d);
                    start.elapsed()
                })
            })
            .collect();
        for (d, h) in durs.iter().zip(handles) {
            let waited = h.join().unwrap();
            assert!(
                waited >= *d,
                "coroutine park_timeout({d:?}) returned after {waited:?}"
            );
        }
        for d in durs {
            let start = Instant::now();
            thread::park_timeout(d);
            assert!(start.elapsed() >= d, "OS thread park_timeout({d:?})");
        }
        // A zero timeout returns, in both worlds.
        thread::park_timeout(Duration::ZERO);
        go!(|| thread::park_timeout(Duration::ZERO)).join().unwrap();
    });
}

#[test]
fn many_coroutines_in_park_timeout_all_return() {
    watchdog(|| {
        let handles: Vec<_> = (0..3000u64)
            .map(|i| {
                go!(move || {
                    let d = Duration::from_millis(1 + i % 20);
                    let start = Instant::now();
                    thread::park_timeout(d);
                    assert!(start.elapsed() >= d);
                    i
                })
            })
            .collect();
        let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sum, 3000 * 2999 / 2);
    });
}

#[test]
fn park_timeout_is_ended_by_unpark() {
    watchdog(|| {
        // An hour-long park_timeout, ended by an unpark from the OS thread.
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let h = go!(move || {
            while !f.load(Ordering::Acquire) {
                thread::park_timeout(Duration::from_secs(3600));
            }
        });
        flag.store(true, Ordering::Release);
        h.thread().unpark();
        h.join().unwrap();

        // And an OS thread's, ended by a coroutine.
        let flag = Arc::new(AtomicBool::new(false));
        let (f, me) = (flag.clone(), thread::current());
        go!(move || {
            f.store(true, Ordering::Release);
            me.unpark();
        });
        while !flag.load(Ordering::Acquire) {
            thread::park_timeout(Duration::from_secs(3600));
        }
    });
}

#[test]
fn os_thread_unparks_coroutines() {
    watchdog(|| {
        let flags: Vec<_> = (0..500).map(|_| Arc::new(AtomicBool::new(false))).collect();
        let handles: Vec<_> = flags
            .iter()
            .map(|f| {
                let f = f.clone();
                go!(move || park_until(&f))
            })
            .collect();
        for (f, h) in flags.iter().zip(&handles) {
            f.store(true, Ordering::Release);
            h.thread().unpark();
        }
        for h in handles {
            h.join().unwrap();
        }
    });
}

#[test]
fn coroutine_unparks_an_os_thread() {
    watchdog(|| {
        for _ in 0..200 {
            let flag = Arc::new(AtomicBool::new(false));
            let (f, me) = (flag.clone(), thread::current());
            let h = go!(move || {
                f.store(true, Ordering::Release);
                me.unpark();
            });
            park_until(&flag);
            h.join().unwrap();
        }
        // A separate OS thread, captured with weft::thread::current() there.
        let slot: Arc<OnceLock<Thread>> = Arc::new(OnceLock::new());
        let flag = Arc::new(AtomicBool::new(false));
        let (s, f) = (slot.clone(), flag.clone());
        let os = std::thread::spawn(move || {
            s.set(thread::current()).unwrap();
            park_until(&f);
        });
        let (s, f) = (slot.clone(), flag.clone());
        go!(move || {
            while s.get().is_none() {
                thread::yield_now();
            }
            f.store(true, Ordering::Release);
            s.get().unwrap().unpark();
        })
        .join()
        .unwrap();
        os.join().unwrap();
    });
}

#[test]
fn coroutine_unparks_coroutine() {
    watchdog(|| {
        // A chain: coroutine i waits for its flag, then releases coroutine i + 1.
        const N: usize = 1000;
        let flags: Arc<Vec<AtomicBool>> =
            Arc::new((0..N).map(|_| AtomicBool::new(false)).collect());
        let threads: Arc<OnceLock<Vec<Thread>>> = Arc::new(OnceLock::new());
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let (flags, threads) = (flags.clone(), threads.clone());
                go!(move || {
                    park_until(&flags[i]);
                    if i + 1 < N {
                        flags[i + 1].store(true, Ordering::Release);
                        // The list is published before coroutine 0 is released.
                        threads.get().unwrap()[i + 1].unpark();
                    }
                    i
                })
            })
            .collect();
        threads
            .set(handles.iter().map(|h| h.thread().clone()).collect())
            .unwrap();
        flags[0].store(true, Ordering::Release);
        handles[0].thread().unpark();
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), i);
        }
    });
}

#[test]
fn ping_pong_ten_thousand_rounds() {
    watchdog(|| {
        const ROUNDS: usize = 10_000;
        // turn: even = A's move, odd = B's move; each move advances it by exactly one.
        let turn = Arc::new(AtomicUsize::new(0));
        let a_slot: Arc<OnceLock<Thread>> = Arc::new(OnceLock::new());
        let (t, a) = (turn.clone(), a_slot.clone());
        let b = go!(move || {
            let mut moves = 0;
            for round in 0..ROUNDS {
                while t.load(Ordering::Acquire) != 2 * round + 1 {
                    thread::park();
                }
                let prev = t.swap(2 * round + 2, Ordering::AcqRel);
                assert_eq!(prev, 2 * round + 1, "B: turn did not alternate");
                moves += 1;
                a.get()
                    .expect("A registered before its first move")
                    .unpark();
            }
            moves
        });
        let b_thread = b.thread().clone();
        let (t, a) = (turn.clone(), a_slot.clone());
        let a = go!(move || {
            a.set(thread::current()).unwrap();
            let mut moves = 0;
            for round in 0..ROUNDS {
                while t.load(Ordering::Acquire) != 2 * round {
                    thread::park();
                }
                let prev = t.swap(2 * round + 1, Ordering::AcqRel);
                assert_eq!(prev, 2 * round, "A: turn did not alternate");
                moves += 1;
                b_thread.unpark();
            }
            moves
        });
        assert_eq!(a.join().unwrap(), ROUNDS);
        assert_eq!(b.join().unwrap(), ROUNDS);
        assert_eq!(turn.load(Ordering::Relaxed), 2 * ROUNDS);
    });
}

#[test]
fn ping_pong_between_a_coroutine_and_an_os_thread() {
    watchdog(|| {
        const ROUNDS: usize = 2000;
        let turn = Arc::new(AtomicUsize::new(0));
        let me = thread::current();
        let t = turn.clone();
        let co = go!(move || {
            for round in 0..ROUNDS {
                while t.load(Ordering::Acquire) != 2 * round + 1 {
                    thread::park();
                }
                assert_eq!(t.swap(2 * round + 2, Ordering::AcqRel), 2 * round + 1);
                me.unpark();
            }
        });
        for round in 0..ROUNDS {
            while turn.load(Ordering::Acquire) != 2 * round {
                thread::park();
            }
            assert_eq!(turn.swap(2 * round + 1, Ordering::AcqRel), 2 * round);
            co.thread().unpark();
        }
        co.join().unwrap();
        assert_eq!(turn.load(Ordering::Relaxed), 2 * ROUNDS);
    });
}

#[test]
fn internal_waits_do_not_consume_the_park_token() {
    watchdog(|| {
        // A coroutine's token, set before it joins, survives the join.
        go!(|| {
            thread::current().unpark();
            let child = go!(|| {
                for _ in 0..10 {
                    thread::yield_now();
                }
                1
            });
            assert_eq!(child.join().unwrap(), 1);
            thread::sleep(Duration::from_millis(1));
            thread::park(); // the token is still there
        })
        .join()
        .unwrap();

        // A token set while the coroutine is blocked in join does not end the join early and
        // is still there afterwards.
        let parent = go!(|| {
            let me = thread::current();
            let child = go!(move || {
                me.unpark();
                for _ in 0..100 {
                    thread::yield_now();
                }
                "child value"
            });
            let v = child.join().unwrap();
            thread::park();
            v
        });
        assert_eq!(parent.join().unwrap(), "child value");

        // The same on an OS thread: join and sleep use weft's private parker.
        thread::current().unpark();
        assert_eq!(go!(|| 2).join().unwrap(), 2);
        thread::park();
    });
}

#[test]
fn unpark_storm_from_many_threads_while_coroutines_park_in_a_loop() {
    watchdog(|| {
        const COROUTINES: usize = 300;
        const UNPARKERS: usize = 4;
        const ROUNDS: usize = 50;
        // Each coroutine finishes once it has seen every unparker's hits; every hit is
        // followed by an unpark, so the last hit's unpark always wakes it.
        let hits: Arc<Vec<AtomicUsize>> =
            Arc::new((0..COROUTINES).map(|_| AtomicUsize::new(0)).collect());
        let target = 2 * UNPARKERS * ROUNDS;
        let handles: Vec<_> = (0..COROUTINES)
            .map(|i| {
                let hits = hits.clone();
                go!(move || {
                    while hits[i].load(Ordering::Acquire) < target {
                        thread::park();
                    }
                    i
                })
            })
            .collect();
        let threads: Arc<Vec<Thread>> =
            Arc::new(handles.iter().map(|h| h.thread().clone()).collect());
        // Half the unparkers are OS threads, half are coroutines.
        let os: Vec<_> = (0..UNPARKERS)
            .map(|u| {
                let (hits, threads) = (hits.clone(), threads.clone());
                std::thread::spawn(move || {
                    for r in 0..ROUNDS {
                        for k in 0..COROUTINES {
                            let i = (k * 7 + u + r) % COROUTINES;
                            hits[i].fetch_add(1, Ordering::AcqRel);
                            threads[i].unpark();
                        }
                    }
                })
            })
            .collect();
        let cos: Vec<_> = (0..UNPARKERS)
            .map(|u| {
                let (hits, threads) = (hits.clone(), threads.clone());
                go!(move || {
                    for r in 0..ROUNDS {
                        for k in 0..COROUTINES {
                            let i = (k * 13 + u + r) % COROUTINES;
                            hits[i].fetch_add(1, Ordering::AcqRel);
                            threads[i].unpark();
                        }
                        thread::yield_now();
                    }
                })
            })
            .collect();
        for t in os {
            t.join().unwrap();
        }
        for c in cos {
            c.join().unwrap();
        }
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), i);
        }
        for h in hits.iter() {
            assert_eq!(h.load(Ordering::Relaxed), target);
        }
    });
}

#[test]
fn latch_in_a_coroutine_and_on_an_os_thread() {
    watchdog(|| {
        // The support latch (park-based) works with either kind of waiter.
        let latch = Arc::new(Latch::new(100));
        for _ in 0..100 {
            let l = latch.clone();
            go!(move || l.count_down());
        }
        latch.wait();
        go!(|| {
            let latch = Arc::new(Latch::new(100));
            for _ in 0..100 {
                let l = latch.clone();
                std::thread::spawn(move || l.count_down());
            }
            latch.wait();
        })
        .join()
        .unwrap();
    });
}
