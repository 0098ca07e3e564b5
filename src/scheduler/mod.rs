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

mod idle;
mod timer;
mod worker;

use std::io;
use std::sync::atomic::{Ordering, fence};

use crossbeam_deque::{Injector, Stealer, Worker};

use crate::coroutine::TaskRef;
use crate::io::Driver;
use crate::park::os::OsParker;
use crate::runtime::{Config, context};
use crate::stack::StackPool;
use idle::Idle;
pub(crate) use worker::Core;

/// The parts of a worker that other threads reach.
#[derive(Debug)]
pub(crate) struct Remote {
    /// Steals unstarted coroutines from the worker's `fresh` deque (S1).
    stealer: Stealer<TaskRef>,
    /// Woken coroutines owned by this worker, pushed by other threads (S2).
    inbox: Injector<TaskRef>,
    /// The worker sleeps here when idle (or in the I/O driver, through `park_polling`).
    parker: OsParker,
}

/// Makes a woken, started coroutine runnable on its owner: straight into the `runnext` slot
/// when the waker runs on that worker (the hand-off of a channel or a lock), else through the
/// owner's inbox (S2). The hot path of every wake, so it reads the worker once and is inlined.
#[inline]
pub(crate) fn enqueue_woken(task: TaskRef) {
    let Some(owner) = task.owner() else {
        crate::runtime::fatal("woke a coroutine that never started");
    };
    match context::worker() {
        Some(core) if core.index() == owner => core.push_woken_local(task),
        _ => crate::runtime::scheduler().enqueue_remote(owner, task),
    }
}

/// The scheduler shared by all workers; lives for the rest of the process once started.
#[derive(Debug)]
pub(crate) struct Scheduler {
    remotes: Box<[Remote]>,
    /// Unstarted coroutines spawned from outside the workers.
    injector: Injector<TaskRef>,
    idle: Idle,
    /// Polled by one idle worker at a time (arch/io.md, D1).
    pub(crate) driver: Driver,
    pub(crate) stacks: StackPool,
    pub(crate) config: Config,
}

impl Scheduler {
    /// Builds the scheduler and starts its worker threads.
    pub(crate) fn start(config: Config) -> io::Result<&'static Scheduler> {
        let n = config.workers;
        let driver = Driver::new().map_err(|e| {
            io::Error::new(e.kind(), format!("weft: cannot start the I/O driver: {e}"))
        })?;
        let queues: Vec<Worker<TaskRef>> = (0..n).map(|_| Worker::new_fifo()).collect();
        let remotes = queues
            .iter()
            .map(|q| Remote {
                stealer: q.stealer(),
                inbox: Injector::new(),
                parker: OsParker::new(),
            })
            .collect();
        let sched: &'static Scheduler = Box::leak(Box::new(Scheduler {
            remotes,
            injector: Injector::new(),
            idle: Idle::new(n),
            driver,
            stacks: StackPool::new(config.stack_guard),
            config,
        }));
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
        Ok(sched)
    }

    /// Queues a new (unstarted) coroutine: on the current worker's `fresh` deque when called
    /// from a worker, else on the injector; then wakes a worker if none is searching (S4).
    #[inline]
    pub(crate) fn spawn(&self, task: TaskRef) {
        let mut task = Some(task);
        context::with_worker(|core| core.push_fresh(task.take().expect("taken once")));
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
