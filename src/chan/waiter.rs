//! Waiter entries: how a blocked operation sits on a channel's wait queue (Go's `sudog`).
//!
//! A blocking call builds one [`Waiter`] (its selection word and how to wake it) and one
//! [`Entry`] per operation, all on its own stack, and puts the entries on the channels' wait
//! queues. Stacks never move (coroutine stacks are fixed slots, CO1), so queues hold plain
//! pointers. Ground rules (W1–W3, arch/chan.md), on top of C1–C4 (chan/selection.rs):
//! - W1: an entry is on a queue only while its owner's frame lives: the owner takes every entry
//!   it registered off its queue, under that channel's lock, before it returns (`unregister`).
//! - W2: others touch an entry only while they hold the lock of the channel whose queue holds
//!   it (or held it when they popped it): that is what keeps W1's frame alive under them.
//! - W3: the slot of an entry is written by its owner before the entry is queued (the message of
//!   a send), and afterwards only by the claimer between `try_claim` and `complete` (C1, C2).

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::ptr::NonNull;
use std::time::Instant;

use super::selection::{Seen, Selection};
use crate::park::{self, LocalUnparker, Unparker, Wait};

/// The owner's side of one blocking call: its selection word and its unparker.
#[derive(Debug)]
pub(crate) struct Waiter {
    pub(crate) sel: Selection,
    unparker: LocalUnparker,
}

impl Waiter {
    /// A waiter for the calling coroutine or OS thread.
    #[inline]
    pub(crate) fn new() -> Waiter {
        Waiter {
            sel: Selection::new(),
            unparker: park::current_local(),
        }
    }

    /// Blocks until an operation is completed for this call (`Some(case)`) or the deadline
    /// passes and the call is aborted (`None`). `why` names the wait for the dump (DU1).
    #[inline]
    pub(crate) fn wait(&self, deadline: Option<Instant>, why: Wait) -> Option<usize> {
        // W1 relies on this frame not being left while entries are queued: parking never
        // unwinds today; if it ever did, abort with a message rather than free queued entries.
        let guard = AbortOnUnwind;
        let done = self.wait_inner(deadline, why);
        std::mem::forget(guard);
        done
    }

    #[inline]
    fn wait_inner(&self, deadline: Option<Instant>, why: Wait) -> Option<usize> {
        loop {
            match self.sel.seen() {
                Seen::Done(case) => return Some(case),
                Seen::Aborted => return None,
                // C4: the claimer wakes us after completing.
                Seen::Claimed => park::park(None, why),
                Seen::Waiting => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        if self.sel.try_abort() {
                            return None;
                        }
                        continue;
                    }
                    park::park(deadline, why);
                }
            }
        }
    }
}

/// Aborts if dropped during unwinding (see `Waiter::wait`).
struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        crate::fatal::bug("a channel wait unwound while its entries were queued");
    }
}

/// One operation of a blocked call, on a channel's wait queue.
#[derive(Debug)]
pub(crate) struct Entry<T> {
    waiter: NonNull<Waiter>,
    case: usize,
    /// A send's message (until taken), or where a receive's message is put (W3).
    slot: UnsafeCell<Option<T>>,
    /// A select's send whose message is made only once it is chosen (SE5): it has no message,
    /// and its claimer leaves a `Grant` instead of taking one.
    lazy: bool,
    /// What the claimer of a lazy send granted it (W3: written between claim and complete).
    grant: UnsafeCell<Grant<T>>,
}

/// What a lazy send (SE5) was given by the party that completed it.
#[derive(Debug)]
pub(crate) enum Grant<T> {
    /// Nothing: the receivers' disconnection completed it.
    None,
    /// A reserved buffer slot (the claimer counted it in `reserved`).
    Slot,
    /// A receiver that waits for the message, its own entry claimed by itself (the handshake
    /// of a rendezvous channel).
    Partner(NonNull<Entry<T>>),
}

impl<T> Entry<T> {
    /// An entry for operation `case` of the call waiting on `waiter`.
    pub(crate) fn new(waiter: &Waiter, case: usize, slot: Option<T>) -> Entry<T> {
        Entry {
            waiter: NonNull::from(waiter),
            case,
            slot: UnsafeCell::new(slot),
            lazy: false,
            grant: UnsafeCell::new(Grant::None),
        }
    }

    /// An entry for a send of `case` whose message comes once it is chosen (SE5).
    pub(crate) fn new_lazy(waiter: &Waiter, case: usize) -> Entry<T> {
        Entry {
            lazy: true,
            ..Entry::new(waiter, case, None)
        }
    }

    /// The owner: takes what is in the slot. Only once the entry is off every queue, or after
    /// `Done` was seen for its call (W3, C2).
    pub(crate) fn take(&mut self) -> Option<T> {
        self.slot.get_mut().take()
    }

    /// The owner of a lazy send: what its claimer granted (after `Done`, C2).
    pub(crate) fn take_grant(&mut self) -> Grant<T> {
        std::mem::replace(self.grant.get_mut(), Grant::None)
    }

    /// The owner of a receive entry that claims its own call, for the rendezvous handshake
    /// (SE5): the entry is claimed before any partner sees it, and the partner completes it.
    pub(crate) fn claim_own(&self) -> Claimed<T> {
        // SAFETY: the waiter is the caller's own, alive for this borrow of its entry.
        let waiter = unsafe { self.waiter.as_ref() };
        let claimed = waiter.sel.try_claim();
        debug_assert!(claimed, "a fresh call is claimable");
        Claimed {
            entry: NonNull::from(self),
            // SAFETY: the owner's frame (which made the unparker) is the caller's own.
            unparker: unsafe { waiter.unparker.upgrade() },
        }
    }

    /// The owner of a lazy send, after `Done`: the receiver granted to it as a claimed
    /// partner.
    ///
    /// # Safety
    /// `partner` came from `Grant::Partner` of this call: the receiver made it with
    /// `claim_own` and waits, its frame alive, until the claim is completed or given back.
    pub(crate) unsafe fn partner(partner: NonNull<Entry<T>>) -> Claimed<T> {
        // SAFETY: the caller's contract: the receiver's entry and waiter live.
        let waiter = unsafe { partner.as_ref().waiter.as_ref() };
        Claimed {
            entry: partner,
            // SAFETY: as above.
            unparker: unsafe { waiter.unparker.upgrade() },
        }
    }
}

/// A wait queue of one channel direction, FIFO. Lives inside the channel's lock (W2).
#[derive(Debug)]
pub(crate) struct WaitQueue<T>(VecDeque<NonNull<Entry<T>>>);

// SAFETY: the queue holds pointers to entries whose owners wait on other threads; it is only
// reached under its channel's lock (W2), and the entries' messages are `T: Send`.
unsafe impl<T: Send> Send for WaitQueue<T> {}

impl<T> Default for WaitQueue<T> {
    fn default() -> Self {
        WaitQueue(VecDeque::new())
    }
}

/// An entry whose call this thread has claimed (C1): transfer through it, then `finish`.
pub(crate) struct Claimed<T> {
    entry: NonNull<Entry<T>>,
    unparker: Unparker,
}

impl<T> Claimed<T> {
    /// Takes a send's message out of the claimed entry.
    pub(crate) fn take(&mut self) -> Option<T> {
        // SAFETY: C1/W3: we claimed the entry's call, so until `complete` only we touch its
        // slot, and its owner waits (its frame lives, W1) until `complete`.
        unsafe { (*self.entry.as_ref().slot.get()).take() }
    }

    /// The claimed entry (for a grant).
    pub(crate) fn entry_ptr(&self) -> NonNull<Entry<T>> {
        self.entry
    }

    /// Whether the claimed entry is a lazy send (SE5), which has no message to take.
    pub(crate) fn is_lazy(&self) -> bool {
        // SAFETY: as in `take`.
        unsafe { self.entry.as_ref().lazy }
    }

    /// Grants a claimed lazy send its way to deliver (SE5, W3).
    pub(crate) fn grant(&mut self, grant: Grant<T>) {
        // SAFETY: as in `take`.
        unsafe { *self.entry.as_ref().grant.get() = grant };
    }

    /// Moves a message into a receive's claimed entry.
    pub(crate) fn put(&mut self, msg: &mut Option<T>) {
        // SAFETY: as in `take`.
        unsafe { *self.entry.as_ref().slot.get() = msg.take() };
    }

    /// Gives the claimed call back (C4, SE5): the entry goes back to the front of `queue` (the
    /// queue it was claimed from, whose channel lock the caller holds) and the call waits
    /// again; returns how to wake its owner (after releasing the lock), which parked without
    /// deadline while the claim lasted.
    pub(crate) fn unclaim(self, queue: &mut WaitQueue<T>) -> Unparker {
        // SAFETY: W1/C1 as in `take`: the owner waits for us, so the entry and its waiter live.
        unsafe { self.entry.as_ref().waiter.as_ref() }.sel.unclaim();
        queue.0.push_front(self.entry);
        self.unparker
    }

    /// Publishes the transfer (C2) and returns how to wake the owner (C3: the entry must not
    /// be touched any more; wake after releasing the channel lock).
    pub(crate) fn finish(self) -> Unparker {
        // SAFETY: the entry and its waiter live until `complete` (W1, C1); this is our last
        // access (C3).
        unsafe {
            let entry = self.entry.as_ref();
            entry.waiter.as_ref().sel.complete(entry.case);
        }
        self.unparker
    }
}

impl<T> WaitQueue<T> {
    /// Queues the owner's entry (W1: the owner must `remove` it before its frame ends).
    pub(crate) fn push(&mut self, entry: &Entry<T>) {
        self.0.push_back(NonNull::from(entry));
    }

    /// Takes the oldest entry whose call can still be claimed, and claims it (C1). Entries of
    /// calls completed or aborted elsewhere are dropped from the queue on the way.
    #[inline]
    pub(crate) fn claim(&mut self) -> Option<Claimed<T>> {
        // Every send and receive asks, and the queue is usually empty: no call for that.
        if self.0.is_empty() {
            return None;
        }
        self.claim_queued()
    }

    #[inline(never)]
    fn claim_queued(&mut self) -> Option<Claimed<T>> {
        while let Some(entry) = self.0.pop_front() {
            // SAFETY: W2: we hold the channel lock, so the entry's owner has not returned (it
            // removes its entries under this lock first, W1).
            let waiter = unsafe { entry.as_ref().waiter.as_ref() };
            if waiter.sel.try_claim() {
                return Some(Claimed {
                    entry,
                    // C3: copied now; the waiter may be gone once the claim completes.
                    // SAFETY: W2 as above: the owner's frame, which made the unparker, lives.
                    unparker: unsafe { waiter.unparker.upgrade() },
                });
            }
        }
        None
    }

    /// Whether no entry is queued (stale ones count).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Completes every queued call that can still be claimed, except those of `except` (the
    /// caller's own call), leaving their slots empty, and adds how to wake them to `wake`. For
    /// the queue of watchers (SE5): each is told "something changed here, look again".
    pub(crate) fn notify_all(&mut self, except: Option<&Waiter>, wake: &mut Vec<Unparker>) {
        let except = except.map(NonNull::from);
        let mut kept = VecDeque::new();
        while let Some(entry) = self.0.pop_front() {
            // SAFETY: W2 as in `claim_queued`.
            let waiter_ptr = unsafe { entry.as_ref().waiter };
            if Some(waiter_ptr) == except {
                kept.push_back(entry);
                continue;
            }
            // SAFETY: W2 as in `claim_queued`.
            let waiter = unsafe { waiter_ptr.as_ref() };
            if waiter.sel.try_claim() {
                // SAFETY: W2 as in `claim_queued`.
                let unparker = unsafe { waiter.unparker.upgrade() };
                let claimed = Claimed { entry, unparker };
                wake.push(claimed.finish());
            }
        }
        self.0 = kept;
    }

    /// Takes the owner's own entry off the queue, if it is still there (W1). `entry` must be
    /// the queued entry itself, where it lies (the queue knows it by address).
    pub(crate) fn remove(&mut self, entry: &Entry<T>) {
        let ptr = NonNull::from(entry);
        if let Some(i) = self.0.iter().position(|e| *e == ptr) {
            self.0.remove(i);
        }
    }

    /// Disconnection: claims and completes every queued call that can still be claimed,
    /// leaving their slots as they are (a send gets its message back, a receive finds none),
    /// and returns how to wake them.
    pub(crate) fn disconnect(&mut self) -> Vec<Unparker> {
        let mut wake = Vec::new();
        while let Some(claimed) = self.claim() {
            wake.push(claimed.finish());
        }
        wake
    }
}
