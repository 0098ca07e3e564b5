//! Fatal errors and the runtime's stderr: the two ways the runtime stops the process, each with
//! a message, and `eprint`, the one way the runtime writes a report (a panic message, a
//! warning, a fatal message) to stderr.
//!
//! A leaf of the layer order (arch/README.md, "Layers"): every layer may report through it, and it
//! uses nothing of the crate.
//!
//! `eprint` writes where `eprint!` writes, so a test harness that captures a test's output
//! (libtest sets a per-thread capture that `eprint!` honours and `std::thread::spawn` passes
//! on) captures weft's reports too. Unlike `eprint!`, it never panics when stderr fails (a
//! closed pipe, a full disk): std's own panic hook ignores such errors, and a panic inside a
//! panic hook would abort the process ("panicked while processing panic"). How:
//!
//! - On a thread that is not panicking, `eprint!` runs under `catch_unwind` with the thread's
//!   `SILENCED` flag set; its "failed printing to stderr" panic is caught, and weft's panic
//!   hook, which asks `silenced` first, stays quiet about it. The report is lost, as std's
//!   hook loses its own.
//! - On a panicking thread (inside a panic hook, or in a `Drop` run by unwinding) a nested
//!   panic in the hook aborts before anything can catch it, so the report goes to a helper
//!   thread, which inherits the output capture and does the above, and the caller waits for it.
//!   The helper first takes std's stderr lock: if the panicking thread holds it (a panic
//!   inside `eprintln!`'s formatting, or under `stderr().lock()`), the helper cannot get it,
//!   and after `HELPER_WAIT` the caller writes the report itself with `write(2)`, which needs
//!   no lock; a claim flag makes sure only one of the two writes it. The caller also writes it
//!   that way if no thread can be started.
//! - Built with `panic = "abort"`, nothing can catch the panic: `eprint` always writes with
//!   `write(2)`, ignoring errors (libtest runs such tests in child processes and captures
//!   their stderr itself).

use std::cell::Cell;
use std::panic;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// Aborts for an error in user code that cannot be reported anywhere else (std aborts in the
/// same situations for threads: a thread-local destructor that panics, for one).
#[cold]
pub(crate) fn user(msg: &str) -> ! {
    eprint(&format!("weft: fatal: {msg}; aborting\n"));
    std::process::abort()
}

/// Reports a broken runtime invariant and aborts: after such a bug, going on could corrupt
/// memory, and unwinding through a worker would take every coroutine on it down silently.
#[cold]
pub(crate) fn bug(msg: &str) -> ! {
    eprint(&format!("weft: internal error: {msg}; aborting\n"));
    std::process::abort()
}

/// Writes `text` (newline included) to stderr as `eprint!` does, into the test harness's
/// capture when there is one, but never panics: if stderr fails, the text is lost, as std's
/// panic hook loses its own messages then. Callable from a panic hook and while unwinding.
#[cold]
pub(crate) fn eprint(text: &str) {
    if cfg!(panic = "abort") {
        write_raw(text);
    } else if std::thread::panicking() {
        eprint_from_helper(text);
    } else {
        eprint_catching(text);
    }
}

/// Whether the current thread is inside `eprint`'s own `eprint!`. A panic now is std's "failed
/// printing to stderr", which `eprint` catches: weft's panic hook must print nothing for it
/// (and call no other hook), since printing is what just failed.
pub(crate) fn silenced() -> bool {
    SILENCED.with(Cell::get)
}

thread_local! {
    /// Set while this thread runs `eprint!` for `eprint_catching`.
    static SILENCED: Cell<bool> = const { Cell::new(false) };
}

/// How long a panicking thread waits for its helper before writing the report itself. The
/// helper needs well under a millisecond unless it waits for a lock the panicking thread holds.
const HELPER_WAIT: Duration = Duration::from_secs(1);

/// `eprint!` with its panic caught; only on a thread that is not panicking.
fn eprint_catching(text: &str) {
    let was = SILENCED.replace(true);
    // The closure only formats a `&str`, so the only panic it can raise is the write's.
    let _ = panic::catch_unwind(|| eprint!("{text}"));
    SILENCED.set(was);
}

/// `eprint_catching` on a helper thread, for a panicking caller (see the module's docs).
#[cold]
fn eprint_from_helper(text: &str) {
    let claimed = Arc::new(AtomicBool::new(false));
    let (done, wait) = mpsc::channel::<()>();
    let helper = {
        let claimed = claimed.clone();
        let text = text.to_owned();
        std::thread::Builder::new()
            .name("weft-stderr".into())
            .spawn(move || {
                // Blocks while the panicking thread holds std's stderr lock (see below).
                let _stderr = std::io::stderr().lock();
                if !claimed.swap(true, Ordering::AcqRel) {
                    eprint_catching(&text);
                }
                drop(done);
            })
    };
    let written = match helper {
        // The helper drops `done` when it has finished: the receive ends with `Disconnected`.
        Ok(helper) => match wait.recv_timeout(HELPER_WAIT) {
            Err(mpsc::RecvTimeoutError::Timeout) => false, // left to finish on its own
            _ => {
                let _ = helper.join();
                true
            }
        },
        Err(_) => false,
    };
    // If the helper has claimed the report but is stuck (on the output capture's lock, which
    // this thread holds if it panicked while formatting into it), it writes it when unblocked.
    if !written && !claimed.swap(true, Ordering::AcqRel) {
        write_raw(text);
    }
}

/// Writes `text` to file descriptor 2 with `write(2)`, ignoring errors: no lock, no capture,
/// no allocation.
fn write_raw(text: &str) {
    let mut bytes = text.as_bytes();
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a live, initialised buffer of `bytes.len()` bytes for the length
        // of the call, and `write(2)` only reads it. Descriptor 2 may be closed or be anything
        // else: the call then fails, and the error is ignored.
        let n = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
        match usize::try_from(n) {
            // `write` never reports more bytes than it was given.
            Ok(n) if n > 0 => bytes = &bytes[n.min(bytes.len())..],
            Ok(_) => return,
            Err(_) => {
                if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                    return;
                }
            }
        }
    }
}
