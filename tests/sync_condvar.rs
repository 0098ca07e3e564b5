//! `weft::sync::Condvar`: a bounded producer/consumer queue with exact accounting, timed waits
//! (a timeout elapses at least its duration; a condition that becomes true is not a timeout),
//! `notify_all` wakes every waiter, a notify with nobody waiting is harmless and not kept,
//! a timeout racing a notify never loses the notify, and a mutex poisoned while waiting;
//! from coroutines, OS threads and both at once. Waits are bounded only so that a hang fails
//! (support's watchdog); no test asserts that anything was fast.

mod support;

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{Party, Rng, start, with_timeout};
use weft::sync::{Condvar, Mutex};

/// Every test body is bounded by this many seconds.
const BOUND: u64 = 30;

struct Queue {
    items: VecDeque<u64>,
    producers_left: usize,
}

struct Shared {
    queue: Mutex<Queue>,
    not_empty: Condvar,
    not_full: Condvar,
}

const CAPACITY: usize = 8;

#[test]
fn producers_and_consumers_every_item_consumed_exactly_once() {
    with_timeout(BOUND, || {
        const PRODUCERS: usize = 6;
        const CONSUMERS: usize = 6;
        const PER: u64 = 3_000;
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                producers_left: PRODUCERS,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
        });
        // Even-numbered parties are coroutines, odd ones OS threads.
        let producers: Vec<Party<()>> = (0..PRODUCERS)
            .map(|p| {
                let shared = shared.clone();
                start(p % 2 == 1, move || {
                    for i in 0..PER {
                        let q = shared.queue.lock().unwrap();
                        let mut q = shared
                            .not_full
                            .wait_while(q, |q| q.items.len() >= CAPACITY)
                            .unwrap();
                        q.items.push_back(p as u64 * PER + i);
                        drop(q);
                        shared.not_empty.notify_one();
                    }
                    shared.queue.lock().unwrap().producers_left -= 1;
                    shared.not_empty.notify_all();
                })
            })
            .collect();
        let consumers: Vec<Party<Vec<u64>>> = (0..CONSUMERS)
            .map(|c| {
                let shared = shared.clone();
                start(c % 2 == 0, move || {
                    let mut got = Vec::new();
                    loop {
                        let q = shared.queue.lock().unwrap();
                        let mut q = shared
                            .not_empty
                            .wait_while(q, |q| q.items.is_empty() && q.producers_left > 0)
                            .unwrap();
                        match q.items.pop_front() {
                            Some(v) => {
                                assert!(q.items.len() < CAPACITY);
                                drop(q);
                                shared.not_full.notify_one();
                                got.push(v);
                            }
                            None => return got,
                        }
                    }
                })
            })
            .collect();
        for p in producers {
            p.join();
        }
        let mut seen = HashSet::new();
        let mut counts = Vec::new();
        for c in consumers {
            let got = c.join();
            counts.push(got.len());
            for v in got {
                assert!(seen.insert(v), "{v} consumed twice");
            }
        }
        assert_eq!(seen.len(), PRODUCERS * PER as usize);
        assert_eq!(counts.iter().sum::<usize>(), PRODUCERS * PER as usize);
        assert!(shared.queue.lock().unwrap().items.is_empty());
    });
}

#[test]
fn wait_timeout_times_out_when_nobody_notifies() {
    with_timeout(BOUND, || {
        let parties: Vec<_> = [false, true]
            .into_iter()
            .map(|os| {
                start(os, move || {
                    let m = Mutex::new(0);
                    let cv = Condvar::new();
                    let dur = Duration::from_millis(40);

                    let t = Instant::now();
                    let (g, r) = cv.wait_timeout(m.lock().unwrap(), dur).unwrap();
                    assert!(r.timed_out());
                    assert!(t.elapsed() >= dur, "woke before the timeout");
                    // The mutex is held again.
                    assert!(m.try_lock().is_err());
                    drop(g);

                    // A condition that stays true: timed out, and the guard comes back.
                    let t = Instant::now();
                    let (mut g, r) = cv
                        .wait_timeout_while(m.lock().unwrap(), dur, |v| *v == 0)
                        .unwrap();
                    assert!(r.timed_out());
                    assert!(t.elapsed() >= dur);
                    *g += 1;
                    drop(g);

                    // A condition already false: returns at once, not timed out.
                    let (g, r) = cv
                        .wait_timeout_while(m.lock().unwrap(), Duration::from_secs(3600), |v| {
                            *v == 0
                        })
                        .unwrap();
                    assert!(!r.timed_out());
                    assert_eq!(*g, 1);
                    drop(g);

                    // A zero timeout.
                    let (_g, r) = cv.wait_timeout(m.lock().unwrap(), Duration::ZERO).unwrap();
                    assert!(r.timed_out());
                })
            })
            .collect();
        for p in parties {
            p.join();
        }
    });
}

#[test]
fn wait_timeout_while_returns_when_the_condition_becomes_true() {
    with_timeout(BOUND, || {
        for (waiter_os, notifier_os) in [(false, false), (false, true), (true, false), (true, true)]
        {
            // (started, ready)
            let pair = Arc::new((Mutex::new((false, false)), Condvar::new(), Condvar::new()));
            let p2 = pair.clone();
            // An hour, or a timeout too long for an Instant (no deadline at all): only the
            // notify can end this wait (the watchdog bounds the test).
            let dur = if waiter_os == notifier_os {
                Duration::from_secs(3600)
            } else {
                Duration::MAX
            };
            let waiter = start(waiter_os, move || {
                let (m, cv, started) = &*p2;
                let mut g = m.lock().unwrap();
                g.0 = true;
                started.notify_one();
                let (g, r) = cv.wait_timeout_while(g, dur, |s| !s.1).unwrap();
                assert!(g.1);
                r.timed_out()
            });
            // Once `started` is seen, the waiter has released the mutex in its wait.
            {
                let (m, _, started) = &*pair;
                drop(started.wait_while(m.lock().unwrap(), |s| !s.0).unwrap());
            }
            let p3 = pair.clone();
            start(notifier_os, move || {
                let (m, cv, _) = &*p3;
                m.lock().unwrap().1 = true;
                cv.notify_one();
            })
            .join();
            assert!(!waiter.join(), "waiter {waiter_os}, notifier {notifier_os}");

            // The plain `wait_while` and `wait` too.
            let pair = Arc::new((Mutex::new(0u32), Condvar::new()));
            let p2 = pair.clone();
            let waiter = start(waiter_os, move || {
                let (m, cv) = &*p2;
                let g = cv.wait_while(m.lock().unwrap(), |v| *v < 3).unwrap();
                *g
            });
            for _ in 0..3 {
                let p3 = pair.clone();
                start(notifier_os, move || {
                    let (m, cv) = &*p3;
                    *m.lock().unwrap() += 1;
                    cv.notify_all();
                })
                .join();
            }
            assert_eq!(waiter.join(), 3);
        }
    });
}

#[test]
fn notify_all_wakes_every_waiter() {
    with_timeout(BOUND, || {
        // 200 coroutines and 4 OS threads wait; one notify_all must wake them all (there is
        // no second notify: a waiter it missed would wait forever).
        const N: usize = 204;
        struct State {
            waiting: usize,
            go: bool,
            woken: usize,
        }
        let shared = Arc::new((
            Mutex::new(State {
                waiting: 0,
                go: false,
                woken: 0,
            }),
            Condvar::new(),
            Condvar::new(),
        ));
        let waiters: Vec<_> = (0..N)
            .map(|i| {
                let shared = shared.clone();
                start(i % 51 == 0, move || {
                    let (m, cv, arrived) = &*shared;
                    let mut g = m.lock().unwrap();
                    g.waiting += 1;
                    if g.waiting == N {
                        arrived.notify_one();
                    }
                    while !g.go {
                        g = cv.wait(g).unwrap();
                    }
                    g.woken += 1;
                })
            })
            .collect();
        let (m, cv, arrived) = &*shared;
        let mut g = arrived
            .wait_while(m.lock().unwrap(), |s| s.waiting < N)
            .unwrap();
        // All N are queued on `cv` (each queued before it released the mutex we now hold).
        g.go = true;
        drop(g);
        cv.notify_all();
        for w in waiters {
            w.join();
        }
        assert_eq!(m.lock().unwrap().woken, N);
    });
}

#[test]
fn notify_without_waiters_is_harmless_and_not_kept() {
    with_timeout(BOUND, || {
        for os in [false, true] {
            start(os, || {
                let m = Mutex::new(());
                let cv = Condvar::new();
                for _ in 0..1_000 {
                    cv.notify_one();
                    cv.notify_all();
                }
                // Those notifies were for nobody: a later wait still times out.
                let (_g, r) = cv
                    .wait_timeout(m.lock().unwrap(), Duration::from_millis(20))
                    .unwrap();
                assert!(r.timed_out());
                assert_eq!(format!("{cv:?}"), "Condvar { .. }");
                let _ = Condvar::default();
            })
            .join();
        }
    });
}

/// `ROUNDS` tickets are issued one at a time, each with one `notify_one`, and the next only
/// after the consumer took the previous one. The consumer waits without a timeout; the
/// distractors wait with short random timeouts on the same condvar and pass on any notify they
/// get (they never take tickets). If a notify were spent on a distractor that reports a
/// timeout (or on a stale node left by one), the consumer would never wake.
fn timeouts_race_notifies(consumer_os: bool, distractors: &[bool], rounds: u64, seed: u64) {
    struct State {
        tickets: u64,
        consumed: u64,
        done: bool,
    }
    let shared = Arc::new((
        Mutex::new(State {
            tickets: 0,
            consumed: 0,
            done: false,
        }),
        Condvar::new(),
        Condvar::new(),
    ));
    let distractors: Vec<_> = distractors
        .iter()
        .enumerate()
        .map(|(k, &os)| {
            let shared = shared.clone();
            start(os, move || {
                let (m, cv, _) = &*shared;
                let mut rng = Rng::new(seed ^ (k as u64 + 1));
                let mut timeouts = 0u64;
                let mut g = m.lock().unwrap();
                while !g.done {
                    let dur = Duration::from_micros(rng.below(1_500));
                    let (g2, r) = cv.wait_timeout(g, dur).unwrap();
                    g = g2;
                    if r.timed_out() {
                        timeouts += 1;
                    } else {
                        // Not ours: pass it on.
                        cv.notify_one();
                    }
                }
                timeouts
            })
        })
        .collect();
    let s2 = shared.clone();
    let consumer = start(consumer_os, move || {
        let (m, cv, consumed_cv) = &*s2;
        for _ in 0..rounds {
            let mut g = cv
                .wait_while(m.lock().unwrap(), |s| s.tickets == 0)
                .unwrap();
            g.tickets -= 1;
            g.consumed += 1;
            drop(g);
            consumed_cv.notify_one();
        }
    });
    let (m, cv, consumed_cv) = &*shared;
    let mut rng = Rng::new(seed);
    for round in 0..rounds {
        let mut g = m.lock().unwrap();
        assert_eq!(g.tickets, 0);
        g.tickets += 1;
        drop(g);
        // Vary the moment of the notify against the distractors' timeouts (which, in a
        // coroutine, fire from the worker's timer).
        if round % 3 == 0 {
            std::thread::sleep(Duration::from_micros(rng.below(1_500)));
        }
        cv.notify_one();
        let g = consumed_cv
            .wait_while(m.lock().unwrap(), |s| s.consumed <= round)
            .unwrap();
        drop(g);
    }
    consumer.join();
    m.lock().unwrap().done = true;
    cv.notify_all();
    let timeouts: u64 = distractors.into_iter().map(Party::join).sum();
    let g = m.lock().unwrap();
    assert_eq!((g.tickets, g.consumed), (0, rounds));
    // The distractors did race: they timed out many times over the run.
    assert!(timeouts > 0);
}

#[test]
fn a_timeout_racing_a_notify_never_loses_the_notify() {
    with_timeout(BOUND, || {
        timeouts_race_notifies(false, &[false], 1_000, 1);
        timeouts_race_notifies(false, &[false, true], 1_000, 2);
        timeouts_race_notifies(true, &[false, false], 1_000, 3);
        timeouts_race_notifies(true, &[true], 1_000, 4);
    });
}

#[test]
fn a_mutex_poisoned_during_the_wait_is_reported_with_the_guard() {
    with_timeout(BOUND, || {
        for os in [false, true] {
            let shared = Arc::new((Mutex::new(0u32), Condvar::new(), Condvar::new()));
            let s2 = shared.clone();
            let waiter = start(os, move || {
                let (m, cv, waiting) = &*s2;
                let mut g = m.lock().unwrap();
                *g = 1;
                waiting.notify_one();
                let err = match cv.wait(g) {
                    Ok(_) => panic!("the wait should report the poison"),
                    Err(e) => e,
                };
                let g = err.into_inner();
                *g
            });
            let (m, cv, waiting) = &*shared;
            let g = waiting.wait_while(m.lock().unwrap(), |v| *v == 0).unwrap();
            drop(g);
            // A coroutine takes the mutex (the waiter is queued: it released it in `wait`),
            // notifies, and panics while holding it.
            let s3 = shared.clone();
            let err = weft::go!(move || {
                let (m, cv, _) = &*s3;
                let mut g = m.lock().unwrap();
                *g = 2;
                cv.notify_one();
                panic!("poisoner");
            })
            .join();
            assert!(err.is_err());
            assert_eq!(waiter.join(), 2);
            assert!(m.is_poisoned());

            // wait_timeout and wait_timeout_while report the poison too.
            let err = cv
                .wait_timeout(m.lock().unwrap_err().into_inner(), Duration::from_millis(1))
                .unwrap_err();
            assert!(err.into_inner().1.timed_out());
            let err = cv
                .wait_timeout_while(
                    m.lock().unwrap_err().into_inner(),
                    Duration::from_millis(1),
                    |_| true,
                )
                .unwrap_err();
            let (g, r) = err.into_inner();
            assert!(r.timed_out());
            assert_eq!(*g, 2);
        }
    });
}
