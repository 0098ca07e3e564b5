//! Lock poisoning as std does it: a lock is poisoned when a guard is dropped by a panic.
//!
//! The error types are std's own (`PoisonError`, `TryLockError`, `LockResult`,
//! `TryLockResult`): code that matches on them keeps working after a port. A coroutine that
//! panics never switches while it unwinds (P7), so `std::thread::panicking` is exact for it.

use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LockResult, PoisonError, TryLockError, TryLockResult};

/// The poison flag of one lock.
#[derive(Debug)]
pub(crate) struct Flag(AtomicBool);

/// Whether the holder was already panicking when it took the lock.
#[derive(Debug)]
pub(crate) struct Guard {
    panicking: bool,
}

impl Flag {
    pub(crate) const fn new() -> Flag {
        Flag(AtomicBool::new(false))
    }

    /// Called when the lock is taken.
    pub(crate) fn guard(&self) -> Guard {
        Guard {
            panicking: std::thread::panicking(),
        }
    }

    /// Called when the lock is released: poisons it if a panic began while it was held.
    pub(crate) fn done(&self, guard: &Guard) {
        if !guard.panicking && std::thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }

    pub(crate) fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub(crate) fn clear(&self) {
        self.0.store(false, Ordering::Relaxed);
    }

    /// `Ok(value)`, or the same value in a `PoisonError` if the lock is poisoned.
    pub(crate) fn result<T>(&self, value: T) -> LockResult<T> {
        if self.get() {
            Err(PoisonError::new(value))
        } else {
            Ok(value)
        }
    }
}

/// std's `Debug` for a lock: its data if `attempt` (a `try_lock`/`try_read`) got it, poisoned
/// or not, `<locked>` otherwise, and the poison flag.
pub(crate) fn fmt_lock<T: ?Sized + fmt::Debug, G: Deref<Target = T>>(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    attempt: TryLockResult<G>,
    poisoned: bool,
) -> fmt::Result {
    let mut d = f.debug_struct(name);
    match attempt {
        Ok(guard) => d.field("data", &&*guard),
        Err(TryLockError::Poisoned(err)) => d.field("data", &&**err.get_ref()),
        Err(TryLockError::WouldBlock) => d.field("data", &format_args!("<locked>")),
    };
    d.field("poisoned", &poisoned);
    d.finish_non_exhaustive()
}
