//! The user-visible park token of a coroutine (`weft::thread::park` / `Thread::unpark`).
//!
//! std's semantics (P6, arch/park.md): one token; `unpark` sets it; `park` consumes it or
//! blocks until it is set; an `unpark` before `park` makes that `park` return at once; several
//! unparks collapse into one token. The token is layered over the raw park of `park/mod.rs`,
//! whose wake-ups may be spurious (P4), so `park` loops until it sees the token or the
//! deadline passes; it never returns spuriously itself (std allows that, we do not need it).

use crate::loom::sync::atomic::{AtomicU8, Ordering};

const EMPTY: u8 = 0;
const NOTIFIED: u8 = 1;
/// `EMPTY - 1`, so that one `fetch_sub` takes `NOTIFIED` to `EMPTY` or `EMPTY` to `PARKED`.
const PARKED: u8 = u8::MAX;

/// The token word. `Sync`: any thread may unpark.
#[derive(Debug)]
pub(crate) struct Token(AtomicU8);

impl Token {
    pub(crate) fn new() -> Token {
        Token(AtomicU8::new(EMPTY))
    }

    /// Blocks through `raw_park` until the token is set. `raw_park` returns `true` once the
    /// deadline (if any) has passed; the park then gives up, clearing any token that raced in.
    /// Only the owning coroutine calls this.
    #[inline]
    pub(crate) fn park(&self, mut raw_park: impl FnMut() -> bool) {
        // One read-modify-write: NOTIFIED → EMPTY (consumed, return) or EMPTY → PARKED.
        if self.0.fetch_sub(1, Ordering::Acquire) == NOTIFIED {
            return;
        }
        loop {
            let timed_out = raw_park();
            if self
                .0
                .compare_exchange(NOTIFIED, EMPTY, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
            if timed_out {
                self.0.swap(EMPTY, Ordering::Acquire);
                return;
            }
        }
    }

    /// Sets the token; returns `true` when the owner is parked on it and the caller must
    /// raw-wake it.
    #[inline]
    pub(crate) fn unpark(&self) -> bool {
        self.0.swap(NOTIFIED, Ordering::Release) == PARKED
    }
}
