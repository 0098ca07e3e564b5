//! Synchronisation for coroutines and threads alike, mirroring `std::sync`.
//!
//! Today: [`mpsc`], std's channels over [`crate::chan`], and [`WaitGroup`] (crossbeam-utils'
//! shape). A blocked call parks a coroutine (its worker runs other coroutines) and blocks a
//! plain OS thread, in any mix.
//!
//! For the types of `std::sync` weft has no twin of yet (`Mutex`, `RwLock`, `Condvar`,
//! `Barrier`, `Once`…): std's block the whole worker thread while they wait, and every
//! coroutine queued on it (see "What blocks what" in `arch/README.md`). Atomics, `Arc` and
//! short, uncontended std locks are fine.

pub mod mpsc;
mod wait_group;

pub use wait_group::WaitGroup;
