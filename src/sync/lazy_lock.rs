//! `LazyLock`, mirroring `std::sync`.

use std::cell::Cell;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::{RefUnwindSafe, UnwindSafe};

use super::OnceLock;

/// A value computed on first access, with std's API.
///
/// **Blocking:** the first access runs the initialiser in exactly one caller; concurrent
/// accesses wait for it (a coroutine parks, an OS thread blocks), and the initialiser may
/// itself park. Afterwards an access is one atomic load. If the initialiser panics, the
/// `LazyLock` is poisoned and every later access panics, like std's.
///
/// **Thread safety:** `Sync` when `T: Send + Sync` and `F: Send`, like std.
///
/// ```
/// use std::collections::HashMap;
/// use weft::sync::LazyLock;
///
/// static TABLE: LazyLock<HashMap<u32, &str>> = LazyLock::new(|| HashMap::from([(1, "one")]));
/// assert_eq!(TABLE[&1], "one");
/// ```
pub struct LazyLock<T, F = fn() -> T> {
    cell: OnceLock<T>,
    init: Cell<Option<F>>,
}

// SAFETY: `init` is only touched by the caller that runs the initialiser, inside the
// `OnceLock`'s one-time run (O1), or through `&mut self`; sharing the `LazyLock` shares `&T`
// (needs `Sync`) and lets any thread run, and so own, `F` and `T` (needs `Send`).
unsafe impl<T: Sync + Send, F: Send> Sync for LazyLock<T, F> {}

impl<T: RefUnwindSafe + UnwindSafe, F: UnwindSafe> RefUnwindSafe for LazyLock<T, F> {}
impl<T: UnwindSafe, F: UnwindSafe> UnwindSafe for LazyLock<T, F> {}

impl<T, F: FnOnce() -> T> LazyLock<T, F> {
    /// A `LazyLock` that will compute its value with `f`. `const`, so it may initialise a
    /// `static`.
    pub const fn new(f: F) -> LazyLock<T, F> {
        LazyLock {
            cell: OnceLock::new(),
            init: Cell::new(Some(f)),
        }
    }

    /// Computes the value if needed and returns it (same as dereferencing).
    pub fn force(this: &LazyLock<T, F>) -> &T {
        this.cell.get_or_init(|| match this.init.take() {
            Some(f) => f(),
            None => panic!("LazyLock instance has previously been poisoned"),
        })
    }

    /// Computes the value if needed and returns it, through the exclusive borrow.
    pub fn force_mut(this: &mut LazyLock<T, F>) -> &mut T {
        LazyLock::force(this);
        LazyLock::get_mut(this).expect("forced just above")
    }

    /// The value, if it has been computed. Never runs the initialiser, never waits.
    pub fn get(this: &LazyLock<T, F>) -> Option<&T> {
        this.cell.get()
    }

    /// The value, if it has been computed, through the exclusive borrow.
    pub fn get_mut(this: &mut LazyLock<T, F>) -> Option<&mut T> {
        this.cell.get_mut()
    }
}

impl<T, F: FnOnce() -> T> Deref for LazyLock<T, F> {
    type Target = T;
    fn deref(&self) -> &T {
        LazyLock::force(self)
    }
}

impl<T, F: FnOnce() -> T> DerefMut for LazyLock<T, F> {
    fn deref_mut(&mut self) -> &mut T {
        LazyLock::force_mut(self)
    }
}

impl<T: Default> Default for LazyLock<T> {
    fn default() -> Self {
        LazyLock::new(T::default)
    }
}

impl<T: fmt::Debug, F> fmt::Debug for LazyLock<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("LazyLock");
        match self.cell.get() {
            Some(v) => d.field(v),
            None => d.field(&format_args!("<uninit>")),
        };
        d.finish()
    }
}
