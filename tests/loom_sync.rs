//! Loom models of the parking protocols of `weft::sync` (src/sync/raw/): the wait queue
//! (waitq.rs, Q1–Q4), `RawMutex` (M1–M6), `RawCondvar` (CV1–CV2), `RawRwLock` (RW1–RW6),
//! `RawSemaphore` (SM1–SM3) and `RawOnce` (O1–O3).
//!
//! `src/sync/raw/mod.rs` and its six files are compiled here as they are, against a facade of
//! the three modules they import (below, at the crate root):
//! - `crate::loom::sync`: `Mutex`, `MutexGuard` and the atomics, backed by loom. The raw types
//!   have `const fn new` and loom's constructors are not `const`, so each facade type keeps
//!   its initial value and gets its loom object on first use (see the module's doc for why the
//!   atomics come from a pool created at the start of each execution);
//! - `crate::park`: one one-token parker per loom thread (`loom::sync::Notify`, which also
//!   explores a spurious return), and an `Unparker` whose every value has a liveness cell, so
//!   that touching a node's unparker after its owner left is a loom error (Q3); `holder`, a
//!   number per loom thread, and `relock_panic`, a plain panic (M6, RW6). The locks' holder
//!   words (`AtomicU64`) are loom atomics only in the two relock models; elsewhere they are
//!   std atomics outside loom's view (see the facade's `AtomicU64` for why);
//! - `crate::fatal`: a panic;
//! - a deadline: loom has no clock, so the models pass `Instant::now()`, which has passed by
//!   the time waitq.rs checks it: "the deadline passes while the call waits", racing whatever
//!   the other threads do.
//!
//! The models drive the raw API the way the typed wrappers of src/sync/ do; `Once::call`
//! (src/sync/once.rs, not in raw/) is re-expressed step for step as [`call`]. The data a lock
//! protects is a loom `UnsafeCell`, so a lock that lets two holders in, or a hand-over that is
//! not a happens-before edge, is a loom causality error ("race" below); a lost wake-up is a
//! loom deadlock; after every thread is done, each model checks the lock is free and not left
//! `PARKED` (`try_lock`, `try_write`, `available()`).
//!
//! **Bug found**: `RawRwLock::grant` stored the state of a grant to readers with `Relaxed`.
//! When every queued waiter was a reader, that store left `PARKED` clear, and a new reader
//! could then take the lock by `try_read`, whose `Acquire` CAS read that `Relaxed` store: a
//! plain store does not continue the release sequence of the releasing writer's
//! `fetch_and(Release)`, so nothing ordered the writer's critical section before the new
//! reader's (loom: the reader's read races the writer's write). The store is now `Release`;
//! `rwlock_two_readers_one_writer` and `rwlock_writer_hands_off_to_two_readers` failed before
//! the fix (`rw-relaxed-grant-store` below) and pass after it.
//!
//! Every model was run against deliberately broken protocols (one edit of one file of
//! src/sync/raw/ at a time, reverted after) and fails on those listed under "Fails when" in its
//! doc (the breakages, by name; each ends in a loom deadlock, a race, or a failed assertion):
//! - mutex.rs:
//!   - `m-woken-never-cleared`: the woken waiter keeps `WOKEN` set when it retries (M5; run
//!     against `mutex_two_queued_waiters`, `mutex_two_lockers`, `mutex_three_lockers` only);
//!   - `m-parked-blind-store`: a locker sets `PARKED` with a plain store of the state it saw
//!     before taking the queue lock, without re-checking `LOCKED` (M3);
//!   - `m-no-recheck-locked`: a locker does not re-check `LOCKED` under the queue lock (M3);
//!   - `m-unlock-ignores-parked`: `unlock` clears `LOCKED` and never takes its slow path (M3);
//!   - `m-handoff-releases`: the hand-over to a starving waiter releases the lock too (M4);
//!   - `m-handoff-as-wake`: the hand-over keeps the lock locked but tells the waiter `WOKEN`;
//!   - `m-relaxed-lock`, `m-relaxed-unlock`: the fast paths' CAS with `Relaxed`;
//!   - `m-relaxed-wake-store`: the slow unlock that wakes a waiter releases with `Relaxed`;
//!   - `m-starving-at-back`: a woken waiter queues again at the back, not the front (M4);
//!   - `m6-clear-after-release`: `unlock` clears the holder word after its release (M6);
//!   - `m6-never-cleared`: `unlock` never clears the holder word (M6);
//! - waitq.rs:
//!   - `q-relaxed-token`: the token is stored with `Relaxed` (Q4);
//!   - `q-timeout-ignores-token`: a waiter whose deadline passed takes its node off the queue
//!     without re-checking the token under the queue lock (Q2, CV2);
//!   - `q-len-not-updated`: `push_back` does not update `len`, so a notify sees an empty queue;
//!   - `q-token-before-unparker`: the waker copies the unparker after writing the token (Q3);
//! - condvar.rs:
//!   - `cv-push-after-unlock`: a waiter queues its node after releasing the mutex (CV1);
//!   - `cv-notify-all-wakes-one`: `notify_all` wakes only the oldest waiter;
//!   - `cv-notified-reported-as-timeout`: a timed wait reports `false` even when notified;
//! - rwlock.rs:
//!   - `rw-downgrade-store`: `downgrade` stores `READER` with a plain store, not by CAS (RW5);
//!   - `rw-relaxed-grant-store`: the grant to readers stores with `Relaxed` (the bug above);
//!   - `rw-grant-readers-before-state`: the grant to readers wakes them before storing the
//!     state (RW3);
//!   - `rw-write-unlock-no-grant`: the write unlock that finds `PARKED` does not grant (RW3);
//!   - `rw-last-reader-no-grant`: the last reader out does not grant (RW3);
//!   - `rw-parked-store`: a locker sets `PARKED` with a plain store (RW4);
//!   - `rw-fast-read-ignores-parked`: `try_read` ignores `PARKED` (RW2);
//!   - `rw-relaxed-grant-load`: the grant loads the state with `Relaxed`;
//!   - `rw-relaxed-read-unlock`: `read_unlock`'s `fetch_sub` is `Relaxed`;
//!   - `rw6-write-clear-after-release`: `write_unlock` clears the holder word after its
//!     release (RW6);
//!   - `rw6-write-never-cleared`, `rw6-read-never-cleared`: `write_unlock`, or a recorded
//!     reader's `read_unlock`, never clears the holder word (RW6);
//! - semaphore.rs:
//!   - `s-release-slow-no-recheck`: the slow release does not re-check `PARKED` under the queue
//!     lock, so a release that finds the queue emptied by another overwrites the state (SM2);
//!   - `s-parked-store`: an acquirer sets `PARKED` with a plain store (SM3);
//!   - `s-release-ignores-parked`: the fast release adds permits whatever `PARKED` (SM1);
//!   - `s-leftover-while-queued`: the slow release stores its leftover (clearing `PARKED`)
//!     while waiters are still queued (SM1);
//!   - `s-relaxed-acquire`: `try_acquire`'s CAS is `Relaxed`;
//! - once.rs:
//!   - `o-finish-store`: `finish` stores instead of swapping and never wakes (O2);
//!   - `o-finish-load-then-store`: `finish` loads, then stores (a `PARKED` set in between is
//!     lost, O2);
//!   - `o-park-no-recheck`: a waiter does not compare the state under the queue lock (O2);
//!   - `o-try-start-drops-parked`: `try_start` does not carry `PARKED` into `RUNNING` (O2);
//!   - `o-relaxed-finish`: `finish` swaps with `Relaxed` (O3);
//!   - `o-relaxed-is-complete`: `is_complete` loads with `Relaxed` (O3).
//!
//! Every breakage but one fails at least one model. `m-starving-at-back` fails none, and should
//! not: where a woken waiter queues is fairness (M4), not safety, and these models check no
//! bound on how often a waiter is passed over. The two models of the bug were run against the rwlock
//! breakages only; the M6 and RW6 breakages against the two relock models only (each fails on
//! every breakage of its file's holder word). `q-token-before-unparker` is seen through the
//! facade's liveness cells (the owner's node is gone, but its stack memory is not);
//! `q-relaxed-token` fails the once models through them too (the owner drops its node
//! unordered after the waker's copy).
//!
//! Bounds: the models with two loom threads use no bound or a bound of 5; those with three a
//! bound of 1 to 3 (see each `model` call). The file runs in about 30–40 s on 2 cores;
//! `--nocapture` prints how many executions each model explored and how long it took.
//! `LOOM_MAX_PREEMPTIONS`, when set, overrides every model's bound.
//!
//! When a model fails, loom unwinds the threads still parked, and the process aborts ("panic in
//! a destructor during cleanup"): run one model at a time (`--exact`) with `--nocapture`; the
//! first panic printed is loom's report.
//!
//! Run: `RUSTFLAGS="--cfg weft_loom" CARGO_TARGET_DIR=target/loom cargo test --release --test
//! loom_sync -- --nocapture`
#![cfg(weft_loom)]
#![allow(dead_code)]

// ---------------------------------------------------------------------------------------------
// The facade: `crate::loom`, `crate::park` and `crate::fatal` as src/sync/raw/ uses them.

mod loom {
    pub(crate) mod sync {
        //! `src/loom.rs`'s shape (parking_lot's `Mutex`, std's atomics) over loom's types.
        //!
        //! The raw locks have `const fn new`, and loom's constructors are not `const`: each
        //! type here keeps its initial value and gets its loom object on first use, inside the
        //! loom execution (every model builds its locks there, so each execution has fresh
        //! ones). A mutex is created then and there. An atomic cannot be: loom counts its
        //! creation as a non-atomic write by the creating thread, so a thread that used it
        //! without being ordered after whichever thread happened to touch it first would be
        //! a (false) causality error. So `model` creates a pool of loom atomics at the start
        //! of every execution, on the model's main thread before it spawns anything, and a
        //! lazy atomic takes one holding its initial value from the pool. That orders the
        //! creation of every atomic before everything else, which the real code has anyway:
        //! a lock is built before it is shared, and a node before it is queued (under the
        //! queue lock).

        use std::fmt;
        use std::sync::OnceLock;

        pub(crate) struct Mutex<T> {
            init: std::sync::Mutex<Option<T>>,
            lock: OnceLock<::loom::sync::Mutex<T>>,
        }

        pub(crate) use ::loom::sync::MutexGuard;

        impl<T> Mutex<T> {
            pub(crate) const fn new(value: T) -> Mutex<T> {
                Mutex {
                    init: std::sync::Mutex::new(Some(value)),
                    lock: OnceLock::new(),
                }
            }

            pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
                self.lock
                    .get_or_init(|| {
                        let value = self.init.lock().unwrap().take().expect("created once");
                        ::loom::sync::Mutex::new(value)
                    })
                    .lock()
                    .unwrap()
            }
        }

        impl<T> fmt::Debug for Mutex<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad("Mutex { .. }")
            }
        }

        pub(crate) mod atomic {
            use std::cell::RefCell;
            use std::fmt;
            use std::sync::OnceLock;

            pub(crate) use std::sync::atomic::Ordering;

            // The pool of the running execution. Loom runs every thread of a model on the
            // test's own OS thread, so a std thread-local is the model's.
            std::thread_local! {
                static POOL_U8: RefCell<Vec<(u8, ::loom::sync::atomic::AtomicU8)>> =
                    const { RefCell::new(Vec::new()) };
                static POOL_USIZE: RefCell<Vec<(usize, ::loom::sync::atomic::AtomicUsize)>> =
                    const { RefCell::new(Vec::new()) };
                static POOL_U64: RefCell<Vec<(u64, ::loom::sync::atomic::AtomicU64)>> =
                    const { RefCell::new(Vec::new()) };
            }

            std::thread_local! {
                /// Whether the running model tracks the holder words (see `AtomicU64`).
                static TRACK_HOLDERS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
            }

            /// Fills the pool for one execution: `count` atomics of each type holding 0, and
            /// one `AtomicUsize` for each of `usize_values`. `track_holders`: whether the
            /// holder words (`AtomicU64`) are loom atomics in this execution.
            pub(crate) fn fill_pool(count: usize, usize_values: &[usize], track_holders: bool) {
                TRACK_HOLDERS.with(|t| t.set(track_holders));
                POOL_U8.with(|p| {
                    *p.borrow_mut() = (0..count)
                        .map(|_| (0, ::loom::sync::atomic::AtomicU8::new(0)))
                        .collect();
                });
                POOL_USIZE.with(|p| {
                    *p.borrow_mut() = (0..count)
                        .map(|_| 0)
                        .chain(usize_values.iter().copied())
                        .map(|v| (v, ::loom::sync::atomic::AtomicUsize::new(v)))
                        .collect();
                });
                POOL_U64.with(|p| {
                    *p.borrow_mut() = (0..count)
                        .map(|_| (0, ::loom::sync::atomic::AtomicU64::new(0)))
                        .collect();
                });
            }

            /// Empties the pool at the end of an execution.
            pub(crate) fn clear_pool() {
                POOL_U8.with(|p| p.borrow_mut().clear());
                POOL_USIZE.with(|p| p.borrow_mut().clear());
                POOL_U64.with(|p| p.borrow_mut().clear());
            }

            macro_rules! lazy_atomic {
                ($name:ident, $int:ty, $pool:ident) => {
                    pub(crate) struct $name {
                        init: $int,
                        atomic: OnceLock<::loom::sync::atomic::$name>,
                    }

                    impl $name {
                        pub(crate) const fn new(value: $int) -> $name {
                            $name {
                                init: value,
                                atomic: OnceLock::new(),
                            }
                        }

                        fn get(&self) -> &::loom::sync::atomic::$name {
                            self.atomic.get_or_init(|| {
                                $pool.with(|p| {
                                    let mut p = p.borrow_mut();
                                    let Some(i) = p.iter().position(|(v, _)| *v == self.init)
                                    else {
                                        panic!(
                                            "the pool has no {} of value {} left (fill_pool)",
                                            stringify!($name),
                                            self.init
                                        );
                                    };
                                    p.swap_remove(i).1
                                })
                            })
                        }

                        pub(crate) fn load(&self, order: Ordering) -> $int {
                            self.get().load(order)
                        }

                        pub(crate) fn store(&self, value: $int, order: Ordering) {
                            self.get().store(value, order)
                        }

                        pub(crate) fn swap(&self, value: $int, order: Ordering) -> $int {
                            self.get().swap(value, order)
                        }

                        pub(crate) fn compare_exchange(
                            &self,
                            current: $int,
                            new: $int,
                            success: Ordering,
                            failure: Ordering,
                        ) -> Result<$int, $int> {
                            self.get().compare_exchange(current, new, success, failure)
                        }

                        pub(crate) fn compare_exchange_weak(
                            &self,
                            current: $int,
                            new: $int,
                            success: Ordering,
                            failure: Ordering,
                        ) -> Result<$int, $int> {
                            self.get()
                                .compare_exchange_weak(current, new, success, failure)
                        }

                        pub(crate) fn fetch_sub(&self, value: $int, order: Ordering) -> $int {
                            self.get().fetch_sub(value, order)
                        }

                        pub(crate) fn fetch_and(&self, value: $int, order: Ordering) -> $int {
                            self.get().fetch_and(value, order)
                        }
                    }

                    impl fmt::Debug for $name {
                        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                            f.pad(stringify!($name))
                        }
                    }
                };
            }

            lazy_atomic!(AtomicU8, u8, POOL_U8);
            lazy_atomic!(AtomicUsize, usize, POOL_USIZE);

            /// The locks' holder words (M6, RW6), the only `AtomicU64`s of src/sync/raw/. In
            /// the models about them (`fill_pool(.., true)`: the relock models), a loom atomic
            /// from the pool, so that loom explores which of their `Relaxed` stores each load
            /// may read. Elsewhere a std atomic, outside loom: there every load reads the
            /// latest store of the interleaving (still checking that no lock call panics as a
            /// relock), and the word adds no interleavings. As loom atomics they multiplied
            /// the other models' executions by 10 to 50 (the suite took 6 minutes instead of
            /// half of one) without being what those models check.
            pub(crate) struct AtomicU64 {
                init: u64,
                tracked: OnceLock<::loom::sync::atomic::AtomicU64>,
                plain: std::sync::atomic::AtomicU64,
            }

            impl AtomicU64 {
                pub(crate) const fn new(value: u64) -> AtomicU64 {
                    AtomicU64 {
                        init: value,
                        tracked: OnceLock::new(),
                        plain: std::sync::atomic::AtomicU64::new(value),
                    }
                }

                fn tracked(&self) -> Option<&::loom::sync::atomic::AtomicU64> {
                    if !TRACK_HOLDERS.with(std::cell::Cell::get) {
                        return None;
                    }
                    Some(self.tracked.get_or_init(|| {
                        POOL_U64.with(|p| {
                            let mut p = p.borrow_mut();
                            let i = p
                                .iter()
                                .position(|(v, _)| *v == self.init)
                                .expect("the pool has an AtomicU64 left (fill_pool)");
                            p.swap_remove(i).1
                        })
                    }))
                }

                pub(crate) fn load(&self, order: Ordering) -> u64 {
                    match self.tracked() {
                        Some(a) => a.load(order),
                        None => self.plain.load(order),
                    }
                }

                pub(crate) fn store(&self, value: u64, order: Ordering) {
                    match self.tracked() {
                        Some(a) => a.store(value, order),
                        None => self.plain.store(value, order),
                    }
                }
            }

            impl fmt::Debug for AtomicU64 {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.pad("AtomicU64")
                }
            }
        }
    }
}

mod park {
    //! `crate::park`: a one-token parker per loom thread, `loom::sync::Notify` (a wake-up that
    //! comes first is kept; loom also explores one spurious return of each thread's parker,
    //! which `park::park` allows). Not loom's `Thread::unpark`: Q3 lets a waker unpark a
    //! waiter after the waiter saw its token and went on, possibly into a loom `Mutex` or
    //! `join`, and loom's `unpark` then wrongly makes that thread runnable (tests/loom_chan.rs).
    //!
    //! Every `Unparker` value also carries a liveness cell of its own, a loom `UnsafeCell`
    //! that its drop clears and that `clone` and `unpark` read (Q3): a waker that copies a
    //! node's unparker after writing the token, when the owner may already have left and
    //! dropped its node, is then a loom causality error (or fails the assertion). The cells
    //! are kept alive until the end of the execution, so that such a late read is caught by
    //! loom rather than left to chance.

    use std::cell::RefCell;
    use std::fmt;
    use std::time::Instant;

    use ::loom::cell::UnsafeCell;
    use ::loom::sync::{Arc, Notify};

    ::loom::thread_local! {
        static PARKER: Arc<Notify> = Arc::new(Notify::new());
    }

    std::thread_local! {
        /// Every liveness cell of the running execution (see `clear`).
        static CELLS: RefCell<Vec<std::sync::Arc<Live>>> = const { RefCell::new(Vec::new()) };
    }

    /// Whether an `Unparker` value is still alive.
    struct Live(UnsafeCell<bool>);

    // SAFETY: the cell is only reached through `Unparker::check` and `Unparker::drop`, which
    // loom checks.
    unsafe impl Send for Live {}
    // SAFETY: as for `Send`.
    unsafe impl Sync for Live {}

    fn live() -> std::sync::Arc<Live> {
        let live = std::sync::Arc::new(Live(UnsafeCell::new(true)));
        CELLS.with(|c| c.borrow_mut().push(live.clone()));
        live
    }

    /// Forgets the liveness cells at the end of an execution.
    pub(crate) fn clear() {
        CELLS.with(|c| c.borrow_mut().clear());
    }

    pub(crate) struct Unparker {
        notify: Arc<Notify>,
        live: std::sync::Arc<Live>,
    }

    impl Unparker {
        fn check(&self, what: &str) {
            // SAFETY: loom checks this read against the drop's write.
            let live = self.live.0.with(|p| unsafe { *p });
            assert!(live, "Q3: an unparker was {what} after it was dropped");
        }

        pub(crate) fn unpark(&self) {
            self.check("used");
            self.notify.notify();
        }
    }

    impl Clone for Unparker {
        fn clone(&self) -> Unparker {
            self.check("copied");
            Unparker {
                notify: self.notify.clone(),
                live: live(),
            }
        }
    }

    impl Drop for Unparker {
        fn drop(&mut self) {
            // SAFETY: loom checks this write against every read.
            self.live.0.with_mut(|p| unsafe { *p = false });
        }
    }

    impl fmt::Debug for Unparker {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.pad("Unparker")
        }
    }

    /// `park::LocalUnparker`: here simply an `Unparker`; `upgrade` is its `clone`, so the
    /// liveness check of Q3 covers the copy a waker makes.
    pub(crate) type LocalUnparker = Unparker;

    impl Unparker {
        /// # Safety
        /// None needed here; the real one requires the owner's frame to be live (P8).
        pub(crate) unsafe fn upgrade(&self) -> Unparker {
            self.clone()
        }
    }

    /// The calling loom thread's unparker, as a waiting frame keeps it.
    pub(crate) fn current_local() -> LocalUnparker {
        current()
    }

    /// `crate::park::Wait`: what a park waits for (the dump's reason); ignored here.
    #[derive(Debug, Clone, Copy)]
    pub(crate) enum Wait {
        Mutex(usize),
        RwLockRead(usize),
        RwLockWrite(usize),
        Condvar(usize),
        Semaphore(usize),
        Once(usize),
    }

    ::loom::thread_local! {
        /// The loom thread's identity as a lock holder: a fresh number for every loom thread
        /// of every execution (a std counter, outside the model).
        static HOLDER: u64 = {
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        };
    }

    /// `park::holder`: the calling loom thread's identity (M6, RW6).
    pub(crate) fn holder() -> u64 {
        HOLDER.with(|h| *h)
    }

    ::loom::thread_local! {
        /// Set by `relock_panics` while it runs a call that must panic as a relock.
        static EXPECTED: std::cell::Cell<bool> = std::cell::Cell::new(false);
    }

    /// Runs `f` with this loom thread's relock panics marked as expected (see `relock_panic`).
    pub(crate) fn expecting_relock<R>(f: impl FnOnce() -> R) -> R {
        EXPECTED.with(|e| e.set(true));
        let r = f();
        EXPECTED.with(|e| e.set(false));
        r
    }

    /// `park::relock_panic`: a plain panic. A relock panic that `relock_panics` expects
    /// (on this loom thread) says "relock (expected)", and the models' panic hook keeps it
    /// quiet; any other is printed, as the failure it is.
    #[track_caller]
    pub(crate) fn relock_panic(what: &str) -> ! {
        if EXPECTED.with(|e| e.replace(false)) {
            panic!("relock (expected): {what}")
        }
        panic!("relock: {what}")
    }

    /// The calling loom thread's unparker.
    pub(crate) fn current() -> Unparker {
        Unparker {
            notify: PARKER.with(|p| p.clone()),
            live: live(),
        }
    }

    /// Blocks until the calling thread's token is set (or spuriously, once per thread). Loom
    /// has no clock: a deadline (the models pass `Instant::now()`, which has passed by the
    /// time waitq.rs checks it) makes the park return at once, as if it had run out while
    /// waiting.
    pub(crate) fn park(deadline: Option<Instant>, _why: Wait) {
        if deadline.is_some() {
            return;
        }
        let parker = PARKER.with(|p| p.clone());
        parker.wait();
    }
}

mod fatal {
    //! `crate::fatal`: a panic, so loom reports it as a failure of the model.

    pub(crate) fn bug(msg: &str) -> ! {
        if std::thread::panicking() {
            // `Node::wait`'s guard, dropped while loom unwinds a parked thread after a failure
            // (a deadlock, or another thread's failed assertion): the failure is already
            // reported above; a second panic here would abort the process anyway.
            eprintln!("weft fatal error during a loom failure's unwinding: {msg}; aborting");
            std::process::abort();
        }
        panic!("weft fatal error: {msg}");
    }

    pub(crate) fn user(msg: &str) -> ! {
        panic!("weft fatal error: {msg}");
    }
}

#[path = "../src/sync/raw/mod.rs"]
mod raw;

use std::time::Instant;

use ::loom::cell::UnsafeCell;
use ::loom::sync::Arc;
use ::loom::thread;
use raw::condvar::RawCondvar;
use raw::mutex::RawMutex;
use raw::once::{RawOnce, Seen};
use raw::rwlock::RawRwLock;
use raw::semaphore::RawSemaphore;

// ---------------------------------------------------------------------------------------------
// Helpers

/// Data that a lock protects: every access goes through loom, which fails the model if two
/// accesses (one of them a write) are not ordered by the lock (a data race).
struct Data<T>(UnsafeCell<T>);

// SAFETY: only reached through `get` and `set`, which loom checks.
unsafe impl<T: Send> Sync for Data<T> {}

impl<T: Copy> Data<T> {
    fn new(value: T) -> Data<T> {
        Data(UnsafeCell::new(value))
    }

    fn get(&self) -> T {
        // SAFETY: loom runs one thread at a time and fails the model if this read is not
        // ordered after every write.
        self.0.with(|p| unsafe { *p })
    }

    fn set(&self, value: T) {
        // SAFETY: as in `get`, for a write: loom checks it against every other access.
        self.0.with_mut(|p| unsafe { *p = value })
    }
}

impl Data<usize> {
    fn incr(&self) {
        self.set(self.get() + 1);
    }
}

/// A deadline that has passed by the time the wait checks it ("it passes while waiting").
fn expired() -> Option<Instant> {
    Some(Instant::now())
}

/// How many atomics of value 0 each execution's pool holds (see the facade): enough for every
/// lock and node of the largest model.
const POOL: usize = 40;

/// The state of a semaphore with one permit (the pool holds one such atomic).
const PERMIT: usize = 2;

/// Runs `f` under loom with at most `preemption_bound` preemptions per execution (`None`: all
/// interleavings), and prints how many executions were explored and how long it took. The
/// holder words are plain atomics (see the facade's `AtomicU64`).
fn model(preemption_bound: Option<usize>, f: impl Fn() + Sync + Send + 'static) {
    model_holders(preemption_bound, false, f)
}

/// [`model`], with the holder words as loom atomics if `track_holders` (the relock models).
fn model_holders(
    preemption_bound: Option<usize>,
    track_holders: bool,
    f: impl Fn() + Sync + Send + 'static,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let executions = std::sync::Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut builder = ::loom::model::Builder::new();
    // `LOOM_MAX_PREEMPTIONS`, when set, overrides every model's bound (for longer runs).
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = preemption_bound;
    }
    let preemption_bound = builder.preemption_bound;
    builder.check({
        let executions = executions.clone();
        move || {
            executions.fetch_add(1, Ordering::Relaxed);
            loom::sync::atomic::fill_pool(POOL, &[PERMIT], track_holders);
            f();
            loom::sync::atomic::clear_pool();
            park::clear();
        }
    });
    eprintln!(
        "{}: {} executions (preemption bound {preemption_bound:?}) in {:.2?}",
        std::thread::current().name().unwrap_or("?"),
        executions.load(Ordering::Relaxed),
        start.elapsed(),
    );
}

/// Runs `f`, which must panic with the facade's relock panic (M6, RW6) naming `what`. Any other
/// panic (a loom failure among them) goes on unwinding; no panic at all fails the model.
#[track_caller]
fn relock_panics<R>(what: &str, f: impl FnOnce() -> R) {
    use std::sync::Once;
    static QUIET: Once = Once::new();
    // The expected panics would print one message each per execution: keep them quiet and
    // pass every other panic to the default hook.
    QUIET.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text = info.payload().downcast_ref::<String>();
            if !text.is_some_and(|t| t.starts_with("relock (expected): ")) {
                default(info);
            }
        }));
    });
    let result =
        park::expecting_relock(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    match result {
        Ok(_) => panic!("the relock ({what}) did not panic"),
        Err(payload) => match payload.downcast_ref::<String>() {
            Some(text) if text.starts_with("relock (expected): ") && text.contains(what) => {}
            _ => std::panic::resume_unwind(payload),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// RawMutex (M1–M6)

struct Counted {
    m: RawMutex,
    n: Data<usize>,
}

impl Counted {
    fn new() -> Arc<Counted> {
        Arc::new(Counted {
            m: RawMutex::new(),
            n: Data::new(0),
        })
    }

    fn increment(&self) {
        self.m.lock();
        self.n.incr();
        // SAFETY: locked above.
        unsafe { self.m.unlock() };
    }

    /// Every thread is done: the count is exact and the lock is free and not parked.
    fn assert_done(&self, count: usize) {
        assert!(self.m.try_lock(), "the lock was left held");
        assert_eq!(self.n.get(), count);
        // SAFETY: locked just above.
        unsafe { self.m.unlock() };
    }
}

/// Two lockers, one of them twice: the count is exact and never raced (M1, M3: a lost wake-up
/// is a deadlock). Covers M4: the second thread queues, is woken by an unlock, the first
/// thread's second `lock` barges in first, and the woken waiter queues again at the front,
/// marked starving, and is handed the lock by the next unlock.
///
/// Fails when: `m-parked-blind-store`, `m-no-recheck-locked`, `m-unlock-ignores-parked`,
/// `m-handoff-as-wake` (deadlock); `m-relaxed-lock`, `m-relaxed-unlock`, `q-relaxed-token`,
/// `q-token-before-unparker` (race). Not `m-handoff-releases` or `m-relaxed-wake-store`: with
/// two threads nobody else can take the lock the breakage leaves open.
#[test]
fn mutex_two_lockers() {
    model(Some(5), || {
        let s = Counted::new();
        let t = {
            let s = s.clone();
            thread::spawn(move || s.increment())
        };
        s.increment();
        s.increment();
        t.join().unwrap();
        s.assert_done(3);
    });
}

/// Three lockers: two may queue at once (`PARKED` stays set across an unlock that wakes one
/// of them, M1), and a woken waiter can be passed over by a barging locker (M4).
///
/// Fails when: every mutex.rs breakage but `m-starving-at-back` (and the M6 ones, which
/// were run against `mutex_relock_panics` only): `m-parked-blind-store`,
/// `m-no-recheck-locked`, `m-unlock-ignores-parked`, `m-handoff-as-wake` (deadlock);
/// `m-handoff-releases`, `m-relaxed-lock`, `m-relaxed-unlock`, `m-relaxed-wake-store`,
/// `q-relaxed-token`, `q-token-before-unparker` (race).
#[test]
fn mutex_three_lockers() {
    model(Some(2), || {
        let s = Counted::new();
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || s.increment())
            })
            .collect();
        s.increment();
        s.increment();
        for t in ts {
            t.join().unwrap();
        }
        s.assert_done(4);
    });
}

/// M5: the holder keeps the lock (yielding) while two lockers queue; its unlock wakes one of
/// them and sets `WOKEN`, and the woken one must clear it as it retries, or the unlock that
/// follows would skip the wake-up and leave the other parked for ever.
///
/// Fails when: `m-woken-never-cleared` (deadlock; so do `mutex_two_lockers` and
/// `mutex_three_lockers`).
#[test]
fn mutex_two_queued_waiters() {
    model(Some(2), || {
        let s = Counted::new();
        s.m.lock();
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || s.increment())
            })
            .collect();
        for _ in 0..3 {
            thread::yield_now();
        }
        s.n.incr();
        // SAFETY: locked at the start of the model.
        unsafe { s.m.unlock() };
        for t in ts {
            t.join().unwrap();
        }
        s.assert_done(3);
    });
}

/// `try_lock` against a holder and a queued locker: it succeeds only on a free lock (the count
/// is never raced) and never disturbs the queue (the parked locker is still woken).
///
/// Fails when: `m-parked-blind-store`, `m-no-recheck-locked`, `m-unlock-ignores-parked`,
/// `m-handoff-as-wake` (deadlock); `m-relaxed-lock`, `m-relaxed-unlock`,
/// `m-relaxed-wake-store`, `q-relaxed-token`, `q-token-before-unparker` (race).
#[test]
fn mutex_try_lock_vs_lock() {
    model(Some(3), || {
        let s = Counted::new();
        let locker = {
            let s = s.clone();
            thread::spawn(move || s.increment())
        };
        let trier = {
            let s = s.clone();
            thread::spawn(move || {
                if s.m.try_lock() {
                    s.n.incr();
                    // SAFETY: locked just above.
                    unsafe { s.m.unlock() };
                    true
                } else {
                    false
                }
            })
        };
        s.increment();
        locker.join().unwrap();
        let tried = trier.join().unwrap();
        s.assert_done(2 + usize::from(tried));
    });
}

/// M6: each of two threads locks, locks again, which must panic (it reads its own identity in
/// the holder word), then unlocks and locks once more; neither lock ever panics otherwise (a
/// false relock would fail the model), and the lock stays usable after each panic: the
/// count is exact and the lock ends free.
///
/// Fails when: `m6-clear-after-release` (the unlock clears the holder word after its
/// release, which may wipe the next holder's record: that holder's relock queues behind
/// itself, a deadlock); `m6-never-cleared` (a stale record: a thread that finds the lock taken
/// by a holder that has not stored its identity yet reads its own, a false panic).
#[test]
fn mutex_relock_panics() {
    fn relock_once(s: &Counted) {
        s.m.lock();
        relock_panics("Mutex it already holds", || s.m.lock());
        s.n.incr();
        // SAFETY: locked above; the panicking `lock` took nothing.
        unsafe { s.m.unlock() };
    }
    model_holders(Some(3), true, || {
        let s = Counted::new();
        let t = {
            let s = s.clone();
            thread::spawn(move || {
                relock_once(&s);
                s.increment();
            })
        };
        relock_once(&s);
        s.increment();
        t.join().unwrap();
        s.assert_done(4);
    });
}

// ---------------------------------------------------------------------------------------------
// RawCondvar (CV1–CV2)

/// A mutex, a condvar, and the predicate under the mutex.
struct Flagged {
    m: RawMutex,
    cv: RawCondvar,
    flag: Data<bool>,
}

impl Flagged {
    fn new() -> Arc<Flagged> {
        Arc::new(Flagged {
            m: RawMutex::new(),
            cv: RawCondvar::new(),
            flag: Data::new(false),
        })
    }

    /// `Condvar::wait_while(!flag)` without a deadline.
    fn wait_for_flag(&self) {
        self.m.lock();
        while !self.flag.get() {
            // SAFETY: we hold `m`.
            unsafe { self.cv.wait(&self.m, None, None) };
        }
        // SAFETY: we hold `m` (`wait` took it again).
        unsafe { self.m.unlock() };
    }

    /// Sets the flag under the mutex, then notifies (after unlocking, the harder case for
    /// CV1: `notify_*` checks the queue without its lock first).
    fn set_flag(&self, all: bool) {
        self.m.lock();
        self.flag.set(true);
        // SAFETY: locked above.
        unsafe { self.m.unlock() };
        if all {
            self.cv.notify_all();
        } else {
            self.cv.notify_one();
        }
    }
}

/// CV1: a waiter and a notifier with the predicate under the mutex; the notify is never lost
/// (a loom deadlock otherwise), and the waiter holds the mutex again when `wait` returns (the
/// flag is never raced).
///
/// Fails when: `cv-push-after-unlock`, `q-len-not-updated`, `m-parked-blind-store`,
/// `m-no-recheck-locked`, `m-unlock-ignores-parked` (deadlock); `m-relaxed-lock`,
/// `m-relaxed-unlock`, `q-relaxed-token`, `q-token-before-unparker` (race).
#[test]
fn condvar_no_lost_wakeup() {
    model(None, || {
        let s = Flagged::new();
        let notifier = {
            let s = s.clone();
            thread::spawn(move || s.set_flag(false))
        };
        s.wait_for_flag();
        notifier.join().unwrap();
        assert!(s.m.try_lock(), "the mutex was left held");
    });
}

/// CV2: a waiter whose deadline passes while it waits races a `notify_one`, with a second
/// waiter (no deadline) queued as well. The notify is either received by the first waiter
/// (its `wait` returns `true`; it then passes the notify on with a `notify_one` of its own,
/// as a caller that does not want it would) or it wakes the second waiter: never spent on a
/// waiter that has left, or the second waiter sleeps forever (a loom deadlock).
///
/// Fails when: `q-timeout-ignores-token`, `cv-notified-reported-as-timeout`,
/// `cv-push-after-unlock`, `q-len-not-updated`, `m-parked-blind-store`, `m-no-recheck-locked`,
/// `m-unlock-ignores-parked`, `m-handoff-as-wake` (deadlock); `m-handoff-releases`,
/// `m-relaxed-lock`, `m-relaxed-unlock`, `m-relaxed-wake-store`, `q-relaxed-token`,
/// `q-token-before-unparker` (race).
#[test]
fn condvar_deadline_races_notify_one() {
    model(Some(2), || {
        let s = Flagged::new();
        let waiter = {
            let s = s.clone();
            thread::spawn(move || s.wait_for_flag())
        };
        let notifier = {
            let s = s.clone();
            thread::spawn(move || s.set_flag(false))
        };
        s.m.lock();
        let notified = if s.flag.get() {
            false
        } else {
            // SAFETY: we hold `m`.
            unsafe { s.cv.wait(&s.m, expired(), None) }
        };
        // SAFETY: we hold `m` (`wait` took it again).
        unsafe { s.m.unlock() };
        if notified {
            s.cv.notify_one();
        }
        waiter.join().unwrap();
        notifier.join().unwrap();
        assert!(s.m.try_lock(), "the mutex was left held");
    });
}

/// A waiter whose deadline passes, alone against a notifier: every interleaving (the notify
/// before, during and after the waiter's timeout). The waiter ends either way, holding the
/// mutex; if it was notified, the notifier's notify found it queued.
///
/// Fails when: `m-parked-blind-store`, `m-no-recheck-locked`, `m-unlock-ignores-parked`,
/// `m-handoff-as-wake` (deadlock); `m-relaxed-lock`, `m-relaxed-unlock`, `q-relaxed-token`,
/// `q-token-before-unparker` (race). No condvar.rs breakage: with one waiter, a notify spent
/// on a waiter that left changes nothing anyone can see (`condvar_deadline_races_notify_one`
/// adds the second waiter that sees it).
#[test]
fn condvar_deadline_alone() {
    model(Some(5), || {
        let s = Flagged::new();
        let notifier = {
            let s = s.clone();
            thread::spawn(move || s.set_flag(false))
        };
        s.m.lock();
        let was_set = s.flag.get();
        // SAFETY: we hold `m`.
        let notified = !was_set && unsafe { s.cv.wait(&s.m, expired(), None) };
        let set_now = s.flag.get();
        // SAFETY: we hold `m`.
        unsafe { s.m.unlock() };
        notifier.join().unwrap();
        // A notify comes only after the flag was set under the mutex.
        assert!(!notified || set_now, "notified before the flag was set");
        assert!(s.m.try_lock(), "the mutex was left held");
    });
}

/// `notify_all` wakes both waiters (a loom deadlock otherwise).
///
/// Fails when: `cv-notify-all-wakes-one`, `cv-push-after-unlock`, `q-len-not-updated`,
/// `m-parked-blind-store`, `m-no-recheck-locked`, `m-unlock-ignores-parked`,
/// `m-handoff-as-wake` (deadlock); `m-relaxed-lock`, `m-relaxed-unlock`,
/// `m-relaxed-wake-store`, `q-relaxed-token`, `q-token-before-unparker` (race).
#[test]
fn condvar_notify_all_two_waiters() {
    model(Some(2), || {
        let s = Flagged::new();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || s.wait_for_flag())
            })
            .collect();
        s.set_flag(true);
        for w in waiters {
            w.join().unwrap();
        }
        assert!(s.m.try_lock(), "the mutex was left held");
    });
}

// ---------------------------------------------------------------------------------------------
// RawRwLock (RW1–RW6)

struct Shared {
    l: RawRwLock,
    d: Data<usize>,
}

impl Shared {
    fn new() -> Arc<Shared> {
        Arc::new(Shared {
            l: RawRwLock::new(),
            d: Data::new(0),
        })
    }

    fn read(&self) -> usize {
        let hold = self.l.read();
        let v = self.d.get();
        // SAFETY: read-locked above.
        unsafe { self.l.read_unlock(hold) };
        v
    }

    fn add(&self, n: usize) {
        self.l.write();
        self.d.set(self.d.get() + n);
        // SAFETY: write-locked above.
        unsafe { self.l.write_unlock() };
    }

    /// Every thread is done: the lock is free, not left `PARKED` nor held (RW1, RW3).
    fn assert_done(&self, value: usize) {
        assert!(self.l.try_write(), "the lock was left held or parked");
        assert_eq!(self.d.get(), value);
        // SAFETY: locked just above.
        unsafe { self.l.write_unlock() };
        let hold = self.l.try_read().expect("the lock was left held or parked");
        // SAFETY: locked just above.
        unsafe { self.l.read_unlock(hold) };
    }
}

/// Two readers and a writer from a free lock: readers never race the writer, read the value
/// before or after the write, and the lock ends free.
///
/// Fails when: `rw-relaxed-grant-store` (the bug in the file's doc: a race between a reader
/// and the writer), and every other rwlock.rs breakage but the RW6 ones:
/// `rw-write-unlock-no-grant`, `rw-last-reader-no-grant`, `rw-parked-store` (deadlock);
/// `rw-grant-readers-before-state`,
/// `rw-fast-read-ignores-parked` (the lock is left held: a reader count overwritten or
/// underflowed); `rw-relaxed-grant-load`, `rw-relaxed-read-unlock` (race).
#[test]
fn rwlock_two_readers_one_writer() {
    model(Some(2), || {
        let s = Shared::new();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || s.read())
            })
            .collect();
        s.add(1);
        for r in readers {
            let v = r.join().unwrap();
            assert!(v <= 1, "read {v}");
        }
        s.assert_done(1);
    });
}

/// RW3 from a writer: a reader and a writer queue behind a held write lock; the write unlock
/// grants to the head, and the grant chain hands the lock on to the other.
///
/// Fails when: `rw-write-unlock-no-grant`, `rw-last-reader-no-grant`, `rw-parked-store`
/// (deadlock); `rw-grant-readers-before-state` (the lock is left held);
/// `rw-fast-read-ignores-parked`, `rw-relaxed-read-unlock`, `q-relaxed-token`,
/// `q-token-before-unparker` (race). Not `rw-relaxed-grant-load`: no grant follows two
/// readers' releases here.
#[test]
fn rwlock_writer_hands_off() {
    model(Some(3), || {
        let s = Shared::new();
        s.l.write();
        let reader = {
            let s = s.clone();
            thread::spawn(move || s.read())
        };
        let writer = {
            let s = s.clone();
            thread::spawn(move || s.add(10))
        };
        s.d.set(1);
        // SAFETY: write-locked above.
        unsafe { s.l.write_unlock() };
        let v = reader.join().unwrap();
        writer.join().unwrap();
        assert!(v == 1 || v == 11, "read {v}");
        s.assert_done(11);
    });
}

/// RW5: a writer downgrades while a reader and a writer may be queued behind it. The
/// downgraded holder reads its own write; the reader gets in (with it, or after it); the
/// writer waits until every reader left, so the reader reads 1 or 11 and the end value is 11.
///
/// Fails when: `rw-downgrade-store` (the downgrade stores `READER` instead of its CAS, losing
/// a `PARKED` set meanwhile: deadlock).
#[test]
fn rwlock_downgrade() {
    model(Some(2), || {
        let s = Shared::new();
        s.l.write();
        let reader = {
            let s = s.clone();
            thread::spawn(move || s.read())
        };
        let writer = {
            let s = s.clone();
            thread::spawn(move || s.add(10))
        };
        s.d.set(1);
        // SAFETY: write-locked above.
        let hold = unsafe { s.l.downgrade() };
        assert_eq!(s.d.get(), 1, "a writer came in during the downgrade");
        // SAFETY: the downgrade left a read lock.
        unsafe { s.l.read_unlock(hold) };
        let v = reader.join().unwrap();
        writer.join().unwrap();
        assert!(v == 1 || v == 11, "read {v}");
        s.assert_done(11);
    });
}

/// RW3 from a writer to two readers: both queue behind a held write lock, or one of them
/// queues and the other takes the lock by `try_read` right after the grant left the state
/// without `PARKED`. Either way each reads the writer's value, ordered after its write.
///
/// The minimal case of the bug in the file's doc. Fails when: `rw-relaxed-grant-store` (the
/// grant stores the readers' state with `Relaxed`, the barging reader's `Acquire` CAS reads
/// that store, and a plain store does not continue the release sequence of the writer's
/// `fetch_and(Release)`: no happens-before, so loom reports the reader's read racing the
/// writer's write); `rw-write-unlock-no-grant`, `rw-parked-store` (deadlock);
/// `rw-grant-readers-before-state`, `rw-fast-read-ignores-parked` (the lock is left held).
#[test]
fn rwlock_writer_hands_off_to_two_readers() {
    model(Some(2), || {
        let s = Shared::new();
        s.l.write();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || s.read())
            })
            .collect();
        s.d.set(1);
        // SAFETY: write-locked above.
        unsafe { s.l.write_unlock() };
        for r in readers {
            assert_eq!(r.join().unwrap(), 1);
        }
        s.assert_done(1);
    });
}

/// RW3 from the last reader, and RW2: a writer queues behind a held read lock; a second reader
/// either reads before the writer queued or queues behind it; the last reader out grants.
///
/// Fails when: every rwlock.rs breakage but the RW6 ones (run against `rwlock_relock_panics`
/// only): `rw-write-unlock-no-grant`,
/// `rw-last-reader-no-grant`, `rw-parked-store` (deadlock); `rw-grant-readers-before-state`
/// (the lock is left held); `rw-fast-read-ignores-parked`, `rw-relaxed-grant-load`,
/// `rw-relaxed-read-unlock`, `q-relaxed-token`, `q-token-before-unparker` (race).
#[test]
fn rwlock_last_reader_hands_off() {
    model(Some(3), || {
        let s = Shared::new();
        let hold = s.l.read();
        let writer = {
            let s = s.clone();
            thread::spawn(move || s.add(1))
        };
        let reader = {
            let s = s.clone();
            thread::spawn(move || s.read())
        };
        assert_eq!(s.d.get(), 0);
        // SAFETY: read-locked above.
        unsafe { s.l.read_unlock(hold) };
        writer.join().unwrap();
        let v = reader.join().unwrap();
        assert!(v <= 1, "read {v}");
        s.assert_done(1);
    });
}

/// RW6: a recorded reader's `write`, and the writer's `write` and `read`, panic, and so does
/// the downgraded writer's `write`; every other lock call of both threads goes through (a
/// false relock would fail the model), and the lock stays usable: the value is exact and the
/// lock ends free. The main thread reads alone first, so it is the recorded reader; the other
/// thread then reads and writes around the main thread's relocks.
///
/// Fails when: `rw6-write-clear-after-release` (the write unlock clears the holder word after
/// its release, wiping the next writer's record: that writer's relock queues behind itself, a
/// deadlock); `rw6-write-never-cleared`, `rw6-read-never-cleared` (a stale record of the
/// other thread's write or read: a false panic when it next finds the lock taken).
#[test]
fn rwlock_relock_panics() {
    fn write_relock(s: &Shared, n: usize) {
        s.l.write();
        relock_panics("write on a weft::sync::RwLock it already holds", || {
            s.l.write()
        });
        relock_panics("read on a weft::sync::RwLock it already holds", || {
            s.l.read()
        });
        s.d.set(s.d.get() + n);
        // SAFETY: write-locked above; the panicking calls took nothing.
        unsafe { s.l.write_unlock() };
    }
    model_holders(Some(2), true, || {
        let s = Shared::new();
        // Alone: recorded.
        let hold = s.l.read();
        let t = {
            let s = s.clone();
            thread::spawn(move || {
                let v = s.read();
                write_relock(&s, 1);
                s.add(1);
                v
            })
        };
        relock_panics(
            "write on a weft::sync::RwLock it holds a read guard of",
            || s.l.write(),
        );
        // SAFETY: read-locked above.
        unsafe { s.l.read_unlock(hold) };
        write_relock(&s, 10);
        s.l.write();
        // SAFETY: write-locked just above.
        let hold = unsafe { s.l.downgrade() };
        relock_panics(
            "write on a weft::sync::RwLock it holds a read guard of",
            || s.l.write(),
        );
        // SAFETY: the downgrade left a read lock.
        unsafe { s.l.read_unlock(hold) };
        let v = t.join().unwrap();
        assert!(v == 0 || v == 10, "read {v}");
        s.assert_done(12);
    });
}

// ---------------------------------------------------------------------------------------------
// RawSemaphore (SM1–SM3)

struct Permits {
    sem: RawSemaphore,
    d: Data<usize>,
}

impl Permits {
    fn new(permits: usize) -> Arc<Permits> {
        Arc::new(Permits {
            sem: RawSemaphore::new(permits),
            d: Data::new(0),
        })
    }

    /// Takes the only permit, touches the data, gives it back.
    fn hold(&self) {
        self.sem.acquire();
        self.d.incr();
        assert!(self.sem.release(1));
    }
}

/// One permit, two holders: mutual exclusion (the data is never raced) and the permit comes
/// back.
///
/// Fails when: `s-parked-store`, `s-release-ignores-parked` (deadlock); `s-relaxed-acquire`,
/// `q-relaxed-token`, `q-token-before-unparker` (race).
#[test]
fn semaphore_one_permit_two_holders() {
    model(None, || {
        let s = Permits::new(1);
        let t = {
            let s = s.clone();
            thread::spawn(move || s.hold())
        };
        s.hold();
        t.join().unwrap();
        assert_eq!(s.d.get(), 2);
        assert_eq!(s.sem.available(), 1);
    });
}

/// One permit, three holders: two may queue (FIFO hand-over, SM1–SM2).
///
/// Fails when: `s-parked-store`, `s-release-ignores-parked`, `s-leftover-while-queued`
/// (deadlock); `s-relaxed-acquire`, `q-relaxed-token`, `q-token-before-unparker` (race).
#[test]
fn semaphore_one_permit_three_holders() {
    model(Some(2), || {
        let s = Permits::new(1);
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || s.hold())
            })
            .collect();
        s.hold();
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(s.d.get(), 3);
        assert_eq!(s.sem.available(), 1);
    });
}

/// SM3: `add_permits` (a release of new permits) racing an acquire on an empty semaphore: the
/// acquire always ends (a lost wake-up is a loom deadlock) and the permit is not counted
/// twice.
///
/// Fails when: `s-parked-store`, `s-release-ignores-parked` (deadlock); `q-relaxed-token`,
/// `q-token-before-unparker` (race).
#[test]
fn semaphore_release_races_acquire() {
    model(None, || {
        let s = Permits::new(0);
        let t = {
            let s = s.clone();
            thread::spawn(move || s.sem.acquire())
        };
        assert!(s.sem.release(1));
        t.join().unwrap();
        assert_eq!(s.sem.available(), 0);
        assert!(!s.sem.try_acquire());
    });
}

/// SM1–SM3 with two releasers: an acquirer on an empty semaphore, and releases of 2 and of 1
/// racing it (both may find `PARKED` set; the one that finds the queue emptied by the other
/// retries its fast path): the acquirer gets one permit, the other two become available.
///
/// Fails when: `s-release-slow-no-recheck` (one permit too few at the end), `s-parked-store`,
/// `s-release-ignores-parked` (deadlock); `q-relaxed-token`, `q-token-before-unparker` (race).
#[test]
fn semaphore_two_releases_race_an_acquire() {
    model(Some(3), || {
        let s = Permits::new(0);
        let acquirer = {
            let s = s.clone();
            thread::spawn(move || s.sem.acquire())
        };
        let releaser = {
            let s = s.clone();
            thread::spawn(move || assert!(s.sem.release(1)))
        };
        assert!(s.sem.release(2));
        acquirer.join().unwrap();
        releaser.join().unwrap();
        assert_eq!(s.sem.available(), 2);
    });
}

// ---------------------------------------------------------------------------------------------
// RawOnce (O1–O3)

/// `Once::call` (src/sync/once.rs), with `call_once`'s `is_complete` fast path, step for step.
/// `f(poisoned)` returns whether it completed: `false` stands for a panic, after which
/// `Finish`'s drop calls `finish(false)`. `Err(())` where `call_once` would panic on a
/// poisoned `Once`.
fn call(once: &RawOnce, ignore_poison: bool, f: &mut dyn FnMut(bool) -> bool) -> Result<(), ()> {
    if once.is_complete() {
        return Ok(());
    }
    loop {
        let poisoned = match once.wait_while_running() {
            Seen::Complete => return Ok(()),
            Seen::Free { poisoned } => poisoned,
        };
        if poisoned && !ignore_poison {
            return Err(());
        }
        if once.try_start(poisoned) {
            let completed = f(poisoned);
            once.finish(completed);
            return Ok(());
        }
    }
}

struct OnceCell {
    once: RawOnce,
    value: Data<usize>,
    /// How many initialisers ran (written by the runners only).
    runs: Data<usize>,
}

impl OnceCell {
    fn new() -> Arc<OnceCell> {
        Arc::new(OnceCell {
            once: RawOnce::new(),
            value: Data::new(0),
            runs: Data::new(0),
        })
    }

    /// `call_once(|| value = 42)`, then reads the value (O3).
    fn get(&self) -> usize {
        call(&self.once, false, &mut |_| {
            self.runs.incr();
            self.value.set(42);
            true
        })
        .expect("never poisoned");
        self.value.get()
    }
}

/// O1–O3: two callers race; the initialiser runs exactly once (a second, concurrent run would
/// race on `runs`), and both see its value (a loom causality error if not ordered after it).
///
/// Fails when: `o-finish-store`, `o-finish-load-then-store` (deadlock); `o-relaxed-finish`,
/// `o-relaxed-is-complete`, `q-relaxed-token`, `q-token-before-unparker` (race).
#[test]
fn once_two_callers_run_once() {
    model(None, || {
        let s = OnceCell::new();
        let t = {
            let s = s.clone();
            thread::spawn(move || s.get())
        };
        assert_eq!(s.get(), 42);
        assert_eq!(t.join().unwrap(), 42);
        assert_eq!(s.runs.get(), 1);
        assert!(s.once.is_complete());
    });
}

/// O2: a run that panics (`finish(false)`) wakes a `call_once_force` waiting on it, which then
/// runs (seeing `poisoned`); or the forced run came first and completed, and the failing
/// caller finds it complete and runs nothing.
///
/// Fails when: `o-finish-store`, `o-finish-load-then-store` (deadlock); `q-relaxed-token`,
/// `q-token-before-unparker` (race).
#[test]
fn once_poisoned_run_wakes_a_forced_caller() {
    model(None, || {
        let s = OnceCell::new();
        let forced = {
            let s = s.clone();
            thread::spawn(move || {
                call(&s.once, true, &mut |poisoned| {
                    s.value.set(if poisoned { 2 } else { 1 });
                    true
                })
            })
        };
        let failing_ran = Data::new(false);
        let r = call(&s.once, false, &mut |_| {
            failing_ran.set(true);
            false
        });
        assert_eq!(r, Ok(()), "the failing caller never sees its own poison");
        assert_eq!(forced.join().unwrap(), Ok(()));
        assert!(s.once.is_complete());
        // The forced run saw the poison exactly when the failing run came first.
        let expected = if failing_ran.get() { 2 } else { 1 };
        assert_eq!(s.value.get(), expected);
    });
}

/// O2 across a poisoned state: a failing run, a forced run, and a `wait_force`
/// (`wait_complete(false)`), which may park on the poisoned state; the forced run's
/// `try_start` keeps `PARKED`, so its `finish` wakes it.
///
/// Fails when: `o-try-start-drops-parked`, `o-park-no-recheck`, `o-finish-store`,
/// `o-finish-load-then-store` (deadlock); `o-relaxed-finish`, `q-relaxed-token`,
/// `q-token-before-unparker` (race).
#[test]
fn once_wait_force_across_poison() {
    model(Some(1), || {
        let s = OnceCell::new();
        let waiter = {
            let s = s.clone();
            thread::spawn(move || {
                assert!(s.once.wait_complete(false));
                s.value.get()
            })
        };
        let forced = {
            let s = s.clone();
            thread::spawn(move || {
                call(&s.once, true, &mut |_| {
                    s.value.set(7);
                    true
                })
            })
        };
        call(&s.once, false, &mut |_| false).expect("never poisoned before its own run");
        assert_eq!(forced.join().unwrap(), Ok(()));
        assert_eq!(waiter.join().unwrap(), 7);
        assert!(s.once.is_complete());
    });
}
