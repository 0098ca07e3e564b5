//! `go!`: the short way to spawn; `coroutine_local!`: `thread_local!` per coroutine. (`select!`
//! lives with the channels, in src/chan/macros.rs.)

/// Spawns a coroutine: `go!(closure)` is `weft::thread::spawn(closure)`.
///
/// Returns the [`JoinHandle`](crate::thread::JoinHandle); dropping it detaches the coroutine.
/// Panics where `spawn` panics. A safe macro over a safe function: started coroutines never
/// migrate between OS threads (arch/coroutine.md, CO4), so no `unsafe` is hidden here.
///
/// ```
/// let h = weft::go!(move || "hello from a coroutine");
/// assert_eq!(h.join().unwrap(), "hello from a coroutine");
/// ```
#[macro_export]
macro_rules! go {
    ($($closure:tt)+) => {
        $crate::thread::spawn($($closure)+)
    };
}

/// Declares coroutine-local values, with [`std::thread_local!`]'s syntax: each
/// `[pub] static NAME: T = init;` becomes a `static NAME:`
/// [`LocalKey<T>`](crate::thread::LocalKey).
///
/// Inside a coroutine every coroutine has its own value: `init` runs on the coroutine's first
/// access, and the value is dropped inside the coroutine (on its own stack and OS thread, so
/// its destructor may block) when the coroutine's closure has returned or panicked, before its
/// join handle sees the result. On a plain OS thread the key is a std `thread_local!`, declared
/// by this macro next to the key: one value per thread. `T` need not be `Send` or `Sync`.
///
/// Attributes (doc comments too) and a visibility may precede each declaration; several
/// declarations may follow each other, the last `;` is optional. `init` may be
/// `const { expr }`, as for `thread_local!` (the OS thread's value then needs no lazy
/// initialisation; a coroutine's value is still created on first access).
///
/// If the initialiser itself reaches the same key in the same coroutine, the value created
/// first (by the inner access) is kept and the outer one is dropped.
///
/// ```
/// use std::cell::RefCell;
///
/// weft::coroutine_local! {
///     /// The lines this coroutine logged.
///     static LOG: RefCell<Vec<String>> = RefCell::new(Vec::new());
///     static ID: u64 = const { 7 };
/// }
///
/// let h = weft::go!(|| {
///     LOG.with_borrow_mut(|log| log.push(format!("hello from {}", ID.with(|id| *id))));
///     LOG.with_borrow(|log| log.len())
/// });
/// assert_eq!(h.join().unwrap(), 1);
/// assert_eq!(LOG.with_borrow(|log| log.len()), 0); // this OS thread's own value
/// ```
#[macro_export]
macro_rules! coroutine_local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = const { $($init:tt)* }; $($rest:tt)*) => {
        $crate::__coroutine_local_key!($(#[$attr])* $vis $name, $t, const { $($init)* });
        $crate::coroutine_local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = const { $($init:tt)* }) => {
        $crate::__coroutine_local_key!($(#[$attr])* $vis $name, $t, const { $($init)* });
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr; $($rest:tt)*) => {
        $crate::__coroutine_local_key!($(#[$attr])* $vis $name, $t, $init);
        $crate::coroutine_local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr) => {
        $crate::__coroutine_local_key!($(#[$attr])* $vis $name, $t, $init);
    };
}

/// One declaration of `coroutine_local!`: the key, with the initialiser of coroutine values
/// and the std `thread_local!` of OS threads inside its initialiser block. Not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __coroutine_local_key {
    ($(#[$attr:meta])* $vis:vis $name:ident, $t:ty, const { $($init:tt)* }) => {
        $(#[$attr])*
        $vis static $name: $crate::thread::LocalKey<$t> = {
            fn __weft_coroutine_local_init() -> $t {
                $($init)*
            }
            ::std::thread_local! {
                static __WEFT_THREAD_LOCAL: $t = const { $($init)* };
            }
            $crate::thread::LocalKey::__new(__WEFT_THREAD_LOCAL, __weft_coroutine_local_init)
        };
    };
    ($(#[$attr:meta])* $vis:vis $name:ident, $t:ty, $init:expr) => {
        $(#[$attr])*
        $vis static $name: $crate::thread::LocalKey<$t> = {
            fn __weft_coroutine_local_init() -> $t {
                $init
            }
            ::std::thread_local! {
                static __WEFT_THREAD_LOCAL: $t = __weft_coroutine_local_init();
            }
            $crate::thread::LocalKey::__new(__WEFT_THREAD_LOCAL, __weft_coroutine_local_init)
        };
    };
}
