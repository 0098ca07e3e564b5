//! The raw condition variable under `sync::Condvar`: a wait queue of its own.
//!
//! Invariants (CV1–CV2, arch/sync.md):
//! - CV1: a waiter queues its node before it releases the mutex, so a notify made by anyone
//!   who took the mutex after that release finds the node: no lost wake-up.
//! - CV2: a notify pops the nodes it wakes; a waiter that times out takes its own node off the
//!   queue under the queue lock, or, if a notify popped it first, counts as notified. Either
//!   way the notify is never spent on a waiter that has left.

use std::time::Instant;

use super::mutex::RawMutex;
use super::waitq::{Node, WaitQueue};
use crate::park::Wait;

const NOTIFIED: usize = 1;

#[derive(Debug)]
pub(crate) struct RawCondvar {
    queue: WaitQueue,
}

impl RawCondvar {
    pub(crate) const fn new() -> RawCondvar {
        RawCondvar {
            queue: WaitQueue::new(),
        }
    }

    /// Releases `mutex`, waits for a notify or `deadline`, and takes `mutex` again. Returns
    /// whether it was notified (`false`: the deadline passed).
    ///
    /// # Safety
    /// The caller holds `mutex`.
    pub(crate) unsafe fn wait(
        &self,
        mutex: &RawMutex,
        deadline: Option<Instant>,
        why: Option<Wait>,
    ) -> bool {
        let node = Node::new(0);
        // CV1: queued before the mutex is released.
        self.queue.lock().push_back(&node);
        // SAFETY: the caller holds `mutex`.
        unsafe { mutex.unlock() };
        let notified = node
            .wait(
                &self.queue,
                deadline,
                why.unwrap_or(Wait::Condvar(self as *const Self as usize)),
            )
            .is_some();
        mutex.lock();
        notified
    }

    /// Wakes the oldest waiter, if any.
    pub(crate) fn notify_one(&self) {
        if self.queue.is_empty() {
            return;
        }
        let unparker = self.queue.lock().wake_front(NOTIFIED);
        if let Some(u) = unparker {
            u.unpark();
        }
    }

    /// Wakes every waiter.
    pub(crate) fn notify_all(&self) {
        if self.queue.is_empty() {
            return;
        }
        let woken = self.queue.lock().wake_up_to(usize::MAX, NOTIFIED);
        for u in woken {
            u.unpark();
        }
    }
}
