//! `weft::future`: running a `Future` from blocking code (the async bridge, arch/future.md).
//!
//! [`block_on`] polls a future to completion on the caller: inside a coroutine it parks only
//! the coroutine between polls (its worker runs the others), on a plain OS thread it parks the
//! thread. The future's `Waker` is the caller's unparker behind one `Arc`: cloning a waker is
//! a reference-count increment, waking one a flag swap and an unpark, both without allocating,
//! from any thread, at any time (while the future is being polled, or after `block_on`
//! returned: a late wake then only sets a flag the next call clears, or in a narrow race is a
//! spurious wake-up of the caller's next wait, which every weft wait tolerates, P4). The `Arc`
//! is kept per OS thread for the last caller on it (a coroutine or the thread itself), so
//! repeated calls by one caller allocate nothing.
//!
//! - FU1: no wake is lost: a wake sets `NOTIFIED` and unparks the caller if it found `PARKED`
//!   set and `NOTIFIED` clear; the caller clears `NOTIFIED` before each poll, and after a
//!   `Pending` sets `PARKED` and parks only if `NOTIFIED` was clear then (and again after each
//!   wake-up). Both flags are one atomic word, so its modification order alone decides which
//!   of a racing waker and caller saw the other (src/future/signal.rs, loom model
//!   tests/loom_future.rs). A park returns at once for an unpark that came first (P3, P5). A
//!   wake while the future is polled therefore makes the caller poll again, without an unpark.

#[cfg(feature = "hyper")]
mod deadlines;
#[cfg(feature = "hyper")]
pub mod hyper;
mod signal;

use std::cell::RefCell;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use crate::coroutine::current;
use crate::park::{self, Unparker, Wait};
use signal::Flags;

/// The waker behind a `block_on` call.
#[derive(Debug)]
struct Signal {
    /// FU1's flags.
    flags: Flags,
    /// The caller: its coroutine or its OS thread.
    caller: Unparker,
    /// The caller's task address, null for an OS thread (the key of the per-thread cache; the
    /// `caller` reference keeps the task, and so the address, from being reused meanwhile).
    key: *const (),
}

// SAFETY: `key` is only compared, never dereferenced; the other fields are `Send + Sync`.
unsafe impl Send for Signal {}
// SAFETY: as for `Send`.
unsafe impl Sync for Signal {}

impl Signal {
    /// FU1: records the wake; unparks the caller only if it parks.
    fn wake(&self) {
        if self.flags.wake() {
            self.caller.clone().unpark();
        }
    }
}

/// The waker's functions over an `Arc<Signal>` turned into a raw pointer.
static VTABLE: RawWakerVTable = RawWakerVTable::new(clone_raw, wake_raw, wake_by_ref_raw, drop_raw);

/// # Safety (all four)
/// `p` came from `Arc::<Signal>::as_ptr` or `Arc::into_raw`, and the `Signal` is alive: the
/// caller's own waker borrows `block_on`'s `Arc` (never dropped, `ManuallyDrop`), every clone
/// owns one count.
unsafe fn clone_raw(p: *const ()) -> RawWaker {
    // SAFETY: see above: the count is at least 1; the new waker owns the increment.
    unsafe { Arc::increment_strong_count(p.cast::<Signal>()) };
    RawWaker::new(p, &VTABLE)
}

unsafe fn wake_raw(p: *const ()) {
    // SAFETY: see `clone_raw`: an owning waker (a clone) gives its count back here.
    let signal = unsafe { Arc::from_raw(p.cast::<Signal>()) };
    signal.wake();
}

unsafe fn wake_by_ref_raw(p: *const ()) {
    // SAFETY: see `clone_raw`: alive while the waker is.
    unsafe { (*p.cast::<Signal>()).wake() };
}

unsafe fn drop_raw(p: *const ()) {
    // SAFETY: see `clone_raw`: an owning waker gives its count back.
    drop(unsafe { Arc::from_raw(p.cast::<Signal>()) });
}

thread_local! {
    /// The signal of the last `block_on` caller on this OS thread, while no call uses it.
    static LAST: RefCell<Option<Arc<Signal>>> = const { RefCell::new(None) };
}

/// The caller's signal: the cached one if it is the caller's (taken out of the cache for the
/// call), else a new one.
fn take_signal() -> Arc<Signal> {
    let key = current::task_ptr() as *const ();
    let cached = LAST
        .try_with(|last| {
            let mut last = last.borrow_mut();
            match &*last {
                Some(signal) if signal.key == key => last.take(),
                _ => None,
            }
        })
        .ok()
        .flatten();
    cached.unwrap_or_else(|| {
        Arc::new(Signal {
            flags: Flags::new(),
            caller: park::current(),
            key,
        })
    })
}

/// Puts the call's signal back in the cache.
fn give_back(signal: Arc<Signal>) {
    let _ = LAST.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            *last = Some(signal);
        }
    });
}

/// Runs `fut` to completion and returns its output, blocking the caller as a weft call does:
/// inside a coroutine only the coroutine waits (its worker runs the others meanwhile); on a
/// plain OS thread the thread waits.
///
/// The future is polled on the caller's own stack, so everything it does between two `Pending`s
/// runs there: a future that needs a runtime's context (tokio's timers and sockets) must be
/// run by that runtime, and its result awaited here (arch/future.md).
///
/// ```
/// let answer = weft::go!(|| weft::future::block_on(async { 6 * 7 })).join().unwrap();
/// assert_eq!(answer, 42);
/// ```
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let signal = take_signal();
    // Borrows `signal` (no count): never dropped, and `signal` outlives it.
    // SAFETY: the pointer comes from `Arc::as_ptr` and the `Arc` lives until after the last
    // use of this waker; clones made from it own their counts (`clone_raw`).
    let waker = ManuallyDrop::new(unsafe {
        Waker::from_raw(RawWaker::new(Arc::as_ptr(&signal).cast(), &VTABLE))
    });
    let mut cx = Context::from_waker(&waker);
    let out = loop {
        signal.flags.before_poll();
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            break out;
        }
        if signal.flags.begin_park() {
            park::park(None, Wait::BlockOn);
            while signal.flags.must_park() {
                park::park(None, Wait::BlockOn);
            }
        }
    };
    give_back(signal);
    out
}
