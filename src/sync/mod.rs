//! Synchronisation for coroutines and threads alike, mirroring `std::sync`.
//!
//! [`Mutex`], [`RwLock`], [`Condvar`], [`Barrier`], [`Once`], [`OnceLock`] and [`LazyLock`]
//! keep std's names, methods and poisoning (with std's own error types, re-exported here);
//! [`mpsc`] is std's channels over [`crate::chan`]; [`WaitGroup`] has crossbeam-utils' shape
//! and [`Semaphore`] tokio's. A blocked call parks a coroutine (its worker runs other
//! coroutines) and blocks a plain OS thread, and both kinds may wait on the same lock.
//!
//! std's locks, by contrast, block the whole worker thread while they wait, and every
//! coroutine queued on it (see "What blocks what" in the README). Atomics, `Arc` and
//! `Weak` are std's and fine to use.
//!
//! Every lock is a state word plus a FIFO queue of waiters (`raw/`); the invariants are in
//! arch/sync.md.

mod barrier;
mod condvar;
mod lazy_lock;
pub mod mpsc;
mod mutex;
mod once;
mod once_lock;
mod poison;
pub(crate) mod raw;
mod rwlock;
mod semaphore;
mod wait_group;

pub use barrier::{Barrier, BarrierWaitResult};
pub use condvar::{Condvar, WaitTimeoutResult};
pub use lazy_lock::LazyLock;
pub use mutex::{Mutex, MutexGuard};
pub use once::{Once, OnceState};
pub use once_lock::OnceLock;
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::{Semaphore, SemaphorePermit};
pub use std::sync::{Arc, LockResult, PoisonError, TryLockError, TryLockResult, Weak, atomic};
pub use wait_group::WaitGroup;
