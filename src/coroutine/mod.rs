//! "G": one stackful coroutine, its identity, its stack and its run state.
//!
//! Ground rules (arch/coroutine.md):
//! - CO4 (binding soundness rule): a coroutine that has started never moves to another OS
//!   thread. Before its first resume its stack holds only the `Send` closure written there by
//!   corosensei, so the unstarted coroutine may be stolen; the worker that first resumes it
//!   records itself in `owner` and is from then on the only thread that touches `co`.
//! - CO5: a started coroutine is never unwound on a foreign thread: if the last reference to a
//!   started, unfinished coroutine goes away (it was parked and nobody can wake it any more),
//!   its stack is leaked, not force-unwound.
//! - Panics never cross `resume`: the body runs under `catch_unwind` (join delivers the payload).

mod state;

use std::cell::{Cell, UnsafeCell};
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use corosensei::{Coroutine, CoroutineResult, Yielder};

use crate::park::token::Token;
use crate::runtime::context;
use crate::stack::SlabStack;
use crate::thread::ThreadId;
pub(crate) use state::{RunState, Wake};

/// Why a coroutine switched back to its worker.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Suspend {
    /// Wait for a wake (or the deadline); the worker commits the park after the switch (P1).
    Park(Option<Instant>),
    /// Go behind the other runnable work of this worker.
    Yield,
}

type Co = Coroutine<(), Suspend, (), SlabStack>;
type CoYielder = Yielder<(), Suspend>;

/// What `Task::resume` reports to the worker.
pub(crate) enum Resumed {
    Suspended(Suspend),
    /// The body returned; here is its stack back.
    Finished(SlabStack),
}

const NO_OWNER: usize = usize::MAX;

/// One coroutine. Shared by `Arc` between run queues, timers, wakers and join handles.
pub(crate) struct Task {
    pub(crate) id: ThreadId,
    pub(crate) name: Option<String>,
    /// Run state (coroutine/state.rs); any thread.
    pub(crate) state: RunState,
    /// The user park token (park/token.rs); any thread.
    pub(crate) token: Token,
    /// Index of the worker that first resumed it; `NO_OWNER` before (CO4). Written once by that
    /// worker before the first resume, read by wakers after they saw `PARKED`.
    owner: AtomicUsize,
    /// Usable stack bytes and guard page range, for the overflow report (signal.rs).
    pub(crate) stack_size: usize,
    pub(crate) guard: (usize, usize),
    /// The coroutine. Touched by the spawner until it publishes the task, then only by the
    /// worker that runs it (CO4).
    co: UnsafeCell<ManuallyDrop<Option<Co>>>,
    /// The yielder of the running coroutine; owner thread only.
    yielder: Cell<*const CoYielder>,
    /// Sequence number of the armed timer, 0 when none; owner worker only (scheduler/timer.rs).
    pub(crate) timer_seq: AtomicU64,
}

// SAFETY: the only non-thread-safe fields are `co` and `yielder`. Before the first resume, `co`
// holds a coroutine that has not started: its stack contains only the closure, which is `Send`
// (spawn requires it), so handing the task to another thread is sound. From the first resume
// on, only the owning worker thread touches `co` and `yielder` (CO4: started coroutines are
// never stolen, and wakers only push the `Arc` to the owner's queues). All other fields are
// atomics or immutable.
unsafe impl Send for Task {}
// SAFETY: see `Send`: shared access from other threads only reaches atomic or immutable fields.
unsafe impl Sync for Task {}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish()
    }
}

impl Task {
    /// Creates an unstarted coroutine that will run `body` on `stack`.
    pub(crate) fn new<F>(id: ThreadId, name: Option<String>, stack: SlabStack, body: F) -> Arc<Task>
    where
        F: FnOnce() + Send + 'static,
    {
        let stack_size = stack.usable();
        let guard = stack.guard();
        let co = Co::with_stack(stack, move |yielder: &CoYielder, ()| {
            context::with_task(|task| task.yielder.set(yielder));
            // The spawn wrappers catch user panics themselves; this catch only keeps a bug in
            // them from unwinding into the worker.
            if panic::catch_unwind(AssertUnwindSafe(body)).is_err() {
                crate::runtime::fatal("a coroutine body panicked outside its panic guard");
            }
        });
        Arc::new(Task {
            id,
            name,
            state: RunState::new_queued(),
            token: Token::new(),
            owner: AtomicUsize::new(NO_OWNER),
            stack_size,
            guard,
            co: UnsafeCell::new(ManuallyDrop::new(Some(co))),
            yielder: Cell::new(std::ptr::null()),
            timer_seq: AtomicU64::new(0),
        })
    }

    /// The worker that owns the task, if it has started.
    pub(crate) fn owner(&self) -> Option<usize> {
        match self.owner.load(Ordering::Acquire) {
            NO_OWNER => None,
            i => Some(i),
        }
    }

    /// Resumes the coroutine on the calling worker. Only the scheduler calls this, on the
    /// worker that popped the task from its own queues.
    pub(crate) fn resume(&self, worker: usize) -> Resumed {
        match self.owner.load(Ordering::Relaxed) {
            NO_OWNER => self.owner.store(worker, Ordering::Release),
            owner => debug_assert_eq!(owner, worker, "CO4: a started coroutine moved"),
        }
        // SAFETY: CO4: we are the owning worker (recorded just above or at the first resume),
        // the only thread that touches `co`, and no reference into it outlives this function.
        let slot = unsafe { &mut *self.co.get() };
        let Some(co) = slot.as_mut() else {
            crate::runtime::fatal("resumed a finished coroutine");
        };
        match co.resume(()) {
            CoroutineResult::Yield(why) => Resumed::Suspended(why),
            CoroutineResult::Return(()) => {
                let co = slot.take().expect("checked above");
                Resumed::Finished(co.into_stack())
            }
        }
    }

    /// Switches from the running coroutine back to its worker. Must be called on the current
    /// task, from inside its coroutine.
    pub(crate) fn suspend(&self, why: Suspend) {
        let yielder = self.yielder.get();
        debug_assert!(!yielder.is_null());
        // SAFETY: `yielder` was set by this coroutine's body on its own stack and stays valid
        // while the coroutine runs; we are inside that coroutine (the caller's contract), on
        // its owner thread.
        unsafe { (*yielder).suspend(why) }
    }

    /// Makes the task runnable if it is parked (P2/P3). Any thread.
    pub(crate) fn wake(self: &Arc<Task>) {
        if self.state.wake() == Wake::Enqueue {
            crate::runtime::scheduler().enqueue_woken(self.clone());
        }
    }

    /// Display name for messages: the given name or `<unnamed>`.
    pub(crate) fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or("<unnamed>")
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        let co = self.co.get_mut();
        // SAFETY: `&mut self` gives exclusive access; the `ManuallyDrop` is dropped or
        // forgotten exactly once, here.
        let co = unsafe { ManuallyDrop::take(co) };
        match co {
            // CO5: never force-unwind a started coroutine here (this may be any thread).
            Some(co) if co.started() && !co.done() => std::mem::forget(co),
            // Unstarted (or finished): `force_unwind` only drops the closure, which is `Send`,
            // so this is sound on any thread; the slot goes back to the pool.
            Some(mut co) => {
                co.force_unwind();
                let stack = co.into_stack();
                if let Some(sched) = crate::runtime::try_scheduler() {
                    sched.stacks.release(stack);
                }
            }
            None => {}
        }
    }
}
