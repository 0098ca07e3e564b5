//! The readiness of one registered I/O source, and who waits for it.
//!
//! Ground rules (arch/io.md):
//! - R1: the poller publishes an event by raising readiness bits *and* the tick in one atomic
//!   step (`set_ready`), then takes the waiters of the directions that became ready, under the
//!   waiter lock, and wakes them after dropping it.
//! - R2: an operation takes a snapshot before its system call; after `WouldBlock` it clears the
//!   direction's bits only if the tick is still the snapshot's (`clear`). An event that arrived
//!   between the system call and the clear bumped the tick, so its bits survive and the
//!   operation retries instead of waiting for an edge that will not come again.
//! - R3: a waiter registers under the waiter lock only after re-checking readiness under that
//!   lock (`register`). The poller raises the bits before it takes the lock, so either the
//!   waiter sees them or the poller sees the waiter: a wake-up is never lost.
//! - R4: waking is a raw signal (P4): a woken operation retries its system call, and a waiter
//!   that returns for another reason (deadline, spurious wake-up) takes its entry back out
//!   (`cancel`), so a stale entry never outlives its wait.
//!
//! The waiter type is generic so that the loom model (tests/loom_io.rs) runs this very file
//! with its own waiters; the runtime's waiters are coroutines (`TaskRef`, scheduler/mod.rs).

use crate::loom::sync::Mutex;
use crate::loom::sync::atomic::{AtomicUsize, Ordering};

/// The source can be read (or accepted from) without blocking.
pub(crate) const READABLE: usize = 1;
/// The source can be written (or a connect finished).
pub(crate) const WRITABLE: usize = 1 << 1;
/// The peer closed its writing half: reads return end of file.
pub(crate) const READ_CLOSED: usize = 1 << 2;
/// The writing half is closed (peer gone): writes fail.
pub(crate) const WRITE_CLOSED: usize = 1 << 3;
/// An error is pending on the socket (`take_error`).
pub(crate) const ERROR: usize = 1 << 4;

const BITS: usize = 0xff;
const TICK_SHIFT: usize = 8;
/// Waiters woken per pass of `set_ready` (they are moved out of the lock first).
const WAKE_BATCH: usize = 8;

/// Which half of a source an operation waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

impl Direction {
    /// The bits that wake a waiter of this direction. `ERROR` wakes both: the next system
    /// call reports the error.
    fn mask(self) -> usize {
        match self {
            Direction::Read => READABLE | READ_CLOSED | ERROR,
            Direction::Write => WRITABLE | WRITE_CLOSED | ERROR,
        }
    }
}

/// Readiness bits and tick as seen before a system call (R2).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Snapshot(usize);

impl Snapshot {
    /// Whether any bit that wakes `dir` was set (R5: if not, the operation may wait without
    /// trying its system call).
    pub(crate) fn is_ready(self, dir: Direction) -> bool {
        self.0 & dir.mask() != 0
    }
}

/// One registered source's readiness word and waiter lists. `Sync`: the poller and any
/// number of waiting coroutines and threads use it at once.
#[derive(Debug)]
pub(crate) struct ScheduledIo<W> {
    /// Readiness bits (low 8 bits) and the event tick (the rest), changed together.
    readiness: AtomicUsize,
    waiters: Mutex<Waiters<W>>,
}

#[derive(Debug)]
struct Waiters<W> {
    readers: Vec<(u64, W)>,
    writers: Vec<(u64, W)>,
    next_key: u64,
}

impl<W> Waiters<W> {
    fn list(&mut self, dir: Direction) -> &mut Vec<(u64, W)> {
        match dir {
            Direction::Read => &mut self.readers,
            Direction::Write => &mut self.writers,
        }
    }
}

impl<W> Default for ScheduledIo<W> {
    fn default() -> Self {
        ScheduledIo {
            readiness: AtomicUsize::new(0),
            waiters: Mutex::new(Waiters {
                readers: Vec::new(),
                writers: Vec::new(),
                next_key: 0,
            }),
        }
    }
}

impl<W> ScheduledIo<W> {
    /// R2: the state to compare against after the system call.
    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot(self.readiness.load(Ordering::Acquire))
    }

    /// R2: the operation saw `WouldBlock` after `snap` was taken: forget `dir`'s readiness,
    /// unless an event arrived in the meantime (then the caller retries at once).
    pub(crate) fn clear(&self, snap: Snapshot, dir: Direction) {
        let mut current = self.readiness.load(Ordering::Acquire);
        // Only the tick decides: another operation clearing other bits is not an event.
        while current >> TICK_SHIFT == snap.0 >> TICK_SHIFT {
            match self.readiness.compare_exchange_weak(
                current,
                current & !dir.mask(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// R5: a stream operation that moved fewer bytes than asked for (after `snap`) has drained
    /// the socket's queue (read) or filled its buffer (write): forget `dir`'s plain readiness
    /// bit unless an event arrived in the meantime, so the next operation waits for the next
    /// edge instead of trying a system call that would say `WouldBlock`. The closed and error
    /// bits stay: they are final, and the next call must see them (a peer's FIN that came
    /// with the last data has no later edge).
    pub(crate) fn clear_drained(&self, snap: Snapshot, dir: Direction) {
        let bit = match dir {
            Direction::Read => READABLE,
            Direction::Write => WRITABLE,
        };
        let _ = self
            .readiness
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
                (word >> TICK_SHIFT == snap.0 >> TICK_SHIFT).then_some(word & !bit)
            });
    }

    /// R1: the poller reports `ready` (a union of the bit constants). Bumps the tick and
    /// passes every waiter of a direction that became ready to `wake`, after releasing the
    /// waiter lock.
    pub(crate) fn set_ready(&self, ready: usize, mut wake: impl FnMut(W)) {
        let ready = ready & BITS;
        // The tick wraps after 2^56 events; equality is all R2 needs.
        let _ = self
            .readiness
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
                Some((((word >> TICK_SHIFT).wrapping_add(1)) << TICK_SHIFT) | (word & BITS) | ready)
            });
        // Waiters are woken outside the lock, a small batch at a time (no allocation). A
        // waiter that registers while a batch is being woken may be woken too: harmless (R4).
        loop {
            let mut batch: [Option<W>; WAKE_BATCH] = std::array::from_fn(|_| None);
            let mut n = 0;
            let more = {
                let mut waiters = self.waiters.lock();
                for dir in [Direction::Read, Direction::Write] {
                    if ready & dir.mask() == 0 {
                        continue;
                    }
                    let list = waiters.list(dir);
                    while n < WAKE_BATCH {
                        let Some((_, waiter)) = list.pop() else { break };
                        batch[n] = Some(waiter);
                        n += 1;
                    }
                }
                n == WAKE_BATCH
            };
            for waiter in batch.into_iter().flatten() {
                wake(waiter);
            }
            if !more {
                return;
            }
        }
    }

    /// R3: registers `waiter` for `dir` unless `dir` is ready already. Returns the key for
    /// `cancel`, or `None` when the caller should retry its operation instead of parking.
    pub(crate) fn register(&self, dir: Direction, waiter: W) -> Option<u64> {
        let mut waiters = self.waiters.lock();
        if self.readiness.load(Ordering::Acquire) & dir.mask() != 0 {
            return None;
        }
        let key = waiters.next_key;
        waiters.next_key += 1;
        waiters.list(dir).push((key, waiter));
        Some(key)
    }

    /// R4: takes the waiter registered under `key` back out, if the poller has not taken it,
    /// and returns it (to be dropped by the caller, after this lock).
    pub(crate) fn cancel(&self, dir: Direction, key: u64) -> Option<W> {
        let mut waiters = self.waiters.lock();
        let list = waiters.list(dir);
        let i = list.iter().position(|(k, _)| *k == key)?;
        Some(list.swap_remove(i).1)
    }

    /// Whether `dir` is ready now (tests and the loom model).
    #[allow(dead_code)]
    pub(crate) fn is_ready(&self, dir: Direction) -> bool {
        self.readiness.load(Ordering::Acquire) & dir.mask() != 0
    }
}
