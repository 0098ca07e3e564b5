//! "G": one stackful coroutine, its identity, its stack and its run state.
//!
//! Ground rules (arch/coroutine.md):
//! - CO4 (binding soundness rule): a coroutine that has started never moves to another OS
//!   thread. Before its first resume a task holds only its `Send` closure and the stack slot
//!   reserved for it at spawn (untouched memory), so the unstarted task may be stolen. The
//!   worker that first resumes it builds the corosensei coroutine there, records itself in
//!   `owner`, and is from then on the only thread that touches `body`.
//! - CO8: the coroutine is built on the worker that runs it, on the hottest stack of that
//!   worker's cache (the reserved slot, untouched, goes into the cache in exchange): spawning
//!   writes nothing to stack memory, so a stack never crosses cores between spawn and start.
//! - CO5: a started coroutine is never unwound on a foreign thread, and never freed under its
//!   own frames: while it runs it holds a reference to its own task, so a coroutine parked
//!   forever (nobody can wake it any more) leaks its task and stack instead of being
//!   force-unwound or freed.
//! - Panics never cross `resume`: the body runs under `catch_unwind` (join delivers the payload).

pub(crate) mod current;
mod id;
mod io_waiter;
pub(crate) mod locals;
mod state;
mod task_ref;
mod token;
mod wait;

use std::cell::{Cell, UnsafeCell};
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use corosensei::{Coroutine, CoroutineResult, Yielder};

use crate::stack::{SlabStack, StackPool};
pub use id::ThreadId;
pub(crate) use io_waiter::IoWaiter;
pub(crate) use locals::Locals;
pub(crate) use state::{RunState, Wake};
pub(crate) use task_ref::TaskRef;
use token::Token;
pub use wait::{SelectOp, WaitReason};
pub(crate) use wait::{SelectWait, Wait, epoch, now_ms, tick as tick_clock};

/// Why a coroutine switched back to its worker.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Suspend {
    /// Wait for a wake (or the deadline); the worker commits the park after the switch (P1).
    Park(Option<Instant>),
    /// Go behind the other runnable work of this worker.
    Yield,
    /// DU3: the stack was recorded for a dump; nothing else changed (`TaskRef::trace`).
    Traced,
}

/// What a worker passes to the coroutine it resumes: null to run on, or (DU3) where to record
/// its stack and what it waits for before it suspends again at once.
pub(crate) type Resume = *mut Trace;

/// DU3: what a suspended coroutine reports about itself, for the dump.
#[derive(Debug, Default)]
pub(crate) struct Trace {
    /// Return addresses of its stack, innermost first.
    pub(crate) ips: Vec<usize>,
}

pub(crate) type Co = Coroutine<Resume, Suspend, (), SlabStack>;
type CoYielder = Yielder<Resume, Suspend>;

/// The stack a task runs on: the slot reserved at spawn, then the coroutine built on it.
enum Body {
    Unstarted { stack: SlabStack },
    Started(Co),
    Finished,
}

/// The closure of an unstarted task, stored in the task's own allocation (no separate box):
/// `Task<StartCell<F>>` is created and used as `Task<dyn Start>`.
pub(crate) struct StartCell<F>(UnsafeCell<Option<F>>);

impl<F> StartCell<F> {
    pub(crate) fn new(f: F) -> StartCell<F> {
        StartCell(UnsafeCell::new(Some(f)))
    }

    /// Takes the closure out.
    ///
    /// # Safety
    /// Only the thread that starts the task may call this (CO4), and no reference into the
    /// cell may be live.
    pub(crate) unsafe fn take(&self) -> Option<F> {
        // SAFETY: the caller's contract: one thread, no other reference.
        unsafe { (*self.0.get()).take() }
    }
}

/// The unsized tail of a task: what it runs. Implemented by `StartCell` (a plain closure) and
/// by `thread::join::Spawned` (a closure and its join packet in one allocation).
pub(crate) trait Start: Send {
    /// Takes the closure out and builds the coroutine on `stack`. Owner thread only, once.
    fn build(&self, stack: SlabStack) -> Co;
}

impl<F: FnOnce() + Send + 'static> Start for StartCell<F> {
    fn build(&self, stack: SlabStack) -> Co {
        build_co(stack, self, |cell| {
            // SAFETY: `build_co` calls this once, on the owner thread, and nothing else
            // touches the cell (CO4).
            if let Some(f) = unsafe { cell.take() } {
                f();
            }
        })
    }
}

/// Builds a coroutine on `stack` whose body calls `run(data)`, where `data` is the `Start` tail
/// of the task being started (a field of it, or the tail itself). Shared by every `Start`.
pub(crate) fn build_co<C: Send + 'static>(stack: SlabStack, data: &C, run: fn(&C)) -> Co {
    // Only a pointer goes to corosensei, whatever the closure's size (corosensei refuses
    // initial objects over 1 KiB, and a panic here would take the worker down); the closure
    // itself is moved onto the coroutine's stack by `run`, where a closure too big for the
    // stack is an ordinary, reported stack overflow.
    let data: *const C = data;
    Co::with_stack(stack, move |yielder: &CoYielder, _first: Resume| {
        current::with_task(|task| task.yielder.set(yielder));
        // CO5: the coroutine owns a reference to its own task for as long as it runs, so a
        // task is never freed under frames that still borrow it (a coroutine parked forever
        // leaks its task along with its stack).
        let own = current::task();
        // SAFETY: `data` lies inside the task (the caller's contract), which `own` keeps
        // alive until the body returns; this runs on the owner thread (CO4).
        let data = unsafe { &*data };
        // The spawn wrappers catch user panics themselves; this catch only keeps a bug in
        // them from unwinding into the worker.
        let ok = panic::catch_unwind(AssertUnwindSafe(|| run(data)));
        if ok.is_err() {
            crate::fatal::bug("a coroutine body panicked outside its panic guard");
        }
        // CL1: the coroutine's locals die here, inside it, before its stack goes back. The
        // spawn wrappers have already dropped the ones the user closure created (before
        // publishing the result); this catches a body without a join packet and values
        // created afterwards (by the destructor of an unjoined result).
        if let Some(task) = &own {
            task.locals.destroy();
        }
    })
}

/// What `TaskRef::resume` reports to the worker.
pub(crate) enum Resumed {
    Suspended(Suspend),
    /// The body returned; here is its stack back.
    Finished(SlabStack),
}

const NO_OWNER: usize = usize::MAX;

/// One coroutine. Shared through `TaskRef` (a counted reference, like `Arc`) between run
/// queues, timers, wakers and join handles.
pub(crate) struct Task<S: ?Sized = dyn Start> {
    /// The number of `TaskRef`s (coroutine/task_ref.rs).
    refs: AtomicUsize,
    pub(crate) id: ThreadId,
    pub(crate) name: Option<String>,
    /// Where it was spawned (`#[track_caller]` through `spawn`, `go!`, `Builder::spawn` and the
    /// scoped spawns), for the reports that name it.
    pub(crate) spawned_at: &'static Location<'static>,
    /// Run state (coroutine/state.rs); any thread.
    pub(crate) state: RunState,
    /// The user park token (coroutine/token.rs); any thread.
    pub(crate) token: Token,
    /// Index of the worker that first resumed it; `NO_OWNER` before (CO4). Written once by that
    /// worker before the first resume, read by wakers after they saw `PARKED`.
    owner: AtomicUsize,
    /// Usable stack bytes and guard page range of the running stack, for the overflow report
    /// (signal.rs, on the owner thread). Set at spawn for the reserved slot, then by the owner
    /// when it starts the coroutine (CO8).
    stack_size: Cell<usize>,
    guard: Cell<(usize, usize)>,
    /// The closure or the coroutine. Touched by the spawner until it publishes the task, then
    /// only by the worker that runs it (CO4).
    body: UnsafeCell<Body>,
    /// The yielder of the running coroutine; owner thread only.
    yielder: Cell<*const CoYielder>,
    /// Sequence number of the armed timer, 0 when none; owner worker only (scheduler/timer.rs).
    pub(crate) timer_seq: AtomicU64,
    /// The `coroutine_local!` values (coroutine/locals.rs); only the coroutine itself touches them,
    /// from inside its body, on the owner thread (CO4, CL1). One pointer, null until used.
    pub(crate) locals: Locals,
    /// DU1: what it parked for last and when; written by the coroutine itself right before it
    /// switches away to park, read inside it by a trace resume (DU3).
    wait: Cell<Wait>,
    /// DU4: its index in the owner worker's list of live coroutines (scheduler/dump.rs); the
    /// owner worker only.
    pub(crate) live_index: Cell<u32>,
    /// The closure, until the coroutine is built (owner thread only, CO4).
    start: S,
}

// SAFETY: the non-thread-safe fields are `start`, `body`, `yielder`, `stack_size`, `guard`,
// `locals`, `wait` and `live_index` (plain data, touched only on the owner
// thread, by the coroutine itself or its worker: DU1, DU4). Before the first resume, they hold only a `Send` closure, a stack slot nobody has
// touched and an empty `locals`, so handing the task to another thread is sound; the spawner
// stops touching them when it publishes the task (the queue push is a release). From the first
// resume on, only the owning worker thread touches these fields (CO4: started coroutines are
// never stolen, and wakers only push a `TaskRef` to the owner's queues). `locals` holds values
// that need not be `Send`: they are created and dropped inside the coroutine, on the owner
// thread, and its body drops them all before it returns (CL1); dropping a `Task` with values
// left (only a leaked coroutine could, CO5) leaks them rather than drop them on another thread
// (`Drop for Locals`). All other fields are atomics or immutable.
unsafe impl<S: ?Sized + Send> Send for Task<S> {}
// SAFETY: see `Send`: shared access from other threads only reaches atomic or immutable fields.
unsafe impl<S: ?Sized + Send> Sync for Task<S> {}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish()
    }
}

impl<S: Start> Task<S> {
    /// Creates an unstarted coroutine that will run `start` on `stack` (or on a stack of the
    /// same size that its worker swaps in, CO8). Returned sized, so that the spawner can reach
    /// into `start` before the task is used as a `TaskRef` of any closure type.
    pub(crate) fn create(
        id: ThreadId,
        name: Option<String>,
        spawned_at: &'static Location<'static>,
        stack: SlabStack,
        start: S,
    ) -> TaskRef<S> {
        TaskRef::new(Task {
            refs: AtomicUsize::new(1),
            id,
            name,
            spawned_at,
            state: RunState::new_queued(),
            token: Token::new(),
            owner: AtomicUsize::new(NO_OWNER),
            stack_size: Cell::new(stack.usable()),
            guard: Cell::new(stack.guard()),
            body: UnsafeCell::new(Body::Unstarted { stack }),
            yielder: Cell::new(std::ptr::null()),
            timer_seq: AtomicU64::new(0),
            locals: Locals::new(),
            wait: Cell::new(Wait::Sleep),
            live_index: Cell::new(u32::MAX),
            start,
        })
    }

    /// What the task runs (for the spawner, which keeps a pointer to the join packet in it).
    pub(crate) fn tail(&self) -> &S {
        &self.start
    }
}

impl Task {
    /// The worker that owns the task, if it has started.
    #[inline]
    pub(crate) fn owner(&self) -> Option<usize> {
        match self.owner.load(Ordering::Acquire) {
            NO_OWNER => None,
            i => Some(i),
        }
    }

    /// Builds the coroutine on the worker that first runs it (CO4, CO8).
    #[inline]
    fn start(&self, body: &mut Body, hot_stack: impl FnOnce(SlabStack) -> SlabStack) {
        let Body::Unstarted { stack } = std::mem::replace(body, Body::Finished) else {
            return;
        };
        let stack = hot_stack(stack);
        self.stack_size.set(stack.usable());
        self.guard.set(stack.guard());
        *body = Body::Started(self.start.build(stack));
    }

    /// Runs `f` on the worker's stack (below the frame that resumed this coroutine), for work
    /// that needs more stack than a coroutine may have, such as formatting a backtrace. Must be
    /// called from inside this coroutine.
    pub(crate) fn on_parent_stack<R>(&self, f: impl FnOnce() -> R + Send) -> R {
        let yielder = self.yielder.get();
        if yielder.is_null() {
            return f();
        }
        // SAFETY: as in `suspend`: the yielder lives on this coroutine's stack and is valid
        // while it runs; we are inside it, on its owner thread.
        unsafe { (*yielder).on_parent_stack(f) }
    }

    /// Usable bytes of the coroutine's stack (for the overflow report; owner thread).
    pub(crate) fn stack_size(&self) -> usize {
        self.stack_size.get()
    }

    /// Guard page range of the coroutine's stack (for the overflow report; owner thread).
    pub(crate) fn guard(&self) -> (usize, usize) {
        self.guard.get()
    }

    /// Switches from the running coroutine back to its worker. Must be called on the current
    /// task, from inside its coroutine. A resume that asks for the stack (DU3) records it and
    /// switches back at once; only a plain resume returns from here.
    #[inline(always)]
    pub(crate) fn suspend(&self, why: Suspend) {
        let yielder = self.yielder.get();
        debug_assert!(!yielder.is_null());
        // SAFETY: `yielder` was set by this coroutine's body on its own stack and stays valid
        // while the coroutine runs; we are inside that coroutine (the caller's contract), on
        // its owner thread.
        let trace = unsafe { (*yielder).suspend(why) };
        if !trace.is_null() {
            self.record_stacks(trace);
        }
    }

    /// DU3: answers trace resumes until a plain one comes.
    #[cold]
    #[inline(never)]
    fn record_stacks(&self, mut trace: Resume) {
        while !trace.is_null() {
            trace = self.record_stack(trace);
        }
    }

    /// DU3: records this coroutine's return addresses into `out`, then switches back to the
    /// worker with `Traced`; returns what the next resume passes. The wait reason is not read
    /// here: a yielded coroutine's is stale (its frame may be gone), and the worker reads a
    /// parked one's itself (DU1).
    #[cold]
    #[inline(never)]
    fn record_stack(&self, out: Resume) -> Resume {
        let yielder = self.yielder.get();
        let out = out as usize;
        // The usable stack: the walk stops once it has left it again (the worker's frames
        // under the coroutine's entry are not the coroutine's).
        let low = self.guard().1;
        let high = low + self.stack_size();
        // The walk runs on the worker's stack (the coroutine's may have little room left);
        // the unwinder follows the frames from there back into the coroutine's.
        self.on_parent_stack(move || {
            let mut ips = Vec::with_capacity(32);
            let mut inside = false;
            // SAFETY: the unsynchronized walk is safe on Linux, whose unwinder (libgcc's
            // `_Unwind_Backtrace`) is thread-safe; the synchronized one takes the `backtrace`
            // crate's global lock, which a symbol resolution elsewhere may hold for a second.
            unsafe {
                backtrace::trace_unsynchronized(|frame| {
                    let sp = frame.sp() as usize;
                    let here = (low..high).contains(&sp);
                    if inside && !here {
                        return false;
                    }
                    inside |= here;
                    ips.push(frame.ip() as usize);
                    ips.len() < 256
                });
            }
            // SAFETY: DU3: `out` is the worker's, passed to this resume and not touched by the
            // worker until the resume returns.
            unsafe { (*(out as *mut Trace)).ips = ips };
        });
        // SAFETY: as in `suspend`.
        unsafe { (*yielder).suspend(Suspend::Traced) }
    }

    /// DU1: what a parked coroutine waits for: the public form and when it began.
    ///
    /// # Safety
    /// DU1: the owner worker, between resumes, for a coroutine whose run state is `PARKED`
    /// (it sits suspended in the park that stored the reason; a select's list lives there).
    pub(crate) unsafe fn parked_wait(&self) -> (WaitReason, u32) {
        let wait = self.wait.get();
        // SAFETY: the caller's contract.
        (unsafe { wait.reason() }, wait.since())
    }

    /// DU1: stores what this coroutine is about to park for, and when. Inside it only.
    #[inline(always)]
    pub(crate) fn set_wait(&self, wait: Wait) {
        self.wait.set(wait.since_now());
    }

    /// Whether the coroutine has a body that was started and has not finished: the only kind
    /// with a stack to record. Owner worker only (CO4).
    pub(crate) fn is_started(&self) -> bool {
        // SAFETY: CO4: the owner worker reads `body` between resumes; nothing else writes it.
        matches!(unsafe { &*self.body.get() }, Body::Started(_))
    }

    /// Display name for messages: the given name or `<unnamed>`.
    pub(crate) fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or("<unnamed>")
    }
}

impl TaskRef {
    /// Resumes the coroutine on the calling worker. Only the scheduler calls this, on the
    /// worker that popped the task from its own queues. On the first resume, `hot_stack`
    /// exchanges the reserved stack for the one to run on (CO8).
    #[inline]
    pub(crate) fn resume(
        &self,
        worker: usize,
        hot_stack: impl FnOnce(SlabStack) -> SlabStack,
    ) -> Resumed {
        match self.owner.load(Ordering::Relaxed) {
            NO_OWNER => self.owner.store(worker, Ordering::Release),
            owner => debug_assert_eq!(owner, worker, "CO4: a started coroutine moved"),
        }
        // SAFETY: CO4: we are the owning worker (recorded just above or at the first resume),
        // the only thread that touches `body`, and no reference into it outlives this call.
        let body = unsafe { &mut *self.body.get() };
        if matches!(body, Body::Unstarted { .. }) {
            self.start(body, hot_stack);
        }
        let Body::Started(co) = body else {
            crate::fatal::bug("resumed a finished coroutine");
        };
        // "Which coroutine am I" answers this task for the length of the resume (with the
        // reference's own pointer, whose provenance covers the whole task block).
        current::set(self.as_ptr());
        let resumed = co.resume(std::ptr::null_mut());
        current::clear();
        match resumed {
            CoroutineResult::Yield(why) => Resumed::Suspended(why),
            CoroutineResult::Return(()) => match std::mem::replace(body, Body::Finished) {
                Body::Started(co) => Resumed::Finished(co.into_stack()),
                _ => unreachable!("matched Started above"),
            },
        }
    }
}

impl TaskRef {
    /// DU3: the return addresses of this suspended coroutine's stack, from its park (or yield)
    /// down to its entry. The coroutine runs only the walk and switches back; its run state,
    /// queues and wait reason are untouched. Only its owner worker calls this, between
    /// resumes, for a coroutine that is not running (it never is then: CO4).
    pub(crate) fn trace(&self) -> Trace {
        // SAFETY: CO4: we are the owner worker, between resumes: nothing else touches `body`.
        let body = unsafe { &mut *self.body.get() };
        let Body::Started(co) = body else {
            return Trace::default();
        };
        let mut trace = Trace::default();
        current::set(self.as_ptr());
        let resumed = co.resume(&mut trace);
        current::clear();
        match resumed {
            CoroutineResult::Yield(Suspend::Traced) => trace,
            _ => crate::fatal::bug("a coroutine resumed for its stack did not come back at once"),
        }
    }
}

impl<S: ?Sized> Drop for Task<S> {
    fn drop(&mut self) {
        match std::mem::replace(self.body.get_mut(), Body::Finished) {
            // CO5: never force-unwind a started coroutine here (this may be any thread).
            // `Started` only exists from the first resume until the body returns (`resume`
            // turns a finished coroutine into `Finished` and recycles its stack), so this
            // coroutine is suspended mid-body: leak it.
            Body::Started(co) => std::mem::forget(co),
            // Unstarted: the closure is dropped with the task (it is `Send`, so any thread may);
            // the untouched stack goes back.
            Body::Unstarted { stack } => {
                if let Some(pool) = StackPool::global() {
                    pool.release(stack);
                }
            }
            Body::Finished => {}
        }
    }
}
