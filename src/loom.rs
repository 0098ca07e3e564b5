//! The one door to the concurrency primitives used by the protocol files.
//!
//! Files that hold a parking or wake-up protocol (`coroutine/state.rs`, `coroutine/token.rs`,
//! `scheduler/idle.rs`, `future/signal.rs`) import atomics and locks only from here. The loom models in
//! `tests/loom_*.rs` compile those very files with `#[path]` against a facade of the same shape
//! whose types come from loom, so the models check the code the runtime runs (arch/testing.md).

pub(crate) mod sync {
    pub(crate) use parking_lot::{Mutex, MutexGuard};

    pub(crate) mod atomic {
        pub(crate) use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
    }
}
