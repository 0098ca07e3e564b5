//! The raw reader-writer lock under `sync::RwLock`: one state word and a wait queue.
//!
//! State: `WRITER` (held exclusively), `PARKED` (nodes are queued), and the reader count in
//! units of `READER`; beside it, one holder's identity. Invariants (RW1–RW6, arch/sync.md):
//! - RW1: `PARKED` is set exactly while the queue is not empty; both change under the queue
//!   lock only.
//! - RW2: while `PARKED` is set nobody takes the lock by itself: the fast paths need
//!   `PARKED` clear, and the slow paths queue. Holders are then only the ones that held it
//!   already and the ones the queue granted, so a writer that waits is never overtaken by a
//!   stream of new readers, nor a reader by writers (the queue is FIFO).
//! - RW3: the release that leaves the lock with no holder and `PARKED` set (the last reader
//!   out, or the writer) takes the queue lock and grants: to the writer at the head, or to
//!   every reader at the head up to the first writer. The grant sets the state for them
//!   (hand-over); the woken waiters hold the lock when they see their token (Q4).
//! - RW4: a locker parks only after it re-checked the state under the queue lock and set
//!   `PARKED` by CAS from the state it saw, so the release of RW3 finds its node.
//! - RW5: `downgrade` turns the writer into a reader in one CAS (no writer can come in
//!   between) and then lets in the readers at the head of the queue, as a grant would; a
//!   writer at the head keeps waiting for every reader to leave.
//! - RW6 (a relock panics): `holder` is the identity (`park::holder`) of the writer, or of one
//!   reader: a reader that finds it 0 right after it took its shared lock stores its own and
//!   is then "recorded" (its `ReadHold` says so); a downgraded writer stays recorded. A
//!   recorded holder sets it back to 0 right before its release; the others never touch it.
//!   As for the mutex (M6), a caller reads its own identity there only while it holds the
//!   lock, so the slow paths panic on a match, before queueing: `write` by the writer or by
//!   the recorded reader, `read` by the writer. The writer is always recorded; of several
//!   readers, one at most, so a `write` by an unrecorded reader still deadlocks as before.

use super::waitq::{Locked, Node, WaitQueue};
use crate::loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use crate::park::{self, Unparker, Wait};

const WRITER: usize = 1;
const PARKED: usize = 2;
const READER: usize = 4;
const READERS: usize = !(WRITER | PARKED);

/// Node kinds.
const READ: usize = 0;
const WRITE: usize = 1;

const GRANTED: usize = 1;

/// A shared lock held by the caller: whether it recorded itself as the holder (RW6), in which
/// case its release clears the record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadHold {
    recorded: bool,
}

#[derive(Debug)]
pub(crate) struct RawRwLock {
    state: AtomicUsize,
    /// RW6: the writer's `park::holder()`, or a recorded reader's; 0 when nobody is recorded.
    /// Written only by the holder it names (and cleared by it).
    holder: AtomicU64,
    queue: WaitQueue,
}

impl RawRwLock {
    pub(crate) const fn new() -> RawRwLock {
        RawRwLock {
            state: AtomicUsize::new(0),
            holder: AtomicU64::new(0),
            queue: WaitQueue::new(),
        }
    }

    /// Takes a shared lock if nobody writes or waits (RW2).
    #[inline]
    pub(crate) fn try_read(&self) -> Option<ReadHold> {
        self.acquire_read().then(|| self.record_reader())
    }

    /// RW6: records the caller, which just took a shared lock, unless another holder is
    /// recorded. Another reader may be recording itself at the same time; then one record
    /// overwrites the other (or a release clears it), which only leaves a holder unrecorded.
    #[inline]
    fn record_reader(&self) -> ReadHold {
        let recorded = self.holder.load(Ordering::Relaxed) == 0;
        if recorded {
            self.holder.store(park::holder(), Ordering::Relaxed);
        }
        ReadHold { recorded }
    }

    /// The shared lock's CAS, without the record.
    #[inline]
    fn acquire_read(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & (WRITER | PARKED) != 0 {
                return false;
            }
            let Some(next) = s.checked_add(READER) else {
                crate::fatal::user("RwLock: too many concurrent readers");
            };
            match self
                .state
                .compare_exchange_weak(s, next, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
    }

    /// Takes the exclusive lock if nobody holds or waits for it.
    #[inline]
    pub(crate) fn try_write(&self) -> bool {
        let taken = self.acquire_write();
        if taken {
            // RW6: after the acquire, so it follows the previous holder's clearing store.
            self.holder.store(park::holder(), Ordering::Relaxed);
        }
        taken
    }

    /// The exclusive lock's CAS, without the record.
    #[inline]
    fn acquire_write(&self) -> bool {
        self.state
            .compare_exchange(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Takes a shared lock, parking while a writer holds it or anyone waits (RW2). Panics if
    /// the caller holds the exclusive lock (RW6).
    #[inline]
    #[track_caller]
    pub(crate) fn read(&self) -> ReadHold {
        if !self.acquire_read() {
            self.lock_slow(READ);
        }
        self.record_reader()
    }

    /// Takes the exclusive lock, parking while anyone holds it or waits. Panics if the caller
    /// holds it, or is its recorded reader (RW6).
    #[inline]
    #[track_caller]
    pub(crate) fn write(&self) {
        if !self.acquire_write() {
            self.lock_slow(WRITE);
        }
        // RW6, as in `try_write`.
        self.holder.store(park::holder(), Ordering::Relaxed);
    }

    /// RW6: panics if the caller, about to wait for a lock of `kind`, holds the exclusive
    /// lock, or (for `write`) is the recorded reader. A recorded reader's `read` that must
    /// wait (a writer queued behind its shared lock) is left to deadlock, as std may.
    #[inline]
    #[track_caller]
    fn check_relock(&self, kind: usize) {
        if self.holder.load(Ordering::Relaxed) != park::holder() {
            return;
        }
        // The caller holds the lock, so the `WRITER` bit cannot change under us: it is set
        // exactly if the caller is the writer.
        let writing = self.state.load(Ordering::Relaxed) & WRITER != 0;
        match (kind == WRITE, writing) {
            (true, true) => park::relock_panic(
                "called write on a weft::sync::RwLock it already holds for writing (std's \
                 RwLock may deadlock here; weft panics)",
            ),
            (true, false) => park::relock_panic(
                "called write on a weft::sync::RwLock it holds a read guard of (std's RwLock \
                 may deadlock here; weft panics)",
            ),
            (false, true) => park::relock_panic(
                "called read on a weft::sync::RwLock it already holds for writing (std's \
                 RwLock may deadlock here; weft panics)",
            ),
            (false, false) => {}
        }
    }

    #[cold]
    #[track_caller]
    fn lock_slow(&self, kind: usize) {
        // RW6: before any node is built or queued.
        self.check_relock(kind);
        loop {
            if (kind == READ && self.acquire_read()) || (kind == WRITE && self.acquire_write()) {
                return;
            }
            let node = Node::new(kind);
            {
                let mut q = self.queue.lock();
                let s = self.state.load(Ordering::Relaxed);
                let free = if kind == READ {
                    s & (WRITER | PARKED) == 0
                } else {
                    s == 0
                };
                if free {
                    continue;
                }
                // RW4.
                if s & PARKED == 0
                    && self
                        .state
                        .compare_exchange(s, s | PARKED, Ordering::Relaxed, Ordering::Relaxed)
                        .is_err()
                {
                    continue;
                }
                q.push_back(&node);
            }
            // RW3: granted means held.
            let addr = self as *const Self as usize;
            let why = if kind == READ {
                Wait::RwLockRead(addr)
            } else {
                Wait::RwLockWrite(addr)
            };
            node.wait(&self.queue, None, why);
            return;
        }
    }

    /// Releases a shared lock.
    ///
    /// # Safety
    /// The caller holds a shared lock, which `hold` describes.
    #[inline]
    pub(crate) unsafe fn read_unlock(&self, hold: ReadHold) {
        if hold.recorded {
            // RW6: before the release.
            self.holder.store(0, Ordering::Relaxed);
        }
        let before = self.state.fetch_sub(READER, Ordering::Release);
        debug_assert!(before & READERS != 0);
        if before - READER == PARKED {
            self.grant();
        }
    }

    /// Releases the exclusive lock.
    ///
    /// # Safety
    /// The caller holds the exclusive lock.
    #[inline]
    pub(crate) unsafe fn write_unlock(&self) {
        // RW6: before the release (this CAS, or the `fetch_and` below).
        self.holder.store(0, Ordering::Relaxed);
        if self
            .state
            .compare_exchange(WRITER, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            // PARKED is set, and RW2 keeps anyone else from changing the state.
            self.state.fetch_and(!WRITER, Ordering::Release);
            self.grant();
        }
    }

    /// Turns the caller's exclusive lock into a shared one, without letting a writer in
    /// between; the readers at the head of the queue come in with it (RW5). The caller stays
    /// the recorded holder (RW6).
    ///
    /// # Safety
    /// The caller holds the exclusive lock.
    pub(crate) unsafe fn downgrade(&self) -> ReadHold {
        let hold = ReadHold { recorded: true };
        let mut s = self.state.load(Ordering::Relaxed);
        let next = loop {
            // A slow locker may set PARKED meanwhile (RW4): CAS, keeping it.
            let next = (s & !WRITER) + READER;
            match self
                .state
                .compare_exchange_weak(s, next, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => break next,
                Err(now) => s = now,
            }
        };
        if next & PARKED == 0 {
            return hold;
        }
        let woken = {
            let mut q = self.queue.lock();
            // RW2: with PARKED set only the queue lock's holder changes the state, and the
            // only holder of the lock is the caller, who is here.
            let held = self.state.load(Ordering::Relaxed) & READERS;
            self.admit_readers(&mut q, held)
        };
        for u in woken {
            u.unpark();
        }
        hold
    }

    /// Lets in every reader at the head of the queue, beside the `held` shared locks (a
    /// count of `READER`s) of the caller; returns how to wake them (after unlocking).
    fn admit_readers(&self, q: &mut Locked<'_>, held: usize) -> Vec<Unparker> {
        // The state first: a reader that sees its token holds the lock and may release it at
        // once. `Release`: with nobody left queued, `PARKED` is clear and a new reader may
        // take the lock by CAS from this store, which must order the last writer's critical
        // section before it (a plain store ends the release sequence of the writer's
        // `fetch_and`; found by loom).
        let readers = q.front_run(READ);
        let rest = if readers < q.len() { PARKED } else { 0 };
        self.state
            .store((held + readers * READER) | rest, Ordering::Release);
        q.wake_up_to(readers, GRANTED)
    }

    /// RW3: hands the free lock to the head of the queue.
    #[cold]
    fn grant(&self) {
        let mut woken = Vec::new();
        {
            let mut q = self.queue.lock();
            // Acquire: reads the end of the release sequence of every reader's `fetch_sub`,
            // so their critical sections happen before the grant, and the grantee's.
            let s = self.state.load(Ordering::Acquire);
            if s & (WRITER | READERS) != 0 {
                // Granted already (cannot happen with one releaser; kept for safety).
                return;
            }
            match q.front_kind() {
                Some(WRITE) => {
                    let rest = if q.len() > 1 { PARKED } else { 0 };
                    self.state.store(WRITER | rest, Ordering::Release);
                    woken.extend(q.wake_front(GRANTED));
                }
                Some(_) => woken = self.admit_readers(&mut q, 0),
                None => self.state.store(0, Ordering::Relaxed),
            }
        }
        for u in woken {
            u.unpark();
        }
    }
}
