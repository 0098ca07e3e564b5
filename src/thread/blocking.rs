//! `spawn_blocking`: blocking work (C calls, file I/O, name resolution) on a bounded pool of
//! plain OS threads, so that it never holds up a worker.
//!
//! Ground rules (arch/scheduler.md, "Blocking pool"):
//! - B1: a job runs on a pool thread, never on a worker; the pool has at most
//!   `MAX_THREADS` threads, made on demand when no thread is idle, and a thread idle for
//!   `KEEP_ALIVE` exits. Jobs beyond the bound wait in FIFO order.
//! - B2: the job's result reaches its `JoinHandle` through the same packet as a coroutine's
//!   (J1–J4); a panic in the job is caught there and returned by `join`.
//! - B3: inside the job, `thread::current()` is the job's own `Thread` (the one its handle
//!   returns); `unpark` on it wakes the pool thread running it, and an `unpark` before the job
//!   starts is kept for its first `park`, as std keeps a thread's token.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::join::Packet;
use super::{JoinHandle, Thread, ThreadId};

/// B1: the most pool threads alive at once.
const MAX_THREADS: usize = 512;
/// B1: how long an idle pool thread waits for a job before it exits.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// A queued or running job, type-erased for the pool and for `Thread`.
pub(crate) trait Job: Send + Sync {
    fn header(&self) -> &JobHeader;
    fn run(&self);
}

/// What `Thread` needs of a job: its identity and who runs it (B3).
#[derive(Debug)]
pub(crate) struct JobHeader {
    pub(crate) id: ThreadId,
    runner: Mutex<Runner>,
}

#[derive(Debug)]
enum Runner {
    NotStarted { unparked: bool },
    Running(std::thread::Thread),
    Done,
}

impl JobHeader {
    /// B3: wakes the job's `park`, now or when it starts.
    pub(crate) fn unpark(&self) {
        match &mut *self.runner.lock() {
            Runner::NotStarted { unparked } => *unparked = true,
            Runner::Running(thread) => thread.unpark(),
            Runner::Done => {}
        }
    }
}

struct JobImpl<F, T> {
    header: JobHeader,
    packet: Packet<T>,
    f: Mutex<Option<F>>,
}

impl<F, T> Job for JobImpl<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn header(&self) -> &JobHeader {
        &self.header
    }

    fn run(&self) {
        let f = self.f.lock().take();
        if let Some(f) = f {
            self.packet.run(f);
        }
    }
}

struct Pool {
    state: Mutex<PoolState>,
    wake: Condvar,
}

struct PoolState {
    jobs: VecDeque<Arc<dyn Job>>,
    /// Threads started or being started (the B1 bound).
    threads: usize,
    /// Threads that are running `run_pool_thread`: each runs every queued job before it exits.
    alive: usize,
    idle: usize,
}

impl PoolState {
    /// A submitter's thread failed to start: un-counts it and, unless a running pool thread
    /// will get to the queue, takes the submitter's own `job` back out (`true`: the caller
    /// reports the error). A start still in progress elsewhere is not relied on, since it may
    /// fail too: each submitter answers for its own job, so no job is left queued with no
    /// thread to run it.
    fn start_failed(&mut self, job: &Arc<dyn Job>) -> bool {
        self.threads -= 1;
        if self.alive > 0 {
            return false;
        }
        match self.jobs.iter().position(|queued| Arc::ptr_eq(queued, job)) {
            Some(i) => {
                self.jobs.remove(i);
                true
            }
            // Already taken by a thread that has run it (and may have left since).
            None => false,
        }
    }
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        state: Mutex::new(PoolState {
            jobs: VecDeque::new(),
            threads: 0,
            alive: 0,
            idle: 0,
        }),
        wake: Condvar::new(),
    })
}

thread_local! {
    /// B3: the job this pool thread is running.
    static CURRENT_JOB: RefCell<Option<Thread>> = const { RefCell::new(None) };
}

/// B3: the `Thread` of the job the calling pool thread runs, if any.
pub(crate) fn current_job() -> Option<Thread> {
    CURRENT_JOB
        .try_with(|job| job.borrow().clone())
        .ok()
        .flatten()
}

/// Runs `f` on the blocking pool and returns a handle to join it; `join` in a coroutine parks
/// the coroutine, on an OS thread it blocks the thread.
///
/// The pool has at most 512 threads, made on demand and kept 10 s after their last job; jobs
/// beyond that wait their turn. Use it for work that blocks its OS thread: file I/O, C calls,
/// name resolution, `std::sync` locks held long. A panic in `f` is returned by `join`, like a
/// thread's.
///
/// # Panics
/// If the pool has no thread and the OS refuses to start one (as `std::thread::spawn` panics).
pub fn spawn_blocking<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match try_spawn_blocking(f) {
        Ok(handle) => handle,
        Err(e) => panic!("{e}"),
    }
}

/// `spawn_blocking` that reports, instead of panicking, when the pool has no thread and the OS
/// refuses to start one (for callers with a fallback, such as name resolution).
pub(crate) fn try_spawn_blocking<F, T>(f: F) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let job = Arc::new(JobImpl {
        header: JobHeader {
            id: ThreadId::new(),
            runner: Mutex::new(Runner::NotStarted { unparked: false }),
        },
        packet: Packet::new(None),
        f: Mutex::new(Some(f)),
    });
    let thread = Thread::from_job(job.clone());
    let handle = JoinHandle::new(thread, &job.packet);
    submit(job)?;
    Ok(handle)
}

/// B1: queues `job`; wakes an idle pool thread or starts one.
fn submit(job: Arc<dyn Job>) -> io::Result<()> {
    let pool = pool();
    let mut state = pool.state.lock();
    state.jobs.push_back(job.clone());
    // DL1: in flight from now until it returns.
    crate::scheduler::deadlock::job_queued();
    if state.idle > 0 {
        pool.wake.notify_one();
        return Ok(());
    }
    if state.threads >= MAX_THREADS {
        return Ok(());
    }
    state.threads += 1;
    drop(state);
    let started = std::thread::Builder::new()
        .name("weft-blocking".into())
        .spawn(move || run_pool_thread(pool));
    if let Err(e) = started
        && pool.state.lock().start_failed(&job)
    {
        crate::scheduler::deadlock::job_done();
        return Err(io::Error::new(
            e.kind(),
            format!("weft: cannot start a blocking-pool thread: {e}"),
        ));
    }
    Ok(())
}

fn run_pool_thread(pool: &'static Pool) {
    let _own = crate::scheduler::deadlock::own_thread();
    let mut state = pool.state.lock();
    state.alive += 1;
    loop {
        if let Some(job) = state.jobs.pop_front() {
            drop(state);
            run_job(job);
            state = pool.state.lock();
            continue;
        }
        state.idle += 1;
        let timed_out = pool.wake.wait_for(&mut state, KEEP_ALIVE).timed_out();
        state.idle -= 1;
        if timed_out && state.jobs.is_empty() {
            state.threads -= 1;
            state.alive -= 1;
            return;
        }
    }
}

fn run_job(job: Arc<dyn Job>) {
    let header = job.header();
    {
        let mut runner = header.runner.lock();
        if let Runner::NotStarted { unparked: true } = *runner {
            // B3: the token given before the job started.
            std::thread::current().unpark();
        }
        *runner = Runner::Running(std::thread::current());
    }
    let thread = Thread::from_job(job.clone());
    CURRENT_JOB.with(|current| *current.borrow_mut() = Some(thread));
    job.run();
    CURRENT_JOB.with(|current| current.borrow_mut().take());
    *header.runner.lock() = Runner::Done;
    crate::scheduler::deadlock::job_done();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Arc<dyn Job> {
        Arc::new(JobImpl {
            header: JobHeader {
                id: ThreadId::new(),
                runner: Mutex::new(Runner::NotStarted { unparked: false }),
            },
            packet: Packet::new(None),
            f: Mutex::new(Some(|| ())),
        })
    }

    /// Two submitters queue a job each and both count a thread; both starts fail. Each takes
    /// its own job back (the first must not rely on the second's start), so no job is left
    /// queued with no thread to run it.
    #[test]
    fn failed_starts_leave_no_orphaned_job() {
        let (a, b) = (job(), job());
        let mut state = PoolState {
            jobs: VecDeque::from([a.clone(), b.clone()]),
            threads: 2,
            alive: 0,
            idle: 0,
        };
        assert!(state.start_failed(&a), "A reports its error");
        assert!(state.start_failed(&b), "B reports its error");
        assert!(state.jobs.is_empty());
        assert_eq!(state.threads, 0);
    }

    /// With a running pool thread, a failed start leaves the job queued: that thread runs
    /// every queued job before it exits.
    #[test]
    fn a_running_thread_keeps_the_job_of_a_failed_start() {
        let a = job();
        let mut state = PoolState {
            jobs: VecDeque::from([a.clone()]),
            threads: 2,
            alive: 1,
            idle: 0,
        };
        assert!(!state.start_failed(&a));
        assert_eq!(state.jobs.len(), 1);
        assert_eq!(state.threads, 1);
    }
}
