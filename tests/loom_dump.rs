//! Loom model of the dump's hand-shake between collectors and a worker (scheduler/dump.rs
//! `collect_dump`, scheduler/worker.rs `answer_dump`; DU4, DU5 in arch/dump.md), step for step:
//! a collector pushes its request on the worker's list (under the list's lock), raises the
//! worker's `dump_wanted` flag (SeqCst) and unparks the worker; the worker, when it wakes (and
//! at its fairness ticks), loads the flag (Relaxed), and if it is set clears it (Relaxed) and
//! takes the whole list (under the lock), answering each request once.
//!
//! The model asserts that every request is answered exactly once, by a worker that sleeps on
//! its one-token parker between looks, with two collectors racing each other and the worker: a
//! request left on the list with the flag down, or a wake-up lost, would leave the worker
//! asleep for ever, which loom reports as a deadlock. (The code's own 300 ms bound would turn
//! that into a worker wrongly reported as held; the model has no clock and no bound, so it
//! fails instead.)
//!
//! Run: `RUSTFLAGS="--cfg weft_loom" CARGO_TARGET_DIR=target/loom cargo test --release --test
//! loom_dump`
#![cfg(weft_loom)]

use ::loom::sync::atomic::{AtomicBool, Ordering};
use ::loom::sync::{Arc, Mutex};
use ::loom::thread;

#[path = "support/loom_parker.rs"]
mod loom_parker;
use loom_parker::Parker;

/// A worker's `Remote`, reduced to the dump's parts.
#[derive(Default)]
struct Remote {
    /// `Remote::dump`: the requests waiting for an answer (request ids here).
    dump: Mutex<Vec<usize>>,
    /// `Remote::dump_wanted`.
    dump_wanted: AtomicBool,
    parker: Parker,
    /// What the worker answered, in order (the model's observation).
    answered: Mutex<Vec<usize>>,
}

impl Remote {
    /// `collect_dump`, the asking half: push, raise the flag, unpark.
    fn ask(&self, request: usize) {
        self.dump.lock().unwrap().push(request);
        self.dump_wanted.store(true, Ordering::SeqCst);
        self.parker.unpark();
    }

    /// `Core::answer_dump` and `answer_dump_now`.
    fn answer_dump(&self) {
        if !self.dump_wanted.load(Ordering::Relaxed) {
            return;
        }
        self.dump_wanted.store(false, Ordering::Relaxed);
        let requests = std::mem::take(&mut *self.dump.lock().unwrap());
        self.answered.lock().unwrap().extend(requests);
    }
}

fn model(collectors: usize, preemptions: usize) {
    let mut builder = ::loom::model::Builder::new();
    builder.preemption_bound = Some(preemptions);
    builder.check(move || {
        let remote = Arc::new(Remote::default());
        let askers: Vec<_> = (0..collectors)
            .map(|i| {
                let remote = remote.clone();
                thread::spawn(move || remote.ask(i))
            })
            .collect();
        // The worker: a fairness tick's look, then sleep and look again until every request
        // it will ever get is answered (a lost one leaves it asleep: loom's deadlock).
        remote.answer_dump();
        while remote.answered.lock().unwrap().len() < collectors {
            remote.parker.park();
            remote.answer_dump();
        }
        for asker in askers {
            asker.join().unwrap();
        }
        let mut answered = remote.answered.lock().unwrap().clone();
        answered.sort_unstable();
        assert_eq!(
            answered,
            (0..collectors).collect::<Vec<_>>(),
            "each request once"
        );
        assert!(
            remote.dump.lock().unwrap().is_empty(),
            "nothing left behind"
        );
    });
}

#[test]
fn one_collector() {
    model(1, 3);
}

#[test]
fn two_collectors_race_the_worker() {
    model(2, 3);
}
