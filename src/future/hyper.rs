//! hyper 1 on weft (feature `hyper`): an `rt::Executor` that runs each future hyper hands it
//! on a coroutine of its own (with `block_on`, so that blocking weft calls inside it park only
//! that coroutine), and an `rt::Timer` whose sleeps are entries in one deadline heap served by
//! a timer thread (future/deadlines.rs). weft's TCP and Unix
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
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::deadlines;

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

/// hyper's timer: each armed sleep is an entry in one deadline heap served by a timer thread
/// of weft's (arming is a push, dropping a flag: no coroutine or thread per sleep; FU2).
/// `Copy`, `Send + Sync`.
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

/// A sleep until `deadline` (`None`: for ever): pending until then. Armed at its first
/// pending poll; dropping it cancels the entry (hyper arms and drops a header timeout at every
/// request).
#[derive(Debug)]
struct Sleep {
    deadline: Option<Instant>,
    armed: Option<Arc<deadlines::Entry>>,
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
        let entry = match &self.armed {
            Some(entry) => entry,
            None => {
                if Instant::now() >= deadline {
                    return Poll::Ready(());
                }
                self.armed.insert(deadlines::arm(deadline))
            }
        };
        if entry.poll_fired(cx.waker()) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(entry) = self.armed.take() {
            deadlines::cancel(&entry);
        }
    }
}

// Nothing in a `Sleep` points into itself: moving it is fine.
impl Unpin for Sleep {}

impl hyper::rt::Sleep for Sleep {}
