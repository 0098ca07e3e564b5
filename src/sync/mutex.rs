//! `Mutex` and `MutexGuard`, mirroring `std::sync`.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::{LockResult, TryLockError, TryLockResult};

use super::poison;
use super::raw::mutex::RawMutex;

/// A mutual exclusion lock with std's API and poisoning, that parks a waiting coroutine
/// instead of blocking its worker thread.
///
/// **Blocking:** [`lock`](Mutex::lock) waits while another holder has the lock: a coroutine
/// parks (its worker runs other coroutines meanwhile, including, if need be, the holder), an
/// OS thread blocks. Coroutines and threads may contend for the same lock. A holder may keep
/// the lock across a park (a sleep, a socket read); other coroutines keep running. Uncontended
/// `lock` and unlock are one atomic compare-and-swap each: no system call, no allocation.
///
/// **Fairness:** a new locker may take a just-released lock before the woken waiter gets to
/// it, but a woken waiter that finds it taken again is handed the lock directly by the next
/// unlock (M4 in arch/sync.md), so nobody starves.
///
/// **Thread safety:** `Send + Sync` when `T: Send`, like std.
///
/// **Relocking:** [`lock`](Mutex::lock) by the coroutine (or, outside coroutines, the OS
/// thread) that already holds the lock panics, with a message naming it, where std's `Mutex`
/// leaves it unspecified (it may deadlock or panic; M6 in arch/sync.md). Other coroutines of
/// the holder's worker thread just wait, as anyone else. [`try_lock`](Mutex::try_lock)
/// returns `WouldBlock`.
///
/// ```
/// use std::sync::Arc;
/// use weft::sync::Mutex;
///
/// let counter = Arc::new(Mutex::new(0));
/// let handles: Vec<_> = (0..100)
///     .map(|_| {
///         let counter = Arc::clone(&counter);
///         weft::go!(move || *counter.lock().unwrap() += 1)
///     })
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// assert_eq!(*counter.lock().unwrap(), 100);
/// ```
pub struct Mutex<T: ?Sized> {
    raw: RawMutex,
    poison: poison::Flag,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex hands out access to `data` to one holder at a time (the raw lock), so
// sharing it between threads only moves `T` between them: `T: Send` suffices, as in std.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as for `Send`.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T: ?Sized> UnwindSafe for Mutex<T> {}
impl<T: ?Sized> RefUnwindSafe for Mutex<T> {}

/// The access to a [`Mutex`]'s data; the lock is released when it is dropped.
///
/// Not `Send` (like std's): it is released by the coroutine or thread that took it. A
/// coroutine holding a guard never changes OS thread (CO4).
#[clippy::has_significant_drop]
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: ?Sized + 'a> {
    lock: &'a Mutex<T>,
    poison: poison::Guard,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared guard only gives `&T`, so it may be shared when `T: Sync`, as in std.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<T> Mutex<T> {
    /// Creates an unlocked mutex. `const`, so it may initialise a `static`.
    pub const fn new(t: T) -> Mutex<T> {
        Mutex {
            raw: RawMutex::new(),
            poison: poison::Flag::new(),
            data: UnsafeCell::new(t),
        }
    }

    /// Consumes the mutex and returns its data; `Err` (with the data) if it is poisoned.
    pub fn into_inner(self) -> LockResult<T> {
        let poisoned = self.poison.get();
        let data = self.data.into_inner();
        if poisoned {
            Err(std::sync::PoisonError::new(data))
        } else {
            Ok(data)
        }
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Takes the lock, parking the caller until it is free. `Err` (holding the guard) if a
    /// holder panicked while it held the lock.
    ///
    /// # Panics
    /// If the caller already holds the lock: that would deadlock. The caller's guard stays
    /// valid (a `catch_unwind` inside its scope finds the lock held and unpoisoned).
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        self.raw.lock();
        // SAFETY: we just took the lock.
        unsafe { self.guard() }
    }

    /// Takes the lock if it is free now; never waits.
    pub fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T>> {
        if !self.raw.try_lock() {
            return Err(TryLockError::WouldBlock);
        }
        // SAFETY: we just took the lock.
        Ok(unsafe { self.guard() }?)
    }

    /// # Safety
    /// The caller holds the lock and hands it to the guard.
    unsafe fn guard(&self) -> LockResult<MutexGuard<'_, T>> {
        let guard = MutexGuard {
            lock: self,
            poison: self.poison.guard(),
            _not_send: PhantomData,
        };
        self.poison.result(guard)
    }

    /// Whether a holder panicked while holding the lock.
    pub fn is_poisoned(&self) -> bool {
        self.poison.get()
    }

    /// Clears the poison flag.
    pub fn clear_poison(&self) {
        self.poison.clear();
    }

    /// The data, through the exclusive borrow (no locking needed); `Err` if poisoned.
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        let data = self.data.get_mut();
        self.poison.result(data)
    }

    /// The raw lock, for `Condvar`.
    pub(crate) fn raw(&self) -> &RawMutex {
        &self.raw
    }

    pub(crate) fn poison(&self) -> &poison::Flag {
        &self.poison
    }
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// The mutex this guard locks (for `Condvar`).
    pub(crate) fn mutex(&self) -> &'a Mutex<T> {
        self.lock
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(t: T) -> Self {
        Mutex::new(t)
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        poison::fmt_lock(f, "Mutex", self.try_lock(), self.poison.get())
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so no one else accesses the data.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock and is borrowed exclusively.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.poison.done(&self.poison);
        // SAFETY: the guard holds the lock; this is its release.
        unsafe { self.lock.raw.unlock() };
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}
