//! I/O readiness over mio: the driver that polls for it and the per-source readiness state
//! with its waiters (arch/io.md). Generic over the waiter type, so this layer knows nothing of
//! coroutines or parking: the blocking sockets built on it, and their wait loop, are in
//! `net/` (net/source.rs).

mod driver;
pub(crate) mod readiness;

pub(crate) use driver::Driver;
pub(crate) use readiness::{Direction, ScheduledIo};
