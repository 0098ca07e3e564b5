//! The crate's thread-locals for "where am I": the running coroutine and the worker.
//!
//! Both are raw pointers set by the worker loop (scheduler/worker.rs) and valid while set:
//! `TASK` while the worker resumes that task (the worker holds a `TaskRef` to it), `WORKER` for the
//! life of the worker thread (the `Core` lives on the worker's own stack frame). Because a
//! started coroutine never changes thread (CO4), a coroutine reading them always sees its own
//! worker's values. They are `const`-initialised so the stack-overflow handler can read `TASK`
//! from a signal handler without running any lazy initialisation.

use std::cell::Cell;
use std::ptr;

use crate::coroutine::{Task, TaskRef};
use crate::scheduler::Core;

/// A null `*const Task` (a fat pointer: built from a null pointer to a sized task).
const NO_TASK: *const Task = ptr::null::<Task<NoStart>>();

/// Stands in for a closure type to spell a null task pointer.
struct NoStart;

impl crate::coroutine::Start for NoStart {
    fn build(&self, _: crate::stack::SlabStack) -> crate::coroutine::Co {
        unreachable!("NoStart only types a null pointer")
    }
}

thread_local! {
    static TASK: Cell<*const Task> = const { Cell::new(NO_TASK) };
    static WORKER: Cell<*const Core> = const { Cell::new(ptr::null()) };
}

/// Runs `f` on the current coroutine, if the caller runs inside one.
#[inline]
pub(crate) fn with_task<R>(f: impl FnOnce(&Task) -> R) -> Option<R> {
    let p = TASK.with(Cell::get);
    // SAFETY: a non-null TASK points to the task the worker is resuming right now, kept alive
    // by the worker's `TaskRef` until it clears TASK (module doc).
    (!p.is_null()).then(|| f(unsafe { &*p }))
}

/// A new reference to the current coroutine, if the caller runs inside one.
#[inline]
pub(crate) fn current_task() -> Option<TaskRef> {
    let p = TASK.with(Cell::get);
    if p.is_null() {
        return None;
    }
    // SAFETY: `p` came from `TaskRef::as_ptr` of a live `TaskRef` held by the worker (module
    // doc).
    Some(unsafe { TaskRef::from_ptr(p) })
}

/// The current coroutine's task, without taking a reference (park/mod.rs, P8).
#[inline]
pub(crate) fn task_ptr_in_coroutine() -> Option<std::ptr::NonNull<Task>> {
    std::ptr::NonNull::new(task_ptr().cast_mut())
}

/// Whether the caller runs inside a coroutine.
#[inline]
pub(crate) fn in_coroutine() -> bool {
    !TASK.with(Cell::get).is_null()
}

/// The raw current-task pointer, for the signal handler.
#[inline]
pub(crate) fn task_ptr() -> *const Task {
    TASK.try_with(Cell::get).unwrap_or(NO_TASK)
}

/// Sets the current task; the worker calls this before each resume.
#[inline]
pub(crate) fn set_task(task: *const Task) {
    TASK.with(|t| t.set(task));
}

/// Clears the current task; the worker calls this after each resume.
#[inline]
pub(crate) fn clear_task() {
    TASK.with(|t| t.set(NO_TASK));
}

/// Runs `f` on the current worker's core, if the caller runs on a worker thread.
#[inline]
pub(crate) fn with_worker<R>(f: impl FnOnce(&Core) -> R) -> Option<R> {
    worker().map(f)
}

/// The current worker's core, if the caller runs on a worker thread.
#[inline]
pub(crate) fn worker() -> Option<&'static Core> {
    let p = WORKER.with(Cell::get);
    // SAFETY: a non-null WORKER points to the `Core` on this worker
    // thread's stack, which outlives everything that runs on the thread: the worker loop never
    // returns, and aborts rather than unwind (`WorkerUnwindGuard` in scheduler/worker.rs), so
    // the `Core` is never dropped while the thread runs. `Core` is not `Sync`, so the reference
    // stays on this thread, and it is only used shared.
    unsafe { p.as_ref() }
}

/// Sets the current worker; the worker loop calls this once at start.
pub(crate) fn set_worker(core: *const Core) {
    WORKER.with(|w| w.set(core));
}
