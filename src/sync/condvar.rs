//! `Condvar` and `WaitTimeoutResult`, mirroring `std::sync`.

use std::fmt;
use std::sync::{LockResult, PoisonError};
use std::time::{Duration, Instant};

use super::mutex::MutexGuard;
use super::raw::condvar::RawCondvar;

/// A condition variable with std's API, for weft's [`Mutex`](super::Mutex).
///
/// **Blocking:** the `wait` family releases the mutex and waits for a notify (or the
/// timeout): a coroutine parks, an OS thread blocks; then it takes the mutex again. Waiters
/// are woken oldest first. Spurious wake-ups do not happen, but as with std, code should wait
/// in a loop (or use [`wait_while`](Condvar::wait_while)): another party may change the
/// condition between the notify and the re-lock. `notify_one`/`notify_all` never wait; with no
/// waiter they are one atomic load.
///
/// **Thread safety:** `Send + Sync`; coroutines and threads may wait on and notify the same
/// condvar.
///
/// ```
/// use std::sync::Arc;
/// use weft::sync::{Condvar, Mutex};
///
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let pair2 = Arc::clone(&pair);
/// weft::go!(move || {
///     let (ready, cvar) = &*pair2;
///     *ready.lock().unwrap() = true;
///     cvar.notify_one();
/// });
/// let (ready, cvar) = &*pair;
/// let guard = cvar.wait_while(ready.lock().unwrap(), |ready| !*ready).unwrap();
/// assert!(*guard);
/// ```
pub struct Condvar {
    raw: RawCondvar,
}

impl std::panic::UnwindSafe for Condvar {}
impl std::panic::RefUnwindSafe for Condvar {}

/// Whether a timed wait on a [`Condvar`] returned because its time ran out.
#[derive(Debug, PartialEq, Eq, Copy, Clone)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// `true` if the wait ended because the timeout passed.
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

impl Condvar {
    /// Creates a condition variable with no waiters. `const`, so it may initialise a `static`.
    pub const fn new() -> Condvar {
        Condvar {
            raw: RawCondvar::new(),
        }
    }

    /// Releases the guard's mutex, waits for a notify, and locks the mutex again. `Err`
    /// (holding the guard) if the mutex is poisoned when it is retaken.
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        self.wait_until(guard, None, None)
            .map(|(g, _)| g)
            .map_err(|e| {
                let (g, _) = e.into_inner();
                PoisonError::new(g)
            })
    }

    /// Waits while `condition` returns `true` (checked first, then after every wake-up).
    pub fn wait_while<'a, T, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> LockResult<MutexGuard<'a, T>>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard)?;
        }
        Ok(guard)
    }

    /// `wait_while`, reported in a dump as `why` (a barrier built on this condvar, DU1).
    pub(crate) fn wait_while_for<'a, T, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
        why: crate::park::Wait,
    ) -> LockResult<MutexGuard<'a, T>>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = match self.wait_until(guard, None, Some(why)) {
                Ok((g, _)) => g,
                Err(e) => return Err(PoisonError::new(e.into_inner().0)),
            };
        }
        Ok(guard)
    }

    /// Like [`wait`](Condvar::wait), giving up after `dur`.
    pub fn wait_timeout<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        dur: Duration,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        self.wait_until(guard, Instant::now().checked_add(dur), None)
    }

    /// Like [`wait_while`](Condvar::wait_while), giving up after `dur` in all. The result says
    /// whether it timed out with the condition still `true`.
    pub fn wait_timeout_while<'a, T, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        dur: Duration,
        mut condition: F,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)>
    where
        F: FnMut(&mut T) -> bool,
    {
        let deadline = Instant::now().checked_add(dur);
        loop {
            if !condition(&mut *guard) {
                return Ok((guard, WaitTimeoutResult(false)));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok((guard, WaitTimeoutResult(true)));
            }
            guard = match self.wait_until(guard, deadline, None) {
                Ok((g, _)) => g,
                Err(e) => {
                    let (g, t) = e.into_inner();
                    return Err(PoisonError::new((g, t)));
                }
            };
        }
    }

    fn wait_until<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
        why: Option<crate::park::Wait>,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        let mutex = guard.mutex();
        // SAFETY: the guard holds the mutex; `wait` releases and retakes it, and the guard
        // (kept alive, not dropped meanwhile) owns it again afterwards.
        let notified = unsafe { self.raw.wait(mutex.raw(), deadline, why) };
        mutex.poison().result((guard, WaitTimeoutResult(!notified)))
    }

    /// Wakes the oldest waiter, if any.
    pub fn notify_one(&self) {
        self.raw.notify_one();
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        self.raw.notify_all();
    }
}

impl Default for Condvar {
    fn default() -> Self {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}
