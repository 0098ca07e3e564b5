//! The raw one-time initialisation under `sync::Once`, `OnceLock` and `LazyLock`.
//!
//! State: `INCOMPLETE`, `RUNNING`, `COMPLETE` or `POISONED` in bits 0–1, and `PARKED` (nodes
//! are queued). Invariants (O1–O3, arch/sync.md):
//! - O1: exactly one caller at a time runs an initialiser: the one whose CAS moved the state
//!   to `RUNNING`. It may park (sleep, I/O, locks) like any code; the others park on the queue,
//!   so a worker is never blocked by a waiting coroutine.
//! - O2: the runner leaves `RUNNING` with one swap (to `COMPLETE`, or to `POISONED` when the
//!   initialiser panicked), which clears `PARKED`; if `PARKED` was set it wakes every queued
//!   node. A waiter parks only after it set `PARKED` by CAS from the state it saw, under the
//!   queue lock, so the swap finds it: no lost wake-up.
//! - O3: `COMPLETE` is final and published with `Release`; readers load it with `Acquire`, so
//!   the initialised value is visible to whoever sees `COMPLETE`.

use super::waitq::{Node, WaitQueue};
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::park::Wait;

const INCOMPLETE: usize = 0;
const RUNNING: usize = 1;
const COMPLETE: usize = 2;
const POISONED: usize = 3;
const STATE: usize = 3;
const PARKED: usize = 4;

const WOKEN: usize = 1;

/// What a waiting caller found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    Complete,
    /// Nobody runs it; `true` if the last run panicked.
    Free {
        poisoned: bool,
    },
}

#[derive(Debug)]
pub(crate) struct RawOnce {
    state: AtomicUsize,
    queue: WaitQueue,
}

impl RawOnce {
    pub(crate) const fn new() -> RawOnce {
        RawOnce {
            state: AtomicUsize::new(INCOMPLETE),
            queue: WaitQueue::new(),
        }
    }

    /// A `RawOnce` that is complete from the start.
    pub(crate) const fn new_complete() -> RawOnce {
        RawOnce {
            state: AtomicUsize::new(COMPLETE),
            queue: WaitQueue::new(),
        }
    }

    #[inline]
    pub(crate) fn is_complete(&self) -> bool {
        self.state.load(Ordering::Acquire) & STATE == COMPLETE
    }

    /// Whether an initialiser runs now (a snapshot).
    pub(crate) fn is_running(&self) -> bool {
        self.state.load(Ordering::Relaxed) & STATE == RUNNING
    }

    /// Waits while someone runs the initialiser, then reports what it left (O2).
    pub(crate) fn wait_while_running(&self) -> Seen {
        loop {
            let s = self.state.load(Ordering::Acquire);
            match s & STATE {
                COMPLETE => return Seen::Complete,
                INCOMPLETE => return Seen::Free { poisoned: false },
                POISONED => return Seen::Free { poisoned: true },
                _ => self.park_unless_changed(s),
            }
        }
    }

    /// Waits until the state is `COMPLETE`, whoever completes it; returns `false` instead
    /// if it is poisoned (with `stop_at_poison`).
    pub(crate) fn wait_complete(&self, stop_at_poison: bool) -> bool {
        loop {
            let s = self.state.load(Ordering::Acquire);
            match s & STATE {
                COMPLETE => return true,
                POISONED if stop_at_poison => return false,
                _ => self.park_unless_changed(s),
            }
        }
    }

    /// Parks until the runner leaves `RUNNING` (or anyone changes the state from `s`).
    fn park_unless_changed(&self, s: usize) {
        let node = Node::new(0);
        {
            let mut q = self.queue.lock();
            let now = self.state.load(Ordering::Relaxed);
            if now != s {
                return;
            }
            // O2: PARKED set by CAS from the state seen under the queue lock.
            if s & PARKED == 0
                && self
                    .state
                    .compare_exchange(s, s | PARKED, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                return;
            }
            q.push_back(&node);
        }
        node.wait(&self.queue, None, Wait::Once(self as *const Self as usize));
    }

    /// Tries to become the runner (O1): from `INCOMPLETE`, or from `POISONED` if `poisoned`.
    pub(crate) fn try_start(&self, poisoned: bool) -> bool {
        let from = if poisoned { POISONED } else { INCOMPLETE };
        let mut s = self.state.load(Ordering::Relaxed);
        while s & STATE == from {
            match self.state.compare_exchange_weak(
                s,
                RUNNING | (s & PARKED),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
        false
    }

    /// The runner leaves `RUNNING`: completed (O3) or poisoned, waking every waiter (O2).
    pub(crate) fn finish(&self, completed: bool) {
        let to = if completed { COMPLETE } else { POISONED };
        let before = self.state.swap(to, Ordering::AcqRel);
        debug_assert_eq!(before & STATE, RUNNING);
        if before & PARKED != 0 {
            let woken = self.queue.lock().wake_up_to(usize::MAX, WOKEN);
            for u in woken {
                u.unpark();
            }
        }
    }
}
