//! Loom models of `block_on`'s wake protocol (src/future/signal.rs, FU1): no wake is lost
//! between the caller's poll, its decision to park and a waker on another thread, and a wake
//! that comes late (after the call returned) does no harm to the caller's next call.
//!
//! `src/future/signal.rs` is compiled here as it is, against a loom facade of the same shape as
//! `src/loom.rs`; the caller's park is the one-token parker of `support/loom_parker.rs` (a
//! coroutine's park keeps an early unpark the same way, P3). The "future" is ready once its
//! wakers have published their work (a counter), as a real future is ready once the event its
//! waker reports has happened. A lost wake shows as a loom deadlock (the caller parked forever).
//!
//! Run: `RUSTFLAGS="--cfg weft_loom" cargo test --release --test loom_future`
#![cfg(weft_loom)]
#![allow(dead_code)]

mod loom {
    pub(crate) mod sync {
        pub(crate) mod atomic {
            pub(crate) use ::loom::sync::atomic::{AtomicU8, Ordering};
        }
    }
}

#[path = "support/loom_parker.rs"]
mod parker;
#[path = "../src/future/signal.rs"]
mod signal;

use ::loom::sync::Arc;
use ::loom::sync::atomic::{AtomicUsize, Ordering};
use ::loom::thread;
use parker::Parker;
use signal::Flags;

struct Call {
    flags: Flags,
    parker: Parker,
    /// The future's state: how many events happened.
    events: AtomicUsize,
}

impl Call {
    fn new() -> Arc<Self> {
        Arc::new(Call {
            flags: Flags::new(),
            parker: Parker::default(),
            events: AtomicUsize::new(0),
        })
    }

    /// A waker on another thread: the event happens (Relaxed: the wake must publish it), then
    /// the wake.
    fn event_and_wake(&self) {
        self.events.fetch_add(1, Ordering::Relaxed);
        if self.flags.wake() {
            self.parker.unpark();
        }
    }

    /// `block_on`'s loop, step for step, over a future that is ready at `target` events.
    /// Returns how many polls it took.
    fn block_on(&self, target: usize) -> usize {
        let mut polls = 0;
        loop {
            self.flags.before_poll();
            polls += 1;
            if self.events.load(Ordering::Relaxed) >= target {
                return polls;
            }
            if self.flags.begin_park() {
                self.parker.park();
                while self.flags.must_park() {
                    self.parker.park();
                }
            }
        }
    }
}

/// FU1: one wake from another thread, racing the poll and the park: the caller returns.
#[test]
fn one_wake_races_poll_and_park() {
    ::loom::model(|| {
        let call = Call::new();
        let waker = {
            let call = call.clone();
            thread::spawn(move || call.event_and_wake())
        };
        let polls = call.block_on(1);
        waker.join().unwrap();
        assert!((1..=2).contains(&polls), "{polls} polls for one wake");
    });
}

/// FU1 with P9's rule: two wakers whose wakes collapse into one (the second swap finds
/// `notified` set) still publish both events to the caller's next poll.
#[test]
fn two_wakes_collapse_without_loss() {
    let mut builder = ::loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(|| {
        let call = Call::new();
        let wakers: Vec<_> = (0..2)
            .map(|_| {
                let call = call.clone();
                thread::spawn(move || call.event_and_wake())
            })
            .collect();
        call.block_on(2);
        for w in wakers {
            w.join().unwrap();
        }
    });
}

/// A wake during the poll (here from the caller itself, as a future that wakes its own waker
/// does) makes the caller poll again without parking.
#[test]
fn wake_from_inside_the_poll_needs_no_unpark() {
    ::loom::model(|| {
        let call = Call::new();
        call.flags.before_poll();
        call.events.fetch_add(1, Ordering::Relaxed);
        assert!(!call.flags.wake(), "no unpark: the caller is not parked");
        assert!(!call.flags.begin_park(), "the caller polls again at once");
    });
}

/// A wake that arrives after the call returned (the future completed for another reason)
/// leaves at most a spurious wake-up, and the caller's next call on the same flags still
/// waits for its own event and gets it.
#[test]
fn late_wake_harms_no_later_call() {
    let mut builder = ::loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(|| {
        let call = Call::new();
        // The first call's future is ready at once, but a waker of it still fires.
        let late = {
            let call = call.clone();
            thread::spawn(move || {
                if call.flags.wake() {
                    call.parker.unpark();
                }
            })
        };
        assert_eq!(call.block_on(0), 1);
        // The second call waits for one event from another thread.
        let waker = {
            let call = call.clone();
            thread::spawn(move || call.event_and_wake())
        };
        call.block_on(1);
        late.join().unwrap();
        waker.join().unwrap();
    });
}
