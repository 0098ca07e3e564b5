//! The raw counting semaphore under `sync::Semaphore`: one state word and a wait queue.
//!
//! State: the number of available permits, shifted left by one, and `PARKED` (nodes are
//! queued) in bit 0. Invariants (SM1–SM3, arch/sync.md):
//! - SM1: `PARKED` is set exactly while the queue is not empty, and then no permit is
//!   available: a release hands its permits straight to the queued waiters, oldest first, and
//!   only what is left over after the queue empties becomes available.
//! - SM2: while `PARKED` is set the state changes only under the queue lock; the fast paths
//!   (take a permit, give one back) need `PARKED` clear. So acquirers are served in FIFO
//!   order once one of them waits: nobody starves.
//! - SM3: an acquirer parks only after it saw no permit under the queue lock and set `PARKED`
//!   by CAS from that state, so the release that would have made a permit available takes
//!   the slow path and finds the node.

use super::waitq::{Node, WaitQueue};
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::park::Wait;

const PARKED: usize = 1;
const PERMIT: usize = 2;

const GRANTED: usize = 1;

/// The most permits a semaphore can hold.
pub(crate) const MAX_PERMITS: usize = usize::MAX >> 3;

#[derive(Debug)]
pub(crate) struct RawSemaphore {
    state: AtomicUsize,
    queue: WaitQueue,
}

impl RawSemaphore {
    /// A semaphore with `permits` permits (at most `MAX_PERMITS`; checked by the caller).
    pub(crate) const fn new(permits: usize) -> RawSemaphore {
        RawSemaphore {
            state: AtomicUsize::new(permits * PERMIT),
            queue: WaitQueue::new(),
        }
    }

    /// Permits available now (a snapshot).
    pub(crate) fn available(&self) -> usize {
        self.state.load(Ordering::Relaxed) / PERMIT
    }

    /// Takes a permit if one is available and nobody waits (SM2).
    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        while s & PARKED == 0 && s >= PERMIT {
            match self.state.compare_exchange_weak(
                s,
                s - PERMIT,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
        false
    }

    /// Takes a permit, parking until one is handed over.
    #[inline]
    pub(crate) fn acquire(&self) {
        if !self.try_acquire() {
            self.acquire_slow();
        }
    }

    #[cold]
    fn acquire_slow(&self) {
        loop {
            if self.try_acquire() {
                return;
            }
            let node = Node::new(0);
            {
                let mut q = self.queue.lock();
                let s = self.state.load(Ordering::Relaxed);
                if s & PARKED == 0 {
                    if s >= PERMIT {
                        continue;
                    }
                    // SM3.
                    if self
                        .state
                        .compare_exchange(s, PARKED, Ordering::Relaxed, Ordering::Relaxed)
                        .is_err()
                    {
                        continue;
                    }
                }
                q.push_back(&node);
            }
            // SM1: granted means the permit is ours.
            node.wait(
                &self.queue,
                None,
                Wait::Semaphore(self as *const Self as usize),
            );
            return;
        }
    }

    /// Gives `n` permits back (or adds new ones): to the waiters first (SM1).
    /// Returns `false`, changing nothing, if that would exceed `MAX_PERMITS`.
    pub(crate) fn release(&self, n: usize) -> bool {
        if n == 0 {
            return true;
        }
        if n > MAX_PERMITS {
            return false;
        }
        loop {
            let mut s = self.state.load(Ordering::Relaxed);
            while s & PARKED == 0 {
                if n > MAX_PERMITS - s / PERMIT {
                    return false;
                }
                match self.state.compare_exchange_weak(
                    s,
                    s + n * PERMIT,
                    Ordering::Release,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return true,
                    Err(now) => s = now,
                }
            }
            if self.release_slow(n) {
                return true;
            }
        }
    }

    /// Hands `n` permits to the queued waiters, the rest becoming available; `false` if
    /// nobody waits any more (another release emptied the queue first).
    #[cold]
    fn release_slow(&self, n: usize) -> bool {
        let woken;
        {
            let mut q = self.queue.lock();
            // SM2: with PARKED set, only the holder of the queue lock changes the state.
            if self.state.load(Ordering::Relaxed) & PARKED == 0 {
                return false;
            }
            woken = q.wake_up_to(n, GRANTED);
            if q.is_empty() {
                // SM1: no permit was available while PARKED was set; what is left of n
                // (<= MAX_PERMITS) becomes available.
                self.state
                    .store((n - woken.len()) * PERMIT, Ordering::Release);
            }
        }
        for u in woken {
            u.unpark();
        }
        true
    }
}
