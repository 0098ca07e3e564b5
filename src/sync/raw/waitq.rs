//! The wait queue under every lock of `weft::sync`: FIFO nodes on the waiters' own stacks.
//!
//! A waiter that must block builds a [`Node`] on its stack (stacks never move: coroutine
//! stacks are fixed slots, CO1), queues it under the queue's lock after re-checking its
//! condition there, and parks until a waker hands it a non-zero token. Ground rules (Q1–Q4,
//! arch/sync.md):
//! - Q1: a node is on a queue only while its owner's frame lives. The owner leaves `wait`
//!   either after it saw a token (the waker popped the node) or after it took the node off the
//!   queue itself, under the queue lock (a timeout).
//! - Q2: others touch a node only under the queue lock, which is what keeps Q1's frame alive
//!   under them; the token is written under that lock, once, by the waker that pops the node.
//! - Q3: the waker copies the node's unparker before it writes the token and touches the node
//!   no more after that write; it unparks after releasing the queue lock.
//! - Q4: the token is written with `Release` and read with `Acquire`, so whatever the waker did
//!   before (a lock handed over, permits granted) is visible to the owner when it sees the token.

use std::collections::VecDeque;
use std::ptr::NonNull;
use std::time::Instant;

use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::{Mutex, MutexGuard};
use crate::park::{self, LocalUnparker, Unparker, Wait};

/// One blocked waiter, on its own stack.
#[derive(Debug)]
pub(crate) struct Node {
    /// 0 while waiting; the waker's answer once popped (Q2, Q4).
    token: AtomicUsize,
    unparker: LocalUnparker,
    /// What the waiter waits for (a reader or a writer, a starving locker…): written before
    /// the node is queued, read by wakers under the queue lock.
    kind: usize,
}

impl Node {
    /// A node for the calling coroutine or thread.
    pub(crate) fn new(kind: usize) -> Node {
        Node {
            token: AtomicUsize::new(0),
            unparker: park::current_local(),
            kind,
        }
    }

    /// Parks until a waker pops this node (returns its token) or `deadline` passes, in which
    /// case the node is taken off `queue` and `None` returned. The node must be on `queue`.
    /// `why` names the wait for the dump (DU1).
    pub(crate) fn wait(
        &self,
        queue: &WaitQueue,
        deadline: Option<Instant>,
        why: Wait,
    ) -> Option<usize> {
        // Q1 relies on this frame not being left while the node is queued: parking never
        // unwinds today; if it ever did, abort with a message rather than free a queued node.
        let guard = AbortOnUnwind;
        let token = self.wait_inner(queue, deadline, why);
        std::mem::forget(guard);
        token
    }

    fn wait_inner(&self, queue: &WaitQueue, deadline: Option<Instant>, why: Wait) -> Option<usize> {
        loop {
            let token = self.token.load(Ordering::Acquire);
            if token != 0 {
                return Some(token);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                let mut q = queue.lock();
                // Q2: a waker writes the token under this lock, so it is final here.
                let token = self.token.load(Ordering::Acquire);
                if token != 0 {
                    return Some(token);
                }
                q.remove(self);
                return None;
            }
            park::park(deadline, why);
        }
    }
}

/// Aborts if dropped during unwinding (see `Node::wait`).
struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        crate::fatal::bug("a lock wait unwound while its node was queued");
    }
}

/// A FIFO of blocked waiters.
#[derive(Debug)]
pub(crate) struct WaitQueue {
    nodes: Mutex<VecDeque<NonNull<Node>>>,
    /// The number of queued nodes, written under the lock: lets a waker skip the lock when
    /// nobody waits (a notify with no waiter).
    len: AtomicUsize,
}

// SAFETY: the queue holds pointers to nodes whose owners wait on other threads; they are only
// reached under the queue lock (Q2), and a node's fields are atomics and a `LocalUnparker`,
// which are `Sync`.
unsafe impl Send for WaitQueue {}
// SAFETY: as for `Send`: every access to the pointers goes through the lock.
unsafe impl Sync for WaitQueue {}

impl WaitQueue {
    pub(crate) const fn new() -> WaitQueue {
        WaitQueue {
            nodes: Mutex::new(VecDeque::new()),
            len: AtomicUsize::new(0),
        }
    }

    /// Locks the queue.
    pub(crate) fn lock(&self) -> Locked<'_> {
        Locked {
            nodes: self.nodes.lock(),
            len: &self.len,
        }
    }

    /// Whether nodes are queued, without the lock: exact for a caller that is ordered after
    /// the queueing it cares about (through the lock the waiter released, for a condvar).
    pub(crate) fn is_empty(&self) -> bool {
        self.len.load(Ordering::Relaxed) == 0
    }
}

/// The locked queue.
pub(crate) struct Locked<'a> {
    nodes: MutexGuard<'a, VecDeque<NonNull<Node>>>,
    len: &'a AtomicUsize,
}

impl Locked<'_> {
    fn set_len(&self) {
        self.len.store(self.nodes.len(), Ordering::Relaxed);
    }

    /// Queues the caller's node at the back (Q1: it must `wait` on it before returning).
    pub(crate) fn push_back(&mut self, node: &Node) {
        self.nodes.push_back(NonNull::from(node));
        self.set_len();
    }

    /// Queues the caller's node at the front.
    pub(crate) fn push_front(&mut self, node: &Node) {
        self.nodes.push_front(NonNull::from(node));
        self.set_len();
    }

    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The kind of the oldest node.
    pub(crate) fn front_kind(&self) -> Option<usize> {
        // SAFETY: Q2: under the lock, a queued node's owner is still waiting (Q1).
        self.nodes.front().map(|n| unsafe { n.as_ref().kind })
    }

    /// How many nodes of `kind` lead the queue.
    pub(crate) fn front_run(&self, kind: usize) -> usize {
        self.nodes
            .iter()
            // SAFETY: Q2, as in `front_kind`.
            .take_while(|n| unsafe { n.as_ref().kind } == kind)
            .count()
    }

    /// Pops the oldest node, gives it `token` and returns how to wake it (after this lock is
    /// released, Q3).
    pub(crate) fn wake_front(&mut self, token: usize) -> Option<Unparker> {
        debug_assert_ne!(token, 0);
        let node = self.nodes.pop_front()?;
        self.set_len();
        // SAFETY: Q2: the node was queued, so its owner waits (Q1) until it sees the token,
        // and we hold the lock.
        let node = unsafe { node.as_ref() };
        // Q3: copy first; after the store below the owner may return and free the node.
        // SAFETY: as above: the owner's frame, which made the unparker, lives (P8).
        let unparker = unsafe { node.unparker.upgrade() };
        node.token.store(token, Ordering::Release);
        Some(unparker)
    }

    /// Pops up to `n` of the oldest nodes, giving each `token`; returns how to wake them
    /// (after this lock is released, Q3).
    pub(crate) fn wake_up_to(&mut self, n: usize, token: usize) -> Vec<Unparker> {
        let mut woken = Vec::new();
        while woken.len() < n {
            match self.wake_front(token) {
                Some(u) => woken.push(u),
                None => break,
            }
        }
        woken
    }

    /// Takes the caller's own node off the queue, if it is still there.
    fn remove(&mut self, node: &Node) {
        let ptr = NonNull::from(node);
        if let Some(i) = self.nodes.iter().position(|n| *n == ptr) {
            self.nodes.remove(i);
            self.set_len();
        }
    }
}
