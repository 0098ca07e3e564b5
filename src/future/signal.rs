//! The wake protocol of a `block_on` call (FU1, arch/future.md): one atomic word shared by the
//! caller and every waker. Atomics come from `crate::loom`, so `tests/loom_future.rs` checks
//! this very file.
//!
//! Both flags live in one word on purpose: every step is an access to that one location, so
//! its modification order alone decides which of a waker and a parking caller came first (no
//! reliance on SeqCst between two locations).

use crate::loom::sync::atomic::{AtomicU8, Ordering};

/// A wake came since the caller last cleared it.
const NOTIFIED: u8 = 0b01;
/// The caller is about to park, or parked: a wake must unpark it.
const PARKED: u8 = 0b10;

/// FU1's state: `NOTIFIED | PARKED`.
#[derive(Debug)]
pub(crate) struct Flags(AtomicU8);

impl Flags {
    pub(crate) fn new() -> Self {
        Self(AtomicU8::new(0))
    }

    /// A waker: records the wake (Release: what the waker did before is seen by the caller's
    /// next poll); returns whether the caller must be unparked: only by the first wake since
    /// the caller set `PARKED` (a wake during the poll needs no unpark, the caller looks at
    /// `NOTIFIED` when it sets `PARKED`; a later wake finds `NOTIFIED` already set).
    pub(crate) fn wake(&self) -> bool {
        let prev = self.0.fetch_or(NOTIFIED, Ordering::AcqRel);
        prev & (NOTIFIED | PARKED) == PARKED
    }

    /// The caller, before each poll: clears `NOTIFIED`, so a wake during the poll is seen after
    /// it, and `PARKED`, left set by the last wait (it is set only while `NOTIFIED` is, so no
    /// wake needed an unpark meanwhile). A read-modify-write (Acquire), so the poll sees what
    /// every waker so far did before its wake, even a waker whose wake found the flag already
    /// set (its RMW is earlier in the word's modification order: P9's rule).
    pub(crate) fn before_poll(&self) {
        self.0.fetch_and(!(NOTIFIED | PARKED), Ordering::AcqRel);
    }

    /// The caller, after a `Pending`: sets `PARKED` (cleared by the next `before_poll`);
    /// returns whether it must park, that is whether no wake came since the poll began. A wake earlier in the word's order is seen
    /// here; a later one sees `PARKED` and unparks.
    pub(crate) fn begin_park(&self) -> bool {
        self.0.fetch_or(PARKED, Ordering::AcqRel) & NOTIFIED == 0
    }

    /// The caller, woken from a park (perhaps spuriously, P4): whether it must park again.
    pub(crate) fn must_park(&self) -> bool {
        self.0.load(Ordering::Acquire) & NOTIFIED == 0
    }
}
