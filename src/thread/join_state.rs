//! The hand-off word of a join packet (thread/join.rs): who may touch the result and waiter.
//!
//! Ground rules (J1–J4, arch/park.md):
//! - J1: only the coroutine writes the result, before `complete` (release); the joiner reads it
//!   only after it has seen `is_done` (acquire).
//! - J2: only the joiner writes the waiter, and only before `start_waiting` (release); the
//!   coroutine reads it only if `complete` returned `true` (acquire). After `start_waiting`
//!   the joiner never touches the waiter again.
//! - J3: there is one joiner at most (`join` consumes the handle, which is not `Clone`).
//! - J4: a handle dropped without joining detaches: whichever side comes second — the handle
//!   seeing `DONE` in `detach`, or the coroutine seeing `DETACHED` in `complete` — takes the
//!   result and drops it, so a detached result is dropped exactly once and promptly.

use crate::loom::sync::atomic::{AtomicU8, Ordering};

/// The body is still running; no joiner waits.
const RUNNING: u8 = 0;
/// The joiner has stored its waiter and waits.
const WAITING: u8 = 1;
/// The result is published.
const DONE: u8 = 2;
/// The handle was dropped without joining; nobody will read the result.
const DETACHED: u8 = 3;

/// What the coroutine must do after publishing its result (`JoinState::complete`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Completed {
    /// Nothing: the handle will read the result, or drop it (J4).
    Kept,
    /// A joiner waits: take the waiter and wake it (J2).
    WakeJoiner,
    /// The handle is gone: take the result back and drop it (J4).
    DropResult,
}

/// The state word of one join packet. `Sync`.
#[derive(Debug)]
pub(crate) struct JoinState(AtomicU8);

impl JoinState {
    #[inline]
    pub(crate) fn new() -> JoinState {
        JoinState(AtomicU8::new(RUNNING))
    }

    /// The coroutine, after writing the result: publishes it, and says who else needs it.
    #[inline]
    pub(crate) fn complete(&self) -> Completed {
        match self.0.swap(DONE, Ordering::AcqRel) {
            WAITING => Completed::WakeJoiner,
            DETACHED => Completed::DropResult,
            _ => Completed::Kept,
        }
    }

    /// The handle, dropped without joining: returns `true` if the result is already published,
    /// in which case the caller takes it and drops it (J4); else the coroutine will.
    #[inline]
    pub(crate) fn detach(&self) -> bool {
        // After a join the state is `DONE`: a load settles it without a read-modify-write.
        self.0.load(Ordering::Acquire) == DONE
            || self
                .0
                .compare_exchange(RUNNING, DETACHED, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
    }

    /// The joiner, after writing its waiter: returns `true` if it must wait for `is_done`,
    /// `false` if the result is already there (the waiter was not looked at).
    #[inline]
    pub(crate) fn start_waiting(&self) -> bool {
        self.0
            .compare_exchange(RUNNING, WAITING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Whether the result is published (J1).
    #[inline]
    pub(crate) fn is_done(&self) -> bool {
        self.0.load(Ordering::Acquire) == DONE
    }
}
