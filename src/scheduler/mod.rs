//! "M/P": the workers that run coroutines, their queues, and how work moves between them.
//!
//! Ground rules (arch/scheduler.md):
//! - S1: stealable queues (`injector`, every worker's `fresh` deque) only ever hold coroutines
//!   that have not started; started coroutines wait in their owner's `ready`/`yielded` queues,
//!   `runnext` slot or `inbox` (CO4: stealing moves only unstarted coroutines).
//! - S2: a wake for a coroutine owned by another worker goes to that worker's `inbox`, then
//!   unparks that worker (its `OsParker` keeps the token, so the wake is never lost).
//! - S3: every queue is served: the injector, inbox, timers and `yielded` at least every 61
//!   ticks even when local work never runs out; `runnext` at most 16 times in a row; `ready`
//!   and `fresh` take turns (odd ticks look at `fresh` first, even ticks at `ready`);
//!   `yielded` otherwise only when nothing else is runnable.
//! - S4–S7: idle/search protocol, see `idle.rs`.
//! - S8: first placement. A worker about to start an unstarted coroutine (popped from its
//!   `fresh` deque, the injector, or stolen) starts it on the worker with the smallest load
//!   (`Remote::load`: coroutines not parked, placed, and unstarted in its deque) when that
//!   load is smaller than its own; it places it there through that worker's inbox. A placed
//!   coroutine is never placed again. Where a coroutine first runs is where it lives (CO4),
//!   so this is what balances long-lived coroutines.
//!
//! This layer owns the one scheduler of the process ([`global`]), the worker the caller runs
//! on (`current.rs`), and the wake of a parked coroutine ([`wake`]): everything that puts a
//! coroutine on a queue. The runtime above it decides when it starts and with what [`Config`].

mod current;
pub(crate) mod deadlock;
pub(crate) mod dump;
mod idle;
mod sample;
mod slot;
pub(crate) mod snapshot;
mod sysmon;
mod timer;
mod worker;

use std::io;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
use std::time::Duration;

use crossbeam_deque::{Injector, Stealer, Worker};
use parking_lot::Mutex;

use crate::coroutine::{IoWaiter, Task, TaskRef, Wake};
use crate::parker::OsParker;
use crate::reactor::Driver;
use crate::stack::{SlabStack, StackGuard, StackPool};
use idle::Idle;
use slot::Slot;
use worker::Core;

/// What the scheduler is started with; resolved by the runtime (`runtime::Builder`, the
/// `WEFT_*` variables).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) workers: usize,
    /// Default usable stack size, page-rounded.
    pub(crate) stack_size: usize,
    pub(crate) stack_guard: StackGuard,
    /// SY4: how long a coroutine may hold its worker before sysmon warns; `None`: never.
    pub(crate) blocking_warn: Option<Duration>,
    /// DL1: `WEFT_DEADLOCK`.
    pub(crate) deadlock: deadlock::Mode,
    /// DU6: `WEFT_SIGQUIT` is not `off` (the runtime installs the dump on `SIGQUIT`).
    pub(crate) sigquit: bool,
}

/// The scheduler of the process, once started.
static GLOBAL: OnceLock<&'static Scheduler> = OnceLock::new();

/// The scheduler of the process, if it has started.
#[inline]
pub(crate) fn global() -> Option<&'static Scheduler> {
    GLOBAL.get().copied()
}

/// The parts of a worker that other threads reach, on cache lines of their own (`progress` on
/// lines of its own within).
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct Remote {
    /// Steals unstarted coroutines from the worker's `fresh` deque (S1).
    stealer: Stealer<TaskRef>,
    /// Woken coroutines owned by this worker, pushed by other threads (S2), and unstarted ones
    /// placed here by other workers (S8). Only this worker takes from it.
    inbox: Injector<TaskRef>,
    /// The worker sleeps here when idle (or in the I/O driver, through `park_polling`).
    parker: OsParker,
    /// SY2: a word stored before every resume, and when the worker goes idle; written by the
    /// worker only, read by sysmon and (for the load, S8) by the other workers. Bit 0 is set
    /// while the worker is idle (and before it first runs); bits 1–30 hold how many of its
    /// coroutines are not parked (`progress_load`); the bits above count resumes, so the word
    /// changes at every one. On cache lines of its own: it is written at every resume.
    progress: Padded<AtomicU64>,
    /// The worker thread's `pthread_t` (0 while the slot has no thread), for sysmon's sample
    /// (SY3), and its kernel thread id, for sysmon's look at whether it sleeps in the kernel
    /// (HO1). Set by the thread when it starts; cleared by sysmon when it joins a spare.
    thread: AtomicUsize,
    tid: AtomicUsize,
    /// HO1, S8: whether the slot's thread takes new coroutines, and the coroutines placed here
    /// by other workers and not taken from the inbox yet (slot.rs).
    slot: Padded<Slot>,
    /// HO1: set by sysmon while this worker is held and a spare stands in for it; nobody
    /// places coroutines on it meanwhile.
    held: AtomicBool,
    /// HO1: a spare slot's `fresh` deque while the slot has no thread.
    spare_deque: Mutex<Option<Worker<TaskRef>>>,
    /// DU4: the dump requests waiting for the worker's answer (several collectors may ask at
    /// once: each gets the answer), and the flag it checks at its fairness ticks and when it
    /// wakes (dump.rs).
    dump: Mutex<Vec<std::sync::Arc<dump::Request>>>,
    dump_wanted: AtomicBool,
    /// The worker is answering a dump (its collectors wait for it rather than sample it).
    answering: AtomicBool,
    /// DL1: the worker sleeps with a timer armed (set before it sleeps, read by the
    /// deadlock check while every worker sleeps).
    timed_sleep: AtomicBool,
    /// DU4: how many coroutines are committed to this worker and not finished (the length of
    /// its list); stored by the worker when it changes, read by the dump and the deadlock
    /// check.
    live: AtomicUsize,
}

/// SY2, S8: the layout of `Remote::progress`: bit 0 asleep, bits 1–30 the load, the bits above
/// a count of resumes. The worker keeps the word and changes it by additions only (one per
/// resume, one per change of the load), so publishing it is one store.
const PROGRESS_ASLEEP: u64 = 1;
const PROGRESS_LOAD_SHIFT: u32 = 1;
const PROGRESS_LOAD_MASK: u64 = (1 << 30) - 1;
const PROGRESS_ONE_LOAD: u64 = 1 << PROGRESS_LOAD_SHIFT;
const PROGRESS_ONE_RESUME: u64 = 1 << 31;

/// The load a progress word carries.
fn progress_load(word: u64) -> usize {
    ((word >> PROGRESS_LOAD_SHIFT) & PROGRESS_LOAD_MASK) as usize
}

/// A value on cache lines of its own.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl Remote {
    /// A configured worker's slot (`spare_deque: None`; its thread owns the deque), or a spare
    /// slot, which keeps its deque until sysmon starts a thread in it.
    fn new(stealer: Stealer<TaskRef>, spare_deque: Option<Worker<TaskRef>>) -> Remote {
        Remote {
            stealer,
            inbox: Injector::new(),
            parker: OsParker::new(),
            progress: Padded(AtomicU64::new(PROGRESS_ASLEEP)),
            thread: AtomicUsize::new(0),
            tid: AtomicUsize::new(0),
            slot: Padded(Slot::new(spare_deque.is_none())),
            held: AtomicBool::new(false),
            spare_deque: Mutex::new(spare_deque),
            dump: Mutex::new(Vec::new()),
            dump_wanted: AtomicBool::new(false),
            answering: AtomicBool::new(false),
            timed_sleep: AtomicBool::new(false),
            live: AtomicUsize::new(0),
        }
    }

    /// The worker thread's `pthread_t`, 0 before it runs.
    fn thread(&self) -> usize {
        self.thread.load(Ordering::Acquire)
    }

    /// The worker thread's kernel thread id, 0 before it runs.
    fn tid(&self) -> usize {
        self.tid.load(Ordering::Acquire)
    }

    /// S8: the worker's load as another worker sees it: its coroutines that are not parked,
    /// those placed on it, and the unstarted ones in its `fresh` deque (it will start them).
    fn load(&self) -> usize {
        progress_load(self.progress.load(Ordering::Relaxed))
            + self.slot.placed()
            + self.stealer.len()
    }

    /// S8, HO1: whether coroutines may be placed here: its thread takes new ones and is not
    /// held.
    fn takes_placements(&self) -> bool {
        self.slot.is_active() && !self.held.load(Ordering::Relaxed)
    }
}

/// Wakes a waiter of the I/O driver: a coroutine (as `wake_owned`) or a future's waker.
#[inline]
pub(crate) fn wake_io(waiter: IoWaiter) {
    match waiter {
        IoWaiter::Task(task) => wake_owned(task),
        IoWaiter::Waker(waker) => waker.wake(),
    }
}

/// Makes `task` runnable if it is parked (P2, P3). Any thread.
#[inline]
pub(crate) fn wake(task: &TaskRef) {
    if task.state.wake() == Wake::Enqueue {
        enqueue_woken(task.clone());
    }
}

/// [`wake`], spending the caller's reference: when the wake makes the task runnable, that
/// reference is the one the run queue gets.
#[inline]
pub(crate) fn wake_owned(task: TaskRef) {
    if task.state.wake() == Wake::Enqueue {
        enqueue_woken(task);
    }
}

/// Makes a woken, started coroutine runnable on its owner: straight into the `runnext` slot
/// when the waker runs on that worker (the hand-off of a channel or a lock), else through the
/// owner's inbox (S2). The hot path of every wake, so it reads the worker once and is inlined.
#[inline]
fn enqueue_woken(task: TaskRef) {
    let Some(owner) = task.owner() else {
        crate::fatal::bug("woke a coroutine that never started");
    };
    match current::worker() {
        Some(core) if core.index() == owner => core.push_woken_local(task),
        _ => match global() {
            Some(sched) => sched.enqueue_remote(owner, task),
            None => crate::fatal::bug("a coroutine exists but the scheduler does not"),
        },
    }
}

/// T2: the current coroutine's park ended; its timer, if one is armed, is now stale. Called by
/// the coroutine itself, on its worker.
#[inline]
pub(crate) fn disarm_timer(task: &Task) {
    current::with_worker(|core| core.timers.borrow_mut().disarm(task));
}

/// Collects I/O events without waiting, if the caller is a worker and no other worker is
/// polling (P7: a worker blocked by a panicking coroutine still serves sockets). Returns how
/// many sources had events.
pub(crate) fn poll_io_now() -> usize {
    current::with_worker(|core| core.poll_io_now()).unwrap_or(0)
}

/// Whether a yield of the current coroutine would be resumed at once, no other coroutine of
/// its worker being runnable (`Core::yield_returns_at_once`); `false` off a worker.
#[inline]
pub(crate) fn yield_returns_at_once() -> bool {
    current::with_worker(|core| core.yield_returns_at_once()) == Some(true)
}

/// The scheduler shared by all workers; lives for the rest of the process once started.
#[derive(Debug)]
pub(crate) struct Scheduler {
    remotes: Box<[Remote]>,
    /// Unstarted coroutines spawned from outside the workers.
    injector: Injector<TaskRef>,
    idle: Idle,
    /// Polled by one idle worker at a time (arch/io.md, D1); its waiters are coroutines.
    pub(crate) driver: Driver<IoWaiter>,
    stacks: &'static StackPool,
    pub(crate) config: Config,
    /// sysmon sleeps here (SY1).
    sysmon: OsParker,
}

impl Scheduler {
    /// Builds the scheduler, starts its worker threads and makes it the [`global`] one. The
    /// runtime calls this once.
    pub(crate) fn start(config: Config) -> io::Result<&'static Scheduler> {
        // DU2: the coarse clock counts from here.
        crate::coroutine::tick_clock();
        let n = config.workers;
        let driver = Driver::new().map_err(|e| {
            io::Error::new(e.kind(), format!("weft: cannot start the I/O driver: {e}"))
        })?;
        // HO1: a slot per worker, and as many spare slots, whose threads sysmon starts.
        let mut queues: Vec<Worker<TaskRef>> = (0..2 * n).map(|_| Worker::new_fifo()).collect();
        let spares = queues.split_off(n);
        let remotes = queues
            .iter()
            .map(|q| Remote::new(q.stealer(), None))
            .chain(
                spares
                    .into_iter()
                    .map(|q| Remote::new(q.stealer(), Some(q))),
            )
            .collect();
        let sched: &'static Scheduler = Box::leak(Box::new(Scheduler {
            remotes,
            injector: Injector::new(),
            idle: Idle::new(n),
            driver,
            stacks: StackPool::start_global(config.stack_guard),
            config,
            sysmon: OsParker::new(),
        }));
        sample::install();
        for (index, fresh) in queues.into_iter().enumerate() {
            std::thread::Builder::new()
                .name(format!("weft-worker-{index}"))
                .spawn(move || worker::run(sched, index, fresh))
                .map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("weft: cannot start worker thread {index}: {e}"),
                    )
                })?;
        }
        std::thread::Builder::new()
            .name("weft-sysmon".to_owned())
            .spawn(move || sysmon::run(sched))
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("weft: cannot start the sysmon thread: {e}"),
                )
            })?;
        // Only the first start becomes the global one; the runtime starts once anyway.
        let _ = GLOBAL.set(sched);
        Ok(sched)
    }

    /// A stack for a new coroutine of `usable` bytes (already rounded): from the current
    /// worker's cache when called on a worker, else from the pool.
    #[inline]
    pub(crate) fn alloc_stack(&self, usable: usize) -> io::Result<SlabStack> {
        match current::with_worker(|core| core.alloc_stack(usable)) {
            Some(stack) => stack,
            None => self.stacks.alloc(usable),
        }
    }

    /// Queues a new (unstarted) coroutine: on the current worker's `fresh` deque when called
    /// from a worker, else on the injector; then wakes a worker if none is searching (S4).
    #[inline]
    pub(crate) fn spawn(&self, task: TaskRef) {
        let mut task = Some(task);
        current::with_worker(|core| core.push_fresh(task.take().expect("taken once")));
        if let Some(task) = task {
            self.injector.push(task);
        }
        self.notify_work();
    }

    /// S4/S6: wakes a sleeping worker to search, unless one is searching already.
    pub(crate) fn notify_work(&self) {
        fence(Ordering::SeqCst);
        if let Some(worker) = self.idle.worker_to_notify() {
            self.unpark_worker(worker);
        }
    }

    /// Wakes worker `index` from its sleep, whether on its parker or in the I/O driver (D1).
    fn unpark_worker(&self, index: usize) {
        if self.remotes[index].parker.unpark() {
            self.driver.wake();
        }
    }

    /// S8: an unstarted coroutine placed on worker `target`: counted in its load, into its
    /// inbox, and wake the worker. Gives the coroutine back if the target no longer takes new
    /// ones (HO2).
    fn place(&self, target: usize, task: TaskRef) -> Result<(), TaskRef> {
        let remote = &self.remotes[target];
        let result = if remote.slot.try_place() {
            remote.inbox.push(task);
            Ok(())
        } else {
            Err(task)
        };
        // Placed: the target takes it from its inbox. Refused (HO2): the target may have failed
        // to leave while the refused count was there, and then gone to sleep.
        self.unpark_worker(target);
        result
    }

    /// The number of configured workers, and of spare slots.
    fn workers(&self) -> usize {
        self.config.workers
    }

    /// HO1: the spare in slot `index` takes no new coroutines from now on, and leaves once its
    /// own have ended (HO3); it is woken to notice.
    fn retire_spare(&self, index: usize) {
        self.remotes[index].slot.retire();
        self.unpark_worker(index);
    }

    /// HO1: starts a thread in an idle spare slot, which takes new coroutines like any worker
    /// until sysmon retires it. `free` says whether sysmon is done with a slot's previous
    /// thread. Returns the slot and the thread, or `None` if every spare slot is taken (never
    /// more spares than workers) or the thread cannot start (reported once by the caller).
    fn start_spare(
        &'static self,
        free: impl Fn(usize) -> bool,
    ) -> Option<io::Result<(usize, std::thread::JoinHandle<()>)>> {
        let n = self.workers();
        let index = (n..2 * n).find(|&i| free(i) && self.remotes[i].slot.activate())?;
        self.idle.add_worker();
        let started = std::thread::Builder::new()
            .name(format!("weft-worker-{index}"))
            .spawn(move || worker::run_spare(self, index));
        Some(match started {
            Ok(handle) => Ok((index, handle)),
            Err(e) => {
                self.abandon_spare(index);
                Err(e)
            }
        })
    }

    /// HO1: a spare slot whose thread could not start goes back to idle; what was placed on it
    /// meanwhile goes to the injector.
    fn abandon_spare(&self, index: usize) {
        let remote = &self.remotes[index];
        remote.slot.retire();
        self.idle.remove_worker();
        loop {
            while let Some(task) = worker::steal_one(&remote.inbox) {
                remote.slot.took_placed();
                self.injector.push(task);
            }
            if remote.slot.try_exit() {
                break;
            }
            std::thread::yield_now();
        }
        self.notify_work();
    }

    /// A woken coroutine owned by worker `owner`, woken from elsewhere: into that worker's
    /// inbox, and wake the worker (S2).
    #[inline(never)]
    fn enqueue_remote(&self, owner: usize, task: TaskRef) {
        self.remotes[owner].inbox.push(task);
        self.unpark_worker(owner);
    }

    /// Whether any stealable queue holds work (S6 re-check).
    fn has_stealable_work(&self) -> bool {
        !self.injector.is_empty() || self.remotes.iter().any(|r| !r.stealer.is_empty())
    }
}
