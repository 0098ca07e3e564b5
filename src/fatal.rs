//! Fatal errors: the two ways the runtime stops the process, each with a message.
//!
//! A leaf of the layer order (arch/README.md, "Layers"): every layer may report through it, and it
//! uses nothing of the crate.

/// Aborts for an error in user code that cannot be reported anywhere else (std aborts in the
/// same situations for threads: a thread-local destructor that panics, for one).
#[cold]
pub(crate) fn user(msg: &str) -> ! {
    eprintln!("weft: fatal: {msg}; aborting");
    std::process::abort()
}

/// Reports a broken runtime invariant and aborts: after such a bug, going on could corrupt
/// memory, and unwinding through a worker would take every coroutine on it down silently.
#[cold]
pub(crate) fn bug(msg: &str) -> ! {
    eprintln!("weft: internal error: {msg}; aborting");
    std::process::abort()
}
