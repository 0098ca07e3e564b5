//! Per-worker timers for `sleep` and `park_timeout` of the worker's own coroutines.
//!
//! Ground rules (arch/scheduler.md):
//! - T1: a timer is armed by the owning worker right after it committed the park (P1), so the
//!   timer and the coroutine live on the same worker (CO4) and the heap needs no lock.
//! - T2: a timer fires at most once: firing (or the coroutine returning from its park first)
//!   clears `Task::timer_seq`; an entry whose sequence number no longer matches is stale and
//!   skipped. Stale entries are dropped lazily, and the heap is compacted when they dominate.
//! - T3: an idle worker sleeps no longer than its earliest live deadline.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::coroutine::{Task, TaskRef};

struct Entry {
    deadline: Instant,
    seq: u64,
    task: TaskRef,
}

impl Entry {
    fn is_live(&self) -> bool {
        self.task.timer_seq.load(Ordering::Relaxed) == self.seq
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    // Reversed: `BinaryHeap` is a max-heap and we want the earliest deadline on top.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.deadline, other.seq).cmp(&(self.deadline, self.seq))
    }
}

/// The timer heap of one worker. Owner thread only.
#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Entry>,
    next_seq: u64,
    stale: usize,
}

impl std::fmt::Debug for Timers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timers")
            .field("len", &self.heap.len())
            .field("stale", &self.stale)
            .finish()
    }
}

impl Timers {
    /// T1: arms a timer that wakes `task` at `deadline`.
    pub(crate) fn arm(&mut self, deadline: Instant, task: TaskRef) {
        self.next_seq += 1;
        let seq = self.next_seq;
        task.timer_seq.store(seq, Ordering::Relaxed);
        self.heap.push(Entry {
            deadline,
            seq,
            task,
        });
    }

    /// T2: the coroutine returned from its park before the timer fired.
    pub(crate) fn disarm(&mut self, task: &Task) {
        if task.timer_seq.swap(0, Ordering::Relaxed) != 0 {
            self.stale += 1;
            if self.stale > 1024 && self.stale * 2 > self.heap.len() {
                self.heap.retain(Entry::is_live);
                self.stale = 0;
            }
        }
    }

    /// Pops every timer due at `now`, passing the live ones to `wake`. Returns how many fired.
    pub(crate) fn fire(&mut self, now: Instant, mut wake: impl FnMut(TaskRef)) -> usize {
        let mut fired = 0;
        while let Some(top) = self.heap.peek() {
            if top.deadline > now {
                break;
            }
            let entry = self.heap.pop().expect("peeked");
            if entry.is_live() {
                entry.task.timer_seq.store(0, Ordering::Relaxed);
                wake(entry.task);
                fired += 1;
            } else {
                self.stale = self.stale.saturating_sub(1);
            }
        }
        fired
    }

    /// T3: the earliest live deadline.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(top) = self.heap.peek() {
            if top.is_live() {
                return Some(top.deadline);
            }
            self.heap.pop();
            self.stale = self.stale.saturating_sub(1);
        }
        None
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}
