//! Deadlines that wake a `Waker` (hyper's timer, future/hyper.rs): one heap for the process,
//! served by one plain OS thread that sleeps until the earliest deadline.
//!
//! Why a thread of its own: a waker deadline is armed and dropped at every request by hyper
//! (its header read timeout), from any coroutine or thread. One heap behind a lock makes arming
//! a push and dropping a flag, with no spawn per sleep; a plain thread, not a coroutine, so
//! that a worker held by a long computation delays no timeout and the service never shows in
//! a dump. Ground rules (arch/future.md):
//! - FU2: the thread sleeps until the earliest live deadline; arming an earlier one than it
//!   sleeps for unparks it (under the heap's lock, so it cannot miss it: an unpark before its
//!   park is kept, P5). A due entry's waker is taken under the entry's lock and woken after the
//!   heap's lock is released; an entry dropped first is skipped (cancelled), and cancelled
//!   entries are swept out when they are most of the heap.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Waker;
use std::time::Instant;

use parking_lot::Mutex;

/// One armed deadline, shared by its `Sleep` and the heap.
#[derive(Debug, Default)]
pub(crate) struct Entry {
    /// The deadline passed and the waker (if any) was taken.
    fired: AtomicBool,
    /// The sleep was dropped: skip it.
    cancelled: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Entry {
    /// Whether the deadline passed; else keeps `waker` for the firing (the waker under the
    /// lock, then the flag: the firing sets the flag and takes the waker under that lock).
    pub(crate) fn poll_fired(&self, waker: &Waker) -> bool {
        if self.fired.load(Ordering::Acquire) {
            return true;
        }
        {
            let mut slot = self.waker.lock();
            match &*slot {
                Some(w) if w.will_wake(waker) => {}
                _ => *slot = Some(waker.clone()),
            }
        }
        self.fired.load(Ordering::Acquire)
    }
}

struct Armed {
    deadline: Instant,
    seq: u64,
    entry: Arc<Entry>,
}

impl PartialEq for Armed {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}
impl Eq for Armed {}
impl PartialOrd for Armed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Armed {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

#[derive(Default)]
struct Heap {
    heap: BinaryHeap<Reverse<Armed>>,
    next_seq: u64,
    /// Cancelled entries still in `heap`.
    cancelled: usize,
    /// FU2: the deadline the thread sleeps until (`None`: it sleeps until unparked).
    sleeping_until: Option<Instant>,
}

struct Service {
    heap: Mutex<Heap>,
    thread: std::thread::Thread,
}

fn service() -> &'static Service {
    static SERVICE: OnceLock<Service> = OnceLock::new();
    SERVICE.get_or_init(|| {
        let thread = std::thread::Builder::new()
            .name("weft-deadlines".into())
            .spawn(|| run(service()))
            .unwrap_or_else(|e| panic!("weft: cannot start the timer thread of hyper's Timer: {e}"))
            .thread()
            .clone();
        Service {
            heap: Mutex::new(Heap::default()),
            thread,
        }
    })
}

/// FU2: arms `deadline`; the returned entry fires (its waker is woken) once it passes.
pub(crate) fn arm(deadline: Instant) -> Arc<Entry> {
    let entry = Arc::new(Entry::default());
    let service = service();
    let mut heap = service.heap.lock();
    heap.next_seq += 1;
    let seq = heap.next_seq;
    heap.heap.push(Reverse(Armed {
        deadline,
        seq,
        entry: entry.clone(),
    }));
    if heap.sleeping_until.is_none_or(|until| deadline < until) {
        heap.sleeping_until = Some(deadline);
        service.thread.unpark();
    }
    entry
}

/// FU2: the sleep is dropped before it fired: its entry is skipped, and swept out with the
/// others when they are most of the heap.
pub(crate) fn cancel(entry: &Entry) {
    if entry.fired.load(Ordering::Acquire) || entry.cancelled.swap(true, Ordering::AcqRel) {
        return;
    }
    drop(entry.waker.lock().take());
    let mut heap = service().heap.lock();
    heap.cancelled += 1;
    if heap.cancelled > 1024 && heap.cancelled * 2 > heap.heap.len() {
        heap.heap
            .retain(|Reverse(a)| !a.entry.cancelled.load(Ordering::Acquire));
        heap.cancelled = 0;
    }
}

/// The service thread: fires what is due, then sleeps until the next live deadline.
fn run(service: &'static Service) {
    let mut due = Vec::new();
    loop {
        let now = Instant::now();
        let next = {
            let mut heap = service.heap.lock();
            let next = loop {
                let Some(Reverse(top)) = heap.heap.peek() else {
                    break None;
                };
                if top.entry.cancelled.load(Ordering::Acquire) {
                    heap.heap.pop();
                    heap.cancelled = heap.cancelled.saturating_sub(1);
                    continue;
                }
                if top.deadline > now {
                    break Some(top.deadline);
                }
                let Reverse(armed) = heap.heap.pop().expect("peeked");
                // `fired` under the entry's lock, before the waker is taken: a poll that stores
                // its waker after this lock sees `fired`, one that stored it before is woken.
                let mut slot = armed.entry.waker.lock();
                armed.entry.fired.store(true, Ordering::Release);
                due.extend(slot.take());
            };
            heap.sleeping_until = next;
            next
        };
        // Outside the lock: a waker is user code.
        for waker in due.drain(..) {
            waker.wake();
        }
        match next {
            Some(deadline) => std::thread::park_timeout(deadline.saturating_duration_since(now)),
            None => std::thread::park(),
        }
    }
}
