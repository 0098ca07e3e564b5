//! Panic messages that name the coroutine.
//!
//! std's hook names the OS thread ("thread 'weft-worker-0' panicked"), which says nothing
//! about which coroutine failed. At runtime start weft installs a hook that, for a panic inside
//! a coroutine, prints `coroutine 'NAME' (id N) panicked at FILE:LINE:COL:` and the message
//! (and a backtrace when `RUST_BACKTRACE` asks for one); panics elsewhere go to the hook that
//! was installed before. A detached coroutine's panic is therefore always printed. A hook the
//! program installs after the runtime started replaces weft's (std's usual rule).
//!
//! The report goes through `fatal::eprint`: captured by a test harness as `eprint!` is, and
//! lost, without a panic, when stderr fails (a closed pipe, `/dev/full`), as std's hook loses
//! its own; `eprint!` would panic inside the hook, which aborts the process. A panic that
//! `fatal::eprint` raises and catches itself (its write failed) is not reported at all.

use std::backtrace::{Backtrace, BacktraceStatus};
use std::panic::{self, PanicHookInfo};

use crate::coroutine::current;
use crate::fatal;

/// Installs the hook once per process. Called by every worker before it runs anything (a
/// worker thread is never panicking at that point), so no coroutine can panic before it.
pub(crate) fn install_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(install_hook_now);
}

fn install_hook_now() {
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if fatal::silenced() {
            // `fatal::eprint` failed to write to stderr and catches this panic: there is
            // nothing to say, and nowhere to say it.
            return;
        }
        if current::in_coroutine() {
            report(info);
        } else {
            previous(info);
        }
    }));
}

fn report(info: &PanicHookInfo<'_>) {
    let Some((name, id)) = current::with_task(|t| (t.display_name().to_owned(), t.id)) else {
        return;
    };
    let message = info.payload_as_str().unwrap_or("Box<dyn Any>");
    let mut text = match info.location() {
        Some(loc) => format!("coroutine '{name}' (id {id}) panicked at {loc}:\n{message}\n"),
        None => format!("coroutine '{name}' (id {id}) panicked:\n{message}\n"),
    };
    // Capturing walks this coroutine's frames, so it happens here; resolving and formatting
    // the symbols needs far more stack than a small coroutine has, so that (and the write)
    // happens on the worker's stack.
    let backtrace = Backtrace::capture();
    let print = move || {
        match backtrace.status() {
            BacktraceStatus::Captured => text.push_str(&format!("stack backtrace:\n{backtrace}\n")),
            _ => text.push_str(
                "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
            ),
        }
        // Where `eprint!` writes (test harnesses capture it), but never panicking.
        fatal::eprint(&text);
    };
    current::with_task(|t| t.on_parent_stack(print));
}
