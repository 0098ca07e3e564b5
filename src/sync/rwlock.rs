//! `RwLock` and its guards, mirroring `std::sync`.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::{LockResult, PoisonError, TryLockError, TryLockResult};

use super::poison;
use super::raw::rwlock::{RawRwLock, ReadHold};

/// A reader-writer lock with std's API and poisoning, that parks a waiting coroutine instead
/// of blocking its worker thread.
///
/// **Blocking:** [`read`](RwLock::read) waits while a writer holds the lock or anyone waits
/// for it; [`write`](RwLock::write) waits while anyone holds it or waits before it. A
/// coroutine parks, an OS thread blocks, in any mix. Uncontended locking is one atomic
/// compare-and-swap: no system call, no allocation.
///
/// **Fairness:** once someone waits, the lock is granted in arrival order: a writer is never
/// starved by a stream of readers, and the readers queued together are let in together (RW2,
/// RW3 in arch/sync.md). As with std, taking a read lock while already holding one may
/// therefore deadlock if a writer queued in between.
///
/// **Relocking:** where std's `RwLock` "might panic" or deadlock, weft panics, with a message
/// naming the coroutine or thread (RW6 in arch/sync.md): [`write`](RwLock::write) or
/// [`read`](RwLock::read) by the holder of the write guard, and `write` by the holder of a
/// read guard if that reader is the one the lock recorded. The lock records one reader at a
/// time: a reader that finds nobody recorded, so always one that reads alone, and the writer
/// that downgrades. A `write` by an unrecorded one of several readers still deadlocks, as
/// with std. `try_read` and `try_write` never panic for this; they return `WouldBlock`.
///
/// **Thread safety:** `Send` when `T: Send`, `Sync` when `T: Send + Sync`, like std.
///
/// ```
/// use weft::sync::RwLock;
///
/// let lock = RwLock::new(5);
/// {
///     let r1 = lock.read().unwrap();
///     let r2 = lock.read().unwrap();
///     assert_eq!(*r1 + *r2, 10);
/// }
/// *lock.write().unwrap() += 1;
/// assert_eq!(*lock.read().unwrap(), 6);
/// ```
pub struct RwLock<T: ?Sized> {
    raw: RawRwLock,
    poison: poison::Flag,
    data: UnsafeCell<T>,
}

// SAFETY: the lock hands out `&mut T` to one writer or `&T` to readers, never both at once
// (the raw lock): sharing it moves `T` between threads (needs `Send`) and shares `&T` among
// readers on several threads (needs `Sync`), as in std.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: as for `Send`.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

impl<T: ?Sized> UnwindSafe for RwLock<T> {}
impl<T: ?Sized> RefUnwindSafe for RwLock<T> {}

/// Shared access to an [`RwLock`]'s data; released when dropped. Not `Send`, like std's.
#[clippy::has_significant_drop]
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T: ?Sized + 'a> {
    lock: &'a RwLock<T>,
    hold: ReadHold,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared read guard gives `&T` only.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}

/// Exclusive access to an [`RwLock`]'s data; released when dropped. Not `Send`, like std's.
#[clippy::has_significant_drop]
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T: ?Sized + 'a> {
    lock: &'a RwLock<T>,
    poison: poison::Guard,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared write guard gives `&T` only.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<T> RwLock<T> {
    /// Creates an unlocked lock. `const`, so it may initialise a `static`.
    pub const fn new(t: T) -> RwLock<T> {
        RwLock {
            raw: RawRwLock::new(),
            poison: poison::Flag::new(),
            data: UnsafeCell::new(t),
        }
    }

    /// Consumes the lock and returns its data; `Err` (with the data) if it is poisoned.
    pub fn into_inner(self) -> LockResult<T> {
        let poisoned = self.poison.get();
        let data = self.data.into_inner();
        if poisoned {
            Err(PoisonError::new(data))
        } else {
            Ok(data)
        }
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Takes shared access, parking while a writer holds or waits for the lock. `Err`
    /// (holding the guard) if a writer panicked while holding it.
    ///
    /// # Panics
    /// If the caller (this coroutine, or this OS thread outside coroutines) holds the write
    /// guard: that would deadlock.
    #[inline]
    #[track_caller]
    pub fn read(&self) -> LockResult<RwLockReadGuard<'_, T>> {
        let hold = self.raw.read();
        self.poison.result(self.read_guard(hold))
    }

    /// Takes shared access if that needs no wait.
    pub fn try_read(&self) -> TryLockResult<RwLockReadGuard<'_, T>> {
        let Some(hold) = self.raw.try_read() else {
            return Err(TryLockError::WouldBlock);
        };
        Ok(self.poison.result(self.read_guard(hold))?)
    }

    /// Takes exclusive access, parking while anyone holds the lock or waits before us. `Err`
    /// (holding the guard) if a writer panicked while holding it.
    ///
    /// # Panics
    /// If the caller holds the write guard, or a read guard and is the recorded reader (see
    /// "Relocking" above): either would deadlock.
    #[inline]
    #[track_caller]
    pub fn write(&self) -> LockResult<RwLockWriteGuard<'_, T>> {
        self.raw.write();
        self.poison.result(self.write_guard())
    }

    /// Takes exclusive access if that needs no wait.
    pub fn try_write(&self) -> TryLockResult<RwLockWriteGuard<'_, T>> {
        if !self.raw.try_write() {
            return Err(TryLockError::WouldBlock);
        }
        Ok(self.poison.result(self.write_guard())?)
    }

    fn read_guard(&self, hold: ReadHold) -> RwLockReadGuard<'_, T> {
        RwLockReadGuard {
            lock: self,
            hold,
            _not_send: PhantomData,
        }
    }

    fn write_guard(&self) -> RwLockWriteGuard<'_, T> {
        RwLockWriteGuard {
            lock: self,
            poison: self.poison.guard(),
            _not_send: PhantomData,
        }
    }

    /// Whether a writer panicked while holding the lock.
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
}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    /// Turns exclusive access into shared access without releasing the lock: no writer can
    /// come in between. Readers queued at the head come in at once. Never waits.
    pub fn downgrade(s: Self) -> RwLockReadGuard<'a, T> {
        let lock = s.lock;
        // Like std's, a downgrade never poisons.
        std::mem::forget(s);
        // SAFETY: the write guard held the exclusive lock; forgetting it hands that lock to
        // `downgrade`, whose shared lock the read guard now owns.
        let hold = unsafe { lock.raw.downgrade() };
        lock.read_guard(hold)
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(t: T) -> Self {
        RwLock::new(t)
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        poison::fmt_lock(f, "RwLock", self.try_read(), self.poison.get())
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds a shared lock: nobody writes meanwhile.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the guard holds a shared lock, described by `hold`; this is its release.
        unsafe { self.lock.raw.read_unlock(self.hold) };
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the exclusive lock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the exclusive lock and is borrowed exclusively.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.poison.done(&self.poison);
        // SAFETY: the guard holds the exclusive lock; this is its release.
        unsafe { self.lock.raw.write_unlock() };
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}
