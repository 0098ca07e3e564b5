//! Borrowed jobs on the blocking pool: run a closure that borrows the caller's stack (a buffer,
//! a path) on a pool thread and park until it is done, without copying what it borrows.
//!
//! `spawn_blocking` wants `'static` closures because its caller may drop the handle and go on
//! while the job still runs. [`run_borrowed`] never lets its caller go on before the job has
//! finished (B4, arch/scheduler.md):
//! - B4: between handing the closure to the pool and the job's completion, the caller neither
//!   returns nor unwinds. It waits in `join`, which parks the coroutine (or blocks the thread)
//!   until the job's result is published, and a coroutine cannot be cancelled; an unwind out of
//!   that wait (none is known) aborts the process instead of freeing borrowed memory under the
//!   job. When no pool thread can be started the pool has taken the job back unrun (the B1
//!   failure path), and the closure runs inline on the caller.

use super::blocking::try_spawn_blocking;

/// A pointer to the caller's type-erased closure, sent to the pool thread.
struct Erased<T>(*mut (dyn FnMut() -> T + Send + 'static));

// SAFETY: the pointee is `Send` (the closure's bound), and B4 keeps it alive and otherwise
// untouched while the pool thread uses the pointer.
unsafe impl<T> Send for Erased<T> {}

/// Aborts if dropped: armed across the wait of B4, so an unwind there cannot return to a
/// caller whose stack the job still borrows.
struct NoUnwind;

impl Drop for NoUnwind {
    fn drop(&mut self) {
        crate::fatal::bug("weft: unwound out of a borrowed blocking job's wait (B4)");
    }
}

/// Runs `f` on the blocking pool and returns its result, parking the calling coroutine (or
/// blocking the calling thread) until it is done; `f` may borrow from the caller (B4). A panic
/// in `f` is resumed on the caller. If no pool thread can be started, `f` runs inline.
pub(crate) fn run_borrowed<'a, F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'a,
    T: Send + 'static,
{
    let mut slot = Some(f);
    let mut call = move || match slot.take() {
        Some(f) => f(),
        None => crate::fatal::bug("weft: a borrowed blocking job ran twice"),
    };
    let short: *mut (dyn FnMut() -> T + Send + 'a) = &mut call;
    // SAFETY: only the lifetime bound of the trait object changes (same layout). B4: the
    // pointer is used only by the job, which finishes before this frame, and `call` with it,
    // can go away: the wait below is never abandoned.
    let erased = Erased(unsafe {
        std::mem::transmute::<
            *mut (dyn FnMut() -> T + Send + 'a),
            *mut (dyn FnMut() -> T + Send + 'static),
        >(short)
    });
    let job = move || {
        let erased = erased;
        // SAFETY: B4: the caller's frame, and `call` in it, outlive this job, and nothing
        // else touches `call` until the job's result is published.
        unsafe { (*erased.0)() }
    };
    let handle = match try_spawn_blocking(job) {
        Ok(handle) => handle,
        // The pool took the job back unrun (B1): run it here.
        Err(_) => return call(),
    };
    let armed = NoUnwind;
    let result = handle.join();
    // The job is over (its result is published): disarm.
    std::mem::forget(armed);
    match result {
        Ok(value) => value,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

#[cfg(test)]
mod tests {
    use super::run_borrowed;

    /// B4: the job writes the coroutine's own stack buffer from a pool thread, the coroutine
    /// sees the bytes when `run_borrowed` returns, and a panic in the job reaches the caller.
    #[test]
    fn a_borrowed_job_fills_the_callers_buffer_on_a_pool_thread() {
        let (filled, other_thread, panicked) = crate::thread::spawn(|| {
            let mut buf = [0u8; 256];
            let me = std::thread::current().id();
            let ran_on = run_borrowed(|| {
                buf.fill(7);
                std::thread::current().id()
            });
            let caught = std::panic::catch_unwind(|| run_borrowed(|| -> u8 { panic!("in job") }));
            (buf.iter().all(|&b| b == 7), ran_on != me, caught.is_err())
        })
        .join()
        .unwrap();
        assert!(filled, "the caller sees what the job wrote");
        assert!(other_thread, "the job ran off the worker");
        assert!(panicked, "the job's panic is resumed on the caller");
        // On a plain thread too (the pool runs it; the thread blocks).
        let mut v = vec![1u8; 3];
        run_borrowed(|| v.push(2));
        assert_eq!(v, [1, 1, 1, 2]);
    }
}
