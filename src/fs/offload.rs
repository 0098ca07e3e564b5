//! Where a file system call runs (FS1, arch/fs.md): from a coroutine on the blocking pool,
//! borrowing the caller's arguments (B4, `src/thread/borrowed.rs`); on a plain OS thread right
//! here, as std.

use crate::coroutine::current::in_coroutine;

/// FS1: runs `f` off the worker when called from a coroutine (the coroutine parks until it is
/// done), else inline. A panic in `f` reaches the caller either way.
pub(crate) fn offload<T, F>(f: F) -> T
where
    F: FnOnce() -> T + Send,
    T: Send + 'static,
{
    if in_coroutine() {
        crate::thread::run_borrowed(f)
    } else {
        f()
    }
}
