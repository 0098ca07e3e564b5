//! Loom model of a spare slot's retirement against a placement (scheduler/slot.rs, HO2): a
//! placer places a coroutine on the spare while sysmon retires it and the spare, draining its
//! inbox, tries to leave, sleeping on its parker in between. A placement that reaches the inbox
//! of a spare that has left is a lost coroutine, and a spare asleep with nobody to wake it is a
//! thread stuck for good (loom reports the deadlock); the model asserts that nothing is left
//! behind and that every counted placement was taken out. (Found by review: a refused
//! placement's count can make the spare's leaving fail, and the placer did not wake it.)
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

#[path = "support/loom_parker.rs"]
mod loom_parker;
use loom_parker::Parker;

/// The spare's inbox: coroutines are numbers.
type Inbox = Mutex<Vec<usize>>;

/// `placers` placements race the retirement, with at most `preemptions` preemptions per
/// execution (3 for one placer; 2 keeps the two-placer model under a minute).
fn model(placers: usize, preemptions: usize) {
    let mut builder = ::loom::model::Builder::new();
    builder.preemption_bound = Some(preemptions);
    builder.check(move || {
        let slot = Arc::new(Slot::new(false));
        assert!(slot.activate());
        let inbox: Arc<Inbox> = Arc::new(Mutex::new(Vec::new()));
        let parker = Arc::new(Parker::default());
        let kept = Arc::new(AtomicUsize::new(0));
        let placing: Vec<_> = (0..placers)
            .map(|i| {
                let (slot, inbox, kept, parker) =
                    (slot.clone(), inbox.clone(), kept.clone(), parker.clone());
                thread::spawn(move || {
                    // `Scheduler::place`: counted first, pushed if counted, and the spare woken
                    // either way (a refused count may have made its leaving fail); a refusal
                    // keeps the coroutine.
                    let placed = slot.try_place();
                    if placed {
                        inbox.lock().unwrap().push(i);
                    }
                    parker.unpark();
                    if !placed {
                        kept.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        let sysmon = {
            let (slot, parker) = (slot.clone(), parker.clone());
            thread::spawn(move || {
                // `Scheduler::retire_spare`.
                slot.retire();
                parker.unpark();
            })
        };
        // The spare's loop (worker.rs, `work`, `Core::retire`, `sleep_retired`): drain the
        // inbox; once retired with an empty inbox, try to leave; else sleep until woken. A
        // wake-up nobody sends is a loom deadlock.
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
            parker.park();
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
    model(1, 3);
}

#[test]
fn two_placements_racing_the_retirement_are_never_left_behind() {
    model(2, 2);
}
