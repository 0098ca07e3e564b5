//! "Which coroutine am I": the running coroutine of this OS thread.
//!
//! A raw task pointer in a thread-local, set by [`TaskRef::resume`] around
//! each resume and valid while set: the worker that resumes the task holds a `TaskRef` to it
//! until the resume returns. Because a started coroutine never changes thread (CO4), a
//! coroutine reading it always sees itself. It is `const`-initialised so that the stack-overflow
//! handler can read it from a signal handler without running any lazy initialisation.

use std::cell::Cell;
use std::ptr::{self, NonNull};

use super::{Co, Start, Task, TaskRef};
use crate::stack::SlabStack;

/// A null `*const Task` (a fat pointer: built from a null pointer to a sized task).
const NO_TASK: *const Task = ptr::null::<Task<NoStart>>();

/// Stands in for a closure type to spell a null task pointer.
struct NoStart;

impl Start for NoStart {
    fn build(&self, _: SlabStack) -> Co {
        unreachable!("NoStart only types a null pointer")
    }
}

thread_local! {
    static TASK: Cell<*const Task> = const { Cell::new(NO_TASK) };
}

/// Runs `f` on the current coroutine, if the caller runs inside one.
#[inline]
pub(crate) fn with_task<R>(f: impl FnOnce(&Task) -> R) -> Option<R> {
    let p = TASK.with(Cell::get);
    // SAFETY: a non-null TASK points to the task the worker is resuming right now, kept alive
    // by the worker's `TaskRef` until the resume returns and clears TASK (module doc).
    (!p.is_null()).then(|| f(unsafe { &*p }))
}

/// A new reference to the current coroutine, if the caller runs inside one.
#[inline]
pub(crate) fn task() -> Option<TaskRef> {
    let p = TASK.with(Cell::get);
    if p.is_null() {
        return None;
    }
    // SAFETY: `p` is the address of a task kept alive by the worker's `TaskRef` while it is
    // resumed (module doc).
    Some(unsafe { TaskRef::from_ptr(p) })
}

/// The current coroutine's task, without taking a reference (park/mod.rs, P8).
#[inline]
pub(crate) fn task_nonnull() -> Option<NonNull<Task>> {
    NonNull::new(task_ptr().cast_mut())
}

/// Whether the caller runs inside a coroutine.
#[inline]
pub(crate) fn in_coroutine() -> bool {
    !TASK.with(Cell::get).is_null()
}

/// The raw current-task pointer (null outside coroutines), for the signal handler and for
/// identities.
#[inline]
pub(crate) fn task_ptr() -> *const Task {
    TASK.try_with(Cell::get).unwrap_or(NO_TASK)
}

/// Sets the current task for the length of one resume.
#[inline]
pub(super) fn set(task: *const Task) {
    TASK.with(|t| t.set(task));
}

/// Clears the current task after a resume.
#[inline]
pub(super) fn clear() {
    TASK.with(|t| t.set(NO_TASK));
}
