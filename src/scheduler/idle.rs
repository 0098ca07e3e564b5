//! Idle workers: who searches for work, who sleeps, and who wakes whom (Go's spinning rule).
//!
//! Ground rules (arch/scheduler.md):
//! - S4: whoever submits stealable work (a spawn) wakes a sleeping worker only when no worker
//!   is searching; the woken worker starts out searching.
//! - S5: a searcher that finds work stops searching and, if it was the last searcher, wakes
//!   another worker (so the rest of the work it saw gets a searcher too).
//! - S6: no lost wake-up: every worker that goes to sleep re-checks every stealable queue
//!   after registering as asleep. Submitters publish their work, then (after a SeqCst fence)
//!   read `state`; sleepers update `state` (SeqCst, fence), then re-check the queues. One of
//!   the two always sees the other. (Re-checking only in the last searcher, as Go does, is not
//!   enough here: Go's global queue is checked under the scheduler lock, and its other work
//!   sits in the run queue of a P that is running; weft's injector is filled by plain OS
//!   threads without a lock, and its only searcher may just have picked a coroutine that never
//!   parks.)
//! - S7: about half the workers at most search at once, so searching does not burn every
//!   core. The bound is soft: the check and the increment are separate steps, and a worker
//!   woken by S4 is counted as searching without the check (someone must look at the work).
//!
//! - SY1: the monitor (sysmon.rs) sleeps without a deadline only while every worker sleeps, and
//!   never misses the first worker that wakes: it sets `SYSMON_ASLEEP` by a CAS that requires
//!   `unparked == 0`, and every increment of `unparked` is a read-modify-write that sees the bit
//!   if it was set first, and then wakes the monitor.
//!
//! `state` packs the number of searching workers (low 16 bits), of workers that are not asleep
//! (`unparked`, the next 31 bits) and the monitor's `SYSMON_ASLEEP` bit (the top bit).
//! `sleepers` lists the sleeping workers; it and the `unparked` count change together, under its
//! lock.

use crate::loom::sync::Mutex;
use crate::loom::sync::atomic::{AtomicUsize, Ordering};

const SEARCH_SHIFT: usize = 0;
const SEARCH_MASK: usize = 0xffff;
const UNPARK_SHIFT: usize = 16;
const UNPARK_MASK: usize = 0x7fff_ffff;
const ONE_SEARCHING: usize = 1 << SEARCH_SHIFT;
const ONE_UNPARKED: usize = 1 << UNPARK_SHIFT;
/// SY1: the monitor sleeps until a worker wakes.
const SYSMON_ASLEEP: usize = 1 << 47;

fn searching(state: usize) -> usize {
    (state >> SEARCH_SHIFT) & SEARCH_MASK
}

fn unparked(state: usize) -> usize {
    (state >> UNPARK_SHIFT) & UNPARK_MASK
}

/// How a worker left its sleep (`Idle::transition_from_parked`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Woken {
    /// It was woken to search (S4) and is counted as a searcher.
    pub(crate) searching: bool,
    /// The monitor sleeps until a worker wakes (SY1): the caller must wake it.
    pub(crate) wake_sysmon: bool,
}

/// Idle-worker bookkeeping shared by all workers. `Sync`.
#[derive(Debug)]
pub(crate) struct Idle {
    state: AtomicUsize,
    sleepers: Mutex<Vec<usize>>,
    /// Worker threads taking part: the configured ones, and spares while they take new work
    /// (HO1). Changed under the sleepers lock, by `add_worker` and `remove_worker`.
    workers: AtomicUsize,
}

impl Idle {
    /// All `workers` start awake and not searching.
    pub(crate) fn new(workers: usize) -> Idle {
        Idle {
            state: AtomicUsize::new(workers * ONE_UNPARKED),
            sleepers: Mutex::new(Vec::with_capacity(2 * workers)),
            workers: AtomicUsize::new(workers),
        }
    }

    /// HO1: a spare worker starts, counted awake and not searching.
    pub(crate) fn add_worker(&self) {
        let _sleepers = self.sleepers.lock();
        self.workers.fetch_add(1, Ordering::SeqCst);
        self.state.fetch_add(ONE_UNPARKED, Ordering::SeqCst);
    }

    /// HO1: a retired spare leaves the protocol; it is awake, not searching and not in the
    /// list, and takes no new work from now on, so nobody must wake it for any.
    pub(crate) fn remove_worker(&self) {
        let _sleepers = self.sleepers.lock();
        self.state.fetch_sub(ONE_UNPARKED, Ordering::SeqCst);
        self.workers.fetch_sub(1, Ordering::SeqCst);
    }

    /// S4: called after stealable work was published. Returns the worker to wake, if any;
    /// that worker has been counted as unparked and searching on its behalf (it wakes the
    /// monitor, SY1, when it runs).
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        if !self.should_notify() {
            return None;
        }
        let mut sleepers = self.sleepers.lock();
        if !self.should_notify() {
            return None;
        }
        let worker = sleepers.pop()?;
        self.state
            .fetch_add(ONE_UNPARKED | ONE_SEARCHING, Ordering::SeqCst);
        Some(worker)
    }

    fn should_notify(&self) -> bool {
        let state = self.state.load(Ordering::SeqCst);
        searching(state) == 0 && unparked(state) < self.workers.load(Ordering::SeqCst)
    }

    /// S7: tries to become a searcher.
    pub(crate) fn transition_to_searching(&self) -> bool {
        let state = self.state.load(Ordering::SeqCst);
        if 2 * searching(state) >= self.workers.load(Ordering::Relaxed).max(2) {
            return false;
        }
        self.state.fetch_add(ONE_SEARCHING, Ordering::SeqCst);
        true
    }

    /// S5: stops searching; returns `true` if the caller was the last searcher and must wake
    /// another worker.
    pub(crate) fn transition_from_searching(&self) -> bool {
        let prev = self.state.fetch_sub(ONE_SEARCHING, Ordering::SeqCst);
        searching(prev) == 1
    }

    /// S6: registers `worker` as asleep. The caller must then re-check the stealable queues
    /// before it sleeps.
    pub(crate) fn transition_to_parked(&self, worker: usize, is_searching: bool) {
        let mut sleepers = self.sleepers.lock();
        let dec = ONE_UNPARKED + if is_searching { ONE_SEARCHING } else { 0 };
        self.state.fetch_sub(dec, Ordering::SeqCst);
        sleepers.push(worker);
    }

    /// After waking: whether the worker was woken as a searcher (by `worker_to_notify`), and
    /// whether it must wake the monitor (SY1). A worker woken otherwise (a wake for one of its
    /// own coroutines, a timer) takes itself off the sleepers list.
    pub(crate) fn transition_from_parked(&self, worker: usize) -> Woken {
        let mut sleepers = self.sleepers.lock();
        let prev = match sleepers.iter().position(|&w| w == worker) {
            Some(i) => {
                sleepers.swap_remove(i);
                let prev = self.state.fetch_add(ONE_UNPARKED, Ordering::SeqCst);
                return Woken {
                    searching: false,
                    wake_sysmon: prev & SYSMON_ASLEEP != 0,
                };
            }
            // `worker_to_notify` counted this worker in with a read-modify-write that came
            // after any CAS that set the bit (the count was 0 then), so the bit is seen here.
            None => self.state.load(Ordering::SeqCst),
        };
        Woken {
            searching: true,
            wake_sysmon: prev & SYSMON_ASLEEP != 0,
        }
    }

    /// SY1: the monitor may sleep until a worker wakes: sets `SYSMON_ASLEEP` if every worker
    /// sleeps. Returns whether it did.
    pub(crate) fn sysmon_try_sleep(&self) -> bool {
        let mut state = self.state.load(Ordering::SeqCst);
        loop {
            if unparked(state) != 0 {
                return false;
            }
            match self.state.compare_exchange(
                state,
                state | SYSMON_ASLEEP,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
    }

    /// DL1: whether every worker sleeps.
    pub(crate) fn all_asleep(&self) -> bool {
        unparked(self.state.load(Ordering::SeqCst)) == 0
    }

    /// SY1: the monitor is awake again (woken, or spuriously).
    pub(crate) fn sysmon_woke(&self) {
        self.state.fetch_and(!SYSMON_ASLEEP, Ordering::SeqCst);
    }
}
