//! The raw reader-writer lock under `sync::RwLock`: one state word and a wait queue.
//!
//! State: `WRITER` (held exclusively), `PARKED` (nodes are queued), and the reader count in
//! units of `READER`. Invariants (RW1–RW5, arch/sync.md):
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

use super::waitq::{Locked, Node, WaitQueue};
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::park::{Unparker, Wait};

const WRITER: usize = 1;
const PARKED: usize = 2;
const READER: usize = 4;
const READERS: usize = !(WRITER | PARKED);

/// Node kinds.
const READ: usize = 0;
const WRITE: usize = 1;

const GRANTED: usize = 1;

#[derive(Debug)]
pub(crate) struct RawRwLock {
    state: AtomicUsize,
    queue: WaitQueue,
}

impl RawRwLock {
    pub(crate) const fn new() -> RawRwLock {
        RawRwLock {
            state: AtomicUsize::new(0),
            queue: WaitQueue::new(),
        }
    }

    /// Takes a shared lock if nobody writes or waits (RW2).
    #[inline]
    pub(crate) fn try_read(&self) -> bool {
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
        self.state
            .compare_exchange(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Takes a shared lock, parking while a writer holds it or anyone waits (RW2).
    #[inline]
    pub(crate) fn read(&self) {
        if !self.try_read() {
            self.lock_slow(READ);
        }
    }

    /// Takes the exclusive lock, parking while anyone holds it or waits.
    #[inline]
    pub(crate) fn write(&self) {
        if !self.try_write() {
            self.lock_slow(WRITE);
        }
    }

    #[cold]
    fn lock_slow(&self, kind: usize) {
        loop {
            if (kind == READ && self.try_read()) || (kind == WRITE && self.try_write()) {
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
    /// The caller holds a shared lock.
    #[inline]
    pub(crate) unsafe fn read_unlock(&self) {
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
    /// between; the readers at the head of the queue come in with it (RW5).
    ///
    /// # Safety
    /// The caller holds the exclusive lock.
    pub(crate) unsafe fn downgrade(&self) {
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
            return;
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
