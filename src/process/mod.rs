//! Processes: `std::process`'s types and functions with the same names and methods, whose
//! waits park the calling coroutine instead of its worker thread (arch/process.md).
//!
//! Port by changing `use std::process::…` to `use weft::process::…`. `Command::spawn` returns
//! weft's [`Child`], whose pipes ([`ChildStdin`], [`ChildStdout`], [`ChildStderr`]) are
//! registered with weft's I/O driver, and whose `wait` parks the coroutine until the child
//! exits (through a pidfd, or on the blocking pool where there is none). `Output`,
//! `ExitStatus`, `ExitCode`, `Stdio`, `Termination`, `exit`, `abort` and `id` are std's own.
//! Every call also works on a plain OS thread, where it blocks the thread as std does.
//!
//! ```
//! use weft::process::Command;
//!
//! let out = weft::go!(|| Command::new("sh").args(["-c", "echo hi; exit 3"]).output())
//!     .join()
//!     .unwrap()
//!     .unwrap();
//! assert_eq!(out.stdout, b"hi\n");
//! assert_eq!(out.status.code(), Some(3));
//! ```

mod child;
mod command;
mod pipe;
mod reap;

pub use child::Child;
pub use command::Command;
pub use pipe::{ChildStderr, ChildStdin, ChildStdout};
pub use std::process::{
    CommandArgs, CommandEnvs, ExitCode, ExitStatus, Output, Stdio, Termination, abort, exit, id,
};
