//! The selection word of one blocked channel operation: who completes it, exactly once.
//!
//! A blocking `send`, `recv` or `select` puts one waiter entry per operation on the wait queues
//! of the channels involved (chan/waiter.rs); all entries of one call share one `Selection`.
//! Ground rules (C1–C4, arch/chan.md):
//! - C1: exactly one party ends the call. A partner (or a disconnection) must first win
//!   `try_claim` (`WAITING` → `CLAIMED`), under the lock of the channel whose queue holds the
//!   entry; the owner gives up with `try_abort` (`WAITING` → `ABORTED`) at its deadline. Every
//!   other attempt fails, and the loser leaves the entry alone. (An operation that is ready
//!   when the call starts is completed by the owner itself before any entry is queued, SE2.)
//! - C2: a claimer transfers the message through the claimed entry's slot, then publishes with
//!   `complete` (`CLAIMED` → `DONE(case)`, release). The owner reads the slot only after it has
//!   seen `DONE` (acquire), so the transfer is visible to it.
//! - C3: after `complete` the claimer touches neither the entry nor the selection again (the
//!   owner may return and free them at once): it copies the owner's unparker before completing
//!   and wakes it through the copy.
//! - C4: `CLAIMED` is short: it lasts while the claimer holds a channel lock, and the claimer
//!   wakes the owner after `complete`, so an owner that sees `CLAIMED` just parks again
//!   (without deadline). The one longer claim is a selected send on a rendezvous channel
//!   (SE5), held until its message is given; it ends in `complete`, or in `unclaim` with the
//!   entry queued again and the owner woken.

use crate::loom::sync::atomic::{AtomicUsize, Ordering};

const WAITING: usize = 0;
const CLAIMED: usize = 1;
const ABORTED: usize = 2;
/// `DONE(case)` is `DONE_BASE + case`.
const DONE_BASE: usize = 3;

/// What the owner of a selection finds when it looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Nobody has chosen an operation yet.
    Waiting,
    /// A partner is completing an operation (C4): it will wake the owner.
    Claimed,
    /// The owner gave up.
    Aborted,
    /// Operation `case` was completed (C2).
    Done(usize),
}

/// The selection word; shared by all waiter entries of one blocking call. `Sync`.
#[derive(Debug)]
pub(crate) struct Selection(AtomicUsize);

impl Selection {
    #[inline]
    pub(crate) fn new() -> Selection {
        Selection(AtomicUsize::new(WAITING))
    }

    /// A partner (or a disconnection), under the lock of the channel holding the entry: wins
    /// the right to complete this call (C1). `false`: someone else did, skip the entry.
    #[inline]
    pub(crate) fn try_claim(&self) -> bool {
        self.0
            .compare_exchange(WAITING, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// The claimer, after the transfer through the entry of `case`: publishes it (C2).
    #[inline]
    pub(crate) fn complete(&self, case: usize) {
        self.0.store(DONE_BASE + case, Ordering::Release);
    }

    /// A claimer that cannot complete after all (a selected send whose message never came,
    /// SE5): hands the call back (`CLAIMED` → `WAITING`), under the lock of the channel whose
    /// queue gets the entry back, then wakes the owner (C4).
    #[inline]
    pub(crate) fn unclaim(&self) {
        self.0.store(WAITING, Ordering::Release);
    }

    /// The owner, at its deadline or when it will not wait: gives up unless a partner claimed
    /// the call first (C1).
    #[inline]
    pub(crate) fn try_abort(&self) -> bool {
        self.0
            .compare_exchange(WAITING, ABORTED, Ordering::Acquire, Ordering::Acquire)
            .is_ok()
    }

    /// The owner: the current state (acquire, so a `Done` transfer is visible, C2).
    #[inline]
    pub(crate) fn seen(&self) -> Seen {
        match self.0.load(Ordering::Acquire) {
            WAITING => Seen::Waiting,
            CLAIMED => Seen::Claimed,
            ABORTED => Seen::Aborted,
            done => Seen::Done(done - DONE_BASE),
        }
    }
}
