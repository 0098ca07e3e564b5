//! Timer receivers: `after`, `tick` and `never` (crossbeam's `at`, `tick` and `never` flavors).
//!
//! No timer thread and no queue: a timer receiver only knows when its next message is due.
//! Receiving parks until then (`thread::sleep`'s timers, T1–T3); `select` uses the due time as
//! a deadline and tries again when it passes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// One message, due at `due` (`None`: too far in the future to represent; never due).
#[derive(Debug)]
pub(crate) struct At {
    due: Option<Instant>,
    delivered: AtomicBool,
}

impl At {
    pub(crate) fn new(due: Option<Instant>) -> At {
        At {
            due,
            delivered: AtomicBool::new(false),
        }
    }

    /// The message, if it is due and nobody took it yet.
    pub(crate) fn try_recv(&self, now: Instant) -> Option<Instant> {
        let due = self.due?;
        (now >= due && !self.delivered.swap(true, Ordering::AcqRel)).then_some(due)
    }

    /// When a receive could next succeed (`None`: never).
    pub(crate) fn next_due(&self) -> Option<Instant> {
        if self.delivered.load(Ordering::Acquire) {
            None
        } else {
            self.due
        }
    }
}

/// A message every `period`; a slow receiver misses ticks (they do not pile up).
#[derive(Debug)]
pub(crate) struct Tick {
    period: Duration,
    /// When the next message is due (`None`: beyond what `Instant` can hold).
    next: Mutex<Option<Instant>>,
}

impl Tick {
    pub(crate) fn new(first: Option<Instant>, period: Duration) -> Tick {
        Tick {
            period,
            next: Mutex::new(first),
        }
    }

    /// The message (the instant it was due), if one is due; the next one is due a period
    /// after `now`.
    pub(crate) fn try_recv(&self, now: Instant) -> Option<Instant> {
        let mut next = self.next.lock();
        let due = (*next)?;
        if now < due {
            return None;
        }
        *next = now.checked_add(self.period);
        Some(due)
    }

    pub(crate) fn next_due(&self) -> Option<Instant> {
        *self.next.lock()
    }
}
