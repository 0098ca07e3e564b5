//! `sleep` and `yield_now`, in coroutines and on OS threads.
//!
//! Only lower bounds on elapsed time are asserted (`elapsed >= duration`); nothing here
//! synchronises by sleeping.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::{Rng, watchdog};
use weft::go;
use weft::thread;

#[test]
fn sleep_in_a_coroutine_lasts_at_least_the_duration() {
    watchdog(|| {
        for ms in [1u64, 10, 50] {
            let d = Duration::from_millis(ms);
            let waited = go!(move || {
                let start = Instant::now();
                thread::sleep(d);
                start.elapsed()
            })
            .join()
            .unwrap();
            assert!(waited >= d, "sleep({d:?}) returned after {waited:?}");
        }
        // Sub-millisecond durations too.
        let d = Duration::from_micros(300);
        let waited = go!(move || {
            let start = Instant::now();
            thread::sleep(d);
            start.elapsed()
        })
        .join()
        .unwrap();
        assert!(waited >= d);
    });
}

#[test]
fn ten_thousand_concurrent_sleepers_all_complete() {
    watchdog(|| {
        const N: usize = 10_000;
        let done = Arc::new(AtomicUsize::new(0));
        let mut rng = Rng::new(7);
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let d = Duration::from_millis(1 + rng.below(30));
                let done = done.clone();
                go!(move || {
                    let start = Instant::now();
                    thread::sleep(d);
                    let waited = start.elapsed();
                    assert!(waited >= d, "sleep({d:?}) returned after {waited:?}");
                    done.fetch_add(1, Ordering::Relaxed);
                    i
                })
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), i);
        }
        assert_eq!(done.load(Ordering::Relaxed), N);
    });
}

#[test]
fn repeated_sleeps_in_many_coroutines() {
    watchdog(|| {
        let handles: Vec<_> = (0..200u64)
            .map(|i| {
                go!(move || {
                    let start = Instant::now();
                    let mut total = Duration::ZERO;
                    for k in 0..10 {
                        let d = Duration::from_micros(100 * ((i + k) % 7));
                        thread::sleep(d);
                        total += d;
                    }
                    assert!(start.elapsed() >= total);
                    i
                })
            })
            .collect();
        let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sum, 199 * 200 / 2);
    });
}

#[test]
fn sleep_on_an_os_thread() {
    watchdog(|| {
        let d = Duration::from_millis(20);
        let start = Instant::now();
        thread::sleep(d);
        assert!(start.elapsed() >= d);
        // Several OS threads at once, while coroutines sleep too.
        let cos: Vec<_> = (0..100).map(|_| go!(move || thread::sleep(d))).collect();
        let os: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(move || {
                    let start = Instant::now();
                    thread::sleep(d);
                    start.elapsed()
                })
            })
            .collect();
        for t in os {
            assert!(t.join().unwrap() >= d);
        }
        for c in cos {
            c.join().unwrap();
        }
    });
}

#[test]
fn sleep_zero_returns() {
    watchdog(|| {
        thread::sleep(Duration::ZERO);
        go!(|| {
            for _ in 0..1000 {
                thread::sleep(Duration::ZERO);
            }
        })
        .join()
        .unwrap();
        // The smallest non-zero duration.
        let h = go!(|| {
            thread::sleep(Duration::from_nanos(1));
            1
        });
        assert_eq!(h.join().unwrap(), 1);
    });
}

#[test]
fn unpark_does_not_cut_a_sleep_short_and_the_token_survives() {
    watchdog(|| {
        let d = Duration::from_millis(50);
        let h = go!(move || {
            let start = Instant::now();
            thread::sleep(d);
            let slept = start.elapsed();
            // The unparks during the sleep left the token set.
            thread::park();
            slept
        });
        while !h.is_finished() {
            h.thread().unpark();
            std::thread::yield_now();
        }
        let slept = h.join().unwrap();
        assert!(
            slept >= d,
            "sleep({d:?}) was cut short by unpark: {slept:?}"
        );
    });
}

#[test]
fn yield_now_lets_a_spawned_coroutine_run() {
    watchdog(|| {
        // The spinner only yields; the flag is set by a coroutine it spawns itself, which
        // lands on the spinner's own worker.
        go!(|| {
            let flag = Arc::new(AtomicBool::new(false));
            let f = flag.clone();
            let setter = go!(move || f.store(true, Ordering::Release));
            while !flag.load(Ordering::Acquire) {
                thread::yield_now();
            }
            setter.join().unwrap();
        })
        .join()
        .unwrap();
    });
}

#[test]
fn yield_now_spinners_do_not_starve_later_spawns() {
    watchdog(|| {
        // More yielding spinners than workers, then a setter spawned from the OS thread.
        let flag = Arc::new(AtomicBool::new(false));
        let spinners: Vec<_> = (0..8)
            .map(|_| {
                let f = flag.clone();
                go!(move || {
                    while !f.load(Ordering::Acquire) {
                        thread::yield_now();
                    }
                })
            })
            .collect();
        let f = flag.clone();
        go!(move || f.store(true, Ordering::Release))
            .join()
            .unwrap();
        for s in spinners {
            s.join().unwrap();
        }
    });
}

#[test]
fn yield_now_on_an_os_thread_returns() {
    watchdog(|| {
        for _ in 0..100 {
            thread::yield_now();
        }
    });
}

#[test]
fn yield_interleaves_coroutines_that_count_together() {
    watchdog(|| {
        // Several coroutines each add 1 to a shared counter 1000 times, yielding in between;
        // every increment lands exactly once.
        let counter = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..20)
            .map(|_| {
                let c = counter.clone();
                go!(move || {
                    for _ in 0..1000 {
                        c.fetch_add(1, Ordering::Relaxed);
                        thread::yield_now();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(counter.load(Ordering::Relaxed), 20_000);
    });
}
