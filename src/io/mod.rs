//! I/O readiness over mio: the driver that polls for it and the per-source readiness state
//! with its waiters (arch/io.md). Generic over the waiter type, so this layer knows nothing of
//! coroutines or parking: the blocking sockets built on it, and their wait loop, are in
//! `net/` (net/source.rs).

mod driver;
pub(crate) mod readiness;

pub(crate) use driver::Driver;
pub(crate) use readiness::{Direction, ScheduledIo};

/// DL1: how many coroutines wait for a socket right now (counted around their park), so that
/// the deadlock check knows that I/O may still wake someone.
static WAITERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Counts one waiter for the life of the value.
#[derive(Debug)]
pub(crate) struct Waiting(());

impl Waiting {
    pub(crate) fn start() -> Waiting {
        WAITERS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Waiting(())
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        WAITERS.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// DL1: how many coroutines wait for a socket.
pub(crate) fn waiters() -> usize {
    WAITERS.load(std::sync::atomic::Ordering::SeqCst)
}
