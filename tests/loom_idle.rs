//! Loom model of the idle-worker protocol (scheduler/idle.rs, S4–S7): a submitter (a plain OS
//! thread, as when `main` spawns) publishes two units of stealable work while two workers
//! search, park and wake each other. A worker that takes a unit keeps running it forever (a
//! coroutine that never parks), so the second unit must be found by the other worker. A lost
//! wake-up leaves work in the queue with every free worker asleep: loom reports the deadlock.
//!
//! And sysmon's deep sleep (SY1, the `SYSMON_ASLEEP` bit of the same word): the monitor sleeps
//! without a deadline only while every worker sleeps, and the first worker to wake, whether a
//! timer woke it or a submitter counted it in (`worker_to_notify`), wakes the monitor. A
//! monitor left asleep with a worker awake is a loom deadlock (it waits for a wake nobody
//! sends).
//!
//! Run: `RUSTFLAGS="--cfg weft_loom" cargo test --release --test loom_idle`
#![cfg(weft_loom)]
#![allow(dead_code)]

mod loom {
    pub(crate) mod sync {
        /// parking_lot's shape over loom's mutex.
        #[derive(Debug)]
        pub(crate) struct Mutex<T>(::loom::sync::Mutex<T>);

        impl<T> Mutex<T> {
            pub(crate) fn new(value: T) -> Mutex<T> {
                Mutex(::loom::sync::Mutex::new(value))
            }

            pub(crate) fn lock(&self) -> ::loom::sync::MutexGuard<'_, T> {
                self.0.lock().unwrap()
            }
        }

        pub(crate) mod atomic {
            pub(crate) use ::loom::sync::atomic::{AtomicUsize, Ordering};
        }
    }
}

#[path = "../src/scheduler/idle.rs"]
mod idle;

use ::loom::sync::Arc;
use ::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use ::loom::thread;
use idle::Idle;

#[path = "support/loom_parker.rs"]
mod loom_parker;
use loom_parker::Parker;

struct Shared {
    idle: Idle,
    parkers: [Parker; 2],
    work: AtomicUsize,
    taken: AtomicUsize,
    shutdown: AtomicBool,
    main: Parker,
}

impl Shared {
    /// `Scheduler::notify_work`.
    fn notify_work(&self) {
        fence(Ordering::SeqCst);
        if let Some(w) = self.idle.worker_to_notify() {
            self.parkers[w].unpark();
        }
    }

    fn take(&self) -> bool {
        self.work
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// The worker loop of scheduler/worker.rs reduced to its idle protocol.
fn worker(s: &Shared, index: usize) {
    let mut searching = false;
    loop {
        if s.shutdown.load(Ordering::SeqCst) {
            return;
        }
        if !searching {
            searching = s.idle.transition_to_searching();
        }
        if searching && s.take() {
            // S5
            if s.idle.transition_from_searching() {
                s.notify_work();
            }
            s.taken.fetch_add(1, Ordering::SeqCst);
            s.main.unpark();
            // Runs the unit forever: this worker never looks at the queues again.
            return;
        }
        // S6: every worker re-checks after registering as asleep.
        s.idle.transition_to_parked(index, searching);
        fence(Ordering::SeqCst);
        if s.work.load(Ordering::SeqCst) > 0 {
            s.notify_work();
        }
        s.parkers[index].park();
        searching = s.idle.transition_from_parked(index).searching;
    }
}

#[test]
fn submitted_work_is_always_picked_up() {
    let mut builder = ::loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(|| {
        let s = Arc::new(Shared {
            idle: Idle::new(2),
            parkers: [Parker::default(), Parker::default()],
            work: AtomicUsize::new(0),
            taken: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            main: Parker::default(),
        });
        let workers: Vec<_> = (0..2)
            .map(|i| {
                let s = s.clone();
                thread::spawn(move || worker(&s, i))
            })
            .collect();
        // The submitter (S4): publish, then notify; twice.
        for _ in 0..2 {
            s.work.fetch_add(1, Ordering::SeqCst);
            s.notify_work();
        }
        // Each unit is taken by a different worker; a lost wake-up deadlocks here.
        while s.taken.load(Ordering::SeqCst) < 2 {
            s.main.park();
        }
        assert_eq!(s.work.load(Ordering::SeqCst), 0);
        s.shutdown.store(true, Ordering::SeqCst);
        for p in &s.parkers {
            p.unpark();
        }
        for w in workers {
            w.join().unwrap();
        }
    });
}

/// SY1: one worker goes to sleep and is woken (by its own timer, or by a submitter that counts
/// it in); the monitor, which looks once, may sleep only if it then gets woken.
fn sysmon_model(woken_by_submitter: bool) {
    let mut builder = ::loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(move || {
        let idle = Arc::new(Idle::new(1));
        let worker_parker = Arc::new(Parker::default());
        let sysmon_parker = Arc::new(Parker::default());
        let worker = {
            let (idle, worker_parker, sysmon_parker) =
                (idle.clone(), worker_parker.clone(), sysmon_parker.clone());
            thread::spawn(move || {
                idle.transition_to_parked(0, false);
                if woken_by_submitter {
                    worker_parker.park();
                }
                let woken = idle.transition_from_parked(0);
                assert_eq!(woken.searching, woken_by_submitter);
                if woken.wake_sysmon {
                    sysmon_parker.unpark();
                }
            })
        };
        let submitter = woken_by_submitter.then(|| {
            let (idle, worker_parker) = (idle.clone(), worker_parker.clone());
            thread::spawn(move || {
                // The worker may not be asleep yet; then it wakes by itself in this model.
                loop {
                    if let Some(w) = idle.worker_to_notify() {
                        assert_eq!(w, 0);
                        worker_parker.unpark();
                        return;
                    }
                    thread::yield_now();
                }
            })
        });
        // The monitor: one look; if every worker sleeps, sleep until woken.
        if idle.sysmon_try_sleep() {
            sysmon_parker.park();
            idle.sysmon_woke();
        }
        worker.join().unwrap();
        if let Some(s) = submitter {
            s.join().unwrap();
        }
    });
}

#[test]
fn sysmon_is_woken_by_a_worker_that_wakes_by_itself() {
    sysmon_model(false);
}

#[test]
fn sysmon_is_woken_by_a_worker_counted_in_by_a_submitter() {
    sysmon_model(true);
}
