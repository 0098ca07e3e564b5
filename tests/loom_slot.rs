//! Loom model of a spare slot's retirement against a placement (scheduler/slot.rs, HO2): a
//! placer places a coroutine on the spare while sysmon retires it and the spare, draining its
//! inbox, tries to leave. A placement that reaches the inbox of a spare that has left is a lost
//! coroutine; the model asserts that none is left behind and that every counted placement was
//! taken out.
//!
//! Run: `RUSTFLAGS="--cfg weft_loom" CARGO_TARGET_DIR=target/loom cargo test --release --test
//! loom_slot`
#![cfg(weft_loom)]
#![allow(dead_code)]

mod loom {
    pub(crate) mod sync {
        pub(crate) mod atomic {
            pub(crate) use ::loom::sync::atomic::{AtomicUsize, Ordering};
        }
    }
}

#[path = "../src/scheduler/slot.rs"]
mod slot;

use ::loom::sync::atomic::{AtomicUsize, Ordering};
use ::loom::sync::{Arc, Mutex};
use ::loom::thread;
use slot::Slot;

/// The spare's inbox: coroutines are numbers.
type Inbox = Mutex<Vec<usize>>;

fn model(placers: usize) {
    let mut builder = ::loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(move || {
        let slot = Arc::new(Slot::new(false));
        assert!(slot.activate());
        let inbox: Arc<Inbox> = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::new(AtomicUsize::new(0));
        let placing: Vec<_> = (0..placers)
            .map(|i| {
                let (slot, inbox, kept) = (slot.clone(), inbox.clone(), kept.clone());
                thread::spawn(move || {
                    // `Scheduler::place`: counted first; a refusal keeps the coroutine.
                    if slot.try_place() {
                        inbox.lock().unwrap().push(i);
                    } else {
                        kept.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        let sysmon = {
            let slot = slot.clone();
            thread::spawn(move || slot.retire())
        };
        // The spare's loop (worker.rs, `work` and `Core::retire`): drain the inbox; once
        // retired with an empty inbox, try to leave.
        let mut taken = 0;
        loop {
            let drained: Vec<usize> = std::mem::take(&mut *inbox.lock().unwrap());
            for _ in drained {
                slot.took_placed();
                taken += 1;
            }
            if slot.is_retiring() && inbox.lock().unwrap().is_empty() && slot.try_exit() {
                break;
            }
            thread::yield_now();
        }
        for p in placing {
            p.join().unwrap();
        }
        sysmon.join().unwrap();
        // HO2: nothing left behind in the inbox of the spare that left; every placement was
        // either taken out by it or kept by its placer.
        assert!(
            inbox.lock().unwrap().is_empty(),
            "a placed coroutine was left behind"
        );
        assert_eq!(taken + kept.load(Ordering::SeqCst), placers);
        assert_eq!(slot.placed(), 0);
        assert!(slot.is_idle());
    });
}

#[test]
fn a_placement_racing_the_retirement_is_never_left_behind() {
    model(1);
}

#[test]
fn two_placements_racing_the_retirement_are_never_left_behind() {
    model(2);
}
