//! weft: Go-style green threads for Rust.
//!
//! Write plain blocking code — spawn, sleep, park, join — and weft runs it on stackful
//! coroutines multiplexed over a few OS threads by a work-stealing scheduler. The API mirrors
//! `std::thread`, so porting a blocking program means changing imports, and every call works
//! both inside a coroutine (it parks the coroutine) and on a plain OS thread (it parks the
//! thread).
//!
//! ```
//! use std::time::Duration;
//! use weft::{go, thread};
//!
//! let handles: Vec<_> = (0..1000)
//!     .map(|i| go!(move || { thread::sleep(Duration::from_millis(10)); i }))
//!     .collect();
//! let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
//! assert_eq!(sum, 499_500);
//! ```
//!
//! Architecture and invariants: `arch/README.md` in the repository.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    clippy::undocumented_unsafe_blocks
)]

// The README's examples are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

// Top-level modules (alphabetical). Their layer order is the table "Layers" in arch/README.md:
// a module uses only modules below its own row there (tests/layering.rs checks every path).
pub mod chan;
mod coroutine;
mod fatal;
pub mod fs;
pub mod future;
pub mod io;
mod loom;
mod macros;
pub mod net;
pub mod os;
mod panic;
mod park;
mod parker;
pub mod process;
mod reactor;
pub mod runtime;
mod scheduler;
mod signal;
pub mod stack;
pub mod sync;
pub mod thread;
