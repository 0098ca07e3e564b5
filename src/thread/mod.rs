//! The `std::thread` mirror: coroutines with std's names and signatures.
//!
//! Every function works in both worlds. Inside a coroutine it acts on the coroutine: `park`,
//! `sleep` and `join` park the coroutine, never the worker thread. On a plain OS thread it acts
//! like std: `sleep` sleeps the thread, `current().unpark()` wakes that thread. Likewise a
//! [`LocalKey`] declared with [`coroutine_local!`](crate::coroutine_local) holds one value per
//! coroutine, and one per OS thread outside coroutines.
//!
//! ```
//! use weft::thread;
//! let handles: Vec<_> = (0..10).map(|i| thread::spawn(move || i * 2)).collect();
//! let sum: i32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
//! assert_eq!(sum, 90);
//! ```

mod blocking;
mod borrowed;
mod builder;
mod handle;
mod join;
mod join_state;
pub(crate) mod local;
mod scope;

use std::time::{Duration, Instant};

pub use crate::coroutine::ThreadId;
pub use blocking::spawn_blocking;
pub(crate) use blocking::try_spawn_blocking;
pub(crate) use borrowed::run_borrowed;
pub use builder::Builder;
pub use handle::Thread;
pub use join::{JoinHandle, ScopedJoinHandle};
pub use local::{AccessError, LocalKey};
pub use scope::{Scope, scope};

use crate::coroutine::current;
use crate::park;

pub use std::thread::available_parallelism;

/// The result of joining a coroutine or thread, as [`std::thread::Result`]: `Err` carries the
/// panic payload.
pub type Result<T> = std::thread::Result<T>;

/// Whether the caller is unwinding because of a panic, as [`std::thread::panicking`].
///
/// Inside a coroutine the answer is the coroutine's own: `true` in the `Drop` impls that its
/// unwinding runs, `false` otherwise, whatever other coroutines on the same worker do. This
/// holds because a coroutine that unwinds never switches away from its worker until its
/// unwinding is over (P7, arch/park.md), so the worker thread's panic count is the
/// coroutine's while it runs. On a plain OS thread this is std's. Never blocks.
#[inline]
pub fn panicking() -> bool {
    std::thread::panicking()
}

/// Spawns a coroutine, as [`std::thread::spawn`]; `go!` is the short spelling.
///
/// The coroutine starts on some worker (an idle worker may steal it before it starts) and,
/// once started, stays on that worker until it finishes.
///
/// # Panics
/// Where [`Builder::spawn`] would return an error, with the same message.
#[track_caller]
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new().spawn(f).unwrap_or_else(|e| panic!("{e}"))
}

/// The handle of the calling coroutine, or of the calling OS thread outside coroutines.
pub fn current() -> Thread {
    match current::task() {
        Some(task) => Thread::from_task(task),
        None => blocking::current_job().unwrap_or_else(Thread::current_os),
    }
}

/// Blocks until the park token is available, then consumes it, as [`std::thread::park`].
///
/// In a coroutine the coroutine parks (its worker runs others); on an OS thread this is
/// `std::thread::park`. May return spuriously, like std.
#[inline]
pub fn park() {
    if !park::park_token(None) {
        std::thread::park();
    }
}

/// As [`park`], but gives up after `dur`, as [`std::thread::park_timeout`].
#[inline]
pub fn park_timeout(dur: Duration) {
    let deadline = Instant::now().checked_add(dur);
    if !park::park_token(deadline) {
        std::thread::park_timeout(dur);
    }
}

/// Sleeps for at least `dur`, as [`std::thread::sleep`]: a coroutine parks on its worker's
/// timer; an OS thread sleeps.
#[inline]
pub fn sleep(dur: Duration) {
    if !current::in_coroutine() {
        return std::thread::sleep(dur);
    }
    let deadline = Instant::now().checked_add(dur);
    loop {
        park::park(deadline, park::Wait::Sleep);
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return;
        }
    }
}

/// Puts the calling coroutine behind the other runnable coroutines of its worker; on an OS
/// thread, `std::thread::yield_now`.
#[inline]
pub fn yield_now() {
    park::yield_now();
}
