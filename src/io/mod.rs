//! `std::io` with a standard input whose reads park the coroutine (arch/process.md, SI1–SI4).
//!
//! Everything of `std::io` is re-exported here (traits, `Error`, `BufReader`, `stdout`,
//! `stderr`…), so that `use weft::io::{self, BufRead, Write}` ports a program. Only
//! [`stdin`], [`Stdin`] and [`StdinLock`] are weft's own: a read that has to wait for input
//! parks the calling coroutine, whether standard input is a pipe, a file or a terminal.
//!
//! `stdout` and `stderr` are std's, with std's locking: a line written with `println!` is
//! never interleaved with another. Their writes do not park: they block the worker while the
//! terminal or pipe is full, as std's do (SI4).
//!
//! Mixing `std::io::stdin` and `weft::io::stdin` in one program splits the input between
//! their two buffers: use only one of them.
//!
//! ```no_run
//! use weft::io::{self, BufRead};
//!
//! let reader = weft::go!(|| {
//!     let mut n = 0;
//!     for line in io::stdin().lines() {
//!         line?;
//!         n += 1;
//!     }
//!     io::Result::Ok(n)
//! });
//! println!("{} lines", reader.join().unwrap().unwrap());
//! ```

mod stdin;

pub use std::io::*;
pub use stdin::{Stdin, StdinLock, stdin};
