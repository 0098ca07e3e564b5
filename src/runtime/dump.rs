//! `weft::runtime::dump()`: a snapshot of every live coroutine, with the stacks of the parked
//! ones (arch/dump.md).

use std::sync::Arc;

use parking_lot::Mutex;

use crate::coroutine::current;
use crate::park;
use crate::scheduler::snapshot::{Dump, build};

/// A snapshot of every live coroutine: id, name, state, wait reason and how long, spawn site,
/// and the stack of each parked or runnable one.
///
/// Blocking: asks each worker for its coroutines (each answers between two resumes, within
/// about a millisecond unless a coroutine holds it; a held worker is waited for 300 ms and then
/// sampled), then resolves symbols, which takes about 100 ms the first time in a process.
/// Inside a coroutine it parks only the coroutine (the work runs on a helper thread). Empty if
/// the runtime has not started.
pub fn dump() -> Dump {
    let Some(sched) = crate::scheduler::global() else {
        return Dump::default();
    };
    if !current::in_coroutine() {
        return build(sched.collect_dump(true));
    }
    // The collector blocks its thread and this coroutine's worker must stay free to answer.
    let slot: Arc<Mutex<Option<Dump>>> = Arc::default();
    let waiter = park::current();
    let out = slot.clone();
    let spawned = std::thread::Builder::new()
        .name("weft-dump".into())
        .spawn(move || {
            let _own = crate::scheduler::deadlock::own_thread();
            let dump = build(sched.collect_dump(true));
            *out.lock() = Some(dump);
            waiter.unpark();
        });
    if spawned.is_err() {
        // No thread to spare: list nothing rather than block the worker.
        return Dump::default();
    }
    loop {
        if let Some(dump) = slot.lock().take() {
            return dump;
        }
        park::park(None, park::Wait::Dump);
    }
}

/// DU6: if `SIGQUIT` has its default action, takes it over: each signal prints the dump to
/// stderr, and the program goes on (the JVM's thread dump; Go prints and exits). The handler
/// only writes a byte to a pipe; this thread, which may allocate, builds the dump.
pub(super) fn on_sigquit(sched: &'static crate::scheduler::Scheduler) {
    // The pipe and its reader first, then the handler (DU6): a handler with no reader would
    // turn SIGQUIT into nothing.
    let Some((read, write)) = crate::signal::quit_pipe() else {
        return;
    };
    let started = std::thread::Builder::new()
        .name("weft-sigquit".into())
        .spawn(move || {
            let _own = crate::scheduler::deadlock::own_thread();
            let mut pipe = std::fs::File::from(read);
            let mut buf = [0u8; 64];
            loop {
                match std::io::Read::read(&mut pipe, &mut buf) {
                    Ok(n) if n > 0 => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    // End of file (the handler was not installed) or an error.
                    _ => break,
                }
                let dump = build(sched.collect_dump(true));
                let text = format!("weft: SIGQUIT: dump of every coroutine\n{dump}");
                // Straight to the process's stderr, errors ignored (DU6).
                let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), text.as_bytes());
            }
            crate::signal::uninstall_quit();
        });
    match started {
        Ok(_) => {
            crate::signal::install_quit(write);
        }
        Err(e) => crate::fatal::eprint(&format!(
            "weft: cannot start the SIGQUIT dump thread ({e}); SIGQUIT keeps its default action\n"
        )),
    }
}
