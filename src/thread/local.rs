//! Coroutine-local storage: `coroutine_local!` declares a [`LocalKey`], the mirror of
//! [`std::thread::LocalKey`] (arch/coroutine.md, "Coroutine-local storage", CL1–CL3).
//!
//! Inside a coroutine a key has one value per coroutine, kept in the coroutine's own table
//! (`Locals`, a field of its `Task`, coroutine/locals.rs), created lazily on the coroutine's
//! first access and dropped inside the coroutine when its body ends. On a plain OS thread
//! (including `spawn_blocking` pool threads) the key forwards to a std `thread_local!` that the
//! macro declares next to it: one value per thread, dropped by std at thread exit.

use std::cell::{Cell, RefCell};
use std::fmt;

use crate::coroutine::{Locals, current};

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
        match current::with_task(|task| self.get_or_init(&task.locals, None)) {
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
        match current::with_task(|task| self.get_or_init(&task.locals, Some(&mut init))) {
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
        // `None`: the initialiser ran while `destroy` dropped this key's value (CL3).
        locals
            .insert(self.id(), Box::new(value))
            .ok_or(AccessError { _private: () })
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
