//! "Which worker am I": the `Core` of the worker thread the caller runs on.
//!
//! A raw pointer in a thread-local, set once by the worker loop (worker.rs, `work`) and valid
//! while set: the `Core` lives on the worker's own stack frame. A configured worker's loop
//! never returns; a spare's returns only once none of its coroutines is alive (HO3), and clears
//! the pointer before the `Core` goes. A coroutine reading it always sees its own worker,
//! because a started coroutine never changes thread (CO4).

use std::cell::Cell;
use std::ptr;

use super::Core;

thread_local! {
    static WORKER: Cell<*const Core> = const { Cell::new(ptr::null()) };
}

/// The current worker's core, if the caller runs on a worker thread.
#[inline(always)]
pub(crate) fn worker() -> Option<&'static Core> {
    let p = WORKER.with(Cell::get);
    // SAFETY: a non-null WORKER points to the `Core` on this worker thread's stack, which
    // outlives every coroutine that runs on the thread and every call made from them: a
    // configured worker's loop never returns, a spare's returns only when none of its
    // coroutines is alive and clears WORKER first, and the loop aborts rather than unwind
    // (`WorkerUnwindGuard` in scheduler/worker.rs). `Core` is not `Sync`, so the reference
    // stays on this thread, and it is only used shared.
    unsafe { p.as_ref() }
}

/// Runs `f` on the current worker's core, if the caller runs on a worker thread. Always
/// inlined: it is a thread-local read and a branch around `f`, on the spawn path.
#[inline(always)]
pub(crate) fn with_worker<R>(f: impl FnOnce(&Core) -> R) -> Option<R> {
    worker().map(f)
}

/// Sets the current worker; the worker loop calls this once at start.
pub(super) fn set_worker(core: *const Core) {
    WORKER.with(|w| w.set(core));
}
