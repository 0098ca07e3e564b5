//! Scoped coroutines, as [`std::thread::scope`]: they may borrow from the caller's stack
//! because the scope joins all of them before it returns.
//!
//! Ground rule (arch/coroutine.md):
//! - SC1: `scope` returns only when every packet of its coroutines has been dropped. A packet
//!   is counted before the coroutine is created and uncounted by its `Drop`, which runs after
//!   the coroutine's body — and everything the body borrowed, including its result — is gone.

use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::{Builder, ScopedJoinHandle};
use crate::park::{self, Unparker};

/// A scope to spawn scoped coroutines in; see [`scope`]. `Sync`: coroutines of the scope may
/// spawn more coroutines into it.
pub struct Scope<'scope, 'env: 'scope> {
    pub(crate) data: Arc<ScopeData>,
    /// Invariance over 'scope, as in std, so the scope cannot be shrunk.
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

/// What the coroutines of a scope share with the scope's owner.
pub(crate) struct ScopeData {
    /// Coroutines whose packet still exists (SC1: the scope returns only at zero).
    running: AtomicUsize,
    a_coroutine_panicked: AtomicBool,
    /// The caller of `scope`, parked until `running` drops to zero.
    main: Unparker,
}

impl ScopeData {
    pub(crate) fn increment(&self) {
        if self.running.fetch_add(1, Ordering::Relaxed) > usize::MAX / 2 {
            crate::fatal::bug("too many scoped coroutines");
        }
    }

    pub(crate) fn decrement(&self, panicked: bool) {
        if panicked {
            self.a_coroutine_panicked.store(true, Ordering::Relaxed);
        }
        if self.running.fetch_sub(1, Ordering::Release) == 1 {
            self.main.clone().unpark();
        }
    }
}

/// Creates a scope for spawning scoped coroutines, as [`std::thread::scope`].
///
/// Every coroutine spawned in the scope is joined before `scope` returns, so they may borrow
/// anything that outlives the scope. The caller blocks (parks its coroutine or its thread)
/// while it waits. If any coroutine panicked and was not joined, `scope` panics after all have
/// finished.
///
/// ```
/// let mut a = vec![1, 2, 3];
/// let x = 0;
/// weft::thread::scope(|s| {
///     s.spawn(|| println!("borrowed: {a:?} {x}"));
///     s.spawn(|| println!("again: {x}"));
/// });
/// a.push(4);
/// assert_eq!(a.len(), 4);
/// ```
#[track_caller]
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let scope = Scope {
        data: Arc::new(ScopeData {
            running: AtomicUsize::new(0),
            a_coroutine_panicked: AtomicBool::new(false),
            main: park::current(),
        }),
        scope: PhantomData,
        env: PhantomData,
    };
    let result = catch_unwind(AssertUnwindSafe(|| f(&scope)));
    // SC1: wait until every packet of the scope is gone.
    while scope.data.running.load(Ordering::Acquire) != 0 {
        park::park(None, park::Wait::Scope);
    }
    match result {
        Err(payload) => resume_unwind(payload),
        Ok(_) if scope.data.a_coroutine_panicked.load(Ordering::Relaxed) => {
            panic!("a scoped coroutine panicked")
        }
        Ok(value) => value,
    }
}

impl<'scope> Scope<'scope, '_> {
    /// Spawns a scoped coroutine, as [`std::thread::Scope::spawn`].
    ///
    /// # Panics
    /// If the coroutine cannot be created (see [`Builder::spawn_scoped`]).
    #[track_caller]
    pub fn spawn<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        Builder::new()
            .spawn_scoped(self, f)
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

impl std::fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("running", &self.data.running.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
