//! `OnceLock`, mirroring `std::sync`.

use std::cell::UnsafeCell;
use std::fmt;
use std::panic::{RefUnwindSafe, UnwindSafe};

use super::Once;

/// A cell written once, with std's API.
///
/// **Blocking:** [`get_or_init`](OnceLock::get_or_init) runs the initialiser in exactly one
/// caller; the others wait for it (a coroutine parks, an OS thread blocks). The initialiser
/// may itself park — sleep, do I/O, take locks — while coroutines on the same worker wait
/// for it: no deadlock. Once set, reading is one atomic load. If the initialiser panics, the
/// cell stays empty and the next caller runs its own initialiser (std's behaviour).
///
/// **Thread safety:** `Send` when `T: Send`; `Sync` when `T: Send + Sync`, like std.
///
/// ```
/// use weft::sync::OnceLock;
///
/// static CONFIG: OnceLock<String> = OnceLock::new();
/// let value = CONFIG.get_or_init(|| {
///     weft::thread::sleep(std::time::Duration::from_millis(1)); // may park
///     "ready".to_string()
/// });
/// assert_eq!(value, "ready");
/// ```
pub struct OnceLock<T> {
    once: Once,
    /// `Some` once `once` completed. An `Option`, not a `MaybeUninit` with a `Drop` impl, so
    /// that the drop check lets `T` borrow data that dies with the cell, as std's
    /// `#[may_dangle]` does.
    value: UnsafeCell<Option<T>>,
}

// SAFETY: the value is written once, by the caller that runs the initialiser under `once`,
// and read by everyone after `once` completed (Acquire/Release, O3): shared access gives
// `&T` on several threads (needs `Sync`) and the value may be dropped on another thread than
// the writer's (needs `Send`), as in std.
unsafe impl<T: Sync + Send> Sync for OnceLock<T> {}
// SAFETY: owning a `OnceLock<T>` is owning a `T`.
unsafe impl<T: Send> Send for OnceLock<T> {}

impl<T: RefUnwindSafe + UnwindSafe> RefUnwindSafe for OnceLock<T> {}
impl<T: UnwindSafe> UnwindSafe for OnceLock<T> {}

impl<T> OnceLock<T> {
    /// An empty cell. `const`, so it may initialise a `static`.
    pub const fn new() -> OnceLock<T> {
        OnceLock {
            once: Once::new(),
            value: UnsafeCell::new(None),
        }
    }

    /// The value, if set. Never waits.
    pub fn get(&self) -> Option<&T> {
        if self.once.is_completed() {
            // SAFETY: completed: the value was written, and the Acquire load saw it (O3).
            Some(unsafe { self.get_unchecked() })
        } else {
            None
        }
    }

    /// The value, through the exclusive borrow.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        // Through `&mut self`: nobody else can be writing.
        self.value.get_mut().as_mut()
    }

    /// Waits until the value is set (by anyone), then returns it.
    pub fn wait(&self) -> &T {
        self.once.wait_force();
        // SAFETY: completed.
        unsafe { self.get_unchecked() }
    }

    /// Sets the value if the cell is empty; otherwise gives `value` back. Waits while another
    /// caller runs an initialiser.
    pub fn set(&self, value: T) -> Result<(), T> {
        let mut value = Some(value);
        self.get_or_init(|| value.take().expect("the initialiser runs once"));
        match value {
            None => Ok(()),
            Some(value) => Err(value),
        }
    }

    /// The value, running `f` to set it first if the cell is empty (in one caller only).
    pub fn get_or_init<F: FnOnce() -> T>(&self, f: F) -> &T {
        if let Some(value) = self.get() {
            return value;
        }
        let mut f = Some(f);
        let slot = &self.value;
        self.once.call_once_force(|_| {
            if let Some(f) = f.take() {
                let value = f();
                // SAFETY: we run the initialiser (O1): nobody reads the value before
                // `once` completes, which happens after this write.
                unsafe { *slot.get() = Some(value) };
            }
        });
        // SAFETY: `call_once_force` returns only once completed.
        unsafe { self.get_unchecked() }
    }

    /// Takes the value out, leaving the cell empty.
    pub fn take(&mut self) -> Option<T> {
        self.once = Once::new();
        self.value.get_mut().take()
    }

    /// Consumes the cell and returns its value, if set.
    pub fn into_inner(self) -> Option<T> {
        self.value.into_inner()
    }

    /// # Safety
    /// `once` has completed.
    unsafe fn get_unchecked(&self) -> &T {
        // SAFETY: the caller's contract: the value was written before `once` completed (O3)
        // and is never written again while shared.
        match unsafe { &*self.value.get() } {
            Some(value) => value,
            None => unreachable!("a completed OnceLock holds its value"),
        }
    }
}

impl<T> Default for OnceLock<T> {
    fn default() -> Self {
        OnceLock::new()
    }
}

impl<T> From<T> for OnceLock<T> {
    fn from(value: T) -> Self {
        OnceLock {
            once: Once::complete_now(),
            value: UnsafeCell::new(Some(value)),
        }
    }
}

impl<T: Clone> Clone for OnceLock<T> {
    fn clone(&self) -> Self {
        match self.get() {
            Some(value) => OnceLock::from(value.clone()),
            None => OnceLock::new(),
        }
    }
}

impl<T: PartialEq> PartialEq for OnceLock<T> {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl<T: Eq> Eq for OnceLock<T> {}

impl<T: fmt::Debug> fmt::Debug for OnceLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("OnceLock");
        match self.get() {
            Some(v) => d.field(v),
            None => d.field(&format_args!("<uninit>")),
        };
        d.finish()
    }
}
