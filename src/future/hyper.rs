//! hyper 1 on weft (feature `hyper`): an `rt::Executor` that runs each future hyper hands it
//! on a coroutine of its own (with `block_on`, so that blocking weft calls inside it park only
//! that coroutine), and an `rt::Timer` whose sleeps are weft sleeps. weft's TCP and Unix
//! streams implement hyper's `rt::Read`/`rt::Write` (net/async_io.rs).
//!
//! ```no_run
//! let exec = weft::future::hyper::Executor;
//! let timer = weft::future::hyper::Timer;
//! # let _ = (exec, timer);
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Runs each future on a new coroutine (`weft::go!` + `block_on`). `Copy`, `Send + Sync`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Executor;

impl<F> hyper::rt::Executor<F> for Executor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        crate::go!(move || {
            super::block_on(fut);
        });
    }
}

/// hyper's timer on weft's sleeps: each armed sleep is a coroutine that waits until the
/// deadline (or until the sleep is dropped, which ends it at once), then wakes the waiting
/// task. `Copy`, `Send + Sync`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timer;

impl hyper::rt::Timer for Timer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(Sleep::until(Instant::now().checked_add(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(Sleep::until(Some(deadline)))
    }
}

/// What a sleep and its coroutine share.
#[derive(Debug, Default)]
struct Shared {
    fired: AtomicBool,
    /// The sleep was dropped: its coroutine ends without waiting for the deadline.
    dropped: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

/// A sleep until `deadline` (`None`: for ever): pending until then; the coroutine that
/// waits for it starts at the first poll and ends when it fires or the sleep is dropped (so
/// hyper's per-request timeouts, armed and dropped at every request, leave no coroutine
/// behind).
#[derive(Debug)]
struct Sleep {
    deadline: Option<Instant>,
    armed: Option<(Arc<Shared>, crate::thread::Thread)>,
}

impl Sleep {
    fn until(deadline: Option<Instant>) -> Sleep {
        Sleep {
            deadline,
            armed: None,
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(deadline) = self.deadline else {
            return Poll::Pending;
        };
        if Instant::now() >= deadline {
            return Poll::Ready(());
        }
        let (shared, _) = self.armed.get_or_insert_with(|| {
            let shared = Arc::new(Shared::default());
            let s = shared.clone();
            let sleeper = crate::go!(move || {
                loop {
                    let now = Instant::now();
                    if s.dropped.load(Ordering::Acquire) {
                        return;
                    }
                    if now >= deadline {
                        break;
                    }
                    // Unparked early by the sleep's drop.
                    crate::thread::park_timeout(deadline - now);
                }
                s.fired.store(true, Ordering::Release);
                if let Some(waker) = s.waker.lock().take() {
                    waker.wake();
                }
            });
            (shared, sleeper.thread().clone())
        });
        // The waker first, then the flag: a coroutine that fires in between finds the waker.
        *shared.waker.lock() = Some(cx.waker().clone());
        if shared.fired.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some((shared, sleeper)) = self.armed.take() {
            shared.dropped.store(true, Ordering::Release);
            sleeper.unpark();
        }
    }
}

// Nothing in a `Sleep` points into itself: moving it is fine (its `Thread` is a handle).
impl Unpin for Sleep {}

impl hyper::rt::Sleep for Sleep {}
