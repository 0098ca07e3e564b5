//! Coroutine-local storage: `coroutine_local!` declares a [`LocalKey`], the mirror of
//! [`std::thread::LocalKey`] (arch/coroutine.md, "Coroutine-local storage", CL1–CL3).
//!
//! Inside a coroutine a key has one value per coroutine, kept in the coroutine's own table
//! (`Locals`, a field of its `Task`), created lazily on the coroutine's first access and dropped
//! inside the coroutine when its body ends. On a plain OS thread (including `spawn_blocking`
//! pool threads) the key forwards to a std `thread_local!` that the macro declares next to it:
//! one value per thread, dropped by std at thread exit.
//!
//! The table is touched only by its coroutine, on its owner thread (CO4), and every access
//! holds a borrow of it only for a few `Vec` operations: never while user code (an initialiser,
//! a closure passed to `with`, a destructor) runs. Each value is boxed, so it keeps its address
//! while the table grows.

use std::any::Any;
use std::cell::{Cell, RefCell, UnsafeCell};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};

use crate::runtime::context;

/// A key for coroutine-local storage, declared with [`coroutine_local!`](crate::coroutine_local);
/// the mirror of [`std::thread::LocalKey`].
///
/// Inside a coroutine, every coroutine has its own value, created by the key's initialiser on
/// the coroutine's first access and dropped inside the coroutine, on its own stack and OS
/// thread, when its closure has returned or panicked (before its join handle sees the result).
/// A destructor may therefore block (park, sleep, join, use channels) like any coroutine code.
/// On a plain OS thread, the key acts as a std `thread_local!`: one value per thread, dropped at
/// thread exit; in particular all closures passed to `spawn_blocking` that run on the same pool
/// thread share its value.
///
/// `LocalKey` is `Sync` (it is a `static`), but each value is only ever reached by the
/// coroutine or thread that owns it, so `T` need not be `Send` or `Sync`. The accessors
/// never block on their own: only the key's initialiser and the closures passed to them do
/// what they do.
///
/// ```
/// use std::cell::Cell;
///
/// weft::coroutine_local! {
///     static COUNTER: Cell<u32> = Cell::new(0);
/// }
///
/// let h = weft::go!(|| {
///     COUNTER.set(COUNTER.get() + 1);
///     weft::thread::yield_now();
///     COUNTER.get()
/// });
/// assert_eq!(h.join().unwrap(), 1);
/// COUNTER.set(10); // this OS thread's value, not the coroutine's
/// assert_eq!(COUNTER.get(), 10);
/// ```
pub struct LocalKey<T: 'static> {
    /// The value of plain OS threads.
    os: std::thread::LocalKey<T>,
    /// Creates a coroutine's value.
    init: fn() -> T,
}

impl<T: 'static> LocalKey<T> {
    /// Used by `coroutine_local!`; not public API.
    #[doc(hidden)]
    pub const fn __new(os: std::thread::LocalKey<T>, init: fn() -> T) -> LocalKey<T> {
        LocalKey { os, init }
    }

    /// Runs `f` on the current coroutine's value (or OS thread's value outside coroutines),
    /// creating the value first if this coroutine has none yet, as
    /// [`std::thread::LocalKey::with`].
    ///
    /// Blocks only as long as the initialiser and `f` do.
    ///
    /// # Panics
    /// If the value is accessed while the coroutine's (or thread's) locals are being destroyed
    /// and it has already been dropped or was never created (see [`try_with`](Self::try_with)),
    /// or if the initialiser panics.
    #[track_caller]
    pub fn with<F, R>(&'static self, f: F) -> R
    where
        F: FnOnce(&T) -> R,
    {
        match self.try_with(f) {
            Ok(r) => r,
            Err(err) => {
                panic!("cannot access a coroutine-local value during or after destruction: {err:?}")
            }
        }
    }

    /// Runs `f` on the current coroutine's (or OS thread's) value, as
    /// [`std::thread::LocalKey::try_with`].
    ///
    /// Creates the value first if needed. Blocks only as long as the initialiser and `f` do.
    ///
    /// # Errors
    /// [`AccessError`] if called while the coroutine's locals are being destroyed (from the
    /// destructor of another coroutine-local value) and this key's value has already been
    /// dropped or was never created: no value is created during destruction. Values not yet
    /// dropped stay accessible (they are dropped in the reverse order of their creation). On
    /// an OS thread, whatever std's `try_with` reports.
    ///
    /// # Panics
    /// If the initialiser panics (the value is then not created).
    pub fn try_with<F, R>(&'static self, f: F) -> Result<R, AccessError>
    where
        F: FnOnce(&T) -> R,
    {
        match context::with_task(|task| self.get_or_init(&task.locals, None)) {
            Some(Ok(value)) => {
                // SAFETY: `value` points into a boxed entry of the running coroutine's table.
                // An entry is only dropped by `Locals::destroy`, which runs when the
                // coroutine's body has ended and removes each entry before dropping it; a
                // closure running under `with` (even from a destructor during `destroy`) can
                // neither start `destroy` nor remove an entry that is still in the table. The
                // box is not moved by the table growing. No `&mut` to the value exists: the
                // crate hands out only shared references.
                Ok(f(unsafe { &*value }))
            }
            Some(Err(err)) => Err(err),
            None => self
                .os
                .try_with(f)
                .map_err(|_| AccessError { _private: () }),
        }
    }

    /// Runs `f` on the coroutine's value, creating it from `init` (not the initialiser) if the
    /// coroutine has none yet; `f` gets `init` back when it was not used. Outside coroutines
    /// this returns `Err(init)` untouched. The mirror of std's private `initialize_with`.
    #[track_caller]
    fn initialize_with<R>(
        &'static self,
        init: T,
        f: impl FnOnce(Option<T>, &T) -> R,
    ) -> Result<R, T> {
        let mut init = Some(init);
        match context::with_task(|task| self.get_or_init(&task.locals, Some(&mut init))) {
            Some(Ok(value)) => {
                // SAFETY: as in `try_with`: `value` points into a boxed entry of the running
                // coroutine's table, which stays in the table (and in place) while `f` runs
                // (CL2), and only shared references to it exist.
                Ok(f(init, unsafe { &*value }))
            }
            Some(Err(err)) => {
                panic!("cannot access a coroutine-local value during or after destruction: {err:?}")
            }
            None => Err(init.expect("only a coroutine's access takes the value")),
        }
    }

    /// The key's identity: the address of the `static` (unique and stable).
    fn id(&'static self) -> usize {
        std::ptr::from_ref(self).addr()
    }

    /// A pointer to this key's value in `locals`, created first from `given` (if `Some(Some)`)
    /// or the initialiser. The table is not borrowed while the initialiser runs.
    fn get_or_init(
        &'static self,
        locals: &Locals,
        given: Option<&mut Option<T>>,
    ) -> Result<*const T, AccessError> {
        if let Some(value) = locals.get::<T>(self.id()) {
            return Ok(value);
        }
        if locals.was_destroyed(self.id()) {
            return Err(AccessError { _private: () });
        }
        let value = match given.and_then(Option::take) {
            Some(value) => value,
            None => (self.init)(),
        };
        locals.insert(self.id(), Box::new(value))
    }
}

impl<T: 'static> fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKey").finish_non_exhaustive()
    }
}

impl<T: 'static> LocalKey<Cell<T>> {
    /// Sets the value, as [`std::thread::LocalKey::set`]; creates it from `value` without
    /// running the initialiser if this coroutine (or thread) has none yet.
    ///
    /// Never blocks (except in a destructor of the old value, which `Cell::set` drops).
    ///
    /// # Panics
    /// As [`with`](Self::with).
    #[track_caller]
    pub fn set(&'static self, value: T) {
        let set = self.initialize_with(Cell::new(value), |value, cell| {
            if let Some(value) = value {
                cell.set(value.into_inner());
            }
        });
        if let Err(value) = set {
            self.os.set(value.into_inner());
        }
    }

    /// A copy of the value, as [`std::thread::LocalKey::get`]; runs the initialiser first if
    /// needed. Blocks only as long as the initialiser does.
    ///
    /// # Panics
    /// As [`with`](Self::with).
    #[track_caller]
    pub fn get(&'static self) -> T
    where
        T: Copy,
    {
        self.with(Cell::get)
    }

    /// Takes the value, leaving `T::default()`, as [`std::thread::LocalKey::take`]; runs the
    /// initialiser first if needed. Blocks only as long as the initialiser does.
    ///
    /// # Panics
    /// As [`with`](Self::with).
    #[track_caller]
    pub fn take(&'static self) -> T
    where
        T: Default,
    {
        self.with(Cell::take)
    }

    /// Replaces the value, returning the old one, as [`std::thread::LocalKey::replace`]; runs
    /// the initialiser first if needed. Blocks only as long as the initialiser does.
    ///
    /// # Panics
    /// As [`with`](Self::with).
    #[track_caller]
    pub fn replace(&'static self, value: T) -> T {
        self.with(|cell| cell.replace(value))
    }
}

impl<T: 'static> LocalKey<RefCell<T>> {
    /// Runs `f` on a shared borrow of the value, as [`std::thread::LocalKey::with_borrow`];
    /// runs the initialiser first if needed. Blocks only as long as the initialiser and `f` do.
    ///
    /// # Panics
    /// If the value is mutably borrowed, or as [`with`](Self::with).
    #[track_caller]
    pub fn with_borrow<F, R>(&'static self, f: F) -> R
    where
        F: FnOnce(&T) -> R,
    {
        self.with(|cell| f(&cell.borrow()))
    }

    /// Runs `f` on a mutable borrow of the value, as
    /// [`std::thread::LocalKey::with_borrow_mut`]; runs the initialiser first if needed.
    /// Blocks only as long as the initialiser and `f` do.
    ///
    /// # Panics
    /// If the value is borrowed, or as [`with`](Self::with).
    #[track_caller]
    pub fn with_borrow_mut<F, R>(&'static self, f: F) -> R
    where
        F: FnOnce(&mut T) -> R,
    {
        self.with(|cell| f(&mut cell.borrow_mut()))
    }

    /// Sets the value, as [`std::thread::LocalKey::set`]; creates it from `value` without
    /// running the initialiser if this coroutine (or thread) has none yet.
    ///
    /// Never blocks (except in a destructor of the old value).
    ///
    /// # Panics
    /// If the value is borrowed, or as [`with`](Self::with).
    #[track_caller]
    pub fn set(&'static self, value: T) {
        let set = self.initialize_with(RefCell::new(value), |value, cell| {
            if let Some(value) = value {
                *cell.borrow_mut() = value.into_inner();
            }
        });
        if let Err(value) = set {
            self.os.set(value.into_inner());
        }
    }

    /// Takes the value, leaving `T::default()`, as [`std::thread::LocalKey::take`]; runs the
    /// initialiser first if needed. Blocks only as long as the initialiser does.
    ///
    /// # Panics
    /// If the value is borrowed, or as [`with`](Self::with).
    #[track_caller]
    pub fn take(&'static self) -> T
    where
        T: Default,
    {
        self.with(RefCell::take)
    }

    /// Replaces the value, returning the old one, as [`std::thread::LocalKey::replace`]; runs
    /// the initialiser first if needed. Blocks only as long as the initialiser does.
    ///
    /// # Panics
    /// If the value is borrowed, or as [`with`](Self::with).
    #[track_caller]
    pub fn replace(&'static self, value: T) -> T {
        self.with(|cell| cell.replace(value))
    }
}

/// The error of [`LocalKey::try_with`]: the value was already dropped (or the coroutine's or
/// thread's locals are being destroyed), as [`std::thread::AccessError`].
///
/// A plain value: `Send`, `Sync`, `Copy`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AccessError {
    _private: (),
}

impl fmt::Debug for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessError").finish_non_exhaustive()
    }
}

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt("already destroyed", f)
    }
}

impl std::error::Error for AccessError {}

/// One coroutine's values: the `locals` field of its `Task`. Allocated on the first access
/// (a coroutine that uses none costs one null pointer).
///
/// Touched only from inside the coroutine, on its owner thread (CO4, CL1): the unsafe accesses
/// below rely on that, and on no borrow of the table outliving the function that takes it.
pub(crate) struct Locals(UnsafeCell<Option<Box<Table>>>);

struct Table {
    /// Set by `destroy`: no value may be created any more.
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
    fn get<T: 'static>(&self, key: usize) -> Option<*const T> {
        self.with_table(|table| {
            let table = table.as_ref()?;
            let (_, value) = table.entries.iter().find(|(k, _)| *k == key)?;
            Some(downcast::<T>(&**value))
        })
    }

    fn was_destroyed(&self, key: usize) -> bool {
        self.with_table(|table| table.as_ref().is_some_and(|t| t.destroyed.contains(&key)))
    }

    /// Adds `value` for `key` and returns a pointer to the value now stored. If the key got a
    /// value meanwhile (its initialiser accessed the key itself), the first value stays and
    /// `value` is dropped, outside the borrow of the table.
    fn insert<T: 'static>(&self, key: usize, value: Box<T>) -> Result<*const T, AccessError> {
        let outcome = self.with_table(|table| {
            let table = table.get_or_insert_with(|| {
                Box::new(Table {
                    destroyed: Vec::new(),
                    entries: Vec::new(),
                })
            });
            if let Some((_, first)) = table.entries.iter().find(|(k, _)| *k == key) {
                return Ok((downcast::<T>(&**first), Some(value)));
            }
            if table.destroyed.contains(&key) {
                // Its initialiser ran while `destroy` dropped the value it had (CL3).
                return Err(AccessError { _private: () });
            }
            let value: Box<dyn Any> = value;
            let ptr = downcast::<T>(&*value);
            table.entries.push((key, value));
            Ok((ptr, None))
        });
        let (ptr, duplicate) = outcome?;
        drop(duplicate);
        Ok(ptr)
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
                crate::runtime::fatal_user("a coroutine-local value panicked on drop");
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
        None => crate::runtime::fatal("two coroutine-local keys share an address"),
    }
}

/// Drops the current coroutine's locals (no-op outside coroutines): the spawn wrappers call
/// this when the user closure has returned or panicked, before publishing the result.
#[inline]
pub(crate) fn destroy_current() {
    context::with_task(|task| task.locals.destroy());
}
