//! The coroutine-local table: one coroutine's `coroutine_local!` values, a field of its `Task`
//! (arch/coroutine.md, "Coroutine-local storage", CL1–CL3). The user-facing key, `LocalKey`,
//! is in thread/local.rs.
//!
//! The table is touched only by its coroutine, on its owner thread (CO4), and every access
//! holds a borrow of it only for a few `Vec` operations: never while user code (an initialiser,
//! a closure passed to `with`, a destructor) runs. Each value is boxed, so it keeps its address
//! while the table grows.

use std::any::Any;
use std::cell::UnsafeCell;
use std::panic::{self, AssertUnwindSafe};

use super::current;

/// One coroutine's values: the `locals` field of its `Task`. Allocated on the first access
/// (a coroutine that uses none costs one null pointer).
///
/// Touched only from inside the coroutine, on its owner thread (CO4, CL1): the unsafe accesses
/// below rely on that, and on no borrow of the table outliving the function that takes it.
pub(crate) struct Locals(UnsafeCell<Option<Box<Table>>>);

struct Table {
    /// Keys whose value `destroy` has dropped: they cannot get a new one (std's rule).
    destroyed: Vec<usize>,
    /// (key id, boxed value), in creation order.
    entries: Vec<(usize, Box<dyn Any>)>,
}

impl Locals {
    pub(crate) const fn new() -> Locals {
        Locals(UnsafeCell::new(None))
    }

    /// Runs `f` on the table. `f` must not run user code (it may allocate).
    fn with_table<R>(&self, f: impl FnOnce(&mut Option<Box<Table>>) -> R) -> R {
        // SAFETY: the table is only touched by its coroutine, on its owner thread (type doc),
        // and only through this function; `f` runs no user code, so it cannot re-enter here:
        // this is the only reference into the cell while it lives.
        f(unsafe { &mut *self.0.get() })
    }

    /// A pointer to the value of `key`, if it exists.
    pub(crate) fn get<T: 'static>(&self, key: usize) -> Option<*const T> {
        self.with_table(|table| {
            let table = table.as_ref()?;
            let (_, value) = table.entries.iter().find(|(k, _)| *k == key)?;
            Some(downcast::<T>(&**value))
        })
    }

    pub(crate) fn was_destroyed(&self, key: usize) -> bool {
        self.with_table(|table| table.as_ref().is_some_and(|t| t.destroyed.contains(&key)))
    }

    /// Adds `value` for `key` and returns a pointer to the value now stored. If the key got a
    /// value meanwhile (its initialiser accessed the key itself), the first value stays and
    /// `value` is dropped, outside the borrow of the table. `None` if the key's value was
    /// dropped by `destroy` meanwhile (CL3): it cannot get another.
    pub(crate) fn insert<T: 'static>(&self, key: usize, value: Box<T>) -> Option<*const T> {
        let outcome = self.with_table(|table| {
            let table = table.get_or_insert_with(|| {
                Box::new(Table {
                    destroyed: Vec::new(),
                    entries: Vec::new(),
                })
            });
            if let Some((_, first)) = table.entries.iter().find(|(k, _)| *k == key) {
                return Some((downcast::<T>(&**first), Some(value)));
            }
            if table.destroyed.contains(&key) {
                // Its initialiser ran while `destroy` dropped the value it had (CL3).
                return None;
            }
            let value: Box<dyn Any> = value;
            let ptr = downcast::<T>(&*value);
            table.entries.push((key, value));
            Some((ptr, None))
        });
        let (ptr, duplicate) = outcome?;
        drop(duplicate);
        Some(ptr)
    }

    /// Drops every value, newest first, each outside the borrow of the table and after it has
    /// left the table; values still in the table stay accessible to the destructors, and a
    /// destructor may create the value of a key not used yet (dropped in turn, as std does);
    /// a key whose value was dropped cannot get another. Called from inside the coroutine when its body ends (CL1). A
    /// destructor that panics aborts the process, as std does for thread-locals.
    #[inline]
    pub(crate) fn destroy(&self) {
        // Most coroutines never use a local: nothing to do, and no call.
        if self.with_table(|slot| slot.is_some()) {
            self.destroy_all();
        }
    }

    #[inline(never)]
    fn destroy_all(&self) {
        loop {
            let entry = self.with_table(|slot| {
                let table = slot.as_mut()?;
                let entry = table.entries.pop();
                if let Some((key, _)) = &entry {
                    table.destroyed.push(*key);
                }
                if entry.is_none() {
                    // Done: free the table; an access after this point (only a destructor of
                    // the coroutine's result can run one) starts a fresh table, which the
                    // coroutine's entry destroys in turn.
                    *slot = None;
                }
                entry
            });
            let Some((_, value)) = entry else { return };
            if panic::catch_unwind(AssertUnwindSafe(move || drop(value))).is_err() {
                crate::fatal::user("a coroutine-local value panicked on drop");
            }
        }
    }
}

impl Drop for Locals {
    fn drop(&mut self) {
        // The values are not `Send`: never drop them here, on whatever thread frees the task.
        // Only a coroutine that never finished (leaked with its task, CO5) could leave any, and
        // then its task is never freed either; leaking is the second line of defence.
        if let Some(table) = self.0.get_mut().take()
            && !table.entries.is_empty()
        {
            std::mem::forget(table);
        }
    }
}

/// The value of an entry as a `T`. The key is the address of a `LocalKey<T>` static, so the
/// type always matches; the check keeps a mismatch from being undefined behaviour.
fn downcast<T: 'static>(value: &dyn Any) -> *const T {
    match value.downcast_ref::<T>() {
        Some(value) => value,
        None => crate::fatal::bug("two coroutine-local keys share an address"),
    }
}

/// Drops the current coroutine's locals (no-op outside coroutines): the spawn wrappers call
/// this when the user closure has returned or panicked, before publishing the result.
#[inline]
pub(crate) fn destroy_current() {
    current::with_task(|task| task.locals.destroy());
}
