//! The hand-off word of a join packet (thread/join.rs): who may touch the result and waiter.
//!
//! Ground rules (J1–J3, arch/park.md):
//! - J1: only the coroutine writes the result, before `complete` (release); the joiner reads it
//!   only after it has seen `is_done` (acquire).
//! - J2: only the joiner writes the waiter, and only before `start_waiting` (release); the
//!   coroutine reads it only if `complete` returned `true` (acquire). After `start_waiting`
//!   the joiner never touches the waiter again.
//! - J3: there is one joiner at most (`join` consumes the handle, which is not `Clone`).

use crate::loom::sync::atomic::{AtomicU8, Ordering};

/// The body is still running; no joiner waits.
const RUNNING: u8 = 0;
/// The joiner has stored its waiter and waits.
const WAITING: u8 = 1;
/// The result is published.
const DONE: u8 = 2;

/// The state word of one join packet. `Sync`.
#[derive(Debug)]
pub(crate) struct JoinState(AtomicU8);

impl JoinState {
    pub(crate) fn new() -> JoinState {
        JoinState(AtomicU8::new(RUNNING))
    }

    /// The coroutine, after writing the result: publishes it. Returns `true` when a joiner
    /// waits: the caller must then take the waiter and wake it (J2).
    pub(crate) fn complete(&self) -> bool {
        self.0.swap(DONE, Ordering::AcqRel) == WAITING
    }

    /// The joiner, after writing its waiter: returns `true` if it must wait for `is_done`,
    /// `false` if the result is already there (the waiter was not looked at).
    pub(crate) fn start_waiting(&self) -> bool {
        self.0
            .compare_exchange(RUNNING, WAITING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Whether the result is published (J1).
    pub(crate) fn is_done(&self) -> bool {
        self.0.load(Ordering::Acquire) == DONE
    }
}
