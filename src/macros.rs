//! `go!`: the short way to spawn.

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
