//! Who waits for a socket's readiness (the I/O driver's waiter type, reactor/readiness.rs): a
//! coroutine parked in a blocking call, or the `Waker` of a future polled through weft's async
//! I/O traits (net/source.rs `poll_io`). The scheduler's poller wakes either (`wake_io`).

use std::task::Waker;

use super::TaskRef;

/// A waiter of one direction of one I/O source.
#[derive(Debug)]
pub(crate) enum IoWaiter {
    /// A coroutine parked in a blocking call (woken with the scheduler's `wake_owned`).
    Task(TaskRef),
    /// A future's waker (woken with `Waker::wake`); only the async I/O traits make these.
    #[cfg_attr(
        not(any(feature = "futures-io", feature = "tokio", feature = "hyper")),
        allow(dead_code)
    )]
    Waker(Waker),
}
