//! The run state of a coroutine: one atomic byte, named states, named transitions.
//!
//! Ground rules (arch/park.md):
//! - P1: a coroutine becomes `PARKED` only through [`RunState::transition_to_parked`], which the
//!   owning worker calls *after* the coroutine has switched off its stack. Wakers can therefore
//!   never make runnable a coroutine that is still running on its stack.
//! - P2: a wake makes a coroutine runnable at most once: only the waker that sets `WAKE` on
//!   `PARKED` may enqueue it; every other wake finds `WAKE` set or the coroutine not parked.
//! - P3: no wake is lost: a wake that arrives while the coroutine runs (or sits in a queue) sets
//!   `WAKE`, which makes the commit of the next park fail, so that park returns at once.
//! - P9: every wake is a read-modify-write of the word (release), and a wake is consumed only
//!   by one (acquire): when the worker pops a woken coroutine, or by the coroutine's
//!   `try_consume_wake`. So whatever a waker wrote before its wake is visible to the coroutine
//!   once the wake is consumed, even when that wake found another one pending.
//! - P4: `WAKE` is a raw, spurious-allowed signal. Every wait built on it rechecks its own
//!   condition in a loop (the user-visible park token lives in `coroutine/token.rs`).
//!
//! | base      | meaning                                        | who leaves it, how          |
//! |-----------|------------------------------------------------|-----------------------------|
//! | `QUEUED`  | not yet started (in a run queue)               | the worker that pops it     |
//! | `RUNNING` | on its stack, switching off it, or yielded      | its owner: park/done        |
//! | `PARKED`  | switched off, waiting for a wake               | the waker that sets `WAKE`  |
//! | `PARKED \| WAKE` | woken, in a run queue                  | the worker that pops it     |
//! | `DONE`    | finished; wakes are ignored                    | nobody                      |
//!
//! `WAKE` (bit 2) may accompany any base state; once the base is `DONE` it is ignored.

use crate::loom::sync::atomic::{AtomicU8, Ordering};

const RUNNING: u8 = 0;
const PARKED: u8 = 1;
const QUEUED: u8 = 2;
const DONE: u8 = 3;
const BASE: u8 = 0b11;
/// A wake is pending: set by wakers, consumed by the coroutine when it returns from a park.
const WAKE: u8 = 0b100;

/// Outcome of [`RunState::wake`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// The coroutine was parked; the caller made it `PARKED | WAKE` (queued) and must enqueue
    /// it (P2).
    Enqueue,
    /// The wake was recorded (or the coroutine is done); nothing more to do.
    Recorded,
}

/// The atomic run-state word of one coroutine.
#[derive(Debug)]
pub(crate) struct RunState(AtomicU8);

impl RunState {
    /// A new coroutine starts queued: it is about to be pushed on a run queue.
    #[inline]
    pub(crate) fn new_queued() -> RunState {
        RunState(AtomicU8::new(QUEUED))
    }

    /// The owning worker popped the coroutine: `QUEUED` (a new coroutine) or `PARKED | WAKE`
    /// (a woken one) → `RUNNING`, consuming the wake (P9). A coroutine that yielded never left
    /// `RUNNING` and needs no write; a wake pending on it is kept for its next park (P3).
    /// Returns whether the coroutine was parked.
    #[inline]
    pub(crate) fn transition_to_running(&self) -> bool {
        let cur = self.0.load(Ordering::Relaxed);
        debug_assert!(
            matches!(cur & BASE, QUEUED | RUNNING) || cur == PARKED | WAKE,
            "popped a parked or done coroutine"
        );
        if cur & BASE != RUNNING {
            // P9: a read-modify-write, so that it reads the last wake's write and the
            // coroutine sees what every waker so far did before waking it.
            self.0.swap(RUNNING, Ordering::Acquire);
        }
        cur & BASE == PARKED
    }

    /// Inside the coroutine, before switching: consumes a pending wake, if any, so the park
    /// can return without a switch.
    #[inline]
    pub(crate) fn try_consume_wake(&self) -> bool {
        // A plain load first: usually there is no wake, and a failing CAS costs as much as one
        // that succeeds.
        self.0.load(Ordering::Relaxed) == RUNNING | WAKE
            && self
                .0
                .compare_exchange(
                    RUNNING | WAKE,
                    RUNNING,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    /// On the worker, after the coroutine switched off its stack to park: commits the park
    /// (P1). Returns `false` when a wake arrived since the coroutine last consumed one; the
    /// coroutine then stays `RUNNING` and the worker resumes it at once (P3).
    #[inline]
    pub(crate) fn transition_to_parked(&self) -> bool {
        self.0
            .compare_exchange(RUNNING, PARKED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// On the worker, after the coroutine returned: `RUNNING` → `DONE`.
    #[inline]
    pub(crate) fn transition_to_done(&self) {
        let prev = self.0.fetch_or(DONE, Ordering::Release);
        debug_assert_eq!(prev & BASE, RUNNING);
    }

    /// Whether the coroutine is parked and not woken (for the dump; its owner worker reads it
    /// between resumes, when only a wake can change it).
    pub(crate) fn is_parked(&self) -> bool {
        self.0.load(Ordering::Acquire) == PARKED
    }

    /// Any thread: makes the coroutine runnable (P2, P3).
    #[inline]
    pub(crate) fn wake(&self) -> Wake {
        // P9: always a read-modify-write, even when a wake is already pending: a waker that
        // only looked would not be ordered before the owner's next consuming RMW, and the
        // coroutine could miss what this waker did before waking it, then park for ever.
        // P2: only the waker that sets `WAKE` on a committed park enqueues; `PARKED | WAKE`
        // then means "queued" until the owner pops it.
        if self.0.fetch_or(WAKE, Ordering::AcqRel) == PARKED {
            Wake::Enqueue
        } else {
            Wake::Recorded
        }
    }
}
