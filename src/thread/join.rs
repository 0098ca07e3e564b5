//! `JoinHandle` and the packet through which a coroutine hands its result to the joiner.

use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use super::Thread;
use super::scope::ScopeData;
use crate::park::{self, Unparker};

/// The result slot shared by a coroutine and its join handle.
pub(crate) struct Packet<T> {
    synced: Mutex<Synced<T>>,
    /// Set once the body has returned or panicked.
    done: AtomicBool,
    /// The scope this coroutine belongs to, told when the packet goes away.
    scope: Option<Arc<ScopeData>>,
}

struct Synced<T> {
    result: Option<std::thread::Result<T>>,
    /// The joiner, parked until `result` is set.
    waiter: Option<Unparker>,
}

impl<T> Packet<T> {
    pub(crate) fn new(scope: Option<Arc<ScopeData>>) -> Packet<T> {
        Packet {
            synced: Mutex::new(Synced {
                result: None,
                waiter: None,
            }),
            done: AtomicBool::new(false),
            scope,
        }
    }

    /// Runs the coroutine body, catching its panic, and publishes the result.
    pub(crate) fn run(&self, f: impl FnOnce() -> T) {
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        let waiter = {
            let mut synced = self.synced.lock();
            synced.result = Some(result);
            self.done.store(true, Ordering::Release);
            synced.waiter.take()
        };
        if let Some(waiter) = waiter {
            waiter.unpark();
        }
    }

    fn join(&self) -> std::thread::Result<T> {
        loop {
            {
                let mut synced = self.synced.lock();
                if let Some(result) = synced.result.take() {
                    return result;
                }
                synced.waiter = Some(park::current());
            }
            park::park(None);
        }
    }

    fn is_finished(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }
}

impl<T> Drop for Packet<T> {
    fn drop(&mut self) {
        let unhandled_panic = matches!(self.synced.get_mut().result, Some(Err(_)));
        // Drop the result (it may borrow from the scope) before the scope may end. A result
        // whose destructor panics leaves nowhere sane to report to (and would leave the scope
        // waiting forever): abort, as std does for threads.
        let result = self.synced.get_mut().result.take();
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
