//! `JoinHandle` and the packet through which a coroutine hands its result to the joiner.

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::Arc;

use super::Thread;
use super::join_state::{Completed, JoinState};
use super::scope::ScopeData;
use crate::coroutine::{Co, Start, StartCell, build_co};
use crate::park::{self, Unparker};
use crate::stack::SlabStack;

/// The result slot shared by a coroutine and its one join handle; `state` hands `result` and
/// `waiter` over between them (J1–J4, thread/join_state.rs).
pub(crate) struct Packet<T> {
    state: JoinState,
    result: UnsafeCell<Option<std::thread::Result<T>>>,
    waiter: UnsafeCell<Option<Unparker>>,
    /// The scope this coroutine belongs to, told when the packet goes away.
    scope: Option<Arc<ScopeData>>,
}

// SAFETY: `result` and `waiter` are handed between the coroutine and the joiner by the `state`
// protocol (J1–J4), so they are never accessed from two threads at once; `T` must be `Send`
// because the result moves from the coroutine's thread to the joiner's.
unsafe impl<T: Send> Sync for Packet<T> {}
// SAFETY: as for `Sync`: everything inside may move between threads when `T: Send`.
unsafe impl<T: Send> Send for Packet<T> {}

impl<T> Packet<T> {
    pub(crate) fn new(scope: Option<Arc<ScopeData>>) -> Packet<T> {
        Packet {
            state: JoinState::new(),
            result: UnsafeCell::new(None),
            waiter: UnsafeCell::new(None),
            scope,
        }
    }

    /// Runs the coroutine body, catching its panic, and publishes the result.
    pub(crate) fn run(&self, f: impl FnOnce() -> T) {
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        // CL1: a coroutine's locals are dropped before its result is published, so a join
        // returns after their destructors ran (no-op on a `spawn_blocking` pool thread).
        crate::coroutine::locals::destroy_current();
        // SAFETY: J1: the result is not published yet, so the joiner does not read it.
        unsafe { *self.result.get() = Some(result) };
        match self.state.complete() {
            Completed::Kept => {}
            Completed::WakeJoiner => {
                // SAFETY: J2: a joiner waits: it wrote `waiter` before and no longer touches it.
                if let Some(waiter) = unsafe { (*self.waiter.get()).take() } {
                    waiter.unpark();
                }
            }
            // SAFETY: J4: the handle is gone and saw the state before `DONE`: nobody else
            // touches the result any more.
            Completed::DropResult => drop_result(unsafe { (*self.result.get()).take() }),
        }
    }

    /// The handle goes away without joining (J4): the result, if published, is dropped now,
    /// else by the coroutine when it publishes it.
    fn detach(&self) {
        if self.state.detach() {
            // SAFETY: J1/J3/J4: the result is published and this handle is its only reader.
            drop_result(unsafe { (*self.result.get()).take() });
        }
    }

    fn join(&self, why: park::Wait) -> std::thread::Result<T> {
        if !self.state.is_done() {
            // SAFETY: J2/J3: we are the only joiner and have not started waiting, so the
            // coroutine does not read `waiter`.
            unsafe { *self.waiter.get() = Some(park::current()) };
            if self.state.start_waiting() {
                while !self.state.is_done() {
                    park::park(None, why);
                }
            }
        }
        // SAFETY: J1: the result is published (acquire): the coroutine wrote `result` and will
        // not touch it again; J3: we are the only reader.
        match unsafe { (*self.result.get()).take() } {
            Some(result) => result,
            None => crate::fatal::bug("a finished coroutine left no result"),
        }
    }

    fn is_finished(&self) -> bool {
        self.state.is_done()
    }
}

impl<T> Drop for Packet<T> {
    fn drop(&mut self) {
        let unhandled_panic = matches!(self.result.get_mut(), Some(Err(_)));
        // Drop the result (it may borrow from the scope) before the scope may end.
        drop_result(self.result.get_mut().take());
        if let Some(scope) = &self.scope {
            scope.decrement(unhandled_panic);
        }
    }
}

/// Drops a coroutine's result. One whose destructor panics leaves nowhere sane to report to
/// (and would leave a scope waiting forever): abort, as std does for threads.
fn drop_result<T>(result: Option<std::thread::Result<T>>) {
    if result.is_some() && panic::catch_unwind(AssertUnwindSafe(move || drop(result))).is_err() {
        crate::fatal::user("a coroutine's result panicked on drop");
    }
}

/// The tail of a task spawned with a join handle: the closure and its packet, in the task's
/// own allocation (one allocation per spawn). The handle reaches the packet by pointer and
/// keeps the allocation alive through its `Thread`.
pub(crate) struct Spawned<F, T> {
    packet: Packet<T>,
    start: StartCell<F>,
}

impl<F, T> Spawned<F, T> {
    pub(crate) fn new(f: F) -> Spawned<F, T> {
        Spawned {
            packet: Packet::new(None),
            start: StartCell::new(f),
        }
    }

    pub(crate) fn packet(&self) -> &Packet<T> {
        &self.packet
    }
}

impl<F, T> Start for Spawned<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    fn build(&self, stack: SlabStack) -> Co {
        build_co(stack, self, |spawned| {
            // SAFETY: `build_co` calls this once, on the owner thread, and nothing else
            // touches the closure cell (CO4).
            if let Some(f) = unsafe { spawned.start.take() } {
                spawned.packet.run(f);
            }
        })
    }
}

/// An owned permission to join a coroutine, as [`std::thread::JoinHandle`].
///
/// Dropping it detaches the coroutine, which keeps running. `Send + Sync` when `T: Send`.
/// [`join`](JoinHandle::join) blocks: inside a coroutine it parks the coroutine, on an OS
/// thread it parks the thread.
pub struct JoinHandle<T> {
    pub(crate) thread: Thread,
    /// The packet inside the coroutine's task (`Spawned`); `thread` holds a reference to that
    /// task, which keeps the packet alive as long as this handle; or the packet in `_owned`.
    packet: NonNull<Packet<T>>,
    /// The packet of a coroutine spawned by `Builder::spawn_unchecked`, which lives in its own
    /// allocation (its `T` need not be `'static`, so it cannot live in the task).
    _owned: Option<Arc<Packet<T>>>,
}

// SAFETY: the handle is an owned permission to the packet, as an `Arc<Packet<T>>` would be;
// the packet is `Send + Sync` when `T: Send` (the J1–J4 protocol hands its contents over), and
// `Thread` is `Send + Sync`.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: as for `Send`: `&JoinHandle` only reaches `Thread` and `Packet::is_finished`.
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    /// A handle for `packet`, which lies inside the task that `thread` refers to.
    pub(crate) fn new(thread: Thread, packet: &Packet<T>) -> JoinHandle<T> {
        JoinHandle {
            thread,
            packet: NonNull::from(packet),
            _owned: None,
        }
    }

    /// A handle for a packet in its own allocation (`Builder::spawn_unchecked`).
    pub(crate) fn new_owned(thread: Thread, packet: Arc<Packet<T>>) -> JoinHandle<T> {
        JoinHandle {
            thread,
            packet: NonNull::from(&*packet),
            _owned: Some(packet),
        }
    }

    fn packet(&self) -> &Packet<T> {
        // SAFETY: the packet lives in the task that `self.thread` keeps alive (see `new`), or
        // in `self._owned`, which this handle holds.
        unsafe { self.packet.as_ref() }
    }

    /// Waits for the coroutine to finish; `Err` carries its panic payload.
    pub fn join(self) -> std::thread::Result<T> {
        // The result is taken here; `Drop` then finds the packet done and empty.
        self.packet().join(self.thread.join_wait())
    }

    /// Whether the coroutine has finished running its closure (without blocking).
    pub fn is_finished(&self) -> bool {
        self.packet().is_finished()
    }

    /// The handle of the coroutine.
    pub fn thread(&self) -> &Thread {
        &self.thread
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        self.packet().detach();
    }
}

impl<T> std::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinHandle")
            .field("thread", &self.thread)
            .finish_non_exhaustive()
    }
}

/// A handle to a scoped coroutine, as [`std::thread::ScopedJoinHandle`].
///
/// Not joining it is fine: the scope joins every coroutine before it returns. `Send + Sync`
/// when `T: Send`.
pub struct ScopedJoinHandle<'scope, T> {
    pub(crate) thread: Thread,
    pub(crate) packet: Arc<Packet<T>>,
    pub(crate) _scope: PhantomData<&'scope ()>,
}

impl<T> ScopedJoinHandle<'_, T> {
    /// Waits for the coroutine to finish; `Err` carries its panic payload.
    pub fn join(self) -> std::thread::Result<T> {
        self.packet.join(self.thread.join_wait())
    }

    /// Whether the coroutine has finished running its closure (without blocking).
    pub fn is_finished(&self) -> bool {
        self.packet.is_finished()
    }

    /// The handle of the coroutine.
    pub fn thread(&self) -> &Thread {
        &self.thread
    }
}

impl<T> std::fmt::Debug for ScopedJoinHandle<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopedJoinHandle")
            .field("thread", &self.thread)
            .finish_non_exhaustive()
    }
}
