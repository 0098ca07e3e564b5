//! The worker loop: find a runnable coroutine, resume it, act on why it switched back.
//!
//! `Core` is the worker's own state. It lives on the worker thread's stack and is reached only
//! from that thread: by the loop, and by coroutines it resumes (through `current.rs`) for
//! local spawns, local wakes and timers. No `RefCell`
//! borrow is held across a resume, so those re-entrant uses never overlap.

use std::cell::{Cell, RefCell, UnsafeCell};
use std::collections::VecDeque;
use std::io;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crossbeam_deque::{Injector, Steal, Worker};

use super::dump;
use super::timer::Timers;
use super::{
    PROGRESS_ASLEEP, PROGRESS_ONE_LOAD, PROGRESS_ONE_RESUME, Remote, Scheduler, current,
    progress_load, wake_io,
};
use crate::coroutine::{Resumed, Suspend, Task, TaskRef, Wake};
use crate::stack::SlabStack;

/// S3: how often the worker looks at the global queue, its inbox and its timers first.
const FAIRNESS_TICKS: u32 = 61;
/// S3: how many times in a row `runnext` may win.
const RUNNEXT_STREAK: u32 = 16;
/// How long a searcher watches the queues before sleeping (rounds of growing pauses).
const SPIN_ROUNDS: u32 = 24;
/// D5: every how many spin rounds an idle worker collects I/O events (without waiting).
const IO_SPIN_EVERY: u32 = 4;
/// Stacks of the default size a worker keeps for its own spawns, and how many it takes from the
/// pool at once.
const STACK_CACHE: usize = 256;
const STACK_BATCH: usize = 32;
/// D4: how long a worker sleeps on its parker, while I/O sources are registered and another
/// worker holds the driver, before it looks whether the driver needs a poller.
const DRIVER_WATCH: std::time::Duration = std::time::Duration::from_millis(10);
/// S8: another worker's `fresh` deque is stolen from one coroutine at a time up to this
/// length, in batches of at most `STEAL_BATCH` beyond it (crossbeam's own bound).
const STEAL_ONE_BELOW: usize = 8;
const STEAL_BATCH: usize = 32;
/// Woken coroutines moved from the inbox per look.
const INBOX_BATCH: usize = 128;

/// The state owned by one worker thread (see module doc).
pub(crate) struct Core {
    index: usize,
    sched: &'static Scheduler,
    /// This worker's entry in `sched.remotes`.
    remote: &'static Remote,
    /// Unstarted coroutines spawned here; other workers steal from its far end (S1).
    fresh: Worker<TaskRef>,
    /// Started coroutines that are runnable, FIFO.
    ready: RefCell<VecDeque<TaskRef>>,
    /// The coroutine woken last by a coroutine of this worker; runs next (S3 bounds it).
    runnext: RefCell<Option<TaskRef>>,
    runnext_streak: Cell<u32>,
    /// Coroutines that called `yield_now`: they run after all other local work.
    yielded: RefCell<VecDeque<TaskRef>>,
    pub(crate) timers: RefCell<Timers>,
    stack_cache: RefCell<Vec<SlabStack>>,
    tick: Cell<u32>,
    rng: Cell<u64>,
    searching: Cell<bool>,
    /// SY2, S8: the progress word: resumes so far, and the load (coroutines committed to
    /// start here, not finished and not parked); published in `remote.progress`.
    progress: Cell<u64>,
    /// HO3, DU4: coroutines committed to start here and not finished, parked ones included
    /// (plain pointers: DU4 keeps each alive while listed).
    live: UnsafeCell<Vec<*const Task>>,
    /// HO1: a spare slot's thread (it leaves once retired and done).
    spare: bool,
    /// HO3: the spare was retired and has left the idle protocol: it takes no new work.
    retired: Cell<bool>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// Body of configured worker thread `index`; never returns.
pub(super) fn run(sched: &'static Scheduler, index: usize, fresh: Worker<TaskRef>) {
    work(sched, index, fresh, false);
    crate::fatal::bug("a configured worker left its loop");
}

/// HO1: body of the thread sysmon starts in spare slot `index`: runs like any worker until it
/// is retired and its own coroutines have ended (HO3), then gives the slot's deque back.
pub(super) fn run_spare(sched: &'static Scheduler, index: usize) {
    let remote = &sched.remotes[index];
    let Some(fresh) = remote.spare_deque.lock().take() else {
        crate::fatal::bug("a spare worker started without its deque");
    };
    let fresh = work(sched, index, fresh, true);
    *remote.spare_deque.lock() = Some(fresh);
}

/// The worker loop. Returns (with the deque) only for a spare that is done (HO3).
fn work(
    sched: &'static Scheduler,
    index: usize,
    fresh: Worker<TaskRef>,
    spare: bool,
) -> Worker<TaskRef> {
    let _altstack = crate::signal::ensure_altstack();
    crate::panic::install_hook();
    let core = Core {
        index,
        sched,
        remote: &sched.remotes[index],
        fresh,
        ready: RefCell::new(VecDeque::new()),
        runnext: RefCell::new(None),
        runnext_streak: Cell::new(0),
        yielded: RefCell::new(VecDeque::new()),
        timers: RefCell::new(Timers::default()),
        stack_cache: RefCell::new(Vec::new()),
        tick: Cell::new(0),
        rng: Cell::new(
            0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03),
        ),
        searching: Cell::new(false),
        progress: Cell::new(0),
        live: UnsafeCell::new(Vec::new()),
        spare,
        retired: Cell::new(false),
    };
    // SAFETY: pthread_self and gettid have no preconditions.
    let (me, tid) = unsafe { (libc::pthread_self() as usize, libc::gettid() as usize) };
    core.remote.tid.store(tid, Ordering::Release);
    core.remote.thread.store(me, Ordering::Release);
    current::set_worker(&core);
    // `current::worker()` hands out `&'static Core`: true only because this loop ends only
    // for a spare with no coroutine left, which clears WORKER first. If it unwound (a bug),
    // `Core` would be dropped while WORKER still points at it, and its queued tasks' drops
    // could reach it: abort with a message instead.
    let never_unwinds = WorkerUnwindGuard;
    loop {
        if core.spare && core.remote.slot.is_retiring() && core.retire() {
            break;
        }
        match core.next_task().or_else(|| {
            // SY2: from here until the next resume the worker is idle, not held.
            core.publish_idle();
            core.search()
        }) {
            Some(task) => {
                core.stop_searching();
                core.run(task);
            }
            None if core.spin() => {}
            None => core.sleep(),
        }
    }
    // SY2: idle from now on (sysmon forgets the slot once it is idle and the thread joined).
    core.publish_idle();
    current::set_worker(std::ptr::null());
    std::mem::forget(never_unwinds);
    let Core {
        fresh, stack_cache, ..
    } = core;
    sched.stacks.release_batch(stack_cache.into_inner());
    fresh
}

impl Core {
    #[inline]
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// A new unstarted coroutine spawned on this worker (S1).
    #[inline]
    pub(crate) fn push_fresh(&self, task: TaskRef) {
        if self.retired.get() {
            // HO3: a retired spare starts nothing new; the others take it.
            return self.sched.injector.push(task);
        }
        self.fresh.push(task);
    }

    /// HO3: the spare is retired. The first time: it leaves the idle protocol and hands its
    /// unstarted coroutines to the injector. Returns whether it may leave now: none of its
    /// coroutines is alive and nothing is placed on it (HO2).
    fn retire(&self) -> bool {
        if !self.retired.replace(true) {
            if self.searching.replace(false) {
                self.sched.idle.transition_from_searching();
            }
            self.sched.idle.remove_worker();
            while let Some(task) = self.fresh.pop() {
                self.sched.injector.push(task);
            }
            self.sched.notify_work();
        }
        self.live_len() == 0 && self.remote.inbox.is_empty() && self.remote.slot.try_exit()
    }

    /// A coroutine of this worker was woken by code running on this worker: it runs next.
    #[inline]
    pub(crate) fn push_woken_local(&self, task: TaskRef) {
        if let Some(prev) = self.runnext.replace(Some(task)) {
            self.ready.borrow_mut().push_back(prev);
        }
    }

    /// A stack for a coroutine spawned on this worker: from the worker's cache for the
    /// default size, refilled from the pool a batch at a time (one lock per batch).
    #[inline]
    pub(crate) fn alloc_stack(&self, usable: usize) -> io::Result<SlabStack> {
        if usable != self.sched.config.stack_size {
            return self.sched.stacks.alloc(usable);
        }
        let mut cache = self.stack_cache.borrow_mut();
        if cache.is_empty() {
            self.sched
                .stacks
                .alloc_batch(usable, STACK_BATCH, &mut cache)?;
        }
        Ok(cache
            .pop()
            .expect("alloc_batch hands out at least one stack"))
    }

    /// CO8: the stack a coroutine starts on: the most recently used one of this worker's cache
    /// (warm in this core's caches and TLB), in exchange for the untouched slot reserved at
    /// spawn; the reserved one is used if the cache holds no stack of its size.
    fn hot_stack(&self, reserved: SlabStack) -> SlabStack {
        if reserved.usable() != self.sched.config.stack_size {
            return reserved;
        }
        let mut cache = self.stack_cache.borrow_mut();
        match cache.pop() {
            Some(hot) => {
                cache.push(reserved);
                hot
            }
            None => reserved,
        }
    }

    /// Keeps a finished coroutine's stack for this worker's next spawns; the oldest half of a
    /// full cache goes back to the pool in one batch (spawner and runner are often different
    /// workers, so caches fill on one side and drain on the other).
    fn release_stack(&self, stack: SlabStack) {
        if stack.usable() != self.sched.config.stack_size {
            return self.sched.stacks.release(stack);
        }
        let mut cache = self.stack_cache.borrow_mut();
        cache.push(stack);
        if cache.len() >= STACK_CACHE {
            self.sched
                .stacks
                .release_batch(cache.drain(..STACK_CACHE / 2));
        }
    }

    /// Local work, in S3's order.
    fn next_task(&self) -> Option<TaskRef> {
        let tick = self.tick.get().wrapping_add(1);
        self.tick.set(tick);
        if tick.is_multiple_of(FAIRNESS_TICKS) {
            self.answer_dump();
            self.poll_io_now();
            self.fire_timers();
            self.drain_inbox();
            // S3: the oldest yielded coroutine joins `ready`, so yielding never starves even
            // when the injector is never empty.
            if let Some(task) = self.yielded.borrow_mut().pop_front() {
                self.ready.borrow_mut().push_back(task);
            }
            if !self.retired.get()
                && let Some(task) = steal(|| self.sched.injector.steal())
                && let Some(task) = self.keep_or_place(task)
            {
                return Some(task);
            }
        }
        if let Some(task) = self.take_runnext() {
            return Some(task);
        }
        self.runnext_streak.set(0);
        // S3: started and unstarted coroutines take turns, so neither kind starves the other.
        let fresh_first = tick & 1 == 1;
        if fresh_first && let Some(task) = self.pop_fresh() {
            return Some(task);
        }
        if let Some(task) = self.ready.borrow_mut().pop_front() {
            return Some(task);
        }
        if self.drain_inbox() {
            return self.ready.borrow_mut().pop_front();
        }
        if !fresh_first && let Some(task) = self.pop_fresh() {
            return Some(task);
        }
        self.yielded.borrow_mut().pop_front()
    }

    /// The oldest unstarted coroutine of the `fresh` deque that is to start here (S8).
    #[inline]
    fn pop_fresh(&self) -> Option<TaskRef> {
        while let Some(task) = self.fresh.pop() {
            if let Some(task) = self.keep_or_place(task) {
                return Some(task);
            }
        }
        None
    }

    /// S8: `task`, unstarted, is about to start here; places it on the worker with the smallest
    /// load instead when that load is smaller than this worker's. `None` if it was placed;
    /// else it is counted as this worker's from now on.
    #[inline]
    fn keep_or_place(&self, task: TaskRef) -> Option<TaskRef> {
        let mine = progress_load(self.progress.get()) + self.remote.slot.placed();
        // Nobody has fewer than none: the common case costs no look at the other workers.
        let task = if mine == 0 {
            task
        } else {
            self.place_elsewhere(task, mine)?
        };
        self.load_up();
        self.live_add(&task);
        Some(task)
    }

    /// S8: places `task` on a worker whose load is smaller than `mine`, if there is one; else
    /// gives it back.
    #[inline(never)]
    fn place_elsewhere(&self, task: TaskRef, mine: usize) -> Option<TaskRef> {
        // Another worker's unstarted coroutines (those it took in a batch steal, or its own
        // spawns) will start there: they count in its load. This worker's own are the ones it
        // is deciding about, one at a time.
        let mut best = (mine, self.index);
        for (index, remote) in self.sched.remotes.iter().enumerate() {
            if index != self.index && remote.takes_placements() {
                best = best.min((remote.load(), index));
            }
        }
        if best.1 == self.index {
            return Some(task);
        }
        // HO2: a spare retired meanwhile gives it back.
        self.sched.place(best.1, task).err()
    }

    /// S8: one more coroutine of this worker runs (committed to start here, or woken from a
    /// park); the next progress word publishes it.
    #[inline]
    fn load_up(&self) {
        self.progress.set(self.progress.get() + PROGRESS_ONE_LOAD);
    }

    /// S8: one coroutine of this worker fewer runs (it parked or finished).
    #[inline]
    fn load_down(&self) {
        debug_assert!(
            progress_load(self.progress.get()) > 0,
            "S8: load below zero"
        );
        self.progress.set(self.progress.get() - PROGRESS_ONE_LOAD);
    }

    fn take_runnext(&self) -> Option<TaskRef> {
        let mut runnext = self.runnext.borrow_mut();
        runnext.as_ref()?;
        let streak = self.runnext_streak.get();
        if streak < RUNNEXT_STREAK {
            self.runnext_streak.set(streak + 1);
            return runnext.take();
        }
        // S3: let the other local work run before the ping-pong pair goes on.
        let task = runnext.take().expect("checked above");
        self.ready.borrow_mut().push_back(task);
        None
    }

    /// Moves woken coroutines from the inbox to `ready`. Returns whether any moved.
    #[inline]
    fn drain_inbox(&self) -> bool {
        // Plain loads first: `steal` on an empty injector costs a SeqCst fence.
        !self.remote.inbox.is_empty() && self.drain_inbox_slow()
    }

    #[inline(never)]
    fn drain_inbox_slow(&self) -> bool {
        let inbox = &self.remote.inbox;
        let mut moved = false;
        let mut ready = self.ready.borrow_mut();
        for _ in 0..INBOX_BATCH {
            match steal(|| inbox.steal()) {
                Some(task) => {
                    if task.owner().is_none() {
                        // S8: placed here by another worker; now this worker's to start.
                        self.remote.slot.took_placed();
                        self.load_up();
                        self.live_add(&task);
                    }
                    ready.push_back(task);
                    moved = true;
                }
                None => break,
            }
        }
        moved
    }

    /// Fires due timers into `ready`. Returns how many fired.
    fn fire_timers(&self) -> usize {
        let mut timers = self.timers.borrow_mut();
        if timers.is_empty() {
            return 0;
        }
        let mut ready = self.ready.borrow_mut();
        timers.fire(Instant::now(), |task| {
            if task.state.wake() == Wake::Enqueue {
                ready.push_back(task);
            }
        })
    }

    /// No local work: fire timers, then look for unstarted coroutines elsewhere (S4–S7).
    fn search(&self) -> Option<TaskRef> {
        if self.fire_timers() > 0 {
            return self.next_task();
        }
        if self.retired.get() {
            // HO3: no new work; its own coroutines come back through the inbox and timers.
            return None;
        }
        // D1: ready sockets before other workers' queues (Go's findrunnable does the same);
        // what they woke may belong to other workers, so go on searching if nothing is ours.
        if self.poll_io_now() > 0
            && let Some(task) = self.next_task()
        {
            return Some(task);
        }
        if !self.searching.get() {
            if !self.sched.idle.transition_to_searching() {
                return None;
            }
            self.searching.set(true);
        }
        let sched = self.sched;
        if let Some(task) = steal(|| sched.injector.steal_batch_and_pop(&self.fresh))
            && let Some(task) = self.keep_or_place(task)
        {
            return Some(task);
        }
        let n = sched.remotes.len();
        let start = self.next_rand() as usize % n;
        for i in 0..n {
            let victim = (start + i) % n;
            if victim == self.index || sched.remotes[victim].slot.is_idle() {
                continue;
            }
            let stealer = &sched.remotes[victim].stealer;
            // S8: a few unstarted coroutines are taken one at a time, so that each goes
            // through placement; a long deque (a burst of short spawns) in a batch.
            let limit = if stealer.len() <= STEAL_ONE_BELOW {
                1
            } else {
                STEAL_BATCH
            };
            if let Some(task) = steal(|| stealer.steal_batch_with_limit_and_pop(&self.fresh, limit))
                && let Some(task) = self.keep_or_place(task)
            {
                return Some(task);
            }
        }
        None
    }

    /// A worker that found nothing watches the queues a little longer before it sleeps: waking
    /// a sleeping worker costs a system call on both sides, and work often arrives within
    /// microseconds (S4). Non-searchers spin too: a started coroutine never moves (CO4), so a
    /// coroutine of this worker woken from another worker (a cross-worker ping-pong) can only
    /// be run here, and only plain loads are involved. Returns whether work showed up.
    ///
    /// D5: while sockets are registered, the spin also collects I/O events without waiting,
    /// every `IO_SPIN_EVERY` rounds (`search` polled just before the spin began, as Go's
    /// scheduler polls the network before it spins): I/O readiness reaches no queue until
    /// someone polls, so a worker that only watched its queues would sit out its whole spin
    /// (tens of microseconds) with a request waiting.
    fn spin(&self) -> bool {
        let sched = self.sched;
        let next_timer = self.timers.borrow_mut().next_deadline();
        for round in 0..SPIN_ROUNDS {
            if round % IO_SPIN_EVERY == IO_SPIN_EVERY - 1 && self.poll_io_now() > 0 {
                return true;
            }
            // A timer of this worker that falls due during the spin is work too: with many
            // sleepers (a million coroutines sleeping one second) the next deadline is often
            // microseconds away, and the spin would otherwise run its course (16 `sched_yield`
            // calls) and then sleep on the parker for those microseconds.
            if next_timer.is_some_and(|due| Instant::now() >= due) {
                return true;
            }
            if round < 8 {
                for _ in 0..(1 << round) {
                    std::hint::spin_loop();
                }
            } else {
                // Let a thread that is producing the work have the core.
                std::thread::yield_now();
            }
            // Stealable work is only for searchers (a refused worker would just go round the
            // loop again); the inbox is this worker's alone.
            if !self.remote.inbox.is_empty() || (self.searching.get() && sched.has_stealable_work())
            {
                return true;
            }
        }
        false
    }

    /// S5: a searcher that found work stops searching; the last one wakes another.
    fn stop_searching(&self) {
        if self.searching.replace(false) && self.sched.idle.transition_from_searching() {
            self.sched.notify_work();
        }
    }

    /// S6: sleeps until woken or until the earliest timer is due.
    fn sleep(&self) {
        let sched = self.sched;
        if self.retired.get() {
            return self.sleep_retired();
        }
        let was_searching = self.searching.replace(false);
        sched.idle.transition_to_parked(self.index, was_searching);
        // S6: every worker re-checks, not only the last searcher: a submitter that looked at
        // `state` before we registered saw us awake and woke nobody, and the searcher that
        // would have re-checked may have found other work (a coroutine that never parks) in
        // the meantime. The re-check must not be ordered before our state update.
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        if sched.has_stealable_work() {
            sched.notify_work();
        }
        let deadline = self.sleep_deadline();
        match sched.driver.try_lock() {
            // D1: this worker waits for I/O too; an unpark writes the driver's waker.
            Some(mut driver) => {
                let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                self.remote.parker.park_polling(|| {
                    driver.poll(timeout, wake_io);
                });
            }
            None => {
                // D4: while sources are registered and another worker holds the driver, wake
                // up now and then: that worker may have left the driver to run coroutines,
                // and then nobody would be waiting for I/O.
                let deadline = if sched.driver.is_in_use() {
                    let watch = Instant::now() + DRIVER_WATCH;
                    Some(deadline.map_or(watch, |d| d.min(watch)))
                } else {
                    deadline
                };
                self.remote.parker.park(deadline);
            }
        }
        let woken = sched.idle.transition_from_parked(self.index);
        self.searching.set(woken.searching);
        if woken.wake_sysmon {
            // SY1: the first worker awake wakes the monitor; DU2: the coarse clock is fresh
            // before this worker's coroutines park again.
            crate::coroutine::tick_clock();
            sched.sysmon.unpark();
        }
        self.answer_dump();
    }

    /// HO3: a retired spare, outside the idle protocol, sleeps on its parker until its next
    /// timer, or until a wake for one of its coroutines, a placement that raced its
    /// retirement, or sysmon unparks it.
    fn sleep_retired(&self) {
        let deadline = self.sleep_deadline();
        self.remote.parker.park(deadline);
        self.answer_dump();
    }

    /// The earliest timer's deadline, for a sleep; published for the deadlock check, which
    /// reads it while every worker sleeps (DL1).
    fn sleep_deadline(&self) -> Option<Instant> {
        let deadline = self.timers.borrow_mut().next_deadline();
        self.remote
            .timed_sleep
            .store(deadline.is_some(), Ordering::SeqCst);
        deadline
    }

    /// DU4: `task` is committed to start here: listed until its body returns.
    #[inline]
    fn live_add(&self, task: &TaskRef) {
        // SAFETY: DU4: only this worker thread touches the list, and no reference into it
        // outlives these helpers (`answer_dump_now` copies it before resuming anything).
        let live = unsafe { &mut *self.live.get() };
        task.live_index.set(live.len() as u32);
        live.push(task.as_ptr());
    }

    /// DU4: `task`'s body returned: off the list (the last entry takes its place).
    #[inline]
    fn live_remove(&self, task: &TaskRef) {
        // SAFETY: as in `live_add`.
        let live = unsafe { &mut *self.live.get() };
        let index = task.live_index.get();
        live.swap_remove(index as usize);
        if let Some(&moved) = live.get(index as usize) {
            // SAFETY: DU4: a listed task is alive; its `live_index` is this worker's to write.
            unsafe { (*moved).live_index.set(index) };
        }
    }

    /// DU4: how many coroutines are listed.
    fn live_len(&self) -> usize {
        // SAFETY: as in `live_add`.
        unsafe { (*self.live.get()).len() }
    }

    /// DU4, DU5: if a dump asked for it, lists this worker's coroutines into the request.
    /// Between resumes only.
    #[inline]
    fn answer_dump(&self) {
        if self.remote.dump_wanted.load(Ordering::Relaxed) {
            self.answer_dump_now();
        }
    }

    #[cold]
    #[inline(never)]
    fn answer_dump_now(&self) {
        self.remote.dump_wanted.store(false, Ordering::Relaxed);
        // Every request waiting, answered alike (dumps taken at once by several threads).
        let requests = std::mem::take(&mut *self.remote.dump.lock());
        let Some((last, others)) = requests.split_last() else {
            return;
        };
        // Stacks only if a collector wants them (the deadlock check first asks without).
        let stacks = requests.iter().any(|r| r.stacks());
        self.remote.answering.store(true, Ordering::SeqCst);
        // The list is copied first: recording a stack resumes the coroutine (DU3), which must
        // find no borrow of this worker's state held.
        // SAFETY: as in `live_add`.
        let live: Vec<*const Task> = unsafe { (*self.live.get()).clone() };
        let mut records = Vec::with_capacity(live.len());
        for ptr in live {
            // SAFETY: DU4: a listed task is alive while listed, and nothing runs meanwhile that
            // could finish it (this worker is between resumes); the reference taken here keeps
            // it alive for the rest of the loop anyway.
            let task = unsafe { TaskRef::from_ptr(ptr) };
            records.push(self.record(&task, stacks));
            // SY2: a long answer (thousands of stacks) is progress, not a held worker.
            self.publish_progress();
        }
        self.remote.answering.store(false, Ordering::SeqCst);
        let has_timers = !self.timers.borrow().is_empty();
        for request in others {
            request.answer(self.index, records.clone(), has_timers);
        }
        last.answer(self.index, records, has_timers);
    }

    /// DU5: one coroutine of this worker, as it stands.
    fn record(&self, task: &TaskRef, stacks: bool) -> dump::Record {
        let parked = task.state.is_parked();
        // SAFETY: DU1: this is the owner worker, between resumes, and the coroutine is parked.
        let wait = parked.then(|| unsafe { task.parked_wait() });
        let ips = if stacks && task.is_started() {
            task.trace().ips
        } else {
            Vec::new()
        };
        dump::Record {
            id: task.id,
            name: task.name.clone(),
            spawned_at: task.spawned_at,
            worker: self.index,
            state: if parked {
                dump::State::Parked
            } else {
                dump::State::Runnable
            },
            wait,
            timer: task.timer_seq.load(Ordering::Relaxed) != 0,
            ips,
            sampled: false,
        }
    }

    /// SY2: the worker stops running coroutines and looks for work, spins or sleeps: a new
    /// count with bit 0 set, until the next resume. Off the switch path.
    fn publish_idle(&self) {
        // DU4: the list's length, for the deadlock check and the dump of a held worker.
        self.remote.live.store(self.live_len(), Ordering::Relaxed);
        let word = self.progress.get().wrapping_add(PROGRESS_ONE_RESUME);
        self.progress.set(word);
        self.remote
            .progress
            .store(word | PROGRESS_ASLEEP, Ordering::Relaxed);
    }

    /// SY2: one store, before every resume: a new count, and the load (S8).
    #[inline]
    fn publish_progress(&self) {
        let word = self.progress.get().wrapping_add(PROGRESS_ONE_RESUME);
        self.progress.set(word);
        self.remote.progress.store(word, Ordering::Relaxed);
    }

    /// For the sampling signal handler (sample.rs), on this worker's own thread: the
    /// coroutines queued for this worker that can be counted from a signal handler, those in
    /// its inbox and its deque (atomic lengths). The run queues (`ready`, `runnext`,
    /// `yielded`) are left out: the code the signal interrupted may be changing them.
    pub(super) fn queued_in_signal(&self) -> usize {
        self.remote.inbox.len() + self.fresh.len()
    }

    /// S3/D1: on fairness ticks, a busy worker collects I/O events without waiting (unless
    /// another worker is polling), so sockets are served even when no worker is ever idle.
    /// Returns how many sources had events.
    pub(crate) fn poll_io_now(&self) -> usize {
        match self.sched.driver.try_lock() {
            Some(mut driver) => driver.poll(Some(std::time::Duration::ZERO), wake_io),
            None => 0,
        }
    }

    /// Runs `task`, then, for as long as only yields happen, the coroutines that take turns
    /// with it (see `turn_after_yield`).
    fn run(&self, mut task: TaskRef) {
        while let Some(next) = self.run_task(task) {
            task = next;
        }
    }

    /// Resumes `task` until it parks, yields or finishes. Returns the coroutine to resume next
    /// when the switch was a yield that `turn_after_yield` could settle without the full
    /// `next_task`.
    fn run_task(&self, task: TaskRef) -> Option<TaskRef> {
        if task.state.transition_to_running() {
            // S8: a parked coroutine of this worker runs again.
            self.load_up();
        }
        let outcome = loop {
            self.publish_progress();
            match task.resume(self.index, |reserved| self.hot_stack(reserved)) {
                Resumed::Suspended(Suspend::Park(deadline)) => {
                    // P1: the coroutine is off its stack; only now may wakers see it parked.
                    if task.state.transition_to_parked() {
                        self.load_down();
                        break Outcome::Parked(deadline);
                    }
                    // P3: a wake arrived since the coroutine last consumed one: resume it.
                }
                Resumed::Suspended(Suspend::Yield) => break Outcome::Yielded,
                Resumed::Suspended(Suspend::Traced) => {
                    crate::fatal::bug("a coroutine came back traced from a plain resume")
                }
                Resumed::Finished(stack) => break Outcome::Finished(stack),
            }
        };
        match outcome {
            // T1: the timer is armed after the park committed.
            Outcome::Parked(Some(deadline)) => self.timers.borrow_mut().arm(deadline, task),
            Outcome::Parked(None) => {}
            // P2: a yielded coroutine stays RUNNING; to wakers that is the same as running.
            Outcome::Yielded => return self.turn_after_yield(task),
            Outcome::Finished(stack) => {
                task.state.transition_to_done();
                self.release_stack(stack);
                self.load_down();
                self.live_remove(&task);
            }
        }
        None
    }

    /// S3 fast path for a coroutine that just yielded: when nothing but yielded coroutines can
    /// run here and no fairness tick is due, the decision `next_task` would take is known
    /// without it — the oldest yielded coroutine runs, the one that yielded goes to the back
    /// (or runs again if it is alone). Otherwise it joins `yielded` and `None` sends the worker
    /// through `next_task`. Either way this is one scheduling decision (one tick).
    fn turn_after_yield(&self, task: TaskRef) -> Option<TaskRef> {
        if !self.only_yielders_runnable() {
            self.yielded.borrow_mut().push_back(task);
            return None;
        }
        let mut yielded = self.yielded.borrow_mut();
        match yielded.pop_front() {
            Some(next) => {
                yielded.push_back(task);
                Some(next)
            }
            None => Some(task),
        }
    }

    /// Takes one scheduling tick if it is not a fairness tick and no local work other than
    /// yielded coroutines is runnable: the case in which a yield changes nothing but the order
    /// of the yielders. Plain loads only; shared by both yield fast paths (S3).
    #[inline]
    fn only_yielders_runnable(&self) -> bool {
        let tick = self.tick.get().wrapping_add(1);
        if tick.is_multiple_of(FAIRNESS_TICKS)
            || self.runnext.borrow().is_some()
            || !self.ready.borrow().is_empty()
            || !self.fresh.is_empty()
            || !self.remote.inbox.is_empty()
        {
            return false;
        }
        self.tick.set(tick);
        true
    }

    /// Fast path of `yield_now`, called inside the yielding coroutine: `true` when no other
    /// coroutine of this worker is runnable, so the yield may return without switching (it
    /// would be resumed at once anyway). Counts as one scheduling tick, so the fairness checks
    /// of S3 (timers, injector, inbox) still run every 61 ticks through the slow path.
    ///
    /// Deliberately not `#[inline]`: `yield_now` is inlined into the caller so that the switch
    /// sits in the caller's own frame (arch/park.md, "The hot path is inlined"), and with this
    /// check inlined too LLVM moved the switch back into a separate closure frame (pair yield
    /// 10 ns -> 27 ns).
    ///
    /// A yield that returns at once still gives the worker back as far as sysmon is concerned
    /// (SY2): it publishes a new progress word, as the resume after a real switch would.
    pub(crate) fn yield_returns_at_once(&self) -> bool {
        let alone = self.yielded.borrow().is_empty() && self.only_yielders_runnable();
        if alone {
            self.publish_progress();
        }
        alone
    }

    fn next_rand(&self) -> u64 {
        // xorshift64: only spreads steal victims; quality does not matter.
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        x
    }
}

/// Aborts if the worker loop unwinds (see `run`).
struct WorkerUnwindGuard;

impl Drop for WorkerUnwindGuard {
    fn drop(&mut self) {
        crate::fatal::bug("a worker loop unwound");
    }
}

enum Outcome {
    Parked(Option<Instant>),
    Yielded,
    Finished(SlabStack),
}

/// One coroutine from an injector (an inbox), if it has any.
pub(super) fn steal_one(queue: &Injector<TaskRef>) -> Option<TaskRef> {
    steal(|| queue.steal())
}

/// Retries a steal until it succeeds or finds the queue empty.
fn steal<T>(mut f: impl FnMut() -> Steal<T>) -> Option<T> {
    loop {
        match f() {
            Steal::Success(t) => return Some(t),
            Steal::Empty => return None,
            Steal::Retry => std::hint::spin_loop(),
        }
    }
}
