//! `Semaphore` and `SemaphorePermit`, in tokio's shape with blocking calls.

use std::fmt;

use super::raw::semaphore::{MAX_PERMITS, RawSemaphore};

/// A counting semaphore: at most as many holders at once as it has permits.
///
/// **Blocking:** [`acquire`](Semaphore::acquire) waits until a permit is free: a coroutine
/// parks, an OS thread blocks, in any mix. Waiters are served in arrival order: once anyone
/// waits, a released permit goes straight to the oldest waiter (SM1, SM2 in arch/sync.md), so
/// nobody starves. Uncontended acquire and release are one atomic compare-and-swap each.
/// `try_acquire`, `add_permits` and `available_permits` never wait.
///
/// **Thread safety:** `Send + Sync`.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use weft::sync::Semaphore;
///
/// let sem = Arc::new(Semaphore::new(3));
/// let inside = Arc::new(AtomicUsize::new(0));
/// let handles: Vec<_> = (0..20)
///     .map(|_| {
///         let (sem, inside) = (Arc::clone(&sem), Arc::clone(&inside));
///         weft::go!(move || {
///             let _permit = sem.acquire();
///             assert!(inside.fetch_add(1, Ordering::SeqCst) < 3);
///             weft::thread::sleep(std::time::Duration::from_millis(1));
///             inside.fetch_sub(1, Ordering::SeqCst);
///         })
///     })
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// assert_eq!(sem.available_permits(), 3);
/// ```
pub struct Semaphore {
    raw: RawSemaphore,
}

impl std::panic::UnwindSafe for Semaphore {}
impl std::panic::RefUnwindSafe for Semaphore {}

/// One permit of a [`Semaphore`], given back when dropped.
#[clippy::has_significant_drop]
#[must_use = "the permit is released at once if unused"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
}

impl Semaphore {
    /// The most permits a semaphore can hold (`usize::MAX >> 3`, as in tokio).
    pub const MAX_PERMITS: usize = MAX_PERMITS;

    /// A semaphore with `permits` permits. `const`, so it may initialise a `static`.
    ///
    /// # Panics
    /// If `permits` exceeds [`Semaphore::MAX_PERMITS`].
    pub const fn new(permits: usize) -> Semaphore {
        assert!(
            permits <= MAX_PERMITS,
            "a semaphore may not have more than Semaphore::MAX_PERMITS permits"
        );
        Semaphore {
            raw: RawSemaphore::new(permits),
        }
    }

    /// Takes a permit, waiting for one if none is free.
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        self.raw.acquire();
        SemaphorePermit { sem: self }
    }

    /// Takes a permit if one is free and nobody waits before us; never waits.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        // `then`, not `then_some`: a permit built on failure would release one on drop.
        self.raw
            .try_acquire()
            .then(|| SemaphorePermit { sem: self })
    }

    /// Adds `n` permits, waking as many waiters.
    ///
    /// # Panics
    /// If the semaphore would hold more than [`Semaphore::MAX_PERMITS`] permits (nothing is
    /// added then).
    pub fn add_permits(&self, n: usize) {
        if !self.raw.release(n) {
            panic!(
                "a semaphore may not have more than Semaphore::MAX_PERMITS ({MAX_PERMITS}) \
                 permits: {} available, {n} added",
                self.available_permits()
            );
        }
    }

    /// The number of permits free now (a snapshot).
    pub fn available_permits(&self) -> usize {
        self.raw.available()
    }
}

impl SemaphorePermit<'_> {
    /// Drops the permit without giving it back: the semaphore has one permit fewer.
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        // One permit back. Only if `add_permits` filled the semaphore to MAX_PERMITS while
        // this permit was out does that fail; the count then stays at the limit.
        let _ = self.sem.raw.release(1);
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("permits", &self.available_permits())
            .finish()
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").finish_non_exhaustive()
    }
}
