//! A worker slot's life, as the other threads see it: whether it takes new coroutines, and how
//! many have been placed on it (S8, HO1–HO3 in arch/scheduler.md).
//!
//! The configured workers' slots are `ACTIVE` for good. The spare slots (as many as workers)
//! are `IDLE` until sysmon hands a held worker's share of the work to one (`activate`); the
//! spare's thread then runs like any worker. When the held worker is back, sysmon `retire`s
//! the spare: it takes no new coroutine from then on, runs its started ones to their end, and
//! leaves (`try_exit`), which makes the slot `IDLE` again.
//!
//! - HO2: a coroutine placed on a slot (S8) is never left in the inbox of a thread that has
//!   left. The state and the count of placements pending live in one word, so every step is a
//!   read-modify-write of that word: a placement counts itself only while the state is
//!   `ACTIVE` (else it takes the count back and its placer keeps the coroutine), and the thread
//!   leaves only by a CAS from "`RETIRING`, nothing pending". Whichever comes first in the
//!   word's modification order, the other sees it.

use crate::loom::sync::atomic::{AtomicUsize, Ordering};

/// The slot has no thread; sysmon may start one in it.
const IDLE: usize = 0;
/// The slot's thread takes new coroutines.
const ACTIVE: usize = 1;
/// The slot's thread runs only the coroutines it has started, then leaves.
const RETIRING: usize = 2;
/// The state is in the low bits, the placements pending above them.
const STATE: usize = 0b11;
const ONE_PLACED: usize = 0b100;

/// The shared state of one worker slot. `Sync`.
#[derive(Debug)]
pub(crate) struct Slot {
    /// The state (low two bits) and the coroutines placed here and not taken from the inbox
    /// yet (the rest).
    word: AtomicUsize,
}

impl Slot {
    /// A configured worker's slot (`ACTIVE` for good), or a spare's (`IDLE`).
    pub(crate) fn new(active: bool) -> Slot {
        Slot {
            word: AtomicUsize::new(if active { ACTIVE } else { IDLE }),
        }
    }

    fn state(&self) -> usize {
        self.word.load(Ordering::Relaxed) & STATE
    }

    /// Whether the slot's thread takes new coroutines.
    #[inline]
    pub(crate) fn is_active(&self) -> bool {
        self.state() == ACTIVE
    }

    /// Whether the slot has no thread.
    #[inline]
    pub(crate) fn is_idle(&self) -> bool {
        self.state() == IDLE
    }

    /// Whether the slot's thread has been told to leave.
    #[inline]
    pub(crate) fn is_retiring(&self) -> bool {
        self.state() == RETIRING
    }

    /// Coroutines placed here and not taken out yet (S8's load).
    #[inline]
    pub(crate) fn placed(&self) -> usize {
        self.word.load(Ordering::Relaxed) / ONE_PLACED
    }

    /// HO2, the placer: counts one placement if the slot takes new coroutines. `false`: it
    /// does not (any more); nothing is counted and the caller keeps the coroutine.
    pub(crate) fn try_place(&self) -> bool {
        let before = self.word.fetch_add(ONE_PLACED, Ordering::AcqRel);
        if before & STATE == ACTIVE {
            return true;
        }
        self.word.fetch_sub(ONE_PLACED, Ordering::AcqRel);
        false
    }

    /// The slot's thread took a placed coroutine out of its inbox.
    pub(crate) fn took_placed(&self) {
        self.word.fetch_sub(ONE_PLACED, Ordering::AcqRel);
    }

    /// sysmon: a spare slot gets a thread. Returns `false` if it is not idle (or a refused
    /// placement has not taken its count back yet).
    pub(crate) fn activate(&self) -> bool {
        self.word
            .compare_exchange(IDLE, ACTIVE, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// sysmon: the spare's thread takes no new coroutine from now on, and leaves once its
    /// started ones have ended.
    pub(crate) fn retire(&self) {
        let _ = self
            .word
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |w| {
                (w & STATE == ACTIVE).then_some(w - ACTIVE + RETIRING)
            });
    }

    /// HO2, the retiring thread, once its own coroutines have ended and its inbox was empty:
    /// leaves if no placement is pending, making the slot `IDLE`. `false`: stay, and look at
    /// the inbox again (a placement counted before the retirement is on its way there).
    pub(crate) fn try_exit(&self) -> bool {
        self.word
            .compare_exchange(RETIRING, IDLE, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }
}
