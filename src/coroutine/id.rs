//! `ThreadId`: the identity of a coroutine or of an OS thread that used weft.
//!
//! Defined here, in the coroutine layer, because every task carries one; `weft::thread`
//! re-exports it under std's name.

use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};

/// A unique identifier of a coroutine or of an OS thread that used weft.
///
/// Like [`std::thread::ThreadId`]: opaque, `Copy`, comparable and hashable; never reused
/// within a process. Coroutines and OS threads share one numbering.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ThreadId(NonZeroU64);

impl ThreadId {
    #[inline]
    pub(crate) fn new() -> ThreadId {
        /// On its own cache line: every spawn bumps it, and it must not share a line with
        /// statics the workers read all the time.
        #[repr(align(128))]
        struct Padded(AtomicU64);
        static NEXT: Padded = Padded(AtomicU64::new(1));
        let id = NEXT.0.fetch_add(1, Ordering::Relaxed);
        ThreadId(NonZeroU64::new(id).expect("64-bit id space exhausted"))
    }

    /// The identifier with this number, if it is one (0 is not).
    pub(crate) fn from_u64(id: u64) -> Option<ThreadId> {
        NonZeroU64::new(id).map(ThreadId)
    }

    /// The identifier as a number (stable for the life of the process).
    pub fn as_u64(&self) -> NonZeroU64 {
        self.0
    }
}

impl std::fmt::Display for ThreadId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
