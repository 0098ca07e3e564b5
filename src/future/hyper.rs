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

/// hyper's timer on weft's sleeps: each armed sleep is a coroutine that sleeps until the
/// deadline, then wakes the waiting task. `Copy`, `Send + Sync`.
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
    waker: Mutex<Option<Waker>>,
}

/// A sleep until `deadline` (`None`: for ever): pending until then; the coroutine that
/// sleeps for it starts at the first poll.
#[derive(Debug)]
struct Sleep {
    deadline: Option<Instant>,
    shared: Option<Arc<Shared>>,
}

impl Sleep {
    fn until(deadline: Option<Instant>) -> Sleep {
        Sleep {
            deadline,
            shared: None,
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
        let shared = self
            .shared
            .get_or_insert_with(|| {
                let shared = Arc::new(Shared::default());
                let s = shared.clone();
                crate::go!(move || {
                    crate::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                    s.fired.store(true, Ordering::Release);
                    if let Some(waker) = s.waker.lock().take() {
                        waker.wake();
                    }
                });
                shared
            })
            .clone();
        // The waker first, then the flag: a coroutine that fires in between finds the waker.
        *shared.waker.lock() = Some(cx.waker().clone());
        if shared.fired.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl hyper::rt::Sleep for Sleep {}
