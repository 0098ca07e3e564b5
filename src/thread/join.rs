//! `JoinHandle` and the packet through which a coroutine hands its result to the joiner.

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use super::Thread;
use super::join_state::JoinState;
use super::scope::ScopeData;
use crate::park::{self, Unparker};

/// The result slot shared by a coroutine and its one join handle; `state` hands `result` and
/// `waiter` over between them (J1–J3, thread/join_state.rs).
pub(crate) struct Packet<T> {
    state: JoinState,
    result: UnsafeCell<Option<std::thread::Result<T>>>,
    waiter: UnsafeCell<Option<Unparker>>,
    /// The scope this coroutine belongs to, told when the packet goes away.
    scope: Option<Arc<ScopeData>>,
}

// SAFETY: `result` and `waiter` are handed between the coroutine and the joiner by the `state`
// protocol (J1–J3), so they are never accessed from two threads at once; `T` must be `Send`
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
        // SAFETY: J1: the result is not published yet, so the joiner does not read it.
        unsafe { *self.result.get() = Some(result) };
        if self.state.complete() {
            // SAFETY: J2: a joiner waits: it wrote `waiter` before and no longer touches it.
            if let Some(waiter) = unsafe { (*self.waiter.get()).take() } {
                waiter.unpark();
            }
        }
    }

    fn join(&self) -> std::thread::Result<T> {
        if !self.state.is_done() {
            // SAFETY: J2/J3: we are the only joiner and have not started waiting, so the
            // coroutine does not read `waiter`.
            unsafe { *self.waiter.get() = Some(park::current()) };
            if self.state.start_waiting() {
                while !self.state.is_done() {
                    park::park(None);
                }
            }
        }
        // SAFETY: J1: the result is published (acquire): the coroutine wrote `result` and will
        // not touch it again; J3: we are the only reader.
        match unsafe { (*self.result.get()).take() } {
            Some(result) => result,
            None => crate::runtime::fatal("a finished coroutine left no result"),
        }
    }

    fn is_finished(&self) -> bool {
        self.state.is_done()
    }
}

impl<T> Drop for Packet<T> {
    fn drop(&mut self) {
        let unhandled_panic = matches!(self.result.get_mut(), Some(Err(_)));
        // Drop the result (it may borrow from the scope) before the scope may end. A result
        // whose destructor panics leaves nowhere sane to report to (and would leave the scope
        // waiting forever): abort, as std does for threads.
        let result = self.result.get_mut().take();
        if panic::catch_unwind(AssertUnwindSafe(move || drop(result))).is_err() {
            crate::runtime::fatal_user("a coroutine's result panicked on drop");
        }
        if let Some(scope) = &self.scope {
            scope.decrement(unhandled_panic);
        }
    }
}

/// An owned permission to join a coroutine, as [`std::thread::JoinHandle`].
///
/// Dropping it detaches the coroutine, which keeps running. `Send + Sync` when `T: Send`.
/// [`join`](JoinHandle::join) blocks: inside a coroutine it parks the coroutine, on an OS
/// thread it parks the thread.
pub struct JoinHandle<T> {
    pub(crate) thread: Thread,
    pub(crate) packet: Arc<Packet<T>>,
}

impl<T> JoinHandle<T> {
    /// Waits for the coroutine to finish; `Err` carries its panic payload.
    pub fn join(self) -> std::thread::Result<T> {
        self.packet.join()
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
        self.packet.join()
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
