//! The raw lock under `sync::Mutex` (and `Condvar`'s re-lock): one state byte and a wait queue.
//!
//! State: `LOCKED` (held), `PARKED` (nodes are queued) and `WOKEN` (a waiter was woken and
//! has not retried yet); beside it, the holder's identity. Invariants (M1–M6, arch/sync.md):
//! - M1: `PARKED` is set exactly while the queue is not empty; it changes under the queue
//!   lock only, and so does the setting of `WOKEN`. Outside the queue lock, the state changes
//!   only by CAS on `LOCKED` (and the woken waiter clearing `WOKEN` as it takes the lock).
//! - M2: uncontended `lock` and `unlock` are one CAS each: no system call, no allocation.
//! - M3: a locker parks only after it re-checked `LOCKED` under the queue lock and set
//!   `PARKED` by CAS from the state it saw held, so the holder's unlock, which takes its slow
//!   path whenever `PARKED` is set, finds the node: no lost wake-up.
//! - M4 (eventual fairness, Go's starvation mode in small): an unlock wakes the oldest waiter
//!   and releases the lock, and a newcomer may take it first (barging keeps throughput). A
//!   woken waiter tries once, without spinning; if the lock is taken again it queues at the
//!   front marked starving, and the next unlock hands the lock to it directly, without
//!   releasing it. So a waiter, once woken, gets the lock at the latest from the first unlock
//!   after it queued again.
//! - M5 (Go's `mutexWoken`): at most one waiter is woken and not yet retried. While `WOKEN` is
//!   set an unlock only releases the lock; the woken waiter clears `WOKEN` when it retries
//!   (taking the lock, or queueing again, which makes the next unlock wake or hand over).
//!   Under contention an unlock is then one CAS, not a wake-up each.
//! - M6 (a relock panics): `holder` is the holder's identity (`park::holder`), stored with a
//!   plain `Relaxed` store right after the lock is taken, and set back to 0 right before the
//!   release. Only the caller itself ever stores its own identity, so by coherence a caller
//!   reads its own identity there only if its own latest store to it was that identity, not
//!   the 0 of an unlock: only while it holds the lock. `lock_slow` compares it with the
//!   caller's before it spins or queues, and panics on a match: no false panic, and a relock
//!   by the holder always panics (its own store is the latest one it can read, since anyone
//!   else's store follows the holder's release). `try_lock` never checks.

use super::waitq::{Node, WaitQueue};
use crate::loom::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use crate::park::{self, Wait};

const LOCKED: u8 = 1;
const PARKED: u8 = 2;
const WOKEN_BIT: u8 = 4;

/// Node kinds.
const NORMAL: usize = 0;
const STARVING: usize = 1;

/// Tokens.
const WOKEN: usize = 1;
const HANDED_OVER: usize = 2;

/// How many times a locker spins (with growing pauses) before it queues.
const SPINS: u32 = 4;

#[derive(Debug)]
pub(crate) struct RawMutex {
    state: AtomicU8,
    /// M6: the holder's `park::holder()`, 0 while free; written only by the holder.
    holder: AtomicU64,
    queue: WaitQueue,
}

impl RawMutex {
    pub(crate) const fn new() -> RawMutex {
        RawMutex {
            state: AtomicU8::new(0),
            holder: AtomicU64::new(0),
            queue: WaitQueue::new(),
        }
    }

    /// Takes the lock, parking the caller while it is held elsewhere. Panics if the caller
    /// holds it (M6).
    #[inline]
    #[track_caller]
    pub(crate) fn lock(&self) {
        if self
            .state
            .compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow();
        }
        // M6: after the acquire, so it follows the previous holder's clearing store.
        self.holder.store(park::holder(), Ordering::Relaxed);
    }

    /// Takes the lock if it is free, barging past queued waiters like `lock`'s first try.
    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        while s & LOCKED == 0 {
            match self.state.compare_exchange_weak(
                s,
                s | LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    // M6, as in `lock`.
                    self.holder.store(park::holder(), Ordering::Relaxed);
                    return true;
                }
                Err(now) => s = now,
            }
        }
        false
    }

    #[cold]
    #[track_caller]
    fn lock_slow(&self) {
        // M6: the lock is taken; by the caller itself if it reads its own identity here. Before
        // any node is built or queued, so the panic leaves the queue and the holder's guard
        // as they were.
        if self.holder.load(Ordering::Relaxed) == park::holder() {
            park::relock_panic(
                "locked a weft::sync::Mutex it already holds (std's Mutex may deadlock here; \
                 weft panics)",
            );
        }
        let mut spins = 0;
        let mut kind = NORMAL;
        // M5: we are the woken waiter, and clear `WOKEN` at our next step.
        let mut woken = false;
        loop {
            let s = self.state.load(Ordering::Relaxed);
            if s & LOCKED == 0 {
                let next = if woken {
                    (s | LOCKED) & !WOKEN_BIT
                } else {
                    s | LOCKED
                };
                if self
                    .state
                    .compare_exchange_weak(s, next, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return;
                }
                continue;
            }
            if s & PARKED == 0 && spins < SPINS {
                spins += 1;
                for _ in 0..1 << spins {
                    std::hint::spin_loop();
                }
                continue;
            }
            let node = Node::new(kind);
            {
                let mut q = self.queue.lock();
                // M3: re-check under the queue lock, and publish PARKED by CAS from a held
                // state (clearing WOKEN if it is ours, M5).
                let s = self.state.load(Ordering::Relaxed);
                if s & LOCKED == 0 {
                    continue;
                }
                let next = if woken {
                    (s | PARKED) & !WOKEN_BIT
                } else {
                    s | PARKED
                };
                if next != s
                    && self
                        .state
                        .compare_exchange(s, next, Ordering::Relaxed, Ordering::Relaxed)
                        .is_err()
                {
                    continue;
                }
                if kind == STARVING {
                    q.push_front(&node);
                } else {
                    q.push_back(&node);
                }
            }
            match node.wait(&self.queue, None, Wait::Mutex(self as *const Self as usize)) {
                // M4: the unlocker kept the lock locked for us.
                Some(HANDED_OVER) => return,
                // Woken with the lock released: one try, then the front of the queue (M4).
                _ => {
                    kind = STARVING;
                    spins = SPINS;
                    woken = true;
                }
            }
        }
    }

    /// Releases the lock.
    ///
    /// # Safety
    /// The caller holds the lock (took it with `lock` or a successful `try_lock`, and has not
    /// released it since).
    #[inline]
    pub(crate) unsafe fn unlock(&self) {
        // M6: before the release (the CAS below, or the slow path's), so that the next
        // holder's store comes after this one.
        self.holder.store(0, Ordering::Relaxed);
        if self
            .state
            .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_slow();
        }
    }

    #[cold]
    fn unlock_slow(&self) {
        let mut s = self.state.load(Ordering::Relaxed);
        // M5: a woken waiter is on its way (or nobody waits): just release.
        while s & WOKEN_BIT != 0 || s & PARKED == 0 {
            match self.state.compare_exchange_weak(
                s,
                s & !LOCKED,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => s = now,
            }
        }
        let mut q = self.queue.lock();
        // The state is LOCKED | PARKED and nobody else may change it now: others CAS only an
        // unlocked state, or change PARKED and set WOKEN under the queue lock, which we hold,
        // and WOKEN was clear (M1, M5).
        let rest = if q.len() > 1 { PARKED } else { 0 };
        let unparker = match q.front_kind() {
            Some(STARVING) => {
                // M4: hand over; the lock stays locked, the token carries the ordering (Q4).
                self.state.store(LOCKED | rest, Ordering::Relaxed);
                q.wake_front(HANDED_OVER)
            }
            Some(_) => {
                self.state.store(rest | WOKEN_BIT, Ordering::Release);
                q.wake_front(WOKEN)
            }
            None => {
                // M1 says this cannot happen; release rather than leave the lock stuck.
                self.state.store(0, Ordering::Release);
                None
            }
        };
        drop(q);
        if let Some(u) = unparker {
            u.unpark();
        }
    }
}
