//! `weft::sync::WaitGroup`: `wait` returns only after every member has finished (checked by
//! counting the members' work), from a coroutine or a thread, with members on both; a lone
//! member returns at once; groups nest. Waits are bounded only so that a hang fails.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::watchdog;
use weft::go;
use weft::sync::WaitGroup;

/// Starts `n` members that each sleep a little (parking), then count themselves.
fn members(wg: &WaitGroup, n: usize, done: &Arc<AtomicUsize>, threads_too: bool) {
    for i in 0..n {
        let (wg, done) = (wg.clone(), done.clone());
        let work = move || {
            if i % 3 == 0 {
                weft::thread::sleep(Duration::from_millis(1 + (i % 7) as u64));
            }
            done.fetch_add(1, Ordering::SeqCst);
            drop(wg);
        };
        if threads_too && i % 50 == 0 {
            std::thread::spawn(work);
        } else {
            go!(work);
        }
    }
}

#[test]
fn a_thread_waits_for_ten_thousand_members() {
    watchdog(|| {
        let wg = WaitGroup::new();
        let done = Arc::new(AtomicUsize::new(0));
        members(&wg, 10_000, &done, true);
        wg.wait();
        assert_eq!(done.load(Ordering::SeqCst), 10_000);
    });
}

#[test]
fn a_coroutine_waits_and_several_waiters_are_released_together() {
    watchdog(|| {
        let wg = WaitGroup::new();
        let done = Arc::new(AtomicUsize::new(0));
        // Three waiters (each is also a member): two coroutines and this thread.
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let (wg, done) = (wg.clone(), done.clone());
                go!(move || {
                    wg.wait();
                    done.load(Ordering::SeqCst)
                })
            })
            .collect();
        members(&wg, 1_000, &done, true);
        wg.wait();
        assert_eq!(done.load(Ordering::SeqCst), 1_000);
        for w in waiters {
            assert_eq!(w.join().unwrap(), 1_000);
        }
    });
}

#[test]
fn a_lone_member_returns_at_once_and_groups_nest() {
    watchdog(|| {
        WaitGroup::new().wait();
        WaitGroup::default().wait();
        let outer = WaitGroup::new();
        let done = Arc::new(AtomicUsize::new(0));
        for _ in 0..10 {
            let (outer, done) = (outer.clone(), done.clone());
            go!(move || {
                let inner = WaitGroup::new();
                members(&inner, 10, &done, false);
                inner.wait();
                drop(outer);
            });
        }
        outer.wait();
        assert_eq!(done.load(Ordering::SeqCst), 100);
        assert!(format!("{:?}", WaitGroup::new()).starts_with("WaitGroup"));
    });
}
