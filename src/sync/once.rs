//! `Once` and `OnceState`, mirroring `std::sync`.

use std::fmt;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::raw::once::{RawOnce, Seen};
use crate::coroutine::current;

/// A one-time initialisation with std's API and poisoning.
///
/// **Blocking:** while one caller runs the closure, the others wait for it: a coroutine
/// parks, an OS thread blocks. The closure itself may park (sleep, do I/O, take locks) and
/// the waiting coroutines on its worker stay parked, not spinning, so nothing deadlocks
/// (O1 in arch/sync.md). Once complete, every call is one atomic load.
///
/// **Poisoning:** if the closure panics, the `Once` is poisoned: later `call_once` calls
/// panic, and `call_once_force` runs its closure again with [`OnceState::is_poisoned`] true.
///
/// **Thread safety:** `Send + Sync`.
///
/// ```
/// use weft::sync::Once;
///
/// static INIT: Once = Once::new();
/// let handles: Vec<_> = (0..10)
///     .map(|_| weft::go!(|| INIT.call_once(|| weft::thread::sleep(std::time::Duration::from_millis(5)))))
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// assert!(INIT.is_completed());
/// ```
pub struct Once {
    raw: RawOnce,
    /// Who runs the initialiser now (`caller_id`), 0 when nobody: a call from inside the
    /// initialiser would wait for itself for ever, so it panics instead.
    runner: AtomicUsize,
}

/// The caller's identity: its coroutine, or its OS thread.
fn caller_id() -> usize {
    thread_local! {
        static MARK: u8 = const { 0 };
    }
    let task = current::task_ptr();
    if task.is_null() {
        MARK.try_with(|m| std::ptr::from_ref(m).addr())
            .unwrap_or(usize::MAX)
    } else {
        task.addr()
    }
}

impl UnwindSafe for Once {}
impl RefUnwindSafe for Once {}

/// The state handed to the closure of [`Once::call_once_force`].
#[derive(Debug)]
pub struct OnceState {
    poisoned: bool,
}

impl OnceState {
    /// Whether an earlier run of a closure on this `Once` panicked.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }
}

/// Marks the run as over when dropped: completed, or poisoned if the closure unwound.
struct Finish<'a> {
    once: &'a Once,
    completed: bool,
}

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        self.once.runner.store(0, Ordering::Relaxed);
        self.once.raw.finish(self.completed);
    }
}

impl Once {
    /// A new `Once`. `const`, so it may initialise a `static`.
    pub const fn new() -> Once {
        Once {
            raw: RawOnce::new(),
            runner: AtomicUsize::new(0),
        }
    }

    /// Runs `f` if no call has completed yet; waits while another caller runs its closure.
    ///
    /// # Panics
    /// If the `Once` is poisoned (a closure panicked before), like std.
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        if self.raw.is_complete() {
            return;
        }
        let mut f = Some(f);
        self.call(false, &mut |_| {
            if let Some(f) = f.take() {
                f();
            }
        });
    }

    /// Like [`call_once`](Once::call_once), but runs even if poisoned, telling the closure.
    pub fn call_once_force<F: FnOnce(&OnceState)>(&self, f: F) {
        if self.raw.is_complete() {
            return;
        }
        let mut f = Some(f);
        self.call(true, &mut |state| {
            if let Some(f) = f.take() {
                f(state);
            }
        });
    }

    fn call(&self, ignore_poison: bool, f: &mut dyn FnMut(&OnceState)) {
        loop {
            self.check_reentry();
            let poisoned = match self.raw.wait_while_running() {
                Seen::Complete => return,
                Seen::Free { poisoned } => poisoned,
            };
            if poisoned && !ignore_poison {
                panic!("Once instance has previously been poisoned");
            }
            if self.raw.try_start(poisoned) {
                self.runner.store(caller_id(), Ordering::Relaxed);
                let mut finish = Finish {
                    once: self,
                    completed: false,
                };
                f(&OnceState { poisoned });
                finish.completed = true;
                return;
            }
        }
    }

    /// Panics if the caller is the one running the initialiser: waiting would be for ever.
    /// (std leaves the outcome unspecified: "panic or deadlock".)
    fn check_reentry(&self) {
        if self.raw.is_running() && self.runner.load(Ordering::Relaxed) == caller_id() {
            panic!(
                "reentrant initialisation: the initialiser of a Once (or OnceLock, LazyLock) \
                 waits for its own Once, which would never complete"
            );
        }
    }

    /// Whether a closure has completed (a snapshot; `true` is final).
    pub fn is_completed(&self) -> bool {
        self.raw.is_complete()
    }

    /// Waits until some caller completes a closure.
    ///
    /// # Panics
    /// If the `Once` is or becomes poisoned, like std.
    pub fn wait(&self) {
        self.check_reentry();
        if !self.raw.wait_complete(true) {
            panic!("Once instance has previously been poisoned");
        }
    }

    /// Waits until some caller completes a closure, poisoned or not.
    pub fn wait_force(&self) {
        self.check_reentry();
        self.raw.wait_complete(false);
    }

    /// A `Once` that has completed already (a `OnceLock` made from a value).
    pub(crate) fn complete_now() -> Once {
        Once {
            raw: RawOnce::new_complete(),
            runner: AtomicUsize::new(0),
        }
    }
}

impl Default for Once {
    fn default() -> Self {
        Once::new()
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once").finish_non_exhaustive()
    }
}
